/* tcpproxy: flags, usage and exit codes. Everything else lives in core/. */
#include "core/base/cli.h"
#include "core/config/config.h"
#include "core/filter-t.h"
#include "core/base/log.h"
#include "core/base/version.h"
#include "core/tls/tls.h"
#include "core/master/lds.h"
#include "core/master/master.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CONCURRENCY TP_MAX_WORKERS

static const char usage[] =
	"Usage: tcpproxy -c FILE [options]\n"
	"\n"
	"An L4 proxy that serves Envoy's TCP proxy filter configuration on io_uring.\n"
	"\n"
	"  -c, --config-path FILE   Envoy v3 bootstrap (YAML or JSON) to serve\n"
	"      --concurrency N      worker processes (default: online CPUs)\n"
	"      --mode MODE          serve (default) or validate: load FILE, print every error\n"
	"                           and warning, exit 0 if it loads and 1 if not; nothing is\n"
	"                           started\n"
	"      --base-id N          instance id; names the stats segment "
	"/dev/shm/tcpproxy.N.stats\n"
	"                           so that several instances can run on one host (default 0)\n"
	"      --stats-socket PATH  where tcpproxy-stat asks for stats (default for --base-id\n"
	"                           N: /run/tcpproxy/tcpproxy.N.sock as root, else\n"
	"                           /dev/shm/tcpproxy-UID/tcpproxy.N.sock); mode 0600\n"
	"      --drain-time-s N     seconds an old generation (after SIGHUP) or a stopping one\n"
	"                           (after SIGTERM) may serve its open connections before they\n"
	"                           are closed (default 600)\n"
	"      --max-draining-generations N\n"
	"                           old generations draining at once, 0 to 64 (default 3); past\n"
	"                           that the oldest is closed early\n"
	"      --user USER          workers drop to USER (and its group) once the master has "
	"bound\n"
	"                           the listeners\n"
	"      --group GROUP        with --user: workers drop to GROUP instead of USER's group\n"
	"      --pid-file PATH      write the master's pid to PATH (removed at exit)\n"
	"  -l, --log-level LEVEL    trace, debug, info (default), warn, error or off\n"
	"      --version            print the version and the TLS library, and exit\n"
	"  -h, --help               print this help and exit\n"
	"\n"
	"\n"
	"Signals: SIGHUP reloads FILE without dropping a connection; SIGTERM stops accepting and\n"
	"drains for up to --drain-time-s; SIGINT closes everything now; SIGUSR1 reopens log "
	"files.\n"
	"Under systemd (Type=notify), the master reports READY=1, RELOADING=1, STOPPING=1 and\n"
	"STATUS= to $NOTIFY_SOCKET.\n"
	"Exit status: 0 success, 1 invalid configuration or start-up failure, 2 usage error.\n";

static int usage_error(const char *fmt, const char *arg)
{
	return tp_cli_usage_error("tcpproxy", fmt, arg);
}

int main(int argc, char **argv)
{
	enum {
		OPT_CONCURRENCY = 256,
		OPT_MODE,
		OPT_BASE_ID,
		OPT_VERSION,
		OPT_DRAIN_TIME,
		OPT_MAX_DRAINING,
		OPT_USER,
		OPT_GROUP,
		OPT_STATS_SOCKET,
		OPT_PID_FILE,
	};
	static const struct option opts[] = {
		{"config-path", required_argument, NULL, 'c'},
		{"concurrency", required_argument, NULL, OPT_CONCURRENCY},
		{"mode", required_argument, NULL, OPT_MODE},
		{"base-id", required_argument, NULL, OPT_BASE_ID},
		{"log-level", required_argument, NULL, 'l'},
		{"version", no_argument, NULL, OPT_VERSION},
		{"drain-time-s", required_argument, NULL, OPT_DRAIN_TIME},
		{"max-draining-generations", required_argument, NULL, OPT_MAX_DRAINING},
		{"user", required_argument, NULL, OPT_USER},
		{"group", required_argument, NULL, OPT_GROUP},
		{"stats-socket", required_argument, NULL, OPT_STATS_SOCKET},
		{"pid-file", required_argument, NULL, OPT_PID_FILE},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct tp_master_opts mo = {.drain_time_s = 600, .max_draining_generations = 3};
	const char *user = NULL, *group = NULL;
	struct tp_cfg_errors errs = {0};
	struct tp_config *cfg = NULL;
	bool validate = false;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int opt, ret;

	mo.concurrency = cpus > 0 ? (unsigned)cpus : 1;
	while ((opt = getopt_long(argc, argv, "c:l:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			mo.config_path = optarg;
			break;
		case OPT_CONCURRENCY:
			if (tp_cli_parse_uint(optarg, MAX_CONCURRENCY, &mo.concurrency) < 0 ||
			    !mo.concurrency)
				return usage_error(
					"--concurrency: '%s' is not a number from 1 to 256",
					optarg);
			break;
		case OPT_MODE:
			if (!strcmp(optarg, "validate"))
				validate = true;
			else if (strcmp(optarg, "serve"))
				return usage_error("--mode: '%s' is not serve or validate", optarg);
			break;
		case OPT_BASE_ID:
			if (tp_cli_parse_uint(optarg, INT_MAX, &mo.base_id) < 0)
				return usage_error("--base-id: '%s' is not a non-negative number",
						   optarg);
			break;
		case OPT_STATS_SOCKET:
			if (!optarg[0])
				return usage_error("%s", "--stats-socket: empty path");
			mo.stats_socket = optarg;
			break;
		case OPT_PID_FILE:
			if (!optarg[0])
				return usage_error("%s", "--pid-file: empty path");
			mo.pid_file = optarg;
			break;
		case OPT_DRAIN_TIME:
			if (tp_cli_parse_uint(optarg, 86400 * 7, &mo.drain_time_s) < 0)
				return usage_error(
					"--drain-time-s: '%s' is not a number of seconds", optarg);
			break;
		case OPT_MAX_DRAINING:
			if (tp_cli_parse_uint(optarg, 64, &mo.max_draining_generations) < 0)
				return usage_error(
					"--max-draining-generations: '%s' is not a number "
					"from 0 to 64",
					optarg);
			break;
		case OPT_USER:
			user = optarg;
			break;
		case OPT_GROUP:
			group = optarg;
			break;
		case 'l':
			if (tp_log_parse_level(optarg, &tp_log_level) < 0)
				return usage_error("--log-level: '%s' is not trace, debug, info, "
						   "warn, error or off",
						   optarg);
			mo.log_level = optarg;
			break;
		case OPT_VERSION:
			printf("tcpproxy %s\n%s\n", tp_version, tp_tls_library_line());
			return 0;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs("Try 'tcpproxy --help'.\n", stderr);
			return TP_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!mo.config_path)
		return usage_error("%s", "no configuration: give one with -c FILE");
	if (group && !user)
		return usage_error("%s", "--group needs --user");
	if (user) {
		const struct passwd *pw = getpwnam(user);
		const struct group *gr = group ? getgrnam(group) : NULL;

		if (!pw)
			return usage_error("--user: no user '%s'", user);
		if (group && !gr)
			return usage_error("--group: no group '%s'", group);
		mo.drop_privileges = true;
		mo.uid = pw->pw_uid;
		mo.gid = gr ? gr->gr_gid : pw->pw_gid;
	}

	ret = tp_config_load(mo.config_path, &cfg, &errs);
	if (ret < 0) {
		tp_cfg_errors_print(&errs, stderr);
		tp_cfg_errors_free(&errs);
		return 1;
	}
	/* The LDS file too, as the master would check it before applying it. */
	if (validate && tp_lds_validate(cfg, &errs) < 0) {
		tp_cfg_errors_print(&errs, stderr);
		tp_cfg_errors_free(&errs);
		tp_config_free(cfg);
		return 1;
	}
	/* What is left are warnings: things Envoy loads too, said once. */
	if (validate)
		tp_cfg_errors_print(&errs, stderr);
	else
		for (size_t i = 0; i < errs.n; i++)
			tp_warn("%s", errs.lines[i]);
	tp_cfg_errors_free(&errs);
	if (validate) {
		printf("configuration '%s' OK\n", mo.config_path);
		tp_config_free(cfg);
		return 0;
	}
	/* The master owns the configuration from here on (it becomes generation 0). */
	return tp_master_run(cfg, &mo);
}

/* tcpproxy-stat: flags, usage and exit codes. The work is in core/statcli.c. */
#include "core/base/cli.h"
#include "core/base/http.h"
#include "core/base/match.h"
#include "core/base/sbuf.h"
#include "core/admin/services.h"
#include "core/admin/statcli.h"
#include "shm/stats_fmt.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_NOMASTER 2
#define TIMEOUT_MS    10000
#define MAX_WATCH_S   3600

static const char usage[] =
	"Usage: tcpproxy-stat [-s PATH | --base-id N] [--format text|json|prometheus]\n"
	"                     [--filter REGEX] [--watch SECONDS]\n"
	"       tcpproxy-stat [-s PATH | --base-id N] --connections [--format text|json]\n"
	"                     [--filter REGEX] [--sort age|bytes] [--watch SECONDS]\n"
	"       tcpproxy-stat [-s PATH | --base-id N] --get PATH | --post PATH\n"
	"\n"
	"Prints the stats of a running tcpproxy, summed over its workers, as its master serves\n"
	"them on its stats socket; or the sessions open right now; or any admin path.\n"
	"\n"
	"  -s, --stats-socket PATH  the master's stats socket (default: the one of --base-id)\n"
	"      --base-id N          the instance to read (default 0): its socket is\n"
	"                           /run/tcpproxy/tcpproxy.N.sock for a master run as root,\n"
	"                           /dev/shm/tcpproxy-UID/tcpproxy.N.sock for one run as UID;\n"
	"                           ours first, then root's\n"
	"  -f, --format FORMAT      text (Envoy's /stats, default), json (/stats?format=json)\n"
	"                           or prometheus (/stats/prometheus)\n"
	"      --filter REGEX       only stats whose name matches REGEX (RE2 syntax); with\n"
	"                           --connections, only sessions whose line matches it\n"
	"  -w, --watch SECONDS      redraw every SECONDS with per-second rates; q quits\n"
	"      --connections        every open session: worker, generation, phase, listener,\n"
	"                           addresses, cluster, host, age, idle time, bytes each way,\n"
	"                           buffered bytes (/connections)\n"
	"      --sort KEY           with --connections: age (oldest first, default) or bytes\n"
	"      --get PATH           print the answer to GET PATH (an admin path: /server_info)\n"
	"      --post PATH          send POST PATH (/healthcheck/fail, /drain_listeners, ...)\n"
	"  -h, --help               print this help and exit\n"
	"\n"
	"Exit status: 0 success, 1 the master answered with an error, 2 usage error or no\n"
	"master to talk to.\n";

static int usage_error(const char *fmt, const char *arg)
{
	return tp_cli_usage_error("tcpproxy-stat", fmt, arg);
}

int main(int argc, char **argv)
{
	enum { OPT_BASE_ID = 256, OPT_FILTER, OPT_CONNECTIONS, OPT_SORT, OPT_GET, OPT_POST };
	static const struct option opts[] = {
		{"stats-socket", required_argument, NULL, 's'},
		{"base-id", required_argument, NULL, OPT_BASE_ID},
		{"format", required_argument, NULL, 'f'},
		{"filter", required_argument, NULL, OPT_FILTER},
		{"watch", required_argument, NULL, 'w'},
		{"connections", no_argument, NULL, OPT_CONNECTIONS},
		{"sort", required_argument, NULL, OPT_SORT},
		{"get", required_argument, NULL, OPT_GET},
		{"post", required_argument, NULL, OPT_POST},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = NULL, *format = "text", *filter = NULL, *sort = NULL;
	const char *method = NULL, *admin_path = NULL;
	bool connections = false, have_format = false;
	char def[128], target[4096], err[512];
	struct tp_sbuf body = TP_SBUF_INIT;
	unsigned base_id = 0, watch = 0;
	bool have_base_id = false;
	struct tp_match *re;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "s:f:w:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case OPT_BASE_ID:
			if (tp_cli_parse_uint(optarg, INT_MAX, &base_id) < 0)
				return usage_error("--base-id: '%s' is not a non-negative number",
						   optarg);
			have_base_id = true;
			break;
		case 'f':
			if (strcmp(optarg, "text") && strcmp(optarg, "json") &&
			    strcmp(optarg, "prometheus"))
				return usage_error("--format: '%s' is not text, json or prometheus",
						   optarg);
			format = optarg;
			have_format = true;
			break;
		case OPT_CONNECTIONS:
			connections = true;
			break;
		case OPT_SORT:
			if (strcmp(optarg, "age") && strcmp(optarg, "bytes"))
				return usage_error("--sort: '%s' is not age or bytes", optarg);
			sort = optarg;
			break;
		case OPT_GET:
		case OPT_POST:
			if (method)
				return usage_error("%s", "give one --get or --post");
			if (optarg[0] != '/' || strlen(optarg) > 2048 || strpbrk(optarg, " \r\n\t"))
				return usage_error("'%s' is not an admin path such as /ready",
						   optarg);
			method = opt == OPT_GET ? "GET" : "POST";
			admin_path = optarg;
			break;
		case OPT_FILTER:
			/* The master refuses the same patterns; say why before asking it. */
			if (tp_stats_filter_compile(&re, optarg, def, sizeof(def)) < 0) {
				snprintf(err, sizeof(err), "'%.300s': %s", optarg, def);
				return usage_error("--filter: %s", err);
			}
			tp_match_free(re);
			filter = optarg;
			break;
		case 'w':
			if (tp_cli_parse_uint(optarg, MAX_WATCH_S, &watch) < 0 || !watch)
				return usage_error(
					"--watch: '%s' is not a number of seconds from 1 "
					"to 3600",
					optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs("Try 'tcpproxy-stat --help'.\n", stderr);
			return TP_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (path && have_base_id)
		return usage_error("%s", "give either --stats-socket or --base-id, not both");
	if (watch && strcmp(format, "text"))
		return usage_error("--watch shows the text format only, not %s", format);
	if (sort && !connections)
		return usage_error("%s", "--sort goes with --connections");
	if (connections && !strcmp(format, "prometheus"))
		return usage_error("%s", "--connections prints text or json, not prometheus");
	if (method && (connections || watch || filter || have_format))
		return usage_error("%s", "--get and --post take no other option but the socket's");
	if (!path) {
		if (tp_statcli_default_socket(base_id, def, sizeof(def), err, sizeof(err)) < 0) {
			fprintf(stderr, "tcpproxy-stat: %s\n", err);
			return EXIT_NOMASTER;
		}
		path = def;
	}
	if (connections) {
		char esc[3 * 1024] = "";

		if (filter && tp_http_query_escape(filter, esc, sizeof(esc)) < 0)
			return usage_error("%s", "--filter is too long");
		snprintf(target, sizeof(target), "/connections?format=%s%s%s%s%s", format,
			 filter ? "&filter=" : "", esc, sort ? "&sort=" : "", sort ? sort : "");
	} else if (method) {
		snprintf(target, sizeof(target), "%s", admin_path);
	} else if (tp_statcli_target(target, sizeof(target), format, filter, NULL) < 0) {
		return usage_error("%s", "--filter is too long");
	}
	if (watch) {
		ret = tp_statcli_watch(path, filter, connections ? target : NULL, watch, err,
				       sizeof(err));
		if (ret < 0) {
			fprintf(stderr, "tcpproxy-stat: %s\n", err);
			return ret == -EPROTO ? 1 : EXIT_NOMASTER;
		}
		return 0;
	}
	ret = tp_statcli_request(path, method ? method : "GET", target, TIMEOUT_MS, &body, err,
				 sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "tcpproxy-stat: %s\n", err);
		return ret == -EPROTO || ret == -ENOMEM ? 1 : EXIT_NOMASTER;
	}
	if (body.oom) {
		fprintf(stderr, "tcpproxy-stat: out of memory\n");
		return 1;
	}
	if (ret != 200) {
		fprintf(stderr, "tcpproxy-stat: the master answered %d: %.*s", ret, (int)body.len,
			body.p ? body.p : "");
		tp_sbuf_free(&body);
		return 1;
	}
	ret = body.len && fwrite(body.p, 1, body.len, stdout) != body.len;
	tp_sbuf_free(&body);
	return ret || fflush(stdout) ? 1 : 0;
}

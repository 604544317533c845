/* The master process: owns what must outlive a worker (listening sockets, the stats segment),
 * runs generations of workers, reloads without dropping a connection, and restarts any worker
 * that dies. It never touches a proxied byte.
 *
 * A generation is one configuration served by --concurrency workers. A reload (SIGHUP) starts
 * a new generation beside the serving one: listeners whose address is unchanged keep the very
 * same sockets (closing a SO_REUSEPORT socket would reset the connections in its accept queue),
 * new ones are bound first, and only once every new worker has said it is ready does the old
 * generation stop accepting and drain. Both generations accept from the same sockets in
 * between, so no connection waits on a socket nobody accepts from.
 *
 * This file holds the loop, signals, reload and start-up; listener.c the listening sockets,
 * generation.c the generations and their states, supervise.c the workers (master-int.h). */
#include "core/master/master-int.h"

#include "core/admin/admin.h"
#include "core/admin/services.h"
#include "core/base/log.h"
#include "core/base/mloop.h"
#include "core/base/timer.h"
#include "core/base/version.h"
#include "core/config/config.h"
#include "core/master/notify.h"
#include "shm/stats.h"
#include "uring/ring.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SCOPES_MAX 4096
/* How often STATUS= is refreshed for systemd (and at most how long between WATCHDOG=1). */
#define NOTIFY_EVERY_MS 5000

/* Envoy's server.state values. */
enum server_state {
	STATE_LIVE = 0,
	STATE_DRAINING = 1,
	STATE_PRE_INITIALIZING = 2,
	STATE_INITIALIZING = 3,
};

static void update_view(struct master *m)
{
	struct gen *serving = NULL;
	enum server_state state;
	unsigned live = 0;

	for (struct gen *g = m->gens; g; g = g->next)
		if (g->state == GEN_SERVING && !serving)
			serving = g;
	/* The config shown is the serving one, or while none serves (at boot, stopping) the newest
	 * generation's: never one whose generation has been freed. */
	m->view.cfg = serving ? serving->cfg : m->gens ? m->gens->cfg : NULL;
	if (serving)
		for (unsigned s = 0; s < m->opts->concurrency; s++)
			live += serving->w[s].pid && serving->w[s].ready;
	m->view.workers_live = live;
	m->view.epoch = m->epoch;
	m->view.listeners_drained = m->drained;
	/* Envoy reports a failed health check as DRAINING, and server.live 0, as it does a drain. */
	if (m->stopping || m->drained || m->view.health_failed)
		state = STATE_DRAINING;
	else
		state = serving ? STATE_LIVE : STATE_INITIALIZING;
	m->view.state = state == STATE_LIVE	  ? "LIVE"
			: state == STATE_DRAINING ? "DRAINING"
						  : "INITIALIZING";
	tp_stat_set(m->blk, m->server_base + TP_SERVER_hot_restart_epoch, m->epoch);
	tp_stat_set(m->blk, m->server_base + TP_SERVER_live, state == STATE_LIVE);
	tp_stat_set(m->blk, m->server_base + TP_SERVER_state, state);
}

/* ---- systemd ---- */

/* STATUS=, as systemctl status shows it: what serves and how many connections are open. */
static void notify_status(struct master *m, const char *head, const char *why)
{
	const struct gen *serving = NULL;
	unsigned draining = 0;

	if (!tp_notify_enabled())
		return;
	for (const struct gen *g = m->gens; g; g = g->next) {
		if (g->state == GEN_SERVING && !serving)
			serving = g;
		draining += g->state == GEN_DRAINING || g->state == GEN_CLOSING;
	}
	tp_notify_sendf("%sSTATUS=%s%s%s%sgeneration %u, %u/%u workers, %" PRIu64
			" connections, %u generation(s) draining",
			head ? head : "", why ? why : "", m->stopping ? "stopping: " : "",
			m->drained ? "listeners drained: " : "",
			m->view.health_failed ? "health check failed: " : "",
			serving ? serving->epoch : m->epoch, m->view.workers_live,
			m->opts->concurrency, tp_admin_open_connections(m->stats), draining);
}

static void on_notify_timer(struct tp_mloop *l, void *arg)
{
	struct master *m = arg;
	uint64_t every = NOTIFY_EVERY_MS, wd = tp_notify_watchdog_usec();

	/* The watchdog asks for a ping within WATCHDOG_USEC: send one at half of it. It says the
	 * master's loop turns; the master itself restarts workers that die. */
	if (wd && wd / 2000 < every)
		every = wd / 2000 ? wd / 2000 : 1;
	notify_status(m, wd ? "WATCHDOG=1\n" : NULL, NULL);
	m->notify_timer = tp_mloop_at(m->loop, tp_now_ms() + every, on_notify_timer, m);
}

/* How often the circuit-breaker gauges are read off the workers' shared counters. */
#define CB_GAUGES_EVERY_MS 500

static uint64_t cb_remaining(uint64_t max, uint64_t used)
{
	return used < max ? max - used : 0;
}

/* One cluster's cluster.<name>.circuit_breakers.*: its gauges from the counters of shared,
 * which the workers of the serving generation write (core/conn/session.c). */
void master_cb_gauges(struct master *m, const struct tp_cb_cfg *cb,
		      const struct tp_cb_shared *shared)
{
	uint64_t cx = 0, pending = 0;

	if (cb->high_track_remaining) {
		uint32_t hb = cb->high_remaining_base;

		tp_stat_set(m->blk, hb + TP_CLUSTER_CB_HIGH_REMAINING_remaining_cx,
			    cb->high_max_connections);
		tp_stat_set(m->blk, hb + TP_CLUSTER_CB_HIGH_REMAINING_remaining_pending,
			    cb->high_max_pending_requests);
		tp_stat_set(m->blk, hb + TP_CLUSTER_CB_HIGH_REMAINING_remaining_rq,
			    cb->high_max_requests);
		tp_stat_set(m->blk, hb + TP_CLUSTER_CB_HIGH_REMAINING_remaining_retries,
			    cb->high_max_retries);
	}
	for (unsigned s = 0; s < m->opts->concurrency; s++) {
		cx += atomic_load(&shared->cx[s]);
		pending += atomic_load(&shared->pending[s]);
	}
	tp_stat_set(m->blk, cb->stats_base + TP_CLUSTER_CB_cx_open, cx >= cb->max_connections);
	tp_stat_set(m->blk, cb->stats_base + TP_CLUSTER_CB_rq_pending_open,
		    pending >= cb->max_pending_requests);
	if (!cb->track_remaining)
		return;
	tp_stat_set(m->blk, cb->remaining_base + TP_CLUSTER_CB_REMAINING_remaining_cx,
		    cb_remaining(cb->max_connections, cx));
	tp_stat_set(m->blk, cb->remaining_base + TP_CLUSTER_CB_REMAINING_remaining_pending,
		    cb_remaining(cb->max_pending_requests, pending));
	tp_stat_set(m->blk, cb->remaining_base + TP_CLUSTER_CB_REMAINING_remaining_rq,
		    cb->max_requests);
	tp_stat_set(m->blk, cb->remaining_base + TP_CLUSTER_CB_REMAINING_remaining_retries,
		    cb->max_retries);
}

/* cluster.<name>.circuit_breakers.default.*: one value per cluster, as Envoy's, in the master's
 * own block (the workers write none of them), from the counters the serving generation's workers
 * share. A generation's counters are its own: during a drain the gauges show the serving
 * generation's. The clusters from CDS count in the same generation's breaker pool. */
static void on_cb_timer(struct tp_mloop *l, void *arg)
{
	struct master *m = arg;
	const struct gen *g = m->gens;

	while (g && g->state != GEN_SERVING)
		g = g->next;
	for (size_t i = 0; g && i < g->cfg->n_clusters; i++) {
		const struct tp_cb_cfg *cb = &g->cfg->clusters[i].cb;

		if (cb->shared)
			master_cb_gauges(m, cb, cb->shared);
	}
	if (g)
		cds_cb_gauges(m, g);
	m->cb_timer = tp_mloop_at(l, tp_now_ms() + CB_GAUGES_EVERY_MS, on_cb_timer, m);
}

static uint64_t monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* SIGHUP: Type=notify-reload wants RELOADING=1 with the time, then READY=1 when the reload is
 * over, whatever its outcome (settle() sends it). SIGHUPs coalesced into one reload get one
 * pair. Before generation 0 serves there is no READY=1 to take back. */
static void notify_reloading(struct master *m)
{
	if (!m->ready_sent || m->reload_notified || m->stopping)
		return;
	m->reload_notified = true;
	tp_notify_sendf("RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\nSTATUS=reloading %s",
			monotonic_usec(), m->opts->config_path);
}

/* A generation that serves at last: a reload's outcome, or the boot banner. */
void master_serving(struct master *m, const struct gen *g)
{
	cds_serving(m);
	lds_serving(m, g);
	if (g->epoch) {
		m->view.last_reload_unix_ms = (uint64_t)time(NULL) * 1000;
		m->view.last_reload_ok = true;
		tp_stat_set(m->blk, m->server_base + TP_SERVER_last_reload_time_s,
			    (uint64_t)time(NULL));
		tp_stat_set(m->blk, m->server_base + TP_SERVER_last_reload_success, 1);
		m->view.last_reload_error[0] = 0;
		tp_info("reload: generation %u serving (%zu listener(s), %zu cluster(s))", g->epoch,
			g->cfg->n_listeners, g->cfg->n_clusters);
	} else {
		tp_info("tcpproxy %s: %zu listener(s), %zu cluster(s), %u worker(s), stats in "
			"/dev/shm%s",
			tp_version, g->cfg->n_listeners, g->cfg->n_clusters, m->opts->concurrency,
			m->stats_name);
		/* Every worker of generation 0 is ready: accepts are armed on every listener. */
		m->ready_sent = true;
		m->view.workers_live = m->opts->concurrency;
		notify_status(m, "READY=1\n", NULL);
	}
}

void master_reload_failed(struct master *m, const char *why)
{
	m->view.reloads_failed++;
	m->view.last_reload_unix_ms = (uint64_t)time(NULL) * 1000;
	m->view.last_reload_ok = false;
	tp_stat_set(m->blk, m->server_base + TP_SERVER_last_reload_time_s, (uint64_t)time(NULL));
	tp_stat_set(m->blk, m->server_base + TP_SERVER_last_reload_success, 0);
	snprintf(m->view.last_reload_error, sizeof(m->view.last_reload_error), "%s", why);
	tp_stat_inc(m->blk, m->server_base + TP_SERVER_reload_failed);
	tp_error("reload failed: %s; the serving generation is unchanged", why);
}

/* SIGHUP, run by settle() once no generation is starting: read the file again; on any problem
 * the serving generation stays as it is. */
static void reload(struct master *m)
{
	struct tp_cfg_errors errs = {0};
	struct tp_config *cfg = NULL;
	char why[256];

	tp_info("reload: reading %s", m->opts->config_path);
	if (tp_config_load(m->opts->config_path, &cfg, &errs) < 0) {
		for (size_t i = 0; i < errs.n; i++) {
			if (errs.warning && errs.warning[i])
				tp_warn("%s", errs.lines[i]);
			else
				tp_error("%s", errs.lines[i]);
		}
		snprintf(why, sizeof(why), "%zu error(s) in %s", errs.n - errs.n_warnings,
			 m->opts->config_path);
		tp_cfg_errors_free(&errs);
		master_reload_failed(m, why);
		return;
	}
	for (size_t i = 0; i < errs.n; i++) /* warnings: the new file loads all the same */
		tp_warn("%s", errs.lines[i]);
	tp_cfg_errors_free(&errs);
	/* A cds_config the start would refuse fails the reload before anything changes. */
	if (cds_check(m, cfg, why, sizeof(why)) < 0) {
		tp_config_free(cfg);
		master_reload_failed(m, why);
		return;
	}
	/* The LDS listeners persist across a reload: the new generation's workers get them too. */
	if (lds_reload_check(m, cfg, why, sizeof(why)) < 0) {
		tp_config_free(cfg);
		master_reload_failed(m, why);
		return;
	}
	if (!gen_start(m, cfg, m->epoch + 1, why, sizeof(why))) {
		master_reload_failed(m, why);
		return;
	}
	/* The new generation holds the dynamic clusters now; a changed cds_config is read. */
	if (cds_reconfigure(m, m->gens->cfg, why, sizeof(why)) < 0)
		tp_error("cds: %s", why);
}

/* ---- stop ---- */

static void on_stop_deadline(struct tp_mloop *l, void *arg)
{
	struct master *m = arg;

	tp_info("drain time over; closing the remaining connections");
	for (struct gen *g = m->gens; g; g = g->next)
		gen_set_state(g, GEN_CLOSING);
}

/* SIGTERM: stop accepting, let connections finish for up to --drain-time-s. SIGINT (or a
 * second SIGTERM): close everything now. Exit 0 either way, with no worker left behind. */
static void stop(struct master *m, bool now)
{
	if (!m->stopping) {
		m->reload_notified = false; /* no READY=1 after STOPPING=1 */
		tp_notify_sendf("STOPPING=1\nSTATUS=stopping: %s",
				now ? "closing connections" : "draining connections");
	}
	if (m->graceful_timer)
		tp_mloop_cancel(m->loop, m->graceful_timer);
	m->graceful_timer = 0;
	if (now || m->stopping) {
		tp_info("stopping now");
		m->stopping = true;
		for (struct gen *g = m->gens; g; g = g->next)
			gen_set_state(g, GEN_CLOSING);
	} else {
		tp_info("stopping: draining connections for up to %u s", m->opts->drain_time_s);
		m->stopping = true;
		/* A generation that never served has nothing to drain. */
		for (struct gen *g = m->gens; g; g = g->next)
			if (g->state == GEN_STARTING)
				gen_set_state(g, GEN_CLOSING);
			else if (g->state == GEN_SERVING)
				gen_set_state(g, GEN_DRAINING);
		tp_mloop_at(m->loop, tp_now_ms() + m->opts->drain_time_s * 1000ull,
			    on_stop_deadline, m);
	}
}

static void on_signals(struct tp_mloop *l, int fd, unsigned revents, void *arg)
{
	struct master *m = arg;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			sup_reap(m);
			break;
		case SIGTERM:
			stop(m, false);
			break;
		case SIGINT:
			stop(m, true);
			break;
		case SIGHUP:
			/* Run by settle() when no generation is starting: the SIGHUPs that come
			 * during a reload are coalesced into one more. */
			m->reload_pending = true;
			notify_reloading(m);
			break;
		case SIGUSR1:
			/* Reopen log files (logrotate): every worker reopens its own. */
			for (struct gen *g = m->gens; g; g = g->next) {
				sup_signal(g, SIGUSR1);
				hs_gen_reopen_logs(g);
			}
			break;
		default:
			break;
		}
	}
}

static int setup_signals(struct master *m)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGPIPE);
	/* Not the master's: blocked so that a worker inherits it blocked (its default action would
	 * end a worker asked for its connection view before its signalfd exists). */
	sigaddset(&set, SIGUSR2);
	/* Read as events from a signalfd, so a signal never interrupts the master mid-update. */
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	m->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return m->sigfd < 0 ? -errno : 0;
}

static bool any_starting(const struct master *m)
{
	for (const struct gen *g = m->gens; g; g = g->next)
		if (g->state == GEN_STARTING)
			return true;
	return false;
}

/* ---- the admin's operations ---- */

/* Every generation stops accepting, as on SIGTERM: a serving one drains (its open connections
 * have --drain-time-s), a starting one closes. The master stays up, serving its admin routes,
 * until it is told to stop. */
static void drain_now(struct master *m)
{
	m->graceful_timer = 0;
	tp_info("drain_listeners: every listener stops accepting; open connections drain for up "
		"to %u s",
		m->opts->drain_time_s);
	for (struct gen *g = m->gens; g; g = g->next)
		if (g->state == GEN_STARTING)
			gen_set_state(g, GEN_CLOSING);
		else if (g->state == GEN_SERVING)
			gen_set_state(g, GEN_DRAINING);
}

static void on_graceful_over(struct tp_mloop *l, void *arg)
{
	drain_now(arg);
}

static void op_drain_listeners(void *ctx, bool graceful)
{
	struct master *m = ctx;

	if (m->stopping || m->drained)
		return;
	m->drained = true;
	if (graceful) {
		/* Envoy's graceful drain: listeners keep accepting through the drain time (while
		 * /ready says DRAINING, so that load balancers move away), then close. */
		tp_info("drain_listeners: graceful; listeners close in %u s",
			m->opts->drain_time_s);
		m->graceful_timer =
			tp_mloop_at(m->loop, tp_now_ms() + m->opts->drain_time_s * 1000ull,
				    on_graceful_over, m);
		if (m->graceful_timer > 0)
			return;
		m->graceful_timer = 0;
	}
	drain_now(m);
}

static void op_healthcheck(void *ctx, bool fail)
{
	struct master *m = ctx;

	if (m->view.health_failed != fail)
		tp_info("health check %s",
			fail ? "failed by the admin: /ready answers 503" : "restored by the admin");
	m->view.health_failed = fail;
}

static bool op_host_info(void *ctx, const char *cluster, const char *host,
			 struct tp_admin_host *out)
{
	return hs_host_info(ctx, cluster, host, out);
}

static const struct tp_master_ops master_ops = {
	.host_info = op_host_info,
	.drain_listeners = op_drain_listeners,
	.healthcheck = op_healthcheck,
	.connections = conns_request,
	.connections_cancel = conns_cancel,
};

/* A reload takes --concurrency stats slots. The serving generation, the draining ones up to the
 * cap and one starting always fit (the segment is made for them); only closing generations can
 * hold the slots it needs, and they are gone within their kill deadline. So a reload waits for
 * them rather than fail: it would, whenever a reload closes the oldest draining generation and
 * a SIGHUP that came meanwhile runs at once. */
static bool reload_waits_for_slots(struct master *m)
{
	const struct gen *closing = NULL;
	unsigned free_slots = 0;

	for (unsigned s = 0; s < m->n_slots; s++)
		free_slots += !m->slot_used[s];
	for (const struct gen *g = m->gens; g; g = g->next)
		if (g->state == GEN_CLOSING)
			closing = g;
	if (free_slots >= m->opts->concurrency || !closing)
		return false;
	if (!m->reload_waits)
		tp_info("reload: waiting for generation %u to exit, for its stats slots",
			closing->epoch);
	m->reload_waits = true;
	return true;
}

/* What follows from any event, decided in one place and one order. The loop runs it after each
 * round, so after every signal, worker exit, ready byte and timer it dispatched; the handlers
 * only record what happened and move generations with gen_set_state().
 *
 *  1. cap: past --max-draining-generations the oldest draining generation closes now (not
 *     while stopping, when every generation drains for --drain-time-s);
 *  2. sweep: draining and closing generations whose workers have all exited are freed, and
 *     their stats slots with them (a reload may need those);
 *  3. reload: one asked for runs once no generation is starting and the stats slots it needs
 *     are free; one that fails half way (a fork) leaves a closing generation, swept at once;
 *  4. view: what the services show, server.hot_restart_epoch and server.live;
 *  5. done: a stopping master with no generation left, or one whose first generation did not
 *     start, leaves its loop. */
static void settle(struct master *m)
{
	if (!m->stopping && !m->failed)
		gen_cap_draining(m);
	gen_sweep(m);
	if (m->reload_pending && m->drained && !m->stopping) {
		/* Nothing accepts after /drain_listeners, and a reload would start accepting. */
		m->reload_pending = false;
		master_reload_failed(m, "the listeners were drained (/drain_listeners): restart "
					"tcpproxy to serve again");
	}
	if (m->reload_pending && !m->stopping && !m->failed && !any_starting(m) &&
	    !reload_waits_for_slots(m)) {
		m->reload_pending = false;
		m->reload_waits = false;
		reload(m);
		gen_sweep(m);
	}
	update_view(m);
	if (m->reload_notified && !m->reload_pending && !any_starting(m)) {
		/* The reload is over (its generation serves, or it failed): systemd's reload job
		 * ends here either way; STATUS says which. */
		m->reload_notified = false;
		notify_status(m, "READY=1\n", m->view.last_reload_ok ? NULL : "reload failed: ");
	}
	m->done = m->failed || (m->stopping && !m->gens);
}

/* --pid-file: written once the services are up, for scripts (logrotate's postrotate) that
 * signal the master without systemd. Replaced if present; removed at exit if still ours. Only
 * a regular file is written: opened O_NONBLOCK and O_NOFOLLOW, so that a FIFO at the path does
 * not block the master (before the workers start, or at exit) and a device or a symlink is not
 * written through, and truncated only once fstat() says what it is. */
static int write_pid_file(const char *path, char *why, size_t whylen)
{
	struct stat sb;
	char buf[32];
	int fd, n, ret = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		/* A symlink (ELOOP) or a FIFO without a reader (ENXIO) says it oddly. */
		if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
			snprintf(why, whylen, "not a regular file; remove it or name another path");
		else
			snprintf(why, whylen, "%s", strerror(-ret));
		return ret;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		ret = -EINVAL;
		snprintf(why, whylen, "not a regular file; remove it or name another path");
		goto out_close;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || write(fd, buf, (size_t)n) != n) {
		ret = errno ? -errno : -EIO;
		snprintf(why, whylen, "%s", strerror(-ret));
	}
out_close:
	if (close(fd) < 0 && !ret) {
		ret = -errno;
		snprintf(why, whylen, "%s", strerror(errno));
	}
	return ret;
}

static void remove_pid_file(const char *path)
{
	char buf[32] = "";
	struct stat sb;
	ssize_t n = -1;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode))
		n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0 && atoi(buf) == (int)getpid())
		unlink(path);
}

int tp_master_run(struct tp_config *cfg, const struct tp_master_opts *opts)
{
	struct master m = {.opts = opts, .sigfd = -1};
	char err[256];
	int ret;

	tp_log_set_role("master");
	if (tp_ring_check_available(err, sizeof(err)) < 0) {
		tp_error("%s", err);
		tp_config_free(cfg);
		return 1;
	}
	if (!opts->drop_privileges && geteuid() == 0)
		tp_warn("workers run as root: give --user and --group to drop privileges");
	/* One generation serving, up to max_draining_generations draining, one starting. */
	m.n_slots = opts->concurrency * (opts->max_draining_generations + 2);
	snprintf(m.stats_name, sizeof(m.stats_name), "/tcpproxy.%u.stats", opts->base_id);
	ret = tp_stats_create(&m.stats, m.stats_name, m.n_slots, SCOPES_MAX, err, sizeof(err));
	if (ret < 0) {
		tp_error("stats segment %s: %s", m.stats_name, err);
		tp_config_free(cfg);
		return 1;
	}
	/* Not chowned to --user: workers inherit the mapping and need no access to the file, and
	 * a file the workers' user could open is one any process of that user could write or
	 * truncate under the master (docs/architecture.md, "Stats segment"). */
	m.blk = tp_stats_block(m.stats, TP_STATS_SLOT_MASTER);
	m.slot_used = calloc(m.n_slots, sizeof(*m.slot_used));
	m.loop = tp_mloop_new();
	m.exit_status = 1;
	if (!m.slot_used || !m.loop ||
	    tp_stats_scope(m.stats, TP_SCOPE_SERVER, "", &m.server_base) < 0) {
		tp_error("out of memory");
		tp_config_free(cfg);
		goto out_free;
	}
	tp_stat_set(m.blk, m.server_base + TP_SERVER_concurrency, opts->concurrency);
	m.view.stats = m.stats;
	m.view.concurrency = opts->concurrency;
	m.view.base_id = opts->base_id;
	m.view.start_unix_ms = (uint64_t)time(NULL) * 1000;
	m.view.drain_time_s = opts->drain_time_s;
	m.view.log_level = opts->log_level ? opts->log_level : "info";
	m.view.stats_socket = opts->stats_socket;
	m.view.ops = &master_ops;
	m.view.ctx = &m;
	tp_notify_init();
	if (setup_signals(&m) < 0 || tp_mloop_add(m.loop, m.sigfd, POLLIN, on_signals, &m) < 0) {
		tp_error("signals: %s", strerror(errno));
		tp_config_free(cfg);
		goto out_free;
	}
	/* Before the first workers, so that tcpproxy-stat answers as soon as they serve. */
	if (tp_services_start(m.loop, &m.view, opts, cfg) < 0) {
		tp_config_free(cfg);
		goto out_kill;
	}
	if (opts->pid_file && write_pid_file(opts->pid_file, err, sizeof(err)) < 0) {
		tp_error("--pid-file %s: %s", opts->pid_file, err);
		tp_config_free(cfg);
		goto out_kill;
	}
	/* Before the first generation, so that its workers start with the dynamic clusters;
	 * CDS before LDS, as Envoy initializes them, so listeners find their clusters. */
	if (cds_start(&m, cfg, err, sizeof(err)) < 0) {
		tp_error("cds: %s", err);
		tp_config_free(cfg);
		goto out_kill;
	}
	/* LDS before the first workers: they get its listeners before they serve. */
	if (cfg->lds.path && lds_open(&m, cfg, err, sizeof(err)) < 0) {
		tp_error("dynamic_resources.lds_config: %s", err);
		tp_config_free(cfg);
		goto out_kill;
	}
	if (!gen_start(&m, cfg, 0, err, sizeof(err))) {
		tp_error("%s", err);
		goto out_kill;
	}
	if (tp_notify_enabled())
		on_notify_timer(m.loop, &m);
	on_cb_timer(m.loop, &m);
	m.exit_status = 0;
	for (;;) {
		settle(&m);
		if (m.done)
			break;
		if (tp_mloop_run_once(m.loop, -1) < 0) {
			tp_error("master loop: %s", strerror(errno));
			m.exit_status = 1;
			break;
		}
	}
out_kill:
	if (m.exit_status)
		tp_notify_send("STATUS=failed to start; the log says why");
	tp_services_stop();
	conns_free(&m);
	if (opts->pid_file)
		remove_pid_file(opts->pid_file);
	sup_kill_all(&m);
	while (m.gens)
		gen_destroy(m.gens);
	cds_free(&m);
	lds_close(&m);
	lsock_close_all(&m);
	if (m.sigfd >= 0)
		close(m.sigfd);
out_free:
	tp_notify_close();
	tp_mloop_free(m.loop);
	free(m.slot_used);
	tp_stats_destroy(m.stats);
	return m.exit_status;
}

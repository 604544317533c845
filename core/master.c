/* The master process: owns what must outlive a worker (listening sockets, the stats segment),
 * forks the workers and restarts any that dies. It never touches a proxied byte. */
#include "core/master.h"
#include "core/master-t.h"

#include "core/config-t.h"
#include "core/filter-t.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/mloop.h"
#include "core/timer.h"
#include "core/worker.h"
#include "shm/stats.h"
#include "uring/ring.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

/* Room for the draining generations of hitless reload (issue 4): slots are per generation. */
#define GENERATIONS_KEPT 4
#define SCOPES_MAX	 4096
/* A slot whose worker dies this often this fast is restarted at most once a second. */
#define CRASH_BURST	 5
#define CRASH_WINDOW_MS	 10000
#define CRASH_BACKOFF_MS 1000
#define STOP_GRACE_MS	 5000

struct worker_slot {
	pid_t pid;
	uint64_t deaths[CRASH_BURST]; /* ring of recent death times */
	unsigned n_deaths;
	uint64_t restart_at; /* 0: not waiting to restart */
};

struct master {
	struct tp_config *cfg;
	const struct tp_master_opts *opts;
	struct tp_stats *stats;
	char stats_name[64];
	int *fds; /* [listener * concurrency + slot] */
	struct worker_slot *slots;
	int sigfd;
	struct tp_mloop *loop;
	struct tp_master_view view;
	bool stopping;
	bool stop_requested;
};

static int register_scopes(struct master *m)
{
	struct tp_config *cfg = m->cfg;
	char name[128];
	uint32_t base;
	int ret;

	ret = tp_stats_scope(m->stats, TP_SCOPE_SERVER, "", &base);
	if (ret < 0)
		return ret;
	tp_stat_set(tp_stats_block(m->stats, TP_STATS_SLOT_MASTER), base + TP_SERVER_concurrency,
		    m->opts->concurrency);
	tp_stat_set(tp_stats_block(m->stats, TP_STATS_SLOT_MASTER), base + TP_SERVER_live, 1);
	for (size_t i = 0; i < cfg->n_clusters; i++) {
		ret = tp_stats_scope(m->stats, TP_SCOPE_CLUSTER, cfg->clusters[i].name,
				     &cfg->clusters[i].stats_base);
		if (ret < 0)
			return ret;
	}
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		struct tp_listener_cfg *l = &cfg->listeners[i];

		tp_stats_listener_name((const struct sockaddr *)&l->addr.ss, name, sizeof(name));
		ret = tp_stats_scope(m->stats, TP_SCOPE_LISTENER, name, &l->stats_base);
		if (ret < 0)
			return ret;
		for (size_t c = 0; c < l->n_filter_chains; c++) {
			struct tp_filter_chain_cfg *ch = &l->filter_chains[c];

			for (size_t f = 0; f < ch->n_filters; f++) {
				struct tp_tcp_proxy_cfg *p;

				if (!ch->filters[f].ops->terminal)
					continue;
				p = ch->filters[f].conf;
				ret = tp_stats_scope(m->stats, TP_SCOPE_TCP, p->stat_prefix,
						     &p->stats_base);
				if (ret < 0)
					return ret;
			}
		}
	}
	return 0;
}

static int bind_listeners(struct master *m)
{
	unsigned n = m->opts->concurrency;
	char err[256];
	int ret;

	m->fds = malloc(sizeof(*m->fds) * (m->cfg->n_listeners * n + 1));
	if (!m->fds)
		return -ENOMEM;
	for (size_t i = 0; i < m->cfg->n_listeners * n; i++)
		m->fds[i] = -1;
	for (size_t i = 0; i < m->cfg->n_listeners; i++) {
		for (unsigned s = 0; s < n; s++) {
			ret = tp_listener_bind(&m->cfg->listeners[i], &m->fds[i * n + s], err,
					       sizeof(err));
			if (ret < 0) {
				tp_error("%s", err);
				return ret;
			}
		}
	}
	return 0;
}

static void close_listeners(struct master *m)
{
	if (!m->fds)
		return;
	for (size_t i = 0; i < m->cfg->n_listeners * m->opts->concurrency; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	free(m->fds);
	m->fds = NULL;
}

static _Noreturn void worker_main(struct master *m, unsigned slot, pid_t master_pid)
{
	unsigned n = m->opts->concurrency;
	int *mine = calloc(m->cfg->n_listeners + 1, sizeof(int));
	struct tp_worker_args a;
	char role[32];
	int status;

	snprintf(role, sizeof(role), "worker %u", slot);
	tp_log_set_role(role);
	close(m->sigfd);
	/* Keep only this slot's sockets: the others belong to other workers. */
	for (size_t i = 0; i < m->cfg->n_listeners; i++) {
		for (unsigned s = 0; s < n; s++) {
			if (s == slot)
				mine[i] = m->fds[i * n + s];
			else
				close(m->fds[i * n + s]);
		}
	}
	a.cfg = m->cfg;
	a.slot = slot;
	a.listen_fds = mine;
	a.stats = m->stats;
	a.master_pid = master_pid;
	status = mine ? tp_worker_run(&a) : 1;
	free(mine);
	/* _exit: the master's stdio buffers and atexit handlers are not ours to run. */
	_exit(status);
}

static int spawn(struct master *m, unsigned slot)
{
	pid_t master_pid = getpid();
	pid_t pid = fork();

	if (pid < 0) {
		tp_error("fork worker %u: %s", slot, strerror(errno));
		return -errno;
	}
	if (pid == 0)
		worker_main(m, slot, master_pid);
	m->slots[slot].pid = pid;
	m->slots[slot].restart_at = 0;
	tp_stats_slot_set(m->stats, slot, pid, 0, TP_SLOT_LIVE);
	tp_debug("worker %u started, pid %d", slot, (int)pid);
	return 0;
}

static int find_slot(struct master *m, pid_t pid)
{
	for (unsigned s = 0; s < m->opts->concurrency; s++)
		if (m->slots[s].pid == pid)
			return (int)s;
	return -1;
}

static void describe_status(int status, char *out, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(out, len, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(out, len, "exited with status %d", WEXITSTATUS(status));
}

/* A dead worker's slot keeps its counters and loses its gauges (its connections died with it);
 * the new worker in the slot inherits the same listening sockets and the same stats block. */
static void on_worker_exit(struct master *m, pid_t pid, int status)
{
	int slot = find_slot(m, pid);
	struct worker_slot *ws;
	uint64_t now = tp_now_ms();
	char how[96];

	if (slot < 0)
		return;
	ws = &m->slots[slot];
	ws->pid = 0;
	tp_stats_slot_reset_gauges(m->stats, (unsigned)slot);
	tp_stats_slot_set(m->stats, (unsigned)slot, 0, 0, TP_SLOT_DEAD);
	if (m->stopping)
		return;
	describe_status(status, how, sizeof(how));
	ws->deaths[ws->n_deaths++ % CRASH_BURST] = now;
	if (ws->n_deaths >= CRASH_BURST &&
	    now - ws->deaths[ws->n_deaths % CRASH_BURST] < CRASH_WINDOW_MS) {
		ws->restart_at = now + CRASH_BACKOFF_MS;
		tp_error("worker %d (pid %d) %s; %d deaths in %d s, restarting in %d ms", slot,
			 (int)pid, how, CRASH_BURST, CRASH_WINDOW_MS / 1000, CRASH_BACKOFF_MS);
		return;
	}
	tp_error("worker %d (pid %d) %s; restarting it", slot, (int)pid, how);
	spawn(m, (unsigned)slot);
}

static void reap(struct master *m)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		on_worker_exit(m, pid, status);
}

static void restart_due(struct master *m)
{
	uint64_t now = tp_now_ms();

	for (unsigned s = 0; s < m->opts->concurrency; s++)
		if (!m->slots[s].pid && m->slots[s].restart_at && now >= m->slots[s].restart_at)
			spawn(m, s);
}

static int next_timeout(struct master *m)
{
	uint64_t now = tp_now_ms(), next = UINT64_MAX;

	for (unsigned s = 0; s < m->opts->concurrency; s++)
		if (!m->slots[s].pid && m->slots[s].restart_at && m->slots[s].restart_at < next)
			next = m->slots[s].restart_at;
	if (next == UINT64_MAX)
		return -1;
	return next > now ? (int)(next - now) : 0;
}

static unsigned live_workers(struct master *m)
{
	unsigned n = 0;

	for (unsigned s = 0; s < m->opts->concurrency; s++)
		n += m->slots[s].pid != 0;
	return n;
}

/* SIGTERM every worker, give them STOP_GRACE_MS, then SIGKILL what is left: no orphan. */
static void stop_workers(struct master *m)
{
	uint64_t deadline = tp_now_ms() + STOP_GRACE_MS;

	m->stopping = true;
	for (unsigned s = 0; s < m->opts->concurrency; s++)
		if (m->slots[s].pid)
			kill(m->slots[s].pid, SIGTERM);
	while (live_workers(m) && tp_now_ms() < deadline) {
		reap(m);
		if (live_workers(m))
			usleep(10000);
	}
	for (unsigned s = 0; s < m->opts->concurrency; s++)
		if (m->slots[s].pid)
			kill(m->slots[s].pid, SIGKILL);
	while (live_workers(m)) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);

		if (pid < 0)
			break;
		on_worker_exit(m, pid, status);
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
	sigaddset(&set, SIGPIPE);
	/* Read as events from a signalfd, so a signal never interrupts the master mid-update. */
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	m->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return m->sigfd < 0 ? -errno : 0;
}

static void on_signals(struct tp_mloop *l, int fd, unsigned revents, void *arg)
{
	struct master *m = arg;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap(m);
			break;
		case SIGTERM:
		case SIGINT:
			tp_info("%s: stopping", strsignal((int)si.ssi_signo));
			m->stop_requested = true;
			break;
		case SIGHUP:
			tp_warn("SIGHUP: configuration reload is not supported yet; ignored");
			break;
		default:
			break;
		}
	}
}

int tp_master_run(struct tp_config *cfg, const struct tp_master_opts *opts)
{
	struct master m = {.cfg = cfg, .opts = opts, .sigfd = -1};
	char err[256];
	int ret, status = 1;

	tp_log_set_role("master");
	if (tp_ring_check_available(err, sizeof(err)) < 0) {
		tp_error("%s", err);
		return 1;
	}
	snprintf(m.stats_name, sizeof(m.stats_name), "/tcpproxy.%u.stats", opts->base_id);
	ret = tp_stats_create(&m.stats, m.stats_name, opts->concurrency * GENERATIONS_KEPT,
			      SCOPES_MAX, err, sizeof(err));
	if (ret < 0) {
		tp_error("stats segment %s: %s", m.stats_name, err);
		return 1;
	}
	m.slots = calloc(opts->concurrency, sizeof(*m.slots));
	if (!m.slots || register_scopes(&m) < 0) {
		tp_error("stats segment %s: out of room for the configured scopes", m.stats_name);
		goto out_destroy_stats;
	}
	if (bind_listeners(&m) < 0)
		goto out_close_listeners;
	if (setup_signals(&m) < 0) {
		tp_error("signals: %s", strerror(errno));
		goto out_close_listeners;
	}
	for (unsigned s = 0; s < opts->concurrency; s++)
		if (spawn(&m, s) < 0)
			goto out_stop;
	if (cfg->admin.enabled)
		tp_warn("admin: the admin endpoint (%s) is not served yet; read stats from the "
			"stats segment",
			cfg->admin.addr.text);
	tp_info("tcpproxy %s: %zu listener(s), %zu cluster(s), %u worker(s), stats in /dev/shm%s",
		TP_VERSION, cfg->n_listeners, cfg->n_clusters, opts->concurrency, m.stats_name);
	m.loop = tp_mloop_new();
	if (!m.loop || tp_mloop_add(m.loop, m.sigfd, POLLIN, on_signals, &m) < 0) {
		tp_error("master loop: out of memory");
		goto out_stop;
	}
	while (!m.stop_requested) {
		if (tp_mloop_run_once(m.loop, next_timeout(&m)) < 0) {
			tp_error("master loop: %s", strerror(errno));
			break;
		}
		restart_due(&m);
	}
	status = 0;
out_stop:
	stop_workers(&m);
out_close_listeners:
	close_listeners(&m);
	if (m.sigfd >= 0)
		close(m.sigfd);
out_destroy_stats:
	tp_mloop_free(m.loop);
	free(m.slots);
	tp_stats_destroy(m.stats);
	return status;
}

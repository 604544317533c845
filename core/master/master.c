/* The master process: owns what must outlive a worker (listening sockets, the stats segment),
 * runs generations of workers, reloads without dropping a connection, and restarts any worker
 * that dies. It never touches a proxied byte.
 *
 * A generation is one configuration served by --concurrency workers. A reload (SIGHUP) starts
 * a new generation beside the serving one: listeners whose address is unchanged keep the very
 * same sockets (closing a SO_REUSEPORT socket would reset the connections in its accept queue),
 * new ones are bound first, and only once every new worker has said it is ready does the old
 * generation stop accepting and drain. Both generations accept from the same sockets in
 * between, so no connection waits on a socket nobody accepts from. */
#include "core/master/master.h"

#include "core/admin/admin.h"
#include "core/config/config.h"
#include "core/config/walk.h"
#include "core/filter-t.h"
#include "core/master/listener.h"
#include "core/base/log.h"
#include "core/base/version.h"
#include "core/master/master-t.h"
#include "core/base/mloop.h"
#include "core/admin/services.h"
#include "core/base/timer.h"
#include "core/worker/worker.h"
#include "shm/stats.h"
#include "uring/ring.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SCOPES_MAX 4096
/* A slot whose worker dies this often this fast is restarted at most once a second
 * (systemd's default start limit is the same 5 in 10 s). */
#define CRASH_BURST	 5
#define CRASH_WINDOW_MS	 10000
#define CRASH_BACKOFF_MS 1000
/* A new generation whose workers are not all ready by then is abandoned. */
#define START_TIMEOUT_MS 10000
/* A worker still running this long after SIGTERM gets SIGKILL. */
#define KILL_GRACE_MS 5000

/* A configured address and its sockets, one per worker slot, kept while any generation that
 * accepts on it exists. */
struct lsock {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[64];
	int *fds;      /* [concurrency] */
	unsigned refs; /* starting or serving generations that listen on it */
	struct lsock *next;
};

/* A generation's life. gen_set_state() is the only place that changes it:
 *
 *   STARTING ──every worker ready──► SERVING ──a newer one serves, SIGTERM──► DRAINING
 *       │                               │                                        │
 *       │ start failed, SIGTERM         │ SIGINT        drain deadline, cap, SIGINT │
 *       └───────────────────────────────┴──────────────► CLOSING ◄───────────────┘
 *
 * A draining or closing generation is freed once its last worker has exited. */
enum gen_state {
	GEN_STARTING, /* forked, waiting for every worker's ready byte; start timeout armed */
	GEN_SERVING,  /* accepting; a worker that dies is restarted */
	GEN_DRAINING, /* told to stop accepting (SIGQUIT), serving its open connections until they
		       * end; drain deadline armed */
	GEN_CLOSING,  /* told to close its connections now (SIGTERM); kill deadline armed */
};

struct wslot {
	pid_t pid;
	int ctl; /* read end of the worker's ready pipe; -1 once read or closed */
	bool ready;
	unsigned stats_slot;
	uint64_t deaths[CRASH_BURST];
	unsigned n_deaths;
	int64_t restart_timer; /* crash backoff: this slot restarts when it fires */
	struct gen *gen;       /* for the restart timer, whose argument is the slot */
	unsigned slot;
};

struct gen {
	uint32_t epoch;
	struct tp_config *cfg;
	struct lsock **socks; /* [cfg->n_listeners] */
	struct wslot *w;      /* [concurrency] */
	enum gen_state state;
	unsigned n_ready;
	unsigned n_alive;
	int64_t timer; /* the deadline of its state: start timeout, drain deadline, kill deadline */
	void *shared;  /* MAP_SHARED memory for filters that count across workers */
	size_t shared_len;
	struct gen *next; /* newest first */
};

struct master {
	const struct tp_master_opts *opts;
	struct tp_stats *stats;
	struct tp_stats_block *blk; /* the master's own block */
	uint32_t server_base;
	char stats_name[64];
	struct lsock *socks;
	struct gen *gens;
	bool *slot_used;
	unsigned n_slots;
	uint32_t epoch;
	int sigfd;
	struct tp_mloop *loop;
	struct tp_master_view view;
	bool reload_pending; /* SIGHUP: settle() runs it once no generation is starting */
	bool stopping;	     /* SIGTERM: draining everything */
	bool failed;	     /* the first generation did not start: exit 1 */
	bool done;	     /* leave the loop (decided by settle()) */
	int exit_status;
};

static struct master *M; /* for mloop callbacks that carry a generation, not the master */

/* A starting or serving generation accepts: it holds a reference on its listening sockets. */
static bool gen_accepts(enum gen_state s)
{
	return s == GEN_STARTING || s == GEN_SERVING;
}

static void on_worker_ctl(struct tp_mloop *l, int fd, unsigned revents, void *arg);
static void gen_set_state(struct master *m, struct gen *g, enum gen_state to);
static void reload(struct master *m);

/* ---- listening sockets ---- */

static struct lsock *find_lsock(struct master *m, const struct tp_sockaddr *a)
{
	for (struct lsock *s = m->socks; s; s = s->next)
		if (s->len == a->len && !memcmp(&s->ss, &a->ss, a->len))
			return s;
	return NULL;
}

static void close_lsock(struct master *m, struct lsock *s)
{
	struct lsock **pp;

	for (pp = &m->socks; *pp && *pp != s; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = s->next;
	for (unsigned i = 0; i < m->opts->concurrency; i++)
		if (s->fds[i] >= 0)
			close(s->fds[i]);
	tp_info("listener %s closed", s->text);
	free(s->fds);
	free(s);
}

/* The sockets for every listener of cfg: existing ones are reused, missing ones bound now. On
 * failure nothing new stays bound. */
static int bind_generation(struct master *m, struct gen *g)
{
	unsigned n = m->opts->concurrency;
	char err[256];
	int ret = 0;

	for (size_t i = 0; i < g->cfg->n_listeners; i++) {
		const struct tp_listener_cfg *l = &g->cfg->listeners[i];
		struct lsock *s = find_lsock(m, &l->addr);

		if (!s) {
			s = calloc(1, sizeof(*s));
			if (!s || !(s->fds = malloc(n * sizeof(int)))) {
				free(s);
				ret = -ENOMEM;
				tp_error("listener '%s': out of memory", l->name);
				goto out_unwind;
			}
			memcpy(&s->ss, &l->addr.ss, l->addr.len);
			s->len = l->addr.len;
			snprintf(s->text, sizeof(s->text), "%s", l->addr.text);
			for (unsigned k = 0; k < n; k++)
				s->fds[k] = -1;
			s->next = m->socks;
			m->socks = s;
			for (unsigned k = 0; k < n; k++) {
				ret = tp_listener_bind(l, &s->fds[k], err, sizeof(err));
				if (ret < 0) {
					tp_error("%s", err);
					goto out_unwind;
				}
			}
			if (m->epoch || g->epoch)
				tp_info("listener %s bound", s->text);
		}
		s->refs++;
		g->socks[i] = s;
	}
	return 0;

out_unwind:
	for (size_t i = 0; i < g->cfg->n_listeners; i++) {
		if (g->socks[i] && !--g->socks[i]->refs)
			close_lsock(m, g->socks[i]);
		g->socks[i] = NULL;
	}
	/* A socket bound for this generation alone that failed half way is unreferenced. */
	for (struct lsock *s = m->socks, *next; s; s = next) {
		next = s->next;
		if (!s->refs)
			close_lsock(m, s);
	}
	return ret;
}

static void release_listeners(struct master *m, struct gen *g)
{
	for (size_t i = 0; i < g->cfg->n_listeners; i++) {
		if (g->socks[i] && !--g->socks[i]->refs)
			close_lsock(m, g->socks[i]);
		g->socks[i] = NULL;
	}
}

/* ---- stats ---- */

static int register_filter_stats(struct tp_filter_cfg *f, void *stats)
{
	return f->ops->register_stats ? f->ops->register_stats(f->conf, stats) : 0;
}

static int register_scopes(struct master *m, struct tp_config *cfg)
{
	char name[128];
	int ret;

	for (size_t i = 0; i < cfg->n_clusters; i++) {
		ret = tp_stats_scope(m->stats, TP_SCOPE_CLUSTER, cfg->clusters[i].name,
				     &cfg->clusters[i].stats_base);
		if (ret < 0)
			return ret;
		ret = tp_admin_register_hosts(m->stats, &cfg->clusters[i]);
		if (ret < 0)
			return ret;
	}
	/* Each listener's scope, then its filters' (the order rows are appended in). */
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		struct tp_listener_cfg *l = &cfg->listeners[i];

		tp_stats_listener_name((const struct sockaddr *)&l->addr.ss, name, sizeof(name));
		ret = tp_stats_scope(m->stats, TP_SCOPE_LISTENER, name, &l->stats_base);
		if (ret < 0)
			return ret;
		ret = tp_listener_for_each_filter(l, register_filter_stats, m->stats);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Each filter's part of the shared memory starts on its own cache line. */
static size_t shared_part(const struct tp_filter_cfg *f)
{
	return (f->ops->shared_bytes + 63) & ~(size_t)63;
}

static int add_shared_bytes(struct tp_filter_cfg *f, void *total)
{
	*(size_t *)total += shared_part(f);
	return 0;
}

struct shared_cursor {
	char *at;
};

static int bind_shared_part(struct tp_filter_cfg *f, void *arg)
{
	struct shared_cursor *cur = arg;

	if (!f->ops->shared_bytes)
		return 0;
	f->ops->bind_shared(f->conf, cur->at);
	cur->at += shared_part(f);
	return 0;
}

/* Memory shared by all workers of a generation, for filters that count across them (Envoy's
 * connection_limit counts per listener, not per worker). */
static int share_filter_memory(struct gen *g)
{
	struct shared_cursor cur;
	size_t total = 0;

	tp_config_for_each_filter(g->cfg, add_shared_bytes, &total);
	if (!total)
		return 0;
	g->shared = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g->shared == MAP_FAILED) {
		g->shared = NULL;
		return -errno;
	}
	g->shared_len = total;
	cur.at = g->shared;
	tp_config_for_each_filter(g->cfg, bind_shared_part, &cur);
	return 0;
}

static int alloc_slots(struct master *m, struct gen *g)
{
	unsigned need = m->opts->concurrency, found = 0;

	for (unsigned s = 0; s < m->n_slots && found < need; s++)
		found += !m->slot_used[s];
	if (found < need)
		return -ENOSPC;
	found = 0;
	for (unsigned s = 0; s < m->n_slots && found < need; s++) {
		if (m->slot_used[s])
			continue;
		m->slot_used[s] = true;
		g->w[found++].stats_slot = s;
	}
	return 0;
}

static void update_view(struct master *m)
{
	struct gen *serving = NULL;
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
	m->view.state = m->stopping ? "DRAINING" : serving ? "LIVE" : "INITIALIZING";
	tp_stat_set(m->blk, m->server_base + TP_SERVER_hot_restart_epoch, m->epoch);
	tp_stat_set(m->blk, m->server_base + TP_SERVER_live, serving && !m->stopping);
}

/* ---- workers ---- */

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* In the child: close every descriptor but the ones this worker serves with. The master holds
 * other generations' sockets, other workers' pipes, its signalfd and its services' sockets. */
static void close_all_but(int *keep, unsigned n)
{
	int from = 3;

	qsort(keep, n, sizeof(int), cmp_int);
	for (unsigned i = 0; i < n; i++) {
		if (keep[i] < from)
			continue;
		if (keep[i] > from)
			close_range((unsigned)from, (unsigned)keep[i] - 1, 0);
		from = keep[i] + 1;
	}
	close_range((unsigned)from, ~0u, 0);
}

static _Noreturn void worker_main(struct master *m, struct gen *g, unsigned slot, int ctl,
				  pid_t master_pid)
{
	size_t n = g->cfg->n_listeners;
	int *mine = calloc(n + 1, sizeof(int)), *keep = calloc(n + 2, sizeof(int));
	struct tp_worker_args a;
	char role[48];
	int status = 1;

	snprintf(role, sizeof(role), "worker %u/%u", g->epoch, slot);
	tp_log_set_role(role);
	if (!mine || !keep)
		_exit(1);
	for (size_t i = 0; i < n; i++)
		keep[i] = mine[i] = g->socks[i]->fds[slot];
	keep[n] = ctl;
	close_all_but(keep, (unsigned)n + 1);
	memset(&a, 0, sizeof(a));
	a.cfg = g->cfg;
	a.slot = slot;
	a.n_slots = m->opts->concurrency;
	a.stats_slot = g->w[slot].stats_slot;
	a.listen_fds = mine;
	a.stats = m->stats;
	a.master_pid = master_pid;
	a.ready_fd = ctl;
	a.drop_privileges = m->opts->drop_privileges;
	a.uid = m->opts->uid;
	a.gid = m->opts->gid;
	status = tp_worker_run(&a);
	/* _exit: the master's stdio buffers and atexit handlers are not ours to run. */
	_exit(status);
}

static int spawn(struct master *m, struct gen *g, unsigned slot)
{
	struct wslot *ws = &g->w[slot];
	pid_t master_pid = getpid(), pid;
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0) {
		tp_error("worker %u/%u: pipe: %s", g->epoch, slot, strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		tp_error("fork worker %u/%u: %s", g->epoch, slot, strerror(errno));
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		close(p[0]);
		worker_main(m, g, slot, p[1], master_pid);
	}
	close(p[1]);
	ws->pid = pid;
	ws->ready = false;
	ws->ctl = p[0];
	if (ws->restart_timer)
		tp_mloop_cancel(m->loop, ws->restart_timer);
	ws->restart_timer = 0;
	g->n_alive++;
	tp_mloop_add(m->loop, p[0], POLLIN, on_worker_ctl, g);
	tp_stats_slot_set(m->stats, ws->stats_slot, pid, g->epoch, TP_SLOT_STARTING);
	tp_debug("worker %u/%u started, pid %d", g->epoch, slot, (int)pid);
	return 0;
}

static void close_ctl(struct master *m, struct wslot *ws)
{
	if (ws->ctl < 0)
		return;
	tp_mloop_del(m->loop, ws->ctl);
	close(ws->ctl);
	ws->ctl = -1;
}

/* A worker wrote its ready byte: its ring is up and its accepts are armed. */
static void on_worker_ctl(struct tp_mloop *l, int fd, unsigned revents, void *arg)
{
	struct gen *g = arg;
	struct master *m = M;
	char b;

	for (unsigned s = 0; s < m->opts->concurrency; s++) {
		struct wslot *ws = &g->w[s];

		if (ws->ctl != fd)
			continue;
		if (read(fd, &b, 1) == 1 && b == 'R' && !ws->ready) {
			ws->ready = true;
			g->n_ready++;
			tp_stats_slot_set(m->stats, ws->stats_slot, ws->pid, g->epoch,
					  gen_accepts(g->state) ? TP_SLOT_LIVE : TP_SLOT_DRAINING);
		}
		close_ctl(m, ws);
		break;
	}
	if (g->state == GEN_STARTING && g->n_ready == m->opts->concurrency)
		gen_set_state(m, g, GEN_SERVING);
}

static void signal_gen(struct master *m, struct gen *g, int sig)
{
	for (unsigned s = 0; s < m->opts->concurrency; s++)
		if (g->w[s].pid)
			kill(g->w[s].pid, sig);
}

static void destroy_gen(struct master *m, struct gen *g)
{
	struct gen **pp;

	for (pp = &m->gens; *pp && *pp != g; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = g->next;
	if (m->view.cfg == g->cfg)
		m->view.cfg = m->gens ? m->gens->cfg : NULL;
	if (g->timer)
		tp_mloop_cancel(m->loop, g->timer);
	for (unsigned s = 0; s < m->opts->concurrency; s++) {
		struct wslot *ws = &g->w[s];

		close_ctl(m, ws);
		if (ws->restart_timer)
			tp_mloop_cancel(m->loop, ws->restart_timer);
		/* Its counters stay in the totals (the retired block); the slot is free again. */
		tp_stats_slot_retire(m->stats, ws->stats_slot);
		m->slot_used[ws->stats_slot] = false;
	}
	if (gen_accepts(g->state))
		release_listeners(m, g);
	if (g->shared)
		munmap(g->shared, g->shared_len);
	tp_config_free(g->cfg);
	free(g->socks);
	free(g->w);
	free(g);
}

static void on_kill_deadline(struct tp_mloop *l, void *arg)
{
	struct gen *g = arg;

	g->timer = 0;
	if (!g->n_alive)
		return;
	tp_warn("generation %u: workers still running %d s after SIGTERM; killing them", g->epoch,
		KILL_GRACE_MS / 1000);
	signal_gen(M, g, SIGKILL);
}

static void on_drain_deadline(struct tp_mloop *l, void *arg)
{
	struct gen *g = arg;

	g->timer = 0;
	tp_info("generation %u: drain time over; closing its remaining connections", g->epoch);
	gen_set_state(M, g, GEN_CLOSING);
}

/* A generation that serves at last: a reload's outcome, or the boot banner. */
static void announce_serving(struct master *m, struct gen *g)
{
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
	}
}

static const char *const gen_state_name[] = {
	[GEN_STARTING] = "starting",
	[GEN_SERVING] = "serving",
	[GEN_DRAINING] = "draining",
	[GEN_CLOSING] = "closing",
};

/* Moves g to state to, with everything that goes with the move: the signal its workers get,
 * the deadline of the new state (the old one's is cancelled), the listening sockets it lets go
 * when it stops accepting, its stats slots' states and the log. Allowed: starting → serving,
 * serving → draining, any → closing. What follows (capping, freeing, a pending reload) is
 * settle()'s. */
static void gen_set_state(struct master *m, struct gen *g, enum gen_state to)
{
	enum gen_state from = g->state;

	TP_BUG_ON(to == GEN_STARTING || (to == GEN_SERVING && from != GEN_STARTING) ||
		  (to == GEN_DRAINING && from != GEN_SERVING));
	tp_debug("generation %u: %s -> %s", g->epoch, gen_state_name[from], gen_state_name[to]);
	if (g->timer)
		tp_mloop_cancel(m->loop, g->timer);
	g->timer = 0;
	if (gen_accepts(from) && !gen_accepts(to)) {
		release_listeners(m, g);
		for (unsigned s = 0; s < m->opts->concurrency; s++)
			if (g->w[s].pid)
				tp_stats_slot_set(m->stats, g->w[s].stats_slot, g->w[s].pid,
						  g->epoch, TP_SLOT_DRAINING);
	}
	g->state = to;
	switch (to) {
	case GEN_STARTING:
		break;
	case GEN_SERVING:
		/* The generation it replaces drains. */
		for (struct gen *o = m->gens; o; o = o->next)
			if (o != g && o->state == GEN_SERVING)
				gen_set_state(m, o, GEN_DRAINING);
		m->epoch = g->epoch;
		announce_serving(m, g);
		break;
	case GEN_DRAINING:
		signal_gen(m, g, SIGQUIT);
		g->timer = tp_mloop_at(m->loop, tp_now_ms() + m->opts->drain_time_s * 1000ull,
				       on_drain_deadline, g);
		break;
	case GEN_CLOSING:
		/* A worker stuck before its loop runs (blocked opening an access log that is a
		 * FIFO nobody reads, say) cannot act on SIGTERM: it is killed after KILL_GRACE_MS,
		 * so that no generation, and no stopping master, waits for it forever. Told again,
		 * a closing generation gets SIGTERM again and a new kill deadline. */
		signal_gen(m, g, SIGTERM);
		g->timer = tp_mloop_at(m->loop, tp_now_ms() + KILL_GRACE_MS, on_kill_deadline, g);
		break;
	}
}

/* Past --max-draining-generations, the oldest draining generation is closed early. */
static void cap_draining(struct master *m)
{
	unsigned n = 0;
	struct gen *oldest = NULL;

	for (struct gen *g = m->gens; g; g = g->next) {
		if (g->state != GEN_DRAINING)
			continue;
		n++;
		oldest = g;
	}
	if (n > m->opts->max_draining_generations && oldest) {
		tp_warn("generation %u closed early: more than %u generations draining",
			oldest->epoch, m->opts->max_draining_generations);
		gen_set_state(m, oldest, GEN_CLOSING);
	}
}

static void reload_failed(struct master *m, const char *why)
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

static void on_start_timeout(struct tp_mloop *l, void *arg)
{
	struct gen *g = arg;
	struct master *m = M;

	g->timer = 0;
	if (g->state != GEN_STARTING)
		return;
	if (!g->epoch) {
		/* At boot there is nothing to fall back to: exit 1, as when a worker dies there. */
		tp_error("the workers did not get ready within %d s", START_TIMEOUT_MS / 1000);
		m->exit_status = 1;
		m->failed = true;
		return;
	}
	reload_failed(m, "the new workers did not get ready in time");
	gen_set_state(m, g, GEN_CLOSING);
}

/* Creates, binds and forks a generation for cfg (which it takes over). */
static struct gen *start_generation(struct master *m, struct tp_config *cfg, uint32_t epoch,
				    char *why, size_t whylen)
{
	struct gen *g = calloc(1, sizeof(*g));
	int ret;

	if (!g || !(g->socks = calloc(cfg->n_listeners + 1, sizeof(*g->socks))) ||
	    !(g->w = calloc(m->opts->concurrency, sizeof(*g->w)))) {
		snprintf(why, whylen, "out of memory");
		goto out_free;
	}
	g->cfg = cfg;
	g->epoch = epoch;
	g->state = GEN_STARTING;
	for (unsigned s = 0; s < m->opts->concurrency; s++) {
		g->w[s].ctl = -1;
		g->w[s].gen = g;
		g->w[s].slot = s;
	}
	if (register_scopes(m, cfg) < 0) {
		snprintf(why, whylen, "the stats segment has no room for the new scopes");
		goto out_free;
	}
	if (share_filter_memory(g) < 0) {
		snprintf(why, whylen, "shared memory for filters: %s", strerror(errno));
		goto out_free;
	}
	if (alloc_slots(m, g) < 0) {
		snprintf(why, whylen, "no free stats slots: too many generations still draining");
		goto out_unmap;
	}
	ret = bind_generation(m, g);
	if (ret < 0) {
		snprintf(why, whylen, "cannot bind a listener: %s", strerror(-ret));
		goto out_free_slots;
	}
	g->next = m->gens;
	m->gens = g;
	for (unsigned s = 0; s < m->opts->concurrency; s++) {
		if (spawn(m, g, s) < 0) {
			snprintf(why, whylen, "cannot fork workers");
			gen_set_state(m, g, GEN_CLOSING);
			return NULL;
		}
	}
	g->timer = tp_mloop_at(m->loop, tp_now_ms() + START_TIMEOUT_MS, on_start_timeout, g);
	return g;

out_free_slots:
	for (unsigned s = 0; s < m->opts->concurrency; s++)
		m->slot_used[g->w[s].stats_slot] = false;
out_unmap:
	if (g->shared)
		munmap(g->shared, g->shared_len);
out_free:
	if (g) {
		free(g->socks);
		free(g->w);
		free(g);
	}
	tp_config_free(cfg);
	return NULL;
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
		for (size_t i = 0; i < errs.n; i++)
			tp_error("%s", errs.lines[i]);
		snprintf(why, sizeof(why), "%zu error(s) in %s", errs.n, m->opts->config_path);
		tp_cfg_errors_free(&errs);
		reload_failed(m, why);
		return;
	}
	tp_cfg_errors_free(&errs);
	if (!start_generation(m, cfg, m->epoch + 1, why, sizeof(why)))
		reload_failed(m, why);
}

/* ---- supervision ---- */

static void on_restart_timer(struct tp_mloop *l, void *arg);

static bool find_worker(struct master *m, pid_t pid, struct gen **gp, unsigned *slot)
{
	for (struct gen *g = m->gens; g; g = g->next)
		for (unsigned s = 0; s < m->opts->concurrency; s++)
			if (g->w[s].pid == pid) {
				*gp = g;
				*slot = s;
				return true;
			}
	return false;
}

static void describe_status(int status, char *out, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(out, len, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(out, len, "exited with status %d", WEXITSTATUS(status));
}

/* A worker of a serving generation is restarted in its slot: same listening sockets, same stats
 * block, so its counters simply continue (its gauges died with its connections). */
static void restart_worker(struct master *m, struct gen *g, unsigned slot, const char *how)
{
	struct wslot *ws = &g->w[slot];
	uint64_t now = tp_now_ms();

	ws->deaths[ws->n_deaths++ % CRASH_BURST] = now;
	tp_stat_inc(m->blk, m->server_base + TP_SERVER_worker_restarts);
	if (ws->n_deaths >= CRASH_BURST &&
	    now - ws->deaths[ws->n_deaths % CRASH_BURST] < CRASH_WINDOW_MS) {
		tp_error("worker %u/%u %s; %d deaths in %d s, restarting in %d ms", g->epoch, slot,
			 how, CRASH_BURST, CRASH_WINDOW_MS / 1000, CRASH_BACKOFF_MS);
		ws->restart_timer =
			tp_mloop_at(m->loop, now + CRASH_BACKOFF_MS, on_restart_timer, ws);
		return;
	}
	tp_error("worker %u/%u %s; restarting it", g->epoch, slot, how);
	spawn(m, g, slot);
}

/* One slot's backoff is over (each slot has its own timer: one firing must not restart another
 * slot early, nor leave that slot's timer to fire later). */
static void on_restart_timer(struct tp_mloop *l, void *arg)
{
	struct wslot *ws = arg;
	struct gen *g = ws->gen;

	ws->restart_timer = 0;
	if (ws->pid || g->state != GEN_SERVING)
		return;
	tp_info("worker %u/%u: restarting after backoff", g->epoch, ws->slot);
	spawn(M, g, ws->slot);
}

static void on_worker_exit(struct master *m, pid_t pid, int status)
{
	struct gen *g;
	unsigned slot;
	char how[96];

	if (!find_worker(m, pid, &g, &slot))
		return;
	g->w[slot].pid = 0;
	g->n_alive--;
	if (g->w[slot].ready)
		g->n_ready--;
	g->w[slot].ready = false;
	close_ctl(m, &g->w[slot]);
	tp_stats_slot_reset_gauges(m->stats, g->w[slot].stats_slot);
	tp_stats_slot_set(m->stats, g->w[slot].stats_slot, 0, g->epoch, TP_SLOT_DEAD);
	describe_status(status, how, sizeof(how));
	switch (g->state) {
	case GEN_STARTING:
		tp_error("worker %u/%u %s while starting", g->epoch, slot, how);
		if (!g->epoch) {
			/* At boot there is nothing to fall back to. */
			m->exit_status = 1;
			m->failed = true;
			break;
		}
		reload_failed(m, "a new worker died while starting");
		gen_set_state(m, g, GEN_CLOSING);
		break;
	case GEN_SERVING:
		if (!m->stopping)
			restart_worker(m, g, slot, how);
		break;
	case GEN_DRAINING:
	case GEN_CLOSING:
		tp_debug("worker %u/%u of a %s generation %s", g->epoch, slot,
			 gen_state_name[g->state], how);
		break;
	}
}

static void reap(struct master *m)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		on_worker_exit(m, pid, status);
}

/* ---- stop ---- */

static void on_stop_deadline(struct tp_mloop *l, void *arg)
{
	struct master *m = arg;

	tp_info("drain time over; closing the remaining connections");
	for (struct gen *g = m->gens; g; g = g->next)
		gen_set_state(m, g, GEN_CLOSING);
}

/* SIGTERM: stop accepting, let connections finish for up to --drain-time-s. SIGINT (or a
 * second SIGTERM): close everything now. Exit 0 either way, with no worker left behind. */
static void stop(struct master *m, bool now)
{
	if (now || m->stopping) {
		tp_info("stopping now");
		m->stopping = true;
		for (struct gen *g = m->gens; g; g = g->next)
			gen_set_state(m, g, GEN_CLOSING);
	} else {
		tp_info("stopping: draining connections for up to %u s", m->opts->drain_time_s);
		m->stopping = true;
		/* A generation that never served has nothing to drain. */
		for (struct gen *g = m->gens; g; g = g->next)
			if (g->state == GEN_STARTING)
				gen_set_state(m, g, GEN_CLOSING);
			else if (g->state == GEN_SERVING)
				gen_set_state(m, g, GEN_DRAINING);
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
			reap(m);
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
			break;
		case SIGUSR1:
			/* Reopen log files (logrotate): every worker reopens its own. */
			for (struct gen *g = m->gens; g; g = g->next)
				signal_gen(m, g, SIGUSR1);
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
	/* Read as events from a signalfd, so a signal never interrupts the master mid-update. */
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	m->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return m->sigfd < 0 ? -errno : 0;
}

static void kill_everything(struct master *m)
{
	for (struct gen *g = m->gens; g; g = g->next)
		signal_gen(m, g, SIGKILL);
	while (m->gens) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);

		if (pid < 0)
			break;
		on_worker_exit(m, pid, status);
	}
	while (m->gens)
		destroy_gen(m, m->gens);
}

static bool any_starting(const struct master *m)
{
	for (const struct gen *g = m->gens; g; g = g->next)
		if (g->state == GEN_STARTING)
			return true;
	return false;
}

/* A draining or closing generation with no worker left is freed. Not only a worker's exit
 * leads there: a generation drained while a slot waits out its crash backoff, or after a fork
 * failed, has no exit left to wait for. */
static void sweep_generations(struct master *m)
{
	struct gen *g = m->gens, *next;

	for (; g; g = next) {
		next = g->next;
		if (!gen_accepts(g->state) && !g->n_alive) {
			tp_info("generation %u: all its workers have exited", g->epoch);
			destroy_gen(m, g);
		}
	}
}

/* What follows from any event, decided in one place and one order. The loop runs it after each
 * round, so after every signal, worker exit, ready byte and timer it dispatched; the handlers
 * only record what happened and move generations with gen_set_state().
 *
 *  1. cap: past --max-draining-generations the oldest draining generation closes now (not
 *     while stopping, when every generation drains for --drain-time-s);
 *  2. sweep: draining and closing generations whose workers have all exited are freed, and
 *     their stats slots with them (a reload may need those);
 *  3. reload: one asked for runs once no generation is starting; one that fails half way (a
 *     fork) leaves a closing generation, swept at once;
 *  4. view: what the services show, server.hot_restart_epoch and server.live;
 *  5. done: a stopping master with no generation left, or one whose first generation did not
 *     start, leaves its loop. */
static void settle(struct master *m)
{
	if (!m->stopping && !m->failed)
		cap_draining(m);
	sweep_generations(m);
	if (m->reload_pending && !m->stopping && !m->failed && !any_starting(m)) {
		m->reload_pending = false;
		reload(m);
		sweep_generations(m);
	}
	update_view(m);
	m->done = m->failed || (m->stopping && !m->gens);
}

int tp_master_run(struct tp_config *cfg, const struct tp_master_opts *opts)
{
	struct master m = {.opts = opts, .sigfd = -1};
	char err[256];
	int ret;

	M = &m;
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
	/* The workers' user reads it (tcpproxy-stat run as that user); still 0600. */
	if (opts->drop_privileges) {
		char path[96];

		snprintf(path, sizeof(path), "/dev/shm%s", m.stats_name);
		if (chown(path, opts->uid, opts->gid) < 0)
			tp_warn("stats segment %s: chown: %s", path, strerror(errno));
	}
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
	if (!start_generation(&m, cfg, 0, err, sizeof(err))) {
		tp_error("%s", err);
		goto out_kill;
	}
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
	tp_services_stop();
	kill_everything(&m);
	while (m.socks)
		close_lsock(&m, m.socks);
	if (m.sigfd >= 0)
		close(m.sigfd);
out_free:
	tp_mloop_free(m.loop);
	free(m.slot_used);
	tp_stats_destroy(m.stats);
	return m.exit_status;
}

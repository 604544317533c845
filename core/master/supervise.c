/* Supervision: forking a generation's workers, hearing that they are ready, reaping them when
 * they exit, restarting a serving generation's dead worker in its slot (with a per-slot crash
 * backoff), and killing what does not act on SIGTERM in time. */
#include "core/master/master-int.h"

#include "core/base/log.h"
#include "core/base/mloop.h"
#include "core/base/timer.h"
#include "core/worker/connview-t.h"
#include "core/worker/worker.h"
#include "shm/stats.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- forking ---- */

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

static _Noreturn void worker_main(struct gen *g, unsigned slot, int ctl, int view, int hs,
				  pid_t master_pid)
{
	const struct master *m = g->m;
	size_t n = g->cfg->n_listeners;
	int *mine = calloc(n + 1, sizeof(int)), *keep = calloc(n + 4, sizeof(int));
	struct tp_worker_args a;
	char role[48];
	int status = 1, ret;

	snprintf(role, sizeof(role), "worker %u/%u", g->epoch, slot);
	tp_log_set_role(role);
	if (!mine || !keep)
		_exit(1);
	for (size_t i = 0; i < n; i++)
		keep[i] = mine[i] = g->socks[i]->fds[slot];
	keep[n] = ctl;
	keep[n + 1] = view;
	keep[n + 2] = hs;
	close_all_but(keep, (unsigned)n + 3);
	memset(&a, 0, sizeof(a));
	a.cfg = g->cfg;
	a.slot = slot;
	a.n_slots = m->opts->concurrency;
	a.stats_slot = g->w[slot].stats_slot;
	a.listen_fds = mine;
	a.stats = m->stats;
	a.master_pid = master_pid;
	a.ready_fd = ctl;
	a.view_fd = view;
	a.hs_fd = hs;
	a.cds_cb = g->cds_cb;
	a.drop_privileges = m->opts->drop_privileges;
	a.uid = m->opts->uid;
	a.gid = m->opts->gid;
	/* Its own block is all of the stats segment a worker may write: the rest goes before it
	 * drops privileges and touches a peer's byte. */
	ret = tp_stats_worker_narrow(m->stats, a.stats_slot);
	if (ret < 0) {
		tp_error("stats segment: cannot unmap what is not this worker's: %s",
			 strerror(-ret));
		_exit(1);
	}
	status = tp_worker_run(&a);
	/* _exit: the master's stdio buffers and atexit handlers are not ours to run. */
	_exit(status);
}

static void close_ctl(struct master *m, struct wslot *ws)
{
	if (ws->view >= 0)
		close(ws->view);
	ws->view = -1;
	if (ws->ctl < 0)
		return;
	tp_mloop_del(m->loop, ws->ctl);
	close(ws->ctl);
	ws->ctl = -1;
	/* A view it will never answer now is not waited for. */
	conns_worker_done(m, ws);
}

/* The worker's control pipe: 'R', its ring is up and its accepts are armed; 'S', it wrote the
 * connection view asked for. Anything else, or the end of the pipe, closes it: a worker's
 * bytes are not trusted. */
static void on_worker_ctl(struct tp_mloop *l, int fd, unsigned revents, void *arg)
{
	struct gen *g = arg;
	struct master *m = g->m;
	char buf[16];

	for (unsigned s = 0; s < m->opts->concurrency; s++) {
		struct wslot *ws = &g->w[s];
		ssize_t n;

		if (ws->ctl != fd)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == 'R' && !ws->ready) {
				ws->ready = true;
				g->n_ready++;
				tp_stats_slot_set(m->stats, ws->stats_slot, ws->pid, g->epoch,
						  gen_accepts(g->state) ? TP_SLOT_LIVE
									: TP_SLOT_DRAINING);
			} else if (buf[i] == 'S' && ws->ready) {
				conns_worker_said(m, ws);
			} else {
				n = 0;
				break;
			}
		}
		if (n <= 0)
			close_ctl(m, ws);
		break;
	}
	if (g->state == GEN_STARTING && g->n_ready == m->opts->concurrency)
		gen_set_state(g, GEN_SERVING);
}

int sup_spawn(struct gen *g, unsigned slot)
{
	struct master *m = g->m;
	struct wslot *ws = &g->w[slot];
	pid_t master_pid = getpid(), pid;
	struct rlimit rl;
	int p[2], view, hs, ret;

	/* Non-blocking both ways: the master never waits on a worker, and a worker whose master
	 * does not read never stalls its loop. */
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		ret = -errno;
		tp_error("worker %u/%u: pipe: %s", g->epoch, slot, strerror(-ret));
		return ret;
	}
	/* The connection view's memfd: the worker writes it, the master reads it with pread()
	 * (never mapped, so a worker that truncates it cannot fault the master). */
	view = memfd_create("tcpproxy-connview", MFD_CLOEXEC);
	if (view < 0) {
		ret = -errno;
		tp_error("worker %u/%u: memfd: %s", g->epoch, slot, strerror(-ret));
		close(p[0]);
		close(p[1]);
		return ret;
	}
	/* What the worker can hold, the master knows: one descriptor at least per session, and
	 * no more descriptors than the hard limit it inherits (it may raise its soft limit to
	 * that, no further once it runs as --user). The connection view lists no more of it. */
	ws->view_max = TP_CONNVIEW_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
	    rl.rlim_max < TP_CONNVIEW_MAX)
		ws->view_max = (uint32_t)rl.rlim_max;
	ws->view_overclaimed = false;
	ret = hs_worker_open(g, ws, &hs);
	if (ret < 0) {
		tp_error("worker %u/%u: host-set socket: %s", g->epoch, slot, strerror(-ret));
		close(p[0]);
		close(p[1]);
		close(view);
		return ret;
	}
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		tp_error("fork worker %u/%u: %s", g->epoch, slot, strerror(-ret));
		close(p[0]);
		close(p[1]);
		close(view);
		close(hs);
		hs_worker_close(m, ws);
		return ret;
	}
	if (pid == 0) {
		close(p[0]);
		worker_main(g, slot, p[1], view, hs, master_pid);
	}
	close(p[1]);
	close(hs);
	ws->pid = pid;
	ws->ready = false;
	ws->ctl = p[0];
	ws->view = view;
	if (ws->restart_timer)
		tp_mloop_cancel(m->loop, ws->restart_timer);
	ws->restart_timer = 0;
	g->n_alive++;
	tp_mloop_add(m->loop, p[0], POLLIN, on_worker_ctl, g);
	hs_worker_started(g, ws);
	tp_stats_slot_set(m->stats, ws->stats_slot, pid, g->epoch, TP_SLOT_STARTING);
	tp_debug("worker %u/%u started, pid %d", g->epoch, slot, (int)pid);
	return 0;
}

void sup_signal(struct gen *g, int sig)
{
	for (unsigned s = 0; s < g->m->opts->concurrency; s++)
		if (g->w[s].pid)
			kill(g->w[s].pid, sig);
}

void sup_kill_deadline(struct tp_mloop *l, void *arg)
{
	struct gen *g = arg;

	g->timer = 0;
	if (!g->n_alive)
		return;
	tp_warn("generation %u: workers still running %d s after SIGTERM; killing them", g->epoch,
		KILL_GRACE_MS / 1000);
	sup_signal(g, SIGKILL);
}

void sup_release_slots(struct gen *g)
{
	struct master *m = g->m;

	for (unsigned s = 0; s < m->opts->concurrency; s++) {
		close_ctl(m, &g->w[s]);
		if (g->w[s].restart_timer)
			tp_mloop_cancel(m->loop, g->w[s].restart_timer);
		g->w[s].restart_timer = 0;
	}
}

/* ---- exits and restarts ---- */

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

/* The slot's worker is gone: its gauges are zeroed (its connections died with it), its
 * counters stay in its block for whoever takes the slot next. */
static void worker_gone(struct gen *g, unsigned slot)
{
	struct master *m = g->m;
	struct wslot *ws = &g->w[slot];

	ws->pid = 0;
	g->n_alive--;
	if (ws->ready)
		g->n_ready--;
	ws->ready = false;
	close_ctl(m, ws);
	hs_worker_close(m, ws);
	/* Its connections' counts in the CDS clusters' breakers (a static cluster's are zeroed by
	 * the worker that takes the slot next; a CDS breaker may have no cluster by then). */
	for (uint32_t i = 0; g->cds_cb && i < m->cds_cb_hwm; i++) {
		atomic_store(&g->cds_cb[i].cx[slot], 0);
		atomic_store(&g->cds_cb[i].pending[slot], 0);
	}
	tp_stats_slot_reset_gauges(m->stats, ws->stats_slot);
	tp_stats_slot_set(m->stats, ws->stats_slot, 0, g->epoch, TP_SLOT_DEAD);
}

static void on_restart_timer(struct tp_mloop *l, void *arg);

static void restart_later(struct wslot *ws)
{
	ws->restart_timer =
		tp_mloop_at(ws->gen->m->loop, tp_now_ms() + CRASH_BACKOFF_MS, on_restart_timer, ws);
}

/* Forks the slot's worker again. A fork that fails (out of processes, of memory, of
 * descriptors for the ready pipe) is tried again after the backoff: the slot must not stay
 * empty for good, its share of the listening sockets served by nobody. */
static void respawn(struct gen *g, unsigned slot)
{
	if (sup_spawn(g, slot) < 0) {
		tp_error("worker %u/%u: cannot restart it; trying again in %d ms", g->epoch, slot,
			 CRASH_BACKOFF_MS);
		restart_later(&g->w[slot]);
	}
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
	respawn(g, ws->slot);
}

/* A worker of a serving generation is restarted in its slot: same listening sockets, same stats
 * block, so its counters simply continue (its gauges died with its connections). */
static void restart_worker(struct gen *g, unsigned slot, const char *how)
{
	struct master *m = g->m;
	struct wslot *ws = &g->w[slot];
	uint64_t now = tp_now_ms();

	ws->deaths[ws->n_deaths++ % CRASH_BURST] = now;
	tp_stat_inc(m->blk, m->server_base + TP_SERVER_worker_restarts);
	if (ws->n_deaths >= CRASH_BURST &&
	    now - ws->deaths[ws->n_deaths % CRASH_BURST] < CRASH_WINDOW_MS) {
		tp_error("worker %u/%u %s; %d deaths in %d s, restarting in %d ms", g->epoch, slot,
			 how, CRASH_BURST, CRASH_WINDOW_MS / 1000, CRASH_BACKOFF_MS);
		restart_later(ws);
		return;
	}
	tp_error("worker %u/%u %s; restarting it", g->epoch, slot, how);
	respawn(g, slot);
}

static void on_worker_exit(struct master *m, pid_t pid, int status)
{
	struct gen *g;
	unsigned slot;
	char how[96];

	if (!find_worker(m, pid, &g, &slot))
		return;
	worker_gone(g, slot);
	describe_status(status, how, sizeof(how));
	switch (g->state) {
	case GEN_STARTING:
		tp_error("worker %u/%u %s while starting", g->epoch, slot, how);
		gen_abandon(g, "a new worker died while starting");
		break;
	case GEN_SERVING:
		if (!m->stopping)
			restart_worker(g, slot, how);
		break;
	case GEN_DRAINING:
	case GEN_CLOSING:
		tp_debug("worker %u/%u of a %s generation %s", g->epoch, slot,
			 gen_state_name(g->state), how);
		break;
	}
}

void sup_reap(struct master *m)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		on_worker_exit(m, pid, status);
}

static bool any_alive(const struct master *m)
{
	for (const struct gen *g = m->gens; g; g = g->next)
		if (g->n_alive)
			return true;
	return false;
}

/* Nothing is supervised any more: a worker that dies now is not restarted (a new one would
 * never be killed, and this would wait for it forever), nor does a starting generation's
 * count as a failed reload. */
void sup_kill_all(struct master *m)
{
	struct gen *g;
	unsigned slot;
	int status;
	pid_t pid;

	for (g = m->gens; g; g = g->next)
		sup_signal(g, SIGKILL);
	while (any_alive(m) && (pid = waitpid(-1, &status, 0)) > 0)
		if (find_worker(m, pid, &g, &slot))
			worker_gone(g, slot);
}

/* The live connection view, master side: asks every worker for a snapshot of its sessions
 * (SIGUSR2), waits for each one's 'S' on its control pipe or for the deadline, then reads each
 * snapshot from the worker's memfd as untrusted input (every count, size and index checked;
 * names come from the master's own configuration, never from the worker) and hands the list to
 * the clients that asked. One round at a time: clients that ask during a round get the next. */
#include "core/master/master-int.h"

#include "core/base/log.h"
#include "core/base/mloop.h"
#include "core/base/timer.h"
#include "core/conn/conn-t.h"
#include "core/worker/connview-t.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* How long a round waits for its workers: a worker writes its snapshot between two completions
 * of its loop, so only a worker that is stuck (or gone) takes longer. */
#define CONNS_TIMEOUT_MS 2000

struct waiter {
	tp_conns_fn fn;
	void *arg;
};

struct conns_round {
	struct master *m;
	uint64_t seq;
	bool active;	  /* the workers have been asked */
	unsigned waiting; /* workers asked that have not answered */
	int64_t timer;
	struct waiter *now; /* answered at the end of this round */
	size_t n_now, cap_now;
	struct waiter *next; /* asked during it: answered by the next round */
	size_t n_next, cap_next;
};

static int push(struct waiter **v, size_t *n, size_t *cap, tp_conns_fn fn, void *arg)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 8;
		struct waiter *p = realloc(*v, c * sizeof(*p));

		if (!p)
			return -ENOMEM;
		*v = p;
		*cap = c;
	}
	(*v)[(*n)++] = (struct waiter){fn, arg};
	return 0;
}

static const char *state_of(const struct gen *g)
{
	return g->state == GEN_DRAINING	 ? "draining"
	       : g->state == GEN_CLOSING ? "closing"
					 : "serving";
}

static void format_addr(char *out, size_t len, const struct tp_connview_addr *a)
{
	char host[INET6_ADDRSTRLEN];

	out[0] = '\0';
	if (a->family == AF_INET && inet_ntop(AF_INET, a->addr, host, sizeof(host)))
		snprintf(out, len, "%s:%u", host, (unsigned)a->port);
	else if (a->family == AF_INET6 && inet_ntop(AF_INET6, a->addr, host, sizeof(host)))
		snprintf(out, len, "[%s]:%u", host, (unsigned)a->port);
}

static const char *phase_name(const struct tp_connview_rec *r)
{
	if (r->flags & TP_CONNVIEW_FLUSHING)
		return "flushing";
	switch (r->phase) {
	case TP_PHASE_LISTENER_FILTERS:
		return "listener_filters";
	case TP_PHASE_FILTERS:
		return "filters";
	case TP_PHASE_CONNECTING:
		return "connecting";
	case TP_PHASE_UP_HANDSHAKE:
		return "handshake";
	case TP_PHASE_RELAY:
		return "relay";
	default:
		return "?";
	}
}

/* One record, checked against the worker's own generation's configuration. */
static void to_entry(const struct gen *g, const struct wslot *ws, const struct tp_connview_rec *r,
		     struct tp_conn_entry *e)
{
	const struct tp_config *cfg = g->cfg;

	memset(e, 0, sizeof(*e));
	e->id = r->id;
	e->age_ms = r->age_ms;
	e->idle_ms = r->idle_ms;
	e->rx_bytes = r->rx_bytes;
	e->tx_bytes = r->tx_bytes;
	e->buffered_up = r->buffered_up;
	e->buffered_down = r->buffered_down;
	e->epoch = g->epoch;
	e->slot = ws->slot;
	e->pid = (int)ws->pid;
	e->gen_state = state_of(g);
	e->phase = phase_name(r);
	e->listener = r->listener < cfg->n_listeners ? cfg->listeners[r->listener].name : "";
	if (r->listener != TP_CONNVIEW_NONE && (r->listener & TP_CONNVIEW_LDS))
		e->listener = lds_name(g->m, r->listener & ~TP_CONNVIEW_LDS);
	e->cluster = "";
	if (r->cluster < cfg->n_clusters) {
		const struct tp_cluster_cfg *cl = &cfg->clusters[r->cluster];

		e->cluster = cl->name;
		if (r->host < cl->n_endpoints)
			snprintf(e->host, sizeof(e->host), "%s", cl->endpoints[r->host].addr.text);
	}
	format_addr(e->down_remote, sizeof(e->down_remote), &r->down_remote);
	format_addr(e->down_local, sizeof(e->down_local), &r->down_local);
	format_addr(e->up_local, sizeof(e->up_local), &r->up_local);
}

static int grow_entries(struct tp_conn_list *l, size_t *cap, size_t more)
{
	struct tp_conn_entry *v;
	size_t c = *cap;

	if (l->n + more <= c)
		return 0;
	while (c < l->n + more)
		c = c ? c * 2 : 256;
	v = realloc(l->v, c * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	*cap = c;
	return 0;
}

/* Reads one worker's snapshot. Nothing in it is trusted: the header must be the one asked for,
 * its count within the limit and within what the file holds, its record size ours; the memfd
 * is read with pread(), so a worker that truncates it meanwhile gets a short read, not a fault
 * in the master. No more records are read than the worker can hold sessions (ws->view_max, its
 * descriptor limit, which the master knows): a sparse memfd costs a worker nothing, and a
 * claim of 2^18 sessions made the master build 94 MB of entries and render 70 MB for each
 * client that asked. What is left out is counted as cut, as a list the worker cut is. */
static const char *read_snapshot(struct conns_round *r, const struct gen *g, struct wslot *ws,
				 struct tp_conn_list *l, size_t *cap, struct tp_conn_worker *cw)
{
	struct tp_connview_rec batch[128];
	struct tp_connview_hdr h;
	struct stat sb;
	off_t off = sizeof(h);
	uint32_t left, over = 0;

	if (pread(ws->view, &h, sizeof(h), 0) != sizeof(h) || fstat(ws->view, &sb) < 0)
		return "no snapshot";
	if (h.magic != TP_CONNVIEW_MAGIC || h.version != TP_CONNVIEW_VERSION ||
	    h.rec_size != sizeof(struct tp_connview_rec))
		return "a snapshot of an unknown format";
	if (h.done_seq != r->seq)
		return "no answer in time";
	if (h.n > TP_CONNVIEW_MAX ||
	    (uint64_t)sb.st_size < sizeof(h) + (uint64_t)h.n * sizeof(struct tp_connview_rec))
		return "a snapshot with a bad count";
	if (h.n > ws->view_max) {
		over = h.n - ws->view_max;
		if (!ws->view_overclaimed)
			tp_warn("connection view: worker %u/%u (pid %d) lists %u sessions, more "
				"than its %u descriptors can hold; listing %u",
				g->epoch, ws->slot, (int)ws->pid, h.n, ws->view_max, ws->view_max);
		ws->view_overclaimed = true;
	}
	cw->truncated = h.truncated > UINT32_MAX - over ? UINT32_MAX : h.truncated + over;
	if (grow_entries(l, cap, h.n - over) < 0)
		return "out of memory";
	for (left = h.n - over; left;) {
		uint32_t k = left < 128 ? left : 128;
		ssize_t n = pread(ws->view, batch, k * sizeof(batch[0]), off);

		if (n != (ssize_t)(k * sizeof(batch[0])))
			return "a snapshot cut short";
		for (uint32_t i = 0; i < k; i++)
			to_entry(g, ws, &batch[i], &l->v[l->n++]);
		cw->n += k;
		left -= k;
		off += n;
	}
	return NULL;
}

static void finish(struct conns_round *r)
{
	struct master *m = r->m;
	struct tp_conn_list l = {0};
	size_t cap = 0, n_workers = 0, w = 0;
	struct waiter *now = r->now;
	size_t n_now = r->n_now;

	if (r->timer)
		tp_mloop_cancel(m->loop, r->timer);
	r->timer = 0;
	r->active = false;
	for (struct gen *g = m->gens; g; g = g->next)
		for (unsigned s = 0; s < m->opts->concurrency; s++)
			n_workers += g->w[s].pid != 0;
	l.workers = calloc(n_workers ? n_workers : 1, sizeof(*l.workers));
	for (struct gen *g = m->gens; g && l.workers; g = g->next) {
		for (unsigned s = 0; s < m->opts->concurrency && w < n_workers; s++) {
			struct wslot *ws = &g->w[s];
			struct tp_conn_worker *cw = &l.workers[w];

			if (!ws->pid)
				continue;
			w++;
			cw->epoch = g->epoch;
			cw->slot = s;
			cw->pid = (int)ws->pid;
			cw->gen_state = state_of(g);
			if (!ws->ready || ws->view < 0)
				cw->problem = "not ready";
			else
				cw->problem = read_snapshot(r, g, ws, &l, &cap, cw);
			cw->answered = !cw->problem;
			ws->view_asked = false;
			/* Its pages go back now rather than at the next request. */
			if (ws->view >= 0 && ftruncate(ws->view, 0) < 0)
				tp_debug("connection view: ftruncate: %s", strerror(errno));
		}
	}
	l.n_workers = w;
	/* The next round's clients become this one's before any callback runs: a callback may
	 * free its client, which cancels by arg. */
	r->now = r->next;
	r->n_now = r->n_next;
	r->cap_now = r->cap_next;
	r->next = NULL;
	r->n_next = r->cap_next = 0;
	for (size_t i = 0; i < n_now; i++)
		if (now[i].fn)
			now[i].fn(now[i].arg, &l);
	free(now);
	free(l.v);
	free(l.workers);
}

static void on_timeout(struct tp_mloop *loop, void *arg)
{
	struct conns_round *r = arg;

	r->timer = 0;
	tp_warn("connection view: %u worker(s) did not answer within %d ms", r->waiting,
		CONNS_TIMEOUT_MS);
	finish(r);
	if (r->n_now && !r->active)
		conns_request(r->m, NULL, NULL);
}

/* Starts a round for the clients in r->now. */
static void start(struct conns_round *r)
{
	struct master *m = r->m;

	r->seq++;
	r->waiting = 0;
	r->active = true;
	for (struct gen *g = m->gens; g; g = g->next) {
		for (unsigned s = 0; s < m->opts->concurrency; s++) {
			struct wslot *ws = &g->w[s];

			/* Only a ready worker has its signals on its ring; SIGUSR2 is blocked in it
			 * from fork to then, so an early one would only wait. */
			if (!ws->pid || !ws->ready || ws->view < 0 || ws->ctl < 0)
				continue;
			if (pwrite(ws->view, &r->seq, sizeof(r->seq),
				   offsetof(struct tp_connview_hdr, req_seq)) != sizeof(r->seq) ||
			    kill(ws->pid, SIGUSR2) < 0)
				continue;
			ws->view_asked = true;
			r->waiting++;
		}
	}
	if (!r->waiting) {
		finish(r);
		return;
	}
	r->timer = tp_mloop_at(m->loop, tp_now_ms() + CONNS_TIMEOUT_MS, on_timeout, r);
	if (r->timer < 0) {
		r->timer = 0;
		finish(r);
	}
}

int conns_request(void *ctx, tp_conns_fn fn, void *arg)
{
	struct master *m = ctx;
	struct conns_round *r = m->conns;

	if (!r) {
		r = m->conns = calloc(1, sizeof(*r));
		if (!r)
			return -ENOMEM;
		r->m = m;
	}
	if (fn && push(r->active ? &r->next : &r->now, r->active ? &r->n_next : &r->n_now,
		       r->active ? &r->cap_next : &r->cap_now, fn, arg) < 0)
		return -ENOMEM;
	/* A round ends before its callbacks run; one asked for meanwhile starts right after. */
	while (!r->active && r->n_now)
		start(r);
	return 0;
}

void conns_cancel(void *ctx, void *arg)
{
	struct master *m = ctx;
	struct conns_round *r = m->conns;

	for (size_t i = 0; r && i < r->n_now; i++)
		if (r->now[i].arg == arg)
			r->now[i].fn = NULL;
	for (size_t i = 0; r && i < r->n_next; i++)
		if (r->next[i].arg == arg)
			r->next[i].fn = NULL;
}

void conns_worker_said(struct master *m, struct wslot *ws)
{
	struct conns_round *r = m->conns;
	uint64_t done;

	/* Its 'S' for a round that timed out can arrive once the next round has asked it: that
	 * is not this round's answer, which is still to come. */
	if (!r || !ws->view_asked ||
	    pread(ws->view, &done, sizeof(done), offsetof(struct tp_connview_hdr, done_seq)) !=
		    sizeof(done) ||
	    done != r->seq)
		return;
	conns_worker_done(m, ws);
}

void conns_worker_done(struct master *m, struct wslot *ws)
{
	struct conns_round *r = m->conns;

	if (!ws->view_asked)
		return;
	ws->view_asked = false;
	if (!r || !r->active || !r->waiting)
		return;
	if (--r->waiting)
		return;
	finish(r);
	if (r->n_now && !r->active)
		conns_request(m, NULL, NULL);
}

void conns_free(struct master *m)
{
	struct conns_round *r = m->conns;

	if (!r)
		return;
	if (r->timer)
		tp_mloop_cancel(m->loop, r->timer);
	free(r->now);
	free(r->next);
	free(r);
	m->conns = NULL;
}

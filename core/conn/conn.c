/* Connection slots of a worker, the filter chain runtime, and deferred teardown.
 *
 * Teardown is counted: every SQE that names a connection adds to its inflight count and its last
 * completion takes it away. Closing cancels what is armed and closes the sockets at once, but
 * the slot is freed (and its generation bumped) only when inflight reaches zero, never inside
 * the handler of an operation that still references it. */
#include "core/conn/conn.h"

#include "core/accesslog/access_log.h"
#include "core/config/config-t.h"
#include "core/conn/early_data.h"
#include "core/filter-t.h"
#include "core/conn/filter_state.h"
#include "core/worker/lb-t.h"
#include "core/base/log.h"
#include "core/conn/relay.h"
#include "core/base/timer.h"
#include "shm/stats.h"
#include "uring/ring.h"
#include "uring/udata.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct tp_worker *tp_self;

static int grow(struct tp_worker *w)
{
	struct tp_conn **chunks, *chunk;
	uint32_t base = w->n_chunks * TP_CONN_CHUNK;

	if ((uint64_t)base + TP_CONN_CHUNK > 0x7ffffff)
		return -ENOSPC;
	chunks = realloc(w->chunks, (w->n_chunks + 1) * sizeof(*chunks));
	if (!chunks)
		return -ENOMEM;
	w->chunks = chunks;
	chunk = calloc(TP_CONN_CHUNK, sizeof(*chunk));
	if (!chunk)
		return -ENOMEM;
	w->chunks[w->n_chunks++] = chunk;
	for (uint32_t i = TP_CONN_CHUNK; i-- > 0;) {
		chunk[i].idx = base + i;
		chunk[i].next = w->free_conns;
		w->free_conns = &chunk[i];
	}
	return 0;
}

struct tp_conn *tp_conn_alloc(struct tp_worker *w)
{
	struct tp_conn *c;
	uint32_t idx, gen;

	if (!w->free_conns && grow(w) < 0)
		return NULL;
	c = w->free_conns;
	w->free_conns = c->next;
	idx = c->idx;
	gen = c->gen;
	memset(c, 0, sizeof(*c));
	c->idx = idx;
	c->gen = gen;
	c->fd[0] = c->fd[1] = -1;
	tp_timer_init(&c->timer);
	c->start_ms = c->active_ms = w->now_ms;
	w->n_conns++;
	return c;
}

struct tp_conn *tp_conn_lookup(struct tp_worker *w, uint32_t idx, uint32_t gen)
{
	struct tp_conn *c;

	if (idx / TP_CONN_CHUNK >= w->n_chunks)
		return NULL;
	c = &w->chunks[idx / TP_CONN_CHUNK][idx % TP_CONN_CHUNK];
	return c->gen == gen ? c : NULL;
}

/* Envoy's FilterManagerImpl::onContinueReading, from filter `from` on: a filter not started yet
 * gets on_new_connection, then each filter gets on_data while bytes read before the upstream
 * connected (core/early_data.c) have not reached tcp_proxy. STOP from on_new_connection holds
 * the chain: nothing after the filter starts and no byte passes it until it calls
 * tp_conn_continue(). STOP from on_data keeps those bytes from the filters after it; the next
 * read offers them again, with the new ones, from the first filter. Once the relay runs, bytes
 * move by splice and no filter sees them. */
static void run_chain(struct tp_worker *w, struct tp_conn *c, unsigned from)
{
	const struct tp_filter_chain_cfg *fc = c->chain;

	for (unsigned i = from; i < fc->n_filters && c->state < TP_CONN_RELAY; i++) {
		const struct tp_filter_cfg *f = &fc->filters[i];
		const uint8_t *data;
		size_t len;
		bool eos;

		c->filter_pos = (uint8_t)(i + 1);
		if (i >= c->filters_started) {
			c->filters_started = (uint8_t)(i + 1);
			if (f->ops->on_new_connection &&
			    f->ops->on_new_connection(c, f->conf) == TP_FILTER_STOP) {
				if (i + 1 < fc->n_filters)
					c->flags |= TP_CF_CHAIN_HELD;
				return;
			}
			if (c->state == TP_CONN_CLOSING)
				return;
		}
		if (f->ops->on_data && tp_early_pending(c, &data, &len, &eos) &&
		    (f->ops->on_data(c, f->conf, data, len, eos) == TP_FILTER_STOP ||
		     c->state == TP_CONN_CLOSING))
			return;
		if ((c->flags & TP_CF_CHAIN_HELD) && i + 1 == c->filters_started)
			return;
	}
}

void tp_conn_continue(struct tp_worker *w, struct tp_conn *c)
{
	c->flags &= ~TP_CF_CHAIN_HELD;
	run_chain(w, c, c->filter_pos);
}

void tp_conn_deliver(struct tp_worker *w, struct tp_conn *c)
{
	run_chain(w, c, 0);
}

void tp_conn_arm_poll_in(struct tp_worker *w, struct tp_conn *c, enum tp_side s)
{
	struct io_uring_sqe *sqe;

	if (c->poll_in & (1u << s))
		return;
	sqe = tp_ring_get_sqe(&w->ring);
	/* Multishot: one SQE keeps reporting readiness for the life of the socket, so a quiet
	 * connection costs no submissions. POLLRDHUP reports a FIN without waiting for data. */
	io_uring_prep_poll_multishot(sqe, c->fd[s], POLLIN | POLLRDHUP);
	io_uring_sqe_set_data64(sqe, tp_udata(TP_OP_POLL_IN, s, c->idx, c->gen));
	c->poll_in |= 1u << s;
	c->inflight++;
}

void tp_conn_arm_poll_out(struct tp_worker *w, struct tp_conn *c, enum tp_side s)
{
	struct io_uring_sqe *sqe;

	if (c->poll_out & (1u << s))
		return;
	sqe = tp_ring_get_sqe(&w->ring);
	io_uring_prep_poll_add(sqe, c->fd[s], POLLOUT);
	io_uring_sqe_set_data64(sqe, tp_udata(TP_OP_POLL_OUT, s, c->idx, c->gen));
	c->poll_out |= 1u << s;
	c->inflight++;
}

static void cancel_op(struct tp_worker *w, uint64_t target)
{
	struct io_uring_sqe *sqe = tp_ring_get_sqe(&w->ring);

	/* By user_data, not by fd: the fd number is closed right after and may be reused by the
	 * next accept before the cancel runs. */
	io_uring_prep_cancel64(sqe, target, 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data64(sqe, tp_udata(TP_OP_IGNORE, 0, 0, 0));
}

void tp_conn_close_side(struct tp_worker *w, struct tp_conn *c, enum tp_side s, bool abort)
{
	if (c->fd[s] < 0)
		return;
	if (c->poll_in & (1u << s))
		cancel_op(w, tp_udata(TP_OP_POLL_IN, s, c->idx, c->gen));
	if (c->poll_out & (1u << s))
		cancel_op(w, tp_udata(TP_OP_POLL_OUT, s, c->idx, c->gen));
	if (s == TP_UP && c->state == TP_CONN_CONNECTING)
		cancel_op(w, tp_udata(TP_OP_CONNECT, 0, c->idx, c->gen));
	if (abort) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};

		setsockopt(c->fd[s], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	tp_ring_close(&w->ring, c->fd[s]);
	c->fd[s] = -1;
}

static void settle_upstream(struct tp_worker *w, struct tp_conn *c)
{
	uint32_t cl;

	if (!(c->flags & TP_CF_UP_ACTIVE))
		return;
	cl = c->cluster->cfg->stats_base;
	c->flags &= ~TP_CF_UP_ACTIVE;
	c->host->active--;
	tp_stat_sub(w->stats, cl + TP_CLUSTER_upstream_cx_active, 1);
	tp_stat_sub(w->stats, c->host->cfg->stats_base + TP_HOST_cx_active, 1);
	if (c->state == TP_CONN_RELAY)
		tp_stat_inc(w->stats, cl + ((c->flags & TP_CF_CLOSED_BY_UPSTREAM)
						    ? TP_CLUSTER_upstream_cx_destroy_remote
						    : TP_CLUSTER_upstream_cx_destroy_local));
	/* From the start of the connect that succeeded, as Envoy's pool measures it. */
	if (c->state == TP_CONN_RELAY)
		tp_stat_record(w->stats, cl + TP_CLUSTER_upstream_cx_length_ms,
			       w->now_ms - c->connect_start_ms);
}

void tp_conn_close(struct tp_worker *w, struct tp_conn *c)
{
	if (c->state == TP_CONN_CLOSING)
		return;
	tp_access_log_write(w, c, TP_ALOG_TCP_END);
	for (uint8_t i = 0; i < c->filters_started; i++) {
		const struct tp_filter_cfg *f = &c->chain->filters[i];

		if (f->ops->on_close)
			f->ops->on_close(c, f->conf);
	}
	tp_conn_close_side(w, c, TP_DOWN, false);
	tp_conn_close_side(w, c, TP_UP, false);
	settle_upstream(w, c);
	if (c->flags & TP_CF_FLUSHING)
		tp_stat_sub(w->stats, c->proxy->stats_base + TP_TCP_upstream_flush_active, 1);
	if (c->proxy)
		tp_stat_record(w->stats, c->proxy->stats_base + TP_TCP_downstream_cx_length_ms,
			       w->now_ms - c->start_ms);
	tp_relay_release(w, c);
	tp_early_release(w, c);
	tp_timer_cancel(&w->timers, &c->timer);
	tp_state_map_free(c->filter_state);
	tp_state_map_free(c->metadata);
	c->filter_state = c->metadata = NULL;
	tp_stat_sub(w->stats, c->listener->cfg->stats_base + TP_LISTENER_downstream_cx_active, 1);
	c->state = TP_CONN_CLOSING;
	tp_conn_maybe_free(w, c);
}

void tp_conn_maybe_free(struct tp_worker *w, struct tp_conn *c)
{
	if (c->state != TP_CONN_CLOSING || c->inflight || (c->flags & TP_CF_QUEUED))
		return;
	c->gen++;
	c->state = TP_CONN_FREE;
	c->next = w->free_conns;
	w->free_conns = c;
	w->n_conns--;
}

void tp_conn_queue(struct tp_worker *w, struct tp_conn *c)
{
	if (c->flags & TP_CF_QUEUED)
		return;
	c->flags |= TP_CF_QUEUED;
	c->next = NULL;
	if (w->runq_tail)
		w->runq_tail->next = c;
	else
		w->runq_head = c;
	w->runq_tail = c;
}

/* Connection slots of a worker, the dispatch of completions to a connection's phase, and
 * deferred teardown.
 *
 * Each phase (conn-t.h) handles readiness and its timer in its own module; this file only routes
 * an event to the phase the connection is in, after letting a side that is still handshaking
 * take it first.
 *
 * Teardown is counted: every SQE that names a connection adds to its inflight count and its last
 * completion takes it away. Closing cancels what is armed and closes the sockets at once, but
 * the slot is freed (and its generation bumped) only when inflight reaches zero, never inside
 * the handler of an operation that still references it. */
#include "core/conn/conn.h"
#include "core/worker/cds.h"

#include "core/accesslog/access_log.h"
#include "core/base/log.h"
#include "core/base/timer.h"
#include "core/config/config-t.h"
#include "core/conn/chain.h"
#include "core/conn/filter_state.h"
#include "core/conn/listener_filters.h"
#include "core/worker/listener_dyn.h"
#include "core/conn/relay.h"
#include "core/conn/session.h"
#include "core/worker/lb.h"
#include "core/conn/transport.h"
#include "core/filter.h"
#include "core/worker/lb-t.h"
#include "shm/stats.h"
#include "uring/ring.h"
#include "uring/udata.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static uint32_t head_size(void)
{
	return tp_slot_round(sizeof(struct tp_conn));
}

static uint32_t slot_size(const struct tp_worker *w)
{
	return w->conn_size ? w->conn_size : head_size();
}

static int grow(struct tp_worker *w)
{
	struct tp_conn **chunks;
	uint8_t *chunk;
	uint32_t base = w->n_chunks * TP_CONN_CHUNK, size = slot_size(w);

	/* The slot index must fit the 27 bits user_data gives it. */
	if ((uint64_t)base + TP_CONN_CHUNK > 0x7ffffff)
		return -ENOSPC;
	chunks = realloc(w->chunks, (w->n_chunks + 1) * sizeof(*chunks));
	if (!chunks)
		return -ENOMEM;
	w->chunks = chunks;
	chunk = calloc(TP_CONN_CHUNK, size);
	if (!chunk)
		return -ENOMEM;
	w->chunks[w->n_chunks++] = (struct tp_conn *)chunk;
	for (uint32_t i = TP_CONN_CHUNK; i-- > 0;) {
		struct tp_conn *c = (struct tp_conn *)(chunk + (size_t)i * size);

		c->idx = base + i;
		c->phase = TP_PHASE_FREE;
		c->next = w->free_conns;
		w->free_conns = c;
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
	/* The whole slot: transports and filters find their state zeroed. */
	memset(c, 0, slot_size(w));
	c->idx = idx;
	c->gen = gen;
	c->side[TP_DOWN].fd = c->side[TP_UP].fd = -1;
	if (w->info_off)
		c->info = (struct tp_conn_info *)((uint8_t *)c + w->info_off);
	tp_timer_init(&c->timer);
	c->timer.kind = TP_TIMER_CONN;
	c->start_ms = c->active_ms = w->now_ms;
	w->n_conns++;
	return c;
}

struct tp_conn *tp_conn_lookup(struct tp_worker *w, uint32_t idx, uint32_t gen)
{
	struct tp_conn *c;

	if (idx / TP_CONN_CHUNK >= w->n_chunks)
		return NULL;
	c = (struct tp_conn *)((uint8_t *)w->chunks[idx / TP_CONN_CHUNK] +
			       (size_t)(idx % TP_CONN_CHUNK) * slot_size(w));
	return c->gen == gen ? c : NULL;
}

void *tp_conn_tstate(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s)
{
	uint32_t off = head_size() + (s == TP_UP ? w->tstate_bytes[TP_DOWN] : 0);

	return w->tstate_bytes[s] ? (uint8_t *)c + off : NULL;
}

void *tp_conn_filter_area(struct tp_worker *w, struct tp_conn *c)
{
	return (uint8_t *)c + head_size() + w->tstate_bytes[TP_DOWN] + w->tstate_bytes[TP_UP];
}

int tp_conn_side_init(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s, int fd,
		      const struct tp_transport_cfg *tc)
{
	return tp_conn_side_init_layered(w, c, s, fd, tc, NULL, NULL);
}

int tp_conn_side_init_layered(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s, int fd,
			      const struct tp_transport_cfg *tc,
			      const struct tp_transport_cfg *lower, void *arg)
{
	struct tp_side *sd = &c->side[s];
	const struct tp_transport_ops *t = tc && tc->ops ? tc->ops : &tp_transport_raw;
	const struct tp_transport_ops *lt = lower && lower->ops ? lower->ops : &tp_transport_raw;
	struct tp_transport_env env = {0};

	TP_BUG_ON(t->state_size > w->tstate_bytes[s]);
	TP_BUG_ON(lower && tp_slot_round(t->state_size) + lt->state_size > w->tstate_bytes[s]);
	/* A new socket starts quiet; the downstream's own socket keeps what its poll reported
	 * while the listener filters peeked. */
	if (sd->fd != fd)
		sd->readable = sd->hup_seen = sd->fin_seen = sd->eof_next = 0;
	sd->fd = fd;
	sd->transport = t;
	sd->tstate = t->state_size ? tp_conn_tstate(w, c, s) : NULL;
	if (sd->tstate)
		memset(sd->tstate, 0, t->state_size);
	sd->handshaking = t->handshake != NULL;
	sd->write_blocked = sd->write_wants_read = sd->read_blocked = 0;
	sd->shut_pending = sd->unsent = 0;
	sd->nofd = 0;
	sd->want = 0;
	sd->fail_reason = NULL;
	if (!t->open)
		return 0;
	env.conf = tc->conf;
	env.ctx = tc->own_ctx ? tc->own_ctx : t->ctx_new ? w->tctx[tc->idx] : NULL;
	env.stats = w->stats;
	env.info = c->info;
	if (lower) {
		env.lower = lt;
		env.lower_conf = lower->conf;
		env.lower_ctx = lower->own_ctx ? lower->own_ctx
				: lt->ctx_new  ? w->tctx[lower->idx]
					       : NULL;
		env.lower_state = (uint8_t *)sd->tstate + tp_slot_round(t->state_size);
		memset(env.lower_state, 0, lt->state_size);
	}
	env.arg = arg;
	return t->open(sd, &env);
}

void tp_conn_arm_poll_in(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s)
{
	struct tp_side *sd = &c->side[s];
	struct io_uring_sqe *sqe;

	if (sd->poll_in || sd->fd < 0)
		return;
	sqe = tp_ring_get_sqe(&w->ring);
	/* Multishot: one SQE keeps reporting readiness for the life of the socket, so a quiet
	 * connection costs no submissions. POLLRDHUP reports a FIN without waiting for data. */
	io_uring_prep_poll_multishot(sqe, sd->fd, POLLIN | POLLRDHUP);
	io_uring_sqe_set_data64(sqe, tp_udata(TP_OP_POLL_IN, s, c->idx, c->gen));
	sd->poll_in = 1;
	c->inflight++;
}

void tp_conn_arm_poll_out(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s)
{
	struct tp_side *sd = &c->side[s];
	struct io_uring_sqe *sqe;

	if (sd->poll_out || sd->fd < 0)
		return;
	sqe = tp_ring_get_sqe(&w->ring);
	io_uring_prep_poll_add(sqe, sd->fd, POLLOUT);
	io_uring_sqe_set_data64(sqe, tp_udata(TP_OP_POLL_OUT, s, c->idx, c->gen));
	sd->poll_out = 1;
	c->inflight++;
}

void tp_conn_arm_want(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s)
{
	if (c->side[s].want & TP_WANT_WRITE)
		tp_conn_arm_poll_out(w, c, s);
	else
		tp_conn_arm_poll_in(w, c, s);
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

/* connecting: the upstream's CONNECT may be in flight (the phase was CONNECTING). */
static void close_side(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s, bool connecting)
{
	struct tp_side *sd = &c->side[s];

	if (!tp_side_open(sd))
		return;
	if (sd->nofd) {
		/* Nothing armed, no socket: the transport lets its owner go (an HTTP/2 stream is
		 * reset on its shared connection if it has not ended). */
		if (sd->transport && sd->transport->close)
			sd->transport->close(sd);
		sd->nofd = 0;
		sd->readable = sd->write_blocked = sd->read_blocked = sd->handshaking = 0;
		return;
	}
	if (sd->poll_in)
		cancel_op(w, tp_udata(TP_OP_POLL_IN, s, c->idx, c->gen));
	if (sd->poll_out)
		cancel_op(w, tp_udata(TP_OP_POLL_OUT, s, c->idx, c->gen));
	if (s == TP_UP && connecting)
		cancel_op(w, tp_udata(TP_OP_CONNECT, 0, c->idx, c->gen));
	if (sd->transport && sd->transport->close)
		sd->transport->close(sd);
	tp_ring_close(&w->ring, sd->fd);
	sd->fd = -1;
	sd->readable = sd->write_blocked = sd->read_blocked = sd->handshaking = 0;
}

void tp_conn_close_side(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s)
{
	close_side(w, c, s, c->phase == TP_PHASE_CONNECTING);
}

void tp_conn_handshake(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s)
{
	struct tp_side *sd = &c->side[s];
	int ret = sd->transport->handshake(sd);

	if (ret == -EAGAIN) {
		tp_conn_arm_want(w, c, s);
		return;
	}
	sd->handshaking = 0;
	c->active_ms = w->now_ms;
	tp_session_on_handshake(w, c, s, ret);
}

void tp_conn_capture_ip(int fd, int (*get)(int, struct sockaddr *, socklen_t *), struct tp_ip *ip)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(ip, 0, sizeof(*ip));
	if (fd < 0 || get(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

		ip->family = AF_INET;
		ip->port = ntohs(in->sin_port);
		memcpy(ip->addr, &in->sin_addr, 4);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

		ip->family = AF_INET6;
		ip->port = ntohs(in6->sin6_port);
		memcpy(ip->addr, &in6->sin6_addr, 16);
	}
}

void tp_conn_upstream_active(struct tp_worker *w, struct tp_conn *c, bool on)
{
	uint32_t cl = c->cluster->cfg->stats_base, host = c->host->cfg->stats_base;

	if (c->up_active == on)
		return;
	c->up_active = on;
	/* An HTTP tunnel is a request too (Envoy's pools count CONNECT streams). */
	if (c->tunneling) {
		if (on)
			tp_stat_add(w->stats, cl + TP_CLUSTER_upstream_rq_active, 1);
		else
			tp_stat_sub(w->stats, cl + TP_CLUSTER_upstream_rq_active, 1);
	}
	/* An HTTP/2 stream is not a connection: its shared connection counts in
	 * upstream_cx_active and the host's cx_active (core/tunnel/h2.c); the balancer still
	 * counts the stream. */
	if (c->tunnel_h2) {
		c->host->active += on ? 1 : -1;
		return;
	}
	if (on) {
		c->host->active++;
		tp_stat_add(w->stats, cl + TP_CLUSTER_upstream_cx_active, 1);
		tp_stat_add(w->stats, host + TP_HOST_cx_active, 1);
	} else {
		c->host->active--;
		tp_stat_sub(w->stats, cl + TP_CLUSTER_upstream_cx_active, 1);
		tp_stat_sub(w->stats, host + TP_HOST_cx_active, 1);
	}
}

/* ---- dispatch to the phase ---- */

struct phase_ops {
	const char *name;
	void (*on_readable)(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s,
			    unsigned mask);
	void (*on_writable)(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s);
	void (*on_timer)(struct tp_worker *w, struct tp_conn *c);
	void (*on_run)(struct tp_worker *w, struct tp_conn *c);
};

/* Before the relay only the downstream is read, and only to read early (core/conn/relay.c);
 * the upstream is watched during its handshake, which the sides drive themselves. */
static const struct phase_ops phases[] = {
	[TP_PHASE_LISTENER_FILTERS] = {.name = "listener_filters",
				       .on_readable = tp_lfilters_on_readable,
				       .on_timer = tp_lfilters_on_timer},
	[TP_PHASE_FILTERS] = {.name = "filters",
			      .on_readable = tp_relay_early_on_readable,
			      .on_writable = tp_relay_early_on_writable,
			      .on_timer = tp_session_on_timer},
	[TP_PHASE_CONNECTING] = {.name = "connecting",
				 .on_readable = tp_relay_early_on_readable,
				 .on_writable = tp_relay_early_on_writable,
				 .on_timer = tp_session_on_timer},
	[TP_PHASE_UP_HANDSHAKE] = {.name = "upstream_handshake",
				   .on_readable = tp_relay_early_on_readable,
				   .on_writable = tp_relay_early_on_writable,
				   .on_timer = tp_session_on_timer},
	[TP_PHASE_RELAY] = {.name = "relay",
			    .on_readable = tp_relay_on_readable,
			    .on_writable = tp_relay_on_writable,
			    .on_timer = tp_session_on_timer,
			    .on_run = tp_relay_resume},
	[TP_PHASE_CLOSING] = {.name = "closing"},
	[TP_PHASE_FREE] = {.name = "free"},
};

void tp_conn_on_poll_in(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s, int res,
			bool final)
{
	struct tp_side *sd = &c->side[s];
	const struct phase_ops *ph = &phases[c->phase];
	int fd = sd->fd;

	if (final)
		sd->poll_in = 0;
	/* A side closed already (its cancel is on the way), or a connection that is closing. */
	if (sd->fd < 0 || tp_conn_closing(c)) {
		tp_session_poll_settled(w, c);
		return;
	}
	if (res < 0) {
		if (res != -ECANCELED) {
			tp_warn("connection %u: poll: %s; closing it", c->idx, strerror(-res));
			tp_conn_close(w, c);
		}
		tp_session_poll_settled(w, c);
		return;
	}
	if (res & (POLLRDHUP | POLLHUP | POLLERR))
		sd->hup_seen = 1;
	if ((res & POLLRDHUP) && !(res & POLLERR))
		sd->fin_seen = 1;
	/* Remembered whatever the phase: the multishot poll reports these bytes once, and the
	 * phase that reads them may come later (the relay, after the listener filters peeked). */
	if (!c->dir[s].src_eof)
		sd->readable = 1;
	/* A write that waited for the peer to speak first (a transport that must read to write)
	 * may go on now. */
	if (sd->write_blocked && sd->write_wants_read)
		sd->write_blocked = sd->write_wants_read = 0;
	/* The upstream's handshake is stepped in its own phase only (its socket may still be
	 * connecting otherwise); the downstream's from the filters on. */
	if (sd->handshaking && (s == TP_DOWN || c->phase == TP_PHASE_UP_HANDSHAKE)) {
		tp_conn_handshake(w, c, s);
		/* A failed upstream handshake may have started a retry on a new socket: this poll
		 * watched the old one, and the new one has its own. */
		if (c->side[s].fd != fd)
			return;
		/* The handshake's last step may have read stream bytes with it. */
		if (sd->handshaking || tp_conn_closing(c))
			goto out_rearm;
		ph = &phases[c->phase];
	}
	if (ph->on_readable)
		ph->on_readable(w, c, s, (unsigned)res);
out_rearm:
	/* A multishot poll can end on its own (e.g. CQ overflow): re-arm it while the socket
	 * still matters. */
	if (final && !tp_conn_closing(c) && c->side[s].fd >= 0)
		tp_conn_arm_poll_in(w, c, s);
}

void tp_conn_on_poll_out(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s, int res)
{
	struct tp_side *sd = &c->side[s];
	const struct phase_ops *ph;

	sd->poll_out = 0;
	if (sd->fd < 0 || tp_conn_closing(c) || res == -ECANCELED) {
		tp_session_poll_settled(w, c);
		return;
	}
	if (sd->handshaking && (s == TP_DOWN || c->phase == TP_PHASE_UP_HANDSHAKE)) {
		tp_conn_handshake(w, c, s);
		return;
	}
	/* A read that had to write first can be tried again. */
	if (sd->read_blocked) {
		sd->read_blocked = 0;
		sd->readable = 1;
	}
	sd->write_blocked = sd->write_wants_read = 0;
	ph = &phases[c->phase];
	if (ph->on_writable)
		ph->on_writable(w, c, s);
}

void tp_conn_on_timer(struct tp_worker *w, struct tp_conn *c)
{
	const struct phase_ops *ph = &phases[c->phase];

	if (ph->on_timer)
		ph->on_timer(w, c);
}

void tp_conn_side_wake(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s, unsigned what)
{
	struct tp_side *sd = &c->side[s];

	if (tp_conn_closing(c) || !sd->nofd)
		return;
	if (what & TP_WANT_READ) {
		if (!c->dir[s].src_eof)
			sd->readable = 1;
		if (sd->write_blocked && sd->write_wants_read)
			sd->write_blocked = sd->write_wants_read = 0;
	}
	if (what & TP_WANT_WRITE) {
		if (sd->read_blocked) {
			sd->read_blocked = 0;
			sd->readable = 1;
		}
		sd->write_blocked = sd->write_wants_read = 0;
	}
	tp_conn_queue(w, c);
}

void tp_conn_on_run(struct tp_worker *w, struct tp_conn *c)
{
	const struct phase_ops *ph;
	struct tp_side *up = &c->side[TP_UP];

	/* A side without a socket that was woken while handshaking: its next step. */
	if (up->nofd && up->handshaking && c->phase == TP_PHASE_UP_HANDSHAKE) {
		tp_conn_handshake(w, c, TP_UP);
		if (up->handshaking || tp_conn_closing(c))
			return;
	}
	ph = &phases[c->phase];
	if (ph->on_run)
		ph->on_run(w, c);
}

/* ---- teardown ---- */

/* was: the phase the connection was in when it began to close. */
static void settle_upstream(struct tp_worker *w, struct tp_conn *c, enum tp_phase was)
{
	uint32_t cl;

	/* Counted from before the upstream was active (an attempt that got no socket). */
	tp_session_cb_release(w, c);
	if (!c->up_active)
		return;
	cl = c->cluster->cfg->stats_base;
	tp_conn_upstream_active(w, c, false);
	/* An HTTP/2 stream's connection outlives it and counts its own destroy and length. */
	if (was != TP_PHASE_RELAY || c->tunnel_h2)
		return;
	tp_stat_inc(w->stats, cl + (c->closed_by_upstream ? TP_CLUSTER_upstream_cx_destroy_remote
							  : TP_CLUSTER_upstream_cx_destroy_local));
	/* From the start of the connect that succeeded, as Envoy's pool measures it. */
	tp_stat_record(w->stats, cl + TP_CLUSTER_upstream_cx_length_ms,
		       w->now_ms - c->connect_start_ms);
}

void tp_conn_close(struct tp_worker *w, struct tp_conn *c)
{
	enum tp_phase was = (enum tp_phase)c->phase;

	if (tp_conn_closing(c))
		return;
	/* Closing from here on: a filter's on_close that closes again (or asks) sees it. */
	c->phase = TP_PHASE_CLOSING;
	tp_access_log_write(w, c, TP_ALOG_TCP_END);
	tp_access_log_write_listener(w, c);
	tp_chain_close(w, c);
	close_side(w, c, TP_DOWN, false);
	close_side(w, c, TP_UP, was == TP_PHASE_CONNECTING);
	settle_upstream(w, c, was);
	if (c->flushing)
		tp_stat_sub(w->stats, c->proxy->stats_base + TP_TCP_upstream_flush_active, 1);
	if (c->proxy)
		tp_stat_record(w->stats, c->proxy->stats_base + TP_TCP_downstream_cx_length_ms,
			       w->now_ms - c->start_ms);
	tp_relay_release(w, c);
	tp_timer_cancel(&w->timers, &c->timer);
	tp_state_map_free(c->filter_state);
	tp_state_map_free(c->metadata);
	c->filter_state = c->metadata = NULL;
	/* What a TLS handshake kept for the formats: the entry is written. */
	if (c->info) {
		free(c->info->tls_peer);
		c->info->tls_peer = NULL;
	}
	if (c->pre_cx)
		tp_stat_sub(w->stats,
			    c->listener->cfg->stats_base + TP_LISTENER_downstream_pre_cx_active, 1);
	tp_stat_sub(w->stats, c->listener->cfg->stats_base + TP_LISTENER_downstream_cx_active, 1);
	tp_conn_maybe_free(w, c);
}

void tp_conn_close_all(struct tp_worker *w)
{
	for (uint32_t i = 0; i < w->n_chunks * TP_CONN_CHUNK; i++) {
		struct tp_conn *c = (struct tp_conn *)((uint8_t *)w->chunks[i / TP_CONN_CHUNK] +
						       (size_t)(i % TP_CONN_CHUNK) * slot_size(w));

		if (c->phase < TP_PHASE_CLOSING)
			tp_conn_close(w, c);
	}
}

void tp_conn_for_each(struct tp_worker *w, void (*fn)(struct tp_worker *w, struct tp_conn *c))
{
	for (uint32_t i = 0; i < w->n_chunks * TP_CONN_CHUNK; i++)
		fn(w, (struct tp_conn *)((uint8_t *)w->chunks[i / TP_CONN_CHUNK] +
					 (size_t)(i % TP_CONN_CHUNK) * slot_size(w)));
}

void tp_conn_close_failed_hosts(struct tp_worker *w, const struct tp_cluster_rt *cl)
{
	for (uint32_t i = 0; i < w->n_chunks * TP_CONN_CHUNK; i++) {
		struct tp_conn *c = (struct tp_conn *)((uint8_t *)w->chunks[i / TP_CONN_CHUNK] +
						       (size_t)(i % TP_CONN_CHUNK) * slot_size(w));

		if (c->phase < TP_PHASE_CLOSING && c->host && c->host_cluster == cl &&
		    c->host->hc_failed_now)
			tp_conn_close(w, c);
	}
}

void tp_conn_maybe_free(struct tp_worker *w, struct tp_conn *c)
{
	if (c->phase != TP_PHASE_CLOSING || c->inflight || c->queued)
		return;
	/* A retired host goes with its last connection. */
	if (c->host)
		tp_host_release(c->host_cluster, c->host);
	c->host = NULL;
	/* No timer may stay in the heap for a free slot: the next connection zeroes it there. */
	tp_timer_cancel(&w->timers, &c->timer);
	tp_session_od_forget(w, c);
	/* A cluster from CDS that an update replaced or removed goes with its last connection. */
	tp_cluster_release(w, c->host_cluster);
	tp_cluster_release(w, c->cluster);
	c->host_cluster = NULL;
	c->cluster = NULL;
	c->gen++;
	c->phase = TP_PHASE_FREE;
	c->next = w->free_conns;
	w->free_conns = c;
	w->n_conns--;
	/* A removed LDS listener's configuration goes with its last connection. */
	if (c->listener && c->listener->dyn_id) {
		struct tp_listener_rt *l = &w->listeners[c->listener->idx];

		if (!--l->n_conns && l->removed)
			tp_lds_listener_check(w, l);
	}
}

void tp_conn_close_listener(struct tp_worker *w, const struct tp_listener_rt *l)
{
	for (uint32_t i = 0; i < w->n_chunks * TP_CONN_CHUNK; i++) {
		struct tp_conn *c = (struct tp_conn *)((uint8_t *)w->chunks[i / TP_CONN_CHUNK] +
						       (size_t)(i % TP_CONN_CHUNK) * slot_size(w));

		if (c->phase < TP_PHASE_CLOSING && c->listener == l)
			tp_conn_close(w, c);
	}
}

void tp_conn_queue(struct tp_worker *w, struct tp_conn *c)
{
	if (c->queued)
		return;
	c->queued = 1;
	c->next = NULL;
	if (w->runq_tail)
		w->runq_tail->next = c;
	else
		w->runq_head = c;
	w->runq_tail = c;
}

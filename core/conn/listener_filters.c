/* The listener filters phase. Each filter sees the stream's first bytes, peeked (MSG_PEEK) from
 * the socket on each readiness, always from the start: nothing is consumed, so the chain's
 * transport later reads the very same bytes, and a connection waiting here holds no buffer (the
 * peek lands in one buffer of the worker's). The filters run in order; when the last one is
 * done, the filter chain is chosen with what they found.
 *
 * Counted as Envoy's ActiveTcpSocket counts: downstream_pre_cx_active while here,
 * downstream_pre_cx_timeout, downstream_listener_filter_remote_close (the peer closed before the
 * filters decided) and downstream_listener_filter_error (the peek failed). */
#include "core/conn/listener_filters.h"

#include "core/accesslog/format-t.h"
#include "core/base/log.h"
#include "core/base/timer.h"
#include "core/config/config-t.h"
#include "core/conn/chain.h"
#include "core/conn/conn.h"
#include "core/filter-t.h"
#include "shm/stats.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define L_STAT(c, name) ((c)->listener->cfg->stats_base + TP_LISTENER_##name)

/* The listener filters are done (or given up on, by continue_on_listener_filters_timeout). */
static void leave(struct tp_worker *w, struct tp_conn *c)
{
	c->pre_cx = 0;
	tp_stat_sub(w->stats, L_STAT(c, downstream_pre_cx_active), 1);
	tp_chain_select(w, c);
}

/* Runs the listener filters from lfilter_pos on against what the socket holds now. */
static void run(struct tp_worker *w, struct tp_conn *c)
{
	const struct tp_listener_cfg *l = c->listener->cfg;
	struct tp_side *down = &c->side[TP_DOWN];
	bool eos = down->hup_seen;
	size_t len = 0;
	ssize_t n;

	while (c->lfilter_pos < l->n_listener_filters) {
		const struct tp_listener_filter_cfg *lf = &l->listener_filters[c->lfilter_pos];
		size_t want = lf->max_read_bytes ? lf->max_read_bytes : lf->ops->max_read_bytes;
		struct tp_filter_call fc = {
			.w = w, .c = c, .conf = lf->conf, .idx = c->lfilter_pos};

		if (lf->ops->state_size)
			fc.state = (uint8_t *)tp_conn_filter_area(w, c) + lf->state_off;
		if (want > w->peek_cap)
			want = w->peek_cap;
		if (want > len) {
			n = recv(down->fd, w->peek_buf, want, MSG_PEEK | MSG_DONTWAIT);
			if (n < 0 && errno != EAGAIN) {
				tp_debug("connection %u: peek: %s", c->idx, strerror(errno));
				tp_stat_inc(w->stats, L_STAT(c, downstream_listener_filter_error));
				tp_conn_close(w, c);
				return;
			}
			len = n > 0 ? (size_t)n : len;
			if (!n)
				eos = true;
		}
		switch (lf->ops->on_data(&fc, w->peek_buf, len < want ? len : want, eos)) {
		case TP_LFILTER_CONTINUE:
			c->lfilter_pos++;
			break;
		case TP_LFILTER_NEED_MORE:
			/* All it may see is there, or all there will ever be: it cannot decide. */
			if (len >= want || eos) {
				tp_debug("connection %u: listener filter %s: no decision in %zu "
					 "bytes%s",
					 c->idx, lf->ops->name, len,
					 eos ? " before the peer's FIN" : "");
				if (eos)
					tp_stat_inc(
						w->stats,
						L_STAT(c, downstream_listener_filter_remote_close));
				tp_conn_close(w, c);
			}
			return;
		case TP_LFILTER_CLOSE:
			tp_conn_close(w, c);
			return;
		}
	}
	leave(w, c);
}

/* What configured formats read of the accept, taken now: a connection that no filter chain
 * takes is logged too (the listener's access logs). */
static void capture_accept(struct tp_worker *w, struct tp_conn *c)
{
	if (tp_worker_format_needs(w) & TP_FMT_NEED_START_TIME) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		c->start_wall_us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	}
	if (tp_worker_format_needs(w) & TP_FMT_NEED_DOWN_ADDRS) {
		tp_conn_capture_ip(c->side[TP_DOWN].fd, getpeername, &c->down_remote);
		tp_conn_capture_ip(c->side[TP_DOWN].fd, getsockname, &c->down_local);
	}
}

void tp_lfilters_start(struct tp_worker *w, struct tp_conn *c)
{
	const struct tp_listener_cfg *l = c->listener->cfg;

	capture_accept(w, c);

	if (!l->n_listener_filters) {
		tp_chain_select(w, c);
		return;
	}
	c->phase = TP_PHASE_LISTENER_FILTERS;
	c->pre_cx = 1;
	tp_stat_add(w->stats, L_STAT(c, downstream_pre_cx_active), 1);
	if (l->listener_filters_timeout_ms > 0 &&
	    tp_timer_arm(&w->timers, &c->timer,
			 w->now_ms + (uint64_t)l->listener_filters_timeout_ms) < 0) {
		tp_error("out of memory arming a timer; closing connection");
		tp_conn_close(w, c);
		return;
	}
	tp_conn_arm_poll_in(w, c, TP_DOWN);
	/* Bytes may have come with the connection: look before waiting for a wakeup. */
	run(w, c);
}

void tp_lfilters_on_readable(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s,
			     unsigned mask)
{
	if (s != TP_DOWN)
		return;
	run(w, c);
}

void tp_lfilters_on_timer(struct tp_worker *w, struct tp_conn *c)
{
	const struct tp_listener_cfg *l = c->listener->cfg;

	tp_debug("connection %u: listener filters timed out", c->idx);
	tp_stat_inc(w->stats, L_STAT(c, downstream_pre_cx_timeout));
	/* As Envoy: the chain is chosen with what the filters found so far (a transport protocol
	 * nobody detected is "raw_buffer"). */
	if (l->continue_on_listener_filters_timeout)
		leave(w, c);
	else
		tp_conn_close(w, c);
}

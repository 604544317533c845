/* Receive before connect: the downstream bytes read while there is no upstream yet.
 *
 * Envoy's tcp_proxy moves them into its early_data_buffer_ and read-disables the downstream once
 * the buffer reaches max_early_data_bytes (0 for the legacy filter-state key), checking after the
 * read so that one read may overshoot. Here one buffer holds both what the chain still holds
 * (Envoy's connection read buffer: [delivered, len)) and what tcp_proxy has taken ([0,
 * delivered)), so nothing is copied between them. It is allocated at the first early read,
 * grows by doubling up to the limit plus one read, and is freed as soon as it is flushed: an
 * idle connection holds none. After the flush the relay reads the socket itself, by splice. */
#include "core/conn/early_data.h"

#include "core/config/config-t.h"
#include "core/conn/conn.h"
#include "core/worker/lb-t.h"
#include "core/base/log.h"
#include "shm/stats.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define FIRST_CAP (16u * 1024u)

static uint32_t limit_of(const struct tp_conn *c)
{
	/* Unset (-1) only when the legacy key turned this on: Envoy's limit of 0. */
	return c->proxy->max_early_data_bytes > 0 ? (uint32_t)c->proxy->max_early_data_bytes : 0;
}

void tp_early_enable(struct tp_worker *w, struct tp_conn *c)
{
	c->flags |= TP_CF_EARLY;
	tp_conn_arm_poll_in(w, c, TP_DOWN);
}

/* Room for one more read. Capacity doubles and stops at the limit plus one read, which is
 * the most the buffer can hold: reading stops once len reaches the limit. */
static int make_room(struct tp_conn *c)
{
	struct tp_early *e = c->early, *n;
	uint32_t len = e ? e->len : 0, cap = e ? e->cap : 0, want = len + TP_EARLY_READ_BYTES;
	uint32_t most = limit_of(c) + TP_EARLY_READ_BYTES;

	if (cap >= want)
		return 0;
	cap = cap ? cap * 2 : FIRST_CAP;
	if (cap < want)
		cap = want;
	if (cap > most)
		cap = most > want ? most : want;
	n = realloc(e, sizeof(*n) + cap);
	if (!n)
		return -ENOMEM;
	if (!e)
		memset(n, 0, sizeof(*n));
	n->cap = cap;
	c->early = n;
	return 0;
}

static void pause_reading(struct tp_worker *w, struct tp_conn *c)
{
	c->early->paused = 1;
	tp_stat_inc(w->stats,
		    c->proxy->stats_base + TP_TCP_downstream_flow_control_paused_reading_total);
}

void tp_early_on_readable(struct tp_worker *w, struct tp_conn *c, unsigned mask)
{
	int fd = c->fd[TP_DOWN], err = 0;
	socklen_t elen = sizeof(err);
	ssize_t n;

	if (fd < 0)
		return;
	/* The relay reads on after the flush and trusts a short read to mean "empty" unless the
	 * FIN was announced: remember an announcement seen while reading early. */
	if (mask & (POLLRDHUP | POLLHUP | POLLERR))
		c->dir[TP_DOWN].hup_seen = 1;
	/* A reset before there is anyone to tell: the session is over (Envoy: RemoteClose before
	 * the pool answered cancels the upstream connect). */
	if ((mask & POLLERR) && !getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) && err) {
		tp_debug("connection %u: downstream reset before the upstream connected", c->idx);
		tp_conn_close(w, c);
		return;
	}
	for (;;) {
		if (c->early && (c->early->eof || c->early->paused))
			return;
		if (make_room(c) < 0) {
			tp_warn("connection %u: no memory for early data; closing it", c->idx);
			tp_conn_close(w, c);
			return;
		}
		n = recv(fd, c->early->data + c->early->len, TP_EARLY_READ_BYTES, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			tp_debug("connection %u: downstream read: %s", c->idx, strerror(errno));
			tp_conn_close(w, c);
			return;
		}
		if (n == 0) {
			c->early->eof = 1;
		} else {
			c->early->len += (uint32_t)n;
			c->rx_bytes += (uint64_t)n;
			tp_stat_add(w->stats,
				    c->proxy->stats_base + TP_TCP_downstream_cx_rx_bytes_total,
				    (uint64_t)n);
			tp_stat_add(w->stats,
				    c->proxy->stats_base + TP_TCP_downstream_cx_rx_bytes_buffered,
				    (uint64_t)n);
		}
		c->active_ms = w->now_ms;
		tp_conn_deliver(w, c);
		/* The chain may have closed the session, or started the relay (which now owns
		 * the buffer's flush). */
		if (!tp_early_reading(c) || !c->early)
			return;
		/* Checked after the read, as Envoy does: one read may overshoot the limit. */
		if (!c->early->eof && c->early->len >= limit_of(c))
			pause_reading(w, c);
	}
}

bool tp_early_pending(const struct tp_conn *c, const uint8_t **data, size_t *len, bool *eos)
{
	const struct tp_early *e = c->early;

	if (!e || (e->delivered == e->len && (!e->eof || e->eof_delivered)))
		return false;
	*data = e->data + e->delivered;
	*len = e->len - e->delivered;
	*eos = e->eof;
	return true;
}

void tp_early_take(struct tp_worker *w, struct tp_conn *c)
{
	struct tp_early *e = c->early;

	if (!e)
		return;
	e->delivered = e->len;
	if (e->eof)
		e->eof_delivered = 1;
	/* Envoy counts every onData that reaches tcp_proxy before the upstream is connected. */
	tp_stat_inc(w->stats, c->proxy->stats_base + TP_TCP_early_data_received_count_total);
}

bool tp_early_delivered(const struct tp_conn *c)
{
	const struct tp_early *e = c->early;

	return !e || (e->delivered == e->len && (!e->eof || e->eof_delivered));
}

uint32_t tp_early_taken(const struct tp_conn *c)
{
	return c->early ? c->early->delivered : 0;
}

static void drop(struct tp_worker *w, struct tp_conn *c)
{
	struct tp_early *e = c->early;

	if (e->len > e->sent)
		tp_stat_sub(w->stats, c->proxy->stats_base + TP_TCP_downstream_cx_rx_bytes_buffered,
			    e->len - e->sent);
	free(e);
	c->early = NULL;
}

int tp_early_flush(struct tp_worker *w, struct tp_conn *c)
{
	struct tp_early *e = c->early;
	struct tp_dir *d = &c->dir[TP_DOWN];
	ssize_t n;

	if (!e)
		return 0;
	/* The upstream is gone: what was meant for it is dropped, as the relay drops its stage. */
	if (d->fin_sent) {
		drop(w, c);
		return 0;
	}
	/* A POLLOUT is armed: the upstream is not retried until it completes. */
	if (d->dst_wait)
		return -EAGAIN;
	while (e->sent < e->len) {
		n = send(c->fd[TP_UP], e->data + e->sent, e->len - e->sent,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			d->dst_wait = 1;
			tp_conn_arm_poll_out(w, c, TP_UP);
			return -EAGAIN;
		}
		if (n < 0)
			return -errno;
		e->sent += (uint32_t)n;
		c->active_ms = w->now_ms;
		tp_stat_add(w->stats,
			    c->cluster->cfg->stats_base + TP_CLUSTER_upstream_cx_tx_bytes_total,
			    (uint64_t)n);
		tp_stat_sub(w->stats, c->proxy->stats_base + TP_TCP_downstream_cx_rx_bytes_buffered,
			    (uint64_t)n);
	}
	/* In order: the bytes, then the FIN read with them (the relay forwards it now that
	 * nothing is pending); otherwise the relay reads on from the socket itself. */
	if (e->eof) {
		d->src_eof = 1;
		d->readable = 0;
	} else if (!d->src_eof) {
		d->readable = 1;
	}
	if (e->paused)
		tp_stat_inc(w->stats, c->proxy->stats_base +
					      TP_TCP_downstream_flow_control_resumed_reading_total);
	free(e);
	c->early = NULL;
	return 0;
}

void tp_early_release(struct tp_worker *w, struct tp_conn *c)
{
	if (c->early)
		drop(w, c);
}

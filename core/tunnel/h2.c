/* HTTP/2 tunnels (Envoy's tunneling_config over a cluster with http2_protocol_options).
 *
 * A shared connection (struct h2c) is owned by the worker: its own socket, its own polls and
 * connect on the ring (TP_OP_H2), its own transport (the cluster's: raw, or TLS, which should
 * offer ALPN h2), and an nghttp2 client session fed by memory (mem_recv / mem_send). One exists
 * per cluster host with room for another stream; when every one is full (max_concurrent_streams,
 * the smaller of the cluster's and the peer's), the next stream opens a new one.
 *
 * A tunnel is a stream (struct h2s) kept in its connection's slot, in the upstream side's
 * transport state: the side has no socket (nofd). Its handshake ends when the answer's headers
 * come: only 200 accepts. What the stream receives waits in a buffer as large as its window,
 * which is the smaller of initial_stream_window_size and the cluster's
 * per_connection_buffer_limit_bytes, and is handed back to the peer (nghttp2_session_consume,
 * automatic window updates off) only as the relay reads it: a slow client stalls its stream and
 * nothing else. What the relay writes waits in a small buffer that a deferred data provider
 * drains; shutdown_write is END_STREAM and answers -EAGAIN until it has gone out. Every event of
 * the shared connection that concerns a stream wakes the tunnel's connection
 * (tp_conn_side_wake): the connection runs from the run queue, never inside nghttp2's callbacks.
 *
 * A GOAWAY lets the streams it covers finish and fails the others (nghttp2 closes them with
 * REFUSED_STREAM); the connection takes no new stream and closes when its last one has. Losing
 * the connection fails every stream: a stream still waiting for its answer fails its attempt,
 * which the session retries; an open one fails as a reset upstream side. */
#include "core/tunnel/h2.h"

#include "core/accesslog/format-t.h"
#include "core/base/log.h"
#include "core/config/config-t.h"
#include "core/conn/conn.h"
#include "core/conn/filter_state.h"
#include "core/conn/transport.h"
#include "core/filter.h"
#include "core/tunnel/tunnel.h"
#include "core/worker/cds.h"
#include "core/worker/lb-t.h"
#include "core/worker/lb.h"
#include "shm/stats.h"
#include "uring/pool.h"
#include "uring/ring.h"
#include "uring/udata.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK (16u * 1024u)
/* Idle receive buffers (each as large as the stream window) a connection keeps for its streams,
 * so that a busy stream, which drains its buffer at every read, does not allocate at every
 * read. */
#define RX_KEPT 4

enum { K_POLL_IN, K_POLL_OUT, K_CONNECT, K_CONNECT_TIMEOUT };

enum h2c_state { C_CONNECTING, C_HANDSHAKE, C_READY, C_CLOSED };

struct h2s;

/* A shared HTTP/2 connection. */
struct h2c {
	struct tp_worker *w;
	uint32_t slot, gen;
	uint16_t inflight; /* its SQEs on the ring */
	uint8_t state;	   /* enum h2c_state */
	uint8_t poll_in : 1, poll_out : 1, goaway : 1, in_io : 1, want_send : 1, counted : 1;
	struct tp_cluster_rt *cluster;
	struct tp_host_rt *host;
	struct tp_side side; /* its socket and the cluster's transport */
	void *tstate;
	nghttp2_session *ng;
	uint8_t *wbuf; /* what nghttp2 framed and the socket did not take */
	uint32_t wlen, woff;
	uint32_t n_streams; /* attached or not yet closed by nghttp2 */
	uint32_t window;    /* each stream's receive window */
	uint64_t start_ms;
	struct h2s *streams; /* attached streams */
	struct tp_ip local;  /* its local address, when a format needs it (%UPSTREAM_LOCAL_*%) */
	uint8_t *rx_kept[RX_KEPT];
	uint32_t n_rx_kept;
};

enum h2s_state { S_QUEUED, S_WAITING, S_OPEN, S_FAILED };

/* A tunnel's stream: the upstream side's transport state, in the connection's slot. */
struct h2s {
	struct h2c *hc; /* NULL once detached (the shared connection failed) */
	struct tp_worker *w;
	struct tp_conn *c;
	struct tp_side *side;
	struct h2s *next, *prev;
	struct tp_tunnel_request *req; /* until submitted */
	int32_t id;
	uint8_t state;	    /* enum h2s_state */
	uint8_t rx_eof : 1; /* END_STREAM received */
	uint8_t reset : 1;  /* closed before both ends: a read or write fails */
	uint8_t tx_eof : 1; /* shutdown_write asked for END_STREAM */
	uint8_t end_sent : 1;
	uint8_t deferred : 1; /* the data provider waits for bytes */
	uint8_t *rx;	      /* received, not yet read; cap: the window */
	uint32_t rx_len, rx_off;
	uint8_t *tx; /* written by the relay, not yet framed: a buffer of the worker's pool */
	uint32_t tx_len, tx_off;
	char *props; /* propagated headers being collected (JSON), or NULL */
	size_t props_len, props_cap;
	char *trailers;
	size_t trailers_len, trailers_cap;
};

struct tp_h2_pool {
	struct h2c **v;
	uint32_t n, cap;
};

#define CL_STAT(hc, name)   ((hc)->cluster->cfg->stats_base + TP_CLUSTER_##name)
#define HOST_STAT(hc, name) ((hc)->host->cfg->stats_base + TP_HOST_##name)

static void h2c_fail(struct h2c *hc, const char *why);
static void h2c_send(struct h2c *hc);
static void h2c_maybe_free(struct h2c *hc);

static void wake(struct h2s *st, unsigned what)
{
	if (st->c)
		tp_conn_side_wake(st->hc ? st->hc->w : NULL, st->c, TP_UP, what);
}

/* ---- the stream transport ---- */

static struct h2s *st_of(const struct tp_side *s)
{
	return s->tstate;
}

/* A receive buffer of the connection's window size: a kept one, or a new one. */
static uint8_t *rx_get(struct h2c *hc)
{
	return hc->n_rx_kept ? hc->rx_kept[--hc->n_rx_kept] : malloc(hc->window);
}

/* Gives a stream's drained receive buffer back (hc: NULL when it has no connection left). */
static void rx_put(struct h2c *hc, uint8_t *buf)
{
	if (buf && hc && hc->state != C_CLOSED && hc->n_rx_kept < RX_KEPT)
		hc->rx_kept[hc->n_rx_kept++] = buf;
	else
		free(buf);
}

/* What a stream takes from the relay before nghttp2 has framed it: a buffer of the worker's
 * copy pool (64 KiB). */
static uint32_t tx_cap(const struct h2s *st)
{
	return (uint32_t)st->w->bufs.size;
}

static void tx_put(struct h2s *st)
{
	if (st->tx)
		tp_buf_put(&st->w->bufs, st->tx);
	st->tx = NULL;
	st->tx_len = st->tx_off = 0;
}

static void detach(struct h2s *st)
{
	struct h2c *hc = st->hc;

	if (!hc)
		return;
	if (st->prev)
		st->prev->next = st->next;
	else
		hc->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	st->next = st->prev = NULL;
	if (hc->ng && st->id > 0)
		nghttp2_session_set_stream_user_data(hc->ng, st->id, NULL);
	st->hc = NULL;
}

static int h2s_handshake(struct tp_side *s)
{
	struct h2s *st = st_of(s);

	s->want = 0;
	switch (st->state) {
	case S_OPEN:
		if (st->rx_len > st->rx_off || st->rx_eof)
			s->readable = 1;
		return 0;
	case S_FAILED:
		return -ECONNREFUSED;
	default:
		return -EAGAIN;
	}
}

static ssize_t h2s_read(struct tp_side *s, uint8_t *buf, size_t len)
{
	struct h2s *st = st_of(s);
	size_t n = st->rx_len - st->rx_off;

	if (!n) {
		if (st->rx_eof)
			return 0;
		if (st->reset || !st->hc)
			return -ECONNRESET;
		s->readable = 0;
		s->want = TP_WANT_READ;
		return -EAGAIN;
	}
	if (n > len)
		n = len;
	memcpy(buf, st->rx + st->rx_off, n);
	st->rx_off += (uint32_t)n;
	if (st->rx_off == st->rx_len) {
		/* Drained: an idle stream holds no buffer. */
		rx_put(st->hc, st->rx);
		st->rx = NULL;
		st->rx_len = st->rx_off = 0;
		if (!st->rx_eof && !st->reset)
			s->readable = 0;
	}
	/* Only now may the peer send that much more on this stream (and the connection). */
	if (st->hc && st->hc->ng && st->id > 0) {
		nghttp2_session_consume(st->hc->ng, st->id, n);
		h2c_send(st->hc);
	}
	return (ssize_t)n;
}

static ssize_t h2s_write(struct tp_side *s, const uint8_t *buf, size_t len)
{
	struct h2s *st = st_of(s);
	size_t room;

	if (st->reset || !st->hc)
		return -EPIPE;
	if (!st->tx) {
		st->tx = tp_buf_get(&st->w->bufs);
		if (!st->tx)
			return -ENOMEM;
		st->tx_len = st->tx_off = 0;
	}
	if (st->tx_off && st->tx_off == st->tx_len)
		st->tx_len = st->tx_off = 0;
	room = tx_cap(st) - st->tx_len;
	if (!room && st->tx_off) {
		memmove(st->tx, st->tx + st->tx_off, st->tx_len - st->tx_off);
		st->tx_len -= st->tx_off;
		st->tx_off = 0;
		room = tx_cap(st) - st->tx_len;
	}
	if (!room) {
		s->want = TP_WANT_WRITE;
		return -EAGAIN;
	}
	if (len > room)
		len = room;
	memcpy(st->tx + st->tx_len, buf, len);
	st->tx_len += (uint32_t)len;
	if (st->deferred && st->hc->ng) {
		st->deferred = 0;
		nghttp2_session_resume_data(st->hc->ng, st->id);
	}
	h2c_send(st->hc);
	return (ssize_t)len;
}

static int h2s_shutdown_write(struct tp_side *s)
{
	struct h2s *st = st_of(s);

	if (st->end_sent)
		return 0;
	if (st->reset || !st->hc)
		return -EPIPE;
	if (!st->tx_eof) {
		st->tx_eof = 1;
		if (st->deferred && st->hc->ng) {
			st->deferred = 0;
			nghttp2_session_resume_data(st->hc->ng, st->id);
		}
		h2c_send(st->hc);
		if (st->end_sent)
			return 0;
	}
	/* Woken (writable) once END_STREAM has gone out. */
	s->want = TP_WANT_WRITE;
	return -EAGAIN;
}

static bool h2s_pending(const struct tp_side *s)
{
	const struct h2s *st = st_of(s);

	return st->rx_len > st->rx_off || st->rx_eof || st->reset;
}

static void h2s_free_bufs(struct h2c *hc, struct h2s *st)
{
	rx_put(hc, st->rx);
	tx_put(st);
	free(st->req);
	free(st->props);
	free(st->trailers);
	st->rx = NULL;
	st->req = NULL;
	st->props = st->trailers = NULL;
}

static void h2s_close(struct tp_side *s)
{
	struct h2s *st = st_of(s);
	struct h2c *hc = st->hc;

	if (hc) {
		/* Not ended both ways: the peer is told we are gone. */
		if (hc->ng && st->id > 0 && !(st->rx_eof && st->end_sent) && !st->reset)
			nghttp2_submit_rst_stream(hc->ng, NGHTTP2_FLAG_NONE, st->id,
						  NGHTTP2_CANCEL);
		if (st->id <= 0 && hc->n_streams)
			hc->n_streams--; /* never submitted */
		detach(st);
		h2s_free_bufs(hc, st);
		h2c_send(hc);
		h2c_maybe_free(hc);
	} else {
		h2s_free_bufs(NULL, st);
	}
	st->c = NULL;
}

const struct tp_transport_ops tp_transport_tunnel_h2 = {
	.name = "http2_tunnel",
	.raw = false,
	.state_size = sizeof(struct h2s),
	.handshake = h2s_handshake,
	.read = h2s_read,
	.write = h2s_write,
	.shutdown_write = h2s_shutdown_write,
	.pending = h2s_pending,
	.close = h2s_close,
};

/* ---- nghttp2 callbacks ---- */

static struct h2s *stream_of(nghttp2_session *ng, int32_t id)
{
	return nghttp2_session_get_stream_user_data(ng, id);
}

static bool append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 2 > *cap) {
		size_t ncap = (*cap ? *cap * 2 : 256) + n;
		char *nb = realloc(*buf, ncap);

		if (!nb)
			return false;
		*buf = nb;
		*cap = ncap;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
	return true;
}

/* "name":"value" into a JSON object being built (the value escaped). */
static void json_pair(char **buf, size_t *len, size_t *cap, const uint8_t *name, size_t nl,
		      const uint8_t *value, size_t vl)
{
	static const char hex[] = "0123456789abcdef";

	append(buf, len, cap, *len > 1 ? ",\"" : "\"", *len > 1 ? 2 : 1);
	append(buf, len, cap, (const char *)name, nl);
	append(buf, len, cap, "\":\"", 3);
	for (size_t i = 0; i < vl; i++) {
		char e[6];
		uint8_t ch = value[i];

		if (ch == '"' || ch == '\\') {
			e[0] = '\\';
			e[1] = (char)ch;
			append(buf, len, cap, e, 2);
		} else if (ch < 0x20 || ch >= 0x7f) {
			memcpy(e, "\\u00", 4);
			e[4] = hex[ch >> 4];
			e[5] = hex[ch & 15];
			append(buf, len, cap, e, 6);
		} else {
			append(buf, len, cap, (const char *)&ch, 1);
		}
	}
	append(buf, len, cap, "\"", 1);
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
		     size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *user)
{
	struct h2s *st = stream_of(ng, frame->hd.stream_id);
	const struct tp_tunnel_cfg *t;

	if (!st || frame->hd.type != NGHTTP2_HEADERS || !st->c)
		return 0;
	t = st->c->proxy->tunnel;
	if (frame->headers.cat == NGHTTP2_HCAT_RESPONSE) {
		if (nl == 7 && !memcmp(name, ":status", 7)) {
			unsigned code = 0;

			for (size_t i = 0; i < vl && i < 3; i++)
				code = code * 10 + (unsigned)(value[i] - '0');
			st->c->response_code = (uint16_t)code;
		} else if (t->propagate_response_headers) {
			if (!st->props)
				append(&st->props, &st->props_len, &st->props_cap, "{", 1);
			json_pair(&st->props, &st->props_len, &st->props_cap, name, nl, value, vl);
		}
	} else if (frame->headers.cat == NGHTTP2_HCAT_HEADERS && t->propagate_response_trailers) {
		if (!st->trailers)
			append(&st->trailers, &st->trailers_len, &st->trailers_cap, "{", 1);
		json_pair(&st->trailers, &st->trailers_len, &st->trailers_cap, name, nl, value, vl);
	}
	return 0;
}

static void put_json(struct h2s *st, const char *key, char **buf, size_t *len, size_t *cap)
{
	struct tp_value v;

	if (!*buf || !append(buf, len, cap, "}", 1))
		return;
	v = tp_value_string(*buf);
	tp_filter_state_set(&st->c->filter_state, key, &v, false, false);
	free(*buf);
	*buf = NULL;
	*len = *cap = 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *user)
{
	struct h2c *hc = user;
	struct h2s *st;

	if (frame->hd.type == NGHTTP2_GOAWAY) {
		/* No new stream here; those it covers finish, nghttp2 refuses the rest. */
		hc->goaway = 1;
		return 0;
	}
	if (!frame->hd.stream_id)
		return 0;
	st = stream_of(ng, frame->hd.stream_id);
	if (!st || !st->c)
		return 0;
	if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_RESPONSE) {
		/* Only 200 accepts; a 200 ending the stream is no tunnel either. */
		if (st->c->response_code == 200 && !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
			st->state = S_OPEN;
			/* The stream's upstream local address is its connection's. */
			st->c->up_local = hc->local;
			put_json(st, TP_KEY_TUNNEL_HEADERS, &st->props, &st->props_len,
				 &st->props_cap);
		} else {
			st->state = S_FAILED;
			nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
						  NGHTTP2_CANCEL);
		}
		wake(st, TP_WANT_READ | TP_WANT_WRITE);
		return 0;
	}
	if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_HEADERS)
		put_json(st, TP_KEY_TUNNEL_TRAILERS, &st->trailers, &st->trailers_len,
			 &st->trailers_cap);
	if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) &&
	    (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && st->state == S_OPEN) {
		st->rx_eof = 1;
		wake(st, TP_WANT_READ);
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *user)
{
	struct h2c *hc = user;
	struct h2s *st = stream_of(ng, id);

	if (!st || !st->c || st->state != S_OPEN) {
		/* Nobody reads it: give the window back at once. */
		nghttp2_session_consume(ng, id, len);
		return 0;
	}
	if (!st->rx) {
		st->rx = rx_get(hc);
		if (!st->rx)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		st->rx_len = st->rx_off = 0;
	}
	if (st->rx_len + len > hc->window) {
		memmove(st->rx, st->rx + st->rx_off, st->rx_len - st->rx_off);
		st->rx_len -= st->rx_off;
		st->rx_off = 0;
	}
	/* nghttp2 holds the peer to the window, which is the buffer's size. */
	if (st->rx_len + len > hc->window)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	memcpy(st->rx + st->rx_len, data, len);
	st->rx_len += (uint32_t)len;
	wake(st, TP_WANT_READ);
	return 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *user)
{
	struct h2s *st;

	if (!frame->hd.stream_id || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	st = stream_of(ng, frame->hd.stream_id);
	if (st && (frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS)) {
		st->end_sent = 1;
		wake(st, TP_WANT_WRITE);
	}
	return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error_code, void *user)
{
	struct h2c *hc = user;
	struct h2s *st = stream_of(ng, id);

	if (hc->n_streams)
		hc->n_streams--;
	if (st) {
		if (st->state != S_OPEN)
			st->state = S_FAILED;
		else if (!(st->rx_eof && st->end_sent))
			st->reset = 1;
		nghttp2_session_set_stream_user_data(ng, id, NULL);
		st->id = -1;
		detach(st);
		/* Detached: it keeps what it received, reads it, then fails or ends. */
		st->hc = NULL;
		if (st->c)
			tp_conn_side_wake(hc->w, st->c, TP_UP, TP_WANT_READ | TP_WANT_WRITE);
	}
	return 0;
}

static ssize_t data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
			 uint32_t *flags, nghttp2_data_source *src, void *user)
{
	struct h2s *st = stream_of(ng, id);
	size_t n;

	if (!st) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		return 0;
	}
	n = st->tx ? st->tx_len - st->tx_off : 0;
	if (!n) {
		if (st->tx_eof) {
			*flags |= NGHTTP2_DATA_FLAG_EOF;
			return 0;
		}
		st->deferred = 1;
		return NGHTTP2_ERR_DEFERRED;
	}
	if (n > length)
		n = length;
	memcpy(buf, st->tx + st->tx_off, n);
	st->tx_off += (uint32_t)n;
	if (st->tx_off == st->tx_len) {
		/* Drained: the buffer goes, the relay may write again. */
		tx_put(st);
		if (st->tx_eof)
			*flags |= NGHTTP2_DATA_FLAG_EOF;
	}
	wake(st, TP_WANT_WRITE);
	return (ssize_t)n;
}

/* ---- the shared connection ---- */

static struct tp_h2_pool *pool(struct tp_worker *w)
{
	if (!w->h2)
		w->h2 = calloc(1, sizeof(*w->h2));
	return w->h2;
}

unsigned tp_h2_connections(const struct tp_worker *w)
{
	unsigned n = 0;

	for (uint32_t i = 0; w->h2 && i < w->h2->n; i++)
		n += w->h2->v[i] != NULL;
	return n;
}

static uint64_t udata(const struct h2c *hc, unsigned kind)
{
	return tp_udata(TP_OP_H2, 0, hc->slot << 2 | kind, hc->gen);
}

static void arm(struct h2c *hc, unsigned kind)
{
	struct io_uring_sqe *sqe;

	if (hc->side.fd < 0 || (kind == K_POLL_IN && hc->poll_in) ||
	    (kind == K_POLL_OUT && hc->poll_out))
		return;
	sqe = tp_ring_get_sqe(&hc->w->ring);
	if (kind == K_POLL_IN) {
		io_uring_prep_poll_multishot(sqe, hc->side.fd, POLLIN | POLLRDHUP);
		hc->poll_in = 1;
	} else {
		io_uring_prep_poll_add(sqe, hc->side.fd, POLLOUT);
		hc->poll_out = 1;
	}
	io_uring_sqe_set_data64(sqe, udata(hc, kind));
	hc->inflight++;
}

static void arm_want(struct h2c *hc)
{
	arm(hc, hc->side.want & TP_WANT_WRITE ? K_POLL_OUT : K_POLL_IN);
}

static void cancel(struct h2c *hc, unsigned kind)
{
	struct io_uring_sqe *sqe = tp_ring_get_sqe(&hc->w->ring);

	io_uring_prep_cancel64(sqe, udata(hc, kind), 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data64(sqe, tp_udata(TP_OP_IGNORE, 0, 0, 0));
}

/* The connection's hold on its host and cluster (a host of a DNS cluster leaves with its set,
 * a cluster from CDS with its update): they go with the connection's end. */
static void h2c_unref(struct h2c *hc)
{
	tp_host_release(hc->cluster, hc->host);
	tp_cluster_release(hc->w, hc->cluster);
}

static void h2c_maybe_free(struct h2c *hc)
{
	struct tp_h2_pool *p = hc->w->h2;

	/* Idle after a GOAWAY, or closed and released by the ring: gone. */
	if (hc->state != C_CLOSED && hc->goaway && !hc->streams && !hc->n_streams)
		h2c_fail(hc, NULL);
	if (hc->state != C_CLOSED || hc->inflight || hc->in_io)
		return;
	p->v[hc->slot] = NULL;
	h2c_unref(hc);
	free(hc);
}

/* The connection is gone (why: NULL for an orderly close): every stream on it fails. */
static void h2c_fail(struct h2c *hc, const char *why)
{
	struct h2s *st;

	if (hc->state == C_CLOSED)
		return;
	if (why)
		tp_debug("http2 connection to %s: %s", hc->host->cfg->addr.text, why);
	if (hc->state == C_CONNECTING || (hc->state == C_HANDSHAKE && !hc->counted)) {
		tp_stat_inc(hc->w->stats, CL_STAT(hc, upstream_cx_connect_fail));
		tp_stat_inc(hc->w->stats, HOST_STAT(hc, cx_connect_fail));
	}
	while ((st = hc->streams)) {
		if (st->state != S_OPEN)
			st->state = S_FAILED;
		else
			st->reset = 1;
		detach(st);
		if (st->c)
			tp_conn_side_wake(hc->w, st->c, TP_UP, TP_WANT_READ | TP_WANT_WRITE);
	}
	if (hc->poll_in)
		cancel(hc, K_POLL_IN);
	if (hc->poll_out)
		cancel(hc, K_POLL_OUT);
	if (hc->state == C_CONNECTING)
		cancel(hc, K_CONNECT);
	if (hc->side.transport && hc->side.transport->close)
		hc->side.transport->close(&hc->side);
	if (hc->side.fd >= 0)
		tp_ring_close(&hc->w->ring, hc->side.fd);
	hc->side.fd = -1;
	nghttp2_session_del(hc->ng);
	hc->ng = NULL;
	free(hc->wbuf);
	hc->wbuf = NULL;
	free(hc->tstate);
	hc->tstate = NULL;
	while (hc->n_rx_kept)
		free(hc->rx_kept[--hc->n_rx_kept]);
	if (hc->counted) {
		uint64_t now = hc->w->now_ms;

		tp_stat_sub(hc->w->stats, CL_STAT(hc, upstream_cx_active), 1);
		tp_stat_sub(hc->w->stats, HOST_STAT(hc, cx_active), 1);
		tp_stat_inc(hc->w->stats, why ? CL_STAT(hc, upstream_cx_destroy_remote)
					      : CL_STAT(hc, upstream_cx_destroy_local));
		tp_stat_record(hc->w->stats, CL_STAT(hc, upstream_cx_length_ms),
			       now - hc->start_ms);
		hc->counted = 0;
	}
	hc->state = C_CLOSED;
}

/* Submits the request of a stream that waited for the connection. */
static int submit(struct h2c *hc, struct h2s *st)
{
	const struct tp_tunnel_cfg *t = st->c->proxy->tunnel;
	const struct tp_tunnel_request *r = st->req;
	nghttp2_nv *nv = malloc((r->n + 4) * sizeof(*nv));
	nghttp2_data_provider prd = {.read_callback = data_read};
	size_t n = 0;
	bool tls = hc->side.transport != &tp_transport_raw;
	int32_t id;

#define NV(nm, nlen, v, vlen)                                                        \
	nv[n++] = (nghttp2_nv)                                                       \
	{                                                                            \
		(uint8_t *)(nm), (uint8_t *)(v), (nlen), (vlen),                     \
			NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE \
	}
	if (!nv)
		return -ENOMEM;
	if (t->use_post) {
		NV(":method", 7, "POST", 4);
		NV(":scheme", 7, tls ? "https" : "http", tls ? 5 : 4);
		NV(":authority", 10, r->authority, r->authority_len);
		NV(":path", 5, t->post_path, strlen(t->post_path));
	} else {
		NV(":method", 7, "CONNECT", 7);
		NV(":authority", 10, r->authority, r->authority_len);
	}
	for (size_t i = 0; i < r->n; i++)
		NV(r->h[i].name, r->h[i].name_len, r->h[i].value, r->h[i].value_len);
#undef NV
	/* nghttp2 copies what it sends only when it frames it: NO_COPY needs them to live until
	 * then, which the request does (freed at close). */
	id = nghttp2_submit_request(hc->ng, NULL, nv, n, &prd, st);
	free(nv);
	if (id < 0)
		return -EPROTO;
	st->id = id;
	st->state = S_WAITING;
	return 0;
}

static void h2c_ready(struct h2c *hc)
{
	const struct tp_http_proto_cfg *h = &hc->cluster->cfg->http;
	nghttp2_session_callbacks *cbs;
	nghttp2_option *opt;
	nghttp2_settings_entry iv[3];
	struct h2s *st, *next;
	int ret;

	if (nghttp2_session_callbacks_new(&cbs))
		goto out_fail;
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	if (nghttp2_option_new(&opt)) {
		nghttp2_session_callbacks_del(cbs);
		goto out_fail;
	}
	/* Window updates only as the relay drains a stream (h2s_read). */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	ret = nghttp2_session_client_new2(&hc->ng, cbs, hc, opt);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	if (ret)
		goto out_fail;
	iv[0] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_ENABLE_PUSH, 0};
	iv[1] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, hc->window};
	iv[2] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, h->hpack_table_size};
	if (nghttp2_submit_settings(hc->ng, NGHTTP2_FLAG_NONE, iv, 3) ||
	    nghttp2_session_set_local_window_size(hc->ng, NGHTTP2_FLAG_NONE, 0,
						  (int32_t)h->initial_connection_window_size))
		goto out_fail;
	hc->state = C_READY;
	tp_stat_inc(hc->w->stats, CL_STAT(hc, upstream_cx_http2_total));
	tp_stat_record(hc->w->stats, CL_STAT(hc, upstream_cx_connect_ms),
		       hc->w->now_ms - hc->start_ms);
	for (st = hc->streams; st; st = next) {
		next = st->next;
		if (st->state == S_QUEUED && submit(hc, st) < 0) {
			st->state = S_FAILED;
			detach(st);
			wake(st, TP_WANT_READ);
		}
	}
	arm(hc, K_POLL_IN);
	h2c_send(hc);
	return;

out_fail:
	h2c_fail(hc, "no memory for an HTTP/2 session");
}

/* Frames and writes what nghttp2 has to send, until the socket would block. */
static void h2c_send(struct h2c *hc)
{
	if (hc->state != C_READY)
		return;
	if (hc->in_io) {
		hc->want_send = 1;
		return;
	}
	hc->in_io = 1;
	for (;;) {
		const uint8_t *data;
		ssize_t n, k;

		if (hc->wbuf) {
			k = hc->side.transport->write(&hc->side, hc->wbuf + hc->woff,
						      hc->wlen - hc->woff);
			if (k == -EAGAIN)
				break;
			if (k < 0) {
				hc->in_io = 0;
				h2c_fail(hc, "write failed");
				return;
			}
			hc->woff += (uint32_t)k;
			if (hc->woff < hc->wlen)
				continue;
			free(hc->wbuf);
			hc->wbuf = NULL;
		}
		if (hc->side.unsent) {
			int ret = hc->side.transport->flush(&hc->side);

			if (ret == -EAGAIN)
				break;
			if (ret < 0) {
				hc->in_io = 0;
				h2c_fail(hc, "write failed");
				return;
			}
		}
		n = nghttp2_session_mem_send(hc->ng, &data);
		if (n < 0) {
			hc->in_io = 0;
			h2c_fail(hc, nghttp2_strerror((int)n));
			return;
		}
		if (!n)
			break;
		k = hc->side.transport->write(&hc->side, data, (size_t)n);
		if (k == -EAGAIN)
			k = 0;
		else if (k < 0) {
			hc->in_io = 0;
			h2c_fail(hc, "write failed");
			return;
		}
		if (k < n) {
			/* The rest waits for POLLOUT (nghttp2's copy lasts only to the next call). */
			hc->wbuf = malloc((size_t)(n - k));
			if (!hc->wbuf) {
				hc->in_io = 0;
				h2c_fail(hc, "no memory");
				return;
			}
			memcpy(hc->wbuf, data + k, (size_t)(n - k));
			hc->wlen = (uint32_t)(n - k);
			hc->woff = 0;
		}
	}
	if (hc->wbuf || hc->side.unsent) {
		hc->side.want = TP_WANT_WRITE;
		arm(hc, K_POLL_OUT);
	}
	hc->in_io = 0;
	if (hc->want_send) {
		hc->want_send = 0;
		h2c_send(hc);
		return;
	}
	h2c_maybe_free(hc);
}

static void h2c_recv(struct h2c *hc)
{
	uint8_t buf[READ_CHUNK];

	hc->in_io = 1;
	while (hc->state == C_READY &&
	       (hc->side.readable ||
		(hc->side.transport->pending && hc->side.transport->pending(&hc->side)))) {
		ssize_t n = hc->side.transport->read(&hc->side, buf, sizeof(buf)), r;

		if (n == -EAGAIN) {
			if (hc->side.want & TP_WANT_WRITE)
				arm(hc, K_POLL_OUT);
			hc->side.readable = 0;
			break;
		}
		if (n <= 0) {
			hc->in_io = 0;
			h2c_fail(hc, n ? "read failed" : "closed by the peer");
			return;
		}
		r = nghttp2_session_mem_recv(hc->ng, buf, (size_t)n);
		if (r < 0) {
			hc->in_io = 0;
			h2c_fail(hc, nghttp2_strerror((int)r));
			return;
		}
	}
	hc->in_io = 0;
	hc->want_send = 0;
	h2c_send(hc);
}

static void h2c_handshake(struct h2c *hc)
{
	int ret = hc->side.transport->handshake(&hc->side);

	if (ret == -EAGAIN) {
		arm_want(hc);
		return;
	}
	if (ret < 0) {
		h2c_fail(hc, hc->side.fail_reason ? hc->side.fail_reason : "handshake failed");
		return;
	}
	hc->side.handshaking = 0;
	h2c_ready(hc);
	if (hc->state == C_READY && (hc->side.readable || (hc->side.transport->pending &&
							   hc->side.transport->pending(&hc->side))))
		h2c_recv(hc);
}

void tp_h2_on_cqe(struct tp_worker *w, const struct io_uring_cqe *cqe)
{
	uint32_t idx = tp_udata_idx(cqe->user_data), slot = idx >> 2, kind = idx & 3;
	struct h2c *hc;
	bool final = !(cqe->flags & IORING_CQE_F_MORE);

	TP_BUG_ON(!w->h2 || slot >= w->h2->n || !w->h2->v[slot]);
	hc = w->h2->v[slot];
	TP_BUG_ON(hc->gen != tp_udata_gen(cqe->user_data));
	if (final) {
		TP_BUG_ON(!hc->inflight);
		hc->inflight--;
	}
	if (kind == K_POLL_IN && final)
		hc->poll_in = 0;
	if (kind == K_POLL_OUT)
		hc->poll_out = 0;
	if (hc->state == C_CLOSED || kind == K_CONNECT_TIMEOUT) {
		h2c_maybe_free(hc);
		return;
	}
	switch (kind) {
	case K_CONNECT:
		if (cqe->res < 0) {
			if (cqe->res == -ECANCELED) {
				tp_stat_inc(w->stats, CL_STAT(hc, upstream_cx_connect_timeout));
				h2c_fail(hc, "connect timeout");
			} else {
				h2c_fail(hc, strerror(-cqe->res));
			}
			break;
		}
		hc->state = C_HANDSHAKE;
		if (tp_worker_format_needs(w) & TP_FMT_NEED_UP_LOCAL)
			tp_conn_capture_ip(hc->side.fd, getsockname, &hc->local);
		if (hc->side.handshaking)
			h2c_handshake(hc);
		else
			h2c_ready(hc);
		break;
	case K_POLL_IN:
		if (cqe->res < 0) {
			if (cqe->res != -ECANCELED)
				h2c_fail(hc, strerror(-cqe->res));
			break;
		}
		if (cqe->res & (POLLRDHUP | POLLHUP | POLLERR))
			hc->side.hup_seen = 1;
		hc->side.readable = 1;
		if (hc->state == C_HANDSHAKE)
			h2c_handshake(hc);
		else
			h2c_recv(hc);
		if (final && hc->state != C_CLOSED)
			arm(hc, K_POLL_IN);
		break;
	case K_POLL_OUT:
		if (cqe->res < 0)
			break;
		if (hc->state == C_HANDSHAKE)
			h2c_handshake(hc);
		else if (hc->side.readable)
			h2c_recv(hc);
		else
			h2c_send(hc);
		break;
	}
	h2c_maybe_free(hc);
}

/* A new connection to c's host: socket, transport, connect with the cluster's timeout. */
static struct h2c *h2c_new(struct tp_worker *w, struct tp_conn *c)
{
	struct tp_h2_pool *p = pool(w);
	const struct tp_cluster_cfg *cc = c->cluster->cfg;
	const struct tp_transport_ops *t =
		cc->transport.ops ? cc->transport.ops : &tp_transport_raw;
	struct tp_transport_env env = {0};
	struct h2c *hc;
	struct io_uring_sqe *sqe;
	uint32_t slot;
	int one = 1, fd;
	static uint32_t gens;

	if (!p)
		return NULL;
	for (slot = 0; slot < p->n && p->v[slot]; slot++)
		;
	if (slot == p->n) {
		if (p->n == p->cap) {
			uint32_t cap = p->cap ? p->cap * 2 : 8;
			struct h2c **v = realloc(p->v, cap * sizeof(*v));

			if (!v)
				return NULL;
			p->v = v;
			p->cap = cap;
		}
		p->v[p->n++] = NULL;
	}
	hc = calloc(1, sizeof(*hc));
	if (!hc)
		return NULL;
	fd = socket(c->host->cfg->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		free(hc);
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	hc->w = w;
	hc->slot = slot;
	hc->gen = ++gens;
	hc->cluster = c->cluster;
	hc->host = c->host;
	hc->start_ms = w->now_ms;
	hc->window = cc->http.initial_stream_window_size;
	if (cc->per_connection_buffer_limit_bytes < hc->window)
		hc->window = cc->per_connection_buffer_limit_bytes;
	if (hc->window < 65535)
		hc->window = 65535;
	hc->side.fd = fd;
	hc->side.transport = t;
	hc->side.handshaking = t->handshake != NULL;
	if (t->state_size) {
		hc->tstate = calloc(1, t->state_size);
		if (!hc->tstate) {
			close(fd);
			free(hc);
			return NULL;
		}
		hc->side.tstate = hc->tstate;
	}
	p->v[slot] = hc;
	tp_cluster_hold(hc->cluster);
	tp_host_hold(hc->host);
	hc->state = C_CONNECTING;
	tp_stat_inc(w->stats, CL_STAT(hc, upstream_cx_total));
	tp_stat_inc(w->stats, HOST_STAT(hc, cx_total));
	tp_stat_add(w->stats, CL_STAT(hc, upstream_cx_active), 1);
	tp_stat_add(w->stats, HOST_STAT(hc, cx_active), 1);
	hc->counted = 1;
	if (t->open) {
		env.conf = cc->transport.conf;
		env.ctx = cc->transport.own_ctx ? cc->transport.own_ctx
			  : t->ctx_new		? w->tctx[cc->transport.idx]
						: NULL;
		env.stats = w->stats;
		if (t->open(&hc->side, &env) < 0) {
			h2c_fail(hc, "transport");
			return hc;
		}
	}
	tp_ring_reserve(&w->ring, 2);
	sqe = tp_ring_get_sqe(&w->ring);
	io_uring_prep_connect(sqe, fd, (const struct sockaddr *)&c->host->cfg->addr.ss,
			      c->host->cfg->addr.len);
	io_uring_sqe_set_data64(sqe, udata(hc, K_CONNECT));
	sqe->flags |= IOSQE_IO_LINK;
	sqe = tp_ring_get_sqe(&w->ring);
	io_uring_prep_link_timeout(sqe, &c->cluster->connect_timeout, 0);
	io_uring_sqe_set_data64(sqe, udata(hc, K_CONNECT_TIMEOUT));
	hc->inflight += 2;
	return hc;
}

/* The most streams hc may carry: the cluster's max_concurrent_streams, and the peer's. */
static uint32_t stream_limit(const struct h2c *hc)
{
	uint32_t lim = hc->cluster->cfg->http.max_concurrent_streams;

	if (hc->ng) {
		uint32_t peer = nghttp2_session_get_remote_settings(
			hc->ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);

		if (peer < lim)
			lim = peer;
	}
	return lim;
}

int tp_h2_open_stream(struct tp_worker *w, struct tp_conn *c)
{
	struct tp_h2_pool *p = pool(w);
	struct tp_transport_cfg tc = {.ops = &tp_transport_tunnel_h2};
	struct tp_side *sd = &c->side[TP_UP];
	struct h2c *hc = NULL;
	struct h2s *st;
	int err = 0, ret;

	if (!p)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->n && !hc; i++) {
		struct h2c *x = p->v[i];

		if (x && x->host == c->host && x->state != C_CLOSED && !x->goaway &&
		    x->n_streams < stream_limit(x))
			hc = x;
	}
	ret = tp_conn_side_init(w, c, TP_UP, -1, &tc);
	if (ret < 0)
		return ret;
	sd->nofd = 1;
	sd->handshaking = 1;
	st = sd->tstate;
	st->c = c;
	st->w = w;
	st->side = sd;
	st->req = tp_tunnel_request_render(w, c, &err);
	if (!st->req)
		return err;
	if (!hc)
		hc = h2c_new(w, c);
	if (!hc)
		return -ENOMEM;
	if (hc->state == C_CLOSED) {
		h2c_maybe_free(hc);
		return -ECONNREFUSED;
	}
	st->hc = hc;
	st->next = hc->streams;
	if (hc->streams)
		hc->streams->prev = st;
	hc->streams = st;
	hc->n_streams++;
	if (hc->state == C_READY) {
		if (submit(hc, st) < 0) {
			detach(st);
			return -EPROTO;
		}
		h2c_send(hc);
	}
	return 0;
}

void tp_h2_retire_cluster(struct tp_worker *w, const struct tp_cluster_rt *cl)
{
	struct tp_h2_pool *p = w->h2;

	for (uint32_t i = 0; p && i < p->n; i++) {
		struct h2c *hc = p->v[i];

		if (!hc || hc->cluster != cl)
			continue;
		/* As after a peer's GOAWAY: no new stream, closed once its streams are done. */
		hc->goaway = 1;
		h2c_maybe_free(hc);
	}
}

void tp_h2_pool_destroy(struct tp_worker *w)
{
	struct tp_h2_pool *p = w->h2;

	if (!p)
		return;
	for (uint32_t i = 0; i < p->n; i++) {
		if (p->v[i]) {
			h2c_fail(p->v[i], NULL);
			h2c_unref(p->v[i]);
			free(p->v[i]);
		}
	}
	free(p->v);
	free(p);
	w->h2 = NULL;
}

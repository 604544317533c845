/* The HTTP/1.1 tunnel transport: CONNECT (or POST) over the cluster's own transport on the same
 * socket. Its state embeds a struct tp_side for the transport below (raw or TLS), whose state is
 * carved right after this one's; every op calls the lower op and copies back what the relay reads
 * (readable, want, unsent).
 *
 * Handshake: the lower handshake (TLS to the proxy), then the request head, then the response
 * head, parsed by core/base/http_resp.c under the cluster's header-count limit. Any 2xx accepts
 * (1xx interim answers are skipped); anything else, a malformed or oversized head, or a close
 * before the head fails it, which the session counts as a connect failure. The bytes that came
 * after the head are the tunnel's: pending() until read.
 *
 * CONNECT is plain bytes after that. Once the leftover is read and the lower transport is raw,
 * the side is handed back to the raw transport itself (tp_tunnel_settle), so the relay splices
 * again: the tunnel then costs nothing per byte. POST frames both ways: what we send is chunked
 * (shutdown_write sends the last chunk; a chunk is framed on the stack and only what the socket
 * does not take is kept), and a chunked answer is decoded. */
#include "core/tunnel/tunnel.h"

#include "core/base/http_resp.h"
#include "core/conn/transport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* POST: one chunk at most this large per write (framed on the stack; TX_CAP also sizes the
 * buffer that keeps what the socket did not take, while it holds bytes). */
#define TX_CHUNK (16u * 1024u)
#define TX_CAP	 (TX_CHUNK + 32u)

struct h1 {
	struct tp_side lower;
	uint8_t *req; /* the request head until written */
	uint32_t req_len, req_off;
	uint8_t *rbuf; /* the response head, then the tunnel bytes read with it */
	uint32_t rcap, rlen, rhead, roff;
	uint8_t *tx; /* POST: framed bytes not yet taken by the lower transport */
	uint32_t tx_len, tx_off;
	struct tp_http_resp resp;
	struct tp_http_chunked chunked;
	uint16_t status;
	uint8_t post : 1;
	uint8_t stage : 2;	/* enum stage */
	uint8_t chunked_rx : 1; /* the answer's body is chunked: decode it */
	uint8_t rx_done : 1;	/* its last chunk was read: the stream has ended */
	uint8_t last_sent : 1;	/* our last chunk is queued */
};

enum stage { ST_LOWER, ST_REQUEST, ST_RESPONSE, ST_OPEN };

static struct h1 *st_of(const struct tp_side *s)
{
	return s->tstate;
}

/* What the connection saw on the socket goes down; what the lower transport answered comes up. */
static void sync_down(struct tp_side *s, struct h1 *t)
{
	t->lower.fd = s->fd;
	t->lower.readable = s->readable;
	t->lower.hup_seen = s->hup_seen;
	t->lower.fin_seen = s->fin_seen;
}

static void sync_up(struct tp_side *s, struct h1 *t)
{
	/* A short read tells the lower side its socket is empty, but what this side holds (bytes
	 * that came with the head, the end of a chunked body read with its last data) is still to
	 * be read: no poll would report it, as the proxy keeps its socket open after the body. */
	s->readable = t->lower.readable || t->roff < t->rlen || t->rx_done;
	s->want = t->lower.want;
	s->unsent = t->lower.unsent || t->tx_off < t->tx_len;
	if (t->lower.fail_reason)
		s->fail_reason = t->lower.fail_reason;
}

static int h1_open(struct tp_side *s, const struct tp_transport_env *env)
{
	struct h1 *t = st_of(s);
	struct tp_transport_env lenv = *env;
	const struct tp_tunnel_request *r = env->arg;
	const struct tp_tunnel_cfg *cfg = env->conf;
	size_t len;
	char *p;

	t->lower.fd = s->fd;
	t->lower.transport = env->lower;
	t->lower.tstate = env->lower->state_size ? env->lower_state : NULL;
	t->lower.handshaking = env->lower->handshake != NULL;
	t->post = cfg->use_post;
	t->stage = t->lower.handshaking ? ST_LOWER : ST_REQUEST;
	/* The request head: request line, Host, (POST) chunked, headers_to_add, blank line. */
	len = 64 + 2 * r->authority_len + strlen(cfg->post_path);
	for (size_t i = 0; i < r->n; i++)
		len += r->h[i].name_len + r->h[i].value_len + 4;
	t->req = malloc(len);
	if (!t->req)
		goto out_free;
	p = (char *)t->req;
	if (t->post)
		p += sprintf(p, "POST %s HTTP/1.1\r\nHost: %.*s\r\nTransfer-Encoding: chunked\r\n",
			     cfg->post_path, (int)r->authority_len, r->authority);
	else
		p += sprintf(p, "CONNECT %.*s HTTP/1.1\r\nHost: %.*s\r\n", (int)r->authority_len,
			     r->authority, (int)r->authority_len, r->authority);
	for (size_t i = 0; i < r->n; i++) {
		memcpy(p, r->h[i].name, r->h[i].name_len);
		p += r->h[i].name_len;
		*p++ = ':';
		*p++ = ' ';
		memcpy(p, r->h[i].value, r->h[i].value_len);
		p += r->h[i].value_len;
		*p++ = '\r';
		*p++ = '\n';
	}
	*p++ = '\r';
	*p++ = '\n';
	t->req_len = (uint32_t)(p - (char *)t->req);
	tp_http_resp_init(&t->resp, TP_HTTP_RESP_HEAD_MAX, r->max_headers);
	free(env->arg);
	lenv.conf = env->lower_conf;
	lenv.ctx = env->lower_ctx;
	lenv.lower = NULL;
	lenv.arg = NULL;
	return env->lower->open ? env->lower->open(&t->lower, &lenv) : 0;

out_free:
	free(env->arg);
	return -ENOMEM;
}

static int fail(struct tp_side *s, struct h1 *t, int err)
{
	sync_up(s, t);
	return err;
}

/* Reads the response head; 0 once a 2xx has come. */
static int read_response(struct tp_side *s, struct h1 *t)
{
	for (;;) {
		enum tp_http_resp_result res;
		size_t used;
		ssize_t n;

		if (!t->rbuf) {
			t->rcap = TP_HTTP_RESP_HEAD_MAX;
			t->rbuf = malloc(t->rcap);
			if (!t->rbuf)
				return -ENOMEM;
		}
		if (t->rlen == t->rcap)
			return -EPROTO; /* the parser says so first; this bounds the read */
		sync_down(s, t);
		n = t->lower.transport->read(&t->lower, t->rbuf + t->rlen, t->rcap - t->rlen);
		sync_up(s, t);
		if (n == -EAGAIN)
			return -EAGAIN;
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -ECONNRESET; /* closed before the head */
		res = tp_http_resp_parse(&t->resp, t->rbuf + t->rlen, (size_t)n, &used);
		t->rlen += (uint32_t)n;
		if (res == TP_HTTP_RESP_ERROR)
			return -EPROTO;
		if (res == TP_HTTP_RESP_NEED_MORE)
			continue;
		t->status = t->resp.status;
		t->rhead = t->rlen - (uint32_t)n + (uint32_t)used;
		if (t->status >= 100 && t->status < 200 && t->status != 101) {
			/* An interim answer: the real one follows. Its bytes go, what came after it
			 * is parsed again (the head limit counts both). */
			uint32_t max_head = t->resp.max_head - t->resp.head_len;

			memmove(t->rbuf, t->rbuf + t->rhead, t->rlen - t->rhead);
			t->rlen -= t->rhead;
			tp_http_resp_init(&t->resp, max_head, t->resp.max_headers);
			res = tp_http_resp_parse(&t->resp, t->rbuf, t->rlen, &used);
			if (res == TP_HTTP_RESP_ERROR)
				return -EPROTO;
			if (res == TP_HTTP_RESP_NEED_MORE)
				continue;
			t->status = t->resp.status;
			t->rhead = (uint32_t)used;
		}
		if (t->status < 200 || t->status > 299)
			return -ECONNREFUSED;
		t->roff = t->rhead;
		t->chunked_rx = t->post && tp_http_resp_chunked(t->rbuf, t->rhead);
		if (t->chunked_rx)
			tp_http_chunked_init(&t->chunked);
		return 0;
	}
}

static int h1_handshake(struct tp_side *s)
{
	struct h1 *t = st_of(s);
	int ret;

	if (t->stage == ST_LOWER) {
		sync_down(s, t);
		ret = t->lower.transport->handshake(&t->lower);
		if (ret)
			return fail(s, t, ret);
		t->lower.handshaking = 0;
		t->stage = ST_REQUEST;
	}
	while (t->stage == ST_REQUEST) {
		ssize_t n;

		if (t->req_off < t->req_len) {
			sync_down(s, t);
			n = t->lower.transport->write(&t->lower, t->req + t->req_off,
						      t->req_len - t->req_off);
			if (n < 0)
				return fail(s, t, (int)n);
			t->req_off += (uint32_t)n;
			continue;
		}
		if (t->lower.unsent) {
			ret = t->lower.transport->flush(&t->lower);
			if (ret)
				return fail(s, t, ret);
		}
		free(t->req);
		t->req = NULL;
		t->stage = ST_RESPONSE;
	}
	ret = read_response(s, t);
	if (ret)
		return ret == -EAGAIN ? fail(s, t, ret) : ret;
	t->stage = ST_OPEN;
	/* The bytes that came with the head are the stream's first. */
	if (t->roff < t->rlen)
		s->readable = 1;
	return 0;
}

/* Decodes chunked bytes in place at buf[0, n): the data they held, or 0. */
static ssize_t dechunk(struct h1 *t, uint8_t *buf, size_t n, size_t *used)
{
	size_t out;
	enum tp_http_resp_result res;

	res = tp_http_chunked_decode(&t->chunked, buf, n, used, buf, n, &out, 100);
	if (res == TP_HTTP_RESP_ERROR)
		return -EPROTO;
	if (res == TP_HTTP_RESP_DONE)
		t->rx_done = 1;
	return (ssize_t)out;
}

static void release_rbuf(struct h1 *t)
{
	free(t->rbuf);
	t->rbuf = NULL;
	t->rlen = t->roff = t->rhead = 0;
}

static ssize_t h1_read(struct tp_side *s, uint8_t *buf, size_t len)
{
	struct h1 *t = st_of(s);
	ssize_t n;

	if (t->rx_done)
		return 0;
	/* What came with the head first. */
	while (t->roff < t->rlen) {
		size_t k = t->rlen - t->roff, used = k;

		if (!t->chunked_rx) {
			if (k > len)
				k = len;
			memcpy(buf, t->rbuf + t->roff, k);
			t->roff += (uint32_t)k;
			/* Drained: a CONNECT over a raw socket is the socket from now on. */
			if (t->roff == t->rlen)
				tp_tunnel_h1_settle(s);
			return (ssize_t)k;
		}
		n = dechunk(t, t->rbuf + t->roff, k > len ? len : k, &used);
		if (n < 0)
			return n;
		memcpy(buf, t->rbuf + t->roff, (size_t)n);
		t->roff += (uint32_t)used;
		if (t->roff == t->rlen || t->rx_done)
			release_rbuf(t);
		if (n > 0 || t->rx_done)
			return n;
	}
	for (;;) {
		size_t used;
		ssize_t d;

		sync_down(s, t);
		n = t->lower.transport->read(&t->lower, buf, len);
		sync_up(s, t);
		if (n <= 0 || !t->chunked_rx)
			return n;
		d = dechunk(t, buf, (size_t)n, &used);
		/* The body's end came with this read: read again for it (sync_up's rule). */
		if (t->rx_done)
			s->readable = 1;
		if (d != 0 || t->rx_done)
			return d;
		/* Only framing: read on, or wait. */
	}
}

static int flush_tx(struct tp_side *s, struct h1 *t)
{
	while (t->tx_off < t->tx_len) {
		ssize_t n;

		sync_down(s, t);
		n = t->lower.transport->write(&t->lower, t->tx + t->tx_off, t->tx_len - t->tx_off);
		if (n < 0)
			return fail(s, t, (int)n);
		t->tx_off += (uint32_t)n;
	}
	free(t->tx);
	t->tx = NULL;
	t->tx_len = t->tx_off = 0;
	if (t->lower.unsent) {
		int ret = t->lower.transport->flush(&t->lower);

		if (ret)
			return fail(s, t, ret);
	}
	sync_up(s, t);
	return 0;
}

/* POST: frames data (len > 0) as one chunk, or the last chunk (data NULL), into out (TX_CAP
 * bytes): its length. */
static uint32_t frame(uint8_t *out, const uint8_t *data, size_t len)
{
	size_t h;

	if (!data) {
		memcpy(out, "0\r\n\r\n", 5);
		return 5;
	}
	h = tp_http_chunk_header(len, (char *)out);
	memcpy(out + h, data, len);
	memcpy(out + h + len, "\r\n", 2);
	return (uint32_t)(h + len + 2);
}

/* POST: writes a framed chunk (on the caller's stack) through the lower transport; only what
 * it does not take is kept in t->tx, allocated then (as the TLS transport keeps the rest of a
 * record): a tunnel that keeps up allocates nothing per write. 0, or -errno (not -EAGAIN: the
 * chunk counts as taken). */
static int send_framed(struct tp_side *s, struct h1 *t, const uint8_t *b, uint32_t n)
{
	uint32_t off = 0;

	while (off < n) {
		ssize_t k;

		sync_down(s, t);
		k = t->lower.transport->write(&t->lower, b + off, n - off);
		if (k == -EAGAIN)
			break;
		if (k < 0)
			return fail(s, t, (int)k);
		off += (uint32_t)k;
	}
	if (off < n) {
		t->tx = malloc(TX_CAP);
		if (!t->tx)
			return fail(s, t, -ENOMEM);
		memcpy(t->tx, b + off, n - off);
		t->tx_len = n - off;
		t->tx_off = 0;
	} else if (t->lower.unsent) {
		int ret = t->lower.transport->flush(&t->lower);

		if (ret && ret != -EAGAIN)
			return fail(s, t, ret);
	}
	sync_up(s, t);
	return 0;
}

static ssize_t h1_write(struct tp_side *s, const uint8_t *buf, size_t len)
{
	struct h1 *t = st_of(s);
	uint8_t fb[TX_CAP];
	ssize_t n;
	int ret;

	if (!t->post) {
		sync_down(s, t);
		n = t->lower.transport->write(&t->lower, buf, len);
		sync_up(s, t);
		return n;
	}
	if (t->tx) {
		ret = flush_tx(s, t);
		if (ret)
			return ret;
	}
	if (len > TX_CHUNK)
		len = TX_CHUNK;
	/* The chunk is taken whole: what the socket did not take is unsent. */
	ret = send_framed(s, t, fb, frame(fb, buf, len));
	if (ret)
		return ret;
	return (ssize_t)len;
}

static int h1_flush(struct tp_side *s)
{
	struct h1 *t = st_of(s);
	int ret;

	if (t->tx) {
		ret = flush_tx(s, t);
		if (ret)
			return ret;
	}
	if (t->lower.unsent) {
		sync_down(s, t);
		ret = t->lower.transport->flush(&t->lower);
		sync_up(s, t);
		if (ret)
			return ret;
	}
	sync_up(s, t);
	return 0;
}

static int h1_shutdown_write(struct tp_side *s)
{
	struct h1 *t = st_of(s);
	int ret;

	if (!t->post) {
		sync_down(s, t);
		ret = t->lower.transport->shutdown_write(&t->lower);
		sync_up(s, t);
		return ret;
	}
	/* POST: the request body ends with its last chunk; the socket stays open for the
	 * answer (a FIN could make the proxy drop the rest of it). */
	if (!t->last_sent) {
		uint8_t fb[8];

		if (t->tx) {
			ret = flush_tx(s, t);
			if (ret)
				return ret;
		}
		ret = send_framed(s, t, fb, frame(fb, NULL, 0));
		if (ret)
			return ret;
		t->last_sent = 1;
	}
	return h1_flush(s);
}

static bool h1_pending(const struct tp_side *s)
{
	const struct h1 *t = st_of(s);

	if (t->roff < t->rlen || t->rx_done)
		return true;
	return t->lower.transport->pending && t->lower.transport->pending(&t->lower);
}

static void h1_close(struct tp_side *s)
{
	struct h1 *t = st_of(s);

	if (t->lower.transport && t->lower.transport->close) {
		t->lower.fd = s->fd;
		t->lower.transport->close(&t->lower);
	}
	free(t->req);
	free(t->tx);
	release_rbuf(t);
	t->req = t->tx = NULL;
}

const struct tp_transport_ops tp_transport_tunnel_h1 = {
	.name = "http1_tunnel",
	.raw = false,
	.state_size = sizeof(struct h1),
	.open = h1_open,
	.handshake = h1_handshake,
	.read = h1_read,
	.write = h1_write,
	.flush = h1_flush,
	.shutdown_write = h1_shutdown_write,
	.pending = h1_pending,
	.close = h1_close,
};

unsigned tp_tunnel_h1_status(const struct tp_side *s)
{
	return s->transport == &tp_transport_tunnel_h1 ? st_of(s)->status : 0;
}

/* The response head, while the side still has it (until its leftover is read). */
const uint8_t *tp_tunnel_h1_head(const struct tp_side *s, size_t *len)
{
	const struct h1 *t;

	if (s->transport != &tp_transport_tunnel_h1)
		return NULL;
	t = st_of(s);
	if (!t->rbuf || t->stage != ST_OPEN)
		return NULL;
	*len = t->rhead;
	return t->rbuf;
}

void tp_tunnel_h1_settle(struct tp_side *s)
{
	struct h1 *t;

	if (s->transport != &tp_transport_tunnel_h1)
		return;
	t = st_of(s);
	/* The head is no longer needed, only what came after it. */
	if (t->rbuf && t->roff == t->rlen)
		release_rbuf(t);
	/* CONNECT over a raw socket with nothing held: the side is the socket again, and the
	 * relay splices. */
	if (!t->post && t->lower.transport == &tp_transport_raw && !t->rbuf) {
		s->transport = &tp_transport_raw;
		s->tstate = NULL;
	}
}

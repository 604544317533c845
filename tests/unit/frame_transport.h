/* A transport that exists only in the tests, to prove the seam: it frames the stream and may
 * hold a handshake in front of it, as TLS and an HTTP tunnel will.
 *
 * On the wire each chunk is a 2-byte big-endian length and that many bytes; a zero length ends
 * the stream (its close_notify / END_STREAM), after which the socket gets its FIN. It holds bytes
 * the socket does not show (a frame read whole, delivered in pieces; bytes after a handshake
 * reply) and bytes it took but could not send, so the relay must use pending(), flush() and a
 * shutdown_write() that writes before it shuts.
 *
 * Handshakes: the server role reads "HELLO\n" and answers "OK\n" (a TLS server); the client
 * role writes "HELLO\n" and needs "OK\n" back, anything else failing it like a non-2xx CONNECT
 * reply; what follows "OK\n" in the same read is the stream's. */
#ifndef TP_FRAME_TRANSPORT_H
#define TP_FRAME_TRANSPORT_H

#include "core/conn/conn-t.h"
#include "core/conn/transport-t.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#define FRAME_IN  8192
#define FRAME_OUT 4096

struct frame_state {
	uint8_t in[FRAME_IN]; /* wire bytes read, [in_off, in_len) not decoded yet */
	uint32_t in_off, in_len;
	uint32_t frame_left;	/* payload bytes of the current frame still to deliver */
	bool eos;		/* the end frame came */
	uint8_t out[FRAME_OUT]; /* wire bytes taken, [out_off, out_len) not sent yet */
	uint32_t out_off, out_len;
	uint8_t hs_step;
	bool shut; /* our end frame is queued */
};

static int frame_recv_more(struct tp_side *s, struct frame_state *fs)
{
	ssize_t n;

	if (fs->in_off) {
		memmove(fs->in, fs->in + fs->in_off, fs->in_len - fs->in_off);
		fs->in_len -= fs->in_off;
		fs->in_off = 0;
	}
	if (fs->in_len == FRAME_IN)
		return -ENOBUFS;
	n = recv(s->fd, fs->in + fs->in_len, FRAME_IN - fs->in_len, MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN)
			s->want = TP_WANT_READ;
		return -errno;
	}
	fs->in_len += (uint32_t)n;
	return (int)n;
}

static int frame_flush(struct tp_side *s)
{
	struct frame_state *fs = s->tstate;

	while (fs->out_off < fs->out_len) {
		ssize_t n = send(s->fd, fs->out + fs->out_off, fs->out_len - fs->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN) {
				s->want = TP_WANT_WRITE;
				s->unsent = 1;
			}
			return -errno;
		}
		fs->out_off += (uint32_t)n;
	}
	fs->out_off = fs->out_len = 0;
	s->unsent = 0;
	return 0;
}

static void frame_queue(struct frame_state *fs, const void *p, size_t n)
{
	memcpy(fs->out + fs->out_len, p, n);
	fs->out_len += (uint32_t)n;
}

/* Stream bytes decoded from what was read, up to len; stops at the end frame. */
static size_t frame_decode(struct frame_state *fs, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len && !fs->eos) {
		uint32_t avail = fs->in_len - fs->in_off;

		if (fs->frame_left) {
			size_t take = fs->frame_left;

			if (take > avail)
				take = avail;
			if (take > len - got)
				take = len - got;
			if (!take)
				break;
			memcpy(buf + got, fs->in + fs->in_off, take);
			fs->in_off += (uint32_t)take;
			fs->frame_left -= (uint32_t)take;
			got += take;
		} else if (avail >= 2) {
			fs->frame_left = (uint32_t)fs->in[fs->in_off] << 8 | fs->in[fs->in_off + 1];
			fs->in_off += 2;
			if (!fs->frame_left)
				fs->eos = true;
		} else {
			break;
		}
	}
	return got;
}

static ssize_t frame_read(struct tp_side *s, uint8_t *buf, size_t len)
{
	struct frame_state *fs = s->tstate;

	for (;;) {
		size_t n = frame_decode(fs, buf, len);
		int r;

		if (n)
			return (ssize_t)n;
		if (fs->eos)
			return 0;
		r = frame_recv_more(s, fs);
		if (r == -EAGAIN) {
			s->readable = 0;
			return -EAGAIN;
		}
		if (r < 0)
			return r;
		/* The socket ended without the end frame: a truncated stream. */
		if (!r)
			return -ECONNRESET;
	}
}

static ssize_t frame_write(struct tp_side *s, const uint8_t *buf, size_t len)
{
	struct frame_state *fs = s->tstate;
	uint8_t hdr[2];
	int r;

	if (s->unsent && (r = frame_flush(s)) < 0)
		return r;
	if (len > FRAME_OUT - 2)
		len = FRAME_OUT - 2;
	hdr[0] = (uint8_t)(len >> 8);
	hdr[1] = (uint8_t)len;
	frame_queue(fs, hdr, 2);
	frame_queue(fs, buf, len);
	r = frame_flush(s);
	/* Taken even when not all sent: the rest goes with the next flush. */
	return r < 0 && r != -EAGAIN ? r : (ssize_t)len;
}

static int frame_shutdown_write(struct tp_side *s)
{
	struct frame_state *fs = s->tstate;
	static const uint8_t end[2];
	int r;

	if (!fs->shut) {
		if ((r = frame_flush(s)) < 0)
			return r;
		frame_queue(fs, end, 2);
		fs->shut = true;
	}
	if ((r = frame_flush(s)) < 0)
		return r;
	shutdown(s->fd, SHUT_WR);
	return 0;
}

static bool frame_pending(const struct tp_side *s)
{
	const struct frame_state *fs = s->tstate;

	return fs->in_len > fs->in_off || fs->eos;
}

/* Reads until the buffer starts with n bytes; 0 when it does, -EAGAIN, or -errno. */
static int frame_want_bytes(struct tp_side *s, struct frame_state *fs, uint32_t n)
{
	while (fs->in_len - fs->in_off < n) {
		int r = frame_recv_more(s, fs);

		if (r < 0)
			return r;
		if (!r)
			return -ECONNRESET;
	}
	return 0;
}

static int frame_handshake_server(struct tp_side *s)
{
	struct frame_state *fs = s->tstate;
	int r;

	if (fs->hs_step == 0) {
		if ((r = frame_want_bytes(s, fs, 6)) < 0)
			return r;
		if (memcmp(fs->in + fs->in_off, "HELLO\n", 6))
			return -EPROTO;
		fs->in_off += 6;
		frame_queue(fs, "OK\n", 3);
		fs->hs_step = 1;
	}
	return frame_flush(s);
}

static int frame_handshake_client(struct tp_side *s)
{
	struct frame_state *fs = s->tstate;
	int r;

	if (fs->hs_step == 0) {
		frame_queue(fs, "HELLO\n", 6);
		fs->hs_step = 1;
	}
	if (fs->hs_step == 1) {
		if ((r = frame_flush(s)) < 0)
			return r;
		fs->hs_step = 2;
	}
	if ((r = frame_want_bytes(s, fs, 3)) < 0)
		return r;
	if (memcmp(fs->in + fs->in_off, "OK\n", 3))
		return -ECONNREFUSED;
	fs->in_off += 3;
	return 0;
}

#define FRAME_OPS(nm, hs)                                                                        \
	{                                                                                        \
		.name = nm, .raw = false, .state_size = sizeof(struct frame_state),              \
		.handshake = hs, .read = frame_read, .write = frame_write, .flush = frame_flush, \
		.shutdown_write = frame_shutdown_write, .pending = frame_pending,                \
	}

static const struct tp_transport_ops frame_plain = FRAME_OPS("test.frame", NULL);
static const struct tp_transport_ops frame_server =
	FRAME_OPS("test.frame_server", frame_handshake_server);
static const struct tp_transport_ops frame_client =
	FRAME_OPS("test.frame_client", frame_handshake_client);

/* The test's side of a framed stream: data in frames of varied sizes, then the end frame. */
static size_t frame_encode(const uint8_t *data, size_t len, uint8_t *out, bool end)
{
	size_t o = 0, i = 0, k = 0;

	while (i < len) {
		size_t n = 1 + (k++ * 7919) % 3000;

		if (n > len - i)
			n = len - i;
		out[o++] = (uint8_t)(n >> 8);
		out[o++] = (uint8_t)n;
		memcpy(out + o, data + i, n);
		o += n;
		i += n;
	}
	if (end) {
		out[o++] = 0;
		out[o++] = 0;
	}
	return o;
}

/* Decodes a whole framed stream; returns the payload length, or -1 if malformed. *ended says
 * whether the end frame came, and it must be last. */
static ssize_t frame_unwrap(const uint8_t *in, size_t len, uint8_t *out, bool *ended)
{
	size_t i = 0, o = 0;

	*ended = false;
	while (i < len) {
		size_t n;

		if (*ended || len - i < 2)
			return -1;
		n = (size_t)in[i] << 8 | in[i + 1];
		i += 2;
		if (!n) {
			*ended = true;
			continue;
		}
		if (len - i < n)
			return -1;
		memcpy(out + o, in + i, n);
		o += n;
		i += n;
	}
	return (ssize_t)o;
}

#endif

/* The raw transport: stream bytes are socket bytes. The rules the relay used to hard-code live
 * here, so that a transport that holds decrypted bytes or frames its end of stream differs only
 * in its ops. */
#include "core/conn/transport.h"

#include "core/conn/conn-t.h"

#include <errno.h>
#include <sys/socket.h>

static ssize_t raw_read(struct tp_side *s, uint8_t *buf, size_t len)
{
	ssize_t n;

	/* The end of the stream was proven by the last read: answer it without asking again.
	 * After the FIN, a receive with an empty queue returns 0 even if a reset followed
	 * (SOCK_DONE is checked before the socket's error), so this answers as recv would. */
	if (s->eof_next) {
		s->readable = 0;
		return 0;
	}
	n = recv(s->fd, buf, len, MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN) {
			s->readable = 0;
			s->want = TP_WANT_READ;
		}
		return -errno;
	}
	/* A short read proves the socket empty: the next byte wakes the poll again. Not while its
	 * FIN waits to be read: that wakeup has already come, and no other would; but a short
	 * read once the FIN is in has emptied the stream, so its end needs no recv of its own. */
	if (!n || ((size_t)n < len && !s->hup_seen))
		s->readable = 0;
	else if ((size_t)n < len && s->fin_seen)
		s->eof_next = 1;
	return n;
}

static ssize_t raw_write(struct tp_side *s, const uint8_t *buf, size_t len)
{
	/* MSG_NOSIGNAL: a peer that has gone is an EPIPE on this connection, not a signal.
	 * MSG_MORE only when the FIN is sent next, in this same turn: tcp_send_fin() tacks it onto
	 * the segment still held, and pushes both. */
	ssize_t n = send(s->fd, buf, len,
			 MSG_DONTWAIT | MSG_NOSIGNAL | (s->fin_follows ? MSG_MORE : 0));

	if (n < 0) {
		if (errno == EAGAIN)
			s->want = TP_WANT_WRITE;
		return -errno;
	}
	return n;
}

static int raw_shutdown_write(struct tp_side *s)
{
	/* A plain syscall: io_uring runs IORING_OP_SHUTDOWN on an io-wq thread, after a close
	 * queued behind it may already have freed (and reused) the fd number. A failure means
	 * the peer is gone, which its poll reports. */
	shutdown(s->fd, SHUT_WR);
	return 0;
}

const struct tp_transport_ops tp_transport_raw = {
	.name = "raw_buffer",
	.raw = true,
	.read = raw_read,
	.write = raw_write,
	.shutdown_write = raw_shutdown_write,
};

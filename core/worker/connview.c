/* A worker's snapshot of its open sessions for the live connection view (tcpproxy-stat
 * --connections, /connections): written into the memfd the master gave it, on request only. */
#include "core/worker/connview.h"

#include "core/base/timer.h"
#include "core/conn/conn.h"
#include "core/filter.h"
#include "core/worker/connview-t.h"

#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 256

static void addr_of(struct tp_connview_addr *out, const struct sockaddr_storage *ss)
{
	memset(out, 0, sizeof(*out));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		out->family = AF_INET;
		out->port = ntohs(in->sin_port);
		memcpy(out->addr, &in->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		out->family = AF_INET6;
		out->port = ntohs(in6->sin6_port);
		memcpy(out->addr, &in6->sin6_addr, 16);
	}
}

/* Addresses are asked of the kernel here, once per request, rather than kept per connection
 * for a view nobody may ever ask for. */
static void sock_addrs(int fd, struct tp_connview_addr *local, struct tp_connview_addr *peer)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (fd < 0)
		return;
	len = sizeof(ss);
	if (local && getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		addr_of(local, &ss);
	len = sizeof(ss);
	if (peer && getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
		addr_of(peer, &ss);
}

static void fill(struct tp_worker *w, const struct tp_conn *c, struct tp_connview_rec *r)
{
	memset(r, 0, sizeof(*r));
	r->id = c->id;
	r->age_ms = w->now_ms > c->start_ms ? w->now_ms - c->start_ms : 0;
	r->idle_ms =
		c->active_ms && w->now_ms > c->active_ms ? w->now_ms - c->active_ms : r->age_ms;
	r->rx_bytes = c->rx_bytes;
	r->tx_bytes = c->tx_bytes;
	r->buffered_up = c->dir[TP_DOWN].pending;
	r->buffered_down = c->dir[TP_UP].pending;
	r->listener = !c->listener ? TP_CONNVIEW_NONE
		      : c->listener->dyn_id
			      ? TP_CONNVIEW_LDS | (uint32_t)(c->listener->dyn_id & 0x7fffffff)
			      : c->listener->idx;
	r->cluster = r->host = TP_CONNVIEW_NONE;
	if (c->cluster && c->cluster >= w->clusters &&
	    c->cluster < w->clusters + w->cfg->n_clusters) {
		r->cluster = (uint32_t)(c->cluster - w->clusters);
		/* Its configured endpoint (a DNS cluster's: the name it was resolved from). */
		if (c->host && c->host->ep < c->cluster->cfg->n_endpoints)
			r->host = c->host->ep;
	}
	r->phase = c->phase;
	r->flags = (c->flushing ? TP_CONNVIEW_FLUSHING : 0) |
		   (c->up_connected || c->phase == TP_PHASE_RELAY ? TP_CONNVIEW_UP_CONNECTED : 0) |
		   (c->chain_held ? TP_CONNVIEW_CHAIN_HELD : 0);
	sock_addrs(c->side[TP_DOWN].fd, &r->down_local, &r->down_remote);
	if (c->phase >= TP_PHASE_CONNECTING)
		sock_addrs(c->side[TP_UP].fd, &r->up_local, NULL);
}

static int write_all(int fd, const void *p, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p = (const char *)p + n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int tp_connview_write(struct tp_worker *w, int fd)
{
	static struct tp_connview_rec batch[BATCH];
	uint32_t size = w->conn_size ? w->conn_size : tp_slot_round(sizeof(struct tp_conn));
	struct tp_connview_hdr h;
	uint32_t n = 0, in_batch = 0, cut = 0;
	off_t off = sizeof(h);
	int ret;

	/* The master wrote req_seq only: the header may be that short. */
	memset(&h, 0, sizeof(h));
	if (pread(fd, &h, sizeof(h), 0) <
	    (ssize_t)(offsetof(struct tp_connview_hdr, req_seq) + sizeof(h.req_seq)))
		return -EPROTO;
	w->now_ms = tp_now_ms();
	for (uint32_t i = 0; i < w->n_chunks * TP_CONN_CHUNK; i++) {
		const struct tp_conn *c =
			(const struct tp_conn *)((const uint8_t *)w->chunks[i / TP_CONN_CHUNK] +
						 (size_t)(i % TP_CONN_CHUNK) * size);

		if (c->phase >= TP_PHASE_CLOSING)
			continue;
		if (n == TP_CONNVIEW_MAX) {
			cut++;
			continue;
		}
		fill(w, c, &batch[in_batch++]);
		n++;
		if (in_batch == BATCH) {
			ret = write_all(fd, batch, sizeof(batch), off);
			if (ret < 0)
				return ret;
			off += (off_t)sizeof(batch);
			in_batch = 0;
		}
	}
	if (in_batch) {
		ret = write_all(fd, batch, in_batch * sizeof(batch[0]), off);
		if (ret < 0)
			return ret;
	}
	h.magic = TP_CONNVIEW_MAGIC;
	h.version = TP_CONNVIEW_VERSION;
	h.done_seq = h.req_seq;
	h.rec_size = sizeof(struct tp_connview_rec);
	h.n = n;
	h.truncated = cut;
	return tp_connview_write_header(fd, &h);
}

int tp_connview_write_header(int fd, const struct tp_connview_hdr *h)
{
	size_t after = offsetof(struct tp_connview_hdr, done_seq);
	int ret;

	/* Everything but req_seq, which is the master's: a request the master makes while this
	 * answer is written (the previous round timed out) must not be overwritten with the old
	 * number, or the next answer says done_seq of the old round and the master takes it for
	 * no answer. done_seq and the counts last, in one write, after the records. */
	ret = write_all(fd, h, offsetof(struct tp_connview_hdr, req_seq), 0);
	if (ret < 0)
		return ret;
	return write_all(fd, (const uint8_t *)h + after, sizeof(*h) - after, (off_t)after);
}

/* The byte relay of an established session, one body for both directions.
 *
 * Readiness comes from a multishot POLLIN per socket (io_uring); the bytes move by inline
 * non-blocking splice(2) into a pipe borrowed from the worker's pool and out to the other socket
 * (DESIGN.md: 0.19 CPU-s/GB against 0.73 for IORING_OP_SPLICE, which always runs on an io-wq
 * thread and so parks a kernel thread per idle direction). The pipe goes back to the pool as
 * soon as it is empty, so an idle connection holds no pipe. When no pipe can be had (the
 * unprivileged pipe page budget, EMFILE) a direction copies through a pooled buffer instead.
 *
 * A multishot poll completes once per wakeup, not once per byte: `readable` remembers that the
 * socket may hold more, and is cleared only when a read finds it empty. */
#include "core/conn/relay.h"

#include "core/config/config-t.h"
#include "core/conn/conn.h"
#include "core/conn/early_data.h"
#include "core/worker/lb-t.h"
#include "core/base/log.h"
#include "shm/stats.h"
#include "uring/pool.h"
#include "uring/ring.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Rounds of read+write per direction per wakeup before another connection gets a turn:
 * up to 8 MiB with 1 MiB pipes. */
#define MAX_ROUNDS 8

#define COPY_BUF_SIZE (64u * 1024u)

/* The counters one direction moves; the direction from downstream fills tcp.* on the read and
 * cluster.* on the write, the direction from upstream the other way round. */
struct dir_stats {
	uint32_t read_total;
	uint32_t write_total;
	uint32_t buffered; /* gauge, TP_STATS_NONE if the direction has none */
	uint32_t paused;
	uint32_t resumed;
};

static void get_dir_stats(const struct tp_conn *c, enum tp_side src, struct dir_stats *ds)
{
	uint32_t tcp = c->proxy->stats_base, cl = c->cluster->cfg->stats_base;

	if (src == TP_DOWN) {
		ds->read_total = tcp + TP_TCP_downstream_cx_rx_bytes_total;
		ds->write_total = cl + TP_CLUSTER_upstream_cx_tx_bytes_total;
		ds->buffered = tcp + TP_TCP_downstream_cx_rx_bytes_buffered;
		ds->paused = tcp + TP_TCP_downstream_flow_control_paused_reading_total;
		ds->resumed = tcp + TP_TCP_downstream_flow_control_resumed_reading_total;
	} else {
		ds->read_total = cl + TP_CLUSTER_upstream_cx_rx_bytes_total;
		ds->write_total = tcp + TP_TCP_downstream_cx_tx_bytes_total;
		ds->buffered = tcp + TP_TCP_downstream_cx_tx_bytes_buffered;
		ds->paused = cl + TP_CLUSTER_upstream_flow_control_paused_reading_total;
		ds->resumed = cl + TP_CLUSTER_upstream_flow_control_resumed_reading_total;
	}
}

/* A direction starts on the copy path: recv/send through a pooled buffer costs one syscall less
 * per small message than splice (a short recv proves the socket empty; a splice needs another
 * call to find EAGAIN), and request/response traffic is mostly small messages. The first read
 * that fills a whole buffer marks the direction bulk, and from then on it moves by zero-copy
 * splice through a pooled pipe (DESIGN.md's hybrid relay, measured best on both workloads). */
static int stage_acquire(struct tp_worker *w, struct tp_dir *d)
{
	if (d->bulk && tp_pipe_get(&w->pipes, &d->stage.pipe) == 0) {
		d->stage.kind = TP_STAGE_PIPE;
		return 0;
	}
	d->stage.buf.data = tp_buf_get(&w->bufs);
	if (d->stage.buf.data) {
		d->stage.buf.head = 0;
		d->stage.kind = TP_STAGE_BUF;
		return 0;
	}
	if (!d->bulk && tp_pipe_get(&w->pipes, &d->stage.pipe) == 0) {
		d->stage.kind = TP_STAGE_PIPE;
		return 0;
	}
	return -ENOMEM;
}

/* Gives the staging area back; bytes still in it are dropped (only on abort). */
static void stage_release(struct tp_worker *w, struct tp_dir *d)
{
	switch (d->stage.kind) {
	case TP_STAGE_PIPE:
		if (d->pending)
			tp_pipe_discard(&w->pipes, &d->stage.pipe);
		else
			tp_pipe_put(&w->pipes, &d->stage.pipe);
		break;
	case TP_STAGE_BUF:
		tp_buf_put(&w->bufs, d->stage.buf.data);
		break;
	}
	d->stage.kind = TP_STAGE_NONE;
}

/* Reads up to *room bytes from src into the stage: >0 bytes, 0 at EOF, or -errno. *room is
 * lowered to what was asked for, so that the caller can tell a short read. */
static ssize_t stage_fill(struct tp_dir *d, int src, uint32_t *room)
{
	ssize_t n;

	if (d->stage.kind == TP_STAGE_PIPE) {
		n = splice(src, NULL, d->stage.pipe.wfd, NULL, *room,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	} else {
		uint32_t end = d->stage.buf.head + d->pending;

		if (!d->pending) {
			d->stage.buf.head = 0;
			end = 0;
		} else if (end == COPY_BUF_SIZE && d->stage.buf.head) {
			/* The tail is used up but the head has been sent: move the rest to the
			 * front. Otherwise no read could be tried here, and a read that was not
			 * tried says nothing about the socket (its FIN may be waiting). */
			memmove(d->stage.buf.data, d->stage.buf.data + d->stage.buf.head,
				d->pending);
			d->stage.buf.head = 0;
			end = d->pending;
		}
		if (*room > COPY_BUF_SIZE - end)
			*room = COPY_BUF_SIZE - end;
		if (!*room)
			return -EAGAIN;
		n = recv(src, d->stage.buf.data + end, *room, MSG_DONTWAIT);
	}
	return n < 0 ? -errno : n;
}

/* Writes what the stage holds to dst: >0 bytes, or -errno. */
static ssize_t stage_drain(struct tp_dir *d, int dst)
{
	ssize_t n;

	if (d->stage.kind == TP_STAGE_PIPE) {
		n = splice(d->stage.pipe.rfd, NULL, dst, NULL, d->pending,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	} else {
		n = send(dst, d->stage.buf.data + d->stage.buf.head, d->pending,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0)
			d->stage.buf.head += (uint32_t)n;
	}
	return n < 0 ? -errno : n;
}

static uint32_t stage_capacity(const struct tp_dir *d)
{
	uint32_t cap = d->stage.kind == TP_STAGE_BUF ? COPY_BUF_SIZE : d->stage.pipe.size;

	return d->limit < cap ? d->limit : cap;
}

/* EAGAIN from a splice into a non-empty pipe means either "socket empty" or "pipe full"; the
 * socket's queue length tells which. Only asked in that ambiguous case. */
static bool socket_has_bytes(int fd)
{
	int n = 0;

	return ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

static void pause_reading(struct tp_worker *w, struct tp_dir *d, const struct dir_stats *ds)
{
	d->paused = 1;
	d->resume_at = d->pending / 2;
	tp_stat_inc(w->stats, ds->paused);
}

static void resume_reading(struct tp_worker *w, struct tp_dir *d, const struct dir_stats *ds)
{
	d->paused = 0;
	tp_stat_inc(w->stats, ds->resumed);
}

/* The stage cannot take more. A source that was reset is not waited for: what it queued beyond
 * the stage is dropped and the direction ends with what it holds, as Envoy closes a read-disabled
 * connection whose peer is gone without reading it again. */
static void stage_full(struct tp_worker *w, struct tp_dir *d, const struct dir_stats *ds)
{
	if (d->src_failed) {
		d->src_eof = 1;
		d->readable = 0;
	} else {
		pause_reading(w, d, ds);
	}
}

/* Side s is gone (RST, or a write to it failed). What was meant for it is dropped, as Envoy
 * closes the other side with FlushWrite. What s sent before it went is delivered: it may still sit
 * in s's receive queue (a reply and an RST that arrive together), and recv/splice return those
 * bytes before the end, so the direction from s reads on to its EOF (from the run queue, so that
 * it does not wait on a wakeup) while its stage has room. A failed read from s, or a direction
 * already paused, ends at once with what it holds: Envoy reads a reset socket while reading is
 * enabled, and closes one whose reading is disabled without reading it again. */
static void side_failed(struct tp_worker *w, struct tp_conn *c, enum tp_side s, bool read_failed)
{
	struct tp_dir *from = &c->dir[s], *to = &c->dir[!s];
	struct dir_stats ds;

	if (s == TP_UP)
		c->flags |= TP_CF_CLOSED_BY_UPSTREAM;
	from->src_failed = 1;
	if (read_failed || from->paused) {
		from->src_eof = 1;
		from->readable = 0;
		if (from->paused) {
			get_dir_stats(c, s, &ds);
			resume_reading(w, from, &ds);
		}
	} else if (!from->src_eof) {
		from->readable = 1;
		tp_conn_queue(w, c);
	}
	get_dir_stats(c, !s, &ds);
	if (to->pending)
		tp_stat_sub(w->stats, ds.buffered, to->pending);
	if (to->paused)
		resume_reading(w, to, &ds);
	stage_release(w, to);
	to->pending = 0;
	to->src_eof = 1;
	to->fin_sent = 1;
	to->readable = 0;
}

static bool dir_done(const struct tp_dir *d)
{
	return d->src_eof && d->fin_sent && !d->pending;
}

/* After any progress: end the session when both directions are done; when only the flush to
 * the upstream is left, let the downstream go now (Envoy's upstream_flush). */
static void check_done(struct tp_worker *w, struct tp_conn *c)
{
	struct tp_dir *up = &c->dir[TP_DOWN], *down = &c->dir[TP_UP];

	if (dir_done(up) && dir_done(down)) {
		tp_conn_close(w, c);
		return;
	}
	if (!(c->flags & TP_CF_FLUSHING) && dir_done(down) && up->src_eof && up->pending) {
		c->flags |= TP_CF_FLUSHING;
		tp_stat_inc(w->stats, c->proxy->stats_base + TP_TCP_upstream_flush_total);
		tp_stat_add(w->stats, c->proxy->stats_base + TP_TCP_upstream_flush_active, 1);
		tp_conn_close_side(w, c, TP_DOWN, false);
	}
}

/* Moves bytes from side s to the other side until both sockets would block, the source is
 * paused, or the round budget is spent (then the connection is queued for another turn). */
static void pump(struct tp_worker *w, struct tp_conn *c, enum tp_side s)
{
	struct tp_dir *d = &c->dir[s];
	int src = c->fd[s], dst = c->fd[!s];
	struct dir_stats ds;
	unsigned round;
	ssize_t n;

	/* Bytes read before the upstream connected go first; until they have, the socket is
	 * not read. */
	if (s == TP_DOWN && c->early) {
		int ret = tp_early_flush(w, c);

		if (ret < 0 && ret != -EAGAIN)
			side_failed(w, c, TP_UP, false);
		if (ret < 0)
			return;
	}
	get_dir_stats(c, s, &ds);
	for (round = 0; round < MAX_ROUNDS; round++) {
		bool progress = false;

		if (d->readable && !d->src_eof && !d->paused) {
			if (d->stage.kind == TP_STAGE_NONE && stage_acquire(w, d) < 0) {
				tp_warn("no pipe or buffer for connection %u; closing it", c->idx);
				tp_conn_close(w, c);
				return;
			}
			if (d->pending >= stage_capacity(d)) {
				stage_full(w, d, &ds);
			} else {
				uint32_t room = d->limit - d->pending;

				n = stage_fill(d, src, &room);
				if (n > 0) {
					d->pending += (uint32_t)n;
					if (d->stage.kind == TP_STAGE_BUF) {
						if ((uint32_t)n == room)
							d->bulk = 1;
						else if (!d->hup_seen)
							/* A short recv emptied the socket; a later
							 * byte wakes the poll again. Not when its FIN
							 * waits: that wakeup has already come. */
							d->readable = 0;
					}
					tp_stat_add(w->stats, ds.read_total, (uint64_t)n);
					tp_stat_add(w->stats, ds.buffered, (uint64_t)n);
					if (s == TP_DOWN)
						c->rx_bytes += (uint64_t)n;
					progress = true;
				} else if (n == 0) {
					d->src_eof = 1;
					d->readable = 0;
					/* As Envoy: the upstream closed the connection if
					 * its FIN completed it (ours was already sent). */
					if (s == TP_UP && c->dir[TP_DOWN].fin_sent)
						c->flags |= TP_CF_CLOSED_BY_UPSTREAM;
					progress = true;
				} else if (n == -EAGAIN) {
					/* With bytes staged, EAGAIN may mean a full stage (a
					 * pipe runs out of slots before bytes when segments
					 * are small). Pause and read again once it drains if
					 * the socket holds bytes or its FIN: FIONREAD does not
					 * count a FIN, and its wakeup has already come. */
					if (d->pending && (d->hup_seen || socket_has_bytes(src)))
						stage_full(w, d, &ds);
					else
						d->readable = 0;
				} else if (n != -EINTR) {
					side_failed(w, c, s, true);
					break;
				}
			}
		}
		if (d->pending && !d->dst_wait) {
			n = stage_drain(d, dst);
			if (n > 0) {
				d->pending -= (uint32_t)n;
				tp_stat_add(w->stats, ds.write_total, (uint64_t)n);
				tp_stat_sub(w->stats, ds.buffered, (uint64_t)n);
				if (s == TP_UP)
					c->tx_bytes += (uint64_t)n;
				if (d->paused && d->pending <= d->resume_at)
					resume_reading(w, d, &ds);
				/* Gone bulk: give the buffer back so the next read splices. */
				if (!d->pending && d->bulk && d->stage.kind == TP_STAGE_BUF)
					stage_release(w, d);
				progress = true;
			} else if (n == -EAGAIN) {
				d->dst_wait = 1;
				tp_conn_arm_poll_out(w, c, !s);
			} else if (n != -EINTR) {
				side_failed(w, c, !s, false);
				break;
			}
		}
		if (!progress)
			break;
		c->active_ms = w->now_ms;
	}
	if (round == MAX_ROUNDS &&
	    ((d->readable && !d->src_eof && !d->paused) || (d->pending && !d->dst_wait)))
		tp_conn_queue(w, c);
	if (!d->pending && d->stage.kind != TP_STAGE_NONE)
		stage_release(w, d);
	if (d->src_eof && !d->pending && !d->fin_sent) {
		/* Half-close: forward the FIN, keep the other direction flowing. */
		d->fin_sent = 1;
		/* A plain syscall: io_uring runs IORING_OP_SHUTDOWN on an io-wq thread, after a
		 * close queued behind it may already have freed (and reused) the fd number. */
		if (c->fd[!s] >= 0)
			shutdown(c->fd[!s], SHUT_WR);
	}
}

static void pump_both(struct tp_worker *w, struct tp_conn *c, enum tp_side first)
{
	pump(w, c, first);
	if (c->state == TP_CONN_RELAY)
		pump(w, c, !first);
	if (c->state == TP_CONN_RELAY)
		check_done(w, c);
}

void tp_relay_start(struct tp_worker *w, struct tp_conn *c)
{
	const struct tp_listener_cfg *l = c->listener->cfg;

	c->state = TP_CONN_RELAY;
	/* Envoy: what the upstream connection buffers is bounded by the cluster's limit, what
	 * the downstream connection buffers by the listener's. */
	c->dir[TP_DOWN].limit = c->cluster->cfg->per_connection_buffer_limit_bytes;
	c->dir[TP_UP].limit = l->per_connection_buffer_limit_bytes;
	tp_conn_arm_poll_in(w, c, TP_DOWN);
	tp_conn_arm_poll_in(w, c, TP_UP);
	/* The downstream was read before: flush that, and read on what its poll reported. */
	if (c->flags & TP_CF_EARLY)
		pump_both(w, c, TP_DOWN);
}

static int socket_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return -err;
}

/* While only the flush to the upstream is left, data from the upstream ends the session, as
 * Envoy's Drainer treats it (the downstream could not receive it any more). */
static bool upstream_sent_data(int fd)
{
	char b;

	return recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

void tp_relay_on_readable(struct tp_worker *w, struct tp_conn *c, enum tp_side s, unsigned mask)
{
	if (c->state != TP_CONN_RELAY || c->fd[s] < 0)
		return;
	if ((c->flags & TP_CF_FLUSHING) && s == TP_UP && upstream_sent_data(c->fd[s])) {
		tp_conn_close(w, c);
		return;
	}
	if (mask & (POLLRDHUP | POLLHUP | POLLERR))
		c->dir[s].hup_seen = 1;
	/* An error is looked at even when s is not being read (paused, or after its FIN): a
	 * reset must end what is meant for s, and let what s sent be flushed. */
	if ((mask & POLLERR) && socket_error(c->fd[s]) < 0)
		side_failed(w, c, s, false);
	else if (!c->dir[s].src_eof)
		c->dir[s].readable = 1;
	pump_both(w, c, s);
}

void tp_relay_on_writable(struct tp_worker *w, struct tp_conn *c, enum tp_side s)
{
	if (c->state != TP_CONN_RELAY)
		return;
	c->dir[!s].dst_wait = 0;
	pump_both(w, c, !s);
}

void tp_relay_resume(struct tp_worker *w, struct tp_conn *c)
{
	if (c->state == TP_CONN_RELAY)
		pump_both(w, c, TP_DOWN);
}

void tp_relay_release(struct tp_worker *w, struct tp_conn *c)
{
	for (int s = 0; s < 2; s++) {
		struct tp_dir *d = &c->dir[s];

		if (c->cluster && d->pending) {
			struct dir_stats ds;

			get_dir_stats(c, (enum tp_side)s, &ds);
			tp_stat_sub(w->stats, ds.buffered, d->pending);
		}
		stage_release(w, d);
		d->pending = 0;
	}
}

/* The byte engine of a connection, one body for both directions.
 *
 * Readiness comes from a multishot POLLIN per socket (io_uring). A direction starts on the copy
 * path: a pooled buffer filled by the source side's transport and drained by the other side's.
 * When both sides are raw and a read fills a whole buffer, the direction turns bulk and moves by
 * inline non-blocking splice(2) through a pooled pipe (DESIGN.md's hybrid relay: small messages
 * cost one syscall less than splice, bulk moves without a copy; never IORING_OP_SPLICE, which
 * parks an io-wq thread per waiting direction). Stages go back to their pool as soon as they are
 * empty, so an idle connection holds no pipe and no buffer.
 *
 * A multishot poll completes once per wakeup, not once per byte: a side's `readable` remembers
 * that it may hold more, and only a read that finds it empty clears it (the transport decides
 * what "empty" means: a short recv for the raw one).
 *
 * Before the upstream exists, the downstream direction's stage is filled the same way (receive
 * before connect) and each read is offered to the filter chain; the relay then drains it first.
 * One engine, one flush path, one set of pause/resume counters. */
#include "core/conn/relay.h"

#include "core/base/log.h"
#include "core/config/config-t.h"
#include "core/conn/chain.h"
#include "core/conn/conn.h"
#include "core/worker/lb-t.h"
#include "shm/stats.h"
#include "uring/pool.h"
#include "uring/ring.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Rounds of read+write per direction per wakeup before another connection gets a turn:
 * up to 8 MiB with 1 MiB pipes. */
#define MAX_ROUNDS 8

/* The counters one direction moves; the direction from downstream fills tcp.* on the read and
 * cluster.* on the write, the direction from upstream the other way round. Before the upstream
 * is chosen only the tcp.* ones are known (early reads). */
struct dir_stats {
	uint32_t read_total;
	uint32_t write_total;
	uint32_t buffered;
	uint32_t paused;
	uint32_t resumed;
};

static void get_dir_stats(const struct tp_conn *c, enum tp_side_id src, struct dir_stats *ds)
{
	uint32_t tcp = c->proxy->stats_base;
	uint32_t cl = c->cluster ? c->cluster->cfg->stats_base : 0;

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

/* ---- stages ---- */

static bool both_raw(const struct tp_conn *c)
{
	return c->side[TP_DOWN].transport->raw && c->side[TP_UP].transport->raw;
}

static int stage_acquire(struct tp_worker *w, struct tp_conn *c, struct tp_dir *d)
{
	bool splice_ok = c->phase == TP_PHASE_RELAY && both_raw(c);

	if (d->bulk && splice_ok && tp_pipe_get(&w->pipes, &d->stage.pipe) == 0) {
		d->stage.kind = TP_STAGE_PIPE;
		return 0;
	}
	d->stage.buf.data = tp_buf_get(&w->bufs);
	if (d->stage.buf.data) {
		d->stage.buf.head = 0;
		d->stage.buf.cap = (uint32_t)w->bufs.size;
		d->stage.kind = TP_STAGE_BUF;
		return 0;
	}
	if (!d->bulk && splice_ok && tp_pipe_get(&w->pipes, &d->stage.pipe) == 0) {
		d->stage.kind = TP_STAGE_PIPE;
		return 0;
	}
	return -ENOMEM;
}

static void buf_free(struct tp_worker *w, struct tp_stage *st)
{
	/* Only early data grows a buffer past the pool's size; such a one is not pooled. */
	if (st->buf.cap == w->bufs.size)
		tp_buf_put(&w->bufs, st->buf.data);
	else
		free(st->buf.data);
}

/* Gives the stage back; bytes still in it are dropped (only on abort). */
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
		buf_free(w, &d->stage);
		break;
	}
	d->stage.kind = TP_STAGE_NONE;
}

/* Early data only: room for one more early read in the buffer, growing it by doubling up to the
 * limit plus one read, the most it can hold (reading stops once it reaches the limit). */
static int buf_make_room(struct tp_worker *w, struct tp_dir *d, uint32_t want)
{
	struct tp_stage *st = &d->stage;
	uint32_t cap = st->buf.cap, most = d->limit + TP_EARLY_READ_BYTES, need;
	uint8_t *n;

	if (st->buf.head) {
		memmove(st->buf.data, st->buf.data + st->buf.head, d->pending);
		st->buf.head = 0;
	}
	need = d->pending + want;
	if (cap >= need)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > most)
		cap = most > need ? most : need;
	n = malloc(cap);
	if (!n)
		return -ENOMEM;
	memcpy(n, st->buf.data, d->pending);
	buf_free(w, st);
	st->buf.data = n;
	st->buf.cap = cap;
	return 0;
}

/* One read from side src into a buffer stage, of at most room bytes (> 0). The transport's
 * answer: >0 bytes, 0 at the end of stream, -errno. *room is lowered to what was asked for, so
 * that the caller can tell a read that filled it. */
static ssize_t buf_fill(struct tp_dir *d, struct tp_side *src, uint32_t *room)
{
	struct tp_stage *st = &d->stage;
	uint32_t end;

	if (!d->pending) {
		st->buf.head = 0;
	} else if (st->buf.head + d->pending == st->buf.cap && st->buf.head) {
		/* The tail is used up but the head has been written: move the rest to the front.
		 * Otherwise no read could be tried here, and a read that was not tried says
		 * nothing about the socket (its FIN may be waiting). */
		memmove(st->buf.data, st->buf.data + st->buf.head, d->pending);
		st->buf.head = 0;
	}
	end = st->buf.head + d->pending;
	if (*room > st->buf.cap - end)
		*room = st->buf.cap - end;
	return src->transport->read(src, st->buf.data + end, *room);
}

static uint32_t stage_capacity(const struct tp_dir *d)
{
	uint32_t cap = d->stage.kind == TP_STAGE_BUF ? d->stage.buf.cap : d->stage.pipe.size;

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
static void stage_full(struct tp_worker *w, struct tp_conn *c, struct tp_dir *d,
		       const struct dir_stats *ds)
{
	if (d->src_failed) {
		d->src_eof = 1;
		c->side[d - c->dir].readable = 0;
	} else {
		pause_reading(w, d, ds);
	}
}

/* Side s is gone (RST, or a write to it failed). What was meant for it is dropped, as Envoy
 * closes the other side with FlushWrite. What s sent before it went is delivered: it may still sit
 * in s's receive queue (a reply and an RST that arrive together), and reads return those bytes
 * before the end, so the direction from s reads on to its end (from the run queue, so that it
 * does not wait on a wakeup) while its stage has room. A failed read from s, or a direction
 * already paused, ends at once with what it holds: Envoy reads a reset socket while reading is
 * enabled, and closes one whose reading is disabled without reading it again. */
static void side_failed(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s, bool read_failed)
{
	struct tp_dir *from = &c->dir[s], *to = &c->dir[!s];
	struct tp_side *sd = &c->side[s];
	struct dir_stats ds;

	if (s == TP_UP)
		c->closed_by_upstream = 1;
	from->src_failed = 1;
	if (read_failed || from->paused) {
		from->src_eof = 1;
		sd->readable = 0;
		if (from->paused) {
			get_dir_stats(c, s, &ds);
			resume_reading(w, from, &ds);
		}
	} else if (!from->src_eof) {
		sd->readable = 1;
		sd->read_blocked = 0;
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
	c->side[!s].readable = 0;
	sd->write_blocked = sd->write_wants_read = 0;
	sd->shut_pending = 0;
	sd->unsent = 0;
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
	if (!c->flushing && dir_done(down) && up->src_eof && up->pending) {
		c->flushing = 1;
		tp_stat_inc(w->stats, c->proxy->stats_base + TP_TCP_upstream_flush_total);
		tp_stat_add(w->stats, c->proxy->stats_base + TP_TCP_upstream_flush_active, 1);
		tp_conn_close_side(w, c, TP_DOWN);
	}
}

/* A read of the direction from s asked for -EAGAIN: nothing now. A transport that must write
 * before it can read waits for POLLOUT; the raw one has cleared readable itself. */
static void read_would_block(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s)
{
	struct tp_side *sd = &c->side[s];

	if (sd->want & TP_WANT_WRITE) {
		sd->read_blocked = 1;
		tp_conn_arm_poll_out(w, c, s);
	} else {
		sd->readable = 0;
	}
}

static bool can_read(const struct tp_dir *d, const struct tp_side *src)
{
	return src->readable && !d->src_eof && !d->paused && !src->read_blocked &&
	       !src->handshaking && tp_side_open(src);
}

/* Bytes came into the stage: count them where they came from. */
static void account_read(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s, uint32_t n,
			 const struct dir_stats *ds)
{
	c->dir[s].pending += n;
	tp_stat_add(w->stats, ds->read_total, n);
	tp_stat_add(w->stats, ds->buffered, n);
	if (s == TP_DOWN)
		c->rx_bytes += n;
}

/* The source ended its stream. As Envoy: the upstream closed the connection if its end
 * completed it (ours was already sent). */
static void source_ended(struct tp_conn *c, enum tp_side_id s)
{
	c->dir[s].src_eof = 1;
	c->side[s].readable = 0;
	if (s == TP_UP && c->dir[TP_DOWN].fin_sent)
		c->closed_by_upstream = 1;
}

/* One read of the relay for the direction from s: true if it made progress. */
static bool relay_read(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s,
		       const struct dir_stats *ds)
{
	struct tp_dir *d = &c->dir[s];
	struct tp_side *src = &c->side[s];
	uint32_t room;
	ssize_t n;

	if (d->pending >= stage_capacity(d)) {
		stage_full(w, c, d, ds);
		return false;
	}
	room = d->limit - d->pending;
	if (d->stage.kind == TP_STAGE_PIPE) {
		n = splice(src->fd, NULL, d->stage.pipe.wfd, NULL, room,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		n = n < 0 ? -errno : n;
		if (n == -EAGAIN) {
			/* With bytes staged, EAGAIN may mean a full pipe (it runs out of slots
			 * before bytes when segments are small). Pause and read again once it
			 * drains if the socket holds bytes or its FIN: FIONREAD does not count a
			 * FIN, and its wakeup has already come. */
			if (d->pending && (src->hup_seen || socket_has_bytes(src->fd)))
				stage_full(w, c, d, ds);
			else
				src->readable = 0;
			return false;
		}
	} else {
		n = buf_fill(d, src, &room);
		/* A read that filled the buffer: bulk, where both sides can splice. */
		if (n > 0 && (uint32_t)n == room && both_raw(c))
			d->bulk = 1;
		if (n == -EAGAIN) {
			read_would_block(w, c, s);
			return false;
		}
	}
	if (n > 0) {
		account_read(w, c, s, (uint32_t)n, ds);
		return true;
	}
	if (n == 0) {
		source_ended(c, s);
		return true;
	}
	if (n != -EINTR)
		side_failed(w, c, s, true);
	return false;
}

/* A write towards side `to` cannot go on: wait for what its transport asked (POLLOUT, or the
 * readability a transport that must read to write waits for). */
static void block_write(struct tp_worker *w, struct tp_conn *c, enum tp_side_id to)
{
	struct tp_side *dst = &c->side[to];

	dst->write_blocked = 1;
	dst->write_wants_read = !(dst->want & TP_WANT_WRITE);
	tp_conn_arm_want(w, c, to);
}

/* The destination's transport took bytes it could not send yet: send them first. True if it
 * has nothing left; on -EAGAIN the side waits, on an error it has failed. */
static bool flush_unsent(struct tp_worker *w, struct tp_conn *c, enum tp_side_id to)
{
	struct tp_side *dst = &c->side[to];
	int ret;

	if (!dst->unsent)
		return true;
	ret = dst->transport->flush(dst);
	if (!ret)
		return true;
	if (ret == -EAGAIN)
		block_write(w, c, to);
	else if (ret != -EINTR)
		side_failed(w, c, to, false);
	return false;
}

/* One write of the direction from s: true if it made progress. */
static bool relay_write(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s,
			const struct dir_stats *ds)
{
	struct tp_dir *d = &c->dir[s];
	struct tp_side *src = &c->side[s], *dst = &c->side[!s];
	ssize_t n;

	if (!flush_unsent(w, c, !s) || !d->pending)
		return false;
	if (d->stage.kind == TP_STAGE_PIPE) {
		n = splice(d->stage.pipe.rfd, NULL, dst->fd, NULL, d->pending,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n < 0) {
			n = -errno;
			if (n == -EAGAIN)
				dst->want = TP_WANT_WRITE;
		}
	} else {
		/* The source's end is already known (read, or proven next by a short read after its
		 * FIN): forward_end() follows these bytes in this pump. */
		dst->fin_follows = d->src_eof || src->eof_next;
		n = dst->transport->write(dst, d->stage.buf.data + d->stage.buf.head, d->pending);
		dst->fin_follows = 0;
		if (n > 0)
			d->stage.buf.head += (uint32_t)n;
	}
	if (n > 0) {
		d->pending -= (uint32_t)n;
		tp_stat_add(w->stats, ds->write_total, (uint64_t)n);
		tp_stat_sub(w->stats, ds->buffered, (uint64_t)n);
		if (s == TP_UP)
			c->tx_bytes += (uint64_t)n;
		if (d->paused && d->pending <= d->resume_at)
			resume_reading(w, d, ds);
		/* Gone bulk: give the buffer back so the next read splices. */
		if (!d->pending && d->bulk && d->stage.kind == TP_STAGE_BUF)
			stage_release(w, d);
		return true;
	}
	if (n == -EAGAIN)
		block_write(w, c, !s);
	else if (n != -EINTR)
		side_failed(w, c, !s, false);
	return false;
}

/* Half-close: the source's end of stream goes on once everything before it has, through the
 * destination's transport (a FIN; a close_notify or END_STREAM for a framing one). The other
 * direction keeps flowing. */
static void forward_end(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s)
{
	struct tp_dir *d = &c->dir[s];
	struct tp_side *dst = &c->side[!s];
	int ret;

	if (!d->src_eof || d->pending || d->fin_sent || dst->handshaking)
		return;
	if (!tp_side_open(dst)) {
		d->fin_sent = 1;
		return;
	}
	if (dst->shut_pending && dst->write_blocked)
		return;
	ret = dst->transport->shutdown_write(dst);
	if (ret == -EAGAIN) {
		dst->shut_pending = 1;
		block_write(w, c, !s);
		return;
	}
	dst->shut_pending = 0;
	d->fin_sent = 1;
	if (ret < 0)
		side_failed(w, c, !s, false);
}

/* Moves bytes from side s to the other side until both would block, the source is paused, or
 * the round budget is spent (then the connection is queued for another turn). */
static void pump(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s)
{
	struct tp_dir *d = &c->dir[s];
	struct tp_side *src = &c->side[s], *dst = &c->side[!s];
	struct dir_stats ds;
	unsigned round;

	get_dir_stats(c, s, &ds);
	for (round = 0; round < MAX_ROUNDS; round++) {
		bool progress = false;

		if (can_read(d, src)) {
			if (d->stage.kind == TP_STAGE_NONE && stage_acquire(w, c, d) < 0) {
				tp_warn("no pipe or buffer for connection %u; closing it", c->idx);
				tp_conn_close(w, c);
				return;
			}
			progress = relay_read(w, c, s, &ds);
			if (tp_conn_closing(c))
				return;
		}
		if ((d->pending || dst->unsent) && !dst->write_blocked && !dst->handshaking &&
		    tp_side_open(dst)) {
			progress |= relay_write(w, c, s, &ds);
			if (tp_conn_closing(c))
				return;
		}
		if (!progress)
			break;
		c->active_ms = w->now_ms;
	}
	if (round == MAX_ROUNDS && (can_read(d, src) || (d->pending && !dst->write_blocked)))
		tp_conn_queue(w, c);
	if (!d->pending && d->stage.kind != TP_STAGE_NONE)
		stage_release(w, d);
	forward_end(w, c, s);
}

static void pump_both(struct tp_worker *w, struct tp_conn *c, enum tp_side_id first)
{
	pump(w, c, first);
	if (c->phase == TP_PHASE_RELAY)
		pump(w, c, !first);
	if (c->phase == TP_PHASE_RELAY)
		check_done(w, c);
}

void tp_relay_start(struct tp_worker *w, struct tp_conn *c)
{
	const struct tp_listener_cfg *l = c->listener->cfg;
	struct tp_side *up = &c->side[TP_UP];

	c->phase = TP_PHASE_RELAY;
	/* Envoy: what the upstream connection buffers is bounded by the cluster's limit, what
	 * the downstream connection buffers by the listener's. */
	c->dir[TP_DOWN].limit = c->cluster->cfg->per_connection_buffer_limit_bytes;
	c->dir[TP_UP].limit = l->per_connection_buffer_limit_bytes;
	/* The upstream's handshake may have read stream bytes with its last message. */
	if (up->transport->pending && up->transport->pending(up))
		up->readable = 1;
	tp_conn_arm_poll_in(w, c, TP_DOWN);
	tp_conn_arm_poll_in(w, c, TP_UP);
	/* What was read early goes first; then read on what the polls reported. */
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
static bool upstream_sent_data(struct tp_side *up)
{
	uint8_t b;

	if (up->transport->raw)
		return recv(up->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
	return up->transport->read(up, &b, 1) > 0;
}

void tp_relay_on_readable(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s, unsigned mask)
{
	struct tp_side *sd = &c->side[s];

	if (c->flushing && s == TP_UP && upstream_sent_data(sd)) {
		tp_conn_close(w, c);
		return;
	}
	/* An error is looked at even when s is not being read (paused, or after its FIN): a
	 * reset must end what is meant for s, and let what s sent be flushed. */
	if ((mask & POLLERR) && socket_error(sd->fd) < 0)
		side_failed(w, c, s, false);
	pump_both(w, c, s);
}

void tp_relay_on_writable(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s)
{
	pump_both(w, c, !s);
}

void tp_relay_resume(struct tp_worker *w, struct tp_conn *c)
{
	pump_both(w, c, TP_DOWN);
}

void tp_relay_release(struct tp_worker *w, struct tp_conn *c)
{
	for (int s = 0; s < 2; s++) {
		struct tp_dir *d = &c->dir[s];

		/* Bytes read early are counted before a cluster is chosen; others only after. */
		if (d->pending && c->proxy && (c->cluster || s == TP_DOWN)) {
			struct dir_stats ds;

			get_dir_stats(c, (enum tp_side_id)s, &ds);
			tp_stat_sub(w->stats, ds.buffered, d->pending);
		}
		stage_release(w, d);
		d->pending = 0;
	}
}

/* ---- receive before connect ---- */

void tp_relay_early_enable(struct tp_worker *w, struct tp_conn *c, uint32_t limit)
{
	c->reads_early = 1;
	c->dir[TP_DOWN].limit = limit;
	tp_conn_arm_poll_in(w, c, TP_DOWN);
}

/* Reads the downstream into its stage while there is no upstream to write to, offering each
 * read to the filter chain, until the socket is empty, the limit is reached or the chain has
 * started the relay (which then drains the stage first). */
static void early_read(struct tp_worker *w, struct tp_conn *c)
{
	struct tp_dir *d = &c->dir[TP_DOWN];
	struct tp_side *src = &c->side[TP_DOWN];
	struct dir_stats ds;
	uint32_t room;
	ssize_t n;

	get_dir_stats(c, TP_DOWN, &ds);
	while (can_read(d, src)) {
		if (d->stage.kind == TP_STAGE_NONE && stage_acquire(w, c, d) < 0) {
			tp_warn("connection %u: no buffer for early data; closing it", c->idx);
			tp_conn_close(w, c);
			return;
		}
		if (buf_make_room(w, d, TP_EARLY_READ_BYTES) < 0) {
			tp_warn("connection %u: no memory for early data; closing it", c->idx);
			tp_conn_close(w, c);
			return;
		}
		room = TP_EARLY_READ_BYTES;
		n = buf_fill(d, src, &room);
		if (n == -EAGAIN) {
			read_would_block(w, c, TP_DOWN);
			break;
		}
		if (n == -EINTR)
			continue;
		if (n < 0) {
			tp_debug("connection %u: downstream read: %s", c->idx, strerror((int)-n));
			tp_conn_close(w, c);
			return;
		}
		if (n == 0)
			source_ended(c, TP_DOWN);
		else
			account_read(w, c, TP_DOWN, (uint32_t)n, &ds);
		c->active_ms = w->now_ms;
		tp_chain_deliver(w, c);
		/* The chain may have closed the session, or started the relay (which now drains
		 * the stage). */
		if (c->phase >= TP_PHASE_RELAY)
			return;
		/* Checked after the read, as Envoy does: one read may overshoot the limit. */
		if (!d->src_eof && d->pending >= d->limit)
			pause_reading(w, d, &ds);
	}
	if (!d->pending && d->stage.kind != TP_STAGE_NONE)
		stage_release(w, d);
}

void tp_relay_early_on_readable(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s,
				unsigned mask)
{
	struct tp_side *sd = &c->side[s];

	if (s != TP_DOWN || !c->reads_early)
		return;
	/* A reset before there is anyone to tell: the session is over (Envoy: RemoteClose before
	 * the pool answered cancels the upstream connect). */
	if ((mask & POLLERR) && socket_error(sd->fd) < 0) {
		tp_debug("connection %u: downstream reset before the upstream connected", c->idx);
		tp_conn_close(w, c);
		return;
	}
	early_read(w, c);
}

void tp_relay_early_on_writable(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s)
{
	/* A read that had to write first (conn.c made the side readable again). */
	if (s == TP_DOWN && c->reads_early)
		early_read(w, c);
}

void tp_relay_early_kick(struct tp_worker *w, struct tp_conn *c)
{
	const struct tp_side *down = &c->side[TP_DOWN];

	if (!c->reads_early || tp_conn_closing(c) || c->phase >= TP_PHASE_RELAY)
		return;
	if (down->readable || (down->transport->pending && down->transport->pending(down)))
		early_read(w, c);
}

bool tp_early_pending(const struct tp_conn *c, const uint8_t **data, size_t *len, bool *eos)
{
	const struct tp_dir *d = &c->dir[TP_DOWN];

	if (!c->reads_early ||
	    (c->early_delivered == d->pending && (!d->src_eof || c->early_eos_delivered)))
		return false;
	*data = d->stage.kind == TP_STAGE_BUF
			? d->stage.buf.data + d->stage.buf.head + c->early_delivered
			: NULL;
	*len = d->pending - c->early_delivered;
	*eos = d->src_eof;
	return true;
}

void tp_early_take(struct tp_worker *w, struct tp_conn *c)
{
	if (!c->reads_early)
		return;
	c->early_delivered = c->dir[TP_DOWN].pending;
	if (c->dir[TP_DOWN].src_eof)
		c->early_eos_delivered = 1;
	/* Envoy counts every onData that reaches tcp_proxy before the upstream is connected. */
	tp_stat_inc(w->stats, c->proxy->stats_base + TP_TCP_early_data_received_count_total);
}

bool tp_early_delivered(const struct tp_conn *c)
{
	const struct tp_dir *d = &c->dir[TP_DOWN];

	return !c->reads_early ||
	       (c->early_delivered == d->pending && (!d->src_eof || c->early_eos_delivered));
}

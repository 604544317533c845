/* The relay state machine, driven by hand: readiness events are delivered by the test through
 * the connection's dispatch (no loop runs), the sockets are real TCP connections on loopback,
 * the stats a real segment (tests/unit/conn_harness.h). */
#include "conn_harness.h"

#include "core/conn/relay.h"
#include "core/conn/transport.h"

#include <linux/tcp.h> /* struct tcp_info with tcpi_segs_in (glibc's lacks it) */

static uint64_t stat_of(uint32_t base, uint32_t idx)
{
	return tp_stat_get(w.stats, base + idx);
}

/* A session in relay: *client and *server are the test's ends of its two sockets. */
static struct tp_conn *new_session(int *client, int *server)
{
	struct tp_conn *c = tp_conn_alloc(&w);
	int down, up;

	h_tcp_pair(client, &down);
	h_tcp_pair(server, &up);
	tp_conn_side_init(&w, c, TP_DOWN, down, NULL);
	tp_conn_side_init(&w, c, TP_UP, up, NULL);
	c->listener = &lrt;
	c->proxy = &pcfg;
	c->cluster = &crt;
	c->host = crt.hosts[0];
	c->host->active++;
	c->up_active = 1;
	tp_stat_add(w.stats, lcfg.stats_base + TP_LISTENER_downstream_cx_active, 1);
	tp_stat_add(w.stats, ccfg.stats_base + TP_CLUSTER_upstream_cx_active, 1);
	c->phase = TP_PHASE_CONNECTING;
	tp_relay_start(&w, c);
	ck_assert_int_eq(c->phase, TP_PHASE_RELAY);
	ck_assert(c->side[TP_DOWN].poll_in && c->side[TP_UP].poll_in);
	return c;
}

/* Completions as the worker delivers them: through the connection's phase. */
static void readable(struct tp_conn *c, enum tp_side_id s, unsigned mask)
{
	tp_conn_on_poll_in(&w, c, s, (int)mask, false);
}

static void writable(struct tp_conn *c, enum tp_side_id s)
{
	c->side[s].poll_out = 1;
	tp_conn_on_poll_out(&w, c, s, POLLOUT);
}

static void read_exact(int fd, const char *want)
{
	char buf[256];
	size_t n = strlen(want), got = 0;

	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);

		ck_assert_int_gt(r, 0);
		got += (size_t)r;
	}
	ck_assert(!memcmp(buf, want, n));
}

static bool at_eof(int fd)
{
	char b;
	struct pollfd p = {.fd = fd, .events = POLLIN};

	/* Shutdowns and closes go out with the next submission, and a socket whose poll is being
	 * cancelled is released by the ring's task work: enter as the worker's loop does. */
	io_uring_submit_and_get_events(&w.ring);
	return poll(&p, 1, 1000) == 1 && recv(fd, &b, 1, MSG_DONTWAIT) == 0;
}

START_TEST(relays_both_ways_and_forwards_each_fin)
{
	int client, server;
	struct tp_conn *c = new_session(&client, &server);

	ck_assert_int_eq(write(client, "hello", 5), 5);
	readable(c, TP_DOWN, POLLIN);
	read_exact(server, "hello");
	ck_assert_uint_eq(stat_of(pcfg.stats_base, TP_TCP_downstream_cx_rx_bytes_total), 5);
	ck_assert_uint_eq(stat_of(ccfg.stats_base, TP_CLUSTER_upstream_cx_tx_bytes_total), 5);
	/* Idle again: nothing held. */
	ck_assert_int_eq(c->dir[TP_DOWN].stage.kind, TP_STAGE_NONE);
	ck_assert(!c->side[TP_DOWN].readable);

	shutdown(client, SHUT_WR);
	readable(c, TP_DOWN, POLLIN | POLLRDHUP);
	ck_assert(at_eof(server));
	ck_assert(c->dir[TP_DOWN].fin_sent);
	ck_assert_int_eq(c->phase, TP_PHASE_RELAY); /* the other way still flows */

	ck_assert_int_eq(write(server, "world", 5), 5);
	shutdown(server, SHUT_WR);
	readable(c, TP_UP, POLLIN | POLLRDHUP);
	read_exact(client, "world");
	ck_assert(at_eof(client));
	ck_assert_int_eq(c->phase, TP_PHASE_CLOSING);
	ck_assert_uint_eq(stat_of(pcfg.stats_base, TP_TCP_downstream_cx_tx_bytes_total), 5);
	ck_assert_uint_eq(stat_of(lcfg.stats_base, TP_LISTENER_downstream_cx_active), 0);
	ck_assert_uint_eq(stat_of(ccfg.stats_base, TP_CLUSTER_upstream_cx_active), 0);
	/* The upstream's FIN completed the close: Envoy counts that as destroyed remotely. */
	ck_assert_uint_eq(stat_of(ccfg.stats_base, TP_CLUSTER_upstream_cx_destroy_remote), 1);
	close(client);
	close(server);
}
END_TEST

START_TEST(slow_reader_pauses_then_resumes_without_loss)
{
	int client, server;
	struct tp_conn *c;
	static char out[32 << 20], in[32 << 20];
	size_t sent = 0, got = 0;

	ccfg.per_connection_buffer_limit_bytes = 64 * 1024;
	c = new_session(&client, &server);
	fcntl(client, F_SETFL, O_NONBLOCK);
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (char)(i * 7 + i / 4096);
	/* Fill until the kernel's buffers and then the proxy's are full and it stops reading. */
	while (!c->dir[TP_DOWN].paused && sent < sizeof(out)) {
		ssize_t n = write(client, out + sent, sizeof(out) - sent);

		if (n > 0)
			sent += (size_t)n;
		readable(c, TP_DOWN, POLLIN);
	}
	ck_assert(c->dir[TP_DOWN].paused);
	ck_assert_uint_le(c->dir[TP_DOWN].pending, 64 * 1024);
	ck_assert(c->side[TP_UP].write_blocked);
	ck_assert_uint_eq(
		stat_of(pcfg.stats_base, TP_TCP_downstream_flow_control_paused_reading_total), 1);
	ck_assert_uint_eq(stat_of(pcfg.stats_base, TP_TCP_downstream_cx_rx_bytes_buffered),
			  c->dir[TP_DOWN].pending);
	/* The upstream reads; each time its socket drains, the POLLOUT completion arrives. */
	while (got < sent || sent < sizeof(out)) {
		ssize_t n = recv(server, in + got, sizeof(in) - got, MSG_DONTWAIT);

		if (n > 0)
			got += (size_t)n;
		if (sent < sizeof(out)) {
			n = write(client, out + sent, sizeof(out) - sent);
			if (n > 0)
				sent += (size_t)n;
		}
		if (c->side[TP_UP].write_blocked)
			writable(c, TP_UP);
		readable(c, TP_DOWN, POLLIN);
	}
	ck_assert_uint_eq(got, sizeof(out));
	ck_assert(!memcmp(in, out, sizeof(out)));
	ck_assert_uint_eq(
		stat_of(pcfg.stats_base, TP_TCP_downstream_flow_control_resumed_reading_total),
		stat_of(pcfg.stats_base, TP_TCP_downstream_flow_control_paused_reading_total));
	ck_assert_uint_eq(stat_of(pcfg.stats_base, TP_TCP_downstream_cx_rx_bytes_buffered), 0);
	close(client);
	close(server);
}
END_TEST

START_TEST(upstream_reset_flushes_what_it_sent_and_closes)
{
	int client, server;
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct tp_conn *c = new_session(&client, &server);

	ck_assert_int_eq(write(server, "bye", 3), 3);
	readable(c, TP_UP, POLLIN);
	read_exact(client, "bye");
	setsockopt(server, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(server);
	usleep(20000);
	readable(c, TP_UP, POLLIN | POLLERR | POLLHUP);
	/* Envoy closes the downstream with FlushWrite: everything already sent, then closed. */
	ck_assert(at_eof(client));
	ck_assert_int_eq(c->phase, TP_PHASE_CLOSING);
	ck_assert_uint_eq(stat_of(ccfg.stats_base, TP_CLUSTER_upstream_cx_destroy_remote), 1);
	close(client);
}
END_TEST

START_TEST(copy_path_when_no_pipe_can_be_had)
{
	int client, server;
	struct tp_conn *c = new_session(&client, &server);

	/* A pool whose pipes come out smaller than 64 KiB refuses them, as happens once an
	 * unprivileged user's pipe page budget is spent: the direction copies instead. */
	w.pipes.want_size = 4096;
	ck_assert_int_eq(write(client, "copied", 6), 6);
	readable(c, TP_DOWN, POLLIN);
	read_exact(server, "copied");
	ck_assert_uint_eq(w.bufs.live, 1);
	ck_assert_uint_eq(w.pipes.live, 0);
	ck_assert_int_eq(c->dir[TP_DOWN].stage.kind, TP_STAGE_NONE); /* given back */
	ck_assert_uint_eq(stat_of(ccfg.stats_base, TP_CLUSTER_upstream_cx_tx_bytes_total), 6);
	close(client);
	close(server);
}
END_TEST

/* Data and FIN in one wakeup: the short read must not be taken for "empty" when the poll already
 * announced the FIN (no second wakeup will come for it). */
START_TEST(data_and_fin_in_one_wakeup_are_both_forwarded)
{
	int client, server;
	struct tp_conn *c = new_session(&client, &server);

	ck_assert_int_eq(write(client, "last words", 10), 10);
	shutdown(client, SHUT_WR);
	usleep(20000);
	readable(c, TP_DOWN, POLLIN | POLLRDHUP);
	read_exact(server, "last words");
	ck_assert(at_eof(server));
	close(client);
	close(server);
}
END_TEST

static unsigned segs_in(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
	return ti.tcpi_segs_in;
}

/* A reply that comes with its FIN (an upstream that closes after answering): the short read
 * after POLLRDHUP proves the end next, so the relay knows it while writing the reply and the
 * FIN rides on the reply's segment (MSG_MORE, then shutdown): the client gets one segment, not
 * two. */
START_TEST(a_reply_and_its_fin_leave_in_one_segment)
{
	int client, server;
	struct tp_conn *c = new_session(&client, &server);
	unsigned before;

	ck_assert_int_eq(write(server, "reply", 5), 5);
	shutdown(server, SHUT_WR);
	usleep(20000);
	before = segs_in(client);
	readable(c, TP_UP, POLLIN | POLLRDHUP);
	ck_assert(c->dir[TP_UP].src_eof && c->dir[TP_UP].fin_sent);
	read_exact(client, "reply");
	ck_assert(at_eof(client));
	ck_assert_uint_eq(segs_in(client) - before, 1);
	/* The other direction goes on after the half-close. */
	ck_assert_int_eq(write(client, "more", 4), 4);
	usleep(20000);
	readable(c, TP_DOWN, POLLIN);
	read_exact(server, "more");
	close(client);
	close(server);
}
END_TEST

/* Small messages stay on the copy path; a read that fills the copy buffer turns the direction
 * to splice. */
START_TEST(a_full_buffer_turns_the_direction_to_splice)
{
	int client, server;
	struct tp_conn *c = new_session(&client, &server);
	static char big[256 * 1024], in[256 * 1024];
	size_t got = 0;

	ck_assert_int_eq(write(client, "small", 5), 5);
	readable(c, TP_DOWN, POLLIN);
	read_exact(server, "small");
	ck_assert(!c->dir[TP_DOWN].bulk);
	ck_assert_uint_eq(w.pipes.live, 0);
	memset(big, 'b', sizeof(big));
	ck_assert_int_eq(write(client, big, sizeof(big)), (ssize_t)sizeof(big));
	while (got < sizeof(big)) {
		ssize_t n;

		readable(c, TP_DOWN, POLLIN);
		if (c->side[TP_UP].write_blocked)
			writable(c, TP_UP);
		n = recv(server, in + got, sizeof(in) - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
	}
	ck_assert(!memcmp(in, big, sizeof(big)));
	ck_assert(c->dir[TP_DOWN].bulk);
	ck_assert_uint_ge(w.pipes.live, 1); /* a pipe was used (and kept in the pool) */
	close(client);
	close(server);
}
END_TEST

/* Stage bytes by hand, as the relay would have left them. */
static void stage_copy_bytes(struct tp_conn *c, enum tp_side_id s, uint32_t head, uint32_t pending)
{
	struct tp_dir *d = &c->dir[s];

	d->stage.buf.data = tp_buf_get(&w.bufs);
	ck_assert_ptr_nonnull(d->stage.buf.data);
	d->stage.kind = TP_STAGE_BUF;
	d->stage.buf.head = head;
	d->stage.buf.cap = (uint32_t)w.bufs.size;
	memset(d->stage.buf.data + head, 'q', pending);
	d->pending = pending;
	tp_stat_add(w.stats, pcfg.stats_base + TP_TCP_downstream_cx_rx_bytes_buffered, pending);
}

/* Reads exactly n bytes of filler from fd, feeding POLLOUT completions to the relay. */
static void drain_upstream(struct tp_conn *c, int fd, size_t n)
{
	static char in[128 * 1024];
	size_t got = 0;

	ck_assert_uint_le(n, sizeof(in));
	while (got < n) {
		ssize_t r = recv(fd, in + got, n - got, MSG_DONTWAIT);

		if (r > 0)
			got += (size_t)r;
		else
			ck_assert(r < 0 && errno == EAGAIN);
		if (c->side[TP_UP].write_blocked)
			writable(c, TP_UP);
	}
}

/* The copy buffer's tail is used up (its head already sent) and the client's FIN waits behind:
 * the read must still be tried. Before, "no room" came back as EAGAIN, was taken for "socket
 * empty", and the FIN was never read or forwarded. */
START_TEST(a_fin_behind_a_used_up_copy_buffer_is_forwarded)
{
	int client, server;
	struct tp_conn *c = new_session(&client, &server);
	uint32_t head = 1000, pending = 64 * 1024 - 1000;

	stage_copy_bytes(c, TP_DOWN, head, pending);
	shutdown(client, SHUT_WR);
	usleep(20000);
	readable(c, TP_DOWN, POLLIN | POLLRDHUP);
	drain_upstream(c, server, pending);
	ck_assert(at_eof(server));
	ck_assert(c->dir[TP_DOWN].fin_sent);
	close(client);
	close(server);
}
END_TEST

/* A bulk direction whose pipe has run out of slots (small segments take one each) while few
 * bytes are in it, and the client's FIN arrives: the splice's EAGAIN means "pipe full", not
 * "socket empty", and FIONREAD does not count a FIN. The direction must pause and read again. */
START_TEST(a_fin_behind_a_pipe_out_of_slots_is_forwarded)
{
	int client, server, feed[2];
	struct tp_conn *c = new_session(&client, &server);
	struct tp_dir *d = &c->dir[TP_DOWN];
	uint32_t slots = 0;

	d->bulk = 1;
	ck_assert_int_eq(tp_pipe_get(&w.pipes, &d->stage.pipe), 0);
	d->stage.kind = TP_STAGE_PIPE;
	/* Pipe-to-pipe splices move whole buffers: 10 bytes per slot until no slot is left. */
	ck_assert_int_eq(pipe2(feed, O_NONBLOCK), 0);
	for (;;) {
		ssize_t n;

		ck_assert_int_eq(write(feed[1], "0123456789", 10), 10);
		n = splice(feed[0], NULL, d->stage.pipe.wfd, NULL, 10, SPLICE_F_NONBLOCK);
		if (n < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			break;
		}
		ck_assert_int_eq(n, 10);
		slots++;
	}
	close(feed[0]);
	close(feed[1]);
	ck_assert_uint_ge(slots, 16);
	d->pending = slots * 10;
	tp_stat_add(w.stats, pcfg.stats_base + TP_TCP_downstream_cx_rx_bytes_buffered, d->pending);

	shutdown(client, SHUT_WR);
	usleep(20000);
	readable(c, TP_DOWN, POLLIN | POLLRDHUP);
	drain_upstream(c, server, slots * 10);
	ck_assert(at_eof(server));
	ck_assert_uint_eq(stat_of(pcfg.stats_base, TP_TCP_downstream_cx_rx_bytes_buffered), 0);
	close(client);
	close(server);
}
END_TEST

/* A reply and the RST behind it, reported in one wakeup: the reply is still in the upstream
 * socket's receive queue and must reach the client before its FIN (Envoy reads it first). */
START_TEST(a_reply_that_arrives_with_the_reset_is_delivered)
{
	int client, server;
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct tp_conn *c = new_session(&client, &server);

	ck_assert_int_eq(write(server, "last reply", 10), 10);
	setsockopt(server, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(server);
	usleep(20000);
	readable(c, TP_UP, POLLIN | POLLERR | POLLHUP);
	read_exact(client, "last reply");
	ck_assert(at_eof(client));
	ck_assert_int_eq(c->phase, TP_PHASE_CLOSING);
	close(client);
}
END_TEST

/* The client sends a request and resets; the upstream's answer, handled first, fails to reach
 * it. The request is still in the client socket's queue and is delivered to the upstream, then
 * the upstream gets its FIN. */
START_TEST(a_failed_write_still_delivers_what_the_failed_side_sent)
{
	int client, server;
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct tp_conn *c = new_session(&client, &server);

	ck_assert_int_eq(write(client, "request", 7), 7);
	setsockopt(client, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(client);
	usleep(20000);
	ck_assert_int_eq(write(server, "answer", 6), 6);
	usleep(20000);
	/* One batch of completions: the upstream's data first, then the client's reset. */
	readable(c, TP_UP, POLLIN);
	readable(c, TP_DOWN, POLLIN | POLLERR | POLLHUP);
	while (w.runq_head) {
		struct tp_conn *q = w.runq_head;

		w.runq_head = q->next;
		if (!w.runq_head)
			w.runq_tail = NULL;
		q->queued = 0;
		tp_conn_on_run(&w, q);
	}
	read_exact(server, "request");
	ck_assert(at_eof(server));
	ck_assert_int_eq(c->phase, TP_PHASE_CLOSING);
	close(server);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("relay");
	TCase *tc = tcase_create("state machine");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, h_setup, h_teardown);
	tcase_add_test(tc, relays_both_ways_and_forwards_each_fin);
	tcase_add_test(tc, slow_reader_pauses_then_resumes_without_loss);
	tcase_add_test(tc, upstream_reset_flushes_what_it_sent_and_closes);
	tcase_add_test(tc, copy_path_when_no_pipe_can_be_had);
	tcase_add_test(tc, data_and_fin_in_one_wakeup_are_both_forwarded);
	tcase_add_test(tc, a_reply_and_its_fin_leave_in_one_segment);
	tcase_add_test(tc, a_full_buffer_turns_the_direction_to_splice);
	tcase_add_test(tc, a_fin_behind_a_used_up_copy_buffer_is_forwarded);
	tcase_add_test(tc, a_fin_behind_a_pipe_out_of_slots_is_forwarded);
	tcase_add_test(tc, a_reply_that_arrives_with_the_reset_is_delivered);
	tcase_add_test(tc, a_failed_write_still_delivers_what_the_failed_side_sent);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

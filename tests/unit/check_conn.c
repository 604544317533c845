/* The connection model's corners, found in review (issue 10): early data after the listener
 * filters took the wakeup, an early read that had to wait for writability, a filter closing from
 * on_close, and more sound paths kept as regression tests. Same harness as check_transport.c:
 * a worker built by hand, real loopback sockets, the worker's own loop pass. */
#include "conn_harness.h"

#include "core/conn/relay.h"
#include "core/conn/resp_flags.h"
#include "core/conn/transport.h"
#include "core/filter_api.h"
#include "frame_transport.h"

/* ---- a listener filter that passes once it has seen "PASS" ---- */

static enum tp_lfilter_status pass_data(const struct tp_filter_call *f, const uint8_t *data,
					size_t len, bool end_stream)
{
	if (len < 4)
		return TP_LFILTER_NEED_MORE;
	return memcmp(data, "PASS", 4) ? TP_LFILTER_CLOSE : TP_LFILTER_CONTINUE;
}

static const struct tp_listener_filter_ops pass_ops = {
	.name = "test.pass",
	.max_read_bytes = 16,
	.on_data = pass_data,
};

static struct tp_listener_filter_cfg lfilter;

static void with_listener_filter(const struct tp_listener_filter_ops *ops)
{
	memset(&lfilter, 0, sizeof(lfilter));
	lfilter.ops = ops;
	lcfg.listener_filters = &lfilter;
	lcfg.n_listener_filters = 1;
	w.peek_buf = malloc(ops->max_read_bytes);
	w.peek_cap = (uint32_t)ops->max_read_bytes;
}

/* The listener filters phase consumed the downstream's one wakeup (multishot POLLIN reports a
 * readiness once); the chain is chosen with those bytes still in the socket and `readable` set,
 * and receive-before-connect then waits for a wakeup that never comes: with ON_DOWNSTREAM_DATA
 * the upstream is never connected although the client's request sits in the socket. */
START_TEST(early_data_after_listener_filters_is_read)
{
	int client, server;
	struct tp_conn *c;

	with_listener_filter(&pass_ops);
	pcfg.upstream_connect_mode = TP_CONNECT_ON_DOWNSTREAM_DATA;
	pcfg.max_early_data_bytes = 4096;
	c = h_accept(&client);
	ck_assert_int_eq(c->phase, TP_PHASE_LISTENER_FILTERS);
	/* A client that sends its request at once and waits for the answer. */
	ck_assert_int_eq(write(client, "PASS request", 12), 12);
	H_UNTIL(c->phase >= TP_PHASE_FILTERS);
	server = h_accept_upstream();
	ck_assert_msg(server >= 0, "no upstream connect: phase %d, readable %d, pending %u",
		      c->phase, c->side[TP_DOWN].readable, c->dir[TP_DOWN].pending);
	h_expect(server, "PASS request");
	tp_conn_close(&w, c);
	close(client);
	close(server);
}
END_TEST

/* ---- a transport that must write before it can read (TLS answering a KeyUpdate, a tunnel
 * that must send a WINDOW_UPDATE): its first read asks for writability ---- */

struct w2r_state {
	uint32_t reads;
};

static ssize_t w2r_read(struct tp_side *s, uint8_t *buf, size_t len)
{
	struct w2r_state *ws = s->tstate;
	ssize_t n;

	if (ws->reads++ == 0) {
		s->want = TP_WANT_WRITE;
		return -EAGAIN;
	}
	n = recv(s->fd, buf, len, MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN) {
			s->readable = 0;
			s->want = TP_WANT_READ;
		}
		return -errno;
	}
	if (!n || (size_t)n < len)
		s->readable = 0;
	return n;
}

static ssize_t w2r_write(struct tp_side *s, const uint8_t *buf, size_t len)
{
	ssize_t n = send(s->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n < 0) {
		if (errno == EAGAIN)
			s->want = TP_WANT_WRITE;
		return -errno;
	}
	return n;
}

static int w2r_shutdown(struct tp_side *s)
{
	shutdown(s->fd, SHUT_WR);
	return 0;
}

static const struct tp_transport_ops w2r_ops = {
	.name = "test.write_to_read",
	.raw = false,
	.state_size = sizeof(struct w2r_state),
	.read = w2r_read,
	.write = w2r_write,
	.shutdown_write = w2r_shutdown,
};

/* Receive before connect through a transport whose read first needs writability: the read
 * marks the side read_blocked and arms POLLOUT; POLLOUT clears read_blocked and sets readable,
 * then hands the event to the phase's on_writable, which FILTERS / CONNECTING / UP_HANDSHAKE do
 * not have. Nothing reads the bytes again (their wakeup has come and gone), so with
 * ON_DOWNSTREAM_DATA the upstream is never connected. */
START_TEST(an_early_read_that_waited_for_writability_is_retried)
{
	int client, server;
	struct tp_conn *c;

	chain.transport.ops = &w2r_ops;
	pcfg.upstream_connect_mode = TP_CONNECT_ON_DOWNSTREAM_DATA;
	pcfg.max_early_data_bytes = 4096;
	h_size_slots();
	c = h_accept(&client);
	ck_assert_int_eq(write(client, "request", 7), 7);
	server = h_accept_upstream();
	ck_assert_msg(server >= 0,
		      "no upstream connect: phase %d, readable %d, read_blocked %d, poll_out %d",
		      c->phase, c->side[TP_DOWN].readable, c->side[TP_DOWN].read_blocked,
		      c->side[TP_DOWN].poll_out);
	h_expect(server, "request");
	tp_conn_close(&w, c);
	close(client);
	close(server);
}
END_TEST

/* ---- a filter that closes its connection unless it is closing already ---- */

static struct {
	int closes;
	bool closing_seen;
} closer;

static void closer_close(const struct tp_filter_call *f)
{
	if (++closer.closes > 1)
		return; /* what would otherwise recurse until the stack is gone */
	closer.closing_seen = tp_filter_closing(f);
	/* A helper shared with other callbacks: end the connection unless it is ending. */
	if (!tp_filter_closing(f))
		tp_filter_close(f);
}

static const struct tp_filter_ops closer_ops = {
	.name = "test.closer",
	.on_close = closer_close,
};

static uint64_t listener_active(void)
{
	return tp_stat_get(w.stats, lcfg.stats_base + TP_LISTENER_downstream_cx_active);
}

/* tp_conn_close() calls the filters' on_close while the phase is still RELAY (CLOSING is set at
 * its end), so in on_close tp_filter_closing() says false, against its documentation, and a
 * tp_filter_close() there closes the connection a second time: on_close again (unbounded
 * recursion without the guard above), a second access log entry, and listener
 * downstream_cx_active taken down twice (it wraps below zero). */
START_TEST(on_close_sees_the_connection_closing)
{
	static const struct tp_filter_ops *const ops[] = {&closer_ops};
	int client, server;
	struct tp_conn *c;
	uint64_t before = listener_active();

	h_chain(ops, NULL, 1);
	memset(&closer, 0, sizeof(closer));
	c = h_accept(&client);
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	H_UNTIL(c->phase == TP_PHASE_RELAY);
	ck_assert_uint_eq(listener_active(), before + 1);
	tp_conn_close(&w, c);
	ck_assert_msg(closer.closing_seen && closer.closes == 1 && listener_active() == before,
		      "closing seen in on_close %d, on_close calls %d, listener active %lld "
		      "(was %llu)",
		      closer.closing_seen, closer.closes, (long long)(listener_active() - before),
		      (unsigned long long)before);
	close(client);
	close(server);
}
END_TEST

/* ---- the worker stops with connections in every phase ---- */

static struct {
	enum tp_filter_status on_new;
	int closes;
} gate;

static enum tp_filter_status gate_new(const struct tp_filter_call *f)
{
	return gate.on_new;
}

static void gate_close(const struct tp_filter_call *f)
{
	gate.closes++;
}

static const struct tp_filter_ops gate_ops = {
	.name = "test.gate",
	.on_new_connection = gate_new,
	.on_close = gate_close,
};

START_TEST(close_all_in_every_phase)
{
	static const struct tp_filter_ops *const ops[] = {&gate_ops};
	int cl[5], sv[5];
	struct tp_conn *c[5];
	uint8_t hello[6];

	with_listener_filter(&pass_ops);
	ccfg.transport.ops = &frame_client;
	pcfg.max_early_data_bytes = 65536;
	h_chain(ops, NULL, 1);
	memset(&gate, 0, sizeof(gate));
	/* 0: listener filters, never decided. */
	c[0] = h_accept(&cl[0]);
	/* 1: filters, held, with early bytes read. */
	gate.on_new = TP_FILTER_STOP;
	c[1] = h_accept(&cl[1]);
	ck_assert_int_eq(write(cl[1], "PASS", 4), 4);
	H_UNTIL(c[1]->phase == TP_PHASE_FILTERS);
	ck_assert_int_eq(write(cl[1], " and some early data", 20), 20);
	H_UNTIL(c[1]->dir[TP_DOWN].pending == 24);
	/* 2: upstream handshake, unanswered. */
	gate.on_new = TP_FILTER_CONTINUE;
	c[2] = h_accept(&cl[2]);
	ck_assert_int_eq(write(cl[2], "PASS", 4), 4);
	sv[2] = h_accept_upstream();
	ck_assert_int_ge(sv[2], 0);
	h_read_exact(sv[2], hello, 6);
	ck_assert_int_eq(c[2]->phase, TP_PHASE_UP_HANDSHAKE);
	/* 3: relay, with bytes held towards a client that does not read. */
	c[3] = h_accept(&cl[3]);
	ck_assert_int_eq(write(cl[3], "PASS", 4), 4);
	sv[3] = h_accept_upstream();
	h_read_exact(sv[3], hello, 6);
	ck_assert_int_eq(write(sv[3], "OK\n", 3), 3);
	H_UNTIL(c[3]->phase == TP_PHASE_RELAY);
	/* 4: closing, its cancels not back yet. */
	c[4] = h_accept(&cl[4]);
	ck_assert_int_eq(write(cl[4], "PASS", 4), 4);
	sv[4] = h_accept_upstream();
	H_UNTIL(c[4]->phase == TP_PHASE_UP_HANDSHAKE);
	tp_conn_close(&w, c[4]);
	ck_assert_int_eq(c[4]->phase, TP_PHASE_CLOSING);

	tp_conn_close_all(&w);
	for (int i = 0; i < 4; i++)
		ck_assert_int_ge(c[i]->phase, TP_PHASE_CLOSING);
	H_UNTIL(w.n_conns == 0);
	ck_assert_int_eq(gate.closes, 4);
	ck_assert_uint_eq(listener_active(), 0);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_active), 0);
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_cx_rx_bytes_buffered), 0);
	ck_assert_uint_eq(w.timers.n, 0);
	ck_assert_uint_eq(w.bufs.live, w.bufs.n_free);
	for (int i = 0; i < 5; i++) {
		close(cl[i]);
		if (i >= 2)
			close(sv[i]);
	}
}
END_TEST

/* The handshake's deadline (the session timer) fails an attempt whose polls are armed: the retry
 * waits for their cancellation, then connects again, and the second attempt relays. */
START_TEST(a_handshake_timeout_is_retried)
{
	int client, s1, s2;
	uint8_t hello[6];
	struct tp_conn *c;

	ccfg.transport.ops = &frame_client;
	ccfg.connect_timeout_ms = 100;
	pcfg.max_connect_attempts = 2;
	h_size_slots();
	c = h_accept(&client);
	s1 = h_accept_upstream();
	ck_assert_int_ge(s1, 0);
	h_read_exact(s1, hello, 6);
	s2 = h_accept_upstream();
	ck_assert_int_ge(s2, 0);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_connect_timeout), 1);
	h_read_exact(s2, hello, 6);
	ck_assert_int_eq(write(s2, "OK\n", 3), 3);
	H_UNTIL(c->phase == TP_PHASE_RELAY);
	ck_assert_int_eq(write(client, "hi", 2), 2);
	{
		uint8_t f[4];

		h_read_exact(s2, f, 4);
		ck_assert(!memcmp(f, "\x00\x02hi", 4));
	}
	ck_assert(h_ended(s1));
	tp_conn_close(&w, c);
	H_UNTIL(w.n_conns == 0);
	close(client);
	close(s1);
	close(s2);
}
END_TEST

/* ---- early data grown past the pool's buffer, then drained by the relay ---- */

static struct {
	bool open;
	struct tp_filter_call call;
	size_t seen;
} hold;

static enum tp_filter_status hold_data(const struct tp_filter_call *f, const uint8_t *data,
				       size_t len, bool end_stream)
{
	hold.call = *f;
	hold.seen = len;
	return hold.open ? TP_FILTER_CONTINUE : TP_FILTER_STOP;
}

static const struct tp_filter_ops hold_ops = {.name = "test.hold", .on_data = hold_data};

static uint8_t big_tx[1 << 20], big_rx[1 << 20];

START_TEST(early_data_grown_past_the_pool_is_drained_and_freed)
{
	static const struct tp_filter_ops *const ops[] = {&hold_ops};
	const size_t n = 700 * 1024;
	int client, server;
	struct tp_conn *c;
	size_t sent = 0, got = 0;
	uint64_t end = tp_now_ms() + 10000;

	for (size_t i = 0; i < sizeof(big_tx); i++)
		big_tx[i] = (uint8_t)(i * 7 + (i >> 9));
	pcfg.max_early_data_bytes = 1 << 20;
	pcfg.upstream_connect_mode = TP_CONNECT_ON_DOWNSTREAM_DATA;
	ccfg.per_connection_buffer_limit_bytes = 32 * 1024;
	h_chain(ops, NULL, 1);
	memset(&hold, 0, sizeof(hold));
	c = h_accept(&client);
	fcntl(client, F_SETFL, O_NONBLOCK);
	while (c->dir[TP_DOWN].pending < n && tp_now_ms() < end) {
		ssize_t r = sent < n ? send(client, big_tx + sent, n - sent, MSG_DONTWAIT) : 0;

		if (r > 0)
			sent += (size_t)r;
		h_turn(1);
	}
	ck_assert_uint_eq(c->dir[TP_DOWN].pending, n);
	ck_assert_uint_gt(c->dir[TP_DOWN].stage.buf.cap, w.bufs.size);
	ck_assert_uint_le(c->dir[TP_DOWN].stage.buf.cap, (1 << 20) + TP_EARLY_READ_BYTES);
	hold.open = true;
	tp_filter_continue(&hold.call);
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	fcntl(server, F_SETFL, O_NONBLOCK);
	while (got < n && tp_now_ms() < end) {
		ssize_t r = recv(server, big_rx + got, n - got, MSG_DONTWAIT);

		if (r > 0)
			got += (size_t)r;
		h_turn(1);
	}
	ck_assert_uint_eq(got, n);
	ck_assert(!memcmp(big_rx, big_tx, n));
	H_UNTIL(c->dir[TP_DOWN].stage.kind == TP_STAGE_NONE);
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_flow_control_paused_reading_total),
			  tcp_stat(TP_TCP_downstream_flow_control_resumed_reading_total));
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_cx_rx_bytes_buffered), 0);
	tp_conn_close(&w, c);
	H_UNTIL(w.n_conns == 0);
	close(client);
	close(server);
}
END_TEST

/* ---- a shutdown_write that needs several calls, on the framed client's side ---- */

static int slow_shut_calls;

static int slow_shutdown(struct tp_side *s)
{
	if (slow_shut_calls++ < 3) {
		s->want = TP_WANT_WRITE;
		return -EAGAIN;
	}
	return frame_shutdown_write(s);
}

static const struct tp_transport_ops slow_shut_ops = {
	.name = "test.slow_shut",
	.raw = false,
	.state_size = sizeof(struct frame_state),
	.read = frame_read,
	.write = frame_write,
	.flush = frame_flush,
	.shutdown_write = slow_shutdown,
	.pending = frame_pending,
};

START_TEST(a_shutdown_that_needs_several_calls_ends_the_stream)
{
	int client, server;
	struct tp_conn *c;
	uint8_t f[9];

	chain.transport.ops = &slow_shut_ops;
	h_size_slots();
	slow_shut_calls = 0;
	c = h_accept(&client);
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	H_UNTIL(c->phase == TP_PHASE_RELAY);
	ck_assert_int_eq(write(server, "bye", 3), 3);
	shutdown(server, SHUT_WR);
	h_read_exact(client, f, 7);
	ck_assert(!memcmp(f,
			  "\x00\x03"
			  "bye\x00\x00",
			  7));
	ck_assert(h_at_eof(client));
	ck_assert_int_eq(slow_shut_calls, 4);
	ck_assert(h_quiet(server, 5));
	{
		uint8_t ok[8];
		size_t n = frame_encode((const uint8_t *)"ok", 2, ok, true);

		ck_assert_int_eq(write(client, ok, n), (ssize_t)n);
	}
	shutdown(client, SHUT_WR);
	h_expect(server, "ok");
	ck_assert(h_at_eof(server));
	H_UNTIL(c->phase >= TP_PHASE_CLOSING);
	close(client);
	close(server);
}
END_TEST

/* The upstream's stream ended and the client's bytes still wait for a slow framed upstream:
 * the downstream is let go, the flush goes on through the transport, end frame last. */
START_TEST(upstream_flush_through_a_framed_upstream)
{
	struct end_buf {
		uint8_t b[1 << 20];
	};
	static struct end_buf rx;
	static uint8_t tx[600 * 1024];
	int client, server, sz = 16 * 1024;
	struct tp_conn *c;
	size_t sent = 0, got = 0;
	uint64_t end = tp_now_ms() + 15000;

	for (size_t i = 0; i < sizeof(tx); i++)
		tx[i] = (uint8_t)(i * 13 + (i >> 11));
	ccfg.transport.ops = &frame_plain;
	ccfg.per_connection_buffer_limit_bytes = 256 * 1024;
	h_size_slots();
	setsockopt(upstream_listener, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	c = h_accept(&client);
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	H_UNTIL(c->phase == TP_PHASE_RELAY);
	/* The upstream ends its stream at once and reads nothing yet. */
	ck_assert_int_eq(write(server, "\x00\x00", 2), 2);
	shutdown(server, SHUT_WR);
	ck_assert(h_at_eof(client));
	fcntl(client, F_SETFL, O_NONBLOCK);
	while (sent < sizeof(tx) && !c->flushing && tp_now_ms() < end) {
		ssize_t r = send(client, tx + sent, sizeof(tx) - sent, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (r > 0)
			sent += (size_t)r;
		if (sent == sizeof(tx))
			shutdown(client, SHUT_WR);
		h_turn(1);
	}
	H_UNTIL(c->flushing || c->phase >= TP_PHASE_CLOSING);
	ck_assert_msg(c->flushing, "no flush: phase %d", c->phase);
	ck_assert_uint_eq(sent, sizeof(tx));
	fcntl(server, F_SETFL, O_NONBLOCK);
	for (;;) {
		ssize_t r = recv(server, rx.b + got, sizeof(rx.b) - got, MSG_DONTWAIT);

		if (r > 0)
			got += (size_t)r;
		else if (r == 0)
			break;
		ck_assert_msg(tp_now_ms() < end, "flush stuck after %zu bytes", got);
		h_turn(1);
	}
	{
		static uint8_t plain[1 << 20];
		bool ended;
		ssize_t n = frame_unwrap(rx.b, got, plain, &ended);

		ck_assert_int_eq(n, (ssize_t)sizeof(tx));
		ck_assert(ended);
		ck_assert(!memcmp(plain, tx, sizeof(tx)));
	}
	H_UNTIL(c->phase >= TP_PHASE_CLOSING);
	ck_assert_uint_eq(tcp_stat(TP_TCP_upstream_flush_active), 0);
	close(client);
	close(server);
}
END_TEST

/* The same transport in the relay (upstream side): POLLOUT brings the read back, as it should. */
START_TEST(a_relay_read_that_waited_for_writability_is_retried)
{
	int client, server;
	struct tp_conn *c;

	ccfg.transport.ops = &w2r_ops;
	h_size_slots();
	c = h_accept(&client);
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	H_UNTIL(c->phase == TP_PHASE_RELAY);
	ck_assert_int_eq(write(server, "pong", 4), 4);
	h_expect(client, "pong");
	ck_assert_int_eq(write(client, "ping", 4), 4);
	h_expect(server, "ping");
	tp_conn_close(&w, c);
	close(client);
	close(server);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("conn");
	TCase *tc = tcase_create("review");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, h_setup, h_teardown);
	tcase_add_test(tc, early_data_after_listener_filters_is_read);
	tcase_add_test(tc, an_early_read_that_waited_for_writability_is_retried);
	tcase_add_test(tc, on_close_sees_the_connection_closing);
	tcase_add_test(tc, close_all_in_every_phase);
	tcase_add_test(tc, a_handshake_timeout_is_retried);
	tcase_add_test(tc, early_data_grown_past_the_pool_is_drained_and_freed);
	tcase_add_test(tc, a_shutdown_that_needs_several_calls_ends_the_stream);
	tcase_add_test(tc, upstream_flush_through_a_framed_upstream);
	tcase_add_test(tc, a_relay_read_that_waited_for_writability_is_retried);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

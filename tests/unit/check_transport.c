/* The transport seam, proved with a transport that exists only here (tests/unit/frame_transport.h:
 * framing, a handshake, bytes held both ways) on either side of real loopback connections, driven
 * by the worker's own loop: bytes exact both ways, half-close from each side, flow control,
 * early data, a reset mid-stream, an upstream handshake that fails and is retried or times out,
 * a connect that waits for the downstream's handshake, and idle connections holding nothing. */
#include "conn_harness.h"

#include "core/conn/relay.h"
#include "core/conn/resp_flags.h"
#include "core/conn/transport.h"
#include "core/filter_api.h"
#include "frame_transport.h"

#define BIG  (512u * 1024u)
#define FLOW (8u * 1024u * 1024u)

static uint8_t up_data[FLOW], down_data[FLOW];

/* One end of a test connection: what it sends (already framed where its side frames), what it
 * has received, and when it shuts its side. */
struct end {
	int fd;
	const uint8_t *tx;
	size_t tx_len, tx_off;
	bool shut_after; /* shutdown(SHUT_WR) once tx is sent */
	bool shut;
	uint8_t *rx;
	size_t rx_len, rx_cap;
	bool eof;
	bool paused; /* reads nothing while set (a slow reader) */
};

static void end_init(struct end *e, int fd, const uint8_t *tx, size_t tx_len, bool shut_after,
		     size_t rx_cap)
{
	memset(e, 0, sizeof(*e));
	e->fd = fd;
	e->tx = tx;
	e->tx_len = tx_len;
	e->shut_after = shut_after;
	e->rx = malloc(rx_cap);
	e->rx_cap = rx_cap;
	ck_assert_ptr_nonnull(e->rx);
	fcntl(fd, F_SETFL, O_NONBLOCK);
}

static void end_step(struct end *e)
{
	ssize_t n;

	if (e->tx_off < e->tx_len) {
		size_t chunk = e->tx_len - e->tx_off > 65536 ? 65536 : e->tx_len - e->tx_off;

		n = send(e->fd, e->tx + e->tx_off, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0)
			e->tx_off += (size_t)n;
	}
	if (e->tx_off == e->tx_len && e->shut_after && !e->shut) {
		shutdown(e->fd, SHUT_WR);
		e->shut = true;
	}
	while (!e->paused && !e->eof && e->rx_len < e->rx_cap) {
		n = recv(e->fd, e->rx + e->rx_len, e->rx_cap - e->rx_len, MSG_DONTWAIT);
		if (n > 0)
			e->rx_len += (size_t)n;
		else if (n == 0)
			e->eof = true;
		else
			break;
	}
}

static bool end_done(const struct end *e)
{
	return e->tx_off == e->tx_len && e->eof;
}

/* What a connection's sides and directions are waiting for, when a test gets stuck. */
static void dump(const struct tp_conn *c)
{
	if (!c)
		return;
	fprintf(stderr, "conn %u phase %d\n", c->idx, c->phase);
	for (int s = 0; s < 2; s++) {
		const struct tp_side *sd = &c->side[s];
		const struct tp_dir *d = &c->dir[s];

		fprintf(stderr,
			"  side %d: fd %d poll_in %d poll_out %d readable %d hup %d wblk %d rblk "
			"%d "
			"hs %d shut %d unsent %d want %d\n",
			s, sd->fd, sd->poll_in, sd->poll_out, sd->readable, sd->hup_seen,
			sd->write_blocked, sd->read_blocked, sd->handshaking, sd->shut_pending,
			sd->unsent, sd->want);
		fprintf(stderr,
			"  dir %d: stage %d pending %u limit %u resume_at %u eof %d fin %d paused "
			"%d "
			"bulk %d failed %d\n",
			s, d->stage.kind, d->pending, d->limit, d->resume_at, d->src_eof,
			d->fin_sent, d->paused, d->bulk, d->src_failed);
	}
}

static struct tp_conn *watched; /* dumped when an exchange gets stuck */

/* Runs both ends and the worker until both have sent everything and seen their EOF. */
static void exchange(struct end *a, struct end *b)
{
	uint64_t end = tp_now_ms() + 20000;

	while (!(end_done(a) && end_done(b))) {
		if (tp_now_ms() >= end)
			dump(watched);
		ck_assert_msg(tp_now_ms() < end,
			      "exchange stuck: a %zu/%zu rx %zu eof %d, b %zu/%zu rx %zu eof %d",
			      a->tx_off, a->tx_len, a->rx_len, a->eof, b->tx_off, b->tx_len,
			      b->rx_len, b->eof);
		end_step(a);
		end_step(b);
		h_turn(1);
	}
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 2654435761u + seed) >> 13);
}

static void setup(void)
{
	h_setup();
	fill(up_data, FLOW, 1);
	fill(down_data, FLOW, 7);
}

/* The framed stream a test end sends: data, then the end frame. */
static uint8_t *framed(const uint8_t *data, size_t len, size_t *out_len, bool end)
{
	uint8_t *buf = malloc(len + 2 * len + 16);

	ck_assert_ptr_nonnull(buf);
	*out_len = frame_encode(data, len, buf, end);
	return buf;
}

/* Checks that a framed stream received decodes to exactly want, ended by the end frame. */
static void expect_framed(const struct end *e, const uint8_t *want, size_t len)
{
	uint8_t *plain = malloc(e->rx_len + 1);
	bool ended;
	ssize_t n = frame_unwrap(e->rx, e->rx_len, plain, &ended);

	ck_assert_int_eq(n, (ssize_t)len);
	ck_assert(ended);
	ck_assert(!memcmp(plain, want, len));
	free(plain);
}

static void end_free(struct end *e)
{
	free(e->rx);
	close(e->fd);
}

/* A framed client, a raw upstream: each way byte-exact; the client half-closes first (its end
 * frame becomes the upstream's FIN) while the upstream still sends, then the upstream's FIN
 * becomes the client's end frame and FIN. */
START_TEST(framed_downstream_both_ways_half_closed_by_the_client)
{
	struct end cl, sv;
	uint8_t *tx;
	size_t tx_len;
	int client, server;
	struct tp_conn *c;

	chain.transport.ops = &frame_plain;
	h_size_slots();
	c = h_accept(&client);
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	tx = framed(up_data, BIG, &tx_len, true);
	end_init(&cl, client, tx, tx_len, false, 4 * BIG);
	end_init(&sv, server, down_data, BIG, false, BIG + 1);
	/* The client's whole stream and its end first; the upstream reads it all to EOF. */
	while (!sv.eof) {
		end_step(&cl);
		end_step(&sv);
		h_turn(1);
	}
	ck_assert_uint_eq(sv.rx_len, BIG);
	ck_assert(!memcmp(sv.rx, up_data, BIG));
	ck_assert_int_eq(c->phase, TP_PHASE_RELAY); /* the other way still flows */
	sv.shut_after = true;
	exchange(&cl, &sv);
	expect_framed(&cl, down_data, BIG);
	H_UNTIL(c->phase >= TP_PHASE_CLOSING);
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_cx_rx_bytes_total), BIG);
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_cx_tx_bytes_total), BIG);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_destroy_remote), 1);
	free((void *)cl.tx);
	end_free(&cl);
	end_free(&sv);
}
END_TEST

/* The upstream half-closes first; the client's framed stream keeps flowing after it. */
START_TEST(framed_downstream_half_closed_by_the_upstream)
{
	struct end cl, sv;
	uint8_t *tx;
	size_t tx_len;
	int client, server;
	struct tp_conn *c;

	chain.transport.ops = &frame_plain;
	h_size_slots();
	c = h_accept(&client);
	server = h_accept_upstream();
	tx = framed(up_data, BIG, &tx_len, true);
	end_init(&cl, client, tx, tx_len, false, 4 * BIG);
	end_init(&sv, server, down_data, 1000, true, BIG + 1);
	cl.tx_len = 0; /* the client waits */
	while (!cl.eof) {
		end_step(&cl);
		end_step(&sv);
		h_turn(1);
	}
	expect_framed(&cl, down_data, 1000);
	cl.tx_len = tx_len;
	exchange(&cl, &sv);
	ck_assert_uint_eq(sv.rx_len, BIG);
	ck_assert(!memcmp(sv.rx, up_data, BIG));
	H_UNTIL(c->phase >= TP_PHASE_CLOSING);
	/* Our FIN to the upstream completed the close. */
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_destroy_local), 1);
	free(tx);
	end_free(&cl);
	end_free(&sv);
}
END_TEST

/* The upstream's transport has a handshake (a CONNECT-like exchange): nothing of the client's
 * goes before it, and bytes that arrive with the handshake's reply are the stream's. */
START_TEST(framed_upstream_with_a_handshake)
{
	struct end cl, sv;
	uint8_t *tx, hello[6];
	size_t tx_len;
	int client, server;
	struct tp_conn *c;
	uint8_t reply[3 + 2 + 5];

	ccfg.transport.ops = &frame_client;
	h_size_slots();
	c = h_accept(&client);
	ck_assert_int_eq(write(client, "early", 5), 5);
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	h_read_exact(server, hello, 6);
	ck_assert(!memcmp(hello, "HELLO\n", 6));
	ck_assert_int_eq(c->phase, TP_PHASE_UP_HANDSHAKE);
	ck_assert(h_quiet(server, 20)); /* the client's bytes wait for the handshake */
	/* The reply and a first frame in one segment. */
	memcpy(reply,
	       "OK\n\x00\x05"
	       "first",
	       sizeof(reply));
	ck_assert_int_eq(write(server, reply, sizeof(reply)), (ssize_t)sizeof(reply));
	h_expect(client, "first");
	ck_assert_int_eq(c->phase, TP_PHASE_RELAY);
	tx = framed(down_data, BIG, &tx_len, true);
	end_init(&cl, client, up_data, BIG, true, BIG + 1);
	end_init(&sv, server, tx, tx_len, true, 4 * BIG);
	exchange(&cl, &sv);
	/* The upstream got "early" then the client's data, framed, then the end frame. */
	{
		uint8_t *want = malloc(BIG + 5);

		memcpy(want, "early", 5);
		memcpy(want + 5, up_data, BIG);
		expect_framed(&sv, want, BIG + 5);
		free(want);
	}
	ck_assert_uint_eq(cl.rx_len, BIG);
	ck_assert(!memcmp(cl.rx, down_data, BIG));
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_connect_fail), 0);
	free(tx);
	end_free(&cl);
	end_free(&sv);
}
END_TEST

/* A reply other than "OK" fails the handshake: a connect failure, retried on a new attempt
 * (which waits for the failed attempt's polls to be cancelled). */
START_TEST(a_failed_upstream_handshake_is_a_connect_failure_and_is_retried)
{
	int client, s1, s2;
	uint8_t hello[6];
	struct tp_conn *c;

	ccfg.transport.ops = &frame_client;
	pcfg.max_connect_attempts = 2;
	h_size_slots();
	c = h_accept(&client);
	s1 = h_accept_upstream();
	h_read_exact(s1, hello, 6);
	ck_assert_int_eq(write(s1, "NO\n", 3), 3);
	s2 = h_accept_upstream();
	ck_assert_int_ge(s2, 0);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_connect_fail), 1);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 2);
	ck_assert_uint_eq(c->attempts, 2);
	h_read_exact(s2, hello, 6);
	ck_assert_int_eq(write(s2, "OK\n", 3), 3);
	H_UNTIL(c->phase == TP_PHASE_RELAY);
	ck_assert(tp_rf_has(c, TP_RF_UPSTREAM_CONNECT_FAILURE));
	ck_assert(!tp_rf_has(c, TP_RF_RETRY_LIMIT_EXCEEDED));
	ck_assert_int_eq(write(client, "hi", 2), 2);
	{
		uint8_t f[4];

		h_read_exact(s2, f, 4);
		ck_assert(!memcmp(f, "\x00\x02hi", 4));
	}
	tp_conn_close(&w, c);
	close(client);
	close(s1);
	close(s2);
}
END_TEST

/* An upstream that never answers the handshake: connect_timeout covers it. */
START_TEST(an_upstream_handshake_that_never_ends_times_out)
{
	int client, server;
	struct tp_conn *c;

	ccfg.transport.ops = &frame_client;
	ccfg.connect_timeout_ms = 100;
	h_size_slots();
	c = h_accept(&client);
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	H_UNTIL(c->phase >= TP_PHASE_CLOSING);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_connect_timeout), 1);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_connect_attempts_exceeded), 1);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_active), 0);
	ck_assert(h_at_eof(client));
	close(client);
	close(server);
}
END_TEST

/* ON_DOWNSTREAM_TLS_HANDSHAKE waits for the downstream transport's handshake, whatever that
 * transport is. */
START_TEST(the_connect_waits_for_the_downstream_handshake)
{
	int client, server;
	struct tp_conn *c;
	uint8_t ok[3];

	chain.transport.ops = &frame_server;
	pcfg.upstream_connect_mode = TP_CONNECT_ON_DOWNSTREAM_TLS_HANDSHAKE;
	pcfg.max_early_data_bytes = 4096;
	h_size_slots();
	c = h_accept(&client);
	for (int i = 0; i < 5; i++)
		h_turn(5);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 0);
	ck_assert(c->side[TP_DOWN].handshaking);
	/* The hello and a first frame together. */
	ck_assert_int_eq(write(client,
			       "HELLO\n\x00\x03"
			       "abc",
			       11),
			 11);
	h_read_exact(client, ok, 3);
	ck_assert(!memcmp(ok, "OK\n", 3));
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 1);
	h_expect(server, "abc");
	ck_assert_int_eq(write(server, "xyz", 3), 3);
	{
		uint8_t f[5];

		h_read_exact(client, f, 5);
		ck_assert(!memcmp(f, "\x00\x03xyz", 5));
	}
	tp_conn_close(&w, c);
	close(client);
	close(server);
}
END_TEST

/* A slow reader behind a transport: reading pauses at the limit and resumes, nothing lost. */
START_TEST(flow_control_through_a_transport)
{
	struct end cl, sv;
	uint8_t *tx;
	size_t tx_len;
	int client, server;

	chain.transport.ops = &frame_plain;
	ccfg.per_connection_buffer_limit_bytes = 32 * 1024;
	lcfg.per_connection_buffer_limit_bytes = 32 * 1024;
	h_size_slots();
	h_small_buffers(upstream_listener);
	watched = h_accept(&client);
	server = h_accept_upstream();
	tx = framed(up_data, FLOW, &tx_len, true);
	end_init(&cl, client, tx, tx_len, false, 4 * FLOW);
	end_init(&sv, server, down_data, FLOW, true, FLOW + 1);
	sv.paused = true;
	cl.paused = true;
	H_UNTIL((end_step(&cl), end_step(&sv),
		 tcp_stat(TP_TCP_downstream_flow_control_paused_reading_total) > 0 &&
			 cluster_stat(TP_CLUSTER_upstream_flow_control_paused_reading_total) > 0));
	sv.paused = cl.paused = false;
	exchange(&cl, &sv);
	ck_assert_uint_eq(sv.rx_len, FLOW);
	ck_assert(!memcmp(sv.rx, up_data, FLOW));
	expect_framed(&cl, down_data, FLOW);
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_flow_control_paused_reading_total),
			  tcp_stat(TP_TCP_downstream_flow_control_resumed_reading_total));
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_flow_control_paused_reading_total),
			  cluster_stat(TP_CLUSTER_upstream_flow_control_resumed_reading_total));
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_cx_rx_bytes_buffered), 0);
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_cx_tx_bytes_buffered), 0);
	free(tx);
	end_free(&cl);
	end_free(&sv);
}
END_TEST

/* The gate filter holds the chain's bytes until the test opens it. */
static struct tp_filter_call gate_call;
static bool gate_open;

static enum tp_filter_status gate_data(const struct tp_filter_call *f, const uint8_t *data,
				       size_t len, bool end_stream)
{
	gate_call = *f;
	return gate_open ? TP_FILTER_CONTINUE : TP_FILTER_STOP;
}

static const struct tp_filter_ops gate_ops = {.name = "test.gate", .on_data = gate_data};

/* Early data read through a transport into the downstream's stage, paused at the limit, then
 * drained upstream first: one engine, one set of counters. */
START_TEST(early_data_through_a_transport)
{
	static const struct tp_filter_ops *const ops[] = {&gate_ops};
	struct end cl, sv;
	uint8_t *tx;
	size_t tx_len;
	int client, server;
	struct tp_conn *c;

	chain.transport.ops = &frame_plain;
	pcfg.max_early_data_bytes = 4096;
	pcfg.upstream_connect_mode = TP_CONNECT_ON_DOWNSTREAM_DATA;
	h_chain(ops, NULL, 1);
	gate_open = false;
	c = h_accept(&client);
	tx = framed(up_data, 100000, &tx_len, true);
	end_init(&cl, client, tx, tx_len, false, BIG);
	H_UNTIL((end_step(&cl), c->dir[TP_DOWN].paused));
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_flow_control_paused_reading_total), 1);
	ck_assert_uint_ge(c->dir[TP_DOWN].pending, 4096);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 0);
	gate_open = true;
	tp_filter_continue(&gate_call);
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	end_init(&sv, server, down_data, 10, true, BIG);
	exchange(&cl, &sv);
	ck_assert_uint_eq(sv.rx_len, 100000);
	ck_assert(!memcmp(sv.rx, up_data, 100000));
	expect_framed(&cl, down_data, 10);
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_flow_control_resumed_reading_total), 1);
	ck_assert_uint_eq(tcp_stat(TP_TCP_early_data_received_count_total), 1);
	free(tx);
	end_free(&cl);
	end_free(&sv);
}
END_TEST

/* The framed client resets mid-stream: what it sent before goes on, then the upstream's FIN;
 * nothing is held once the session is gone. */
START_TEST(a_reset_mid_stream_on_the_framed_side)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	int client, server;
	struct tp_conn *c;
	uint8_t f[8];

	chain.transport.ops = &frame_plain;
	h_size_slots();
	c = h_accept(&client);
	server = h_accept_upstream();
	ck_assert_int_eq(write(client, "\x00\x04ping", 6), 6);
	h_expect(server, "ping");
	ck_assert_int_eq(write(server, "pong", 4), 4);
	h_read_exact(client, f, 6);
	ck_assert(!memcmp(f, "\x00\x04pong", 6));
	ck_assert_int_eq(write(client,
			       "\x00\x03"
			       "bye",
			       5),
			 5);
	setsockopt(client, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(client);
	h_expect(server, "bye");
	ck_assert(h_at_eof(server));
	H_UNTIL(c->phase >= TP_PHASE_CLOSING);
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_cx_rx_bytes_buffered), 0);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_active), 0);
	close(server);
}
END_TEST

/* Connections that have exchanged bytes and gone quiet hold no stage, and their transports
 * nothing unsent. */
START_TEST(idle_connections_hold_nothing)
{
	int client[8], server[8];
	struct tp_conn *c[8];
	uint8_t f[6];

	chain.transport.ops = &frame_plain;
	ccfg.transport.ops = &frame_client;
	h_size_slots();
	for (int i = 0; i < 8; i++) {
		uint8_t hello[6];

		c[i] = h_accept(&client[i]);
		server[i] = h_accept_upstream();
		h_read_exact(server[i], hello, 6);
		ck_assert_int_eq(write(server[i], "OK\n", 3), 3);
		H_UNTIL(c[i]->phase == TP_PHASE_RELAY);
		ck_assert_int_eq(write(client[i], "\x00\x04ping", 6), 6);
		h_read_exact(server[i], f, 6);
		ck_assert(!memcmp(f, "\x00\x04ping", 6));
		ck_assert_int_eq(write(server[i], "\x00\x04pong", 6), 6);
		h_read_exact(client[i], f, 6);
		ck_assert(!memcmp(f, "\x00\x04pong", 6));
	}
	for (int i = 0; i < 5; i++)
		h_turn(5);
	for (int i = 0; i < 8; i++) {
		for (int s = 0; s < 2; s++) {
			ck_assert_int_eq(c[i]->dir[s].stage.kind, TP_STAGE_NONE);
			ck_assert_uint_eq(c[i]->dir[s].pending, 0);
			ck_assert(!c[i]->side[s].unsent);
			ck_assert(!c[i]->side[s].write_blocked);
		}
	}
	/* Every buffer lent is back in the pool (the pool keeps up to 4). */
	ck_assert_uint_le(w.bufs.live, 4);
	ck_assert_uint_eq(w.bufs.live, w.bufs.n_free);
	for (int i = 0; i < 8; i++) {
		tp_conn_close(&w, c[i]);
		close(client[i]);
		close(server[i]);
	}
}
END_TEST

/* The raw transport keeps the relay's rules: both sides raw, a bulk direction splices. */
START_TEST(raw_sides_still_splice)
{
	struct end cl, sv;
	int client, server;
	struct tp_conn *c;

	c = h_accept(&client);
	server = h_accept_upstream();
	ck_assert_ptr_eq(c->side[TP_DOWN].transport, &tp_transport_raw);
	end_init(&cl, client, up_data, BIG, true, BIG + 1);
	end_init(&sv, server, down_data, BIG, true, BIG + 1);
	exchange(&cl, &sv);
	ck_assert(!memcmp(sv.rx, up_data, BIG));
	ck_assert(!memcmp(cl.rx, down_data, BIG));
	ck_assert_uint_ge(w.pipes.live, 1);
	end_free(&cl);
	end_free(&sv);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("transport");
	TCase *tc = tcase_create("seam");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, h_teardown);
	tcase_add_test(tc, framed_downstream_both_ways_half_closed_by_the_client);
	tcase_add_test(tc, framed_downstream_half_closed_by_the_upstream);
	tcase_add_test(tc, framed_upstream_with_a_handshake);
	tcase_add_test(tc, a_failed_upstream_handshake_is_a_connect_failure_and_is_retried);
	tcase_add_test(tc, an_upstream_handshake_that_never_ends_times_out);
	tcase_add_test(tc, the_connect_waits_for_the_downstream_handshake);
	tcase_add_test(tc, flow_control_through_a_transport);
	tcase_add_test(tc, early_data_through_a_transport);
	tcase_add_test(tc, a_reset_mid_stream_on_the_framed_side);
	tcase_add_test(tc, idle_connections_hold_nothing);
	tcase_add_test(tc, raw_sides_still_splice);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

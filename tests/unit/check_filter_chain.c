/* The filter chain contract (core/conn/chain.c) with filters that exist only in this test: a
 * filter answering STOP from on_new_connection or on_data holds tcp_proxy's upstream connect
 * until it calls tp_filter_continue(), and bytes read before the connect go upstream first, in
 * order; a filter keeps per-connection state of the size it declares and owns a timer. Sockets
 * are real loopback TCP, the ring is real, and the worker's own loop pass delivers completions. */
#include "conn_harness.h"

#include "core/config/cfg_schema.h"
#include "core/config/chain_match.h"
#include "core/conn/relay.h"
#include "core/conn/resp_flags.h"
#include "core/filter_api.h"

/* The holder filter: answers what the test says and remembers what it saw. */
static struct {
	enum tp_filter_status on_new, on_data;
	int new_calls, data_calls, closes;
	size_t seen;
	bool eos;
	struct tp_filter_call held; /* the call to resume from */
} holder;

static enum tp_filter_status holder_new(const struct tp_filter_call *f)
{
	holder.new_calls++;
	holder.held = *f;
	return holder.on_new;
}

static enum tp_filter_status holder_data(const struct tp_filter_call *f, const uint8_t *data,
					 size_t len, bool end_stream)
{
	holder.data_calls++;
	holder.seen = len;
	holder.eos = end_stream;
	holder.held = *f;
	return holder.on_data;
}

static void holder_close(const struct tp_filter_call *f)
{
	holder.closes++;
}

static const struct tp_filter_ops holder_ops = {
	.name = "test.holder",
	.on_new_connection = holder_new,
	.on_data = holder_data,
	.on_close = holder_close,
};

static void resume(void)
{
	tp_filter_continue(&holder.held);
}

static void setup(void)
{
	static const struct tp_filter_ops *const ops[] = {&holder_ops};

	h_setup();
	h_chain(ops, NULL, 1);
	memset(&holder, 0, sizeof(holder));
}

START_TEST(stop_in_on_new_connection_holds_the_connect)
{
	int client, server;
	struct tp_conn *c;

	holder.on_new = TP_FILTER_STOP;
	c = h_accept(&client);
	ck_assert_int_eq(holder.new_calls, 1);
	ck_assert_int_eq(c->phase, TP_PHASE_FILTERS);
	ck_assert_int_eq(c->side[TP_UP].fd, -1);
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_cx_total), 0); /* tcp_proxy not started */
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 0);

	resume();
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_cx_total), 1);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 1);
	ck_assert_int_eq(c->phase, TP_PHASE_CONNECTING);
	H_UNTIL(c->phase == TP_PHASE_RELAY);
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	ck_assert_int_eq(holder.new_calls, 1); /* started once */
	tp_conn_close(&w, c);
	ck_assert_int_eq(holder.closes, 1);
	close(client);
	close(server);
}
END_TEST

START_TEST(stop_in_on_data_holds_the_bytes_and_the_connect)
{
	int client, server;
	struct tp_conn *c;
	char got[11];

	pcfg.upstream_connect_mode = TP_CONNECT_ON_DOWNSTREAM_DATA;
	pcfg.max_early_data_bytes = 4096;
	holder.on_new = TP_FILTER_CONTINUE;
	holder.on_data = TP_FILTER_STOP;
	c = h_accept(&client);
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_cx_total), 1); /* routed, waiting */
	ck_assert_int_eq(c->phase, TP_PHASE_FILTERS);

	ck_assert_int_eq(write(client, "hello", 5), 5);
	H_UNTIL(holder.data_calls == 1);
	ck_assert_uint_eq(holder.seen, 5);
	ck_assert_uint_eq(tcp_stat(TP_TCP_early_data_received_count_total), 0);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 0);

	/* The next read offers everything not passed on yet, from the first filter. */
	ck_assert_int_eq(write(client, " world", 6), 6);
	H_UNTIL(holder.data_calls == 2);
	ck_assert_uint_eq(holder.seen, 11);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 0);

	holder.on_data = TP_FILTER_CONTINUE;
	resume();
	ck_assert_uint_eq(tcp_stat(TP_TCP_early_data_received_count_total), 1);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 1);
	H_UNTIL(c->phase == TP_PHASE_RELAY);
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	h_read_exact(server, got, sizeof(got));
	ck_assert(!memcmp(got, "hello world", 11));
	/* Drained upstream: the direction holds no buffer any more. */
	H_UNTIL(c->dir[TP_DOWN].stage.kind == TP_STAGE_NONE);
	tp_conn_close(&w, c);
	close(client);
	close(server);
}
END_TEST

START_TEST(a_held_chain_passes_no_byte_to_tcp_proxy)
{
	int client, server;
	struct tp_conn *c;

	pcfg.max_early_data_bytes = 4096; /* IMMEDIATE, reading before connect */
	holder.on_new = TP_FILTER_STOP;
	holder.on_data = TP_FILTER_CONTINUE;
	c = h_accept(&client);
	ck_assert_int_eq(write(client, "early", 5), 5);
	/* The filter sees the bytes, but the chain stays held at it. */
	H_UNTIL(holder.data_calls == 1);
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_cx_total), 0);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 0);

	resume();
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 1);
	ck_assert_uint_eq(tcp_stat(TP_TCP_early_data_received_count_total), 1);
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	h_expect(server, "early");
	tp_conn_close(&w, c);
	close(client);
	close(server);
}
END_TEST

START_TEST(connected_while_held_the_relay_waits_for_the_bytes)
{
	int client, server;
	struct tp_conn *c;

	pcfg.max_early_data_bytes = 4096; /* IMMEDIATE: connects at once */
	holder.on_new = TP_FILTER_CONTINUE;
	holder.on_data = TP_FILTER_STOP;
	c = h_accept(&client);
	ck_assert_int_eq(write(client, "first", 5), 5);
	H_UNTIL(holder.data_calls == 1 && c->up_connected);
	ck_assert_int_eq(c->phase, TP_PHASE_CONNECTING); /* relay not started */
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	/* Every completion so far is handled, and a send on loopback lands at once: had the
	 * proxy written, the bytes would be there. */
	ck_assert(h_quiet(server, 50));

	holder.on_data = TP_FILTER_CONTINUE;
	resume();
	ck_assert_int_eq(c->phase, TP_PHASE_RELAY);
	h_expect(server, "first");
	/* Then the relay reads on. */
	ck_assert_int_eq(write(client, "second", 6), 6);
	h_expect(server, "second");
	tp_conn_close(&w, c);
	close(client);
	close(server);
}
END_TEST

START_TEST(a_fin_read_early_follows_the_bytes)
{
	int client, server;
	struct tp_conn *c;

	pcfg.upstream_connect_mode = TP_CONNECT_ON_DOWNSTREAM_DATA;
	pcfg.max_early_data_bytes = 0; /* pause after every read */
	holder.on_data = TP_FILTER_CONTINUE;
	c = h_accept(&client);
	ck_assert_int_eq(write(client, "bye", 3), 3);
	shutdown(client, SHUT_WR);
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	h_expect(server, "bye");
	ck_assert(h_at_eof(server));
	/* Read early up to the limit of 0, paused; resumed once the relay drained it. */
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_flow_control_paused_reading_total), 1);
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_flow_control_resumed_reading_total), 1);
	ck_assert(c->dir[TP_DOWN].fin_sent);
	tp_conn_close(&w, c);
	close(client);
	close(server);
}
END_TEST

/* ---- per-connection state and a timer of the filter's own ---- */

struct counter_state {
	uint32_t magic;
	uint32_t fired;
};

static struct {
	int timers;
	uint32_t seen_magic;
} timed;

static enum tp_filter_status timed_new(const struct tp_filter_call *f)
{
	struct counter_state *cs = f->state;

	/* Zeroed at accept, whatever the slot held before. */
	ck_assert_uint_eq(cs->magic, 0);
	cs->magic = 0xfeed0000u | tp_filter_conn_index(f);
	ck_assert_int_eq(tp_filter_timer_arm(f, 20), 0);
	return TP_FILTER_STOP;
}

static void timed_timer(const struct tp_filter_call *f)
{
	struct counter_state *cs = f->state;

	timed.timers++;
	timed.seen_magic = cs->magic;
	if (++cs->fired == 1) {
		/* Re-armed from its own expiry, then resumed by the second. */
		ck_assert_int_eq(tp_filter_timer_arm(f, 20), 0);
		return;
	}
	tp_filter_continue(f);
}

static const struct tp_filter_ops timed_ops = {
	.name = "test.timed",
	.state_size = sizeof(struct counter_state),
	.on_new_connection = timed_new,
	.on_timer = timed_timer,
};

START_TEST(a_filter_keeps_state_in_the_slot_and_owns_a_timer)
{
	static const struct tp_filter_ops *const ops[] = {&timed_ops};
	int client, server;
	struct tp_conn *c;

	h_chain(ops, NULL, 1);
	pcfg.idle_timeout_ms = 60000;
	memset(&timed, 0, sizeof(timed));
	ck_assert_uint_gt(chain.state_bytes, sizeof(struct counter_state));
	c = h_accept(&client);
	ck_assert_int_eq(c->phase, TP_PHASE_FILTERS);
	/* Its timer fires twice, with the state it left, then it lets the chain go on. */
	H_UNTIL(c->phase == TP_PHASE_RELAY);
	ck_assert_int_eq(timed.timers, 2);
	ck_assert_uint_eq(timed.seen_magic, 0xfeed0000u | c->idx);
	ck_assert_int_ge(server = h_accept_upstream(), 0);
	/* The session timer and the filter's are separate: the session's is armed now. */
	ck_assert(tp_timer_armed(&c->timer));
	tp_conn_close(&w, c);
	close(client);
	close(server);
}
END_TEST

START_TEST(a_filter_timer_is_cancelled_when_the_connection_closes)
{
	static const struct tp_filter_ops *const ops[] = {&timed_ops};
	int client;
	struct tp_conn *c;

	h_chain(ops, NULL, 1);
	memset(&timed, 0, sizeof(timed));
	c = h_accept(&client);
	ck_assert_uint_eq(w.timers.n, 1);
	close(client);
	tp_conn_close(&w, c);
	ck_assert_uint_eq(w.timers.n, 0);
	for (int i = 0; i < 5; i++)
		h_turn(10);
	ck_assert_int_eq(timed.timers, 0);
	/* The slot is reused with its state zeroed (timed_new checks). */
	c = h_accept(&client);
	tp_conn_close(&w, c);
	close(client);
}
END_TEST

/* ---- the listener filters phase ---- */

/* Needs 4 bytes: "PASS" lets the connection through, anything else is refused. */
static int sniff_calls;

static enum tp_lfilter_status sniff_data(const struct tp_filter_call *f, const uint8_t *data,
					 size_t len, bool end_stream)
{
	sniff_calls++;
	if (len < 4)
		return TP_LFILTER_NEED_MORE;
	if (memcmp(data, "PASS", 4))
		return TP_LFILTER_CLOSE;
	/* What tls_inspector will record, recorded here from the stream's first bytes. */
	tp_conn_info_set_sni(tp_filter_conn_info(f), "Sniffed.EXAMPLE.com", 19);
	tp_conn_info_set_alpn(tp_filter_conn_info(f), (const uint8_t *)"\x02h2\x08http/1.1", 12);
	return TP_LFILTER_CONTINUE;
}

static const struct tp_listener_filter_ops sniff_ops = {
	.name = "test.sniff",
	.max_read_bytes = 16,
	.on_data = sniff_data,
};

/* Never decides. */
static enum tp_lfilter_status undecided_data(const struct tp_filter_call *f, const uint8_t *data,
					     size_t len, bool end_stream)
{
	return TP_LFILTER_NEED_MORE;
}

static const struct tp_listener_filter_ops undecided_ops = {
	.name = "test.undecided",
	.max_read_bytes = 4,
	.on_data = undecided_data,
};

static struct tp_listener_filter_cfg lfilter;

static void with_listener_filter(const struct tp_listener_filter_ops *ops, int64_t timeout_ms)
{
	memset(&lfilter, 0, sizeof(lfilter));
	lfilter.ops = ops;
	lcfg.listener_filters = &lfilter;
	lcfg.n_listener_filters = 1;
	lcfg.listener_filters_timeout_ms = timeout_ms;
	w.peek_buf = malloc(ops->max_read_bytes);
	w.peek_cap = (uint32_t)ops->max_read_bytes;
	sniff_calls = 0;
}

/* The chain is chosen only once the listener filter has seen enough, and the bytes it peeked
 * are still the stream's: the upstream gets every one. */
START_TEST(listener_filters_peek_before_the_chain_is_chosen)
{
	int client, server;
	struct tp_conn *c;

	with_listener_filter(&sniff_ops, 0);
	h_size_slots(); /* with a listener filter, the slot keeps the connection info */
	c = h_accept(&client);
	ck_assert_int_eq(c->phase, TP_PHASE_LISTENER_FILTERS);
	ck_assert_ptr_null(c->chain);
	ck_assert_ptr_nonnull(c->info);
	ck_assert_int_eq(write(client, "PA", 2), 2);
	H_UNTIL(sniff_calls >= 2);
	ck_assert_int_eq(c->phase, TP_PHASE_LISTENER_FILTERS);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 0);
	ck_assert_int_eq(write(client, "SS and more", 11), 11);
	H_UNTIL(c->phase >= TP_PHASE_FILTERS);
	ck_assert_ptr_eq(c->chain, &chain);
	/* Lower-cased, as Envoy's setRequestedServerName. */
	ck_assert_str_eq(c->info->sni, "sniffed.example.com");
	ck_assert_uint_eq(c->info->alpn_len, 12);
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	h_expect(server, "PASS and more");
	tp_conn_close(&w, c);
	close(client);
	close(server);
}
END_TEST

START_TEST(a_listener_filter_refuses_a_connection)
{
	int client;
	struct tp_conn *c;

	with_listener_filter(&sniff_ops, 0);
	c = h_accept(&client);
	ck_assert_int_eq(write(client, "NOPE", 4), 4);
	H_UNTIL(c->phase >= TP_PHASE_CLOSING);
	ck_assert(h_ended(client));
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_cx_total), 0);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 0);
	close(client);
}
END_TEST

/* All it may read is there and it still cannot decide: closed, not left waiting. */
START_TEST(an_undecided_listener_filter_is_closed_at_its_read_limit)
{
	int client;
	struct tp_conn *c;

	with_listener_filter(&undecided_ops, 0);
	c = h_accept(&client);
	ck_assert_int_eq(write(client, "abc", 3), 3);
	for (int i = 0; i < 5; i++)
		h_turn(5);
	ck_assert_int_eq(c->phase, TP_PHASE_LISTENER_FILTERS);
	ck_assert_int_eq(write(client, "d", 1), 1);
	H_UNTIL(c->phase >= TP_PHASE_CLOSING);
	close(client);
}
END_TEST

START_TEST(listener_filters_timeout_closes_or_continues)
{
	int client, server;
	struct tp_conn *c;

	with_listener_filter(&sniff_ops, 30);
	c = h_accept(&client);
	H_UNTIL(c->phase >= TP_PHASE_CLOSING);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 0);
	close(client);

	lcfg.continue_on_listener_filters_timeout = true;
	c = h_accept(&client);
	H_UNTIL(c->phase >= TP_PHASE_FILTERS);
	ck_assert_ptr_eq(c->chain, &chain);
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	tp_conn_close(&w, c);
	close(client);
	close(server);
}
END_TEST

/* sni_cluster routes by the server name a listener filter found: to the cluster of that name,
 * and, with no name, by tcp_proxy's own route. */
START_TEST(sni_cluster_routes_by_the_name_a_listener_filter_found)
{
	static const struct tp_filter_ops *const ops[] = {&tp_filter_sni_cluster};
	static char conf;
	void *const confs[] = {&conf};
	int client, server;
	struct tp_conn *c;

	with_listener_filter(&sniff_ops, 0);
	h_chain(ops, confs, 1);
	ccfg.name = "sniffed.example.com";
	pcfg.cluster_index = -1; /* tcp_proxy names no cluster of its own */
	c = h_accept(&client);
	ck_assert_int_eq(write(client, "PASS", 4), 4);
	H_UNTIL(c->phase >= TP_PHASE_CONNECTING);
	ck_assert_ptr_eq(c->cluster, &crt);
	ck_assert_int_ge(server = h_accept_upstream(), 0);
	h_expect(server, "PASS");
	tp_conn_close(&w, c);
	close(client);
	close(server);

	/* No name: no route of its own either, so NC. */
	lcfg.n_listener_filters = 0;
	h_size_slots();
	c = h_accept(&client);
	ck_assert_int_ge(c->phase, TP_PHASE_CLOSING);
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_cx_no_route), 1);
	close(client);
}
END_TEST

/* ---- chain selection ---- */

static struct tp_filter_chain_cfg chains2[2];
static struct tp_cfg_errors match_errs;

/* The harness's chain twice: chains2[0] matching only destination port 1 (never this
 * listener's), chains2[1] anything or, with local_only, only SAME_IP_OR_LOOPBACK sources. */
static void with_two_chains(bool with_default, bool local_only)
{
	struct tp_cfg_ctx ctx;

	memset(&match_errs, 0, sizeof(match_errs));
	tp_cfg_ctx_init(&ctx, "test", &match_errs);
	chains2[0] = chain;
	chains2[1] = chain;
	chains2[0].name = "port1";
	chains2[1].name = "other";
	chains2[0].match.destination_port = 1;
	chains2[1].match.source_type = local_only ? TP_SOURCE_LOCAL : TP_SOURCE_ANY;
	lcfg.filter_chains = chains2;
	lcfg.n_filter_chains = with_default || local_only ? 2 : 1;
	lcfg.has_default_chain = with_default;
	ck_assert_int_eq(tp_chain_matcher_build(&ctx, &lcfg), 0);
	ck_assert_ptr_nonnull(lcfg.matcher);
}

static void chain_selection_teardown(void)
{
	tp_chain_matcher_free(lcfg.matcher);
	lcfg.matcher = NULL;
	h_teardown();
}

/* No chain takes it: NR, listener.<addr>.no_filter_chain_match, closed before any filter. */
START_TEST(no_chain_matches_ends_with_nr)
{
	int client;
	struct tp_conn *c;
	char letters[16];
	size_t n;

	with_two_chains(false, false);
	c = h_accept(&client);
	ck_assert_int_ge(c->phase, TP_PHASE_CLOSING);
	ck_assert_ptr_null(c->chain);
	ck_assert(tp_rf_has(c, TP_RF_NO_FILTER_CHAIN));
	n = tp_rf_letters(c, letters, sizeof(letters));
	ck_assert_int_eq((int)n, 2);
	ck_assert(!memcmp(letters, "NR", 2));
	ck_assert_str_eq(tp_rf_end_details(c), "filter_chain_not_found");
	ck_assert_uint_eq(tp_stat_get(w.stats, lcfg.stats_base + TP_LISTENER_no_filter_chain_match),
			  1);
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_cx_total), 0);
	ck_assert(h_ended(client));
	close(client);
}
END_TEST

START_TEST(the_default_chain_takes_what_none_matches)
{
	int client, server;
	struct tp_conn *c;

	with_two_chains(true, false);
	c = h_accept(&client);
	ck_assert_ptr_eq(c->chain, &chains2[1]);
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	tp_conn_close(&w, c);
	close(client);
	close(server);
	ck_assert_uint_eq(tp_stat_get(w.stats, lcfg.stats_base + TP_LISTENER_no_filter_chain_match),
			  0);
}
END_TEST

/* A chain on the source reads the peer's address (once: formats reuse it). */
START_TEST(a_source_match_reads_the_peer_address)
{
	int client, server;
	struct tp_conn *c;

	with_two_chains(false, true);
	c = h_accept(&client);
	ck_assert_ptr_eq(c->chain, &chains2[1]);
	ck_assert_int_eq(c->down_remote.family, AF_INET);
	ck_assert_uint_ne(c->down_remote.port, 0);
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	tp_conn_close(&w, c);
	close(client);
	close(server);
}
END_TEST

/* ---- widths ---- */

/* max_connect_attempts above 255 gives up after exactly that many: the attempt counter once was
 * 8 bits wide and wrapped, retrying a dead host for ever. */
START_TEST(max_connect_attempts_above_255_gives_up)
{
	int client;
	struct tp_conn *c;

	close(upstream_listener); /* the host refuses */
	upstream_listener = socket(AF_INET, SOCK_STREAM, 0);
	pcfg.max_connect_attempts = 300;
	c = h_accept(&client);
	H_UNTIL(c->phase >= TP_PHASE_CLOSING);
	ck_assert_uint_eq(c->attempts, 300);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 300);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_connect_fail), 300);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_connect_attempts_exceeded), 1);
	close(client);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("filter_chain");
	TCase *tc = tcase_create("stop contract");
	TCase *tf = tcase_create("filter state and timers");
	TCase *tl = tcase_create("listener filters");
	TCase *ts = tcase_create("chain selection");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, h_teardown);
	tcase_add_test(tc, stop_in_on_new_connection_holds_the_connect);
	tcase_add_test(tc, stop_in_on_data_holds_the_bytes_and_the_connect);
	tcase_add_test(tc, a_held_chain_passes_no_byte_to_tcp_proxy);
	tcase_add_test(tc, connected_while_held_the_relay_waits_for_the_bytes);
	tcase_add_test(tc, a_fin_read_early_follows_the_bytes);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tf, setup, h_teardown);
	tcase_add_test(tf, a_filter_keeps_state_in_the_slot_and_owns_a_timer);
	tcase_add_test(tf, a_filter_timer_is_cancelled_when_the_connection_closes);
	tcase_set_timeout(tf, 30);
	suite_add_tcase(s, tf);
	tcase_add_checked_fixture(tl, h_setup, h_teardown);
	tcase_add_test(tl, listener_filters_peek_before_the_chain_is_chosen);
	tcase_add_test(tl, a_listener_filter_refuses_a_connection);
	tcase_add_test(tl, an_undecided_listener_filter_is_closed_at_its_read_limit);
	tcase_add_test(tl, listener_filters_timeout_closes_or_continues);
	tcase_add_test(tl, sni_cluster_routes_by_the_name_a_listener_filter_found);
	tcase_add_test(tl, max_connect_attempts_above_255_gives_up);
	tcase_set_timeout(tl, 30);
	suite_add_tcase(s, tl);
	tcase_add_checked_fixture(ts, h_setup, chain_selection_teardown);
	tcase_add_test(ts, no_chain_matches_ends_with_nr);
	tcase_add_test(ts, the_default_chain_takes_what_none_matches);
	tcase_add_test(ts, a_source_match_reads_the_peer_address);
	tcase_set_timeout(ts, 30);
	suite_add_tcase(s, ts);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

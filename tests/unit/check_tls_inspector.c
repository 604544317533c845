/* Check suite for filters/tls_inspector.c, run by a worker built by hand (conn_harness.h) on
 * real loopback sockets: real clients' ClientHellos (tests/fixtures/clienthello) whole, split
 * and one byte at a time; plaintext; a hello too large for max_client_hello_size; a peer that
 * closes mid-hello; close_connection_on_client_hello_parsing_errors. Each checks the counters,
 * what the connection info holds and that the upstream gets every byte the client sent. */
#include "conn_harness.h"

#include "core/config/cfg_schema.h"
#include "core/config/ynode.h"
#include "core/tls/clienthello.h"

static struct tp_listener_filter_cfg lf;
static struct tp_cfg_errors errs;

static uint8_t hello[TP_CHELLO_MAX_BYTES];
static size_t hello_len;

static void load_hello(const char *name)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "tests/fixtures/clienthello/%s", name);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	hello_len = fread(hello, 1, sizeof(hello), f);
	fclose(f);
	ck_assert_uint_gt(hello_len, 0);
}

/* tls_inspector in front of the harness's chain, its typed_config given as YAML ("" for
 * none: picked by name). */
static void with_inspector(const char *yaml)
{
	struct tp_ydoc *doc = NULL;
	struct tp_yerror yerr;
	struct tp_cfg_ctx ctx;

	memset(&lf, 0, sizeof(lf));
	memset(&errs, 0, sizeof(errs));
	tp_cfg_ctx_init(&ctx, "test", &errs);
	if (*yaml)
		ck_assert_int_eq(tp_ynode_parse_string(yaml, strlen(yaml), &doc, &yerr), 0);
	lf.ops = &tp_lfilter_tls_inspector;
	lf.conf = lf.ops->parse(&ctx, doc ? doc->root : NULL);
	ck_assert_ptr_nonnull(lf.conf);
	ck_assert_uint_eq(errs.n, 0);
	tp_ynode_doc_free(doc);
	ck_assert_int_eq(lf.ops->register_stats(lf.conf, st), 0);
	lcfg.listener_filters = &lf;
	lcfg.n_listener_filters = 1;
	lcfg.listener_filters_timeout_ms = 0;
	tp_listener_filter_layout(&lcfg);
	h_size_slots();
	w.peek_buf = malloc(lf.max_read_bytes ? lf.max_read_bytes : 1);
	w.peek_cap = lf.max_read_bytes;
}

static void setup(void)
{
	h_setup();
}

static void teardown(void)
{
	if (lf.conf)
		lf.ops->free(lf.conf);
	lf.conf = NULL;
	h_teardown();
}

static uint64_t ti_stat(unsigned s)
{
	uint32_t base;

	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_TLS_INSPECTOR, "", &base), 0);
	return tp_stat_get(w.stats, base + s);
}

static uint64_t listener_stat(unsigned s)
{
	return tp_stat_get(w.stats, lcfg.stats_base + s);
}

static void send_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL);

		ck_assert_int_gt(r, 0);
		p += r;
		n -= (size_t)r;
	}
}

/* The upstream connection gets exactly what the client sent: nothing was consumed. */
static void expect_passed(int server, const uint8_t *p, size_t n)
{
	uint8_t *got = malloc(n);

	h_read_exact(server, got, n);
	ck_assert(!memcmp(got, p, n));
	free(got);
}

/* Sends the hello in pieces of step bytes, turning the loop between them. */
static struct tp_conn *hello_in_steps(int *client, size_t step)
{
	struct tp_conn *c = h_accept(client);

	for (size_t off = 0; off < hello_len; off += step) {
		size_t n = hello_len - off < step ? hello_len - off : step;

		ck_assert_int_eq(c->phase, TP_PHASE_LISTENER_FILTERS);
		send_all(*client, hello + off, n);
		h_turn(0);
		h_turn(0);
	}
	return c;
}

START_TEST(a_client_hello_is_recorded_and_passed_on)
{
	static const size_t steps[] = {0, 100, 1};
	int client, server;
	struct tp_conn *c;

	load_hello("openssl-tls13-sni-alpn.bin");
	with_inspector("");
	for (unsigned i = 0; i < 3; i++) {
		c = steps[i] ? hello_in_steps(&client, steps[i]) : h_accept(&client);
		if (!steps[i])
			send_all(client, hello, hello_len);
		H_UNTIL(c->phase >= TP_PHASE_FILTERS);
		ck_assert_int_eq(c->info->transport, TP_TRANSPORT_PROTOCOL_TLS);
		ck_assert_str_eq(c->info->sni, "www.example.com");
		ck_assert_uint_gt(c->info->alpn_len, 0);
		server = h_accept_upstream();
		ck_assert_int_ge(server, 0);
		expect_passed(server, hello, hello_len);
		tp_conn_close(&w, c);
		close(client);
		close(server);
		ck_assert_uint_eq(ti_stat(TP_TLS_INSPECTOR_tls_found), i + 1);
		ck_assert_uint_eq(ti_stat(TP_TLS_INSPECTOR_sni_found), i + 1);
		ck_assert_uint_eq(ti_stat(TP_TLS_INSPECTOR_alpn_found), i + 1);
	}
	ck_assert_uint_eq(ti_stat(TP_TLS_INSPECTOR_tls_not_found), 0);
	ck_assert_uint_eq(ti_stat(TP_TLS_INSPECTOR_bytes_processed + TP_STATS_HIST_COUNT), 3);
	ck_assert_uint_eq(listener_stat(TP_LISTENER_downstream_pre_cx_active), 0);
}
END_TEST

/* A hello in two records (the parse walks them as they come), sent in two segments. */
START_TEST(a_hello_across_records_and_segments)
{
	int client, server;
	struct tp_conn *c;

	load_hello("openssl-fragmented.bin");
	with_inspector("");
	c = hello_in_steps(&client, 300);
	H_UNTIL(c->phase >= TP_PHASE_FILTERS);
	ck_assert_str_eq(c->info->sni, "frag.example.com");
	ck_assert_uint_eq(ti_stat(TP_TLS_INSPECTOR_tls_found), 1);
	server = h_accept_upstream();
	expect_passed(server, hello, hello_len);
	tp_conn_close(&w, c);
	close(client);
	close(server);
}
END_TEST

START_TEST(no_sni_and_no_alpn_are_counted)
{
	int client, server;
	struct tp_conn *c;

	load_hello("openssl-no-sni.bin");
	with_inspector("{}");
	c = h_accept(&client);
	send_all(client, hello, hello_len);
	H_UNTIL(c->phase >= TP_PHASE_FILTERS);
	ck_assert_int_eq(c->info->transport, TP_TRANSPORT_PROTOCOL_TLS);
	ck_assert_uint_eq(c->info->sni_len, 0);
	ck_assert_uint_eq(ti_stat(TP_TLS_INSPECTOR_sni_not_found), 1);
	ck_assert_uint_eq(ti_stat(TP_TLS_INSPECTOR_alpn_not_found), 1);
	server = h_accept_upstream();
	expect_passed(server, hello, hello_len);
	tp_conn_close(&w, c);
	close(client);
	close(server);
}
END_TEST

/* Plaintext goes on as raw_buffer, byte for byte; with the close option it is closed. */
START_TEST(plaintext_is_tls_not_found)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	int client, server;
	struct tp_conn *c;

	with_inspector("");
	c = h_accept(&client);
	send_all(client, (const uint8_t *)req, sizeof(req) - 1);
	H_UNTIL(c->phase >= TP_PHASE_FILTERS);
	ck_assert_int_ne(c->info->transport, TP_TRANSPORT_PROTOCOL_TLS);
	ck_assert_uint_eq(ti_stat(TP_TLS_INSPECTOR_tls_not_found), 1);
	server = h_accept_upstream();
	expect_passed(server, (const uint8_t *)req, sizeof(req) - 1);
	tp_conn_close(&w, c);
	close(client);
	close(server);
}
END_TEST

START_TEST(parse_errors_close_when_asked)
{
	int client;
	struct tp_conn *c;

	with_inspector("close_connection_on_client_hello_parsing_errors: true");
	c = h_accept(&client);
	send_all(client, (const uint8_t *)"SSH-2.0-x\r\n", 11);
	H_UNTIL(c->phase >= TP_PHASE_CLOSING);
	ck_assert(h_ended(client));
	ck_assert_uint_eq(ti_stat(TP_TLS_INSPECTOR_tls_not_found), 0);
	ck_assert_uint_eq(ti_stat(TP_TLS_INSPECTOR_client_hello_too_large), 0);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 0);
	close(client);
}
END_TEST

/* A ClientHello longer than max_client_hello_size: client_hello_too_large, closed as soon as
 * the bytes say so. */
START_TEST(a_hello_past_the_window_is_too_large)
{
	int client;
	struct tp_conn *c;

	load_hello("openssl-tls13-sni-alpn.bin");
	with_inspector("max_client_hello_size: 200");
	ck_assert_uint_eq(lf.max_read_bytes, 200);
	c = h_accept(&client);
	/* Its record header already says it cannot end within 200 bytes. */
	send_all(client, hello, 150);
	H_UNTIL(c->phase >= TP_PHASE_CLOSING);
	ck_assert_uint_eq(ti_stat(TP_TLS_INSPECTOR_client_hello_too_large), 1);
	ck_assert_uint_eq(ti_stat(TP_TLS_INSPECTOR_tls_found), 0);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 0);
	close(client);
}
END_TEST

/* The peer closes before its hello is whole: closed, counted as a remote close. */
START_TEST(a_fin_mid_hello_closes)
{
	int client;
	struct tp_conn *c;

	load_hello("openssl-tls13-sni-alpn.bin");
	with_inspector("");
	c = h_accept(&client);
	send_all(client, hello, 40);
	shutdown(client, SHUT_WR);
	H_UNTIL(c->phase >= TP_PHASE_CLOSING);
	ck_assert_uint_eq(listener_stat(TP_LISTENER_downstream_listener_filter_remote_close), 1);
	ck_assert_uint_eq(ti_stat(TP_TLS_INSPECTOR_tls_found), 0);
	ck_assert_uint_eq(listener_stat(TP_LISTENER_downstream_pre_cx_active), 0);
	close(client);
}
END_TEST

/* The listener filters' timeout: counted in downstream_pre_cx_timeout; with
 * continue_on_listener_filters_timeout the chain is chosen as raw_buffer, the partial hello
 * still the stream's. */
START_TEST(the_timeout_closes_or_goes_on_as_raw_buffer)
{
	int client, server;
	struct tp_conn *c;

	load_hello("openssl-tls13-sni-alpn.bin");
	with_inspector("");
	lcfg.listener_filters_timeout_ms = 30;
	c = h_accept(&client);
	send_all(client, hello, 40);
	H_UNTIL(c->phase >= TP_PHASE_CLOSING);
	ck_assert_uint_eq(listener_stat(TP_LISTENER_downstream_pre_cx_timeout), 1);
	close(client);

	lcfg.continue_on_listener_filters_timeout = true;
	c = h_accept(&client);
	send_all(client, hello, 40);
	H_UNTIL(c->phase >= TP_PHASE_FILTERS);
	ck_assert_int_ne(c->info->transport, TP_TRANSPORT_PROTOCOL_TLS);
	ck_assert_uint_eq(c->info->sni_len, 0);
	ck_assert_uint_eq(listener_stat(TP_LISTENER_downstream_pre_cx_timeout), 2);
	server = h_accept_upstream();
	expect_passed(server, hello, 40);
	tp_conn_close(&w, c);
	close(client);
	close(server);
	ck_assert_uint_eq(listener_stat(TP_LISTENER_downstream_pre_cx_active), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tls_inspector");
	TCase *t = tcase_create("tls_inspector");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 30);
	tcase_add_test(t, a_client_hello_is_recorded_and_passed_on);
	tcase_add_test(t, a_hello_across_records_and_segments);
	tcase_add_test(t, no_sni_and_no_alpn_are_counted);
	tcase_add_test(t, plaintext_is_tls_not_found);
	tcase_add_test(t, parse_errors_close_when_asked);
	tcase_add_test(t, a_hello_past_the_window_is_too_large);
	tcase_add_test(t, a_fin_mid_hello_closes);
	tcase_add_test(t, the_timeout_closes_or_goes_on_as_raw_buffer);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *r = srunner_create(suite());
	int failed;

	srunner_run_all(r, CK_ENV);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}

/* The filter chain contract (core/conn.c) with a filter that exists only in this test: a filter
 * answering STOP from on_new_connection or on_data holds tcp_proxy's upstream connect until it
 * calls tp_conn_continue(), and bytes read before the connect go upstream first, in order.
 * Sockets are real loopback TCP; the ring is real; completions are delivered by hand. */
#include "core/config/config-t.h"
#include "core/conn/conn.h"
#include "core/conn/early_data.h"
#include "core/filter.h"
#include "core/worker/lb.h"
#include "core/conn/proxy.h"
#include "core/conn/relay.h"
#include "core/base/timer.h"
#include "shm/stats.h"
#include "uring/pool.h"
#include "uring/ring.h"
#include "uring/udata.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct tp_worker w;
static struct tp_stats *st;
static char shm_name[64];
static struct tp_config cfg;
static struct tp_listener_cfg lcfg;
static struct tp_listener_rt lrt;
static struct tp_endpoint_cfg ep;
static struct tp_cluster_cfg ccfg;
static struct tp_cluster_rt crt;
static struct tp_tcp_proxy_cfg pcfg;
static struct tp_filter_cfg filters[2];
static struct tp_filter_chain_cfg chain;
static int upstream_listener;

/* The test-only filter: answers what the test says and remembers what it saw. */
static struct {
	enum tp_filter_status on_new, on_data;
	int new_calls, data_calls;
	size_t seen;
	bool eos;
} holder;

static enum tp_filter_status holder_new(struct tp_conn *c, const void *conf)
{
	holder.new_calls++;
	return holder.on_new;
}

static enum tp_filter_status holder_data(struct tp_conn *c, const void *conf, const uint8_t *data,
					 size_t len, bool end_stream)
{
	holder.data_calls++;
	holder.seen = len;
	holder.eos = end_stream;
	return holder.on_data;
}

static const struct tp_filter_ops holder_ops = {
	.name = "test.holder",
	.on_new_connection = holder_new,
	.on_data = holder_data,
};

static void listen_upstream(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in *to = (struct sockaddr_in *)&ep.addr.ss;
	socklen_t len = sizeof(sa);

	upstream_listener = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(upstream_listener, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(upstream_listener, 8), 0);
	ck_assert_int_eq(getsockname(upstream_listener, (struct sockaddr *)&sa, &len), 0);
	memset(&ep, 0, sizeof(ep));
	*to = sa;
	ep.addr.len = sizeof(sa);
	snprintf(ep.addr.text, sizeof(ep.addr.text), "127.0.0.1:%u", ntohs(sa.sin_port));
	ep.weight = 1;
}

static void setup(void)
{
	char err[256];

	snprintf(shm_name, sizeof(shm_name), "/tp-check-chain.%d", (int)getpid());
	ck_assert_int_eq(tp_stats_create(&st, shm_name, 1, 16, err, sizeof(err)), 0);
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(tp_ring_init(&w.ring, 256, err, sizeof(err)), 0);
	tp_pipe_pool_init(&w.pipes, 4, 1 << 20);
	tp_buf_pool_init(&w.bufs, 4, 64 * 1024);
	tp_timer_heap_init(&w.timers);
	w.stats = tp_stats_block(st, 0);
	w.now_ms = tp_now_ms();
	tp_self = &w;

	listen_upstream();
	memset(&ccfg, 0, sizeof(ccfg));
	ccfg.name = "c";
	ccfg.per_connection_buffer_limit_bytes = 1 << 20;
	ccfg.connect_timeout_ms = 5000;
	ccfg.endpoints = &ep;
	ccfg.n_endpoints = 1;
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, "c", &ccfg.stats_base), 0);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_HOST, "c::h", &ep.stats_base), 0);
	ck_assert_int_eq(tp_lb_init(&crt, &ccfg, 0), 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.clusters = &ccfg;
	cfg.n_clusters = 1;
	w.cfg = &cfg;
	w.clusters = &crt;

	memset(&pcfg, 0, sizeof(pcfg));
	pcfg.stat_prefix = "t";
	pcfg.cluster = "c";
	pcfg.cluster_index = 0;
	pcfg.max_connect_attempts = 1;
	pcfg.max_downstream_connection_duration_ms = TP_DURATION_UNSET;
	pcfg.access_log_flush_interval_ms = TP_DURATION_UNSET;
	pcfg.max_early_data_bytes = -1;
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_TCP, "t", &pcfg.stats_base), 0);
	filters[0].ops = &holder_ops;
	filters[1].ops = &tp_filter_tcp_proxy;
	filters[1].conf = &pcfg;
	chain.filters = filters;
	chain.n_filters = 2;
	memset(&lcfg, 0, sizeof(lcfg));
	lcfg.name = "l";
	lcfg.per_connection_buffer_limit_bytes = 1 << 20;
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_LISTENER, "l", &lcfg.stats_base), 0);
	lrt.cfg = &lcfg;
	memset(&holder, 0, sizeof(holder));
}

static void teardown(void)
{
	io_uring_queue_exit(&w.ring);
	for (uint32_t i = 0; i < w.n_chunks; i++)
		free(w.chunks[i]);
	free(w.chunks);
	tp_pipe_pool_destroy(&w.pipes);
	tp_buf_pool_destroy(&w.bufs);
	tp_timer_heap_destroy(&w.timers);
	tp_lb_destroy(&crt);
	tp_stats_destroy(st);
	close(upstream_listener);
}

static uint64_t tcp_stat(uint32_t idx)
{
	return tp_stat_get(w.stats, pcfg.stats_base + idx);
}

static uint64_t cluster_stat(uint32_t idx)
{
	return tp_stat_get(w.stats, ccfg.stats_base + idx);
}

/* A new downstream connection, as the worker makes one: *client is the test's end. */
static struct tp_conn *accept_one(int *client)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct tp_conn *c = tp_conn_alloc(&w);

	ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	*client = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(*client, (struct sockaddr *)&sa, sizeof(sa)), 0);
	c->fd[TP_DOWN] = accept4(l, NULL, NULL, SOCK_NONBLOCK);
	ck_assert_int_ge(c->fd[TP_DOWN], 0);
	close(l);
	c->listener = &lrt;
	c->chain = &chain;
	c->state = TP_CONN_FILTERS;
	tp_stat_add(w.stats, lcfg.stats_base + TP_LISTENER_downstream_cx_active, 1);
	tp_session_on_accept(&w, c);
	tp_conn_continue(&w, c);
	return c;
}

/* Delivers completions until the upstream connect of c has completed (or 5 s pass). */
static void complete_connect(struct tp_conn *c)
{
	for (int i = 0;
	     i < 500 && c->state == TP_CONN_CONNECTING && !(c->flags & TP_CF_UP_CONNECTED); i++) {
		struct __kernel_timespec ts = {.tv_nsec = 10 * 1000000};
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;

		io_uring_submit_and_wait_timeout(&w.ring, &cqe, 1, &ts, NULL);
		w.now_ms = tp_now_ms();
		io_uring_for_each_cqe(&w.ring, head, cqe)
		{
			uint64_t u = cqe->user_data;

			n++;
			if (tp_udata_op(u) == TP_OP_IGNORE)
				continue;
			if (!(cqe->flags & IORING_CQE_F_MORE))
				c->inflight--;
			if (tp_udata_op(u) == TP_OP_CONNECT)
				tp_session_on_connect(&w, c, cqe->res);
		}
		io_uring_cq_advance(&w.ring, n);
	}
}

static int accept_upstream(void)
{
	struct pollfd p = {.fd = upstream_listener, .events = POLLIN};

	if (poll(&p, 1, 2000) != 1)
		return -1;
	return accept(upstream_listener, NULL, NULL);
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

static bool nothing_to_read(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 100) == 0;
}

START_TEST(stop_in_on_new_connection_holds_the_connect)
{
	int client, server;
	struct tp_conn *c;

	holder.on_new = TP_FILTER_STOP;
	c = accept_one(&client);
	ck_assert_int_eq(holder.new_calls, 1);
	ck_assert_int_eq(c->state, TP_CONN_FILTERS);
	ck_assert_int_eq(c->fd[TP_UP], -1);
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_cx_total), 0); /* tcp_proxy not started */
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 0);

	tp_conn_continue(&w, c);
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_cx_total), 1);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 1);
	ck_assert_int_eq(c->state, TP_CONN_CONNECTING);
	complete_connect(c);
	ck_assert_int_eq(c->state, TP_CONN_RELAY);
	server = accept_upstream();
	ck_assert_int_ge(server, 0);
	ck_assert_int_eq(holder.new_calls, 1); /* started once */
	tp_conn_close(&w, c);
	close(client);
	close(server);
}
END_TEST

START_TEST(stop_in_on_data_holds_the_bytes_and_the_connect)
{
	int client, server;
	struct tp_conn *c;

	pcfg.upstream_connect_mode = TP_CONNECT_ON_DOWNSTREAM_DATA;
	pcfg.max_early_data_bytes = 4096;
	holder.on_new = TP_FILTER_CONTINUE;
	holder.on_data = TP_FILTER_STOP;
	c = accept_one(&client);
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_cx_total), 1); /* routed, waiting */
	ck_assert_int_eq(c->state, TP_CONN_FILTERS);

	ck_assert_int_eq(write(client, "hello", 5), 5);
	tp_early_on_readable(&w, c, POLLIN);
	ck_assert_int_eq(holder.data_calls, 1);
	ck_assert_uint_eq(holder.seen, 5);
	ck_assert_uint_eq(tcp_stat(TP_TCP_early_data_received_count_total), 0);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 0);

	/* The next read offers everything not passed on yet, from the first filter. */
	ck_assert_int_eq(write(client, " world", 6), 6);
	tp_early_on_readable(&w, c, POLLIN);
	ck_assert_int_eq(holder.data_calls, 2);
	ck_assert_uint_eq(holder.seen, 11);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 0);

	holder.on_data = TP_FILTER_CONTINUE;
	tp_conn_continue(&w, c);
	ck_assert_uint_eq(tcp_stat(TP_TCP_early_data_received_count_total), 1);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 1);
	complete_connect(c);
	ck_assert_int_eq(c->state, TP_CONN_RELAY);
	server = accept_upstream();
	ck_assert_int_ge(server, 0);
	read_exact(server, "hello world");
	ck_assert_ptr_null(c->early); /* flushed and freed */
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
	c = accept_one(&client);
	ck_assert_int_eq(write(client, "early", 5), 5);
	tp_early_on_readable(&w, c, POLLIN);
	/* The filter sees the bytes, but the chain stays held at it. */
	ck_assert_int_eq(holder.data_calls, 1);
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_cx_total), 0);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 0);

	tp_conn_continue(&w, c);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 1);
	ck_assert_uint_eq(tcp_stat(TP_TCP_early_data_received_count_total), 1);
	complete_connect(c);
	server = accept_upstream();
	ck_assert_int_ge(server, 0);
	read_exact(server, "early");
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
	c = accept_one(&client);
	ck_assert_int_eq(write(client, "first", 5), 5);
	tp_early_on_readable(&w, c, POLLIN);
	complete_connect(c);
	ck_assert(c->flags & TP_CF_UP_CONNECTED);
	ck_assert_int_eq(c->state, TP_CONN_CONNECTING); /* relay not started */
	server = accept_upstream();
	ck_assert_int_ge(server, 0);
	ck_assert(nothing_to_read(server));

	holder.on_data = TP_FILTER_CONTINUE;
	tp_conn_continue(&w, c);
	ck_assert_int_eq(c->state, TP_CONN_RELAY);
	read_exact(server, "first");
	/* Then the zero-copy relay reads on. */
	ck_assert_int_eq(write(client, "second", 6), 6);
	tp_relay_on_readable(&w, c, TP_DOWN, POLLIN);
	read_exact(server, "second");
	tp_conn_close(&w, c);
	close(client);
	close(server);
}
END_TEST

START_TEST(a_fin_read_early_follows_the_bytes)
{
	int client, server;
	struct tp_conn *c;
	char b;

	pcfg.upstream_connect_mode = TP_CONNECT_ON_DOWNSTREAM_DATA;
	pcfg.max_early_data_bytes = 0; /* pause after every read */
	holder.on_data = TP_FILTER_CONTINUE;
	c = accept_one(&client);
	ck_assert_int_eq(write(client, "bye", 3), 3);
	shutdown(client, SHUT_WR);
	usleep(20000);
	tp_early_on_readable(&w, c, POLLIN | POLLRDHUP);
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_flow_control_paused_reading_total), 1);
	complete_connect(c);
	server = accept_upstream();
	ck_assert_int_ge(server, 0);
	/* The FIN was not read yet (paused at the limit): it comes through the relay. */
	tp_relay_on_readable(&w, c, TP_DOWN, POLLIN | POLLRDHUP);
	read_exact(server, "bye");
	ck_assert_int_eq(read(server, &b, 1), 0);
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_flow_control_resumed_reading_total), 1);
	tp_conn_close(&w, c);
	close(client);
	close(server);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("filter_chain");
	TCase *tc = tcase_create("stop contract");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, stop_in_on_new_connection_holds_the_connect);
	tcase_add_test(tc, stop_in_on_data_holds_the_bytes_and_the_connect);
	tcase_add_test(tc, a_held_chain_passes_no_byte_to_tcp_proxy);
	tcase_add_test(tc, connected_while_held_the_relay_waits_for_the_bytes);
	tcase_add_test(tc, a_fin_read_early_follows_the_bytes);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

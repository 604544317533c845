/* The relay state machine, driven by hand: readiness events are delivered by the test (no
 * loop runs), the sockets are real TCP connections on loopback, the stats a real segment. */
#include "core/admin.h"
#include "core/config-t.h"
#include "core/conn.h"
#include "core/lb.h"
#include "core/relay.h"
#include "core/timer.h"
#include "shm/stats.h"
#include "uring/pool.h"
#include "uring/ring.h"

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
static struct tp_listener_cfg lcfg;
static struct tp_listener_rt lrt;
static struct tp_endpoint_cfg ep;
static struct tp_cluster_cfg ccfg;
static struct tp_cluster_rt crt;
static struct tp_tcp_proxy_cfg pcfg;

/* A connected TCP pair on loopback: *a is the test's end, *b the proxy's (non-blocking). */
static void tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	*a = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(*a, (struct sockaddr *)&sa, sizeof(sa)), 0);
	*b = accept4(l, NULL, NULL, SOCK_NONBLOCK);
	ck_assert_int_ge(*b, 0);
	close(l);
}

static void setup(void)
{
	char err[256];

	snprintf(shm_name, sizeof(shm_name), "/tp-check-relay.%d", (int)getpid());
	ck_assert_int_eq(tp_stats_create(&st, shm_name, 1, 16, err, sizeof(err)), 0);
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(tp_ring_init(&w.ring, 256, err, sizeof(err)), 0);
	tp_pipe_pool_init(&w.pipes, 4, 1 << 20);
	tp_buf_pool_init(&w.bufs, 4, 64 * 1024);
	tp_timer_heap_init(&w.timers);
	w.stats = tp_stats_block(st, 0);
	tp_self = &w;

	memset(&lcfg, 0, sizeof(lcfg));
	lcfg.name = "l";
	lcfg.per_connection_buffer_limit_bytes = 1 << 20;
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_LISTENER, "l", &lcfg.stats_base), 0);
	lrt.cfg = &lcfg;
	memset(&ccfg, 0, sizeof(ccfg));
	ccfg.name = "c";
	ccfg.per_connection_buffer_limit_bytes = 1 << 20;
	ccfg.connect_timeout_ms = 1000;
	ep.weight = 1;
	ccfg.endpoints = &ep;
	ccfg.n_endpoints = 1;
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, "c", &ccfg.stats_base), 0);
	ck_assert_int_eq(tp_admin_register_hosts(st, &ccfg), 0);
	ck_assert_int_eq(tp_lb_init(&crt, &ccfg, 0), 0);
	memset(&pcfg, 0, sizeof(pcfg));
	pcfg.stat_prefix = "t";
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_TCP, "t", &pcfg.stats_base), 0);
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
}

static uint64_t stat_of(uint32_t base, uint32_t idx)
{
	return tp_stat_get(w.stats, base + idx);
}

/* A session in relay: *client and *server are the test's ends of its two sockets. */
static struct tp_conn *new_session(int *client, int *server)
{
	struct tp_conn *c = tp_conn_alloc(&w);
	int down, up;

	tcp_pair(client, &down);
	tcp_pair(server, &up);
	c->fd[TP_DOWN] = down;
	c->fd[TP_UP] = up;
	c->listener = &lrt;
	c->proxy = &pcfg;
	c->cluster = &crt;
	c->host = &crt.hosts[0];
	c->host->active++;
	c->flags |= TP_CF_UP_ACTIVE;
	tp_stat_add(w.stats, lcfg.stats_base + TP_LISTENER_downstream_cx_active, 1);
	tp_stat_add(w.stats, ccfg.stats_base + TP_CLUSTER_upstream_cx_active, 1);
	c->state = TP_CONN_CONNECTING;
	tp_relay_start(&w, c);
	ck_assert_int_eq(c->state, TP_CONN_RELAY);
	ck_assert_uint_eq(c->poll_in, 3);
	return c;
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
	tp_relay_on_readable(&w, c, TP_DOWN, POLLIN);
	read_exact(server, "hello");
	ck_assert_uint_eq(stat_of(pcfg.stats_base, TP_TCP_downstream_cx_rx_bytes_total), 5);
	ck_assert_uint_eq(stat_of(ccfg.stats_base, TP_CLUSTER_upstream_cx_tx_bytes_total), 5);
	/* Idle again: nothing held. */
	ck_assert_int_eq(c->dir[TP_DOWN].stage.kind, TP_STAGE_NONE);
	ck_assert(!c->dir[TP_DOWN].readable);

	shutdown(client, SHUT_WR);
	tp_relay_on_readable(&w, c, TP_DOWN, POLLIN | POLLRDHUP);
	ck_assert(at_eof(server));
	ck_assert(c->dir[TP_DOWN].fin_sent);
	ck_assert_int_eq(c->state, TP_CONN_RELAY); /* the other way still flows */

	ck_assert_int_eq(write(server, "world", 5), 5);
	shutdown(server, SHUT_WR);
	tp_relay_on_readable(&w, c, TP_UP, POLLIN | POLLRDHUP);
	read_exact(client, "world");
	ck_assert(at_eof(client));
	ck_assert_int_eq(c->state, TP_CONN_CLOSING);
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
		tp_relay_on_readable(&w, c, TP_DOWN, POLLIN);
	}
	ck_assert(c->dir[TP_DOWN].paused);
	ck_assert_uint_le(c->dir[TP_DOWN].pending, 64 * 1024);
	ck_assert(c->dir[TP_DOWN].dst_wait);
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
		if (c->dir[TP_DOWN].dst_wait)
			tp_relay_on_writable(&w, c, TP_UP);
		tp_relay_on_readable(&w, c, TP_DOWN, POLLIN);
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
	tp_relay_on_readable(&w, c, TP_UP, POLLIN);
	read_exact(client, "bye");
	setsockopt(server, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(server);
	usleep(20000);
	tp_relay_on_readable(&w, c, TP_UP, POLLIN | POLLERR | POLLHUP);
	/* Envoy closes the downstream with FlushWrite: everything already sent, then closed. */
	ck_assert(at_eof(client));
	ck_assert_int_eq(c->state, TP_CONN_CLOSING);
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
	tp_relay_on_readable(&w, c, TP_DOWN, POLLIN);
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
	tp_relay_on_readable(&w, c, TP_DOWN, POLLIN | POLLRDHUP);
	read_exact(server, "last words");
	ck_assert(at_eof(server));
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
	tp_relay_on_readable(&w, c, TP_DOWN, POLLIN);
	read_exact(server, "small");
	ck_assert(!c->dir[TP_DOWN].bulk);
	ck_assert_uint_eq(w.pipes.live, 0);
	memset(big, 'b', sizeof(big));
	ck_assert_int_eq(write(client, big, sizeof(big)), (ssize_t)sizeof(big));
	while (got < sizeof(big)) {
		ssize_t n;

		tp_relay_on_readable(&w, c, TP_DOWN, POLLIN);
		if (c->dir[TP_DOWN].dst_wait)
			tp_relay_on_writable(&w, c, TP_UP);
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

int main(void)
{
	Suite *s = suite_create("relay");
	TCase *tc = tcase_create("state machine");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, relays_both_ways_and_forwards_each_fin);
	tcase_add_test(tc, slow_reader_pauses_then_resumes_without_loss);
	tcase_add_test(tc, upstream_reset_flushes_what_it_sent_and_closes);
	tcase_add_test(tc, copy_path_when_no_pipe_can_be_had);
	tcase_add_test(tc, data_and_fin_in_one_wakeup_are_both_forwarded);
	tcase_add_test(tc, a_full_buffer_turns_the_direction_to_splice);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

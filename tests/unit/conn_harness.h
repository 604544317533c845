/* A worker built by hand for unit tests of the connection model: its real ring, pools, timers and
 * stats block, one listener config, one cluster of one host listening on loopback, one
 * tcp_proxy, and a chain the test fills. Connections are accepted as the worker does, and the
 * worker's own loop pass (tp_worker_turn) delivers their completions, so every event goes
 * through the real dispatch to the connection's phase.
 *
 * Included by one test file each (static functions, no object of its own). */
#ifndef TP_CONN_HARNESS_H
#define TP_CONN_HARNESS_H

#include "core/admin/admin.h"
#include "core/base/timer.h"
#include "core/config/config-t.h"
#include "core/conn/conn.h"
#include "core/conn/listener_filters.h"
#include "core/filter.h"
#include "core/worker/lb.h"
#include "core/worker/worker.h"
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
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* A test file uses some of these helpers, not all. */
#define H_UNUSED __attribute__((unused))

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
static struct tp_filter_cfg filters[4];
static struct tp_filter_chain_cfg chain;
static int upstream_listener;

static H_UNUSED void h_size_slots(void);

/* Small socket buffers, set on a listener before the connection exists (shrinking them on a
 * connected socket can stall TCP on a zero window), so that a reader that stops soon stops
 * the proxy too. */
static H_UNUSED void h_small_buffers(int fd)
{
	int sz = 16 * 1024;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

static H_UNUSED void h_listen_upstream(void)
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

/* The fixture: a chain of just tcp_proxy (tests put their filters in front with h_chain()). */
static H_UNUSED void h_setup(void)
{
	char err[256];

	snprintf(shm_name, sizeof(shm_name), "/tp-check-conn.%d", (int)getpid());
	/* A segment of this name was left by a test that crashed in a process with our pid (pids
	 * are reused); it records that pid as its live master, which is now us, and would be
	 * refused as in use. Nothing alive can own it. */
	shm_unlink(shm_name);
	ck_assert_int_eq(tp_stats_create(&st, shm_name, 1, 16, err, sizeof(err)), 0);
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(tp_ring_init(&w.ring, 256, err, sizeof(err)), 0);
	tp_pipe_pool_init(&w.pipes, 4, 1 << 20);
	tp_buf_pool_init(&w.bufs, 4, 64 * 1024);
	tp_timer_heap_init(&w.timers);
	w.stats = tp_stats_block(st, 0);
	w.now_ms = tp_now_ms();

	h_listen_upstream();
	memset(&ccfg, 0, sizeof(ccfg));
	ccfg.name = "c";
	ccfg.per_connection_buffer_limit_bytes = 1 << 20;
	ccfg.connect_timeout_ms = 5000;
	ccfg.endpoints = &ep;
	ccfg.n_endpoints = 1;
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, "c", &ccfg.stats_base), 0);
	ck_assert_int_eq(tp_admin_register_hosts(st, &ccfg), 0);
	ck_assert_int_eq(tp_lb_init(&crt, &ccfg, 0), 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.clusters = &ccfg;
	cfg.n_clusters = 1;
	cfg.listeners = &lcfg;
	cfg.n_listeners = 1;
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
	memset(filters, 0, sizeof(filters));
	memset(&chain, 0, sizeof(chain));
	filters[0].ops = &tp_filter_tcp_proxy;
	filters[0].conf = &pcfg;
	chain.filters = filters;
	chain.n_filters = 1;
	memset(&lcfg, 0, sizeof(lcfg));
	lcfg.name = "l";
	lcfg.per_connection_buffer_limit_bytes = 1 << 20;
	lcfg.filter_chains = &chain;
	lcfg.n_filter_chains = 1;
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_LISTENER, "l", &lcfg.stats_base), 0);
	lrt.cfg = &lcfg;
	h_size_slots();
}

/* Puts n filters (ops, conf) before tcp_proxy and lays the chain out; sizes the slots as the
 * worker does (before the first connection is made). */
static H_UNUSED void h_chain(const struct tp_filter_ops *const *ops, void *const *conf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		filters[i].ops = ops[i];
		filters[i].conf = conf ? conf[i] : NULL;
	}
	filters[n].ops = &tp_filter_tcp_proxy;
	filters[n].conf = &pcfg;
	chain.n_filters = n + 1;
	h_size_slots();
}

/* Sizes the connection slot as the worker does: again after changing the chain's or the
 * cluster's transport, before the first connection. */
static H_UNUSED void h_size_slots(void)
{
	tp_filter_chain_layout(&chain);
	tp_worker_size_slots(&w, &cfg);
}

static H_UNUSED void h_teardown(void)
{
	io_uring_queue_exit(&w.ring);
	for (uint32_t i = 0; i < w.n_chunks; i++)
		free(w.chunks[i]);
	free(w.chunks);
	free(w.peek_buf);
	tp_pipe_pool_destroy(&w.pipes);
	tp_buf_pool_destroy(&w.bufs);
	tp_timer_heap_destroy(&w.timers);
	tp_lb_destroy(&crt);
	tp_stats_destroy(st);
	close(upstream_listener);
}

static H_UNUSED uint64_t tcp_stat(uint32_t idx)
{
	return tp_stat_get(w.stats, pcfg.stats_base + idx);
}

static H_UNUSED uint64_t cluster_stat(uint32_t idx)
{
	return tp_stat_get(w.stats, ccfg.stats_base + idx);
}

/* A connected TCP pair on loopback: *a is the test's (blocking) end, *b the proxy's. */
static H_UNUSED void h_tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	*a = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(*a, (struct sockaddr *)&sa, sizeof(sa)), 0);
	*b = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	ck_assert_int_ge(*b, 0);
	close(l);
}

/* A new downstream connection, as the worker's accept makes one: *client is the test's end. */
static H_UNUSED struct tp_conn *h_accept(int *client)
{
	struct tp_conn *c = tp_conn_alloc(&w);
	int fd;

	ck_assert_ptr_nonnull(c);
	h_tcp_pair(client, &fd);
	c->side[TP_DOWN].fd = fd;
	c->listener = &lrt;
	tp_stat_add(w.stats, lcfg.stats_base + TP_LISTENER_downstream_cx_active, 1);
	tp_lfilters_start(&w, c);
	return c;
}

/* One pass of the worker's loop, waiting at most ms for a completion. */
static H_UNUSED void h_turn(int ms)
{
	tp_worker_turn(&w, ms);
}

/* Turns the loop until cond holds, for at most 5 s. */
#define H_UNTIL(cond)                                                     \
	do {                                                              \
		uint64_t h_end_ = tp_now_ms() + 5000;                     \
		while (!(cond) && tp_now_ms() < h_end_)                   \
			h_turn(10);                                       \
		ck_assert_msg((cond), "timed out waiting for %s", #cond); \
	} while (0)

/* The upstream end of the proxy's next connection to the host, turning the loop (which
 * submits the connect) while waiting; -1 after 5 s. */
static H_UNUSED int h_accept_upstream(void)
{
	struct pollfd p = {.fd = upstream_listener, .events = POLLIN};
	uint64_t end = tp_now_ms() + 5000;

	while (poll(&p, 1, 0) != 1) {
		if (tp_now_ms() >= end)
			return -1;
		h_turn(5);
	}
	return accept(upstream_listener, NULL, NULL);
}

/* Reads exactly n bytes from fd, turning the loop while it waits. */
static H_UNUSED void h_read_exact(int fd, void *buf, size_t n)
{
	uint64_t end = tp_now_ms() + 10000;
	size_t got = 0;

	while (got < n) {
		ssize_t r = recv(fd, (char *)buf + got, n - got, MSG_DONTWAIT);

		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		ck_assert_msg(r < 0 && errno == EAGAIN, "read %zd (%s) after %zu of %zu bytes", r,
			      r < 0 ? strerror(errno) : "eof", got, n);
		ck_assert_msg(tp_now_ms() < end, "timed out after %zu of %zu bytes", got, n);
		h_turn(1);
	}
}

static H_UNUSED void h_expect(int fd, const char *want)
{
	char buf[256];

	h_read_exact(fd, buf, strlen(want));
	ck_assert(!memcmp(buf, want, strlen(want)));
}

/* True once fd is at EOF (turning the loop while waiting, at most 5 s). */
static H_UNUSED bool h_at_eof(int fd)
{
	uint64_t end = tp_now_ms() + 5000;
	char b;

	while (tp_now_ms() < end) {
		ssize_t r = recv(fd, &b, 1, MSG_DONTWAIT);

		if (r == 0)
			return true;
		if (r > 0 || errno != EAGAIN)
			return false;
		h_turn(1);
	}
	return false;
}

/* True once the peer of fd has ended the connection: EOF, or a reset (a socket closed with
 * bytes unread sends one). */
static H_UNUSED bool h_ended(int fd)
{
	uint64_t end = tp_now_ms() + 5000;
	char b;

	while (tp_now_ms() < end) {
		ssize_t r = recv(fd, &b, 1, MSG_DONTWAIT);

		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return true;
		if (r > 0 || errno != EAGAIN)
			return false;
		h_turn(1);
	}
	return false;
}

/* Nothing arrives on fd while the loop turns for ms. */
static H_UNUSED bool h_quiet(int fd, int ms)
{
	uint64_t end = tp_now_ms() + (uint64_t)ms;
	char b;

	while (tp_now_ms() < end) {
		if (recv(fd, &b, 1, MSG_DONTWAIT | MSG_PEEK) >= 0)
			return false;
		h_turn(1);
	}
	return true;
}

#endif

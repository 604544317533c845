/* The tcp_proxy session: route, upstream connect with retries, timeouts, and hand-off to the
 * relay. Behaviour follows Envoy's source/common/tcp_proxy/tcp_proxy.cc (reference/
 * envoy-tcp-proxy.md §4); differences are listed in docs/envoy-compat.md. */
#include "core/proxy.h"

#include "core/conn.h"
#include "core/config-t.h"
#include "core/lb.h"
#include "core/log.h"
#include "core/relay.h"
#include "core/timer.h"
#include "shm/stats.h"
#include "uring/ring.h"
#include "uring/udata.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CL_STAT(c, name)   ((c)->cluster->cfg->stats_base + TP_CLUSTER_##name)
#define TCP_STAT(c, name)  ((c)->proxy->stats_base + TP_TCP_##name)
#define HOST_STAT(c, name) ((c)->host->cfg->stats_base + TP_HOST_##name)

/* The next moment either timeout could fire; activity between now and then is checked when
 * the timer expires rather than moving the timer on every byte. */
static void arm_session_timer(struct tp_worker *w, struct tp_conn *c)
{
	uint64_t deadline = UINT64_MAX;
	const struct tp_tcp_proxy_cfg *p = c->proxy;

	if (p->idle_timeout_ms > 0)
		deadline = c->active_ms + (uint64_t)p->idle_timeout_ms;
	if (p->max_downstream_connection_duration_ms > 0 &&
	    c->start_ms + (uint64_t)p->max_downstream_connection_duration_ms < deadline)
		deadline = c->start_ms + (uint64_t)p->max_downstream_connection_duration_ms;
	if (deadline != UINT64_MAX && tp_timer_arm(&w->timers, &c->timer, deadline) < 0) {
		tp_error("out of memory arming a timer; closing connection");
		tp_conn_close(w, c);
	}
}

void tp_session_on_timer(struct tp_worker *w, struct tp_conn *c)
{
	const struct tp_tcp_proxy_cfg *p = c->proxy;
	uint64_t now = w->now_ms;

	/* A connection held by connection_limit's delay: its time is up. */
	if (c->flags & TP_CF_LIMITED) {
		tp_conn_close(w, c);
		return;
	}
	if (p->max_downstream_connection_duration_ms > 0 &&
	    now >= c->start_ms + (uint64_t)p->max_downstream_connection_duration_ms) {
		c->flags |= TP_CF_DURATION;
		tp_stat_inc(w->stats, TCP_STAT(c, max_downstream_connection_duration));
		tp_debug("connection %u: max_downstream_connection_duration reached", c->idx);
		tp_conn_close(w, c);
		return;
	}
	if (p->idle_timeout_ms > 0 && now >= c->active_ms + (uint64_t)p->idle_timeout_ms) {
		c->flags |= TP_CF_IDLE;
		tp_stat_inc(w->stats, TCP_STAT(c, idle_timeout));
		tp_debug("connection %u: idle timeout", c->idx);
		tp_conn_close(w, c);
		return;
	}
	arm_session_timer(w, c);
}

static void start_connect(struct tp_worker *w, struct tp_conn *c);

/* Every attempt failed, or there was nothing to try: the downstream is closed at once. */
static void give_up(struct tp_worker *w, struct tp_conn *c)
{
	tp_conn_close(w, c);
}

static void connect_failed(struct tp_worker *w, struct tp_conn *c, int err)
{
	bool timeout = err == -ECANCELED;

	if (timeout)
		tp_stat_inc(w->stats, CL_STAT(c, upstream_cx_connect_timeout));
	/* Envoy counts a timed-out connect as a failed one too (the pool closes it). */
	tp_stat_inc(w->stats, CL_STAT(c, upstream_cx_connect_fail));
	tp_stat_inc(w->stats, HOST_STAT(c, cx_connect_fail));
	c->flags |= TP_CF_CONNECT_FAIL;
	tp_debug("connection %u: connect to %s failed: %s", c->idx, c->host->cfg->addr.text,
		 timeout ? "timeout" : strerror(-err));
	tp_conn_close_side(w, c, TP_UP, false);
	c->host->active--;
	c->flags &= ~TP_CF_UP_ACTIVE;
	tp_stat_sub(w->stats, CL_STAT(c, upstream_cx_active), 1);
	tp_stat_sub(w->stats, HOST_STAT(c, cx_active), 1);
	if (c->attempts >= c->proxy->max_connect_attempts) {
		/* Envoy flags URX whenever the attempts run out, a single one included. */
		tp_stat_inc(w->stats, CL_STAT(c, upstream_cx_connect_attempts_exceeded));
		c->flags |= TP_CF_RETRIES_EXCEEDED;
		give_up(w, c);
		return;
	}
	/* Each retry picks a host again (Envoy re-runs host selection). */
	start_connect(w, c);
}

static int new_upstream_socket(const struct tp_sockaddr *to)
{
	int one = 1;
	int fd = socket(to->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	/* The relay forwards what it reads at once; Nagle would only add latency. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void start_connect(struct tp_worker *w, struct tp_conn *c)
{
	struct io_uring_sqe *sqe;
	int fd;

	c->host = tp_lb_pick(c->cluster);
	if (!c->host) {
		c->flags |= TP_CF_NO_HEALTHY;
		tp_stat_inc(w->stats, CL_STAT(c, upstream_cx_none_healthy));
		give_up(w, c);
		return;
	}
	c->attempts++;
	c->state = TP_CONN_CONNECTING;
	tp_stat_inc(w->stats, CL_STAT(c, upstream_cx_total));
	tp_stat_inc(w->stats, HOST_STAT(c, cx_total));
	c->connect_start_ms = w->now_ms;
	fd = new_upstream_socket(&c->host->cfg->addr);
	if (fd < 0) {
		tp_warn("upstream socket for %s: %s", c->host->cfg->addr.text, strerror(-fd));
		c->host->active++;
		c->flags |= TP_CF_UP_ACTIVE;
		tp_stat_add(w->stats, CL_STAT(c, upstream_cx_active), 1);
		tp_stat_add(w->stats, HOST_STAT(c, cx_active), 1);
		connect_failed(w, c, fd);
		return;
	}
	c->fd[TP_UP] = fd;
	c->host->active++;
	c->flags |= TP_CF_UP_ACTIVE;
	tp_stat_add(w->stats, CL_STAT(c, upstream_cx_active), 1);
	tp_stat_add(w->stats, HOST_STAT(c, cx_active), 1);

	/* Connect and its timeout go in one submission: a link must not be split. */
	tp_ring_reserve(&w->ring, 2);
	sqe = tp_ring_get_sqe(&w->ring);
	io_uring_prep_connect(sqe, fd, (const struct sockaddr *)&c->host->cfg->addr.ss,
			      c->host->cfg->addr.len);
	io_uring_sqe_set_data64(sqe, tp_udata(TP_OP_CONNECT, 0, c->idx, c->gen));
	sqe->flags |= IOSQE_IO_LINK;
	sqe = tp_ring_get_sqe(&w->ring);
	/* The kernel reads the timespec at submission; the cluster's outlives it. */
	io_uring_prep_link_timeout(sqe, &c->cluster->connect_timeout, 0);
	io_uring_sqe_set_data64(sqe, tp_udata(TP_OP_CONNECT_TIMEOUT, 0, c->idx, c->gen));
	c->inflight += 2;
}

void tp_session_on_connect(struct tp_worker *w, struct tp_conn *c, int res)
{
	if (c->state != TP_CONN_CONNECTING)
		return;
	if (res < 0) {
		connect_failed(w, c, res);
		return;
	}
	tp_stat_record(w->stats, CL_STAT(c, upstream_cx_connect_ms),
		       w->now_ms - c->connect_start_ms);
	tp_relay_start(w, c);
}

enum tp_filter_status tp_proxy_on_new_connection(struct tp_conn *c, const void *conf)
{
	struct tp_worker *w = tp_self;
	const struct tp_tcp_proxy_cfg *p = conf;

	c->proxy = p;
	tp_stat_inc(w->stats, TCP_STAT(c, downstream_cx_total));
	/* Armed now, so time spent connecting counts toward the idle timeout, as in Envoy. */
	arm_session_timer(w, c);
	if (c->state == TP_CONN_CLOSING)
		return TP_FILTER_STOP;
	if (p->cluster_index < 0) {
		c->flags |= TP_CF_NO_ROUTE;
		tp_stat_inc(w->stats, TCP_STAT(c, downstream_cx_no_route));
		tp_conn_close(w, c);
		return TP_FILTER_STOP;
	}
	c->cluster = &w->clusters[p->cluster_index];
	start_connect(w, c);
	return TP_FILTER_STOP;
}

int tp_proxy_register_stats(void *conf, struct tp_stats *st)
{
	struct tp_tcp_proxy_cfg *p = conf;

	return tp_stats_scope(st, TP_SCOPE_TCP, p->stat_prefix, &p->stats_base);
}

enum tp_filter_status tp_proxy_on_data(struct tp_conn *c, const void *conf, const uint8_t *data,
				       size_t len, bool end_stream)
{
	return TP_FILTER_CONTINUE;
}

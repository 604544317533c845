/* Active health checks (a cluster's health_checks), run by the master in its loop: one
 * session per host of the cluster's host set, each with at most one check in flight on a
 * non-blocking socket, its timeout and its next check on loop timers. A check is a TCP connect
 * (then send, then every receive segment in order) or an HTTP/1.1 GET whose status must fall in
 * expected_statuses. Results move the host's /failed_active_hc flag as Envoy's
 * HealthCheckerImplBase does, and the host set (hostset.c) publishes it to the workers. */
#include "core/master/master-int.h"

#include "core/base/http_resp.h"
#include "core/base/log.h"
#include "core/base/mloop.h"
#include "core/base/sbuf.h"
#include "core/base/timer.h"
#include "core/worker/hostset-t.h"
#include "core/worker/lb.h"
#include "shm/stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* While a cluster has had no traffic, the master looks at its upstream_cx_total this often, so
 * that its hosts go from no_traffic_interval to interval soon after the first connection. */
#define HC_TRAFFIC_POLL_MS 1000

/* A TCP check keeps at most this much of a host's answer while it looks for the receive
 * segments; an answer that fills it without matching fails the check. */
#define HC_RECV_MAX 65536

enum hc_phase {
	HC_IDLE,
	HC_CONNECTING,
	HC_SENDING,
	HC_RECEIVING,
};

enum hc_failure {
	HC_FAIL_NETWORK, /* connect, reset or close: counts toward unhealthy_threshold */
	HC_FAIL_ACTIVE,	 /* a wrong answer: the host fails at once, as in Envoy */
	HC_FAIL_TIMEOUT, /* Envoy's NETWORK_TIMEOUT: a network failure, logged apart */
};

struct hc_session {
	struct hc_cluster *h;
	uint64_t id; /* the host's id in the set */
	struct sockaddr_storage ss;
	socklen_t len;
	char text[64];
	char ip[INET6_ADDRSTRLEN]; /* the address alone, and the port: the event log's */
	uint16_t port;
	int fd;
	enum hc_phase phase;
	int64_t timer; /* the next check, or the running check's timeout */
	size_t sent;   /* of h->req */
	uint8_t *rbuf; /* TCP: what the host answered so far */
	size_t rlen;
	struct tp_http_resp resp;
	uint32_t n_healthy, n_unhealthy; /* in a row */
	bool failed;			 /* /failed_active_hc */
	bool first_check;
	bool keep; /* scratch for hc_cluster_sync() */
};

struct hc_cluster {
	struct master *m;
	struct hs_cluster *hs;
	const struct tp_cluster_cfg *cl;
	const struct tp_health_check_cfg *c;
	struct hc_session **s;
	uint32_t n;
	uint8_t *req; /* the bytes each check sends: the HTTP request or tcp send */
	size_t req_len;
	bool initialized;
	/* no_traffic_interval applies until the cluster's first upstream connection; polled */
	bool had_traffic;
	int64_t traffic_timer;
	int event_log; /* event_log_path, O_APPEND; -1: none */
};

/* The events Envoy's HealthCheckEventLoggerImpl writes. */
enum hc_event {
	HC_EV_EJECT_UNHEALTHY,
	HC_EV_ADD_HEALTHY,
	HC_EV_FAILURE,
	HC_EV_SUCCESS,
};

static void start_check(struct hc_session *s);
static void on_fd(struct tp_mloop *l, int fd, unsigned revents, void *arg);

static uint64_t rand_below(uint64_t n)
{
	return n ? tp_rand() % n : 0;
}

/* Envoy's intervalWithJitter(): base, plus up to interval_jitter_percent of it, plus up to
 * interval_jitter. */
static uint64_t jittered(const struct tp_health_check_cfg *c, uint64_t base)
{
	uint64_t pct = (uint64_t)c->interval_jitter_percent * base / 100;

	return base + rand_below(pct) + rand_below((uint64_t)c->interval_jitter_ms);
}

static void on_interval(struct tp_mloop *l, void *arg)
{
	struct hc_session *s = arg;

	s->timer = 0;
	start_check(s);
}

/* Has the cluster made an upstream connection yet (Envoy: upstream_cx_total.used())? Once it
 * has, it stays so: a counter reset does not bring no_traffic_interval back. */
static bool had_traffic(struct hc_cluster *h)
{
	if (!h->had_traffic &&
	    tp_stats_sum(h->m->stats, h->cl->stats_base + TP_CLUSTER_upstream_cx_total))
		h->had_traffic = true;
	return h->had_traffic;
}

/* The next check, as Envoy's HealthCheckerImplBase::interval() picks it: no_traffic_interval
 * (no_traffic_healthy_interval, when given, after a passing check with no change pending)
 * until the cluster has had traffic; then a host whose state is about to change (a success on an unhealthy host, a
 * network failure on a healthy one) is checked again after the edge interval. */
static void schedule(struct hc_session *s, bool pending)
{
	const struct tp_health_check_cfg *c = s->h->c;
	uint64_t base;

	if (!had_traffic(s->h))
		base = (uint64_t)(!s->failed && !pending && c->no_traffic_healthy_interval_ms > 0
					  ? c->no_traffic_healthy_interval_ms
					  : c->no_traffic_interval_ms);
	else if (s->failed)
		base = (uint64_t)(pending ? c->healthy_edge_interval_ms : c->unhealthy_interval_ms);
	else
		base = (uint64_t)(pending ? c->unhealthy_edge_interval_ms : c->interval_ms);
	s->timer = tp_mloop_at(s->h->m->loop, tp_now_ms() + jittered(c, base), on_interval, s);
}

/* The cluster's first traffic: checks waiting out no_traffic_interval are moved to the normal
 * interval now. Envoy lets an armed timer run; an operator who just sent traffic to a cluster
 * should not wait a minute for its hosts' health (docs/envoy-compat.md). */
static void on_traffic_poll(struct tp_mloop *l, void *arg)
{
	struct hc_cluster *h = arg;

	h->traffic_timer = 0;
	if (!had_traffic(h)) {
		h->traffic_timer =
			tp_mloop_at(l, tp_now_ms() + HC_TRAFFIC_POLL_MS, on_traffic_poll, h);
		return;
	}
	for (uint32_t i = 0; i < h->n; i++) {
		struct hc_session *s = h->s[i];

		if (s->phase != HC_IDLE || !s->timer || s->first_check)
			continue;
		tp_mloop_cancel(l, s->timer);
		schedule(s, false);
	}
}

/* One HealthCheckEvent as Envoy's event logger writes it: JSON with its primitive fields
 * printed, one line each, appended. A write that fails is dropped: the log must never hold
 * the master's loop. */
static void log_event(struct hc_session *s, enum hc_event ev, enum hc_failure type, bool first)
{
	struct hc_cluster *h = s->h;
	struct tp_sbuf b = {0};
	const char *fail_type = type == HC_FAIL_NETWORK	  ? "NETWORK"
				: type == HC_FAIL_TIMEOUT ? "NETWORK_TIMEOUT"
							  : "ACTIVE";
	struct timespec ts;
	struct tm tm;
	char when[32];

	if (h->event_log < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	tp_sbuf_printf(&b,
		       "{\"health_checker_type\":\"%s\",\"host\":{\"socket_address\":{"
		       "\"protocol\":\"TCP\",\"address\":\"%s\",\"port_value\":%u,"
		       "\"resolver_name\":\"\",\"ipv4_compat\":false}},\"cluster_name\":",
		       h->c->kind == TP_HC_HTTP ? "HTTP" : "TCP", s->ip, s->port);
	tp_sbuf_json_str(&b, h->cl->name);
	switch (ev) {
	case HC_EV_EJECT_UNHEALTHY:
		tp_sbuf_printf(&b, ",\"eject_unhealthy_event\":{\"failure_type\":\"%s\"}",
			       fail_type);
		break;
	case HC_EV_ADD_HEALTHY:
		tp_sbuf_printf(&b, ",\"add_healthy_event\":{\"first_check\":%s}",
			       first ? "true" : "false");
		break;
	case HC_EV_FAILURE:
		tp_sbuf_printf(&b,
			       ",\"health_check_failure_event\":{\"failure_type\":\"%s\","
			       "\"first_check\":%s}",
			       fail_type, first ? "true" : "false");
		break;
	case HC_EV_SUCCESS:
		tp_sbuf_printf(&b, ",\"successful_health_check_event\":{}");
		break;
	}
	tp_sbuf_printf(&b, ",\"timestamp\":\"%s.%03ldZ\"}\n", when, ts.tv_nsec / 1000000);
	if (!b.oom && write(h->event_log, b.p, b.len) < 0)
		tp_debug("cluster %s: health check event log: %s", h->cl->name, strerror(errno));
	tp_sbuf_free(&b);
}

static void close_check(struct hc_session *s)
{
	if (s->fd >= 0) {
		tp_mloop_del(s->h->m->loop, s->fd);
		close(s->fd);
	}
	s->fd = -1;
	s->phase = HC_IDLE;
	if (s->timer)
		tp_mloop_cancel(s->h->m->loop, s->timer);
	s->timer = 0;
	free(s->rbuf);
	s->rbuf = NULL;
	s->rlen = 0;
}

static void healthy_gauge(struct hc_cluster *h)
{
	uint32_t healthy = 0;

	for (uint32_t i = 0; i < h->n; i++)
		healthy += !h->s[i]->failed;
	tp_stat_set(h->m->blk, h->cl->stats_base + TP_CLUSTER_hc_healthy, healthy);
}

/* The first round is in once every host has had a result: the generation may serve. */
static void check_initialized(struct hc_cluster *h)
{
	if (h->initialized || !h->n)
		return;
	for (uint32_t i = 0; i < h->n; i++)
		if (h->s[i]->first_check)
			return;
	h->initialized = true;
	hs_cluster_initialized(h->hs);
}

static void succeed(struct hc_session *s)
{
	struct hc_cluster *h = s->h;
	bool changed = false, pending = false, first = s->first_check;

	close_check(s);
	s->n_unhealthy = 0;
	if (s->failed) {
		/* The first result of a host is enough to mark it healthy, as in Envoy. */
		if (++s->n_healthy >= (uint64_t)h->c->healthy_threshold || s->first_check) {
			s->failed = false;
			changed = true;
		} else {
			pending = true;
		}
	}
	tp_stat_inc(h->m->blk, h->cl->stats_base + TP_CLUSTER_hc_success);
	s->first_check = false;
	schedule(s, pending);
	if (changed)
		log_event(s, HC_EV_ADD_HEALTHY, HC_FAIL_ACTIVE, first);
	/* Envoy: only a check that did not add the host (changed_state != Changed). */
	if (h->c->always_log_success && !changed)
		log_event(s, HC_EV_SUCCESS, HC_FAIL_ACTIVE, first);
	if (changed) {
		tp_info("cluster %s: health check of %s passed: host healthy", h->cl->name,
			s->text);
		healthy_gauge(h);
		hs_cluster_health(h->hs, s->id, false);
	}
	if (!s->failed)
		hs_cluster_hc_passed(h->hs, s->id);
	check_initialized(h);
}

static void fail(struct hc_session *s, enum hc_failure type, const char *why)
{
	struct hc_cluster *h = s->h;
	struct tp_stats_block *blk = h->m->blk;
	bool changed = false, pending = false, first = s->first_check;

	close_check(s);
	s->n_healthy = 0;
	if (!s->failed) {
		if (type == HC_FAIL_ACTIVE ||
		    ++s->n_unhealthy >= (uint64_t)h->c->unhealthy_threshold) {
			s->failed = true;
			changed = true;
		} else {
			pending = true;
		}
	}
	tp_stat_inc(blk, h->cl->stats_base + TP_CLUSTER_hc_failure);
	if (type != HC_FAIL_ACTIVE)
		tp_stat_inc(blk, h->cl->stats_base + TP_CLUSTER_hc_network_failure);
	if (h->c->always_log_failures || changed)
		tp_log(changed ? TP_LOG_WARN : TP_LOG_INFO,
		       "cluster %s: health check of %s failed: %s%s", h->cl->name, s->text, why,
		       changed ? ": host unhealthy" : "");
	else
		tp_debug("cluster %s: health check of %s failed: %s", h->cl->name, s->text, why);
	/* Envoy's setUnhealthy(): the ejection when the host turns, then the failure itself on
	 * a host's first check or with always_log_health_check_failures. */
	if (changed)
		log_event(s, HC_EV_EJECT_UNHEALTHY, type, first);
	if (first || h->c->always_log_failures)
		log_event(s, HC_EV_FAILURE, type, first);
	s->first_check = false;
	schedule(s, pending);
	if (changed) {
		healthy_gauge(h);
		hs_cluster_health(h->hs, s->id, true);
	}
	check_initialized(h);
}

static void on_timeout(struct tp_mloop *l, void *arg)
{
	struct hc_session *s = arg;

	s->timer = 0;
	fail(s, HC_FAIL_TIMEOUT, "timed out");
}

/* Are the receive segments all in buf, in order (each after the previous one's end)? Envoy's
 * TcpHealthCheckMatcher::match(). */
static bool tcp_match(const struct tp_health_check_cfg *c, const uint8_t *buf, size_t len)
{
	size_t at = 0;

	for (size_t i = 0; i < c->tcp.n_receive; i++) {
		const struct tp_hc_payload *p = &c->tcp.receive[i];
		const uint8_t *hit =
			len - at >= p->len ? memmem(buf + at, len - at, p->data, p->len) : NULL;

		if (!hit)
			return false;
		at = (size_t)(hit - buf) + p->len;
	}
	return true;
}

static bool status_expected(const struct tp_health_check_cfg *c, unsigned status)
{
	if (!c->http.n_statuses)
		return status == 200;
	for (size_t i = 0; i < c->http.n_statuses; i++)
		if ((int64_t)status >= c->http.statuses[i].start &&
		    (int64_t)status < c->http.statuses[i].end)
			return true;
	return false;
}

static void on_readable(struct hc_session *s)
{
	const struct tp_health_check_cfg *c = s->h->c;
	uint8_t buf[4096];

	for (;;) {
		ssize_t n = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
		size_t used;
		char why[64];

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			fail(s, HC_FAIL_NETWORK, strerror(errno));
			return;
		}
		if (n == 0) {
			fail(s, HC_FAIL_NETWORK, "closed by the host before answering");
			return;
		}
		if (c->kind == TP_HC_HTTP) {
			switch (tp_http_resp_parse(&s->resp, buf, (size_t)n, &used)) {
			case TP_HTTP_RESP_NEED_MORE:
				continue;
			case TP_HTTP_RESP_ERROR:
				snprintf(why, sizeof(why), "bad HTTP response: %s", s->resp.error);
				fail(s, HC_FAIL_NETWORK, why);
				return;
			case TP_HTTP_RESP_DONE:
				if (status_expected(c, s->resp.status)) {
					succeed(s);
				} else {
					snprintf(why, sizeof(why), "status %u", s->resp.status);
					fail(s, HC_FAIL_ACTIVE, why);
				}
				return;
			}
		}
		if (!s->rbuf && !(s->rbuf = malloc(HC_RECV_MAX))) {
			fail(s, HC_FAIL_NETWORK, "out of memory");
			return;
		}
		if ((size_t)n > HC_RECV_MAX - s->rlen) {
			fail(s, HC_FAIL_ACTIVE, "answer too long without the receive bytes");
			return;
		}
		memcpy(s->rbuf + s->rlen, buf, (size_t)n);
		s->rlen += (size_t)n;
		if (tcp_match(c, s->rbuf, s->rlen)) {
			succeed(s);
			return;
		}
	}
}

/* Writes what is left of the request; then waits for the answer (or, a TCP check with nothing
 * to receive, passes). */
static void on_writable(struct hc_session *s)
{
	struct hc_cluster *h = s->h;

	while (s->sent < h->req_len) {
		ssize_t n = send(s->fd, h->req + s->sent, h->req_len - s->sent,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			fail(s, HC_FAIL_NETWORK, strerror(errno));
			return;
		}
		s->sent += (size_t)n;
	}
	if (h->c->kind == TP_HC_TCP && !h->c->tcp.n_receive) {
		succeed(s); /* Envoy: connect (and send) only */
		return;
	}
	s->phase = HC_RECEIVING;
	tp_mloop_add(h->m->loop, s->fd, POLLIN, on_fd, s);
}

static void on_fd(struct tp_mloop *l, int fd, unsigned revents, void *arg)
{
	struct hc_session *s = arg;
	int err = 0;
	socklen_t len = sizeof(err);

	if (s->phase == HC_CONNECTING) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			fail(s, HC_FAIL_NETWORK, strerror(err));
			return;
		}
		s->phase = HC_SENDING;
	}
	if (s->phase == HC_SENDING) {
		on_writable(s);
		return;
	}
	if (s->phase == HC_RECEIVING)
		on_readable(s);
}

static void start_check(struct hc_session *s)
{
	struct hc_cluster *h = s->h;
	int ret;

	tp_stat_inc(h->m->blk, h->cl->stats_base + TP_CLUSTER_hc_attempt);
	s->sent = 0;
	s->rlen = 0;
	tp_http_resp_init(&s->resp, TP_HTTP_RESP_HEAD_MAX, TP_HTTP_RESP_HEADERS_MAX);
	s->fd = socket(s->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (s->fd < 0) {
		fail(s, HC_FAIL_NETWORK, strerror(errno));
		return;
	}
	s->phase = HC_CONNECTING;
	s->timer = tp_mloop_at(h->m->loop, tp_now_ms() + (uint64_t)h->c->timeout_ms, on_timeout, s);
	do
		ret = connect(s->fd, (struct sockaddr *)&s->ss, s->len);
	while (ret < 0 && errno == EINTR);
	if (ret < 0 && errno != EINPROGRESS) {
		fail(s, HC_FAIL_NETWORK, strerror(errno));
		return;
	}
	/* Connected or not, POLLOUT says when the outcome is known. */
	ret = tp_mloop_add(h->m->loop, s->fd, POLLOUT, on_fd, s);
	if (ret < 0)
		fail(s, HC_FAIL_NETWORK, strerror(-ret));
}

/* ---- the cluster ---- */

static int build_request(struct hc_cluster *h)
{
	const struct tp_health_check_cfg *c = h->c;
	struct tp_sbuf b = {0};

	if (c->kind == TP_HC_TCP) {
		if (!c->tcp.send.len)
			return 0;
		h->req = malloc(c->tcp.send.len);
		if (!h->req)
			return -ENOMEM;
		memcpy(h->req, c->tcp.send.data, c->tcp.send.len);
		h->req_len = c->tcp.send.len;
		return 0;
	}
	/* Envoy's HTTP/1.1 check: GET path, Host (host, else the cluster's name), its User-Agent,
	 * and request_headers_to_add. The config loader refused CR, LF and NUL in each. */
	tp_sbuf_printf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: Envoy/HC\r\n", c->http.path,
		       c->http.host && *c->http.host ? c->http.host : h->cl->name);
	for (size_t i = 0; i < c->http.n_headers; i++)
		tp_sbuf_printf(&b, "%s: %s\r\n", c->http.headers[i].header.key,
			       c->http.headers[i].header.value ? c->http.headers[i].header.value
							       : "");
	tp_sbuf_printf(&b, "\r\n");
	if (b.oom) {
		tp_sbuf_free(&b);
		return -ENOMEM;
	}
	h->req = (uint8_t *)b.p;
	h->req_len = b.len;
	return 0;
}

static int open_event_log(const char *path)
{
	/* The mode of Envoy's access log files; O_APPEND so each event lands whole at the end. */
	/* O_NONBLOCK: a FIFO without a reader fails the open (ENXIO) and a full pipe (/dev/stdout
	 * under a stalled collector) drops the event, rather than hold the master's loop. */
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644);
}

struct hc_cluster *hc_cluster_start(struct master *m, struct hs_cluster *hs,
				    const struct tp_cluster_cfg *cl, char *why, size_t whylen)
{
	struct hc_cluster *h = calloc(1, sizeof(*h));

	if (!h) {
		snprintf(why, whylen, "cluster %s: health checks: out of memory", cl->name);
		return NULL;
	}
	h->m = m;
	h->hs = hs;
	h->cl = cl;
	h->c = &cl->health_checks[0];
	h->event_log = -1;
	if (build_request(h) < 0) {
		snprintf(why, whylen, "cluster %s: health checks: out of memory", cl->name);
		free(h);
		return NULL;
	}
	if (h->c->event_log_path && *h->c->event_log_path &&
	    (h->event_log = open_event_log(h->c->event_log_path)) < 0) {
		snprintf(why, whylen, "cluster %s: health_checks event_log_path %s: %s", cl->name,
			 h->c->event_log_path, strerror(errno));
		free(h->req);
		free(h);
		return NULL;
	}
	if (!had_traffic(h))
		h->traffic_timer =
			tp_mloop_at(m->loop, tp_now_ms() + HC_TRAFFIC_POLL_MS, on_traffic_poll, h);
	tp_stat_set(m->blk, cl->stats_base + TP_CLUSTER_hc_healthy, 0);
	tp_stat_set(m->blk, cl->stats_base + TP_CLUSTER_hc_degraded, 0);
	return h;
}

static void free_session(struct hc_session *s)
{
	close_check(s);
	free(s);
}

static void addr_of(const struct tp_hs_host *host, struct hc_session *s)
{
	memset(&s->ss, 0, sizeof(s->ss));
	if (host->family == AF_INET6) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&s->ss;

		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(host->port);
		memcpy(&a6->sin6_addr, host->addr, 16);
		s->len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&s->ss;

		a4->sin_family = AF_INET;
		a4->sin_port = htons(host->port);
		memcpy(&a4->sin_addr, host->addr, 4);
		s->len = sizeof(*a4);
	}
	inet_ntop(host->family, host->addr, s->ip, sizeof(s->ip));
	s->port = host->port;
	hs_host_text(host, s->text, sizeof(s->text));
}

void hc_cluster_sync(struct hc_cluster *h, const struct tp_hs_host *hosts, uint32_t n)
{
	struct hc_session **next = calloc(n ? n : 1, sizeof(*next));

	if (!next) {
		tp_warn("cluster %s: out of memory for its health checks", h->cl->name);
		return;
	}
	for (uint32_t i = 0; i < h->n; i++)
		h->s[i]->keep = false;
	for (uint32_t i = 0; i < n; i++) {
		struct hc_session *s = NULL;

		for (uint32_t j = 0; j < h->n && !s; j++)
			if (h->s[j]->id == hosts[i].id)
				s = h->s[j];
		if (!s) {
			s = calloc(1, sizeof(*s));
			if (!s)
				continue; /* its host stays /failed_active_hc */
			s->h = h;
			s->id = hosts[i].id;
			s->fd = -1;
			s->failed = hosts[i].health & TP_HOST_F_FAILED_ACTIVE_HC;
			s->first_check = true;
			addr_of(&hosts[i], s);
			/* The first check after up to initial_jitter, as Envoy's session start. */
			s->timer = tp_mloop_at(
				h->m->loop,
				tp_now_ms() + rand_below((uint64_t)h->c->initial_jitter_ms),
				on_interval, s);
		}
		s->keep = true;
		next[i] = s;
	}
	for (uint32_t i = 0; i < h->n; i++)
		if (!h->s[i]->keep)
			free_session(h->s[i]);
	free(h->s);
	h->s = next;
	h->n = 0;
	for (uint32_t i = 0; i < n; i++)
		if (next[i])
			h->s[h->n++] = next[i];
	healthy_gauge(h);
}

/* SIGUSR1 (logrotate): the event log is opened again by its path. */
void hc_cluster_reopen(struct hc_cluster *h)
{
	int fd;

	if (!h || h->event_log < 0)
		return;
	fd = open_event_log(h->c->event_log_path);
	if (fd < 0) {
		tp_warn("cluster %s: reopening health check event log %s: %s", h->cl->name,
			h->c->event_log_path, strerror(errno));
		return;
	}
	close(h->event_log);
	h->event_log = fd;
}

void hc_cluster_stop(struct hc_cluster *h)
{
	if (!h)
		return;
	if (h->traffic_timer)
		tp_mloop_cancel(h->m->loop, h->traffic_timer);
	if (h->event_log >= 0)
		close(h->event_log);
	for (uint32_t i = 0; i < h->n; i++)
		free_session(h->s[i]);
	free(h->s);
	free(h->req);
	free(h);
}

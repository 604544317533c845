/* The tcp_proxy session: route, upstream connect with retries, the upstream's handshake,
 * timeouts, and hand-off to the relay. Behaviour follows Envoy's source/common/tcp_proxy/
 * tcp_proxy.cc (reference/envoy-tcp-proxy.md §4); differences are listed in
 * docs/envoy-compat.md. */
#include "core/conn/session.h"
#include "core/worker/cds.h"

#include "core/accesslog/access_log.h"
#include "core/accesslog/format.h"
#include "core/base/backoff.h"
#include "core/base/log.h"
#include "core/base/timer.h"
#include "core/config/config.h"
#include "core/config/metadata.h"
#include "core/conn/conn.h"
#include "core/conn/filter_state.h"
#include "core/conn/relay.h"
#include "core/conn/resp_flags.h"
#include "core/conn/transport.h"
#include "core/filter.h"
#include "core/tunnel/h2.h"
#include "core/tunnel/tunnel.h"
#include "core/worker/lb.h"
#include "core/worker/worker.h"
#include "shm/stats.h"
#include "uring/ring.h"
#include "uring/udata.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CL_STAT(c, name)   ((c)->cluster->cfg->stats_base + TP_CLUSTER_##name)
#define TCP_STAT(c, name)  ((c)->proxy->stats_base + TP_TCP_##name)
#define HOST_STAT(c, name) ((c)->host->cfg->stats_base + TP_HOST_##name)

/* The upstream handshake's deadline: connect_timeout counts from the start of the attempt to
 * the end of the handshake, as Envoy raises Connected only after a TLS handshake. */
static uint64_t handshake_deadline(const struct tp_conn *c)
{
	return c->connect_start_ms + (uint64_t)c->cluster->cfg->connect_timeout_ms;
}

static bool up_handshaking(const struct tp_conn *c)
{
	return c->phase == TP_PHASE_UP_HANDSHAKE && c->side[TP_UP].handshaking;
}

/* The filter chain's transport_socket_connect_timeout, while the client's handshake lasts:
 * counted from accept (Envoy starts it with the chain, after the listener filters). 0: none. */
static uint64_t down_handshake_deadline(const struct tp_conn *c)
{
	int64_t t = c->chain ? c->chain->transport_socket_connect_timeout_ms : 0;

	return t > 0 && c->side[TP_DOWN].handshaking ? c->start_ms + (uint64_t)t : 0;
}

/* The next moment a timeout or a periodic access log entry could be due; activity between now
 * and then is checked when the timer expires rather than moving the timer on every byte. */
static void arm_session_timer(struct tp_worker *w, struct tp_conn *c)
{
	uint64_t deadline = UINT64_MAX;
	const struct tp_tcp_proxy_cfg *p = c->proxy;

	if (c->idle_timeout_ms > 0)
		deadline = c->active_ms + c->idle_timeout_ms;
	if (c->next_log_ms && c->next_log_ms < deadline)
		deadline = c->next_log_ms;
	if (p->max_downstream_connection_duration_ms > 0 &&
	    c->start_ms + (uint64_t)p->max_downstream_connection_duration_ms < deadline)
		deadline = c->start_ms + (uint64_t)p->max_downstream_connection_duration_ms;
	if (up_handshaking(c) && handshake_deadline(c) < deadline)
		deadline = handshake_deadline(c);
	if (down_handshake_deadline(c) && down_handshake_deadline(c) < deadline)
		deadline = down_handshake_deadline(c);
	if (c->retry_at_ms && c->retry_at_ms < deadline)
		deadline = c->retry_at_ms;
	if (c->od_wait && c->od_deadline_ms < deadline)
		deadline = c->od_deadline_ms;
	if (deadline != UINT64_MAX && tp_timer_arm(&w->timers, &c->timer, deadline) < 0) {
		tp_error("out of memory arming a timer; closing connection");
		tp_conn_close(w, c);
	}
}

/* ---- circuit breakers (Cluster.circuit_breakers, DEFAULT priority) ----
 *
 * Connections and pending requests are counted across the generation's workers in memory they
 * share, one counter per worker slot, summed at each check (tp_cb_admit). A connection counts
 * from the start of its attempt until its upstream socket closes; it is pending until its
 * connect (and handshake) is done, as a request waits in Envoy's TCP pool. The gauges are the
 * master's (tp_master_cb_gauges), from the same counters. */

void tp_session_cb_worker_start(struct tp_worker *w, const struct tp_cluster_cfg *cl)
{
	const struct tp_cb_cfg *cb = &cl->cb;

	if (!cb->shared)
		return;
	atomic_store(&cb->shared->cx[w->slot], 0);
	atomic_store(&cb->shared->pending[w->slot], 0);
}

static void cb_release_pending(struct tp_worker *w, struct tp_conn *c)
{
	const struct tp_cb_cfg *cb;

	if (!c->cb_pending)
		return;
	cb = &c->cluster->cfg->cb;
	c->cb_pending = 0;
	tp_cb_release(cb->shared->pending, w->slot, w->n_slots);
}

void tp_session_cb_release(struct tp_worker *w, struct tp_conn *c)
{
	const struct tp_cb_cfg *cb;

	cb_release_pending(w, c);
	if (!c->cb_cx)
		return;
	cb = &c->cluster->cfg->cb;
	c->cb_cx = 0;
	tp_cb_release(cb->shared->cx, w->slot, w->n_slots);
}

static bool backoff(struct tp_worker *w, struct tp_conn *c);

/* Envoy's TCP pool refuses the stream past max_pending_requests (upstream_rq_pending_overflow)
 * with PoolFailureReason::Overflow, which tcp_proxy takes as a local close of an attempt under
 * way: no UF, and another attempt from its retry timer (after the backoff, else on the next
 * loop iteration) while max_connect_attempts allows, else URX. */
static void pending_overflow(struct tp_worker *w, struct tp_conn *c)
{
	tp_stat_inc(w->stats, CL_STAT(c, upstream_rq_pending_overflow));
	c->attempts++;
	c->phase = TP_PHASE_CONNECTING;
	if (c->attempts >= c->proxy->max_connect_attempts) {
		tp_conn_end(w, c, TP_RF_RETRY_LIMIT_EXCEEDED);
		return;
	}
	/* Never at once: the attempt would start inside this one. */
	if (backoff(w, c)) {
		c->retry_at_ms = w->now_ms;
		arm_session_timer(w, c);
	}
}

/* Counts the attempt as a connection and a pending request of its cluster. Past max_connections
 * the session ends with UO, as Envoy's tcp_proxy ends it when connections().canCreate() fails,
 * at each attempt; past max_pending_requests the attempt fails (pending_overflow). */
static bool cb_admit(struct tp_worker *w, struct tp_conn *c)
{
	const struct tp_cb_cfg *cb = &c->cluster->cfg->cb;
	uint64_t sum;

	if (!cb->shared)
		return true;
	if (!tp_cb_admit(cb->shared->cx, w->slot, w->n_slots, cb->max_connections, &sum)) {
		tp_conn_end(w, c, TP_RF_UPSTREAM_OVERFLOW);
		return false;
	}
	c->cb_cx = 1;
	if (!tp_cb_admit(cb->shared->pending, w->slot, w->n_slots, cb->max_pending_requests,
			 &sum)) {
		tp_session_cb_release(w, c);
		pending_overflow(w, c);
		return false;
	}
	c->cb_pending = 1;
	return true;
}

static bool connect_failed(struct tp_worker *w, struct tp_conn *c, int err);
static void start_connect(struct tp_worker *w, struct tp_conn *c);
static bool pick_route(struct tp_worker *w, struct tp_conn *c);

static void od_fail(struct tp_worker *w, struct tp_conn *c);

void tp_session_on_timer(struct tp_worker *w, struct tp_conn *c)
{
	const struct tp_tcp_proxy_cfg *p = c->proxy;
	uint64_t now = w->now_ms;

	if (c->next_log_ms && now >= c->next_log_ms) {
		tp_access_log_write(w, c, TP_ALOG_TCP_PERIODIC);
		c->next_log_ms = now + (uint64_t)p->access_log_flush_interval_ms;
	}
	if (p->max_downstream_connection_duration_ms > 0 &&
	    now >= c->start_ms + (uint64_t)p->max_downstream_connection_duration_ms) {
		tp_debug("connection %u: max_downstream_connection_duration reached", c->idx);
		tp_conn_end(w, c, TP_RF_DURATION_TIMEOUT);
		return;
	}
	if (c->idle_timeout_ms > 0 && now >= c->active_ms + c->idle_timeout_ms) {
		tp_debug("connection %u: idle timeout", c->idx);
		tp_conn_end(w, c, TP_RF_IDLE_TIMEOUT);
		return;
	}
	if (c->od_wait && now >= c->od_deadline_ms) {
		/* Envoy's ClusterDiscoveryStatus::Timeout: closed as no cluster found. */
		tp_session_od_forget(w, c);
		tp_stat_inc(w->stats, TCP_STAT(c, on_demand_cluster_timeout));
		od_fail(w, c);
		return;
	}
	if (down_handshake_deadline(c) && now >= down_handshake_deadline(c)) {
		tp_debug("connection %u: transport socket timeout", c->idx);
		tp_stat_inc(w->stats,
			    c->listener->cfg->stats_base +
				    TP_LISTENER_downstream_cx_transport_socket_connect_timeout);
		tp_conn_close(w, c);
		return;
	}
	if (up_handshaking(c) && now >= handshake_deadline(c)) {
		tp_worker_connect_result(w, c->host_cluster, c->host, true);
		if (connect_failed(w, c, -ETIMEDOUT))
			start_connect(w, c);
		if (tp_conn_closing(c))
			return;
	}
	/* The backoff is over: the next attempt, unless the failed one's polls are still being
	 * cancelled (tp_session_poll_settled starts it then). */
	if (c->retry_at_ms && now >= c->retry_at_ms) {
		c->retry_at_ms = 0;
		if (!c->retry_wait)
			start_connect(w, c);
		if (tp_conn_closing(c))
			return;
	}
	arm_session_timer(w, c);
}

/* backoff_options: the wait before the next attempt, Envoy's JitteredExponentialBackOffStrategy
 * (its n-th draw after the n-th failure). True when it is 0 and the attempt may start now. */
static bool backoff(struct tp_worker *w, struct tp_conn *c)
{
	const struct tp_tcp_proxy_cfg *p = c->proxy;
	uint64_t wait;

	if (p->backoff_base_ms <= 0)
		return true;
	wait = tp_backoff_next((uint64_t)p->backoff_base_ms, (uint64_t)p->backoff_max_ms,
			       c->attempts - 1, tp_rand());
	if (!wait)
		return true;
	tp_debug("connection %u: next connect attempt in %llu ms", c->idx,
		 (unsigned long long)wait);
	c->retry_at_ms = w->now_ms + wait;
	arm_session_timer(w, c);
	return false;
}

/* An attempt failed: counted, its socket closed. True when another attempt may start now. */
static bool connect_failed(struct tp_worker *w, struct tp_conn *c, int err)
{
	/* -ECANCELED: the connect's linked timeout fired; -ETIMEDOUT: the handshake's deadline. */
	bool timeout = err == -ECANCELED || err == -ETIMEDOUT;

	if (timeout)
		tp_stat_inc(w->stats, CL_STAT(c, upstream_cx_connect_timeout));
	/* Envoy counts a timed-out connect as a failed one too (the pool closes it). */
	tp_conn_flag(w, c, TP_RF_UPSTREAM_CONNECT_FAILURE);
	tp_stat_inc(w->stats, HOST_STAT(c, cx_connect_fail));
	/* %UPSTREAM_TRANSPORT_FAILURE_REASON%: Envoy's pool leaves it empty on a timeout. */
	c->connect_err = timeout ? 0 : (uint16_t)-err;
	c->up_fail_reason = timeout ? NULL : c->side[TP_UP].fail_reason;
	/* An HTTP tunnel's answer, if one came: %RESPONSE_CODE% and upstream_rq_<code>. */
	if (c->tunneling)
		tp_tunnel_failed(w, c);
	tp_debug("connection %u: connect to %s failed: %s", c->idx, c->host->cfg->addr.text,
		 timeout ? "timeout" : strerror(-err));
	tp_conn_close_side(w, c, TP_UP);
	tp_conn_upstream_active(w, c, false);
	tp_session_cb_release(w, c);
	c->up_connected = 0;
	c->phase = TP_PHASE_CONNECTING;
	if (c->attempts >= c->proxy->max_connect_attempts) {
		/* Envoy flags URX whenever the attempts run out, a single one included. */
		tp_conn_end(w, c, TP_RF_RETRY_LIMIT_EXCEEDED);
		return false;
	}
	/* The failed attempt's polls (a handshake watches its socket) are being cancelled, and
	 * their completions carry the same user_data a new attempt's would: the retry waits for
	 * them (tp_session_poll_settled). */
	if (c->side[TP_UP].poll_in || c->side[TP_UP].poll_out) {
		c->retry_wait = 1;
		backoff(w, c);
		return false;
	}
	/* Each retry picks a host again (Envoy re-runs host selection). */
	return backoff(w, c);
}

void tp_session_poll_settled(struct tp_worker *w, struct tp_conn *c)
{
	if (!c->retry_wait || tp_conn_closing(c) || c->side[TP_UP].poll_in ||
	    c->side[TP_UP].poll_out)
		return;
	c->retry_wait = 0;
	/* A backoff still running starts the attempt when it ends. */
	if (!c->retry_at_ms)
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

static bool out_of_fds(int err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM;
}

/* An HTTP/2 tunnel: a stream on a connection the worker shares (core/tunnel/h2.c). There is no
 * connect of its own: the attempt is its handshake (the answer's headers), bounded by
 * connect_timeout like any upstream handshake; the shared connection counts upstream_cx_*. */
static void start_stream(struct tp_worker *w, struct tp_conn *c)
{
	int ret;

	c->attempts++;
	c->connect_start_ms = w->now_ms;
	tp_conn_upstream_active(w, c, true);
	tp_tunnel_attempt(w, c);
	c->phase = TP_PHASE_UP_HANDSHAKE;
	ret = tp_h2_open_stream(w, c);
	if (ret < 0) {
		tp_debug("connection %u: no HTTP/2 stream to %s: %s", c->idx,
			 c->host->cfg->addr.text, strerror(-ret));
		if (connect_failed(w, c, ret))
			start_connect(w, c);
		return;
	}
	arm_session_timer(w, c);
}

/* Criteria bytes past this are not matched (docs/envoy-compat.md). */
#define MAX_CRITERIA_BYTES   4096
#define METADATA_NS_ENVOY_LB "envoy.lb"

static int cmp_criterion(const void *a, const void *b)
{
	return strcmp(((const struct tp_lb_criterion *)a)->key,
		      ((const struct tp_lb_criterion *)b)->key);
}

/* Envoy's Filter::metadataMatchCriteria: the route's criteria (TcpProxy.metadata_match, merged
 * at load with the picked weighted cluster's), then the dynamic metadata filters set in
 * namespace envoy.lb merged over them (its values win). How many were written into out; more
 * than TP_LB_MAX_CRITERIA when they do not fit (the balancer then matches no subset with them). */
static uint32_t build_criteria(const struct tp_conn *c, struct tp_lb_criterion *out, uint8_t *buf,
			       size_t cap)
{
	const struct tp_mstruct *route =
		c->wcluster ? &c->wcluster->criteria : &c->proxy->metadata_match;
	const struct tp_state_map *md = c->metadata;
	size_t ns_len = strlen(METADATA_NS_ENVOY_LB), used = 0;
	uint32_t n = 0;

	if (route->n > TP_LB_MAX_CRITERIA)
		return TP_LB_MAX_CRITERIA + 1;
	for (uint32_t i = 0; i < route->n; i++, n++) {
		out[n].key = route->f[i].key;
		out[n].val = route->f[i].value.b;
		out[n].val_len = route->f[i].value.len;
	}
	for (uint32_t i = 0; md && i < md->n; i++) {
		const struct tp_state_entry *e = &md->v[i];
		const char *key = e->key + ns_len + 1;
		size_t len = 0;
		uint32_t k;

		/* Metadata keys are "namespace\x1fkey" (core/conn/filter_state.c). */
		if (strncmp(e->key, METADATA_NS_ENVOY_LB, ns_len) || e->key[ns_len] != '\x1f')
			continue;
		switch (e->value.type) {
		case TP_VALUE_STRING:
			len = tp_mvalue_put_string(buf + used, cap - used, e->value.s,
						   strlen(e->value.s));
			break;
		case TP_VALUE_BOOL:
			len = tp_mvalue_put_bool(buf + used, cap - used, e->value.b);
			break;
		case TP_VALUE_UINT64:
			len = tp_mvalue_put_number(buf + used, cap - used, (double)e->value.u);
			break;
		}
		if (!len)
			return TP_LB_MAX_CRITERIA + 1;
		for (k = 0; k < n && strcmp(out[k].key, key); k++)
			;
		if (k == n) {
			if (n == TP_LB_MAX_CRITERIA)
				return TP_LB_MAX_CRITERIA + 1;
			n++;
		}
		out[k].key = key;
		out[k].val = buf + used;
		out[k].val_len = (uint32_t)len;
		used += len;
	}
	qsort(out, n, sizeof(*out), cmp_criterion);
	return n;
}

/* An IPv4 address as inet_ntop writes it ("10.1.2.3"), without its printf: that was most of the
 * instructions a source_ip hash cost per connection (docs/performance.md). */
static size_t ipv4_text(const uint8_t *a, char *out)
{
	char *p = out;

	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];

		if (i)
			*p++ = '.';
		if (v >= 100) {
			*p++ = (char)('0' + v / 100);
			v %= 100;
			*p++ = (char)('0' + v / 10);
		} else if (v >= 10) {
			*p++ = (char)('0' + v / 10);
		}
		*p++ = (char)('0' + v % 10);
	}
	return (size_t)(p - out);
}

/* Envoy's Network::HashPolicy: xxHash64 of the downstream remote address without its port
 * (source_ip), or of the filter-state object's string form (filter_state; an object that is not
 * a string has no hash). False when there is none: the hash policies then pick at random. */
static bool conn_hash(struct tp_conn *c, uint64_t *hash)
{
	const struct tp_tcp_proxy_cfg *p = c->proxy;
	const struct tp_state_entry *e;
	char text[INET6_ADDRSTRLEN];

	switch (p->hash) {
	case TP_HASH_SOURCE_IP:
		if (!c->down_remote.family)
			tp_conn_capture_ip(c->side[TP_DOWN].fd, getpeername, &c->down_remote);
		if (c->down_remote.family == AF_INET) {
			*hash = tp_lb_hash(text, ipv4_text(c->down_remote.addr, text));
			return true;
		}
		if (!c->down_remote.family ||
		    !inet_ntop(c->down_remote.family, c->down_remote.addr, text, sizeof(text)))
			return false;
		*hash = tp_lb_hash(text, strlen(text));
		return true;
	case TP_HASH_FILTER_STATE:
		e = tp_filter_state_get(c->filter_state, p->hash_key);
		if (!e || e->value.type != TP_VALUE_STRING)
			return false;
		*hash = tp_lb_hash(e->value.s, strlen(e->value.s));
		return true;
	case TP_HASH_NONE:
		break;
	}
	return false;
}

/* The load balancer's pick for this connection, with what Envoy's LoadBalancerContext gives it:
 * the metadata criteria when the cluster has subsets, the hash when it hashes. */
static struct tp_host_rt *pick_host(struct tp_worker *w, struct tp_conn *c)
{
	const struct tp_cluster_cfg *cl = c->cluster->cfg;
	struct tp_lb_criterion cr[TP_LB_MAX_CRITERIA];
	uint8_t buf[MAX_CRITERIA_BYTES];
	struct tp_lb_ctx ctx = {.criteria = cr};
	struct tp_host_rt *h;

	if (cl->subset.enabled)
		ctx.n_criteria = build_criteria(c, cr, buf, sizeof(buf));
	if (cl->lb_policy == TP_LB_RING_HASH || cl->lb_policy == TP_LB_MAGLEV)
		ctx.has_hash = conn_hash(c, &ctx.hash);
	h = tp_lb_pick(c->cluster, &ctx);
	switch (ctx.outcome) {
	case TP_LB_SUBSET_SELECTED:
		tp_stat_inc(w->stats, CL_STAT(c, lb_subsets_selected));
		break;
	case TP_LB_SUBSET_FALLBACK:
		tp_stat_inc(w->stats, CL_STAT(c, lb_subsets_fallback));
		break;
	case TP_LB_SUBSET_FALLBACK_PANIC:
		tp_stat_inc(w->stats, CL_STAT(c, lb_subsets_fallback_panic));
		break;
	default:
		break;
	}
	return h;
}

/* Picks a host and starts connecting to it. A retry picks the route again first, as Envoy's
 * initializeUpstreamConnection does: a weighted pick may land on another cluster. */
static void start_connect(struct tp_worker *w, struct tp_conn *c)
{
	struct io_uring_sqe *sqe;
	int fd, ret;

	if (c->attempts && !pick_route(w, c)) {
		tp_conn_end(w, c, TP_RF_NO_CLUSTER_FOUND);
		return;
	}
	if (c->host)
		tp_host_release(c->host_cluster, c->host);
	c->host = pick_host(w, c);
	tp_cluster_hold(c->cluster);
	tp_cluster_release(w, c->host_cluster);
	c->host_cluster = c->cluster;
	if (c->host)
		tp_host_hold(c->host);
	if (!c->host) {
		tp_conn_end(w, c, TP_RF_NO_HEALTHY_UPSTREAM);
		return;
	}
	/* Envoy reads envoy.tcp_proxy.disable_tunneling as each attempt picks its pool. */
	c->tunneling = tp_tunnel_wanted(c);
	c->tunnel_h2 = c->tunneling && c->cluster->cfg->http.version == TP_HTTP_2;
	if (c->tunnel_h2) {
		start_stream(w, c);
		return;
	}
	/* An HTTP/2 stream shares its connection: only attempts that open one are counted. */
	if (!cb_admit(w, c))
		return;
	fd = new_upstream_socket(&c->host->cfg->addr);
	if (fd < 0 && out_of_fds(fd)) {
		/* The worker is out of descriptors: the client was accepted with the last one.
		 * That is the worker's overflow, not the upstream's failure, and an attempt at
		 * once could not get a descriptor either. */
		tp_worker_out_of_fds(w, c->listener->idx, fd,
				     "no descriptor for an upstream socket");
		tp_conn_close(w, c);
		return;
	}
	c->attempts++;
	c->phase = TP_PHASE_CONNECTING;
	tp_stat_inc(w->stats, CL_STAT(c, upstream_cx_total));
	tp_stat_inc(w->stats, HOST_STAT(c, cx_total));
	c->connect_start_ms = w->now_ms;
	tp_conn_upstream_active(w, c, true);
	if (c->tunneling)
		tp_tunnel_attempt(w, c);
	if (fd < 0) {
		/* Anything else (an address family the host cannot have, ...) fails the attempt;
		 * the next one would fail alike, so the attempts end here. */
		tp_warn("upstream socket for %s: %s", c->host->cfg->addr.text, strerror(-fd));
		if (connect_failed(w, c, fd))
			tp_conn_end(w, c, TP_RF_RETRY_LIMIT_EXCEEDED);
		return;
	}
	ret = c->tunneling ? tp_tunnel_open_h1(w, c, fd)
			   : tp_conn_side_init(w, c, TP_UP, fd, &c->cluster->cfg->transport);
	if (ret < 0) {
		if (ret == -EINVAL)
			tp_debug("connection %u: a tunneling_config value rendered a control "
				 "character, or the request is too long; not sent",
				 c->idx);
		else
			tp_warn("connection %u: no memory for its transport to %s", c->idx,
				c->host->cfg->addr.text);
		if (connect_failed(w, c, ret))
			tp_conn_end(w, c, TP_RF_RETRY_LIMIT_EXCEEDED);
		return;
	}

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

/* The upstream is connected and past its handshake. */
static void upstream_ready(struct tp_worker *w, struct tp_conn *c)
{
	/* LocalOriginConnectSuccessFinal: the host's consecutive failures start over. */
	tp_worker_connect_result(w, c->host_cluster, c->host, false);
	/* The tunnel's answer: its stats and what it leaves for the access log. */
	if (c->tunneling)
		tp_tunnel_ready(w, c);
	tp_stat_record(w->stats, CL_STAT(c, upstream_cx_connect_ms),
		       w->now_ms - c->connect_start_ms);
	cb_release_pending(w, c);
	c->up_connected = 1;
	if (c->proxy->flush_access_log_on_connected)
		tp_access_log_write(w, c, TP_ALOG_TCP_CONNECTED);
	/* A filter still holds bytes read early: the relay starts when they reach tcp_proxy,
	 * so that they go upstream first (tp_proxy_on_data). */
	if (tp_early_delivered(c))
		tp_relay_start(w, c);
}

void tp_session_on_connect(struct tp_worker *w, struct tp_conn *c, int res)
{
	if (c->phase != TP_PHASE_CONNECTING)
		return;
	if (res < 0) {
		/* Envoy's tcp_proxy: LocalOriginConnectFailed (a timeout too, as its pool closes
		 * the connection); a socket we could not make is not the host's fault. */
		tp_worker_connect_result(w, c->host_cluster, c->host, true);
		if (connect_failed(w, c, res))
			start_connect(w, c);
		return;
	}
	if (tp_worker_format_needs(w) & TP_FMT_NEED_UP_LOCAL)
		tp_conn_capture_ip(c->side[TP_UP].fd, getsockname, &c->up_local);
	if (!c->side[TP_UP].handshaking) {
		upstream_ready(w, c);
		return;
	}
	/* TLS to the upstream, an HTTP CONNECT: the transport speaks first. */
	c->phase = TP_PHASE_UP_HANDSHAKE;
	arm_session_timer(w, c);
	if (!tp_conn_closing(c))
		tp_conn_handshake(w, c, TP_UP);
}

void tp_session_on_handshake(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s, int res)
{
	const struct tp_side *sd = &c->side[s];

	if (s == TP_UP) {
		if (c->phase != TP_PHASE_UP_HANDSHAKE)
			return;
		if (res >= 0) {
			upstream_ready(w, c);
		} else {
			tp_worker_connect_result(w, c->host_cluster, c->host, true);
			if (connect_failed(w, c, res))
				start_connect(w, c);
		}
		return;
	}
	if (res < 0) {
		tp_debug("connection %u: downstream handshake failed: %s", c->idx, strerror(-res));
		tp_conn_close(w, c);
		return;
	}
	/* The last handshake message may have carried stream bytes. */
	if (sd->transport->pending && sd->transport->pending(sd))
		c->side[s].readable = 1;
	if (c->phase == TP_PHASE_RELAY) {
		tp_relay_resume(w, c);
		return;
	}
	/* ON_DOWNSTREAM_TLS_HANDSHAKE waited for this (once tcp_proxy has chosen a route). */
	if (c->phase == TP_PHASE_FILTERS && c->cluster &&
	    c->proxy->upstream_connect_mode == TP_CONNECT_ON_DOWNSTREAM_TLS_HANDSHAKE)
		start_connect(w, c);
	/* Bytes read early can be read now. */
	if (!tp_conn_closing(c) && c->phase < TP_PHASE_RELAY && c->reads_early &&
	    c->side[s].readable)
		tp_relay_early_on_readable(w, c, s, 0);
}

void tp_session_on_accept(struct tp_worker *w, struct tp_conn *c)
{
	const struct tp_filter_cfg *last = &c->chain->filters[c->chain->n_filters - 1];
	static uint64_t seq;

	if (last->ops != &tp_filter_tcp_proxy)
		return;
	/* Known from the start (Envoy creates the filter with the connection), so that early
	 * reads are counted and the access log entry is written however the session ends. */
	c->proxy = last->conf;
	/* Unique in this worker, and between workers by the slot in the low bits. */
	c->id = ++seq << 12 | (w->slot & 0xfff);
	/* max_early_data_bytes set: the chain sees the downstream's bytes before any connect. */
	if (c->proxy->max_early_data_bytes >= 0)
		tp_relay_early_enable(w, c, (uint32_t)c->proxy->max_early_data_bytes);
}

/* Envoy's WeightedClusterUtil::pickCluster: a random value below the total weight, and the
 * cluster whose range holds it. */
static const struct tp_weighted_cluster_cfg *pick_weighted(const struct tp_tcp_proxy_cfg *p)
{
	uint64_t r = tp_rand() % p->total_weight;

	for (size_t i = 0; i < p->n_weighted_clusters; i++) {
		if (r < p->weighted_clusters[i].weight)
			return &p->weighted_clusters[i];
		r -= p->weighted_clusters[i].weight;
	}
	return &p->weighted_clusters[p->n_weighted_clusters - 1];
}

/* Envoy's getRouteFromEntries: weighted clusters when configured (they come first, so the
 * filter-state key envoy.tcp_proxy.cluster does not override them), else
 * getRegularRouteFromEntries: the per-connection cluster a filter set, then cluster. A name with
 * no cluster: false (no_route). */
static bool pick_route(struct tp_worker *w, struct tp_conn *c)
{
	const struct tp_tcp_proxy_cfg *p = c->proxy;
	const struct tp_state_entry *e;
	struct tp_cluster_rt *rt = NULL;
	const char *name = p->cluster;
	int idx = p->cluster_index;

	c->wcluster = NULL;
	if (p->n_weighted_clusters) {
		c->wcluster = pick_weighted(p);
		idx = c->wcluster->cluster_index;
		name = c->wcluster->name;
	} else {
		e = tp_filter_state_get(c->filter_state, TP_KEY_CLUSTER);
		if (e && e->value.type == TP_VALUE_STRING) {
			name = e->value.s;
			idx = tp_config_cluster_index(w->cfg, name);
		}
	}
	/* A static cluster by its index; any other name may be a cluster from CDS, looked up
	 * now (Envoy's cluster manager finds a thread-local cluster by name the same way). */
	if (idx >= 0)
		rt = &w->clusters[idx];
	else if (name)
		rt = tp_cds_find(w, name);
	c->od_name = name;
	if (!rt)
		return false;
	/* The connection holds what it picked: an update may replace or remove it meanwhile. */
	tp_cluster_hold(rt);
	tp_cluster_release(w, c->cluster);
	c->cluster = rt;
	return true;
}

static bool legacy_receive_before_connect(const struct tp_conn *c)
{
	const struct tp_state_entry *e = tp_filter_state_get(c->filter_state, TP_KEY_RECEIVE_EARLY);

	return e && e->value.type == TP_VALUE_BOOL && e->value.b;
}

/* tcp_proxy has its cluster: when to connect (at once, or on the first byte or the TLS
 * handshake), and whether the bytes read so far go on to on_data. */
static enum tp_filter_status route_found(struct tp_worker *w, struct tp_conn *c)
{
	const struct tp_tcp_proxy_cfg *p = c->proxy;

	/* The legacy switch, read here rather than at accept (see docs/envoy-compat.md); an
	 * explicit max_early_data_bytes wins over it. */
	if (p->max_early_data_bytes < 0 && !c->reads_early && legacy_receive_before_connect(c))
		tp_relay_early_enable(w, c, 0);
	/* ON_DOWNSTREAM_DATA waits for the first byte; ON_DOWNSTREAM_TLS_HANDSHAKE for the
	 * downstream transport's handshake, where it has one (tp_session_on_handshake), else it
	 * is IMMEDIATE. */
	if (p->upstream_connect_mode == TP_CONNECT_IMMEDIATE ||
	    (p->upstream_connect_mode == TP_CONNECT_ON_DOWNSTREAM_TLS_HANDSHAKE &&
	     !c->side[TP_DOWN].handshaking))
		start_connect(w, c);
	/* Receiving before connect, the bytes already read go on to on_data at once. */
	return c->reads_early && !tp_conn_closing(c) ? TP_FILTER_CONTINUE : TP_FILTER_STOP;
}

enum tp_filter_status tp_proxy_on_new_connection(const struct tp_filter_call *f)
{
	struct tp_worker *w = f->w;
	struct tp_conn *c = f->c;
	const struct tp_tcp_proxy_cfg *p = f->conf;
	const struct tp_state_entry *e;

	c->proxy = p;
	tp_stat_inc(w->stats, TCP_STAT(c, downstream_cx_total));
	c->idle_timeout_ms = p->idle_timeout_ms > 0 ? (uint64_t)p->idle_timeout_ms : 0;
	e = tp_filter_state_get(c->filter_state, TP_KEY_IDLE_TIMEOUT);
	if (e && e->value.type == TP_VALUE_UINT64)
		c->idle_timeout_ms = e->value.u;
	if (p->access_log_flush_interval_ms > 0)
		c->next_log_ms = w->now_ms + (uint64_t)p->access_log_flush_interval_ms;
	/* Armed now, so time spent connecting counts toward the idle timeout, as in Envoy. */
	arm_session_timer(w, c);
	if (tp_conn_closing(c))
		return TP_FILTER_STOP;
	if (p->flush_access_log_on_start)
		tp_access_log_write(w, c, TP_ALOG_TCP_START);
	if (!pick_route(w, c)) {
		/* on_demand: a cluster not known yet is waited for, parked on its timer. */
		if (p->odcds.path && c->od_name) {
			tp_stat_inc(w->stats, TCP_STAT(c, on_demand_cluster_attempt));
			c->od_wait = 1;
			c->od_deadline_ms = w->now_ms + (uint64_t)p->od_timeout_ms;
			w->n_od_wait++;
			arm_session_timer(w, c);
			return TP_FILTER_STOP;
		}
		tp_conn_end(w, c, TP_RF_NO_CLUSTER_FOUND);
		return TP_FILTER_STOP;
	}
	return route_found(w, c);
}

/* Envoy's onClusterDiscoveryCompletion failure path: downstream_cx_no_route, flag NC and close
 * (on_demand_cluster_missing or _timeout, counted before, says why). */
static void od_fail(struct tp_worker *w, struct tp_conn *c)
{
	tp_conn_end(w, c, TP_RF_NO_CLUSTER_FOUND);
}

void tp_session_od_forget(struct tp_worker *w, struct tp_conn *c)
{
	if (!c->od_wait)
		return;
	c->od_wait = 0;
	w->n_od_wait--;
}

static void od_resolved(struct tp_worker *w, struct tp_conn *c)
{
	struct tp_cluster_rt *rt;
	int idx;

	if (!c->od_wait || tp_conn_closing(c))
		return;
	idx = tp_config_cluster_index(w->cfg, c->od_name);
	rt = idx >= 0 ? &w->clusters[idx] : tp_cds_find(w, c->od_name);
	tp_session_od_forget(w, c);
	if (!rt) {
		/* The update came without it: Envoy's ClusterDiscoveryStatus::Missing. */
		tp_stat_inc(w->stats, TCP_STAT(c, on_demand_cluster_missing));
		od_fail(w, c);
		return;
	}
	tp_stat_inc(w->stats, TCP_STAT(c, on_demand_cluster_success));
	tp_cluster_hold(rt);
	c->cluster = rt;
	route_found(w, c);
	/* Bytes read while it waited were offered to tcp_proxy then, with no cluster to connect
	 * to: ON_DOWNSTREAM_DATA connects now if any came; a FIN with no byte before it ends the
	 * session, as tp_proxy_on_data ends it (Envoy #42006). */
	if (!tp_conn_closing(c) && c->phase == TP_PHASE_FILTERS && !c->attempts &&
	    c->proxy->upstream_connect_mode == TP_CONNECT_ON_DOWNSTREAM_DATA) {
		if (c->early_delivered) {
			start_connect(w, c);
		} else if (c->early_eos_delivered) {
			tp_conn_close(w, c);
			return;
		}
	}
	/* The attempt may have ended it (no healthy host): its slot may be free already, and a
	 * timer armed on it would outlive it. */
	if (!tp_conn_closing(c))
		arm_session_timer(w, c);
}

void tp_session_cds_applied(struct tp_worker *w)
{
	if (!w->n_od_wait)
		return;
	tp_conn_for_each(w, od_resolved);
}

int tp_proxy_register_stats(void *conf, struct tp_stats *st)
{
	struct tp_tcp_proxy_cfg *p = conf;

	return tp_stats_scope(st, TP_SCOPE_TCP, p->stat_prefix, &p->stats_base);
}

enum tp_filter_status tp_proxy_on_data(const struct tp_filter_call *f, const uint8_t *data,
				       size_t len, bool end_stream)
{
	struct tp_worker *w = f->w;
	struct tp_conn *c = f->c;
	const struct tp_tcp_proxy_cfg *p = f->conf;

	tp_early_take(w, c);
	if (c->phase == TP_PHASE_FILTERS && c->cluster &&
	    p->upstream_connect_mode == TP_CONNECT_ON_DOWNSTREAM_DATA) {
		/* A FIN with no byte before it never opens an upstream connection (Envoy
		 * #42006); nothing can come after it, so the session ends here. */
		if (!c->early_delivered && end_stream) {
			tp_conn_close(w, c);
			return TP_FILTER_STOP;
		}
		if (len)
			start_connect(w, c);
	} else if (c->phase < TP_PHASE_RELAY && c->up_connected) {
		/* Connected while a filter held these bytes: now they can go first. */
		tp_relay_start(w, c);
	}
	return TP_FILTER_STOP;
}

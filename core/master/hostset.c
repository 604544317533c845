/* Host sets that change at run time: the master owns the authoritative hosts of every dynamic
 * cluster (STRICT_DNS, LOGICAL_DNS, and any with health checks, whose hosts' health changes) of
 * a generation and publishes each change to the
 * generation's workers, one message per cluster with its whole set and a version, on a
 * SOCK_SEQPACKET socketpair made for each worker when it is forked. A worker that cannot take a
 * message now (its socket full) gets the newest set once it can: only versions are remembered
 * per worker, never a queue. Workers' reports come back on the same socket and are untrusted. */
#include "core/master/master-int.h"

#include "core/base/log.h"
#include "core/base/mloop.h"
#include "core/base/timer.h"
#include "core/config/config.h"
#include "core/master/outlier.h"
#include "core/worker/hostset-t.h"
#include "core/worker/lb-t.h"
#include "core/worker/lb.h"
#include "shm/stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The first host sets of a generation are waited for this long at most: a resolver that does
 * not answer must not keep the generation from serving its other clusters. */
#define HS_INIT_TIMEOUT_MS 5000

struct hs_cluster {
	struct gen *g;
	uint32_t idx; /* into g->cfg->clusters, or TP_HS_CDS_ID() of a cluster from CDS */
	const struct tp_cluster_cfg *cfg;
	/* A cluster from CDS: added and removed with the CDS set (hs_cds_sync()), in the list
	 * g->hs->cds; the version of its set each worker has ([concurrency], by worker slot).
	 * It does not hold the generation's READY back. */
	bool cds;
	uint64_t *sent;
	struct hs_cluster *next;
	struct tp_hs_host *hosts;
	uint32_t n;
	uint64_t version;
	bool initialized;
	unsigned init_waits; /* sources not in yet: the resolver or static hosts, health checks */
	struct dns_cluster *dns;
	struct hc_cluster *hc;
	/* outlier_detection: each host's detector state ([n], beside hosts), the hosts ejected
	 * now, the interval timer that returns them */
	struct tp_od_host *od;
	uint32_t od_active;
	int64_t od_timer;
};

struct hs_gen {
	struct hs_cluster *cl;
	uint32_t n_cl;
	uint32_t n_initialized;
	bool ready;
	int64_t ready_timer;
	uint64_t next_id;
	uint8_t *buf;		/* one message */
	struct hs_cluster *cds; /* the CDS clusters' host sets, while the generation has them */
};

static void flush(struct gen *g, struct wslot *ws);

static void flush_all(struct gen *g)
{
	for (unsigned s = 0; s < g->m->opts->concurrency; s++)
		flush(g, &g->w[s]);
}

static void set_ready(struct gen *g)
{
	struct hs_gen *hg = g->hs;

	if (hg->ready)
		return;
	hg->ready = true;
	if (hg->ready_timer)
		tp_mloop_cancel(g->m->loop, hg->ready_timer);
	hg->ready_timer = 0;
	flush_all(g);
}

static void on_ready_timeout(struct tp_mloop *l, void *arg)
{
	struct gen *g = arg;

	g->hs->ready_timer = 0;
	tp_warn("generation %u: DNS clusters not resolved within %d s; serving anyway", g->epoch,
		HS_INIT_TIMEOUT_MS / 1000);
	set_ready(g);
}

static void on_od_interval(struct tp_mloop *l, void *arg);
static struct hs_cluster *hs_of(struct gen *g, uint32_t cluster);

/* A static cluster with health checks: its hosts are its endpoints, once and for all. */
static int static_hosts(struct hs_cluster *hc, const struct tp_cluster_cfg *cl)
{
	struct hs_addr *a = calloc(cl->n_endpoints ? cl->n_endpoints : 1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < cl->n_endpoints; i++) {
		a[i].ep = (uint32_t)i;
		memcpy(&a[i].ss, &cl->endpoints[i].addr.ss, cl->endpoints[i].addr.len);
	}
	hs_cluster_set(hc, a, (uint32_t)cl->n_endpoints);
	free(a);
	hs_cluster_initialized(hc);
	return 0;
}

int hs_gen_init(struct gen *g, char *why, size_t whylen)
{
	const struct tp_config *cfg = g->cfg;
	struct hs_gen *hg = calloc(1, sizeof(*hg));
	uint32_t n = 0;

	if (!hg)
		goto out_oom;
	g->hs = hg;
	for (size_t i = 0; i < cfg->n_clusters; i++)
		n += tp_cluster_hostset(&cfg->clusters[i]);
	hg->cl = calloc(n ? n : 1, sizeof(*hg->cl));
	hg->buf = malloc(TP_HS_MSG_MAX);
	if (!hg->cl || !hg->buf)
		goto out_oom;
	for (size_t i = 0; i < cfg->n_clusters; i++) {
		const struct tp_cluster_cfg *cl = &cfg->clusters[i];
		struct hs_cluster *hc;

		if (!tp_cluster_hostset(cl)) {
			/* Every static host is a member, and healthy. */
			tp_stat_set(g->m->blk, cl->stats_base + TP_CLUSTER_membership_total,
				    cl->n_endpoints);
			tp_stat_set(g->m->blk, cl->stats_base + TP_CLUSTER_membership_healthy,
				    cl->n_endpoints);
			continue;
		}
		hc = &hg->cl[hg->n_cl++];
		hc->g = g;
		if (cl->outlier.enabled) {
			tp_stat_set(g->m->blk, cl->stats_base + TP_CLUSTER_od_active, 0);
			hc->od_timer =
				tp_mloop_at(g->m->loop, tp_now_ms() + cl->outlier.interval_ms,
					    on_od_interval, hc);
		}
		hc->idx = (uint32_t)i;
		hc->cfg = cl;
		hc->init_waits = 1 + !!cl->n_health_checks;
	}
	for (uint32_t i = 0; i < hg->n_cl; i++) {
		struct hs_cluster *hc = &hg->cl[i];
		const struct tp_cluster_cfg *cl = &cfg->clusters[hc->idx];

		/* The checker first: the first hosts already get their sessions. */
		if (cl->n_health_checks && !(hc->hc = hc_cluster_start(g->m, hc, cl, why, whylen)))
			return -EINVAL;
		if (cl->type == TP_CLUSTER_STATIC) {
			if (static_hosts(hc, cl) < 0)
				goto out_oom;
			continue;
		}
		hc->dns = dns_cluster_start(g->m, hc, cl, why, whylen);
		if (!hc->dns)
			return -EINVAL;
	}
	/* The clusters from CDS get their sets as they come; READY does not wait for them. */
	cds_sync_hostsets(g->m, g);
	if (!hg->n_cl)
		hg->ready = true;
	else if (hg->n_initialized < hg->n_cl)
		hg->ready_timer = tp_mloop_at(g->m->loop, tp_now_ms() + HS_INIT_TIMEOUT_MS,
					      on_ready_timeout, g);
	else
		hg->ready = true;
	return 0;
out_oom:
	snprintf(why, whylen, "host sets: out of memory");
	return -ENOMEM;
}

/* Its resolver, checker and ejection timer stop; its hosts stay (the workers keep theirs). */
static void cluster_stop(struct hs_cluster *hc)
{
	if (hc->dns)
		dns_cluster_stop(hc->dns);
	hc->dns = NULL;
	hc_cluster_stop(hc->hc);
	hc->hc = NULL;
	if (hc->od_timer)
		tp_mloop_cancel(hc->g->m->loop, hc->od_timer);
	hc->od_timer = 0;
}

void hs_gen_stop(struct gen *g)
{
	struct hs_gen *hg = g->hs;

	for (uint32_t i = 0; hg && i < hg->n_cl; i++)
		cluster_stop(&hg->cl[i]);
	for (struct hs_cluster *hc = hg ? hg->cds : NULL; hc; hc = hc->next)
		cluster_stop(hc);
}

void hs_gen_reopen_logs(struct gen *g)
{
	struct hs_gen *hg = g->hs;

	for (uint32_t i = 0; hg && i < hg->n_cl; i++)
		hc_cluster_reopen(hg->cl[i].hc);
	for (struct hs_cluster *hc = hg ? hg->cds : NULL; hc; hc = hc->next)
		hc_cluster_reopen(hc->hc);
}

void hs_gen_free(struct gen *g)
{
	struct hs_gen *hg = g->hs;

	if (!hg)
		return;
	hs_gen_stop(g);
	hs_cds_sync(g, NULL, 0, false);
	if (hg->ready_timer)
		tp_mloop_cancel(g->m->loop, hg->ready_timer);
	for (uint32_t i = 0; i < hg->n_cl; i++) {
		free(hg->cl[i].hosts);
		free(hg->cl[i].od);
	}
	for (unsigned s = 0; g->w && s < g->m->opts->concurrency; s++) {
		hs_worker_close(g->m, &g->w[s]);
		free(g->w[s].hs_sent);
		g->w[s].hs_sent = NULL;
		lds_worker_reset(&g->w[s]);
	}
	free(hg->cl);
	free(hg->buf);
	free(hg);
	g->hs = NULL;
}

/* ---- the workers' sockets ---- */

static struct gen *gen_of_fd(struct master *m, int fd, struct wslot **wsp)
{
	for (struct gen *g = m->gens; g; g = g->next)
		for (unsigned s = 0; s < m->opts->concurrency; s++)
			if (g->w[s].hs == fd) {
				*wsp = &g->w[s];
				return g;
			}
	return NULL;
}

static bool apply_report(struct gen *g, const struct tp_hs_report *r);

/* TP_HS_CDS_LOW: the oldest CDS set the worker may still write for. A worker cannot claim a set
 * the master has not made; one that lies about an older set only makes its own rows go early
 * (its counts land in rows given to other scopes: wrong numbers, never memory out of bounds). */
static bool apply_cds_low(struct gen *g, struct wslot *ws, const struct tp_hs_cds_low *b)
{
	if (b->applied > g->m->cds_seq || (b->low != UINT64_MAX && b->low > b->applied))
		return false;
	ws->cds_bound = b->low < b->applied ? b->low : b->applied;
	cds_release_holds(g);
	return true;
}

/* A worker's reports: read and bounded, then fed to the clusters' outlier detectors. A malformed
 * one closes nothing (the worker may be compromised, the master must not be): it is dropped,
 * and logged the first time for each worker. */
static void read_reports(struct gen *g, struct wslot *ws)
{
	uint8_t buf[sizeof(struct tp_hs_head) + TP_HS_MAX_REPORTS * sizeof(struct tp_hs_report)];

	for (int round = 0; round < 64; round++) {
		const struct tp_hs_head *h = (const struct tp_hs_head *)buf;
		ssize_t n = recv(ws->hs, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			hs_worker_close(g->m, ws);
			return;
		}
		if ((size_t)n == sizeof(*h) + sizeof(struct tp_hs_cds_low) &&
		    h->magic == TP_HS_MAGIC && h->type == TP_HS_CDS_LOW) {
			if (!apply_cds_low(g, ws, (const struct tp_hs_cds_low *)(h + 1)))
				goto bad;
			continue;
		}
		if ((size_t)n > sizeof(buf) || (size_t)n < sizeof(*h) || h->magic != TP_HS_MAGIC ||
		    h->type != TP_HS_REPORT || h->n > TP_HS_MAX_REPORTS ||
		    (size_t)n != sizeof(*h) + h->n * sizeof(struct tp_hs_report))
			goto bad;
		for (uint32_t i = 0; i < h->n; i++)
			if (!apply_report(g, (const struct tp_hs_report *)(h + 1) + i))
				goto bad;
		continue;
bad:
		if (!ws->hs_bad_logged)
			tp_warn("worker %u/%u: malformed host report dropped (logged once)",
				g->epoch, ws->slot);
		ws->hs_bad_logged = true;
	}
}

static void on_hs_socket(struct tp_mloop *l, int fd, unsigned revents, void *arg)
{
	struct master *m = arg;
	struct wslot *ws;
	struct gen *g = gen_of_fd(m, fd, &ws);

	if (!g) {
		tp_mloop_del(l, fd);
		return;
	}
	if (revents & POLLOUT) {
		ws->hs_blocked = false;
		tp_mloop_add(l, fd, POLLIN, on_hs_socket, m);
		flush(g, ws);
	}
	if (ws->hs >= 0 && (revents & (POLLIN | POLLHUP | POLLERR)))
		read_reports(g, ws);
}

int hs_worker_open(struct gen *g, struct wslot *ws, int *child)
{
	struct hs_gen *hg = g->hs;
	int sv[2], sz = (int)TP_HS_MSG_MAX * 2;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		return -errno;
	/* Room for a largest set: the kernel caps it at net.core.wmem_max (twice 208 KiB by
	 * default), which is more than TP_HS_MSG_MAX. */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	free(ws->hs_sent);
	ws->hs_sent = calloc(hg->n_cl ? hg->n_cl : 1, sizeof(*ws->hs_sent));
	if (!ws->hs_sent) {
		close(sv[0]);
		close(sv[1]);
		return -ENOMEM;
	}
	ws->hs = sv[0];
	ws->cds_sent = 0;
	ws->cds_bound = 0;
	lds_worker_reset(ws);
	for (struct hs_cluster *hc = hg->cds; hc; hc = hc->next)
		hc->sent[ws->slot] = 0;
	ws->hs_ready_sent = false;
	ws->hs_blocked = false;
	*child = sv[1];
	return 0;
}

void hs_worker_started(struct gen *g, struct wslot *ws)
{
	tp_mloop_add(g->m->loop, ws->hs, POLLIN, on_hs_socket, g->m);
	flush(g, ws);
}

void hs_worker_close(struct master *m, struct wslot *ws)
{
	if (ws->hs < 0)
		return;
	tp_mloop_del(m->loop, ws->hs);
	close(ws->hs);
	ws->hs = -1;
}

void hs_worker_blocked(struct gen *g, struct wslot *ws)
{
	ws->hs_blocked = true;
	tp_mloop_add(g->m->loop, ws->hs, POLLIN | POLLOUT, on_hs_socket, g->m);
}

bool hs_send(struct gen *g, struct wslot *ws, const void *p, size_t len, const int *fds, int nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(TP_HS_MAX_FDS * sizeof(int))];
	} u;
	struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	TP_BUG_ON(nfds < 0 || nfds > TP_HS_MAX_FDS);
	if (nfds) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
	}
	do
		n = sendmsg(ws->hs, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)len)
		return true;
	if (n < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
		hs_worker_blocked(g, ws);
		return false;
	}
	tp_debug("worker %u/%u: host-set socket: %s", g->epoch, ws->slot,
		 n < 0 ? strerror(errno) : "short send");
	hs_worker_close(g->m, ws);
	return false;
}

static bool send_msg(struct gen *g, struct wslot *ws, const void *p, size_t len)
{
	return hs_send(g, ws, p, len, NULL, 0);
}

/* A cluster's whole host set, as TP_HS_SET (static clusters by index, CDS ones by their id). */
static bool send_set(struct gen *g, struct wslot *ws, const struct hs_cluster *hc)
{
	struct tp_hs_head *h = (struct tp_hs_head *)g->hs->buf;

	memset(h, 0, sizeof(*h));
	h->magic = TP_HS_MAGIC;
	h->type = TP_HS_SET;
	h->cluster = hc->idx;
	h->n = hc->n;
	h->version = hc->version;
	memcpy(h + 1, hc->hosts, hc->n * sizeof(struct tp_hs_host));
	return send_msg(g, ws, h, sizeof(*h) + hc->n * sizeof(struct tp_hs_host));
}

/* The CDS set ws lacks: first, so that a starting worker has its dynamic clusters before READY
 * arms its accepts. false: not sent (the socket is full, or no memfd could be made: tried again
 * at the next flush). */
static bool flush_cds(struct gen *g, struct wslot *ws)
{
	struct master *m = g->m;
	struct tp_hs_head h = {.magic = TP_HS_MAGIC, .type = TP_HS_CDS};
	uint64_t v = cds_version(m);
	bool ok;
	int fd;

	if (ws->cds_sent == v)
		return true;
	fd = cds_blob(m);
	if (fd < 0) {
		tp_warn("cds: cannot make the memfd for the workers: %s", strerror(-fd));
		return false;
	}
	h.version = v;
	ok = hs_send(g, ws, &h, sizeof(h), &fd, 1);
	if (!m->cds)
		close(fd);
	if (ok)
		ws->cds_sent = v;
	return ok;
}

void hs_flush_cds(struct master *m)
{
	for (struct gen *g = m->gens; g; g = g->next)
		if (gen_accepts(g->state))
			flush_all(g);
}

/* Sends ws every set it does not have yet, then READY once the generation is ready. */
static void flush(struct gen *g, struct wslot *ws)
{
	struct hs_gen *hg = g->hs;

	if (!hg || ws->hs < 0 || ws->hs_blocked)
		return;
	if (gen_accepts(g->state) && !flush_cds(g, ws))
		return;
	for (uint32_t i = 0; i < hg->n_cl; i++) {
		struct hs_cluster *hc = &hg->cl[i];
		if (ws->hs_sent[i] == hc->version)
			continue;
		if (!send_set(g, ws, hc))
			return;
		ws->hs_sent[i] = hc->version;
	}
	/* The CDS clusters' sets go after the CDS set that has their clusters (flush_cds()),
	 * on the same ordered socket. */
	for (struct hs_cluster *hc = hg->cds; hc; hc = hc->next) {
		if (hc->sent[ws->slot] == hc->version || !gen_accepts(g->state))
			continue;
		if (!send_set(g, ws, hc))
			return;
		hc->sent[ws->slot] = hc->version;
	}
	/* The LDS listeners before READY: a new worker serves them from its first accept. */
	if (!lds_flush(g, ws))
		return;
	if (hg->ready && !ws->hs_ready_sent) {
		struct tp_hs_head h = {.magic = TP_HS_MAGIC, .type = TP_HS_READY};

		if (send_msg(g, ws, &h, sizeof(h)))
			ws->hs_ready_sent = true;
	}
}

/* ---- changes ---- */

void hs_host_text(const struct tp_hs_host *h, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(h->family, h->addr, ip, sizeof(ip));
	if (h->family == AF_INET6)
		snprintf(out, len, "[%s]:%u", ip, h->port);
	else
		snprintf(out, len, "%s:%u", ip, h->port);
}

static bool same_host(const struct tp_hs_host *a, const struct tp_hs_host *b)
{
	return a->ep == b->ep && a->family == b->family && a->port == b->port &&
	       !memcmp(a->addr, b->addr, 16);
}

/* A new version of hc's set: its membership gauges, and every worker gets it. */
static void publish(struct hs_cluster *hc)
{
	struct gen *g = hc->g;
	const struct tp_cluster_cfg *cl = hc->cfg;
	uint32_t healthy = 0;

	hc->version++;
	for (uint32_t i = 0; i < hc->n; i++)
		healthy += !(hc->hosts[i].health & TP_HOST_F_ALL);
	tp_stat_set(g->m->blk, cl->stats_base + TP_CLUSTER_membership_total, hc->n);
	tp_stat_set(g->m->blk, cl->stats_base + TP_CLUSTER_membership_healthy, healthy);
	if (gen_accepts(g->state))
		flush_all(g);
}

void hs_cluster_set(struct hs_cluster *hc, const struct hs_addr *a, uint32_t n)
{
	struct gen *g = hc->g;
	struct master *m = g->m;
	const struct tp_cluster_cfg *cl = hc->cfg;
	struct tp_hs_host *next;
	struct tp_od_host *next_od = NULL;
	uint32_t kept = 0;
	bool changed;

	if (n > TP_HS_MAX_HOSTS) {
		tp_warn("cluster %s: %u hosts, only the first %d are used", cl->name, n,
			TP_HS_MAX_HOSTS);
		n = TP_HS_MAX_HOSTS;
	}
	next = calloc(n ? n : 1, sizeof(*next));
	if (cl->outlier.enabled)
		next_od = calloc(n ? n : 1, sizeof(*next_od));
	if (!next || (cl->outlier.enabled && !next_od)) {
		free(next);
		free(next_od);
		tp_warn("cluster %s: out of memory for its hosts", cl->name);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct tp_hs_host *h = &next[i];
		const struct tp_endpoint_cfg *ep = &cl->endpoints[a[i].ep];

		h->ep = a[i].ep;
		h->family = a[i].ss.ss_family;
		if (h->family == AF_INET6) {
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a[i].ss;

			memcpy(h->addr, &s6->sin6_addr, 16);
		} else {
			const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a[i].ss;

			memcpy(h->addr, &s4->sin_addr, 4);
		}
		/* A resolved address has no port: the endpoint's; a literal's is its own. */
		h->port = ntohs(((const struct sockaddr_in *)&a[i].ss)->sin_port);
		if (!h->port)
			h->port = ep->addr.port;
		/* The same endpoint and address: the same host, with its id and health. */
		for (uint32_t j = 0; j < hc->n; j++) {
			if (same_host(&hc->hosts[j], h)) {
				h->id = hc->hosts[j].id;
				h->health = hc->hosts[j].health;
				h->stats_base = hc->hosts[j].stats_base;
				if (next_od)
					next_od[i] = hc->od[j];
				kept++;
				break;
			}
		}
		if (!h->id) {
			char text[64], name[TP_STATS_NAME_MAX];
			int ret;

			/* Envoy: a host of a health-checked cluster starts failed until its first
			 * check passes. */
			if (hc->hc)
				h->health = TP_HOST_F_FAILED_ACTIVE_HC;
			h->id = ++g->hs->next_id;
			hs_host_text(h, text, sizeof(text));
			snprintf(name, sizeof(name), "%s::%s", cl->name, text);
			/* The host's scope is the generation's until it is freed: a worker's
			 * connection may count into it for as long as it lives. */
			tp_stats_hold_resume(m->stats, &g->scopes);
			ret = tp_stats_scope(m->stats, TP_SCOPE_HOST, name, &h->stats_base);
			tp_stats_hold_end(m->stats);
			if (ret < 0) {
				/* No row: it counts into the cluster's first host row, shared. */
				tp_warn("cluster %s: no stats row for host %s: %s", cl->name, text,
					strerror(-ret));
				h->stats_base = cl->n_endpoints ? cl->endpoints[0].stats_base : 0;
			}
		}
	}
	/* The same hosts in another order (a resolver rotating its answers) are no change. */
	changed = kept != hc->n || n != hc->n;
	if (!changed) {
		free(next);
		free(next_od);
		return;
	}
	if (hc->n || n)
		tp_stat_inc(m->blk, cl->stats_base + TP_CLUSTER_membership_change);
	free(hc->hosts);
	hc->hosts = next;
	hc->n = n;
	free(hc->od);
	hc->od = next_od;
	if (next_od) {
		/* A host removed while ejected is no longer counted as ejected. */
		hc->od_active = 0;
		for (uint32_t i = 0; i < n; i++)
			hc->od_active += next_od[i].ejected;
		tp_stat_set(m->blk, cl->stats_base + TP_CLUSTER_od_active, hc->od_active);
	}
	if (hc->hc)
		hc_cluster_sync(hc->hc, hc->hosts, n);
	tp_info("cluster %s: %u host(s)", cl->name, n);
	publish(hc);
}

void hs_cluster_health(struct hs_cluster *hc, uint64_t id, bool failed)
{
	for (uint32_t i = 0; i < hc->n; i++) {
		struct tp_hs_host *h = &hc->hosts[i];

		if (h->id != id)
			continue;
		if (failed)
			h->health |= TP_HOST_F_FAILED_ACTIVE_HC;
		else
			h->health &= ~TP_HOST_F_FAILED_ACTIVE_HC;
		publish(hc);
		return;
	}
}

void hs_cluster_initialized(struct hs_cluster *hc)
{
	struct hs_gen *hg = hc->g->hs;

	if (hc->initialized || --hc->init_waits)
		return;
	hc->initialized = true;
	if (hc->cds)
		return;
	/* Called from dns_cluster_start() before hg->ready is decided, too. */
	if (++hg->n_initialized == hg->n_cl && hg->ready_timer)
		set_ready(hc->g);
}

/* ---- clusters from CDS ---- */

static void cds_cluster_free(struct hs_cluster *hc)
{
	cluster_stop(hc);
	free(hc->hosts);
	free(hc->od);
	free(hc->sent);
	free(hc);
}

/* A CDS cluster's host set in g, started as hs_gen_init() starts a static one's. */
static int cds_cluster_add(struct gen *g, const struct hs_cds_ref *r)
{
	const struct tp_cluster_cfg *cl = r->cfg;
	struct hs_cluster *hc = calloc(1, sizeof(*hc));
	char why[256] = "";

	if (!hc || !(hc->sent = calloc(g->m->opts->concurrency, sizeof(*hc->sent)))) {
		free(hc);
		tp_warn("cds: cluster %s: out of memory for its host set", cl->name);
		return -ENOMEM;
	}
	hc->g = g;
	hc->idx = r->id;
	hc->cfg = cl;
	hc->cds = true;
	hc->init_waits = 1 + !!cl->n_health_checks;
	hc->next = g->hs->cds;
	g->hs->cds = hc;
	if (cl->outlier.enabled) {
		tp_stat_set(g->m->blk, cl->stats_base + TP_CLUSTER_od_active, 0);
		hc->od_timer = tp_mloop_at(g->m->loop, tp_now_ms() + cl->outlier.interval_ms,
					   on_od_interval, hc);
	}
	if (cl->n_health_checks && !(hc->hc = hc_cluster_start(g->m, hc, cl, why, sizeof(why))))
		goto out_warn;
	if (cl->type == TP_CLUSTER_STATIC) {
		if (static_hosts(hc, cl) < 0)
			snprintf(why, sizeof(why), "cluster %s: out of memory", cl->name);
		else
			return 0;
		goto out_warn;
	}
	hc->dns = dns_cluster_start(g->m, hc, cl, why, sizeof(why));
	if (hc->dns)
		return 0;
out_warn:
	/* The cluster stays without hosts in this generation: its connections fail (UH). */
	tp_warn("cds: %s; its hosts stay empty", why);
	cluster_stop(hc);
	return -EINVAL;
}

void hs_cds_sync(struct gen *g, const struct hs_cds_ref *refs, size_t n, bool add)
{
	struct hs_gen *hg = g->hs;
	struct hs_cluster **pp;

	if (!hg)
		return;
	/* Definitions gone: their checks and resolvers stop, their sets go. */
	for (pp = &hg->cds; *pp;) {
		struct hs_cluster *hc = *pp;
		bool kept = false;

		for (size_t i = 0; i < n && !kept; i++)
			kept = refs[i].id == hc->idx && refs[i].cfg == hc->cfg;
		if (kept) {
			pp = &hc->next;
			continue;
		}
		*pp = hc->next;
		cds_cluster_free(hc);
	}
	for (size_t i = 0; add && i < n; i++) {
		if (!tp_cluster_hostset(refs[i].cfg) || hs_of(g, refs[i].id))
			continue;
		cds_cluster_add(g, &refs[i]);
	}
}

/* ---- outlier detection (core/master/outlier.c has the detectors) ---- */

static struct hs_cluster *hs_of(struct gen *g, uint32_t cluster)
{
	struct hs_gen *hg = g->hs;

	if (cluster & TP_HS_CDS_BIT) {
		for (struct hs_cluster *hc = hg ? hg->cds : NULL; hc; hc = hc->next)
			if (hc->idx == cluster)
				return hc;
		return NULL;
	}
	for (uint32_t i = 0; hg && i < hg->n_cl; i++)
		if (hg->cl[i].idx == cluster)
			return &hg->cl[i];
	return NULL;
}

/* Envoy's DetectorImpl::onConsecutiveErrorWorker (or processSuccessRateEjections) then
 * ejectHost, for each detector tripped. */
static void od_tripped(struct hs_cluster *hc, uint32_t i, unsigned tripped)
{
	struct gen *g = hc->g;
	const struct tp_cluster_cfg *cl = hc->cfg;
	const struct tp_outlier_cfg *c = &cl->outlier;
	struct tp_od_host *o = &hc->od[i];
	static const struct {
		unsigned type;
		unsigned detected, enforced;
		const char *name;
	} kinds[] = {
		{TP_OD_GATEWAY, TP_CLUSTER_od_detected_gw, TP_CLUSTER_od_enforced_gw,
		 "consecutive_gateway_failure"},
		{TP_OD_5XX, TP_CLUSTER_od_detected_5xx, TP_CLUSTER_od_enforced_5xx,
		 "consecutive_5xx"},
		{TP_OD_LOCAL_ORIGIN, TP_CLUSTER_od_detected_lo, TP_CLUSTER_od_enforced_lo,
		 "consecutive_local_origin_failure"},
		{TP_OD_SUCCESS_RATE, TP_CLUSTER_od_detected_sr, TP_CLUSTER_od_enforced_sr,
		 "success_rate"},
		{TP_OD_LOCAL_SUCCESS_RATE, TP_CLUSTER_od_detected_lo_sr,
		 TP_CLUSTER_od_enforced_lo_sr, "local_origin_success_rate"},
		{TP_OD_FAILURE_PERCENTAGE, TP_CLUSTER_od_detected_fp, TP_CLUSTER_od_enforced_fp,
		 "failure_percentage"},
		{TP_OD_LOCAL_FAILURE_PERCENTAGE, TP_CLUSTER_od_detected_lo_fp,
		 TP_CLUSTER_od_enforced_lo_fp, "local_origin_failure_percentage"},
	};

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		unsigned type = kinds[k].type;
		char text[64];

		/* A host the success rate ejected is not ejected again by the failure percentage
		 * of the same interval. */
		if (!(tripped & type) || o->ejected)
			continue;
		if (type & (TP_OD_SUCCESS_RATE | TP_OD_LOCAL_SUCCESS_RATE))
			tp_stat_inc(g->m->blk, cl->stats_base + TP_CLUSTER_od_sr_deprecated);
		tp_stat_inc(g->m->blk, cl->stats_base + kinds[k].detected);
		/* The tripped counter starts a new bout, ejected or not. */
		if (type == TP_OD_GATEWAY)
			o->c_gateway = 0;
		else if (type == TP_OD_5XX)
			o->c_5xx = 0;
		else if (type == TP_OD_LOCAL_ORIGIN)
			o->c_local = 0;
		if (!tp_od_may_eject(c, hc->od_active, hc->n)) {
			tp_stat_inc(g->m->blk, cl->stats_base + TP_CLUSTER_od_overflow);
			continue;
		}
		/* Envoy's deprecated ejections_total counts consecutive_5xx and success_rate. */
		if (type == TP_OD_5XX || type == TP_OD_SUCCESS_RATE)
			tp_stat_inc(g->m->blk, cl->stats_base + TP_CLUSTER_od_total);
		if (!tp_od_enforced(c, type, (uint32_t)(tp_rand() % 100)))
			continue;
		tp_od_eject(c, o, tp_now_ms(),
			    c->max_ejection_time_jitter_ms
				    ? (int64_t)(tp_rand() %
						((uint64_t)c->max_ejection_time_jitter_ms + 1))
				    : 0);
		hc->od_active++;
		tp_stat_set(g->m->blk, cl->stats_base + TP_CLUSTER_od_active, hc->od_active);
		tp_stat_inc(g->m->blk, cl->stats_base + TP_CLUSTER_od_enforced_total);
		tp_stat_inc(g->m->blk, cl->stats_base + kinds[k].enforced);
		hc->hosts[i].health |= TP_HOST_F_FAILED_OUTLIER;
		hs_host_text(&hc->hosts[i], text, sizeof(text));
		tp_info("cluster %s: host %s ejected (%s)", cl->name, text, kinds[k].name);
		publish(hc);
	}
}

static void od_feed(struct hs_cluster *hc, uint32_t i, bool failure, uint32_t n)
{
	const struct tp_outlier_cfg *c = &hc->cfg->outlier;
	unsigned tripped = tp_od_results(c, &hc->od[i], failure, n);

	if (tripped)
		od_tripped(hc, i, tripped);
}

/* One host's entry of a worker's report; false: malformed (a report for a host no longer in
 * the set is not: the worker may not have its new set yet). */
static bool apply_report(struct gen *g, const struct tp_hs_report *r)
{
	struct hs_cluster *hc = hs_of(g, r->cluster);

	/* A CDS cluster removed or replaced since: its connections still report. */
	if (!hc && (r->cluster & TP_HS_CDS_BIT) && r->host && r->host <= g->hs->next_id)
		return true;
	if (!hc || !hc->od || r->success > TP_HS_MAX_REPORT_COUNT ||
	    r->failure > TP_HS_MAX_REPORT_COUNT || r->lead > TP_HS_MAX_REPORT_COUNT ||
	    r->mid > TP_HS_MAX_REPORT_COUNT || ((r->lead || r->mid) && !r->success) ||
	    r->failures > TP_HS_MAX_REPORT_COUNT ||
	    (r->failures < TP_HS_MAX_REPORT_COUNT && r->failures < r->lead + r->mid + r->failure) ||
	    !r->host || r->host > g->hs->next_id)
		return false;
	for (uint32_t i = 0; i < hc->n; i++) {
		if (hc->hosts[i].id != r->host)
			continue;
		tp_od_count(&hc->od[i], r->success, r->failures);
		od_feed(hc, i, true, r->lead);
		od_feed(hc, i, false, r->success);
		/* The longest run between two successes, closed by one. */
		if (r->mid) {
			od_feed(hc, i, true, r->mid);
			od_feed(hc, i, false, 1);
		}
		od_feed(hc, i, true, r->failure);
		break;
	}
	return true;
}

/* Envoy's interval timer: ejected hosts whose time is up return to rotation. */
static void on_od_interval(struct tp_mloop *l, void *arg)
{
	struct hs_cluster *hc = arg;
	const struct tp_cluster_cfg *cl = hc->cfg;
	int64_t now = tp_now_ms();
	bool changed = false;
	unsigned *rates;

	hc->od_timer = tp_mloop_at(l, now + cl->outlier.interval_ms, on_od_interval, hc);
	for (uint32_t i = 0; hc->od && i < hc->n; i++) {
		char text[64];

		if (!tp_od_sweep(&cl->outlier, &hc->od[i], now))
			continue;
		hc->od_active--;
		hc->hosts[i].health &= ~TP_HOST_F_FAILED_OUTLIER;
		hs_host_text(&hc->hosts[i], text, sizeof(text));
		tp_info("cluster %s: host %s returns from ejection", cl->name, text);
		changed = true;
	}
	if (changed) {
		tp_stat_set(hc->g->m->blk, cl->stats_base + TP_CLUSTER_od_active, hc->od_active);
		publish(hc);
	}
	/* Then the success-rate detectors over the interval that ended. */
	if (!hc->od || !hc->n)
		return;
	if ((rates = calloc(hc->n, sizeof(*rates)))) {
		tp_od_rates(&cl->outlier, hc->od, hc->n, rates);
		for (uint32_t i = 0; i < hc->n; i++)
			if (rates[i])
				od_tripped(hc, i, rates[i]);
		free(rates);
	}
	/* Last, as Envoy: the backoff of the hosts in rotation, not of those just ejected. */
	for (uint32_t i = 0; i < hc->n; i++)
		tp_od_decay(&cl->outlier, &hc->od[i], now);
}

void hs_cluster_hc_passed(struct hs_cluster *hc, uint64_t id)
{
	const struct tp_cluster_cfg *cl = hc->cfg;
	char text[64];

	if (!hc->od || !hc->od_active || !cl->outlier.successful_active_health_check_uneject_host)
		return;
	for (uint32_t i = 0; i < hc->n; i++) {
		if (hc->hosts[i].id != id || !hc->od[i].ejected)
			continue;
		/* Envoy's unejectHost(): a passing active check outranks the ejection's time. */
		tp_od_uneject(&hc->od[i], tp_now_ms());
		hc->od_active--;
		hc->hosts[i].health &= ~TP_HOST_F_FAILED_OUTLIER;
		tp_stat_set(hc->g->m->blk, cl->stats_base + TP_CLUSTER_od_active, hc->od_active);
		hs_host_text(&hc->hosts[i], text, sizeof(text));
		tp_info("cluster %s: host %s returns from ejection (its health check passed)",
			cl->name, text);
		publish(hc);
		return;
	}
}

/* ---- /clusters ---- */

static struct gen *serving(struct master *m)
{
	for (struct gen *g = m->gens; g; g = g->next)
		if (g->state == GEN_SERVING)
			return g;
	return NULL;
}

bool hs_host_info(struct master *m, const char *cluster, const char *host,
		  struct tp_admin_host *out)
{
	struct gen *g = serving(m);
	struct hs_gen *hg = g ? g->hs : NULL;
	struct hs_cluster *cds = hg ? hg->cds : NULL;

	for (uint32_t i = 0; hg && (i < hg->n_cl || cds); i++) {
		struct hs_cluster *hc = i < hg->n_cl ? &hg->cl[i] : cds;
		const struct tp_cluster_cfg *cl = hc->cfg;

		if (i >= hg->n_cl)
			cds = cds->next;
		if (strcmp(cl->name, cluster))
			continue;
		for (uint32_t j = 0; j < hc->n; j++) {
			char text[64];

			hs_host_text(&hc->hosts[j], text, sizeof(text));
			if (strcmp(text, host))
				continue;
			out->hostname = cl->endpoints[hc->hosts[j].ep].addr.host;
			out->health = hc->hosts[j].health;
			out->weight = cl->endpoints[hc->hosts[j].ep].weight;
			out->priority = cl->endpoints[hc->hosts[j].ep].priority;
			return true;
		}
	}
	return false;
}

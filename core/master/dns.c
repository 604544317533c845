/* STRICT_DNS and LOGICAL_DNS: each endpoint's name resolved with c-ares in the master's loop
 * (its sockets and its timeout on tp_mloop, never a blocking call), again every
 * dns_refresh_rate (or the records' TTL with respect_dns_ttl, plus dns_jitter), after a failure
 * every dns_failure_refresh_rate (jittered, exponential) or the refresh rate. Each answer
 * becomes the cluster's host set (hostset.c), which the workers get. */
#include "core/master/master-int.h"

#include "core/base/log.h"
#include "core/base/mloop.h"
#include "core/base/timer.h"
#include "core/worker/hostset-t.h"
#include "core/worker/lb.h"
#include "shm/stats.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One endpoint's name. */
struct target {
	struct dns_cluster *d;
	uint32_t ep;
	const char *name;
	struct hs_addr *addrs; /* the last good answer */
	uint32_t n;
	uint32_t failures; /* in a row, for the backoff */
	bool answered;	   /* once, good or bad */
	int64_t timer;
};

struct dns_cluster {
	struct master *m;
	struct hs_cluster *hc;
	const struct tp_cluster_cfg *cfg;
	ares_channel ch;
	bool channel;
	int64_t timeout; /* c-ares's next timeout */
	struct target *t;
	uint32_t n_t;
	uint32_t n_answered;
};

static void arm_timeout(struct dns_cluster *d);

static void on_fd(struct tp_mloop *l, int fd, unsigned revents, void *arg)
{
	struct dns_cluster *d = arg;

	ares_process_fd(d->ch, revents & (POLLIN | POLLHUP | POLLERR) ? fd : ARES_SOCKET_BAD,
			revents & POLLOUT ? fd : ARES_SOCKET_BAD);
	arm_timeout(d);
}

/* c-ares tells which of its sockets to watch and for what. */
static void sock_state(void *arg, ares_socket_t fd, int readable, int writable)
{
	struct dns_cluster *d = arg;

	if (readable || writable)
		tp_mloop_add(d->m->loop, fd, (readable ? POLLIN : 0) | (writable ? POLLOUT : 0),
			     on_fd, d);
	else
		tp_mloop_del(d->m->loop, fd);
}

static void on_timeout(struct tp_mloop *l, void *arg)
{
	struct dns_cluster *d = arg;

	d->timeout = 0;
	ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	arm_timeout(d);
}

static void arm_timeout(struct dns_cluster *d)
{
	struct timeval tv, *tvp;

	if (d->timeout)
		tp_mloop_cancel(d->m->loop, d->timeout);
	d->timeout = 0;
	tvp = ares_timeout(d->ch, NULL, &tv);
	if (tvp)
		d->timeout = tp_mloop_at(d->m->loop,
					 tp_now_ms() + (uint64_t)tvp->tv_sec * 1000 +
						 (uint64_t)tvp->tv_usec / 1000 + 1,
					 on_timeout, d);
}

static void resolve(struct target *t);

static void on_refresh(struct tp_mloop *l, void *arg)
{
	struct target *t = arg;

	t->timer = 0;
	resolve(t);
}

static uint64_t rand_below(uint64_t n)
{
	return n ? tp_rand() % n : 0;
}

/* The next resolution of t: after a success the refresh rate (or the TTL) plus up to
 * dns_jitter; after a failure Envoy's JitteredExponentialBackOffStrategy over
 * dns_failure_refresh_rate when given, else the refresh rate. */
static void schedule(struct target *t, bool ok, uint32_t ttl_s)
{
	const struct tp_dns_cfg *c = &t->d->cfg->dns;
	uint64_t next;

	if (ok) {
		next = c->respect_ttl && ttl_s ? (uint64_t)ttl_s * 1000 : (uint64_t)c->refresh_ms;
		next += rand_below((uint64_t)c->jitter_ms + 1);
	} else if (c->failure_given) {
		uint64_t cap = (uint64_t)c->failure_base_ms;

		for (uint32_t i = 1; i < t->failures && cap < (uint64_t)c->failure_max_ms; i++)
			cap *= 2;
		if (cap > (uint64_t)c->failure_max_ms)
			cap = (uint64_t)c->failure_max_ms;
		next = 1 + rand_below(cap);
	} else {
		next = (uint64_t)c->refresh_ms;
	}
	t->timer = tp_mloop_at(t->d->m->loop, tp_now_ms() + next, on_refresh, t);
}

/* The cluster's hosts: every target's addresses in endpoint order (LOGICAL_DNS: the first). */
static void publish(struct dns_cluster *d)
{
	uint32_t n = 0, k = 0;
	struct hs_addr *all;

	for (uint32_t i = 0; i < d->n_t; i++)
		n += d->t[i].n;
	if (d->cfg->type == TP_CLUSTER_LOGICAL_DNS && n > 1)
		n = 1;
	all = calloc(n ? n : 1, sizeof(*all));
	if (!all)
		return;
	for (uint32_t i = 0; i < d->n_t && k < n; i++)
		for (uint32_t j = 0; j < d->t[i].n && k < n; j++)
			all[k++] = d->t[i].addrs[j];
	hs_cluster_set(d->hc, all, n);
	free(all);
}

static bool seen(const struct hs_addr *a, uint32_t n, const struct sockaddr *sa)
{
	for (uint32_t i = 0; i < n; i++) {
		if (a[i].ss.ss_family != sa->sa_family)
			continue;
		if (sa->sa_family == AF_INET &&
		    !memcmp(&((const struct sockaddr_in *)&a[i].ss)->sin_addr,
			    &((const struct sockaddr_in *)sa)->sin_addr, 4))
			return true;
		if (sa->sa_family == AF_INET6 &&
		    !memcmp(&((const struct sockaddr_in6 *)&a[i].ss)->sin6_addr,
			    &((const struct sockaddr_in6 *)sa)->sin6_addr, 16))
			return true;
	}
	return false;
}

/* The answer's addresses of the family dns_lookup_family asks for, each once, in the order
 * the resolver gave them. */
static uint32_t pick_addrs(struct target *t, const struct ares_addrinfo *res, struct hs_addr *out,
			   uint32_t cap, uint32_t *ttl)
{
	int fam = t->d->cfg->dns.family;
	bool have4 = false;
	uint32_t n = 0;

	*ttl = 0;
	for (const struct ares_addrinfo_node *a = res ? res->nodes : NULL; a; a = a->ai_next)
		have4 |= a->ai_family == AF_INET;
	for (const struct ares_addrinfo_node *a = res ? res->nodes : NULL; a && n < cap;
	     a = a->ai_next) {
		bool want;

		if (a->ai_family == AF_INET)
			want = fam != TP_DNS_V6_ONLY;
		else if (a->ai_family == AF_INET6)
			want = fam == TP_DNS_V6_ONLY || fam == TP_DNS_ALL || !have4;
		else
			want = false;
		if (fam == TP_DNS_V4_ONLY && a->ai_family != AF_INET)
			want = false;
		if (!want || seen(out, n, a->ai_addr))
			continue;
		out[n].ep = t->ep;
		memcpy(&out[n].ss, a->ai_addr,
		       a->ai_family == AF_INET ? sizeof(struct sockaddr_in)
					       : sizeof(struct sockaddr_in6));
		if (a->ai_ttl > 0 && (!*ttl || (uint32_t)a->ai_ttl < *ttl))
			*ttl = (uint32_t)a->ai_ttl;
		n++;
	}
	return n;
}

/* dns.cares.*, as Envoy's DnsResolverImpl counts a query when its callback runs (a cancelled or
 * destroyed one included): resolve_total, pending_resolutions back down, and for an error
 * NXDOMAIN and NODATA as not_found, a timeout as the tries that timed out, anything else
 * (ARES_EDESTRUCTION at a generation's end too) as get_addr_failure. */
static void cares_count(struct master *m, int status, int timeouts)
{
	uint32_t b = m->cares_base;

	if (!m->cares_registered)
		return;
	tp_stat_dec(m->blk, b + TP_DNS_CARES_pending_resolutions);
	tp_stat_inc(m->blk, b + TP_DNS_CARES_resolve_total);
	if (status == ARES_SUCCESS)
		return;
	if (status == ARES_ENOTFOUND || status == ARES_ENODATA)
		tp_stat_inc(m->blk, b + TP_DNS_CARES_not_found);
	else if (status == ARES_ETIMEOUT)
		tp_stat_add(m->blk, b + TP_DNS_CARES_timeouts,
			    timeouts > 0 ? (uint64_t)timeouts : 1);
	else
		tp_stat_inc(m->blk, b + TP_DNS_CARES_get_addr_failure);
}

static void on_answer(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct target *t = arg;
	struct dns_cluster *d;
	struct tp_stats_block *blk;
	uint32_t base, ttl = 0, n = 0;
	struct hs_addr *addrs = NULL;

	d = t->d;
	blk = d->m->blk;
	cares_count(d->m, status, timeouts);
	if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
		ares_freeaddrinfo(res);
		return;
	}
	base = d->cfg->stats_base;
	if (status == ARES_SUCCESS) {
		addrs = calloc(TP_HS_MAX_HOSTS_PER_NAME, sizeof(*addrs));
		if (addrs)
			n = pick_addrs(t, res, addrs, TP_HS_MAX_HOSTS_PER_NAME, &ttl);
	}
	ares_freeaddrinfo(res);
	if (n) {
		tp_stat_inc(blk, base + TP_CLUSTER_update_success);
		free(t->addrs);
		t->addrs = addrs;
		t->n = n;
		t->failures = 0;
		publish(d);
		schedule(t, true, ttl);
	} else {
		/* No address (NXDOMAIN, no record of the family) or no answer: the last good
		 * hosts stay (docs/envoy-compat.md). */
		free(addrs);
		if (status == ARES_SUCCESS || status == ARES_ENOTFOUND || status == ARES_ENODATA)
			tp_stat_inc(blk, base + TP_CLUSTER_update_empty);
		else
			tp_stat_inc(blk, base + TP_CLUSTER_update_failure);
		tp_warn("cluster %s: resolving %s: %s%s", d->cfg->name, t->name,
			status == ARES_SUCCESS ? "no address of the family asked for"
					       : ares_strerror(status),
			t->n ? " (keeping its last addresses)" : "");
		t->failures++;
		schedule(t, false, 0);
	}
	if (!t->answered) {
		t->answered = true;
		if (++d->n_answered == d->n_t)
			hs_cluster_initialized(d->hc);
	}
}

static void resolve(struct target *t)
{
	struct dns_cluster *d = t->d;
	struct ares_addrinfo_hints hints = {0};
	int fam = d->cfg->dns.family;

	hints.ai_family = fam == TP_DNS_V4_ONLY	  ? AF_INET
			  : fam == TP_DNS_V6_ONLY ? AF_INET6
						  : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	/* The resolver's order, as Envoy takes it (its first address is LOGICAL_DNS's host). */
	hints.ai_flags = ARES_AI_NOSORT;
	tp_stat_inc(d->m->blk, d->cfg->stats_base + TP_CLUSTER_update_attempt);
	if (d->m->cares_registered)
		tp_stat_inc(d->m->blk, d->m->cares_base + TP_DNS_CARES_pending_resolutions);
	ares_getaddrinfo(d->ch, t->name, NULL, &hints, on_answer, t);
	arm_timeout(d);
}

static int set_servers(struct dns_cluster *d, char *why, size_t whylen)
{
	const struct tp_dns_cfg *c = &d->cfg->dns;
	char csv[2048];
	size_t off = 0;
	int ret;

	if (!c->n_resolvers)
		return 0;
	csv[0] = 0;
	for (size_t i = 0; i < c->n_resolvers && off < sizeof(csv); i++)
		off += (size_t)snprintf(csv + off, sizeof(csv) - off, "%s%s", i ? "," : "",
					c->resolvers[i].text);
	ret = ares_set_servers_ports_csv(d->ch, csv);
	if (ret != ARES_SUCCESS) {
		snprintf(why, whylen, "cluster %s: DNS resolvers %s: %s", d->cfg->name, csv,
			 ares_strerror(ret));
		return -EINVAL;
	}
	return 0;
}

struct dns_cluster *dns_cluster_start(struct master *m, struct hs_cluster *hc,
				      const struct tp_cluster_cfg *cfg, char *why, size_t whylen)
{
	static bool lib;
	struct dns_cluster *d = calloc(1, sizeof(*d));
	struct ares_options o = {0};
	int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_FLAGS, ret;

	if (!lib && ares_library_init(ARES_LIB_INIT_ALL) == ARES_SUCCESS)
		lib = true;
	/* Outside any generation's hold (hs_gen_init() runs after it): kept for the master's
	 * life, so a reload's resolvers count on into the same dns.cares.* */
	if (!m->cares_registered &&
	    tp_stats_scope(m->stats, TP_SCOPE_DNS_CARES, "", &m->cares_base) == 0)
		m->cares_registered = true;
	if (!d || !(d->t = calloc(cfg->n_endpoints ? cfg->n_endpoints : 1, sizeof(*d->t)))) {
		snprintf(why, whylen, "cluster %s: out of memory", cfg->name);
		free(d);
		return NULL;
	}
	d->m = m;
	d->hc = hc;
	d->cfg = cfg;
	o.sock_state_cb = sock_state;
	o.sock_state_cb_data = d;
	o.flags = (cfg->dns.use_tcp ? ARES_FLAG_USEVC : 0) |
		  (cfg->dns.no_default_search_domain ? ARES_FLAG_NOSEARCH : 0);
	ret = ares_init_options(&d->ch, &o, mask);
	if (ret != ARES_SUCCESS) {
		snprintf(why, whylen, "cluster %s: DNS resolver: %s", cfg->name,
			 ares_strerror(ret));
		free(d->t);
		free(d);
		return NULL;
	}
	d->channel = true;
	if (set_servers(d, why, whylen) < 0) {
		dns_cluster_stop(d);
		return NULL;
	}
	for (size_t i = 0; i < cfg->n_endpoints; i++) {
		struct target *t = &d->t[d->n_t++];

		t->d = d;
		t->ep = (uint32_t)i;
		t->name = cfg->endpoints[i].addr.host;
	}
	/* An IP literal in a DNS cluster needs no resolver: it is its own answer. */
	for (uint32_t i = 0; i < d->n_t; i++) {
		struct target *t = &d->t[i];

		if (t->name) {
			resolve(t);
			continue;
		}
		t->addrs = calloc(1, sizeof(*t->addrs));
		if (t->addrs) {
			t->addrs[0].ep = t->ep;
			memcpy(&t->addrs[0].ss, &cfg->endpoints[i].addr.ss,
			       cfg->endpoints[i].addr.len);
			t->n = 1;
		}
		t->answered = true;
		d->n_answered++;
	}
	if (d->n_answered)
		publish(d);
	if (d->n_answered == d->n_t)
		hs_cluster_initialized(hc);
	return d;
}

void dns_cluster_stop(struct dns_cluster *d)
{
	if (!d)
		return;
	if (d->channel)
		ares_destroy(d->ch); /* answers with ARES_EDESTRUCTION, which touch nothing */
	if (d->timeout)
		tp_mloop_cancel(d->m->loop, d->timeout);
	for (uint32_t i = 0; i < d->n_t; i++) {
		if (d->t[i].timer)
			tp_mloop_cancel(d->m->loop, d->t[i].timer);
		free(d->t[i].addrs);
	}
	free(d->t);
	free(d);
}

/* Load balancers over a cluster's hosts: priority levels, localities, and the per-host policies
 * (round robin, random, least request). The hash policies are in lb_hash.c, subsets in
 * lb_subset.c. */
#include "core/worker/lb.h"

#include "core/worker/lb-int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/base/log.h"
#include "core/config/config.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

void tp_rand_seed(uint64_t seed)
{
	rng_state = seed ? seed : 0x9e3779b97f4a7c15ull;
}

uint64_t tp_rand(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

uint64_t tp_lb_hash(const void *p, size_t len)
{
	return XXH64(p, len, 0);
}

static bool is_hash_policy(enum tp_lb_policy p)
{
	return p == TP_LB_RING_HASH || p == TP_LB_MAGLEV;
}

/* ---- EDF scheduler ---- */

static bool edf_less(const struct tp_edf_entry *a, const struct tp_edf_entry *b)
{
	return a->deadline < b->deadline || (a->deadline == b->deadline && a->order < b->order);
}

static void edf_sift_down(struct tp_edf *e, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		struct tp_edf_entry t;

		if (l < e->n && edf_less(&e->heap[l], &e->heap[m]))
			m = l;
		if (r < e->n && edf_less(&e->heap[r], &e->heap[m]))
			m = r;
		if (m == i)
			return;
		t = e->heap[i];
		e->heap[i] = e->heap[m];
		e->heap[m] = t;
		i = m;
	}
}

/* Every item is added at time 0, in order, so the first of equal weights goes first. */
static int edf_init(struct tp_edf *e, const uint32_t *weight, uint32_t n)
{
	memset(e, 0, sizeof(*e));
	if (!n)
		return 0;
	e->heap = calloc(n, sizeof(*e->heap));
	if (!e->heap)
		return -ENOMEM;
	e->weight = weight;
	e->n = n;
	for (uint32_t i = 0; i < n; i++) {
		e->heap[i].deadline = 1.0 / weight[i];
		e->heap[i].order = e->order++;
		e->heap[i].item = i;
	}
	for (uint32_t i = n / 2; i-- > 0;)
		edf_sift_down(e, i);
	return 0;
}

/* The item due first; it comes due again 1/weight later (Envoy's pickAndAdd). */
static uint32_t edf_pick(struct tp_edf *e)
{
	struct tp_edf_entry *top = &e->heap[0];
	uint32_t item = top->item;

	e->now = top->deadline;
	top->deadline = e->now + 1.0 / e->weight[item];
	top->order = e->order++;
	edf_sift_down(e, 0);
	return item;
}

static void edf_free(struct tp_edf *e)
{
	free(e->heap);
	memset(e, 0, sizeof(*e));
}

/* ---- one balancer over some hosts ---- */

static void lb_free(struct tp_lb *lb)
{
	free(lb->hosts);
	free(lb->weights);
	free(lb->cum);
	free(lb->ring);
	free(lb->ring_host);
	free(lb->table);
	edf_free(&lb->edf);
	memset(lb, 0, sizeof(*lb));
}

/* The per-host policies' state over hosts; seed moves round robin's start. */
static int lb_build(struct tp_cluster_rt *c, struct tp_lb *lb, const uint32_t *hosts, uint32_t n,
		    uint64_t seed)
{
	enum tp_lb_policy policy = c->cfg->lb_policy;

	memset(lb, 0, sizeof(*lb));
	lb->n = n;
	lb->equal_weights = true;
	if (!n)
		return 0;
	lb->hosts = malloc(n * sizeof(*lb->hosts));
	lb->weights = malloc(n * sizeof(*lb->weights));
	if (!lb->hosts || !lb->weights)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t w = c->hosts[hosts[i]]->cfg->weight;

		lb->hosts[i] = hosts[i];
		lb->weights[i] = w ? w : 1;
		lb->total_weight += lb->weights[i];
		if (lb->weights[i] != lb->weights[0])
			lb->equal_weights = false;
	}
	lb->rr_next = (uint32_t)(seed % n);
	if (lb->equal_weights || is_hash_policy(policy))
		return 0;
	if (policy == TP_LB_ROUND_ROBIN) {
		if (edf_init(&lb->edf, lb->weights, n) < 0)
			return -ENOMEM;
		/* As Envoy does, each worker starts somewhere else in the schedule. */
		for (uint64_t k = seed % n; k > 0; k--)
			edf_pick(&lb->edf);
		return 0;
	}
	lb->cum = malloc(n * sizeof(*lb->cum));
	if (!lb->cum)
		return -ENOMEM;
	for (uint64_t i = 0, sum = 0; i < n; i++) {
		sum += lb->weights[i];
		lb->cum[i] = sum;
	}
	return 0;
}

/* An index into lb->hosts picked with probability weight/total: O(log n). */
static uint32_t weighted_random(const struct tp_lb *lb)
{
	uint64_t r;
	uint32_t lo = 0, hi;

	if (lb->equal_weights)
		return (uint32_t)(tp_rand() % lb->n);
	r = tp_rand() % lb->total_weight;
	hi = lb->n - 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (lb->cum[mid] > r)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Envoy's LEAST_REQUEST: the best of choice_count random choices (P2C by default), which avoids
 * the herd that "always the least loaded" causes across independent workers. Unequal weights:
 * weighted choices, and active/weight decides. Ties keep the earlier choice, as in Envoy. */
static uint32_t least_request(const struct tp_cluster_rt *c, const struct tp_lb *lb)
{
	uint32_t k = c->cfg->choice_count >= 2 ? c->cfg->choice_count : 2;
	uint32_t best = weighted_random(lb);

	while (--k > 0) {
		uint32_t cand = weighted_random(lb);
		uint64_t ca = c->hosts[lb->hosts[cand]]->active,
			 ba = c->hosts[lb->hosts[best]]->active;

		if (ca * lb->weights[best] < ba * lb->weights[cand])
			best = cand;
	}
	return best;
}

/* A cluster host index from lb (which has hosts). */
static uint32_t lb_pick(struct tp_cluster_rt *c, struct tp_lb *lb)
{
	uint32_t i;

	switch (c->cfg->lb_policy) {
	case TP_LB_RANDOM:
		i = weighted_random(lb);
		break;
	case TP_LB_LEAST_REQUEST:
		i = least_request(c, lb);
		break;
	case TP_LB_ROUND_ROBIN:
	default:
		if (!lb->equal_weights) {
			i = edf_pick(&lb->edf);
			break;
		}
		i = lb->rr_next;
		lb->rr_next = i + 1 < lb->n ? i + 1 : 0;
		break;
	}
	return lb->hosts[i];
}

/* ---- priority levels and localities ---- */

static void level_free(struct tp_lb_level *lv)
{
	lb_free(&lv->all);
	for (uint32_t i = 0; i < lv->n_loc; i++)
		lb_free(&lv->loc[i]);
	free(lv->loc);
	free(lv->loc_weight);
	edf_free(&lv->loc_edf);
	memset(lv, 0, sizeof(*lv));
}

/* How many of the cluster's hosts are in locality l. */
static uint32_t cluster_hosts_in(const struct tp_cluster_cfg *cfg, uint32_t l)
{
	uint32_t n = 0;

	for (size_t i = 0; i < cfg->n_endpoints; i++)
		n += cfg->endpoints[i].locality == l;
	return n;
}

/* A locality's weight in a set that has k of its hosts: as configured, or scaled as Envoy's
 * subsets scale it (scale_locality_weight: weight × k in 64 bits, then rounded in float, as
 * Envoy computes it). Float can round a weight near 2^32 up past what a uint32 holds (undefined
 * in C, and in Envoy): that one is kept at the most a weight can be. */
static uint32_t locality_weight(const struct tp_cluster_cfg *cfg, uint32_t l, uint32_t k,
				enum tp_lb_loc_mode mode)
{
	uint32_t w = cfg->localities[l].weight, orig;
	float scaled;

	if (mode != TP_LB_LOC_SCALED)
		return w;
	orig = cluster_hosts_in(cfg, l);
	if (!orig)
		return 0;
	scaled = roundf((float)((uint64_t)w * k) / (float)orig);
	return scaled >= 4294967296.0f ? UINT32_MAX : (uint32_t)scaled;
}

/* Envoy's normalizeWeights for a level: each host's share of 1, through its locality's share
 * when localities are weighted (localities of weight 0 left out), in the order Envoy walks the
 * hosts. Returns how many were written into hw; *min_w and *max_w their extremes. */
static uint32_t normalize(const struct tp_cluster_rt *c, const uint32_t *hosts, uint32_t n,
			  uint32_t priority, enum tp_lb_loc_mode mode, struct tp_lb_weighted *hw,
			  double *min_w, double *max_w)
{
	const struct tp_cluster_cfg *cfg = c->cfg;
	uint32_t k = 0;
	uint64_t sum = 0;

	*min_w = 1.0;
	*max_w = 0.0;
	if (mode == TP_LB_LOC_NONE || !cfg->n_localities) {
		for (uint32_t i = 0; i < n; i++)
			sum += c->hosts[hosts[i]]->cfg->weight;
		for (uint32_t i = 0; i < n; i++) {
			hw[k].host = hosts[i];
			hw[k].w = (double)c->hosts[hosts[i]]->cfg->weight * 1.0 / (double)sum;
			*min_w = fmin(*min_w, hw[k].w);
			*max_w = fmax(*max_w, hw[k].w);
			k++;
		}
		return k;
	}
	/* The level's localities are those of its priority with hosts in the cluster (subsets
	 * keep the cluster's list, some of them empty). */
	for (uint32_t l = 0; l < cfg->n_localities; l++) {
		uint32_t in = 0;

		if (cfg->localities[l].priority != priority || !cluster_hosts_in(cfg, l))
			continue;
		for (uint32_t i = 0; i < n; i++)
			in += c->hosts[hosts[i]]->cfg->locality == l;
		sum += locality_weight(cfg, l, in, mode);
	}
	if (!sum)
		return 0;
	for (uint32_t l = 0; l < cfg->n_localities; l++) {
		uint32_t in = 0, w;
		uint64_t hsum = 0;
		double nl;

		if (cfg->localities[l].priority != priority)
			continue;
		for (uint32_t i = 0; i < n; i++) {
			if (c->hosts[hosts[i]]->cfg->locality != l)
				continue;
			in++;
			hsum += c->hosts[hosts[i]]->cfg->weight;
		}
		w = locality_weight(cfg, l, in, mode);
		if (!w || !in)
			continue;
		nl = (double)w / (double)sum;
		for (uint32_t i = 0; i < n; i++) {
			if (c->hosts[hosts[i]]->cfg->locality != l)
				continue;
			hw[k].host = hosts[i];
			hw[k].w = (double)c->hosts[hosts[i]]->cfg->weight * nl / (double)hsum;
			*min_w = fmin(*min_w, hw[k].w);
			*max_w = fmax(*max_w, hw[k].w);
			k++;
		}
	}
	return k;
}

static int level_build_hash(struct tp_cluster_rt *c, struct tp_lb_level *lv, const uint32_t *hosts,
			    uint32_t n, uint32_t priority, enum tp_lb_loc_mode mode)
{
	struct tp_lb_weighted *hw = calloc(n ? n : 1, sizeof(*hw));
	double min_w, max_w;
	uint32_t k;
	int ret;

	if (!hw)
		return -ENOMEM;
	k = normalize(c, hosts, n, priority, mode, hw, &min_w, &max_w);
	if (c->cfg->lb_policy == TP_LB_RING_HASH)
		ret = tp_lb_ring_build(&lv->all, c, hw, k, min_w);
	else
		ret = tp_lb_maglev_build(&lv->all, c, hw, k, max_w);
	free(hw);
	return ret;
}

/* Per locality with hosts here and a weight, a balancer; an EDF picks among them. With none,
 * the level picks over all its hosts, as Envoy does when no locality can be chosen. */
static int level_build_localities(struct tp_cluster_rt *c, struct tp_lb_level *lv,
				  const uint32_t *hosts, uint32_t n, uint32_t priority,
				  enum tp_lb_loc_mode mode, uint64_t seed)
{
	const struct tp_cluster_cfg *cfg = c->cfg;
	uint32_t *in = calloc(n ? n : 1, sizeof(*in));
	int ret = -ENOMEM;

	lv->loc = calloc(cfg->n_localities, sizeof(*lv->loc));
	lv->loc_weight = calloc(cfg->n_localities, sizeof(*lv->loc_weight));
	if (!in || !lv->loc || !lv->loc_weight)
		goto out;
	for (uint32_t l = 0; l < cfg->n_localities; l++) {
		uint32_t k = 0, w;

		if (cfg->localities[l].priority != priority)
			continue;
		for (uint32_t i = 0; i < n; i++)
			if (c->hosts[hosts[i]]->cfg->locality == l)
				in[k++] = hosts[i];
		w = locality_weight(cfg, l, k, mode);
		if (!k || !w)
			continue;
		if (lb_build(c, &lv->loc[lv->n_loc], in, k, seed) < 0)
			goto out;
		lv->loc_weight[lv->n_loc++] = w;
	}
	ret = edf_init(&lv->loc_edf, lv->loc_weight, lv->n_loc);
out:
	free(in);
	return ret;
}

static int level_build(struct tp_cluster_rt *c, struct tp_lb_level *lv, const uint32_t *hosts,
		       uint32_t n, uint32_t priority, enum tp_lb_loc_mode mode, uint64_t seed)
{
	if (is_hash_policy(c->cfg->lb_policy)) {
		lv->all.n = n;
		return level_build_hash(c, lv, hosts, n, priority, mode);
	}
	if (lb_build(c, &lv->all, hosts, n, seed) < 0)
		return -ENOMEM;
	if (mode == TP_LB_LOC_NONE || !c->cfg->n_localities || !n)
		return 0;
	return level_build_localities(c, lv, hosts, n, priority, mode, seed);
}

int tp_lb_set_build(struct tp_cluster_rt *c, struct tp_lb_set *s, const uint32_t *hosts, uint32_t n,
		    enum tp_lb_loc_mode mode, uint64_t seed)
{
	const struct tp_cluster_cfg *cfg = c->cfg;
	uint32_t levels = cfg->n_priorities ? cfg->n_priorities : 1;
	uint32_t *in = calloc(n ? n : 1, sizeof(*in));
	int ret = -ENOMEM;

	memset(s, 0, sizeof(*s));
	s->levels = calloc(levels, sizeof(*s->levels));
	if (!in || !s->levels)
		goto out;
	s->n_levels = levels;
	s->n_hosts = n;
	s->first = levels;
	for (uint32_t p = 0; p < levels; p++) {
		uint32_t k = 0;

		for (uint32_t i = 0; i < n; i++)
			if (c->hosts[hosts[i]]->cfg->priority == p)
				in[k++] = hosts[i];
		if (level_build(c, &s->levels[p], in, k, p, mode, seed) < 0)
			goto out;
		if (k && s->first == levels)
			s->first = p;
	}
	ret = 0;
out:
	free(in);
	return ret;
}

void tp_lb_set_free(struct tp_lb_set *s)
{
	for (uint32_t i = 0; i < s->n_levels; i++)
		level_free(&s->levels[i]);
	free(s->levels);
	memset(s, 0, sizeof(*s));
}

struct tp_host_rt *tp_lb_set_pick(struct tp_cluster_rt *c, struct tp_lb_set *s,
				  const struct tp_lb_ctx *ctx)
{
	struct tp_lb_level *lv;
	uint32_t h;

	if (s->first >= s->n_levels)
		return NULL;
	lv = &s->levels[s->first];
	if (is_hash_policy(c->cfg->lb_policy)) {
		/* Without a hash, a random one: Envoy's thread-aware balancers do the same. */
		uint64_t hash = ctx && ctx->has_hash ? ctx->hash : tp_rand();

		h = c->cfg->lb_policy == TP_LB_RING_HASH ? tp_lb_ring_pick(&lv->all, hash)
							 : tp_lb_maglev_pick(&lv->all, hash);
		return h == UINT32_MAX ? NULL : c->hosts[h];
	}
	if (lv->n_loc)
		return c->hosts[lb_pick(c, &lv->loc[edf_pick(&lv->loc_edf)])];
	return c->hosts[lb_pick(c, &lv->all)];
}

/* ---- the cluster ---- */

static enum tp_lb_loc_mode cluster_loc_mode(const struct tp_cluster_cfg *cfg)
{
	return cfg->locality_weighted ? TP_LB_LOC_WEIGHTS : TP_LB_LOC_NONE;
}

/* Builds the balancers over the hosts in rotation: the healthy ones, or every host when fewer
 * than the panic threshold are healthy (Envoy's panic mode, over the cluster as a whole). */
static int build_balancers(struct tp_cluster_rt *c, uint64_t seed)
{
	uint32_t *rot = calloc(c->n_hosts ? c->n_hosts : 1, sizeof(*rot));
	uint32_t n = 0;
	int ret = -ENOMEM;

	if (!rot)
		return -ENOMEM;
	c->n_healthy = 0;
	for (uint32_t i = 0; i < c->n_hosts; i++)
		c->n_healthy += !(c->hosts[i]->health & TP_HOST_F_ALL);
	/* Envoy: 100 * healthy / total < healthy_panic_threshold */
	c->panic = c->n_hosts && 100.0 * c->n_healthy / c->n_hosts < c->cfg->panic_threshold;
	for (uint32_t i = 0; i < c->n_hosts; i++)
		if (c->panic || !(c->hosts[i]->health & TP_HOST_F_ALL))
			rot[n++] = i;
	if (tp_lb_set_build(c, &c->all, rot, n, cluster_loc_mode(c->cfg), seed) < 0)
		goto out;
	if (c->cfg->subset.enabled && tp_lb_subsets_build(c, seed) < 0)
		goto out;
	ret = 0;
out:
	free(rot);
	return ret;
}

static void free_balancers(struct tp_cluster_rt *c)
{
	tp_lb_subsets_free(c);
	tp_lb_set_free(&c->all);
}

int tp_lb_init(struct tp_cluster_rt *c, const struct tp_cluster_cfg *cfg, uint64_t rng_seed)
{
	int ret = -ENOMEM;

	memset(c, 0, sizeof(*c));
	c->cfg = cfg;
	c->connect_timeout.tv_sec = cfg->connect_timeout_ms / 1000;
	c->connect_timeout.tv_nsec = (cfg->connect_timeout_ms % 1000) * 1000000;
	/* A DNS cluster, or one with health checks, starts empty: its hosts come from the master
	 * (tp_lb_apply_hosts). */
	c->dynamic = tp_cluster_hostset(cfg);
	c->n_hosts = c->dynamic ? 0 : (uint32_t)cfg->n_endpoints;
	c->hosts = calloc(c->n_hosts ? c->n_hosts : 1, sizeof(*c->hosts));
	c->static_hosts = calloc(c->n_hosts ? c->n_hosts : 1, sizeof(*c->static_hosts));
	if (!c->hosts || !c->static_hosts)
		goto out;
	for (uint32_t i = 0; i < c->n_hosts; i++) {
		c->static_hosts[i].cfg = &cfg->endpoints[i];
		c->static_hosts[i].idx = i;
		c->static_hosts[i].ep = i;
		c->hosts[i] = &c->static_hosts[i];
	}
	ret = build_balancers(c, rng_seed);
out:
	if (ret)
		tp_lb_destroy(c);
	return ret;
}

static void retire_unlink(struct tp_cluster_rt *c, struct tp_host_rt *h)
{
	if (h->retired_prev)
		h->retired_prev->retired_next = h->retired_next;
	else if (c->retired == h)
		c->retired = h->retired_next;
	if (h->retired_next)
		h->retired_next->retired_prev = h->retired_prev;
	h->retired_prev = h->retired_next = NULL;
}

void tp_lb_destroy(struct tp_cluster_rt *c)
{
	free_balancers(c);
	for (uint32_t i = 0; c->dynamic && c->hosts && i < c->n_hosts; i++)
		free(c->hosts[i]);
	/* Retired hosts outlive the cluster only through connections, which are all closed by
	 * now (the worker closes them before it tears its clusters down). */
	while (c->retired) {
		struct tp_host_rt *h = c->retired;

		retire_unlink(c, h);
		free(h);
	}
	free(c->hosts);
	free(c->static_hosts);
	c->hosts = NULL;
	c->static_hosts = NULL;
	c->n_hosts = 0;
}

void tp_host_hold(struct tp_host_rt *h)
{
	h->refs++;
}

void tp_host_release(struct tp_cluster_rt *c, struct tp_host_rt *h)
{
	if (!h->dynamic)
		return;
	TP_BUG_ON(!h->refs);
	if (--h->refs)
		return;
	retire_unlink(c, h);
	free(h);
}

/* The host with this id in the current set, by a binary search over ids sorted beside. */
static struct tp_host_rt *find_by_id(struct tp_host_rt **sorted, uint32_t n, uint64_t id)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (sorted[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && sorted[lo]->id == id ? sorted[lo] : NULL;
}

static int by_id(const void *a, const void *b)
{
	const struct tp_host_rt *x = *(struct tp_host_rt *const *)a,
				*y = *(struct tp_host_rt *const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

int tp_lb_apply_hosts(struct tp_cluster_rt *c, const struct tp_lb_host_update *u, uint32_t n,
		      uint64_t version, uint64_t rng_seed)
{
	const struct tp_cluster_cfg *cfg = c->cfg;
	struct tp_host_rt **old = c->hosts, **sorted = NULL, **next;
	uint32_t n_old = c->n_hosts;
	int ret = -ENOMEM;

	next = calloc(n ? n : 1, sizeof(*next));
	sorted = calloc(n_old ? n_old : 1, sizeof(*sorted));
	if (!next || !sorted)
		goto out_free;
	memcpy(sorted, old, n_old * sizeof(*sorted));
	qsort(sorted, n_old, sizeof(*sorted), by_id);
	for (uint32_t i = 0; i < n; i++) {
		struct tp_host_rt *h = find_by_id(sorted, n_old, u[i].id);

		if (u[i].ep >= cfg->n_endpoints)
			goto out_undo;
		if (!h) {
			h = calloc(1, sizeof(*h));
			if (!h)
				goto out_undo;
			h->dynamic = true;
			h->id = u[i].id;
			h->refs = 1;
			h->ep = u[i].ep;
			h->own = cfg->endpoints[u[i].ep];
			h->own.addr = u[i].addr;
			h->own.stats_base = u[i].stats_base;
			h->cfg = &h->own;
			h->idx = UINT32_MAX; /* new: undone on failure */
		}
		next[i] = h;
	}
	/* Every host is ready: the new set replaces the old one. */
	for (uint32_t i = 0; i < n; i++) {
		/* A kept host that active health checking has just failed (a new host starts
		 * failed: it has no connections to close). */
		next[i]->hc_failed_now = next[i]->idx != UINT32_MAX &&
					 !(next[i]->health & TP_HOST_F_FAILED_ACTIVE_HC) &&
					 (u[i].health & TP_HOST_F_FAILED_ACTIVE_HC);
		next[i]->health = u[i].health;
		next[i]->idx = i;
	}
	for (uint32_t i = 0; i < n_old; i++) {
		struct tp_host_rt *h = old[i];

		if (h->idx != UINT32_MAX && h->idx < n && next[h->idx] == h)
			continue; /* kept */
		h->idx = UINT32_MAX;
		if (h->refs > 1) {
			h->retired_prev = NULL;
			h->retired_next = c->retired;
			if (c->retired)
				c->retired->retired_prev = h;
			c->retired = h;
		}
		tp_host_release(c, h);
	}
	free_balancers(c);
	c->hosts = next;
	c->n_hosts = n;
	c->version = version;
	free(old);
	free(sorted);
	return build_balancers(c, rng_seed);

out_undo:
	for (uint32_t i = 0; i < n; i++)
		if (next[i] && next[i]->idx == UINT32_MAX && next[i]->refs == 1)
			free(next[i]);
out_free:
	free(next);
	free(sorted);
	return ret;
}

struct tp_host_rt *tp_lb_pick(struct tp_cluster_rt *c, struct tp_lb_ctx *ctx)
{
	if (ctx)
		ctx->outcome = TP_LB_SUBSET_NONE;
	if (c->cfg->subset.enabled)
		return tp_lb_subset_pick(c, ctx);
	return tp_lb_set_pick(c, &c->all, ctx);
}

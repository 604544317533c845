/* Subset load balancing (Envoy's SubsetLoadBalancer): each selector's key set, with each
 * combination of values the hosts' envoy.lb metadata has for it, is a subset, made when the
 * worker starts and found per connection by the criteria's bytes in a hash table. A pick follows
 * Envoy's chooseHostIteration: the subset the criteria name exactly; else the fallback of the
 * selector with exactly the criteria's keys; else the cluster's fallback_policy, then
 * panic_mode_any. */
#include "core/worker/lb-int.h"
#include "core/worker/lb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/config/metadata.h"

/* Criteria longer than this match no subset (docs/envoy-compat.md). */
#define MAX_KEY_BYTES 4096
/* A list value fans a host out into one subset per item (list_as_any); past this many
 * combinations for one host and selector, the rest are left out. */
#define MAX_FANOUT 256

size_t tp_lb_criteria_key(const struct tp_lb_criterion *cr, uint32_t n, uint8_t *buf, size_t cap)
{
	size_t len = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t kl = (uint32_t)strlen(cr[i].key);

		if (len + 4 + kl + cr[i].val_len <= cap) {
			memcpy(buf + len, &kl, 4);
			memcpy(buf + len + 4, cr[i].key, kl);
			memcpy(buf + len + 4 + kl, cr[i].val, cr[i].val_len);
		}
		len += 4 + kl + cr[i].val_len;
	}
	return len;
}

static struct tp_subset *find(const struct tp_cluster_rt *c, const uint8_t *key, size_t len,
			      uint64_t hash)
{
	uint32_t mask = c->subsets_cap - 1;

	if (!c->subsets_cap)
		return NULL;
	for (uint32_t i = (uint32_t)hash & mask;; i = (i + 1) & mask) {
		struct tp_subset *s = &c->subsets[i];

		if (!s->key)
			return NULL;
		if (s->hash == hash && s->key_len == len && !memcmp(s->key, key, len))
			return s;
	}
}

static int grow(struct tp_cluster_rt *c)
{
	uint32_t cap = c->subsets_cap ? c->subsets_cap * 2 : 16;
	struct tp_subset *t = calloc(cap, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->subsets_cap; i++) {
		struct tp_subset *s = &c->subsets[i];
		uint32_t j;

		if (!s->key)
			continue;
		for (j = (uint32_t)s->hash & (cap - 1); t[j].key; j = (j + 1) & (cap - 1))
			;
		t[j] = *s;
	}
	free(c->subsets);
	c->subsets = t;
	c->subsets_cap = cap;
	return 0;
}

/* The subset for key, made if it is new. NULL on ENOMEM. */
static struct tp_subset *find_or_add(struct tp_cluster_rt *c, const uint8_t *key, size_t len)
{
	uint64_t hash = tp_lb_hash(key, len);
	struct tp_subset *s = find(c, key, len, hash);
	uint32_t j;

	if (s)
		return s;
	if ((c->n_subsets + 1) * 2 > c->subsets_cap && grow(c) < 0)
		return NULL;
	for (j = (uint32_t)hash & (c->subsets_cap - 1); c->subsets[j].key;
	     j = (j + 1) & (c->subsets_cap - 1))
		;
	s = &c->subsets[j];
	s->key = malloc(len ? len : 1);
	if (!s->key)
		return NULL;
	memcpy(s->key, key, len);
	s->key_len = (uint32_t)len;
	s->hash = hash;
	c->n_subsets++;
	return s;
}

static int push_host(struct tp_subset *s, uint32_t host)
{
	/* A host reached twice (two selectors with the same keys) counts once. */
	if (s->tmp_n && s->tmp_hosts[s->tmp_n - 1] == host)
		return 0;
	if (s->single_host && s->tmp_n)
		return 0;
	if (s->tmp_n == s->tmp_cap) {
		uint32_t cap = s->tmp_cap ? s->tmp_cap * 2 : 4;
		uint32_t *v = realloc(s->tmp_hosts, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->tmp_hosts = v;
		s->tmp_cap = cap;
	}
	s->tmp_hosts[s->tmp_n++] = host;
	return 0;
}

/* The host's value combinations for sel's keys (Envoy's extractSubsetMetadata): none when a key
 * is missing; with list_as_any, one per item of each list value. Adds the host to each. */
static int add_host(struct tp_cluster_rt *c, const struct tp_subset_selector_cfg *sel,
		    uint32_t host)
{
	const struct tp_mstruct *md = &c->hosts[host]->cfg->lb_metadata;
	struct tp_lb_criterion cr[TP_LB_MAX_CRITERIA];
	/* Per key: its values (one, or a list's items), and which one this combination takes. */
	struct tp_mvalue items[TP_LB_MAX_CRITERIA][16];
	uint32_t n_items[TP_LB_MAX_CRITERIA], pick[TP_LB_MAX_CRITERIA];
	uint8_t key[MAX_KEY_BYTES];
	uint32_t nk = (uint32_t)sel->keys.n;

	if (nk > TP_LB_MAX_CRITERIA)
		return 0;
	for (uint32_t k = 0; k < nk; k++) {
		const struct tp_mfield *f = tp_mstruct_get(md, sel->keys.v[k]);

		if (!f)
			return 0;
		cr[k].key = sel->keys.v[k];
		pick[k] = 0;
		if (!c->cfg->subset.list_as_any || f->value.b[0] != TP_MV_LIST) {
			items[k][0] = f->value;
			n_items[k] = 1;
			continue;
		}
		n_items[k] = tp_mvalue_list(&f->value, items[k], 16);
		if (n_items[k] > 16)
			n_items[k] = 16;
		/* An empty list: no combination (Envoy makes none either). */
		if (!n_items[k])
			return 0;
	}
	for (uint32_t combos = 0; combos < MAX_FANOUT; combos++) {
		struct tp_subset *s;
		size_t len;
		uint32_t k;

		for (k = 0; k < nk; k++) {
			cr[k].val = items[k][pick[k]].b;
			cr[k].val_len = items[k][pick[k]].len;
		}
		len = tp_lb_criteria_key(cr, nk, key, sizeof(key));
		if (len <= sizeof(key)) {
			s = find_or_add(c, key, len);
			if (!s)
				return -ENOMEM;
			if (!s->tmp_n && !s->set.levels)
				s->single_host = sel->single_host_per_subset;
			if (push_host(s, host) < 0)
				return -ENOMEM;
		}
		/* The next combination, the last key turning fastest (Envoy's order). */
		for (k = nk; k-- > 0;) {
			if (++pick[k] < n_items[k])
				break;
			pick[k] = 0;
		}
		if (k == UINT32_MAX)
			break;
	}
	return 0;
}

/* Envoy's metadataLabelMatch: every default_subset key is in the host's envoy.lb metadata with
 * an equal value (or, with list_as_any, in a list value). */
static bool host_matches(const struct tp_cluster_rt *c, uint32_t host,
			 const struct tp_mstruct *want)
{
	const struct tp_mstruct *md = &c->hosts[host]->cfg->lb_metadata;

	for (uint32_t i = 0; i < want->n; i++) {
		const struct tp_mfield *f = tp_mstruct_get(md, want->f[i].key);
		struct tp_mvalue items[64];
		uint32_t n;
		bool any = false;

		if (!f)
			return false;
		if (f->value.len == want->f[i].value.len &&
		    !memcmp(f->value.b, want->f[i].value.b, f->value.len))
			continue;
		if (!c->cfg->subset.list_as_any)
			return false;
		n = tp_mvalue_list(&f->value, items, 64);
		for (uint32_t k = 0; k < n && k < 64 && !any; k++)
			any = items[k].len == want->f[i].value.len &&
			      !memcmp(items[k].b, want->f[i].value.b, items[k].len);
		if (!any)
			return false;
	}
	return true;
}

static bool uses_default_subset(const struct tp_subset_cfg *sc)
{
	if (sc->fallback_policy == TP_SUBSET_DEFAULT_SUBSET)
		return true;
	for (size_t i = 0; i < sc->n_selectors; i++)
		if (sc->selectors[i].fallback_policy == TP_SELECTOR_DEFAULT_SUBSET)
			return true;
	return false;
}

static enum tp_lb_loc_mode subset_loc_mode(const struct tp_cluster_cfg *cfg)
{
	if (!cfg->locality_weighted || !cfg->subset.locality_weight_aware)
		return TP_LB_LOC_NONE;
	return cfg->subset.scale_locality_weight ? TP_LB_LOC_SCALED : TP_LB_LOC_WEIGHTS;
}

int tp_lb_subsets_build(struct tp_cluster_rt *c, uint64_t seed)
{
	const struct tp_subset_cfg *sc = &c->cfg->subset;
	enum tp_lb_loc_mode mode = subset_loc_mode(c->cfg);
	uint32_t *hosts = NULL, n = 0;

	/* Hosts in the outer loop, as Envoy's processSubsets: a subset lists its hosts in
	 * configuration order, and a single-host subset keeps the first. */
	for (uint32_t h = 0; h < c->n_hosts; h++)
		for (size_t i = 0; i < sc->n_selectors; i++)
			if (add_host(c, &sc->selectors[i], h) < 0)
				return -ENOMEM;
	for (uint32_t i = 0; i < c->subsets_cap; i++) {
		struct tp_subset *s = &c->subsets[i];
		int ret;

		if (!s->key)
			continue;
		ret = tp_lb_set_build(c, &s->set, s->tmp_hosts, s->tmp_n, mode, seed);
		free(s->tmp_hosts);
		s->tmp_hosts = NULL;
		if (ret < 0)
			return ret;
	}
	hosts = calloc(c->n_hosts ? c->n_hosts : 1, sizeof(*hosts));
	if (!hosts)
		return -ENOMEM;
	c->any = &c->all;
	if (mode != (c->cfg->locality_weighted ? TP_LB_LOC_WEIGHTS : TP_LB_LOC_NONE)) {
		for (uint32_t h = 0; h < c->n_hosts; h++)
			hosts[h] = h;
		c->any = calloc(1, sizeof(*c->any));
		if (!c->any || tp_lb_set_build(c, c->any, hosts, c->n_hosts, mode, seed) < 0) {
			free(hosts);
			return -ENOMEM;
		}
	}
	if (!uses_default_subset(sc)) {
		free(hosts);
		return 0;
	}
	c->dflt = calloc(1, sizeof(*c->dflt));
	if (!c->dflt) {
		free(hosts);
		return -ENOMEM;
	}
	for (uint32_t h = 0; h < c->n_hosts; h++)
		if (host_matches(c, h, &sc->default_subset))
			hosts[n++] = h;
	if (tp_lb_set_build(c, c->dflt, hosts, n, mode, seed) < 0) {
		free(hosts);
		return -ENOMEM;
	}
	free(hosts);
	return 0;
}

void tp_lb_subsets_free(struct tp_cluster_rt *c)
{
	for (uint32_t i = 0; i < c->subsets_cap; i++) {
		free(c->subsets[i].key);
		free(c->subsets[i].tmp_hosts);
		tp_lb_set_free(&c->subsets[i].set);
	}
	free(c->subsets);
	c->subsets = NULL;
	c->subsets_cap = c->n_subsets = 0;
	if (c->dflt)
		tp_lb_set_free(c->dflt);
	free(c->dflt);
	c->dflt = NULL;
	if (c->any && c->any != &c->all) {
		tp_lb_set_free(c->any);
		free(c->any);
	}
	c->any = NULL;
}

/* The criteria whose keys are in keys (MetadataMatchCriteria::filterMatchCriteria). */
static uint32_t filter_criteria(const struct tp_lb_criterion *cr, uint32_t n,
				const struct tp_strset *keys, struct tp_lb_criterion *out)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < n; i++)
		if (tp_strset_has(keys, cr[i].key))
			out[k++] = cr[i];
	return k;
}

/* The fallback Envoy's selector tree gives criteria keys: the tree has a node for every prefix
 * of every selector's (sorted) keys, and the selector that makes a node first gives it its
 * fallback_policy, if the node is its last key. So the first selector whose keys start with
 * these decides: its policy if its keys are exactly these, NOT_DEFINED otherwise. */
static const struct tp_subset_selector_cfg *
selector_for(const struct tp_cluster_rt *c, const struct tp_lb_criterion *cr, uint32_t n)
{
	const struct tp_subset_cfg *sc = &c->cfg->subset;

	for (size_t i = 0; i < sc->n_selectors; i++) {
		const struct tp_subset_selector_cfg *sel = &sc->selectors[i];
		uint32_t k;

		if (sel->keys.n < n)
			continue;
		for (k = 0; k < n && !strcmp(sel->keys.v[k], cr[k].key); k++)
			;
		if (k < n)
			continue;
		return sel->keys.n == n ? sel : NULL;
	}
	return NULL;
}

static struct tp_host_rt *pick_iteration(struct tp_cluster_rt *c, struct tp_lb_ctx *ctx,
					 const struct tp_lb_criterion *cr, uint32_t n)
{
	const struct tp_subset_cfg *sc = &c->cfg->subset;
	struct tp_lb_criterion sub[TP_LB_MAX_CRITERIA];
	struct tp_host_rt *h;

	if (n > TP_LB_MAX_CRITERIA)
		n = 0;
	/* allow_redundant_keys: the first selector whose keys the criteria all have narrows them
	 * to those keys. */
	for (size_t i = 0; n && sc->allow_redundant_keys && i < sc->n_selectors; i++) {
		uint32_t k = filter_criteria(cr, n, &sc->selectors[i].keys, sub);

		if (k == sc->selectors[i].keys.n) {
			cr = sub;
			n = k;
			break;
		}
	}
	if (n) {
		const struct tp_subset_selector_cfg *sel;
		uint8_t key[MAX_KEY_BYTES];
		size_t len = tp_lb_criteria_key(cr, n, key, sizeof(key));
		struct tp_subset *s =
			len <= sizeof(key) ? find(c, key, len, tp_lb_hash(key, len)) : NULL;

		if (s && s->set.n_hosts) {
			if (ctx)
				ctx->outcome = TP_LB_SUBSET_SELECTED;
			return tp_lb_set_pick(c, &s->set, ctx);
		}
		sel = selector_for(c, cr, n);
		switch (sel ? sel->fallback_policy : TP_SELECTOR_NOT_DEFINED) {
		case TP_SELECTOR_NO_FALLBACK:
			return NULL;
		case TP_SELECTOR_ANY_ENDPOINT:
			return tp_lb_set_pick(c, c->any, ctx);
		case TP_SELECTOR_DEFAULT_SUBSET:
			return c->dflt ? tp_lb_set_pick(c, c->dflt, ctx) : NULL;
		case TP_SELECTOR_KEYS_SUBSET: {
			struct tp_lb_criterion fewer[TP_LB_MAX_CRITERIA];
			uint32_t k = filter_criteria(cr, n, &sel->fallback_keys, fewer);

			return pick_iteration(c, ctx, fewer, k);
		}
		default:
			break;
		}
	}
	if (sc->fallback_policy == TP_SUBSET_NO_FALLBACK)
		return NULL;
	if (sc->fallback_policy == TP_SUBSET_ANY_ENDPOINT)
		h = tp_lb_set_pick(c, c->any, ctx);
	else
		h = c->dflt ? tp_lb_set_pick(c, c->dflt, ctx) : NULL;
	if (h) {
		if (ctx)
			ctx->outcome = TP_LB_SUBSET_FALLBACK;
		return h;
	}
	if (sc->panic_mode_any) {
		h = tp_lb_set_pick(c, c->any, ctx);
		if (h && ctx)
			ctx->outcome = TP_LB_SUBSET_FALLBACK_PANIC;
	}
	return h;
}

struct tp_host_rt *tp_lb_subset_pick(struct tp_cluster_rt *c, struct tp_lb_ctx *ctx)
{
	return pick_iteration(c, ctx, ctx ? ctx->criteria : NULL, ctx ? ctx->n_criteria : 0);
}

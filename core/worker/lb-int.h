/* What the load balancer's three files share: lb.c (levels, localities, the non-hash policies,
 * the pick), lb_hash.c (Envoy's ring and Maglev table), lb_subset.c (subsets). Nothing outside
 * core/worker/lb*.c includes it. */
#ifndef TP_LB_INT_H
#define TP_LB_INT_H

#include "core/worker/lb-t.h"

#include <stdint.h>

/* How a priority set weighs its localities. */
enum tp_lb_loc_mode {
	TP_LB_LOC_NONE,	   /* one balancer per level */
	TP_LB_LOC_WEIGHTS, /* the localities' load_balancing_weight */
	TP_LB_LOC_SCALED,  /* ... scaled by the share of their hosts the set has (subsets) */
};

/* A host and its weight normalised over its level, for the hash policies. */
struct tp_lb_weighted {
	uint32_t host;
	double w;
};

/* Builds s over hosts (cluster host indexes, in configuration order). 0 or -ENOMEM; on
 * failure s holds what was built, for tp_lb_set_free. */
int tp_lb_set_build(struct tp_cluster_rt *c, struct tp_lb_set *s, const uint32_t *hosts, uint32_t n,
		    enum tp_lb_loc_mode mode, uint64_t seed);
void tp_lb_set_free(struct tp_lb_set *s);
/* A host of s for ctx (its hash, or a random one for the hash policies), or NULL. */
struct tp_host_rt *tp_lb_set_pick(struct tp_cluster_rt *c, struct tp_lb_set *s,
				  const struct tp_lb_ctx *ctx);

/* lb_hash.c: Envoy's ring (ring_hash_lb.cc) and Maglev table (maglev_lb.cc) over the
 * normalised weights, in the order Envoy walks them; and their picks (a cluster host index,
 * UINT32_MAX when empty). */
int tp_lb_ring_build(struct tp_lb *lb, const struct tp_cluster_rt *c,
		     const struct tp_lb_weighted *hw, uint32_t n, double min_w);
uint32_t tp_lb_ring_pick(const struct tp_lb *lb, uint64_t h);
int tp_lb_maglev_build(struct tp_lb *lb, const struct tp_cluster_rt *c,
		       const struct tp_lb_weighted *hw, uint32_t n, double max_w);
uint32_t tp_lb_maglev_pick(const struct tp_lb *lb, uint64_t h);

/* lb_subset.c */
int tp_lb_subsets_build(struct tp_cluster_rt *c, uint64_t seed);
void tp_lb_subsets_free(struct tp_cluster_rt *c);
struct tp_host_rt *tp_lb_subset_pick(struct tp_cluster_rt *c, struct tp_lb_ctx *ctx);

#endif

/* Load balancers, per worker as in Envoy (each worker balances its own connections; no state is
 * shared between workers): ROUND_ROBIN, RANDOM, LEAST_REQUEST, RING_HASH and MAGLEV over
 * priority levels and localities, and subset load balancing by endpoint metadata. */
#ifndef TP_LB_H
#define TP_LB_H

#include "core/worker/lb-t.h"

#include <stddef.h>

/* Builds the worker's view of a cluster from its configuration: host states, priority levels,
 * localities, rings and tables, subsets. rng_seed starts round robin at a different place in
 * each worker, as Envoy does. 0 or -ENOMEM. */
int tp_lb_init(struct tp_cluster_rt *c, const struct tp_cluster_cfg *cfg, uint64_t rng_seed);
void tp_lb_destroy(struct tp_cluster_rt *c);

/* The host for a new connection (or a retry), or NULL when there is none to pick (Envoy's UH):
 * no host at any priority, no subset matching and no fallback. ctx may be NULL (no criteria, no
 * hash); the pick sets ctx->outcome. */
struct tp_host_rt *tp_lb_pick(struct tp_cluster_rt *c, struct tp_lb_ctx *ctx);

/* The criteria's canonical bytes, the subsets' key (each: key length, key, value): how long
 * they are; written into buf when they fit in cap. */
size_t tp_lb_criteria_key(const struct tp_lb_criterion *cr, uint32_t n, uint8_t *buf, size_t cap);

/* xxHash64 of the bytes, with Envoy's seed 0 (HashUtil::xxHash64). */
uint64_t tp_lb_hash(const void *p, size_t len);

/* The worker's random source (xorshift64*): fast, and seedable for tests. */
void tp_rand_seed(uint64_t seed);
uint64_t tp_rand(void);

#endif

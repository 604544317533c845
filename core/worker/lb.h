/* Load balancers: ROUND_ROBIN, RANDOM, LEAST_REQUEST over a cluster's hosts, per worker as in
 * Envoy (each worker balances its own connections; no shared state between workers). */
#ifndef TP_LB_H
#define TP_LB_H

#include "core/worker/lb-t.h"

/* rng_seed starts round robin at a different host in each worker, as Envoy does. */
int tp_lb_init(struct tp_cluster_rt *c, const struct tp_cluster_cfg *cfg, uint64_t rng_seed);
void tp_lb_destroy(struct tp_cluster_rt *c);
/* The host for a new connection, or NULL when the cluster has none (Envoy's UH). */
struct tp_host_rt *tp_lb_pick(struct tp_cluster_rt *c);

/* The worker's random source (xorshift64*): fast, and seedable for tests. */
void tp_rand_seed(uint64_t seed);
uint64_t tp_rand(void);

#endif

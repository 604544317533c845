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

/* One host of a published host set (core/worker/hostset-t.h, checked by the caller but for ep). */
struct tp_lb_host_update {
	uint64_t id;	     /* the master's stable id: the same id is the same host */
	uint32_t ep;	     /* its configured endpoint (weight, priority, locality, metadata) */
	uint32_t health;     /* TP_HOST_F_* */
	uint32_t stats_base; /* its host.<cluster>::<address> scope's row */
	struct tp_sockaddr addr;
};

/* A dynamic cluster's new host set: hosts with a known id keep their entry (active counts,
 * connections), new ones get one, and the ones left out are retired (freed with their last
 * connection). The balancers are rebuilt over the new set. 0; -EINVAL (an endpoint index out of
 * range) or -ENOMEM with the old set kept. */
int tp_lb_apply_hosts(struct tp_cluster_rt *c, const struct tp_lb_host_update *u, uint32_t n,
		      uint64_t version, uint64_t rng_seed);

/* A connection takes a host (tp_host_hold) when it picks it and lets it go when it is freed: a
 * retired dynamic host is freed with its last reference. Static hosts are not counted. */
void tp_host_hold(struct tp_host_rt *h);
void tp_host_release(struct tp_cluster_rt *c, struct tp_host_rt *h);

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

/* Load balancers over a cluster's hosts. */
#include "core/worker/lb.h"

#include <errno.h>
#include <stdlib.h>

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

int tp_lb_init(struct tp_cluster_rt *c, const struct tp_cluster_cfg *cfg, uint64_t rng_seed)
{
	c->cfg = cfg;
	c->n_hosts = (uint32_t)cfg->n_endpoints;
	c->hosts = c->n_hosts ? calloc(c->n_hosts, sizeof(*c->hosts)) : NULL;
	if (c->n_hosts && !c->hosts)
		return -ENOMEM;
	c->equal_weights = true;
	c->total_weight = 0;
	for (uint32_t i = 0; i < c->n_hosts; i++) {
		c->hosts[i].cfg = &cfg->endpoints[i];
		c->total_weight += cfg->endpoints[i].weight;
		if (cfg->endpoints[i].weight != cfg->endpoints[0].weight)
			c->equal_weights = false;
	}
	c->rr_next = c->n_hosts ? (uint32_t)(rng_seed % c->n_hosts) : 0;
	c->connect_timeout.tv_sec = cfg->connect_timeout_ms / 1000;
	c->connect_timeout.tv_nsec = (cfg->connect_timeout_ms % 1000) * 1000000;
	return 0;
}

void tp_lb_destroy(struct tp_cluster_rt *c)
{
	free(c->hosts);
	c->hosts = NULL;
	c->n_hosts = 0;
}

/* nginx's smooth weighted round robin: spreads a heavy host's turns instead of bunching them. */
static struct tp_host_rt *pick_weighted_rr(struct tp_cluster_rt *c)
{
	struct tp_host_rt *best = &c->hosts[0]; /* the caller checked n_hosts > 0 */

	for (uint32_t i = 0; i < c->n_hosts; i++) {
		struct tp_host_rt *h = &c->hosts[i];

		h->current_weight += h->cfg->weight;
		if (h->current_weight > best->current_weight)
			best = h;
	}
	best->current_weight -= (int64_t)c->total_weight;
	return best;
}

static struct tp_host_rt *pick_random(struct tp_cluster_rt *c)
{
	uint64_t r;

	if (c->equal_weights)
		return &c->hosts[tp_rand() % c->n_hosts];
	r = tp_rand() % c->total_weight;
	for (uint32_t i = 0; i < c->n_hosts; i++) {
		if (r < c->hosts[i].cfg->weight)
			return &c->hosts[i];
		r -= c->hosts[i].cfg->weight;
	}
	return &c->hosts[c->n_hosts - 1];
}

/* Envoy's LEAST_REQUEST with equal weights: the better of two random choices (P2C), which
 * avoids the herd that "always the least loaded" causes across independent workers. Unequal
 * weights: active/weight decides between the two. */
static struct tp_host_rt *pick_least_request(struct tp_cluster_rt *c)
{
	struct tp_host_rt *a = pick_random(c), *b = pick_random(c);

	if ((uint64_t)a->active * b->cfg->weight <= (uint64_t)b->active * a->cfg->weight)
		return a;
	return b;
}

struct tp_host_rt *tp_lb_pick(struct tp_cluster_rt *c)
{
	if (!c->n_hosts)
		return NULL;
	switch (c->cfg->lb_policy) {
	case TP_LB_RANDOM:
		return pick_random(c);
	case TP_LB_LEAST_REQUEST:
		return pick_least_request(c);
	case TP_LB_ROUND_ROBIN:
	default:
		if (!c->equal_weights)
			return pick_weighted_rr(c);
		c->rr_next = c->rr_next + 1 < c->n_hosts ? c->rr_next + 1 : 0;
		return &c->hosts[c->rr_next ? c->rr_next - 1 : c->n_hosts - 1];
	}
}

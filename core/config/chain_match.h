/* Filter chain matching (Envoy's FilterChainManagerImpl): FilterChainMatch's schema rows, the
 * matcher compiled from a listener's chains, and the lookup a worker runs per connection. */
#ifndef TP_CHAIN_MATCH_H
#define TP_CHAIN_MATCH_H

#include "core/config/chain_match-t.h"
#include "core/config/config-t.h"

struct tp_cfg_ctx;
struct tp_cfg_schema;

/* envoy.config.listener.v3.FilterChainMatch, decoded into a struct tp_fcm_cfg. */
extern const struct tp_cfg_schema tp_filter_chain_match_schema;

/* Compiles l's filter chains (all but the default chain) into l->matcher, or leaves it NULL when
 * l has one chain that matches anything and no default: that chain takes every connection.
 * Reports, at the later chain, two chains with the same matching rules and rules that overlap
 * (Envoy refuses both), as "<path>.filter_chains[i]..." under ctx's path (the listener's).
 * Returns 0, -EINVAL after reporting, or -ENOMEM. */
int tp_chain_matcher_build(struct tp_cfg_ctx *ctx, struct tp_listener_cfg *l);
void tp_chain_matcher_free(struct tp_chain_matcher *m);

/* The chain in's connection goes to: its index in the listener's filter_chains, or -1 when no
 * chain matches (the default chain then, if the listener has one). No allocation. */
int tp_chain_match_find(const struct tp_chain_matcher *m, const struct tp_match_input *in);

/* Whether a lies in r (a family-0 range holds every address; an unknown address lies only in
 * those). */
bool tp_cidr_contains(const struct tp_cidr *r, const struct tp_match_addr *a);

#endif

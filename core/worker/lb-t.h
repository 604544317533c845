/* Types of a worker's view of a cluster: its hosts with this worker's active counts, and the
 * load balancers over them.
 *
 * A load balancer is a structure over an array of host indexes (into the cluster's host states),
 * so that a locality, a priority level, a subset and the cluster itself are each "a load balancer
 * over some hosts" (struct tp_lb), grouped into priority levels (struct tp_lb_level) and priority
 * sets (struct tp_lb_set). Everything is built from the read-only configuration when the worker
 * starts; a pick only reads it and moves this worker's own state (round robin positions, EDF
 * deadlines, active counts). */
#ifndef TP_LB_T_H
#define TP_LB_T_H

#include "core/config/config-t.h"

#include <linux/time_types.h>
#include <stdbool.h>
#include <stdint.h>

/* A host as this worker knows it. A static cluster's hosts live as long as the worker; a
 * dynamic cluster's (DNS) are made when a published host set names them and are reference
 * counted: the cluster's current set holds one reference and each connection that picked the
 * host one more, so a host the master removes stays, on the cluster's retired list, until its
 * last connection has closed. */
struct tp_host_rt {
	const struct tp_endpoint_cfg *cfg; /* the config's endpoint, or &own for a dynamic host */
	uint32_t active;		   /* this worker's open upstream connections to the host */
	uint32_t refs;	 /* dynamic hosts: the current set's, plus one per connection */
	uint32_t idx;	 /* its index in tp_cluster_rt.hosts; UINT32_MAX once retired */
	uint32_t ep;	 /* index of the configured endpoint it comes from */
	uint32_t health; /* TP_HOST_F_* */
	bool dynamic;
	bool hc_failed_now; /* the last set applied failed it (close_connections_on_...) */
	uint64_t id;	    /* the master's stable host id (dynamic hosts) */
	struct tp_host_rt *retired_prev, *retired_next;
	struct tp_endpoint_cfg own; /* dynamic: its address and host stats row; the rest is the
				     * endpoint's (weight, priority, locality, metadata) */
};

/* Envoy's EdfScheduler: each item is due at now + 1/weight; the earliest is picked and comes
 * due again 1/weight later. Weighted round robin in O(log n); ties go to the item queued first. */
struct tp_edf_entry {
	double deadline;
	uint64_t order;
	uint32_t item;
};

struct tp_edf {
	struct tp_edf_entry *heap; /* a binary min-heap on (deadline, order) */
	const uint32_t *weight;	   /* of each item, parallel to the items */
	uint32_t n;
	double now;
	uint64_t order;
};

/* A load balancer over some of a cluster's hosts. */
struct tp_lb {
	uint32_t *hosts;   /* indexes into tp_cluster_rt.hosts, in configuration order */
	uint32_t *weights; /* load_balancing_weight of each, for the EDF */
	uint32_t n;
	bool equal_weights;
	uint64_t total_weight;
	uint32_t rr_next;  /* ROUND_ROBIN with equal weights */
	struct tp_edf edf; /* ROUND_ROBIN with unequal weights */
	uint64_t *cum;	   /* RANDOM and LEAST_REQUEST with unequal weights: running sums */
	/* RING_HASH: the ring's hashes, sorted, and the host of each; MAGLEV: the table. */
	uint64_t *ring;
	uint32_t *ring_host; /* cluster host indexes, like the table's */
	uint64_t ring_size;
	uint32_t *table;
	uint64_t table_size;
};

/* A priority level. Without locality weighting, one balancer over its hosts; with it (non-hash
 * policies), one per locality with hosts and weight, and an EDF picking the locality. Hash
 * policies fold locality weights into their ring or table instead. */
struct tp_lb_level {
	struct tp_lb all;
	struct tp_lb *loc;
	uint32_t n_loc;
	uint32_t *loc_weight;
	struct tp_edf loc_edf;
};

/* A priority set: the cluster's hosts in rotation, a subset's, the default subset's. The first
 * level with hosts serves, and a level fails over only when it has no hosts at all. */
struct tp_lb_set {
	struct tp_lb_level *levels;
	uint32_t n_levels;
	uint32_t first; /* n_levels: no host anywhere */
	uint32_t n_hosts;
};

/* One subset: the hosts whose metadata has one selector's keys with these values. */
struct tp_subset {
	uint8_t *key; /* the criteria's canonical bytes (lb.h: tp_lb_criteria_key); NULL: free */
	uint32_t key_len;
	uint64_t hash;
	struct tp_lb_set set;
	/* While the subsets are built: the hosts gathered so far. */
	uint32_t *tmp_hosts;
	uint32_t tmp_n, tmp_cap;
	bool single_host; /* made by a single_host_per_subset selector: keeps its first host */
};

struct tp_cluster_rt {
	const struct tp_cluster_cfg *cfg;
	struct tp_host_rt **hosts; /* the current host set, in the master's (or config) order */
	uint32_t n_hosts;
	struct tp_host_rt *static_hosts; /* a static cluster's hosts, one block */
	struct tp_host_rt *retired;	 /* removed dynamic hosts still used by a connection */
	uint64_t version;		 /* of the host set applied last (dynamic clusters) */
	bool dynamic;			 /* its hosts come from the master (STRICT_DNS, ...) */
	bool panic;			 /* too few healthy hosts: every host is in rotation */
	uint32_t n_healthy;
	struct tp_lb_set all;
	/* lb_subset_config: an open-addressing table of subsets (a power of two), and the default
	 * subset when a fallback names it. */
	struct tp_subset *subsets;
	uint32_t subsets_cap;
	uint32_t n_subsets;
	struct tp_lb_set *dflt;
	/* ANY_ENDPOINT and panic_mode_any: every host, weighed as the subsets are (Envoy's
	 * subset_any_, locality_weight_aware and scale_locality_weight); &all when that is how
	 * the cluster weighs them. */
	struct tp_lb_set *any;
	struct __kernel_timespec connect_timeout; /* connect_timeout, as io_uring takes it */
	/* A cluster from CDS (core/worker/cds.c): its own configuration, and a reference count
	 * (the worker's table holds one while it is current, each connection on it one more), so
	 * that a connection keeps the cluster it started with when an update replaces or removes
	 * it. */
	bool cds;
	uint32_t refs;
	uint64_t cds_version;
	struct tp_cluster_cfg *own_cfg;
	/* The master's set it came with (its stats rows are held for that set), and, once an
	 * update replaced or removed it while connections hold it, its place on the worker's
	 * retired list (what TP_HS_CDS_LOW reports). */
	uint64_t cds_set;
	bool cds_retired;
	struct tp_cluster_rt *retired_prev, *retired_next;
};

/* Criteria past this many keys match no subset (the connection goes to the cluster's
 * fallback_policy); docs/envoy-compat.md lists the limits. */
#define TP_LB_MAX_CRITERIA 64

/* One criterion a host's metadata must match: a key and a value in metadata.h's byte form. */
struct tp_lb_criterion {
	const char *key;
	const uint8_t *val;
	uint32_t val_len;
};

enum tp_lb_subset_outcome {
	TP_LB_SUBSET_NONE,	     /* no subset balancing, or a selector's own fallback */
	TP_LB_SUBSET_SELECTED,	     /* lb_subsets_selected */
	TP_LB_SUBSET_FALLBACK,	     /* lb_subsets_fallback */
	TP_LB_SUBSET_FALLBACK_PANIC, /* lb_subsets_fallback_panic */
};

/* What a pick knows of its connection (Envoy's LoadBalancerContext). */
struct tp_lb_ctx {
	const struct tp_lb_criterion *criteria; /* sorted by key, each key once */
	uint32_t n_criteria;
	bool has_hash;
	uint64_t hash;
	uint8_t outcome; /* set by the pick: enum tp_lb_subset_outcome */
};

#endif

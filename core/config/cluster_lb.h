/* A cluster's load-balancing configuration: lb_subset_config, ring_hash_lb_config,
 * maglev_lb_config, least_request_lb_config, common_lb_config, and the checks across them. */
#ifndef TP_CLUSTER_LB_H
#define TP_CLUSTER_LB_H

#include "core/config/cfg_schema-t.h"
#include "core/config/config-t.h"

#define TP_RING_MIN_DEFAULT	1024
#define TP_RING_MAX_DEFAULT	(8u << 20)
#define TP_RING_LIMIT		(8u << 20) /* Envoy's bound on both ring sizes */
#define TP_MAGLEV_DEFAULT	65537
#define TP_MAGLEV_LIMIT		5000011
#define TP_CHOICE_COUNT_DEFAULT 2

/* Cluster.LbSubsetConfig, over a struct tp_subset_cfg. */
extern const struct tp_cfg_schema tp_cfg_lb_subset_schema;
/* RingHashLbConfig, MaglevLbConfig, LeastRequestLbConfig, CommonLbConfig: over the struct
 * tp_cluster_cfg itself (their rows write its fields). */
extern const struct tp_cfg_schema tp_cfg_ring_hash_schema;
extern const struct tp_cfg_schema tp_cfg_maglev_schema;
extern const struct tp_cfg_schema tp_cfg_least_request_schema;
extern const struct tp_cfg_schema tp_cfg_common_lb_schema;

/* The Cluster's post step for these: ring sizes in order, a prime Maglev table, one lb_config
 * at most (a warning for one the lb_policy does not read), locality weights that fit. */
void tp_cfg_cluster_lb_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map,
			    struct tp_cluster_cfg *c);

/* Frees what decode_load_assignment added beside the endpoints: localities and metadata. */
void tp_cfg_localities_free(struct tp_cluster_cfg *c);

#endif

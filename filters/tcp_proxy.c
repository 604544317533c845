/* envoy.filters.network.tcp_proxy: its config (TcpProxy v3) and its place in the filter chain.
 * The session itself lives in core/conn/proxy.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/accesslog/access_log.h"
#include "core/config/cfg_schema.h"
#include "core/config/config.h"
#include "core/config/metadata.h"
#include "core/config/xds.h"
#include "core/filter.h"
#include "core/conn/session.h"
#include "core/tunnel/tunnel_cfg.h"
#include "shm/stats-t.h"

static const struct tp_cfg_enum connect_mode_enum[] = {
	{"IMMEDIATE", 0, TP_CONNECT_IMMEDIATE, false},
	{"ON_DOWNSTREAM_DATA", 1, TP_CONNECT_ON_DOWNSTREAM_DATA, false},
	{"ON_DOWNSTREAM_TLS_HANDSHAKE", 2, TP_CONNECT_ON_DOWNSTREAM_TLS_HANDSHAKE, false},
	{.name = NULL},
};

static void tcp_proxy_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj);

/* The loader bounds names by what the stats segment holds (core/config cannot see shm/). */
_Static_assert(TP_CFG_STAT_NAME_MAX + 1 == TP_STATS_NAME_MAX,
	       "TP_CFG_STAT_NAME_MAX must follow shm/stats-t.h's TP_STATS_NAME_MAX");

/* TcpProxy.TcpAccessLogOptions, over the tcp_proxy object itself. */
static const struct tp_cfg_field access_log_options_fields[] = {
	{.key = "access_log_flush_interval",
	 .type = TP_CFG_DURATION,
	 .off = offsetof(struct tp_tcp_proxy_cfg, access_log_flush_interval_ms),
	 .min = 1,
	 .max = INT64_MAX,
	 .def = TP_DURATION_UNSET},
	{.key = "flush_access_log_on_connected",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_tcp_proxy_cfg, flush_access_log_on_connected)},
	{.key = "flush_access_log_on_start",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_tcp_proxy_cfg, flush_access_log_on_start)},
	{.key = NULL},
};

static const struct tp_cfg_schema access_log_options_schema = {
	.name = "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.TcpAccessLogOptions",
	.size = sizeof(struct tp_tcp_proxy_cfg),
	.fields = access_log_options_fields,
};

/* config.core.v3.BackoffStrategy, over the tcp_proxy object itself: base_interval required and
 * at least 1 ms, max_interval greater than 0 (Envoy's proto rules). */
static const struct tp_cfg_field backoff_fields[] = {
	{.key = "base_interval",
	 .type = TP_CFG_DURATION,
	 .flags = TP_CFG_REQUIRED,
	 .off = offsetof(struct tp_tcp_proxy_cfg, backoff_base_ms),
	 .min = 1,
	 .max = INT64_MAX},
	{.key = "max_interval",
	 .type = TP_CFG_DURATION,
	 .off = offsetof(struct tp_tcp_proxy_cfg, backoff_max_ms),
	 .min = 1,
	 .max = INT64_MAX,
	 .mark_off = TP_CFG_MARK(struct tp_tcp_proxy_cfg, backoff_max_mark)},
	{.key = NULL},
};

static const struct tp_cfg_schema backoff_schema = {
	.name = "envoy.config.core.v3.BackoffStrategy",
	.size = sizeof(struct tp_tcp_proxy_cfg),
	.fields = backoff_fields,
};

/* TcpProxy.WeightedCluster.ClusterWeight */
static const struct tp_cfg_field cluster_weight_fields[] = {
	{.key = "name",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_REQUIRED | TP_CFG_NONEMPTY,
	 .off = offsetof(struct tp_weighted_cluster_cfg, name),
	 .mark_off = TP_CFG_MARK(struct tp_weighted_cluster_cfg, name_mark)},
	/* A plain uint32 with gte: 1 in Envoy's proto, so leaving it out is the 0 it refuses. */
	{.key = "weight",
	 .type = TP_CFG_UINT32,
	 .flags = TP_CFG_REQUIRED,
	 .off = offsetof(struct tp_weighted_cluster_cfg, weight),
	 .min = 1,
	 .max = UINT32_MAX},
	{.key = "metadata_match",
	 .type = TP_CFG_CUSTOM,
	 .off = offsetof(struct tp_weighted_cluster_cfg, metadata_match),
	 .decode = tp_cfg_decode_lb_metadata,
	 .free = tp_cfg_free_mstruct},
	{.key = NULL},
};

static const struct tp_cfg_schema cluster_weight_schema = {
	.name = "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster."
		"ClusterWeight",
	.size = sizeof(struct tp_weighted_cluster_cfg),
	.fields = cluster_weight_fields,
};

static void weighted_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_tcp_proxy_cfg *tp = obj;

	tp->total_weight = 0;
	for (size_t i = 0; i < tp->n_weighted_clusters; i++)
		tp->total_weight += tp->weighted_clusters[i].weight;
	if (!tp->n_weighted_clusters)
		tp_cfg_error(ctx, tp_cfg_find(map, "clusters") ? tp_cfg_find(map, "clusters") : map,
			     "clusters", "must have at least 1 item");
	else if (tp->total_weight > UINT32_MAX)
		tp_cfg_error(ctx, tp_cfg_find(map, "clusters"), "clusters",
			     "the weights sum to %llu, more than 4294967295",
			     (unsigned long long)tp->total_weight);
}

/* TcpProxy.WeightedCluster, over the tcp_proxy object itself. */
static const struct tp_cfg_field weighted_fields[] = {
	{.key = "clusters",
	 .type = TP_CFG_REPEATED,
	 .off = offsetof(struct tp_tcp_proxy_cfg, weighted_clusters),
	 .count_off = offsetof(struct tp_tcp_proxy_cfg, n_weighted_clusters),
	 .sub = &cluster_weight_schema},
	{.key = NULL},
};

static const struct tp_cfg_schema weighted_schema = {
	.name = "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster",
	.size = sizeof(struct tp_tcp_proxy_cfg),
	.fields = weighted_fields,
	.post = weighted_post,
};

/* type.v3.HashPolicy: SourceIp has no fields; FilterState has its key. */
static const struct tp_cfg_field source_ip_fields[] = {
	{.key = NULL},
};

static const struct tp_cfg_schema source_ip_schema = {
	.name = "envoy.type.v3.HashPolicy.SourceIp",
	.size = 1,
	.fields = source_ip_fields,
};

static const struct tp_cfg_field hash_filter_state_fields[] = {
	{.key = "key", .type = TP_CFG_STRING, .flags = TP_CFG_REQUIRED | TP_CFG_NONEMPTY, .off = 0},
	{.key = NULL},
};

static const struct tp_cfg_schema hash_filter_state_schema = {
	.name = "envoy.type.v3.HashPolicy.FilterState",
	.size = sizeof(char *),
	.fields = hash_filter_state_fields,
};

static void hash_policy_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	const struct tp_hash_policy_cfg *h = obj;

	/* oneof policy_specifier, required. */
	if (!h->source_ip.line && !h->filter_state_mark.line)
		tp_cfg_error(ctx, map, NULL,
			     "missing required field (one of source_ip or filter_state)");
	else if (h->source_ip.line && h->filter_state_mark.line)
		tp_cfg_error_mark(ctx, h->filter_state_mark, "filter_state",
				  "only one of source_ip and filter_state may be set");
}

static const struct tp_cfg_field hash_policy_fields[] = {
	{.key = "source_ip",
	 .type = TP_CFG_MESSAGE,
	 .sub = &source_ip_schema,
	 .off = offsetof(struct tp_hash_policy_cfg, source_ip),
	 .mark_off = TP_CFG_MARK(struct tp_hash_policy_cfg, source_ip)},
	{.key = "filter_state",
	 .type = TP_CFG_MESSAGE,
	 .sub = &hash_filter_state_schema,
	 .off = offsetof(struct tp_hash_policy_cfg, filter_state),
	 .mark_off = TP_CFG_MARK(struct tp_hash_policy_cfg, filter_state_mark)},
	{.key = NULL},
};

static const struct tp_cfg_schema hash_policy_schema = {
	.name = "envoy.type.v3.HashPolicy",
	.size = sizeof(struct tp_hash_policy_cfg),
	.fields = hash_policy_fields,
	.mark_off = TP_CFG_MARK(struct tp_hash_policy_cfg, mark),
	.post = hash_policy_post,
};

/* TcpProxy.OnDemand, over the tcp_proxy object itself. */
static const struct tp_cfg_field on_demand_fields[] = {
	{.key = "odcds_config",
	 .type = TP_CFG_MESSAGE,
	 .off = offsetof(struct tp_tcp_proxy_cfg, odcds),
	 .sub = &tp_config_source_schema,
	 .mark_off = TP_CFG_MARK(struct tp_tcp_proxy_cfg, od_mark)},
	{.key = "resources_locator",
	 .type = TP_CFG_STRING,
	 .off = offsetof(struct tp_tcp_proxy_cfg, od_locator)},
	/* Envoy's default is 60 s. */
	{.key = "timeout",
	 .type = TP_CFG_DURATION,
	 .off = offsetof(struct tp_tcp_proxy_cfg, od_timeout_ms),
	 .min = 1,
	 .max = INT64_MAX,
	 .def = 60000},
	{.key = NULL},
};

static const struct tp_cfg_schema on_demand_schema = {
	.name = "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.OnDemand",
	.size = sizeof(struct tp_tcp_proxy_cfg),
	.fields = on_demand_fields,
};

static const struct tp_cfg_field tcp_proxy_fields[] = {
	{.key = "stat_prefix",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_REQUIRED | TP_CFG_NONEMPTY,
	 .off = offsetof(struct tp_tcp_proxy_cfg, stat_prefix),
	 .check = tp_cfg_check_stat_name},
	{.key = "cluster",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_NONEMPTY,
	 .off = offsetof(struct tp_tcp_proxy_cfg, cluster),
	 .mark_off = TP_CFG_MARK(struct tp_tcp_proxy_cfg, cluster_mark)},
	/* Envoy has no upper bound; 0s disables the timer. */
	{.key = "idle_timeout",
	 .type = TP_CFG_DURATION,
	 .off = offsetof(struct tp_tcp_proxy_cfg, idle_timeout_ms),
	 .min = 0,
	 .max = INT64_MAX,
	 .def = TP_DEFAULT_IDLE_TIMEOUT},
	{.key = "max_downstream_connection_duration",
	 .type = TP_CFG_DURATION,
	 .off = offsetof(struct tp_tcp_proxy_cfg, max_downstream_connection_duration_ms),
	 .min = 1,
	 .max = INT64_MAX,
	 .def = TP_DURATION_UNSET},
	{.key = "max_connect_attempts",
	 .type = TP_CFG_UINT32,
	 .off = offsetof(struct tp_tcp_proxy_cfg, max_connect_attempts),
	 .min = 1,
	 .max = UINT32_MAX,
	 .def = 1},
	{.key = "upstream_connect_mode",
	 .type = TP_CFG_ENUM,
	 .off = offsetof(struct tp_tcp_proxy_cfg, upstream_connect_mode),
	 .enums = connect_mode_enum,
	 .def = TP_CONNECT_IMMEDIATE},
	{.key = "max_early_data_bytes",
	 .type = TP_CFG_UINT32_OPT,
	 .off = offsetof(struct tp_tcp_proxy_cfg, max_early_data_bytes),
	 .min = 0,
	 .max = TP_MAX_EARLY_DATA_BYTES,
	 .def = -1},
	{.key = "weighted_clusters", .type = TP_CFG_MESSAGE, .sub = &weighted_schema},
	{.key = "on_demand", .type = TP_CFG_MESSAGE, .sub = &on_demand_schema},
	{.key = "metadata_match",
	 .type = TP_CFG_CUSTOM,
	 .off = offsetof(struct tp_tcp_proxy_cfg, metadata_match),
	 .decode = tp_cfg_decode_lb_metadata,
	 .free = tp_cfg_free_mstruct},
	UNSUPPORTED("downstream_idle_timeout"),
	UNSUPPORTED("upstream_idle_timeout"),
	{.key = "access_log",
	 .type = TP_CFG_REPEATED,
	 .off = offsetof(struct tp_tcp_proxy_cfg, access_logs),
	 .count_off = offsetof(struct tp_tcp_proxy_cfg, n_access_logs),
	 .sub = &tp_access_log_schema},
	{.key = "access_log_options", .type = TP_CFG_MESSAGE, .sub = &access_log_options_schema},
	{.key = "hash_policy",
	 .type = TP_CFG_REPEATED,
	 .off = offsetof(struct tp_tcp_proxy_cfg, hash_policies),
	 .count_off = offsetof(struct tp_tcp_proxy_cfg, n_hash_policies),
	 .sub = &hash_policy_schema},
	{.key = "tunneling_config",
	 .type = TP_CFG_CUSTOM,
	 .decode = tp_tunnel_cfg_decode,
	 .free = tp_tunnel_cfg_free},
	UNSUPPORTED("max_downstream_connection_duration_jitter_percentage"),
	/* The deprecated spellings of the first two access_log_options fields. */
	{.key = "access_log_flush_interval",
	 .type = TP_CFG_DURATION,
	 .off = offsetof(struct tp_tcp_proxy_cfg, access_log_flush_interval_ms),
	 .min = 1,
	 .max = INT64_MAX,
	 .def = TP_DURATION_UNSET},
	{.key = "flush_access_log_on_connected",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_tcp_proxy_cfg, flush_access_log_on_connected)},
	{.key = "backoff_options", .type = TP_CFG_MESSAGE, .sub = &backoff_schema},
	UNSUPPORTED("proxy_protocol_tlvs"),
	UNSUPPORTED("proxy_protocol_tlv_merge_policy"),
	UNSUPPORTED_BUT("check_drain_close", "false"),
	REMOVED("deprecated_v1", NULL),
	{.key = NULL},
};

static const struct tp_cfg_schema tcp_proxy_schema = {
	.name = "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
	.size = sizeof(struct tp_tcp_proxy_cfg),
	.fields = tcp_proxy_fields,
	.mark_off = TP_CFG_MARK(struct tp_tcp_proxy_cfg, mark),
	.any = true,
	.post = tcp_proxy_post,
};

static void tcp_proxy_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_tcp_proxy_cfg *tp = obj;
	const struct tp_ynode *weighted = tp_cfg_find(map, "weighted_clusters");
	const struct tp_ynode *mode = tp_cfg_find(map, "upstream_connect_mode");
	const struct tp_ynode *old_interval = tp_cfg_find(map, "access_log_flush_interval");
	const struct tp_ynode *old_connected = tp_cfg_find(map, "flush_access_log_on_connected");

	/* oneof cluster_specifier, required. */
	if (!tp_cfg_find(map, "cluster") && !weighted)
		tp_cfg_error(ctx, map, "cluster",
			     "missing required field (one of cluster or weighted_clusters)");
	else if (tp->cluster && weighted)
		tp_cfg_error(ctx, weighted, "weighted_clusters",
			     "only one of cluster and weighted_clusters may be set");

	/* Envoy's proto: hash_policy has max_items 1. */
	if (tp->n_hash_policies > 1)
		tp_cfg_error_mark(ctx, tp->hash_policies[1].mark, "hash_policy",
				  "at most 1 item (Envoy's TcpProxy takes one hash policy)");
	if (tp->n_hash_policies) {
		const struct tp_hash_policy_cfg *h = &tp->hash_policies[0];

		tp->hash = h->source_ip.line ? TP_HASH_SOURCE_IP : TP_HASH_FILTER_STATE;
		tp->hash_key = h->filter_state.key;
	}

	/* Envoy refuses the deprecated fields beside the message that replaced them. */
	if (tp_cfg_find(map, "access_log_options") && (old_interval || old_connected))
		tp_cfg_error(ctx, old_interval ? old_interval : old_connected,
			     old_interval ? "access_log_flush_interval"
					  : "flush_access_log_on_connected",
			     "cannot be set with access_log_options (deprecated; set it there)");

	/* Envoy's SharedConfig: max_interval defaults to 10 x base_interval and may not be below
	 * it. */
	if (tp->backoff_base_ms > 0 && tp->backoff_max_ms <= 0)
		tp->backoff_max_ms =
			tp->backoff_base_ms > INT64_MAX / 10 ? INT64_MAX : 10 * tp->backoff_base_ms;
	if (tp->backoff_base_ms > 0 && tp->backoff_max_ms < tp->backoff_base_ms)
		tp_cfg_error_mark(ctx, tp->backoff_max_mark, "backoff_options.max_interval",
				  "must be greater than or equal to base_interval (Envoy: "
				  "max_backoff_interval must be greater or equal to "
				  "base_backoff_interval)");

	/* Envoy 1.38 made the early-data budget explicit for every mode that connects late. */
	if (tp->upstream_connect_mode != TP_CONNECT_IMMEDIATE &&
	    !tp_cfg_find(map, "max_early_data_bytes"))
		tp_cfg_error(ctx, mode, "upstream_connect_mode",
			     "%s needs max_early_data_bytes (required for every mode but IMMEDIATE "
			     "since Envoy 1.38)",
			     tp->upstream_connect_mode == TP_CONNECT_ON_DOWNSTREAM_DATA
				     ? "ON_DOWNSTREAM_DATA"
				     : "ON_DOWNSTREAM_TLS_HANDSHAKE");
}

static void *tcp_proxy_parse(struct tp_cfg_ctx *ctx, const struct tp_ynode *typed_config)
{
	struct tp_tcp_proxy_cfg *tp = calloc(1, sizeof(*tp));

	if (!tp) {
		ctx->oom = true;
		tp_cfg_error(ctx, typed_config, NULL, "%s", strerror(ENOMEM));
		return NULL;
	}
	tp->cluster_index = -1;
	tp_cfg_decode(ctx, &tcp_proxy_schema, typed_config, tp);
	/* Returned even when decoding reported errors: check() can still find more. */
	return tp;
}

/* tcpproxy reads one CDS file: an on_demand source is that file. The first one makes it the CDS
 * source when the bootstrap has none; any other must name the same. */
static void check_on_demand(struct tp_cfg_ctx *ctx, struct tp_config *cfg,
			    struct tp_tcp_proxy_cfg *tp)
{
	if (!tp->odcds.path)
		return;
	if (!cfg->cds.path) {
		if (tp_config_source_copy(&cfg->cds, &tp->odcds) < 0) {
			ctx->oom = true;
			tp_cfg_error(ctx, NULL, NULL, "%s", strerror(ENOMEM));
		}
		return;
	}
	if (!tp_config_source_equal(&cfg->cds, &tp->odcds))
		tp_cfg_error_mark(ctx, tp->od_mark, "on_demand.odcds_config",
				  "tcpproxy reads one CDS file: this must name the same path and "
				  "watched_directory as dynamic_resources.cds_config or the other "
				  "on_demand sources (%s)",
				  cfg->cds.path);
}

static void tcp_proxy_check(struct tp_cfg_ctx *ctx, struct tp_config *cfg, void *conf)
{
	struct tp_tcp_proxy_cfg *tp = conf;

	check_on_demand(ctx, cfg, tp);

	if (tp->cluster) {
		tp->cluster_index = tp_config_cluster_index(cfg, tp->cluster);
		/* Envoy loads it (a cluster may arrive later) and answers each connection with
		 * no_route; tcpproxy's runtime does the same for cluster_index -1. */
		if (tp->cluster_index < 0 && !cfg->cds.path)
			tp_cfg_warn_mark(ctx, tp->cluster_mark, "cluster",
					 "unknown cluster \"%s\": each connection will count "
					 "downstream_cx_no_route and close (flag NC), as in Envoy",
					 tp->cluster);
	}
	for (size_t i = 0; i < tp->n_weighted_clusters; i++) {
		struct tp_weighted_cluster_cfg *w = &tp->weighted_clusters[i];
		size_t old = tp_cfg_path_push(ctx, "weighted_clusters.clusters");

		tp_cfg_path_push_index(ctx, i);
		/* A missing name was reported; it routes nowhere. */
		w->cluster_index = w->name ? tp_config_cluster_index(cfg, w->name) : -1;
		if (w->cluster_index < 0 && w->name && !cfg->cds.path)
			tp_cfg_warn_mark(
				ctx, w->name_mark, "name",
				"unknown cluster \"%s\": each connection that picks it will "
				"count downstream_cx_no_route and close (flag NC), as in Envoy",
				w->name);
		tp_cfg_path_pop(ctx, old);
		/* Envoy's WeightedClusterEntry: its own criteria merged over the top-level ones
		 * (its values win), or the top-level ones alone. */
		if (tp_mstruct_merge(&w->criteria, &tp->metadata_match, &w->metadata_match) < 0) {
			ctx->oom = true;
			tp_cfg_error(ctx, NULL, NULL, "%s", strerror(ENOMEM));
		}
	}
	/* The connection keeps what the tunnel's formats read (addresses, ...). */
	if (tp->tunnel)
		cfg->format_needs |= tp_tunnel_cfg_needs(tp->tunnel);
	if (tp_access_log_check(cfg, tp->access_logs, tp->n_access_logs) < 0) {
		ctx->oom = true;
		tp_cfg_error(ctx, NULL, NULL, "%s", strerror(ENOMEM));
	}
}

static void tcp_proxy_free(void *conf)
{
	struct tp_tcp_proxy_cfg *tp = conf;

	if (!tp)
		return;
	for (size_t i = 0; i < tp->n_weighted_clusters; i++)
		tp_mstruct_free(&tp->weighted_clusters[i].criteria);
	tp_cfg_free(&tcp_proxy_schema, tp);
	free(tp);
}

const struct tp_filter_ops tp_filter_tcp_proxy = {
	.name = "envoy.filters.network.tcp_proxy",
	.type_url = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
	.terminal = true,
	.parse = tcp_proxy_parse,
	.check = tcp_proxy_check,
	.free = tcp_proxy_free,
	.register_stats = tp_proxy_register_stats,
	.on_new_connection = tp_proxy_on_new_connection,
	.on_data = tp_proxy_on_data,
};

/* Types of the loaded configuration: Envoy's v3 bootstrap, the subset tcpproxy serves.
 *
 * The loader (core/config.c) fills these from YAML; after the master forks a generation they are
 * read-only. Fields that Envoy has but tcpproxy does not serve yet are rejected by the loader with
 * "not supported yet" rather than silently ignored; where the model already has room for them it
 * says so, so that later work fills a field instead of reshaping the model. */
#ifndef TP_CONFIG_T_H
#define TP_CONFIG_T_H

#include "core/config/chain_match-t.h"

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Durations are held in milliseconds; protobuf JSON spells them "5s", "0.250s". */
#define TP_DURATION_UNSET (-1)

#define TP_DEFAULT_BUFFER_LIMIT	   (1024u * 1024u)
#define TP_DEFAULT_CONNECT_TIMEOUT 5000
#define TP_DEFAULT_IDLE_TIMEOUT	   (3600 * 1000)
#define TP_MAX_EARLY_DATA_BYTES	   (1024u * 1024u)

/* The longest stats scope name the shared stats segment holds, in characters (shm/stats-t.h's
 * TP_STATS_NAME_MAX less its NUL; filters/tcp_proxy.c checks that they agree): each cluster
 * name, each "<cluster>::<host address>" and each stat_prefix must fit, or the generation could
 * not register its stats and would not start. */
#define TP_CFG_STAT_NAME_MAX 239

struct tp_filter_ops;
struct tp_listener_filter_ops;
struct tp_transport_ops;
struct tp_access_log_cfg;
struct tp_tls_secrets;

/* Where a value stood in the file, for errors found after parsing (cross references). */
struct tp_cfg_mark {
	uint32_t line;
	uint32_t col;
};

struct tp_sockaddr {
	struct sockaddr_storage ss;
	socklen_t len;
	/* "127.0.0.1:10000" or "[::1]:10000": what logs and access logs print. */
	char text[64];
	/* A DNS cluster's endpoint may name a host instead (len is then 0): the name and port. */
	char *host;
	uint16_t port;
};

enum tp_lb_policy {
	TP_LB_ROUND_ROBIN,
	TP_LB_RANDOM,
	TP_LB_LEAST_REQUEST,
	TP_LB_RING_HASH,
	TP_LB_MAGLEV,
};

/* A metadata value (google.protobuf.Value) in a canonical byte form (core/config/metadata.h): two
 * values are equal as Envoy's ValueUtil::equal has them exactly when their bytes are. */
struct tp_mvalue {
	uint8_t *b;
	uint32_t len;
};

/* One field of a google.protobuf.Struct. */
struct tp_mfield {
	char *key;
	struct tp_mvalue value;
};

/* A Struct: the envoy.lb namespace of an endpoint's metadata, a metadata_match, a
 * default_subset. Fields sorted by key, bytewise, each key once (Envoy's criteria are sorted the
 * same way, and its std::map keeps one value per key). */
struct tp_mstruct {
	struct tp_mfield *f;
	uint32_t n;
};

enum tp_cluster_type {
	TP_CLUSTER_STATIC,
	TP_CLUSTER_STRICT_DNS,	/* every address each endpoint's name resolves to is a host */
	TP_CLUSTER_LOGICAL_DNS, /* the first address of its one endpoint's name is its host */
};

/* Cluster.dns_lookup_family */
enum tp_dns_family {
	TP_DNS_AUTO, /* V4_PREFERRED since Envoy 1.29 */
	TP_DNS_V4_ONLY,
	TP_DNS_V6_ONLY,
	TP_DNS_V4_PREFERRED, /* IPv4 addresses when there are any, else IPv6 */
	TP_DNS_ALL,	     /* both */
};

/* How a DNS cluster resolves its endpoints' names (core/master/dns.c). */
struct tp_dns_cfg {
	int64_t refresh_ms;	       /* dns_refresh_rate, default 5 s */
	int64_t failure_base_ms;       /* dns_failure_refresh_rate.base_interval; -1: refresh_ms */
	int64_t failure_max_ms;	       /* ... max_interval; -1: 10 x base */
	bool failure_given;	       /* dns_failure_refresh_rate given: back off after failures */
	int64_t jitter_ms;	       /* dns_jitter: up to this much is added to each refresh */
	bool respect_ttl;	       /* respect_dns_ttl: the records' TTL sets the refresh */
	int family;		       /* enum tp_dns_family */
	struct tp_sockaddr *resolvers; /* typed_dns_resolver_config (c-ares) or dns_resolvers */
	size_t n_resolvers;	       /* 0: the system's (resolv.conf) */
	struct tp_sockaddr *legacy; /* the deprecated dns_resolvers, used when the above is not */
	size_t n_legacy;
	bool use_tcp; /* dns_resolver_options.use_tcp_for_dns_lookups */
	bool no_default_search_domain;
};

/* The HTTP version a tunnelling tcp_proxy speaks to a cluster's hosts. */
enum tp_http_version {
	TP_HTTP_1 = 1, /* the default: one upstream connection per tunnel */
	TP_HTTP_2 = 2, /* tunnels are streams on connections the worker shares */
};

/* What a cluster says of the HTTP it is spoken to with (envoy.extensions.upstreams.http.v3.
 * HttpProtocolOptions in typed_extension_protocol_options, or the deprecated cluster fields);
 * only a tcp_proxy with tunneling_config uses it. Zero fields take their defaults
 * (tp_http_proto_defaults()). */
struct tp_http_proto_cfg {
	uint8_t version;			 /* enum tp_http_version */
	uint32_t max_headers_count;		 /* common_http_protocol_options; default 100 */
	uint32_t hpack_table_size;		 /* Http2ProtocolOptions; default 4096 */
	uint32_t max_concurrent_streams;	 /* default 2^31 - 1 */
	uint32_t initial_stream_window_size;	 /* default 256 MiB (bounded by the buffer limit) */
	uint32_t initial_connection_window_size; /* default 256 MiB */
	struct tp_cfg_mark mark;	    /* where it was given; line 0: nowhere (HTTP/1.1) */
	struct tp_cfg_mark deprecated_mark; /* a deprecated cluster field's, for the mix check */
	const char *deprecated_key;	    /* and its name (static text) */
};

/* A side's transport_socket as configured: which transport (core/conn/transport-t.h) and its
 * settings. */
struct tp_transport_cfg {
	const struct tp_transport_ops *ops; /* NULL: raw_buffer */
	void *conf;			    /* what ops->parse made of its typed_config */
	uint32_t idx; /* which of a worker's per-configuration contexts it uses (ctx_new) */
	/* A cluster from CDS: its own context, made by the worker that applied it (it has no idx
	 * in the table the worker made at start). NULL: w->tctx[idx]. */
	void *own_ctx;
};

/* Health flags of a host, as the master publishes them (core/worker/hostset-t.h). A host with
 * any of them set is out of rotation (unless the cluster is in panic). */
#define TP_HOST_F_FAILED_ACTIVE_HC 0x1u /* /failed_active_hc */
#define TP_HOST_F_FAILED_OUTLIER   0x2u /* /failed_outlier_check */
#define TP_HOST_F_ALL		   0x3u

/* A cluster's outlier_detection (core/master/outlier.h): the consecutive-failure detectors only,
 * fed by the workers' connect results. */
struct tp_outlier_cfg {
	bool enabled;					/* the field was given */
	bool split;					/* split_external_local_origin_errors */
	uint32_t consecutive_5xx;			/* default 5 */
	uint32_t consecutive_gateway_failure;		/* default 5 */
	uint32_t consecutive_local_origin_failure;	/* default 5 */
	uint32_t enforcing_consecutive_5xx;		/* percent, default 100 */
	uint32_t enforcing_consecutive_gateway_failure; /* default 0 */
	uint32_t enforcing_consecutive_local_origin_failure; /* default 100 */
	uint32_t max_ejection_percent;			     /* default 10 */
	int64_t interval_ms;				     /* default 10 s */
	int64_t base_ejection_time_ms;			     /* default 30 s */
	int64_t max_ejection_time_ms;	     /* default the larger of 300 s and base */
	int64_t max_ejection_time_jitter_ms; /* default 0 */
	/* The success-rate and failure-percentage detectors, at each interval */
	uint32_t success_rate_minimum_hosts;		    /* default 5 */
	uint32_t success_rate_request_volume;		    /* default 100 */
	uint32_t success_rate_stdev_factor;		    /* thousandths, default 1900 */
	uint32_t enforcing_success_rate;		    /* default 100 */
	uint32_t enforcing_local_origin_success_rate;	    /* default 100 */
	uint32_t failure_percentage_threshold;		    /* default 85 */
	uint32_t failure_percentage_minimum_hosts;	    /* default 5 */
	uint32_t failure_percentage_request_volume;	    /* default 50 */
	uint32_t enforcing_failure_percentage;		    /* default 0 */
	uint32_t enforcing_failure_percentage_local_origin; /* default 0 */
	bool successful_active_health_check_uneject_host;
	bool always_eject_one_host;
	struct tp_cfg_mark mark;
};

struct tp_endpoint_cfg {
	struct tp_sockaddr addr;
	uint32_t weight;     /* load_balancing_weight, default 1 */
	uint32_t stats_base; /* row of the host.<cluster>::<address> scope; set by the master */
	uint32_t priority;   /* of its LocalityLbEndpoints, 0 (highest) to 128 */
	uint32_t locality; /* index into tp_cluster_cfg.localities (none: 0, and n_localities 0) */
	struct tp_mstruct lb_metadata; /* metadata.filter_metadata["envoy.lb"] */
	struct tp_cfg_mark mark;
};

/* A locality of a priority level: every LocalityLbEndpoints of the cluster with the same priority
 * and the same locality (region, zone, sub_zone), as Envoy groups them. Sorted by priority, then
 * region, zone and sub_zone, which is the order Envoy's std::map gives them. */
struct tp_locality_cfg {
	char *region;
	char *zone;
	char *sub_zone;
	uint32_t priority;
	uint32_t weight; /* load_balancing_weight, 0 when not given (or given without a locality) */
};

enum tp_subset_fallback {
	TP_SUBSET_NO_FALLBACK,
	TP_SUBSET_ANY_ENDPOINT,
	TP_SUBSET_DEFAULT_SUBSET,
};

enum tp_selector_fallback {
	TP_SELECTOR_NOT_DEFINED,
	TP_SELECTOR_NO_FALLBACK,
	TP_SELECTOR_ANY_ENDPOINT,
	TP_SELECTOR_DEFAULT_SUBSET,
	TP_SELECTOR_KEYS_SUBSET,
};

/* A list of strings as a set: sorted bytewise, each once (Envoy keeps selector keys in a
 * std::set). */
struct tp_strset {
	char **v;
	size_t n;
};

/* Cluster.LbSubsetConfig.LbSubsetSelector */
struct tp_subset_selector_cfg {
	struct tp_strset keys;
	struct tp_strset fallback_keys; /* fallback_keys_subset */
	int fallback_policy;		/* enum tp_selector_fallback */
	bool single_host_per_subset;
	struct tp_cfg_mark mark;
	struct tp_cfg_mark fallback_mark;
};

/* Cluster.LbSubsetConfig; enabled when it has any subset_selectors, as in Envoy. */
struct tp_subset_cfg {
	bool enabled;
	int fallback_policy; /* enum tp_subset_fallback */
	struct tp_mstruct default_subset;
	struct tp_subset_selector_cfg *selectors; /* those with keys (Envoy skips the others) */
	size_t n_selectors;
	bool locality_weight_aware;
	bool scale_locality_weight;
	bool panic_mode_any;
	bool list_as_any;
	bool allow_redundant_keys;
	struct tp_cfg_mark mark;
};

/* Cluster.CircuitBreakers.Thresholds, as written. tcp_proxy uses the DEFAULT priority's
 * max_connections and max_pending_requests; max_requests and max_retries are for HTTP requests
 * and retries, which Envoy's tcp_proxy does not check either. */
struct tp_cb_thresholds_cfg {
	int priority;		      /* RoutingPriority: DEFAULT 0, HIGH 1 */
	int64_t max_connections;      /* UInt32Value, -1: not given (1024) */
	int64_t max_pending_requests; /* -1: 1024 */
	int64_t max_requests;	      /* accepted, not applying to TCP */
	int64_t max_retries;	      /* accepted, not applying to TCP */
	bool track_remaining;	      /* remaining_* gauges */
	struct tp_cfg_mark mark;
};

/* What the workers of a generation share for one cluster's circuit breaker: per worker slot, the
 * upstream connections it holds open and the attempts of its still waiting for their connect.
 * core/master/generation.c maps it; the master reads it for the gauges. */
struct tp_cb_shared {
	_Atomic uint64_t cx[256];      /* TP_MAX_WORKERS (core/filter-t.h) */
	_Atomic uint64_t pending[256]; /* ... */
};

/* Breakers for clusters from CDS, which appear after the fork: each generation maps this many
 * struct tp_cb_shared before it forks (only the pages used cost memory), and the master gives
 * each CDS cluster one by index (core/master/cds.c). An update past it is refused. */
#define TP_CDS_MAX_BREAKERS 4096

/* Cluster.circuit_breakers: the DEFAULT priority's limits, the ones tcp_proxy checks. */
struct tp_cb_cfg {
	struct tp_cb_thresholds_cfg *thresholds; /* as written */
	size_t n_thresholds;
	uint64_t max_connections;      /* default 1024, as Envoy */
	uint64_t max_pending_requests; /* default 1024 */
	uint64_t max_requests;	       /* default 1024, for remaining_rq only */
	uint64_t max_retries;	       /* default 3, for remaining_retries only */
	bool track_remaining;
	struct tp_cb_shared *shared; /* set by the master before it forks */
	uint32_t stats_base;	     /* cluster.<name>.circuit_breakers.default.*_open */
	uint32_t remaining_base;     /* ... remaining_*, when track_remaining */
	/* HIGH priority: tcp_proxy asks only DEFAULT, so these limits are never in use; Envoy
	 * still makes their gauges (circuit_breakers.high.*), and so does tcpproxy. */
	uint64_t high_max_connections, high_max_pending_requests, high_max_requests,
		high_max_retries;
	bool high_track_remaining;
	uint32_t high_stats_base, high_remaining_base;
};

/* core.v3.HealthCheck.Payload: the bytes of text (hex) or binary (base64). */
struct tp_hc_payload {
	char *text;
	char *binary;
	uint8_t *data; /* the decoded bytes, in place of text's or binary's */
	size_t len;
	struct tp_cfg_mark mark;
};

/* type.v3.Int64Range: [start, end) */
struct tp_hc_range {
	int64_t start;
	int64_t end;
	struct tp_cfg_mark mark;
};

/* core.v3.HeaderValueOption: only key and value matter to a request the checker writes. */
struct tp_hc_header {
	struct {
		char *key;
		char *value;
	} header;
	struct tp_cfg_mark mark;
};

enum tp_hc_kind {
	TP_HC_NONE,
	TP_HC_TCP,
	TP_HC_HTTP,
};

/* core.v3.HealthCheck: an active check the master runs against every host of the cluster
 * (core/master/hc.c). Durations in ms; the optional ones are TP_DURATION_UNSET until post()
 * gives them Envoy's defaults. */
struct tp_health_check_cfg {
	int64_t timeout_ms;
	int64_t interval_ms;
	int64_t interval_jitter_ms;
	uint32_t interval_jitter_percent;
	int64_t unhealthy_threshold; /* UInt32Value, required */
	int64_t healthy_threshold;   /* UInt32Value, required */
	int64_t no_traffic_interval_ms;
	int64_t no_traffic_healthy_interval_ms; /* TP_DURATION_UNSET: no_traffic_interval */
	int64_t unhealthy_interval_ms;
	int64_t unhealthy_edge_interval_ms;
	int64_t healthy_edge_interval_ms;
	int64_t initial_jitter_ms;
	bool always_log_failures;
	bool always_log_success;
	char *event_log_path; /* HealthCheckEvent JSON lines; NULL: none */
	enum tp_hc_kind kind;
	struct {
		struct tp_hc_payload send;
		struct tp_hc_payload *receive;
		size_t n_receive;
		struct tp_cfg_mark mark; /* line 0: not given */
	} tcp;
	struct {
		char *host;
		char *path;
		struct tp_hc_range *statuses; /* none given: [200, 201) */
		size_t n_statuses;
		struct tp_hc_header *headers;
		size_t n_headers;
		int codec;		 /* codec_client_type: HTTP1 only */
		int method;		 /* GET only */
		struct tp_cfg_mark mark; /* line 0: not given */
	} http;
	struct tp_cfg_mark mark;
};

struct tp_cluster_cfg {
	char *name;
	enum tp_cluster_type type;
	int64_t connect_timeout_ms; /* default 5 s */
	enum tp_lb_policy lb_policy;
	uint32_t per_connection_buffer_limit_bytes; /* default 1 MiB */
	struct tp_endpoint_cfg *endpoints;
	size_t n_endpoints;
	struct tp_locality_cfg *localities;
	size_t n_localities;
	uint32_t n_priorities;	/* the highest priority given + 1 (1 with no endpoints) */
	bool locality_weighted; /* common_lb_config.locality_weighted_lb_config */
	/* ring_hash_lb_config: minimum_ring_size, maximum_ring_size (Envoy: 1024 and 8M) */
	int64_t ring_min;
	int64_t ring_max;
	int ring_hash_fn;	     /* hash_function: XX_HASH (0), MURMUR_HASH_2 (1) */
	int64_t maglev_table_size;   /* maglev_lb_config.table_size, default 65537 (a prime) */
	uint32_t choice_count;	     /* least_request_lb_config.choice_count, default 2 */
	struct tp_subset_cfg subset; /* lb_subset_config */
	struct tp_cfg_mark lb_mark;  /* of lb_policy, for warnings about the lb configs */
	struct tp_transport_cfg transport; /* its transport_socket toward the hosts */
	struct tp_dns_cfg dns;		   /* STRICT_DNS and LOGICAL_DNS */
	/* common_lb_config.healthy_panic_threshold, percent (default 50): below it every host is
	 * used, healthy or not */
	double panic_threshold;
	bool panic_threshold_given;
	struct tp_health_check_cfg *health_checks; /* at most one (docs/envoy-compat.md) */
	bool close_on_health_failure;		   /* close_connections_on_host_health_failure */
	size_t n_health_checks;
	struct tp_http_proto_cfg http; /* the HTTP tunnels to its hosts speak */
	struct tp_cb_cfg cb;	       /* circuit_breakers */
	struct tp_outlier_cfg outlier; /* outlier_detection */
	uint32_t stats_base; /* row of the cluster.<name> scope; set by the master before fork */
	struct tp_cfg_mark mark;
	struct tp_cfg_mark name_mark; /* for "duplicate cluster name" */
};

enum tp_upstream_connect_mode {
	TP_CONNECT_IMMEDIATE,
	TP_CONNECT_ON_DOWNSTREAM_DATA,
	TP_CONNECT_ON_DOWNSTREAM_TLS_HANDSHAKE,
};

struct tp_tunnel_cfg; /* core/tunnel/tunnel-t.h */

/* TcpProxy.WeightedCluster.ClusterWeight */
struct tp_weighted_cluster_cfg {
	char *name;
	uint32_t weight;
	int cluster_index; /* resolved by the loader; -1: unknown (no_route when picked) */
	struct tp_mstruct metadata_match; /* its own metadata_match (envoy.lb), as written */
	/* The criteria a host must match when this cluster is picked: metadata_match merged over
	 * TcpProxy.metadata_match (its values win), or TcpProxy's alone, as Envoy's
	 * WeightedClusterEntry has them. Set by check(). */
	struct tp_mstruct criteria;
	struct tp_cfg_mark name_mark;
};

enum tp_hash_policy {
	TP_HASH_NONE,
	TP_HASH_SOURCE_IP,    /* xxHash64 of the downstream remote address, without its port */
	TP_HASH_FILTER_STATE, /* xxHash64 of the filter-state object's string */
};

/* type.v3.HashPolicy, as written (oneof policy_specifier). */
struct tp_hash_policy_cfg {
	struct tp_cfg_mark source_ip; /* line 0: not given */
	struct {
		char *key;
	} filter_state;
	struct tp_cfg_mark filter_state_mark;
	struct tp_cfg_mark mark;
};

/* envoy.config.core.v3.ConfigSource, of the one kind tcpproxy reads: a file
 * (path_config_source, or the older path), watched with inotify (core/master/xds_file.h). */
struct tp_config_source_cfg {
	char *path;	   /* NULL: no source given */
	char *watched_dir; /* path_config_source.watched_directory.path, or NULL */
	char *path_old;	   /* the deprecated ConfigSource.path, copied into path by the post */
	int api_version;   /* resource_api_version: V3 is the only one */
	struct tp_cfg_mark mark; /* of the ConfigSource mapping */
	struct tp_cfg_mark path_mark;
};

/* envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy */
struct tp_tcp_proxy_cfg {
	char *stat_prefix;
	char *cluster;	   /* NULL when weighted_clusters is used */
	int cluster_index; /* into tp_config.clusters, resolved by the loader; -1 if none */
	struct tp_weighted_cluster_cfg *weighted_clusters; /* empty when cluster is used */
	size_t n_weighted_clusters;
	uint64_t total_weight;			  /* of weighted_clusters: 1..2^32-1 */
	struct tp_mstruct metadata_match;	  /* metadata_match.filter_metadata["envoy.lb"] */
	struct tp_hash_policy_cfg *hash_policies; /* as written: at most one */
	size_t n_hash_policies;
	enum tp_hash_policy hash;
	const char *hash_key;			       /* TP_HASH_FILTER_STATE: the object's key */
	int64_t idle_timeout_ms;		       /* default 1 h; 0 disables */
	int64_t max_downstream_connection_duration_ms; /* TP_DURATION_UNSET: none */
	uint32_t max_connect_attempts;		       /* default 1 */
	enum tp_upstream_connect_mode upstream_connect_mode;
	int64_t max_early_data_bytes;	       /* -1: unset */
	struct tp_access_log_cfg *access_logs; /* core/access_log-t.h */
	size_t n_access_logs;
	int64_t access_log_flush_interval_ms; /* TP_DURATION_UNSET: only at close */
	bool flush_access_log_on_connected;
	bool flush_access_log_on_start;
	struct tp_tunnel_cfg *tunnel; /* tunneling_config, or NULL: plain TCP upstream */
	/* backoff_options: the jittered exponential backoff between connect attempts (ms);
	 * base 0: not given, a retry starts at once */
	int64_t backoff_base_ms;
	int64_t backoff_max_ms;		     /* default 10 x base */
	struct tp_cfg_mark backoff_max_mark; /* of max_interval, for "below base_interval" */
	/* on_demand: clusters not known yet are waited for (core/conn/session.c), up to
	 * od_timeout_ms, from odcds_config, which must be the one CDS file (tcpproxy's extension:
	 * Envoy serves on-demand discovery from a delta-xDS control plane only) */
	struct tp_config_source_cfg odcds;
	char *od_locator; /* resources_locator: accepted, unused by a file source */
	int64_t od_timeout_ms;
	struct tp_cfg_mark od_mark;
	/* Not supported yet (rejected by the loader):
	 * max_downstream_connection_duration_jitter_percentage,
	 * proxy_protocol_tlvs, check_drain_close. */
	uint32_t stats_base;		 /* row of the tcp.<stat_prefix> scope; set by the master */
	struct tp_cfg_mark mark;	 /* of typed_config */
	struct tp_cfg_mark cluster_mark; /* for "unknown cluster" */
};

struct tp_filter_cfg {
	char *name; /* as written; only a label — the @type picks the implementation */
	const struct tp_filter_ops *ops;
	void *conf; /* what ops->parse returned */
	/* Where its per-connection state and its timer sit in the chain's part of a connection
	 * slot (tp_filter_chain_layout()); UINT32_MAX: it has none. */
	uint32_t state_off;
	uint32_t timer_off;
	struct tp_cfg_mark mark;
};

struct tp_filter_chain_cfg {
	char *name; /* optional label, as Envoy's FilterChain.name (%FILTER_CHAIN_NAME%) */
	struct tp_filter_cfg *filters;
	size_t n_filters;
	uint32_t state_bytes; /* the filters' per-connection state and timers, all together */
	struct tp_transport_cfg transport; /* its transport_socket toward the client */
	struct tp_fcm_cfg match;	   /* filter_chain_match; all zero: matches anything */
	struct tp_cfg_mark mark;
	struct tp_cfg_mark match_mark; /* line 0: no filter_chain_match */
	/* transport_socket_connect_timeout: how long the client's handshake may take; 0: none */
	int64_t transport_socket_connect_timeout_ms;
};

/* A listener filter (core/filter-t.h's tp_listener_filter_ops) as configured. */
struct tp_listener_filter_cfg {
	char *name;
	const struct tp_listener_filter_ops *ops;
	void *conf;
	uint32_t max_read_bytes; /* ops->read_limit(conf), or ops->max_read_bytes */
	uint32_t state_off; /* its per-connection state in the slot (tp_listener_filter_layout) */
	struct tp_cfg_mark mark;
	struct tp_cfg_mark name_mark;
};

struct tp_listener_cfg {
	char *name;
	struct tp_sockaddr addr;
	uint32_t per_connection_buffer_limit_bytes; /* default 1 MiB */
	/* filter_chains, then default_filter_chain (if given) last: every chain a connection may
	 * take, for whatever walks them all */
	struct tp_filter_chain_cfg *filter_chains;
	size_t n_filter_chains;
	bool has_default_chain;			 /* the last of filter_chains is the default */
	struct tp_chain_matcher *matcher;	 /* NULL: filter_chains[0] takes every connection */
	struct tp_filter_chain_cfg *default_tmp; /* default_filter_chain while decoding */
	/* Run in order on the stream's first bytes before the chain is chosen. */
	struct tp_listener_filter_cfg *listener_filters;
	size_t n_listener_filters;
	uint32_t lfilter_state_bytes;	       /* their per-connection state, all together */
	int64_t listener_filters_timeout_ms;   /* default 15 s; 0: none */
	struct tp_access_log_cfg *access_logs; /* Listener.access_log (core/accesslog) */
	size_t n_access_logs;
	bool continue_on_listener_filters_timeout;
	uint32_t stats_base; /* row of the listener.<address> scope; set by the master */
	struct tp_cfg_mark mark;
	struct tp_cfg_mark name_mark; /* line 0 when the name defaulted to the address text */
	struct tp_cfg_mark addr_mark; /* for "address already used by listener ..." */
};

struct tp_admin_cfg {
	bool enabled;
	struct tp_sockaddr addr;
};

/* Problems found while loading, each "FILE:LINE:COL: dotted.path: reason", kept sorted by
 * line then column (stable), which is file order. A warning ("dotted.path: warning: reason")
 * is a problem Envoy loads anyway: it is reported and does not fail the load. */
struct tp_cfg_errors {
	char **lines;
	size_t n, cap;
	struct tp_cfg_mark *marks; /* marks[i] is where lines[i] points; line 0: the whole file */
	bool *warning;		   /* warning[i]: lines[i] is a warning */
	size_t n_warnings;	   /* of n */
};

struct tp_config {
	char *path;
	struct tp_listener_cfg *listeners;
	size_t n_listeners;
	struct tp_cluster_cfg *clusters;
	size_t n_clusters;
	struct tp_admin_cfg admin;
	unsigned format_needs;	  /* what configured formats read (enum tp_fmt_need) */
	uint32_t n_transport_ctx; /* transports with a per-worker context (tp_transport_cfg.idx) */
	struct tp_tls_secrets *tls_secrets; /* static_resources.secrets (core/tls/tls-t.h) */
	char **access_log_paths;   /* each access log file once; tp_access_log_cfg.file indexes */
	size_t n_access_log_paths; /* (filters' check() fill both) */
	/* dynamic_resources: CDS and LDS from a file */
	struct tp_config_source_cfg cds;
	struct tp_config_source_cfg lds;
	/* An LDS overlay (tp_lds_decode()) shares everything but its listeners with its base, and
	 * the base's access_log_paths are the first n_base_log_paths of its own. */
	bool lds_overlay;
	size_t n_base_log_paths;
	char *dump; /* the file as loaded, as JSON, secrets redacted (/config_dump) */
	size_t dump_len;
	uint64_t loaded_unix_ms; /* when it was loaded */
};

#endif

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
};

enum tp_lb_policy {
	TP_LB_ROUND_ROBIN,
	TP_LB_RANDOM,
	TP_LB_LEAST_REQUEST,
};

enum tp_cluster_type {
	TP_CLUSTER_STATIC,
};

/* A side's transport_socket as configured: which transport (core/conn/transport-t.h) and its
 * settings. */
struct tp_transport_cfg {
	const struct tp_transport_ops *ops; /* NULL: raw_buffer */
	void *conf;			    /* what ops->parse made of its typed_config */
	uint32_t idx; /* which of a worker's per-configuration contexts it uses (ctx_new) */
};

struct tp_endpoint_cfg {
	struct tp_sockaddr addr;
	uint32_t weight;     /* load_balancing_weight, default 1 */
	uint32_t stats_base; /* row of the host.<cluster>::<address> scope; set by the master */
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
	struct tp_transport_cfg transport; /* its transport_socket toward the hosts */
	uint32_t stats_base; /* row of the cluster.<name> scope; set by the master before fork */
	struct tp_cfg_mark mark;
	struct tp_cfg_mark name_mark; /* for "duplicate cluster name" */
};

enum tp_upstream_connect_mode {
	TP_CONNECT_IMMEDIATE,
	TP_CONNECT_ON_DOWNSTREAM_DATA,
	TP_CONNECT_ON_DOWNSTREAM_TLS_HANDSHAKE,
};

struct tp_weighted_cluster_cfg {
	char *name;
	uint32_t weight;
	int cluster_index;
};

/* envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy */
struct tp_tcp_proxy_cfg {
	char *stat_prefix;
	char *cluster;	   /* NULL when weighted_clusters is used */
	int cluster_index; /* into tp_config.clusters, resolved by the loader; -1 if none */
	struct tp_weighted_cluster_cfg *weighted_clusters; /* not supported yet: always empty */
	size_t n_weighted_clusters;
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
	/* Not supported yet (rejected by the loader): on_demand, metadata_match,
	 * backoff_options, hash_policy, tunneling_config, max_downstream_connection_duration_
	 * jitter_percentage, proxy_protocol_tlvs, check_drain_close. */
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
	char *dump; /* the file as loaded, as JSON, secrets redacted (/config_dump) */
	size_t dump_len;
	uint64_t loaded_unix_ms; /* when it was loaded */
};

#endif

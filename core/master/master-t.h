/* What the master shows its services (stats socket, admin endpoint): kept current by the
 * master, read by the services from the same process. */
#ifndef TP_MASTER_T_H
#define TP_MASTER_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tp_stats;
struct tp_config;
struct tp_cluster_cfg;
struct tp_sockaddr;

/* The live connection view as the master assembled it from its workers' snapshots: every
 * string is the master's own (names from its configuration, addresses it formatted). */
struct tp_conn_entry {
	uint64_t id;
	uint64_t age_ms;
	uint64_t idle_ms;
	uint64_t rx_bytes;	/* from downstream */
	uint64_t tx_bytes;	/* to downstream */
	uint64_t buffered_up;	/* read from downstream, not yet written upstream */
	uint64_t buffered_down; /* read from upstream, not yet written downstream */
	uint32_t epoch;		/* its worker: generation and slot */
	unsigned slot;
	int pid;
	const char *gen_state; /* "serving", "draining", "closing" */
	const char *phase;     /* "listener_filters", "filters", "connecting", "handshake",
				* "relay", "flushing" */
	const char *listener;  /* names, "" when none yet */
	const char *cluster;
	char down_remote[64]; /* "127.0.0.1:5000", "[::1]:5000", "" when unknown */
	char down_local[64];
	char up_local[64];
	char host[64];
};

struct tp_conn_worker {
	uint32_t epoch;
	unsigned slot;
	int pid;
	const char *gen_state;
	bool answered;
	uint32_t n;	     /* its sessions listed */
	uint32_t truncated;  /* left out past its limit */
	const char *problem; /* why it is missing: no answer, a malformed snapshot; or NULL */
};

struct tp_conn_list {
	struct tp_conn_entry *v;
	size_t n;
	struct tp_conn_worker *workers;
	size_t n_workers;
};

/* Called once the workers have answered (or the time to answer is over); list is valid until
 * it returns. */
typedef void (*tp_conns_fn)(void *arg, const struct tp_conn_list *list);

/* A dynamic cluster's host as /clusters shows it. */
struct tp_admin_host {
	const char *hostname; /* the name it was resolved from ("" for a static host) */
	uint32_t health;      /* TP_HOST_F_* */
	uint32_t weight;
	uint32_t priority;
};

/* What the admin routes that change the server ask the master to do (POST /drain_listeners,
 * /healthcheck/fail and /healthcheck/ok). ctx is the master. */
struct tp_master_ops {
	/* Every listener stops accepting and every serving generation drains as on SIGTERM, but
	 * the master stays up. graceful: keep accepting for --drain-time-s first. */
	void (*drain_listeners)(void *ctx, bool graceful);
	/* Envoy's health check failure: /ready answers 503 DRAINING and server.state is 1. */
	void (*healthcheck)(void *ctx, bool fail);
	/* Asks every worker for its sessions; fn(arg, list) runs when they have answered, within
	 * a bounded time. 0 or -ENOMEM. */
	int (*connections)(void *ctx, tp_conns_fn fn, void *arg);
	/* arg no longer wants its answer (its client went away). */
	void (*connections_cancel)(void *ctx, void *arg);
	/* The serving generation's host "<address:port>" of a DNS cluster: true and *out filled
	 * when it is in the cluster's current host set. */
	bool (*host_info)(void *ctx, const char *cluster, const char *host,
			  struct tp_admin_host *out);
};

/* An LDS listener as /listeners shows it (core/master/lds.c). */
struct tp_admin_listener {
	const char *name;
	const struct tp_sockaddr *addr;
};

struct tp_master_view {
	struct tp_stats *stats;
	const struct tp_config *cfg; /* the serving generation's configuration */
	unsigned concurrency;
	unsigned base_id;
	uint64_t start_unix_ms;
	uint32_t epoch;		/* server.hot_restart_epoch: successful reloads so far */
	unsigned workers_live;	/* workers of the serving generation that are up and ready */
	const char *state;	/* Envoy's server state: "LIVE", "DRAINING", "INITIALIZING" */
	bool health_failed;	/* POST /healthcheck/fail (until /healthcheck/ok) */
	bool listeners_drained; /* POST /drain_listeners */
	unsigned drain_time_s;
	const char *log_level;
	const char *stats_socket;
	const struct tp_master_ops *ops;
	void *ctx;
	uint64_t reloads_failed;
	uint64_t last_reload_unix_ms; /* 0: never reloaded */
	bool last_reload_ok;
	char last_reload_error[256];
	/* CDS (core/master/cds.c): the dynamic clusters now, each with its resource as JSON and
	 * when it last changed; version_info of the set accepted last ("" before any) */
	bool cds_enabled;
	const char *cds_version_info;
	uint64_t cds_updated_unix_ms;
	const struct tp_cluster_cfg **cds_clusters;
	const char **cds_json;
	const char **cds_versions; /* each one's version_info: the update that last changed it */
	const uint64_t *cds_updated_ms;
	size_t n_cds_clusters;
	/* LDS (core/master/lds.c): the dynamic listeners, and their part of /config_dump's
	 * ListenersConfigDump ("version_info":...,"dynamic_listeners":[...]), or NULL */
	const struct tp_admin_listener *lds_listeners;
	size_t n_lds_listeners;
	const char *lds_dump;
};

#endif

/* The network filter contract, after Envoy's ReadFilter: each filter is one const ops table. */
#ifndef TP_FILTER_T_H
#define TP_FILTER_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tp_conn;
struct tp_config;
struct tp_cfg_ctx;
struct tp_ynode;
struct tp_stats;

enum tp_filter_status {
	TP_FILTER_CONTINUE, /* go on to the next filter */
	TP_FILTER_STOP, /* hold the chain (and the upstream connect) until the filter resumes it */
};

/* The most workers a generation has (--concurrency's limit): memory shared across workers can
 * then give each worker slot its own part. */
#define TP_MAX_WORKERS 256

struct tp_filter_ops {
	const char *name;     /* Envoy's canonical name, e.g. envoy.filters.network.tcp_proxy */
	const char *type_url; /* the typed_config "@type" that selects this filter */
	bool terminal;	      /* must stand last in its chain (tcp_proxy) */

	/* Decodes typed_config (the whole mapping, "@type" included) into a new config object.
	 * Problems are reported through ctx; may return NULL only after reporting one. */
	void *(*parse)(struct tp_cfg_ctx *ctx, const struct tp_ynode *typed_config);
	/* Cross-reference checks once the whole file is read (named clusters exist, ...). */
	void (*check)(struct tp_cfg_ctx *ctx, struct tp_config *cfg, void *conf);
	void (*free)(void *conf);
	/* In the master, before a generation forks: registers the filter's stats scopes and
	 * keeps their bases in conf. */
	int (*register_stats)(void *conf, struct tp_stats *st);
	/* Bytes of memory shared by every worker of a generation (counters across workers);
	 * the master maps them and hands each filter instance its part before forking. */
	size_t shared_bytes;
	void (*bind_shared)(void *conf, void *mem);
	/* In a worker, each time one starts in slot (0..n_slots-1, n_slots <= TP_MAX_WORKERS), a
	 * restart included, before it accepts: a restarted worker takes over what its dead
	 * predecessor left in the shared memory. */
	void (*worker_start)(const void *conf, unsigned slot, unsigned n_slots);

	/* Runtime, in a worker. Envoy's onNewConnection and onData. */
	enum tp_filter_status (*on_new_connection)(struct tp_conn *c, const void *conf);
	enum tp_filter_status (*on_data)(struct tp_conn *c, const void *conf, const uint8_t *data,
					 size_t len, bool end_stream);
	/* The connection is closing; called for every filter whose on_new_connection ran. */
	void (*on_close)(struct tp_conn *c, const void *conf);
};

#endif

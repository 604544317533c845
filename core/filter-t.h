/* The network filter contract, after Envoy's ReadFilter: each filter is one const ops table.
 *
 * A filter's runtime callbacks receive a struct tp_filter_call naming the worker, the connection,
 * the filter's config and its per-connection state. The connection is opaque to filters: what
 * they may read and set is in core/filter_api.h, and nothing else. */
#ifndef TP_FILTER_T_H
#define TP_FILTER_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tp_conn;
struct tp_worker;
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

/* What a runtime callback is called with. */
struct tp_filter_call {
	struct tp_worker *w;
	struct tp_conn *c;
	const void *conf; /* what ops->parse returned */
	void *state;	  /* ops->state_size bytes kept with the connection, zeroed at accept;
			   * NULL when state_size is 0 */
	uint32_t idx;	  /* the filter's position in its chain */
};

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

	/* Per-connection state, carved from the connection's slot (never malloc'd per
	 * connection) and zeroed at accept: f->state in every callback. */
	size_t state_size;

	/* Runtime, in a worker. Envoy's onNewConnection and onData. */
	enum tp_filter_status (*on_new_connection)(const struct tp_filter_call *f);
	enum tp_filter_status (*on_data)(const struct tp_filter_call *f, const uint8_t *data,
					 size_t len, bool end_stream);
	/* The filter's own timer (tp_filter_timer_arm) expired. A filter that arms one must
	 * have this. */
	void (*on_timer)(const struct tp_filter_call *f);
	/* The connection is closing; called for every filter whose on_new_connection ran. The
	 * filter's timer is cancelled after it. */
	void (*on_close)(const struct tp_filter_call *f);
};

/* Listener filters (Envoy's ListenerFilter): they run before the filter chain is chosen, on the
 * first bytes of the stream peeked without consuming them (tls_inspector reads the ClientHello).
 * Their findings pick the chain; the chain's transport then reads the same bytes. */
enum tp_lfilter_status {
	TP_LFILTER_CONTINUE,  /* done with this connection: the next listener filter runs */
	TP_LFILTER_NEED_MORE, /* peek again once more bytes arrive */
	TP_LFILTER_CLOSE,     /* reject the connection (the filter counted why) */
};

struct tp_listener_filter_ops {
	const char *name; /* Envoy's canonical name, e.g. envoy.filters.listener.tls_inspector */
	const char
		*legacy_name; /* the older name Envoy still takes (envoy.listener.tls_inspector) */
	const char *type_url;
	/* Decodes typed_config into a new config object. typed_config is NULL when the filter was
	 * named without one (Envoy picks a listener filter by name then): its defaults. */
	void *(*parse)(struct tp_cfg_ctx *ctx, const struct tp_ynode *typed_config);
	void (*free)(void *conf);
	int (*register_stats)(void *conf, struct tp_stats *st);
	/* The most bytes from the stream's start it may look at (Envoy's maxReadBytes): it sizes
	 * the worker's peek buffer. With that many peeked and still NEED_MORE, the connection is
	 * closed. */
	size_t max_read_bytes;
	/* This configuration's limit, at most max_read_bytes (tls_inspector's
	 * max_client_hello_size); NULL: max_read_bytes. */
	size_t (*read_limit)(const void *conf);
	/* Per-connection state, carved from the slot and zeroed at accept (it shares the room the
	 * network filters' state takes once the chain is chosen). */
	size_t state_size;
	/* The bytes peeked so far, always from the stream's start; end_stream: the peer has
	 * closed and no more will come. f->state: state_size bytes, or NULL. */
	enum tp_lfilter_status (*on_data)(const struct tp_filter_call *f, const uint8_t *data,
					  size_t len, bool end_stream);
};

#endif

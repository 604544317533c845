/* Network filters tcpproxy knows, found by the typed_config "@type" that selects them. */
#ifndef TP_FILTER_H
#define TP_FILTER_H

#include "core/base/timer-t.h"
#include "core/filter-t.h"

struct tp_filter_chain_cfg;
struct tp_listener_cfg;

/* Every filter's ops table; filters/registry.c lists them once. */
extern const struct tp_filter_ops tp_filter_tcp_proxy;
extern const struct tp_filter_ops tp_filter_connection_limit;
extern const struct tp_filter_ops tp_filter_set_filter_state;
extern const struct tp_filter_ops tp_filter_sni_cluster;
extern const struct tp_filter_ops tp_filter_set_dynamic_metadata;

/* The filter whose type_url names the same message as type_url, or NULL. As Envoy, only the
 * message name after the last '/' counts ("type.googleapis.com/" is the usual prefix). */
const struct tp_filter_ops *tp_filter_find_by_type_url(const char *type_url);

/* Every listener filter's ops table, listed once in filters/registry.c. */
extern const struct tp_listener_filter_ops tp_lfilter_tls_inspector;

/* The listener filter whose type_url names the same message as type_url, or NULL. */
const struct tp_listener_filter_ops *tp_listener_filter_find_by_type_url(const char *type_url);
/* The listener filter Envoy knows by name (canonical or legacy), or NULL. */
const struct tp_listener_filter_ops *tp_listener_filter_find_by_name(const char *name);
/* Envoy's canonical name of a listener filter tcpproxy does not have, when name is one of its
 * names or type_url its message (envoy.filters.listener.proxy_protocol, ...); NULL otherwise. */
const char *tp_listener_filter_envoy_only(const char *name, const char *type_url);
/* "envoy.filters.listener.tls_inspector": the listener filters tcpproxy has, for messages. */
const char *tp_listener_filter_names(void);

/* Every part of a connection slot (the connection, transport states, filter states, its info)
 * starts on a multiple of this. */
#define TP_SLOT_ALIGN 16

static inline uint32_t tp_slot_round(size_t n)
{
	return (uint32_t)((n + TP_SLOT_ALIGN - 1) & ~(size_t)(TP_SLOT_ALIGN - 1));
}

/* A filter's timer on one connection, placed in the slot by tp_filter_chain_layout(). */
struct tp_filter_timer {
	struct tp_timer t;
	struct tp_conn *c;
	uint32_t idx; /* the filter's position in the chain */
};

/* Places each filter's per-connection state and timer in the chain's part of a connection slot
 * (state_off, timer_off, state_bytes); the config loader calls it for every chain. */
void tp_filter_chain_layout(struct tp_filter_chain_cfg *ch);
/* Places each listener filter's per-connection state (state_off, lfilter_state_bytes) in the
 * same part of the slot: the listener filters are done before the chain's filters start. */
void tp_listener_filter_layout(struct tp_listener_cfg *l);

#endif

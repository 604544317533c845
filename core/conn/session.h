/* The tcp_proxy session: route, upstream connect with retries, the upstream's handshake,
 * timeouts, and the hand-off to the relay. */
#ifndef TP_SESSION_H
#define TP_SESSION_H

#include "core/conn/conn-t.h"
#include "core/filter_api.h"
#include "core/worker/worker-t.h"

struct tp_stats;

/* tcp_proxy's onNewConnection and onData, as a filter (filters/tcp_proxy.c). */
enum tp_filter_status tp_proxy_on_new_connection(const struct tp_filter_call *f);
enum tp_filter_status tp_proxy_on_data(const struct tp_filter_call *f, const uint8_t *data,
				       size_t len, bool end_stream);
/* Master, before forking a generation: the tcp.<stat_prefix> scope. */
int tp_proxy_register_stats(void *conf, struct tp_stats *st);

/* A new connection's chain is chosen, before its filters run: what Envoy's tcp_proxy sets up
 * when it is created with the connection (read early if max_early_data_bytes is set; addresses
 * for formats). */
void tp_session_on_accept(struct tp_worker *w, struct tp_conn *c);
/* The connection's timer, in every phase from the filters on: max_downstream_connection_
 * duration, idle_timeout, periodic access log entries, the upstream handshake's deadline. */
void tp_session_on_timer(struct tp_worker *w, struct tp_conn *c);
/* A CDS update was applied: each connection waiting for an on-demand cluster proceeds if its
 * cluster is in it, else ends as missing (Envoy's ClusterDiscoveryStatus::Missing). */
void tp_session_cds_applied(struct tp_worker *w);
/* The slot of c is being freed: a wait for an on-demand cluster ends with it. */
void tp_session_od_forget(struct tp_worker *w, struct tp_conn *c);
/* The upstream connect completed with res (0 or -errno; -ECANCELED: connect_timeout). */
void tp_session_on_connect(struct tp_worker *w, struct tp_conn *c, int res);
/* Side s's transport finished its handshake with res (0, or -errno: it failed). */
void tp_session_on_handshake(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s, int res);
/* A poll of a closed side has ended: a retry that waited for it can connect now. */
void tp_session_poll_settled(struct tp_worker *w, struct tp_conn *c);

/* Circuit breakers: a worker starting in its slot zeroes its counters there (its predecessor's
 * connections died with it). */
void tp_session_cb_worker_start(struct tp_worker *w, const struct tp_cluster_cfg *cl);
/* The connection's upstream is gone: what it counted in its cluster's circuit breaker is given
 * back. Idempotent. */
void tp_session_cb_release(struct tp_worker *w, struct tp_conn *c);

#endif

/* The tcp_proxy session: route, upstream connect with retries, relay, timeouts, close. */
#ifndef TP_PROXY_H
#define TP_PROXY_H

#include "core/filter-t.h"

/* Filter-state keys tcp_proxy reads (Envoy's names). */
#define TP_KEY_CLUSTER	     "envoy.tcp_proxy.cluster"
#define TP_KEY_IDLE_TIMEOUT  "envoy.tcp_proxy.per_connection_idle_timeout_ms"
#define TP_KEY_RECEIVE_EARLY "envoy.tcp_proxy.receive_before_connect"
#define TP_KEY_NO_TUNNELING  "envoy.tcp_proxy.disable_tunneling" /* for tunneling_config */

/* tcp_proxy's onNewConnection: picks the route and starts (or defers) the upstream connect. */
enum tp_filter_status tp_proxy_on_new_connection(struct tp_conn *c, const void *conf);
enum tp_filter_status tp_proxy_on_data(struct tp_conn *c, const void *conf, const uint8_t *data,
				       size_t len, bool end_stream);

struct tp_worker;
struct tp_stats;

/* Master, before forking a generation: the tcp.<stat_prefix> scope. */
int tp_proxy_register_stats(void *conf, struct tp_stats *st);

/* The connection's timer expired: max_downstream_connection_duration or idle_timeout. */
void tp_session_on_timer(struct tp_worker *w, struct tp_conn *c);
/* The upstream connect completed with res (0 or -errno; -ECANCELED: connect_timeout). */
void tp_session_on_connect(struct tp_worker *w, struct tp_conn *c, int res);
/* A new connection, before its filters run: what Envoy's tcp_proxy sets up when it is created
 * with the connection (read early if max_early_data_bytes is set; addresses for formats). */
void tp_session_on_accept(struct tp_worker *w, struct tp_conn *c);
/* For the TLS transport: the downstream handshake of a connection with TP_CF_DOWN_TLS is
 * done; ON_DOWNSTREAM_TLS_HANDSHAKE connects now. */
void tp_session_on_tls_handshake(struct tp_worker *w, struct tp_conn *c);

#endif

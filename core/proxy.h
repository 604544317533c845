/* The tcp_proxy session: route, upstream connect with retries, relay, timeouts, close. */
#ifndef TP_PROXY_H
#define TP_PROXY_H

#include "core/filter-t.h"

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

#endif

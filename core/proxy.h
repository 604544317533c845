/* The tcp_proxy session: route, upstream connect with retries, relay, timeouts, close. */
#ifndef TP_PROXY_H
#define TP_PROXY_H

#include "core/filter-t.h"

/* tcp_proxy's onNewConnection: picks the route and starts (or defers) the upstream connect. */
enum tp_filter_status tp_proxy_on_new_connection(struct tp_conn *c, const void *conf);
enum tp_filter_status tp_proxy_on_data(struct tp_conn *c, const void *conf, const uint8_t *data,
				       size_t len, bool end_stream);

#endif

/* Network filters tcpproxy knows, found by the typed_config "@type" that selects them. */
#ifndef TP_FILTER_H
#define TP_FILTER_H

#include "core/filter-t.h"

/* Every filter's ops table; filters/registry.c lists them once. */
extern const struct tp_filter_ops tp_filter_tcp_proxy;
extern const struct tp_filter_ops tp_filter_connection_limit;
extern const struct tp_filter_ops tp_filter_set_filter_state;

/* The filter whose type_url names the same message as type_url, or NULL. As Envoy, only the
 * message name after the last '/' counts ("type.googleapis.com/" is the usual prefix). */
const struct tp_filter_ops *tp_filter_find_by_type_url(const char *type_url);

#endif

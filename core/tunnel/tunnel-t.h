/* Types of HTTP tunnels (TCP over HTTP CONNECT or POST): tcp_proxy's tunneling_config as loaded,
 * and the per-connection state of the tunnel transports. */
#ifndef TP_TUNNEL_T_H
#define TP_TUNNEL_T_H

#include "core/config/config-t.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tp_format;

/* HeaderValueOption.append_action */
enum tp_header_action {
	TP_HDR_APPEND_IF_EXISTS_OR_ADD,
	TP_HDR_ADD_IF_ABSENT,
	TP_HDR_OVERWRITE_IF_EXISTS_OR_ADD,
	TP_HDR_OVERWRITE_IF_EXISTS,
};

/* One of headers_to_add: a name (lower case, as HTTP/2 sends it) and a command-operator
 * format rendered per connection. */
struct tp_tunnel_header {
	char *name;
	struct tp_format *value;
	int action; /* enum tp_header_action */
	bool keep_empty_value;
	/* decoding only */
	bool append_set, append;
	struct tp_cfg_mark mark;
};

/* envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.TunnelingConfig */
struct tp_tunnel_cfg {
	struct tp_format *hostname; /* rendered per connection: the CONNECT target, :authority */
	bool use_post;
	char *post_path; /* default "/" */
	struct tp_tunnel_header *headers;
	size_t n_headers;
	bool propagate_response_headers;
	bool propagate_response_trailers;
	/* request_id_extension (Envoy's UUID extension, the only one): each attempt's request
	 * carries a fresh UUID v4 under request_id_header (default x-request-id), also kept in the
	 * dynamic metadata envoy.filters.network.tcp_proxy:<request_id_metadata_key>. */
	bool request_id;
	char *request_id_header;       /* lower case */
	char *request_id_metadata_key; /* default tunnel_request_id */
	struct tp_cfg_mark request_id_header_mark;
	struct tp_cfg_mark mark;
	struct tp_cfg_mark post_path_mark;
};

/* The longest request head a tunnel sends (hostname, path and headers_to_add rendered); a
 * longer one fails the attempt. */
#define TP_TUNNEL_REQUEST_MAX (16u * 1024u)
/* A rendered header value (or hostname) longer than this is cut, as set_filter_state cuts. */
#define TP_TUNNEL_VALUE_MAX 4096u

/* Filter-state keys a tunnel writes (Envoy's names), when tunneling_config asks. */
#define TP_KEY_TUNNEL_HEADERS  "envoy.tcp_proxy.propagate_response_headers"
#define TP_KEY_TUNNEL_TRAILERS "envoy.tcp_proxy.propagate_response_trailers"
/* The dynamic metadata namespace of a tunnel's request ID (Envoy's). */
#define TP_NS_TCP_PROXY "envoy.filters.network.tcp_proxy"

#endif

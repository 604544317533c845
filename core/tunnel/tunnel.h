/* HTTP tunnels: a downstream TCP connection carried as an HTTP CONNECT (or POST) to an HTTP proxy,
 * as Envoy's tunneling_config does. The tunnel is the upstream side's transport, layered over the
 * cluster's own (raw or TLS) for HTTP/1.1; for HTTP/2 a stream on a connection the worker shares
 * (core/tunnel/h2.c). */
#ifndef TP_TUNNEL_H
#define TP_TUNNEL_H

#include "core/conn/conn-t.h"
#include "core/tunnel/tunnel-t.h"
#include "core/worker/worker-t.h"

#include <stdbool.h>
#include <stddef.h>

/* HTTP/1.1 CONNECT or POST over the cluster's transport: the handshake writes the request head
 * and reads the response head (any 2xx accepts); then raw bytes (CONNECT) or chunked ones (POST). */
extern const struct tp_transport_ops tp_transport_tunnel_h1;

/* A rendered request: the authority (the formatted hostname) and headers_to_add, each rendered
 * and checked (no control characters), in one allocation. */
struct tp_tunnel_request {
	const char *authority;
	size_t authority_len;
	uint32_t max_headers; /* the cluster's max_headers_count, for the answer */
	size_t n;
	struct {
		const char *name, *value;
		size_t name_len, value_len;
	} h[];
};

/* The tunnel state a side may hold beside its lower transport's: what a slot must make room for
 * when a tcp_proxy tunnels (core/worker/worker.c). */
size_t tp_tunnel_state_size(void);

/* This connection's next attempt tunnels: its tcp_proxy has tunneling_config and the filter
 * state envoy.tcp_proxy.disable_tunneling is not true. */
bool tp_tunnel_wanted(const struct tp_conn *c);
/* Renders the request for this connection (malloc'd; free() it), or NULL: -EINVAL in *err when
 * a value holds a control character or the request is too long, -ENOMEM. */
struct tp_tunnel_request *tp_tunnel_request_render(const struct tp_worker *w,
						   const struct tp_conn *c, int *err);

/* Session hooks (core/conn/session.c), when c->tunneling: an attempt starts (counts the request
 * and the connection of its HTTP version); its upstream side is opened as a tunnel on fd (HTTP/1:
 * 0 or -errno); the handshake accepted (stats of the response code, %RESPONSE_CODE%, the
 * propagated response headers, then plain socket ops where the tunnel allows); an attempt failed
 * (before its side is closed: the response code, if one came, for logs and stats). */
void tp_tunnel_attempt(struct tp_worker *w, struct tp_conn *c);
int tp_tunnel_open_h1(struct tp_worker *w, struct tp_conn *c, int fd);
void tp_tunnel_ready(struct tp_worker *w, struct tp_conn *c);
void tp_tunnel_failed(struct tp_worker *w, struct tp_conn *c);

/* The HTTP/1.1 transport's view for the session: the status its handshake read (0: none); the
 * response head while it is held; and the settling once the head has been used (the head freed,
 * and a CONNECT over a raw socket with nothing held handed back to the raw transport). */
unsigned tp_tunnel_h1_status(const struct tp_side *s);
const uint8_t *tp_tunnel_h1_head(const struct tp_side *s, size_t *len);
void tp_tunnel_h1_settle(struct tp_side *s);

/* Counts an HTTP response code in the cluster's upstream_rq_<code> and _<N>xx. */
void tp_tunnel_count_status(struct tp_worker *w, const struct tp_conn *c, unsigned status);

#endif

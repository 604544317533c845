/* HTTP/2 tunnels: each tunnel a stream on an upstream HTTP/2 connection the worker shares per
 * cluster host (nghttp2 does the framing and the flow control). */
#ifndef TP_TUNNEL_H2_H
#define TP_TUNNEL_H2_H

#include "core/conn/conn-t.h"
#include "core/worker/worker-t.h"

#include <liburing.h>

/* The stream transport: the upstream side of a tunnelling connection, without a socket. */
extern const struct tp_transport_ops tp_transport_tunnel_h2;

/* Opens the upstream side of c (its cluster and host chosen, c->tunnel_h2 set) as a stream on a
 * connection to its host with room for one more, made if none has. The side then handshakes
 * (the answer's headers) as any upstream transport does. 0, or -errno. */
int tp_h2_open_stream(struct tp_worker *w, struct tp_conn *c);
/* A completion of a shared connection's own op (TP_OP_H2). */
void tp_h2_on_cqe(struct tp_worker *w, const struct io_uring_cqe *cqe);
/* cl left the worker's CDS table (replaced or removed): its shared connections take no new
 * stream and close once their streams are done; an idle one closes now. */
void tp_h2_retire_cluster(struct tp_worker *w, const struct tp_cluster_rt *cl);
/* The worker stops: every shared connection is closed and freed (their streams are gone). */
void tp_h2_pool_destroy(struct tp_worker *w);
/* Shared connections open in this worker (tests). */
unsigned tp_h2_connections(const struct tp_worker *w);

#endif

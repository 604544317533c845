/* The transports tcpproxy has, and how a side of a connection gets one. */
#ifndef TP_TRANSPORT_H
#define TP_TRANSPORT_H

#include "core/conn/transport-t.h"

/* The socket itself: recv, send, shutdown(SHUT_WR). A short read means the socket is drained
 * (unless its FIN was announced); the end of stream is the peer's FIN. */
extern const struct tp_transport_ops tp_transport_raw;

#endif

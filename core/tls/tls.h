/* The TLS transport socket (envoy.transport_sockets.tls) on wolfSSL: a filter chain's
 * DownstreamTlsContext terminates TLS from clients, a cluster's UpstreamTlsContext originates it
 * towards hosts. Both plug into the transport seam (core/conn/transport-t.h); the loader finds
 * them by name or typed_config @type, and static_resources.secrets by these rows. */
#ifndef TP_TLS_H
#define TP_TLS_H

#include "core/conn/transport-t.h"
#include "core/tls/tls-t.h"

struct tp_cfg_field;

#define TP_TLS_NAME	       "envoy.transport_sockets.tls"
#define TP_TLS_DOWNSTREAM_TYPE "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
#define TP_TLS_UPSTREAM_TYPE   "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"

extern const struct tp_transport_ops tp_transport_tls_server; /* DownstreamTlsContext */
extern const struct tp_transport_ops tp_transport_tls_client; /* UpstreamTlsContext */

/* Whether a TLS side holds ciphertext the socket has not taken (its tx buffer): what an idle
 * connection must not (tests, diagnostics). */
bool tp_tls_holds_tx(const struct tp_side *s);

/* One line naming the TLS library and whether AES-GCM runs on AES-NI here (tcpproxy --version):
 * which cipher order the server uses follows from it (docs/envoy-compat.md). */
const char *tp_tls_library_line(void);

/* An UpstreamTlsContext with no alpn_protocols offers `proto` (one name): what Envoy's HTTP
 * connection pools give as the ALPN fallback, "h2" for a cluster that speaks HTTP/2 to its hosts.
 * Configured names win. 0, or -ENOMEM. */
int tp_tls_default_alpn(void *conf, const char *proto);

/* static_resources.secrets, a TP_CFG_CUSTOM row over a struct tp_tls_secrets * at f->off:
 * each Secret's certificates, keys and CAs are read now. */
int tp_tls_secrets_decode(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			  const struct tp_ynode *v, void *obj);
void tp_tls_secrets_free(const struct tp_cfg_field *f, void *obj);

#endif

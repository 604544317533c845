/* A cluster's HTTP protocol options: which HTTP an HTTP tunnel speaks to its hosts, and the few
 * HTTP/2 settings tcpproxy serves (envoy.extensions.upstreams.http.v3.HttpProtocolOptions, and the
 * cluster fields it deprecated). */
#ifndef TP_HTTP_PROTO_H
#define TP_HTTP_PROTO_H

#include "core/config/cfg_schema-t.h"
#include "core/config/config-t.h"

#define TP_HTTP_PROTO_TYPE "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

/* Custom decoders of the cluster rows: typed_extension_protocol_options, and the deprecated
 * http2_protocol_options, http_protocol_options and common_http_protocol_options. obj is the
 * struct tp_cluster_cfg. */
int tp_http_proto_decode_typed(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			       const struct tp_ynode *v, void *obj);
int tp_http_proto_decode_h2(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			    const struct tp_ynode *v, void *obj);
int tp_http_proto_decode_h1(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			    const struct tp_ynode *v, void *obj);
int tp_http_proto_decode_common(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
				const struct tp_ynode *v, void *obj);
/* From the cluster's post: the deprecated fields beside HttpProtocolOptions are refused, as
 * Envoy refuses them; unset values take their defaults. */
void tp_http_proto_post(struct tp_cfg_ctx *ctx, struct tp_cluster_cfg *c);
/* Fills what is still zero with Envoy's defaults. */
void tp_http_proto_defaults(struct tp_http_proto_cfg *h);

#endif

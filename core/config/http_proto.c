/* HttpProtocolOptions on a cluster: the HTTP version an HTTP tunnel speaks (explicit_http_config:
 * http_protocol_options is HTTP/1.1, http2_protocol_options HTTP/2), the HTTP/2 settings tcpproxy
 * serves and common_http_protocol_options.max_headers_count. Everything else Envoy has there is
 * refused with "not supported yet" (docs/envoy-compat.md lists it). */
#include "core/config/http_proto.h"

#include "core/config/cfg_schema.h"
#include "core/config/ynode.h"

#include <errno.h>
#include <string.h>

#define H2_MAX_WINDOW 2147483647

/* envoy.config.core.v3.Http2ProtocolOptions, onto struct tp_http_proto_cfg. */
static const struct tp_cfg_field h2_fields[] = {
	{.key = "hpack_table_size",
	 .type = TP_CFG_UINT32,
	 .off = offsetof(struct tp_http_proto_cfg, hpack_table_size),
	 .min = 0,
	 .max = UINT32_MAX,
	 .def = 4096},
	{.key = "max_concurrent_streams",
	 .type = TP_CFG_UINT32,
	 .off = offsetof(struct tp_http_proto_cfg, max_concurrent_streams),
	 .min = 1,
	 .max = H2_MAX_WINDOW,
	 .def = H2_MAX_WINDOW},
	{.key = "initial_stream_window_size",
	 .type = TP_CFG_UINT32,
	 .off = offsetof(struct tp_http_proto_cfg, initial_stream_window_size),
	 .min = 65535,
	 .max = H2_MAX_WINDOW,
	 .def = 268435456},
	{.key = "initial_connection_window_size",
	 .type = TP_CFG_UINT32,
	 .off = offsetof(struct tp_http_proto_cfg, initial_connection_window_size),
	 .min = 65535,
	 .max = H2_MAX_WINDOW,
	 .def = 268435456},
	/* What a server does with CONNECT and METADATA: nothing to a client. */
	IGNORED("allow_connect"),
	IGNORED("allow_metadata"),
	UNSUPPORTED("max_outbound_frames"),
	UNSUPPORTED("max_outbound_control_frames"),
	UNSUPPORTED("max_consecutive_inbound_frames_with_empty_payload"),
	UNSUPPORTED("max_inbound_priority_frames_per_stream"),
	UNSUPPORTED("max_inbound_window_update_frames_per_data_frame_sent"),
	UNSUPPORTED("stream_error_on_invalid_http_messaging"),
	UNSUPPORTED("override_stream_error_on_invalid_http_message"),
	UNSUPPORTED("custom_settings_parameters"),
	UNSUPPORTED("connection_keepalive"),
	UNSUPPORTED("use_oghttp2_codec"),
	UNSUPPORTED("max_metadata_size"),
	UNSUPPORTED("enable_huffman_encoding"),
	{.key = NULL},
};

static const struct tp_cfg_schema h2_schema = {
	.name = "envoy.config.core.v3.Http2ProtocolOptions",
	.size = sizeof(struct tp_http_proto_cfg),
	.fields = h2_fields,
};

/* envoy.config.core.v3.Http1ProtocolOptions: HTTP/1.1 as tcpproxy speaks it; no option served. */
static const struct tp_cfg_field h1_fields[] = {
	UNSUPPORTED("allow_absolute_url"),
	UNSUPPORTED("accept_http_10"),
	UNSUPPORTED("default_host_for_http_10"),
	UNSUPPORTED("header_key_format"),
	UNSUPPORTED("enable_trailers"),
	UNSUPPORTED("allow_chunked_length"),
	UNSUPPORTED("override_stream_error_on_invalid_http_message"),
	UNSUPPORTED("send_fully_qualified_url"),
	UNSUPPORTED("use_balsa_parser"),
	UNSUPPORTED("allow_custom_methods"),
	UNSUPPORTED("ignore_http_11_upgrade"),
	{.key = NULL},
};

static const struct tp_cfg_schema h1_schema = {
	.name = "envoy.config.core.v3.Http1ProtocolOptions",
	.size = sizeof(struct tp_http_proto_cfg),
	.fields = h1_fields,
};

/* envoy.config.core.v3.HttpProtocolOptions: only the header count bounds what tcpproxy reads
 * (a tunnel's response head). */
static const struct tp_cfg_field common_fields[] = {
	{.key = "max_headers_count",
	 .type = TP_CFG_UINT32,
	 .off = offsetof(struct tp_http_proto_cfg, max_headers_count),
	 .min = 1,
	 .max = UINT32_MAX,
	 .def = 100},
	UNSUPPORTED("idle_timeout"),
	UNSUPPORTED("max_connection_duration"),
	UNSUPPORTED("max_stream_duration"),
	UNSUPPORTED("headers_with_underscores_action"),
	UNSUPPORTED("max_requests_per_connection"),
	UNSUPPORTED("max_response_headers_kb"),
	{.key = NULL},
};

static const struct tp_cfg_schema common_schema = {
	.name = "envoy.config.core.v3.HttpProtocolOptions",
	.size = sizeof(struct tp_http_proto_cfg),
	.fields = common_fields,
};

/* The version chosen by which explicit_http_config member is decoded. */
static int decode_h1(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f, const struct tp_ynode *v,
		     void *obj)
{
	struct tp_http_proto_cfg *h = obj;

	h->version = TP_HTTP_1;
	return tp_cfg_decode(ctx, &h1_schema, v, obj);
}

static int decode_h2(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f, const struct tp_ynode *v,
		     void *obj)
{
	struct tp_http_proto_cfg *h = obj;

	h->version = TP_HTTP_2;
	return tp_cfg_decode(ctx, &h2_schema, v, obj);
}

static void explicit_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	int n = !!tp_cfg_find(map, "http_protocol_options") +
		!!tp_cfg_find(map, "http2_protocol_options") +
		!!tp_cfg_find(map, "http3_protocol_options");

	if (n > 1)
		tp_cfg_error(ctx, map, NULL,
			     "only one of http_protocol_options, http2_protocol_options and "
			     "http3_protocol_options may be set (protocol_config oneof)");
	else if (!n)
		tp_cfg_error(ctx, map, NULL,
			     "one of http_protocol_options, http2_protocol_options or "
			     "http3_protocol_options is required");
}

/* HttpProtocolOptions.ExplicitHttpConfig */
static const struct tp_cfg_field explicit_fields[] = {
	{.key = "http_protocol_options", .type = TP_CFG_CUSTOM, .decode = decode_h1},
	{.key = "http2_protocol_options", .type = TP_CFG_CUSTOM, .decode = decode_h2},
	UNSUPPORTED("http3_protocol_options"),
	{.key = NULL},
};

static const struct tp_cfg_schema explicit_schema = {
	.name = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions.ExplicitHttpConfig",
	.size = sizeof(struct tp_http_proto_cfg),
	.fields = explicit_fields,
	.post = explicit_post,
};

static void options_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	if (!tp_cfg_find(map, "explicit_http_config") && !tp_cfg_find(map, "auto_config") &&
	    !tp_cfg_find(map, "use_downstream_protocol_config"))
		tp_cfg_error(ctx, map, "explicit_http_config",
			     "missing required field (one of explicit_http_config, auto_config or "
			     "use_downstream_protocol_config)");
}

/* envoy.extensions.upstreams.http.v3.HttpProtocolOptions */
static const struct tp_cfg_field options_fields[] = {
	{.key = "common_http_protocol_options", .type = TP_CFG_MESSAGE, .sub = &common_schema},
	UNSUPPORTED("upstream_http_protocol_options"),
	{.key = "explicit_http_config", .type = TP_CFG_MESSAGE, .sub = &explicit_schema},
	UNSUPPORTED_ONEOF("use_downstream_protocol_config", "upstream_protocol_options"),
	UNSUPPORTED_ONEOF("auto_config", "upstream_protocol_options"),
	UNSUPPORTED("http_filters"),
	UNSUPPORTED("header_validation_config"),
	UNSUPPORTED("outlier_detection"),
	{.key = NULL},
};

static const struct tp_cfg_schema options_schema = {
	.name = TP_HTTP_PROTO_TYPE,
	.size = sizeof(struct tp_http_proto_cfg),
	.fields = options_fields,
	.any = true,
	.post = options_post,
};

int tp_http_proto_decode_typed(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			       const struct tp_ynode *v, void *obj)
{
	struct tp_cluster_cfg *c = obj;
	int ret = 0;

	if (v->type != TP_YNODE_MAP) {
		tp_cfg_error(ctx, v, NULL, "expected a mapping of extension names to options");
		return -EINVAL;
	}
	for (size_t i = 0; i < v->n; i++) {
		const struct tp_ynode *key = v->pairs[i].key, *any = v->pairs[i].value;
		const struct tp_ynode *type =
			any->type == TP_YNODE_MAP ? tp_cfg_find(any, "@type") : NULL;
		size_t old = tp_cfg_path_push(ctx, key->str);

		if (strcmp(key->str, TP_HTTP_PROTO_TYPE)) {
			tp_cfg_error(ctx, key, NULL,
				     "not supported yet by tcpproxy (it reads only %s here; see "
				     "docs/envoy-compat.md)",
				     TP_HTTP_PROTO_TYPE);
			ret = -EINVAL;
		} else if (!type) {
			tp_cfg_error(ctx, any, "@type", "missing required field");
			ret = -EINVAL;
		} else if (type->type != TP_YNODE_SCALAR ||
			   strcmp(type->str, "type.googleapis.com/" TP_HTTP_PROTO_TYPE)) {
			tp_cfg_error(ctx, type, "@type",
				     "expected type.googleapis.com/" TP_HTTP_PROTO_TYPE);
			ret = -EINVAL;
		} else {
			c->http.mark = tp_cfg_mark_of(key);
			if (tp_cfg_decode(ctx, &options_schema, any, &c->http) < 0)
				ret = -EINVAL;
		}
		tp_cfg_path_pop(ctx, old);
	}
	return ret;
}

static int deprecated(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
		      const struct tp_ynode *v, void *obj, const struct tp_cfg_schema *s,
		      uint8_t version)
{
	struct tp_cluster_cfg *c = obj;

	if (!c->http.deprecated_mark.line) {
		c->http.deprecated_mark = tp_cfg_mark_of(v);
		c->http.deprecated_key = f->key;
	}
	if (version)
		c->http.version = version;
	return tp_cfg_decode(ctx, s, v, &c->http);
}

int tp_http_proto_decode_h2(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			    const struct tp_ynode *v, void *obj)
{
	return deprecated(ctx, f, v, obj, &h2_schema, TP_HTTP_2);
}

int tp_http_proto_decode_h1(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			    const struct tp_ynode *v, void *obj)
{
	return deprecated(ctx, f, v, obj, &h1_schema, 0);
}

int tp_http_proto_decode_common(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
				const struct tp_ynode *v, void *obj)
{
	return deprecated(ctx, f, v, obj, &common_schema, 0);
}

void tp_http_proto_defaults(struct tp_http_proto_cfg *h)
{
	if (!h->version)
		h->version = TP_HTTP_1;
	if (!h->max_headers_count)
		h->max_headers_count = 100;
	if (!h->max_concurrent_streams)
		h->max_concurrent_streams = H2_MAX_WINDOW;
	if (!h->initial_stream_window_size)
		h->initial_stream_window_size = 268435456;
	if (!h->initial_connection_window_size)
		h->initial_connection_window_size = 268435456;
	/* hpack_table_size: 0 is a value (no dynamic table); the row's default is 4096. */
}

void tp_http_proto_post(struct tp_cfg_ctx *ctx, struct tp_cluster_cfg *c)
{
	/* Envoy: "cannot specify both" the deprecated fields and HttpProtocolOptions. */
	if (c->http.mark.line && c->http.deprecated_mark.line)
		tp_cfg_error_mark(ctx, c->http.deprecated_mark, c->http.deprecated_key,
				  "cannot be set with typed_extension_protocol_options' %s "
				  "(deprecated; set it there)",
				  TP_HTTP_PROTO_TYPE);
	if (!c->http.mark.line && !c->http.deprecated_mark.line)
		c->http.hpack_table_size = 4096;
	tp_http_proto_defaults(&c->http);
}

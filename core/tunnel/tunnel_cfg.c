/* tunneling_config as Envoy's TcpProxy.TunnelingConfig defines it: hostname (a command-operator
 * format), use_post and post_path, headers_to_add (formats too; pseudo-headers and Host refused,
 * as Envoy refuses them), propagate_response_headers / _trailers, request_id_extension (the UUID
 * extension) with request_id_header and request_id_metadata_key. */
#include "core/tunnel/tunnel_cfg.h"

#include "core/accesslog/format.h"
#include "core/accesslog/format_cfg.h"
#include "core/config/cfg_schema.h"
#include "core/config/ynode.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Envoy's proto: headers_to_add max_items 1000. */
#define MAX_HEADERS 1000

static const struct tp_cfg_enum append_action_enum[] = {
	{"APPEND_IF_EXISTS_OR_ADD", 0, TP_HDR_APPEND_IF_EXISTS_OR_ADD, false},
	{"ADD_IF_ABSENT", 1, TP_HDR_ADD_IF_ABSENT, false},
	{"OVERWRITE_IF_EXISTS_OR_ADD", 2, TP_HDR_OVERWRITE_IF_EXISTS_OR_ADD, false},
	{"OVERWRITE_IF_EXISTS", 3, TP_HDR_OVERWRITE_IF_EXISTS, false},
	{.name = NULL},
};

static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

/* HeaderValue.key: a header name, kept in lower case; ":..." and host are not ours to set. */
static int decode_key(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
		      const struct tp_ynode *v, void *obj)
{
	struct tp_tunnel_header *h = obj;

	if (v->type != TP_YNODE_SCALAR || !v->len) {
		tp_cfg_error(ctx, v, NULL, "expected a header name");
		return -EINVAL;
	}
	if (v->str[0] == ':' || (v->len == 4 && !strncasecmp(v->str, "host", 4))) {
		tp_cfg_error(ctx, v, NULL,
			     "'%s': pseudo-headers and Host cannot be set by headers_to_add (Envoy "
			     "refuses them)",
			     v->str);
		return -EINVAL;
	}
	for (size_t i = 0; i < v->len; i++) {
		if (!is_tchar((unsigned char)v->str[i])) {
			tp_cfg_error(ctx, v, NULL, "'%s' is not a valid header name", v->str);
			return -EINVAL;
		}
	}
	h->name = strndup(v->str, v->len);
	if (!h->name) {
		ctx->oom = true;
		return -ENOMEM;
	}
	for (char *p = h->name; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	h->mark = tp_cfg_mark_of(v);
	return 0;
}

static void free_key(const struct tp_cfg_field *f, void *obj)
{
	struct tp_tunnel_header *h = obj;

	free(h->name);
	h->name = NULL;
}

static int decode_value(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			const struct tp_ynode *v, void *obj)
{
	struct tp_tunnel_header *h = obj;

	h->value = tp_format_cfg_text(ctx, v);
	return h->value ? 0 : -EINVAL;
}

static void free_value(const struct tp_cfg_field *f, void *obj)
{
	struct tp_tunnel_header *h = obj;

	tp_format_free(h->value);
	h->value = NULL;
}

/* envoy.config.core.v3.HeaderValue, onto the header it belongs to. */
static const struct tp_cfg_field header_value_fields[] = {
	{.key = "key", .type = TP_CFG_CUSTOM, .decode = decode_key, .free = free_key},
	{.key = "value", .type = TP_CFG_CUSTOM, .decode = decode_value, .free = free_value},
	UNSUPPORTED("raw_value"),
	{.key = NULL},
};

static void header_value_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	if (!tp_cfg_find(map, "key"))
		tp_cfg_error(ctx, map, "key", "missing required field");
}

static const struct tp_cfg_schema header_value_schema = {
	.name = "envoy.config.core.v3.HeaderValue",
	.size = sizeof(struct tp_tunnel_header),
	.fields = header_value_fields,
	.post = header_value_post,
};

static void header_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_tunnel_header *h = obj;
	const struct tp_ynode *append = tp_cfg_find(map, "append");

	if (!tp_cfg_find(map, "header")) {
		tp_cfg_error(ctx, map, "header", "missing required field");
		return;
	}
	if (append && tp_cfg_find(map, "append_action")) {
		tp_cfg_error(ctx, append, "append",
			     "append and append_action are mutually exclusive (Envoy)");
		return;
	}
	/* The deprecated BoolValue: false is OVERWRITE_IF_EXISTS_OR_ADD. */
	if (append && append->type == TP_YNODE_SCALAR && !strcmp(append->str, "false"))
		h->action = TP_HDR_OVERWRITE_IF_EXISTS_OR_ADD;
	if (!h->value) {
		/* No value: renders as "" (dropped unless keep_empty_value). */
		struct tp_fmt_error e;

		if (tp_format_compile("", 0, &h->value, &e) < 0)
			ctx->oom = true;
	}
}

/* envoy.config.core.v3.HeaderValueOption */
static const struct tp_cfg_field header_fields[] = {
	{.key = "header", .type = TP_CFG_MESSAGE, .sub = &header_value_schema},
	{.key = "append", .type = TP_CFG_BOOL, .off = offsetof(struct tp_tunnel_header, append)},
	{.key = "append_action",
	 .type = TP_CFG_ENUM,
	 .off = offsetof(struct tp_tunnel_header, action),
	 .enums = append_action_enum,
	 .def = TP_HDR_APPEND_IF_EXISTS_OR_ADD},
	{.key = "keep_empty_value",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_tunnel_header, keep_empty_value)},
	{.key = NULL},
};

static const struct tp_cfg_schema header_schema = {
	.name = "envoy.config.core.v3.HeaderValueOption",
	.size = sizeof(struct tp_tunnel_header),
	.fields = header_fields,
	.post = header_post,
};

static int decode_hostname(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			   const struct tp_ynode *v, void *obj)
{
	struct tp_tunnel_cfg *t = obj;

	if (v->type == TP_YNODE_SCALAR && !v->len) {
		tp_cfg_error(ctx, v, NULL, "must not be empty");
		return -EINVAL;
	}
	t->hostname = tp_format_cfg_text(ctx, v);
	return t->hostname ? 0 : -EINVAL;
}

static void free_hostname(const struct tp_cfg_field *f, void *obj)
{
	struct tp_tunnel_cfg *t = obj;

	tp_format_free(t->hostname);
	t->hostname = NULL;
}

/* envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig: its two fields are about tracing,
 * which tcpproxy has none of; accepted and ignored. */
static const struct tp_cfg_field uuid_fields[] = {
	{.key = "pack_trace_reason", .type = TP_CFG_IGNORED},
	{.key = "use_request_id_for_trace_sampling", .type = TP_CFG_IGNORED},
	{.key = NULL},
};

static const struct tp_cfg_schema uuid_schema = {
	.name = "envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig",
	.fields = uuid_fields,
	.any = true,
};

#define UUID_TYPE "envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig"

/* RequestIDExtension {typed_config}: Envoy's one request ID extension, the UUID one. */
static int decode_request_id(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			     const struct tp_ynode *v, void *obj)
{
	struct tp_tunnel_cfg *t = obj;
	const struct tp_ynode *any, *type;
	const char *name;
	int ret = 0;

	if (v->type != TP_YNODE_MAP) {
		tp_cfg_error(ctx, v, NULL, "expected a RequestIDExtension mapping (typed_config)");
		return -EINVAL;
	}
	for (size_t i = 0; i < v->n; i++) {
		if (strcmp(v->pairs[i].key->str, "typed_config")) {
			tp_cfg_error(ctx, v->pairs[i].key, v->pairs[i].key->str, "unknown field");
			ret = -EINVAL;
		}
	}
	any = tp_cfg_find(v, "typed_config");
	if (!any || any->type != TP_YNODE_MAP) {
		tp_cfg_error(ctx, any ? any : v, "typed_config",
			     any ? "expected a mapping" : "missing required field");
		return -EINVAL;
	}
	type = tp_cfg_find(any, "@type");
	if (!type || type->type != TP_YNODE_SCALAR) {
		tp_cfg_error(ctx, type ? type : any, "typed_config.@type",
			     "missing required field");
		return -EINVAL;
	}
	/* Any prefix, as everywhere: the message name after the last '/' counts. */
	name = strrchr(type->str, '/');
	name = name ? name + 1 : type->str;
	if (strcmp(name, UUID_TYPE)) {
		tp_cfg_error(ctx, type, "typed_config.@type",
			     "request ID extension %s is not supported yet by tcpproxy: it "
			     "has " UUID_TYPE " (see docs/envoy-compat.md)",
			     name);
		return -EINVAL;
	}
	{
		size_t old = tp_cfg_path_push(ctx, "typed_config");
		char unused = 0;

		if (tp_cfg_decode(ctx, &uuid_schema, any, &unused) < 0)
			ret = -EINVAL;
		tp_cfg_path_pop(ctx, old);
	}
	t->request_id = !ret;
	return ret;
}

static void tunnel_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_tunnel_cfg *t = obj;
	const struct tp_ynode *headers = tp_cfg_find(map, "headers_to_add");

	if (!tp_cfg_find(map, "hostname"))
		tp_cfg_error(ctx, map, "hostname", "missing required field");
	/* Envoy: "Can't set a post path when POST method isn't used". */
	if (t->post_path && !t->use_post)
		tp_cfg_error_mark(ctx, t->post_path_mark, "post_path",
				  "can't set a post path when POST method isn't used (use_post)");
	if (t->post_path && t->post_path[0] != '/')
		tp_cfg_error_mark(ctx, t->post_path_mark, "post_path", "must start with '/'");
	for (const char *p = t->post_path; p && *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			tp_cfg_error_mark(ctx, t->post_path_mark, "post_path",
					  "must not hold white space or control characters");
			break;
		}
	}
	if (!t->post_path) {
		t->post_path = strdup("/");
		if (!t->post_path)
			ctx->oom = true;
	}
	if (t->n_headers > MAX_HEADERS)
		tp_cfg_error(ctx, headers, "headers_to_add", "at most %d headers (Envoy's limit)",
			     MAX_HEADERS);
	if (t->request_id_header) {
		char *h = t->request_id_header;

		for (char *p = h; *p; p++) {
			if (!is_tchar((unsigned char)*p)) {
				tp_cfg_error_mark(ctx, t->request_id_header_mark,
						  "request_id_header",
						  "'%s' is not a valid header name", h);
				break;
			}
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		}
		if (!strcmp(h, "host"))
			tp_cfg_error_mark(ctx, t->request_id_header_mark, "request_id_header",
					  "'host' cannot carry the request ID");
	} else {
		t->request_id_header = strdup("x-request-id");
	}
	if (t->request_id_metadata_key && strchr(t->request_id_metadata_key, '\x1f'))
		tp_cfg_error(ctx, tp_cfg_find(map, "request_id_metadata_key"),
			     "request_id_metadata_key", "must not hold the byte 0x1f");
	if (!t->request_id_metadata_key)
		t->request_id_metadata_key = strdup("tunnel_request_id");
	if (!t->request_id_header || !t->request_id_metadata_key)
		ctx->oom = true;
}

static const struct tp_cfg_field tunnel_fields[] = {
	{.key = "hostname",
	 .type = TP_CFG_CUSTOM,
	 .decode = decode_hostname,
	 .free = free_hostname},
	{.key = "use_post", .type = TP_CFG_BOOL, .off = offsetof(struct tp_tunnel_cfg, use_post)},
	{.key = "headers_to_add",
	 .type = TP_CFG_REPEATED,
	 .off = offsetof(struct tp_tunnel_cfg, headers),
	 .count_off = offsetof(struct tp_tunnel_cfg, n_headers),
	 .sub = &header_schema},
	{.key = "propagate_response_headers",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_tunnel_cfg, propagate_response_headers)},
	{.key = "post_path",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_NONEMPTY,
	 .off = offsetof(struct tp_tunnel_cfg, post_path),
	 .mark_off = TP_CFG_MARK(struct tp_tunnel_cfg, post_path_mark)},
	{.key = "propagate_response_trailers",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_tunnel_cfg, propagate_response_trailers)},
	{.key = "request_id_extension", .type = TP_CFG_CUSTOM, .decode = decode_request_id},
	{.key = "request_id_header",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_NONEMPTY,
	 .off = offsetof(struct tp_tunnel_cfg, request_id_header),
	 .mark_off = TP_CFG_MARK(struct tp_tunnel_cfg, request_id_header_mark)},
	{.key = "request_id_metadata_key",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_NONEMPTY,
	 .off = offsetof(struct tp_tunnel_cfg, request_id_metadata_key)},
	UNSUPPORTED("formatters"),
	{.key = NULL},
};

static const struct tp_cfg_schema tunnel_schema = {
	.name = "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.TunnelingConfig",
	.size = sizeof(struct tp_tunnel_cfg),
	.fields = tunnel_fields,
	.mark_off = TP_CFG_MARK(struct tp_tunnel_cfg, mark),
	.post = tunnel_post,
};

int tp_tunnel_cfg_decode(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			 const struct tp_ynode *v, void *obj)
{
	struct tp_tcp_proxy_cfg *p = obj;

	p->tunnel = calloc(1, sizeof(*p->tunnel));
	if (!p->tunnel) {
		ctx->oom = true;
		return -ENOMEM;
	}
	return tp_cfg_decode(ctx, &tunnel_schema, v, p->tunnel);
}

void tp_tunnel_cfg_free(const struct tp_cfg_field *f, void *obj)
{
	struct tp_tcp_proxy_cfg *p = obj;

	if (!p->tunnel)
		return;
	tp_cfg_free(&tunnel_schema, p->tunnel);
	free(p->tunnel);
	p->tunnel = NULL;
}

unsigned tp_tunnel_cfg_needs(const struct tp_tunnel_cfg *t)
{
	unsigned needs = t->hostname ? t->hostname->needs : 0;

	for (size_t i = 0; i < t->n_headers; i++)
		if (t->headers[i].value)
			needs |= t->headers[i].value->needs;
	return needs;
}

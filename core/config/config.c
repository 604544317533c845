/* The Envoy v3 bootstrap subset tcpproxy serves: schema rows per message, then the checks that
 * span messages (names unique, addresses unique, clusters named by filters exist). */
#include "core/config/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <strings.h>
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/accesslog/access_log.h"
#include "core/base/sbuf.h"
#include "core/config/cfg_schema.h"
#include "core/config/chain_match.h"
#include "core/config/cluster_lb.h"
#include "core/config/metadata.h"
#include "core/config/dump.h"
#include "core/config/health_check.h"
#include "core/config/http_proto.h"
#include "core/conn/transport.h"
#include "core/tls/tls.h"
#include "core/filter.h"
#include "core/config/v2_api.h"
#include "core/config/xds.h"
#include "core/config/ynode.h"

/* ---- errors ---- */

int tp_cfg_errors_vadd(struct tp_cfg_errors *errs, bool warning, uint32_t line, uint32_t col,
		       const char *fmt, va_list ap)
{
	struct tp_cfg_mark m = {.line = line, .col = col};
	char *text;
	size_t at;

	if (vasprintf(&text, fmt, ap) < 0)
		return -ENOMEM;
	if (errs->n == errs->cap) {
		size_t cap = errs->cap ? errs->cap * 2 : 16;
		char **lines = realloc(errs->lines, cap * sizeof(*lines));
		struct tp_cfg_mark *marks;
		bool *warn;

		if (!lines)
			goto out_free_text;
		errs->lines = lines;
		marks = realloc(errs->marks, cap * sizeof(*marks));
		if (!marks)
			goto out_free_text;
		errs->marks = marks;
		warn = realloc(errs->warning, cap * sizeof(*warn));
		if (!warn)
			goto out_free_text;
		errs->warning = warn;
		errs->cap = cap;
	}
	/* After every line at or before (line, col): file order, ties in the order reported. */
	at = errs->n;
	while (at > 0 && (errs->marks[at - 1].line > line ||
			  (errs->marks[at - 1].line == line && errs->marks[at - 1].col > col)))
		at--;
	memmove(&errs->lines[at + 1], &errs->lines[at], (errs->n - at) * sizeof(*errs->lines));
	memmove(&errs->marks[at + 1], &errs->marks[at], (errs->n - at) * sizeof(*errs->marks));
	memmove(&errs->warning[at + 1], &errs->warning[at],
		(errs->n - at) * sizeof(*errs->warning));
	errs->lines[at] = text;
	errs->marks[at] = m;
	errs->warning[at] = warning;
	errs->n++;
	errs->n_warnings += warning;
	return 0;

out_free_text:
	free(text);
	return -ENOMEM;
}

int tp_cfg_errors_add(struct tp_cfg_errors *errs, uint32_t line, uint32_t col, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = tp_cfg_errors_vadd(errs, false, line, col, fmt, ap);
	va_end(ap);
	return ret;
}

int tp_cfg_errors_add_warning(struct tp_cfg_errors *errs, uint32_t line, uint32_t col,
			      const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = tp_cfg_errors_vadd(errs, true, line, col, fmt, ap);
	va_end(ap);
	return ret;
}

void tp_cfg_errors_print(const struct tp_cfg_errors *errs, FILE *f)
{
	for (size_t i = 0; i < errs->n; i++)
		fprintf(f, "%s\n", errs->lines[i]);
}

void tp_cfg_errors_free(struct tp_cfg_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		free(errs->lines[i]);
	free(errs->lines);
	free(errs->marks);
	free(errs->warning);
	memset(errs, 0, sizeof(*errs));
}

/* ---- envoy.config.core.v3.SocketAddress / Address ---- */

enum { PROTO_TCP };

static const struct tp_cfg_enum protocol_enum[] = {
	{"TCP", 0, PROTO_TCP, false},
	{"UDP", 1, 0, true},
	{.name = NULL},
};

/* SocketAddress as written, before it becomes a struct sockaddr. */
struct sock_tmp {
	char *address;
	int64_t port; /* -1 until a valid number is read, so a bad one is reported once */
	int protocol;
};

static void socket_address_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj);

static const struct tp_cfg_field socket_address_fields[] = {
	{.key = "protocol",
	 .type = TP_CFG_ENUM,
	 .off = offsetof(struct sock_tmp, protocol),
	 .enums = protocol_enum},
	{.key = "address",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_REQUIRED | TP_CFG_NONEMPTY,
	 .off = offsetof(struct sock_tmp, address)},
	{.key = "port_value",
	 .type = TP_CFG_UINT32_OPT,
	 .flags = TP_CFG_REQUIRED,
	 .off = offsetof(struct sock_tmp, port),
	 .min = 0,
	 .max = UINT32_MAX,
	 .def = -1,
	 .oneof = "port_specifier"},
	UNSUPPORTED_ONEOF("named_port", "port_specifier"),
	UNSUPPORTED("resolver_name"),
	UNSUPPORTED_BUT("ipv4_compat", "false"),
	UNSUPPORTED("network_namespace_filepath"),
	{.key = NULL},
};

static const struct tp_cfg_schema socket_address_schema = {
	.name = "envoy.config.core.v3.SocketAddress",
	.size = sizeof(struct sock_tmp),
	.fields = socket_address_fields,
	.post = socket_address_post,
};

/* The sockaddr is built in post (not in decode_socket_address) because post has the map, so
 * errors point at the address or port_value line. in comes first: the rows address it. */
struct sock_out {
	struct sock_tmp in;
	struct tp_sockaddr *out;
	bool ok;
};

/* A DNS name as resolvers take it: labels of letters, digits, '-' and '_', dot separated. */
static bool valid_host_name(const char *n)
{
	size_t len = strlen(n), label = 0;

	if (!len || len > 253)
		return false;
	for (const char *p = n; *p; p++) {
		if (*p == '.') {
			if (!label)
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

static void socket_address_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct sock_out *so = obj;
	struct tp_sockaddr *sa = so->out;
	const struct tp_ynode *addr = tp_cfg_find(map, "address");
	const struct tp_ynode *port = tp_cfg_find(map, "port_value");
	struct sockaddr_in *in4 = (struct sockaddr_in *)&sa->ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&sa->ss;
	char ip[INET6_ADDRSTRLEN];
	bool good = true;

	memset(sa, 0, sizeof(*sa));
	/* Port 0 (Envoy: pick any) means nothing for a listener clients must find, nor for an
	 * upstream. */
	if (so->in.port == 0 || so->in.port > 65535) {
		tp_cfg_error(ctx, port, "port_value", "bad port %lld: must be 1..65535",
			     (long long)so->in.port);
		good = false;
	}
	if (!so->in.address)
		return;
	if (inet_pton(AF_INET, so->in.address, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)so->in.port);
		sa->len = sizeof(*in4);
		inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof(ip));
		snprintf(sa->text, sizeof(sa->text), "%s:%u", ip, (unsigned)so->in.port);
	} else if (inet_pton(AF_INET6, so->in.address, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)so->in.port);
		sa->len = sizeof(*in6);
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(sa->text, sizeof(sa->text), "[%s]:%u", ip, (unsigned)so->in.port);
	} else if (ctx->names_ok && valid_host_name(so->in.address)) {
		/* A DNS cluster's endpoint: resolved by the master (core/master/dns.c). */
		if (good) {
			sa->host = strdup(so->in.address);
			if (!sa->host)
				ctx->oom = true;
			sa->port = (uint16_t)so->in.port;
			snprintf(sa->text, sizeof(sa->text), "%.50s:%u", so->in.address,
				 (unsigned)so->in.port);
		}
		so->ok = good && sa->host;
		return;
	} else if (ctx->names_ok) {
		tp_cfg_error(ctx, addr, "address",
			     "bad address \"%s\": expected an IP literal or a host name",
			     so->in.address);
		good = false;
	} else if (ctx->in_cluster) {
		tp_cfg_error(
			ctx, addr, "address",
			"bad address \"%s\": a STATIC cluster's endpoints are IPv4 or IPv6 "
			"literals (a cluster of type STRICT_DNS or LOGICAL_DNS resolves names)",
			so->in.address);
	} else {
		tp_cfg_error(ctx, addr, "address",
			     "bad address \"%s\": expected an IPv4 or IPv6 literal (tcpproxy does "
			     "not resolve names)",
			     so->in.address);
		good = false;
	}
	so->ok = good && so->in.port > 0 && sa->len;
}

static int decode_socket_address(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
				 const struct tp_ynode *v, void *obj)
{
	struct sock_out so = {.out = (struct tp_sockaddr *)((char *)obj + f->off)};
	int ret;

	ret = tp_cfg_decode(ctx, &socket_address_schema, v, &so);
	tp_cfg_free(&socket_address_schema, &so.in);
	if (!so.ok)
		memset(so.out, 0, sizeof(*so.out));
	return ret;
}

static const struct tp_cfg_field address_fields[] = {
	{.key = "socket_address",
	 .type = TP_CFG_CUSTOM,
	 .flags = TP_CFG_REQUIRED,
	 .off = 0,
	 .decode = decode_socket_address,
	 .oneof = "address"},
	UNSUPPORTED_ONEOF("pipe", "address"),
	UNSUPPORTED_ONEOF("envoy_internal_address", "address"),
	{.key = NULL},
};

/* envoy.config.core.v3.Address, over a struct tp_sockaddr. */
static const struct tp_cfg_schema address_schema = {
	.name = "envoy.config.core.v3.Address",
	.size = sizeof(struct tp_sockaddr),
	.fields = address_fields,
};

/* ---- envoy.config.core.v3.TransportSocket ---- */

#define RAW_BUFFER_NAME "envoy.transport_sockets.raw_buffer"
#define RAW_BUFFER_TYPE "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"

/* TransportSocket as written. */
struct transport_tmp {
	char *name;
	const struct tp_transport_ops *ops;
	void *conf;    /* what ops->parse made */
	bool upstream; /* a cluster's (towards hosts), not a filter chain's */
	bool typed;    /* typed_config picked the transport (the name is then only a label) */
	struct tp_cfg_mark name_mark;
};

/* RawBuffer has no field: any key in its typed_config is unknown. */
static const struct tp_cfg_field raw_buffer_fields[] = {
	{.key = NULL},
};

static const struct tp_cfg_schema raw_buffer_schema = {
	.name = RAW_BUFFER_TYPE,
	.size = 0,
	.fields = raw_buffer_fields,
	.any = true,
};

/* The TLS transport for this side: a filter chain's terminates (DownstreamTlsContext), a
 * cluster's originates (UpstreamTlsContext). */
static const struct tp_transport_ops *tls_ops(const struct transport_tmp *t)
{
	return t->upstream ? &tp_transport_tls_client : &tp_transport_tls_server;
}

static int decode_transport_typed_config(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
					 const struct tp_ynode *v, void *obj)
{
	struct transport_tmp *t = obj;
	const struct tp_ynode *type;
	const char *url, *msg, *v3;

	if (v->type != TP_YNODE_MAP) {
		tp_cfg_error(ctx, v, NULL, "expected a mapping with \"@type\", got %s",
			     tp_ynode_kind_name(v));
		return -EINVAL;
	}
	type = tp_ynode_map_get(v, "@type");
	if (!type || type->type != TP_YNODE_SCALAR || tp_ynode_is_null(type)) {
		tp_cfg_error(ctx, type ? type : v, type ? "@type" : NULL,
			     "missing \"@type\" (a type URL string)");
		return -EINVAL;
	}
	url = type->str;
	msg = strrchr(url, '/');
	msg = msg ? msg + 1 : url;
	t->typed = true;
	if (!strcmp(msg, RAW_BUFFER_TYPE)) {
		t->ops = &tp_transport_raw;
		return tp_cfg_decode(ctx, &raw_buffer_schema, v, NULL);
	}
	if (!strcmp(msg, TP_TLS_DOWNSTREAM_TYPE) || !strcmp(msg, TP_TLS_UPSTREAM_TYPE)) {
		bool down = !strcmp(msg, TP_TLS_DOWNSTREAM_TYPE);

		if (down == t->upstream) {
			tp_cfg_error(ctx, type, "@type", "%s is for %s; %s takes %s",
				     down ? "DownstreamTlsContext" : "UpstreamTlsContext",
				     down ? "a listener's filter chain" : "a cluster",
				     t->upstream ? "a cluster" : "a filter chain",
				     t->upstream ? TP_TLS_UPSTREAM_TYPE : TP_TLS_DOWNSTREAM_TYPE);
			return -EINVAL;
		}
		t->ops = tls_ops(t);
		t->conf = t->ops->parse(ctx, v);
		return t->conf ? 0 : -EINVAL;
	}
	v3 = tp_v2_api_successor(url);
	if (v3)
		tp_cfg_error(ctx, type, "@type",
			     "unsupported @type \"%s\": Envoy's v2 API was removed; its v3 type is "
			     "type.googleapis.com/%s%s",
			     url, v3,
			     strcmp(v3, RAW_BUFFER_TYPE) && strcmp(v3, TP_TLS_DOWNSTREAM_TYPE) &&
					     strcmp(v3, TP_TLS_UPSTREAM_TYPE)
				     ? ", not supported yet by tcpproxy (see docs/envoy-compat.md)"
				     : "");
	else
		tp_cfg_error(ctx, type, "@type",
			     "transport socket \"%s\" is not supported yet by tcpproxy: it has "
			     "plain TCP (" RAW_BUFFER_TYPE ") and TLS (%s) (see "
			     "docs/envoy-compat.md)",
			     url, t->upstream ? TP_TLS_UPSTREAM_TYPE : TP_TLS_DOWNSTREAM_TYPE);
	return -EINVAL;
}

static void transport_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct transport_tmp *t = obj;

	/* Without typed_config Envoy picks the factory by name, with an empty config. */
	if (t->typed || !t->name)
		return;
	if (!strcmp(t->name, RAW_BUFFER_NAME)) {
		t->ops = &tp_transport_raw;
	} else if (!strcmp(t->name, TP_TLS_NAME)) {
		/* An empty typed_config, placed at the name for the errors it may get. */
		struct tp_ynode empty = {
			.type = TP_YNODE_MAP, .line = t->name_mark.line, .col = t->name_mark.col};

		t->ops = tls_ops(t);
		t->conf = t->ops->parse(ctx, &empty);
	} else {
		tp_cfg_error_mark(ctx, t->name_mark, "name",
				  "transport socket \"%s\" is not supported yet by tcpproxy: it "
				  "has plain TCP (" RAW_BUFFER_NAME ") and TLS (" TP_TLS_NAME
				  ") (see docs/envoy-compat.md)",
				  t->name);
	}
}

static const struct tp_cfg_field transport_fields[] = {
	{.key = "name",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_REQUIRED | TP_CFG_NONEMPTY,
	 .off = offsetof(struct transport_tmp, name),
	 .mark_off = TP_CFG_MARK(struct transport_tmp, name_mark)},
	{.key = "typed_config", .type = TP_CFG_CUSTOM, .decode = decode_transport_typed_config},
	REMOVED("config", "use typed_config with an \"@type\""),
	{.key = NULL},
};

static const struct tp_cfg_schema transport_schema = {
	.name = "envoy.config.core.v3.TransportSocket",
	.size = sizeof(struct transport_tmp),
	.fields = transport_fields,
	.post = transport_post,
};

/* A filter chain's or a cluster's transport_socket: the transport and its config go to f->off
 * (the connection gives that side this transport): plain TCP (raw_buffer) or TLS. */
static int decode_transport(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			    const struct tp_ynode *v, void *obj, bool upstream)
{
	struct transport_tmp t = {.ops = &tp_transport_raw, .upstream = upstream};
	struct tp_transport_cfg *tc = (struct tp_transport_cfg *)((char *)obj + f->off);
	int ret;

	ret = tp_cfg_decode(ctx, &transport_schema, v, &t);
	if (!ret) {
		tc->ops = t.ops;
		tc->conf = t.conf;
	} else if (t.conf && t.ops->free_conf) {
		t.ops->free_conf(t.conf);
	}
	tp_cfg_free(&transport_schema, &t);
	return ret;
}

static int decode_transport_socket(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
				   const struct tp_ynode *v, void *obj)
{
	return decode_transport(ctx, f, v, obj, false);
}

static int decode_cluster_transport_socket(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
					   const struct tp_ynode *v, void *obj)
{
	return decode_transport(ctx, f, v, obj, true);
}

/* ---- envoy.config.listener.v3.Filter ---- */

/* A v2 @type: name the v3 message that replaced it, and whether tcpproxy has that filter. */
static void report_v2_filter(struct tp_cfg_ctx *ctx, const struct tp_ynode *type, const char *url)
{
	const char *v3 = tp_v2_api_successor(url);
	char v3_url[256];

	if (!v3) {
		tp_cfg_error(
			ctx, type, "@type",
			"unsupported @type \"%s\": Envoy's v2 API was removed; its v3 "
			"replacement is an envoy.extensions.* type, and tcpproxy has no filter "
			"of that type (see docs/envoy-compat.md)",
			url);
		return;
	}
	snprintf(v3_url, sizeof(v3_url), "type.googleapis.com/%s", v3);
	if (tp_filter_find_by_type_url(v3_url))
		tp_cfg_error(ctx, type, "@type",
			     "unsupported @type \"%s\": Envoy's v2 API was removed; use its v3 "
			     "type, %s",
			     url, v3_url);
	else
		tp_cfg_error(
			ctx, type, "@type",
			"unsupported @type \"%s\": Envoy's v2 API was removed; its v3 type is "
			"%s, and tcpproxy has no filter of that type (see docs/envoy-compat.md)",
			url, v3_url);
}

static int decode_typed_config(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			       const struct tp_ynode *v, void *obj)
{
	struct tp_filter_cfg *fc = obj;
	const struct tp_ynode *type;
	const char *url;

	if (v->type != TP_YNODE_MAP) {
		tp_cfg_error(ctx, v, NULL, "expected a mapping with \"@type\", got %s",
			     tp_ynode_kind_name(v));
		return -EINVAL;
	}
	type = tp_ynode_map_get(v, "@type");
	if (!type || tp_ynode_is_null(type)) {
		tp_cfg_error(ctx, v, NULL, "missing \"@type\"");
		return -EINVAL;
	}
	if (type->type != TP_YNODE_SCALAR) {
		tp_cfg_error(ctx, type, "@type", "expected a type URL string, got %s",
			     tp_ynode_kind_name(type));
		return -EINVAL;
	}
	url = type->str;
	fc->ops = tp_filter_find_by_type_url(url);
	if (!fc->ops) {
		if (strstr(url, "TypedStruct"))
			tp_cfg_error(
				ctx, type, "@type",
				"unsupported @type \"%s\": TypedStruct is not supported yet by "
				"tcpproxy (see docs/envoy-compat.md)",
				url);
		else if (tp_v2_api_is_v2(url))
			report_v2_filter(ctx, type, url);
		else
			tp_cfg_error(
				ctx, type, "@type",
				"unsupported @type \"%s\": tcpproxy has no network filter of this "
				"type (see docs/envoy-compat.md)",
				url);
		return -EINVAL;
	}
	fc->conf = fc->ops->parse(ctx, v);
	return fc->conf ? 0 : -EINVAL;
}

static void free_typed_config(const struct tp_cfg_field *f, void *obj)
{
	struct tp_filter_cfg *fc = obj;

	if (fc->ops && fc->conf)
		fc->ops->free(fc->conf);
	fc->conf = NULL;
}

static void filter_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_filter_cfg *fc = obj;

	/* A missing typed_config gets its own message: Envoy users may expect the name to pick
	 * the filter, as it did before Envoy 1.22. */
	if (!tp_cfg_find(map, "typed_config") && !tp_cfg_find(map, "config_discovery"))
		tp_cfg_error_mark(ctx, fc->mark, "typed_config",
				  "missing required field: tcpproxy picks a filter by its "
				  "typed_config \"@type\", not by name%s%s%s",
				  fc->name ? " (\"" : "", fc->name ? fc->name : "",
				  fc->name ? "\")" : "");
}

static const struct tp_cfg_field filter_fields[] = {
	{.key = "name",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_REQUIRED | TP_CFG_NONEMPTY,
	 .off = offsetof(struct tp_filter_cfg, name)},
	{.key = "typed_config",
	 .type = TP_CFG_CUSTOM,
	 .decode = decode_typed_config,
	 .free = free_typed_config},
	UNSUPPORTED("config_discovery"),
	REMOVED("config", "use typed_config with an \"@type\""),
	{.key = NULL},
};

static const struct tp_cfg_schema filter_schema = {
	.name = "envoy.config.listener.v3.Filter",
	.size = sizeof(struct tp_filter_cfg),
	.fields = filter_fields,
	.mark_off = TP_CFG_MARK(struct tp_filter_cfg, mark),
	.post = filter_post,
};

/* ---- envoy.config.listener.v3.ListenerFilter ---- */

/* typed_config: its "@type" picks the filter. One without "@type" ({} in many older files) leaves
 * the choice to the name, as Envoy does; listener_filter_post makes it. */
static int decode_lfilter_typed_config(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
				       const struct tp_ynode *v, void *obj)
{
	struct tp_listener_filter_cfg *lf = obj;
	const struct tp_ynode *type;
	const char *url, *envoy;

	if (v->type != TP_YNODE_MAP) {
		tp_cfg_error(ctx, v, NULL, "expected a mapping with \"@type\", got %s",
			     tp_ynode_kind_name(v));
		return -EINVAL;
	}
	type = tp_ynode_map_get(v, "@type");
	if (!type || tp_ynode_is_null(type))
		return 0;
	if (type->type != TP_YNODE_SCALAR) {
		tp_cfg_error(ctx, type, "@type", "expected a type URL string, got %s",
			     tp_ynode_kind_name(type));
		return -EINVAL;
	}
	url = type->str;
	lf->ops = tp_listener_filter_find_by_type_url(url);
	if (lf->ops) {
		lf->conf = lf->ops->parse(ctx, v);
		return lf->conf ? 0 : -EINVAL;
	}
	envoy = tp_listener_filter_envoy_only(NULL, url);
	if (envoy)
		tp_cfg_error(ctx, type, "@type",
			     "listener filter %s is not supported yet by tcpproxy: it has %s (see "
			     "docs/envoy-compat.md)",
			     envoy, tp_listener_filter_names());
	else if (strstr(url, "TypedStruct"))
		tp_cfg_error(ctx, type, "@type",
			     "unsupported @type \"%s\": TypedStruct is not supported yet by "
			     "tcpproxy (see docs/envoy-compat.md)",
			     url);
	else if (tp_v2_api_successor(url))
		tp_cfg_error(ctx, type, "@type",
			     "unsupported @type \"%s\": Envoy's v2 API was removed; its v3 type is "
			     "type.googleapis.com/%s%s",
			     url, tp_v2_api_successor(url),
			     tp_listener_filter_envoy_only(NULL, tp_v2_api_successor(url))
				     ? ", not supported yet by tcpproxy (see docs/envoy-compat.md)"
				     : "");
	else if (tp_v2_api_is_v2(url))
		tp_cfg_error(ctx, type, "@type",
			     "unsupported @type \"%s\": Envoy's v2 API was removed; its v3 types "
			     "are envoy.extensions.filters.listener.* (tcpproxy has %s)",
			     url, tp_listener_filter_names());
	else
		tp_cfg_error(ctx, type, "@type",
			     "unsupported @type \"%s\": tcpproxy has no listener filter of this "
			     "type; it has %s (see docs/envoy-compat.md)",
			     url, tp_listener_filter_names());
	return -EINVAL;
}

static void free_lfilter_typed_config(const struct tp_cfg_field *f, void *obj)
{
	struct tp_listener_filter_cfg *lf = obj;

	if (lf->ops && lf->conf)
		lf->ops->free(lf->conf);
	lf->conf = NULL;
}

static void listener_filter_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_listener_filter_cfg *lf = obj;
	const struct tp_ynode *tc = tp_cfg_find(map, "typed_config");
	const struct tp_ynode *type =
		tc && tc->type == TP_YNODE_MAP ? tp_ynode_map_get(tc, "@type") : NULL;
	const char *envoy;
	size_t old;

	/* Picked by its @type already, or that failed and said why. */
	if (lf->ops || (type && !tp_ynode_is_null(type)) || (tc && tc->type != TP_YNODE_MAP) ||
	    !lf->name || tp_cfg_find(map, "config_discovery"))
		return;
	lf->ops = tp_listener_filter_find_by_name(lf->name);
	if (!lf->ops) {
		envoy = tp_listener_filter_envoy_only(lf->name, NULL);
		if (envoy)
			tp_cfg_error_mark(ctx, lf->name_mark, "name",
					  "listener filter %s is not supported yet by tcpproxy: it "
					  "has %s (see docs/envoy-compat.md)",
					  envoy, tp_listener_filter_names());
		else
			tp_cfg_error_mark(ctx, lf->name_mark, "name",
					  "unknown listener filter \"%s\": with no typed_config "
					  "\"@type\" the name picks it; tcpproxy has %s",
					  lf->name, tp_listener_filter_names());
		return;
	}
	old = tp_cfg_path_push(ctx, "typed_config");
	lf->conf = lf->ops->parse(ctx, tc);
	tp_cfg_path_pop(ctx, old);
}

static const struct tp_cfg_field listener_filter_fields[] = {
	{.key = "name",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_REQUIRED | TP_CFG_NONEMPTY,
	 .off = offsetof(struct tp_listener_filter_cfg, name),
	 .mark_off = TP_CFG_MARK(struct tp_listener_filter_cfg, name_mark)},
	{.key = "typed_config",
	 .type = TP_CFG_CUSTOM,
	 .decode = decode_lfilter_typed_config,
	 .free = free_lfilter_typed_config},
	UNSUPPORTED("config_discovery"),
	UNSUPPORTED("filter_disabled"),
	REMOVED("config", "use typed_config with an \"@type\""),
	{.key = NULL},
};

static const struct tp_cfg_schema listener_filter_schema = {
	.name = "envoy.config.listener.v3.ListenerFilter",
	.size = sizeof(struct tp_listener_filter_cfg),
	.fields = listener_filter_fields,
	.mark_off = TP_CFG_MARK(struct tp_listener_filter_cfg, mark),
	.post = listener_filter_post,
};

/* ---- envoy.config.listener.v3.FilterChain ---- */

static void filter_chain_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_filter_chain_cfg *fc = obj;
	const struct tp_ynode *filters = tp_cfg_find(map, "filters");
	size_t old;

	/* A filters value that is not a list has its own error already. */
	if (!filters || (filters->type == TP_YNODE_SEQ && !filters->n)) {
		tp_cfg_error(ctx, filters ? filters : map, "filters",
			     "at least one filter is required, the last being "
			     "envoy.filters.network.tcp_proxy");
		return;
	}
	if (!fc->n_filters)
		return;
	old = tp_cfg_path_push(ctx, "filters");
	for (size_t i = 0; i < fc->n_filters; i++) {
		const struct tp_filter_cfg *f = &fc->filters[i];
		bool last = i + 1 == fc->n_filters;
		size_t o = tp_cfg_path_push_index(ctx, i);

		if (f->ops && f->ops->terminal && !last)
			tp_cfg_error_mark(ctx, f->mark, NULL,
					  "%s is a terminal filter and must be the last in the "
					  "chain",
					  f->ops->name);
		else if (f->ops && !f->ops->terminal && last)
			tp_cfg_error_mark(ctx, f->mark, NULL,
					  "the last filter must be a terminal filter "
					  "(envoy.filters.network.tcp_proxy), not %s",
					  f->ops->name);
		tp_cfg_path_pop(ctx, o);
	}
	tp_cfg_path_pop(ctx, old);
	tp_filter_chain_layout(fc);
}

static const struct tp_cfg_field filter_chain_fields[] = {
	{.key = "filters",
	 .type = TP_CFG_REPEATED,
	 .off = offsetof(struct tp_filter_chain_cfg, filters),
	 .count_off = offsetof(struct tp_filter_chain_cfg, n_filters),
	 .sub = &filter_schema},
	{.key = "name", .type = TP_CFG_STRING, .off = offsetof(struct tp_filter_chain_cfg, name)},
	{.key = "filter_chain_match",
	 .type = TP_CFG_MESSAGE,
	 .off = offsetof(struct tp_filter_chain_cfg, match),
	 .sub = &tp_filter_chain_match_schema,
	 .mark_off = TP_CFG_MARK(struct tp_filter_chain_cfg, match_mark)},
	UNSUPPORTED("use_proxy_proto"),
	UNSUPPORTED("metadata"),
	{.key = "transport_socket",
	 .type = TP_CFG_CUSTOM,
	 .off = offsetof(struct tp_filter_chain_cfg, transport),
	 .decode = decode_transport_socket},
	{.key = "transport_socket_connect_timeout",
	 .type = TP_CFG_DURATION,
	 .off = offsetof(struct tp_filter_chain_cfg, transport_socket_connect_timeout_ms),
	 .min = 0,
	 .max = INT64_MAX,
	 .def = 0},
	UNSUPPORTED("on_demand_configuration"),
	REMOVED("tls_context", "use transport_socket"),
	{.key = NULL},
};

static const struct tp_cfg_schema filter_chain_schema = {
	.name = "envoy.config.listener.v3.FilterChain",
	.size = sizeof(struct tp_filter_chain_cfg),
	.fields = filter_chain_fields,
	.mark_off = TP_CFG_MARK(struct tp_filter_chain_cfg, mark),
	.post = filter_chain_post,
};

/* default_filter_chain: decoded aside, then listener_post puts it last in filter_chains. */
static int decode_default_chain(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
				const struct tp_ynode *v, void *obj)
{
	struct tp_listener_cfg *l = obj;

	l->default_tmp = calloc(1, sizeof(*l->default_tmp));
	if (!l->default_tmp) {
		ctx->oom = true;
		return -ENOMEM;
	}
	return tp_cfg_decode(ctx, &filter_chain_schema, v, l->default_tmp);
}

/* What listener_post built goes with the listener: the matcher, and a default chain that was
 * not moved into filter_chains. */
static void free_default_chain(const struct tp_cfg_field *f, void *obj)
{
	struct tp_listener_cfg *l = obj;

	if (l->default_tmp)
		tp_cfg_free(&filter_chain_schema, l->default_tmp);
	free(l->default_tmp);
	l->default_tmp = NULL;
	tp_chain_matcher_free(l->matcher);
	l->matcher = NULL;
}

/* Appends the default chain to filter_chains, so that every chain is in one array. */
static void add_default_chain(struct tp_cfg_ctx *ctx, struct tp_listener_cfg *l)
{
	struct tp_filter_chain_cfg *chains;

	if (!l->default_tmp)
		return;
	chains = realloc(l->filter_chains, (l->n_filter_chains + 1) * sizeof(*chains));
	if (!chains) {
		ctx->oom = true;
		return;
	}
	l->filter_chains = chains;
	chains[l->n_filter_chains++] = *l->default_tmp;
	free(l->default_tmp);
	l->default_tmp = NULL;
	l->has_default_chain = true;
}

/* ---- envoy.config.listener.v3.Listener ---- */

static void listener_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_listener_cfg *l = obj;
	const struct tp_ynode *chains = tp_cfg_find(map, "filter_chains");

	/* Envoy's internal listener needs no address; tcpproxy reports it as not supported. */
	if (!tp_cfg_find(map, "address") && !tp_cfg_find(map, "internal_listener"))
		tp_cfg_error(ctx, map, "address", "missing required field");
	/* A list that failed to decode has its own error already. As Envoy, a default chain
	 * alone will do. */
	if ((!chains || (chains->type == TP_YNODE_SEQ && !chains->n)) &&
	    !tp_cfg_find(map, "default_filter_chain"))
		tp_cfg_error(ctx, chains ? chains : map, "filter_chains",
			     "at least one filter chain (or a default_filter_chain) is required");
	add_default_chain(ctx, l);
	tp_chain_matcher_build(ctx, l);
	tp_listener_filter_layout(l);
	/* Envoy names an unnamed listener with a UUID; the address is more use in logs. */
	if (!l->name && l->addr.len) {
		l->name = strdup(l->addr.text);
		if (!l->name)
			ctx->oom = true;
	}
}

static const struct tp_cfg_field listener_fields[] = {
	{.key = "name",
	 .type = TP_CFG_STRING,
	 .off = offsetof(struct tp_listener_cfg, name),
	 .mark_off = TP_CFG_MARK(struct tp_listener_cfg, name_mark)},
	/* Required unless internal_listener is given (listener_post). */
	{.key = "address",
	 .type = TP_CFG_MESSAGE,
	 .off = offsetof(struct tp_listener_cfg, addr),
	 .sub = &address_schema,
	 .mark_off = TP_CFG_MARK(struct tp_listener_cfg, addr_mark)},
	{.key = "per_connection_buffer_limit_bytes",
	 .type = TP_CFG_UINT32,
	 .off = offsetof(struct tp_listener_cfg, per_connection_buffer_limit_bytes),
	 .min = 1,
	 .max = UINT32_MAX,
	 .def = TP_DEFAULT_BUFFER_LIMIT},
	{.key = "filter_chains",
	 .type = TP_CFG_REPEATED,
	 .off = offsetof(struct tp_listener_cfg, filter_chains),
	 .count_off = offsetof(struct tp_listener_cfg, n_filter_chains),
	 .sub = &filter_chain_schema},
	/* tcpproxy always binds one SO_REUSEPORT socket per worker, Envoy's Linux default. */
	UNSUPPORTED_BUT("enable_reuse_port", "true"),
	UNSUPPORTED("additional_addresses"),
	UNSUPPORTED("stat_prefix"),
	UNSUPPORTED("filter_chain_matcher"),
	UNSUPPORTED("use_original_dst"),
	{.key = "default_filter_chain",
	 .type = TP_CFG_CUSTOM,
	 .decode = decode_default_chain,
	 .free = free_default_chain},
	UNSUPPORTED("metadata"),
	UNSUPPORTED("drain_type"),
	{.key = "listener_filters",
	 .type = TP_CFG_REPEATED,
	 .off = offsetof(struct tp_listener_cfg, listener_filters),
	 .count_off = offsetof(struct tp_listener_cfg, n_listener_filters),
	 .sub = &listener_filter_schema},
	/* Envoy's default, 15 s; 0 waits for ever. */
	{.key = "listener_filters_timeout",
	 .type = TP_CFG_DURATION,
	 .off = offsetof(struct tp_listener_cfg, listener_filters_timeout_ms),
	 .min = 0,
	 .max = INT64_MAX,
	 .def = 15000},
	{.key = "continue_on_listener_filters_timeout",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_listener_cfg, continue_on_listener_filters_timeout)},
	UNSUPPORTED("transparent"),
	UNSUPPORTED("freebind"),
	UNSUPPORTED("socket_options"),
	UNSUPPORTED("tcp_fast_open_queue_length"),
	UNSUPPORTED("traffic_direction"),
	UNSUPPORTED("udp_listener_config"),
	UNSUPPORTED("api_listener"),
	UNSUPPORTED("connection_balance_config"),
	UNSUPPORTED("reuse_port"),
	{.key = "access_log",
	 .type = TP_CFG_REPEATED,
	 .off = offsetof(struct tp_listener_cfg, access_logs),
	 .count_off = offsetof(struct tp_listener_cfg, n_access_logs),
	 .sub = &tp_access_log_schema},
	UNSUPPORTED("tcp_backlog_size"),
	UNSUPPORTED("max_connections_to_accept_per_socket_event"),
	UNSUPPORTED("bind_to_port"),
	UNSUPPORTED("internal_listener"),
	UNSUPPORTED("enable_mptcp"),
	UNSUPPORTED("ignore_global_conn_limit"),
	UNSUPPORTED("bypass_overload_manager"),
	UNSUPPORTED("fcds_config"),
	REMOVED("deprecated_v1", NULL),
	{.key = NULL},
};

static const struct tp_cfg_schema listener_schema = {
	.name = "envoy.config.listener.v3.Listener",
	.size = sizeof(struct tp_listener_cfg),
	.fields = listener_fields,
	.mark_off = TP_CFG_MARK(struct tp_listener_cfg, mark),
	.post = listener_post,
};

/* ---- envoy.config.endpoint.v3.ClusterLoadAssignment ---- */

static const struct tp_cfg_field endpoint_fields[] = {
	{.key = "address",
	 .type = TP_CFG_MESSAGE,
	 .flags = TP_CFG_REQUIRED,
	 .off = offsetof(struct tp_endpoint_cfg, addr),
	 .sub = &address_schema},
	UNSUPPORTED("health_check_config"),
	UNSUPPORTED("hostname"),
	UNSUPPORTED("additional_addresses"),
	{.key = NULL},
};

/* envoy.config.endpoint.v3.Endpoint, over the same tp_endpoint_cfg as its LbEndpoint. */
static const struct tp_cfg_schema endpoint_schema = {
	.name = "envoy.config.endpoint.v3.Endpoint",
	.size = sizeof(struct tp_endpoint_cfg),
	.fields = endpoint_fields,
};

static const struct tp_cfg_field lb_endpoint_fields[] = {
	{.key = "endpoint",
	 .type = TP_CFG_MESSAGE,
	 .flags = TP_CFG_REQUIRED,
	 .off = 0,
	 .sub = &endpoint_schema,
	 .oneof = "host_identifier"},
	{.key = "load_balancing_weight",
	 .type = TP_CFG_UINT32,
	 .off = offsetof(struct tp_endpoint_cfg, weight),
	 .min = 1,
	 .max = UINT32_MAX,
	 .def = 1},
	UNSUPPORTED_ONEOF("endpoint_name", "host_identifier"),
	UNSUPPORTED("health_status"),
	{.key = "metadata",
	 .type = TP_CFG_CUSTOM,
	 .off = offsetof(struct tp_endpoint_cfg, lb_metadata),
	 .decode = tp_cfg_decode_lb_metadata,
	 .free = tp_cfg_free_mstruct},
	{.key = NULL},
};

static const struct tp_cfg_schema lb_endpoint_schema = {
	.name = "envoy.config.endpoint.v3.LbEndpoint",
	.size = sizeof(struct tp_endpoint_cfg),
	.fields = lb_endpoint_fields,
	.mark_off = TP_CFG_MARK(struct tp_endpoint_cfg, mark),
};

/* LocalityLbEndpoints and ClusterLoadAssignment as written; the cluster keeps one flat list of
 * endpoints, each naming its priority and locality. */
struct locality_tmp {
	struct tp_endpoint_cfg *eps;
	size_t n_eps;
	int64_t weight; /* -1: not given */
	uint32_t priority;
	struct {
		char *region;
		char *zone;
		char *sub_zone;
	} locality;
	struct tp_cfg_mark locality_mark; /* line 0: no locality given */
	struct tp_cfg_mark weight_mark;
};

struct load_assignment_tmp {
	char *cluster_name;
	struct locality_tmp *locs;
	size_t n_locs;
};

/* envoy.config.core.v3.Locality, within a locality_tmp. */
static const struct tp_cfg_field core_locality_fields[] = {
	{.key = "region", .type = TP_CFG_STRING, .off = 0},
	{.key = "zone", .type = TP_CFG_STRING, .off = sizeof(char *)},
	{.key = "sub_zone", .type = TP_CFG_STRING, .off = 2 * sizeof(char *)},
	{.key = NULL},
};

static const struct tp_cfg_schema core_locality_schema = {
	.name = "envoy.config.core.v3.Locality",
	.size = 3 * sizeof(char *),
	.fields = core_locality_fields,
};

static const struct tp_cfg_field locality_fields[] = {
	{.key = "lb_endpoints",
	 .type = TP_CFG_REPEATED,
	 .off = offsetof(struct locality_tmp, eps),
	 .count_off = offsetof(struct locality_tmp, n_eps),
	 .sub = &lb_endpoint_schema},
	{.key = "priority",
	 .type = TP_CFG_UINT32,
	 .off = offsetof(struct locality_tmp, priority),
	 .min = 0,
	 .max = 128},
	{.key = "locality",
	 .type = TP_CFG_MESSAGE,
	 .off = offsetof(struct locality_tmp, locality),
	 .sub = &core_locality_schema,
	 .mark_off = TP_CFG_MARK(struct locality_tmp, locality_mark)},
	UNSUPPORTED("metadata"),
	{.key = "load_balancing_weight",
	 .type = TP_CFG_UINT32_OPT,
	 .off = offsetof(struct locality_tmp, weight),
	 .min = 1,
	 .max = UINT32_MAX,
	 .def = -1,
	 .mark_off = TP_CFG_MARK(struct locality_tmp, weight_mark)},
	UNSUPPORTED("proximity"),
	UNSUPPORTED("leds_cluster_locality_config"),
	{.key = NULL},
};

static const struct tp_cfg_schema locality_schema = {
	.name = "envoy.config.endpoint.v3.LocalityLbEndpoints",
	.size = sizeof(struct locality_tmp),
	.fields = locality_fields,
};

static const struct tp_cfg_field load_assignment_fields[] = {
	{.key = "cluster_name",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_REQUIRED | TP_CFG_NONEMPTY,
	 .off = offsetof(struct load_assignment_tmp, cluster_name)},
	{.key = "endpoints",
	 .type = TP_CFG_REPEATED,
	 .off = offsetof(struct load_assignment_tmp, locs),
	 .count_off = offsetof(struct load_assignment_tmp, n_locs),
	 .sub = &locality_schema},
	UNSUPPORTED("named_endpoints"),
	UNSUPPORTED("policy"),
	{.key = NULL},
};

static const struct tp_cfg_schema load_assignment_schema = {
	.name = "envoy.config.endpoint.v3.ClusterLoadAssignment",
	.size = sizeof(struct load_assignment_tmp),
	.fields = load_assignment_fields,
};

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

/* Envoy's LocalityLess: region, then zone, then sub_zone. */
static int locality_cmp(const struct tp_locality_cfg *a, const struct tp_locality_cfg *b)
{
	int c;

	if (a->priority != b->priority)
		return a->priority < b->priority ? -1 : 1;
	c = strcmp(str_or_empty(a->region), str_or_empty(b->region));
	if (!c)
		c = strcmp(str_or_empty(a->zone), str_or_empty(b->zone));
	if (!c)
		c = strcmp(str_or_empty(a->sub_zone), str_or_empty(b->sub_zone));
	return c;
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

/* The cluster's localities: one per priority and locality, sorted as Envoy's std::map keeps
 * them; a weight counts only given with a locality, and the last given wins, as in Envoy's
 * PriorityStateManager. Each endpoint learns its priority and locality. */
static int group_localities(struct tp_cfg_ctx *ctx, struct tp_cluster_cfg *c,
			    const struct load_assignment_tmp *la)
{
	size_t n = 0, at = 0;
	bool oom = false;

	c->n_priorities = 1;
	c->localities = calloc(la->n_locs ? la->n_locs : 1, sizeof(*c->localities));
	if (!c->localities)
		return -ENOMEM;
	for (size_t i = 0; i < la->n_locs; i++) {
		const struct locality_tmp *lt = &la->locs[i];
		struct tp_locality_cfg key = {.region = lt->locality.region,
					      .zone = lt->locality.zone,
					      .sub_zone = lt->locality.sub_zone,
					      .priority = lt->priority};
		size_t j = 0;

		if (lt->weight >= 0 && !lt->locality_mark.line) {
			size_t old = tp_cfg_path_push(ctx, "endpoints");

			tp_cfg_path_push_index(ctx, i);
			tp_cfg_warn_mark(ctx, lt->weight_mark, "load_balancing_weight",
					 "has no effect without a locality, as in Envoy");
			tp_cfg_path_pop(ctx, old);
		}
		while (j < n && locality_cmp(&c->localities[j], &key))
			j++;
		if (j == n) {
			c->localities[n].region = dup_or_null(key.region, &oom);
			c->localities[n].zone = dup_or_null(key.zone, &oom);
			c->localities[n].sub_zone = dup_or_null(key.sub_zone, &oom);
			c->localities[n].priority = key.priority;
			n++;
		}
		if (lt->weight >= 0 && lt->locality_mark.line)
			c->localities[j].weight = (uint32_t)lt->weight;
		if (lt->priority + 1 > c->n_priorities)
			c->n_priorities = lt->priority + 1;
	}
	c->n_localities = n;
	if (oom)
		return -ENOMEM;
	/* Few localities: insertion sort. */
	for (size_t i = 1; i < n; i++) {
		struct tp_locality_cfg x = c->localities[i];
		size_t j = i;

		while (j > 0 && locality_cmp(&c->localities[j - 1], &x) > 0) {
			c->localities[j] = c->localities[j - 1];
			j--;
		}
		c->localities[j] = x;
	}
	for (size_t i = 0; i < la->n_locs; i++) {
		const struct locality_tmp *lt = &la->locs[i];
		struct tp_locality_cfg key = {.region = lt->locality.region,
					      .zone = lt->locality.zone,
					      .sub_zone = lt->locality.sub_zone,
					      .priority = lt->priority};
		uint32_t idx = 0;

		while (idx < n && locality_cmp(&c->localities[idx], &key))
			idx++;
		for (size_t j = 0; j < lt->n_eps; j++, at++) {
			c->endpoints[at].priority = lt->priority;
			c->endpoints[at].locality = idx;
		}
	}
	return 0;
}

/* The cluster's type as written (before it is decoded: fields come in file order), to know
 * whether its endpoints may name hosts. */
static bool is_dns_type(const struct tp_ynode *t)
{
	if (!t || t->type != TP_YNODE_SCALAR)
		return false;
	return !strcasecmp(t->str, "STRICT_DNS") || !strcasecmp(t->str, "LOGICAL_DNS") ||
	       !strcmp(t->str, "1") || !strcmp(t->str, "2");
}

static int decode_load_assignment(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
				  const struct tp_ynode *v, void *obj)
{
	struct tp_cluster_cfg *c = obj;
	struct load_assignment_tmp la = {0};
	uint64_t total_weight = 0;
	size_t n = 0;
	int ret;

	ctx->in_cluster = true;
	ctx->names_ok = is_dns_type(tp_cfg_find(ctx->map, "type"));
	ret = tp_cfg_decode(ctx, &load_assignment_schema, v, &la);
	ctx->in_cluster = ctx->names_ok = false;
	for (size_t i = 0; i < la.n_locs; i++)
		n += la.locs[i].n_eps;
	if (n) {
		c->endpoints = calloc(n, sizeof(*c->endpoints));
		if (!c->endpoints) {
			ctx->oom = true;
			ret = -ENOMEM;
			goto out_free;
		}
	}
	for (size_t i = 0; i < la.n_locs; i++) {
		for (size_t j = 0; j < la.locs[i].n_eps; j++) {
			struct tp_endpoint_cfg *ep = &la.locs[i].eps[j];

			c->endpoints[c->n_endpoints++] = *ep;
			/* The endpoint's metadata moves to the cluster's copy. */
			memset(&ep->lb_metadata, 0, sizeof(ep->lb_metadata));
			total_weight += ep->weight;
		}
	}
	if (group_localities(ctx, c, &la) < 0) {
		ctx->oom = true;
		ret = -ENOMEM;
		goto out_free;
	}
	/* Envoy refuses the same: the load balancers sum weights in 32 bits. */
	if (total_weight > UINT32_MAX) {
		tp_cfg_error(ctx, v, "endpoints",
			     "the sum of load_balancing_weight is %llu, more than 4294967295",
			     (unsigned long long)total_weight);
		ret = -EINVAL;
	}
out_free:
	tp_cfg_free(&load_assignment_schema, &la);
	return ret;
}

static void free_endpoints(const struct tp_cfg_field *f, void *obj)
{
	struct tp_cluster_cfg *c = obj;

	for (size_t i = 0; i < c->n_endpoints; i++) {
		tp_mstruct_free(&c->endpoints[i].lb_metadata);
		free(c->endpoints[i].addr.host);
	}
	free(c->endpoints);
	c->endpoints = NULL;
	c->n_endpoints = 0;
	tp_cfg_localities_free(c);
}

/* ---- DNS: the resolver of a STRICT_DNS or LOGICAL_DNS cluster ---- */

#define CARES_TYPE "envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig"

/* envoy.config.core.v3.DnsResolverOptions, over struct tp_dns_cfg */
static const struct tp_cfg_field dns_options_fields[] = {
	{.key = "use_tcp_for_dns_lookups",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_dns_cfg, use_tcp)},
	{.key = "no_default_search_domain",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_dns_cfg, no_default_search_domain)},
	{.key = NULL},
};

static const struct tp_cfg_schema dns_options_schema = {
	.name = "envoy.config.core.v3.DnsResolverOptions",
	.size = sizeof(struct tp_dns_cfg),
	.fields = dns_options_fields,
};

/* CaresDnsResolverConfig (typed_config, with its "@type") and the deprecated
 * DnsResolutionConfig share these rows. */
#define DNS_RESOLVER_ROWS                                                        \
	{.key = "resolvers",                                                     \
	 .type = TP_CFG_REPEATED,                                                \
	 .off = offsetof(struct tp_dns_cfg, resolvers),                          \
	 .count_off = offsetof(struct tp_dns_cfg, n_resolvers),                  \
	 .sub = &address_schema},                                                \
	{                                                                        \
		.key = "dns_resolver_options", .type = TP_CFG_MESSAGE, .off = 0, \
		.sub = &dns_options_schema                                       \
	}

static const struct tp_cfg_field cares_fields[] = {
	DNS_RESOLVER_ROWS,
	UNSUPPORTED("use_resolvers_as_fallback"),
	UNSUPPORTED("filter_unroutable_families"),
	IGNORED("udp_max_queries"),
	UNSUPPORTED("query_timeout_seconds"),
	UNSUPPORTED("query_tries"),
	UNSUPPORTED("rotate_nameservers"),
	UNSUPPORTED("edns0_max_payload_size"),
	UNSUPPORTED("max_udp_channel_duration"),
	{.key = NULL},
};

static const struct tp_cfg_schema cares_schema = {
	.name = CARES_TYPE,
	.size = sizeof(struct tp_dns_cfg),
	.fields = cares_fields,
	.any = true,
};

static int decode_dns_typed_config(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
				   const struct tp_ynode *v, void *obj)
{
	const struct tp_ynode *type = v->type == TP_YNODE_MAP ? tp_cfg_find(v, "@type") : NULL;
	const char *url = type && type->type == TP_YNODE_SCALAR ? type->str : NULL;
	const char *slash = url ? strrchr(url, '/') : NULL;

	if (!url) {
		tp_cfg_error(ctx, v, NULL, "missing \"@type\"");
		return -EINVAL;
	}
	if (strcmp(slash ? slash + 1 : url, CARES_TYPE)) {
		tp_cfg_error(ctx, type, "@type",
			     "DNS resolver \"%s\" is not supported by tcpproxy: it resolves with "
			     "c-ares (" CARES_TYPE ")",
			     url);
		return -EINVAL;
	}
	return tp_cfg_decode(ctx, &cares_schema, v, obj);
}

/* TypedExtensionConfig of the DNS resolver: envoy.network.dns_resolver.cares */
static const struct tp_cfg_field typed_dns_fields[] = {
	IGNORED("name"),
	{.key = "typed_config",
	 .type = TP_CFG_CUSTOM,
	 .flags = TP_CFG_REQUIRED,
	 .decode = decode_dns_typed_config},
	{.key = NULL},
};

static const struct tp_cfg_schema typed_dns_schema = {
	.name = "envoy.config.core.v3.TypedExtensionConfig",
	.size = sizeof(struct tp_dns_cfg),
	.fields = typed_dns_fields,
};

static const struct tp_cfg_field dns_resolution_fields[] = {
	DNS_RESOLVER_ROWS,
	{.key = NULL},
};

static const struct tp_cfg_schema dns_resolution_schema = {
	.name = "envoy.config.cluster.v3.DnsResolutionConfig",
	.size = sizeof(struct tp_dns_cfg),
	.fields = dns_resolution_fields,
};

/* Cluster.RefreshRate */
static const struct tp_cfg_field refresh_rate_fields[] = {
	{.key = "base_interval",
	 .type = TP_CFG_DURATION,
	 .flags = TP_CFG_REQUIRED,
	 .off = offsetof(struct tp_dns_cfg, failure_base_ms),
	 .min = 2, /* Envoy: greater than 1 ms */
	 .max = INT64_MAX},
	{.key = "max_interval",
	 .type = TP_CFG_DURATION,
	 .off = offsetof(struct tp_dns_cfg, failure_max_ms),
	 .min = 2,
	 .max = INT64_MAX},
	{.key = NULL},
};

static const struct tp_cfg_schema refresh_rate_schema = {
	.name = "envoy.config.cluster.v3.Cluster.RefreshRate",
	.size = sizeof(struct tp_dns_cfg),
	.fields = refresh_rate_fields,
};

static const struct tp_cfg_enum dns_family_enum[] = {
	{"AUTO", 0, TP_DNS_AUTO, false},       {"V4_ONLY", 1, TP_DNS_V4_ONLY, false},
	{"V6_ONLY", 2, TP_DNS_V6_ONLY, false}, {"V4_PREFERRED", 3, TP_DNS_V4_PREFERRED, false},
	{"ALL", 4, TP_DNS_ALL, false},	       {.name = NULL},
};

/* What a DNS cluster needs and a STATIC one must not have. */
static void dns_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, struct tp_cluster_cfg *c)
{
	struct tp_dns_cfg *d = &c->dns;

	/* Envoy ignores the DNS fields of a STATIC cluster; so does tcpproxy. */
	if (c->type == TP_CLUSTER_STATIC)
		return;
	d->failure_given = d->failure_base_ms != 0;
	if (!d->failure_base_ms)
		d->failure_base_ms = d->refresh_ms;
	if (!d->failure_max_ms)
		d->failure_max_ms = 10 * d->failure_base_ms;
	if (d->failure_max_ms < d->failure_base_ms) {
		tp_cfg_error(ctx, tp_cfg_find(map, "dns_failure_refresh_rate"),
			     "dns_failure_refresh_rate.max_interval",
			     "must not be less than base_interval");
	}
	if (!d->n_resolvers && d->n_legacy) {
		d->resolvers = d->legacy;
		d->n_resolvers = d->n_legacy;
		d->legacy = NULL;
		d->n_legacy = 0;
	}
	if (c->type == TP_CLUSTER_LOGICAL_DNS && c->n_endpoints != 1) {
		tp_cfg_error(ctx, tp_cfg_find(map, "load_assignment") ?: map, "load_assignment",
			     "a LOGICAL_DNS cluster must have exactly one endpoint, it has %zu",
			     c->n_endpoints);
	}
}

/* ---- envoy.config.cluster.v3.Cluster ---- */

static const struct tp_cfg_enum cluster_type_enum[] = {
	{"STATIC", 0, TP_CLUSTER_STATIC, false},
	{"STRICT_DNS", 1, TP_CLUSTER_STRICT_DNS, false},
	{"LOGICAL_DNS", 2, TP_CLUSTER_LOGICAL_DNS, false},
	{"EDS", 3, 0, true},
	{"ORIGINAL_DST", 4, 0, true},
	{.name = NULL},
};

static const struct tp_cfg_enum lb_policy_enum[] = {
	{"ROUND_ROBIN", 0, TP_LB_ROUND_ROBIN, false},
	{"LEAST_REQUEST", 1, TP_LB_LEAST_REQUEST, false},
	{"RING_HASH", 2, TP_LB_RING_HASH, false},
	{"RANDOM", 3, TP_LB_RANDOM, false},
	{"MAGLEV", 5, TP_LB_MAGLEV, false},
	{"CLUSTER_PROVIDED", 6, 0, true},
	{"LOAD_BALANCING_POLICY_CONFIG", 7, 0, true},
	{.name = NULL},
};

/* The load-balancing fields together (core/config/cluster_lb.c), then the cluster's stats scopes,
 * cluster.<name> and host.<name>::<address>: both must fit. */
static void cb_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj);

static void cluster_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_cluster_cfg *c = obj;
	size_t len = c->name ? strlen(c->name) : 0;

	/* No circuit_breakers: Envoy's defaults all the same. */
	if (!tp_cfg_find(map, "circuit_breakers"))
		cb_post(ctx, NULL, &c->cb);

	tp_http_proto_post(ctx, c);
	tp_cfg_cluster_lb_post(ctx, map, c);
	dns_post(ctx, map, c);
	tp_cfg_health_checks_post(ctx, c);
	if (!c->panic_threshold_given)
		c->panic_threshold = 50;

	if (len > TP_CFG_STAT_NAME_MAX) {
		tp_cfg_error_mark(ctx, c->name_mark, "name",
				  "is %zu characters long: tcpproxy's stats take names of at most "
				  "%d characters (see docs/envoy-compat.md)",
				  len, TP_CFG_STAT_NAME_MAX);
		return;
	}
	for (size_t i = 0; c->name && i < c->n_endpoints; i++) {
		/* A name resolves to an address of at most "[v6]:port" */
		size_t host = len + 2 +
			      (c->endpoints[i].addr.host ? sizeof("[ffff:ffff:ffff:ffff:ffff:ffff:"
								  "ffff:ffff]:65535") -
								   1
							 : strlen(c->endpoints[i].addr.text));

		if (host <= TP_CFG_STAT_NAME_MAX)
			continue;
		tp_cfg_error_mark(ctx, c->name_mark, "name",
				  "is %zu characters long: with endpoint %s its host stats name "
				  "(<name>::<address>) is %zu, more than the %d tcpproxy's stats "
				  "take (see docs/envoy-compat.md)",
				  len, c->endpoints[i].addr.text, host, TP_CFG_STAT_NAME_MAX);
		break;
	}
}

static const struct tp_cfg_enum routing_priority_enum[] = {
	{"DEFAULT", 0, 0, false},
	{"HIGH", 1, 1, false},
	{.name = NULL},
};

/* Cluster.CircuitBreakers.Thresholds. max_requests, max_retries and retry_budget are accepted
 * and do not apply: Envoy's TCP pool does not enforce requests() (enforceMaxRequests() is false)
 * and tcp_proxy's connect attempts never ask retries(). */
static const struct tp_cfg_field cb_thresholds_fields[] = {
	{.key = "priority",
	 .type = TP_CFG_ENUM,
	 .off = offsetof(struct tp_cb_thresholds_cfg, priority),
	 .enums = routing_priority_enum,
	 .def = 0},
	{.key = "max_connections",
	 .type = TP_CFG_UINT32_OPT,
	 .off = offsetof(struct tp_cb_thresholds_cfg, max_connections),
	 .min = 0,
	 .max = UINT32_MAX,
	 .def = -1},
	{.key = "max_pending_requests",
	 .type = TP_CFG_UINT32_OPT,
	 .off = offsetof(struct tp_cb_thresholds_cfg, max_pending_requests),
	 .min = 0,
	 .max = UINT32_MAX,
	 .def = -1},
	{.key = "max_requests",
	 .type = TP_CFG_UINT32_OPT,
	 .off = offsetof(struct tp_cb_thresholds_cfg, max_requests),
	 .min = 0,
	 .max = UINT32_MAX,
	 .def = -1},
	{.key = "max_retries",
	 .type = TP_CFG_UINT32_OPT,
	 .off = offsetof(struct tp_cb_thresholds_cfg, max_retries),
	 .min = 0,
	 .max = UINT32_MAX,
	 .def = -1},
	/* Not a request limit: Envoy's ConnPoolMap checks it for TCP pools too (one per host and
	 * worker thread), which tcpproxy does not have. */
	{.key = "max_connection_pools",
	 .type = TP_CFG_UNSUPPORTED,
	 .hint = "Envoy bounds its per-host, per-thread TCP connection pools with it; tcpproxy "
		 "has no pools"},
	IGNORED("retry_budget"),
	{.key = "track_remaining",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_cb_thresholds_cfg, track_remaining)},
	{.key = NULL},
};

static const struct tp_cfg_schema cb_thresholds_schema = {
	.name = "envoy.config.cluster.v3.CircuitBreakers.Thresholds",
	.size = sizeof(struct tp_cb_thresholds_cfg),
	.fields = cb_thresholds_fields,
	.mark_off = TP_CFG_MARK(struct tp_cb_thresholds_cfg, mark),
};

/* Envoy's ClusterInfoImpl::ResourceManagers::load: the first thresholds of the priority
 * (std::find_if), each limit defaulted on its own. */
static void cb_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_cb_cfg *cb = obj;
	const struct tp_cb_thresholds_cfg *t = NULL, *h = NULL;

	for (size_t i = 0; i < cb->n_thresholds && !t; i++)
		if (cb->thresholds[i].priority == 0)
			t = &cb->thresholds[i];
	for (size_t i = 0; i < cb->n_thresholds && !h; i++)
		if (cb->thresholds[i].priority == 1)
			h = &cb->thresholds[i];
	cb->high_max_connections =
		h && h->max_connections >= 0 ? (uint64_t)h->max_connections : 1024;
	cb->high_max_pending_requests =
		h && h->max_pending_requests >= 0 ? (uint64_t)h->max_pending_requests : 1024;
	cb->high_max_requests = h && h->max_requests >= 0 ? (uint64_t)h->max_requests : 1024;
	cb->high_max_retries = h && h->max_retries >= 0 ? (uint64_t)h->max_retries : 3;
	cb->high_track_remaining = h && h->track_remaining;
	cb->max_connections = t && t->max_connections >= 0 ? (uint64_t)t->max_connections : 1024;
	cb->max_pending_requests =
		t && t->max_pending_requests >= 0 ? (uint64_t)t->max_pending_requests : 1024;
	cb->max_requests = t && t->max_requests >= 0 ? (uint64_t)t->max_requests : 1024;
	cb->max_retries = t && t->max_retries >= 0 ? (uint64_t)t->max_retries : 3;
	cb->track_remaining = t && t->track_remaining;
}

static const struct tp_cfg_field cb_fields[] = {
	{.key = "thresholds",
	 .type = TP_CFG_REPEATED,
	 .off = offsetof(struct tp_cb_cfg, thresholds),
	 .count_off = offsetof(struct tp_cb_cfg, n_thresholds),
	 .sub = &cb_thresholds_schema},
	UNSUPPORTED("per_host_thresholds"),
	{.key = NULL},
};

static const struct tp_cfg_schema cb_schema = {
	.name = "envoy.config.cluster.v3.CircuitBreakers",
	.size = sizeof(struct tp_cb_cfg),
	.fields = cb_fields,
	.post = cb_post,
};

/* OutlierDetection, with Envoy's defaults. */
#define OD_U32(k, def_, max_)                                                                \
	{                                                                                    \
		.key = #k, .type = TP_CFG_UINT32, .off = offsetof(struct tp_outlier_cfg, k), \
		.min = 0, .max = max_, .def = def_                                           \
	}
#define OD_MS(k, def_)                                                                      \
	{                                                                                   \
		.key = #k, .type = TP_CFG_DURATION,                                         \
		.off = offsetof(struct tp_outlier_cfg, k##_ms), .min = 1, .max = INT64_MAX, \
		.def = def_                                                                 \
	}
#define OD_LATER(k)                                                                         \
	{                                                                                   \
		.key = k, .type = TP_CFG_UNSUPPORTED,                                       \
		.hint = "an HTTP monitor extension; tcp_proxy reports connect results only" \
	}

static const struct tp_cfg_field outlier_fields[] = {
	OD_U32(consecutive_5xx, 5, UINT32_MAX),
	OD_U32(consecutive_gateway_failure, 5, UINT32_MAX),
	OD_U32(consecutive_local_origin_failure, 5, UINT32_MAX),
	OD_U32(enforcing_consecutive_5xx, 100, 100),
	OD_U32(enforcing_consecutive_gateway_failure, 0, 100),
	OD_U32(enforcing_consecutive_local_origin_failure, 100, 100),
	OD_U32(max_ejection_percent, 10, 100),
	OD_MS(interval, 10000),
	OD_MS(base_ejection_time, 30000),
	OD_MS(max_ejection_time, -1),
	{.key = "split_external_local_origin_errors",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_outlier_cfg, split)},
	OD_U32(success_rate_minimum_hosts, 5, UINT32_MAX),
	OD_U32(success_rate_request_volume, 100, UINT32_MAX),
	OD_U32(success_rate_stdev_factor, 1900, UINT32_MAX),
	OD_U32(enforcing_success_rate, 100, 100),
	OD_U32(enforcing_local_origin_success_rate, 100, 100),
	OD_U32(failure_percentage_threshold, 85, 100),
	OD_U32(enforcing_failure_percentage, 0, 100),
	OD_U32(enforcing_failure_percentage_local_origin, 0, 100),
	OD_U32(failure_percentage_minimum_hosts, 5, UINT32_MAX),
	OD_U32(failure_percentage_request_volume, 50, UINT32_MAX),
	{.key = "max_ejection_time_jitter",
	 .type = TP_CFG_DURATION,
	 .off = offsetof(struct tp_outlier_cfg, max_ejection_time_jitter_ms),
	 .min = 0,
	 .max = INT64_MAX},
	/* Envoy: PROTOBUF_GET_WRAPPED_OR_DEFAULT(..., true). */
	{.key = "successful_active_health_check_uneject_host",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_outlier_cfg, successful_active_health_check_uneject_host),
	 .def = true},
	{.key = "always_eject_one_host",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_outlier_cfg, always_eject_one_host)},
	OD_LATER("monitors"),
	{.key = NULL},
};

static void outlier_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_outlier_cfg *o = obj;

	o->enabled = true;
	/* Envoy: unset, the larger of 300 s and base_ejection_time; set, not below it. */
	if (o->max_ejection_time_ms < 0)
		o->max_ejection_time_ms =
			o->base_ejection_time_ms > 300000 ? o->base_ejection_time_ms : 300000;
	else if (o->max_ejection_time_ms < o->base_ejection_time_ms)
		tp_cfg_error(ctx, tp_cfg_find(map, "max_ejection_time"), NULL,
			     "max_ejection_time cannot be smaller than base_ejection_time");
}

static const struct tp_cfg_schema outlier_schema = {
	.name = "envoy.config.cluster.v3.OutlierDetection",
	.size = sizeof(struct tp_outlier_cfg),
	.fields = outlier_fields,
	.mark_off = TP_CFG_MARK(struct tp_outlier_cfg, mark),
	.post = outlier_post,
};

static const struct tp_cfg_field cluster_fields[] = {
	{.key = "name",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_REQUIRED | TP_CFG_NONEMPTY,
	 .off = offsetof(struct tp_cluster_cfg, name),
	 .mark_off = TP_CFG_MARK(struct tp_cluster_cfg, name_mark)},
	{.key = "type",
	 .type = TP_CFG_ENUM,
	 .off = offsetof(struct tp_cluster_cfg, type),
	 .enums = cluster_type_enum,
	 .def = TP_CLUSTER_STATIC},
	/* protobuf's Duration validation in Envoy: connect_timeout must be greater than 0s. */
	{.key = "connect_timeout",
	 .type = TP_CFG_DURATION,
	 .off = offsetof(struct tp_cluster_cfg, connect_timeout_ms),
	 .min = 1,
	 .max = INT64_MAX,
	 .def = TP_DEFAULT_CONNECT_TIMEOUT},
	{.key = "lb_policy",
	 .type = TP_CFG_ENUM,
	 .off = offsetof(struct tp_cluster_cfg, lb_policy),
	 .enums = lb_policy_enum,
	 .def = TP_LB_ROUND_ROBIN,
	 .mark_off = TP_CFG_MARK(struct tp_cluster_cfg, lb_mark)},
	{.key = "per_connection_buffer_limit_bytes",
	 .type = TP_CFG_UINT32,
	 .off = offsetof(struct tp_cluster_cfg, per_connection_buffer_limit_bytes),
	 .min = 1,
	 .max = UINT32_MAX,
	 .def = TP_DEFAULT_BUFFER_LIMIT},
	{.key = "load_assignment",
	 .type = TP_CFG_CUSTOM,
	 .decode = decode_load_assignment,
	 .free = free_endpoints},
	REMOVED("hosts", "use load_assignment"),
	REMOVED("tls_context", "use transport_socket"),
	UNSUPPORTED("cluster_type"),
	UNSUPPORTED("transport_socket_matches"),
	UNSUPPORTED("alt_stat_name"),
	UNSUPPORTED("eds_cluster_config"),
	{.key = "health_checks",
	 .type = TP_CFG_REPEATED,
	 .off = offsetof(struct tp_cluster_cfg, health_checks),
	 .count_off = offsetof(struct tp_cluster_cfg, n_health_checks),
	 .sub = &tp_cfg_health_check_schema},
	UNSUPPORTED("max_requests_per_connection"),
	{.key = "circuit_breakers",
	 .type = TP_CFG_MESSAGE,
	 .off = offsetof(struct tp_cluster_cfg, cb),
	 .sub = &cb_schema},
	UNSUPPORTED("upstream_http_protocol_options"),
	/* The HTTP an HTTP tunnel speaks to the hosts (core/config/http_proto.c): the deprecated
	 * fields, then HttpProtocolOptions, which they may not be mixed with. */
	{.key = "common_http_protocol_options",
	 .type = TP_CFG_CUSTOM,
	 .decode = tp_http_proto_decode_common},
	{.key = "http_protocol_options", .type = TP_CFG_CUSTOM, .decode = tp_http_proto_decode_h1},
	{.key = "http2_protocol_options", .type = TP_CFG_CUSTOM, .decode = tp_http_proto_decode_h2},
	{.key = "typed_extension_protocol_options",
	 .type = TP_CFG_CUSTOM,
	 .decode = tp_http_proto_decode_typed},
	{.key = "dns_refresh_rate",
	 .type = TP_CFG_DURATION,
	 .off = offsetof(struct tp_cluster_cfg, dns.refresh_ms),
	 .min = 2, /* Envoy: greater than 1 ms */
	 .max = INT64_MAX,
	 .def = 5000},
	{.key = "dns_jitter",
	 .type = TP_CFG_DURATION,
	 .off = offsetof(struct tp_cluster_cfg, dns.jitter_ms),
	 .min = 0,
	 .max = INT64_MAX},
	{.key = "dns_failure_refresh_rate",
	 .type = TP_CFG_MESSAGE,
	 .off = offsetof(struct tp_cluster_cfg, dns),
	 .sub = &refresh_rate_schema},
	{.key = "respect_dns_ttl",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_cluster_cfg, dns.respect_ttl)},
	{.key = "dns_lookup_family",
	 .type = TP_CFG_ENUM,
	 .off = offsetof(struct tp_cluster_cfg, dns.family),
	 .enums = dns_family_enum},
	{.key = "dns_resolvers",
	 .type = TP_CFG_REPEATED,
	 .off = offsetof(struct tp_cluster_cfg, dns.legacy),
	 .count_off = offsetof(struct tp_cluster_cfg, dns.n_legacy),
	 .sub = &address_schema},
	{.key = "use_tcp_for_dns_lookups",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_cluster_cfg, dns.use_tcp)},
	{.key = "dns_resolution_config",
	 .type = TP_CFG_MESSAGE,
	 .off = offsetof(struct tp_cluster_cfg, dns),
	 .sub = &dns_resolution_schema},
	{.key = "typed_dns_resolver_config",
	 .type = TP_CFG_MESSAGE,
	 .off = offsetof(struct tp_cluster_cfg, dns),
	 .sub = &typed_dns_schema},
	UNSUPPORTED("wait_for_warm_on_init"),
	{.key = "outlier_detection",
	 .type = TP_CFG_MESSAGE,
	 .off = offsetof(struct tp_cluster_cfg, outlier),
	 .sub = &outlier_schema},
	UNSUPPORTED("cleanup_interval"),
	UNSUPPORTED("upstream_bind_config"),
	{.key = "lb_subset_config",
	 .type = TP_CFG_MESSAGE,
	 .off = offsetof(struct tp_cluster_cfg, subset),
	 .sub = &tp_cfg_lb_subset_schema},
	{.key = "ring_hash_lb_config", .type = TP_CFG_MESSAGE, .sub = &tp_cfg_ring_hash_schema},
	{.key = "maglev_lb_config", .type = TP_CFG_MESSAGE, .sub = &tp_cfg_maglev_schema},
	UNSUPPORTED("original_dst_lb_config"),
	{.key = "least_request_lb_config",
	 .type = TP_CFG_MESSAGE,
	 .sub = &tp_cfg_least_request_schema},
	UNSUPPORTED("round_robin_lb_config"),
	{.key = "common_lb_config", .type = TP_CFG_MESSAGE, .sub = &tp_cfg_common_lb_schema},
	{.key = "transport_socket",
	 .type = TP_CFG_CUSTOM,
	 .off = offsetof(struct tp_cluster_cfg, transport),
	 .decode = decode_cluster_transport_socket},
	UNSUPPORTED("metadata"),
	UNSUPPORTED("protocol_selection"),
	UNSUPPORTED("upstream_connection_options"),
	{.key = "close_connections_on_host_health_failure",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_cluster_cfg, close_on_health_failure)},
	UNSUPPORTED("ignore_health_on_host_removal"),
	UNSUPPORTED("filters"),
	UNSUPPORTED("load_balancing_policy"),
	UNSUPPORTED("lrs_server"),
	UNSUPPORTED("lrs_report_endpoint_metrics"),
	UNSUPPORTED("track_timeout_budgets"),
	UNSUPPORTED("upstream_config"),
	UNSUPPORTED("track_cluster_stats"),
	UNSUPPORTED("preconnect_policy"),
	UNSUPPORTED("connection_pool_per_downstream_connection"),
	{.key = NULL},
};

static const struct tp_cfg_schema cluster_schema = {
	.name = "envoy.config.cluster.v3.Cluster",
	.size = sizeof(struct tp_cluster_cfg),
	.fields = cluster_fields,
	.mark_off = TP_CFG_MARK(struct tp_cluster_cfg, mark),
	.post = cluster_post,
};

static void free_transport(struct tp_config *cfg, struct tp_transport_cfg *tc);

/* A CDS resource: a Cluster whose "@type" (checked by core/config/xds.c) belongs to it. */
static const struct tp_cfg_schema cds_cluster_schema = {
	.name = "envoy.config.cluster.v3.Cluster",
	.size = sizeof(struct tp_cluster_cfg),
	.fields = cluster_fields,
	.mark_off = TP_CFG_MARK(struct tp_cluster_cfg, mark),
	.any = true,
	.post = cluster_post,
};

void tp_config_cluster_free(struct tp_cluster_cfg *c)
{
	if (!c)
		return;
	free_transport(NULL, &c->transport);
	tp_cfg_free(&cds_cluster_schema, c);
	free(c);
}

int tp_config_decode_cds(const struct tp_xds_resources *r, const struct tp_config *statics,
			 struct tp_cluster_cfg ***out, size_t *n_out, struct tp_cfg_errors *errs)
{
	static const struct tp_config no_statics;
	struct tp_cluster_cfg **cl = calloc(r->n ? r->n : 1, sizeof(*cl));
	struct tp_cfg_ctx ctx;
	int ret = 0;

	*out = NULL;
	*n_out = 0;
	tp_cfg_ctx_init(&ctx, r->file, errs);
	if (!cl) {
		tp_cfg_errors_add(errs, 0, 0, "%s: %s", r->file, strerror(ENOMEM));
		return -ENOMEM;
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct tp_ynode *node = r->items[i];

		tp_cfg_path_set(&ctx, "resources[%zu]", i);
		cl[i] = calloc(1, sizeof(*cl[i]));
		if (!cl[i]) {
			ctx.oom = true;
			break;
		}
		tp_cfg_decode(&ctx, &cds_cluster_schema, node, cl[i]);
		if (!cl[i]->name) {
			if (!tp_cfg_find(node, "name"))
				tp_cfg_error(&ctx, node, "name",
					     "missing required field (a cluster "
					     "from CDS is known by its name)");
			continue;
		}
		/* A cluster from CDS may have what a static one has: circuit breakers come from a
		 * pool mapped before the fork (core/master/cds.c); a TLS context is made by each
		 * worker when it applies the cluster (core/worker/cds.c); HTTP/2 tunnels share the
		 * worker's connections, made on first use as for a static cluster; DNS, health
		 * checks and outlier detection run in the master for each generation's copy of the
		 * cluster (core/master/hostset.c, hs_cds_sync()).
		 * The transport is checked as check_transports() checks a static cluster's: secrets
		 * named by SDS come from the bootstrap's static_resources.secrets, and the context
		 * is built once on trial. */
		if (cl[i]->transport.ops && cl[i]->transport.conf && cl[i]->transport.ops->check) {
			tp_cfg_path_set(&ctx, "resources[%zu].transport_socket", i);
			/* h2 offered over TLS unless alpn_protocols says otherwise, as
			 * check_transports() does for a static cluster. */
			if (cl[i]->transport.ops == &tp_transport_tls_client &&
			    cl[i]->http.version == TP_HTTP_2 &&
			    tp_tls_default_alpn(cl[i]->transport.conf, "h2"))
				ctx.oom = true;
			cl[i]->transport.ops->check(&ctx, statics ? statics : &no_statics,
						    cl[i]->transport.conf);
		}
		tp_cfg_path_set(&ctx, "resources[%zu].name", i);
		if (statics && tp_config_cluster_index(statics, cl[i]->name) >= 0)
			tp_cfg_error_mark(&ctx, cl[i]->name_mark, NULL,
					  "cluster \"%s\" is in static_resources; CDS cannot "
					  "change it",
					  cl[i]->name);
		for (size_t j = 0; j < i; j++) {
			if (!cl[j] || !cl[j]->name || strcmp(cl[j]->name, cl[i]->name))
				continue;
			tp_cfg_error_mark(&ctx, cl[i]->name_mark, NULL,
					  "duplicate cluster name \"%s\" (first at line %u)",
					  cl[i]->name, cl[j]->name_mark.line);
			break;
		}
	}
	if (ctx.oom)
		ret = -ENOMEM;
	else if (ctx.n_errors)
		ret = -EINVAL;
	if (ret) {
		for (size_t i = 0; i < r->n; i++)
			tp_config_cluster_free(cl[i]);
		free(cl);
		if (ret == -ENOMEM)
			tp_cfg_errors_add(errs, 0, 0, "%s: %s", r->file, strerror(ENOMEM));
		return ret;
	}
	*out = cl;
	*n_out = r->n;
	return 0;
}

/* ---- envoy.config.bootstrap.v3.Bootstrap ---- */

static const struct tp_cfg_field static_resources_fields[] = {
	{.key = "listeners",
	 .type = TP_CFG_REPEATED,
	 .off = offsetof(struct tp_config, listeners),
	 .count_off = offsetof(struct tp_config, n_listeners),
	 .sub = &listener_schema},
	{.key = "clusters",
	 .type = TP_CFG_REPEATED,
	 .off = offsetof(struct tp_config, clusters),
	 .count_off = offsetof(struct tp_config, n_clusters),
	 .sub = &cluster_schema},
	{.key = "secrets",
	 .type = TP_CFG_CUSTOM,
	 .off = offsetof(struct tp_config, tls_secrets),
	 .decode = tp_tls_secrets_decode,
	 .free = tp_tls_secrets_free},
	{.key = NULL},
};

/* Bootstrap.StaticResources, over the tp_config itself. */
static const struct tp_cfg_schema static_resources_schema = {
	.name = "envoy.config.bootstrap.v3.Bootstrap.StaticResources",
	.size = sizeof(struct tp_config),
	.fields = static_resources_fields,
};

static void admin_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_admin_cfg *a = obj;

	a->enabled = a->addr.len != 0;
}

static const struct tp_cfg_field admin_fields[] = {
	{.key = "address",
	 .type = TP_CFG_MESSAGE,
	 .off = offsetof(struct tp_admin_cfg, addr),
	 .sub = &address_schema},
	UNSUPPORTED("access_log"),
	IGNORED("access_log_path"),
	UNSUPPORTED("profile_path"),
	UNSUPPORTED("socket_options"),
	UNSUPPORTED("ignore_global_conn_limit"),
	{.key = NULL},
};

static const struct tp_cfg_schema admin_schema = {
	.name = "envoy.config.bootstrap.v3.Admin",
	.size = sizeof(struct tp_admin_cfg),
	.fields = admin_fields,
	.post = admin_post,
};

static const struct tp_cfg_field cluster_manager_fields[] = {
	UNSUPPORTED("local_cluster_name"),
	UNSUPPORTED("outlier_detection"),
	UNSUPPORTED("upstream_bind_config"),
	UNSUPPORTED("load_stats_config"),
	UNSUPPORTED_BUT("enable_deferred_cluster_creation", "false"),
	{.key = NULL},
};

/* envoy.config.bootstrap.v3.ClusterManager: no field is served, so it writes nothing. */
static const struct tp_cfg_schema cluster_manager_schema = {
	.name = "envoy.config.bootstrap.v3.ClusterManager",
	.size = 0,
	.fields = cluster_manager_fields,
};

/* Bootstrap.DynamicResources, over the tp_config itself: file sources only. lds_config is
 * served by the master (core/master/lds.c). */
static const struct tp_cfg_field dynamic_fields[] = {
	{.key = "cds_config",
	 .type = TP_CFG_MESSAGE,
	 .off = offsetof(struct tp_config, cds),
	 .sub = &tp_config_source_schema},
	{.key = "lds_config",
	 .type = TP_CFG_MESSAGE,
	 .off = offsetof(struct tp_config, lds),
	 .sub = &tp_config_source_schema},
	UNSUPPORTED("cds_resources_locator"),
	UNSUPPORTED("lds_resources_locator"),
	UNSUPPORTED("ads_config"),
	{.key = NULL},
};

static const struct tp_cfg_schema dynamic_schema = {
	.name = "envoy.config.bootstrap.v3.Bootstrap.DynamicResources",
	.size = sizeof(struct tp_config),
	.fields = dynamic_fields,
};

static const struct tp_cfg_field bootstrap_fields[] = {
	{.key = "static_resources",
	 .type = TP_CFG_MESSAGE,
	 .off = 0,
	 .sub = &static_resources_schema},
	{.key = "admin",
	 .type = TP_CFG_MESSAGE,
	 .off = offsetof(struct tp_config, admin),
	 .sub = &admin_schema},
	IGNORED("node"),
	UNSUPPORTED("node_context_params"),
	{.key = "dynamic_resources", .type = TP_CFG_MESSAGE, .off = 0, .sub = &dynamic_schema},
	/* Empty, it sets nothing: Envoy's defaults are tcpproxy's. */
	{.key = "cluster_manager", .type = TP_CFG_MESSAGE, .sub = &cluster_manager_schema},
	UNSUPPORTED("hds_config"),
	UNSUPPORTED("flags_path"),
	UNSUPPORTED("stats_sinks"),
	UNSUPPORTED("deferred_stat_options"),
	UNSUPPORTED("stats_config"),
	UNSUPPORTED("stats_flush_interval"),
	UNSUPPORTED("stats_flush_on_admin"),
	UNSUPPORTED("stats_eviction_interval"),
	UNSUPPORTED("watchdog"),
	UNSUPPORTED("watchdogs"),
	UNSUPPORTED("tracing"),
	UNSUPPORTED("layered_runtime"),
	UNSUPPORTED("overload_manager"),
	UNSUPPORTED("enable_dispatcher_stats"),
	UNSUPPORTED("header_prefix"),
	UNSUPPORTED("stats_server_version_override"),
	UNSUPPORTED("use_tcp_for_dns_lookups"),
	UNSUPPORTED("dns_resolution_config"),
	UNSUPPORTED("typed_dns_resolver_config"),
	UNSUPPORTED("bootstrap_extensions"),
	UNSUPPORTED("fatal_actions"),
	UNSUPPORTED("config_sources"),
	UNSUPPORTED("default_config_source"),
	UNSUPPORTED("default_socket_interface"),
	UNSUPPORTED("certificate_provider_instances"),
	UNSUPPORTED("inline_headers"),
	UNSUPPORTED("perf_tracing_file_path"),
	UNSUPPORTED("default_regex_engine"),
	UNSUPPORTED("xds_delegate_extension"),
	UNSUPPORTED("xds_config_tracker_extension"),
	UNSUPPORTED("listener_manager"),
	UNSUPPORTED("application_log_config"),
	UNSUPPORTED("grpc_async_client_manager_config"),
	UNSUPPORTED("memory_allocator_manager"),
	REMOVED("runtime", "use layered_runtime"),
	{.key = NULL},
};

static const struct tp_cfg_schema bootstrap_schema = {
	.name = "envoy.config.bootstrap.v3.Bootstrap",
	.size = sizeof(struct tp_config),
	.fields = bootstrap_fields,
};

/* ---- checks across messages ---- */

/* Where the listeners checked stand in the file: a bootstrap's, or an LDS response's. */
static const char *lpath(const struct tp_cfg_ctx *ctx)
{
	return ctx->lds ? "resources" : "static_resources.listeners";
}

/* Listener names and addresses, each once. */
static void check_listener_names(struct tp_cfg_ctx *ctx, const struct tp_config *cfg)
{
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		const struct tp_listener_cfg *l = &cfg->listeners[i];

		/* A defaulted name is the address text: the address check below reports it. */
		if (!l->name || !l->name_mark.line)
			continue;
		for (size_t j = 0; j < i; j++) {
			const struct tp_listener_cfg *o = &cfg->listeners[j];

			if (!o->name || strcmp(o->name, l->name))
				continue;
			tp_cfg_path_set(ctx, "%s[%zu].name", lpath(ctx), i);
			tp_cfg_error_mark(ctx, l->name_mark, NULL,
					  "duplicate listener name \"%s\" (first at line %u)",
					  l->name,
					  o->name_mark.line ? o->name_mark.line : o->mark.line);
			break;
		}
	}
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		const struct tp_listener_cfg *l = &cfg->listeners[i];

		if (!l->addr.len)
			continue;
		for (size_t j = 0; j < i; j++) {
			const struct tp_listener_cfg *o = &cfg->listeners[j];

			if (o->addr.len != l->addr.len ||
			    memcmp(&o->addr.ss, &l->addr.ss, l->addr.len))
				continue;
			tp_cfg_path_set(ctx, "%s[%zu].address", lpath(ctx), i);
			tp_cfg_error_mark(ctx, l->addr_mark, NULL,
					  "address %s is already used by listener \"%s\" (line %u)",
					  l->addr.text, o->name ? o->name : "", o->mark.line);
			break;
		}
	}
}

static void check_names(struct tp_cfg_ctx *ctx, const struct tp_config *cfg)
{
	check_listener_names(ctx, cfg);
	for (size_t i = 0; i < cfg->n_clusters; i++) {
		const struct tp_cluster_cfg *c = &cfg->clusters[i];

		if (!c->name)
			continue;
		for (size_t j = 0; j < i; j++) {
			if (!cfg->clusters[j].name || strcmp(cfg->clusters[j].name, c->name))
				continue;
			tp_cfg_path_set(ctx, "static_resources.clusters[%zu].name", i);
			tp_cfg_error_mark(ctx, c->name_mark, NULL,
					  "duplicate cluster name \"%s\" (first at line %u)",
					  c->name, cfg->clusters[j].name_mark.line);
			break;
		}
	}
}

static void check_filters(struct tp_cfg_ctx *ctx, struct tp_config *cfg)
{
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		struct tp_listener_cfg *l = &cfg->listeners[i];

		/* The listener's own access logs, as tcp_proxy's check does for its. */
		if (tp_access_log_check(cfg, l->access_logs, l->n_access_logs) < 0)
			ctx->oom = true;

		for (size_t j = 0; j < l->n_filter_chains; j++) {
			const struct tp_filter_chain_cfg *fc = &l->filter_chains[j];

			for (size_t k = 0; k < fc->n_filters; k++) {
				const struct tp_filter_cfg *f = &fc->filters[k];

				if (!f->ops || !f->conf || !f->ops->check)
					continue;
				if (l->has_default_chain && j + 1 == l->n_filter_chains)
					tp_cfg_path_set(ctx,
							"%s[%zu].default_filter_chain."
							"filters[%zu].typed_config",
							lpath(ctx), i, k);
				else
					tp_cfg_path_set(ctx,
							"%s[%zu].filter_chains[%zu]."
							"filters[%zu].typed_config",
							lpath(ctx), i, j, k);
				f->ops->check(ctx, cfg, f->conf);
			}
		}
	}
}

/* What a transport can only check once the whole file is read (secrets by name, a trial
 * build of its TLS contexts), after the filters' checks have said what the formats need. */
static void check_listener_transports(struct tp_cfg_ctx *ctx, struct tp_config *cfg)
{
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		const struct tp_listener_cfg *l = &cfg->listeners[i];

		for (size_t j = 0; j < l->n_filter_chains; j++) {
			const struct tp_transport_cfg *tc = &l->filter_chains[j].transport;

			if (!tc->ops || !tc->conf || !tc->ops->check)
				continue;
			tp_cfg_path_set(ctx, "%s[%zu].filter_chains[%zu].transport_socket",
					lpath(ctx), i, j);
			tc->ops->check(ctx, cfg, tc->conf);
		}
	}
}

static void check_transports(struct tp_cfg_ctx *ctx, struct tp_config *cfg)
{
	check_listener_transports(ctx, cfg);
	for (size_t i = 0; i < cfg->n_clusters; i++) {
		const struct tp_transport_cfg *tc = &cfg->clusters[i].transport;

		if (!tc->ops || !tc->conf || !tc->ops->check)
			continue;
		tp_cfg_path_set(ctx, "static_resources.clusters[%zu].transport_socket", i);
		/* HTTP/2 tunnels over TLS offer h2 unless alpn_protocols says otherwise, as Envoy's
		 * HTTP/2 connection pool does: HTTP/2 front ends (nghttpx, Envoy) want it. */
		if (tc->ops == &tp_transport_tls_client &&
		    cfg->clusters[i].http.version == TP_HTTP_2 &&
		    tp_tls_default_alpn(tc->conf, "h2"))
			ctx->oom = true;
		tc->ops->check(ctx, cfg, tc->conf);
	}
}

int tp_config_cluster_index(const struct tp_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_clusters; i++) {
		if (cfg->clusters[i].name && !strcmp(cfg->clusters[i].name, name))
			return (int)i;
	}
	return -1;
}

/* Calls fn on every transport_socket of cfg: each filter chain's, then each cluster's. */
static void for_each_transport(struct tp_config *cfg,
			       void (*fn)(struct tp_config *cfg, struct tp_transport_cfg *tc))
{
	for (size_t i = 0; i < cfg->n_listeners; i++)
		for (size_t c = 0; c < cfg->listeners[i].n_filter_chains; c++)
			fn(cfg, &cfg->listeners[i].filter_chains[c].transport);
	for (size_t i = 0; i < cfg->n_clusters; i++)
		fn(cfg, &cfg->clusters[i].transport);
}

/* A transport that shares a context per configuration gets its index in the workers' table. */
static void number_transport(struct tp_config *cfg, struct tp_transport_cfg *tc)
{
	if (tc->ops && tc->ops->ctx_new)
		tc->idx = cfg->n_transport_ctx++;
}

static void free_transport(struct tp_config *cfg, struct tp_transport_cfg *tc)
{
	if (tc->ops && tc->ops->free_conf && tc->conf)
		tc->ops->free_conf(tc->conf);
	tc->conf = NULL;
}

void tp_config_free(struct tp_config *cfg)
{
	if (!cfg)
		return;
	for_each_transport(cfg, free_transport);
	tp_cfg_free(&bootstrap_schema, cfg);
	for (size_t i = 0; i < cfg->n_access_log_paths; i++)
		free(cfg->access_log_paths[i]);
	free(cfg->access_log_paths);
	free(cfg->dump);
	free(cfg->path);
	free(cfg);
}

/* What /config_dump shows: the tree as loaded (not the model, which drops what it ignores),
 * secrets redacted, kept as JSON text so that the tree itself can go. Bounded: an alias is
 * written out at each use, and a 70 KB file rendered 128 MiB, at every load, on the master's
 * loop, kept and inherited by every worker. */
static int render_dump(struct tp_cfg_ctx *ctx, struct tp_config *cfg, const struct tp_ydoc *doc)
{
	size_t max = tp_config_dump_max(doc->text_len);
	struct tp_sbuf b = TP_SBUF_INIT;
	struct timespec ts;
	bool cut = false;

	if (tp_config_dump_render(doc->root, max, &b, &cut) < 0) {
		tp_sbuf_free(&b);
		return -ENOMEM;
	}
	if (cut) {
		tp_cfg_path_set(ctx, "%s", "");
		tp_cfg_warn_mark(ctx, tp_cfg_mark_of(doc->root), NULL,
				 "/config_dump shows the first %zu bytes of this configuration "
				 "only: its YAML aliases repeat what they name to more than that",
				 max);
	}
	cfg->dump = b.p;
	cfg->dump_len = b.len;
	clock_gettime(CLOCK_REALTIME, &ts);
	cfg->loaded_unix_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	return 0;
}

static int load(const char *path, struct tp_config **out, struct tp_cfg_errors *errs)
{
	struct tp_cfg_ctx ctx;
	struct tp_yerror yerr;
	struct tp_ydoc *doc;
	struct tp_config *cfg;
	int ret;

	*out = NULL;
	ret = tp_ynode_parse_file(path, &doc, &yerr);
	if (ret && yerr.line) {
		tp_cfg_errors_add(errs, yerr.line, yerr.col, "%s:%u:%u: %s: %s", path, yerr.line,
				  yerr.col, yerr.path[0] ? yerr.path : "(root)", yerr.reason);
		return ret;
	}
	if (ret) { /* the file as a whole: cannot be read, not a regular file, too large */
		tp_cfg_errors_add(errs, 0, 0, "%s: %s", path, yerr.reason);
		return ret;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		ret = -ENOMEM;
		goto out_free_doc;
	}
	cfg->path = strdup(path);
	if (!cfg->path) {
		ret = -ENOMEM;
		goto out_free_cfg;
	}
	tp_cfg_ctx_init(&ctx, path, errs);
	if (!doc->root || tp_ynode_is_null(doc->root))
		tp_cfg_error(
			&ctx, NULL, NULL,
			"the file is empty; expected an Envoy bootstrap with static_resources");
	else
		tp_cfg_decode(&ctx, &bootstrap_schema, doc->root, cfg);
	check_names(&ctx, cfg);
	check_filters(&ctx, cfg);
	check_transports(&ctx, cfg);
	if (ctx.oom) {
		ret = -ENOMEM;
		goto out_free_cfg;
	}
	if (ctx.n_errors) {
		ret = -EINVAL;
		goto out_free_cfg;
	}
	for_each_transport(cfg, number_transport);
	ret = render_dump(&ctx, cfg, doc);
	if (ret < 0)
		goto out_free_cfg;
	tp_ynode_doc_free(doc);
	*out = cfg;
	return 0;

out_free_cfg:
	tp_config_free(cfg);
out_free_doc:
	tp_ynode_doc_free(doc);
	if (ret == -ENOMEM)
		tp_cfg_errors_add(errs, 0, 0, "%s: %s", path, strerror(ENOMEM));
	return ret;
}

int tp_config_load(const char *path, struct tp_config **out, struct tp_cfg_errors *errs)
{
	int ret = load(path, out, errs);

	/* The node tree and the file's text are freed by now, but glibc keeps freed heap for
	 * later: after a large file that is a hundred MB or more of the master's heap, pinned
	 * by the configuration allocated among it, which every worker forked later inherits.
	 * Give the free pages back now (malloc_trim() also releases free pages in the middle of
	 * the heap, not only at its top). */
	malloc_trim(0);
	return ret;
}

/* ---- dynamic listeners (LDS) ---- */

/* A Listener resource is an Any: its "@type" belongs to it. */
static const struct tp_cfg_schema lds_listener_schema = {
	.name = "envoy.config.listener.v3.Listener",
	.size = sizeof(struct tp_listener_cfg),
	.fields = listener_fields,
	.mark_off = TP_CFG_MARK(struct tp_listener_cfg, mark),
	.post = listener_post,
	.any = true,
};

/* A dynamic listener may not take a static one's name or address: Envoy refuses to add a
 * listener whose name a static listener has, and two listeners cannot bind one address. */
static void check_against_static(struct tp_cfg_ctx *ctx, const struct tp_config *base,
				 const struct tp_config *ov)
{
	for (size_t i = 0; i < ov->n_listeners; i++) {
		const struct tp_listener_cfg *l = &ov->listeners[i];

		for (size_t j = 0; j < base->n_listeners; j++) {
			const struct tp_listener_cfg *o = &base->listeners[j];

			if (l->name && o->name && !strcmp(l->name, o->name) && l->name_mark.line) {
				tp_cfg_path_set(ctx, "resources[%zu].name", i);
				tp_cfg_error_mark(ctx, l->name_mark, NULL,
						  "listener name \"%s\" is a static listener's (%s "
						  "line %u)",
						  l->name, base->path, o->mark.line);
			}
			if (l->addr.len && o->addr.len == l->addr.len &&
			    !memcmp(&o->addr.ss, &l->addr.ss, l->addr.len)) {
				tp_cfg_path_set(ctx, "resources[%zu].address", i);
				tp_cfg_error_mark(ctx, l->addr_mark, NULL,
						  "address %s is already used by static listener "
						  "\"%s\" (%s line %u)",
						  l->addr.text, o->name ? o->name : "", base->path,
						  o->mark.line);
			}
		}
	}
}

/* What a running worker cannot take: it opened its access log files when it started (stdout
 * and stderr are always open). */
static void check_runtime(struct tp_cfg_ctx *ctx, const struct tp_config *base,
			  struct tp_config *ov)
{
	bool logs = ov->n_access_log_paths > base->n_access_log_paths;

	if (!logs)
		return;
	for (size_t i = 0; i < ov->n_listeners; i++) {
		tp_cfg_path_set(ctx, "resources[%zu]", i);
		tp_cfg_error_mark(
			ctx, ov->listeners[i].mark, NULL,
			"its access logs (the listener's or a filter's) write to a file the "
			"bootstrap's access logs do not: not supported yet in an LDS listener "
			"(stdout, stderr and the bootstrap's files are)");
	}
}

int tp_lds_decode(const struct tp_config *base, const char *file,
		  const struct tp_ynode *const *items, size_t n, struct tp_config **out,
		  struct tp_cfg_errors *errs)
{
	struct tp_cfg_ctx ctx;
	struct tp_config *ov;
	int ret = 0;

	*out = NULL;
	ov = calloc(1, sizeof(*ov));
	if (!ov)
		return -ENOMEM;
	*ov = *base;
	ov->lds_overlay = true;
	ov->n_base_log_paths = base->n_access_log_paths;
	ov->n_listeners = 0;
	ov->listeners = calloc(n ? n : 1, sizeof(*ov->listeners));
	ov->access_log_paths = malloc((base->n_access_log_paths + 1) * sizeof(char *));
	if (!ov->listeners || !ov->access_log_paths) {
		ov->n_access_log_paths = 0;
		ret = -ENOMEM;
		goto out_free;
	}
	if (base->n_access_log_paths)
		memcpy(ov->access_log_paths, base->access_log_paths,
		       base->n_access_log_paths * sizeof(char *));
	tp_cfg_ctx_init(&ctx, file, errs);
	ctx.lds = true;
	for (size_t i = 0; i < n; i++) {
		tp_cfg_path_set(&ctx, "resources[%zu]", i);
		tp_cfg_decode(&ctx, &lds_listener_schema, items[i], &ov->listeners[i]);
		ov->n_listeners++;
	}
	check_listener_names(&ctx, ov);
	check_against_static(&ctx, base, ov);
	check_filters(&ctx, ov);
	check_listener_transports(&ctx, ov);
	check_runtime(&ctx, base, ov);
	if (ctx.oom)
		ret = -ENOMEM;
	else if (ctx.n_errors)
		ret = -EINVAL;
	if (ret)
		goto out_free;
	for (size_t i = 0; i < ov->n_listeners; i++)
		for (size_t c = 0; c < ov->listeners[i].n_filter_chains; c++)
			number_transport(ov, &ov->listeners[i].filter_chains[c].transport);
	*out = ov;
	return 0;

out_free:
	tp_lds_free(ov);
	if (ret == -ENOMEM)
		tp_cfg_errors_add(errs, 0, 0, "%s: %s", file, strerror(ENOMEM));
	return ret;
}

void tp_lds_free(struct tp_config *ov)
{
	if (!ov)
		return;
	for (size_t i = 0; i < ov->n_listeners; i++) {
		for (size_t c = 0; c < ov->listeners[i].n_filter_chains; c++)
			free_transport(ov, &ov->listeners[i].filter_chains[c].transport);
		tp_cfg_free(&lds_listener_schema, &ov->listeners[i]);
	}
	free(ov->listeners);
	for (size_t i = ov->n_base_log_paths; i < ov->n_access_log_paths; i++)
		free(ov->access_log_paths[i]);
	free(ov->access_log_paths);
	free(ov);
}

/* A cluster's health_checks (core.v3.HealthCheck): rows for the TCP and HTTP/1.1 checks, the
 * defaults Envoy gives the optional intervals, and the checks Envoy makes when it builds the
 * checker (payloads, status ranges). The master runs them (core/master/hc.c). */
#include "core/config/health_check.h"

#include "core/config/cfg_schema.h"
#include "core/config/config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- Payload: text (hex) or binary (base64) ---- */

static int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The bytes are decoded in place, into the string that held them (never longer). */
static void payload_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_hc_payload *p = obj;
	ssize_t n;

	if (!!p->text == !!p->binary) {
		tp_cfg_error_mark(ctx, p->mark, NULL,
				  p->text ? "text and binary are one oneof: give one"
					  : "needs text (hex) or binary (base64)");
		return;
	}
	if (p->text) {
		size_t len = strlen(p->text);
		bool ok = len && len % 2 == 0;

		/* Envoy: "invalid hex string" for an empty, odd-length or non-hex one. */
		for (size_t i = 0; ok && i < len; i++)
			ok = hex_digit((unsigned char)p->text[i]) >= 0;
		if (!ok) {
			tp_cfg_error_mark(ctx, p->mark, "text", "invalid hex string '%s'", p->text);
			return;
		}
		p->data = (uint8_t *)p->text;
		for (size_t i = 0; i < len; i += 2)
			p->data[p->len++] = (uint8_t)(hex_digit((unsigned char)p->text[i]) << 4 |
						      hex_digit((unsigned char)p->text[i + 1]));
		return;
	}
	p->data = (uint8_t *)p->binary;
	n = tp_cfg_b64_decode(p->binary, p->data);
	if (n <= 0) {
		tp_cfg_error_mark(ctx, p->mark, "binary",
				  n ? "not valid base64 (protobuf JSON spells bytes in base64)"
				    : "is empty");
		p->data = NULL;
		return;
	}
	p->len = (size_t)n;
}

static const struct tp_cfg_field payload_fields[] = {
	{.key = "text",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_NONEMPTY,
	 .off = offsetof(struct tp_hc_payload, text),
	 .oneof = "payload"},
	{.key = "binary",
	 .type = TP_CFG_STRING,
	 .off = offsetof(struct tp_hc_payload, binary),
	 .oneof = "payload"},
	{.key = NULL},
};

static const struct tp_cfg_schema payload_schema = {
	.name = "envoy.config.core.v3.HealthCheck.Payload",
	.size = sizeof(struct tp_hc_payload),
	.fields = payload_fields,
	.mark_off = TP_CFG_MARK(struct tp_hc_payload, mark),
	.post = payload_post,
};

/* ---- TcpHealthCheck ---- */

static const struct tp_cfg_field tcp_fields[] = {
	{.key = "send",
	 .type = TP_CFG_MESSAGE,
	 .off = offsetof(struct tp_health_check_cfg, tcp.send),
	 .sub = &payload_schema},
	{.key = "receive",
	 .type = TP_CFG_REPEATED,
	 .off = offsetof(struct tp_health_check_cfg, tcp.receive),
	 .count_off = offsetof(struct tp_health_check_cfg, tcp.n_receive),
	 .sub = &payload_schema},
	UNSUPPORTED("proxy_protocol_config"),
	{.key = NULL},
};

static void tcp_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_health_check_cfg *hc = obj;

	hc->tcp.mark = tp_cfg_mark_of(map);
	if (!hc->tcp.mark.line)
		hc->tcp.mark.line = 1;
	/* send given only when it has bytes: an absent send decoded nothing */
	if (!tp_cfg_find(map, "send"))
		memset(&hc->tcp.send, 0, sizeof(hc->tcp.send));
}

static const struct tp_cfg_schema tcp_schema = {
	.name = "envoy.config.core.v3.HealthCheck.TcpHealthCheck",
	.size = sizeof(struct tp_health_check_cfg),
	.fields = tcp_fields,
	.post = tcp_post,
};

/* ---- HttpHealthCheck ---- */

static void range_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_hc_range *r = obj;

	/* Envoy's HttpHealthCheckerImpl refuses these when it builds the checker. */
	if (r->start < 100)
		tp_cfg_error_mark(ctx, r->mark, "start",
				  "invalid http expected status range: expecting start >= 100, "
				  "but found start=%lld",
				  (long long)r->start);
	else if (r->end > 600)
		tp_cfg_error_mark(ctx, r->mark, "end",
				  "invalid http expected status range: expecting end <= 600, "
				  "but found end=%lld",
				  (long long)r->end);
	else if (r->start >= r->end)
		tp_cfg_error_mark(ctx, r->mark, NULL,
				  "invalid http expected status range: expecting start < end, "
				  "but found start=%lld and end=%lld",
				  (long long)r->start, (long long)r->end);
}

static const struct tp_cfg_field range_fields[] = {
	{.key = "start",
	 .type = TP_CFG_INT64,
	 .off = offsetof(struct tp_hc_range, start),
	 .min = INT64_MIN,
	 .max = INT64_MAX},
	{.key = "end",
	 .type = TP_CFG_INT64,
	 .off = offsetof(struct tp_hc_range, end),
	 .min = INT64_MIN,
	 .max = INT64_MAX},
	{.key = NULL},
};

static const struct tp_cfg_schema range_schema = {
	.name = "envoy.type.v3.Int64Range",
	.size = sizeof(struct tp_hc_range),
	.fields = range_fields,
	.mark_off = TP_CFG_MARK(struct tp_hc_range, mark),
	.post = range_post,
};

/* Header names, values, the path and the host go into a request head as written: CR, LF and
 * NUL are refused, as Envoy's HTTP_HEADER_VALUE rule does (strict: false). */
static void check_header_text(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			      const struct tp_ynode *value, void *obj)
{
	if (value && value->type == TP_YNODE_SCALAR &&
	    (memchr(value->str, '\r', value->len) || memchr(value->str, '\n', value->len) ||
	     strlen(value->str) != value->len))
		tp_cfg_error(ctx, value, NULL, "must not hold CR, LF or NUL");
}

static const struct tp_cfg_field header_value_fields[] = {
	{.key = "key",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_REQUIRED | TP_CFG_NONEMPTY,
	 .off = offsetof(struct tp_hc_header, header.key),
	 .check = check_header_text},
	{.key = "value",
	 .type = TP_CFG_STRING,
	 .off = offsetof(struct tp_hc_header, header.value),
	 .check = check_header_text},
	UNSUPPORTED("raw_value"),
	{.key = NULL},
};

static const struct tp_cfg_schema header_value_schema = {
	.name = "envoy.config.core.v3.HeaderValue",
	.size = sizeof(struct tp_hc_header),
	.fields = header_value_fields,
};

static const struct tp_cfg_field header_option_fields[] = {
	{.key = "header",
	 .type = TP_CFG_MESSAGE,
	 .flags = TP_CFG_REQUIRED,
	 .off = 0,
	 .sub = &header_value_schema},
	/* The checker's request has no header of its own to append to or keep. */
	IGNORED("append"),
	IGNORED("append_action"),
	IGNORED("keep_empty_value"),
	{.key = NULL},
};

static const struct tp_cfg_schema header_option_schema = {
	.name = "envoy.config.core.v3.HeaderValueOption",
	.size = sizeof(struct tp_hc_header),
	.fields = header_option_fields,
	.mark_off = TP_CFG_MARK(struct tp_hc_header, mark),
};

static const struct tp_cfg_enum codec_enum[] = {
	{"HTTP1", 0, 0, false},
	{"HTTP2", 1, 1, true},
	{"HTTP3", 2, 2, true},
	{.name = NULL},
};

static const struct tp_cfg_enum method_enum[] = {
	{"METHOD_UNSPECIFIED", 0, 0, false},
	{"GET", 1, 0, false},
	{.name = NULL},
};

static const struct tp_cfg_field http_fields[] = {
	{.key = "host",
	 .type = TP_CFG_STRING,
	 .off = offsetof(struct tp_health_check_cfg, http.host),
	 .check = check_header_text},
	{.key = "path",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_REQUIRED | TP_CFG_NONEMPTY,
	 .off = offsetof(struct tp_health_check_cfg, http.path),
	 .check = check_header_text},
	UNSUPPORTED("send"),
	UNSUPPORTED("receive"),
	UNSUPPORTED("response_buffer_size"),
	{.key = "request_headers_to_add",
	 .type = TP_CFG_REPEATED,
	 .off = offsetof(struct tp_health_check_cfg, http.headers),
	 .count_off = offsetof(struct tp_health_check_cfg, http.n_headers),
	 .sub = &header_option_schema},
	UNSUPPORTED("request_headers_to_remove"),
	{.key = "expected_statuses",
	 .type = TP_CFG_REPEATED,
	 .off = offsetof(struct tp_health_check_cfg, http.statuses),
	 .count_off = offsetof(struct tp_health_check_cfg, http.n_statuses),
	 .sub = &range_schema},
	UNSUPPORTED("retriable_statuses"),
	{.key = "codec_client_type",
	 .type = TP_CFG_ENUM,
	 .enums = codec_enum,
	 .off = offsetof(struct tp_health_check_cfg, http.codec)},
	UNSUPPORTED("service_name_matcher"),
	{.key = "method",
	 .type = TP_CFG_ENUM,
	 .enums = method_enum,
	 .off = offsetof(struct tp_health_check_cfg, http.method)},
	{.key = NULL},
};

static void http_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_health_check_cfg *hc = obj;

	hc->http.mark = tp_cfg_mark_of(map);
	if (!hc->http.mark.line)
		hc->http.mark.line = 1;
}

static const struct tp_cfg_schema http_schema = {
	.name = "envoy.config.core.v3.HealthCheck.HttpHealthCheck",
	.size = sizeof(struct tp_health_check_cfg),
	.fields = http_fields,
	.post = http_post,
};

/* ---- HealthCheck ---- */

static void hc_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_health_check_cfg *hc = obj;

	if (hc->tcp.mark.line && hc->http.mark.line)
		tp_cfg_error_mark(ctx, hc->mark, NULL,
				  "tcp_health_check and http_health_check are one oneof "
				  "(health_checker): give one");
	else if (hc->tcp.mark.line)
		hc->kind = TP_HC_TCP;
	else if (hc->http.mark.line)
		hc->kind = TP_HC_HTTP;
	else if (map && !tp_cfg_find(map, "grpc_health_check") &&
		 !tp_cfg_find(map, "custom_health_check"))
		tp_cfg_error_mark(ctx, hc->mark, NULL,
				  "needs a health checker: tcp_health_check or http_health_check");
	/* Envoy's defaults: HealthCheckerImplBase's constructor. */
	if (hc->no_traffic_interval_ms == TP_DURATION_UNSET)
		hc->no_traffic_interval_ms = 60000;
	if (hc->unhealthy_interval_ms == TP_DURATION_UNSET)
		hc->unhealthy_interval_ms = hc->interval_ms;
	if (hc->unhealthy_edge_interval_ms == TP_DURATION_UNSET)
		hc->unhealthy_edge_interval_ms = hc->unhealthy_interval_ms;
	if (hc->healthy_edge_interval_ms == TP_DURATION_UNSET)
		hc->healthy_edge_interval_ms = hc->interval_ms;
}

/* Durations Envoy requires greater than 0 (gt: {}) */
#define HC_DURATION_GT0(k, f, flg)                                                          \
	{                                                                                   \
		.key = k, .type = TP_CFG_DURATION, .flags = flg,                            \
		.off = offsetof(struct tp_health_check_cfg, f), .min = 1, .max = INT64_MAX, \
		.def = TP_DURATION_UNSET                                                    \
	}

static const struct tp_cfg_field hc_fields[] = {
	HC_DURATION_GT0("timeout", timeout_ms, TP_CFG_REQUIRED),
	HC_DURATION_GT0("interval", interval_ms, TP_CFG_REQUIRED),
	{.key = "initial_jitter",
	 .type = TP_CFG_DURATION,
	 .off = offsetof(struct tp_health_check_cfg, initial_jitter_ms),
	 .min = 0,
	 .max = INT64_MAX},
	{.key = "interval_jitter",
	 .type = TP_CFG_DURATION,
	 .off = offsetof(struct tp_health_check_cfg, interval_jitter_ms),
	 .min = 0,
	 .max = INT64_MAX},
	{.key = "interval_jitter_percent",
	 .type = TP_CFG_UINT32,
	 .off = offsetof(struct tp_health_check_cfg, interval_jitter_percent),
	 .min = 0,
	 .max = UINT32_MAX},
	{.key = "unhealthy_threshold",
	 .type = TP_CFG_UINT32_OPT,
	 .flags = TP_CFG_REQUIRED,
	 .off = offsetof(struct tp_health_check_cfg, unhealthy_threshold),
	 .min = 0,
	 .max = UINT32_MAX,
	 .def = -1},
	{.key = "healthy_threshold",
	 .type = TP_CFG_UINT32_OPT,
	 .flags = TP_CFG_REQUIRED,
	 .off = offsetof(struct tp_health_check_cfg, healthy_threshold),
	 .min = 0,
	 .max = UINT32_MAX,
	 .def = -1},
	UNSUPPORTED("alt_port"),
	/* Each check opens its own connection (docs/envoy-compat.md). */
	IGNORED("reuse_connection"),
	{.key = "http_health_check",
	 .type = TP_CFG_MESSAGE,
	 .off = 0,
	 .sub = &http_schema,
	 .oneof = "health_checker"},
	{.key = "tcp_health_check",
	 .type = TP_CFG_MESSAGE,
	 .off = 0,
	 .sub = &tcp_schema,
	 .oneof = "health_checker"},
	UNSUPPORTED_ONEOF("grpc_health_check", "health_checker"),
	UNSUPPORTED_ONEOF("custom_health_check", "health_checker"),
	HC_DURATION_GT0("no_traffic_interval", no_traffic_interval_ms, 0),
	HC_DURATION_GT0("no_traffic_healthy_interval", no_traffic_healthy_interval_ms, 0),
	HC_DURATION_GT0("unhealthy_interval", unhealthy_interval_ms, 0),
	HC_DURATION_GT0("unhealthy_edge_interval", unhealthy_edge_interval_ms, 0),
	HC_DURATION_GT0("healthy_edge_interval", healthy_edge_interval_ms, 0),
	/* "": no log, as Envoy. */
	{.key = "event_log_path",
	 .type = TP_CFG_STRING,
	 .off = offsetof(struct tp_health_check_cfg, event_log_path)},
	UNSUPPORTED("event_logger"),
	UNSUPPORTED("event_service"),
	{.key = "always_log_health_check_failures",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_health_check_cfg, always_log_failures)},
	{.key = "always_log_health_check_success",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_health_check_cfg, always_log_success)},
	UNSUPPORTED("tls_options"),
	UNSUPPORTED("transport_socket_match_criteria"),
	{.key = NULL},
};

const struct tp_cfg_schema tp_cfg_health_check_schema = {
	.name = "envoy.config.core.v3.HealthCheck",
	.size = sizeof(struct tp_health_check_cfg),
	.fields = hc_fields,
	.mark_off = TP_CFG_MARK(struct tp_health_check_cfg, mark),
	.post = hc_post,
};

void tp_cfg_health_checks_post(struct tp_cfg_ctx *ctx, struct tp_cluster_cfg *c)
{
	/* Envoy runs each checker on its own; tcpproxy one per cluster (docs/envoy-compat.md). */
	if (c->n_health_checks > 1)
		tp_cfg_error_mark(ctx, c->health_checks[1].mark, "health_checks",
				  "tcpproxy runs one health check per cluster, this is the "
				  "second");
}

/* tcpproxy.filters.network.set_dynamic_metadata: tcpproxy's own network filter (Envoy has no
 * network filter that does this). When a connection starts it sets dynamic metadata keys from
 * command-operator formats, shaped like set_filter_state's values: so that a config can choose a
 * subset per connection (namespace envoy.lb, which tcp_proxy merges over its metadata_match) by
 * destination port, source address, server name, or anything else a format can render. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/accesslog/format.h"
#include "core/accesslog/format_cfg.h"
#include "core/base/log.h"
#include "core/config/cfg_schema.h"
#include "core/conn/filter_state.h"
#include "core/filter.h"
#include "core/filter_api.h"

/* A rendered value longer than this is cut at a UTF-8 character boundary, as set_filter_state's. */
#define VALUE_MAX 1024
/* namespace + separator + key must fit core/conn/filter_state.c's metadata key buffer. */
#define NAME_MAX_LEN 500

enum value_type { VT_STRING, VT_NUMBER, VT_BOOL };

static const struct tp_cfg_enum value_type_enum[] = {
	{"STRING", 0, VT_STRING, false},
	{"NUMBER", 1, VT_NUMBER, false},
	{"BOOL", 2, VT_BOOL, false},
	{.name = NULL},
};

/* One key to set. */
struct md_value {
	char *ns;
	char *key;
	struct tp_format *format;
	int type; /* enum value_type */
	bool skip_if_empty;
	struct tp_cfg_mark mark;
};

struct sdm_cfg {
	struct md_value *values;
	size_t n_values;
};

static int decode_format(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			 const struct tp_ynode *v, void *obj)
{
	struct md_value *mv = obj;

	mv->format = tp_format_cfg_substitution(ctx, v);
	return mv->format ? 0 : -EINVAL;
}

static void free_format(const struct tp_cfg_field *f, void *obj)
{
	struct md_value *mv = obj;

	tp_format_free(mv->format);
	mv->format = NULL;
}

/* The metadata map keys a value by "namespace\x1fkey": neither may hold that byte. */
static void check_name(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
		       const struct tp_ynode *value, void *obj)
{
	if (memchr(value->str, '\x1f', value->len))
		tp_cfg_error(ctx, value, NULL, "must not contain the byte 0x1f");
	else if (value->len > NAME_MAX_LEN)
		tp_cfg_error(ctx, value, NULL, "is %zu bytes long, more than %d", value->len,
			     NAME_MAX_LEN);
}

static void value_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct md_value *mv = obj;

	if (!mv->ns) {
		mv->ns = strdup("envoy.lb");
		if (!mv->ns)
			ctx->oom = true;
	}
}

static const struct tp_cfg_field value_fields[] = {
	{.key = "metadata_namespace",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_NONEMPTY,
	 .off = offsetof(struct md_value, ns),
	 .check = check_name},
	{.key = "key",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_REQUIRED | TP_CFG_NONEMPTY,
	 .off = offsetof(struct md_value, key),
	 .check = check_name},
	{.key = "format_string",
	 .type = TP_CFG_CUSTOM,
	 .flags = TP_CFG_REQUIRED,
	 .decode = decode_format,
	 .free = free_format},
	{.key = "value_type",
	 .type = TP_CFG_ENUM,
	 .off = offsetof(struct md_value, type),
	 .enums = value_type_enum,
	 .def = VT_STRING},
	{.key = "skip_if_empty",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct md_value, skip_if_empty)},
	{.key = NULL},
};

static const struct tp_cfg_schema value_schema = {
	.name = "tcpproxy.filters.network.set_dynamic_metadata.v1.Config.Value",
	.size = sizeof(struct md_value),
	.fields = value_fields,
	.mark_off = TP_CFG_MARK(struct md_value, mark),
	.post = value_post,
};

static const struct tp_cfg_field sdm_fields[] = {
	{.key = "on_new_connection",
	 .type = TP_CFG_REPEATED,
	 .off = offsetof(struct sdm_cfg, values),
	 .count_off = offsetof(struct sdm_cfg, n_values),
	 .sub = &value_schema},
	{.key = NULL},
};

static const struct tp_cfg_schema sdm_schema = {
	.name = "tcpproxy.filters.network.set_dynamic_metadata.v1.Config",
	.size = sizeof(struct sdm_cfg),
	.fields = sdm_fields,
	.any = true,
};

static void *sdm_parse(struct tp_cfg_ctx *ctx, const struct tp_ynode *typed_config)
{
	struct sdm_cfg *s = calloc(1, sizeof(*s));

	if (!s) {
		ctx->oom = true;
		tp_cfg_error(ctx, typed_config, NULL, "%s", strerror(ENOMEM));
		return NULL;
	}
	tp_cfg_decode(ctx, &sdm_schema, typed_config, s);
	return s;
}

static void sdm_check(struct tp_cfg_ctx *ctx, struct tp_config *cfg, void *conf)
{
	const struct sdm_cfg *s = conf;

	/* The connection keeps what the formats read (addresses, ...) only if asked. */
	for (size_t i = 0; i < s->n_values; i++)
		if (s->values[i].format)
			cfg->format_needs |= s->values[i].format->needs;
}

static void sdm_free(void *conf)
{
	if (!conf)
		return;
	tp_cfg_free(&sdm_schema, conf);
	free(conf);
}

/* The text as the value's type: a number is a decimal integer that a double holds exactly (as
 * metadata numbers are doubles), a bool "true" or "false". False: no value can be made. */
static bool make_value(const struct md_value *mv, const char *text, struct tp_value *v)
{
	uint64_t u = 0;

	switch (mv->type) {
	case VT_NUMBER:
		if (!*text)
			return false;
		for (const char *p = text; *p; p++) {
			if (*p < '0' || *p > '9' || u > ((1ull << 53) - 9) / 10)
				return false;
			u = u * 10 + (uint64_t)(*p - '0');
		}
		*v = tp_value_uint64(u);
		return true;
	case VT_BOOL:
		*v = tp_value_bool(!strcmp(text, "true"));
		return !strcmp(text, "true") || !strcmp(text, "false");
	default:
		*v = tp_value_string(text);
		return true;
	}
}

static enum tp_filter_status sdm_on_new_connection(const struct tp_filter_call *f)
{
	const struct sdm_cfg *s = f->conf;

	for (size_t i = 0; i < s->n_values; i++) {
		const struct md_value *mv = &s->values[i];
		/* The 3 bytes past VALUE_MAX show whether a character crosses the cut. */
		char text[VALUE_MAX + 3 + 1];
		struct tp_value v;
		size_t n = tp_filter_render(f, mv->format, text, VALUE_MAX + 3);
		int ret;

		if (n > VALUE_MAX)
			n = tp_utf8_cut(text, n, VALUE_MAX);
		text[n] = '\0';
		if (!n && mv->skip_if_empty)
			continue;
		if (!make_value(mv, text, &v)) {
			tp_debug("connection %u: set_dynamic_metadata: %s:%s: \"%s\" is not a %s",
				 tp_filter_conn_index(f), mv->ns, mv->key, text,
				 mv->type == VT_NUMBER ? "number" : "bool");
			continue;
		}
		ret = tp_metadata_set(tp_filter_metadata(f), mv->ns, mv->key, &v);
		if (ret < 0)
			tp_warn("connection %u: set_dynamic_metadata: %s:%s: %s",
				tp_filter_conn_index(f), mv->ns, mv->key, strerror(-ret));
	}
	return TP_FILTER_CONTINUE;
}

const struct tp_filter_ops tp_filter_set_dynamic_metadata = {
	.name = "tcpproxy.filters.network.set_dynamic_metadata",
	.type_url = "type.googleapis.com/tcpproxy.filters.network.set_dynamic_metadata.v1.Config",
	.parse = sdm_parse,
	.check = sdm_check,
	.free = sdm_free,
	.on_new_connection = sdm_on_new_connection,
};

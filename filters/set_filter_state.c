/* envoy.filters.network.set_filter_state: sets per-connection filter state from format strings
 * when a connection starts (Envoy's SetFilterState network filter), so that a config can steer
 * tcp_proxy (envoy.tcp_proxy.cluster, ...) by command operators such as %DOWNSTREAM_LOCAL_PORT%.
 *
 * Envoy builds each object with the factory registered for its key; tcpproxy knows the factories
 * of the keys its filters read, plus the generic string ones, and refuses any other at load. */
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

/* A rendered value longer than this is cut, at a UTF-8 character boundary (Envoy has no limit;
 * docs/envoy-compat.md says so). */
#define VALUE_MAX 1024

/* The object factories tcpproxy has, by factory key: what type the rendered text becomes. */
static const struct {
	const char *key;
	enum tp_value_type type;
} factories[] = {
	{TP_KEY_CLUSTER, TP_VALUE_STRING},
	{TP_KEY_IDLE_TIMEOUT, TP_VALUE_UINT64},
	{TP_KEY_RECEIVE_EARLY, TP_VALUE_BOOL},
	{TP_KEY_NO_TUNNELING, TP_VALUE_BOOL},
	{"envoy.network.upstream_server_name", TP_VALUE_STRING},
	{"envoy.string", TP_VALUE_STRING},
	{"envoy.hashable_string", TP_VALUE_STRING},
};

enum shared_with_upstream { SHARE_NONE, SHARE_ONCE, SHARE_TRANSITIVE };

static const struct tp_cfg_enum shared_enum[] = {
	{"NONE", 0, SHARE_NONE, false},
	{"ONCE", 1, SHARE_ONCE, false},
	{"TRANSITIVE", 2, SHARE_TRANSITIVE, false},
	{.name = NULL},
};

/* envoy.extensions.filters.common.set_filter_state.v3.FilterStateValue */
struct fs_value {
	char *object_key;
	char *factory_key;
	struct tp_format *format;
	bool read_only;
	int shared; /* enum shared_with_upstream */
	bool skip_if_empty;
	enum tp_value_type type; /* from the factory */
	struct tp_cfg_mark mark;
	struct tp_cfg_mark object_mark;
	struct tp_cfg_mark factory_mark;
};

struct sfs_cfg {
	struct fs_value *values;
	size_t n_values;
};

static int decode_format(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			 const struct tp_ynode *v, void *obj)
{
	struct fs_value *fv = obj;

	fv->format = tp_format_cfg_substitution(ctx, v);
	return fv->format ? 0 : -EINVAL;
}

static void free_format(const struct tp_cfg_field *f, void *obj)
{
	struct fs_value *fv = obj;

	tp_format_free(fv->format);
	fv->format = NULL;
}

static void value_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct fs_value *fv = obj;
	const char *fk = fv->factory_key ? fv->factory_key : fv->object_key;
	size_t i;

	if (!fv->object_key) {
		tp_cfg_error(ctx, map, "object_key", "missing required field");
		return;
	}
	if (!tp_cfg_find(map, "format_string"))
		tp_cfg_error(ctx, map, "format_string", "missing required field");
	for (i = 0; i < sizeof(factories) / sizeof(factories[0]); i++)
		if (!strcmp(factories[i].key, fk))
			break;
	if (i == sizeof(factories) / sizeof(factories[0])) {
		tp_cfg_error_mark(ctx, fv->factory_key ? fv->factory_mark : fv->object_mark,
				  fv->factory_key ? "factory_key" : "object_key",
				  "'%s' does not have an object factory in tcpproxy (it has "
				  "envoy.string and the keys its filters read; see "
				  "docs/envoy-compat.md)",
				  fk);
		return;
	}
	fv->type = factories[i].type;
}

static const struct tp_cfg_field value_fields[] = {
	{.key = "object_key",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_NONEMPTY,
	 .off = offsetof(struct fs_value, object_key),
	 .mark_off = TP_CFG_MARK(struct fs_value, object_mark)},
	{.key = "factory_key",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_NONEMPTY,
	 .off = offsetof(struct fs_value, factory_key),
	 .mark_off = TP_CFG_MARK(struct fs_value, factory_mark)},
	{.key = "format_string",
	 .type = TP_CFG_CUSTOM,
	 .decode = decode_format,
	 .free = free_format},
	{.key = "read_only", .type = TP_CFG_BOOL, .off = offsetof(struct fs_value, read_only)},
	{.key = "shared_with_upstream",
	 .type = TP_CFG_ENUM,
	 .off = offsetof(struct fs_value, shared),
	 .enums = shared_enum,
	 .def = SHARE_NONE},
	{.key = "skip_if_empty",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct fs_value, skip_if_empty)},
	{.key = NULL},
};

static const struct tp_cfg_schema value_schema = {
	.name = "envoy.extensions.filters.common.set_filter_state.v3.FilterStateValue",
	.size = sizeof(struct fs_value),
	.fields = value_fields,
	.mark_off = TP_CFG_MARK(struct fs_value, mark),
	.post = value_post,
};

static const struct tp_cfg_field sfs_fields[] = {
	{.key = "on_new_connection",
	 .type = TP_CFG_REPEATED,
	 .off = offsetof(struct sfs_cfg, values),
	 .count_off = offsetof(struct sfs_cfg, n_values),
	 .sub = &value_schema},
	UNSUPPORTED("on_downstream_tls_handshake"),
	{.key = NULL},
};

static const struct tp_cfg_schema sfs_schema = {
	.name = "envoy.extensions.filters.network.set_filter_state.v3.Config",
	.size = sizeof(struct sfs_cfg),
	.fields = sfs_fields,
	.any = true,
};

static void *sfs_parse(struct tp_cfg_ctx *ctx, const struct tp_ynode *typed_config)
{
	struct sfs_cfg *s = calloc(1, sizeof(*s));

	if (!s) {
		ctx->oom = true;
		tp_cfg_error(ctx, typed_config, NULL, "%s", strerror(ENOMEM));
		return NULL;
	}
	tp_cfg_decode(ctx, &sfs_schema, typed_config, s);
	return s;
}

static void sfs_check(struct tp_cfg_ctx *ctx, struct tp_config *cfg, void *conf)
{
	const struct sfs_cfg *s = conf;

	/* The connection keeps what the formats read (addresses, ...) only if asked. */
	for (size_t i = 0; i < s->n_values; i++)
		if (s->values[i].format)
			cfg->format_needs |= s->values[i].format->needs;
}

static void sfs_free(void *conf)
{
	if (!conf)
		return;
	tp_cfg_free(&sfs_schema, conf);
	free(conf);
}

/* Envoy's factories parse the text: an object that cannot be made is skipped (logged). */
static bool make_value(const struct fs_value *fv, const char *text, struct tp_value *v)
{
	char *end;

	switch (fv->type) {
	case TP_VALUE_STRING:
		*v = tp_value_string(text);
		return true;
	case TP_VALUE_UINT64:
		errno = 0;
		*v = tp_value_uint64(strtoull(text, &end, 10));
		return *text >= '0' && *text <= '9' && !*end && !errno;
	case TP_VALUE_BOOL:
		*v = tp_value_bool(!strcmp(text, "true"));
		return !strcmp(text, "true") || !strcmp(text, "false");
	}
	return false;
}

static enum tp_filter_status sfs_on_new_connection(const struct tp_filter_call *f)
{
	const struct sfs_cfg *s = f->conf;

	for (size_t i = 0; i < s->n_values; i++) {
		const struct fs_value *fv = &s->values[i];
		/* The 3 bytes past VALUE_MAX show whether a character crosses the cut. */
		char text[VALUE_MAX + 3 + 1];
		struct tp_value v;
		size_t n = tp_filter_render(f, fv->format, text, VALUE_MAX + 3);
		int ret;

		if (n > VALUE_MAX) {
			n = tp_utf8_cut(text, n, VALUE_MAX);
			tp_debug("connection %u: set_filter_state: %s: value cut to %zu bytes",
				 tp_filter_conn_index(f), fv->object_key, n);
		}
		text[n] = '\0';
		if (!n && fv->skip_if_empty)
			continue;
		if (!make_value(fv, text, &v)) {
			tp_debug("connection %u: set_filter_state: %s: cannot make a value of "
				 "\"%s\"",
				 tp_filter_conn_index(f), fv->object_key, text);
			continue;
		}
		ret = tp_filter_state_set(tp_filter_state(f), fv->object_key, &v, fv->read_only,
					  fv->shared != SHARE_NONE);
		if (ret == -EPERM)
			tp_debug("connection %u: set_filter_state: %s is read-only",
				 tp_filter_conn_index(f), fv->object_key);
		else if (ret < 0)
			tp_warn("connection %u: set_filter_state: %s: %s", tp_filter_conn_index(f),
				fv->object_key, strerror(-ret));
	}
	return TP_FILTER_CONTINUE;
}

const struct tp_filter_ops tp_filter_set_filter_state = {
	.name = "envoy.filters.network.set_filter_state",
	.type_url = "type.googleapis.com/"
		    "envoy.extensions.filters.network.set_filter_state.v3.Config",
	.parse = sfs_parse,
	.check = sfs_check,
	.free = sfs_free,
	.on_new_connection = sfs_on_new_connection,
};

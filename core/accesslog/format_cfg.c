/* SubstitutionFormatString and friends: config rows that end in a compiled struct tp_format. */
#include "core/accesslog/format_cfg.h"

#include "core/config/cfg_schema.h"
#include "core/accesslog/format.h"
#include "core/config/ynode.h"

#include <errno.h>
#include <string.h>

static void report(struct tp_cfg_ctx *ctx, const struct tp_ynode *at, const struct tp_fmt_error *e)
{
	struct tp_cfg_mark m;

	if (e->node && e->node->type != TP_YNODE_SCALAR) {
		tp_cfg_error(ctx, e->node, NULL, "%s", e->reason);
		return;
	}
	tp_format_error_position(e->node ? e->node : at, e->off, &m.line, &m.col);
	tp_cfg_error_mark(ctx, m, NULL, "%s", e->reason);
}

struct tp_format *tp_format_cfg_text(struct tp_cfg_ctx *ctx, const struct tp_ynode *scalar)
{
	struct tp_format *f = NULL;
	struct tp_fmt_error e;
	int ret;

	if (scalar->type != TP_YNODE_SCALAR) {
		tp_cfg_error(ctx, scalar, NULL, "expected a format string, got %s",
			     tp_ynode_kind_name(scalar));
		return NULL;
	}
	ret = tp_format_compile(scalar->str, scalar->len, &f, &e);
	if (ret == -ENOMEM) {
		ctx->oom = true;
		tp_cfg_error(ctx, scalar, NULL, "%s", strerror(ENOMEM));
	} else if (ret < 0) {
		report(ctx, scalar, &e);
	}
	return f;
}

struct tp_format *tp_format_cfg_json(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, bool typed)
{
	struct tp_format *f = NULL;
	struct tp_fmt_error e;
	int ret;

	ret = tp_format_compile_json(map, typed, &f, &e);
	if (ret == -ENOMEM) {
		ctx->oom = true;
		tp_cfg_error(ctx, map, NULL, "%s", strerror(ENOMEM));
	} else if (ret < 0) {
		report(ctx, map, &e);
	}
	return f;
}

/* The message as written: at most one format, its options. */
struct sfs {
	struct tp_format *fmt;
	unsigned given; /* how many of text_format, text_format_source, json_format */
	bool omit_empty;
};

static int decode_text(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
		       const struct tp_ynode *v, void *obj)
{
	struct sfs *s = obj;

	s->given++;
	if (s->fmt)
		return 0; /* the post rule reports the second one */
	s->fmt = tp_format_cfg_text(ctx, v);
	return s->fmt ? 0 : -EINVAL;
}

static int decode_json(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
		       const struct tp_ynode *v, void *obj)
{
	struct sfs *s = obj;

	s->given++;
	if (s->fmt)
		return 0;
	/* SubstitutionFormatString.json_format renders numbers as numbers (Envoy docs). */
	s->fmt = tp_format_cfg_json(ctx, v, true);
	return s->fmt ? 0 : -EINVAL;
}

/* envoy.config.core.v3.DataSource, as a text_format_source: inline text only. */
static const struct tp_cfg_field data_source_fields[] = {
	{.key = "inline_string", .type = TP_CFG_CUSTOM, .decode = decode_text},
	{.key = "inline_bytes",
	 .type = TP_CFG_UNSUPPORTED,
	 .hint = "write the format as inline_string"},
	{.key = "filename", .type = TP_CFG_UNSUPPORTED},
	{.key = "environment_variable", .type = TP_CFG_UNSUPPORTED},
	{.key = "watched_directory", .type = TP_CFG_UNSUPPORTED},
	{.key = NULL},
};

static const struct tp_cfg_schema data_source_schema = {
	.name = "envoy.config.core.v3.DataSource",
	.size = sizeof(struct sfs),
	.fields = data_source_fields,
};

static const struct tp_cfg_field json_options_fields[] = {
	/* Envoy always sorts: the option has no effect there either. */
	{.key = "sort_properties", .type = TP_CFG_IGNORED},
	{.key = NULL},
};

static const struct tp_cfg_schema json_options_schema = {
	.name = "envoy.config.core.v3.JsonFormatOptions",
	.size = sizeof(struct sfs),
	.fields = json_options_fields,
};

static void sfs_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct sfs *s = obj;

	if (s->given > 1)
		tp_cfg_error(ctx, map, NULL,
			     "only one of text_format, text_format_source and json_format may "
			     "be set");
	else if (!s->given)
		tp_cfg_error(ctx, map, NULL,
			     "one of text_format, text_format_source or json_format is required");
	if (s->fmt)
		s->fmt->omit_empty = s->omit_empty;
}

static const struct tp_cfg_field sfs_fields[] = {
	{.key = "text_format", .type = TP_CFG_CUSTOM, .decode = decode_text},
	{.key = "text_format_source", .type = TP_CFG_MESSAGE, .sub = &data_source_schema},
	{.key = "json_format", .type = TP_CFG_CUSTOM, .decode = decode_json},
	{.key = "omit_empty_values", .type = TP_CFG_BOOL, .off = offsetof(struct sfs, omit_empty)},
	{.key = "json_format_options", .type = TP_CFG_MESSAGE, .sub = &json_options_schema},
	/* The Content-Type of an HTTP local reply: nothing to do with a TCP log line. */
	{.key = "content_type", .type = TP_CFG_IGNORED},
	{.key = "formatters", .type = TP_CFG_UNSUPPORTED},
	{.key = NULL},
};

static const struct tp_cfg_schema sfs_schema = {
	.name = "envoy.config.core.v3.SubstitutionFormatString",
	.size = sizeof(struct sfs),
	.fields = sfs_fields,
	.post = sfs_post,
};

struct tp_format *tp_format_cfg_substitution(struct tp_cfg_ctx *ctx, const struct tp_ynode *node)
{
	struct sfs s = {0};
	struct tp_format *f;

	if (tp_cfg_decode(ctx, &sfs_schema, node, &s) < 0) {
		tp_format_free(s.fmt);
		return NULL;
	}
	f = s.fmt;
	return f;
}

/* xDS resources from a DiscoveryResponse-shaped document, and ConfigSource's file form. The
 * envelope is checked here, each resource's body by its consumer: a resource type is one more
 * schema, not one more parser. */
#include "core/config/xds.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/config/cfg_schema.h"
#include "core/config/config.h"
#include "core/config/ynode.h"

/* ---- envoy.config.core.v3.ConfigSource ---- */

static const struct tp_cfg_field watched_dir_fields[] = {
	{.key = "path",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_REQUIRED | TP_CFG_NONEMPTY,
	 .off = offsetof(struct tp_config_source_cfg, watched_dir)},
	{.key = NULL},
};

/* envoy.config.core.v3.WatchedDirectory, over the source itself. */
static const struct tp_cfg_schema watched_dir_schema = {
	.name = "envoy.config.core.v3.WatchedDirectory",
	.size = sizeof(struct tp_config_source_cfg),
	.fields = watched_dir_fields,
};

static const struct tp_cfg_field path_source_fields[] = {
	{.key = "path",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_REQUIRED | TP_CFG_NONEMPTY,
	 .off = offsetof(struct tp_config_source_cfg, path),
	 .mark_off = TP_CFG_MARK(struct tp_config_source_cfg, path_mark)},
	{.key = "watched_directory", .type = TP_CFG_MESSAGE, .sub = &watched_dir_schema},
	{.key = NULL},
};

/* envoy.config.core.v3.PathConfigSource, over the source itself. */
static const struct tp_cfg_schema path_source_schema = {
	.name = "envoy.config.core.v3.PathConfigSource",
	.size = sizeof(struct tp_config_source_cfg),
	.fields = path_source_fields,
};

static const struct tp_cfg_enum api_version_enum[] = {
	{"V3", 2, 0, false},
	{.name = NULL},
};

static void config_source_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_config_source_cfg *s = obj;
	const struct tp_ynode *old = tp_cfg_find(map, "path");
	const struct tp_ynode *pcs = tp_cfg_find(map, "path_config_source");

	/* oneof config_source_specifier: the members tcpproxy does not read reported their own
	 * error; here only "none given" and "both file forms". */
	if (old && pcs) {
		tp_cfg_error(ctx, old, "path",
			     "only one of path and path_config_source may be set");
		return;
	}
	if (s->path_old) {
		free(s->path);
		s->path = s->path_old;
		s->path_old = NULL;
		s->path_mark = tp_cfg_mark_of(old);
	}
	if (!s->path && !tp_cfg_find(map, "ads") && !tp_cfg_find(map, "api_config_source") &&
	    !tp_cfg_find(map, "self"))
		tp_cfg_error(ctx, map, NULL,
			     "missing required field (one of path_config_source or path: "
			     "tcpproxy reads xDS resources from files)");
}

static const struct tp_cfg_field config_source_fields[] = {
	{.key = "path_config_source",
	 .type = TP_CFG_MESSAGE,
	 .sub = &path_source_schema,
	 .oneof = "config_source_specifier"},
	/* Deprecated in Envoy, still read by it: the file alone, watched in its directory. */
	{.key = "path",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_NONEMPTY,
	 .off = offsetof(struct tp_config_source_cfg, path_old),
	 .oneof = "config_source_specifier"},
	UNSUPPORTED_ONEOF("api_config_source", "config_source_specifier"),
	UNSUPPORTED_ONEOF("ads", "config_source_specifier"),
	UNSUPPORTED_ONEOF("self", "config_source_specifier"),
	UNSUPPORTED("authorities"),
	/* A file source has nothing to wait for: the file is read before the workers start. */
	IGNORED("initial_fetch_timeout"),
	{.key = "resource_api_version",
	 .type = TP_CFG_ENUM,
	 .off = offsetof(struct tp_config_source_cfg, api_version),
	 .enums = api_version_enum},
	{.key = NULL},
};

const struct tp_cfg_schema tp_config_source_schema = {
	.name = "envoy.config.core.v3.ConfigSource",
	.size = sizeof(struct tp_config_source_cfg),
	.fields = config_source_fields,
	.mark_off = TP_CFG_MARK(struct tp_config_source_cfg, mark),
	.post = config_source_post,
};

void tp_config_source_free(struct tp_config_source_cfg *s)
{
	free(s->path);
	free(s->watched_dir);
	free(s->path_old);
	memset(s, 0, sizeof(*s));
}

int tp_config_source_copy(struct tp_config_source_cfg *dst, const struct tp_config_source_cfg *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->mark = src->mark;
	dst->path_mark = src->path_mark;
	if (src->path && !(dst->path = strdup(src->path)))
		goto out_oom;
	if (src->watched_dir && !(dst->watched_dir = strdup(src->watched_dir)))
		goto out_oom;
	return 0;
out_oom:
	tp_config_source_free(dst);
	return -ENOMEM;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

bool tp_config_source_equal(const struct tp_config_source_cfg *a,
			    const struct tp_config_source_cfg *b)
{
	return str_eq(a->path, b->path) && str_eq(a->watched_dir, b->watched_dir);
}

/* ---- envoy.service.discovery.v3.DiscoveryResponse ---- */

struct envelope {
	char *version_info;
	char *type_url;
	const char *want; /* the type every resource must have */
	const struct tp_ynode **items;
	size_t n;
};

static int decode_resources(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			    const struct tp_ynode *value, void *obj)
{
	struct envelope *e = obj;
	int ret = 0;

	if (value->type != TP_YNODE_SEQ) {
		tp_cfg_error(ctx, value, NULL, "expected a list, got %s",
			     tp_ynode_kind_name(value));
		return -EINVAL;
	}
	e->items = calloc(value->n ? value->n : 1, sizeof(*e->items));
	if (!e->items) {
		ctx->oom = true;
		return -ENOMEM;
	}
	for (size_t i = 0; i < value->n; i++) {
		const struct tp_ynode *r = value->items[i];
		const struct tp_ynode *t;
		size_t old = tp_cfg_path_push_index(ctx, i);

		if (r->type != TP_YNODE_MAP) {
			tp_cfg_error(ctx, r, NULL, "expected a mapping, got %s",
				     tp_ynode_kind_name(r));
			ret = -EINVAL;
		} else if (!(t = tp_ynode_map_get(r, "@type")) || t->type != TP_YNODE_SCALAR) {
			tp_cfg_error(ctx, r, "@type", "missing required field (expected \"%s\")",
				     e->want);
			ret = -EINVAL;
		} else if (strcmp(t->str, e->want)) {
			tp_cfg_error(ctx, t, "@type", "\"%s\": expected \"%s\"", t->str, e->want);
			ret = -EINVAL;
		} else {
			e->items[e->n++] = r;
		}
		tp_cfg_path_pop(ctx, old);
	}
	return ret;
}

static void free_resources(const struct tp_cfg_field *f, void *obj)
{
	struct envelope *e = obj;

	free(e->items);
	e->items = NULL;
	e->n = 0;
}

static void envelope_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	const struct envelope *e = obj;

	/* A DiscoveryResponse's type_url, when the file has one, names every resource's type. */
	if (e->type_url && strcmp(e->type_url, e->want))
		tp_cfg_error(ctx, tp_cfg_find(map, "type_url"), "type_url",
			     "\"%s\": expected \"%s\"", e->type_url, e->want);
}

static const struct tp_cfg_field envelope_fields[] = {
	{.key = "version_info",
	 .type = TP_CFG_STRING,
	 .off = offsetof(struct envelope, version_info)},
	{.key = "resources",
	 .type = TP_CFG_CUSTOM,
	 .decode = decode_resources,
	 .free = free_resources},
	{.key = "type_url", .type = TP_CFG_STRING, .off = offsetof(struct envelope, type_url)},
	/* What a control plane adds to a response it sends; nothing for a file. */
	IGNORED("nonce"),
	IGNORED("canary"),
	IGNORED("control_plane"),
	UNSUPPORTED("resource_errors"),
	{.key = NULL},
};

static const struct tp_cfg_schema envelope_schema = {
	.name = "envoy.service.discovery.v3.DiscoveryResponse",
	.size = sizeof(struct envelope),
	.fields = envelope_fields,
	.post = envelope_post,
};

int tp_xds_parse(const char *file, const char *text, size_t len, const char *type_url,
		 struct tp_xds_resources *out, struct tp_cfg_errors *errs)
{
	struct envelope e = {.want = type_url};
	struct tp_yerror yerr;
	struct tp_cfg_ctx ctx;
	int ret;

	out->file = strdup(file);
	out->text = malloc(len + 1);
	if (!out->file || !out->text)
		goto out_oom;
	memcpy(out->text, text, len);
	out->text[len] = '\0';
	out->len = len;
	ret = tp_ynode_parse_string(text, len, &out->doc, &yerr);
	if (ret == -ENOMEM)
		goto out_oom;
	if (ret) {
		tp_cfg_errors_add(errs, yerr.line, yerr.col, "%s:%u:%u: %s: %s", file, yerr.line,
				  yerr.col, yerr.path[0] ? yerr.path : "(root)", yerr.reason);
		return ret;
	}
	tp_cfg_ctx_init(&ctx, file, errs);
	if (!out->doc->root || tp_ynode_is_null(out->doc->root)) {
		tp_cfg_error(&ctx, NULL, NULL,
			     "the file is empty; expected a DiscoveryResponse with version_info "
			     "and resources");
		return -EINVAL;
	}
	tp_cfg_decode(&ctx, &envelope_schema, out->doc->root, &e);
	if (ctx.oom) {
		tp_cfg_free(&envelope_schema, &e);
		goto out_oom;
	}
	if (ctx.n_errors) {
		tp_cfg_free(&envelope_schema, &e);
		return -EINVAL;
	}
	out->version_info = e.version_info ? e.version_info : strdup("");
	out->items = e.items;
	out->n = e.n;
	free(e.type_url);
	if (!out->version_info)
		goto out_oom;
	return 0;

out_oom:
	tp_cfg_errors_add(errs, 0, 0, "%s: %s", file, strerror(ENOMEM));
	return -ENOMEM;
}

int tp_xds_read(const char *path, const char *type_url, struct tp_xds_resources *out,
		struct tp_cfg_errors *errs)
{
	struct tp_yerror yerr;
	char *text;
	size_t len;
	int ret;

	ret = tp_ynode_read_file(path, &text, &len, &yerr);
	if (ret) {
		tp_cfg_errors_add(errs, 0, 0, "%s: %s", path, yerr.reason);
		return ret;
	}
	ret = tp_xds_parse(path, text, len, type_url, out, errs);
	free(text);
	return ret;
}

void tp_xds_resources_free(struct tp_xds_resources *r)
{
	free(r->file);
	free(r->version_info);
	free(r->items);
	free(r->text);
	tp_ynode_doc_free(r->doc);
	memset(r, 0, sizeof(*r));
}

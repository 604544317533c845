/* Row-driven decoder: YAML node tree + one table per Envoy message -> C structs, every problem
 * reported with its place, none fatal to the rest of the load. */
#include "core/config/cfg_schema.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config/config.h"
#include "core/base/duration.h"
#include "core/config/ynode.h"

#define COMPAT_DOC "see docs/envoy-compat.md"

void tp_cfg_ctx_init(struct tp_cfg_ctx *ctx, const char *file, struct tp_cfg_errors *errs)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->file = file;
	ctx->errs = errs;
}

size_t tp_cfg_path_push(struct tp_cfg_ctx *ctx, const char *key)
{
	size_t old = ctx->path_len;
	int n = snprintf(ctx->path + old, sizeof(ctx->path) - old, "%s%s", old ? "." : "", key);

	if (n > 0)
		ctx->path_len = old + (size_t)n < sizeof(ctx->path) ? old + (size_t)n
								    : sizeof(ctx->path) - 1;
	return old;
}

size_t tp_cfg_path_push_index(struct tp_cfg_ctx *ctx, size_t i)
{
	size_t old = ctx->path_len;
	int n = snprintf(ctx->path + old, sizeof(ctx->path) - old, "[%zu]", i);

	if (n > 0)
		ctx->path_len = old + (size_t)n < sizeof(ctx->path) ? old + (size_t)n
								    : sizeof(ctx->path) - 1;
	return old;
}

void tp_cfg_path_pop(struct tp_cfg_ctx *ctx, size_t len)
{
	ctx->path_len = len;
	ctx->path[len] = '\0';
}

void tp_cfg_path_set(struct tp_cfg_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(ctx->path, sizeof(ctx->path), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	ctx->path_len = (size_t)n < sizeof(ctx->path) ? (size_t)n : sizeof(ctx->path) - 1;
}

static int add_line(struct tp_cfg_errors *errs, bool warning, uint32_t line, uint32_t col,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int add_line(struct tp_cfg_errors *errs, bool warning, uint32_t line, uint32_t col,
		    const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = tp_cfg_errors_vadd(errs, warning, line, col, fmt, ap);
	va_end(ap);
	return ret;
}

static void report(struct tp_cfg_ctx *ctx, bool warning, uint32_t line, uint32_t col,
		   const char *key, const char *fmt, va_list ap)
{
	char reason[512];
	size_t old = ctx->path_len;

	vsnprintf(reason, sizeof(reason), fmt, ap);
	if (key)
		tp_cfg_path_push(ctx, key);
	if (!warning)
		ctx->n_errors++;
	if (add_line(ctx->errs, warning, line, col, "%s:%" PRIu32 ":%" PRIu32 ": %s: %s%s",
		     ctx->file, line, col, ctx->path_len ? ctx->path : "(root)",
		     warning ? "warning: " : "", reason))
		ctx->oom = true;
	tp_cfg_path_pop(ctx, old);
}

void tp_cfg_verror(struct tp_cfg_ctx *ctx, uint32_t line, uint32_t col, const char *key,
		   const char *fmt, va_list ap)
{
	report(ctx, false, line, col, key, fmt, ap);
}

void tp_cfg_error(struct tp_cfg_ctx *ctx, const struct tp_ynode *at, const char *key,
		  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tp_cfg_verror(ctx, at ? at->line : 1, at ? at->col : 1, key, fmt, ap);
	va_end(ap);
}

void tp_cfg_error_mark(struct tp_cfg_ctx *ctx, struct tp_cfg_mark m, const char *key,
		       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tp_cfg_verror(ctx, m.line, m.col, key, fmt, ap);
	va_end(ap);
}

void tp_cfg_warn_mark(struct tp_cfg_ctx *ctx, struct tp_cfg_mark m, const char *key,
		      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(ctx, true, m.line, m.col, key, fmt, ap);
	va_end(ap);
}

void tp_cfg_check_stat_name(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			    const struct tp_ynode *value, void *obj)
{
	if (value->len > TP_CFG_STAT_NAME_MAX)
		tp_cfg_error(ctx, value, NULL,
			     "is %zu characters long: tcpproxy's stats take names of at most %d "
			     "characters (see docs/envoy-compat.md)",
			     value->len, TP_CFG_STAT_NAME_MAX);
}

struct tp_cfg_mark tp_cfg_mark_of(const struct tp_ynode *node)
{
	struct tp_cfg_mark m = {.line = node->line, .col = node->col};

	return m;
}

/* protobuf's JSON mapping accepts the proto name and its lowerCamelCase json_name:
 * "port_value" and "portValue". */
bool tp_cfg_key_matches(const char *proto, const char *key)
{
	bool upper = false;

	if (!strcmp(proto, key))
		return true;
	for (; *proto; proto++) {
		if (*proto == '_') {
			upper = true;
			continue;
		}
		if (*key != *proto && !(upper && *key == toupper((unsigned char)*proto)))
			return false;
		upper = false;
		key++;
	}
	return !*key;
}

static const struct tp_cfg_field *find_field(const struct tp_cfg_schema *s, const char *key)
{
	for (const struct tp_cfg_field *f = s->fields; f->key; f++) {
		if (tp_cfg_key_matches(f->key, key))
			return f;
	}
	return NULL;
}

const struct tp_ynode *tp_cfg_find(const struct tp_ynode *map, const char *key)
{
	if (!map || map->type != TP_YNODE_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++) {
		if (tp_cfg_key_matches(key, map->pairs[i].key->str)) {
			if (tp_ynode_is_null(map->pairs[i].value))
				return NULL;
			return map->pairs[i].value;
		}
	}
	return NULL;
}

static void *at_off(void *obj, size_t off)
{
	return (char *)obj + off;
}

static void set_defaults(const struct tp_cfg_schema *s, void *obj)
{
	for (const struct tp_cfg_field *f = s->fields; f->key; f++) {
		void *p = at_off(obj, f->off);

		switch (f->type) {
		case TP_CFG_BOOL:
			*(bool *)p = f->def != 0;
			break;
		case TP_CFG_UINT32:
			*(uint32_t *)p = (uint32_t)f->def;
			break;
		case TP_CFG_UINT32_OPT:
		case TP_CFG_INT64:
		case TP_CFG_DURATION:
			*(int64_t *)p = f->def;
			break;
		case TP_CFG_ENUM:
			*(int *)p = (int)f->def;
			break;
		case TP_CFG_MESSAGE:
			set_defaults(f->sub, p);
			break;
		default:
			break;
		}
	}
}

static bool expect_scalar(struct tp_cfg_ctx *ctx, const struct tp_ynode *v, const char *what)
{
	if (v->type == TP_YNODE_SCALAR)
		return true;
	tp_cfg_error(ctx, v, NULL, "expected %s, got %s", what, tp_ynode_kind_name(v));
	return false;
}

/* An integer as protobuf JSON reads one: a number, or a string holding one ("80"). */
static int parse_int(const char *s, int64_t *out)
{
	bool neg = false;
	int64_t v = 0;

	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (INT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (*s - '0');
	}
	*out = neg ? -v : v;
	return 0;
}

static int decode_string(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			 const struct tp_ynode *v, void *p)
{
	char **dst = p;

	if (!expect_scalar(ctx, v, "a string"))
		return -EINVAL;
	if ((f->flags & TP_CFG_NONEMPTY) && !v->len) {
		tp_cfg_error(ctx, v, NULL, "must not be empty");
		return -EINVAL;
	}
	if (memchr(v->str, '\0', v->len)) {
		tp_cfg_error(ctx, v, NULL, "must not contain a NUL character");
		return -EINVAL;
	}
	free(*dst);
	*dst = strdup(v->str);
	if (!*dst) {
		ctx->oom = true;
		return -ENOMEM;
	}
	return 0;
}

/* The words yaml-cpp (so Envoy) reads as booleans, unquoted only. */
static int decode_bool(struct tp_cfg_ctx *ctx, const struct tp_ynode *v, bool *dst)
{
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
					  "on",	  "On",	  "ON",	  "y",	 "Y"};
	static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO",
					 "off",	  "Off",   "OFF",   "n",  "N"};

	if (v->type == TP_YNODE_SCALAR && !v->quoted) {
		for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
			if (!strcmp(v->str, yes[i])) {
				*dst = true;
				return 0;
			}
		}
		for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
			if (!strcmp(v->str, no[i])) {
				*dst = false;
				return 0;
			}
		}
	}
	tp_cfg_error(ctx, v, NULL, "expected true or false, got %s", tp_ynode_kind_name(v));
	return -EINVAL;
}

/* An integer within the row's bounds; what names the type for "expected ..." messages. */
static int decode_int(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
		      const struct tp_ynode *v, const char *what, int64_t *out)
{
	int64_t x;
	int ret;

	if (!expect_scalar(ctx, v, what))
		return -EINVAL;
	ret = parse_int(v->str, &x);
	if (ret == -EINVAL) {
		tp_cfg_error(ctx, v, NULL, "expected %s, got \"%s\"", what, v->str);
		return ret;
	}
	if (ret || x < f->min || x > f->max) {
		tp_cfg_error(ctx, v, NULL, "%s is out of range %" PRId64 "..%" PRId64, v->str,
			     f->min, f->max);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

/* google.protobuf.Duration as a message, which protobuf's JSON parser in Envoy reads too. */
struct duration_msg {
	int64_t seconds;
	int64_t nanos;
};

static const struct tp_cfg_field duration_msg_fields[] = {
	{.key = "seconds",
	 .type = TP_CFG_INT64,
	 .off = offsetof(struct duration_msg, seconds),
	 .min = -TP_DURATION_MAX_SECONDS,
	 .max = TP_DURATION_MAX_SECONDS},
	{.key = "nanos",
	 .type = TP_CFG_INT64,
	 .off = offsetof(struct duration_msg, nanos),
	 .min = -999999999,
	 .max = 999999999},
	{.key = NULL},
};

static const struct tp_cfg_schema duration_msg_schema = {
	.name = "google.protobuf.Duration",
	.size = sizeof(struct duration_msg),
	.fields = duration_msg_fields,
};

/* {seconds: S, nanos: N} to its JSON text "S.NNNs", for the same checks and messages as the
 * string form. Returns 0 or -EINVAL, reported. */
static int duration_msg_text(struct tp_cfg_ctx *ctx, const struct tp_ynode *v, char *buf,
			     size_t size)
{
	struct duration_msg d = {0};
	size_t len;

	if (tp_cfg_decode(ctx, &duration_msg_schema, v, &d))
		return -EINVAL;
	/* protobuf: a nonzero nanos has the sign of a nonzero seconds. */
	if ((d.seconds > 0 && d.nanos < 0) || (d.seconds < 0 && d.nanos > 0)) {
		tp_cfg_error(ctx, v, NULL,
			     "bad duration: seconds and nanos must have the same sign");
		return -EINVAL;
	}
	if (d.seconds < 0 || d.nanos < 0) {
		tp_cfg_error(ctx, v, NULL, "bad duration: negative durations are not allowed");
		return -EINVAL;
	}
	snprintf(buf, size, "%" PRId64 ".%09" PRId64, d.seconds, d.nanos);
	len = strlen(buf);
	while (buf[len - 1] == '0')
		len--;
	if (buf[len - 1] == '.')
		len--;
	snprintf(buf + len, size - len, "s");
	return 0;
}

static int decode_duration(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			   const struct tp_ynode *v, int64_t *dst)
{
	const char *why, *text = v->str;
	char bound[32], msg[48];
	int64_t ms;

	if (v->type == TP_YNODE_MAP) {
		if (duration_msg_text(ctx, v, msg, sizeof(msg)))
			return -EINVAL;
		text = msg;
	} else if (v->type != TP_YNODE_SCALAR) {
		tp_cfg_error(ctx, v, NULL,
			     "expected a duration string like \"5s\" (or {seconds: 5}), got %s",
			     tp_ynode_kind_name(v));
		return -EINVAL;
	}
	if (tp_duration_parse(text, &ms, &why)) {
		tp_cfg_error(ctx, v, NULL, "bad duration \"%s\": %s", text, why);
		return -EINVAL;
	}
	if (ms < f->min) {
		tp_duration_format(f->min, bound, sizeof(bound));
		tp_cfg_error(ctx, v, NULL, "duration \"%s\" is too short: the least is %s", text,
			     bound);
		return -EINVAL;
	}
	if (ms > f->max) {
		tp_duration_format(f->max, bound, sizeof(bound));
		tp_cfg_error(ctx, v, NULL, "duration \"%s\" is too long: the most is %s", text,
			     bound);
		return -EINVAL;
	}
	*dst = ms;
	return 0;
}

/* The names of e whose unsupported flag is as asked, "A, B or C" (last joined by conj); "" if
 * none. */
static void enum_names(const struct tp_cfg_enum *e, bool unsupported, const char *conj, char *buf,
		       size_t size)
{
	size_t len = 0, n = 0, i = 0;

	for (const struct tp_cfg_enum *x = e; x->name; x++)
		n += x->unsupported == unsupported;
	buf[0] = '\0';
	for (; e->name && len < size; e++) {
		const char *sep = ", ";
		int w;

		if (e->unsupported != unsupported)
			continue;
		if (++i == 1)
			sep = "";
		else if (i == n)
			sep = conj;
		w = snprintf(buf + len, size - len, "%s%s", sep, e->name);
		if (w > 0)
			len += (size_t)w;
	}
}

static int decode_enum(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
		       const struct tp_ynode *v, int *dst)
{
	const struct tp_cfg_enum *e, *hit = NULL;
	char names[256], others[256];
	int64_t num;

	if (!expect_scalar(ctx, v, "an enum name"))
		return -EINVAL;
	/* protobuf JSON takes the number too, but only as a JSON number, not in quotes. */
	if (!v->quoted && !parse_int(v->str, &num)) {
		for (e = f->enums; e->name && !hit; e++) {
			if (e->number == num)
				hit = e;
		}
	} else {
		/* Envoy parses JSON with protobuf's case_insensitive_enum_parsing (MessageUtil::
		 * loadFromJson): "static", "round_robin" and "tcp" are its enum values too. */
		for (e = f->enums; e->name && !hit; e++) {
			if (!strcasecmp(e->name, v->str))
				hit = e;
		}
	}
	if (!hit) {
		enum_names(f->enums, false, " or ", names, sizeof(names));
		enum_names(f->enums, true, " and ", others, sizeof(others));
		tp_cfg_error(ctx, v, NULL, "unknown value \"%s\"; expected %s%s%s%s", v->str, names,
			     others[0] ? " (Envoy also has " : "", others,
			     others[0] ? ", not supported yet by tcpproxy)" : "");
		return -EINVAL;
	}
	if (hit->unsupported) {
		tp_cfg_error(ctx, v, NULL, "%s is not supported yet by tcpproxy (" COMPAT_DOC ")",
			     hit->name);
		return -EINVAL;
	}
	*dst = hit->value;
	return 0;
}

static int decode_repeated(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			   const struct tp_ynode *v, void *obj)
{
	void **arr = at_off(obj, f->off);
	size_t *count = at_off(obj, f->count_off);
	struct tp_ynode *const *items = v->items;
	size_t n = v->n;
	int ret = 0;

	/* protobuf's JSON parser in Envoy takes one message where a list of them is expected, and
	 * Envoy's own test bootstraps write "listeners:" or "clusters:" that way. */
	if (v->type == TP_YNODE_MAP) {
		items = (struct tp_ynode *const *)&v;
		n = 1;
	} else if (v->type != TP_YNODE_SEQ) {
		tp_cfg_error(ctx, v, NULL, "expected a list, got %s", tp_ynode_kind_name(v));
		return -EINVAL;
	}
	if (!n)
		return 0;
	*arr = calloc(n, f->sub->size);
	if (!*arr) {
		ctx->oom = true;
		return -ENOMEM;
	}
	*count = n;
	for (size_t i = 0; i < n; i++) {
		size_t old = tp_cfg_path_push_index(ctx, i);

		if (tp_cfg_decode(ctx, f->sub, items[i], (char *)*arr + i * f->sub->size))
			ret = -EINVAL;
		tp_cfg_path_pop(ctx, old);
	}
	return ret;
}

static void report_unsupported(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			       const struct tp_ynode *key)
{
	if (f->type == TP_CFG_REMOVED)
		tp_cfg_error(ctx, key, NULL, "unknown field: Envoy's v3 API removed it%s%s",
			     f->hint ? "; " : "", f->hint ? f->hint : "");
	else
		tp_cfg_error(ctx, key, NULL, "not supported yet by tcpproxy%s%s (" COMPAT_DOC ")",
			     f->hint ? ": " : "", f->hint ? f->hint : "");
}

/* Decodes one present, non-null value; path already names the field. */
static int decode_value(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			const struct tp_ynode *key, const struct tp_ynode *v, void *obj)
{
	void *p = at_off(obj, f->off);
	int64_t x;
	int ret = 0;

	switch (f->type) {
	case TP_CFG_STRING:
		ret = decode_string(ctx, f, v, p);
		break;
	case TP_CFG_BOOL:
		ret = decode_bool(ctx, v, p);
		break;
	case TP_CFG_UINT32:
		ret = decode_int(ctx, f, v, "an unsigned integer", &x);
		if (!ret)
			*(uint32_t *)p = (uint32_t)x;
		break;
	case TP_CFG_UINT32_OPT:
		ret = decode_int(ctx, f, v, "an unsigned integer", &x);
		if (!ret)
			*(int64_t *)p = x;
		break;
	case TP_CFG_INT64:
		ret = decode_int(ctx, f, v, "an integer", &x);
		if (!ret)
			*(int64_t *)p = x;
		break;
	case TP_CFG_DURATION:
		ret = decode_duration(ctx, f, v, p);
		break;
	case TP_CFG_ENUM:
		ret = decode_enum(ctx, f, v, p);
		break;
	case TP_CFG_MESSAGE:
		ret = tp_cfg_decode(ctx, f->sub, v, p);
		break;
	case TP_CFG_REPEATED:
		ret = decode_repeated(ctx, f, v, obj);
		break;
	case TP_CFG_CUSTOM:
		ret = f->decode(ctx, f, v, obj);
		break;
	case TP_CFG_UNSUPPORTED:
		if (f->accept && v->type == TP_YNODE_SCALAR && !v->quoted &&
		    !strcmp(v->str, f->accept))
			break;
		report_unsupported(ctx, f, key);
		ret = -EINVAL;
		break;
	case TP_CFG_REMOVED:
		report_unsupported(ctx, f, key);
		ret = -EINVAL;
		break;
	case TP_CFG_IGNORED:
		break;
	}
	if (!ret && f->check)
		f->check(ctx, f, v, obj);
	if (f->mark_off)
		*(struct tp_cfg_mark *)at_off(obj, f->mark_off - 1) = tp_cfg_mark_of(v);
	return ret;
}

/* Whether another member of f's oneof was given (given[] is indexed like s->fields). */
static bool oneof_given(const struct tp_cfg_schema *s, const struct tp_cfg_field *f,
			const bool *given)
{
	for (size_t i = 0; f->oneof && s->fields[i].key; i++) {
		const struct tp_cfg_field *o = &s->fields[i];

		if (o != f && given[i] && o->oneof && !strcmp(o->oneof, f->oneof))
			return true;
	}
	return false;
}

int tp_cfg_decode(struct tp_cfg_ctx *ctx, const struct tp_cfg_schema *s,
		  const struct tp_ynode *node, void *obj)
{
	size_t n_fields = 0, before = ctx->n_errors;

	for (const struct tp_cfg_field *f = s->fields; f->key; f++)
		n_fields++;
	set_defaults(s, obj);
	if (node && s->mark_off)
		*(struct tp_cfg_mark *)at_off(obj, s->mark_off - 1) = tp_cfg_mark_of(node);
	if (node && !tp_ynode_is_null(node) && node->type != TP_YNODE_MAP) {
		tp_cfg_error(ctx, node, NULL, "expected a mapping, got %s",
			     tp_ynode_kind_name(node));
		return -EINVAL;
	}

	{
		/* first[i]: the key that set row i, to report a second spelling of it. */
		const struct tp_ynode *first[n_fields ? n_fields : 1];
		bool given[n_fields ? n_fields : 1];
		const struct tp_ynode *outer = ctx->map;

		ctx->map = node;

		memset(first, 0, sizeof(first));
		memset(given, 0, sizeof(given));
		for (size_t i = 0; node && i < node->n; i++) {
			const struct tp_ynode *key = node->pairs[i].key;
			const struct tp_ynode *v = node->pairs[i].value;
			const struct tp_cfg_field *f;
			size_t idx, old;

			if (s->any && !strcmp(key->str, "@type"))
				continue;
			f = find_field(s, key->str);
			if (!f) {
				tp_cfg_error(ctx, key, key->str, "unknown field");
				continue;
			}
			idx = (size_t)(f - s->fields);
			old = tp_cfg_path_push(ctx, f->key);
			if (first[idx]) {
				tp_cfg_error(ctx, key, NULL,
					     "given twice (first at line %u column %u)",
					     first[idx]->line, first[idx]->col);
			} else {
				first[idx] = key;
				/* protobuf JSON: null means "not set". */
				if (!tp_ynode_is_null(v)) {
					given[idx] = true;
					decode_value(ctx, f, key, v, obj);
				}
			}
			tp_cfg_path_pop(ctx, old);
		}
		for (size_t i = 0; i < n_fields; i++) {
			const struct tp_cfg_field *f = &s->fields[i];

			if ((f->flags & TP_CFG_REQUIRED) && !given[i] && !oneof_given(s, f, given))
				tp_cfg_error(ctx, node, f->key, "missing required field");
		}
		ctx->map = outer;
	}
	if (s->post)
		s->post(ctx, node, obj);
	return ctx->n_errors == before ? 0 : -EINVAL;
}

void tp_cfg_free(const struct tp_cfg_schema *s, void *obj)
{
	if (!obj)
		return;
	for (const struct tp_cfg_field *f = s->fields; f->key; f++) {
		void *p = at_off(obj, f->off);

		switch (f->type) {
		case TP_CFG_STRING:
			free(*(char **)p);
			*(char **)p = NULL;
			break;
		case TP_CFG_MESSAGE:
			tp_cfg_free(f->sub, p);
			break;
		case TP_CFG_REPEATED: {
			char *arr = *(char **)p;
			size_t *count = at_off(obj, f->count_off);

			for (size_t i = 0; arr && i < *count; i++)
				tp_cfg_free(f->sub, arr + i * f->sub->size);
			free(arr);
			*(char **)p = NULL;
			*count = 0;
			break;
		}
		case TP_CFG_CUSTOM:
			if (f->free)
				f->free(f, obj);
			break;
		default:
			break;
		}
	}
}

static int b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* protobuf JSON's bytes: standard or URL-safe base64, padding optional, whitespace skipped.
 * Returns the length written to out (room for 3/4 of the input), or -1 if malformed. */
ssize_t tp_cfg_b64_decode(const char *in, uint8_t *out)
{
	uint32_t acc = 0;
	int bits = 0, pad = 0;
	size_t o = 0;

	for (; *in; in++) {
		int v;

		if (*in == ' ' || *in == '\n' || *in == '\r' || *in == '\t')
			continue;
		if (*in == '=') {
			pad++;
			continue;
		}
		v = b64_value((unsigned char)*in);
		if (v < 0 || pad)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* Leftover bits must be zero padding: at most 4 of them from a final partial group. */
	if (bits >= 6 || pad > 2)
		return -1;
	return (ssize_t)o;
}

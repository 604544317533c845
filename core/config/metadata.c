/* Metadata values from YAML as Envoy reads them, in the canonical byte form metadata.h describes. */
#include "core/config/metadata.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config/cfg_schema.h"
#include "core/config/ynode.h"

struct bytes {
	uint8_t *b;
	size_t len, cap;
	bool oom;
};

static void put(struct bytes *o, const void *p, size_t n)
{
	if (o->oom)
		return;
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 32;
		uint8_t *b;

		while (cap < o->len + n)
			cap *= 2;
		b = realloc(o->b, cap);
		if (!b) {
			o->oom = true;
			return;
		}
		o->b = b;
		o->cap = cap;
	}
	memcpy(o->b + o->len, p, n);
	o->len += n;
}

static void put_u32(struct bytes *o, uint32_t v)
{
	put(o, &v, sizeof(v));
}

static void put_u32_at(struct bytes *o, size_t at, uint32_t v)
{
	if (!o->oom)
		memcpy(o->b + at, &v, sizeof(v));
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* yaml-cpp's convert<bool> (so Envoy's): y/yes/true/on and n/no/false/off, all lower case, all
 * upper case, or capitalised. */
static bool yaml_bool(const char *s, bool *out)
{
	static const char *const names[][2] = {
		{"y", "n"}, {"yes", "no"}, {"true", "false"}, {"on", "off"}};
	size_t n = strlen(s);
	bool lower = true, upper = true, cap = n > 0;

	for (size_t i = 0; i < n; i++) {
		bool lo = s[i] >= 'a' && s[i] <= 'z', up = s[i] >= 'A' && s[i] <= 'Z';

		lower = lower && !up;
		upper = upper && !lo;
		if (i == 0 ? !up : up)
			cap = false;
	}
	if (!lower && !upper && !cap)
		return false;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		for (int t = 0; t < 2; t++) {
			if (!strcasecmp(s, names[i][t])) {
				*out = t == 0;
				return true;
			}
		}
	}
	return false;
}

/* yaml-cpp's convert<int64_t>: a stream read with the base left to the text (0x hex, 0 octal),
 * an optional sign, and nothing after but spaces. */
static bool yaml_int(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!*s || *s == ' ' || *s == '\t')
		return false;
	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || end == s)
		return false;
	while (*end == ' ' || *end == '\t')
		end++;
	if (*end)
		return false;
	*out = v;
	return true;
}

static void put_string(struct bytes *o, const char *s, size_t len)
{
	uint8_t tag = TP_MV_STRING;

	put(o, &tag, 1);
	put_u32(o, (uint32_t)len);
	put(o, s, len);
}

static void put_number(struct bytes *o, double d)
{
	uint8_t tag = TP_MV_NUMBER;

	if (d == 0)
		d = 0; /* -0 equals 0 */
	put(o, &tag, 1);
	put(o, &d, sizeof(d));
}

struct field_ref {
	const struct tp_ynode *key;
	const struct tp_ynode *value;
};

static int cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int cmp_field_ref(const void *a, const void *b)
{
	const struct field_ref *x = a, *y = b;

	return cmp_bytes(x->key->str, x->key->len, y->key->str, y->key->len);
}

/* The mapping's pairs sorted by key; of a key given twice the last counts (a warning says so). NULL
 * on ENOMEM. */
static struct field_ref *sorted_fields(struct tp_cfg_ctx *ctx, const struct tp_ynode *map,
				       size_t *n_out)
{
	struct field_ref *v = calloc(map->n ? map->n : 1, sizeof(*v));
	size_t n = 0;

	if (!v)
		return NULL;
	/* Insertion sort, stable: of equal keys the one written later stays later. */
	for (size_t i = 0; i < map->n; i++) {
		struct field_ref x = {map->pairs[i].key, map->pairs[i].value};
		size_t j = i;

		while (j > 0 && cmp_field_ref(&v[j - 1], &x) > 0) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
	for (size_t i = 0; i < map->n; i++) {
		size_t first = i;

		while (i + 1 < map->n && !cmp_field_ref(&v[i], &v[i + 1])) {
			tp_cfg_warn_mark(ctx, tp_cfg_mark_of(v[i + 1].key), v[i + 1].key->str,
					 "given twice (first at line %u column %u); the last value "
					 "counts, as in Envoy",
					 v[first].key->line, v[first].key->col);
			i++;
		}
		v[n++] = v[i];
	}
	*n_out = n;
	return v;
}

static int encode(struct tp_cfg_ctx *ctx, const struct tp_ynode *node, struct bytes *o);

static int encode_map(struct tp_cfg_ctx *ctx, const struct tp_ynode *node, struct bytes *o)
{
	uint8_t tag = TP_MV_STRUCT;
	struct field_ref *fields;
	size_t n, at;
	int ret = 0;

	fields = sorted_fields(ctx, node, &n);
	if (!fields) {
		o->oom = true;
		return -ENOMEM;
	}
	put(o, &tag, 1);
	at = o->len;
	put_u32(o, 0);
	put_u32(o, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		size_t old = tp_cfg_path_push(ctx, fields[i].key->str);

		put_u32(o, (uint32_t)fields[i].key->len);
		put(o, fields[i].key->str, fields[i].key->len);
		if (encode(ctx, fields[i].value, o))
			ret = -EINVAL;
		tp_cfg_path_pop(ctx, old);
	}
	put_u32_at(o, at, (uint32_t)(o->len - at - 4));
	free(fields);
	return ret;
}

/* One YAML node as Envoy's parseYamlNode makes it a protobuf Value. */
static int encode(struct tp_cfg_ctx *ctx, const struct tp_ynode *node, struct bytes *o)
{
	uint8_t tag;
	size_t at;
	int64_t i;
	bool b;
	int ret = 0;

	switch (node->type) {
	case TP_YNODE_MAP:
		return encode_map(ctx, node, o);
	case TP_YNODE_SEQ:
		tag = TP_MV_LIST;
		put(o, &tag, 1);
		at = o->len;
		put_u32(o, 0);
		put_u32(o, (uint32_t)node->n);
		for (size_t k = 0; k < node->n; k++) {
			size_t old = tp_cfg_path_push_index(ctx, k);

			if (encode(ctx, node->items[k], o))
				ret = -EINVAL;
			tp_cfg_path_pop(ctx, old);
		}
		put_u32_at(o, at, (uint32_t)(o->len - at - 4));
		return ret;
	case TP_YNODE_SCALAR:
		break;
	}
	if (node->quoted) {
		put_string(o, node->str, node->len);
	} else if (tp_ynode_is_null(node)) {
		tag = TP_MV_NULL;
		put(o, &tag, 1);
	} else if (yaml_bool(node->str, &b)) {
		uint8_t v[2] = {TP_MV_BOOL, b};

		put(o, v, 2);
	} else if (yaml_int(node->str, &i)) {
		if (i >= INT32_MIN && i <= INT32_MAX) {
			put_number(o, (double)i);
		} else {
			char text[24];

			put_string(o, text, (size_t)snprintf(text, sizeof(text), "%" PRId64, i));
		}
	} else {
		put_string(o, node->str, node->len);
	}
	if (memchr(node->str, '\0', node->len)) {
		tp_cfg_error(ctx, node, NULL, "must not contain a NUL character");
		return -EINVAL;
	}
	return 0;
}

void tp_mstruct_free(struct tp_mstruct *s)
{
	for (uint32_t i = 0; i < s->n; i++) {
		free(s->f[i].key);
		free(s->f[i].value.b);
	}
	free(s->f);
	s->f = NULL;
	s->n = 0;
}

int tp_mstruct_decode(struct tp_cfg_ctx *ctx, const struct tp_ynode *node, struct tp_mstruct *out)
{
	struct field_ref *fields;
	size_t n;
	int ret = 0;

	tp_mstruct_free(out);
	if (tp_ynode_is_null(node))
		return 0;
	if (node->type != TP_YNODE_MAP) {
		tp_cfg_error(ctx, node, NULL, "expected a mapping (a Struct), got %s",
			     tp_ynode_kind_name(node));
		return -EINVAL;
	}
	fields = sorted_fields(ctx, node, &n);
	if (!fields)
		goto out_oom;
	out->f = calloc(n ? n : 1, sizeof(*out->f));
	if (!out->f)
		goto out_oom;
	for (size_t i = 0; i < n; i++) {
		struct bytes o = {0};
		size_t old = tp_cfg_path_push(ctx, fields[i].key->str);

		if (memchr(fields[i].key->str, '\0', fields[i].key->len)) {
			tp_cfg_error(ctx, fields[i].key, NULL, "must not contain a NUL character");
			ret = -EINVAL;
		}
		if (encode(ctx, fields[i].value, &o))
			ret = -EINVAL;
		tp_cfg_path_pop(ctx, old);
		out->f[out->n].key = strdup(fields[i].key->str);
		out->f[out->n].value.b = o.b;
		out->f[out->n].value.len = (uint32_t)o.len;
		out->n++;
		if (o.oom || !out->f[out->n - 1].key)
			goto out_oom;
	}
	free(fields);
	return ret;

out_oom:
	free(fields);
	ctx->oom = true;
	tp_cfg_error(ctx, node, NULL, "%s", strerror(ENOMEM));
	return -ENOMEM;
}

static int copy_field(struct tp_mfield *dst, const struct tp_mfield *src)
{
	dst->key = strdup(src->key);
	dst->value.b = malloc(src->value.len ? src->value.len : 1);
	dst->value.len = src->value.len;
	if (!dst->key || !dst->value.b)
		return -ENOMEM;
	memcpy(dst->value.b, src->value.b, src->value.len);
	return 0;
}

int tp_mstruct_merge(struct tp_mstruct *dst, const struct tp_mstruct *base,
		     const struct tp_mstruct *over)
{
	uint32_t i = 0, j = 0;

	tp_mstruct_free(dst);
	dst->f = calloc(base->n + over->n + 1, sizeof(*dst->f));
	if (!dst->f)
		return -ENOMEM;
	while (i < base->n || j < over->n) {
		int c = i == base->n   ? 1
			: j == over->n ? -1
				       : strcmp(base->f[i].key, over->f[j].key);
		const struct tp_mfield *from = c < 0 ? &base->f[i] : &over->f[j];

		if (copy_field(&dst->f[dst->n++], from) < 0) {
			tp_mstruct_free(dst);
			return -ENOMEM;
		}
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	return 0;
}

const struct tp_mfield *tp_mstruct_get(const struct tp_mstruct *s, const char *key)
{
	uint32_t lo = 0, hi = s->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->f[mid].key, key);

		if (!c)
			return &s->f[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

size_t tp_mvalue_put_string(uint8_t *buf, size_t cap, const char *s, size_t len)
{
	uint32_t l = (uint32_t)len;

	if (cap < 5 + len)
		return 0;
	buf[0] = TP_MV_STRING;
	memcpy(buf + 1, &l, 4);
	memcpy(buf + 5, s, len);
	return 5 + len;
}

size_t tp_mvalue_put_number(uint8_t *buf, size_t cap, double d)
{
	if (cap < 9)
		return 0;
	if (d == 0)
		d = 0;
	buf[0] = TP_MV_NUMBER;
	memcpy(buf + 1, &d, 8);
	return 9;
}

size_t tp_mvalue_put_bool(uint8_t *buf, size_t cap, bool b)
{
	if (cap < 2)
		return 0;
	buf[0] = TP_MV_BOOL;
	buf[1] = b;
	return 2;
}

/* The length of the value at p (at most avail bytes), 0 if it is cut short. */
static size_t value_size(const uint8_t *p, size_t avail)
{
	size_t n;

	if (!avail)
		return 0;
	switch (p[0]) {
	case TP_MV_NULL:
		return 1;
	case TP_MV_BOOL:
		return avail >= 2 ? 2 : 0;
	case TP_MV_NUMBER:
		return avail >= 9 ? 9 : 0;
	case TP_MV_STRING:
		if (avail < 5)
			return 0;
		n = 5 + (size_t)get_u32(p + 1);
		return n <= avail ? n : 0;
	case TP_MV_LIST:
	case TP_MV_STRUCT:
		if (avail < 5)
			return 0;
		n = 5 + (size_t)get_u32(p + 1);
		return n <= avail ? n : 0;
	}
	return 0;
}

uint32_t tp_mvalue_list(const struct tp_mvalue *v, struct tp_mvalue *items, uint32_t max)
{
	const uint8_t *p, *end;
	uint32_t n, k = 0;

	if (v->len < 9 || v->b[0] != TP_MV_LIST)
		return 0;
	n = get_u32(v->b + 5);
	p = v->b + 9;
	end = v->b + v->len;
	for (uint32_t i = 0; i < n && p < end; i++) {
		size_t sz = value_size(p, (size_t)(end - p));

		if (!sz)
			break;
		if (k < max) {
			items[k].b = (uint8_t *)p;
			items[k].len = (uint32_t)sz;
		}
		k++;
		p += sz;
	}
	return k;
}

struct text {
	char *buf;
	size_t len, cap;
};

static void text_put(struct text *t, const char *s, size_t n)
{
	for (size_t i = 0; i < n && t->len + 1 < t->cap; i++)
		t->buf[t->len++] = s[i];
	t->buf[t->len] = '\0';
}

static void text_str(struct text *t, const uint8_t *s, size_t n)
{
	text_put(t, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		char esc[8];

		if (s[i] == '"' || s[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)s[i];
			text_put(t, esc, 2);
		} else if (s[i] < 0x20) {
			text_put(t, esc, (size_t)snprintf(esc, sizeof(esc), "\\u%04x", s[i]));
		} else {
			text_put(t, (const char *)&s[i], 1);
		}
	}
	text_put(t, "\"", 1);
}

static const uint8_t *format_value(struct text *t, const uint8_t *p, const uint8_t *end)
{
	size_t sz = value_size(p, (size_t)(end - p));
	char num[40];
	double d;
	uint32_t n;
	const uint8_t *q;

	if (!sz)
		return end;
	switch (p[0]) {
	case TP_MV_NULL:
		text_put(t, "null", 4);
		break;
	case TP_MV_BOOL:
		text_put(t, p[1] ? "true" : "false", p[1] ? 4 : 5);
		break;
	case TP_MV_NUMBER:
		memcpy(&d, p + 1, 8);
		text_put(t, num, (size_t)snprintf(num, sizeof(num), "%.17g", d));
		break;
	case TP_MV_STRING:
		text_str(t, p + 5, get_u32(p + 1));
		break;
	case TP_MV_LIST:
		n = get_u32(p + 5);
		q = p + 9;
		text_put(t, "[", 1);
		for (uint32_t i = 0; i < n && q < p + sz; i++) {
			if (i)
				text_put(t, ",", 1);
			q = format_value(t, q, p + sz);
		}
		text_put(t, "]", 1);
		break;
	case TP_MV_STRUCT:
		n = get_u32(p + 5);
		q = p + 9;
		text_put(t, "{", 1);
		for (uint32_t i = 0; i < n && q + 4 <= p + sz; i++) {
			uint32_t kl = get_u32(q);

			if (i)
				text_put(t, ",", 1);
			text_str(t, q + 4, kl);
			text_put(t, ":", 1);
			q = format_value(t, q + 4 + kl, p + sz);
		}
		text_put(t, "}", 1);
		break;
	}
	return p + sz;
}

size_t tp_mvalue_format(const struct tp_mvalue *v, char *buf, size_t cap)
{
	struct text t = {.buf = buf, .cap = cap};

	if (!cap)
		return 0;
	buf[0] = '\0';
	format_value(&t, v->b, v->b + v->len);
	return t.len;
}

/* ---- schema rows ---- */

int tp_cfg_decode_struct(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			 const struct tp_ynode *v, void *obj)
{
	return tp_mstruct_decode(ctx, v, (struct tp_mstruct *)((char *)obj + f->off));
}

void tp_cfg_free_mstruct(const struct tp_cfg_field *f, void *obj)
{
	tp_mstruct_free((struct tp_mstruct *)((char *)obj + f->off));
}

int tp_cfg_decode_lb_metadata(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			      const struct tp_ynode *v, void *obj)
{
	struct tp_mstruct *out = (struct tp_mstruct *)((char *)obj + f->off);
	const struct tp_ynode *fm = NULL;
	int ret = 0;

	if (v->type != TP_YNODE_MAP) {
		tp_cfg_error(ctx, v, NULL, "expected a mapping, got %s", tp_ynode_kind_name(v));
		return -EINVAL;
	}
	for (size_t i = 0; i < v->n; i++) {
		const struct tp_ynode *key = v->pairs[i].key, *val = v->pairs[i].value;

		/* Envoy's Metadata: filter_metadata (map<string, Struct>), typed_filter_metadata
		 * (map<string, Any>), which nothing in tcpproxy reads. */
		if (!strcmp(key->str, "filter_metadata") || !strcmp(key->str, "filterMetadata")) {
			if (fm) {
				tp_cfg_error(ctx, key, key->str,
					     "given twice (first at line %u column %u)", fm->line,
					     fm->col);
				ret = -EINVAL;
				continue;
			}
			fm = val;
		} else if (strcmp(key->str, "typed_filter_metadata") &&
			   strcmp(key->str, "typedFilterMetadata")) {
			tp_cfg_error(ctx, key, key->str, "unknown field");
			ret = -EINVAL;
		}
	}
	if (!fm || tp_ynode_is_null(fm))
		return ret;
	if (fm->type != TP_YNODE_MAP) {
		tp_cfg_error(ctx, fm, "filter_metadata", "expected a mapping, got %s",
			     tp_ynode_kind_name(fm));
		return -EINVAL;
	}
	for (size_t i = 0; i < fm->n; i++) {
		const struct tp_ynode *ns = fm->pairs[i].key;
		size_t old = tp_cfg_path_push(ctx, "filter_metadata");
		struct tp_mstruct tmp = {0};
		int r;

		tp_cfg_path_push(ctx, ns->str);
		/* Every namespace must be a Struct; envoy.lb is the one kept (the last given). */
		if (!strcmp(ns->str, "envoy.lb")) {
			r = tp_mstruct_decode(ctx, fm->pairs[i].value, out);
		} else {
			r = tp_mstruct_decode(ctx, fm->pairs[i].value, &tmp);
			tp_mstruct_free(&tmp);
		}
		if (r)
			ret = r;
		tp_cfg_path_pop(ctx, old);
	}
	return ret;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int tp_cfg_decode_strset(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			 const struct tp_ynode *v, void *obj)
{
	struct tp_strset *s = (struct tp_strset *)((char *)obj + f->off);
	size_t n = 0;
	int ret = 0;

	tp_cfg_free_strset(f, obj);
	if (v->type != TP_YNODE_SEQ) {
		tp_cfg_error(ctx, v, NULL, "expected a list of strings, got %s",
			     tp_ynode_kind_name(v));
		return -EINVAL;
	}
	s->v = calloc(v->n ? v->n : 1, sizeof(*s->v));
	if (!s->v)
		goto out_oom;
	for (size_t i = 0; i < v->n; i++) {
		const struct tp_ynode *it = v->items[i];

		if (it->type != TP_YNODE_SCALAR || (tp_ynode_is_null(it) && !it->quoted)) {
			tp_cfg_error(ctx, it, NULL, "expected a string, got %s",
				     tp_ynode_kind_name(it));
			ret = -EINVAL;
			continue;
		}
		if (memchr(it->str, '\0', it->len)) {
			tp_cfg_error(ctx, it, NULL, "must not contain a NUL character");
			ret = -EINVAL;
			continue;
		}
		s->v[n] = strdup(it->str);
		if (!s->v[n])
			goto out_oom;
		n++;
	}
	qsort(s->v, n, sizeof(*s->v), cmp_str);
	s->n = 0;
	for (size_t i = 0; i < n; i++) {
		if (s->n && !strcmp(s->v[s->n - 1], s->v[i])) {
			free(s->v[i]);
			continue;
		}
		s->v[s->n++] = s->v[i];
	}
	return ret;

out_oom:
	s->n = n;
	ctx->oom = true;
	tp_cfg_error(ctx, v, NULL, "%s", strerror(ENOMEM));
	return -ENOMEM;
}

void tp_cfg_free_strset(const struct tp_cfg_field *f, void *obj)
{
	struct tp_strset *s = (struct tp_strset *)((char *)obj + f->off);

	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

bool tp_strset_has(const struct tp_strset *s, const char *key)
{
	/* An empty set may have no array at all, which bsearch must not be given. */
	return s->n && bsearch(&key, s->v, s->n, sizeof(*s->v), cmp_str) != NULL;
}

/* The configuration as JSON for /config_dump: the loaded node tree, secrets redacted. */
#include "core/config/dump.h"

#include "core/base/sbuf.h"
#include "core/config/cfg_schema.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Bytes s[0, len) as a JSON string. */
static void json_bytes(struct tp_sbuf *b, const char *s, size_t len)
{
	size_t run = 0;

	tp_sbuf_putc(b, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c != '"' && c != '\\' && c >= 0x20 && c != 0x7f)
			continue;
		tp_sbuf_add(b, s + run, i - run);
		run = i + 1;
		if (c == '"' || c == '\\')
			tp_sbuf_printf(b, "\\%c", c);
		else
			tp_sbuf_printf(b, "\\u%04x", c);
	}
	tp_sbuf_add(b, s + run, len - run);
	tp_sbuf_putc(b, '"');
}

/* What json_bytes() writes for s[0, len). */
static size_t json_bytes_len(const char *s, size_t len)
{
	size_t n = 2;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		n += c == '"' || c == '\\' ? 2 : c < 0x20 || c == 0x7f ? 6 : 1;
	}
	return n;
}

static bool is_json_number(const char *s, size_t len)
{
	size_t i = 0;

	if (i < len && s[i] == '-')
		i++;
	if (i >= len || s[i] < '0' || s[i] > '9')
		return false;
	if (s[i] == '0' && i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9')
		return false;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i < len && s[i] == '.') {
		if (++i >= len || s[i] < '0' || s[i] > '9')
			return false;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= len || s[i] < '0' || s[i] > '9')
			return false;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return i == len;
}

static bool word_is(const struct tp_ynode *n, const char *const *words)
{
	for (; *words; words++)
		if (n->len == strlen(*words) && !memcmp(n->str, *words, n->len))
			return true;
	return false;
}

/* A scalar as JSON: the literal to write (null, true, false, or the number as it is), or NULL
 * for a string. */
static const char *scalar_literal(const struct tp_ynode *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	static const char *const trues[] = {"true", "True", "TRUE", NULL};
	static const char *const falses[] = {"false", "False", "FALSE", NULL};

	if (n->quoted)
		return NULL;
	if (word_is(n, nulls))
		return "null";
	if (word_is(n, trues))
		return "true";
	if (word_is(n, falses))
		return "false";
	return is_json_number(n->str, n->len) ? n->str : NULL;
}

static size_t scalar_len(const struct tp_ynode *n)
{
	const char *lit = scalar_literal(n);

	return lit ? strlen(lit) : json_bytes_len(n->str, n->len);
}

static void scalar(struct tp_sbuf *b, const struct tp_ynode *n)
{
	const char *lit = scalar_literal(n);

	if (lit)
		tp_sbuf_puts(b, lit);
	else
		json_bytes(b, n->str, n->len);
}

/* Keys are compared as the loader reads them (tp_cfg_key_matches()): "private_key" and
 * "privateKey" are one field, and a redaction that knew one spelling leaked the other. */
static bool key_is(const char *key, const char *const *names)
{
	for (; *names; names++)
		if (tp_cfg_key_matches(*names, key))
			return true;
	return false;
}

/* Envoy's sensitive fields that may stand anywhere. */
static bool secret_anywhere(const char *key)
{
	static const char *const keys[] = {"private_key", "password", "session_ticket_keys",
					   "private_key_provider", NULL};

	return key_is(key, keys);
}

/* Subtrees whose DataSources hold secrets or key material: a transport socket, anything with
 * "tls" in its name in any case (common_tls_context, commonTlsContext, tls_certificates,
 * validation_context_sds_secret_config's siblings...), and secrets (static_resources.secrets,
 * SDS resources). */
static bool secret_subtree(const char *key)
{
	static const char *const keys[] = {"transport_socket",	 "secrets",	"generic_secret",
					   "validation_context", "hmac_secret", NULL};

	return key_is(key, keys) || strcasestr(key, "tls");
}

/* A DataSource's value (envoy.config.core.v3.DataSource; "filename" names a file and stays). */
static bool data_source_value(const char *key)
{
	static const char *const keys[] = {"inline_string", "inline_bytes", "environment_variable",
					   NULL};

	return key_is(key, keys);
}

enum {
	IN_SECRET = 1,	/* under a secret_subtree() key */
	IN_GENERIC = 2, /* a direct child of generic_secret: its "secret" (GenericSecret.secret) */
};

/* A rendering under way: where it goes, what it may take, and whether it was cut there. */
struct dump {
	struct tp_sbuf *b;
	size_t max;
	bool cut;
};

#define CUT_KEY "[truncated]"

/* Said once, where the rendering stops; every list and mapping that holds it ends after it. */
static void cut_here(struct dump *d)
{
	tp_sbuf_printf(d->b,
		       "\"[truncated: the configuration renders to more than %zu bytes of JSON "
		       "(YAML aliases repeat what they name); /config_dump stops here]\"",
		       d->max);
	d->cut = true;
}

/* Whether len more bytes fit. */
static bool room(const struct dump *d, size_t len)
{
	return d->b->len <= d->max && len <= d->max - d->b->len;
}

/* n as JSON, redacted, until d->max: an alias is written out in full at each use, so a small
 * file could render gigabytes. */
static void render(struct dump *d, const struct tp_ynode *n, unsigned in)
{
	struct tp_sbuf *b = d->b;

	if (!n) {
		tp_sbuf_puts(b, "null");
		return;
	}
	switch (n->type) {
	case TP_YNODE_SCALAR:
		if (room(d, scalar_len(n)))
			scalar(b, n);
		else
			cut_here(d);
		break;
	case TP_YNODE_SEQ:
		tp_sbuf_putc(b, '[');
		for (size_t i = 0; i < n->n && !d->cut; i++) {
			if (i)
				tp_sbuf_putc(b, ',');
			if (room(d, 1))
				render(d, n->items[i], in & ~IN_GENERIC);
			else
				cut_here(d);
		}
		tp_sbuf_putc(b, ']');
		break;
	case TP_YNODE_MAP:
		tp_sbuf_putc(b, '{');
		for (size_t i = 0; i < n->n && !d->cut; i++) {
			const char *key = n->pairs[i].key->str;
			size_t key_len = strlen(key);
			unsigned below = in & ~IN_GENERIC;

			if (i)
				tp_sbuf_putc(b, ',');
			if (!room(d, json_bytes_len(key, key_len) + 1)) {
				tp_sbuf_puts(b, "\"" CUT_KEY "\":");
				cut_here(d);
				break;
			}
			json_bytes(b, key, key_len);
			tp_sbuf_putc(b, ':');
			if (secret_subtree(key))
				below |= IN_SECRET;
			if (tp_cfg_key_matches("generic_secret", key))
				below |= IN_GENERIC;
			if (secret_anywhere(key) || ((in & IN_SECRET) && data_source_value(key)) ||
			    ((in & IN_GENERIC) && !strcmp(key, "secret")))
				tp_sbuf_puts(b, "\"" TP_CONFIG_REDACTED "\"");
			else
				render(d, n->pairs[i].value, below);
		}
		tp_sbuf_putc(b, '}');
		break;
	}
}

size_t tp_config_dump_max(size_t text_len)
{
	return TP_CONFIG_DUMP_MIN + 2 * text_len;
}

int tp_config_dump_render(const struct tp_ynode *root, size_t max, struct tp_sbuf *out, bool *cut)
{
	struct dump d = {.b = out, .max = max};

	render(&d, root, 0);
	if (cut)
		*cut = d.cut;
	return out->oom ? -ENOMEM : 0;
}

/* n as JSON without a bound: a tree parsed back from a rendering, which has no aliases (its
 * secrets are redacted already; rendering them again changes nothing). */
static void render_plain(struct tp_sbuf *b, const struct tp_ynode *n)
{
	struct dump d = {.b = b, .max = (size_t)-1};

	render(&d, n, 0);
}

/* Whether path p is prefix+key, or lies under it ("prefix+key." starts it). */
static int mask_match(const char *p, const char *prefix, const char *key)
{
	size_t pl = strlen(prefix), kl = strlen(key);

	if (strncmp(p, prefix, pl) || strncmp(p + pl, key, kl))
		return 0;
	if (!p[pl + kl])
		return 2; /* the whole field */
	return p[pl + kl] == '.' ? 1 : 0;
}

void tp_config_json(struct tp_sbuf *b, const struct tp_ynode *n, const char *const *mask,
		    size_t n_mask, const char *prefix)
{
	bool first = true;

	if (!mask || !n || n->type != TP_YNODE_MAP) {
		render_plain(b, n);
		return;
	}
	tp_sbuf_putc(b, '{');
	for (size_t i = 0; i < n->n; i++) {
		const char *key = n->pairs[i].key->str;
		int how = 0;

		for (size_t m = 0; m < n_mask && how < 2; m++) {
			int h = mask_match(mask[m], prefix, key);

			how = h > how ? h : how;
		}
		if (!how)
			continue;
		if (!first)
			tp_sbuf_putc(b, ',');
		first = false;
		json_bytes(b, key, strlen(key));
		tp_sbuf_putc(b, ':');
		if (how == 2) {
			render_plain(b, n->pairs[i].value);
		} else {
			char sub[512];

			snprintf(sub, sizeof(sub), "%s%s.", prefix, key);
			tp_config_json(b, n->pairs[i].value, mask, n_mask, sub);
		}
	}
	tp_sbuf_putc(b, '}');
}

/* The configuration as JSON for /config_dump: the loaded node tree, secrets redacted. */
#include "core/config/dump.h"

#include "core/base/sbuf.h"
#include "core/config/cfg_schema.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void json_bytes(struct tp_sbuf *b, const char *s, size_t len)
{
	tp_sbuf_putc(b, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			tp_sbuf_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			tp_sbuf_printf(b, "\\u%04x", c);
		else
			tp_sbuf_putc(b, (char)c);
	}
	tp_sbuf_putc(b, '"');
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

static void scalar(struct tp_sbuf *b, const struct tp_ynode *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	static const char *const trues[] = {"true", "True", "TRUE", NULL};
	static const char *const falses[] = {"false", "False", "FALSE", NULL};

	if (n->quoted)
		json_bytes(b, n->str, n->len);
	else if (word_is(n, nulls))
		tp_sbuf_puts(b, "null");
	else if (word_is(n, trues))
		tp_sbuf_puts(b, "true");
	else if (word_is(n, falses))
		tp_sbuf_puts(b, "false");
	else if (is_json_number(n->str, n->len))
		tp_sbuf_add(b, n->str, n->len);
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

static void render(struct tp_sbuf *b, const struct tp_ynode *n, unsigned in)
{
	if (!n) {
		tp_sbuf_puts(b, "null");
		return;
	}
	switch (n->type) {
	case TP_YNODE_SCALAR:
		scalar(b, n);
		break;
	case TP_YNODE_SEQ:
		tp_sbuf_putc(b, '[');
		for (size_t i = 0; i < n->n; i++) {
			if (i)
				tp_sbuf_putc(b, ',');
			render(b, n->items[i], in & ~IN_GENERIC);
		}
		tp_sbuf_putc(b, ']');
		break;
	case TP_YNODE_MAP:
		tp_sbuf_putc(b, '{');
		for (size_t i = 0; i < n->n; i++) {
			const char *key = n->pairs[i].key->str;
			unsigned below = in & ~IN_GENERIC;

			if (i)
				tp_sbuf_putc(b, ',');
			json_bytes(b, key, strlen(key));
			tp_sbuf_putc(b, ':');
			if (secret_subtree(key))
				below |= IN_SECRET;
			if (tp_cfg_key_matches("generic_secret", key))
				below |= IN_GENERIC;
			if (secret_anywhere(key) || ((in & IN_SECRET) && data_source_value(key)) ||
			    ((in & IN_GENERIC) && !strcmp(key, "secret")))
				tp_sbuf_puts(b, "\"" TP_CONFIG_REDACTED "\"");
			else
				render(b, n->pairs[i].value, below);
		}
		tp_sbuf_putc(b, '}');
		break;
	}
}

int tp_config_dump_render(const struct tp_ynode *root, struct tp_sbuf *out)
{
	render(out, root, 0);
	return out->oom ? -ENOMEM : 0;
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
		render(b, n, 0);
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
			render(b, n->pairs[i].value, 0);
		} else {
			char sub[512];

			snprintf(sub, sizeof(sub), "%s%s.", prefix, key);
			tp_config_json(b, n->pairs[i].value, mask, n_mask, sub);
		}
	}
	tp_sbuf_putc(b, '}');
}

/* The configuration as JSON for /config_dump: the loaded node tree, secrets redacted. */
#include "core/config/dump.h"

#include "core/base/sbuf.h"

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

static bool secret_anywhere(const char *key)
{
	static const char *const keys[] = {"private_key", "password", "session_ticket_keys",
					   "private_key_provider", NULL};

	for (const char *const *k = keys; *k; k++)
		if (!strcmp(key, *k))
			return true;
	return false;
}

static bool tls_subtree(const char *key)
{
	return !strcmp(key, "transport_socket") || strstr(key, "tls");
}

static bool inline_data(const char *key)
{
	return !strcmp(key, "inline_string") || !strcmp(key, "inline_bytes");
}

static void render(struct tp_sbuf *b, const struct tp_ynode *n, bool in_tls)
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
			render(b, n->items[i], in_tls);
		}
		tp_sbuf_putc(b, ']');
		break;
	case TP_YNODE_MAP:
		tp_sbuf_putc(b, '{');
		for (size_t i = 0; i < n->n; i++) {
			const char *key = n->pairs[i].key->str;

			if (i)
				tp_sbuf_putc(b, ',');
			json_bytes(b, key, strlen(key));
			tp_sbuf_putc(b, ':');
			if (secret_anywhere(key) || (in_tls && inline_data(key)))
				tp_sbuf_puts(b, "\"" TP_CONFIG_REDACTED "\"");
			else
				render(b, n->pairs[i].value, in_tls || tls_subtree(key));
		}
		tp_sbuf_putc(b, '}');
		break;
	}
}

int tp_config_dump_render(const struct tp_ynode *root, struct tp_sbuf *out)
{
	render(out, root, false);
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
		render(b, n, false);
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
			render(b, n->pairs[i].value, false);
		} else {
			char sub[512];

			snprintf(sub, sizeof(sub), "%s%s.", prefix, key);
			tp_config_json(b, n->pairs[i].value, mask, n_mask, sub);
		}
	}
	tp_sbuf_putc(b, '}');
}

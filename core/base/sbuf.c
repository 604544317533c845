/* A growable byte buffer for the master's reports and HTTP responses. */
#include "core/base/sbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tp_sbuf_free(struct tp_sbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}

int tp_sbuf_reserve(struct tp_sbuf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->oom)
		return -ENOMEM;
	if (b->len + n + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + n + 1) {
		if (cap > ((size_t)-1) / 2)
			goto out_oom;
		cap *= 2;
	}
	p = realloc(b->p, cap);
	if (!p)
		goto out_oom;
	b->p = p;
	b->cap = cap;
	return 0;
out_oom:
	b->oom = true;
	return -ENOMEM;
}

void tp_sbuf_add(struct tp_sbuf *b, const void *p, size_t n)
{
	if (tp_sbuf_reserve(b, n))
		return;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void tp_sbuf_puts(struct tp_sbuf *b, const char *s)
{
	tp_sbuf_add(b, s, strlen(s));
}

void tp_sbuf_putc(struct tp_sbuf *b, char c)
{
	tp_sbuf_add(b, &c, 1);
}

void tp_sbuf_vprintf(struct tp_sbuf *b, const char *fmt, va_list ap)
{
	va_list again;
	int n;

	va_copy(again, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	if (n < 0 || tp_sbuf_reserve(b, (size_t)n)) {
		va_end(again);
		return;
	}
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, again);
	va_end(again);
	b->len += (size_t)n;
}

void tp_sbuf_printf(struct tp_sbuf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tp_sbuf_vprintf(b, fmt, ap);
	va_end(ap);
}

void tp_sbuf_json_str(struct tp_sbuf *b, const char *s)
{
	tp_sbuf_putc(b, '"');
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\')
			tp_sbuf_printf(b, "\\%c", *c);
		else if (*c < 0x20)
			tp_sbuf_printf(b, "\\u%04x", *c);
		else
			tp_sbuf_putc(b, (char)*c);
	}
	tp_sbuf_putc(b, '"');
}

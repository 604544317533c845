/* A growable byte buffer: append bytes, strings and printf output; check oom once at the end. */
#ifndef TP_SBUF_H
#define TP_SBUF_H

#include "core/base/sbuf-t.h"

#include <stdarg.h>
#include <stddef.h>

#define TP_SBUF_INIT              \
	{                         \
		NULL, 0, 0, false \
	}

void tp_sbuf_free(struct tp_sbuf *b);
/* Makes room for n more bytes (and the NUL). 0, or -ENOMEM (and oom is set). */
int tp_sbuf_reserve(struct tp_sbuf *b, size_t n);
void tp_sbuf_add(struct tp_sbuf *b, const void *p, size_t n);
void tp_sbuf_puts(struct tp_sbuf *b, const char *s);
void tp_sbuf_putc(struct tp_sbuf *b, char c);
void tp_sbuf_printf(struct tp_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tp_sbuf_vprintf(struct tp_sbuf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* s as a JSON string, quotes included. */
void tp_sbuf_json_str(struct tp_sbuf *b, const char *s);

#endif

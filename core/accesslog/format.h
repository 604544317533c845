/* The command-operator formatter: Envoy's format strings (%OPERATOR%, %OPERATOR(arg)%:Z, %%)
 * and format dictionaries (json_format), compiled at load and rendered per connection into a
 * caller's buffer without allocating. Used by access logs and set_filter_state alike. */
#ifndef TP_FORMAT_H
#define TP_FORMAT_H

#include "core/conn/conn-t.h"
#include "core/accesslog/format-t.h"
#include "core/config/ynode-t.h"

#include <stddef.h>

/* Where and why a format failed to compile: off is the byte offset in the format string. */
struct tp_fmt_error {
	const struct tp_ynode *node; /* json: the value that failed; text: NULL */
	size_t off;
	char reason[200];
};

/* Compiles a format string. 0 with *out; -EINVAL with err filled; -ENOMEM. */
int tp_format_compile(const char *s, size_t len, struct tp_format **out, struct tp_fmt_error *err);
/* Compiles a format dictionary (a mapping of keys to format strings or nested mappings); keys
 * are emitted sorted, as Envoy does. typed: values render as JSON numbers and null where they
 * are such (SubstitutionFormatString.json_format); otherwise every value is a string
 * (FileAccessLog.json_format). */
int tp_format_compile_json(const struct tp_ynode *map, bool typed, struct tp_format **out,
			   struct tp_fmt_error *err);
void tp_format_free(struct tp_format *f);

/* Renders f into buf; returns the bytes written (never more than cap; no NUL added). A JSON
 * format ends with "}\n". *truncated (may be NULL) tells whether cap cut the output short. */
size_t tp_format_render(const struct tp_format *f, const struct tp_fmt_ctx *x, char *buf,
			size_t cap, bool *truncated);

/* The line and column of byte off of a scalar that starts at (line, col): exact for a one-line
 * value without escapes, which is what format strings nearly always are. */
void tp_format_error_position(const struct tp_ynode *scalar, size_t off, uint32_t *line,
			      uint32_t *col);

/* How much of s[0, n) to keep to cut it to at most max bytes without splitting a UTF-8
 * character: max, or less when a well-formed character crosses max (it is left out whole).
 * Bytes that are not UTF-8 are cut where max falls. */
size_t tp_utf8_cut(const char *s, size_t n, size_t max);

/* The address forms of %DOWNSTREAM_REMOTE_ADDRESS% and friends. */
size_t tp_ip_format(const struct tp_ip *ip, bool with_port, char *buf, size_t cap);

#endif

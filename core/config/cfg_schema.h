/* The row-driven config decoder (h2o configurator, redis createIntConfig, nginx ngx_command_t). */
#ifndef TP_CFG_SCHEMA_H
#define TP_CFG_SCHEMA_H

#include <stdarg.h>
#include <sys/types.h>

#include "core/config/cfg_schema-t.h"
#include "core/config/ynode-t.h"

/* Rows that say what tcpproxy does with an Envoy field it does not read. */
#define UNSUPPORTED(k)                               \
	{                                            \
		.key = k, .type = TP_CFG_UNSUPPORTED \
	}
/* Envoy's default, which tcpproxy does anyway, is accepted (see enum tp_cfg_type). */
/* A member of a proto oneof tcpproxy does not serve (see tp_cfg_field.oneof). */
#define UNSUPPORTED_ONEOF(k, group)                                  \
	{                                                            \
		.key = k, .type = TP_CFG_UNSUPPORTED, .oneof = group \
	}
#define UNSUPPORTED_BUT(k, ok)                                     \
	{                                                          \
		.key = k, .type = TP_CFG_UNSUPPORTED, .accept = ok \
	}
/* Fields most real Envoy files carry that mean nothing to tcpproxy (no management server to
 * identify to, no admin access log yet): refusing them would stop a config loading unchanged. */
#define IGNORED(k)                               \
	{                                        \
		.key = k, .type = TP_CFG_IGNORED \
	}
#define REMOVED(k, why)                                       \
	{                                                     \
		.key = k, .type = TP_CFG_REMOVED, .hint = why \
	}

void tp_cfg_ctx_init(struct tp_cfg_ctx *ctx, const char *file, struct tp_cfg_errors *errs);

/* Stores every row's default into obj, then decodes mapping node into it: unknown keys, wrong
 * types, bounds, unsupported fields and missing required fields are each reported, and decoding
 * goes on so that one load reports every problem. node NULL or null reads as an empty mapping.
 * Returns 0, or -EINVAL if this call reported anything. obj must start zeroed. */
int tp_cfg_decode(struct tp_cfg_ctx *ctx, const struct tp_cfg_schema *s,
		  const struct tp_ynode *node, void *obj);
/* Frees what tp_cfg_decode allocated in obj (not obj itself). */
void tp_cfg_free(const struct tp_cfg_schema *s, void *obj);

/* Whether key, as written in a file, names the field proto (snake_case): proto itself, or its
 * lowerCamelCase json_name (each letter after a '_' upper or lower case, the '_' dropped). */
bool tp_cfg_key_matches(const char *proto, const char *key);

/* The value of key in map, spelled snake_case or lowerCamelCase; NULL if absent or null. */
const struct tp_ynode *tp_cfg_find(const struct tp_ynode *map, const char *key);

/* Path of the value being read: push returns the length to restore with pop. */
size_t tp_cfg_path_push(struct tp_cfg_ctx *ctx, const char *key);
size_t tp_cfg_path_push_index(struct tp_cfg_ctx *ctx, size_t i);
void tp_cfg_path_pop(struct tp_cfg_ctx *ctx, size_t len);
/* Replaces the whole path (for checks run after decoding, outside any row). */
void tp_cfg_path_set(struct tp_cfg_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Reports "FILE:LINE:COL: path[.key]: reason" at node at (or at mark m). Each error makes the
 * decode that reported it, and the load, fail. */
void tp_cfg_error(struct tp_cfg_ctx *ctx, const struct tp_ynode *at, const char *key,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void tp_cfg_error_mark(struct tp_cfg_ctx *ctx, struct tp_cfg_mark m, const char *key,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void tp_cfg_verror(struct tp_cfg_ctx *ctx, uint32_t line, uint32_t col, const char *key,
		   const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

/* Reports "FILE:LINE:COL: path[.key]: warning: reason": something Envoy loads anyway, which
 * neither the decode nor the load fails for. */
void tp_cfg_warn_mark(struct tp_cfg_ctx *ctx, struct tp_cfg_mark m, const char *key,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Row check of a TP_CFG_STRING that names a stats scope (a stat_prefix): at most
 * TP_CFG_STAT_NAME_MAX characters. */
void tp_cfg_check_stat_name(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			    const struct tp_ynode *value, void *obj);

/* Where node stands, as a mark to keep for checks after decoding. */
struct tp_cfg_mark tp_cfg_mark_of(const struct tp_ynode *node);

/* protobuf JSON's bytes: standard or URL-safe base64, padding optional, whitespace skipped.
 * Returns the length written to out (room for 3/4 of the input), or -1 if malformed. */
ssize_t tp_cfg_b64_decode(const char *in, uint8_t *out);

#endif

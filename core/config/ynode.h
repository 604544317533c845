/* YAML (and JSON) files to a node tree that keeps line and column, for the config loader. */
#ifndef TP_YNODE_H
#define TP_YNODE_H

#include "core/config/ynode-t.h"

/* Parses one YAML document (JSON is YAML too) into *out. Anchors and aliases are resolved and
 * "<<" merge keys applied. Returns 0, or a negative errno with err->reason saying why:
 * -EINVAL when the text is refused (a syntax error, bad UTF-8, a NUL byte, too many nodes, too
 * deep; err->line and err->col say where); -ENOMEM. parse_file also returns, with err->line 0:
 * -EINVAL when path is not a regular file, -EFBIG when it is larger than TP_YNODE_MAX_FILE, and
 * -errno when it cannot be opened or read. It never blocks on what path names (a FIFO, a
 * device): those are refused before they are opened. */
int tp_ynode_parse_file(const char *path, struct tp_ydoc **out, struct tp_yerror *err);
/* The reading half of tp_ynode_parse_file(): the whole text of path into *buf (malloc'ed, its
 * length in *len), with the same checks and errors. Returns 0 or the same negative errno. */
int tp_ynode_read_file(const char *path, char **buf, size_t *len, struct tp_yerror *err);
int tp_ynode_parse_string(const char *buf, size_t len, struct tp_ydoc **out, struct tp_yerror *err);
void tp_ynode_doc_free(struct tp_ydoc *doc);

/* A plain "", "~", "null", "Null" or "NULL": protobuf JSON reads it as "field not set". */
bool tp_ynode_is_null(const struct tp_ynode *n);
/* "a mapping", "a list", "a string", ... for "expected X, got Y" messages. */
const char *tp_ynode_kind_name(const struct tp_ynode *n);
/* The value of the first pair whose scalar key is exactly key, or NULL. */
const struct tp_ynode *tp_ynode_map_get(const struct tp_ynode *map, const char *key);

#endif

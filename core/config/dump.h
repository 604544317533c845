/* The configuration as JSON, for the admin's /config_dump: the node tree as it was loaded,
 * rendered once at load with its secrets redacted, and rendered again (with a field mask) when
 * the admin answers. */
#ifndef TP_CONFIG_DUMP_H
#define TP_CONFIG_DUMP_H

#include "core/base/sbuf-t.h"
#include "core/config/ynode-t.h"

#include <stdbool.h>
#include <stddef.h>

/* What stands in place of a secret, as Envoy writes it. */
#define TP_CONFIG_REDACTED "[redacted]"

/* The tree under root as JSON, with every secret replaced by "[redacted]". Keys are read in
 * either of the loader's spellings (private_key, privateKey). Redacted: the value of any
 * private_key, password, session_ticket_keys or private_key_provider; GenericSecret's secret;
 * and a DataSource's inline_string, inline_bytes or environment_variable under a
 * transport_socket, a key with "tls" in its name (any case), secrets, generic_secret,
 * validation_context or hmac_secret. An unquoted scalar is a JSON null, bool or number when it
 * reads as one, else a string. The text stops at about max bytes (an unfinished list or mapping
 * is closed after a "[truncated: ...]" string, so it stays JSON) and *cut says so. 0 or
 * -ENOMEM. */
int tp_config_dump_render(const struct tp_ynode *root, size_t max, struct tp_sbuf *out, bool *cut);

/* At least this much of a configuration's JSON is kept for /config_dump, and twice the file's
 * size more (the JSON of a file without aliases is under twice its YAML): only aliases, which
 * write what they name out in full at each use, take a dump past it. */
#define TP_CONFIG_DUMP_MIN (4u << 20)

/* The bound for a file of text_len bytes. */
size_t tp_config_dump_max(size_t text_len);

/* n as JSON (no redaction). mask: NULL, or n_mask dotted field paths (Envoy's FieldMask, from
 * the mapping n down): only the fields on those paths are kept. prefix: the path of n itself,
 * "" at the top. */
void tp_config_json(struct tp_sbuf *b, const struct tp_ynode *n, const char *const *mask,
		    size_t n_mask, const char *prefix);

#endif

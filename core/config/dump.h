/* The configuration as JSON, for the admin's /config_dump: the node tree as it was loaded,
 * rendered once at load with its secrets redacted, and rendered again (with a field mask) when
 * the admin answers. */
#ifndef TP_CONFIG_DUMP_H
#define TP_CONFIG_DUMP_H

#include "core/base/sbuf-t.h"
#include "core/config/ynode-t.h"

#include <stddef.h>

/* What stands in place of a secret, as Envoy writes it. */
#define TP_CONFIG_REDACTED "[redacted]"

/* The tree under root as JSON, with every secret replaced by "[redacted]": the value of any key
 * named private_key, password, session_ticket_keys or private_key_provider, and inline_string
 * or inline_bytes anywhere under a transport_socket or a key whose name has "tls" in it (inline
 * certificates and keys). An unquoted scalar is a JSON null, bool or number when it reads as
 * one, else a string. 0 or -ENOMEM. */
int tp_config_dump_render(const struct tp_ynode *root, struct tp_sbuf *out);

/* n as JSON (no redaction). mask: NULL, or n_mask dotted field paths (Envoy's FieldMask, from
 * the mapping n down): only the fields on those paths are kept. prefix: the path of n itself,
 * "" at the top. */
void tp_config_json(struct tp_sbuf *b, const struct tp_ynode *n, const char *const *mask,
		    size_t n_mask, const char *prefix);

#endif

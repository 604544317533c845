/* The TLS ClientHello parser of tls_inspector: pure and resumable, libc only. It says whether a
 * stream starts with a ClientHello and what it offers (SNI, ALPN, versions), with the outcomes
 * Envoy's tls_inspector gets from BoringSSL (docs/architecture.md, "TLS ClientHello parser"). */
#ifndef TP_CLIENTHELLO_H
#define TP_CLIENTHELLO_H

#include "core/tls/clienthello-t.h"

#include <stddef.h>

/* max_bytes: the window (Envoy's max_client_hello_size); 0 or more than TP_CHELLO_MAX_BYTES
 * means TP_CHELLO_MAX_BYTES. */
void tp_chello_init(struct tp_chello *h, size_t max_bytes);

/* buf holds the first len bytes of the stream (bytes past the window are not looked at). Each
 * call continues the walk where the previous one stopped, so buf must start with the bytes
 * given before. NEED_MORE until the bytes decide; then the result, which every later call
 * returns again. No allocation, no I/O; it reads nothing outside buf[0, len). */
enum tp_chello_result tp_chello_parse(struct tp_chello *h, const uint8_t *buf, size_t len);

/* The i-th ALPN protocol kept (its length in *len, not NUL-ended), or NULL past the last. */
const uint8_t *tp_chello_alpn(const struct tp_chello *h, unsigned i, size_t *len);

/* "need_more", "done", "not_tls", "error", "too_large". */
const char *tp_chello_result_name(enum tp_chello_result r);

#endif

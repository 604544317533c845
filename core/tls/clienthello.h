/* The TLS ClientHello parser of tls_inspector: pure and resumable, libc only. It says whether a
 * stream starts with a ClientHello and what it offers (SNI, ALPN, versions), with the outcomes
 * Envoy's tls_inspector gets from BoringSSL, whose select-certificate callback decides there
 * (docs/architecture.md, "TLS ClientHello parser"):
 *
 * - DONE when the first handshake message reassembles under BoringSSL's record rules (handshake
 *   records of major version 3, at most 16704 bytes, at most 32 empty ones in a row; a message
 *   of at most 16384 bytes), is a ClientHello, passes SSL_parse_client_hello() (session id up to
 *   32 bytes, cipher suites even and non-empty, compression non-empty, extensions filling the
 *   rest, no type twice), ends its record, and its encrypted_client_hello (outer) and
 *   server_name parse; server_name as extract_sni(): one host_name of 1 to 255 bytes, no NUL.
 *   What BoringSSL checks only after the callback (groups, key shares, the version, …) is not
 *   looked at. An SSLv2-compatible hello is DONE too, as BoringSSL still takes it.
 * - NOT_TLS from the first byte that rules a ClientHello out: record type, record version, an
 *   SSLv2 header of another kind, a first handshake message of another type.
 * - ERROR for all else that is malformed. Envoy counts NOT_TLS and ERROR alike as tls_not_found
 *   and goes on as raw_buffer (or closes, with close_connection_on_client_hello_parsing_errors).
 * - TOO_LARGE (Envoy's client_hello_too_large: close) once a record cannot end within the
 *   window, or the window is full and undecided.
 *
 * Each answer comes as soon as the bytes settle it, where BoringSSL may first read bytes that
 * cannot change it. Two differences: a record other than handshake is refused (BoringSSL skips
 * up to 4 warning alerts, and a close_notify makes Envoy close), and ALPN keeps the first 16
 * names in 512 bytes (Envoy keeps all: a chain matching only a later name would not match). */
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

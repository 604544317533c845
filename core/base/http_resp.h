/* HTTP/1.x responses as an HTTP tunnel reads them from its proxy: a pure, resumable parser of
 * the response head with strict limits, a walk over the headers of a parsed head, and a
 * resumable chunked-body decoder. No I/O, no allocation. */
#ifndef TP_HTTP_RESP_H
#define TP_HTTP_RESP_H

#include "core/base/http_resp-t.h"

#include <stddef.h>
#include <stdint.h>

/* max_head: the head's byte limit; max_headers: the header lines it may hold. */
void tp_http_resp_init(struct tp_http_resp *r, uint32_t max_head, uint32_t max_headers);
/* Feeds len bytes of the response. *used says how many were consumed: all of them on
 * NEED_MORE, up to and including the head's last LF on DONE (what follows is the body, or the
 * tunnel's bytes). A split anywhere gives the same answer as the whole. CRLF or a bare LF ends a
 * line; obs-fold, a NUL or a control character other than HTAB, a header without a name or ':'
 * and a status outside 100..999 are errors. After DONE or ERROR, init again before feeding. */
enum tp_http_resp_result tp_http_resp_parse(struct tp_http_resp *r, const uint8_t *buf, size_t len,
					    size_t *used);

/* The headers of a head tp_http_resp_parse() accepted whole (head[0, len) is that head): each
 * call gives the next one, its name and value with the surrounding white space left out. *pos
 * starts at 0. False when there is none left. */
bool tp_http_resp_header_next(const uint8_t *head, size_t len, size_t *pos, const uint8_t **name,
			      size_t *name_len, const uint8_t **value, size_t *value_len);
/* The value of the last header called name (ASCII case-insensitive) in such a head, or NULL. */
const uint8_t *tp_http_resp_header(const uint8_t *head, size_t len, const char *name,
				   size_t *value_len);
/* Does this head end its body with a chunked transfer coding (Transfer-Encoding's last coding is
 * "chunked")? */
bool tp_http_resp_chunked(const uint8_t *head, size_t len);

void tp_http_chunked_init(struct tp_http_chunked *d);
/* Decodes len bytes of a chunked body: the data they hold is moved to out (which may be buf
 * itself: data never moves forward), at most out_cap bytes. *used: input consumed; *out_len: data
 * written. NEED_MORE: every byte consumed, or out is full (*used < len); DONE: the last chunk and
 * the trailers have ended (*used is where); ERROR: d->error says why (*used, *out_len: 0). Trailer lines are checked
 * and counted, at most max_trailers of them. */
enum tp_http_resp_result tp_http_chunked_decode(struct tp_http_chunked *d, const uint8_t *buf,
						size_t len, size_t *used, uint8_t *out,
						size_t out_cap, size_t *out_len,
						uint32_t max_trailers);
/* Writes the size line of a chunk of n bytes (n > 0) into out (at least 20 bytes): its length. */
size_t tp_http_chunk_header(uint64_t n, char *out);

#endif

/* HTTP/1.x for the master's admin endpoint and stats socket: a pure, resumable request-head
 * parser, query-string decoding and response heads. No I/O here. */
#ifndef TP_HTTP_H
#define TP_HTTP_H

#include "core/base/http-t.h"
#include "core/base/sbuf-t.h"

#include <stddef.h>

void tp_http_req_init(struct tp_http_req *r);
/* Feeds len bytes of the request. *used says how many were consumed (all of them on NEED_MORE;
 * up to and including the head's last LF on DONE). CRLF and bare LF both end a line. After DONE
 * or ERROR the request must be re-initialised before it is fed again. */
enum tp_http_result tp_http_parse(struct tp_http_req *r, const char *buf, size_t len, size_t *used);

/* The path of a target (before '?', at most len-1 bytes) and its query (after '?', "" if none). */
void tp_http_target_split(const char *target, char *path, size_t len, const char **query);
/* Looks key up in a query string ("a=1&b=x%20y"), percent-decoding the value ('+' is a space).
 * 1 when found (out holds the value), 0 when absent, -EINVAL for a bad %-escape or a NUL,
 * -ENAMETOOLONG when the value does not fit out. A key without '=' has the value "". */
int tp_http_query_get(const char *query, const char *key, char *out, size_t len);
/* Percent-encodes s for a query value into out (always NUL-terminated); -ENAMETOOLONG if cut. */
int tp_http_query_escape(const char *s, char *out, size_t len);

/* "HTTP/1.1 <status> <reason>" and the headers every response carries, then extra (zero or more
 * "Name: value\r\n" lines, may be NULL) and the blank line. The connection is always closed
 * after the response. */
void tp_http_response_head(struct tp_sbuf *out, int status, const char *content_type,
			   size_t body_len, const char *extra);
const char *tp_http_reason(int status);

/* Client side, on a whole response read until the server closed: the status code and where the
 * body starts. 0, or -EPROTO when buf does not start with an HTTP/1.x status line and a
 * complete head. */
int tp_http_response_split(const char *buf, size_t len, int *status, size_t *body_off);

#endif

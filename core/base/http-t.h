/* Types of the tiny HTTP/1.x server side spoken by the admin endpoint and the stats socket. */
#ifndef TP_HTTP_T_H
#define TP_HTTP_T_H

#include <stdbool.h>
#include <stdint.h>

#define TP_HTTP_METHOD_MAX 16
#define TP_HTTP_TARGET_MAX 2048
/* Request line and headers together; more is refused with 400. */
#define TP_HTTP_HEAD_MAX 8192

enum tp_http_result {
	TP_HTTP_NEED_MORE, /* every byte given was consumed; the head is not complete */
	TP_HTTP_DONE,	   /* the head is complete; bytes after it were not consumed */
	TP_HTTP_ERROR,	   /* not HTTP/1.x, or over a limit: error says which */
};

/* A request head being parsed; zero it (or tp_http_req_init()) before the first byte. */
struct tp_http_req {
	uint8_t state;
	uint8_t version_len;
	uint8_t minor; /* HTTP/1.<minor> */
	uint16_t method_len;
	uint16_t target_len;
	uint32_t head_len; /* bytes of the head consumed so far */
	uint32_t line_len; /* bytes of the current header line */
	const char *error; /* on TP_HTTP_ERROR: a static reason */
	char method[TP_HTTP_METHOD_MAX + 1];
	char target[TP_HTTP_TARGET_MAX + 1]; /* origin-form: "/stats?format=json" */
};

#endif

/* Types of the HTTP/1.x response side an HTTP tunnel reads from its proxy: the response head and
 * a chunked body. */
#ifndef TP_HTTP_RESP_T_H
#define TP_HTTP_RESP_T_H

#include <stdbool.h>
#include <stdint.h>

/* The defaults a tunnel reads its proxy's answer with: Envoy's own HTTP/1 codec limits for
 * headers (max_headers_count 100) and a head far larger than any CONNECT answer needs. */
#define TP_HTTP_RESP_HEAD_MAX	 8192
#define TP_HTTP_RESP_HEADERS_MAX 100
/* A chunk-size or trailer line, extensions included. */
#define TP_HTTP_CHUNK_LINE_MAX 1024

enum tp_http_resp_result {
	TP_HTTP_RESP_NEED_MORE, /* every byte given was consumed; the head is not complete */
	TP_HTTP_RESP_DONE,	/* the head is complete; bytes after it were not consumed */
	TP_HTTP_RESP_ERROR, /* not an HTTP/1.x response head, or over a limit: error says which */
};

/* A response head being parsed: tp_http_resp_init() before the first byte. */
struct tp_http_resp {
	uint32_t max_head;    /* the head's limit in bytes, status line included */
	uint32_t max_headers; /* the most header lines it may have */
	uint32_t head_len;    /* bytes of the head consumed so far */
	uint32_t n_headers;
	uint16_t status; /* 100..999 once the status line is read */
	uint8_t state;
	uint8_t pos;	   /* position in the fixed parts of the status line */
	uint8_t minor;	   /* HTTP/1.<minor> */
	const char *error; /* on TP_HTTP_RESP_ERROR: a static reason */
};

/* A chunked body being decoded (RFC 9112 §7.1): tp_http_chunked_init() first. */
struct tp_http_chunked {
	uint64_t left;	   /* data bytes left in the current chunk */
	uint32_t line_len; /* bytes of the current size or trailer line */
	uint32_t trailers; /* trailer lines seen */
	uint8_t state;
	uint8_t digits;	   /* hex digits of the current chunk size */
	const char *error; /* on TP_HTTP_RESP_ERROR: a static reason */
};

#endif

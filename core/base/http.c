/* HTTP/1.x request heads, parsed byte by byte so that any split of the input gives the same
 * result (picohttpparser's contract, nginx's state machine): the admin endpoint and the stats
 * socket feed whatever each read returned. */
#include "core/base/http.h"

#include "core/base/sbuf.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

enum {
	S_METHOD,
	S_TARGET,
	S_VERSION,
	S_VERSION_CR, /* after the version's CR: LF */
	S_LINE_START, /* a header line, or the blank line that ends the head */
	S_NAME,
	S_VALUE,
	S_VALUE_CR,
	S_END_CR,
};

/* RFC 9110 tchar */
static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

void tp_http_req_init(struct tp_http_req *r)
{
	memset(r, 0, sizeof(*r));
}

static enum tp_http_result fail(struct tp_http_req *r, const char *why)
{
	r->error = why;
	return TP_HTTP_ERROR;
}

enum tp_http_result tp_http_parse(struct tp_http_req *r, const char *buf, size_t len, size_t *used)
{
	static const char version[] = "HTTP/1.";
	size_t i;

	*used = 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (++r->head_len > TP_HTTP_HEAD_MAX)
			return fail(r, "request head too large");
		switch (r->state) {
		case S_METHOD:
			if (c == ' ' && r->method_len) {
				r->state = S_TARGET;
				break;
			}
			if (!is_tchar(c))
				return fail(r, "bad method");
			if (r->method_len >= TP_HTTP_METHOD_MAX)
				return fail(r, "method too long");
			r->method[r->method_len++] = (char)c;
			break;
		case S_TARGET:
			if (c == ' ' && r->target_len) {
				r->state = S_VERSION;
				break;
			}
			if (c <= ' ' || c == 0x7f)
				return fail(r, "bad request target");
			if (!r->target_len && c != '/')
				return fail(r, "request target is not a path");
			if (r->target_len >= TP_HTTP_TARGET_MAX)
				return fail(r, "request target too long");
			r->target[r->target_len++] = (char)c;
			break;
		case S_VERSION:
			if (r->version_len < sizeof(version) - 1) {
				if (c != (unsigned char)version[r->version_len])
					return fail(r, "not HTTP/1.x");
			} else if (r->version_len == sizeof(version) - 1) {
				if (c != '0' && c != '1')
					return fail(r, "not HTTP/1.0 or HTTP/1.1");
				r->minor = (uint8_t)(c - '0');
			} else if (c == '\r') {
				r->state = S_VERSION_CR;
				break;
			} else if (c == '\n') {
				r->state = S_LINE_START;
				break;
			} else {
				return fail(r, "bad request line");
			}
			r->version_len++;
			break;
		case S_VERSION_CR:
		case S_VALUE_CR:
			if (c != '\n')
				return fail(r, "CR without LF");
			r->state = S_LINE_START;
			break;
		case S_LINE_START:
			r->line_len = 0;
			if (c == '\r') {
				r->state = S_END_CR;
				break;
			}
			if (c == '\n')
				goto out_done;
			/* A line starting with white space would be obs-fold: refused. */
			if (!is_tchar(c))
				return fail(r, "bad header name");
			r->state = S_NAME;
			break;
		case S_NAME:
			if (c == ':') {
				r->state = S_VALUE;
				break;
			}
			if (!is_tchar(c))
				return fail(r, "bad header name");
			break;
		case S_VALUE:
			if (c == '\r') {
				r->state = S_VALUE_CR;
				break;
			}
			if (c == '\n') {
				r->state = S_LINE_START;
				break;
			}
			if ((c < ' ' && c != '\t') || c == 0x7f)
				return fail(r, "bad header value");
			break;
		case S_END_CR:
			if (c != '\n')
				return fail(r, "CR without LF");
			goto out_done;
		}
	}
	*used = len;
	return TP_HTTP_NEED_MORE;

out_done:
	r->method[r->method_len] = '\0';
	r->target[r->target_len] = '\0';
	*used = i + 1;
	return TP_HTTP_DONE;
}

void tp_http_target_split(const char *target, char *path, size_t len, const char **query)
{
	const char *q = strchr(target, '?');
	size_t n = q ? (size_t)(q - target) : strlen(target);

	if (len) {
		if (n >= len)
			n = len - 1;
		memcpy(path, target, n);
		path[n] = '\0';
	}
	*query = q ? q + 1 : "";
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes [s, end) into out. */
static int decode(const char *s, const char *end, char *out, size_t len)
{
	size_t n = 0;

	for (; s < end; s++) {
		int c = (unsigned char)*s;

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;

			if (end - s < 3)
				return -EINVAL;
			hi = hexval(s[1]);
			lo = hexval(s[2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = hi * 16 + lo;
			s += 2;
		}
		if (!c)
			return -EINVAL;
		if (n + 1 >= len)
			return -ENAMETOOLONG;
		out[n++] = (char)c;
	}
	if (!len)
		return -ENAMETOOLONG;
	out[n] = '\0';
	return 0;
}

int tp_http_query_get(const char *query, const char *key, char *out, size_t len)
{
	size_t klen = strlen(key);
	const char *p = query;

	while (*p) {
		const char *end = strchr(p, '&');
		const char *eq;

		if (!end)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		if ((size_t)((eq ? eq : end) - p) == klen && !memcmp(p, key, klen)) {
			int ret = decode(eq ? eq + 1 : end, end, out, len);

			return ret < 0 ? ret : 1;
		}
		p = *end ? end + 1 : end;
	}
	return 0;
}

int tp_http_query_escape(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	if (!len)
		return -ENAMETOOLONG;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || strchr("-._~", c);

		if (n + (plain ? 1 : 3) >= len) {
			out[n] = '\0';
			return -ENAMETOOLONG;
		}
		if (plain) {
			out[n++] = (char)c;
		} else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = '\0';
	return 0;
}

const char *tp_http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Unknown";
	}
}

void tp_http_response_head(struct tp_sbuf *out, int status, const char *content_type,
			   size_t body_len, const char *extra)
{
	/* The cache and sniffing headers are the ones Envoy's admin sends. */
	tp_sbuf_printf(out,
		       "HTTP/1.1 %d %s\r\n"
		       "Content-Type: %s\r\n"
		       "Content-Length: %zu\r\n"
		       "Cache-Control: no-cache, max-age=0\r\n"
		       "X-Content-Type-Options: nosniff\r\n"
		       "Connection: close\r\n"
		       "%s\r\n",
		       status, tp_http_reason(status), content_type, body_len, extra ? extra : "");
}

int tp_http_response_split(const char *buf, size_t len, int *status, size_t *body_off)
{
	const char *end;
	int code = 0;

	if (len < 12 || memcmp(buf, "HTTP/1.", 7) || (buf[7] != '0' && buf[7] != '1') ||
	    buf[8] != ' ')
		return -EPROTO;
	for (size_t i = 9; i < 12; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -EPROTO;
		code = code * 10 + (buf[i] - '0');
	}
	end = memmem(buf, len, "\r\n\r\n", 4);
	if (!end)
		return -EPROTO;
	*status = code;
	*body_off = (size_t)(end - buf) + 4;
	return 0;
}

/* HTTP/1.x responses read by an HTTP tunnel: the proxy's answer to CONNECT or POST, parsed byte
 * by byte so that any split of the input gives the same result (picohttpparser's contract, as
 * core/base/http.c does for requests), and a chunked body decoded the same way. Every length is
 * bounded by the caller's limits; nothing here allocates or reads past what it is given. */
#include "core/base/http_resp.h"

#include <stdbool.h>
#include <string.h>

enum {
	S_VERSION, /* "HTTP/1." and the minor digit; pos counts */
	S_SP,	   /* the space after the version */
	S_STATUS,  /* three digits; pos counts */
	S_AFTER,   /* after the status: a space and a reason, or the end of the line */
	S_REASON,  /* the reason phrase */
	S_LINE_CR, /* after a line's CR: LF */
	S_LINE,	   /* a header line, or the blank line that ends the head */
	S_NAME,	   /* a header name */
	S_VALUE,   /* a header value */
	S_END_CR,  /* the blank line's CR: LF */
};

/* RFC 9110 tchar */
static bool is_tchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

/* Field content and reason phrases: HTAB, SP, VCHAR, obs-text. */
static bool is_text(uint8_t c)
{
	return c == '\t' || (c >= ' ' && c != 0x7f);
}

void tp_http_resp_init(struct tp_http_resp *r, uint32_t max_head, uint32_t max_headers)
{
	memset(r, 0, sizeof(*r));
	r->max_head = max_head;
	r->max_headers = max_headers;
}

static enum tp_http_resp_result fail(struct tp_http_resp *r, const char *why)
{
	r->error = why;
	return TP_HTTP_RESP_ERROR;
}

/* The end of a line: CR waits for its LF, a bare LF is taken as one. */
static bool line_end(struct tp_http_resp *r, uint8_t c)
{
	if (c == '\r')
		r->state = S_LINE_CR;
	else if (c == '\n')
		r->state = S_LINE;
	else
		return false;
	return true;
}

enum tp_http_resp_result tp_http_resp_parse(struct tp_http_resp *r, const uint8_t *buf, size_t len,
					    size_t *used)
{
	static const char version[] = "HTTP/1.";
	size_t i;

	*used = 0;
	for (i = 0; i < len; i++) {
		uint8_t c = buf[i];

		if (r->head_len >= r->max_head)
			return fail(r, "response head too large");
		r->head_len++;
		switch (r->state) {
		case S_VERSION:
			if (r->pos < sizeof(version) - 1) {
				if (c != (uint8_t)version[r->pos++])
					return fail(r, "not an HTTP/1.x response");
				break;
			}
			if (c != '0' && c != '1')
				return fail(r, "not HTTP/1.0 or HTTP/1.1");
			r->minor = (uint8_t)(c - '0');
			r->state = S_SP;
			break;
		case S_SP:
			if (c != ' ')
				return fail(r, "bad status line");
			r->state = S_STATUS;
			r->pos = 0;
			break;
		case S_STATUS:
			if (c < '0' || c > '9')
				return fail(r, "bad status code");
			r->status = (uint16_t)(r->status * 10 + (c - '0'));
			if (++r->pos == 3) {
				if (r->status < 100)
					return fail(r, "bad status code");
				r->state = S_AFTER;
			}
			break;
		case S_AFTER:
			if (c == ' ')
				r->state = S_REASON;
			else if (!line_end(r, c))
				return fail(r, "bad status line");
			break;
		case S_REASON:
			if (line_end(r, c))
				break;
			if (!is_text(c))
				return fail(r, "bad reason phrase");
			break;
		case S_LINE_CR:
			if (c != '\n')
				return fail(r, "CR without LF");
			r->state = S_LINE;
			break;
		case S_LINE:
			if (c == '\r') {
				r->state = S_END_CR;
				break;
			}
			if (c == '\n')
				goto out_done;
			/* A line starting with white space would be obs-fold: refused. */
			if (!is_tchar(c))
				return fail(r, "bad header name");
			if (r->n_headers >= r->max_headers)
				return fail(r, "too many headers");
			r->n_headers++;
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
			if (line_end(r, c))
				break;
			if (!is_text(c))
				return fail(r, "bad header value");
			break;
		case S_END_CR:
			if (c != '\n')
				return fail(r, "CR without LF");
			goto out_done;
		}
	}
	*used = len;
	return TP_HTTP_RESP_NEED_MORE;

out_done:
	*used = i + 1;
	return TP_HTTP_RESP_DONE;
}

static bool is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* The line starting at p (in [p, end)), without its CR LF or LF; *next: the line after it. */
static size_t line_at(const uint8_t *p, const uint8_t *end, const uint8_t **next)
{
	const uint8_t *lf = memchr(p, '\n', (size_t)(end - p));
	size_t n;

	if (!lf) {
		*next = end;
		return (size_t)(end - p);
	}
	*next = lf + 1;
	n = (size_t)(lf - p);
	if (n && p[n - 1] == '\r')
		n--;
	return n;
}

bool tp_http_resp_header_next(const uint8_t *head, size_t len, size_t *pos, const uint8_t **name,
			      size_t *name_len, const uint8_t **value, size_t *value_len)
{
	const uint8_t *end = head + len, *p = head + *pos, *next, *colon, *v, *ve;
	size_t n;

	/* The status line first. */
	if (!*pos) {
		line_at(p, end, &next);
		p = next;
	}
	if (p >= end)
		return false;
	n = line_at(p, end, &next);
	if (!n)
		return false;
	colon = memchr(p, ':', n);
	if (!colon)
		return false;
	*name = p;
	*name_len = (size_t)(colon - p);
	v = colon + 1;
	ve = p + n;
	while (v < ve && is_ows(*v))
		v++;
	while (ve > v && is_ows(ve[-1]))
		ve--;
	*value = v;
	*value_len = (size_t)(ve - v);
	*pos = (size_t)(next - head);
	return true;
}

static bool name_is(const uint8_t *s, size_t n, const char *name)
{
	if (strlen(name) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t a = s[i], b = (uint8_t)name[i];

		if (a >= 'A' && a <= 'Z')
			a = (uint8_t)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (uint8_t)(b - 'A' + 'a');
		if (a != b)
			return false;
	}
	return true;
}

const uint8_t *tp_http_resp_header(const uint8_t *head, size_t len, const char *name,
				   size_t *value_len)
{
	const uint8_t *n, *v, *found = NULL;
	size_t pos = 0, nl, vl;

	while (tp_http_resp_header_next(head, len, &pos, &n, &nl, &v, &vl)) {
		if (name_is(n, nl, name)) {
			found = v;
			*value_len = vl;
		}
	}
	return found;
}

bool tp_http_resp_chunked(const uint8_t *head, size_t len)
{
	size_t n;
	const uint8_t *v = tp_http_resp_header(head, len, "transfer-encoding", &n), *last;

	if (!v)
		return false;
	/* The last coding of the list. */
	last = v + n;
	while (last > v && last[-1] != ',')
		last--;
	while (last < v + n && is_ows(*last))
		last++;
	return name_is(last, (size_t)(v + n - last), "chunked");
}

/* ---- chunked bodies ---- */

enum {
	C_SIZE,	      /* hex digits of the chunk size */
	C_EXT,	      /* after the size: white space and extensions, to the end of the line */
	C_SIZE_LF,    /* after the size line's CR */
	C_DATA,	      /* chunk data */
	C_DATA_CR,    /* the CR (or bare LF) after the data */
	C_DATA_LF,    /* its LF */
	C_TRAILER,    /* start of a trailer line, or the blank line that ends the body */
	C_TRAILER_IN, /* inside a trailer line */
	C_TRAILER_LF, /* after a trailer line's CR */
	C_END_LF,     /* after the final blank line's CR */
	C_DONE,
};

void tp_http_chunked_init(struct tp_http_chunked *d)
{
	memset(d, 0, sizeof(*d));
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static enum tp_http_resp_result cfail(struct tp_http_chunked *d, const char *why)
{
	d->error = why;
	return TP_HTTP_RESP_ERROR;
}

enum tp_http_resp_result tp_http_chunked_decode(struct tp_http_chunked *d, const uint8_t *buf,
						size_t len, size_t *used, uint8_t *out,
						size_t out_cap, size_t *out_len,
						uint32_t max_trailers)
{
	size_t i = 0, o = 0;

	*out_len = 0;
	*used = 0;
	while (i < len) {
		uint8_t c = buf[i];
		int h;

		if (d->state == C_DATA) {
			size_t n = len - i;

			if (n > d->left)
				n = (size_t)d->left;
			if (n > out_cap - o)
				n = out_cap - o;
			if (!n)
				break; /* out is full */
			memmove(out + o, buf + i, n);
			o += n;
			i += n;
			d->left -= n;
			if (!d->left)
				d->state = C_DATA_CR;
			continue;
		}
		i++;
		if (d->state != C_DONE && ++d->line_len > TP_HTTP_CHUNK_LINE_MAX)
			return cfail(d, "chunk line too long");
		switch (d->state) {
		case C_SIZE:
			h = hexval(c);
			if (h >= 0) {
				/* 15 hex digits: sizes below 2^60, far past anything real. */
				if (++d->digits > 15)
					return cfail(d, "chunk size too large");
				d->left = d->left * 16 + (uint64_t)h;
				break;
			}
			if (!d->digits)
				return cfail(d, "bad chunk size");
			if (c == ';' || is_ows(c))
				d->state = C_EXT;
			else if (c == '\r')
				d->state = C_SIZE_LF;
			else if (c == '\n')
				goto size_line_done;
			else
				return cfail(d, "bad chunk size");
			break;
		case C_EXT:
			if (c == '\r')
				d->state = C_SIZE_LF;
			else if (c == '\n')
				goto size_line_done;
			else if (!is_text(c))
				return cfail(d, "bad chunk extension");
			break;
		case C_SIZE_LF:
			if (c != '\n')
				return cfail(d, "CR without LF");
size_line_done:
			d->line_len = 0;
			d->digits = 0;
			d->state = d->left ? C_DATA : C_TRAILER;
			break;
		case C_DATA_CR:
			d->line_len = 0;
			if (c == '\r')
				d->state = C_DATA_LF;
			else if (c == '\n')
				d->state = C_SIZE;
			else
				return cfail(d, "chunk data longer than its size");
			break;
		case C_DATA_LF:
			if (c != '\n')
				return cfail(d, "CR without LF");
			d->line_len = 0;
			d->state = C_SIZE;
			break;
		case C_TRAILER:
			if (c == '\r') {
				d->state = C_END_LF;
				break;
			}
			if (c == '\n')
				goto out_done;
			if (!is_tchar(c))
				return cfail(d, "bad trailer");
			if (d->trailers >= max_trailers)
				return cfail(d, "too many trailers");
			d->trailers++;
			d->state = C_TRAILER_IN;
			break;
		case C_TRAILER_IN:
			if (c == '\r') {
				d->state = C_TRAILER_LF;
			} else if (c == '\n') {
				d->line_len = 0;
				d->state = C_TRAILER;
			} else if (!is_text(c)) {
				return cfail(d, "bad trailer");
			}
			break;
		case C_TRAILER_LF:
			if (c != '\n')
				return cfail(d, "CR without LF");
			d->line_len = 0;
			d->state = C_TRAILER;
			break;
		case C_END_LF:
			if (c != '\n')
				return cfail(d, "CR without LF");
			goto out_done;
		case C_DONE:
			i--;
			goto out_done;
		}
	}
	*used = i;
	*out_len = o;
	return TP_HTTP_RESP_NEED_MORE;

out_done:
	d->state = C_DONE;
	*used = i;
	*out_len = o;
	return TP_HTTP_RESP_DONE;
}

size_t tp_http_chunk_header(uint64_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[16];
	size_t k = 0, len = 0;

	do {
		tmp[k++] = hex[n & 15];
		n >>= 4;
	} while (n);
	while (k)
		out[len++] = tmp[--k];
	out[len++] = '\r';
	out[len++] = '\n';
	return len;
}

/* Fuzz target: what an HTTP tunnel does with its proxy's bytes. The first byte picks the limits
 * (head size, header count); the rest is the answer: the response-head parser fed whole, one byte
 * at a time and cut in two at a point the input picks (all three must agree), the header walk
 * over an accepted head, then the bytes after the head as a chunked body, decoded whole, byte by
 * byte and into a 3-byte output (all must give the same data and answer). */
#include "tests/fuzz/fuzz.h"

#include "core/base/http_resp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_http_resp: %s\n", what);
		abort();
	}
}

/* Decodes in pieces of at most step bytes (0: whole) into at most cap bytes per call. */
static enum tp_http_resp_result dechunk(const uint8_t *in, size_t len, size_t step, size_t cap,
					uint8_t *out, size_t *out_len, size_t *in_used)
{
	struct tp_http_chunked d;
	enum tp_http_resp_result res = TP_HTTP_RESP_NEED_MORE;
	uint8_t *tmp = malloc(len ? len : 1);
	size_t off = 0;

	check(tmp != NULL, "out of memory");
	tp_http_chunked_init(&d);
	*out_len = 0;
	while (off < len) {
		size_t n = step && len - off > step ? step : len - off, used, got;

		memcpy(tmp, in + off, n);
		res = tp_http_chunked_decode(&d, tmp, n, &used, tmp, cap ? cap : n, &got, 16);
		check(used <= n && got <= used, "decoder used or wrote too much");
		memcpy(out + *out_len, tmp, got);
		*out_len += got;
		off += used;
		if (res != TP_HTTP_RESP_NEED_MORE)
			break;
		if (used < n)
			check(cap && got == cap, "decoder stopped short without a full output");
	}
	if (res == TP_HTTP_RESP_ERROR)
		check(d.error != NULL, "chunk error without a reason");
	*in_used = off;
	free(tmp);
	return res;
}

static void body(const uint8_t *in, size_t len)
{
	uint8_t *a = malloc(len + 1), *b = malloc(len + 1), *c = malloc(len + 1);
	size_t na, nb, nc, ua, ub, uc;
	enum tp_http_resp_result ra, rb, rc;

	check(a && b && c, "out of memory");
	ra = dechunk(in, len, 0, 0, a, &na, &ua);
	rb = dechunk(in, len, 1, 0, b, &nb, &ub);
	rc = dechunk(in, len, 0, 3, c, &nc, &uc);
	check(ra == rb && ra == rc, "chunked answers differ");
	if (ra != TP_HTTP_RESP_ERROR) {
		check(na == nb && na == nc && !memcmp(a, b, na) && !memcmp(a, c, na),
		      "chunked data differs");
		check(ua == ub && ua == uc, "chunked lengths differ");
	}
	free(a);
	free(b);
	free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tp_http_resp whole, bytes, cut;
	enum tp_http_resp_result r1, r2 = TP_HTTP_RESP_NEED_MORE, r3;
	uint32_t max_head, max_headers;
	size_t used1, used2 = 0, used3, u, at;

	if (!size)
		return 0;
	/* Small limits half the time, so that they are reached; the defaults otherwise. */
	max_head = data[0] & 1 ? 16u + (data[0] >> 1) * 8u : TP_HTTP_RESP_HEAD_MAX;
	max_headers = data[0] & 1 ? (data[0] >> 4) : TP_HTTP_RESP_HEADERS_MAX;
	data++;
	size--;

	tp_http_resp_init(&whole, max_head, max_headers);
	r1 = tp_http_resp_parse(&whole, data, size, &used1);
	check(used1 <= size && whole.head_len <= max_head, "used past the input or the limit");
	check(whole.n_headers <= max_headers, "more headers than the limit");

	tp_http_resp_init(&bytes, max_head, max_headers);
	for (size_t i = 0; i < size && r2 == TP_HTTP_RESP_NEED_MORE; i++) {
		r2 = tp_http_resp_parse(&bytes, data + i, 1, &u);
		used2 += r2 == TP_HTTP_RESP_ERROR ? 0 : u;
	}
	check(r1 == r2, "whole and byte-at-a-time results differ");

	at = size ? data[size / 2] % (size + 1) : 0;
	tp_http_resp_init(&cut, max_head, max_headers);
	r3 = tp_http_resp_parse(&cut, data, at, &used3);
	if (r3 == TP_HTTP_RESP_NEED_MORE) {
		r3 = tp_http_resp_parse(&cut, data + at, size - at, &u);
		used3 += u;
	}
	check(r1 == r3, "whole and cut results differ");

	if (r1 == TP_HTTP_RESP_DONE) {
		const uint8_t *n, *v;
		size_t pos = 0, nl, vl, count = 0;

		check(used1 == used2 && used1 == used3, "head lengths differ");
		check(whole.status == bytes.status && whole.status == cut.status &&
			      whole.status >= 100 && whole.status <= 999,
		      "statuses differ");
		check(whole.n_headers == bytes.n_headers, "header counts differ");
		while (tp_http_resp_header_next(data, used1, &pos, &n, &nl, &v, &vl)) {
			check(n >= data && v + vl <= data + used1 && nl, "header out of the head");
			count++;
		}
		check(count == whole.n_headers, "header walk and parser disagree");
		tp_http_resp_chunked(data, used1);
		body(data + used1, size - used1);
	} else if (r1 == TP_HTTP_RESP_ERROR) {
		check(whole.error && bytes.error && cut.error, "error without a reason");
		check(!strcmp(whole.error, bytes.error), "errors differ");
		body(data, size);
	}
	return 0;
}

/* Check suite for core/base/http_resp.c: response heads fed whole, one byte at a time and split at
 * every offset; each limit at and one past its value; every refusal; the header walk; chunked
 * bodies decoded whole, byte by byte and split at every offset, into a short output too. */
#include "core/base/http_resp.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define U(s) ((const uint8_t *)(s))

/* Feeds s in pieces of at most step bytes (0: whole) after cutting at cut (0: no cut). */
static enum tp_http_resp_result feed(struct tp_http_resp *r, const char *s, size_t len, size_t step,
				     size_t *total, uint32_t max_head, uint32_t max_headers)
{
	enum tp_http_resp_result res = TP_HTTP_RESP_NEED_MORE;
	size_t off = 0, used;

	tp_http_resp_init(r, max_head, max_headers);
	*total = 0;
	while (off < len) {
		size_t n = step && len - off > step ? step : len - off;

		res = tp_http_resp_parse(r, U(s) + off, n, &used);
		*total += used;
		if (res != TP_HTTP_RESP_NEED_MORE)
			break;
		ck_assert_uint_eq(used, n);
		off += n;
	}
	return res;
}

static const char squid[] = "HTTP/1.1 200 Connection established\r\n\r\n";
static const char tiny[] = "HTTP/1.0 200 Connection established\r\n"
			   "Proxy-agent: tinyproxy/1.11.1\r\n\r\n";
static const char with_body[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n"
				"Server: t\r\nX-A:  one \r\nx-a:two\r\n\r\nTUNNEL";

START_TEST(whole_and_bytewise)
{
	const char *cases[] = {squid, tiny, with_body};
	const size_t heads[] = {strlen(squid), strlen(tiny), strlen(with_body) - 6};
	const unsigned codes[] = {200, 200, 200}, minors[] = {1, 0, 1};
	size_t steps[] = {0, 1, 2, 3, 7};

	for (size_t c = 0; c < 3; c++) {
		for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
			struct tp_http_resp r;
			size_t used;

			ck_assert_int_eq(feed(&r, cases[c], strlen(cases[c]), steps[i], &used,
					      TP_HTTP_RESP_HEAD_MAX, TP_HTTP_RESP_HEADERS_MAX),
					 TP_HTTP_RESP_DONE);
			ck_assert_uint_eq(used, heads[c]);
			ck_assert_uint_eq(r.status, codes[c]);
			ck_assert_uint_eq(r.minor, minors[c]);
		}
	}
}
END_TEST

/* Cut in two at every offset: the same answer, the same head length. */
START_TEST(every_split)
{
	size_t len = strlen(with_body);

	for (size_t cut = 0; cut <= len; cut++) {
		struct tp_http_resp r;
		enum tp_http_resp_result res;
		size_t used, total;

		tp_http_resp_init(&r, TP_HTTP_RESP_HEAD_MAX, TP_HTTP_RESP_HEADERS_MAX);
		res = tp_http_resp_parse(&r, U(with_body), cut, &used);
		total = used;
		if (res == TP_HTTP_RESP_NEED_MORE) {
			res = tp_http_resp_parse(&r, U(with_body) + cut, len - cut, &used);
			total += used;
		}
		ck_assert_int_eq(res, TP_HTTP_RESP_DONE);
		ck_assert_uint_eq(total, len - 6);
		ck_assert_uint_eq(r.n_headers, 4);
	}
}
END_TEST

START_TEST(bare_lf_and_no_reason)
{
	const char *ok[] = {"HTTP/1.1 204\r\n\r\n",
			    "HTTP/1.1 200 \n\n",
			    "HTTP/1.1 407 Auth\nA: b\n\n",
			    "HTTP/1.1 999 x\r\nA:\r\n\r\n",
			    "HTTP/1.1 100 Continue\r\n\r\n",
			    "HTTP/1.1 200 r\xc3\xa9ponse\t ok\r\nV: \x80\xff\r\n\r\n"};
	const unsigned codes[] = {204, 200, 407, 999, 100, 200};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct tp_http_resp r;
		size_t used;

		ck_assert_int_eq(feed(&r, ok[i], strlen(ok[i]), 1, &used, 8192, 100),
				 TP_HTTP_RESP_DONE);
		ck_assert_uint_eq(r.status, codes[i]);
		ck_assert_uint_eq(used, strlen(ok[i]));
	}
}
END_TEST

START_TEST(refusals)
{
	static const struct {
		const char *in;
		size_t len;
		const char *why;
	} bad[] = {
		{"SSH-2.0-OpenSSH\r\n", 17, "not an HTTP/1.x response"},
		{"http/1.1 200 OK\r\n", 17, "not an HTTP/1.x response"},
		{"HTTP/2 200\r\n", 12, "not an HTTP/1.x response"},
		{"HTTP/1.2 200 OK\r\n", 17, "not HTTP/1.0 or HTTP/1.1"},
		{"HTTP/1.1  200 OK\r\n", 18, "bad status code"},
		{"HTTP/1.1\t200 OK\r\n", 17, "bad status line"},
		{"HTTP/1.1 20 OK\r\n", 16, "bad status code"},
		{"HTTP/1.1 099 OK\r\n", 17, "bad status code"},
		{"HTTP/1.1 2000 OK\r\n", 18, "bad status line"},
		{"HTTP/1.1 200 O\x01K\r\n", 18, "bad reason phrase"},
		{"HTTP/1.1 200 OK\r\r", 17, "CR without LF"},
		{"HTTP/1.1 200 OK\r\n folded\r\n", 27, "bad header name"},
		{"HTTP/1.1 200 OK\r\n: v\r\n", 22, "bad header name"},
		{"HTTP/1.1 200 OK\r\nA b: v\r\n", 25, "bad header name"},
		{"HTTP/1.1 200 OK\r\nA\r\n", 20, "bad header name"},
		{"HTTP/1.1 200 OK\r\nA: v\0w\r\n", 25, "bad header value"},
		{"HTTP/1.1 200 OK\r\nA: v\x7f\r\n", 24, "bad header value"},
		{"HTTP/1.1 200 OK\r\nA: v\rX", 23, "CR without LF"},
		{"HTTP/1.1 200 OK\r\n\rX", 19, "CR without LF"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (size_t step = 0; step < 2; step++) {
			struct tp_http_resp r;
			size_t used;

			ck_assert_int_eq(feed(&r, bad[i].in, bad[i].len, step, &used, 8192, 100),
					 TP_HTTP_RESP_ERROR);
			ck_assert_msg(!strcmp(r.error, bad[i].why), "%zu: %s", i, r.error);
		}
	}
}
END_TEST

/* A head exactly at max_head passes; one byte more is refused; so for max_headers. */
START_TEST(limits)
{
	char buf[9000];
	struct tp_http_resp r;
	size_t used, len;

	for (uint32_t max = 20; max < 200; max += 7) {
		/* "HTTP/1.1 200 " + reason + "\r\n\r\n" of exactly max bytes. */
		len = max;
		memset(buf, 'r', len);
		memcpy(buf, "HTTP/1.1 200 ", 13);
		memcpy(buf + len - 4, "\r\n\r\n", 4);
		ck_assert_int_eq(feed(&r, buf, len, 0, &used, max, 0), TP_HTTP_RESP_DONE);
		ck_assert_int_eq(feed(&r, buf, len, 1, &used, max, 0), TP_HTTP_RESP_DONE);
		ck_assert_int_eq(feed(&r, buf, len, 0, &used, max - 1, 0), TP_HTTP_RESP_ERROR);
		ck_assert_str_eq(r.error, "response head too large");
		ck_assert_int_eq(feed(&r, buf, len, 1, &used, max - 1, 0), TP_HTTP_RESP_ERROR);
	}
	/* An endless header is cut at the limit, whatever the reads. */
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "HTTP/1.1 200 OK\r\nX: ", 20);
	ck_assert_int_eq(feed(&r, buf, sizeof(buf), 0, &used, 8192, 100), TP_HTTP_RESP_ERROR);
	ck_assert_str_eq(r.error, "response head too large");
	ck_assert_uint_eq(r.head_len, 8192);
	for (uint32_t n = 0; n < 120; n += 13) {
		len = (size_t)snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n");
		for (uint32_t i = 0; i < n; i++)
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "H%u: v\r\n", i);
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\r\n");
		ck_assert_int_eq(feed(&r, buf, len, 0, &used, 8192, n), TP_HTTP_RESP_DONE);
		ck_assert_uint_eq(r.n_headers, n);
		if (n) {
			ck_assert_int_eq(feed(&r, buf, len, 1, &used, 8192, n - 1),
					 TP_HTTP_RESP_ERROR);
			ck_assert_str_eq(r.error, "too many headers");
		}
	}
}
END_TEST

START_TEST(header_walk)
{
	const uint8_t *n, *v;
	size_t pos = 0, nl, vl, head = strlen(with_body) - 6, count = 0;
	const char *names[] = {"Transfer-Encoding", "Server", "X-A", "x-a"};
	const char *values[] = {"gzip, chunked", "t", "one", "two"};

	while (tp_http_resp_header_next(U(with_body), head, &pos, &n, &nl, &v, &vl)) {
		ck_assert_uint_eq(nl, strlen(names[count]));
		ck_assert(!memcmp(n, names[count], nl));
		ck_assert_uint_eq(vl, strlen(values[count]));
		ck_assert(!memcmp(v, values[count], vl));
		count++;
	}
	ck_assert_uint_eq(count, 4);
	v = tp_http_resp_header(U(with_body), head, "X-a", &vl);
	ck_assert_ptr_nonnull(v);
	ck_assert(vl == 3 && !memcmp(v, "two", 3));
	ck_assert_ptr_null(tp_http_resp_header(U(with_body), head, "host", &vl));
	ck_assert(tp_http_resp_chunked(U(with_body), head));
	ck_assert(!tp_http_resp_chunked(U(squid), strlen(squid)));
	ck_assert(!tp_http_resp_chunked(U("HTTP/1.1 200 OK\nTransfer-Encoding: chunked, gzip\n\n"),
					50));
	ck_assert(tp_http_resp_chunked(U("HTTP/1.1 200 OK\nTransfer-Encoding:CHUNKED\n\n"), 43));
}
END_TEST

/* Decodes in pieces of step bytes (0: whole) into an output of out_cap per call. */
static enum tp_http_resp_result dechunk(const char *in, size_t len, size_t step, size_t out_cap,
					char *out, size_t *out_total, size_t *in_total,
					const char **err)
{
	struct tp_http_chunked d;
	enum tp_http_resp_result res = TP_HTTP_RESP_NEED_MORE;
	size_t off = 0;
	uint8_t tmp[2048];

	tp_http_chunked_init(&d);
	*out_total = 0;
	while (off < len) {
		size_t n = step && len - off > step ? step : len - off, used, got;

		memcpy(tmp, in + off, n);
		res = tp_http_chunked_decode(&d, tmp, n, &used, tmp, out_cap, &got, 4);
		memcpy(out + *out_total, tmp, got);
		*out_total += got;
		off += used;
		if (res != TP_HTTP_RESP_NEED_MORE)
			break;
		ck_assert(used == n || got == out_cap);
	}
	*in_total = off;
	*err = d.error;
	return res;
}

static const char chunked[] = "5\r\nhello\r\n1;ext=1\r\n \r\nA \r\n0123456789\n"
			      "0\r\nT: x\r\nU: y\n\r\nNEXT";

START_TEST(chunked_every_way)
{
	size_t len = strlen(chunked);

	for (size_t step = 0; step < 12; step++) {
		for (size_t cap = 1; cap < 20; cap += 3) {
			char out[64];
			size_t got, used;
			const char *err;

			ck_assert_int_eq(dechunk(chunked, len, step, cap, out, &got, &used, &err),
					 TP_HTTP_RESP_DONE);
			ck_assert_uint_eq(got, 16);
			ck_assert(!memcmp(out, "hello 0123456789", 16));
			ck_assert_uint_eq(used, len - 4);
		}
	}
}
END_TEST

START_TEST(chunked_refusals)
{
	static const struct {
		const char *in;
		const char *why;
	} bad[] = {
		{"x\r\n", "bad chunk size"},
		{";\r\n", "bad chunk size"},
		{"5x\r\n", "bad chunk size"},
		{"1000000000000000\r\n", "chunk size too large"},
		{"3\r\nabcd\r\n", "chunk data longer than its size"},
		{"3\r\nabc\rX", "CR without LF"},
		{"3\rX", "CR without LF"},
		{"3;\x01\r\n", "bad chunk extension"},
		{"0\r\n:x\r\n", "bad trailer"},
		{"0\r\nA: \x01\r\n", "bad trailer"},
		{"0\r\nA:1\r\nB:1\r\nC:1\r\nD:1\r\nE:1\r\n\r\n", "too many trailers"},
		{"0\r\n\rX", "CR without LF"},
	};
	char longline[TP_HTTP_CHUNK_LINE_MAX + 8];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (size_t step = 0; step < 2; step++) {
			char out[64];
			size_t got, used;
			const char *err;

			ck_assert_int_eq(dechunk(bad[i].in, strlen(bad[i].in), step, 64, out, &got,
						 &used, &err),
					 TP_HTTP_RESP_ERROR);
			ck_assert_msg(!strcmp(err, bad[i].why), "%zu: %s", i, err);
		}
	}
	/* A chunk line at the limit passes; one byte more is refused. */
	for (size_t extra = 0; extra < 2; extra++) {
		size_t n = TP_HTTP_CHUNK_LINE_MAX + extra;
		char out[8];
		size_t got, used;
		const char *err;

		memset(longline, ' ', sizeof(longline));
		longline[0] = '0';
		memcpy(longline + n - 2, "\r\n\r\n", 4);
		ck_assert_int_eq(dechunk(longline, n + 2, extra, 8, out, &got, &used, &err),
				 extra ? TP_HTTP_RESP_ERROR : TP_HTTP_RESP_DONE);
		if (extra)
			ck_assert_str_eq(err, "chunk line too long");
	}
}
END_TEST

START_TEST(chunk_headers)
{
	char out[24];

	ck_assert_uint_eq(tp_http_chunk_header(1, out), 3);
	ck_assert(!memcmp(out, "1\r\n", 3));
	ck_assert_uint_eq(tp_http_chunk_header(0x10000, out), 7);
	ck_assert(!memcmp(out, "10000\r\n", 7));
	ck_assert_uint_eq(tp_http_chunk_header(UINT64_MAX, out), 18);
	ck_assert(!memcmp(out, "ffffffffffffffff\r\n", 18));
}
END_TEST

static Suite *http_resp_suite(void)
{
	Suite *s = suite_create("http_resp");
	TCase *tc = tcase_create("http_resp");

	tcase_add_test(tc, whole_and_bytewise);
	tcase_add_test(tc, every_split);
	tcase_add_test(tc, bare_lf_and_no_reason);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, limits);
	tcase_add_test(tc, header_walk);
	tcase_add_test(tc, chunked_every_way);
	tcase_add_test(tc, chunked_refusals);
	tcase_add_test(tc, chunk_headers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(http_resp_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

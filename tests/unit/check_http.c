/* Check suite for core/http.c: the request-head parser fed whole, one byte at a time and split
 * at every position; its limits and refusals; query decoding; response heads. */
#include "core/base/http.h"
#include "core/base/sbuf.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Feeds s in pieces of at most step bytes (0: whole); returns the result and what was used. */
static enum tp_http_result feed(struct tp_http_req *r, const char *s, size_t len, size_t step,
				size_t *total)
{
	enum tp_http_result res = TP_HTTP_NEED_MORE;
	size_t off = 0, used;

	tp_http_req_init(r);
	*total = 0;
	while (off < len) {
		size_t n = step && len - off > step ? step : len - off;

		res = tp_http_parse(r, s + off, n, &used);
		*total += used;
		if (res != TP_HTTP_NEED_MORE)
			break;
		ck_assert_uint_eq(used, n);
		off += n;
	}
	return res;
}

static const char simple[] = "GET /stats?format=json HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n";

START_TEST(whole_and_bytewise)
{
	size_t steps[] = {0, 1, 2, 3, 7};
	struct tp_http_req r;
	size_t used;

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		ck_assert_int_eq(feed(&r, simple, strlen(simple), steps[i], &used), TP_HTTP_DONE);
		ck_assert_uint_eq(used, strlen(simple));
		ck_assert_str_eq(r.method, "GET");
		ck_assert_str_eq(r.target, "/stats?format=json");
		ck_assert_uint_eq(r.minor, 1);
	}
}
END_TEST

START_TEST(every_split)
{
	struct tp_http_req r;
	size_t len = strlen(simple);

	for (size_t cut = 0; cut <= len; cut++) {
		size_t used;

		tp_http_req_init(&r);
		ck_assert_int_eq(tp_http_parse(&r, simple, cut, &used),
				 cut == len ? TP_HTTP_DONE : TP_HTTP_NEED_MORE);
		ck_assert_uint_eq(used, cut);
		if (cut < len) {
			ck_assert_int_eq(tp_http_parse(&r, simple + cut, len - cut, &used),
					 TP_HTTP_DONE);
			ck_assert_uint_eq(used, len - cut);
		}
		ck_assert_str_eq(r.target, "/stats?format=json");
	}
}
END_TEST

START_TEST(bare_lf_http10_and_trailing_bytes)
{
	const char *s = "HEAD / HTTP/1.0\nX: y\n\nEXTRA";
	struct tp_http_req r;
	size_t used;

	ck_assert_int_eq(feed(&r, s, strlen(s), 0, &used), TP_HTTP_DONE);
	ck_assert_uint_eq(used, strlen(s) - 5); /* the body is not the head's */
	ck_assert_str_eq(r.method, "HEAD");
	ck_assert_str_eq(r.target, "/");
	ck_assert_uint_eq(r.minor, 0);
	ck_assert_int_eq(feed(&r, s, strlen(s), 1, &used), TP_HTTP_DONE);
	ck_assert_uint_eq(used, strlen(s) - 5);
}
END_TEST

static void refused(const char *s, size_t len, const char *why)
{
	struct tp_http_req r;
	size_t used;

	for (size_t step = 0; step < 2; step++) {
		ck_assert_msg(feed(&r, s, len, step, &used) == TP_HTTP_ERROR, "accepted: %.40s", s);
		ck_assert_ptr_nonnull(r.error);
		ck_assert_msg(strstr(r.error, why), "%.40s: '%s', wanted '%s'", s, r.error, why);
	}
}

START_TEST(refusals)
{
	static const char nul[] = "GET / HTTP/1.1\r\nA: b\0c\r\n\r\n";
	char *big;

	refused("\x16\x03\x01\x02\x00", 5, "method");
	refused(" / HTTP/1.1\r\n\r\n", 16, "method");
	refused("GET  HTTP/1.1\r\n\r\n", 17, "target");
	refused("GET http://x/ HTTP/1.1\r\n\r\n", 26, "not a path");
	refused("GET / HTTP/2.0\r\n\r\n", 18, "not HTTP/1.x");
	refused("GET / HTTP/1.2\r\n\r\n", 18, "HTTP/1.0 or HTTP/1.1");
	refused("GET / FTP/1.1\r\n\r\n", 17, "HTTP/1.x");
	refused("GET / HTTP/1.1x\r\n\r\n", 19, "request line");
	refused("GET / HTTP/1.1\rX\n\r\n", 19, "CR without LF");
	refused("GET / HTTP/1.1\r\n folded\r\n\r\n", 27, "header name");
	refused("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 31, "header name");
	refused(nul, sizeof(nul) - 1, "header value");
	refused("GETTINGVERYLONGMETHOD / HTTP/1.1\r\n\r\n", 36, "method too long");

	big = malloc(TP_HTTP_HEAD_MAX + 100);
	ck_assert_ptr_nonnull(big);
	memset(big, 'a', TP_HTTP_HEAD_MAX + 100);
	memcpy(big, "GET /", 5);
	refused(big, TP_HTTP_TARGET_MAX + 10, "target too long");
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	refused(big, TP_HTTP_HEAD_MAX + 100, "too large");
	free(big);
}
END_TEST

START_TEST(query_values)
{
	char v[16];

	ck_assert_int_eq(tp_http_query_get("format=json&filter=a%2Eb+c", "format", v, sizeof(v)),
			 1);
	ck_assert_str_eq(v, "json");
	ck_assert_int_eq(tp_http_query_get("format=json&filter=a%2Eb+c", "filter", v, sizeof(v)),
			 1);
	ck_assert_str_eq(v, "a.b c");
	ck_assert_int_eq(tp_http_query_get("formats=x", "format", v, sizeof(v)), 0);
	ck_assert_int_eq(tp_http_query_get("", "format", v, sizeof(v)), 0);
	ck_assert_int_eq(tp_http_query_get("a&usedonly", "usedonly", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "");
	ck_assert_int_eq(tp_http_query_get("f=%zz", "f", v, sizeof(v)), -EINVAL);
	ck_assert_int_eq(tp_http_query_get("f=%2", "f", v, sizeof(v)), -EINVAL);
	ck_assert_int_eq(tp_http_query_get("f=%00", "f", v, sizeof(v)), -EINVAL);
	ck_assert_int_eq(tp_http_query_get("f=0123456789abcdef", "f", v, sizeof(v)), -ENAMETOOLONG);
}
END_TEST

START_TEST(query_escape_round_trip)
{
	const char *re = "^cluster\\.(a|b) [x]+&=%?#";
	char esc[128], back[64], q[160];

	ck_assert_int_eq(tp_http_query_escape(re, esc, sizeof(esc)), 0);
	ck_assert_ptr_null(strpbrk(esc, " &=?#+"));
	snprintf(q, sizeof(q), "filter=%s", esc);
	ck_assert_int_eq(tp_http_query_get(q, "filter", back, sizeof(back)), 1);
	ck_assert_str_eq(back, re);
	ck_assert_int_eq(tp_http_query_escape(re, esc, 8), -ENAMETOOLONG);
}
END_TEST

START_TEST(target_split)
{
	char path[8];
	const char *q;

	tp_http_target_split("/stats?format=json", path, sizeof(path), &q);
	ck_assert_str_eq(path, "/stats");
	ck_assert_str_eq(q, "format=json");
	tp_http_target_split("/ready", path, sizeof(path), &q);
	ck_assert_str_eq(path, "/ready");
	ck_assert_str_eq(q, "");
	tp_http_target_split("/server_info", path, sizeof(path), &q);
	ck_assert_str_eq(path, "/server"); /* cut, never overrun */
}
END_TEST

START_TEST(responses)
{
	struct tp_sbuf b = TP_SBUF_INIT;
	int status;
	size_t off;

	tp_http_response_head(&b, 405, "text/plain", 3, "Allow: GET\r\n");
	tp_sbuf_puts(&b, "no\n");
	ck_assert_ptr_nonnull(strstr(b.p, "HTTP/1.1 405 Method Not Allowed\r\n"));
	ck_assert_ptr_nonnull(strstr(b.p, "Content-Length: 3\r\n"));
	ck_assert_ptr_nonnull(strstr(b.p, "Connection: close\r\n"));
	ck_assert_ptr_nonnull(strstr(b.p, "Allow: GET\r\n\r\nno\n"));
	ck_assert_int_eq(tp_http_response_split(b.p, b.len, &status, &off), 0);
	ck_assert_int_eq(status, 405);
	ck_assert_str_eq(b.p + off, "no\n");
	ck_assert_int_eq(tp_http_response_split("HTTP/1.1 200 OK\r\n", 17, &status, &off), -EPROTO);
	ck_assert_int_eq(tp_http_response_split("SSH-2.0-x\r\n\r\n", 13, &status, &off), -EPROTO);
	tp_sbuf_free(&b);
}
END_TEST

static Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("http");

	tcase_add_test(tc, whole_and_bytewise);
	tcase_add_test(tc, every_split);
	tcase_add_test(tc, bare_lf_http10_and_trailing_bytes);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, query_values);
	tcase_add_test(tc, query_escape_round_trip);
	tcase_add_test(tc, target_split);
	tcase_add_test(tc, responses);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(http_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

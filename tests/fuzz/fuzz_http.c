/* Fuzz target: what the admin endpoint and the stats socket do with a client's bytes before
 * core/admin.c answers: the request-head parser (fed whole and one byte at a time, which must
 * agree), the target's path and query, the query values admin reads, and their escaping. The
 * client side's response split runs on the same bytes. */
#include "tests/fuzz/fuzz.h"

#include "core/base/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_http: %s\n", what);
		abort();
	}
}

static void query(const char *target)
{
	static const char *const keys[] = {"format", "filter", "type", "usedonly", ""};
	char path[256], value[512], back[512], escaped[1600];
	const char *q;

	tp_http_target_split(target, path, sizeof(path), &q);
	check(strlen(path) < sizeof(path), "path not cut to its buffer");
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		int ret = tp_http_query_get(q, keys[i], value, sizeof(value));

		if (ret == 1) {
			check(strlen(value) < sizeof(value), "value not terminated");
			/* What tcpproxy-stat escapes, admin must decode to the same value. */
			check(tp_http_query_escape(value, escaped + 2, sizeof(escaped) - 2) == 0,
			      "escape cut short");
			memcpy(escaped, "k=", 2);
			check(tp_http_query_get(escaped, "k", back, sizeof(back)) == 1 &&
				      !strcmp(back, value),
			      "escape does not decode back");
		}
		/* A tiny buffer: every overflow path. */
		tp_http_query_get(q, keys[i], value, 2);
		tp_http_query_get(q, keys[i], value, 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct tp_http_req whole, bytes;
	enum tp_http_result r1, r2 = TP_HTTP_NEED_MORE;
	size_t used1, used2 = 0, u;
	int status;
	size_t body;

	tp_http_req_init(&whole);
	r1 = tp_http_parse(&whole, buf, size, &used1);
	check(used1 <= size, "used past the input");

	tp_http_req_init(&bytes);
	for (size_t i = 0; i < size && r2 == TP_HTTP_NEED_MORE; i++) {
		r2 = tp_http_parse(&bytes, buf + i, 1, &u);
		used2 += r2 == TP_HTTP_ERROR ? 0 : u;
	}
	check(r1 == r2, "whole and byte-at-a-time results differ");
	if (r1 == TP_HTTP_DONE) {
		check(used1 == used2, "whole and byte-at-a-time heads differ in length");
		check(!strcmp(whole.method, bytes.method) && !strcmp(whole.target, bytes.target) &&
			      whole.minor == bytes.minor,
		      "whole and byte-at-a-time requests differ");
		check(strlen(whole.target) == whole.target_len, "target has a NUL");
		query(whole.target);
	} else if (r1 == TP_HTTP_ERROR) {
		check(whole.error && bytes.error, "error without a reason");
	}
	if (tp_http_response_split(buf, size, &status, &body) == 0)
		check(body <= size && status >= 0 && status <= 999, "bad response split");
	return 0;
}

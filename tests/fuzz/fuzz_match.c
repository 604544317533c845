/* Fuzz target: stat-name filters (core/base/match.c). The input is a pattern, then a NUL and a
 * subject (without one, a few stat names are the subjects). A pattern either compiles or says
 * why not; one that compiles is searched: twice (the second time from the DFA's cache, which must
 * agree), within a bounded number of steps, and wrapped in a group and an anchor, which may not
 * change the answer or make a match appear. */
#include "tests/fuzz/fuzz.h"

#include "core/base/match.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {
	"cluster.c1.upstream_cx_total",
	"tcp.ingress_tcp.downstream_flow_control_resumed_reading_total",
	"listener.[__1]_10000.downstream_cx_active",
	"server.live",
	"",
};

static void check(bool ok, const char *pattern, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_match: '%s': %s\n", pattern, what);
		abort();
	}
}

static void search(struct tp_match *m, const char *pattern, const char *s, size_t len)
{
	char wrapped[TP_MATCH_PATTERN_MAX + 8], why[128];
	struct tp_match *w;
	uint64_t before = tp_match_steps(m);
	bool hit = tp_match_search(m, s, len);

	/* Each step visits an instruction at most once per offset, plus the DFA's bookkeeping. */
	check(tp_match_steps(m) - before <= 4 * (uint64_t)(len + 2) * TP_MATCH_PROG_MAX, pattern,
	      "too many steps");
	check(tp_match_search(m, s, len) == hit, pattern, "a second search differs");
	if (strlen(pattern) + 6 > TP_MATCH_PATTERN_MAX)
		return;
	snprintf(wrapped, sizeof(wrapped), "(?:%s)", pattern);
	if (tp_match_compile(&w, wrapped, why, sizeof(why)) == 0) {
		check(tp_match_search(w, s, len) == hit, pattern, "(?:P) differs from P");
		tp_match_free(w);
	}
	snprintf(wrapped, sizeof(wrapped), "^(?:%s)", pattern);
	if (tp_match_compile(&w, wrapped, why, sizeof(why)) == 0) {
		check(!tp_match_search(w, s, len) || hit, pattern, "^(?:P) matches where P does not");
		tp_match_free(w);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t plen = nul ? (size_t)(nul - data) : size;
	char *pattern = malloc(plen + 1), why[128];
	struct tp_match *m;
	int ret;

	if (!pattern)
		return 0;
	memcpy(pattern, data, plen);
	pattern[plen] = '\0';
	ret = tp_match_compile(&m, pattern, why, sizeof(why));
	if (ret) {
		check(m == NULL && why[0], pattern, "refused without a reason");
		goto out;
	}
	if (nul) {
		search(m, pattern, (const char *)nul + 1, size - plen - 1);
	} else {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			search(m, pattern, names[i], strlen(names[i]));
	}
	tp_match_free(m);
out:
	free(pattern);
	return 0;
}

/* Fuzz target: protobuf JSON Durations. A value that parses must print back to a string that
 * parses to the same milliseconds. */
#include "tests/fuzz/fuzz.h"

#include "core/base/duration.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	const char *why = NULL;
	char back[64];
	int64_t ms, again;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (tp_duration_parse(s, &ms, &why) == 0) {
		if (ms < 0)
			abort();
		tp_duration_format(ms, back, sizeof(back));
		if (tp_duration_parse(back, &again, &why) || again != ms) {
			fprintf(stderr, "'%s' -> %lld ms -> '%s'\n", s, (long long)ms, back);
			abort();
		}
	} else if (!why) {
		abort();
	}
	free(s);
	return 0;
}

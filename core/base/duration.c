/* protobuf JSON Durations: what Envoy's config accepts for every google.protobuf.Duration. */
#include "core/base/duration.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Names the mistakes people make when they come from other proxies' configs. */
static const char *unit_hint(const char *unit)
{
	if (!strcmp(unit, "ms"))
		return "milliseconds are written as a fraction of seconds, e.g. \"0.250s\"";
	if (!strcmp(unit, "us") || !strcmp(unit, "ns"))
		return "sub-second units are written as a fraction of seconds, e.g. \"0.000001s\"";
	if (!strcmp(unit, "m") || !strcmp(unit, "h") || !strcmp(unit, "d"))
		return "only seconds are accepted, e.g. \"3600s\" for an hour";
	if (!*unit)
		return "a duration needs the \"s\" suffix, e.g. \"5s\"";
	return "expected seconds with an \"s\" suffix, e.g. \"5s\" or \"0.250s\"";
}

int tp_duration_parse(const char *s, int64_t *ms, const char **why)
{
	int64_t sec = 0, nanos = 0;
	const char *p = s;
	int frac_digits = 0;
	bool digits = false;

	if (*p == '-') {
		*why = "negative durations are not allowed";
		return -EINVAL;
	}
	for (; *p >= '0' && *p <= '9'; p++) {
		sec = sec * 10 + (*p - '0');
		digits = true;
		if (sec > TP_DURATION_MAX_SECONDS) {
			*why = "out of range (at most 315576000000s)";
			return -EINVAL;
		}
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (++frac_digits > 9) {
				*why = "at most 9 fractional digits (nanoseconds)";
				return -EINVAL;
			}
			nanos = nanos * 10 + (*p - '0');
			digits = true;
		}
		for (int i = frac_digits; i < 9; i++)
			nanos *= 10;
	}
	if (!digits) {
		*why = "expected seconds with an \"s\" suffix, e.g. \"5s\" or \"0.250s\"";
		return -EINVAL;
	}
	if (strcmp(p, "s") != 0) {
		*why = unit_hint(p);
		return -EINVAL;
	}
	*ms = sec * 1000 + nanos / 1000000;
	if (!*ms && nanos)
		*ms = 1;
	return 0;
}

void tp_duration_format(int64_t ms, char *buf, unsigned long size)
{
	if (ms % 1000)
		snprintf(buf, size, "%lld.%03llds", (long long)(ms / 1000), (long long)(ms % 1000));
	else
		snprintf(buf, size, "%llds", (long long)(ms / 1000));
}

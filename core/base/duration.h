/* protobuf JSON Durations ("5s", "0.250s") to milliseconds. */
#ifndef TP_DURATION_H
#define TP_DURATION_H

#include <stdint.h>

/* Longest Duration protobuf allows: 10,000 years of seconds. */
#define TP_DURATION_MAX_SECONDS 315576000000LL

/* Parses the protobuf JSON form: decimal seconds, up to 9 fractional digits, then "s". The value
 * is truncated to whole milliseconds as Envoy's timers do, except that a nonzero duration below
 * 1 ms becomes 1 ms: 0 means "disabled" for some fields and must only come from "0s".
 * Negative durations are refused (no field tcpproxy reads allows them).
 * Returns 0, or -EINVAL with *why set to a static sentence for the error message. */
int tp_duration_parse(const char *s, int64_t *ms, const char **why);

/* Writes ms back in protobuf JSON form ("5s", "0.250s") for messages and dumps. */
void tp_duration_format(int64_t ms, char *buf, unsigned long size);

#endif

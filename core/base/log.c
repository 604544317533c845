/* Process-wide logging to stderr: one write(2) per line so lines of processes never interleave. */
#include "core/base/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum tp_log_level tp_log_level = TP_LOG_INFO;
static char role[32] = "main";

static const char *const level_names[] = {"trace", "debug", "info", "warn", "error", "off"};

int tp_log_parse_level(const char *s, enum tp_log_level *out)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (!strcmp(s, level_names[i])) {
			*out = (enum tp_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void tp_log_set_role(const char *r)
{
	snprintf(role, sizeof(role), "%s", r);
}

void tp_log(enum tp_log_level level, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "[%04d-%02d-%02d %02d:%02d:%02d.%03ld][%d][%s][%s] ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000, (int)getpid(), level_names[level], role);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* A single write keeps a line whole even when master and workers share stderr. */
	if (write(STDERR_FILENO, line, n) < 0)
		(void)0;
}

void tp_bug(const char *file, int line, const char *what)
{
	tp_log(TP_LOG_ERROR, "BUG at %s:%d: %s", file, line, what);
	abort();
}

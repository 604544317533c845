/* What both command-line programs share: number parsing and the usage-error line. */
#include "core/base/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int tp_cli_parse_uint(const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max || s[0] == '-')
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

int tp_cli_usage_error(const char *prog, const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	return TP_EXIT_USAGE;
}

/* What both command-line programs share: number parsing and the usage-error line. */
#ifndef TP_CLI_H
#define TP_CLI_H

#define TP_EXIT_USAGE 2

/* A decimal number from 0 to max (no sign, nothing after it). 0 or -EINVAL. */
int tp_cli_parse_uint(const char *s, unsigned max, unsigned *out);
/* Prints "PROG: <fmt with arg>" and "Try 'PROG --help'." on stderr; returns TP_EXIT_USAGE. */
int tp_cli_usage_error(const char *prog, const char *fmt, const char *arg);

#endif

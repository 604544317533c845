/* Process-wide logging: one line per message on stderr, prefixed with level and process role. */
#ifndef TP_LOG_H
#define TP_LOG_H

#include <stdbool.h>

enum tp_log_level {
	TP_LOG_TRACE,
	TP_LOG_DEBUG,
	TP_LOG_INFO,
	TP_LOG_WARN,
	TP_LOG_ERROR,
	TP_LOG_OFF,
};

extern enum tp_log_level tp_log_level;

/* Parses "trace|debug|info|warn|error|off"; returns 0 or -EINVAL. */
int tp_log_parse_level(const char *s, enum tp_log_level *out);
/* Names this process in every line ("master", "worker 1"). */
void tp_log_set_role(const char *role);
void tp_log(enum tp_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define tp_log_enabled(l) ((l) >= tp_log_level)
#define TP_LOG(l, ...)                          \
	do {                                    \
		if (tp_log_enabled(l))          \
			tp_log(l, __VA_ARGS__); \
	} while (0)
#define tp_trace(...) TP_LOG(TP_LOG_TRACE, __VA_ARGS__)
#define tp_debug(...) TP_LOG(TP_LOG_DEBUG, __VA_ARGS__)
#define tp_info(...)  TP_LOG(TP_LOG_INFO, __VA_ARGS__)
#define tp_warn(...)  TP_LOG(TP_LOG_WARN, __VA_ARGS__)
#define tp_error(...) TP_LOG(TP_LOG_ERROR, __VA_ARGS__)

/* Our own invariants only, never peer input: a violated one is a bug, so crash loudly. */
#define TP_BUG_ON(cond)                                    \
	do {                                               \
		if (__builtin_expect(!!(cond), 0))         \
			tp_bug(__FILE__, __LINE__, #cond); \
	} while (0)
_Noreturn void tp_bug(const char *file, int line, const char *what);

#endif

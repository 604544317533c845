/* tcpproxy-stat's work: ask a master's stats socket for a report, or redraw one in place every
 * few seconds with per-second rates (--watch). cmd/tcpproxy-stat.c only parses flags. */
#ifndef TP_STATCLI_H
#define TP_STATCLI_H

#include "core/base/sbuf-t.h"

#include <stddef.h>

/* The default stats socket of --base-id base_id for this user: the one a master running as us
 * would create, else (for a user other than root) the one a root master creates; the first
 * that exists, or the first when neither does. Either directory must pass
 * tp_stats_socket_dir_check(). 0, or -errno with err saying why. */
int tp_statcli_default_socket(unsigned base_id, char *out, size_t len, char *err, size_t errlen);

/* GETs target over the stats socket at path, within timeout_ms. Returns the HTTP status (the
 * body is appended to body), -ECONNREFUSED/-ENOENT/... when there is no master to talk to, or
 * another -errno; err says which socket was tried and why. */
int tp_statcli_get(const char *path, const char *target, int timeout_ms, struct tp_sbuf *body,
		   char *err, size_t errlen);

/* The same with any method (tcpproxy-stat --post PATH sends POST). */
int tp_statcli_request(const char *path, const char *method, const char *target, int timeout_ms,
		       struct tp_sbuf *body, char *err, size_t errlen);

/* The target for a report: "/stats?format=FMT&filter=REGEX" with the regex escaped. 0 or
 * -ENAMETOOLONG. */
int tp_statcli_target(char *out, size_t len, const char *format, const char *filter,
		      const char *type);

/* --watch: redraws the text report every interval_s seconds with a rate beside each counter
 * (or, with conns_target, the /connections text that target asks for), until q, Ctrl-C or
 * SIGTERM; the terminal is restored before returning. 0, or -errno when the master could not
 * be reached (err says why). */
int tp_statcli_watch(const char *path, const char *filter, const char *conns_target,
		     unsigned interval_s, char *err, size_t errlen);

#endif

/* Why tcpproxy ended or marked a session: Envoy's response flags, each declared once.
 *
 * One row per cause: its bit in tp_conn.rflags, Envoy's short letters for %RESPONSE_FLAGS% (NULL
 * where Envoy sets no flag), the %CONNECTION_TERMINATION_DETAILS% text when it ends the session
 * (NULL when it does not by itself), and the counter it bumps, in the scope named. The order is
 * the order Envoy prints flags in (its CoreResponseFlag enum); rows without letters go last.
 *
 * "tcp_initializion_failure:N" is Envoy's LocalCloseReasons::TcpProxyInitializationFailure, its
 * spelling and all, then the UpstreamFailureReason number (0 ConnectFailed, 1 NoHealthyUpstream,
 * 2 ResourceLimitExceeded, 3 NoRoute). "filter_chain_not_found" is what Envoy puts in the response
 * code details of a connection no filter chain matched (NoRouteFound, "NR"). */
#ifndef TP_RESP_FLAGS_H
#define TP_RESP_FLAGS_H

#include "core/conn/conn-t.h"
#include "core/worker/worker-t.h"

#include <stdbool.h>
#include <stddef.h>

/* X(ID, letters, termination details, scope, counter) */
#define TP_RESPONSE_FLAGS(X)                                                                    \
	X(NO_HEALTHY_UPSTREAM, "UH", "tcp_initializion_failure:1", CLUSTER,                     \
	  upstream_cx_none_healthy)                                                             \
	X(UPSTREAM_CONNECT_FAILURE, "UF", NULL, CLUSTER, upstream_cx_connect_fail)              \
	X(UPSTREAM_OVERFLOW, "UO", "tcp_initializion_failure:2", CLUSTER, upstream_cx_overflow) \
	X(NO_FILTER_CHAIN, "NR", "filter_chain_not_found", LISTENER, no_filter_chain_match)     \
	X(RETRY_LIMIT_EXCEEDED, "URX", "tcp_initializion_failure:0", CLUSTER,                   \
	  upstream_cx_connect_attempts_exceeded)                                                \
	X(DURATION_TIMEOUT, "DT", "max_connection_duration_reached", TCP,                       \
	  max_downstream_connection_duration)                                                   \
	X(NO_CLUSTER_FOUND, "NC", "tcp_initializion_failure:3", TCP, downstream_cx_no_route)    \
	X(IDLE_TIMEOUT, NULL, "tcp_session_idle_timeout", TCP, idle_timeout)

#define TP__RF_ENUM(id, letters, details, scope, counter) TP_RF_##id,
enum tp_rf { TP_RESPONSE_FLAGS(TP__RF_ENUM) TP_RF__COUNT };
#undef TP__RF_ENUM

struct tp_rf_row {
	const char *letters;
	const char *details;
};

extern const struct tp_rf_row tp_rf_rows[TP_RF__COUNT];

static inline bool tp_rf_has(const struct tp_conn *c, enum tp_rf f)
{
	return c->rflags & (1u << f);
}

/* Sets flag f on c and bumps its counter (the connection's route must be known for a cluster
 * counter, its tcp_proxy for a tcp one). The session goes on. */
void tp_conn_flag(struct tp_worker *w, struct tp_conn *c, enum tp_rf f);
/* tp_conn_flag, then ends the session for that reason (the first reason given wins). */
void tp_conn_end(struct tp_worker *w, struct tp_conn *c, enum tp_rf f);

/* "UH,URX": c's flags in Envoy's order into out (no NUL); returns the length, 0 for none. */
size_t tp_rf_letters(const struct tp_conn *c, char *out, size_t len);
/* The termination details of the cause that ended c, or NULL when a peer ended it. */
const char *tp_rf_end_details(const struct tp_conn *c);

#endif

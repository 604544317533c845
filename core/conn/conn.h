/* Connection slots of a worker, and what every phase of a session shares: polls on its sides,
 * its transports, the upstream accounting, the dispatch of completions to the phase, teardown. */
#ifndef TP_CONN_H
#define TP_CONN_H

#include "core/config/config-t.h"
#include "core/conn/conn-t.h"
#include "core/worker/worker-t.h"

#include <stdbool.h>
#include <sys/socket.h>

/* The timer kinds a worker dispatches on (struct tp_timer.kind). */
enum tp_timer_kind {
	TP_TIMER_CONN,	 /* tp_conn.timer: the phase's deadline, then the session's */
	TP_TIMER_FILTER, /* a filter's own timer (struct tp_filter_timer) */
};

struct tp_conn *tp_conn_alloc(struct tp_worker *w);
/* The connection of a completion, or NULL if the slot has moved on (stale generation). */
struct tp_conn *tp_conn_lookup(struct tp_worker *w, uint32_t idx, uint32_t gen);
/* The slot's room after the struct: each side's transport state, then the chain's filters'. */
void *tp_conn_tstate(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s);
void *tp_conn_filter_area(struct tp_worker *w, struct tp_conn *c);

/* Gives side s the socket fd and the transport tc configures (raw_buffer when tc or its ops is
 * NULL), its state zeroed and opened; a transport with a handshake starts handshaking. 0, or
 * -errno when the transport cannot be opened (the caller closes the connection). */
int tp_conn_side_init(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s, int fd,
		      const struct tp_transport_cfg *tc);
/* The same for a transport layered over another (an HTTP tunnel over the cluster's transport):
 * tc's open gets lower (raw_buffer when its ops is NULL) in its env, with room for its state
 * right after tc's, and arg (see struct tp_transport_env). */
int tp_conn_side_init_layered(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s, int fd,
			      const struct tp_transport_cfg *tc,
			      const struct tp_transport_cfg *lower, void *arg);
/* Arms a multishot POLLIN or a one-shot POLLOUT on one side's socket. */
void tp_conn_arm_poll_in(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s);
void tp_conn_arm_poll_out(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s);
/* Arms what s->want asks for after a transport answered -EAGAIN. */
void tp_conn_arm_want(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s);
/* Cancels what is armed on a side, frees its transport state and closes its socket. */
void tp_conn_close_side(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s);
/* One step of side s's handshake; at its end the session is told (tp_session_on_handshake). */
void tp_conn_handshake(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s);

/* Counts (on) or uncounts (off) the connection in its cluster's and host's active upstream
 * connections: the one place that keeps upstream_cx_active, the host's cx_active and the load
 * balancer's count in step. */
/* An address of fd (getpeername or getsockname) into ip; left unknown (family 0) on error. */
void tp_conn_capture_ip(int fd, int (*get)(int, struct sockaddr *, socklen_t *), struct tp_ip *ip);

void tp_conn_upstream_active(struct tp_worker *w, struct tp_conn *c, bool on);

/* Completions and timers, passed to the connection's phase. */
void tp_conn_on_poll_in(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s, int res,
			bool final);
void tp_conn_on_poll_out(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s, int res);
void tp_conn_on_timer(struct tp_worker *w, struct tp_conn *c);
/* Another round for a connection that spent its budget (from the run queue). */
void tp_conn_on_run(struct tp_worker *w, struct tp_conn *c);

/* Ends the session: both sockets closed, stats settled, slot freed once io_uring is done. */
void tp_conn_close(struct tp_worker *w, struct tp_conn *c);
/* The worker is stopping: ends every connection still open (access log entries written,
 * filters told, memory they hold freed). */
void tp_conn_close_all(struct tp_worker *w);
/* Closes every connection of listener l (a removed LDS listener whose drain time is over). */
void tp_conn_close_listener(struct tp_worker *w, const struct tp_listener_rt *l);
/* Closes the open connections of cluster cl whose host has hc_failed_now set. */
void tp_conn_close_failed_hosts(struct tp_worker *w, const struct tp_cluster_rt *cl);
/* fn on every connection slot, free ones too (fn checks the phase): rare events only. */
void tp_conn_for_each(struct tp_worker *w, void (*fn)(struct tp_worker *w, struct tp_conn *c));
/* Frees the slot if nothing references it any more. */
void tp_conn_maybe_free(struct tp_worker *w, struct tp_conn *c);
/* Puts the connection on the run queue for another round after this loop pass. */
void tp_conn_queue(struct tp_worker *w, struct tp_conn *c);

/* A side that is there to read from and write to: a socket, or a side without one. */
static inline bool tp_side_open(const struct tp_side *sd)
{
	return sd->fd >= 0 || sd->nofd;
}

/* For a side without a socket (nofd): its transport's owner saw what (TP_WANT_READ: stream bytes
 * or their end arrived; TP_WANT_WRITE: it may take bytes again, or its end went out). The side is
 * marked as a poll would mark it and the connection runs from the run queue, where its handshake
 * (if it is still handshaking) or its phase takes it. Only marks and queues: safe from inside the
 * owner's own I/O. */
void tp_conn_side_wake(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s, unsigned what);

static inline bool tp_conn_closing(const struct tp_conn *c)
{
	return c->phase >= TP_PHASE_CLOSING;
}

#endif

/* Connection slots of a worker and the operations every part of a session shares. */
#ifndef TP_CONN_H
#define TP_CONN_H

#include "core/conn/conn-t.h"
#include "core/worker/worker-t.h"

#include <stdbool.h>

/* One worker per process: the loop and every handler run on this one. */
extern struct tp_worker *tp_self;

struct tp_conn *tp_conn_alloc(struct tp_worker *w);
/* The connection of a completion, or NULL if the slot has moved on (stale generation). */
struct tp_conn *tp_conn_lookup(struct tp_worker *w, uint32_t idx, uint32_t gen);

/* Runs the network filters from filter_pos on; one answering STOP holds the chain until it
 * calls this again (core/conn.c says how data goes through it). */
void tp_conn_continue(struct tp_worker *w, struct tp_conn *c);
/* Bytes were read before the upstream connected: offers them to the chain from its start. */
void tp_conn_deliver(struct tp_worker *w, struct tp_conn *c);

/* Arms a multishot POLLIN or a one-shot POLLOUT on one side's socket. */
void tp_conn_arm_poll_in(struct tp_worker *w, struct tp_conn *c, enum tp_side s);
void tp_conn_arm_poll_out(struct tp_worker *w, struct tp_conn *c, enum tp_side s);
/* Cancels what is armed on a side and closes its socket; abort sends RST (SO_LINGER 0). */
void tp_conn_close_side(struct tp_worker *w, struct tp_conn *c, enum tp_side s, bool abort);

/* Ends the session: both sockets closed, stats settled, slot freed once io_uring is done. */
void tp_conn_close(struct tp_worker *w, struct tp_conn *c);
/* Frees the slot if nothing references it any more. */
void tp_conn_maybe_free(struct tp_worker *w, struct tp_conn *c);
/* Puts the connection on the run queue for another relay round after this loop pass. */
void tp_conn_queue(struct tp_worker *w, struct tp_conn *c);

#endif

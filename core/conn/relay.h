/* The byte relay: readiness from io_uring, bytes by non-blocking splice(2) through pooled pipes,
 * or by recv/send through pooled buffers when no pipe can be had. */
#ifndef TP_RELAY_H
#define TP_RELAY_H

#include "core/conn/conn-t.h"
#include "core/worker/worker-t.h"

/* Both sockets are connected: start watching them. */
void tp_relay_start(struct tp_worker *w, struct tp_conn *c);
/* A POLLIN completion on side s (mask as poll(2) reports it). */
void tp_relay_on_readable(struct tp_worker *w, struct tp_conn *c, enum tp_side s, unsigned mask);
/* The POLLOUT completion armed on side s. */
void tp_relay_on_writable(struct tp_worker *w, struct tp_conn *c, enum tp_side s);
/* Another round for a connection that spent its budget (from the run queue). */
void tp_relay_resume(struct tp_worker *w, struct tp_conn *c);
/* Gives back both directions' pipes and buffers; bytes still held are dropped. */
void tp_relay_release(struct tp_worker *w, struct tp_conn *c);

#endif

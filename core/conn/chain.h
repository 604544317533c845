/* The network filter chain of a connection (after Envoy's FilterManagerImpl): starting the
 * filters, holding and resuming the chain, offering bytes read early, filters' timers, close. */
#ifndef TP_CHAIN_H
#define TP_CHAIN_H

#include "core/conn/conn-t.h"
#include "core/worker/worker-t.h"

struct tp_filter_timer;

/* The listener filters are done: picks the filter chain (Envoy's filter_chain_match, else the
 * default chain; with neither, the connection ends with NR), sets up the downstream's transport
 * and runs the chain. */
void tp_chain_select(struct tp_worker *w, struct tp_conn *c);
/* Runs the chain from where it was held (a filter's tp_filter_continue()). */
void tp_chain_continue(struct tp_worker *w, struct tp_conn *c);
/* Bytes were read before the upstream connected: offers them to the chain from its start. */
void tp_chain_deliver(struct tp_worker *w, struct tp_conn *c);
/* The connection is closing: every started filter's on_close, then its timer is cancelled. */
void tp_chain_close(struct tp_worker *w, struct tp_conn *c);
/* A filter's timer expired (from the worker's timer heap). */
void tp_chain_on_timer(struct tp_worker *w, struct tp_filter_timer *t);

#endif

/* The listener filters phase: before the filter chain is chosen, listener filters look at the
 * stream's first bytes, peeked without consuming them (Envoy's ListenerFilterBuffer). */
#ifndef TP_LISTENER_FILTERS_H
#define TP_LISTENER_FILTERS_H

#include "core/conn/conn-t.h"
#include "core/worker/worker-t.h"

/* A new connection: runs the listener's filters, or, with none, picks the chain at once. */
void tp_lfilters_start(struct tp_worker *w, struct tp_conn *c);
void tp_lfilters_on_readable(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s,
			     unsigned mask);
/* listener_filters_timeout: continue_on_listener_filters_timeout picks the chain with what
 * was found, else the connection is closed. */
void tp_lfilters_on_timer(struct tp_worker *w, struct tp_conn *c);

#endif

/* Listeners that come and go in a running worker (LDS): added and removed on the master's word,
 * without a restart. The registration walk of a listener's stats scopes is here too, so that
 * the master (which registers) and the worker (which replays the bases) walk alike. */
#ifndef TP_LISTENER_DYN_H
#define TP_LISTENER_DYN_H

#include "core/worker/listener_dyn-t.h"
#include "core/worker/worker-t.h"

#include <stdbool.h>
#include <stddef.h>

struct tp_stats;

/* Registers l's stats scopes, then its transports', its listener filters', its filters' (the
 * order static listeners have always been registered in). 0 or -errno. */
int tp_listener_register_stats(struct tp_stats *st, struct tp_listener_cfg *l);

/* The memory l's filters share across a generation's workers (connection_limit's counters),
 * each filter's part on its own cache lines, as core/master/generation.c lays out a static
 * listener's; and binding each filter to its part of mem. */
size_t tp_listener_shared_bytes(struct tp_listener_cfg *l);
void tp_listener_bind_shared(struct tp_listener_cfg *l, void *mem);

/* With LDS, a connection slot is sized when the worker starts for listeners that come later:
 * raises the room for filter state, the downstream transport's state and the listener
 * filters' peek, and asks for the connection info and a tunnel's state. */
void tp_lds_slot_room(uint32_t *filters, uint32_t *tstate_down, uint32_t *peek, bool *info,
		      bool *tunnels);
/* Whether a connection of l fits the slots w was sized with (tp_worker_size_slots()); if
 * not, why. The master asks before it accepts an update, on a worker it sized alike. */
bool tp_lds_fits(const struct tp_worker *w, const struct tp_listener_cfg *l, char *why,
		 size_t whylen);

/* An LDS message from the master (h->type TP_HS_LISTENER_*)? */
static inline bool tp_lds_is_msg(const struct tp_hs_head *h)
{
	return h->type == TP_HS_LISTENER_ADD || h->type == TP_HS_LISTENER_DEL;
}
/* Applies it; takes the descriptors it came with. */
void tp_lds_worker_msg(struct tp_worker *w, const struct tp_hs_head *h, size_t len, int *fds,
		       int nfds);
/* A removed listener may have ended (its accept done, its last connection freed): frees it. */
void tp_lds_listener_check(struct tp_worker *w, struct tp_listener_rt *l);
/* The drain time of the removed listener at idx (whose id has low bits id32) is over. */
void tp_lds_drain_deadline(struct tp_worker *w, uint32_t idx, uint32_t id32);
/* At exit: every LDS listener's configuration and contexts go. */
void tp_lds_worker_fini(struct tp_worker *w);

#endif

/* The LDS messages on the host-set channel (core/worker/hostset-t.h): the master adds and
 * removes a worker's dynamic listeners with them (core/master/lds.c, core/worker/listener_dyn.c).
 * Same machine, same build: host byte order. */
#ifndef TP_LISTENER_DYN_T_H
#define TP_LISTENER_DYN_T_H

#include "core/worker/hostset-t.h"

#include <stdint.h>

/* Types of their own, far from enum tp_hs_type's, so that the two sets grow apart. */
/* ADD carries, by SCM_RIGHTS: the listening socket, a sealed memfd of the response's text, and
 * when its filters count across workers (connection_limit) the memfd they share, one per
 * listener and generation. */
#define TP_HS_LISTENER_ADD 16
#define TP_HS_LISTENER_DEL 17

/* The most listeners an LDS response may hold, and the most a worker holds at once (draining
 * ones included); past it an update is refused. */
#define TP_LDS_MAX_LISTENERS 1024
/* The most stats scopes one listener registers (its own, its transports', its filters'). */
#define TP_LDS_MAX_BASES 256
/* The most descriptors one message carries: the host-set channel's limit. */
#define TP_LDS_MAX_FDS TP_HS_MAX_FDS
/* A Listener's text is at most this long (the resource as JSON). */
#define TP_LDS_MAX_TEXT (4u << 20)

struct tp_lds_msg {
	struct tp_hs_head h; /* h.version: the listener's id (ids are never reused); h.n: bases */
	uint64_t drain_ms;   /* DEL: how long its connections may still run (--drain-time-s) */
	uint32_t lm_base;    /* the listener_manager scope's base */
	uint32_t reserved;
	/* ADD: uint32_t bases[h.n], in the order of tp_listener_register_stats() */
};

#endif

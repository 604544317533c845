/* Receive before connect (Envoy's max_early_data_bytes, and the legacy filter-state key
 * envoy.tcp_proxy.receive_before_connect): what the downstream sends before the upstream is
 * connected is read into one buffer, offered to the filter chain, and written upstream first
 * once it connects; then the zero-copy relay takes over and the buffer is freed. */
#ifndef TP_EARLY_DATA_H
#define TP_EARLY_DATA_H

#include "core/conn/conn-t.h"
#include "core/worker/worker-t.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One read: also how far a read may overshoot the limit, as Envoy allows. */
#define TP_EARLY_READ_BYTES (16u * 1024u)

/* The buffer, allocated at the first early read and freed once flushed upstream. */
struct tp_early {
	uint32_t len;		   /* bytes held */
	uint32_t delivered;	   /* bytes the whole chain passed on to tcp_proxy */
	uint32_t sent;		   /* bytes written upstream */
	uint32_t cap;		   /* room in data */
	uint8_t eof : 1;	   /* the downstream's FIN was read */
	uint8_t eof_delivered : 1; /* ... and passed on to tcp_proxy */
	uint8_t paused : 1;	   /* reading stopped at the limit until the upstream connects */
	uint8_t data[];
};

/* Reads the downstream from now on, before the upstream connects. */
void tp_early_enable(struct tp_worker *w, struct tp_conn *c);

static inline bool tp_early_reading(const struct tp_conn *c)
{
	return (c->flags & TP_CF_EARLY) && c->state < TP_CONN_RELAY;
}

/* A POLLIN completion on the downstream while tp_early_reading(c). */
void tp_early_on_readable(struct tp_worker *w, struct tp_conn *c, unsigned mask);

/* What the chain has not passed on to tcp_proxy yet: false if nothing (no bytes, no FIN). */
bool tp_early_pending(const struct tp_conn *c, const uint8_t **data, size_t *len, bool *eos);
/* tcp_proxy takes what reached it (early_data_received_count_total, as Envoy counts it). */
void tp_early_take(struct tp_worker *w, struct tp_conn *c);
/* Everything read so far has reached tcp_proxy, so the relay may start. */
bool tp_early_delivered(const struct tp_conn *c);
/* Bytes tcp_proxy has taken so far (0 without a buffer). */
uint32_t tp_early_taken(const struct tp_conn *c);

/* The relay, before it reads the downstream: the early bytes and a FIN read early go first.
 * 0 when nothing early is left (reading resumes); -EAGAIN while the upstream is full (a POLLOUT
 * is armed); -errno when writing to the upstream failed. */
int tp_early_flush(struct tp_worker *w, struct tp_conn *c);
/* Drops what is held: the connection is closing. */
void tp_early_release(struct tp_worker *w, struct tp_conn *c);

#endif

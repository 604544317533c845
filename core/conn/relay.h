/* The byte engine of a connection: each direction's stage, filled from its source side and
 * drained into the other, by splice(2) through pooled pipes when both sides are raw, otherwise
 * by copy through the sides' transports. Bytes the client sends before the upstream exists
 * (receive before connect) fill the same stage. */
#ifndef TP_RELAY_H
#define TP_RELAY_H

#include "core/conn/conn-t.h"
#include "core/worker/worker-t.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One early read: also how far a read may overshoot the early-data limit, as Envoy allows. */
#define TP_EARLY_READ_BYTES (16u * 1024u)

/* Both sides are connected (and past their handshakes): stream bytes flow from now on. */
void tp_relay_start(struct tp_worker *w, struct tp_conn *c);
/* Readiness of side s in the relay phase (mask as poll(2) reports it). */
void tp_relay_on_readable(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s, unsigned mask);
void tp_relay_on_writable(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s);
/* Another round for a connection that spent its budget (from the run queue), or whose side
 * finished a handshake while relaying. */
void tp_relay_resume(struct tp_worker *w, struct tp_conn *c);
/* Gives back both directions' pipes and buffers; bytes still held are dropped. */
void tp_relay_release(struct tp_worker *w, struct tp_conn *c);

/* Receive before connect (Envoy's max_early_data_bytes; limit 0 for the legacy filter-state
 * key): the downstream is read into its direction's stage from now on, up to limit (checked
 * after each read, so one read may overshoot, as in Envoy), and each read is offered to the
 * filter chain. When the relay starts, the stage is simply drained upstream first. */
void tp_relay_early_enable(struct tp_worker *w, struct tp_conn *c, uint32_t limit);
/* Readiness of the downstream before the relay phase: read early if it does. */
void tp_relay_early_on_readable(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s,
				unsigned mask);
/* Writability of the downstream before the relay phase: an early read that waited for it. */
void tp_relay_early_on_writable(struct tp_worker *w, struct tp_conn *c, enum tp_side_id s);
/* Reading early was just turned on, or the chain just went on: reads what the downstream's
 * poll already reported (a listener filter took that wakeup), since no other will come. */
void tp_relay_early_kick(struct tp_worker *w, struct tp_conn *c);
/* What the chain has not passed on to tcp_proxy yet: false if nothing (no bytes, no FIN). */
bool tp_early_pending(const struct tp_conn *c, const uint8_t **data, size_t *len, bool *eos);
/* tcp_proxy takes what reached it (early_data_received_count_total, as Envoy counts it). */
void tp_early_take(struct tp_worker *w, struct tp_conn *c);
/* Everything read so far has reached tcp_proxy, so the relay may start. */
bool tp_early_delivered(const struct tp_conn *c);

#endif

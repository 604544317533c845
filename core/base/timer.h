/* A binary min-heap of deadlines. Connection timeouts are kept lazily: a connection's timer
 * holds its earliest possible deadline, and on expiry the owner re-checks and re-arms, so
 * activity on the data path never touches the heap. */
#ifndef TP_TIMER_H
#define TP_TIMER_H

#include "core/base/timer-t.h"

#include <stdbool.h>

void tp_timer_init(struct tp_timer *t);
void tp_timer_heap_init(struct tp_timer_heap *h);
void tp_timer_heap_destroy(struct tp_timer_heap *h);
/* Arms or re-arms t. 0, or -ENOMEM. */
int tp_timer_arm(struct tp_timer_heap *h, struct tp_timer *t, uint64_t deadline_ms);
void tp_timer_cancel(struct tp_timer_heap *h, struct tp_timer *t);
/* The earliest timer if it is due at now_ms (it is removed), else NULL. */
struct tp_timer *tp_timer_pop_due(struct tp_timer_heap *h, uint64_t now_ms);
/* Earliest deadline, or UINT64_MAX. */
uint64_t tp_timer_next(const struct tp_timer_heap *h);

static inline bool tp_timer_armed(const struct tp_timer *t)
{
	return t->heap_idx != TP_TIMER_IDLE;
}

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t tp_now_ms(void);

#endif

/* Backoff between attempts, as Envoy's JitteredExponentialBackOffStrategy computes it, and the
 * circuit-breaker counters workers share: both pure, so that they are tested without a ring. */
#ifndef TP_BACKOFF_H
#define TP_BACKOFF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* The bound of the n-th backoff (n from 0): base, doubled each time while below max / 2, else
 * max, exactly as Envoy's next_interval_ moves. base >= 1, max >= base. */
uint64_t tp_backoff_cap(uint64_t base, uint64_t max, uint32_t n);

/* The n-th backoff: fully jittered, rnd (uniform) modulo its cap, so in [0, cap). */
uint64_t tp_backoff_next(uint64_t base, uint64_t max, uint32_t n, uint64_t rnd);

/* One resource of a circuit breaker counted across the workers of a generation: one counter per
 * worker slot, each written by its worker only, summed at check time (as connection_limit
 * does). Counts one in slot and returns true when the sum of slots 0..n_slots-1 stays within
 * max; otherwise takes it back and returns false. *sum receives the sum seen. */
bool tp_cb_admit(_Atomic uint64_t *slots, unsigned slot, unsigned n_slots, uint64_t max,
		 uint64_t *sum);
/* Takes back one count of slot; returns the sum of the slots after. */
uint64_t tp_cb_release(_Atomic uint64_t *slots, unsigned slot, unsigned n_slots);

#endif

/* Jittered exponential backoff (Envoy's JitteredExponentialBackOffStrategy) and the shared
 * per-slot counters circuit breakers are checked against. */
#include "core/base/backoff.h"

uint64_t tp_backoff_cap(uint64_t base, uint64_t max, uint32_t n)
{
	uint64_t cap = base;

	/* Envoy: "if (next_interval_ < max_interval_ / 2) next_interval_ *= 2; else
	 * next_interval_ = max_interval_;", which cannot overflow. */
	for (uint32_t i = 0; i < n && cap < max; i++)
		cap = cap < max / 2 ? cap * 2 : max;
	return cap;
}

uint64_t tp_backoff_next(uint64_t base, uint64_t max, uint32_t n, uint64_t rnd)
{
	uint64_t cap = tp_backoff_cap(base, max, n);

	return cap ? rnd % cap : 0;
}

/* Sequentially consistent: of two workers counting at once, at least one sees the other's
 * count, so the sum never passes max (both may refuse). */
bool tp_cb_admit(_Atomic uint64_t *slots, unsigned slot, unsigned n_slots, uint64_t max,
		 uint64_t *sum)
{
	uint64_t s = 0;

	atomic_fetch_add(&slots[slot], 1);
	for (unsigned i = 0; i < n_slots; i++)
		s += atomic_load(&slots[i]);
	if (s <= max) {
		*sum = s;
		return true;
	}
	atomic_fetch_sub(&slots[slot], 1);
	*sum = s - 1;
	return false;
}

uint64_t tp_cb_release(_Atomic uint64_t *slots, unsigned slot, unsigned n_slots)
{
	uint64_t s = 0;

	atomic_fetch_sub(&slots[slot], 1);
	for (unsigned i = 0; i < n_slots; i++)
		s += atomic_load(&slots[i]);
	return s;
}

/* Types of the per-worker timer heap. */
#ifndef TP_TIMER_T_H
#define TP_TIMER_T_H

#include <stdint.h>

#define TP_TIMER_IDLE UINT32_MAX

/* Embedded in the object it times; the heap holds pointers to these. */
struct tp_timer {
	uint64_t deadline_ms; /* CLOCK_MONOTONIC milliseconds */
	uint32_t heap_idx;    /* TP_TIMER_IDLE when not armed */
	uint8_t kind;	      /* the owner's tag: which kind of object embeds it (the heap ignores
			       * it; whoever pops the timer dispatches on it) */
};

struct tp_timer_heap {
	struct tp_timer **v;
	uint32_t n;
	uint32_t cap;
};

#endif

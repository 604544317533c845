/* Binary min-heap of deadlines. */
#include "core/base/timer.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

void tp_timer_init(struct tp_timer *t)
{
	t->deadline_ms = 0;
	t->heap_idx = TP_TIMER_IDLE;
	t->kind = 0;
}

void tp_timer_heap_init(struct tp_timer_heap *h)
{
	h->v = NULL;
	h->n = h->cap = 0;
}

void tp_timer_heap_destroy(struct tp_timer_heap *h)
{
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}

static void place(struct tp_timer_heap *h, uint32_t i, struct tp_timer *t)
{
	h->v[i] = t;
	t->heap_idx = i;
}

static void sift_up(struct tp_timer_heap *h, uint32_t i)
{
	struct tp_timer *t = h->v[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (h->v[parent]->deadline_ms <= t->deadline_ms)
			break;
		place(h, i, h->v[parent]);
		i = parent;
	}
	place(h, i, t);
}

static void sift_down(struct tp_timer_heap *h, uint32_t i)
{
	struct tp_timer *t = h->v[i];

	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, min = i;
		uint64_t mind = t->deadline_ms;

		if (l < h->n && h->v[l]->deadline_ms < mind) {
			min = l;
			mind = h->v[l]->deadline_ms;
		}
		if (r < h->n && h->v[r]->deadline_ms < mind)
			min = r;
		if (min == i)
			break;
		place(h, i, h->v[min]);
		i = min;
	}
	place(h, i, t);
}

int tp_timer_arm(struct tp_timer_heap *h, struct tp_timer *t, uint64_t deadline_ms)
{
	if (tp_timer_armed(t)) {
		uint64_t old = t->deadline_ms;

		t->deadline_ms = deadline_ms;
		if (deadline_ms < old)
			sift_up(h, t->heap_idx);
		else
			sift_down(h, t->heap_idx);
		return 0;
	}
	if (h->n == h->cap) {
		uint32_t cap = h->cap ? h->cap * 2 : 64;
		struct tp_timer **v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	t->deadline_ms = deadline_ms;
	place(h, h->n++, t);
	sift_up(h, t->heap_idx);
	return 0;
}

void tp_timer_cancel(struct tp_timer_heap *h, struct tp_timer *t)
{
	uint32_t i = t->heap_idx;

	if (i == TP_TIMER_IDLE)
		return;
	t->heap_idx = TP_TIMER_IDLE;
	if (--h->n == i)
		return;
	place(h, i, h->v[h->n]);
	if (i > 0 && h->v[(i - 1) / 2]->deadline_ms > h->v[i]->deadline_ms)
		sift_up(h, i);
	else
		sift_down(h, i);
}

struct tp_timer *tp_timer_pop_due(struct tp_timer_heap *h, uint64_t now_ms)
{
	struct tp_timer *t;

	if (!h->n || h->v[0]->deadline_ms > now_ms)
		return NULL;
	t = h->v[0];
	tp_timer_cancel(h, t);
	return t;
}

uint64_t tp_timer_next(const struct tp_timer_heap *h)
{
	return h->n ? h->v[0]->deadline_ms : UINT64_MAX;
}

uint64_t tp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

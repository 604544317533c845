/* The master's poll(2) loop with one-shot timers. */
#include "core/base/mloop.h"

#include "core/base/timer.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

struct watch {
	int fd; /* -1: deleted, swept after the round */
	tp_mloop_fd_fn fn;
	void *arg;
};

struct mtimer {
	int64_t id;
	uint64_t at_ms;
	tp_mloop_timer_fn fn;
	void *arg;
};

struct tp_mloop {
	struct watch *w;
	struct pollfd *pfd;
	unsigned n, cap;
	struct mtimer *t;
	unsigned nt, capt;
	int64_t next_id;
};

struct tp_mloop *tp_mloop_new(void)
{
	return calloc(1, sizeof(struct tp_mloop));
}

void tp_mloop_free(struct tp_mloop *l)
{
	if (!l)
		return;
	free(l->w);
	free(l->pfd);
	free(l->t);
	free(l);
}

int tp_mloop_add(struct tp_mloop *l, int fd, unsigned events, tp_mloop_fd_fn fn, void *arg)
{
	unsigned i;

	for (i = 0; i < l->n; i++)
		if (l->w[i].fd == fd)
			goto out_set;
	if (l->n == l->cap) {
		unsigned cap = l->cap ? l->cap * 2 : 16;
		struct watch *w = realloc(l->w, cap * sizeof(*w));
		struct pollfd *p;

		if (!w)
			return -ENOMEM;
		l->w = w;
		p = realloc(l->pfd, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		l->pfd = p;
		l->cap = cap;
	}
	i = l->n++;
out_set:
	l->w[i].fd = fd;
	l->w[i].fn = fn;
	l->w[i].arg = arg;
	l->pfd[i].fd = fd;
	l->pfd[i].events = (short)events;
	l->pfd[i].revents = 0;
	return 0;
}

void tp_mloop_del(struct tp_mloop *l, int fd)
{
	for (unsigned i = 0; i < l->n; i++) {
		if (l->w[i].fd == fd) {
			l->w[i].fd = -1;
			l->pfd[i].fd = -1; /* poll(2) ignores negative descriptors */
		}
	}
}

static void sweep(struct tp_mloop *l)
{
	unsigned j = 0;

	for (unsigned i = 0; i < l->n; i++) {
		if (l->w[i].fd < 0)
			continue;
		l->w[j] = l->w[i];
		l->pfd[j] = l->pfd[i];
		j++;
	}
	l->n = j;
}

int64_t tp_mloop_at(struct tp_mloop *l, uint64_t at_ms, tp_mloop_timer_fn fn, void *arg)
{
	if (l->nt == l->capt) {
		unsigned cap = l->capt ? l->capt * 2 : 8;
		struct mtimer *t = realloc(l->t, cap * sizeof(*t));

		if (!t)
			return -ENOMEM;
		l->t = t;
		l->capt = cap;
	}
	l->t[l->nt].id = ++l->next_id;
	l->t[l->nt].at_ms = at_ms;
	l->t[l->nt].fn = fn;
	l->t[l->nt].arg = arg;
	l->nt++;
	return l->next_id;
}

void tp_mloop_cancel(struct tp_mloop *l, int64_t id)
{
	for (unsigned i = 0; i < l->nt; i++) {
		if (l->t[i].id == id) {
			l->t[i] = l->t[--l->nt];
			return;
		}
	}
}

/* Runs the earliest due timer; false when none is due. One at a time, because a handler may
 * add or cancel timers. */
static bool run_one_timer(struct tp_mloop *l, uint64_t now)
{
	unsigned best = l->nt;
	struct mtimer t;

	for (unsigned i = 0; i < l->nt; i++)
		if (l->t[i].at_ms <= now && (best == l->nt || l->t[i].at_ms < l->t[best].at_ms))
			best = i;
	if (best == l->nt)
		return false;
	t = l->t[best];
	l->t[best] = l->t[--l->nt];
	t.fn(l, t.arg);
	return true;
}

int tp_mloop_run_once(struct tp_mloop *l, int max_wait_ms)
{
	uint64_t now = tp_now_ms(), next = UINT64_MAX;
	int wait = max_wait_ms, ret;
	unsigned n;

	for (unsigned i = 0; i < l->nt; i++)
		if (l->t[i].at_ms < next)
			next = l->t[i].at_ms;
	if (next != UINT64_MAX) {
		int until = next > now ? (int)(next - now) : 0;

		if (wait < 0 || until < wait)
			wait = until;
	}
	ret = poll(l->pfd, l->n, wait);
	if (ret < 0 && errno != EINTR)
		return -errno;
	/* Handlers may add watches (growing the arrays): walk a snapshot of the count and
	 * re-read entries by index. */
	n = l->n;
	for (unsigned i = 0; ret > 0 && i < n; i++) {
		unsigned revents = (unsigned)l->pfd[i].revents;

		if (!revents || l->w[i].fd < 0)
			continue;
		l->pfd[i].revents = 0;
		l->w[i].fn(l, l->w[i].fd, revents, l->w[i].arg);
	}
	sweep(l);
	now = tp_now_ms();
	while (run_one_timer(l, now))
		;
	return 0;
}

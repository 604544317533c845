/* Per-worker pools of relay staging areas: buffers for the copy path every direction starts on,
 * pipes for the splice a bulk direction between raw sides turns to. */
#include "uring/pool.h"

#include "core/base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIN_PIPE_SIZE (64u * 1024u)

void tp_pipe_pool_init(struct tp_pipe_pool *pp, unsigned max_free, uint32_t want_size)
{
	pp->free = calloc(max_free ? max_free : 1, sizeof(*pp->free));
	pp->n_free = 0;
	pp->max_free = pp->free ? max_free : 0;
	pp->live = 0;
	pp->want_size = want_size;
	pp->small_fallbacks = 0;
}

static int new_pipe(struct tp_pipe_pool *pp, struct tp_pipe *out)
{
	int fds[2], size;

	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	/* Unprivileged users share a page budget for pipes (pipe(7), fs.pipe-user-pages-soft):
	 * past it the kernel refuses the resize and clamps new pipes to 2 pages. Root is exempt,
	 * so this path is only exercised by tests run as an ordinary user. */
	size = fcntl(fds[0], F_SETPIPE_SZ, pp->want_size);
	if (size < 0) {
		if (!pp->small_fallbacks++)
			tp_warn("pipes: %u KiB pipes refused (%s): the user's pipe page budget "
				"(fs.pipe-user-pages-soft) is spent; relaying through smaller "
				"pipes "
				"or by copying",
				pp->want_size / 1024, strerror(errno));
		size = fcntl(fds[0], F_GETPIPE_SZ);
	}
	if (size < (int)MIN_PIPE_SIZE) {
		/* A 2-page pipe moves 8 KiB per syscall pair: copying does better. */
		close(fds[0]);
		close(fds[1]);
		return -ENOBUFS;
	}
	out->rfd = fds[0];
	out->wfd = fds[1];
	out->size = (uint32_t)size;
	pp->live++;
	return 0;
}

int tp_pipe_get(struct tp_pipe_pool *pp, struct tp_pipe *out)
{
	if (pp->n_free) {
		*out = pp->free[--pp->n_free];
		return 0;
	}
	return new_pipe(pp, out);
}

void tp_pipe_discard(struct tp_pipe_pool *pp, struct tp_pipe *p)
{
	close(p->rfd);
	close(p->wfd);
	p->rfd = p->wfd = -1;
	pp->live--;
}

void tp_pipe_put(struct tp_pipe_pool *pp, struct tp_pipe *p)
{
	if (pp->n_free < pp->max_free) {
		pp->free[pp->n_free++] = *p;
		p->rfd = p->wfd = -1;
		return;
	}
	tp_pipe_discard(pp, p);
}

void tp_pipe_pool_destroy(struct tp_pipe_pool *pp)
{
	while (pp->n_free)
		tp_pipe_discard(pp, &pp->free[--pp->n_free]);
	free(pp->free);
	pp->free = NULL;
}

void tp_buf_pool_init(struct tp_buf_pool *bp, unsigned max_free, size_t size)
{
	bp->free = calloc(max_free ? max_free : 1, sizeof(*bp->free));
	bp->n_free = 0;
	bp->max_free = bp->free ? max_free : 0;
	bp->live = 0;
	bp->size = size;
}

void *tp_buf_get(struct tp_buf_pool *bp)
{
	void *b;

	if (bp->n_free)
		return bp->free[--bp->n_free];
	b = malloc(bp->size);
	if (b)
		bp->live++;
	return b;
}

void tp_buf_put(struct tp_buf_pool *bp, void *buf)
{
	if (bp->n_free < bp->max_free) {
		bp->free[bp->n_free++] = buf;
		return;
	}
	free(buf);
	bp->live--;
}

void tp_buf_pool_destroy(struct tp_buf_pool *bp)
{
	while (bp->n_free) {
		free(bp->free[--bp->n_free]);
		bp->live--;
	}
	free(bp->free);
	bp->free = NULL;
}

/* Per-worker pools: pipes for the zero-copy relay and buffers for the copy path.
 *
 * Both are lent only while bytes are in flight and returned once drained, so an idle
 * connection holds neither (DESIGN.md invariants). */
#ifndef TP_POOL_H
#define TP_POOL_H

#include "uring/pool-t.h"

void tp_pipe_pool_init(struct tp_pipe_pool *pp, unsigned max_free, uint32_t want_size);
/* An empty pipe of at least 64 KiB, or -errno: then the caller copies instead. */
int tp_pipe_get(struct tp_pipe_pool *pp, struct tp_pipe *out);
/* Returns an empty pipe to the pool. */
void tp_pipe_put(struct tp_pipe_pool *pp, struct tp_pipe *p);
/* Closes a pipe that may still hold bytes (its connection was aborted). */
void tp_pipe_discard(struct tp_pipe_pool *pp, struct tp_pipe *p);
void tp_pipe_pool_destroy(struct tp_pipe_pool *pp);

void tp_buf_pool_init(struct tp_buf_pool *bp, unsigned max_free, size_t size);
void *tp_buf_get(struct tp_buf_pool *bp);
void tp_buf_put(struct tp_buf_pool *bp, void *buf);
void tp_buf_pool_destroy(struct tp_buf_pool *bp);

#endif

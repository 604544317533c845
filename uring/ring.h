/* Ring setup with feature probing, and SQE allocation that never fails for lack of room. */
#ifndef TP_RING_H
#define TP_RING_H

#include <liburing.h>
#include <stddef.h>

/* Checks that this process may create an io_uring at all. 0, or -errno with a sentence in err
 * naming the cause (no kernel support, kernel.io_uring_disabled, seccomp). */
int tp_ring_check_available(char *err, size_t errlen);

/* Sets up a worker's ring with the best flags the kernel has, logging each fallback. */
int tp_ring_init(struct io_uring *ring, unsigned entries, char *err, size_t errlen);

/* An SQE, submitting what is queued first if the submission queue is full. */
struct io_uring_sqe *tp_ring_get_sqe(struct io_uring *ring);

/* Reserves n SQEs in one submission window, so a linked chain is never split. */
void tp_ring_reserve(struct io_uring *ring, unsigned n);

/* Closes fd with the next submission instead of a syscall now: two syscalls fewer per
 * connection, batched with everything else the loop submits. Success posts no completion; a
 * failure posts one to be ignored. IORING_OP_CLOSE of a socket runs inline, in submission order.
 * (Not IORING_OP_SHUTDOWN: it always goes to an io-wq thread, so it can run after a later close
 * and hit a reused fd number.) */
void tp_ring_close(struct io_uring *ring, int fd);

#endif

/* Ring setup with feature probing, and SQE allocation for the worker loop. */
#include "uring/ring.h"

#include "core/base/log.h"
#include "uring/udata.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int read_io_uring_disabled(void)
{
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
	int v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

int tp_ring_check_available(char *err, size_t errlen)
{
	struct io_uring ring;
	int ret, disabled;

	ret = io_uring_queue_init(2, &ring, 0);
	if (ret == 0) {
		io_uring_queue_exit(&ring);
		return 0;
	}
	disabled = read_io_uring_disabled();
	if (ret == -ENOSYS)
		snprintf(err, errlen,
			 "io_uring is unavailable: this kernel has no io_uring "
			 "(io_uring_setup: ENOSYS); tcpproxy needs Linux 6.0 or later");
	else if ((ret == -EPERM || ret == -EACCES) && disabled > 0)
		snprintf(err, errlen,
			 "io_uring is unavailable: disabled by sysctl kernel.io_uring_disabled=%d "
			 "(io_uring_setup: %s); set it to 0 to run tcpproxy",
			 disabled, strerror(-ret));
	else if (ret == -EPERM || ret == -EACCES)
		snprintf(err, errlen,
			 "io_uring is unavailable: io_uring_setup was refused (%s), most likely by "
			 "a "
			 "seccomp filter (container runtimes block io_uring by default)",
			 strerror(-ret));
	else
		snprintf(err, errlen, "io_uring is unavailable: io_uring_setup failed: %s",
			 strerror(-ret));
	return ret;
}

int tp_ring_init(struct io_uring *ring, unsigned entries, char *err, size_t errlen)
{
	struct io_uring_params p;
	int ret;

	/* SINGLE_ISSUER: only this worker's one thread submits, which lets the kernel skip locking.
	 * DEFER_TASKRUN: completion work runs only when we enter to wait, in batches, instead of
	 * interrupting the loop (needs SINGLE_ISSUER). CQSIZE at 4x the SQ: a multishot poll or
	 * accept can post many completions per submission, and an overflowing CQ costs extra work.
	 * SUBMIT_ALL: keep submitting the rest of a batch if one SQE fails early. */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE |
		  IORING_SETUP_SUBMIT_ALL;
	p.cq_entries = entries * 4;
	ret = io_uring_queue_init_params(entries, ring, &p);
	if (ret == -EINVAL) {
		/* Kernels before 6.1: COOP_TASKRUN (5.19) at least avoids forced IPIs. */
		tp_info("io_uring: SINGLE_ISSUER|DEFER_TASKRUN unavailable, using COOP_TASKRUN");
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE;
		p.cq_entries = entries * 4;
		ret = io_uring_queue_init_params(entries, ring, &p);
	}
	if (ret == -EINVAL) {
		tp_info("io_uring: COOP_TASKRUN unavailable, using default setup flags");
		memset(&p, 0, sizeof(p));
		ret = io_uring_queue_init_params(entries, ring, &p);
	}
	if (ret < 0) {
		snprintf(err, errlen, "io_uring_setup: %s", strerror(-ret));
		return ret;
	}
	if (!(p.features & IORING_FEAT_FAST_POLL))
		tp_warn("io_uring: kernel lacks FEAT_FAST_POLL; connects will use io-wq threads");
	return 0;
}

struct io_uring_sqe *tp_ring_get_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	while (!sqe) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
	}
	return sqe;
}

void tp_ring_reserve(struct io_uring *ring, unsigned n)
{
	if (io_uring_sq_space_left(ring) < n)
		io_uring_submit(ring);
}

void tp_ring_close(struct io_uring *ring, int fd)
{
	struct io_uring_sqe *sqe = tp_ring_get_sqe(ring);

	io_uring_prep_close(sqe, fd);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data64(sqe, tp_udata(TP_OP_IGNORE, 0, 0, 0));
}

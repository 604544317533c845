/* Types of the per-worker pools that lend relay staging areas: pipes and copy buffers. */
#ifndef TP_POOL_T_H
#define TP_POOL_T_H

#include <stddef.h>
#include <stdint.h>

struct tp_pipe {
	int rfd;
	int wfd;
	uint32_t size; /* capacity as F_GETPIPE_SZ reports it */
};

struct tp_pipe_pool {
	struct tp_pipe *free; /* empty pipes kept for reuse, at most max_free */
	unsigned n_free;
	unsigned max_free;
	unsigned live;		  /* pipes lent out or kept: what this worker holds */
	uint32_t want_size;	  /* 1 MiB: half the CPU per GB of 64 KiB on loopback (DESIGN.md) */
	uint64_t small_fallbacks; /* times F_SETPIPE_SZ was refused (unprivileged page budget) */
};

struct tp_buf_pool {
	void **free;
	unsigned n_free;
	unsigned max_free;
	unsigned live;
	size_t size;
};

#endif

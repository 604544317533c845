/* io_uring user_data: which operation of which connection slot, and the slot's generation.
 *
 * A slot is reused once its connection is freed; the generation lets a completion that outlives
 * its connection (it cannot, by the inflight count, but a bug could make it) be recognised. */
#ifndef TP_UDATA_H
#define TP_UDATA_H

#include <stdint.h>

enum tp_op {
	TP_OP_IGNORE,	       /* cancel requests and other fire-and-forget ops */
	TP_OP_ACCEPT,	       /* idx = listener index */
	TP_OP_ACCEPT_RESUME,   /* timeout that re-arms a paused accept; idx = listener index */
	TP_OP_POLL_IN,	       /* multishot readiness of one side's socket */
	TP_OP_POLL_OUT,	       /* one-shot writability of one side's socket */
	TP_OP_CONNECT,	       /* upstream connect */
	TP_OP_CONNECT_TIMEOUT, /* its linked timeout */
	TP_OP_SIGNAL,	       /* the worker's signalfd is readable */
	TP_OP_LOG_WRITE,       /* an access log write; idx = log file index */
	TP_OP_HOSTSET,	       /* the host-set socket from the master is readable */
	TP_OP_H2,	       /* a shared HTTP/2 connection's own ops (core/tunnel/h2.c); idx =
				* its slot << 2 | which op, gen = its generation */
};

/* op:4 side:1 idx:27 gen:32 */
static inline uint64_t tp_udata(enum tp_op op, unsigned side, uint32_t idx, uint32_t gen)
{
	return (uint64_t)op | (uint64_t)(side & 1) << 4 | (uint64_t)(idx & 0x7ffffff) << 5 |
	       (uint64_t)gen << 32;
}

static inline enum tp_op tp_udata_op(uint64_t u)
{
	return (enum tp_op)(u & 0xf);
}

static inline unsigned tp_udata_side(uint64_t u)
{
	return (u >> 4) & 1;
}

static inline uint32_t tp_udata_idx(uint64_t u)
{
	return (uint32_t)(u >> 5) & 0x7ffffff;
}

static inline uint32_t tp_udata_gen(uint64_t u)
{
	return (uint32_t)(u >> 32);
}

#endif

/* The live connection view's wire format: what a worker writes, on request, about each of its
 * open sessions into a memfd the master made for it, and the master reads back. Everything in
 * it is untrusted by the master: a worker runs as --user and serves peers. Names are not
 * written, only indexes into the generation's configuration, which the master has itself. */
#ifndef TP_CONNVIEW_T_H
#define TP_CONNVIEW_T_H

#include <stdint.h>

#define TP_CONNVIEW_MAGIC   0x56435054u /* "TPCV" */
#define TP_CONNVIEW_VERSION 1
/* The most sessions one worker writes per request; past it the snapshot says it is cut. */
#define TP_CONNVIEW_MAX	 (1u << 18)
#define TP_CONNVIEW_NONE UINT32_MAX /* no listener, cluster or host (yet) */
/* A listener from LDS is not in the generation's configuration: its id's low 31 bits with this
 * bit set, which the master knows it by (core/master/lds.c). */
#define TP_CONNVIEW_LDS 0x80000000u

/* The memfd starts with this header. The master writes req_seq, then sends SIGUSR2; the worker
 * writes its records after the header and then the header, done_seq = req_seq, and writes 'S'
 * on its control pipe. */
struct tp_connview_hdr {
	uint32_t magic;
	uint32_t version;
	uint64_t req_seq;   /* the master's, before it asks */
	uint64_t done_seq;  /* the worker's: the request this snapshot answers */
	uint32_t rec_size;  /* sizeof(struct tp_connview_rec) */
	uint32_t n;	    /* records that follow */
	uint32_t truncated; /* sessions left out past TP_CONNVIEW_MAX */
	uint32_t pad;
};

struct tp_connview_addr {
	uint8_t family; /* AF_INET, AF_INET6; 0: none */
	uint8_t pad;
	uint16_t port; /* host order */
	uint8_t addr[16];
};

enum tp_connview_flag {
	TP_CONNVIEW_FLUSHING = 1 << 0,	   /* downstream gone, still writing upstream */
	TP_CONNVIEW_UP_CONNECTED = 1 << 1, /* the upstream is connected */
	TP_CONNVIEW_CHAIN_HELD = 1 << 2,   /* a filter holds the chain */
};

struct tp_connview_rec {
	uint64_t id;		/* %CONNECTION_ID%; 0 before the chain ran */
	uint64_t age_ms;	/* since the accept */
	uint64_t idle_ms;	/* since a byte last moved either way */
	uint64_t rx_bytes;	/* from downstream */
	uint64_t tx_bytes;	/* to downstream */
	uint32_t buffered_up;	/* read from downstream, not yet written upstream */
	uint32_t buffered_down; /* read from upstream, not yet written downstream */
	uint32_t listener;	/* index in the generation's listeners, TP_CONNVIEW_LDS | id,
				 * or TP_CONNVIEW_NONE */
	uint32_t cluster;	/* index in its clusters */
	uint32_t host;		/* index in that cluster's endpoints */
	uint8_t phase;		/* enum tp_phase */
	uint8_t flags;		/* enum tp_connview_flag */
	uint16_t pad;
	struct tp_connview_addr down_remote; /* the client */
	struct tp_connview_addr down_local;  /* the listener's address it reached */
	struct tp_connview_addr up_local;    /* our end of the upstream connection */
};

#endif

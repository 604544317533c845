/* Types of a worker process: its ring, its listeners, its connections and pools. */
#ifndef TP_WORKER_T_H
#define TP_WORKER_T_H

#include "core/config/config-t.h"
#include "core/conn/conn-t.h"
#include "core/worker/lb-t.h"
#include "core/base/timer-t.h"
#include "uring/pool-t.h"

#include <liburing.h>
#include <stdbool.h>

struct tp_stats_block;
struct tp_h2_pool; /* core/tunnel/h2.c */

struct tp_listener_rt {
	const struct tp_listener_cfg *cfg;
	uint32_t idx;
	int fd;
	bool accepting; /* a multishot accept is armed */
	bool paused;	/* out of file descriptors: accept resumes after a pause */
	uint64_t last_err_log_ms;
	uint32_t errs_unlogged; /* errors since the last warning (one a second at most) */
	/* An LDS listener (core/worker/listener_dyn.c); all zero for a static one. */
	uint64_t dyn_id;	   /* the master's id of this version of it; 0: static */
	struct tp_config *dyn_cfg; /* its own configuration (an overlay of the generation's) */
	uint32_t n_conns;	   /* its connections not freed yet */
	bool removed;		   /* no more accepts; it goes with its last connection */
	struct __kernel_timespec drain_ts; /* removed: how long its connections may run on */
	void *shm; /* the memory its filters share with the generation's other workers */
	size_t shm_len;
};

#define TP_CONN_CHUNK 256

struct tp_worker {
	unsigned slot;
	unsigned n_slots; /* workers in its generation: the slots shared counters are summed over */
	struct io_uring ring;
	const struct tp_config *cfg;
	struct tp_stats_block *stats;
	struct tp_listener_rt *listeners; /* static ones, then LDS ones; never moved */
	size_t n_listeners;
	size_t n_static;	   /* the configuration's listeners, first in listeners */
	size_t cap_listeners;	   /* room in listeners (LDS ones come and go) */
	struct tp_stats *seg;	   /* the stats segment, for an LDS listener's scopes */
	uint32_t n_tctx;	   /* entries in tctx */
	uint32_t filter_room;	   /* a slot's room for the chain's (or listener filters') state */
	bool tunnel_room;	   /* a slot has room for a tunnel's state */
	unsigned lds_format_needs; /* what LDS listeners' formats read (enum tp_fmt_need) */
	struct tp_cluster_rt *clusters; /* parallel to cfg->clusters */
	/* CDS clusters by name (open addressing over a power of two, NULL: empty), and the version
	 * of the master's set they are (core/worker/cds.c) */
	struct tp_cluster_rt **dyn;
	uint32_t dyn_cap;
	uint32_t n_dyn;
	uint64_t cds_version;
	/* CDS clusters replaced or removed that connections still hold, and whether the master
	 * has yet to hear the oldest set they came from (send_reports()) */
	struct tp_cluster_rt *cds_retired;
	bool cds_low_dirty;
	/* the generation's breakers for CDS clusters, TP_CDS_MAX_BREAKERS of them */
	struct tp_cb_shared *cds_cb;
	uint32_t n_od_wait;	 /* connections waiting for an on-demand cluster (od_wait) */
	struct tp_conn **chunks; /* connection slots, TP_CONN_CHUNK per chunk, never moved */
	uint32_t n_chunks;
	/* A slot is a struct tp_conn, then each side's transport state, then the chain's filter
	 * state (core/conn/conn.c: tp_conn_extra()); sized once from the configuration. */
	uint32_t conn_size;
	uint32_t tstate_bytes[2]; /* per side: the largest transport state it may need */
	uint32_t info_off;	  /* where struct tp_conn_info sits in a slot; 0: it has none */
	uint8_t *peek_buf;	  /* listener filters' view of a stream's first bytes */
	void **tctx;		  /* per transport configuration (tp_transport_cfg.idx), or NULL */
	uint32_t peek_cap;
	struct tp_conn *free_conns;
	uint32_t n_conns;	   /* connections not yet freed */
	struct tp_conn *runq_head; /* connections whose relay spent its round budget */
	struct tp_conn *runq_tail;
	struct tp_timer_heap timers;
	struct tp_pipe_pool pipes;
	struct tp_buf_pool bufs;
	struct tp_h2_pool *h2; /* shared upstream HTTP/2 connections, made on first use */
	int sigfd;	       /* SIGTERM and SIGINT, read through the ring */
	int ctl_fd;	 /* to the master: 'R' when ready, 'S' when a connection view is written */
	int view_fd;	 /* the connection view's memfd (SIGUSR2), or -1 */
	int hs_fd;	 /* host sets from the master (core/worker/hostset-t.h), or -1 */
	uint8_t *hs_buf; /* one message of it */
	/* Outlier detection's input: this loop turn's connect results per host, sent to the
	 * master at the end of the turn (TP_HS_REPORT; dropped when its socket is full) */
	struct tp_hs_report *od;
	uint32_t n_od;
	bool accepting;	 /* the master's TP_HS_READY came: accepts are armed */
	uint64_t now_ms; /* refreshed once per loop iteration */
	bool stopping;	 /* SIGTERM/SIGINT: leave the loop now */
	bool draining;	 /* SIGQUIT: not accepting; leave once the last connection ends */
};

/* What the formats of the listeners this worker serves read, static and LDS: what each
 * connection records for them. */
static inline unsigned tp_worker_format_needs(const struct tp_worker *w)
{
	return w->cfg->format_needs | w->lds_format_needs;
}

#endif

/* A worker process: one io_uring loop serving its own SO_REUSEPORT listening sockets. */
#ifndef TP_WORKER_H
#define TP_WORKER_H

#include "core/worker/worker-t.h"

#include <stdbool.h>
#include <sys/types.h>

struct tp_stats;

struct tp_worker_args {
	const struct tp_config *cfg;
	unsigned slot;	       /* worker slot in its generation: which listening sockets */
	unsigned n_slots;      /* the generation's workers (--concurrency) */
	unsigned stats_slot;   /* which block of the stats segment this worker writes */
	const int *listen_fds; /* one per listener, this slot's */
	struct tp_stats *stats;
	pid_t master_pid;
	int ready_fd; /* control pipe to the master: 'R' once accepting, 'S' after each snapshot
		       * of the connection view (non-blocking) */
	int view_fd;  /* memfd for the connection view, written on SIGUSR2; -1: none */
	int hs_fd;    /* SOCK_SEQPACKET from the master: host sets, then READY; -1: none (the
		       * worker serves at once with its clusters as configured) */
	struct tp_cb_shared *cds_cb; /* [TP_CDS_MAX_BREAKERS]: CDS clusters' breakers; NULL: none */
	bool drop_privileges;
	uid_t uid;
	gid_t gid;
};

/* Runs the worker until SIGTERM or SIGINT, or until it has drained after SIGQUIT; returns the
 * process exit status. */
int tp_worker_run(const struct tp_worker_args *a);

/* A connection of listener (its index) could not get a descriptor (err: -EMFILE, ...) for
 * what: counts listener.downstream_cx_overflow, pauses that listener's accepts and warns at
 * most once a second. */
void tp_worker_out_of_fds(struct tp_worker *w, uint32_t listener, int err, const char *what);

/* l accepts from now on (once the worker serves and unless it drains) / stops accepting: its
 * socket is closed once its armed accept, if any, has completed. */
void tp_worker_listen(struct tp_worker *w, struct tp_listener_rt *l);
void tp_worker_unlisten(struct tp_worker *w, struct tp_listener_rt *l);

/* Sizes a connection slot from the configuration: struct tp_conn, then the largest transport
 * state of each side, the largest chain's filter state, and the connection info when a
 * listener filter or a transport other than raw_buffer may fill it. */
void tp_worker_size_slots(struct tp_worker *w, const struct tp_config *cfg);

/* One pass of the loop: due timers, the run queue, access-log writes, then submit, wait for
 * completions (up to max_wait_ms when it is not negative) and dispatch them. tp_worker_run()
 * turns it until the worker stops; unit tests turn it on a worker they built by hand. */
void tp_worker_turn(struct tp_worker *w, int max_wait_ms);

struct tp_cluster_rt;
struct tp_host_rt;
/* A connect attempt to host h of cluster cl ended: failure, or connected. Counted for the master's
 * outlier detection when cl has it. */
void tp_worker_connect_result(struct tp_worker *w, const struct tp_cluster_rt *cl,
			      const struct tp_host_rt *h, bool failure);

#endif

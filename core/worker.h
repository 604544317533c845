/* A worker process: one io_uring loop serving its own SO_REUSEPORT listening sockets. */
#ifndef TP_WORKER_H
#define TP_WORKER_H

#include "core/worker-t.h"

#include <sys/types.h>

struct tp_stats;

struct tp_worker_args {
	const struct tp_config *cfg;
	unsigned slot;	       /* worker slot: which listening sockets and stats block are ours */
	const int *listen_fds; /* one per listener, this slot's */
	struct tp_stats *stats;
	pid_t master_pid;
};

/* Runs the worker until SIGTERM or SIGINT; returns the process exit status. */
int tp_worker_run(const struct tp_worker_args *a);

#endif

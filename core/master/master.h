/* The master process: binds, forks and supervises workers, owns the stats segment. */
#ifndef TP_MASTER_H
#define TP_MASTER_H

#include "core/config/config-t.h"

#include <stdbool.h>
#include <sys/types.h>

struct tp_master_opts {
	const char *config_path;
	unsigned concurrency;
	unsigned base_id;
	const char *stats_socket;	   /* --stats-socket; NULL: tp_stats_socket_default() */
	const char *pid_file;		   /* --pid-file; NULL: none */
	const char *log_level;		   /* --log-level as given, for /server_info */
	unsigned drain_time_s;		   /* --drain-time-s: how long an old generation drains */
	unsigned max_draining_generations; /* --max-draining-generations */
	bool drop_privileges;		   /* --user/--group given: workers run as uid/gid */
	uid_t uid;
	gid_t gid;
};

/* Runs until SIGTERM or SIGINT; returns the process exit status (0, or 1 on start-up failure). */
int tp_master_run(struct tp_config *cfg, const struct tp_master_opts *opts);

#endif

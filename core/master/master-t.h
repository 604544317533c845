/* What the master shows its services (stats socket, admin endpoint): kept current by the
 * master, read by the services from the same process. */
#ifndef TP_MASTER_T_H
#define TP_MASTER_T_H

#include <stdbool.h>
#include <stdint.h>

struct tp_stats;
struct tp_config;

struct tp_master_view {
	struct tp_stats *stats;
	const struct tp_config *cfg; /* the serving generation's configuration */
	unsigned concurrency;
	unsigned base_id;
	uint64_t start_unix_ms;
	uint32_t epoch;	       /* server.hot_restart_epoch: successful reloads so far */
	unsigned workers_live; /* workers of the serving generation that are up and ready */
	const char *state;     /* Envoy's server state: "LIVE", "DRAINING", "INITIALIZING" */
	uint64_t reloads_failed;
	uint64_t last_reload_unix_ms; /* 0: never reloaded */
	bool last_reload_ok;
	char last_reload_error[256];
};

#endif

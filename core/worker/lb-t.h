/* Types of a worker's view of a cluster: hosts with this worker's active counts, LB state. */
#ifndef TP_LB_T_H
#define TP_LB_T_H

#include "core/config/config-t.h"

#include <linux/time_types.h>
#include <stdbool.h>
#include <stdint.h>

struct tp_host_rt {
	const struct tp_endpoint_cfg *cfg;
	uint32_t active;	/* this worker's open upstream connections to the host */
	int64_t current_weight; /* smooth weighted round robin */
};

struct tp_cluster_rt {
	const struct tp_cluster_cfg *cfg;
	struct tp_host_rt *hosts;
	uint32_t n_hosts;
	uint32_t rr_next;
	bool equal_weights;
	uint64_t total_weight;
	struct __kernel_timespec connect_timeout; /* connect_timeout, as io_uring takes it */
};

#endif

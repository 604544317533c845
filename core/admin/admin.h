/* The admin request handler: one function answers a request the same way whether it came over
 * the admin endpoint (admin.address) or the stats socket (tcpproxy-stat): /stats (text, json,
 * prometheus), /stats/prometheus, /ready, /server_info, /clusters, and the / index. */
#ifndef TP_ADMIN_H
#define TP_ADMIN_H

#include "core/config/config-t.h"
#include "core/master/master-t.h"
#include "core/base/sbuf-t.h"

struct tp_stats;

struct tp_admin_resp {
	int status;
	const char *content_type;
	const char *extra_headers; /* "Name: value\r\n" lines, or NULL */
	struct tp_sbuf body;	   /* freed by the caller */
};

/* Answers one request (method and origin-form target as parsed). Never fails: out of memory
 * gives a 500. Reads the stats segment and refreshes the server.* gauges the master computes at
 * read time (uptime, version, total_connections, memory_allocated). */
void tp_admin_handle(const struct tp_master_view *v, const char *method, const char *target,
		     struct tp_admin_resp *out);

/* Master, before forking workers: registers the host scope "<cluster>::<address>" of each of the
 * cluster's endpoints and stores its base in the endpoint. 0 or -errno (tp_stats_scope()). */
int tp_admin_register_hosts(struct tp_stats *st, struct tp_cluster_cfg *cl);

#endif

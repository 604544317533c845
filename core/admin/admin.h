/* The admin request handler: one function answers a request the same way whether it came over
 * the admin endpoint (admin.address) or the stats socket (tcpproxy-stat): /stats (text, json,
 * prometheus), /stats/prometheus, /ready, /server_info, /clusters, and the / index. */
#ifndef TP_ADMIN_H
#define TP_ADMIN_H

#include "core/config/config-t.h"
#include "core/master/master-t.h"
#include "core/base/sbuf-t.h"

#include <stdbool.h>
#include <stdint.h>

struct tp_stats;

struct tp_admin_resp {
	int status;
	const char *content_type;
	const char *extra_headers; /* "Name: value\r\n" lines, or NULL */
	struct tp_sbuf body;	   /* freed by the caller */
};

enum tp_admin_check {
	TP_ADMIN_ANSWERED,    /* out holds the answer (404, 405) */
	TP_ADMIN_NOW,	      /* tp_admin_handle() answers it now */
	TP_ADMIN_CONNECTIONS, /* /connections: the workers are asked first (tp_admin_connections) */
};

/* Finds the route of a request and checks its method: mutating routes take POST only, the
 * others GET or HEAD, as Envoy's admin does. may_change: whether this client may use the
 * mutating routes at all (403 if not): on the stats socket, root or the master's own uid. */
enum tp_admin_check tp_admin_check(const char *method, const char *target, bool may_change,
				   struct tp_admin_resp *out);

/* Answers one request (method and origin-form target as parsed) that tp_admin_check() finds
 * answerable now. Never fails: out of memory gives a 500. Reads the stats segment and refreshes
 * the server.* gauges the master computes at read time (uptime, version, total_connections,
 * memory_allocated). */
void tp_admin_handle(const struct tp_master_view *v, const char *method, const char *target,
		     bool may_change, struct tp_admin_resp *out);

/* GET /connections (core/admin/connections.c): first the query is checked (0, or -EINVAL with
 * out holding a 400); then, once the master has the workers' answers, the view is rendered:
 * ?format=text|json, ?filter=REGEX (on the whole text line: any field), ?sort=age|bytes,
 * ?limit=N. */
int tp_admin_connections_check(const char *target, struct tp_admin_resp *out);
void tp_admin_connections(const struct tp_master_view *v, const char *target,
			  const struct tp_conn_list *list, struct tp_admin_resp *out);

/* GET /config_dump (core/admin/config_dump.c). */
void tp_admin_config_dump(const struct tp_master_view *v, const char *query,
			  struct tp_admin_resp *out);

/* Open downstream connections: the sum of every listener's downstream_cx_active. */
uint64_t tp_admin_open_connections(struct tp_stats *st);

/* Master, before forking workers: registers the host scope "<cluster>::<address>" of each of the
 * cluster's endpoints and stores its base in the endpoint. 0 or -errno (tp_stats_scope()). */
int tp_admin_register_hosts(struct tp_stats *st, struct tp_cluster_cfg *cl);

#endif

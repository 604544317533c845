/* The admin routes, shared by the admin endpoint and the stats socket. Each answer is computed
 * from one snapshot of the stats segment, taken when the request is complete. */
#include "core/admin/admin.h"
#include "core/base/version.h"
#include "core/config/config.h"

#include "core/base/http.h"
#include "core/base/match.h"
#include "core/base/sbuf.h"
#include "core/base/timer.h"
#include "shm/stats.h"
#include "shm/stats_fmt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CT_TEXT	      "text/plain; charset=UTF-8"
#define CT_JSON	      "application/json"
#define CT_PROMETHEUS "text/plain; version=0.0.4; charset=utf-8"

int tp_admin_register_hosts(struct tp_stats *st, struct tp_cluster_cfg *cl)
{
	char name[TP_STATS_NAME_MAX];
	int ret;

	for (size_t i = 0; i < cl->n_endpoints; i++) {
		struct tp_endpoint_cfg *ep = &cl->endpoints[i];

		if (snprintf(name, sizeof(name), "%s::%s", cl->name, ep->addr.text) >=
		    (int)sizeof(name))
			return -ENAMETOOLONG;
		ret = tp_stats_scope(st, TP_SCOPE_HOST, name, &ep->stats_base);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static void reply(struct tp_admin_resp *out, int status, const char *content_type)
{
	out->status = status;
	out->content_type = content_type;
}

static void reply_text(struct tp_admin_resp *out, int status, const char *fmt, const char *arg)
{
	reply(out, status, CT_TEXT);
	tp_sbuf_printf(&out->body, fmt, arg);
}

/* Envoy's server.version: the first six hex digits of the source revision, as a number. */
static uint64_t version_number(void)
{
	uint64_t v = 0;
	unsigned n = 0;

	for (const char *c = tp_version; *c && n < 6; c++, n++) {
		int d = (*c >= '0' && *c <= '9')   ? *c - '0'
			: (*c >= 'a' && *c <= 'f') ? *c - 'a' + 10
						   : -1;

		if (d < 0)
			return n == 6 ? v : 0;
		v = v * 16 + (uint64_t)d;
	}
	return n == 6 ? v : 0;
}

static uint64_t rss_bytes(pid_t pid)
{
	unsigned long long size, resident = 0;
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static uint64_t now_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t uptime_s(const struct tp_master_view *v)
{
	uint64_t now = now_unix_ms();

	return v->start_unix_ms && now > v->start_unix_ms ? (now - v->start_unix_ms) / 1000 : 0;
}

/* The server gauges only the master knows, written to its own block at read time and patched
 * into the snapshot just taken (worker blocks never write server.*, so the sum is the value). */
static void refresh_server_stats(const struct tp_master_view *v, struct tp_stats_snap *snap)
{
	struct tp_stats_block *blk = tp_stats_block(v->stats, TP_STATS_SLOT_MASTER);
	uint64_t vals[TP_SERVER__COUNT] = {0};
	bool set[TP_SERVER__COUNT] = {false};
	uint64_t mem = rss_bytes(getpid());
	/* Summed as unsigned (wrapping), read as signed at the end: a gauge's value comes from
	 * the workers' blocks, which a worker can write anything to. */
	uint64_t conns = 0;
	uint32_t base;

	if (tp_stats_scope(v->stats, TP_SCOPE_SERVER, "", &base) < 0)
		return;
	for (size_t i = 0; i < snap->n; i++)
		if (snap->v[i].kind == TP_SCOPE_LISTENER &&
		    !strcmp(snap->v[i].stat, "downstream_cx_active"))
			conns += snap->v[i].value;
	for (unsigned s = 0; s < tp_stats_n_slots(v->stats); s++) {
		struct tp_stats_slot_info si;

		if (!tp_stats_slot_get(v->stats, s, &si) && si.pid > 0 &&
		    (si.state == TP_SLOT_LIVE || si.state == TP_SLOT_DRAINING ||
		     si.state == TP_SLOT_STARTING))
			mem += rss_bytes(si.pid);
	}
	vals[TP_SERVER_uptime] = uptime_s(v);
	vals[TP_SERVER_version] = version_number();
	vals[TP_SERVER_total_connections] = (int64_t)conns < 0 ? 0 : conns;
	vals[TP_SERVER_memory_allocated] = mem;
	set[TP_SERVER_uptime] = set[TP_SERVER_version] = set[TP_SERVER_total_connections] = true;
	set[TP_SERVER_memory_allocated] = true;
	for (unsigned s = 0; s < TP_SERVER__COUNT; s++)
		if (set[s])
			tp_stat_set(blk, base + s, vals[s]);
	for (size_t i = 0; i < snap->n; i++) {
		const struct tp_stat_desc *d = tp_stats_kinds[TP_SCOPE_SERVER].stats;

		if (snap->v[i].kind != TP_SCOPE_SERVER)
			continue;
		for (unsigned s = 0; s < tp_stats_kinds[TP_SCOPE_SERVER].n_stats; s++)
			if (set[s] && !strcmp(d[s].name, snap->v[i].stat))
				snap->v[i].value = vals[s];
	}
}

/* ?type= as Envoy spells it. */
static bool parse_types(const char *s, unsigned *out)
{
	if (!strcmp(s, "All"))
		*out = TP_STATS_TYPES_ALL;
	else if (!strcmp(s, "Counters"))
		*out = 1u << TP_STAT_COUNTER;
	else if (!strcmp(s, "Gauges"))
		*out = 1u << TP_STAT_GAUGE;
	else if (!strcmp(s, "Histograms"))
		*out = 1u << TP_STAT_HISTOGRAM;
	else
		return false;
	return true;
}

static void stats(const struct tp_master_view *v, const char *query, bool prometheus,
		  struct tp_admin_resp *out)
{
	enum tp_stats_format fmt = prometheus ? TP_STATS_PROMETHEUS : TP_STATS_TEXT;
	unsigned types = TP_STATS_TYPES_ALL;
	struct tp_stats_snap snap;
	char val[TP_HTTP_TARGET_MAX];
	struct tp_match *filter = NULL;
	int ret;

	ret = tp_http_query_get(query, "format", val, sizeof(val));
	if (ret < 0 || (ret > 0 && !tp_stats_format_parse(val, &fmt))) {
		reply_text(out, 400, "bad format: use text, json or prometheus\n", NULL);
		return;
	}
	ret = tp_http_query_get(query, "type", val, sizeof(val));
	if (ret < 0 || (ret > 0 && !parse_types(val, &types))) {
		reply_text(out, 400, "bad type: use All, Counters, Gauges or Histograms\n", NULL);
		return;
	}
	ret = tp_http_query_get(query, "filter", val, sizeof(val));
	if (ret < 0) {
		reply_text(out, 400, "bad filter: not a valid query value\n", NULL);
		return;
	}
	if (ret > 0 && val[0]) {
		char why[128];

		if (tp_stats_filter_compile(&filter, val, why, sizeof(why)) < 0) {
			reply_text(out, 400, "bad filter: %s\n", why);
			return;
		}
	}
	if (tp_stats_snap_take(v->stats, &snap) < 0) {
		reply_text(out, 500, "out of memory\n", NULL);
		goto out_free;
	}
	refresh_server_stats(v, &snap);
	/* Filtered first, within a budget, so that no pattern holds the loop for long. */
	if (filter && tp_stats_snap_filter(&snap, filter, TP_STATS_FILTER_STEPS) < 0) {
		reply_text(
			out, 400,
			"bad filter: too expensive: over %s instruction steps to match the stats; "
			"use a simpler pattern\n",
			"16M");
		goto out_free;
	}
	reply(out, 200,
	      fmt == TP_STATS_JSON	   ? CT_JSON
	      : fmt == TP_STATS_PROMETHEUS ? CT_PROMETHEUS
					   : CT_TEXT);
	tp_stats_render(&snap, fmt, NULL, types, &out->body);
out_free:
	tp_stats_snap_free(&snap);
	tp_match_free(filter);
}

static const struct tp_cluster_cfg *find_static(const struct tp_config *cfg, const char *name)
{
	for (size_t i = 0; cfg && i < cfg->n_clusters; i++)
		if (!strcmp(cfg->clusters[i].name, name))
			return &cfg->clusters[i];
	return NULL;
}

/* The i-th cluster the serving configuration has: its static ones, then those from CDS. */
static const struct tp_cluster_cfg *nth_cluster(const struct tp_master_view *v, size_t i)
{
	size_t n = v->cfg ? v->cfg->n_clusters : 0;

	if (i < n)
		return &v->cfg->clusters[i];
	i -= n;
	return i < v->n_cds_clusters ? v->cds_clusters[i] : NULL;
}

static const struct tp_cluster_cfg *find_cluster(const struct tp_master_view *v, const char *name)
{
	const struct tp_cluster_cfg *cl = find_static(v->cfg, name);

	for (size_t i = 0; !cl && i < v->n_cds_clusters; i++)
		if (!strcmp(v->cds_clusters[i]->name, name))
			cl = v->cds_clusters[i];
	return cl;
}

/* Envoy's health_flags text (HostUtility::healthFlagsToString). */
static const char *health_text(uint32_t f)
{
	switch (f & TP_HOST_F_ALL) {
	case 0:
		return "healthy";
	case TP_HOST_F_FAILED_ACTIVE_HC:
		return "/failed_active_hc";
	case TP_HOST_F_FAILED_OUTLIER:
		return "/failed_outlier_check";
	default:
		return "/failed_active_hc/failed_outlier_check";
	}
}

static void host_info(void *arg, const char *cluster, const char *host,
		      struct tp_stats_host_info *out)
{
	const struct tp_master_view *v = arg;
	const struct tp_cluster_cfg *cl = find_cluster(v, cluster);
	struct tp_admin_host ah;

	if (cl && tp_cluster_hostset(cl)) {
		if (v->ops && v->ops->host_info && v->ops->host_info(v->ctx, cluster, host, &ah)) {
			out->hostname = ah.hostname ? ah.hostname : "";
			out->health_flags = health_text(ah.health);
			out->weight = ah.weight;
			out->priority = ah.priority;
		}
		return;
	}
	for (size_t i = 0; cl && i < cl->n_endpoints; i++) {
		if (strcmp(cl->endpoints[i].addr.text, host))
			continue;
		out->weight = cl->endpoints[i].weight;
		out->priority = cl->endpoints[i].priority;
		return;
	}
}

/* A cluster or host scope of the serving configuration (a reload may have removed others). */
static bool configured(const struct tp_master_view *v, const struct tp_stats_entry *e)
{
	const struct tp_config *cfg = v->cfg;
	const struct tp_cluster_cfg *cl;
	char name[TP_STATS_NAME_MAX];

	if (!cfg || (e->kind != TP_SCOPE_CLUSTER && e->kind != TP_SCOPE_HOST))
		return true;
	if (e->kind == TP_SCOPE_CLUSTER)
		return find_cluster(v, e->scope) != NULL;
	for (size_t i = 0; (cl = nth_cluster(v, i)); i++) {
		struct tp_admin_host ah;
		size_t len;

		len = strlen(cl->name);
		/* A DNS cluster's hosts are those of its current host set. */
		if (tp_cluster_hostset(cl)) {
			if (!strncmp(e->scope, cl->name, len) &&
			    !strncmp(e->scope + len, "::", 2) && v->ops && v->ops->host_info &&
			    v->ops->host_info(v->ctx, cl->name, e->scope + len + 2, &ah))
				return true;
			continue;
		}
		for (size_t h = 0; h < cl->n_endpoints; h++) {
			snprintf(name, sizeof(name), "%s::%s", cl->name,
				 cl->endpoints[h].addr.text);
			if (!strcmp(name, e->scope))
				return true;
		}
	}
	return false;
}

/* Drops the cluster and host entries the serving configuration does not have. */
static void keep_configured(const struct tp_master_view *v, struct tp_stats_snap *snap)
{
	size_t n = 0;

	for (size_t i = 0; i < snap->n; i++) {
		if (configured(v, &snap->v[i])) {
			snap->v[n++] = snap->v[i];
			continue;
		}
		free(snap->v[i].name);
		free(snap->v[i].scope);
		free(snap->v[i].hist);
	}
	snap->n = n;
}

static void clusters(const struct tp_master_view *v, struct tp_admin_resp *out)
{
	struct tp_stats_snap snap;

	if (tp_stats_snap_take(v->stats, &snap) < 0) {
		reply_text(out, 500, "out of memory\n", NULL);
	} else {
		keep_configured(v, &snap);
		reply(out, 200, CT_TEXT);
		/* Envoy's first line when CDS is configured: the version it applied last. */
		if (v->cds_enabled)
			tp_sbuf_printf(&out->body, "version_info::%s\n",
				       v->cds_version_info ? v->cds_version_info : "");
		tp_stats_render_clusters(&snap, host_info, (void *)v, &out->body);
	}
	tp_stats_snap_free(&snap);
}

uint64_t tp_admin_open_connections(struct tp_stats *st)
{
	struct tp_stats_snap snap;
	uint64_t conns = 0;

	if (tp_stats_snap_take(st, &snap) < 0)
		return 0;
	for (size_t i = 0; i < snap.n; i++)
		if (snap.v[i].kind == TP_SCOPE_LISTENER &&
		    !strcmp(snap.v[i].stat, "downstream_cx_active"))
			conns += snap.v[i].value;
	tp_stats_snap_free(&snap);
	return (int64_t)conns < 0 ? 0 : conns;
}

static bool all_live(const struct tp_master_view *v)
{
	return v->state && !strcmp(v->state, "LIVE") && v->workers_live >= v->concurrency;
}

static void ready(const struct tp_master_view *v, struct tp_admin_resp *out)
{
	reply_text(out, all_live(v) ? 200 : 503, "%s\n", v->state ? v->state : "INITIALIZING");
}

static void server_info(const struct tp_master_view *v, struct tp_admin_resp *out)
{
	uint64_t up = uptime_s(v), now = now_unix_ms(), epoch_up = up;
	struct tp_sbuf *b = &out->body;

	if (v->epoch && v->last_reload_ok && v->last_reload_unix_ms && now > v->last_reload_unix_ms)
		epoch_up = (now - v->last_reload_unix_ms) / 1000;
	reply(out, 200, CT_JSON);
	tp_sbuf_puts(b, "{\"version\":");
	tp_sbuf_json_str(b, tp_version);
	tp_sbuf_puts(b, ",\"state\":");
	tp_sbuf_json_str(b, v->state ? v->state : "INITIALIZING");
	tp_sbuf_printf(b,
		       ",\"uptime_current_epoch\":\"%" PRIu64 "s\",\"uptime_all_epochs\":\"%" PRIu64
		       "s\",\"hot_restart_version\":\"tcpproxy.stats.%u\"",
		       epoch_up, up, TP_STATS_VERSION);
	tp_sbuf_printf(b,
		       ",\"command_line_options\":{\"base_id\":\"%u\",\"concurrency\":%u,"
		       "\"restart_epoch\":%" PRIu32 ",\"drain_time\":\"%us\",\"mode\":\"Serve\","
		       "\"log_level\":",
		       v->base_id, v->concurrency, v->epoch, v->drain_time_s);
	tp_sbuf_json_str(b, v->log_level ? v->log_level : "info");
	tp_sbuf_puts(b, ",\"config_path\":");
	tp_sbuf_json_str(b, v->cfg && v->cfg->path ? v->cfg->path : "");
	tp_sbuf_printf(b, ",\"admin_address\":");
	tp_sbuf_json_str(b, v->cfg && v->cfg->admin.enabled ? v->cfg->admin.addr.text : "");
	tp_sbuf_printf(b, ",\"stats_socket\":");
	tp_sbuf_json_str(b, v->stats_socket ? v->stats_socket : "");
	tp_sbuf_printf(b, "},\"health_check_failed\":%s,\"listeners_drained\":%s",
		       v->health_failed ? "true" : "false",
		       v->listeners_drained ? "true" : "false");
	tp_sbuf_printf(
		b,
		",\"workers\":{\"configured\":%u,\"live\":%u},\"reloads\":{\"failed\":%" PRIu64
		",\"last_unix_ms\":%" PRIu64 ",\"last_ok\":%s,\"last_error\":",
		v->concurrency, v->workers_live, v->reloads_failed, v->last_reload_unix_ms,
		v->last_reload_ok ? "true" : "false");
	tp_sbuf_json_str(b, v->last_reload_error);
	tp_sbuf_puts(b, "}}\n");
}

/* ---- the routes that change the server (POST only, as Envoy's) ---- */

static void ok(struct tp_admin_resp *out)
{
	reply_text(out, 200, "%s", "OK\n");
}

static void healthcheck_fail(const struct tp_master_view *v, const char *query,
			     struct tp_admin_resp *out)
{
	v->ops->healthcheck(v->ctx, true);
	ok(out);
}

static void healthcheck_ok(const struct tp_master_view *v, const char *query,
			   struct tp_admin_resp *out)
{
	v->ops->healthcheck(v->ctx, false);
	ok(out);
}

/* ?inboundonly drains the listeners that are not OUTBOUND: every tcpproxy listener is (it
 * refuses traffic_direction), so it drains them all, as without it. */
static void drain_listeners(const struct tp_master_view *v, const char *query,
			    struct tp_admin_resp *out)
{
	char val[8];

	v->ops->drain_listeners(v->ctx,
				tp_http_query_get(query, "graceful", val, sizeof(val)) != 0);
	ok(out);
}

/* Envoy's /reset_counters: every counter reads zero from now on and counts on from there. */
static void reset_counters(const struct tp_master_view *v, const char *query,
			   struct tp_admin_resp *out)
{
	tp_stats_reset_counters(v->stats);
	ok(out);
}

/* ---- more routes that read ---- */

static void json_address(struct tp_sbuf *b, const struct tp_sockaddr *a)
{
	char host[INET6_ADDRSTRLEN] = "";
	unsigned port = 0;

	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&a->ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	} else if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	}
	tp_sbuf_puts(b, "{\"socket_address\":{\"address\":");
	tp_sbuf_json_str(b, host);
	tp_sbuf_printf(b, ",\"port_value\":%u}}", port);
}

/* Envoy's /listeners: "name::address" lines, or ?format=json its listener_statuses. The
 * serving configuration's listeners; none once they were drained and their workers gone. */
static void listeners(const struct tp_master_view *v, const char *query, struct tp_admin_resp *out)
{
	const struct tp_config *cfg = v->cfg;
	size_t n = cfg ? cfg->n_listeners : 0, nd = v->n_lds_listeners;
	const struct tp_admin_listener *d = v->lds_listeners;
	char val[16];
	int ret = tp_http_query_get(query, "format", val, sizeof(val));
	bool json = ret > 0 && !strcmp(val, "json");

	if (ret < 0 || (ret > 0 && !json && strcmp(val, "text"))) {
		reply_text(out, 400, "%s", "bad format: use text or json\n");
		return;
	}
	if (!json) {
		reply(out, 200, CT_TEXT);
		for (size_t i = 0; i < n; i++)
			tp_sbuf_printf(&out->body, "%s::%s\n", cfg->listeners[i].name,
				       cfg->listeners[i].addr.text);
		/* Then the LDS listeners, as Envoy lists its active listeners. */
		for (size_t i = 0; cfg && i < nd; i++)
			tp_sbuf_printf(&out->body, "%s::%s\n", d[i].name, d[i].addr->text);
		return;
	}
	reply(out, 200, CT_JSON);
	tp_sbuf_puts(&out->body, "{\"listener_statuses\":[");
	for (size_t i = 0; i < n; i++) {
		tp_sbuf_puts(&out->body, i ? ",{\"name\":" : "{\"name\":");
		tp_sbuf_json_str(&out->body, cfg->listeners[i].name);
		tp_sbuf_puts(&out->body, ",\"local_address\":");
		json_address(&out->body, &cfg->listeners[i].addr);
		tp_sbuf_putc(&out->body, '}');
	}
	for (size_t i = 0; cfg && i < nd; i++) {
		tp_sbuf_puts(&out->body, i || n ? ",{\"name\":" : "{\"name\":");
		tp_sbuf_json_str(&out->body, d[i].name);
		tp_sbuf_puts(&out->body, ",\"local_address\":");
		json_address(&out->body, d[i].addr);
		tp_sbuf_putc(&out->body, '}');
	}
	tp_sbuf_puts(&out->body, "]}\n");
}

/* Envoy's /memory names (tcmalloc's), filled from glibc's malloc statistics of the master,
 * and the resident memory of the master and of every worker, which Envoy (one process) has
 * no need for. Values are strings, as Envoy prints its uint64s. */
static void memory(const struct tp_master_view *v, const char *query, struct tp_admin_resp *out)
{
	struct mallinfo2 mi = mallinfo2();
	struct tp_sbuf *b = &out->body;
	uint64_t self = rss_bytes(getpid()), total = self;
	struct tp_sbuf procs = TP_SBUF_INIT;

	tp_sbuf_printf(&procs, "{\"role\":\"master\",\"pid\":%d,\"rss_bytes\":\"%" PRIu64 "\"}",
		       (int)getpid(), self);
	for (unsigned s = 0; s < tp_stats_n_slots(v->stats); s++) {
		struct tp_stats_slot_info si;
		uint64_t rss;

		if (tp_stats_slot_get(v->stats, s, &si) || si.pid <= 0 ||
		    (si.state != TP_SLOT_LIVE && si.state != TP_SLOT_DRAINING &&
		     si.state != TP_SLOT_STARTING))
			continue;
		rss = rss_bytes(si.pid);
		total += rss;
		tp_sbuf_printf(
			&procs,
			",{\"role\":\"worker\",\"generation\":%" PRIu32
			",\"stats_slot\":%u,\"state\":\"%s\",\"pid\":%d,\"rss_bytes\":\"%" PRIu64
			"\"}",
			si.generation, s, si.state == TP_SLOT_DRAINING ? "draining" : "serving",
			(int)si.pid, rss);
	}
	reply(out, 200, CT_JSON);
	tp_sbuf_printf(b,
		       "{\"allocated\":\"%zu\",\"heap_size\":\"%zu\",\"pageheap_unmapped\":\"0\","
		       "\"pageheap_free\":\"%zu\",\"total_thread_cache\":\"0\","
		       "\"total_physical_bytes\":\"%" PRIu64 "\",\"processes\":[",
		       mi.uordblks + mi.hblkhd, mi.arena + mi.hblkhd, mi.fordblks, total);
	tp_sbuf_add(b, procs.p, procs.len);
	tp_sbuf_puts(b, "]}\n");
	b->oom |= procs.oom;
	tp_sbuf_free(&procs);
}

/* ---- the table ---- */

typedef void (*route_fn)(const struct tp_master_view *v, const char *query,
			 struct tp_admin_resp *out);

static void index_route(const struct tp_master_view *v, const char *query,
			struct tp_admin_resp *out);

static void stats_route(const struct tp_master_view *v, const char *query,
			struct tp_admin_resp *out)
{
	stats(v, query, false, out);
}

static void prometheus_route(const struct tp_master_view *v, const char *query,
			     struct tp_admin_resp *out)
{
	stats(v, query, true, out);
}

static void clusters_route(const struct tp_master_view *v, const char *query,
			   struct tp_admin_resp *out)
{
	clusters(v, out);
}

static void ready_route(const struct tp_master_view *v, const char *query,
			struct tp_admin_resp *out)
{
	ready(v, out);
}

static void server_info_route(const struct tp_master_view *v, const char *query,
			      struct tp_admin_resp *out)
{
	server_info(v, out);
}

static const struct route {
	const char *path;
	route_fn fn;
	bool mutates; /* POST only; the others GET or HEAD only */
	const char *help;
} routes[] = {
	{"/", index_route, false, "this list"},
	{"/clusters", clusters_route, false,
	 "upstream cluster status: per host cx_active, cx_total, cx_connect_fail, health"},
	{"/config_dump", tp_admin_config_dump, false,
	 "the loaded configuration as JSON, secrets redacted: ?resource=, ?mask="},
	{"/connections", NULL, false,
	 "every open session: ?format=text|json, ?filter=REGEX, ?sort=age|bytes, ?limit=N"},
	{"/drain_listeners", drain_listeners, true,
	 "stop accepting and drain every listener, without exiting: ?graceful, ?inboundonly"},
	{"/healthcheck/fail", healthcheck_fail, true, "/ready answers 503 DRAINING"},
	{"/healthcheck/ok", healthcheck_ok, true, "undoes /healthcheck/fail"},
	{"/listeners", listeners, false, "the listeners: name::address, ?format=json"},
	{"/memory", memory, false, "memory of the master and its workers as JSON"},
	{"/ready", ready_route, false, "200 LIVE when every worker is up, 503 otherwise"},
	{"/reset_counters", reset_counters, true, "every counter back to zero"},
	{"/server_info", server_info_route, false,
	 "version, state, uptime, epoch and command line as JSON"},
	{"/stats", stats_route, false,
	 "every stat: ?format=text|json|prometheus, ?filter=REGEX (RE2 syntax), "
	 "?type=All|Counters|Gauges|Histograms"},
	{"/stats/prometheus", prometheus_route, false,
	 "every stat in Prometheus text format: ?filter=REGEX"},
};

static void index_page(struct tp_sbuf *b)
{
	tp_sbuf_puts(b, "tcpproxy admin commands are:\n");
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		tp_sbuf_printf(b, "  %s%s: %s\n", routes[i].path,
			       routes[i].mutates ? " (POST)" : "", routes[i].help);
}

static void index_route(const struct tp_master_view *v, const char *query,
			struct tp_admin_resp *out)
{
	reply(out, 200, CT_TEXT);
	index_page(&out->body);
}

static const struct route *find_route(const char *path)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (!strcmp(path, routes[i].path))
			return &routes[i];
	return NULL;
}

enum tp_admin_check tp_admin_check(const char *method, const char *target, bool may_change,
				   struct tp_admin_resp *out)
{
	char path[TP_HTTP_TARGET_MAX + 1];
	const struct route *r;
	const char *query;

	memset(out, 0, sizeof(*out));
	tp_http_target_split(target, path, sizeof(path), &query);
	r = find_route(path);
	if (!r) {
		reply(out, 404, CT_TEXT);
		tp_sbuf_puts(&out->body, "invalid path. ");
		index_page(&out->body);
	} else if (r->mutates && strcmp(method, "POST")) {
		/* Envoy's words: a GET must not change the server (a crawler, a browser's
		 * prefetch). */
		reply_text(out, 405, "Method %s not allowed, POST required.\n", method);
		out->extra_headers = "Allow: POST\r\n";
	} else if (!r->mutates && strcmp(method, "GET") && strcmp(method, "HEAD")) {
		reply_text(out, 405, "method %s not allowed: use GET\n", method);
		out->extra_headers = "Allow: GET, HEAD\r\n";
	} else if (r->mutates && !may_change) {
		/* The stats socket is handed to the workers' user so that it may read stats;
		 * changing the server is root's, or the master's own user's. */
		reply_text(out, 403,
			   "POST %s: only root or the user the master runs as may change the "
			   "server over the stats socket\n",
			   r->path);
	} else {
		return r->fn ? TP_ADMIN_NOW : TP_ADMIN_CONNECTIONS;
	}
	if (out->body.oom) {
		tp_sbuf_free(&out->body);
		reply_text(out, 500, "out of memory\n", NULL);
	}
	return TP_ADMIN_ANSWERED;
}

void tp_admin_handle(const struct tp_master_view *v, const char *method, const char *target,
		     bool may_change, struct tp_admin_resp *out)
{
	char path[TP_HTTP_TARGET_MAX + 1];
	const struct route *r;
	const char *query;

	if (tp_admin_check(method, target, may_change, out) != TP_ADMIN_NOW)
		return;
	tp_http_target_split(target, path, sizeof(path), &query);
	r = find_route(path);
	r->fn(v, query, out);
	if (out->body.oom) {
		tp_sbuf_free(&out->body);
		reply_text(out, 500, "out of memory\n", NULL);
	}
}

/* Check suite for core/config.c, core/cfg_schema.c and filters/tcp_proxy.c: what loads, the
 * defaults it gets, and each error class with its exact FILE:LINE:COL line. */
#include "core/config/config.h"
#include "core/config/metadata.h"
#include "core/conn/transport.h"
#include "core/tls/tls.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/filter.h"

/* A valid config; tests change one line of it, so line numbers below refer to this text. */
static const char valid[] =
	"static_resources:\n"						  /* 1 */
	"  listeners:\n"						  /* 2 */
	"  - name: l0\n"						  /* 3 */
	"    address:\n"						  /* 4 */
	"      socket_address: {address: 127.0.0.1, port_value: 10000}\n" /* 5 */
	"    filter_chains:\n"						  /* 6 */
	"    - filters:\n"						  /* 7 */
	"      - name: envoy.filters.network.tcp_proxy\n"		  /* 8 */
	"        typed_config:\n"					  /* 9 */
	"          \"@type\": type.googleapis.com/"
	"envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy\n"		   /* 10 */
	"          stat_prefix: p0\n"						   /* 11 */
	"          cluster: c0\n"						   /* 12 */
	"  clusters:\n"								   /* 13 */
	"  - name: c0\n"							   /* 14 */
	"    load_assignment:\n"						   /* 15 */
	"      cluster_name: c0\n"						   /* 16 */
	"      endpoints:\n"							   /* 17 */
	"      - lb_endpoints:\n"						   /* 18 */
	"        - endpoint:\n"							   /* 19 */
	"            address:\n"						   /* 20 */
	"              socket_address: {address: 127.0.0.1, port_value: 10001}\n"; /* 21 */

#define TCP_PROXY_TYPE "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"

static char path[64];
static char *text;

static void setup(void)
{
	path[0] = '\0';
	text = NULL;
}

static void teardown(void)
{
	if (path[0])
		unlink(path);
	free(text);
}

static void write_file(const char *content)
{
	int fd;

	/* One file per test at a time: the previous one goes before the next is made. */
	if (path[0])
		unlink(path);
	snprintf(path, sizeof(path), "/tmp/check_config.XXXXXX.yaml");
	fd = mkstemps(path, 5);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

/* valid with the first occurrence of from replaced by to. */
static const char *edit(const char *from, const char *to)
{
	const char *at = strstr(valid, from);
	size_t len;

	ck_assert_msg(at != NULL, "'%s' not in the valid config", from);
	len = strlen(valid) - strlen(from) + strlen(to);
	free(text);
	text = malloc(len + 1);
	snprintf(text, len + 1, "%.*s%s%s", (int)(at - valid), valid, to, at + strlen(from));
	return text;
}

static struct tp_config *load_ok(const char *content)
{
	struct tp_cfg_errors errs = {0};
	struct tp_config *cfg = NULL;
	int ret;

	write_file(content);
	ret = tp_config_load(path, &cfg, &errs);
	if (ret)
		tp_cfg_errors_print(&errs, stderr);
	ck_assert_int_eq(ret, 0);
	ck_assert_int_eq(errs.n, 0);
	ck_assert_ptr_nonnull(cfg);
	tp_cfg_errors_free(&errs);
	return cfg;
}

/* Loads content and compares every error line, the temp file's name stripped off the front. */
static void expect_errors(const char *content, const char *const *want)
{
	struct tp_cfg_errors errs = {0};
	struct tp_config *cfg = (struct tp_config *)1;
	size_t n_want = 0, plen;
	int ret;

	while (want[n_want])
		n_want++;
	write_file(content);
	ret = tp_config_load(path, &cfg, &errs);
	ck_assert_int_eq(ret, -EINVAL);
	ck_assert_ptr_null(cfg);
	plen = strlen(path);
	for (size_t i = 0; i < errs.n || i < n_want; i++) {
		const char *got = i < errs.n ? errs.lines[i] : "(none)";

		if (i < errs.n) {
			ck_assert_msg(!strncmp(got, path, plen), "line without the path: %s", got);
			got += plen;
		}
		ck_assert_msg(i < n_want && !strcmp(got, want[i]), "error %zu:\n got: %s\nwant: %s",
			      i, got, i < n_want ? want[i] : "(none)");
	}
	tp_cfg_errors_free(&errs);
}

#define EXPECT(content, ...)                                  \
	do {                                                  \
		const char *const w_[] = {__VA_ARGS__, NULL}; \
		expect_errors(content, w_);                   \
	} while (0)

#define TP0 "static_resources.listeners[0].filter_chains[0].filters[0].typed_config"
#define UNKNOWN_CLUSTER(name)                                                \
	"warning: unknown cluster \"" name "\": each connection will count " \
	"downstream_cx_no_route and close (flag NC), as in Envoy"

/* Loads content, which must load, and compares its warnings as expect_errors does. */
static struct tp_config *load_warn_lines(const char *content, const char *const *want)
{
	struct tp_cfg_errors errs = {0};
	struct tp_config *cfg = NULL;
	size_t n_want = 0, plen;

	while (want[n_want])
		n_want++;
	write_file(content);
	ck_assert_int_eq(tp_config_load(path, &cfg, &errs), 0);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_uint_eq(errs.n_warnings, errs.n);
	plen = strlen(path);
	for (size_t i = 0; i < errs.n || i < n_want; i++) {
		const char *got = i < errs.n ? errs.lines[i] + plen : "(none)";

		ck_assert_msg(i < n_want && !strcmp(got, want[i]),
			      "warning %zu:\n got: %s\nwant: %s", i, got,
			      i < n_want ? want[i] : "(none)");
	}
	tp_cfg_errors_free(&errs);
	return cfg;
}

#define LOAD_WARN(content, ...)                               \
	({                                                    \
		const char *const w_[] = {__VA_ARGS__, NULL}; \
		load_warn_lines(content, w_);                 \
	})

/* ---- what loads ---- */

START_TEST(defaults)
{
	struct tp_config *cfg = load_ok(valid);
	const struct tp_listener_cfg *l;
	const struct tp_cluster_cfg *c;
	const struct tp_tcp_proxy_cfg *tp;

	ck_assert_str_eq(cfg->path, path);
	ck_assert_int_eq(cfg->n_listeners, 1);
	l = &cfg->listeners[0];
	ck_assert_str_eq(l->name, "l0");
	ck_assert_str_eq(l->addr.text, "127.0.0.1:10000");
	ck_assert_int_eq(l->addr.ss.ss_family, AF_INET);
	ck_assert_int_eq(l->addr.len, sizeof(struct sockaddr_in));
	ck_assert_int_eq(ntohs(((struct sockaddr_in *)&l->addr.ss)->sin_port), 10000);
	ck_assert_uint_eq(l->per_connection_buffer_limit_bytes, 1024 * 1024);
	ck_assert_int_eq(l->mark.line, 3);
	ck_assert_int_eq(l->mark.col, 5);
	ck_assert_int_eq(l->n_filter_chains, 1);
	ck_assert_int_eq(l->filter_chains[0].n_filters, 1);
	ck_assert_str_eq(l->filter_chains[0].filters[0].name, "envoy.filters.network.tcp_proxy");
	ck_assert_ptr_eq(l->filter_chains[0].filters[0].ops, &tp_filter_tcp_proxy);
	tp = l->filter_chains[0].filters[0].conf;
	ck_assert_str_eq(tp->stat_prefix, "p0");
	ck_assert_str_eq(tp->cluster, "c0");
	ck_assert_int_eq(tp->cluster_index, 0);
	ck_assert_int_eq(tp->idle_timeout_ms, 3600 * 1000);
	ck_assert_int_eq(tp->max_downstream_connection_duration_ms, TP_DURATION_UNSET);
	ck_assert_uint_eq(tp->max_connect_attempts, 1);
	ck_assert_int_eq(tp->upstream_connect_mode, TP_CONNECT_IMMEDIATE);
	ck_assert_int_eq(tp->max_early_data_bytes, -1);
	ck_assert_int_eq(tp->n_weighted_clusters, 0);
	ck_assert_int_eq(tp->backoff_base_ms, 0);

	ck_assert_int_eq(cfg->n_clusters, 1);
	c = &cfg->clusters[0];
	/* No circuit_breakers: Envoy's limits all the same. */
	ck_assert_uint_eq(c->cb.max_connections, 1024);
	ck_assert_uint_eq(c->cb.max_pending_requests, 1024);
	ck_assert(!c->cb.track_remaining);
	ck_assert_str_eq(c->name, "c0");
	ck_assert_int_eq(c->type, TP_CLUSTER_STATIC);
	ck_assert_int_eq(c->connect_timeout_ms, 5000);
	ck_assert_int_eq(c->lb_policy, TP_LB_ROUND_ROBIN);
	ck_assert_uint_eq(c->per_connection_buffer_limit_bytes, 1024 * 1024);
	ck_assert_int_eq(c->n_endpoints, 1);
	ck_assert_str_eq(c->endpoints[0].addr.text, "127.0.0.1:10001");
	ck_assert_uint_eq(c->endpoints[0].weight, 1);
	ck_assert_int_eq(c->endpoints[0].mark.line, 19);
	ck_assert(!cfg->admin.enabled);
	ck_assert_int_eq(tp_config_cluster_index(cfg, "c0"), 0);
	ck_assert_int_eq(tp_config_cluster_index(cfg, "nope"), -1);
	tp_config_free(cfg);
}
END_TEST

START_TEST(circuit_breakers_and_backoff)
{
	struct tp_config *cfg;
	const struct tp_tcp_proxy_cfg *tp;
	const struct tp_cb_cfg *cb;

	/* The first DEFAULT thresholds count (Envoy's std::find_if), each limit defaulting on its
	 * own; HIGH is read and unused. */
	cfg = load_ok(
		edit("    load_assignment:\n",
		     "    circuit_breakers:\n"
		     "      thresholds:\n"
		     "      - {priority: HIGH, max_connections: 1}\n"
		     "      - {max_pending_requests: 7, track_remaining: true, max_retries: 0}\n"
		     "      - {priority: DEFAULT, max_connections: 2}\n"
		     "    load_assignment:\n"));
	cb = &cfg->clusters[0].cb;
	ck_assert_uint_eq(cb->n_thresholds, 3);
	ck_assert_uint_eq(cb->max_connections, 1024);
	ck_assert_uint_eq(cb->max_pending_requests, 7);
	ck_assert_uint_eq(cb->max_retries, 0);
	ck_assert_uint_eq(cb->max_requests, 1024);
	ck_assert(cb->track_remaining);
	tp_config_free(cfg);

	/* max_interval defaults to 10 x base_interval. */
	cfg = load_ok(edit("          cluster: c0\n",
			   "          cluster: c0\n"
			   "          backoff_options: {base_interval: 0.3s}\n"));
	tp = cfg->listeners[0].filter_chains[0].filters[0].conf;
	ck_assert_int_eq(tp->backoff_base_ms, 300);
	ck_assert_int_eq(tp->backoff_max_ms, 3000);
	tp_config_free(cfg);
}
END_TEST

/* health_checks: payload bytes, Envoy's defaults for the optional intervals, the HTTP fields,
 * and healthy_panic_threshold (default 50). */
START_TEST(health_checks)
{
	static const char yaml[] =
		"static_resources:\n"
		"  clusters:\n"
		"  - name: t\n"
		"    health_checks:\n"
		"    - {timeout: 1s, interval: 2s, unhealthy_threshold: 3, healthy_threshold: 1,\n"
		"       tcp_health_check: {send: {text: 0aFF}, receive: [{binary: aGk=}]}}\n"
		"  - name: h\n"
		"    common_lb_config: {healthy_panic_threshold: {value: 12.5}}\n"
		"    health_checks:\n"
		"    - timeout: 1s\n"
		"      interval: 2s\n"
		"      unhealthy_interval: 5s\n"
		"      healthy_edge_interval: 0.1s\n"
		"      interval_jitter_percent: 10\n"
		"      unhealthy_threshold: 3\n"
		"      healthy_threshold: 2\n"
		"      http_health_check:\n"
		"        path: /h\n"
		"        expected_statuses: [{start: 200, end: 400}]\n"
		"        request_headers_to_add: [{header: {key: a, value: b}, append: true}]\n"
		"  - name: n\n";
	struct tp_config *cfg = load_ok(yaml);
	const struct tp_health_check_cfg *hc;

	ck_assert_int_eq(cfg->n_clusters, 3);
	ck_assert_int_eq(cfg->clusters[0].n_health_checks, 1);
	hc = &cfg->clusters[0].health_checks[0];
	ck_assert_int_eq(hc->kind, TP_HC_TCP);
	ck_assert_int_eq(hc->timeout_ms, 1000);
	ck_assert_int_eq(hc->interval_ms, 2000);
	ck_assert_int_eq(hc->unhealthy_interval_ms, 2000);
	ck_assert_int_eq(hc->unhealthy_edge_interval_ms, 2000);
	ck_assert_int_eq(hc->healthy_edge_interval_ms, 2000);
	ck_assert_int_eq(hc->no_traffic_interval_ms, 60000);
	ck_assert_int_eq(hc->initial_jitter_ms, 0);
	ck_assert_int_eq(hc->unhealthy_threshold, 3);
	ck_assert_int_eq(hc->healthy_threshold, 1);
	ck_assert_uint_eq(hc->tcp.send.len, 2);
	ck_assert_mem_eq(hc->tcp.send.data, "\x0a\xff", 2);
	ck_assert_uint_eq(hc->tcp.n_receive, 1);
	ck_assert_uint_eq(hc->tcp.receive[0].len, 2);
	ck_assert_mem_eq(hc->tcp.receive[0].data, "hi", 2);
	ck_assert(tp_cluster_hostset(&cfg->clusters[0]));
	ck_assert(cfg->clusters[0].panic_threshold == 50);

	hc = &cfg->clusters[1].health_checks[0];
	ck_assert_int_eq(hc->kind, TP_HC_HTTP);
	ck_assert_int_eq(hc->unhealthy_interval_ms, 5000);
	ck_assert_int_eq(hc->unhealthy_edge_interval_ms, 5000);
	ck_assert_int_eq(hc->healthy_edge_interval_ms, 100);
	ck_assert_uint_eq(hc->interval_jitter_percent, 10);
	ck_assert_str_eq(hc->http.path, "/h");
	ck_assert_ptr_null(hc->http.host);
	ck_assert_uint_eq(hc->http.n_statuses, 1);
	ck_assert_int_eq(hc->http.statuses[0].start, 200);
	ck_assert_int_eq(hc->http.statuses[0].end, 400);
	ck_assert_uint_eq(hc->http.n_headers, 1);
	ck_assert_str_eq(hc->http.headers[0].header.key, "a");
	ck_assert_str_eq(hc->http.headers[0].header.value, "b");
	ck_assert(cfg->clusters[1].panic_threshold == 12.5);

	ck_assert_int_eq(cfg->clusters[2].n_health_checks, 0);
	ck_assert(!tp_cluster_hostset(&cfg->clusters[2]));
	tp_config_free(cfg);
}
END_TEST

START_TEST(every_supported_field)
{
	struct tp_config *cfg = load_ok(
		"admin:\n"
		"  address: {socket_address: {address: \"::1\", port_value: 9901}}\n"
		"static_resources:\n"
		"  listeners:\n"
		"  - address: {socket_address: {address: \"::\", port_value: 443, protocol: TCP}}\n"
		"    per_connection_buffer_limit_bytes: 32768\n"
		"    enable_reuse_port: true\n"
		"    filter_chains:\n"
		"    - name: only\n"
		"      filters:\n"
		"      - name: tcp\n"
		"        typed_config:\n"
		"          \"@type\": " TCP_PROXY_TYPE "\n"
		"          stat_prefix: s\n"
		"          cluster: c\n"
		"          idle_timeout: 0s\n"
		"          max_downstream_connection_duration: 0.0005s\n"
		"          max_connect_attempts: 3\n"
		"          upstream_connect_mode: ON_DOWNSTREAM_DATA\n"
		"          max_early_data_bytes: 0\n"
		"          check_drain_close: false\n"
		"  clusters:\n"
		"  - name: c\n"
		"    type: STATIC\n"
		"    connect_timeout: 0.250s\n"
		"    lb_policy: 3\n"
		"    per_connection_buffer_limit_bytes: \"65536\"\n"
		"    load_assignment:\n"
		"      cluster_name: c\n"
		"      endpoints:\n"
		"      - priority: 0\n"
		"        lb_endpoints:\n"
		"        - endpoint: {address: {socket_address: {address: 10.0.0.1, port_value: "
		"1}}}\n"
		"          load_balancing_weight: 5\n"
		"      - lb_endpoints:\n"
		"        - endpoint:\n"
		"            address:\n"
		"              socket_address: {address: \"fe80::0:1\", port_value: 65535}\n");
	const struct tp_listener_cfg *l = &cfg->listeners[0];
	const struct tp_tcp_proxy_cfg *tp = l->filter_chains[0].filters[0].conf;
	const struct tp_cluster_cfg *c = &cfg->clusters[0];

	ck_assert(cfg->admin.enabled);
	ck_assert_str_eq(cfg->admin.addr.text, "[::1]:9901");
	ck_assert_str_eq(l->name, "[::]:443"); /* unnamed: the address */
	ck_assert_int_eq(l->addr.ss.ss_family, AF_INET6);
	ck_assert_uint_eq(l->per_connection_buffer_limit_bytes, 32768);
	ck_assert_str_eq(l->filter_chains[0].name, "only");
	ck_assert_int_eq(tp->idle_timeout_ms, 0);
	ck_assert_int_eq(tp->max_downstream_connection_duration_ms, 1);
	ck_assert_uint_eq(tp->max_connect_attempts, 3);
	ck_assert_int_eq(tp->upstream_connect_mode, TP_CONNECT_ON_DOWNSTREAM_DATA);
	ck_assert_int_eq(tp->max_early_data_bytes, 0);
	ck_assert_int_eq(c->connect_timeout_ms, 250);
	ck_assert_int_eq(c->lb_policy, TP_LB_RANDOM); /* Envoy's number 3 */
	ck_assert_uint_eq(c->per_connection_buffer_limit_bytes, 65536);
	ck_assert_int_eq(c->n_endpoints, 2); /* flattened across localities */
	ck_assert_uint_eq(c->endpoints[0].weight, 5);
	ck_assert_str_eq(c->endpoints[0].addr.text, "10.0.0.1:1");
	ck_assert_str_eq(c->endpoints[1].addr.text, "[fe80::1]:65535");
	tp_config_free(cfg);
}
END_TEST

/* Nearly every Envoy file carries these; they mean nothing here and must not stop a load. */
START_TEST(ignored_envoy_fields)
{
	struct tp_config *cfg =
		load_ok(edit("static_resources:\n",
			     "node: {id: edge-1, cluster: edge, metadata: {a: b}}\n"
			     "admin:\n  access_log_path: /dev/null\n"
			     "  address: {socket_address: {address: 127.0.0.1, port_value: 9901}}\n"
			     "static_resources:\n"));

	ck_assert(cfg->admin.enabled);
	tp_config_free(cfg);
}
END_TEST

START_TEST(lower_camel_case)
{
	struct tp_config *cfg =
		load_ok("staticResources:\n"
			"  listeners:\n"
			"  - name: l\n"
			"    address: {socketAddress: {address: 127.0.0.1, portValue: 80}}\n"
			"    perConnectionBufferLimitBytes: 4096\n"
			"    filterChains:\n"
			"    - filters:\n"
			"      - name: envoy.tcp_proxy\n"
			"        typedConfig:\n"
			"          \"@type\": " TCP_PROXY_TYPE "\n"
			"          statPrefix: s\n"
			"          cluster: c\n"
			"          idleTimeout: 10s\n"
			"          maxDownstreamConnectionDuration: 20s\n"
			"          maxConnectAttempts: 2\n"
			"          upstreamConnectMode: ON_DOWNSTREAM_DATA\n"
			"          maxEarlyDataBytes: 1024\n"
			"  clusters:\n"
			"  - name: c\n"
			"    connectTimeout: 1s\n"
			"    lbPolicy: LEAST_REQUEST\n"
			"    loadAssignment:\n"
			"      clusterName: c\n"
			"      endpoints:\n"
			"      - lbEndpoints:\n"
			"        - endpoint: {address: {socketAddress: {address: 127.0.0.1, "
			"portValue: 81}}}\n"
			"          loadBalancingWeight: 7\n");
	const struct tp_tcp_proxy_cfg *tp = cfg->listeners[0].filter_chains[0].filters[0].conf;

	ck_assert_uint_eq(cfg->listeners[0].per_connection_buffer_limit_bytes, 4096);
	ck_assert_str_eq(tp->stat_prefix, "s");
	ck_assert_int_eq(tp->idle_timeout_ms, 10000);
	ck_assert_int_eq(tp->max_downstream_connection_duration_ms, 20000);
	ck_assert_uint_eq(tp->max_connect_attempts, 2);
	ck_assert_int_eq(tp->max_early_data_bytes, 1024);
	ck_assert_int_eq(cfg->clusters[0].connect_timeout_ms, 1000);
	ck_assert_int_eq(cfg->clusters[0].lb_policy, TP_LB_LEAST_REQUEST);
	ck_assert_uint_eq(cfg->clusters[0].endpoints[0].weight, 7);
	tp_config_free(cfg);
}
END_TEST

START_TEST(anchors_and_aliases)
{
	struct tp_config *cfg = load_ok(
		"static_resources:\n"
		"  listeners:\n"
		"  - name: a\n"
		"    address: {socket_address: {address: 127.0.0.1, port_value: 1}}\n"
		"    filter_chains: &chains\n"
		"    - filters:\n"
		"      - name: t\n"
		"        typed_config: {\"@type\": " TCP_PROXY_TYPE
		", stat_prefix: s, cluster: d}\n"
		"  - name: b\n"
		"    address: {socket_address: {address: 127.0.0.1, port_value: 2}}\n"
		"    filter_chains: *chains\n"
		"  clusters:\n"
		"  - &base\n"
		"    name: c\n"
		"    connect_timeout: 2s\n"
		"    load_assignment:\n"
		"      cluster_name: c\n"
		"      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: &ep\n"
		"                   {address: 127.0.0.1, port_value: 3}}}}]}]\n"
		"  - <<: *base\n"
		"    name: d\n"
		"    lb_policy: RANDOM\n");
	const struct tp_tcp_proxy_cfg *a = cfg->listeners[0].filter_chains[0].filters[0].conf;
	const struct tp_tcp_proxy_cfg *b = cfg->listeners[1].filter_chains[0].filters[0].conf;

	/* The aliased chain is decoded once per use: each listener owns its own config. */
	ck_assert_ptr_ne(a, b);
	ck_assert_str_eq(b->cluster, "d");
	ck_assert_int_eq(a->cluster_index, 1);
	ck_assert_int_eq(b->cluster_index, 1);
	ck_assert_str_eq(cfg->clusters[1].name, "d");
	ck_assert_int_eq(cfg->clusters[1].connect_timeout_ms, 2000); /* merged from c */
	ck_assert_int_eq(cfg->clusters[1].lb_policy, TP_LB_RANDOM);
	ck_assert_int_eq(cfg->clusters[0].lb_policy, TP_LB_ROUND_ROBIN);
	ck_assert_str_eq(cfg->clusters[1].endpoints[0].addr.text, "127.0.0.1:3");
	tp_config_free(cfg);
}
END_TEST

START_TEST(json_file)
{
	struct tp_config *cfg = load_ok(
		"{\n"
		"  \"staticResources\": {\n"
		"    \"listeners\": [{\n"
		"      \"name\": \"j\",\n"
		"      \"address\": {\"socketAddress\": {\"address\": \"127.0.0.1\", "
		"\"portValue\": 9}},\n"
		"      \"filterChains\": [{\"filters\": [{\n"
		"        \"name\": \"envoy.filters.network.tcp_proxy\",\n"
		"        \"typedConfig\": {\"@type\": \"" TCP_PROXY_TYPE "\",\n"
		"                        \"statPrefix\": \"j\", \"cluster\": \"c\",\n"
		"                        \"idleTimeout\": \"1.5s\", \"maxConnectAttempts\": 4}\n"
		"      }]}]\n"
		"    }],\n"
		"    \"clusters\": [{\"name\": \"c\", \"connectTimeout\": \"2s\", \"type\": "
		"\"STATIC\",\n"
		"      \"loadAssignment\": {\"clusterName\": \"c\", \"endpoints\": []}}]\n"
		"  }\n"
		"}\n");
	const struct tp_tcp_proxy_cfg *tp = cfg->listeners[0].filter_chains[0].filters[0].conf;

	ck_assert_str_eq(cfg->listeners[0].name, "j");
	ck_assert_int_eq(tp->idle_timeout_ms, 1500);
	ck_assert_uint_eq(tp->max_connect_attempts, 4);
	ck_assert_int_eq(cfg->clusters[0].connect_timeout_ms, 2000);
	ck_assert_int_eq(cfg->clusters[0].n_endpoints, 0); /* allowed: no host at runtime (UH) */
	tp_config_free(cfg);
}
END_TEST

START_TEST(null_means_unset)
{
	/* protobuf JSON reads null as "not set": the default applies. */
	struct tp_config *cfg =
		load_ok(edit("          cluster: c0\n", "          cluster: c0\n"
							"          idle_timeout: ~\n"
							"          access_log:\n"));
	const struct tp_tcp_proxy_cfg *tp = cfg->listeners[0].filter_chains[0].filters[0].conf;

	ck_assert_int_eq(tp->idle_timeout_ms, 3600 * 1000);
	tp_config_free(cfg);
}
END_TEST

/* Envoy reads enum names with protobuf's case_insensitive_enum_parsing: its docs and many
 * tutorials write "type: static" or "lb_policy: round_robin". */
START_TEST(enums_any_case)
{
	struct tp_config *cfg =
		load_ok("static_resources:\n"
			"  listeners:\n"
			"  - address: {socket_address: {address: 127.0.0.1, port_value: 1, "
			"protocol: tcp}}\n"
			"    filter_chains:\n"
			"    - filters:\n"
			"      - name: sfs\n"
			"        typed_config:\n"
			"          \"@type\": type.googleapis.com/"
			"envoy.extensions.filters.network.set_filter_state.v3.Config\n"
			"          on_new_connection:\n"
			"          - {object_key: envoy.string, format_string: {text_format: x},\n"
			"             shared_with_upstream: Once}\n"
			"      - name: t\n"
			"        typed_config:\n"
			"          \"@type\": " TCP_PROXY_TYPE "\n"
			"          stat_prefix: s\n"
			"          cluster: c\n"
			"          upstream_connect_mode: on_downstream_data\n"
			"          max_early_data_bytes: 10\n"
			"  clusters:\n"
			"  - name: c\n"
			"    type: static\n"
			"    lb_policy: least_Request\n"
			"  - name: d\n"
			"    type: \"Static\"\n"
			"    lb_policy: random\n");
	const struct tp_tcp_proxy_cfg *tp = cfg->listeners[0].filter_chains[0].filters[1].conf;

	ck_assert_int_eq(tp->upstream_connect_mode, TP_CONNECT_ON_DOWNSTREAM_DATA);
	ck_assert_int_eq(cfg->clusters[0].type, TP_CLUSTER_STATIC);
	ck_assert_int_eq(cfg->clusters[0].lb_policy, TP_LB_LEAST_REQUEST);
	ck_assert_int_eq(cfg->clusters[1].lb_policy, TP_LB_RANDOM);
	tp_config_free(cfg);

	/* A value Envoy has in any case is "not supported yet", never "unknown". */
	EXPECT(edit("  - name: c0\n", "  - name: c0\n    type: eds\n"),
	       ":15:11: static_resources.clusters[0].type: EDS is not supported yet by "
	       "tcpproxy (see docs/envoy-compat.md)");
	EXPECT(edit("  - name: c0\n", "  - name: c0\n    lb_policy: Cluster_Provided\n"),
	       ":15:16: static_resources.clusters[0].lb_policy: CLUSTER_PROVIDED is not supported "
	       "yet by tcpproxy (see docs/envoy-compat.md)");
	EXPECT(edit("port_value: 10000", "port_value: 10000, protocol: udp"),
	       ":5:73: static_resources.listeners[0].address.socket_address.protocol: UDP is not "
	       "supported yet by tcpproxy (see docs/envoy-compat.md)");
	/* Unknown in every case: only the values tcpproxy serves are offered. */
	EXPECT(edit("  - name: c0\n", "  - name: c0\n    type: static_dns\n"),
	       ":15:11: static_resources.clusters[0].type: unknown value \"static_dns\"; expected "
	       "STATIC, STRICT_DNS or LOGICAL_DNS (Envoy also has EDS and ORIGINAL_DST, not "
	       "supported yet by tcpproxy)");
	EXPECT(edit("          cluster: c0\n",
		    "          cluster: c0\n          upstream_connect_mode: eventually\n"),
	       ":13:34: " TP0 ".upstream_connect_mode: unknown value \"eventually\"; expected "
	       "IMMEDIATE, ON_DOWNSTREAM_DATA or ON_DOWNSTREAM_TLS_HANDSHAKE");
}
END_TEST

/* protobuf's JSON parser in Envoy reads one message where a list is expected; Envoy's own
 * integration-test bootstraps write listeners and clusters that way. */
START_TEST(one_message_for_a_list)
{
	struct tp_config *cfg =
		load_ok("static_resources:\n"
			"  listeners:\n"
			"    name: l\n"
			"    address: {socket_address: {address: 127.0.0.1, port_value: 1}}\n"
			"    filter_chains:\n"
			"      filters:\n"
			"        name: t\n"
			"        typed_config:\n"
			"          \"@type\": " TCP_PROXY_TYPE "\n"
			"          stat_prefix: s\n"
			"          cluster: c\n"
			"          access_log:\n"
			"            name: a\n"
			"            typed_config:\n"
			"              \"@type\": type.googleapis.com/"
			"envoy.extensions.access_loggers.stream.v3.StdoutAccessLog\n"
			"  clusters:\n"
			"    name: c\n"
			"    load_assignment:\n"
			"      cluster_name: c\n"
			"      endpoints:\n"
			"        lb_endpoints:\n"
			"          endpoint: {address: {socket_address: {address: 127.0.0.2, "
			"port_value: 2}}}\n");
	const struct tp_tcp_proxy_cfg *tp;

	ck_assert_int_eq(cfg->n_listeners, 1);
	ck_assert_str_eq(cfg->listeners[0].name, "l");
	ck_assert_int_eq(cfg->listeners[0].n_filter_chains, 1);
	ck_assert_int_eq(cfg->listeners[0].filter_chains[0].n_filters, 1);
	tp = cfg->listeners[0].filter_chains[0].filters[0].conf;
	ck_assert_int_eq(tp->cluster_index, 0);
	ck_assert_int_eq(tp->n_access_logs, 1);
	ck_assert_int_eq(cfg->n_clusters, 1);
	ck_assert_int_eq(cfg->clusters[0].n_endpoints, 1);
	ck_assert_str_eq(cfg->clusters[0].endpoints[0].addr.text, "127.0.0.2:2");
	tp_config_free(cfg);

	/* Its errors name it as the list's first element. */
	EXPECT(edit("  clusters:\n  - name: c0\n", "  clusters:\n    name: c0\n    typo: 1\n"),
	       ":15:5: static_resources.clusters[0].typo: unknown field");
}
END_TEST

/* The same parser reads a google.protobuf.Duration written as its message. */
START_TEST(duration_as_message)
{
	struct tp_config *cfg = load_ok(
		edit("          cluster: c0\n",
		     "          cluster: c0\n"
		     "          idle_timeout: {}\n"
		     "          max_downstream_connection_duration: {nanos: 500000}\n"
		     "          access_log_options:\n"
		     "            access_log_flush_interval: {seconds: \"2\", nanos: 500000000}\n"
		     "          max_connect_attempts: 2\n"));
	const struct tp_tcp_proxy_cfg *tp;

	tp = cfg->listeners[0].filter_chains[0].filters[0].conf;
	ck_assert_int_eq(tp->idle_timeout_ms, 0);			/* 0s: disabled */
	ck_assert_int_eq(tp->max_downstream_connection_duration_ms, 1); /* below 1 ms: 1 ms */
	ck_assert_int_eq(tp->access_log_flush_interval_ms, 2500);
	tp_config_free(cfg);
	cfg = load_ok(edit("  - name: c0\n",
			   "  - name: c0\n"
			   "    connectTimeout: {seconds: 1, nanos: 250000000}\n"));
	ck_assert_int_eq(cfg->clusters[0].connect_timeout_ms, 1250);
	tp_config_free(cfg);

	EXPECT(edit("  - name: c0\n",
		    "  - name: c0\n    connect_timeout: {seconds: 1, nanos: -1}\n"),
	       ":15:22: static_resources.clusters[0].connect_timeout: bad duration: seconds and "
	       "nanos must have the same sign");
	EXPECT(edit("  - name: c0\n", "  - name: c0\n    connect_timeout: {nanos: -5}\n"),
	       ":15:22: static_resources.clusters[0].connect_timeout: bad duration: negative "
	       "durations are not allowed");
	EXPECT(edit("  - name: c0\n", "  - name: c0\n    connect_timeout: {nanos: 1000000000}\n"),
	       ":15:30: static_resources.clusters[0].connect_timeout.nanos: 1000000000 is out of "
	       "range -999999999..999999999");
	EXPECT(edit("  - name: c0\n",
		    "  - name: c0\n    connect_timeout: {seconds: 315576000001}\n"),
	       ":15:32: static_resources.clusters[0].connect_timeout.seconds: 315576000001 is out "
	       "of range -315576000000..315576000000");
	EXPECT(edit("  - name: c0\n", "  - name: c0\n    connect_timeout: {seconds: 0}\n"),
	       ":15:22: static_resources.clusters[0].connect_timeout: duration \"0s\" is too "
	       "short: "
	       "the least is 0.001s");
	EXPECT(edit("  - name: c0\n", "  - name: c0\n    connect_timeout: {secs: 1, seconds: x}\n"),
	       ":15:23: static_resources.clusters[0].connect_timeout.secs: unknown field",
	       ":15:41: static_resources.clusters[0].connect_timeout.seconds: expected an integer, "
	       "got \"x\"");
}
END_TEST

/* raw_buffer is plain TCP, what tcpproxy does: accepted on filter chains and clusters, by name
 * or by typed_config; an empty cluster_manager sets nothing. */
START_TEST(raw_buffer_transport)
{
	struct tp_config *cfg = load_ok(edit("    - filters:\n",
					     "    - transport_socket:\n"
					     "        name: envoy.transport_sockets.raw_buffer\n"
					     "      filters:\n"));

	ck_assert_ptr_eq(cfg->listeners[0].filter_chains[0].transport.ops, &tp_transport_raw);
	ck_assert_ptr_null(cfg->clusters[0].transport.ops); /* none given: raw as well */
	tp_config_free(cfg);
	cfg = load_ok(edit("  - name: c0\n",
			   "  - name: c0\n"
			   "    transport_socket:\n"
			   "      name: plain\n"
			   "      typed_config:\n"
			   "        \"@type\": type.googleapis.com/"
			   "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer\n"));
	ck_assert_ptr_eq(cfg->clusters[0].transport.ops, &tp_transport_raw);
	tp_config_free(cfg);
	cfg = load_ok(edit("static_resources:\n", "cluster_manager: {}\nstatic_resources:\n"));
	tp_config_free(cfg);

	/* TLS by name alone: an empty UpstreamTlsContext (no verification, as in Envoy). */
	cfg = load_ok(edit("  - name: c0\n",
			   "  - name: c0\n"
			   "    transport_socket: {name: envoy.transport_sockets.tls}\n"));
	ck_assert_ptr_eq(cfg->clusters[0].transport.ops, &tp_transport_tls_client);
	ck_assert_ptr_nonnull(cfg->clusters[0].transport.conf);
	tp_config_free(cfg);
	/* Each side takes its own context; anything else is not served yet. */
	EXPECT(edit("    - filters:\n",
		    "    - transport_socket:\n"
		    "        name: envoy.transport_sockets.tls\n"
		    "        typed_config:\n"
		    "          \"@type\": type.googleapis.com/"
		    "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext\n"
		    "      filters:\n"),
	       ":10:20: static_resources.listeners[0].filter_chains[0].transport_socket."
	       "typed_config.@type: UpstreamTlsContext is for a cluster; a filter chain takes "
	       "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext");
	EXPECT(edit("  - name: c0\n",
		    "  - name: c0\n"
		    "    transport_socket: {name: envoy.transport_sockets.alts}\n"),
	       ":15:30: static_resources.clusters[0].transport_socket.name: transport socket "
	       "\"envoy.transport_sockets.alts\" is not supported yet by tcpproxy: it has plain "
	       "TCP (envoy.transport_sockets.raw_buffer) and TLS (envoy.transport_sockets.tls) "
	       "(see "
	       "docs/envoy-compat.md)");
	EXPECT(edit("  - name: c0\n", "  - name: c0\n"
				      "    transport_socket:\n"
				      "      name: envoy.transport_sockets.tls\n"
				      "      typed_config:\n"
				      "        \"@type\": "
				      "type.googleapis.com/envoy.api.v2.auth.UpstreamTlsContext\n"),
	       ":18:18: static_resources.clusters[0].transport_socket.typed_config.@type: "
	       "unsupported @type \"type.googleapis.com/envoy.api.v2.auth.UpstreamTlsContext\": "
	       "Envoy's v2 API was removed; its v3 type is type.googleapis.com/"
	       "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext");
	/* RawBuffer has no field; TransportSocket needs its name. */
	EXPECT(edit("  - name: c0\n", "  - name: c0\n"
				      "    transport_socket:\n"
				      "      typed_config:\n"
				      "        \"@type\": type.googleapis.com/"
				      "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer\n"
				      "        buffer: 1\n"),
	       ":16:7: static_resources.clusters[0].transport_socket.name: missing required field",
	       ":18:9: static_resources.clusters[0].transport_socket.typed_config.buffer: unknown "
	       "field");
	EXPECT(edit("static_resources:\n",
		    "cluster_manager: {local_cluster_name: c0}\nstatic_resources:\n"),
	       ":1:19: cluster_manager.local_cluster_name: not supported yet by tcpproxy (see "
	       "docs/envoy-compat.md)");
}
END_TEST

/* listener_filters: tls_inspector by @type, by name alone (new and old), or with a typed_config
 * that has no @type; the timeout's default and its 0. */
START_TEST(listener_filters)
{
	struct tp_config *cfg =
		load_ok(edit("    filter_chains:\n",
			     "    listener_filters:\n"
			     "    - name: envoy.filters.listener.tls_inspector\n"
			     "    - name: envoy.listener.tls_inspector\n"
			     "      typed_config: {}\n"
			     "    - name: inspect\n"
			     "      typed_config:\n"
			     "        \"@type\": type.googleapis.com/"
			     "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector\n"
			     "        max_client_hello_size: 1024\n"
			     "        initial_read_buffer_size: 512\n"
			     "        enable_ja3_fingerprinting: false\n"
			     "        close_connection_on_client_hello_parsing_errors: true\n"
			     "    filter_chains:\n"));
	const struct tp_listener_cfg *l = &cfg->listeners[0];

	ck_assert_uint_eq(l->n_listener_filters, 3);
	for (unsigned i = 0; i < 3; i++) {
		ck_assert_ptr_eq(l->listener_filters[i].ops, &tp_lfilter_tls_inspector);
		ck_assert_ptr_nonnull(l->listener_filters[i].conf);
	}
	ck_assert_uint_eq(l->listener_filters[0].max_read_bytes, 16384);
	ck_assert_uint_eq(l->listener_filters[2].max_read_bytes, 1024);
	ck_assert_uint_gt(l->lfilter_state_bytes, 0);
	ck_assert_int_eq(l->listener_filters_timeout_ms, 15000);
	ck_assert(!l->continue_on_listener_filters_timeout);
	tp_config_free(cfg);

	cfg = load_ok(edit("    filter_chains:\n",
			   "    listener_filters_timeout: 0s\n"
			   "    continue_on_listener_filters_timeout: true\n"
			   "    filter_chains:\n"));
	ck_assert_int_eq(cfg->listeners[0].listener_filters_timeout_ms, 0);
	ck_assert(cfg->listeners[0].continue_on_listener_filters_timeout);
	ck_assert_uint_eq(cfg->listeners[0].n_listener_filters, 0);
	tp_config_free(cfg);

	EXPECT(edit("    filter_chains:\n",
		    "    listener_filters:\n"
		    "    - name: envoy.filters.listener.tls_inspector\n"
		    "      typed_config:\n"
		    "        \"@type\": type.googleapis.com/"
		    "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector\n"
		    "        max_client_hello_size: 65536\n"
		    "        enable_ja4_fingerprinting: true\n"
		    "    - name: nope\n"
		    "    - {}\n"
		    "    filter_chains:\n"),
	       ":10:32: static_resources.listeners[0].listener_filters[0].typed_config."
	       "max_client_hello_size: 65536 is out of range 0..16384",
	       ":11:9: static_resources.listeners[0].listener_filters[0].typed_config."
	       "enable_ja4_fingerprinting: not supported yet by tcpproxy (see "
	       "docs/envoy-compat.md)",
	       ":12:13: static_resources.listeners[0].listener_filters[1].name: unknown listener "
	       "filter \"nope\": with no typed_config \"@type\" the name picks it; tcpproxy has "
	       "envoy.filters.listener.tls_inspector",
	       ":13:7: static_resources.listeners[0].listener_filters[2].name: missing required "
	       "field");
}
END_TEST

/* Several chains with filter_chain_match and a default chain: all load into filter_chains, the
 * default last; duplicates and overlaps are refused at the later chain. */
START_TEST(filter_chains_and_default)
{
	struct tp_config *cfg;
	const struct tp_listener_cfg *l;

	cfg = load_ok(edit("    filter_chains:\n    - filters:\n",
			   "    listener_filters: [{name: envoy.listener.tls_inspector}]\n"
			   "    default_filter_chain:\n"
			   "      name: fallback\n"
			   "      filter_chain_match: {server_names: [ignored.example.com]}\n"
			   "      filters:\n"
			   "      - name: t\n"
			   "        typed_config: {\"@type\": " TCP_PROXY_TYPE
			   ", stat_prefix: d, cluster: c0}\n"
			   "    filter_chains:\n"
			   "    - name: a\n"
			   "      filter_chain_match: {server_names: [a.example.com]}\n"
			   "      filters:\n"));
	l = &cfg->listeners[0];
	ck_assert_uint_eq(l->n_filter_chains, 2);
	ck_assert(l->has_default_chain);
	ck_assert_str_eq(l->filter_chains[0].name, "a");
	ck_assert_str_eq(l->filter_chains[1].name, "fallback");
	ck_assert_ptr_nonnull(l->matcher);
	ck_assert_uint_eq(l->filter_chains[0].match.n_server_names, 1);
	tp_config_free(cfg);

	/* A second chain. */
	cfg = load_ok(
		edit("  clusters:\n",
		     "    - name: b\n"
		     "      filter_chain_match: {destination_port: 10000, transport_protocol: "
		     "raw_buffer, prefix_ranges: [{address_prefix: 127.0.0.1, prefix_len: 32}]}\n"
		     "      filters:\n"
		     "      - name: t\n"
		     "        typed_config: {\"@type\": " TCP_PROXY_TYPE
		     ", stat_prefix: b, cluster: c0}\n"
		     "  clusters:\n"));
	ck_assert_uint_eq(cfg->listeners[0].n_filter_chains, 2);
	ck_assert_uint_eq(cfg->listeners[0].filter_chains[1].match.destination_port, 10000);
	ck_assert_ptr_nonnull(cfg->listeners[0].matcher);
	ck_assert(!cfg->listeners[0].has_default_chain);
	tp_config_free(cfg);

	/* The default chain alone loads (Envoy: "no filter chains specified" only without it). */
	cfg = load_ok(edit("    filter_chains:\n    - filters:\n",
			   "    default_filter_chain:\n      filters:\n"));
	ck_assert_uint_eq(cfg->listeners[0].n_filter_chains, 1);
	ck_assert(cfg->listeners[0].has_default_chain);
	ck_assert_ptr_null(cfg->listeners[0].matcher);
	tp_config_free(cfg);

	/* The default chain's own errors name it. */
	EXPECT(edit("    filter_chains:\n    - filters:\n",
		    "    default_filter_chain:\n      filters: []\n    filter_chains:\n"
		    "    - filters:\n"),
	       ":7:16: static_resources.listeners[0].default_filter_chain.filters: at least one "
	       "filter is required, the last being envoy.filters.network.tcp_proxy");
}
END_TEST

START_TEST(no_listeners)
{
	struct tp_config *cfg = load_ok("static_resources: {}\n");

	ck_assert_int_eq(cfg->n_listeners, 0);
	ck_assert_int_eq(cfg->n_clusters, 0);
	tp_config_free(cfg);
}
END_TEST

/* ---- each error class ---- */

START_TEST(unknown_field)
{
	EXPECT(edit("          cluster: c0\n", "          cluster: c0\n          clutser: c0\n"),
	       ":13:11: " TP0 ".clutser: unknown field");
	EXPECT(edit("static_resources:\n", "statics:\n"), ":1:1: statics: unknown field");
	EXPECT(edit("  - name: c0\n", "  - name: c0\n    hosts: []\n"),
	       ":15:5: static_resources.clusters[0].hosts: unknown field: Envoy's v3 API removed "
	       "it; use load_assignment");
	EXPECT(edit("        typed_config:\n", "        config: {}\n        typed_config:\n"),
	       ":9:9: static_resources.listeners[0].filter_chains[0].filters[0].config: unknown "
	       "field: Envoy's v3 API removed it; use typed_config with an \"@type\"");
}
END_TEST

START_TEST(wrong_type)
{
	EXPECT(edit("stat_prefix: p0", "stat_prefix: [p0]"),
	       ":11:24: " TP0 ".stat_prefix: expected a string, got a list");
	EXPECT(edit("port_value: 10000", "port_value: ten"),
	       ":5:56: static_resources.listeners[0].address.socket_address.port_value: expected "
	       "an "
	       "unsigned integer, got \"ten\"");
	EXPECT(edit("  listeners:\n", "  listeners: 5\n  x:\n"),
	       ":2:14: static_resources.listeners: expected a list, got a number",
	       ":3:3: static_resources.x: unknown field");
	EXPECT(edit("{address: 127.0.0.1, port_value: 10000}", "[127.0.0.1, 10000]"),
	       ":5:23: static_resources.listeners[0].address.socket_address: expected a mapping, "
	       "got a list");
	EXPECT(edit("  - name: c0\n", "  - name: c0\n    connect_timeout: [5s]\n"),
	       ":15:22: static_resources.clusters[0].connect_timeout: expected a duration string "
	       "like \"5s\" (or {seconds: 5}), got a list");
	EXPECT(edit("  - name: c0\n", "  - name: c0\n    lb_policy: [RANDOM]\n"),
	       ":15:16: static_resources.clusters[0].lb_policy: expected an enum name, got a list");
	EXPECT(edit("  - name: l0\n", "  - name: l0\n    enable_reuse_port: \"true\"\n"),
	       ":4:5: static_resources.listeners[0].enable_reuse_port: not supported yet by "
	       "tcpproxy (see docs/envoy-compat.md)");
	EXPECT("- a\n", ":1:1: (root): expected a mapping, got a list");
}
END_TEST

START_TEST(missing_required)
{
	EXPECT(edit("          stat_prefix: p0\n", ""),
	       ":10:11: " TP0 ".stat_prefix: missing required field");
	EXPECT(edit("          cluster: c0\n", ""),
	       ":10:11: " TP0 ".cluster: missing required field (one of cluster or "
	       "weighted_clusters)");
	/* The cluster without a name also leaves tcp_proxy's cluster unknown: both reported. */
	EXPECT(edit("  - name: c0\n", "  - type: STATIC\n"),
	       ":12:20: " TP0 ".cluster: " UNKNOWN_CLUSTER("c0"),
	       ":14:5: static_resources.clusters[0].name: missing required field");
}
END_TEST

/* Envoy loads a tcp_proxy whose cluster is not (yet) there and answers each connection with
 * no_route: a warning with its place, and cluster_index -1 for the runtime. */
START_TEST(unknown_cluster)
{
	struct tp_config *cfg = LOAD_WARN(edit("cluster: c0", "cluster: c9"),
					  ":12:20: " TP0 ".cluster: " UNKNOWN_CLUSTER("c9"));
	const struct tp_tcp_proxy_cfg *tp = cfg->listeners[0].filter_chains[0].filters[0].conf;

	ck_assert_str_eq(tp->cluster, "c9");
	ck_assert_int_eq(tp->cluster_index, -1);
	tp_config_free(cfg);
	/* Beside an error, the warning is still said, in file order. */
	EXPECT(edit("cluster: c0", "cluster: c9\n          clutser: c0"),
	       ":12:20: " TP0 ".cluster: " UNKNOWN_CLUSTER("c9"),
	       ":13:11: " TP0 ".clutser: unknown field");
}
END_TEST

START_TEST(duplicate_names)
{
	EXPECT(edit("  clusters:\n",
		    "  - name: l0\n"
		    "    address: {socket_address: {address: 127.0.0.1, port_value: 10002}}\n"
		    "    filter_chains: [{filters: [{name: t, typed_config: "
		    "{\"@type\": " TCP_PROXY_TYPE ", stat_prefix: p, cluster: c0}}]}]\n"
		    "  clusters:\n"),
	       ":13:11: static_resources.listeners[1].name: duplicate listener name \"l0\" (first "
	       "at line 3)");
	EXPECT(edit("  clusters:\n", "  clusters:\n  - name: c0\n"),
	       ":15:11: static_resources.clusters[1].name: duplicate cluster name \"c0\" (first at "
	       "line 14)");
}
END_TEST

START_TEST(same_address)
{
	EXPECT(edit("  clusters:\n",
		    "  - name: l1\n"
		    "    address: {socket_address: {address: 127.0.0.1, port_value: 10000}}\n"
		    "    filter_chains: [{filters: [{name: t, typed_config: "
		    "{\"@type\": " TCP_PROXY_TYPE ", stat_prefix: p, cluster: c0}}]}]\n"
		    "  clusters:\n"),
	       ":14:14: static_resources.listeners[1].address: address 127.0.0.1:10000 is already "
	       "used by listener \"l0\" (line 3)");
}
END_TEST

START_TEST(bad_address_and_port)
{
	EXPECT(edit("address: 127.0.0.1, port_value: 10000",
		    "address: localhost, port_value: 10000"),
	       ":5:33: static_resources.listeners[0].address.socket_address.address: bad address "
	       "\"localhost\": expected an IPv4 or IPv6 literal (tcpproxy does not resolve names)");
	EXPECT(edit("port_value: 10000", "port_value: 0"),
	       ":5:56: static_resources.listeners[0].address.socket_address.port_value: bad port "
	       "0: "
	       "must be 1..65535");
	EXPECT(edit("port_value: 10001", "port_value: 65536"),
	       ":21:64: static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0]."
	       "endpoint.address.socket_address.port_value: bad port 65536: must be 1..65535");
	EXPECT(edit("port_value: 10001", "port_value: -1"),
	       ":21:64: static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0]."
	       "endpoint.address.socket_address.port_value: -1 is out of range 0..4294967295");
	EXPECT(edit("address: 127.0.0.1, port_value: 10000", "address: \"[::1]\", port_value: 1"),
	       ":5:33: static_resources.listeners[0].address.socket_address.address: bad address "
	       "\"[::1]\": expected an IPv4 or IPv6 literal (tcpproxy does not resolve names)");
	EXPECT(edit("address: 127.0.0.1, port_value: 10000", "address: 127.0.0.1"),
	       ":5:23: static_resources.listeners[0].address.socket_address.port_value: missing "
	       "required field");
	EXPECT(edit("address: 127.0.0.1, port_value: 10000", "address: 1.2.3.4, protocol: UDP"),
	       ":5:23: static_resources.listeners[0].address.socket_address.port_value: missing "
	       "required field",
	       ":5:52: static_resources.listeners[0].address.socket_address.protocol: UDP is not "
	       "supported yet by tcpproxy (see docs/envoy-compat.md)");
}
END_TEST

START_TEST(unsupported_type)
{
	EXPECT(edit("type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
		    "type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo"),
	       ":10:20: " TP0 ".@type: unsupported @type \"type.googleapis.com/"
	       "envoy.extensions.filters.network.echo.v3.Echo\": tcpproxy has no network filter of "
	       "this type (see docs/envoy-compat.md)");
	EXPECT(edit("type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
		    "type.googleapis.com/envoy.config.filter.network.tcp_proxy.v2.TcpProxy"),
	       ":10:20: " TP0 ".@type: unsupported @type \"type.googleapis.com/"
	       "envoy.config.filter.network.tcp_proxy.v2.TcpProxy\": Envoy's v2 API was removed; "
	       "use its v3 type, " TCP_PROXY_TYPE);
	/* Another v2 filter: its own v3 type (renamed packages too), and tcpproxy has none. */
	EXPECT(edit(TCP_PROXY_TYPE, "type.googleapis.com/"
				    "envoy.config.filter.network.http_connection_manager.v2."
				    "HttpConnectionManager"),
	       ":10:20: " TP0 ".@type: unsupported @type \"type.googleapis.com/"
	       "envoy.config.filter.network.http_connection_manager.v2.HttpConnectionManager\": "
	       "Envoy's v2 API was removed; its v3 type is type.googleapis.com/"
	       "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager, "
	       "and tcpproxy has no filter of that type (see docs/envoy-compat.md)");
	EXPECT(edit(TCP_PROXY_TYPE, "type.googleapis.com/envoy.config.filter.network.rate_limit.v2."
				    "RateLimit"),
	       ":10:20: " TP0 ".@type: unsupported @type \"type.googleapis.com/"
	       "envoy.config.filter.network.rate_limit.v2.RateLimit\": Envoy's v2 API was removed; "
	       "its v3 type is type.googleapis.com/envoy.extensions.filters.network.ratelimit.v3."
	       "RateLimit, and tcpproxy has no filter of that type (see docs/envoy-compat.md)");
	EXPECT(edit(TCP_PROXY_TYPE, "type.googleapis.com/envoy.config.filter.network.mysql_proxy."
				    "v1alpha1.MySQLProxy"),
	       ":10:20: " TP0 ".@type: unsupported @type \"type.googleapis.com/"
	       "envoy.config.filter.network.mysql_proxy.v1alpha1.MySQLProxy\": Envoy's v2 API was "
	       "removed; its v3 type is type.googleapis.com/envoy.extensions.filters.network."
	       "mysql_proxy.v3.MySQLProxy, and tcpproxy has no filter of that type (see "
	       "docs/envoy-compat.md)");
	EXPECT(edit(TCP_PROXY_TYPE,
		    "type.googleapis.com/envoy.config.filter.http.router.v2.Router"),
	       ":10:20: " TP0 ".@type: unsupported @type \"type.googleapis.com/"
	       "envoy.config.filter.http.router.v2.Router\": Envoy's v2 API was removed; its v3 "
	       "replacement is an envoy.extensions.* type, and tcpproxy has no filter of that type "
	       "(see docs/envoy-compat.md)");
	EXPECT(edit("          \"@type\": " TCP_PROXY_TYPE "\n", ""),
	       ":10:11: " TP0 ": missing \"@type\"");
	EXPECT(edit("        typed_config:\n          \"@type\": " TCP_PROXY_TYPE
		    "\n          stat_prefix: p0\n          cluster: c0\n",
		    ""),
	       ":8:9: " TP0 ": missing required field: tcpproxy picks a filter by its typed_config "
	       "\"@type\", not by name (\"envoy.filters.network.tcp_proxy\")");
	/* Any @type prefix works: only the message name counts, as in Envoy. */
	tp_config_free(load_ok(edit("type.googleapis.com/envoy", "example.com/x/envoy")));
}
END_TEST

START_TEST(unsupported_field)
{
	EXPECT(edit("static_resources:\n", "tracing: {}\nstatic_resources:\n"),
	       ":1:1: tracing: not supported yet by tcpproxy (see docs/envoy-compat.md)");
	EXPECT(edit("    filter_chains:\n", "    use_original_dst: true\n    filter_chains:\n"),
	       ":6:5: static_resources.listeners[0].use_original_dst: not supported yet by "
	       "tcpproxy (see docs/envoy-compat.md)");
	EXPECT(edit("    filter_chains:\n",
		    "    listener_filters: [{name: envoy.listener.original_dst}]\n"
		    "    filter_chains:\n"),
	       ":6:31: static_resources.listeners[0].listener_filters[0].name: listener filter "
	       "envoy.filters.listener.original_dst is not supported yet by tcpproxy: it has "
	       "envoy.filters.listener.tls_inspector (see docs/envoy-compat.md)");
	EXPECT(edit("          cluster: c0\n",
		    "          cluster: c0\n          downstream_idle_timeout: 1s\n"),
	       ":13:11: " TP0 ".downstream_idle_timeout: not supported yet by tcpproxy (see "
	       "docs/envoy-compat.md)");
	EXPECT(edit("  - name: c0\n",
		    "  - name: c0\n    lb_policy: LOAD_BALANCING_POLICY_CONFIG\n"),
	       ":15:16: static_resources.clusters[0].lb_policy: LOAD_BALANCING_POLICY_CONFIG is "
	       "not "
	       "supported yet by tcpproxy (see docs/envoy-compat.md)");
	EXPECT(edit("  - name: c0\n", "  - name: c0\n    type: 3\n"),
	       ":15:11: static_resources.clusters[0].type: EDS is not supported yet by "
	       "tcpproxy (see docs/envoy-compat.md)");
	EXPECT(edit("  - name: c0\n", "  - name: c0\n    lb_policy: FASTEST\n"),
	       ":15:16: static_resources.clusters[0].lb_policy: unknown value \"FASTEST\"; "
	       "expected ROUND_ROBIN, LEAST_REQUEST, RING_HASH, RANDOM or MAGLEV (Envoy also has "
	       "CLUSTER_PROVIDED and LOAD_BALANCING_POLICY_CONFIG, not supported yet by tcpproxy)");
	EXPECT(edit("  - name: l0\n", "  - name: l0\n    enable_reuse_port: false\n"),
	       ":4:5: static_resources.listeners[0].enable_reuse_port: not supported yet by "
	       "tcpproxy (see docs/envoy-compat.md)");
	EXPECT(edit("static_resources:\n", "admin: {profile_path: /tmp/p}\nstatic_resources:\n"),
	       ":1:9: admin.profile_path: not supported yet by tcpproxy (see "
	       "docs/envoy-compat.md)");
}
END_TEST

/* A oneof member tcpproxy does not serve is reported once, not also as the served member
 * missing. */
START_TEST(oneof_member_not_served)
{
	EXPECT(edit("socket_address: {address: 127.0.0.1, port_value: 10000}",
		    "pipe: {path: /run/x.sock}"),
	       ":5:7: static_resources.listeners[0].address.pipe: not supported yet by tcpproxy "
	       "(see docs/envoy-compat.md)");
	EXPECT(edit("socket_address: {address: 127.0.0.1, port_value: 10001}",
		    "envoy_internal_address: {server_listener_name: x}"),
	       ":21:15: static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0]."
	       "endpoint.address.envoy_internal_address: not supported yet by tcpproxy (see "
	       "docs/envoy-compat.md)");
	EXPECT(edit("port_value: 10000", "named_port: http"),
	       ":5:44: static_resources.listeners[0].address.socket_address.named_port: not "
	       "supported yet by tcpproxy (see docs/envoy-compat.md)");
	EXPECT(edit("        - endpoint:\n"
		    "            address:\n"
		    "              socket_address: {address: 127.0.0.1, port_value: 10001}\n",
		    "        - endpoint_name: named\n"),
	       ":19:11: static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0]."
	       "endpoint_name: not supported yet by tcpproxy (see docs/envoy-compat.md)");
	EXPECT(edit("    address:\n      socket_address: {address: 127.0.0.1, port_value: 10000}\n",
		    "    internal_listener: {}\n"),
	       ":4:5: static_resources.listeners[0].internal_listener: not supported yet by "
	       "tcpproxy "
	       "(see docs/envoy-compat.md)");
	/* With no member at all, the served one is still missing. */
	EXPECT(edit("socket_address: {address: 127.0.0.1, port_value: 10000}", "{}"),
	       ":5:7: static_resources.listeners[0].address.socket_address: missing required "
	       "field");
	EXPECT(edit("    address:\n      socket_address: {address: 127.0.0.1, port_value: 10000}\n",
		    ""),
	       ":3:5: static_resources.listeners[0].address: missing required field");
	EXPECT(edit("        - endpoint:\n"
		    "            address:\n"
		    "              socket_address: {address: 127.0.0.1, port_value: 10001}\n",
		    "        - load_balancing_weight: 2\n"),
	       ":19:11: static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0]."
	       "endpoint: missing required field");
}
END_TEST

/* Names become stats scopes, which hold TP_CFG_STAT_NAME_MAX characters: a longer one would
 * pass validate and stop the generation from starting. */
START_TEST(stat_names_fit)
{
	char name[TP_CFG_STAT_NAME_MAX + 2], line[512];
	struct tp_config *cfg;

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	name[TP_CFG_STAT_NAME_MAX] = '\0'; /* the longest there is */
	snprintf(line, sizeof(line), "stat_prefix: %s", name);
	cfg = load_ok(edit("stat_prefix: p0", line));
	tp_config_free(cfg);

	name[TP_CFG_STAT_NAME_MAX] = 'n'; /* one more */
	snprintf(line, sizeof(line), "stat_prefix: %s", name);
	EXPECT(edit("stat_prefix: p0", line),
	       ":11:24: " TP0 ".stat_prefix: is 240 characters long: tcpproxy's stats take names "
	       "of at most 239 characters (see docs/envoy-compat.md)");
	snprintf(line, sizeof(line), "  - name: %s\n", name);
	EXPECT(edit("  - name: c0\n", line), ":12:20: " TP0 ".cluster: " UNKNOWN_CLUSTER("c0"),
	       ":14:11: static_resources.clusters[0].name: is 240 characters long: tcpproxy's "
	       "stats take names of at most 239 characters (see docs/envoy-compat.md)");
	/* host.<cluster>::<address>: 223 + 2 + "127.0.0.1:10001" is 240. */
	name[223] = '\0';
	snprintf(line, sizeof(line), "  - name: %s\n", name);
	EXPECT(edit("  - name: c0\n", line), ":12:20: " TP0 ".cluster: " UNKNOWN_CLUSTER("c0"),
	       ":14:11: static_resources.clusters[0].name: is 223 characters long: with endpoint "
	       "127.0.0.1:10001 its host stats name (<name>::<address>) is 240, more than the 239 "
	       "tcpproxy's stats take (see docs/envoy-compat.md)");
	name[223] = 'n';
	snprintf(line, sizeof(line),
		 "    - filters:\n"
		 "      - name: limit\n"
		 "        typed_config:\n"
		 "          \"@type\": type.googleapis.com/"
		 "envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit\n"
		 "          stat_prefix: %s\n"
		 "          max_connections: 1\n",
		 name);
	EXPECT(edit("    - filters:\n", line),
	       ":11:24: static_resources.listeners[0].filter_chains[0].filters[0].typed_config."
	       "stat_prefix: is 240 characters long: tcpproxy's stats take names of at most 239 "
	       "characters (see docs/envoy-compat.md)");
}
END_TEST

START_TEST(filter_chain_shape)
{
	EXPECT(edit("    filter_chains:\n", "    filter_chains: []\n    x_chains:\n"),
	       ":6:20: static_resources.listeners[0].filter_chains: at least one filter chain (or "
	       "a default_filter_chain) is required",
	       ":7:5: static_resources.listeners[0].x_chains: unknown field");
	/* Two chains that match alike: refused as Envoy refuses them. */
	EXPECT(edit("    - filters:\n", "    - filters: []\n    - filters:\n"),
	       ":7:16: static_resources.listeners[0].filter_chains[0].filters: at least one filter "
	       "is required, the last being envoy.filters.network.tcp_proxy",
	       ":8:7: static_resources.listeners[0].filter_chains[1]: filter_chains[1] has the "
	       "same matching rules defined as filter_chains[0] (line 7)");
	/* Not a list: one error, not also "at least one filter". */
	EXPECT(edit("    - filters:\n", "    - filters: tcp_proxy\n    - filters:\n"),
	       ":7:16: static_resources.listeners[0].filter_chains[0].filters: expected a list, "
	       "got a string",
	       ":8:7: static_resources.listeners[0].filter_chains[1]: filter_chains[1] has the "
	       "same matching rules defined as filter_chains[0] (line 7)");
	/* tcp_proxy twice: the first is not last. */
	EXPECT(edit("  clusters:\n",
		    "      - {name: again, typed_config: {\"@type\": " TCP_PROXY_TYPE
		    ", stat_prefix: p, cluster: c0}}\n"
		    "  clusters:\n"),
	       ":8:9: static_resources.listeners[0].filter_chains[0].filters[0]: "
	       "envoy.filters.network.tcp_proxy is a terminal filter and must be the last in the "
	       "chain");
}
END_TEST

START_TEST(duration_errors)
{
	EXPECT(edit("          cluster: c0\n",
		    "          cluster: c0\n          idle_timeout: 1h\n"),
	       ":13:25: " TP0 ".idle_timeout: bad duration \"1h\": only seconds are accepted, e.g. "
	       "\"3600s\" for an hour");
	EXPECT(edit("  - name: c0\n", "  - name: c0\n    connect_timeout: 250ms\n"),
	       ":15:22: static_resources.clusters[0].connect_timeout: bad duration \"250ms\": "
	       "milliseconds are written as a fraction of seconds, e.g. \"0.250s\"");
	EXPECT(edit("  - name: c0\n", "  - name: c0\n    connect_timeout: -1s\n"),
	       ":15:22: static_resources.clusters[0].connect_timeout: bad duration \"-1s\": "
	       "negative "
	       "durations are not allowed");
	EXPECT(edit("  - name: c0\n", "  - name: c0\n    connect_timeout: 0s\n"),
	       ":15:22: static_resources.clusters[0].connect_timeout: duration \"0s\" is too "
	       "short: "
	       "the least is 0.001s");
	EXPECT(edit("  - name: c0\n", "  - name: c0\n    connect_timeout: 5\n"),
	       ":15:22: static_resources.clusters[0].connect_timeout: bad duration \"5\": a "
	       "duration "
	       "needs the \"s\" suffix, e.g. \"5s\"");
	EXPECT(edit("          cluster: c0\n",
		    "          cluster: c0\n          max_downstream_connection_duration: 0s\n"),
	       ":13:47: " TP0 ".max_downstream_connection_duration: duration \"0s\" is too short: "
	       "the least is 0.001s");
}
END_TEST

START_TEST(numbers)
{
	EXPECT(edit("          cluster: c0\n",
		    "          cluster: c0\n          max_connect_attempts: 0\n"),
	       ":13:33: " TP0 ".max_connect_attempts: 0 is out of range 1..4294967295");
	EXPECT(edit("  - name: c0\n",
		    "  - name: c0\n    per_connection_buffer_limit_bytes: 4294967296\n"),
	       ":15:40: static_resources.clusters[0].per_connection_buffer_limit_bytes: 4294967296 "
	       "is out of range 1..4294967295");
	EXPECT(edit("          cluster: c0\n",
		    "          cluster: c0\n          max_connect_attempts: 1.5\n"),
	       ":13:33: " TP0 ".max_connect_attempts: expected an unsigned integer, got \"1.5\"");
}
END_TEST

START_TEST(early_data_rules)
{
	EXPECT(edit("          cluster: c0\n",
		    "          cluster: c0\n          upstream_connect_mode: ON_DOWNSTREAM_DATA\n"),
	       ":13:34: " TP0
	       ".upstream_connect_mode: ON_DOWNSTREAM_DATA needs max_early_data_bytes "
	       "(required for every mode but IMMEDIATE since Envoy 1.38)");
	EXPECT(edit("          cluster: c0\n",
		    "          cluster: c0\n          upstream_connect_mode: 2\n"),
	       ":13:34: " TP0 ".upstream_connect_mode: ON_DOWNSTREAM_TLS_HANDSHAKE needs "
	       "max_early_data_bytes (required for every mode but IMMEDIATE since Envoy 1.38)");
	EXPECT(edit("          cluster: c0\n",
		    "          cluster: c0\n          max_early_data_bytes: 1048577\n"),
	       ":13:33: " TP0 ".max_early_data_bytes: 1048577 is out of range 0..1048576");
	tp_config_free(
		load_ok(edit("          cluster: c0\n",
			     "          cluster: c0\n          max_early_data_bytes: 1048576\n")));
}
END_TEST

START_TEST(duplicate_key)
{
	EXPECT(edit("          cluster: c0\n", "          cluster: c0\n          statPrefix: p1\n"),
	       ":13:11: " TP0 ".stat_prefix: given twice (first at line 11 column 11)");
}
END_TEST

START_TEST(many_errors_in_file_order)
{
	EXPECT("static_resources:\n"
	       "  clusters:\n"
	       "  - name: a\n"
	       "    connect_timeout: 1m\n"
	       "    typo: 1\n"
	       "  listeners:\n"
	       "  - address: {socket_address: {address: 300.1.1.1, port_value: 99999}}\n"
	       "    filter_chains:\n"
	       "    - filters:\n"
	       "      - name: t\n"
	       "        typed_config: {\"@type\": " TCP_PROXY_TYPE ", cluster: b}\n",
	       ":4:22: static_resources.clusters[0].connect_timeout: bad duration \"1m\": only "
	       "seconds are accepted, e.g. \"3600s\" for an hour",
	       ":5:5: static_resources.clusters[0].typo: unknown field",
	       ":7:41: static_resources.listeners[0].address.socket_address.address: bad address "
	       "\"300.1.1.1\": expected an IPv4 or IPv6 literal (tcpproxy does not resolve names)",
	       ":7:64: static_resources.listeners[0].address.socket_address.port_value: bad port "
	       "99999: must be 1..65535",
	       ":11:23: " TP0 ".stat_prefix: missing required field",
	       ":11:118: " TP0 ".cluster: " UNKNOWN_CLUSTER("b"));
}
END_TEST

START_TEST(yaml_errors)
{
	EXPECT("static_resources:\n  listeners: [\n",
	       ":3:1: static_resources.listeners[0]: YAML syntax "
	       "error: did not find expected node content "
	       "while parsing a flow node started at line 3 column 1");
	EXPECT("", ":1:1: (root): the file is empty; expected an Envoy bootstrap with "
		   "static_resources");
}
END_TEST

START_TEST(unreadable_file)
{
	struct tp_cfg_errors errs = {0};
	struct tp_config *cfg = (struct tp_config *)1;

	ck_assert_int_eq(tp_config_load("/nonexistent/tcpproxy.yaml", &cfg, &errs), -ENOENT);
	ck_assert_ptr_null(cfg);
	ck_assert_int_eq(errs.n, 1);
	ck_assert_str_eq(errs.lines[0], "/nonexistent/tcpproxy.yaml: cannot read: No such file or "
					"directory");
	tp_cfg_errors_free(&errs);
	ck_assert_int_eq(errs.n, 0);

	/* Not "Input/output error", which is what reading a directory says. */
	ck_assert_int_eq(tp_config_load("/tmp", &cfg, &errs), -EINVAL);
	ck_assert_ptr_null(cfg);
	ck_assert_int_eq(errs.n, 1);
	ck_assert_str_eq(errs.lines[0], "/tmp: not a regular file (a directory)");
	tp_cfg_errors_free(&errs);
}
END_TEST

START_TEST(errors_sorted)
{
	struct tp_cfg_errors errs = {0};
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	tp_cfg_errors_add(&errs, 5, 2, "b");
	tp_cfg_errors_add(&errs, 2, 9, "a");
	tp_cfg_errors_add(&errs, 5, 2, "c"); /* same place: kept in report order */
	tp_cfg_errors_add(&errs, 5, 1, "d");
	tp_cfg_errors_add(&errs, 0, 0, "e");
	tp_cfg_errors_add_warning(&errs, 5, 1, "w"); /* a warning takes its place in the order */
	f = open_memstream(&buf, &len);
	tp_cfg_errors_print(&errs, f);
	fclose(f);
	ck_assert_str_eq(buf, "e\na\nd\nw\nb\nc\n");
	ck_assert_uint_eq(errs.n, 6);
	ck_assert_uint_eq(errs.n_warnings, 1);
	ck_assert(errs.warning[3] && !errs.warning[2] && !errs.warning[4]);
	free(buf);
	tp_cfg_errors_free(&errs);
}
END_TEST

/* Every DIR/X.yaml loads as ok says and prints exactly DIR/X.expected (nothing at all when
 * silent: DIR has no .expected files). Returns how many. */
static unsigned check_fixtures(const char *dir, bool ok, bool silent)
{
	struct dirent *de;
	unsigned n = 0;
	DIR *d = opendir(dir);

	ck_assert_msg(d != NULL, "%s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char yaml[512], expected[512];
		struct tp_cfg_errors errs = {0};
		struct tp_config *cfg = NULL;
		char *got = NULL, *want = NULL;
		size_t got_len = 0, want_len = 0;
		FILE *f;
		int ret;

		if (len < 6 || strcmp(de->d_name + len - 5, ".yaml"))
			continue;
		snprintf(yaml, sizeof(yaml), "%s/%s", dir, de->d_name);
		snprintf(expected, sizeof(expected), "%s/%.*s.expected", dir, (int)(len - 5),
			 de->d_name);
		ret = tp_config_load(yaml, &cfg, &errs);
		ck_assert_msg(ok ? ret == 0 : ret != 0, "%s: load returned %d", yaml, ret);
		tp_config_free(cfg);
		f = open_memstream(&got, &got_len);
		tp_cfg_errors_print(&errs, f);
		fclose(f);
		if (silent) {
			want = strdup("");
		} else {
			f = fopen(expected, "r");
			ck_assert_msg(f != NULL, "%s: no %s", yaml, expected);
			ck_assert_int_ge(getdelim(&want, &want_len, '\0', f), 0);
			fclose(f);
		}
		ck_assert_msg(!strcmp(got, want), "%s:\n got:\n%s\nwant:\n%s", yaml, got, want);
		free(got);
		free(want);
		tp_cfg_errors_free(&errs);
		n++;
	}
	closedir(d);
	return n;
}

/* Every tests/fixtures/bad/X.yaml fails and prints exactly X.expected, every
 * tests/fixtures/warn/X.yaml loads and prints its warnings, every tests/fixtures/ok/X.yaml
 * loads and prints nothing (when run from the top directory, as `make unit` does; the
 * integration test checks the same through the binary). */
START_TEST(fixtures)
{
	if (access("tests/fixtures/bad", F_OK)) {
		fprintf(stderr, "check_config: tests/fixtures not found (not run from the top "
				"directory): fixtures skipped\n");
		return;
	}
	ck_assert_uint_gt(check_fixtures("tests/fixtures/bad", false, false), 0);
	ck_assert_uint_gt(check_fixtures("tests/fixtures/warn", true, false), 0);
	ck_assert_uint_gt(check_fixtures("tests/fixtures/ok", true, true), 0);
}
END_TEST

/* Resident memory of this process, in bytes. */
static size_t rss_bytes(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%ld %ld", &pages, &resident), 2);
	fclose(f);
	return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* Whether malloc is glibc's (mallinfo2() sees it): not under the sanitizers, whose allocator
 * keeps freed memory in quarantine on purpose. */
static bool glibc_malloc(void)
{
	size_t before = mallinfo2().uordblks;
	char *volatile p = malloc(4096); /* volatile: the pair is not optimized away */
	bool seen = mallinfo2().uordblks > before;

	free(p);
	return seen;
}

/* Issue 11: a large config left its node tree's memory in the master's heap, which every worker
 * forked later inherited. Nothing of a load may outlive it but the config, and the memory the
 * tree took must go back to the system: the config here is the valid one with 200,000 ignored
 * nodes under node.metadata (some 25 MB of tree). Leaks as such are the sanitizers' and
 * valgrind's to find: glibc's counts include what its per-thread cache holds, hence the slack. */
/* Routing: weighted clusters with their criteria merged at load, the hash policy, endpoint
 * metadata typed as Envoy reads YAML, localities grouped and sorted, the lb configs. */
START_TEST(routing_fields_load)
{
	struct tp_config *cfg = load_ok(
		"static_resources:\n"
		"  listeners:\n"
		"  - address: {socket_address: {address: 127.0.0.1, port_value: 1}}\n"
		"    filter_chains:\n"
		"    - filters:\n"
		"      - name: t\n"
		"        typed_config:\n"
		"          \"@type\": " TCP_PROXY_TYPE "\n"
		"          stat_prefix: s\n"
		"          metadata_match: {filter_metadata: {envoy.lb: {stage: prod, v: 1}}}\n"
		"          hashPolicy: [{filterState: {key: tenant}}]\n"
		"          weighted_clusters:\n"
		"            clusters:\n"
		"            - {name: c, weight: 3, metadata_match: {filter_metadata: {envoy.lb: "
		"{v: 2, x: y}}}}\n"
		"            - {name: c, weight: 1}\n"
		"  clusters:\n"
		"  - name: c\n"
		"    lb_policy: maglev\n"
		"    maglev_lb_config: {table_size: 7}\n"
		"    common_lb_config: {locality_weighted_lb_config: {}}\n"
		"    lb_subset_config:\n"
		"      fallback_policy: DEFAULT_SUBSET\n"
		"      default_subset: {stage: prod}\n"
		"      subset_selectors: [{keys: [v, stage, v]}, {keys: []}]\n"
		"      list_as_any: true\n"
		"    load_assignment:\n"
		"      cluster_name: c\n"
		"      endpoints:\n"
		"      - locality: {zone: b}\n"
		"        load_balancing_weight: 2\n"
		"        lb_endpoints:\n"
		"        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: "
		"2}}}\n"
		"          metadata: {filter_metadata: {envoy.lb: {v: 1, s: \"1\", f: 1.5, b: on, "
		"n: ~, big: 3000000000}}}\n"
		"      - priority: 2\n"
		"        lb_endpoints:\n"
		"        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: "
		"3}}}\n"
		"      - locality: {zone: a}\n"
		"        load_balancing_weight: 5\n"
		"        lb_endpoints:\n"
		"        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: "
		"4}}}\n");
	const struct tp_tcp_proxy_cfg *tp = cfg->listeners[0].filter_chains[0].filters[0].conf;
	const struct tp_cluster_cfg *c = &cfg->clusters[0];
	const struct tp_mstruct *m = &c->endpoints[0].lb_metadata;
	char vtext[64];

	ck_assert_uint_eq(tp->n_weighted_clusters, 2);
	ck_assert_uint_eq(tp->total_weight, 4);
	ck_assert_int_eq(tp->weighted_clusters[0].cluster_index, 0);
	ck_assert_int_eq(tp->hash, TP_HASH_FILTER_STATE);
	ck_assert_str_eq(tp->hash_key, "tenant");
	/* {stage: prod, v: 1} under {v: 2, x: y}: the cluster's v wins. */
	ck_assert_uint_eq(tp->weighted_clusters[0].criteria.n, 3);
	tp_mvalue_format(&tp_mstruct_get(&tp->weighted_clusters[0].criteria, "v")->value, vtext,
			 sizeof(vtext));
	ck_assert_str_eq(vtext, "2");
	ck_assert_uint_eq(tp->weighted_clusters[1].criteria.n, 2);

	ck_assert_int_eq(c->lb_policy, TP_LB_MAGLEV);
	ck_assert_int_eq(c->maglev_table_size, 7);
	ck_assert_int_eq(c->ring_min, 1024);
	ck_assert_int_eq(c->choice_count, 2);
	ck_assert(c->locality_weighted);
	ck_assert(c->subset.enabled && c->subset.list_as_any);
	ck_assert_int_eq(c->subset.fallback_policy, TP_SUBSET_DEFAULT_SUBSET);
	/* A selector without keys is dropped; keys are a sorted set. */
	ck_assert_uint_eq(c->subset.n_selectors, 1);
	ck_assert_uint_eq(c->subset.selectors[0].keys.n, 2);
	ck_assert_str_eq(c->subset.selectors[0].keys.v[0], "stage");
	ck_assert_str_eq(c->subset.selectors[0].keys.v[1], "v");

	/* Envoy's YAML typing: 1 a number, "1" a string, 1.5 a string, on a bool, ~ null, an
	 * integer past int32 its decimal vtext. Sorted by key. */
	ck_assert_uint_eq(m->n, 6);
	ck_assert_str_eq(m->f[0].key, "b");
	tp_mvalue_format(&tp_mstruct_get(m, "v")->value, vtext, sizeof(vtext));
	ck_assert_str_eq(vtext, "1");
	tp_mvalue_format(&tp_mstruct_get(m, "s")->value, vtext, sizeof(vtext));
	ck_assert_str_eq(vtext, "\"1\"");
	tp_mvalue_format(&tp_mstruct_get(m, "f")->value, vtext, sizeof(vtext));
	ck_assert_str_eq(vtext, "\"1.5\"");
	tp_mvalue_format(&tp_mstruct_get(m, "b")->value, vtext, sizeof(vtext));
	ck_assert_str_eq(vtext, "true");
	tp_mvalue_format(&tp_mstruct_get(m, "n")->value, vtext, sizeof(vtext));
	ck_assert_str_eq(vtext, "null");
	tp_mvalue_format(&tp_mstruct_get(m, "big")->value, vtext, sizeof(vtext));
	ck_assert_str_eq(vtext, "\"3000000000\"");

	/* Localities by priority, then zone: (0, a), (0, b), (2, none). */
	ck_assert_uint_eq(c->n_priorities, 3);
	ck_assert_uint_eq(c->n_localities, 3);
	ck_assert_str_eq(c->localities[0].zone, "a");
	ck_assert_uint_eq(c->localities[0].weight, 5);
	ck_assert_str_eq(c->localities[1].zone, "b");
	ck_assert_uint_eq(c->localities[2].priority, 2);
	ck_assert_uint_eq(c->localities[2].weight, 0);
	ck_assert_uint_eq(c->endpoints[0].locality, 1);
	ck_assert_uint_eq(c->endpoints[1].locality, 2);
	ck_assert_uint_eq(c->endpoints[1].priority, 2);
	ck_assert_uint_eq(c->endpoints[2].locality, 0);
	tp_config_free(cfg);
}
END_TEST

START_TEST(load_leaves_only_the_config)
{
	size_t cap = 64 + strlen(valid) + 40000 * 40 + 32, len, heap0, rss0;
	char *big = malloc(cap);
	struct tp_cfg_errors errs = {0};
	struct tp_config *cfg = NULL;

	ck_assert_ptr_nonnull(big);
	len = (size_t)snprintf(big, cap, "%snode:\n  metadata:\n", valid);
	for (int i = 0; i < 40000; i++)
		len += (size_t)snprintf(big + len, cap - len, "    k%d: {a: v, b: [1, 2]}\n", i);
	write_file(big);
	if (!glibc_malloc()) {
		fprintf(stderr,
			"check_config: malloc is not glibc's (a sanitizer build): the load's "
			"memory is not measured\n");
		free(big);
		return;
	}
	heap0 = mallinfo2().uordblks;
	rss0 = rss_bytes();
	ck_assert_int_eq(tp_config_load(path, &cfg, &errs), 0);
	ck_assert_uint_eq(errs.n, 0);
	/* What is left allocated is the config alone: a few KB, not the tree. */
	ck_assert_uint_lt(mallinfo2().uordblks - heap0, 64 * 1024);
	/* And the tree's pages went back to the system (without malloc_trim() they stay). */
	ck_assert_msg(rss_bytes() < rss0 + 4 * 1024 * 1024, "RSS grew by %zu KiB",
		      (rss_bytes() - rss0) / 1024);
	tp_config_free(cfg);

	/* A load that fails, after building the whole tree, leaves nothing either. */
	snprintf(big + len, cap - len, "unknown_field: 1\n");
	write_file(big);
	free(big);
	ck_assert_int_eq(tp_config_load(path, &cfg, &errs), -EINVAL);
	ck_assert_uint_eq(errs.n, 1);
	tp_cfg_errors_free(&errs);
	ck_assert_uint_lt(mallinfo2().uordblks - heap0, 64 * 1024);
	ck_assert_msg(rss_bytes() < rss0 + 4 * 1024 * 1024, "RSS grew by %zu KiB",
		      (rss_bytes() - rss0) / 1024);
}
END_TEST

/* outlier_detection left at its defaults: Envoy's DetectorConfig reads
 * successful_active_health_check_uneject_host with PROTOBUF_GET_WRAPPED_OR_DEFAULT(..., true)
 * ("Defaults to true" in outlier_detection.proto), so a passing active check returns an ejected
 * host unless the operator turns it off. */
START_TEST(outlier_envoy_defaults)
{
	struct tp_config *cfg = load_ok(edit("    load_assignment:\n", "    outlier_detection: {}\n"
								       "    load_assignment:\n"));
	const struct tp_outlier_cfg *o = &cfg->clusters[0].outlier;

	ck_assert(o->enabled);
	ck_assert_uint_eq(o->success_rate_minimum_hosts, 5);
	ck_assert_uint_eq(o->success_rate_request_volume, 100);
	ck_assert_uint_eq(o->success_rate_stdev_factor, 1900);
	ck_assert_uint_eq(o->failure_percentage_threshold, 85);
	ck_assert_int_eq(o->max_ejection_time_jitter_ms, 0);
	ck_assert(!o->always_eject_one_host);
	ck_assert_msg(o->successful_active_health_check_uneject_host,
		      "successful_active_health_check_uneject_host defaults to true in Envoy");
	tp_config_free(cfg);

	cfg = load_ok(
		edit("    load_assignment:\n",
		     "    outlier_detection: {successful_active_health_check_uneject_host: false}\n"
		     "    load_assignment:\n"));
	ck_assert(!cfg->clusters[0].outlier.successful_active_health_check_uneject_host);
	tp_config_free(cfg);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *ok = tcase_create("loads");
	TCase *bad = tcase_create("errors");

	tcase_add_checked_fixture(ok, setup, teardown);
	tcase_add_test(ok, defaults);
	tcase_add_test(ok, circuit_breakers_and_backoff);
	tcase_add_test(ok, every_supported_field);
	tcase_add_test(ok, health_checks);
	tcase_add_test(ok, outlier_envoy_defaults);
	tcase_add_test(ok, ignored_envoy_fields);
	tcase_add_test(ok, lower_camel_case);
	tcase_add_test(ok, anchors_and_aliases);
	tcase_add_test(ok, json_file);
	tcase_add_test(ok, null_means_unset);
	tcase_add_test(ok, enums_any_case);
	tcase_add_test(ok, one_message_for_a_list);
	tcase_add_test(ok, duration_as_message);
	tcase_add_test(ok, raw_buffer_transport);
	tcase_add_test(ok, no_listeners);
	tcase_add_test(ok, load_leaves_only_the_config);
	tcase_add_test(ok, routing_fields_load);
	suite_add_tcase(s, ok);

	tcase_add_checked_fixture(bad, setup, teardown);
	tcase_add_test(bad, unknown_field);
	tcase_add_test(bad, wrong_type);
	tcase_add_test(bad, missing_required);
	tcase_add_test(bad, unknown_cluster);
	tcase_add_test(bad, duplicate_names);
	tcase_add_test(bad, same_address);
	tcase_add_test(bad, bad_address_and_port);
	tcase_add_test(bad, unsupported_type);
	tcase_add_test(bad, unsupported_field);
	tcase_add_test(bad, listener_filters);
	tcase_add_test(bad, filter_chains_and_default);
	tcase_add_test(bad, oneof_member_not_served);
	tcase_add_test(bad, stat_names_fit);
	tcase_add_test(bad, filter_chain_shape);
	tcase_add_test(bad, duration_errors);
	tcase_add_test(bad, numbers);
	tcase_add_test(bad, early_data_rules);
	tcase_add_test(bad, duplicate_key);
	tcase_add_test(bad, many_errors_in_file_order);
	tcase_add_test(bad, yaml_errors);
	tcase_add_test(bad, unreadable_file);
	tcase_add_test(bad, errors_sorted);
	tcase_add_test(bad, fixtures);
	suite_add_tcase(s, bad);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

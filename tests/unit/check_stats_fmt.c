/* Check suite for shm/stats_fmt.c: Envoy's /stats text and json, /stats/prometheus and /clusters
 * rendered from hand-made snapshots, filters and types, histogram quantiles, and a snapshot
 * taken from a real segment. */
#include "core/base/sbuf.h"
#include "shm/stats.h"
#include "shm/stats_fmt.h"
#include "core/base/match.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static uint64_t hist[TP_STATS_HIST_VALUES];

static void record(uint64_t *h, uint64_t v)
{
	h[tp_stats_hist_bucket(v)]++;
	h[TP_STATS_HIST_SUM] += v;
	h[TP_STATS_HIST_COUNT]++;
}

/* A small snapshot: one of everything the renderers treat differently. */
static void build(struct tp_stats_snap *s)
{
	uint64_t empty[TP_STATS_HIST_VALUES] = {0};

	memset(s, 0, sizeof(*s));
	memset(hist, 0, sizeof(hist));
	record(hist, 3);
	record(hist, 3);
	record(hist, 40);
	record(hist, 1000);
	ck_assert_int_eq(tp_stats_snap_add(s, TP_SCOPE_TCP, "demo", "downstream_cx_total",
					   TP_STAT_COUNTER, 7, NULL),
			 0);
	ck_assert_int_eq(tp_stats_snap_add(s, TP_SCOPE_SERVER, "", "live", TP_STAT_GAUGE, 1, NULL),
			 0);
	ck_assert_int_eq(tp_stats_snap_add(s, TP_SCOPE_CLUSTER, "c1", "upstream_cx_active",
					   TP_STAT_GAUGE, (uint64_t)-2, NULL),
			 0);
	ck_assert_int_eq(tp_stats_snap_add(s, TP_SCOPE_CLUSTER, "c1", "upstream_cx_connect_ms",
					   TP_STAT_HISTOGRAM, 4, hist),
			 0);
	ck_assert_int_eq(tp_stats_snap_add(s, TP_SCOPE_TCP, "demo", "downstream_cx_length_ms",
					   TP_STAT_HISTOGRAM, 0, empty),
			 0);
	ck_assert_int_eq(tp_stats_snap_add(s, TP_SCOPE_HOST, "c1::127.0.0.1:80", "cx_total",
					   TP_STAT_COUNTER, 5, NULL),
			 0);
	ck_assert_int_eq(tp_stats_snap_add(s, TP_SCOPE_HOST, "c1::127.0.0.1:80", "cx_active",
					   TP_STAT_GAUGE, 1, NULL),
			 0);
	ck_assert_int_eq(tp_stats_snap_add(s, TP_SCOPE_HOST, "c1::[::1]:81", "cx_total",
					   TP_STAT_COUNTER, 2, NULL),
			 0);
	tp_stats_snap_sort(s);
}

static char *render(enum tp_stats_format fmt, const char *filter, unsigned types)
{
	struct tp_sbuf out = TP_SBUF_INIT;
	struct tp_stats_snap s;
	struct tp_match *re = NULL;
	char why[128];

	build(&s);
	if (filter)
		ck_assert_int_eq(tp_stats_filter_compile(&re, filter, why, sizeof(why)), 0);
	tp_stats_render(&s, fmt, re, types, &out);
	tp_match_free(re);
	tp_stats_snap_free(&s);
	ck_assert(!out.oom);
	return out.p ? out.p : strdup("");
}

START_TEST(text)
{
	char *t = render(TP_STATS_TEXT, NULL, TP_STATS_TYPES_ALL);

	ck_assert_str_eq(t, "cluster.c1.upstream_cx_active: -2\n"
			    "server.live: 1\n"
			    "tcp.demo.downstream_cx_total: 7\n"
			    /* 40 lies in [40, 44) and 1000 in [960, 1024): interpolated there. */
			    "cluster.c1.upstream_cx_connect_ms: P0(nan,3) P25(nan,3) P50(nan,3) "
			    "P75(nan,43) P90(nan,997.8) P95(nan,1010.4) P99(nan,1020.48) "
			    "P99.5(nan,1021.74) P99.9(nan,1022.748) P100(nan,1023)\n"
			    "tcp.demo.downstream_cx_length_ms: No recorded values\n");
	free(t);
}
END_TEST

START_TEST(filter_and_types)
{
	char *t = render(TP_STATS_TEXT, "cx_(total|active)$", TP_STATS_TYPES_ALL);

	/* Host stats never appear in /stats, even when the filter matches them. */
	ck_assert_str_eq(t, "cluster.c1.upstream_cx_active: -2\ntcp.demo.downstream_cx_total: 7\n");
	free(t);
	t = render(TP_STATS_TEXT, NULL, 1u << TP_STAT_COUNTER);
	ck_assert_str_eq(t, "tcp.demo.downstream_cx_total: 7\n");
	free(t);
	t = render(TP_STATS_TEXT, "^nothing", TP_STATS_TYPES_ALL);
	ck_assert_str_eq(t, "");
	free(t);
}
END_TEST

START_TEST(json)
{
	char *t = render(TP_STATS_JSON, "server|length", TP_STATS_TYPES_ALL);

	ck_assert_str_eq(t, "{\"stats\":[\n"
			    "{\"name\":\"server.live\",\"value\":1},\n"
			    "{\"histograms\":{\"supported_quantiles\":[0,25,50,75,90,95,99,99.5,"
			    "99.9,100],\"computed_quantiles\":[\n"
			    "{\"name\":\"tcp.demo.downstream_cx_length_ms\",\"values\":["
			    "{\"interval\":null,\"cumulative\":null},"
			    "{\"interval\":null,\"cumulative\":null},"
			    "{\"interval\":null,\"cumulative\":null},"
			    "{\"interval\":null,\"cumulative\":null},"
			    "{\"interval\":null,\"cumulative\":null},"
			    "{\"interval\":null,\"cumulative\":null},"
			    "{\"interval\":null,\"cumulative\":null},"
			    "{\"interval\":null,\"cumulative\":null},"
			    "{\"interval\":null,\"cumulative\":null},"
			    "{\"interval\":null,\"cumulative\":null}]}]}}]}\n");
	free(t);
	t = render(TP_STATS_JSON, "^none", 1u << TP_STAT_COUNTER);
	ck_assert_str_eq(t, "{\"stats\":[]}\n");
	free(t);
}
END_TEST

START_TEST(prometheus)
{
	char *t = render(TP_STATS_PROMETHEUS, "total|live|active", TP_STATS_TYPES_ALL);

	ck_assert_str_eq(
		t, "# HELP envoy_cluster_upstream_cx_active "
		   "cluster.<cluster_name>.upstream_cx_active\n"
		   "# TYPE envoy_cluster_upstream_cx_active gauge\n"
		   "envoy_cluster_upstream_cx_active{envoy_cluster_name=\"c1\"} -2\n"
		   "# HELP envoy_server_live server.live\n"
		   "# TYPE envoy_server_live gauge\n"
		   "envoy_server_live 1\n"
		   "# HELP envoy_tcp_downstream_cx_total tcp.<tcp_prefix>.downstream_cx_total\n"
		   "# TYPE envoy_tcp_downstream_cx_total counter\n"
		   "envoy_tcp_downstream_cx_total{envoy_tcp_prefix=\"demo\"} 7\n");
	free(t);
}
END_TEST

START_TEST(prometheus_histogram)
{
	char *t = render(TP_STATS_PROMETHEUS, "connect_ms", TP_STATS_TYPES_ALL);
	const char *n = "envoy_cluster_upstream_cx_connect_ms";
	char want[256];

	ck_assert_ptr_nonnull(strstr(t, "# TYPE envoy_cluster_upstream_cx_connect_ms histogram\n"));
	/* Cumulative, exact on these boundaries: 3, 3 <= 5; 40 <= 50; 1000 <= 1000. */
	snprintf(want, sizeof(want), "%s_bucket{envoy_cluster_name=\"c1\",le=\"1\"} 0\n", n);
	ck_assert_ptr_nonnull(strstr(t, want));
	snprintf(want, sizeof(want), "%s_bucket{envoy_cluster_name=\"c1\",le=\"5\"} 2\n", n);
	ck_assert_ptr_nonnull(strstr(t, want));
	snprintf(want, sizeof(want), "%s_bucket{envoy_cluster_name=\"c1\",le=\"25\"} 2\n", n);
	ck_assert_ptr_nonnull(strstr(t, want));
	snprintf(want, sizeof(want), "%s_bucket{envoy_cluster_name=\"c1\",le=\"50\"} 3\n", n);
	ck_assert_ptr_nonnull(strstr(t, want));
	snprintf(want, sizeof(want), "%s_bucket{envoy_cluster_name=\"c1\",le=\"1000\"} 3\n", n);
	ck_assert_ptr_nonnull(strstr(t, want)); /* 1000 shares a bucket with 1023 */
	snprintf(want, sizeof(want), "%s_bucket{envoy_cluster_name=\"c1\",le=\"2500\"} 4\n", n);
	ck_assert_ptr_nonnull(strstr(t, want));
	snprintf(want, sizeof(want), "%s_bucket{envoy_cluster_name=\"c1\",le=\"+Inf\"} 4\n", n);
	ck_assert_ptr_nonnull(strstr(t, want));
	snprintf(want, sizeof(want), "%s_sum{envoy_cluster_name=\"c1\"} 1046\n", n);
	ck_assert_ptr_nonnull(strstr(t, want));
	snprintf(want, sizeof(want), "%s_count{envoy_cluster_name=\"c1\"} 4\n", n);
	ck_assert_ptr_nonnull(strstr(t, want));
	free(t);
}
END_TEST

START_TEST(prometheus_escapes_labels)
{
	struct tp_sbuf out = TP_SBUF_INIT;
	struct tp_stats_snap s = {0};

	ck_assert_int_eq(tp_stats_snap_add(&s, TP_SCOPE_CLUSTER, "a\"b\\c", "upstream_cx_total",
					   TP_STAT_COUNTER, 1, NULL),
			 0);
	tp_stats_render(&s, TP_STATS_PROMETHEUS, NULL, TP_STATS_TYPES_ALL, &out);
	ck_assert_ptr_nonnull(strstr(
		out.p, "envoy_cluster_upstream_cx_total{envoy_cluster_name=\"a\\\"b\\\\c\"} 1\n"));
	tp_sbuf_free(&out);
	tp_stats_snap_free(&s);
}
END_TEST

static void weight(void *arg, const char *cluster, const char *host, struct tp_stats_host_info *out)
{
	ck_assert_str_eq(cluster, "c1");
	out->weight = strcmp(host, "[::1]:81") ? 3 : 1;
}

START_TEST(clusters)
{
	struct tp_sbuf out = TP_SBUF_INIT;
	struct tp_stats_snap s;

	build(&s);
	tp_stats_render_clusters(&s, weight, NULL, &out);
	ck_assert_str_eq(out.p, "c1::observability_name::c1\n"
				"c1::127.0.0.1:80::cx_active::1\n"
				"c1::127.0.0.1:80::cx_total::5\n"
				"c1::127.0.0.1:80::hostname::\n"
				"c1::127.0.0.1:80::health_flags::healthy\n"
				"c1::127.0.0.1:80::weight::3\n"
				"c1::127.0.0.1:80::priority::0\n"
				"c1::[::1]:81::cx_total::2\n"
				"c1::[::1]:81::hostname::\n"
				"c1::[::1]:81::health_flags::healthy\n"
				"c1::[::1]:81::weight::1\n"
				"c1::[::1]:81::priority::0\n");
	tp_sbuf_free(&out);
	tp_stats_snap_free(&s);
}
END_TEST

START_TEST(quantiles)
{
	uint64_t h[TP_STATS_HIST_VALUES] = {0};

	ck_assert(isnan(tp_stats_hist_quantile(h, 0.5)));
	for (uint64_t v = 1; v <= 7; v++)
		record(h, v);
	/* Values below 8 have a bucket each: exact. */
	ck_assert(tp_stats_hist_quantile(h, 0) == 1);
	ck_assert(tp_stats_hist_quantile(h, 0.5) == 4);
	ck_assert(tp_stats_hist_quantile(h, 1) == 7);
	memset(h, 0, sizeof(h));
	for (uint64_t v = 1; v <= 1000; v++)
		record(h, v);
	/* Within a bucket's width (12.5%) of the truth. */
	ck_assert(fabs(tp_stats_hist_quantile(h, 0.5) - 500) <= 500 / 8.0);
	ck_assert(fabs(tp_stats_hist_quantile(h, 0.99) - 990) <= 990 / 8.0);
	ck_assert(tp_stats_hist_quantile(h, 1) >= 1000);
	ck_assert(tp_stats_hist_quantile(h, 1) <= 1000 + 1000 / 8.0);
}
END_TEST

START_TEST(formats_by_name)
{
	enum tp_stats_format f;

	ck_assert(tp_stats_format_parse("json", &f) && f == TP_STATS_JSON);
	ck_assert(tp_stats_format_parse("prometheus", &f) && f == TP_STATS_PROMETHEUS);
	ck_assert(tp_stats_format_parse("text", &f) && f == TP_STATS_TEXT);
	ck_assert(!tp_stats_format_parse("xml", &f));
}
END_TEST

/* From a real segment: two worker blocks and the master's sum, histograms included. */
START_TEST(snapshot_of_a_segment)
{
	struct tp_stats *st = NULL;
	struct tp_stats_snap s;
	char name[64], err[256];
	uint32_t cl, host;
	bool seen_hist = false, seen_host = false;

	snprintf(name, sizeof(name), "/tcpproxy.check-fmt.%d.stats", (int)getpid());
	ck_assert_int_eq(tp_stats_create(&st, name, 2, 8, err, sizeof(err)), 0);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, "c1", &cl), 0);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_HOST, "c1::127.0.0.1:80", &host), 0);
	tp_stat_inc(tp_stats_block(st, 0), cl + TP_CLUSTER_upstream_cx_total);
	tp_stat_inc(tp_stats_block(st, 1), cl + TP_CLUSTER_upstream_cx_total);
	tp_stat_record(tp_stats_block(st, 0), cl + TP_CLUSTER_upstream_cx_connect_ms, 2);
	tp_stat_record(tp_stats_block(st, 1), cl + TP_CLUSTER_upstream_cx_connect_ms, 4);
	tp_stat_inc(tp_stats_block(st, 1), host + TP_HOST_cx_connect_fail);
	ck_assert_int_eq(tp_stats_snap_take(st, &s), 0);
	for (size_t i = 1; i < s.n; i++)
		ck_assert_int_lt(strcmp(s.v[i - 1].name, s.v[i].name), 0);
	for (size_t i = 0; i < s.n; i++) {
		if (!strcmp(s.v[i].name, "cluster.c1.upstream_cx_total"))
			ck_assert_uint_eq(s.v[i].value, 2);
		if (!strcmp(s.v[i].name, "cluster.c1.upstream_cx_connect_ms")) {
			seen_hist = true;
			ck_assert_uint_eq(s.v[i].value, 2);
			ck_assert_uint_eq(s.v[i].hist[TP_STATS_HIST_SUM], 6);
			ck_assert_uint_eq(s.v[i].hist[2], 1);
			ck_assert_uint_eq(s.v[i].hist[4], 1);
		}
		if (!strcmp(s.v[i].name, "host.c1::127.0.0.1:80.cx_connect_fail")) {
			seen_host = true;
			ck_assert_uint_eq(s.v[i].value, 1);
			ck_assert_str_eq(s.v[i].scope, "c1::127.0.0.1:80");
			ck_assert_str_eq(s.v[i].stat, "cx_connect_fail");
		}
	}
	ck_assert(seen_hist && seen_host);
	tp_stats_snap_free(&s);
	tp_stats_destroy(st);
}
END_TEST

START_TEST(filter_refuses_backreferences_and_long_patterns)
{
	char why[128], pat[TP_STATS_FILTER_MAX + 2];
	struct tp_match *re;
	struct tp_stats_snap s;

	ck_assert_int_eq(tp_stats_filter_compile(&re, "(.*)(.*)\\2\\1x", why, sizeof(why)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "backreference"));
	ck_assert_int_eq(tp_stats_filter_compile(&re, "(", why, sizeof(why)), -EINVAL);
	memset(pat, 'a', sizeof(pat) - 1);
	pat[sizeof(pat) - 1] = '\0';
	ck_assert_int_eq(tp_stats_filter_compile(&re, pat, why, sizeof(why)), -EINVAL);
	pat[TP_STATS_FILTER_MAX] = '\0';
	ck_assert_int_eq(tp_stats_filter_compile(&re, pat, why, sizeof(why)), 0);
	tp_match_free(re);
	ck_assert_int_eq(tp_stats_filter_compile(&re, "^server\\.live$", why, sizeof(why)), 0);
	ck_assert(tp_match_search(re, "server.live", 11));
	ck_assert(!tp_match_search(re, "server.liveX", 12));
	tp_match_free(re);
	/* Bounded repeats that took glibc seconds and gigabytes: refused at once. */
	ck_assert_int_eq(tp_stats_filter_compile(&re, ".{1,20000}", why, sizeof(why)), -EINVAL);
	ck_assert_int_eq(
		tp_stats_filter_compile(&re, "((.{0,255}){0,255}){0,255}", why, sizeof(why)),
		-EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "4096"));
	/* The snapshot filter keeps what matches and stops at its budget. */
	build(&s);
	ck_assert_int_eq(tp_stats_filter_compile(&re, "cx_total$", why, sizeof(why)), 0);
	ck_assert_int_eq(tp_stats_snap_filter(&s, re, TP_STATS_FILTER_STEPS), 0);
	ck_assert_uint_gt(s.n, 0);
	for (size_t i = 0; i < s.n; i++)
		ck_assert_ptr_nonnull(strstr(s.v[i].name, "cx_total"));
	tp_stats_snap_free(&s);
	tp_match_free(re);
	build(&s);
	ck_assert_int_eq(tp_stats_filter_compile(&re, "(.|.){900}x", why, sizeof(why)), 0);
	ck_assert_int_eq(tp_stats_snap_filter(&s, re, 1000), -E2BIG);
	tp_stats_snap_free(&s);
	tp_match_free(re);
}
END_TEST

static Suite *fmt_suite(void)
{
	Suite *s = suite_create("stats_fmt");
	TCase *tc = tcase_create("stats_fmt");

	tcase_add_test(tc, text);
	tcase_add_test(tc, filter_and_types);
	tcase_add_test(tc, json);
	tcase_add_test(tc, prometheus);
	tcase_add_test(tc, prometheus_histogram);
	tcase_add_test(tc, prometheus_escapes_labels);
	tcase_add_test(tc, clusters);
	tcase_add_test(tc, quantiles);
	tcase_add_test(tc, formats_by_name);
	tcase_add_test(tc, snapshot_of_a_segment);
	tcase_add_test(tc, filter_refuses_backreferences_and_long_patterns);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fmt_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

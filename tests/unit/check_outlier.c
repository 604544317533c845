/* Check suite for core/master/outlier.c and the worker's report encoding (core/worker/hostset.h):
 * the consecutive-failure detectors, ejection share, enforcement and the ejection time's
 * backoff, as Envoy's DetectorImpl runs them, and a report replayed as the results were. */
#include "core/master/outlier.h"
#include "core/worker/hostset.h"

#include <check.h>
#include <stdlib.h>

static struct tp_outlier_cfg defaults(void)
{
	struct tp_outlier_cfg c = {
		.enabled = true,
		.consecutive_5xx = 5,
		.consecutive_gateway_failure = 5,
		.consecutive_local_origin_failure = 5,
		.enforcing_consecutive_5xx = 100,
		.enforcing_consecutive_gateway_failure = 0,
		.enforcing_consecutive_local_origin_failure = 100,
		.max_ejection_percent = 10,
		.interval_ms = 10000,
		.base_ejection_time_ms = 30000,
		.max_ejection_time_ms = 300000,
		.success_rate_minimum_hosts = 5,
		.success_rate_request_volume = 100,
		.success_rate_stdev_factor = 1900,
		.enforcing_success_rate = 100,
		.enforcing_local_origin_success_rate = 100,
		.failure_percentage_threshold = 85,
		.failure_percentage_minimum_hosts = 5,
		.failure_percentage_request_volume = 50,
	};
	return c;
}

START_TEST(connect_failures_are_5xx_and_gateway_without_split)
{
	struct tp_outlier_cfg c = defaults();
	struct tp_od_host h = {0};

	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(tp_od_results(&c, &h, true, 1), 0);
	ck_assert_uint_eq(tp_od_results(&c, &h, true, 1), TP_OD_5XX | TP_OD_GATEWAY);
	/* Once per bout: the sixth trips nothing. */
	ck_assert_uint_eq(tp_od_results(&c, &h, true, 1), 0);
	ck_assert_uint_eq(h.c_local, 0);
}
END_TEST

START_TEST(success_resets_the_run)
{
	struct tp_outlier_cfg c = defaults();
	struct tp_od_host h = {0};

	ck_assert_uint_eq(tp_od_results(&c, &h, true, 4), 0);
	ck_assert_uint_eq(tp_od_results(&c, &h, false, 1), 0);
	ck_assert_uint_eq(tp_od_results(&c, &h, true, 4), 0);
	/* A batch that passes the threshold trips it once. */
	ck_assert_uint_eq(tp_od_results(&c, &h, true, 100), TP_OD_5XX | TP_OD_GATEWAY);
}
END_TEST

START_TEST(split_counts_local_origin_only)
{
	struct tp_outlier_cfg c = defaults();
	struct tp_od_host h = {0};

	c.split = true;
	c.consecutive_local_origin_failure = 2;
	ck_assert_uint_eq(tp_od_results(&c, &h, true, 1), 0);
	ck_assert_uint_eq(tp_od_results(&c, &h, true, 1), TP_OD_LOCAL_ORIGIN);
	ck_assert_uint_eq(h.c_5xx, 0);
	ck_assert_uint_eq(h.c_gateway, 0);
	tp_od_results(&c, &h, false, 1);
	ck_assert_uint_eq(h.c_local, 0);
}
END_TEST

START_TEST(zero_threshold_never_trips)
{
	struct tp_outlier_cfg c = defaults();
	struct tp_od_host h = {0};

	c.consecutive_5xx = 0;
	c.consecutive_gateway_failure = 0;
	ck_assert_uint_eq(tp_od_results(&c, &h, true, UINT32_MAX), 0);
	ck_assert_uint_eq(tp_od_results(&c, &h, true, UINT32_MAX), 0);
	ck_assert_uint_eq(h.c_5xx, UINT32_MAX);
}
END_TEST

START_TEST(max_ejection_percent_counts_the_next)
{
	struct tp_outlier_cfg c = defaults();

	/* 10 %: 1 of 10 may go, not 1 of 2 (Envoy ejects nothing of a 2-host cluster). */
	ck_assert(tp_od_may_eject(&c, 0, 10));
	ck_assert(!tp_od_may_eject(&c, 1, 10));
	ck_assert(!tp_od_may_eject(&c, 0, 2));
	c.max_ejection_percent = 50;
	ck_assert(tp_od_may_eject(&c, 0, 2));
	ck_assert(!tp_od_may_eject(&c, 1, 2));
	ck_assert(!tp_od_may_eject(&c, 0, 0));
}
END_TEST

START_TEST(enforcing_percentages)
{
	struct tp_outlier_cfg c = defaults();

	ck_assert(tp_od_enforced(&c, TP_OD_5XX, 99));
	ck_assert(!tp_od_enforced(&c, TP_OD_GATEWAY, 0));
	ck_assert(tp_od_enforced(&c, TP_OD_LOCAL_ORIGIN, 0));
	c.enforcing_consecutive_5xx = 30;
	ck_assert(tp_od_enforced(&c, TP_OD_5XX, 29));
	ck_assert(!tp_od_enforced(&c, TP_OD_5XX, 30));
}
END_TEST

START_TEST(ejection_time_grows_and_is_capped)
{
	struct tp_outlier_cfg c = defaults();
	struct tp_od_host h = {0};

	c.base_ejection_time_ms = 100;
	c.max_ejection_time_ms = 250;
	tp_od_eject(&c, &h, 0, 0);
	ck_assert(!tp_od_sweep(&c, &h, 99));
	ck_assert(tp_od_sweep(&c, &h, 100));
	ck_assert(!h.ejected);
	/* Ejected again at once: 2 × base. */
	tp_od_eject(&c, &h, 100, 0);
	ck_assert(!tp_od_sweep(&c, &h, 299));
	ck_assert(tp_od_sweep(&c, &h, 300));
	/* Then 3 × base = 300, capped at max 250. */
	tp_od_eject(&c, &h, 300, 0);
	ck_assert_uint_eq(h.backoff, 3);
	ck_assert(!tp_od_sweep(&c, &h, 549));
	ck_assert(tp_od_sweep(&c, &h, 550));
	/* It grows while base × it is below max + base (300 < 350), then no further. */
	tp_od_eject(&c, &h, 550, 0);
	ck_assert_uint_eq(h.backoff, 4);
	ck_assert(tp_od_sweep(&c, &h, 800));
	tp_od_eject(&c, &h, 800, 0);
	ck_assert_uint_eq(h.backoff, 4);
	ck_assert(tp_od_sweep(&c, &h, 1050));
	/* In rotation for an interval: one step down at each interval's end after that. */
	c.interval_ms = 10;
	ck_assert(!tp_od_sweep(&c, &h, 1055));
	tp_od_decay(&c, &h, 1055);
	ck_assert_uint_eq(h.backoff, 4);
	tp_od_decay(&c, &h, 1060);
	ck_assert_uint_eq(h.backoff, 3);
	tp_od_decay(&c, &h, 1070);
	ck_assert_uint_eq(h.backoff, 2);
}
END_TEST

START_TEST(return_resets_counters)
{
	struct tp_outlier_cfg c = defaults();
	struct tp_od_host h = {0};

	tp_od_results(&c, &h, true, 3);
	tp_od_eject(&c, &h, 0, 0);
	ck_assert(tp_od_sweep(&c, &h, 30000));
	ck_assert_uint_eq(h.c_5xx, 0);
	ck_assert_uint_eq(h.c_gateway, 0);
}
END_TEST

/* What the master replays (lead, a success, mid, a success, failure) trips a detector exactly
 * when the results one by one would, from a fresh host, for 2000 random sequences. */
START_TEST(report_encoding_replays_the_runs)
{
	struct tp_outlier_cfg c = defaults();

	c.consecutive_5xx = 3;
	c.consecutive_gateway_failure = 0;
	srand(14);
	for (int round = 0; round < 2000; round++) {
		struct tp_od_host one = {0}, replay = {0};
		struct tp_hs_report r = {0};
		unsigned want = 0, got = 0;
		int len = rand() % 12;

		for (int i = 0; i < len; i++) {
			bool failure = rand() % 3 != 0;

			tp_hs_report_add(&r, failure);
			want |= tp_od_results(&c, &one, failure, 1);
		}
		ck_assert(r.success || (!r.lead && !r.mid));
		got |= tp_od_results(&c, &replay, true, r.lead);
		got |= tp_od_results(&c, &replay, false, r.success);
		if (r.mid) {
			got |= tp_od_results(&c, &replay, true, r.mid);
			tp_od_results(&c, &replay, false, 1);
		}
		got |= tp_od_results(&c, &replay, true, r.failure);
		ck_assert_uint_eq(got, want);
		/* Every result is in the totals, for the success-rate detectors. */
		ck_assert_uint_eq(r.success + r.failures, (uint32_t)len);
		ck_assert_uint_ge(r.failures, r.lead + r.mid + r.failure);
		/* And the run left open is the same. */
		ck_assert_uint_eq(replay.c_5xx, one.c_5xx);
	}
}
END_TEST

START_TEST(report_counts_saturate)
{
	struct tp_hs_report r = {.failure = TP_HS_MAX_REPORT_COUNT};

	tp_hs_report_add(&r, true);
	ck_assert_uint_eq(r.failure, TP_HS_MAX_REPORT_COUNT);
	tp_hs_report_add(&r, false);
	ck_assert_uint_eq(r.lead, TP_HS_MAX_REPORT_COUNT);
	ck_assert_uint_eq(r.failure, 0);
	ck_assert_uint_eq(r.success, 1);
}
END_TEST

/* Envoy's own example (successRateEjectionThreshold): rates {50, 100, 100, 100, 100} give mean
 * 90, stdev 20 and, with the default factor 1.9, a threshold of 52: the first host only. */
START_TEST(success_rate_below_mean_less_stdevs)
{
	struct tp_outlier_cfg c = defaults();
	struct tp_od_host h[5] = {0};
	unsigned out[5];

	tp_od_count(&h[0], 100, 100);
	for (int i = 1; i < 5; i++)
		tp_od_count(&h[i], 200, 0);
	tp_od_rates(&c, h, 5, out);
	ck_assert_uint_eq(out[0], TP_OD_SUCCESS_RATE);
	for (int i = 1; i < 5; i++)
		ck_assert_uint_eq(out[i], 0);
	/* The interval's results are used once: the next interval has none. */
	tp_od_rates(&c, h, 5, out);
	ck_assert_uint_eq(out[0], 0);
	/* Split: the same results are local origin. */
	c.split = true;
	tp_od_count(&h[0], 100, 100);
	for (int i = 1; i < 5; i++)
		tp_od_count(&h[i], 200, 0);
	tp_od_rates(&c, h, 5, out);
	ck_assert_uint_eq(out[0], TP_OD_LOCAL_SUCCESS_RATE);
}
END_TEST

/* The success rate needs success_rate_minimum_hosts hosts with success_rate_request_volume each
 * (ejected hosts are not counted); the failure percentage its own minimum and volume. */
START_TEST(rates_need_volume_and_hosts)
{
	struct tp_outlier_cfg c = defaults();
	struct tp_od_host h[5] = {0};
	unsigned out[5];

	/* 60 results each: enough for failure percentage (50), not for success rate (100). */
	tp_od_count(&h[0], 0, 60);
	for (int i = 1; i < 5; i++)
		tp_od_count(&h[i], 60, 0);
	tp_od_rates(&c, h, 5, out);
	ck_assert_uint_eq(out[0], TP_OD_FAILURE_PERCENTAGE);
	/* One host too few for either. */
	tp_od_count(&h[0], 0, 200);
	for (int i = 1; i < 4; i++)
		tp_od_count(&h[i], 200, 0);
	tp_od_rates(&c, h, 5, out);
	ck_assert_uint_eq(out[0], 0);
	/* An ejected host is neither measured nor counted toward the minimum. */
	h[4].ejected = true;
	tp_od_count(&h[0], 0, 200);
	for (int i = 1; i < 5; i++)
		tp_od_count(&h[i], 200, 0);
	tp_od_rates(&c, h, 5, out);
	ck_assert_uint_eq(out[0], 0);
	ck_assert_uint_eq(out[4], 0);
	/* Fewer hosts in the cluster than both minimums: nothing at all. */
	c.failure_percentage_minimum_hosts = 3;
	c.success_rate_minimum_hosts = 3;
	h[4].ejected = false;
	tp_od_count(&h[0], 10, 190);
	tp_od_count(&h[1], 200, 0);
	tp_od_count(&h[2], 200, 0);
	tp_od_rates(&c, h, 3, out);
	/* 95 % failures: both detectors; rates {5, 100, 100}: threshold 68.3 - 1.9 x 44.8 < 5. */
	ck_assert_uint_eq(out[0], TP_OD_FAILURE_PERCENTAGE);
	c.success_rate_stdev_factor = 1000;
	tp_od_count(&h[0], 10, 190);
	tp_od_count(&h[1], 200, 0);
	tp_od_count(&h[2], 200, 0);
	tp_od_rates(&c, h, 3, out);
	ck_assert_uint_eq(out[0], TP_OD_SUCCESS_RATE | TP_OD_FAILURE_PERCENTAGE);
}
END_TEST

START_TEST(jitter_always_eject_one_and_uneject)
{
	struct tp_outlier_cfg c = defaults();
	struct tp_od_host h = {0};

	c.max_ejection_percent = 0;
	ck_assert(!tp_od_may_eject(&c, 0, 5));
	c.always_eject_one_host = true;
	ck_assert(tp_od_may_eject(&c, 0, 5));
	ck_assert(!tp_od_may_eject(&c, 1, 5));
	/* base 30 s, jitter 500 ms: back at 30.5 s, not before. */
	tp_od_eject(&c, &h, 0, 500);
	ck_assert(!tp_od_sweep(&c, &h, 30000));
	ck_assert(tp_od_sweep(&c, &h, 30500));
	/* A passing health check's return resets the counters as the sweep's does. */
	tp_od_eject(&c, &h, 40000, 0);
	h.c_5xx = 3;
	tp_od_uneject(&h, 41000);
	ck_assert(!h.ejected);
	ck_assert_uint_eq(h.c_5xx, 0);
	ck_assert(!tp_od_sweep(&c, &h, 100000));
}
END_TEST

/* One interval timer as core/master/hostset.c's on_od_interval() runs it on the pure functions:
 * the sweep of every host, then the rate detectors, then an ejection for each host they trip,
 * then the backoff decrement of the hosts in rotation. */
static void run_interval(const struct tp_outlier_cfg *c, struct tp_od_host *h, uint32_t n,
			 int64_t now)
{
	unsigned out[8];

	for (uint32_t i = 0; i < n; i++)
		tp_od_sweep(c, &h[i], now);
	tp_od_rates(c, h, n, out);
	for (uint32_t i = 0; i < n; i++)
		if (out[i] && !h[i].ejected)
			tp_od_eject(c, &h[i], now, 0);
	for (uint32_t i = 0; i < n; i++)
		tp_od_decay(c, &h[i], now);
}

/* Envoy's onIntervalTimer(): checkHostForUneject, processSuccessRateEjections, and only then
 * the backoff decrement, for the hosts not ejected. A host that returned an interval ago and
 * that the success rate ejects at this interval keeps its multiplier and raises it (2 x base),
 * not drops it first (1 x base). */
START_TEST(rate_ejection_before_the_backoff_decrement)
{
	struct tp_outlier_cfg c = defaults();
	struct tp_od_host h[5] = {0};

	tp_od_eject(&c, &h[0], 0, 0);
	ck_assert_uint_eq(h[0].backoff, 1);
	run_interval(&c, h, 5, 30000); /* it returns: 30 s = 1 x base */
	ck_assert(!h[0].ejected);
	ck_assert_uint_eq(h[0].backoff, 1);
	/* An interval later, with Envoy's example rates {50, 100, 100, 100, 100}. */
	tp_od_count(&h[0], 100, 100);
	for (int i = 1; i < 5; i++)
		tp_od_count(&h[i], 200, 0);
	run_interval(&c, h, 5, 40000);
	ck_assert(h[0].ejected);
	ck_assert_uint_eq(h[0].backoff, 2);
	/* So it is out for 2 x base = 60 s. */
	run_interval(&c, h, 5, 70000);
	ck_assert_msg(h[0].ejected, "returned after 30 s, Envoy keeps it out 60 s");
}
END_TEST

static Suite *outlier_suite(void)
{
	Suite *s = suite_create("outlier");
	TCase *tc = tcase_create("outlier");

	tcase_add_test(tc, connect_failures_are_5xx_and_gateway_without_split);
	tcase_add_test(tc, success_resets_the_run);
	tcase_add_test(tc, split_counts_local_origin_only);
	tcase_add_test(tc, zero_threshold_never_trips);
	tcase_add_test(tc, max_ejection_percent_counts_the_next);
	tcase_add_test(tc, enforcing_percentages);
	tcase_add_test(tc, ejection_time_grows_and_is_capped);
	tcase_add_test(tc, return_resets_counters);
	tcase_add_test(tc, report_encoding_replays_the_runs);
	tcase_add_test(tc, report_counts_saturate);
	tcase_add_test(tc, success_rate_below_mean_less_stdevs);
	tcase_add_test(tc, rates_need_volume_and_hosts);
	tcase_add_test(tc, jitter_always_eject_one_and_uneject);
	tcase_add_test(tc, rate_ejection_before_the_backoff_decrement);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(outlier_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

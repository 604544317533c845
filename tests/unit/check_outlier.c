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
	tp_od_eject(&c, &h, 0);
	ck_assert(!tp_od_sweep(&c, &h, 99));
	ck_assert(tp_od_sweep(&c, &h, 100));
	ck_assert(!h.ejected);
	/* Ejected again at once: 2 × base. */
	tp_od_eject(&c, &h, 100);
	ck_assert(!tp_od_sweep(&c, &h, 299));
	ck_assert(tp_od_sweep(&c, &h, 300));
	/* Then 3 × base = 300, capped at max 250. */
	tp_od_eject(&c, &h, 300);
	ck_assert_uint_eq(h.backoff, 3);
	ck_assert(!tp_od_sweep(&c, &h, 549));
	ck_assert(tp_od_sweep(&c, &h, 550));
	/* It grows while base × it is below max + base (300 < 350), then no further. */
	tp_od_eject(&c, &h, 550);
	ck_assert_uint_eq(h.backoff, 4);
	ck_assert(tp_od_sweep(&c, &h, 800));
	tp_od_eject(&c, &h, 800);
	ck_assert_uint_eq(h.backoff, 4);
	ck_assert(tp_od_sweep(&c, &h, 1050));
	/* In rotation for an interval: one step down at each sweep after that. */
	c.interval_ms = 10;
	ck_assert(!tp_od_sweep(&c, &h, 1055));
	ck_assert_uint_eq(h.backoff, 4);
	tp_od_sweep(&c, &h, 1060);
	ck_assert_uint_eq(h.backoff, 3);
	tp_od_sweep(&c, &h, 1070);
	ck_assert_uint_eq(h.backoff, 2);
}
END_TEST

START_TEST(return_resets_counters)
{
	struct tp_outlier_cfg c = defaults();
	struct tp_od_host h = {0};

	tp_od_results(&c, &h, true, 3);
	tp_od_eject(&c, &h, 0);
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

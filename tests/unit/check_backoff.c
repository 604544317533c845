/* Check suite for core/base/backoff.c: Envoy's jittered exponential backoff, and the per-slot
 * counters circuit breakers share across workers. */
#include "core/base/backoff.h"

#include <check.h>
#include <stdlib.h>

START_TEST(caps_double_up_to_max)
{
	/* base 1 s, max 10 s (Envoy's default, 10 x base): 1, 2, 4, 8, then 10 for good. */
	static const uint64_t want[] = {1000, 2000, 4000, 8000, 10000, 10000, 10000};

	for (uint32_t n = 0; n < sizeof(want) / sizeof(want[0]); n++)
		ck_assert_uint_eq(tp_backoff_cap(1000, 10000, n), want[n]);
	/* Envoy jumps to max once doubling is not below max / 2: 5, then 11 (not 10). */
	ck_assert_uint_eq(tp_backoff_cap(5, 11, 1), 11);
	ck_assert_uint_eq(tp_backoff_cap(7, 7, 3), 7);
	/* Never overflows, however many attempts. */
	ck_assert_uint_eq(tp_backoff_cap(1, UINT64_MAX, 200), UINT64_MAX);
	ck_assert_uint_eq(tp_backoff_cap(3, 1ull << 40, UINT32_MAX), 1ull << 40);
}
END_TEST

START_TEST(fully_jittered)
{
	/* Fully jittered: anything in [0, cap), the random value modulo the cap. */
	ck_assert_uint_eq(tp_backoff_next(100, 1000, 0, 0), 0);
	ck_assert_uint_eq(tp_backoff_next(100, 1000, 0, 99), 99);
	ck_assert_uint_eq(tp_backoff_next(100, 1000, 0, 100), 0);
	ck_assert_uint_eq(tp_backoff_next(100, 1000, 1, 199), 199);
	ck_assert_uint_eq(tp_backoff_next(100, 1000, 9, 12345), 12345 % 1000);
	for (uint64_t r = 0; r < 5000; r += 7)
		ck_assert_uint_lt(tp_backoff_next(100, 1000, 3, r * 2654435761u), 800);
}
END_TEST

START_TEST(cb_sums_every_slot)
{
	_Atomic uint64_t slots[4] = {0};
	uint64_t sum = 0;

	/* max 3 across two slots: the fourth is refused, whichever slot asks. */
	ck_assert(tp_cb_admit(slots, 0, 2, 3, &sum));
	ck_assert_uint_eq(sum, 1);
	ck_assert(tp_cb_admit(slots, 1, 2, 3, &sum));
	ck_assert(tp_cb_admit(slots, 1, 2, 3, &sum));
	ck_assert_uint_eq(sum, 3);
	ck_assert(!tp_cb_admit(slots, 0, 2, 3, &sum));
	ck_assert_uint_eq(sum, 3);
	ck_assert(!tp_cb_admit(slots, 1, 2, 3, &sum));
	ck_assert_uint_eq(slots[0], 1);
	ck_assert_uint_eq(slots[1], 2);
	/* Slots past n_slots (another generation's) are not summed. */
	slots[3] = 100;
	ck_assert_uint_eq(tp_cb_release(slots, 1, 2), 2);
	ck_assert(tp_cb_admit(slots, 0, 2, 3, &sum));
	ck_assert_uint_eq(sum, 3);
	/* max 0: nothing is admitted. */
	ck_assert(!tp_cb_admit(slots, 2, 3, 0, &sum));
}
END_TEST

static Suite *backoff_suite(void)
{
	Suite *s = suite_create("backoff");
	TCase *tc = tcase_create("backoff");

	tcase_add_test(tc, caps_double_up_to_max);
	tcase_add_test(tc, fully_jittered);
	tcase_add_test(tc, cb_sums_every_slot);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(backoff_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

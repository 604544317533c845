/* The timer heap: order, re-arm, cancel from any position. */
#include "core/base/timer.h"

#include <check.h>
#include <stdlib.h>

START_TEST(pops_in_deadline_order)
{
	struct tp_timer_heap h;
	struct tp_timer t[64];
	uint64_t last = 0;

	tp_timer_heap_init(&h);
	srand(5);
	for (int i = 0; i < 64; i++) {
		tp_timer_init(&t[i]);
		ck_assert_int_eq(tp_timer_arm(&h, &t[i], (uint64_t)(rand() % 1000)), 0);
	}
	ck_assert_uint_le(tp_timer_next(&h), 1000);
	for (int i = 0; i < 64; i++) {
		struct tp_timer *x = tp_timer_pop_due(&h, 1000);

		ck_assert_ptr_nonnull(x);
		ck_assert_uint_ge(x->deadline_ms, last);
		ck_assert(!tp_timer_armed(x));
		last = x->deadline_ms;
	}
	ck_assert_ptr_null(tp_timer_pop_due(&h, UINT64_MAX - 1));
	ck_assert_uint_eq(tp_timer_next(&h), UINT64_MAX);
	tp_timer_heap_destroy(&h);
}
END_TEST

START_TEST(not_due_is_not_popped_and_rearm_moves)
{
	struct tp_timer_heap h;
	struct tp_timer a, b;

	tp_timer_heap_init(&h);
	tp_timer_init(&a);
	tp_timer_init(&b);
	tp_timer_arm(&h, &a, 100);
	tp_timer_arm(&h, &b, 200);
	ck_assert_ptr_null(tp_timer_pop_due(&h, 99));
	tp_timer_arm(&h, &a, 300); /* later: b is first now */
	ck_assert_ptr_eq(tp_timer_pop_due(&h, 250), &b);
	ck_assert_ptr_null(tp_timer_pop_due(&h, 250));
	tp_timer_arm(&h, &a, 10); /* earlier again */
	ck_assert_ptr_eq(tp_timer_pop_due(&h, 10), &a);
	tp_timer_heap_destroy(&h);
}
END_TEST

START_TEST(cancel_anywhere_keeps_the_heap_ordered)
{
	struct tp_timer_heap h;
	struct tp_timer t[100];
	uint64_t last = 0;
	int popped = 0;

	tp_timer_heap_init(&h);
	for (int i = 0; i < 100; i++) {
		tp_timer_init(&t[i]);
		tp_timer_arm(&h, &t[i], (uint64_t)((i * 37) % 100));
	}
	for (int i = 0; i < 100; i += 3)
		tp_timer_cancel(&h, &t[i]);
	tp_timer_cancel(&h, &t[0]); /* twice is harmless */
	for (struct tp_timer *x; (x = tp_timer_pop_due(&h, 1000)); popped++) {
		ck_assert_uint_ge(x->deadline_ms, last);
		last = x->deadline_ms;
	}
	ck_assert_int_eq(popped, 100 - 34);
	tp_timer_heap_destroy(&h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("timer");
	TCase *tc = tcase_create("heap");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, pops_in_deadline_order);
	tcase_add_test(tc, not_due_is_not_popped_and_rearm_moves);
	tcase_add_test(tc, cancel_anywhere_keeps_the_heap_ordered);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

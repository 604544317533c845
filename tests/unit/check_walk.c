/* The listener → filter chain → filter walk: config order, every chain, early stop. */
#include "core/config/walk.h"

#include <check.h>
#include <stdlib.h>

/* Two listeners: the first with chains of 2 and 0 filters and one of 1, the second with one
 * chain of 3. Each filter's conf is its position in walk order. */
static struct tp_filter_cfg f[6];
static struct tp_filter_chain_cfg ch[4] = {
	{.filters = &f[0], .n_filters = 2},
	{.filters = NULL, .n_filters = 0},
	{.filters = &f[2], .n_filters = 1},
	{.filters = &f[3], .n_filters = 3},
};
static struct tp_listener_cfg ls[2] = {
	{.filter_chains = &ch[0], .n_filter_chains = 3},
	{.filter_chains = &ch[3], .n_filter_chains = 1},
};
static struct tp_config cfg = {.listeners = ls, .n_listeners = 2};

static long seen[8];
static int n_seen;

static int record(struct tp_filter_cfg *fc, void *arg)
{
	long stop_at = (long)arg;

	seen[n_seen++] = (long)fc->conf;
	return (long)fc->conf == stop_at ? 7 : 0;
}

static void setup(void)
{
	for (long i = 0; i < 6; i++)
		f[i].conf = (void *)i;
	n_seen = 0;
}

START_TEST(every_filter_in_config_order)
{
	setup();
	ck_assert_int_eq(tp_config_for_each_filter(&cfg, record, (void *)-1L), 0);
	ck_assert_int_eq(n_seen, 6);
	for (long i = 0; i < 6; i++)
		ck_assert_int_eq(seen[i], i);
}
END_TEST

START_TEST(one_listener)
{
	setup();
	ck_assert_int_eq(tp_listener_for_each_filter(&ls[1], record, (void *)-1L), 0);
	ck_assert_int_eq(n_seen, 3);
	ck_assert_int_eq(seen[0], 3);
	ck_assert_int_eq(seen[2], 5);
}
END_TEST

START_TEST(a_non_zero_return_stops_the_walk)
{
	setup();
	ck_assert_int_eq(tp_config_for_each_filter(&cfg, record, (void *)3L), 7);
	ck_assert_int_eq(n_seen, 4);
	setup();
	ck_assert_int_eq(tp_config_for_each_filter(&cfg, record, (void *)0L), 7);
	ck_assert_int_eq(n_seen, 1);
}
END_TEST

START_TEST(nothing_to_walk)
{
	struct tp_config empty = {0};

	setup();
	ck_assert_int_eq(tp_config_for_each_filter(&empty, record, (void *)-1L), 0);
	ck_assert_int_eq(n_seen, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("walk");
	TCase *tc = tcase_create("walk");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, every_filter_in_config_order);
	tcase_add_test(tc, one_listener);
	tcase_add_test(tc, a_non_zero_return_stops_the_walk);
	tcase_add_test(tc, nothing_to_walk);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Filter state and dynamic metadata: lazy allocation, read-only objects, overwrite, lookup. */
#include "core/conn/filter_state.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(empty_map_is_null_until_first_set)
{
	struct tp_state_map *m = NULL;
	struct tp_value v = tp_value_string("c1");

	ck_assert_ptr_null(tp_filter_state_get(m, "envoy.tcp_proxy.cluster"));
	ck_assert_int_eq(tp_filter_state_set(&m, "envoy.tcp_proxy.cluster", &v, false, false), 0);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(tp_filter_state_get(m, "envoy.tcp_proxy.cluster")->value.s, "c1");
	tp_state_map_free(m);
}
END_TEST

START_TEST(read_only_objects_cannot_be_replaced)
{
	struct tp_state_map *m = NULL;
	struct tp_value a = tp_value_string("a"), b = tp_value_string("b");
	struct tp_value t = tp_value_bool(true), n = tp_value_uint64(5000);

	ck_assert_int_eq(tp_filter_state_set(&m, "k", &a, true, true), 0);
	ck_assert_int_eq(tp_filter_state_set(&m, "k", &b, false, false), -EPERM);
	ck_assert_str_eq(tp_filter_state_get(m, "k")->value.s, "a");
	ck_assert(tp_filter_state_get(m, "k")->shared_with_upstream);
	/* Mutable ones can, with another type too. */
	ck_assert_int_eq(tp_filter_state_set(&m, "m", &t, false, false), 0);
	ck_assert_int_eq(tp_filter_state_set(&m, "m", &n, false, false), 0);
	ck_assert_int_eq(tp_filter_state_get(m, "m")->value.type, TP_VALUE_UINT64);
	ck_assert_uint_eq(tp_filter_state_get(m, "m")->value.u, 5000);
	for (int i = 0; i < 20; i++) { /* grows */
		char key[16];

		snprintf(key, sizeof(key), "k%d", i);
		ck_assert_int_eq(tp_filter_state_set(&m, key, &t, false, false), 0);
	}
	ck_assert_uint_eq(m->n, 22);
	tp_state_map_free(m);
}
END_TEST

START_TEST(metadata_is_keyed_by_namespace_and_key)
{
	struct tp_state_map *m = NULL;
	struct tp_value v = tp_value_string("canary"), w = tp_value_string("stable");

	ck_assert_int_eq(tp_metadata_set(&m, "envoy.lb", "version", &v), 0);
	ck_assert_int_eq(tp_metadata_set(&m, "other", "version", &w), 0);
	ck_assert_str_eq(tp_metadata_get(m, "envoy.lb", "version")->s, "canary");
	ck_assert_str_eq(tp_metadata_get(m, "other", "version")->s, "stable");
	ck_assert_ptr_null(tp_metadata_get(m, "envoy.lb", "missing"));
	ck_assert_ptr_null(tp_metadata_get(m, "envoy.l", "bversion"));
	tp_state_map_free(m);
	tp_state_map_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("filter_state");
	TCase *tc = tcase_create("map");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, empty_map_is_null_until_first_set);
	tcase_add_test(tc, read_only_objects_cannot_be_replaced);
	tcase_add_test(tc, metadata_is_keyed_by_namespace_and_key);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

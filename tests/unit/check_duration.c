/* Check suite for core/duration.c: protobuf JSON Durations, what Envoy accepts and refuses. */
#include "core/base/duration.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int64_t parse_ok(const char *s)
{
	const char *why = NULL;
	int64_t ms = -42;
	int ret = tp_duration_parse(s, &ms, &why);

	ck_assert_msg(ret == 0, "\"%s\": %d (%s)", s, ret, why ? why : "");
	return ms;
}

static const char *parse_bad(const char *s)
{
	const char *why = NULL;
	int64_t ms = -42;
	int ret = tp_duration_parse(s, &ms, &why);

	ck_assert_msg(ret == -EINVAL, "\"%s\" parsed as %lld ms", s, (long long)ms);
	ck_assert_ptr_nonnull(why);
	ck_assert_int_eq(ms, -42); /* untouched on error */
	return why;
}

START_TEST(whole_seconds)
{
	ck_assert_int_eq(parse_ok("0s"), 0);
	ck_assert_int_eq(parse_ok("5s"), 5000);
	ck_assert_int_eq(parse_ok("3600s"), 3600000);
	ck_assert_int_eq(parse_ok("315576000000s"), 315576000000000LL);
}
END_TEST

START_TEST(fractions)
{
	ck_assert_int_eq(parse_ok("0.250s"), 250);
	ck_assert_int_eq(parse_ok("0.25s"), 250);
	ck_assert_int_eq(parse_ok("1.5s"), 1500);
	ck_assert_int_eq(parse_ok("0.001s"), 1);
	ck_assert_int_eq(parse_ok("0.000000000s"), 0);
	ck_assert_int_eq(parse_ok("2.000000001s"), 2000); /* truncated to ms, as Envoy */
	ck_assert_int_eq(parse_ok("1.9999s"), 1999);
}
END_TEST

START_TEST(sub_millisecond_is_never_zero)
{
	/* 0 disables idle_timeout: only "0s" may mean that. */
	ck_assert_int_eq(parse_ok("0.0005s"), 1);
	ck_assert_int_eq(parse_ok("0.000000001s"), 1);
}
END_TEST

START_TEST(refused)
{
	ck_assert_str_eq(parse_bad("-1s"), "negative durations are not allowed");
	ck_assert_str_eq(parse_bad("1h"), "only seconds are accepted, e.g. \"3600s\" for an hour");
	ck_assert_str_eq(parse_bad("5m"), "only seconds are accepted, e.g. \"3600s\" for an hour");
	ck_assert_str_eq(parse_bad("250ms"),
			 "milliseconds are written as a fraction of seconds, e.g. \"0.250s\"");
	ck_assert_str_eq(parse_bad("5"), "a duration needs the \"s\" suffix, e.g. \"5s\"");
	ck_assert_str_eq(parse_bad("0.1234567891s"), "at most 9 fractional digits (nanoseconds)");
	ck_assert_str_eq(parse_bad("315576000001s"), "out of range (at most 315576000000s)");
	parse_bad("");
	parse_bad("s");
	parse_bad(".s");
	parse_bad("5 s");
	parse_bad("5ss");
	parse_bad("+5s");
	parse_bad("1e3s");
	parse_bad("5S");
	parse_bad("abc");
}
END_TEST

START_TEST(format)
{
	char buf[32];

	tp_duration_format(5000, buf, sizeof(buf));
	ck_assert_str_eq(buf, "5s");
	tp_duration_format(250, buf, sizeof(buf));
	ck_assert_str_eq(buf, "0.250s");
	tp_duration_format(1, buf, sizeof(buf));
	ck_assert_str_eq(buf, "0.001s");
	tp_duration_format(0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "0s");
}
END_TEST

static Suite *duration_suite(void)
{
	Suite *s = suite_create("duration");
	TCase *tc = tcase_create("duration");

	tcase_add_test(tc, whole_seconds);
	tcase_add_test(tc, fractions);
	tcase_add_test(tc, sub_millisecond_is_never_zero);
	tcase_add_test(tc, refused);
	tcase_add_test(tc, format);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(duration_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

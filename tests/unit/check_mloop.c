/* The master's poll loop: descriptor handlers, one-shot timers in order, removal from inside
 * a handler. */
#include "core/base/mloop.h"
#include "core/base/timer.h"

#include <check.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

static int calls, order[8], n_order;

static void on_read(struct tp_mloop *l, int fd, unsigned revents, void *arg)
{
	char b;

	ck_assert(revents & POLLIN);
	ck_assert_int_eq(read(fd, &b, 1), 1);
	calls++;
	if (arg)
		tp_mloop_del(l, fd); /* from inside its own handler */
}

static void on_timer(struct tp_mloop *l, void *arg)
{
	order[n_order++] = (int)(long)arg;
}

START_TEST(fd_handlers_run_and_can_remove_themselves)
{
	struct tp_mloop *l = tp_mloop_new();
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	calls = 0;
	ck_assert_int_eq(tp_mloop_add(l, p[0], POLLIN, on_read, (void *)1), 0);
	ck_assert_int_eq(write(p[1], "ab", 2), 2);
	ck_assert_int_eq(tp_mloop_run_once(l, 1000), 0);
	ck_assert_int_eq(calls, 1);
	/* Removed: the second byte is not read however long we wait. */
	ck_assert_int_eq(tp_mloop_run_once(l, 50), 0);
	ck_assert_int_eq(calls, 1);
	close(p[0]);
	close(p[1]);
	tp_mloop_free(l);
}
END_TEST

START_TEST(timers_fire_in_deadline_order_and_cancel)
{
	struct tp_mloop *l = tp_mloop_new();
	uint64_t now = tp_now_ms();
	int64_t id;

	n_order = 0;
	tp_mloop_at(l, now + 30, on_timer, (void *)3);
	tp_mloop_at(l, now + 10, on_timer, (void *)1);
	id = tp_mloop_at(l, now + 20, on_timer, (void *)2);
	tp_mloop_at(l, now + 15, on_timer, (void *)4);
	tp_mloop_cancel(l, id);
	while (n_order < 3)
		ck_assert_int_eq(tp_mloop_run_once(l, -1), 0);
	ck_assert_int_eq(order[0], 1);
	ck_assert_int_eq(order[1], 4);
	ck_assert_int_eq(order[2], 3);
	ck_assert_uint_ge(tp_now_ms(), now + 30);
	tp_mloop_free(l);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mloop");
	TCase *tc = tcase_create("loop");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, fd_handlers_run_and_can_remove_themselves);
	tcase_add_test(tc, timers_fire_in_deadline_order_and_cancel);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Load balancer picks: round robin evenness and order, weights, random and least-request. */
#include "core/config/config-t.h"
#include "core/worker/lb.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static struct tp_endpoint_cfg eps[8];
static struct tp_cluster_cfg cl;

static void make_cluster(enum tp_lb_policy lb, unsigned n, const uint32_t *weights)
{
	memset(&cl, 0, sizeof(cl));
	memset(eps, 0, sizeof(eps));
	for (unsigned i = 0; i < n; i++)
		eps[i].weight = weights ? weights[i] : 1;
	cl.name = "c";
	cl.lb_policy = lb;
	cl.connect_timeout_ms = 1500;
	cl.endpoints = eps;
	cl.n_endpoints = n;
}

static unsigned host_index(struct tp_cluster_rt *rt, struct tp_host_rt *h)
{
	return (unsigned)(h - rt->hosts);
}

START_TEST(round_robin_cycles_every_host_in_order)
{
	struct tp_cluster_rt rt;
	unsigned first, counts[3] = {0};

	make_cluster(TP_LB_ROUND_ROBIN, 3, NULL);
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 7), 0);
	ck_assert_int_eq(rt.connect_timeout.tv_sec, 1);
	ck_assert_int_eq(rt.connect_timeout.tv_nsec, 500000000);
	first = host_index(&rt, tp_lb_pick(&rt));
	counts[first]++;
	for (unsigned i = 1; i < 300; i++) {
		unsigned h = host_index(&rt, tp_lb_pick(&rt));

		ck_assert_uint_eq(h, (first + i) % 3);
		counts[h]++;
	}
	for (unsigned i = 0; i < 3; i++)
		ck_assert_uint_eq(counts[i], 100);
	tp_lb_destroy(&rt);
}
END_TEST

START_TEST(round_robin_start_depends_on_seed)
{
	struct tp_cluster_rt a, b;

	make_cluster(TP_LB_ROUND_ROBIN, 4, NULL);
	tp_lb_init(&a, &cl, 1);
	tp_lb_init(&b, &cl, 2);
	ck_assert_uint_ne(host_index(&a, tp_lb_pick(&a)), host_index(&b, tp_lb_pick(&b)));
	tp_lb_destroy(&a);
	tp_lb_destroy(&b);
}
END_TEST

START_TEST(weighted_round_robin_is_smooth_and_proportional)
{
	static const uint32_t w[] = {5, 1, 1};
	struct tp_cluster_rt rt;
	unsigned counts[3] = {0}, run = 0, longest = 0, prev = 99;

	make_cluster(TP_LB_ROUND_ROBIN, 3, w);
	tp_lb_init(&rt, &cl, 0);
	for (unsigned i = 0; i < 700; i++) {
		unsigned h = host_index(&rt, tp_lb_pick(&rt));

		counts[h]++;
		run = h == prev ? run + 1 : 1;
		if (run > longest)
			longest = run;
		prev = h;
	}
	ck_assert_uint_eq(counts[0], 500);
	ck_assert_uint_eq(counts[1], 100);
	ck_assert_uint_eq(counts[2], 100);
	/* nginx's smooth WRR interleaves a,a,b,a,c,a,a: at most 4 in a row across two periods,
	 * where plain WRR would send all 5 of a's turns back to back. */
	ck_assert_uint_le(longest, 4);
	tp_lb_destroy(&rt);
}
END_TEST

START_TEST(random_reaches_every_host_in_proportion)
{
	static const uint32_t w[] = {3, 1};
	struct tp_cluster_rt rt;
	unsigned counts[2] = {0};

	tp_rand_seed(42);
	make_cluster(TP_LB_RANDOM, 2, w);
	tp_lb_init(&rt, &cl, 0);
	for (unsigned i = 0; i < 40000; i++)
		counts[host_index(&rt, tp_lb_pick(&rt))]++;
	ck_assert_uint_gt(counts[0], 29000);
	ck_assert_uint_lt(counts[0], 31000);
	tp_lb_destroy(&rt);
}
END_TEST

START_TEST(least_request_prefers_the_less_loaded)
{
	struct tp_cluster_rt rt;
	unsigned busy = 0;

	tp_rand_seed(9);
	make_cluster(TP_LB_LEAST_REQUEST, 2, NULL);
	tp_lb_init(&rt, &cl, 0);
	rt.hosts[0].active = 100;
	for (unsigned i = 0; i < 1000; i++)
		busy += tp_lb_pick(&rt) == &rt.hosts[0];
	/* Two random choices: the busy host wins only when both choices are it (1/4). */
	ck_assert_uint_gt(busy, 180);
	ck_assert_uint_lt(busy, 320);
	tp_lb_destroy(&rt);
}
END_TEST

START_TEST(empty_cluster_has_no_host)
{
	struct tp_cluster_rt rt;

	for (int lb = TP_LB_ROUND_ROBIN; lb <= TP_LB_LEAST_REQUEST; lb++) {
		make_cluster((enum tp_lb_policy)lb, 0, NULL);
		ck_assert_int_eq(tp_lb_init(&rt, &cl, 3), 0);
		ck_assert_ptr_null(tp_lb_pick(&rt));
		tp_lb_destroy(&rt);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lb");
	TCase *tc = tcase_create("picks");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, round_robin_cycles_every_host_in_order);
	tcase_add_test(tc, round_robin_start_depends_on_seed);
	tcase_add_test(tc, weighted_round_robin_is_smooth_and_proportional);
	tcase_add_test(tc, random_reaches_every_host_in_proportion);
	tcase_add_test(tc, least_request_prefers_the_less_loaded);
	tcase_add_test(tc, empty_cluster_has_no_host);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

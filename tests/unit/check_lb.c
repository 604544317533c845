/* Load balancer picks: every policy, priorities, localities, Envoy's own ring-hash and Maglev
 * test vectors (its ring_hash_lb_test.cc and maglev_lb_test.cc), and subset selection with each
 * fallback. */
#include "core/config/cfg_schema.h"
#include "core/config/config-t.h"
#include "core/config/config.h"
#include "core/config/metadata.h"
#include "core/config/ynode.h"
#include "core/worker/lb.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXH 1100

static struct tp_endpoint_cfg eps[MAXH];
static struct tp_locality_cfg locs[8];
static struct tp_cluster_cfg cl;
static struct tp_cluster_rt rt;

static void make_cluster(enum tp_lb_policy lb, unsigned n, const uint32_t *weights)
{
	for (unsigned i = 0; i < MAXH; i++)
		tp_mstruct_free(&eps[i].lb_metadata);
	tp_mstruct_free(&cl.subset.default_subset);
	memset(&cl, 0, sizeof(cl));
	memset(eps, 0, sizeof(eps));
	memset(locs, 0, sizeof(locs));
	for (unsigned i = 0; i < n; i++) {
		eps[i].weight = weights ? weights[i] : 1;
		snprintf(eps[i].addr.text, sizeof(eps[i].addr.text), "127.0.0.1:%u", 90 + i);
	}
	cl.name = "c";
	cl.lb_policy = lb;
	cl.connect_timeout_ms = 1500;
	cl.endpoints = eps;
	cl.n_endpoints = n;
	cl.n_priorities = 1;
	cl.ring_min = 1024;
	cl.ring_max = 8u << 20;
	cl.maglev_table_size = 65537;
	cl.choice_count = 2;
}

/* Puts each endpoint i in locality loc[i] (zones "A", "B", ... in that order, at priority 0),
 * with the localities' weights, and turns locality weighting on. */
static const char *const zones[] = {"A", "B", "C", "D", "E", "F", "G", "H"};

static void make_localities(unsigned n_loc, const uint32_t *loc_weight, const unsigned *loc)
{
	for (unsigned l = 0; l < n_loc; l++) {
		locs[l].zone = (char *)zones[l];
		locs[l].weight = loc_weight[l];
	}
	for (unsigned i = 0; i < cl.n_endpoints; i++)
		eps[i].locality = loc[i];
	cl.localities = locs;
	cl.n_localities = n_loc;
	cl.locality_weighted = true;
}

static unsigned pick_idx(struct tp_lb_ctx *ctx)
{
	struct tp_host_rt *h = tp_lb_pick(&rt, ctx);

	ck_assert_ptr_nonnull(h);
	return h->idx;
}

static unsigned pick_hash(uint64_t hash)
{
	struct tp_lb_ctx ctx = {.has_hash = true, .hash = hash};

	return pick_idx(&ctx);
}

START_TEST(round_robin_cycles_every_host_in_order)
{
	unsigned first, counts[3] = {0};

	make_cluster(TP_LB_ROUND_ROBIN, 3, NULL);
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 7), 0);
	ck_assert_int_eq(rt.connect_timeout.tv_sec, 1);
	ck_assert_int_eq(rt.connect_timeout.tv_nsec, 500000000);
	first = pick_idx(NULL);
	counts[first]++;
	for (unsigned i = 1; i < 300; i++) {
		unsigned h = pick_idx(NULL);

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
	ck_assert_uint_ne(tp_lb_pick(&a, NULL)->idx, tp_lb_pick(&b, NULL)->idx);
	tp_lb_destroy(&a);
	tp_lb_destroy(&b);
}
END_TEST

/* Envoy's EDF scheduler: exact shares per period, the heavy host's turns spread over it. */
START_TEST(weighted_round_robin_is_edf_and_proportional)
{
	static const uint32_t w[] = {5, 1, 1};
	unsigned counts[3] = {0}, run = 0, longest = 0, prev = 99;

	make_cluster(TP_LB_ROUND_ROBIN, 3, w);
	tp_lb_init(&rt, &cl, 0);
	for (unsigned i = 0; i < 700; i++) {
		unsigned h = pick_idx(NULL);

		counts[h]++;
		run = h == prev ? run + 1 : 1;
		if (run > longest)
			longest = run;
		prev = h;
		/* Each period of 7 picks gives every host exactly its weight. */
		if (i % 7 == 6) {
			ck_assert_uint_eq(counts[0], 5 * (i + 1) / 7);
			ck_assert_uint_eq(counts[1], (i + 1) / 7);
		}
	}
	ck_assert_uint_eq(counts[0], 500);
	ck_assert_uint_eq(counts[1], 100);
	ck_assert_uint_eq(counts[2], 100);
	/* Five of a's turns in a row, a sixth when its deadline drifts below b's by a rounding
	 * (as in Envoy's scheduler), never the whole 500. */
	ck_assert_uint_le(longest, 6);
	tp_lb_destroy(&rt);
}
END_TEST

START_TEST(weighted_round_robin_is_log_n_over_many_hosts)
{
	static uint32_t w[1000];
	static unsigned counts[1000];

	for (unsigned i = 0; i < 1000; i++)
		w[i] = 1 + i % 4;
	memset(counts, 0, sizeof(counts));
	make_cluster(TP_LB_ROUND_ROBIN, 1000, w);
	tp_lb_init(&rt, &cl, 3);
	/* The total weight is 2500: one full period gives each host its weight exactly. */
	for (unsigned i = 0; i < 2500; i++)
		counts[pick_idx(NULL)]++;
	for (unsigned i = 0; i < 1000; i++)
		ck_assert_uint_eq(counts[i], w[i]);
	tp_lb_destroy(&rt);
}
END_TEST

START_TEST(random_reaches_every_host_in_proportion)
{
	static const uint32_t w[] = {3, 1};
	unsigned counts[2] = {0};

	tp_rand_seed(42);
	make_cluster(TP_LB_RANDOM, 2, w);
	tp_lb_init(&rt, &cl, 0);
	for (unsigned i = 0; i < 40000; i++)
		counts[pick_idx(NULL)]++;
	ck_assert_uint_gt(counts[0], 29000);
	ck_assert_uint_lt(counts[0], 31000);
	tp_lb_destroy(&rt);
}
END_TEST

START_TEST(least_request_prefers_the_less_loaded)
{
	unsigned busy = 0;

	tp_rand_seed(9);
	make_cluster(TP_LB_LEAST_REQUEST, 2, NULL);
	tp_lb_init(&rt, &cl, 0);
	rt.hosts[0]->active = 100;
	for (unsigned i = 0; i < 1000; i++)
		busy += pick_idx(NULL) == 0;
	/* Two random choices: the busy host wins only when both choices are it (1/4). */
	ck_assert_uint_gt(busy, 180);
	ck_assert_uint_lt(busy, 320);
	tp_lb_destroy(&rt);

	/* choice_count 4: only when all four are it (1/16). */
	make_cluster(TP_LB_LEAST_REQUEST, 2, NULL);
	cl.choice_count = 4;
	tp_lb_init(&rt, &cl, 0);
	rt.hosts[0]->active = 100;
	busy = 0;
	for (unsigned i = 0; i < 4000; i++)
		busy += pick_idx(NULL) == 0;
	ck_assert_uint_gt(busy, 170);
	ck_assert_uint_lt(busy, 340);
	tp_lb_destroy(&rt);
}
END_TEST

/* Unequal weights: weighted choices, and active/weight decides. */
START_TEST(least_request_weighs_active_by_weight)
{
	static const uint32_t w[] = {4, 1};
	unsigned heavy = 0;

	tp_rand_seed(5);
	make_cluster(TP_LB_LEAST_REQUEST, 2, w);
	tp_lb_init(&rt, &cl, 0);
	/* 3 active on weight 4 is lighter than 1 active on weight 1. */
	rt.hosts[0]->active = 3;
	rt.hosts[1]->active = 1;
	for (unsigned i = 0; i < 1000; i++)
		heavy += pick_idx(NULL) == 0;
	/* The light host wins only when both choices are it: (1/5)^2. */
	ck_assert_uint_gt(heavy, 930);
	tp_lb_destroy(&rt);
}
END_TEST

START_TEST(empty_cluster_has_no_host)
{
	for (int lb = TP_LB_ROUND_ROBIN; lb <= TP_LB_MAGLEV; lb++) {
		make_cluster((enum tp_lb_policy)lb, 0, NULL);
		ck_assert_int_eq(tp_lb_init(&rt, &cl, 3), 0);
		ck_assert_ptr_null(tp_lb_pick(&rt, NULL));
		tp_lb_destroy(&rt);
	}
}
END_TEST

/* Every host is healthy: the first level with hosts takes all; an empty level fails over. */
START_TEST(priorities_fail_over_only_when_a_level_is_empty)
{
	for (int lb = TP_LB_ROUND_ROBIN; lb <= TP_LB_MAGLEV; lb++) {
		make_cluster((enum tp_lb_policy)lb, 3, NULL);
		cl.n_priorities = 3;
		eps[0].priority = 1;
		eps[1].priority = 2;
		eps[2].priority = 1;
		ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
		for (unsigned i = 0; i < 50; i++)
			ck_assert_uint_ne(pick_idx(NULL), 1);
		tp_lb_destroy(&rt);
		eps[0].priority = eps[2].priority = 2;
		ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
		for (unsigned i = 0; i < 20; i++)
			ck_assert_uint_le(pick_idx(NULL), 2);
		tp_lb_destroy(&rt);
	}
}
END_TEST

START_TEST(locality_weights_split_round_robin_and_random)
{
	static const uint32_t lw[] = {1, 2, 0};
	static const unsigned loc[] = {0, 1, 1, 2};

	for (int lb = TP_LB_ROUND_ROBIN; lb <= TP_LB_LEAST_REQUEST; lb++) {
		unsigned counts[4] = {0};

		tp_rand_seed(11);
		make_cluster((enum tp_lb_policy)lb, 4, NULL);
		make_localities(3, lw, loc);
		ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
		for (unsigned i = 0; i < 3000; i++)
			counts[pick_idx(NULL)]++;
		/* Localities by EDF, exactly 1:2; locality C (weight 0) never. */
		ck_assert_uint_eq(counts[0], 1000);
		ck_assert_uint_eq(counts[1] + counts[2], 2000);
		ck_assert_uint_eq(counts[3], 0);
		tp_lb_destroy(&rt);
		/* Without locality_weighted_lb_config the weights mean nothing. */
		cl.locality_weighted = false;
		ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
		memset(counts, 0, sizeof(counts));
		for (unsigned i = 0; i < 400; i++)
			counts[pick_idx(NULL)]++;
		ck_assert_uint_gt(counts[3], 50);
		tp_lb_destroy(&rt);
	}
}
END_TEST

/* ---- RING_HASH: Envoy's ring_hash_lb_test.cc ---- */

START_TEST(ring_hash_matches_envoy_basic)
{
	make_cluster(TP_LB_RING_HASH, 6, NULL);
	cl.ring_min = 12;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(rt.all.levels[0].all.ring_size, 12);
	/* Envoy's ring: :94 833437586790550860 ... :90 16117243373044804889. */
	ck_assert_uint_eq(rt.all.levels[0].all.ring[0], 833437586790550860ull);
	ck_assert_uint_eq(rt.all.levels[0].all.ring[3], 3551244743356806947ull);
	ck_assert_uint_eq(rt.all.levels[0].all.ring[11], 16117243373044804889ull);
	ck_assert_uint_eq(pick_hash(0), 4);
	ck_assert_uint_eq(pick_hash(UINT64_MAX), 4);
	ck_assert_uint_eq(pick_hash(3551244743356806947ull), 5);
	ck_assert_uint_eq(pick_hash(3551244743356806948ull), 3);
	ck_assert_uint_eq(pick_hash(16117243373044804880ull), 0);
	tp_lb_destroy(&rt);
}
END_TEST

START_TEST(ring_hash_matches_envoy_murmur2)
{
	make_cluster(TP_LB_RING_HASH, 6, NULL);
	for (unsigned i = 0; i < 6; i++)
		snprintf(eps[i].addr.text, sizeof(eps[i].addr.text), "127.0.0.1:%u", 80 + i);
	cl.ring_min = 12;
	cl.ring_hash_fn = 1;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(rt.all.levels[0].all.ring[0], 1358027074129602068ull);
	ck_assert_uint_eq(rt.all.levels[0].all.ring[11], 17613279263364193813ull);
	ck_assert_uint_eq(pick_hash(0), 5);
	ck_assert_uint_eq(pick_hash(UINT64_MAX), 5);
	ck_assert_uint_eq(pick_hash(1358027074129602068ull), 5);
	ck_assert_uint_eq(pick_hash(1358027074129602069ull), 3);
	ck_assert_uint_eq(pick_hash(10150910876324007730ull), 2);
	tp_lb_destroy(&rt);
}
END_TEST

static void expect_picks(const uint64_t *hashes, const unsigned *hosts, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		ck_assert_uint_eq(pick_hash(hashes[i]), hosts[i]);
}

static const uint64_t tiny_hashes[] = {928266305478181108ull,	4443673547860492590ull,
				       5583722120771150861ull,	6311230543546372928ull,
				       13444792449719432967ull, 16117243373044804889ull};
static const unsigned tiny_hosts[] = {2, 2, 1, 1, 2, 0};

START_TEST(ring_hash_matches_envoy_host_weighted)
{
	static const uint32_t w[] = {1, 2, 3};
	unsigned counts[3] = {0};

	make_cluster(TP_LB_RING_HASH, 3, w);
	cl.ring_min = cl.ring_max = 6;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(rt.all.levels[0].all.ring_size, 6);
	expect_picks(tiny_hashes, tiny_hosts, 6);
	tp_lb_destroy(&rt);

	make_cluster(TP_LB_RING_HASH, 3, w);
	cl.ring_min = 6144;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(rt.all.levels[0].all.ring_size, 6144);
	for (uint64_t i = 0; i < 6000; i++)
		counts[pick_hash(i * (UINT64_MAX / 6000))]++;
	ck_assert_uint_eq(counts[0], 987);
	ck_assert_uint_eq(counts[1], 1932);
	ck_assert_uint_eq(counts[2], 3081);
	tp_lb_destroy(&rt);
}
END_TEST

START_TEST(ring_hash_matches_envoy_locality_weighted)
{
	static const uint32_t lw[] = {1, 2, 3, 0};
	static const unsigned loc[] = {0, 1, 2, 3};
	unsigned counts[4] = {0};

	make_cluster(TP_LB_RING_HASH, 4, NULL);
	make_localities(4, lw, loc);
	cl.ring_min = cl.ring_max = 6;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	expect_picks(tiny_hashes, tiny_hosts, 6);
	tp_lb_destroy(&rt);

	make_cluster(TP_LB_RING_HASH, 4, NULL);
	make_localities(4, lw, loc);
	cl.ring_min = 6144;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	for (uint64_t i = 0; i < 6000; i++)
		counts[pick_hash(i * (UINT64_MAX / 6000))]++;
	ck_assert_uint_eq(counts[0], 987);
	ck_assert_uint_eq(counts[1], 1932);
	ck_assert_uint_eq(counts[2], 3081);
	ck_assert_uint_eq(counts[3], 0);
	tp_lb_destroy(&rt);
}
END_TEST

START_TEST(ring_hash_matches_envoy_host_and_locality_weighted)
{
	static const uint32_t w[] = {1, 2, 1, 2}, lw[] = {1, 2};
	static const unsigned loc[] = {0, 0, 1, 1};
	static const uint64_t hashes[] = {
		928266305478181108ull,	 3851675632748031481ull,  5583722120771150861ull,
		6311230543546372928ull,	 7700377290971790572ull,  12559126875973811811ull,
		13444792449719432967ull, 13784988426630141778ull, 16117243373044804889ull};
	static const unsigned hosts[] = {2, 3, 1, 1, 3, 3, 2, 3, 0};
	unsigned counts[4] = {0};

	make_cluster(TP_LB_RING_HASH, 4, w);
	make_localities(2, lw, loc);
	cl.ring_min = cl.ring_max = 9;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(rt.all.levels[0].all.ring_size, 9);
	expect_picks(hashes, hosts, 9);
	tp_lb_destroy(&rt);

	make_cluster(TP_LB_RING_HASH, 4, w);
	make_localities(2, lw, loc);
	cl.ring_min = 9216;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	for (uint64_t i = 0; i < 9000; i++)
		counts[pick_hash(i * (UINT64_MAX / 9000))]++;
	ck_assert_uint_eq(counts[0], 924);
	ck_assert_uint_eq(counts[1], 2009);
	ck_assert_uint_eq(counts[2], 2053);
	ck_assert_uint_eq(counts[3], 4014);
	tp_lb_destroy(&rt);
}
END_TEST

START_TEST(ring_hash_matches_envoy_fractional_scales)
{
	unsigned counts[2] = {0};

	make_cluster(TP_LB_RING_HASH, 2, NULL);
	cl.ring_min = cl.ring_max = 1023;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(rt.all.levels[0].all.ring_size, 1023);
	for (uint64_t i = 0; i < 1023; i++)
		counts[pick_hash(i * (UINT64_MAX / 1023))]++;
	ck_assert_uint_eq(counts[0], 526);
	ck_assert_uint_eq(counts[1], 497);
	tp_lb_destroy(&rt);

	/* Locality weights all 0: as if there were no hosts. */
	{
		static const uint32_t lw[] = {0, 0};
		static const unsigned loc[] = {0, 1};

		make_cluster(TP_LB_RING_HASH, 2, NULL);
		make_localities(2, lw, loc);
		ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
		ck_assert_ptr_null(tp_lb_pick(&rt, NULL));
		tp_lb_destroy(&rt);
	}
}
END_TEST

/* ---- MAGLEV: Envoy's maglev_lb_test.cc ---- */

static void expect_table(const unsigned *expected, unsigned n)
{
	for (unsigned i = 0; i < 3 * n; i++)
		ck_assert_uint_eq(pick_hash(i), expected[i % n]);
}

START_TEST(maglev_matches_envoy)
{
	static const unsigned basic[] = {2, 4, 0, 1, 5, 0, 3};
	static const uint32_t w[] = {1, 2};
	static const unsigned weighted[] = {1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1};

	make_cluster(TP_LB_MAGLEV, 6, NULL);
	cl.maglev_table_size = 7;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	expect_table(basic, 7);
	tp_lb_destroy(&rt);

	make_cluster(TP_LB_MAGLEV, 2, w);
	cl.maglev_table_size = 17;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	expect_table(weighted, 17);
	tp_lb_destroy(&rt);

	/* The order hosts are listed in does not matter: they are sorted by address. */
	make_cluster(TP_LB_MAGLEV, 6, NULL);
	for (unsigned i = 0; i < 6; i++)
		snprintf(eps[i].addr.text, sizeof(eps[i].addr.text), "127.0.0.1:%u", 95 - i);
	cl.maglev_table_size = 7;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	for (unsigned i = 0; i < 7; i++)
		ck_assert_uint_eq(pick_hash(i), 5 - basic[i]);
	tp_lb_destroy(&rt);
}
END_TEST

START_TEST(maglev_matches_envoy_locality_weighted)
{
	static const uint32_t same_w[] = {1, 2}, same_lw[] = {1, 1};
	static const unsigned same_loc[] = {0, 1};
	static const unsigned same[] = {1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1};
	/* :90 in zone A (weight 8), :91 in zone C (2), :92 in zone B (0). */
	static const uint32_t diff_w[] = {1, 2, 3}, diff_lw[] = {8, 0, 2};
	static const unsigned diff_loc[] = {0, 2, 1};
	static const unsigned diff[] = {1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0};

	make_cluster(TP_LB_MAGLEV, 2, same_w);
	make_localities(2, same_lw, same_loc);
	cl.maglev_table_size = 17;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	expect_table(same, 17);
	tp_lb_destroy(&rt);

	make_cluster(TP_LB_MAGLEV, 3, diff_w);
	make_localities(3, diff_lw, diff_loc);
	cl.maglev_table_size = 17;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	expect_table(diff, 17);
	tp_lb_destroy(&rt);
}
END_TEST

/* No hash: a random one, so every host is reached. */
START_TEST(hash_policies_without_a_hash_pick_at_random)
{
	for (int lb = TP_LB_RING_HASH; lb <= TP_LB_MAGLEV; lb++) {
		unsigned counts[4] = {0};

		tp_rand_seed(3);
		make_cluster((enum tp_lb_policy)lb, 4, NULL);
		ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
		for (unsigned i = 0; i < 4000; i++)
			counts[pick_idx(NULL)]++;
		for (unsigned i = 0; i < 4; i++) {
			ck_assert_uint_gt(counts[i], 800);
			ck_assert_uint_lt(counts[i], 1200);
		}
		/* The same hash, the same host, every time. */
		for (unsigned i = 0; i < 10; i++)
			ck_assert_uint_eq(pick_hash(12345), pick_hash(12345));
		tp_lb_destroy(&rt);
	}
}
END_TEST

/* How many of 10,000 keys keep their host when a 4th host joins 3: a ring gives each host fewer
 * points (its share of the ring changes), Maglev refills few slots. */
START_TEST(consistent_hashing_keeps_most_keys_when_a_host_joins)
{
	for (int lb = TP_LB_RING_HASH; lb <= TP_LB_MAGLEV; lb++) {
		static unsigned before[10000];
		unsigned kept = 0, moved_to_new = 0;

		make_cluster((enum tp_lb_policy)lb, 3, NULL);
		ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
		for (unsigned i = 0; i < 10000; i++)
			before[i] = pick_hash(tp_lb_hash(&i, sizeof(i)));
		tp_lb_destroy(&rt);
		make_cluster((enum tp_lb_policy)lb, 4, NULL);
		ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
		for (unsigned i = 0; i < 10000; i++) {
			unsigned now = pick_hash(tp_lb_hash(&i, sizeof(i)));

			kept += now == before[i];
			moved_to_new += now == 3;
		}
		tp_lb_destroy(&rt);
		/* Ideal: 3/4 stay, the rest go to the new host. */
		ck_assert_uint_gt(kept, lb == TP_LB_MAGLEV ? 7000 : 6000);
		ck_assert_uint_gt(moved_to_new, 2000);
	}
}
END_TEST

/* ---- subsets ---- */

static struct tp_mstruct md(const char *yaml)
{
	struct tp_ydoc *doc;
	struct tp_yerror yerr;
	struct tp_cfg_errors errs = {0};
	struct tp_cfg_ctx ctx;
	struct tp_mstruct s = {0};

	ck_assert_int_eq(tp_ynode_parse_string(yaml, strlen(yaml), &doc, &yerr), 0);
	tp_cfg_ctx_init(&ctx, "t", &errs);
	ck_assert_int_eq(tp_mstruct_decode(&ctx, doc->root, &s), 0);
	tp_ynode_doc_free(doc);
	tp_cfg_errors_free(&errs);
	return s;
}

static struct tp_subset_selector_cfg sels[4];
static char *keybuf[4][4];

static void selector(unsigned i, const char *k1, const char *k2, int fallback)
{
	memset(&sels[i], 0, sizeof(sels[i]));
	keybuf[i][0] = (char *)k1;
	keybuf[i][1] = (char *)k2;
	/* keys are kept sorted */
	if (k2 && strcmp(k1, k2) > 0) {
		keybuf[i][0] = (char *)k2;
		keybuf[i][1] = (char *)k1;
	}
	sels[i].keys.v = keybuf[i];
	sels[i].keys.n = k2 ? 2 : 1;
	sels[i].fallback_policy = fallback;
	cl.subset.selectors = sels;
	cl.subset.n_selectors = i + 1;
	cl.subset.enabled = true;
}

/* Hosts 0..5: version v1 v1 v2 v2 v3 (none); stage prod prod prod canary canary (prod). */
static void subset_cluster(void)
{
	static const char *const meta[] = {
		"{version: v1, stage: prod}",	"{version: v1, stage: prod}",
		"{version: v2, stage: prod}",	"{version: v2, stage: canary}",
		"{version: v3, stage: canary}", "{stage: prod}",
	};

	make_cluster(TP_LB_ROUND_ROBIN, 6, NULL);
	for (unsigned i = 0; i < 6; i++)
		eps[i].lb_metadata = md(meta[i]);
}

/* Criteria from YAML (kept alive in crit_md until the next call). */
static struct tp_mstruct crit_md;
static struct tp_lb_criterion crit[8];

static struct tp_lb_ctx criteria(const char *yaml)
{
	struct tp_lb_ctx ctx = {.criteria = crit};

	tp_mstruct_free(&crit_md);
	crit_md = md(yaml);
	for (uint32_t i = 0; i < crit_md.n; i++) {
		crit[i].key = crit_md.f[i].key;
		crit[i].val = crit_md.f[i].value.b;
		crit[i].val_len = crit_md.f[i].value.len;
	}
	ctx.n_criteria = crit_md.n;
	return ctx;
}

/* The set of hosts picks for these criteria reach (a bit mask), and the outcome. */
static unsigned reach(const char *yaml, uint8_t *outcome)
{
	unsigned mask = 0;

	for (unsigned i = 0; i < 60; i++) {
		struct tp_lb_ctx ctx = criteria(yaml);
		struct tp_host_rt *h = tp_lb_pick(&rt, &ctx);

		if (h)
			mask |= 1u << h->idx;
		*outcome = ctx.outcome;
	}
	return mask;
}

START_TEST(subset_selected_by_exact_criteria)
{
	uint8_t out;

	subset_cluster();
	selector(0, "version", NULL, TP_SELECTOR_NOT_DEFINED);
	selector(1, "version", "stage", TP_SELECTOR_NOT_DEFINED);
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	/* v1, v2, v3; (prod,v1), (prod,v2), (canary,v2), (canary,v3). */
	ck_assert_uint_eq(rt.n_subsets, 7);
	ck_assert_uint_eq(reach("{version: v1}", &out), 0x3);
	ck_assert_uint_eq(out, TP_LB_SUBSET_SELECTED);
	ck_assert_uint_eq(reach("{version: v2}", &out), 0xc);
	ck_assert_uint_eq(reach("{version: v2, stage: canary}", &out), 0x8);
	/* No selector has stage alone; NO_FALLBACK (the default): no host. */
	ck_assert_uint_eq(reach("{stage: prod}", &out), 0);
	ck_assert_uint_eq(out, TP_LB_SUBSET_NONE);
	/* A value no host has; a key more than any selector has. */
	ck_assert_uint_eq(reach("{version: v9}", &out), 0);
	ck_assert_uint_eq(reach("{version: v1, stage: prod, x: 1}", &out), 0);
	/* No criteria at all: the cluster's fallback, here none. */
	ck_assert_ptr_null(tp_lb_pick(&rt, NULL));
	tp_lb_destroy(&rt);
}
END_TEST

START_TEST(subset_values_are_typed_as_envoy_reads_yaml)
{
	uint8_t out;

	make_cluster(TP_LB_ROUND_ROBIN, 4, NULL);
	eps[0].lb_metadata = md("{v: 1}");
	eps[1].lb_metadata = md("{v: \"1\"}");
	eps[2].lb_metadata = md("{v: 1.5}");
	eps[3].lb_metadata = md("{v: yes}");
	selector(0, "v", NULL, TP_SELECTOR_NOT_DEFINED);
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(reach("{v: 1}", &out), 0x1);	     /* a number */
	ck_assert_uint_eq(reach("{v: '1'}", &out), 0x2);     /* a string */
	ck_assert_uint_eq(reach("{v: \"1.5\"}", &out), 0x4); /* 1.5 is a string to Envoy */
	ck_assert_uint_eq(reach("{v: true}", &out), 0x8);    /* yes is a bool */
	ck_assert_uint_eq(reach("{v: 0x1}", &out), 0x1);     /* an integer however written */
	tp_lb_destroy(&rt);
}
END_TEST

START_TEST(subset_cluster_fallback_policies)
{
	uint8_t out;

	/* ANY_ENDPOINT: every host, counted as a fallback. */
	subset_cluster();
	selector(0, "version", NULL, TP_SELECTOR_NOT_DEFINED);
	cl.subset.fallback_policy = TP_SUBSET_ANY_ENDPOINT;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(reach("{version: v9}", &out), 0x3f);
	ck_assert_uint_eq(out, TP_LB_SUBSET_FALLBACK);
	ck_assert_uint_eq(reach("{version: v3}", &out), 0x10);
	ck_assert_uint_eq(out, TP_LB_SUBSET_SELECTED);
	tp_lb_destroy(&rt);

	/* DEFAULT_SUBSET: the hosts matching default_subset. */
	cl.subset.fallback_policy = TP_SUBSET_DEFAULT_SUBSET;
	cl.subset.default_subset = md("{stage: canary}");
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(reach("{version: v9}", &out), 0x18);
	ck_assert_uint_eq(out, TP_LB_SUBSET_FALLBACK);
	tp_lb_destroy(&rt);

	/* An empty default subset: nothing, unless panic_mode_any takes any host. */
	tp_mstruct_free(&cl.subset.default_subset);
	cl.subset.default_subset = md("{stage: none}");
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(reach("{version: v9}", &out), 0);
	tp_lb_destroy(&rt);
	cl.subset.panic_mode_any = true;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(reach("{version: v9}", &out), 0x3f);
	ck_assert_uint_eq(out, TP_LB_SUBSET_FALLBACK_PANIC);
	tp_lb_destroy(&rt);
	/* An empty default_subset matches every host (Envoy's empty label set). */
	cl.subset.panic_mode_any = false;
	tp_mstruct_free(&cl.subset.default_subset);
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(reach("{version: v9}", &out), 0x3f);
	tp_lb_destroy(&rt);
}
END_TEST

START_TEST(subset_selector_fallback_policies)
{
	uint8_t out;

	subset_cluster();
	cl.subset.fallback_policy = TP_SUBSET_ANY_ENDPOINT;
	cl.subset.default_subset = md("{version: v3}");
	/* A selector's own NO_FALLBACK wins over the cluster's ANY_ENDPOINT. */
	selector(0, "version", NULL, TP_SELECTOR_NO_FALLBACK);
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(reach("{version: v9}", &out), 0);
	tp_lb_destroy(&rt);
	/* DEFAULT_SUBSET; no stat counts a selector's fallback, as in Envoy. */
	sels[0].fallback_policy = TP_SELECTOR_DEFAULT_SUBSET;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(reach("{version: v9}", &out), 0x10);
	ck_assert_uint_eq(out, TP_LB_SUBSET_NONE);
	tp_lb_destroy(&rt);
	/* ANY_ENDPOINT under a cluster with NO_FALLBACK. */
	cl.subset.fallback_policy = TP_SUBSET_NO_FALLBACK;
	sels[0].fallback_policy = TP_SELECTOR_ANY_ENDPOINT;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(reach("{version: v9}", &out), 0x3f);
	tp_lb_destroy(&rt);
	/* KEYS_SUBSET: (version, stage) with no match looks version alone up again. */
	{
		static char *fk[] = {"version"};

		selector(0, "version", NULL, TP_SELECTOR_NOT_DEFINED);
		selector(1, "version", "stage", TP_SELECTOR_KEYS_SUBSET);
		sels[1].fallback_keys.v = fk;
		sels[1].fallback_keys.n = 1;
		ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
		ck_assert_uint_eq(reach("{version: v1, stage: canary}", &out), 0x3);
		ck_assert_uint_eq(out, TP_LB_SUBSET_SELECTED);
		tp_lb_destroy(&rt);
	}
}
END_TEST

/* Envoy's selector tree: a selector's fallback_policy sits on the node of its last key, and only
 * the selector that made the node sets it. (stage, version) listed before (stage) made node
 * "stage" first, so (stage)'s ANY_ENDPOINT never applies; listed after, it does. */
START_TEST(subset_selector_fallback_follows_envoys_tree)
{
	uint8_t out;

	subset_cluster();
	selector(0, "version", "stage", TP_SELECTOR_NOT_DEFINED);
	selector(1, "stage", NULL, TP_SELECTOR_ANY_ENDPOINT);
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(reach("{stage: none}", &out), 0);
	ck_assert_uint_eq(reach("{stage: canary}", &out), 0x18);
	tp_lb_destroy(&rt);
	selector(0, "stage", NULL, TP_SELECTOR_ANY_ENDPOINT);
	selector(1, "version", "stage", TP_SELECTOR_NOT_DEFINED);
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(reach("{stage: none}", &out), 0x3f);
	tp_lb_destroy(&rt);
}
END_TEST

START_TEST(subset_list_as_any_and_redundant_keys)
{
	uint8_t out;

	make_cluster(TP_LB_ROUND_ROBIN, 3, NULL);
	eps[0].lb_metadata = md("{version: [v1, v2], stage: prod}");
	eps[1].lb_metadata = md("{version: v2, stage: prod}");
	eps[2].lb_metadata = md("{version: [v3]}");
	selector(0, "version", NULL, TP_SELECTOR_NOT_DEFINED);
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	/* Without list_as_any a list is one value. */
	ck_assert_uint_eq(reach("{version: [v1, v2]}", &out), 0x1);
	ck_assert_uint_eq(reach("{version: v1}", &out), 0);
	tp_lb_destroy(&rt);
	cl.subset.list_as_any = true;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(reach("{version: v1}", &out), 0x1);
	ck_assert_uint_eq(reach("{version: v2}", &out), 0x3);
	ck_assert_uint_eq(reach("{version: v3}", &out), 0x4);
	/* Extra keys match nothing, unless allow_redundant_keys narrows them. */
	ck_assert_uint_eq(reach("{version: v3, stage: x}", &out), 0);
	tp_lb_destroy(&rt);
	cl.subset.allow_redundant_keys = true;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(reach("{version: v3, stage: x}", &out), 0x4);
	ck_assert_uint_eq(out, TP_LB_SUBSET_SELECTED);
	tp_lb_destroy(&rt);
	/* default_subset matches a list item under list_as_any. */
	cl.subset.fallback_policy = TP_SUBSET_DEFAULT_SUBSET;
	cl.subset.default_subset = md("{version: v1}");
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(reach("{version: v9}", &out), 0x1);
	tp_lb_destroy(&rt);
}
END_TEST

START_TEST(subset_single_host_and_priorities)
{
	uint8_t out;

	subset_cluster();
	selector(0, "stage", NULL, TP_SELECTOR_NOT_DEFINED);
	sels[0].single_host_per_subset = true;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(reach("{stage: prod}", &out), 0x1);
	ck_assert_uint_eq(reach("{stage: canary}", &out), 0x8);
	tp_lb_destroy(&rt);
	/* A one-host set hashes to its host without a 65537-entry table or a 1024-point ring. */
	for (int lb = TP_LB_RING_HASH; lb <= TP_LB_MAGLEV; lb++) {
		cl.lb_policy = (enum tp_lb_policy)lb;
		ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
		for (uint32_t i = 0; i < rt.subsets_cap; i++) {
			const struct tp_lb *one;

			if (!rt.subsets[i].key)
				continue;
			one = &rt.subsets[i].set.levels[0].all;
			ck_assert_uint_eq(lb == TP_LB_MAGLEV ? one->table_size : one->ring_size, 1);
		}
		ck_assert_uint_eq(reach("{stage: prod}", &out), 0x1);
		ck_assert_uint_eq(reach("{stage: canary}", &out), 0x8);
		tp_lb_destroy(&rt);
	}

	/* A subset has the cluster's priority levels: its level 0 empty, level 1 serves. */
	subset_cluster();
	selector(0, "stage", NULL, TP_SELECTOR_NOT_DEFINED);
	cl.n_priorities = 2;
	eps[0].priority = eps[1].priority = eps[3].priority = 1;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(reach("{stage: prod}", &out), 0x24);
	ck_assert_uint_eq(reach("{stage: canary}", &out), 0x10);
	tp_lb_destroy(&rt);
}
END_TEST

/* locality_weight_aware: a subset weighs its localities; scale_locality_weight by the share of
 * each locality's hosts it has. */
START_TEST(subset_locality_weights)
{
	static const uint32_t lw[] = {1, 1};
	static const unsigned loc[] = {0, 0, 0, 0, 1, 1};
	unsigned counts[6] = {0};
	uint8_t out;

	make_cluster(TP_LB_ROUND_ROBIN, 6, NULL);
	make_localities(2, lw, loc);
	for (unsigned i = 0; i < 6; i++)
		eps[i].lb_metadata = md(i == 0 || i >= 4 ? "{x: y}" : "{x: n}");
	selector(0, "x", NULL, TP_SELECTOR_NOT_DEFINED);
	cl.subset.locality_weight_aware = true;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	/* Subset x=y: host 0 alone in A, hosts 4 and 5 in B; 1:1 by locality. */
	for (unsigned i = 0; i < 400; i++) {
		struct tp_lb_ctx ctx = criteria("{x: y}");

		counts[pick_idx(&ctx)]++;
	}
	ck_assert_uint_eq(counts[0], 200);
	ck_assert_uint_eq(counts[4] + counts[5], 200);
	tp_lb_destroy(&rt);
	/* Scaled: A keeps 1 of 4 hosts (weight round(0.25) = 0), B 2 of 2 (1). */
	cl.subset.scale_locality_weight = true;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(reach("{x: y}", &out), 0x30);
	tp_lb_destroy(&rt);
	/* Not locality_weight_aware: the subset is flat, 1:1:1. */
	cl.subset.locality_weight_aware = false;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	memset(counts, 0, sizeof(counts));
	for (unsigned i = 0; i < 300; i++) {
		struct tp_lb_ctx ctx = criteria("{x: y}");

		counts[pick_idx(&ctx)]++;
	}
	ck_assert_uint_eq(counts[0], 100);
	tp_lb_destroy(&rt);
}
END_TEST

/* scale_locality_weight with weights near 2^32: the product weight × hosts is Envoy's 64-bit one
 * (not wrapped to 0 in 32 bits), and a scaled weight past 2^32 - 1 stays within it. */
START_TEST(subset_scaled_locality_weights_near_the_limit)
{
	static const uint32_t lw[] = {2147483648u, 1};
	static const uint32_t lw_max[] = {4294967294u, 1};
	static const unsigned loc[] = {0, 0, 1};
	unsigned counts[3] = {0};

	make_cluster(TP_LB_ROUND_ROBIN, 3, NULL);
	make_localities(2, lw, loc);
	for (unsigned i = 0; i < 3; i++)
		eps[i].lb_metadata = md("{x: y}");
	selector(0, "x", NULL, TP_SELECTOR_NOT_DEFINED);
	cl.subset.locality_weight_aware = true;
	cl.subset.scale_locality_weight = true;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	/* A keeps both its hosts: 2^31 against B's 1, so B is not reached in 400 picks. */
	for (unsigned i = 0; i < 400; i++) {
		struct tp_lb_ctx ctx = criteria("{x: y}");

		counts[pick_idx(&ctx)]++;
	}
	ck_assert_uint_eq(counts[2], 0);
	ck_assert_uint_eq(counts[0] + counts[1], 400);
	tp_lb_destroy(&rt);
	/* In float, 4294967294 × 2 / 2 rounds to 2^32, which no uint32 holds. */
	make_localities(2, lw_max, loc);
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	memset(counts, 0, sizeof(counts));
	for (unsigned i = 0; i < 400; i++) {
		struct tp_lb_ctx ctx = criteria("{x: y}");

		counts[pick_idx(&ctx)]++;
	}
	ck_assert_uint_eq(counts[2], 0);
	tp_lb_destroy(&rt);
}
END_TEST

/* ANY_ENDPOINT and panic_mode_any pick over every host as Envoy's subset_any_ does: weighed by
 * locality only when the subsets are (locality_weight_aware), whatever the cluster does. */
START_TEST(subset_any_endpoint_weighs_localities_as_subsets_do)
{
	static const uint32_t lw[] = {1, 1};
	static const unsigned loc[] = {0, 1, 1, 1};
	unsigned counts[4] = {0};
	uint8_t out;

	make_cluster(TP_LB_ROUND_ROBIN, 4, NULL);
	make_localities(2, lw, loc);
	for (unsigned i = 0; i < 4; i++)
		eps[i].lb_metadata = md("{x: y}");
	selector(0, "x", NULL, TP_SELECTOR_NOT_DEFINED);
	cl.subset.fallback_policy = TP_SUBSET_ANY_ENDPOINT;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	/* Not locality_weight_aware: 1:1:1:1, though the cluster weighs A (1 host) as B (3). */
	for (unsigned i = 0; i < 400; i++) {
		struct tp_lb_ctx ctx = criteria("{x: n}");

		counts[pick_idx(&ctx)]++;
		out = ctx.outcome;
	}
	ck_assert_uint_eq(out, TP_LB_SUBSET_FALLBACK);
	ck_assert_uint_eq(counts[0], 100);
	tp_lb_destroy(&rt);
	/* locality_weight_aware: the fallback weighs A as B. */
	cl.subset.locality_weight_aware = true;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	memset(counts, 0, sizeof(counts));
	for (unsigned i = 0; i < 400; i++) {
		struct tp_lb_ctx ctx = criteria("{x: n}");

		counts[pick_idx(&ctx)]++;
	}
	ck_assert_uint_eq(counts[0], 200);
	tp_lb_destroy(&rt);
}
END_TEST

/* 1,000 hosts in 50 subsets: each lookup finds its own. */
START_TEST(subset_lookup_among_many)
{
	uint8_t out;
	char y[64];

	make_cluster(TP_LB_MAGLEV, 1000, NULL);
	for (unsigned i = 0; i < 1000; i++) {
		snprintf(eps[i].addr.text, sizeof(eps[i].addr.text), "127.0.%u.%u:80", i / 250,
			 i % 250 + 1);
		snprintf(y, sizeof(y), "{shard: %u}", i % 50);
		eps[i].lb_metadata = md(y);
	}
	selector(0, "shard", NULL, TP_SELECTOR_NOT_DEFINED);
	cl.maglev_table_size = 307;
	ck_assert_int_eq(tp_lb_init(&rt, &cl, 0), 0);
	ck_assert_uint_eq(rt.n_subsets, 50);
	for (unsigned s = 0; s < 50; s++) {
		snprintf(y, sizeof(y), "{shard: %u}", s);
		for (unsigned k = 0; k < 20; k++) {
			struct tp_lb_ctx ctx = criteria(y);

			ctx.has_hash = true;
			ctx.hash = tp_rand();
			ck_assert_uint_eq(pick_idx(&ctx) % 50, s);
			ck_assert_uint_eq(ctx.outcome, TP_LB_SUBSET_SELECTED);
		}
	}
	(void)out;
	tp_lb_destroy(&rt);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lb");
	TCase *tc = tcase_create("picks");
	TCase *hash = tcase_create("hash");
	TCase *sub = tcase_create("subsets");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, round_robin_cycles_every_host_in_order);
	tcase_add_test(tc, round_robin_start_depends_on_seed);
	tcase_add_test(tc, weighted_round_robin_is_edf_and_proportional);
	tcase_add_test(tc, weighted_round_robin_is_log_n_over_many_hosts);
	tcase_add_test(tc, random_reaches_every_host_in_proportion);
	tcase_add_test(tc, least_request_prefers_the_less_loaded);
	tcase_add_test(tc, least_request_weighs_active_by_weight);
	tcase_add_test(tc, empty_cluster_has_no_host);
	tcase_add_test(tc, priorities_fail_over_only_when_a_level_is_empty);
	tcase_add_test(tc, locality_weights_split_round_robin_and_random);
	suite_add_tcase(s, tc);
	tcase_add_test(hash, ring_hash_matches_envoy_basic);
	tcase_add_test(hash, ring_hash_matches_envoy_murmur2);
	tcase_add_test(hash, ring_hash_matches_envoy_host_weighted);
	tcase_add_test(hash, ring_hash_matches_envoy_locality_weighted);
	tcase_add_test(hash, ring_hash_matches_envoy_host_and_locality_weighted);
	tcase_add_test(hash, ring_hash_matches_envoy_fractional_scales);
	tcase_add_test(hash, maglev_matches_envoy);
	tcase_add_test(hash, maglev_matches_envoy_locality_weighted);
	tcase_add_test(hash, hash_policies_without_a_hash_pick_at_random);
	tcase_add_test(hash, consistent_hashing_keeps_most_keys_when_a_host_joins);
	suite_add_tcase(s, hash);
	tcase_add_test(sub, subset_selected_by_exact_criteria);
	tcase_add_test(sub, subset_values_are_typed_as_envoy_reads_yaml);
	tcase_add_test(sub, subset_cluster_fallback_policies);
	tcase_add_test(sub, subset_selector_fallback_policies);
	tcase_add_test(sub, subset_selector_fallback_follows_envoys_tree);
	tcase_add_test(sub, subset_list_as_any_and_redundant_keys);
	tcase_add_test(sub, subset_single_host_and_priorities);
	tcase_add_test(sub, subset_locality_weights);
	tcase_add_test(sub, subset_scaled_locality_weights_near_the_limit);
	tcase_add_test(sub, subset_any_endpoint_weighs_localities_as_subsets_do);
	tcase_add_test(sub, subset_lookup_among_many);
	suite_add_tcase(s, sub);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* lb_bench: host picks per second for each load-balancing policy over 1,000 hosts, alone and
 * through 50 subsets, in one worker's balancer (core/worker/lb.c), and what building it costs.
 *
 *   make bench-lb            (or: build/bench/lb_bench [SECONDS_PER_CASE])
 *
 * The hosts are 127.0.X.Y:80, in 50 shards (metadata shard: 0..49, 20 hosts each); weighted
 * cases give host i the weight 1 + i % 4. A subset case sends each pick to a shard named by
 * its criteria, as tcp_proxy's metadata_match would. Hash cases hash a fresh key per pick.
 * The smooth-WRR row is the round robin tcpproxy had before (nginx's, a walk over every host
 * per pick), kept here for the comparison. */
#include "core/config/cfg_schema.h"
#include "core/config/config-t.h"
#include "core/config/config.h"
#include "core/config/metadata.h"
#include "core/config/ynode.h"
#include "core/worker/lb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HOSTS  1000
#define SHARDS 50

static struct tp_endpoint_cfg eps[HOSTS];
static struct tp_cluster_cfg cl;
static struct tp_subset_selector_cfg sel;
static char *sel_keys[] = {"shard"};
static struct tp_mstruct shard_md[SHARDS];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct tp_mstruct md(const char *yaml)
{
	struct tp_ydoc *doc;
	struct tp_yerror yerr;
	struct tp_cfg_errors errs = {0};
	struct tp_cfg_ctx ctx;
	struct tp_mstruct s = {0};

	if (tp_ynode_parse_string(yaml, strlen(yaml), &doc, &yerr) < 0) {
		fprintf(stderr, "lb_bench: %s\n", yerr.reason);
		exit(1);
	}
	tp_cfg_ctx_init(&ctx, "bench", &errs);
	tp_mstruct_decode(&ctx, doc->root, &s);
	tp_ynode_doc_free(doc);
	tp_cfg_errors_free(&errs);
	return s;
}

static void setup(enum tp_lb_policy lb, bool weighted, bool subsets)
{
	memset(&cl, 0, sizeof(cl));
	for (unsigned i = 0; i < HOSTS; i++) {
		eps[i].weight = weighted ? 1 + i % 4 : 1;
		eps[i].lb_metadata = shard_md[i % SHARDS];
	}
	cl.name = "bench";
	cl.lb_policy = lb;
	cl.connect_timeout_ms = 1000;
	cl.endpoints = eps;
	cl.n_endpoints = HOSTS;
	cl.n_priorities = 1;
	cl.ring_min = 1024;
	cl.ring_max = 8u << 20;
	cl.maglev_table_size = 65537;
	cl.choice_count = 2;
	if (subsets) {
		sel.keys.v = sel_keys;
		sel.keys.n = 1;
		cl.subset.enabled = true;
		cl.subset.selectors = &sel;
		cl.subset.n_selectors = 1;
	}
}

/* nginx's smooth weighted round robin, as lb.c had it: every host visited on each pick. */
static unsigned smooth_wrr(int64_t *cur, unsigned n, uint64_t total)
{
	unsigned best = 0;

	for (unsigned i = 0; i < n; i++) {
		cur[i] += eps[i].weight;
		if (cur[i] > cur[best])
			best = i;
	}
	cur[best] -= (int64_t)total;
	return best;
}

static void row(const char *name, double build_ms, double picks, double secs, uint64_t sink)
{
	printf("| %-34s | %9.2f | %12.0f | %7.1f |\n", name, build_ms, picks / secs,
	       secs / picks * 1e9);
	(void)sink;
}

static void run(const char *name, enum tp_lb_policy lb, bool weighted, bool subsets, bool hash,
		double seconds)
{
	struct tp_cluster_rt rt;
	struct tp_lb_criterion cr[SHARDS];
	double t0, build, start, picks = 0;
	uint64_t sink = 0, key = 1;

	setup(lb, weighted, subsets);
	for (unsigned s = 0; s < SHARDS; s++) {
		cr[s].key = shard_md[s].f[0].key;
		cr[s].val = shard_md[s].f[0].value.b;
		cr[s].val_len = shard_md[s].f[0].value.len;
	}
	t0 = now();
	if (tp_lb_init(&rt, &cl, 7) < 0) {
		fprintf(stderr, "lb_bench: %s: no memory\n", name);
		exit(1);
	}
	build = now() - t0;
	start = now();
	while (now() - start < seconds) {
		for (unsigned k = 0; k < 4096; k++) {
			struct tp_lb_ctx ctx = {0};
			struct tp_host_rt *h;

			if (subsets) {
				ctx.criteria = &cr[key % SHARDS];
				ctx.n_criteria = 1;
			}
			if (hash) {
				key = key * 6364136223846793005ull + 1442695040888963407ull;
				ctx.has_hash = true;
				ctx.hash = tp_lb_hash(&key, sizeof(key));
			} else {
				key++;
			}
			h = tp_lb_pick(&rt, &ctx);
			sink += (uint64_t)h->idx;
		}
		picks += 4096;
	}
	row(name, build * 1e3, picks, now() - start, sink);
	tp_lb_destroy(&rt);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 0.5;
	char y[64];

	for (unsigned s = 0; s < SHARDS; s++) {
		snprintf(y, sizeof(y), "{shard: %u}", s);
		shard_md[s] = md(y);
	}
	for (unsigned i = 0; i < HOSTS; i++)
		snprintf(eps[i].addr.text, sizeof(eps[i].addr.text), "127.0.%u.%u:80", i / 250,
			 i % 250 + 1);
	tp_rand_seed(1);
	printf("%d hosts, %d subsets; %.1f s per case\n\n", HOSTS, SHARDS, seconds);
	printf("| %-34s | %9s | %12s | %7s |\n", "policy", "build ms", "picks/s", "ns/pick");
	printf("|%s|%s|%s|%s|\n", "------------------------------------", "-----------",
	       "--------------", "---------");
	run("ROUND_ROBIN", TP_LB_ROUND_ROBIN, false, false, false, seconds);
	run("ROUND_ROBIN, weighted (EDF)", TP_LB_ROUND_ROBIN, true, false, false, seconds);
	run("RANDOM", TP_LB_RANDOM, false, false, false, seconds);
	run("RANDOM, weighted", TP_LB_RANDOM, true, false, false, seconds);
	run("LEAST_REQUEST", TP_LB_LEAST_REQUEST, false, false, false, seconds);
	run("LEAST_REQUEST, weighted", TP_LB_LEAST_REQUEST, true, false, false, seconds);
	run("RING_HASH", TP_LB_RING_HASH, false, false, true, seconds);
	run("RING_HASH, weighted", TP_LB_RING_HASH, true, false, true, seconds);
	run("MAGLEV", TP_LB_MAGLEV, false, false, true, seconds);
	run("MAGLEV, weighted", TP_LB_MAGLEV, true, false, true, seconds);
	run("ROUND_ROBIN, 50 subsets", TP_LB_ROUND_ROBIN, false, true, false, seconds);
	run("ROUND_ROBIN, weighted, 50 subsets", TP_LB_ROUND_ROBIN, true, true, false, seconds);
	run("RANDOM, 50 subsets", TP_LB_RANDOM, false, true, false, seconds);
	run("LEAST_REQUEST, 50 subsets", TP_LB_LEAST_REQUEST, false, true, false, seconds);
	run("RING_HASH, 50 subsets", TP_LB_RING_HASH, false, true, true, seconds);
	run("MAGLEV, 50 subsets", TP_LB_MAGLEV, false, true, true, seconds);
	{
		int64_t *cur = calloc(HOSTS, sizeof(*cur));
		uint64_t total = 0, sink = 0;
		double t0, picks = 0;

		setup(TP_LB_ROUND_ROBIN, true, false);
		for (unsigned i = 0; i < HOSTS; i++)
			total += eps[i].weight;
		t0 = now();
		while (now() - t0 < seconds) {
			for (unsigned k = 0; k < 4096; k++)
				sink += smooth_wrr(cur, HOSTS, total);
			picks += 4096;
		}
		row("smooth WRR (before), weighted", 0, picks, now() - t0, sink);
		free(cur);
	}
	for (unsigned s = 0; s < SHARDS; s++)
		tp_mstruct_free(&shard_md[s]);
	return 0;
}

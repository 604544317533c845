/* Check suite for shm/stats.c: layout hash, scope registration, capacity, slots across fork(),
 * gauge reset and retirement, holds (scopes freed and reused, failed registrations rolled back),
 * a segment scribbled over by a worker, files in the segment's place (refused, or taken back
 * by root), reader checks, listener names, histogram buckets. */
#include "shm/stats.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char shm_name[64];
static char err[512];

static void setup(void)
{
	static unsigned seq;

	snprintf(shm_name, sizeof(shm_name), "/tcpproxy.check.%d.%u.stats", (int)getpid(), seq++);
	err[0] = '\0';
}

static void teardown(void)
{
	shm_unlink(shm_name);
}

static struct tp_stats *create(unsigned n_slots, unsigned max_scopes)
{
	struct tp_stats *st = NULL;
	int ret = tp_stats_create(&st, shm_name, n_slots, max_scopes, err, sizeof(err));

	ck_assert_msg(ret == 0, "create: %d %s", ret, err);
	return st;
}

/* Looks one stat up through tp_stats_foreach(). */
struct lookup {
	const char *name;
	enum tp_stat_type type;
	uint64_t value;
	int found;
	unsigned n;
};

static void lookup_fn(void *arg, const char *name, enum tp_stat_type type, uint64_t value)
{
	struct lookup *l = arg;

	l->n++;
	if (!strcmp(name, l->name)) {
		l->found++;
		l->type = type;
		l->value = value;
	}
}

static unsigned count_of(struct tp_stats *st, const char *name)
{
	struct lookup l = {.name = name};

	ck_assert_int_eq(tp_stats_foreach(st, lookup_fn, &l), 0);
	return (unsigned)l.found;
}

static uint64_t stat_of(struct tp_stats *st, const char *name)
{
	struct lookup l = {.name = name};

	ck_assert_int_eq(tp_stats_foreach(st, lookup_fn, &l), 0);
	ck_assert_msg(l.found == 1, "%s found %d times", name, l.found);
	return l.value;
}

/* What tp_stats_foreach() lists of a kind: its counters and gauges. */
static unsigned n_listed(enum tp_scope_kind kind)
{
	unsigned n = 0;

	for (unsigned i = 0; i < tp_stats_kinds[kind].n_stats; i++)
		n += tp_stats_kinds[kind].stats[i].type != TP_STAT_HISTOGRAM;
	return n;
}

static unsigned n_stats_of(struct tp_stats *st)
{
	struct lookup l = {.name = ""};

	ck_assert_int_eq(tp_stats_foreach(st, lookup_fn, &l), 0);
	return l.n;
}

/* Two tables in the house form, for the hash: B renames one stat of A. */
#define TABLE_A(C, G, H) C(rx_total) G(active) C(tx_total)
#define TABLE_B(C, G, H) C(rx_total) G(active) C(tx_totals)
#define TABLE_T(C, G, H) C(rx_total) C(active) C(tx_total)
#define TABLE_O(C, G, H) G(active) C(rx_total) C(tx_total)
#define TABLE_H(C, G, H) C(rx_total) H(length_ms) G(active)

#define DESC_OF(T)                                                                     \
	{                                                                              \
		T(TP_STATS_DESC_COUNTER, TP_STATS_DESC_GAUGE, TP_STATS_DESC_HISTOGRAM) \
	}
static const struct tp_stat_desc desc_a[] = DESC_OF(TABLE_A);
static const struct tp_stat_desc desc_a2[] = DESC_OF(TABLE_A);
static const struct tp_stat_desc desc_b[] = DESC_OF(TABLE_B);
static const struct tp_stat_desc desc_t[] = DESC_OF(TABLE_T);
static const struct tp_stat_desc desc_o[] = DESC_OF(TABLE_O);

/* The enum generator of stats-t.h, on a table with a histogram. */
#define TP__TEST(n)   TP_TEST_##n,
#define TP__TEST_H(n) TP__HIST_ENUM(TP_TEST_##n)
enum tp_test_stat { TABLE_H(TP__TEST, TP__TEST, TP__TEST_H) TP_TEST__COUNT };

static uint64_t hash_one(const char *kind, const struct tp_stat_desc *d, unsigned n)
{
	struct tp_stats_kind_desc k = {kind, d, n, n};

	return tp_stats_layout_hash(&k, 1);
}

START_TEST(layout_hash)
{
	uint64_t a = hash_one("tcp", desc_a, 3);

	ck_assert_uint_eq(a, hash_one("tcp", desc_a, 3));
	ck_assert_uint_eq(a, hash_one("tcp", desc_a2, 3)); /* content, not addresses */
	ck_assert_uint_ne(a, hash_one("tcp", desc_b, 3));  /* renamed */
	ck_assert_uint_ne(a, hash_one("tcp", desc_t, 3));  /* gauge became counter */
	ck_assert_uint_ne(a, hash_one("tcp", desc_o, 3));  /* reordered */
	ck_assert_uint_ne(a, hash_one("tcpx", desc_a, 3)); /* kind renamed */
	ck_assert_uint_ne(a, hash_one("tcp", desc_a, 2));  /* stat removed */
	ck_assert_uint_eq(tp_stats_layout_hash(tp_stats_kinds, TP_SCOPE__COUNT),
			  tp_stats_layout_hash(tp_stats_kinds, TP_SCOPE__COUNT));
	ck_assert_uint_ne(tp_stats_layout_hash(tp_stats_kinds, TP_SCOPE__COUNT),
			  tp_stats_layout_hash(tp_stats_kinds, TP_SCOPE__COUNT - 1));
}
END_TEST

START_TEST(generated_tables)
{
	const struct tp_stats_kind_desc *tcp = &tp_stats_kinds[TP_SCOPE_TCP];
	const struct tp_stats_kind_desc *cl = &tp_stats_kinds[TP_SCOPE_CLUSTER];

	ck_assert_str_eq(tp_stats_kinds[TP_SCOPE_SERVER].name, "server");
	ck_assert_str_eq(tp_stats_kinds[TP_SCOPE_LISTENER].name, "listener");
	ck_assert_str_eq(tcp->name, "tcp");
	ck_assert_str_eq(cl->name, "cluster");
	ck_assert_uint_eq(tcp->n_values, TP_TCP__COUNT);
	ck_assert_uint_eq(cl->n_values, TP_CLUSTER__COUNT);
	ck_assert_uint_eq(tp_stats_kinds[TP_SCOPE_LISTENER].n_values, TP_LISTENER__COUNT);
	ck_assert_uint_eq(tp_stats_kinds[TP_SCOPE_SERVER].n_values, TP_SERVER__COUNT);
	ck_assert_str_eq(tp_stats_kinds[TP_SCOPE_CONNECTION_LIMIT].name, "connection_limit");
	ck_assert_str_eq(tp_stats_kinds[TP_SCOPE_CONNECTION_LIMIT]
				 .stats[TP_CONNECTION_LIMIT_limited_connections]
				 .name,
			 "limited_connections");
	/* No histogram yet, so a stat's enum is also its row in the description. */
	ck_assert_str_eq(tcp->stats[TP_TCP_idle_timeout].name, "idle_timeout");
	ck_assert_str_eq(tcp->stats[TP_TCP_upstream_flush_active].name, "upstream_flush_active");
	ck_assert_int_eq(tcp->stats[TP_TCP_upstream_flush_active].type, TP_STAT_GAUGE);
	ck_assert_str_eq(cl->stats[TP_CLUSTER_upstream_cx_none_healthy].name,
			 "upstream_cx_none_healthy");
	ck_assert_int_eq(cl->stats[TP_CLUSTER_upstream_cx_active].type, TP_STAT_GAUGE);
	ck_assert_str_eq(tp_stats_kinds[TP_SCOPE_SERVER].stats[TP_SERVER_live].name, "live");
	/* A histogram spans its buckets, sum and count. */
	ck_assert_uint_eq(TP_TEST_length_ms, 1);
	ck_assert_uint_eq(TP_TEST_active, 1 + TP_STATS_HIST_VALUES);
	ck_assert_uint_eq(TP_TEST__COUNT, 2 + TP_STATS_HIST_VALUES);
}
END_TEST

/* dns.cares.*: Envoy's ALL_CARES_DNS_RESOLVER_STATS names (source/extensions/network/
 * dns_resolver/cares/dns_impl.h): resolve_total, pending_resolutions, not_found,
 * get_addr_failure, timeouts (plural: chargeGetAddrInfoErrorStats() adds the query's timeouts). */
START_TEST(dns_cares_names_are_envoys)
{
	const struct tp_stats_kind_desc *k = &tp_stats_kinds[TP_SCOPE_DNS_CARES];
	static const char *const want[] = {"resolve_total", "pending_resolutions", "not_found",
					   "get_addr_failure", "timeouts"};

	ck_assert_str_eq(k->name, "dns.cares");
	ck_assert_uint_eq(k->n_stats, sizeof(want) / sizeof(want[0]));
	for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
		bool found = false;

		for (uint32_t i = 0; i < k->n_stats; i++)
			found |= !strcmp(k->stats[i].name, want[w]);
		ck_assert_msg(found, "dns.cares.%s is not produced", want[w]);
	}
}
END_TEST

START_TEST(hist_buckets)
{
	uint64_t prev = 0;
	uint64_t *blk;

	for (unsigned b = 0; b < TP_STATS_HIST_BUCKETS; b++) {
		uint64_t lo = tp_stats_hist_bucket_lower(b);

		ck_assert(b == 0 || lo > prev);
		ck_assert_uint_eq(tp_stats_hist_bucket(lo), b);
		if (lo > 0)
			ck_assert_uint_eq(tp_stats_hist_bucket(lo - 1), b - 1);
		prev = lo;
	}
	/* At most 1/8 wide above the linear part. */
	for (unsigned b = TP_STATS_HIST_SUB; b + 1 < TP_STATS_HIST_BUCKETS; b++) {
		uint64_t lo = tp_stats_hist_bucket_lower(b);

		ck_assert(tp_stats_hist_bucket_lower(b + 1) - lo <= lo / 8);
	}
	ck_assert_uint_eq(tp_stats_hist_bucket(UINT64_MAX), TP_STATS_HIST_BUCKETS - 1);
	ck_assert_uint_eq(tp_stats_hist_bucket(1ull << TP_STATS_HIST_MAX_EXP),
			  TP_STATS_HIST_BUCKETS - 1);

	blk = calloc(TP_TEST__COUNT, sizeof(*blk));
	ck_assert_ptr_nonnull(blk);
	tp_stat_record((struct tp_stats_block *)blk, TP_TEST_length_ms, 5);
	tp_stat_record((struct tp_stats_block *)blk, TP_TEST_length_ms, 1000);
	ck_assert_uint_eq(blk[TP_TEST_length_ms + 5], 1);
	ck_assert_uint_eq(blk[TP_TEST_length_ms + tp_stats_hist_bucket(1000)], 1);
	ck_assert_uint_eq(blk[TP_TEST_length_ms + TP_STATS_HIST_SUM], 1005);
	ck_assert_uint_eq(blk[TP_TEST_length_ms + TP_STATS_HIST_COUNT], 2);
	ck_assert_uint_eq(blk[TP_TEST_rx_total], 0);
	ck_assert_uint_eq(blk[TP_TEST_active], 0);
	free(blk);
}
END_TEST

START_TEST(scope_registration)
{
	struct tp_stats *st = create(2, 8);
	uint32_t srv, tcp, cl, again, l2;

	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_SERVER, "", &srv), 0);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_TCP, "demo", &tcp), 0);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, "demo", &cl), 0);
	ck_assert_uint_eq(srv, 0);
	ck_assert_uint_eq(tcp, TP_SERVER__COUNT);
	ck_assert_uint_eq(cl, TP_SERVER__COUNT + TP_TCP__COUNT);
	ck_assert_uint_eq(tp_stats_n_scopes(st), 3);

	/* Same kind and name: same row, nothing appended (a reload re-registering). */
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_TCP, "demo", &again), 0);
	ck_assert_uint_eq(again, tcp);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_SERVER, "", &again), 0);
	ck_assert_uint_eq(again, srv);
	ck_assert_uint_eq(tp_stats_n_scopes(st), 3);

	/* A new one appends after all others; the old ones keep their base. */
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_LISTENER, "127.0.0.1_10000", &l2), 0);
	ck_assert_uint_eq(l2, cl + TP_CLUSTER__COUNT);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, "demo", &again), 0);
	ck_assert_uint_eq(again, cl);
	ck_assert_uint_eq(tp_stats_n_scopes(st), 4);
	ck_assert_uint_eq(n_stats_of(st), n_listed(TP_SCOPE_SERVER) + n_listed(TP_SCOPE_TCP) +
						  n_listed(TP_SCOPE_CLUSTER) +
						  n_listed(TP_SCOPE_LISTENER));
	ck_assert_uint_eq(stat_of(st, "server.live"), 0);
	ck_assert_uint_eq(stat_of(st, "tcp.demo.downstream_cx_total"), 0);
	ck_assert_uint_eq(stat_of(st, "cluster.demo.upstream_cx_none_healthy"), 0);
	ck_assert_uint_eq(stat_of(st, "listener.127.0.0.1_10000.downstream_cx_active"), 0);
	tp_stats_destroy(st);
}
END_TEST

START_TEST(scope_capacity)
{
	struct tp_stats *st = create(1, 2);
	char longname[TP_STATS_NAME_MAX + 1];
	uint32_t b;

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, longname, &b), -ENAMETOOLONG);
	longname[TP_STATS_NAME_MAX - 1] = '\0'; /* the longest that fits */
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, longname, &b), 0);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, "", &b), -EINVAL);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_SERVER, "x", &b), -EINVAL);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_TCP, "a", &b), 0);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_TCP, "b", &b), -ENOSPC);
	/* Full, but existing names still resolve. */
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_TCP, "a", &b), 0);
	ck_assert_uint_eq(b, TP_CLUSTER__COUNT);
	ck_assert_uint_eq(tp_stats_n_scopes(st), 2);
	tp_stats_destroy(st);
}
END_TEST

START_TEST(create_capacity)
{
	struct tp_stats *st = NULL;

	ck_assert_int_eq(tp_stats_create(&st, shm_name, 0, 8, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "slots"));
	ck_assert_int_eq(
		tp_stats_create(&st, shm_name, TP_STATS_MAX_SLOTS + 1, 8, err, sizeof(err)),
		-EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "slots"));
	ck_assert_int_eq(tp_stats_create(&st, shm_name, 2, 0, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "scopes"));
	ck_assert_int_eq(tp_stats_create(&st, shm_name, TP_STATS_MAX_SLOTS, TP_STATS_MAX_SCOPES,
					 err, sizeof(err)),
			 -EFBIG);
	ck_assert_ptr_nonnull(strstr(err, "MiB"));
	ck_assert_int_eq(tp_stats_create(&st, "/no/such/dir", 2, 8, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "/no/such/dir"));
	/* Nothing was left behind by the failures. */
	ck_assert_int_eq(shm_unlink(shm_name), -1);
	ck_assert_ptr_null(st);
}
END_TEST

/* Writes the header of a segment behind the library's back. */
static struct tp_stats_hdr *map_hdr(int *fd)
{
	struct tp_stats_hdr *h;

	*fd = shm_open(shm_name, O_RDWR, 0);
	ck_assert_int_ge(*fd, 0);
	h = mmap(NULL, sizeof(*h), PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	ck_assert(h != MAP_FAILED);
	return h;
}

static void unmap_hdr(struct tp_stats_hdr *h, int fd)
{
	munmap(h, sizeof(*h));
	close(fd);
}

START_TEST(second_master)
{
	struct tp_stats *st = create(2, 4), *st2 = NULL;
	struct tp_stats_hdr *h;
	pid_t dead;
	int fd;

	ck_assert_int_eq(tp_stats_create(&st2, shm_name, 2, 4, err, sizeof(err)), -EBUSY);
	ck_assert_ptr_nonnull(strstr(err, "in use"));
	/* The segment of a master that is gone is replaced. */
	dead = fork();
	if (dead == 0) {
		tp_stats_close(st);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(dead, NULL, 0), dead);
	h = map_hdr(&fd);
	h->master_pid = dead;
	unmap_hdr(h, fd);
	tp_stats_close(st);
	st = create(3, 4);
	ck_assert_uint_eq(tp_stats_n_slots(st), 3);
	tp_stats_destroy(st);
	ck_assert_int_eq(shm_unlink(shm_name), -1); /* destroy removed it */
}
END_TEST

START_TEST(fork_child_slot)
{
	struct tp_stats *st = create(4, 8), *rd;
	uint32_t tcp, cl, srv;
	pid_t pid;
	int status;

	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_SERVER, "", &srv), 0);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_TCP, "demo", &tcp), 0);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, "c1", &cl), 0);
	tp_stat_set(tp_stats_block(st, TP_STATS_SLOT_MASTER), srv + TP_SERVER_concurrency, 4);

	for (unsigned slot = 1; slot <= 2; slot++) {
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			/* A worker: inherited mapping, writes only its own block. */
			struct tp_stats_block *b = tp_stats_block(st, slot);

			for (int i = 0; i < 1000; i++) {
				tp_stat_inc(b, tcp + TP_TCP_downstream_cx_total);
				tp_stat_add(b, tcp + TP_TCP_downstream_cx_rx_bytes_total, 10);
			}
			tp_stat_inc(b, cl + TP_CLUSTER_upstream_cx_active);
			tp_stat_inc(b, cl + TP_CLUSTER_upstream_cx_active);
			tp_stat_dec(b, cl + TP_CLUSTER_upstream_cx_active);
			tp_stats_close(st);
			_exit(0);
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	ck_assert_uint_eq(stat_of(st, "tcp.demo.downstream_cx_total"), 2000);
	ck_assert_uint_eq(stat_of(st, "tcp.demo.downstream_cx_rx_bytes_total"), 20000);
	ck_assert_uint_eq(stat_of(st, "cluster.c1.upstream_cx_active"), 2);
	ck_assert_uint_eq(stat_of(st, "server.concurrency"), 4);

	/* A separate reader sees the same, and scopes appended after it opened. */
	ck_assert_int_eq(tp_stats_open(&rd, shm_name, err, sizeof(err)), 0);
	ck_assert_uint_eq(stat_of(rd, "tcp.demo.downstream_cx_total"), 2000);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, "c2", &cl), 0);
	tp_stat_add(tp_stats_block(st, 0), cl + TP_CLUSTER_upstream_cx_total, 7);
	ck_assert_uint_eq(stat_of(rd, "cluster.c2.upstream_cx_total"), 7);
	ck_assert_int_eq(tp_stats_scope(rd, TP_SCOPE_CLUSTER, "c3", &cl), -EROFS);
	tp_stats_close(rd);
	tp_stats_destroy(st);
}
END_TEST

/* A page of the segment is mapped in this process (msync() fails with ENOMEM on a hole). */
static bool mapped(const void *p)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);

	return msync((void *)((uintptr_t)p / page * page), 1, MS_ASYNC) == 0;
}

START_TEST(worker_keeps_only_its_block)
{
	struct tp_stats *st = create(3, 4);
	uint32_t cl;
	pid_t pid;
	int status;

	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, "c1", &cl), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct tp_stats_block *own = tp_stats_block(st, 1);
		const char *prev = (const char *)tp_stats_block(st, 0);
		const char *next = (const char *)tp_stats_block(st, 2);
		const char *master = (const char *)tp_stats_block(st, TP_STATS_SLOT_MASTER);
		bool ok;

		ok = tp_stats_worker_narrow(st, 1) == 0;
		tp_stat_add(own, cl + TP_CLUSTER_upstream_cx_total, 9);
		ok = ok && mapped(own) && !mapped(prev) && !mapped(next) && !mapped(master);
		/* Not even the last byte of the block before; nor the tables before the blocks. */
		ok = ok && !mapped((const char *)own - 1) && !mapped(prev - 1);
		_exit(ok ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_uint_eq(stat_of(st, "cluster.c1.upstream_cx_total"), 9);
	tp_stats_destroy(st);
}
END_TEST

START_TEST(gauges_signed)
{
	struct tp_stats *st = create(2, 4);
	uint32_t cl;

	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, "c1", &cl), 0);
	/* A gauge may be raised in one block and lowered in another; the sum is signed. */
	tp_stat_add(tp_stats_block(st, 0), cl + TP_CLUSTER_upstream_cx_active, 1);
	tp_stat_sub(tp_stats_block(st, 1), cl + TP_CLUSTER_upstream_cx_active, 3);
	ck_assert_int_eq((int64_t)stat_of(st, "cluster.c1.upstream_cx_active"), -2);
	tp_stats_destroy(st);
}
END_TEST

START_TEST(reset_gauges_keeps_counters)
{
	struct tp_stats *st = create(2, 4);
	struct tp_stats_block *b;
	struct tp_stats_slot_info si;
	uint32_t tcp;

	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_TCP, "demo", &tcp), 0);
	b = tp_stats_block(st, 1);
	tp_stats_slot_set(st, 1, 4242, 0, TP_SLOT_LIVE);
	tp_stat_add(b, tcp + TP_TCP_downstream_cx_total, 5);
	tp_stat_add(b, tcp + TP_TCP_downstream_cx_rx_bytes_buffered, 4096);
	tp_stat_add(b, tcp + TP_TCP_upstream_flush_active, 2);
	tp_stat_add(tp_stats_block(st, 0), tcp + TP_TCP_upstream_flush_active, 1);

	tp_stats_slot_set(st, 1, 4242, 0, TP_SLOT_DEAD);
	tp_stats_slot_reset_gauges(st, 1);
	ck_assert_uint_eq(stat_of(st, "tcp.demo.downstream_cx_total"), 5);
	ck_assert_uint_eq(stat_of(st, "tcp.demo.downstream_cx_rx_bytes_buffered"), 0);
	ck_assert_uint_eq(stat_of(st, "tcp.demo.upstream_flush_active"), 1); /* slot 0 untouched */
	ck_assert_int_eq(tp_stats_slot_get(st, 1, &si), 0);
	ck_assert_int_eq(si.state, TP_SLOT_DEAD);
	ck_assert_int_eq(si.pid, 4242);

	/* The restarted worker continues the slot's counters. */
	tp_stats_slot_set(st, 1, 4243, 0, TP_SLOT_LIVE);
	tp_stat_inc(b, tcp + TP_TCP_downstream_cx_total);
	ck_assert_uint_eq(tp_stat_get(b, tcp + TP_TCP_downstream_cx_total), 6);
	ck_assert_uint_eq(stat_of(st, "tcp.demo.downstream_cx_total"), 6);
	ck_assert_int_eq(tp_stats_slot_get(st, 2, &si), -EINVAL);
	tp_stats_destroy(st);
}
END_TEST

START_TEST(retire_keeps_totals)
{
	struct tp_stats *st = create(4, 4);
	struct tp_stats_slot_info si;
	uint32_t tcp, cl;

	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_TCP, "demo", &tcp), 0);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, "c1", &cl), 0);
	for (unsigned s = 0; s < 4; s++) {
		struct tp_stats_block *b = tp_stats_block(st, s);

		tp_stats_slot_set(st, s, 100 + (int)s, s / 2, TP_SLOT_LIVE);
		tp_stat_add(b, tcp + TP_TCP_downstream_cx_total, 10 + s);
		tp_stat_add(b, cl + TP_CLUSTER_upstream_cx_active, 1);
	}
	/* Generation 0 (slots 0 and 1) exits; twice, to see the retired block accumulate. */
	tp_stats_slot_retire(st, 0);
	ck_assert_uint_eq(stat_of(st, "tcp.demo.downstream_cx_total"), 10 + 11 + 12 + 13);
	tp_stats_slot_retire(st, 1);
	ck_assert_uint_eq(stat_of(st, "tcp.demo.downstream_cx_total"), 10 + 11 + 12 + 13);
	ck_assert_uint_eq(stat_of(st, "cluster.c1.upstream_cx_active"), 2); /* gauges dropped */
	ck_assert_uint_eq(tp_stat_get(tp_stats_block(st, 0), tcp + TP_TCP_downstream_cx_total), 0);
	ck_assert_uint_eq(tp_stat_get(tp_stats_block(st, 1), tcp + TP_TCP_downstream_cx_total), 0);
	ck_assert_int_eq(tp_stats_slot_get(st, 0, &si), 0);
	ck_assert_int_eq(si.state, TP_SLOT_FREE);
	ck_assert_int_eq(si.pid, 0);

	/* A new generation in slot 0 adds to the totals. */
	tp_stat_add(tp_stats_block(st, 0), tcp + TP_TCP_downstream_cx_total, 100);
	ck_assert_uint_eq(stat_of(st, "tcp.demo.downstream_cx_total"), 146);
	tp_stats_slot_retire(st, 0);
	ck_assert_uint_eq(stat_of(st, "tcp.demo.downstream_cx_total"), 146);
	tp_stats_destroy(st);
}
END_TEST

START_TEST(hold_frees_unused_scopes)
{
	struct tp_stats *st = create(2, 8);
	struct tp_stats_hold a, b, c;
	uint32_t srv, ca, cb, t, cb2, cd, cz;

	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_SERVER, "", &srv), 0); /* outside: pinned */
	tp_stats_hold_begin(st, &a);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, "a", &ca), 0);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, "b", &cb), 0);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_TCP, "t", &t), 0);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_TCP, "t", &t), 0); /* twice: held once */
	tp_stats_hold_end(st);
	ck_assert_uint_eq(a.n, 3);
	tp_stats_hold_begin(st, &b);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, "b", &cb2), 0);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, "c", &cz), 0);
	tp_stats_hold_end(st);
	ck_assert_uint_eq(cb2, cb);
	ck_assert_uint_eq(tp_stats_n_scopes(st), 5);

	tp_stat_add(tp_stats_block(st, 0), ca + TP_CLUSTER_upstream_cx_total, 7);
	tp_stat_add(tp_stats_block(st, 0), cb + TP_CLUSTER_upstream_cx_total, 5);
	tp_stats_slot_retire(st, 0); /* a's counters now in the retired block */
	tp_stat_add(tp_stats_block(st, 1), cb + TP_CLUSTER_upstream_cx_total, 1);
	tp_stats_hold_release(st, &a);
	ck_assert_uint_eq(a.n, 0);
	ck_assert_uint_eq(tp_stats_n_scopes(st), 3);
	ck_assert_uint_eq(count_of(st, "cluster.a.upstream_cx_total"), 0);
	ck_assert_uint_eq(count_of(st, "tcp.t.downstream_cx_total"), 0);
	/* b is still held: it keeps counting, nothing of it was lost. */
	ck_assert_uint_eq(stat_of(st, "cluster.b.upstream_cx_total"), 6);
	ck_assert_uint_eq(stat_of(st, "server.live"), 0);

	/* A new cluster takes a's row and values, from zero; a scope kind with other values
	 * does not take them. */
	tp_stat_add(tp_stats_block(st, 1), ca + TP_CLUSTER_upstream_cx_rx_bytes_total, 99);
	tp_stats_hold_begin(st, &c);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CONNECTION_LIMIT, "l", &cd), 0);
	ck_assert_uint_ne(cd, ca);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, "d", &cd), 0);
	tp_stats_hold_end(st);
	ck_assert_uint_eq(cd, ca);
	ck_assert_uint_eq(stat_of(st, "cluster.d.upstream_cx_total"), 0);
	ck_assert_uint_eq(stat_of(st, "cluster.d.upstream_cx_rx_bytes_total"), 0);
	/* Released twice, or never begun: nothing happens. */
	tp_stats_hold_release(st, &a);
	tp_stats_hold_release(st, &b);
	tp_stats_hold_release(st, &c);
	ck_assert_uint_eq(tp_stats_n_scopes(st), 1); /* server.* stays */
	ck_assert_uint_eq(stat_of(st, "server.live"), 0);
	tp_stats_destroy(st);
}
END_TEST

START_TEST(failed_registration_rolls_back)
{
	struct tp_stats *st = create(1, 4);
	struct tp_stats_hold h;
	char name[64];
	uint32_t b, srv;

	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_SERVER, "", &srv), 0);
	for (int round = 0; round < 100; round++) {
		int ret = 0, i;

		/* A generation that wants 4 more scopes does not fit; one of 3 does. */
		tp_stats_hold_begin(st, &h);
		for (i = 0; i < 4 && !ret; i++) {
			snprintf(name, sizeof(name), "r%d_%d", round, i);
			ret = tp_stats_scope(st, TP_SCOPE_CLUSTER, name, &b);
		}
		tp_stats_hold_end(st);
		ck_assert_int_eq(ret, -ENOSPC);
		ck_assert_uint_eq(h.n, 3);
		tp_stats_hold_release(st, &h);
		ck_assert_uint_eq(tp_stats_n_scopes(st), 1);
	}
	tp_stats_hold_begin(st, &h);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_HOST, "c::1.2.3.4:5", &b), 0);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, "c", &b), 0);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_TCP, "t", &b), 0);
	tp_stats_hold_end(st);
	ck_assert_uint_eq(n_stats_of(st), n_listed(TP_SCOPE_SERVER) + n_listed(TP_SCOPE_CLUSTER) +
						  n_listed(TP_SCOPE_TCP));
	tp_stats_hold_release(st, &h);
	tp_stats_destroy(st);
}
END_TEST

/* Reload after reload renames every cluster but one: the table never fills, the survivor's
 * counter never goes back, and only the live names are listed. */
START_TEST(renames_reuse_rows)
{
	struct tp_stats *st = create(4, 48);
	struct tp_stats_hold gens[2];
	uint32_t keep, b;
	char name[64];
	uint64_t total = 0;

	memset(gens, 0, sizeof(gens));
	for (int r = 0; r < 500; r++) {
		struct tp_stats_hold *h = &gens[r % 2];
		unsigned slot = (unsigned)(r % 2) * 2;

		tp_stats_hold_begin(st, h);
		ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, "keep", &keep), 0);
		for (int i = 0; i < 10; i++) {
			snprintf(name, sizeof(name), "g%d_%d", r, i);
			ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, name, &b), 0);
			snprintf(name, sizeof(name), "g%d_%d::127.0.0.1:80", r, i);
			ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_HOST, name, &b), 0);
		}
		tp_stats_hold_end(st);
		tp_stat_add(tp_stats_block(st, slot), keep + TP_CLUSTER_upstream_cx_total, 3);
		total += 3;
		ck_assert_uint_eq(stat_of(st, "cluster.keep.upstream_cx_total"), total);
		/* The generation before this one ends: its slots retire, its hold goes. */
		if (r) {
			struct tp_stats_hold *old = &gens[(r + 1) % 2];
			unsigned oslot = (unsigned)((r + 1) % 2) * 2;

			tp_stats_slot_retire(st, oslot);
			tp_stats_slot_retire(st, oslot + 1);
			tp_stats_hold_release(st, old);
		}
		ck_assert_uint_eq(stat_of(st, "cluster.keep.upstream_cx_total"), total);
		ck_assert_uint_eq(tp_stats_n_scopes(st), 21);
		ck_assert_uint_eq(n_stats_of(st), 11 * n_listed(TP_SCOPE_CLUSTER));
	}
	tp_stats_hold_release(st, &gens[0]);
	tp_stats_hold_release(st, &gens[1]);
	tp_stats_destroy(st);
}
END_TEST

/* Every byte of the header, scope table and slot table as a worker could write them. */
static void scribble(struct tp_stats *st, unsigned seed)
{
	struct tp_stats_hdr *h;
	char *map;
	size_t len;
	int fd;

	fd = shm_open(shm_name, O_RDWR, 0);
	ck_assert_int_ge(fd, 0);
	h = mmap(NULL, sizeof(*h), PROT_READ, MAP_SHARED, fd, 0);
	ck_assert(h != MAP_FAILED);
	len = h->blocks_off;
	munmap(h, sizeof(*h));
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert(map != MAP_FAILED);
	close(fd);
	srand(seed);
	for (size_t i = 0; i < len; i++)
		map[i] = (char)rand();
	h = (struct tp_stats_hdr *)(void *)map;
	if (seed % 2) {
		/* Plausible enough that a careless reader goes on: huge counts and indexes. */
		h->magic = TP_STATS_MAGIC;
		h->version = TP_STATS_VERSION;
		h->hdr_size = sizeof(*h);
		h->layout_hash = tp_stats_layout_hash(tp_stats_kinds, TP_SCOPE__COUNT);
		h->n_scopes = 268435456;
		for (unsigned r = 0; r < tp_stats_max_scopes(st); r++) {
			struct tp_stats_scope_row *row =
				(struct tp_stats_scope_row *)(void *)(map + sizeof(*h) + r * 256);

			row->kind = r % TP_SCOPE__COUNT;
			row->base = 268435456;
		}
	}
	munmap(map, len);
}

START_TEST(master_ignores_a_scribbled_segment)
{
	struct tp_stats *st = create(2, 8), *rd;
	struct tp_stats_slot_info si;
	struct tp_stats_hold h;
	uint32_t srv, cl, cl2, tcp;

	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_SERVER, "", &srv), 0);
	tp_stats_hold_begin(st, &h);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, "c1", &cl), 0);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_TCP, "t", &tcp), 0);
	tp_stats_hold_end(st);
	tp_stats_slot_set(st, 1, 4242, 0, TP_SLOT_LIVE);
	tp_stat_add(tp_stats_block(st, 0), cl + TP_CLUSTER_upstream_cx_total, 3);
	tp_stat_add(tp_stats_block(st, 1), cl + TP_CLUSTER_upstream_cx_total, 4);
	tp_stat_add(tp_stats_block(st, 1), cl + TP_CLUSTER_upstream_cx_active, 2);

	for (unsigned seed = 1; seed <= 4; seed++) {
		/* A reader of the scribbled segment refuses it or reads garbage, never crashes. */
		scribble(st, seed);
		if (tp_stats_open(&rd, shm_name, err, sizeof(err)) == 0) {
			n_stats_of(rd);
			tp_stats_slot_get(rd, 0, &si);
			tp_stats_close(rd);
		}
		/* Every master path: lookups, registration, slots, gauge reset, visits. */
		ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, "c1", &cl2), 0);
		ck_assert_uint_eq(cl2, cl);
		ck_assert_int_eq(tp_stats_slot_get(st, 1, &si), 0);
		ck_assert_int_eq(si.pid, 4242);
		ck_assert_int_eq(si.state, TP_SLOT_LIVE);
		tp_stats_slot_reset_gauges(st, 1);
		ck_assert_uint_eq(stat_of(st, "cluster.c1.upstream_cx_total"), 7);
		ck_assert_uint_eq(stat_of(st, "cluster.c1.upstream_cx_active"), 0);
		ck_assert_uint_eq(tp_stats_n_scopes(st), 3);
		/* The visit found it changed and wrote the master's copy back. */
		ck_assert(!tp_stats_check(st));
		scribble(st, seed + 10);
		ck_assert(tp_stats_check(st));
		ck_assert(!tp_stats_check(st));
		ck_assert_int_eq(tp_stats_open(&rd, shm_name, err, sizeof(err)), 0);
		ck_assert_uint_eq(stat_of(rd, "cluster.c1.upstream_cx_total"), 7);
		ck_assert_uint_eq(stat_of(rd, "tcp.t.downstream_cx_total"), 0);
		ck_assert_int_eq(tp_stats_slot_get(rd, 1, &si), 0);
		ck_assert_int_eq(si.pid, 4242);
		tp_stats_close(rd);
		tp_stat_set(tp_stats_block(st, 1), cl + TP_CLUSTER_upstream_cx_active, 2);
	}
	scribble(st, 99);
	tp_stats_slot_retire(st, 1);
	scribble(st, 100);
	tp_stats_hold_release(st, &h);
	scribble(st, 101);
	tp_stats_hold_begin(st, &h);
	ck_assert_int_eq(tp_stats_scope(st, TP_SCOPE_CLUSTER, "c2", &cl2), 0);
	tp_stats_hold_end(st);
	ck_assert_uint_eq(stat_of(st, "cluster.c2.upstream_cx_total"), 0);
	ck_assert_uint_eq(tp_stats_n_scopes(st), 2);
	tp_stats_hold_release(st, &h);
	scribble(st, 102);
	tp_stats_destroy(st); /* the scribbled master_pid does not stop the unlink */
	ck_assert_int_eq(shm_unlink(shm_name), -1);
}
END_TEST

/* A name another user could make before us: refused with a message, left as it is. */
static void assert_refused(const char *why)
{
	struct tp_stats *st = NULL;
	struct stat sb;
	char path[128];

	snprintf(path, sizeof(path), "/dev/shm%s", shm_name);
	ck_assert_int_eq(tp_stats_create(&st, shm_name, 2, 4, err, sizeof(err)), -EEXIST);
	ck_assert_msg(strstr(err, "not a stats segment tcpproxy may replace"), "%s: %s", why, err);
	ck_assert_msg(strstr(err, "another --base-id"), "%s: %s", why, err);
	ck_assert_ptr_null(st);
	ck_assert_int_eq(lstat(path, &sb), 0);
}

/* A master run as root takes the name back (below); the refusals are those of any other user:
 * as root, fn runs in a child that is nobody. */
static void as_nobody(void (*fn)(void))
{
	pid_t pid;
	int status;

	if (geteuid() != 0) {
		fn();
		return;
	}
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			_exit(2);
		fn();
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "as nobody: status %#x",
		      status);
}

static void refuse_own_non_segments(void)
{
	char path[128];
	struct tp_stats *st;
	int fd;

	snprintf(path, sizeof(path), "/dev/shm%s", shm_name);
	/* Ours, but not 0600 (another process of ours could not have made a segment so). */
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fchmod(fd, 0644), 0);
	close(fd);
	assert_refused("mode 0644");
	ck_assert_int_eq(unlink(path), 0);
	/* A FIFO: refused at once, not opened (which would block). */
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	assert_refused("fifo");
	ck_assert_int_eq(unlink(path), 0);
	/* A symlink to a file of ours. */
	ck_assert_int_eq(symlink("/proc/self/status", path), 0);
	assert_refused("symlink");
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	assert_refused("directory");
	ck_assert_int_eq(rmdir(path), 0);
	/* Ours, 0600, with no header yet and just made: another master is making it. */
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(tp_stats_create(&st, shm_name, 2, 4, err, sizeof(err)), -EBUSY);
	ck_assert_ptr_nonnull(strstr(err, "being created"));
	ck_assert_int_eq(unlink(path), 0);
	/* A segment made under a umask that takes bits away is still exactly 0600. */
	{
		mode_t old = umask(0277);
		struct stat sb;

		st = create(2, 4);
		umask(old);
		ck_assert_int_eq(stat(path, &sb), 0);
		ck_assert_uint_eq(sb.st_mode & 07777, 0600);
		tp_stats_destroy(st);
	}
}

/* Root's file, as nobody: refused, and nobody could not have removed it anyway. */
static void refuse_roots_file(void)
{
	char path[128];

	snprintf(path, sizeof(path), "/dev/shm%s", shm_name);
	assert_refused("another user's");
	ck_assert_int_eq(unlink(path), -1);
	ck_assert_int_eq(errno, EPERM);
}

START_TEST(create_refuses_what_is_not_ours)
{
	char path[128];
	int fd;

	as_nobody(refuse_own_non_segments);
	if (geteuid() == 0) {
		snprintf(path, sizeof(path), "/dev/shm%s", shm_name);
		fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
		ck_assert_int_ge(fd, 0);
		close(fd);
		as_nobody(refuse_roots_file);
		ck_assert_int_eq(unlink(path), 0);
	}
}
END_TEST

/* As root, whatever is at the name and whoever made it is swapped out for a new segment: a file
 * is removed, a directory left aside under a name that says whose it was. */
START_TEST(create_as_root_takes_the_name_back)
{
	struct tp_stats_hdr fake = {.magic = TP_STATS_MAGIC, .master_pid = 1};
	static const char *const kinds[] = {"own 0644", "nobody's live-looking", "fifo", "symlink",
					    "directory"};
	char path[128], aside[300];
	struct stat sb;

	if (geteuid() != 0)
		return;
	snprintf(path, sizeof(path), "/dev/shm%s", shm_name);
	for (unsigned i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct tp_stats *st = NULL;
		unsigned found = 0;
		struct dirent *de;
		DIR *d;
		int fd;

		switch (i) {
		case 0:
		case 1:
			fd = open(path, O_CREAT | O_EXCL | O_WRONLY, i ? 0600 : 0644);
			ck_assert_int_ge(fd, 0);
			ck_assert_int_eq(write(fd, &fake, sizeof(fake)), (ssize_t)sizeof(fake));
			ck_assert_int_eq(fchmod(fd, i ? 0600 : 0644), 0);
			if (i)
				ck_assert_int_eq(fchown(fd, 65534, 65534), 0);
			close(fd);
			break;
		case 2:
			ck_assert_int_eq(mkfifo(path, 0600), 0);
			break;
		case 3:
			ck_assert_int_eq(symlink("/proc/self/status", path), 0);
			break;
		default:
			ck_assert_int_eq(mkdir(path, 0700), 0);
			snprintf(aside, sizeof(aside), "%s/x", path);
			fd = open(aside, O_CREAT | O_EXCL | O_WRONLY, 0600);
			ck_assert_int_ge(fd, 0);
			close(fd);
			break;
		}
		ck_assert_msg(tp_stats_create(&st, shm_name, 2, 4, err, sizeof(err)) == 0, "%s: %s",
			      kinds[i], err);
		ck_assert_int_eq(lstat(path, &sb), 0);
		ck_assert(S_ISREG(sb.st_mode) && sb.st_uid == 0 && (sb.st_mode & 07777) == 0600);
		tp_stats_destroy(st);
		ck_assert_int_eq(lstat(path, &sb), -1);
		/* Nothing left but a directory, set aside. */
		d = opendir("/dev/shm");
		ck_assert_ptr_nonnull(d);
		while ((de = readdir(d))) {
			if (strncmp(de->d_name, shm_name + 1, strlen(shm_name) - 1) ||
			    !de->d_name[strlen(shm_name) - 1])
				continue;
			found++;
			ck_assert_msg(strstr(de->d_name, ".taken-by-uid-0."), "%s", de->d_name);
			snprintf(aside, sizeof(aside), "/dev/shm/%s/x", de->d_name);
			ck_assert_int_eq(unlink(aside), 0);
			snprintf(aside, sizeof(aside), "/dev/shm/%s", de->d_name);
			ck_assert_int_eq(rmdir(aside), 0);
		}
		closedir(d);
		ck_assert_uint_eq(found, i == 4);
	}
}
END_TEST

static int open_err(void)
{
	struct tp_stats *rd = NULL;
	int ret;

	err[0] = '\0';
	ret = tp_stats_open(&rd, shm_name, err, sizeof(err));
	if (!ret)
		tp_stats_close(rd);
	return ret;
}

START_TEST(reader_refuses)
{
	struct tp_stats *st;
	struct tp_stats_hdr *h;
	uint64_t saved;
	int fd;

	ck_assert_int_eq(open_err(), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, shm_name));

	st = create(2, 4);
	ck_assert_int_eq(open_err(), 0);
	h = map_hdr(&fd);

	h->magic ^= 1;
	ck_assert_int_eq(open_err(), -EPROTO);
	ck_assert_ptr_nonnull(strstr(err, "magic"));
	h->magic ^= 1;

	h->version++;
	ck_assert_int_eq(open_err(), -EPROTO);
	ck_assert_ptr_nonnull(strstr(err, "version"));
	h->version--;

	saved = h->layout_hash;
	h->layout_hash = hash_one("tcp", desc_b, 3);
	ck_assert_int_eq(open_err(), -EPROTO);
	ck_assert_ptr_nonnull(strstr(err, "different stat tables"));
	h->layout_hash = saved;

	h->max_values++;
	ck_assert_int_eq(open_err(), -EPROTO);
	ck_assert_ptr_nonnull(strstr(err, "inconsistent"));
	h->max_values--;

	ck_assert_int_eq(open_err(), 0);
	unmap_hdr(h, fd);

	/* Too small to hold a header. */
	fd = shm_open(shm_name, O_RDWR, 0);
	ck_assert_int_eq(ftruncate(fd, 16), 0);
	close(fd);
	ck_assert_int_eq(open_err(), -EPROTO);
	ck_assert_ptr_nonnull(strstr(err, "not a tcpproxy stats segment"));
	tp_stats_close(st);
}
END_TEST

START_TEST(listener_names)
{
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(10000)};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(10001)};
	char out[128];

	inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
	tp_stats_listener_name((struct sockaddr *)&in, out, sizeof(out));
	ck_assert_str_eq(out, "127.0.0.1_10000");

	in6.sin6_addr = in6addr_loopback;
	tp_stats_listener_name((struct sockaddr *)&in6, out, sizeof(out));
	ck_assert_str_eq(out, "[__1]_10001");

	inet_pton(AF_INET6, "2001:db8::5:0:1", &in6.sin6_addr);
	in6.sin6_port = htons(443);
	tp_stats_listener_name((struct sockaddr *)&in6, out, sizeof(out));
	ck_assert_str_eq(out, "[2001_db8__5_0_1]_443");

	in6.sin6_addr = in6addr_any;
	tp_stats_listener_name((struct sockaddr *)&in6, out, sizeof(out));
	ck_assert_str_eq(out, "[__]_443");

	tp_stats_listener_name((struct sockaddr *)&in, out, 6); /* truncated, terminated */
	ck_assert_str_eq(out, "127.0");
}
END_TEST

static Suite *stats_suite(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("stats");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, layout_hash);
	tcase_add_test(tc, generated_tables);
	tcase_add_test(tc, dns_cares_names_are_envoys);
	tcase_add_test(tc, hist_buckets);
	tcase_add_test(tc, scope_registration);
	tcase_add_test(tc, scope_capacity);
	tcase_add_test(tc, create_capacity);
	tcase_add_test(tc, second_master);
	tcase_add_test(tc, fork_child_slot);
	tcase_add_test(tc, worker_keeps_only_its_block);
	tcase_add_test(tc, gauges_signed);
	tcase_add_test(tc, reset_gauges_keeps_counters);
	tcase_add_test(tc, retire_keeps_totals);
	tcase_add_test(tc, hold_frees_unused_scopes);
	tcase_add_test(tc, failed_registration_rolls_back);
	tcase_add_test(tc, renames_reuse_rows);
	tcase_add_test(tc, master_ignores_a_scribbled_segment);
	tcase_add_test(tc, create_refuses_what_is_not_ours);
	tcase_add_test(tc, create_as_root_takes_the_name_back);
	tcase_add_test(tc, reader_refuses);
	tcase_add_test(tc, listener_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(stats_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* The stats segment: the master creates it and registers scopes before forking workers, which
 * inherit the mapping and bump their own block; readers map it read-only and sum the blocks. */
#ifndef TP_STATS_H
#define TP_STATS_H

#include "shm/stats-t.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* Generators of struct tp_stat_desc rows from a TP_<KIND>_STATS table (also used by tests). A row
 * may give its printed name as a second argument (names with '.' or '-'). */
#define TP_STATS_NAME(n, ...)		TP__SECOND(#n, ##__VA_ARGS__, #n, )
#define TP_STATS_DESC_COUNTER(n, ...)	{TP_STATS_NAME(n, ##__VA_ARGS__), TP_STAT_COUNTER},
#define TP_STATS_DESC_GAUGE(n, ...)	{TP_STATS_NAME(n, ##__VA_ARGS__), TP_STAT_GAUGE},
#define TP_STATS_DESC_HISTOGRAM(n, ...) {TP_STATS_NAME(n, ##__VA_ARGS__), TP_STAT_HISTOGRAM},

/* Every scope kind, indexed by enum tp_scope_kind. */
extern const struct tp_stats_kind_desc tp_stats_kinds[TP_SCOPE__COUNT];

/* FNV-1a over the kinds in order: each kind's name and, per stat, its type and name, plus the
 * histogram geometry. Stable across builds and processes; any change to a table changes it. */
uint64_t tp_stats_layout_hash(const struct tp_stats_kind_desc *kinds, unsigned n_kinds);

/* Master. Creates SHM_NAME ("/tcpproxy.<base_id>.stats") with O_EXCL and mode 0600, room for
 * n_slots worker slots and max_scopes scopes. An existing file is replaced only if it is a 0600
 * regular file of this user left by a master that is gone; one whose master is alive gives
 * -EBUSY, anything else (another user's, another mode or type) -EEXIST. Returns 0 or -errno with
 * the reason in err. The layout lives in the master's memory; the segment gets a copy. */
int tp_stats_create(struct tp_stats **out, const char *shm_name, unsigned n_slots,
		    unsigned max_scopes, char *err, size_t errlen);
/* Master, before forking the workers that use it. The same kind and name give the same base as
 * long as the scope is registered; a new one gets a free row and values that start from zero.
 * Between tp_stats_hold_begin() and tp_stats_hold_end() the hold being filled takes the scope;
 * outside any hold a new scope is kept for the master's life and an existing one is only looked
 * up. 0, or -ENOSPC when the scope table is full, -ENAMETOOLONG when the name has
 * TP_STATS_NAME_MAX characters or more, -EINVAL for an empty name (other than the server
 * scope's ""), -ENOMEM, -EROFS on a reader's mapping. */
int tp_stats_scope(struct tp_stats *st, enum tp_scope_kind kind, const char *name, uint32_t *base);
/* A registration walk run twice, once by the master and once by a worker that cannot register
 * (its mapping is read-only but for its block): the master records the bases its calls of
 * tp_stats_scope() give, in call order (at most cap; *n counts them all), and the worker replays
 * them, each call taking the next base. tp_stats_scope_end() stops either; for a replay it
 * returns -EPROTO when the walk did not take exactly n bases (a master and worker that disagree
 * on the walk: a bug). */
void tp_stats_scope_record(struct tp_stats *st, uint32_t *bases, uint32_t cap, uint32_t *n);
void tp_stats_scope_replay(struct tp_stats *st, const uint32_t *bases, uint32_t n);
int tp_stats_scope_end(struct tp_stats *st);
/* Master: a generation's scopes. Every scope registered between begin and end is referenced by h
 * (once). tp_stats_hold_release() drops h's references: a scope no hold references any more
 * leaves the segment (and /stats) and its row and values are reused; one that another hold
 * still references keeps counting. Releasing a hold never begun (all zero) does nothing. */
void tp_stats_hold_begin(struct tp_stats *st, struct tp_stats_hold *h);
void tp_stats_hold_end(struct tp_stats *st);
/* Master: adds to a hold begun before (a generation's scopes made at run time: the hosts a DNS
 * cluster resolves to), until tp_stats_hold_end(). */
void tp_stats_hold_resume(struct tp_stats *st, struct tp_stats_hold *h);
void tp_stats_hold_release(struct tp_stats *st, struct tp_stats_hold *h);
/* Master: compares the segment's header, scope table and slot table with the master's copy and
 * writes back what differs, logging it (at most every 10 s). true if anything differed. The
 * master's own operations (holds, gauge reset, retirement, visits) call it first. */
bool tp_stats_check(struct tp_stats *st);
unsigned tp_stats_n_slots(const struct tp_stats *st);
/* Scopes registered now (the master's count); a reader: rows the segment says are in use. */
unsigned tp_stats_n_scopes(const struct tp_stats *st);
unsigned tp_stats_max_scopes(const struct tp_stats *st);

/* The block of a worker slot (0 .. n_slots-1), or TP_STATS_SLOT_MASTER. Writable mappings only. */
struct tp_stats_block *tp_stats_block(struct tp_stats *st, unsigned slot);

/* A worker, after fork and before it serves: unmaps all of the segment but its own block, so that
 * it cannot write the header, the tables, the master's and retired blocks or another worker's
 * (it has no descriptor, and the file is not its user's to open). Only tp_stats_block() of that
 * slot may be used afterwards. 0, or -errno from munmap(). */
int tp_stats_worker_narrow(struct tp_stats *st, unsigned slot);

/* Master: who owns a slot now; also records when. */
void tp_stats_slot_set(struct tp_stats *st, unsigned slot, int32_t pid, uint32_t generation,
		       enum tp_slot_state state);
/* 0, or -EINVAL for a slot out of range. The master answers from its own copy. */
int tp_stats_slot_get(const struct tp_stats *st, unsigned slot, struct tp_stats_slot_info *out);
/* Master, after the slot's worker died: its gauges are zeroed (its connections died with it),
 * its counters and histograms stay and continue when a new worker takes the slot. */
void tp_stats_slot_reset_gauges(struct tp_stats *st, unsigned slot);
/* Master, after the slot's generation has exited: its counters and histograms are added to the
 * retired block and the slot is zeroed and marked free, so totals do not change. */
void tp_stats_slot_retire(struct tp_stats *st, unsigned slot);

/* Master: one value's sum over every block (workers', the master's, the retired one), as a
 * reader would see it; idx is a scope's base plus the stat's offset. */
uint64_t tp_stats_sum(const struct tp_stats *st, uint32_t idx);

/* Master: POST /reset_counters. Every counter's sum reads 0 afterwards and counts on from there
 * (the retired block takes each sum's negation); gauges and histograms are unchanged. */
void tp_stats_reset_counters(struct tp_stats *st);

/* Reader: maps SHM_NAME read-only. Refuses a segment whose magic, version or layout hash is not
 * this build's, or whose geometry does not fit the file; the reason goes into err. The geometry
 * is read once; rows are copied and checked before use, so a segment changed by a worker gives
 * wrong numbers at worst, never a read out of bounds. */
int tp_stats_open(struct tp_stats **out, const char *shm_name, char *err, size_t errlen);

/* One stat as tp_stats_visit() reports it; the strings live until fn returns. */
struct tp_stat_value {
	const char *name;  /* full Envoy name: "tcp.demo.downstream_cx_total", "server.live" */
	const char *scope; /* the scope's name: "demo"; "" for server */
	const char *stat;  /* the stat's name in its table: "downstream_cx_total" */
	enum tp_scope_kind kind;
	enum tp_stat_type type;
	uint64_t value;	      /* counter; gauge (cast to int64_t); a histogram's count */
	const uint64_t *hist; /* histograms: TP_STATS_HIST_VALUES sums (buckets, sum, count) */
};

typedef void (*tp_stats_visit_fn)(void *arg, const struct tp_stat_value *v);
/* Calls fn for every stat of every scope (host scopes and histograms included), in row order
 * then table order, with its sum over the worker slots, the master's block and the retired
 * block. The sums are consistent with respect to tp_stats_slot_retire() and
 * tp_stats_slot_reset_gauges(). 0, or -ENOMEM. */
int tp_stats_visit(struct tp_stats *st, tp_stats_visit_fn fn, void *arg);

typedef void (*tp_stats_fn)(void *arg, const char *name, enum tp_stat_type type, uint64_t value);
/* tp_stats_visit() restricted to what Envoy's /stats lists as counters and gauges: histograms and
 * host scopes (the /clusters page's) are left out. A gauge is summed as signed: cast value to
 * int64_t. 0, or -ENOMEM. */
int tp_stats_foreach(struct tp_stats *st, tp_stats_fn fn, void *arg);

/* Unmaps (a worker's inherited mapping, a reader's). */
void tp_stats_close(struct tp_stats *st);
/* Master on exit: unmaps and removes the segment. From any other process (a forked worker) it
 * only unmaps. */
void tp_stats_destroy(struct tp_stats *st);

/* Envoy's listener scope name for an address: "127.0.0.1_10000", "[__1]_10000" (Envoy writes
 * each ':' as '_'). Always NUL-terminates out when len > 0. */
void tp_stats_listener_name(const struct sockaddr *sa, char *out, size_t len);

/* Histogram bucket of a value, and the smallest value of a bucket. */
static inline unsigned tp_stats_hist_bucket(uint64_t v)
{
	unsigned e;

	if (v < TP_STATS_HIST_SUB)
		return (unsigned)v;
	e = 63 - (unsigned)__builtin_clzll(v);
	if (e >= TP_STATS_HIST_MAX_EXP)
		return TP_STATS_HIST_BUCKETS - 1;
	return (e - TP_STATS_HIST_SUB_BITS + 1) * TP_STATS_HIST_SUB +
	       (unsigned)((v >> (e - TP_STATS_HIST_SUB_BITS)) & (TP_STATS_HIST_SUB - 1));
}
uint64_t tp_stats_hist_bucket_lower(unsigned bucket);

/* The writer side, on a worker's data path. idx is a scope base plus a stat enum:
 * tp_stat_inc(blk, cl->stats_base + TP_CLUSTER_upstream_cx_total). A block has a single writer,
 * so an update is a relaxed load and a relaxed store (no lock prefix); the atomics only keep
 * readers from seeing a torn value. */
static inline uint64_t *__tp_stat_ptr(struct tp_stats_block *b, uint32_t idx)
{
	return (uint64_t *)(void *)b + idx;
}

static inline void tp_stat_add(struct tp_stats_block *b, uint32_t idx, uint64_t n)
{
	uint64_t *p = __tp_stat_ptr(b, idx);

	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline void tp_stat_inc(struct tp_stats_block *b, uint32_t idx)
{
	tp_stat_add(b, idx, 1);
}

/* Gauges only: a block's gauge may dip below zero, the sum over blocks is read as signed. */
static inline void tp_stat_sub(struct tp_stats_block *b, uint32_t idx, uint64_t n)
{
	tp_stat_add(b, idx, -n);
}

static inline void tp_stat_dec(struct tp_stats_block *b, uint32_t idx)
{
	tp_stat_sub(b, idx, 1);
}

/* Gauges only. */
static inline void tp_stat_set(struct tp_stats_block *b, uint32_t idx, uint64_t v)
{
	__atomic_store_n(__tp_stat_ptr(b, idx), v, __ATOMIC_RELAXED);
}

/* This block's own value (not the sum over blocks). */
static inline uint64_t tp_stat_get(struct tp_stats_block *b, uint32_t idx)
{
	return __atomic_load_n(__tp_stat_ptr(b, idx), __ATOMIC_RELAXED);
}

/* Histograms: records one value; idx is the histogram's first value. */
static inline void tp_stat_record(struct tp_stats_block *b, uint32_t idx, uint64_t v)
{
	tp_stat_inc(b, idx + tp_stats_hist_bucket(v));
	tp_stat_add(b, idx + TP_STATS_HIST_SUM, v);
	tp_stat_inc(b, idx + TP_STATS_HIST_COUNT);
}

#endif

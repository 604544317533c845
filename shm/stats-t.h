/* Types of the stats segment: the stat enums generated from shm/stats_def.h and the shared-memory
 * layout that the master, its workers and readers (tp-statdump, tcpproxy-stat) agree on.
 *
 * Segment (one POSIX shm object, 0600, every offset a multiple of 64):
 *
 *   header       struct tp_stats_hdr, 512 bytes: magic, version, layout hash, geometry, n_scopes
 *   scope table  max_scopes x struct tp_stats_scope_row: kind, name, first value index (base)
 *   slot table   (n_slots + 2) x struct tp_stats_slot: pid, generation, state of each writer
 *   blocks       (n_slots + 2) x block_stride bytes, each max_values uint64 values:
 *                  worker slots 0 .. n_slots-1, then the master's block, then the retired block
 *
 * A stat's value index is its scope's base plus its TP_<KIND>_<stat> enum; the same index is used
 * in every block, and a reader sums the blocks. Each block has exactly one writer (the worker in
 * that slot, or the master), so writes are relaxed load + relaxed store with no lock prefix.
 *
 * Trust: workers hold the whole mapping read-write, so nothing in the segment is trusted by
 * anyone. The master keeps the layout (header, scope rows, slot rows) in its own memory and
 * writes the segment's copy for readers, never reading it back; from the blocks it reads only
 * values. Readers copy what they read out of the segment before checking it.
 *
 * A scope row is free when its n_values is 0: rows (and their values) of scopes that no
 * generation uses any more are reused. The master changes rows, the header's counts and folded
 * values only between two increments of fold_seq (odd meanwhile), so a reader that sees the same
 * even fold_seq before and after its copy has a consistent one. The file is sparse: a value costs
 * memory only once some block writes it. */
#ifndef TP_STATS_T_H
#define TP_STATS_T_H

#include "shm/stats_def.h"

#include <stdint.h>

enum tp_stat_type {
	TP_STAT_COUNTER,   /* only grows; folded into the retired block when its slot is freed */
	TP_STAT_GAUGE,	   /* summed as signed; zeroed when the slot's worker dies */
	TP_STAT_HISTOGRAM, /* TP_STATS_HIST_VALUES values; folded like counters */
};

/* Histograms: fixed log-linear buckets, so that blocks of different workers add bucket by bucket.
 * Values 0..7 have a bucket each; above that every power of two is cut into 8 buckets (at most
 * 12.5% wide), up to 2^36 (about 795 days in ms); larger values land in the last bucket. After the
 * buckets come the sum of recorded values and their count. */
#define TP_STATS_HIST_SUB_BITS 3
#define TP_STATS_HIST_SUB      (1u << TP_STATS_HIST_SUB_BITS)
#define TP_STATS_HIST_MAX_EXP  36
#define TP_STATS_HIST_BUCKETS \
	((TP_STATS_HIST_MAX_EXP - TP_STATS_HIST_SUB_BITS + 1) * TP_STATS_HIST_SUB)
#define TP_STATS_HIST_SUM    TP_STATS_HIST_BUCKETS
#define TP_STATS_HIST_COUNT  (TP_STATS_HIST_BUCKETS + 1)
#define TP_STATS_HIST_VALUES (TP_STATS_HIST_BUCKETS + 2)

/* The second argument, or the first when there is no other: a kind's printed name, a stat's. */
#define TP__SECOND(a, b, ...) b

/* enum tp_scope_kind: TP_SCOPE_SERVER, TP_SCOPE_LISTENER, ... */
#define TP__SCOPE_ENUM(K, k, ...) TP_SCOPE_##K,
enum tp_scope_kind { TP_STATS_SCOPE_KINDS(TP__SCOPE_ENUM) TP_SCOPE__COUNT };

/* enum tp_<kind>_stat: TP_<KIND>_<stat> is the stat's offset in its scope, TP_<KIND>__COUNT the
 * scope's number of values. The preprocessor cannot paste a kind into a one-argument callback, so
 * each kind has its two wrappers here; a kind without them fails to compile. */
#define TP__HIST_ENUM(e)		      e, e##__hist_last = e + TP_STATS_HIST_VALUES - 1,
#define TP__SERVER(n)			      TP_SERVER_##n,
#define TP__SERVER_H(n)			      TP__HIST_ENUM(TP_SERVER_##n)
#define TP__LISTENER(n)			      TP_LISTENER_##n,
#define TP__LISTENER_H(n)		      TP__HIST_ENUM(TP_LISTENER_##n)
#define TP__TCP(n)			      TP_TCP_##n,
#define TP__TCP_H(n)			      TP__HIST_ENUM(TP_TCP_##n)
#define TP__CLUSTER(n, ...)		      TP_CLUSTER_##n,
#define TP__CLUSTER_H(n)		      TP__HIST_ENUM(TP_CLUSTER_##n)
#define TP__CONNECTION_LIMIT(n)		      TP_CONNECTION_LIMIT_##n,
#define TP__CONNECTION_LIMIT_H(n)	      TP__HIST_ENUM(TP_CONNECTION_LIMIT_##n)
#define TP__HOST(n)			      TP_HOST_##n,
#define TP__HOST_H(n)			      TP__HIST_ENUM(TP_HOST_##n)
#define TP__TLS_INSPECTOR(n)		      TP_TLS_INSPECTOR_##n,
#define TP__TLS_INSPECTOR_H(n)		      TP__HIST_ENUM(TP_TLS_INSPECTOR_##n)
#define TP__LISTENER_SSL(n, ...)	      TP_LISTENER_SSL_##n,
#define TP__LISTENER_SSL_H(n)		      TP__HIST_ENUM(TP_LISTENER_SSL_##n)
#define TP__CLUSTER_SSL(n, ...)		      TP_CLUSTER_SSL_##n,
#define TP__CLUSTER_SSL_H(n)		      TP__HIST_ENUM(TP_CLUSTER_SSL_##n)
#define TP__CLUSTER_CB(n, ...)		      TP_CLUSTER_CB_##n,
#define TP__CLUSTER_CB_H(n)		      TP__HIST_ENUM(TP_CLUSTER_CB_##n)
#define TP__CLUSTER_CB_REMAINING(n, ...)      TP_CLUSTER_CB_REMAINING_##n,
#define TP__CLUSTER_CB_REMAINING_H(n)	      TP__HIST_ENUM(TP_CLUSTER_CB_REMAINING_##n)
#define TP__DNS_CARES(n)		      TP_DNS_CARES_##n,
#define TP__DNS_CARES_H(n)		      TP__HIST_ENUM(TP_DNS_CARES_##n)
#define TP__CLUSTER_CB_HIGH(n, ...)	      TP_CLUSTER_CB_HIGH_##n,
#define TP__CLUSTER_CB_HIGH_H(n)	      TP__HIST_ENUM(TP_CLUSTER_CB_HIGH_##n)
#define TP__CLUSTER_CB_HIGH_REMAINING(n, ...) TP_CLUSTER_CB_HIGH_REMAINING_##n,
#define TP__CLUSTER_CB_HIGH_REMAINING_H(n)    TP__HIST_ENUM(TP_CLUSTER_CB_HIGH_REMAINING_##n)
#define TP__CLUSTER_MANAGER(n)		      TP_CLUSTER_MANAGER_##n,
#define TP__CLUSTER_MANAGER_H(n)	      TP__HIST_ENUM(TP_CLUSTER_MANAGER_##n)
#define TP__CDS(n, ...)			      TP_CDS_##n,
#define TP__CDS_H(n)			      TP__HIST_ENUM(TP_CDS_##n)
#define TP__LISTENER_MANAGER(n, ...)	      TP_LISTENER_MANAGER_##n,
#define TP__LISTENER_MANAGER_H(n)	      TP__HIST_ENUM(TP_LISTENER_MANAGER_##n)
#define TP__STAT_ENUM(K, k, ...) \
	enum tp_##k##_stat{TP_##K##_STATS(TP__##K, TP__##K, TP__##K##_H) TP_##K##__COUNT};
TP_STATS_SCOPE_KINDS(TP__STAT_ENUM)

/* One stat of a scope kind, and a scope kind: what the generators in shm/stats.h build. */
struct tp_stat_desc {
	const char *name;
	enum tp_stat_type type;
};

struct tp_stats_kind_desc {
	const char *name; /* "tcp": first component of the full stat name */
	const struct tp_stat_desc *stats;
	uint32_t n_stats;
	uint32_t n_values; /* TP_<KIND>__COUNT */
};

/* "TPSTATS\0" read as a little-endian uint64. */
#define TP_STATS_MAGIC 0x0053544154535054ull
/* Bump when a struct below or the meaning of a field changes; stat tables changes are caught by
 * the layout hash. 2: scope rows are freed (n_values 0) and reused. */
#define TP_STATS_VERSION 2u

#define TP_STATS_SLOT_MASTER  (~0u)	/* tp_stats_block(): the master's own block */
#define TP_STATS_SLOT_RETIRED (~0u - 1) /* counters of freed slots; written by the master only */

#define TP_STATS_NAME_MAX   240 /* a scope name, NUL included */
#define TP_STATS_MAX_SLOTS  4096u
#define TP_STATS_MAX_SCOPES (1u << 20)

struct tp_stats_hdr {
	uint64_t magic; /* stored last, with release: a reader never sees a half-made header */
	uint32_t version;
	uint32_t hdr_size;    /* sizeof(struct tp_stats_hdr) */
	uint64_t layout_hash; /* tp_stats_layout_hash() of the tables the master was built with */
	uint64_t total_size;
	uint32_t n_slots;    /* worker slots; the master's and the retired block follow them */
	uint32_t max_scopes; /* rows in the scope table */
	uint32_t max_values; /* values per block */
	uint32_t n_scopes;   /* rows the master has used; rows at or past it are free */
	uint32_t n_values;   /* value indexes at or past it were never given to a scope */
	uint32_t fold_seq;   /* odd while the master changes rows or folded values: readers retry */
	uint32_t scope_size; /* sizeof(struct tp_stats_scope_row) */
	uint32_t slot_size;  /* sizeof(struct tp_stats_slot) */
	uint64_t scopes_off;
	uint64_t slots_off;
	uint64_t blocks_off;
	uint64_t block_stride;
	int32_t master_pid; /* the creator; a live one keeps a second master out */
	uint32_t epoch;	    /* reload generation (server.hot_restart_epoch), set by the master */
	uint64_t created_unix_ns; /* for server.uptime */
	uint64_t reserved[50];	  /* room for later fields without moving anything */
};

struct tp_stats_scope_row {
	uint32_t kind;		      /* enum tp_scope_kind */
	uint32_t base;		      /* index of the scope's first value in every block */
	uint32_t n_values;	      /* TP_<KIND>__COUNT; 0: a free row */
	uint32_t flags;		      /* reserved, 0 */
	char name[TP_STATS_NAME_MAX]; /* "" for server, "c1" for cluster.c1 */
};

enum tp_slot_state {
	TP_SLOT_FREE,	  /* no worker; counters were folded into the retired block */
	TP_SLOT_STARTING, /* forked, not yet serving */
	TP_SLOT_LIVE,
	TP_SLOT_DRAINING, /* its generation stopped accepting */
	TP_SLOT_DEAD,	  /* exited; gauges zeroed, counters kept until the slot is retired */
};

/* Written by the master only; readers use it for liveness (/ready) and pids. */
struct tp_stats_slot {
	int32_t pid;
	uint32_t state; /* enum tp_slot_state */
	uint32_t generation;
	uint32_t reserved0;
	uint64_t since_unix_ns; /* when state last changed */
	uint64_t reserved[5];
};

struct tp_stats_slot_info {
	int32_t pid;
	uint32_t generation;
	enum tp_slot_state state;
	uint64_t since_unix_ns;
};

/* max_values uint64 values, cache-line aligned; opaque so that nobody takes its size. */
struct tp_stats_block;

/* The scopes one generation registered (tp_stats_hold_begin()): it holds each of them, once,
 * until tp_stats_hold_release(). Master memory, never in the segment. */
struct tp_stats_hold {
	uint32_t *rows; /* scope rows */
	unsigned n, cap;
	uint64_t serial; /* tells this hold from every other */
};

/* A mapping of the segment (opaque): read-write in the master and its workers, read-only in
 * readers. */
struct tp_stats;

_Static_assert(sizeof(struct tp_stats_hdr) == 512, "stats header size is part of the layout");
_Static_assert(sizeof(struct tp_stats_scope_row) == 256, "scope row size is part of the layout");
_Static_assert(sizeof(struct tp_stats_slot) == 64, "slot row is one cache line");

#endif

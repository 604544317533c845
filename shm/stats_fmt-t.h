/* Types of a stats snapshot: every stat's sum at one moment, as the master reports it. */
#ifndef TP_STATS_FMT_T_H
#define TP_STATS_FMT_T_H

#include "shm/stats-t.h"

#include <stddef.h>
#include <stdint.h>

enum tp_stats_format {
	TP_STATS_TEXT,	     /* Envoy's /stats: "name: value", histograms as quantiles */
	TP_STATS_JSON,	     /* Envoy's /stats?format=json */
	TP_STATS_PROMETHEUS, /* Envoy's /stats/prometheus: text exposition format 0.0.4 */
};

/* Which stat types a report keeps (Envoy's /stats?type=): bits of 1 << enum tp_stat_type. */
#define TP_STATS_TYPES_ALL \
	((1u << TP_STAT_COUNTER) | (1u << TP_STAT_GAUGE) | (1u << TP_STAT_HISTOGRAM))

struct tp_stats_entry {
	char *name;	  /* "cluster.c1.upstream_cx_total" */
	char *scope;	  /* "c1" */
	const char *stat; /* "upstream_cx_total": the static table's string */
	enum tp_scope_kind kind;
	enum tp_stat_type type;
	uint64_t value; /* counter, gauge (read as int64_t), or a histogram's count */
	uint64_t *hist; /* histograms: TP_STATS_HIST_VALUES values (buckets, sum, count) */
};

/* Sorted by name once complete (tp_stats_snap_sort()). */
struct tp_stats_snap {
	struct tp_stats_entry *v;
	size_t n;
	size_t cap;
};

#endif

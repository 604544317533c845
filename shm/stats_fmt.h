/* Master-side reports of the stats segment: a snapshot of every sum, rendered as Envoy renders
 * /stats (text, json) and /stats/prometheus, and per host as Envoy's /clusters. Pure functions
 * of a snapshot, so the unit tests build snapshots by hand. */
#ifndef TP_STATS_FMT_H
#define TP_STATS_FMT_H

#include "core/base/sbuf-t.h"
#include "shm/stats_fmt-t.h"

#include <regex.h>
#include <stdbool.h>

struct tp_stats;

/* Every stat of the segment (host scopes and histograms included), sorted by name. 0 or -ENOMEM;
 * the snapshot is freed with tp_stats_snap_free() either way. */
int tp_stats_snap_take(struct tp_stats *st, struct tp_stats_snap *out);
/* Appends one stat (hist: TP_STATS_HIST_VALUES values, copied; NULL otherwise). 0 or -ENOMEM. */
int tp_stats_snap_add(struct tp_stats_snap *s, enum tp_scope_kind kind, const char *scope,
		      const char *stat, enum tp_stat_type type, uint64_t value,
		      const uint64_t *hist);
void tp_stats_snap_sort(struct tp_stats_snap *s);
void tp_stats_snap_free(struct tp_stats_snap *s);

/* "text", "json", "prometheus" -> format; false for anything else. */
bool tp_stats_format_parse(const char *s, enum tp_stats_format *out);

/* The longest ?filter= pattern accepted: a tcpproxy limit, Envoy has none. */
#define TP_STATS_FILTER_MAX 256

/* Compiles a ?filter= pattern (POSIX extended, REG_NOSUB) for tp_stats_render(). The master
 * matches it on its single-threaded loop, so it refuses what glibc could match in exponential
 * time: any backslash followed by a digit 1-9 (a backreference; RE2, Envoy's engine, has none)
 * and patterns longer than TP_STATS_FILTER_MAX. 0, or -EINVAL with a one-line reason in why
 * (nothing to regfree() then). */
int tp_stats_filter_compile(regex_t *re, const char *pattern, char *why, size_t whylen);

/* Renders the stats whose full name matches filter (unanchored POSIX extended regex; NULL: all)
 * and whose type is in types (TP_STATS_TYPES_ALL for all). Host scopes are left out, as Envoy
 * leaves host stats out of /stats. Appends to out (check out->oom). */
void tp_stats_render(const struct tp_stats_snap *s, enum tp_stats_format fmt, const regex_t *filter,
		     unsigned types, struct tp_sbuf *out);

/* Envoy's /clusters text: per cluster its observability_name, per host
 * "cluster::host:port::stat::value" for every host stat, then health_flags, weight and priority
 * (weights come from the config, so the caller passes a lookup; NULL gives 1). */
typedef unsigned (*tp_stats_host_weight_fn)(void *arg, const char *cluster, const char *host);
void tp_stats_render_clusters(const struct tp_stats_snap *s, tp_stats_host_weight_fn weight,
			      void *arg, struct tp_sbuf *out);

/* The value at quantile q (0..1) of a histogram's TP_STATS_HIST_VALUES values, interpolated
 * inside its bucket over the integers the bucket holds; NaN when nothing was recorded. */
double tp_stats_hist_quantile(const uint64_t *hist, double q);

#endif

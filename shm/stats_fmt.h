/* Master-side reports of the stats segment: a snapshot of every sum, rendered as Envoy renders
 * /stats (text, json) and /stats/prometheus, and per host as Envoy's /clusters. Pure functions
 * of a snapshot, so the unit tests build snapshots by hand. */
#ifndef TP_STATS_FMT_H
#define TP_STATS_FMT_H

#include "core/base/sbuf-t.h"
#include "shm/stats_fmt-t.h"

#include <stdbool.h>
#include <stdint.h>

struct tp_match;
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
/* The most matching work one report may take, in instructions visited (tp_match_steps()):
 * about 0.1 s of the master's loop. A filter that needs more over the stats there are is
 * refused rather than let stall the loop every client and worker depends on. */
#define TP_STATS_FILTER_STEPS (16u << 20)

/* Compiles a ?filter= pattern for tp_stats_snap_filter() and tp_stats_render() with
 * core/base/match.c, whose time is linear in the stat name (RE2's syntax, Envoy's engine; no
 * backreferences) and whose program is bounded. 0, or -EINVAL / -ENOMEM with a one-line
 * reason in why; free *out with tp_match_free(). */
int tp_stats_filter_compile(struct tp_match **out, const char *pattern, char *why, size_t whylen);

/* Drops the entries whose full name filter does not find (unanchored search). 0, or -E2BIG
 * when that took more than max_steps of matching work (the snapshot is then partly filtered). */
int tp_stats_snap_filter(struct tp_stats_snap *s, struct tp_match *filter, uint64_t max_steps);

/* Renders the stats whose full name matches filter (unanchored search; NULL: all) and whose
 * type is in types (TP_STATS_TYPES_ALL for all). Host scopes are left out, as Envoy leaves host
 * stats out of /stats. Appends to out (check out->oom). */
void tp_stats_render(const struct tp_stats_snap *s, enum tp_stats_format fmt,
		     struct tp_match *filter, unsigned types, struct tp_sbuf *out);

/* Envoy's /clusters text: per cluster its observability_name, per host
 * "cluster::host:port::stat::value" for every host stat, then hostname, health_flags, weight
 * and priority (from the config or the master's host sets, so the caller passes a lookup; NULL
 * gives a healthy host of weight 1 at priority 0). */
struct tp_stats_host_info {
	const char *hostname;	  /* "" when none */
	const char *health_flags; /* Envoy's text: "healthy", "/failed_active_hc", ... */
	unsigned weight;
	unsigned priority;
};
typedef void (*tp_stats_host_info_fn)(void *arg, const char *cluster, const char *host,
				      struct tp_stats_host_info *out);
void tp_stats_render_clusters(const struct tp_stats_snap *s, tp_stats_host_info_fn info, void *arg,
			      struct tp_sbuf *out);

/* The value at quantile q (0..1) of a histogram's TP_STATS_HIST_VALUES values, interpolated
 * inside its bucket over the integers the bucket holds; NaN when nothing was recorded. */
double tp_stats_hist_quantile(const uint64_t *hist, double q);

#endif

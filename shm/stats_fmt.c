/* Reports of the stats segment in Envoy's formats: /stats text and json, /stats/prometheus and
 * /clusters, from a snapshot of every sum taken at one moment. */
#include "shm/stats_fmt.h"

#include "core/base/match.h"
#include "core/base/sbuf.h"
#include "shm/stats.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Envoy's quantiles for /stats, in percent. */
static const double quantiles[] = {0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100};
#define N_QUANTILES (sizeof(quantiles) / sizeof(quantiles[0]))

/* Envoy's default histogram buckets for /stats/prometheus (ms). */
static const struct {
	double le;
	const char *text;
} prom_buckets[] = {
	{0.5, "0.5"},	      {1, "1"},		  {5, "5"},
	{10, "10"},	      {25, "25"},	  {50, "50"},
	{100, "100"},	      {250, "250"},	  {500, "500"},
	{1000, "1000"},	      {2500, "2500"},	  {5000, "5000"},
	{10000, "10000"},     {30000, "30000"},	  {60000, "60000"},
	{300000, "300000"},   {600000, "600000"}, {1800000, "1800000"},
	{3600000, "3600000"},
};
#define N_PROM_BUCKETS (sizeof(prom_buckets) / sizeof(prom_buckets[0]))

/* The label Envoy's tag extractors give each scope kind's name in Prometheus output. */
static const char *prom_label(enum tp_scope_kind kind)
{
	switch (kind) {
	case TP_SCOPE_LISTENER:
	case TP_SCOPE_LISTENER_SSL:
		return "envoy_listener_address";
	case TP_SCOPE_TCP:
		return "envoy_tcp_prefix";
	case TP_SCOPE_CLUSTER:
	case TP_SCOPE_CLUSTER_SSL:
		return "envoy_cluster_name";
	case TP_SCOPE_CONNECTION_LIMIT:
		return "envoy_connection_limit_prefix";
	default:
		return NULL;
	}
}

int tp_stats_snap_add(struct tp_stats_snap *s, enum tp_scope_kind kind, const char *scope,
		      const char *stat, enum tp_stat_type type, uint64_t value,
		      const uint64_t *hist)
{
	const char *kname = tp_stats_kinds[kind].name;
	struct tp_stats_entry *e;
	size_t len;

	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 256;

		e = realloc(s->v, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		s->v = e;
		s->cap = cap;
	}
	e = &s->v[s->n];
	memset(e, 0, sizeof(*e));
	len = strlen(kname) + strlen(scope) + strlen(stat) + 3;
	e->name = malloc(len);
	e->scope = strdup(scope);
	if (hist)
		e->hist = malloc(TP_STATS_HIST_VALUES * sizeof(*hist));
	if (!e->name || !e->scope || (hist && !e->hist)) {
		free(e->name);
		free(e->scope);
		free(e->hist);
		return -ENOMEM;
	}
	if (scope[0])
		snprintf(e->name, len, "%s.%s.%s", kname, scope, stat);
	else
		snprintf(e->name, len, "%s.%s", kname, stat);
	if (hist)
		memcpy(e->hist, hist, TP_STATS_HIST_VALUES * sizeof(*hist));
	e->stat = stat;
	e->kind = kind;
	e->type = type;
	e->value = value;
	s->n++;
	return 0;
}

struct take_arg {
	struct tp_stats_snap *s;
	int ret;
};

static void take_one(void *arg, const struct tp_stat_value *v)
{
	struct take_arg *a = arg;

	if (!a->ret)
		a->ret = tp_stats_snap_add(a->s, v->kind, v->scope, v->stat, v->type, v->value,
					   v->hist);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct tp_stats_entry *)a)->name,
		      ((const struct tp_stats_entry *)b)->name);
}

void tp_stats_snap_sort(struct tp_stats_snap *s)
{
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), by_name);
}

int tp_stats_snap_take(struct tp_stats *st, struct tp_stats_snap *out)
{
	struct take_arg a = {out, 0};
	int ret;

	memset(out, 0, sizeof(*out));
	ret = tp_stats_visit(st, take_one, &a);
	if (!ret)
		ret = a.ret;
	tp_stats_snap_sort(out);
	return ret;
}

void tp_stats_snap_free(struct tp_stats_snap *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].name);
		free(s->v[i].scope);
		free(s->v[i].hist);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

bool tp_stats_format_parse(const char *s, enum tp_stats_format *out)
{
	if (!strcmp(s, "text"))
		*out = TP_STATS_TEXT;
	else if (!strcmp(s, "json"))
		*out = TP_STATS_JSON;
	else if (!strcmp(s, "prometheus"))
		*out = TP_STATS_PROMETHEUS;
	else
		return false;
	return true;
}

double tp_stats_hist_quantile(const uint64_t *hist, double q)
{
	uint64_t count = hist[TP_STATS_HIST_COUNT], before = 0;
	double rank;

	if (!count)
		return NAN;
	if (q < 0)
		q = 0;
	if (q > 1)
		q = 1;
	rank = q * (double)count;
	for (unsigned b = 0; b < TP_STATS_HIST_BUCKETS; b++) {
		uint64_t n = hist[b], lo, top;
		double frac;

		if (!n)
			continue;
		if ((double)(before + n) < rank && b + 1 < TP_STATS_HIST_BUCKETS) {
			before += n;
			continue;
		}
		/* The bucket holds the integers lo .. top; the last one is open-ended. */
		lo = tp_stats_hist_bucket_lower(b);
		top = b + 1 < TP_STATS_HIST_BUCKETS ? tp_stats_hist_bucket_lower(b + 1) - 1
						    : lo + lo / TP_STATS_HIST_SUB;
		frac = (rank - (double)before) / (double)n;
		if (frac < 0)
			frac = 0;
		if (frac > 1)
			frac = 1;
		return (double)lo + frac * (double)(top - lo);
	}
	return NAN;
}

int tp_stats_filter_compile(struct tp_match **out, const char *pattern, char *why, size_t whylen)
{
	return tp_match_compile(out, pattern, why, whylen);
}

int tp_stats_snap_filter(struct tp_stats_snap *s, struct tp_match *filter, uint64_t max_steps)
{
	uint64_t start = tp_match_steps(filter);
	size_t n = 0;
	int ret = 0;

	for (size_t i = 0; i < s->n; i++) {
		struct tp_stats_entry *e = &s->v[i];

		if (!ret && tp_match_steps(filter) - start > max_steps)
			ret = -E2BIG;
		if (!ret && tp_match_search(filter, e->name, strlen(e->name))) {
			s->v[n++] = *e;
			continue;
		}
		free(e->name);
		free(e->scope);
		free(e->hist);
	}
	s->n = n;
	return ret;
}

static bool wanted(const struct tp_stats_entry *e, struct tp_match *filter, unsigned types)
{
	if (e->kind == TP_SCOPE_HOST || !(types & (1u << e->type)))
		return false;
	return !filter || tp_match_search(filter, e->name, strlen(e->name));
}

/* A gauge is summed and printed as signed (a worker's share may be below zero for a moment),
 * but an xDS subscription's version is Envoy's xxHash64 in a uint64 gauge: printed as it. */
static bool unsigned_gauge(const struct tp_stats_entry *e)
{
	return e->kind == TP_SCOPE_CDS && !strcmp(e->name, "cluster_manager.cds.version");
}

static void put_value(struct tp_sbuf *out, const struct tp_stats_entry *e)
{
	if (e->type == TP_STAT_GAUGE && !unsigned_gauge(e))
		tp_sbuf_printf(out, "%" PRId64, (int64_t)e->value);
	else
		tp_sbuf_printf(out, "%" PRIu64, e->value);
}

/* A quantile as Envoy prints one: shortest form, "nan" when there is none. */
static void put_double(struct tp_sbuf *out, double v, const char *none)
{
	if (isnan(v))
		tp_sbuf_puts(out, none);
	else
		tp_sbuf_printf(out, "%.10g", v);
}

static void render_text(const struct tp_stats_snap *s, struct tp_match *filter, unsigned types,
			struct tp_sbuf *out)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct tp_stats_entry *e = &s->v[i];

		if (e->type == TP_STAT_HISTOGRAM || !wanted(e, filter, types))
			continue;
		tp_sbuf_printf(out, "%s: ", e->name);
		put_value(out, e);
		tp_sbuf_putc(out, '\n');
	}
	/* Histograms after the counters and gauges, as Envoy lists them. There are no intervals
	 * (tcpproxy does not flush stats), so the interval value is always nan. */
	for (size_t i = 0; i < s->n; i++) {
		const struct tp_stats_entry *e = &s->v[i];

		if (e->type != TP_STAT_HISTOGRAM || !wanted(e, filter, types))
			continue;
		tp_sbuf_printf(out, "%s:", e->name);
		if (!e->value) {
			tp_sbuf_puts(out, " No recorded values\n");
			continue;
		}
		for (size_t q = 0; q < N_QUANTILES; q++) {
			tp_sbuf_printf(out, " P%g(nan,", quantiles[q]);
			put_double(out, tp_stats_hist_quantile(e->hist, quantiles[q] / 100), "nan");
			tp_sbuf_putc(out, ')');
		}
		tp_sbuf_putc(out, '\n');
	}
}

static void render_json(const struct tp_stats_snap *s, struct tp_match *filter, unsigned types,
			struct tp_sbuf *out)
{
	bool first = true;

	tp_sbuf_puts(out, "{\"stats\":[");
	for (size_t i = 0; i < s->n; i++) {
		const struct tp_stats_entry *e = &s->v[i];

		if (e->type == TP_STAT_HISTOGRAM || !wanted(e, filter, types))
			continue;
		tp_sbuf_puts(out, first ? "\n{\"name\":" : ",\n{\"name\":");
		tp_sbuf_json_str(out, e->name);
		tp_sbuf_puts(out, ",\"value\":");
		put_value(out, e);
		tp_sbuf_putc(out, '}');
		first = false;
	}
	/* Envoy's shape: the histograms are one more element of "stats". */
	if (types & (1u << TP_STAT_HISTOGRAM)) {
		bool hfirst = true;

		tp_sbuf_puts(out, first ? "\n" : ",\n");
		tp_sbuf_puts(out, "{\"histograms\":{\"supported_quantiles\":[");
		for (size_t q = 0; q < N_QUANTILES; q++)
			tp_sbuf_printf(out, "%s%g", q ? "," : "", quantiles[q]);
		tp_sbuf_puts(out, "],\"computed_quantiles\":[");
		for (size_t i = 0; i < s->n; i++) {
			const struct tp_stats_entry *e = &s->v[i];

			if (e->type != TP_STAT_HISTOGRAM || !wanted(e, filter, types))
				continue;
			tp_sbuf_puts(out, hfirst ? "\n{\"name\":" : ",\n{\"name\":");
			tp_sbuf_json_str(out, e->name);
			tp_sbuf_puts(out, ",\"values\":[");
			for (size_t q = 0; q < N_QUANTILES; q++) {
				tp_sbuf_puts(out, q ? ",{\"interval\":null,\"cumulative\":"
						    : "{\"interval\":null,\"cumulative\":");
				put_double(out, tp_stats_hist_quantile(e->hist, quantiles[q] / 100),
					   "null");
				tp_sbuf_putc(out, '}');
			}
			tp_sbuf_puts(out, "]}");
			hfirst = false;
		}
		tp_sbuf_puts(out, "]}}");
	}
	tp_sbuf_puts(out, "]}\n");
}

/* One Prometheus series: its family (metric name without suffix) and its label value. */
struct series {
	char family[160];
	const char *label; /* NULL: no label (server.*) */
	const struct tp_stats_entry *e;
};

static int by_family(const void *a, const void *b)
{
	const struct series *x = a, *y = b;
	int c = strcmp(x->family, y->family);

	if (c)
		return c;
	return strcmp(x->e->scope, y->e->scope);
}

/* Envoy's metric name: envoy_<kind>_<stat>, every character outside [a-zA-Z0-9_] as '_'. */
static void family_name(const struct tp_stats_entry *e, char *out, size_t len)
{
	snprintf(out, len, "envoy_%s_%s", tp_stats_kinds[e->kind].name, e->stat);
	for (char *c = out; *c; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_'))
			*c = '_';
	}
}

static void put_label_value(struct tp_sbuf *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			tp_sbuf_printf(out, "\\%c", *v);
		else if (*v == '\n')
			tp_sbuf_puts(out, "\\n");
		else
			tp_sbuf_putc(out, *v);
	}
}

/* "{label="value"" without the closing brace, so that a histogram can add le; "" for none. */
static void put_labels_open(struct tp_sbuf *out, const struct series *s)
{
	if (!s->label)
		return;
	tp_sbuf_printf(out, "{%s=\"", s->label);
	put_label_value(out, s->e->scope);
	tp_sbuf_putc(out, '"');
}

static void put_labels(struct tp_sbuf *out, const struct series *s)
{
	put_labels_open(out, s);
	if (s->label)
		tp_sbuf_putc(out, '}');
}

static void prom_histogram(struct tp_sbuf *out, const struct series *s)
{
	const uint64_t *h = s->e->hist;
	uint64_t cum = 0;
	unsigned b = 0;

	/* A bucket is counted under le once every integer it holds is <= le: exact wherever le
	 * falls on a bucket boundary, otherwise it under-counts by at most one bucket (12.5%). */
	for (size_t i = 0; i < N_PROM_BUCKETS; i++) {
		while (b + 1 < TP_STATS_HIST_BUCKETS &&
		       (double)(tp_stats_hist_bucket_lower(b + 1) - 1) <= prom_buckets[i].le)
			cum += h[b++];
		tp_sbuf_printf(out, "%s_bucket", s->family);
		if (s->label) {
			put_labels_open(out, s);
			tp_sbuf_printf(out, ",le=\"%s\"} %" PRIu64 "\n", prom_buckets[i].text, cum);
		} else {
			tp_sbuf_printf(out, "{le=\"%s\"} %" PRIu64 "\n", prom_buckets[i].text, cum);
		}
	}
	tp_sbuf_printf(out, "%s_bucket", s->family);
	if (s->label) {
		put_labels_open(out, s);
		tp_sbuf_printf(out, ",le=\"+Inf\"} %" PRIu64 "\n", h[TP_STATS_HIST_COUNT]);
	} else {
		tp_sbuf_printf(out, "{le=\"+Inf\"} %" PRIu64 "\n", h[TP_STATS_HIST_COUNT]);
	}
	tp_sbuf_printf(out, "%s_sum", s->family);
	put_labels(out, s);
	tp_sbuf_printf(out, " %" PRIu64 "\n", h[TP_STATS_HIST_SUM]);
	tp_sbuf_printf(out, "%s_count", s->family);
	put_labels(out, s);
	tp_sbuf_printf(out, " %" PRIu64 "\n", h[TP_STATS_HIST_COUNT]);
}

static void render_prometheus(const struct tp_stats_snap *s, struct tp_match *filter,
			      unsigned types, struct tp_sbuf *out)
{
	static const char *const type_names[] = {"counter", "gauge", "histogram"};
	struct series *v = calloc(s->n ? s->n : 1, sizeof(*v));
	size_t n = 0;

	if (!v) {
		out->oom = true;
		return;
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct tp_stats_entry *e = &s->v[i];

		if (!wanted(e, filter, types))
			continue;
		family_name(e, v[n].family, sizeof(v[n].family));
		v[n].label = e->scope[0] ? prom_label(e->kind) : NULL;
		if (e->scope[0] && !v[n].label)
			continue; /* a kind with no Envoy tag: nothing a dashboard expects */
		v[n].e = e;
		n++;
	}
	qsort(v, n, sizeof(*v), by_family);
	for (size_t i = 0; i < n; i++) {
		const struct tp_stats_entry *e = v[i].e;

		if (!i || strcmp(v[i].family, v[i - 1].family)) {
			/* HELP names the Envoy stat the family comes from. */
			if (v[i].label)
				tp_sbuf_printf(out, "# HELP %s %s.<%s>.%s\n", v[i].family,
					       tp_stats_kinds[e->kind].name, v[i].label + 6,
					       e->stat);
			else
				tp_sbuf_printf(out, "# HELP %s %s.%s\n", v[i].family,
					       tp_stats_kinds[e->kind].name, e->stat);
			tp_sbuf_printf(out, "# TYPE %s %s\n", v[i].family, type_names[e->type]);
		}
		if (e->type == TP_STAT_HISTOGRAM) {
			prom_histogram(out, &v[i]);
			continue;
		}
		tp_sbuf_puts(out, v[i].family);
		put_labels(out, &v[i]);
		tp_sbuf_putc(out, ' ');
		put_value(out, e);
		tp_sbuf_putc(out, '\n');
	}
	free(v);
}

void tp_stats_render(const struct tp_stats_snap *s, enum tp_stats_format fmt,
		     struct tp_match *filter, unsigned types, struct tp_sbuf *out)
{
	switch (fmt) {
	case TP_STATS_TEXT:
		render_text(s, filter, types, out);
		break;
	case TP_STATS_JSON:
		render_json(s, filter, types, out);
		break;
	case TP_STATS_PROMETHEUS:
		render_prometheus(s, filter, types, out);
		break;
	}
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void render_hosts(const struct tp_stats_snap *s, const char *cluster,
			 tp_stats_host_info_fn info, void *arg, struct tp_sbuf *out)
{
	size_t clen = strlen(cluster);
	const char *host = NULL;

	for (size_t i = 0; i <= s->n; i++) {
		const struct tp_stats_entry *e = i < s->n ? &s->v[i] : NULL;
		bool mine = e && e->kind == TP_SCOPE_HOST && !strncmp(e->scope, cluster, clen) &&
			    !strncmp(e->scope + clen, "::", 2);

		if (host && (!mine || strcmp(e->scope, host))) {
			/* After the host's last stat, its fixed lines. */
			struct tp_stats_host_info hi = {"", "healthy", 1, 0};

			if (info)
				info(arg, cluster, host + clen + 2, &hi);
			tp_sbuf_printf(out, "%s::hostname::%s\n", host, hi.hostname);
			tp_sbuf_printf(out, "%s::health_flags::%s\n", host, hi.health_flags);
			tp_sbuf_printf(out, "%s::weight::%u\n", host, hi.weight);
			tp_sbuf_printf(out, "%s::priority::%u\n", host, hi.priority);
			host = NULL;
		}
		if (!mine)
			continue;
		host = e->scope;
		tp_sbuf_printf(out, "%s::%s::", e->scope, e->stat);
		put_value(out, e);
		tp_sbuf_putc(out, '\n');
	}
}

void tp_stats_render_clusters(const struct tp_stats_snap *s, tp_stats_host_info_fn info, void *arg,
			      struct tp_sbuf *out)
{
	const char **names = calloc(s->n ? s->n : 1, sizeof(*names));
	size_t n = 0;

	if (!names) {
		out->oom = true;
		return;
	}
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].kind == TP_SCOPE_CLUSTER)
			names[n++] = s->v[i].scope;
	qsort(names, n, sizeof(*names), by_str);
	for (size_t c = 0; c < n; c++) {
		if (c && !strcmp(names[c], names[c - 1]))
			continue;
		tp_sbuf_printf(out, "%s::observability_name::%s\n", names[c], names[c]);
		render_hosts(s, names[c], info, arg, out);
	}
	free(names);
}

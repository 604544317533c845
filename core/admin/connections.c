/* GET /connections: the live connection view (HAProxy's "show sess"), rendered from what the
 * master collected from its workers: one "key=value ..." line per session, or JSON; filtered
 * by a regex on the line (so on any field), sorted by age or bytes. */
#include "core/admin/admin.h"

#include "core/base/http.h"
#include "core/base/match.h"
#include "core/base/sbuf.h"
#include "shm/stats_fmt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define CT_TEXT "text/plain; charset=UTF-8"
#define CT_JSON "application/json"

struct query {
	bool json;
	bool by_bytes;
	uint64_t limit; /* 0: all */
	struct tp_match *filter;
};

static int bad(struct tp_admin_resp *out, const char *fmt, const char *arg)
{
	memset(out, 0, sizeof(*out));
	out->status = 400;
	out->content_type = CT_TEXT;
	tp_sbuf_printf(&out->body, fmt, arg);
	return -EINVAL;
}

static int parse(const char *target, struct query *q, struct tp_admin_resp *out)
{
	char path[TP_HTTP_TARGET_MAX + 1], val[TP_HTTP_TARGET_MAX];
	const char *query;
	char *end;
	int ret;

	memset(q, 0, sizeof(*q));
	tp_http_target_split(target, path, sizeof(path), &query);
	ret = tp_http_query_get(query, "format", val, sizeof(val));
	if (ret < 0 || (ret > 0 && strcmp(val, "text") && strcmp(val, "json")))
		return bad(out, "%s", "bad format: use text or json\n");
	q->json = ret > 0 && !strcmp(val, "json");
	ret = tp_http_query_get(query, "sort", val, sizeof(val));
	if (ret < 0 || (ret > 0 && strcmp(val, "age") && strcmp(val, "bytes")))
		return bad(out, "%s", "bad sort: use age or bytes\n");
	q->by_bytes = ret > 0 && !strcmp(val, "bytes");
	ret = tp_http_query_get(query, "limit", val, sizeof(val));
	if (ret > 0) {
		errno = 0;
		q->limit = strtoull(val, &end, 10);
		if (errno || *end || !val[0] || val[0] == '-')
			return bad(out, "%s", "bad limit: a number of sessions\n");
	} else if (ret < 0) {
		return bad(out, "%s", "bad limit: a number of sessions\n");
	}
	ret = tp_http_query_get(query, "filter", val, sizeof(val));
	if (ret < 0)
		return bad(out, "%s", "bad filter: not a valid query value\n");
	if (ret > 0 && val[0]) {
		char why[128];

		/* The stat filters' engine: linear time, bounded memory, RE2 syntax. */
		if (tp_stats_filter_compile(&q->filter, val, why, sizeof(why)) < 0)
			return bad(out, "bad filter: %s\n", why);
	}
	return 0;
}

int tp_admin_connections_check(const char *target, struct tp_admin_resp *out)
{
	struct query q;
	int ret = parse(target, &q, out);

	tp_match_free(q.filter);
	return ret;
}

static void line(struct tp_sbuf *b, const struct tp_conn_entry *e)
{
	tp_sbuf_printf(b,
		       "id=%" PRIu64 " worker=%" PRIu32 "/%u pid=%d generation=%s phase=%s "
		       "age_ms=%" PRIu64 " idle_ms=%" PRIu64 " listener=%s local=%s downstream=%s "
		       "cluster=%s host=%s upstream_local=%s rx_bytes=%" PRIu64 " tx_bytes=%" PRIu64
		       " buffered_up=%" PRIu64 " buffered_down=%" PRIu64 "\n",
		       e->id, e->epoch, e->slot, e->pid, e->gen_state, e->phase, e->age_ms,
		       e->idle_ms, e->listener[0] ? e->listener : "-",
		       e->down_local[0] ? e->down_local : "-",
		       e->down_remote[0] ? e->down_remote : "-", e->cluster[0] ? e->cluster : "-",
		       e->host[0] ? e->host : "-", e->up_local[0] ? e->up_local : "-", e->rx_bytes,
		       e->tx_bytes, e->buffered_up, e->buffered_down);
}

static void json_entry(struct tp_sbuf *b, const struct tp_conn_entry *e)
{
	tp_sbuf_printf(b, "{\"id\":%" PRIu64 ",\"worker\":\"%" PRIu32 "/%u\",\"pid\":%d", e->id,
		       e->epoch, e->slot, e->pid);
	tp_sbuf_printf(b, ",\"generation\":\"%s\",\"phase\":\"%s\"", e->gen_state, e->phase);
	tp_sbuf_printf(b, ",\"age_ms\":%" PRIu64 ",\"idle_ms\":%" PRIu64, e->age_ms, e->idle_ms);
	tp_sbuf_puts(b, ",\"listener\":");
	tp_sbuf_json_str(b, e->listener);
	tp_sbuf_puts(b, ",\"local\":");
	tp_sbuf_json_str(b, e->down_local);
	tp_sbuf_puts(b, ",\"downstream\":");
	tp_sbuf_json_str(b, e->down_remote);
	tp_sbuf_puts(b, ",\"cluster\":");
	tp_sbuf_json_str(b, e->cluster);
	tp_sbuf_puts(b, ",\"host\":");
	tp_sbuf_json_str(b, e->host);
	tp_sbuf_puts(b, ",\"upstream_local\":");
	tp_sbuf_json_str(b, e->up_local);
	tp_sbuf_printf(b,
		       ",\"rx_bytes\":%" PRIu64 ",\"tx_bytes\":%" PRIu64 ",\"buffered_up\":%" PRIu64
		       ",\"buffered_down\":%" PRIu64 "}",
		       e->rx_bytes, e->tx_bytes, e->buffered_up, e->buffered_down);
}

static int by_age(const void *a, const void *b)
{
	const struct tp_conn_entry *x = *(const struct tp_conn_entry *const *)a;
	const struct tp_conn_entry *y = *(const struct tp_conn_entry *const *)b;

	/* Oldest first; then by worker and id, so that equal ages keep one order. */
	if (x->age_ms != y->age_ms)
		return x->age_ms < y->age_ms ? 1 : -1;
	if (x->epoch != y->epoch)
		return x->epoch < y->epoch ? -1 : 1;
	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int by_bytes(const void *a, const void *b)
{
	const struct tp_conn_entry *x = *(const struct tp_conn_entry *const *)a;
	const struct tp_conn_entry *y = *(const struct tp_conn_entry *const *)b;
	uint64_t bx = x->rx_bytes + x->tx_bytes, by = y->rx_bytes + y->tx_bytes;

	if (bx != by)
		return bx < by ? 1 : -1;
	return by_age(a, b);
}

void tp_admin_connections(const struct tp_master_view *v, const char *target,
			  const struct tp_conn_list *list, struct tp_admin_resp *out)
{
	const struct tp_conn_entry **order = NULL;
	struct tp_sbuf ln = TP_SBUF_INIT;
	struct tp_sbuf *b = &out->body;
	uint64_t shown = 0, steps_over = 0;
	struct query q;

	memset(out, 0, sizeof(*out));
	if (parse(target, &q, out) < 0)
		return;
	out->status = 200;
	out->content_type = q.json ? CT_JSON : CT_TEXT;
	order = malloc((list->n ? list->n : 1) * sizeof(*order));
	if (!order) {
		b->oom = true;
		goto out_free;
	}
	for (size_t i = 0; i < list->n; i++)
		order[i] = &list->v[i];
	qsort(order, list->n, sizeof(*order), q.by_bytes ? by_bytes : by_age);
	if (q.json)
		tp_sbuf_puts(b, "{\"connections\":[");
	for (size_t i = 0; i < list->n && (!q.limit || shown < q.limit); i++) {
		if (q.filter) {
			ln.len = 0;
			line(&ln, order[i]);
			if (ln.oom)
				break;
			/* The filter sees the text line, whatever the format: any field matches. */
			if (tp_match_steps(q.filter) > TP_STATS_FILTER_STEPS) {
				steps_over++;
				break;
			}
			if (!tp_match_search(q.filter, ln.p, ln.len - 1))
				continue;
		}
		if (q.json) {
			if (shown)
				tp_sbuf_putc(b, ',');
			json_entry(b, order[i]);
		} else {
			line(b, order[i]);
		}
		shown++;
	}
	if (steps_over) {
		tp_sbuf_free(b);
		bad(out, "%s",
		    "bad filter: too expensive over these sessions; use a simpler "
		    "pattern\n");
		goto out_free;
	}
	if (q.json) {
		tp_sbuf_puts(b, "],\"workers\":[");
		for (size_t i = 0; i < list->n_workers; i++) {
			const struct tp_conn_worker *w = &list->workers[i];

			tp_sbuf_printf(b,
				       "%s{\"worker\":\"%" PRIu32
				       "/%u\",\"pid\":%d,\"generation\":\"%s\","
				       "\"answered\":%s,\"connections\":%" PRIu32
				       ",\"truncated\":%" PRIu32 ",\"problem\":",
				       i ? "," : "", w->epoch, w->slot, w->pid, w->gen_state,
				       w->answered ? "true" : "false", w->n, w->truncated);
			if (w->problem)
				tp_sbuf_json_str(b, w->problem);
			else
				tp_sbuf_puts(b, "null");
			tp_sbuf_putc(b, '}');
		}
		tp_sbuf_printf(b, "],\"shown\":%" PRIu64 ",\"total\":%zu}\n", shown, list->n);
	} else {
		/* Workers that could not say, so that a short list is never taken for the whole. */
		for (size_t i = 0; i < list->n_workers; i++) {
			const struct tp_conn_worker *w = &list->workers[i];

			if (w->problem)
				tp_sbuf_printf(b, "# worker %" PRIu32 "/%u (pid %d): %s\n",
					       w->epoch, w->slot, w->pid, w->problem);
			else if (w->truncated)
				tp_sbuf_printf(b,
					       "# worker %" PRIu32 "/%u (pid %d): %" PRIu32
					       " more not listed\n",
					       w->epoch, w->slot, w->pid, w->truncated);
		}
	}
	(void)v;
out_free:
	if (b->oom) {
		tp_sbuf_free(b);
		memset(out, 0, sizeof(*out));
		out->status = 500;
		out->content_type = CT_TEXT;
		tp_sbuf_puts(b, "out of memory\n");
	}
	tp_sbuf_free(&ln);
	free(order);
	tp_match_free(q.filter);
}

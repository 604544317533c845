/* envoy.filters.network.connection_limit: at most max_connections open connections per filter
 * chain, counted across all workers of a generation; the ones over the limit are closed, after
 * `delay` if one is given (Envoy's ConnectionLimitFilter). */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/cfg_schema.h"
#include "core/conn.h"
#include "core/filter.h"
#include "core/log.h"
#include "core/timer.h"
#include "shm/stats.h"

struct connection_limit_cfg {
	char *stat_prefix;
	int64_t max_connections;
	int64_t delay_ms;
	uint32_t stats_base;
	_Atomic uint64_t *open; /* in memory shared by the generation's workers */
};

static const struct tp_cfg_field connection_limit_fields[] = {
	{.key = "stat_prefix",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_REQUIRED | TP_CFG_NONEMPTY,
	 .off = offsetof(struct connection_limit_cfg, stat_prefix)},
	/* google.protobuf.UInt64Value, gte 1 (tcpproxy takes up to 2^32-1) */
	{.key = "max_connections",
	 .type = TP_CFG_UINT32_OPT,
	 .flags = TP_CFG_REQUIRED,
	 .off = offsetof(struct connection_limit_cfg, max_connections),
	 .min = 1,
	 .max = UINT32_MAX,
	 .def = -1},
	{.key = "delay",
	 .type = TP_CFG_DURATION,
	 .off = offsetof(struct connection_limit_cfg, delay_ms),
	 .min = 0,
	 .max = INT64_MAX,
	 .def = 0},
	{.key = "runtime_enabled", .type = TP_CFG_UNSUPPORTED},
	{.key = NULL},
};

static const struct tp_cfg_schema connection_limit_schema = {
	.name = "envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit",
	.size = sizeof(struct connection_limit_cfg),
	.fields = connection_limit_fields,
	.any = true,
};

static void *connection_limit_parse(struct tp_cfg_ctx *ctx, const struct tp_ynode *typed_config)
{
	struct connection_limit_cfg *cl = calloc(1, sizeof(*cl));

	if (!cl) {
		ctx->oom = true;
		tp_cfg_error(ctx, typed_config, NULL, "%s", strerror(ENOMEM));
		return NULL;
	}
	tp_cfg_decode(ctx, &connection_limit_schema, typed_config, cl);
	return cl;
}

static void connection_limit_free(void *conf)
{
	if (!conf)
		return;
	tp_cfg_free(&connection_limit_schema, conf);
	free(conf);
}

static int connection_limit_register_stats(void *conf, struct tp_stats *st)
{
	struct connection_limit_cfg *cl = conf;

	return tp_stats_scope(st, TP_SCOPE_CONNECTION_LIMIT, cl->stat_prefix, &cl->stats_base);
}

static void connection_limit_bind_shared(void *conf, void *mem)
{
	struct connection_limit_cfg *cl = conf;

	cl->open = mem;
}

/* Whether this filter instance is the one that turned c away. */
static bool rejected_here(const struct tp_conn *c, const void *conf)
{
	return c->limited_by && c->chain->filters[c->limited_by - 1].conf == conf;
}

static enum tp_filter_status connection_limit_on_new_connection(struct tp_conn *c, const void *conf)
{
	const struct connection_limit_cfg *cl = conf;
	struct tp_worker *w = tp_self;

	if (atomic_fetch_add_explicit(cl->open, 1, memory_order_relaxed) <
	    (uint64_t)cl->max_connections) {
		tp_stat_add(w->stats, cl->stats_base + TP_CONNECTION_LIMIT_active_connections, 1);
		return TP_FILTER_CONTINUE;
	}
	atomic_fetch_sub_explicit(cl->open, 1, memory_order_relaxed);
	tp_stat_inc(w->stats, cl->stats_base + TP_CONNECTION_LIMIT_limited_connections);
	c->limited_by = c->filter_pos; /* this filter's index + 1 */
	c->flags |= TP_CF_LIMITED;
	/* Envoy holds a rejected connection for `delay` (reads disabled: nothing reads it before
	 * tcp_proxy here) so a client that reconnects at once is slowed down. */
	if (cl->delay_ms > 0 && tp_timer_arm(&w->timers, &c->timer, w->now_ms + cl->delay_ms) == 0)
		return TP_FILTER_STOP;
	tp_conn_close(w, c);
	return TP_FILTER_STOP;
}

static void connection_limit_on_close(struct tp_conn *c, const void *conf)
{
	const struct connection_limit_cfg *cl = conf;

	if (rejected_here(c, conf))
		return;
	atomic_fetch_sub_explicit(cl->open, 1, memory_order_relaxed);
	tp_stat_sub(tp_self->stats, cl->stats_base + TP_CONNECTION_LIMIT_active_connections, 1);
}

const struct tp_filter_ops tp_filter_connection_limit = {
	.name = "envoy.filters.network.connection_limit",
	.type_url = "type.googleapis.com/"
		    "envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit",
	.parse = connection_limit_parse,
	.free = connection_limit_free,
	.register_stats = connection_limit_register_stats,
	.shared_bytes = sizeof(_Atomic uint64_t),
	.bind_shared = connection_limit_bind_shared,
	.on_new_connection = connection_limit_on_new_connection,
	.on_close = connection_limit_on_close,
};

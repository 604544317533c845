/* envoy.filters.network.connection_limit: at most max_connections open connections per filter
 * chain, counted across all workers of a generation; the ones over the limit are closed, after
 * `delay` if one is given (Envoy's ConnectionLimitFilter).
 *
 * The count lives in memory the generation's workers share, one counter per worker slot: each
 * worker changes only its own and the check sums them all. A worker that dies (SIGKILL, crash)
 * cannot take its connections back, so its restarted successor, which takes the same slot,
 * zeroes the slot before it accepts: the dead worker's connections died with it. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/config/cfg_schema.h"
#include "core/filter.h"
#include "core/filter_api.h"
#include "shm/stats.h"

struct connection_limit_cfg {
	char *stat_prefix;
	int64_t max_connections;
	int64_t delay_ms;
	uint32_t stats_base;
	_Atomic uint64_t *open; /* [TP_MAX_WORKERS], in memory shared by the generation's workers */
};

static const struct tp_cfg_field connection_limit_fields[] = {
	{.key = "stat_prefix",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_REQUIRED | TP_CFG_NONEMPTY,
	 .off = offsetof(struct connection_limit_cfg, stat_prefix),
	 .check = tp_cfg_check_stat_name},
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
	UNSUPPORTED("runtime_enabled"),
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

/* Per connection: whether it was counted (and so must be uncounted at close). */
struct connection_limit_state {
	bool admitted;
};

/* The slots this worker process sums: its generation's, not all TP_MAX_WORKERS (a process
 * serves one generation, so one value per process). Where no worker started the filter (unit
 * tests), every slot is summed. */
static unsigned n_worker_slots = TP_MAX_WORKERS;

static void connection_limit_worker_start(const void *conf, unsigned slot, unsigned n_slots)
{
	const struct connection_limit_cfg *cl = conf;

	TP_BUG_ON(slot >= n_slots || n_slots > TP_MAX_WORKERS);
	n_worker_slots = n_slots;
	atomic_store(&cl->open[slot], 0);
}

/* Counts the connection in this worker's slot, then sums every slot. Sequentially consistent:
 * of two workers counting at once, at least one sees the other's count, so the limit is never
 * exceeded (both may refuse, as two fetch_adds racing on one counter may not). */
static bool admit(const struct connection_limit_cfg *cl, unsigned slot)
{
	uint64_t sum = 0;

	atomic_fetch_add(&cl->open[slot], 1);
	for (unsigned s = 0; s < n_worker_slots; s++)
		sum += atomic_load(&cl->open[s]);
	if (sum <= (uint64_t)cl->max_connections)
		return true;
	atomic_fetch_sub(&cl->open[slot], 1);
	return false;
}

static enum tp_filter_status connection_limit_on_new_connection(const struct tp_filter_call *f)
{
	const struct connection_limit_cfg *cl = f->conf;
	struct connection_limit_state *st = f->state;
	struct tp_stats_block *stats = tp_filter_stats(f);

	if (admit(cl, tp_filter_worker_slot(f))) {
		st->admitted = true;
		tp_stat_add(stats, cl->stats_base + TP_CONNECTION_LIMIT_active_connections, 1);
		return TP_FILTER_CONTINUE;
	}
	tp_stat_inc(stats, cl->stats_base + TP_CONNECTION_LIMIT_limited_connections);
	/* Envoy holds a rejected connection for `delay` (reads disabled: nothing reads it before
	 * tcp_proxy here) so a client that reconnects at once is slowed down. */
	if (cl->delay_ms > 0 && tp_filter_timer_arm(f, (uint64_t)cl->delay_ms) == 0)
		return TP_FILTER_STOP;
	tp_filter_close(f);
	return TP_FILTER_STOP;
}

/* The delay of a rejected connection is over. */
static void connection_limit_on_timer(const struct tp_filter_call *f)
{
	tp_filter_close(f);
}

static void connection_limit_on_close(const struct tp_filter_call *f)
{
	const struct connection_limit_cfg *cl = f->conf;
	const struct connection_limit_state *st = f->state;

	if (!st->admitted)
		return;
	atomic_fetch_sub(&cl->open[tp_filter_worker_slot(f)], 1);
	tp_stat_sub(tp_filter_stats(f), cl->stats_base + TP_CONNECTION_LIMIT_active_connections, 1);
}

const struct tp_filter_ops tp_filter_connection_limit = {
	.name = "envoy.filters.network.connection_limit",
	.type_url = "type.googleapis.com/"
		    "envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit",
	.parse = connection_limit_parse,
	.free = connection_limit_free,
	.register_stats = connection_limit_register_stats,
	.shared_bytes = TP_MAX_WORKERS * sizeof(_Atomic uint64_t),
	.bind_shared = connection_limit_bind_shared,
	.worker_start = connection_limit_worker_start,
	.state_size = sizeof(struct connection_limit_state),
	.on_new_connection = connection_limit_on_new_connection,
	.on_timer = connection_limit_on_timer,
	.on_close = connection_limit_on_close,
};

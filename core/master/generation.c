/* Generations: one loaded configuration served by --concurrency workers. Creating one (its
 * stats scopes, the memory its filters share, its stats slots, its listening sockets, its
 * workers), moving it between states, and freeing it once its workers have all exited. */
#include "core/master/master-int.h"

#include "core/admin/admin.h"
#include "core/base/log.h"
#include "core/base/mloop.h"
#include "core/base/timer.h"
#include "core/config/config.h"
#include "core/config/walk.h"
#include "core/conn/transport-t.h"
#include "core/filter-t.h"
#include "core/worker/listener_dyn.h"
#include "shm/stats.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* ---- what a generation needs before it forks ---- */

/* A transport's own stats (TLS: ssl.*) under its owner's scope name. */
static int register_transport_stats(struct tp_stats *st, struct tp_transport_cfg *tc, bool upstream,
				    const char *owner)
{
	if (!tc->ops || !tc->ops->register_stats || !tc->conf)
		return 0;
	return tc->ops->register_stats(tc->conf, st, upstream, owner);
}

static int register_scopes(struct master *m, struct tp_config *cfg)
{
	int ret;

	for (size_t i = 0; i < cfg->n_clusters; i++) {
		ret = tp_stats_scope(m->stats, TP_SCOPE_CLUSTER, cfg->clusters[i].name,
				     &cfg->clusters[i].stats_base);
		if (ret < 0)
			return ret;
		/* circuit_breakers.default.*: the *_open gauges, the remaining_* ones only with
		 * track_remaining, as Envoy creates them */
		ret = tp_stats_scope(m->stats, TP_SCOPE_CLUSTER_CB, cfg->clusters[i].name,
				     &cfg->clusters[i].cb.stats_base);
		if (ret < 0)
			return ret;
		if (cfg->clusters[i].cb.track_remaining) {
			ret = tp_stats_scope(m->stats, TP_SCOPE_CLUSTER_CB_REMAINING,
					     cfg->clusters[i].name,
					     &cfg->clusters[i].cb.remaining_base);
			if (ret < 0)
				return ret;
		}
		ret = tp_stats_scope(m->stats, TP_SCOPE_CLUSTER_CB_HIGH, cfg->clusters[i].name,
				     &cfg->clusters[i].cb.high_stats_base);
		if (ret < 0)
			return ret;
		if (cfg->clusters[i].cb.high_track_remaining) {
			ret = tp_stats_scope(m->stats, TP_SCOPE_CLUSTER_CB_HIGH_REMAINING,
					     cfg->clusters[i].name,
					     &cfg->clusters[i].cb.high_remaining_base);
			if (ret < 0)
				return ret;
		}
		ret = tp_admin_register_hosts(m->stats, &cfg->clusters[i]);
		if (ret < 0)
			return ret;
		ret = register_transport_stats(m->stats, &cfg->clusters[i].transport, true,
					       cfg->clusters[i].name);
		if (ret < 0)
			return ret;
	}
	/* Each listener's scope, then its filters' (the order rows are appended in), as an LDS
	 * listener's are (core/worker/listener_dyn.c). */
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		ret = tp_listener_register_stats(m->stats, &cfg->listeners[i]);
		if (ret < 0)
			return ret;
	}
	/* The dynamic clusters go on into the new generation, their counters with them. */
	return cds_register_scopes(m);
}

/* Each filter's part of the shared memory starts on its own cache line. */
static size_t shared_part(const struct tp_filter_cfg *f)
{
	return (f->ops->shared_bytes + 63) & ~(size_t)63;
}

static int add_shared_bytes(struct tp_filter_cfg *f, void *total)
{
	*(size_t *)total += shared_part(f);
	return 0;
}

struct shared_cursor {
	char *at;
};

static int bind_shared_part(struct tp_filter_cfg *f, void *arg)
{
	struct shared_cursor *cur = arg;

	if (!f->ops->shared_bytes)
		return 0;
	f->ops->bind_shared(f->conf, cur->at);
	cur->at += shared_part(f);
	return 0;
}

_Static_assert(sizeof(((struct tp_cb_shared *)0)->cx) / sizeof(uint64_t) == TP_MAX_WORKERS,
	       "struct tp_cb_shared has a counter per worker slot");

/* Each cluster's circuit-breaker counters, each on its own cache lines. */
static size_t cb_part(void)
{
	return (sizeof(struct tp_cb_shared) + 63) & ~(size_t)63;
}

_Static_assert(sizeof(struct tp_cb_shared) % 64 == 0, "CDS breakers are an array of cb_part()");

/* Memory shared by all workers of a generation, for what they count across them: filters'
 * (Envoy's connection_limit counts per listener, not per worker), clusters' circuit breakers,
 * and the breakers the master hands to clusters from CDS later (they appear after the fork, so
 * their memory must be mapped before it; untouched pages cost nothing, and a generation without
 * CDS may still get CDS clusters while a reload that adds cds_config starts). */
static int share_filter_memory(struct gen *g)
{
	struct shared_cursor cur;
	size_t cds = TP_CDS_MAX_BREAKERS * sizeof(struct tp_cb_shared);
	size_t total = cds + g->cfg->n_clusters * cb_part();

	tp_config_for_each_filter(g->cfg, add_shared_bytes, &total);
	g->shared = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g->shared == MAP_FAILED) {
		g->shared = NULL;
		return -errno;
	}
	g->shared_len = total;
	g->cds_cb = g->shared;
	cur.at = (char *)g->shared + cds;
	for (size_t i = 0; i < g->cfg->n_clusters; i++) {
		g->cfg->clusters[i].cb.shared = (struct tp_cb_shared *)cur.at;
		cur.at += cb_part();
	}
	tp_config_for_each_filter(g->cfg, bind_shared_part, &cur);
	return 0;
}

/* --concurrency free stats slots, one per worker slot. */
static int alloc_slots(struct master *m, struct gen *g)
{
	unsigned need = m->opts->concurrency, found = 0;

	for (unsigned s = 0; s < m->n_slots && found < need; s++)
		found += !m->slot_used[s];
	if (found < need)
		return -ENOSPC;
	found = 0;
	for (unsigned s = 0; s < m->n_slots && found < need; s++) {
		if (m->slot_used[s])
			continue;
		m->slot_used[s] = true;
		g->w[found++].stats_slot = s;
	}
	return 0;
}

/* ---- states ---- */

static const char *const state_names[] = {
	[GEN_STARTING] = "starting",
	[GEN_SERVING] = "serving",
	[GEN_DRAINING] = "draining",
	[GEN_CLOSING] = "closing",
};

const char *gen_state_name(enum gen_state s)
{
	return state_names[s];
}

static void on_start_timeout(struct tp_mloop *l, void *arg)
{
	struct gen *g = arg;

	g->timer = 0;
	if (g->state != GEN_STARTING)
		return;
	if (!g->epoch)
		tp_error("the workers did not get ready within %d s", START_TIMEOUT_MS / 1000);
	gen_abandon(g, "the new workers did not get ready in time");
}

static void on_drain_deadline(struct tp_mloop *l, void *arg)
{
	struct gen *g = arg;

	g->timer = 0;
	tp_info("generation %u: drain time over; closing its remaining connections", g->epoch);
	gen_set_state(g, GEN_CLOSING);
}

/* Moves g to state to, with everything that goes with the move: the signal its workers get,
 * the deadline of the new state (the old one's is cancelled), the listening sockets it lets go
 * when it stops accepting, its stats slots' states and the log. Allowed: starting → serving,
 * serving → draining, any → closing. What follows (capping, freeing, a pending reload) is
 * settle()'s. */
void gen_set_state(struct gen *g, enum gen_state to)
{
	struct master *m = g->m;
	enum gen_state from = g->state;

	TP_BUG_ON(to == GEN_STARTING || (to == GEN_SERVING && from != GEN_STARTING) ||
		  (to == GEN_DRAINING && from != GEN_SERVING));
	/* Told to close again (SIGINT after SIGINT, the stop deadline after a drain deadline):
	 * it keeps its first kill deadline, or each new SIGINT would put the SIGKILL off again. */
	if (from == to)
		return;
	tp_debug("generation %u: %s -> %s", g->epoch, state_names[from], state_names[to]);
	if (g->timer)
		tp_mloop_cancel(m->loop, g->timer);
	g->timer = 0;
	if (gen_accepts(from) && !gen_accepts(to)) {
		lsock_release(m, g);
		hs_gen_stop(g); /* its workers keep the hosts they have */
		for (unsigned s = 0; s < m->opts->concurrency; s++)
			if (g->w[s].pid)
				tp_stats_slot_set(m->stats, g->w[s].stats_slot, g->w[s].pid,
						  g->epoch, TP_SLOT_DRAINING);
	}
	g->state = to;
	switch (to) {
	case GEN_STARTING:
		break;
	case GEN_SERVING:
		/* The generation it replaces drains. */
		for (struct gen *o = m->gens; o; o = o->next)
			if (o != g && o->state == GEN_SERVING)
				gen_set_state(o, GEN_DRAINING);
		m->epoch = g->epoch;
		master_serving(m, g);
		break;
	case GEN_DRAINING:
		sup_signal(g, SIGQUIT);
		g->timer = tp_mloop_at(m->loop, tp_now_ms() + m->opts->drain_time_s * 1000ull,
				       on_drain_deadline, g);
		break;
	case GEN_CLOSING:
		/* A worker stuck before its loop runs (blocked opening an access log that is a
		 * FIFO nobody reads, say) cannot act on SIGTERM: it is killed after KILL_GRACE_MS,
		 * so that no generation, and no stopping master, waits for it forever. */
		sup_signal(g, SIGTERM);
		g->timer = tp_mloop_at(m->loop, tp_now_ms() + KILL_GRACE_MS, sup_kill_deadline, g);
		break;
	}
}

void gen_abandon(struct gen *g, const char *why)
{
	struct master *m = g->m;

	if (!g->epoch) {
		/* At boot there is nothing to fall back to: the master exits 1 (and kills what is
		 * left on its way out). */
		m->exit_status = 1;
		m->failed = true;
		return;
	}
	master_reload_failed(m, why);
	gen_set_state(g, GEN_CLOSING);
}

/* ---- life and death ---- */

struct gen *gen_start(struct master *m, struct tp_config *cfg, uint32_t epoch, char *why,
		      size_t whylen)
{
	struct gen *g = calloc(1, sizeof(*g));
	int ret;

	if (!g || !(g->socks = calloc(cfg->n_listeners + 1, sizeof(*g->socks))) ||
	    !(g->w = calloc(m->opts->concurrency, sizeof(*g->w)))) {
		snprintf(why, whylen, "out of memory");
		goto out_free;
	}
	g->m = m;
	g->cfg = cfg;
	g->epoch = epoch;
	g->state = GEN_STARTING;
	for (unsigned s = 0; s < m->opts->concurrency; s++) {
		g->w[s].ctl = -1;
		g->w[s].view = -1;
		g->w[s].hs = -1;
		g->w[s].gen = g;
		g->w[s].slot = s;
	}
	/* The scopes are the generation's until it is freed; if it never starts, released now,
	 * so that a failed reload leaves no name behind. */
	tp_stats_hold_begin(m->stats, &g->scopes);
	ret = register_scopes(m, cfg);
	tp_stats_hold_end(m->stats);
	if (ret < 0) {
		snprintf(why, whylen, "stats scopes: %s",
			 ret == -ENOSPC ? "the stats segment has no room for the new scopes"
					: strerror(-ret));
		goto out_free;
	}
	if (share_filter_memory(g) < 0) {
		snprintf(why, whylen, "shared memory for filters: %s", strerror(errno));
		goto out_free;
	}
	if (alloc_slots(m, g) < 0) {
		snprintf(why, whylen, "no free stats slots: too many generations still draining");
		goto out_unmap;
	}
	ret = lsock_acquire(m, g);
	if (ret < 0) {
		snprintf(why, whylen, "cannot bind a listener: %s", strerror(-ret));
		goto out_free_slots;
	}
	g->next = m->gens;
	m->gens = g;
	if (hs_gen_init(g, why, whylen) < 0) {
		gen_set_state(g, GEN_CLOSING);
		return NULL;
	}
	for (unsigned s = 0; s < m->opts->concurrency; s++) {
		if (sup_spawn(g, s) < 0) {
			snprintf(why, whylen, "cannot fork workers");
			gen_set_state(g, GEN_CLOSING);
			return NULL;
		}
	}
	/* The starting state's deadline (the first state is entered here, not moved to). */
	g->timer = tp_mloop_at(m->loop, tp_now_ms() + START_TIMEOUT_MS, on_start_timeout, g);
	return g;

out_free_slots:
	for (unsigned s = 0; s < m->opts->concurrency; s++)
		m->slot_used[g->w[s].stats_slot] = false;
out_unmap:
	if (g->shared)
		munmap(g->shared, g->shared_len);
out_free:
	if (g) {
		tp_stats_hold_release(m->stats, &g->scopes);
		cds_gen_free(g);
		free(g->socks);
		free(g->w);
		free(g);
	}
	tp_config_free(cfg);
	return NULL;
}

/* Past --max-draining-generations, the oldest draining generation is closed early. */
void gen_cap_draining(struct master *m)
{
	unsigned n = 0;
	struct gen *oldest = NULL;

	for (struct gen *g = m->gens; g; g = g->next) {
		if (g->state != GEN_DRAINING)
			continue;
		n++;
		oldest = g;
	}
	if (n > m->opts->max_draining_generations && oldest) {
		tp_warn("generation %u closed early: more than %u generations draining",
			oldest->epoch, m->opts->max_draining_generations);
		gen_set_state(oldest, GEN_CLOSING);
	}
}

/* A draining or closing generation with no worker left is freed. Not only a worker's exit
 * leads there: a generation drained while a slot waits out its crash backoff, or after a fork
 * failed, has no exit left to wait for. */
void gen_sweep(struct master *m)
{
	struct gen *g = m->gens, *next;

	for (; g; g = next) {
		next = g->next;
		if (!gen_accepts(g->state) && !g->n_alive) {
			tp_info("generation %u: all its workers have exited", g->epoch);
			gen_destroy(g);
		}
	}
}

void gen_destroy(struct gen *g)
{
	struct master *m = g->m;
	struct gen **pp;

	for (pp = &m->gens; *pp && *pp != g; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = g->next;
	if (m->view.cfg == g->cfg)
		m->view.cfg = m->gens ? m->gens->cfg : NULL;
	if (g->timer)
		tp_mloop_cancel(m->loop, g->timer);
	sup_release_slots(g);
	hs_gen_free(g);
	for (unsigned s = 0; s < m->opts->concurrency; s++) {
		/* Its counters stay in the totals (the retired block); the slot is free again. */
		tp_stats_slot_retire(m->stats, g->w[s].stats_slot);
		m->slot_used[g->w[s].stats_slot] = false;
	}
	/* Then its scopes: one no other generation has leaves /stats (its counters went to the
	 * retired block above, and go with it). */
	tp_stats_hold_release(m->stats, &g->scopes);
	cds_gen_free(g);
	if (gen_accepts(g->state))
		lsock_release(m, g);
	if (g->shared)
		munmap(g->shared, g->shared_len);
	tp_config_free(g->cfg);
	free(g->socks);
	free(g->w);
	free(g);
}

/* CDS in the master: the clusters of dynamic_resources.cds_config's file. Each version of the
 * file is decoded and checked whole (core/config/config.c, tp_config_decode_cds) before any of
 * it is used; an accepted one gets its stat scopes in every accepting generation and goes to
 * their workers as one sealed memfd on the host-set socket (hostset.c sends it), which they
 * decode again and apply between two completions. The master keeps no queue: only the version
 * each worker has, so that a burst of updates sends the newest once. */
#include "core/master/master-int.h"

#include "core/admin/admin.h"
#include "core/base/log.h"
#include "core/base/sbuf.h"
#include "core/base/timer.h"
#include "core/config/cfg_files.h"
#include "core/config/config.h"
#include "core/config/dump.h"
#include "core/config/xds.h"
#include "core/conn/transport-t.h"
#include "core/master/xds_file.h"
#include "core/worker/hostset-t.h"
#include "shm/stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

struct cds_cluster {
	struct tp_cluster_cfg *cfg;
	char *json; /* the resource as loaded, as JSON: what "changed" compares, /config_dump */
	char *version_info; /* of the update that last added or changed it (/config_dump) */
	uint64_t version;
	uint64_t updated_unix_ms;
	uint32_t cb_slot; /* its breaker in every generation's pool (gen.cds_cb), kept by name */
};

struct cds {
	struct master *m;
	struct tp_xds_file *src;
	/* The configuration whose static clusters CDS may not name while cds_start() reads the
	 * file first (before it serves); NULL afterwards: the serving generation's. */
	const struct tp_config *statics;
	struct cds_cluster *cl;
	size_t n;
	char *version_info;
	char *text; /* the accepted file's text, which the workers decode again */
	size_t len;
	uint64_t version; /* of the set (the master's cds_seq then); 0: nothing accepted yet */
	uint64_t next_cluster_version;
	uint64_t updated_unix_ms;
	int blob; /* the sealed memfd of this version, made on first send; -1: none yet */
	struct tp_cfg_files files; /* what decoding this version read: the workers get it */
	uint32_t base;		   /* cluster_manager.cds.* */
	/* what the admin endpoint reads (tp_master_view) */
	const struct tp_cluster_cfg **view_cfgs;
	const char **view_json;
	const char **view_versions;
	uint64_t *view_ms;
};

static uint64_t unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The serving generation's configuration, else the newest one's (none serves yet). */
static const struct tp_config *serving_cfg(const struct master *m)
{
	const struct gen *g = m->gens;

	while (g && g->state != GEN_SERVING)
		g = g->next;
	if (!g)
		g = m->gens;
	return g ? g->cfg : NULL;
}

/* cluster_manager.active_clusters: the serving generation's clusters and the dynamic ones. */
void cds_gauges(struct master *m)
{
	const struct tp_config *cfg = serving_cfg(m);
	size_t n = m->cds ? m->cds->n : 0;

	if (cfg)
		n += cfg->n_clusters;
	else if (m->cds && m->cds->statics)
		n += m->cds->statics->n_clusters;
	tp_stat_set(m->blk, m->cm_base + TP_CLUSTER_MANAGER_active_clusters, n);
	tp_stat_set(m->blk, m->cm_base + TP_CLUSTER_MANAGER_warming_clusters, 0);
}

static void update_view(struct cds *c)
{
	struct master *m = c->m;

	free(c->view_cfgs);
	free(c->view_json);
	free(c->view_versions);
	free(c->view_ms);
	c->view_cfgs = calloc(c->n ? c->n : 1, sizeof(*c->view_cfgs));
	c->view_json = calloc(c->n ? c->n : 1, sizeof(*c->view_json));
	c->view_versions = calloc(c->n ? c->n : 1, sizeof(*c->view_versions));
	c->view_ms = calloc(c->n ? c->n : 1, sizeof(*c->view_ms));
	m->view.cds_version_info = c->version ? c->version_info : "";
	m->view.cds_enabled = true;
	m->view.cds_updated_unix_ms = c->updated_unix_ms;
	if (!c->view_cfgs || !c->view_json || !c->view_versions || !c->view_ms) {
		m->view.n_cds_clusters = 0;
		return;
	}
	for (size_t i = 0; i < c->n; i++) {
		c->view_cfgs[i] = c->cl[i].cfg;
		c->view_json[i] = c->cl[i].json;
		c->view_versions[i] = c->cl[i].version_info;
		c->view_ms[i] = c->cl[i].updated_unix_ms;
	}
	m->view.cds_clusters = c->view_cfgs;
	m->view.cds_json = c->view_json;
	m->view.cds_versions = c->view_versions;
	m->view.cds_updated_ms = c->view_ms;
	m->view.n_cds_clusters = c->n;
}

static const struct cds_cluster *find(const struct cds *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->cl[i].cfg->name, name))
			return &c->cl[i];
	return NULL;
}

/* A cluster's scopes, as generation.c registers a static cluster's: in the hold being filled. */
static int register_cluster(struct master *m, struct tp_cluster_cfg *cl)
{
	int ret;

	ret = tp_stats_scope(m->stats, TP_SCOPE_CLUSTER, cl->name, &cl->stats_base);
	if (ret < 0)
		return ret;
	ret = tp_stats_scope(m->stats, TP_SCOPE_CLUSTER_CB, cl->name, &cl->cb.stats_base);
	if (ret < 0)
		return ret;
	if (cl->cb.track_remaining) {
		ret = tp_stats_scope(m->stats, TP_SCOPE_CLUSTER_CB_REMAINING, cl->name,
				     &cl->cb.remaining_base);
		if (ret < 0)
			return ret;
	}
	ret = tp_stats_scope(m->stats, TP_SCOPE_CLUSTER_CB_HIGH, cl->name, &cl->cb.high_stats_base);
	if (ret < 0)
		return ret;
	if (cl->cb.high_track_remaining) {
		ret = tp_stats_scope(m->stats, TP_SCOPE_CLUSTER_CB_HIGH_REMAINING, cl->name,
				     &cl->cb.high_remaining_base);
		if (ret < 0)
			return ret;
	}
	if (cl->transport.ops && cl->transport.ops->register_stats && cl->transport.conf) {
		ret = cl->transport.ops->register_stats(cl->transport.conf, m->stats, true,
							cl->name);
		if (ret < 0)
			return ret;
	}
	return tp_admin_register_hosts(m->stats, cl);
}

/* ---- circuit breakers ----
 *
 * A CDS cluster's breaker is slot cb_slot of the pool every generation maps before it forks
 * (generation.c): the same index in every generation, each generation counting its own workers'
 * connections in its own pool, as a static cluster's breaker is the generation's. A cluster keeps
 * its slot while its name stays in the set (a changed definition counts on with the connections
 * of the old one, which still hold the slot). A new name takes a slot never handed out while
 * there is one, else one no cluster of the set has and no connection of any generation still
 * counts in (a removed cluster's live connections give theirs back as they close). */

static bool slot_idle(const struct master *m, uint32_t slot)
{
	for (const struct gen *g = m->gens; g; g = g->next) {
		const struct tp_cb_shared *sh = &g->cds_cb[slot];

		if (!g->cds_cb)
			continue;
		for (unsigned s = 0; s < m->opts->concurrency; s++)
			if (atomic_load(&sh->cx[s]) || atomic_load(&sh->pending[s]))
				return false;
	}
	return true;
}

static int take_slot(struct master *m, bool *used, uint32_t *slot)
{
	if (m->cds_cb_hwm < TP_CDS_MAX_BREAKERS) {
		*slot = m->cds_cb_hwm++;
		return 0;
	}
	for (uint32_t i = 0; i < TP_CDS_MAX_BREAKERS; i++) {
		if (used[i] || !slot_idle(m, i))
			continue;
		*slot = i;
		return 0;
	}
	return -ENOSPC;
}

/* The slots of next: each kept name's, then a new one for each new name. */
static int assign_slots(struct cds *c, struct cds_cluster *next, size_t n, const char *file,
			struct tp_cfg_errors *errs)
{
	bool *used = calloc(TP_CDS_MAX_BREAKERS, sizeof(*used));
	bool *has = calloc(n ? n : 1, sizeof(*has));
	int ret = 0;

	if (!used || !has) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (size_t i = 0; i < n; i++) {
		const struct cds_cluster *old = find(c, next[i].cfg->name);

		if (!old)
			continue;
		next[i].cb_slot = old->cb_slot;
		used[old->cb_slot] = true;
		has[i] = true;
	}
	for (size_t i = 0; i < n && !ret; i++) {
		if (has[i])
			continue;
		ret = take_slot(c->m, used, &next[i].cb_slot);
		if (ret < 0)
			tp_cfg_errors_add(
				errs, next[i].cfg->name_mark.line, next[i].cfg->name_mark.col,
				"%s:%u:%u: cluster \"%s\": no circuit breaker left for it "
				"(%d CDS clusters at most, counting removed ones whose "
				"connections are still open)",
				file, next[i].cfg->name_mark.line, next[i].cfg->name_mark.col,
				next[i].cfg->name, TP_CDS_MAX_BREAKERS);
		else
			used[next[i].cb_slot] = true;
	}
out_free:
	free(used);
	free(has);
	return ret;
}

/* ---- host sets (hostset.c owns them; this says which CDS clusters there are) ---- */

void cds_sync_hostsets(struct master *m, struct gen *only)
{
	struct cds *c = m->cds;
	struct hs_cds_ref *refs = NULL;
	size_t n = c ? c->n : 0;

	if (n && !(refs = calloc(n, sizeof(*refs)))) {
		/* The sets point into definitions the caller may free next: they all go (the
		 * clusters keep the hosts they have until the next update). */
		tp_warn("cds: out of memory for the clusters' host sets");
		n = 0;
	}
	for (size_t i = 0; i < n; i++) {
		refs[i].cfg = c->cl[i].cfg;
		refs[i].id = TP_HS_CDS_ID(c->cl[i].version);
	}
	for (struct gen *g = m->gens; g; g = g->next)
		if (!only || g == only)
			hs_cds_sync(g, refs, n, gen_accepts(g->state));
	free(refs);
}

void cds_cb_gauges(struct master *m, const struct gen *g)
{
	const struct cds *c = m->cds;

	for (size_t i = 0; c && g->cds_cb && i < c->n; i++)
		master_cb_gauges(m, &c->cl[i].cfg->cb, &g->cds_cb[c->cl[i].cb_slot]);
}

int cds_register_scopes(struct master *m)
{
	struct cds *c = m->cds;
	int ret;

	for (size_t i = 0; c && i < c->n; i++) {
		ret = register_cluster(m, c->cl[i].cfg);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* The scopes of one CDS set in one generation. */
struct cds_hold {
	uint64_t set;
	struct tp_stats_hold h;
};

/* The set's clusters' scopes in every accepting generation, in a hold of the set's own, so that
 * a row is never given to another scope while a worker of one of them may write it, and yet
 * rows do not pile up while endpoints come and go (pod addresses change with every deploy): a
 * set's hold goes once every worker of the generation has applied a newer one and no longer
 * holds a cluster of it for a connection (cds_release_holds()). Every set registers all its
 * clusters, so the newest hold covers every current cluster. On failure nothing is kept. */
static int register_in_generations(struct master *m, struct tp_cluster_cfg **cl, size_t n,
				   uint64_t set)
{
	int ret = 0;
	struct gen *g;

	for (g = m->gens; g && !ret; g = g->next) {
		struct cds_hold *hs;

		if (!gen_accepts(g->state))
			continue;
		hs = realloc(g->cds_holds, (g->n_cds_holds + 1) * sizeof(*hs));
		if (!hs) {
			ret = -ENOMEM;
			break;
		}
		g->cds_holds = hs;
		hs = &g->cds_holds[g->n_cds_holds++];
		hs->set = set;
		tp_stats_hold_begin(m->stats, &hs->h);
		for (size_t i = 0; i < n && !ret; i++)
			ret = register_cluster(m, cl[i]);
		tp_stats_hold_end(m->stats);
	}
	if (!ret)
		return 0;
	/* Undone: the holds made for this set go (their scopes with them, unless held before). */
	for (g = m->gens; g; g = g->next) {
		if (g->n_cds_holds && g->cds_holds[g->n_cds_holds - 1].set == set)
			tp_stats_hold_release(m->stats, &g->cds_holds[--g->n_cds_holds].h);
	}
	return ret;
}

void cds_release_holds(struct gen *g)
{
	uint64_t bound = UINT64_MAX;
	size_t keep = 0;

	for (unsigned s = 0; s < g->m->opts->concurrency; s++) {
		const struct wslot *ws = &g->w[s];

		/* A slot with no worker holds nothing: its successor starts from the newest set. */
		if (ws->pid && ws->cds_bound < bound)
			bound = ws->cds_bound;
	}
	/* Never the newest: it covers the current clusters. */
	for (size_t i = 0; i < g->n_cds_holds; i++) {
		if (g->cds_holds[i].set < bound && i + 1 < g->n_cds_holds)
			tp_stats_hold_release(g->m->stats, &g->cds_holds[i].h);
		else
			g->cds_holds[keep++] = g->cds_holds[i];
	}
	g->n_cds_holds = keep;
}

void cds_gen_free(struct gen *g)
{
	for (size_t i = 0; i < g->n_cds_holds; i++)
		tp_stats_hold_release(g->m->stats, &g->cds_holds[i].h);
	free(g->cds_holds);
	g->cds_holds = NULL;
	g->n_cds_holds = 0;
}

static void free_clusters(struct cds_cluster *cl, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		tp_config_cluster_free(cl[i].cfg);
		free(cl[i].json);
		free(cl[i].version_info);
	}
	free(cl);
}

static void count(struct cds *c, int stat)
{
	tp_stat_inc(c->m->blk, c->base + stat);
}

/* One version of the file: everything is checked before anything changes. */
static int on_update(void *arg, enum tp_xds_event ev, const struct tp_xds_resources *r,
		     struct tp_cfg_errors *errs)
{
	struct cds *c = arg;
	struct master *m = c->m;
	struct tp_cluster_cfg **cfgs = NULL;
	struct cds_cluster *next = NULL, *old_cl;
	size_t n = 0, added = 0, modified = 0, removed = 0, old_n;
	uint64_t now = unix_ms();
	char *version_info = NULL, *text = NULL;
	struct tp_cfg_files files = {0};
	int ret;

	count(c, TP_CDS_update_attempt);
	if (ev == TP_XDS_FAILED) {
		count(c, TP_CDS_update_failure);
		return 0;
	}
	if (ev == TP_XDS_REJECTED) {
		count(c, TP_CDS_update_rejected);
		return 0;
	}
	/* Certificates and keys are read here, as the master may read them; the workers get
	 * these bytes with the text (cds_blob()). */
	tp_cfg_files_begin(&files);
	ret = tp_config_decode_cds(r, c->statics ? c->statics : serving_cfg(m), &cfgs, &n, errs);
	tp_cfg_files_end();
	if (ret < 0)
		goto out_rejected;
	if (files.oom)
		goto out_oom;
	next = calloc(n ? n : 1, sizeof(*next));
	version_info = strdup(r->version_info);
	text = malloc(r->len + 1);
	if (!next || !version_info || !text)
		goto out_oom;
	memcpy(text, r->text, r->len);
	for (size_t i = 0; i < n; i++) {
		struct tp_sbuf b = TP_SBUF_INIT;
		const struct cds_cluster *old;
		bool cut = false, same;

		next[i].cfg = cfgs[i];
		cfgs[i] = NULL;
		if (tp_config_dump_render(r->items[i], tp_config_dump_max(r->len), &b, &cut) < 0 ||
		    b.oom) {
			tp_sbuf_free(&b);
			goto out_oom;
		}
		tp_sbuf_putc(&b, '\0');
		next[i].json = b.p;
		old = find(c, next[i].cfg->name);
		same = old && !strcmp(old->json, next[i].json);
		/* The same definition keeps the version_info that brought it, as Envoy's. */
		next[i].version_info = strdup(same ? old->version_info : r->version_info);
		if (!next[i].version_info)
			goto out_oom;
		if (same) {
			/* The same definition: the workers keep their object. */
			next[i].version = old->version;
			next[i].updated_unix_ms = old->updated_unix_ms;
			continue;
		}
		next[i].version = ++c->next_cluster_version;
		next[i].updated_unix_ms = now;
		if (old)
			modified++;
		else
			added++;
	}
	ret = assign_slots(c, next, n, r->file, errs);
	if (ret == -ENOMEM)
		goto out_oom;
	if (ret < 0)
		goto out_rejected;
	for (size_t i = 0; i < c->n; i++) {
		bool kept = false;

		for (size_t j = 0; j < n && !kept; j++)
			kept = !strcmp(c->cl[i].cfg->name, next[j].cfg->name);
		removed += !kept;
	}
	{
		struct tp_cluster_cfg **reg = calloc(n ? n : 1, sizeof(*reg));

		if (!reg)
			goto out_oom;
		for (size_t i = 0; i < n; i++)
			reg[i] = next[i].cfg;
		ret = register_in_generations(m, reg, n, m->cds_seq + 1);
		free(reg);
		if (ret < 0) {
			tp_cfg_errors_add(errs, 0, 0, "%s: no room for the clusters' stats: %s",
					  r->file, strerror(-ret));
			goto out_rejected;
		}
	}
	/* Accepted: from here nothing fails. An unchanged definition keeps its configuration
	 * object, which the host sets' resolvers and checkers point to. */
	for (size_t i = 0; i < n; i++) {
		struct cds_cluster *old = (struct cds_cluster *)find(c, next[i].cfg->name);
		struct tp_cluster_cfg *keep;

		if (!old || old->version != next[i].version)
			continue;
		keep = old->cfg;
		old->cfg = next[i].cfg;
		next[i].cfg = keep;
	}
	old_cl = c->cl;
	old_n = c->n;
	c->cl = next;
	c->n = n;
	free(c->version_info);
	c->version_info = version_info;
	free(c->text);
	c->text = text;
	c->len = r->len;
	tp_cfg_files_free(&c->files);
	c->files = files;
	c->version = ++m->cds_seq;
	c->updated_unix_ms = now;
	if (c->blob >= 0)
		close(c->blob);
	c->blob = -1;
	free(cfgs);
	tp_stat_add(m->blk, m->cm_base + TP_CLUSTER_MANAGER_cluster_added, added);
	tp_stat_add(m->blk, m->cm_base + TP_CLUSTER_MANAGER_cluster_modified, modified);
	tp_stat_add(m->blk, m->cm_base + TP_CLUSTER_MANAGER_cluster_removed, removed);
	count(c, TP_CDS_update_success);
	tp_stat_set(m->blk, c->base + TP_CDS_version, XXH64(version_info, strlen(version_info), 0));
	tp_stat_set(m->blk, c->base + TP_CDS_update_time, now);
	cds_gauges(m);
	update_view(c);
	tp_info("cds: version_info \"%s\": %zu cluster(s), %zu added, %zu modified, %zu removed",
		version_info, n, added, modified, removed);
	hs_flush_cds(m);
	/* After the flush: a new cluster's first set must follow the CDS set that has it. */
	cds_sync_hostsets(m, NULL);
	free_clusters(old_cl, old_n);
	return 0;

out_oom:
	tp_cfg_errors_add(errs, 0, 0, "%s: %s", r->file, strerror(ENOMEM));
	ret = -ENOMEM;
out_rejected:
	count(c, TP_CDS_update_rejected);
	for (size_t i = 0; cfgs && i < n; i++)
		tp_config_cluster_free(cfgs[i]);
	free(cfgs);
	if (next)
		free_clusters(next, n);
	free(version_info);
	free(text);
	tp_cfg_files_free(&files);
	return ret;
}

int cds_start(struct master *m, const struct tp_config *cfg, char *why, size_t whylen)
{
	struct cds *c;
	int ret;

	ret = tp_stats_scope(m->stats, TP_SCOPE_CLUSTER_MANAGER, "", &m->cm_base);
	if (ret < 0) {
		snprintf(why, whylen, "stats: %s", strerror(-ret));
		return ret;
	}
	if (!cfg->cds.path) {
		tp_stat_set(m->blk, m->cm_base + TP_CLUSTER_MANAGER_active_clusters,
			    cfg->n_clusters);
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(why, whylen, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	c->m = m;
	c->blob = -1;
	c->statics = cfg;
	m->cds = c;
	ret = tp_stats_scope(m->stats, TP_SCOPE_CDS, "", &c->base);
	if (ret < 0) {
		snprintf(why, whylen, "stats: %s", strerror(-ret));
		goto out_free;
	}
	update_view(c);
	cds_gauges(m);
	ret = tp_xds_file_open(m->loop, &cfg->cds, TP_XDS_TYPE_CLUSTER, on_update, c, &c->src, why,
			       whylen);
	c->statics = NULL;
	if (ret < 0)
		goto out_free;
	return 0;
out_free:
	cds_free(m);
	return ret;
}

/* A reload: its configuration's static clusters are the ones CDS may not name from now on, and
 * a cds_config changed or removed takes effect (a removed one: the dynamic clusters go). */
int cds_reconfigure(struct master *m, const struct tp_config *cfg, char *why, size_t whylen)
{
	struct cds *c = m->cds;

	if (c && cfg->cds.path && tp_config_source_equal(tp_xds_file_source(c->src), &cfg->cds))
		return 0;
	if (c) {
		tp_info("cds: %s no longer configured%s", tp_xds_file_source(c->src)->path,
			c->n ? "; its clusters are removed" : "");
		tp_stat_add(m->blk, m->cm_base + TP_CLUSTER_MANAGER_cluster_removed, c->n);
		cds_free(m);
		/* Workers of the accepting generations drop theirs with an empty set. */
		m->cds_seq++;
		hs_flush_cds(m);
	}
	m->view.cds_enabled = false;
	m->view.n_cds_clusters = 0;
	if (!cfg->cds.path)
		return 0;
	/* cluster_manager's scope is the master's already: only the source is new. */
	return cds_start(m, cfg, why, whylen);
}

int cds_check(struct master *m, const struct tp_config *cfg, char *why, size_t whylen)
{
	struct cds *c = m->cds;

	if (!cfg->cds.path)
		return 0;
	if (!c || !tp_config_source_equal(tp_xds_file_source(c->src), &cfg->cds))
		return tp_xds_file_check(&cfg->cds, why, whylen);
	/* The same source: its clusters go on into the new generation, where no static cluster
	 * may have one's name (as an update may not name a static cluster). */
	for (size_t i = 0; i < c->n; i++) {
		if (tp_config_cluster_index(cfg, c->cl[i].cfg->name) >= 0) {
			snprintf(why, whylen,
				 "static cluster \"%s\" is also a cluster from CDS (%s): remove it "
				 "from that file first",
				 c->cl[i].cfg->name, cfg->cds.path);
			return -EEXIST;
		}
	}
	return 0;
}

void cds_serving(struct master *m)
{
	cds_gauges(m);
}

uint64_t cds_version(const struct master *m)
{
	return m->cds_seq;
}

int cds_blob(struct master *m)
{
	struct cds *c = m->cds;
	struct tp_cds_blob head = {.magic = TP_CDS_MAGIC};
	struct tp_cds_blob_cluster *cl;
	uint32_t *rows;
	uint32_t n_rows = 0;
	size_t size, off;
	char *p;
	int fd;

	if (c && c->blob >= 0)
		return c->blob;
	for (size_t i = 0; c && i < c->n; i++)
		n_rows += (uint32_t)c->cl[i].cfg->n_endpoints;
	head.n_clusters = c ? (uint32_t)c->n : 0;
	head.version = m->cds_seq;
	head.text_len = c ? c->len : 0;
	head.n_host_rows = n_rows;
	for (size_t i = 0; c && i < c->files.n; i++)
		head.files_len += sizeof(struct tp_cds_blob_file) + strlen(c->files.v[i].path) +
				  c->files.v[i].len;
	head.n_files = c ? (uint32_t)c->files.n : 0;
	size = sizeof(head) + head.n_clusters * sizeof(*cl) + n_rows * sizeof(*rows) +
	       head.text_len + head.files_len;
	fd = memfd_create("tcpproxy-cds", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		goto out_close;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto out_close;
	memcpy(p, &head, sizeof(head));
	cl = (struct tp_cds_blob_cluster *)(p + sizeof(head));
	rows = (uint32_t *)(cl + head.n_clusters);
	for (size_t i = 0, r = 0; c && i < c->n; i++) {
		const struct tp_cluster_cfg *cfg = c->cl[i].cfg;

		cl[i].version = c->cl[i].version;
		cl[i].stats_base = cfg->stats_base;
		cl[i].cb_base = cfg->cb.stats_base;
		cl[i].first_host = (uint32_t)r;
		cl[i].n_hosts = (uint32_t)cfg->n_endpoints;
		cl[i].cb_slot = c->cl[i].cb_slot;
		cl[i].cb_remaining_base = cfg->cb.remaining_base;
		cl[i].cb_high_base = cfg->cb.high_stats_base;
		cl[i].cb_high_remaining_base = cfg->cb.high_remaining_base;
		cl[i].transport_base =
			cfg->transport.ops && cfg->transport.ops->get_stats_base
				? cfg->transport.ops->get_stats_base(cfg->transport.conf)
				: 0;
		for (size_t e = 0; e < cfg->n_endpoints; e++)
			rows[r++] = cfg->endpoints[e].stats_base;
	}
	off = sizeof(head) + head.n_clusters * sizeof(*cl) + n_rows * sizeof(*rows);
	if (c && c->len)
		memcpy(p + off, c->text, c->len);
	off += head.text_len;
	for (size_t i = 0; c && i < c->files.n; i++) {
		const struct tp_cfg_file *f = &c->files.v[i];
		struct tp_cds_blob_file fh = {.path_len = (uint32_t)strlen(f->path), .len = f->len};

		memcpy(p + off, &fh, sizeof(fh));
		off += sizeof(fh);
		memcpy(p + off, f->path, fh.path_len);
		off += fh.path_len;
		memcpy(p + off, f->data, f->len);
		off += f->len;
	}
	munmap(p, size);
	/* Sealed: a worker maps what the master validated, and nothing can change it after. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		goto out_close;
	if (c)
		c->blob = fd;
	return fd;
out_close : {
	int ret = -errno;

	close(fd);
	return ret;
}
}

void cds_free(struct master *m)
{
	struct cds *c = m->cds;
	size_t n;

	if (!c)
		return;
	tp_xds_file_close(c->src);
	/* The host sets' resolvers and checkers point into the configurations freed here. */
	n = c->n;
	c->n = 0;
	cds_sync_hostsets(m, NULL);
	free_clusters(c->cl, n);
	free(c->version_info);
	free(c->text);
	tp_cfg_files_free(&c->files);
	if (c->blob >= 0)
		close(c->blob);
	free(c->view_cfgs);
	free(c->view_json);
	free(c->view_versions);
	free(c->view_ms);
	free(c);
	m->cds = NULL;
	m->view.n_cds_clusters = 0;
	m->view.cds_clusters = NULL;
	m->view.cds_json = NULL;
	m->view.cds_versions = NULL;
}

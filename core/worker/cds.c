/* A worker's CDS clusters: the master's sealed memfd (core/worker/hostset-t.h, TP_HS_CDS)
 * decoded again with the loader the master validated it with, then a new table by name. Runs
 * between two completions, so a connection never sees a half-applied set. */
#include "core/worker/cds.h"

#include "core/base/log.h"
#include "core/config/cfg_files.h"
#include "core/config/config.h"
#include "core/config/xds.h"
#include "core/conn/transport-t.h"
#include "core/filter.h"
#include "core/conn/session.h"
#include "core/tunnel/h2.h"
#include "core/worker/hostset-t.h"
#include "core/worker/lb.h"
#include "core/worker/worker-t.h"
#include "core/worker/worker.h"
#include "shm/stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static struct tp_cluster_rt **slot_of(struct tp_cluster_rt **t, uint32_t cap, const char *name)
{
	uint32_t i = name_hash(name) & (cap - 1);

	while (t[i] && strcmp(t[i]->cfg->name, name))
		i = (i + 1) & (cap - 1);
	return &t[i];
}

struct tp_cluster_rt *tp_cds_find(const struct tp_worker *w, const char *name)
{
	if (!w->n_dyn)
		return NULL;
	return *slot_of(w->dyn, w->dyn_cap, name);
}

struct tp_cluster_rt *tp_cds_find_id(const struct tp_worker *w, uint32_t id)
{
	for (uint32_t i = 0; i < w->dyn_cap; i++)
		if (w->dyn[i] && TP_HS_CDS_ID(w->dyn[i]->cds_version) == id)
			return w->dyn[i];
	return NULL;
}

static void cluster_free(struct tp_worker *w, struct tp_cluster_rt *c)
{
	uint32_t base = c->cfg->stats_base;

	if (c->cds_retired) {
		/* Its last connection is gone: the master may let its set's rows go. */
		if (c->retired_prev)
			c->retired_prev->retired_next = c->retired_next;
		else
			w->cds_retired = c->retired_next;
		if (c->retired_next)
			c->retired_next->retired_prev = c->retired_prev;
		w->cds_low_dirty = true;
	}

	/* Envoy's SubsetLoadBalancer counts its subsets removed when it goes. */
	tp_stat_add(w->stats, base + TP_CLUSTER_lb_subsets_removed, c->n_subsets);
	tp_stat_sub(w->stats, base + TP_CLUSTER_lb_subsets_active, c->n_subsets);
	tp_lb_destroy(c);
	if (c->own_cfg->transport.own_ctx)
		c->own_cfg->transport.ops->ctx_free(c->own_cfg->transport.own_ctx);
	tp_config_cluster_free(c->own_cfg);
	free(c);
}

void tp_cluster_release(struct tp_worker *w, struct tp_cluster_rt *c)
{
	if (!c || !c->cds)
		return;
	TP_BUG_ON(!c->refs);
	if (--c->refs)
		return;
	cluster_free(w, c);
}

/* Its transport's shared context (TLS: the certificates, the trust store), made here as a static
 * cluster's is made at the worker's start: a TLS library's state is never the master's. The
 * connection slots were sized at start for the upstream transports CDS may bring
 * (tp_worker_size_slots()); one that does not fit is refused. */
static int transport_ctx(struct tp_worker *w, struct tp_transport_cfg *tc, uint32_t base)
{
	char err[256] = "";

	if (!tc->ops)
		return 0;
	if (tp_slot_round(tc->ops->state_size) > w->tstate_bytes[TP_UP] ||
	    (!tc->ops->raw && !w->info_off)) {
		tp_warn("cds: %s has no room in this worker's connection slots", tc->ops->name);
		return -ENOSPC;
	}
	if (tc->ops->set_stats_base)
		tc->ops->set_stats_base(tc->conf, base);
	if (!tc->ops->ctx_new)
		return 0;
	tc->own_ctx = tc->ops->ctx_new(tc->conf, err, sizeof(err));
	if (!tc->own_ctx) {
		tp_warn("cds: %s: %s", tc->ops->name, err);
		return -EINVAL;
	}
	return 0;
}

/* A cluster of the set: its stats rows from the master, its transport's context, then its
 * balancers. */
static struct tp_cluster_rt *cluster_new(struct tp_worker *w, struct tp_cluster_cfg *cfg,
					 const struct tp_cds_blob_cluster *rec,
					 const uint32_t *rows, uint64_t set)
{
	struct tp_cluster_rt *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (transport_ctx(w, &cfg->transport, rec->transport_base) < 0) {
		free(c);
		return NULL;
	}
	cfg->stats_base = rec->stats_base;
	cfg->cb.stats_base = rec->cb_base;
	cfg->cb.remaining_base = rec->cb_remaining_base;
	cfg->cb.high_stats_base = rec->cb_high_base;
	cfg->cb.high_remaining_base = rec->cb_high_remaining_base;
	/* blob_parts() checked the index */
	cfg->cb.shared = w->cds_cb ? &w->cds_cb[rec->cb_slot] : NULL;
	for (size_t e = 0; e < cfg->n_endpoints; e++)
		cfg->endpoints[e].stats_base = rows[rec->first_host + e];
	if (tp_lb_init(c, cfg, tp_rand()) < 0) {
		if (cfg->transport.own_ctx)
			cfg->transport.ops->ctx_free(cfg->transport.own_ctx);
		cfg->transport.own_ctx = NULL;
		free(c);
		return NULL;
	}
	c->cds = true;
	c->refs = 1;
	c->cds_version = rec->version;
	c->cds_set = set;
	c->own_cfg = cfg;
	tp_stat_add(w->stats, cfg->stats_base + TP_CLUSTER_lb_subsets_created, c->n_subsets);
	tp_stat_add(w->stats, cfg->stats_base + TP_CLUSTER_lb_subsets_active, c->n_subsets);
	return c;
}

/* The blob's parts, checked against its size: the master is trusted, but a worker reads no
 * length it has not bounded. */
static bool blob_parts(const void *p, size_t size, const struct tp_cds_blob_cluster **cl,
		       const uint32_t **rows, const char **text)
{
	const struct tp_cds_blob *h = p;
	uint64_t need;

	if (size < sizeof(*h) || h->magic != TP_CDS_MAGIC || h->n_clusters > (1u << 24) ||
	    h->n_host_rows > (1u << 26) || h->text_len > (1ull << 32) ||
	    h->files_len > (1ull << 32))
		return false;
	need = sizeof(*h) + (uint64_t)h->n_clusters * sizeof(**cl) +
	       (uint64_t)h->n_host_rows * sizeof(**rows) + h->text_len + h->files_len;
	if (need != size)
		return false;
	*cl = (const struct tp_cds_blob_cluster *)(h + 1);
	*rows = (const uint32_t *)(*cl + h->n_clusters);
	*text = (const char *)(*rows + h->n_host_rows);
	for (uint32_t i = 0; i < h->n_clusters; i++)
		if ((uint64_t)(*cl)[i].first_host + (*cl)[i].n_hosts > h->n_host_rows ||
		    (*cl)[i].cb_slot >= TP_CDS_MAX_BREAKERS)
			return false;
	return true;
}

/* The files the master read, from the blob's last part (after the text): false if it does
 * not add up. */
static bool blob_files(const struct tp_cds_blob *h, const char *text, struct tp_cfg_files *out)
{
	const char *p = text + h->text_len, *end = p + h->files_len;

	for (uint32_t i = 0; i < h->n_files; i++) {
		struct tp_cds_blob_file fh;

		if ((size_t)(end - p) < sizeof(fh))
			return false;
		memcpy(&fh, p, sizeof(fh));
		p += sizeof(fh);
		if (fh.path_len > (size_t)(end - p) || fh.len > (size_t)(end - p) - fh.path_len)
			return false;
		if (tp_cfg_files_add(out, p, fh.path_len, (const uint8_t *)p + fh.path_len,
				     fh.len) < 0)
			return false;
		p += fh.path_len + fh.len;
	}
	return p == end;
}

void tp_cds_apply(struct tp_worker *w, int fd, uint64_t version)
{
	struct tp_cfg_files files = {.serve = true};
	struct tp_xds_resources r = {0};
	struct tp_cfg_errors errs = {0};
	const struct tp_cds_blob_cluster *cl;
	const struct tp_cds_blob *h;
	struct tp_cluster_cfg **cfgs = NULL;
	struct tp_cluster_rt **t = NULL;
	const uint32_t *rows;
	const char *text;
	struct stat st;
	uint32_t cap = 8, n_new = 0;
	size_t n = 0;
	void *p = MAP_FAILED;

	if (version <= w->cds_version)
		goto out_close;
	if (fstat(fd, &st) < 0 || st.st_size <= 0)
		goto out_bad;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED || !blob_parts(p, (size_t)st.st_size, &cl, &rows, &text))
		goto out_bad;
	h = p;
	if (!blob_files(h, text, &files))
		goto out_bad;
	/* No text: the empty set the master sends when cds_config is gone (cds_blob()). */
	if (!h->text_len) {
		if (h->n_clusters)
			goto out_bad;
	} else {
		/* Certificates and keys: the bytes the master read (this worker may not be
		 * allowed to read the files, and they may have changed since). */
		tp_cfg_files_begin(&files);
		if (tp_xds_parse("cds", text, h->text_len, TP_XDS_TYPE_CLUSTER, &r, &errs) < 0 ||
		    tp_config_decode_cds(&r, w->cfg, &cfgs, &n, &errs) < 0 || n != h->n_clusters) {
			tp_cfg_files_end();
			goto out_bad;
		}
		tp_cfg_files_end();
	}
	while (cap < 2 * n)
		cap *= 2;
	t = calloc(cap, sizeof(*t));
	if (!t)
		goto out_oom;
	for (size_t i = 0; i < n; i++) {
		struct tp_cluster_rt *old = tp_cds_find(w, cfgs[i]->name), *c;

		if (cfgs[i]->n_endpoints != cl[i].n_hosts)
			goto out_bad;
		if (old && old->cds_version == cl[i].version) {
			/* Unchanged: its balancers and the connections on it go on as they are. */
			c = old;
			c->refs++;
			tp_config_cluster_free(cfgs[i]);
		} else {
			c = cluster_new(w, cfgs[i], &cl[i], rows, version);
			if (!c)
				goto out_oom;
		}
		cfgs[i] = NULL;
		*slot_of(t, cap, c->cfg->name) = c;
		n_new++;
	}
	/* The table's reference to every cluster of the old one: a cluster carried over holds the
	 * new table's, one replaced or removed goes with its last connection (and its last shared
	 * HTTP/2 connection, which now closes when idle). */
	for (uint32_t i = 0; i < w->dyn_cap; i++) {
		struct tp_cluster_rt *old = w->dyn[i];

		if (old && *slot_of(t, cap, old->cfg->name) != old) {
			tp_h2_retire_cluster(w, old);
			if (old->refs > 1) {
				/* Connections hold it: retired until they go (TP_HS_CDS_LOW). */
				old->cds_retired = true;
				old->retired_prev = NULL;
				old->retired_next = w->cds_retired;
				if (w->cds_retired)
					w->cds_retired->retired_prev = old;
				w->cds_retired = old;
			}
		}
		tp_cluster_release(w, old);
	}
	free(w->dyn);
	w->dyn = t;
	w->dyn_cap = cap;
	w->n_dyn = n_new;
	w->cds_version = version;
	w->cds_low_dirty = true;
	tp_debug("cds: %u cluster(s), version %llu", n_new, (unsigned long long)version);
	/* Connections waiting for an on-demand cluster: this update has it, or it is missing. */
	tp_session_cds_applied(w);
	goto out_free;

out_oom:
	tp_warn("cds: out of memory applying version %llu; the previous set stays",
		(unsigned long long)version);
	goto out_undo;
out_bad:
	tp_warn("cds: version %llu from the master does not decode; the previous set stays",
		(unsigned long long)version);
	for (size_t i = 0; i < errs.n; i++)
		tp_warn("%s", errs.lines[i]);
out_undo:
	for (uint32_t i = 0; t && i < cap; i++)
		tp_cluster_release(w, t[i]);
	free(t);
out_free:
	for (size_t i = 0; cfgs && i < n; i++)
		tp_config_cluster_free(cfgs[i]);
	free(cfgs);
	tp_xds_resources_free(&r);
	tp_cfg_errors_free(&errs);
	tp_cfg_files_free(&files);
	if (p != MAP_FAILED)
		munmap(p, (size_t)st.st_size);
out_close:
	close(fd);
}

bool tp_cds_low(const struct tp_worker *w, struct tp_hs_cds_low *out)
{
	out->applied = w->cds_version;
	out->low = UINT64_MAX;
	for (const struct tp_cluster_rt *c = w->cds_retired; c; c = c->retired_next)
		if (c->cds_set < out->low)
			out->low = c->cds_set;
	return w->cds_low_dirty;
}

void tp_cds_free_all(struct tp_worker *w)
{
	for (uint32_t i = 0; i < w->dyn_cap; i++)
		tp_cluster_release(w, w->dyn[i]);
	free(w->dyn);
	w->dyn = NULL;
	w->dyn_cap = 0;
	w->n_dyn = 0;
}

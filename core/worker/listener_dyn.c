/* Listeners that come and go in a running worker (LDS). The master validates each dynamic
 * listener, binds its sockets and registers its stats scopes, then sends every worker its
 * socket and the Listener's text (core/master/lds.c). The worker decodes that text with the
 * loader, as the master did, against its own generation's configuration, takes the master's
 * stats bases in the order of the same registration walk, and accepts. A removed listener stops
 * accepting at once; its connections run on until they end or its drain time is over, and its
 * configuration goes with the last of them. */
#include "core/worker/listener_dyn.h"

#include "core/base/log.h"
#include "core/config/config.h"
#include "core/config/walk.h"
#include "core/config/xds.h"
#include "core/conn/conn.h"
#include "core/conn/transport-t.h"
#include "core/filter.h"
#include "core/filter-t.h"
#include "core/tls/clienthello-t.h"
#include "core/tls/tls.h"
#include "core/tunnel/tunnel.h"
#include "core/worker/worker.h"
#include "shm/stats.h"
#include "uring/ring.h"
#include "uring/udata.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* What a slot keeps for an LDS listener's chain state when the bootstrap's need less: a
 * tcp_proxy chain with a few filters before it fits. */
#define LDS_FILTER_ROOM 4096u

/* ---- the registration walk, the master's and the worker's ---- */

static int register_filter_stats(struct tp_filter_cfg *f, void *stats)
{
	return f->ops->register_stats ? f->ops->register_stats(f->conf, stats) : 0;
}

int tp_listener_register_stats(struct tp_stats *st, struct tp_listener_cfg *l)
{
	char name[128];
	int ret;

	tp_stats_listener_name((const struct sockaddr *)&l->addr.ss, name, sizeof(name));
	ret = tp_stats_scope(st, TP_SCOPE_LISTENER, name, &l->stats_base);
	if (ret < 0)
		return ret;
	for (size_t c = 0; c < l->n_filter_chains; c++) {
		struct tp_transport_cfg *tc = &l->filter_chains[c].transport;

		if (!tc->ops || !tc->ops->register_stats || !tc->conf)
			continue;
		ret = tc->ops->register_stats(tc->conf, st, false, name);
		if (ret < 0)
			return ret;
	}
	for (size_t f = 0; f < l->n_listener_filters; f++) {
		struct tp_listener_filter_cfg *lf = &l->listener_filters[f];

		ret = lf->ops->register_stats ? lf->ops->register_stats(lf->conf, st) : 0;
		if (ret < 0)
			return ret;
	}
	return tp_listener_for_each_filter(l, register_filter_stats, st);
}

/* ---- memory shared across workers ---- */

static size_t shared_part(const struct tp_filter_cfg *f)
{
	return (f->ops->shared_bytes + 63) & ~(size_t)63;
}

static int add_shared(struct tp_filter_cfg *f, void *total)
{
	*(size_t *)total += shared_part(f);
	return 0;
}

static int bind_part(struct tp_filter_cfg *f, void *cursor)
{
	char **at = cursor;

	if (!f->ops->shared_bytes)
		return 0;
	f->ops->bind_shared(f->conf, *at);
	*at += shared_part(f);
	return 0;
}

size_t tp_listener_shared_bytes(struct tp_listener_cfg *l)
{
	size_t total = 0;

	tp_listener_for_each_filter(l, add_shared, &total);
	return total;
}

void tp_listener_bind_shared(struct tp_listener_cfg *l, void *mem)
{
	char *at = mem;

	tp_listener_for_each_filter(l, bind_part, &at);
}

/* ---- slot room ---- */

void tp_lds_slot_room(uint32_t *filters, uint32_t *tstate_down, uint32_t *peek, bool *info,
		      bool *tunnels)
{
	uint32_t tls = tp_slot_round(tp_transport_tls_server.state_size);

	if (*filters < LDS_FILTER_ROOM)
		*filters = LDS_FILTER_ROOM;
	if (*tstate_down < tls)
		*tstate_down = tls;
	if (*peek < TP_CHELLO_MAX_BYTES)
		*peek = TP_CHELLO_MAX_BYTES;
	*info = true;
	*tunnels = true;
}

static bool chain_tunnels(const struct tp_filter_chain_cfg *ch)
{
	const struct tp_filter_cfg *last = ch->n_filters ? &ch->filters[ch->n_filters - 1] : NULL;

	return last && last->ops == &tp_filter_tcp_proxy &&
	       ((const struct tp_tcp_proxy_cfg *)last->conf)->tunnel;
}

bool tp_lds_fits(const struct tp_worker *w, const struct tp_listener_cfg *l, char *why,
		 size_t whylen)
{
	const char *what = NULL;
	uint32_t need = 0, room = 0;

	for (size_t c = 0; c < l->n_filter_chains && !what; c++) {
		const struct tp_filter_chain_cfg *ch = &l->filter_chains[c];
		const struct tp_transport_ops *t = ch->transport.ops;

		if (ch->state_bytes > w->filter_room) {
			what = "filter state";
			need = ch->state_bytes;
			room = w->filter_room;
		} else if (t && tp_slot_round(t->state_size) > w->tstate_bytes[TP_DOWN]) {
			what = "transport state";
			need = tp_slot_round(t->state_size);
			room = w->tstate_bytes[TP_DOWN];
		} else if ((t && !t->raw && !w->info_off) ||
			   (chain_tunnels(ch) && !w->tunnel_room)) {
			what = "connection info or tunnel state";
			need = 1;
		}
	}
	if (!what && l->lfilter_state_bytes > w->filter_room) {
		what = "listener filter state";
		need = l->lfilter_state_bytes;
		room = w->filter_room;
	}
	for (size_t f = 0; f < l->n_listener_filters && !what; f++) {
		const struct tp_listener_filter_cfg *lf = &l->listener_filters[f];
		uint32_t want = lf->max_read_bytes ? lf->max_read_bytes : lf->ops->max_read_bytes;

		if (want > w->peek_cap || (l->n_listener_filters && !w->info_off)) {
			what = "listener filter peek";
			need = want;
			room = w->peek_cap;
		}
	}
	if (!what)
		return true;
	snprintf(why, whylen,
		 "a connection of it needs %u bytes of %s, the running workers' connection slots "
		 "have %u: not supported yet without a restart",
		 need, what, room);
	return false;
}

/* ---- the worker's side ---- */

static struct tp_listener_rt *find(struct tp_worker *w, uint64_t id)
{
	for (size_t i = w->n_static; i < w->n_listeners; i++)
		if (w->listeners[i].cfg && w->listeners[i].dyn_id == id)
			return &w->listeners[i];
	return NULL;
}

static void free_contexts(struct tp_worker *w, struct tp_listener_cfg *l)
{
	for (size_t c = 0; c < l->n_filter_chains; c++) {
		const struct tp_transport_cfg *tc = &l->filter_chains[c].transport;

		if (tc->ops && tc->ops->ctx_free && tc->idx < w->n_tctx && w->tctx[tc->idx]) {
			tc->ops->ctx_free(w->tctx[tc->idx]);
			w->tctx[tc->idx] = NULL;
		}
	}
}

/* Each of its transports gets its context in this worker, at an index of its own: indexes are
 * never reused, so a connection of a listener being replaced keeps its context. */
static int make_contexts(struct tp_worker *w, struct tp_listener_cfg *l, char *err, size_t len)
{
	for (size_t c = 0; c < l->n_filter_chains; c++) {
		struct tp_transport_cfg *tc = &l->filter_chains[c].transport;
		void **t;

		tc->idx = UINT32_MAX;
		if (!tc->ops || !tc->ops->ctx_new)
			continue;
		t = realloc(w->tctx, (w->n_tctx + 1) * sizeof(*t));
		if (!t) {
			snprintf(err, len, "out of memory");
			return -ENOMEM;
		}
		w->tctx = t;
		tc->idx = w->n_tctx;
		w->tctx[w->n_tctx++] = NULL;
		w->tctx[tc->idx] = tc->ops->ctx_new(tc->conf, err, len);
		if (!w->tctx[tc->idx])
			return -EINVAL;
	}
	return 0;
}

static struct tp_listener_rt *new_rt(struct tp_worker *w)
{
	for (size_t i = w->n_static; i < w->n_listeners; i++)
		if (!w->listeners[i].cfg)
			return &w->listeners[i];
	if (w->n_listeners >= w->cap_listeners)
		return NULL;
	return &w->listeners[w->n_listeners++];
}

/* The memfd's text, whole. */
static char *read_text(int fd, size_t *len)
{
	struct stat st;
	char *buf;
	ssize_t n;

	if (fstat(fd, &st) < 0 || st.st_size <= 0 || (uint64_t)st.st_size > TP_LDS_MAX_TEXT)
		return NULL;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return NULL;
	n = pread(fd, buf, (size_t)st.st_size, 0);
	if (n != st.st_size) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

/* The last text parsed: one update adds its listeners in a row, each message with the same
 * text, which is parsed once. Matched by its bytes (a memfd's inode number may be reused). */
static struct {
	char *text;
	size_t len;
	struct tp_xds_resources res;
} parsed;

static void parsed_free(void)
{
	free(parsed.text);
	tp_xds_resources_free(&parsed.res);
	memset(&parsed, 0, sizeof(parsed));
}

/* text's resources (taking text), or NULL with errs saying why. */
static const struct tp_xds_resources *parse(char *text, size_t len, struct tp_cfg_errors *errs)
{
	if (parsed.text && parsed.len == len && !memcmp(parsed.text, text, len)) {
		free(text);
		return &parsed.res;
	}
	parsed_free();
	if (tp_xds_parse("(lds)", text, len, TP_XDS_TYPE_LISTENER, &parsed.res, errs) < 0) {
		free(text);
		parsed_free();
		return NULL;
	}
	parsed.text = text;
	parsed.len = len;
	return &parsed.res;
}

/* The master validated this very text against a configuration like ours: any failure here is
 * a bug (or memory), logged, and the listener is not served by this worker. */
/* The shared memory sfd holds, mapped for l (or NULL when it has none: sfd -1). */
static void *map_shared(struct tp_listener_cfg *l, int sfd, size_t *len, char *err, size_t errlen)
{
	size_t need = tp_listener_shared_bytes(l);
	struct stat st;
	void *p;

	*len = 0;
	if (!need)
		return NULL;
	if (sfd < 0 || fstat(sfd, &st) < 0 || (uint64_t)st.st_size < need) {
		snprintf(err, errlen, "no shared memory for its filters");
		return MAP_FAILED;
	}
	p = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "shared memory: %s", strerror(errno));
		return MAP_FAILED;
	}
	*len = need;
	tp_listener_bind_shared(l, p);
	return p;
}

static void add(struct tp_worker *w, const struct tp_lds_msg *m, const uint32_t *bases, int lfd,
		int tfd, int sfd)
{
	void *shm = NULL;
	size_t shm_len = 0;
	struct tp_cfg_errors errs = {0};
	struct tp_config *ov = NULL;
	struct tp_listener_rt *rt;
	struct tp_listener_cfg *l;
	const struct tp_xds_resources *res;
	char err[256] = "";
	size_t len = 0;
	char *text = read_text(tfd, &len);
	int ret;

	close(tfd);
	if (!text) {
		snprintf(err, sizeof(err), "cannot read its text");
		goto out_fail;
	}
	/* The whole response as the master read it; ours is its resource h.cluster. */
	res = parse(text, len, &errs);
	if (!res || m->h.cluster >= res->n) {
		snprintf(err, sizeof(err), "its text does not parse: %s",
			 errs.n ? errs.lines[0] : "no such resource");
		goto out_fail;
	}
	ret = tp_lds_decode(w->cfg, "(lds)", &res->items[m->h.cluster], 1, &ov, &errs);
	if (ret < 0) {
		snprintf(err, sizeof(err), "%s", errs.n ? errs.lines[0] : strerror(-ret));
		goto out_fail;
	}
	l = &ov->listeners[0];
	if (!tp_lds_fits(w, l, err, sizeof(err)) || make_contexts(w, l, err, sizeof(err)) < 0)
		goto out_fail;
	shm = map_shared(l, sfd, &shm_len, err, sizeof(err));
	if (shm == MAP_FAILED) {
		shm = NULL;
		goto out_fail;
	}
	tp_stats_scope_replay(w->seg, bases, m->h.n);
	ret = tp_listener_register_stats(w->seg, l);
	if (tp_stats_scope_end(w->seg) < 0 || ret < 0) {
		snprintf(err, sizeof(err), "its stats scopes are not the master's");
		goto out_fail;
	}
	rt = new_rt(w);
	if (!rt) {
		snprintf(err, sizeof(err), "more than %d listeners", TP_LDS_MAX_LISTENERS);
		goto out_fail;
	}
	for (size_t c = 0; c < l->n_filter_chains; c++) {
		const struct tp_filter_chain_cfg *ch = &l->filter_chains[c];

		for (size_t f = 0; f < ch->n_filters; f++)
			if (ch->filters[f].ops->worker_start)
				ch->filters[f].ops->worker_start(ch->filters[f].conf, w->slot,
								 w->n_slots);
	}
	memset(rt, 0, sizeof(*rt));
	rt->cfg = l;
	rt->idx = (uint32_t)(rt - w->listeners);
	rt->fd = lfd;
	rt->dyn_id = m->h.version;
	rt->dyn_cfg = ov;
	rt->shm = shm;
	rt->shm_len = shm_len;
	/* From now on every connection records what its formats read too (never less again: a
	 * connection does not know which listener's logs will want it). */
	w->lds_format_needs |= ov->format_needs;
	tp_stat_inc(w->stats, m->lm_base + TP_LISTENER_MANAGER_listener_create_success);
	tp_debug("listener %s (LDS, id %llu) on %s added", l->name, (unsigned long long)rt->dyn_id,
		 l->addr.text);
	tp_worker_listen(w, rt);
	if (sfd >= 0)
		close(sfd);
	tp_cfg_errors_free(&errs);
	return;

out_fail:
	tp_error("LDS listener (id %llu) not added in worker %u: %s",
		 (unsigned long long)m->h.version, w->slot, err);
	tp_stat_inc(w->stats, m->lm_base + TP_LISTENER_MANAGER_listener_create_failure);
	if (ov) {
		free_contexts(w, &ov->listeners[0]);
		tp_lds_free(ov);
	}
	close(lfd);
	if (sfd >= 0)
		close(sfd);
	if (shm)
		munmap(shm, shm_len);
	tp_cfg_errors_free(&errs);
}

static void del(struct tp_worker *w, const struct tp_lds_msg *m)
{
	struct tp_listener_rt *l = find(w, m->h.version);
	struct io_uring_sqe *sqe;

	if (!l || l->removed)
		return;
	l->removed = true;
	tp_debug("listener %s (LDS, id %llu) removed: %u connection(s) draining", l->cfg->name,
		 (unsigned long long)l->dyn_id, l->n_conns);
	tp_worker_unlisten(w, l);
	if (l->n_conns && m->drain_ms) {
		/* Its connections run on, as a draining generation's do, for the drain time. */
		l->drain_ts.tv_sec = (long long)(m->drain_ms / 1000);
		l->drain_ts.tv_nsec = (long long)(m->drain_ms % 1000) * 1000000;
		sqe = tp_ring_get_sqe(&w->ring);
		io_uring_prep_timeout(sqe, &l->drain_ts, 0, 0);
		io_uring_sqe_set_data64(
			sqe, tp_udata(TP_OP_ACCEPT_RESUME, 1, l->idx, (uint32_t)l->dyn_id));
	}
	tp_lds_listener_check(w, l);
}

void tp_lds_worker_msg(struct tp_worker *w, const struct tp_hs_head *h, size_t len, int *fds,
		       int nfds)
{
	const struct tp_lds_msg *m = (const struct tp_lds_msg *)h;
	bool ok = len >= sizeof(*m) && h->n <= TP_LDS_MAX_BASES &&
		  len == sizeof(*m) + (h->type == TP_HS_LISTENER_ADD ? h->n * sizeof(uint32_t) : 0);

	if (ok && h->type == TP_HS_LISTENER_ADD && (nfds == 2 || nfds == 3)) {
		add(w, m, (const uint32_t *)(m + 1), fds[0], fds[1], nfds == 3 ? fds[2] : -1);
		return;
	}
	if (ok && h->type == TP_HS_LISTENER_DEL && nfds == 0) {
		del(w, m);
		return;
	}
	tp_warn("LDS: malformed message ignored");
	while (nfds)
		close(fds[--nfds]);
}

static void release(struct tp_worker *w, struct tp_listener_rt *l)
{
	tp_debug("listener %s (LDS, id %llu) gone", l->cfg->name, (unsigned long long)l->dyn_id);
	free_contexts(w, &l->dyn_cfg->listeners[0]);
	tp_lds_free(l->dyn_cfg);
	if (l->shm)
		munmap(l->shm, l->shm_len);
	memset(l, 0, sizeof(*l));
	l->fd = -1;
	while (w->n_listeners > w->n_static && !w->listeners[w->n_listeners - 1].cfg)
		w->n_listeners--;
}

void tp_lds_listener_check(struct tp_worker *w, struct tp_listener_rt *l)
{
	if (l->dyn_id && l->removed && !l->accepting && l->fd < 0 && !l->n_conns)
		release(w, l);
}

void tp_lds_drain_deadline(struct tp_worker *w, uint32_t idx, uint32_t id32)
{
	struct tp_listener_rt *l;

	if (idx >= w->n_listeners)
		return;
	l = &w->listeners[idx];
	if (!l->cfg || !l->removed || (uint32_t)l->dyn_id != id32 || !l->n_conns)
		return;
	tp_info("listener %s (LDS): drain time over; closing its %u connection(s)", l->cfg->name,
		l->n_conns);
	tp_conn_close_listener(w, l);
}

void tp_lds_worker_fini(struct tp_worker *w)
{
	parsed_free();
	for (size_t i = w->n_static; i < w->n_listeners; i++) {
		struct tp_listener_rt *l = &w->listeners[i];

		if (!l->cfg)
			continue;
		if (l->fd >= 0)
			close(l->fd);
		free_contexts(w, &l->dyn_cfg->listeners[0]);
		tp_lds_free(l->dyn_cfg);
		if (l->shm)
			munmap(l->shm, l->shm_len);
		memset(l, 0, sizeof(*l));
	}
	w->n_listeners = w->n_static;
}

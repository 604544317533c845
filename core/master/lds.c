/* LDS: the listeners of dynamic_resources.lds_config, a DiscoveryResponse file the master
 * watches (core/master/xds_file.h). Each version is decoded and checked whole, as static
 * listeners are, against the configuration the workers serve; only a good one is applied, at
 * once and without a restart: a listener added gets its sockets (bound here, one SO_REUSEPORT
 * socket per worker slot, as a static listener's) and its stats scopes (registered here, the
 * workers only replay the bases), and each worker of every accepting generation is sent its
 * socket and the file's text on the host-set channel (core/worker/listener_dyn.c). A listener
 * removed is taken back from the workers, which stop accepting on it and let its connections
 * drain; one changed (same name, other text) is a new listener under the same name: added,
 * then the old one removed, so that its address never lacks an accept. */
#include "core/master/lds.h"
#include "core/master/master-int.h"

#include "core/base/log.h"
#include "core/base/mloop.h"
#include "core/base/sbuf.h"
#include "core/base/timer.h"
#include "core/config/config.h"
#include "core/config/dump.h"
#include "core/config/xds.h"
#include "core/master/xds_file.h"
#include "core/worker/listener_dyn.h"
#include "core/worker/worker.h"
#include "shm/stats.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* One version of the file, as the workers decode it: the whole text in a sealed memfd. Kept
 * while a listener of it is current (a worker forked later is sent the same text). */
struct lds_text {
	int fd;
	unsigned refs;
};

struct lds_shm {
	uint32_t epoch;
	int fd;
};

struct lds_listener {
	char *name;
	struct tp_sockaddr addr; /* for the log and /listeners */
	char *dump;		 /* its /config_dump entry (DynamicListener), secrets redacted */
	uint64_t hash;		 /* of its resource as written: equal means unchanged */
	uint64_t id;		 /* never reused: what the workers know it by */
	uint32_t index;		 /* its place among the text's resources */
	struct lds_text *txt;	 /* the text it came in */
	struct lsock *sock;
	uint32_t *bases; /* its stats scopes, in registration order */
	uint32_t n_bases;
	/* What its filters count across workers (connection_limit): shared_len bytes, a memfd
	 * per generation, made when the generation's first worker is sent the listener (each
	 * generation counts its own connections, as it does for a static listener). */
	size_t shared_len;
	struct lds_shm *shm;
	uint32_t n_shm;
};

struct lds {
	struct master *m;
	struct tp_config_source_cfg src;
	struct tp_xds_file *f;
	const struct tp_config *boot_cfg; /* the base until the first generation exists */
	struct lds_listener *v;		  /* the current set */
	size_t n;
	char *version;
	uint64_t next_id;
	/* Every LDS listener's scopes, never released: a removed listener's counters keep their
	 * history, and a row is never given to another scope while a draining worker may still
	 * write it. */
	struct tp_stats_hold hold;
	uint32_t lm_base; /* listener_manager */
	uint32_t draining;
	struct tp_admin_listener *admin; /* [n], for the admin's /listeners */
	char *dump;			 /* the view's lds_dump */
};

/* ---- resources ---- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ull;
	return h;
}

/* A resource's content, positions left out: the same Listener moved in the file is the same. */
static uint64_t node_hash(uint64_t h, const struct tp_ynode *n)
{
	uint8_t t;

	if (!n)
		return fnv(h, "~", 1);
	t = (uint8_t)n->type;
	h = fnv(h, &t, 1);
	if (n->type == TP_YNODE_SCALAR) {
		h = fnv(h, &n->quoted, 1);
		h = fnv(h, &n->len, sizeof(n->len));
		return fnv(h, n->str, n->len);
	}
	h = fnv(h, &n->n, sizeof(n->n));
	for (size_t i = 0; i < n->n; i++) {
		if (n->type == TP_YNODE_SEQ) {
			h = node_hash(h, n->items[i]);
		} else {
			h = node_hash(h, n->pairs[i].key);
			h = node_hash(h, n->pairs[i].value);
		}
	}
	return h;
}

static void text_put(struct lds_text *t)
{
	if (t && !--t->refs) {
		close(t->fd);
		free(t);
	}
}

/* The file's text in a sealed memfd: what each worker reads, and cannot change under another. */
static struct lds_text *text_new(const char *text, size_t len)
{
	struct lds_text *t = calloc(1, sizeof(*t));
	size_t off = 0;

	if (!t)
		return NULL;
	t->fd = memfd_create("tcpproxy-lds", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (t->fd < 0)
		goto out_free;
	while (off < len) {
		ssize_t n = write(t->fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out_close;
		off += (size_t)n;
	}
	if (fcntl(t->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		goto out_close;
	t->refs = 1;
	return t;

out_close:
	close(t->fd);
out_free:
	free(t);
	return NULL;
}

static void listener_free(struct master *m, struct lds_listener *l)
{
	free(l->name);
	free(l->dump);
	free(l->bases);
	for (uint32_t i = 0; i < l->n_shm; i++)
		close(l->shm[i].fd);
	free(l->shm);
	text_put(l->txt);
	lsock_put(m, l->sock);
	memset(l, 0, sizeof(*l));
}

/* ---- what the admin shows ---- */

/* Envoy's ListenersConfigDump.DynamicListener of resource n, with its active_state. */
static char *render_entry(const char *name, const struct tp_ynode *n, const char *version)
{
	struct tp_sbuf b = TP_SBUF_INIT;
	struct timespec ts;
	struct tm tm;
	char when[40];
	bool cut = false;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	tp_sbuf_puts(&b, "{\"name\":");
	tp_sbuf_json_str(&b, name);
	tp_sbuf_puts(&b, ",\"active_state\":{\"version_info\":");
	tp_sbuf_json_str(&b, version);
	tp_sbuf_puts(&b, ",\"listener\":");
	if (tp_config_dump_render(n, TP_LDS_MAX_TEXT, &b, &cut) < 0) {
		tp_sbuf_free(&b);
		return NULL;
	}
	tp_sbuf_printf(&b, ",\"last_updated\":\"%s.%03ldZ\"}}", when, ts.tv_nsec / 1000000);
	if (b.oom) {
		tp_sbuf_free(&b);
		return NULL;
	}
	return b.p;
}

/* The view's LDS part, after each applied update. */
static void update_view(struct lds *d)
{
	struct tp_master_view *v = &d->m->view;
	struct tp_admin_listener *a = calloc(d->n ? d->n : 1, sizeof(*a));
	struct tp_sbuf b = TP_SBUF_INIT;

	tp_sbuf_puts(&b, "\"version_info\":");
	tp_sbuf_json_str(&b, d->version ? d->version : "");
	tp_sbuf_puts(&b, ",\"dynamic_listeners\":[");
	for (size_t i = 0, k = 0; i < d->n; i++) {
		if (a) {
			a[i].name = d->v[i].name;
			a[i].addr = &d->v[i].addr;
		}
		if (!d->v[i].dump)
			continue;
		tp_sbuf_printf(&b, "%s%s", k++ ? "," : "", d->v[i].dump);
	}
	tp_sbuf_putc(&b, ']');
	free(d->admin);
	free(d->dump);
	d->admin = a;
	d->dump = b.oom ? NULL : b.p;
	if (b.oom)
		tp_sbuf_free(&b);
	v->lds_listeners = a;
	v->n_lds_listeners = a ? d->n : 0;
	v->lds_dump = d->dump;
}

/* ---- the workers ---- */

static bool has(const struct wslot *ws, uint64_t id)
{
	for (uint32_t i = 0; i < ws->n_lds_has; i++)
		if (ws->lds_has[i] == id)
			return true;
	return false;
}

static bool current(const struct lds *d, uint64_t id)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].id == id)
			return true;
	return false;
}

/* l's shared memory for generation g's workers, made on first use; -1 when it has none, or
 * -2 when it cannot be made (logged). Memory of generations gone is let go here too. */
static int shared_fd(struct master *m, struct lds_listener *l, const struct gen *g)
{
	struct lds_shm *v;
	int fd;

	if (!l->shared_len)
		return -1;
	for (uint32_t i = 0; i < l->n_shm;) {
		bool live = false;

		if (l->shm[i].epoch == g->epoch)
			return l->shm[i].fd;
		for (const struct gen *o = m->gens; o && !live; o = o->next)
			live = o->epoch == l->shm[i].epoch;
		if (live) {
			i++;
			continue;
		}
		close(l->shm[i].fd);
		l->shm[i] = l->shm[--l->n_shm];
	}
	v = realloc(l->shm, (l->n_shm + 1) * sizeof(*v));
	if (!v)
		goto out_err;
	l->shm = v;
	fd = memfd_create("tcpproxy-lds-shared", MFD_CLOEXEC);
	if (fd < 0)
		goto out_err;
	/* Zeroes: no connection counted yet. */
	if (ftruncate(fd, (off_t)l->shared_len) < 0) {
		close(fd);
		goto out_err;
	}
	l->shm[l->n_shm].epoch = g->epoch;
	l->shm[l->n_shm++].fd = fd;
	return fd;

out_err:
	tp_error("LDS listener %s: shared memory: %s", l->name, strerror(errno));
	return -2;
}

bool lds_flush(struct gen *g, struct wslot *ws)
{
	struct lds *d = g->m->lds;
	uint64_t *v;

	if (!d || !gen_accepts(g->state))
		return true;
	if (ws->hs < 0 || ws->hs_blocked)
		return false;
	/* New ones first: a changed listener's new version accepts before its old one stops. */
	for (size_t i = 0; i < d->n; i++) {
		struct lds_listener *l = &d->v[i];
		size_t len = sizeof(struct tp_lds_msg) + l->n_bases * sizeof(uint32_t);
		struct tp_lds_msg *msg;
		int fds[3], sfd;
		bool ok;

		if (has(ws, l->id))
			continue;
		sfd = shared_fd(g->m, l, g);
		if (sfd == -2)
			return false;
		v = realloc(ws->lds_has, (ws->n_lds_has + 1) * sizeof(*v));
		msg = calloc(1, len);
		if (!v || !msg) {
			if (v)
				ws->lds_has = v;
			free(msg);
			tp_error("LDS: out of memory");
			return false;
		}
		ws->lds_has = v;
		msg->h.magic = TP_HS_MAGIC;
		msg->h.type = TP_HS_LISTENER_ADD;
		msg->h.cluster = l->index;
		msg->h.n = l->n_bases;
		msg->h.version = l->id;
		msg->lm_base = d->lm_base;
		memcpy(msg + 1, l->bases, l->n_bases * sizeof(uint32_t));
		fds[0] = l->sock->fds[ws->slot];
		fds[1] = l->txt->fd;
		fds[2] = sfd;
		ok = hs_send(g, ws, msg, len, fds, sfd >= 0 ? 3 : 2);
		free(msg);
		if (!ok)
			return false;
		ws->lds_has[ws->n_lds_has++] = l->id;
	}
	for (uint32_t i = 0; i < ws->n_lds_has;) {
		struct tp_lds_msg msg = {.h = {.magic = TP_HS_MAGIC, .type = TP_HS_LISTENER_DEL}};

		if (current(d, ws->lds_has[i])) {
			i++;
			continue;
		}
		msg.h.version = ws->lds_has[i];
		msg.lm_base = d->lm_base;
		msg.drain_ms = (uint64_t)g->m->opts->drain_time_s * 1000;
		if (!hs_send(g, ws, &msg, sizeof(msg), NULL, 0))
			return false;
		ws->lds_has[i] = ws->lds_has[--ws->n_lds_has];
	}
	return true;
}

void lds_worker_reset(struct wslot *ws)
{
	free(ws->lds_has);
	ws->lds_has = NULL;
	ws->n_lds_has = 0;
}

static void publish(struct lds *d)
{
	for (struct gen *g = d->m->gens; g; g = g->next)
		if (gen_accepts(g->state))
			for (unsigned s = 0; s < d->m->opts->concurrency; s++)
				if (g->w[s].pid)
					lds_flush(g, &g->w[s]);
}

/* ---- updates ---- */

/* The configuration new listeners are checked against: the newest accepting generation's
 * (a reload's, once it starts), or at boot the one the first generation will serve. */
static const struct tp_config *base_cfg(const struct lds *d)
{
	for (const struct gen *g = d->m->gens; g; g = g->next)
		if (gen_accepts(g->state))
			return g->cfg;
	return d->boot_cfg;
}

/* Whether every listener of ov fits the connection slots of the workers that run base. */
static void check_fits(const struct tp_config *base, const struct tp_config *ov,
		       const struct tp_xds_resources *r, struct tp_cfg_errors *errs)
{
	struct tp_worker w;
	char why[256];

	memset(&w, 0, sizeof(w));
	tp_worker_size_slots(&w, base);
	for (size_t i = 0; i < ov->n_listeners; i++) {
		const struct tp_listener_cfg *l = &ov->listeners[i];

		if (!tp_lds_fits(&w, l, why, sizeof(why)))
			tp_cfg_errors_add(errs, l->mark.line, l->mark.col,
					  "%s:%u:%u: resources[%zu]: %s", r->file, l->mark.line,
					  l->mark.col, i, why);
	}
}

static void on_drained(struct tp_mloop *loop, void *arg)
{
	struct lds *d = arg;

	if (d->draining)
		d->draining--;
	tp_stat_set(d->m->blk, d->lm_base + TP_LISTENER_MANAGER_total_listeners_draining,
		    d->draining);
}

/* A listener the workers drain: counted as draining for the drain time, as Envoy does. */
static void draining(struct lds *d)
{
	d->draining++;
	tp_stat_set(d->m->blk, d->lm_base + TP_LISTENER_MANAGER_total_listeners_draining,
		    d->draining);
	tp_mloop_at(d->m->loop, tp_now_ms() + d->m->opts->drain_time_s * 1000ull, on_drained, d);
}

static struct lds_listener *find(struct lds *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->v[i].name, name))
			return &d->v[i];
	return NULL;
}

/* The new version's listener i, when new or changed: its sockets. 0, or -errno with errs
 * saying why. */
static int bind_listener(struct lds *d, struct tp_listener_cfg *l, size_t i,
			 const struct tp_xds_resources *r, struct lds_listener *out,
			 struct tp_cfg_errors *errs)
{
	struct master *m = d->m;
	char err[256];
	int ret = 0;

	out->sock = lsock_get(m, l, &ret, err, sizeof(err));
	if (!out->sock) {
		tp_stat_inc(m->blk, d->lm_base + TP_LISTENER_MANAGER_listener_create_failure);
		tp_cfg_errors_add(errs, l->addr_mark.line, l->addr_mark.col,
				  "%s:%u:%u: resources[%zu].address: %s", r->file,
				  l->addr_mark.line, l->addr_mark.col, i, err);
	}
	return ret;
}

/* Then its stats scopes, once every new listener could bind: a version refused for a port in
 * use leaves no scope of its listeners behind. */
static int register_listener(struct lds *d, struct tp_listener_cfg *l, size_t i,
			     const struct tp_xds_resources *r, struct lds_listener *out,
			     struct tp_cfg_errors *errs)
{
	struct master *m = d->m;
	uint32_t bases[TP_LDS_MAX_BASES], n = 0;
	int ret;

	tp_stats_hold_resume(m->stats, &d->hold);
	tp_stats_scope_record(m->stats, bases, TP_LDS_MAX_BASES, &n);
	ret = tp_listener_register_stats(m->stats, l);
	tp_stats_scope_end(m->stats);
	tp_stats_hold_end(m->stats);
	if (!ret && n > TP_LDS_MAX_BASES)
		ret = -E2BIG;
	if (!ret && !(out->bases = malloc((n ? n : 1) * sizeof(uint32_t))))
		ret = -ENOMEM;
	if (ret < 0) {
		tp_cfg_errors_add(errs, l->mark.line, l->mark.col,
				  "%s:%u:%u: resources[%zu]: stats scopes: %s", r->file,
				  l->mark.line, l->mark.col, i,
				  ret == -ENOSPC ? "the stats segment has no room for them"
						 : strerror(-ret));
		return ret;
	}
	memcpy(out->bases, bases, n * sizeof(uint32_t));
	out->n_bases = n;
	out->id = ++d->next_id;
	return 0;
}

static int on_update(void *arg, enum tp_xds_event ev, const struct tp_xds_resources *r,
		     struct tp_cfg_errors *errs)
{
	struct lds *d = arg;
	struct master *m = d->m;
	const struct tp_config *base = base_cfg(d);
	struct tp_config *ov = NULL;
	struct lds_listener *next = NULL;
	struct lds_text *txt = NULL;
	unsigned added = 0, modified = 0, removed = 0;
	struct timespec ts;
	size_t n_next = 0;
	int ret;

	tp_stat_inc(m->blk, d->lm_base + TP_LISTENER_MANAGER_lds_update_attempt);
	if (ev == TP_XDS_UPDATE && !base) {
		/* /drain_listeners: nothing accepts again until a restart, nor do new listeners. */
		tp_cfg_errors_add(errs, 0, 0, "%s: the listeners were drained: restart to serve",
				  r->file);
		ret = -EINVAL;
		goto out_reject;
	}
	if (ev == TP_XDS_FAILED) {
		tp_stat_inc(m->blk, d->lm_base + TP_LISTENER_MANAGER_lds_update_failure);
		return 0;
	}
	if (ev == TP_XDS_REJECTED) {
		tp_stat_inc(m->blk, d->lm_base + TP_LISTENER_MANAGER_lds_update_rejected);
		return 0;
	}
	if (r->n > TP_LDS_MAX_LISTENERS) {
		tp_cfg_errors_add(errs, 0, 0, "%s: %zu listeners: at most %d are served", r->file,
				  r->n, TP_LDS_MAX_LISTENERS);
		ret = -EINVAL;
		goto out_reject;
	}
	ret = tp_lds_decode(base, r->file, r->items, r->n, &ov, errs);
	if (ret < 0)
		goto out_reject;
	/* Every accepting generation's workers will be sent it (the old one's too while a
	 * reload starts): it must fit theirs all. */
	check_fits(base, ov, r, errs);
	for (const struct gen *g = m->gens; g && errs->n == errs->n_warnings; g = g->next)
		if (gen_accepts(g->state) && g->cfg != base)
			check_fits(g->cfg, ov, r, errs);
	if (errs->n > errs->n_warnings) {
		ret = -EINVAL;
		goto out_reject;
	}
	next = calloc(r->n ? r->n : 1, sizeof(*next));
	txt = text_new(r->text, r->len);
	if (!next || !txt) {
		tp_cfg_errors_add(errs, 0, 0, "%s: %s", r->file, strerror(ENOMEM));
		ret = -ENOMEM;
		goto out_reject;
	}
	for (size_t i = 0; i < r->n; i++) {
		struct tp_listener_cfg *l = &ov->listeners[i];
		struct lds_listener *nl = &next[n_next];
		struct lds_listener *old = find(d, l->name);
		uint64_t h = node_hash(0xcbf29ce484222325ull, r->items[i]);

		nl->name = strdup(l->name);
		nl->addr = l->addr;
		nl->addr.host = NULL; /* a listener's address is never a name */
		nl->dump = old && old->hash == h && old->dump
				   ? strdup(old->dump)
				   : render_entry(l->name, r->items[i], r->version_info);
		if (!nl->name || !nl->dump) {
			free(nl->name);
			free(nl->dump);
			nl->name = nl->dump = NULL;
			tp_cfg_errors_add(errs, 0, 0, "%s: %s", r->file, strerror(ENOMEM));
			ret = -ENOMEM;
			goto out_reject;
		}
		nl->hash = h;
		n_next++;
		if (old && old->hash == h) {
			/* Unchanged: the same listener, its text the version it came in. */
			nl->id = old->id;
			nl->index = old->index;
			nl->txt = old->txt;
			nl->txt->refs++;
			nl->sock = old->sock;
			nl->sock->refs++;
			nl->bases = malloc((old->n_bases ? old->n_bases : 1) * sizeof(uint32_t));
			if (!nl->bases) {
				tp_cfg_errors_add(errs, 0, 0, "%s: %s", r->file, strerror(ENOMEM));
				ret = -ENOMEM;
				goto out_reject;
			}
			memcpy(nl->bases, old->bases, old->n_bases * sizeof(uint32_t));
			nl->n_bases = old->n_bases;
			/* The same counters: its workers keep counting where they are. */
			nl->shared_len = old->shared_len;
			nl->shm = calloc(old->n_shm ? old->n_shm : 1, sizeof(*nl->shm));
			for (uint32_t k = 0; nl->shm && k < old->n_shm; k++) {
				nl->shm[k].epoch = old->shm[k].epoch;
				nl->shm[k].fd = fcntl(old->shm[k].fd, F_DUPFD_CLOEXEC, 0);
				if (nl->shm[k].fd >= 0)
					nl->n_shm++;
			}
			if (!nl->shm || nl->n_shm != old->n_shm) {
				tp_cfg_errors_add(errs, 0, 0, "%s: %s", r->file, strerror(errno));
				ret = -ENOMEM;
				goto out_reject;
			}
			continue;
		}
		ret = bind_listener(d, l, i, r, nl, errs);
		if (ret < 0)
			goto out_reject;
		nl->index = (uint32_t)i;
		nl->txt = txt;
		txt->refs++;
		nl->shared_len = tp_listener_shared_bytes(l);
		if (old)
			modified++;
		else
			added++;
	}
	for (size_t i = 0; i < n_next; i++) {
		if (next[i].id)
			continue;
		ret = register_listener(d, &ov->listeners[next[i].index], next[i].index, r,
					&next[i], errs);
		if (ret < 0)
			goto out_reject;
	}
	/* Applied from here on: nothing below fails. */
	for (size_t i = 0; i < d->n; i++) {
		bool kept = false, renamed = true;

		for (size_t j = 0; j < n_next && !kept; j++) {
			kept = next[j].id == d->v[i].id;
			renamed &= !!strcmp(next[j].name, d->v[i].name);
		}
		if (kept)
			continue;
		/* Gone, or replaced by a new version: either way its connections drain. */
		removed += renamed;
		draining(d);
		tp_info("LDS: listener %s on %s %s; its connections drain", d->v[i].name,
			d->v[i].addr.text, renamed ? "removed" : "replaced");
	}
	for (size_t i = 0; i < d->n; i++)
		listener_free(m, &d->v[i]);
	free(d->v);
	d->v = next;
	d->n = n_next;
	next = NULL;
	free(d->version);
	d->version = strdup(r->version_info);
	tp_stat_add(m->blk, d->lm_base + TP_LISTENER_MANAGER_listener_added, added);
	tp_stat_add(m->blk, d->lm_base + TP_LISTENER_MANAGER_listener_modified, modified);
	tp_stat_add(m->blk, d->lm_base + TP_LISTENER_MANAGER_listener_removed, removed);
	tp_stat_inc(m->blk, d->lm_base + TP_LISTENER_MANAGER_lds_update_success);
	tp_stat_set(m->blk, d->lm_base + TP_LISTENER_MANAGER_total_listeners_active,
		    base->n_listeners + d->n);
	tp_stat_set(m->blk, d->lm_base + TP_LISTENER_MANAGER_lds_version,
		    fnv(0xcbf29ce484222325ull, r->version_info, strlen(r->version_info)));
	clock_gettime(CLOCK_REALTIME, &ts);
	tp_stat_set(m->blk, d->lm_base + TP_LISTENER_MANAGER_lds_update_time,
		    (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
	update_view(d);
	tp_info("LDS: version \"%s\" applied: %zu listener(s), %u added, %u modified, %u removed",
		r->version_info, d->n, added, modified, removed);
	publish(d);
	text_put(txt);
	tp_lds_free(ov);
	return 0;

out_reject:
	tp_stat_inc(m->blk, d->lm_base + TP_LISTENER_MANAGER_lds_update_rejected);
	for (size_t i = 0; i < n_next; i++)
		listener_free(m, &next[i]);
	free(next);
	text_put(txt);
	tp_lds_free(ov);
	return ret < 0 ? ret : -EINVAL;
}

int tp_lds_validate(const struct tp_config *cfg, struct tp_cfg_errors *errs)
{
	struct tp_xds_resources r = {0};
	struct tp_config *ov = NULL;
	int ret;

	if (!cfg->lds.path)
		return 0;
	ret = tp_xds_read(cfg->lds.path, TP_XDS_TYPE_LISTENER, &r, errs);
	if (ret < 0 && !r.doc) {
		/* Not there yet: the master waits for it. Said, not failed. */
		for (size_t i = 0; i < errs->n; i++) {
			if (errs->warning[i])
				continue;
			errs->warning[i] = true;
			errs->n_warnings++;
		}
		ret = 0;
		goto out;
	}
	if (ret < 0)
		goto out;
	ret = tp_lds_decode(cfg, r.file, r.items, r.n, &ov, errs);
	if (ret < 0)
		goto out;
	check_fits(cfg, ov, &r, errs);
	if (errs->n > errs->n_warnings)
		ret = -EINVAL;
out:
	tp_lds_free(ov);
	tp_xds_resources_free(&r);
	return ret;
}

/* ---- life ---- */

int lds_open(struct master *m, const struct tp_config *cfg, char *why, size_t whylen)
{
	struct lds *d = calloc(1, sizeof(*d));
	int ret;

	if (!d || tp_config_source_copy(&d->src, &cfg->lds) < 0) {
		free(d);
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	d->m = m;
	d->boot_cfg = cfg;
	m->lds = d;
	tp_stats_hold_begin(m->stats, &d->hold);
	ret = tp_stats_scope(m->stats, TP_SCOPE_LISTENER_MANAGER, "", &d->lm_base);
	tp_stats_hold_end(m->stats);
	if (ret < 0) {
		snprintf(why, whylen, "stats scope listener_manager: %s", strerror(-ret));
		lds_close(m);
		return ret;
	}
	tp_stat_set(m->blk, d->lm_base + TP_LISTENER_MANAGER_total_listeners_active,
		    cfg->n_listeners);
	ret = tp_xds_file_open(m->loop, &d->src, TP_XDS_TYPE_LISTENER, on_update, d, &d->f, why,
			       whylen);
	d->boot_cfg = NULL;
	if (ret < 0) {
		lds_close(m);
		return ret;
	}
	return 0;
}

int lds_reload_check(struct master *m, const struct tp_config *cfg, char *why, size_t whylen)
{
	struct lds *d = m->lds;
	struct tp_cfg_errors errs = {0};
	struct tp_xds_resources r = {0};
	struct tp_config *ov = NULL;
	int ret;

	if (!d && !cfg->lds.path)
		return 0;
	if (!d || !cfg->lds.path || !tp_config_source_equal(&d->src, &cfg->lds)) {
		snprintf(why, whylen,
			 "dynamic_resources.lds_config cannot change on a reload: restart to "
			 "change it");
		return -EINVAL;
	}
	if (!d->n)
		return 0;
	/* The listeners the workers of the new generation will be sent, checked against it: a
	 * cluster they name must still be there. The file is read again for it, but not
	 * applied: what it holds now comes as its own update. */
	ret = tp_xds_read(d->src.path, TP_XDS_TYPE_LISTENER, &r, &errs);
	if (!ret) {
		const struct tp_ynode **items = calloc(d->n, sizeof(*items));

		ret = -ENOMEM;
		if (items) {
			size_t k = 0;

			for (size_t i = 0; i < r.n; i++)
				for (size_t j = 0; j < d->n; j++)
					if (node_hash(0xcbf29ce484222325ull, r.items[i]) ==
						    d->v[j].hash &&
					    k < d->n)
						items[k++] = r.items[i];
			ret = tp_lds_decode(cfg, r.file, items, k, &ov, &errs);
			free(items);
		}
	} else {
		/* The file is unreadable now: its listeners were good when they came. */
		ret = 0;
		tp_cfg_errors_free(&errs);
		tp_xds_resources_free(&r);
		return 0;
	}
	for (size_t i = 0; ret < 0 && i < errs.n; i++)
		tp_error("%s", errs.lines[i]);
	if (ret < 0)
		snprintf(why, whylen, "the LDS listeners of %s do not fit the new configuration",
			 d->src.path);
	tp_lds_free(ov);
	tp_xds_resources_free(&r);
	tp_cfg_errors_free(&errs);
	return ret;
}

const char *lds_name(const struct master *m, uint32_t id31)
{
	for (size_t i = 0; m->lds && i < m->lds->n; i++)
		if ((uint32_t)(m->lds->v[i].id & 0x7fffffff) == id31)
			return m->lds->v[i].name;
	return "";
}

void lds_serving(struct master *m, const struct gen *g)
{
	if (m->lds)
		tp_stat_set(m->blk, m->lds->lm_base + TP_LISTENER_MANAGER_total_listeners_active,
			    g->cfg->n_listeners + m->lds->n);
}

void lds_close(struct master *m)
{
	struct lds *d = m->lds;

	if (!d)
		return;
	tp_xds_file_close(d->f);
	for (size_t i = 0; i < d->n; i++)
		listener_free(m, &d->v[i]);
	free(d->v);
	free(d->version);
	free(d->admin);
	free(d->dump);
	m->view.lds_listeners = NULL;
	m->view.n_lds_listeners = 0;
	m->view.lds_dump = NULL;
	tp_stats_hold_release(m->stats, &d->hold);
	tp_config_source_free(&d->src);
	free(d);
	m->lds = NULL;
}

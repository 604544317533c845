/* The master's parts, shared by its files and nobody else: listening sockets (listener.c),
 * generations and their states (generation.c), worker supervision (supervise.c), and the loop,
 * signals and start-up (master.c). */
#ifndef TP_MASTER_INT_H
#define TP_MASTER_INT_H

#include "core/config/config-t.h"
#include "core/master/master-t.h"
#include "core/master/master.h"
#include "shm/stats-t.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct tp_mloop;
struct tp_stats;
struct tp_stats_block;
struct conns_round;

/* A slot whose worker dies this often this fast is restarted at most once a second
 * (systemd's default start limit is the same 5 in 10 s). */
#define CRASH_BURST	 5
#define CRASH_WINDOW_MS	 10000
#define CRASH_BACKOFF_MS 1000
/* A new generation whose workers are not all ready by then is abandoned. */
#define START_TIMEOUT_MS 10000
/* A worker still running this long after SIGTERM gets SIGKILL. */
#define KILL_GRACE_MS 5000

/* A configured address and its sockets, one per worker slot, kept while any generation that
 * accepts on it exists. */
struct lsock {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[64];
	int *fds;      /* [concurrency] */
	unsigned refs; /* starting or serving generations that listen on it */
	struct lsock *next;
};

/* A generation's life. gen_set_state() is the only place that changes it:
 *
 *   STARTING ──every worker ready──► SERVING ──a newer one serves, SIGTERM──► DRAINING
 *       │                               │                                        │
 *       │ start failed, SIGTERM         │ SIGINT        drain deadline, cap, SIGINT │
 *       └───────────────────────────────┴──────────────► CLOSING ◄───────────────┘
 *
 * A draining or closing generation is freed (settle() sweeps it) once its last worker has
 * exited. */
enum gen_state {
	GEN_STARTING, /* forked, waiting for every worker's ready byte; start timeout armed */
	GEN_SERVING,  /* accepting; a worker that dies is restarted */
	GEN_DRAINING, /* told to stop accepting (SIGQUIT), serving its open connections until they
		       * end; drain deadline armed */
	GEN_CLOSING,  /* told to close its connections now (SIGTERM); kill deadline armed */
};

/* One worker slot of a generation. */
struct wslot {
	pid_t pid;	 /* 0: no worker (not forked yet, dead, waiting out its crash backoff) */
	int ctl;	 /* read end of the worker's control pipe ('R' ready, 'S' view written); -1
		    * once closed */
	int view;	 /* the connection view's memfd, written by the worker; -1: none */
	bool view_asked; /* a connection view is asked of it and not answered yet */
	bool view_overclaimed; /* it listed more sessions than it can hold (warned once) */
	uint32_t view_max;     /* the most sessions it can hold: its descriptor limit (capped) */
	bool ready;
	unsigned stats_slot;
	uint64_t deaths[CRASH_BURST];
	unsigned n_deaths;
	int64_t restart_timer; /* crash backoff: this slot restarts when it fires */
	int hs;		       /* the master's end of the host-set socketpair; -1: none */
	uint64_t *hs_sent;     /* [hs clusters]: the version of each set this worker has */
	bool hs_ready_sent;    /* TP_HS_READY sent */
	bool hs_blocked;       /* the socket was full: POLLOUT armed */
	bool hs_bad_logged;    /* a malformed report from it was logged (once) */
	uint64_t cds_sent;     /* the CDS version it has (cds.c); 0: none */
	/* TP_HS_CDS_LOW: the oldest CDS set it may still write stats for; 0: not heard yet */
	uint64_t cds_bound;
	uint64_t *lds_has; /* the LDS listener ids it was sent (core/master/lds.c) */
	uint32_t n_lds_has;
	struct gen *gen;
	unsigned slot;
};

struct gen {
	struct master *m;
	uint32_t epoch;
	struct tp_config *cfg;
	struct lsock **socks; /* [cfg->n_listeners], held while the generation accepts */
	struct wslot *w;      /* [concurrency] */
	enum gen_state state;
	unsigned n_ready;
	unsigned n_alive;
	int64_t timer; /* the deadline of its state: start timeout, drain deadline, kill deadline */
	struct tp_stats_hold scopes; /* its stat scopes: released when it is freed (or fails) */
	/* The scopes of each CDS set registered while it accepted (core/master/cds.c), oldest
	 * first: one is released when every worker is past it (TP_HS_CDS_LOW) */
	struct cds_hold *cds_holds;
	size_t n_cds_holds;
	struct hs_gen *hs; /* its DNS clusters' host sets (hostset.c) */
	void *shared;	   /* MAP_SHARED memory for filters that count across workers */
	size_t shared_len;
	/* [TP_CDS_MAX_BREAKERS] at the start of shared: the breakers of clusters from CDS */
	struct tp_cb_shared *cds_cb;
	struct gen *next; /* newest first */
};

struct master {
	const struct tp_master_opts *opts;
	struct tp_stats *stats;
	struct tp_stats_block *blk; /* the master's own block */
	uint32_t server_base;
	uint32_t cares_base; /* dns.cares: registered with the first DNS cluster, then kept */
	bool cares_registered;
	char stats_name[64];
	struct lsock *socks;
	struct gen *gens;
	bool *slot_used; /* [n_slots]: stats slots taken by a generation */
	unsigned n_slots;
	uint32_t epoch; /* the serving generation's */
	int sigfd;
	struct tp_mloop *loop;
	struct tp_master_view view;
	bool reload_pending;	/* SIGHUP: settle() runs it once no generation is starting */
	bool reload_waits;	/* for a closing generation's stats slots (logged once) */
	bool stopping;		/* SIGTERM or SIGINT: every generation drains or closes */
	bool failed;		/* the first generation did not start: exit 1 */
	bool drained;		/* POST /drain_listeners: nothing accepts again until a restart */
	int64_t graceful_timer; /* /drain_listeners?graceful: listeners close when it fires */
	bool ready_sent;	/* sd_notify READY=1 sent for generation 0 */
	bool reload_notified;	/* RELOADING=1 sent; READY=1 owed once the reload is over */
	int64_t notify_timer;	/* STATUS= refresh and WATCHDOG=1 */
	int64_t cb_timer;	/* circuit-breaker gauges (on_cb_timer) */
	struct conns_round *conns; /* the live connection view being collected (connview.c) */
	uint32_t cm_base;	   /* cluster_manager.* */
	struct cds *cds;	   /* dynamic_resources.cds_config (cds.c), or NULL */
	uint64_t cds_seq; /* version of the CDS set the workers should have; 0: never any */
	bool done;	  /* leave the loop (decided by settle()) */
	int exit_status;
	struct lds *lds; /* dynamic_resources.lds_config (lds.c), or NULL */
	/* CDS breaker slots ever handed out (cds.c): those a dead worker's counts may be in */
	uint32_t cds_cb_hwm;
};

/* A starting or serving generation accepts: it holds a reference on its listening sockets. */
static inline bool gen_accepts(enum gen_state s)
{
	return s == GEN_STARTING || s == GEN_SERVING;
}

/* ---- listener.c: listening sockets, by address ---- */

/* Takes the sockets for every listener of g: an address already bound is reused, a new one
 * bound now. 0, or -errno with nothing new left bound. */
int lsock_acquire(struct master *m, struct gen *g);
/* Lets go of g's sockets; an address no accepting generation uses any more is closed. */
void lsock_release(struct master *m, struct gen *g);
void lsock_close_all(struct master *m);
/* One address's sockets outside any generation (an LDS listener's): bound now unless some
 * listener has them already; a reference either way. NULL with the reason in err (-errno in
 * *ret). */
struct lsock *lsock_get(struct master *m, const struct tp_listener_cfg *l, int *ret, char *err,
			size_t errlen);
void lsock_put(struct master *m, struct lsock *s);

/* ---- generation.c: generations and their states ---- */

/* Creates, binds and forks a generation for cfg (which it takes over), starting. NULL with the
 * reason in why when it could not (a generation whose fork failed is left closing). */
struct gen *gen_start(struct master *m, struct tp_config *cfg, uint32_t epoch, char *why,
		      size_t whylen);
void gen_set_state(struct gen *g, enum gen_state to);
const char *gen_state_name(enum gen_state s);
/* g will not serve: at boot the master exits 1; after a reload the reload failed. */
void gen_abandon(struct gen *g, const char *why);
/* settle()'s steps: close the oldest draining generation past the cap; free the generations
 * whose workers have all exited. */
void gen_cap_draining(struct master *m);
void gen_sweep(struct master *m);
void gen_destroy(struct gen *g);

/* ---- supervise.c: workers ---- */

/* Forks the worker of g's slot. 0, or -errno (logged). */
int sup_spawn(struct gen *g, unsigned slot);
void sup_signal(struct gen *g, int sig);
/* SIGCHLD: reaps every worker that exited and supervises (restart, abandoned start). */
void sup_reap(struct master *m);
/* The kill deadline of a closing generation (a timer callback; arg is the generation). */
void sup_kill_deadline(struct tp_mloop *l, void *arg);
/* g is being freed: its ready pipes and restart timers go with it. */
void sup_release_slots(struct gen *g);
/* At exit: SIGKILL every worker and wait for them all. */
void sup_kill_all(struct master *m);

/* ---- hostset.c: the host sets of dynamic clusters, published to the workers ---- */

struct hs_gen;
struct hs_cluster;

/* Makes g's host sets and starts resolving its DNS clusters. 0 or -errno (with why). */
int hs_gen_init(struct gen *g, char *why, size_t whylen);
/* g stopped accepting: its DNS clusters stop resolving (its workers keep their hosts). */
void hs_gen_stop(struct gen *g);
void hs_gen_free(struct gen *g);
/* SIGUSR1: the files the generation's host sets write (health check event logs) reopened. */
void hs_gen_reopen_logs(struct gen *g);
/* Before forking ws's worker: the socketpair; *child is the worker's end (closed by the caller
 * after the fork). 0 or -errno. */
int hs_worker_open(struct gen *g, struct wslot *ws, int *child);
/* After the fork: watch the socket and send the current sets (and READY once due). */
void hs_worker_started(struct gen *g, struct wslot *ws);
void hs_worker_close(struct master *m, struct wslot *ws);
/* ws's socket is full: the rest goes out when it can take more (POLLOUT). */
void hs_worker_blocked(struct gen *g, struct wslot *ws);
/* "ip:port", "[ip6]:port": how logs and /clusters name a host. */
struct tp_hs_host;
void hs_host_text(const struct tp_hs_host *h, char *out, size_t len);
/* Sends one message to ws's worker, with nfds (at most TP_HS_MAX_FDS) descriptors passed
 * (SCM_RIGHTS). false: the socket is full (POLLOUT armed; flushed again from there) or gone
 * (closed and logged). */
bool hs_send(struct gen *g, struct wslot *ws, const void *p, size_t len, const int *fds, int nfds);
/* A DNS result: the cluster's new hosts (ids, rows and versions are the master's business). */
struct hs_addr {
	uint32_t ep;
	struct sockaddr_storage ss;
};
void hs_cluster_set(struct hs_cluster *hc, const struct hs_addr *a, uint32_t n);
/* One of the cluster's sources (its resolver or static hosts, its health checks' first round)
 * is in: once all are, the generation may start serving. */
void hs_cluster_initialized(struct hs_cluster *hc);
/* A health check moved host id's /failed_active_hc flag: a new version of the set goes out. */
void hs_cluster_health(struct hs_cluster *hc, uint64_t id, bool failed);
/* Host id's active check passed and it is healthy: with the cluster's outlier_detection
 * successful_active_health_check_uneject_host, an ejected host returns to rotation. */
void hs_cluster_hc_passed(struct hs_cluster *hc, uint64_t id);
bool hs_host_info(struct master *m, const char *cluster, const char *host,
		  struct tp_admin_host *out);

/* Sends every accepting generation's workers the CDS set they lack (cds.c calls it). */
void hs_flush_cds(struct master *m);
/* A cluster from CDS whose hosts the master owns (DNS, health checks, outlier detection), by
 * the id its messages carry (TP_HS_CDS_ID() of its definition version). */
struct hs_cds_ref {
	const struct tp_cluster_cfg *cfg;
	uint32_t id;
};
/* g's host sets of CDS clusters become refs' (cds.c, after each accepted update and for a new
 * generation): one whose definition left stops and goes; with add, each new one that needs a
 * set starts (a generation that no longer accepts only loses them). refs' configurations must
 * live until the next call. */
void hs_cds_sync(struct gen *g, const struct hs_cds_ref *refs, size_t n, bool add);

/* ---- cds.c: dynamic clusters from dynamic_resources.cds_config ---- */
struct cds;
/* Registers cluster_manager.* and, with a cds_config, reads its file and watches it. 0, or
 * -errno with why (the file's directory cannot be watched). */
int cds_start(struct master *m, const struct tp_config *cfg, char *why, size_t whylen);
/* A reload loaded cfg: 0 if its cds_config can be watched (a new one) or has no cluster named
 * like one of cfg's static clusters (the current one), else -errno with why (the reload
 * fails). */
int cds_check(struct master *m, const struct tp_config *cfg, char *why, size_t whylen);
/* A reload loaded cfg: a changed or removed cds_config takes effect now. */
int cds_reconfigure(struct master *m, const struct tp_config *cfg, char *why, size_t whylen);
/* A generation serves: cluster_manager's gauges follow it. */
void cds_serving(struct master *m);
/* In a hold being filled (a generation being made): every dynamic cluster's scopes. */
int cds_register_scopes(struct master *m);
/* A worker of g said which CDS sets it may still write (ws->cds_bound): the sets' scopes no
 * worker of g can write any more are released. */
void cds_release_holds(struct gen *g);
/* g is freed: every CDS set's scopes it holds are released. */
void cds_gen_free(struct gen *g);
/* g's host sets of CDS clusters follow the current set (hostset.c's hs_gen_init() calls it). */
void cds_sync_hostsets(struct master *m, struct gen *g);
void cds_gauges(struct master *m);
/* The CDS clusters' circuit-breaker gauges, from g's breaker pool (master.c's timer). */
void cds_cb_gauges(struct master *m, const struct gen *g);
/* One cluster's circuit-breaker gauges from shared (master.c). */
void master_cb_gauges(struct master *m, const struct tp_cb_cfg *cb,
		      const struct tp_cb_shared *shared);
/* The version workers should have (m->cds_seq), and its sealed memfd: owned by cds.c while
 * CDS is configured; with no CDS (removed by a reload) a new empty one the caller closes. */
uint64_t cds_version(const struct master *m);
int cds_blob(struct master *m);
void cds_free(struct master *m);

/* ---- dns.c: STRICT_DNS and LOGICAL_DNS resolution with c-ares, in the master's loop ---- */

struct dns_cluster;
/* Starts resolving cluster cfg for hc. NULL with why on failure. */
struct dns_cluster *dns_cluster_start(struct master *m, struct hs_cluster *hc,
				      const struct tp_cluster_cfg *cfg, char *why, size_t whylen);
void dns_cluster_stop(struct dns_cluster *d);

/* ---- hc.c: active health checks of a cluster's hosts, in the master's loop ---- */

struct hc_cluster;
/* The checker of cluster cl (its health_checks[0]); no hosts yet. NULL, with the reason in
 * why: out of memory, or its event_log_path cannot be opened. */
struct hc_cluster *hc_cluster_start(struct master *m, struct hs_cluster *hs,
				    const struct tp_cluster_cfg *cl, char *why, size_t whylen);
/* The set's hosts are now these: a session for each new id (its host starts as the set says,
 * /failed_active_hc for a new host), none for the ids gone. */
void hc_cluster_sync(struct hc_cluster *h, const struct tp_hs_host *hosts, uint32_t n);
void hc_cluster_stop(struct hc_cluster *h);
/* SIGUSR1: its event log opened again (logrotate moved it). */
void hc_cluster_reopen(struct hc_cluster *h);

/* ---- connview.c: the live connection view ---- */

int conns_request(void *ctx, tp_conns_fn fn, void *arg);
void conns_cancel(void *ctx, void *arg);
/* ws wrote 'S': counted as its answer when its snapshot is for the round now asked. */
void conns_worker_said(struct master *m, struct wslot *ws);
/* ws answered, or will never answer (its pipe closed). */
void conns_worker_done(struct master *m, struct wslot *ws);
/* At exit: every waiting client is answered with what there is. */
void conns_free(struct master *m);

/* ---- lds.c: dynamic listeners from dynamic_resources.lds_config ---- */

struct lds;
/* Starts watching cfg's lds_config and reads it once, cfg being the configuration the first
 * generation will serve. 0, or -errno with why (the source cannot be watched). */
int lds_open(struct master *m, const struct tp_config *cfg, char *why, size_t whylen);
/* A reload's configuration: the same lds_config, and the current listeners valid against it.
 * 0, or -EINVAL with why. */
int lds_reload_check(struct master *m, const struct tp_config *cfg, char *why, size_t whylen);
/* Sends ws the LDS listeners it does not have and takes back those removed. false: its socket
 * is full (it goes on when it can) or gone. */
bool lds_flush(struct gen *g, struct wslot *ws);
/* ws's worker is new (forked): it has no LDS listener yet. */
void lds_worker_reset(struct wslot *ws);
/* The LDS listener whose id has these low 31 bits, for the connection view: its name, or ""
 * once it is gone. */
const char *lds_name(const struct master *m, uint32_t id31);
/* g serves (a reload's generation): total_listeners_active counts its static listeners. */
void lds_serving(struct master *m, const struct gen *g);
void lds_close(struct master *m);

/* ---- master.c: reload bookkeeping ---- */

/* g serves: a reload succeeded (its time and result in the view and server.* stats), or the
 * first generation is up (the start-up banner). */
void master_serving(struct master *m, const struct gen *g);
void master_reload_failed(struct master *m, const char *why);

#endif

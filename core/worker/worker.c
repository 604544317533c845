/* A worker process: accepts on its own listening sockets, runs every connection's filters and
 * relay on one io_uring, and keeps its timers. One thread, no locks; it shares nothing writable
 * with other workers except its own block of the stats segment. */
#include "core/tls/tls.h"
#include "core/worker/worker.h"
#include "core/worker/hostset.h"
#include "core/worker/listener_dyn.h"

#include "core/accesslog/access_log.h"
#include "core/base/log.h"
#include "core/base/timer.h"
#include "core/conn/chain.h"
#include "core/conn/conn.h"
#include "core/conn/listener_filters.h"
#include "core/conn/session.h"
#include "core/filter.h"
#include "core/worker/cds.h"
#include "core/worker/connview.h"
#include "core/worker/lb.h"
#include "core/tunnel/h2.h"
#include "core/tunnel/tunnel.h"
#include "shm/stats.h"
#include "uring/pool.h"
#include "uring/ring.h"
#include "uring/udata.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <grp.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#define RING_ENTRIES	1024
#define PIPES_KEPT	32
#define BUFS_KEPT	32
#define COPY_BUF_BYTES	(64u * 1024u)
#define PIPE_BYTES	(1024u * 1024u)
#define ACCEPT_PAUSE_MS 100

static int setup_signals(void)
{
	struct sigaction sa;
	sigset_t set;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	/* A write to a peer that has gone must be an EPIPE on that connection, not our death. */
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* SIGTERM, SIGINT (close now), SIGQUIT (drain), SIGUSR1 (reopen the access logs) and
	 * SIGUSR2 (write the connection view) arrive as a completion on the ring, like everything
	 * else: a flag set by a handler could land between its check and the wait, and the wait
	 * would not end. The master blocks them all before it forks, so none can kill a worker
	 * that has not got here yet. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_SETMASK, &set, NULL);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static void arm_signal(struct tp_worker *w)
{
	struct io_uring_sqe *sqe = tp_ring_get_sqe(&w->ring);

	io_uring_prep_poll_add(sqe, w->sigfd, POLLIN);
	io_uring_sqe_set_data64(sqe, tp_udata(TP_OP_SIGNAL, 0, 0, 0));
}

static void arm_hostset(struct tp_worker *w)
{
	struct io_uring_sqe *sqe = tp_ring_get_sqe(&w->ring);

	io_uring_prep_poll_add(sqe, w->hs_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, tp_udata(TP_OP_HOSTSET, 0, 0, 0));
}

static void start_serving(struct tp_worker *w);
static void tell_ready(int fd);

/* A host set from the master: the cluster's balancers are rebuilt over it between two
 * completions; connections keep the hosts they picked. The master is trusted (it is root, or
 * this worker's own user), but its message is still checked against this generation's config. */
static void apply_set(struct tp_worker *w, const struct tp_hs_head *h, size_t len)
{
	const struct tp_hs_host *in = (const struct tp_hs_host *)(h + 1);
	struct tp_lb_host_update *u;
	struct tp_cluster_rt *c;
	int ret;

	if (h->n > TP_HS_MAX_HOSTS || len != sizeof(*h) + h->n * sizeof(*in) ||
	    (!(h->cluster & TP_HS_CDS_BIT) &&
	     (h->cluster >= w->cfg->n_clusters || !w->clusters[h->cluster].dynamic))) {
		tp_warn("host set: malformed message ignored");
		return;
	}
	if (h->cluster & TP_HS_CDS_BIT) {
		/* A definition this worker no longer has (or could not apply): nothing to do. */
		c = tp_cds_find_id(w, h->cluster);
		if (!c || !c->dynamic)
			return;
	} else {
		c = &w->clusters[h->cluster];
	}
	if (h->version <= c->version)
		return;
	u = calloc(h->n ? h->n : 1, sizeof(*u));
	if (!u) {
		tp_warn("host set of cluster %s: out of memory", c->cfg->name);
		return;
	}
	for (uint32_t i = 0; i < h->n; i++) {
		struct tp_sockaddr *sa = &u[i].addr;
		char ip[INET6_ADDRSTRLEN];

		u[i].id = in[i].id;
		u[i].ep = in[i].ep;
		u[i].health = in[i].health & TP_HOST_F_ALL;
		u[i].stats_base = in[i].stats_base;
		if (in[i].family == AF_INET6) {
			struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&sa->ss;

			a6->sin6_family = AF_INET6;
			a6->sin6_port = htons(in[i].port);
			memcpy(&a6->sin6_addr, in[i].addr, 16);
			sa->len = sizeof(*a6);
			inet_ntop(AF_INET6, in[i].addr, ip, sizeof(ip));
			snprintf(sa->text, sizeof(sa->text), "[%s]:%u", ip, in[i].port);
		} else {
			struct sockaddr_in *a4 = (struct sockaddr_in *)&sa->ss;

			a4->sin_family = AF_INET;
			a4->sin_port = htons(in[i].port);
			memcpy(&a4->sin_addr, in[i].addr, 4);
			sa->len = sizeof(*a4);
			inet_ntop(AF_INET, in[i].addr, ip, sizeof(ip));
			snprintf(sa->text, sizeof(sa->text), "%s:%u", ip, in[i].port);
		}
	}
	ret = tp_lb_apply_hosts(c, u, h->n, h->version, tp_rand());
	if (ret < 0)
		tp_warn("host set of cluster %s: %s", c->cfg->name, strerror(-ret));
	else if (c->cfg->close_on_health_failure)
		tp_conn_close_failed_hosts(w, c);
	if (ret >= 0)
		tp_debug("cluster %s: %u host(s), version %llu", c->cfg->name, h->n,
			 (unsigned long long)h->version);
	free(u);
}

/* The descriptors a message carried (an LDS listener's socket and text), at most max. */
static int take_fds(struct msghdr *mh, int *fds, int max)
{
	int n = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		size_t k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (n < max)
				fds[n++] = fd;
			else
				close(fd);
		}
	}
	return n;
}

static void on_hostset(struct tp_worker *w)
{
	for (;;) {
		union {
			char buf[CMSG_SPACE(TP_HS_MAX_FDS * sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = {.iov_base = w->hs_buf, .iov_len = TP_HS_MSG_MAX};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = ctl.buf,
				    .msg_controllen = sizeof(ctl.buf)};
		const struct tp_hs_head *h = (const struct tp_hs_head *)w->hs_buf;
		ssize_t n = recvmsg(w->hs_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		int fds[TP_HS_MAX_FDS], nfds;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			/* The master is gone (PDEATHSIG follows) or the socket failed. */
			tp_debug("host-set socket: %s", n ? strerror(errno) : "closed");
			close(w->hs_fd);
			w->hs_fd = -1;
			return;
		}
		nfds = take_fds(&mh, fds, TP_HS_MAX_FDS);
		if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || (size_t)n < sizeof(*h) ||
		    h->magic != TP_HS_MAGIC) {
			tp_warn("host set: malformed message ignored");
			while (nfds)
				close(fds[--nfds]);
			continue;
		}
		if (tp_lds_is_msg(h)) {
			tp_lds_worker_msg(w, h, (size_t)n, fds, nfds);
			continue;
		}
		if (h->type == TP_HS_CDS && nfds == 1) {
			tp_cds_apply(w, fds[0], h->version);
			continue;
		}
		while (nfds)
			close(fds[--nfds]);
		if (h->type == TP_HS_SET)
			apply_set(w, h, (size_t)n);
		else if (h->type == TP_HS_READY && !w->accepting)
			start_serving(w);
	}
	arm_hostset(w);
}

/* SIGQUIT, from the master once a newer generation serves (or on a graceful stop): stop
 * accepting, keep serving what is open, exit when the last connection ends. Our listening
 * sockets are only our copies: the master and the new generation keep the same sockets open,
 * so closing them here resets nothing. */
static void start_draining(struct tp_worker *w)
{
	struct io_uring_sqe *sqe;

	if (w->draining)
		return;
	w->draining = true;
	for (size_t i = 0; i < w->n_listeners; i++) {
		struct tp_listener_rt *l = &w->listeners[i];

		if (l->accepting) {
			sqe = tp_ring_get_sqe(&w->ring);
			io_uring_prep_cancel64(sqe, tp_udata(TP_OP_ACCEPT, 0, l->idx, 0), 0);
			io_uring_sqe_set_data64(sqe, tp_udata(TP_OP_IGNORE, 0, 0, 0));
		}
	}
	tp_info("draining: %u connection(s) open", w->n_conns);
}

/* SIGUSR2: the master asks for the connection view. Answered between two completions, on the
 * loop: the snapshot is consistent, and the data path never pays for it. */
static void write_view(struct tp_worker *w)
{
	int ret;

	if (w->view_fd < 0)
		return;
	ret = tp_connview_write(w, w->view_fd);
	if (ret < 0)
		tp_warn("connection view: %s", strerror(-ret));
	else if (w->ctl_fd >= 0 && write(w->ctl_fd, "S", 1) != 1)
		tp_debug("connection view: cannot tell the master: %s", strerror(errno));
}

static void on_signal(struct tp_worker *w)
{
	struct signalfd_siginfo si;

	while (read(w->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			w->stopping = true;
		else if (si.ssi_signo == SIGQUIT)
			start_draining(w);
		else if (si.ssi_signo == SIGUSR1)
			tp_access_log_reopen(w);
		else if (si.ssi_signo == SIGUSR2)
			write_view(w);
	}
	if (!w->stopping)
		arm_signal(w);
}

static void arm_accept(struct tp_worker *w, struct tp_listener_rt *l)
{
	struct io_uring_sqe *sqe = tp_ring_get_sqe(&w->ring);

	/* Multishot: one SQE accepts until it fails; accepted sockets come non-blocking (the relay
	 * reads and writes them inline after a readiness poll), and close-on-exec. */
	io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, tp_udata(TP_OP_ACCEPT, 0, l->idx, 0));
	l->accepting = true;
}

void tp_worker_listen(struct tp_worker *w, struct tp_listener_rt *l)
{
	if (w->accepting && !w->draining && !w->stopping && !l->accepting && !l->paused)
		arm_accept(w, l);
}

void tp_worker_unlisten(struct tp_worker *w, struct tp_listener_rt *l)
{
	struct io_uring_sqe *sqe;

	if (l->accepting) {
		/* The completion of the cancelled accept closes it (on_accept). */
		sqe = tp_ring_get_sqe(&w->ring);
		io_uring_prep_cancel64(sqe, tp_udata(TP_OP_ACCEPT, 0, l->idx, 0), 0);
		io_uring_sqe_set_data64(sqe, tp_udata(TP_OP_IGNORE, 0, 0, 0));
	} else if (l->fd >= 0) {
		close(l->fd);
		l->fd = -1;
	}
}

/* Out of file descriptors: stop accepting for a while instead of spinning on the error, and
 * keep serving the connections we have. Counted as Envoy counts a connection it cannot take
 * (downstream_cx_overflow); warned about at most once a second, with how many were not. */
static void fds_exhausted(struct tp_worker *w, struct tp_listener_rt *l, int err, const char *what)
{
	static struct __kernel_timespec pause_ts = {.tv_sec = 0,
						    .tv_nsec = ACCEPT_PAUSE_MS * 1000000L};
	struct io_uring_sqe *sqe;

	tp_stat_inc(w->stats, l->cfg->stats_base + TP_LISTENER_downstream_cx_overflow);
	if (w->now_ms - l->last_err_log_ms >= 1000) {
		tp_warn("listener %s: %s: %s; pausing accepts for %d ms (%u more since the last "
			"warning)",
			l->cfg->name, what, strerror(-err), ACCEPT_PAUSE_MS, l->errs_unlogged);
		l->last_err_log_ms = w->now_ms;
		l->errs_unlogged = 0;
	} else {
		l->errs_unlogged++;
	}
	if (l->paused)
		return;
	if (l->accepting) {
		sqe = tp_ring_get_sqe(&w->ring);
		io_uring_prep_cancel64(sqe, tp_udata(TP_OP_ACCEPT, 0, l->idx, 0), 0);
		io_uring_sqe_set_data64(sqe, tp_udata(TP_OP_IGNORE, 0, 0, 0));
	}
	l->paused = true;
	sqe = tp_ring_get_sqe(&w->ring);
	io_uring_prep_timeout(sqe, &pause_ts, 0, 0);
	io_uring_sqe_set_data64(sqe, tp_udata(TP_OP_ACCEPT_RESUME, 0, l->idx, 0));
}

void tp_worker_out_of_fds(struct tp_worker *w, uint32_t listener, int err, const char *what)
{
	if (listener < w->n_listeners)
		fds_exhausted(w, &w->listeners[listener], err, what);
}

static void new_connection(struct tp_worker *w, struct tp_listener_rt *l, int fd)
{
	struct tp_conn *c = tp_conn_alloc(w);

	if (!c) {
		tp_warn("listener %s: no memory for a connection; closing it", l->cfg->name);
		close(fd);
		return;
	}
	c->side[TP_DOWN].fd = fd;
	c->listener = l;
	l->n_conns++;
	tp_stat_inc(w->stats, l->cfg->stats_base + TP_LISTENER_downstream_cx_total);
	tp_stat_add(w->stats, l->cfg->stats_base + TP_LISTENER_downstream_cx_active, 1);
	tp_lfilters_start(w, c);
}

/* A draining worker's cancelled accept has completed. io_uring waits for connections with an
 * exclusive wakeup (one waiter woken per arrival): a wakeup taken by our accept just before its
 * cancel leaves that connection queued with no other waiter woken for it, and with a client
 * that waits for it before connecting again, nothing would ever wake the new generation. So
 * take what is queued now and serve it, then let our copy of the socket go; whatever arrives
 * later wakes the new generation's accept. */
static void stop_listening(struct tp_worker *w, struct tp_listener_rt *l)
{
	int fd;

	while ((fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
		new_connection(w, l, fd);
	close(l->fd);
	l->fd = -1;
}

static void on_accept(struct tp_worker *w, struct io_uring_cqe *cqe)
{
	uint32_t idx = tp_udata_idx(cqe->user_data);
	struct tp_listener_rt *l;

	if (idx >= w->n_listeners || !w->listeners[idx].cfg)
		return;
	l = &w->listeners[idx];
	if (!(cqe->flags & IORING_CQE_F_MORE))
		l->accepting = false;
	if (cqe->res >= 0) {
		if (w->stopping)
			close(cqe->res);
		else
			new_connection(w, l, cqe->res);
	} else if (cqe->res == -EMFILE || cqe->res == -ENFILE || cqe->res == -ENOBUFS ||
		   cqe->res == -ENOMEM) {
		fds_exhausted(w, l, cqe->res, "accept");
	} else if (cqe->res != -ECANCELED && cqe->res != -ECONNABORTED) {
		tp_warn("listener %s: accept: %s", l->cfg->name, strerror(-cqe->res));
	}
	if (!l->accepting && !l->paused && !w->stopping && !w->draining && !l->removed)
		arm_accept(w, l);
	else if (!l->accepting && (w->draining || l->removed) && l->fd >= 0)
		stop_listening(w, l);
	if (l->removed)
		tp_lds_listener_check(w, l);
}

static void on_accept_resume(struct tp_worker *w, struct io_uring_cqe *cqe)
{
	uint32_t idx = tp_udata_idx(cqe->user_data);
	struct tp_listener_rt *l;

	if (tp_udata_side(cqe->user_data)) {
		/* Not a pause: a removed LDS listener's drain time is over. */
		tp_lds_drain_deadline(w, idx, tp_udata_gen(cqe->user_data));
		return;
	}
	if (idx >= w->n_listeners || !w->listeners[idx].cfg)
		return;
	l = &w->listeners[idx];
	l->paused = false;
	if (!l->accepting && !w->stopping && !w->draining && !l->removed && l->fd >= 0 &&
	    w->accepting)
		arm_accept(w, l);
}

static void on_conn_cqe(struct tp_worker *w, struct io_uring_cqe *cqe)
{
	uint64_t u = cqe->user_data;
	enum tp_op op = tp_udata_op(u);
	enum tp_side_id s = (enum tp_side_id)tp_udata_side(u);
	struct tp_conn *c = tp_conn_lookup(w, tp_udata_idx(u), tp_udata_gen(u));
	bool final = !(cqe->flags & IORING_CQE_F_MORE);

	/* The inflight count keeps a slot from being reused while it is referenced, so this is
	 * our bug, not a peer's doing. */
	TP_BUG_ON(!c || c->phase == TP_PHASE_FREE);
	if (final) {
		TP_BUG_ON(!c->inflight);
		c->inflight--;
	}
	switch (op) {
	case TP_OP_POLL_IN:
		tp_conn_on_poll_in(w, c, s, cqe->res, final);
		break;
	case TP_OP_POLL_OUT:
		tp_conn_on_poll_out(w, c, s, cqe->res);
		break;
	case TP_OP_CONNECT:
		tp_session_on_connect(w, c, cqe->res);
		break;
	default:
		break;
	}
	tp_conn_maybe_free(w, c);
}

static void dispatch(struct tp_worker *w, struct io_uring_cqe *cqe)
{
	switch (tp_udata_op(cqe->user_data)) {
	case TP_OP_IGNORE:
		break;
	case TP_OP_ACCEPT:
		on_accept(w, cqe);
		break;
	case TP_OP_ACCEPT_RESUME:
		on_accept_resume(w, cqe);
		break;
	case TP_OP_SIGNAL:
		on_signal(w);
		break;
	case TP_OP_LOG_WRITE:
		tp_access_log_on_write(w, cqe);
		break;
	case TP_OP_HOSTSET:
		if (w->hs_fd >= 0)
			on_hostset(w);
		break;
	case TP_OP_H2:
		tp_h2_on_cqe(w, cqe);
		break;
	default:
		on_conn_cqe(w, cqe);
		break;
	}
}

static void run_timers(struct tp_worker *w)
{
	struct tp_timer *t;

	while ((t = tp_timer_pop_due(&w->timers, w->now_ms))) {
		struct tp_conn *c;

		if (t->kind == TP_TIMER_FILTER) {
			struct tp_filter_timer *ft = (struct tp_filter_timer *)t;

			c = ft->c;
			tp_chain_on_timer(w, ft);
		} else {
			c = (struct tp_conn *)((char *)t - offsetof(struct tp_conn, timer));
			tp_conn_on_timer(w, c);
		}
		tp_conn_maybe_free(w, c);
	}
}

static void run_queue(struct tp_worker *w)
{
	struct tp_conn *c = w->runq_head;

	w->runq_head = w->runq_tail = NULL;
	while (c) {
		struct tp_conn *next = c->next;

		c->queued = 0;
		tp_conn_on_run(w, c);
		tp_conn_maybe_free(w, c);
		c = next;
	}
}

/* Submits, waits for at least one completion (not past the next timer, nor max_wait_ms when
 * it is not negative), and dispatches every completion there is. */
static void wait_and_dispatch(struct tp_worker *w, int max_wait_ms)
{
	struct __kernel_timespec ts, *tsp = NULL;
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	uint64_t next = tp_timer_next(&w->timers);
	unsigned want = w->runq_head ? 0 : 1;
	int ret;

	if (max_wait_ms >= 0 && (next == UINT64_MAX || next > w->now_ms + (uint64_t)max_wait_ms))
		next = w->now_ms + (uint64_t)max_wait_ms;
	if (want && next != UINT64_MAX) {
		uint64_t wait = next > w->now_ms ? next - w->now_ms : 0;

		ts.tv_sec = (long long)(wait / 1000);
		ts.tv_nsec = (long long)(wait % 1000) * 1000000;
		tsp = &ts;
	}
	if (want)
		ret = io_uring_submit_and_wait_timeout(&w->ring, &cqe, want, tsp, NULL);
	else
		ret = io_uring_submit_and_get_events(&w->ring);
	if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EBUSY && ret != -EAGAIN)
		tp_warn("io_uring_enter: %s", strerror(-ret));
	w->now_ms = tp_now_ms();
	io_uring_for_each_cqe(&w->ring, head, cqe)
	{
		dispatch(w, cqe);
		n++;
	}
	io_uring_cq_advance(&w->ring, n);
}

static void filters_worker_start(const struct tp_listener_cfg *l, unsigned slot, unsigned n_slots)
{
	for (size_t c = 0; c < l->n_filter_chains; c++) {
		const struct tp_filter_chain_cfg *ch = &l->filter_chains[c];

		for (size_t f = 0; f < ch->n_filters; f++)
			if (ch->filters[f].ops->worker_start)
				ch->filters[f].ops->worker_start(ch->filters[f].conf, slot,
								 n_slots);
	}
}

/* Does a chain end in a tcp_proxy that tunnels? */
static bool chain_tunnels(const struct tp_filter_chain_cfg *ch)
{
	const struct tp_filter_cfg *last = ch->n_filters ? &ch->filters[ch->n_filters - 1] : NULL;

	return last && last->ops == &tp_filter_tcp_proxy &&
	       ((const struct tp_tcp_proxy_cfg *)last->conf)->tunnel;
}

void tp_worker_size_slots(struct tp_worker *w, const struct tp_config *cfg)
{
	uint32_t filters = 0, peek = 0;
	bool info = false, tunnels = false;

	w->tstate_bytes[TP_DOWN] = w->tstate_bytes[TP_UP] = 0;
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		const struct tp_listener_cfg *l = &cfg->listeners[i];

		for (size_t c = 0; c < l->n_filter_chains; c++) {
			const struct tp_filter_chain_cfg *ch = &l->filter_chains[c];
			const struct tp_transport_ops *t = ch->transport.ops;

			if (ch->state_bytes > filters)
				filters = ch->state_bytes;
			tunnels |= chain_tunnels(ch);
			if (t && tp_slot_round(t->state_size) > w->tstate_bytes[TP_DOWN])
				w->tstate_bytes[TP_DOWN] = tp_slot_round(t->state_size);
			info |= t && !t->raw;
		}
		info |= l->n_listener_filters > 0;
		/* The listener filters' state and the chain's take turns in the same room. */
		if (l->lfilter_state_bytes > filters)
			filters = l->lfilter_state_bytes;
		for (size_t f = 0; f < l->n_listener_filters; f++) {
			const struct tp_listener_filter_cfg *lf = &l->listener_filters[f];
			uint32_t want =
				lf->max_read_bytes ? lf->max_read_bytes : lf->ops->max_read_bytes;

			if (want > peek)
				peek = want;
		}
	}
	/* LDS listeners come later, into slots sized now: room for what they may need. */
	if (cfg->lds.path)
		tp_lds_slot_room(&filters, &w->tstate_bytes[TP_DOWN], &peek, &info, &tunnels);
	w->filter_room = filters;
	w->peek_cap = peek;
	w->tunnel_room = tunnels;
	for (size_t i = 0; i < cfg->n_clusters; i++) {
		const struct tp_transport_ops *t = cfg->clusters[i].transport.ops;

		if (t && tp_slot_round(t->state_size) > w->tstate_bytes[TP_UP])
			w->tstate_bytes[TP_UP] = tp_slot_round(t->state_size);
		/* An upstream TLS handshake records what it negotiated (%UPSTREAM_TLS_VERSION%). */
		info |= t && !t->raw;
	}
	/* Clusters from CDS come after the slots are sized: room for the upstream TLS they may
	 * have (core/worker/cds.c refuses a transport that does not fit). */
	if (cfg->cds.path) {
		if (tp_slot_round(tp_transport_tls_client.state_size) > w->tstate_bytes[TP_UP])
			w->tstate_bytes[TP_UP] = tp_slot_round(tp_transport_tls_client.state_size);
		info = true;
	}
	/* A tunnel's state, then the cluster's transport's beneath it (any cluster: filter state
	 * may route to any). */
	if (tunnels)
		w->tstate_bytes[TP_UP] += (uint32_t)tp_tunnel_state_size();
	w->conn_size = tp_slot_round(sizeof(struct tp_conn)) + w->tstate_bytes[TP_DOWN] +
		       w->tstate_bytes[TP_UP] + filters;
	w->info_off = 0;
	if (info) {
		w->info_off = w->conn_size;
		w->conn_size += tp_slot_round(sizeof(struct tp_conn_info));
	}
}

/* The listener filters' view of a stream's first bytes: one buffer for the worker, as large
 * as the most any of them reads (tp_worker_size_slots() says how much). */
static int make_peek_buf(struct tp_worker *w)
{
	if (!w->peek_cap)
		return 0;
	w->peek_buf = malloc(w->peek_cap);
	return w->peek_buf ? 0 : -ENOMEM;
}

static int make_ctx(struct tp_worker *w, const struct tp_transport_cfg *tc)
{
	char err[256] = "";

	if (!tc->ops || !tc->ops->ctx_new || w->tctx[tc->idx])
		return 0;
	w->tctx[tc->idx] = tc->ops->ctx_new(tc->conf, err, sizeof(err));
	if (!w->tctx[tc->idx]) {
		tp_error("%s transport: %s", tc->ops->name, err);
		return -EINVAL;
	}
	return 0;
}

/* What every connection of one transport configuration shares (a TLS context), made here after
 * fork, never inherited from the master (a TLS library's random state must not be shared by
 * processes). */
static int make_transport_ctx(struct tp_worker *w, const struct tp_config *cfg)
{
	if (!cfg->n_transport_ctx)
		return 0;
	w->tctx = calloc(cfg->n_transport_ctx, sizeof(*w->tctx));
	if (!w->tctx)
		return -ENOMEM;
	w->n_tctx = cfg->n_transport_ctx;
	for (size_t i = 0; i < cfg->n_listeners; i++)
		for (size_t c = 0; c < cfg->listeners[i].n_filter_chains; c++)
			if (make_ctx(w, &cfg->listeners[i].filter_chains[c].transport) < 0)
				return -EINVAL;
	for (size_t i = 0; i < cfg->n_clusters; i++)
		if (make_ctx(w, &cfg->clusters[i].transport) < 0)
			return -EINVAL;
	return 0;
}

static void free_ctx(struct tp_worker *w, const struct tp_transport_cfg *tc)
{
	if (tc->ops && tc->ops->ctx_free && w->tctx[tc->idx]) {
		tc->ops->ctx_free(w->tctx[tc->idx]);
		w->tctx[tc->idx] = NULL;
	}
}

static void free_transport_ctx(struct tp_worker *w, const struct tp_config *cfg)
{
	if (!w->tctx)
		return;
	for (size_t i = 0; i < cfg->n_listeners; i++)
		for (size_t c = 0; c < cfg->listeners[i].n_filter_chains; c++)
			free_ctx(w, &cfg->listeners[i].filter_chains[c].transport);
	for (size_t i = 0; i < cfg->n_clusters; i++)
		free_ctx(w, &cfg->clusters[i].transport);
	free(w->tctx);
	w->tctx = NULL;
}

static int setup(struct tp_worker *w, const struct tp_worker_args *a, int sigfd)
{
	char err[256];
	int ret;

	memset(w, 0, sizeof(*w));
	w->slot = a->slot;
	w->n_slots = a->n_slots;
	w->cfg = a->cfg;
	w->sigfd = sigfd;
	w->ctl_fd = a->ready_fd;
	w->view_fd = a->view_fd;
	w->hs_fd = a->hs_fd;
	w->cds_cb = a->cds_cb;
	w->stats = tp_stats_block(a->stats, a->stats_slot);
	w->now_ms = tp_now_ms();
	tp_timer_heap_init(&w->timers);
	tp_pipe_pool_init(&w->pipes, PIPES_KEPT, PIPE_BYTES);
	tp_buf_pool_init(&w->bufs, BUFS_KEPT, COPY_BUF_BYTES);
	tp_rand_seed((uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ w->now_ms);

	ret = tp_ring_init(&w->ring, RING_ENTRIES, err, sizeof(err));
	if (ret < 0) {
		tp_error("%s", err);
		return ret;
	}
	tp_worker_size_slots(w, a->cfg);
	ret = make_peek_buf(w);
	if (ret < 0)
		return ret;
	ret = make_transport_ctx(w, a->cfg);
	if (ret < 0)
		return ret;
	w->clusters = calloc(a->cfg->n_clusters ? a->cfg->n_clusters : 1, sizeof(*w->clusters));
	w->n_static = a->cfg->n_listeners;
	w->cap_listeners = w->n_static + (a->cfg->lds.path ? TP_LDS_MAX_LISTENERS : 0);
	w->seg = a->stats;
	w->listeners = calloc(w->cap_listeners ? w->cap_listeners : 1, sizeof(*w->listeners));
	if (!w->clusters || !w->listeners)
		return -ENOMEM;
	for (size_t i = 0; i < a->cfg->n_clusters; i++) {
		uint32_t base = a->cfg->clusters[i].stats_base;

		ret = tp_lb_init(&w->clusters[i], &a->cfg->clusters[i], tp_rand());
		if (ret < 0) {
			tp_error("cluster %s: no memory for its load balancer",
				 a->cfg->clusters[i].name);
			return ret;
		}
		/* This worker's subsets, as each of Envoy's threads counts its own. */
		tp_stat_add(w->stats, base + TP_CLUSTER_lb_subsets_created,
			    w->clusters[i].n_subsets);
		tp_stat_add(w->stats, base + TP_CLUSTER_lb_subsets_active,
			    w->clusters[i].n_subsets);
	}
	for (size_t i = 0; i < a->cfg->n_clusters; i++)
		tp_session_cb_worker_start(w, &a->cfg->clusters[i]);
	w->n_listeners = a->cfg->n_listeners;
	for (size_t i = 0; i < w->n_listeners; i++)
		filters_worker_start(&a->cfg->listeners[i], a->slot, a->n_slots);
	for (size_t i = 0; i < w->n_listeners; i++) {
		w->listeners[i].cfg = &a->cfg->listeners[i];
		w->listeners[i].idx = (uint32_t)i;
		w->listeners[i].fd = a->listen_fds[i];
	}
	tp_access_log_worker_init(w);
	arm_signal(w);
	if (w->hs_fd >= 0) {
		/* Accepts wait for the master's first host sets (TP_HS_READY). */
		w->hs_buf = malloc(TP_HS_MSG_MAX);
		w->od = calloc(TP_HS_MAX_REPORTS + 1, sizeof(*w->od));
		if (!w->hs_buf || !w->od)
			return -ENOMEM;
		arm_hostset(w);
	}
	return 0;
}

/* Accept from now on, and tell the master this worker is ready. */
static void start_serving(struct tp_worker *w)
{
	w->accepting = true;
	if (w->draining)
		return;
	for (size_t i = 0; i < w->n_listeners; i++)
		if (w->listeners[i].cfg && !w->listeners[i].removed && w->listeners[i].fd >= 0)
			arm_accept(w, &w->listeners[i]);
	tp_info("worker %u serving %zu listener(s)", w->slot, w->n_listeners);
	tell_ready(w->ctl_fd);
}

static void teardown(struct tp_worker *w)
{
	/* Closed as a SIGTERM asks, so that their entries are logged and what they hold freed. */
	tp_conn_close_all(w);
	tp_h2_pool_destroy(w);
	tp_access_log_worker_fini(w); /* before the ring goes: it may still be writing */
	/* The last shutdowns and closes may still be queued: let them go out. */
	io_uring_submit(&w->ring);
	io_uring_queue_exit(&w->ring);
	if (w->sigfd >= 0)
		close(w->sigfd);
	if (w->ctl_fd >= 0)
		close(w->ctl_fd);
	if (w->view_fd >= 0)
		close(w->view_fd);
	if (w->hs_fd >= 0)
		close(w->hs_fd);
	free(w->hs_buf);
	free(w->od);
	for (uint32_t i = 0; i < w->n_chunks; i++)
		free(w->chunks[i]);
	free(w->chunks);
	tp_lds_worker_fini(w);
	for (size_t i = 0; i < w->cfg->n_clusters; i++) {
		uint32_t base = w->cfg->clusters[i].stats_base, n = w->clusters[i].n_subsets;

		/* Envoy's SubsetLoadBalancer counts its subsets removed when it goes. */
		tp_stat_add(w->stats, base + TP_CLUSTER_lb_subsets_removed, n);
		tp_stat_sub(w->stats, base + TP_CLUSTER_lb_subsets_active, n);
		tp_lb_destroy(&w->clusters[i]);
	}
	free(w->clusters);
	tp_cds_free_all(w);
	free(w->listeners);
	free(w->peek_buf);
	free_transport_ctx(w, w->cfg);
	tp_timer_heap_destroy(&w->timers);
	tp_pipe_pool_destroy(&w->pipes);
	tp_buf_pool_destroy(&w->bufs);
}

void tp_worker_connect_result(struct tp_worker *w, const struct tp_cluster_rt *cl,
			      const struct tp_host_rt *h, bool failure)
{
	uint32_t idx = cl->cds ? TP_HS_CDS_ID(cl->cds_version) : (uint32_t)(cl - w->clusters);
	struct tp_hs_report *r = NULL;

	if (!w->od || !cl->cfg->outlier.enabled || !h->dynamic || !h->id)
		return;
	for (uint32_t i = 0; i < w->n_od && !r; i++)
		if (w->od[i].host == h->id && w->od[i].cluster == idx)
			r = &w->od[i];
	if (!r) {
		/* Past the bound, this turn's results of further hosts are lost. */
		if (w->n_od == TP_HS_MAX_REPORTS)
			return;
		r = &w->od[w->n_od++];
		memset(r, 0, sizeof(*r));
		r->host = h->id;
		r->cluster = idx;
	}
	tp_hs_report_add(r, failure);
}

/* This turn's connect results, one message; a full socket drops them rather than block the
 * loop (outlier detection sees fewer results, nothing else suffers). */
/* TP_HS_CDS_LOW, when the oldest CDS set this worker may write stats for has moved; a full
 * socket leaves it to a later turn (the master only keeps rows longer meanwhile). */
static void send_cds_low(struct tp_worker *w)
{
	struct {
		struct tp_hs_head h;
		struct tp_hs_cds_low b;
	} msg;
	ssize_t n;

	if (w->hs_fd < 0 || !tp_cds_low(w, &msg.b))
		return;
	memset(&msg.h, 0, sizeof(msg.h));
	msg.h.magic = TP_HS_MAGIC;
	msg.h.type = TP_HS_CDS_LOW;
	do
		n = send(w->hs_fd, &msg, sizeof(msg), MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(msg))
		w->cds_low_dirty = false;
}

static void send_reports(struct tp_worker *w)
{
	struct tp_hs_head *h = (struct tp_hs_head *)w->hs_buf;
	size_t len = sizeof(*h) + w->n_od * sizeof(*w->od);
	ssize_t n;

	send_cds_low(w);

	if (!w->n_od)
		return;
	if (w->hs_fd >= 0) {
		memset(h, 0, sizeof(*h));
		h->magic = TP_HS_MAGIC;
		h->type = TP_HS_REPORT;
		h->n = w->n_od;
		memcpy(h + 1, w->od, w->n_od * sizeof(*w->od));
		do
			n = send(w->hs_fd, h, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			tp_debug("host report dropped: %s", strerror(errno));
	}
	w->n_od = 0;
}

void tp_worker_turn(struct tp_worker *w, int max_wait_ms)
{
	run_timers(w);
	run_queue(w);
	tp_access_log_flush(w);
	send_reports(w);
	wait_and_dispatch(w, max_wait_ms);
}

/* LeakSanitizer's entry point, present only in a sanitized build. A worker leaves with _exit()
 * (the master's atexit handlers are not its own), so the check that runs at a normal exit never
 * runs in it: a sanitized worker asks for it itself, and its report lands in the log, where the
 * tests look for it. */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

static void check_leaks(void)
{
	if (__lsan_do_recoverable_leak_check)
		__lsan_do_recoverable_leak_check();
}

/* Before the worker touches any connection: from the root that bound the sockets to the
 * operator's user; capabilities go with the uid change. */
static int drop_privileges(uid_t uid, gid_t gid)
{
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		tp_error("dropping privileges to uid %u gid %u: %s", (unsigned)uid, (unsigned)gid,
			 strerror(errno));
		return -errno;
	}
	if (setuid(0) == 0) {
		tp_error("dropping privileges: root could be regained; refusing to run");
		return -EPERM;
	}
	return 0;
}

/* A drained worker leaves only once its cancelled accepts have completed: an accept that
 * completes concurrently with its cancel hands us a connection we must serve, and a ring torn
 * down with an accept still armed could take connections from the shared socket as it dies. */
static bool accepts_armed(const struct tp_worker *w)
{
	for (size_t i = 0; i < w->n_listeners; i++)
		if (w->listeners[i].accepting)
			return true;
	return false;
}

/* The control pipe stays open: the worker says on it when a connection view is written. */
static void tell_ready(int fd)
{
	if (fd >= 0 && write(fd, "R", 1) != 1)
		tp_warn("could not tell the master this worker is ready: %s", strerror(errno));
}

int tp_worker_run(const struct tp_worker_args *a)
{
	static struct tp_worker worker;
	struct tp_worker *w = &worker;
	int ret, sigfd;

	sigfd = setup_signals();
	if (sigfd < 0) {
		tp_error("signalfd: %s", strerror(-sigfd));
		return 1;
	}
	if (a->drop_privileges && drop_privileges(a->uid, a->gid) < 0)
		return 1;
	/* Die with the master: nothing may keep serving (or listening) without supervision. Set
	 * after the privilege drop, because changing credentials clears it (prctl(2)); the check
	 * after it closes the race with a master that died before the prctl. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != a->master_pid)
		return 1;
	/* Never regain privileges through exec'd set-id files, as root or not. */
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	ret = setup(w, a, sigfd);
	if (ret < 0) {
		teardown(w);
		return 1;
	}
	if (w->hs_fd < 0)
		start_serving(w);
	io_uring_submit(&w->ring);
	while (!w->stopping && !(w->draining && !w->n_conns && !accepts_armed(w)))
		tp_worker_turn(w, -1);
	tp_info("worker %u stopping with %u connection(s) open", a->slot, w->n_conns);
	teardown(w);
	check_leaks();
	return 0;
}

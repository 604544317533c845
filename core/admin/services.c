/* The master's stats socket and admin endpoint: accept, read one request head, answer it with
 * core/admin.c, close. Every descriptor is non-blocking and every client has a deadline, so a
 * client that sends nothing, sends garbage or does not read cannot stall the master; each
 * listener has its own client budget, so a flood of one cannot lock the other out. */
#include "core/admin/services.h"

#include "core/admin/admin.h"
#include "core/config/config-t.h"
#include "core/base/http.h"
#include "core/base/log.h"
#include "core/base/mloop.h"
#include "core/base/sbuf.h"
#include "core/base/timer.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CLIENTS	  64 /* per listener: the admin port cannot use up the stats socket's */
#define ACCEPTS_PER_WAKE  16
#define READ_CHUNK	  16384
#define IDLE_TIMEOUT_MS	  2000	/* to send the first byte */
#define HEAD_TIMEOUT_MS	  5000	/* to send a whole request head */
#define WRITE_TIMEOUT_MS  10000 /* to take the whole response */
#define LINGER_TIMEOUT_MS 2000	/* after our FIN: what the client still sends is read away */
#define LINGER_MAX_BYTES  (4u << 20)
/* Answers rendered and not yet taken, every client together: a client that does not read
 * holds its copy up to WRITE_TIMEOUT_MS, and a /connections answer can be megabytes. A large
 * answer past this is replaced by 503 (the master's memory is not the clients' to spend). */
#define HELD_MAX_BYTES	 (64u << 20)
#define HELD_SMALL_BYTES (64u << 10) /* answers this small are always given */
/* Out of descriptors or memory at accept: stop polling that listener for a while, as the
 * workers do, doubling up to a second while it lasts. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000
#define LOG_EVERY_MS   1000 /* at most one accept error line per listener per second */

/* One listening socket, with its own client budget and accept back-off. */
struct listener {
	const char *what; /* "stats socket", "admin" */
	int fd;
	unsigned n_clients;
	unsigned backoff_ms; /* the current pause, 0 when accepting normally */
	int64_t resume_timer;
	uint64_t logged_ms;	/* when the last accept error was logged */
	unsigned long unlogged; /* accept errors since then */
};

enum phase {
	P_READ,	  /* waiting for the request head */
	P_WAIT,	  /* /connections: waiting for the workers' snapshots (the master's round) */
	P_WRITE,  /* sending the response */
	P_LINGER, /* response sent and FIN sent: reading away the rest so no RST cuts it */
};

struct client {
	int fd;
	struct listener *l;
	uint64_t accepted_ms;
	bool heard;	 /* it has sent a byte */
	bool may_change; /* the mutating routes (POST) are open to it */
	enum phase phase;
	int64_t timer;
	size_t sent;
	size_t held; /* its share of svc.held */
	size_t drained;
	struct tp_http_req req;
	struct tp_sbuf out;
	struct client *next;
	struct client **pprev;
};

static struct {
	struct tp_mloop *loop;
	const struct tp_master_view *view;
	struct listener unix_l;
	struct listener admin_l;
	char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	ino_t unix_ino; /* removed at stop only if it is still ours */
	struct client *clients;
	size_t held; /* bytes of answers not yet sent, all clients */
	bool atfork;
} svc = {
	.unix_l = {.what = "stats socket", .fd = -1},
	.admin_l = {.what = "admin", .fd = -1},
};

void tp_stats_socket_dir(uid_t uid, char *out, size_t len)
{
	if (uid == 0)
		snprintf(out, len, "/run/tcpproxy");
	else
		snprintf(out, len, "/dev/shm/tcpproxy-%u", (unsigned)uid);
}

void tp_stats_socket_default(unsigned base_id, uid_t uid, char *out, size_t len)
{
	char dir[64];

	tp_stats_socket_dir(uid, dir, sizeof(dir));
	snprintf(out, len, "%s/tcpproxy.%u.sock", dir, base_id);
}

int tp_stats_socket_dir_check(const char *dir, uid_t uid, char *why, size_t whylen)
{
	struct stat sb;

	if (lstat(dir, &sb) < 0) {
		int err = errno;

		snprintf(why, whylen, "%s", strerror(err));
		return -err;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(why, whylen, "not a directory");
		return -ENOTDIR;
	}
	if (sb.st_uid != uid && sb.st_uid != 0) {
		snprintf(why, whylen, "owned by uid %u, not by uid %u or root", (unsigned)sb.st_uid,
			 (unsigned)uid);
		return -EPERM;
	}
	if (sb.st_mode & 022) {
		snprintf(why, whylen, "writable by others (mode %04o)", sb.st_mode & 07777);
		return -EPERM;
	}
	return 0;
}

/* The default socket's directory, created if missing (0755 for root's /run/tcpproxy, so that
 * the workers' user reaches its socket; 0700 for a user's own), then checked: ours, a real
 * directory, writable by no one else. Nobody else can then put a file where our socket goes. */
static int prepare_default_dir(const char *sock_path)
{
	char dir[sizeof(svc.unix_path)], why[128];
	uid_t uid = geteuid();
	mode_t mode = uid == 0 ? 0755 : 0700;
	char *slash;
	int ret = 0;

	snprintf(dir, sizeof(dir), "%s", sock_path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	/* chmod after creating it: the umask may have taken bits the workers' user needs. */
	if (mkdir(dir, mode) == 0)
		ret = chmod(dir, mode) < 0 ? -errno : 0;
	else if (errno != EEXIST)
		ret = -errno;
	if (ret < 0) {
		tp_error(
			"stats socket directory %s: %s (give --stats-socket PATH to put the socket "
			"elsewhere)",
			dir, strerror(-ret));
		return ret;
	}
	ret = tp_stats_socket_dir_check(dir, uid, why, sizeof(why));
	if (ret < 0)
		tp_error("stats socket directory %s is not safe to use: %s (remove it, or give "
			 "--stats-socket PATH)",
			 dir, why);
	return ret;
}

static void out_free(struct client *c)
{
	svc.held -= c->held;
	c->held = 0;
	tp_sbuf_free(&c->out);
}

static void client_free(struct client *c)
{
	if (c->phase == P_WAIT)
		svc.view->ops->connections_cancel(svc.view->ctx, c);
	tp_mloop_del(svc.loop, c->fd);
	if (c->timer > 0)
		tp_mloop_cancel(svc.loop, c->timer);
	/* shutdown first: it ends the connection even if some other process holds the fd. */
	shutdown(c->fd, SHUT_RDWR);
	close(c->fd);
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	c->l->n_clients--;
	out_free(c);
	free(c);
}

static void on_client(struct tp_mloop *l, int fd, unsigned revents, void *arg);

static void on_deadline(struct tp_mloop *l, void *arg)
{
	struct client *c = arg;

	c->timer = 0;
	if (c->phase == P_READ && !c->heard)
		tp_debug("%s: client sent nothing in %d ms", c->l->what, IDLE_TIMEOUT_MS);
	else if (c->phase != P_LINGER)
		tp_debug("%s: client timed out %s", c->l->what,
			 c->phase == P_READ ? "sending its request" : "reading the response");
	client_free(c);
}

static int set_deadline_at(struct client *c, uint64_t at_ms)
{
	if (c->timer > 0)
		tp_mloop_cancel(svc.loop, c->timer);
	c->timer = tp_mloop_at(svc.loop, at_ms, on_deadline, c);
	return c->timer < 0 ? -ENOMEM : 0;
}

static int set_deadline(struct client *c, unsigned ms)
{
	return set_deadline_at(c, tp_now_ms() + ms);
}

static void start_linger(struct client *c)
{
	shutdown(c->fd, SHUT_WR);
	c->phase = P_LINGER;
	if (set_deadline(c, LINGER_TIMEOUT_MS) < 0 ||
	    tp_mloop_add(svc.loop, c->fd, POLLIN, on_client, c) < 0)
		client_free(c);
}

/* Sends what is left of the response; false when the client was freed. */
static bool flush(struct client *c)
{
	while (c->sent < c->out.len) {
		ssize_t n = send(c->fd, c->out.p + c->sent, c->out.len - c->sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (tp_mloop_add(svc.loop, c->fd, POLLOUT, on_client, c) < 0)
				break;
			return true;
		}
		if (n <= 0)
			break;
		c->sent += (size_t)n;
	}
	if (c->sent < c->out.len) {
		client_free(c);
		return false;
	}
	out_free(c);
	start_linger(c);
	return true;
}

static void respond(struct client *c, const struct tp_admin_resp *r, bool head_only)
{
	static const char busy[] = "busy: too many large answers not yet read; try again\n";

	c->phase = P_WRITE;
	if (!head_only && r->body.len > HELD_SMALL_BYTES &&
	    svc.held + r->body.len > HELD_MAX_BYTES) {
		tp_debug("%s: %zu bytes of answers not yet read; a %zu-byte answer becomes 503",
			 c->l->what, svc.held, r->body.len);
		tp_http_response_head(&c->out, 503, "text/plain; charset=UTF-8", sizeof(busy) - 1,
				      NULL);
		tp_sbuf_add(&c->out, busy, sizeof(busy) - 1);
	} else {
		tp_http_response_head(&c->out, r->status, r->content_type, r->body.len,
				      r->extra_headers);
		if (!head_only && r->body.len)
			tp_sbuf_add(&c->out, r->body.p, r->body.len);
	}
	c->held = c->out.len;
	svc.held += c->held;
	if (c->out.oom || set_deadline(c, WRITE_TIMEOUT_MS) < 0) {
		client_free(c);
		return;
	}
	flush(c);
}

static void bad_request(struct client *c, const char *why)
{
	struct tp_admin_resp r = {.status = 400, .content_type = "text/plain; charset=UTF-8"};

	tp_sbuf_printf(&r.body, "bad request: %s\n", why);
	respond(c, &r, false);
	tp_sbuf_free(&r.body);
}

static void answer(struct client *c, struct tp_admin_resp *r)
{
	tp_debug("admin: %s %s -> %d", c->req.method, c->req.target, r->status);
	respond(c, r, !strcmp(c->req.method, "HEAD"));
	tp_sbuf_free(&r->body);
}

/* The workers have answered: the view is rendered for this client's query. */
static void on_connections(void *arg, const struct tp_conn_list *list)
{
	struct client *c = arg;
	struct tp_admin_resp r;

	c->phase = P_WRITE; /* no longer waiting: nothing to cancel when freed */
	tp_admin_connections(svc.view, c->req.target, list, &r);
	answer(c, &r);
}

static void on_request(struct client *c)
{
	struct tp_admin_resp r;

	switch (tp_admin_check(c->req.method, c->req.target, c->may_change, &r)) {
	case TP_ADMIN_ANSWERED:
		break;
	case TP_ADMIN_NOW:
		tp_admin_handle(svc.view, c->req.method, c->req.target, c->may_change, &r);
		break;
	case TP_ADMIN_CONNECTIONS:
		/* A bad query is answered at once, without asking the workers. */
		if (tp_admin_connections_check(c->req.target, &r) < 0)
			break;
		/* Nothing more is read from the client while the workers are asked; its write
		 * deadline covers the wait (the master's round ends well before it). */
		tp_mloop_del(svc.loop, c->fd);
		if (set_deadline(c, WRITE_TIMEOUT_MS) < 0) {
			client_free(c);
			return;
		}
		c->phase = P_WAIT;
		if (svc.view->ops->connections(svc.view->ctx, on_connections, c) < 0) {
			c->phase = P_READ;
			memset(&r, 0, sizeof(r));
			r.status = 500;
			r.content_type = "text/plain; charset=UTF-8";
			tp_sbuf_puts(&r.body, "out of memory\n");
			break;
		}
		return;
	}
	answer(c, &r);
}

static void on_readable(struct client *c)
{
	char buf[READ_CHUNK];
	ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
	size_t used;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_free(c);
		return;
	}
	if (!c->heard) {
		/* The idle deadline becomes the deadline for the whole head. */
		c->heard = true;
		if (set_deadline_at(c, c->accepted_ms + HEAD_TIMEOUT_MS) < 0) {
			client_free(c);
			return;
		}
	}
	if (c->phase == P_LINGER) {
		c->drained += (size_t)n;
		if (c->drained > LINGER_MAX_BYTES)
			client_free(c);
		return;
	}
	switch (tp_http_parse(&c->req, buf, (size_t)n, &used)) {
	case TP_HTTP_NEED_MORE:
		break;
	case TP_HTTP_DONE:
		on_request(c);
		break;
	case TP_HTTP_ERROR:
		bad_request(c, c->req.error);
		break;
	}
}

static void on_client(struct tp_mloop *l, int fd, unsigned revents, void *arg)
{
	struct client *c = arg;

	if (c->phase == P_WRITE) {
		if (revents & (POLLOUT | POLLERR | POLLHUP))
			flush(c);
		return;
	}
	if (c->phase == P_WAIT)
		return;
	if (revents & (POLLIN | POLLERR | POLLHUP))
		on_readable(c);
}

static void on_accept(struct tp_mloop *l, int lfd, unsigned revents, void *arg);

static void on_resume(struct tp_mloop *loop, void *arg)
{
	struct listener *l = arg;

	l->resume_timer = 0;
	if (tp_mloop_add(svc.loop, l->fd, POLLIN, on_accept, l) < 0)
		tp_error("%s: cannot poll the listening socket again", l->what);
}

/* An accept error. One that will not go away by itself until something is closed (no
 * descriptors, no memory) stops polling the listener for a while, instead of poll() waking
 * the loop again at once for the same queued connection: that spun the master at 100 % CPU.
 * The log says it at most once a second, with how many errors it did not say. */
static void accept_failed(struct listener *l, int err)
{
	bool pause = err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
	uint64_t now = tp_now_ms();

	if (pause) {
		l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 : BACKOFF_MIN_MS;
		if (l->backoff_ms > BACKOFF_MAX_MS)
			l->backoff_ms = BACKOFF_MAX_MS;
	}
	if (!l->logged_ms || now - l->logged_ms >= LOG_EVERY_MS) {
		char more[64] = "";

		if (l->unlogged)
			snprintf(more, sizeof(more), " (and %lu more since the last message)",
				 l->unlogged);
		if (pause)
			tp_warn("%s: accept: %s%s; pausing accepts for %u ms", l->what,
				strerror(err), more, l->backoff_ms);
		else
			tp_warn("%s: accept: %s%s", l->what, strerror(err), more);
		l->logged_ms = now;
		l->unlogged = 0;
	} else {
		l->unlogged++;
	}
	if (!pause)
		return;
	tp_mloop_del(svc.loop, l->fd);
	l->resume_timer = tp_mloop_at(svc.loop, now + l->backoff_ms, on_resume, l);
	if (l->resume_timer < 0) {
		/* No timer: poll again now rather than never. */
		l->resume_timer = 0;
		on_resume(svc.loop, l);
	}
}

/* Whether a client may use the routes that change the server. The admin port: anyone who can
 * reach it, as in Envoy (docs/operations.md: bind it to loopback, or leave it out). The stats
 * socket: it is handed to the workers' user so that tcpproxy-stat can read stats as that user,
 * but a process of that account (a worker taken over through a peer) must not drain, fail or
 * reset the root master, so only a peer whose uid (SO_PEERCRED, taken at its connect) is the
 * master's or root's may. */
static bool may_change(const struct listener *l, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (l != &svc.unix_l)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred))
		return false;
	return cred.uid == 0 || cred.uid == geteuid();
}

/* The listener is full: the client that has waited longest without sending a byte makes room
 * for the new one, so silent connections cannot keep everyone else out for their deadline. */
static bool evict_silent(struct listener *l)
{
	struct client *oldest = NULL;

	for (struct client *c = svc.clients; c; c = c->next)
		if (c->l == l && c->phase == P_READ && !c->heard &&
		    (!oldest || c->accepted_ms < oldest->accepted_ms))
			oldest = c;
	if (!oldest)
		return false;
	tp_debug("%s: %u clients: closing one that has sent nothing", l->what, MAX_CLIENTS);
	client_free(oldest);
	return true;
}

static void on_accept(struct tp_mloop *loop, int lfd, unsigned revents, void *arg)
{
	struct listener *l = arg;

	for (unsigned i = 0; i < ACCEPTS_PER_WAKE; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct client *c;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				accept_failed(l, errno);
			return;
		}
		l->backoff_ms = 0;
		c = l->n_clients < MAX_CLIENTS || evict_silent(l) ? calloc(1, sizeof(*c)) : NULL;
		if (!c) {
			/* Full: this client is refused, the ones being served go on. */
			close(fd);
			continue;
		}
		c->fd = fd;
		c->l = l;
		c->may_change = may_change(l, fd);
		c->accepted_ms = tp_now_ms();
		c->phase = P_READ;
		tp_http_req_init(&c->req);
		c->next = svc.clients;
		if (c->next)
			c->next->pprev = &c->next;
		c->pprev = &svc.clients;
		svc.clients = c;
		l->n_clients++;
		if (set_deadline(c, IDLE_TIMEOUT_MS) < 0 ||
		    tp_mloop_add(svc.loop, fd, POLLIN, on_client, c) < 0)
			client_free(c);
	}
}

/* In a worker just forked: the services are the master's alone. */
static void close_in_child(void)
{
	if (svc.unix_l.fd >= 0)
		close(svc.unix_l.fd);
	if (svc.admin_l.fd >= 0)
		close(svc.admin_l.fd);
	for (struct client *c = svc.clients; c; c = c->next)
		close(c->fd);
	svc.unix_l.fd = svc.admin_l.fd = -1;
	svc.unix_l.n_clients = svc.admin_l.n_clients = 0;
	svc.clients = NULL;
}

/* A socket file already at path: 0 when it may be replaced (nobody listens, and it is ours:
 * created by this uid or chowned to the workers' user, owner_ok), -EADDRINUSE when a live
 * process listens on it, -EEXIST when it is not a socket, -EPERM when someone else's. */
static int check_stale(const char *path, uid_t owner_ok)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat sb;
	int fd, ret = 0;

	if (lstat(path, &sb) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(sb.st_mode))
		return -EEXIST;
	if (sb.st_uid != geteuid() && sb.st_uid != owner_ok)
		return -EPERM;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		ret = -EADDRINUSE;
	close(fd);
	if (!ret && unlink(path) < 0 && errno != ENOENT)
		ret = -errno;
	return ret;
}

static int open_unix(const char *path, uid_t owner_ok)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat sb;
	mode_t old;
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		tp_error("stats socket %s: path longer than %zu bytes", path,
			 sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	ret = check_stale(path, owner_ok);
	if (ret == -EADDRINUSE) {
		tp_error("stats socket %s is in use by another process (another instance with the "
			 "same --base-id?)",
			 path);
		return ret;
	}
	if (ret < 0) {
		tp_error("stats socket %s: %s", path,
			 ret == -EEXIST	 ? "exists and is not a socket"
			 : ret == -EPERM ? "a socket of another user is there: remove it"
					 : strerror(-ret));
		return ret;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		tp_error("stats socket: %s", strerror(errno));
		return ret;
	}
	/* 0600 from the start: the master is single-threaded, so the umask is ours for a moment. */
	old = umask(0177);
	ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (ret < 0 || chmod(path, 0600) < 0 || listen(fd, 64) < 0 || stat(path, &sb) < 0) {
		ret = -errno;
		tp_error("stats socket %s: %s", path, strerror(errno));
		close(fd);
		return ret;
	}
	snprintf(svc.unix_path, sizeof(svc.unix_path), "%s", path);
	svc.unix_ino = sb.st_ino;
	return fd;
}

static int open_admin(const struct tp_sockaddr *a)
{
	int one = 1, fd, ret;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto out_err;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 || listen(fd, 128) < 0)
		goto out_close_fd;
	return fd;

out_close_fd:
	ret = errno;
	close(fd);
	errno = ret;
out_err:
	ret = -errno;
	tp_error("admin: cannot listen on %s: %s", a->text, strerror(errno));
	return ret;
}

int tp_services_start(struct tp_mloop *loop, const struct tp_master_view *v,
		      const struct tp_master_opts *opts, const struct tp_config *cfg)
{
	const char *stats_socket = opts->stats_socket;
	char def[sizeof(svc.unix_path)];
	int ret;

	svc.loop = loop;
	svc.view = v;
	if (!svc.atfork) {
		ret = pthread_atfork(NULL, NULL, close_in_child);
		if (ret)
			return -ret;
		svc.atfork = true;
	}
	if (!stats_socket) {
		tp_stats_socket_default(opts->base_id, geteuid(), def, sizeof(def));
		stats_socket = def;
		ret = prepare_default_dir(def);
		if (ret < 0)
			return ret;
	}
	ret = open_unix(stats_socket, opts->drop_privileges ? opts->uid : geteuid());
	if (ret < 0)
		return ret;
	svc.unix_l.fd = ret;
	/* tcpproxy-stat may run as the workers' user, as it may read the stats segment. */
	if (opts->drop_privileges && chown(svc.unix_path, opts->uid, opts->gid) < 0)
		tp_warn("stats socket %s: chown: %s", svc.unix_path, strerror(errno));
	ret = tp_mloop_add(loop, svc.unix_l.fd, POLLIN, on_accept, &svc.unix_l);
	if (ret < 0)
		goto out_stop;
	if (cfg->admin.enabled) {
		ret = open_admin(&cfg->admin.addr);
		if (ret < 0)
			goto out_stop;
		svc.admin_l.fd = ret;
		ret = tp_mloop_add(loop, svc.admin_l.fd, POLLIN, on_accept, &svc.admin_l);
		if (ret < 0)
			goto out_stop;
		tp_info("admin: serving http://%s/", cfg->admin.addr.text);
	}
	tp_info("stats socket %s", svc.unix_path);
	return 0;

out_stop:
	tp_services_stop();
	return ret;
}

static void stop_listener(struct listener *l)
{
	if (l->resume_timer > 0)
		tp_mloop_cancel(svc.loop, l->resume_timer);
	l->resume_timer = 0;
	l->backoff_ms = 0;
	if (l->fd >= 0) {
		tp_mloop_del(svc.loop, l->fd);
		close(l->fd);
		l->fd = -1;
	}
}

void tp_services_stop(void)
{
	struct stat sb;
	bool had_unix = svc.unix_l.fd >= 0;

	while (svc.clients)
		client_free(svc.clients);
	stop_listener(&svc.admin_l);
	stop_listener(&svc.unix_l);
	if (had_unix && !stat(svc.unix_path, &sb) && sb.st_ino == svc.unix_ino)
		unlink(svc.unix_path);
}

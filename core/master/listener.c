/* Listening sockets, kept by the master per address: one SO_REUSEPORT socket per worker slot,
 * bound before any worker that accepts on it exists, shared by every generation that listens on
 * that address, closed only when none does any more. Closing a socket of a SO_REUSEPORT group
 * resets the connections in its accept queue, so an address a reload keeps keeps its sockets. */
#include "core/master/master-int.h"

#include "core/base/log.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 4096 /* capped by net.core.somaxconn */

/* A bound, listening, non-blocking socket in *fd, or -errno with the reason in err. */
static int bind_one(const struct tp_listener_cfg *l, int *out, char *err, size_t errlen)
{
	int one = 1, fd, ret;
	const char *what;

	fd = socket(l->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		what = "socket";
		goto out_err;
	}
	what = "setsockopt";
	/* SO_REUSEPORT: every worker slot gets its own socket on the same address and the
	 * kernel spreads connections over them, so workers never contend for one queue. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto out_close_fd;
	/* Inherited by accepted sockets: the relay forwards at once, Nagle would only delay. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* As Envoy (ipv4_compat false): [::] means IPv6 only. */
	if (l->addr.ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto out_close_fd;
	what = "bind";
	if (bind(fd, (const struct sockaddr *)&l->addr.ss, l->addr.len) < 0)
		goto out_close_fd;
	what = "listen";
	if (listen(fd, LISTEN_BACKLOG) < 0)
		goto out_close_fd;
	*out = fd;
	return 0;

out_close_fd:
	ret = errno;
	close(fd);
	errno = ret;
out_err:
	ret = -errno;
	snprintf(err, errlen, "listener '%s': %s %s: %s", l->name, what, l->addr.text,
		 strerror(errno));
	return ret;
}

static struct lsock *find(struct master *m, const struct tp_sockaddr *a)
{
	for (struct lsock *s = m->socks; s; s = s->next)
		if (s->len == a->len && !memcmp(&s->ss, &a->ss, a->len))
			return s;
	return NULL;
}

static void close_lsock(struct master *m, struct lsock *s)
{
	struct lsock **pp;

	for (pp = &m->socks; *pp && *pp != s; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = s->next;
	for (unsigned i = 0; i < m->opts->concurrency; i++)
		if (s->fds[i] >= 0)
			close(s->fds[i]);
	tp_info("listener %s closed", s->text);
	free(s->fds);
	free(s);
}

/* l's address's sockets, bound now if no listener has them yet, with a reference more. NULL
 * with the reason in err and -errno in *ret; what was bound for it is closed again. */
static struct lsock *get(struct master *m, const struct tp_listener_cfg *l, bool log_bound,
			 int *ret, char *err, size_t errlen)
{
	unsigned n = m->opts->concurrency;
	struct lsock *s = find(m, &l->addr);

	if (s) {
		s->refs++;
		return s;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->fds = malloc(n * sizeof(int)))) {
		free(s);
		*ret = -ENOMEM;
		snprintf(err, errlen, "listener '%s': out of memory", l->name);
		return NULL;
	}
	memcpy(&s->ss, &l->addr.ss, l->addr.len);
	s->len = l->addr.len;
	snprintf(s->text, sizeof(s->text), "%s", l->addr.text);
	for (unsigned k = 0; k < n; k++)
		s->fds[k] = -1;
	s->next = m->socks;
	m->socks = s;
	for (unsigned k = 0; k < n; k++) {
		*ret = bind_one(l, &s->fds[k], err, errlen);
		if (*ret < 0) {
			close_lsock(m, s);
			return NULL;
		}
	}
	if (log_bound)
		tp_info("listener %s bound", s->text);
	s->refs++;
	return s;
}

int lsock_acquire(struct master *m, struct gen *g)
{
	char err[256];
	int ret = 0;

	for (size_t i = 0; i < g->cfg->n_listeners; i++) {
		const struct tp_listener_cfg *l = &g->cfg->listeners[i];

		g->socks[i] = get(m, l, m->epoch || g->epoch, &ret, err, sizeof(err));
		if (!g->socks[i]) {
			tp_error("%s", err);
			lsock_release(m, g);
			return ret;
		}
	}
	return 0;
}

struct lsock *lsock_get(struct master *m, const struct tp_listener_cfg *l, int *ret, char *err,
			size_t errlen)
{
	return get(m, l, true, ret, err, errlen);
}

void lsock_put(struct master *m, struct lsock *s)
{
	if (s && !--s->refs)
		close_lsock(m, s);
}

void lsock_release(struct master *m, struct gen *g)
{
	for (size_t i = 0; i < g->cfg->n_listeners; i++) {
		if (g->socks[i] && !--g->socks[i]->refs)
			close_lsock(m, g->socks[i]);
		g->socks[i] = NULL;
	}
}

void lsock_close_all(struct master *m)
{
	while (m->socks)
		close_lsock(m, m->socks);
}

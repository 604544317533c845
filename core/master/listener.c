/* Listening sockets, bound by the master before any worker exists. */
#include "core/master/listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 4096 /* capped by net.core.somaxconn */

int tp_listener_bind(const struct tp_listener_cfg *l, int *out, char *err, size_t errlen)
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

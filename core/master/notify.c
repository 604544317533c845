/* sd_notify(3) without libsystemd: a datagram of "KEY=value" lines to $NOTIFY_SOCKET. */
#include "core/master/notify.h"

#include "core/base/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static struct {
	int fd;
	struct sockaddr_un sa;
	socklen_t len;
	uint64_t watchdog_usec;
} nt = {.fd = -1};

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

/* $WATCHDOG_USEC applies to us only if $WATCHDOG_PID is unset or names us (systemd sets it
 * for the main process; a child that inherited the environment must not ping for it). */
static void read_watchdog(void)
{
	const char *p = getenv("WATCHDOG_PID");
	uint64_t pid, usec;

	if (p && (!parse_u64(p, &pid) || pid != (uint64_t)getpid()))
		return;
	if (parse_u64(getenv("WATCHDOG_USEC"), &usec) && usec)
		nt.watchdog_usec = usec;
}

int tp_notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t n;

	if (!path || !*path)
		return 0;
	n = strlen(path);
	/* A path needs its terminating NUL in sun_path; an abstract name has none, and may take
	 * every byte after its leading NUL (107 of them), as systemd allows. */
	if ((path[0] != '/' && path[0] != '@') || n < 2 ||
	    n + (path[0] == '/') > sizeof(nt.sa.sun_path)) {
		tp_warn("NOTIFY_SOCKET=%s: not an absolute path or an abstract name; systemd will "
			"not be told when tcpproxy is ready",
			path);
		return -EINVAL;
	}
	memset(&nt.sa, 0, sizeof(nt.sa));
	nt.sa.sun_family = AF_UNIX;
	memcpy(nt.sa.sun_path, path, n);
	/* Abstract: the name starts with a NUL and is exactly n bytes long, no terminator. */
	if (path[0] == '@')
		nt.sa.sun_path[0] = '\0';
	nt.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
	nt.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (nt.fd < 0) {
		int err = errno;

		tp_warn("NOTIFY_SOCKET: socket: %s", strerror(err));
		return -err;
	}
	read_watchdog();
	return 0;
}

bool tp_notify_enabled(void)
{
	return nt.fd >= 0;
}

uint64_t tp_notify_watchdog_usec(void)
{
	return nt.fd >= 0 ? nt.watchdog_usec : 0;
}

int tp_notify_send(const char *msg)
{
	ssize_t n;

	if (nt.fd < 0)
		return 0;
	/* MSG_DONTWAIT: a full receive queue on systemd's side must not stall the master. */
	n = sendto(nt.fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
		   (const struct sockaddr *)&nt.sa, nt.len);
	if (n < 0) {
		int err = errno;

		tp_debug("sd_notify: %s", strerror(err));
		return -err;
	}
	tp_debug("sd_notify: %s", msg);
	return 0;
}

int tp_notify_sendf(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (nt.fd < 0)
		return 0;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return tp_notify_send(msg);
}

void tp_notify_close(void)
{
	if (nt.fd >= 0)
		close(nt.fd);
	nt.fd = -1;
}

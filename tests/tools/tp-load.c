/* tp-load: a load generator and echo server for the reload and limit tests, in C so that the
 * test machine's two cores, not Python, set the pace.
 *
 *   tp-load echo PORT [ADDRESS]
 *       echo server on 127.0.0.1:PORT (epoll, one thread); half-closes back after EOF. PORT 0
 *       takes a port the kernel picks. Prints "listening PORT" once it listens. A client that
 *       resets, or stops reading for 10 s, loses its own connection and nothing else. ADDRESS
 *       (0.0.0.0, say) listens there instead: every 127.x.y.z:PORT then reaches it, which makes
 *       a 1,000-host cluster of one server (bench/lb_connrate).
 *   tp-load client PORT SECONDS THREADS BYTES
 *       THREADS threads open connection after connection to 127.0.0.1:PORT for SECONDS: each
 *       sends BYTES pseudo-random bytes, half-closes, reads the echo until EOF and compares it.
 *       Prints "connections N failed M bytes B" and exits 0 if nothing failed, 1 otherwise.
 *       The first failures are described on stderr. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port;
static struct in_addr echo_addr = {.s_addr = 0};
static bool have_echo_addr;
static double seconds;
static size_t bytes;
static atomic_ulong n_ok, n_failed, n_bytes;
static atomic_int failures_told;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fail(const char *what, int err)
{
	atomic_fetch_add(&n_failed, 1);
	if (atomic_fetch_add(&failures_told, 1) < 5)
		fprintf(stderr, "tp-load: %s: %s\n", what, err ? strerror(err) : "mismatch");
}

static int one_connection(uint8_t *out, uint8_t *in, uint64_t seed)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = 10};
	size_t got = 0, sent = 0;
	int fd, one = 1;

	for (size_t i = 0; i < bytes; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		out[i] = (uint8_t)(seed >> 56);
	}
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		fail("socket", errno);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fail("connect", errno);
		goto out_close;
	}
	while (sent < bytes) {
		ssize_t n = write(fd, out + sent, bytes - sent);

		if (n <= 0) {
			fail("write", errno);
			goto out_close;
		}
		sent += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	for (;;) {
		ssize_t n = read(fd, in + got, bytes + 1 - got);

		if (n < 0) {
			fail("read", errno);
			goto out_close;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > bytes) {
			fail("read: more bytes than sent", 0);
			goto out_close;
		}
	}
	if (got != bytes || memcmp(in, out, bytes)) {
		fail("echo differs from what was sent", 0);
		goto out_close;
	}
	atomic_fetch_add(&n_ok, 1);
	atomic_fetch_add(&n_bytes, bytes);
	close(fd);
	return 0;
out_close:
	close(fd);
	return -1;
}

static void *client_thread(void *arg)
{
	uint8_t *out = malloc(bytes + 1), *in = malloc(bytes + 1);
	uint64_t seed = (uintptr_t)arg * 0x9e3779b97f4a7c15ull;
	double end = now() + seconds;

	while (now() < end)
		one_connection(out, in, seed++);
	free(out);
	free(in);
	return NULL;
}

static int run_client(int threads)
{
	pthread_t *t = calloc((size_t)threads, sizeof(*t));

	for (long i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, client_thread, (void *)(i + 1));
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	printf("connections %lu failed %lu bytes %lu\n", atomic_load(&n_ok), atomic_load(&n_failed),
	       atomic_load(&n_bytes));
	free(t);
	return atomic_load(&n_failed) ? 1 : 0;
}

/* Writes all of buf to the non-blocking socket fd, waiting up to 10 s at a time for room (the
 * whole server waits: the tests' exchanges are small). 0, or -1 when the peer is gone (EPIPE,
 * ECONNRESET) or never makes room. */
static int write_all(int fd, const char *buf, size_t len)
{
	size_t w = 0;

	while (w < len) {
		ssize_t k = write(fd, buf + w, len - w);
		struct pollfd p = {.fd = fd, .events = POLLOUT};

		if (k > 0) {
			w += (size_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN && poll(&p, 1, 10000) > 0)
			continue;
		return -1;
	}
	return 0;
}

/* Echoes what fd has to read. At EOF it half-closes back and closes; on an error (a reset) or a
 * failed write it closes: only this connection ends. */
static void echo_ready(int fd)
{
	static char buf[65536];

	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r > 0) {
			if (write_all(fd, buf, (size_t)r) < 0)
				break;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r == 0)
			shutdown(fd, SHUT_WR);
		break;
	}
	close(fd); /* also leaves the epoll set */
}

static int run_echo(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	socklen_t salen = sizeof(sa);
	struct epoll_event ev, evs[256];
	int ls, ep, one = 1;

	sa.sin_addr.s_addr = have_echo_addr ? echo_addr.s_addr : htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 4096) < 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &salen) < 0) {
		perror("tp-load echo: bind");
		return 1;
	}
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.fd = ls;
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	printf("listening %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == ls) {
				int c;

				while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					ev.events = EPOLLIN;
					ev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			echo_ready(fd);
		}
	}
}

int main(int argc, char **argv)
{
	/* A peer that resets must cost its connection only: write() then fails with EPIPE (or
	 * ECONNRESET) instead of killing the process with SIGPIPE, in both modes. */
	signal(SIGPIPE, SIG_IGN);
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "echo")) {
		port = atoi(argv[2]);
		have_echo_addr = argc == 4;
		if (have_echo_addr && inet_pton(AF_INET, argv[3], &echo_addr) != 1) {
			fprintf(stderr, "tp-load echo: bad address %s\n", argv[3]);
			return 2;
		}
		return run_echo();
	}
	if (argc == 6 && !strcmp(argv[1], "client")) {
		port = atoi(argv[2]);
		seconds = atof(argv[3]);
		bytes = (size_t)atol(argv[5]);
		return run_client(atoi(argv[4]));
	}
	fprintf(stderr, "usage: tp-load echo PORT [ADDRESS] | tp-load client PORT SECONDS THREADS "
			"BYTES\n");
	return 2;
}

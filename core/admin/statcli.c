/* The client side of the stats socket: one HTTP/1.0 GET per report, and the --watch screen. */
#include "core/admin/statcli.h"

#include "core/admin/services.h"

#include "core/base/http.h"
#include "core/base/sbuf.h"
#include "core/base/timer.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define WATCH_TIMEOUT_MS 5000

int tp_statcli_target(char *out, size_t len, const char *format, const char *filter,
		      const char *type)
{
	char esc[3 * 1024];
	int n;

	if (filter && tp_http_query_escape(filter, esc, sizeof(esc)) < 0)
		return -ENAMETOOLONG;
	n = snprintf(out, len, "/stats?format=%s%s%s%s%s", format, filter ? "&filter=" : "",
		     filter ? esc : "", type ? "&type=" : "", type ? type : "");
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int tp_statcli_default_socket(unsigned base_id, char *out, size_t len, char *err, size_t errlen)
{
	uid_t uids[2] = {geteuid(), 0};
	unsigned n = uids[0] == 0 ? 1 : 2;

	for (unsigned i = 0; i < n; i++) {
		char dir[64], why[128];
		struct stat sb;
		int ret;

		/* Each place is checked against the uid it belongs to: root's /run/tcpproxy must
		 * be root's, not the caller's. */
		tp_stats_socket_dir(uids[i], dir, sizeof(dir));
		ret = tp_stats_socket_dir_check(dir, uids[i], why, sizeof(why));
		if (ret == -ENOENT)
			continue;
		if (ret < 0) {
			/* Someone else's directory could hold a socket that answers with lies. */
			snprintf(err, errlen, "stats socket directory %s is not safe to use: %s",
				 dir, why);
			return ret;
		}
		tp_stats_socket_default(base_id, uids[i], out, len);
		if (lstat(out, &sb) == 0)
			return 0;
	}
	/* Nothing there: the first place, for the error message. */
	tp_stats_socket_default(base_id, uids[0], out, len);
	return 0;
}

/* Appends what a master answered, with every control character but tab and newline written
 * as \xNN (C0, DEL, and C1 as UTF-8 encodes it, which some terminals obey). Nothing a stats
 * body holds is one of them, and what is printed may come from a socket of any user (-s PATH,
 * or a non-root master's default place) to root's terminal, where an escape sequence could
 * retitle, rewrite or, on some terminals, answer back into the shell. */
static void add_printable(struct tp_sbuf *b, const char *p, size_t len)
{
	size_t run = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		bool c1 = c == 0xc2 && i + 1 < len && (unsigned char)p[i + 1] >= 0x80 &&
			  (unsigned char)p[i + 1] <= 0x9f;

		if ((c >= 0x20 && c != 0x7f && !c1) || c == '\t' || c == '\n')
			continue;
		tp_sbuf_add(b, p + run, i - run);
		if (c1) {
			tp_sbuf_printf(b, "\\xc2\\x%02x", (unsigned char)p[i + 1]);
			i++;
		} else {
			tp_sbuf_printf(b, "\\x%02x", c);
		}
		run = i + 1;
	}
	tp_sbuf_add(b, p + run, len - run);
}

/* Waits for fd to be ready for events until deadline; 0, or -ETIMEDOUT / -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	uint64_t now = tp_now_ms();
	int n;

	if (now >= deadline)
		return -ETIMEDOUT;
	n = poll(&p, 1, (int)(deadline - now));
	if (n < 0)
		return -errno;
	return n ? 0 : -ETIMEDOUT;
}

int tp_statcli_get(const char *path, const char *target, int timeout_ms, struct tp_sbuf *body,
		   char *err, size_t errlen)
{
	return tp_statcli_request(path, "GET", target, timeout_ms, body, err, errlen);
}

int tp_statcli_request(const char *path, const char *method, const char *target, int timeout_ms,
		       struct tp_sbuf *body, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	uint64_t deadline = tp_now_ms() + (uint64_t)timeout_ms;
	struct tp_sbuf req = TP_SBUF_INIT, resp = TP_SBUF_INIT;
	size_t sent = 0, off;
	int fd, ret, status;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "stats socket %s: path too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return ret;
	}
	/* A Unix socket connects at once or fails (EAGAIN: the master's backlog is full). */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot connect to stats socket %s: %s", path,
			 strerror(errno));
		goto out_close;
	}
	tp_sbuf_printf(&req, "%s %s HTTP/1.0\r\nHost: tcpproxy\r\n%s\r\n", method, target,
		       strcmp(method, "POST") ? "" : "Content-Length: 0\r\n");
	ret = -ENOMEM;
	if (req.oom)
		goto out_nomem;
	while (sent < req.len) {
		ssize_t n = send(fd, req.p + sent, req.len - sent, MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN) {
			ret = wait_fd(fd, POLLOUT, deadline);
			if (ret < 0)
				goto out_io;
			continue;
		}
		if (n < 0 && errno != EINTR) {
			ret = -errno;
			goto out_io;
		}
		if (n > 0)
			sent += (size_t)n;
	}
	for (;;) {
		ssize_t n;

		if (tp_sbuf_reserve(&resp, 65536) < 0)
			goto out_nomem;
		n = recv(fd, resp.p + resp.len, 65536, 0);
		if (n == 0)
			break;
		if (n < 0 && errno == EAGAIN) {
			ret = wait_fd(fd, POLLIN, deadline);
			if (ret < 0)
				goto out_io;
			continue;
		}
		if (n < 0 && errno != EINTR) {
			ret = -errno;
			goto out_io;
		}
		if (n > 0) {
			resp.len += (size_t)n;
			resp.p[resp.len] = '\0';
		}
	}
	if (tp_http_response_split(resp.p ? resp.p : "", resp.len, &status, &off) < 0) {
		ret = -EPROTO;
		snprintf(err, errlen, "stats socket %s: not an HTTP response", path);
		goto out_close;
	}
	add_printable(body, resp.p + off, resp.len - off);
	ret = status;
	goto out_close;

out_io:
	snprintf(err, errlen, "stats socket %s: %s", path,
		 ret == -ETIMEDOUT ? "no answer in time" : strerror(-ret));
	goto out_close;
out_nomem:
	snprintf(err, errlen, "out of memory");
out_close:
	tp_sbuf_free(&req);
	tp_sbuf_free(&resp);
	close(fd);
	return ret;
}

/* ---- --watch ---- */

struct sample {
	char *name;
	char *value;
	double num;
	bool counter;
};

struct frame {
	struct sample *v;
	size_t n;
	uint64_t at_ms;
};

static volatile sig_atomic_t quit_signal;

static void on_quit_signal(int sig)
{
	quit_signal = sig;
}

static void frame_free(struct frame *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].name);
		free(f->v[i].value);
	}
	free(f->v);
	memset(f, 0, sizeof(*f));
}

static int cmp_sample(const void *a, const void *b)
{
	return strcmp(((const struct sample *)a)->name, ((const struct sample *)b)->name);
}

static struct sample *find(const struct frame *f, const char *name)
{
	struct sample key = {.name = (char *)name};

	return f->n ? bsearch(&key, f->v, f->n, sizeof(*f->v), cmp_sample) : NULL;
}

/* "name: value" lines into samples, in the report's order. */
static int parse_lines(char *text, struct frame *f)
{
	size_t cap = 0;

	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char *sep = strstr(line, ": ");
		struct sample *s;

		if (!sep)
			continue;
		if (f->n == cap) {
			cap = cap ? 2 * cap : 128;
			s = realloc(f->v, cap * sizeof(*s));
			if (!s)
				return -ENOMEM;
			f->v = s;
		}
		*sep = '\0';
		s = &f->v[f->n];
		s->name = strdup(line);
		s->value = strdup(sep + 2);
		s->counter = false;
		s->num = strtod(sep + 2, NULL);
		if (!s->name || !s->value) {
			free(s->name);
			free(s->value);
			return -ENOMEM;
		}
		f->n++;
	}
	return 0;
}

static int fetch_frame(const char *path, const char *filter, struct frame *f, char *err,
		       size_t errlen)
{
	struct tp_sbuf all = TP_SBUF_INIT, counters = TP_SBUF_INIT;
	struct frame cf = {0};
	char target[4096];
	int ret;

	ret = tp_statcli_target(target, sizeof(target), "text", filter, "Counters");
	if (!ret)
		ret = tp_statcli_get(path, target, WATCH_TIMEOUT_MS, &counters, err, errlen);
	if (ret >= 0 && ret != 200) {
		snprintf(err, errlen, "%s", counters.p ? counters.p : "error");
		ret = -EPROTO;
	}
	if (ret < 0)
		goto out;
	tp_statcli_target(target, sizeof(target), "text", filter, NULL);
	ret = tp_statcli_get(path, target, WATCH_TIMEOUT_MS, &all, err, errlen);
	if (ret >= 0 && ret != 200) {
		snprintf(err, errlen, "%s", all.p ? all.p : "error");
		ret = -EPROTO;
	}
	if (ret < 0)
		goto out;
	ret = -ENOMEM;
	if (all.oom || counters.oom || parse_lines(all.p ? all.p : (char[]){""}, f) < 0 ||
	    parse_lines(counters.p ? counters.p : (char[]){""}, &cf) < 0)
		goto out;
	qsort(cf.v, cf.n, sizeof(*cf.v), cmp_sample);
	for (size_t i = 0; i < f->n; i++)
		f->v[i].counter = find(&cf, f->v[i].name) != NULL;
	f->at_ms = tp_now_ms();
	ret = 0;
out:
	frame_free(&cf);
	tp_sbuf_free(&all);
	tp_sbuf_free(&counters);
	return ret;
}

static void draw(const char *path, unsigned interval_s, const struct frame *cur,
		 const struct frame *prev)
{
	struct winsize ws = {0};
	struct tp_sbuf b = TP_SBUF_INIT;
	unsigned rows, cols, row = 0;
	double dt = prev->n ? (double)(cur->at_ms - prev->at_ms) / 1000.0 : 0;
	char clock[16], line[1024];
	time_t now = time(NULL);

	rows = 24;
	cols = 80;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
		rows = ws.ws_row;
		cols = ws.ws_col;
	}
	strftime(clock, sizeof(clock), "%H:%M:%S", localtime(&now));
	tp_sbuf_puts(&b, "\033[H");
	snprintf(line, sizeof(line), "tcpproxy-stat  %s  every %us  %s  (q to quit)", path,
		 interval_s, clock);
	tp_sbuf_printf(&b, "%.*s\033[K\r\n", (int)cols, line);
	snprintf(line, sizeof(line), "%-60s %20s %14s", "NAME", "VALUE", "RATE");
	tp_sbuf_printf(&b, "%.*s\033[K\r\n", (int)cols, line);
	row = 2;
	for (size_t i = 0; i < cur->n && row + 1 < rows; i++, row++) {
		const struct sample *s = &cur->v[i];
		const struct sample *p = s->counter ? find(prev, s->name) : NULL;
		char rate[32] = "";

		/* A counter that went down was reset (POST /reset_counters): it counted from
		 * zero since, as Prometheus reads a counter reset. */
		if (s->counter && p && dt > 0)
			snprintf(rate, sizeof(rate), "%.1f/s",
				 (s->num >= p->num ? s->num - p->num : s->num) / dt);
		else if (s->counter)
			snprintf(rate, sizeof(rate), "-");
		snprintf(line, sizeof(line), "%-60s %20s %14s", s->name, s->value, rate);
		tp_sbuf_printf(&b, "%.*s\033[K\r\n", (int)cols, line);
	}
	tp_sbuf_puts(&b, "\033[J");
	if (!b.oom && write(STDOUT_FILENO, b.p, b.len) < 0)
		quit_signal = SIGPIPE;
	tp_sbuf_free(&b);
}

/* --connections --watch: the master's text as it is, cut to the screen. */
static int draw_connections(const char *path, const char *target, unsigned interval_s, char *err,
			    size_t errlen)
{
	struct tp_sbuf body = TP_SBUF_INIT, b = TP_SBUF_INIT;
	struct winsize ws = {0};
	unsigned rows = 24, cols = 80, row;
	char clock[16], line[1024];
	time_t now = time(NULL);
	int ret;

	ret = tp_statcli_get(path, target, WATCH_TIMEOUT_MS, &body, err, errlen);
	if (ret >= 0 && ret != 200) {
		snprintf(err, errlen, "%s", body.p ? body.p : "error");
		ret = -EPROTO;
	}
	if (ret < 0)
		goto out;
	ret = 0;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
		rows = ws.ws_row;
		cols = ws.ws_col;
	}
	strftime(clock, sizeof(clock), "%H:%M:%S", localtime(&now));
	tp_sbuf_puts(&b, "\033[H");
	snprintf(line, sizeof(line), "tcpproxy-stat --connections  %s  every %us  %s  (q to quit)",
		 path, interval_s, clock);
	tp_sbuf_printf(&b, "%.*s\033[K\r\n", (int)cols, line);
	row = 1;
	for (char *l = body.p, *nl; l && *l && row + 1 < rows; l = nl ? nl + 1 : NULL, row++) {
		nl = strchr(l, '\n');
		tp_sbuf_printf(&b, "%.*s\033[K\r\n",
			       (int)(nl ? (size_t)(nl - l) < cols ? (size_t)(nl - l) : cols : cols),
			       l);
	}
	tp_sbuf_puts(&b, "\033[J");
	if (!b.oom && write(STDOUT_FILENO, b.p, b.len) < 0)
		quit_signal = SIGPIPE;
out:
	tp_sbuf_free(&b);
	tp_sbuf_free(&body);
	return ret;
}

/* The previous frame, sorted by name, for rate look-ups. */
static int keep_sorted(struct frame *prev, struct frame *cur)
{
	frame_free(prev);
	prev->v = malloc((cur->n ? cur->n : 1) * sizeof(*cur->v));
	if (!prev->v)
		return -ENOMEM;
	for (size_t i = 0; i < cur->n; i++) {
		prev->v[i] = cur->v[i];
		cur->v[i].name = cur->v[i].value = NULL;
	}
	prev->n = cur->n;
	prev->at_ms = cur->at_ms;
	qsort(prev->v, prev->n, sizeof(*prev->v), cmp_sample);
	frame_free(cur);
	return 0;
}

int tp_statcli_watch(const char *path, const char *filter, const char *conns_target,
		     unsigned interval_s, char *err, size_t errlen)
{
	struct sigaction sa = {.sa_handler = on_quit_signal};
	struct frame cur = {0}, prev = {0};
	bool tty_in = isatty(STDIN_FILENO), stdin_open = true;
	bool tty_out = isatty(STDOUT_FILENO);
	struct termios saved, raw;
	int ret = 0;

	/* No SA_RESTART: a signal ends the wait in poll(2) at once. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (tty_in && tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		/* Keys arrive one by one and unechoed; ISIG stays, so Ctrl-C is SIGINT. */
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	} else {
		tty_in = false;
	}
	if (tty_out)
		fputs("\033[?1049h\033[?25l", stdout); /* alternate screen, cursor hidden */
	fflush(stdout);
	while (!quit_signal) {
		struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
		uint64_t until;

		if (conns_target) {
			ret = draw_connections(path, conns_target, interval_s, err, errlen);
			if (ret < 0)
				break;
		} else {
			ret = fetch_frame(path, filter, &cur, err, errlen);
			if (ret < 0)
				break;
			draw(path, interval_s, &cur, &prev);
			ret = keep_sorted(&prev, &cur);
			if (ret < 0)
				break;
		}
		until = tp_now_ms() + (uint64_t)interval_s * 1000;
		while (!quit_signal && tp_now_ms() < until) {
			int n = poll(&p, stdin_open ? 1 : 0, (int)(until - tp_now_ms()));
			char c;

			if (n <= 0)
				continue;
			if (read(STDIN_FILENO, &c, 1) != 1) {
				stdin_open = false; /* no keyboard: only signals stop us */
				continue;
			}
			if (c == 'q' || c == 'Q')
				quit_signal = -1;
		}
	}
	if (tty_out)
		fputs("\033[?25h\033[?1049l", stdout);
	fflush(stdout);
	if (tty_in)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	frame_free(&cur);
	frame_free(&prev);
	return ret;
}

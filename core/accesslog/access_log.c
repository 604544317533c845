/* tcp_proxy's access logs: config (Envoy's AccessLog with the file, stdout and stderr loggers)
 * and the per-worker writer.
 *
 * A worker never blocks its ring on log I/O. Each log has two buffers: entries are rendered
 * into one while the other is being written by IORING_OP_WRITE (one write in flight per log, so
 * the writes of a log stay in order). A buffer only ever holds whole lines and files are opened
 * O_APPEND, so each write lands at the end of the file as a whole and lines from different
 * workers never interleave; to a pipe or terminal a write is cut at line ends into chunks of at
 * most PIPE_BUF, which the kernel also keeps whole. When both buffers are full (a disk that
 * cannot keep up) entries are dropped and counted rather than waited for. */
#include "core/accesslog/access_log.h"

#include "core/config/cfg_schema.h"
#include "core/config/config-t.h"
#include "core/conn/conn-t.h"
#include "core/accesslog/format.h"
#include "core/accesslog/format_cfg.h"
#include "core/base/log.h"
#include "core/worker/worker-t.h"
#include "core/config/ynode.h"
#include "uring/ring.h"
#include "uring/udata.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- config ---- */

/* A logger's typed_config as written. */
struct logger_tmp {
	char *path;
	struct tp_format *fmt;
	unsigned given; /* formats given: at most one */
};

static int decode_log_format(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			     const struct tp_ynode *v, void *obj)
{
	struct logger_tmp *t = obj;

	if (t->given++)
		return 0; /* the post rule reports it */
	t->fmt = tp_format_cfg_substitution(ctx, v);
	return t->fmt ? 0 : -EINVAL;
}

/* FileAccessLog.format: a bare format string (deprecated in Envoy, still common). */
static int decode_format(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			 const struct tp_ynode *v, void *obj)
{
	struct logger_tmp *t = obj;

	if (t->given++)
		return 0;
	t->fmt = tp_format_cfg_text(ctx, v);
	return t->fmt ? 0 : -EINVAL;
}

/* FileAccessLog.json_format renders every value as a string; typed_json_format keeps types. */
static int decode_json(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
		       const struct tp_ynode *v, void *obj)
{
	struct logger_tmp *t = obj;

	if (t->given++)
		return 0;
	t->fmt = tp_format_cfg_json(ctx, v, !strcmp(f->key, "typed_json_format"));
	return t->fmt ? 0 : -EINVAL;
}

static void logger_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct logger_tmp *t = obj;

	if (t->given > 1)
		tp_cfg_error(ctx, map, NULL,
			     "only one of log_format, format, json_format and typed_json_format "
			     "may be set");
}

static const struct tp_cfg_field file_fields[] = {
	{.key = "path",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_REQUIRED | TP_CFG_NONEMPTY,
	 .off = offsetof(struct logger_tmp, path)},
	{.key = "log_format", .type = TP_CFG_CUSTOM, .decode = decode_log_format},
	{.key = "format", .type = TP_CFG_CUSTOM, .decode = decode_format},
	{.key = "json_format", .type = TP_CFG_CUSTOM, .decode = decode_json},
	{.key = "typed_json_format", .type = TP_CFG_CUSTOM, .decode = decode_json},
	{.key = NULL},
};

static const struct tp_cfg_schema file_schema = {
	.name = "envoy.extensions.access_loggers.file.v3.FileAccessLog",
	.size = sizeof(struct logger_tmp),
	.fields = file_fields,
	.any = true,
	.post = logger_post,
};

static const struct tp_cfg_field stream_fields[] = {
	{.key = "log_format", .type = TP_CFG_CUSTOM, .decode = decode_log_format},
	{.key = NULL},
};

static const struct tp_cfg_schema stdout_schema = {
	.name = "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
	.size = sizeof(struct logger_tmp),
	.fields = stream_fields,
	.any = true,
};

static const struct tp_cfg_schema stderr_schema = {
	.name = "envoy.extensions.access_loggers.stream.v3.StderrAccessLog",
	.size = sizeof(struct logger_tmp),
	.fields = stream_fields,
	.any = true,
};

static const struct {
	const struct tp_cfg_schema *schema;
	enum tp_alog_sink sink;
} loggers[] = {
	{&file_schema, TP_ALOG_FILE},
	{&stdout_schema, TP_ALOG_STDOUT},
	{&stderr_schema, TP_ALOG_STDERR},
};

static int decode_logger(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			 const struct tp_ynode *v, void *obj)
{
	struct tp_access_log_cfg *l = obj;
	const struct tp_ynode *type;
	struct logger_tmp t = {0};
	const char *url, *msg;
	size_t i;
	int ret;

	l->tc_mark = tp_cfg_mark_of(v);
	if (v->type != TP_YNODE_MAP) {
		tp_cfg_error(ctx, v, NULL, "expected a mapping with \"@type\", got %s",
			     tp_ynode_kind_name(v));
		return -EINVAL;
	}
	type = tp_ynode_map_get(v, "@type");
	if (!type || type->type != TP_YNODE_SCALAR || tp_ynode_is_null(type)) {
		tp_cfg_error(ctx, type ? type : v, type ? "@type" : NULL,
			     "missing \"@type\" (a type URL string)");
		return -EINVAL;
	}
	url = type->str;
	msg = strrchr(url, '/');
	msg = msg ? msg + 1 : url;
	for (i = 0; i < sizeof(loggers) / sizeof(loggers[0]); i++)
		if (!strcmp(loggers[i].schema->name, msg))
			break;
	if (i == sizeof(loggers) / sizeof(loggers[0])) {
		if (strstr(url, ".v2."))
			tp_cfg_error(ctx, type, "@type",
				     "unsupported @type \"%s\": Envoy's v2 API was removed; use "
				     "type.googleapis.com/"
				     "envoy.extensions.access_loggers.file.v3.FileAccessLog",
				     url);
		else
			tp_cfg_error(ctx, type, "@type",
				     "unsupported @type \"%s\": tcpproxy has the file, stdout and "
				     "stderr access loggers (see docs/envoy-compat.md)",
				     url);
		return -EINVAL;
	}
	ret = tp_cfg_decode(ctx, loggers[i].schema, v, &t);
	if (!t.fmt && !ret && !t.given) {
		struct tp_fmt_error e;

		/* Compiled once per log: the worker renders it like any other. */
		ret = tp_format_compile(TP_ACCESS_LOG_DEFAULT_FORMAT,
					strlen(TP_ACCESS_LOG_DEFAULT_FORMAT), &t.fmt, &e);
		if (ret < 0) {
			ctx->oom = true;
			tp_cfg_error(ctx, v, NULL, "%s", strerror(ENOMEM));
		}
	}
	l->sink = loggers[i].sink;
	l->path = t.path;
	l->format = t.fmt;
	return ret;
}

static void free_logger(const struct tp_cfg_field *f, void *obj)
{
	struct tp_access_log_cfg *l = obj;

	free(l->path);
	tp_format_free(l->format);
	l->path = NULL;
	l->format = NULL;
}

static void access_log_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_access_log_cfg *l = obj;

	if (!tp_cfg_find(map, "typed_config"))
		tp_cfg_error_mark(ctx, l->mark, "typed_config",
				  "missing required field: tcpproxy picks an access logger by its "
				  "typed_config \"@type\", not by name%s%s%s",
				  l->name ? " (\"" : "", l->name ? l->name : "",
				  l->name ? "\")" : "");
}

static const struct tp_cfg_field access_log_fields[] = {
	{.key = "name", .type = TP_CFG_STRING, .off = offsetof(struct tp_access_log_cfg, name)},
	{.key = "typed_config",
	 .type = TP_CFG_CUSTOM,
	 .decode = decode_logger,
	 .free = free_logger},
	{.key = "filter", .type = TP_CFG_UNSUPPORTED},
	{.key = "config", .type = TP_CFG_REMOVED, .hint = "use typed_config with an \"@type\""},
	{.key = NULL},
};

const struct tp_cfg_schema tp_access_log_schema = {
	.name = "envoy.config.accesslog.v3.AccessLog",
	.size = sizeof(struct tp_access_log_cfg),
	.fields = access_log_fields,
	.mark_off = TP_CFG_MARK(struct tp_access_log_cfg, mark),
	.post = access_log_post,
};

int tp_access_log_check(struct tp_config *cfg, struct tp_access_log_cfg *logs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct tp_access_log_cfg *l = &logs[i];
		char **paths;
		size_t j;

		if (l->format)
			cfg->format_needs |= l->format->needs;
		if (l->sink != TP_ALOG_FILE || !l->path)
			continue;
		/* Envoy shares one file object per path; so does a worker. */
		for (j = 0; j < cfg->n_access_log_paths; j++)
			if (!strcmp(cfg->access_log_paths[j], l->path))
				break;
		if (j == cfg->n_access_log_paths) {
			paths = realloc(cfg->access_log_paths, (j + 1) * sizeof(*paths));
			if (!paths)
				return -ENOMEM;
			cfg->access_log_paths = paths;
			paths[j] = strdup(l->path);
			if (!paths[j])
				return -ENOMEM;
			cfg->n_access_log_paths++;
		}
		l->file = (uint32_t)j;
	}
	return 0;
}

/* ---- the writer, one per worker ---- */

#define BUF_BYTES    (256u * 1024u) /* per buffer, two per log */
#define LINE_BYTES   (16u * 1024u)  /* an entry longer than this is cut (and still ends a line) */
#define FINI_WAIT_MS 2000

struct log_file {
	const char *path; /* NULL for stdout and stderr: nothing to reopen */
	int fd;		  /* -1: could not be opened; its entries are dropped */
	int old_fd;	  /* replaced by a reopen while a write on it was in flight */
	int write_fd;	  /* the descriptor of the write in flight */
	bool whole;	  /* a regular file: a write appends whole; else PIPE_BUF chunks */
	bool busy;	  /* buf[!fill] is being written */
	bool torn;	  /* a failed write left fd's last line unfinished */
	bool prefixed;	  /* buf[!fill] starts with the newline that ends that line */
	uint8_t fill;	  /* the buffer entries go into */
	char *buf[2];
	uint32_t len[2];
	uint32_t off;	/* of the busy buffer, written so far */
	uint32_t chunk; /* the write in flight */
	uint64_t dropped;
	uint64_t warned_ms;
};

/* One worker per process: its logs. Files first, in cfg->access_log_paths order, then stdout
 * and stderr. */
static struct {
	struct log_file *f;
	size_t n;
	bool ready;
} rt;

static int open_log(const char *path)
{
	/* Envoy's mode for access logs; O_APPEND makes every write land whole at the end. */
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

static void set_kind(struct log_file *lf)
{
	struct stat st;

	lf->whole = fstat(lf->fd, &st) == 0 && S_ISREG(st.st_mode);
	/* stdout or stderr on a file another process also writes: append, so that no write
	 * lands on another's bytes (io_uring does not lock the shared file position). */
	if (lf->whole && !lf->path) {
		int fl = fcntl(lf->fd, F_GETFL);

		if (fl >= 0 && !(fl & O_APPEND))
			fcntl(lf->fd, F_SETFL, fl | O_APPEND);
	}
}

void tp_access_log_worker_init(struct tp_worker *w)
{
	const struct tp_config *cfg = w->cfg;

	memset(&rt, 0, sizeof(rt));
	rt.n = cfg->n_access_log_paths + 2;
	rt.f = calloc(rt.n, sizeof(*rt.f));
	if (!rt.f) {
		tp_error("access logs: out of memory; entries will be dropped");
		rt.n = 0;
		return;
	}
	for (size_t i = 0; i < rt.n; i++) {
		struct log_file *lf = &rt.f[i];

		lf->old_fd = lf->write_fd = -1;
		if (i < cfg->n_access_log_paths) {
			lf->path = cfg->access_log_paths[i];
			lf->fd = open_log(lf->path);
			if (lf->fd < 0) {
				tp_error("access log %s: %s; its entries will be dropped", lf->path,
					 strerror(errno));
				continue;
			}
		} else {
			lf->fd = i == cfg->n_access_log_paths ? STDOUT_FILENO : STDERR_FILENO;
		}
		set_kind(lf);
	}
	rt.ready = true;
}

static struct log_file *file_of(const struct tp_access_log_cfg *l)
{
	size_t i = l->sink == TP_ALOG_FILE     ? l->file
		   : l->sink == TP_ALOG_STDOUT ? rt.n - 2
					       : rt.n - 1;

	return i < rt.n ? &rt.f[i] : NULL;
}

static void warn_dropped(struct tp_worker *w, struct log_file *lf, const char *why)
{
	if (w->now_ms - lf->warned_ms < 1000 && lf->warned_ms)
		return;
	lf->warned_ms = w->now_ms;
	tp_warn("access log %s: %s; %llu entr%s dropped so far", lf->path ? lf->path : "stdio", why,
		(unsigned long long)lf->dropped, lf->dropped == 1 ? "y" : "ies");
}

/* The length of the next write of p[0, n): everything for a file; for a pipe or terminal, the
 * whole lines that fit in PIPE_BUF (or one longer line: it cannot be atomic anyway). */
static uint32_t chunk_of(const struct log_file *lf, const char *p, uint32_t n)
{
	const char *nl;

	if (lf->whole || n <= PIPE_BUF)
		return n;
	nl = memrchr(p, '\n', PIPE_BUF);
	if (!nl)
		nl = memchr(p, '\n', n);
	return nl ? (uint32_t)(nl - p + 1) : n;
}

static void submit(struct tp_worker *w, struct log_file *lf)
{
	uint8_t out = !lf->fill;
	struct io_uring_sqe *sqe = tp_ring_get_sqe(&w->ring);

	lf->chunk = chunk_of(lf, lf->buf[out] + lf->off, lf->len[out] - lf->off);
	/* Offset -1: at the file position, which O_APPEND makes the end of the file. */
	io_uring_prep_write(sqe, lf->write_fd, lf->buf[out] + lf->off, lf->chunk, (uint64_t)-1);
	io_uring_sqe_set_data64(sqe, tp_udata(TP_OP_LOG_WRITE, 0, (uint32_t)(lf - rt.f), 0));
}

/* Hands the filled buffer to a write and takes the other for new entries. */
static void start_write(struct tp_worker *w, struct log_file *lf)
{
	if (lf->busy || !lf->len[lf->fill] || lf->fd < 0)
		return;
	/* End the line a failed write left unfinished, so the next entry starts a line of its
	 * own. append() keeps a byte free for it. The line counts as ended only once that byte
	 * is written: on a disk still full this write fails too, and the next one tries again. */
	lf->prefixed = lf->torn;
	if (lf->torn) {
		char *p = lf->buf[lf->fill];

		memmove(p + 1, p, lf->len[lf->fill]);
		p[0] = '\n';
		lf->len[lf->fill]++;
	}
	lf->fill = !lf->fill;
	lf->busy = true;
	lf->off = 0;
	lf->write_fd = lf->fd;
	submit(w, lf);
}

static void append(struct tp_worker *w, struct log_file *lf, const struct tp_format *fmt,
		   const struct tp_fmt_ctx *x)
{
	uint32_t *len;
	size_t n;
	bool cut;

	if (lf->fd < 0) {
		lf->dropped++;
		return;
	}
	if (!lf->buf[0]) {
		lf->buf[0] = malloc(BUF_BYTES);
		lf->buf[1] = malloc(BUF_BYTES);
		if (!lf->buf[0] || !lf->buf[1]) {
			free(lf->buf[0]);
			free(lf->buf[1]);
			lf->buf[0] = lf->buf[1] = NULL;
			lf->dropped++;
			warn_dropped(w, lf, "out of memory");
			return;
		}
	}
	/* LINE_BYTES, and one byte for the newline start_write() may put first. */
	len = &lf->len[lf->fill];
	if (BUF_BYTES - *len < LINE_BYTES + 1) {
		start_write(w, lf);
		len = &lf->len[lf->fill];
		if (BUF_BYTES - *len < LINE_BYTES + 1) {
			lf->dropped++;
			warn_dropped(w, lf, "writes cannot keep up");
			return;
		}
	}
	n = tp_format_render(fmt, x, lf->buf[lf->fill] + *len, LINE_BYTES, &cut);
	/* A cut entry still ends its line, so the next one starts a line of its own. */
	if (cut && n)
		lf->buf[lf->fill][*len + n - 1] = '\n';
	*len += (uint32_t)n;
}

static void write_logs(struct tp_worker *w, const struct tp_access_log_cfg *logs, size_t n,
		       const struct tp_fmt_ctx *x)
{
	for (size_t i = 0; i < n; i++) {
		const struct tp_access_log_cfg *l = &logs[i];
		struct log_file *lf = file_of(l);

		if (lf && l->format)
			append(w, lf, l->format, x);
	}
}

void tp_access_log_write(struct tp_worker *w, struct tp_conn *c, enum tp_alog_type type)
{
	const struct tp_tcp_proxy_cfg *p = c->proxy;
	struct tp_fmt_ctx x = {.c = c, .type = type, .now_ms = w->now_ms};

	if (!p || !rt.ready)
		return;
	write_logs(w, p->access_logs, p->n_access_logs, &x);
}

void tp_access_log_write_listener(struct tp_worker *w, struct tp_conn *c)
{
	const struct tp_listener_cfg *l = c->listener->cfg;
	/* Envoy logs these with no access log type (emitLogs passes an empty context). */
	struct tp_fmt_ctx x = {.c = c, .type = TP_ALOG_NOT_SET, .now_ms = w->now_ms};

	if (!l->n_access_logs || !rt.ready)
		return;
	write_logs(w, l->access_logs, l->n_access_logs, &x);
}

void tp_access_log_flush(struct tp_worker *w)
{
	for (size_t i = 0; i < rt.n; i++)
		start_write(w, &rt.f[i]);
}

static void write_done(struct tp_worker *w, struct log_file *lf)
{
	lf->len[!lf->fill] = 0;
	lf->busy = false;
	if (lf->old_fd >= 0 && lf->old_fd == lf->write_fd) {
		close(lf->old_fd);
		lf->old_fd = -1;
	}
	lf->write_fd = -1;
}

/* A write failed (a full disk): the rest of the busy buffer is given up. Returns how many
 * entries that drops, a partly written one included, and marks the file torn when it now ends
 * in the middle of a line (unless a reopen moved on to another file). */
static uint64_t unwritten_entries(struct log_file *lf)
{
	const char *p = lf->buf[!lf->fill];
	uint32_t len = lf->len[!lf->fill], off = lf->off;
	uint64_t n = 0;

	for (uint32_t i = off; i < len; i++)
		n += p[i] == '\n';
	if (lf->prefixed && !off && n)
		n--; /* the newline that ends the torn line is not an entry */
	if (len > off && p[len - 1] != '\n')
		n++; /* a format without a final newline */
	if (off && p[off - 1] != '\n' && lf->write_fd == lf->fd)
		lf->torn = true;
	return n;
}

void tp_access_log_on_write(struct tp_worker *w, const struct io_uring_cqe *cqe)
{
	uint32_t idx = tp_udata_idx(cqe->user_data);
	struct log_file *lf;

	if (idx >= rt.n || !rt.f[idx].busy)
		return;
	lf = &rt.f[idx];
	if (cqe->res > 0) {
		if (!lf->off && lf->prefixed)
			lf->torn = false; /* its newline is written */
		lf->off += (uint32_t)cqe->res;
		/* A short write (a full disk, a signal) goes on where it stopped, on the same
		 * descriptor even across a reopen, so that no line is split between files. */
		if (lf->off < lf->len[!lf->fill]) {
			submit(w, lf);
			return;
		}
		write_done(w, lf);
		start_write(w, lf);
		return;
	}
	if (cqe->res == -EAGAIN || cqe->res == -EINTR) {
		submit(w, lf);
		return;
	}
	lf->dropped += unwritten_entries(lf);
	warn_dropped(w, lf, cqe->res ? strerror(-cqe->res) : "nothing written");
	write_done(w, lf);
}

void tp_access_log_reopen(struct tp_worker *w)
{
	for (size_t i = 0; i < rt.n; i++) {
		struct log_file *lf = &rt.f[i];
		int fd;

		if (!lf->path)
			continue;
		fd = open_log(lf->path);
		if (fd < 0) {
			tp_error("access log %s: reopen: %s; still writing the old file", lf->path,
				 strerror(errno));
			continue;
		}
		if (lf->busy && lf->write_fd == lf->fd && lf->fd >= 0)
			lf->old_fd = lf->fd; /* closed when its write completes */
		else if (lf->fd >= 0)
			close(lf->fd);
		lf->fd = fd;
		set_kind(lf);
	}
	tp_debug("access logs reopened");
}

static bool any_busy(void)
{
	for (size_t i = 0; i < rt.n; i++)
		if (rt.f[i].busy)
			return true;
	return false;
}

void tp_access_log_worker_fini(struct tp_worker *w)
{
	uint64_t waited = 0;

	if (!rt.ready)
		goto out_free;
	/* Let the writes in flight finish (completions of anything else no longer matter), then
	 * write what is still buffered directly: the ring is about to go. */
	tp_access_log_flush(w);
	while (any_busy() && waited < FINI_WAIT_MS) {
		struct __kernel_timespec ts = {.tv_nsec = 10 * 1000000};
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;

		io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
		io_uring_for_each_cqe(&w->ring, head, cqe)
		{
			if (tp_udata_op(cqe->user_data) == TP_OP_LOG_WRITE)
				tp_access_log_on_write(w, cqe);
			n++;
		}
		io_uring_cq_advance(&w->ring, n);
		waited += 10;
	}
	for (size_t i = 0; i < rt.n; i++) {
		struct log_file *lf = &rt.f[i];

		for (int b = 0; b < 2 && lf->fd >= 0 && !lf->busy; b++) {
			uint8_t k = b ? lf->fill : !lf->fill;
			uint32_t off = 0;

			while (off < lf->len[k]) {
				ssize_t n = write(lf->fd, lf->buf[k] + off, lf->len[k] - off);

				if (n <= 0 && errno != EINTR)
					break;
				off += n > 0 ? (uint32_t)n : 0;
			}
			lf->len[k] = 0;
		}
	}
out_free:
	for (size_t i = 0; i < rt.n; i++) {
		struct log_file *lf = &rt.f[i];

		if (lf->path && lf->fd >= 0)
			close(lf->fd);
		if (lf->old_fd >= 0)
			close(lf->old_fd);
		free(lf->buf[0]);
		free(lf->buf[1]);
	}
	free(rt.f);
	memset(&rt, 0, sizeof(rt));
}

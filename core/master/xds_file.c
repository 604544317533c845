/* A file-based xDS source: inotify on the file's directory (or its watched_directory) from the
 * master's loop, one read per burst of events, each version handed to the consumer whole. */
#include "core/master/xds_file.h"

#include "core/base/log.h"
#include "core/base/mloop.h"
#include "core/base/timer.h"
#include "core/config/config.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

struct tp_xds_file {
	struct tp_mloop *loop;
	struct tp_config_source_cfg src;
	const char *type_url;
	tp_xds_update_fn fn;
	void *arg;
	int ifd;
	int wd;	       /* -1: the directory is gone; retry_timer adds the watch again */
	uint32_t mask; /* what the directory's watch asks for */
	int64_t retry_timer;
	char *base; /* the file's name in its directory (no watched_directory) */
	char dir[PATH_MAX];
};

/* How often a directory that went away is looked for again. */
#define TP_XDS_REWATCH_MS 1000

/* The directory of path ("." for a bare name), into out. */
static void dir_of(const char *path, char *out, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(out, len, ".");
	else if (slash == path)
		snprintf(out, len, "/");
	else
		snprintf(out, len, "%.*s", (int)(slash - path), path);
}

static void log_errors(const struct tp_xds_file *f, const struct tp_cfg_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++) {
		if (errs->warning[i])
			tp_warn("%s", errs->lines[i]);
		else
			tp_error("%s", errs->lines[i]);
	}
}

void tp_xds_file_refresh(struct tp_xds_file *f)
{
	struct tp_xds_resources r = {0};
	struct tp_cfg_errors errs = {0};
	int ret;

	ret = tp_xds_read(f->src.path, f->type_url, &r, &errs);
	if (ret && !r.doc) {
		/* Not read, or not YAML: no update to look at (Envoy's update_failure). */
		f->fn(f->arg, TP_XDS_FAILED, NULL, &errs);
		log_errors(f, &errs);
		tp_warn("%s: update failed, the previous version stays", f->src.path);
	} else if (ret) {
		/* Read, but the envelope is wrong: the consumer refuses it with these lines. */
		f->fn(f->arg, TP_XDS_REJECTED, NULL, &errs);
		log_errors(f, &errs);
		tp_warn("%s: update rejected, the previous version stays", f->src.path);
	} else {
		ret = f->fn(f->arg, TP_XDS_UPDATE, &r, &errs);
		log_errors(f, &errs);
		if (ret)
			tp_warn("%s: update (version_info \"%s\") rejected, the previous version "
				"stays",
				f->src.path, r.version_info);
		else
			tp_info("%s: update accepted, version_info \"%s\", %zu resource(s)",
				f->src.path, r.version_info, r.n);
	}
	tp_xds_resources_free(&r);
	tp_cfg_errors_free(&errs);
}

static void rewatch(struct tp_mloop *l, void *arg);

/* The directory's watch went (the directory was removed, or moved away: IN_IGNORED,
 * IN_MOVE_SELF): watch the path again, at once and then every TP_XDS_REWATCH_MS until it is
 * there, and read the file then, since what was written meanwhile raised no event. */
static void lost_watch(struct tp_xds_file *f)
{
	if (f->wd >= 0)
		inotify_rm_watch(f->ifd, f->wd);
	f->wd = -1;
	if (!f->retry_timer)
		tp_warn("%s: directory %s is gone; watching for it to come back", f->src.path,
			f->dir);
	rewatch(f->loop, f);
}

static void rewatch(struct tp_mloop *l, void *arg)
{
	struct tp_xds_file *f = arg;
	int64_t t;

	f->retry_timer = 0;
	f->wd = inotify_add_watch(f->ifd, f->dir, f->mask | IN_ONLYDIR);
	if (f->wd >= 0) {
		tp_info("%s: watching directory %s again", f->src.path, f->dir);
		tp_xds_file_refresh(f);
		return;
	}
	t = tp_mloop_at(l, tp_now_ms() + TP_XDS_REWATCH_MS, rewatch, f);
	f->retry_timer = t > 0 ? t : 0;
}

static void on_events(struct tp_mloop *l, int fd, unsigned revents, void *arg)
{
	struct tp_xds_file *f = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false, lost = false;

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			/* The queue overflowed: something may have been missed, read anyway. */
			if (ev->mask & IN_Q_OVERFLOW)
				changed = true;
			if (ev->wd != f->wd || f->wd < 0)
				continue;
			if (ev->mask & (IN_IGNORED | IN_MOVE_SELF | IN_DELETE_SELF)) {
				lost = true;
				continue;
			}
			if (f->src.watched_dir)
				changed |= !!(ev->mask & IN_MOVED_TO);
			else if (ev->len && !strcmp(ev->name, f->base))
				changed = true;
		}
	}
	if (lost)
		lost_watch(f);
	else if (changed)
		tp_xds_file_refresh(f);
}

int tp_xds_file_open(struct tp_mloop *loop, const struct tp_config_source_cfg *src,
		     const char *type_url, tp_xds_update_fn fn, void *arg, struct tp_xds_file **out,
		     char *why, size_t whylen)
{
	struct tp_xds_file *f = calloc(1, sizeof(*f));
	const char *slash;
	int ret;

	*out = NULL;
	if (!f || tp_config_source_copy(&f->src, src) < 0)
		goto out_oom;
	f->loop = loop;
	f->type_url = type_url;
	f->fn = fn;
	f->arg = arg;
	f->wd = -1;
	slash = strrchr(src->path, '/');
	f->base = strdup(slash ? slash + 1 : src->path);
	if (!f->base)
		goto out_oom;
	f->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (f->ifd < 0) {
		ret = -errno;
		snprintf(why, whylen, "%s: inotify: %s", src->path, strerror(errno));
		goto out_free;
	}
	/* The directory, not the file: an update replaces the file (a rename, a symlink swapped
	 * above it), and a watch on the old inode would see nothing of that. */
	if (src->watched_dir) {
		snprintf(f->dir, sizeof(f->dir), "%s", src->watched_dir);
		f->mask = IN_MOVED_TO;
	} else {
		dir_of(src->path, f->dir, sizeof(f->dir));
		/* Also a file written in place and closed: Envoy watches moves only, but an
		 * editor's save is then seen too rather than silently ignored. */
		f->mask = IN_MOVED_TO | IN_CLOSE_WRITE;
	}
	/* The directory itself going (removed, moved away) is seen too: lost_watch(). */
	f->mask |= IN_MOVE_SELF | IN_DELETE_SELF;
	f->wd = inotify_add_watch(f->ifd, f->dir, f->mask | IN_ONLYDIR);
	if (f->wd < 0) {
		ret = -errno;
		snprintf(why, whylen, "%s: cannot watch directory %s: %s", src->path, f->dir,
			 strerror(errno));
		goto out_close;
	}
	ret = tp_mloop_add(loop, f->ifd, POLLIN, on_events, f);
	if (ret < 0) {
		snprintf(why, whylen, "%s: %s", src->path, strerror(-ret));
		goto out_close;
	}
	tp_xds_file_refresh(f);
	*out = f;
	return 0;

out_oom:
	ret = -ENOMEM;
	snprintf(why, whylen, "%s", strerror(ENOMEM));
	if (!f)
		return ret;
	goto out_free;
out_close:
	close(f->ifd);
out_free:
	tp_config_source_free(&f->src);
	free(f->base);
	free(f);
	return ret;
}

int tp_xds_file_check(const struct tp_config_source_cfg *src, char *why, size_t whylen)
{
	char dir[PATH_MAX];
	int ifd, wd, ret = 0;

	if (src->watched_dir)
		snprintf(dir, sizeof(dir), "%s", src->watched_dir);
	else
		dir_of(src->path, dir, sizeof(dir));
	ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ifd < 0) {
		snprintf(why, whylen, "%s: inotify: %s", src->path, strerror(errno));
		return -errno;
	}
	wd = inotify_add_watch(ifd, dir, IN_MOVED_TO | IN_ONLYDIR);
	if (wd < 0) {
		ret = -errno;
		snprintf(why, whylen, "%s: cannot watch directory %s: %s", src->path, dir,
			 strerror(errno));
	}
	close(ifd);
	return ret;
}

const struct tp_config_source_cfg *tp_xds_file_source(const struct tp_xds_file *f)
{
	return &f->src;
}

void tp_xds_file_close(struct tp_xds_file *f)
{
	if (!f)
		return;
	if (f->retry_timer)
		tp_mloop_cancel(f->loop, f->retry_timer);
	tp_mloop_del(f->loop, f->ifd);
	close(f->ifd);
	tp_config_source_free(&f->src);
	free(f->base);
	free(f);
}

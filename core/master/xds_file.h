/* A file-based xDS source in the master: a DiscoveryResponse-shaped file (core/config/xds.h)
 * named by a ConfigSource, read at start and again each time inotify says it was replaced,
 * from the master's loop. It hands its consumer (CDS, LDS) each version as a list of resources
 * of one type with its version_info; what a resource means is the consumer's business. */
#ifndef TP_XDS_FILE_H
#define TP_XDS_FILE_H

#include "core/config/config-t.h"
#include "core/config/xds.h"

struct tp_mloop;
struct tp_xds_file;

/* What a read of the file gave. */
enum tp_xds_event {
	TP_XDS_UPDATE,	 /* resources to check and apply (r set) */
	TP_XDS_REJECTED, /* read and parsed, but not a DiscoveryResponse of the type (r NULL) */
	TP_XDS_FAILED,	 /* not read, or not YAML: Envoy's update_failure (r NULL) */
};

/* One version of the file. On TP_XDS_UPDATE, r holds the resources, every one of the source's
 * type, with version_info; the consumer decodes and checks every one of them and, only if all
 * are good, applies the update: it returns 0 (applied) or -EINVAL / -ENOMEM (refused: it added
 * its reasons to errs, as "FILE:LINE:COL: dotted.path: reason"). On the other two, errs says
 * why and the return value is ignored: the consumer only counts. The source logs every line
 * of errs, warnings included, after the call. */
typedef int (*tp_xds_update_fn)(void *arg, enum tp_xds_event ev, const struct tp_xds_resources *r,
				struct tp_cfg_errors *errs);

/* Watches src for type_url resources on loop and reads the file once now, calling fn before it
 * returns. The watch: with src->watched_dir, any file moved into that directory (a Kubernetes
 * ConfigMap's ..data symlink swapped); else the file's own name moved into (an atomic rename)
 * or written and closed in its directory. Events that arrive together make one read. Returns 0
 * with *out set, or -errno with a one-line reason in why (the directory cannot be watched:
 * -ENOENT, inotify limits: -EMFILE, -ENOSPC; -ENOMEM). The first read's outcome does not fail
 * it: fn has seen that. */
int tp_xds_file_open(struct tp_mloop *loop, const struct tp_config_source_cfg *src,
		     const char *type_url, tp_xds_update_fn fn, void *arg, struct tp_xds_file **out,
		     char *why, size_t whylen);
/* Whether tp_xds_file_open() could watch src's directory: 0, or -errno with why (a reload
 * checks a new source before it starts anything, as the start fails on it). */
int tp_xds_file_check(const struct tp_config_source_cfg *src, char *why, size_t whylen);
/* Reads the file now, as an event would (a SIGHUP, a test). */
void tp_xds_file_refresh(struct tp_xds_file *f);
/* The source it watches. */
const struct tp_config_source_cfg *tp_xds_file_source(const struct tp_xds_file *f);
/* Stops watching and frees (NULL is fine). */
void tp_xds_file_close(struct tp_xds_file *f);

#endif

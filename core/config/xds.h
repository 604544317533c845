/* xDS resources as a file holds them: a DiscoveryResponse-shaped YAML or JSON document
 * ({version_info, resources: [{"@type": T, ...}]}), and the ConfigSource that names the file.
 * Pure: no I/O but reading the file; the master's watcher is core/master/xds_file.h, and a
 * worker re-reads the same text with the same function. It knows nothing of what a resource
 * means: its consumer (CDS, LDS) decodes each item with its own schema. */
#ifndef TP_XDS_H
#define TP_XDS_H

#include <stddef.h>

#include "core/config/cfg_schema-t.h"
#include "core/config/config-t.h"
#include "core/config/ynode-t.h"

#define TP_XDS_TYPE_CLUSTER  "type.googleapis.com/envoy.config.cluster.v3.Cluster"
#define TP_XDS_TYPE_LISTENER "type.googleapis.com/envoy.config.listener.v3.Listener"

/* envoy.config.core.v3.ConfigSource over struct tp_config_source_cfg: path_config_source
 * {path, watched_directory {path}} or the deprecated path; the other sources (ads,
 * api_config_source, self) are refused as not supported yet. */
extern const struct tp_cfg_schema tp_config_source_schema;
/* Frees what tp_config_source_schema decoded (also safe on a zeroed source). */
void tp_config_source_free(struct tp_config_source_cfg *s);
/* Deep copy, for a source that outlives the configuration it came from. 0 or -ENOMEM. */
int tp_config_source_copy(struct tp_config_source_cfg *dst, const struct tp_config_source_cfg *src);
/* Same path and watched directory. */
bool tp_config_source_equal(const struct tp_config_source_cfg *a,
			    const struct tp_config_source_cfg *b);

/* One document's resources, every one a mapping whose "@type" is the type asked for. items
 * point into doc (kept for the positions errors need); text is the document as read. */
struct tp_xds_resources {
	char *file;	    /* the name errors are reported under */
	char *version_info; /* "" when the document has none */
	struct tp_ydoc *doc;
	const struct tp_ynode **items;
	size_t n;
	char *text; /* the bytes parsed (a copy owned here) */
	size_t len;
};

/* Parses text (len bytes) as a DiscoveryResponse whose resources are all of type_url. Every
 * problem goes into errs as "FILE:LINE:COL: dotted.path: reason", the way the config loader
 * reports (file is the name used). Returns 0 with *out filled, -EINVAL with errs holding why,
 * or -ENOMEM. out must start zeroed; free it with tp_xds_resources_free() either way. */
int tp_xds_parse(const char *file, const char *text, size_t len, const char *type_url,
		 struct tp_xds_resources *out, struct tp_cfg_errors *errs);
/* tp_xds_parse() of path's text, read as the config loader reads (a regular file, at most
 * TP_YNODE_MAX_FILE, never blocking on a FIFO). A file that cannot be read is one line in
 * errs with no position ("FILE: cannot read: ..."), and its -errno. */
int tp_xds_read(const char *path, const char *type_url, struct tp_xds_resources *out,
		struct tp_cfg_errors *errs);
void tp_xds_resources_free(struct tp_xds_resources *r);

#endif

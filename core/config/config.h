/* Loading an Envoy v3 bootstrap file (YAML or JSON) into struct tp_config. */
#ifndef TP_CONFIG_H
#define TP_CONFIG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "core/config/config-t.h"

struct tp_ynode;

/* Reads, decodes and cross-checks path. Returns 0 with *out set and errs holding only warnings
 * (if any); -EINVAL with every problem in errs, warnings included; or -errno (-ENOENT, -EACCES,
 * -ENOMEM, ...) when the file cannot be read, with one line in errs too. errs must start zeroed
 * (or hold earlier lines, which are kept). */
int tp_config_load(const char *path, struct tp_config **out, struct tp_cfg_errors *errs);
void tp_config_free(struct tp_config *cfg);

/* Does the master own and publish the cluster's host set (core/master/hostset.c)? A DNS
 * cluster's hosts change; a static cluster's health does when it has health checks or outlier
 * detection. */
static inline bool tp_cluster_hostset(const struct tp_cluster_cfg *c)
{
	return c->type != TP_CLUSTER_STATIC || c->n_health_checks || c->outlier.enabled;
}

struct tp_xds_resources;

/* CDS: decodes and checks every Cluster of r (core/config/xds.h) as the loader decodes
 * static_resources.clusters, plus what CDS adds: a name is required and unique, and no static
 * cluster of statics (may be NULL) may be named; a transport_socket is checked as the loader
 * checks one, against statics' secrets. Files it names are read through
 * core/config/cfg_files.h. Returns 0 with *out an array of *n allocated clusters (each freed
 * with tp_config_cluster_free(), the array with free()), or -EINVAL / -ENOMEM with every
 * problem in errs as "FILE:LINE:COL: resources[i].field: reason" and nothing allocated. */
int tp_config_decode_cds(const struct tp_xds_resources *r, const struct tp_config *statics,
			 struct tp_cluster_cfg ***out, size_t *n, struct tp_cfg_errors *errs);
void tp_config_cluster_free(struct tp_cluster_cfg *c);
/* Decodes n Listener resources of an LDS response (file: the name errors are reported under,
 * items: each resource's mapping, "@type" included) as a static listener is decoded and
 * checked, against base: its clusters, secrets and static listeners (a name or an address of
 * one of them is an error). What a running worker cannot take without a restart is refused as
 * "not supported yet": access logs to files the bootstrap does not write. Returns 0 with *out an overlay configuration (its listeners the decoded ones,
 * everything else base's, which must outlive it; free it with tp_lds_free()), -EINVAL with
 * every problem in errs as "FILE:LINE:COL: resources[i]...: reason", or -ENOMEM. */
int tp_lds_decode(const struct tp_config *base, const char *file,
		  const struct tp_ynode *const *items, size_t n, struct tp_config **out,
		  struct tp_cfg_errors *errs);
void tp_lds_free(struct tp_config *ov);

/* Index of the cluster called name in cfg->clusters, or -1. */
int tp_config_cluster_index(const struct tp_config *cfg, const char *name);

/* Adds a formatted line, kept in file order by (line, col). Returns 0 or -ENOMEM. */
int tp_cfg_errors_add(struct tp_cfg_errors *errs, uint32_t line, uint32_t col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The same for a warning (the caller writes "warning: " into the text). */
int tp_cfg_errors_add_warning(struct tp_cfg_errors *errs, uint32_t line, uint32_t col,
			      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int tp_cfg_errors_vadd(struct tp_cfg_errors *errs, bool warning, uint32_t line, uint32_t col,
		       const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
/* One line each, in file order. */
void tp_cfg_errors_print(const struct tp_cfg_errors *errs, FILE *f);
void tp_cfg_errors_free(struct tp_cfg_errors *errs);

#endif

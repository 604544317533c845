/* GET /config_dump: the serving configuration as Envoy's ConfigDump JSON, from the redacted JSON
 * the loader kept (core/config/dump.c): the bootstrap, its static clusters and its static
 * listeners. ?resource= lists one repeated field's entries, ?mask= keeps only the fields named. */
#include "core/admin/admin.h"

#include "core/base/http.h"
#include "core/base/sbuf.h"
#include "core/config/dump.h"
#include "core/config/ynode.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MASK_MAX 32

#define TYPE_PREFIX "type.googleapis.com/envoy."

/* One kind of resource in the dump: its ConfigDump message, the repeated field and the name of
 * each entry's config in it, where the bootstrap keeps them, and their own type. */
static const struct kind {
	const char *dump_type;	  /* admin.v3.<...>ConfigDump */
	const char *field;	  /* static_clusters */
	const char *entry_type;	  /* admin.v3.<...>ConfigDump.StaticCluster */
	const char *member;	  /* cluster */
	const char *member_type;  /* config.cluster.v3.Cluster */
	const char *bootstrap_at; /* static_resources.<this> */
} kinds[] = {
	{"admin.v3.ClustersConfigDump", "static_clusters",
	 "admin.v3.ClustersConfigDump.StaticCluster", "cluster", "config.cluster.v3.Cluster",
	 "clusters"},
	{"admin.v3.ListenersConfigDump", "static_listeners",
	 "admin.v3.ListenersConfigDump.StaticListener", "listener", "config.listener.v3.Listener",
	 "listeners"},
};

struct mask {
	char buf[TP_HTTP_TARGET_MAX + 1];
	const char *paths[MASK_MAX];
	size_t n;
};

static void timestamp(struct tp_sbuf *b, uint64_t unix_ms)
{
	time_t t = (time_t)(unix_ms / 1000);
	struct tm tm;
	char s[32];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	tp_sbuf_printf(b, "\"%s.%03" PRIu64 "Z\"", s, unix_ms % 1000);
}

static const struct tp_ynode *seq_at(const struct tp_ynode *root, const char *key)
{
	const struct tp_ynode *sr = root ? tp_ynode_map_get(root, "static_resources") : NULL;
	const struct tp_ynode *n = sr ? tp_ynode_map_get(sr, key) : NULL;

	return n && n->type == TP_YNODE_SEQ ? n : NULL;
}

/* {"@type": ..., "<member>": {...}, "last_updated": ...}, with the mask applied below it. */
static void entry(struct tp_sbuf *b, const struct kind *k, const struct tp_ynode *item, uint64_t at,
		  const struct mask *m, bool typed)
{
	bool first = true;

	tp_sbuf_putc(b, '{');
	if (typed) {
		tp_sbuf_printf(b, "\"@type\":\"" TYPE_PREFIX "%s\"", k->entry_type);
		first = false;
	}
	{
		/* The member, masked by "<member>.path" entries (or whole by "<member>"). */
		bool whole = !m->n, some = false;
		char prefix[64];

		snprintf(prefix, sizeof(prefix), "%s.", k->member);
		for (size_t i = 0; i < m->n; i++) {
			whole |= !strcmp(m->paths[i], k->member);
			some |= !strncmp(m->paths[i], prefix, strlen(prefix));
		}
		if (whole || some) {
			tp_sbuf_printf(b, "%s\"%s\":", first ? "" : ",", k->member);
			first = false;
			if (item->type == TP_YNODE_MAP && whole) {
				/* Envoy types the member with its own @type. */
				struct tp_sbuf inner = TP_SBUF_INIT;

				tp_config_json(&inner, item, NULL, 0, "");
				tp_sbuf_printf(b, "{\"@type\":\"" TYPE_PREFIX "%s\"%s",
					       k->member_type, inner.len > 2 ? "," : "");
				if (inner.len > 2)
					tp_sbuf_add(b, inner.p + 1, inner.len - 1);
				else
					tp_sbuf_putc(b, '}');
				b->oom |= inner.oom;
				tp_sbuf_free(&inner);
			} else {
				tp_config_json(b, item, m->paths, m->n, prefix);
			}
		}
	}
	for (size_t i = 0; i < m->n || !m->n; i++) {
		if (!m->n || !strcmp(m->paths[i], "last_updated")) {
			tp_sbuf_printf(b, "%s\"last_updated\":", first ? "" : ",");
			timestamp(b, at);
			break;
		}
	}
	tp_sbuf_putc(b, '}');
}

static void bootstrap(struct tp_sbuf *b, const struct tp_ynode *root, uint64_t at,
		      const struct mask *m)
{
	bool whole = !m->n, some = false;

	tp_sbuf_puts(b, "{\"@type\":\"" TYPE_PREFIX "admin.v3.BootstrapConfigDump\"");
	for (size_t i = 0; i < m->n; i++) {
		whole |= !strcmp(m->paths[i], "bootstrap");
		some |= !strncmp(m->paths[i], "bootstrap.", 10);
	}
	if (whole || some) {
		tp_sbuf_puts(b, ",\"bootstrap\":");
		tp_config_json(b, root, whole ? NULL : m->paths, m->n, "bootstrap.");
	}
	for (size_t i = 0; i < m->n || !m->n; i++) {
		if (!m->n || !strcmp(m->paths[i], "last_updated")) {
			tp_sbuf_puts(b, ",\"last_updated\":");
			timestamp(b, at);
			break;
		}
	}
	tp_sbuf_putc(b, '}');
}

/* CDS: ClustersConfigDump's version_info and dynamic_active_clusters, each cluster's resource
 * as it was loaded (JSON kept by the master; its "@type" is already the Cluster's) and when it
 * last changed. */
static void dynamic_clusters(struct tp_sbuf *b, const struct tp_master_view *v)
{
	const char *ver = v->cds_version_info ? v->cds_version_info : "";

	tp_sbuf_puts(b, ",\"version_info\":");
	tp_sbuf_json_str(b, ver);
	tp_sbuf_puts(b, ",\"dynamic_active_clusters\":[");
	for (size_t i = 0; i < v->n_cds_clusters; i++) {
		tp_sbuf_puts(b, i ? ",{\"version_info\":" : "{\"version_info\":");
		tp_sbuf_json_str(b,
				 v->cds_versions && v->cds_versions[i] ? v->cds_versions[i] : ver);
		tp_sbuf_puts(b, ",\"cluster\":");
		tp_sbuf_puts(b, v->cds_json[i]);
		tp_sbuf_puts(b, ",\"last_updated\":");
		timestamp(b, v->cds_updated_ms[i]);
		tp_sbuf_putc(b, '}');
	}
	tp_sbuf_putc(b, ']');
}

static void dump_of(struct tp_sbuf *b, const struct kind *k, const struct tp_ynode *root,
		    uint64_t at, const struct mask *m, const struct tp_master_view *v)
{
	const struct tp_ynode *items = seq_at(root, k->bootstrap_at);
	bool listed = !m->n;

	for (size_t i = 0; i < m->n; i++)
		listed |= !strcmp(m->paths[i], k->field) ||
			  (!strncmp(m->paths[i], k->field, strlen(k->field)) &&
			   m->paths[i][strlen(k->field)] == '.');
	tp_sbuf_printf(b, "{\"@type\":\"" TYPE_PREFIX "%s\"", k->dump_type);
	if (listed) {
		struct mask sub = {.n = 0};
		char prefix[64];

		/* "static_clusters.cluster.name" masks each entry by "cluster.name". */
		snprintf(prefix, sizeof(prefix), "%s.", k->field);
		for (size_t i = 0; i < m->n; i++)
			if (!strncmp(m->paths[i], prefix, strlen(prefix)))
				sub.paths[sub.n++] = m->paths[i] + strlen(prefix);
		tp_sbuf_printf(b, ",\"%s\":[", k->field);
		for (size_t i = 0; items && i < items->n; i++) {
			if (i)
				tp_sbuf_putc(b, ',');
			entry(b, k, items->items[i], at, &sub, false);
		}
		tp_sbuf_putc(b, ']');
	}
	if (k == &kinds[0] && v->cds_enabled)
		dynamic_clusters(b, v);
	/* The LDS listeners (core/master/lds.c renders them), unmasked: a mask names static
	 * fields only. */
	if (v->lds_dump && !m->n && !strcmp(k->field, "static_listeners"))
		tp_sbuf_printf(b, ",%s", v->lds_dump);
	tp_sbuf_putc(b, '}');
}

/* ?mask=a.b,c: at most MASK_MAX paths. 0, or -EINVAL. */
static int parse_mask(const char *query, struct mask *m)
{
	int ret = tp_http_query_get(query, "mask", m->buf, sizeof(m->buf));
	char *save = NULL;

	m->n = 0;
	if (ret <= 0)
		return ret;
	for (char *p = strtok_r(m->buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		if (m->n == MASK_MAX)
			return -EINVAL;
		if (*p)
			m->paths[m->n++] = p;
	}
	return 0;
}

void tp_admin_config_dump(const struct tp_master_view *v, const char *query,
			  struct tp_admin_resp *out)
{
	const struct tp_config *cfg = v->cfg;
	struct tp_ydoc *doc = NULL;
	struct tp_yerror yerr;
	const struct kind *only = NULL;
	char resource[64];
	struct mask *m = calloc(1, sizeof(*m));
	struct tp_sbuf *b = &out->body;
	int ret;

	out->status = 400;
	out->content_type = "text/plain; charset=UTF-8";
	if (!m) {
		out->status = 500;
		tp_sbuf_puts(b, "out of memory\n");
		return;
	}
	ret = tp_http_query_get(query, "resource", resource, sizeof(resource));
	if (ret > 0) {
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (!strcmp(resource, kinds[i].field))
				only = &kinds[i];
		if (!only) {
			tp_sbuf_puts(b, "bad resource: use static_clusters or static_listeners\n");
			goto out_free;
		}
	} else if (ret < 0) {
		tp_sbuf_puts(b, "bad resource\n");
		goto out_free;
	}
	if (parse_mask(query, m) < 0) {
		tp_sbuf_printf(b, "bad mask: at most %d comma-separated field paths\n", MASK_MAX);
		goto out_free;
	}
	/* The loader's JSON is a document the parser reads back as it read the file. */
	if (cfg && cfg->dump && tp_ynode_parse_string(cfg->dump, cfg->dump_len, &doc, &yerr)) {
		out->status = 500;
		tp_sbuf_printf(b, "the configuration dump cannot be read back: %s\n", yerr.reason);
		goto out_free;
	}
	out->status = 200;
	out->content_type = "application/json";
	tp_sbuf_puts(b, "{\"configs\":[");
	if (only) {
		const struct tp_ynode *items = seq_at(doc ? doc->root : NULL, only->bootstrap_at);

		for (size_t i = 0; items && i < items->n; i++) {
			if (i)
				tp_sbuf_putc(b, ',');
			entry(b, only, items->items[i], cfg->loaded_unix_ms, m, true);
		}
	} else if (doc) {
		bootstrap(b, doc->root, cfg->loaded_unix_ms, m);
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
			tp_sbuf_putc(b, ',');
			dump_of(b, &kinds[i], doc->root, cfg->loaded_unix_ms, m, v);
		}
	}
	tp_sbuf_puts(b, "]}\n");
out_free:
	tp_ynode_doc_free(doc);
	free(m);
}

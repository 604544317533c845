/* tp-statdump SHM_NAME [PREFIX]: prints a stats segment as Envoy's /stats text ("name: value",
 * sorted by name), only names starting with PREFIX if given. For tests until tcpproxy-stat. */
#include "shm/stats.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct line {
	char *name;
	enum tp_stat_type type;
	uint64_t value;
};

struct lines {
	const char *prefix;
	struct line *v;
	size_t n, cap;
	int failed;
};

static void collect(void *arg, const char *name, enum tp_stat_type type, uint64_t value)
{
	struct lines *l = arg;
	struct line *v;

	if (l->failed || strncmp(name, l->prefix, strlen(l->prefix)))
		return;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 256;
		v = realloc(l->v, l->cap * sizeof(*v));
		if (!v) {
			l->failed = 1;
			return;
		}
		l->v = v;
	}
	l->v[l->n].name = strdup(name);
	if (!l->v[l->n].name) {
		l->failed = 1;
		return;
	}
	l->v[l->n].type = type;
	l->v[l->n].value = value;
	l->n++;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct line *)a)->name, ((const struct line *)b)->name);
}

int main(int argc, char **argv)
{
	struct lines l = {.prefix = argc > 2 ? argv[2] : ""};
	struct tp_stats *st;
	char err[512];
	int ret;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: tp-statdump SHM_NAME [PREFIX]\n");
		return 2;
	}
	ret = tp_stats_open(&st, argv[1], err, sizeof(err));
	if (ret) {
		fprintf(stderr, "tp-statdump: %s\n", err);
		return 2;
	}
	if (tp_stats_foreach(st, collect, &l) || l.failed) {
		fprintf(stderr, "tp-statdump: out of memory\n");
		return 1;
	}
	if (l.n) /* qsort() wants a pointer even for nothing: a corrupt segment lists nothing */
		qsort(l.v, l.n, sizeof(*l.v), by_name);
	for (size_t i = 0; i < l.n; i++) {
		if (l.v[i].type == TP_STAT_GAUGE)
			printf("%s: %" PRId64 "\n", l.v[i].name, (int64_t)l.v[i].value);
		else
			printf("%s: %" PRIu64 "\n", l.v[i].name, l.v[i].value);
		free(l.v[i].name);
	}
	free(l.v);
	tp_stats_close(st);
	return fflush(stdout) ? 1 : 0;
}

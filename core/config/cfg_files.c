/* Files named by a configuration, recorded by the master and served to a worker that decodes
 * the same configuration again (core/config/cfg_files.h). */
#include "core/config/cfg_files.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The decoder reads files deep inside field callbacks that know nothing of who decodes: one
 * active set per process (the master and each worker decode on one thread). */
static struct tp_cfg_files *active;

void tp_cfg_files_begin(struct tp_cfg_files *f)
{
	active = f;
}

void tp_cfg_files_end(void)
{
	active = NULL;
}

static const struct tp_cfg_file *find(const struct tp_cfg_files *f, const char *path)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->v[i].path, path))
			return &f->v[i];
	return NULL;
}

int tp_cfg_files_get(const char *path, uint8_t **out, size_t *len)
{
	const struct tp_cfg_file *e;

	if (!active || !active->serve)
		return 1;
	e = find(active, path);
	if (!e)
		return -ENOENT;
	*out = malloc(e->len + 1);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, e->data, e->len);
	(*out)[e->len] = '\0';
	*len = e->len;
	return 0;
}

int tp_cfg_files_add(struct tp_cfg_files *f, const char *path, size_t path_len, const uint8_t *data,
		     size_t len)
{
	struct tp_cfg_file *e;

	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 4;
		struct tp_cfg_file *v = realloc(f->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		f->v = v;
		f->cap = cap;
	}
	e = &f->v[f->n];
	e->path = strndup(path, path_len);
	e->data = malloc(len ? len : 1);
	if (!e->path || !e->data) {
		free(e->path);
		free(e->data);
		return -ENOMEM;
	}
	memcpy(e->data, data, len);
	e->len = len;
	f->n++;
	return 0;
}

void tp_cfg_files_note(const char *path, const uint8_t *data, size_t len)
{
	if (!active || active->serve || find(active, path))
		return;
	if (tp_cfg_files_add(active, path, strlen(path), data, len) < 0)
		active->oom = true;
}

void tp_cfg_files_free(struct tp_cfg_files *f)
{
	for (size_t i = 0; i < f->n; i++) {
		explicit_bzero(f->v[i].data, f->v[i].len);
		free(f->v[i].data);
		free(f->v[i].path);
	}
	free(f->v);
	memset(f, 0, sizeof(*f));
}

/* Per-connection filter state and dynamic metadata: a small map allocated on first use. */
#include "core/conn/filter_state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_SEP '\x1f' /* cannot appear in a YAML-configured namespace or key */

static struct tp_state_entry *find(const struct tp_state_map *map, const char *key)
{
	if (!map)
		return NULL;
	for (uint32_t i = 0; i < map->n; i++)
		if (!strcmp(map->v[i].key, key))
			return &map->v[i];
	return NULL;
}

static void value_free(struct tp_value *v)
{
	if (v->type == TP_VALUE_STRING)
		free(v->s);
}

static int value_copy(struct tp_value *dst, const struct tp_value *src)
{
	*dst = *src;
	if (src->type == TP_VALUE_STRING) {
		dst->s = strdup(src->s ? src->s : "");
		if (!dst->s)
			return -ENOMEM;
	}
	return 0;
}

static int set(struct tp_state_map **mapp, const char *key, const struct tp_value *value,
	       bool read_only, bool shared)
{
	struct tp_state_map *map = *mapp;
	struct tp_state_entry *e = find(map, key);
	struct tp_value copy;

	if (e && e->read_only)
		return -EPERM;
	if (value_copy(&copy, value) < 0)
		return -ENOMEM;
	if (e) {
		value_free(&e->value);
		goto out_store;
	}
	if (!map) {
		map = calloc(1, sizeof(*map));
		if (!map)
			goto out_free_copy;
		*mapp = map;
	}
	if (map->n == map->cap) {
		uint32_t cap = map->cap ? map->cap * 2 : 4;
		struct tp_state_entry *v = realloc(map->v, cap * sizeof(*v));

		if (!v)
			goto out_free_copy;
		map->v = v;
		map->cap = cap;
	}
	e = &map->v[map->n];
	e->key = strdup(key);
	if (!e->key)
		goto out_free_copy;
	map->n++;
out_store:
	e->value = copy;
	e->read_only = read_only;
	e->shared_with_upstream = shared;
	return 0;

out_free_copy:
	value_free(&copy);
	return -ENOMEM;
}

int tp_filter_state_set(struct tp_state_map **map, const char *key, const struct tp_value *value,
			bool read_only, bool shared_with_upstream)
{
	return set(map, key, value, read_only, shared_with_upstream);
}

const struct tp_state_entry *tp_filter_state_get(const struct tp_state_map *map, const char *key)
{
	return find(map, key);
}

static int metadata_key(char *out, size_t len, const char *ns, const char *key)
{
	int n = snprintf(out, len, "%s%c%s", ns, NS_SEP, key);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int tp_metadata_set(struct tp_state_map **map, const char *ns, const char *key,
		    const struct tp_value *value)
{
	char k[512];
	int ret = metadata_key(k, sizeof(k), ns, key);

	return ret < 0 ? ret : set(map, k, value, false, false);
}

const struct tp_value *tp_metadata_get(const struct tp_state_map *map, const char *ns,
				       const char *key)
{
	const struct tp_state_entry *e;
	char k[512];

	if (metadata_key(k, sizeof(k), ns, key) < 0)
		return NULL;
	e = find(map, k);
	return e ? &e->value : NULL;
}

void tp_state_map_free(struct tp_state_map *map)
{
	if (!map)
		return;
	for (uint32_t i = 0; i < map->n; i++) {
		free(map->v[i].key);
		value_free(&map->v[i].value);
	}
	free(map->v);
	free(map);
}

/* Per-connection filter state (Envoy's StreamInfo::FilterState) and dynamic metadata.
 *
 * Both are written by network filters before tcp_proxy runs and read by tcp_proxy, the access
 * log and later filters. Lookups are linear: a connection holds a handful of keys. */
#ifndef TP_FILTER_STATE_H
#define TP_FILTER_STATE_H

#include "core/conn/filter_state-t.h"

/* Sets key to value (copied). 0; -EPERM if key is already set read-only (Envoy refuses to
 * overwrite a read-only object); -ENOMEM. *map is allocated on first use. */
int tp_filter_state_set(struct tp_state_map **map, const char *key, const struct tp_value *value,
			bool read_only, bool shared_with_upstream);
/* The entry for key, or NULL. */
const struct tp_state_entry *tp_filter_state_get(const struct tp_state_map *map, const char *key);

/* Dynamic metadata: namespace ("envoy.lb", a filter's name) and key. */
int tp_metadata_set(struct tp_state_map **map, const char *ns, const char *key,
		    const struct tp_value *value);
const struct tp_value *tp_metadata_get(const struct tp_state_map *map, const char *ns,
				       const char *key);

void tp_state_map_free(struct tp_state_map *map);

static inline struct tp_value tp_value_string(const char *s)
{
	struct tp_value v = {.type = TP_VALUE_STRING, .s = (char *)s};

	return v;
}

static inline struct tp_value tp_value_bool(bool b)
{
	struct tp_value v = {.type = TP_VALUE_BOOL, .b = b};

	return v;
}

static inline struct tp_value tp_value_uint64(uint64_t u)
{
	struct tp_value v = {.type = TP_VALUE_UINT64, .u = u};

	return v;
}

#endif

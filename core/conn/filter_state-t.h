/* Types of per-connection typed state: Envoy's filter state and dynamic metadata. */
#ifndef TP_FILTER_STATE_T_H
#define TP_FILTER_STATE_T_H

#include <stdbool.h>
#include <stdint.h>

enum tp_value_type {
	TP_VALUE_STRING,
	TP_VALUE_BOOL,
	TP_VALUE_UINT64,
};

struct tp_value {
	enum tp_value_type type;
	union {
		char *s;
		bool b;
		uint64_t u;
	};
};

struct tp_state_entry {
	char *key; /* filter state: the object key; metadata: "namespace\x1fkey" */
	struct tp_value value;
	bool read_only;		   /* Envoy's StateType::ReadOnly: set once */
	bool shared_with_upstream; /* kept for the upstream filter state (later issues) */
};

/* A small map, allocated on first use: an idle connection that never used it holds NULL. */
struct tp_state_map {
	struct tp_state_entry *v;
	uint32_t n;
	uint32_t cap;
};

#endif

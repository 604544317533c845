/* Types of the YAML node tree the config loader reads: every node keeps where it stood. */
#ifndef TP_YNODE_T_H
#define TP_YNODE_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest config file tcpproxy reads, checked with fstat() before a byte is read. Envoy has
 * no such limit. It is far past any proxy config seen in the wild; the node limit below
 * usually binds first (2^20 nodes are some 5 to 12 MiB of YAML). */
#define TP_YNODE_MAX_FILE (16u << 20)
/* The most nodes (scalars, lists, mappings) one file may hold, each use of an alias counted as
 * the nodes it stands for: a few lines of aliases can name 10^9 nodes ("billion laughs"), and a
 * node costs over 100 bytes while the tree lives. Past it the file is refused before anything
 * walks the tree. */
#define TP_YNODE_MAX_NODES (1u << 20)
/* The deepest nesting of mappings and lists; an Envoy config nests about 20 deep. libyaml's
 * scanner rescans every open flow level for each token, so "[[[[..." costs time quadratic in
 * its depth (100,000 levels: 30 s); refusing the 257th level stops the scan before it grows
 * (found by fuzzing). */
#define TP_YNODE_MAX_DEPTH 256

enum tp_ynode_type {
	TP_YNODE_SCALAR,
	TP_YNODE_SEQ,
	TP_YNODE_MAP,
};

struct tp_ynode_pair {
	struct tp_ynode *key; /* always a scalar: the builder refuses complex keys */
	struct tp_ynode *value;
};

/* One node. An alias is the very node its anchor names (shared, not copied), so a value reached
 * through an alias reports the line and column where the anchored text stands. */
struct tp_ynode {
	enum tp_ynode_type type;
	uint32_t line; /* 1-based */
	uint32_t col;  /* 1-based */

	/* TP_YNODE_SCALAR: NUL-terminated text (may also hold NULs; len is authoritative). */
	char *str;
	size_t len;
	bool quoted; /* '...', "...", a block scalar, or tagged !!str / ! : text, never null/number */

	/* TP_YNODE_SEQ: items[n]; TP_YNODE_MAP: pairs[n], "<<" merge keys already applied. */
	struct tp_ynode **items;
	struct tp_ynode_pair *pairs;
	size_t n;

	size_t expanded; /* nodes reachable, each alias use counted: refuses alias bombs */
	struct tp_ynode *next_alloc; /* the document's list of every node, for freeing */
};

/* A parsed file: the root node (NULL for an empty document) and the nodes it owns. */
struct tp_ydoc {
	struct tp_ynode *root;
	struct tp_ynode *nodes;
	size_t text_len; /* bytes of the text it was parsed from */
};

/* Where and why parsing failed. path names the innermost key being read, keys as written.
 * line 0: the file as a whole (it cannot be read, is not a regular file, is too large). */
struct tp_yerror {
	uint32_t line;
	uint32_t col;
	char path[256];
	char reason[256];
};

#endif

/* The files a configuration names (TLS certificates, keys, trust stores) when it is decoded
 * twice: once in the master, which may read anything, and again in a worker (a CDS update),
 * which may run as another user and must see the bytes the master validated, not whatever the
 * file holds a moment later. The master records what it reads; the worker is served those
 * bytes and never opens a file. */
#ifndef TP_CFG_FILES_H
#define TP_CFG_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tp_cfg_file {
	char *path;
	uint8_t *data;
	size_t len;
};

struct tp_cfg_files {
	struct tp_cfg_file *v;
	size_t n, cap;
	bool serve; /* true: reads come from v only; false: reads are recorded into v */
	bool oom;   /* a read could not be recorded: the set is incomplete */
};

/* While f is active (one at a time, per process), tp_cfg_files_get() and tp_cfg_files_note()
 * use it; tp_cfg_files_end() makes the file system the source again. */
void tp_cfg_files_begin(struct tp_cfg_files *f);
void tp_cfg_files_end(void);
/* Serving: 0 with *out a malloc'd NUL-terminated copy of path's bytes, or -ENOENT when the
 * master read no such file. 1: not serving, read the file system. */
int tp_cfg_files_get(const char *path, uint8_t **out, size_t *len);
/* Recording: keeps a copy of what was read from path (the first read of a path wins). */
void tp_cfg_files_note(const char *path, const uint8_t *data, size_t len);
/* Adds one file to f as it is (the worker's view of the master's bytes): 0 or -ENOMEM. */
int tp_cfg_files_add(struct tp_cfg_files *f, const char *path, size_t path_len, const uint8_t *data,
		     size_t len);
/* Frees the copies (wiped first: keys pass through here). */
void tp_cfg_files_free(struct tp_cfg_files *f);

#endif

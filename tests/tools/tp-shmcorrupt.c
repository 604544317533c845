/* tp-shmcorrupt [--user USER] [--seed N] SHM_NAME WHAT...: scribbles over a tcpproxy stats
 * segment the way a compromised worker could, to test that the master and the readers survive
 * it (issue 11). It maps the whole segment read-write and closes the descriptor, then (with
 * --user) drops to USER before writing a byte: a worker runs as --user with no descriptor, and
 * with a mapping of its own block only (tp_stats_worker_narrow()); this has all of it, as a
 * worker that had kept everything it inherited would. WHAT, in any order and number:
 *
 *   header        plausible but hostile: magic, version and layout hash kept, every count and
 *                 offset huge (n_scopes 268435456, ...), fold_seq odd, master pid 1
 *   header-random every byte of the header random (magic included)
 *   scopes        every row of the scope table: a known kind with base 268435456, or a huge
 *                 kind, n_values, base; names with no NUL
 *   slots         the slot table random
 *   blocks        the first values of every block random, huge counts
 *   restore-magic the magic put back (after header-random, so that readers look further)
 *
 * Geometry is read once, before anything is written. Exit 0, or 2 with the reason. */
#include "shm/stats-t.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HUGE_INDEX 268435456u
/* Per block: as many values as a few hundred scopes use, not the whole (sparse) block. */
#define BLOCK_VALUES (1u << 16)

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	/* xorshift64*: reproducible with --seed */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static void fill_random(void *p, size_t n)
{
	unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		c[i] = (unsigned char)next();
}

static int drop_to(const char *user)
{
	struct passwd *pw = getpwnam(user);

	if (!pw) {
		fprintf(stderr, "tp-shmcorrupt: no user %s\n", user);
		return -1;
	}
	if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		fprintf(stderr, "tp-shmcorrupt: cannot become %s: %s\n", user, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		fprintf(stderr, "tp-shmcorrupt: still able to become root\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *user = NULL;
	struct tp_stats_hdr geo, *h;
	struct stat sb;
	char *map;
	int i = 1, fd;

	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (!strcmp(argv[i], "--user"))
			user = argv[i + 1];
		else if (!strcmp(argv[i], "--seed"))
			rng ^= strtoull(argv[i + 1], NULL, 0) * 0x100000001b3ull;
		else
			break;
	}
	if (i + 1 >= argc) {
		fprintf(stderr, "usage: tp-shmcorrupt [--user USER] [--seed N] SHM_NAME "
				"header|header-random|scopes|slots|blocks|restore-magic...\n");
		return 2;
	}
	fd = shm_open(argv[i], O_RDWR | O_CLOEXEC, 0);
	if (fd < 0 || fstat(fd, &sb) < 0 || (size_t)sb.st_size < sizeof(geo)) {
		fprintf(stderr, "tp-shmcorrupt: %s: %s\n", argv[i],
			fd < 0 ? strerror(errno) : "too small");
		return 2;
	}
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		fprintf(stderr, "tp-shmcorrupt: mmap: %s\n", strerror(errno));
		return 2;
	}
	if (user && drop_to(user) < 0)
		return 2;
	h = (struct tp_stats_hdr *)(void *)map;
	memcpy(&geo, h, sizeof(geo));
	if (geo.magic != TP_STATS_MAGIC || geo.total_size > (uint64_t)sb.st_size ||
	    geo.scopes_off + (uint64_t)geo.max_scopes * sizeof(struct tp_stats_scope_row) >
		    geo.total_size) {
		fprintf(stderr, "tp-shmcorrupt: %s does not look like a stats segment already\n",
			argv[i]);
		return 2;
	}
	for (i++; i < argc; i++) {
		const char *what = argv[i];

		if (!strcmp(what, "header")) {
			h->n_scopes = HUGE_INDEX;
			h->n_values = ~0u;
			h->n_slots = HUGE_INDEX;
			h->max_scopes = ~0u;
			h->max_values = ~0u;
			h->fold_seq = 1;
			h->scope_size = 1;
			h->slot_size = ~0u;
			h->scopes_off = ~0ull;
			h->slots_off = 1ull << 62;
			h->blocks_off = 3;
			h->block_stride = ~0ull;
			h->total_size = ~0ull;
			h->master_pid = 1;
			fill_random(h->reserved, sizeof(h->reserved));
		} else if (!strcmp(what, "header-random")) {
			fill_random(h, sizeof(*h));
		} else if (!strcmp(what, "restore-magic")) {
			h->magic = TP_STATS_MAGIC;
		} else if (!strcmp(what, "scopes")) {
			struct tp_stats_scope_row *rows =
				(struct tp_stats_scope_row *)(void *)(map + geo.scopes_off);

			for (uint32_t r = 0; r < geo.max_scopes; r++) {
				struct tp_stats_scope_row *row = &rows[r];

				memset(row->name, 'A' + (int)(r % 26), sizeof(row->name));
				if (r % 2) {
					/* Passes a check of kind alone. */
					row->kind = r % TP_SCOPE__COUNT;
					row->base = HUGE_INDEX;
					row->n_values = (uint32_t)next();
				} else {
					row->kind = r % 4 ? (uint32_t)next() : HUGE_INDEX;
					row->base = (uint32_t)next();
					row->n_values = ~0u;
				}
				row->flags = (uint32_t)next();
			}
		} else if (!strcmp(what, "slots")) {
			fill_random(map + geo.slots_off,
				    ((size_t)geo.n_slots + 2) * sizeof(struct tp_stats_slot));
		} else if (!strcmp(what, "blocks")) {
			size_t n = geo.block_stride / sizeof(uint64_t);

			if (n > BLOCK_VALUES)
				n = BLOCK_VALUES;
			for (uint64_t b = 0; b < (uint64_t)geo.n_slots + 2; b++) {
				uint64_t *v = (uint64_t *)(void *)(map + geo.blocks_off +
								   b * geo.block_stride);

				for (size_t j = 0; j < n; j++)
					v[j] = j % 3 ? next() : (uint64_t)HUGE_INDEX << 32;
			}
		} else {
			fprintf(stderr, "tp-shmcorrupt: unknown target %s\n", what);
			return 2;
		}
	}
	return 0;
}

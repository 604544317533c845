/* The stats segment: creation and scope registration by the master, slot folding, read-only
 * mapping and summing for readers. The layout is described in shm/stats-t.h; the trust boundary
 * in docs/architecture.md ("Stats segment"): nothing read from the segment is trusted. */
#include "shm/stats.h"

#include "core/base/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CACHE_LINE 64
/* Blocks start and end on a page boundary (64 KiB covers every page size Linux uses), so that a
 * worker can unmap everything but its own block (tp_stats_worker_narrow()). */
#define BLOCK_ALIGN    (64u << 10)
#define ALIGN_UP(x, a) (((x) + (a)-1) / (a) * (a))
/* Far above any sane configuration; keeps a typo in a flag from asking tmpfs for terabytes. The
 * segment is sparse, so this bounds address space, not memory: 256 workers x 5 generations with
 * the default 4096 scopes take about 36 GiB of it. */
#define MAX_SEGMENT_BYTES (64ull << 30)
/* A reader waits this many times for a fold to finish, then sums what it sees: a master that died
 * in the middle of a fold, or a worker that wrote an odd fold_seq, must not hang tcpproxy-stat. */
#define FOLD_RETRIES 10000
/* The master logs that it found the segment's layout changed at most this often. */
#define CORRUPT_LOG_MS 10000

/* What a scope row means to the master beyond the row itself. */
struct scope_ref {
	uint32_t refs;	    /* holds (generations) that reference the row */
	bool pinned;	    /* registered outside any hold (server.*): kept for the master's life */
	uint64_t last_hold; /* serial of the last hold that took the row: a hold counts it once */
};

/* The master's own memory, which no worker can write: the authority on the layout. The segment's
 * header, scope table and slot table are copies of it, written for readers and never read back. */
struct master_side {
	struct tp_stats_hdr hdr;	 /* as last written: n_scopes, n_values, fold_seq */
	struct tp_stats_scope_row *rows; /* [max_scopes], byte for byte as in the segment */
	struct scope_ref *refs;		 /* [max_scopes] */
	struct tp_stats_slot *slots;	 /* [n_slots + 2], byte for byte as in the segment */
	unsigned n_rows;		 /* rows from n_rows on are free (hdr.n_scopes) */
	unsigned n_live;
	/* Value ranges of freed rows, by kind, to give to the next scope of that kind. Values below
	 * hdr.n_values have been given out; the ones above are taken in order. */
	uint32_t *free_bases[TP_SCOPE__COUNT]; /* [max_scopes] each */
	unsigned n_free[TP_SCOPE__COUNT];
	uint64_t next_hold;
	struct tp_stats_hold *holding; /* between tp_stats_hold_begin() and _end() */
	pid_t owner;
	uint64_t corrupt_logged_ms;
	unsigned corrupt_quiet; /* findings not logged since */
};

struct tp_stats {
	struct tp_stats_hdr *hdr;
	size_t map_len;
	struct tp_stats_scope_row *scopes;
	struct tp_stats_slot *slots;
	char *blocks;
	size_t stride;
	unsigned n_slots;
	unsigned max_scopes;
	unsigned max_values;
	bool writable;
	struct master_side *ms; /* the master's (inherited by its workers, which do not use it) */
	char shm_name[256];
	/* tp_stats_scope_record() / _replay(): where the bases go, or come from */
	uint32_t *rec;
	uint32_t rec_cap;
	uint32_t *rec_n;
	const uint32_t *replay;
	uint32_t n_replay, i_replay;
	bool replaying;
};

#define DESCS(K, k, ...)                                                \
	static const struct tp_stat_desc k##_descs[] = {TP_##K##_STATS( \
		TP_STATS_DESC_COUNTER, TP_STATS_DESC_GAUGE, TP_STATS_DESC_HISTOGRAM)};
TP_STATS_SCOPE_KINDS(DESCS)
#undef DESCS

#define KIND(K, k, ...)                                                   \
	[TP_SCOPE_##K] = {TP__SECOND(#k, ##__VA_ARGS__, #k, ), k##_descs, \
			  sizeof(k##_descs) / sizeof(k##_descs[0]), TP_##K##__COUNT},
const struct tp_stats_kind_desc tp_stats_kinds[TP_SCOPE__COUNT] = {TP_STATS_SCOPE_KINDS(KIND)};
#undef KIND

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t fnv_u32(uint64_t h, uint32_t v)
{
	unsigned char le[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24};

	return fnv(h, le, sizeof(le));
}

uint64_t tp_stats_layout_hash(const struct tp_stats_kind_desc *kinds, unsigned n_kinds)
{
	uint64_t h = 0xcbf29ce484222325ull;

	h = fnv_u32(h, TP_STATS_HIST_VALUES);
	h = fnv_u32(h, n_kinds);
	for (unsigned k = 0; k < n_kinds; k++) {
		/* Names go in with their NUL so that "ab"+"c" and "a"+"bc" differ. */
		h = fnv(h, kinds[k].name, strlen(kinds[k].name) + 1);
		h = fnv_u32(h, kinds[k].n_stats);
		h = fnv_u32(h, kinds[k].n_values);
		for (unsigned i = 0; i < kinds[k].n_stats; i++) {
			h = fnv_u32(h, kinds[k].stats[i].type);
			h = fnv(h, kinds[k].stats[i].name, strlen(kinds[k].stats[i].name) + 1);
		}
	}
	return h;
}

/* Values per block: room for max_scopes scopes of every kind at once. Freed value ranges are
 * reused by scopes of their own kind only, so the values ever given to kind k never exceed
 * (most scopes of kind k ever registered at once) x its size <= max_scopes x its size: a scope
 * can only fail for want of a row, never for want of values. */
static uint64_t values_for(unsigned max_scopes)
{
	uint64_t sum = 0;

	for (unsigned k = 0; k < TP_SCOPE__COUNT; k++)
		sum += tp_stats_kinds[k].n_values;
	return sum * max_scopes;
}

/* Offsets and sizes for a geometry; the reader recomputes them to check a header. */
static void layout(struct tp_stats_hdr *h, unsigned n_slots, unsigned max_scopes,
		   unsigned max_values)
{
	uint64_t blocks = (uint64_t)n_slots + 2;

	h->hdr_size = sizeof(*h);
	h->scope_size = sizeof(struct tp_stats_scope_row);
	h->slot_size = sizeof(struct tp_stats_slot);
	h->n_slots = n_slots;
	h->max_scopes = max_scopes;
	h->max_values = max_values;
	h->scopes_off = ALIGN_UP(sizeof(*h), CACHE_LINE);
	h->slots_off = h->scopes_off + (uint64_t)max_scopes * sizeof(struct tp_stats_scope_row);
	h->blocks_off = ALIGN_UP(h->slots_off + blocks * sizeof(struct tp_stats_slot), BLOCK_ALIGN);
	h->block_stride = ALIGN_UP((uint64_t)max_values * sizeof(uint64_t), BLOCK_ALIGN);
	h->total_size = h->blocks_off + blocks * h->block_stride;
}

/* h is a checked copy of the header, never the segment's own: its geometry is read once. */
static void attach(struct tp_stats *st, void *map, size_t len, bool writable,
		   const struct tp_stats_hdr *h)
{
	st->hdr = map;
	st->map_len = len;
	st->scopes = (struct tp_stats_scope_row *)((char *)map + h->scopes_off);
	st->slots = (struct tp_stats_slot *)((char *)map + h->slots_off);
	st->blocks = (char *)map + h->blocks_off;
	st->stride = h->block_stride;
	st->n_slots = h->n_slots;
	st->max_scopes = h->max_scopes;
	st->max_values = h->max_values;
	st->writable = writable;
}

static uint64_t now_unix_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- creation ---- */

static const char *file_kind(mode_t mode)
{
	return S_ISREG(mode)	? "a regular file"
	       : S_ISDIR(mode)	? "a directory"
	       : S_ISLNK(mode)	? "a symlink"
	       : S_ISFIFO(mode) ? "a FIFO"
	       : S_ISSOCK(mode) ? "a socket"
				: "a device";
}

/* A file of that name already exists: 0 when it is a segment of ours whose master is gone (it
 * may be replaced), -EBUSY when its master still runs or is creating it, -EEXIST when it is not
 * ours (*sb says what it is): anyone may create a file in /dev/shm, so one that another user
 * made, or one that is not a 0600 regular file, is not a segment, and nothing in it (a header
 * naming a live pid, say) is believed. */
static int check_existing(const char *shm_name, struct stat *sb, char *err, size_t errlen)
{
	struct tp_stats_hdr hdr;
	struct stat fsb;
	char path[300];
	ssize_t n;
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/dev/shm%s", shm_name);
	if (lstat(path, sb) < 0) {
		if (errno == ENOENT)
			return 0; /* gone meanwhile */
		ret = -errno;
		snprintf(err, errlen, "cannot create stats segment %s: it exists, and stat: %s",
			 path, strerror(errno));
		return ret;
	}
	if (!S_ISREG(sb->st_mode) || sb->st_uid != geteuid() || (sb->st_mode & 07777) != 0600) {
		snprintf(err, errlen,
			 "%s exists and is not a stats segment tcpproxy may replace (%s, owner uid "
			 "%u, mode %04o; ours would be a regular file of uid %u, mode 0600): "
			 "another user may have made it; remove it or use another --base-id (a "
			 "master run as root replaces it)",
			 path, file_kind(sb->st_mode), (unsigned)sb->st_uid,
			 (unsigned)(sb->st_mode & 07777), (unsigned)geteuid());
		return -EEXIST;
	}
	/* O_NONBLOCK and O_NOFOLLOW: what is opened may no longer be what lstat saw. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		ret = -errno;
		snprintf(err, errlen, "cannot create stats segment %s: it exists, and open: %s",
			 path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &fsb) < 0 || fsb.st_dev != sb->st_dev || fsb.st_ino != sb->st_ino) {
		snprintf(err, errlen, "%s changed while tcpproxy looked at it", path);
		ret = -EBUSY;
		goto out_close;
	}
	n = pread(fd, &hdr, sizeof(hdr), 0);
	if (n == (ssize_t)sizeof(hdr) && hdr.magic == TP_STATS_MAGIC) {
		if (hdr.master_pid > 0 && (kill(hdr.master_pid, 0) == 0 || errno == EPERM)) {
			snprintf(err, errlen,
				 "stats segment %s is in use by tcpproxy pid %d (another instance "
				 "with the same --base-id?)",
				 path, (int)hdr.master_pid);
			ret = -EBUSY;
		}
	} else if (fsb.st_ctime + 2 > time(NULL)) {
		/* No header yet and just made: another master is creating it right now. */
		snprintf(err, errlen,
			 "stats segment %s is being created by another process (another instance "
			 "with the same --base-id?)",
			 path);
		ret = -EBUSY;
	}
out_close:
	close(fd);
	return ret;
}

/* As root: what another user put at the segment's name is not believed and is taken out of its
 * place, so that no local user can keep tcpproxy from starting by making the name first (issue
 * 11, item 10). The segment is made under a name nobody can have guessed (O_EXCL all the same)
 * and swapped with whatever holds the segment's name in one step (RENAME_EXCHANGE): the name is
 * never free in between, for whoever made it to take again, and a directory is swapped like a
 * file. What comes out keeps the unguessable name, ".taken-by-uid-U.R": unlinked, or for a
 * directory, which rmdir() may refuse (not empty), left there for its owner to remove. In the
 * sticky /dev/shm root may do all this as the directory's owner, without a capability. The new
 * segment's fd, -EAGAIN when the name changed meanwhile (look again), or -errno. */
static int take_over(const char *shm_name, const struct stat *sb, char *err, size_t errlen)
{
	char aside_name[300], path[300], aside[320];
	struct stat asb;
	uint64_t r;
	int fd, ret;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (now_unix_ns() ^ ((uint64_t)getpid() << 40)) * 0x9e3779b97f4a7c15ull;
	snprintf(path, sizeof(path), "/dev/shm%s", shm_name);
	snprintf(aside_name, sizeof(aside_name), "%s.taken-by-uid-%u.%016llx", shm_name,
		 (unsigned)sb->st_uid, (unsigned long long)r);
	snprintf(aside, sizeof(aside), "/dev/shm%s", aside_name);
	fd = shm_open(aside_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot create stats segment %s: %s: %s", path, aside,
			 strerror(errno));
		return ret;
	}
	if (renameat2(AT_FDCWD, aside, AT_FDCWD, path, RENAME_EXCHANGE) == 0) {
		/* Ours is at the segment's name; theirs (whatever it is by now) is at aside. */
		if (lstat(aside, &asb) == 0 && S_ISDIR(asb.st_mode))
			tp_warn("stats: the directory %s is now %s", path, aside);
		else if (unlink(aside) < 0 && errno != ENOENT)
			tp_warn("stats: cannot remove %s (was %s): %s", aside, path,
				strerror(errno));
		return fd;
	}
	ret = -errno;
	if (ret == -ENOENT) {
		/* Gone meanwhile: take the free name, unless it was made again already. */
		if (renameat2(AT_FDCWD, aside, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
			return fd;
		ret = errno == EEXIST ? -EAGAIN : -errno;
	}
	if (ret != -EAGAIN)
		snprintf(err, errlen,
			 "cannot put stats segment %s in the place of what uid %u made: %s", path,
			 (unsigned)sb->st_uid, strerror(-ret));
	close(fd);
	shm_unlink(aside_name);
	return ret;
}

static int open_new(const char *shm_name, char *err, size_t errlen)
{
	char path[300];
	struct stat sb;
	int fd, ret;

	snprintf(path, sizeof(path), "/dev/shm%s", shm_name);
	/* A few rounds: the name may change between a look at it and what is done about it. */
	for (int round = 0; round < 8; round++) {
		fd = shm_open(shm_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			goto out;
		ret = check_existing(shm_name, &sb, err, errlen);
		if (ret == -EEXIST && geteuid() == 0) {
			struct passwd *pw = getpwuid(sb.st_uid);

			tp_warn("stats: %s was taken by uid %u%s%s%s (%s, mode %04o), not made by "
				"a tcpproxy: making the segment anew in its place",
				path, (unsigned)sb.st_uid, pw ? " (" : "", pw ? pw->pw_name : "",
				pw ? ")" : "", file_kind(sb.st_mode),
				(unsigned)(sb.st_mode & 07777));
			fd = take_over(shm_name, &sb, err, errlen);
			if (fd >= 0)
				goto out_chmod;
			if (fd != -EAGAIN)
				return fd;
			continue;
		}
		if (ret)
			return ret;
		tp_warn("stats: replacing %s left by a tcpproxy that is gone", path);
		if (shm_unlink(shm_name) && errno != ENOENT)
			goto out;
	}
	snprintf(err, errlen,
		 "cannot create stats segment %s: its name changed each time tcpproxy looked at it",
		 path);
	return -EBUSY;
out:
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot create stats segment %s: %s", path, strerror(errno));
		return ret;
	}
out_chmod:
	/* Exactly 0600 whatever the umask, as check_existing() expects of a segment of ours. */
	if (fchmod(fd, 0600) < 0) {
		ret = -errno;
		snprintf(err, errlen, "stats segment %s: chmod: %s", path, strerror(errno));
		close(fd);
		shm_unlink(shm_name);
		return ret;
	}
	return fd;
}

static void master_side_free(struct master_side *ms)
{
	if (!ms)
		return;
	for (unsigned k = 0; k < TP_SCOPE__COUNT; k++)
		free(ms->free_bases[k]);
	free(ms->rows);
	free(ms->refs);
	free(ms->slots);
	free(ms);
}

static struct master_side *master_side_new(unsigned n_slots, unsigned max_scopes)
{
	struct master_side *ms = calloc(1, sizeof(*ms));
	bool ok;

	if (!ms)
		return NULL;
	ms->rows = calloc(max_scopes, sizeof(*ms->rows));
	ms->refs = calloc(max_scopes, sizeof(*ms->refs));
	ms->slots = calloc((size_t)n_slots + 2, sizeof(*ms->slots));
	ok = ms->rows && ms->refs && ms->slots;
	for (unsigned k = 0; k < TP_SCOPE__COUNT; k++) {
		ms->free_bases[k] = calloc(max_scopes, sizeof(*ms->free_bases[k]));
		ok = ok && ms->free_bases[k];
	}
	if (!ok) {
		master_side_free(ms);
		return NULL;
	}
	ms->owner = getpid();
	return ms;
}

int tp_stats_create(struct tp_stats **out, const char *shm_name, unsigned n_slots,
		    unsigned max_scopes, char *err, size_t errlen)
{
	struct tp_stats_hdr geo = {0};
	struct tp_stats *st;
	uint64_t max_values;
	void *map;
	int fd, ret;

	if (n_slots < 1 || n_slots > TP_STATS_MAX_SLOTS) {
		snprintf(err, errlen, "stats: %u worker slots, must be 1..%u", n_slots,
			 TP_STATS_MAX_SLOTS);
		return -EINVAL;
	}
	if (max_scopes < 1 || max_scopes > TP_STATS_MAX_SCOPES) {
		snprintf(err, errlen, "stats: %u scopes, must be 1..%u", max_scopes,
			 TP_STATS_MAX_SCOPES);
		return -EINVAL;
	}
	max_values = values_for(max_scopes);
	if (max_values <= UINT32_MAX)
		layout(&geo, n_slots, max_scopes, (unsigned)max_values);
	if (max_values > UINT32_MAX || geo.total_size > MAX_SEGMENT_BYTES) {
		snprintf(err, errlen,
			 "stats: %u slots x %u scopes need a %llu MiB segment, more than %llu MiB",
			 n_slots, max_scopes,
			 (unsigned long long)(((uint64_t)n_slots + 2) * max_values * 8 >> 20),
			 MAX_SEGMENT_BYTES >> 20);
		return -EFBIG;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "stats: out of memory");
		return -ENOMEM;
	}
	if (snprintf(st->shm_name, sizeof(st->shm_name), "%s", shm_name) >=
	    (int)sizeof(st->shm_name)) {
		snprintf(err, errlen, "stats: segment name too long: %s", shm_name);
		ret = -ENAMETOOLONG;
		goto out_free;
	}
	st->ms = master_side_new(n_slots, max_scopes);
	if (!st->ms) {
		snprintf(err, errlen, "stats: out of memory");
		ret = -ENOMEM;
		goto out_free;
	}
	fd = open_new(shm_name, err, errlen);
	if (fd < 0) {
		ret = fd;
		goto out_free;
	}
	/* Sparse: pages are allocated only where a block writes. */
	if (ftruncate(fd, (off_t)geo.total_size)) {
		ret = -errno;
		snprintf(err, errlen, "cannot size stats segment /dev/shm%s to %llu bytes: %s",
			 shm_name, (unsigned long long)geo.total_size, strerror(errno));
		goto out_unlink;
	}
	map = mmap(NULL, geo.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		ret = -errno;
		snprintf(err, errlen, "cannot map stats segment /dev/shm%s: %s", shm_name,
			 strerror(errno));
		goto out_unlink;
	}
	/* Nobody keeps a descriptor: workers inherit the mapping and cannot resize the file. */
	close(fd);
	geo.version = TP_STATS_VERSION;
	geo.layout_hash = tp_stats_layout_hash(tp_stats_kinds, TP_SCOPE__COUNT);
	geo.master_pid = (int32_t)getpid();
	geo.created_unix_ns = now_unix_ns();
	memcpy(map, &geo, sizeof(geo));
	attach(st, map, geo.total_size, true, &geo);
	geo.magic = TP_STATS_MAGIC;
	st->ms->hdr = geo;
	__atomic_store_n(&st->hdr->magic, TP_STATS_MAGIC, __ATOMIC_RELEASE);
	*out = st;
	return 0;

out_unlink:
	close(fd);
	shm_unlink(shm_name);
out_free:
	master_side_free(st->ms);
	free(st);
	return ret;
}

/* ---- the master's copy and the segment's ---- */

/* Readers retry a copy that overlapped a change (seqlock; the master is the only writer, and
 * never reads the segment's fold_seq back). */
static void fold_begin(struct tp_stats *st)
{
	__atomic_store_n(&st->hdr->fold_seq, ++st->ms->hdr.fold_seq, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void fold_end(struct tp_stats *st)
{
	__atomic_store_n(&st->hdr->fold_seq, ++st->ms->hdr.fold_seq, __ATOMIC_RELEASE);
}

static void publish_row(struct tp_stats *st, unsigned i)
{
	struct master_side *ms = st->ms;

	memcpy(&st->scopes[i], &ms->rows[i], sizeof(ms->rows[i]));
	ms->hdr.n_scopes = ms->n_rows;
	st->hdr->n_values = ms->hdr.n_values;
	__atomic_store_n(&st->hdr->n_scopes, ms->hdr.n_scopes, __ATOMIC_RELEASE);
}

static void report_changed(struct tp_stats *st, const char *what)
{
	struct master_side *ms = st->ms;
	uint64_t now = mono_ms();

	if (ms->corrupt_logged_ms && now - ms->corrupt_logged_ms < CORRUPT_LOG_MS) {
		ms->corrupt_quiet++;
		return;
	}
	tp_error("stats segment /dev/shm%s found corrupt: %s changed behind the master's back (by "
		 "a worker?); ignored, and rewritten from the master's own copy%s",
		 st->shm_name, what,
		 ms->corrupt_quiet ? " (found more often, logged once per 10 s)" : "");
	ms->corrupt_logged_ms = now;
	ms->corrupt_quiet = 0;
}

bool tp_stats_check(struct tp_stats *st)
{
	struct master_side *ms = st->ms;
	size_t rows_len, slots_len;
	char what[64] = "";

	if (!ms || !st->writable || ms->owner != getpid())
		return false;
	rows_len = (size_t)st->max_scopes * sizeof(*ms->rows);
	slots_len = ((size_t)st->n_slots + 2) * sizeof(*ms->slots);
	if (memcmp(st->hdr, &ms->hdr, sizeof(ms->hdr))) {
		strcat(what, "header");
		/* Everything but the magic, which goes last so that a reader sees a whole header. */
		memcpy((char *)st->hdr + sizeof(ms->hdr.magic),
		       (const char *)&ms->hdr + sizeof(ms->hdr.magic),
		       sizeof(ms->hdr) - sizeof(ms->hdr.magic));
		__atomic_store_n(&st->hdr->magic, ms->hdr.magic, __ATOMIC_RELEASE);
	}
	if (memcmp(st->scopes, ms->rows, rows_len)) {
		strcat(what, what[0] ? ", scope table" : "scope table");
		fold_begin(st);
		memcpy(st->scopes, ms->rows, rows_len);
		fold_end(st);
	}
	if (memcmp(st->slots, ms->slots, slots_len)) {
		strcat(what, what[0] ? ", slot table" : "slot table");
		memcpy(st->slots, ms->slots, slots_len);
	}
	if (what[0])
		report_changed(st, what);
	return what[0] != '\0';
}

/* ---- scopes ---- */

static int find_row(const struct master_side *ms, enum tp_scope_kind kind, const char *name)
{
	for (unsigned i = 0; i < ms->n_rows; i++) {
		const struct tp_stats_scope_row *r = &ms->rows[i];

		if (r->n_values && r->kind == (uint32_t)kind && !strcmp(r->name, name))
			return (int)i;
	}
	return -1;
}

/* Room for one more row in the hold being filled, so that taking a row cannot fail. */
static int hold_reserve(struct master_side *ms)
{
	struct tp_stats_hold *h = ms->holding;
	uint32_t *rows;
	unsigned cap;

	if (!h || h->n < h->cap)
		return 0;
	cap = h->cap ? 2 * h->cap : 64;
	rows = realloc(h->rows, cap * sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	h->rows = rows;
	h->cap = cap;
	return 0;
}

static void hold_take(struct master_side *ms, unsigned i)
{
	struct tp_stats_hold *h = ms->holding;

	if (!h || ms->refs[i].last_hold == h->serial)
		return;
	TP_BUG_ON(h->n >= h->cap);
	h->rows[h->n++] = i;
	ms->refs[i].refs++;
	ms->refs[i].last_hold = h->serial;
}

/* Zeroes [base, base + n) in every block: values a freed scope left (in the retired block above
 * all) are not the next scope's. Values never given to a scope are not touched: they are zero,
 * or whatever a worker wrote into its own block, which it may do at any time anyway. */
static void zero_values(struct tp_stats *st, uint32_t base, uint32_t n)
{
	for (unsigned b = 0; b < st->n_slots + 2; b++) {
		uint64_t *v = (uint64_t *)(void *)(st->blocks + (size_t)b * st->stride);

		for (uint32_t j = base; j < base + n; j++)
			if (__atomic_load_n(&v[j], __ATOMIC_RELAXED))
				__atomic_store_n(&v[j], 0, __ATOMIC_RELAXED);
	}
}

/* A new row for kind and name: a free row, and values its kind freed before or never given. */
static int new_row(struct tp_stats *st, enum tp_scope_kind kind, const char *name, size_t len)
{
	struct master_side *ms = st->ms;
	uint32_t size = tp_stats_kinds[kind].n_values, base;
	struct tp_stats_scope_row *row;
	bool reused = false;
	unsigned i;

	for (i = 0; i < ms->n_rows && ms->rows[i].n_values; i++)
		;
	if (i >= st->max_scopes)
		return -ENOSPC;
	if (ms->n_free[kind]) {
		base = ms->free_bases[kind][--ms->n_free[kind]];
		reused = true;
	} else if (size <= st->max_values - ms->hdr.n_values) {
		base = ms->hdr.n_values;
		ms->hdr.n_values += size;
	} else {
		return -ENOSPC; /* cannot happen: values_for() */
	}
	row = &ms->rows[i];
	row->kind = kind;
	row->base = base;
	row->n_values = size;
	row->flags = 0;
	memset(row->name, 0, sizeof(row->name));
	memcpy(row->name, name, len);
	ms->refs[i] = (struct scope_ref){.pinned = !ms->holding};
	if (i == ms->n_rows)
		ms->n_rows++;
	ms->n_live++;
	fold_begin(st);
	if (reused)
		zero_values(st, base, size);
	publish_row(st, i);
	fold_end(st);
	return (int)i;
}

static void free_row(struct tp_stats *st, unsigned i)
{
	struct master_side *ms = st->ms;
	struct tp_stats_scope_row *row = &ms->rows[i];

	ms->free_bases[row->kind][ms->n_free[row->kind]++] = row->base;
	memset(row, 0, sizeof(*row));
	ms->refs[i] = (struct scope_ref){0};
	ms->n_live--;
	while (ms->n_rows && !ms->rows[ms->n_rows - 1].n_values)
		ms->n_rows--;
	fold_begin(st);
	publish_row(st, i);
	fold_end(st);
}

int tp_stats_scope(struct tp_stats *st, enum tp_scope_kind kind, const char *name, uint32_t *base)
{
	struct master_side *ms = st->ms;
	size_t len;
	int i;

	if (st->replaying) {
		if (st->i_replay >= st->n_replay) {
			st->i_replay = UINT32_MAX;
			return -EPROTO;
		}
		*base = st->replay[st->i_replay++];
		return 0;
	}
	if (!st->writable || !ms)
		return -EROFS;
	if ((unsigned)kind >= TP_SCOPE__COUNT)
		return -EINVAL;
	len = strlen(name);
	if (len >= TP_STATS_NAME_MAX)
		return -ENAMETOOLONG;
	if ((len == 0) != TP_STATS_ROOT_KIND(kind))
		return -EINVAL;
	if (hold_reserve(ms) < 0)
		return -ENOMEM;
	i = find_row(ms, kind, name);
	if (i < 0)
		i = new_row(st, kind, name, len);
	if (i < 0)
		return i;
	hold_take(ms, (unsigned)i);
	*base = ms->rows[i].base;
	if (st->rec_n) {
		if (*st->rec_n < st->rec_cap)
			st->rec[*st->rec_n] = *base;
		++*st->rec_n;
	}
	return 0;
}

void tp_stats_scope_record(struct tp_stats *st, uint32_t *bases, uint32_t cap, uint32_t *n)
{
	*n = 0;
	st->rec = bases;
	st->rec_cap = cap;
	st->rec_n = n;
}

void tp_stats_scope_replay(struct tp_stats *st, const uint32_t *bases, uint32_t n)
{
	st->replay = bases;
	st->n_replay = n;
	st->i_replay = 0;
	st->replaying = true;
}

int tp_stats_scope_end(struct tp_stats *st)
{
	int ret = 0;

	if (st->replaying && st->i_replay != st->n_replay)
		ret = -EPROTO;
	st->replaying = false;
	st->replay = NULL;
	st->rec = NULL;
	st->rec_n = NULL;
	return ret;
}

void tp_stats_hold_begin(struct tp_stats *st, struct tp_stats_hold *h)
{
	struct master_side *ms = st->ms;

	TP_BUG_ON(!ms || ms->holding);
	tp_stats_check(st);
	memset(h, 0, sizeof(*h));
	h->serial = ++ms->next_hold;
	ms->holding = h;
}

void tp_stats_hold_resume(struct tp_stats *st, struct tp_stats_hold *h)
{
	struct master_side *ms = st->ms;

	TP_BUG_ON(!ms || ms->holding || !h->serial);
	tp_stats_check(st);
	ms->holding = h;
}

void tp_stats_hold_end(struct tp_stats *st)
{
	st->ms->holding = NULL;
}

void tp_stats_hold_release(struct tp_stats *st, struct tp_stats_hold *h)
{
	struct master_side *ms = st->ms;

	if (!h->serial)
		return; /* never begun, or released already */
	TP_BUG_ON(ms->holding == h);
	tp_stats_check(st);
	for (unsigned j = 0; j < h->n; j++) {
		unsigned i = h->rows[j];

		TP_BUG_ON(!ms->refs[i].refs);
		if (--ms->refs[i].refs == 0 && !ms->refs[i].pinned)
			free_row(st, i);
	}
	free(h->rows);
	memset(h, 0, sizeof(*h));
}

unsigned tp_stats_n_slots(const struct tp_stats *st)
{
	return st->n_slots;
}

unsigned tp_stats_n_scopes(const struct tp_stats *st)
{
	unsigned n;

	if (st->ms)
		return st->ms->n_live;
	n = __atomic_load_n(&st->hdr->n_scopes, __ATOMIC_ACQUIRE);
	return n < st->max_scopes ? n : st->max_scopes;
}

unsigned tp_stats_max_scopes(const struct tp_stats *st)
{
	return st->max_scopes;
}

/* ---- slots ---- */

/* Block number of a slot: workers first, then master, then retired. */
static unsigned block_no(const struct tp_stats *st, unsigned slot)
{
	if (slot == TP_STATS_SLOT_MASTER)
		return st->n_slots;
	if (slot == TP_STATS_SLOT_RETIRED)
		return st->n_slots + 1;
	TP_BUG_ON(slot >= st->n_slots);
	return slot;
}

static uint64_t *values(const struct tp_stats *st, unsigned slot)
{
	return (uint64_t *)(void *)(st->blocks + (size_t)block_no(st, slot) * st->stride);
}

struct tp_stats_block *tp_stats_block(struct tp_stats *st, unsigned slot)
{
	TP_BUG_ON(!st->writable);
	return (struct tp_stats_block *)values(st, slot);
}

uint64_t tp_stats_sum(const struct tp_stats *st, uint32_t idx)
{
	uint64_t sum = 0;

	TP_BUG_ON(!st->writable || idx >= st->max_values);
	for (unsigned b = 0; b < st->n_slots + 2; b++)
		sum += __atomic_load_n(
			&((const uint64_t *)(const void *)(st->blocks +
							   (size_t)b * st->stride))[idx],
			__ATOMIC_RELAXED);
	return sum;
}

int tp_stats_worker_narrow(struct tp_stats *st, unsigned slot)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), map = (uintptr_t)st->hdr;
	uintptr_t lo = (uintptr_t)values(st, slot), hi = lo + st->stride;
	int ret = 0;

	/* Outward to whole pages: with pages larger than BLOCK_ALIGN a neighbour's edge stays. */
	lo = lo / page * page;
	hi = (hi + page - 1) / page * page;
	if (lo > map && munmap((void *)map, lo - map) < 0)
		ret = -errno;
	if (map + st->map_len > hi && munmap((void *)hi, map + st->map_len - hi) < 0)
		ret = -errno;
	return ret;
}

void tp_stats_slot_set(struct tp_stats *st, unsigned slot, int32_t pid, uint32_t generation,
		       enum tp_slot_state state)
{
	unsigned b = block_no(st, slot);
	struct tp_stats_slot *s = &st->slots[b], *mine;

	TP_BUG_ON(!st->writable || !st->ms);
	mine = &st->ms->slots[b];
	mine->pid = pid;
	mine->generation = generation;
	mine->since_unix_ns = now_unix_ns();
	mine->state = (uint32_t)state;
	__atomic_store_n(&s->pid, pid, __ATOMIC_RELAXED);
	__atomic_store_n(&s->generation, generation, __ATOMIC_RELAXED);
	__atomic_store_n(&s->since_unix_ns, mine->since_unix_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&s->state, (uint32_t)state, __ATOMIC_RELEASE);
}

int tp_stats_slot_get(const struct tp_stats *st, unsigned slot, struct tp_stats_slot_info *out)
{
	const struct tp_stats_slot *s;

	if (slot >= st->n_slots && slot != TP_STATS_SLOT_MASTER && slot != TP_STATS_SLOT_RETIRED)
		return -EINVAL;
	/* The master answers from its own copy: a pid read from the segment could be anyone's. */
	s = st->ms ? &st->ms->slots[block_no(st, slot)] : &st->slots[block_no(st, slot)];
	out->state = (enum tp_slot_state)__atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
	out->pid = __atomic_load_n(&s->pid, __ATOMIC_RELAXED);
	out->generation = __atomic_load_n(&s->generation, __ATOMIC_RELAXED);
	out->since_unix_ns = __atomic_load_n(&s->since_unix_ns, __ATOMIC_RELAXED);
	return 0;
}

/* Walks the values of every scope of one slot, as the master's rows place them: gauges get
 * zeroed; counters and histograms are zeroed and added to into (when into is not NULL) or left
 * alone. Only values are read from the segment. */
static void sweep(struct tp_stats *st, unsigned slot, bool counters, uint64_t *into)
{
	const struct master_side *ms = st->ms;
	uint64_t *v = values(st, slot);

	for (unsigned i = 0; i < ms->n_rows; i++) {
		const struct tp_stats_scope_row *row = &ms->rows[i];
		const struct tp_stats_kind_desc *kd;
		uint32_t idx = row->base;

		if (!row->n_values)
			continue;
		kd = &tp_stats_kinds[row->kind];
		for (unsigned s = 0; s < kd->n_stats; s++) {
			bool gauge = kd->stats[s].type == TP_STAT_GAUGE;
			unsigned w =
				kd->stats[s].type == TP_STAT_HISTOGRAM ? TP_STATS_HIST_VALUES : 1;

			for (unsigned j = idx; j < idx + w; j++) {
				uint64_t x;

				if (!gauge && !counters)
					continue;
				if (!gauge && into) {
					x = __atomic_load_n(&v[j], __ATOMIC_RELAXED);
					x += __atomic_load_n(&into[j], __ATOMIC_RELAXED);
					__atomic_store_n(&into[j], x, __ATOMIC_RELAXED);
				}
				__atomic_store_n(&v[j], 0, __ATOMIC_RELAXED);
			}
			idx += w;
		}
	}
}

void tp_stats_slot_reset_gauges(struct tp_stats *st, unsigned slot)
{
	TP_BUG_ON(!st->writable || !st->ms || slot >= st->n_slots);
	tp_stats_check(st);
	fold_begin(st);
	sweep(st, slot, false, NULL);
	fold_end(st);
}

void tp_stats_slot_retire(struct tp_stats *st, unsigned slot)
{
	TP_BUG_ON(!st->writable || !st->ms || slot >= st->n_slots);
	tp_stats_check(st);
	fold_begin(st);
	sweep(st, slot, true, values(st, TP_STATS_SLOT_RETIRED));
	fold_end(st);
	tp_stats_slot_set(st, slot, 0, 0, TP_SLOT_FREE);
}

/* Envoy's /reset_counters. A worker's block has one writer, the worker, whose increments are a
 * plain load and store: the master may not write there. So the master adds to the retired
 * block (its own) the negation of each counter's sum: sums are unsigned and wrap, so every
 * counter then reads zero, exactly, and counts on from there as its workers add to it. Gauges
 * and histograms are left alone, as Envoy leaves them. Only values are read from the segment,
 * at indexes the master's own rows give. */
void tp_stats_reset_counters(struct tp_stats *st)
{
	const struct master_side *ms = st->ms;
	uint64_t *retired = values(st, TP_STATS_SLOT_RETIRED);

	TP_BUG_ON(!st->writable || !ms);
	tp_stats_check(st);
	fold_begin(st);
	for (unsigned i = 0; i < ms->n_rows; i++) {
		const struct tp_stats_scope_row *row = &ms->rows[i];
		const struct tp_stats_kind_desc *kd;
		uint32_t idx = row->base;

		if (!row->n_values)
			continue;
		kd = &tp_stats_kinds[row->kind];
		for (unsigned s = 0; s < kd->n_stats; s++) {
			uint64_t sum = 0;

			if (kd->stats[s].type == TP_STAT_HISTOGRAM) {
				idx += TP_STATS_HIST_VALUES;
				continue;
			}
			if (kd->stats[s].type == TP_STAT_COUNTER) {
				for (unsigned b = 0; b < st->n_slots + 2; b++)
					sum += __atomic_load_n(
						(uint64_t *)(void *)(st->blocks +
								     (size_t)b * st->stride) +
							idx,
						__ATOMIC_RELAXED);
				__atomic_store_n(&retired[idx],
						 __atomic_load_n(&retired[idx], __ATOMIC_RELAXED) -
							 sum,
						 __ATOMIC_RELAXED);
			}
			idx++;
		}
	}
	fold_end(st);
}

/* ---- readers ---- */

int tp_stats_open(struct tp_stats **out, const char *shm_name, char *err, size_t errlen)
{
	struct tp_stats_hdr geo = {0}, h;
	struct tp_stats *st;
	struct stat sb;
	uint64_t want;
	void *map;
	int fd, ret;

	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(st->shm_name, sizeof(st->shm_name), "%s", shm_name);
	fd = shm_open(shm_name, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open stats segment /dev/shm%s: %s", shm_name,
			 strerror(errno));
		goto out_free;
	}
	if (fstat(fd, &sb)) {
		ret = -errno;
		snprintf(err, errlen, "cannot stat /dev/shm%s: %s", shm_name, strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size < sizeof(struct tp_stats_hdr)) {
		snprintf(err, errlen, "/dev/shm%s is not a tcpproxy stats segment (%lld bytes)",
			 shm_name, (long long)sb.st_size);
		ret = -EPROTO;
		goto out_close;
	}
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		ret = -errno;
		snprintf(err, errlen, "cannot map /dev/shm%s: %s", shm_name, strerror(errno));
		goto out_close;
	}
	/* Checked on a copy, then used from the copy: the segment's may change meanwhile. */
	h.magic = __atomic_load_n(&((const struct tp_stats_hdr *)map)->magic, __ATOMIC_ACQUIRE);
	memcpy((char *)&h + sizeof(h.magic), (const char *)map + sizeof(h.magic),
	       sizeof(h) - sizeof(h.magic));
	want = tp_stats_layout_hash(tp_stats_kinds, TP_SCOPE__COUNT);
	ret = -EPROTO;
	if (h.magic != TP_STATS_MAGIC) {
		snprintf(err, errlen, "/dev/shm%s is not a tcpproxy stats segment (bad magic)",
			 shm_name);
		goto out_unmap;
	}
	if (h.version != TP_STATS_VERSION || h.hdr_size != sizeof(h)) {
		snprintf(err, errlen,
			 "/dev/shm%s has stats segment version %u, this reader knows version %u",
			 shm_name, h.version, TP_STATS_VERSION);
		goto out_unmap;
	}
	if (h.layout_hash != want) {
		snprintf(err, errlen,
			 "/dev/shm%s has stat layout %016llx, this reader knows %016llx: tcpproxy "
			 "and the reader were built from different stat tables",
			 shm_name, (unsigned long long)h.layout_hash, (unsigned long long)want);
		goto out_unmap;
	}
	layout(&geo, h.n_slots, h.max_scopes, h.max_values);
	if (h.n_slots < 1 || h.n_slots > TP_STATS_MAX_SLOTS || h.max_scopes < 1 ||
	    h.max_scopes > TP_STATS_MAX_SCOPES || h.max_values != values_for(h.max_scopes) ||
	    geo.scopes_off != h.scopes_off || geo.slots_off != h.slots_off ||
	    geo.blocks_off != h.blocks_off || geo.block_stride != h.block_stride ||
	    geo.total_size != h.total_size || geo.scope_size != h.scope_size ||
	    geo.slot_size != h.slot_size || h.total_size > (uint64_t)sb.st_size) {
		snprintf(err, errlen, "/dev/shm%s: stats segment header is inconsistent", shm_name);
		goto out_unmap;
	}
	close(fd);
	attach(st, map, (size_t)sb.st_size, false, &h);
	*out = st;
	return 0;

out_unmap:
	munmap(map, (size_t)sb.st_size);
out_close:
	close(fd);
out_free:
	free(st);
	return ret;
}

/* A row (a copy, never the segment's own) a reader may use: known kind, values inside the
 * block, NUL-terminated name. Free rows (n_values 0) fail it too. */
static bool row_ok(const struct tp_stats *st, const struct tp_stats_scope_row *row)
{
	return row->kind < TP_SCOPE__COUNT && row->n_values == tp_stats_kinds[row->kind].n_values &&
	       row->base <= st->max_values && row->n_values <= st->max_values - row->base &&
	       memchr(row->name, '\0', sizeof(row->name));
}

/* Adds every block's values [0, n) into sums; n is within the block, by the caller's numbers. */
static void add_blocks(const struct tp_stats *st, uint64_t *sums, uint32_t n)
{
	for (unsigned b = 0; b < st->n_slots + 2; b++) {
		const uint64_t *v =
			(const uint64_t *)(const void *)(st->blocks + (size_t)b * st->stride);

		for (uint32_t i = 0; i < n; i++)
			sums[i] += __atomic_load_n(&v[i], __ATOMIC_RELAXED);
	}
}

/* A reader's consistent copy of the scope rows and the sums of their values, retried while it
 * overlaps a change by the master (as long as the master lets it: FOLD_RETRIES). */
static int reader_copy(const struct tp_stats *st, struct tp_stats_scope_row **rows_out,
		       unsigned *n_out, uint64_t **sums_out)
{
	struct timespec pause = {0, 10000};
	struct tp_stats_scope_row *rows = NULL;
	uint64_t *sums = NULL;
	unsigned n = 0;

	for (unsigned tries = 0;; tries++) {
		uint32_t seq = __atomic_load_n(&st->hdr->fold_seq, __ATOMIC_ACQUIRE), used = 0;
		void *p;

		if ((seq & 1) && tries < FOLD_RETRIES) {
			nanosleep(&pause, NULL);
			continue;
		}
		n = __atomic_load_n(&st->hdr->n_scopes, __ATOMIC_ACQUIRE);
		if (n > st->max_scopes)
			n = st->max_scopes;
		p = realloc(rows, (n ? n : 1) * sizeof(*rows));
		if (!p)
			goto out_nomem;
		rows = p;
		memcpy(rows, st->scopes, n * sizeof(*rows));
		for (unsigned i = 0; i < n; i++)
			if (row_ok(st, &rows[i]) && rows[i].base + rows[i].n_values > used)
				used = rows[i].base + rows[i].n_values;
		p = realloc(sums, (used ? used : 1) * sizeof(*sums));
		if (!p)
			goto out_nomem;
		sums = p;
		memset(sums, 0, used * sizeof(*sums));
		add_blocks(st, sums, used);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&st->hdr->fold_seq, __ATOMIC_RELAXED) == seq ||
		    tries >= FOLD_RETRIES)
			break;
	}
	*rows_out = rows;
	*n_out = n;
	*sums_out = sums;
	return 0;

out_nomem:
	free(rows);
	free(sums);
	return -ENOMEM;
}

int tp_stats_visit(struct tp_stats *st, tp_stats_visit_fn fn, void *arg)
{
	char name[8 + TP_STATS_NAME_MAX + 128];
	struct tp_stats_scope_row *copy = NULL;
	const struct tp_stats_scope_row *rows;
	struct tp_stat_value v;
	uint64_t *sums;
	unsigned n_rows;
	int ret;

	if (st->ms) {
		/* The master: its own rows, and no fold can overlap (it does them itself). */
		uint32_t used = st->ms->hdr.n_values;

		tp_stats_check(st);
		rows = st->ms->rows;
		n_rows = st->ms->n_rows;
		sums = calloc(used ? used : 1, sizeof(*sums));
		if (!sums)
			return -ENOMEM;
		add_blocks(st, sums, used);
	} else {
		ret = reader_copy(st, &copy, &n_rows, &sums);
		if (ret < 0)
			return ret;
		rows = copy;
	}
	v.name = name;
	for (unsigned i = 0; i < n_rows; i++) {
		const struct tp_stats_scope_row *row = &rows[i];
		const struct tp_stats_kind_desc *kd;
		uint32_t idx;

		if (!row_ok(st, row))
			continue;
		kd = &tp_stats_kinds[row->kind];
		idx = row->base;
		v.kind = (enum tp_scope_kind)row->kind;
		v.scope = row->name;
		for (unsigned s = 0; s < kd->n_stats; s++) {
			const struct tp_stat_desc *d = &kd->stats[s];

			if (row->name[0])
				snprintf(name, sizeof(name), "%s.%s.%s", kd->name, row->name,
					 d->name);
			else
				snprintf(name, sizeof(name), "%s.%s", kd->name, d->name);
			v.stat = d->name;
			v.type = d->type;
			if (d->type == TP_STAT_HISTOGRAM) {
				v.hist = &sums[idx];
				v.value = sums[idx + TP_STATS_HIST_COUNT];
				idx += TP_STATS_HIST_VALUES;
			} else {
				v.hist = NULL;
				v.value = sums[idx++];
			}
			fn(arg, &v);
		}
	}
	free(copy);
	free(sums);
	return 0;
}

struct foreach_arg {
	tp_stats_fn fn;
	void *arg;
};

static void foreach_one(void *arg, const struct tp_stat_value *v)
{
	struct foreach_arg *a = arg;

	if (v->type != TP_STAT_HISTOGRAM && v->kind != TP_SCOPE_HOST)
		a->fn(a->arg, v->name, v->type, v->value);
}

int tp_stats_foreach(struct tp_stats *st, tp_stats_fn fn, void *arg)
{
	struct foreach_arg a = {fn, arg};

	return tp_stats_visit(st, foreach_one, &a);
}

void tp_stats_close(struct tp_stats *st)
{
	if (!st)
		return;
	munmap(st->hdr, st->map_len);
	master_side_free(st->ms);
	free(st);
}

void tp_stats_destroy(struct tp_stats *st)
{
	if (!st)
		return;
	if (st->ms && st->ms->owner == getpid())
		shm_unlink(st->shm_name);
	tp_stats_close(st);
}

void tp_stats_listener_name(const struct sockaddr *sa, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (!len)
		return;
	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(out, len, "%s_%u", host, ntohs(in->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		for (char *c = host; *c; c++) {
			if (*c == ':')
				*c = '_';
		}
		snprintf(out, len, "[%s]_%u", host, ntohs(in6->sin6_port));
		break;
	}
	case AF_UNIX: {
		const struct sockaddr_un *un = (const struct sockaddr_un *)(const void *)sa;

		/* Envoy names a pipe listener by its path, an abstract one with a leading '@'. */
		if (un->sun_path[0])
			snprintf(out, len, "%.*s", (int)sizeof(un->sun_path), un->sun_path);
		else
			snprintf(out, len, "@%.*s", (int)sizeof(un->sun_path) - 1,
				 un->sun_path + 1);
		break;
	}
	default:
		snprintf(out, len, "unknown_family_%u", (unsigned)sa->sa_family);
		break;
	}
}

uint64_t tp_stats_hist_bucket_lower(unsigned bucket)
{
	unsigned e, m;

	if (bucket < TP_STATS_HIST_SUB)
		return bucket;
	if (bucket >= TP_STATS_HIST_BUCKETS)
		bucket = TP_STATS_HIST_BUCKETS - 1;
	e = bucket / TP_STATS_HIST_SUB + TP_STATS_HIST_SUB_BITS - 1;
	m = bucket % TP_STATS_HIST_SUB;
	return (uint64_t)(TP_STATS_HIST_SUB + m) << (e - TP_STATS_HIST_SUB_BITS);
}

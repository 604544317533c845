/* The stats segment: creation and scope registration by the master, slot folding, read-only
 * mapping and summing for readers. The layout is described in shm/stats-t.h. */
#include "shm/stats.h"

#include "core/base/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CACHE_LINE     64
#define ALIGN_UP(x, a) (((x) + (a)-1) / (a) * (a))
/* Far above any sane configuration; keeps a typo in a flag from asking tmpfs for terabytes. The
 * segment is sparse, so this bounds address space, not memory: 256 workers x 4 generations with
 * the default 4096 scopes of histogram-carrying clusters take about 19 GiB of it. */
#define MAX_SEGMENT_BYTES (64ull << 30)
/* A reader waits this many times for a fold to finish, then sums what it sees: a master that died
 * in the middle of a fold must not hang tcpproxy-stat. */
#define FOLD_RETRIES 10000

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
	char shm_name[256];
};

#define DESCS(K, k)                                                     \
	static const struct tp_stat_desc k##_descs[] = {TP_##K##_STATS( \
		TP_STATS_DESC_COUNTER, TP_STATS_DESC_GAUGE, TP_STATS_DESC_HISTOGRAM)};
TP_STATS_SCOPE_KINDS(DESCS)
#undef DESCS

#define KIND(K, k) \
	[TP_SCOPE_##K] = {#k, k##_descs, sizeof(k##_descs) / sizeof(k##_descs[0]), TP_##K##__COUNT},
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

static unsigned max_kind_values(void)
{
	unsigned m = 0;

	for (unsigned k = 0; k < TP_SCOPE__COUNT; k++) {
		if (tp_stats_kinds[k].n_values > m)
			m = tp_stats_kinds[k].n_values;
	}
	return m;
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
	h->blocks_off = ALIGN_UP(h->slots_off + blocks * sizeof(struct tp_stats_slot), CACHE_LINE);
	h->block_stride = ALIGN_UP((uint64_t)max_values * sizeof(uint64_t), CACHE_LINE);
	h->total_size = h->blocks_off + blocks * h->block_stride;
}

static void attach(struct tp_stats *st, void *map, size_t len, bool writable)
{
	st->hdr = map;
	st->map_len = len;
	st->scopes = (struct tp_stats_scope_row *)((char *)map + st->hdr->scopes_off);
	st->slots = (struct tp_stats_slot *)((char *)map + st->hdr->slots_off);
	st->blocks = (char *)map + st->hdr->blocks_off;
	st->stride = st->hdr->block_stride;
	st->n_slots = st->hdr->n_slots;
	st->max_scopes = st->hdr->max_scopes;
	st->max_values = st->hdr->max_values;
	st->writable = writable;
}

static uint64_t now_unix_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* An existing segment of the same name: 0 when it may be replaced (its master is gone), -EBUSY
 * when its master still runs. */
static int check_stale(const char *shm_name, char *err, size_t errlen)
{
	struct tp_stats_hdr hdr;
	struct stat sb;
	ssize_t n;
	int fd, ret = 0;

	fd = shm_open(shm_name, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return 0; /* gone meanwhile */
	n = pread(fd, &hdr, sizeof(hdr), 0);
	if (n == (ssize_t)sizeof(hdr) && hdr.magic == TP_STATS_MAGIC) {
		if (hdr.master_pid > 0 && (kill(hdr.master_pid, 0) == 0 || errno == EPERM)) {
			snprintf(err, errlen,
				 "stats segment /dev/shm%s is in use by tcpproxy pid %d (another "
				 "instance with the same --base-id?)",
				 shm_name, (int)hdr.master_pid);
			ret = -EBUSY;
		}
	} else if (!fstat(fd, &sb) && sb.st_ctime + 2 > time(NULL)) {
		/* No header yet and just made: another master is creating it right now. */
		snprintf(err, errlen,
			 "stats segment /dev/shm%s is being created by another process (another "
			 "instance with the same --base-id?)",
			 shm_name);
		ret = -EBUSY;
	}
	close(fd);
	return ret;
}

static int open_new(const char *shm_name, char *err, size_t errlen)
{
	int fd, ret;

	fd = shm_open(shm_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0 || errno != EEXIST)
		goto out;
	ret = check_stale(shm_name, err, errlen);
	if (ret)
		return ret;
	tp_warn("stats: replacing /dev/shm%s left by a tcpproxy that is gone", shm_name);
	if (shm_unlink(shm_name) && errno != ENOENT)
		goto out;
	fd = shm_open(shm_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
out:
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot create stats segment /dev/shm%s: %s", shm_name,
			 strerror(errno));
		return ret;
	}
	return fd;
}

int tp_stats_create(struct tp_stats **out, const char *shm_name, unsigned n_slots,
		    unsigned max_scopes, char *err, size_t errlen)
{
	struct tp_stats_hdr geo = {0};
	struct tp_stats *st;
	unsigned max_values;
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
	/* Room for max_scopes of the largest kind, so a scope never fails for lack of values. */
	max_values = max_scopes * max_kind_values();
	layout(&geo, n_slots, max_scopes, max_values);
	if (geo.total_size > MAX_SEGMENT_BYTES) {
		snprintf(err, errlen,
			 "stats: %u slots x %u scopes need a %llu MiB segment, more than %llu MiB",
			 n_slots, max_scopes, (unsigned long long)(geo.total_size >> 20),
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
	close(fd);
	memcpy(map, &geo, sizeof(geo));
	attach(st, map, geo.total_size, true);
	st->hdr->version = TP_STATS_VERSION;
	st->hdr->layout_hash = tp_stats_layout_hash(tp_stats_kinds, TP_SCOPE__COUNT);
	st->hdr->master_pid = (int32_t)getpid();
	st->hdr->created_unix_ns = now_unix_ns();
	__atomic_store_n(&st->hdr->magic, TP_STATS_MAGIC, __ATOMIC_RELEASE);
	*out = st;
	return 0;

out_unlink:
	close(fd);
	shm_unlink(shm_name);
out_free:
	free(st);
	return ret;
}

int tp_stats_scope(struct tp_stats *st, enum tp_scope_kind kind, const char *name, uint32_t *base)
{
	struct tp_stats_hdr *h = st->hdr;
	struct tp_stats_scope_row *row;
	unsigned n = h->n_scopes; /* the master is the only writer */
	uint32_t size;
	size_t len;

	if (!st->writable)
		return -EROFS;
	if ((unsigned)kind >= TP_SCOPE__COUNT)
		return -EINVAL;
	len = strlen(name);
	if (len >= TP_STATS_NAME_MAX)
		return -ENAMETOOLONG;
	if ((len == 0) != TP_STATS_ROOT_KIND(kind))
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		if (st->scopes[i].kind == (uint32_t)kind && !strcmp(st->scopes[i].name, name)) {
			*base = st->scopes[i].base;
			return 0;
		}
	}
	size = tp_stats_kinds[kind].n_values;
	if (n >= st->max_scopes || h->n_values + size > st->max_values)
		return -ENOSPC;
	row = &st->scopes[n];
	row->kind = kind;
	row->base = h->n_values;
	row->n_values = size;
	row->flags = 0;
	memcpy(row->name, name, len + 1);
	h->n_values += size;
	*base = row->base;
	__atomic_store_n(&h->n_scopes, n + 1, __ATOMIC_RELEASE);
	return 0;
}

unsigned tp_stats_n_slots(const struct tp_stats *st)
{
	return st->n_slots;
}

unsigned tp_stats_n_scopes(const struct tp_stats *st)
{
	return __atomic_load_n(&st->hdr->n_scopes, __ATOMIC_ACQUIRE);
}

unsigned tp_stats_max_scopes(const struct tp_stats *st)
{
	return st->max_scopes;
}

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

void tp_stats_slot_set(struct tp_stats *st, unsigned slot, int32_t pid, uint32_t generation,
		       enum tp_slot_state state)
{
	struct tp_stats_slot *s = &st->slots[block_no(st, slot)];

	TP_BUG_ON(!st->writable);
	__atomic_store_n(&s->pid, pid, __ATOMIC_RELAXED);
	__atomic_store_n(&s->generation, generation, __ATOMIC_RELAXED);
	__atomic_store_n(&s->since_unix_ns, now_unix_ns(), __ATOMIC_RELAXED);
	__atomic_store_n(&s->state, (uint32_t)state, __ATOMIC_RELEASE);
}

int tp_stats_slot_get(const struct tp_stats *st, unsigned slot, struct tp_stats_slot_info *out)
{
	const struct tp_stats_slot *s;

	if (slot >= st->n_slots && slot != TP_STATS_SLOT_MASTER && slot != TP_STATS_SLOT_RETIRED)
		return -EINVAL;
	s = &st->slots[block_no(st, slot)];
	out->state = (enum tp_slot_state)__atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
	out->pid = __atomic_load_n(&s->pid, __ATOMIC_RELAXED);
	out->generation = __atomic_load_n(&s->generation, __ATOMIC_RELAXED);
	out->since_unix_ns = __atomic_load_n(&s->since_unix_ns, __ATOMIC_RELAXED);
	return 0;
}

/* Readers retry a sum that overlapped a fold (seqlock; the master is the only writer). */
static void fold_begin(struct tp_stats *st)
{
	__atomic_store_n(&st->hdr->fold_seq, st->hdr->fold_seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void fold_end(struct tp_stats *st)
{
	__atomic_store_n(&st->hdr->fold_seq, st->hdr->fold_seq + 1, __ATOMIC_RELEASE);
}

/* Walks the values of every registered scope of one slot: gauges get zeroed; counters and
 * histograms are zeroed and added to into (when into is not NULL) or left alone. */
static void sweep(struct tp_stats *st, unsigned slot, bool counters, uint64_t *into)
{
	uint64_t *v = values(st, slot);
	unsigned n = st->hdr->n_scopes;

	for (unsigned i = 0; i < n; i++) {
		const struct tp_stats_scope_row *row = &st->scopes[i];
		const struct tp_stats_kind_desc *kd = &tp_stats_kinds[row->kind];
		uint32_t idx = row->base;

		for (unsigned s = 0; s < kd->n_stats; s++) {
			bool gauge = kd->stats[s].type == TP_STAT_GAUGE;
			unsigned w =
				kd->stats[s].type == TP_STAT_HISTOGRAM ? TP_STATS_HIST_VALUES : 1;

			for (unsigned j = idx; j < idx + w; j++) {
				if (!gauge && !counters)
					continue;
				if (!gauge && into)
					__atomic_store_n(&into[j], into[j] + v[j],
							 __ATOMIC_RELAXED);
				__atomic_store_n(&v[j], 0, __ATOMIC_RELAXED);
			}
			idx += w;
		}
	}
}

void tp_stats_slot_reset_gauges(struct tp_stats *st, unsigned slot)
{
	TP_BUG_ON(!st->writable || slot >= st->n_slots);
	fold_begin(st);
	sweep(st, slot, false, NULL);
	fold_end(st);
}

void tp_stats_slot_retire(struct tp_stats *st, unsigned slot)
{
	TP_BUG_ON(!st->writable || slot >= st->n_slots);
	fold_begin(st);
	sweep(st, slot, true, values(st, TP_STATS_SLOT_RETIRED));
	fold_end(st);
	tp_stats_slot_set(st, slot, 0, 0, TP_SLOT_FREE);
}

int tp_stats_open(struct tp_stats **out, const char *shm_name, char *err, size_t errlen)
{
	struct tp_stats_hdr geo = {0};
	const struct tp_stats_hdr *h;
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
	if ((uint64_t)sb.st_size < sizeof(struct tp_stats_hdr)) {
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
	h = map;
	want = tp_stats_layout_hash(tp_stats_kinds, TP_SCOPE__COUNT);
	ret = -EPROTO;
	if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != TP_STATS_MAGIC) {
		snprintf(err, errlen, "/dev/shm%s is not a tcpproxy stats segment (bad magic)",
			 shm_name);
		goto out_unmap;
	}
	if (h->version != TP_STATS_VERSION || h->hdr_size != sizeof(*h)) {
		snprintf(err, errlen,
			 "/dev/shm%s has stats segment version %u, this reader knows version %u",
			 shm_name, h->version, TP_STATS_VERSION);
		goto out_unmap;
	}
	if (h->layout_hash != want) {
		snprintf(err, errlen,
			 "/dev/shm%s has stat layout %016llx, this reader knows %016llx: tcpproxy "
			 "and the reader were built from different stat tables",
			 shm_name, (unsigned long long)h->layout_hash, (unsigned long long)want);
		goto out_unmap;
	}
	layout(&geo, h->n_slots, h->max_scopes, h->max_values);
	if (h->n_slots < 1 || h->n_slots > TP_STATS_MAX_SLOTS || h->max_scopes < 1 ||
	    h->max_scopes > TP_STATS_MAX_SCOPES || h->max_values < h->max_scopes ||
	    geo.scopes_off != h->scopes_off || geo.slots_off != h->slots_off ||
	    geo.blocks_off != h->blocks_off || geo.block_stride != h->block_stride ||
	    geo.total_size != h->total_size || geo.scope_size != h->scope_size ||
	    geo.slot_size != h->slot_size || h->total_size > (uint64_t)sb.st_size) {
		snprintf(err, errlen, "/dev/shm%s: stats segment header is inconsistent", shm_name);
		goto out_unmap;
	}
	close(fd);
	attach(st, map, (size_t)sb.st_size, false);
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

/* A row a reader may trust: known kind, values inside the block, NUL-terminated name. */
static bool row_ok(const struct tp_stats *st, const struct tp_stats_scope_row *row)
{
	return row->kind < TP_SCOPE__COUNT && row->n_values == tp_stats_kinds[row->kind].n_values &&
	       row->base <= st->max_values && row->n_values <= st->max_values - row->base &&
	       memchr(row->name, '\0', sizeof(row->name));
}

/* Sums every block into sums[0 .. n), consistently with folds when the master allows. */
static void sum_blocks(const struct tp_stats *st, uint64_t *sums, uint32_t n)
{
	struct timespec pause = {0, 10000};

	for (unsigned tries = 0;; tries++) {
		uint32_t seq = __atomic_load_n(&st->hdr->fold_seq, __ATOMIC_ACQUIRE);

		if ((seq & 1) && tries < FOLD_RETRIES) {
			nanosleep(&pause, NULL);
			continue;
		}
		memset(sums, 0, n * sizeof(*sums));
		for (unsigned b = 0; b < st->n_slots + 2; b++) {
			const uint64_t *v =
				(const uint64_t *)(const void *)(st->blocks +
								 (size_t)b * st->stride);

			for (uint32_t i = 0; i < n; i++)
				sums[i] += __atomic_load_n(&v[i], __ATOMIC_RELAXED);
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&st->hdr->fold_seq, __ATOMIC_RELAXED) == seq ||
		    tries >= FOLD_RETRIES)
			return;
	}
}

int tp_stats_visit(struct tp_stats *st, tp_stats_visit_fn fn, void *arg)
{
	unsigned n_scopes = tp_stats_n_scopes(st);
	char name[8 + TP_STATS_NAME_MAX + 128];
	struct tp_stat_value v;
	uint32_t used = 0;
	uint64_t *sums;

	if (n_scopes > st->max_scopes)
		n_scopes = st->max_scopes;
	for (unsigned i = 0; i < n_scopes; i++) {
		const struct tp_stats_scope_row *row = &st->scopes[i];

		if (row_ok(st, row) && row->base + row->n_values > used)
			used = row->base + row->n_values;
	}
	sums = calloc(used ? used : 1, sizeof(*sums));
	if (!sums)
		return -ENOMEM;
	sum_blocks(st, sums, used);
	v.name = name;
	for (unsigned i = 0; i < n_scopes; i++) {
		const struct tp_stats_scope_row *row = &st->scopes[i];
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
	free(st);
}

void tp_stats_destroy(struct tp_stats *st)
{
	if (!st)
		return;
	if (st->writable && st->hdr->master_pid == (int32_t)getpid())
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

/* Consistent hashing as Envoy does it, so that a key lands on the host Envoy would pick given the
 * same hosts and weights: the ketama ring of ring_hash_lb.cc and the Maglev table of
 * maglev_lb.cc, both over xxHash64 of the host's address ("10.0.0.1:80", "[::1]:80"). The
 * floating-point steps are Envoy's, in Envoy's order, so ring sizes and replica counts match. */
#include "core/worker/lb-int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/config/cluster_lb.h"

/* Envoy's MurmurHash::murmurHash2 with its STD_HASH_SEED: libstdc++'s 64-bit _Hash_bytes, so
 * std::hash<std::string> on Linux (ring_hash_lb_config.hash_function MURMUR_HASH_2). */
static uint64_t shift_mix(uint64_t v)
{
	return v ^ (v >> 47);
}

static uint64_t murmur2(const char *buf, size_t len)
{
	const uint64_t mul = 0xc6a4a7935bd1e995ull;
	const char *end = buf + (len & ~(size_t)7);
	uint64_t hash = 0xc70f6907ull ^ (len * mul);

	for (const char *p = buf; p != end; p += 8) {
		uint64_t data;

		memcpy(&data, p, 8); /* little-endian, as Envoy's unaligned_load on x86 and arm64 */
		hash ^= shift_mix(data * mul) * mul;
		hash *= mul;
	}
	if (len & 7) {
		uint64_t data = 0;

		for (int n = (int)(len & 7) - 1; n >= 0; n--)
			data = (data << 8) + (unsigned char)end[n];
		hash ^= data;
		hash *= mul;
	}
	hash = shift_mix(hash) * mul;
	return shift_mix(hash);
}

struct ring_entry {
	uint64_t hash;
	uint32_t host;
};

static int cmp_ring_entry(const void *a, const void *b)
{
	const struct ring_entry *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->host < y->host ? -1 : x->host > y->host;
}

/* Each host gets scale * weight points, "ADDRESS_i" for i = 0, 1, ..., with running sums so
 * that fractions carry over from host to host; scale makes the lightest host's share a whole
 * number of points, within maximum_ring_size. */
int tp_lb_ring_build(struct tp_lb *lb, const struct tp_cluster_rt *c,
		     const struct tp_lb_weighted *hw, uint32_t n, double min_w)
{
	const struct tp_cluster_cfg *cfg = c->cfg;
	struct ring_entry *ring = NULL;
	double scale, current = 0, target = 0;
	uint64_t size, cap, k = 0;
	int ret = -ENOMEM;

	lb->ring = NULL;
	lb->ring_host = NULL;
	lb->ring_size = 0;
	if (!n)
		return 0;
	/* One host takes every key whatever its points: one point will do (a single-host subset,
	 * say, of which there may be thousands). */
	if (n == 1) {
		lb->ring = malloc(sizeof(*lb->ring));
		lb->ring_host = malloc(sizeof(*lb->ring_host));
		if (!lb->ring || !lb->ring_host)
			return -ENOMEM;
		lb->ring[0] = 0;
		lb->ring_host[0] = hw[0].host;
		lb->ring_size = 1;
		return 0;
	}
	scale = fmin(ceil(min_w * (double)cfg->ring_min) / min_w, (double)cfg->ring_max);
	size = (uint64_t)ceil(scale);
	cap = size + n + 1;
	ring = malloc(cap * sizeof(*ring));
	if (!ring)
		goto out;
	for (uint32_t i = 0; i < n; i++) {
		const char *addr = c->hosts[hw[i].host]->cfg->addr.text;
		size_t alen = strlen(addr);
		char key[sizeof(c->hosts[0]->cfg->addr.text) + 24];

		memcpy(key, addr, alen);
		key[alen] = '_';
		target += scale * hw[i].w;
		for (uint64_t r = 0; current < target; r++, current++) {
			int len = snprintf(key + alen + 1, sizeof(key) - alen - 1, "%" PRIu64, r);

			if (k == cap) {
				struct ring_entry *more = realloc(ring, 2 * cap * sizeof(*ring));

				if (!more)
					goto out;
				ring = more;
				cap *= 2;
			}
			ring[k].hash = cfg->ring_hash_fn == 1
					       ? murmur2(key, alen + 1 + (size_t)len)
					       : XXH64(key, alen + 1 + (size_t)len, 0);
			ring[k].host = hw[i].host;
			k++;
		}
	}
	qsort(ring, k, sizeof(*ring), cmp_ring_entry);
	lb->ring = malloc((k ? k : 1) * sizeof(*lb->ring));
	lb->ring_host = malloc((k ? k : 1) * sizeof(*lb->ring_host));
	if (!lb->ring || !lb->ring_host)
		goto out;
	for (uint64_t i = 0; i < k; i++) {
		lb->ring[i] = ring[i].hash;
		lb->ring_host[i] = ring[i].host;
	}
	lb->ring_size = k;
	ret = 0;
out:
	free(ring);
	return ret;
}

/* ketama_get_server, as Envoy ported it: the first point at or after h, wrapping to the first.
 * The signed arithmetic is Envoy's (a hash of 0 or past the last point lands on point 0). */
uint32_t tp_lb_ring_pick(const struct tp_lb *lb, uint64_t h)
{
	int64_t lowp = 0, highp = (int64_t)lb->ring_size, midp = 0;

	if (!lb->ring_size)
		return UINT32_MAX;
	for (;;) {
		uint64_t midval, midval1;

		midp = (lowp + highp) / 2;
		if (midp == (int64_t)lb->ring_size) {
			midp = 0;
			break;
		}
		midval = lb->ring[midp];
		midval1 = midp == 0 ? 0 : lb->ring[midp - 1];
		if (h <= midval && h > midval1)
			break;
		if (midval < h)
			lowp = midp + 1;
		else
			highp = midp - 1;
		if (lowp > highp) {
			midp = 0;
			break;
		}
	}
	return lb->ring_host[midp];
}

struct maglev_entry {
	const char *key;
	uint32_t host;
	double weight;
	double target;
	uint64_t offset, skip, next;
};

static int cmp_maglev_entry(const void *a, const void *b)
{
	const struct maglev_entry *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c)
		return c;
	if (x->host != y->host)
		return x->host < y->host ? -1 : 1;
	return (x->weight > y->weight) - (x->weight < y->weight);
}

/* Maglev's pseudocode listing 1 with Envoy's weights: hosts sorted by address, each with its
 * permutation (offset from xxHash64 seed 0, skip from seed 1), taking its next free slot in
 * turns; a host of weight w takes a turn in w/max_w of the rounds. */
int tp_lb_maglev_build(struct tp_lb *lb, const struct tp_cluster_rt *c,
		       const struct tp_lb_weighted *hw, uint32_t n, double max_w)
{
	uint64_t m =
		c->cfg->maglev_table_size ? (uint64_t)c->cfg->maglev_table_size : TP_MAGLEV_DEFAULT;
	struct maglev_entry *e;
	uint64_t filled = 0;

	lb->table = NULL;
	lb->table_size = 0;
	if (!n)
		return 0;
	/* One host fills every slot: a table of one says the same in 4 bytes, not 256 KiB. */
	if (n == 1) {
		lb->table = malloc(sizeof(*lb->table));
		if (!lb->table)
			return -ENOMEM;
		lb->table[0] = hw[0].host;
		lb->table_size = 1;
		return 0;
	}
	e = calloc(n, sizeof(*e));
	lb->table = malloc(m * sizeof(*lb->table));
	if (!e || !lb->table) {
		free(e);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < m; i++)
		lb->table[i] = UINT32_MAX;
	for (uint32_t i = 0; i < n; i++) {
		const char *key = c->hosts[hw[i].host]->cfg->addr.text;
		size_t len = strlen(key);

		e[i].key = key;
		e[i].host = hw[i].host;
		e[i].weight = hw[i].w;
		e[i].offset = XXH64(key, len, 0) % m;
		e[i].skip = XXH64(key, len, 1) % (m - 1) + 1;
	}
	qsort(e, n, sizeof(*e), cmp_maglev_entry);
	for (uint32_t iteration = 1; filled < m; iteration++) {
		for (uint32_t i = 0; i < n && filled < m; i++) {
			uint64_t slot;

			if (iteration * e[i].weight < e[i].target)
				continue;
			e[i].target += max_w;
			slot = (e[i].offset + e[i].skip * e[i].next) % m;
			while (lb->table[slot] != UINT32_MAX) {
				e[i].next++;
				slot = (e[i].offset + e[i].skip * e[i].next) % m;
			}
			lb->table[slot] = e[i].host;
			e[i].next++;
			filled++;
		}
	}
	lb->table_size = m;
	free(e);
	return 0;
}

uint32_t tp_lb_maglev_pick(const struct tp_lb *lb, uint64_t h)
{
	return lb->table_size ? lb->table[h % lb->table_size] : UINT32_MAX;
}

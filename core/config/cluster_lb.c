/* A cluster's load-balancing messages (envoy.config.cluster.v3.Cluster's lb_subset_config and
 * lb_config oneof, common_lb_config) as schema rows, and the checks Envoy makes across them. */
#include "core/config/cluster_lb.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/config/cfg_schema.h"
#include "core/config/metadata.h"
#include "core/config/ynode.h"

/* ---- Cluster.LbSubsetConfig ---- */

static const struct tp_cfg_enum subset_fallback_enum[] = {
	{"NO_FALLBACK", 0, TP_SUBSET_NO_FALLBACK, false},
	{"ANY_ENDPOINT", 1, TP_SUBSET_ANY_ENDPOINT, false},
	{"DEFAULT_SUBSET", 2, TP_SUBSET_DEFAULT_SUBSET, false},
	{.name = NULL},
};

static const struct tp_cfg_enum selector_fallback_enum[] = {
	{"NOT_DEFINED", 0, TP_SELECTOR_NOT_DEFINED, false},
	{"NO_FALLBACK", 1, TP_SELECTOR_NO_FALLBACK, false},
	{"ANY_ENDPOINT", 2, TP_SELECTOR_ANY_ENDPOINT, false},
	{"DEFAULT_SUBSET", 3, TP_SELECTOR_DEFAULT_SUBSET, false},
	{"KEYS_SUBSET", 4, TP_SELECTOR_KEYS_SUBSET, false},
	{.name = NULL},
};

/* Envoy's SubsetSelector constructor, word for word in what it refuses. */
static void selector_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_subset_selector_cfg *s = obj;
	const struct tp_ynode *fk = tp_cfg_find(map, "fallback_keys_subset");

	if (s->fallback_policy != TP_SELECTOR_KEYS_SUBSET) {
		if (s->fallback_keys.n)
			tp_cfg_error(ctx, fk, "fallback_keys_subset",
				     "can be set only for KEYS_SUBSET fallback_policy");
		return;
	}
	if (!s->fallback_keys.n) {
		tp_cfg_error_mark(ctx, s->fallback_mark, "fallback_policy",
				  "KEYS_SUBSET needs fallback_keys_subset: it cannot be empty");
		return;
	}
	for (size_t i = 0; i < s->fallback_keys.n; i++) {
		if (!tp_strset_has(&s->keys, s->fallback_keys.v[i])) {
			tp_cfg_error(ctx, fk, "fallback_keys_subset",
				     "\"%s\" is not one of keys: fallback_keys_subset must be a "
				     "subset of selector keys",
				     s->fallback_keys.v[i]);
			return;
		}
	}
	/* Otherwise the fallback would look the same keys up again, for ever. */
	if (s->fallback_keys.n == s->keys.n)
		tp_cfg_error(ctx, fk, "fallback_keys_subset", "cannot be equal to keys");
}

static const struct tp_cfg_field selector_fields[] = {
	{.key = "keys",
	 .type = TP_CFG_CUSTOM,
	 .off = offsetof(struct tp_subset_selector_cfg, keys),
	 .decode = tp_cfg_decode_strset,
	 .free = tp_cfg_free_strset},
	{.key = "single_host_per_subset",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_subset_selector_cfg, single_host_per_subset)},
	{.key = "fallback_policy",
	 .type = TP_CFG_ENUM,
	 .off = offsetof(struct tp_subset_selector_cfg, fallback_policy),
	 .enums = selector_fallback_enum,
	 .def = TP_SELECTOR_NOT_DEFINED,
	 .mark_off = TP_CFG_MARK(struct tp_subset_selector_cfg, fallback_mark)},
	{.key = "fallback_keys_subset",
	 .type = TP_CFG_CUSTOM,
	 .off = offsetof(struct tp_subset_selector_cfg, fallback_keys),
	 .decode = tp_cfg_decode_strset,
	 .free = tp_cfg_free_strset},
	{.key = NULL},
};

static const struct tp_cfg_schema selector_schema = {
	.name = "envoy.config.cluster.v3.Cluster.LbSubsetConfig.LbSubsetSelector",
	.size = sizeof(struct tp_subset_selector_cfg),
	.fields = selector_fields,
	.mark_off = TP_CFG_MARK(struct tp_subset_selector_cfg, mark),
	.post = selector_post,
};

/* Envoy enables the subset balancer when any selector is given, and keeps those with keys. */
static void subset_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_subset_cfg *s = obj;
	size_t kept = 0;

	s->enabled = s->n_selectors > 0;
	for (size_t i = 0; i < s->n_selectors; i++) {
		if (!s->selectors[i].keys.n) {
			tp_cfg_free(&selector_schema, &s->selectors[i]);
			continue;
		}
		s->selectors[kept++] = s->selectors[i];
	}
	s->n_selectors = kept;
}

static const struct tp_cfg_field subset_fields[] = {
	{.key = "fallback_policy",
	 .type = TP_CFG_ENUM,
	 .off = offsetof(struct tp_subset_cfg, fallback_policy),
	 .enums = subset_fallback_enum,
	 .def = TP_SUBSET_NO_FALLBACK},
	{.key = "default_subset",
	 .type = TP_CFG_CUSTOM,
	 .off = offsetof(struct tp_subset_cfg, default_subset),
	 .decode = tp_cfg_decode_struct,
	 .free = tp_cfg_free_mstruct},
	{.key = "subset_selectors",
	 .type = TP_CFG_REPEATED,
	 .off = offsetof(struct tp_subset_cfg, selectors),
	 .count_off = offsetof(struct tp_subset_cfg, n_selectors),
	 .sub = &selector_schema},
	{.key = "locality_weight_aware",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_subset_cfg, locality_weight_aware)},
	{.key = "scale_locality_weight",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_subset_cfg, scale_locality_weight)},
	{.key = "panic_mode_any",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_subset_cfg, panic_mode_any)},
	{.key = "list_as_any",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_subset_cfg, list_as_any)},
	UNSUPPORTED_BUT("metadata_fallback_policy", "METADATA_NO_FALLBACK"),
	{.key = "allow_redundant_keys",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tp_subset_cfg, allow_redundant_keys)},
	{.key = NULL},
};

const struct tp_cfg_schema tp_cfg_lb_subset_schema = {
	.name = "envoy.config.cluster.v3.Cluster.LbSubsetConfig",
	.size = sizeof(struct tp_subset_cfg),
	.fields = subset_fields,
	.mark_off = TP_CFG_MARK(struct tp_subset_cfg, mark),
	.post = subset_post,
};

/* ---- the lb_config oneof ---- */

static const struct tp_cfg_enum ring_hash_fn_enum[] = {
	{"XX_HASH", 0, 0, false},
	{"MURMUR_HASH_2", 1, 1, false},
	{.name = NULL},
};

static const struct tp_cfg_field ring_hash_fields[] = {
	{.key = "minimum_ring_size",
	 .type = TP_CFG_INT64,
	 .off = offsetof(struct tp_cluster_cfg, ring_min),
	 .min = 0,
	 .max = TP_RING_LIMIT,
	 .def = TP_RING_MIN_DEFAULT},
	{.key = "hash_function",
	 .type = TP_CFG_ENUM,
	 .off = offsetof(struct tp_cluster_cfg, ring_hash_fn),
	 .enums = ring_hash_fn_enum},
	{.key = "maximum_ring_size",
	 .type = TP_CFG_INT64,
	 .off = offsetof(struct tp_cluster_cfg, ring_max),
	 .min = 0,
	 .max = TP_RING_LIMIT,
	 .def = TP_RING_MAX_DEFAULT},
	{.key = NULL},
};

const struct tp_cfg_schema tp_cfg_ring_hash_schema = {
	.name = "envoy.config.cluster.v3.Cluster.RingHashLbConfig",
	.size = sizeof(struct tp_cluster_cfg),
	.fields = ring_hash_fields,
};

static const struct tp_cfg_field maglev_fields[] = {
	{.key = "table_size",
	 .type = TP_CFG_INT64,
	 .off = offsetof(struct tp_cluster_cfg, maglev_table_size),
	 .min = 0,
	 .max = TP_MAGLEV_LIMIT,
	 .def = TP_MAGLEV_DEFAULT},
	{.key = NULL},
};

const struct tp_cfg_schema tp_cfg_maglev_schema = {
	.name = "envoy.config.cluster.v3.Cluster.MaglevLbConfig",
	.size = sizeof(struct tp_cluster_cfg),
	.fields = maglev_fields,
};

static const struct tp_cfg_field least_request_fields[] = {
	{.key = "choice_count",
	 .type = TP_CFG_UINT32,
	 .off = offsetof(struct tp_cluster_cfg, choice_count),
	 .min = 2,
	 .max = UINT32_MAX,
	 .def = TP_CHOICE_COUNT_DEFAULT},
	UNSUPPORTED("active_request_bias"),
	UNSUPPORTED("slow_start_config"),
	{.key = NULL},
};

const struct tp_cfg_schema tp_cfg_least_request_schema = {
	.name = "envoy.config.cluster.v3.Cluster.LeastRequestLbConfig",
	.size = sizeof(struct tp_cluster_cfg),
	.fields = least_request_fields,
};

/* ---- Cluster.CommonLbConfig ---- */

static const struct tp_cfg_field empty_fields[] = {
	{.key = NULL},
};

static const struct tp_cfg_schema locality_weighted_schema = {
	.name = "envoy.config.cluster.v3.Cluster.CommonLbConfig.LocalityWeightedLbConfig",
	.size = 1,
	.fields = empty_fields,
};

/* LocalityWeightedLbConfig has no fields: that it is given turns locality weighting on. */
static int decode_locality_weighted(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
				    const struct tp_ynode *v, void *obj)
{
	char none[1] = {0};

	*(bool *)((char *)obj + f->off) = true;
	return tp_cfg_decode(ctx, &locality_weighted_schema, v, none);
}

static const struct tp_cfg_field consistent_hashing_fields[] = {
	UNSUPPORTED_BUT("use_hostname_for_hashing", "false"),
	UNSUPPORTED("hash_balance_factor"),
	{.key = NULL},
};

static const struct tp_cfg_schema consistent_hashing_schema = {
	.name = "envoy.config.cluster.v3.Cluster.CommonLbConfig.ConsistentHashingLbConfig",
	.size = sizeof(struct tp_cluster_cfg),
	.fields = consistent_hashing_fields,
};

/* type.v3.Percent {value: double in [0, 100]}: common_lb_config.healthy_panic_threshold. */
static int decode_percent(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			  const struct tp_ynode *v, void *obj)
{
	struct tp_cluster_cfg *c = obj;
	const struct tp_ynode *x;
	char *end;
	double d;

	if (!v || v->type != TP_YNODE_MAP) {
		tp_cfg_error(ctx, v, NULL, "expected a mapping (type.v3.Percent: {value: N})");
		return -EINVAL;
	}
	for (size_t i = 0; i < v->n; i++) {
		if (strcmp(v->pairs[i].key->str, "value")) {
			tp_cfg_error(ctx, v->pairs[i].key, NULL, "unknown field \"%s\"",
				     v->pairs[i].key->str);
			return -EINVAL;
		}
	}
	x = tp_cfg_find(v, "value");
	c->panic_threshold_given = true;
	c->panic_threshold = 0; /* protobuf's default of an absent double */
	if (!x)
		return 0;
	d = x->type == TP_YNODE_SCALAR && x->len ? strtod(x->str, &end) : -1;
	if (x->type != TP_YNODE_SCALAR || !x->len || *end || !(d >= 0 && d <= 100)) {
		tp_cfg_error(ctx, x, "value", "expected a number from 0 to 100");
		return -EINVAL;
	}
	c->panic_threshold = d;
	return 0;
}

static const struct tp_cfg_field common_lb_fields[] = {
	{.key = "healthy_panic_threshold", .type = TP_CFG_CUSTOM, .decode = decode_percent},
	UNSUPPORTED_ONEOF("zone_aware_lb_config", "locality_config_specifier"),
	{.key = "locality_weighted_lb_config",
	 .type = TP_CFG_CUSTOM,
	 .off = offsetof(struct tp_cluster_cfg, locality_weighted),
	 .decode = decode_locality_weighted,
	 .oneof = "locality_config_specifier"},
	/* Static clusters never change: there are no updates to merge. */
	IGNORED("update_merge_window"),
	UNSUPPORTED_BUT("ignore_new_hosts_until_first_hc", "false"),
	UNSUPPORTED_BUT("close_connections_on_host_set_change", "false"),
	{.key = "consistent_hashing_lb_config",
	 .type = TP_CFG_MESSAGE,
	 .sub = &consistent_hashing_schema},
	UNSUPPORTED("override_host_status"),
	{.key = NULL},
};

const struct tp_cfg_schema tp_cfg_common_lb_schema = {
	.name = "envoy.config.cluster.v3.Cluster.CommonLbConfig",
	.size = sizeof(struct tp_cluster_cfg),
	.fields = common_lb_fields,
};

/* ---- checks across fields ---- */

static bool is_prime(uint64_t n)
{
	if (n < 2)
		return false;
	for (uint64_t d = 2; d * d <= n; d++)
		if (n % d == 0)
			return false;
	return true;
}

static const char *policy_name(enum tp_lb_policy p)
{
	switch (p) {
	case TP_LB_ROUND_ROBIN:
		return "ROUND_ROBIN";
	case TP_LB_RANDOM:
		return "RANDOM";
	case TP_LB_LEAST_REQUEST:
		return "LEAST_REQUEST";
	case TP_LB_RING_HASH:
		return "RING_HASH";
	case TP_LB_MAGLEV:
		return "MAGLEV";
	}
	return "?";
}

void tp_cfg_cluster_lb_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map,
			    struct tp_cluster_cfg *c)
{
	static const struct {
		const char *key;
		int policy; /* the lb_policy that reads it; -1: none tcpproxy serves */
	} oneof[] = {
		{"ring_hash_lb_config", TP_LB_RING_HASH},
		{"maglev_lb_config", TP_LB_MAGLEV},
		{"original_dst_lb_config", -1},
		{"least_request_lb_config", TP_LB_LEAST_REQUEST},
		{"round_robin_lb_config", TP_LB_ROUND_ROBIN},
	};
	const struct tp_ynode *first = NULL, *ring = tp_cfg_find(map, "ring_hash_lb_config");
	const char *first_key = NULL;

	/* oneof lb_config: one of these at most. */
	for (size_t i = 0; i < sizeof(oneof) / sizeof(oneof[0]); i++) {
		const struct tp_ynode *v = tp_cfg_find(map, oneof[i].key);

		if (!v)
			continue;
		if (first) {
			tp_cfg_error(ctx, v, oneof[i].key,
				     "only one of ring_hash_lb_config, maglev_lb_config, "
				     "original_dst_lb_config, least_request_lb_config and "
				     "round_robin_lb_config may be set (%s is too)",
				     first_key);
			continue;
		}
		first = v;
		first_key = oneof[i].key;
		/* Envoy reads the one its lb_policy names and ignores the others. */
		if (oneof[i].policy >= 0 && oneof[i].policy != (int)c->lb_policy)
			tp_cfg_warn_mark(ctx, tp_cfg_mark_of(v), oneof[i].key,
					 "has no effect with lb_policy %s, as in Envoy",
					 policy_name(c->lb_policy));
	}
	/* Envoy checks these when it builds the load balancer, so only for its lb_policy. */
	if (c->lb_policy == TP_LB_RING_HASH && ring && c->ring_min > c->ring_max)
		tp_cfg_error(ctx, ring, "ring_hash_lb_config",
			     "minimum_ring_size (%" PRId64 ") > maximum_ring_size (%" PRId64 ")",
			     c->ring_min, c->ring_max);
	if (c->lb_policy == TP_LB_MAGLEV && !is_prime((uint64_t)c->maglev_table_size))
		tp_cfg_error(ctx, tp_cfg_find(tp_cfg_find(map, "maglev_lb_config"), "table_size"),
			     "maglev_lb_config.table_size",
			     "%" PRId64 " is not a prime number: Maglev's table size must be one",
			     c->maglev_table_size);
	/* Envoy's validateEndpoints: the locality weights of a priority sum within 32 bits. */
	for (uint32_t p = 0; p < c->n_priorities; p++) {
		uint64_t sum = 0;

		for (size_t i = 0; i < c->n_localities; i++)
			if (c->localities[i].priority == p)
				sum += c->localities[i].weight;
		if (sum > UINT32_MAX) {
			tp_cfg_error(ctx, tp_cfg_find(map, "load_assignment"), "load_assignment",
				     "the locality load_balancing_weights of priority %u sum to "
				     "%" PRIu64 ", more than 4294967295",
				     p, sum);
			break;
		}
	}
}

void tp_cfg_localities_free(struct tp_cluster_cfg *c)
{
	for (size_t i = 0; i < c->n_localities; i++) {
		free(c->localities[i].region);
		free(c->localities[i].zone);
		free(c->localities[i].sub_zone);
	}
	free(c->localities);
	c->localities = NULL;
	c->n_localities = 0;
}

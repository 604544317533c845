/* Filter chain matching, after Envoy's FilterChainManagerImpl (source/common/listener_manager/
 * filter_chain_manager_impl.cc): FilterChainMatch decoded, compiled per listener into a tree of
 * sorted tables, and walked once per connection.
 *
 * The tree has one level per field, in Envoy's order: destination port, destination IP
 * (prefix_ranges), server name, transport protocol, application protocol, direct source IP,
 * source type, source IP, source port. Each chain is inserted under every combination of its
 * values (a field left empty is the level's "any" key), and its index is stored at the source
 * port level. A lookup takes, at each level, the most specific key the connection has:
 *
 * - ports: the exact port, else any;
 * - IPs: the longest prefix holding the address, any last;
 * - server name: the exact name, else the longest wildcard suffix (*.b.example.com before
 *   *.example.com before *.com; "*." only leads, and matches one or more labels), else any;
 * - transport protocol: exact, else any;
 * - application protocol: the first the client offers that has a table, else any;
 * - source type: SAME_IP_OR_LOOPBACK or EXTERNAL as the connection is, if that key exists,
 *   else ANY.
 *
 * and never comes back up: a more specific key whose subtree has nothing for the connection
 * means no match (then the default chain), even if a less specific one would have matched.
 * Two chains ending at the same leaf overlap, which Envoy refuses, as it refuses two chains with
 * the same FilterChainMatch. */
#include "core/config/chain_match.h"

#include "core/config/cfg_schema.h"
#include "core/config/ynode.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- envoy.config.core.v3.CidrRange ---- */

static void cidr_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_cidr_cfg *r = obj;
	struct tp_cidr *c = &r->cidr;
	const struct tp_ynode *at = tp_cfg_find(map, "address_prefix");
	unsigned bits, len;

	memset(c, 0, sizeof(*c));
	if (!r->address_prefix)
		return; /* missing: reported already */
	if (inet_pton(AF_INET, r->address_prefix, c->addr) == 1) {
		c->family = AF_INET;
		bits = 32;
	} else if (inet_pton(AF_INET6, r->address_prefix, c->addr) == 1) {
		c->family = AF_INET6;
		bits = 128;
	} else {
		tp_cfg_error(ctx, at, "address_prefix", "malformed IP address: %s",
			     r->address_prefix);
		return;
	}
	/* An unset UInt32Value reads as 0 in Envoy: the range holds every address. */
	if (r->prefix_len < 0)
		tp_cfg_warn_mark(ctx, tp_cfg_mark_of(at), "address_prefix",
				 "no prefix_len: Envoy reads it as 0, so %s/0 holds every %s "
				 "address",
				 r->address_prefix, bits == 32 ? "IPv4" : "IPv6");
	len = r->prefix_len < 0 ? 0 : (unsigned)r->prefix_len;
	/* Envoy truncates a length past the address's bits to them. */
	if (len > bits)
		len = bits;
	c->len = (uint8_t)len;
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = len > i * 8 ? len - i * 8 : 0;

		if (keep < 8)
			c->addr[i] &= (uint8_t)(0xff00u >> keep);
	}
}

static const struct tp_cfg_field cidr_fields[] = {
	{.key = "address_prefix",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_REQUIRED | TP_CFG_NONEMPTY,
	 .off = offsetof(struct tp_cidr_cfg, address_prefix)},
	{.key = "prefix_len",
	 .type = TP_CFG_UINT32_OPT,
	 .off = offsetof(struct tp_cidr_cfg, prefix_len),
	 .min = 0,
	 .max = 128,
	 .def = -1},
	{.key = NULL},
};

static const struct tp_cfg_schema cidr_schema = {
	.name = "envoy.config.core.v3.CidrRange",
	.size = sizeof(struct tp_cidr_cfg),
	.fields = cidr_fields,
	.post = cidr_post,
};

/* ---- repeated scalars ---- */

/* The items of a repeated scalar field: a list, or one scalar read as a list of one (as
 * Envoy's protobuf JSON parser reads one message where a list is expected). */
static bool list_items(struct tp_cfg_ctx *ctx, const struct tp_ynode *const *vp,
		       struct tp_ynode *const **items, size_t *n)
{
	const struct tp_ynode *v = *vp;

	if (v->type == TP_YNODE_SEQ) {
		*items = v->items;
		*n = v->n;
		return true;
	}
	if (v->type == TP_YNODE_SCALAR) {
		*items = (struct tp_ynode *const *)vp;
		*n = 1;
		return true;
	}
	tp_cfg_error(ctx, v, NULL, "expected a list, got %s", tp_ynode_kind_name(v));
	return false;
}

static void *at_off(void *obj, size_t off)
{
	return (char *)obj + off;
}

/* A wildcard is "*." then a name: Envoy matches no other use of '*'. */
static bool bad_wildcard(const char *name)
{
	return strchr(name, '*') && strncmp(name, "*.", 2);
}

/* Repeated strings into char ** at f->off, their count at f->count_off. server_names are
 * lower-cased, as Envoy stores them (the requested server name is lower case too). */
static int decode_strings(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			  const struct tp_ynode *v, void *obj)
{
	char ***arr = at_off(obj, f->off);
	size_t *count = at_off(obj, f->count_off), n;
	struct tp_ynode *const *items;
	bool names = !strcmp(f->key, "server_names");
	int ret = 0;

	if (!list_items(ctx, &v, &items, &n))
		return -EINVAL;
	if (!n)
		return 0;
	*arr = calloc(n, sizeof(**arr));
	if (!*arr) {
		ctx->oom = true;
		return -ENOMEM;
	}
	*count = n;
	for (size_t i = 0; i < n; i++) {
		const struct tp_ynode *it = items[i];
		size_t old = tp_cfg_path_push_index(ctx, i);

		if (it->type != TP_YNODE_SCALAR || tp_ynode_is_null(it)) {
			tp_cfg_error(ctx, it, NULL, "expected a string, got %s",
				     tp_ynode_kind_name(it));
			ret = -EINVAL;
		} else if (memchr(it->str, '\0', it->len)) {
			tp_cfg_error(ctx, it, NULL, "must not contain a NUL character");
			ret = -EINVAL;
		} else if (names && bad_wildcard(it->str)) {
			tp_cfg_error(ctx, it, NULL,
				     "partial wildcards are not supported in \"server_names\" "
				     "(Envoy takes \"*.\" leading a name, and no other \"*\")");
			ret = -EINVAL;
		} else if (names && (!strcmp(it->str, "*.") || !strcmp(it->str, "."))) {
			/* Envoy loads both and no real server name ever reaches them. */
			tp_cfg_error(ctx, it, NULL,
				     "\"%s\" matches no server name: a wildcard needs a suffix "
				     "(\"*.example.com\")",
				     it->str);
			ret = -EINVAL;
		} else if (!((*arr)[i] = strdup(it->str))) {
			ctx->oom = true;
			ret = -ENOMEM;
		} else if (names) {
			for (char *p = (*arr)[i]; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			/* Envoy keys "*.example.com" as ".example.com" and looks wildcards up by
			 * that key, so a name written ".example.com" is that wildcard too
			 * (filter_chain_manager_impl.cc); kept, and said. */
			if ((*arr)[i][0] == '.')
				tp_cfg_warn_mark(ctx, tp_cfg_mark_of(it), NULL,
						 "\"%s\" is the wildcard \"*%s\" (Envoy matches a "
						 "leading \".\" as it does \"*.\"): it takes "
						 "every name under %s",
						 (*arr)[i], (*arr)[i], (*arr)[i] + 1);
		}
		tp_cfg_path_pop(ctx, old);
	}
	return ret;
}

static void free_strings(const struct tp_cfg_field *f, void *obj)
{
	char ***arr = at_off(obj, f->off);
	size_t *count = at_off(obj, f->count_off);

	for (size_t i = 0; *arr && i < *count; i++)
		free((*arr)[i]);
	free(*arr);
	*arr = NULL;
	*count = 0;
}

/* source_ports: repeated uint32, each 1..65535 (Envoy's validation rules). A number may be
 * quoted, as protobuf JSON allows. */
static int decode_ports(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			const struct tp_ynode *v, void *obj)
{
	uint32_t **arr = at_off(obj, f->off);
	size_t *count = at_off(obj, f->count_off), n;
	struct tp_ynode *const *items;
	int ret = 0;

	if (!list_items(ctx, &v, &items, &n))
		return -EINVAL;
	if (!n)
		return 0;
	*arr = calloc(n, sizeof(**arr));
	if (!*arr) {
		ctx->oom = true;
		return -ENOMEM;
	}
	*count = n;
	for (size_t i = 0; i < n; i++) {
		const struct tp_ynode *it = items[i];
		size_t old = tp_cfg_path_push_index(ctx, i);
		unsigned long x = 0;
		char *end = NULL;

		if (it->type != TP_YNODE_SCALAR || tp_ynode_is_null(it)) {
			tp_cfg_error(ctx, it, NULL, "expected an unsigned integer, got %s",
				     tp_ynode_kind_name(it));
			ret = -EINVAL;
		} else if (!isdigit((unsigned char)it->str[0]) ||
			   (errno = 0, x = strtoul(it->str, &end, 10), *end) || errno) {
			tp_cfg_error(ctx, it, NULL, "expected an unsigned integer, got \"%s\"",
				     it->str);
			ret = -EINVAL;
		} else if (x < 1 || x > 65535) {
			tp_cfg_error(ctx, it, NULL, "%s is out of range 1..65535", it->str);
			ret = -EINVAL;
		} else {
			(*arr)[i] = (uint32_t)x;
		}
		tp_cfg_path_pop(ctx, old);
	}
	return ret;
}

static void free_ports(const struct tp_cfg_field *f, void *obj)
{
	uint32_t **arr = at_off(obj, f->off);

	free(*arr);
	*arr = NULL;
	*(size_t *)at_off(obj, f->count_off) = 0;
}

/* ---- envoy.config.listener.v3.FilterChainMatch ---- */

static const struct tp_cfg_enum source_type_enum[] = {
	{"ANY", 0, TP_SOURCE_ANY, false},
	{"SAME_IP_OR_LOOPBACK", 1, TP_SOURCE_LOCAL, false},
	{"EXTERNAL", 2, TP_SOURCE_EXTERNAL, false},
	{.name = NULL},
};

#define CIDRS(k)                                                                           \
	{                                                                                  \
		.key = #k, .type = TP_CFG_REPEATED, .off = offsetof(struct tp_fcm_cfg, k), \
		.count_off = offsetof(struct tp_fcm_cfg, n_##k), .sub = &cidr_schema       \
	}
#define STRINGS(k)                                                                         \
	{                                                                                  \
		.key = #k, .type = TP_CFG_CUSTOM, .off = offsetof(struct tp_fcm_cfg, k),   \
		.count_off = offsetof(struct tp_fcm_cfg, n_##k), .decode = decode_strings, \
		.free = free_strings                                                       \
	}

static const struct tp_cfg_field fcm_fields[] = {
	{.key = "destination_port",
	 .type = TP_CFG_UINT32,
	 .off = offsetof(struct tp_fcm_cfg, destination_port),
	 .min = 1,
	 .max = 65535,
	 .def = 0},
	CIDRS(prefix_ranges),
	/* Envoy refuses both too ("contains unimplemented fields"). */
	UNSUPPORTED("address_suffix"),
	UNSUPPORTED("suffix_len"),
	STRINGS(server_names),
	{.key = "transport_protocol",
	 .type = TP_CFG_STRING,
	 .off = offsetof(struct tp_fcm_cfg, transport_protocol)},
	STRINGS(application_protocols),
	CIDRS(direct_source_prefix_ranges),
	{.key = "source_type",
	 .type = TP_CFG_ENUM,
	 .off = offsetof(struct tp_fcm_cfg, source_type),
	 .enums = source_type_enum,
	 .def = TP_SOURCE_ANY},
	CIDRS(source_prefix_ranges),
	{.key = "source_ports",
	 .type = TP_CFG_CUSTOM,
	 .off = offsetof(struct tp_fcm_cfg, source_ports),
	 .count_off = offsetof(struct tp_fcm_cfg, n_source_ports),
	 .decode = decode_ports,
	 .free = free_ports},
	{.key = NULL},
};

const struct tp_cfg_schema tp_filter_chain_match_schema = {
	.name = "envoy.config.listener.v3.FilterChainMatch",
	.size = sizeof(struct tp_fcm_cfg),
	.fields = fcm_fields,
};

/* ---- keys of the levels ---- */

enum level {
	L_DPORT,
	L_DIP,
	L_SNI,
	L_TRANSPORT,
	L_ALPN,
	L_DSRC,
	L_STYPE,
	L_SRC,
	L_SPORT,
	L__COUNT,
};

static const char *const level_names[L__COUNT] = {
	"destination port",	"destination IP",   "server name", "transport protocol",
	"application protocol", "direct source IP", "source type", "source IP",
	"source port",
};

static bool is_cidr_level(int level)
{
	return level == L_DIP || level == L_DSRC || level == L_SRC;
}

static bool is_str_level(int level)
{
	return level == L_SNI || level == L_TRANSPORT || level == L_ALPN;
}

static size_t n_keys(const struct tp_fcm_cfg *m, int level)
{
	size_t n = 0;

	switch (level) {
	case L_DIP:
		n = m->n_prefix_ranges;
		break;
	case L_SNI:
		n = m->n_server_names;
		break;
	case L_ALPN:
		n = m->n_application_protocols;
		break;
	case L_DSRC:
		n = m->n_direct_source_prefix_ranges;
		break;
	case L_SRC:
		n = m->n_source_prefix_ranges;
		break;
	case L_SPORT:
		n = m->n_source_ports;
		break;
	}
	return n ? n : 1;
}

static void set_str(union tp_fcm_key *k, const char *s)
{
	k->str.s = s ? s : "";
	k->str.len = (uint32_t)strlen(k->str.s);
}

/* The i-th key of m at level (the level's "any" when the field is empty). */
static void key_at(const struct tp_fcm_cfg *m, int level, size_t i, union tp_fcm_key *k)
{
	memset(k, 0, sizeof(*k));
	switch (level) {
	case L_DPORT:
		k->port = m->destination_port;
		break;
	case L_DIP:
		if (m->n_prefix_ranges)
			k->cidr = m->prefix_ranges[i].cidr;
		break;
	case L_SNI:
		set_str(k, m->n_server_names ? m->server_names[i] : NULL);
		/* "*.example.com" is the suffix ".example.com" (Envoy keys it so). */
		if (k->str.len > 1 && k->str.s[0] == '*') {
			k->str.s++;
			k->str.len--;
		}
		break;
	case L_TRANSPORT:
		set_str(k, m->transport_protocol);
		break;
	case L_ALPN:
		set_str(k, m->n_application_protocols ? m->application_protocols[i] : NULL);
		break;
	case L_DSRC:
		if (m->n_direct_source_prefix_ranges)
			k->cidr = m->direct_source_prefix_ranges[i].cidr;
		break;
	case L_STYPE:
		k->stype = (uint32_t)m->source_type;
		break;
	case L_SRC:
		if (m->n_source_prefix_ranges)
			k->cidr = m->source_prefix_ranges[i].cidr;
		break;
	case L_SPORT:
		if (m->n_source_ports)
			k->port = m->source_ports[i];
		break;
	}
}

static bool key_is_any(int level, const union tp_fcm_key *k)
{
	if (is_cidr_level(level))
		return !k->cidr.family;
	if (is_str_level(level))
		return !k->str.len;
	if (level == L_STYPE)
		return k->stype == TP_SOURCE_ANY;
	return !k->port;
}

static int cmp_u32(uint32_t a, uint32_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_str(const char *a, uint32_t alen, const char *b, uint32_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : cmp_u32(alen, blen);
}

/* Longest prefix first, "any" last: the first range of a node's table holding an address is
 * its longest match. */
static int cmp_cidr(const struct tp_cidr *a, const struct tp_cidr *b)
{
	int c;

	if (!a->family || !b->family)
		return cmp_u32(!a->family, !b->family);
	c = cmp_u32(b->len, a->len);
	if (!c)
		c = cmp_u32(a->family, b->family);
	return c ? c : memcmp(a->addr, b->addr, sizeof(a->addr));
}

static int cmp_key(int level, const union tp_fcm_key *a, const union tp_fcm_key *b)
{
	if (is_cidr_level(level))
		return cmp_cidr(&a->cidr, &b->cidr);
	if (is_str_level(level))
		return cmp_str(a->str.s, a->str.len, b->str.s, b->str.len);
	if (level == L_STYPE)
		return cmp_u32(a->stype, b->stype);
	return cmp_u32(a->port, b->port);
}

static void format_key(int level, const union tp_fcm_key *k, char *out, size_t len)
{
	static const char *const stypes[] = {"ANY", "SAME_IP_OR_LOOPBACK", "EXTERNAL"};
	char ip[INET6_ADDRSTRLEN];

	if (is_cidr_level(level)) {
		inet_ntop(k->cidr.family, k->cidr.addr, ip, sizeof(ip));
		snprintf(out, len, "%s/%u", ip, k->cidr.len);
	} else if (level == L_SNI && k->str.s[0] == '.') {
		snprintf(out, len, "*%.*s", (int)k->str.len, k->str.s);
	} else if (is_str_level(level)) {
		snprintf(out, len, "%.*s", (int)k->str.len, k->str.s);
	} else if (level == L_STYPE) {
		snprintf(out, len, "%s", stypes[k->stype < 3 ? k->stype : 0]);
	} else {
		snprintf(out, len, "%" PRIu32, k->port);
	}
}

/* ---- building ---- */

struct bedge;

/* A node while the tree is built: its edges in insertion order and, once it has a few, a
 * hash index of them (a scan of the edges made n server names cost n^2/2 key comparisons:
 * 40,000 names took 6-13 s). */
struct bnode {
	struct bedge *e;
	uint32_t n, cap;
	uint32_t *index;  /* open addressing: 1 + an edge's position, 0 free; at most half full */
	uint32_t n_index; /* a power of two, or 0: no index, scan */
};

struct bedge {
	union tp_fcm_key key;
	struct bnode *child; /* below the last level: none */
	int32_t chain;	     /* at the last level: the chain, or -1 */
};

struct build {
	struct tp_cfg_ctx *ctx;
	const struct tp_listener_cfg *l;
	uint32_t n_nodes, n_edges;
	size_t chain; /* the chain being inserted */
	bool overlap; /* it overlapped (reported once) */
	bool oom;
	union tp_fcm_key path[L__COUNT]; /* the keys it is inserted under */
};

static void chain_label(const struct tp_listener_cfg *l, size_t i, char *out, size_t len)
{
	if (l->filter_chains[i].name && l->filter_chains[i].name[0])
		snprintf(out, len, "filter chain \"%s\"", l->filter_chains[i].name);
	else
		snprintf(out, len, "filter_chains[%zu]", i);
}

static struct tp_cfg_mark chain_mark(const struct tp_filter_chain_cfg *ch)
{
	return ch->match_mark.line ? ch->match_mark : ch->mark;
}

static void report(struct build *b, size_t i, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* At chain i's filter_chain_match (or the chain, if it has none). */
static void report(struct build *b, size_t i, const char *fmt, ...)
{
	const struct tp_filter_chain_cfg *ch = &b->l->filter_chains[i];
	char key[64];
	va_list ap;

	snprintf(key, sizeof(key), "filter_chains[%zu]%s", i,
		 ch->match_mark.line ? ".filter_chain_match" : "");
	va_start(ap, fmt);
	tp_cfg_verror(b->ctx, chain_mark(ch).line, chain_mark(ch).col, key, fmt, ap);
	va_end(ap);
}

static void report_overlap(struct build *b, int32_t other)
{
	char me[300], them[300], what[512] = "", k[300];
	size_t len = 0;

	for (int level = 0; level < L__COUNT; level++) {
		if (key_is_any(level, &b->path[level]))
			continue;
		format_key(level, &b->path[level], k, sizeof(k));
		len += (size_t)snprintf(what + len, sizeof(what) - len, "%s%s %s", len ? ", " : "",
					level_names[level], k);
		if (len >= sizeof(what))
			break;
	}
	chain_label(b->l, b->chain, me, sizeof(me));
	chain_label(b->l, (size_t)other, them, sizeof(them));
	report(b, b->chain,
	       "multiple filter chains with overlapping matching rules are defined: %s and %s "
	       "(line %u) both take %s%s",
	       me, them, chain_mark(&b->l->filter_chains[other]).line,
	       what[0] ? "connections with " : "every connection", what);
	b->overlap = true;
}

/* FNV-1a, 64 bits. */
static uint64_t hash_bytes(uint64_t h, const void *p, size_t len)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < len; i++)
		h = (h ^ c[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t hash_u32(uint64_t h, uint32_t v)
{
	return hash_bytes(h, &v, sizeof(v));
}

static uint64_t hash_cidr(uint64_t h, const struct tp_cidr *c)
{
	h = hash_u32(h, c->family);
	if (!c->family) /* any: cmp_cidr() reads nothing else */
		return h;
	h = hash_u32(h, c->len);
	return hash_bytes(h, c->addr, sizeof(c->addr));
}

static uint64_t hash_str(uint64_t h, const char *s, uint32_t len)
{
	return hash_bytes(hash_u32(h, len), s, len);
}

/* Equal for keys cmp_key() finds equal. */
static uint64_t hash_key(int level, const union tp_fcm_key *k)
{
	uint64_t h = 0xcbf29ce484222325ull;

	if (is_cidr_level(level))
		return hash_cidr(h, &k->cidr);
	if (is_str_level(level))
		return hash_str(h, k->str.s, k->str.len);
	return hash_u32(h, level == L_STYPE ? k->stype : k->port);
}

/* Below this many edges a node is scanned. */
#define INDEX_FROM 8

static void index_put(uint32_t *index, uint32_t n_index, uint64_t hash, uint32_t pos)
{
	uint32_t i = (uint32_t)hash & (n_index - 1);

	while (index[i])
		i = (i + 1) & (n_index - 1);
	index[i] = pos + 1;
}

/* An index with room for one more edge, if the node is large enough to want one. */
static int grow_index(struct bnode *node, int level)
{
	uint32_t n = node->n_index ? node->n_index * 2 : 4 * INDEX_FROM;
	uint32_t *index;

	if (node->n + 1 < INDEX_FROM || node->n + 1 <= node->n_index / 2)
		return 0;
	index = calloc(n, sizeof(*index));
	if (!index)
		return -ENOMEM;
	for (uint32_t i = 0; i < node->n; i++)
		index_put(index, n, hash_key(level, &node->e[i].key), i);
	free(node->index);
	node->index = index;
	node->n_index = n;
	return 0;
}

static struct bedge *find_or_add(struct build *b, struct bnode *node, int level,
				 const union tp_fcm_key *k)
{
	uint64_t hash = hash_key(level, k);
	struct bedge *e;

	if (grow_index(node, level)) {
		b->oom = true;
		return NULL;
	}
	if (node->n_index) {
		for (uint32_t i = (uint32_t)hash & (node->n_index - 1); node->index[i];
		     i = (i + 1) & (node->n_index - 1)) {
			e = &node->e[node->index[i] - 1];
			if (!cmp_key(level, &e->key, k))
				return e;
		}
	} else {
		for (uint32_t i = 0; i < node->n; i++) {
			if (!cmp_key(level, &node->e[i].key, k))
				return &node->e[i];
		}
	}
	if (node->n == node->cap) {
		uint32_t cap = node->cap ? node->cap * 2 : 4;
		struct bedge *ne = realloc(node->e, cap * sizeof(*ne));

		if (!ne) {
			b->oom = true;
			return NULL;
		}
		node->e = ne;
		node->cap = cap;
	}
	if (node->n_index)
		index_put(node->index, node->n_index, hash, node->n);
	e = &node->e[node->n++];
	memset(e, 0, sizeof(*e));
	e->key = *k;
	e->chain = -1;
	b->n_edges++;
	return e;
}

static void insert(struct build *b, struct bnode *node, int level, const struct tp_fcm_cfg *m)
{
	size_t n = n_keys(m, level);

	for (size_t i = 0; i < n && !b->oom && !b->overlap; i++) {
		union tp_fcm_key k;
		struct bedge *e;

		key_at(m, level, i, &k);
		e = find_or_add(b, node, level, &k);
		if (!e)
			return;
		b->path[level] = k;
		if (level == L_SPORT) {
			if (e->chain >= 0)
				report_overlap(b, e->chain);
			else
				e->chain = (int32_t)b->chain;
			continue;
		}
		if (!e->child) {
			e->child = calloc(1, sizeof(*e->child));
			if (!e->child) {
				b->oom = true;
				return;
			}
			b->n_nodes++;
		}
		insert(b, e->child, level + 1, m);
	}
}

static void free_tree(struct bnode *node)
{
	if (!node)
		return;
	for (uint32_t i = 0; i < node->n; i++)
		free_tree(node->e[i].child);
	free(node->e);
	free(node->index);
	free(node);
}

static int cmp_bedge(const void *a, const void *b, void *level)
{
	return cmp_key(*(int *)level, &((const struct bedge *)a)->key,
		       &((const struct bedge *)b)->key);
}

/* Lays node out at nodes[*nc] with its edges, sorted, at edges[*ec...]: preorder. */
static uint32_t freeze(struct tp_chain_matcher *m, struct bnode *node, int level, uint32_t *nc,
		       uint32_t *ec)
{
	uint32_t idx = (*nc)++, first = *ec;

	m->nodes[idx].first = first;
	m->nodes[idx].n = node->n;
	*ec += node->n;
	qsort_r(node->e, node->n, sizeof(*node->e), cmp_bedge, &level);
	for (uint32_t i = 0; i < node->n; i++) {
		struct tp_fcm_edge *e = &m->edges[first + i];

		e->key = node->e[i].key;
		if (!key_is_any(level, &e->key)) {
			if (level == L_DIP || level == L_STYPE)
				m->need_local = true;
			if (level == L_DSRC || level == L_SRC || level == L_STYPE ||
			    level == L_SPORT)
				m->need_remote = true;
		}
		e->next = level == L_SPORT ? (uint32_t)node->e[i].chain
					   : freeze(m, node->e[i].child, level + 1, nc, ec);
	}
	return idx;
}

static bool cidrs_equal(const struct tp_cidr_cfg *a, size_t na, const struct tp_cidr_cfg *b,
			size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		if (cmp_cidr(&a[i].cidr, &b[i].cidr))
			return false;
	}
	return true;
}

static bool strings_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		if (strcmp(a[i], b[i]))
			return false;
	}
	return true;
}

/* The same FilterChainMatch, field by field and list by list in order (Envoy compares the
 * messages). */
static bool fcm_equal(const struct tp_fcm_cfg *a, const struct tp_fcm_cfg *b)
{
	return a->destination_port == b->destination_port &&
	       cidrs_equal(a->prefix_ranges, a->n_prefix_ranges, b->prefix_ranges,
			   b->n_prefix_ranges) &&
	       strings_equal(a->server_names, a->n_server_names, b->server_names,
			     b->n_server_names) &&
	       !strcmp(a->transport_protocol ? a->transport_protocol : "",
		       b->transport_protocol ? b->transport_protocol : "") &&
	       strings_equal(a->application_protocols, a->n_application_protocols,
			     b->application_protocols, b->n_application_protocols) &&
	       cidrs_equal(a->direct_source_prefix_ranges, a->n_direct_source_prefix_ranges,
			   b->direct_source_prefix_ranges, b->n_direct_source_prefix_ranges) &&
	       a->source_type == b->source_type &&
	       cidrs_equal(a->source_prefix_ranges, a->n_source_prefix_ranges,
			   b->source_prefix_ranges, b->n_source_prefix_ranges) &&
	       a->n_source_ports == b->n_source_ports &&
	       (!a->n_source_ports ||
		!memcmp(a->source_ports, b->source_ports, a->n_source_ports * sizeof(uint32_t)));
}

static uint64_t hash_cidrs(uint64_t h, const struct tp_cidr_cfg *r, size_t n)
{
	h = hash_u32(h, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		h = hash_cidr(h, &r[i].cidr);
	return h;
}

static uint64_t hash_strings(uint64_t h, char *const *s, size_t n)
{
	h = hash_u32(h, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		h = hash_str(h, s[i], (uint32_t)strlen(s[i]));
	return h;
}

/* Equal for FilterChainMatches fcm_equal() finds equal. */
static uint64_t hash_fcm(const struct tp_fcm_cfg *m)
{
	const char *tp = m->transport_protocol ? m->transport_protocol : "";
	uint64_t h = hash_u32(0xcbf29ce484222325ull, m->destination_port);

	h = hash_cidrs(h, m->prefix_ranges, m->n_prefix_ranges);
	h = hash_strings(h, m->server_names, m->n_server_names);
	h = hash_str(h, tp, (uint32_t)strlen(tp));
	h = hash_strings(h, m->application_protocols, m->n_application_protocols);
	h = hash_cidrs(h, m->direct_source_prefix_ranges, m->n_direct_source_prefix_ranges);
	h = hash_u32(h, (uint32_t)m->source_type);
	h = hash_cidrs(h, m->source_prefix_ranges, m->n_source_prefix_ranges);
	h = hash_u32(h, (uint32_t)m->n_source_ports);
	return hash_bytes(h, m->source_ports, m->n_source_ports * sizeof(uint32_t));
}

struct fcm_hash {
	uint64_t hash;
	size_t i;
};

static int cmp_fcm_hash(const void *a, const void *b)
{
	const struct fcm_hash *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* same[i]: the first chain before i with chain i's FilterChainMatch, or i. Chains are
 * grouped by a hash of their match, and compared within a group only (comparing every pair
 * was quadratic in the chains). */
static int find_same(const struct tp_listener_cfg *l, size_t n, size_t *same)
{
	struct fcm_hash *h = calloc(n ? n : 1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		h[i] = (struct fcm_hash){.hash = hash_fcm(&l->filter_chains[i].match), .i = i};
		same[i] = i;
	}
	qsort(h, n, sizeof(*h), cmp_fcm_hash);
	for (size_t g = 0, end; g < n; g = end) {
		for (end = g + 1; end < n && h[end].hash == h[g].hash; end++)
			;
		/* In chain order within the group; stop at the first equal one before. */
		for (size_t i = g + 1; i < end; i++) {
			for (size_t j = g; j < i; j++) {
				if (same[h[j].i] == h[j].i &&
				    fcm_equal(&l->filter_chains[h[j].i].match,
					      &l->filter_chains[h[i].i].match)) {
					same[h[i].i] = h[j].i;
					break;
				}
			}
		}
	}
	free(h);
	return 0;
}

static bool cidrs_ok(const struct tp_cidr_cfg *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!r[i].cidr.family)
			return false;
	}
	return true;
}

static bool strings_ok(char *const *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!s[i])
			return false;
	}
	return true;
}

/* Decoded without an error (one that failed has been reported, and is left out). */
static bool fcm_ok(const struct tp_fcm_cfg *m)
{
	return cidrs_ok(m->prefix_ranges, m->n_prefix_ranges) &&
	       cidrs_ok(m->direct_source_prefix_ranges, m->n_direct_source_prefix_ranges) &&
	       cidrs_ok(m->source_prefix_ranges, m->n_source_prefix_ranges) &&
	       strings_ok(m->server_names, m->n_server_names) &&
	       strings_ok(m->application_protocols, m->n_application_protocols);
}

static bool fcm_is_any(const struct tp_fcm_cfg *m)
{
	static const struct tp_fcm_cfg any;

	return fcm_equal(m, &any);
}

/* Only a listener filter finds the server name, ALPN and TLS before the chain is chosen. */
static void warn_without_inspector(struct build *b, size_t i)
{
	const struct tp_fcm_cfg *m = &b->l->filter_chains[i].match;
	const char *what = NULL;
	char key[64];

	if (m->n_server_names)
		what = "server_names";
	else if (m->n_application_protocols)
		what = "application_protocols";
	else if (m->transport_protocol && !strcmp(m->transport_protocol, "tls"))
		what = "transport_protocol \"tls\"";
	if (!what)
		return;
	snprintf(key, sizeof(key), "filter_chains[%zu].filter_chain_match", i);
	tp_cfg_warn_mark(b->ctx, b->l->filter_chains[i].match_mark, key,
			 "it matches on %s, which only a listener filter finds before the chain is "
			 "chosen, and the listener has none: add "
			 "envoy.filters.listener.tls_inspector, or no TLS connection takes this "
			 "chain",
			 what);
}

int tp_chain_matcher_build(struct tp_cfg_ctx *ctx, struct tp_listener_cfg *l)
{
	size_t n = l->n_filter_chains - (l->has_default_chain ? 1 : 0);
	struct build b = {.ctx = ctx, .l = l, .n_nodes = 1};
	struct tp_chain_matcher *m = NULL;
	struct bnode *root = NULL;
	size_t *same = NULL;
	uint32_t nc = 0, ec = 0;
	bool bad = false;
	int ret;

	l->matcher = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!fcm_ok(&l->filter_chains[i].match))
			return -EINVAL;
	}
	for (size_t i = 0; i < n && !l->n_listener_filters; i++)
		warn_without_inspector(&b, i);
	/* One chain for everything, or only the default: nothing to choose. */
	if (!n || (n == 1 && !l->has_default_chain && fcm_is_any(&l->filter_chains[0].match)))
		return 0;
	root = calloc(1, sizeof(*root));
	same = calloc(n, sizeof(*same));
	if (!root || !same || find_same(l, n, same))
		goto out_oom;
	for (size_t i = 0; i < n && !b.oom; i++) {
		char me[300], them[300];

		if (same[i] != i) {
			chain_label(l, i, me, sizeof(me));
			chain_label(l, same[i], them, sizeof(them));
			report(&b, i, "%s has the same matching rules defined as %s (line %u)", me,
			       them, chain_mark(&l->filter_chains[same[i]]).line);
			bad = true;
			continue;
		}
		b.chain = i;
		b.overlap = false;
		insert(&b, root, L_DPORT, &l->filter_chains[i].match);
		bad |= b.overlap;
	}
	if (b.oom)
		goto out_oom;
	if (bad) {
		ret = -EINVAL;
		goto out_free;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		goto out_oom;
	m->nodes = calloc(b.n_nodes, sizeof(*m->nodes));
	m->edges = calloc(b.n_edges ? b.n_edges : 1, sizeof(*m->edges));
	if (!m->nodes || !m->edges)
		goto out_oom;
	m->n_nodes = b.n_nodes;
	m->n_edges = b.n_edges;
	freeze(m, root, L_DPORT, &nc, &ec);
	l->matcher = m;
	m = NULL;
	ret = 0;
	goto out_free;

out_oom:
	ctx->oom = true;
	ret = -ENOMEM;
out_free:
	tp_chain_matcher_free(m);
	free_tree(root);
	free(same);
	return ret;
}

void tp_chain_matcher_free(struct tp_chain_matcher *m)
{
	if (!m)
		return;
	free(m->nodes);
	free(m->edges);
	free(m);
}

/* ---- lookup ---- */

bool tp_cidr_contains(const struct tp_cidr *r, const struct tp_match_addr *a)
{
	unsigned full, rest;

	if (!r->family)
		return true;
	if (a->family != r->family)
		return false;
	full = r->len / 8;
	rest = r->len % 8;
	if (memcmp(r->addr, a->addr, full))
		return false;
	return !rest || !((r->addr[full] ^ a->addr[full]) & (uint8_t)(0xff00u >> rest));
}

static const struct tp_fcm_edge *edges_of(const struct tp_chain_matcher *m, uint32_t node,
					  uint32_t *n)
{
	*n = m->nodes[node].n;
	return &m->edges[m->nodes[node].first];
}

static const struct tp_fcm_edge *find_port(const struct tp_chain_matcher *m, uint32_t node,
					   uint32_t port)
{
	uint32_t n, lo = 0, hi;
	const struct tp_fcm_edge *e = edges_of(m, node, &n);

	hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (e[mid].key.port == port)
			return &e[mid];
		if (e[mid].key.port < port)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The exact port, else any (0, first in the table). */
static const struct tp_fcm_edge *match_port(const struct tp_chain_matcher *m, uint32_t node,
					    uint32_t port)
{
	const struct tp_fcm_edge *e = port ? find_port(m, node, port) : NULL;

	return e ? e : find_port(m, node, 0);
}

static const struct tp_fcm_edge *find_str(const struct tp_chain_matcher *m, uint32_t node,
					  const char *s, uint32_t len)
{
	uint32_t n, lo = 0, hi;
	const struct tp_fcm_edge *e = edges_of(m, node, &n);

	hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = cmp_str(e[mid].key.str.s, e[mid].key.str.len, s, len);

		if (!c)
			return &e[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const struct tp_fcm_edge *match_cidr(const struct tp_chain_matcher *m, uint32_t node,
					    const struct tp_match_addr *a)
{
	uint32_t n;
	const struct tp_fcm_edge *e = edges_of(m, node, &n);

	for (uint32_t i = 0; i < n; i++) {
		if (tp_cidr_contains(&e[i].key.cidr, a))
			return &e[i];
	}
	return NULL;
}

/* The exact name, then each wildcard suffix from the longest (".b.example.com", then
 * ".example.com", ".com", never "." alone), then any. */
static const struct tp_fcm_edge *match_sni(const struct tp_chain_matcher *m, uint32_t node,
					   const char *sni, size_t len)
{
	const struct tp_fcm_edge *e = find_str(m, node, sni, (uint32_t)len);

	for (size_t pos = 1; !e && pos + 1 < len; pos++) {
		if (sni[pos] == '.')
			e = find_str(m, node, sni + pos, (uint32_t)(len - pos));
	}
	return e ? e : find_str(m, node, "", 0);
}

/* The first protocol the client offers that has a table, else any. */
static const struct tp_fcm_edge *match_alpn(const struct tp_chain_matcher *m, uint32_t node,
					    const uint8_t *wire, size_t len)
{
	const struct tp_fcm_edge *e = NULL;

	for (size_t at = 0; !e && at < len && at + 1 + wire[at] <= len; at += 1 + wire[at]) {
		if (wire[at])
			e = find_str(m, node, (const char *)wire + at + 1, wire[at]);
	}
	return e ? e : find_str(m, node, "", 0);
}

static bool is_loopback(const struct tp_match_addr *a)
{
	static const uint8_t v6_loopback[16] = {[15] = 1};

	if (a->family == AF_INET)
		return a->addr[0] == 127;
	return a->family == AF_INET6 && !memcmp(a->addr, v6_loopback, 16);
}

/* Envoy's Network::Utility::isSameIpOrLoopback. */
static bool same_ip_or_loopback(const struct tp_match_input *in)
{
	size_t n = in->remote.family == AF_INET ? 4 : 16;

	return is_loopback(&in->remote) ||
	       (in->remote.family && in->remote.family == in->local.family &&
		!memcmp(in->remote.addr, in->local.addr, n));
}

static const struct tp_fcm_edge *match_stype(const struct tp_chain_matcher *m, uint32_t node,
					     const struct tp_match_input *in)
{
	uint32_t n;
	const struct tp_fcm_edge *e = edges_of(m, node, &n), *local = NULL, *external = NULL,
				 *any = NULL, *hit;

	for (uint32_t i = 0; i < n; i++) {
		if (e[i].key.stype == TP_SOURCE_LOCAL)
			local = &e[i];
		else if (e[i].key.stype == TP_SOURCE_EXTERNAL)
			external = &e[i];
		else
			any = &e[i];
	}
	/* Looked at only when a table asks, as Envoy does. */
	hit = local || external ? (same_ip_or_loopback(in) ? local : external) : NULL;
	return hit ? hit : any;
}

int tp_chain_match_find(const struct tp_chain_matcher *m, const struct tp_match_input *in)
{
	const struct tp_fcm_edge *e;
	uint32_t node = 0;

	e = match_port(m, node, in->local.port);
	if (!e)
		return -1;
	e = match_cidr(m, e->next, &in->local);
	if (!e)
		return -1;
	e = match_sni(m, e->next, in->sni ? in->sni : "", in->sni ? in->sni_len : 0);
	if (!e)
		return -1;
	node = e->next;
	e = in->transport ? find_str(m, node, in->transport, (uint32_t)strlen(in->transport))
			  : NULL;
	if (!e)
		e = find_str(m, node, "", 0);
	if (!e)
		return -1;
	e = match_alpn(m, e->next, in->alpn, in->alpn ? in->alpn_len : 0);
	if (!e)
		return -1;
	e = match_cidr(m, e->next, &in->remote);
	if (!e)
		return -1;
	e = match_stype(m, e->next, in);
	if (!e)
		return -1;
	e = match_cidr(m, e->next, &in->remote);
	if (!e)
		return -1;
	e = match_port(m, e->next, in->remote.port);
	return e ? (int)e->next : -1;
}

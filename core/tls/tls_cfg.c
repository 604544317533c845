/* The TLS transport's configuration: rows for DownstreamTlsContext, UpstreamTlsContext and what
 * they hold (CommonTlsContext, TlsParameters, TlsCertificate, CertificateValidationContext,
 * DataSource, SdsSecretConfig) and static_resources.secrets; then the checks that need the whole
 * file: secrets named by SDS, and a trial build of the wolfSSL contexts so that a bad
 * certificate, key or CA is a config error with its place (`--mode validate` catches it).
 *
 * Safe defaults, whatever the file says: only ECDHE key exchange with AEAD ciphers (Debian's
 * wolfSSL also has RC4, NULL and anonymous suites compiled in: they are never offered), TLS 1.2
 * at least, no renegotiation. */
#include "core/tls/tls.h"

#include "core/accesslog/format-t.h"
#include "core/base/match.h"
#include "core/config/cfg_files.h"
#include "core/config/cfg_schema.h"
#include "core/config/config-t.h"
#include "core/config/ynode.h"
#include "core/tls/tls_int.h"

#include <wolfssl/version.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* A certificate chain, key, CA bundle or CRL larger than this is a mistake (a wrong path). */
#define BLOB_MAX (4u << 20)

/* ---- config.core.v3.DataSource ---- */

struct datasource_tmp {
	char *filename;
	char *inline_bytes;
	char *inline_string;
	char *environment_variable;
};

static const struct tp_cfg_field datasource_fields[] = {
	{.key = "filename",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_NONEMPTY,
	 .off = offsetof(struct datasource_tmp, filename),
	 .oneof = "specifier"},
	{.key = "inline_bytes",
	 .type = TP_CFG_STRING,
	 .off = offsetof(struct datasource_tmp, inline_bytes),
	 .oneof = "specifier"},
	{.key = "inline_string",
	 .type = TP_CFG_STRING,
	 .off = offsetof(struct datasource_tmp, inline_string),
	 .oneof = "specifier"},
	{.key = "environment_variable",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_NONEMPTY,
	 .off = offsetof(struct datasource_tmp, environment_variable),
	 .oneof = "specifier"},
	UNSUPPORTED("watched_directory"),
	{.key = NULL},
};

static const struct tp_cfg_schema datasource_schema = {
	.name = "envoy.config.core.v3.DataSource",
	.size = sizeof(struct datasource_tmp),
	.fields = datasource_fields,
};

/* Reads a regular file of at most BLOB_MAX bytes into a NUL-terminated buffer. A worker
 * decoding a CDS update gets the bytes the master read instead (core/config/cfg_files.h). */
static int read_file(const char *path, uint8_t **out, size_t *len, char *why, size_t whylen)
{
	struct stat sb;
	uint8_t *buf = NULL;
	size_t got = 0;
	int fd, ret = 0;

	ret = tp_cfg_files_get(path, out, len);
	if (ret <= 0) {
		if (ret < 0)
			snprintf(why, whylen, "cannot open %s: %s", path,
				 ret == -ENOENT ? "not among the files the master read"
						: strerror(-ret));
		return ret;
	}
	ret = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		ret = -EINVAL;
		snprintf(why, whylen, "%s is not a regular file", path);
		goto out_close;
	}
	if (sb.st_size > BLOB_MAX) {
		ret = -EFBIG;
		snprintf(why, whylen, "%s is %lld bytes, more than the %u tcpproxy reads", path,
			 (long long)sb.st_size, BLOB_MAX);
		goto out_close;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf) {
		ret = -ENOMEM;
		snprintf(why, whylen, "out of memory");
		goto out_close;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);

		if (n < 0) {
			ret = -errno;
			snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
			free(buf);
			goto out_close;
		}
		if (!n)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	tp_cfg_files_note(path, buf, got);
out_close:
	close(fd);
	return ret;
}

static void blob_free(struct tp_tls_blob *b)
{
	if (b->data) {
		/* Keys and ticket keys go through here too: leave nothing behind in freed heap. */
		explicit_bzero(b->data, b->len);
		free(b->data);
	}
	free(b->path);
	memset(b, 0, sizeof(*b));
}

/* Reads a DataSource node into b: a file's contents (read now, as root, before the workers drop
 * privileges), inline bytes (base64) or string, or an environment variable's value. */
static int decode_blob_node(struct tp_cfg_ctx *ctx, const struct tp_ynode *v, struct tp_tls_blob *b)
{
	struct datasource_tmp t = {0};
	char why[512];
	int given, ret;

	blob_free(b);
	b->mark = tp_cfg_mark_of(v);
	ret = tp_cfg_decode(ctx, &datasource_schema, v, &t);
	if (ret)
		goto out;
	given = !!t.filename + !!t.inline_bytes + !!t.inline_string + !!t.environment_variable;
	if (given != 1) {
		tp_cfg_error(ctx, v, NULL,
			     given ? "give only one of filename, inline_bytes, inline_string and "
				     "environment_variable"
				   : "expected one of filename, inline_bytes, inline_string or "
				     "environment_variable");
		ret = -EINVAL;
		goto out;
	}
	if (t.filename) {
		ret = read_file(t.filename, &b->data, &b->len, why, sizeof(why));
		if (ret) {
			tp_cfg_error(ctx, tp_cfg_find(v, "filename"), "filename", "%s", why);
			goto out;
		}
	} else if (t.inline_bytes) {
		ssize_t n;

		b->data = malloc(strlen(t.inline_bytes) / 4 * 3 + 4);
		if (!b->data) {
			ctx->oom = true;
			ret = -ENOMEM;
			goto out;
		}
		n = tp_cfg_b64_decode(t.inline_bytes, b->data);
		if (n < 0) {
			tp_cfg_error(ctx, tp_cfg_find(v, "inline_bytes"), "inline_bytes",
				     "not valid base64 (protobuf JSON spells bytes in base64)");
			ret = -EINVAL;
			goto out;
		}
		b->len = (size_t)n;
		b->data[n] = '\0';
	} else {
		const char *s = t.inline_string;

		if (t.environment_variable) {
			s = getenv(t.environment_variable);
			if (!s) {
				tp_cfg_error(ctx, tp_cfg_find(v, "environment_variable"),
					     "environment_variable",
					     "environment variable %s is not set",
					     t.environment_variable);
				ret = -EINVAL;
				goto out;
			}
		}
		b->len = strlen(s);
		b->data = (uint8_t *)strdup(s);
		if (!b->data) {
			ctx->oom = true;
			ret = -ENOMEM;
			goto out;
		}
	}
	if (!b->len) {
		tp_cfg_error(ctx, v, NULL, "is empty");
		ret = -EINVAL;
		goto out;
	}
	b->path = strdup(ctx->path);
	if (!b->path) {
		ctx->oom = true;
		ret = -ENOMEM;
	}
out:
	if (ret)
		blob_free(b);
	if (t.inline_string)
		explicit_bzero(t.inline_string, strlen(t.inline_string));
	tp_cfg_free(&datasource_schema, &t);
	return ret;
}

static int decode_blob(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
		       const struct tp_ynode *v, void *obj)
{
	return decode_blob_node(ctx, v, (struct tp_tls_blob *)((char *)obj + f->off));
}

static void free_blob(const struct tp_cfg_field *f, void *obj)
{
	blob_free((struct tp_tls_blob *)((char *)obj + f->off));
}

#define BLOB(k, T, field)                                                                          \
	{                                                                                          \
		.key = k, .type = TP_CFG_CUSTOM, .off = offsetof(T, field), .decode = decode_blob, \
		.free = free_blob                                                                  \
	}

/* ---- repeated string ---- */

struct strlist {
	char **v;
	size_t n;
	struct tp_cfg_mark *marks;
};

static void strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->marks);
	memset(l, 0, sizeof(*l));
}

static int decode_strlist(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			  const struct tp_ynode *v, void *obj)
{
	struct strlist *l = (struct strlist *)((char *)obj + f->off);
	int ret = 0;

	strlist_free(l);
	if (v->type != TP_YNODE_SEQ) {
		tp_cfg_error(ctx, v, NULL, "expected a list of strings, got %s",
			     tp_ynode_kind_name(v));
		return -EINVAL;
	}
	if (!v->n)
		return 0;
	l->v = calloc(v->n, sizeof(*l->v));
	l->marks = calloc(v->n, sizeof(*l->marks));
	if (!l->v || !l->marks) {
		ctx->oom = true;
		return -ENOMEM;
	}
	for (size_t i = 0; i < v->n; i++) {
		const struct tp_ynode *it = v->items[i];
		size_t old = tp_cfg_path_push_index(ctx, i);

		if (it->type != TP_YNODE_SCALAR || tp_ynode_is_null(it)) {
			tp_cfg_error(ctx, it, NULL, "expected a string, got %s",
				     tp_ynode_kind_name(it));
			ret = -EINVAL;
		} else {
			l->v[l->n] = strdup(it->str);
			if (!l->v[l->n]) {
				ctx->oom = true;
				ret = -ENOMEM;
			}
			l->marks[l->n++] = tp_cfg_mark_of(it);
		}
		tp_cfg_path_pop(ctx, old);
	}
	return ret;
}

static void free_strlist(const struct tp_cfg_field *f, void *obj)
{
	strlist_free((struct strlist *)((char *)obj + f->off));
}

#define STRLIST(k, T, field)                                                \
	{                                                                   \
		.key = k, .type = TP_CFG_CUSTOM, .off = offsetof(T, field), \
		.decode = decode_strlist, .free = free_strlist              \
	}

/* ---- TlsCertificate ---- */

static void cert_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_tls_cert *c = obj;

	if (!c->chain.len && !tp_cfg_find(map, "certificate_chain"))
		tp_cfg_error(ctx, map, "certificate_chain", "missing required field");
	if (!c->key.len && !tp_cfg_find(map, "private_key"))
		tp_cfg_error(ctx, map, "private_key", "missing required field");
}

static const struct tp_cfg_field cert_fields[] = {
	BLOB("certificate_chain", struct tp_tls_cert, chain),
	BLOB("private_key", struct tp_tls_cert, key),
	BLOB("password", struct tp_tls_cert, password),
	UNSUPPORTED("pkcs12"),
	UNSUPPORTED("watched_directory"),
	UNSUPPORTED("private_key_provider"),
	UNSUPPORTED("ocsp_staple"),
	UNSUPPORTED("signed_certificate_timestamp"),
	{.key = NULL},
};

static const struct tp_cfg_schema cert_schema = {
	.name = "envoy.extensions.transport_sockets.tls.v3.TlsCertificate",
	.size = sizeof(struct tp_tls_cert),
	.fields = cert_fields,
	.mark_off = TP_CFG_MARK(struct tp_tls_cert, mark),
	.post = cert_post,
};

static void cert_free(struct tp_tls_cert *c)
{
	tp_cfg_free(&cert_schema, c);
	for (size_t i = 0; i < c->n_names; i++)
		free(c->names[i]);
	free(c->names);
	c->names = NULL;
	c->n_names = 0;
}

/* ---- type.matcher.v3.StringMatcher and SubjectAltNameMatcher ---- */

struct regex_tmp {
	char *regex;
};

static const struct tp_cfg_field regex_fields[] = {
	{.key = "regex",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_REQUIRED | TP_CFG_NONEMPTY,
	 .off = offsetof(struct regex_tmp, regex)},
	/* Deprecated in Envoy and without meaning: RE2 is the only engine. */
	IGNORED("google_re2"),
	{.key = NULL},
};

static const struct tp_cfg_schema regex_schema = {
	.name = "envoy.type.matcher.v3.RegexMatcher",
	.size = sizeof(struct regex_tmp),
	.fields = regex_fields,
};

struct strmatch_tmp {
	char *exact, *prefix, *suffix, *contains;
	struct regex_tmp re;
	bool ignore_case;
};

static const struct tp_cfg_field strmatch_fields[] = {
	{.key = "exact",
	 .type = TP_CFG_STRING,
	 .off = offsetof(struct strmatch_tmp, exact),
	 .oneof = "match_pattern"},
	{.key = "prefix",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_NONEMPTY,
	 .off = offsetof(struct strmatch_tmp, prefix),
	 .oneof = "match_pattern"},
	{.key = "suffix",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_NONEMPTY,
	 .off = offsetof(struct strmatch_tmp, suffix),
	 .oneof = "match_pattern"},
	{.key = "contains",
	 .type = TP_CFG_STRING,
	 .flags = TP_CFG_NONEMPTY,
	 .off = offsetof(struct strmatch_tmp, contains),
	 .oneof = "match_pattern"},
	{.key = "safe_regex",
	 .type = TP_CFG_MESSAGE,
	 .off = offsetof(struct strmatch_tmp, re),
	 .sub = &regex_schema,
	 .oneof = "match_pattern"},
	{.key = "ignore_case",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct strmatch_tmp, ignore_case)},
	UNSUPPORTED_ONEOF("custom", "match_pattern"),
	REMOVED("regex", "use safe_regex"),
	{.key = NULL},
};

static const struct tp_cfg_schema strmatch_schema = {
	.name = "envoy.type.matcher.v3.StringMatcher",
	.size = sizeof(struct strmatch_tmp),
	.fields = strmatch_fields,
};

/* A StringMatcher node into m (its san_type set by the caller). */
static int decode_strmatch(struct tp_cfg_ctx *ctx, const struct tp_ynode *v,
			   struct tp_tls_san_matcher *m)
{
	struct strmatch_tmp t = {0};
	char **pick = NULL;
	int given, ret;

	ret = tp_cfg_decode(ctx, &strmatch_schema, v, &t);
	if (ret)
		goto out;
	given = !!t.exact + !!t.prefix + !!t.suffix + !!t.contains + !!t.re.regex;
	if (given != 1) {
		tp_cfg_error(
			ctx, v, NULL,
			given ? "give only one of exact, prefix, suffix, contains and "
				"safe_regex"
			      : "expected one of exact, prefix, suffix, contains or safe_regex");
		ret = -EINVAL;
		goto out;
	}
	m->ignore_case = t.ignore_case;
	if (t.exact) {
		m->kind = TP_TLS_STR_EXACT;
		pick = &t.exact;
	} else if (t.prefix) {
		m->kind = TP_TLS_STR_PREFIX;
		pick = &t.prefix;
	} else if (t.suffix) {
		m->kind = TP_TLS_STR_SUFFIX;
		pick = &t.suffix;
	} else if (t.contains) {
		m->kind = TP_TLS_STR_CONTAINS;
		pick = &t.contains;
	} else {
		const struct tp_ynode *rn = tp_cfg_find(tp_cfg_find(v, "safe_regex"), "regex");
		char why[160], *anchored;

		m->kind = TP_TLS_STR_REGEX;
		pick = &t.re.regex;
		if (t.ignore_case) {
			/* Envoy refuses it too: a regex says its own case rules. */
			tp_cfg_error(ctx, v, "ignore_case", "cannot be used with safe_regex");
			ret = -EINVAL;
			goto out;
		}
		/* RE2's FullMatch, as Envoy matches a safe_regex: the whole SAN. */
		if (asprintf(&anchored, "\\A(?:%s)\\z", t.re.regex) < 0) {
			ctx->oom = true;
			ret = -ENOMEM;
			goto out;
		}
		ret = tp_match_compile(&m->re, anchored, why, sizeof(why));
		free(anchored);
		if (ret) {
			tp_cfg_error(ctx, rn ? rn : v, NULL, "bad regex: %s", why);
			goto out;
		}
	}
	m->value = *pick;
	*pick = NULL;
out:
	tp_cfg_free(&strmatch_schema, &t);
	return ret;
}

static const struct tp_cfg_enum san_type_enum[] = {
	{"SAN_TYPE_UNSPECIFIED", 0, 0, false},
	{"EMAIL", 1, TP_TLS_SAN_EMAIL, false},
	{"DNS", 2, TP_TLS_SAN_DNS, false},
	{"URI", 3, TP_TLS_SAN_URI, false},
	{"IP_ADDRESS", 4, TP_TLS_SAN_IP, false},
	{"OTHER_NAME", 5, 0, true},
	{.name = NULL},
};

struct san_tmp {
	int san_type;
	struct tp_tls_san_matcher *out;
	bool have_matcher;
};

static int decode_san_matcher_field(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
				    const struct tp_ynode *v, void *obj)
{
	struct san_tmp *t = obj;

	t->have_matcher = true;
	return decode_strmatch(ctx, v, t->out);
}

static void san_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct san_tmp *t = obj;

	if (!t->san_type && tp_cfg_find(map, "san_type"))
		tp_cfg_error(ctx, tp_cfg_find(map, "san_type"), "san_type",
			     "must be EMAIL, DNS, URI or IP_ADDRESS");
	else if (!t->san_type)
		tp_cfg_error(ctx, map, "san_type", "missing required field");
	t->out->san_type = t->san_type;
}

static const struct tp_cfg_field san_fields[] = {
	{.key = "san_type",
	 .type = TP_CFG_ENUM,
	 .off = offsetof(struct san_tmp, san_type),
	 .enums = san_type_enum},
	{.key = "matcher",
	 .type = TP_CFG_CUSTOM,
	 .flags = TP_CFG_REQUIRED,
	 .decode = decode_san_matcher_field},
	UNSUPPORTED("oid"),
	{.key = NULL},
};

static const struct tp_cfg_schema san_schema = {
	.name = "envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher",
	.size = sizeof(struct san_tmp),
	.fields = san_fields,
	.post = san_post,
};

static void san_matchers_free(struct tp_tls_validation *vc)
{
	for (size_t i = 0; i < vc->n_sans; i++) {
		free(vc->sans[i].value);
		if (vc->sans[i].re)
			tp_match_free(vc->sans[i].re);
	}
	free(vc->sans);
	vc->sans = NULL;
	vc->n_sans = 0;
}

/* match_typed_subject_alt_names (typed) or the deprecated match_subject_alt_names (any SAN
 * type, san_type 0), appended to the validation context. */
static int decode_sans(struct tp_cfg_ctx *ctx, const struct tp_ynode *v,
		       struct tp_tls_validation *vc, bool typed)
{
	struct tp_tls_san_matcher *n;
	int ret = 0;

	if (v->type != TP_YNODE_SEQ) {
		tp_cfg_error(ctx, v, NULL, "expected a list, got %s", tp_ynode_kind_name(v));
		return -EINVAL;
	}
	n = realloc(vc->sans, (vc->n_sans + v->n + 1) * sizeof(*n));
	if (!n) {
		ctx->oom = true;
		return -ENOMEM;
	}
	vc->sans = n;
	for (size_t i = 0; i < v->n; i++) {
		struct tp_tls_san_matcher *m = &vc->sans[vc->n_sans];
		size_t old = tp_cfg_path_push_index(ctx, i);
		int r;

		memset(m, 0, sizeof(*m));
		if (typed) {
			struct san_tmp t = {.out = m};

			r = tp_cfg_decode(ctx, &san_schema, v->items[i], &t);
		} else {
			r = decode_strmatch(ctx, v->items[i], m);
		}
		if (!r) {
			vc->n_sans++;
		} else {
			free(m->value);
			if (m->re)
				tp_match_free(m->re);
			ret = r;
		}
		tp_cfg_path_pop(ctx, old);
	}
	return ret;
}

/* ---- CertificateValidationContext ---- */

static const struct tp_cfg_enum trust_enum[] = {
	{"VERIFY_TRUST_CHAIN", 0, 0, false},
	{"ACCEPT_UNTRUSTED", 1, 1, false},
	{.name = NULL},
};

struct validation_tmp {
	struct tp_tls_validation *vc;
	struct strlist hashes, spki;
	int trust;
	bool allow_expired, only_leaf;
	int64_t max_depth;
	const struct tp_ynode *typed_sans;
};

static int decode_typed_sans(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			     const struct tp_ynode *v, void *obj)
{
	struct validation_tmp *t = obj;

	t->typed_sans = v;
	return decode_sans(ctx, v, t->vc, true);
}

static int decode_untyped_sans(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			       const struct tp_ynode *v, void *obj)
{
	struct validation_tmp *t = obj;

	return decode_sans(ctx, v, t->vc, false);
}

static int vc_blob(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f, const struct tp_ynode *v,
		   void *obj)
{
	struct validation_tmp *t = obj;

	return decode_blob_node(ctx, v, (struct tp_tls_blob *)((char *)t->vc + f->off));
}

static int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* verify_certificate_hash: 64 hex digits, or 32 colon-separated pairs. */
static bool parse_cert_hash(const char *s, uint8_t out[32])
{
	size_t o = 0;

	while (*s && o < 32) {
		int hi = hex_digit((unsigned char)s[0]),
		    lo = hi < 0 ? -1 : hex_digit((unsigned char)s[1]);

		if (hi < 0 || lo < 0)
			return false;
		out[o++] = (uint8_t)(hi << 4 | lo);
		s += 2;
		if (*s == ':' && o < 32)
			s++;
	}
	return o == 32 && !*s;
}

static void validation_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct validation_tmp *t = obj;
	struct tp_tls_validation *vc = t->vc;
	size_t old;

	vc->accept_untrusted = t->trust == 1;
	vc->allow_expired = t->allow_expired;
	vc->only_leaf_crl = t->only_leaf;
	vc->max_verify_depth = t->max_depth;
	if (t->hashes.n) {
		vc->hashes = calloc(t->hashes.n, sizeof(*vc->hashes));
		if (!vc->hashes) {
			ctx->oom = true;
			return;
		}
		old = tp_cfg_path_push(ctx, "verify_certificate_hash");
		for (size_t i = 0; i < t->hashes.n; i++) {
			if (parse_cert_hash(t->hashes.v[i], vc->hashes[vc->n_hashes]))
				vc->n_hashes++;
			else
				tp_cfg_error_mark(ctx, t->hashes.marks[i], NULL,
						  "expected a SHA-256 in hex (64 digits, colons "
						  "allowed between pairs)");
		}
		tp_cfg_path_pop(ctx, old);
	}
	if (t->spki.n) {
		vc->spki = calloc(t->spki.n, sizeof(*vc->spki));
		if (!vc->spki) {
			ctx->oom = true;
			return;
		}
		old = tp_cfg_path_push(ctx, "verify_certificate_spki");
		for (size_t i = 0; i < t->spki.n; i++) {
			uint8_t buf[48];

			if (strlen(t->spki.v[i]) == 44 &&
			    tp_cfg_b64_decode(t->spki.v[i], buf) == 32)
				memcpy(vc->spki[vc->n_spki++], buf, 32);
			else
				tp_cfg_error_mark(ctx, t->spki.marks[i], NULL,
						  "expected a base64 SHA-256 (44 characters)");
		}
		tp_cfg_path_pop(ctx, old);
	}
	/* Envoy ignores the deprecated list when the typed one is given. */
	(void)map;
}

#define VC_BLOB(k, field)                                                                          \
	{                                                                                          \
		.key = k, .type = TP_CFG_CUSTOM, .off = offsetof(struct tp_tls_validation, field), \
		.decode = vc_blob                                                                  \
	}

static const struct tp_cfg_field validation_fields[] = {
	VC_BLOB("trusted_ca", trusted_ca),
	VC_BLOB("crl", crl),
	STRLIST("verify_certificate_hash", struct validation_tmp, hashes),
	STRLIST("verify_certificate_spki", struct validation_tmp, spki),
	{.key = "match_typed_subject_alt_names",
	 .type = TP_CFG_CUSTOM,
	 .decode = decode_typed_sans},
	{.key = "match_subject_alt_names", .type = TP_CFG_CUSTOM, .decode = decode_untyped_sans},
	{.key = "allow_expired_certificate",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct validation_tmp, allow_expired)},
	{.key = "trust_chain_verification",
	 .type = TP_CFG_ENUM,
	 .off = offsetof(struct validation_tmp, trust),
	 .enums = trust_enum},
	{.key = "only_verify_leaf_cert_crl",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct validation_tmp, only_leaf)},
	{.key = "max_verify_depth",
	 .type = TP_CFG_UINT32_OPT,
	 .off = offsetof(struct validation_tmp, max_depth),
	 .min = 0,
	 .max = 100,
	 .def = -1},
	UNSUPPORTED("ca_certificate_provider_instance"),
	UNSUPPORTED("watched_directory"),
	UNSUPPORTED_BUT("require_signed_certificate_timestamp", "false"),
	UNSUPPORTED("custom_validator_config"),
	UNSUPPORTED("system_root_certs"),
	{.key = NULL},
};

static const struct tp_cfg_schema validation_schema = {
	.name = "envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext",
	.size = sizeof(struct validation_tmp),
	.fields = validation_fields,
	.post = validation_post,
};

static void validation_free(struct tp_tls_validation *vc)
{
	if (!vc)
		return;
	blob_free(&vc->trusted_ca);
	blob_free(&vc->crl);
	san_matchers_free(vc);
	free(vc->hashes);
	free(vc->spki);
	free(vc);
}

/* A CertificateValidationContext node into a new object. */
static int decode_validation_node(struct tp_cfg_ctx *ctx, const struct tp_ynode *v,
				  struct tp_tls_validation **out)
{
	struct validation_tmp t = {0};
	int ret;

	t.vc = calloc(1, sizeof(*t.vc));
	if (!t.vc) {
		ctx->oom = true;
		return -ENOMEM;
	}
	t.vc->max_verify_depth = -1;
	t.vc->mark = tp_cfg_mark_of(v);
	ret = tp_cfg_decode(ctx, &validation_schema, v, &t);
	tp_cfg_free(&validation_schema, &t);
	if (ret) {
		validation_free(t.vc);
		return ret;
	}
	/* The typed list wins over the deprecated one, as in Envoy: drop the untyped ones. */
	if (t.typed_sans) {
		size_t k = 0;

		for (size_t i = 0; i < t.vc->n_sans; i++) {
			if (t.vc->sans[i].san_type) {
				t.vc->sans[k++] = t.vc->sans[i];
				continue;
			}
			free(t.vc->sans[i].value);
			if (t.vc->sans[i].re)
				tp_match_free(t.vc->sans[i].re);
		}
		t.vc->n_sans = k;
	}
	validation_free(*out);
	*out = t.vc;
	return 0;
}

/* ---- TlsSessionTicketKeys ---- */

static int decode_ticket_keys_node(struct tp_cfg_ctx *ctx, const struct tp_ynode *v,
				   struct tp_tls_ticket_keys *tk)
{
	const struct tp_ynode *keys = tp_cfg_find(v, "keys");
	int ret = 0;

	if (v->type != TP_YNODE_MAP) {
		tp_cfg_error(ctx, v, NULL, "expected a mapping, got %s", tp_ynode_kind_name(v));
		return -EINVAL;
	}
	for (size_t i = 0; i < v->n; i++) {
		if (strcmp(v->pairs[i].key->str, "keys")) {
			tp_cfg_error(ctx, v->pairs[i].key, v->pairs[i].key->str, "unknown field");
			ret = -EINVAL;
		}
	}
	if (!keys || keys->type != TP_YNODE_SEQ || !keys->n) {
		tp_cfg_error(ctx, keys ? keys : v, "keys", "expected a list of at least one key");
		return -EINVAL;
	}
	tk->keys = calloc(keys->n, sizeof(*tk->keys));
	if (!tk->keys) {
		ctx->oom = true;
		return -ENOMEM;
	}
	for (size_t i = 0; i < keys->n; i++) {
		struct tp_tls_blob b = {0};
		size_t old = tp_cfg_path_push(ctx, "keys");

		tp_cfg_path_push_index(ctx, i);
		if (decode_blob_node(ctx, keys->items[i], &b)) {
			ret = -EINVAL;
		} else if (b.len != TP_TLS_TICKET_KEY_LEN) {
			tp_cfg_error(ctx, keys->items[i], NULL,
				     "a session ticket key must be exactly %d bytes, not %zu",
				     TP_TLS_TICKET_KEY_LEN, b.len);
			ret = -EINVAL;
		} else {
			memcpy(tk->keys[tk->n++], b.data, TP_TLS_TICKET_KEY_LEN);
		}
		blob_free(&b);
		tp_cfg_path_pop(ctx, old);
	}
	return ret;
}

static void ticket_keys_free(struct tp_tls_ticket_keys *tk)
{
	if (tk->keys) {
		explicit_bzero(tk->keys, tk->n * sizeof(*tk->keys));
		free(tk->keys);
	}
	tk->keys = NULL;
	tk->n = 0;
}

/* ---- SdsSecretConfig ---- */

static int decode_sds_node(struct tp_cfg_ctx *ctx, const struct tp_ynode *v,
			   struct tp_tls_sds_ref *r)
{
	const struct tp_ynode *name = tp_cfg_find(v, "name");
	int ret = 0;

	if (v->type != TP_YNODE_MAP) {
		tp_cfg_error(ctx, v, NULL, "expected a mapping, got %s", tp_ynode_kind_name(v));
		return -EINVAL;
	}
	for (size_t i = 0; i < v->n; i++) {
		const char *k = v->pairs[i].key->str;

		if (!strcmp(k, "sds_config") || !strcmp(k, "sdsConfig")) {
			tp_cfg_error(
				ctx, v->pairs[i].key, k,
				"not supported yet by tcpproxy: secrets come from "
				"static_resources.secrets, by name (see docs/envoy-compat.md)");
			ret = -EINVAL;
		} else if (strcmp(k, "name")) {
			tp_cfg_error(ctx, v->pairs[i].key, k, "unknown field");
			ret = -EINVAL;
		}
	}
	if (!name || name->type != TP_YNODE_SCALAR || !name->len) {
		tp_cfg_error(ctx, name ? name : v, "name", "expected the name of a secret");
		return -EINVAL;
	}
	if (ret)
		return ret;
	r->name = strdup(name->str);
	r->path = strdup(ctx->path);
	r->mark = tp_cfg_mark_of(name);
	if (!r->name || !r->path) {
		ctx->oom = true;
		return -ENOMEM;
	}
	return 0;
}

static void sds_free(struct tp_tls_sds_ref *r)
{
	free(r->name);
	free(r->path);
	memset(r, 0, sizeof(*r));
}

/* ---- TlsParameters ---- */

static const struct tp_cfg_enum version_enum[] = {
	{"TLS_AUTO", 0, TP_TLS_AUTO, false}, {"TLSv1_0", 1, TP_TLS_V1_0, false},
	{"TLSv1_1", 2, TP_TLS_V1_1, false},  {"TLSv1_2", 3, TP_TLS_V1_2, false},
	{"TLSv1_3", 4, TP_TLS_V1_3, false},  {.name = NULL},
};

struct params_tmp {
	int min, max;
	struct strlist ciphers, curves;
	struct tp_cfg_mark min_mark, max_mark;
};

static const struct tp_cfg_field params_fields[] = {
	{.key = "tls_minimum_protocol_version",
	 .type = TP_CFG_ENUM,
	 .off = offsetof(struct params_tmp, min),
	 .enums = version_enum,
	 .mark_off = TP_CFG_MARK(struct params_tmp, min_mark)},
	{.key = "tls_maximum_protocol_version",
	 .type = TP_CFG_ENUM,
	 .off = offsetof(struct params_tmp, max),
	 .enums = version_enum,
	 .mark_off = TP_CFG_MARK(struct params_tmp, max_mark)},
	STRLIST("cipher_suites", struct params_tmp, ciphers),
	STRLIST("ecdh_curves", struct params_tmp, curves),
	UNSUPPORTED("signature_algorithms"),
	UNSUPPORTED("compliance_policies"),
	{.key = NULL},
};

static const struct tp_cfg_schema params_schema = {
	.name = "envoy.extensions.transport_sockets.tls.v3.TlsParameters",
	.size = sizeof(struct params_tmp),
	.fields = params_fields,
};

/* The TLS 1.2 suites tcpproxy offers: ECDHE and AEAD only, by Envoy's (BoringSSL's) name and
 * wolfSSL's. TLS 1.3 suites are not configurable, as in Envoy. */
static const struct {
	const char *envoy, *wolfssl;
} suites12[] = {
	{"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
	{"ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
	{"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
	{"ECDHE-RSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"},
	{"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
	{"ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
	/* OpenSSL's spelling of the ChaCha suites. */
	{"ECDHE-ECDSA-CHACHA20-POLY1305-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"},
	{"ECDHE-RSA-CHACHA20-POLY1305-SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
};

/* Envoy's default cipher list (both roles, non-FIPS), its equal-preference groups flattened the
 * way BoringSSL, which Envoy uses, orders them: AES-GCM first where AES has hardware help,
 * ChaCha20-Poly1305 first where it has none. Measured (docs/performance.md, "TLS"): with AES-NI
 * code (.ci/wolfssl's build) AES-128-GCM moves 12.2 Gbit/s per core and ChaCha20 9.1; with
 * generic C (Debian's binary package) AES-128-GCM 0.9 and ChaCha20 1.9. */
static const char *const suites12_aes_first = "ECDHE-ECDSA-AES128-GCM-SHA256:"
					      "ECDHE-ECDSA-CHACHA20-POLY1305:"
					      "ECDHE-RSA-AES128-GCM-SHA256:"
					      "ECDHE-RSA-CHACHA20-POLY1305:"
					      "ECDHE-ECDSA-AES256-GCM-SHA384:"
					      "ECDHE-RSA-AES256-GCM-SHA384";
static const char *const suites12_chacha_first = "ECDHE-ECDSA-CHACHA20-POLY1305:"
						 "ECDHE-ECDSA-AES128-GCM-SHA256:"
						 "ECDHE-RSA-CHACHA20-POLY1305:"
						 "ECDHE-RSA-AES128-GCM-SHA256:"
						 "ECDHE-ECDSA-AES256-GCM-SHA384:"
						 "ECDHE-RSA-AES256-GCM-SHA384";

/* TLS 1.3 suites are not configurable (as in Envoy); the server's order, which it applies
 * (prefer_client_ciphers aside), follows the same rule. */
static const char *const suites13_aes_first = "TLS13-AES128-GCM-SHA256:"
					      "TLS13-CHACHA20-POLY1305-SHA256:"
					      "TLS13-AES256-GCM-SHA384";
static const char *const suites13_chacha_first = "TLS13-CHACHA20-POLY1305-SHA256:"
						 "TLS13-AES128-GCM-SHA256:"
						 "TLS13-AES256-GCM-SHA384";

/* AES has hardware help: the wolfSSL linked in has AES-NI code and this CPU runs it. */
bool tp_tls_aes_fast(void)
{
	return TP_TLS_AESNI_BUILD && __builtin_cpu_supports("aes") &&
	       __builtin_cpu_supports("pclmul");
}

const char *tp_tls_library_line(void)
{
	if (tp_tls_aes_fast())
		return "wolfSSL " LIBWOLFSSL_VERSION_STRING ", AES-NI: AES-GCM preferred";
	if (TP_TLS_AESNI_BUILD)
		return "wolfSSL " LIBWOLFSSL_VERSION_STRING
		       ", built with AES-NI but this CPU lacks it: ChaCha20 preferred";
	return "wolfSSL " LIBWOLFSSL_VERSION_STRING ", generic C AES: ChaCha20 preferred";
}

int tp_tls_default_alpn(void *conf, const char *proto)
{
	struct tp_tls_conf *c = conf;
	size_t n = strlen(proto);

	if (c->alpn || !n || n > 255)
		return 0;
	c->alpn = malloc(n + 1);
	c->alpn_list = strdup(proto);
	if (!c->alpn || !c->alpn_list) {
		free(c->alpn);
		free(c->alpn_list);
		c->alpn = NULL;
		c->alpn_list = NULL;
		return -ENOMEM;
	}
	c->alpn[0] = (uint8_t)n;
	memcpy(c->alpn + 1, proto, n);
	c->alpn_len = n + 1;
	return 0;
}

static const char *suite12_lookup(const char *name)
{
	for (size_t i = 0; i < sizeof(suites12) / sizeof(suites12[0]); i++)
		if (!strcmp(suites12[i].envoy, name))
			return suites12[i].wolfssl;
	return NULL;
}

/* Appends "sep name" to a growing string. */
static int str_append(char **s, const char *sep, const char *name)
{
	size_t old = *s ? strlen(*s) : 0, n = strlen(name) + strlen(sep) + 1;
	char *p = realloc(*s, old + n);

	if (!p)
		return -ENOMEM;
	snprintf(p + old, n, "%s%s", old ? sep : "", name);
	*s = p;
	return 0;
}

/* cipher_suites into wolfSSL's list: each item one name, an OpenSSL-style "A:B" list, or a
 * BoringSSL equal-preference group "[A|B]" (flattened, first preferred). */
static int build_ciphers(struct tp_cfg_ctx *ctx, const struct strlist *l, char **out)
{
	char *list = NULL;
	int ret = 0;

	if (!l->n)
		return str_append(out, ":",
				  tp_tls_aes_fast() ? suites12_aes_first : suites12_chacha_first)
			       ? -ENOMEM
			       : 0;
	for (size_t i = 0; i < l->n; i++) {
		char *item = strdup(l->v[i]), *save = NULL, *tok;

		if (!item)
			goto out_oom;
		for (tok = strtok_r(item, ":|[]", &save); tok;
		     tok = strtok_r(NULL, ":|[]", &save)) {
			const char *w = suite12_lookup(tok);

			if (w) {
				if (!list || !strstr(list, w)) {
					if (str_append(&list, ":", w)) {
						free(item);
						goto out_oom;
					}
				}
				continue;
			}
			if (!strncmp(tok, "TLS_", 4) || !strncmp(tok, "TLS13", 5))
				tp_cfg_error_mark(
					ctx, l->marks[i], NULL,
					"cipher suite \"%s\": TLS 1.3 suites are not "
					"configurable (as in Envoy); cipher_suites applies "
					"to TLS 1.2",
					tok);
			else
				tp_cfg_error_mark(
					ctx, l->marks[i], NULL,
					"cipher suite \"%s\" is not offered by tcpproxy: only "
					"ECDHE "
					"key exchange with AES-GCM or ChaCha20-Poly1305 (one of "
					"ECDHE-{ECDSA,RSA}-AES128-GCM-SHA256, "
					"ECDHE-{ECDSA,RSA}-AES256-GCM-SHA384, "
					"ECDHE-{ECDSA,RSA}-CHACHA20-POLY1305)",
					tok);
			ret = -EINVAL;
		}
		free(item);
	}
	if (!ret && !list) {
		tp_cfg_error_mark(ctx, l->marks[0], NULL, "no cipher suite left");
		ret = -EINVAL;
	}
	if (!ret) {
		ret = str_append(out, ":", list) ? -ENOMEM : 0;
		if (ret)
			ctx->oom = true;
	}
	free(list);
	return ret;

out_oom:
	free(list);
	ctx->oom = true;
	return -ENOMEM;
}

/* ecdh_curves by Envoy's names; wolfSSL's curve list takes the same ones. */
static int build_curves(struct tp_cfg_ctx *ctx, const struct strlist *l, char **out)
{
	static const char *const known[] = {"X25519", "P-256", "P-384", "P-521"};
	int ret = 0;

	if (!l->n)
		return str_append(out, ":", "X25519:P-256") ? -ENOMEM : 0;
	for (size_t i = 0; i < l->n; i++) {
		char *item = strdup(l->v[i]), *save = NULL, *tok;

		if (!item)
			return -ENOMEM;
		for (tok = strtok_r(item, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
			bool ok = false;

			for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
				ok |= !strcmp(known[k], tok);
			if (!ok) {
				tp_cfg_error_mark(ctx, l->marks[i], NULL,
						  "unknown curve \"%s\": expected X25519, P-256, "
						  "P-384 or P-521",
						  tok);
				ret = -EINVAL;
			} else if (!*out || !strstr(*out, tok)) {
				if (str_append(out, ":", tok)) {
					free(item);
					return -ENOMEM;
				}
			}
		}
		free(item);
	}
	return ret;
}

/* ---- CommonTlsContext ---- */

struct common_tmp {
	struct tp_tls_conf *conf;
	struct params_tmp params;
	bool have_params;
	const struct tp_ynode *params_node;
	struct strlist alpn;
	bool have_validation, have_validation_sds;
};

static int decode_params(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			 const struct tp_ynode *v, void *obj)
{
	struct common_tmp *t = obj;

	t->have_params = true;
	t->params_node = v;
	return tp_cfg_decode(ctx, &params_schema, v, &t->params);
}

static int decode_certs(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			const struct tp_ynode *v, void *obj)
{
	struct tp_tls_conf *c = ((struct common_tmp *)obj)->conf;
	int ret = 0;

	if (v->type == TP_YNODE_MAP) { /* one message for a list of one, as protobuf JSON reads */
		c->own_certs = calloc(1, sizeof(*c->own_certs));
		if (!c->own_certs)
			goto out_oom;
		c->n_own_certs = 1;
		size_t old = tp_cfg_path_push_index(ctx, 0);

		ret = tp_cfg_decode(ctx, &cert_schema, v, c->own_certs);
		tp_cfg_path_pop(ctx, old);
		return ret;
	}
	if (v->type != TP_YNODE_SEQ) {
		tp_cfg_error(ctx, v, NULL, "expected a list, got %s", tp_ynode_kind_name(v));
		return -EINVAL;
	}
	if (!v->n)
		return 0;
	c->own_certs = calloc(v->n, sizeof(*c->own_certs));
	if (!c->own_certs)
		goto out_oom;
	c->n_own_certs = v->n;
	for (size_t i = 0; i < v->n; i++) {
		size_t old = tp_cfg_path_push_index(ctx, i);

		if (tp_cfg_decode(ctx, &cert_schema, v->items[i], &c->own_certs[i]))
			ret = -EINVAL;
		tp_cfg_path_pop(ctx, old);
	}
	return ret;

out_oom:
	ctx->oom = true;
	return -ENOMEM;
}

static int decode_cert_refs(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			    const struct tp_ynode *v, void *obj)
{
	struct tp_tls_conf *c = ((struct common_tmp *)obj)->conf;
	int ret = 0;

	if (v->type != TP_YNODE_SEQ) {
		tp_cfg_error(ctx, v, NULL, "expected a list, got %s", tp_ynode_kind_name(v));
		return -EINVAL;
	}
	if (!v->n)
		return 0;
	c->cert_refs = calloc(v->n, sizeof(*c->cert_refs));
	if (!c->cert_refs) {
		ctx->oom = true;
		return -ENOMEM;
	}
	for (size_t i = 0; i < v->n; i++) {
		size_t old = tp_cfg_path_push_index(ctx, i);

		if (decode_sds_node(ctx, v->items[i], &c->cert_refs[c->n_cert_refs]))
			ret = -EINVAL;
		else
			c->n_cert_refs++;
		tp_cfg_path_pop(ctx, old);
	}
	return ret;
}

static int decode_common_validation(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
				    const struct tp_ynode *v, void *obj)
{
	struct common_tmp *t = obj;

	t->have_validation = true;
	return decode_validation_node(ctx, v, &t->conf->own_validation);
}

static int decode_validation_sds(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
				 const struct tp_ynode *v, void *obj)
{
	struct common_tmp *t = obj;

	t->have_validation_sds = true;
	return decode_sds_node(ctx, v, &t->conf->validation_ref);
}

static const struct tp_cfg_field common_fields[] = {
	{.key = "tls_params", .type = TP_CFG_CUSTOM, .decode = decode_params},
	{.key = "tls_certificates", .type = TP_CFG_CUSTOM, .decode = decode_certs},
	{.key = "tls_certificate_sds_secret_configs",
	 .type = TP_CFG_CUSTOM,
	 .decode = decode_cert_refs},
	{.key = "validation_context",
	 .type = TP_CFG_CUSTOM,
	 .decode = decode_common_validation,
	 .oneof = "validation_context_type"},
	{.key = "validation_context_sds_secret_config",
	 .type = TP_CFG_CUSTOM,
	 .decode = decode_validation_sds,
	 .oneof = "validation_context_type"},
	STRLIST("alpn_protocols", struct common_tmp, alpn),
	UNSUPPORTED_ONEOF("combined_validation_context", "validation_context_type"),
	UNSUPPORTED_ONEOF("validation_context_certificate_provider", "validation_context_type"),
	UNSUPPORTED_ONEOF("validation_context_certificate_provider_instance",
			  "validation_context_type"),
	UNSUPPORTED("tls_certificate_provider_instance"),
	UNSUPPORTED("custom_tls_certificate_selector"),
	UNSUPPORTED("tls_certificate_certificate_provider"),
	UNSUPPORTED("tls_certificate_certificate_provider_instance"),
	UNSUPPORTED("custom_handshaker"),
	UNSUPPORTED("key_log"),
	UNSUPPORTED_BUT("read_ahead_buffer_size", "0"),
	{.key = NULL},
};

/* ALPN names into the wire format (and a comma-separated copy for wolfSSL's client side).
 * Envoy joins the list with ',' and splits the result on ',' (ContextConfigImpl,
 * parseAlpnProtocols), so one entry may carry several names: "h2,http/1.1" is two. */
static int build_alpn(struct tp_cfg_ctx *ctx, const struct strlist *l, struct tp_tls_conf *c)
{
	size_t total = 0;
	int ret = 0;

	for (size_t i = 0; i < l->n; i++) {
		const char *s = l->v[i];

		for (;;) {
			size_t n = strcspn(s, ",");

			if (!n || n > 255) {
				tp_cfg_error_mark(ctx, l->marks[i], NULL,
						  "an ALPN protocol name is 1 to 255 bytes (',' "
						  "separates names, as in Envoy)");
				ret = -EINVAL;
				break;
			}
			total += 1 + n;
			if (!s[n])
				break;
			s += n + 1;
		}
	}
	if (ret || !l->n)
		return ret;
	if (total > 65535) {
		tp_cfg_error_mark(ctx, l->marks[0], NULL,
				  "the ALPN list is longer than 65535 bytes");
		return -EINVAL;
	}
	c->alpn = malloc(total);
	if (!c->alpn) {
		ctx->oom = true;
		return -ENOMEM;
	}
	for (size_t i = 0; i < l->n; i++) {
		const char *s = l->v[i];

		for (;;) {
			size_t n = strcspn(s, ",");

			c->alpn[c->alpn_len++] = (uint8_t)n;
			memcpy(c->alpn + c->alpn_len, s, n);
			c->alpn_len += n;
			if (!s[n])
				break;
			s += n + 1;
		}
		/* Each entry is already comma-separated names: the copy stays valid. */
		if (str_append(&c->alpn_list, ",", l->v[i])) {
			ctx->oom = true;
			return -ENOMEM;
		}
	}
	return 0;
}

static void common_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct common_tmp *t = obj;
	struct tp_tls_conf *c = t->conf;
	struct params_tmp *p = &t->params;
	bool server = c->role == TP_TLS_SERVER;
	size_t old;

	if (t->have_validation && t->have_validation_sds)
		tp_cfg_error(ctx, map, "validation_context_sds_secret_config",
			     "give only one of validation_context and "
			     "validation_context_sds_secret_config (a oneof)");
	old = tp_cfg_path_push(ctx, "alpn_protocols");
	build_alpn(ctx, &t->alpn, c);
	tp_cfg_path_pop(ctx, old);
	/* Envoy's defaults: TLS 1.2 up to 1.3 for servers, up to 1.2 for clients. */
	c->min_version = p->min == TP_TLS_AUTO ? TP_TLS_V1_2 : p->min;
	c->max_version = p->max == TP_TLS_AUTO ? (server ? TP_TLS_V1_3 : TP_TLS_V1_2) : p->max;
	old = tp_cfg_path_push(ctx, "tls_params");
	if (c->min_version < TP_TLS_V1_2)
		tp_cfg_error_mark(ctx, p->min_mark, "tls_minimum_protocol_version",
				  "TLS 1.0 and 1.1 are not offered by tcpproxy: it has only AEAD "
				  "suites, which need TLS 1.2 (see docs/envoy-compat.md)");
	if (c->max_version < TP_TLS_V1_2)
		tp_cfg_error_mark(ctx, p->max_mark, "tls_maximum_protocol_version",
				  "TLS 1.0 and 1.1 are not offered by tcpproxy: it has only AEAD "
				  "suites, which need TLS 1.2 (see docs/envoy-compat.md)");
	else if (c->max_version < c->min_version)
		tp_cfg_error_mark(ctx, p->max_mark, "tls_maximum_protocol_version",
				  "is lower than tls_minimum_protocol_version");
	{
		size_t o = tp_cfg_path_push(ctx, "cipher_suites");
		char *l12 = NULL;
		int r = build_ciphers(ctx, &p->ciphers, &l12);

		tp_cfg_path_pop(ctx, o);
		if (r == -ENOMEM)
			ctx->oom = true;
		/* wolfSSL's one list holds both versions' suites: 1.3's first. */
		if (!r && c->max_version >= TP_TLS_V1_3 &&
		    str_append(&c->cipher_list, ":",
			       tp_tls_aes_fast() ? suites13_aes_first : suites13_chacha_first))
			ctx->oom = true;
		if (!r && c->min_version <= TP_TLS_V1_2 && str_append(&c->cipher_list, ":", l12))
			ctx->oom = true;
		free(l12);
		o = tp_cfg_path_push(ctx, "ecdh_curves");
		if (build_curves(ctx, &p->curves, &c->curves) == -ENOMEM)
			ctx->oom = true;
		tp_cfg_path_pop(ctx, o);
	}
	tp_cfg_path_pop(ctx, old);
}

static const struct tp_cfg_schema common_schema = {
	.name = "envoy.extensions.transport_sockets.tls.v3.CommonTlsContext",
	.size = sizeof(struct common_tmp),
	.fields = common_fields,
	.post = common_post,
};

static int decode_common(struct tp_cfg_ctx *ctx, const struct tp_ynode *v, struct tp_tls_conf *c)
{
	struct common_tmp t = {.conf = c};
	int ret;

	ret = tp_cfg_decode(ctx, &common_schema, v, &t);
	tp_cfg_free(&params_schema, &t.params);
	strlist_free(&t.alpn);
	return ret;
}

/* ---- DownstreamTlsContext and UpstreamTlsContext ---- */

struct context_tmp {
	struct tp_tls_conf *conf;
	bool common_given;
	bool keys_given, keys_sds_given;
	bool require_client, no_tickets, no_stateful, prefer_client, auto_sni_san;
	int64_t session_timeout_ms, max_session_keys;
};

static int decode_common_field(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			       const struct tp_ynode *v, void *obj)
{
	struct context_tmp *t = obj;

	t->common_given = true;
	return decode_common(ctx, v, t->conf);
}

static int decode_ticket_keys_field(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
				    const struct tp_ynode *v, void *obj)
{
	struct context_tmp *t = obj;

	t->keys_given = true;
	return decode_ticket_keys_node(ctx, v, &t->conf->own_keys);
}

static int decode_ticket_sds(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			     const struct tp_ynode *v, void *obj)
{
	struct context_tmp *t = obj;

	t->keys_sds_given = true;
	return decode_sds_node(ctx, v, &t->conf->ticket_ref);
}

static void context_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct context_tmp *t = obj;
	struct tp_tls_conf *c = t->conf;

	c->require_client_cert = t->require_client;
	c->tickets_disabled = t->no_tickets;
	c->stateful_disabled = t->no_stateful;
	c->prefer_client_ciphers = t->prefer_client;
	c->auto_sni_san_validation = t->auto_sni_san;
	c->session_timeout_ms = t->session_timeout_ms;
	c->max_session_keys = t->max_session_keys;
	/* Without common_tls_context, its defaults (versions, suites, curves) still apply. */
	if (!t->common_given)
		decode_common(ctx, NULL, c);
	if (t->keys_given + t->keys_sds_given +
		    !!tp_cfg_find(map, "disable_stateless_session_resumption") >
	    1)
		tp_cfg_error(ctx, map, NULL,
			     "give only one of session_ticket_keys, "
			     "session_ticket_keys_sds_secret_config and "
			     "disable_stateless_session_resumption (a oneof)");
}

static const struct tp_cfg_field downstream_fields[] = {
	{.key = "common_tls_context", .type = TP_CFG_CUSTOM, .decode = decode_common_field},
	{.key = "require_client_certificate",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct context_tmp, require_client)},
	{.key = "session_ticket_keys",
	 .type = TP_CFG_CUSTOM,
	 .decode = decode_ticket_keys_field,
	 .oneof = "session_ticket_keys_type"},
	{.key = "session_ticket_keys_sds_secret_config",
	 .type = TP_CFG_CUSTOM,
	 .decode = decode_ticket_sds,
	 .oneof = "session_ticket_keys_type"},
	{.key = "disable_stateless_session_resumption",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct context_tmp, no_tickets),
	 .oneof = "session_ticket_keys_type"},
	{.key = "disable_stateful_session_resumption",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct context_tmp, no_stateful)},
	{.key = "prefer_client_ciphers",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct context_tmp, prefer_client)},
	{.key = "session_timeout",
	 .type = TP_CFG_DURATION,
	 .off = offsetof(struct context_tmp, session_timeout_ms),
	 .min = 0,
	 .max = 4294967295000ll,
	 .def = TP_DURATION_UNSET},
	UNSUPPORTED_BUT("require_sni", "false"),
	UNSUPPORTED_BUT("ocsp_staple_policy", "LENIENT_STAPLING"),
	UNSUPPORTED_BUT("full_scan_certs_on_sni_mismatch", "false"),
	{.key = NULL},
};

static const struct tp_cfg_schema downstream_schema = {
	.name = TP_TLS_DOWNSTREAM_TYPE,
	.size = sizeof(struct context_tmp),
	.fields = downstream_fields,
	.any = true,
	.post = context_post,
};

static int decode_sni(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
		      const struct tp_ynode *v, void *obj)
{
	struct tp_tls_conf *c = ((struct context_tmp *)obj)->conf;

	if (v->type != TP_YNODE_SCALAR || v->len > 255 || memchr(v->str, '\0', v->len)) {
		tp_cfg_error(ctx, v, NULL, "expected a server name of at most 255 bytes");
		return -EINVAL;
	}
	free(c->sni);
	c->sni = v->len ? strdup(v->str) : NULL;
	if (v->len && !c->sni) {
		ctx->oom = true;
		return -ENOMEM;
	}
	return 0;
}

static const struct tp_cfg_field upstream_fields[] = {
	{.key = "common_tls_context", .type = TP_CFG_CUSTOM, .decode = decode_common_field},
	{.key = "sni", .type = TP_CFG_CUSTOM, .decode = decode_sni},
	{.key = "auto_sni_san_validation",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct context_tmp, auto_sni_san)},
	{.key = "max_session_keys",
	 .type = TP_CFG_UINT32_OPT,
	 .off = offsetof(struct context_tmp, max_session_keys),
	 .min = 0,
	 .max = UINT32_MAX,
	 .def = -1},
	/* tcpproxy's endpoints have no hostname to put in the SNI. */
	UNSUPPORTED_BUT("auto_host_sni", "false"),
	/* Renegotiation is never allowed (and this wolfSSL build has none). */
	UNSUPPORTED_BUT("allow_renegotiation", "false"),
	/* Deprecated and ignored by Envoy, which always enforces keyUsage. */
	IGNORED("enforce_rsa_key_usage"),
	{.key = NULL},
};

static const struct tp_cfg_schema upstream_schema = {
	.name = TP_TLS_UPSTREAM_TYPE,
	.size = sizeof(struct context_tmp),
	.fields = upstream_fields,
	.any = true,
	.post = context_post,
};

void tp_tls_free_conf(void *p)
{
	struct tp_tls_conf *c = p;

	if (!c)
		return;
	for (size_t i = 0; i < c->n_own_certs; i++)
		cert_free(&c->own_certs[i]);
	free(c->own_certs);
	for (size_t i = 0; i < c->n_cert_refs; i++)
		sds_free(&c->cert_refs[i]);
	free(c->cert_refs);
	free(c->certs);
	validation_free(c->own_validation);
	sds_free(&c->validation_ref);
	sds_free(&c->ticket_ref);
	ticket_keys_free(&c->own_keys);
	free(c->alpn);
	free(c->alpn_list);
	free(c->cipher_list);
	free(c->curves);
	free(c->sni);
	free(c->path);
	free(c);
}

static void *parse(struct tp_cfg_ctx *ctx, const struct tp_ynode *v, int role)
{
	struct tp_tls_conf *c = calloc(1, sizeof(*c));
	struct context_tmp t = {.conf = c};
	size_t before = ctx->n_errors;

	if (!c) {
		ctx->oom = true;
		return NULL;
	}
	c->role = role;
	c->path = strdup(ctx->path);
	if (v)
		c->mark = tp_cfg_mark_of(v);
	tp_cfg_decode(ctx, role == TP_TLS_SERVER ? &downstream_schema : &upstream_schema, v, &t);
	/* No keys given and tickets on: one key for the whole generation, drawn here in the
	 * master, so that every worker opens every other's tickets (Envoy's internal key is per
	 * process; its workers are threads). A reload draws a new one. */
	if (role == TP_TLS_SERVER && !c->tickets_disabled && !c->own_keys.keys &&
	    !c->ticket_ref.name) {
		c->own_keys.keys = calloc(1, sizeof(*c->own_keys.keys));
		if (!c->own_keys.keys || getrandom(c->own_keys.keys[0], TP_TLS_TICKET_KEY_LEN, 0) !=
						 TP_TLS_TICKET_KEY_LEN) {
			tp_cfg_error_mark(ctx, c->mark, NULL,
					  "cannot draw a session ticket key: %s", strerror(errno));
		} else {
			c->own_keys.n = 1;
		}
	}
	if (ctx->oom || ctx->n_errors != before) {
		tp_tls_free_conf(c);
		return NULL;
	}
	return c;
}

void *tp_tls_parse_server(struct tp_cfg_ctx *ctx, const struct tp_ynode *typed_config)
{
	return parse(ctx, typed_config, TP_TLS_SERVER);
}

void *tp_tls_parse_client(struct tp_cfg_ctx *ctx, const struct tp_ynode *typed_config)
{
	return parse(ctx, typed_config, TP_TLS_CLIENT);
}

/* ---- static_resources.secrets ---- */

struct secret_tmp {
	struct tp_tls_secret *s;
	bool bad;
};

static int decode_secret_cert(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			      const struct tp_ynode *v, void *obj)
{
	struct tp_tls_secret *s = ((struct secret_tmp *)obj)->s;

	s->cert = calloc(1, sizeof(*s->cert));
	if (!s->cert) {
		ctx->oom = true;
		return -ENOMEM;
	}
	s->type = s->type ? -1 : TP_TLS_SECRET_CERT;
	return tp_cfg_decode(ctx, &cert_schema, v, s->cert);
}

static int decode_secret_validation(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
				    const struct tp_ynode *v, void *obj)
{
	struct tp_tls_secret *s = ((struct secret_tmp *)obj)->s;

	s->type = s->type ? -1 : TP_TLS_SECRET_VALIDATION;
	return decode_validation_node(ctx, v, &s->validation);
}

static int decode_secret_keys(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			      const struct tp_ynode *v, void *obj)
{
	struct tp_tls_secret *s = ((struct secret_tmp *)obj)->s;

	s->ticket_keys = calloc(1, sizeof(*s->ticket_keys));
	if (!s->ticket_keys) {
		ctx->oom = true;
		return -ENOMEM;
	}
	s->type = s->type ? -1 : TP_TLS_SECRET_TICKET_KEYS;
	return decode_ticket_keys_node(ctx, v, s->ticket_keys);
}

static int decode_secret_name(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			      const struct tp_ynode *v, void *obj)
{
	struct tp_tls_secret *s = ((struct secret_tmp *)obj)->s;

	if (v->type != TP_YNODE_SCALAR || !v->len || memchr(v->str, '\0', v->len)) {
		tp_cfg_error(ctx, v, NULL, "expected a non-empty name");
		return -EINVAL;
	}
	s->name = strdup(v->str);
	s->name_mark = tp_cfg_mark_of(v);
	if (!s->name) {
		ctx->oom = true;
		return -ENOMEM;
	}
	return 0;
}

static void secret_post(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj)
{
	struct tp_tls_secret *s = ((struct secret_tmp *)obj)->s;

	if (!s->name && !tp_cfg_find(map, "name"))
		tp_cfg_error(ctx, map, "name",
			     "missing: tcpproxy finds static secrets by name (Envoy too)");
	if (s->type < 0)
		tp_cfg_error(ctx, map, NULL,
			     "give only one of tls_certificate, session_ticket_keys and "
			     "validation_context (a oneof)");
	else if (!s->type && !tp_cfg_find(map, "generic_secret"))
		tp_cfg_error(ctx, map, NULL,
			     "expected one of tls_certificate, session_ticket_keys or "
			     "validation_context");
}

static const struct tp_cfg_field secret_fields[] = {
	{.key = "name", .type = TP_CFG_CUSTOM, .decode = decode_secret_name},
	{.key = "tls_certificate", .type = TP_CFG_CUSTOM, .decode = decode_secret_cert},
	{.key = "session_ticket_keys", .type = TP_CFG_CUSTOM, .decode = decode_secret_keys},
	{.key = "validation_context", .type = TP_CFG_CUSTOM, .decode = decode_secret_validation},
	UNSUPPORTED("generic_secret"),
	{.key = NULL},
};

static const struct tp_cfg_schema secret_schema = {
	.name = "envoy.extensions.transport_sockets.tls.v3.Secret",
	.size = sizeof(struct secret_tmp),
	.fields = secret_fields,
	.post = secret_post,
};

static void secret_free(struct tp_tls_secret *s)
{
	free(s->name);
	if (s->cert) {
		cert_free(s->cert);
		free(s->cert);
	}
	validation_free(s->validation);
	if (s->ticket_keys) {
		ticket_keys_free(s->ticket_keys);
		free(s->ticket_keys);
	}
}

void tp_tls_secrets_free(const struct tp_cfg_field *f, void *obj)
{
	struct tp_tls_secrets **pp = (struct tp_tls_secrets **)((char *)obj + f->off);
	struct tp_tls_secrets *ss = *pp;

	if (!ss)
		return;
	for (size_t i = 0; i < ss->n; i++)
		secret_free(&ss->v[i]);
	free(ss->v);
	free(ss);
	*pp = NULL;
}

int tp_tls_secrets_decode(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			  const struct tp_ynode *v, void *obj)
{
	struct tp_tls_secrets **pp = (struct tp_tls_secrets **)((char *)obj + f->off);
	struct tp_tls_secrets *ss;
	int ret = 0;

	if (v->type != TP_YNODE_SEQ) {
		tp_cfg_error(ctx, v, NULL, "expected a list, got %s", tp_ynode_kind_name(v));
		return -EINVAL;
	}
	ss = calloc(1, sizeof(*ss));
	if (ss)
		ss->v = calloc(v->n ? v->n : 1, sizeof(*ss->v));
	if (!ss || !ss->v) {
		free(ss);
		ctx->oom = true;
		return -ENOMEM;
	}
	*pp = ss;
	for (size_t i = 0; i < v->n; i++) {
		struct secret_tmp t = {.s = &ss->v[ss->n]};
		size_t old = tp_cfg_path_push_index(ctx, i);

		t.s->mark = tp_cfg_mark_of(v->items[i]);
		if (tp_cfg_decode(ctx, &secret_schema, v->items[i], &t))
			ret = -EINVAL;
		tp_cfg_path_pop(ctx, old);
		ss->n++;
		if (!t.s->name)
			continue;
		for (size_t j = 0; j + 1 < ss->n; j++) {
			if (!ss->v[j].name || strcmp(ss->v[j].name, t.s->name))
				continue;
			old = tp_cfg_path_push_index(ctx, i);
			tp_cfg_error_mark(ctx, t.s->name_mark, "name",
					  "duplicate secret name \"%s\" (first at line %u)",
					  t.s->name, ss->v[j].name_mark.line);
			tp_cfg_path_pop(ctx, old);
			ret = -EINVAL;
			break;
		}
	}
	return ret;
}

/* ---- checks once the whole file is read ---- */

static const struct tp_tls_secret *find_secret(const struct tp_config *cfg, const char *name)
{
	const struct tp_tls_secrets *ss = cfg->tls_secrets;

	for (size_t i = 0; ss && i < ss->n; i++)
		if (ss->v[i].name && !strcmp(ss->v[i].name, name))
			return &ss->v[i];
	return NULL;
}

static const char *secret_type_name(int type)
{
	switch (type) {
	case TP_TLS_SECRET_CERT:
		return "tls_certificate";
	case TP_TLS_SECRET_VALIDATION:
		return "validation_context";
	case TP_TLS_SECRET_TICKET_KEYS:
		return "session_ticket_keys";
	default:
		return "nothing tcpproxy reads";
	}
}

/* The static secret ref names, of the type wanted; NULL (reported) otherwise. */
static const struct tp_tls_secret *resolve(struct tp_cfg_ctx *ctx, const struct tp_config *cfg,
					   const struct tp_tls_sds_ref *ref, int type)
{
	const struct tp_tls_secret *s = find_secret(cfg, ref->name);

	tp_cfg_path_set(ctx, "%s", ref->path);
	if (!s) {
		tp_cfg_error_mark(ctx, ref->mark, "name",
				  "no secret \"%s\" in static_resources.secrets (tcpproxy reads "
				  "secrets by name, without sds_config)",
				  ref->name);
		return NULL;
	}
	if (s->type != type) {
		tp_cfg_error_mark(ctx, ref->mark, "name",
				  "secret \"%s\" (line %u) holds a %s, not a %s", ref->name,
				  s->mark.line, secret_type_name(s->type), secret_type_name(type));
		return NULL;
	}
	return s;
}

/* Reports a failed trial build at the DataSource it was about, or at the context. */
static void report_build(struct tp_cfg_ctx *ctx, const struct tp_tls_conf *c,
			 const struct tls_build_err *e)
{
	if (e->blob) {
		tp_cfg_path_set(ctx, "%s", e->blob->path);
		tp_cfg_error_mark(ctx, e->blob->mark, NULL, "%s", e->why);
	} else {
		tp_cfg_path_set(ctx, "%s", c->path);
		tp_cfg_error_mark(ctx, c->mark, NULL, "%s", e->why);
	}
}

void tp_tls_check(struct tp_cfg_ctx *ctx, const struct tp_config *cfg, void *conf)
{
	struct tp_tls_conf *c = conf;
	bool server = c->role == TP_TLS_SERVER;
	size_t before = ctx->n_errors;
	struct tls_build_err e = {0};
	struct tls_ctx *tc;

	c->format_needs = cfg->format_needs;
	/* Envoy: tls_certificate_sds_secret_configs is ignored when tls_certificates is set. */
	if (c->n_own_certs && c->n_cert_refs) {
		tp_cfg_path_set(ctx, "%s", c->cert_refs[0].path);
		tp_cfg_warn_mark(ctx, c->cert_refs[0].mark, NULL,
				 "ignored: tls_certificates is set (as in Envoy)");
	}
	free(c->certs);
	c->n_certs = 0;
	c->certs = calloc(c->n_own_certs + c->n_cert_refs + 1, sizeof(*c->certs));
	if (!c->certs) {
		ctx->oom = true;
		return;
	}
	for (size_t i = 0; i < c->n_own_certs; i++)
		c->certs[c->n_certs++] = &c->own_certs[i];
	for (size_t i = 0; !c->n_own_certs && i < c->n_cert_refs; i++) {
		const struct tp_tls_secret *s =
			resolve(ctx, cfg, &c->cert_refs[i], TP_TLS_SECRET_CERT);

		if (s)
			c->certs[c->n_certs++] = s->cert;
	}
	c->validation = c->own_validation;
	if (c->validation_ref.name) {
		const struct tp_tls_secret *s =
			resolve(ctx, cfg, &c->validation_ref, TP_TLS_SECRET_VALIDATION);

		c->validation = s ? s->validation : NULL;
	}
	c->ticket_keys = c->own_keys.n ? &c->own_keys : NULL;
	if (c->ticket_ref.name) {
		const struct tp_tls_secret *s =
			resolve(ctx, cfg, &c->ticket_ref, TP_TLS_SECRET_TICKET_KEYS);

		c->ticket_keys = s ? s->ticket_keys : NULL;
	}
	if (ctx->n_errors != before)
		return;
	tp_cfg_path_set(ctx, "%s", c->path);
	if (server && !c->n_certs) {
		tp_cfg_error_mark(ctx, c->mark, "common_tls_context",
				  "a DownstreamTlsContext needs a certificate: tls_certificates or "
				  "tls_certificate_sds_secret_configs");
		return;
	}
	if (!server && c->n_certs > 1) {
		tp_cfg_error_mark(ctx, c->certs[1]->mark, NULL,
				  "an UpstreamTlsContext takes a single client certificate (as in "
				  "Envoy)");
		return;
	}
	if (server && c->require_client_cert &&
	    (!c->validation || !c->validation->trusted_ca.len)) {
		tp_cfg_error_mark(ctx, c->mark, "require_client_certificate",
				  "needs common_tls_context.validation_context with trusted_ca "
				  "to verify client certificates against");
		return;
	}
	if (c->validation && c->validation->crl.len && !c->validation->trusted_ca.len) {
		tp_cfg_path_set(ctx, "%s", c->validation->crl.path);
		tp_cfg_error_mark(ctx, c->validation->crl.mark, NULL,
				  "a crl needs trusted_ca in the same validation context");
		return;
	}
	/* A certificate or key whose file could not be read has no path: that error was reported
	 * where it stands, and a trial build would only add one without a place. */
	for (size_t i = 0; i < c->n_certs; i++)
		if (!c->certs[i]->chain.path || !c->certs[i]->key.path)
			return;
	/* Each certificate's names, for choosing it by SNI. */
	for (size_t i = 0; i < c->n_certs; i++) {
		if (c->certs[i]->names)
			continue;
		if (tp_tls_cert_names(c->certs[i], e.why, sizeof(e.why)) < 0) {
			e.blob = &c->certs[i]->chain;
			report_build(ctx, c, &e);
			return;
		}
	}
	/* The contexts every worker will build, built once now and thrown away. */
	tc = tp_tls_ctx_make(c, &e);
	if (!tc)
		report_build(ctx, c, &e);
	tp_tls_ctx_destroy(tc);
}

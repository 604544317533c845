/* The command-operator formatter (Envoy's substitution format strings and format dictionaries).
 *
 * A format is compiled once, at config load, into a flat list of instructions: literals,
 * operators with their parsed arguments, and for json_format the keys and nesting. Rendering
 * walks that list and writes straight into the caller's buffer: no allocation, no parsing, and
 * nothing looked up by name but filter-state and metadata keys. The operators are Envoy's as
 * they read for a TCP connection (docs/envoy-compat.md lists what differs).
 *
 * Each operator is one row of ops[] (nginx's log variables are the model): its name, the
 * argument it takes and the function that parses it, what the connection must capture for it,
 * whether its numbers stay numbers in typed JSON, and the function that produces its value. A
 * compiled instruction points at its row. */
#include "core/accesslog/format.h"

#include "core/config/config-t.h"
#include "core/conn/resp_flags.h"
#include "core/conn/filter_state.h"
#include "core/worker/lb-t.h"
#include "core/config/ynode.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define JSON_DEPTH_MAX	8
#define TIME_FORMAT_MAX 256
#define DEFAULT_TIME	"%Y-%m-%dT%H:%M:%E3SZ" /* Envoy's: 2016-04-15T20:17:00.310Z, UTC */

/* An operator's value, before quoting, escaping and truncation. */
enum vkind {
	V_NONE, /* unset: "-" in text, null in typed JSON */
	V_STR,
	V_NUM,
	V_BOOL,
	V_QSTR, /* a string shown as its JSON literal ("svc"): FILTER_STATE's TYPED form */
	V_JSON, /* already JSON text (a metadata namespace, a V_QSTR's text form) */
};

struct value {
	enum vkind k;
	const char *s;
	size_t n;
	uint64_t u;
	char tmp[1024];
};

enum { ARG_NONE, ARG_OPT, ARG_REQ };

/* Parses an operator's argument arg[0, n), which starts at byte at of the format string, into
 * in and the text pool: 0, -EINVAL with err filled, or -ENOMEM. */
typedef int parse_fn(struct tp_format *f, struct tp_fmt_ins *in, const char *arg, size_t n,
		     size_t at, struct tp_fmt_error *err);
/* Produces an operator's value; v->k is V_NONE on entry, and stays so when there is none. */
typedef void value_fn(const struct tp_fmt_ctx *x, const struct tp_format *f,
		      const struct tp_fmt_ins *in, struct value *v);

/* One command operator. A row without a value function is one tcpproxy does not render yet. */
struct tp_fmt_op {
	const char *name;
	uint8_t arg;	 /* ARG_NONE, ARG_OPT or ARG_REQ */
	bool numeric;	 /* typed json_format: a number it renders stays a JSON number */
	unsigned needs;	 /* enum tp_fmt_need */
	parse_fn *parse; /* NULL: the argument is kept as it is written */
	value_fn *get;
	unsigned data; /* for get, as nginx's variables have it: which address form */
};

/* ---- output ---- */

/* Where output goes: a bounded buffer, optionally escaping as the inside of a JSON string. */
struct sink {
	char *buf;
	size_t cap, len;
	bool full; /* something did not fit */
	bool esc;
};

static void put_raw(struct sink *o, const char *p, size_t n)
{
	if (n > o->cap - o->len) {
		n = o->cap - o->len;
		o->full = true;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

/* The length of the well-formed UTF-8 character at p[0, n), or 0 when it is not one; then *bad
 * is the length of the ill-formed sequence there (Unicode's "maximal subpart", at least 1), the
 * bytes one U+FFFD replaces. The bounds are Unicode's table 3-7: no overlong forms, no
 * surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *p, size_t n, size_t *bad)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t need;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		need = 2;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		need = 3;
		lo = p[0] == 0xe0 ? 0xa0 : 0x80;
		hi = p[0] == 0xed ? 0x9f : 0xbf;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		need = 4;
		lo = p[0] == 0xf0 ? 0x90 : 0x80;
		hi = p[0] == 0xf4 ? 0x8f : 0xbf;
	} else {
		*bad = 1;
		return 0;
	}
	for (size_t i = 1; i < need; i++) {
		if (i == n || p[i] < lo || p[i] > hi) {
			*bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return need;
}

size_t tp_utf8_cut(const char *s, size_t n, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;

	if (n <= max)
		return n;
	/* A character that crosses max starts at most 3 bytes before it, after which only
	 * continuation bytes (10xxxxxx) come. */
	for (size_t i = max; i > 0 && max - i < 3; i--) {
		size_t len, bad;

		if ((u[i - 1] & 0xc0) == 0x80)
			continue;
		len = utf8_len(u + i - 1, n - (i - 1), &bad);
		return len && i - 1 + len > max ? i - 1 : max;
	}
	return max;
}

/* Writes p[0, n) as the inside of a JSON string: '"', '\\' and control characters escaped,
 * well-formed UTF-8 characters as they are, and each ill-formed sequence as \ufffd, so that the
 * line is valid UTF-8 and valid JSON whatever bytes a value holds. */
static void put_escaped(struct sink *o, const char *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)p;
	size_t i = 0;

	while (i < n) {
		size_t run = i, len, bad = 1;
		char e[6] = {'\\', 0, 0, 0, 0, 0};
		size_t k = 2;

		while (run < n && u[run] >= 0x20 && u[run] < 0x80 && u[run] != '"' &&
		       u[run] != '\\')
			run++;
		put_raw(o, p + i, run - i);
		i = run;
		if (i == n)
			break;
		if (u[i] >= 0x80) {
			len = utf8_len(u + i, n - i, &bad);
			if (len)
				put_raw(o, p + i, len);
			else
				put_raw(o, "\\ufffd", 6);
			i += len ? len : bad;
			continue;
		}
		switch (u[i]) {
		case '"':
		case '\\':
			e[1] = (char)u[i];
			break;
		case '\n':
			e[1] = 'n';
			break;
		case '\r':
			e[1] = 'r';
			break;
		case '\t':
			e[1] = 't';
			break;
		case '\b':
			e[1] = 'b';
			break;
		case '\f':
			e[1] = 'f';
			break;
		default:
			memcpy(e, "\\u00", 4);
			e[4] = hex[u[i] >> 4];
			e[5] = hex[u[i] & 15];
			k = 6;
			break;
		}
		put_raw(o, e, k);
		i++;
	}
}

/* p[0, n) as a JSON string literal, quotes and all. */
static void put_json_string(struct sink *o, const char *p, size_t n)
{
	put_raw(o, "\"", 1);
	put_escaped(o, p, n);
	put_raw(o, "\"", 1);
}

static void put(struct sink *o, const char *p, size_t n)
{
	if (o->esc)
		put_escaped(o, p, n);
	else
		put_raw(o, p, n);
}

/* ---- the text pool and errors ---- */

static int fail(struct tp_fmt_error *err, size_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct tp_fmt_error *err, size_t off, const char *fmt, ...)
{
	va_list ap;

	err->off = off;
	va_start(ap, fmt);
	vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Copies n bytes into the text pool with a NUL after them; returns their offset, or -1. */
static int64_t add_text(struct tp_format *f, const char *s, size_t n)
{
	uint32_t off = f->text_len;

	if (n > UINT32_MAX / 2 || (uint64_t)f->text_len + n + 1 > UINT32_MAX / 2)
		return -1;
	if (f->text_len + n + 1 > f->text_cap) {
		uint32_t cap = f->text_cap ? f->text_cap : 64;
		char *t;

		while (cap < f->text_len + n + 1)
			cap *= 2;
		t = realloc(f->text, cap);
		if (!t)
			return -1;
		f->text = t;
		f->text_cap = cap;
	}
	memcpy(f->text + off, s, n);
	f->text[off + n] = '\0';
	f->text_len += (uint32_t)n + 1;
	return off;
}

/* Keeps s[0, n) in the pool as in's (first) argument. */
static int set_arg(struct tp_format *f, struct tp_fmt_ins *in, const char *s, size_t n)
{
	int64_t off = add_text(f, s, n);

	if (off < 0)
		return -ENOMEM;
	in->off = (uint32_t)off;
	in->len = (uint32_t)n;
	return 0;
}

/* An instruction's (first) argument, NUL-terminated. A format of operators without arguments
 * ("%BYTES_SENT%") has no text pool at all, and NULL + 0 is undefined: such an operator gets
 * "" (it never reads its argument). */
static const char *arg_of(const struct tp_format *f, const struct tp_fmt_ins *in)
{
	return f->text ? f->text + in->off : "";
}

/* ---- the operators: each one's parser and value, then the table ---- */

static void value_none(const struct tp_fmt_ctx *x, const struct tp_format *f,
		       const struct tp_fmt_ins *in, struct value *v)
{
	/* TCP has no such thing: always "-" (REQ(), PROTOCOL, ...). */
}

static void set_num(struct value *v, uint64_t u)
{
	v->k = V_NUM;
	v->u = u;
}

/* A NUL-terminated string that outlives the rendering. */
static void set_str(struct value *v, const char *s)
{
	v->k = V_STR;
	v->s = s;
	v->n = strlen(s);
}

/* START_TIME(fmt): the specifiers it takes beyond strftime(3) are %s, %f, %[1-9]f, %E[1-9*]S. */
static int parse_time(struct tp_format *f, struct tp_fmt_ins *in, const char *arg, size_t n,
		      size_t at, struct tp_fmt_error *err)
{
	if (n >= TIME_FORMAT_MAX)
		return fail(err, at, "START_TIME format longer than %d characters",
			    TIME_FORMAT_MAX - 1);
	for (size_t i = 0; i < n; i++) {
		if (arg[i] != '%')
			continue;
		if (i + 1 == n)
			return fail(err, at + i, "START_TIME format ends with a lone '%%'");
		i++;
		if (arg[i] == 'E' &&
		    (i + 2 > n ||
		     !((arg[i + 1] >= '1' && arg[i + 1] <= '9') || arg[i + 1] == '*') ||
		     arg[i + 2] != 'S'))
			return fail(err, at + i - 1,
				    "START_TIME: %%E must be followed by 1-9 or * and S (%%E3S)");
	}
	return set_arg(f, in, arg, n);
}

/* START_TIME: strftime(3) in UTC plus Envoy's %s, %f, %[1-9]f and absl's %E[1-9*]S. */
static void value_start_time(const struct tp_fmt_ctx *x, const struct tp_format *f,
			     const struct tp_fmt_ins *in, struct value *v)
{
	const char *fmt = in->len ? f->text + in->off : DEFAULT_TIME;
	char run[TIME_FORMAT_MAX + 1];
	size_t n = 0, r = 0;
	uint64_t us = x->c->start_wall_us;
	time_t secs = (time_t)(us / 1000000);
	uint32_t frac_ns = (uint32_t)(us % 1000000) * 1000;
	struct tm tm;

	if (!us)
		return;
	gmtime_r(&secs, &tm);
	for (const char *p = fmt;; p++) {
		int digits = -1;
		bool with_secs = false;
		const char *skip = p;

		if (*p == '%' && p[1] == 's') {
			digits = 0;
			skip = p + 1;
		} else if (*p == '%' && p[1] == 'f') {
			digits = 9;
			skip = p + 1;
		} else if (*p == '%' && p[1] >= '1' && p[1] <= '9' && p[2] == 'f') {
			digits = p[1] - '0';
			skip = p + 2;
		} else if (*p == '%' && p[1] == 'E' &&
			   (p[2] == '*' || (p[2] >= '1' && p[2] <= '9')) && p[3] == 'S') {
			digits = p[2] == '*' ? 6 : p[2] - '0';
			with_secs = true;
			skip = p + 3;
		}
		if (digits < 0 && *p) {
			/* Keeps "%%" and other pairs whole for strftime. */
			run[r++] = *p;
			if (*p == '%' && p[1])
				run[r++] = *++p;
			continue;
		}
		if (r) {
			run[r] = '\0';
			n += strftime(v->tmp + n, sizeof(v->tmp) - n, run, &tm);
			r = 0;
		}
		if (!*p)
			break;
		if (*p == '%' && p[1] == 's') {
			n += (size_t)snprintf(v->tmp + n, sizeof(v->tmp) - n, "%lld",
					      (long long)secs);
		} else {
			char fr[10];

			snprintf(fr, sizeof(fr), "%09u", frac_ns);
			if (with_secs)
				n += (size_t)snprintf(v->tmp + n, sizeof(v->tmp) - n, "%02d.",
						      tm.tm_sec);
			n += (size_t)snprintf(v->tmp + n, sizeof(v->tmp) - n, "%.*s", digits, fr);
		}
		if (n >= sizeof(v->tmp))
			n = sizeof(v->tmp) - 1;
		p = skip;
	}
	v->k = V_STR;
	v->s = v->tmp;
	v->n = n;
}

static void value_duration(const struct tp_fmt_ctx *x, const struct tp_format *f,
			   const struct tp_fmt_ins *in, struct value *v)
{
	set_num(v, x->now_ms > x->c->start_ms ? x->now_ms - x->c->start_ms : 0);
}

static void value_bytes_received(const struct tp_fmt_ctx *x, const struct tp_format *f,
				 const struct tp_fmt_ins *in, struct value *v)
{
	set_num(v, x->c->rx_bytes);
}

static void value_bytes_sent(const struct tp_fmt_ctx *x, const struct tp_format *f,
			     const struct tp_fmt_ins *in, struct value *v)
{
	set_num(v, x->c->tx_bytes);
}

static void value_attempts(const struct tp_fmt_ctx *x, const struct tp_format *f,
			   const struct tp_fmt_ins *in, struct value *v)
{
	set_num(v, x->c->attempts);
}

static void value_response_code(const struct tp_fmt_ctx *x, const struct tp_format *f,
				const struct tp_fmt_ins *in, struct value *v)
{
	/* A TCP session has no response code: Envoy logs 0. An HTTP tunnel has its proxy's answer
	 * (to the last attempt). */
	set_num(v, x->c->response_code);
}

/* The HTTP an HTTP tunnel spoke to its proxy, named as Envoy names it; "-" for plain TCP. */
static void value_upstream_protocol(const struct tp_fmt_ctx *x, const struct tp_format *f,
				    const struct tp_fmt_ins *in, struct value *v)
{
	if (x->c->tunneling)
		set_str(v, x->c->tunnel_h2 ? "HTTP/2" : "HTTP/1.1");
}

/* Envoy's short flag names, in the order Envoy prints them (core/conn/resp_flags.h). */
static void value_flags(const struct tp_fmt_ctx *x, const struct tp_format *f,
			const struct tp_fmt_ins *in, struct value *v)
{
	size_t n = tp_rf_letters(x->c, v->tmp, sizeof(v->tmp));

	if (!n)
		return;
	v->k = V_STR;
	v->s = v->tmp;
	v->n = n;
}

static void value_termination(const struct tp_fmt_ctx *x, const struct tp_format *f,
			      const struct tp_fmt_ins *in, struct value *v)
{
	const char *d = tp_rf_end_details(x->c);

	if (!d)
		return;
	v->k = V_STR;
	v->s = d;
	v->n = strlen(d);
}

/* Envoy sets response code details on a TCP connection only when no filter chain took it
 * ("filter_chain_not_found", with NR). */
static void value_code_details(const struct tp_fmt_ctx *x, const struct tp_format *f,
			       const struct tp_fmt_ins *in, struct value *v)
{
	if (tp_rf_has(x->c, TP_RF_NO_FILTER_CHAIN))
		set_str(v, tp_rf_rows[TP_RF_NO_FILTER_CHAIN].details);
}

/* A transport failure reason as Envoy logs it: its spaces made underscores. */
static void set_reason(struct value *v, const char *why, const char *prefix)
{
	size_t n = (size_t)snprintf(v->tmp, sizeof(v->tmp), "%s%s", prefix, why);

	if (n >= sizeof(v->tmp))
		n = sizeof(v->tmp) - 1;
	for (size_t i = 0; i < n; i++)
		if (v->tmp[i] == ' ')
			v->tmp[i] = '_';
	v->k = V_STR;
	v->s = v->tmp;
	v->n = n;
}

static void value_transport_failure(const struct tp_fmt_ctx *x, const struct tp_format *f,
				    const struct tp_fmt_ins *in, struct value *v)
{
	/* A failed TLS handshake has the transport's words (Envoy's "TLS_error:|..."); a failed
	 * connect Envoy's "delayed connect error: <strerror>". */
	if (x->c->up_fail_reason)
		set_reason(v, x->c->up_fail_reason, "");
	else if (x->c->connect_err)
		set_reason(v, strerror(x->c->connect_err), "delayed connect error: ");
}

static void value_down_transport_failure(const struct tp_fmt_ctx *x, const struct tp_format *f,
					 const struct tp_fmt_ins *in, struct value *v)
{
	if (x->c->side[TP_DOWN].fail_reason)
		set_reason(v, x->c->side[TP_DOWN].fail_reason, "");
}

/* What each side's TLS handshake negotiated (struct tp_conn_info), by in->op->data. */
enum { TLS_VERSION, TLS_CIPHER, UP_TLS_VERSION, UP_TLS_CIPHER };

static void value_tls(const struct tp_fmt_ctx *x, const struct tp_format *f,
		      const struct tp_fmt_ins *in, struct value *v)
{
	const struct tp_conn_info *info = x->c->info;
	const char *s = NULL;

	if (!info)
		return;
	switch (in->op->data) {
	case TLS_VERSION:
		s = info->tls_version;
		break;
	case TLS_CIPHER:
		s = info->tls_cipher;
		break;
	case UP_TLS_VERSION:
		s = info->up_tls_version;
		break;
	case UP_TLS_CIPHER:
		s = info->up_tls_cipher;
		break;
	}
	if (s)
		set_str(v, s);
}

/* The downstream peer's certificate and session (struct tp_tls_peer), by in->op->data. Envoy
 * leaves these unset on a connection without TLS or without a peer certificate. */
enum { PEER_SUBJECT, PEER_ISSUER, PEER_URI_SAN, PEER_FINGERPRINT_256, TLS_SESSION_ID };

static void value_tls_peer(const struct tp_fmt_ctx *x, const struct tp_format *f,
			   const struct tp_fmt_ins *in, struct value *v)
{
	const struct tp_tls_peer *p = x->c->info ? x->c->info->tls_peer : NULL;
	const char *s = NULL;

	if (!p)
		return;
	switch (in->op->data) {
	case PEER_SUBJECT:
		s = p->subject;
		break;
	case PEER_ISSUER:
		s = p->issuer;
		break;
	case PEER_URI_SAN:
		s = p->uri_san;
		break;
	case PEER_FINGERPRINT_256:
		s = p->fingerprint_256;
		break;
	case TLS_SESSION_ID:
		s = p->session_id;
		break;
	}
	if (s && *s)
		set_str(v, s);
}

size_t tp_ip_format(const struct tp_ip *ip, bool with_port, char *buf, size_t cap)
{
	char a[INET6_ADDRSTRLEN];
	int n;

	if (!ip->family || !inet_ntop(ip->family, ip->addr, a, sizeof(a)))
		return 0;
	if (!with_port)
		n = snprintf(buf, cap, "%s", a);
	else if (ip->family == AF_INET6)
		n = snprintf(buf, cap, "[%s]:%u", a, ip->port);
	else
		n = snprintf(buf, cap, "%s:%u", a, ip->port);
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* The three forms of an address operator: X_ADDRESS, X_ADDRESS_WITHOUT_PORT and X_PORT. */
enum { FORM_FULL, FORM_NO_PORT, FORM_PORT };

static void value_ip(const struct tp_ip *ip, unsigned form, struct value *v)
{
	if (!ip->family)
		return;
	if (form == FORM_PORT) {
		set_num(v, ip->port);
		return;
	}
	v->n = tp_ip_format(ip, form == FORM_FULL, v->tmp, sizeof(v->tmp));
	v->s = v->tmp;
	v->k = V_STR;
}

static void value_upstream_remote(const struct tp_fmt_ctx *x, const struct tp_format *f,
				  const struct tp_fmt_ins *in, struct value *v)
{
	const struct tp_sockaddr *sa;
	struct tp_ip ip = {0};

	if (!x->c->host)
		return;
	sa = &x->c->host->cfg->addr;
	if (sa->ss.ss_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)&sa->ss;

		ip.family = AF_INET;
		ip.port = ntohs(in4->sin_port);
		memcpy(ip.addr, &in4->sin_addr, 4);
	} else if (sa->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&sa->ss;

		ip.family = AF_INET6;
		ip.port = ntohs(in6->sin6_port);
		memcpy(ip.addr, &in6->sin6_addr, 16);
	}
	value_ip(&ip, in->op->data, v);
}

static void value_upstream_local(const struct tp_fmt_ctx *x, const struct tp_format *f,
				 const struct tp_fmt_ins *in, struct value *v)
{
	value_ip(&x->c->up_local, in->op->data, v);
}

static void value_downstream_remote(const struct tp_fmt_ctx *x, const struct tp_format *f,
				    const struct tp_fmt_ins *in, struct value *v)
{
	value_ip(&x->c->down_remote, in->op->data, v);
}

static void value_downstream_local(const struct tp_fmt_ctx *x, const struct tp_format *f,
				   const struct tp_fmt_ins *in, struct value *v)
{
	value_ip(&x->c->down_local, in->op->data, v);
}

static void value_upstream_cluster(const struct tp_fmt_ctx *x, const struct tp_format *f,
				   const struct tp_fmt_ins *in, struct value *v)
{
	if (x->c->cluster)
		set_str(v, x->c->cluster->cfg->name);
}

static void value_log_type(const struct tp_fmt_ctx *x, const struct tp_format *f,
			   const struct tp_fmt_ins *in, struct value *v)
{
	static const char *const names[] = {
		[TP_ALOG_NOT_SET] = "NotSet",
		[TP_ALOG_TCP_START] = "TcpConnectionStart",
		[TP_ALOG_TCP_CONNECTED] = "TcpUpstreamConnected",
		[TP_ALOG_TCP_PERIODIC] = "TcpPeriodic",
		[TP_ALOG_TCP_END] = "TcpConnectionEnd",
	};

	set_str(v, names[x->type]);
}

static void value_connection_id(const struct tp_fmt_ctx *x, const struct tp_format *f,
				const struct tp_fmt_ins *in, struct value *v)
{
	set_num(v, x->c->id);
}

static void value_hostname(const struct tp_fmt_ctx *x, const struct tp_format *f,
			   const struct tp_fmt_ins *in, struct value *v)
{
	static char name[256];

	if (!name[0] && gethostname(name, sizeof(name) - 1) < 0)
		snprintf(name, sizeof(name), "-");
	set_str(v, name);
}

/* The requested server name (SNI) a listener filter or the TLS handshake found. */
static void value_sni(const struct tp_fmt_ctx *x, const struct tp_format *f,
		      const struct tp_fmt_ins *in, struct value *v)
{
	const struct tp_conn_info *info = x->c->info;

	if (!info || !info->sni_len)
		return;
	v->k = V_STR;
	v->s = info->sni;
	v->n = info->sni_len;
}

static void value_chain_name(const struct tp_fmt_ctx *x, const struct tp_format *f,
			     const struct tp_fmt_ins *in, struct value *v)
{
	if (x->c->chain && x->c->chain->name)
		set_str(v, x->c->chain->name);
}

/* A V_QSTR as text, for a text format or inside a JSON string: its JSON literal, written into
 * tmp (unset if that does not fit). A typed JSON field writes it straight into the line instead,
 * whatever its length. */
static void qstr_as_text(struct value *v)
{
	struct sink o = {.buf = v->tmp, .cap = sizeof(v->tmp)};

	if (v->k != V_QSTR)
		return;
	v->k = V_NONE;
	put_raw(&o, "\"", 1);
	put_escaped(&o, v->s, v->n);
	put_raw(&o, "\"", 1);
	if (o.full)
		return;
	v->k = V_JSON;
	v->s = v->tmp;
	v->n = o.len;
}

static void value_of_state(const struct tp_value *sv, bool plain, struct value *v)
{
	switch (sv->type) {
	case TP_VALUE_STRING:
		set_str(v, sv->s);
		if (!plain)
			v->k = V_QSTR;
		break;
	case TP_VALUE_BOOL:
		v->k = V_BOOL;
		v->u = sv->b;
		break;
	case TP_VALUE_UINT64:
		set_num(v, sv->u);
		break;
	}
}

/* FILTER_STATE(KEY), KEY:PLAIN or KEY:TYPED (the default): in->flag says PLAIN. */
static int parse_filter_state(struct tp_format *f, struct tp_fmt_ins *in, const char *arg, size_t n,
			      size_t at, struct tp_fmt_error *err)
{
	const char *colon = memrchr(arg, ':', n);

	if (colon) {
		size_t klen = (size_t)(colon - arg), flen = n - klen - 1;

		if (flen == 5 && !memcmp(colon + 1, "PLAIN", 5))
			in->flag = 1;
		else if (!(flen == 5 && !memcmp(colon + 1, "TYPED", 5)))
			return fail(err, at + klen + 1,
				    "FILTER_STATE serialization must be PLAIN or TYPED");
		n = klen;
		if (!n)
			return fail(err, at, "FILTER_STATE needs a key");
	}
	return set_arg(f, in, arg, n);
}

static void value_filter_state(const struct tp_fmt_ctx *x, const struct tp_format *f,
			       const struct tp_fmt_ins *in, struct value *v)
{
	const struct tp_state_entry *e = tp_filter_state_get(x->c->filter_state, arg_of(f, in));

	if (e)
		value_of_state(&e->value, in->flag, v);
}

/* DYNAMIC_METADATA(NAMESPACE) or (NAMESPACE:KEY), the key as the second argument; the metadata
 * tcpproxy keeps is flat. */
static int parse_metadata(struct tp_format *f, struct tp_fmt_ins *in, const char *arg, size_t n,
			  size_t at, struct tp_fmt_error *err)
{
	const char *colon = memchr(arg, ':', n);

	if (colon) {
		size_t nlen = (size_t)(colon - arg);
		int64_t off;

		if (!nlen || nlen + 1 == n)
			return fail(err, at, "DYNAMIC_METADATA takes NAMESPACE or NAMESPACE:KEY");
		if (memchr(colon + 1, ':', n - nlen - 1))
			return fail(err, at,
				    "DYNAMIC_METADATA: nested keys are not supported yet by "
				    "tcpproxy (its dynamic metadata is flat)");
		off = add_text(f, colon + 1, n - nlen - 1);
		if (off < 0)
			return -ENOMEM;
		in->off2 = (uint32_t)off;
		in->len2 = (uint32_t)(n - nlen - 1);
		n = nlen;
	}
	return set_arg(f, in, arg, n);
}

/* DYNAMIC_METADATA(NAMESPACE): every key of the namespace as one JSON object. */
static void value_namespace(const struct tp_state_map *m, const char *ns, size_t ns_len,
			    struct value *v)
{
	struct sink o = {.buf = v->tmp, .cap = sizeof(v->tmp)};
	bool any = false;

	put_raw(&o, "{", 1);
	for (uint32_t i = 0; m && i < m->n; i++) {
		const struct tp_state_entry *e = &m->v[i];
		const char *key = e->key + ns_len + 1;
		struct value ev = {.k = V_NONE};
		char num[24];

		if (strncmp(e->key, ns, ns_len) || e->key[ns_len] != '\x1f')
			continue;
		put_raw(&o, any ? ",\"" : "\"", any ? 2 : 1);
		put_escaped(&o, key, strlen(key));
		put_raw(&o, "\":", 2);
		any = true;
		value_of_state(&e->value, false, &ev);
		if (ev.k == V_BOOL)
			put_raw(&o, ev.u ? "true" : "false", ev.u ? 4 : 5);
		else if (ev.k == V_NUM)
			put_raw(&o, num, (size_t)snprintf(num, sizeof(num), "%" PRIu64, ev.u));
		else if (ev.k == V_QSTR)
			put_json_string(&o, ev.s, ev.n);
		else
			put_raw(&o, "null", 4);
	}
	put_raw(&o, "}", 1);
	if (!any || o.full)
		return;
	v->k = V_JSON;
	v->s = v->tmp;
	v->n = o.len;
}

static void value_metadata(const struct tp_fmt_ctx *x, const struct tp_format *f,
			   const struct tp_fmt_ins *in, struct value *v)
{
	const struct tp_value *mv;

	if (!in->len2) {
		value_namespace(x->c->metadata, arg_of(f, in), in->len, v);
		return;
	}
	mv = tp_metadata_get(x->c->metadata, arg_of(f, in), f->text + in->off2);
	if (mv)
		value_of_state(mv, true, v);
}

/* ENVIRONMENT(NAME) is read at load, as Envoy does: its value becomes the argument, and
 * in->flag says the variable was set. */
static int parse_environment(struct tp_format *f, struct tp_fmt_ins *in, const char *arg, size_t n,
			     size_t at, struct tp_fmt_error *err)
{
	char *name = strndup(arg, n);
	const char *val;

	if (!name)
		return -ENOMEM;
	val = getenv(name);
	free(name);
	if (!val)
		return 0;
	in->flag = 1;
	return set_arg(f, in, val, strlen(val));
}

static void value_environment(const struct tp_fmt_ctx *x, const struct tp_format *f,
			      const struct tp_fmt_ins *in, struct value *v)
{
	if (!in->flag)
		return;
	v->k = V_STR;
	v->s = arg_of(f, in);
	v->n = in->len;
}

/* The columns of a row: name, argument, typed JSON (STR or NUM: its numbers stay numbers), what
 * the connection must capture for it, argument parser, value function. */
#define OP(n, a, json, need, p, g)                                                        \
	{                                                                                 \
		.name = n, .arg = a, .numeric = json, .needs = need, .parse = p, .get = g \
	}
#define STR false
#define NUM true
/* An address operator: get reads the address, form says how it renders. */
#define ADDR(n, json, need, g, form)                                              \
	{                                                                         \
		.name = n, .numeric = json, .needs = need, .get = g, .data = form \
	}
/* X_ADDRESS, X_ADDRESS_WITHOUT_PORT and X_PORT. */
#define ADDRESS(x, need, g)                                                  \
	ADDR(x "_ADDRESS", STR, need, g, FORM_FULL),                         \
		ADDR(x "_ADDRESS_WITHOUT_PORT", STR, need, g, FORM_NO_PORT), \
		ADDR(x "_PORT", NUM, need, g, FORM_PORT)
/* An Envoy operator a TCP log could use that tcpproxy does not render yet: an error that says
 * so, rather than "unknown". */
#define NOT_YET(n)        \
	{                 \
		.name = n \
	}
/* A TLS operator: get reads the connection info, which says which field. */
#define TLS(n, need, g, which)                                                    \
	{                                                                         \
		.name = n, .numeric = STR, .needs = need, .get = g, .data = which \
	}
#define TLS_PEER   TP_FMT_NEED_TLS_PEER
#define DOWN_ADDRS TP_FMT_NEED_DOWN_ADDRS
#define UP_LOCAL   TP_FMT_NEED_UP_LOCAL

/* Every Envoy command operator tcpproxy knows, one row each. */
static const struct tp_fmt_op ops[] = {
	OP("START_TIME", ARG_OPT, STR, TP_FMT_NEED_START_TIME, parse_time, value_start_time),
	OP("DURATION", ARG_NONE, NUM, 0, NULL, value_duration),
	OP("BYTES_RECEIVED", ARG_NONE, NUM, 0, NULL, value_bytes_received),
	OP("BYTES_SENT", ARG_NONE, NUM, 0, NULL, value_bytes_sent),
	OP("DOWNSTREAM_WIRE_BYTES_RECEIVED", ARG_NONE, NUM, 0, NULL, value_bytes_received),
	OP("DOWNSTREAM_WIRE_BYTES_SENT", ARG_NONE, NUM, 0, NULL, value_bytes_sent),
	OP("UPSTREAM_REQUEST_ATTEMPT_COUNT", ARG_NONE, NUM, 0, NULL, value_attempts),
	OP("RESPONSE_CODE", ARG_NONE, NUM, 0, NULL, value_response_code),
	OP("PROTOCOL", ARG_NONE, STR, 0, NULL, value_none),
	OP("UPSTREAM_PROTOCOL", ARG_NONE, STR, 0, NULL, value_upstream_protocol),
	OP("RESPONSE_CODE_DETAILS", ARG_NONE, STR, 0, NULL, value_code_details),
	OP("ROUTE_NAME", ARG_NONE, STR, 0, NULL, value_none),
	OP("REQ", ARG_REQ, STR, 0, NULL, value_none),
	OP("RESP", ARG_REQ, STR, 0, NULL, value_none),
	OP("TRAILER", ARG_REQ, STR, 0, NULL, value_none),
	OP("RESPONSE_FLAGS", ARG_NONE, STR, 0, NULL, value_flags),
	OP("CONNECTION_TERMINATION_DETAILS", ARG_NONE, STR, 0, NULL, value_termination),
	OP("DOWNSTREAM_LOCAL_CLOSE_REASON", ARG_NONE, STR, 0, NULL, value_termination),
	OP("UPSTREAM_TRANSPORT_FAILURE_REASON", ARG_NONE, STR, 0, NULL, value_transport_failure),
	ADDR("UPSTREAM_HOST", STR, 0, value_upstream_remote, FORM_FULL),
	ADDRESS("UPSTREAM_REMOTE", 0, value_upstream_remote),
	ADDRESS("UPSTREAM_LOCAL", UP_LOCAL, value_upstream_local),
	ADDRESS("DOWNSTREAM_REMOTE", DOWN_ADDRS, value_downstream_remote),
	ADDRESS("DOWNSTREAM_DIRECT_REMOTE", DOWN_ADDRS, value_downstream_remote),
	ADDRESS("DOWNSTREAM_LOCAL", DOWN_ADDRS, value_downstream_local),
	OP("UPSTREAM_CLUSTER", ARG_NONE, STR, 0, NULL, value_upstream_cluster),
	/* From tls_inspector, or the downstream TLS handshake. */
	OP("REQUESTED_SERVER_NAME", ARG_NONE, STR, 0, NULL, value_sni),
	OP("DOWNSTREAM_TRANSPORT_FAILURE_REASON", ARG_NONE, STR, 0, NULL,
	   value_down_transport_failure),
	TLS("DOWNSTREAM_TLS_VERSION", 0, value_tls, TLS_VERSION),
	TLS("DOWNSTREAM_TLS_CIPHER", 0, value_tls, TLS_CIPHER),
	TLS("UPSTREAM_TLS_VERSION", 0, value_tls, UP_TLS_VERSION),
	TLS("UPSTREAM_TLS_CIPHER", 0, value_tls, UP_TLS_CIPHER),
	TLS("DOWNSTREAM_PEER_SUBJECT", TLS_PEER, value_tls_peer, PEER_SUBJECT),
	TLS("DOWNSTREAM_PEER_ISSUER", TLS_PEER, value_tls_peer, PEER_ISSUER),
	TLS("DOWNSTREAM_PEER_URI_SAN", TLS_PEER, value_tls_peer, PEER_URI_SAN),
	TLS("DOWNSTREAM_PEER_FINGERPRINT_256", TLS_PEER, value_tls_peer, PEER_FINGERPRINT_256),
	TLS("DOWNSTREAM_TLS_SESSION_ID", TLS_PEER, value_tls_peer, TLS_SESSION_ID),
	OP("ACCESS_LOG_TYPE", ARG_NONE, STR, 0, NULL, value_log_type),
	OP("CONNECTION_ID", ARG_NONE, NUM, 0, NULL, value_connection_id),
	OP("HOSTNAME", ARG_NONE, STR, 0, NULL, value_hostname),
	/* The numbers a filter state or metadata value holds stay numbers. */
	OP("FILTER_STATE", ARG_REQ, NUM, 0, parse_filter_state, value_filter_state),
	OP("DYNAMIC_METADATA", ARG_REQ, NUM, 0, parse_metadata, value_metadata),
	OP("FILTER_CHAIN_NAME", ARG_NONE, STR, 0, NULL, value_chain_name),
	OP("ENVIRONMENT", ARG_REQ, STR, 0, parse_environment, value_environment),

	/* Not rendered yet (docs/envoy-compat.md lists them). */
	NOT_YET("UPSTREAM_WIRE_BYTES_SENT"),
	NOT_YET("UPSTREAM_WIRE_BYTES_RECEIVED"),
	NOT_YET("UPSTREAM_CONNECTION_ID"),
	NOT_YET("UPSTREAM_FILTER_STATE"),
	NOT_YET("UPSTREAM_METADATA"),
	NOT_YET("CLUSTER_METADATA"),
	NOT_YET("METADATA"),
	NOT_YET("CEL"),
	NOT_YET("STREAM_ID"),
	NOT_YET("UPSTREAM_DETECTED_CLOSE_TYPE"),
	NOT_YET("DOWNSTREAM_DETECTED_CLOSE_TYPE"),
	NOT_YET("DOWNSTREAM_LOCAL_URI_SAN"),
	NOT_YET("DOWNSTREAM_LOCAL_SUBJECT"),
	NOT_YET("DOWNSTREAM_PEER_FINGERPRINT_1"),
	NOT_YET("DOWNSTREAM_PEER_SERIAL"),
	NOT_YET("DOWNSTREAM_PEER_CERT"),
	NOT_YET("DOWNSTREAM_PEER_CERT_V_START"),
	NOT_YET("DOWNSTREAM_PEER_CERT_V_END"),
	NOT_YET("UPSTREAM_PEER_SUBJECT"),
	NOT_YET("UPSTREAM_PEER_ISSUER"),
	NOT_YET("UPSTREAM_TLS_SESSION_ID"),
	NOT_YET("UPSTREAM_PEER_CERT"),
	NOT_YET("UPSTREAM_PEER_CERT_V_START"),
	NOT_YET("UPSTREAM_PEER_CERT_V_END"),
	NOT_YET("DOWNSTREAM_HANDSHAKE_DURATION"),
	NOT_YET("UPSTREAM_CONNECTION_POOL_READY_DURATION"),
	NOT_YET("COMMON_DURATION"),
	NOT_YET("CUSTOM_FLAGS"),
	NOT_YET("VIRTUAL_CLUSTER_NAME"),
};

#undef OP
#undef STR
#undef NUM
#undef ADDR
#undef ADDRESS
#undef TLS
#undef NOT_YET
#undef DOWN_ADDRS
#undef UP_LOCAL

/* ---- compiling ---- */

static struct tp_format *format_new(void)
{
	return calloc(1, sizeof(struct tp_format));
}

void tp_format_free(struct tp_format *f)
{
	if (!f)
		return;
	free(f->ins);
	free(f->text);
	free(f);
}

static struct tp_fmt_ins *add_ins(struct tp_format *f, enum tp_fmt_kind kind)
{
	struct tp_fmt_ins *in;

	if (f->n == f->cap) {
		uint32_t cap = f->cap ? f->cap * 2 : 8;

		in = realloc(f->ins, cap * sizeof(*in));
		if (!in)
			return NULL;
		f->ins = in;
		f->cap = cap;
	}
	in = &f->ins[f->n++];
	memset(in, 0, sizeof(*in));
	in->kind = (uint8_t)kind;
	return in;
}

static int add_literal(struct tp_format *f, const char *s, size_t n)
{
	struct tp_fmt_ins *in;
	int64_t off;

	if (!n)
		return 0;
	/* Consecutive literals ("%%" splits one) are merged: the pool keeps them adjacent. */
	if (f->n && f->ins[f->n - 1].kind == TP_FMT_LIT &&
	    f->ins[f->n - 1].off + f->ins[f->n - 1].len + 1 == f->text_len) {
		in = &f->ins[f->n - 1];
		f->text_len--; /* drop its NUL, append, re-terminate */
		if (add_text(f, s, n) < 0)
			return -ENOMEM;
		in->len += (uint32_t)n;
		return 0;
	}
	off = add_text(f, s, n);
	in = off < 0 ? NULL : add_ins(f, TP_FMT_LIT);
	if (!in)
		return -ENOMEM;
	in->off = (uint32_t)off;
	in->len = (uint32_t)n;
	return 0;
}

static bool is_name_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}

static const struct tp_fmt_op *find_op(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strlen(ops[i].name) == n && !memcmp(ops[i].name, name, n))
			return &ops[i];
	return NULL;
}

/* Parses one operator at s[i] == '%' (not "%%"); *end is where parsing goes on. */
static int parse_op(struct tp_format *f, const char *s, size_t len, size_t i, size_t *end,
		    struct tp_fmt_error *err)
{
	size_t j = i + 1, name = j, name_len, arg = 0, arg_len = 0;
	bool has_arg = false;
	uint64_t max_len = 0;
	const struct tp_fmt_op *op;
	struct tp_fmt_ins *in;

	while (j < len && is_name_char(s[j]))
		j++;
	name_len = j - name;
	if (!name_len)
		return fail(err, i,
			    "'%%' starts no command operator (write %%%% for a literal '%%')");
	if (j < len && s[j] == '(') {
		has_arg = true;
		arg = ++j;
		while (j < len && s[j] != ')')
			j++;
		if (j == len)
			return fail(err, i, "%%%.*s( is missing its ')'", (int)name_len, s + name);
		arg_len = j - arg;
		j++;
	}
	if (j < len && s[j] == ':') {
		size_t d = ++j;

		while (j < len && s[j] >= '0' && s[j] <= '9' && max_len <= UINT32_MAX)
			max_len = max_len * 10 + (uint64_t)(s[j++] - '0');
		if (j == d || max_len > UINT32_MAX || max_len == 0)
			return fail(err, d, "expected a length from 1 to %u after ':'", UINT32_MAX);
	}
	if (j >= len || s[j] != '%')
		return fail(err, i, "command operator %%%.*s is not closed by '%%'", (int)name_len,
			    s + name);
	*end = j + 1;

	op = find_op(s + name, name_len);
	if (!op)
		return fail(err, name, "unknown command operator %.*s", (int)name_len, s + name);
	if (!op->get)
		return fail(err, name,
			    "command operator %s is not supported yet by tcpproxy (see "
			    "docs/envoy-compat.md)",
			    op->name);
	if (op->arg == ARG_NONE && has_arg)
		return fail(err, arg - 1, "%s takes no argument", op->name);
	if (op->arg == ARG_REQ && !arg_len)
		return fail(err, has_arg ? arg : j, "%s needs an argument: %%%s(...)%%", op->name,
			    op->name);

	in = add_ins(f, TP_FMT_OP);
	if (!in)
		return -ENOMEM;
	in->op = op;
	in->max_len = (uint32_t)max_len;
	f->needs |= op->needs;
	if (!arg_len)
		return 0;
	return op->parse ? op->parse(f, in, s + arg, arg_len, arg, err)
			 : set_arg(f, in, s + arg, arg_len);
}

static int compile_into(struct tp_format *f, const char *s, size_t len, struct tp_fmt_error *err)
{
	size_t i = 0, lit = 0;
	int ret;

	if (memchr(s, '\0', len))
		return fail(err, (size_t)((const char *)memchr(s, '\0', len) - s),
			    "a format must not contain a NUL character");
	while (i < len) {
		if (s[i] != '%') {
			i++;
			continue;
		}
		ret = add_literal(f, s + lit, i - lit);
		if (ret < 0)
			return ret;
		if (i + 1 < len && s[i + 1] == '%') {
			ret = add_literal(f, "%", 1);
			if (ret < 0)
				return ret;
			i += 2;
		} else {
			ret = parse_op(f, s, len, i, &i, err);
			if (ret < 0)
				return ret;
		}
		lit = i;
	}
	return add_literal(f, s + lit, i - lit);
}

int tp_format_compile(const char *s, size_t len, struct tp_format **out, struct tp_fmt_error *err)
{
	struct tp_format *f = format_new();
	int ret;

	memset(err, 0, sizeof(*err));
	*out = NULL;
	if (!f)
		return -ENOMEM;
	ret = compile_into(f, s, len, err);
	if (ret < 0) {
		tp_format_free(f);
		return ret;
	}
	*out = f;
	return 0;
}

static int cmp_pairs(const void *a, const void *b)
{
	const struct tp_ynode_pair *x = *(const struct tp_ynode_pair *const *)a;
	const struct tp_ynode_pair *y = *(const struct tp_ynode_pair *const *)b;

	return strcmp(x->key->str, y->key->str);
}

/* Escapes s as the inside of a JSON string into the text pool. */
static int64_t add_json_key(struct tp_format *f, const char *s, size_t n);

static int compile_json_map(struct tp_format *f, const struct tp_ynode *map, unsigned depth,
			    struct tp_fmt_error *err)
{
	const struct tp_ynode_pair **sorted;
	int ret = 0;

	if (depth > JSON_DEPTH_MAX) {
		err->node = map;
		return fail(err, 0, "json_format nests deeper than %d levels", JSON_DEPTH_MAX);
	}
	if (!map->n)
		return 0;
	sorted = calloc(map->n, sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	for (size_t i = 0; i < map->n; i++)
		sorted[i] = &map->pairs[i];
	/* Envoy always sorts the properties (json_format_options.sort_properties is a no-op). */
	qsort(sorted, map->n, sizeof(*sorted), cmp_pairs);
	for (size_t i = 0; i < map->n && !ret; i++) {
		const struct tp_ynode *k = sorted[i]->key, *v = sorted[i]->value;
		struct tp_fmt_ins *in;
		int64_t off = add_json_key(f, k->str, k->len);
		uint32_t first;

		if (off < 0)
			goto out_oom;
		if (v->type == TP_YNODE_MAP) {
			in = add_ins(f, TP_FMT_JSON_OPEN);
			if (!in)
				goto out_oom;
			in->off = (uint32_t)off;
			in->len = (uint32_t)strlen(f->text + off);
			ret = compile_json_map(f, v, depth + 1, err);
			if (!ret && !add_ins(f, TP_FMT_JSON_CLOSE))
				goto out_oom;
			continue;
		}
		if (v->type != TP_YNODE_SCALAR) {
			err->node = v;
			ret = fail(err, 0,
				   "json_format values must be format strings or mappings, not %s",
				   tp_ynode_kind_name(v));
			break;
		}
		in = add_ins(f, TP_FMT_JSON_FIELD);
		if (!in)
			goto out_oom;
		in->off = (uint32_t)off;
		in->len = (uint32_t)strlen(f->text + off);
		first = f->n;
		ret = compile_into(f, v->str, v->len, err);
		if (ret == -EINVAL)
			err->node = v;
		/* add_ins may have moved the array: find the field again. */
		f->ins[first - 1].n = f->n - first;
	}
	free(sorted);
	return ret;

out_oom:
	free(sorted);
	return -ENOMEM;
}

int tp_format_compile_json(const struct tp_ynode *map, bool typed, struct tp_format **out,
			   struct tp_fmt_error *err)
{
	struct tp_format *f = format_new();
	int ret;

	memset(err, 0, sizeof(*err));
	*out = NULL;
	if (!f)
		return -ENOMEM;
	f->json = true;
	f->typed = typed;
	if (map->type != TP_YNODE_MAP) {
		err->node = map;
		ret = fail(err, 0, "json_format must be a mapping of keys to format strings");
	} else {
		ret = compile_json_map(f, map, 1, err);
	}
	if (ret < 0) {
		tp_format_free(f);
		return ret;
	}
	*out = f;
	return 0;
}

void tp_format_error_position(const struct tp_ynode *scalar, size_t off, uint32_t *line,
			      uint32_t *col)
{
	/* A quoted scalar's text starts after its quote. */
	*line = scalar->line;
	*col = scalar->col + (scalar->quoted ? 1 : 0) + (uint32_t)off;
}

/* ---- rendering ---- */

/* Text form of a value: what a text format prints and what a JSON string holds. */
static void put_value_text(struct sink *o, const struct tp_format *f, const struct tp_fmt_ins *in,
			   const struct value *v)
{
	char num[24];
	const char *s = v->s;
	size_t n = v->n;

	switch (v->k) {
	case V_NONE:
		if (!f->omit_empty)
			put(o, "-", 1);
		return;
	case V_NUM:
		s = num;
		n = (size_t)snprintf(num, sizeof(num), "%" PRIu64, v->u);
		break;
	case V_BOOL:
		s = v->u ? "true" : "false";
		n = strlen(s);
		break;
	default:
		break;
	}
	if (in->max_len)
		n = tp_utf8_cut(s, n, in->max_len);
	put(o, s, n);
}

static void render_text(const struct tp_format *f, const struct tp_fmt_ctx *x, struct sink *o,
			uint32_t from, uint32_t n)
{
	for (uint32_t i = from; i < from + n; i++) {
		const struct tp_fmt_ins *in = &f->ins[i];
		struct value v;

		if (in->kind == TP_FMT_LIT) {
			put(o, f->text + in->off, in->len);
			continue;
		}
		v.k = V_NONE;
		in->op->get(x, f, in, &v);
		qstr_as_text(&v);
		put_value_text(o, f, in, &v);
	}
}

/* A JSON field's value: [from, from + n) are its pieces. */
static bool render_json_value(const struct tp_format *f, const struct tp_fmt_ctx *x, struct sink *o,
			      uint32_t from, uint32_t n, bool *omit)
{
	const struct tp_fmt_ins *in = &f->ins[from];
	struct value v;

	*omit = false;
	if (n == 1 && in->kind == TP_FMT_OP) {
		v.k = V_NONE;
		in->op->get(x, f, in, &v);
		if (!f->typed)
			qstr_as_text(&v);
		if (v.k == V_NONE && f->omit_empty) {
			*omit = true;
			return true;
		}
		if (f->typed) {
			char num[24];

			switch (v.k) {
			case V_NONE:
				put_raw(o, "null", 4);
				return true;
			case V_NUM:
				if (in->op->numeric) {
					put_raw(o, num,
						(size_t)snprintf(num, sizeof(num), "%" PRIu64,
								 v.u));
					return true;
				}
				break;
			case V_BOOL:
				put_raw(o, v.u ? "true" : "false", v.u ? 4 : 5);
				return true;
			case V_QSTR:
				put_json_string(o, v.s, v.n);
				return true;
			case V_JSON:
				put_raw(o, v.s, v.n);
				return true;
			default:
				break;
			}
		}
		put_raw(o, "\"", 1);
		o->esc = true;
		put_value_text(o, f, in, &v);
		o->esc = false;
		put_raw(o, "\"", 1);
		return true;
	}
	put_raw(o, "\"", 1);
	o->esc = true;
	render_text(f, x, o, from, n);
	o->esc = false;
	put_raw(o, "\"", 1);
	return true;
}

static void render_json(const struct tp_format *f, const struct tp_fmt_ctx *x, struct sink *o)
{
	bool first[JSON_DEPTH_MAX + 2] = {true};
	unsigned depth = 0;

	put_raw(o, "{", 1);
	for (uint32_t i = 0; i < f->n; i++) {
		const struct tp_fmt_ins *in = &f->ins[i];
		size_t mark = o->len;
		bool omit;

		switch (in->kind) {
		case TP_FMT_JSON_OPEN:
			if (!first[depth])
				put_raw(o, ",", 1);
			first[depth] = false;
			put_raw(o, "\"", 1);
			put_raw(o, f->text + in->off, in->len);
			put_raw(o, "\":{", 3);
			first[++depth] = true;
			break;
		case TP_FMT_JSON_CLOSE:
			put_raw(o, "}", 1);
			depth--;
			break;
		case TP_FMT_JSON_FIELD:
			if (!first[depth])
				put_raw(o, ",", 1);
			put_raw(o, "\"", 1);
			put_raw(o, f->text + in->off, in->len);
			put_raw(o, "\":", 2);
			render_json_value(f, x, o, i + 1, in->n, &omit);
			if (omit)
				o->len = mark; /* take the key back too */
			else
				first[depth] = false;
			i += in->n;
			break;
		default:
			break;
		}
	}
	put_raw(o, "}\n", 2);
}

size_t tp_format_render(const struct tp_format *f, const struct tp_fmt_ctx *x, char *buf,
			size_t cap, bool *truncated)
{
	struct sink o = {.buf = buf, .cap = cap};

	if (f->json)
		render_json(f, x, &o);
	else
		render_text(f, x, &o, 0, f->n);
	if (truncated)
		*truncated = o.full;
	return o.len;
}

static int64_t add_json_key(struct tp_format *f, const char *s, size_t n)
{
	char tmp[512];
	struct sink o = {.buf = tmp, .cap = sizeof(tmp), .esc = true};

	put_escaped(&o, s, n);
	if (o.full)
		return -1;
	return add_text(f, tmp, o.len);
}

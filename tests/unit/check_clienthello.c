/* Check suite for core/tls/clienthello.c: real clients' ClientHellos (tests/fixtures/clienthello)
 * fed whole, as a growing prefix and re-split into records at every offset; built hellos for
 * every refusal; SSLv2-compatible hellos; the window; and, when libwolfssl is there, the SNI
 * wolfSSL_SNI_GetFromBuffer() finds in the same single-record hellos. */
#include "core/tls/clienthello.h"

#include <check.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define STREAM_MAX 40000

/* ---- building hellos ---- */

struct bb {
	uint8_t p[STREAM_MAX];
	size_t n;
};

static void bb_u8(struct bb *b, unsigned v)
{
	ck_assert_uint_lt(b->n, sizeof(b->p));
	b->p[b->n++] = (uint8_t)v;
}

static void bb_u16(struct bb *b, unsigned v)
{
	bb_u8(b, v >> 8 & 0xff);
	bb_u8(b, v & 0xff);
}

static void bb_bytes(struct bb *b, const void *p, size_t n)
{
	ck_assert_uint_le(b->n + n, sizeof(b->p));
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void bb_fill(struct bb *b, unsigned v, size_t n)
{
	while (n--)
		bb_u8(b, v);
}

/* A length prefix of size bytes, filled in by bb_close() with what was added since. */
static size_t bb_open(struct bb *b, unsigned size)
{
	size_t at = b->n;

	bb_fill(b, 0, size);
	return at;
}

static void bb_close(struct bb *b, size_t at, unsigned size)
{
	size_t len = b->n - at - size;

	for (unsigned i = 0; i < size; i++)
		b->p[at + i] = (uint8_t)(len >> 8 * (size - 1 - i));
}

static void ext_raw(struct bb *e, unsigned type, const void *data, size_t len)
{
	bb_u16(e, type);
	bb_u16(e, (unsigned)len);
	bb_bytes(e, data, len);
}

static void ext_sni(struct bb *e, const char *name, size_t len)
{
	size_t ext, list;

	bb_u16(e, 0);
	ext = bb_open(e, 2);
	list = bb_open(e, 2);
	bb_u8(e, 0);
	bb_u16(e, (unsigned)len);
	bb_bytes(e, name, len);
	bb_close(e, list, 2);
	bb_close(e, ext, 2);
}

/* ALPN from "h2,http/1.1" (no empty names). */
static void ext_alpn(struct bb *e, const char *csv)
{
	size_t ext, list;
	const char *p = csv;

	bb_u16(e, 16);
	ext = bb_open(e, 2);
	list = bb_open(e, 2);
	while (*p) {
		size_t n = strcspn(p, ",");

		bb_u8(e, (unsigned)n);
		bb_bytes(e, p, n);
		p += n + (p[n] == ',');
	}
	bb_close(e, list, 2);
	bb_close(e, ext, 2);
}

static void ext_versions(struct bb *e, const unsigned *v, size_t n)
{
	bb_u16(e, 43);
	bb_u16(e, (unsigned)(1 + 2 * n));
	bb_u8(e, (unsigned)(2 * n));
	for (size_t i = 0; i < n; i++)
		bb_u16(e, v[i]);
}

/* A handshake message: ClientHello (type 1) with these extensions (NULL: no extensions block),
 * 32-byte session id, two suites, null compression. */
static void hello_msg(struct bb *m, unsigned version, const struct bb *ext)
{
	size_t len;

	m->n = 0;
	bb_u8(m, 1);
	len = bb_open(m, 3);
	bb_u16(m, version);
	bb_fill(m, 0xab, 32);
	bb_u8(m, 32);
	bb_fill(m, 0x5e, 32);
	bb_u16(m, 4);
	bb_u16(m, 0x1301);
	bb_u16(m, 0xc02f);
	bb_u8(m, 1);
	bb_u8(m, 0);
	if (ext) {
		bb_u16(m, (unsigned)ext->n);
		bb_bytes(m, ext->p, ext->n);
	}
	bb_close(m, len, 3);
}

static void record(struct bb *s, unsigned type, const uint8_t *p, size_t n)
{
	bb_u8(s, type);
	bb_u16(s, 0x0301);
	bb_u16(s, (unsigned)n);
	bb_bytes(s, p, n);
}

/* The message in handshake records of at most frag bytes (0: one record). */
static void frame(struct bb *s, const struct bb *m, size_t frag)
{
	size_t off = 0;

	s->n = 0;
	do {
		size_t n = frag && m->n - off > frag ? frag : m->n - off;

		record(s, 0x16, m->p + off, n);
		off += n;
	} while (off < m->n);
}

/* The message in two records, cut at offset cut. */
static void frame2(struct bb *s, const struct bb *m, size_t cut)
{
	s->n = 0;
	record(s, 0x16, m->p, cut);
	record(s, 0x16, m->p + cut, m->n - cut);
}

/* The handshake bytes of a stream of records (the inverse of frame()). */
static void unframe(struct bb *m, const uint8_t *s, size_t n)
{
	size_t pos = 0;

	m->n = 0;
	while (pos + 5 <= n) {
		size_t rlen = (size_t)s[pos + 3] << 8 | s[pos + 4];

		ck_assert_uint_le(pos + 5 + rlen, n);
		bb_bytes(m, s + pos + 5, rlen);
		pos += 5 + rlen;
	}
}

/* ---- feeding ---- */

static enum tp_chello_result parse_whole(struct tp_chello *h, const uint8_t *p, size_t n)
{
	tp_chello_init(h, 0);
	return tp_chello_parse(h, p, n);
}

static void assert_same(const struct tp_chello *a, const struct tp_chello *b)
{
	ck_assert_int_eq(a->result, b->result);
	ck_assert_uint_eq(a->bytes, b->bytes);
	ck_assert_str_eq(a->sni, b->sni);
	ck_assert_uint_eq(a->sni_len, b->sni_len);
	ck_assert_uint_eq(a->n_alpn, b->n_alpn);
	ck_assert_uint_eq(a->alpn_len, b->alpn_len);
	ck_assert_mem_eq(a->alpn, b->alpn, a->alpn_len);
	ck_assert_int_eq(a->alpn_truncated, b->alpn_truncated);
	ck_assert_uint_eq(a->versions, b->versions);
	ck_assert_uint_eq(a->legacy_version, b->legacy_version);
	ck_assert_int_eq(a->v2, b->v2);
	ck_assert_ptr_eq(a->error, b->error);
}

/* Parses s whole, then as a growing prefix one byte at a time (one parse resumed, and a fresh
 * parse per prefix when fresh): every way gives the same answer, and a prefix is undecided
 * exactly until the bytes the answer rests on. Returns the whole parse in *h. */
static enum tp_chello_result parse_all_ways(struct tp_chello *h, const uint8_t *s, size_t n,
					    bool fresh)
{
	enum tp_chello_result r = parse_whole(h, s, n), ri = TP_CHELLO_NEED_MORE;
	struct tp_chello g, f;
	size_t i;

	if (r == TP_CHELLO_NEED_MORE)
		ck_assert_uint_lt(n, TP_CHELLO_MAX_BYTES);
	tp_chello_init(&g, 0);
	for (i = 0; i <= n; i++) {
		ri = tp_chello_parse(&g, s, i);
		if (fresh) {
			tp_chello_init(&f, 0);
			ck_assert_int_eq(tp_chello_parse(&f, s, i), ri);
		}
		if (ri != TP_CHELLO_NEED_MORE)
			break;
	}
	ck_assert_int_eq(ri, r);
	assert_same(&g, h);
	/* Decided on the byte the answer rests on; a DONE exactly at the hello's end. */
	if (r != TP_CHELLO_NEED_MORE)
		ck_assert_uint_le(h->bytes, i);
	if (r == TP_CHELLO_DONE)
		ck_assert_uint_eq(h->bytes, i);
	/* Decided: it stays, whatever comes. */
	ck_assert_int_eq(tp_chello_parse(&g, (const uint8_t *)"", 0), r);
	return r;
}

static void assert_alpn(const struct tp_chello *h, const char *csv)
{
	const char *p = csv;
	unsigned i = 0;
	const uint8_t *a;
	size_t len;

	while (*p) {
		size_t n = strcspn(p, ",");

		a = tp_chello_alpn(h, i++, &len);
		ck_assert_ptr_nonnull(a);
		ck_assert_uint_eq(len, n);
		ck_assert_mem_eq(a, p, n);
		p += n + (p[n] == ',');
	}
	ck_assert_uint_eq(h->n_alpn, i);
	ck_assert_ptr_null(tp_chello_alpn(h, i, &len));
}

/* A built hello with these extensions, in one record: its result. */
static enum tp_chello_result parse_exts(struct tp_chello *h, const struct bb *ext)
{
	static struct bb m, s;

	hello_msg(&m, 0x0303, ext);
	frame(&s, &m, 0);
	return parse_all_ways(h, s.p, s.n, false);
}

/* ---- wolfSSL, when there ---- */

typedef int (*sni_from_buffer_fn)(const unsigned char *hello, unsigned int len, unsigned char type,
				  unsigned char *sni, unsigned int *sni_len);

static sni_from_buffer_fn wolf_sni(void)
{
	static sni_from_buffer_fn fn;
	static bool tried;

	if (!tried) {
		void *lib = dlopen("libwolfssl.so.35", RTLD_NOW);

		if (!lib)
			lib = dlopen("libwolfssl.so", RTLD_NOW);
		if (lib)
			*(void **)&fn = dlsym(lib, "wolfSSL_SNI_GetFromBuffer");
		if (!fn)
			fprintf(stderr, "check_clienthello: libwolfssl not found: cross-check "
					"with wolfSSL_SNI_GetFromBuffer skipped\n");
		tried = true;
	}
	return fn;
}

/* wolfSSL must find the same name (as sent, so compared without case) in a single-record
 * hello we parsed; 1 when it was checked. */
static int wolf_agrees(const struct tp_chello *h, const uint8_t *s, size_t n)
{
	sni_from_buffer_fn fn = wolf_sni();
	unsigned char name[256];
	unsigned int len = sizeof(name);
	int ret;

	if (!fn)
		return 0;
	ck_assert_int_eq(h->result, TP_CHELLO_DONE);
	ret = fn(s, (unsigned)n, 0, name, &len);
	if (!h->sni_len) {
		ck_assert_int_eq(ret, 0);
	} else {
		ck_assert_int_eq(ret, 1);
		ck_assert_uint_eq(len, h->sni_len);
		ck_assert_int_eq(strncasecmp((char *)name, h->sni, len), 0);
	}
	return 1;
}

/* ---- fixtures ---- */

static const struct fixture {
	const char *file, *sni, *alpn;
	uint8_t versions;
	bool truncated;
} fixtures[] = {
	{"openssl-tls13-sni-alpn.bin", "www.example.com", "h2,http/1.1", 0x1e, false},
	{"openssl-tls12-mixedcase.bin", "mixed.example.com", "http/1.1", 0x0e, false},
	{"openssl-no-sni.bin", "", "", 0x1e, false},
	{"openssl-fragmented.bin", "frag.example.com",
	 "h2,http/1.1,spdy/3.1,stun.turn,stun.nat-discovery,webrtc,c-webrtc,ftp,imap,pop3,"
	 "managesieve,coap,xmpp-client,xmpp-server,acme-tls/1,mqtt",
	 0x1e, true},
	{"curl.bin", "www.example.org", "h2,http/1.1", 0x1e, false},
	{"python.bin", "python.example.net", "h2,http/1.1", 0x18, false},
	{"node.bin", "node.example.io", "h2,http/1.1,acme-tls/1", 0x18, false},
};

static size_t load(const char *file, uint8_t *buf, size_t cap)
{
	char path[256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "tests/fixtures/clienthello/%s", file);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "%s", path);
	n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

static void check_fixture_fields(const struct tp_chello *h, const struct fixture *fx)
{
	ck_assert_int_eq(h->result, TP_CHELLO_DONE);
	ck_assert_str_eq(h->sni, fx->sni);
	ck_assert_uint_eq(h->sni_len, strlen(fx->sni));
	assert_alpn(h, fx->alpn);
	ck_assert_int_eq(h->alpn_truncated, fx->truncated);
	ck_assert_uint_eq(h->versions, fx->versions);
	ck_assert_uint_eq(h->legacy_version, 0x0303);
	ck_assert(!h->v2);
}

START_TEST(real_clients)
{
	static uint8_t s[STREAM_MAX];
	static struct bb m, r;
	const struct fixture *fx = &fixtures[_i];
	struct tp_chello h, h2;
	size_t n;

	if (access("tests/fixtures/clienthello", F_OK)) {
		fprintf(stderr, "check_clienthello: tests/fixtures not found (not run from the top "
				"directory): fixtures skipped\n");
		return;
	}
	n = load(fx->file, s, sizeof(s));
	ck_assert_int_eq(parse_all_ways(&h, s, n, true), TP_CHELLO_DONE);
	check_fixture_fields(&h, fx);
	ck_assert_uint_eq(h.bytes, n);

	/* What the client sends next does not change the answer. */
	memset(s + n, 0x17, 100);
	ck_assert_int_eq(parse_whole(&h2, s, n + 100), TP_CHELLO_DONE);
	assert_same(&h2, &h);

	/* The same message in other records: two, cut at every offset; then of every size. */
	unframe(&m, s, n);
	for (size_t cut = 0; cut <= m.n; cut++) {
		frame2(&r, &m, cut);
		ck_assert_int_eq(parse_all_ways(&h2, r.p, r.n, false), TP_CHELLO_DONE);
		check_fixture_fields(&h2, fx);
		ck_assert_uint_eq(h2.bytes, cut == m.n ? 5 + m.n : r.n);
	}
	for (size_t frag = 1; frag <= m.n; frag++) {
		frame(&r, &m, frag);
		ck_assert_int_eq(parse_whole(&h2, r.p, r.n), TP_CHELLO_DONE);
		check_fixture_fields(&h2, fx);
		ck_assert_uint_eq(h2.bytes, r.n);
	}
	if (n == 5 + m.n)
		wolf_agrees(&h, s, n);
}
END_TEST

/* ---- built hellos ---- */

START_TEST(no_extensions)
{
	static struct bb m, s;
	struct tp_chello h;

	hello_msg(&m, 0x0303, NULL);
	frame(&s, &m, 0);
	ck_assert_int_eq(parse_all_ways(&h, s.p, s.n, true), TP_CHELLO_DONE);
	ck_assert_uint_eq(h.sni_len, 0);
	ck_assert_str_eq(h.sni, "");
	ck_assert_uint_eq(h.n_alpn, 0);
	ck_assert_uint_eq(h.versions, TP_CHELLO_TLS12 | TP_CHELLO_TLS11 | TP_CHELLO_TLS10);
	ck_assert_uint_eq(h.bytes, s.n);
	wolf_agrees(&h, s.p, s.n);

	/* An empty extensions block is a block. */
	{
		struct bb e = {.n = 0};

		ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_DONE);
	}
}
END_TEST

START_TEST(not_tls)
{
#define S(x)                     \
	{                        \
		x, sizeof(x) - 1 \
	}
	static const struct {
		const char *s;
		size_t n;
	} streams[] = {
		S("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		S("SSH-2.0-OpenSSH_9.2\r\n"),
		S("CONNECT example.com:443 HTTP/1.1\r\n\r\n"),
		S("\x17\x03\x03\x00\x10"),	   /* application data */
		S("\x15\x03\x01\x00\x02\x01\x00"), /* an alert */
		S("\x16\x02\x00\x00\x10"),	   /* record version 2.0 */
		S("\x16\x00"),
		S("\x80\x2e\x02\x03\x01"), /* SSLv2 header, message type 2 */
		S("\x80\x2e\x01\x02\x00"), /* SSLv2 ClientHello, version 2 */
		S("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
	};
#undef S
	struct tp_chello h;

	for (size_t i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
		ck_assert_int_eq(
			parse_all_ways(&h, (const uint8_t *)streams[i].s, streams[i].n, true),
			TP_CHELLO_NOT_TLS);
		ck_assert_ptr_nonnull(h.error);
		ck_assert_uint_le(h.bytes, 4);
	}
	/* 100 zero bytes, as Envoy's NotSsl test. */
	{
		uint8_t zeros[100] = {0};

		ck_assert_int_eq(parse_all_ways(&h, zeros, sizeof(zeros), true), TP_CHELLO_NOT_TLS);
	}
	/* A handshake record whose first message is not a ClientHello. */
	{
		static const uint8_t server_hello[] = {0x16, 0x03, 0x03, 0x00, 0x04,
						       0x02, 0x00, 0x00, 0x00};

		ck_assert_int_eq(parse_all_ways(&h, server_hello, sizeof(server_hello), true),
				 TP_CHELLO_NOT_TLS);
		ck_assert_uint_eq(h.bytes, 6);
	}
	/* Not enough yet to say. */
	ck_assert_int_eq(parse_whole(&h, (const uint8_t *)"\x16\x03\x01\x02", 4),
			 TP_CHELLO_NEED_MORE);
	ck_assert_int_eq(parse_whole(&h, (const uint8_t *)"", 0), TP_CHELLO_NEED_MORE);
}
END_TEST

START_TEST(records)
{
	static struct bb m, s, t;
	struct bb e = {.n = 0};
	struct tp_chello h;

	ext_sni(&e, "rec.example", 11);
	hello_msg(&m, 0x0303, &e);

	/* Up to 32 empty records before the hello, and between its fragments; not 33. */
	for (unsigned empties = 0; empties <= 33; empties++) {
		s.n = 0;
		for (unsigned i = 0; i < empties; i++)
			record(&s, 0x16, NULL, 0);
		frame(&t, &m, 50);
		bb_bytes(&s, t.p, t.n);
		ck_assert_int_eq(parse_all_ways(&h, s.p, s.n, false),
				 empties <= 32 ? TP_CHELLO_DONE : TP_CHELLO_ERROR);
		if (empties <= 32)
			ck_assert_str_eq(h.sni, "rec.example");
	}
	s.n = 0;
	record(&s, 0x16, m.p, 20);
	for (unsigned i = 0; i < 32; i++)
		record(&s, 0x16, NULL, 0);
	record(&s, 0x16, m.p + 20, m.n - 20);
	ck_assert_int_eq(parse_all_ways(&h, s.p, s.n, true), TP_CHELLO_DONE);
	ck_assert_str_eq(h.sni, "rec.example");

	/* The hello goes on in a record of another type, or of another major version. */
	s.n = 0;
	record(&s, 0x16, m.p, 20);
	record(&s, 0x17, m.p + 20, m.n - 20);
	ck_assert_int_eq(parse_all_ways(&h, s.p, s.n, true), TP_CHELLO_ERROR);
	ck_assert_uint_eq(h.bytes, 5 + 20 + 1);
	s.p[5 + 20] = 0x16;
	s.p[5 + 20 + 1] = 0x02;
	ck_assert_int_eq(parse_all_ways(&h, s.p, s.n, true), TP_CHELLO_ERROR);
	/* Only the major version is checked, as BoringSSL does. */
	s.p[5 + 20 + 1] = 0x03;
	s.p[5 + 20 + 2] = 0xff;
	s.p[2] = 0x00;
	ck_assert_int_eq(parse_all_ways(&h, s.p, s.n, true), TP_CHELLO_DONE);

	/* The handshake length is larger than the record: it ends in the next record, or the
	 * stream stops there. */
	frame(&s, &m, 0);
	s.p[4]--; /* one byte less in the record, which the next record must bring */
	ck_assert_int_eq(parse_all_ways(&h, s.p, s.n - 1, true), TP_CHELLO_NEED_MORE);
	t.n = 0;
	bb_bytes(&t, s.p, s.n - 1);
	record(&t, 0x16, m.p + m.n - 1, 1);
	ck_assert_int_eq(parse_all_ways(&h, t.p, t.n, true), TP_CHELLO_DONE);

	/* A record longer than BoringSSL takes; one longer than the window. */
	{
		static const uint8_t big[] = {0x16, 0x03, 0x01, 0x41, 0x41, 0x01};
		static const uint8_t window[] = {0x16, 0x03, 0x01, 0x3f, 0xfc, 0x01};

		ck_assert_int_eq(parse_all_ways(&h, big, sizeof(big), true), TP_CHELLO_ERROR);
		ck_assert_int_eq(parse_all_ways(&h, window, sizeof(window), true),
				 TP_CHELLO_TOO_LARGE);
		ck_assert_uint_eq(h.bytes, 5);
	}
}
END_TEST

START_TEST(handshake_framing)
{
	static struct bb m, s;
	struct bb e = {.n = 0};
	struct tp_chello h;

	ext_sni(&e, "hs.example", 10);
	hello_msg(&m, 0x0303, &e);

	/* Bytes after the hello in its record (BoringSSL: excess handshake data). */
	frame(&s, &m, 0);
	bb_u8(&s, 0x00);
	s.p[4]++;
	ck_assert_int_eq(parse_all_ways(&h, s.p, s.n, true), TP_CHELLO_ERROR);
	ck_assert_str_eq(h.error, "bytes after the ClientHello in its record");
	/* ... known before they arrive. */
	ck_assert_int_eq(parse_whole(&h, s.p, s.n - 1), TP_CHELLO_ERROR);

	/* A handshake length over 16384, or 0. */
	frame(&s, &m, 0);
	s.p[6] = 0x00;
	s.p[7] = 0x40;
	s.p[8] = 0x01;
	ck_assert_int_eq(parse_all_ways(&h, s.p, 9, true), TP_CHELLO_ERROR);
	ck_assert_str_eq(h.error, "ClientHello longer than 16384 bytes");
	{
		static const uint8_t empty[] = {0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0, 0, 0};

		ck_assert_int_eq(parse_all_ways(&h, empty, sizeof(empty), true), TP_CHELLO_ERROR);
	}

	/* The handshake header itself split across records. */
	for (size_t cut = 1; cut < 4; cut++) {
		frame2(&s, &m, cut);
		ck_assert_int_eq(parse_all_ways(&h, s.p, s.n, true), TP_CHELLO_DONE);
		ck_assert_str_eq(h.sni, "hs.example");
	}
}
END_TEST

/* A hello whose body is hand-made (after the 4-byte header), in one record. */
static enum tp_chello_result parse_body(struct tp_chello *h, const struct bb *body)
{
	static struct bb m, s;

	m.n = 0;
	bb_u8(&m, 1);
	bb_u8(&m, 0);
	bb_u16(&m, (unsigned)body->n);
	bb_bytes(&m, body->p, body->n);
	frame(&s, &m, 0);
	return parse_all_ways(h, s.p, s.n, false);
}

/* Body fields: version, random, session id of sid bytes, suites of nsuites bytes, compression
 * of ncomp bytes; extensions are added by the caller. */
static void body_start(struct bb *b, unsigned sid, unsigned nsuites, unsigned ncomp)
{
	b->n = 0;
	bb_u16(b, 0x0303);
	bb_fill(b, 1, 32);
	bb_u8(b, sid);
	bb_fill(b, 2, sid);
	bb_u16(b, nsuites);
	bb_fill(b, 0x13, nsuites);
	bb_u8(b, ncomp);
	bb_fill(b, 0, ncomp);
}

START_TEST(body_layout)
{
	static struct bb b;
	struct tp_chello h;

	body_start(&b, 32, 2, 1);
	ck_assert_int_eq(parse_body(&h, &b), TP_CHELLO_DONE);
	body_start(&b, 33, 2, 1);
	ck_assert_int_eq(parse_body(&h, &b), TP_CHELLO_ERROR);
	ck_assert_str_eq(h.error, "session id longer than 32 bytes");
	body_start(&b, 0, 0, 1);
	ck_assert_int_eq(parse_body(&h, &b), TP_CHELLO_ERROR);
	body_start(&b, 0, 3, 1);
	ck_assert_int_eq(parse_body(&h, &b), TP_CHELLO_ERROR);
	ck_assert_str_eq(h.error, "malformed cipher suites");
	body_start(&b, 0, 2, 0);
	ck_assert_int_eq(parse_body(&h, &b), TP_CHELLO_ERROR);
	ck_assert_str_eq(h.error, "malformed compression methods");
	/* Compression other than null alone is BoringSSL's business later, not the callback's. */
	body_start(&b, 0, 2, 2);
	b.p[b.n - 1] = 1;
	ck_assert_int_eq(parse_body(&h, &b), TP_CHELLO_DONE);

	/* Truncated at every length. */
	body_start(&b, 32, 2, 1);
	for (size_t n = b.n; n-- > 0;) {
		struct bb c = b;

		c.n = n;
		ck_assert_int_eq(parse_body(&h, &c), TP_CHELLO_ERROR);
	}

	/* One byte after the compression methods: not an extensions block. */
	body_start(&b, 0, 2, 1);
	bb_u8(&b, 0);
	ck_assert_int_eq(parse_body(&h, &b), TP_CHELLO_ERROR);
	/* An extensions block that overruns, or leaves a byte after it. */
	body_start(&b, 0, 2, 1);
	bb_u16(&b, 5);
	bb_u16(&b, 0x0017);
	bb_u16(&b, 0);
	ck_assert_int_eq(parse_body(&h, &b), TP_CHELLO_ERROR);
	body_start(&b, 0, 2, 1);
	bb_u16(&b, 4);
	bb_u16(&b, 0x0017);
	bb_u16(&b, 0);
	bb_u8(&b, 0);
	ck_assert_int_eq(parse_body(&h, &b), TP_CHELLO_ERROR);
	ck_assert_str_eq(h.error, "extensions do not fill the ClientHello");
	/* An extension that overruns the block, or a block ending inside a type. */
	body_start(&b, 0, 2, 1);
	bb_u16(&b, 4);
	bb_u16(&b, 0x0017);
	bb_u16(&b, 1);
	ck_assert_int_eq(parse_body(&h, &b), TP_CHELLO_ERROR);
	ck_assert_str_eq(h.error, "extension overruns the extensions");
	body_start(&b, 0, 2, 1);
	bb_u16(&b, 1);
	bb_u8(&b, 0);
	ck_assert_int_eq(parse_body(&h, &b), TP_CHELLO_ERROR);
}
END_TEST

START_TEST(repeated_extensions)
{
	struct bb e = {.n = 0};
	struct tp_chello h;

	ext_sni(&e, "a.example", 9);
	ext_sni(&e, "a.example", 9);
	ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_ERROR);
	ck_assert_str_eq(h.error, "repeated extension");
	ck_assert_str_eq(h.sni, "");

	e.n = 0;
	ext_raw(&e, 0xffff, "x", 1);
	ext_sni(&e, "a.example", 9);
	ext_raw(&e, 0xffff, "", 0);
	ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_ERROR);

	/* Many distinct types are fine, GREASE included. */
	e.n = 0;
	for (unsigned t = 0x0a0a; t <= 0xfafa; t += 0x1010)
		ext_raw(&e, t, "", 0);
	for (unsigned t = 20000; t < 22000; t++) /* between GREASE 0x4a4a and 0x5a5a */
		ext_raw(&e, t, "", 0);
	ext_sni(&e, "many.example", 12);
	ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_DONE);
	ck_assert_str_eq(h.sni, "many.example");
}
END_TEST

START_TEST(server_name)
{
	char name[300];
	struct bb e;
	struct tp_chello h;

	memset(name, 'a', sizeof(name));
	for (size_t len = 250; len <= 256; len++) {
		e.n = 0;
		ext_sni(&e, name, len);
		ck_assert_int_eq(parse_exts(&h, &e), len <= 255 ? TP_CHELLO_DONE : TP_CHELLO_ERROR);
		if (len <= 255) {
			ck_assert_uint_eq(h.sni_len, len);
			ck_assert_uint_eq(strlen(h.sni), len);
		} else {
			ck_assert_str_eq(h.error, "server_name longer than 255 bytes");
		}
	}

	e.n = 0;
	ext_sni(&e, "", 0);
	ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_ERROR);
	ck_assert_str_eq(h.error, "empty server_name");

	e.n = 0;
	ext_sni(&e, "a\0b.example", 11);
	ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_ERROR);
	ck_assert_str_eq(h.error, "server_name holds a NUL");

	/* Lower-cased (ASCII only), as Envoy keeps it; other bytes as sent. */
	e.n = 0;
	ext_sni(&e, "WWW.Example.COM", 15);
	ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_DONE);
	ck_assert_str_eq(h.sni, "www.example.com");
	e.n = 0;
	ext_sni(&e, "\xc3\x89T\xc3\xa9.Example", 13);
	ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_DONE);
	ck_assert_str_eq(h.sni, "\xc3\x89t\xc3\xa9.example");

	/* Not a host_name; two names; a list that does not fill the extension; an empty one. */
	{
		static const uint8_t type1[] = {0x00, 0x04, 0x01, 0x00, 0x01, 'x'};
		static const uint8_t two[] = {0x00, 0x08, 0x00, 0x00, 0x01,
					      'x',  0x00, 0x00, 0x01, 'y'};
		static const uint8_t longer[] = {0x00, 0x04, 0x00, 0x00, 0x01, 'x', 0x00};
		static const uint8_t short_list[] = {0x00, 0x05, 0x00, 0x00, 0x01, 'x'};
		static const uint8_t empty_list[] = {0x00, 0x00};

		e.n = 0;
		ext_raw(&e, 0, type1, sizeof(type1));
		ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_ERROR);
		ck_assert_str_eq(h.error, "server_name is not a host_name");
		e.n = 0;
		ext_raw(&e, 0, two, sizeof(two));
		ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_ERROR);
		e.n = 0;
		ext_raw(&e, 0, longer, sizeof(longer));
		ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_ERROR);
		e.n = 0;
		ext_raw(&e, 0, short_list, sizeof(short_list));
		ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_ERROR);
		e.n = 0;
		ext_raw(&e, 0, empty_list, sizeof(empty_list));
		ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_ERROR);
		e.n = 0;
		ext_raw(&e, 0, "", 0);
		ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_ERROR);
		ck_assert_str_eq(h.error, "malformed server_name");
	}

	/* wolfSSL finds the same names in these single-record hellos. */
	{
		static struct bb m, s;
		static const char *const names[] = {"a", "www.example.com", "x.y.z.example.net"};

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			e.n = 0;
			ext_raw(&e, 0x0017, "", 0);
			ext_sni(&e, names[i], strlen(names[i]));
			hello_msg(&m, 0x0303, &e);
			frame(&s, &m, 0);
			ck_assert_int_eq(parse_whole(&h, s.p, s.n), TP_CHELLO_DONE);
			wolf_agrees(&h, s.p, s.n);
		}
	}
}
END_TEST

START_TEST(alpn)
{
	struct bb e = {.n = 0};
	char csv[2000], want[2000];
	struct tp_chello h;

	ext_alpn(&e, "h2,http/1.1");
	ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_DONE);
	assert_alpn(&h, "h2,http/1.1");
	ck_assert(!h.alpn_truncated);

	/* 20 protocols: the first 16 are kept. */
	csv[0] = want[0] = '\0';
	for (int i = 0; i < 20; i++) {
		char p[16];

		snprintf(p, sizeof(p), "%sp%d", i ? "," : "", i);
		strcat(csv, p);
		if (i < TP_CHELLO_ALPN_MAX)
			strcat(want, p);
	}
	e.n = 0;
	ext_alpn(&e, csv);
	ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_DONE);
	assert_alpn(&h, want);
	ck_assert(h.alpn_truncated);

	/* Long names: those that fit the buffer, in order. */
	{
		char n255[256];

		memset(n255, 'n', 255);
		n255[255] = '\0';
		snprintf(csv, sizeof(csv), "h2,%s,%s,h3", n255, n255);
		snprintf(want, sizeof(want), "h2,%s", n255);
		e.n = 0;
		ext_alpn(&e, csv);
		ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_DONE);
		assert_alpn(&h, want);
		ck_assert(h.alpn_truncated);
	}

	/* Malformed: ignored, as Envoy's onALPN does; the hello is still TLS. */
	{
		static const uint8_t empty_name[] = {0x00, 0x04, 0x02, 'h', '2', 0x00};
		static const uint8_t short_list[] = {0x00, 0x01, 0x00};
		static const uint8_t overrun[] = {0x00, 0x03, 0x05, 'h', '2'};
		static const uint8_t trailing[] = {0x00, 0x03, 0x02, 'h', '2', 0x00};
		static const uint8_t inner_overrun[] = {0x00, 0x09, 0x02, 'h', '2'};
		const uint8_t *bad[] = {empty_name, short_list, overrun, trailing, inner_overrun};
		size_t len[] = {sizeof(empty_name), sizeof(short_list), sizeof(overrun),
				sizeof(trailing), sizeof(inner_overrun)};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			e.n = 0;
			ext_sni(&e, "alpn.example", 12);
			ext_raw(&e, 16, bad[i], len[i]);
			ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_DONE);
			ck_assert_uint_eq(h.n_alpn, 0);
			ck_assert(!h.alpn_truncated);
			ck_assert_str_eq(h.sni, "alpn.example");
		}
		e.n = 0;
		ext_raw(&e, 16, "", 0);
		ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_DONE);
		ck_assert_uint_eq(h.n_alpn, 0);
	}
}
END_TEST

START_TEST(versions)
{
	static struct bb m, s;
	static const unsigned tls13[] = {0x3a3a, 0x0304, 0x0303};
	static const unsigned odd[] = {0x7f1c, 0x0302, 0x0300};
	struct bb e = {.n = 0};
	struct tp_chello h;

	ext_versions(&e, tls13, 3);
	ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_DONE);
	ck_assert_uint_eq(h.versions, TP_CHELLO_TLS13 | TP_CHELLO_TLS12);

	e.n = 0;
	ext_versions(&e, odd, 3);
	ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_DONE);
	ck_assert_uint_eq(h.versions, TP_CHELLO_TLS11 | TP_CHELLO_SSL3);

	/* Malformed: nothing offered (BoringSSL refuses it when it negotiates). */
	{
		static const uint8_t odd_list[] = {0x03, 0x03, 0x04, 0x03};
		static const uint8_t empty[] = {0x00};
		static const uint8_t trailing[] = {0x02, 0x03, 0x04, 0x00};

		e.n = 0;
		ext_raw(&e, 43, odd_list, sizeof(odd_list));
		ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_DONE);
		ck_assert_uint_eq(h.versions, 0);
		e.n = 0;
		ext_raw(&e, 43, empty, sizeof(empty));
		ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_DONE);
		ck_assert_uint_eq(h.versions, 0);
		e.n = 0;
		ext_raw(&e, 43, trailing, sizeof(trailing));
		ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_DONE);
		ck_assert_uint_eq(h.versions, 0);
	}

	/* Without supported_versions: the legacy version. */
	{
		static const struct {
			unsigned legacy;
			uint8_t versions;
		} legacy[] = {
			{0x0305, TP_CHELLO_TLS12 | TP_CHELLO_TLS11 | TP_CHELLO_TLS10},
			{0x0302, TP_CHELLO_TLS11 | TP_CHELLO_TLS10},
			{0x0301, TP_CHELLO_TLS10},
			{0x0300, TP_CHELLO_SSL3},
			{0x0002, 0},
		};

		for (size_t i = 0; i < sizeof(legacy) / sizeof(legacy[0]); i++) {
			hello_msg(&m, legacy[i].legacy, NULL);
			frame(&s, &m, 0);
			ck_assert_int_eq(parse_whole(&h, s.p, s.n), TP_CHELLO_DONE);
			ck_assert_uint_eq(h.legacy_version, legacy[i].legacy);
			ck_assert_uint_eq(h.versions, legacy[i].versions);
		}
	}
}
END_TEST

START_TEST(encrypted_client_hello)
{
	static const uint8_t outer[] = {0x00, 0x00, 0x01, 0x00, 0x01, 0x2a, 0x00,
					0x02, 0xee, 0xee, 0x00, 0x01, 0x99};
	static const uint8_t inner[] = {0x01};
	struct bb e = {.n = 0};
	struct tp_chello h;

	ext_sni(&e, "public.example", 14);
	ext_raw(&e, 0xfe0d, outer, sizeof(outer));
	ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_DONE);
	ck_assert_str_eq(h.sni, "public.example");

	e.n = 0;
	ext_raw(&e, 0xfe0d, inner, sizeof(inner));
	ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_DONE);

	e.n = 0;
	ext_raw(&e, 0xfe0d, outer, sizeof(outer) - 1);
	ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_ERROR);
	ck_assert_str_eq(h.error, "malformed encrypted_client_hello");
	e.n = 0;
	ext_raw(&e, 0xfe0d, "", 0);
	ck_assert_int_eq(parse_exts(&h, &e), TP_CHELLO_ERROR);
}
END_TEST

/* An SSLv2-compatible ClientHello: 2-byte length with the top bit, type 1, version, lengths of
 * the cipher specs, session id and challenge, then those. */
static void v2_hello(struct bb *s, unsigned version, const uint8_t *specs, size_t nspecs)
{
	size_t len = 9 + nspecs + 16;

	s->n = 0;
	bb_u16(s, 0x8000 | (unsigned)len);
	bb_u8(s, 1);
	bb_u16(s, version);
	bb_u16(s, (unsigned)nspecs);
	bb_u16(s, 0);
	bb_u16(s, 16);
	bb_bytes(s, specs, nspecs);
	bb_fill(s, 0xcc, 16);
}

START_TEST(sslv2_compatible)
{
	static const uint8_t specs[] = {0x00, 0x00, 0x2f, 0x01, 0x00, 0x80, 0x00, 0xc0, 0x2f};
	static const uint8_t v2_only[] = {0x01, 0x00, 0x80, 0x07, 0x00, 0xc0};
	static struct bb s;
	struct tp_chello h;

	/* BoringSSL still takes them: TLS, without extensions. */
	v2_hello(&s, 0x0301, specs, sizeof(specs));
	ck_assert_int_eq(parse_all_ways(&h, s.p, s.n, true), TP_CHELLO_DONE);
	ck_assert(h.v2);
	ck_assert_uint_eq(h.legacy_version, 0x0301);
	ck_assert_uint_eq(h.versions, TP_CHELLO_TLS10);
	ck_assert_uint_eq(h.sni_len, 0);
	ck_assert_uint_eq(h.n_alpn, 0);
	ck_assert_uint_eq(h.bytes, s.n);

	v2_hello(&s, 0x0303, v2_only, sizeof(v2_only));
	ck_assert_int_eq(parse_all_ways(&h, s.p, s.n, true), TP_CHELLO_ERROR);
	ck_assert_str_eq(h.error, "SSLv2 ClientHello offers no TLS cipher suite");
	v2_hello(&s, 0x0303, specs, sizeof(specs) - 1);
	ck_assert_int_eq(parse_all_ways(&h, s.p, s.n, true), TP_CHELLO_ERROR);
	ck_assert_str_eq(h.error, "SSLv2 cipher specs not 3 bytes each");
	v2_hello(&s, 0x0303, specs, sizeof(specs));
	s.p[1]++;
	bb_u8(&s, 0);
	ck_assert_int_eq(parse_all_ways(&h, s.p, s.n, true), TP_CHELLO_ERROR);
	ck_assert_str_eq(h.error, "SSLv2 ClientHello lengths do not add up");

	/* Lengths over 4096 or under 3 are refused at once. */
	{
		static const uint8_t big[] = {0x90, 0x01, 0x01, 0x03, 0x01};
		static const uint8_t tiny[] = {0x80, 0x02, 0x01, 0x03, 0x01};

		ck_assert_int_eq(parse_all_ways(&h, big, sizeof(big), true), TP_CHELLO_ERROR);
		ck_assert_int_eq(parse_all_ways(&h, tiny, sizeof(tiny), true), TP_CHELLO_ERROR);
	}
	/* Too short for its fields. */
	{
		static const uint8_t short8[] = {0x80, 0x08, 0x01, 0x03, 0x01, 0, 0, 0, 0, 0};

		ck_assert_int_eq(parse_all_ways(&h, short8, sizeof(short8), true), TP_CHELLO_ERROR);
		ck_assert_str_eq(h.error, "SSLv2 ClientHello too short");
	}
	/* Beyond a small window, or a window too small to tell. */
	tp_chello_init(&h, 3);
	ck_assert_int_eq(tp_chello_parse(&h, (const uint8_t *)"\x80\x40\x01\x03", 4),
			 TP_CHELLO_TOO_LARGE);
	ck_assert_str_eq(h.error, "no ClientHello within the window");
	v2_hello(&s, 0x0301, specs, sizeof(specs));
	tp_chello_init(&h, s.n - 1);
	ck_assert_int_eq(tp_chello_parse(&h, s.p, 4), TP_CHELLO_TOO_LARGE);
}
END_TEST

/* A hello padded (extension 21) to exactly total bytes of stream in records of at most frag. */
static void padded(struct bb *s, size_t total, size_t frag)
{
	static struct bb m;
	struct bb e = {.n = 0};
	long pad = 0;

	/* The record count changes with the size: a few rounds settle it. */
	s->n = 0;
	for (int round = 0; round < 8 && s->n != total; round++) {
		e.n = 0;
		ext_sni(&e, "pad.example", 11);
		bb_u16(&e, 21);
		bb_u16(&e, (unsigned)pad);
		bb_fill(&e, 0, (size_t)pad);
		hello_msg(&m, 0x0303, &e);
		frame(s, &m, frag);
		pad += (long)total - (long)s->n;
		ck_assert_int_ge(pad, 0);
	}
	ck_assert_uint_eq(s->n, total);
}

START_TEST(window)
{
	static struct bb s;
	struct tp_chello h;

	/* A hello that ends on the window's last byte; one byte more is too large, which the
	 * record header already tells. */
	padded(&s, TP_CHELLO_MAX_BYTES, 0);
	ck_assert_int_eq(parse_all_ways(&h, s.p, s.n, false), TP_CHELLO_DONE);
	ck_assert_str_eq(h.sni, "pad.example");
	padded(&s, TP_CHELLO_MAX_BYTES + 1, 0);
	ck_assert_int_eq(parse_all_ways(&h, s.p, s.n, false), TP_CHELLO_TOO_LARGE);
	ck_assert_uint_eq(h.bytes, 5);

	/* The same over several records: the record that would cross the window is refused at
	 * its header. */
	padded(&s, 16000, 4000);
	ck_assert_int_eq(parse_all_ways(&h, s.p, s.n, false), TP_CHELLO_DONE);
	padded(&s, 16413, 4000);
	ck_assert_int_eq(parse_all_ways(&h, s.p, s.n, false), TP_CHELLO_TOO_LARGE);
	ck_assert_uint_eq(h.bytes, 4 * 4005 + 5);

	/* A smaller window (max_client_hello_size), and 0 for the default. */
	padded(&s, 600, 0);
	tp_chello_init(&h, 600);
	ck_assert_int_eq(tp_chello_parse(&h, s.p, s.n), TP_CHELLO_DONE);
	tp_chello_init(&h, 599);
	ck_assert_int_eq(tp_chello_parse(&h, s.p, 5), TP_CHELLO_TOO_LARGE);
	tp_chello_init(&h, 0);
	ck_assert_uint_eq(h.max, TP_CHELLO_MAX_BYTES);
	tp_chello_init(&h, 1 << 20);
	ck_assert_uint_eq(h.max, TP_CHELLO_MAX_BYTES);

	/* Empty records up to the window and no hello: the window fills undecided. */
	s.n = 0;
	for (int i = 0; i < 32; i++)
		record(&s, 0x16, NULL, 0);
	tp_chello_init(&h, 32 * 5 + 3);
	ck_assert_int_eq(tp_chello_parse(&h, s.p, s.n), TP_CHELLO_TOO_LARGE);
	tp_chello_init(&h, 32 * 5);
	ck_assert_int_eq(tp_chello_parse(&h, s.p, s.n), TP_CHELLO_TOO_LARGE);

	/* A stream longer than the window is read only up to it. */
	padded(&s, 1000, 0);
	memset(s.p + s.n, 0x16, sizeof(s.p) - s.n);
	ck_assert_int_eq(parse_whole(&h, s.p, sizeof(s.p)), TP_CHELLO_DONE);
}
END_TEST

START_TEST(decided_stays)
{
	static struct bb m, s;
	struct bb e = {.n = 0};
	struct tp_chello h;

	ext_sni(&e, "sticky.example", 14);
	ext_alpn(&e, "h2");
	hello_msg(&m, 0x0303, &e);
	frame(&s, &m, 0);
	ck_assert_int_eq(parse_whole(&h, s.p, s.n), TP_CHELLO_DONE);
	ck_assert_int_eq(tp_chello_parse(&h, (const uint8_t *)"GET /", 5), TP_CHELLO_DONE);
	ck_assert_str_eq(h.sni, "sticky.example");
	assert_alpn(&h, "h2");

	ck_assert_str_eq(tp_chello_result_name(TP_CHELLO_NEED_MORE), "need_more");
	ck_assert_str_eq(tp_chello_result_name(TP_CHELLO_DONE), "done");
	ck_assert_str_eq(tp_chello_result_name(TP_CHELLO_NOT_TLS), "not_tls");
	ck_assert_str_eq(tp_chello_result_name(TP_CHELLO_ERROR), "error");
	ck_assert_str_eq(tp_chello_result_name(TP_CHELLO_TOO_LARGE), "too_large");
}
END_TEST

/* The contract is broken (the bytes change between calls, record headers included): answers
 * may differ, but nothing is read outside the buffer (AddressSanitizer in SANITIZE=1). */
START_TEST(changed_input)
{
	static struct bb m, s, t;
	struct bb e = {.n = 0};
	struct tp_chello h;

	ext_sni(&e, "changed.example", 15);
	ext_alpn(&e, "h2,http/1.1");
	hello_msg(&m, 0x0303, &e);
	frame(&s, &m, 40);
	for (size_t at = 0; at + 1 < s.n; at++) {
		for (unsigned v = 0; v < 256; v += 51) {
			t = s;
			tp_chello_init(&h, 0);
			ck_assert_int_eq(tp_chello_parse(&h, s.p, at), TP_CHELLO_NEED_MORE);
			for (size_t i = 0; i < at; i++)
				t.p[i] ^= (uint8_t)v;
			tp_chello_parse(&h, t.p, t.n);
			ck_assert_int_ne(h.result, TP_CHELLO_NEED_MORE);
		}
	}
}
END_TEST

static Suite *clienthello_suite(void)
{
	Suite *s = suite_create("clienthello");
	TCase *tc = tcase_create("clienthello");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, real_clients, 0, sizeof(fixtures) / sizeof(fixtures[0]));
	tcase_add_test(tc, no_extensions);
	tcase_add_test(tc, not_tls);
	tcase_add_test(tc, records);
	tcase_add_test(tc, handshake_framing);
	tcase_add_test(tc, body_layout);
	tcase_add_test(tc, repeated_extensions);
	tcase_add_test(tc, server_name);
	tcase_add_test(tc, alpn);
	tcase_add_test(tc, versions);
	tcase_add_test(tc, encrypted_client_hello);
	tcase_add_test(tc, sslv2_compatible);
	tcase_add_test(tc, window);
	tcase_add_test(tc, decided_stays);
	tcase_add_test(tc, changed_input);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(clienthello_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* The TLS ClientHello parser: a walk over the TLS records as the bytes arrive, which checks the
 * framing; once the handshake message is complete, one parse of it with the checks BoringSSL
 * makes before Envoy's tls_inspector callback runs. What Envoy would decide only after reading
 * more, but must decide the same whatever those bytes are, is decided at once. */
#include "core/tls/clienthello.h"

#include <string.h>

#define REC_HANDSHAKE 0x16
#define REC_HDR_LEN   5
/* BoringSSL refuses a record longer than this at its header (SSL3_RT_MAX_ENCRYPTED_LENGTH). */
#define REC_MAX_LEN (16384 + 256 + 64)
/* Consecutive empty records BoringSSL takes (kMaxEmptyRecords); one more is an error. */
#define MAX_EMPTY_RECORDS 32
#define HS_CLIENT_HELLO	  1
/* The longest first handshake message a server takes (ssl_max_handshake_message_len()). */
#define HS_MAX_LEN 16384
/* An SSLv2-compatible ClientHello: longer is refused, shorter cannot hold its header. */
#define V2_MAX_LEN 4096
#define V2_MIN_LEN 3

#define EXT_SERVER_NAME	       0
#define EXT_ALPN	       16
#define EXT_SUPPORTED_VERSIONS 43
#define EXT_ECH		       0xfe0d
#define ECH_CLIENT_OUTER       0

enum { S_START, S_REC_HDR, S_REC_BODY };

/* What a step returns to go on walking; anything else is the call's result. */
#define WALK_ON (-1)

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

void tp_chello_init(struct tp_chello *h, size_t max_bytes)
{
	memset(h, 0, sizeof(*h));
	h->max = max_bytes && max_bytes < TP_CHELLO_MAX_BYTES ? (uint32_t)max_bytes
							      : TP_CHELLO_MAX_BYTES;
}

static int finish(struct tp_chello *h, enum tp_chello_result r, const char *why, size_t bytes)
{
	if (r != TP_CHELLO_DONE) {
		/* Half-filled fields of a hello found malformed late must not be read. */
		h->sni_len = 0;
		h->sni[0] = '\0';
		h->n_alpn = 0;
		h->alpn_len = 0;
		h->alpn_truncated = false;
		h->versions = 0;
		h->legacy_version = 0;
		h->v2 = false;
	}
	h->result = (uint8_t)r;
	h->error = why;
	h->bytes = (uint32_t)bytes;
	return r;
}

/* Nothing decided with len bytes: more are needed, unless the window is full. */
static int need(struct tp_chello *h, size_t len)
{
	if (len >= h->max)
		return finish(h, TP_CHELLO_TOO_LARGE, "no ClientHello within the window", len);
	return TP_CHELLO_NEED_MORE;
}

/* The protocol versions a legacy version implies when supported_versions is absent, as
 * BoringSSL's negotiate_version() reads them. */
static uint8_t implied_versions(uint16_t v)
{
	if (v >= 0x0303)
		return TP_CHELLO_TLS12 | TP_CHELLO_TLS11 | TP_CHELLO_TLS10;
	if (v >= 0x0302)
		return TP_CHELLO_TLS11 | TP_CHELLO_TLS10;
	if (v >= 0x0301)
		return TP_CHELLO_TLS10;
	return v == 0x0300 ? TP_CHELLO_SSL3 : 0;
}

static uint8_t version_bit(uint16_t v)
{
	switch (v) {
	case 0x0300:
		return TP_CHELLO_SSL3;
	case 0x0301:
		return TP_CHELLO_TLS10;
	case 0x0302:
		return TP_CHELLO_TLS11;
	case 0x0303:
		return TP_CHELLO_TLS12;
	case 0x0304:
		return TP_CHELLO_TLS13;
	}
	return 0;
}

/* An SSLv2-compatible ClientHello (m: its msg_len bytes after the 2-byte length), which
 * BoringSSL still takes and turns into a ClientHello without extensions
 * (read_v2_client_hello()): the lengths must add up, the cipher specs are 3 bytes each, and at
 * least one must be a TLS suite (first byte 0), else the converted hello has no suites. */
static int parse_v2(struct tp_chello *h, const uint8_t *m, size_t msg_len)
{
	size_t specs, sid, challenge;
	bool tls_suite = false;

	if (msg_len < 9)
		return finish(h, TP_CHELLO_ERROR, "SSLv2 ClientHello too short", 2 + msg_len);
	specs = be16(m + 3);
	sid = be16(m + 5);
	challenge = be16(m + 7);
	if (9 + specs + sid + challenge != msg_len)
		return finish(h, TP_CHELLO_ERROR, "SSLv2 ClientHello lengths do not add up",
			      2 + msg_len);
	if (specs % 3)
		return finish(h, TP_CHELLO_ERROR, "SSLv2 cipher specs not 3 bytes each",
			      2 + msg_len);
	for (size_t i = 0; i < specs; i += 3)
		tls_suite |= m[9 + i] == 0;
	if (!tls_suite)
		return finish(h, TP_CHELLO_ERROR, "SSLv2 ClientHello offers no TLS cipher suite",
			      2 + msg_len);
	h->v2 = true;
	h->legacy_version = be16(m + 1);
	h->versions = implied_versions(h->legacy_version);
	return finish(h, TP_CHELLO_DONE, NULL, 2 + msg_len);
}

/* The first bytes: a handshake record, an SSLv2-compatible ClientHello, or not TLS. */
static int start(struct tp_chello *h, const uint8_t *buf, size_t len)
{
	size_t msg_len;

	if (len < 1)
		return need(h, len);
	if (buf[0] == REC_HANDSHAKE) {
		h->state = S_REC_HDR;
		return WALK_ON;
	}
	/* SSLv2: a 2-byte length with its top bit set, then type 1 and version major 3. */
	if (!(buf[0] & 0x80))
		return finish(h, TP_CHELLO_NOT_TLS, "not a TLS handshake record", 1);
	if ((len >= 3 && buf[2] != HS_CLIENT_HELLO) || (len >= 4 && buf[3] != 3))
		return finish(h, TP_CHELLO_NOT_TLS, "not an SSLv2-compatible ClientHello",
			      buf[2] != HS_CLIENT_HELLO ? 3 : 4);
	if (len < 4)
		return need(h, len);
	msg_len = (size_t)(buf[0] & 0x7f) << 8 | buf[1];
	if (msg_len > V2_MAX_LEN || msg_len < V2_MIN_LEN)
		return finish(h, TP_CHELLO_ERROR, "SSLv2 ClientHello length out of bounds", 2);
	if (2 + msg_len > h->max)
		return finish(h, TP_CHELLO_TOO_LARGE,
			      "SSLv2 ClientHello does not end within the window", 2);
	if (len < 2 + msg_len)
		return need(h, len);
	return parse_v2(h, buf + 2, msg_len);
}

/* A record header. Its type and version are checked as soon as they arrive; a record that
 * cannot end within the window is TOO_LARGE at once, as BoringSSL would wait for it in vain. */
static int record_header(struct tp_chello *h, const uint8_t *buf, size_t len)
{
	size_t pos = h->pos, have = len > pos ? len - pos : 0, rlen;
	bool first = pos == 0;

	if (have >= 1 && buf[pos] != REC_HANDSHAKE)
		return finish(h, TP_CHELLO_ERROR, "a record of another type inside the ClientHello",
			      pos + 1);
	/* BoringSSL checks only the major version of a record before the handshake. */
	if (have >= 2 && buf[pos + 1] != 3)
		return finish(h, first ? TP_CHELLO_NOT_TLS : TP_CHELLO_ERROR,
			      "record version is not 3.x", pos + 2);
	if (have < REC_HDR_LEN) {
		if (pos + REC_HDR_LEN > h->max)
			return finish(h, TP_CHELLO_TOO_LARGE,
				      "record header does not fit the window", len);
		return need(h, len);
	}
	rlen = be16(buf + pos + 3);
	if (rlen > REC_MAX_LEN)
		return finish(h, TP_CHELLO_ERROR, "record too long", pos + REC_HDR_LEN);
	if (pos + REC_HDR_LEN + rlen > h->max)
		return finish(h, TP_CHELLO_TOO_LARGE, "record does not end within the window",
			      pos + REC_HDR_LEN);
	h->pos += REC_HDR_LEN;
	h->rec_left = (uint32_t)rlen;
	if (!rlen) {
		if (++h->n_empty > MAX_EMPTY_RECORDS)
			return finish(h, TP_CHELLO_ERROR, "too many empty records", h->pos);
		return WALK_ON;
	}
	h->n_empty = 0;
	h->state = S_REC_BODY;
	return WALK_ON;
}

/* A view of the next `left` bytes of the handshake message, which may run across records: a
 * CBS (BoringSSL's byte string) over fragments. The record headers it steps over were checked
 * by the walk; every read is still bounded by end, so a caller that changed the bytes between
 * calls gets an error, never a read outside buf. */
struct rd {
	const uint8_t *buf;
	size_t end;	 /* bytes in buf */
	size_t pos;	 /* the next byte */
	size_t rec_left; /* bytes of the current record's body from pos */
	size_t left;	 /* bytes of this view from pos */
};

/* How many of the next want (at most r->left) bytes are contiguous at r->pos, stepping over
 * record headers first; 0 when buf ends. pos never passes end. */
static size_t rd_chunk(struct rd *r, size_t want)
{
	size_t n;

	while (!r->rec_left) {
		if (r->end - r->pos < REC_HDR_LEN)
			return 0;
		r->rec_left = be16(r->buf + r->pos + 3);
		r->pos += REC_HDR_LEN;
	}
	n = r->rec_left < want ? r->rec_left : want;
	return n < r->end - r->pos ? n : r->end - r->pos;
}

/* Copies (dst) or skips (dst NULL) the next n bytes. */
static bool rd_take(struct rd *r, uint8_t *dst, size_t n)
{
	if (n > r->left)
		return false;
	while (n) {
		size_t c = rd_chunk(r, n);

		if (!c)
			return false;
		if (dst) {
			memcpy(dst, r->buf + r->pos, c);
			dst += c;
		}
		r->pos += c;
		r->rec_left -= c;
		r->left -= c;
		n -= c;
	}
	return true;
}

static bool rd_u8(struct rd *r, uint8_t *v)
{
	return rd_take(r, v, 1);
}

static bool rd_u16(struct rd *r, uint16_t *v)
{
	uint8_t b[2];

	if (!rd_take(r, b, 2))
		return false;
	*v = be16(b);
	return true;
}

/* The next n bytes as a view of their own. */
static bool rd_sub(struct rd *r, size_t n, struct rd *sub)
{
	if (n > r->left)
		return false;
	*sub = *r;
	sub->left = n;
	return rd_take(r, NULL, n);
}

static bool rd_u8_prefixed(struct rd *r, struct rd *sub)
{
	uint8_t n;

	return rd_u8(r, &n) && rd_sub(r, n, sub);
}

static bool rd_u16_prefixed(struct rd *r, struct rd *sub)
{
	uint16_t n;

	return rd_u16(r, &n) && rd_sub(r, n, sub);
}

/* server_name as BoringSSL's extract_sni() takes it: exactly one name, of type host_name, 1 to
 * 255 bytes, no NUL; anything else fails the handshake. Stored ASCII lower-cased, as Envoy's
 * setRequestedServerName() keeps it. NULL, or why it is refused. */
static const char *take_sni(struct tp_chello *h, struct rd *ext)
{
	struct rd list, name;
	uint8_t type;
	size_t n;

	if (!rd_u16_prefixed(ext, &list) || ext->left || !rd_u8(&list, &type) ||
	    !rd_u16_prefixed(&list, &name) || list.left)
		return "malformed server_name";
	if (type != 0)
		return "server_name is not a host_name";
	n = name.left;
	if (!n)
		return "empty server_name";
	if (n > TP_CHELLO_SNI_MAX)
		return "server_name longer than 255 bytes";
	if (!rd_take(&name, (uint8_t *)h->sni, n))
		return "malformed server_name";
	if (memchr(h->sni, '\0', n))
		return "server_name holds a NUL";
	for (size_t i = 0; i < n; i++)
		if (h->sni[i] >= 'A' && h->sni[i] <= 'Z')
			h->sni[i] = (char)(h->sni[i] - 'A' + 'a');
	h->sni[n] = '\0';
	h->sni_len = (uint8_t)n;
	return NULL;
}

/* ALPN as Envoy's onALPN() reads it: a list of at least 2 bytes filling the extension, of
 * non-empty names. A malformed one is ignored, not an error ("let the real TLS stack do it").
 * The first names that fit are kept, in order. */
static void take_alpn(struct tp_chello *h, struct rd *ext)
{
	struct rd list, walk, name;

	if (!rd_u16_prefixed(ext, &list) || ext->left || list.left < 2)
		return;
	walk = list;
	while (walk.left)
		if (!rd_u8_prefixed(&walk, &name) || !name.left)
			return;
	while (list.left && rd_u8_prefixed(&list, &name)) {
		if (h->n_alpn == TP_CHELLO_ALPN_MAX ||
		    h->alpn_len + 1 + name.left > TP_CHELLO_ALPN_BUF_MAX) {
			h->alpn_truncated = true;
			break;
		}
		h->alpn[h->alpn_len] = (uint8_t)name.left;
		if (!rd_take(&name, h->alpn + h->alpn_len + 1, name.left))
			break;
		h->alpn_len += 1 + h->alpn[h->alpn_len];
		h->n_alpn++;
	}
}

/* supported_versions: a u8-prefixed list of versions filling the extension; malformed (which
 * BoringSSL refuses while negotiating) offers nothing. */
static uint8_t offered_versions(struct rd *ext)
{
	struct rd list;
	uint16_t v;
	uint8_t bits = 0;

	if (!rd_u8_prefixed(ext, &list) || ext->left || !list.left || list.left % 2)
		return 0;
	while (rd_u16(&list, &v))
		bits |= version_bit(v);
	return bits;
}

/* The encrypted_client_hello of a ClientHelloOuter must parse (decrypt_ech()); with no ECH keys
 * BoringSSL then goes on with the outer hello, as do we. */
static bool ech_well_formed(struct rd *ext)
{
	struct rd enc, payload;
	uint16_t kdf, aead;
	uint8_t type, config_id;

	if (!rd_u8(ext, &type))
		return false;
	if (type != ECH_CLIENT_OUTER)
		return true;
	return rd_u16(ext, &kdf) && rd_u16(ext, &aead) && rd_u8(ext, &config_id) &&
	       rd_u16_prefixed(ext, &enc) && rd_u16_prefixed(ext, &payload) && !ext->left;
}

/* The whole ClientHello has been walked, its last record ends with it: BoringSSL's
 * SSL_parse_client_hello() (layout, no repeated extension, nothing after the extensions),
 * decrypt_ech() and extract_sni(); then what Envoy reads (ALPN) and versions. */
static int parse_hello(struct tp_chello *h, const uint8_t *buf, size_t len)
{
	/* A bit per extension type: 8 KiB of stack for one parse, where a sort would need a copy
	 * of the types and a pairwise check is quadratic in a peer's count. */
	uint64_t seen[65536 / 64];
	struct rd r = {.buf = buf,
		       .end = len,
		       .pos = h->msg_pos,
		       .rec_left = h->msg_rec_left,
		       .left = h->msg_len};
	struct rd sid, suites, comp, ext, exts = {0}, sni = {0}, alpn = {0}, sv = {0}, ech = {0};
	bool has_sni = false, has_alpn = false, has_sv = false, has_ech = false;
	const char *why;
	uint16_t type;

	if (!rd_take(&r, NULL, 4) || !rd_u16(&r, &h->legacy_version) || !rd_take(&r, NULL, 32) ||
	    !rd_u8_prefixed(&r, &sid))
		return finish(h, TP_CHELLO_ERROR, "ClientHello truncated", h->pos);
	if (sid.left > 32)
		return finish(h, TP_CHELLO_ERROR, "session id longer than 32 bytes", h->pos);
	if (!rd_u16_prefixed(&r, &suites) || suites.left < 2 || suites.left % 2)
		return finish(h, TP_CHELLO_ERROR, "malformed cipher suites", h->pos);
	if (!rd_u8_prefixed(&r, &comp) || !comp.left)
		return finish(h, TP_CHELLO_ERROR, "malformed compression methods", h->pos);
	/* Without extensions the hello ends here; with, they fill the rest exactly. */
	if (r.left && (!rd_u16_prefixed(&r, &exts) || r.left))
		return finish(h, TP_CHELLO_ERROR, "extensions do not fill the ClientHello", h->pos);
	memset(seen, 0, sizeof(seen));
	while (exts.left) {
		if (!rd_u16(&exts, &type) || !rd_u16_prefixed(&exts, &ext))
			return finish(h, TP_CHELLO_ERROR, "extension overruns the extensions",
				      h->pos);
		if (seen[type / 64] & (1ull << (type % 64)))
			return finish(h, TP_CHELLO_ERROR, "repeated extension", h->pos);
		seen[type / 64] |= 1ull << (type % 64);
		switch (type) {
		case EXT_SERVER_NAME:
			sni = ext;
			has_sni = true;
			break;
		case EXT_ALPN:
			alpn = ext;
			has_alpn = true;
			break;
		case EXT_SUPPORTED_VERSIONS:
			sv = ext;
			has_sv = true;
			break;
		case EXT_ECH:
			ech = ext;
			has_ech = true;
			break;
		}
	}
	if (has_ech && !ech_well_formed(&ech))
		return finish(h, TP_CHELLO_ERROR, "malformed encrypted_client_hello", h->pos);
	if (has_sni && (why = take_sni(h, &sni)))
		return finish(h, TP_CHELLO_ERROR, why, h->pos);
	h->versions = has_sv ? offered_versions(&sv) : implied_versions(h->legacy_version);
	if (has_alpn)
		take_alpn(h, &alpn);
	return finish(h, TP_CHELLO_DONE, NULL, h->pos);
}

/* Bytes of a handshake record's body: the message header (checked as it arrives), then the
 * body, which is parsed once it is all there. */
static int record_body(struct tp_chello *h, const uint8_t *buf, size_t len)
{
	size_t have = len > h->pos ? len - h->pos : 0;
	size_t n = have < h->rec_left ? have : h->rec_left, take;

	if (!n)
		return need(h, len);
	if (!h->msg_seen) {
		h->msg_pos = h->pos;
		h->msg_rec_left = h->rec_left;
	}
	while (h->msg_seen < 4 && n) {
		h->hdr[h->msg_seen++] = buf[h->pos++];
		h->rec_left--;
		n--;
		if (h->msg_seen == 1 && h->hdr[0] != HS_CLIENT_HELLO)
			return finish(h, TP_CHELLO_NOT_TLS,
				      "first handshake message is not a ClientHello", h->pos);
		if (h->msg_seen == 4) {
			uint32_t body = (uint32_t)h->hdr[1] << 16 | h->hdr[2] << 8 | h->hdr[3];

			if (body > HS_MAX_LEN)
				return finish(h, TP_CHELLO_ERROR,
					      "ClientHello longer than 16384 bytes", h->pos);
			h->msg_len = 4 + body;
		}
	}
	if (h->msg_seen >= 4) {
		take = h->msg_len - h->msg_seen;
		take = n < take ? n : take;
		h->pos += (uint32_t)take;
		h->rec_left -= (uint32_t)take;
		h->msg_seen += (uint32_t)take;
		if (h->msg_seen == h->msg_len) {
			/* BoringSSL reads the whole record and wants nothing after the hello. */
			if (h->rec_left)
				return finish(h, TP_CHELLO_ERROR,
					      "bytes after the ClientHello in its record", h->pos);
			return parse_hello(h, buf, len);
		}
	}
	if (!h->rec_left)
		h->state = S_REC_HDR;
	return WALK_ON;
}

enum tp_chello_result tp_chello_parse(struct tp_chello *h, const uint8_t *buf, size_t len)
{
	int r = WALK_ON;

	if (h->result != TP_CHELLO_NEED_MORE)
		return (enum tp_chello_result)h->result;
	if (len > h->max)
		len = h->max;
	while (r == WALK_ON) {
		switch (h->state) {
		case S_START:
			r = start(h, buf, len);
			break;
		case S_REC_HDR:
			r = record_header(h, buf, len);
			break;
		default:
			r = record_body(h, buf, len);
			break;
		}
	}
	return (enum tp_chello_result)r;
}

const uint8_t *tp_chello_alpn(const struct tp_chello *h, unsigned i, size_t *len)
{
	size_t off = 0;

	if (i >= h->n_alpn)
		return NULL;
	while (i--)
		off += 1 + h->alpn[off];
	*len = h->alpn[off];
	return h->alpn + off + 1;
}

const char *tp_chello_result_name(enum tp_chello_result r)
{
	switch (r) {
	case TP_CHELLO_NEED_MORE:
		return "need_more";
	case TP_CHELLO_DONE:
		return "done";
	case TP_CHELLO_NOT_TLS:
		return "not_tls";
	case TP_CHELLO_ERROR:
		return "error";
	case TP_CHELLO_TOO_LARGE:
		return "too_large";
	}
	return "?";
}

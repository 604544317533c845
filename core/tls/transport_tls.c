/* The TLS transport on wolfSSL: one side of a connection speaks TLS, server (a filter chain's
 * DownstreamTlsContext) or client (a cluster's UpstreamTlsContext).
 *
 * I/O: wolfSSL's callbacks recv and send on the side's non-blocking socket directly, never
 * through the ring (readiness still comes from the ring's polls). wolfSSL reads a record's
 * 5-byte header, then exactly its body, so it never holds socket bytes it has not decrypted;
 * what it has decrypted and not handed out is pending(). A send the socket takes only in part
 * keeps the rest in a tx buffer (malloc'd when first needed, freed once drained: an idle
 * connection holds none) and reports the whole record sent; before each wolfSSL_write the tx
 * buffer has room for a whole record, so the callback never answers WANT_WRITE in the middle of
 * one (wolfSSL would then need the same write repeated with the same arguments).
 *
 * Contexts: every WOLFSSL_CTX is built in the worker after fork (ctx_new), never inherited, from
 * bytes the master read at load; the same builder runs once at load on a throwaway context so
 * that a bad certificate is a config error (core/tls/tls_cfg.c). A server has one context per
 * certificate: the SNI callback moves a connection to the one whose names match.
 *
 * Stats are Envoy's ssl.* under the owner's scope (listener.<addr>.ssl, cluster.<name>.ssl),
 * counted as Envoy's SslSocket / ContextImpl count them. */
#include "core/tls/tls.h"

#include "core/accesslog/format-t.h"
#include "core/base/log.h"
#include "core/base/match.h"
#include "core/conn/conn-t.h"
#include "core/tls/tls_int.h"
#include "shm/stats.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/openssl/x509v3.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* The most one wolfSSL_write is given: one record's plaintext. */
#define RECORD_PLAIN 16384
/* Room a whole record needs once encrypted (header, explicit nonce or content type, tag), with
 * margin. */
#define RECORD_WIRE (RECORD_PLAIN + 256)
/* The tx buffer: two records, so that one can be taken while the previous one drains. */
#define TX_CAP (2 * RECORD_WIRE)
/* A close_notify alert, encrypted, with margin. */
#define ALERT_WIRE 64

/* Both ssl kinds have the same table: one set of offsets. */
_Static_assert((int)TP_LISTENER_SSL_handshake == (int)TP_CLUSTER_SSL_handshake &&
		       (int)TP_LISTENER_SSL__COUNT == (int)TP_CLUSTER_SSL__COUNT,
	       "listener and cluster ssl stats share their layout");
#define SSL_STAT(st, name) ((st)->conf->stats_base + TP_LISTENER_SSL_##name)

/* What one configuration shares in a worker. */
struct tls_ctx {
	const struct tp_tls_conf *conf;
	WOLFSSL_CTX **by_cert; /* one per certificate (a client without one: one); [0] default */
	size_t n;
	WC_RNG rng; /* session ticket IVs */
	bool rng_ok;
	WOLFSSL_SESSION *session; /* client: the last session, to resume (max_session_keys) */
};

/* One side's state, in the connection slot. */
struct tls_side {
	WOLFSSL *ssl;
	const struct tp_tls_conf *conf;
	struct tls_ctx *tc;
	struct tp_stats_block *stats;
	struct tp_conn_info *info;
	uint8_t *tx; /* ciphertext the socket did not take: [tx_off, tx_len) */
	uint32_t tx_off, tx_len;
	int sock_err;		 /* errno of a failed recv or send */
	uint8_t sock_eof : 1;	 /* recv found the peer's FIN */
	uint8_t done : 1;	 /* the handshake completed */
	uint8_t eos : 1;	 /* the peer's close_notify (or FIN) has been read */
	uint8_t shut : 1;	 /* our close_notify is queued */
	uint8_t counted : 1;	 /* a failure already counted in a fail_verify_* stat */
	uint8_t no_cert : 1;	 /* ... fail_verify_no_cert */
	uint8_t best_effort : 1; /* closing: send what the socket takes, keep nothing */
};

/* ---- names and stats of what can be negotiated ---- */

static const struct {
	const char *wolfssl, *envoy;
	uint32_t stat;
} ciphers[] = {
	{"TLS13-AES128-GCM-SHA256", "TLS_AES_128_GCM_SHA256",
	 TP_LISTENER_SSL_cipher_TLS_AES_128_GCM_SHA256},
	{"TLS13-AES256-GCM-SHA384", "TLS_AES_256_GCM_SHA384",
	 TP_LISTENER_SSL_cipher_TLS_AES_256_GCM_SHA384},
	{"TLS13-CHACHA20-POLY1305-SHA256", "TLS_CHACHA20_POLY1305_SHA256",
	 TP_LISTENER_SSL_cipher_TLS_CHACHA20_POLY1305_SHA256},
	{"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256",
	 TP_LISTENER_SSL_cipher_ECDHE_ECDSA_AES128_GCM_SHA256},
	{"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
	 TP_LISTENER_SSL_cipher_ECDHE_RSA_AES128_GCM_SHA256},
	{"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384",
	 TP_LISTENER_SSL_cipher_ECDHE_ECDSA_AES256_GCM_SHA384},
	{"ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
	 TP_LISTENER_SSL_cipher_ECDHE_RSA_AES256_GCM_SHA384},
	{"ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305",
	 TP_LISTENER_SSL_cipher_ECDHE_ECDSA_CHACHA20_POLY1305},
	{"ECDHE-RSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
	 TP_LISTENER_SSL_cipher_ECDHE_RSA_CHACHA20_POLY1305},
};

static const struct {
	const char *wolfssl, *envoy;
	uint32_t stat;
} curves[] = {
	{"X25519", "X25519", TP_LISTENER_SSL_curve_X25519},
	{"SECP256R1", "P-256", TP_LISTENER_SSL_curve_P_256},
	{"SECP384R1", "P-384", TP_LISTENER_SSL_curve_P_384},
	{"SECP521R1", "P-521", TP_LISTENER_SSL_curve_P_521},
};

/* ---- failure reasons: Envoy's text, with BoringSSL's packed error codes ---- */

/* ERR_PACK(ERR_LIB_SSL, reason), as Envoy prints it (%UPSTREAM_TRANSPORT_FAILURE_REASON%). */
#define REASON(code, name) \
	"TLS_error:|" #code ":SSL routines:OPENSSL_internal:" name ":TLS_error_end"

static const char reason_verify[] = REASON(268435581, "CERTIFICATE_VERIFY_FAILED");
static const char reason_no_cert[] = REASON(268435648, "PEER_DID_NOT_RETURN_A_CERTIFICATE");
static const char reason_version[] = REASON(268435696, "UNSUPPORTED_PROTOCOL");
static const char reason_wrong_version[] = REASON(268435703, "WRONG_VERSION_NUMBER");
static const char reason_no_cipher[] = REASON(268435640, "NO_SHARED_CIPHER");
static const char reason_no_group[] = REASON(268435722, "NO_SHARED_GROUP");
static const char reason_bad_mac[] = REASON(268435595, "DECRYPTION_FAILED_OR_BAD_RECORD_MAC");
static const char reason_decode[] = REASON(268435593, "DECODE_ERROR");
static const char reason_failure[] = REASON(268435671, "SSL_HANDSHAKE_FAILURE");
static const char reason_reset[] = "TLS_error:|33554536:system library:OPENSSL_internal:"
				   "Connection reset by peer:TLS_error_end";
static const char reason_eof[] = "TLS_error:|0:wolfSSL:connection closed by peer:TLS_error_end";

/* A fatal alert from the peer: BoringSSL's reason is 1000 + the alert's number. */
static const struct {
	int alert;
	const char *reason;
} alert_reasons[] = {
	{10, REASON(268436466, "SSLV3_ALERT_UNEXPECTED_MESSAGE")},
	{20, REASON(268436476, "SSLV3_ALERT_BAD_RECORD_MAC")},
	{40, REASON(268436496, "SSLV3_ALERT_HANDSHAKE_FAILURE")},
	{42, REASON(268436498, "SSLV3_ALERT_BAD_CERTIFICATE")},
	{43, REASON(268436499, "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE")},
	{44, REASON(268436500, "SSLV3_ALERT_CERTIFICATE_REVOKED")},
	{45, REASON(268436501, "SSLV3_ALERT_CERTIFICATE_EXPIRED")},
	{46, REASON(268436502, "SSLV3_ALERT_CERTIFICATE_UNKNOWN")},
	{47, REASON(268436503, "SSLV3_ALERT_ILLEGAL_PARAMETER")},
	{48, REASON(268436504, "TLSV1_ALERT_UNKNOWN_CA")},
	{49, REASON(268436505, "TLSV1_ALERT_ACCESS_DENIED")},
	{50, REASON(268436506, "TLSV1_ALERT_DECODE_ERROR")},
	{51, REASON(268436507, "TLSV1_ALERT_DECRYPT_ERROR")},
	{70, REASON(268436526, "TLSV1_ALERT_PROTOCOL_VERSION")},
	{71, REASON(268436527, "TLSV1_ALERT_INSUFFICIENT_SECURITY")},
	{80, REASON(268436536, "TLSV1_ALERT_INTERNAL_ERROR")},
	{86, REASON(268436542, "TLSV1_ALERT_INAPPROPRIATE_FALLBACK")},
	{90, REASON(268436546, "TLSV1_ALERT_USER_CANCELLED")},
	{110, REASON(268436566, "TLSV1_ALERT_UNSUPPORTED_EXTENSION")},
	{112, REASON(268436568, "TLSV1_ALERT_UNRECOGNIZED_NAME")},
	{116, REASON(268436572, "TLSV1_ALERT_CERTIFICATE_REQUIRED")},
	{120, REASON(268436576, "TLSV1_ALERT_NO_APPLICATION_PROTOCOL")},
};

/* ---- socket I/O for wolfSSL ---- */

static uint32_t tx_room(const struct tls_side *st)
{
	return TX_CAP - (st->tx_len - st->tx_off);
}

/* Keeps n bytes the socket did not take, after what is already kept. False: no memory. */
static bool tx_keep(struct tls_side *st, const char *buf, uint32_t n)
{
	if (!st->tx) {
		st->tx = malloc(TX_CAP);
		if (!st->tx)
			return false;
		st->tx_off = st->tx_len = 0;
	}
	if (st->tx_off && st->tx_len + n > TX_CAP) {
		memmove(st->tx, st->tx + st->tx_off, st->tx_len - st->tx_off);
		st->tx_len -= st->tx_off;
		st->tx_off = 0;
	}
	memcpy(st->tx + st->tx_len, buf, n);
	st->tx_len += n;
	return true;
}

static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct tp_side *s = ctx;
	struct tls_side *st = s->tstate;
	ssize_t n;

	for (;;) {
		n = recv(s->fd, buf, (size_t)sz, MSG_DONTWAIT);
		if (n > 0)
			return (int)n;
		if (!n) {
			st->sock_eof = 1;
			return WOLFSSL_CBIO_ERR_CONN_CLOSE;
		}
		if (errno != EINTR)
			break;
	}
	if (errno == EAGAIN)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	st->sock_err = errno;
	return errno == ECONNRESET ? WOLFSSL_CBIO_ERR_CONN_RST : WOLFSSL_CBIO_ERR_GENERAL;
}

static int io_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct tp_side *s = ctx;
	struct tls_side *st = s->tstate;
	uint32_t left = (uint32_t)sz, take;
	ssize_t n = 0;

	/* Behind bytes already kept, in order. */
	if (st->tx_len == st->tx_off) {
		do {
			n = send(s->fd, buf, (size_t)sz, MSG_DONTWAIT | MSG_NOSIGNAL);
		} while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN) {
			st->sock_err = errno;
			return errno == ECONNRESET || errno == EPIPE ? WOLFSSL_CBIO_ERR_CONN_RST
								     : WOLFSSL_CBIO_ERR_GENERAL;
		}
		if (n < 0)
			n = 0;
		left -= (uint32_t)n;
		if (!left)
			return sz;
	}
	if (st->best_effort)
		return sz;
	take = left < tx_room(st) ? left : tx_room(st);
	if (!take)
		return n ? (int)n : WOLFSSL_CBIO_ERR_WANT_WRITE;
	if (!tx_keep(st, buf + n, take)) {
		st->sock_err = ENOMEM;
		return WOLFSSL_CBIO_ERR_GENERAL;
	}
	return (int)(n + take);
}

/* Sends what tx holds. 0: empty (and freed); -EAGAIN: the socket is full; -errno. */
static int tx_flush(struct tp_side *s, struct tls_side *st)
{
	while (st->tx_off < st->tx_len) {
		ssize_t n = send(s->fd, st->tx + st->tx_off, st->tx_len - st->tx_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				s->want = TP_WANT_WRITE;
				s->unsent = 1;
				return -EAGAIN;
			}
			st->sock_err = errno;
			return -errno;
		}
		st->tx_off += (uint32_t)n;
	}
	free(st->tx);
	st->tx = NULL;
	st->tx_off = st->tx_len = 0;
	s->unsent = 0;
	return 0;
}

static void sync_unsent(struct tp_side *s, const struct tls_side *st)
{
	s->unsent = st->tx_len > st->tx_off;
}

/* ---- peer certificate checks (CertificateValidationContext) ---- */

static bool str_match(const struct tp_tls_san_matcher *m, const char *s, size_t n)
{
	size_t vn = strlen(m->value);
	int (*cmp)(const char *, const char *, size_t) = m->ignore_case ? strncasecmp : strncmp;

	switch (m->kind) {
	case TP_TLS_STR_EXACT:
		return n == vn && !cmp(s, m->value, n);
	case TP_TLS_STR_PREFIX:
		return n >= vn && !cmp(s, m->value, vn);
	case TP_TLS_STR_SUFFIX:
		return n >= vn && !cmp(s + n - vn, m->value, vn);
	case TP_TLS_STR_CONTAINS:
		for (size_t i = 0; i + vn <= n; i++)
			if (!cmp(s + i, m->value, vn))
				return true;
		return false;
	case TP_TLS_STR_REGEX:
		return tp_match_search(m->re, s, n);
	}
	return false;
}

/* Envoy's dnsNameMatch: a certificate's "*.example.com" stands for one label. */
static bool dns_match(const char *want, size_t wn, const char *san, size_t sn)
{
	const char *dot;

	if (sn == wn && !strncasecmp(want, san, wn))
		return true;
	if (sn < 3 || san[0] != '*' || san[1] != '.')
		return false;
	dot = memchr(want, '.', wn);
	return dot && dot != want && (size_t)(want + wn - dot) == sn - 1 &&
	       !strncasecmp(dot, san + 1, sn - 1);
}

static bool san_matches(const struct tp_tls_san_matcher *m, int type, const char *s, size_t n)
{
	static const int types[] = {[TP_TLS_SAN_EMAIL] = GEN_EMAIL,
				    [TP_TLS_SAN_DNS] = GEN_DNS,
				    [TP_TLS_SAN_URI] = GEN_URI,
				    [TP_TLS_SAN_IP] = GEN_IPADD};

	if (m->san_type && types[m->san_type] != type)
		return false;
	/* An exact DNS matcher takes the certificate's wildcard, as Envoy's does. */
	if (type == GEN_DNS && m->kind == TP_TLS_STR_EXACT && !m->ignore_case)
		return dns_match(m->value, strlen(m->value), s, n);
	return str_match(m, s, n);
}

/* One SAN as text: DNS, URI and email as they are, an IP address printed. */
static size_t san_text(WOLFSSL_GENERAL_NAME *g, char *buf, size_t cap, const char **out)
{
	const unsigned char *d;
	int n;

	switch (g->type) {
	case GEN_DNS:
	case GEN_URI:
	case GEN_EMAIL:
		n = wolfSSL_ASN1_STRING_length(g->d.ia5);
		d = wolfSSL_ASN1_STRING_data(g->d.ia5);
		*out = (const char *)d;
		return d && n > 0 ? (size_t)n : 0;
	case GEN_IPADD:
		n = wolfSSL_ASN1_STRING_length(g->d.ip);
		d = wolfSSL_ASN1_STRING_data(g->d.ip);
		if (n == 4)
			n = snprintf(buf, cap, "%u.%u.%u.%u", d[0], d[1], d[2], d[3]);
		else if (n == 16)
			n = snprintf(buf, cap, "%x:%x:%x:%x:%x:%x:%x:%x", d[0] << 8 | d[1],
				     d[2] << 8 | d[3], d[4] << 8 | d[5], d[6] << 8 | d[7],
				     d[8] << 8 | d[9], d[10] << 8 | d[11], d[12] << 8 | d[13],
				     d[14] << 8 | d[15]);
		else
			return 0;
		*out = buf;
		return (size_t)n;
	default:
		return 0;
	}
}

/* Whether some SAN of x satisfies a matcher; with auto_sni_san_validation, a DNS SAN the sent
 * SNI matches instead. */
static bool verify_sans(const struct tp_tls_conf *c, WOLFSSL_X509 *x)
{
	const struct tp_tls_validation *vc = c->validation;
	WOLFSSL_GENERAL_NAMES *gns = wolfSSL_X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int n = gns ? wolfSSL_sk_GENERAL_NAME_num(gns) : 0;
	bool ok = false;

	for (int i = 0; i < n && !ok; i++) {
		WOLFSSL_GENERAL_NAME *g = wolfSSL_sk_GENERAL_NAME_value(gns, i);
		char buf[64];
		const char *s;
		size_t len = g ? san_text(g, buf, sizeof(buf), &s) : 0;

		if (!len)
			continue;
		if (c->auto_sni_san_validation && c->sni) {
			ok = g->type == GEN_DNS && dns_match(c->sni, strlen(c->sni), s, len);
			continue;
		}
		for (size_t k = 0; vc && k < vc->n_sans && !ok; k++)
			ok = san_matches(&vc->sans[k], g->type, s, len);
	}
	if (gns)
		wolfSSL_GENERAL_NAMES_free(gns);
	return ok;
}

static bool verify_hashes(const struct tp_tls_validation *vc, WOLFSSL_X509 *x)
{
	uint8_t md[WC_SHA256_DIGEST_SIZE];
	const unsigned char *der;
	unsigned char spki[4096];
	int len = 0, klen = 0;

	der = wolfSSL_X509_get_der(x, &len);
	if (vc->n_hashes && der && !wc_Sha256Hash(der, (word32)len, md)) {
		for (size_t i = 0; i < vc->n_hashes; i++)
			if (!memcmp(md, vc->hashes[i], sizeof(md)))
				return true;
	}
	/* The size first: given a buffer, it leaves the length as it was. */
	if (vc->n_spki && wolfSSL_X509_get_pubkey_buffer(x, NULL, &klen) == WOLFSSL_SUCCESS &&
	    klen > 0 && klen <= (int)sizeof(spki) &&
	    wolfSSL_X509_get_pubkey_buffer(x, spki, &klen) == WOLFSSL_SUCCESS &&
	    !wc_Sha256Hash(spki, (word32)klen, md)) {
		for (size_t i = 0; i < vc->n_spki; i++)
			if (!memcmp(md, vc->spki[i], sizeof(md)))
				return true;
	}
	return false;
}

static bool has_der(WOLFSSL_X509 *x)
{
	int len = 0;

	return x && wolfSSL_X509_get_der(x, &len) && len > 0;
}

/* wolfSSL's verify callback: called for each certificate (this build always calls it), the
 * peer's own at depth 0. Chain errors are counted (fail_verify_error) unless the configuration
 * forgives them; at the leaf, SAN matchers then certificate hashes, in Envoy's order. */
static int verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
	WOLFSSL *ssl =
		wolfSSL_X509_STORE_CTX_get_ex_data(store, wolfSSL_get_ex_data_X509_STORE_CTX_idx());
	struct tp_side *s = ssl ? wolfSSL_get_app_data(ssl) : NULL;
	struct tls_side *st = s ? s->tstate : NULL;
	const struct tp_tls_conf *c;
	const struct tp_tls_validation *vc;
	WOLFSSL_X509 *x;

	if (!st)
		return 0;
	c = st->conf;
	vc = c->validation;
	/* No certificate at all (this build calls back for that too, with an empty one): fine
	 * unless one is required, and then no SAN or hash is looked at. */
	x = wolfSSL_X509_STORE_CTX_get_current_cert(store);
	if (!has_der(x)) {
		if (c->role != TP_TLS_SERVER || !c->require_client_cert)
			return 1;
		if (!st->counted)
			tp_stat_inc(st->stats, SSL_STAT(st, fail_verify_no_cert));
		st->counted = st->no_cert = 1;
		return 0;
	}
	if (!preverify) {
		int err = wolfSSL_X509_STORE_CTX_get_error(store);
		bool forgiven = !vc || !vc->trusted_ca.len || vc->accept_untrusted ||
				(vc->allow_expired && err == ASN_AFTER_DATE_E);

		if (!forgiven) {
			if (!st->counted)
				tp_stat_inc(st->stats, SSL_STAT(st, fail_verify_error));
			st->counted = 1;
			return 0;
		}
	}
	if (wolfSSL_X509_STORE_CTX_get_error_depth(store) != 0)
		return 1;
	if (((vc && vc->n_sans) || (c->auto_sni_san_validation && c->sni)) && !verify_sans(c, x)) {
		tp_stat_inc(st->stats, SSL_STAT(st, fail_verify_san));
		st->counted = 1;
		return 0;
	}
	if (vc && (vc->n_hashes || vc->n_spki) && !verify_hashes(vc, x)) {
		tp_stat_inc(st->stats, SSL_STAT(st, fail_verify_cert_hash));
		st->counted = 1;
		return 0;
	}
	return 1;
}

/* ---- server callbacks: ALPN, SNI, session tickets ---- */

/* Envoy's choice: the first of our protocols the client also offers (ours decide the order);
 * none in common, no ALPN at all (the handshake goes on). */
static int alpn_select_cb(WOLFSSL *ssl, const unsigned char **out, unsigned char *outlen,
			  const unsigned char *in, unsigned int inlen, void *arg)
{
	const struct tp_tls_conf *c = arg;

	for (size_t i = 0; i < c->alpn_len; i += 1 + c->alpn[i]) {
		for (unsigned int j = 0; j < inlen; j += 1u + in[j]) {
			if (j + 1u + in[j] > inlen)
				break;
			if (in[j] == c->alpn[i] && !memcmp(in + j + 1, c->alpn + i + 1, in[j])) {
				*out = in + j + 1;
				*outlen = in[j];
				return 0; /* SSL_TLSEXT_ERR_OK */
			}
		}
	}
	return 3; /* SSL_TLSEXT_ERR_NOACK */
}

static bool name_matches(const char *pattern, const char *name, size_t n)
{
	return dns_match(name, n, pattern, strlen(pattern));
}

/* Several certificates: the one whose name matches the SNI exactly, else by wildcard, else the
 * first (Envoy's choice without full_scan_certs_on_sni_mismatch; key type is not weighed:
 * wolfSSL has no callback that shows the ClientHello's algorithms before this). */
static int sni_cb(WOLFSSL *ssl, int *alert, void *arg)
{
	struct tls_ctx *tc = arg;
	char *name = NULL;
	unsigned short n = wolfSSL_SNI_GetRequest(ssl, WOLFSSL_SNI_HOST_NAME, (void **)&name);
	size_t pick = 0;

	if (!n || !name)
		return 0;
	for (size_t pass = 0; pass < 2 && !pick; pass++) {
		for (size_t i = 0; i < tc->n && !pick; i++) {
			const struct tp_tls_cert *cert = tc->conf->certs[i];

			for (size_t k = 0; k < cert->n_names && !pick; k++) {
				const char *p = cert->names[k];

				if (pass == 0 ? (strlen(p) == n && !strncasecmp(p, name, n))
					      : name_matches(p, name, n))
					pick = i + 1;
			}
		}
	}
	if (pick > 1)
		wolfSSL_set_SSL_CTX(ssl, tc->by_cert[pick - 1]);
	return 0;
}

/* Session tickets sealed with ChaCha20-Poly1305 under the key's last 32 bytes (Envoy's "AES
 * key" slot), the 16-byte key name picking the key and authenticated with the ticket. Every
 * worker of a generation has the same keys (configured, or drawn in the master at load), so a
 * ticket from one resumes on any other. */
static int ticket_cb(WOLFSSL *ssl, unsigned char name[WOLFSSL_TICKET_NAME_SZ],
		     unsigned char iv[WOLFSSL_TICKET_IV_SZ],
		     unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int enc, unsigned char *ticket,
		     int len, int *out_len, void *arg)
{
	struct tls_ctx *tc = arg;
	const struct tp_tls_ticket_keys *tk = tc->conf->ticket_keys;

	if (!tk || !tk->n || len < 0)
		return WOLFSSL_TICKET_RET_FATAL;
	*out_len = len;
	if (enc) {
		const uint8_t *k = tk->keys[0];

		if (!tc->rng_ok || wc_RNG_GenerateBlock(&tc->rng, iv, WOLFSSL_TICKET_IV_SZ))
			return WOLFSSL_TICKET_RET_FATAL;
		memcpy(name, k, WOLFSSL_TICKET_NAME_SZ);
		memset(mac, 0, WOLFSSL_TICKET_MAC_SZ);
		if (wc_ChaCha20Poly1305_Encrypt(k + 48, iv, name, WOLFSSL_TICKET_NAME_SZ, ticket,
						(word32)len, ticket, mac))
			return WOLFSSL_TICKET_RET_FATAL;
		return WOLFSSL_TICKET_RET_OK;
	}
	for (size_t i = 0; i < tk->n; i++) {
		const uint8_t *k = tk->keys[i];

		if (memcmp(name, k, WOLFSSL_TICKET_NAME_SZ))
			continue;
		if (wc_ChaCha20Poly1305_Decrypt(k + 48, iv, name, WOLFSSL_TICKET_NAME_SZ, ticket,
						(word32)len, mac, ticket))
			return WOLFSSL_TICKET_RET_REJECT;
		/* An older key opens it; a new ticket under the first key replaces it. */
		return i ? WOLFSSL_TICKET_RET_CREATE : WOLFSSL_TICKET_RET_OK;
	}
	return WOLFSSL_TICKET_RET_REJECT;
}

static int passwd_cb(char *buf, int size, int rwflag, void *userdata)
{
	const struct tp_tls_blob *pw = userdata;
	int n = (int)pw->len < size ? (int)pw->len : size;

	memcpy(buf, pw->data, (size_t)n);
	return n;
}

/* ---- contexts ---- */

static int der_or_pem(const struct tp_tls_blob *b)
{
	return memmem(b->data, b->len, "-----BEGIN", 10) ? WOLFSSL_FILETYPE_PEM
							 : WOLFSSL_FILETYPE_ASN1;
}

static void build_fail(struct tls_build_err *e, const struct tp_tls_blob *b, const char *what,
		       int err)
{
	char msg[WOLFSSL_MAX_ERROR_SZ];

	wolfSSL_ERR_error_string_n((unsigned long)(err < 0 ? -err : err), msg, sizeof(msg));
	e->blob = b;
	if (err)
		snprintf(e->why, sizeof(e->why), "%s: %s (wolfSSL %d)", what, msg, err);
	else
		snprintf(e->why, sizeof(e->why), "%s", what);
}

/* Whether cert's private key is the one its first certificate carries the public half of:
 * 0 yes, -1 no, 1 cannot tell (another key type: wolfSSL's own check stands). This build's
 * wolfSSL_CTX_check_private_key takes any EC key of the right curve when the key file holds no
 * public part, as OpenSSL's PKCS#8 files do, so the public key is derived and compared here. */
static int key_matches_cert(const struct tp_tls_cert *cert)
{
	unsigned char spki[4096], a[1024], b[1024];
	uint8_t *der = NULL;
	WOLFSSL_X509 *x;
	word32 idx, al = sizeof(a), bl = sizeof(b), a2 = sizeof(a), b2 = sizeof(b);
	int dlen = (int)cert->key.len, slen = 0, ret = 1;
	ecc_key epriv, epub;
	RsaKey rpriv, rpub;

	x = wolfSSL_X509_load_certificate_buffer(cert->chain.data, (int)cert->chain.len,
						 der_or_pem(&cert->chain));
	if (!x || wolfSSL_X509_get_pubkey_buffer(x, NULL, &slen) != WOLFSSL_SUCCESS || slen <= 0 ||
	    slen > (int)sizeof(spki) ||
	    wolfSSL_X509_get_pubkey_buffer(x, spki, &slen) != WOLFSSL_SUCCESS)
		goto out;
	der = malloc(cert->key.len + 1);
	if (!der)
		goto out;
	if (der_or_pem(&cert->key) == WOLFSSL_FILETYPE_PEM) {
		dlen = wc_KeyPemToDer(cert->key.data, (int)cert->key.len, der, (int)cert->key.len,
				      cert->password.len ? (const char *)cert->password.data
							 : NULL);
		if (dlen <= 0)
			goto out;
	} else {
		memcpy(der, cert->key.data, cert->key.len);
	}
	if (!wc_ecc_init(&epriv)) {
		idx = 0;
		if (!wc_EccPrivateKeyDecode(der, &idx, &epriv, (word32)dlen) &&
		    !wc_ecc_make_pub(&epriv, NULL) && !wc_ecc_export_x963(&epriv, a, &al)) {
			ret = -1;
			if (!wc_ecc_init(&epub)) {
				idx = 0;
				if (!wc_EccPublicKeyDecode(spki, &idx, &epub, (word32)slen) &&
				    !wc_ecc_export_x963(&epub, b, &bl) && al == bl &&
				    !memcmp(a, b, al))
					ret = 0;
				wc_ecc_free(&epub);
			}
		}
		wc_ecc_free(&epriv);
	}
	if (ret == 1 && !wc_InitRsaKey(&rpriv, NULL)) {
		idx = 0;
		if (!wc_RsaPrivateKeyDecode(der, &idx, &rpriv, (word32)dlen)) {
			word32 e1 = 16, e2 = 16;
			unsigned char x1[16], x2[16];

			ret = -1;
			if (!wc_RsaFlattenPublicKey(&rpriv, x1, &e1, a, &a2) &&
			    !wc_InitRsaKey(&rpub, NULL)) {
				idx = 0;
				if (!wc_RsaPublicKeyDecode(spki, &idx, &rpub, (word32)slen) &&
				    !wc_RsaFlattenPublicKey(&rpub, x2, &e2, b, &b2) && a2 == b2 &&
				    e1 == e2 && !memcmp(a, b, a2) && !memcmp(x1, x2, e1))
					ret = 0;
				wc_FreeRsaKey(&rpub);
			}
		}
		wc_FreeRsaKey(&rpriv);
	}
out:
	if (der) {
		explicit_bzero(der, cert->key.len);
		free(der);
	}
	if (x)
		wolfSSL_X509_free(x);
	return ret;
}

/* One WOLFSSL_CTX with cert (NULL: none, a client without a client certificate). */
static WOLFSSL_CTX *build_one(struct tls_ctx *tc, const struct tp_tls_cert *cert,
			      struct tls_build_err *e)
{
	const struct tp_tls_conf *c = tc->conf;
	const struct tp_tls_validation *vc = c->validation;
	bool server = c->role == TP_TLS_SERVER;
	WOLFSSL_CTX *ctx;
	int r, mode = WOLFSSL_VERIFY_NONE;

	ctx = wolfSSL_CTX_new(server ? wolfTLS_server_method() : wolfTLS_client_method());
	if (!ctx) {
		build_fail(e, NULL, "cannot make a wolfSSL context (out of memory?)", 0);
		return NULL;
	}
	if (wolfSSL_CTX_SetMinVersion(ctx, c->min_version == TP_TLS_V1_3
						   ? WOLFSSL_TLSV1_3
						   : WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_set_max_proto_version(ctx, c->max_version == TP_TLS_V1_3
							   ? TLS1_3_VERSION
							   : TLS1_2_VERSION) != WOLFSSL_SUCCESS) {
		build_fail(e, NULL, "wolfSSL refused the protocol versions", 0);
		goto out_free;
	}
	/* Always an explicit AEAD-only list: this build also has RC4, NULL and anonymous
	 * suites, which must never be offered. */
	if (wolfSSL_CTX_set_cipher_list(ctx, c->cipher_list) != WOLFSSL_SUCCESS) {
		build_fail(e, NULL, "wolfSSL refused the cipher list", 0);
		goto out_free;
	}
	if (wolfSSL_CTX_set1_curves_list(ctx, c->curves) != WOLFSSL_SUCCESS) {
		build_fail(e, NULL, "wolfSSL refused the curves", 0);
		goto out_free;
	}
	if (server && !c->prefer_client_ciphers)
		wolfSSL_CTX_set_options(ctx, WOLFSSL_OP_CIPHER_SERVER_PREFERENCE);
	if (cert) {
		r = wolfSSL_CTX_use_certificate_chain_buffer_format(
			ctx, cert->chain.data, (long)cert->chain.len, der_or_pem(&cert->chain));
		if (r != WOLFSSL_SUCCESS) {
			build_fail(e, &cert->chain, "bad certificate chain", r);
			goto out_free;
		}
		if (cert->password.len) {
			wolfSSL_CTX_set_default_passwd_cb(ctx, passwd_cb);
			wolfSSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)&cert->password);
		}
		r = wolfSSL_CTX_use_PrivateKey_buffer(ctx, cert->key.data, (long)cert->key.len,
						      der_or_pem(&cert->key));
		if (r != WOLFSSL_SUCCESS) {
			build_fail(e, &cert->key, "bad private key", r);
			goto out_free;
		}
		if (wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS ||
		    key_matches_cert(cert) < 0) {
			build_fail(e, &cert->key,
				   "the private key does not match the certificate chain's first "
				   "certificate",
				   0);
			goto out_free;
		}
	}
	if (vc && vc->trusted_ca.len) {
		r = wolfSSL_CTX_load_verify_buffer(ctx, vc->trusted_ca.data,
						   (long)vc->trusted_ca.len,
						   der_or_pem(&vc->trusted_ca));
		if (r != WOLFSSL_SUCCESS) {
			build_fail(e, &vc->trusted_ca, "bad trusted_ca", r);
			goto out_free;
		}
		if (vc->crl.len) {
			r = wolfSSL_CTX_EnableCRL(ctx,
						  vc->only_leaf_crl ? 0 : WOLFSSL_CRL_CHECKALL);
			if (r == WOLFSSL_SUCCESS)
				r = wolfSSL_CTX_LoadCRLBuffer(ctx, vc->crl.data, (long)vc->crl.len,
							      der_or_pem(&vc->crl));
			if (r != WOLFSSL_SUCCESS) {
				build_fail(e, &vc->crl, "bad crl", r);
				goto out_free;
			}
		}
	}
	/* A peer's certificate is asked for and checked when there is anything to check it
	 * against; a server with no validation context asks for none (Envoy). */
	if (vc && (vc->trusted_ca.len || vc->n_sans || vc->n_hashes || vc->n_spki))
		mode = WOLFSSL_VERIFY_PEER;
	if (!server && c->auto_sni_san_validation && c->sni)
		mode = WOLFSSL_VERIFY_PEER;
	if (server && c->require_client_cert)
		mode |= WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	wolfSSL_CTX_set_verify(ctx, mode, mode != WOLFSSL_VERIFY_NONE ? verify_cb : NULL);
	if (vc && vc->max_verify_depth >= 0)
		wolfSSL_CTX_set_verify_depth(ctx, (int)vc->max_verify_depth);
	wolfSSL_CTX_SetIORecv(ctx, io_recv);
	wolfSSL_CTX_SetIOSend(ctx, io_send);
	if (!server)
		return ctx;
	if (c->alpn)
		wolfSSL_CTX_set_alpn_select_cb(ctx, alpn_select_cb, (void *)c);
	if (c->n_certs > 1) {
		wolfSSL_CTX_set_servername_callback(ctx, sni_cb);
		wolfSSL_CTX_set_servername_arg(ctx, tc);
	}
	/* Envoy's (BoringSSL's) session lifetime unless configured: 2 hours. */
	wolfSSL_CTX_set_timeout(
		ctx, c->session_timeout_ms >= 0 ? (unsigned)(c->session_timeout_ms / 1000) : 7200);
	if (c->ticket_keys && !c->tickets_disabled) {
		wolfSSL_CTX_set_TicketEncCb(ctx, ticket_cb);
		wolfSSL_CTX_set_TicketEncCtx(ctx, tc);
	} else {
		wolfSSL_CTX_NoTicketTLSv12(ctx);
		wolfSSL_CTX_no_ticket_TLSv13(ctx);
	}
	/* Session IDs live in this worker's cache only: a client resumes by ID on the worker
	 * it reaches (tickets resume on any). */
	if (c->stateful_disabled)
		wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF);
	return ctx;

out_free:
	wolfSSL_CTX_free(ctx);
	return NULL;
}

void tp_tls_ctx_destroy(struct tls_ctx *tc)
{
	if (!tc)
		return;
	for (size_t i = 0; i < tc->n; i++)
		wolfSSL_CTX_free(tc->by_cert[i]);
	free(tc->by_cert);
	if (tc->session)
		wolfSSL_SESSION_free(tc->session);
	if (tc->rng_ok)
		wc_FreeRng(&tc->rng);
	free(tc);
}

static void tls_init_once(void)
{
	static bool done;

	if (!done) {
		wolfSSL_Init();
		done = true;
	}
}

struct tls_ctx *tp_tls_ctx_make(const struct tp_tls_conf *c, struct tls_build_err *e)
{
	size_t n = c->n_certs ? c->n_certs : 1;
	struct tls_ctx *tc;

	tls_init_once();
	memset(e, 0, sizeof(*e));
	tc = calloc(1, sizeof(*tc));
	if (tc)
		tc->by_cert = calloc(n, sizeof(*tc->by_cert));
	if (!tc || !tc->by_cert) {
		free(tc);
		build_fail(e, NULL, "out of memory", 0);
		return NULL;
	}
	tc->conf = c;
	tc->rng_ok = wc_InitRng(&tc->rng) == 0;
	for (size_t i = 0; i < n; i++) {
		tc->by_cert[i] = build_one(tc, c->n_certs ? c->certs[i] : NULL, e);
		if (!tc->by_cert[i]) {
			tp_tls_ctx_destroy(tc);
			return NULL;
		}
		tc->n++;
	}
	return tc;
}

int tp_tls_cert_names(struct tp_tls_cert *c, char *why, size_t len)
{
	WOLFSSL_X509 *x;
	WOLFSSL_GENERAL_NAMES *gns;
	int n;

	tls_init_once();
	x = wolfSSL_X509_load_certificate_buffer(c->chain.data, (int)c->chain.len,
						 der_or_pem(&c->chain));
	if (!x) {
		snprintf(why, len, "bad certificate chain: its first certificate cannot be read");
		return -EINVAL;
	}
	gns = wolfSSL_X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	n = gns ? wolfSSL_sk_GENERAL_NAME_num(gns) : 0;
	c->names = calloc((size_t)n + 1, sizeof(*c->names));
	for (int i = 0; c->names && i < n; i++) {
		WOLFSSL_GENERAL_NAME *g = wolfSSL_sk_GENERAL_NAME_value(gns, i);
		char buf[8];
		const char *s;
		size_t sl;

		if (!g || g->type != GEN_DNS || !(sl = san_text(g, buf, sizeof(buf), &s)))
			continue;
		c->names[c->n_names] = strndup(s, sl);
		if (c->names[c->n_names])
			c->n_names++;
	}
	if (c->names && !c->n_names) {
		char cn[256];
		int cl = wolfSSL_X509_NAME_get_text_by_NID(wolfSSL_X509_get_subject_name(x),
							   NID_commonName, cn, sizeof(cn));

		if (cl > 0 && (c->names[0] = strdup(cn)))
			c->n_names = 1;
	}
	if (gns)
		wolfSSL_GENERAL_NAMES_free(gns);
	wolfSSL_X509_free(x);
	if (!c->names) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* ---- the handshake's end ---- */

static void hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Envoy's rendering of a name (OpenSSL's XN_FLAG_RFC2253): the RDNs last first, joined by ','
 * without spaces, special characters escaped: "CN=client,O=Example". */
static size_t name_text(WOLFSSL_X509_NAME *name, char *out, size_t cap)
{
	int n = name ? wolfSSL_X509_NAME_entry_count(name) : 0;
	size_t len = 0;

	out[0] = '\0';
	for (int i = n - 1; i >= 0; i--) {
		WOLFSSL_X509_NAME_ENTRY *e = wolfSSL_X509_NAME_get_entry(name, i);
		WOLFSSL_ASN1_STRING *d = e ? wolfSSL_X509_NAME_ENTRY_get_data(e) : NULL;
		const char *sn = e ? wolfSSL_OBJ_nid2sn(wolfSSL_OBJ_obj2nid(
					     wolfSSL_X509_NAME_ENTRY_get_object(e)))
				   : NULL;
		const unsigned char *v = d ? wolfSSL_ASN1_STRING_data(d) : NULL;
		int vl = d ? wolfSSL_ASN1_STRING_length(d) : 0;
		int w;

		if (!sn || !v)
			continue;
		w = snprintf(out + len, cap - len, "%s%s=", len ? "," : "", sn);
		if (w < 0 || (size_t)w >= cap - len)
			break;
		len += (size_t)w;
		for (int k = 0; k < vl && len + 3 < cap; k++) {
			unsigned char ch = v[k];

			if (strchr(",+\"\\<>;", ch) || (ch == '#' && !k) ||
			    (ch == ' ' && (!k || k == vl - 1)))
				out[len++] = '\\';
			out[len++] = (char)ch;
		}
		out[len] = '\0';
	}
	return len;
}

/* The peer's certificate and session for the formats that read them, in one allocation. */
static void capture_peer(struct tls_side *st, WOLFSSL_X509 *x)
{
	char subject[512], issuer[512], uri[1024] = "", sid[2 * 32 + 1] = "";
	struct tp_tls_peer *p;
	WOLFSSL_SESSION *sess = wolfSSL_get_session(st->ssl);
	size_t ls, li, lu = 0, lid;
	char *at;

	ls = x ? name_text(wolfSSL_X509_get_subject_name(x), subject, sizeof(subject)) : 0;
	li = x ? name_text(wolfSSL_X509_get_issuer_name(x), issuer, sizeof(issuer)) : 0;
	if (!x)
		subject[0] = issuer[0] = '\0';
	if (x) {
		WOLFSSL_GENERAL_NAMES *gns =
			wolfSSL_X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
		int n = gns ? wolfSSL_sk_GENERAL_NAME_num(gns) : 0;

		/* wolfSSL lists SANs last first: Envoy joins them in certificate order. */
		for (int i = n - 1; i >= 0; i--) {
			WOLFSSL_GENERAL_NAME *g = wolfSSL_sk_GENERAL_NAME_value(gns, i);
			char buf[8];
			const char *s;
			size_t sl = g && g->type == GEN_URI ? san_text(g, buf, sizeof(buf), &s) : 0;

			if (!sl || lu + sl + 2 >= sizeof(uri))
				continue;
			if (lu)
				uri[lu++] = ',';
			memcpy(uri + lu, s, sl);
			lu += sl;
			uri[lu] = '\0';
		}
		if (gns)
			wolfSSL_GENERAL_NAMES_free(gns);
	}
	if (sess) {
		unsigned int idlen = 0;
		const unsigned char *id = wolfSSL_SESSION_get_id(sess, &idlen);

		if (id && idlen && idlen <= 32)
			hex(id, idlen, sid);
	}
	lid = strlen(sid);
	p = malloc(sizeof(*p) + ls + li + lu + lid + 4);
	if (!p)
		return;
	at = (char *)(p + 1);
	p->subject = memcpy(at, subject, ls + 1);
	at += ls + 1;
	p->issuer = memcpy(at, issuer, li + 1);
	at += li + 1;
	p->uri_san = memcpy(at, uri, lu + 1);
	at += lu + 1;
	p->session_id = memcpy(at, sid, lid + 1);
	p->fingerprint_256[0] = '\0';
	if (x) {
		uint8_t md[WC_SHA256_DIGEST_SIZE];
		int len = 0;
		const unsigned char *der = wolfSSL_X509_get_der(x, &len);

		if (der && !wc_Sha256Hash(der, (word32)len, md))
			hex(md, sizeof(md), p->fingerprint_256);
	}
	st->info->tls_peer = p;
}

/* Envoy's ContextImpl::logHandshake, and what the connection keeps of it. */
static void handshake_done(struct tls_side *st)
{
	const struct tp_tls_conf *c = st->conf;
	bool server = c->role == TP_TLS_SERVER;
	const char *cipher = wolfSSL_get_cipher_name(st->ssl), *curve;
	const char *version = NULL, *cipher_name = NULL;
	WOLFSSL_X509 *peer;

	st->done = 1;
	tp_stat_inc(st->stats, SSL_STAT(st, handshake));
	if (wolfSSL_session_reused(st->ssl))
		tp_stat_inc(st->stats, SSL_STAT(st, session_reused));
	for (size_t i = 0; cipher && i < sizeof(ciphers) / sizeof(ciphers[0]); i++) {
		if (!strcmp(ciphers[i].wolfssl, cipher)) {
			tp_stat_inc(st->stats, c->stats_base + ciphers[i].stat);
			cipher_name = ciphers[i].envoy;
		}
	}
	switch (wolfSSL_version(st->ssl)) {
	case TLS1_3_VERSION:
		tp_stat_inc(st->stats, SSL_STAT(st, version_TLSv1_3));
		version = "TLSv1.3";
		break;
	case TLS1_2_VERSION:
		tp_stat_inc(st->stats, SSL_STAT(st, version_TLSv1_2));
		version = "TLSv1.2";
		break;
	}
	/* A resumed TLS 1.2 session negotiates no group: Envoy counts none then. */
	curve = wolfSSL_get_curve_name(st->ssl);
	for (size_t i = 0; curve && i < sizeof(curves) / sizeof(curves[0]); i++)
		if (!strcmp(curves[i].wolfssl, curve))
			tp_stat_inc(st->stats, c->stats_base + curves[i].stat);
	peer = wolfSSL_get_peer_certificate(st->ssl);
	if (!peer)
		tp_stat_inc(st->stats, SSL_STAT(st, no_certificate));
	if (st->info && server) {
		st->info->tls_version = version;
		st->info->tls_cipher = cipher_name;
		/* The requested name, unless tls_inspector already found it. */
		if (!st->info->sni_len) {
			char *sni = NULL;
			unsigned short n = wolfSSL_SNI_GetRequest(st->ssl, WOLFSSL_SNI_HOST_NAME,
								  (void **)&sni);

			if (sni && n && n < sizeof(st->info->sni)) {
				for (unsigned short i = 0; i < n; i++)
					st->info->sni[i] = (char)tolower((unsigned char)sni[i]);
				st->info->sni[n] = '\0';
				st->info->sni_len = (uint8_t)n;
			}
		}
		if ((c->format_needs & TP_FMT_NEED_TLS_PEER) && !st->info->tls_peer)
			capture_peer(st, peer);
	} else if (st->info) {
		st->info->up_tls_version = version;
		st->info->up_tls_cipher = cipher_name;
	}
	if (peer)
		wolfSSL_X509_free(peer);
}

/* A failed handshake: Envoy's counters (drainErrorQueue) and its failure reason. A socket
 * error or a peer gone mid-handshake counts nothing here (Envoy: a system error, which other
 * stats already show); a failed certificate check was counted by verify_cb. */
static void handshake_failed(struct tp_side *s, struct tls_side *st, int err)
{
	WOLFSSL_ALERT_HISTORY h;
	const char *reason = reason_failure;
	bool counted = st->counted;

	if (st->sock_err) {
		reason = reason_reset;
		counted = true;
	} else if (st->sock_eof) {
		reason = reason_eof;
		counted = true;
	} else if (st->counted) {
		reason = st->no_cert ? reason_no_cert : reason_verify;
	} else if (err == NO_PEER_CERT || err == NO_CERT_ERROR) {
		tp_stat_inc(st->stats, SSL_STAT(st, fail_verify_no_cert));
		reason = reason_no_cert;
		counted = true;
	} else if (err == FATAL_ERROR &&
		   wolfSSL_get_alert_history(st->ssl, &h) == WOLFSSL_SUCCESS) {
		for (size_t i = 0; i < sizeof(alert_reasons) / sizeof(alert_reasons[0]); i++)
			if (alert_reasons[i].alert == h.last_rx.code)
				reason = alert_reasons[i].reason;
	} else if (err == VERSION_ERROR || err == UNSUPPORTED_PROTO_VERSION) {
		reason = reason_version;
	} else if (err == UNKNOWN_RECORD_TYPE || err == BUFFER_ERROR || err == LENGTH_ERROR ||
		   err == RECV_OVERFLOW_E) {
		reason = reason_wrong_version;
	} else if (err == MATCH_SUITE_ERROR || err == UNSUPPORTED_SUITE) {
		reason = reason_no_cipher;
	} else if (err == BAD_KEY_SHARE_DATA || err == ECC_CURVE_ERROR) {
		reason = reason_no_group;
	} else if (err == VERIFY_MAC_ERROR || err == DECRYPT_ERROR) {
		reason = reason_bad_mac;
	} else if (err == PARSE_ERROR || err == INCOMPLETE_DATA || err == BAD_HELLO) {
		reason = reason_decode;
	} else if (err == VERIFY_CERT_ERROR || err == ASN_NO_SIGNER_E) {
		reason = reason_verify;
	}
	if (!counted)
		tp_stat_inc(st->stats, SSL_STAT(st, connection_error));
	s->fail_reason = reason;
	tp_debug("TLS handshake (%s) failed: wolfSSL %d (%s)",
		 st->conf->role == TP_TLS_SERVER ? "server" : "client", err,
		 wolfSSL_ERR_reason_error_string((unsigned long)(err < 0 ? -err : err)));
}

/* ---- the transport ops ---- */

static void *ctx_new(const void *conf, char *err, size_t errlen)
{
	struct tls_build_err e;
	struct tls_ctx *tc = tp_tls_ctx_make(conf, &e);

	if (!tc)
		snprintf(err, errlen, "%s", e.why);
	return tc;
}

static void ctx_free(void *ctx)
{
	tp_tls_ctx_destroy(ctx);
}

static int register_stats(void *conf, struct tp_stats *st, bool upstream, const char *owner)
{
	struct tp_tls_conf *c = conf;

	return tp_stats_scope(st, upstream ? TP_SCOPE_CLUSTER_SSL : TP_SCOPE_LISTENER_SSL, owner,
			      &c->stats_base);
}

static uint32_t get_stats_base(const void *conf)
{
	return ((const struct tp_tls_conf *)conf)->stats_base;
}

static void set_stats_base(void *conf, uint32_t base)
{
	((struct tp_tls_conf *)conf)->stats_base = base;
}

static int tls_open(struct tp_side *s, const struct tp_transport_env *env)
{
	struct tls_side *st = s->tstate;
	const struct tp_tls_conf *c = env->conf;

	st->conf = c;
	st->tc = env->ctx;
	st->stats = env->stats;
	st->info = env->info;
	st->ssl = wolfSSL_new(st->tc->by_cert[0]);
	if (!st->ssl)
		return -ENOMEM;
	wolfSSL_SetIOReadCtx(st->ssl, s);
	wolfSSL_SetIOWriteCtx(st->ssl, s);
	wolfSSL_set_app_data(st->ssl, s);
	if (c->role == TP_TLS_SERVER)
		return 0;
	if (c->sni && wolfSSL_UseSNI(st->ssl, WOLFSSL_SNI_HOST_NAME, c->sni,
				     (unsigned short)strlen(c->sni)) != WOLFSSL_SUCCESS)
		return -ENOMEM;
	if (c->alpn_list && wolfSSL_UseALPN(st->ssl, c->alpn_list, (unsigned)strlen(c->alpn_list),
					    WOLFSSL_ALPN_CONTINUE_ON_MISMATCH) != WOLFSSL_SUCCESS)
		return -ENOMEM;
	if (st->tc->session)
		wolfSSL_set_session(st->ssl, st->tc->session);
	return 0;
}

static int tls_handshake(struct tp_side *s)
{
	struct tls_side *st = s->tstate;
	int r, err;

	/* Our last flight must reach the peer before it can answer. */
	if (st->tx && (r = tx_flush(s, st)) < 0)
		return r == -EAGAIN ? -EAGAIN : r;
	r = st->conf->role == TP_TLS_SERVER ? wolfSSL_accept(st->ssl) : wolfSSL_connect(st->ssl);
	if (r == WOLFSSL_SUCCESS) {
		handshake_done(st);
		sync_unsent(s, st);
		return 0;
	}
	err = wolfSSL_get_error(st->ssl, r);
	if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE) {
		s->want = err == WOLFSSL_ERROR_WANT_READ ? TP_WANT_READ : TP_WANT_WRITE;
		/* What the socket did not take of our flight goes before anything is read. */
		if (st->tx && tx_flush(s, st) == -EAGAIN)
			s->want = TP_WANT_WRITE;
		return -EAGAIN;
	}
	handshake_failed(s, st, err);
	return st->sock_err ? -st->sock_err : st->sock_eof ? -ECONNRESET : -EPROTO;
}

/* A read or write failed after the handshake: Envoy counts a TLS-level error (not a system
 * one, and not a peer that sent no close_notify). */
static int io_failed(struct tls_side *st, int err)
{
	if (st->sock_err)
		return -st->sock_err;
	tp_debug("TLS %s: wolfSSL %d (%s)", st->conf->role == TP_TLS_SERVER ? "server" : "client",
		 err, wolfSSL_ERR_reason_error_string((unsigned long)(err < 0 ? -err : err)));
	tp_stat_inc(st->stats, SSL_STAT(st, connection_error));
	return -EPROTO;
}

static ssize_t tls_read(struct tp_side *s, uint8_t *buf, size_t len)
{
	struct tls_side *st = s->tstate;
	size_t got = 0;

	if (st->eos)
		return 0;
	while (got < len) {
		size_t want = len - got > INT32_MAX ? INT32_MAX : len - got;
		int r = wolfSSL_read(st->ssl, buf + got, (int)want), err;

		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		err = wolfSSL_get_error(st->ssl, r);
		sync_unsent(s, st);
		if (err == WOLFSSL_ERROR_WANT_READ) {
			/* Nothing left in wolfSSL or the socket: the next readiness wakes us. */
			s->readable = 0;
			s->want = TP_WANT_READ;
			return got ? (ssize_t)got : -EAGAIN;
		}
		if (err == WOLFSSL_ERROR_WANT_WRITE) {
			s->want = TP_WANT_WRITE;
			return got ? (ssize_t)got : -EAGAIN;
		}
		/* close_notify; or the peer's FIN without one, which Envoy too reads as the end
		 * of the stream. Bytes read before it go first. */
		if (err == WOLFSSL_ERROR_ZERO_RETURN || (st->sock_eof && !st->sock_err)) {
			st->eos = 1;
			return (ssize_t)got;
		}
		if (got)
			return (ssize_t)got;
		return io_failed(st, err);
	}
	sync_unsent(s, st);
	return (ssize_t)got;
}

static ssize_t tls_write(struct tp_side *s, const uint8_t *buf, size_t len)
{
	struct tls_side *st = s->tstate;
	size_t taken = 0;
	int r;

	if (st->tx && (r = tx_flush(s, st)) < 0 && r != -EAGAIN)
		return r;
	while (taken < len) {
		int n = len - taken > RECORD_PLAIN ? RECORD_PLAIN : (int)(len - taken);

		/* Room for the whole record first (see the top of this file). */
		if (tx_room(st) < RECORD_WIRE)
			break;
		r = wolfSSL_write(st->ssl, buf + taken, n);
		if (r <= 0) {
			int err = wolfSSL_get_error(st->ssl, r);

			sync_unsent(s, st);
			if (err == WOLFSSL_ERROR_WANT_WRITE || err == WOLFSSL_ERROR_WANT_READ) {
				s->want = err == WOLFSSL_ERROR_WANT_READ ? TP_WANT_READ
									 : TP_WANT_WRITE;
				break;
			}
			return taken ? (ssize_t)taken : io_failed(st, err);
		}
		taken += (size_t)r;
		/* The socket is full: what is kept goes first. */
		if (st->tx_len > st->tx_off)
			break;
	}
	sync_unsent(s, st);
	if (!taken) {
		s->want = TP_WANT_WRITE;
		return -EAGAIN;
	}
	return (ssize_t)taken;
}

static int tls_flush(struct tp_side *s)
{
	struct tls_side *st = s->tstate;

	if (!st->tx) {
		s->unsent = 0;
		return 0;
	}
	return tx_flush(s, st);
}

static int tls_shutdown_write(struct tp_side *s)
{
	struct tls_side *st = s->tstate;
	int r;

	if (!st->shut) {
		if (st->tx && tx_room(st) < ALERT_WIRE && (r = tx_flush(s, st)) < 0)
			return r;
		/* Sends our close_notify and returns at once: the peer's is not waited for, the
		 * other direction keeps flowing. */
		wolfSSL_shutdown(st->ssl);
		st->shut = 1;
		sync_unsent(s, st);
	}
	if (st->tx && (r = tx_flush(s, st)) < 0)
		return r;
	shutdown(s->fd, SHUT_WR);
	return 0;
}

static bool tls_pending(const struct tp_side *s)
{
	const struct tls_side *st = s->tstate;

	return st->ssl && (wolfSSL_pending(st->ssl) > 0 || st->eos);
}

static void tls_close(struct tp_side *s)
{
	struct tls_side *st = s->tstate;

	if (st->ssl) {
		/* The session, to resume the next connection to this cluster with (TLS 1.3's
		 * ticket came after the handshake, so it is taken now). */
		if (st->done && st->conf->role == TP_TLS_CLIENT &&
		    st->conf->max_session_keys != 0) {
			WOLFSSL_SESSION *sess = wolfSSL_get1_session(st->ssl);

			if (sess) {
				if (st->tc->session)
					wolfSSL_SESSION_free(st->tc->session);
				st->tc->session = sess;
			}
		}
		/* Envoy tries a close_notify on any close after the handshake: what the socket
		 * takes now, nothing kept. */
		if (st->done && !st->shut && !st->sock_err && !st->sock_eof && s->fd >= 0) {
			st->best_effort = 1;
			wolfSSL_shutdown(st->ssl);
		}
		wolfSSL_free(st->ssl);
		st->ssl = NULL;
	}
	free(st->tx);
	st->tx = NULL;
	st->tx_off = st->tx_len = 0;
}

bool tp_tls_holds_tx(const struct tp_side *s)
{
	const struct tls_side *st = s->tstate;

	return st && st->tx;
}

#define TLS_OPS(nm, parse_fn)                                                                 \
	{                                                                                     \
		.name = nm, .raw = false, .state_size = sizeof(struct tls_side),              \
		.parse = parse_fn, .free_conf = tp_tls_free_conf, .check = tp_tls_check,      \
		.register_stats = register_stats, .get_stats_base = get_stats_base,           \
		.set_stats_base = set_stats_base, .ctx_new = ctx_new, .ctx_free = ctx_free,   \
		.open = tls_open, .handshake = tls_handshake, .read = tls_read,               \
		.write = tls_write, .flush = tls_flush, .shutdown_write = tls_shutdown_write, \
		.pending = tls_pending, .close = tls_close,                                   \
	}

const struct tp_transport_ops tp_transport_tls_server =
	TLS_OPS(TP_TLS_NAME " (DownstreamTlsContext)", tp_tls_parse_server);
const struct tp_transport_ops tp_transport_tls_client =
	TLS_OPS(TP_TLS_NAME " (UpstreamTlsContext)", tp_tls_parse_client);

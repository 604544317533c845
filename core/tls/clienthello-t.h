/* Types of the TLS ClientHello parser (core/tls/clienthello.c), which tls_inspector runs on the
 * stream's first bytes. */
#ifndef TP_CLIENTHELLO_T_H
#define TP_CLIENTHELLO_T_H

#include <stdbool.h>
#include <stdint.h>

/* The most of the stream looked at: Envoy's TLS_MAX_CLIENT_HELLO (and max_client_hello_size's
 * upper bound). A ClientHello that does not end within it is TP_CHELLO_TOO_LARGE. */
#define TP_CHELLO_MAX_BYTES 16384
/* A host_name is at most 255 bytes (BoringSSL's TLSEXT_MAXLEN_host_name); longer is an error. */
#define TP_CHELLO_SNI_MAX 255
/* ALPN protocols kept, in the client's order: at most this many, in at most this many bytes of
 * wire format (a length byte, then the name). More sets alpn_truncated. */
#define TP_CHELLO_ALPN_MAX     16
#define TP_CHELLO_ALPN_BUF_MAX 512

enum tp_chello_result {
	TP_CHELLO_NEED_MORE, /* undecided: call again with a longer prefix of the stream */
	TP_CHELLO_DONE,	     /* a well-formed ClientHello: transport "tls", its fields are set */
	TP_CHELLO_NOT_TLS,   /* the first bytes cannot start a ClientHello: "raw_buffer" */
	TP_CHELLO_ERROR,     /* it starts as a ClientHello but is malformed (error says why) */
	TP_CHELLO_TOO_LARGE, /* no ClientHello can end within the window */
};

/* Protocol versions offered: supported_versions when present, else what the legacy version
 * implies, as BoringSSL negotiates (0x0303 offers TLS 1.0 to 1.2). GREASE and unknown values
 * are ignored; a malformed supported_versions offers nothing. */
#define TP_CHELLO_SSL3	(1u << 0)
#define TP_CHELLO_TLS10 (1u << 1)
#define TP_CHELLO_TLS11 (1u << 2)
#define TP_CHELLO_TLS12 (1u << 3)
#define TP_CHELLO_TLS13 (1u << 4)

/* One stream's parse. tp_chello_init() it, then feed it the stream from its first byte each
 * time (a longer prefix each time, or a fresh parse on each prefix: both give the same
 * answer). Once the result is not NEED_MORE it stays. Nothing points into the input. */
struct tp_chello {
	/* The framing walk, private to clienthello.c. */
	uint32_t max;	       /* the window: stream bytes looked at */
	uint32_t pos;	       /* stream bytes walked */
	uint32_t rec_left;     /* bytes of the current record's body not walked yet */
	uint32_t msg_seen;     /* bytes of the handshake message walked, header included */
	uint32_t msg_len;      /* the message's length with its header, once the header is known */
	uint32_t msg_pos;      /* where the message's first byte is in the stream */
	uint32_t msg_rec_left; /* rec_left at msg_pos */
	uint8_t hdr[4];	       /* the handshake header (it may straddle records) */
	uint8_t n_empty;       /* consecutive empty records */
	uint8_t state;
	uint8_t result; /* enum tp_chello_result */

	/* The outcome. */
	const char *error; /* on NOT_TLS, ERROR, TOO_LARGE: a static reason */
	uint32_t bytes;	   /* stream bytes the result rests on; on DONE, the ClientHello's
			    * records, headers included (Envoy's bytes_processed) */
	/* On DONE: */
	bool v2;			 /* an SSLv2-compatible ClientHello (no extensions) */
	bool alpn_truncated;		 /* the client offered more protocols than were kept */
	uint16_t legacy_version;	 /* the ClientHello's version field, e.g. 0x0303 */
	uint8_t versions;		 /* TP_CHELLO_TLS13 etc. */
	uint8_t sni_len;		 /* 0: no server_name extension */
	uint8_t n_alpn;			 /* 0: no ALPN, or a malformed one (Envoy ignores those) */
	uint16_t alpn_len;		 /* bytes used in alpn[] */
	char sni[TP_CHELLO_SNI_MAX + 1]; /* ASCII lower-cased as Envoy stores it, NUL-ended */
	uint8_t alpn[TP_CHELLO_ALPN_BUF_MAX]; /* protocols kept: length byte, name, … */
};

#endif

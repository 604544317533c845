/* Types of the TLS transport socket's configuration: Envoy's DownstreamTlsContext and
 * UpstreamTlsContext (with CommonTlsContext, TlsParameters, TlsCertificate and
 * CertificateValidationContext) and static_resources.secrets, as the loader leaves them.
 *
 * Everything a worker needs is in memory: certificates, keys, CAs and CRLs are read at load, in
 * the master, and kept as the bytes they were (PEM or DER), so that workers need no file access
 * after dropping privileges. Session ticket keys are here too (configured, or drawn at load), so
 * that every worker of a generation opens every other's tickets. */
#ifndef TP_TLS_T_H
#define TP_TLS_T_H

#include "core/config/config-t.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tp_match;

/* A config.core.v3.DataSource, read at load. */
struct tp_tls_blob {
	uint8_t *data; /* NUL-terminated past len, so PEM text can be used as a string */
	size_t len;
	char *path;		 /* the dotted config path of the DataSource, for later errors */
	struct tp_cfg_mark mark; /* where it stands */
};

/* TlsCertificate. */
struct tp_tls_cert {
	struct tp_tls_blob chain;
	struct tp_tls_blob key;
	struct tp_tls_blob password; /* of an encrypted private key; len 0: none */
	/* The names it serves (DNS SANs, else the subject CN), lower case, for SNI selection:
	 * filled when the certificate is trial-loaded. */
	char **names;
	size_t n_names;
	struct tp_cfg_mark mark;
};

enum tp_tls_san_type {
	TP_TLS_SAN_EMAIL = 1,
	TP_TLS_SAN_DNS = 2,
	TP_TLS_SAN_URI = 3,
	TP_TLS_SAN_IP = 4,
};

enum tp_tls_str_kind {
	TP_TLS_STR_EXACT,
	TP_TLS_STR_PREFIX,
	TP_TLS_STR_SUFFIX,
	TP_TLS_STR_CONTAINS,
	TP_TLS_STR_REGEX, /* safe_regex: the whole name must match */
};

/* SubjectAltNameMatcher: a SAN type and a type.matcher.v3.StringMatcher. */
struct tp_tls_san_matcher {
	int san_type; /* enum tp_tls_san_type */
	int kind;     /* enum tp_tls_str_kind */
	bool ignore_case;
	char *value; /* the string, or the regex as written */
	struct tp_match *re;
};

/* CertificateValidationContext. */
struct tp_tls_validation {
	struct tp_tls_blob trusted_ca; /* len 0: none */
	struct tp_tls_blob crl;	       /* len 0: none */
	struct tp_tls_san_matcher *sans;
	size_t n_sans;
	uint8_t (*hashes)[32]; /* verify_certificate_hash: SHA-256 of the DER certificate */
	size_t n_hashes;
	uint8_t (*spki)[32]; /* verify_certificate_spki: SHA-256 of the SubjectPublicKeyInfo */
	size_t n_spki;
	bool allow_expired;
	bool accept_untrusted; /* trust_chain_verification: ACCEPT_UNTRUSTED */
	bool only_leaf_crl;
	int64_t max_verify_depth; /* -1: the library's */
	struct tp_cfg_mark mark;
};

/* TlsSessionTicketKeys: each key is Envoy's 80 bytes (name 16, HMAC secret 32, AES key 32). */
#define TP_TLS_TICKET_KEY_LEN 80

struct tp_tls_ticket_keys {
	uint8_t (*keys)[TP_TLS_TICKET_KEY_LEN];
	size_t n;
};

enum tp_tls_secret_type {
	TP_TLS_SECRET_NONE,
	TP_TLS_SECRET_CERT,
	TP_TLS_SECRET_VALIDATION,
	TP_TLS_SECRET_TICKET_KEYS,
};

/* static_resources.secrets[]: one Secret. */
struct tp_tls_secret {
	char *name;
	int type; /* enum tp_tls_secret_type */
	struct tp_tls_cert *cert;
	struct tp_tls_validation *validation;
	struct tp_tls_ticket_keys *ticket_keys;
	struct tp_cfg_mark mark;
	struct tp_cfg_mark name_mark;
};

struct tp_tls_secrets {
	struct tp_tls_secret *v;
	size_t n;
};

/* An SdsSecretConfig naming a static secret, resolved by the transport's check(). */
struct tp_tls_sds_ref {
	char *name;
	struct tp_cfg_mark mark;
	char *path;
};

enum tp_tls_role {
	TP_TLS_SERVER, /* DownstreamTlsContext: a filter chain's, towards the client */
	TP_TLS_CLIENT, /* UpstreamTlsContext: a cluster's, towards its hosts */
};

/* TLS versions, as TlsParameters.TlsProtocol numbers them. */
enum tp_tls_version {
	TP_TLS_AUTO = 0,
	TP_TLS_V1_0 = 1,
	TP_TLS_V1_1 = 2,
	TP_TLS_V1_2 = 3,
	TP_TLS_V1_3 = 4,
};

/* A DownstreamTlsContext or UpstreamTlsContext, loaded and checked. */
struct tp_tls_conf {
	int role; /* enum tp_tls_role */
	/* common_tls_context */
	struct tp_tls_cert *own_certs; /* tls_certificates */
	size_t n_own_certs;
	struct tp_tls_sds_ref *cert_refs; /* tls_certificate_sds_secret_configs */
	size_t n_cert_refs;
	struct tp_tls_cert **certs; /* what is served: own_certs, or the secrets named (check()) */
	size_t n_certs;
	struct tp_tls_validation *own_validation;   /* validation_context */
	struct tp_tls_sds_ref validation_ref;	    /* validation_context_sds_secret_config */
	const struct tp_tls_validation *validation; /* either (check()); NULL: none */
	uint8_t *alpn; /* alpn_protocols, ALPN wire format; NULL: none */
	size_t alpn_len;
	char *alpn_list;	      /* the same, comma-separated (what wolfSSL_UseALPN takes) */
	int min_version, max_version; /* enum tp_tls_version, defaults applied */
	char *cipher_list;	      /* wolfSSL's names, TLS 1.3 suites first */
	char *curves;		      /* wolfSSL's names, colon-separated */
	/* DownstreamTlsContext */
	bool require_client_cert;
	bool tickets_disabled;	/* disable_stateless_session_resumption */
	bool stateful_disabled; /* disable_stateful_session_resumption */
	bool prefer_client_ciphers;
	int64_t session_timeout_ms;	    /* TP_DURATION_UNSET: the default */
	struct tp_tls_ticket_keys own_keys; /* session_ticket_keys, or one key drawn at load */
	struct tp_tls_sds_ref ticket_ref;   /* session_ticket_keys_sds_secret_config */
	const struct tp_tls_ticket_keys *ticket_keys; /* either (check()); NULL: no tickets */
	/* UpstreamTlsContext */
	char *sni;
	bool auto_sni_san_validation;
	int64_t max_session_keys; /* -1: default (1) */
	/* Set by check() and register_stats(). */
	unsigned format_needs; /* the configuration's formats' (enum tp_fmt_need) */
	uint32_t stats_base;   /* the listener's or cluster's ssl scope */
	struct tp_cfg_mark mark;
	char *path; /* the typed_config's dotted path */
};

#endif

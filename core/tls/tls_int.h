/* What the TLS transport's two files share: the context builder, used at load (a trial build
 * whose failure is a config error) and in each worker (the contexts connections use). */
#ifndef TP_TLS_INT_H
#define TP_TLS_INT_H

#include "core/tls/tls-t.h"

#include <stdbool.h>
#include <stddef.h>
#include <wolfssl/options.h>

/* Whether the wolfSSL linked in has AES-NI code: .ci/wolfssl's build from Debian's source does,
 * Debian's binary package does not (docs/performance.md, "TLS"). */
#ifdef WOLFSSL_AESNI
#define TP_TLS_AESNI_BUILD 1
#else
#define TP_TLS_AESNI_BUILD 0
#endif

/* AES-GCM leads the default suites (as BoringSSL orders them where AES has hardware help) when
 * the build has AES-NI code and the CPU runs it; ChaCha20-Poly1305 leads otherwise. */
bool tp_tls_aes_fast(void);

struct tp_cfg_ctx;
struct tp_config;
struct tp_ynode;
struct tls_ctx;

/* Why a build failed, and which DataSource it was about (NULL: the context as a whole). */
struct tls_build_err {
	const struct tp_tls_blob *blob;
	char why[256];
};

/* Every wolfSSL context one configuration needs (one per certificate for a server, so that SNI
 * can choose), built from conf alone. NULL with e filled on failure. */
struct tls_ctx *tp_tls_ctx_make(const struct tp_tls_conf *conf, struct tls_build_err *e);
void tp_tls_ctx_destroy(struct tls_ctx *tc);

/* Fills c->names from its leaf certificate (DNS SANs, else the subject CN). 0 or -errno. */
int tp_tls_cert_names(struct tp_tls_cert *c, char *why, size_t len);

/* The transport's config hooks (core/tls/tls_cfg.c). */
void *tp_tls_parse_server(struct tp_cfg_ctx *ctx, const struct tp_ynode *typed_config);
void *tp_tls_parse_client(struct tp_cfg_ctx *ctx, const struct tp_ynode *typed_config);
void tp_tls_free_conf(void *conf);
void tp_tls_check(struct tp_cfg_ctx *ctx, const struct tp_config *cfg, void *conf);

#endif

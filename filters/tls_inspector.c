/* envoy.filters.listener.tls_inspector: says whether a stream starts with a TLS ClientHello and
 * records what it asks for (server name, ALPN protocols) for filter chain matching, peeking
 * without consuming a byte (Envoy's TlsInspector, source/extensions/filters/listener/
 * tls_inspector/tls_inspector.cc).
 *
 * It runs core/tls/clienthello.c on the peeked bytes; the parse is kept with the connection
 * (resumed on each longer peek, not restarted), so a hello trickled in byte by byte costs its
 * length once. Envoy's outcomes, counted in tls_inspector.*:
 * - a ClientHello: tls_found, sni_found or sni_not_found, alpn_found or alpn_not_found; the
 *   transport protocol becomes "tls";
 * - not one (plaintext, or a malformed hello): tls_not_found, and the stream goes on as
 *   "raw_buffer"; with close_connection_on_client_hello_parsing_errors it is closed instead
 *   (and counted client_hello_too_large if the whole window was read);
 * - no ClientHello can end within max_client_hello_size: client_hello_too_large, closed.
 * bytes_processed records the bytes each decision rests on. */
#include "core/base/log.h"
#include "core/config/cfg_schema.h"
#include "core/filter.h"
#include "core/filter_api.h"
#include "core/tls/clienthello.h"
#include "shm/stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TLS_INSPECTOR_TYPE "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"

struct tls_inspector_cfg {
	int64_t max_client_hello_size;	  /* -1: TP_CHELLO_MAX_BYTES */
	int64_t initial_read_buffer_size; /* -1: unset; validated, no effect (see below) */
	bool close_on_parse_errors;	  /* close_connection_on_client_hello_parsing_errors */
	uint32_t stats_base;
};

static const struct tp_cfg_field tls_inspector_fields[] = {
	/* BoolValues: fingerprints are not computed, so only false (the default) is taken. */
	UNSUPPORTED_BUT("enable_ja3_fingerprinting", "false"),
	UNSUPPORTED_BUT("enable_ja4_fingerprinting", "false"),
	/* Envoy peeks this much first and doubles up to the maximum; tcpproxy peeks what the socket
	 * holds, up to the maximum, into one buffer per worker, so the size changes nothing. */
	{.key = "initial_read_buffer_size",
	 .type = TP_CFG_UINT32_OPT,
	 .off = offsetof(struct tls_inspector_cfg, initial_read_buffer_size),
	 .min = 256,
	 .max = 65536,
	 .def = -1},
	{.key = "close_connection_on_client_hello_parsing_errors",
	 .type = TP_CFG_BOOL,
	 .off = offsetof(struct tls_inspector_cfg, close_on_parse_errors)},
	/* Envoy: lte 16384 (BoringSSL's SSL3_RT_MAX_PLAIN_LENGTH), default the same. */
	{.key = "max_client_hello_size",
	 .type = TP_CFG_UINT32_OPT,
	 .off = offsetof(struct tls_inspector_cfg, max_client_hello_size),
	 .min = 0,
	 .max = TP_CHELLO_MAX_BYTES,
	 .def = -1},
	{.key = NULL},
};

static const struct tp_cfg_schema tls_inspector_schema = {
	.name = TLS_INSPECTOR_TYPE,
	.size = sizeof(struct tls_inspector_cfg),
	.fields = tls_inspector_fields,
	.any = true,
};

static void *tls_inspector_parse(struct tp_cfg_ctx *ctx, const struct tp_ynode *typed_config)
{
	struct tls_inspector_cfg *ti = calloc(1, sizeof(*ti));

	if (!ti) {
		ctx->oom = true;
		tp_cfg_error(ctx, typed_config, NULL, "%s", strerror(ENOMEM));
		return NULL;
	}
	/* NULL (named without typed_config) decodes as an empty message: the defaults. */
	tp_cfg_decode(ctx, &tls_inspector_schema, typed_config, ti);
	return ti;
}

static void tls_inspector_free(void *conf)
{
	if (!conf)
		return;
	tp_cfg_free(&tls_inspector_schema, conf);
	free(conf);
}

static int tls_inspector_register_stats(void *conf, struct tp_stats *st)
{
	struct tls_inspector_cfg *ti = conf;

	return tp_stats_scope(st, TP_SCOPE_TLS_INSPECTOR, "", &ti->stats_base);
}

static size_t tls_inspector_read_limit(const void *conf)
{
	const struct tls_inspector_cfg *ti = conf;

	return ti->max_client_hello_size < 0 ? TP_CHELLO_MAX_BYTES
					     : (size_t)ti->max_client_hello_size;
}

static void count(const struct tp_filter_call *f, unsigned stat)
{
	const struct tls_inspector_cfg *ti = f->conf;

	tp_stat_inc(tp_filter_stats(f), ti->stats_base + stat);
}

static void processed(const struct tp_filter_call *f, uint64_t bytes)
{
	const struct tls_inspector_cfg *ti = f->conf;

	tp_stat_record(tp_filter_stats(f), ti->stats_base + TP_TLS_INSPECTOR_bytes_processed,
		       bytes);
}

static void found(const struct tp_filter_call *f, const struct tp_chello *h)
{
	struct tp_conn_info *info = tp_filter_conn_info(f);

	count(f, TP_TLS_INSPECTOR_tls_found);
	count(f, h->n_alpn ? TP_TLS_INSPECTOR_alpn_found : TP_TLS_INSPECTOR_alpn_not_found);
	count(f, h->sni_len ? TP_TLS_INSPECTOR_sni_found : TP_TLS_INSPECTOR_sni_not_found);
	tp_conn_info_set_tls(info);
	if (h->sni_len)
		tp_conn_info_set_sni(info, h->sni, h->sni_len);
	if (h->n_alpn)
		tp_conn_info_set_alpn(info, h->alpn, h->alpn_len);
}

static enum tp_lfilter_status tls_inspector_on_data(const struct tp_filter_call *f,
						    const uint8_t *data, size_t len,
						    bool end_stream)
{
	const struct tls_inspector_cfg *ti = f->conf;
	size_t window = tls_inspector_read_limit(ti);
	struct tp_chello *h = f->state;

	/* A window of 0 bytes holds no ClientHello (Envoy: too large at its first read). */
	if (!window) {
		count(f, TP_TLS_INSPECTOR_client_hello_too_large);
		return TP_LFILTER_CLOSE;
	}
	/* The state is zeroed at accept: a window of 0 means not started yet. */
	if (!h->max)
		tp_chello_init(h, window);
	switch (tp_chello_parse(h, data, len)) {
	case TP_CHELLO_NEED_MORE:
		return TP_LFILTER_NEED_MORE;
	case TP_CHELLO_DONE:
		found(f, h);
		processed(f, h->bytes);
		return TP_LFILTER_CONTINUE;
	case TP_CHELLO_NOT_TLS:
	case TP_CHELLO_ERROR:
		processed(f, h->bytes);
		tp_debug("connection %u: tls_inspector: not a ClientHello: %s",
			 tp_filter_conn_index(f), h->error);
		if (ti->close_on_parse_errors) {
			if (len >= window)
				count(f, TP_TLS_INSPECTOR_client_hello_too_large);
			return TP_LFILTER_CLOSE;
		}
		count(f, TP_TLS_INSPECTOR_tls_not_found);
		return TP_LFILTER_CONTINUE;
	case TP_CHELLO_TOO_LARGE:
		processed(f, h->bytes);
		tp_debug("connection %u: tls_inspector: %s", tp_filter_conn_index(f), h->error);
		count(f, TP_TLS_INSPECTOR_client_hello_too_large);
		return TP_LFILTER_CLOSE;
	}
	return TP_LFILTER_CLOSE;
}

const struct tp_listener_filter_ops tp_lfilter_tls_inspector = {
	.name = "envoy.filters.listener.tls_inspector",
	.legacy_name = "envoy.listener.tls_inspector",
	.type_url = "type.googleapis.com/" TLS_INSPECTOR_TYPE,
	.parse = tls_inspector_parse,
	.free = tls_inspector_free,
	.register_stats = tls_inspector_register_stats,
	.max_read_bytes = TP_CHELLO_MAX_BYTES,
	.read_limit = tls_inspector_read_limit,
	.state_size = sizeof(struct tp_chello),
	.on_data = tls_inspector_on_data,
};

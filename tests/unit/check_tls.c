/* The TLS transport (core/tls/transport_tls.c) in a worker built by hand (conn_harness.h), against
 * non-blocking wolfSSL peers driven from the test's loop: a client for termination, a server for
 * upstream TLS. Bytes exact both ways, half-close with close_notify from each side, flow control
 * with a slow reader, a connect that waits for the downstream handshake (by event order), a
 * failed upstream handshake retried, clients that reset mid-handshake, and idle connections that
 * hold no tx buffer. The configuration is loaded from YAML as tcpproxy loads it, with test
 * certificates made by tests/tls/mkcerts.sh. */
#include "conn_harness.h"

#include "core/config/config.h"
#include "core/conn/relay.h"
#include "core/conn/resp_flags.h"
#include "core/conn/transport.h"
#include "core/filter_api.h"
#include "core/tls/tls.h"
#include "core/tls/tls_int.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <signal.h>
#include <sys/stat.h>

#define BIG  (1024u * 1024u)
#define FLOW (8u * 1024u * 1024u)

static uint8_t up_data[FLOW], down_data[FLOW];
static char certs[128];
static struct tp_config *loaded;
static WOLFSSL_CTX *peer_client, *peer_server_up, *peer_server_wrong;

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 2654435761u + seed) >> 13);
}

/* ---- the configuration ---- */

static const char yaml_fmt[] =
	"static_resources:\n"
	"  listeners:\n"
	"  - name: l\n"
	"    address: {socket_address: {address: 127.0.0.1, port_value: 1}}\n"
	"    filter_chains:\n"
	"    - transport_socket:\n"
	"        name: envoy.transport_sockets.tls\n"
	"        typed_config:\n"
	"          \"@type\": type.googleapis.com/"
	"envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext\n"
	"          common_tls_context:\n"
	"            alpn_protocols: [h2, http/1.1]\n"
	"            tls_certificates:\n"
	"            - certificate_chain: {filename: %1$s/server.pem}\n"
	"              private_key: {filename: %1$s/server.key}\n"
	"      filters:\n"
	"      - name: envoy.filters.network.tcp_proxy\n"
	"        typed_config:\n"
	"          \"@type\": type.googleapis.com/"
	"envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy\n"
	"          stat_prefix: t\n"
	"          cluster: c\n"
	"  clusters:\n"
	"  - name: c\n"
	"    transport_socket:\n"
	"      name: envoy.transport_sockets.tls\n"
	"      typed_config:\n"
	"        \"@type\": type.googleapis.com/"
	"envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext\n"
	"        sni: up.test\n"
	"        common_tls_context:\n"
	"          tls_params: {tls_maximum_protocol_version: TLSv1_3}\n"
	"          validation_context:\n"
	"            trusted_ca: {filename: %1$s/ca.pem}\n"
	"            match_typed_subject_alt_names:\n"
	"            - san_type: DNS\n"
	"              matcher: {exact: up.test}\n"
	"    load_assignment:\n"
	"      cluster_name: c\n"
	"      endpoints:\n"
	"      - lb_endpoints:\n"
	"        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 2}}}\n";

static const struct tp_transport_cfg *down_tc(void)
{
	return &loaded->listeners[0].filter_chains[0].transport;
}

static const struct tp_transport_cfg *up_tc(void)
{
	return &loaded->clusters[0].transport;
}

static WOLFSSL_CTX *peer_ctx(bool server, const char *name)
{
	WOLFSSL_CTX *ctx =
		wolfSSL_CTX_new(server ? wolfTLS_server_method() : wolfTLS_client_method());
	char file[256];

	ck_assert_ptr_nonnull(ctx);
	if (server) {
		snprintf(file, sizeof(file), "%s/%s.pem", certs, name);
		ck_assert_int_eq(wolfSSL_CTX_use_certificate_chain_file(ctx, file),
				 WOLFSSL_SUCCESS);
		snprintf(file, sizeof(file), "%s/%s.key", certs, name);
		ck_assert_int_eq(wolfSSL_CTX_use_PrivateKey_file(ctx, file, WOLFSSL_FILETYPE_PEM),
				 WOLFSSL_SUCCESS);
	} else {
		snprintf(file, sizeof(file), "%s/ca.pem", certs);
		ck_assert_int_eq(wolfSSL_CTX_load_verify_locations(ctx, file, NULL),
				 WOLFSSL_SUCCESS);
		wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, NULL);
	}
	return ctx;
}

/* Per test (each runs in its own process): the configuration loaded as tcpproxy loads it, the
 * harness's chain and cluster given its transports, their stats and worker contexts made as
 * the master and a worker make them. */
static void setup(void)
{
	struct tp_cfg_errors errs = {0};
	const struct tp_transport_cfg *tcs[2];
	char file[160], err[256];

	h_setup();
	fill(up_data, FLOW, 1);
	fill(down_data, FLOW, 7);
	snprintf(file, sizeof(file), "%s/tls.yaml", certs);
	if (tp_config_load(file, &loaded, &errs))
		tp_cfg_errors_print(&errs, stderr);
	ck_assert_ptr_nonnull(loaded);
	tp_cfg_errors_free(&errs);
	peer_client = peer_ctx(false, NULL);
	peer_server_up = peer_ctx(true, "up");
	peer_server_wrong = peer_ctx(true, "wrong");
	tcs[0] = down_tc();
	tcs[1] = up_tc();
	w.tctx = calloc(loaded->n_transport_ctx, sizeof(*w.tctx));
	ck_assert_ptr_nonnull(w.tctx);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(
			tcs[i]->ops->register_stats(tcs[i]->conf, st, i == 1, i ? "c" : "l"), 0);
		w.tctx[tcs[i]->idx] = tcs[i]->ops->ctx_new(tcs[i]->conf, err, sizeof(err));
		ck_assert_msg(w.tctx[tcs[i]->idx] != NULL, "%s", err);
	}
}

static void teardown(void)
{
	const struct tp_transport_cfg *tcs[2] = {down_tc(), up_tc()};

	tp_conn_close_all(&w);
	for (int i = 0; i < 2; i++)
		tcs[i]->ops->ctx_free(w.tctx[tcs[i]->idx]);
	free(w.tctx);
	w.tctx = NULL;
	h_teardown();
	wolfSSL_CTX_free(peer_client);
	wolfSSL_CTX_free(peer_server_up);
	wolfSSL_CTX_free(peer_server_wrong);
	tp_config_free(loaded);
	loaded = NULL;
}

static void use_down_tls(void)
{
	chain.transport = *down_tc();
	h_chain(NULL, NULL, 0); /* tcp_proxy alone, the slots sized for this transport */
}

static void use_up_tls(void)
{
	ccfg.transport = *up_tc();
	h_size_slots();
}

static uint64_t ssl_stat(bool upstream, uint32_t idx)
{
	const struct tp_tls_conf *c = (upstream ? up_tc() : down_tc())->conf;

	return tp_stat_get(w.stats, c->stats_base + idx);
}

/* ---- test peers ---- */

/* One end of a test connection: raw, or TLS (a wolfSSL client or server on a non-blocking
 * socket) with what it sends, what it has received, and when it ends its stream. */
struct end {
	int fd;
	WOLFSSL *ssl; /* NULL: a raw end */
	bool hs_done;
	const uint8_t *tx;
	size_t tx_len, tx_off;
	bool shut_after; /* end the stream (close_notify, then FIN) once tx is sent */
	bool shut;
	uint8_t *rx;
	size_t rx_len, rx_cap;
	bool eof;	 /* the peer ended its stream */
	bool notify_eof; /* ... with a close_notify */
	bool paused;	 /* reads nothing while set */
	int err;	 /* a TLS error other than wanting I/O */
};

static void end_init(struct end *e, int fd, WOLFSSL_CTX *tls, const uint8_t *tx, size_t tx_len,
		     bool shut_after, size_t rx_cap)
{
	memset(e, 0, sizeof(*e));
	e->fd = fd;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	if (tls) {
		e->ssl = wolfSSL_new(tls);
		ck_assert_ptr_nonnull(e->ssl);
		wolfSSL_set_fd(e->ssl, fd);
		if (!wolfSSL_is_server(e->ssl))
			wolfSSL_UseSNI(e->ssl, WOLFSSL_SNI_HOST_NAME, "server.test", 11);
	}
	e->tx = tx;
	e->tx_len = tx_len;
	e->shut_after = shut_after;
	e->rx = malloc(rx_cap ? rx_cap : 1);
	e->rx_cap = rx_cap;
	ck_assert_ptr_nonnull(e->rx);
}

static bool want_io(WOLFSSL *ssl, int r)
{
	int err = wolfSSL_get_error(ssl, r);

	return err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE;
}

static void end_step(struct end *e)
{
	if (e->ssl && !e->hs_done) {
		int r = wolfSSL_is_server(e->ssl) ? wolfSSL_accept(e->ssl)
						  : wolfSSL_connect(e->ssl);

		if (r == WOLFSSL_SUCCESS)
			e->hs_done = true;
		else if (!want_io(e->ssl, r))
			e->err = wolfSSL_get_error(e->ssl, r);
		if (!e->hs_done)
			return;
	}
	while (e->tx_off < e->tx_len) {
		size_t chunk = e->tx_len - e->tx_off > 16384 ? 16384 : e->tx_len - e->tx_off;
		ssize_t n;

		if (e->ssl) {
			int r = wolfSSL_write(e->ssl, e->tx + e->tx_off, (int)chunk);

			if (r <= 0 && !want_io(e->ssl, r))
				e->err = wolfSSL_get_error(e->ssl, r);
			n = r;
		} else {
			n = send(e->fd, e->tx + e->tx_off, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
		}
		if (n <= 0)
			break;
		e->tx_off += (size_t)n;
	}
	if (e->tx_off == e->tx_len && e->shut_after && !e->shut) {
		if (e->ssl)
			wolfSSL_shutdown(e->ssl);
		shutdown(e->fd, SHUT_WR);
		e->shut = true;
	}
	while (!e->paused && !e->eof && e->rx_len < e->rx_cap) {
		ssize_t n;

		if (e->ssl) {
			int r = wolfSSL_read(e->ssl, e->rx + e->rx_len,
					     (int)(e->rx_cap - e->rx_len));

			if (r <= 0) {
				int err = wolfSSL_get_error(e->ssl, r);

				if (err == WOLFSSL_ERROR_ZERO_RETURN)
					e->eof = e->notify_eof = true;
				else if (err == SOCKET_PEER_CLOSED_E)
					e->eof = true;
				else if (!want_io(e->ssl, r))
					e->err = err;
				break;
			}
			n = r;
		} else {
			n = recv(e->fd, e->rx + e->rx_len, e->rx_cap - e->rx_len, MSG_DONTWAIT);
			if (n == 0)
				e->eof = true;
			if (n <= 0)
				break;
		}
		e->rx_len += (size_t)n;
	}
}

static bool end_done(const struct end *e)
{
	return e->tx_off == e->tx_len && e->eof;
}

static void end_free(struct end *e)
{
	if (e->ssl)
		wolfSSL_free(e->ssl);
	free(e->rx);
	close(e->fd);
}

static void dump(const struct tp_conn *c)
{
	if (!c)
		return;
	fprintf(stderr, "conn %u phase %d\n", c->idx, c->phase);
	for (int s = 0; s < 2; s++) {
		const struct tp_side *sd = &c->side[s];
		const struct tp_dir *d = &c->dir[s];

		fprintf(stderr,
			"  side %d: fd %d pin %d pout %d rd %d hup %d wblk %d rblk %d hs %d shut "
			"%d "
			"unsent %d want %d tx %d\n",
			s, sd->fd, sd->poll_in, sd->poll_out, sd->readable, sd->hup_seen,
			sd->write_blocked, sd->read_blocked, sd->handshaking, sd->shut_pending,
			sd->unsent, sd->want, tp_tls_holds_tx(sd));
		fprintf(stderr,
			"  dir %d: stage %d pending %u limit %u eof %d fin %d paused %d failed "
			"%d\n",
			s, d->stage.kind, d->pending, d->limit, d->src_eof, d->fin_sent, d->paused,
			d->src_failed);
	}
}

/* Runs both ends and the worker until both have sent everything and seen their end. */
static void exchange(struct end *a, struct end *b)
{
	uint64_t end = tp_now_ms() + 30000;

	while (!(end_done(a) && end_done(b))) {
		ck_assert_msg(
			tp_now_ms() < end,
			"exchange stuck: a %zu/%zu rx %zu eof %d err %d, b %zu/%zu rx %zu eof "
			"%d err %d",
			a->tx_off, a->tx_len, a->rx_len, a->eof, a->err, b->tx_off, b->tx_len,
			b->rx_len, b->eof, b->err);
		ck_assert_int_eq(a->err, 0);
		ck_assert_int_eq(b->err, 0);
		end_step(a);
		end_step(b);
		h_turn(1);
	}
}

/* Steps e and the worker until cond holds (at most 10 s). */
#define STEP_UNTIL(e, cond)                                               \
	do {                                                              \
		uint64_t s_end_ = tp_now_ms() + 10000;                    \
		while (!(cond) && tp_now_ms() < s_end_) {                 \
			end_step(e);                                      \
			h_turn(1);                                        \
		}                                                         \
		ck_assert_msg((cond), "timed out waiting for %s", #cond); \
	} while (0)

/* ---- termination ---- */

/* A TLS client through the terminating chain to a raw upstream: 1 MiB each way, byte-exact.
 * The client ends first (close_notify, FIN): the upstream gets its FIN and still sends; then
 * the upstream's FIN reaches the client as a close_notify. */
START_TEST(terminate_bytes_exact_client_closes_first)
{
	struct end cl, sv;
	int client, server;
	struct tp_conn *c;

	use_down_tls();
	c = h_accept(&client);
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	end_init(&cl, client, peer_client, up_data, BIG, true, BIG + 1);
	end_init(&sv, server, NULL, down_data, BIG, false, BIG + 1);
	while (!sv.eof) {
		ck_assert_int_eq(cl.err, 0);
		end_step(&cl);
		end_step(&sv);
		h_turn(1);
	}
	ck_assert_uint_eq(sv.rx_len, BIG);
	ck_assert(!memcmp(sv.rx, up_data, BIG));
	ck_assert_int_eq(c->phase, TP_PHASE_RELAY); /* the other way still flows */
	sv.shut_after = true;
	exchange(&cl, &sv);
	ck_assert_uint_eq(cl.rx_len, BIG);
	ck_assert(!memcmp(cl.rx, down_data, BIG));
	ck_assert(cl.notify_eof); /* the upstream's FIN became a close_notify */
	H_UNTIL(c->phase >= TP_PHASE_CLOSING);
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_cx_rx_bytes_total), BIG);
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_cx_tx_bytes_total), BIG);
	ck_assert_uint_eq(ssl_stat(false, TP_LISTENER_SSL_handshake), 1);
	ck_assert_uint_eq(ssl_stat(false, TP_LISTENER_SSL_no_certificate), 1);
	ck_assert_uint_eq(ssl_stat(false, TP_LISTENER_SSL_connection_error), 0);
	ck_assert_uint_eq(ssl_stat(false, TP_LISTENER_SSL_version_TLSv1_3), 1);
	ck_assert_uint_eq(
		ssl_stat(false, TP_LISTENER_SSL_cipher_TLS_AES_128_GCM_SHA256) +
			ssl_stat(false, TP_LISTENER_SSL_cipher_TLS_AES_256_GCM_SHA384) +
			ssl_stat(false, TP_LISTENER_SSL_cipher_TLS_CHACHA20_POLY1305_SHA256),
		1);
	/* What the handshake found stays with the connection. */
	ck_assert_str_eq(c->info->sni, "server.test");
	ck_assert_str_eq(c->info->tls_version, "TLSv1.3");
	end_free(&cl);
	end_free(&sv);
}
END_TEST

/* The upstream ends first: its FIN becomes the client's close_notify, and the client's stream
 * keeps flowing after it. */
START_TEST(terminate_half_closed_by_the_upstream)
{
	struct end cl, sv;
	int client, server;
	struct tp_conn *c;

	use_down_tls();
	c = h_accept(&client);
	server = h_accept_upstream();
	end_init(&cl, client, peer_client, up_data, BIG, false, BIG + 1);
	end_init(&sv, server, NULL, down_data, 1000, true, BIG + 1);
	cl.tx_len = 0; /* the client waits */
	while (!cl.eof) {
		ck_assert_int_eq(cl.err, 0);
		end_step(&cl);
		end_step(&sv);
		h_turn(1);
	}
	ck_assert(cl.notify_eof);
	ck_assert_uint_eq(cl.rx_len, 1000);
	ck_assert(!memcmp(cl.rx, down_data, 1000));
	cl.tx_len = BIG;
	cl.shut_after = true;
	exchange(&cl, &sv);
	ck_assert_uint_eq(sv.rx_len, BIG);
	ck_assert(!memcmp(sv.rx, up_data, BIG));
	H_UNTIL(c->phase >= TP_PHASE_CLOSING);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_destroy_local), 1);
	end_free(&cl);
	end_free(&sv);
}
END_TEST

/* A TLS 1.2 client: the suites and version Envoy would count. */
START_TEST(terminate_tls12)
{
	WOLFSSL_CTX *ctx12 = peer_ctx(false, NULL);
	struct end cl, sv;
	int client, server;

	ck_assert_int_eq(wolfSSL_CTX_set_max_proto_version(ctx12, TLS1_2_VERSION), WOLFSSL_SUCCESS);
	use_down_tls();
	h_accept(&client);
	server = h_accept_upstream();
	end_init(&cl, client, ctx12, up_data, 5000, true, 8000);
	end_init(&sv, server, NULL, down_data, 7000, true, 8000);
	exchange(&cl, &sv);
	ck_assert_uint_eq(sv.rx_len, 5000);
	ck_assert_uint_eq(cl.rx_len, 7000);
	ck_assert(!memcmp(cl.rx, down_data, 7000));
	ck_assert_uint_eq(ssl_stat(false, TP_LISTENER_SSL_version_TLSv1_2), 1);
	/* The server's default order: AES-GCM first where AES has hardware help, else ChaCha20. */
	ck_assert_uint_eq(
		ssl_stat(false, tp_tls_aes_fast()
					? TP_LISTENER_SSL_cipher_ECDHE_ECDSA_AES128_GCM_SHA256
					: TP_LISTENER_SSL_cipher_ECDHE_ECDSA_CHACHA20_POLY1305),
		1);
	end_free(&cl);
	end_free(&sv);
	wolfSSL_CTX_free(ctx12);
}
END_TEST

/* Slow readers on both sides of a TLS-to-TLS connection: reading pauses at the limits and
 * resumes, the tx buffer is used while a socket is full, and nothing is lost; once drained,
 * the connection holds no tx buffer. */
START_TEST(flow_control_with_slow_readers)
{
	struct end cl, sv;
	int client, server;
	struct tp_conn *c;
	uint64_t end;

	use_down_tls();
	use_up_tls();
	ccfg.per_connection_buffer_limit_bytes = 32 * 1024;
	lcfg.per_connection_buffer_limit_bytes = 32 * 1024;
	h_small_buffers(upstream_listener);
	c = h_accept(&client);
	server = h_accept_upstream();
	end_init(&cl, client, peer_client, up_data, FLOW, true, FLOW + 1);
	end_init(&sv, server, peer_server_up, down_data, FLOW, true, FLOW + 1);
	sv.paused = cl.paused = true;
	end = tp_now_ms() + 10000;
	while (!(tcp_stat(TP_TCP_downstream_flow_control_paused_reading_total) > 0 &&
		 cluster_stat(TP_CLUSTER_upstream_flow_control_paused_reading_total) > 0)) {
		if (tp_now_ms() >= end)
			dump(c);
		ck_assert_msg(tp_now_ms() < end, "never paused: cl tx %zu hs %d, sv tx %zu hs %d",
			      cl.tx_off, cl.hs_done, sv.tx_off, sv.hs_done);
		end_step(&cl);
		end_step(&sv);
		h_turn(1);
	}
	/* Both sockets towards the slow readers are full: ciphertext waits in tx buffers. */
	ck_assert(tp_tls_holds_tx(&c->side[TP_DOWN]) || tp_tls_holds_tx(&c->side[TP_UP]));
	sv.paused = cl.paused = false;
	exchange(&cl, &sv);
	ck_assert_uint_eq(sv.rx_len, FLOW);
	ck_assert(!memcmp(sv.rx, up_data, FLOW));
	ck_assert_uint_eq(cl.rx_len, FLOW);
	ck_assert(!memcmp(cl.rx, down_data, FLOW));
	ck_assert_uint_eq(tcp_stat(TP_TCP_downstream_flow_control_paused_reading_total),
			  tcp_stat(TP_TCP_downstream_flow_control_resumed_reading_total));
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_flow_control_paused_reading_total),
			  cluster_stat(TP_CLUSTER_upstream_flow_control_resumed_reading_total));
	ck_assert_uint_eq(ssl_stat(true, TP_CLUSTER_SSL_handshake), 1);
	end_free(&cl);
	end_free(&sv);
}
END_TEST

/* ON_DOWNSTREAM_TLS_HANDSHAKE: nothing is asked of the upstream until the client's handshake
 * has ended; the bytes the client sent right after it are read early and go upstream first. */
START_TEST(connect_only_after_the_downstream_handshake)
{
	struct end cl;
	int client, server;
	struct tp_conn *c;

	use_down_tls();
	pcfg.upstream_connect_mode = TP_CONNECT_ON_DOWNSTREAM_TLS_HANDSHAKE;
	pcfg.max_early_data_bytes = 4096;
	h_size_slots();
	c = h_accept(&client);
	end_init(&cl, client, peer_client, (const uint8_t *)"early", 5, false, 100);
	/* Step the client's handshake one flight at a time and watch the order of events: the
	 * connect comes only once the proxy's side of the handshake has ended. */
	while (!cl.hs_done) {
		ck_assert_int_eq(cl.err, 0);
		ck_assert_msg(cluster_stat(TP_CLUSTER_upstream_cx_total) == 0 ||
				      !c->side[TP_DOWN].handshaking,
			      "connected while the downstream handshake was still going on");
		end_step(&cl);
		h_turn(1);
	}
	ck_assert_uint_eq(cl.tx_off, 5); /* "early" went with the client's Finished */
	H_UNTIL(!c->side[TP_DOWN].handshaking);
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 1);
	h_expect(server, "early");
	ck_assert(h_quiet(server, 20)); /* nothing more */
	ck_assert_int_eq(write(server, "reply", 5), 5);
	STEP_UNTIL(&cl, cl.rx_len == 5);
	ck_assert(!memcmp(cl.rx, "reply", 5));
	ck_assert_uint_eq(tcp_stat(TP_TCP_early_data_received_count_total), 1);
	end_free(&cl);
	close(server);
}
END_TEST

/* ---- upstream TLS ---- */

/* A raw client re-encrypted to a TLS upstream: SNI sent, the server's certificate verified
 * (CA and SAN), 1 MiB each way, half-close both ways. */
START_TEST(upstream_tls_bytes_exact)
{
	struct end cl, sv;
	int client, server;
	struct tp_conn *c;

	use_up_tls();
	c = h_accept(&client);
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	end_init(&cl, client, NULL, up_data, BIG, true, BIG + 1);
	end_init(&sv, server, peer_server_up, down_data, BIG, true, BIG + 1);
	exchange(&cl, &sv);
	ck_assert_uint_eq(sv.rx_len, BIG);
	ck_assert(!memcmp(sv.rx, up_data, BIG));
	ck_assert(sv.notify_eof); /* the client's FIN became a close_notify */
	ck_assert_uint_eq(cl.rx_len, BIG);
	ck_assert(!memcmp(cl.rx, down_data, BIG));
	{
		char *sni = NULL;
		unsigned short n =
			wolfSSL_SNI_GetRequest(sv.ssl, WOLFSSL_SNI_HOST_NAME, (void **)&sni);

		ck_assert_uint_eq(n, 7);
		ck_assert(!memcmp(sni, "up.test", 7));
	}
	H_UNTIL(c->phase >= TP_PHASE_CLOSING);
	ck_assert_uint_eq(ssl_stat(true, TP_CLUSTER_SSL_handshake), 1);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_connect_fail), 0);
	end_free(&cl);
	end_free(&sv);
}
END_TEST

/* The first host presents a certificate whose SAN is not the one asked for: the handshake
 * fails (fail_verify_san, Envoy's CERTIFICATE_VERIFY_FAILED), which is a connect failure that a
 * second attempt retries, and the second host passes. */
START_TEST(a_failed_upstream_handshake_is_retried)
{
	struct end bad, good, cl;
	int client, s1, s2;
	struct tp_conn *c;

	use_up_tls();
	pcfg.max_connect_attempts = 2;
	c = h_accept(&client);
	s1 = h_accept_upstream();
	ck_assert_int_ge(s1, 0);
	end_init(&bad, s1, peer_server_wrong, NULL, 0, false, 100);
	s2 = -1;
	while (s2 < 0) {
		struct pollfd p = {.fd = upstream_listener, .events = POLLIN};

		end_step(&bad);
		h_turn(1);
		if (poll(&p, 1, 0) == 1)
			s2 = accept(upstream_listener, NULL, NULL);
	}
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_connect_fail), 1);
	ck_assert_uint_eq(ssl_stat(true, TP_CLUSTER_SSL_fail_verify_san), 1);
	ck_assert_uint_eq(ssl_stat(true, TP_CLUSTER_SSL_connection_error), 0);
	ck_assert_ptr_nonnull(c->up_fail_reason);
	ck_assert_msg(strstr(c->up_fail_reason, "CERTIFICATE_VERIFY_FAILED"), "%s",
		      c->up_fail_reason);
	ck_assert(tp_rf_has(c, TP_RF_UPSTREAM_CONNECT_FAILURE));
	end_init(&good, s2, peer_server_up, (const uint8_t *)"pong", 4, false, 100);
	end_init(&cl, client, NULL, (const uint8_t *)"ping", 4, false, 100);
	for (uint64_t end = tp_now_ms() + 10000; !(good.rx_len == 4 && cl.rx_len == 4);) {
		ck_assert_msg(tp_now_ms() < end, "no exchange after the retry");
		end_step(&good);
		end_step(&cl);
		h_turn(1);
	}
	ck_assert(!memcmp(good.rx, "ping", 4));
	ck_assert(!memcmp(cl.rx, "pong", 4));
	ck_assert_uint_eq(c->attempts, 2);
	ck_assert(!tp_rf_has(c, TP_RF_RETRY_LIMIT_EXCEEDED));
	end_free(&bad);
	end_free(&good);
	end_free(&cl);
}
END_TEST

/* ---- hostile clients ---- */

/* Clients that send part of a ClientHello and reset: each connection is closed and freed, no
 * tx buffer or slot stays, and nothing is counted as a TLS error (Envoy: a system error). */
START_TEST(clients_that_reset_mid_handshake)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	use_down_tls();
	for (int i = 0; i < 200; i++) {
		struct end cl;
		int client;

		h_accept(&client);
		end_init(&cl, client, peer_client, NULL, 0, false, 10);
		end_step(&cl); /* the ClientHello goes out */
		if (i % 2) {
			/* ... and the proxy answers before the reset. */
			for (int k = 0; k < 3; k++)
				h_turn(1);
		}
		setsockopt(client, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		end_free(&cl);
	}
	H_UNTIL(w.n_conns == 0);
	ck_assert_uint_eq(ssl_stat(false, TP_LISTENER_SSL_connection_error), 0);
	ck_assert_uint_eq(ssl_stat(false, TP_LISTENER_SSL_handshake), 0);
	ck_assert_int_eq(tp_stat_get(w.stats, lcfg.stats_base + TP_LISTENER_downstream_cx_active),
			 0);
}
END_TEST

/* transport_socket_connect_timeout: a client that stops mid-handshake is closed and counted;
 * one that finished its handshake stays past it. */
START_TEST(a_handshake_that_never_ends_times_out)
{
	struct end slow, done;
	int c1, c2, server;
	struct tp_conn *a, *b;

	use_down_tls();
	/* Long enough for a whole handshake in a sanitized build. */
	chain.transport_socket_connect_timeout_ms = 1000;
	pcfg.upstream_connect_mode = TP_CONNECT_ON_DOWNSTREAM_TLS_HANDSHAKE;
	pcfg.max_early_data_bytes = 1024;
	h_size_slots();
	b = h_accept(&c2);
	end_init(&done, c2, peer_client, (const uint8_t *)"x", 1, false, 10);
	STEP_UNTIL(&done, done.hs_done && !b->side[TP_DOWN].handshaking);
	a = h_accept(&c1);
	end_init(&slow, c1, peer_client, NULL, 0, false, 10);
	end_step(&slow); /* the ClientHello, then nothing */
	H_UNTIL(a->phase >= TP_PHASE_CLOSING);
	ck_assert_uint_eq(
		tp_stat_get(w.stats,
			    lcfg.stats_base +
				    TP_LISTENER_downstream_cx_transport_socket_connect_timeout),
		1);
	/* The proxy's first flight, then the end. */
	for (uint64_t end = tp_now_ms() + 5000;;) {
		uint8_t buf[4096];
		ssize_t n = recv(c1, buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno == ECONNRESET))
			break;
		ck_assert_msg(n > 0 || errno == EAGAIN, "recv: %s", strerror(errno));
		ck_assert_msg(tp_now_ms() < end, "the client was not closed");
		if (n < 0)
			h_turn(1);
	}
	/* Past the timeout, the one whose handshake ended is still there. */
	ck_assert_int_lt(b->phase, TP_PHASE_CLOSING);
	server = h_accept_upstream();
	ck_assert_int_ge(server, 0);
	h_expect(server, "x");
	end_free(&slow);
	end_free(&done);
	close(server);
}
END_TEST

/* Bytes that are not TLS: a connection error (counted), Envoy's reason, and a close. */
START_TEST(garbage_is_a_connection_error)
{
	uint8_t junk[4096];
	int client;
	struct tp_conn *c;

	use_down_tls();
	fill(junk, sizeof(junk), 99);
	junk[0] = 0x47; /* no TLS record type */
	c = h_accept(&client);
	ck_assert_int_eq(write(client, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	ck_assert(h_ended(client));
	H_UNTIL(c->phase >= TP_PHASE_CLOSING);
	ck_assert_uint_eq(ssl_stat(false, TP_LISTENER_SSL_connection_error), 1);
	/* The upstream connected at once (IMMEDIATE) and is let go with a FIN. */
	{
		int server = h_accept_upstream();

		ck_assert_int_ge(server, 0);
		ck_assert(h_at_eof(server));
		close(server);
	}
	ck_assert_ptr_nonnull(c->side[TP_DOWN].fail_reason);
	ck_assert_msg(strstr(c->side[TP_DOWN].fail_reason, "TLS_error:|"), "%s",
		      c->side[TP_DOWN].fail_reason);
	ck_assert_uint_eq(cluster_stat(TP_CLUSTER_upstream_cx_total), 1); /* IMMEDIATE */
	close(client);
}
END_TEST

/* Connections that have exchanged bytes through TLS on both sides and gone quiet hold no
 * stage, no tx buffer and nothing unsent. */
START_TEST(idle_connections_hold_no_tx_buffer)
{
	struct end cl[6], sv[6];
	struct tp_conn *c[6];

	use_down_tls();
	use_up_tls();
	for (int i = 0; i < 6; i++) {
		int client, server;

		c[i] = h_accept(&client);
		server = h_accept_upstream();
		end_init(&cl[i], client, peer_client, up_data, 20000, false, 30000);
		end_init(&sv[i], server, peer_server_up, down_data, 30000, false, 30000);
		STEP_UNTIL(&cl[i],
			   (end_step(&sv[i]), cl[i].rx_len == 30000 && sv[i].rx_len == 20000));
	}
	for (int i = 0; i < 10; i++)
		h_turn(5);
	for (int i = 0; i < 6; i++) {
		for (int s = 0; s < 2; s++) {
			ck_assert_int_eq(c[i]->dir[s].stage.kind, TP_STAGE_NONE);
			ck_assert(!c[i]->side[s].unsent);
			ck_assert(!tp_tls_holds_tx(&c[i]->side[s]));
		}
	}
	ck_assert_uint_eq(w.bufs.live, w.bufs.n_free);
	for (int i = 0; i < 6; i++) {
		end_free(&cl[i]);
		end_free(&sv[i]);
	}
}
END_TEST

/* The stats Envoy names: listener.<addr>.ssl.* and cluster.<name>.ssl.*, cipher names with
 * their dashes. */
static bool saw_listener, saw_cluster;

static void visit(void *arg, const struct tp_stat_value *v)
{
	if (!strcmp(v->name, "listener.l.ssl.ciphers.ECDHE-RSA-AES128-GCM-SHA256"))
		saw_listener = true;
	if (!strcmp(v->name, "cluster.c.ssl.versions.TLSv1.3"))
		saw_cluster = true;
}

START_TEST(stat_names)
{
	ck_assert_int_eq(tp_stats_visit(st, visit, NULL), 0);
	ck_assert(saw_listener);
	ck_assert(saw_cluster);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("transport");
	char cmd[256], file[160];
	SRunner *sr;
	FILE *f;
	int failed;

	/* The test's wolfSSL peers write with plain send(): a peer gone is an error, not a
	 * signal. */
	signal(SIGPIPE, SIG_IGN);
	/* Certificates and the configuration once, for every test's process. */
	snprintf(certs, sizeof(certs), "/tmp/tp-check-tls.%d", (int)getpid());
	snprintf(cmd, sizeof(cmd), "tests/tls/mkcerts.sh %s", certs);
	if (system(cmd)) {
		fprintf(stderr,
			"check_tls: tests/tls/mkcerts.sh failed (run from the top directory, "
			"with openssl installed)\n");
		return EXIT_FAILURE;
	}
	snprintf(file, sizeof(file), "%s/tls.yaml", certs);
	f = fopen(file, "w");
	if (!f)
		return EXIT_FAILURE;
	fprintf(f, yaml_fmt, certs);
	fclose(f);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, terminate_bytes_exact_client_closes_first);
	tcase_add_test(tc, terminate_half_closed_by_the_upstream);
	tcase_add_test(tc, terminate_tls12);
	tcase_add_test(tc, flow_control_with_slow_readers);
	tcase_add_test(tc, connect_only_after_the_downstream_handshake);
	tcase_add_test(tc, upstream_tls_bytes_exact);
	tcase_add_test(tc, a_failed_upstream_handshake_is_retried);
	tcase_add_test(tc, clients_that_reset_mid_handshake);
	tcase_add_test(tc, a_handshake_that_never_ends_times_out);
	tcase_add_test(tc, garbage_is_a_connection_error);
	tcase_add_test(tc, idle_connections_hold_no_tx_buffer);
	tcase_add_test(tc, stat_names);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", certs);
	if (system(cmd))
		fprintf(stderr, "check_tls: could not remove %s\n", certs);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

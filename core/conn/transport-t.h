/* Types of the transport seam: how one side of a connection turns socket bytes into stream bytes.
 *
 * Each side of a connection (the client's, the upstream host's) has a transport: an ops table and
 * per-side state. The raw transport is the socket itself (recv, send, shutdown(SHUT_WR)); a TLS
 * transport holds decrypted bytes and may have to write to read; an HTTP tunnel writes a request
 * head and reads a response head before the stream is raw. The relay asks only "are both sides
 * raw?" (then it may splice) and otherwise moves bytes through these ops on its copy path, so a
 * new transport plugs in without the relay knowing it (nginx's c->recv / c->send swapped after a
 * handshake, HAProxy's xprt_ops). */
#ifndef TP_TRANSPORT_T_H
#define TP_TRANSPORT_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tp_side;
struct tp_cfg_ctx;
struct tp_ynode;
struct tp_config;
struct tp_stats;

/* What a transport waits for after answering -EAGAIN: which readiness lets it go on. */
enum tp_want {
	TP_WANT_READ = 1,  /* the socket must become readable (the usual wait of a read) */
	TP_WANT_WRITE = 2, /* the socket must become writable (the usual wait of a write) */
};

struct tp_stats_block;
struct tp_conn_info;

/* What a side's transport gets when it is opened, to keep in its state as it needs. */
struct tp_transport_env {
	const void *conf;	      /* its configuration (tp_transport_cfg.conf) */
	void *ctx;		      /* what ctx_new made for it in this worker, or NULL */
	struct tp_stats_block *stats; /* the worker's stats block */
	struct tp_conn_info *info;    /* the connection's info (SNI, ...), or NULL */
	/* A transport layered over another (an HTTP tunnel over the cluster's raw or TLS
	 * transport): the one below, which the upper one's open opens in a struct tp_side of its
	 * own, its state carved right after the upper one's (lower_state, sized by the slot for
	 * both); NULL otherwise. */
	const struct tp_transport_ops *lower;
	const void *lower_conf;
	void *lower_ctx;
	void *lower_state;
	/* Per-connection data the transport takes over (the tunnel's rendered request; freed by
	 * its close, even when open fails), or NULL. */
	void *arg;
};

struct tp_transport_ops {
	const char *name;
	/* The bytes on the socket are the stream's bytes, unframed and unencrypted: the relay may
	 * splice(2) them. Only then. */
	bool raw;
	/* Size of the per-side state the connection keeps for this transport (carved from the
	 * connection slot, zeroed when the side is set up); 0 for none. */
	size_t state_size;

	/* In the master, at load: the transport_socket's typed_config (the whole mapping,
	 * "@type" included) into a config object; problems go through ctx. NULL: it takes none. */
	void *(*parse)(struct tp_cfg_ctx *ctx, const struct tp_ynode *typed_config);
	void (*free_conf)(void *conf);
	/* In the master, at load, once the whole file is decoded (and the formats' needs are
	 * known): what needs the rest of the configuration (secrets named by SDS) and checks that
	 * can only be made then (trial-loading certificates and keys). Problems go through ctx,
	 * whose path is the transport_socket's. NULL: nothing to do. */
	void (*check)(struct tp_cfg_ctx *ctx, const struct tp_config *cfg, void *conf);
	/* In the master, before it forks a generation: registers the transport's stats under its
	 * owner's scope name, a listener's (listener.<name>) or, upstream, a cluster's
	 * (cluster.<name>), keeping the base in conf. 0 or -errno. NULL: it has none. */
	int (*register_stats)(void *conf, struct tp_stats *st, bool upstream, const char *owner);
	/* The base register_stats() kept in conf: the master reads it, a worker that decoded the
	 * same configuration again (a cluster from CDS, core/worker/cds.c) sets it. */
	uint32_t (*get_stats_base)(const void *conf);
	void (*set_stats_base)(void *conf, uint32_t base);
	/* In a worker, after fork: what every connection of one configuration shares (a TLS
	 * context with its certificates). NULL with err set when it cannot be made. NULL: none. */
	void *(*ctx_new)(const void *conf, char *err, size_t errlen);
	void (*ctx_free)(void *ctx);
	/* A side is set up with this transport (its state zeroed): 0, or -errno and the
	 * connection is closed. NULL: nothing to do. */
	int (*open)(struct tp_side *s, const struct tp_transport_env *env);

	/* One step of a handshake that must finish before stream bytes flow (TLS, an HTTP
	 * CONNECT exchange). 0: done; -EAGAIN: waiting, s->want says for what; -errno: failed.
	 * NULL: the transport has no handshake. Called again on each readiness of the socket. */
	int (*handshake)(struct tp_side *s);
	/* Reads up to len stream bytes into buf. >0: bytes; 0: the peer ended its stream (FIN,
	 * close_notify, END_STREAM); -EAGAIN: nothing now, s->want says what to wait for; other
	 * -errno: the side failed. A read that leaves nothing behind clears s->readable (the raw
	 * transport: a short recv proves the socket empty), so the relay reads again only after
	 * the next readiness; a transport holding more keeps it set. */
	ssize_t (*read)(struct tp_side *s, uint8_t *buf, size_t len);
	/* Writes up to len stream bytes from buf. >0: bytes taken; -EAGAIN: none now, s->want
	 * says what to wait for; other -errno: the side failed. A transport may take bytes it
	 * cannot send yet (encrypted, framed): it then sets s->unsent until flush() has sent
	 * them. */
	ssize_t (*write)(struct tp_side *s, const uint8_t *buf, size_t len);
	/* Sends what the transport took but could not send. 0: nothing left (s->unsent
	 * cleared); -EAGAIN: wait for s->want; -errno: failed. NULL: it never holds any. */
	int (*flush)(struct tp_side *s);
	/* Ends our stream towards the peer, keeping the other way open: a FIN, or a close_notify /
	 * END_STREAM that the transport must write first, after what it holds unsent (flush).
	 * 0: done; -EAGAIN: call again once
	 * s->want is met; -errno: failed (the side is gone). */
	int (*shutdown_write)(struct tp_side *s);
	/* Stream bytes (or an end of stream) held that the socket does not show: decrypted or
	 * unframed but not yet read. NULL: never. */
	bool (*pending)(const struct tp_side *s);
	/* The side is closing: free what the transport holds (also after an open that failed,
	 * from whatever it got to). The socket itself is closed by the connection. NULL: nothing
	 * to free. */
	void (*close)(struct tp_side *s);
};

#endif

/* Types of one proxied connection: its two sides, both relay directions, its phase, timers, route
 * and why it ended. */
#ifndef TP_CONN_T_H
#define TP_CONN_T_H

#include "core/base/timer-t.h"
#include "core/conn/transport-t.h"
#include "uring/pool-t.h"

#include <stdint.h>

struct tp_listener_rt;
struct tp_filter_chain_cfg;
struct tp_tcp_proxy_cfg;
struct tp_weighted_cluster_cfg;
struct tp_cluster_rt;
struct tp_host_rt;
struct tp_state_map;

/* A connection has two sides; a direction is named by the side its bytes come from. */
enum tp_side_id {
	TP_DOWN = 0, /* the client's socket */
	TP_UP = 1,   /* the upstream host's socket */
};

/* What a connection waits for. Each phase has its own readable / writable / timer handling
 * (core/conn/conn.c dispatches to it); phases only move forward. */
enum tp_phase {
	TP_PHASE_LISTENER_FILTERS, /* peeking before the filter chain is chosen (ClientHello, ...) */
	TP_PHASE_FILTERS,	   /* network filters running; no upstream asked for yet */
	TP_PHASE_CONNECTING,	   /* the upstream TCP connect is in flight */
	TP_PHASE_UP_HANDSHAKE,	   /* connected; the upstream transport's handshake runs */
	TP_PHASE_RELAY,		   /* stream bytes flow both ways */
	TP_PHASE_CLOSING,	   /* sockets closed; waiting for io_uring to release the slot */
	TP_PHASE_FREE,		   /* on the free list */
};

enum tp_stage_kind {
	TP_STAGE_NONE, /* nothing in flight: an idle direction holds no pipe and no buffer */
	TP_STAGE_PIPE, /* zero-copy: splice(2) socket -> pipe -> socket (both sides raw) */
	TP_STAGE_BUF,  /* copy: read through the source's transport, write through the other's */
};

/* Where a direction's bytes wait between reading one side and writing the other. */
struct tp_stage {
	union {
		struct tp_pipe pipe;
		struct {
			uint8_t *data;
			uint32_t head; /* bytes before head were already written */
			uint32_t cap;  /* the pool's buffer size, or more for early data */
		} buf;
	};
	uint8_t kind;
};

/* One side's socket and transport. */
struct tp_side {
	int fd;
	const struct tp_transport_ops *transport;
	void *tstate;	      /* the transport's per-side state (transport->state_size bytes) */
	uint8_t want;	      /* enum tp_want: what the transport waits for after -EAGAIN */
	uint8_t poll_in : 1;  /* a multishot POLLIN is armed */
	uint8_t poll_out : 1; /* a one-shot POLLOUT is armed */
	uint8_t readable : 1; /* a poll said readable, and no read has found it empty since */
	uint8_t hup_seen : 1; /* the poll reported POLLRDHUP/POLLHUP: a FIN is there to read */
	uint8_t write_blocked : 1;    /* a write could not go on: waiting for s->want */
	uint8_t read_blocked : 1;     /* a read waits for writability (a transport that must write
				     * to read): readable again once POLLOUT fires */
	uint8_t handshaking : 1;      /* the transport's handshake has not finished */
	uint8_t shut_pending : 1;     /* shutdown_write answered -EAGAIN: to be called again */
	uint8_t unsent : 1;	      /* the transport holds bytes it took but has not sent */
	uint8_t write_wants_read : 1; /* the blocked write waits for readability, not POLLOUT */
	/* The poll reported POLLRDHUP without POLLERR: the peer's FIN is queued behind whatever
	 * bytes are left (TCP takes a FIN in sequence only), so a short read empties the stream. */
	uint8_t fin_seen : 1;
	uint8_t eof_next : 1; /* a short read after fin_seen: the next read is the end, no syscall */
	/* Set by the relay for the write at hand: these are the stream's last bytes and its end is
	 * passed on right after them, so the raw transport lets the kernel hold them (MSG_MORE)
	 * and the FIN rides on the same segment: one packet, one wakeup of the peer, fewer. */
	uint8_t fin_follows : 1;
	/* No socket of its own (an HTTP/2 stream on a connection the worker shares): fd is -1,
	 * nothing is polled, and the transport's owner says when it is readable or writable
	 * (tp_conn_side_wake). */
	uint8_t nofd : 1;
	/* Why the transport's handshake failed, in Envoy's words (%*_TRANSPORT_FAILURE_REASON%):
	 * static text the transport sets; NULL if it did not fail. */
	const char *fail_reason;
};

/* One direction of the relay, named by its source side; the same code serves both. */
struct tp_dir {
	struct tp_stage stage;
	uint32_t pending;     /* bytes held in stage */
	uint32_t limit;	      /* pause reading once pending reaches this */
	uint32_t resume_at;   /* while paused: read again once pending falls to this */
	uint8_t src_eof : 1;  /* the source ended its stream or is gone: nothing more to read */
	uint8_t fin_sent : 1; /* the end of stream was passed on to dst (or dst is gone) */
	uint8_t paused : 1;   /* flow control: src not read until pending <= resume_at */
	uint8_t bulk : 1;     /* a read filled a copy buffer: this direction splices from now on */
	uint8_t src_failed : 1; /* src was reset: what it queued is read, but never waited for */
};

/* The downstream peer's certificate and session, as the TLS handshake found them, for the formats
 * that read them (%DOWNSTREAM_PEER_SUBJECT%, ...): one allocation, made only when a configured
 * format needs it (TP_FMT_NEED_TLS_PEER), freed when the connection closes. */
struct tp_tls_peer {
	const char *subject;	  /* RFC 2253, as Envoy prints it; "" when no certificate */
	const char *issuer;	  /* likewise */
	const char *uri_san;	  /* the URI SANs, comma-separated */
	const char *session_id;	  /* hex */
	char fingerprint_256[65]; /* SHA-256 of the certificate's DER, hex; "" when none */
};

/* What is known of the stream above TCP: the requested server name, the application protocols
 * offered, whether it is TLS, what each side's TLS handshake negotiated; filled by listener
 * filters (tls_inspector) or a TLS transport and read by filter chain matching, filters
 * (sni_cluster) and formats. Kept in the connection slot only when the configuration can fill
 * it (tp_conn.info is NULL otherwise). */
struct tp_conn_info {
	uint8_t transport; /* enum tp_transport_protocol */
	uint8_t sni_len;
	uint16_t alpn_len;
	char sni[256];	   /* lower case, NUL-terminated */
	uint8_t alpn[256]; /* protocols offered, ALPN wire format (length-prefixed names) */
	/* Names of what a TLS handshake negotiated (static text of the TLS transport: "TLSv1.3",
	 * "TLS_AES_128_GCM_SHA256"); NULL before a handshake or without TLS. */
	const char *tls_version, *tls_cipher;	    /* downstream */
	const char *up_tls_version, *up_tls_cipher; /* upstream */
	struct tp_tls_peer *tls_peer; /* downstream, only if a format reads it; owned here */
};

enum tp_transport_protocol {
	TP_TRANSPORT_PROTOCOL_UNKNOWN, /* nothing looked */
	TP_TRANSPORT_PROTOCOL_RAW,     /* "raw_buffer" */
	TP_TRANSPORT_PROTOCOL_TLS,     /* "tls" */
};

/* An IP address and port, kept for the formatter only when a configured format reads it. */
struct tp_ip {
	uint8_t family; /* AF_INET, AF_INET6; 0: not known */
	uint16_t port;
	uint8_t addr[16];
};

struct tp_conn {
	uint32_t idx;	   /* slot in the worker's connection table */
	uint32_t gen;	   /* bumped on every reuse of the slot; in every user_data */
	uint16_t inflight; /* io_uring operations that still reference this slot */
	uint8_t phase;	   /* enum tp_phase */
	/* Lifecycle: how far the session got. Why it ended is rflags / end_cause below. */
	uint8_t queued : 1;	  /* on the worker's run queue (holds the slot) */
	uint8_t up_active : 1;	  /* counted in upstream_cx_active (tp_conn_upstream_active) */
	uint8_t up_connected : 1; /* connected (and handshaken); the relay waits for the chain */
	uint8_t flushing : 1;	  /* downstream gone, still writing to upstream */
	uint8_t closed_by_upstream : 1; /* its reset or last FIN ended it (destroy_remote) */
	uint8_t reads_early : 1; /* receive before connect: downstream read before the relay */
	uint8_t early_eos_delivered : 1; /* ... and its FIN has reached tcp_proxy */
	uint8_t chain_held : 1;		 /* a filter answered STOP from on_new_connection */
	uint8_t retry_wait : 1; /* a connect retry waits for the failed attempt's polls to end */
	uint8_t pre_cx : 1;	/* in listener filters: counted in downstream_pre_cx_active */
	uint8_t tunneling : 1;	/* the attempt is an HTTP tunnel (counted in upstream_rq_active
				   * while up_active) */
	uint8_t tunnel_h2 : 1;	/* ... a stream on a shared HTTP/2 connection */
	uint8_t cb_cx : 1;	/* counted in its cluster's circuit breaker: a connection */
	uint8_t cb_pending : 1; /* ... and a pending request (its connect not done yet) */
	uint8_t od_wait : 1;	/* on_demand: waits for its cluster to come from CDS */
	uint16_t response_code; /* the tunnel's HTTP status (%RESPONSE_CODE%); 0: none */
	uint32_t rflags;	/* response flags, core/conn/resp_flags.h */
	uint8_t end_cause;	/* the response-flag row that ended it, + 1; 0: a peer */
	uint16_t connect_err;	/* errno of the last failed connect attempt */
	const char *up_fail_reason; /* its transport's reason (a TLS handshake's), or NULL */
	uint32_t attempts;	    /* upstream connect attempts made */
	uint32_t filter_pos;	    /* where a held chain resumes (tp_conn_continue) */
	uint32_t filters_started;   /* filters whose on_new_connection has run */
	uint32_t lfilter_pos;	    /* listener filters done */
	uint32_t early_delivered;   /* stage bytes the whole chain passed on to tcp_proxy */
	struct tp_side side[2];
	struct tp_dir dir[2];
	struct tp_timer timer;	   /* the phase's deadline, then the session's (idle, duration) */
	uint64_t start_ms;	   /* accept time, CLOCK_MONOTONIC */
	uint64_t connect_start_ms; /* when the latest upstream connect attempt started */
	uint64_t retry_at_ms;	   /* backoff_options: when the next attempt starts; 0: none */
	uint64_t od_deadline_ms;   /* on_demand: when waiting for the cluster times out */
	const char *od_name;	   /* ... the cluster it waits for (config or filter state) */
	uint64_t active_ms;	   /* last time a byte moved either way */
	const struct tp_listener_rt *listener;
	const struct tp_filter_chain_cfg *chain;
	const struct tp_tcp_proxy_cfg *proxy;
	struct tp_cluster_rt *cluster;
	const struct tp_weighted_cluster_cfg *wcluster; /* the weighted cluster picked, or NULL */
	struct tp_host_rt *host;	    /* held (tp_host_hold) until the slot is freed */
	struct tp_cluster_rt *host_cluster; /* the cluster host belongs to */
	struct tp_state_map *filter_state;  /* NULL until a filter sets something */
	struct tp_state_map *metadata;	    /* dynamic metadata, likewise */
	struct tp_conn_info *info; /* in the slot when the configuration uses it, or NULL */
	struct tp_conn *next;	   /* free list or run queue */
	uint64_t rx_bytes;	   /* from downstream */
	uint64_t tx_bytes;	   /* to downstream */
	uint64_t idle_timeout_ms;  /* idle_timeout or its filter-state override; 0: none */
	uint64_t next_log_ms;	   /* next periodic access log entry; 0: none */
	uint64_t id;		   /* %CONNECTION_ID% */
	uint64_t start_wall_us;	   /* accept time, CLOCK_REALTIME, if a format reads it */
	struct tp_ip down_remote;  /* these three: if a configured format reads them */
	struct tp_ip down_local;
	struct tp_ip up_local;
	/* Then, in the same slot: the transports' and the filters' per-connection state and the
	 * connection info, sized once per worker from the configuration. */
};

#endif

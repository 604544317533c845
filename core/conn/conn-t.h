/* Types of one proxied connection: both sockets, both relay directions, timers, route. */
#ifndef TP_CONN_T_H
#define TP_CONN_T_H

#include "core/base/timer-t.h"
#include "uring/pool-t.h"

#include <stdint.h>

struct tp_listener_rt;
struct tp_filter_chain_cfg;
struct tp_tcp_proxy_cfg;
struct tp_cluster_rt;
struct tp_host_rt;
struct tp_state_map;
struct tp_early;

/* A connection has two sides; a direction is named by the side its bytes come from. */
enum tp_side {
	TP_DOWN = 0, /* the client's socket */
	TP_UP = 1,   /* the upstream host's socket */
};

enum tp_stage_kind {
	TP_STAGE_NONE, /* nothing in flight: an idle direction holds no pipe and no buffer */
	TP_STAGE_PIPE, /* zero-copy: splice(2) socket -> pipe -> socket */
	TP_STAGE_BUF,  /* copy: recv into a pooled buffer, send from it (no pipe to be had) */
};

/* Where a direction's bytes wait between reading one socket and writing the other. */
struct tp_stage {
	union {
		struct tp_pipe pipe;
		struct {
			uint8_t *data;
			uint32_t head; /* bytes before head were already sent */
		} buf;
	};
	uint8_t kind;
};

/* One direction of the relay; the same code serves both (see core/relay.c). */
struct tp_dir {
	struct tp_stage stage;
	uint32_t pending;     /* bytes held in stage */
	uint32_t limit;	      /* per_connection_buffer_limit_bytes of the receiving side */
	uint32_t resume_at;   /* while paused: read again once pending falls to this */
	uint8_t readable : 1; /* a poll said src is readable and no read has found it empty since */
	uint8_t src_eof : 1;  /* src sent FIN or is gone: nothing more will be read */
	uint8_t fin_sent : 1; /* the FIN was forwarded to dst (or dst is gone) */
	uint8_t dst_wait : 1; /* dst was full: a POLLOUT is armed on it */
	uint8_t paused : 1;   /* flow control: src not read until pending <= resume_at */
	uint8_t bulk : 1;     /* a read filled a copy buffer: this direction splices from now on */
	uint8_t hup_seen : 1; /* src reported POLLRDHUP/POLLHUP: its FIN is there to be read */
	uint8_t src_failed : 1; /* src was reset: what it queued is read, but never waited for */
};

enum tp_conn_state {
	TP_CONN_FILTERS,    /* network filters running, upstream not yet asked for */
	TP_CONN_CONNECTING, /* upstream connect in flight */
	TP_CONN_RELAY,	    /* both sockets up, bytes flowing */
	TP_CONN_CLOSING,    /* sockets closed, waiting for io_uring to release the slot */
	TP_CONN_FREE,	    /* back on the free list */
};

/* Why the session ended, for stats, logs and %RESPONSE_FLAGS%; and how it is set up. */
enum tp_conn_flag {
	TP_CF_QUEUED = 1 << 0,		   /* on the worker's run queue (holds the slot) */
	TP_CF_CLOSED_BY_UPSTREAM = 1 << 1, /* its reset or last FIN ended it (destroy_remote) */
	TP_CF_FLUSHING = 1 << 2,	   /* downstream gone, still writing to upstream */
	TP_CF_UP_ACTIVE = 1 << 3,	   /* counted in cluster upstream_cx_active */
	TP_CF_NO_HEALTHY = 1 << 4,	   /* UH */
	TP_CF_CONNECT_FAIL = 1 << 5,	   /* UF */
	TP_CF_RETRIES_EXCEEDED = 1 << 6,   /* URX */
	TP_CF_NO_ROUTE = 1 << 7,	   /* NC */
	TP_CF_DURATION = 1 << 8,	   /* DT */
	TP_CF_IDLE = 1 << 9,		   /* idle timeout */
	TP_CF_EARLY = 1 << 10,		   /* receive before connect: downstream read early */
	TP_CF_UP_CONNECTED = 1 << 11,	   /* connected; the relay waits for a held chain */
	TP_CF_DOWN_TLS = 1 << 12,   /* downstream TLS: ON_DOWNSTREAM_TLS_HANDSHAKE waits for it */
	TP_CF_LIMITED = 1 << 13,    /* turned away by connection_limit */
	TP_CF_CHAIN_HELD = 1 << 14, /* a filter answered STOP from on_new_connection */
};

/* Why tcpproxy itself ended a session: %CONNECTION_TERMINATION_DETAILS%. */
enum tp_close_reason {
	TP_CLOSE_NONE,		 /* a peer ended it, or it has not ended */
	TP_CLOSE_CONNECT_FAILED, /* Envoy's UpstreamFailureReason, in its order */
	TP_CLOSE_NO_HEALTHY_UPSTREAM,
	TP_CLOSE_RESOURCE_LIMIT,
	TP_CLOSE_NO_ROUTE,
	TP_CLOSE_IDLE_TIMEOUT,
	TP_CLOSE_MAX_DURATION,
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
	uint8_t state;
	uint8_t attempts; /* upstream connect attempts made */
	uint32_t flags;
	uint8_t filter_pos;	 /* where a held chain resumes (tp_conn_continue) */
	uint8_t filters_started; /* filters whose on_new_connection has run */
	uint8_t limited_by;	 /* index + 1 of the connection_limit filter that refused it */
	uint8_t poll_in : 2;	 /* per side: multishot POLLIN armed */
	uint8_t poll_out : 2;	 /* per side: POLLOUT armed */
	uint8_t close_reason;	 /* enum tp_close_reason */
	uint8_t connect_err;	 /* errno of the last failed connect attempt */
	int fd[2];
	struct tp_dir dir[2];
	struct tp_timer timer; /* earliest of idle and max-duration deadlines */
	uint64_t start_ms;
	uint64_t connect_start_ms; /* when the latest upstream connect attempt started */
	uint64_t active_ms;	   /* last time a byte moved either way */
	const struct tp_listener_rt *listener;
	const struct tp_filter_chain_cfg *chain;
	const struct tp_tcp_proxy_cfg *proxy;
	struct tp_cluster_rt *cluster;
	struct tp_host_rt *host;
	struct tp_state_map *filter_state; /* NULL until a filter sets something */
	struct tp_state_map *metadata;	   /* dynamic metadata, likewise */
	struct tp_conn *next;		   /* free list or run queue */
	uint64_t rx_bytes;		   /* from downstream */
	uint64_t tx_bytes;		   /* to downstream */
	struct tp_early *early;	  /* bytes read before the upstream connected (core/early_data.c) */
	uint64_t idle_timeout_ms; /* idle_timeout or its filter-state override; 0: none */
	uint64_t next_log_ms;	  /* next periodic access log entry; 0: none */
	uint64_t id;		  /* %CONNECTION_ID% */
	uint64_t start_wall_us;	  /* accept time, CLOCK_REALTIME, if a format reads it */
	struct tp_ip down_remote; /* these three: if a configured format reads them */
	struct tp_ip down_local;
	struct tp_ip up_local;
};

#endif

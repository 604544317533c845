/* Types of the command-operator formatter: Envoy format strings compiled once at load. */
#ifndef TP_FORMAT_T_H
#define TP_FORMAT_T_H

#include <stdbool.h>
#include <stdint.h>

struct tp_conn;

/* %ACCESS_LOG_TYPE%: why an entry is written. */
enum tp_alog_type {
	TP_ALOG_NOT_SET, /* a format rendered outside an access log (set_filter_state) */
	TP_ALOG_TCP_START,
	TP_ALOG_TCP_CONNECTED,
	TP_ALOG_TCP_PERIODIC,
	TP_ALOG_TCP_END,
};

/* What a compiled format reads that the connection keeps only on request: the worker captures
 * these at accept (or connect) only if some configured format needs them. */
enum tp_fmt_need {
	TP_FMT_NEED_DOWN_ADDRS = 1 << 0, /* downstream remote and local address */
	TP_FMT_NEED_UP_LOCAL = 1 << 1,	 /* the upstream socket's local address */
	TP_FMT_NEED_START_TIME = 1 << 2, /* wall-clock accept time */
	TP_FMT_NEED_TLS_PEER = 1 << 3,	 /* the downstream TLS peer's certificate and session */
};

enum tp_fmt_kind {
	TP_FMT_LIT,	   /* text[off, len) as is */
	TP_FMT_OP,	   /* a command operator */
	TP_FMT_JSON_FIELD, /* "key": value, the value being the next n instructions */
	TP_FMT_JSON_OPEN,  /* "key": { */
	TP_FMT_JSON_CLOSE, /* } */
};

/* A command operator: its row in core/accesslog/format.c's table. */
struct tp_fmt_op;

/* One instruction of a compiled format. */
struct tp_fmt_ins {
	const struct tp_fmt_op *op; /* TP_FMT_OP: the operator */
	uint8_t kind;		    /* enum tp_fmt_kind */
	uint8_t flag;		    /* set by the operator's parser: FILTER_STATE's PLAIN, ... */
	uint32_t max_len;	    /* %OP%:Z truncation; 0: none */
	uint32_t off;		    /* literal, key or first argument: text[off, off + len) */
	uint32_t len;
	uint32_t off2; /* second argument: DYNAMIC_METADATA's key */
	uint32_t len2;
	uint32_t n; /* TP_FMT_JSON_FIELD: instructions that form its value */
};

struct tp_format {
	bool json;	 /* one JSON object (then "\n") rather than text */
	bool typed;	 /* JSON: numbers stay numbers, unset values are null */
	bool omit_empty; /* unset values render as "" (text) or are left out (JSON) */
	unsigned needs;	 /* enum tp_fmt_need */
	struct tp_fmt_ins *ins;
	uint32_t n, cap;
	char *text; /* literals, arguments and keys; NUL-separated for libc use */
	uint32_t text_len, text_cap;
};

/* What a format is rendered against. */
struct tp_fmt_ctx {
	const struct tp_conn *c;
	enum tp_alog_type type;
	uint64_t now_ms; /* CLOCK_MONOTONIC, as the connection's start_ms */
};

#endif

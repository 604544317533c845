/* tcp_proxy's access logs: their config rows, and the per-worker writer that renders an entry
 * into a buffer and writes buffers with IORING_OP_WRITE, never blocking the ring. */
#ifndef TP_ACCESS_LOG_H
#define TP_ACCESS_LOG_H

#include "core/accesslog/access_log-t.h"
#include "core/config/cfg_schema-t.h"
#include "core/accesslog/format-t.h"

struct tp_worker;
struct tp_conn;
struct io_uring_cqe;

/* Envoy's default format, used when an access log has none. */
#define TP_ACCESS_LOG_DEFAULT_FORMAT                                                              \
	"[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" "        \
	"%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "              \
	"%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" " \
	"\"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\"\n"

/* envoy.config.accesslog.v3.AccessLog, for a TP_CFG_REPEATED row. */
extern const struct tp_cfg_schema tp_access_log_schema;

/* After the whole file is read: gives each file log its index in cfg->access_log_paths and
 * adds what the formats read to cfg->format_needs. 0 or -ENOMEM. */
int tp_access_log_check(struct tp_config *cfg, struct tp_access_log_cfg *logs, size_t n);

/* Per worker: opens every file (a file that cannot be opened is reported, and its entries
 * dropped), and releases everything at exit after writing what is buffered. */
void tp_access_log_worker_init(struct tp_worker *w);
void tp_access_log_worker_fini(struct tp_worker *w);
/* Writes one entry of type to each of c's access logs (into the worker's buffers). */
void tp_access_log_write(struct tp_worker *w, struct tp_conn *c, enum tp_alog_type type);
/* Writes c's entry to each of its listener's access logs (Listener.access_log): once, when it
 * closes, whether or not a filter chain took it (an NR connection is logged only there). */
void tp_access_log_write_listener(struct tp_worker *w, struct tp_conn *c);
/* Starts a write for each log with buffered entries and none in flight: once a loop pass. */
void tp_access_log_flush(struct tp_worker *w);
/* The completion of a write started here. */
void tp_access_log_on_write(struct tp_worker *w, const struct io_uring_cqe *cqe);
/* SIGUSR1: reopens every file by its path (logrotate moved it away); entries in flight finish
 * in the old file, later ones go to the new. */
void tp_access_log_reopen(struct tp_worker *w);

#endif

/* What a network filter may read and do on its connection: the whole surface core offers to
 * filters/. A filter includes this (and the config decoder for its parse), never core/conn/.
 *
 * Every function takes the struct tp_filter_call the callback was given. A listener filter
 * (it runs before the chain is chosen) may use only the clock, the worker slot, the stats block,
 * the connection info and the slot number: resuming, closing and timers are network filters'
 * (a listener filter closes by answering TP_LFILTER_CLOSE). */
#ifndef TP_FILTER_API_H
#define TP_FILTER_API_H

#include "core/filter-t.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Filter-state keys tcp_proxy reads (Envoy's names): what an earlier filter sets to steer it. */
#define TP_KEY_CLUSTER	     "envoy.tcp_proxy.cluster"
#define TP_KEY_IDLE_TIMEOUT  "envoy.tcp_proxy.per_connection_idle_timeout_ms"
#define TP_KEY_RECEIVE_EARLY "envoy.tcp_proxy.receive_before_connect"
#define TP_KEY_NO_TUNNELING  "envoy.tcp_proxy.disable_tunneling" /* for tunneling_config */

struct tp_stats_block;
struct tp_conn_info;
struct tp_state_map;
struct tp_format;

/* Resumes a chain this filter held (STOP from on_new_connection): the filters after it start,
 * and bytes read early go on to them. May end the connection (tcp_proxy found no route, ...). */
void tp_filter_continue(const struct tp_filter_call *f);
/* Ends the connection now (FlushWrite: what is buffered for the client is dropped, as Envoy
 * closes a connection a filter rejects). A callback that calls it returns TP_FILTER_STOP. */
void tp_filter_close(const struct tp_filter_call *f);
/* True once the connection is closing (after tp_filter_close, or anything else ending it). */
bool tp_filter_closing(const struct tp_filter_call *f);

/* The filter's own timer on this connection: ops->on_timer runs at now + delay_ms. Re-arming
 * moves it; it is cancelled when the connection closes. 0, or -ENOMEM. */
int tp_filter_timer_arm(const struct tp_filter_call *f, uint64_t delay_ms);
void tp_filter_timer_cancel(const struct tp_filter_call *f);

/* The worker's clock (CLOCK_MONOTONIC ms, refreshed once per loop pass), its slot in its
 * generation (0..n_slots-1, as worker_start was told), its stats block. */
uint64_t tp_filter_now_ms(const struct tp_filter_call *f);
unsigned tp_filter_worker_slot(const struct tp_filter_call *f);
struct tp_stats_block *tp_filter_stats(const struct tp_filter_call *f);

/* The connection's filter state (Envoy's StreamInfo::FilterState), for
 * core/conn/filter_state.h's functions: set through the pointer, read through it. */
struct tp_state_map **tp_filter_state(const struct tp_filter_call *f);
/* The connection's dynamic metadata (Envoy's StreamInfo::dynamicMetadata), for
 * core/conn/filter_state.h's tp_metadata_set/get. tcp_proxy merges namespace envoy.lb over its
 * metadata_match when it picks a host. */
struct tp_state_map **tp_filter_metadata(const struct tp_filter_call *f);
/* Renders a command-operator format against the connection, as set_filter_state does: what
 * tp_format_render() wrote into out (at most len bytes, no NUL). */
size_t tp_filter_render(const struct tp_filter_call *f, const struct tp_format *fmt, char *out,
			size_t len);
/* What is known of the stream above TCP (requested server name, ALPN offered, TLS or not:
 * core/conn/conn-t.h's struct tp_conn_info), or NULL when the configuration keeps none.
 * Listener filters fill it (tls_inspector); network filters read it (sni_cluster). */
struct tp_conn_info *tp_filter_conn_info(const struct tp_filter_call *f);
/* Sets the requested server name, lower-cased (as Envoy's setRequestedServerName); a name
 * longer than 255 bytes, or holding a NUL, is not set. */
void tp_conn_info_set_sni(struct tp_conn_info *info, const char *name, size_t len);
/* Sets the ALPN protocols offered, in wire format (each name after its length byte); a list
 * longer than the room for it keeps the whole names that fit. */
void tp_conn_info_set_alpn(struct tp_conn_info *info, const uint8_t *wire, size_t len);

/* Marks the stream as TLS: Envoy's detected transport protocol "tls" (a stream no listener filter
 * marks is "raw_buffer", as in Envoy). */
void tp_conn_info_set_tls(struct tp_conn_info *info);

/* The connection's slot number, for log lines. */
uint32_t tp_filter_conn_index(const struct tp_filter_call *f);

#endif

/* The stat tables: every counter, gauge and histogram declared once, per scope kind.
 *
 * Everything else is generated from these tables: the TP_<KIND>_<stat> enums and TP_<KIND>__COUNT
 * (shm/stats-t.h), the names and types the reader prints and the layout hash (shm/stats.c).
 *
 * A stat's enum value is its offset inside its scope; a counter or gauge takes one uint64 value, a
 * histogram takes TP_STATS_HIST_VALUES consecutive values (fixed log-linear buckets, then sum and
 * count; see shm/stats-t.h).
 *
 * Adding, removing, renaming or reordering a stat changes the layout hash, so a reader built from
 * older tables refuses the segment instead of printing wrong numbers. Names are Envoy's. */
#ifndef TP_STATS_DEF_H
#define TP_STATS_DEF_H

/* server.<stat> */
#define TP_SERVER_STATS(COUNTER, GAUGE, HISTOGRAM) \
	GAUGE(live)                                \
	GAUGE(concurrency)                         \
	GAUGE(hot_restart_epoch)                   \
	COUNTER(reload_failed)                     \
	COUNTER(worker_restarts)                   \
	GAUGE(uptime)                              \
	GAUGE(version)                             \
	GAUGE(total_connections)                   \
	GAUGE(memory_allocated)                    \
	GAUGE(last_reload_time_s)                  \
	GAUGE(last_reload_success)                 \
	GAUGE(state)

/* listener.<address>.<stat>, address as Envoy forms it (tp_stats_listener_name()) */
#define TP_LISTENER_STATS(COUNTER, GAUGE, HISTOGRAM)     \
	COUNTER(downstream_cx_total)                     \
	GAUGE(downstream_cx_active)                      \
	COUNTER(downstream_cx_overflow)                  \
	COUNTER(no_filter_chain_match)                   \
	COUNTER(downstream_pre_cx_timeout)               \
	GAUGE(downstream_pre_cx_active)                  \
	COUNTER(downstream_listener_filter_remote_close) \
	COUNTER(downstream_listener_filter_error)        \
	COUNTER(downstream_cx_transport_socket_connect_timeout)

/* tcp.<stat_prefix>.<stat>: Envoy's ALL_TCP_PROXY_STATS, the subset tcpproxy serves */
#define TP_TCP_STATS(COUNTER, GAUGE, HISTOGRAM)                \
	COUNTER(downstream_cx_total)                           \
	COUNTER(downstream_cx_no_route)                        \
	COUNTER(downstream_cx_rx_bytes_total)                  \
	COUNTER(downstream_cx_tx_bytes_total)                  \
	GAUGE(downstream_cx_rx_bytes_buffered)                 \
	GAUGE(downstream_cx_tx_bytes_buffered)                 \
	COUNTER(downstream_flow_control_paused_reading_total)  \
	COUNTER(downstream_flow_control_resumed_reading_total) \
	COUNTER(early_data_received_count_total)               \
	COUNTER(idle_timeout)                                  \
	COUNTER(max_downstream_connection_duration)            \
	COUNTER(upstream_flush_total)                          \
	GAUGE(upstream_flush_active)                           \
	COUNTER(on_demand_cluster_attempt)                     \
	COUNTER(on_demand_cluster_success)                     \
	COUNTER(on_demand_cluster_missing)                     \
	COUNTER(on_demand_cluster_timeout)                     \
	HISTOGRAM(downstream_cx_length_ms)

/* cluster.<name>.<stat>: Envoy's ALL_CLUSTER_TRAFFIC_STATS, the subset tcpproxy serves, then
 * its subset load balancer's lb_subsets_* (each worker counts the subsets it builds, as each of
 * Envoy's threads counts those of its own SubsetLoadBalancer) */
#define TP_CLUSTER_STATS(COUNTER, GAUGE, HISTOGRAM)                                        \
	COUNTER(upstream_cx_total)                                                         \
	GAUGE(upstream_cx_active)                                                          \
	COUNTER(upstream_cx_connect_fail)                                                  \
	COUNTER(upstream_cx_connect_timeout)                                               \
	COUNTER(upstream_cx_connect_attempts_exceeded)                                     \
	COUNTER(upstream_cx_rx_bytes_total)                                                \
	COUNTER(upstream_cx_tx_bytes_total)                                                \
	COUNTER(upstream_cx_destroy_local)                                                 \
	COUNTER(upstream_cx_destroy_remote)                                                \
	COUNTER(upstream_flow_control_paused_reading_total)                                \
	COUNTER(upstream_flow_control_resumed_reading_total)                               \
	COUNTER(upstream_cx_none_healthy)                                                  \
	COUNTER(upstream_cx_overflow)                                                      \
	COUNTER(upstream_rq_pending_overflow)                                              \
	HISTOGRAM(upstream_cx_connect_ms)                                                  \
	HISTOGRAM(upstream_cx_length_ms)                                                   \
	COUNTER(lb_subsets_created)                                                        \
	COUNTER(lb_subsets_removed)                                                        \
	GAUGE(lb_subsets_active)                                                           \
	COUNTER(lb_subsets_selected)                                                       \
	COUNTER(lb_subsets_fallback)                                                       \
	COUNTER(lb_subsets_fallback_panic)                                                 \
	COUNTER(update_attempt)                                                            \
	COUNTER(update_success)                                                            \
	COUNTER(update_failure)                                                            \
	COUNTER(update_empty)                                                              \
	COUNTER(membership_change)                                                         \
	GAUGE(membership_total)                                                            \
	GAUGE(membership_healthy)                                                          \
	COUNTER(hc_attempt, "health_check.attempt")                                        \
	COUNTER(hc_success, "health_check.success")                                        \
	COUNTER(hc_failure, "health_check.failure")                                        \
	COUNTER(hc_passive_failure, "health_check.passive_failure")                        \
	COUNTER(hc_network_failure, "health_check.network_failure")                        \
	COUNTER(hc_verify_cluster, "health_check.verify_cluster")                          \
	GAUGE(hc_healthy, "health_check.healthy")                                          \
	GAUGE(hc_degraded, "health_check.degraded")                                        \
	GAUGE(od_active, "outlier_detection.ejections_active")                             \
	COUNTER(od_total, "outlier_detection.ejections_total")                             \
	COUNTER(od_overflow, "outlier_detection.ejections_overflow")                       \
	COUNTER(od_enforced_total, "outlier_detection.ejections_enforced_total")           \
	COUNTER(od_enforced_5xx, "outlier_detection.ejections_enforced_consecutive_5xx")   \
	COUNTER(od_detected_5xx, "outlier_detection.ejections_detected_consecutive_5xx")   \
	COUNTER(od_enforced_gw,                                                            \
		"outlier_detection.ejections_enforced_consecutive_gateway_failure")        \
	COUNTER(od_detected_gw,                                                            \
		"outlier_detection.ejections_detected_consecutive_gateway_failure")        \
	COUNTER(od_enforced_lo,                                                            \
		"outlier_detection.ejections_enforced_consecutive_local_origin_failure")   \
	COUNTER(od_detected_lo,                                                            \
		"outlier_detection.ejections_detected_consecutive_local_origin_failure")   \
	COUNTER(od_enforced_sr, "outlier_detection.ejections_enforced_success_rate")       \
	COUNTER(od_detected_sr, "outlier_detection.ejections_detected_success_rate")       \
	COUNTER(od_enforced_fp, "outlier_detection.ejections_enforced_failure_percentage") \
	COUNTER(od_detected_fp, "outlier_detection.ejections_detected_failure_percentage") \
	COUNTER(od_enforced_lo_sr,                                                         \
		"outlier_detection.ejections_enforced_local_origin_success_rate")          \
	COUNTER(od_detected_lo_sr,                                                         \
		"outlier_detection.ejections_detected_local_origin_success_rate")          \
	COUNTER(od_enforced_lo_fp,                                                         \
		"outlier_detection.ejections_enforced_local_origin_failure_percentage")    \
	COUNTER(od_detected_lo_fp,                                                         \
		"outlier_detection.ejections_detected_local_origin_failure_percentage")    \
	COUNTER(od_sr_deprecated, "outlier_detection.ejections_success_rate")              \
	TP_CLUSTER_HTTP_STATS(COUNTER, GAUGE, HISTOGRAM)

/* The cluster stats of HTTP tunnels (tunneling_config): connections by HTTP version, the CONNECT
 * or POST streams as requests, and their response codes: the classes, and per code the codes a
 * proxy answers a tunnel with (Envoy makes a counter for any code it sees; tcpproxy keeps this
 * fixed set, and a code outside it counts in its class only). */
#define TP_CLUSTER_HTTP_STATS(COUNTER, GAUGE, HISTOGRAM) \
	COUNTER(upstream_cx_http1_total)                 \
	COUNTER(upstream_cx_http2_total)                 \
	COUNTER(upstream_rq_total)                       \
	GAUGE(upstream_rq_active)                        \
	COUNTER(upstream_rq_1xx)                         \
	COUNTER(upstream_rq_2xx)                         \
	COUNTER(upstream_rq_3xx)                         \
	COUNTER(upstream_rq_4xx)                         \
	COUNTER(upstream_rq_5xx)                         \
	COUNTER(upstream_rq_200)                         \
	COUNTER(upstream_rq_201)                         \
	COUNTER(upstream_rq_204)                         \
	COUNTER(upstream_rq_400)                         \
	COUNTER(upstream_rq_401)                         \
	COUNTER(upstream_rq_403)                         \
	COUNTER(upstream_rq_404)                         \
	COUNTER(upstream_rq_405)                         \
	COUNTER(upstream_rq_407)                         \
	COUNTER(upstream_rq_408)                         \
	COUNTER(upstream_rq_429)                         \
	COUNTER(upstream_rq_500)                         \
	COUNTER(upstream_rq_502)                         \
	COUNTER(upstream_rq_503)                         \
	COUNTER(upstream_rq_504)

/* connection_limit.<stat_prefix>.<stat>: Envoy's connection_limit network filter */
#define TP_CONNECTION_LIMIT_STATS(COUNTER, GAUGE, HISTOGRAM) \
	COUNTER(limited_connections)                         \
	GAUGE(active_connections)

/* One upstream host of a cluster, for the admin /clusters page: the scope name is
 * "<cluster>::<address:port>", so Envoy's "c1::10.0.0.1:80::cx_active::0" lines are the scope
 * name, the stat and its value. As in Envoy, host stats are not part of /stats. */
#define TP_HOST_STATS(COUNTER, GAUGE, HISTOGRAM) \
	COUNTER(cx_total)                        \
	GAUGE(cx_active)                         \
	COUNTER(cx_connect_fail)

/* tls_inspector.<stat>: Envoy's ALL_TLS_INSPECTOR_STATS. Envoy roots them at the server's scope
 * (a listener filter's context scope() is the root, not the listener's), so every listener's
 * tls_inspector counts into the one scope named "". */
#define TP_TLS_INSPECTOR_STATS(COUNTER, GAUGE, HISTOGRAM) \
	COUNTER(client_hello_too_large)                   \
	COUNTER(tls_found)                                \
	COUNTER(tls_not_found)                            \
	COUNTER(alpn_found)                               \
	COUNTER(alpn_not_found)                           \
	COUNTER(sni_found)                                \
	COUNTER(sni_not_found)                            \
	HISTOGRAM(bytes_processed)

/* dns.cares.<stat>: Envoy's c-ares resolver stats (its CaresDnsResolverImpl). Every resolver
 * counts into the one scope, as every Envoy c-ares resolver shares the "dns.cares" tree; the
 * master registers it with its first DNS cluster (core/master/dns.c). */
#define TP_DNS_CARES_STATS(COUNTER, GAUGE, HISTOGRAM) \
	COUNTER(resolve_total)                        \
	GAUGE(pending_resolutions)                    \
	COUNTER(not_found)                            \
	COUNTER(timeouts)                             \
	COUNTER(get_addr_failure)

/* cluster_manager.<stat>: Envoy's ALL_CLUSTER_MANAGER_STATS that tcpproxy has, written by the
 * master (core/master/cds.c): the clusters of the serving generation plus the dynamic ones. */
#define TP_CLUSTER_MANAGER_STATS(COUNTER, GAUGE, HISTOGRAM) \
	COUNTER(cluster_added)                              \
	COUNTER(cluster_modified)                           \
	COUNTER(cluster_removed)                            \
	GAUGE(active_clusters)                              \
	GAUGE(warming_clusters)

/* cluster_manager.cds.<stat>: Envoy's ALL_SUBSCRIPTION_STATS for the CDS file source, registered
 * only with dynamic_resources.cds_config. version is the xxHash64 of version_info, as Envoy's;
 * the text (Envoy's version_text readout) is in /clusters, /config_dump and the log. */
#define TP_CDS_STATS(COUNTER, GAUGE, HISTOGRAM)         \
	COUNTER(update_attempt, "cds.update_attempt")   \
	COUNTER(update_success, "cds.update_success")   \
	COUNTER(update_failure, "cds.update_failure")   \
	COUNTER(update_rejected, "cds.update_rejected") \
	GAUGE(update_time, "cds.update_time")           \
	GAUGE(version, "cds.version")

/* listener_manager.<stat>: Envoy's ListenerManagerStats and its LDS subscription's stats
 * (lds.*), as far as tcpproxy has them (core/master/lds.c). The master writes them all but
 * listener_create_success and listener_create_failure, which each worker counts as it adds a
 * dynamic listener, as each of Envoy's workers does. */
#define TP_LISTENER_MANAGER_STATS(COUNTER, GAUGE, HISTOGRAM)        \
	COUNTER(listener_added, "listener_added")                   \
	COUNTER(listener_modified, "listener_modified")             \
	COUNTER(listener_removed, "listener_removed")               \
	COUNTER(listener_create_success, "listener_create_success") \
	COUNTER(listener_create_failure, "listener_create_failure") \
	GAUGE(total_listeners_active, "total_listeners_active")     \
	GAUGE(total_listeners_draining, "total_listeners_draining") \
	GAUGE(total_listeners_warming, "total_listeners_warming")   \
	COUNTER(lds_update_attempt, "lds.update_attempt")           \
	COUNTER(lds_update_success, "lds.update_success")           \
	COUNTER(lds_update_failure, "lds.update_failure")           \
	COUNTER(lds_update_rejected, "lds.update_rejected")         \
	GAUGE(lds_version, "lds.version")                           \
	GAUGE(lds_update_time, "lds.update_time")

/* Kinds whose one scope is named "" and whose stats are "<kind>.<stat>" (server.live,
 * tls_inspector.tls_found, dns.cares.resolve_total); every other scope has a name. */
#define TP_STATS_ROOT_KIND(k)                                                                    \
	((k) == TP_SCOPE_SERVER || (k) == TP_SCOPE_TLS_INSPECTOR || (k) == TP_SCOPE_DNS_CARES || \
	 (k) == TP_SCOPE_CLUSTER_MANAGER || (k) == TP_SCOPE_CDS ||                               \
	 (k) == TP_SCOPE_LISTENER_MANAGER)

/* listener.<address>.ssl.<stat> and cluster.<name>.ssl.<stat>: Envoy's ALL_SSL_STATS (the subset
 * tcpproxy serves) and its per-handshake ciphers.<name>, versions.<name>, curves.<name>, for the
 * names the TLS transport can negotiate (core/tls/transport_tls.c keeps its tables in this
 * order). A row's second argument is the printed name where the identifier cannot spell it. */
#define TP_SSL_STATS(COUNTER, GAUGE, HISTOGRAM)                                                    \
	COUNTER(connection_error, "ssl.connection_error")                                          \
	COUNTER(handshake, "ssl.handshake")                                                        \
	COUNTER(session_reused, "ssl.session_reused")                                              \
	COUNTER(no_certificate, "ssl.no_certificate")                                              \
	COUNTER(fail_verify_no_cert, "ssl.fail_verify_no_cert")                                    \
	COUNTER(fail_verify_error, "ssl.fail_verify_error")                                        \
	COUNTER(fail_verify_san, "ssl.fail_verify_san")                                            \
	COUNTER(fail_verify_cert_hash, "ssl.fail_verify_cert_hash")                                \
	COUNTER(cipher_TLS_AES_128_GCM_SHA256, "ssl.ciphers.TLS_AES_128_GCM_SHA256")               \
	COUNTER(cipher_TLS_AES_256_GCM_SHA384, "ssl.ciphers.TLS_AES_256_GCM_SHA384")               \
	COUNTER(cipher_TLS_CHACHA20_POLY1305_SHA256, "ssl.ciphers.TLS_CHACHA20_POLY1305_SHA256")   \
	COUNTER(cipher_ECDHE_ECDSA_AES128_GCM_SHA256, "ssl.ciphers.ECDHE-ECDSA-AES128-GCM-SHA256") \
	COUNTER(cipher_ECDHE_RSA_AES128_GCM_SHA256, "ssl.ciphers.ECDHE-RSA-AES128-GCM-SHA256")     \
	COUNTER(cipher_ECDHE_ECDSA_AES256_GCM_SHA384, "ssl.ciphers.ECDHE-ECDSA-AES256-GCM-SHA384") \
	COUNTER(cipher_ECDHE_RSA_AES256_GCM_SHA384, "ssl.ciphers.ECDHE-RSA-AES256-GCM-SHA384")     \
	COUNTER(cipher_ECDHE_ECDSA_CHACHA20_POLY1305, "ssl.ciphers.ECDHE-ECDSA-CHACHA20-POLY1305") \
	COUNTER(cipher_ECDHE_RSA_CHACHA20_POLY1305, "ssl.ciphers.ECDHE-RSA-CHACHA20-POLY1305")     \
	COUNTER(version_TLSv1_2, "ssl.versions.TLSv1.2")                                           \
	COUNTER(version_TLSv1_3, "ssl.versions.TLSv1.3")                                           \
	COUNTER(curve_X25519, "ssl.curves.X25519")                                                 \
	COUNTER(curve_P_256, "ssl.curves.P-256")                                                   \
	COUNTER(curve_P_384, "ssl.curves.P-384")                                                   \
	COUNTER(curve_P_521, "ssl.curves.P-521")
#define TP_LISTENER_SSL_STATS(COUNTER, GAUGE, HISTOGRAM) TP_SSL_STATS(COUNTER, GAUGE, HISTOGRAM)
#define TP_CLUSTER_SSL_STATS(COUNTER, GAUGE, HISTOGRAM)	 TP_SSL_STATS(COUNTER, GAUGE, HISTOGRAM)

/* cluster.<name>.circuit_breakers.default.<stat>: Envoy's ALL_CLUSTER_CIRCUIT_BREAKERS_STATS
 * of the DEFAULT priority, the one tcp_proxy uses: the *_open gauges always, the remaining_*
 * ones only with track_remaining (a scope of their own, registered then), as Envoy makes them.
 * Each worker adds its part; the reader's sum is the value (core/conn/session.c). */
#define TP_CLUSTER_CB_STATS(COUNTER, GAUGE, HISTOGRAM)                     \
	GAUGE(cx_open, "circuit_breakers.default.cx_open")                 \
	GAUGE(cx_pool_open, "circuit_breakers.default.cx_pool_open")       \
	GAUGE(rq_pending_open, "circuit_breakers.default.rq_pending_open") \
	GAUGE(rq_open, "circuit_breakers.default.rq_open")                 \
	GAUGE(rq_retry_open, "circuit_breakers.default.rq_retry_open")
#define TP_CLUSTER_CB_REMAINING_STATS(COUNTER, GAUGE, HISTOGRAM)               \
	GAUGE(remaining_cx, "circuit_breakers.default.remaining_cx")           \
	GAUGE(remaining_pending, "circuit_breakers.default.remaining_pending") \
	GAUGE(remaining_rq, "circuit_breakers.default.remaining_rq")           \
	GAUGE(remaining_retries, "circuit_breakers.default.remaining_retries")
/* ... and the same of the HIGH priority, which tcp_proxy never uses: always 0 open, the limits
 * remaining (Envoy makes both priorities' gauges for every cluster). */
#define TP_CLUSTER_CB_HIGH_STATS(COUNTER, GAUGE, HISTOGRAM)             \
	GAUGE(cx_open, "circuit_breakers.high.cx_open")                 \
	GAUGE(cx_pool_open, "circuit_breakers.high.cx_pool_open")       \
	GAUGE(rq_pending_open, "circuit_breakers.high.rq_pending_open") \
	GAUGE(rq_open, "circuit_breakers.high.rq_open")                 \
	GAUGE(rq_retry_open, "circuit_breakers.high.rq_retry_open")
#define TP_CLUSTER_CB_HIGH_REMAINING_STATS(COUNTER, GAUGE, HISTOGRAM)       \
	GAUGE(remaining_cx, "circuit_breakers.high.remaining_cx")           \
	GAUGE(remaining_pending, "circuit_breakers.high.remaining_pending") \
	GAUGE(remaining_rq, "circuit_breakers.high.remaining_rq")           \
	GAUGE(remaining_retries, "circuit_breakers.high.remaining_retries")

/* The scope kinds: X(KIND, name[, printed]). KIND names the table TP_<KIND>_STATS and the enums
 * TP_SCOPE_<KIND>, TP_<KIND>_<stat>; name is the first component of the full stat name, unless a
 * third argument prints another (the ssl kinds extend a listener's or a cluster's names, under
 * the same scope name). The position in this list is stored in the segment: append only. A new
 * kind also needs its two enum wrappers in shm/stats-t.h (the compiler says so). */
#define TP_STATS_SCOPE_KINDS(X)                                            \
	X(SERVER, server)                                                  \
	X(LISTENER, listener)                                              \
	X(TCP, tcp)                                                        \
	X(CLUSTER, cluster)                                                \
	X(CONNECTION_LIMIT, connection_limit)                              \
	X(HOST, host)                                                      \
	X(TLS_INSPECTOR, tls_inspector)                                    \
	X(LISTENER_SSL, listener_ssl, "listener")                          \
	X(CLUSTER_SSL, cluster_ssl, "cluster")                             \
	X(CLUSTER_CB, cluster_cb, "cluster")                               \
	X(CLUSTER_CB_REMAINING, cluster_cb_remaining, "cluster")           \
	X(DNS_CARES, dns_cares, "dns.cares")                               \
	X(CLUSTER_CB_HIGH, cluster_cb_high, "cluster")                     \
	X(CLUSTER_CB_HIGH_REMAINING, cluster_cb_high_remaining, "cluster") \
	X(CLUSTER_MANAGER, cluster_manager)                                \
	X(CDS, cds, "cluster_manager")                                     \
	X(LISTENER_MANAGER, listener_manager)

#endif

/* Outlier detection's detectors, as Envoy's Outlier::DetectorImpl runs them for a TCP proxy: pure state per host, driven by the master with the workers' reported connect
 * results (core/master/hostset.c) and its interval timer. No I/O, no clock of its own. */
#ifndef TP_OUTLIER_H
#define TP_OUTLIER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config/config-t.h"

/* The detectors; a result may trip several at once (a connect failure is a gateway error and a
 * 5xx when errors are not split). */
#define TP_OD_5XX	   0x1u /* consecutive_5xx */
#define TP_OD_GATEWAY	   0x2u /* consecutive_gateway_failure */
#define TP_OD_LOCAL_ORIGIN 0x4u /* consecutive_local_origin_failure */
/* At each interval, over the interval that ended: a connect result is external origin (a 503 or
 * a 200) without split_external_local_origin_errors, local origin with it. */
#define TP_OD_SUCCESS_RATE	       0x08u /* below mean - stdev_factor x stdev */
#define TP_OD_FAILURE_PERCENTAGE       0x10u /* failures at failure_percentage_threshold */
#define TP_OD_LOCAL_SUCCESS_RATE       0x20u /* the same, local origin */
#define TP_OD_LOCAL_FAILURE_PERCENTAGE 0x40u

struct tp_od_host {
	uint32_t c_5xx, c_gateway, c_local; /* consecutive failures */
	uint32_t backoff;  /* Envoy's ejectTimeBackoff: the multiplier of the next */
	int64_t jitter_ms; /* of this ejection: up to max_ejection_time_jitter */
	/* Connect results of the running interval and of the one before (Envoy's two success
	 * rate buckets), read at the interval's end */
	uint64_t sr_total, sr_success, sr_last_total, sr_last_success;
	bool ejected;
	bool unejected_once;
	int64_t ejected_at_ms, unejected_at_ms;
};

/* n connect results of the host, all failures or all successes, in a row. Envoy's tcp_proxy
 * reports a failed connect as LocalOriginConnectFailed and a connected one as
 * LocalOriginConnectSuccessFinal: with split_external_local_origin_errors they count as
 * local-origin; without, as a 503 and a 200 (DetectorHostMonitorImpl::resultToHttpCode).
 * Returns the detectors whose threshold is reached within these n (Envoy's monitors post a
 * detector once, when its counter equals the threshold; a threshold of 0 never trips). */
unsigned tp_od_results(const struct tp_outlier_cfg *c, struct tp_od_host *h, bool failure,
		       uint32_t n);

/* success connects and failures of the host, for the success-rate detectors (any order). */
void tp_od_count(struct tp_od_host *h, uint32_t success, uint32_t failures);

/* The interval's end, after the sweep (Envoy's onIntervalTimer then processSuccessRateEjections):
 * every host's running results become the last interval's; then, over the hosts not ejected
 * with enough volume, out[i] gets the detectors that trip for host i (TP_OD_SUCCESS_RATE and
 * TP_OD_FAILURE_PERCENTAGE, or their local-origin forms with split). 0 for the others. */
void tp_od_rates(const struct tp_outlier_cfg *c, struct tp_od_host *h, uint32_t n, unsigned *out);

/* A detector tripped: may the host be ejected, with active hosts ejected of total already? Envoy
 * compares the share after this ejection with max_ejection_percent (always_eject_one_host: the
 * first ejection may go past it). */
bool tp_od_may_eject(const struct tp_outlier_cfg *c, uint32_t active, uint32_t total);

/* The detector's enforcing_* percentage; roll is uniform in [0, 100). */
bool tp_od_enforced(const struct tp_outlier_cfg *c, unsigned type, uint32_t roll);

/* Ejects h at now (its counters reset, the backoff raised as Envoy's ejectHost does), for the
 * backoff's time plus jitter_ms (uniform in [0, max_ejection_time_jitter], the caller's roll). */
void tp_od_eject(const struct tp_outlier_cfg *c, struct tp_od_host *h, int64_t now_ms,
		 int64_t jitter_ms);

/* Returns h to rotation now (the sweep's, or successful_active_health_check_uneject_host's). */
void tp_od_uneject(struct tp_od_host *h, int64_t now_ms);

/* The interval timer's sweep of one host: true when an ejected host returns now. */
bool tp_od_sweep(const struct tp_outlier_cfg *c, struct tp_od_host *h, int64_t now_ms);

/* The interval's end, after tp_od_rates() and its ejections: a host back in rotation for an
 * interval or more loses one step of backoff (Envoy's onIntervalTimer does it last, so a host
 * the rate detectors eject at this interval keeps its steps). */
void tp_od_decay(const struct tp_outlier_cfg *c, struct tp_od_host *h, int64_t now_ms);

#endif

/* Outlier detection's detectors (Envoy's DetectorHostMonitorImpl and DetectorImpl::ejectHost /
 * checkHostForUneject / processSuccessRateEjections), pure. */
#include "core/master/outlier.h"

#include <math.h>

/* Adds n to a counter (saturated): did it pass threshold on the way? */
static bool bump(uint32_t *counter, uint32_t threshold, uint32_t n)
{
	uint32_t old = *counter;

	*counter = n > UINT32_MAX - old ? UINT32_MAX : old + n;
	return threshold && old < threshold && threshold <= *counter;
}

unsigned tp_od_results(const struct tp_outlier_cfg *c, struct tp_od_host *h, bool failure,
		       uint32_t n)
{
	unsigned tripped = 0;

	if (!n)
		return 0;
	if (c->split) {
		/* Local-origin results feed only the local-origin detector. */
		if (!failure)
			h->c_local = 0;
		else if (bump(&h->c_local, c->consecutive_local_origin_failure, n))
			tripped |= TP_OD_LOCAL_ORIGIN;
		return tripped;
	}
	if (!failure) {
		h->c_5xx = 0;
		h->c_gateway = 0;
		return 0;
	}
	/* 503: a gateway error, and a 5xx; Envoy checks the gateway detector first. */
	if (bump(&h->c_gateway, c->consecutive_gateway_failure, n))
		tripped |= TP_OD_GATEWAY;
	if (bump(&h->c_5xx, c->consecutive_5xx, n))
		tripped |= TP_OD_5XX;
	return tripped;
}

void tp_od_count(struct tp_od_host *h, uint32_t success, uint32_t failures)
{
	h->sr_total += (uint64_t)success + failures;
	h->sr_success += success;
}

void tp_od_rates(const struct tp_outlier_cfg *c, struct tp_od_host *h, uint32_t n, unsigned *out)
{
	unsigned sr_type = c->split ? TP_OD_LOCAL_SUCCESS_RATE : TP_OD_SUCCESS_RATE;
	unsigned fp_type = c->split ? TP_OD_LOCAL_FAILURE_PERCENTAGE : TP_OD_FAILURE_PERCENTAGE;
	uint32_t n_sr = 0, n_fp = 0;
	double sum = 0, mean, var = 0, threshold;

	for (uint32_t i = 0; i < n; i++) {
		h[i].sr_last_total = h[i].sr_total;
		h[i].sr_last_success = h[i].sr_success;
		h[i].sr_total = h[i].sr_success = 0;
		out[i] = 0;
	}
	if (n < c->success_rate_minimum_hosts && n < c->failure_percentage_minimum_hosts)
		return;
	for (uint32_t i = 0; i < n; i++) {
		if (h[i].ejected || !h[i].sr_last_total)
			continue;
		if (h[i].sr_last_total >= c->success_rate_request_volume) {
			n_sr++;
			sum += 100.0 * (double)h[i].sr_last_success / (double)h[i].sr_last_total;
		}
		n_fp += h[i].sr_last_total >= c->failure_percentage_request_volume;
	}
	/* Envoy's successRateEjectionThreshold(): mean less stdev_factor standard deviations. */
	if (n_sr && n_sr >= c->success_rate_minimum_hosts) {
		mean = sum / n_sr;
		for (uint32_t i = 0; i < n; i++) {
			double rate;

			if (h[i].ejected || !h[i].sr_last_total ||
			    h[i].sr_last_total < c->success_rate_request_volume)
				continue;
			rate = 100.0 * (double)h[i].sr_last_success / (double)h[i].sr_last_total;
			var += (rate - mean) * (rate - mean);
		}
		threshold = mean - c->success_rate_stdev_factor / 1000.0 * sqrt(var / n_sr);
		for (uint32_t i = 0; i < n; i++)
			if (!h[i].ejected && h[i].sr_last_total &&
			    h[i].sr_last_total >= c->success_rate_request_volume &&
			    100.0 * (double)h[i].sr_last_success / (double)h[i].sr_last_total <
				    threshold)
				out[i] |= sr_type;
	}
	if (n_fp && n_fp >= c->failure_percentage_minimum_hosts)
		for (uint32_t i = 0; i < n; i++)
			if (!h[i].ejected && h[i].sr_last_total &&
			    h[i].sr_last_total >= c->failure_percentage_request_volume &&
			    100.0 - 100.0 * (double)h[i].sr_last_success /
						    (double)h[i].sr_last_total >=
				    (double)c->failure_percentage_threshold)
				out[i] |= fp_type;
}

bool tp_od_may_eject(const struct tp_outlier_cfg *c, uint32_t active, uint32_t total)
{
	if (!total)
		return false;
	if (c->always_eject_one_host && !active)
		return true;
	return 100.0 * (active + 1) / total <= (double)c->max_ejection_percent;
}

bool tp_od_enforced(const struct tp_outlier_cfg *c, unsigned type, uint32_t roll)
{
	uint32_t pct;

	switch (type) {
	case TP_OD_5XX:
		pct = c->enforcing_consecutive_5xx;
		break;
	case TP_OD_GATEWAY:
		pct = c->enforcing_consecutive_gateway_failure;
		break;
	case TP_OD_LOCAL_ORIGIN:
		pct = c->enforcing_consecutive_local_origin_failure;
		break;
	case TP_OD_SUCCESS_RATE:
		pct = c->enforcing_success_rate;
		break;
	case TP_OD_LOCAL_SUCCESS_RATE:
		pct = c->enforcing_local_origin_success_rate;
		break;
	case TP_OD_FAILURE_PERCENTAGE:
		pct = c->enforcing_failure_percentage;
		break;
	default:
		pct = c->enforcing_failure_percentage_local_origin;
		break;
	}
	return roll < pct;
}

void tp_od_eject(const struct tp_outlier_cfg *c, struct tp_od_host *h, int64_t now_ms,
		 int64_t jitter_ms)
{
	/* Envoy raises the multiplier while base × it stays below max + base. */
	if ((int64_t)h->backoff * c->base_ejection_time_ms <
	    c->max_ejection_time_ms + c->base_ejection_time_ms)
		h->backoff++;
	h->ejected = true;
	h->ejected_at_ms = now_ms;
	h->jitter_ms = jitter_ms;
}

void tp_od_uneject(struct tp_od_host *h, int64_t now_ms)
{
	h->ejected = false;
	h->unejected_once = true;
	h->unejected_at_ms = now_ms;
	/* Envoy resets every counter, so that a bout half-counted before does not eject it again
	 * on a few new errors. */
	h->c_5xx = h->c_gateway = h->c_local = 0;
}

bool tp_od_sweep(const struct tp_outlier_cfg *c, struct tp_od_host *h, int64_t now_ms)
{
	int64_t t;

	if (!h->ejected)
		return false;
	t = (int64_t)h->backoff * c->base_ejection_time_ms;
	if (t > c->max_ejection_time_ms)
		t = c->max_ejection_time_ms;
	if (now_ms - h->ejected_at_ms < t + h->jitter_ms)
		return false;
	tp_od_uneject(h, now_ms);
	return true;
}

void tp_od_decay(const struct tp_outlier_cfg *c, struct tp_od_host *h, int64_t now_ms)
{
	/* Envoy's onIntervalTimer, after processSuccessRateEjections: a host back for an interval
	 * at least loses one step at each interval; one ejected now keeps its steps. */
	if (!h->ejected && h->unejected_once && h->backoff &&
	    now_ms - h->unejected_at_ms >= c->interval_ms)
		h->backoff--;
}

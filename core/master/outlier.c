/* Outlier detection's consecutive-failure detectors (Envoy's DetectorHostMonitorImpl and
 * DetectorImpl::ejectHost / checkHostForUneject), pure. */
#include "core/master/outlier.h"

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

bool tp_od_may_eject(const struct tp_outlier_cfg *c, uint32_t active, uint32_t total)
{
	if (!total)
		return false;
	return 100.0 * (active + 1) / total <= (double)c->max_ejection_percent;
}

bool tp_od_enforced(const struct tp_outlier_cfg *c, unsigned type, uint32_t roll)
{
	uint32_t pct = type == TP_OD_5XX       ? c->enforcing_consecutive_5xx
		       : type == TP_OD_GATEWAY ? c->enforcing_consecutive_gateway_failure
					       : c->enforcing_consecutive_local_origin_failure;

	return roll < pct;
}

void tp_od_eject(const struct tp_outlier_cfg *c, struct tp_od_host *h, int64_t now_ms)
{
	/* Envoy raises the multiplier while base × it stays below max + base. */
	if ((int64_t)h->backoff * c->base_ejection_time_ms <
	    c->max_ejection_time_ms + c->base_ejection_time_ms)
		h->backoff++;
	h->ejected = true;
	h->ejected_at_ms = now_ms;
}

bool tp_od_sweep(const struct tp_outlier_cfg *c, struct tp_od_host *h, int64_t now_ms)
{
	int64_t t;

	if (!h->ejected) {
		/* Envoy's onIntervalTimer: back for an interval at least, one step less at each
		 * sweep. */
		if (h->unejected_once && h->backoff &&
		    now_ms - h->unejected_at_ms >= c->interval_ms)
			h->backoff--;
		return false;
	}
	t = (int64_t)h->backoff * c->base_ejection_time_ms;
	if (t > c->max_ejection_time_ms)
		t = c->max_ejection_time_ms;
	if (now_ms - h->ejected_at_ms < t)
		return false;
	h->ejected = false;
	h->unejected_once = true;
	h->unejected_at_ms = now_ms;
	/* Envoy resets every counter, so that a bout half-counted before does not eject it again
	 * on a few new errors. */
	h->c_5xx = h->c_gateway = h->c_local = 0;
	return true;
}

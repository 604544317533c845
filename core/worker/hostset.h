/* The worker's side of the host-set channel's reports (core/worker/hostset-t.h). */
#ifndef TP_HOSTSET_H
#define TP_HOSTSET_H

#include <stdbool.h>

#include "core/worker/hostset-t.h"

/* Adds one connect result to r. failure is the run since the last success; a success closes it
 * as the lead run (before the first success) or, if longer, as mid. Counts saturate at
 * TP_HS_MAX_REPORT_COUNT. */
static inline void tp_hs_report_add(struct tp_hs_report *r, bool failure)
{
	if (failure) {
		if (r->failure < TP_HS_MAX_REPORT_COUNT)
			r->failure++;
		if (r->failures < TP_HS_MAX_REPORT_COUNT)
			r->failures++;
		return;
	}
	if (!r->success)
		r->lead = r->failure;
	else if (r->failure > r->mid)
		r->mid = r->failure;
	r->failure = 0;
	if (r->success < TP_HS_MAX_REPORT_COUNT)
		r->success++;
}

#endif

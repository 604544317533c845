/* Response flags: the table's rows, and setting them with their counters. */
#include "core/conn/resp_flags.h"

#include "core/config/config-t.h"
#include "core/conn/conn.h"
#include "core/worker/lb-t.h"
#include "shm/stats.h"

#include <stdint.h>
#include <string.h>

#define TP__RF_ROW(id, l, d, scope, counter) [TP_RF_##id] = {.letters = l, .details = d},
const struct tp_rf_row tp_rf_rows[TP_RF__COUNT] = {TP_RESPONSE_FLAGS(TP__RF_ROW)};
#undef TP__RF_ROW

/* The scope a row names, for this connection. */
#define BASE_CLUSTER(c)	 ((c)->cluster->cfg->stats_base)
#define BASE_TCP(c)	 ((c)->proxy->stats_base)
#define BASE_LISTENER(c) ((c)->listener->cfg->stats_base)

static uint32_t counter_of(const struct tp_conn *c, enum tp_rf f)
{
	switch (f) {
#define TP__RF_CASE(id, l, d, scope, counter) \
	case TP_RF_##id:                      \
		return BASE_##scope(c) + TP_##scope##_##counter;
		TP_RESPONSE_FLAGS(TP__RF_CASE)
#undef TP__RF_CASE
	default:
		return UINT32_MAX;
	}
}

void tp_conn_flag(struct tp_worker *w, struct tp_conn *c, enum tp_rf f)
{
	uint32_t idx = counter_of(c, f);

	c->rflags |= 1u << f;
	if (idx != UINT32_MAX)
		tp_stat_inc(w->stats, idx);
}

void tp_conn_end(struct tp_worker *w, struct tp_conn *c, enum tp_rf f)
{
	tp_conn_flag(w, c, f);
	if (!c->end_cause)
		c->end_cause = (uint8_t)(f + 1);
	tp_conn_close(w, c);
}

size_t tp_rf_letters(const struct tp_conn *c, char *out, size_t len)
{
	size_t n = 0;

	for (unsigned f = 0; f < TP_RF__COUNT; f++) {
		const char *l = tp_rf_rows[f].letters;
		size_t ll;

		if (!l || !(c->rflags & (1u << f)))
			continue;
		ll = strlen(l);
		if (n + (n ? 1 : 0) + ll > len)
			break;
		if (n)
			out[n++] = ',';
		memcpy(out + n, l, ll);
		n += ll;
	}
	return n;
}

const char *tp_rf_end_details(const struct tp_conn *c)
{
	return c->end_cause ? tp_rf_rows[c->end_cause - 1].details : NULL;
}

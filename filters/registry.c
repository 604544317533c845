/* The one list of network filters: adding a filter is one line here, no constructor tricks. */
#include "core/filter.h"

#include "core/config/config-t.h"

#include <stdint.h>
#include <string.h>

static const struct tp_filter_ops *const filters[] = {
	&tp_filter_tcp_proxy,
	&tp_filter_connection_limit,
	&tp_filter_set_filter_state,
	&tp_filter_sni_cluster,
	&tp_filter_set_dynamic_metadata,
};

static const char *message_name(const char *type_url)
{
	const char *slash = strrchr(type_url, '/');

	return slash ? slash + 1 : NULL;
}

const struct tp_filter_ops *tp_filter_find_by_type_url(const char *type_url)
{
	const char *want = message_name(type_url);

	if (!want || !*want)
		return NULL;
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		if (!strcmp(message_name(filters[i]->type_url), want))
			return filters[i];
	}
	return NULL;
}

void tp_filter_chain_layout(struct tp_filter_chain_cfg *ch)
{
	uint32_t off = 0;

	for (size_t i = 0; i < ch->n_filters; i++) {
		struct tp_filter_cfg *f = &ch->filters[i];

		f->timer_off = f->state_off = UINT32_MAX;
		if (!f->ops)
			continue;
		if (f->ops->on_timer) {
			f->timer_off = off;
			off += tp_slot_round(sizeof(struct tp_filter_timer));
		}
		if (f->ops->state_size) {
			f->state_off = off;
			off += tp_slot_round(f->ops->state_size);
		}
	}
	ch->state_bytes = off;
}

/* Walks over a loaded configuration: listener → filter chain → filter. */
#include "core/config/walk.h"

int tp_listener_for_each_filter(struct tp_listener_cfg *l, tp_filter_walk_fn fn, void *arg)
{
	int ret;

	for (size_t c = 0; c < l->n_filter_chains; c++) {
		struct tp_filter_chain_cfg *ch = &l->filter_chains[c];

		for (size_t f = 0; f < ch->n_filters; f++) {
			ret = fn(&ch->filters[f], arg);
			if (ret)
				return ret;
		}
	}
	return 0;
}

int tp_config_for_each_filter(struct tp_config *cfg, tp_filter_walk_fn fn, void *arg)
{
	int ret;

	for (size_t i = 0; i < cfg->n_listeners; i++) {
		ret = tp_listener_for_each_filter(&cfg->listeners[i], fn, arg);
		if (ret)
			return ret;
	}
	return 0;
}

/* Walks over a loaded configuration's filters, written once for every loop that needs them. */
#ifndef TP_CONFIG_WALK_H
#define TP_CONFIG_WALK_H

#include "core/config/config-t.h"

/* Called for each filter; a non-zero return stops the walk and is returned by it. */
typedef int (*tp_filter_walk_fn)(struct tp_filter_cfg *f, void *arg);

/* Every filter of l: its filter chains in config order, each chain's filters in config order.
 * Returns 0, or the first non-zero value fn returned. */
int tp_listener_for_each_filter(struct tp_listener_cfg *l, tp_filter_walk_fn fn, void *arg);
/* The same for every listener of cfg, in config order. */
int tp_config_for_each_filter(struct tp_config *cfg, tp_filter_walk_fn fn, void *arg);

#endif

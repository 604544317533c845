/* LDS from a file (core/master/lds.c), as --mode validate sees it. */
#ifndef TP_LDS_H
#define TP_LDS_H

#include "core/config/config-t.h"

/* Reads cfg's lds_config file and checks every listener in it as the master would before
 * applying it. 0 (also when cfg has no lds_config, or the file cannot be read yet: errs then
 * holds a warning), -EINVAL with every problem in errs, or -ENOMEM. */
int tp_lds_validate(const struct tp_config *cfg, struct tp_cfg_errors *errs);

#endif

/* Listening sockets, bound by the master: one SO_REUSEPORT socket per listener and worker slot. */
#ifndef TP_LISTENER_H
#define TP_LISTENER_H

#include "core/config/config-t.h"

#include <stddef.h>

/* A bound, listening, non-blocking socket in *fd, or -errno with the reason in err. */
int tp_listener_bind(const struct tp_listener_cfg *l, int *fd, char *err, size_t errlen);

#endif

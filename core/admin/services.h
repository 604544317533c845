/* The master's services: the stats socket (always) and the admin endpoint (when the config has
 * admin.address), both speaking the same small HTTP/1.x and answered by core/admin.c. They run
 * on the master's poll loop and never block it. */
#ifndef TP_SERVICES_H
#define TP_SERVICES_H

#include "core/master/master-t.h"
#include "core/master/master.h"

#include <stddef.h>

struct tp_mloop;

/* The stats socket of an instance when --stats-socket is not given: next to its stats segment,
 * in /dev/shm, which every user may write: "/dev/shm/tcpproxy.<base_id>.sock". */
void tp_stats_socket_default(unsigned base_id, char *out, size_t len);

/* Master, once its loop exists: creates the stats socket (opts->stats_socket, or the default
 * for the base id) with mode 0600, owned by the workers' user when privileges are dropped, and,
 * if cfg (the configuration started with) has admin.address, binds the admin endpoint, which
 * stays where it is across reloads. A stale socket file (no one listening)
 * is replaced; a live one is an error. Workers forked later do not inherit any of these
 * descriptors. 0, or -errno after logging why. */
int tp_services_start(struct tp_mloop *loop, const struct tp_master_view *v,
		      const struct tp_master_opts *opts, const struct tp_config *cfg);
/* Closes every service descriptor and client and removes the stats socket. Safe to call when
 * tp_services_start() was not called or failed. */
void tp_services_stop(void);

#endif

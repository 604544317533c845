/* The master's services: the stats socket (always) and the admin endpoint (when the config has
 * admin.address), both speaking the same small HTTP/1.x and answered by core/admin.c. They run
 * on the master's poll loop and never block it. */
#ifndef TP_SERVICES_H
#define TP_SERVICES_H

#include "core/master/master-t.h"
#include "core/master/master.h"

#include <stddef.h>
#include <sys/types.h>

struct tp_mloop;

/* Where a master running as uid keeps its default stats socket: a directory only its owner may
 * write, so that no other local user can take the socket's name first (issue 11): /run/tcpproxy
 * for root, /dev/shm/tcpproxy-<uid> (mode 0700, next to the stats segment) for anyone else. */
void tp_stats_socket_dir(uid_t uid, char *out, size_t len);
/* The stats socket of an instance when --stats-socket is not given:
 * "<tp_stats_socket_dir(uid)>/tcpproxy.<base_id>.sock". */
void tp_stats_socket_default(unsigned base_id, uid_t uid, char *out, size_t len);
/* Whether dir may hold a stats socket for uid: a directory (not a link to one), owned by uid or
 * root, that no group or other may write. 0, or -errno with the reason in why. */
int tp_stats_socket_dir_check(const char *dir, uid_t uid, char *why, size_t whylen);

/* Master, once its loop exists: creates the stats socket (opts->stats_socket, or the default
 * for the base id and our uid, its directory created and checked first) with mode 0600, owned by the workers' user when privileges are dropped, and,
 * if cfg (the configuration started with) has admin.address, binds the admin endpoint, which
 * stays where it is across reloads. A stale socket file (no one listening)
 * of ours is replaced; a live one, or one of another user, is an error. Workers forked later do not inherit any of these
 * descriptors. 0, or -errno after logging why. */
int tp_services_start(struct tp_mloop *loop, const struct tp_master_view *v,
		      const struct tp_master_opts *opts, const struct tp_config *cfg);
/* Closes every service descriptor and client and removes the stats socket. Safe to call when
 * tp_services_start() was not called or failed. */
void tp_services_stop(void);

#endif

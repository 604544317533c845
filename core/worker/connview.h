/* The worker's side of the live connection view: a snapshot of its sessions, written when the
 * master asks (SIGUSR2) and never otherwise, so the view costs the data path nothing. */
#ifndef TP_WORKER_CONNVIEW_H
#define TP_WORKER_CONNVIEW_H

#include "core/worker/connview-t.h"
#include "core/worker/worker-t.h"

/* Writes every open session of w into fd (a memfd; struct tp_connview_hdr first) for the
 * request whose sequence number the master put in the header. 0 or -errno. */
int tp_connview_write(struct tp_worker *w, int fd);
/* The answer's header, every field but req_seq (the master's). 0 or -errno. */
int tp_connview_write_header(int fd, const struct tp_connview_hdr *h);

#endif

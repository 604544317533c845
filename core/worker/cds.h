/* A worker's clusters from CDS: the master's sealed TP_HS_CDS memfd decoded again with the
 * loader, kept by name, reference counted so that a connection keeps its cluster across
 * updates. */
#ifndef TP_WORKER_CDS_H
#define TP_WORKER_CDS_H

#include <stdint.h>

#include "core/worker/lb-t.h"

struct tp_worker;

/* Applies the set in fd (the master's memfd; closed here) as version: new clusters are usable
 * at once, a changed one (another definition version) is replaced for new connections, a
 * removed one leaves the table; connections on a replaced or removed one keep it. A set that
 * does not decode (it cannot, the master checked it, but the worker checks too) is logged and
 * the current one kept. */
void tp_cds_apply(struct tp_worker *w, int fd, uint64_t version);
/* What TP_HS_CDS_LOW says now; true if the master has not heard it yet. */
struct tp_hs_cds_low;
bool tp_cds_low(const struct tp_worker *w, struct tp_hs_cds_low *out);
/* The current CDS cluster called name, or NULL. */
struct tp_cluster_rt *tp_cds_find(const struct tp_worker *w, const char *name);
/* The current CDS cluster whose definition is id (TP_HS_CDS_ID(), core/worker/hostset-t.h),
 * or NULL: what a host set from the master names. */
struct tp_cluster_rt *tp_cds_find_id(const struct tp_worker *w, uint32_t id);
/* A connection takes (or lets go of) c; a static cluster is not counted. The last release of a
 * cluster no longer current frees it. */
static inline void tp_cluster_hold(struct tp_cluster_rt *c)
{
	if (c && c->cds)
		c->refs++;
}
void tp_cluster_release(struct tp_worker *w, struct tp_cluster_rt *c);
/* At the worker's exit: the table's references. */
void tp_cds_free_all(struct tp_worker *w);

#endif

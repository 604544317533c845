/* A cluster's health_checks as the loader reads them (core/config/health_check.c). */
#ifndef TP_HEALTH_CHECK_H
#define TP_HEALTH_CHECK_H

#include "core/config/cfg_schema-t.h"
#include "core/config/config-t.h"

extern const struct tp_cfg_schema tp_cfg_health_check_schema;

/* Rules over a cluster's health_checks once the cluster is read. */
void tp_cfg_health_checks_post(struct tp_cfg_ctx *ctx, struct tp_cluster_cfg *c);

#endif

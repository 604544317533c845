/* envoy.filters.network.sni_cluster: routes a connection to the cluster named by its requested
 * server name (Envoy's SniClusterFilter). It sets the filter-state key envoy.tcp_proxy.cluster
 * to the SNI that a listener filter (tls_inspector) found, mutable so that a later filter may
 * change it, and passes the connection on; without an SNI it sets nothing and tcp_proxy uses
 * its configured route. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/config/cfg_schema.h"
#include "core/conn/conn-t.h"
#include "core/conn/filter_state.h"
#include "core/filter.h"
#include "core/filter_api.h"

/* envoy.extensions.filters.network.sni_cluster.v3.SniCluster has no field. */
static const struct tp_cfg_field sni_cluster_fields[] = {
	{.key = NULL},
};

static const struct tp_cfg_schema sni_cluster_schema = {
	.name = "envoy.extensions.filters.network.sni_cluster.v3.SniCluster",
	.size = 0,
	.fields = sni_cluster_fields,
	.any = true,
};

/* No settings: a config object all the same, so that the chain's filter has one. */
static char sni_cluster_conf;

static void *sni_cluster_parse(struct tp_cfg_ctx *ctx, const struct tp_ynode *typed_config)
{
	tp_cfg_decode(ctx, &sni_cluster_schema, typed_config, &sni_cluster_conf);
	return &sni_cluster_conf;
}

static void sni_cluster_free(void *conf)
{
}

static enum tp_filter_status sni_cluster_on_new_connection(const struct tp_filter_call *f)
{
	const struct tp_conn_info *info = tp_filter_conn_info(f);
	struct tp_value v;
	int ret;

	if (!info || !info->sni_len)
		return TP_FILTER_CONTINUE;
	v = tp_value_string(info->sni);
	ret = tp_filter_state_set(tp_filter_state(f), TP_KEY_CLUSTER, &v, false, false);
	if (ret == -EPERM)
		tp_debug("connection %u: sni_cluster: %s is read-only", tp_filter_conn_index(f),
			 TP_KEY_CLUSTER);
	else if (ret < 0)
		tp_warn("connection %u: sni_cluster: %s", tp_filter_conn_index(f), strerror(-ret));
	return TP_FILTER_CONTINUE;
}

const struct tp_filter_ops tp_filter_sni_cluster = {
	.name = "envoy.filters.network.sni_cluster",
	.type_url =
		"type.googleapis.com/envoy.extensions.filters.network.sni_cluster.v3.SniCluster",
	.parse = sni_cluster_parse,
	.free = sni_cluster_free,
	.on_new_connection = sni_cluster_on_new_connection,
};

/* Envoy's v2 API, removed in Envoy 1.18: which v3 message replaced each v2 one that a
 * typed_config may still name, from the v3 protos' udpa.annotations.versioning
 * previous_message_type. The network and listener filters and transport sockets are listed; the package
 * renames (rate_limit -> ratelimit, ...) are why this is a table and not a rule. */
#include "core/config/v2_api.h"

#include <string.h>

static const struct {
	const char *v2;
	const char *v3;
} successors[] = {
	/* envoy.config.filter.network.* -> envoy.extensions.filters.network.* */
	{"envoy.config.filter.network.client_ssl_auth.v2.ClientSSLAuth",
	 "envoy.extensions.filters.network.client_ssl_auth.v3.ClientSSLAuth"},
	{"envoy.config.filter.network.direct_response.v2.Config",
	 "envoy.extensions.filters.network.direct_response.v3.Config"},
	{"envoy.config.filter.network.dubbo_proxy.v2alpha1.DubboProxy",
	 "envoy.extensions.filters.network.dubbo_proxy.v3.DubboProxy"},
	{"envoy.config.filter.network.echo.v2.Echo",
	 "envoy.extensions.filters.network.echo.v3.Echo"},
	{"envoy.config.filter.network.ext_authz.v2.ExtAuthz",
	 "envoy.extensions.filters.network.ext_authz.v3.ExtAuthz"},
	{"envoy.config.filter.network.http_connection_manager.v2.HttpConnectionManager",
	 "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"},
	{"envoy.config.filter.network.kafka_broker.v2alpha1.KafkaBroker",
	 "envoy.extensions.filters.network.kafka_broker.v3.KafkaBroker"},
	{"envoy.config.filter.network.local_rate_limit.v2alpha.LocalRateLimit",
	 "envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit"},
	{"envoy.config.filter.network.mongo_proxy.v2.MongoProxy",
	 "envoy.extensions.filters.network.mongo_proxy.v3.MongoProxy"},
	{"envoy.config.filter.network.mysql_proxy.v1alpha1.MySQLProxy",
	 "envoy.extensions.filters.network.mysql_proxy.v3.MySQLProxy"},
	{"envoy.config.filter.network.rate_limit.v2.RateLimit",
	 "envoy.extensions.filters.network.ratelimit.v3.RateLimit"},
	{"envoy.config.filter.network.rbac.v2.RBAC",
	 "envoy.extensions.filters.network.rbac.v3.RBAC"},
	{"envoy.config.filter.network.redis_proxy.v2.RedisProxy",
	 "envoy.extensions.filters.network.redis_proxy.v3.RedisProxy"},
	{"envoy.config.filter.network.sni_cluster.v2.SniCluster",
	 "envoy.extensions.filters.network.sni_cluster.v3.SniCluster"},
	{"envoy.config.filter.network.tcp_proxy.v2.TcpProxy",
	 "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"},
	{"envoy.config.filter.network.thrift_proxy.v2alpha1.ThriftProxy",
	 "envoy.extensions.filters.network.thrift_proxy.v3.ThriftProxy"},
	{"envoy.config.filter.network.zookeeper_proxy.v1alpha1.ZooKeeperProxy",
	 "envoy.extensions.filters.network.zookeeper_proxy.v3.ZooKeeperProxy"},
	/* envoy.config.filter.listener.* -> envoy.extensions.filters.listener.* */
	{"envoy.config.filter.listener.http_inspector.v2.HttpInspector",
	 "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector"},
	{"envoy.config.filter.listener.original_dst.v2.OriginalDst",
	 "envoy.extensions.filters.listener.original_dst.v3.OriginalDst"},
	{"envoy.config.filter.listener.original_src.v2alpha1.OriginalSrc",
	 "envoy.extensions.filters.listener.original_src.v3.OriginalSrc"},
	{"envoy.config.filter.listener.proxy_protocol.v2.ProxyProtocol",
	 "envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol"},
	{"envoy.config.filter.listener.tls_inspector.v2.TlsInspector",
	 "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"},
	/* transport sockets */
	{"envoy.api.v2.auth.DownstreamTlsContext",
	 "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"},
	{"envoy.api.v2.auth.UpstreamTlsContext",
	 "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"},
	{"envoy.config.transport_socket.raw_buffer.v2.RawBuffer",
	 "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"},
	{"envoy.config.transport_socket.alts.v2alpha.Alts",
	 "envoy.extensions.transport_sockets.alts.v3.Alts"},
	{"envoy.config.transport_socket.tap.v2alpha.Tap",
	 "envoy.extensions.transport_sockets.tap.v3.Tap"},
};

static const char *message_name(const char *type_url)
{
	const char *slash = strrchr(type_url, '/');

	return slash ? slash + 1 : type_url;
}

const char *tp_v2_api_successor(const char *message)
{
	const char *name = message_name(message);

	for (size_t i = 0; i < sizeof(successors) / sizeof(successors[0]); i++) {
		if (!strcmp(successors[i].v2, name))
			return successors[i].v3;
	}
	return NULL;
}

bool tp_v2_api_is_v2(const char *message)
{
	const char *name = message_name(message);

	return tp_v2_api_successor(name) || strstr(name, ".v2.") || strstr(name, ".v2alpha") ||
	       strstr(name, ".v1alpha1.");
}

/* The one list of network filters and the one of listener filters: adding a filter is one line
 * here, no constructor tricks. */
#include "core/filter.h"

#include "core/config/config-t.h"

#include <stdint.h>
#include <string.h>

static const struct tp_filter_ops *const filters[] = {
	&tp_filter_tcp_proxy,	&tp_filter_connection_limit,	 &tp_filter_set_filter_state,
	&tp_filter_sni_cluster, &tp_filter_set_dynamic_metadata,
};

static const struct tp_listener_filter_ops *const listener_filters[] = {
	&tp_lfilter_tls_inspector,
};

/* Envoy's listener filters tcpproxy does not have (yet): their names, old and new, and their
 * message, so that a config naming one is told "not supported yet" rather than "unknown". */
static const struct {
	const char *name, *legacy_name, *message;
} envoy_listener_filters[] = {
	{"envoy.filters.listener.http_inspector", "envoy.listener.http_inspector",
	 "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector"},
	{"envoy.filters.listener.original_dst", "envoy.listener.original_dst",
	 "envoy.extensions.filters.listener.original_dst.v3.OriginalDst"},
	{"envoy.filters.listener.original_src", "envoy.listener.original_src",
	 "envoy.extensions.filters.listener.original_src.v3.OriginalSrc"},
	{"envoy.filters.listener.proxy_protocol", "envoy.listener.proxy_protocol",
	 "envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol"},
	{"envoy.filters.listener.local_ratelimit", NULL,
	 "envoy.extensions.filters.listener.local_ratelimit.v3.LocalRateLimit"},
	{"envoy.filters.listener.dynamic_modules", NULL,
	 "envoy.extensions.filters.listener.dynamic_modules.v3.DynamicModuleListenerFilter"},
};

static const char *message_name(const char *type_url)
{
	const char *slash = strrchr(type_url, '/');

	return slash ? slash + 1 : NULL;
}

const struct tp_filter_ops *tp_filter_find_by_type_url(const char *type_url)
{
	const char *want = message_name(type_url);

	if (!want || !*want)
		return NULL;
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		if (!strcmp(message_name(filters[i]->type_url), want))
			return filters[i];
	}
	return NULL;
}

const struct tp_listener_filter_ops *tp_listener_filter_find_by_type_url(const char *type_url)
{
	const char *want = message_name(type_url);

	if (!want || !*want)
		return NULL;
	for (size_t i = 0; i < sizeof(listener_filters) / sizeof(listener_filters[0]); i++) {
		if (!strcmp(message_name(listener_filters[i]->type_url), want))
			return listener_filters[i];
	}
	return NULL;
}

const struct tp_listener_filter_ops *tp_listener_filter_find_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof(listener_filters) / sizeof(listener_filters[0]); i++) {
		const struct tp_listener_filter_ops *o = listener_filters[i];

		if (!strcmp(o->name, name) || (o->legacy_name && !strcmp(o->legacy_name, name)))
			return o;
	}
	return NULL;
}

const char *tp_listener_filter_envoy_only(const char *name, const char *type_url)
{
	const char *msg = type_url ? strrchr(type_url, '/') : NULL;

	msg = msg ? msg + 1 : type_url;
	for (size_t i = 0; i < sizeof(envoy_listener_filters) / sizeof(envoy_listener_filters[0]);
	     i++) {
		const char *legacy = envoy_listener_filters[i].legacy_name;

		if ((name && (!strcmp(envoy_listener_filters[i].name, name) ||
			      (legacy && !strcmp(legacy, name)))) ||
		    (msg && !strcmp(envoy_listener_filters[i].message, msg)))
			return envoy_listener_filters[i].name;
	}
	return NULL;
}

const char *tp_listener_filter_names(void)
{
	/* One filter today; a list joined by ", " once there are more. */
	return listener_filters[0]->name;
}

void tp_listener_filter_layout(struct tp_listener_cfg *l)
{
	uint32_t off = 0;

	for (size_t i = 0; i < l->n_listener_filters; i++) {
		struct tp_listener_filter_cfg *f = &l->listener_filters[i];

		f->state_off = UINT32_MAX;
		if (!f->ops)
			continue;
		f->max_read_bytes = (uint32_t)(f->ops->read_limit ? f->ops->read_limit(f->conf)
								  : f->ops->max_read_bytes);
		if (f->ops->state_size) {
			f->state_off = off;
			off += tp_slot_round(f->ops->state_size);
		}
	}
	l->lfilter_state_bytes = off;
}

void tp_filter_chain_layout(struct tp_filter_chain_cfg *ch)
{
	uint32_t off = 0;

	for (size_t i = 0; i < ch->n_filters; i++) {
		struct tp_filter_cfg *f = &ch->filters[i];

		f->timer_off = f->state_off = UINT32_MAX;
		if (!f->ops)
			continue;
		if (f->ops->on_timer) {
			f->timer_off = off;
			off += tp_slot_round(sizeof(struct tp_filter_timer));
		}
		if (f->ops->state_size) {
			f->state_off = off;
			off += tp_slot_round(f->ops->state_size);
		}
	}
	ch->state_bytes = off;
}

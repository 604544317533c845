/* Config side of HTTP tunnels: tcp_proxy's tunneling_config rows. */
#ifndef TP_TUNNEL_CFG_H
#define TP_TUNNEL_CFG_H

#include "core/config/cfg_schema-t.h"
#include "core/tunnel/tunnel-t.h"

/* The custom decoder of tcp_proxy's tunneling_config row (obj: struct tp_tcp_proxy_cfg) and
 * what frees it. */
int tp_tunnel_cfg_decode(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			 const struct tp_ynode *v, void *obj);
void tp_tunnel_cfg_free(const struct tp_cfg_field *f, void *obj);
/* What its formats read, for tp_config.format_needs. */
unsigned tp_tunnel_cfg_needs(const struct tp_tunnel_cfg *t);

#endif

/* Types of filter chain matching (core/config/chain_match.c): Envoy's FilterChainMatch as
 * configured, what a connection offers to be matched, and the matcher compiled from a listener's
 * chains at load. */
#ifndef TP_CHAIN_MATCH_T_H
#define TP_CHAIN_MATCH_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An IP prefix, its address masked to its length. family 0: any address (a match with no
 * ranges given). */
struct tp_cidr {
	uint8_t family; /* AF_INET, AF_INET6, or 0 */
	uint8_t len;	/* prefix length: at most 32 or 128 */
	uint8_t addr[16];
};

/* envoy.config.core.v3.CidrRange as written, then as a prefix. */
struct tp_cidr_cfg {
	char *address_prefix;
	int64_t prefix_len; /* -1: not given (Envoy reads 0) */
	struct tp_cidr cidr;
};

enum tp_source_type {
	TP_SOURCE_ANY,	    /* ANY */
	TP_SOURCE_LOCAL,    /* SAME_IP_OR_LOOPBACK */
	TP_SOURCE_EXTERNAL, /* EXTERNAL */
};

/* envoy.config.listener.v3.FilterChainMatch: each list as written (server names lower-cased);
 * an empty list (or 0, "") matches anything. */
struct tp_fcm_cfg {
	uint32_t destination_port; /* 0: any */
	struct tp_cidr_cfg *prefix_ranges;
	size_t n_prefix_ranges;
	char **server_names;
	size_t n_server_names;
	char *transport_protocol;
	char **application_protocols;
	size_t n_application_protocols;
	struct tp_cidr_cfg *direct_source_prefix_ranges;
	size_t n_direct_source_prefix_ranges;
	int source_type; /* enum tp_source_type */
	struct tp_cidr_cfg *source_prefix_ranges;
	size_t n_source_prefix_ranges;
	uint32_t *source_ports;
	size_t n_source_ports;
};

/* An address of the connection; family 0 when it is not known. */
struct tp_match_addr {
	uint8_t family;
	uint16_t port;
	uint8_t addr[16];
};

/* What a connection offers the matcher. Envoy's direct source address is the source address
 * here (no PROXY protocol rewrites it). */
struct tp_match_input {
	struct tp_match_addr local;  /* its destination: port and address */
	struct tp_match_addr remote; /* its source */
	const char *sni;	     /* requested server name, lower case; "" for none */
	size_t sni_len;
	const char *transport; /* "tls" or "raw_buffer" (Envoy's detected transport protocol) */
	const uint8_t *alpn;   /* protocols offered, ALPN wire format */
	size_t alpn_len;
};

/* The compiled matcher: Envoy's nested maps (destination port, destination IP, server name,
 * transport protocol, application protocol, direct source IP, source type, source IP, source
 * port), each level a sorted table of edges under each node. A lookup picks the most specific
 * edge at each level and never backtracks. Built at load; read-only and allocation-free after. */
union tp_fcm_key {
	uint32_t port;	     /* destination and source port; 0: any */
	struct tp_cidr cidr; /* destination, direct source and source IP; family 0: any */
	struct {
		const char *s; /* into the config's strings; "" (len 0): any */
		uint32_t len;
	} str;		/* server name ("." + suffix for a wildcard), transport, ALPN */
	uint32_t stype; /* enum tp_source_type */
};

struct tp_fcm_edge {
	union tp_fcm_key key;
	uint32_t next; /* a node of the next level; at the last level, the chain's index */
};

struct tp_fcm_node {
	uint32_t first; /* its edges: edges[first, first + n), sorted for the level's lookup */
	uint32_t n;
};

struct tp_chain_matcher {
	struct tp_fcm_node *nodes; /* nodes[0] is the root (the destination port level) */
	struct tp_fcm_edge *edges;
	uint32_t n_nodes;
	uint32_t n_edges;
	bool need_local;  /* some table reads the destination address */
	bool need_remote; /* some table reads the source address or port */
};

#endif

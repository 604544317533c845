/* The hand-built connection that format strings are rendered against, shared by the formatter's
 * unit tests (check_format.c) and its fuzz target (tests/fuzz/fuzz_format.c): chain
 * "main-chain", cluster "backend" with host 10.0.0.2:8080, downstream 192.168.1.7:51000 to
 * [::1]:10000, upstream from 127.0.0.1:40000, 154 bytes in and 226 out, connection id 42, two
 * attempts, started at 1000 ms on the loop clock and at 2016-04-15T20:17:00.310123Z. No filter
 * state or metadata: each user sets its own. */
#ifndef TP_TESTS_FORMAT_CONN_H
#define TP_TESTS_FORMAT_CONN_H

#include "core/config/config-t.h"
#include "core/conn/conn-t.h"
#include "core/worker/lb-t.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static struct tp_cluster_cfg format_conn_cluster_cfg;
static struct tp_cluster_rt format_conn_cluster;
static struct tp_endpoint_cfg format_conn_endpoint;
static struct tp_host_rt format_conn_host;
static struct tp_filter_chain_cfg format_conn_chain;

/* 0, or -1 when addr does not parse. */
static int format_conn_set_ip(struct tp_ip *ip, int family, const char *addr, uint16_t port)
{
	memset(ip, 0, sizeof(*ip));
	ip->family = (uint8_t)family;
	ip->port = port;
	return inet_pton(family, addr, ip->addr) == 1 ? 0 : -1;
}

/* 0, or -1 if an address of the fixture did not parse. */
static int format_conn_init(struct tp_conn *c)
{
	struct tp_endpoint_cfg *ep = &format_conn_endpoint;
	struct sockaddr_in *in = (struct sockaddr_in *)&ep->addr.ss;

	memset(c, 0, sizeof(*c));
	memset(ep, 0, sizeof(*ep));
	in->sin_family = AF_INET;
	in->sin_port = htons(8080);
	inet_pton(AF_INET, "10.0.0.2", &in->sin_addr);
	ep->addr.len = sizeof(*in);
	snprintf(ep->addr.text, sizeof(ep->addr.text), "10.0.0.2:8080");
	format_conn_host.cfg = ep;
	format_conn_cluster_cfg.name = "backend";
	format_conn_cluster.cfg = &format_conn_cluster_cfg;
	format_conn_chain.name = "main-chain";
	c->chain = &format_conn_chain;
	c->cluster = &format_conn_cluster;
	c->host = &format_conn_host;
	c->start_ms = 1000;
	c->start_wall_us = 1460751420ull * 1000000 + 310123; /* 2016-04-15T20:17:00.310123Z */
	c->rx_bytes = 154;
	c->tx_bytes = 226;
	c->attempts = 2;
	c->id = 42;
	return format_conn_set_ip(&c->down_remote, AF_INET, "192.168.1.7", 51000) |
	       format_conn_set_ip(&c->down_local, AF_INET6, "::1", 10000) |
	       format_conn_set_ip(&c->up_local, AF_INET, "127.0.0.1", 40000);
}

#endif

/* Fuzz target: Envoy command-operator format strings (access log format, text_format,
 * set_filter_state's format_string), compiled as the config loader does and, when they
 * compile, rendered against a full connection and an empty one, into a large buffer and a
 * small one. */
#include "tests/fuzz/fuzz.h"

#include "core/config-t.h"
#include "core/conn-t.h"
#include "core/filter_state.h"
#include "core/format.h"
#include "core/lb-t.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static struct tp_conn full, empty;
static struct tp_cluster_cfg ccfg;
static struct tp_cluster_rt crt;
static struct tp_endpoint_cfg ep;
static struct tp_host_rt host;
static struct tp_filter_chain_cfg chain;

static void set_ip(struct tp_ip *ip, int family, const char *addr, uint16_t port)
{
	ip->family = (uint8_t)family;
	ip->port = port;
	inet_pton(family, addr, ip->addr);
}

static void state_free(void)
{
	tp_state_map_free(full.filter_state);
	tp_state_map_free(full.metadata);
}

/* The connection check_format.c renders against, with filter state and metadata set. */
static void init(void)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&ep.addr.ss;
	struct tp_value v;

	in->sin_family = AF_INET;
	in->sin_port = htons(8080);
	inet_pton(AF_INET, "10.0.0.2", &in->sin_addr);
	ep.addr.len = sizeof(*in);
	snprintf(ep.addr.text, sizeof(ep.addr.text), "10.0.0.2:8080");
	host.cfg = &ep;
	ccfg.name = "backend";
	crt.cfg = &ccfg;
	chain.name = "main-chain";
	full.chain = &chain;
	full.cluster = &crt;
	full.host = &host;
	full.start_ms = 1000;
	full.start_wall_us = 1460751420ull * 1000000 + 310123;
	full.rx_bytes = 154;
	full.tx_bytes = 226;
	full.attempts = 2;
	full.id = 42;
	set_ip(&full.down_remote, AF_INET, "192.168.1.7", 51000);
	set_ip(&full.down_local, AF_INET6, "::1", 10000);
	set_ip(&full.up_local, AF_INET, "127.0.0.1", 40000);
	v = tp_value_string("svc \"a\"");
	tp_filter_state_set(&full.filter_state, "k", &v, false, false);
	v = tp_value_uint64(77);
	tp_filter_state_set(&full.filter_state, "n", &v, false, false);
	v = tp_value_bool(true);
	tp_filter_state_set(&full.filter_state, "b", &v, false, false);
	v = tp_value_string("v1");
	tp_metadata_set(&full.metadata, "ns", "k", &v);
	v = tp_value_uint64(5);
	tp_metadata_set(&full.metadata, "ns", "n", &v);
	atexit(state_free);
}

static void render(const struct tp_format *f, const struct tp_conn *c, enum tp_alog_type type,
		   size_t cap)
{
	struct tp_fmt_ctx x = {.c = c, .type = type, .now_ms = 1100};
	char *buf = malloc(cap ? cap : 1);
	bool truncated;
	size_t n;

	if (!buf)
		return;
	n = tp_format_render(f, &x, buf, cap, &truncated);
	if (n > cap)
		abort();
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct tp_fmt_error err;
	struct tp_format *f;

	if (!ready) {
		init();
		ready = true;
	}
	if (tp_format_compile((const char *)data, size, &f, &err) != 0) {
		if (err.off > size || !memchr(err.reason, '\0', sizeof(err.reason)))
			abort();
		return 0;
	}
	render(f, &full, TP_ALOG_TCP_END, 8192);
	render(f, &full, TP_ALOG_TCP_START, 7);
	render(f, &empty, TP_ALOG_NOT_SET, 8192);
	render(f, &empty, TP_ALOG_TCP_PERIODIC, 1);
	render(f, &full, TP_ALOG_TCP_CONNECTED, 0);
	tp_format_free(f);
	return 0;
}

/* Check suite for core/config/chain_match.c, the filter chain matcher alone: each chain's
 * FilterChainMatch decoded from YAML, compiled, and looked up with what a connection offers.
 * Most cases are Envoy's own (test/common/listener_manager/listener_manager_impl_test.cc,
 * "SingleFilterChainWith*" and "MultipleFilterChainsWith*"), with the chain Envoy expects. */
#include "core/config/cfg_schema.h"
#include "core/config/chain_match.h"
#include "core/config/config.h"
#include "core/config/ynode.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_CHAINS 16

static struct tp_listener_cfg l;
static struct tp_filter_chain_cfg chains[MAX_CHAINS];
static struct tp_cfg_errors errs;
static struct tp_cfg_ctx ctx;

static void teardown(void)
{
	for (size_t i = 0; i < MAX_CHAINS; i++)
		tp_cfg_free(&tp_filter_chain_match_schema, &chains[i].match);
	tp_chain_matcher_free(l.matcher);
	tp_cfg_errors_free(&errs);
	memset(&l, 0, sizeof(l));
	memset(chains, 0, sizeof(chains));
}

/* Decodes a FilterChainMatch ("" for none) into chain i; errors go to errs. */
static void chain(size_t i, const char *name, const char *yaml)
{
	struct tp_ydoc *doc;
	struct tp_yerror yerr;

	ck_assert_uint_lt(i, MAX_CHAINS);
	chains[i].name = (char *)name;
	chains[i].mark = (struct tp_cfg_mark){.line = (uint32_t)(10 * i + 1), .col = 5};
	if (!*yaml)
		return;
	chains[i].match_mark = (struct tp_cfg_mark){.line = (uint32_t)(10 * i + 2), .col = 7};
	ck_assert_int_eq(tp_ynode_parse_string(yaml, strlen(yaml), &doc, &yerr), 0);
	tp_cfg_decode(&ctx, &tp_filter_chain_match_schema, doc->root, &chains[i].match);
	tp_ynode_doc_free(doc);
}

/* The chains given so far (n), plus a default one; then compiles them. */
static int build(size_t n, bool with_default)
{
	l.filter_chains = chains;
	l.n_filter_chains = n + with_default;
	l.has_default_chain = with_default;
	l.n_listener_filters = 1; /* as with tls_inspector: no warning */
	return tp_chain_matcher_build(&ctx, &l);
}

static void setup(void)
{
	memset(&errs, 0, sizeof(errs));
	tp_cfg_ctx_init(&ctx, "test", &errs);
}

static void addr(struct tp_match_addr *a, const char *ip, unsigned port)
{
	memset(a, 0, sizeof(*a));
	a->port = (uint16_t)port;
	if (!ip)
		return;
	if (inet_pton(AF_INET, ip, a->addr) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, ip, a->addr) == 1)
		a->family = AF_INET6;
	else
		ck_abort_msg("bad test address %s", ip);
}

/* Envoy's findFilterChain(destination port, destination IP, server name, transport protocol,
 * ALPN list "a,b", source IP, source port): the chain's index, or -1. */
static int find(unsigned dport, const char *dip, const char *sni, const char *transport,
		const char *alpn, const char *sip, unsigned sport)
{
	struct tp_match_input in = {.sni = sni, .sni_len = strlen(sni), .transport = transport};
	uint8_t wire[256];
	size_t n = 0;

	addr(&in.local, dip, dport);
	addr(&in.remote, sip, sport);
	while (alpn && *alpn) {
		const char *comma = strchr(alpn, ',');
		size_t len = comma ? (size_t)(comma - alpn) : strlen(alpn);

		wire[n++] = (uint8_t)len;
		memcpy(wire + n, alpn, len);
		n += len;
		alpn += len + (comma ? 1 : 0);
	}
	in.alpn = wire;
	in.alpn_len = n;
	if (!l.matcher)
		return 0;
	return tp_chain_match_find(l.matcher, &in);
}

static bool error_has(const char *text)
{
	for (size_t i = 0; i < errs.n; i++) {
		if (strstr(errs.lines[i], text))
			return true;
	}
	return false;
}

static void no_errors(void)
{
	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.lines[i]);
	ck_assert_uint_eq(errs.n, 0);
}

/* ---- one field at a time ---- */

START_TEST(destination_port)
{
	chain(0, "foo", "destination_port: 8080");
	ck_assert_int_eq(build(1, false), 0);
	no_errors();
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "", "8.8.8.8", 111), -1);
	ck_assert_int_eq(find(8080, "127.0.0.1", "", "tls", "", "8.8.8.8", 111), 0);
	teardown();
	setup();

	chain(0, "foo", "{}");
	chain(1, "bar", "destination_port: 8080");
	chain(2, "baz", "destination_port: 8081");
	ck_assert_int_eq(build(3, false), 0);
	no_errors();
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "", "127.0.0.1", 111), 0);
	ck_assert_int_eq(find(8080, "127.0.0.1", "", "tls", "", "127.0.0.1", 111), 1);
	ck_assert_int_eq(find(8081, "127.0.0.1", "", "tls", "", "127.0.0.1", 111), 2);
}
END_TEST

/* The exact port's subtree is the only one looked at: no falling back to the any-port chain
 * when nothing under the port matches (Envoy returns the default chain there). */
START_TEST(a_port_subtree_that_fails_does_not_fall_back)
{
	chain(0, "any", "{}");
	chain(1, "sni", "{destination_port: 8080, server_names: [a.example.com]}");
	ck_assert_int_eq(build(2, true), 0);
	no_errors();
	ck_assert_int_eq(find(8080, "127.0.0.1", "a.example.com", "tls", "", "1.1.1.1", 1), 1);
	ck_assert_int_eq(find(8080, "127.0.0.1", "b.example.com", "tls", "", "1.1.1.1", 1), -1);
	ck_assert_int_eq(find(9090, "127.0.0.1", "b.example.com", "tls", "", "1.1.1.1", 1), 0);
}
END_TEST

START_TEST(destination_ip)
{
	chain(0, "foo", "prefix_ranges: {address_prefix: 127.0.0.0, prefix_len: 8}");
	ck_assert_int_eq(build(1, false), 0);
	no_errors();
	ck_assert_int_eq(find(1234, "1.2.3.4", "", "tls", "", "8.8.8.8", 111), -1);
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "", "8.8.8.8", 111), 0);
	/* An address not known (Envoy's non-IP) lies in no range. */
	ck_assert_int_eq(find(1234, NULL, "", "tls", "", "8.8.8.8", 111), -1);
	teardown();
	setup();

	chain(0, "foo", "{}");
	chain(1, "bar", "prefix_ranges: {address_prefix: 192.168.0.1, prefix_len: 32}");
	chain(2, "baz", "prefix_ranges: {address_prefix: 192.168.0.0, prefix_len: 16}");
	ck_assert_int_eq(build(3, false), 0);
	no_errors();
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "", "127.0.0.1", 111), 0);
	ck_assert_int_eq(find(1234, "192.168.0.1", "", "tls", "", "127.0.0.1", 111), 1);
	ck_assert_int_eq(find(1234, "192.168.1.1", "", "tls", "", "192.168.1.1", 111), 2);
	ck_assert_int_eq(find(1234, "::1", "", "tls", "", "::1", 111), 0);
}
END_TEST

/* The longest prefix wins, whatever the order the chains are written in; an explicit /0 holds
 * only its own family, and beats the chain that gives no range. */
START_TEST(longest_prefix_wins)
{
	chain(0, "slash8", "prefix_ranges: [{address_prefix: 10.0.0.0, prefix_len: 8}]");
	chain(1, "slash24", "prefix_ranges: [{address_prefix: 10.1.2.99, prefix_len: 24}]");
	chain(2, "slash16", "prefix_ranges: [{address_prefix: 10.1.0.0, prefix_len: 16}]");
	chain(3, "v4any", "prefix_ranges: [{address_prefix: 0.0.0.0, prefix_len: 0}]");
	chain(4, "any", "{server_names: []}");
	ck_assert_int_eq(build(5, false), 0);
	no_errors();
	ck_assert_int_eq(find(1, "10.1.2.3", "", "raw_buffer", "", "1.1.1.1", 1), 1);
	ck_assert_int_eq(find(1, "10.1.9.3", "", "raw_buffer", "", "1.1.1.1", 1), 2);
	ck_assert_int_eq(find(1, "10.9.9.3", "", "raw_buffer", "", "1.1.1.1", 1), 0);
	ck_assert_int_eq(find(1, "11.0.0.1", "", "raw_buffer", "", "1.1.1.1", 1), 3);
	ck_assert_int_eq(find(1, "fe80::1", "", "raw_buffer", "", "::1", 1), 4);
}
END_TEST

START_TEST(direct_source_ip)
{
	chain(0, "foo", "{}");
	chain(1, "bar",
	      "direct_source_prefix_ranges: {address_prefix: 192.168.0.1, prefix_len: 32}");
	chain(2, "baz",
	      "direct_source_prefix_ranges: {address_prefix: 192.168.0.0, prefix_len: 16}");
	ck_assert_int_eq(build(3, false), 0);
	no_errors();
	ck_assert(l.matcher->need_remote);
	ck_assert(!l.matcher->need_local);
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "", "127.0.0.1", 111), 0);
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "", "192.168.0.1", 111), 1);
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "", "192.168.1.1", 111), 2);
}
END_TEST

START_TEST(server_names)
{
	chain(0, "foo", "server_names: \"server1.example.com\"");
	ck_assert_int_eq(build(1, false), 0);
	no_errors();
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "", "8.8.8.8", 111), -1);
	ck_assert_int_eq(find(1234, "127.0.0.1", "www.example.com", "tls", "", "8.8.8.8", 111), -1);
	ck_assert_int_eq(find(1234, "127.0.0.1", "server1.example.com", "tls", "", "8.8.8.8", 111),
			 0);
	teardown();
	setup();

	chain(0, "foo", "{}");
	chain(1, "bar", "server_names: \"server1.example.com\"");
	chain(2, "baz", "server_names: \"*.com\"");
	ck_assert_int_eq(build(3, false), 0);
	no_errors();
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "", "127.0.0.1", 111), 0);
	ck_assert_int_eq(find(1234, "127.0.0.1", "server1.example.com", "tls", "", "1.1.1.1", 1),
			 1);
	ck_assert_int_eq(find(1234, "127.0.0.1", "server2.example.com", "tls", "", "1.1.1.1", 1),
			 2);
	ck_assert_int_eq(find(1234, "127.0.0.1", "www.wildcard.com", "tls", "", "1.1.1.1", 1), 2);
	ck_assert_int_eq(find(1234, "127.0.0.1", "www.wildcard.org", "tls", "", "1.1.1.1", 1), 0);
}
END_TEST

/* Exact beats *.example.com beats *.com; a wildcard needs at least one label before its
 * suffix, and takes any number; names are compared in lower case. */
START_TEST(exact_then_longest_wildcard)
{
	chain(0, "exact", "server_names: [A.Example.COM]");
	chain(1, "sub", "server_names: [\"*.example.com\"]");
	chain(2, "tld", "server_names: [\"*.com\"]");
	chain(3, "deep", "server_names: [\"*.b.example.com\"]");
	ck_assert_int_eq(build(4, false), 0);
	no_errors();
	ck_assert_int_eq(find(443, "127.0.0.1", "a.example.com", "tls", "", "1.1.1.1", 1), 0);
	ck_assert_int_eq(find(443, "127.0.0.1", "b.example.com", "tls", "", "1.1.1.1", 1), 1);
	ck_assert_int_eq(find(443, "127.0.0.1", "x.a.example.com", "tls", "", "1.1.1.1", 1), 1);
	ck_assert_int_eq(find(443, "127.0.0.1", "x.b.example.com", "tls", "", "1.1.1.1", 1), 3);
	ck_assert_int_eq(find(443, "127.0.0.1", "example.com", "tls", "", "1.1.1.1", 1), 2);
	ck_assert_int_eq(find(443, "127.0.0.1", "com", "tls", "", "1.1.1.1", 1), -1);
	ck_assert_int_eq(find(443, "127.0.0.1", "example.org", "tls", "", "1.1.1.1", 1), -1);
	ck_assert_int_eq(find(443, "127.0.0.1", "", "tls", "", "1.1.1.1", 1), -1);
}
END_TEST

/* The review's claim was that Envoy takes ".example.com" as an exact name. It does not: its
 * isWildcardServerName() is starts_with("*."), but it keys "*.example.com" as ".example.com"
 * (server_name.substr(1)) and a literal ".example.com" under the same key, and its lookup tries
 * ".example.com" for www.example.com (filter_chain_manager_impl.cc, addFilterChainForServerNames
 * and findFilterChainForServerName). So the leading dot is that wildcard, as in Envoy, and the
 * load says so; beside "*.example.com" it overlaps (the refusals case below). */
START_TEST(a_leading_dot_is_the_wildcard_as_in_envoy)
{
	chain(0, "dot", "server_names: [\".Example.com\"]");
	chain(1, "any", "{}");
	ck_assert_int_eq(build(2, false), 0);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_uint_eq(errs.n_warnings, 1);
	ck_assert(error_has("server_names[0]: warning: \".example.com\" is the wildcard "
			    "\"*.example.com\""));
	ck_assert_int_eq(find(443, "127.0.0.1", "www.example.com", "tls", "", "1.1.1.1", 1), 0);
	ck_assert_int_eq(find(443, "127.0.0.1", "example.com", "tls", "", "1.1.1.1", 1), 1);
}
END_TEST

START_TEST(transport_protocol)
{
	chain(0, "foo", "{}");
	chain(1, "bar", "transport_protocol: \"tls\"");
	ck_assert_int_eq(build(2, false), 0);
	no_errors();
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "raw_buffer", "", "127.0.0.1", 111), 0);
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "", "127.0.0.1", 111), 1);
	teardown();
	setup();

	chain(0, "raw", "transport_protocol: raw_buffer");
	ck_assert_int_eq(build(1, false), 0);
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "raw_buffer", "", "127.0.0.1", 111), 0);
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "", "127.0.0.1", 111), -1);
}
END_TEST

START_TEST(application_protocols)
{
	chain(0, "foo", "{}");
	chain(1, "bar", "application_protocols: [\"dummy\", \"h2\"]");
	ck_assert_int_eq(build(2, false), 0);
	no_errors();
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "", "127.0.0.1", 111), 0);
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "h2,http/1.1", "127.0.0.1", 111), 1);
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "http/1.1", "127.0.0.1", 111), 0);
	teardown();
	setup();

	/* The client's first protocol that has a chain decides, not the chain's order. */
	chain(0, "h1", "application_protocols: [http/1.1]");
	chain(1, "h2", "application_protocols: [h2]");
	ck_assert_int_eq(build(2, false), 0);
	ck_assert_int_eq(find(1, "127.0.0.1", "", "tls", "x,http/1.1,h2", "1.1.1.1", 1), 0);
	ck_assert_int_eq(find(1, "127.0.0.1", "", "tls", "h2,http/1.1", "1.1.1.1", 1), 1);
	ck_assert_int_eq(find(1, "127.0.0.1", "", "tls", "x", "1.1.1.1", 1), -1);
}
END_TEST

/* "SNI blackholed by configuration": once the exact name is taken, a client that does not also
 * offer the chain's ALPN matches nothing, though the empty chain would have taken it. */
START_TEST(several_requirements_without_backtracking)
{
	chain(0, "any", "{}");
	chain(1, "strict",
	      "server_names: [\"www.example.com\", \"server1.example.com\"]\n"
	      "transport_protocol: \"tls\"\n"
	      "application_protocols: [\"dummy\", \"h2\"]");
	ck_assert_int_eq(build(2, false), 0);
	no_errors();
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "", "127.0.0.1", 111), 0);
	ck_assert_int_eq(
		find(1234, "127.0.0.1", "server1.example.com", "tls", "", "127.0.0.1", 111), -1);
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "h2,http/1.1", "127.0.0.1", 111), 0);
	ck_assert_int_eq(find(1234, "127.0.0.1", "server1.example.com", "tls", "h2,http/1.1",
			      "127.0.0.1", 111),
			 1);
}
END_TEST

START_TEST(source_type)
{
	chain(0, "foo", "source_type: SAME_IP_OR_LOOPBACK");
	ck_assert_int_eq(build(1, false), 0);
	no_errors();
	ck_assert(l.matcher->need_local && l.matcher->need_remote);
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "", "8.8.8.8", 111), -1);
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "h2,http/1.1", "127.0.0.1", 111), 0);
	/* The same address on both ends is local too. */
	ck_assert_int_eq(find(1234, "10.0.0.5", "", "tls", "", "10.0.0.5", 111), 0);
	ck_assert_int_eq(find(1234, "::1", "", "tls", "", "::1", 111), 0);
	teardown();
	setup();

	chain(0, "foo", "source_type: SAME_IP_OR_LOOPBACK");
	chain(1, "bar", "{application_protocols: \"http/1.1\", source_type: EXTERNAL}");
	chain(2, "baz", "source_type: ANY");
	ck_assert_int_eq(build(3, false), 0);
	no_errors();
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "h2,http/1.1", "127.0.0.1", 111), -1);
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "", "127.0.0.1", 111), 0);
	ck_assert_int_eq(find(1234, "8.8.8.8", "", "tls", "h2,http/1.1", "4.4.4.4", 111), 1);
	ck_assert_int_eq(find(1234, "8.8.8.8", "", "tls", "", "4.4.4.4", 111), 2);
}
END_TEST

START_TEST(source_ip_and_port)
{
	chain(0, "foo", "source_prefix_ranges: [{address_prefix: 10.0.0.1, prefix_len: 24}]");
	ck_assert_int_eq(build(1, false), 0);
	no_errors();
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "", "10.0.1.1", 111), -1);
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "h2", "10.0.0.10", 111), 0);
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "", "2001:db8:85a3::8a2e:370:7334", 1),
			 -1);
	teardown();
	setup();

	chain(0, "v6",
	      "source_prefix_ranges: [{address_prefix: \"2001:0db8:85a3:0000:0000:0000:0000:"
	      "0000\", prefix_len: 64}]");
	ck_assert_int_eq(build(1, false), 0);
	no_errors();
	ck_assert_int_eq(find(1, "127.0.0.1", "", "tls", "", "2001:db8:85a3::8a2e:370:7334", 1), 0);
	ck_assert_int_eq(find(1, "127.0.0.1", "", "tls", "", "2001:db8:85a3:1::8a2e:370:7334", 1),
			 -1);
	teardown();
	setup();

	chain(0, "foo", "source_ports: [100]");
	chain(1, "bar", "source_ports: [\"200\", 300]");
	chain(2, "baz", "source_prefix_ranges: [{address_prefix: 4.4.4.0, prefix_len: 24}]");
	ck_assert_int_eq(build(3, false), 0);
	no_errors();
	ck_assert_int_eq(find(1234, "127.0.0.1", "", "tls", "", "127.0.0.1", 100), 0);
	ck_assert_int_eq(find(1234, "8.8.8.8", "", "tls", "h2", "4.4.4.5", 101), 2);
	ck_assert_int_eq(find(1234, "8.8.8.8", "", "tls", "h2", "4.4.4.5", 100), 2);
	ck_assert_int_eq(find(1234, "8.8.8.8", "", "tls", "h2", "5.4.4.5", 300), 1);
	ck_assert_int_eq(find(1234, "8.8.8.8", "", "tls", "h2", "5.4.4.5", 301), -1);
}
END_TEST

/* One chain for everything needs no matcher; neither does a default chain alone. */
START_TEST(nothing_to_choose)
{
	chain(0, "only", "");
	ck_assert_int_eq(build(1, false), 0);
	ck_assert_ptr_null(l.matcher);
	teardown();
	setup();
	chain(0, "default", "{}");
	ck_assert_int_eq(build(0, true), 0);
	ck_assert_ptr_null(l.matcher);
	teardown();
	setup();
	/* With a default, even one chain is matched: the default takes what it does not. */
	chain(0, "only", "{}");
	ck_assert_int_eq(build(1, true), 0);
	ck_assert_ptr_nonnull(l.matcher);
	ck_assert_int_eq(find(1, "127.0.0.1", "x", "tls", "", "1.1.1.1", 1), 0);
}
END_TEST

/* ---- refusals ---- */

START_TEST(the_same_rules_twice)
{
	chain(0, "foo", "transport_protocol: \"tls\"");
	chain(1, "bar", "transport_protocol: \"tls\"");
	ck_assert_int_eq(build(2, false), -EINVAL);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_str_eq(errs.lines[0],
			 "test:12:7: filter_chains[1].filter_chain_match: filter chain \"bar\" has "
			 "the same matching rules defined as filter chain \"foo\" (line 2)");
	teardown();
	setup();
	/* No filter_chain_match at all, twice: the chains' own lines. */
	chain(0, NULL, "");
	chain(1, NULL, "");
	ck_assert_int_eq(build(2, false), -EINVAL);
	ck_assert(error_has("test:11:5: filter_chains[1]: filter_chains[1] has the same matching "
			    "rules defined as filter_chains[0] (line 1)"));
}
END_TEST

START_TEST(overlapping_rules)
{
	chain(0, "foo", "server_names: [a.example.com, b.example.com]");
	chain(1, "bar", "{server_names: [c.example.com, B.example.com], destination_port: 443}");
	chain(2, "baz", "{server_names: [b.example.com], destination_port: 443}");
	ck_assert_int_eq(build(3, false), -EINVAL);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_str_eq(
		errs.lines[0],
		"test:22:7: filter_chains[2].filter_chain_match: multiple filter chains "
		"with overlapping matching rules are defined: filter chain \"baz\" and "
		"filter chain \"bar\" (line 12) both take connections with destination port "
		"443, server name b.example.com");
	teardown();
	setup();
	chain(0, "p", "source_ports: [1, 2]");
	chain(1, "q", "source_ports: [3, 2]");
	ck_assert_int_eq(build(2, false), -EINVAL);
	ck_assert(error_has("both take connections with source port 2"));
	teardown();
	setup();
	/* ".example.com" keys the same table entry as "*.example.com" (as in Envoy). */
	chain(0, "w", "server_names: [\"*.example.com\"]");
	chain(1, "d", "server_names: [\".example.com\"]");
	ck_assert_int_eq(build(2, false), -EINVAL);
	ck_assert(error_has("server name *.example.com"));
}
END_TEST

START_TEST(bad_fields)
{
	chain(0, "a", "server_names: \"*w.example.com\"");
	chain(1, "b", "prefix_ranges: {address_prefix: a.b.c.d, prefix_len: 32}");
	chain(2, "c", "{source_ports: [0, 65536, x], destination_port: 0, source_type: LOCAL}");
	chain(3, "d", "{address_suffix: 127.0.0.0, prefix_ranges: {prefix_len: 129}}");
	chain(4, "e", "server_names: {a: b}");
	ck_assert(error_has("partial wildcards are not supported in \"server_names\""));
	ck_assert(error_has("prefix_ranges[0].address_prefix: malformed IP address: a.b.c.d"));
	ck_assert(error_has("source_ports[0]: 0 is out of range 1..65535"));
	ck_assert(error_has("source_ports[1]: 65536 is out of range 1..65535"));
	ck_assert(error_has("source_ports[2]: expected an unsigned integer, got \"x\""));
	ck_assert(error_has("destination_port: 0 is out of range 1..65535"));
	ck_assert(error_has("source_type: unknown value \"LOCAL\""));
	ck_assert(error_has("address_suffix: not supported yet"));
	ck_assert(error_has("prefix_len: 129 is out of range 0..128"));
	ck_assert(error_has("address_prefix: missing required field"));
	ck_assert(error_has("server_names: expected a list, got a mapping"));
	/* Nothing more is said of chains that failed to decode. */
	ck_assert_int_eq(build(5, false), -EINVAL);
	ck_assert(!error_has("same matching rules"));
	teardown();
	setup();
	/* Envoy loads them, and no server name reaches either. */
	chain(0, "a", "server_names: [\"*.\", b.example.com]");
	chain(1, "b", "server_names: [\".\"]");
	ck_assert(error_has("server_names[0]: \"*.\" matches no server name"));
	ck_assert(error_has("server_names[0]: \".\" matches no server name"));
}
END_TEST

/* Envoy reads a CidrRange without prefix_len as /0; its address beyond the length is masked,
 * and a length past the family's bits is cut to them. */
START_TEST(cidr_ranges)
{
	chain(0, "nolen", "prefix_ranges: {address_prefix: 10.1.2.3}");
	chain(1, "long", "prefix_ranges: {address_prefix: 10.1.2.3, prefix_len: 100}");
	chain(2, "odd", "prefix_ranges: {address_prefix: 10.255.255.255, prefix_len: 9}");
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_uint_eq(errs.n_warnings, 1);
	ck_assert(error_has("warning: no prefix_len: Envoy reads it as 0, so 10.1.2.3/0 holds "
			    "every IPv4 address"));
	ck_assert_uint_eq(chains[0].match.prefix_ranges[0].cidr.len, 0);
	ck_assert_uint_eq(chains[1].match.prefix_ranges[0].cidr.len, 32);
	ck_assert_uint_eq(chains[2].match.prefix_ranges[0].cidr.addr[1], 0x80);
	ck_assert_uint_eq(chains[2].match.prefix_ranges[0].cidr.addr[2], 0);
	ck_assert_int_eq(build(3, false), 0);
	ck_assert_int_eq(find(1, "10.1.2.3", "", "tls", "", "1.1.1.1", 1), 1);
	ck_assert_int_eq(find(1, "10.200.2.3", "", "tls", "", "1.1.1.1", 1), 2);
	ck_assert_int_eq(find(1, "10.100.2.3", "", "tls", "", "1.1.1.1", 1), 0);
	ck_assert_int_eq(find(1, "99.1.2.3", "", "tls", "", "1.1.1.1", 1), 0);
}
END_TEST

/* A chain on SNI, ALPN or "tls" with no listener filter to find them is a warning. */
START_TEST(sni_without_a_listener_filter_warns)
{
	chain(0, "a", "server_names: [a.example.com]");
	chain(1, "b", "transport_protocol: tls");
	chain(2, "c", "transport_protocol: raw_buffer");
	l.filter_chains = chains;
	l.n_filter_chains = 3;
	ck_assert_int_eq(tp_chain_matcher_build(&ctx, &l), 0);
	ck_assert_uint_eq(errs.n_warnings, 2);
	ck_assert(error_has("filter_chains[0].filter_chain_match: warning: it matches on "
			    "server_names"));
	ck_assert(error_has("filter_chains[1].filter_chain_match: warning: it matches on "
			    "transport_protocol \"tls\""));
}
END_TEST

/* Many chains: each name finds its own, in a table searched in O(log n). */
START_TEST(many_server_names)
{
	static char names[200][32], yaml[200][64];

	for (int i = 0; i < 200; i++) {
		snprintf(names[i], sizeof(names[i]), "c%d", i);
		snprintf(yaml[i], sizeof(yaml[i]), "server_names: [\"%s%d.example.com\"]",
			 i % 2 ? "*." : "", i);
	}
	for (int i = 0; i < MAX_CHAINS; i++)
		chain((size_t)i, names[i], yaml[i]);
	ck_assert_int_eq(build(MAX_CHAINS, false), 0);
	no_errors();
	for (int i = 0; i < MAX_CHAINS; i++) {
		char sni[64];

		snprintf(sni, sizeof(sni), "%s%d.example.com", i % 2 ? "x." : "", i);
		ck_assert_int_eq(find(443, "127.0.0.1", sni, "tls", "", "1.1.1.1", 1), i);
	}
}
END_TEST

/* Multi-tenant SNI routing lists tens of thousands of names (Envoy keeps them in hash maps).
 * The build looks each key up in its node's edges by a linear scan (find_or_add()) and sorts
 * only at the end, so inserting n names is quadratic: 20,000 names take 2.5 s, 40,000 take 13 s
 * of --mode validate, and every SIGHUP blocks the master's loop that long. A build of 20,000
 * keys needs milliseconds. */
START_TEST(many_server_names_build_in_linear_time)
{
	const int n = 20000;
	size_t cap = (size_t)n * 24 + 64, len = 0;
	char *yaml = malloc(cap);
	struct timespec t0, t1;
	double took;

	ck_assert_ptr_nonnull(yaml);
	len += (size_t)snprintf(yaml + len, cap - len, "server_names: [");
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(yaml + len, cap - len, "%s\"h%d.example.com\"",
					i ? "," : "", i);
	snprintf(yaml + len, cap - len, "]");
	chain(0, "tenants", yaml);
	chain(1, "rest", "{}");
	free(yaml);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(build(2, false), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	no_errors();
	ck_assert_int_eq(find(443, "127.0.0.1", "h19999.example.com", "tls", "", "1.1.1.1", 1), 0);
	ck_assert_int_eq(find(443, "127.0.0.1", "other.example.com", "tls", "", "1.1.1.1", 1), 1);
	took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_msg(took < 0.5, "compiling %d server names took %.2f s", n, took);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("chain_match");
	TCase *t = tcase_create("match");
	TCase *b = tcase_create("refusals");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, destination_port);
	tcase_add_test(t, a_port_subtree_that_fails_does_not_fall_back);
	tcase_add_test(t, destination_ip);
	tcase_add_test(t, longest_prefix_wins);
	tcase_add_test(t, direct_source_ip);
	tcase_add_test(t, server_names);
	tcase_add_test(t, exact_then_longest_wildcard);
	tcase_add_test(t, a_leading_dot_is_the_wildcard_as_in_envoy);
	tcase_add_test(t, transport_protocol);
	tcase_add_test(t, application_protocols);
	tcase_add_test(t, several_requirements_without_backtracking);
	tcase_add_test(t, source_type);
	tcase_add_test(t, source_ip_and_port);
	tcase_add_test(t, nothing_to_choose);
	tcase_add_test(t, cidr_ranges);
	tcase_add_test(t, many_server_names);
	tcase_add_test(t, many_server_names_build_in_linear_time);
	suite_add_tcase(s, t);
	tcase_add_checked_fixture(b, setup, teardown);
	tcase_add_test(b, the_same_rules_twice);
	tcase_add_test(b, overlapping_rules);
	tcase_add_test(b, bad_fields);
	tcase_add_test(b, sni_without_a_listener_filter_warns);
	suite_add_tcase(s, b);
	return s;
}

int main(void)
{
	SRunner *r = srunner_create(suite());
	int failed;

	srunner_run_all(r, CK_ENV);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}

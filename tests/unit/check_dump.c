/* Check suite for core/config/dump.c: /config_dump's JSON and its redaction of secrets. */
#include "core/base/sbuf.h"
#include "core/config/dump.h"
#include "core/config/ynode.h"

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The redacted JSON of a YAML text. The caller frees it. */
static char *dump_of(const char *yaml)
{
	struct tp_sbuf b = TP_SBUF_INIT;
	struct tp_ydoc *doc = NULL;
	struct tp_yerror err;
	char *out;

	ck_assert_msg(!tp_ynode_parse_string(yaml, strlen(yaml), &doc, &err), "%s", err.reason);
	ck_assert_int_eq(
		tp_config_dump_render(doc->root, tp_config_dump_max(doc->text_len), &b, NULL), 0);
	tp_sbuf_putc(&b, '\0');
	out = strdup(b.p);
	tp_sbuf_free(&b);
	tp_ynode_doc_free(doc);
	return out;
}

#define NO_LEAK(json, secret) \
	ck_assert_msg(!strstr(json, secret), "%s leaked in /config_dump: %s", secret, json)

/* The snake_case spelling, as the existing integration test has it: redacted. */
START_TEST(snake_case_secrets_are_redacted)
{
	char *j = dump_of("transport_socket:\n"
			  "  typed_config:\n"
			  "    common_tls_context:\n"
			  "      tls_certificates:\n"
			  "      - certificate_chain: {inline_string: CERT}\n"
			  "        private_key: {inline_string: SNAKEKEY}\n"
			  "    session_ticket_keys: {keys: [{inline_bytes: SNAKETICKET}]}\n");

	NO_LEAK(j, "SNAKEKEY");
	NO_LEAK(j, "SNAKETICKET");
	free(j);
}
END_TEST

/* The loader takes protobuf's lowerCamelCase json_name for every field (cfg_schema.c's
 * key_matches(): "privateKey" is private_key, "inlineString" is inline_string), so a config
 * written from JSON tooling spells them so. The redaction compares the snake_case names only:
 * privateKey is not a secret key, inlineString is not inline data, commonTlsContext and
 * transportSocket are not a TLS subtree. Bug: the private key and the session ticket keys are
 * dumped in clear. */
START_TEST(lower_camel_case_secrets_are_redacted)
{
	char *j = dump_of("transportSocket:\n"
			  "  typedConfig:\n"
			  "    commonTlsContext:\n"
			  "      tlsCertificates:\n"
			  "      - certificateChain: {inlineString: CERT}\n"
			  "        privateKey: {inlineString: CAMELKEY}\n"
			  "        password: {inlineString: CAMELPASS}\n"
			  "    sessionTicketKeys: {keys: [{inlineBytes: CAMELTICKET}]}\n");

	NO_LEAK(j, "CAMELPASS"); /* "password" is the same in both spellings: redacted */
	NO_LEAK(j, "CAMELKEY");
	NO_LEAK(j, "CAMELTICKET");
	free(j);
}
END_TEST

/* Envoy's GenericSecret.secret is a sensitive field (static_resources.secrets, SDS): neither
 * under a transport_socket nor under a key with "tls" in it, it is dumped in clear. */
START_TEST(generic_secret_is_redacted)
{
	char *j = dump_of("secrets:\n"
			  "- name: hmac\n"
			  "  generic_secret:\n"
			  "    secret: {inline_string: GENERICSECRET}\n");

	NO_LEAK(j, "GENERICSECRET");
	free(j);
}
END_TEST

/* Every DataSource value under a secret or a TLS context, in either spelling and whatever the
 * case of "tls"; a file name, and what is not under a secret, stay. */
START_TEST(data_sources_under_secrets_are_redacted_and_the_rest_kept)
{
	char *j = dump_of("staticResources:\n"
			  "  secrets:\n"
			  "  - name: s\n"
			  "    genericSecret: {secret: {environmentVariable: GENERICENV}}\n"
			  "  - name: t\n"
			  "    tlsCertificate:\n"
			  "      certificateChain: {filename: /etc/cert.pem}\n"
			  "      ocspStaple: {inlineBytes: STAPLE}\n"
			  "  - name: v\n"
			  "    validationContext: {trustedCa: {inline_string: CA}}\n"
			  "upstream_TLS_context: {sni: {inline_string: UPPERTLS}}\n"
			  "node: {metadata: {inline_string: PLAIN, secret: NOTGENERIC}}\n");

	NO_LEAK(j, "GENERICENV");
	NO_LEAK(j, "STAPLE");
	NO_LEAK(j, "\"CA\"");
	NO_LEAK(j, "UPPERTLS");
	ck_assert_msg(strstr(j, "\"/etc/cert.pem\""), "a file name is not a secret: %s", j);
	ck_assert_msg(strstr(j, "\"PLAIN\"") && strstr(j, "\"NOTGENERIC\""),
		      "not under a secret: kept: %s", j);
	free(j);
}
END_TEST

/* Renders yaml with the bound max; the caller frees. */
static char *dump_max(const char *yaml, size_t max, bool *cut)
{
	struct tp_sbuf b = TP_SBUF_INIT;
	struct tp_ydoc *doc = NULL, *back = NULL;
	struct tp_yerror err;
	char *out;

	ck_assert_msg(!tp_ynode_parse_string(yaml, strlen(yaml), &doc, &err), "%s", err.reason);
	ck_assert_int_eq(tp_config_dump_render(doc->root, max, &b, cut), 0);
	/* Cut or not, it is JSON that /config_dump can parse back. */
	ck_assert_msg(!tp_ynode_parse_string(b.p, b.len, &back, &err), "%s: %s", err.reason, b.p);
	tp_ynode_doc_free(back);
	out = strndup(b.p, b.len);
	tp_sbuf_free(&b);
	tp_ynode_doc_free(doc);
	return out;
}

#define CUT_TEXT "[truncated: the configuration renders to more than"

/* An alias is written out in full at each use: a 64 KiB scalar used 2,000 times in a 130 KB
 * file is 128 MiB of JSON. The rendering stops at its bound, says so where it stops, closes
 * what is open, and stays JSON. */
START_TEST(aliases_render_within_the_bound)
{
	size_t big = 64 << 10, uses = 2000, cap = big + uses * 4 + 128, len = 0;
	char *yaml = malloc(cap), *j;
	bool cut = false;
	size_t max;

	ck_assert_ptr_nonnull(yaml);
	len += (size_t)snprintf(yaml, cap, "node:\n  metadata:\n    big: &b ");
	memset(yaml + len, 'A', big);
	len += big;
	len += (size_t)snprintf(yaml + len, cap - len, "\n    many: [*b");
	for (size_t i = 1; i < uses; i++)
		len += (size_t)snprintf(yaml + len, cap - len, ",*b");
	snprintf(yaml + len, cap - len, "]\nafter: x\n");
	max = tp_config_dump_max(strlen(yaml));
	ck_assert_uint_lt(max, 5u << 20);
	j = dump_max(yaml, max, &cut);
	ck_assert(cut);
	ck_assert_uint_le(strlen(j), max + 4096);
	ck_assert_msg(strstr(j, CUT_TEXT), "no marker");
	ck_assert_msg(!strstr(j, "\"after\""), "nothing is rendered after the cut");
	free(j);
	free(yaml);
}
END_TEST

/* Without aliases, a file renders whole within its bound; with a bound too small for it, even
 * the first key is a marker. */
START_TEST(a_file_without_aliases_renders_whole)
{
	const char *yaml = "a: {b: [1, two, \"3\"], c: {d: ~}}\n\"x\\ty\": z\n";
	bool cut = true;
	char *j = dump_max(yaml, tp_config_dump_max(strlen(yaml)), &cut);

	ck_assert(!cut);
	ck_assert_str_eq(
		j, "{\"a\":{\"b\":[1,\"two\",\"3\"],\"c\":{\"d\":null}},\"x\\u0009y\":\"z\"}");
	free(j);
	j = dump_max(yaml, 10, &cut);
	ck_assert(cut);
	ck_assert_msg(strstr(j, CUT_TEXT), "%s", j);
	free(j);
	j = dump_max(yaml, 0, &cut);
	ck_assert(cut);
	ck_assert_msg(!strncmp(j, "{\"[truncated]\":\"" CUT_TEXT, 16 + sizeof(CUT_TEXT) - 1), "%s",
		      j);
	free(j);
}
END_TEST

static Suite *dump_suite(void)
{
	Suite *s = suite_create("dump");
	TCase *tc = tcase_create("redaction");

	tcase_add_test(tc, snake_case_secrets_are_redacted);
	tcase_add_test(tc, lower_camel_case_secrets_are_redacted);
	tcase_add_test(tc, generic_secret_is_redacted);
	tcase_add_test(tc, data_sources_under_secrets_are_redacted_and_the_rest_kept);
	tcase_add_test(tc, aliases_render_within_the_bound);
	tcase_add_test(tc, a_file_without_aliases_renders_whole);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(dump_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

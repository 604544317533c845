/* The command-operator formatter: every operator against a hand-built connection, the JSON
 * dictionary form, truncation and escaping (UTF-8 characters kept whole, any bytes valid JSON),
 * and compile errors with their positions. Formats are fed whole: the compiler takes a complete
 * string, as the config loader has one. */
#include "core/config/config-t.h"
#include "core/conn/conn-t.h"
#include "core/conn/filter_state.h"
#include "core/conn/resp_flags.h"
#include "core/filter_api.h"
#include "core/accesslog/format.h"
#include "core/worker/lb-t.h"
#include "core/config/ynode.h"
#include "tests/unit/format_conn.h"
#include "tests/unit/json_valid.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct tp_conn c;

static void setup(void)
{
	ck_assert_int_eq(format_conn_init(&c), 0);
}

static void teardown(void)
{
	tp_state_map_free(c.filter_state);
	tp_state_map_free(c.metadata);
	c.filter_state = c.metadata = NULL;
}

/* Compiles fmt (which must be valid) and renders it as a TcpConnectionEnd at 1100 ms. */
static char *render_as(const char *fmt, enum tp_alog_type type)
{
	static char out[4096];
	struct tp_fmt_ctx x = {.c = &c, .type = type, .now_ms = 1100};
	struct tp_fmt_error e;
	struct tp_format *f;
	size_t n;

	ck_assert_msg(tp_format_compile(fmt, strlen(fmt), &f, &e) == 0, "%s: %s", fmt, e.reason);
	n = tp_format_render(f, &x, out, sizeof(out) - 1, NULL);
	out[n] = '\0';
	tp_format_free(f);
	return out;
}

static char *render(const char *fmt)
{
	return render_as(fmt, TP_ALOG_TCP_END);
}

#define RENDERS(fmt, want) ck_assert_str_eq(render(fmt), want)

START_TEST(literals_and_escapes)
{
	RENDERS("", "");
	RENDERS("plain text", "plain text");
	RENDERS("100%% sure", "100% sure");
	RENDERS("%%%%", "%%");
	RENDERS("a%BYTES_SENT%b", "a226b");
	RENDERS("line\n", "line\n");
}
END_TEST

START_TEST(numbers_and_durations)
{
	RENDERS("%DURATION%", "100");
	RENDERS("%BYTES_RECEIVED% %BYTES_SENT%", "154 226");
	RENDERS("%DOWNSTREAM_WIRE_BYTES_RECEIVED% %DOWNSTREAM_WIRE_BYTES_SENT%", "154 226");
	RENDERS("%UPSTREAM_REQUEST_ATTEMPT_COUNT%", "2");
	RENDERS("%CONNECTION_ID%", "42");
	RENDERS("%RESPONSE_CODE%", "0");
}
END_TEST

START_TEST(start_time_forms)
{
	RENDERS("%START_TIME%", "2016-04-15T20:17:00.310Z");
	RENDERS("%START_TIME()%", "2016-04-15T20:17:00.310Z");
	RENDERS("%START_TIME(%Y/%m/%d)%", "2016/04/15");
	RENDERS("%START_TIME(%s)%", "1460751420");
	RENDERS("%START_TIME(%s.%3f)%", "1460751420.310");
	RENDERS("%START_TIME(%s.%6f)%", "1460751420.310123");
	RENDERS("%START_TIME(%f)%", "310123000");
	RENDERS("%START_TIME(%H:%M:%E3S)%", "20:17:00.310");
	RENDERS("%START_TIME(100%%)%", "100%");
	c.start_wall_us = 0;
	RENDERS("%START_TIME%", "-");
}
END_TEST

START_TEST(addresses)
{
	RENDERS("%UPSTREAM_HOST%", "10.0.0.2:8080");
	RENDERS("%UPSTREAM_REMOTE_ADDRESS%|%UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%|"
		"%UPSTREAM_REMOTE_PORT%",
		"10.0.0.2:8080|10.0.0.2|8080");
	RENDERS("%UPSTREAM_LOCAL_ADDRESS%|%UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%|"
		"%UPSTREAM_LOCAL_PORT%",
		"127.0.0.1:40000|127.0.0.1|40000");
	RENDERS("%DOWNSTREAM_REMOTE_ADDRESS%|%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%|"
		"%DOWNSTREAM_REMOTE_PORT%",
		"192.168.1.7:51000|192.168.1.7|51000");
	RENDERS("%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%|"
		"%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%|%DOWNSTREAM_DIRECT_REMOTE_PORT%",
		"192.168.1.7:51000|192.168.1.7|51000");
	RENDERS("%DOWNSTREAM_LOCAL_ADDRESS%|%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%|"
		"%DOWNSTREAM_LOCAL_PORT%",
		"[::1]:10000|::1|10000");
	c.host = NULL;
	memset(&c.up_local, 0, sizeof(c.up_local));
	RENDERS("%UPSTREAM_HOST% %UPSTREAM_LOCAL_ADDRESS% %UPSTREAM_REMOTE_PORT%", "- - -");
}
END_TEST

START_TEST(session_outcome)
{
	RENDERS("%RESPONSE_FLAGS%", "-");
	c.rflags = 1u << TP_RF_UPSTREAM_CONNECT_FAILURE | 1u << TP_RF_RETRY_LIMIT_EXCEEDED;
	RENDERS("%RESPONSE_FLAGS%", "UF,URX");
	c.rflags = 1u << TP_RF_NO_CLUSTER_FOUND | 1u << TP_RF_NO_HEALTHY_UPSTREAM |
		   1u << TP_RF_DURATION_TIMEOUT | 1u << TP_RF_IDLE_TIMEOUT;
	RENDERS("%RESPONSE_FLAGS%", "UH,DT,NC");

	RENDERS("%CONNECTION_TERMINATION_DETAILS%", "-");
	c.end_cause = TP_RF_NO_CLUSTER_FOUND + 1;
	RENDERS("%CONNECTION_TERMINATION_DETAILS%", "tcp_initializion_failure:3");
	c.end_cause = TP_RF_RETRY_LIMIT_EXCEEDED + 1;
	RENDERS("%DOWNSTREAM_LOCAL_CLOSE_REASON%", "tcp_initializion_failure:0");
	c.end_cause = TP_RF_NO_HEALTHY_UPSTREAM + 1;
	RENDERS("%CONNECTION_TERMINATION_DETAILS%", "tcp_initializion_failure:1");
	c.end_cause = TP_RF_IDLE_TIMEOUT + 1;
	RENDERS("%CONNECTION_TERMINATION_DETAILS%", "tcp_session_idle_timeout");
	c.end_cause = TP_RF_DURATION_TIMEOUT + 1;
	RENDERS("%CONNECTION_TERMINATION_DETAILS%", "max_connection_duration_reached");

	RENDERS("%UPSTREAM_TRANSPORT_FAILURE_REASON%", "-");
	c.connect_err = ECONNREFUSED;
	RENDERS("%UPSTREAM_TRANSPORT_FAILURE_REASON%", "delayed_connect_error:_Connection_refused");
}
END_TEST

START_TEST(names_and_types)
{
	char name[256] = {0};

	RENDERS("%UPSTREAM_CLUSTER%", "backend");
	RENDERS("%FILTER_CHAIN_NAME%", "main-chain");
	RENDERS("%REQUESTED_SERVER_NAME%", "-");
	{
		struct tp_conn_info info = {0};

		c.info = &info;
		RENDERS("%REQUESTED_SERVER_NAME%", "-"); /* kept, but nothing found */
		tp_conn_info_set_sni(&info, "Www.Example.COM", 15);
		RENDERS("%REQUESTED_SERVER_NAME%", "www.example.com");
		c.info = NULL;
	}
	ck_assert_str_eq(render_as("%ACCESS_LOG_TYPE%", TP_ALOG_TCP_START), "TcpConnectionStart");
	ck_assert_str_eq(render_as("%ACCESS_LOG_TYPE%", TP_ALOG_TCP_CONNECTED),
			 "TcpUpstreamConnected");
	ck_assert_str_eq(render_as("%ACCESS_LOG_TYPE%", TP_ALOG_TCP_PERIODIC), "TcpPeriodic");
	ck_assert_str_eq(render_as("%ACCESS_LOG_TYPE%", TP_ALOG_TCP_END), "TcpConnectionEnd");
	ck_assert_str_eq(render_as("%ACCESS_LOG_TYPE%", TP_ALOG_NOT_SET), "NotSet");
	gethostname(name, sizeof(name) - 1);
	RENDERS("%HOSTNAME%", name);
	c.cluster = NULL;
	c.chain = NULL;
	RENDERS("%UPSTREAM_CLUSTER% %FILTER_CHAIN_NAME%", "- -");
}
END_TEST

START_TEST(http_only_operators_are_dashes)
{
	RENDERS("\"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\"", "\"- - -\"");
	RENDERS("%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% %TRAILER(x)% %RESPONSE_CODE_DETAILS% "
		"%UPSTREAM_PROTOCOL% %ROUTE_NAME%",
		"- - - - -");
	/* An HTTP tunnel's upstream protocol, as Envoy names it. */
	c.tunneling = 1;
	RENDERS("%UPSTREAM_PROTOCOL%", "HTTP/1.1");
	c.tunnel_h2 = 1;
	RENDERS("%UPSTREAM_PROTOCOL%", "HTTP/2");
	c.tunneling = 0;
	c.tunnel_h2 = 0;
}
END_TEST

START_TEST(filter_state_and_metadata)
{
	struct tp_value v = tp_value_string("svc \"a\"");

	RENDERS("%FILTER_STATE(k)%", "-");
	ck_assert_int_eq(tp_filter_state_set(&c.filter_state, "k", &v, false, false), 0);
	v = tp_value_uint64(77);
	ck_assert_int_eq(tp_filter_state_set(&c.filter_state, "n", &v, false, false), 0);
	v = tp_value_bool(true);
	ck_assert_int_eq(tp_filter_state_set(&c.filter_state, "b", &v, false, false), 0);
	RENDERS("%FILTER_STATE(k)%", "\"svc \\\"a\\\"\"");
	RENDERS("%FILTER_STATE(k:TYPED)%", "\"svc \\\"a\\\"\"");
	RENDERS("%FILTER_STATE(k:PLAIN)%", "svc \"a\"");
	RENDERS("%FILTER_STATE(k:PLAIN):3%", "svc");
	RENDERS("%FILTER_STATE(n)% %FILTER_STATE(b:PLAIN)%", "77 true");

	RENDERS("%DYNAMIC_METADATA(ns)% %DYNAMIC_METADATA(ns:k)%", "- -");
	v = tp_value_string("v1");
	ck_assert_int_eq(tp_metadata_set(&c.metadata, "ns", "k", &v), 0);
	v = tp_value_uint64(5);
	ck_assert_int_eq(tp_metadata_set(&c.metadata, "ns", "n", &v), 0);
	v = tp_value_string("elsewhere");
	ck_assert_int_eq(tp_metadata_set(&c.metadata, "other", "k", &v), 0);
	RENDERS("%DYNAMIC_METADATA(ns:k)%", "v1");
	RENDERS("%DYNAMIC_METADATA(ns)%", "{\"k\":\"v1\",\"n\":5}");
	RENDERS("%DYNAMIC_METADATA(ns):6%", "{\"k\":\"");
	RENDERS("%DYNAMIC_METADATA(ns:missing)%", "-");
}
END_TEST

START_TEST(environment_is_read_at_load)
{
	setenv("TP_CHECK_FORMAT_ENV", "from-env", 1);
	RENDERS("%ENVIRONMENT(TP_CHECK_FORMAT_ENV)% %ENVIRONMENT(TP_CHECK_FORMAT_ENV):4%",
		"from-env from");
	unsetenv("TP_CHECK_FORMAT_ENV");
	RENDERS("%ENVIRONMENT(TP_CHECK_FORMAT_ENV)%", "-");
}
END_TEST

START_TEST(truncation)
{
	RENDERS("%UPSTREAM_CLUSTER:4%", "back");
	RENDERS("%UPSTREAM_CLUSTER:100%", "backend");
	RENDERS("%BYTES_SENT:2%", "22");
}
END_TEST

static struct tp_format *json(const char *yaml, bool typed)
{
	struct tp_ydoc *doc;
	struct tp_yerror ye;
	struct tp_fmt_error e;
	struct tp_format *f;

	ck_assert_int_eq(tp_ynode_parse_string(yaml, strlen(yaml), &doc, &ye), 0);
	ck_assert_msg(tp_format_compile_json(doc->root, typed, &f, &e) == 0, "%s", e.reason);
	tp_ynode_doc_free(doc);
	return f;
}

static char *render_fmt(struct tp_format *f)
{
	static char out[4096];
	struct tp_fmt_ctx x = {.c = &c, .type = TP_ALOG_TCP_END, .now_ms = 1100};
	size_t n = tp_format_render(f, &x, out, sizeof(out) - 1, NULL);

	out[n] = '\0';
	tp_format_free(f);
	return out;
}

/* "a", "é", "€", "𐍈", "b": characters of 1 to 4 bytes, and where each one ends ("b" is a literal
 * of its own, or it would be read as part of the \x escape before it). */
static const char utf8_text[] = "a\xc3\xa9\xe2\x82\xac\xf0\x90\x8d\x88"
				"b";
static const size_t utf8_ends[] = {0, 1, 3, 6, 10, 11};

/* The longest whole-character prefix of utf8_text within max bytes. */
static size_t utf8_want(size_t max)
{
	size_t want = 0;

	for (size_t k = 0; k < sizeof(utf8_ends) / sizeof(utf8_ends[0]); k++)
		if (utf8_ends[k] <= max)
			want = utf8_ends[k];
	return want;
}

START_TEST(utf8_cut_at_every_offset)
{
	const size_t n = sizeof(utf8_text) - 1;

	for (size_t max = 0; max <= n + 1; max++)
		ck_assert_uint_eq(tp_utf8_cut(utf8_text, n, max), utf8_want(max));
	/* Bytes that are not UTF-8 are cut where max falls; so is a character that ends there. */
	ck_assert_uint_eq(tp_utf8_cut("ab\xff\xfe", 4, 3), 3);
	ck_assert_uint_eq(tp_utf8_cut("a\x80\x80\x80\x80", 5, 3), 3);
	ck_assert_uint_eq(tp_utf8_cut("a\xe2\x82x", 4, 2), 2);	  /* a lead without its tail */
	ck_assert_uint_eq(tp_utf8_cut("a\xed\xa0\x80", 4, 2), 2); /* a surrogate */
	ck_assert_uint_eq(tp_utf8_cut("a\xe2\x82\xac", 4, 4), 4);
	ck_assert_uint_eq(tp_utf8_cut("a\xe2\x82\xac", 4, 3), 1);
}
END_TEST

START_TEST(truncation_keeps_utf8_characters_whole)
{
	struct tp_value v = tp_value_string(utf8_text);
	char fmt[64], yaml[256];

	ck_assert_int_eq(tp_filter_state_set(&c.filter_state, "s", &v, false, false), 0);
	for (size_t max = 1; max <= sizeof(utf8_text); max++) {
		size_t want = utf8_want(max);
		const char *out;

		snprintf(fmt, sizeof(fmt), "%%FILTER_STATE(s:PLAIN):%zu%%", max);
		out = render(fmt);
		ck_assert_msg(strlen(out) == want && !memcmp(out, utf8_text, want),
			      ":%zu kept %zu bytes, want %zu", max, strlen(out), want);
		for (int typed = 0; typed < 2; typed++) {
			snprintf(yaml, sizeof(yaml), "v: \"%s\"\nw: \"[%s]\"\n", fmt, fmt);
			out = render_fmt(json(yaml, typed));
			ck_assert_msg(json_valid(out, strlen(out)), "%s", out);
		}
	}
}
END_TEST

/* Renders the filter-state string value in a typed JSON line; returns the line. */
static const char *json_of_value(const char *value)
{
	struct tp_value v = tp_value_string(value);

	ck_assert_int_eq(tp_filter_state_set(&c.filter_state, "s", &v, false, false), 0);
	return render_fmt(json("v: \"%FILTER_STATE(s:PLAIN)%\"\n", true));
}

START_TEST(json_escapes_any_bytes)
{
	/* Control characters escaped, DEL and whole characters as they are, and each ill-formed
	 * sequence (Unicode's maximal subpart, as Python's "replace" decodes) one U+FFFD. */
	ck_assert_str_eq(json_of_value("\x01\x1f\x7f"), "{\"v\":\"\\u0001\\u001f\x7f\"}\n");
	ck_assert_str_eq(json_of_value("\xc3\xa9\xe2\x82\xac\xf0\x90\x8d\x88"),
			 "{\"v\":\"\xc3\xa9\xe2\x82\xac\xf0\x90\x8d\x88\"}\n");
	ck_assert_str_eq(json_of_value("a\xff"
				       "b"),
			 "{\"v\":\"a\\ufffdb\"}\n");
	ck_assert_str_eq(json_of_value("\xe2\x82x"), "{\"v\":\"\\ufffdx\"}\n");
	ck_assert_str_eq(json_of_value("\xf0\x9f\x98"), "{\"v\":\"\\ufffd\"}\n");
	ck_assert_str_eq(json_of_value("\xc0\xaf"), "{\"v\":\"\\ufffd\\ufffd\"}\n");
	ck_assert_str_eq(json_of_value("\xed\xa0\x80"), "{\"v\":\"\\ufffd\\ufffd\\ufffd\"}\n");
	ck_assert_str_eq(json_of_value("\xf4\x90\x80\x80"),
			 "{\"v\":\"\\ufffd\\ufffd\\ufffd\\ufffd\"}\n");
	ck_assert_str_eq(json_of_value("\x80"), "{\"v\":\"\\ufffd\"}\n");
}
END_TEST

/* Every string of one and two bytes, and of three from bytes that matter to UTF-8, stays valid
 * JSON in each of the ways a value reaches a JSON line. */
START_TEST(json_lines_stay_valid_for_any_bytes)
{
	static const unsigned char edge[] = {
		0x01, 0x1f, '"',  '\\', 'a',  0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1,
		0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff,
	};
	const char *yaml = "p: \"%FILTER_STATE(s:PLAIN)%\"\nt: \"%FILTER_STATE(s)%\"\n"
			   "c: \"%FILTER_STATE(s:PLAIN):2%\"\nm: \"x%FILTER_STATE(s:PLAIN)%\"\n";
	struct tp_format *f[2] = {json(yaml, true), json(yaml, false)};
	struct tp_fmt_ctx x = {.c = &c, .type = TP_ALOG_TCP_END, .now_ms = 1100};
	unsigned char s[4] = {0};
	char out[512];

	for (unsigned i = 0; i < 256 * 256 + sizeof(edge) * sizeof(edge) * sizeof(edge); i++) {
		struct tp_value v;

		if (i < 256 * 256) {
			s[0] = (unsigned char)(i >> 8);
			s[1] = (unsigned char)i;
			s[2] = 0;
		} else {
			unsigned k = i - 256 * 256, e = sizeof(edge);

			s[0] = edge[k / (e * e)];
			s[1] = edge[k / e % e];
			s[2] = edge[k % e];
		}
		if (!s[0] || !s[1])
			continue;
		v = tp_value_string((const char *)s);
		ck_assert_int_eq(tp_filter_state_set(&c.filter_state, "s", &v, false, false), 0);
		for (int t = 0; t < 2; t++) {
			size_t n = tp_format_render(f[t], &x, out, sizeof(out), NULL);

			ck_assert_msg(json_valid(out, n), "%02x %02x %02x: %.*s", s[0], s[1], s[2],
				      (int)n, out);
		}
	}
	tp_format_free(f[0]);
	tp_format_free(f[1]);
}
END_TEST

START_TEST(json_format_typed_and_untyped)
{
	const char *yaml = "zeta: \"%BYTES_SENT%\"\n"
			   "alpha: \"%UPSTREAM_HOST%\"\n"
			   "flags: \"%RESPONSE_FLAGS%\"\n"
			   "mixed: \"%DURATION%ms\"\n"
			   "quote: \"say \\\"hi\\\"\\t%%\"\n"
			   "nested:\n"
			   "  port: \"%DOWNSTREAM_LOCAL_PORT%\"\n"
			   "  type: \"%ACCESS_LOG_TYPE%\"\n";

	ck_assert_str_eq(render_fmt(json(yaml, true)),
			 "{\"alpha\":\"10.0.0.2:8080\",\"flags\":null,\"mixed\":\"100ms\","
			 "\"nested\":{\"port\":10000,\"type\":\"TcpConnectionEnd\"},"
			 "\"quote\":\"say \\\"hi\\\"\\t%\",\"zeta\":226}\n");
	ck_assert_str_eq(render_fmt(json(yaml, false)),
			 "{\"alpha\":\"10.0.0.2:8080\",\"flags\":\"-\",\"mixed\":\"100ms\","
			 "\"nested\":{\"port\":\"10000\",\"type\":\"TcpConnectionEnd\"},"
			 "\"quote\":\"say \\\"hi\\\"\\t%\",\"zeta\":\"226\"}\n");
}
END_TEST

START_TEST(json_format_values)
{
	struct tp_value v = tp_value_string("x\ny");
	struct tp_format *f;

	ck_assert_int_eq(tp_filter_state_set(&c.filter_state, "s", &v, false, false), 0);
	v = tp_value_bool(false);
	ck_assert_int_eq(tp_filter_state_set(&c.filter_state, "b", &v, false, false), 0);
	ck_assert_str_eq(render_fmt(json("s: \"%FILTER_STATE(s)%\"\nb: \"%FILTER_STATE(b)%\"\n"
					 "p: \"%FILTER_STATE(s:PLAIN)%\"\n",
					 true)),
			 "{\"b\":false,\"p\":\"x\\ny\",\"s\":\"x\\ny\"}\n");
	ck_assert_str_eq(render_fmt(json("s: \"%FILTER_STATE(s)%\"\n", false)),
			 "{\"s\":\"\\\"x\\\\ny\\\"\"}\n");
	/* omit_empty_values leaves unset keys out, commas and all. */
	f = json("a: \"%UPSTREAM_CLUSTER%\"\nb: \"%RESPONSE_FLAGS%\"\nc: \"%BYTES_SENT%\"\n", true);
	f->omit_empty = true;
	ck_assert_str_eq(render_fmt(f), "{\"a\":\"backend\",\"c\":226}\n");
	f = json("b: \"%RESPONSE_FLAGS%\"\n", true);
	f->omit_empty = true;
	ck_assert_str_eq(render_fmt(f), "{}\n");
}
END_TEST

/* FILTER_STATE's typed form goes into a typed JSON line whole, however long; as text (a text
 * format, or inside a JSON string) its JSON literal is built in a 1 KiB value buffer. */
START_TEST(typed_filter_state_string_length)
{
	char value[1025], want[1100];
	struct tp_value v;

	memset(value, 'a', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	v = tp_value_string(value);
	ck_assert_int_eq(tp_filter_state_set(&c.filter_state, "s", &v, false, false), 0);
	snprintf(want, sizeof(want), "{\"t\":\"%s\"}\n", value);
	ck_assert_str_eq(render_fmt(json("t: \"%FILTER_STATE(s)%\"\n", true)), want);
	RENDERS("%FILTER_STATE(s)%", "-");
	ck_assert_str_eq(render_fmt(json("t: \"%FILTER_STATE(s)%\"\n", false)), "{\"t\":\"-\"}\n");
	value[1021] = '\0'; /* "..." of 1023 bytes: the most that fits */
	v = tp_value_string(value);
	ck_assert_int_eq(tp_filter_state_set(&c.filter_state, "s", &v, false, false), 0);
	ck_assert_uint_eq(strlen(render("%FILTER_STATE(s)%")), 1023);
}
END_TEST

START_TEST(omit_empty_text)
{
	struct tp_fmt_error e;
	struct tp_format *f;
	const char *fmt = "[%RESPONSE_FLAGS%]";

	ck_assert_int_eq(tp_format_compile(fmt, strlen(fmt), &f, &e), 0);
	f->omit_empty = true;
	ck_assert_str_eq(render_fmt(f), "[]");
}
END_TEST

START_TEST(render_never_overruns)
{
	struct tp_fmt_ctx x = {.c = &c, .type = TP_ALOG_TCP_END, .now_ms = 1100};
	const char *fmt = "%UPSTREAM_CLUSTER%-%UPSTREAM_CLUSTER%";
	struct tp_fmt_error e;
	struct tp_format *f;
	char buf[8];
	bool cut = false;

	memset(buf, 'X', sizeof(buf));
	ck_assert_int_eq(tp_format_compile(fmt, strlen(fmt), &f, &e), 0);
	ck_assert_uint_eq(tp_format_render(f, &x, buf, 5, &cut), 5);
	ck_assert(cut);
	ck_assert(!memcmp(buf, "backeXXX", 8));
	ck_assert_uint_eq(tp_format_render(f, &x, buf, sizeof(buf), &cut), 8);
	tp_format_free(f);
}
END_TEST

/* Compiles fmt, which must fail; checks the offset and that the reason holds want. */
static void fails_at(const char *fmt, size_t off, const char *want)
{
	struct tp_fmt_error e;
	struct tp_format *f = NULL;

	ck_assert_int_eq(tp_format_compile(fmt, strlen(fmt), &f, &e), -EINVAL);
	ck_assert_ptr_null(f);
	ck_assert_msg(strstr(e.reason, want), "%s: reason %s lacks %s", fmt, e.reason, want);
	ck_assert_msg(e.off == off, "%s: offset %zu, want %zu (%s)", fmt, e.off, off, e.reason);
}

START_TEST(errors_with_positions)
{
	fails_at("%NOPE%", 1, "unknown command operator NOPE");
	fails_at("ab %BYTES_SENT% %BYTES_SEN%", 17, "unknown command operator BYTES_SEN");
	fails_at("100% sure", 3, "starts no command operator");
	fails_at("trailing %", 9, "starts no command operator");
	fails_at("%BYTES_SENT", 0, "not closed by '%'");
	fails_at("x%REQ(:path%", 1, "missing its ')'");
	fails_at("%DURATION(x)%", 9, "takes no argument");
	fails_at("%FILTER_STATE()%", 14, "needs an argument");
	fails_at("%REQ%", 4, "needs an argument");
	fails_at("%FILTER_STATE(k:JSON)%", 16, "PLAIN or TYPED");
	fails_at("%BYTES_SENT:x%", 12, "expected a length");
	fails_at("%BYTES_SENT:0%", 12, "expected a length");
	fails_at("%DYNAMIC_METADATA(a:b:c)%", 18, "nested keys");
	fails_at("%UPSTREAM_WIRE_BYTES_SENT%", 1, "not supported yet");
	fails_at("%DOWNSTREAM_PEER_SERIAL%", 1, "not supported yet");
	fails_at("%START_TIME(%E)%", 12, "%E");
	fails_at("%start_time%", 0, "starts no command operator");
}
END_TEST

START_TEST(json_errors_name_their_value)
{
	const char *yaml = "a: \"%BYTES_SENT%\"\nb:\n  c: \"x %NOPE%\"\n";
	struct tp_ydoc *doc;
	struct tp_yerror ye;
	struct tp_fmt_error e;
	struct tp_format *f;
	uint32_t line, col;

	ck_assert_int_eq(tp_ynode_parse_string(yaml, strlen(yaml), &doc, &ye), 0);
	ck_assert_int_eq(tp_format_compile_json(doc->root, true, &f, &e), -EINVAL);
	ck_assert_ptr_nonnull(e.node);
	tp_format_error_position(e.node, e.off, &line, &col);
	ck_assert_uint_eq(line, 3);
	ck_assert_uint_eq(col, 6 + 1 + 3); /* the quote at column 6, then "x %" */
	ck_assert(strstr(e.reason, "NOPE"));
	tp_ynode_doc_free(doc);

	yaml = "a: [\"%BYTES_SENT%\"]\n";
	ck_assert_int_eq(tp_ynode_parse_string(yaml, strlen(yaml), &doc, &ye), 0);
	ck_assert_int_eq(tp_format_compile_json(doc->root, true, &f, &e), -EINVAL);
	ck_assert(strstr(e.reason, "not a list"));
	tp_ynode_doc_free(doc);
}
END_TEST

START_TEST(needs_say_what_to_capture)
{
	struct tp_fmt_error e;
	struct tp_format *f;
	const char *fmt = "%DOWNSTREAM_LOCAL_PORT% %UPSTREAM_LOCAL_ADDRESS% %START_TIME%";

	ck_assert_int_eq(tp_format_compile(fmt, strlen(fmt), &f, &e), 0);
	ck_assert_uint_eq(f->needs,
			  TP_FMT_NEED_DOWN_ADDRS | TP_FMT_NEED_UP_LOCAL | TP_FMT_NEED_START_TIME);
	tp_format_free(f);
	ck_assert_int_eq(tp_format_compile("%BYTES_SENT%", 12, &f, &e), 0);
	ck_assert_uint_eq(f->needs, 0);
	tp_format_free(f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("format");
	TCase *tc = tcase_create("operators");
	TCase *errs = tcase_create("errors");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, literals_and_escapes);
	tcase_add_test(tc, numbers_and_durations);
	tcase_add_test(tc, start_time_forms);
	tcase_add_test(tc, addresses);
	tcase_add_test(tc, session_outcome);
	tcase_add_test(tc, names_and_types);
	tcase_add_test(tc, http_only_operators_are_dashes);
	tcase_add_test(tc, filter_state_and_metadata);
	tcase_add_test(tc, environment_is_read_at_load);
	tcase_add_test(tc, truncation);
	tcase_add_test(tc, json_format_typed_and_untyped);
	tcase_add_test(tc, json_format_values);
	tcase_add_test(tc, omit_empty_text);
	tcase_add_test(tc, typed_filter_state_string_length);
	tcase_add_test(tc, render_never_overruns);
	tcase_add_test(tc, needs_say_what_to_capture);
	tcase_add_test(tc, utf8_cut_at_every_offset);
	tcase_add_test(tc, truncation_keeps_utf8_characters_whole);
	tcase_add_test(tc, json_escapes_any_bytes);
	tcase_add_test(tc, json_lines_stay_valid_for_any_bytes);
	suite_add_tcase(s, tc);
	tcase_add_test(errs, errors_with_positions);
	tcase_add_test(errs, json_errors_name_their_value);
	suite_add_tcase(s, errs);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Fuzz target: Envoy command-operator format strings (access log format, text_format,
 * set_filter_state's format_string), compiled as the config loader does and, when they
 * compile, rendered against a full connection and an empty one, into a large buffer and a
 * small one. The same bytes are also a filter-state value that fixed json_formats render, whole
 * and cut at :N: every line must be valid JSON, and every cut must keep UTF-8 characters whole. */
#include "tests/fuzz/fuzz.h"

#include "core/config/config-t.h"
#include "core/conn/conn-t.h"
#include "core/conn/filter_state.h"
#include "core/accesslog/format.h"
#include "core/worker/lb-t.h"
#include "tests/unit/format_conn.h"
#include "tests/unit/json_valid.h"
#include "core/config/ynode.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static struct tp_conn full, empty;
/* A typed and an untyped json_format of the value "fz", whole and cut. */
static struct tp_format *json_formats[2];

static void state_free(void)
{
	tp_state_map_free(full.filter_state);
	tp_state_map_free(full.metadata);
	tp_format_free(json_formats[0]);
	tp_format_free(json_formats[1]);
}

static struct tp_format *json_format(bool typed)
{
	static const char yaml[] = "p: \"%FILTER_STATE(fz:PLAIN)%\"\n"
				   "t: \"%FILTER_STATE(fz)%\"\n"
				   "c1: \"%FILTER_STATE(fz:PLAIN):1%\"\n"
				   "c5: \"%FILTER_STATE(fz:PLAIN):5%\"\n"
				   "c6: \"<%FILTER_STATE(fz):6%>\"\n";
	struct tp_ydoc *doc;
	struct tp_yerror ye;
	struct tp_fmt_error err;
	struct tp_format *f;

	if (tp_ynode_parse_string(yaml, sizeof(yaml) - 1, &doc, &ye) != 0)
		abort();
	if (tp_format_compile_json(doc->root, typed, &f, &err) != 0)
		abort();
	tp_ynode_doc_free(doc);
	return f;
}

/* The connection check_format.c renders against, with filter state and metadata set. */
static void init(void)
{
	struct tp_value v;

	if (format_conn_init(&full) < 0)
		abort();
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
	json_formats[0] = json_format(true);
	json_formats[1] = json_format(false);
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

/* data, up to its first NUL, as the value "fz": the JSON lines parse, and cuts fall on
 * character boundaries of what was there. */
static void render_value(const uint8_t *data, size_t size)
{
	struct tp_fmt_ctx x = {.c = &full, .type = TP_ALOG_TCP_END, .now_ms = 1100};
	static char out[16384];
	char value[1024];
	struct tp_value v;
	size_t n = strnlen((const char *)data, size < sizeof(value) ? size : sizeof(value) - 1);

	memcpy(value, data, n);
	value[n] = '\0';
	v = tp_value_string(value);
	if (tp_filter_state_set(&full.filter_state, "fz", &v, false, false) != 0)
		return;
	for (int i = 0; i < 2; i++) {
		bool cut;
		size_t len = tp_format_render(json_formats[i], &x, out, sizeof(out), &cut);

		if (!cut && !json_valid(out, len))
			abort();
	}
	for (size_t max = 1; max <= n + 1; max++) {
		size_t k = tp_utf8_cut(value, n, max);

		/* Never more than max, and short of it only by a character that crosses it. */
		if (k > max || (n > max && max - k > 3) || (n <= max && k != n))
			abort();
	}
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
	render_value(data, size);
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

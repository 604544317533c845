/* Fuzz target: Envoy command-operator format strings (access log format, text_format,
 * set_filter_state's format_string), compiled as the config loader does and, when they
 * compile, rendered against a full connection and an empty one, into a large buffer and a
 * small one. */
#include "tests/fuzz/fuzz.h"

#include "core/config/config-t.h"
#include "core/conn/conn-t.h"
#include "core/conn/filter_state.h"
#include "core/accesslog/format.h"
#include "core/worker/lb-t.h"
#include "tests/unit/format_conn.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static struct tp_conn full, empty;

static void state_free(void)
{
	tp_state_map_free(full.filter_state);
	tp_state_map_free(full.metadata);
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

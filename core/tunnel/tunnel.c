/* HTTP tunnels beside the session: whether a connection tunnels, its request rendered from the
 * tunneling_config formats, the stats of its attempts and answers, and what the answer leaves for
 * access logs (%RESPONSE_CODE%, the propagated response headers). */
#include "core/tunnel/tunnel.h"

#include "core/accesslog/format.h"
#include "core/base/http_resp.h"
#include "core/conn/conn.h"
#include "core/conn/filter_state.h"
#include "core/filter.h"
#include "core/filter_api.h"
#include "core/tunnel/h2.h"
#include "core/worker/lb-t.h"
#include "core/worker/lb.h"
#include "shm/stats.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CL_STAT(c, name) ((c)->cluster->cfg->stats_base + TP_CLUSTER_##name)

size_t tp_tunnel_state_size(void)
{
	size_t h1 = tp_transport_tunnel_h1.state_size, h2 = tp_transport_tunnel_h2.state_size;

	return tp_slot_round(h1 > h2 ? h1 : h2);
}

bool tp_tunnel_wanted(const struct tp_conn *c)
{
	const struct tp_state_entry *e;

	if (!c->proxy->tunnel)
		return false;
	e = tp_filter_state_get(c->filter_state, TP_KEY_NO_TUNNELING);
	return !(e && e->value.type == TP_VALUE_BOOL && e->value.b);
}

/* A value may go into a header: no CR, LF, NUL or other control character but HTAB. */
static bool value_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < ' ' && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

/* Renders f into the arena at *used; its length, or -EINVAL / -E2BIG. */
static ssize_t render(const struct tp_worker *w, const struct tp_conn *c, const struct tp_format *f,
		      char *arena, size_t cap, size_t *used)
{
	struct tp_fmt_ctx x = {.c = c, .type = TP_ALOG_NOT_SET, .now_ms = w->now_ms};
	size_t room = cap - *used, n;

	if (room > TP_TUNNEL_VALUE_MAX)
		room = TP_TUNNEL_VALUE_MAX;
	n = tp_format_render(f, &x, arena + *used, room, NULL);
	n = tp_utf8_cut(arena + *used, n, room);
	if (!value_ok(arena + *used, n))
		return -EINVAL;
	*used += n;
	return (ssize_t)n;
}

static ssize_t find(const struct tp_tunnel_request *r, const char *name)
{
	for (size_t i = r->n; i-- > 0;)
		if (!strcmp(r->h[i].name, name))
			return (ssize_t)i;
	return -1;
}

struct tp_tunnel_request *tp_tunnel_request_render(const struct tp_worker *w,
						   const struct tp_conn *c, int *err)
{
	const struct tp_tunnel_cfg *t = c->proxy->tunnel;
	size_t head = sizeof(struct tp_tunnel_request) +
		      (t->n_headers + 1) * sizeof(((struct tp_tunnel_request *)0)->h[0]);
	struct tp_tunnel_request *r = malloc(head + TP_TUNNEL_REQUEST_MAX);
	char *arena = (char *)r + head;
	size_t used = 0;
	ssize_t n;

	if (!r) {
		*err = -ENOMEM;
		return NULL;
	}
	r->n = 0;
	r->max_headers = c->cluster->cfg->http.max_headers_count;
	n = render(w, c, t->hostname, arena, TP_TUNNEL_REQUEST_MAX, &used);
	if (n <= 0)
		goto out_invalid;
	r->authority = arena;
	r->authority_len = (size_t)n;
	/* The request ID this attempt drew (tp_tunnel_attempt), before headers_to_add, which may
	 * replace it as they replace any header. */
	if (t->request_id) {
		const struct tp_value *id =
			tp_metadata_get(c->metadata, TP_NS_TCP_PROXY, t->request_id_metadata_key);

		size_t len = id && id->type == TP_VALUE_STRING ? strlen(id->s) : 0;

		/* A copy in the request's own arena: the metadata changes at the next attempt. */
		if (len && len <= TP_TUNNEL_REQUEST_MAX - used) {
			memcpy(arena + used, id->s, len);
			r->h[r->n].name = t->request_id_header;
			r->h[r->n].name_len = strlen(t->request_id_header);
			r->h[r->n].value = arena + used;
			r->h[r->n].value_len = len;
			r->n++;
			used += len;
		}
	}
	for (size_t i = 0; i < t->n_headers; i++) {
		const struct tp_tunnel_header *h = &t->headers[i];
		const char *v = arena + used;
		ssize_t at = find(r, h->name);

		n = render(w, c, h->value, arena, TP_TUNNEL_REQUEST_MAX, &used);
		if (n < 0)
			goto out_invalid;
		/* Envoy adds an empty value only when asked to keep it. */
		if (!n && !h->keep_empty_value)
			continue;
		switch (h->action) {
		case TP_HDR_ADD_IF_ABSENT:
			if (at >= 0)
				continue;
			break;
		case TP_HDR_OVERWRITE_IF_EXISTS:
			if (at < 0)
				continue;
			/* fall through */
		case TP_HDR_OVERWRITE_IF_EXISTS_OR_ADD:
			/* Every earlier one of that name goes. */
			for (size_t j = 0; j < r->n;) {
				if (strcmp(r->h[j].name, h->name)) {
					j++;
					continue;
				}
				memmove(&r->h[j], &r->h[j + 1], (r->n - j - 1) * sizeof(r->h[0]));
				r->n--;
			}
			break;
		}
		r->h[r->n].name = h->name;
		r->h[r->n].name_len = strlen(h->name);
		r->h[r->n].value = v;
		r->h[r->n].value_len = (size_t)n;
		r->n++;
	}
	return r;

out_invalid:
	free(r);
	*err = -EINVAL;
	return NULL;
}

void tp_tunnel_count_status(struct tp_worker *w, const struct tp_conn *c, unsigned status)
{
	static const struct {
		uint16_t code;
		uint16_t stat;
	} codes[] = {
		{200, TP_CLUSTER_upstream_rq_200}, {201, TP_CLUSTER_upstream_rq_201},
		{204, TP_CLUSTER_upstream_rq_204}, {400, TP_CLUSTER_upstream_rq_400},
		{401, TP_CLUSTER_upstream_rq_401}, {403, TP_CLUSTER_upstream_rq_403},
		{404, TP_CLUSTER_upstream_rq_404}, {405, TP_CLUSTER_upstream_rq_405},
		{407, TP_CLUSTER_upstream_rq_407}, {408, TP_CLUSTER_upstream_rq_408},
		{429, TP_CLUSTER_upstream_rq_429}, {500, TP_CLUSTER_upstream_rq_500},
		{502, TP_CLUSTER_upstream_rq_502}, {503, TP_CLUSTER_upstream_rq_503},
		{504, TP_CLUSTER_upstream_rq_504},
	};
	uint32_t base = c->cluster->cfg->stats_base;

	if (status >= 100 && status < 600)
		tp_stat_inc(w->stats, base + TP_CLUSTER_upstream_rq_1xx + status / 100 - 1);
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == status)
			tp_stat_inc(w->stats, base + codes[i].stat);
}

/* A random (version 4) UUID in its 36-character text form, as Envoy's UUID request ID
 * extension makes them. */
static void uuid4(char out[37])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[16];
	uint64_t r[2] = {tp_rand(), tp_rand()};
	size_t o = 0;

	memcpy(b, r, sizeof(b));
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
}

void tp_tunnel_attempt(struct tp_worker *w, struct tp_conn *c)
{
	const struct tp_tunnel_cfg *t = c->proxy->tunnel;

	/* request_id_extension: a new ID for each attempt's request, kept where access logs read
	 * it (%DYNAMIC_METADATA(envoy.filters.network.tcp_proxy:tunnel_request_id)%). A failure to
	 * keep it (no memory) sends the request without one. */
	if (t->request_id) {
		char id[37];
		struct tp_value v;

		uuid4(id);
		v = tp_value_string(id);
		tp_metadata_set(&c->metadata, TP_NS_TCP_PROXY, t->request_id_metadata_key, &v);
	}
	c->response_code = 0; /* this attempt's answer, when it comes */
	tp_stat_inc(w->stats, CL_STAT(c, upstream_rq_total));
	if (!c->tunnel_h2)
		tp_stat_inc(w->stats, CL_STAT(c, upstream_cx_http1_total));
}

int tp_tunnel_open_h1(struct tp_worker *w, struct tp_conn *c, int fd)
{
	struct tp_transport_cfg tc = {.ops = &tp_transport_tunnel_h1, .conf = c->proxy->tunnel};
	struct tp_tunnel_request *r;
	int err = 0;

	r = tp_tunnel_request_render(w, c, &err);
	if (!r) {
		/* The side holds the socket, raw, so that the failed attempt closes it. */
		tp_conn_side_init(w, c, TP_UP, fd, NULL);
		return err;
	}
	return tp_conn_side_init_layered(w, c, TP_UP, fd, &tc, &c->cluster->cfg->transport, r);
}

/* JSON string body of s[0, n) into out (escaped as JSON wants); its length. */
static size_t json_escape(const uint8_t *s, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t ch = s[i];

		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch < 0x20 || ch >= 0x7f) {
			/* Header text is Latin-1 at worst: each byte its own code point. */
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[ch >> 4];
			out[o + 5] = hex[ch & 15];
			o += 6;
		} else {
			out[o++] = (char)ch;
		}
	}
	return o;
}

/* propagate_response_headers: the answer's headers into the filter state under Envoy's key, as a
 * JSON object of lower-case names to values (a repeated name's values joined with ","), which
 * %FILTER_STATE(envoy.tcp_proxy.propagate_response_headers:PLAIN)% prints. */
static void propagate(struct tp_conn *c, const char *key, const uint8_t *head, size_t len)
{
	const uint8_t *n, *v;
	size_t pos = 0, nl, vl, o = 1;
	char *out = malloc(len * 6 + 3);
	struct tp_value val;

	if (!out)
		return;
	out[0] = '{';
	while (tp_http_resp_header_next(head, len, &pos, &n, &nl, &v, &vl)) {
		if (o > 1)
			out[o++] = ',';
		out[o++] = '"';
		for (size_t i = 0; i < nl; i++)
			out[o++] = (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] - 'A' + 'a' : n[i]);
		out[o++] = '"';
		out[o++] = ':';
		out[o++] = '"';
		o += json_escape(v, vl, out + o);
		out[o++] = '"';
	}
	out[o++] = '}';
	out[o] = '\0';
	val = tp_value_string(out);
	tp_filter_state_set(&c->filter_state, key, &val, false, false);
	free(out);
}

void tp_tunnel_ready(struct tp_worker *w, struct tp_conn *c)
{
	struct tp_side *up = &c->side[TP_UP];
	const uint8_t *head;
	size_t len;

	/* The stream kept its status and headers (core/tunnel/h2.c). */
	if (c->tunnel_h2) {
		tp_tunnel_count_status(w, c, c->response_code);
		return;
	}
	c->response_code = (uint16_t)tp_tunnel_h1_status(up);
	tp_tunnel_count_status(w, c, c->response_code);
	head = tp_tunnel_h1_head(up, &len);
	if (head && c->proxy->tunnel->propagate_response_headers)
		propagate(c, TP_KEY_TUNNEL_HEADERS, head, len);
	tp_tunnel_h1_settle(up);
}

void tp_tunnel_failed(struct tp_worker *w, struct tp_conn *c)
{
	unsigned status = c->tunnel_h2 ? c->response_code : tp_tunnel_h1_status(&c->side[TP_UP]);

	if (!status)
		return;
	c->response_code = (uint16_t)status;
	tp_tunnel_count_status(w, c, status);
}

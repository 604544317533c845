/* The network filter chain of a connection, after Envoy's FilterManagerImpl, and the functions
 * core/filter_api.h gives filters.
 *
 * From filter `from` on: a filter not started yet gets on_new_connection, then each filter gets
 * on_data while bytes read before the upstream connected (core/conn/relay.c) have not reached
 * tcp_proxy. STOP from on_new_connection holds the chain: nothing after the filter starts and no
 * byte passes it until it calls tp_filter_continue(). STOP from on_data keeps those bytes from
 * the filters after it; the next read offers them again, with the new ones, from the first
 * filter. Once the relay runs, bytes move without the filters seeing them. */
#include "core/conn/chain.h"

#include "core/accesslog/format.h"
#include "core/base/log.h"
#include "core/base/timer.h"
#include "core/config/chain_match.h"
#include "core/config/config-t.h"
#include "core/conn/conn.h"
#include "core/conn/relay.h"
#include "core/conn/resp_flags.h"
#include "core/conn/session.h"
#include "core/conn/transport.h"
#include "core/filter.h"
#include "core/filter_api.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

static struct tp_filter_timer *timer_at(struct tp_worker *w, struct tp_conn *c,
					const struct tp_filter_cfg *f)
{
	if (f->timer_off == UINT32_MAX)
		return NULL;
	return (struct tp_filter_timer *)((uint8_t *)tp_conn_filter_area(w, c) + f->timer_off);
}

static void make_call(struct tp_filter_call *fc, struct tp_worker *w, struct tp_conn *c, uint32_t i)
{
	const struct tp_filter_cfg *f = &c->chain->filters[i];

	fc->w = w;
	fc->c = c;
	fc->conf = f->conf;
	fc->idx = i;
	fc->state = f->state_off == UINT32_MAX
			    ? NULL
			    : (uint8_t *)tp_conn_filter_area(w, c) + f->state_off;
}

static void run_chain(struct tp_worker *w, struct tp_conn *c, uint32_t from)
{
	const struct tp_filter_chain_cfg *ch = c->chain;

	for (uint32_t i = from; i < ch->n_filters && c->phase < TP_PHASE_RELAY; i++) {
		const struct tp_filter_ops *ops = ch->filters[i].ops;
		struct tp_filter_call fc;
		const uint8_t *data;
		size_t len;
		bool eos;

		make_call(&fc, w, c, i);
		c->filter_pos = i + 1;
		if (i >= c->filters_started) {
			c->filters_started = i + 1;
			if (ops->on_new_connection &&
			    ops->on_new_connection(&fc) == TP_FILTER_STOP) {
				if (i + 1 < ch->n_filters)
					c->chain_held = 1;
				return;
			}
			if (tp_conn_closing(c))
				return;
		}
		if (ops->on_data && tp_early_pending(c, &data, &len, &eos) &&
		    (ops->on_data(&fc, data, len, eos) == TP_FILTER_STOP || tp_conn_closing(c)))
			return;
		if (c->chain_held && i + 1 == c->filters_started)
			return;
	}
}

/* ip from the listener's own address, when it is one address (not 0.0.0.0 or ::): the
 * connection's local address without a getsockname(). */
static bool listener_ip(const struct tp_listener_cfg *l, struct tp_ip *ip)
{
	static const uint8_t any6[16];

	memset(ip, 0, sizeof(*ip));
	if (l->addr.ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&l->addr.ss;

		ip->port = ntohs(in->sin_port);
		if (in->sin_addr.s_addr == htonl(INADDR_ANY))
			return false;
		memcpy(ip->addr, &in->sin_addr, 4);
	} else if (l->addr.ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&l->addr.ss;

		ip->port = ntohs(in6->sin6_port);
		if (!memcmp(&in6->sin6_addr, any6, 16))
			return false;
		memcpy(ip->addr, &in6->sin6_addr, 16);
	}
	ip->family = (uint8_t)l->addr.ss.ss_family;
	return true;
}

static void match_addr(struct tp_match_addr *to, const struct tp_ip *from)
{
	to->family = from->family;
	to->port = from->port;
	memcpy(to->addr, from->addr, sizeof(to->addr));
}

/* Envoy's filter chain match on what the listener filters found and the connection's
 * addresses (read only if some chain asks for them): the chain's index, the default chain's
 * when none matches, or -1. */
static int pick_chain(struct tp_conn *c)
{
	const struct tp_listener_cfg *l = c->listener->cfg;
	const struct tp_chain_matcher *m = l->matcher;
	const struct tp_conn_info *info = c->info;
	struct tp_match_input in = {.sni = "", .transport = "raw_buffer"};
	struct tp_ip ip;
	int idx;

	if (!m)
		return 0;
	/* The destination port is the listener's: no original destination is restored. */
	if (!listener_ip(l, &ip) && m->need_local) {
		if (!c->down_local.family)
			tp_conn_capture_ip(c->side[TP_DOWN].fd, getsockname, &c->down_local);
		ip = c->down_local;
	}
	match_addr(&in.local, &ip);
	if (m->need_remote) {
		if (!c->down_remote.family)
			tp_conn_capture_ip(c->side[TP_DOWN].fd, getpeername, &c->down_remote);
		match_addr(&in.remote, &c->down_remote);
	}
	if (info) {
		in.sni = info->sni;
		in.sni_len = info->sni_len;
		in.alpn = info->alpn;
		in.alpn_len = info->alpn_len;
		if (info->transport == TP_TRANSPORT_PROTOCOL_TLS)
			in.transport = "tls";
	}
	idx = tp_chain_match_find(m, &in);
	if (idx < 0 && l->has_default_chain)
		idx = (int)l->n_filter_chains - 1;
	return idx;
}

void tp_chain_select(struct tp_worker *w, struct tp_conn *c)
{
	const struct tp_listener_cfg *l = c->listener->cfg;
	const struct tp_filter_chain_cfg *ch;
	struct tp_side *down = &c->side[TP_DOWN];
	int idx = pick_chain(c);

	if (idx < 0) {
		/* As Envoy: NR, listener.<addr>.no_filter_chain_match, closed. */
		tp_debug("connection %u: no filter chain matches; closing it", c->idx);
		tp_conn_end(w, c, TP_RF_NO_FILTER_CHAIN);
		return;
	}
	ch = &l->filter_chains[idx];
	c->chain = ch;
	c->phase = TP_PHASE_FILTERS;
	tp_timer_cancel(&w->timers, &c->timer);
	/* The listener filters' state shared this room: the chain's filters find theirs zeroed. */
	if (l->lfilter_state_bytes)
		memset(tp_conn_filter_area(w, c), 0, ch->state_bytes);
	for (uint32_t i = 0; i < ch->n_filters; i++) {
		struct tp_filter_timer *t = timer_at(w, c, &ch->filters[i]);

		if (t) {
			tp_timer_init(&t->t);
			t->t.kind = TP_TIMER_FILTER;
			t->c = c;
			t->idx = i;
		}
	}
	if (tp_conn_side_init(w, c, TP_DOWN, down->fd, &ch->transport) < 0) {
		tp_warn("connection %u: no memory for its %s transport; closing it", c->idx,
			ch->transport.ops->name);
		tp_conn_close(w, c);
		return;
	}
	tp_session_on_accept(w, c);
	/* A handshake starts now: a transport that speaks first writes, the others wait. */
	if (down->handshaking) {
		tp_conn_handshake(w, c, TP_DOWN);
		if (tp_conn_closing(c))
			return;
	}
	run_chain(w, c, 0);
	tp_relay_early_kick(w, c);
}

void tp_chain_continue(struct tp_worker *w, struct tp_conn *c)
{
	c->chain_held = 0;
	run_chain(w, c, c->filter_pos);
	tp_relay_early_kick(w, c);
}

void tp_chain_deliver(struct tp_worker *w, struct tp_conn *c)
{
	run_chain(w, c, 0);
}

void tp_chain_close(struct tp_worker *w, struct tp_conn *c)
{
	if (!c->chain)
		return;
	for (uint32_t i = 0; i < c->filters_started; i++) {
		const struct tp_filter_cfg *f = &c->chain->filters[i];
		struct tp_filter_timer *t = timer_at(w, c, f);
		struct tp_filter_call fc;

		if (f->ops->on_close) {
			make_call(&fc, w, c, i);
			f->ops->on_close(&fc);
		}
		if (t)
			tp_timer_cancel(&w->timers, &t->t);
	}
}

void tp_chain_on_timer(struct tp_worker *w, struct tp_filter_timer *t)
{
	struct tp_conn *c = t->c;
	struct tp_filter_call fc;

	if (tp_conn_closing(c))
		return;
	make_call(&fc, w, c, t->idx);
	c->chain->filters[t->idx].ops->on_timer(&fc);
}

/* ---- core/filter_api.h ---- */

void tp_filter_continue(const struct tp_filter_call *f)
{
	/* Network filters only: a listener filter runs before there is a chain. */
	TP_BUG_ON(!f->c->chain);
	if (!tp_conn_closing(f->c))
		tp_chain_continue(f->w, f->c);
}

void tp_filter_close(const struct tp_filter_call *f)
{
	tp_conn_close(f->w, f->c);
}

bool tp_filter_closing(const struct tp_filter_call *f)
{
	return tp_conn_closing(f->c);
}

int tp_filter_timer_arm(const struct tp_filter_call *f, uint64_t delay_ms)
{
	struct tp_filter_timer *t;

	/* Our bug, not a peer's: a network filter arming a timer declares on_timer. */
	TP_BUG_ON(!f->c->chain);
	t = timer_at(f->w, f->c, &f->c->chain->filters[f->idx]);
	TP_BUG_ON(!t);
	return tp_timer_arm(&f->w->timers, &t->t, f->w->now_ms + delay_ms);
}

void tp_filter_timer_cancel(const struct tp_filter_call *f)
{
	struct tp_filter_timer *t;

	TP_BUG_ON(!f->c->chain);
	t = timer_at(f->w, f->c, &f->c->chain->filters[f->idx]);
	if (t)
		tp_timer_cancel(&f->w->timers, &t->t);
}

uint64_t tp_filter_now_ms(const struct tp_filter_call *f)
{
	return f->w->now_ms;
}

unsigned tp_filter_worker_slot(const struct tp_filter_call *f)
{
	return f->w->slot;
}

struct tp_stats_block *tp_filter_stats(const struct tp_filter_call *f)
{
	return f->w->stats;
}

struct tp_state_map **tp_filter_state(const struct tp_filter_call *f)
{
	return &f->c->filter_state;
}

struct tp_state_map **tp_filter_metadata(const struct tp_filter_call *f)
{
	return &f->c->metadata;
}

size_t tp_filter_render(const struct tp_filter_call *f, const struct tp_format *fmt, char *out,
			size_t len)
{
	struct tp_fmt_ctx x = {.c = f->c, .type = TP_ALOG_NOT_SET, .now_ms = f->w->now_ms};

	return tp_format_render(fmt, &x, out, len, NULL);
}

uint32_t tp_filter_conn_index(const struct tp_filter_call *f)
{
	return f->c->idx;
}

struct tp_conn_info *tp_filter_conn_info(const struct tp_filter_call *f)
{
	return f->c->info;
}

void tp_conn_info_set_sni(struct tp_conn_info *info, const char *name, size_t len)
{
	if (!info || len >= sizeof(info->sni) || memchr(name, 0, len))
		return;
	for (size_t i = 0; i < len; i++)
		info->sni[i] = (char)tolower((unsigned char)name[i]);
	info->sni[len] = '\0';
	info->sni_len = (uint8_t)len;
}

void tp_conn_info_set_tls(struct tp_conn_info *info)
{
	if (info)
		info->transport = TP_TRANSPORT_PROTOCOL_TLS;
}

void tp_conn_info_set_alpn(struct tp_conn_info *info, const uint8_t *wire, size_t len)
{
	size_t n = 0;

	if (!info)
		return;
	while (n < len && n + 1 + wire[n] <= len && n + 1 + wire[n] <= sizeof(info->alpn))
		n += 1 + (size_t)wire[n];
	memcpy(info->alpn, wire, n);
	info->alpn_len = (uint16_t)n;
}

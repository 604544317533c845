/* Check suite for LDS decoding (core/config/config.c: tp_lds_decode) and the worker's slot room
 * (core/worker/listener_dyn.c): a response's listeners decoded against a bootstrap, every error
 * with its FILE:LINE:COL, the checks against static listeners, what a running worker refuses,
 * and the stats registration walk recorded by a master and replayed by a worker. */
#include "core/config/config.h"
#include "core/config/xds.h"
#include "core/worker/listener_dyn.h"
#include "core/worker/worker.h"
#include "shm/stats.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define L_TYPE "type.googleapis.com/envoy.config.listener.v3.Listener"
#define TCP                                                                                  \
	"    - name: t\n"                                                                    \
	"      typed_config:\n"                                                              \
	"        \"@type\": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy." \
	"v3.TcpProxy\n"                                                                      \
	"        stat_prefix: s\n"

static const char boot[] =
	"static_resources:\n"
	"  listeners:\n"
	"  - name: st\n"
	"    address: {socket_address: {address: 127.0.0.1, port_value: 7000}}\n"
	"    filter_chains:\n"
	"    - filters:\n"
	"      - name: t\n"
	"        typed_config:\n"
	"          \"@type\": type.googleapis.com/envoy.extensions.filters.network."
	"tcp_proxy.v3.TcpProxy\n"
	"          stat_prefix: st\n"
	"          cluster: c\n"
	"  clusters:\n"
	"  - name: c\n"
	"    load_assignment:\n"
	"      cluster_name: c\n"
	"      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: "
	"{address: 127.0.0.1, port_value: 1}}}}]}]\n"
	"dynamic_resources:\n"
	"  lds_config: {path: /nowhere/lds.yaml}\n";

static struct tp_config *base;

static void load_base(void)
{
	char p[] = "/tmp/check_lds.XXXXXX";
	struct tp_cfg_errors errs = {0};
	int fd = mkstemp(p);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, boot, strlen(boot)), (int)strlen(boot));
	close(fd);
	ck_assert_int_eq(tp_config_load(p, &base, &errs), 0);
	unlink(p);
	tp_cfg_errors_free(&errs);
}

static void free_base(void)
{
	tp_config_free(base);
	base = NULL;
}

/* Decodes text as an LDS response against the base. */
static int decode(const char *text, struct tp_config **ov, struct tp_cfg_errors *errs)
{
	struct tp_xds_resources r = {0};
	int ret;

	memset(errs, 0, sizeof(*errs));
	ret = tp_xds_parse("lds.yaml", text, strlen(text), TP_XDS_TYPE_LISTENER, &r, errs);
	ck_assert_int_eq(ret, 0);
	ret = tp_lds_decode(base, r.file, r.items, r.n, ov, errs);
	tp_xds_resources_free(&r);
	return ret;
}

static bool has_line(const struct tp_cfg_errors *errs, const char *want)
{
	for (size_t i = 0; i < errs->n; i++)
		if (strstr(errs->lines[i], want))
			return true;
	return false;
}

START_TEST(listeners_decode_against_the_bootstrap)
{
	struct tp_cfg_errors errs;
	struct tp_config *ov;

	ck_assert_int_eq(
		decode("version_info: v1\n"
		       "resources:\n"
		       "- \"@type\": " L_TYPE "\n"
		       "  name: a\n"
		       "  address: {socket_address: {address: 127.0.0.1, port_value: 7001}}\n"
		       "  filter_chains:\n"
		       "  - filters:\n" TCP "        cluster: c\n",
		       &ov, &errs),
		0);
	ck_assert_uint_eq(ov->n_listeners, 1);
	ck_assert_str_eq(ov->listeners[0].name, "a");
	ck_assert_ptr_eq(ov->clusters, base->clusters);
	ck_assert(ov->lds_overlay);
	tp_lds_free(ov);
	tp_cfg_errors_free(&errs);
}
END_TEST

START_TEST(every_error_has_its_position)
{
	struct tp_cfg_errors errs;
	struct tp_config *ov;

	ck_assert_int_eq(
		decode("version_info: v1\n"
		       "resources:\n"
		       "- \"@type\": " L_TYPE "\n"
		       "  name: a\n"
		       "  address: {socket_address: {address: 127.0.0.1, port_value: 7001}}\n"
		       "  filter_chains:\n"
		       "  - filters:\n" TCP "        cluster: c\n"
		       "        idle_timeout: soon\n"
		       "- \"@type\": " L_TYPE "\n"
		       "  name: a\n"
		       "  address: {socket_address: {address: 127.0.0.1, port_value: 7000}}\n"
		       "  filter_chains:\n"
		       "  - filters:\n" TCP "        cluster: c\n"
		       "- \"@type\": " L_TYPE "\n"
		       "  name: st\n"
		       "  address: {socket_address: {address: 127.0.0.1, port_value: 7002}}\n"
		       "  bogus: 1\n"
		       "  filter_chains:\n"
		       "  - filters:\n" TCP "        cluster: c\n",
		       &ov, &errs),
		-EINVAL);
	ck_assert_ptr_null(ov);
	ck_assert(has_line(&errs, "lds.yaml:13:23: resources[0].filter_chains[0].filters[0]."
				  "typed_config.idle_timeout: "));
	ck_assert(has_line(&errs, "lds.yaml:15:9: resources[1].name: duplicate listener name "
				  "\"a\""));
	ck_assert(has_line(&errs, "lds.yaml:16:12: resources[1].address: address "
				  "127.0.0.1:7000 is already used by static listener \"st\""));
	ck_assert(has_line(&errs, "lds.yaml:25:9: resources[2].name: listener name \"st\" is a "
				  "static listener's"));
	ck_assert(has_line(&errs, "lds.yaml:27:3: resources[2].bogus: unknown field"));
	tp_cfg_errors_free(&errs);
}
END_TEST

START_TEST(what_a_running_worker_cannot_take_is_refused)
{
	struct tp_cfg_errors errs;
	struct tp_config *ov;

	ck_assert_int_eq(
		decode("version_info: v1\n"
		       "resources:\n"
		       "- \"@type\": " L_TYPE "\n"
		       "  name: a\n"
		       "  address: {socket_address: {address: 127.0.0.1, port_value: 7001}}\n"
		       "  filter_chains:\n"
		       "  - filters:\n"
		       "    - name: cl\n"
		       "      typed_config:\n"
		       "        \"@type\": type.googleapis.com/envoy.extensions.filters.network."
		       "connection_limit.v3.ConnectionLimit\n"
		       "        stat_prefix: cl\n"
		       "        max_connections: 3\n" TCP "        cluster: c\n"
		       "        access_log:\n"
		       "        - name: f\n"
		       "          typed_config:\n"
		       "            \"@type\": type.googleapis.com/envoy.extensions.access_loggers."
		       "file.v3.FileAccessLog\n"
		       "            path: /tmp/check_lds.log\n",
		       &ov, &errs),
		-EINVAL);
	/* connection_limit is fine: its memory comes with the listener (core/master/lds.c). */
	ck_assert(!has_line(&errs, "connection_limit"));
	ck_assert_uint_eq(errs.n, 1);
	ck_assert(has_line(&errs, "resources[0]: its access logs"));
	tp_cfg_errors_free(&errs);
}
END_TEST

START_TEST(slots_have_room_for_lds_listeners)
{
	struct tp_cfg_errors errs;
	struct tp_config *ov;
	struct tp_worker w;
	char why[256];

	memset(&w, 0, sizeof(w));
	tp_worker_size_slots(&w, base);
	ck_assert_uint_ge(w.filter_room, 4096);
	ck_assert_uint_ne(w.info_off, 0);
	ck_assert(w.tunnel_room);
	ck_assert_int_eq(
		decode("version_info: v1\n"
		       "resources:\n"
		       "- \"@type\": " L_TYPE "\n"
		       "  name: a\n"
		       "  address: {socket_address: {address: 127.0.0.1, port_value: 7001}}\n"
		       "  filter_chains:\n"
		       "  - filters:\n" TCP "        cluster: c\n",
		       &ov, &errs),
		0);
	ck_assert(tp_lds_fits(&w, &ov->listeners[0], why, sizeof(why)));
	/* More state than the slots have room for is refused, and says what. */
	ov->listeners[0].lfilter_state_bytes = w.filter_room + 8;
	ck_assert(!tp_lds_fits(&w, &ov->listeners[0], why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "bytes of listener filter state"));
	tp_lds_free(ov);
	tp_cfg_errors_free(&errs);
}
END_TEST

START_TEST(a_worker_replays_the_masters_bases)
{
	struct tp_cfg_errors errs;
	struct tp_config *ov;
	struct tp_stats *st;
	struct tp_stats_hold h;
	uint32_t bases[16], n = 0, listener, tcp;
	char err[256], name[64];

	snprintf(name, sizeof(name), "/tcpproxy.check_lds.%d.stats", (int)getpid());
	ck_assert_int_eq(tp_stats_create(&st, name, 1, 64, err, sizeof(err)), 0);
	ck_assert_int_eq(
		decode("version_info: v1\n"
		       "resources:\n"
		       "- \"@type\": " L_TYPE "\n"
		       "  name: a\n"
		       "  address: {socket_address: {address: 127.0.0.1, port_value: 7001}}\n"
		       "  filter_chains:\n"
		       "  - filters:\n" TCP "        cluster: c\n",
		       &ov, &errs),
		0);
	tp_stats_hold_begin(st, &h);
	tp_stats_scope_record(st, bases, 16, &n);
	ck_assert_int_eq(tp_listener_register_stats(st, &ov->listeners[0]), 0);
	ck_assert_int_eq(tp_stats_scope_end(st), 0);
	tp_stats_hold_end(st);
	ck_assert_uint_eq(n, 2); /* listener.127.0.0.1_7001, tcp.s */
	listener = ov->listeners[0].stats_base;
	tcp = ((struct tp_tcp_proxy_cfg *)ov->listeners[0].filter_chains[0].filters[0].conf)
		      ->stats_base;
	ck_assert_uint_eq(bases[0], listener);
	ck_assert_uint_eq(bases[1], tcp);
	/* The worker's walk takes the same bases; one base too few is a bug it sees. */
	ov->listeners[0].stats_base = 0;
	tp_stats_scope_replay(st, bases, n);
	ck_assert_int_eq(tp_listener_register_stats(st, &ov->listeners[0]), 0);
	ck_assert_int_eq(tp_stats_scope_end(st), 0);
	ck_assert_uint_eq(ov->listeners[0].stats_base, listener);
	tp_stats_scope_replay(st, bases, 1);
	ck_assert_int_lt(tp_listener_register_stats(st, &ov->listeners[0]), 0);
	ck_assert_int_eq(tp_stats_scope_end(st), -EPROTO);
	tp_stats_hold_release(st, &h);
	tp_stats_destroy(st);
	tp_lds_free(ov);
	tp_cfg_errors_free(&errs);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lds");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, load_base, free_base);
	tcase_add_test(tc, listeners_decode_against_the_bootstrap);
	tcase_add_test(tc, every_error_has_its_position);
	tcase_add_test(tc, what_a_running_worker_cannot_take_is_refused);
	tcase_add_test(tc, slots_have_room_for_lds_listeners);
	tcase_add_test(tc, a_worker_replays_the_masters_bases);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

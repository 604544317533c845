/* Check suite for core/config/xds.c and core/master/xds_file.c: the DiscoveryResponse envelope
 * with its FILE:LINE:COL errors, ConfigSource in a bootstrap, and the inotify watch (an atomic
 * rename, a watched_directory symlink swap, unrelated files ignored). */
#include "core/base/mloop.h"
#include "core/config/config.h"
#include "core/config/ynode.h"
#include "core/config/xds.h"
#include "core/master/xds_file.h"

#include <check.h>
#include <errno.h>
#include <sys/stat.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLUSTER_TYPE "type.googleapis.com/envoy.config.cluster.v3.Cluster"

static const char two[] = "version_info: \"v1\"\n"
			  "resources:\n"
			  "- \"@type\": " CLUSTER_TYPE "\n"
			  "  name: a\n"
			  "- \"@type\": " CLUSTER_TYPE "\n"
			  "  name: b\n";

static int parse(const char *text, struct tp_xds_resources *r, struct tp_cfg_errors *errs)
{
	memset(r, 0, sizeof(*r));
	memset(errs, 0, sizeof(*errs));
	return tp_xds_parse("f.yaml", text, strlen(text), TP_XDS_TYPE_CLUSTER, r, errs);
}

START_TEST(parses_resources_and_version)
{
	struct tp_xds_resources r;
	struct tp_cfg_errors errs;

	ck_assert_int_eq(parse(two, &r, &errs), 0);
	ck_assert_str_eq(r.version_info, "v1");
	ck_assert_uint_eq(r.n, 2);
	ck_assert_str_eq(tp_ynode_map_get(r.items[1], "name")->str, "b");
	ck_assert_uint_eq(r.items[1]->line, 5);
	ck_assert_uint_eq(r.len, strlen(two));
	ck_assert_uint_eq(errs.n, 0);
	tp_xds_resources_free(&r);

	/* JSON too; no version_info is "", no resources is an empty update. */
	ck_assert_int_eq(parse("{\"resources\": []}", &r, &errs), 0);
	ck_assert_str_eq(r.version_info, "");
	ck_assert_uint_eq(r.n, 0);
	tp_xds_resources_free(&r);
	ck_assert_int_eq(
		parse("{\"version_info\": \"7\", \"type_url\": \"" CLUSTER_TYPE "\"}", &r, &errs),
		0);
	ck_assert_str_eq(r.version_info, "7");
	tp_xds_resources_free(&r);
}
END_TEST

START_TEST(every_problem_has_its_position)
{
	struct tp_xds_resources r;
	struct tp_cfg_errors errs;

	ck_assert_int_eq(
		parse("version_info: v2\n"
		      "resources:\n"
		      "- \"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n"
		      "- name: x\n"
		      "- 3\n"
		      "bogus: 1\n",
		      &r, &errs),
		-EINVAL);
	ck_assert_uint_eq(errs.n, 4);
	ck_assert_str_eq(errs.lines[0],
			 "f.yaml:3:12: resources[0].@type: "
			 "\"type.googleapis.com/envoy.config.listener.v3.Listener\": expected "
			 "\"" CLUSTER_TYPE "\"");
	ck_assert_str_eq(errs.lines[1], "f.yaml:4:3: resources[1].@type: missing required field "
					"(expected \"" CLUSTER_TYPE "\")");
	ck_assert_str_eq(errs.lines[2], "f.yaml:5:3: resources[2]: expected a mapping, got a "
					"number");
	ck_assert_ptr_nonnull(strstr(errs.lines[3], "f.yaml:6:1: bogus: "));
	tp_xds_resources_free(&r);
	tp_cfg_errors_free(&errs);

	/* Not YAML: one line, and no tree to look at. */
	ck_assert_int_eq(parse("resources: [\n", &r, &errs), -EINVAL);
	ck_assert_ptr_null(r.doc);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_ptr_nonnull(strstr(errs.lines[0], "f.yaml:2:1: "));
	tp_xds_resources_free(&r);
	tp_cfg_errors_free(&errs);

	ck_assert_int_eq(parse("type_url: type.googleapis.com/x\n", &r, &errs), -EINVAL);
	ck_assert_str_eq(errs.lines[0], "f.yaml:1:11: type_url: \"type.googleapis.com/x\": "
					"expected \"" CLUSTER_TYPE "\"");
	tp_xds_resources_free(&r);
	tp_cfg_errors_free(&errs);
}
END_TEST

static char dir[64];

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/check_xds.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void rm_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Writes text to dir/name through a temporary file and a rename, as tooling does. */
static void put(const char *name, const char *text)
{
	char tmp[PATH_MAX], to[PATH_MAX];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s/.tmp.%s", dir, name);
	snprintf(to, sizeof(to), "%s/%s", dir, name);
	f = fopen(tmp, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(rename(tmp, to), 0);
}

static const char *version_of(const char *v)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "version_info: \"%s\"\nresources: []\n", v);
	return buf;
}

struct seen {
	int updates, rejected, failed;
	char version[64];
	int ret; /* what the consumer answers */
};

static int on_update(void *arg, enum tp_xds_event ev, const struct tp_xds_resources *r,
		     struct tp_cfg_errors *errs)
{
	struct seen *s = arg;

	if (ev == TP_XDS_FAILED) {
		s->failed++;
		return 0;
	}
	if (ev == TP_XDS_REJECTED) {
		s->rejected++;
		return 0;
	}
	s->updates++;
	snprintf(s->version, sizeof(s->version), "%s", r->version_info);
	return s->ret;
}

/* Runs the loop until fn has been called n times in all, or 2 s passed. */
static void wait_calls(struct tp_mloop *l, const struct seen *s, int n)
{
	for (int i = 0; i < 40 && s->updates + s->rejected + s->failed < n; i++)
		tp_mloop_run_once(l, 50);
}

START_TEST(an_atomic_rename_is_an_update)
{
	struct tp_mloop *l = tp_mloop_new();
	struct tp_config_source_cfg src = {0};
	struct tp_xds_file *f;
	struct seen s = {0};
	char path[PATH_MAX], why[256];

	make_dir();
	put("cds.yaml", version_of("1"));
	snprintf(path, sizeof(path), "%s/cds.yaml", dir);
	src.path = path;
	ck_assert_int_eq(
		tp_xds_file_open(l, &src, TP_XDS_TYPE_CLUSTER, on_update, &s, &f, why, sizeof(why)),
		0);
	/* Read once at open. */
	ck_assert_int_eq(s.updates, 1);
	ck_assert_str_eq(s.version, "1");

	put("cds.yaml", version_of("2"));
	wait_calls(l, &s, 2);
	ck_assert_int_eq(s.updates, 2);
	ck_assert_str_eq(s.version, "2");

	/* Another file in the directory is not an update. */
	put("other.yaml", version_of("x"));
	tp_mloop_run_once(l, 100);
	ck_assert_int_eq(s.updates, 2);

	/* Not YAML: a failure; a wrong envelope: a rejection. The consumer is told either way. */
	put("cds.yaml", "resources: [\n");
	wait_calls(l, &s, 3);
	ck_assert_int_eq(s.failed, 1);
	put("cds.yaml", "resources: 3\n");
	wait_calls(l, &s, 4);
	ck_assert_int_eq(s.rejected, 1);
	ck_assert_str_eq(s.version, "2");

	tp_xds_file_close(f);
	tp_mloop_free(l);
	rm_dir();
}
END_TEST

/* The watched directory goes and comes back (a volume remounted, "rm -rf dir && mkdir dir" in a
 * deploy script): the inotify watch was on the old inode and is gone (IN_IGNORED). The next
 * update written into the new directory must still be seen, not silently missed for the
 * master's life (a SIGHUP with the same cds_config does not re-read either). */
START_TEST(a_directory_removed_and_made_again_is_still_watched)
{
	struct tp_mloop *l = tp_mloop_new();
	struct tp_config_source_cfg src = {0};
	struct tp_xds_file *f;
	struct seen s = {0};
	char path[PATH_MAX], why[256], cmd[160];

	make_dir();
	put("cds.yaml", version_of("1"));
	snprintf(path, sizeof(path), "%s/cds.yaml", dir);
	src.path = path;
	ck_assert_int_eq(
		tp_xds_file_open(l, &src, TP_XDS_TYPE_CLUSTER, on_update, &s, &f, why, sizeof(why)),
		0);
	ck_assert_int_eq(s.updates, 1);

	snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir %s", dir, dir);
	ck_assert_int_eq(system(cmd), 0);
	tp_mloop_run_once(l, 100);
	put("cds.yaml", version_of("2"));
	/* A watch re-added after a retry delay may take a moment: up to 2 s. (Reading the file
	 * while the directory was empty may have been a failure: count the updates alone.) */
	for (int i = 0; i < 40 && s.updates < 2; i++)
		tp_mloop_run_once(l, 50);
	ck_assert_int_ge(s.updates, 2);
	ck_assert_str_eq(s.version, "2");

	tp_xds_file_close(f);
	tp_mloop_free(l);
	rm_dir();
}
END_TEST

START_TEST(a_watched_directory_symlink_swap_is_an_update)
{
	struct tp_mloop *l = tp_mloop_new();
	struct tp_config_source_cfg src = {0};
	struct tp_xds_file *f;
	struct seen s = {0};
	char path[PATH_MAX], a[PATH_MAX], b[PATH_MAX], tmp[PATH_MAX], data[PATH_MAX], why[256];

	/* Kubernetes' ConfigMap layout: dir/..data -> ..v1, dir/cds.yaml -> ..data/cds.yaml. */
	make_dir();
	snprintf(a, sizeof(a), "%s/..v1", dir);
	snprintf(b, sizeof(b), "%s/..v2", dir);
	ck_assert_int_eq(mkdir(a, 0700), 0);
	ck_assert_int_eq(mkdir(b, 0700), 0);
	snprintf(path, sizeof(path), "%s/..v1/cds.yaml", dir);
	FILE *fp = fopen(path, "w");
	fputs(version_of("one"), fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/..v2/cds.yaml", dir);
	fp = fopen(path, "w");
	fputs(version_of("two"), fp);
	fclose(fp);
	snprintf(data, sizeof(data), "%s/..data", dir);
	ck_assert_int_eq(symlink("..v1", data), 0);
	snprintf(path, sizeof(path), "%s/cds.yaml", dir);
	ck_assert_int_eq(symlink("..data/cds.yaml", path), 0);

	src.path = path;
	src.watched_dir = dir;
	ck_assert_int_eq(
		tp_xds_file_open(l, &src, TP_XDS_TYPE_CLUSTER, on_update, &s, &f, why, sizeof(why)),
		0);
	ck_assert_str_eq(s.version, "one");

	snprintf(tmp, sizeof(tmp), "%s/..data_tmp", dir);
	ck_assert_int_eq(symlink("..v2", tmp), 0);
	ck_assert_int_eq(rename(tmp, data), 0);
	wait_calls(l, &s, 2);
	ck_assert_int_eq(s.updates, 2);
	ck_assert_str_eq(s.version, "two");
	/* Refused by the consumer: still an update it saw; the source keeps nothing itself. */
	s.ret = -EINVAL;
	tp_xds_file_refresh(f);
	ck_assert_int_eq(s.updates, 3);

	tp_xds_file_close(f);
	tp_mloop_free(l);
	rm_dir();
}
END_TEST

START_TEST(a_directory_that_cannot_be_watched_fails_the_open)
{
	struct tp_mloop *l = tp_mloop_new();
	struct tp_config_source_cfg src = {.path = "/nonexistent/dir/cds.yaml"};
	struct tp_xds_file *f;
	struct seen s = {0};
	char why[256];

	ck_assert_int_eq(
		tp_xds_file_open(l, &src, TP_XDS_TYPE_CLUSTER, on_update, &s, &f, why, sizeof(why)),
		-ENOENT);
	ck_assert_ptr_null(f);
	ck_assert_ptr_nonnull(strstr(why, "cannot watch directory /nonexistent/dir"));
	ck_assert_int_eq(s.updates + s.failed, 0);
	tp_mloop_free(l);
}
END_TEST

static int load_text(const char *text, struct tp_config **cfg, struct tp_cfg_errors *errs)
{
	char p[] = "/tmp/check_xds.XXXXXX.yaml";
	int fd = mkstemps(p, 5), ret;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	memset(errs, 0, sizeof(*errs));
	ret = tp_config_load(p, cfg, errs);
	for (size_t i = 0; i < errs->n; i++) {
		/* Lines name the file: keep only what follows it. */
		char *colon = strstr(errs->lines[i], ".yaml:");

		if (colon)
			memmove(errs->lines[i], colon + 6, strlen(colon + 6) + 1);
	}
	unlink(p);
	return ret;
}

START_TEST(config_sources_in_a_bootstrap)
{
	struct tp_config *cfg;
	struct tp_cfg_errors errs;

	/* lds_config is served (core/master/lds.c); path and path_config_source are one oneof;
	 * other sources are not supported. */
	ck_assert_int_eq(load_text("dynamic_resources:\n"
				   "  lds_config:\n"
				   "    path_config_source: {path: /x/lds.yaml}\n"
				   "  cds_config:\n"
				   "    path: /x/cds.yaml\n"
				   "    path_config_source: {path: /x/cds.yaml}\n",
				   &cfg, &errs),
			 -EINVAL);
	ck_assert_uint_ge(errs.n, 1);
	for (size_t i = 0; i < errs.n; i++)
		ck_assert_ptr_null(strstr(errs.lines[i], "lds_config"));
	ck_assert_str_eq(errs.lines[errs.n - 1],
			 "5:11: dynamic_resources.cds_config.path: only one "
			 "of path and path_config_source may be set");
	tp_cfg_errors_free(&errs);

	ck_assert_int_eq(load_text("dynamic_resources:\n"
				   "  cds_config:\n"
				   "    api_config_source: {api_type: GRPC}\n"
				   "  lds_config:\n"
				   "    path_config_source: {watched_directory: {path: /x}}\n",
				   &cfg, &errs),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(errs.lines[0], "3:5: dynamic_resources.cds_config."
						    "api_config_source: not supported yet"));
	tp_cfg_errors_free(&errs);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("xds");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, parses_resources_and_version);
	tcase_add_test(tc, every_problem_has_its_position);
	tcase_add_test(tc, an_atomic_rename_is_an_update);
	tcase_add_test(tc, a_watched_directory_symlink_swap_is_an_update);
	tcase_add_test(tc, a_directory_removed_and_made_again_is_still_watched);
	tcase_add_test(tc, a_directory_that_cannot_be_watched_fails_the_open);
	tcase_add_test(tc, config_sources_in_a_bootstrap);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

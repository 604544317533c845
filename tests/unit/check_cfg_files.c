/* Check suite for core/config/cfg_files.c: files recorded while the master decodes, served to
 * a worker that decodes the same text again. */
#include "core/config/cfg_files.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

START_TEST(inactive_means_the_file_system)
{
	uint8_t *out = NULL;
	size_t len = 0;

	ck_assert_int_eq(tp_cfg_files_get("/etc/x", &out, &len), 1);
	tp_cfg_files_note("/etc/x", (const uint8_t *)"a", 1); /* nothing to record into */
}
END_TEST

START_TEST(recorded_once_then_served)
{
	struct tp_cfg_files rec = {0}, srv = {.serve = true};
	uint8_t *out = NULL;
	size_t len = 0;

	tp_cfg_files_begin(&rec);
	/* Recording never serves: the master reads the file system. */
	ck_assert_int_eq(tp_cfg_files_get("/k.pem", &out, &len), 1);
	tp_cfg_files_note("/k.pem", (const uint8_t *)"key1", 4);
	tp_cfg_files_note("/k.pem", (const uint8_t *)"key2", 4); /* the first read wins */
	tp_cfg_files_note("/ca.pem", (const uint8_t *)"", 0);
	tp_cfg_files_end();
	ck_assert_uint_eq(rec.n, 2);
	ck_assert(!rec.oom);

	for (size_t i = 0; i < rec.n; i++)
		ck_assert_int_eq(tp_cfg_files_add(&srv, rec.v[i].path, strlen(rec.v[i].path),
						  rec.v[i].data, rec.v[i].len),
				 0);
	tp_cfg_files_begin(&srv);
	ck_assert_int_eq(tp_cfg_files_get("/k.pem", &out, &len), 0);
	ck_assert_uint_eq(len, 4);
	ck_assert_mem_eq(out, "key1", 5); /* NUL-terminated, as a file read is */
	free(out);
	ck_assert_int_eq(tp_cfg_files_get("/ca.pem", &out, &len), 0);
	ck_assert_uint_eq(len, 0);
	free(out);
	/* Never the file system while serving, even for a file that exists. */
	ck_assert_int_eq(tp_cfg_files_get("/etc/hostname", &out, &len), -ENOENT);
	tp_cfg_files_note("/other", (const uint8_t *)"x", 1); /* serving records nothing */
	ck_assert_uint_eq(srv.n, 2);
	tp_cfg_files_end();
	ck_assert_int_eq(tp_cfg_files_get("/k.pem", &out, &len), 1);
	tp_cfg_files_free(&rec);
	tp_cfg_files_free(&srv);
	ck_assert_uint_eq(srv.n, 0);
}
END_TEST

START_TEST(path_is_taken_by_length)
{
	struct tp_cfg_files f = {.serve = true};
	uint8_t *out = NULL;
	size_t len = 0;

	/* The blob's paths are not NUL-terminated: only path_len bytes are the path. */
	ck_assert_int_eq(tp_cfg_files_add(&f, "/a.pemXYZ", 6, (const uint8_t *)"abc", 3), 0);
	tp_cfg_files_begin(&f);
	ck_assert_int_eq(tp_cfg_files_get("/a.pem", &out, &len), 0);
	ck_assert_uint_eq(len, 3);
	free(out);
	ck_assert_int_eq(tp_cfg_files_get("/a.pemXYZ", &out, &len), -ENOENT);
	tp_cfg_files_end();
	tp_cfg_files_free(&f);
}
END_TEST

static Suite *cfg_files_suite(void)
{
	Suite *s = suite_create("cfg_files");
	TCase *tc = tcase_create("cfg_files");

	tcase_add_test(tc, inactive_means_the_file_system);
	tcase_add_test(tc, recorded_once_then_served);
	tcase_add_test(tc, path_is_taken_by_length);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cfg_files_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

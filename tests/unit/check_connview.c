/* Check suite for the worker's connection-view answer (core/worker/connview.c): the header it
 * writes leaves the master's request number alone. */
#include "core/worker/connview.h"

#include <check.h>
#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

/* The master asked again (req_seq 8) while the worker was answering round 7: the answer says
 * done 7, and the file still asks for 8, so the worker's next answer is for round 8. The header
 * was once written whole, putting 7 back into req_seq. */
START_TEST(answer_keeps_the_masters_next_request)
{
	int fd = memfd_create("connview", MFD_CLOEXEC);
	struct tp_connview_hdr h = {0}, got;
	uint64_t next = 8;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, sizeof(h)), 0);
	ck_assert_int_eq(pwrite(fd, &next, sizeof(next), offsetof(struct tp_connview_hdr, req_seq)),
			 sizeof(next));
	h.magic = TP_CONNVIEW_MAGIC;
	h.version = TP_CONNVIEW_VERSION;
	h.req_seq = 7;
	h.done_seq = 7;
	h.rec_size = sizeof(struct tp_connview_rec);
	h.n = 3;
	h.truncated = 1;
	ck_assert_int_eq(tp_connview_write_header(fd, &h), 0);
	ck_assert_int_eq(pread(fd, &got, sizeof(got), 0), sizeof(got));
	ck_assert_uint_eq(got.req_seq, 8);
	ck_assert_uint_eq(got.done_seq, 7);
	ck_assert_uint_eq(got.magic, TP_CONNVIEW_MAGIC);
	ck_assert_uint_eq(got.version, TP_CONNVIEW_VERSION);
	ck_assert_uint_eq(got.rec_size, sizeof(struct tp_connview_rec));
	ck_assert_uint_eq(got.n, 3);
	ck_assert_uint_eq(got.truncated, 1);
	close(fd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("connview");
	TCase *tc = tcase_create("answer");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, answer_keeps_the_masters_next_request);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

/* Check suite for core/ynode.c: positions, quoting, anchors and aliases, merge keys, JSON,
 * syntax errors. */
#include "core/config/ynode.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static struct tp_ydoc *parse_ok(const char *text)
{
	struct tp_ydoc *doc = NULL;
	struct tp_yerror err;
	int ret = tp_ynode_parse_string(text, strlen(text), &doc, &err);

	ck_assert_msg(ret == 0, "%d at %u:%u %s: %s", ret, err.line, err.col, err.path, err.reason);
	return doc;
}

static void parse_bad(const char *text, struct tp_yerror *err)
{
	struct tp_ydoc *doc = NULL;
	int ret = tp_ynode_parse_string(text, strlen(text), &doc, err);

	ck_assert_int_eq(ret, -EINVAL);
	ck_assert_ptr_null(doc);
}

/* Text with NULs in it, or any bytes: refused, with where and why. */
static void parse_bad_len(const char *text, size_t len, struct tp_yerror *err)
{
	struct tp_ydoc *doc = NULL;
	int ret = tp_ynode_parse_string(text, len, &doc, err);

	ck_assert_int_eq(ret, -EINVAL);
	ck_assert_ptr_null(doc);
}

#define BAD_AT(text, l, c, why)                                                                \
	do {                                                                                   \
		struct tp_yerror e_;                                                           \
		parse_bad_len(text, sizeof(text) - 1, &e_);                                    \
		ck_assert_msg(e_.line == (l) && e_.col == (c), "%s: at %u:%u", #text, e_.line, \
			      e_.col);                                                         \
		ck_assert_str_eq(e_.reason, why);                                              \
	} while (0)

static const struct tp_ynode *get(const struct tp_ynode *map, const char *key)
{
	const struct tp_ynode *v = tp_ynode_map_get(map, key);

	ck_assert_msg(v != NULL, "no key %s", key);
	return v;
}

START_TEST(positions)
{
	struct tp_ydoc *doc = parse_ok("a:\n  - x: 1\n    y: two\n  - [p, q]\nb: {c: d}\n");
	const struct tp_ynode *a = get(doc->root, "a"), *item, *b;

	ck_assert_int_eq(doc->root->type, TP_YNODE_MAP);
	ck_assert_int_eq(doc->root->line, 1);
	ck_assert_int_eq(doc->root->col, 1);
	ck_assert_int_eq(a->type, TP_YNODE_SEQ);
	ck_assert_int_eq(a->n, 2);
	ck_assert_int_eq(a->line, 2);
	ck_assert_int_eq(a->col, 3);
	item = a->items[0];
	ck_assert_int_eq(item->type, TP_YNODE_MAP);
	ck_assert_int_eq(item->line, 2); /* a block mapping starts at its first key */
	ck_assert_int_eq(item->col, 5);
	ck_assert_int_eq(get(item, "y")->line, 3);
	ck_assert_int_eq(get(item, "y")->col, 8);
	ck_assert_str_eq(get(item, "y")->str, "two");
	ck_assert_int_eq(item->pairs[1].key->line, 3);
	ck_assert_int_eq(item->pairs[1].key->col, 5);
	ck_assert_int_eq(a->items[1]->type, TP_YNODE_SEQ);
	ck_assert_int_eq(a->items[1]->col, 5);
	b = get(doc->root, "b");
	ck_assert_int_eq(b->line, 5);
	ck_assert_int_eq(b->col, 4);
	ck_assert_int_eq(get(b, "c")->col, 8);
	tp_ynode_doc_free(doc);
}
END_TEST

START_TEST(quoting_and_kinds)
{
	struct tp_ydoc *doc = parse_ok(
		"p: 80\nq: \"80\"\nr: '80'\ns: !!str 80\nt: ~\nu:\nv: \"\"\nw: true\nx: |\n  hi\n");
	const struct tp_ynode *r = doc->root;

	ck_assert(!get(r, "p")->quoted);
	ck_assert(get(r, "q")->quoted);
	ck_assert(get(r, "r")->quoted);
	ck_assert(get(r, "s")->quoted);
	ck_assert(get(r, "x")->quoted);
	ck_assert_str_eq(tp_ynode_kind_name(get(r, "p")), "a number");
	ck_assert_str_eq(tp_ynode_kind_name(get(r, "q")), "a string");
	ck_assert_str_eq(tp_ynode_kind_name(get(r, "w")), "a boolean");
	ck_assert(tp_ynode_is_null(get(r, "t")));
	ck_assert(tp_ynode_is_null(get(r, "u")));
	ck_assert(!tp_ynode_is_null(get(r, "v"))); /* "" is a string, not null */
	ck_assert_str_eq(tp_ynode_kind_name(get(r, "t")), "null");
	ck_assert_str_eq(get(r, "x")->str, "hi\n");
	ck_assert_str_eq(tp_ynode_kind_name(r), "a mapping");
	tp_ynode_doc_free(doc);
}
END_TEST

START_TEST(anchors_and_aliases)
{
	struct tp_ydoc *doc = parse_ok("base: &b {x: 1, y: 2}\n"
				       "use: *b\n"
				       "list: [&s one, *s]\n"
				       "again: &b [z]\n"
				       "late: *b\n");
	const struct tp_ynode *r = doc->root;

	/* An alias is the anchored node itself: errors in it point at the anchor's text. */
	ck_assert_ptr_eq(get(r, "use"), get(r, "base"));
	ck_assert_int_eq(get(r, "use")->line, 1);
	ck_assert_ptr_eq(get(r, "list")->items[1], get(r, "list")->items[0]);
	/* A redefined anchor: later aliases see the newest. */
	ck_assert_ptr_eq(get(r, "late"), get(r, "again"));
	tp_ynode_doc_free(doc);
}
END_TEST

START_TEST(merge_keys)
{
	struct tp_ydoc *doc = parse_ok("d: &d {a: 1, b: 2}\n"
				       "e: &e {b: 3, c: 4}\n"
				       "m:\n  <<: [*d, *e]\n  a: 9\n"
				       "n: {<<: *e}\n");
	const struct tp_ynode *m = get(doc->root, "m"), *n = get(doc->root, "n");

	ck_assert_int_eq(m->n, 3);
	ck_assert_str_eq(get(m, "a")->str, "9"); /* written beats merged */
	ck_assert_str_eq(get(m, "b")->str, "2"); /* earlier merge beats later */
	ck_assert_str_eq(get(m, "c")->str, "4");
	ck_assert_ptr_null(tp_ynode_map_get(m, "<<"));
	ck_assert_int_eq(n->n, 2);
	tp_ynode_doc_free(doc);
}
END_TEST

START_TEST(quoted_merge_key_is_a_key)
{
	struct tp_ydoc *doc = parse_ok("m: {\"<<\": 1}\n");

	ck_assert_str_eq(get(get(doc->root, "m"), "<<")->str, "1");
	tp_ynode_doc_free(doc);
}
END_TEST

START_TEST(json)
{
	struct tp_ydoc *doc = parse_ok("{\"a\":\"b\",\n\t\"c\": [1, 2.5, true, null],\"d\":{}}\n");
	const struct tp_ynode *c = get(doc->root, "c");

	ck_assert_str_eq(get(doc->root, "a")->str, "b");
	ck_assert(get(doc->root, "a")->quoted);
	ck_assert_int_eq(c->n, 4);
	ck_assert_int_eq(c->line, 2);
	ck_assert_int_eq(c->col, 7); /* a tab is one column */
	ck_assert(tp_ynode_is_null(c->items[3]));
	ck_assert_int_eq(get(doc->root, "d")->n, 0);
	tp_ynode_doc_free(doc);
}
END_TEST

START_TEST(empty_document)
{
	struct tp_ydoc *doc = parse_ok("# only a comment\n");

	ck_assert_ptr_null(doc->root);
	tp_ynode_doc_free(doc);
}
END_TEST

START_TEST(syntax_error)
{
	struct tp_yerror err;

	parse_bad("a:\n  b: [1, 2\nc: d\n", &err);
	ck_assert_int_eq(err.line, 3);
	ck_assert_int_eq(err.col, 2);
	ck_assert_str_eq(err.path, "a.b[2]");
	ck_assert_msg(strstr(err.reason, "YAML syntax error:") == err.reason, "%s", err.reason);

	parse_bad("a: \"open\n", &err);
	ck_assert_int_eq(err.line, 2);
	ck_assert_str_eq(err.path, "a");
}
END_TEST

START_TEST(bad_aliases_and_merges)
{
	struct tp_yerror err;

	parse_bad("a: *nope\n", &err);
	ck_assert_int_eq(err.line, 1);
	ck_assert_int_eq(err.col, 4);
	ck_assert_str_eq(err.reason, "unknown alias *nope (an alias must follow its anchor)");

	/* An alias inside its own anchor would make a cycle: it is unknown there. */
	parse_bad("a: &x [*x]\n", &err);
	ck_assert_str_eq(err.reason, "unknown alias *x (an alias must follow its anchor)");

	parse_bad("a: {<<: 5}\n", &err);
	ck_assert_str_eq(err.reason,
			 "the value of a \"<<\" merge key must be a mapping or a list of mappings");
	ck_assert_int_eq(err.col, 9);

	parse_bad("? [a]\n: b\n", &err);
	ck_assert_str_eq(err.reason, "a mapping key must be a plain string");

	parse_bad("a: 1\n---\nb: 2\n", &err);
	ck_assert_int_eq(err.line, 2);
	ck_assert_str_eq(err.reason, "more than one YAML document; tcpproxy reads one per file");
}
END_TEST

START_TEST(alias_bomb)
{
	/* 10 levels of 10 aliases: 10^10 nodes once expanded, a few hundred bytes of text. */
	char text[4096];
	size_t len = 0;
	struct tp_yerror err;

	len += snprintf(text + len, sizeof(text) - len, "l0: &l0 [x,x,x,x,x,x,x,x,x,x]\n");
	for (int i = 1; i < 10; i++) {
		len += snprintf(text + len, sizeof(text) - len, "l%d: &l%d [", i, i);
		for (int j = 0; j < 10; j++)
			len += snprintf(text + len, sizeof(text) - len, "%s*l%d", j ? "," : "",
					i - 1);
		len += snprintf(text + len, sizeof(text) - len, "]\n");
	}
	parse_bad(text, &err);
	ck_assert_str_eq(err.reason,
			 "too many nodes once aliases are expanded (more than 1048576)");
}
END_TEST

/* A file with more nodes than the limit and no alias: the message says how many it has (the
 * rest is counted, not built) and does not blame aliases. */
START_TEST(node_limit)
{
	size_t n = TP_YNODE_MAX_NODES + 10, len = 0;
	char *text = malloc(2 * n + 16);
	struct tp_ydoc *doc = NULL;
	struct tp_yerror err;

	ck_assert_ptr_nonnull(text);
	len += (size_t)sprintf(text, "a: [");
	for (size_t i = 0; i < n; i++) {
		text[len++] = 'x';
		text[len++] = ',';
	}
	text[len - 1] = ']';
	text[len++] = '\n';
	ck_assert_int_eq(tp_ynode_parse_string(text, len, &doc, &err), -EINVAL);
	ck_assert_ptr_null(doc);
	/* root, "a", the list: the limit is crossed at item 1048573, column 5 + 2 * 1048573. */
	ck_assert_str_eq(err.reason, "too many nodes (1048589 > 1048576)");
	ck_assert_str_eq(err.path, "a[1048573]");
	ck_assert_int_eq(err.line, 1);
	ck_assert_int_eq(err.col, 5 + 2 * 1048573);

	/* Cut short by a syntax error after the limit: what was counted, as a lower bound. */
	text[len - 2] = ',';
	ck_assert_int_eq(tp_ynode_parse_string(text, len, &doc, &err), -EINVAL);
	ck_assert_str_eq(err.reason, "too many nodes (at least 1048589 > 1048576)");

	/* At the limit exactly, it loads. */
	len = (size_t)sprintf(text, "[");
	for (size_t i = 0; i < TP_YNODE_MAX_NODES - 1; i++) {
		text[len++] = 'x';
		text[len++] = ',';
	}
	text[len - 1] = ']';
	ck_assert_int_eq(tp_ynode_parse_string(text, len, &doc, &err), 0);
	ck_assert_uint_eq(doc->root->n, TP_YNODE_MAX_NODES - 1);
	tp_ynode_doc_free(doc);
	free(text);
}
END_TEST

START_TEST(nesting_limit)
{
	/* 100,000 open lists took libyaml 30 s to scan before the depth limit (Check's timeout
	 * catches a return of that); 256 levels still load. */
	size_t deep = 100000;
	char *text = malloc(2 * deep + 1);
	struct tp_ydoc *doc = NULL;
	struct tp_yerror err;

	ck_assert_ptr_nonnull(text);
	memset(text, '[', deep);
	memset(text + deep, ']', deep);
	text[2 * deep] = '\0';
	parse_bad(text, &err);
	ck_assert_str_eq(err.reason, "nested deeper than 256 levels");
	ck_assert_int_eq(err.line, 1);
	ck_assert_int_eq(err.col, 257);

	memset(text + 256, ']', 256);
	ck_assert_int_eq(tp_ynode_parse_string(text, 512, &doc, &err), 0);
	tp_ynode_doc_free(doc);
	free(text);
}
END_TEST

START_TEST(file_errors)
{
	struct tp_ydoc *doc = NULL;
	struct tp_yerror err;
	char path[] = "/tmp/check_ynode.XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_eq(tp_ynode_parse_file("/nonexistent/x.yaml", &doc, &err), -ENOENT);
	ck_assert_str_eq(err.reason, "cannot read: No such file or directory");
	ck_assert_int_eq(err.line, 0); /* the file as a whole: no position */
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "k: [v]\n", 7), 7);
	close(fd);
	ck_assert_int_eq(tp_ynode_parse_file(path, &doc, &err), 0);
	ck_assert_str_eq(get(doc->root, "k")->items[0]->str, "v");
	tp_ynode_doc_free(doc);
	unlink(path);
}
END_TEST

/* libyaml's reader checks bytes ahead of its scanner and gives only a byte offset: each
 * refusal is placed at the byte itself (it used to say 1:1), columns in characters. */
#define NUL_BYTE "a NUL byte; YAML text cannot contain one"
START_TEST(bad_bytes_placed)
{
	/* A file ending in NUL bytes (pre-allocated, or cut while it was written). */
	BAD_AT("a: b\nc: d\n\0\0\0", 3, 1, NUL_BYTE);
	BAD_AT("a: b\nc: d\0e\n", 2, 5, NUL_BYTE);
	BAD_AT("a: \"x\0\"\n", 1, 6, NUL_BYTE);
	/* After CR LF, CR alone, a tab and an é (one column each). */
	BAD_AT("a: b\r\nc: d\re:\tf\n\xc3\xa9: \0", 4, 4, NUL_BYTE);
	BAD_AT("\xef\xbb\xbf"
	       "a: \0",
	       1, 4, NUL_BYTE); /* the byte-order mark is no column */
	BAD_AT("a: b\nc: \x07\n", 2, 4, "control character U+0007; YAML text cannot contain one");
	BAD_AT("a: \x7f\n", 1, 4, "control character U+007F; YAML text cannot contain one");
	/* Not UTF-8: Latin-1, a stray continuation byte, a sequence the file ends in, an overlong
	 * form; each placed at the byte that starts the bad character. */
	BAD_AT("a: b\nc: caf\xe9 au lait\n", 2, 7,
	       "not UTF-8 (byte 0xE9); a config file must be UTF-8");
	BAD_AT("a: \xc3\xa9\xa9\n", 1, 5, "not UTF-8 (byte 0xA9); a config file must be UTF-8");
	BAD_AT("a: \xe2\x82", 1, 4, "not UTF-8 (byte 0xE2); a config file must be UTF-8");
	BAD_AT("a: \xc0\xaf\n", 1, 4, "not UTF-8 (byte 0xC0); a config file must be UTF-8");
	/* UTF-16 (with its byte-order mark) is read as libyaml reads it, placed in characters. */
	BAD_AT("\xff\xfe"
	       "a\0:\0 \0b\0\n\0c\0:\0 \0\0\0",
	       2, 4, NUL_BYTE);
}
END_TEST

/* Far past libyaml's first read-ahead (16 KiB), once part of the tree is built: the same. */
START_TEST(bad_byte_far_in)
{
	size_t n = 20000, len = 0;
	char *text = malloc(n * 16 + 16);
	struct tp_yerror err;

	ck_assert_ptr_nonnull(text);
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(text + len, "k%zu: v\n", i);
	len += (size_t)sprintf(text + len, "x: \xe9\n");
	parse_bad_len(text, len, &err);
	ck_assert_int_eq(err.line, n + 1);
	ck_assert_int_eq(err.col, 4);
	ck_assert_str_eq(err.reason, "not UTF-8 (byte 0xE9); a config file must be UTF-8");
	ck_assert_str_eq(err.path, "");
	free(text);
}
END_TEST

/* What editors write, and Envoy (yaml-cpp) reads: each loads, with the same positions. */
START_TEST(bom_crlf_utf16)
{
	static const char utf16le[] = "\xff\xfe"
				      "a\0:\0 \0b\0\r\0\n\0c\0:\0 \0[\0x\0]\0\n\0";
	struct tp_ydoc *doc = parse_ok("\xef\xbb\xbf"
				       "a: b\r\nc:\r\n  - x\r\n");
	struct tp_yerror err;
	const struct tp_ynode *c;

	ck_assert_int_eq(doc->root->col, 1);
	ck_assert_str_eq(get(doc->root, "a")->str, "b"); /* no \r left in a value */
	c = get(doc->root, "c");
	ck_assert_int_eq(c->line, 3);
	ck_assert_int_eq(c->col, 3);
	ck_assert_str_eq(c->items[0]->str, "x");
	tp_ynode_doc_free(doc);

	ck_assert_int_eq(tp_ynode_parse_string(utf16le, sizeof(utf16le) - 1, &doc, &err), 0);
	c = get(doc->root, "c");
	ck_assert_int_eq(c->line, 2);
	ck_assert_int_eq(c->col, 4);
	ck_assert_str_eq(c->items[0]->str, "x");
	tp_ynode_doc_free(doc);

	/* A syntax error after CR LF lines is placed as with LF. */
	parse_bad("a: b\r\nc: d: e\r\n", &err);
	ck_assert_int_eq(err.line, 2);
	ck_assert_int_eq(err.col, 5);
	parse_bad("a: b\nc: d: e\n", &err);
	ck_assert_int_eq(err.line, 2);
	ck_assert_int_eq(err.col, 5);
}
END_TEST

/* A mapping key is looked up as a C string, so one holding "\0" (an escape) is refused. */
START_TEST(nul_in_key)
{
	struct tp_yerror err;
	struct tp_ydoc *doc = parse_ok("a: \"x\\0y\"\n"); /* a value may: len says where it ends */

	ck_assert_uint_eq(get(doc->root, "a")->len, 3);
	tp_ynode_doc_free(doc);
	parse_bad("a: 1\n\"cluster\\0x\": 2\n", &err);
	ck_assert_int_eq(err.line, 2);
	ck_assert_int_eq(err.col, 1);
	ck_assert_str_eq(err.reason, "a mapping key cannot contain a NUL character");
}
END_TEST

/* A very long line loads; a key longer than YAML's 1024 characters for an implicit key is a
 * positioned syntax error; flow mappings nested 100,000 deep are refused at once. */
START_TEST(long_lines_and_deep_mappings)
{
	size_t n = 1u << 20, deep = 100000, len;
	char *text = malloc(n + 4 * deep + 64);
	struct tp_ydoc *doc;
	struct tp_yerror err;

	ck_assert_ptr_nonnull(text);
	len = (size_t)sprintf(text, "a: ");
	memset(text + len, 'v', n);
	len += n;
	len += (size_t)sprintf(text + len, "\nb: c\n");
	ck_assert_int_eq(tp_ynode_parse_string(text, len, &doc, &err), 0);
	ck_assert_uint_eq(get(doc->root, "a")->len, n);
	ck_assert_int_eq(get(doc->root, "b")->line, 2);
	tp_ynode_doc_free(doc);

	memset(text, 'k', 2000);
	len = 2000 + (size_t)sprintf(text + 2000, ": v\n");
	parse_bad_len(text, len, &err);
	ck_assert_int_eq(err.line, 1);
	ck_assert_int_eq(err.col, 2001);
	ck_assert_msg(strstr(err.reason, "YAML syntax error:") == err.reason, "%s", err.reason);

	len = 0;
	for (size_t i = 0; i < deep; i++)
		len += (size_t)sprintf(text + len, "{a: ");
	memset(text + len, '}', deep);
	len += deep;
	parse_bad_len(text, len, &err);
	ck_assert_str_eq(err.reason, "nested deeper than 256 levels");
	ck_assert_int_eq(err.line, 1);
	ck_assert_int_eq(err.col, 4 * 256 + 1);
	free(text);
}
END_TEST

static void refused(const char *path, int want, const char *reason)
{
	struct tp_ydoc *doc = NULL;
	struct tp_yerror err;

	ck_assert_int_eq(tp_ynode_parse_file(path, &doc, &err), want);
	ck_assert_ptr_null(doc);
	ck_assert_str_eq(err.reason, reason);
	ck_assert_int_eq(err.line, 0);
	ck_assert_int_eq(err.col, 0);
}

/* Anything but a regular file is refused before it is opened: a FIFO nobody writes to would
 * otherwise block the reader (the master, on SIGHUP) until someone does. Check's timeout
 * fails this test if it blocks. */
START_TEST(not_regular_files)
{
	char dir[] = "/tmp/check_ynode.XXXXXX";
	char fifo[64], sock[64];
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int s;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	refused(dir, -EINVAL, "not a regular file (a directory)");
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	refused(fifo, -EINVAL, "not a regular file (a FIFO)");
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	refused(sock, -EINVAL, "not a regular file (a socket)");
	close(s);
	refused("/dev/null", -EINVAL, "not a regular file (a character device)");
	unlink(sock);
	unlink(fifo);
	rmdir(dir);
}
END_TEST

/* The size is checked with fstat() before anything is read (a sparse file costs nothing). */
START_TEST(file_size_limit)
{
	char path[] = "/tmp/check_ynode.XXXXXX";
	struct tp_ydoc *doc = NULL;
	struct tp_yerror err;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, TP_YNODE_MAX_FILE + 1), 0);
	refused(path, -EFBIG, "too large (16777217 bytes; the limit is 16 MiB)");
	/* At the limit it is read, and refused for what it holds (NUL bytes), not its size. */
	ck_assert_int_eq(ftruncate(fd, TP_YNODE_MAX_FILE), 0);
	ck_assert_int_eq(tp_ynode_parse_file(path, &doc, &err), -EINVAL);
	ck_assert_int_ne(err.line, 0);
	close(fd);
	unlink(path);
}
END_TEST

static Suite *ynode_suite(void)
{
	Suite *s = suite_create("ynode");
	TCase *tc = tcase_create("ynode");
	/* Files at the limits: a million nodes take seconds under the sanitizers. */
	TCase *limits = tcase_create("limits");

	tcase_add_test(tc, positions);
	tcase_add_test(tc, quoting_and_kinds);
	tcase_add_test(tc, anchors_and_aliases);
	tcase_add_test(tc, merge_keys);
	tcase_add_test(tc, quoted_merge_key_is_a_key);
	tcase_add_test(tc, json);
	tcase_add_test(tc, empty_document);
	tcase_add_test(tc, syntax_error);
	tcase_add_test(tc, bad_aliases_and_merges);
	tcase_add_test(tc, alias_bomb);
	tcase_add_test(tc, nesting_limit);
	tcase_add_test(tc, bad_bytes_placed);
	tcase_add_test(tc, bad_byte_far_in);
	tcase_add_test(tc, bom_crlf_utf16);
	tcase_add_test(tc, nul_in_key);
	tcase_add_test(tc, long_lines_and_deep_mappings);
	tcase_add_test(tc, file_errors);
	tcase_add_test(tc, not_regular_files);
	tcase_add_test(tc, file_size_limit);
	suite_add_tcase(s, tc);
	tcase_add_test(limits, node_limit);
	tcase_set_timeout(limits, 60);
	suite_add_tcase(s, limits);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ynode_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* YAML node tree built from libyaml's event parser, with 1-based line and column on every node. */
#include "core/config/ynode.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* A collection whose end event has not come yet. */
struct frame {
	struct tp_ynode *node;
	struct tp_ynode *key; /* TP_YNODE_MAP: the key whose value comes next, or NULL */
	size_t cap;
	char *anchor; /* registered when the node is complete, so it can never contain itself */
};

struct anchor {
	char *name;
	struct tp_ynode *node;
};

struct builder {
	struct tp_ydoc *doc;
	struct frame *stack;
	size_t depth, stack_cap;
	struct anchor *anchors;
	size_t n_anchors, anchors_cap;
	struct tp_yerror *err;
	size_t n_nodes; /* nodes in the text, aliases not expanded */
};

/* libyaml counts from 0 in size_t; positions are kept 1-based in 32 bits, which only a file of
 * 4 GiB outgrows: past that a position stays at the largest one it can say, never wraps. */
static uint32_t position(size_t zero_based)
{
	return zero_based < UINT32_MAX ? (uint32_t)zero_based + 1 : UINT32_MAX;
}

/* A whole-file problem: err->line stays 0, so the caller prints it without a position. */
static int file_error(struct tp_yerror *err, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int file_error(struct tp_yerror *err, int ret, const char *fmt, ...)
{
	va_list ap;

	memset(err, 0, sizeof(*err));
	va_start(ap, fmt);
	vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
	va_end(ap);
	return ret;
}

static void set_error(struct builder *b, const yaml_mark_t *mark, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_error(struct builder *b, const yaml_mark_t *mark, const char *fmt, ...)
{
	struct tp_yerror *e = b->err;
	size_t len = 0;
	va_list ap;

	e->line = position(mark->line);
	e->col = position(mark->column);
	va_start(ap, fmt);
	vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
	va_end(ap);

	/* The path of the value being read: each open mapping adds its pending key, each open
	 * list the index of the item being read. */
	e->path[0] = '\0';
	for (size_t i = 0; i < b->depth && len < sizeof(e->path); i++) {
		const struct frame *f = &b->stack[i];
		int n = 0;

		if (f->node->type == TP_YNODE_SEQ)
			n = snprintf(e->path + len, sizeof(e->path) - len, "[%zu]", f->node->n);
		else if (f->key)
			n = snprintf(e->path + len, sizeof(e->path) - len, "%s%s", len ? "." : "",
				     f->key->str);
		if (n > 0)
			len += (size_t)n;
	}
}

static struct tp_ynode *new_node(struct builder *b, enum tp_ynode_type type,
				 const yaml_mark_t *mark)
{
	struct tp_ynode *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->type = type;
	n->line = position(mark->line);
	n->col = position(mark->column);
	n->expanded = 1;
	n->next_alloc = b->doc->nodes;
	b->doc->nodes = n;
	return n;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap * 2 : 8;
	void *p;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static int add_anchor(struct builder *b, char *name, struct tp_ynode *node)
{
	if (grow((void **)&b->anchors, &b->anchors_cap, b->n_anchors + 1, sizeof(*b->anchors)))
		return -ENOMEM;
	b->anchors[b->n_anchors].name = name;
	b->anchors[b->n_anchors].node = node;
	b->n_anchors++;
	return 0;
}

static struct tp_ynode *find_anchor(struct builder *b, const char *name)
{
	/* Newest first: YAML lets a later anchor of the same name replace an earlier one. */
	for (size_t i = b->n_anchors; i-- > 0;) {
		if (!strcmp(b->anchors[i].name, name))
			return b->anchors[i].node;
	}
	return NULL;
}

/* Hands a finished node to the collection on top of the stack (or makes it the root). */
static int attach(struct builder *b, struct tp_ynode *node, const yaml_mark_t *mark)
{
	struct frame *f;
	struct tp_ynode *parent;

	if (!b->depth) {
		b->doc->root = node;
		return 0;
	}
	f = &b->stack[b->depth - 1];
	parent = f->node;
	if (parent->expanded + node->expanded > TP_YNODE_MAX_NODES) {
		/* Each node was counted as it came (on_event()): past the limit here, aliases
		 * made the difference. */
		set_error(b, mark, "too many nodes once aliases are expanded (more than %u)",
			  TP_YNODE_MAX_NODES);
		return -EINVAL;
	}
	parent->expanded += node->expanded;

	if (parent->type == TP_YNODE_SEQ) {
		if (grow((void **)&parent->items, &f->cap, parent->n + 1, sizeof(*parent->items)))
			return -ENOMEM;
		parent->items[parent->n++] = node;
		return 0;
	}
	if (!f->key) {
		if (node->type != TP_YNODE_SCALAR) {
			set_error(b, mark, "%s", "a mapping key must be a plain string");
			return -EINVAL;
		}
		/* Keys are looked up as C strings: "cluster\0x" would read as "cluster". */
		if (memchr(node->str, '\0', node->len)) {
			set_error(b, mark, "%s", "a mapping key cannot contain a NUL character");
			return -EINVAL;
		}
		f->key = node;
		return 0;
	}
	if (grow((void **)&parent->pairs, &f->cap, parent->n + 1, sizeof(*parent->pairs)))
		return -ENOMEM;
	parent->pairs[parent->n].key = f->key;
	parent->pairs[parent->n].value = node;
	parent->n++;
	f->key = NULL;
	return 0;
}

static bool is_merge_key(const struct tp_ynode *k)
{
	return !k->quoted && !strcmp(k->str, "<<");
}

static bool has_key(const struct tp_ynode_pair *pairs, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(pairs[i].key->str, key))
			return true;
	}
	return false;
}

static int merge_from(struct tp_ynode_pair **out, size_t *n, size_t *cap,
		      const struct tp_ynode *src)
{
	for (size_t i = 0; i < src->n; i++) {
		if (has_key(*out, *n, src->pairs[i].key->str))
			continue;
		if (grow((void **)out, cap, *n + 1, sizeof(**out)))
			return -ENOMEM;
		(*out)[(*n)++] = src->pairs[i];
	}
	return 0;
}

/* YAML 1.1 merge keys ("<<: *defaults", "<<: [*a, *b]"): keys written in the mapping win over
 * merged ones, and an earlier merged mapping wins over a later one. Envoy's yaml-cpp applies
 * them too, so configs that use them must load. */
static int apply_merges(struct builder *b, struct tp_ynode *map)
{
	struct tp_ynode_pair *out = NULL;
	size_t n = 0, cap = 0;
	bool any = false;
	int ret = 0;

	for (size_t i = 0; i < map->n; i++)
		any |= is_merge_key(map->pairs[i].key);
	if (!any)
		return 0;

	for (size_t i = 0; i < map->n; i++) {
		if (is_merge_key(map->pairs[i].key))
			continue;
		ret = grow((void **)&out, &cap, n + 1, sizeof(*out));
		if (ret)
			goto out_free;
		out[n++] = map->pairs[i];
	}
	for (size_t i = 0; i < map->n; i++) {
		const struct tp_ynode *v = map->pairs[i].value;
		yaml_mark_t mark = {.line = v->line - 1, .column = v->col - 1};

		if (!is_merge_key(map->pairs[i].key))
			continue;
		if (v->type == TP_YNODE_SEQ) {
			for (size_t j = 0; j < v->n; j++) {
				if (v->items[j]->type != TP_YNODE_MAP)
					goto out_bad_merge;
			}
			for (size_t j = 0; j < v->n && !ret; j++)
				ret = merge_from(&out, &n, &cap, v->items[j]);
		} else if (v->type == TP_YNODE_MAP) {
			ret = merge_from(&out, &n, &cap, v);
		} else {
			goto out_bad_merge;
		}
		if (ret)
			goto out_free;
		continue;
out_bad_merge:
		set_error(
			b, &mark, "%s",
			"the value of a \"<<\" merge key must be a mapping or a list of mappings");
		ret = -EINVAL;
		goto out_free;
	}
	free(map->pairs);
	map->pairs = out;
	map->n = n;
	return 0;

out_free:
	free(out);
	return ret;
}

static int push(struct builder *b, enum tp_ynode_type type, const yaml_event_t *ev,
		const yaml_char_t *anchor)
{
	struct tp_ynode *node;
	struct frame *f;

	if (b->depth >= TP_YNODE_MAX_DEPTH) {
		set_error(b, &ev->start_mark, "nested deeper than %u levels", TP_YNODE_MAX_DEPTH);
		return -EINVAL;
	}
	if (grow((void **)&b->stack, &b->stack_cap, b->depth + 1, sizeof(*b->stack)))
		return -ENOMEM;
	node = new_node(b, type, &ev->start_mark);
	if (!node)
		return -ENOMEM;
	f = &b->stack[b->depth++];
	memset(f, 0, sizeof(*f));
	f->node = node;
	if (anchor) {
		f->anchor = strdup((const char *)anchor);
		if (!f->anchor)
			return -ENOMEM;
	}
	return 0;
}

static int pop(struct builder *b, const yaml_event_t *ev)
{
	struct frame *f = &b->stack[b->depth - 1];
	struct tp_ynode *node = f->node;
	char *anchor = f->anchor;
	int ret;

	if (node->type == TP_YNODE_MAP) {
		ret = apply_merges(b, node);
		if (ret)
			goto out_free_anchor;
	}
	/* Registered only now: an alias inside its own anchor finds nothing, so no cycles. */
	if (anchor) {
		ret = add_anchor(b, anchor, node);
		if (ret)
			goto out_free_anchor;
	}
	b->depth--;
	return attach(b, node, &ev->start_mark);

out_free_anchor:
	free(anchor);
	f->anchor = NULL;
	return ret;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
	const char *tag = (const char *)ev->data.scalar.tag;
	struct tp_ynode *node = new_node(b, TP_YNODE_SCALAR, &ev->start_mark);
	int ret;

	if (!node)
		return -ENOMEM;
	node->len = ev->data.scalar.length;
	node->str = malloc(node->len + 1);
	if (!node->str)
		return -ENOMEM;
	memcpy(node->str, ev->data.scalar.value, node->len);
	node->str[node->len] = '\0';
	/* Envoy (yaml-cpp) reads a quoted or "!"-tagged scalar as text; so does "!!str". */
	node->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
		       (tag && (!strcmp(tag, "!") || !strcmp(tag, YAML_STR_TAG)));
	if (ev->data.scalar.anchor) {
		char *name = strdup((const char *)ev->data.scalar.anchor);

		if (!name)
			return -ENOMEM;
		ret = add_anchor(b, name, node);
		if (ret) {
			free(name);
			return ret;
		}
	}
	return attach(b, node, &ev->start_mark);
}

static int on_alias(struct builder *b, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	struct tp_ynode *node = find_anchor(b, name);

	if (!node) {
		set_error(b, &ev->start_mark, "unknown alias *%s (an alias must follow its anchor)",
			  name);
		return -EINVAL;
	}
	return attach(b, node, &ev->start_mark);
}

static bool makes_node(const yaml_event_t *ev)
{
	return ev->type == YAML_SCALAR_EVENT || ev->type == YAML_SEQUENCE_START_EVENT ||
	       ev->type == YAML_MAPPING_START_EVENT;
}

/* Returns 0, -EINVAL with b->err set, -ENOMEM, or -E2BIG when the node ev starts is one more
 * than TP_YNODE_MAX_NODES (b->err says where; parse() counts the rest and says how many). */
static int on_event(struct builder *b, const yaml_event_t *ev, int *documents)
{
	if (makes_node(ev) && ++b->n_nodes > TP_YNODE_MAX_NODES) {
		set_error(b, &ev->start_mark, "too many nodes");
		return -E2BIG;
	}
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++*documents > 1) {
			set_error(b, &ev->start_mark, "%s",
				  "more than one YAML document; tcpproxy reads one per file");
			return -EINVAL;
		}
		return 0;
	case YAML_SCALAR_EVENT:
		return on_scalar(b, ev);
	case YAML_ALIAS_EVENT:
		return on_alias(b, ev);
	case YAML_SEQUENCE_START_EVENT:
		return push(b, TP_YNODE_SEQ, ev, ev->data.sequence_start.anchor);
	case YAML_MAPPING_START_EVENT:
		return push(b, TP_YNODE_MAP, ev, ev->data.mapping_start.anchor);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return pop(b, ev);
	default:
		return 0;
	}
}

/* The text being parsed, for placing libyaml's reader errors, which give a byte offset only. */
struct text {
	const unsigned char *s;
	size_t len;
};

static bool is_utf8_continuation(unsigned char c)
{
	return (c & 0xC0) == 0x80;
}

/* The character at s[i] (as libyaml decodes it: UTF-8, or UTF-16 after its byte-order mark) and
 * its width in bytes. A byte that starts no valid character counts as one character. */
static size_t char_at(const struct text *t, size_t i, bool utf16, bool big_endian, uint32_t *ch)
{
	const unsigned char *p = t->s + i;
	size_t left = t->len - i, w;

	if (utf16) {
		if (left < 2) {
			*ch = 0xFFFD;
			return left;
		}
		*ch = big_endian ? (uint32_t)p[0] << 8 | p[1] : (uint32_t)p[1] << 8 | p[0];
		return (*ch & 0xFC00) == 0xD800 && left >= 4 ? 4 : 2;
	}
	w = p[0] < 0x80		    ? 1
	    : (p[0] & 0xE0) == 0xC0 ? 2
	    : (p[0] & 0xF0) == 0xE0 ? 3
	    : (p[0] & 0xF8) == 0xF0 ? 4
				    : 1;
	if (w > left)
		w = 1;
	for (size_t k = 1; k < w; k++) {
		if (!is_utf8_continuation(p[k]))
			w = 1;
	}
	*ch = p[0];
	/* Only line breaks matter to the caller: U+0085, U+2028 and U+2029 are YAML 1.1 ones. */
	if (w == 2)
		*ch = (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
	else if (w == 3)
		*ch = (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
	else if (w == 4)
		*ch = 0x10000;
	return w;
}

/* The line and column of byte offset off, counted as libyaml counts its marks (0-based, in
 * characters, a byte-order mark not counted, CR LF one break). */
static yaml_mark_t mark_at(const struct text *t, size_t off)
{
	yaml_mark_t m = {0};
	bool utf16 = false, be = false;
	size_t i = 0;

	if (t->len >= 2 && t->s[0] == 0xFF && t->s[1] == 0xFE) {
		utf16 = true;
		i = 2;
	} else if (t->len >= 2 && t->s[0] == 0xFE && t->s[1] == 0xFF) {
		utf16 = be = true;
		i = 2;
	} else if (t->len >= 3 && !memcmp(t->s, "\xEF\xBB\xBF", 3)) {
		i = 3;
	}
	if (off > t->len)
		off = t->len;
	while (i < off) {
		uint32_t ch, next;
		size_t w = char_at(t, i, utf16, be, &ch);

		if (ch == '\r' && i + w < t->len) {
			size_t nw = char_at(t, i + w, utf16, be, &next);

			if (next == '\n')
				w += nw;
		}
		i += w;
		if (ch == '\n' || ch == '\r' || ch == 0x85 || ch == 0x2028 || ch == 0x2029) {
			m.line++;
			m.column = 0;
		} else {
			m.column++;
		}
	}
	return m;
}

/* libyaml's reader checks the bytes ahead of its scanner and gives only a byte offset: the
 * error goes where the bad byte is (not at 1:1, where the scanner still was), with no dotted
 * path (the scanner has not reached it), and says what the byte is. */
static void reader_error(struct builder *b, const yaml_parser_t *p, const struct text *t)
{
	size_t off = p->problem_offset;
	yaml_mark_t mark;

	/* libyaml points past the lead byte of a sequence whose later byte is wrong; the reader
	 * of the message wants the character that is not UTF-8, so back up to its lead byte. */
	if (p->problem && !strcmp(p->problem, "invalid trailing UTF-8 octet")) {
		for (int k = 0; k < 3 && off > 0 && off <= t->len; k++) {
			off--;
			if (!is_utf8_continuation(t->s[off]))
				break;
		}
	}
	mark = mark_at(t, off);
	if (p->problem && strstr(p->problem, "UTF-8") && off < t->len)
		set_error(b, &mark, "not UTF-8 (byte 0x%02X); a config file must be UTF-8",
			  t->s[off]);
	else if (p->problem && strstr(p->problem, "control characters") && !p->problem_value)
		set_error(b, &mark, "%s", "a NUL byte; YAML text cannot contain one");
	else if (p->problem && strstr(p->problem, "control characters"))
		set_error(b, &mark, "control character U+%04X; YAML text cannot contain one",
			  (unsigned)p->problem_value);
	else
		set_error(b, &mark, "YAML syntax error: %s",
			  p->problem ? p->problem : "unreadable text");
	b->err->path[0] = '\0';
}

static void syntax_error(struct builder *b, const yaml_parser_t *p, const struct text *t)
{
	char reason[sizeof(b->err->reason)];

	if (p->error == YAML_READER_ERROR) {
		reader_error(b, p, t);
		return;
	}
	if (p->context)
		snprintf(reason, sizeof(reason), "%s %s started at line %zu column %zu",
			 p->problem ? p->problem : "syntax error", p->context,
			 p->context_mark.line + 1, p->context_mark.column + 1);
	else
		snprintf(reason, sizeof(reason), "%s", p->problem ? p->problem : "syntax error");
	set_error(b, &p->problem_mark, "YAML syntax error: %s", reason);
}

static void free_builder(struct builder *b)
{
	for (size_t i = 0; i < b->depth; i++)
		free(b->stack[i].anchor);
	free(b->stack);
	for (size_t i = 0; i < b->n_anchors; i++)
		free(b->anchors[i].name);
	free(b->anchors);
}

static int parse(yaml_parser_t *p, const struct text *t, struct tp_ydoc **out,
		 struct tp_yerror *err)
{
	struct builder b = {.err = err};
	bool incomplete = false;
	int documents = 0;
	int ret = 0;

	memset(err, 0, sizeof(*err));
	b.doc = calloc(1, sizeof(*b.doc));
	if (!b.doc)
		return -ENOMEM;
	b.doc->text_len = t->len;
	for (;;) {
		yaml_event_t ev;
		bool end;

		if (!yaml_parser_parse(p, &ev)) {
			if (p->error == YAML_MEMORY_ERROR) {
				ret = -ENOMEM;
			} else if (ret == -E2BIG) {
				incomplete = true;
			} else {
				syntax_error(&b, p, t);
				ret = -EINVAL;
			}
			break;
		}
		/* Past the node limit nothing is built any more, but the rest of the file is
		 * still counted, so the message can say how far over it is. */
		if (ret == -E2BIG)
			b.n_nodes += makes_node(&ev);
		else
			ret = on_event(&b, &ev, &documents);
		end = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		if ((ret && ret != -E2BIG) || end)
			break;
	}
	free_builder(&b);
	if (ret == -E2BIG) {
		snprintf(err->reason, sizeof(err->reason), "too many nodes (%s%zu > %u)",
			 incomplete ? "at least " : "", b.n_nodes, TP_YNODE_MAX_NODES);
		ret = -EINVAL;
	}
	if (ret) {
		if (ret == -ENOMEM)
			file_error(err, -ENOMEM, "%s", strerror(ENOMEM));
		tp_ynode_doc_free(b.doc);
		return ret;
	}
	*out = b.doc;
	return 0;
}

static const char *file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	return "an unknown file type";
}

/* What stat() said about the file, checked twice: on the path before it is opened, and on the
 * open descriptor, in case the path was replaced in between. */
static int check_file(const struct stat *st, struct tp_yerror *err)
{
	if (!S_ISREG(st->st_mode))
		return file_error(err, -EINVAL, "not a regular file (%s)", file_kind(st->st_mode));
	if (st->st_size > TP_YNODE_MAX_FILE)
		return file_error(err, -EFBIG, "too large (%lld bytes; the limit is %u MiB)",
				  (long long)st->st_size, TP_YNODE_MAX_FILE >> 20);
	return 0;
}

/* The whole file into *buf (malloc'd), at most TP_YNODE_MAX_FILE bytes. The master calls this
 * on SIGHUP, so nothing here may wait on another process: a FIFO, a socket or a device would
 * make read() (or even open(), for a FIFO without a writer) block the master for as long as
 * nobody writes, with no stats, no restarts and SIGTERM unanswered. Those are refused by
 * stat() before open(); open() does not block either way (O_NONBLOCK), and fstat() on the
 * descriptor catches a path swapped in between. O_NONBLOCK is left set: a regular file ignores
 * it, and a file system that does not would rather fail than stall the master. */
int tp_ynode_read_file(const char *path, char **buf, size_t *len, struct tp_yerror *err)
{
	struct stat st;
	size_t cap, n = 0;
	char *p = NULL;
	int fd, ret;

	*buf = NULL;
	*len = 0;
	if (stat(path, &st) < 0)
		return file_error(err, -errno, "cannot read: %s", strerror(errno));
	ret = check_file(&st, err);
	if (ret)
		return ret;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return file_error(err, -errno, "cannot read: %s", strerror(errno));
	if (fstat(fd, &st) < 0) {
		ret = file_error(err, -errno, "cannot read: %s", strerror(errno));
		goto out_close;
	}
	ret = check_file(&st, err);
	if (ret)
		goto out_close;
	/* st_size is a hint (a file may grow, /proc files say 0): read to the end, one byte past
	 * the limit at most, so that a file which grew past it is refused too. */
	cap = (size_t)st.st_size + 1;
	p = malloc(cap);
	if (!p) {
		ret = file_error(err, -ENOMEM, "%s", strerror(ENOMEM));
		goto out_close;
	}
	for (;;) {
		ssize_t got;

		if (n == cap) {
			size_t ncap =
				cap * 2 < TP_YNODE_MAX_FILE + 1 ? cap * 2 : TP_YNODE_MAX_FILE + 1;
			char *np = realloc(p, ncap);

			if (!np) {
				ret = file_error(err, -ENOMEM, "%s", strerror(ENOMEM));
				goto out_free;
			}
			p = np;
			cap = ncap;
		}
		got = read(fd, p + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			ret = file_error(err, -errno, "cannot read: %s", strerror(errno));
			goto out_free;
		}
		if (!got)
			break;
		n += (size_t)got;
		if (n > TP_YNODE_MAX_FILE) {
			ret = file_error(err, -EFBIG, "too large (more than %u MiB, the limit)",
					 TP_YNODE_MAX_FILE >> 20);
			goto out_free;
		}
	}
	close(fd);
	*buf = p;
	*len = n;
	return 0;

out_free:
	free(p);
out_close:
	close(fd);
	return ret;
}

int tp_ynode_parse_file(const char *path, struct tp_ydoc **out, struct tp_yerror *err)
{
	char *buf;
	size_t len;
	int ret;

	ret = tp_ynode_read_file(path, &buf, &len, err);
	if (ret)
		return ret;
	ret = tp_ynode_parse_string(buf, len, out, err);
	free(buf);
	return ret;
}

int tp_ynode_parse_string(const char *buf, size_t len, struct tp_ydoc **out, struct tp_yerror *err)
{
	struct text t = {.s = (const unsigned char *)buf, .len = len};
	yaml_parser_t p;
	int ret;

	if (!yaml_parser_initialize(&p))
		return file_error(err, -ENOMEM, "%s", strerror(ENOMEM));
	yaml_parser_set_input_string(&p, t.s, t.len);
	ret = parse(&p, &t, out, err);
	yaml_parser_delete(&p);
	return ret;
}

void tp_ynode_doc_free(struct tp_ydoc *doc)
{
	struct tp_ynode *n, *next;

	if (!doc)
		return;
	for (n = doc->nodes; n; n = next) {
		next = n->next_alloc;
		free(n->str);
		free(n->items);
		free(n->pairs);
		free(n);
	}
	free(doc);
}

bool tp_ynode_is_null(const struct tp_ynode *n)
{
	if (n->type != TP_YNODE_SCALAR || n->quoted)
		return false;
	return !n->len || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
	       !strcmp(n->str, "Null") || !strcmp(n->str, "NULL");
}

static bool looks_boolean(const char *s)
{
	static const char *const words[] = {"true", "True", "TRUE", "false", "False", "FALSE"};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (!strcmp(s, words[i]))
			return true;
	}
	return false;
}

static bool looks_numeric(const char *s)
{
	char *end;

	if (!*s)
		return false;
	errno = 0;
	(void)strtod(s, &end);
	return !*end;
}

const char *tp_ynode_kind_name(const struct tp_ynode *n)
{
	switch (n->type) {
	case TP_YNODE_MAP:
		return "a mapping";
	case TP_YNODE_SEQ:
		return "a list";
	case TP_YNODE_SCALAR:
		break;
	}
	if (tp_ynode_is_null(n))
		return "null";
	if (!n->quoted && looks_boolean(n->str))
		return "a boolean";
	if (!n->quoted && looks_numeric(n->str))
		return "a number";
	return "a string";
}

const struct tp_ynode *tp_ynode_map_get(const struct tp_ynode *map, const char *key)
{
	if (!map || map->type != TP_YNODE_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++) {
		if (!strcmp(map->pairs[i].key->str, key))
			return map->pairs[i].value;
	}
	return NULL;
}

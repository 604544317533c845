/* Stat-name filters: a pattern is parsed into a tree, its size once repeats are expanded is
 * checked against TP_MATCH_PROG_MAX, then it is compiled to a Thompson NFA that a Pike VM (no
 * captures: only whether something matches) runs over the input, one step per byte, each NFA
 * state at most once per step. Nothing backtracks, so no pattern takes more than
 * O(len x program) time; nothing is allocated while matching. */
#include "core/base/match.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A tree node per atom, concatenation, alternation and repeat: fewer than 4 per pattern byte. */
#define MAX_NODES (4 * TP_MATCH_PATTERN_MAX + 8)
/* A class takes at least two pattern bytes ("\d", "[a]"); '.' has an op of its own. */
#define MAX_CLASSES (TP_MATCH_PATTERN_MAX / 2 + 1)
#define REPEAT_INF  (-3) /* apart from repeat_count()'s -1 and -2 */

enum node_kind {
	N_EMPTY,
	N_BYTE,
	N_ANY,
	N_CLASS,
	N_BOL,
	N_EOL,
	N_WORDB,
	N_NWORDB,
	N_CAT,
	N_ALT,
	N_REPEAT,
};

struct node {
	uint8_t kind;
	uint8_t byte;  /* N_BYTE */
	uint16_t cls;  /* N_CLASS: index in the class table */
	int16_t min;   /* N_REPEAT */
	int16_t max;   /* N_REPEAT, REPEAT_INF for no bound */
	uint16_t a, b; /* N_CAT, N_ALT: both sides; N_REPEAT: a */
	uint32_t size; /* instructions it compiles to, saturated at TP_MATCH_PROG_MAX + 1 */
};

/* 256 bits: which bytes a class matches. */
struct cls {
	uint64_t w[4];
};

enum op {
	OP_BYTE,   /* consumes byte */
	OP_ANY,	   /* consumes any byte but '\n' */
	OP_CLASS,  /* consumes a byte of class x */
	OP_BOL,	   /* at offset 0 */
	OP_EOL,	   /* at the end */
	OP_WORDB,  /* between a word byte and a non-word byte (or an end) */
	OP_NWORDB, /* not there */
	OP_SPLIT,  /* go on at x and at y */
	OP_JMP,	   /* go on at x */
	OP_MATCH,
};

struct inst {
	uint8_t op;
	uint8_t byte;
	uint16_t x, y;
};

struct tp_match {
	struct inst *prog;
	unsigned n;
	struct cls *classes;
	bool anchored; /* every match starts at offset 0: no new thread after the first byte */
	/* Scratch for tp_match_search(), n entries each. */
	uint16_t *clist, *nlist, *stack;
	uint32_t *mark;
	uint32_t gen;
	uint64_t steps;		 /* work done by searches so far (tp_match_steps()) */
	uint8_t byte_class[256]; /* bytes no instruction tells apart share a class */
	unsigned n_byte_classes;
	bool needs_nfa;	 /* \b or \B: the Pike VM alone */
	struct dfa *dfa; /* the lazy DFA's cache, allocated at the first search */
};

struct parser {
	const char *p; /* next byte to read */
	const char *pattern;
	struct node *nodes;
	unsigned n_nodes;
	struct cls *classes;
	unsigned n_classes;
	char *why;
	size_t whylen;
	bool failed;
};

static void fail(struct parser *ps, const char *at, const char *fmt, const char *arg)
{
	char msg[96];

	if (ps->failed)
		return;
	ps->failed = true;
	snprintf(msg, sizeof(msg), fmt, arg);
	snprintf(ps->why, ps->whylen, "%s at offset %u", msg, (unsigned)(at - ps->pattern));
}

static unsigned new_node(struct parser *ps, enum node_kind kind)
{
	struct node *n;

	if (ps->n_nodes == MAX_NODES) {
		fail(ps, ps->p, "%s", "too many nodes");
		return 0;
	}
	n = &ps->nodes[ps->n_nodes];
	memset(n, 0, sizeof(*n));
	n->kind = (uint8_t)kind;
	return ps->n_nodes++;
}

static unsigned pair(struct parser *ps, enum node_kind kind, unsigned a, unsigned b)
{
	unsigned n = new_node(ps, kind);

	ps->nodes[n].a = (uint16_t)a;
	ps->nodes[n].b = (uint16_t)b;
	return n;
}

static void cls_set(struct cls *c, unsigned lo, unsigned hi)
{
	for (unsigned b = lo; b <= hi; b++)
		c->w[b >> 6] |= 1ull << (b & 63);
}

static bool cls_has(const struct cls *c, unsigned char b)
{
	return c->w[b >> 6] >> (b & 63) & 1;
}

static void cls_negate(struct cls *c)
{
	for (unsigned i = 0; i < 4; i++)
		c->w[i] = ~c->w[i];
}

static void cls_or(struct cls *c, const struct cls *o)
{
	for (unsigned i = 0; i < 4; i++)
		c->w[i] |= o->w[i];
}

static bool is_word(unsigned char b)
{
	return (b >= '0' && b <= '9') || (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') ||
	       b == '_';
}

/* \d \w \s (RE2's: ASCII only, \s without \v) and their capital negations; false for any
 * other letter. */
static bool perl_class(char e, struct cls *out)
{
	memset(out, 0, sizeof(*out));
	switch (e | 0x20) {
	case 'd':
		cls_set(out, '0', '9');
		break;
	case 'w':
		cls_set(out, '0', '9');
		cls_set(out, 'A', 'Z');
		cls_set(out, 'a', 'z');
		cls_set(out, '_', '_');
		break;
	case 's':
		cls_set(out, '\t', '\n');
		cls_set(out, '\f', '\r');
		cls_set(out, ' ', ' ');
		break;
	default:
		return false;
	}
	if (e >= 'A' && e <= 'Z')
		cls_negate(out);
	return true;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* After a backslash, an escape that stands for one byte: \n \t \r \f \v \a, \xHH, or a
 * punctuation byte escaped. -1 (after fail()) for anything else. */
static int byte_escape(struct parser *ps, const char *at)
{
	char e = *ps->p;
	int hi, lo;

	if (!e) {
		fail(ps, at, "%s", "trailing \\");
		return -1;
	}
	ps->p++;
	switch (e) {
	case 'n':
		return '\n';
	case 't':
		return '\t';
	case 'r':
		return '\r';
	case 'f':
		return '\f';
	case 'v':
		return '\v';
	case 'a':
		return '\a';
	case 'x':
		hi = hex_digit(ps->p[0]);
		lo = hi < 0 ? -1 : hex_digit(ps->p[1]);
		if (lo < 0) {
			fail(ps, at, "%s", "\\x needs two hex digits");
			return -1;
		}
		ps->p += 2;
		return hi * 16 + lo;
	}
	if (e >= '1' && e <= '9') {
		fail(ps, at, "backreferences (\\%s) are not supported", (char[]){e, '\0'});
		return -1;
	}
	if ((e >= '0' && e <= '9') || (e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') ||
	    (unsigned char)e >= 0x80) {
		fail(ps, at, "unknown escape \\%s", (char[]){e, '\0'});
		return -1;
	}
	return (unsigned char)e;
}

static unsigned add_class(struct parser *ps, const struct cls *c)
{
	unsigned n;

	if (ps->n_classes == MAX_CLASSES) {
		fail(ps, ps->p, "%s", "too many classes");
		return 0;
	}
	ps->classes[ps->n_classes] = *c;
	n = new_node(ps, N_CLASS);
	ps->nodes[n].cls = (uint16_t)ps->n_classes++;
	return n;
}

static const struct {
	const char *name;
	const char *ranges; /* pairs lo, hi */
} posix_classes[] = {
	{"alnum", "09AZaz"},
	{"alpha", "AZaz"},
	{"ascii", "\x01\x7f"},
	{"blank", "\t\t  "},
	{"cntrl", "\x01\x1f\x7f\x7f"},
	{"digit", "09"},
	{"graph", "!~"},
	{"lower", "az"},
	{"print", " ~"},
	{"punct", "!/:@[`{~"},
	{"space", "\t\r  "},
	{"upper", "AZ"},
	{"word", "09AZaz__"},
	{"xdigit", "09AFaf"},
};

/* "[:name:]" inside a class, ps->p on its '['. false when it is not one (a plain '['). */
static bool posix_class(struct parser *ps, struct cls *c)
{
	const char *start = ps->p, *end;
	bool neg;

	if (start[1] != ':')
		return false;
	end = strstr(start + 2, ":]");
	if (!end)
		return false;
	neg = start[2] == '^';
	for (size_t i = 0; i < sizeof(posix_classes) / sizeof(posix_classes[0]); i++) {
		const char *name = posix_classes[i].name, *r = posix_classes[i].ranges;
		struct cls one = {{0}};

		if (strlen(name) != (size_t)(end - start - 2 - neg) ||
		    memcmp(name, start + 2 + neg, strlen(name)))
			continue;
		/* "ascii" starts at \x01 so the table stays a C string; add NUL here. */
		if (!strcmp(name, "ascii") || !strcmp(name, "cntrl"))
			cls_set(&one, 0, 0);
		for (; r[0]; r += 2)
			cls_set(&one, (unsigned char)r[0], (unsigned char)r[1]);
		if (neg)
			cls_negate(&one);
		cls_or(c, &one);
		ps->p = end + 2;
		return true;
	}
	fail(ps, start, "%s", "unknown POSIX class");
	return true;
}

/* One member of a class at ps->p: a byte (*lo set, returns 1) or a set merged into c (0).
 * -1 on error. */
static int class_member(struct parser *ps, struct cls *c, int *lo)
{
	const char *at = ps->p;
	struct cls set;

	if (*at == '[' && posix_class(ps, c))
		return ps->failed ? -1 : 0;
	if (*at != '\\') {
		*lo = (unsigned char)*at;
		ps->p++;
		return 1;
	}
	ps->p++;
	if (perl_class(*ps->p, &set)) {
		ps->p++;
		cls_or(c, &set);
		return 0;
	}
	if (*ps->p == 'b') { /* \b is a backspace inside a class, as in RE2 */
		ps->p++;
		*lo = '\b';
		return 1;
	}
	*lo = byte_escape(ps, at);
	return *lo < 0 ? -1 : 1;
}

/* ps->p just past '['. */
static unsigned parse_class(struct parser *ps)
{
	const char *open = ps->p - 1;
	struct cls c = {{0}};
	bool neg = false, first = true;

	if (*ps->p == '^') {
		neg = true;
		ps->p++;
	}
	while (first || *ps->p != ']') {
		const char *at = ps->p;
		int lo, hi, r;

		if (!*ps->p) {
			fail(ps, open, "%s", "missing ]");
			return 0;
		}
		first = false;
		r = class_member(ps, &c, &lo);
		if (r < 0)
			return 0;
		if (!r)
			continue;
		/* A '-' that is not last makes a range. */
		if (ps->p[0] == '-' && ps->p[1] && ps->p[1] != ']') {
			ps->p++;
			r = class_member(ps, &c, &hi);
			if (r < 0)
				return 0;
			if (!r || hi < lo) {
				fail(ps, at, "%s", "bad character class range");
				return 0;
			}
			cls_set(&c, (unsigned)lo, (unsigned)hi);
		} else {
			cls_set(&c, (unsigned)lo, (unsigned)lo);
		}
	}
	ps->p++;
	if (neg)
		cls_negate(&c);
	return add_class(ps, &c);
}

static unsigned parse_alt(struct parser *ps);

/* A decimal count of a repeat at ps->p; -1 when there is none, -2 when over the maximum. */
static int repeat_count(struct parser *ps)
{
	int v = 0;

	if (*ps->p < '0' || *ps->p > '9')
		return -1;
	while (*ps->p >= '0' && *ps->p <= '9') {
		if (v <= TP_MATCH_REPEAT_MAX)
			v = v * 10 + (*ps->p - '0');
		ps->p++;
	}
	return v > TP_MATCH_REPEAT_MAX ? -2 : v;
}

/* "{n}", "{n,}" or "{n,m}" at ps->p (on the '{'): true with min and max set. false, with ps->p
 * unmoved, when this '{' does not start one: it is then a literal, as in RE2. */
static bool parse_braces(struct parser *ps, int *min, int *max)
{
	const char *start = ps->p;

	ps->p++;
	*min = repeat_count(ps);
	*max = *min;
	if (*min != -1 && *ps->p == ',') {
		ps->p++;
		*max = *ps->p == '}' ? REPEAT_INF : repeat_count(ps);
	}
	if (*min == -1 || *max == -1 || *ps->p != '}') {
		ps->p = start;
		return false;
	}
	ps->p++;
	if (*min == -2 || *max == -2)
		fail(ps, start, "repeat count above %s", "1000");
	else if (*max != REPEAT_INF && *max < *min)
		fail(ps, start, "%s", "bad repeat: the minimum is above the maximum");
	return true;
}

/* A quantifier at ps->p: true with min and max set (and ps->p past it). */
static bool quantifier(struct parser *ps, int *min, int *max)
{
	switch (*ps->p) {
	case '*':
		*min = 0;
		*max = REPEAT_INF;
		break;
	case '+':
		*min = 1;
		*max = REPEAT_INF;
		break;
	case '?':
		*min = 0;
		*max = 1;
		break;
	case '{':
		return parse_braces(ps, min, max);
	default:
		return false;
	}
	ps->p++;
	return true;
}

/* An atom at ps->p, which is not at the end, '|' or ')'. */
static unsigned parse_atom(struct parser *ps)
{
	const char *at = ps->p;
	struct cls set;
	unsigned n;
	int b;

	ps->p++;
	switch (*at) {
	case '(':
		if (*ps->p == '?') {
			if (ps->p[1] == ':') {
				ps->p += 2;
			} else if (ps->p[1] == '<' && (ps->p[2] == '=' || ps->p[2] == '!')) {
				fail(ps, at, "%s", "lookbehind is not supported");
				return 0;
			} else if ((ps->p[1] == 'P' && ps->p[2] == '<') || ps->p[1] == '<') {
				const char *name = ps->p + (ps->p[1] == 'P' ? 3 : 2);
				const char *end = name;

				while (is_word((unsigned char)*end))
					end++;
				if (end == name || *end != '>') {
					fail(ps, at, "%s", "bad named group");
					return 0;
				}
				ps->p = end + 1;
			} else {
				fail(ps, at, "%s",
				     ps->p[1] == '=' || ps->p[1] == '!'
					     ? "lookahead is not supported"
					     : "flags and other (? groups are not supported");
				return 0;
			}
		}
		n = parse_alt(ps);
		if (ps->failed)
			return 0;
		if (*ps->p != ')') {
			fail(ps, at, "%s", "missing )");
			return 0;
		}
		ps->p++;
		return n;
	case '[':
		return parse_class(ps);
	case '.':
		return new_node(ps, N_ANY);
	case '^':
		return new_node(ps, N_BOL);
	case '$':
		return new_node(ps, N_EOL);
	case '\\':
		switch (*ps->p) {
		case 'A':
			ps->p++;
			return new_node(ps, N_BOL);
		case 'z':
			ps->p++;
			return new_node(ps, N_EOL);
		case 'b':
			ps->p++;
			return new_node(ps, N_WORDB);
		case 'B':
			ps->p++;
			return new_node(ps, N_NWORDB);
		}
		if (perl_class(*ps->p, &set)) {
			ps->p++;
			return add_class(ps, &set);
		}
		ps->p = at + 1;
		b = byte_escape(ps, at);
		if (b < 0)
			return 0;
		n = new_node(ps, N_BYTE);
		ps->nodes[n].byte = (uint8_t)b;
		return n;
	case '*':
	case '+':
	case '?':
		fail(ps, at, "missing argument to repetition operator %s", (char[]){*at, '\0'});
		return 0;
	case '{': {
		int min, max;

		ps->p = at;
		if (parse_braces(ps, &min, &max)) {
			fail(ps, at, "%s", "missing argument to repetition operator {");
			return 0;
		}
		ps->p = at + 1;
		break;
	}
	}
	n = new_node(ps, N_BYTE);
	ps->nodes[n].byte = (uint8_t)*at;
	return n;
}

/* An atom and its quantifier, if any. */
static unsigned parse_repeat(struct parser *ps)
{
	unsigned n = parse_atom(ps), r;
	const char *at = ps->p;
	int min, max;

	if (ps->failed || !quantifier(ps, &min, &max))
		return n;
	if (ps->failed)
		return 0;
	if (*ps->p == '?') /* lazy: the same strings match */
		ps->p++;
	if (*ps->p == '*' || *ps->p == '+' || *ps->p == '?' ||
	    (*ps->p == '{' && parse_braces(ps, &(int){0}, &(int){0}))) {
		fail(ps, at, "%s", "bad repetition operator: a repeat of a repeat");
		return 0;
	}
	r = new_node(ps, N_REPEAT);
	ps->nodes[r].a = (uint16_t)n;
	ps->nodes[r].min = (int16_t)min;
	ps->nodes[r].max = (int16_t)max;
	return r;
}

static unsigned parse_concat(struct parser *ps)
{
	unsigned n = new_node(ps, N_EMPTY);

	while (!ps->failed && *ps->p && *ps->p != '|' && *ps->p != ')') {
		unsigned r = parse_repeat(ps);

		n = ps->nodes[n].kind == N_EMPTY ? r : pair(ps, N_CAT, n, r);
	}
	return n;
}

static unsigned parse_alt(struct parser *ps)
{
	unsigned n = parse_concat(ps);

	while (!ps->failed && *ps->p == '|') {
		ps->p++;
		n = pair(ps, N_ALT, n, parse_concat(ps));
	}
	return n;
}

static uint32_t sat(uint64_t v)
{
	return v > TP_MATCH_PROG_MAX ? TP_MATCH_PROG_MAX + 1 : (uint32_t)v;
}

/* Fills in each node's size; the children come before their parent in the array. */
static void size_nodes(struct node *nodes, unsigned n_nodes)
{
	for (unsigned i = 0; i < n_nodes; i++) {
		struct node *n = &nodes[i];
		uint64_t k;

		switch (n->kind) {
		case N_EMPTY:
			n->size = 0;
			break;
		case N_CAT:
			n->size = sat((uint64_t)nodes[n->a].size + nodes[n->b].size);
			break;
		case N_ALT: /* SPLIT a; JMP end; b */
			n->size = sat((uint64_t)nodes[n->a].size + nodes[n->b].size + 2);
			break;
		case N_REPEAT:
			k = nodes[n->a].size;
			if (!k) /* the empty string, repeated */
				n->size = 0;
			else if (n->max == REPEAT_INF && !n->min) /* L: SPLIT; a; JMP L */
				n->size = sat(k + 2);
			else if (n->max == REPEAT_INF) /* a (min times); SPLIT back */
				n->size = sat((uint64_t)n->min * k + 1);
			else /* a (min times); then (SPLIT; a) (max - min times) */
				n->size = sat((uint64_t)n->min * k +
					      (uint64_t)(n->max - n->min) * (k + 1));
			break;
		default:
			n->size = 1;
		}
	}
}

struct emitter {
	const struct node *nodes;
	struct inst *prog;
	unsigned n;
};

static void put(struct emitter *e, enum op op, unsigned x, unsigned y)
{
	e->prog[e->n++] = (struct inst){.op = (uint8_t)op, .x = (uint16_t)x, .y = (uint16_t)y};
}

/* Emits node i; its size was checked, so the program has room. Each call emits at least one
 * instruction (empty nodes return at once), so the work is bounded by the program size times
 * the tree's depth. */
static void emit(struct emitter *e, unsigned i)
{
	const struct node *n = &e->nodes[i];
	unsigned split, loop = e->n, end;

	if (!n->size)
		return;
	switch (n->kind) {
	case N_BYTE:
		put(e, OP_BYTE, 0, 0);
		e->prog[e->n - 1].byte = n->byte;
		break;
	case N_ANY:
		put(e, OP_ANY, 0, 0);
		break;
	case N_CLASS:
		put(e, OP_CLASS, n->cls, 0);
		break;
	case N_BOL:
		put(e, OP_BOL, 0, 0);
		break;
	case N_EOL:
		put(e, OP_EOL, 0, 0);
		break;
	case N_WORDB:
		put(e, OP_WORDB, 0, 0);
		break;
	case N_NWORDB:
		put(e, OP_NWORDB, 0, 0);
		break;
	case N_CAT:
		emit(e, n->a);
		emit(e, n->b);
		break;
	case N_ALT:
		split = e->n;
		put(e, OP_SPLIT, split + 1, split + 2 + e->nodes[n->a].size);
		emit(e, n->a);
		put(e, OP_JMP, split + 2 + e->nodes[n->a].size + e->nodes[n->b].size, 0);
		emit(e, n->b);
		break;
	case N_REPEAT:
		if (n->max == REPEAT_INF && !n->min) {
			loop = e->n;
			put(e, OP_SPLIT, loop + 1, loop + 2 + e->nodes[n->a].size);
			emit(e, n->a);
			put(e, OP_JMP, loop, 0);
			break;
		}
		for (int k = 0; k < n->min; k++) {
			loop = e->n;
			emit(e, n->a);
		}
		if (n->max == REPEAT_INF) {
			put(e, OP_SPLIT, loop, e->n + 1);
			break;
		}
		/* Nested optional copies: each SPLIT skips straight to the end, so skipping costs
		 * one step, not one per copy. */
		end = e->n + (unsigned)(n->max - n->min) * (e->nodes[n->a].size + 1);
		for (int k = n->min; k < n->max; k++) {
			put(e, OP_SPLIT, e->n + 1, end);
			emit(e, n->a);
		}
		break;
	}
}

/* The byte classes: two bytes are in one class when every instruction consumes both or
 * neither, so a DFA state needs one transition per class, not per byte. A byte's signature is
 * itself if some OP_BYTE names it, then its membership of every class and of "not '\n'". */
static void byte_classes(struct tp_match *m, unsigned n_classes)
{
	bool literal[256] = {false};
	uint64_t sig[256][(MAX_CLASSES + 1 + 63) / 64] = {{0}};
	const size_t words = (n_classes + 1 + 63) / 64;

	for (unsigned i = 0; i < m->n; i++)
		if (m->prog[i].op == OP_BYTE)
			literal[m->prog[i].byte] = true;
	for (unsigned b = 0; b < 256; b++) {
		for (unsigned c = 0; c < n_classes; c++)
			if (cls_has(&m->classes[c], (unsigned char)b))
				sig[b][c / 64] |= 1ull << (c % 64);
		if (b == '\n')
			sig[b][n_classes / 64] |= 1ull << (n_classes % 64);
	}
	m->n_byte_classes = 0;
	for (unsigned b = 0; b < 256; b++) {
		unsigned c = b;

		if (!literal[b])
			for (c = 0; c < b; c++)
				if (!literal[c] &&
				    !memcmp(sig[b], sig[c], words * sizeof(uint64_t)))
					break;
		m->byte_class[b] = c < b ? m->byte_class[c] : (uint8_t)m->n_byte_classes++;
	}
}

/* The pattern can only match at offset 0: its leftmost atom is ^ on every path through a
 * concatenation (alternations are not looked into). */
static bool anchored(const struct node *nodes, unsigned i)
{
	while (nodes[i].kind == N_CAT)
		i = nodes[i].size == nodes[nodes[i].b].size ? nodes[i].b : nodes[i].a;
	return nodes[i].kind == N_BOL;
}

int tp_match_compile(struct tp_match **out, const char *pattern, char *why, size_t whylen)
{
	struct parser ps = {.p = pattern, .pattern = pattern, .why = why, .whylen = whylen};
	struct tp_match *m = NULL;
	struct emitter e;
	unsigned root;
	size_t n;
	int ret = -EINVAL;

	*out = NULL;
	if (whylen)
		why[0] = '\0';
	if (strlen(pattern) > TP_MATCH_PATTERN_MAX) {
		snprintf(why, whylen, "longer than %d bytes", TP_MATCH_PATTERN_MAX);
		return -EINVAL;
	}
	ps.nodes = malloc(MAX_NODES * sizeof(*ps.nodes));
	ps.classes = malloc(MAX_CLASSES * sizeof(*ps.classes));
	if (!ps.nodes || !ps.classes) {
		snprintf(why, whylen, "out of memory");
		ret = -ENOMEM;
		goto out_free;
	}
	root = parse_alt(&ps);
	if (!ps.failed && *ps.p == ')')
		fail(&ps, ps.p, "%s", "unexpected )");
	if (ps.failed)
		goto out_free;
	size_nodes(ps.nodes, ps.n_nodes);
	if (ps.nodes[root].size + 1 > TP_MATCH_PROG_MAX) {
		snprintf(why, whylen,
			 "too complex: more than %d states once its repeats are expanded",
			 TP_MATCH_PROG_MAX);
		goto out_free;
	}
	n = ps.nodes[root].size + 1;
	/* One block: the program, the classes, the two thread lists, the stack and the marks. */
	m = calloc(1, sizeof(*m) + n * sizeof(*m->prog) + ps.n_classes * sizeof(*m->classes) +
			      3 * n * sizeof(uint16_t) + n * sizeof(uint32_t) + 8);
	if (!m) {
		snprintf(why, whylen, "out of memory");
		ret = -ENOMEM;
		goto out_free;
	}
	m->classes = (struct cls *)(m + 1);
	memcpy(m->classes, ps.classes, ps.n_classes * sizeof(*m->classes));
	m->mark = (uint32_t *)(m->classes + ps.n_classes);
	m->prog = (struct inst *)(m->mark + n);
	m->clist = (uint16_t *)(m->prog + n);
	m->nlist = m->clist + n;
	m->stack = m->nlist + n;
	m->n = (unsigned)n;
	e = (struct emitter){.nodes = ps.nodes, .prog = m->prog};
	emit(&e, root);
	put(&e, OP_MATCH, 0, 0);
	m->anchored = anchored(ps.nodes, root);
	byte_classes(m, ps.n_classes);
	for (unsigned i = 0; i < m->n; i++)
		m->needs_nfa |= m->prog[i].op == OP_WORDB || m->prog[i].op == OP_NWORDB;
	*out = m;
	ret = 0;
out_free:
	free(ps.nodes);
	free(ps.classes);
	return ret;
}

void tp_match_free(struct tp_match *m)
{
	if (m)
		free(m->dfa);
	free(m);
}

static void next_gen(struct tp_match *m)
{
	if (++m->gen == 0) {
		memset(m->mark, 0, m->n * sizeof(*m->mark));
		m->gen = 1;
	}
}

/* What the zero-width instructions see at an offset. */
struct at {
	bool bol, eol;
	bool word_before, word_after; /* for \b and \B */
	bool keep_eol;		      /* the DFA: an unmet $ goes into the list, to be resumed */
};

/* Adds the thread at pc and everything it reaches without consuming a byte to a list: the
 * consuming instructions go in, each at most once per generation. true when MATCH is reached. */
static bool add(struct tp_match *m, uint16_t *list, unsigned *n, unsigned pc, const struct at *at)
{
	unsigned sp = 0;

	if (m->mark[pc] == m->gen)
		return false;
	m->mark[pc] = m->gen;
	m->stack[sp++] = (uint16_t)pc;
	while (sp) {
		const struct inst *in = &m->prog[m->stack[--sp]];
		unsigned next[2], n_next = 0;

		pc = (unsigned)(in - m->prog);
		m->steps++;
		switch (in->op) {
		case OP_MATCH:
			return true;
		case OP_JMP:
			next[n_next++] = in->x;
			break;
		case OP_SPLIT:
			next[n_next++] = in->y;
			next[n_next++] = in->x;
			break;
		case OP_BOL:
			if (at->bol)
				next[n_next++] = pc + 1;
			break;
		case OP_EOL:
			if (at->eol)
				next[n_next++] = pc + 1;
			else if (at->keep_eol)
				list[(*n)++] = (uint16_t)pc;
			break;
		case OP_WORDB:
		case OP_NWORDB:
			if ((at->word_before != at->word_after) == (in->op == OP_WORDB))
				next[n_next++] = pc + 1;
			break;
		default:
			list[(*n)++] = (uint16_t)pc;
		}
		for (unsigned k = 0; k < n_next; k++) {
			if (m->mark[next[k]] == m->gen)
				continue;
			m->mark[next[k]] = m->gen;
			m->stack[sp++] = (uint16_t)next[k];
		}
	}
	return false;
}

/* Whether the instruction at pc consumes b (false for an $ kept in a DFA state). */
static bool consumes(const struct tp_match *m, unsigned pc, unsigned char b)
{
	const struct inst *in = &m->prog[pc];

	switch (in->op) {
	case OP_BYTE:
		return in->byte == b;
	case OP_ANY:
		return b != '\n';
	case OP_CLASS:
		return cls_has(&m->classes[in->x], b);
	default:
		return false;
	}
}

static struct at at_offset(const unsigned char *s, size_t len, size_t i)
{
	return (struct at){
		.bol = i == 0,
		.eol = i == len,
		.word_before = i > 0 && is_word(s[i - 1]),
		.word_after = i < len && is_word(s[i]),
	};
}

/* The Pike VM: every thread one step per byte. Used for patterns with \b or \B (the DFA does not
 * know the next byte when it builds a state) and when the DFA's cache cannot be had. */
static bool search_nfa(struct tp_match *m, const unsigned char *s, size_t len)
{
	uint16_t *cur = m->clist, *nxt = m->nlist, *t;
	unsigned n_cur = 0, n_nxt;
	struct at at = at_offset(s, len, 0);

	next_gen(m);
	if (add(m, cur, &n_cur, 0, &at))
		return true;
	for (size_t i = 0; i < len; i++) {
		if (!n_cur && m->anchored)
			return false;
		next_gen(m);
		n_nxt = 0;
		at = at_offset(s, len, i + 1);
		m->steps += n_cur;
		for (unsigned k = 0; k < n_cur; k++)
			if (consumes(m, cur[k], s[i]) && add(m, nxt, &n_nxt, cur[k] + 1u, &at))
				return true;
		/* Unanchored: a match may also start at the next offset. */
		if (!m->anchored && add(m, nxt, &n_nxt, 0, &at))
			return true;
		t = cur;
		cur = nxt;
		nxt = t;
		n_cur = n_nxt;
	}
	return false;
}

/* ---- The lazy DFA: the Pike VM's thread lists, each computed once and cached ----
 *
 * A state is a sorted list of the threads the Pike VM would hold after some input (consuming
 * instructions, and $ instructions not yet met), its transitions are filled in as bytes are
 * seen, so a byte costs one table look-up once the stat names' prefixes and suffixes have been
 * seen. The cache has a fixed size; when it is full it is emptied and refilled (as RE2 does),
 * so the worst case is the Pike VM's, plus a sort per byte. */

#define DFA_BYTES      (1u << 20)
#define DFA_STATES_MAX 4096
#define DFA_HASH       (2 * DFA_STATES_MAX)
#define DFA_UNKNOWN    (-1)
#define DFA_MATCH      (-2)

/* A state: its transitions, one per byte class (the offset of the next state, DFA_UNKNOWN or
 * DFA_MATCH), then its n threads (uint16_t pcs). */
struct dstate {
	int8_t eol_match; /* whether the input may end here: -1 not known yet */
	uint16_t n;
	int32_t next[];
};

struct dfa {
	size_t used;
	unsigned n_states;
	int32_t start;			       /* DFA_UNKNOWN until built */
	int32_t hash[DFA_HASH];		       /* offset + 1 of a state; 0 empty */
	uint64_t bits[TP_MATCH_PROG_MAX / 64]; /* sort_pcs()'s scratch, all zero between calls */
	_Alignas(8) unsigned char arena[DFA_BYTES];
};

static struct dstate *dstate_at(struct dfa *d, int32_t off)
{
	return (struct dstate *)(d->arena + off);
}

static uint16_t *dstate_pcs(const struct tp_match *m, struct dstate *st)
{
	return (uint16_t *)(st->next + m->n_byte_classes);
}

/* What emptying the cache costs, in steps: clearing the hash table (DFA_HASH slots). */
#define DFA_FLUSH_STEPS (DFA_HASH / 16)

static void dfa_flush(struct tp_match *m, struct dfa *d)
{
	d->used = 0;
	d->n_states = 0;
	d->start = DFA_UNKNOWN;
	memset(d->hash, 0, sizeof(d->hash));
	m->steps += DFA_FLUSH_STEPS;
}

/* Sorts pcs, each of which appears once: a bitmap of the program, then a scan of its words.
 * n + m->n / 64 steps, where qsort() took n log n comparisons through a function pointer, the
 * largest part of a new state's cost (review: the budget counted none of it). */
static void sort_pcs(const struct tp_match *m, struct dfa *d, uint16_t *pcs, unsigned n)
{
	unsigned words = (m->n + 63) / 64, k = 0;

	for (unsigned i = 0; i < n; i++)
		d->bits[pcs[i] / 64] |= 1ull << (pcs[i] % 64);
	for (unsigned w = 0; w < words; w++) {
		while (d->bits[w]) {
			pcs[k++] = (uint16_t)(w * 64 + (unsigned)__builtin_ctzll(d->bits[w]));
			d->bits[w] &= d->bits[w] - 1;
		}
	}
}

static uint32_t hash_pcs(const uint16_t *pcs, unsigned n)
{
	uint32_t h = 2166136261u;

	for (unsigned i = 0; i < n; i++)
		h = (h ^ pcs[i]) * 16777619u;
	return h ^ n;
}

/* The state holding pcs (sorted here), found or added; DFA_UNKNOWN when the cache is full.
 * Its work is counted in steps as the Pike VM's is, so that the budget bounds time on either
 * path: the sort, the hash and the comparison or copy of the list, and for a new state the
 * initialisation of its transitions. */
static int32_t dfa_state(struct tp_match *m, struct dfa *d, uint16_t *pcs, unsigned n)
{
	size_t size =
		sizeof(struct dstate) + m->n_byte_classes * sizeof(int32_t) + n * sizeof(uint16_t);
	uint32_t h;
	struct dstate *st;

	size = (size + 7) & ~(size_t)7;
	sort_pcs(m, d, pcs, n);
	h = hash_pcs(pcs, n);
	m->steps += n + (m->n + 63) / 64;
	for (unsigned i = 0; i < DFA_HASH; i++) {
		int32_t *slot = &d->hash[(h + i) & (DFA_HASH - 1)];

		if (!*slot) {
			if (d->used + size > DFA_BYTES || d->n_states == DFA_STATES_MAX)
				return DFA_UNKNOWN;
			st = dstate_at(d, (int32_t)d->used);
			for (unsigned b = 0; b < m->n_byte_classes; b++)
				st->next[b] = DFA_UNKNOWN;
			m->steps += m->n_byte_classes;
			st->eol_match = -1;
			st->n = (uint16_t)n;
			memcpy(dstate_pcs(m, st), pcs, n * sizeof(*pcs));
			*slot = (int32_t)d->used + 1;
			d->used += size;
			d->n_states++;
			return *slot - 1;
		}
		st = dstate_at(d, *slot - 1);
		if (st->n == n && !memcmp(dstate_pcs(m, st), pcs, n * sizeof(*pcs)))
			return *slot - 1;
	}
	return DFA_UNKNOWN;
}

/* The state after offset 0 (the input is not empty: $ is kept, not met). */
static int32_t dfa_start(struct tp_match *m, struct dfa *d)
{
	struct at at = {.bol = true, .keep_eol = true};
	unsigned n = 0;

	if (d->start != DFA_UNKNOWN)
		return d->start;
	next_gen(m);
	if (add(m, m->nlist, &n, 0, &at))
		return DFA_MATCH;
	d->start = dfa_state(m, d, m->nlist, n);
	if (d->start == DFA_UNKNOWN) {
		dfa_flush(m, d);
		d->start = dfa_state(m, d, m->nlist, n);
	}
	return d->start;
}

/* The state after byte b from the state at off, cached in it. */
static int32_t dfa_next(struct tp_match *m, struct dfa *d, int32_t off, unsigned char b)
{
	struct at at = {.keep_eol = true};
	struct dstate *st = dstate_at(d, off);
	const uint16_t *pcs = dstate_pcs(m, st);
	unsigned n = 0, bc = m->byte_class[b];
	int32_t next;

	if (st->next[bc] != DFA_UNKNOWN)
		return st->next[bc];
	next_gen(m);
	next = DFA_MATCH;
	for (unsigned k = 0; k < st->n; k++)
		if (consumes(m, pcs[k], b) && add(m, m->nlist, &n, pcs[k] + 1u, &at))
			goto out;
	if (!m->anchored && add(m, m->nlist, &n, 0, &at))
		goto out;
	m->steps += st->n; /* the consuming tests; dfa_state() counts the rest */
	next = dfa_state(m, d, m->nlist, n);
	if (next == DFA_UNKNOWN) {
		/* Full: start over with only the state just computed. st is gone with the rest. */
		dfa_flush(m, d);
		return dfa_state(m, d, m->nlist, n);
	}
out:
	st->next[bc] = next;
	return next;
}

/* Whether the input may end in the state at off: its $ instructions met, does one reach MATCH? */
static bool dfa_eol(struct tp_match *m, struct dfa *d, int32_t off)
{
	struct at at = {.eol = true};
	struct dstate *st = dstate_at(d, off);
	const uint16_t *pcs = dstate_pcs(m, st);
	unsigned n = 0;

	if (st->eol_match < 0) {
		next_gen(m);
		st->eol_match = 0;
		for (unsigned k = 0; k < st->n && !st->eol_match; k++)
			if (m->prog[pcs[k]].op == OP_EOL && add(m, m->nlist, &n, pcs[k], &at))
				st->eol_match = 1;
	}
	return st->eol_match;
}

static bool search_dfa(struct tp_match *m, struct dfa *d, const unsigned char *s, size_t len)
{
	int32_t st = dfa_start(m, d);

	for (size_t i = 0; i < len; i++) {
		if (st == DFA_MATCH)
			return true;
		/* Anchored and no thread left: nothing can match any more. */
		if (m->anchored && !dstate_at(d, st)->n)
			return false;
		st = dfa_next(m, d, st, s[i]);
	}
	return st == DFA_MATCH || dfa_eol(m, d, st);
}

bool tp_match_search(struct tp_match *m, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;

	if (len && !m->needs_nfa && !m->dfa) {
		m->dfa = calloc(1, sizeof(*m->dfa));
		if (m->dfa)
			dfa_flush(m, m->dfa);
		else
			m->needs_nfa = true;
	}
	if (!len || m->needs_nfa)
		return search_nfa(m, s, len);
	return search_dfa(m, m->dfa, s, len);
}

uint64_t tp_match_steps(const struct tp_match *m)
{
	return m->steps;
}

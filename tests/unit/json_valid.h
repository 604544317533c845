/* A strict JSON check for the formatter's tests (check_format.c, tests/fuzz/fuzz_format.c): is a
 * rendered line one RFC 8259 JSON value, then only whitespace, whose strings are well-formed
 * UTF-8 with valid escapes? Written apart from the formatter's own UTF-8 code, by decoding code
 * points rather than by table 3-7's byte ranges, so that the two check each other. */
#ifndef TP_TESTS_JSON_VALID_H
#define TP_TESTS_JSON_VALID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define JSON_VALID_DEPTH 32

struct json_valid {
	const unsigned char *p, *end;
};

static void json_valid_ws(struct json_valid *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool json_valid_lit(struct json_valid *j, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n))
		return false;
	j->p += n;
	return true;
}

static int json_valid_hex4(struct json_valid *j)
{
	int v = 0;

	if (j->end - j->p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		unsigned char ch = *j->p++;

		v <<= 4;
		if (ch >= '0' && ch <= '9')
			v |= ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			v |= ch - 'a' + 10;
		else if (ch >= 'A' && ch <= 'F')
			v |= ch - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* One UTF-8 character starting at j->p (>= 0x80), decoded and range-checked. */
static bool json_valid_utf8(struct json_valid *j)
{
	static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
	unsigned char lead = *j->p++;
	size_t n = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 0;
	uint32_t cp = lead & (0x7f >> n);

	if (!n || lead >= 0xf8 || (size_t)(j->end - j->p) < n - 1)
		return false;
	for (size_t i = 1; i < n; i++) {
		if ((*j->p & 0xc0) != 0x80)
			return false;
		cp = cp << 6 | (*j->p++ & 0x3f);
	}
	return cp >= min[n] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
}

static bool json_valid_string(struct json_valid *j)
{
	if (j->p == j->end || *j->p++ != '"')
		return false;
	while (j->p < j->end) {
		unsigned char ch = *j->p;
		int u;

		if (ch == '"') {
			j->p++;
			return true;
		}
		if (ch < 0x20)
			return false;
		if (ch >= 0x80) {
			if (!json_valid_utf8(j))
				return false;
			continue;
		}
		j->p++;
		if (ch != '\\')
			continue;
		if (j->p == j->end)
			return false;
		ch = *j->p++;
		if (strchr("\"\\/bfnrt", ch) && ch)
			continue;
		if (ch != 'u' || (u = json_valid_hex4(j)) < 0)
			return false;
		if (u >= 0xdc00 && u <= 0xdfff)
			return false; /* a low surrogate alone */
		if (u >= 0xd800 && u <= 0xdbff &&
		    (!json_valid_lit(j, "\\u") || (u = json_valid_hex4(j)) < 0xdc00 || u > 0xdfff))
			return false; /* a high surrogate without its low one */
	}
	return false;
}

static bool json_valid_number(struct json_valid *j)
{
	const unsigned char *start;

	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p == j->end || *j->p < '0' || *j->p > '9')
		return false;
	if (*j->p++ != '0')
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	if (j->p < j->end && *j->p == '.') {
		start = ++j->p;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
		if (j->p == start)
			return false;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		start = j->p;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
		if (j->p == start)
			return false;
	}
	return true;
}

static bool json_valid_value(struct json_valid *j, int depth)
{
	unsigned char close;

	json_valid_ws(j);
	if (j->p == j->end || depth > JSON_VALID_DEPTH)
		return false;
	switch (*j->p) {
	case '"':
		return json_valid_string(j);
	case 't':
		return json_valid_lit(j, "true");
	case 'f':
		return json_valid_lit(j, "false");
	case 'n':
		return json_valid_lit(j, "null");
	case '{':
	case '[':
		close = *j->p == '{' ? '}' : ']';
		j->p++;
		json_valid_ws(j);
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return true;
		}
		for (;;) {
			if (close == '}') {
				json_valid_ws(j);
				if (!json_valid_string(j))
					return false;
				json_valid_ws(j);
				if (j->p == j->end || *j->p++ != ':')
					return false;
			}
			if (!json_valid_value(j, depth + 1))
				return false;
			json_valid_ws(j);
			if (j->p == j->end)
				return false;
			if (*j->p == close) {
				j->p++;
				return true;
			}
			if (*j->p++ != ',')
				return false;
		}
	default:
		return json_valid_number(j);
	}
}

/* Whether s[0, n) is exactly one JSON value with only whitespace around it. */
static bool json_valid(const char *s, size_t n)
{
	struct json_valid j = {(const unsigned char *)s, (const unsigned char *)s + n};

	if (!json_valid_value(&j, 0))
		return false;
	json_valid_ws(&j);
	return j.p == j.end;
}

#endif

/* Fuzz target: the first bytes of a client's stream as tls_inspector peeks them, through
 * core/tls/clienthello.c. Parsed whole, as a growing prefix resumed one byte at a time, and
 * afresh at sampled prefixes: every way must give the same answer, undecided exactly until the
 * byte it rests on. A ClientHello that parses from one record is cut into two records at an
 * offset the input picks and must parse the same. */
#include "tests/fuzz/fuzz.h"

#include "core/tls/clienthello.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_clienthello: %s\n", what);
		abort();
	}
}

/* The same answer; the same findings if it is DONE. */
static void same(const struct tp_chello *a, const struct tp_chello *b, bool bytes)
{
	check(a->result == b->result, "results differ");
	check(a->error == b->error, "reasons differ");
	check(!bytes || a->bytes == b->bytes, "decided on different bytes");
	check(a->sni_len == b->sni_len && !strcmp(a->sni, b->sni), "server names differ");
	check(a->n_alpn == b->n_alpn && a->alpn_len == b->alpn_len &&
		      !memcmp(a->alpn, b->alpn, a->alpn_len) &&
		      a->alpn_truncated == b->alpn_truncated,
	      "ALPN differs");
	check(a->versions == b->versions && a->v2 == b->v2, "versions differ");
	check(a->result != TP_CHELLO_DONE || a->legacy_version == b->legacy_version,
	      "legacy versions differ");
}

static void sane(const struct tp_chello *h, size_t size)
{
	size_t off = 0, len;
	const uint8_t *p;
	unsigned i;

	check(h->bytes <= size && h->bytes <= TP_CHELLO_MAX_BYTES, "bytes past the input");
	if (h->result != TP_CHELLO_DONE) {
		check((h->result == TP_CHELLO_NEED_MORE) == !h->error, "reason without a result");
		check(!h->sni_len && !h->sni[0] && !h->n_alpn && !h->versions,
		      "findings without a ClientHello");
		return;
	}
	check(!h->error && h->sni_len == strlen(h->sni), "server name length");
	for (i = 0; i < h->sni_len; i++)
		check(h->sni[i] < 'A' || h->sni[i] > 'Z', "server name not lower-cased");
	check(h->n_alpn <= TP_CHELLO_ALPN_MAX && h->alpn_len <= TP_CHELLO_ALPN_BUF_MAX,
	      "ALPN over its bounds");
	for (i = 0; (p = tp_chello_alpn(h, i, &len)); i++) {
		check(len > 0 && p == h->alpn + off + 1, "ALPN walk");
		off += 1 + len;
	}
	check(i == h->n_alpn && off == h->alpn_len, "ALPN count");
	check(!h->v2 || (!h->sni_len && !h->n_alpn), "SSLv2 hello with extensions");
}

/* Cuts a DONE single-record hello into two records at an offset the input picks. */
static void resplit(const uint8_t *data, size_t size, const struct tp_chello *whole)
{
	static uint8_t s[TP_CHELLO_MAX_BYTES + 16];
	static struct tp_chello h;
	size_t body = whole->bytes - 5, cut;

	if (whole->v2 || (size_t)(data[3] << 8 | data[4]) != body)
		return;
	cut = data[size - 1] % (body + 1);
	memcpy(s, data, 5);
	s[3] = (uint8_t)(cut >> 8);
	s[4] = (uint8_t)cut;
	memcpy(s + 5, data + 5, cut);
	memcpy(s + 5 + cut, data, 5);
	s[5 + cut + 3] = (uint8_t)((body - cut) >> 8);
	s[5 + cut + 4] = (uint8_t)(body - cut);
	memcpy(s + 10 + cut, data + 5 + cut, body - cut);
	tp_chello_init(&h, 0);
	tp_chello_parse(&h, s, whole->bytes + 5);
	if (cut == body) {
		same(&h, whole, true); /* the empty second record is after the hello */
	} else if (whole->bytes + 5 > TP_CHELLO_MAX_BYTES) {
		check(h.result == TP_CHELLO_TOO_LARGE, "split past the window");
	} else {
		same(&h, whole, false);
		check(h.bytes == whole->bytes + 5, "split hello ends elsewhere");
	}
}

/* A fresh parse of the first n bytes: undecided before stop, the whole's answer from there. */
static void fresh_at(const uint8_t *data, size_t n, size_t stop, const struct tp_chello *whole)
{
	static struct tp_chello h;

	tp_chello_init(&h, 0);
	if (tp_chello_parse(&h, data, n) == TP_CHELLO_NEED_MORE) {
		check(n < stop, "a fresh parse undecided where a resumed one decided");
	} else {
		check(n >= stop, "a fresh parse decided where a resumed one did not");
		same(&h, whole, true);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tp_chello whole, grow;
	enum tp_chello_result r;
	size_t stop = size + 1, step;

	tp_chello_init(&whole, 0);
	r = tp_chello_parse(&whole, data, size);
	sane(&whole, size);

	/* One parse, resumed on a prefix one byte longer each time. */
	tp_chello_init(&grow, 0);
	for (size_t i = 0; i <= size; i++) {
		if (tp_chello_parse(&grow, data, i) != TP_CHELLO_NEED_MORE) {
			stop = i;
			break;
		}
	}
	same(&grow, &whole, true);
	check(r == TP_CHELLO_NEED_MORE || whole.bytes <= stop, "decided past the bytes used");
	check(r != TP_CHELLO_DONE || whole.bytes == stop, "DONE before the hello's end");

	/* A fresh parse of every prefix; of 48 and those around the decision on long inputs. */
	step = size <= 300 ? 1 : size / 48;
	for (size_t n = 0; n <= size; n += step)
		fresh_at(data, n, stop, &whole);
	if (stop <= size) {
		fresh_at(data, stop, stop, &whole);
		if (stop)
			fresh_at(data, stop - 1, stop, &whole);
	}

	if (r == TP_CHELLO_DONE)
		resplit(data, size, &whole);
	return 0;
}

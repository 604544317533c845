/* Regular expressions for stat-name filters (/stats?filter=, tcpproxy-stat --filter): RE2's
 * syntax for what operators write, matched in time linear in the input and in bounded memory
 * (the program, sized at compile time, and a DFA cache of fixed size), because the master
 * matches them on the loop that serves every client. */
#ifndef TP_MATCH_H
#define TP_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tp_match;

/* The longest pattern accepted, in bytes. */
#define TP_MATCH_PATTERN_MAX 256
/* The most instructions a compiled pattern may have once its bounded repeats are expanded
 * (x{3} is three copies of x): this bounds both the memory and the work per input byte. */
#define TP_MATCH_PROG_MAX 4096
/* The largest count in {n}, {n,} and {n,m}, as in RE2. */
#define TP_MATCH_REPEAT_MAX 1000

/* Compiles pattern: literals, '.', classes ([a-z_], [^...], [[:alpha:]], \d \w \s and their
 * negations), anchors ^ $ \A \z, word boundaries \b \B, alternation, groups ( ) (?: ),
 * (?P<name> ) and (?<name> ), and * + ? {n} {n,} {n,m} (a '?' after one, lazy in RE2, matches
 * the same strings). Bytes, not UTF-8 characters; '.' matches any byte but '\n'. Refused, with
 * a one-line reason in why: backreferences, lookaround, flags, an unknown escape, a pattern
 * longer than TP_MATCH_PATTERN_MAX or a program larger than TP_MATCH_PROG_MAX.
 * 0 (*out set, free it with tp_match_free()), -EINVAL or -ENOMEM. */
int tp_match_compile(struct tp_match **out, const char *pattern, char *why, size_t whylen);

/* Whether some substring of s[0..len) matches (unanchored search, as RE2::PartialMatch and
 * Envoy's /stats filter). A lazy DFA whose states are cached in m (at most 4096 states in
 * 1 MiB, a 32 KiB hash table and a 512-byte sort bitmap, allocated by the first search of a
 * non-empty input, emptied when full) makes a byte one table look-up once its state has been
 * seen; a state not seen yet costs one Pike VM step (at most TP_MATCH_PROG_MAX instructions)
 * and the making of the state. Patterns with \b or \B, an empty input, and every search of a
 * pattern whose cache could not be allocated run on the Pike VM alone. Uses scratch space
 * inside m: one search at a time per pattern. */
bool tp_match_search(struct tp_match *m, const char *s, size_t len);

/* The work searches with m have done so far, in instructions visited, plus, on the DFA, the
 * making of each new state (sorting, hashing and storing its threads, setting up its
 * transitions) and each emptying of its cache, in the same unit; a transition the DFA has
 * cached costs nothing. A step costs about the same time on either path: what a caller
 * matching many inputs bounds its total time with. */
uint64_t tp_match_steps(const struct tp_match *m);

void tp_match_free(struct tp_match *m);

#endif

/* Types of a growable byte buffer for building responses and reports. */
#ifndef TP_SBUF_T_H
#define TP_SBUF_T_H

#include <stdbool.h>
#include <stddef.h>

/* Always NUL-terminated once something was added; oom sticks once an allocation failed, and
 * later additions are dropped, so a builder checks once at the end. */
struct tp_sbuf {
	char *p;
	size_t len;
	size_t cap;
	bool oom;
};

#endif

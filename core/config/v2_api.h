/* Envoy's removed v2 API: the v3 message that replaced a v2 one, for load-error hints. */
#ifndef TP_V2_API_H
#define TP_V2_API_H

#include <stdbool.h>

/* The v3 message name (no type URL prefix) that replaced message, a v2 message name or a type
 * URL ending in one; NULL if message is not one tcpproxy knows the successor of. */
const char *tp_v2_api_successor(const char *message);

/* Whether message (or type URL) names a message of the removed v2 API: one with a successor,
 * or any in a v2, v2alpha or v1alpha1 package. */
bool tp_v2_api_is_v2(const char *message);

#endif

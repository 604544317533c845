/* The build's version ("git describe"), compiled into one object only (core/version.c) so that a
 * new commit rebuilds that object and nothing else. */
#ifndef TP_VERSION_H
#define TP_VERSION_H

extern const char tp_version[];

#endif

/* The build's version; the Makefile rebuilds this file's object whenever "git describe" changes. */
#include "core/base/version.h"

const char tp_version[] = TP_VERSION;

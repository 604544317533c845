/* Types of tcp_proxy's access logs: where each entry goes and in which format. */
#ifndef TP_ACCESS_LOG_T_H
#define TP_ACCESS_LOG_T_H

#include "core/config/config-t.h"

#include <stdint.h>

struct tp_format;

enum tp_alog_sink {
	TP_ALOG_FILE,	/* envoy.access_loggers.file (and the old envoy.file_access_log) */
	TP_ALOG_STDOUT, /* envoy.access_loggers.stdout */
	TP_ALOG_STDERR, /* envoy.access_loggers.stderr */
};

/* envoy.config.accesslog.v3.AccessLog with its typed_config decoded. */
struct tp_access_log_cfg {
	char *name; /* a label, as for filters: the @type picks the logger */
	enum tp_alog_sink sink;
	char *path;		    /* TP_ALOG_FILE */
	uint32_t file;		    /* TP_ALOG_FILE: index into tp_config.access_log_paths */
	struct tp_format *format;   /* the configured format, or Envoy's default */
	struct tp_cfg_mark mark;    /* of the entry */
	struct tp_cfg_mark tc_mark; /* of typed_config */
};

#endif

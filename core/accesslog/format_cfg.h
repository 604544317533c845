/* Config side of the formatter: Envoy's SubstitutionFormatString and the format spellings that
 * access loggers and set_filter_state take, compiled at load with FILE:LINE:COL errors. */
#ifndef TP_FORMAT_CFG_H
#define TP_FORMAT_CFG_H

#include "core/config/cfg_schema-t.h"
#include "core/accesslog/format-t.h"
#include "core/config/ynode-t.h"

/* An envoy.config.core.v3.SubstitutionFormatString; NULL after reporting a problem. */
struct tp_format *tp_format_cfg_substitution(struct tp_cfg_ctx *ctx, const struct tp_ynode *node);
/* A bare format string (FileAccessLog.format, text_format); NULL after reporting. */
struct tp_format *tp_format_cfg_text(struct tp_cfg_ctx *ctx, const struct tp_ynode *scalar);
/* A format dictionary; NULL after reporting. */
struct tp_format *tp_format_cfg_json(struct tp_cfg_ctx *ctx, const struct tp_ynode *map,
				     bool typed);

#endif

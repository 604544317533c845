/* Metadata values (google.protobuf.Value and Struct) in a canonical byte form, read from YAML the
 * way Envoy reads them, for subset load balancing: endpoint metadata, metadata_match criteria,
 * default_subset, and the values filters set at run time.
 *
 * Envoy turns YAML into protobuf Values with its own rules (MessageUtil's parseYamlNode): a
 * quoted scalar is a string; an unquoted one is a bool if yaml-cpp reads it as one (true, yes,
 * on, y, in their three cases), a number if it is an integer within int32, the decimal text of
 * the integer if it is a larger one, and a string otherwise (1.5 stays the string "1.5"). Null
 * is null, a list a list, a mapping a Struct. Two values are then equal (ValueUtil::equal) when
 * their kinds and contents are; the byte form below is equal exactly then.
 *
 * Byte form, self-delimiting: 'N' null; 'B' then 0 or 1; 'D' then the 8 bytes of the double
 * (-0 written as 0); 'S' then a 4-byte length and the bytes; 'L' then a 4-byte byte count of
 * what follows and a 4-byte item count, then the items; 'M' likewise, then per field (sorted by
 * key) a 4-byte key length, the key and the value. Lengths are in host order: the form never
 * leaves the process. */
#ifndef TP_METADATA_H
#define TP_METADATA_H

#include "core/config/cfg_schema-t.h"
#include "core/config/config-t.h"
#include "core/config/ynode-t.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tp_mvalue_kind {
	TP_MV_NULL = 'N',
	TP_MV_BOOL = 'B',
	TP_MV_NUMBER = 'D',
	TP_MV_STRING = 'S',
	TP_MV_LIST = 'L',
	TP_MV_STRUCT = 'M',
};

/* The fields of mapping node, each value decoded as above, sorted; a key given twice keeps its
 * last value, as Envoy's Struct does, with a warning. 0, or -EINVAL after reporting (-ENOMEM
 * sets ctx->oom). */
int tp_mstruct_decode(struct tp_cfg_ctx *ctx, const struct tp_ynode *node, struct tp_mstruct *out);
void tp_mstruct_free(struct tp_mstruct *s);
/* dst = base with over's fields put over it (over's values win): Envoy's mergeMatchCriteria. */
int tp_mstruct_merge(struct tp_mstruct *dst, const struct tp_mstruct *base,
		     const struct tp_mstruct *over);
const struct tp_mfield *tp_mstruct_get(const struct tp_mstruct *s, const char *key);

/* Encoders for values made at run time: the bytes written into buf, or 0 when cap is short. */
size_t tp_mvalue_put_string(uint8_t *buf, size_t cap, const char *s, size_t len);
size_t tp_mvalue_put_number(uint8_t *buf, size_t cap, double d);
size_t tp_mvalue_put_bool(uint8_t *buf, size_t cap, bool b);

/* The items of a list value, pointing into v, at most max of them: how many there are (0 when v
 * is not a list). */
uint32_t tp_mvalue_list(const struct tp_mvalue *v, struct tp_mvalue *items, uint32_t max);
/* v as JSON text, for logs and messages: what was written into buf (cut to cap - 1, NUL-ended). */
size_t tp_mvalue_format(const struct tp_mvalue *v, char *buf, size_t cap);

/* Decoders for schema rows (TP_CFG_CUSTOM), each writing at obj + f->off:
 * - envoy.config.core.v3.Metadata into a struct tp_mstruct: filter_metadata["envoy.lb"] (every
 *   namespace must be a Struct; typed_filter_metadata is accepted and not used);
 * - google.protobuf.Struct into a struct tp_mstruct;
 * - repeated string into a struct tp_strset (sorted, each once). */
int tp_cfg_decode_lb_metadata(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			      const struct tp_ynode *v, void *obj);
int tp_cfg_decode_struct(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			 const struct tp_ynode *v, void *obj);
void tp_cfg_free_mstruct(const struct tp_cfg_field *f, void *obj);
int tp_cfg_decode_strset(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
			 const struct tp_ynode *v, void *obj);
void tp_cfg_free_strset(const struct tp_cfg_field *f, void *obj);
bool tp_strset_has(const struct tp_strset *s, const char *key);

#endif

/* Types of the row-driven config decoder: one table of rows per Envoy message. */
#ifndef TP_CFG_SCHEMA_T_H
#define TP_CFG_SCHEMA_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config/config-t.h"

struct tp_ynode;
struct tp_cfg_ctx;
struct tp_cfg_field;

enum tp_cfg_type {
	TP_CFG_STRING,	   /* char *, strdup'ed */
	TP_CFG_BOOL,	   /* bool */
	TP_CFG_UINT32,	   /* uint32_t within [min, max] */
	TP_CFG_UINT32_OPT, /* google.protobuf.UInt32Value in an int64_t: -1 when not given */
	TP_CFG_INT64,	   /* int64_t within [min, max] */
	TP_CFG_DURATION,   /* int64_t ms within [min, max]: "5s" or {seconds: 5, nanos: 0} */
	TP_CFG_ENUM,	   /* a C enum (int), written by Envoy's name or number */
	TP_CFG_MESSAGE,	   /* nested message whose rows address the object at off (no allocation) */
	/* repeated message: array of sub->size at off, size_t count at count_off. A single mapping
	 * reads as a list of one, as protobuf's JSON parser Envoy uses reads it. */
	TP_CFG_REPEATED,
	TP_CFG_CUSTOM,	    /* decode() does the work: socket addresses, typed_config */
	TP_CFG_UNSUPPORTED, /* a field Envoy has and tcpproxy does not serve yet */
	TP_CFG_REMOVED,	    /* a field Envoy's v3 API dropped; hint names its replacement */
	TP_CFG_IGNORED,	    /* accepted with any value and not used: it has no meaning here */
};

enum tp_cfg_flags {
	TP_CFG_REQUIRED = 1 << 0, /* absent (or null) is an error at the enclosing mapping */
	TP_CFG_NONEMPTY = 1 << 1, /* TP_CFG_STRING: "" is an error (protobuf min_len: 1) */
};

/* One value of an Envoy enum. */
struct tp_cfg_enum {
	const char *name; /* NULL ends the table */
	int32_t number;	  /* the proto number, which protobuf JSON also accepts */
	int value;	  /* what the C field receives */
	bool unsupported; /* Envoy has it, tcpproxy does not serve it yet */
};

/* One field of a message: the row says everything the decoder needs. */
struct tp_cfg_field {
	const char *key; /* Envoy's snake_case name; lowerCamelCase is derived; NULL ends */
	enum tp_cfg_type type;
	unsigned flags;	  /* enum tp_cfg_flags */
	size_t off;	  /* offsetof the C field in the object */
	size_t count_off; /* TP_CFG_REPEATED: offsetof the size_t count */
	int64_t min, max; /* TP_CFG_UINT32(_OPT), TP_CFG_INT64, TP_CFG_DURATION (ms): inclusive */
	int64_t def;	  /* default of scalar types, stored before decoding */
	const struct tp_cfg_enum *enums; /* TP_CFG_ENUM */
	const struct tp_cfg_schema *sub; /* TP_CFG_MESSAGE, TP_CFG_REPEATED */
	/* TP_CFG_CUSTOM: reads value into obj; reports its own errors. Returns 0 or -EINVAL. */
	int (*decode)(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
		      const struct tp_ynode *value, void *obj);
	void (*free)(const struct tp_cfg_field *f, void *obj); /* TP_CFG_CUSTOM */
	/* Any type: an extra rule once the value is stored; reports its own error. */
	void (*check)(struct tp_cfg_ctx *ctx, const struct tp_cfg_field *f,
		      const struct tp_ynode *value, void *obj);
	/* TP_CFG_UNSUPPORTED: this scalar (Envoy's default, what tcpproxy does anyway) is accepted
	 * and ignored, e.g. enable_reuse_port: true. */
	const char *accept;
	const char *hint; /* TP_CFG_UNSUPPORTED, TP_CFG_REMOVED: appended to the reason */
	size_t mark_off;  /* TP_CFG_MARK(type, field): records where the value stood; 0: none */
	/* The proto oneof the field belongs to: a TP_CFG_REQUIRED member is not missing when
	 * another member of the same oneof is given (one tcpproxy does not serve, say, which
	 * reports its own error). */
	const char *oneof;
};

/* Offsets are stored plus one so that 0 can mean "no mark". */
#define TP_CFG_MARK(type, field) (offsetof(type, field) + 1)

/* One Envoy message. */
struct tp_cfg_schema {
	const char *name; /* the Envoy message, for comments and debugging */
	size_t size;	  /* sizeof the C object, for TP_CFG_REPEATED arrays */
	const struct tp_cfg_field *fields;
	size_t mark_off; /* TP_CFG_MARK of the object's own position, 0: none */
	bool any;	 /* the body of a typed_config: its "@type" key belongs to it */
	/* Rules across fields (oneofs, defaults that depend on others) once all rows are read.
	 * map is the node decoded: a mapping, a null scalar, or NULL. */
	void (*post)(struct tp_cfg_ctx *ctx, const struct tp_ynode *map, void *obj);
};

/* Decoding state: where errors go and the dotted path of the value being read. */
struct tp_cfg_ctx {
	const char *file;
	struct tp_cfg_errors *errs;
	size_t n_errors; /* errors this load reported, even those lost to ENOMEM */
	bool oom;
	size_t path_len;
	char path[512];
	/* The mapping whose fields are being decoded: a custom decoder may look at its siblings
	 * (a cluster's load_assignment reads the cluster's type). */
	const struct tp_ynode *map;
	/* Endpoint addresses may be host names (a DNS cluster's load_assignment). */
	bool names_ok;
	bool in_cluster; /* a cluster's load_assignment: errors say how to name hosts */
	bool lds;	 /* listeners of an LDS response (resources[i]), not of a bootstrap */
};

#endif

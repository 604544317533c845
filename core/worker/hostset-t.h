/* The host-set channel between the master and each worker: one SOCK_SEQPACKET socketpair per
 * worker, made when the worker is forked. The master sends a cluster's whole host set with a
 * version (TP_HS_SET) and, once the generation's first sets are out, TP_HS_READY (the worker
 * accepts only then). A worker sends reports back (TP_HS_REPORT: connect outcomes per host),
 * which the master reads as untrusted input. Both ends run on one machine and one build, so the
 * structures go in host byte order. */
#ifndef TP_HOSTSET_T_H
#define TP_HOSTSET_T_H

#include <stdint.h>

#define TP_HS_MAGIC 0x54504853u /* "TPHS" */

enum tp_hs_type {
	TP_HS_SET = 1,
	TP_HS_READY = 2,
	TP_HS_REPORT = 3,
	TP_HS_CDS = 4, /* the CDS clusters: a sealed memfd (SCM_RIGHTS) holding a tp_cds_blob */
	/* worker → master: which CDS sets the worker may still write stats for (tp_hs_cds_low) */
	TP_HS_CDS_LOW = 5,
};

/* TP_HS_CDS_LOW's body. The worker applied set `applied`; `low` is the oldest set a cluster it
 * still holds for live connections (replaced or removed since) came from, UINT64_MAX if none.
 * Scopes registered only for sets older than both can no longer be written by this worker
 * (core/master/cds.c releases them). */
struct tp_hs_cds_low {
	uint64_t applied;
	uint64_t low;
};

/* A cluster's host set is at most this many hosts (a message of 80 KiB, which fits the socket
 * buffer of a SOCK_SEQPACKET pair); the master keeps the first ones and logs the rest. */
#define TP_HS_MAX_HOSTS 2048
/* One name's answer is cut to this many addresses. */
#define TP_HS_MAX_HOSTS_PER_NAME 256
/* A message passes at most this many descriptors (LDS: a listen socket, its text, its
 * connection_limit counters). */
#define TP_HS_MAX_FDS 3
/* A worker's report carries at most this many host entries. */
#define TP_HS_MAX_REPORTS 256

/* A cluster of a TP_HS_SET or a report: a static cluster's index, or, with this bit, a cluster
 * from CDS by its definition's id (the low 31 bits of tp_cds_blob_cluster.version): a set
 * for a definition the worker has replaced finds no cluster, and the two spaces never meet. */
#define TP_HS_CDS_BIT	      0x80000000u
#define TP_HS_CDS_ID(version) (TP_HS_CDS_BIT | (uint32_t)((version)&0x7fffffffu))

struct tp_hs_head {
	uint32_t magic;
	uint16_t type; /* enum tp_hs_type */
	uint16_t reserved;
	uint32_t cluster; /* TP_HS_SET: a static cluster's index, or TP_HS_CDS_ID() */
	uint32_t n;	  /* struct tp_hs_host (SET) or struct tp_hs_report (REPORT) that follow */
	uint64_t version; /* of the set: increases with each change the master makes */
};

struct tp_hs_host {
	uint64_t id;	     /* stable while the host stays in the set */
	uint32_t ep;	     /* the configured endpoint it comes from */
	uint32_t health;     /* TP_HOST_F_* (core/worker/lb-t.h) */
	uint32_t stats_base; /* its host.<cluster>::<address> scope */
	uint16_t family;     /* AF_INET or AF_INET6 */
	uint16_t port;	     /* host order */
	uint8_t addr[16];
};

/* Connect outcomes of one host since the last report (outlier detection's input), as much of
 * their order as consecutive counts need: lead failures, a success, the longest run of failures
 * between two successes (mid), a success, then failure failures; and how many failed in all.
 * Each count is at most TP_HS_MAX_REPORT_COUNT; lead and mid are 0 when success is. */
struct tp_hs_report {
	uint64_t host;	   /* its id */
	uint32_t cluster;  /* as tp_hs_head.cluster */
	uint32_t success;  /* connects that succeeded */
	uint32_t failure;  /* failures (refused, reset, timed out) after the last success */
	uint32_t lead;	   /* failures before the first success */
	uint32_t mid;	   /* the longest run of failures between two successes */
	uint32_t failures; /* all of them (the success-rate detectors' volume) */
};

#define TP_HS_MAX_REPORT_COUNT (1u << 20)

/* TP_HS_CDS's memfd, sealed by the master: the head, the clusters, the host rows, the
 * resource text the master validated (the worker decodes it again with the same loader; the
 * clusters and host rows are in its resources' order), then the files the master read while it
 * decoded it (certificates, keys: the worker reads these bytes, never the files), each a
 * struct tp_cds_blob_file (unaligned: copied out before use), its path and its bytes. */
#define TP_CDS_MAGIC 0x54504344u /* "TPCD" */

struct tp_cds_blob {
	uint32_t magic;
	uint32_t n_clusters;
	uint64_t version; /* of the whole set: increases with each update the master applies */
	uint64_t text_len;
	uint32_t n_host_rows;
	uint32_t n_files;
	uint64_t files_len;
};

struct tp_cds_blob_file {
	uint32_t path_len;
	uint32_t reserved;
	uint64_t len;
};

struct tp_cds_blob_cluster {
	uint64_t version;    /* of this cluster's definition: a new one replaces it */
	uint32_t stats_base; /* cluster.<name> */
	uint32_t cb_base;    /* cluster.<name>.circuit_breakers.default */
	uint32_t first_host; /* its endpoints' host.<name>::<address> rows start here */
	uint32_t n_hosts;    /* = its endpoints */
	uint32_t cb_slot;    /* its breaker: index into the generation's TP_CDS_MAX_BREAKERS */
	uint32_t cb_remaining_base;	 /* circuit_breakers.default.remaining_* */
	uint32_t cb_high_base;		 /* circuit_breakers.high.*_open */
	uint32_t cb_high_remaining_base; /* circuit_breakers.high.remaining_* */
	uint32_t transport_base;	 /* its transport's stats (TLS: cluster.<name>.ssl.*) */
	uint32_t reserved;
};

#define TP_HS_MSG_MAX (sizeof(struct tp_hs_head) + TP_HS_MAX_HOSTS * sizeof(struct tp_hs_host))

#endif

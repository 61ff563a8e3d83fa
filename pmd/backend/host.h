/* SPDX-License-Identifier: MIT */
/*
 * The host end (CID 2) of virtio-vsock streams, as the kernel's host side
 * behaves: REQUEST is answered with RESPONSE or RST, RW is consumed and its
 * credit returned with CREDIT_UPDATE by the receiver's rule, CREDIT_REQUEST
 * is answered, SHUTDOWN and RST work both ways. It also asserts the driver's
 * side of the credit contract: a byte beyond what we advertised is a
 * violation, counted and dropped as the kernel drops it.
 *
 * It knows nothing of vhost: packets come in as a header plus a validated
 * chain and go out through host_tx_ops.
 */
#ifndef VB_HOST_H
#define VB_HOST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/queue.h>

#include "hist.h"
#include "pkt.h"

enum host_mode { HOST_SINK, HOST_ECHO };

struct host_cfg {
	enum host_mode mode;
	uint64_t guest_cid;     /* the only source CID accepted */
	uint32_t listen_port;   /* 0: every port listens */
	uint32_t buf_alloc;     /* our receive buffer per connection */
	uint32_t max_conns;
	bool verify;            /* payload must follow vb_pattern_byte() */
	uint32_t close_timeout_ms; /* after our SHUTDOWN on close, RST if the peer stays */
	uint32_t ctl_port;      /* 0: off; else a vsock port taking control lines from the guest */
	uint32_t msg_size;      /* 0: off; else every msg_size bytes of a stream start with a probe */
	uint64_t stamp_hz;      /* probe tx_stamp ticks per second (TSC); 0: stamps are ns */
	bool no_checksum;       /* payload is counted, not read: no crc32c (benchmarks) */
};

/* Runs one control line, writing the reply (no newline) to reply. */
typedef void (*host_ctl_fn)(void *arg, const char *line, FILE *reply);

/* Payload pattern of --verify: byte i of a stream. */
static inline uint8_t vb_pattern_byte(uint64_t i)
{
	return (uint8_t)(i ^ (i >> 8) ^ (i >> 16) ^ (i >> 24));
}

/* What a connection still has to tell the driver. */
#define CONN_TX_RESPONSE  (1u << 0)
#define CONN_TX_CREDIT    (1u << 1)
#define CONN_TX_SHUTDOWN  (1u << 2)
#define CONN_TX_RST       (1u << 3)
#define CONN_TX_CREDIT_REQ (1u << 4)

enum conn_state { CONN_ESTABLISHED, CONN_CLOSING };

struct conn {
	LIST_ENTRY(conn) hash;
	TAILQ_ENTRY(conn) all;
	TAILQ_ENTRY(conn) dirty;
	bool on_dirty;

	uint64_t id;              /* accept order from 0 ("conn K" in commands); control conns: ~0 */
	uint64_t peer_cid;
	uint32_t peer_port;       /* the guest's port */
	uint32_t local_port;      /* ours, the guest's dst_port */
	enum conn_state state;
	bool is_ctl;              /* a control connection: lines in, replies out */
	uint32_t line_len;
	char line[256];
	uint32_t peer_shutdown;   /* SHUTDOWN flags the driver sent */
	uint32_t local_shutdown;  /* SHUTDOWN flags we sent */
	uint32_t shutdown_pending;/* flags still to send */
	uint32_t tx_pending;      /* CONN_TX_* */
	uint64_t close_deadline_ms;

	struct vsock_credit cr;   /* shared credit counters; cr.rx_bytes = received, unread */
	uint32_t rx_cnt;          /* payload bytes accepted, free-running */
	uint32_t credit_end;      /* rx_cnt may not pass this: max advertised fwd_cnt + buf_alloc */

	uint64_t rx_total;
	uint64_t tx_total;
	uint32_t crc;             /* CRC32C of the accepted byte stream, seed ~0, no final xor */
	uint64_t verify_errors;
	uint64_t first_verify_error; /* stream offset, valid when verify_errors */
	uint64_t credit_violations;
	uint64_t to_read;         /* "read N" budget while reading is stopped */
	uint64_t to_send;         /* "send N": our own bytes still to go, within the driver's credit */
	uint32_t msg_off;         /* --msg-size: offset of the next byte in its message */
	uint8_t probe[16];        /* the probe of the current message, as its bytes arrive */
	uint64_t msg_seq;         /* messages whose probe was read: the seq the next must carry */

	/* echo: bytes received, not yet sent back (control: replies not yet sent) */
	uint8_t *echo_buf;
	uint32_t echo_cap, echo_head, echo_len;
};

/* A closed connection's numbers, kept for "stats" after the fact. */
struct conn_record {
	uint64_t id;
	uint64_t peer_cid;
	uint32_t peer_port, local_port;
	uint64_t rx_total, tx_total, verify_errors, credit_violations;
	uint32_t crc;
	char how[16];             /* "peer_rst", "rst_sent", "closed", "reset" */
};

#define HOST_HASH_BUCKETS 256
#define HOST_HISTORY 64
#define HOST_ORPHAN_RST 64

struct host_counters {
	uint64_t rx_pkts, tx_pkts, rx_bytes, tx_bytes;
	uint64_t conns_accepted, conns_refused, conns_closed;
	uint64_t credit_violations;
	uint64_t verify_errors;
	uint64_t bad_src_cid, bad_dst_cid, proto_errors;
	uint64_t bad_hdr[VB_PKT__MAX];
	uint64_t rst_sent, rst_received, orphan_rst_dropped;
	uint64_t resets;          /* device stopped or frontend gone: state dropped */
	uint64_t credit_requests_sent, credit_updates_received;
	uint64_t transport_resets_sent;  /* "transport-reset": events posted */
};

/* One-way latency of the messages a --msg-size sink reads probes from (host_probe.c). */
struct host_probe {
	uint64_t mult;            /* stamp ticks to ns, 32.32 fixed point */
	uint64_t messages;        /* probes read */
	uint64_t unstamped;       /* tx_stamp 0: the sender's warm-up */
	uint64_t bad_stamps;      /* from the future: another clock, or garbage */
	uint64_t seq_errors;      /* seq not the message's index on its connection */
	struct sp_hist lat;       /* ns */
};

struct host {
	struct host_cfg cfg;
	uint64_t now_stamp;       /* the clock of tx_stamp, read by the poller once per burst */
	struct host_probe probe;
	bool refuse;              /* answer REQUEST with RST */
	bool reading;             /* consume what arrives (false after "stop-reading") */
	uint32_t nconns;          /* control connections included */
	uint32_t nctl;
	host_ctl_fn ctl_fn;       /* what a control connection's lines run; host_ctl when NULL */
	void *ctl_arg;
	struct conn *last;        /* the connection of the last packet: a stream comes in runs */
	LIST_HEAD(, conn) buckets[HOST_HASH_BUCKETS];
	TAILQ_HEAD(, conn) conns;
	TAILQ_HEAD(, conn) dirty;
	struct vsock_hdr orphan[HOST_ORPHAN_RST]; /* RSTs owed to packets without a connection */
	uint32_t orphan_head, orphan_len;
	struct conn_record history[HOST_HISTORY];
	uint32_t history_len;
	uint64_t now_ms;
	struct host_counters n;
};

/* Writable driver buffers for what the host sends. */
struct host_tx_ops {
	/* Next rx chain, or NULL when the driver has none posted. */
	const struct vb_chain *(*get)(void *ctx);
	/* Returns the chain with written bytes in it. */
	void (*put)(void *ctx, const struct vb_chain *c, uint32_t written);
	void *ctx;
};

void host_init(struct host *h, const struct host_cfg *cfg);
void host_fini(struct host *h);

/* One packet from the driver, header already checked; payload follows the header in c. */
void host_recv(struct host *h, const struct vsock_hdr *hdr, const struct vb_chain *c);
/* A packet refused by vb_pkt_parse: counted, answered with RST when it names a connection. */
void host_recv_bad(struct host *h, const struct vsock_hdr *hdr, enum vb_pkt_fault f);

bool host_has_output(const struct host *h);
/* Writes pending packets into driver buffers; returns how many. */
unsigned int host_output(struct host *h, const struct host_tx_ops *ops);
/* Close timeouts; now in milliseconds of any monotonic clock. */
void host_tick(struct host *h, uint64_t now_ms);
/* The frontend went away: every connection is gone with it. */
void host_reset(struct host *h);

/* host_ctl.c: the scripted peer's commands and the statistics. */
/* Runs one control line; writes a one-line reply (no newline) into reply. */
void host_ctl(struct host *h, const char *line, char *reply, size_t len);
/* The statistics as JSON members ("k":v,...), for the caller to wrap in braces. */
void host_stats_fields(const struct host *h, FILE *f);
/* 0 clean, 3 credit violations, 4 payload verify errors. */
int host_exit_code(const struct host *h);

/* Helpers host.c shares with host_tx.c and host_ctl.c. */
void host_conn_mark(struct host *h, struct conn *c, uint32_t what);
void host_conn_consume(struct host *h, struct conn *c, uint64_t n);
void host_conn_close(struct host *h, struct conn *c);
int host_conn_set_buf_alloc(struct host *h, struct conn *c, uint32_t buf_alloc);
void host_conn_free(struct host *h, struct conn *c, const char *how);
/* The peer will send nothing more and nothing is unread: EOF, so close (or RST). */
void host_conn_check_eof(struct host *h, struct conn *c);
/* host_probe.c: the stamps at each message start of a --msg-size sink. */
void host_probe_init(struct host *h);
void host_probe_rx(struct host *h, struct conn *c, const uint8_t *p, uint32_t n);
void host_probe_stats(const struct host *h, FILE *f);
/* host_ctl.c: a control connection's payload, command lines. */
void host_ctl_rx(struct host *h, struct conn *c, const struct vb_chain *ch, uint32_t len);

#endif

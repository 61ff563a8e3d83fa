/* SPDX-License-Identifier: MIT */
/*
 * The virtio-vsock protocol core shared by the driver side (stack/) and the
 * device side (the vhost-user backend), as the kernel shares
 * virtio_transport_common.c between guest, host and loopback.
 * Wire format and rules: virtio spec 1.2 §5.10 "Socket Device".
 */
#ifndef SP_VSOCK_PROTO_H
#define SP_VSOCK_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VIRTIO_ID_VSOCK 19
#define VSOCK_HOST_CID 2
#define VSOCK_ANY_CID 0xffffffffu

/* Largest RW payload one packet carries (the kernel's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE). */
#define VSOCK_MAX_PKT_PAYLOAD (64u * 1024)
/* Default receive buffer a socket advertises (the kernel's VSOCK_DEFAULT_BUFFER_SIZE). */
#define VSOCK_DEFAULT_BUF_ALLOC (256u * 1024)

enum vsock_type {
	VSOCK_TYPE_STREAM = 1,
	VSOCK_TYPE_SEQPACKET = 2,
};

enum vsock_op {
	VSOCK_OP_INVALID = 0,
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};

/* SHUTDOWN flags. */
#define VSOCK_SHUTDOWN_RCV 1u
#define VSOCK_SHUTDOWN_SEND 2u

/* Event queue: the only event the spec defines. */
#define VSOCK_EVENT_TRANSPORT_RESET 0

/* The 44-byte header in front of every packet, little-endian on the wire. */
struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));

_Static_assert(sizeof(struct vsock_hdr) == 44, "virtio_vsock_hdr is 44 bytes");

struct vsock_event {
	uint32_t id;
} __attribute__((packed));

/* Host-order header <-> wire (little-endian). Both are no-ops on x86 but keep the contract visible. */
void vsock_hdr_encode(void *wire, const struct vsock_hdr *h);
void vsock_hdr_decode(struct vsock_hdr *h, const void *wire);

/* Why a received header is refused; 0 when it is acceptable. */
enum vsock_hdr_fault {
	VSOCK_HDR_OK = 0,
	VSOCK_HDR_BAD_OP,
	VSOCK_HDR_BAD_TYPE,
	VSOCK_HDR_LEN_MISMATCH,   /* len disagrees with the bytes that follow */
	VSOCK_HDR_LEN_TOO_BIG,    /* len above VSOCK_MAX_PKT_PAYLOAD */
	VSOCK_HDR_PAYLOAD_ON_CTRL,/* a control op carrying payload */
	VSOCK_HDR_BAD_FLAGS,
};
/* Checks a decoded header against the number of payload bytes that came with it. */
enum vsock_hdr_fault vsock_hdr_check(const struct vsock_hdr *h, size_t payload_len);
const char *vsock_op_name(uint16_t op);

/*
 * Credit, the spec's rule: a sender may have at most peer_buf_alloc bytes
 * unacknowledged: peer_free = peer_buf_alloc - (tx_cnt - peer_fwd_cnt), all
 * counters free-running u32 so the subtraction is wrap-safe.
 */
struct vsock_credit {
	uint32_t tx_cnt;          /* payload bytes we sent */
	uint32_t peer_fwd_cnt;    /* payload bytes the peer has consumed (its fwd_cnt) */
	uint32_t peer_buf_alloc;  /* the peer's receive buffer */
	uint32_t fwd_cnt;         /* payload bytes we consumed from the peer */
	uint32_t last_fwd_cnt;    /* fwd_cnt last advertised to the peer */
	uint32_t buf_alloc;       /* our receive buffer */
	uint32_t rx_bytes;        /* received, not yet consumed */
};

static inline uint32_t vsock_peer_free(const struct vsock_credit *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	/* A peer that shrinks buf_alloc below what is in flight leaves no credit, not 4 GiB. */
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* Takes up to want bytes of credit; returns how many may be sent now. */
static inline uint32_t vsock_credit_take(struct vsock_credit *c, uint32_t want)
{
	uint32_t free_ = vsock_peer_free(c);
	uint32_t n = want < free_ ? want : free_;

	c->tx_cnt += n;
	return n;
}

/* Gives back credit taken but not sent (a packet that could not be queued). */
static inline void vsock_credit_return(struct vsock_credit *c, uint32_t n)
{
	c->tx_cnt -= n;
}

/* Every received header updates what we know of the peer's buffer. */
static inline void vsock_credit_update_from(struct vsock_credit *c, const struct vsock_hdr *h)
{
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
}

/*
 * The receiver's side of the kernel's rule (virtio_transport_stream_do_dequeue):
 * after consuming, send a CREDIT_UPDATE once the bytes consumed since the last
 * advertisement leave less than one maximal packet of the buffer unannounced.
 */
static inline bool vsock_credit_update_due(const struct vsock_credit *c)
{
	uint32_t unannounced = c->fwd_cnt - c->last_fwd_cnt;

	return unannounced && c->buf_alloc - unannounced < VSOCK_MAX_PKT_PAYLOAD;
}

#endif

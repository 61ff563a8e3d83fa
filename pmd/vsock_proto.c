/* SPDX-License-Identifier: MIT */
/*
 * Header encode/decode/check, shared by the driver and the backend. The
 * checks are those a receiver must make before believing a header that came
 * from shared memory: known op and type, len matching the bytes that came
 * with it and below the largest packet, no payload on control ops.
 */
#include <endian.h>
#include <string.h>

#include "vsock_proto.h"

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* Host order is wire order: one copy, the path every packet takes. */
void vsock_hdr_encode(void *wire, const struct vsock_hdr *h)
{
	memcpy(wire, h, sizeof(*h));
}

void vsock_hdr_decode(struct vsock_hdr *h, const void *wire)
{
	/* one copy out of shared memory: the device cannot change it under our checks */
	memcpy(h, wire, sizeof(*h));
}
#else
void vsock_hdr_encode(void *wire, const struct vsock_hdr *h)
{
	struct vsock_hdr w;

	w.src_cid = htole64(h->src_cid);
	w.dst_cid = htole64(h->dst_cid);
	w.src_port = htole32(h->src_port);
	w.dst_port = htole32(h->dst_port);
	w.len = htole32(h->len);
	w.type = htole16(h->type);
	w.op = htole16(h->op);
	w.flags = htole32(h->flags);
	w.buf_alloc = htole32(h->buf_alloc);
	w.fwd_cnt = htole32(h->fwd_cnt);
	memcpy(wire, &w, sizeof(w));
}

void vsock_hdr_decode(struct vsock_hdr *h, const void *wire)
{
	struct vsock_hdr w;

	memcpy(&w, wire, sizeof(w));
	h->src_cid = le64toh(w.src_cid);
	h->dst_cid = le64toh(w.dst_cid);
	h->src_port = le32toh(w.src_port);
	h->dst_port = le32toh(w.dst_port);
	h->len = le32toh(w.len);
	h->type = le16toh(w.type);
	h->op = le16toh(w.op);
	h->flags = le32toh(w.flags);
	h->buf_alloc = le32toh(w.buf_alloc);
	h->fwd_cnt = le32toh(w.fwd_cnt);
}
#endif

enum vsock_hdr_fault vsock_hdr_check(const struct vsock_hdr *h, size_t payload_len)
{
	if (h->op == VSOCK_OP_INVALID || h->op > VSOCK_OP_CREDIT_REQUEST)
		return VSOCK_HDR_BAD_OP;
	if (h->type != VSOCK_TYPE_STREAM && h->type != VSOCK_TYPE_SEQPACKET)
		return VSOCK_HDR_BAD_TYPE;
	if (h->len > VSOCK_MAX_PKT_PAYLOAD)
		return VSOCK_HDR_LEN_TOO_BIG;
	if (h->op != VSOCK_OP_RW && h->len != 0)
		return VSOCK_HDR_PAYLOAD_ON_CTRL;
	if (h->len != payload_len)
		return VSOCK_HDR_LEN_MISMATCH;
	/* SHUTDOWN carries RCV|SEND; RW may carry SEQPACKET's EOM/EOR bits; others none */
	if (h->op == VSOCK_OP_SHUTDOWN && (h->flags & ~(VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)))
		return VSOCK_HDR_BAD_FLAGS;
	if (h->op == VSOCK_OP_RW && (h->flags & ~3u))
		return VSOCK_HDR_BAD_FLAGS;
	return VSOCK_HDR_OK;
}

const char *vsock_op_name(uint16_t op)
{
	static const char *const names[] = {
		[VSOCK_OP_INVALID] = "INVALID",
		[VSOCK_OP_REQUEST] = "REQUEST",
		[VSOCK_OP_RESPONSE] = "RESPONSE",
		[VSOCK_OP_RST] = "RST",
		[VSOCK_OP_SHUTDOWN] = "SHUTDOWN",
		[VSOCK_OP_RW] = "RW",
		[VSOCK_OP_CREDIT_UPDATE] = "CREDIT_UPDATE",
		[VSOCK_OP_CREDIT_REQUEST] = "CREDIT_REQUEST",
	};

	return op < sizeof(names) / sizeof(names[0]) ? names[op] : "UNKNOWN";
}

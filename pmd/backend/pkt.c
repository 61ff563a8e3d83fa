/* SPDX-License-Identifier: MIT */
#include "pkt.h"

static const char *const names[VB_PKT__MAX] = {
	[VB_PKT_OK] = "ok",
	[VB_PKT_SHORT] = "short",
	[VB_PKT_BAD_OP] = "bad_op",
	[VB_PKT_BAD_TYPE] = "bad_type",
	[VB_PKT_LEN_MISMATCH] = "len_mismatch",
	[VB_PKT_LEN_TOO_BIG] = "len_too_big",
	[VB_PKT_PAYLOAD_ON_CTRL] = "payload_on_ctrl",
	[VB_PKT_BAD_FLAGS] = "bad_flags",
};

const char *vb_pkt_fault_name(enum vb_pkt_fault f)
{
	return (unsigned int)f < VB_PKT__MAX ? names[f] : "unknown";
}

enum vb_pkt_fault vb_pkt_parse(const struct vb_chain *c, struct vsock_hdr *h)
{
	uint8_t wire[sizeof(struct vsock_hdr)];
	uint32_t payload;

	if (c->len < sizeof(wire))
		return VB_PKT_SHORT;
	/* The header is read once either way: in place when one buffer holds it, else gathered. */
	if (c->seg[0].len >= sizeof(wire))
		vsock_hdr_decode(h, c->seg[0].base);
	else if (vb_chain_read(c, 0, wire, sizeof(wire)) == sizeof(wire))
		vsock_hdr_decode(h, wire);
	else
		return VB_PKT_SHORT;
	payload = c->len - sizeof(wire);

	/* SEQPACKET is not offered, so only streams may come. */
	if (h->type != VSOCK_TYPE_STREAM && h->op >= VSOCK_OP_REQUEST && h->op <= VSOCK_OP_CREDIT_REQUEST)
		return VB_PKT_BAD_TYPE;
	/* Like the kernel's vhost: a buffer may be longer than len, never shorter. */
	switch (vsock_hdr_check(h, h->len <= payload ? h->len : payload)) {
	case VSOCK_HDR_OK:
		return VB_PKT_OK;
	case VSOCK_HDR_BAD_OP:
		return VB_PKT_BAD_OP;
	case VSOCK_HDR_BAD_TYPE:
		return VB_PKT_BAD_TYPE;
	case VSOCK_HDR_LEN_MISMATCH:
		return VB_PKT_LEN_MISMATCH;
	case VSOCK_HDR_LEN_TOO_BIG:
		return VB_PKT_LEN_TOO_BIG;
	case VSOCK_HDR_PAYLOAD_ON_CTRL:
		return VB_PKT_PAYLOAD_ON_CTRL;
	case VSOCK_HDR_BAD_FLAGS:
	default:
		return VB_PKT_BAD_FLAGS;
	}
}

uint32_t vb_pkt_put_hdr(const struct vb_chain *c, const struct vsock_hdr *h)
{
	uint8_t wire[sizeof(struct vsock_hdr)];

	if (c->len < sizeof(wire))
		return 0;
	vsock_hdr_encode(wire, h);
	return vb_chain_write(c, 0, wire, sizeof(wire));
}

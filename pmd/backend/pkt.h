/* SPDX-License-Identifier: MIT */
/*
 * A vsock packet in a descriptor chain: the 44-byte header first, payload
 * after it. Parsing refuses what a device must not follow: a chain shorter
 * than the header, an unknown op or type, a len that disagrees with the
 * buffer, payload on a control op.
 */
#ifndef VB_PKT_H
#define VB_PKT_H

#include "vq.h"
#include "vsock_proto.h"

enum vb_pkt_fault {
	VB_PKT_OK = 0,
	VB_PKT_SHORT,            /* chain shorter than the header */
	VB_PKT_BAD_OP,
	VB_PKT_BAD_TYPE,
	VB_PKT_LEN_MISMATCH,     /* len larger than the bytes that follow */
	VB_PKT_LEN_TOO_BIG,      /* len above VSOCK_MAX_PKT_PAYLOAD */
	VB_PKT_PAYLOAD_ON_CTRL,  /* a control op with len != 0 */
	VB_PKT_BAD_FLAGS,
	VB_PKT__MAX
};

const char *vb_pkt_fault_name(enum vb_pkt_fault f);

/* Decodes the header of a device-readable chain; payload starts at sizeof(struct vsock_hdr). */
enum vb_pkt_fault vb_pkt_parse(const struct vb_chain *c, struct vsock_hdr *h);

/* Writes header h into a device-writable chain; returns bytes written (44) or 0 if too small. */
uint32_t vb_pkt_put_hdr(const struct vb_chain *c, const struct vsock_hdr *h);

#endif

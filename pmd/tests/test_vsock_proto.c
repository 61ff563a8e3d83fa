/* SPDX-License-Identifier: MIT */
/* The shared vsock protocol core: wire format, header checks, credit arithmetic. */
#include <string.h>

#include <criterion/criterion.h>

#include "vsock_proto.h"

static struct vsock_hdr rw(uint32_t len)
{
	return (struct vsock_hdr){
		.src_cid = 3, .dst_cid = VSOCK_HOST_CID, .src_port = 1024, .dst_port = 5000,
		.len = len, .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_RW,
		.buf_alloc = VSOCK_DEFAULT_BUF_ALLOC, .fwd_cnt = 7,
	};
}

Test(vsock_proto, encode_is_little_endian_at_spec_offsets)
{
	struct vsock_hdr h = {
		.src_cid = 0x0102030405060708ull, .dst_cid = 2, .src_port = 0xa1a2a3a4,
		.dst_port = 0xb1b2b3b4, .len = 0x10, .type = 1, .op = 5, .flags = 0xc1c2c3c4,
		.buf_alloc = 0xd1d2d3d4, .fwd_cnt = 0xe1e2e3e4,
	};
	uint8_t w[44];

	vsock_hdr_encode(w, &h);
	cr_assert_eq(w[0], 0x08);  /* src_cid low byte first */
	cr_assert_eq(w[7], 0x01);
	cr_assert_eq(w[8], 2);     /* dst_cid at 8 */
	cr_assert_eq(w[16], 0xa4); /* src_port at 16 */
	cr_assert_eq(w[20], 0xb4); /* dst_port at 20 */
	cr_assert_eq(w[24], 0x10); /* len at 24 */
	cr_assert_eq(w[28], 1);    /* type at 28 */
	cr_assert_eq(w[30], 5);    /* op at 30 */
	cr_assert_eq(w[32], 0xc4); /* flags at 32 */
	cr_assert_eq(w[36], 0xd4); /* buf_alloc at 36 */
	cr_assert_eq(w[40], 0xe4); /* fwd_cnt at 40 */
}

Test(vsock_proto, decode_inverts_encode)
{
	struct vsock_hdr h = rw(1234), back;
	uint8_t w[44 + 3];

	vsock_hdr_encode(w + 3, &h); /* unaligned on purpose */
	vsock_hdr_decode(&back, w + 3);
	cr_assert_eq(memcmp(&h, &back, sizeof(h)), 0);
}

Test(vsock_proto, check_accepts_good_headers)
{
	struct vsock_hdr h = rw(100);

	cr_assert_eq(vsock_hdr_check(&h, 100), VSOCK_HDR_OK);
	h = rw(VSOCK_MAX_PKT_PAYLOAD);
	cr_assert_eq(vsock_hdr_check(&h, VSOCK_MAX_PKT_PAYLOAD), VSOCK_HDR_OK);
	h = rw(0);
	h.op = VSOCK_OP_SHUTDOWN;
	h.flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
	cr_assert_eq(vsock_hdr_check(&h, 0), VSOCK_HDR_OK);
	for (uint16_t op = VSOCK_OP_REQUEST; op <= VSOCK_OP_CREDIT_REQUEST; op++) {
		h = rw(0);
		h.op = op;
		cr_assert_eq(vsock_hdr_check(&h, 0), VSOCK_HDR_OK, "op %s", vsock_op_name(op));
	}
}

Test(vsock_proto, check_refuses_hostile_headers)
{
	struct vsock_hdr h;

	h = rw(0);
	h.op = VSOCK_OP_INVALID;
	cr_assert_eq(vsock_hdr_check(&h, 0), VSOCK_HDR_BAD_OP);
	h.op = 8;
	cr_assert_eq(vsock_hdr_check(&h, 0), VSOCK_HDR_BAD_OP);
	h.op = 0xffff;
	cr_assert_eq(vsock_hdr_check(&h, 0), VSOCK_HDR_BAD_OP);

	h = rw(0);
	h.type = 0;
	cr_assert_eq(vsock_hdr_check(&h, 0), VSOCK_HDR_BAD_TYPE);
	h.type = 3;
	cr_assert_eq(vsock_hdr_check(&h, 0), VSOCK_HDR_BAD_TYPE);

	/* len claims more (or fewer) bytes than arrived */
	h = rw(4096);
	cr_assert_eq(vsock_hdr_check(&h, 100), VSOCK_HDR_LEN_MISMATCH);
	h = rw(10);
	cr_assert_eq(vsock_hdr_check(&h, 4000), VSOCK_HDR_LEN_MISMATCH);
	h = rw(0xffffffff);
	cr_assert_eq(vsock_hdr_check(&h, 100), VSOCK_HDR_LEN_TOO_BIG);
	h = rw(VSOCK_MAX_PKT_PAYLOAD + 1);
	cr_assert_eq(vsock_hdr_check(&h, VSOCK_MAX_PKT_PAYLOAD + 1), VSOCK_HDR_LEN_TOO_BIG);

	/* control ops carry no payload */
	h = rw(16);
	h.op = VSOCK_OP_CREDIT_UPDATE;
	cr_assert_eq(vsock_hdr_check(&h, 16), VSOCK_HDR_PAYLOAD_ON_CTRL);
	h.op = VSOCK_OP_REQUEST;
	cr_assert_eq(vsock_hdr_check(&h, 16), VSOCK_HDR_PAYLOAD_ON_CTRL);

	h = rw(0);
	h.op = VSOCK_OP_SHUTDOWN;
	h.flags = 4;
	cr_assert_eq(vsock_hdr_check(&h, 0), VSOCK_HDR_BAD_FLAGS);
	h = rw(0);
	h.flags = 0x80000000u;
	cr_assert_eq(vsock_hdr_check(&h, 0), VSOCK_HDR_BAD_FLAGS);
}

Test(vsock_proto, op_names)
{
	cr_assert_str_eq(vsock_op_name(VSOCK_OP_RW), "RW");
	cr_assert_str_eq(vsock_op_name(VSOCK_OP_CREDIT_UPDATE), "CREDIT_UPDATE");
	cr_assert_str_eq(vsock_op_name(999), "UNKNOWN");
}

Test(vsock_proto, credit_wraps_and_never_goes_negative)
{
	struct vsock_credit c = { .peer_buf_alloc = 1000 };

	c.tx_cnt = 0xfffffff0u;
	c.peer_fwd_cnt = 0xfffffff0u;
	cr_assert_eq(vsock_peer_free(&c), 1000);
	cr_assert_eq(vsock_credit_take(&c, 600), 600);
	cr_assert_eq(c.tx_cnt, 0x248u); /* wrapped */
	cr_assert_eq(vsock_credit_take(&c, 600), 400);
	cr_assert_eq(vsock_credit_take(&c, 1), 0);
	/* peer consumed 500 across the wrap */
	c.peer_fwd_cnt += 500;
	cr_assert_eq(vsock_peer_free(&c), 500);
	/* a peer shrinking its buffer below what is in flight gives no credit, not 4 GiB */
	c.peer_buf_alloc = 100;
	cr_assert_eq(vsock_peer_free(&c), 0);
}

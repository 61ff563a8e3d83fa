/* SPDX-License-Identifier: MIT */
/*
 * The backend's descriptor validation against hostile chains, on a fake
 * memory table in this process: one region of real memory, guest addresses
 * offset from our own.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "pkt.h"
#include "vq.h"

#define GPA_BASE 0x100000ull
#define MEM_SIZE (256 * 1024)
#define RING 8

static uint8_t *mem_buf;
static struct vb_mem mem;
static struct vring_desc *desc;       /* descriptor table at GPA_BASE */

static uint64_t gpa(size_t off)
{
	return GPA_BASE + off;
}

static void setup(void)
{
	mem_buf = aligned_alloc(4096, MEM_SIZE);
	cr_assert(mem_buf);
	memset(mem_buf, 0, MEM_SIZE);
	mem.nregions = 1;
	mem.r[0] = (struct vb_mem_region){ .gpa = GPA_BASE, .size = MEM_SIZE, .hva = (uintptr_t)mem_buf };
	desc = (struct vring_desc *)mem_buf;
}

static void teardown(void)
{
	free(mem_buf);
}

static void set_desc(struct vring_desc *t, int i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	t[i] = (struct vring_desc){ .addr = addr, .len = len, .flags = flags, .next = next };
}

TestSuite(backend_vq, .init = setup, .fini = teardown);

Test(backend_vq, good_two_segment_chain)
{
	struct vb_chain c;

	set_desc(desc, 0, gpa(0x1000), 44, VRING_DESC_F_NEXT, 1);
	set_desc(desc, 1, gpa(0x2000), 100, 0, 0);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 0, false, &c), VB_CHAIN_OK);
	cr_assert_eq(c.nseg, 2);
	cr_assert_eq(c.len, 144);
	cr_assert_eq(c.seg[0].base, mem_buf + 0x1000);
	cr_assert_eq(c.seg[1].base, mem_buf + 0x2000);
}

Test(backend_vq, address_outside_every_region)
{
	struct vb_chain c;

	set_desc(desc, 0, GPA_BASE - 4096, 64, 0, 0);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 0, false, &c), VB_CHAIN_BAD_ADDR);
	set_desc(desc, 0, gpa(MEM_SIZE), 1, 0, 0);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 0, false, &c), VB_CHAIN_BAD_ADDR);
}

Test(backend_vq, buffer_running_past_region_end)
{
	struct vb_chain c;

	set_desc(desc, 0, gpa(MEM_SIZE - 16), 17, 0, 0);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 0, false, &c), VB_CHAIN_BAD_ADDR);
	set_desc(desc, 0, gpa(MEM_SIZE - 16), 16, 0, 0);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 0, false, &c), VB_CHAIN_OK);
}

Test(backend_vq, address_plus_length_wraps)
{
	struct vb_chain c;

	set_desc(desc, 0, UINT64_MAX - 100, 4096, 0, 0);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 0, false, &c), VB_CHAIN_LEN_OVERFLOW);
}

Test(backend_vq, chain_adding_up_past_4gib)
{
	struct vb_mem huge = mem;
	struct vb_chain c;

	/* A region that claims 16 GiB: lengths are checked before anything is touched. */
	huge.r[0].size = 16ull << 30;
	set_desc(desc, 0, gpa(0), 0x80000000u, VRING_DESC_F_NEXT, 1);
	set_desc(desc, 1, gpa(0), 0x80000000u, 0, 0);
	cr_assert_eq(vb_chain_walk(&huge, desc, RING, 0, false, &c), VB_CHAIN_LEN_OVERFLOW);
}

Test(backend_vq, loop_ends_as_too_long)
{
	struct vb_chain c;

	set_desc(desc, 0, gpa(0x1000), 8, VRING_DESC_F_NEXT, 1);
	set_desc(desc, 1, gpa(0x1000), 8, VRING_DESC_F_NEXT, 0);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 0, false, &c), VB_CHAIN_TOO_LONG);
	/* A descriptor pointing at itself. */
	set_desc(desc, 2, gpa(0x1000), 8, VRING_DESC_F_NEXT, 2);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 2, false, &c), VB_CHAIN_TOO_LONG);
}

Test(backend_vq, chain_longer_than_ring_through_indirect)
{
	struct vring_desc *ind = (struct vring_desc *)(mem_buf + 0x8000);
	struct vb_chain c;

	/* 4 in the ring, then an indirect table of 8: 12 > RING. */
	for (int i = 0; i < 3; i++)
		set_desc(desc, i, gpa(0x1000), 8, VRING_DESC_F_NEXT, i + 1);
	set_desc(desc, 3, gpa(0x8000), 8 * sizeof(*ind), VRING_DESC_F_INDIRECT, 0);
	for (int i = 0; i < 8; i++)
		set_desc(ind, i, gpa(0x1000), 8, i < 7 ? VRING_DESC_F_NEXT : 0, i + 1);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 0, false, &c), VB_CHAIN_TOO_LONG);
}

Test(backend_vq, head_and_next_outside_the_table)
{
	struct vb_chain c;

	cr_assert_eq(vb_chain_walk(&mem, desc, RING, RING, false, &c), VB_CHAIN_BAD_HEAD);
	set_desc(desc, 0, gpa(0x1000), 8, VRING_DESC_F_NEXT, RING + 3);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 0, false, &c), VB_CHAIN_BAD_NEXT);
}

Test(backend_vq, wrong_direction)
{
	struct vb_chain c;

	set_desc(desc, 0, gpa(0x1000), 44, VRING_DESC_F_NEXT, 1);
	set_desc(desc, 1, gpa(0x2000), 100, VRING_DESC_F_WRITE, 0);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 0, false, &c), VB_CHAIN_WRONG_DIR);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 0, true, &c), VB_CHAIN_WRONG_DIR);
}

Test(backend_vq, too_many_segments)
{
	struct vring_desc *big = (struct vring_desc *)(mem_buf + 0x10000);
	struct vb_chain c;
	int n = VB_CHAIN_MAX_SEGS + 1;

	for (int i = 0; i < n; i++)
		set_desc(big, i, gpa(0x1000), 1, i < n - 1 ? VRING_DESC_F_NEXT : 0, i + 1);
	cr_assert_eq(vb_chain_walk(&mem, big, 128, 0, false, &c), VB_CHAIN_TOO_MANY_SEGS);
}

Test(backend_vq, good_indirect)
{
	struct vring_desc *ind = (struct vring_desc *)(mem_buf + 0x8000);
	struct vb_chain c;

	set_desc(desc, 5, gpa(0x8000), 2 * sizeof(*ind), VRING_DESC_F_INDIRECT, 0);
	set_desc(ind, 0, gpa(0x3000), 44, VRING_DESC_F_NEXT, 1);
	set_desc(ind, 1, gpa(0x4000), 4096, 0, 0);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 5, false, &c), VB_CHAIN_OK);
	cr_assert_eq(c.nseg, 2);
	cr_assert_eq(c.len, 44 + 4096);
	cr_assert_eq(c.head, 5);
}

Test(backend_vq, bad_indirect_tables)
{
	struct vring_desc *ind = (struct vring_desc *)(mem_buf + 0x8000);
	struct vb_chain c;

	set_desc(ind, 0, gpa(0x3000), 44, 0, 0);
	/* length not a multiple of a descriptor */
	set_desc(desc, 0, gpa(0x8000), 24, VRING_DESC_F_INDIRECT, 0);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 0, false, &c), VB_CHAIN_BAD_INDIRECT);
	/* empty */
	set_desc(desc, 0, gpa(0x8000), 0, VRING_DESC_F_INDIRECT, 0);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 0, false, &c), VB_CHAIN_BAD_INDIRECT);
	/* misaligned table */
	set_desc(desc, 0, gpa(0x8004), 16, VRING_DESC_F_INDIRECT, 0);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 0, false, &c), VB_CHAIN_BAD_INDIRECT);
	/* table outside memory */
	set_desc(desc, 0, GPA_BASE + MEM_SIZE, 16, VRING_DESC_F_INDIRECT, 0);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 0, false, &c), VB_CHAIN_BAD_INDIRECT);
	/* INDIRECT together with NEXT */
	set_desc(desc, 0, gpa(0x8000), 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 0, false, &c), VB_CHAIN_BAD_INDIRECT);
	/* an indirect table larger than the ring */
	set_desc(desc, 0, gpa(0x8000), (RING + 1) * 16, VRING_DESC_F_INDIRECT, 0);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 0, false, &c), VB_CHAIN_BAD_INDIRECT);
	/* nested indirect */
	set_desc(desc, 0, gpa(0x8000), 16, VRING_DESC_F_INDIRECT, 0);
	set_desc(ind, 0, gpa(0x9000), 16, VRING_DESC_F_INDIRECT, 0);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 0, false, &c), VB_CHAIN_BAD_INDIRECT);
	/* next beyond the indirect table */
	set_desc(desc, 0, gpa(0x8000), 32, VRING_DESC_F_INDIRECT, 0);
	set_desc(ind, 0, gpa(0x3000), 44, VRING_DESC_F_NEXT, 2);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 0, false, &c), VB_CHAIN_BAD_NEXT);
	/* a loop inside the indirect table */
	set_desc(ind, 0, gpa(0x3000), 44, VRING_DESC_F_NEXT, 1);
	set_desc(ind, 1, gpa(0x3000), 44, VRING_DESC_F_NEXT, 0);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 0, false, &c), VB_CHAIN_TOO_LONG);
}

Test(backend_vq, indirect_refused_when_not_negotiated)
{
	struct vring_desc *ind = (struct vring_desc *)(mem_buf + 0x8000);
	struct vb_chain c;

	set_desc(desc, 0, gpa(0x8000), 16, VRING_DESC_F_INDIRECT, 0);
	set_desc(ind, 0, gpa(0x3000), 44, 0, 0);
	cr_assert_eq(vb_chain_walk_ex(&mem, desc, RING, 0, false, true, &c), VB_CHAIN_OK);
	cr_assert_eq(vb_chain_walk_ex(&mem, desc, RING, 0, false, false, &c), VB_CHAIN_BAD_INDIRECT);
}

Test(backend_vq, read_write_across_segments)
{
	struct vb_chain c;
	uint8_t in[100], out[100];

	for (int i = 0; i < 100; i++)
		in[i] = (uint8_t)i;
	set_desc(desc, 0, gpa(0x1000), 30, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	set_desc(desc, 1, gpa(0x2000), 30, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	set_desc(desc, 2, gpa(0x3000), 30, VRING_DESC_F_WRITE, 0);
	cr_assert_eq(vb_chain_walk(&mem, desc, RING, 0, true, &c), VB_CHAIN_OK);
	cr_assert_eq(vb_chain_write(&c, 10, in, 100), 80, "writes stop at the chain's end");
	cr_assert_eq(vb_chain_read(&c, 10, out, 100), 80);
	cr_assert_arr_eq(out, in, 80);
	cr_assert_eq(mem_buf[0x2000], 20);
}

/* A whole queue in the fake memory: desc table, avail ring, used ring. */
struct fake_q {
	struct vb_vq vq;
};

static void fake_q_init(struct fake_q *f, uint16_t size, bool event_idx)
{
	memset(f, 0, sizeof(*f));
	f->vq.desc = (struct vring_desc *)(mem_buf + 0x20000);
	f->vq.avail = (struct vring_avail *)(mem_buf + 0x21000);
	f->vq.used = (struct vring_used *)(mem_buf + 0x22000);
	f->vq.size = size;
	f->vq.event_idx = event_idx;
	f->vq.callfd = -1;
	f->vq.kickfd = -1;
}

Test(backend_vq, avail_index_running_ahead_is_not_followed)
{
	struct fake_q f;

	fake_q_init(&f, RING, false);
	f.vq.avail->idx = RING + 1;
	cr_assert_eq(vb_vq_avail_count(&f.vq), 0);
	cr_assert_eq(vb_vq_avail_count(&f.vq), 0);
	cr_assert(f.vq.broken);
	cr_assert_eq(f.vq.faults[VB_CHAIN_BAD_AVAIL], 1, "counted once per episode");
	f.vq.avail->idx = 3;
	cr_assert_eq(vb_vq_avail_count(&f.vq), 3);
	cr_assert_not(f.vq.broken);
}

Test(backend_vq, pop_and_push_across_index_wrap)
{
	struct fake_q f;
	struct vb_chain c;

	fake_q_init(&f, RING, false);
	f.vq.last_avail_idx = 65534;
	f.vq.last_used_idx = 65534;
	set_desc(f.vq.desc, 3, gpa(0x1000), 50, 0, 0);
	set_desc(f.vq.desc, 4, gpa(0x1000), 60, 0, 0);
	f.vq.avail->ring[65534 % RING] = 3;
	f.vq.avail->ring[65535 % RING] = 4;
	f.vq.avail->idx = 0;                    /* two past 65534 */
	cr_assert_eq(vb_vq_avail_count(&f.vq), 2);
	cr_assert_eq(vb_vq_pop(&f.vq, &mem, false, &c), VB_CHAIN_OK);
	cr_assert_eq(c.head, 3);
	vb_vq_push(&f.vq, c.head, 0);
	cr_assert_eq(vb_vq_pop(&f.vq, &mem, false, &c), VB_CHAIN_OK);
	cr_assert_eq(c.head, 4);
	cr_assert_eq(c.len, 60);
	vb_vq_push(&f.vq, c.head, 7);
	vb_vq_flush(&f.vq);
	cr_assert_eq(f.vq.used->idx, 0);
	cr_assert_eq(f.vq.used->ring[65535 % RING].id, 4);
	cr_assert_eq(f.vq.used->ring[65535 % RING].len, 7);
	cr_assert_eq(vb_vq_avail_count(&f.vq), 0);
}

Test(backend_vq, hostile_head_in_avail_ring_is_counted)
{
	struct fake_q f;
	struct vb_chain c;

	fake_q_init(&f, RING, false);
	f.vq.avail->ring[0] = 200;
	f.vq.avail->idx = 1;
	cr_assert_eq(vb_vq_pop(&f.vq, &mem, false, &c), VB_CHAIN_BAD_HEAD);
	cr_assert_eq(f.vq.faults[VB_CHAIN_BAD_HEAD], 1);
	cr_assert_eq(f.vq.last_avail_idx, 1, "the slot is consumed, never retried");
}

Test(backend_vq, interrupt_decisions)
{
	struct fake_q f;
	uint16_t *used_event;

	fake_q_init(&f, RING, false);
	f.vq.last_used_idx = 1;
	cr_assert(vb_vq_need_call(&f.vq));
	f.vq.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	cr_assert_not(vb_vq_need_call(&f.vq));

	fake_q_init(&f, RING, true);
	used_event = &f.vq.avail->ring[RING];
	f.vq.last_used_idx = 1;
	cr_assert(vb_vq_need_call(&f.vq), "first call always goes out");
	*used_event = 5;
	f.vq.last_used_idx = 3;
	cr_assert_not(vb_vq_need_call(&f.vq), "used_event 5 not reached by 1..3");
	f.vq.last_used_idx = 6;
	cr_assert(vb_vq_need_call(&f.vq), "3..6 steps over 5");
	/* across the 16-bit wrap */
	*used_event = 65535;
	f.vq.signalled_used = 65530;
	f.vq.last_used_idx = 2;
	cr_assert(vb_vq_need_call(&f.vq));
}

Test(backend_vq, kick_suppression)
{
	struct fake_q f;
	uint16_t *avail_event;

	fake_q_init(&f, RING, false);
	vb_vq_kicks(&f.vq, false);
	cr_assert(f.vq.used->flags & VRING_USED_F_NO_NOTIFY);
	vb_vq_kicks(&f.vq, true);
	cr_assert_not(f.vq.used->flags & VRING_USED_F_NO_NOTIFY);

	fake_q_init(&f, RING, true);
	avail_event = (uint16_t *)&f.vq.used->ring[RING];
	f.vq.last_avail_idx = 77;
	vb_vq_kicks(&f.vq, true);
	cr_assert_eq(*avail_event, 77);
}

/* Packet headers: what vb_pkt_parse refuses. */
static struct vb_chain hdr_chain(const struct vsock_hdr *h, uint32_t payload, uint32_t split)
{
	struct vb_chain c = { .nseg = 2 };
	uint8_t *p = mem_buf + 0x30000;

	vsock_hdr_encode(p, h);
	c.seg[0] = (struct vb_seg){ p, split };
	c.seg[1] = (struct vb_seg){ p + split, sizeof(*h) + payload - split };
	c.len = sizeof(*h) + payload;
	return c;
}

static struct vsock_hdr rw(uint32_t len)
{
	return (struct vsock_hdr){ .src_cid = 3, .dst_cid = 2, .src_port = 1000, .dst_port = 1234,
				   .len = len, .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_RW,
				   .buf_alloc = 65536 };
}

Test(backend_vq, header_checks)
{
	struct vsock_hdr h = rw(100), out;
	struct vb_chain c;

	c = hdr_chain(&h, 100, 10);             /* header split over two segments */
	cr_assert_eq(vb_pkt_parse(&c, &out), VB_PKT_OK);
	cr_assert_eq(out.len, 100);
	cr_assert_eq(out.src_cid, 3);
	cr_assert_eq(out.dst_port, 1234);

	c = hdr_chain(&h, 100, 10);
	c.len = 43;
	c.seg[1].len = 33;
	cr_assert_eq(vb_pkt_parse(&c, &out), VB_PKT_SHORT);

	c = hdr_chain(&h, 99, 44);              /* len says 100, 99 came */
	cr_assert_eq(vb_pkt_parse(&c, &out), VB_PKT_LEN_MISMATCH);

	h = rw(VSOCK_MAX_PKT_PAYLOAD + 1);
	c = hdr_chain(&h, 0, 44);
	cr_assert_eq(vb_pkt_parse(&c, &out), VB_PKT_LEN_TOO_BIG);

	h = rw(0);
	h.op = 9;
	c = hdr_chain(&h, 0, 44);
	cr_assert_eq(vb_pkt_parse(&c, &out), VB_PKT_BAD_OP);
	h.op = VSOCK_OP_INVALID;
	c = hdr_chain(&h, 0, 44);
	cr_assert_eq(vb_pkt_parse(&c, &out), VB_PKT_BAD_OP);

	h = rw(0);
	h.type = VSOCK_TYPE_SEQPACKET;          /* not negotiated */
	c = hdr_chain(&h, 0, 44);
	cr_assert_eq(vb_pkt_parse(&c, &out), VB_PKT_BAD_TYPE);
	h.type = 7;
	c = hdr_chain(&h, 0, 44);
	cr_assert_eq(vb_pkt_parse(&c, &out), VB_PKT_BAD_TYPE);

	h = rw(8);
	h.op = VSOCK_OP_REQUEST;
	c = hdr_chain(&h, 8, 44);
	cr_assert_eq(vb_pkt_parse(&c, &out), VB_PKT_PAYLOAD_ON_CTRL);

	h = rw(0);
	h.op = VSOCK_OP_SHUTDOWN;
	h.flags = 4;
	c = hdr_chain(&h, 0, 44);
	cr_assert_eq(vb_pkt_parse(&c, &out), VB_PKT_BAD_FLAGS);
}

Test(backend_vq, longer_buffer_than_len_is_accepted)
{
	struct vsock_hdr h = rw(10), out;
	struct vb_chain c = hdr_chain(&h, 50, 44);

	cr_assert_eq(vb_pkt_parse(&c, &out), VB_PKT_OK);
	cr_assert_eq(out.len, 10);
}

/* SPDX-License-Identifier: MIT */
/*
 * The split ring against a fake device in the same process: the device side
 * here reads avail and writes used exactly as a backend would, including
 * entries a hostile backend would write.
 */
#include <stdlib.h>

#include <criterion/criterion.h>

#include "virtqueue.h"

struct fake_dev {
	struct virtqueue *vq;
	uint16_t last_avail;
	uint16_t used_idx;
};

static struct virtqueue vq;
static struct vq_slot slots[VQ_MAX_SIZE];
static void *mem;
static struct fake_dev fd;

static void setup_ring(uint16_t num, bool event_idx, bool in_order)
{
	free(mem);
	mem = aligned_alloc(64, vq_align64(vq_ring_size(num)));
	cr_assert_eq(vq_init(&vq, mem, num, slots, event_idx, in_order), 0);
	fd = (struct fake_dev){ .vq = &vq };
}

static void teardown(void)
{
	free(mem);
	mem = NULL;
}

/* Device: next available head, or -1. */
static int dev_take(void)
{
	if (fd.last_avail == __atomic_load_n(&vq.avail->idx, __ATOMIC_ACQUIRE))
		return -1;
	return vq.avail->ring[fd.last_avail++ & vq.mask];
}

/* Device: writes a used entry, any id and len it likes. */
static void dev_used(uint32_t id, uint32_t len)
{
	vq.used->ring[fd.used_idx & vq.mask].id = id;
	vq.used->ring[fd.used_idx & vq.mask].len = len;
	fd.used_idx++;
	__atomic_store_n(&vq.used->idx, fd.used_idx, __ATOMIC_RELEASE);
}

static int add_chain(uint16_t n, uint32_t buf_len, uintptr_t cookie)
{
	int head = vq_chain_alloc(&vq, n);
	uint16_t id, k;

	if (head < 0)
		return head;
	for (id = head, k = 0; k < n; k++, id = vq_next(&vq, id)) {
		vq.desc[id].addr = cookie * 100 + k;
		vq.desc[id].len = buf_len / n;
	}
	vq_chain_done(&vq, head, n, 0, buf_len, (void *)cookie);
	return head;
}

TestSuite(virtqueue, .fini = teardown);

Test(virtqueue, init_rejects_bad_size)
{
	static uint8_t m[65536];

	cr_assert_eq(vq_init(&vq, m, 0, slots, false, false), -1);
	cr_assert_eq(vq_init(&vq, m, 100, slots, false, false), -1);
	cr_assert_eq(vq_init(&vq, m, 128, slots, false, false), 0);
	cr_assert_eq(vq.num_free, 128);
}

/* 200000 chains of 1..3 descriptors through a 64-entry ring: indices wrap three times. */
static void run_wrap(bool in_order)
{
	uintptr_t sent = 1, got = 1;
	uint32_t total = 200000;
	uint16_t old_used;

	setup_ring(64, true, in_order);
	while (got <= total) {
		int head;

		while (sent <= total && (head = add_chain(1 + sent % 3, 300, sent)) >= 0) {
			cr_assert(vq.slot[head].ndesc == 1 + sent % 3);
			sent++;
		}
		vq_publish(&vq);
		old_used = fd.used_idx;
		/* the device completes all it took, in ring order */
		while ((head = dev_take()) >= 0) {
			uint16_t k, id = head;

			/* the chain the device walks is the one we built */
			for (k = 0; k < vq.slot[head].ndesc; k++) {
				cr_assert_eq(vq.desc[id].addr, (uint64_t)(uintptr_t)vq.slot[head].cookie * 100 + k);
				cr_assert_eq(!!(vq.desc[id].flags & VRING_DESC_F_NEXT), k + 1 < vq.slot[head].ndesc);
				id = vq.desc[id].next;
			}
			dev_used(head, 0);
		}
		/* we poll: used_event must never ask the device to interrupt us */
		cr_assert(!vq_need_event(*vq_used_event(&vq), fd.used_idx, old_used),
			  "device would signal: used_event %u, used %u..%u", *vq_used_event(&vq), old_used,
			  fd.used_idx);
		for (;;) {
			enum vq_used_fault f;
			uint32_t len;
			void *c;
			int r = vq_dequeue(&vq, &c, &len, &f);

			if (r == 0)
				break;
			cr_assert_eq(r, 1, "fault %d", f);
			cr_assert_eq((uintptr_t)c, got, "completion %lu, expected %lu", (unsigned long)(uintptr_t)c,
				     (unsigned long)got);
			got++;
		}
		vq_used_done(&vq);
	}
	cr_assert_eq(vq.num_free, 64);
	/* both free-running indices went past 65535 and still agree */
	cr_assert_eq(vq.avail_idx, (uint16_t)total);
	cr_assert_eq(vq.avail->idx, (uint16_t)total);
	cr_assert_eq(vq.last_used_idx, (uint16_t)total);
	/* used_event trails last_used_idx by less than a quarter of the index space */
	cr_assert_lt((uint16_t)(vq.last_used_idx - 1 - *vq_used_event(&vq)), 0x4000);
}

Test(virtqueue, index_wraps_past_65535)
{
	run_wrap(false);
}

Test(virtqueue, index_wraps_past_65535_in_order)
{
	run_wrap(true);
}

Test(virtqueue, ring_full_refuses_chain)
{
	setup_ring(64, false, false);
	cr_assert_geq(add_chain(60, 600, 1), 0);
	cr_assert_eq(add_chain(5, 50, 2), -1);
	cr_assert_geq(add_chain(4, 40, 3), 0);
	cr_assert_eq(vq.num_free, 0);
	cr_assert_eq(add_chain(1, 10, 4), -1);
}

Test(virtqueue, need_event_rule)
{
	/* notify iff event in [old, new) */
	cr_assert(vq_need_event(10, 11, 10));
	cr_assert(!vq_need_event(11, 11, 10));
	cr_assert(vq_need_event(12, 20, 10));
	cr_assert(!vq_need_event(9, 20, 10));
	cr_assert(!vq_need_event(20, 20, 10));
	/* across the wrap */
	cr_assert(vq_need_event(65535, 3, 65530));
	cr_assert(vq_need_event(1, 3, 65530));
	cr_assert(!vq_need_event(3, 3, 65530));
	cr_assert(!vq_need_event(65529, 3, 65530));
}

Test(virtqueue, event_idx_kick_decisions)
{
	setup_ring(256, true, false);
	/* device wants a kick as soon as entry 0 appears */
	*vq_avail_event(&vq) = 0;
	add_chain(1, 10, 1);
	vq_publish(&vq);
	cr_assert(vq_kick_prepare(&vq));
	/* nothing new: no kick */
	cr_assert(!vq_kick_prepare(&vq));
	/* device has not caught up (still asks for 0): later batches do not kick */
	add_chain(1, 10, 2);
	add_chain(1, 10, 3);
	vq_publish(&vq);
	cr_assert(!vq_kick_prepare(&vq));
	/* device asks to hear when entry 5 arrives: batch 3..4 no, batch 5..7 yes */
	*vq_avail_event(&vq) = 5;
	add_chain(1, 10, 4);
	add_chain(1, 10, 5);
	vq_publish(&vq);
	cr_assert(!vq_kick_prepare(&vq));
	add_chain(1, 10, 6);
	add_chain(1, 10, 7);
	add_chain(1, 10, 8);
	vq_publish(&vq);
	cr_assert(vq_kick_prepare(&vq));
}

Test(virtqueue, event_idx_kick_across_wrap)
{
	uint16_t i;

	setup_ring(64, true, false);
	/* run the indices up to 65530 with the device asking for nothing */
	*vq_avail_event(&vq) = 0xffff;
	for (i = 0; i < 65530 / 32; i++) {
		uint16_t k;

		for (k = 0; k < 32; k++)
			add_chain(1, 1, 1);
		vq_publish(&vq);
		vq_kick_prepare(&vq);
		while (dev_take() >= 0)
			;
		for (k = 0; k < 32; k++) {
			enum vq_used_fault f;
			uint32_t len;
			void *c;

			dev_used(vq.avail->ring[(fd.last_avail - 32 + k) & vq.mask], 0);
			cr_assert_eq(vq_dequeue(&vq, &c, &len, &f), 1);
		}
	}
	cr_assert_eq(vq.avail_idx, 65504);
	*vq_avail_event(&vq) = 2; /* entry 2 of the next lap */
	for (i = 0; i < 30; i++)
		add_chain(1, 1, 1);
	vq_publish(&vq); /* 65504 -> 65534: not crossed */
	cr_assert(!vq_kick_prepare(&vq));
	for (i = 0; i < 5; i++)
		add_chain(1, 1, 1);
	vq_publish(&vq); /* 65534 -> 3: crosses 2 */
	cr_assert_eq(vq.avail->idx, 3);
	cr_assert(vq_kick_prepare(&vq));
}

Test(virtqueue, no_event_idx_uses_flags)
{
	setup_ring(64, false, false);
	add_chain(1, 10, 1);
	vq_publish(&vq);
	cr_assert(vq_kick_prepare(&vq));
	vq.used->flags = VRING_USED_F_NO_NOTIFY;
	add_chain(1, 10, 2);
	vq_publish(&vq);
	cr_assert(!vq_kick_prepare(&vq));
	/* in poll mode we never want interrupts */
	cr_assert_eq(vq.avail->flags, VRING_AVAIL_F_NO_INTERRUPT);
}

Test(virtqueue, in_order_batch_completion)
{
	enum vq_used_fault f;
	uint32_t len;
	void *c;
	int heads[5], i;

	setup_ring(64, true, true);
	for (i = 0; i < 5; i++)
		heads[i] = add_chain(2, 100, 10 + i);
	vq_publish(&vq);
	/* in-order places chains in ring order */
	for (i = 0; i < 5; i++)
		cr_assert_eq(heads[i], 2 * i);
	/* the device writes one entry for the last chain of the batch */
	dev_used(heads[4], 77);
	for (i = 0; i < 5; i++) {
		cr_assert_eq(vq_dequeue(&vq, &c, &len, &f), 1);
		cr_assert_eq((uintptr_t)c, (uintptr_t)(10 + i));
		cr_assert_eq(len, i == 4 ? 77u : 0u);
	}
	cr_assert_eq(vq_dequeue(&vq, &c, &len, &f), 0);
	cr_assert_eq(vq.num_free, 64);
	/* and the next chains continue where the ring left off */
	cr_assert_eq(add_chain(1, 10, 99), 10);
}

Test(virtqueue, bad_used_ids_refused)
{
	enum vq_used_fault f;
	uint32_t len;
	void *c;
	int a, b;

	setup_ring(64, true, false);
	a = add_chain(3, 300, 1);
	b = add_chain(1, 100, 2);
	vq_publish(&vq);
	dev_used(64, 0);            /* out of range */
	dev_used(0xffffffff, 0);    /* far out of range */
	dev_used(a + 1, 0);         /* inside a chain, not its head */
	dev_used(40, 0);            /* never handed out */
	dev_used(b, 100);           /* fine */
	dev_used(b, 100);           /* the same buffer twice */
	for (int i = 0; i < 4; i++) {
		c = NULL;
		cr_assert_eq(vq_dequeue(&vq, &c, &len, &f), -1);
		cr_assert_eq(f, VQ_USED_BAD_ID);
		cr_assert_null(c);
		cr_assert_eq(vq.num_free, 60, "a refused id freed descriptors");
	}
	cr_assert_eq(vq_dequeue(&vq, &c, &len, &f), 1);
	cr_assert_eq((uintptr_t)c, 2);
	cr_assert_eq(vq_dequeue(&vq, &c, &len, &f), -1);
	cr_assert_eq(f, VQ_USED_BAD_ID);
	cr_assert_eq(vq.num_free, 61);
	cr_assert_eq(vq.slot[a].ndesc, 3, "chain a is still outstanding");
}

Test(virtqueue, bad_used_len_refused)
{
	enum vq_used_fault f;
	uint32_t len;
	void *c = NULL;
	int a;

	setup_ring(64, true, false);
	a = add_chain(1, 2048, 5);
	vq_publish(&vq);
	dev_used(a, 2049);
	cr_assert_eq(vq_dequeue(&vq, &c, &len, &f), -1);
	cr_assert_eq(f, VQ_USED_BAD_LEN);
	/* the buffer is ours again (to recycle), but its contents are not to be believed */
	cr_assert_eq((uintptr_t)c, 5);
	cr_assert_eq(vq.num_free, 64);
}

Test(virtqueue, lying_used_idx_is_bounded)
{
	enum vq_used_fault f;
	uint32_t len, bad = 0;
	void *c;
	int r;

	setup_ring(64, true, false);
	add_chain(1, 10, 1);
	vq_publish(&vq);
	/* the device claims 60000 completions of zeroed entries */
	__atomic_store_n(&vq.used->idx, 60000, __ATOMIC_RELEASE);
	while ((r = vq_dequeue(&vq, &c, &len, &f)) != 0)
		bad += r < 0;
	/* entry 0 of a zeroed ring names id 0, our one buffer, once per lap: accepted once */
	cr_assert_eq(bad, 59999);
	cr_assert_eq(vq.num_free, 64);
}

/* The descriptor table is shared: a device may scribble on it. Our links must not follow. */
Test(virtqueue, device_scribbling_on_descriptors_is_not_followed)
{
	enum vq_used_fault f;
	uint32_t len;
	void *c;
	int lap, i, head;

	for (int in_order = 0; in_order < 2; in_order++) {
		setup_ring(64, true, in_order);
		for (lap = 0; lap < 20; lap++) {
			while ((head = add_chain(1 + lap % 4, 400, 7)) >= 0)
				cr_assert_lt(head, 64);
			vq_publish(&vq);
			while ((head = dev_take()) >= 0) {
				/* the device rewrites every descriptor: next far out of the ring */
				for (i = 0; i < 64; i++) {
					vq.desc[i].next = 0xffff;
					vq.desc[i].flags = 0xffff;
					vq.desc[i].len = 0xffffffff;
				}
				dev_used(head, 0);
			}
			while (vq_dequeue(&vq, &c, &len, &f) == 1)
				;
			cr_assert_eq(vq.num_free, 64, "lap %d: descriptors lost", lap);
			for (i = 0; i < 64; i++)
				cr_assert_lt(vq.slot[i].next, 64);
		}
	}
}

/* vq_add_one places what vq_chain_alloc + vq_chain_done place for a chain of one. */
Test(virtqueue, add_one_is_a_chain_of_one)
{
	enum vq_used_fault f;
	uint32_t len;
	void *c;
	int i;

	setup_ring(64, true, true);
	for (i = 0; i < 64; i++) {
		cr_assert_eq(vq.free_head, i);
		vq_add_one(&vq, 1000 + i, 60 + i, 0, 80 + i, (void *)(uintptr_t)(i + 1));
	}
	cr_assert_eq(vq.num_free, 0);
	cr_assert_eq(vq_chain_alloc(&vq, 1), -1);
	vq_publish(&vq);
	for (i = 0; i < 64; i++) {
		int h = dev_take();

		cr_assert_eq(h, i);
		cr_assert_eq(vq.desc[h].addr, 1000u + i);
		cr_assert_eq(vq.desc[h].len, 60u + i);
		cr_assert_eq(vq.desc[h].flags, 0);
		cr_assert_eq(vq.slot[h].ndesc, 1);
		cr_assert_eq(vq.slot[h].buf_len, 80u + i);
	}
	dev_used(0, 80);        /* within buf_len */
	dev_used(1, 82);        /* beyond it (81): refused as vq_dequeue refuses it */
	cr_assert_eq(vq_dequeue(&vq, &c, &len, &f), 1);
	cr_assert_eq((uintptr_t)c, 1);
	cr_assert_eq(vq_dequeue(&vq, &c, &len, &f), -1);
	cr_assert_eq(f, VQ_USED_BAD_LEN);
	cr_assert_eq(vq.num_free, 2);
	/* mixed with chains: the free list stays in ring order */
	cr_assert_eq(vq.free_head, 0);
	cr_assert_eq(add_chain(2, 10, 99), 0);
	cr_assert_eq(vq.num_free, 0);
}

/*
 * The bulk in-order dequeue takes exactly the entries vq_dequeue would take
 * the same way, and leaves everything else (a batch entry, a bad id, a bad
 * len, a chain of several) to vq_dequeue, in order.
 */
Test(virtqueue, dequeue_in_order_bulk_matches_one_by_one)
{
	enum vq_used_fault f;
	void *c[64], *one;
	uint32_t len;
	int i;

	setup_ring(64, true, true);
	for (i = 0; i < 10; i++)
		add_chain(1, 100, 10 + i);
	add_chain(3, 300, 20);          /* descriptors 10..12 */
	add_chain(1, 100, 21);          /* 13 */
	add_chain(1, 100, 22);          /* 14 */
	vq_publish(&vq);
	cr_assert_eq(vq_dequeue_in_order(&vq, c, 64), 0, "nothing used yet");
	for (i = 0; i < 4; i++)
		dev_used(i, 100);
	cr_assert_eq(vq_dequeue_in_order(&vq, c, 2), 2, "max is kept");
	cr_assert_eq(vq_dequeue_in_order(&vq, c + 2, 64), 2);
	for (i = 0; i < 4; i++)
		cr_assert_eq((uintptr_t)c[i], 10u + i);
	cr_assert_eq(vq.num_free, 64 - 15 + 4);
	/* a bad len stops the bulk; vq_dequeue refuses and recycles it */
	dev_used(4, 101);
	dev_used(5, 100);
	cr_assert_eq(vq_dequeue_in_order(&vq, c, 64), 0);
	cr_assert_eq(vq_dequeue(&vq, &one, &len, &f), -1);
	cr_assert_eq(f, VQ_USED_BAD_LEN);
	cr_assert_eq((uintptr_t)one, 14);
	cr_assert_eq(vq_dequeue_in_order(&vq, c, 64), 1);
	cr_assert_eq((uintptr_t)c[0], 15);
	/* a bad id stops it too, and is refused without freeing anything */
	dev_used(40, 0);
	cr_assert_eq(vq_dequeue_in_order(&vq, c, 64), 0);
	cr_assert_eq(vq_dequeue(&vq, &one, &len, &f), -1);
	cr_assert_eq(f, VQ_USED_BAD_ID);
	cr_assert_eq(vq.num_free, 64 - 15 + 6);
	/* a batch entry (the device names the last chain of several) is vq_dequeue's */
	dev_used(8, 100);
	cr_assert_eq(vq_dequeue_in_order(&vq, c, 64), 0);
	for (i = 6; i <= 8; i++) {
		cr_assert_eq(vq_dequeue(&vq, &one, &len, &f), 1);
		cr_assert_eq((uintptr_t)one, 10u + i);
	}
	cr_assert_eq(vq_dequeue_in_order(&vq, c, 64), 0, "inside nothing, nothing pending");
	/* a chain of several descriptors, named by its head, is taken whole */
	dev_used(9, 100);
	dev_used(10, 300);
	dev_used(13, 100);
	cr_assert_eq(vq_dequeue_in_order(&vq, c, 64), 3);
	cr_assert_eq((uintptr_t)c[0], 19);
	cr_assert_eq((uintptr_t)c[1], 20);
	cr_assert_eq((uintptr_t)c[2], 21);
	cr_assert_eq(vq.num_free, 63);
	/* the same entry again (a lying device): ndesc 0, refused by vq_dequeue */
	dev_used(13, 100);
	cr_assert_eq(vq_dequeue_in_order(&vq, c, 64), 0);
	cr_assert_eq(vq_dequeue(&vq, &one, &len, &f), -1);
	cr_assert_eq(f, VQ_USED_BAD_ID);
	dev_used(14, 100);
	cr_assert_eq(vq_dequeue_in_order(&vq, c, 64), 1);
	cr_assert_eq(vq.num_free, 64);
}

/* Without in-order the bulk path never takes anything: vq_dequeue does it all. */
Test(virtqueue, dequeue_in_order_bulk_needs_in_order)
{
	void *c[4];

	setup_ring(64, true, false);
	add_chain(1, 100, 1);
	vq_publish(&vq);
	dev_used(0, 100);
	cr_assert_eq(vq_dequeue_in_order(&vq, c, 4), 0);
	cr_assert_eq(vq.num_free, 63);
}

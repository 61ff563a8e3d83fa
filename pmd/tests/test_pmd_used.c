/* SPDX-License-Identifier: MIT */
/*
 * The vsock device over a fake transport in the same process: the fake device
 * reads our avail rings and writes used entries, good and hostile, and the
 * driver must refuse and count the bad ones, never follow them. The fake is
 * also a second transport behind the ops table, as vfio-pci will be.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <rte_eal.h>
#include <rte_mbuf.h>

#include "sp_env.h"
#include "test_pmd_fake.h"
#include "virtio_transport.h"
#include "virtio_vsock.h"
#include "virtqueue.h"
#include "vsock_proto.h"

static struct sp_vsock_dev *dev;

/* Device side: writes a packet into the rx buffer behind head; returns the used len. */
static uint32_t dev_fill_rx(int head, const struct vsock_hdr *h, uint32_t payload)
{
	const struct virtqueue *vq = fk.vq[RXQ];
	uint8_t *buf = (uint8_t *)(uintptr_t)vq->desc[head].addr;

	cr_assert(vq->desc[head].flags & VRING_DESC_F_WRITE);
	cr_assert_geq(vq->desc[head].len, sizeof(*h) + payload);
	vsock_hdr_encode(buf, h);
	memset(buf + sizeof(*h), 0x5a, payload);
	return sizeof(*h) + payload;
}

static void start(uint64_t features, const char *args)
{
	struct sp_env_cfg cfg = { .name = "pmdtest", .mem_mb = 128, .quiet = true };

	cr_assert_eq(sp_env_init(&cfg), 0);
	dev = sp_vsock_dev_create_on("vsock_fake0", fake_open(features), args);
	cr_assert_not_null(dev);
}

static void start_default(void)
{
	start((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX), "queue_size=64,pool_size=1024");
}

static void stop(void)
{
	sp_vsock_dev_destroy(dev);
	rte_eal_cleanup();
}

static struct vsock_hdr rw_hdr(uint32_t len)
{
	return (struct vsock_hdr){ .src_cid = 2, .dst_cid = 42, .src_port = 5000, .dst_port = 1024,
				   .len = len, .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_RW,
				   .buf_alloc = 65536 };
}

static struct rte_mbuf *tx_pkt(uint32_t payload)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(sp_vsock_dev_pool(dev));
	struct vsock_hdr h = rw_hdr(payload);
	uint8_t *p;

	cr_assert_not_null(m);
	p = (uint8_t *)rte_pktmbuf_append(m, sizeof(h) + payload);
	cr_assert_not_null(p);
	vsock_hdr_encode(p, &h);
	return m;
}

TestSuite(pmd_used, .init = start_default, .fini = stop, .timeout = 60);

Test(pmd_used, cid_and_features_from_device)
{
	cr_assert_eq(sp_vsock_dev_cid(dev), 42);
	cr_assert_eq(fk.features_acked, (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX));
	cr_assert_eq(sp_vsock_dev_get("vsock_fake0"), dev);
	/* the rx ring starts full, the event ring has its buffers */
	cr_assert_eq(fk.vq[RXQ]->num_free, 0);
	cr_assert_eq(fk.vq[RXQ]->avail->idx, 64);
	cr_assert_eq(fk.vq[EVQ]->avail->idx, 8);
}

Test(pmd_used, rx_refuses_bad_used_entries)
{
	struct rte_mbuf *pkts[32];
	struct vsock_hdr h = rw_hdr(100), bad = rw_hdr(100);
	struct sp_vsock_stats st;
	int a = dev_take(RXQ), b = dev_take(RXQ), c = dev_take(RXQ), e = dev_take(RXQ);
	uint32_t len;

	dev_used(RXQ, 1000, 144);                  /* id out of range */
	dev_used(RXQ, a, 4096 + 4096);             /* len beyond the buffer */
	len = dev_fill_rx(b, &h, 100);
	dev_used(RXQ, b, len);                     /* good */
	dev_used(RXQ, b, len);                     /* the same buffer again */
	bad.len = 5000;                            /* header lies about its payload */
	len = dev_fill_rx(c, &bad, 100);
	dev_used(RXQ, c, len);
	dev_used(RXQ, e, 10);                      /* shorter than a header */

	cr_assert_eq(sp_vsock_rx_burst(dev, pkts, 32), 1);
	cr_assert_eq(rte_pktmbuf_pkt_len(pkts[0]), 144);
	cr_assert_eq(rte_pktmbuf_mtod(pkts[0], struct vsock_hdr *)->len, 100);
	cr_assert_eq(rte_pktmbuf_mtod_offset(pkts[0], uint8_t *, 143)[0], 0x5a);
	sp_vsock_dev_stats(dev, &st);
	cr_assert_eq(st.bad_used_id, 2);
	cr_assert_eq(st.bad_used_len, 2);
	cr_assert_eq(st.bad_rx_hdr, 1);
	cr_assert_eq(st.rx_pkts, 1);
	/* the ring is full again: refused buffers were recycled, taken ones replaced */
	cr_assert_eq(fk.vq[RXQ]->num_free, 0);
	cr_assert_eq(fk.vq[RXQ]->avail->idx, 64 + 4);
	rte_pktmbuf_free(pkts[0]);
}

Test(pmd_used, tx_burst_one_index_update_one_kick)
{
	struct rte_mbuf *pkts[32];
	struct sp_vsock_stats st;
	int i;

	/* the device asks to be kicked at the first new entry */
	*vq_avail_event((struct virtqueue *)fk.vq[TXQ]) = 0;
	for (i = 0; i < 32; i++)
		pkts[i] = tx_pkt(64);
	cr_assert_eq(sp_vsock_tx_burst(dev, pkts, 32), 32);
	cr_assert_eq(fk.vq[TXQ]->avail->idx, 32);
	cr_assert_eq(fk.kicks[TXQ], 1);
	/* the device did not move its avail_event: the next burst needs no kick */
	for (i = 0; i < 16; i++)
		pkts[i] = tx_pkt(64);
	cr_assert_eq(sp_vsock_tx_burst(dev, pkts, 16), 16);
	cr_assert_eq(fk.kicks[TXQ], 1);
	sp_vsock_dev_stats(dev, &st);
	cr_assert_eq(st.tx_pkts, 48);
	cr_assert_eq(st.tx_bytes, 48 * 108);
	cr_assert_eq(st.tx_kicks, 1);
}

Test(pmd_used, tx_refuses_bad_completions_and_reclaims_good)
{
	struct rte_mbuf *pkts[8];
	struct sp_vsock_stats st;
	unsigned int avail0 = rte_mempool_avail_count(sp_vsock_dev_pool(dev));
	int i, h[8];

	for (i = 0; i < 8; i++)
		pkts[i] = tx_pkt(64);
	cr_assert_eq(sp_vsock_tx_burst(dev, pkts, 8), 8);
	for (i = 0; i < 8; i++)
		h[i] = dev_take(TXQ);
	dev_used(TXQ, 9999, 0);          /* bad id */
	dev_used(TXQ, h[0], 108);        /* good: read all of it */
	dev_used(TXQ, h[0], 108);        /* twice */
	dev_used(TXQ, h[1], 4000);       /* len beyond what it holds */
	for (i = 2; i < 8; i++)
		dev_used(TXQ, h[i], 0);
	cr_assert_eq(sp_vsock_tx_free(dev), 64);
	sp_vsock_dev_stats(dev, &st);
	cr_assert_eq(st.bad_used_id, 2);
	cr_assert_eq(st.bad_used_len, 1);
	/* every mbuf went back to the pool exactly once (a double free would overcount) */
	cr_assert_eq(rte_mempool_avail_count(sp_vsock_dev_pool(dev)), avail0);
}

Test(pmd_used, tx_chain_of_64k_payload)
{
	struct rte_pktmbuf_pool_private *pp = rte_mempool_get_priv(sp_vsock_dev_pool(dev));
	struct rte_mbuf *head = tx_pkt(SP_VSOCK_MBUF_DATA - sizeof(struct vsock_hdr)), *m;
	uint32_t left = VSOCK_MAX_PKT_PAYLOAD - (SP_VSOCK_MBUF_DATA - sizeof(struct vsock_hdr));
	const struct virtqueue *vq = fk.vq[TXQ];
	uint16_t id, n = 0;
	uint32_t total = 0;
	int h;

	cr_assert_eq(pp->mbuf_data_room_size, RTE_PKTMBUF_HEADROOM + SP_VSOCK_MBUF_DATA);
	rte_pktmbuf_mtod(head, struct vsock_hdr *)->len = VSOCK_MAX_PKT_PAYLOAD;
	while (left) {
		uint32_t k = left < SP_VSOCK_MBUF_DATA ? left : SP_VSOCK_MBUF_DATA;

		m = rte_pktmbuf_alloc(sp_vsock_dev_pool(dev));
		cr_assert_not_null(rte_pktmbuf_append(m, k));
		cr_assert_eq(rte_pktmbuf_chain(head, m), 0);
		left -= k;
	}
	cr_assert_eq(head->nb_segs, 17);
	cr_assert_eq(sp_vsock_tx_burst(dev, &head, 1), 1);
	h = dev_take(TXQ);
	for (id = h, m = head; ; id = vq->desc[id].next, m = m->next) {
		cr_assert_eq(vq->desc[id].addr, (uintptr_t)rte_pktmbuf_mtod(m, void *));
		cr_assert_eq(vq->desc[id].len, m->data_len);
		cr_assert_eq(vq->desc[id].flags & VRING_DESC_F_WRITE, 0);
		total += vq->desc[id].len;
		n++;
		if (!(vq->desc[id].flags & VRING_DESC_F_NEXT))
			break;
	}
	cr_assert_eq(n, 17);
	cr_assert_eq(total, sizeof(struct vsock_hdr) + VSOCK_MAX_PKT_PAYLOAD);
}

Test(pmd_used, tx_ring_full_takes_what_fits)
{
	struct rte_mbuf *pkts[80];
	struct sp_vsock_stats st;
	int i;

	for (i = 0; i < 80; i++)
		pkts[i] = tx_pkt(64);
	cr_assert_eq(sp_vsock_tx_burst(dev, pkts, 80), 64);
	sp_vsock_dev_stats(dev, &st);
	cr_assert_eq(st.tx_ring_full, 1);
	for (i = 64; i < 80; i++)
		rte_pktmbuf_free(pkts[i]);
}

Test(pmd_used, tx_refuses_packet_without_header)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(sp_vsock_dev_pool(dev));
	struct sp_vsock_stats st;

	rte_pktmbuf_append(m, 10);
	cr_assert_eq(sp_vsock_tx_burst(dev, &m, 1), 1);
	sp_vsock_dev_stats(dev, &st);
	cr_assert_eq(st.tx_bad_pkt, 1);
	cr_assert_eq(st.tx_pkts, 0);
	cr_assert_eq(fk.vq[TXQ]->avail->idx, 0);
}

Test(pmd_used, device_gone_stops_bursts)
{
	struct rte_mbuf *m = tx_pkt(64), *rx[4];

	fk.alive = false;
	cr_assert(!sp_vsock_dev_alive(dev));
	cr_assert_eq(sp_vsock_tx_burst(dev, &m, 1), 0);
	cr_assert_eq(sp_vsock_rx_burst(dev, rx, 4), 0);
	rte_pktmbuf_free(m);
}

Test(pmd_used, event_queue_transport_reset)
{
	const struct virtqueue *vq = fk.vq[EVQ];
	struct sp_vsock_stats st;
	uint32_t id = 99;
	int h = dev_take(EVQ), h2 = dev_take(EVQ);

	cr_assert_eq(sp_vsock_event_poll(dev, &id), 0);
	*(uint32_t *)(uintptr_t)vq->desc[h].addr = VSOCK_EVENT_TRANSPORT_RESET;
	dev_used(EVQ, h, 4);
	dev_used(EVQ, h2, 400); /* longer than the 4-byte buffer */
	cr_assert_eq(sp_vsock_event_poll(dev, &id), 1);
	cr_assert_eq(id, VSOCK_EVENT_TRANSPORT_RESET);
	cr_assert_eq(sp_vsock_event_poll(dev, &id), 0);
	sp_vsock_dev_stats(dev, &st);
	cr_assert_eq(st.events, 1);
	cr_assert_eq(st.bad_used_len, 1);
	/* both buffers went back to the device */
	cr_assert_eq(vq->avail->idx, 10);
}

Test(pmd_cfg, in_order_negotiated_when_offered, .fini = stop, .timeout = 60)
{
	start((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_IN_ORDER) | (1ull << 40),
	      "queue_size=64,pool_size=1024,cid=7");
	cr_assert_eq(fk.features_acked, (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_IN_ORDER));
	cr_assert(fk.vq[TXQ]->in_order);
	cr_assert(!fk.vq[TXQ]->event_idx);
	cr_assert_eq(sp_vsock_dev_cid(dev), 7);
}

Test(pmd_cfg, bad_devargs_refused, .timeout = 60)
{
	struct sp_env_cfg cfg = { .name = "pmdtest", .mem_mb = 128, .quiet = true };

	cr_assert_eq(sp_env_init(&cfg), 0);
	cr_assert_null(sp_vsock_dev_create_on("v1", fake_open(0), "queue_size=100"));
	cr_assert_null(sp_vsock_dev_create_on("v2", &fk.t, "bogus=1"));
	cr_assert_null(sp_vsock_dev_create_on("v3", &fk.t, "cid=1"));
	cr_assert_null(sp_vsock_dev_create("v4", "cid=3"), "no path=");
	rte_eal_cleanup();
}

Test(pmd_used, rx_ring_refilled_as_the_pool_allows)
{
	struct rte_mempool *mp = sp_vsock_dev_pool(dev);
	unsigned int held_n = rte_mempool_avail_count(mp) - 3, i;
	struct rte_mbuf **held = calloc(held_n, sizeof(*held)), *pkts[16];
	struct vsock_hdr h = rw_hdr(0);

	h.op = VSOCK_OP_CREDIT_UPDATE;
	/* the application holds all but 3 mbufs of the pool */
	for (i = 0; i < held_n; i++)
		cr_assert_not_null(held[i] = rte_pktmbuf_alloc(mp));
	for (i = 0; i < 10; i++) {
		int head = dev_take(RXQ);

		dev_used(RXQ, head, dev_fill_rx(head, &h, 0));
	}
	cr_assert_eq(sp_vsock_rx_burst(dev, pkts, 16), 10);
	cr_assert_eq(fk.vq[RXQ]->num_free, 7, "3 buffers came back from a pool with 3 left");
	rte_pktmbuf_free_bulk(pkts, 10);
	rte_pktmbuf_free_bulk(held, held_n);
	free(held);
	/* the next poll fills the ring again */
	cr_assert_eq(sp_vsock_rx_burst(dev, pkts, 16), 0);
	cr_assert_eq(fk.vq[RXQ]->num_free, 0);
}

/* A device whose queues hold at most rx/tx/ev entries; args as devargs. */
static struct sp_vsock_dev *create_limited(uint16_t rx, uint16_t tx, uint16_t ev, const char *args)
{
	struct virtio_transport *t = fake_open(1ull << VIRTIO_F_VERSION_1);

	fk.queue_max[RXQ] = rx;
	fk.queue_max[TXQ] = tx;
	fk.queue_max[EVQ] = ev;
	return sp_vsock_dev_create_on("vsock_lim0", t, args);
}

Test(pmd_cfg, default_queue_size_follows_device_limit, .timeout = 60)
{
	struct sp_env_cfg cfg = { .name = "pmdtest", .mem_mb = 128, .quiet = true };
	struct sp_vsock_dev *d;

	cr_assert_eq(sp_env_init(&cfg), 0);
	/* QEMU's vhost-user-vsock-pci: 128 entries per queue; the default 256 comes down */
	d = create_limited(128, 128, 128, "pool_size=1024");
	cr_assert_not_null(d, "the default queue size must fit a 128-entry device");
	cr_assert_eq(fk.vq[RXQ]->num, 128);
	cr_assert_eq(fk.vq[TXQ]->num, 128);
	cr_assert_eq(fk.vq[EVQ]->num, 8);
	cr_assert_eq(fk.vq[RXQ]->avail->idx, 128, "the rx ring starts full");
	sp_vsock_dev_destroy(d);
	/* a limit that is no power of two: the largest power of two within it, for both */
	d = create_limited(200, 0, 4, "pool_size=1024");
	cr_assert_not_null(d);
	cr_assert_eq(fk.vq[RXQ]->num, 128);
	cr_assert_eq(fk.vq[TXQ]->num, 128);
	cr_assert_eq(fk.vq[EVQ]->num, 4);
	sp_vsock_dev_destroy(d);
	/* no limit (vhost-user): the default stays */
	d = create_limited(0, 0, 0, "pool_size=1024");
	cr_assert_not_null(d);
	cr_assert_eq(fk.vq[TXQ]->num, 256);
	sp_vsock_dev_destroy(d);
	/* an explicit size within the limit is kept */
	d = create_limited(128, 128, 128, "queue_size=64,pool_size=1024");
	cr_assert_not_null(d);
	cr_assert_eq(fk.vq[TXQ]->num, 64);
	sp_vsock_dev_destroy(d);
	rte_eal_cleanup();
}

Test(pmd_cfg, queue_size_beyond_device_limit_refused, .timeout = 60)
{
	struct sp_env_cfg cfg = { .name = "pmdtest", .mem_mb = 128, .quiet = true };

	cr_assert_eq(sp_env_init(&cfg), 0);
	cr_assert_null(create_limited(128, 128, 128, "queue_size=256,pool_size=1024"),
		       "an explicit queue_size above the device's limit is the user's error");
	cr_assert_null(create_limited(0, 64, 0, "queue_size=128,pool_size=1024"));
	cr_assert_null(create_limited(32, 32, 8, "pool_size=1024"), "below the driver's 64 entries");
	/* a pool sized for the lowered default is enough */
	cr_assert_not_null(create_limited(128, 128, 8, "pool_size=400"));
	sp_vsock_dev_destroy(sp_vsock_dev_get("vsock_lim0"));
	rte_eal_cleanup();
}

/* Small pools (below 384 mbufs the old fixed 256-mbuf cache made rte_mempool refuse them). */
Test(pmd_cfg, small_pools_work, .timeout = 60)
{
	static const char *const args[] = { "queue_size=64,pool_size=192", "queue_size=64,pool_size=256",
					     "queue_size=64,pool_size=383", "queue_size=128,pool_size=320" };
	struct sp_env_cfg cfg = { .name = "pmdtest", .mem_mb = 128, .quiet = true };
	struct rte_mbuf *pkts[128];
	unsigned int a, round, i;

	cr_assert_eq(sp_env_init(&cfg), 0);
	for (a = 0; a < RTE_DIM(args); a++) {
		struct sp_vsock_dev *d = sp_vsock_dev_create_on("vsock_small0", fake_open(1ull << VIRTIO_F_VERSION_1),
							       args[a]);
		struct rte_mempool *mp;
		unsigned int before, num;

		cr_assert_not_null(d, "%s refused", args[a]);
		dev = d;
		mp = sp_vsock_dev_pool(d);
		num = fk.vq[TXQ]->num;
		cr_assert_eq(fk.vq[RXQ]->num_free, 0, "%s: the rx ring starts full", args[a]);
		before = rte_mempool_avail_count(mp);
		/* a full tx ring of packets, used by the device, reclaimed; twice */
		for (round = 0; round < 2; round++) {
			for (i = 0; i < num; i++)
				pkts[i] = tx_pkt(64);
			cr_assert_eq(sp_vsock_tx_burst(d, pkts, num), num, "%s", args[a]);
			for (i = 0; i < num; i++)
				dev_used(TXQ, dev_take(TXQ), 0);
			cr_assert_eq(sp_vsock_tx_free(d), num);
		}
		cr_assert_eq(rte_mempool_avail_count(mp), before, "%s: every mbuf back", args[a]);
		sp_vsock_dev_destroy(d);
	}
	/* below 2*queue_size+64 is refused by that rule, not by the pool */
	cr_assert_null(sp_vsock_dev_create_on("vsock_small0", fake_open(0), "queue_size=64,pool_size=64"));
	rte_eal_cleanup();
}

/* Whether [va, va + len) is one IOVA range, as the device walks it. */
static bool iova_contiguous(const void *va, size_t len)
{
	rte_iova_t base = rte_mem_virt2iova(va);
	size_t off;

	if (base == RTE_BAD_IOVA)
		return false;
	for (off = 4096 - ((uintptr_t)va & 4095); off < len; off += 4096)
		if (rte_mem_virt2iova((const uint8_t *)va + off) != base + off)
			return false;
	return rte_mem_virt2iova((const uint8_t *)va + len - 1) == base + len - 1;
}

/*
 * With IOVA as PA (virtio-pci without an IOMMU), a ring must be physically
 * contiguous. Rings of 4096 entries (~100 KiB) are placed at many offsets
 * (a pad before each device). (The heap did not happen to place one across
 * a hugepage boundary here without the flag: a guard, not a reproducer.)
 */
Test(pmd_cfg, rings_iova_contiguous_with_iova_as_pa, .timeout = 60)
{
	char *eal_args[] = { "--iova-mode=pa" };
	struct sp_env_cfg cfg = { .name = "pmdtest", .mem_mb = 512, .quiet = true,
				  .extra_argc = 1, .extra_argv = eal_args };
	const struct rte_memzone *pad = NULL;
	unsigned int k;
	int q;

	if (getenv("SP_NO_HUGE") || sp_env_init(&cfg) != 0)
		cr_skip_test("no EAL with --iova-mode=pa here (needs hugepages and root)");
	if (!sp_env_info()->hugepages || rte_eal_iova_mode() != RTE_IOVA_PA) {
		rte_eal_cleanup();
		cr_skip_test("EAL is not in IOVA-as-PA mode");
	}
	for (k = 0; k < 64; k++) {
		struct sp_vsock_dev *d;

		pad = rte_memzone_reserve("pmdtest_pad", (k + 1) * 17 * 1024, SOCKET_ID_ANY, 0);
		cr_assert_not_null(pad);
		d = sp_vsock_dev_create_on("vsock_pa0", fake_open(1ull << VIRTIO_F_VERSION_1),
					   "queue_size=4096,pool_size=8256");
		cr_assert_not_null(d);
		for (q = RXQ; q <= EVQ; q++) {
			const struct virtqueue *vq = fk.vq[q];

			cr_assert(iova_contiguous(vq->desc, (const uint8_t *)vq->used - (const uint8_t *)vq->desc +
						  vq_used_size(vq->num)),
				  "pass %u: queue %d at %p straddles physically discontiguous pages", k, q, vq->desc);
		}
		sp_vsock_dev_destroy(d);
		rte_memzone_free(pad);
	}
	rte_eal_cleanup();
}

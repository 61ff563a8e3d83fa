/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a hostile device against the driver. The input is a
 * script for the fake device of test_pmd_fake.h (in this process, behind the
 * transport ops): take avail entries, write used entries with any id and len,
 * lie about used->idx, fill rx buffers with any header, post events; and for
 * the driver: tx bursts (good, chained and malformed packets), rx bursts,
 * reclaim, event polls. A fresh device per input, so a crash replays.
 *
 * Checked besides ASan/UBSan: every packet rx_burst hands up has a header
 * that vsock_hdr_check accepts and a length that matches it; and the mbuf
 * accounting is exact: the pool's in-use count equals the buffers the rings
 * hold (a double free or a lost mbuf breaks it).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_mbuf.h>

#include "sp_env.h"
#include "test_pmd_fake.h"
#include "virtio_vsock.h"
#include "vsock_proto.h"
#include "fuzz_script.h"

#define QSIZE 64
#define MAX_TAKEN 64

static struct {
	int head[3][MAX_TAKEN];
	unsigned int n[3];
} taken;

/* A head the device took (removed from the list), or -1. */
static int pick(int q, uint32_t sel)
{
	int h;

	if (!taken.n[q])
		return -1;
	sel %= taken.n[q];
	h = taken.head[q][sel];
	taken.head[q][sel] = taken.head[q][--taken.n[q]];
	return h;
}

static void check_rx(struct rte_mbuf **pkts, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++) {
		struct vsock_hdr h;

		if (pkts[i]->pkt_len < sizeof(h) || pkts[i]->pkt_len != pkts[i]->data_len)
			abort();
		vsock_hdr_decode(&h, rte_pktmbuf_mtod(pkts[i], void *));
		if (vsock_hdr_check(&h, pkts[i]->pkt_len - sizeof(h)) != VSOCK_HDR_OK)
			abort();
	}
	rte_pktmbuf_free_bulk(pkts, n);
}

/* mbufs the rings hold: one per rx descriptor, one per tx segment (= descriptor). */
static void check_accounting(struct sp_vsock_dev *dev)
{
	struct rte_mempool *mp = sp_vsock_dev_pool(dev);
	const struct virtqueue *rx = fk.vq[RXQ], *tx = fk.vq[TXQ];
	unsigned int held = (unsigned int)(rx->num - rx->num_free) + (unsigned int)(tx->num - tx->num_free);

	if (rte_mempool_in_use_count(mp) != held) {
		fprintf(stderr, "mbuf accounting: pool in use %u, rings hold %u\n",
			rte_mempool_in_use_count(mp), held);
		abort();
	}
}

static void tx_some(struct sp_vsock_dev *dev, struct fuzz_script *s)
{
	struct rte_mempool *mp = sp_vsock_dev_pool(dev);
	struct rte_mbuf *pkts[16];
	uint16_t n = 1 + fuzz_take(s, 1) % 16, i, sent;

	for (i = 0; i < n; i++) {
		uint32_t kind = fuzz_take(s, 1), nseg = 1 + kind % 70, len = fuzz_take(s, 2) % 4096;
		struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
		struct vsock_hdr h = { .src_cid = 42, .dst_cid = 2, .src_port = 1024, .dst_port = 5000,
				       .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_RW, .buf_alloc = 65536 };

		if (!m)
			break;
		/* kind & 0x80: a first segment too short for a header (refused by tx_burst) */
		if (!rte_pktmbuf_append(m, kind & 0x80 ? len % 44 : sizeof(h)))
			abort();
		if (!(kind & 0x80))
			vsock_hdr_encode(rte_pktmbuf_mtod(m, void *), &h);
		for (uint32_t k = 1; k < nseg; k++) {
			struct rte_mbuf *seg = rte_pktmbuf_alloc(mp);

			if (!seg)
				break;
			rte_pktmbuf_append(seg, len);
			if (rte_pktmbuf_chain(m, seg)) {
				rte_pktmbuf_free(seg);
				break;
			}
		}
		pkts[i] = m;
	}
	n = i;
	sent = sp_vsock_tx_burst(dev, pkts, n);
	if (sent > n)
		abort();
	rte_pktmbuf_free_bulk(pkts + sent, n - sent);
}

static void run(struct sp_vsock_dev *dev, struct fuzz_script *s)
{
	struct rte_mbuf *pkts[32];
	uint32_t id;

	while (s->left) {
		uint8_t op = (uint8_t)fuzz_take(s, 1);
		int q = op >> 4 & 1 ? TXQ : RXQ, h;

		if ((op >> 5 & 3) == 3)
			q = EVQ;
		switch (op & 0x0f) {
		case 0: /* the device takes what the driver made available */
			for (uint32_t k = 1 + fuzz_take(s, 1) % 16; k; k--) {
				h = dev_take(q);
				if (h < 0 || taken.n[q] == MAX_TAKEN)
					break;
				taken.head[q][taken.n[q]++] = h;
			}
			break;
		case 1: { /* a used entry: a taken head or any id, any len */
			uint32_t sel = fuzz_take(s, 1), len = fuzz_take(s, 4);

			h = sel & 0x80 ? (int)fuzz_take(s, 2) : pick(q, sel);
			if (h >= 0)
				dev_used(q, (uint32_t)h, len);
			break;
		}
		case 2: { /* an rx packet: any header bytes, a len that may or may not agree */
			uint32_t sel = fuzz_take(s, 1), payload = fuzz_take(s, 2);
			const struct virtqueue *vq = fk.vq[RXQ];
			uint8_t *buf;
			uint32_t room;

			h = pick(RXQ, sel);
			if (h < 0)
				break;
			buf = (uint8_t *)(uintptr_t)vq->desc[h].addr;
			room = vq->desc[h].len;
			payload %= room - sizeof(struct vsock_hdr) + 1;
			for (uint32_t k = 0; k < sizeof(struct vsock_hdr); k++)
				buf[k] = (uint8_t)fuzz_take(s, 1);
			if (sel & 0x40) { /* a header that agrees with the buffer */
				struct vsock_hdr hd;

				vsock_hdr_decode(&hd, buf);
				hd.len = payload;
				hd.type = VSOCK_TYPE_STREAM;
				hd.op = VSOCK_OP_RW;
				vsock_hdr_encode(buf, &hd);
			}
			dev_used(RXQ, (uint32_t)h, (uint32_t)sizeof(struct vsock_hdr) + payload +
				 (sel & 0x20 ? fuzz_take(s, 1) : 0));
			break;
		}
		case 3:
			check_rx(pkts, sp_vsock_rx_burst(dev, pkts, (uint16_t)(1 + fuzz_take(s, 1) % 32)));
			break;
		case 4:
			tx_some(dev, s);
			break;
		case 5:
			sp_vsock_tx_free(dev);
			break;
		case 6: { /* an event: any id, any len */
			uint32_t ev = fuzz_take(s, 4), len = fuzz_take(s, 2);

			h = pick(EVQ, 0);
			if (h < 0)
				break;
			memcpy((void *)(uintptr_t)fk.vq[EVQ]->desc[h].addr, &ev,
			       fk.vq[EVQ]->desc[h].len < 4 ? fk.vq[EVQ]->desc[h].len : 4);
			dev_used(EVQ, (uint32_t)h, len);
			break;
		}
		case 7:
			sp_vsock_event_poll(dev, &id);
			break;
		case 8: { /* used->idx jumps: a device that lies about how much it used */
			struct virtqueue *vq = (struct virtqueue *)fk.vq[q];

			fk.used_idx[q] = (uint16_t)(fk.used_idx[q] + fuzz_take(s, 2));
			__atomic_store_n(&vq->used->idx, fk.used_idx[q], __ATOMIC_RELEASE);
			break;
		}
		case 9:
			fk.alive = !fk.alive;
			break;
		case 10: { /* a used slot rewritten behind the index */
			struct virtqueue *vq = (struct virtqueue *)fk.vq[q];
			uint32_t slot = fuzz_take(s, 1);

			vq->used->ring[slot & vq->mask].id = fuzz_take(s, 2);
			vq->used->ring[slot & vq->mask].len = fuzz_take(s, 4);
			break;
		}
		case 11: /* the device's notification wishes */
			*vq_avail_event((struct virtqueue *)fk.vq[q]) = (uint16_t)fuzz_take(s, 2);
			((struct virtqueue *)fk.vq[q])->used->flags = (uint16_t)fuzz_take(s, 1);
			break;
		default:
			break;
		}
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sp_env_cfg cfg = { .name = "fuzzpmd", .cpu = -1, .mem_mb = 256, .quiet = true };

	(void)argc;
	(void)argv;
	if (sp_env_init(&cfg) != 0)
		exit(1);
	/* at the end of a timed run: no DPDK runtime dir left behind */
	atexit(sp_env_fini);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_script s = { data, size };
	uint64_t features = 1ull << VIRTIO_F_VERSION_1;
	uint32_t cfg = fuzz_take(&s, 1);
	struct sp_vsock_dev *dev;

	if (cfg & 1)
		features |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	if (cfg & 2)
		features |= 1ull << VIRTIO_F_IN_ORDER;
	memset(&taken, 0, sizeof(taken));
	dev = sp_vsock_dev_create_on("vsock_fz", fake_open(features), "queue_size=64,pool_size=1024");
	if (!dev)
		abort();
	run(dev, &s);
	/* the device stops lying; whatever it did, the driver's books must balance */
	fk.alive = true;
	sp_vsock_tx_free(dev);
	check_accounting(dev);
	sp_vsock_dev_destroy(dev);
	return 0;
}

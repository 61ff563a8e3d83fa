/* SPDX-License-Identifier: MIT */
/*
 * sp-vp-probe: the virtio-pci transport on its own, inside a guest, before
 * any device code: take a virtio device from vfio-pci, negotiate features,
 * program its queues and start it. For a vsock device (--id 19) with
 * --connect PORT it also opens one connection to the host (CID 2) by hand:
 * rx buffers posted, a REQUEST on the tx queue, the RESPONSE awaited, then RST.
 *
 *   sp-vp-probe --pci 0000:00:03.0 --id 19 [--connect 1234] [--qsize 128] [-- EAL args]
 *
 * Prints "probe: ..." lines and ends with "probe: PASS" (exit 0) or one error (exit 1).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_memzone.h>

#include "sp_env.h"
#include "virtio_pci.h"
#include "virtqueue.h"
#include "vsock_proto.h"

#define NQ 3
#define BUF 4096

struct probe_q {
	struct virtqueue vq;
	struct vq_slot slots[VQ_MAX_SIZE / 64];
	const struct rte_memzone *ring;
};

static struct probe_q q[NQ];
static const struct rte_memzone *bufs; /* NQ * num buffers of BUF bytes */

static int fail(const char *what)
{
	printf("probe: FAIL %s\n", what);
	return 1;
}

static void post(struct virtqueue *vq, void *va, uint64_t iova, uint32_t len, bool writable)
{
	int head = vq_chain_alloc(vq, 1);

	vq->desc[head].addr = iova;
	vq->desc[head].len = len;
	vq_chain_done(vq, (uint16_t)head, 1, writable ? VRING_DESC_F_WRITE : 0, len, va);
}

static void send_ctrl(struct virtio_transport *t, uint8_t *buf, uint64_t iova, uint64_t cid,
		      uint32_t port, uint16_t op)
{
	struct vsock_hdr h = {
		.src_cid = cid, .dst_cid = VSOCK_HOST_CID, .src_port = 50000, .dst_port = port,
		.type = VSOCK_TYPE_STREAM, .op = op, .buf_alloc = VSOCK_DEFAULT_BUF_ALLOC,
	};

	vsock_hdr_encode(buf, &h);
	post(&q[1].vq, buf, iova, sizeof(h), false);
	vq_publish(&q[1].vq);
	if (vq_kick_prepare(&q[1].vq))
		t->ops->notify(t, 1);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pci", required_argument, NULL, 'p' }, { "id", required_argument, NULL, 'i' },
		{ "connect", required_argument, NULL, 'c' }, { "qsize", required_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	struct sp_env_cfg cfg = { .name = "vp-probe", .cpu = -1, .mem_mb = 64 };
	const char *pci = NULL;
	unsigned int id = 19, port = 0, qsize = 128, i, n;
	struct virtio_transport *t;
	uint64_t feat, cid = 0, deadline;
	uint8_t *tx_buf;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p': pci = optarg; break;
		case 'i': id = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'c': port = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'q': qsize = (unsigned int)strtoul(optarg, NULL, 0); break;
		default: return 2;
		}
	}
	if (!pci || qsize == 0 || qsize > VQ_MAX_SIZE / 64 || (qsize & (qsize - 1))) {
		fprintf(stderr, "usage: sp-vp-probe --pci ADDR [--id N] [--connect PORT] [--qsize N] [-- EAL args]\n");
		return 2;
	}
	cfg.extra_argc = argc - optind;
	cfg.extra_argv = argv + optind;
	if (sp_env_init(&cfg))
		return 1;
	printf("probe: EAL up, IOVA mode %s\n", rte_eal_iova_mode() == RTE_IOVA_PA ? "PA" : "VA");

	t = virtio_pci_transport_open(pci, (uint16_t)id);
	if (!t) {
		printf("probe: FAIL open %s\n", pci);
		sp_env_fini();
		return 1;
	}
	feat = t->ops->get_features(t);
	printf("probe: device found: %s, device features 0x%llx\n", t->name, (unsigned long long)feat);
	if (t->ops->set_features(t, feat & ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX))) < 0) {
		rc = fail("features refused");
		goto out;
	}
	printf("probe: features negotiated, status 0x%x\n", t->ops->get_status(t));
	if (id == VIRTIO_ID_VSOCK) {
		if (t->ops->read_config(t, 0, &cid, sizeof(cid))) {
			rc = fail("device config unreadable");
			goto out;
		}
		cid = rte_le_to_cpu_64(cid);
		printf("probe: guest CID %llu (device config)\n", (unsigned long long)cid);
	}

	/* page-aligned BUF-sized buffers never straddle a page: each is IOVA-contiguous */
	bufs = rte_memzone_reserve_aligned("vp_bufs", (size_t)NQ * qsize * BUF, SOCKET_ID_ANY, 0, BUF);
	if (!bufs) {
		rc = fail("no DPDK memory for buffers");
		goto out;
	}
	for (i = 0; i < NQ; i++) {
		char name[32];

		snprintf(name, sizeof(name), "vp_ring%u", i);
		q[i].ring = rte_memzone_reserve_aligned(name, vq_ring_size(qsize), SOCKET_ID_ANY,
							RTE_MEMZONE_IOVA_CONTIG, 4096);
		if (!q[i].ring || vq_init(&q[i].vq, q[i].ring->addr, qsize, q[i].slots,
					  feat & (1ull << VIRTIO_RING_F_EVENT_IDX), false)) {
			rc = fail("no ring memory");
			goto out;
		}
	}
	/* rx (0) and, for vsock, event (2) queues full of device-writable buffers before the start */
	for (i = 0; i < (id == VIRTIO_ID_VSOCK ? NQ : 1u); i += 2) {
		for (n = 0; n < qsize; n++) {
			size_t off = ((size_t)i * qsize + n) * BUF;

			uint8_t *va = (uint8_t *)bufs->addr + off;

			post(&q[i].vq, va, rte_mem_virt2iova(va), BUF, true);
		}
		vq_publish(&q[i].vq);
	}
	for (i = 0; i < NQ; i++)
		if (t->ops->setup_queue(t, (uint16_t)i, &q[i].vq)) {
			rc = fail("queue setup");
			goto out;
		}
	t->ops->set_status(t, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			   VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	printf("probe: queues programmed, DRIVER_OK, status 0x%x\n", t->ops->get_status(t));
	if ((t->ops->get_status(t) & 0x40) || !(t->ops->get_status(t) & VIRTIO_STATUS_DRIVER_OK)) {
		rc = fail("device needs a reset or dropped DRIVER_OK");
		goto out;
	}
	if (id != VIRTIO_ID_VSOCK || !port) {
		rc = 0;
		goto out;
	}

	tx_buf = (uint8_t *)bufs->addr + (size_t)qsize * BUF;
	send_ctrl(t, tx_buf, rte_mem_virt2iova(tx_buf), cid, port, VSOCK_OP_REQUEST);
	deadline = rte_get_tsc_cycles() + 10 * rte_get_tsc_hz();
	while (rte_get_tsc_cycles() < deadline && t->ops->is_alive(t)) {
		enum vq_used_fault f;
		struct vsock_hdr h;
		uint32_t len;
		void *buf;
		int r;

		while (vq_dequeue(&q[1].vq, &buf, &len, &f) > 0)
			; /* the REQUEST went out */
		r = vq_dequeue(&q[0].vq, &buf, &len, &f);
		if (r < 0) {
			rc = fail("device returned a bad used entry");
			goto out;
		}
		if (r == 0)
			continue;
		vsock_hdr_decode(&h, buf);
		printf("probe: rx %s from %llu:%u to %llu:%u\n", vsock_op_name(h.op),
		       (unsigned long long)h.src_cid, h.src_port, (unsigned long long)h.dst_cid, h.dst_port);
		if (h.op == VSOCK_OP_RESPONSE && h.dst_cid == cid && h.dst_port == 50000) {
			printf("probe: connected to %u:%u, peer buf_alloc %u\n", VSOCK_HOST_CID, port, h.buf_alloc);
			send_ctrl(t, tx_buf, rte_mem_virt2iova(tx_buf), cid, port, VSOCK_OP_RST);
			rte_delay_ms(100);
			rc = 0;
			goto out;
		}
		if (h.op == VSOCK_OP_RST) {
			rc = fail("connection refused (RST)");
			goto out;
		}
	}
	rc = fail("no RESPONSE within 10 s");
out:
	t->ops->close(t);
	if (rc == 0)
		printf("probe: PASS\n");
	sp_env_fini();
	return rc;
}

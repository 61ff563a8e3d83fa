/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a hostile driver against the backend. The input is the
 * driver's memory: two regions (contiguous in guest addresses, separate
 * allocations here, so ASan sees a buffer that spans them) holding the tx and
 * rx rings and every buffer, plus a few bytes of set-up. The loop is the
 * backend's own (main.c's poll_tx/poll_rx): chains popped and validated
 * (vq.c), headers parsed (pkt.c), packets handed to the host logic (host*.c),
 * replies written into rx chains. Between passes the driver "moves" its avail
 * indices by what the input says.
 *
 * Invariants besides "no crash, no out-of-bounds": every used element names a
 * head inside the ring with a len within the chain it came from; the host's
 * connection count stays within max_conns.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"

#define RING 16
#define REGION (16 * 1024)
#define GPA0 0x4000ull            /* small: a 16-bit field in the input can hit it */
#define MAX_CONNS 4

/* Layout inside region 0: tx rings, rx rings, then buffers (anywhere in either region). */
#define TX_DESC 0x000
#define TX_AVAIL 0x100
#define TX_USED 0x140
#define RX_DESC 0x200
#define RX_AVAIL 0x300
#define RX_USED 0x340

struct fuzz_dev {
	struct vb_mem mem;
	struct vb_vq tx, rx;
	struct host host;
	struct vb_chain rx_chain;
	uint8_t *region[2];
};

static void check_used(const struct vb_vq *vq, uint16_t from)
{
	for (uint16_t i = from; i != vq->last_used_idx; i++) {
		const struct vring_used_elem *e = &vq->used->ring[i & (vq->size - 1)];

		if (e->id >= vq->size)
			abort();
	}
}

static const struct vb_chain *rx_get(void *ctx)
{
	struct fuzz_dev *d = ctx;

	while (vb_vq_avail_count(&d->rx)) {
		enum vb_chain_fault f = vb_vq_pop(&d->rx, &d->mem, true, &d->rx_chain);

		if (f == VB_CHAIN_OK)
			return &d->rx_chain;
		if (f != VB_CHAIN_BAD_HEAD)
			vb_vq_push(&d->rx, d->rx_chain.head, 0);
	}
	return NULL;
}

static void rx_put(void *ctx, const struct vb_chain *c, uint32_t written)
{
	struct fuzz_dev *d = ctx;

	if (written > c->len)
		abort();   /* the host claims more than the buffer holds */
	vb_vq_push(&d->rx, c->head, written);
}

static void poll_tx(struct fuzz_dev *d)
{
	uint16_t n = vb_vq_avail_count(&d->tx), from = d->tx.last_used_idx;
	struct vb_chain c;
	struct vsock_hdr h;

	for (uint16_t i = 0; i < n; i++) {
		enum vb_chain_fault f = vb_vq_pop(&d->tx, &d->mem, false, &c);
		enum vb_pkt_fault pf;

		if (f != VB_CHAIN_OK) {
			if (f != VB_CHAIN_BAD_HEAD)
				vb_vq_push(&d->tx, c.head, 0);
			continue;
		}
		pf = vb_pkt_parse(&c, &h);
		if (pf == VB_PKT_OK)
			host_recv(&d->host, &h, &c);
		else
			host_recv_bad(&d->host, &h, pf);
		vb_vq_push(&d->tx, c.head, 0);
	}
	vb_vq_flush(&d->tx);
	check_used(&d->tx, from);
}

static void poll_rx(struct fuzz_dev *d)
{
	struct host_tx_ops ops = { .get = rx_get, .put = rx_put, .ctx = d };
	uint16_t from = d->rx.last_used_idx;

	if (!host_has_output(&d->host))
		return;
	host_output(&d->host, &ops);
	vb_vq_flush(&d->rx);
	check_used(&d->rx, from);
}

static void vq_setup(struct vb_vq *vq, uint8_t *base, uint32_t desc, uint32_t avail, uint32_t used,
		     uint8_t flags)
{
	memset(vq, 0, sizeof(*vq));
	vq->desc = (struct vring_desc *)(base + desc);
	vq->avail = (struct vring_avail *)(base + avail);
	vq->used = (struct vring_used *)(base + used);
	vq->size = RING;
	vq->event_idx = flags & 1;
	vq->indirect = flags & 2;
	vq->callfd = -1;
	vq->kickfd = -1;
	/* The device starts where the driver's avail idx was at start-up (SET_VRING_BASE). */
	vq->last_avail_idx = vq->last_used_idx = vq->used->idx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_dev d;
	struct host_cfg cfg = { .guest_cid = 3, .buf_alloc = 4096, .max_conns = MAX_CONNS,
				.close_timeout_ms = 10, .ctl_port = 9999 };
	uint8_t setup[8];
	size_t n;

	/* Set-up bytes first: modes, features, the driver's avail moves between passes. */
	if (size < sizeof(setup))
		return -1;
	memcpy(setup, data, sizeof(setup));
	data += sizeof(setup);
	size -= sizeof(setup);

	for (int i = 0; i < 2; i++) {
		d.region[i] = malloc(REGION);
		memset(d.region[i], 0, REGION);
		n = size > REGION ? REGION : size;
		memcpy(d.region[i], data, n);
		data += n;
		size -= n;
	}
	d.mem.nregions = 2;
	d.mem.r[0] = (struct vb_mem_region){ .gpa = GPA0, .size = REGION, .hva = (uintptr_t)d.region[0] };
	d.mem.r[1] = (struct vb_mem_region){ .gpa = GPA0 + REGION, .size = REGION,
					     .hva = (uintptr_t)d.region[1] };
	vq_setup(&d.tx, d.region[0], TX_DESC, TX_AVAIL, TX_USED, setup[0]);
	vq_setup(&d.rx, d.region[0], RX_DESC, RX_AVAIL, RX_USED, setup[0] >> 2);
	cfg.mode = setup[0] & 0x10 ? HOST_ECHO : HOST_SINK;
	cfg.verify = setup[0] & 0x20;
	cfg.listen_port = setup[0] & 0x40 ? 1234 : 0;
	host_init(&d.host, &cfg);
	d.host.refuse = setup[0] & 0x80;

	/* Four passes; before each, the driver's avail idx moves (maybe far: a lying driver). */
	for (int pass = 0; pass < 4; pass++) {
		uint8_t mv = setup[1 + pass];

		d.tx.avail->idx = (uint16_t)(d.tx.avail->idx + (mv & 0x0f) + (mv & 0x80 ? 0x7000 : 0));
		d.rx.avail->idx = (uint16_t)(d.rx.avail->idx + (mv >> 4 & 0x07));
		poll_tx(&d);
		host_tick(&d.host, (uint64_t)pass * setup[5]);
		poll_rx(&d);
		if (d.host.nconns > MAX_CONNS)
			abort();
		vb_vq_kicks(&d.tx, pass & 1);
	}
	if (getenv("SP_FUZZ_DEBUG"))
		fprintf(stderr, "conns %u accepted %llu rx_bytes %llu tx_pkts %llu verify_errors %llu bad_chains tx %llu rx %llu\n",
			d.host.nconns, (unsigned long long)d.host.n.conns_accepted,
			(unsigned long long)d.host.n.rx_bytes, (unsigned long long)d.host.n.tx_pkts,
			(unsigned long long)d.host.n.verify_errors,
			(unsigned long long)(d.tx.faults[VB_CHAIN_BAD_ADDR] + d.tx.faults[VB_CHAIN_BAD_HEAD]),
			(unsigned long long)(d.rx.faults[VB_CHAIN_BAD_ADDR] + d.rx.faults[VB_CHAIN_BAD_HEAD]));
	if (setup[6] & 1)
		host_reset(&d.host);
	host_fini(&d.host);
	free(d.region[0]);
	free(d.region[1]);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a hostile driver against the backend. The input is the
 * driver's memory: two regions (contiguous in guest addresses, separate
 * allocations here, so ASan sees a buffer that spans them) holding the tx and
 * rx rings and every buffer, plus a few bytes of set-up. The tx side is the
 * backend's own burst (txq.c's vb_txq_poll, as main.c calls it): chains
 * popped and validated (vq.c), headers parsed (pkt.c), packets handed to the
 * host logic (host*.c). The rx side is main.c's poll_rx (static there) over
 * the same calls: replies written into rx chains. Between passes the driver "moves" its avail
 * indices by what the input says.
 *
 * Set-up bytes: [0] modes and features, [1..4] the avail moves of each pass,
 * [5] the clock step, [6] bit 0 reset at the end. [7] was free in the first
 * format: a high nibble of 0x5 (no seed of that format has one) selects the
 * second, whose low bits ask for a 64-entry ring (a burst of several groups),
 * --no-checksum and --msg-size 16 + [6] / 2; other values keep the first.
 *
 * Invariants besides "no crash, no out-of-bounds": every used element names a
 * head inside the ring with a len within the chain it came from; a tx burst
 * gives back every chain it took but one with a bad head, and counts each
 * fault once; the host's connection count stays within max_conns.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "txq.h"

#define REGION (16 * 1024)
#define GPA0 0x4000ull            /* small: a 16-bit field in the input can hit it */
#define MAX_CONNS 4

/* setup[7] of the second format */
#define SETUP_V2(b) (((b) >> 4) == 0x5)
#define SETUP_RING64 0x1
#define SETUP_NO_CHECKSUM 0x2
#define SETUP_MSG_SIZE 0x4

/* Ring layouts inside region 0 (buffers go anywhere in either region). */
struct ring_layout {
	uint16_t size;
	uint32_t tx_desc, tx_avail, tx_used, rx_desc, rx_avail, rx_used;
};

static const struct ring_layout ring16 = { 16, 0x000, 0x100, 0x140, 0x200, 0x300, 0x340 };
static const struct ring_layout ring64 = { 64, 0x000, 0x400, 0x500, 0x800, 0xc00, 0xd00 };

struct fuzz_dev {
	struct vb_mem mem;
	struct vb_vq tx, rx;
	struct host host;
	struct vb_chain rx_chain;
	uint64_t bad_chains;
	uint8_t *region[2];
};

/* What a tx burst published: heads inside the ring, len 0 (we wrote nothing into a readable chain). */
static void check_tx_used(const struct vb_vq *vq, uint16_t from)
{
	for (uint16_t i = from; i != vq->last_used_idx; i++) {
		const struct vring_used_elem *e = &vq->used->ring[i & (vq->size - 1)];

		if (e->id >= vq->size || e->len)
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

	/*
	 * Checked here, not in the used ring afterwards: a driver may point a later
	 * rx buffer at its own used ring, and what it then reads there is its doing.
	 */
	if (c->head >= d->rx.size)
		abort();
	if (written > c->len)
		abort();   /* the host claims more than the buffer holds */
	vb_vq_push(&d->rx, c->head, written);
}

/* Faults of chains taken (a bad avail idx takes none). */
static uint64_t chain_faults(const struct vb_vq *vq)
{
	uint64_t n = 0;

	for (int i = 0; i < VB_CHAIN__MAX; i++)
		n += i == VB_CHAIN_BAD_AVAIL ? 0 : vq->faults[i];
	return n;
}

static void poll_tx(struct fuzz_dev *d)
{
	uint16_t avail = vb_vq_avail_count(&d->tx), from = d->tx.last_used_idx;
	uint64_t faults = chain_faults(&d->tx), bad = d->bad_chains;
	uint64_t bad_heads = d->tx.faults[VB_CHAIN_BAD_HEAD];
	unsigned int n = vb_txq_poll(&d->tx, &d->mem, &d->host, &d->bad_chains);

	if (n != (avail > VB_TXQ_BURST ? VB_TXQ_BURST : avail))
		abort();   /* took more or less than was there */
	if (d->bad_chains - bad != chain_faults(&d->tx) - faults)
		abort();   /* a fault not counted, or counted twice */
	bad_heads = d->tx.faults[VB_CHAIN_BAD_HEAD] - bad_heads;
	if ((uint16_t)(d->tx.last_used_idx - from) != n - bad_heads)
		abort();   /* a chain kept */
	/* (only after a burst: the driver may point an rx buffer at its own used ring) */
	if (n && d->tx.used->idx != d->tx.last_used_idx)
		abort();   /* not published */
	check_tx_used(&d->tx, from);
}

static void poll_rx(struct fuzz_dev *d)
{
	struct host_tx_ops ops = { .get = rx_get, .put = rx_put, .ctx = d };

	if (!host_has_output(&d->host))
		return;
	host_output(&d->host, &ops);
	vb_vq_flush(&d->rx);
}

static void vq_setup(struct vb_vq *vq, uint8_t *base, uint16_t size, uint32_t desc, uint32_t avail,
		     uint32_t used, uint8_t flags)
{
	memset(vq, 0, sizeof(*vq));
	vq->desc = (struct vring_desc *)(base + desc);
	vq->avail = (struct vring_avail *)(base + avail);
	vq->used = (struct vring_used *)(base + used);
	vq->size = size;
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
	const struct ring_layout *l = &ring16;
	uint8_t setup[8], v2 = 0, step = 1;
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
	if (SETUP_V2(setup[7]))
		v2 = setup[7];
	if (v2 & SETUP_RING64) {
		l = &ring64;
		step = 5;   /* moves of up to 75: past a group, a burst, and the ring */
	}
	vq_setup(&d.tx, d.region[0], l->size, l->tx_desc, l->tx_avail, l->tx_used, setup[0]);
	vq_setup(&d.rx, d.region[0], l->size, l->rx_desc, l->rx_avail, l->rx_used, setup[0] >> 2);
	d.bad_chains = 0;
	cfg.no_checksum = v2 & SETUP_NO_CHECKSUM;
	cfg.msg_size = v2 & SETUP_MSG_SIZE ? 16 + setup[6] / 2 : 0;
	cfg.mode = setup[0] & 0x10 ? HOST_ECHO : HOST_SINK;
	cfg.verify = setup[0] & 0x20;
	cfg.listen_port = setup[0] & 0x40 ? 1234 : 0;
	host_init(&d.host, &cfg);
	d.host.refuse = setup[0] & 0x80;

	/* Four passes; before each, the driver's avail idx moves (maybe far: a lying driver). */
	for (int pass = 0; pass < 4; pass++) {
		uint8_t mv = setup[1 + pass];

		d.tx.avail->idx = (uint16_t)(d.tx.avail->idx + (mv & 0x0f) * step + (mv & 0x80 ? 0x7000 : 0));
		d.rx.avail->idx = (uint16_t)(d.rx.avail->idx + (mv >> 4 & 0x07) * step);
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

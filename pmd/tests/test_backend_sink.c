/* SPDX-License-Identifier: MIT */
/*
 * The sink's tx-queue path in-process (vb_txq_poll + host): a fake driver
 * memory with a real split ring. Bad chains and headers inside a burst are
 * refused and given back, the good ones around them counted; and the sink's
 * capacity (packets/s one core absorbs, everything cache-hot) is printed,
 * never asserted. SP_SINK_PKTS sets how many packets the capacity run takes.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>

#include "host.h"
#include "peer.h"
#include "txq.h"

#define GUEST 3
#define QSZ 256
#define GPA 0x10000000ull
#define MEM_SIZE (1u << 20)
#define PKT_OFF 16384u
#define BIG_OFF (512u * 1024)       /* 64 KiB packets: 16 pieces of 4 KiB, shared by every chain */
#define PKT_STRIDE 128u
#define RX_CAP 4096u

static uint8_t *mem;
static struct vb_mem vm;
static struct vb_vq vq;
static struct host h;
static uint64_t bad_chains;

static uint8_t rx_buf[RX_CAP];
static struct vb_chain rx_chain;
static unsigned int rx_sent;

static const struct vb_chain *rx_get(void *ctx)
{
	(void)ctx;
	rx_chain = (struct vb_chain){ .nseg = 1, .len = RX_CAP };
	rx_chain.seg[0] = (struct vb_seg){ rx_buf, RX_CAP };
	return &rx_chain;
}

static void rx_put(void *ctx, const struct vb_chain *c, uint32_t written)
{
	(void)ctx;
	(void)c;
	(void)written;
	rx_sent++;
}

static const struct host_tx_ops rx_ops = { .get = rx_get, .put = rx_put };

static uint64_t gpa_of(const void *p)
{
	return GPA + (uint64_t)((const uint8_t *)p - mem);
}

static uint8_t *pkt(unsigned int i)
{
	return mem + PKT_OFF + i * PKT_STRIDE;
}

/* Packet i: RW with len payload bytes (a 64-byte message with its probe) in descriptor i. */
static void put_rw(unsigned int i, uint32_t len, uint64_t seq)
{
	struct vsock_hdr hd = { .src_cid = GUEST, .dst_cid = 2, .src_port = 5000, .dst_port = 1234,
				.len = len, .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_RW,
				.buf_alloc = 262144 };
	uint64_t stamp = 1;

	vsock_hdr_encode(pkt(i), &hd);
	memset(pkt(i) + 44, 0x5a, len);
	memcpy(pkt(i) + 44, &seq, 8);
	memcpy(pkt(i) + 52, &stamp, 8);
	vq.desc[i] = (struct vring_desc){ .addr = gpa_of(pkt(i)), .len = 44 + len };
}

static void setup(void)
{
	struct host_cfg cfg = { .mode = HOST_SINK, .guest_cid = GUEST, .buf_alloc = 256 * 1024,
				.max_conns = 16, .close_timeout_ms = 1000, .msg_size = 64 };
	struct vsock_hdr req = { .src_cid = GUEST, .dst_cid = 2, .src_port = 5000, .dst_port = 1234,
				 .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_REQUEST, .buf_alloc = 262144 };

	mem = aligned_alloc(4096, MEM_SIZE);
	cr_assert_not_null(mem);
	memset(mem, 0, MEM_SIZE);
	vm = (struct vb_mem){ .nregions = 1, .r[0] = { .gpa = GPA, .size = MEM_SIZE, .hva = (uintptr_t)mem } };
	vq = (struct vb_vq){ .desc = (struct vring_desc *)mem, .avail = (struct vring_avail *)(mem + 4096),
			     .used = (struct vring_used *)(mem + 8192), .size = QSZ, .callfd = -1, .kickfd = -1 };
	for (unsigned int i = 0; i < QSZ; i++)
		vq.avail->ring[i] = (uint16_t)i;
	bad_chains = 0;
	host_init(&h, &cfg);
	host_recv(&h, &req, NULL);
	cr_assert_eq(host_output(&h, &rx_ops), 1, "RESPONSE");
	cr_assert_eq(h.n.conns_accepted, 1);
}

static void teardown(void)
{
	host_fini(&h);
	free(mem);
}

TestSuite(backend_sink, .init = setup, .fini = teardown);

Test(backend_sink, bad_chains_and_headers_inside_a_burst_are_refused_good_ones_counted)
{
	for (unsigned int i = 0; i < 16; i++)
		put_rw(i, 64, i);
	/* 3: outside the driver's memory; 5: a chain that loops; 7: op 99; 9: len beyond the buffer */
	vq.desc[3].addr = GPA + MEM_SIZE;
	vq.desc[5].flags = VRING_DESC_F_NEXT;
	vq.desc[5].next = 5;
	vq.desc[5].len = 0;     /* empty pieces: only the length bound can end it */
	((struct vsock_hdr *)pkt(7))->op = 99;
	((struct vsock_hdr *)pkt(9))->len = 1000;
	/* 10: writable where the device reads */
	vq.desc[10].flags = VRING_DESC_F_WRITE;
	vq.avail->idx = 16;
	cr_assert_eq(vb_txq_poll(&vq, &vm, &h, &bad_chains), 16);
	cr_assert_eq(bad_chains, 3, "3, 5 and 10 are bad chains");
	cr_assert_eq(vq.faults[VB_CHAIN_BAD_ADDR], 1);
	cr_assert_eq(vq.faults[VB_CHAIN_TOO_LONG], 1);
	cr_assert_eq(vq.faults[VB_CHAIN_WRONG_DIR], 1);
	cr_assert_eq(h.n.bad_hdr[VB_PKT_BAD_OP], 1);
	cr_assert_eq(h.n.bad_hdr[VB_PKT_LEN_MISMATCH], 1);
	/* every chain goes back, in order, the refused ones with length 0 */
	cr_assert_eq(vq.used->idx, 16);
	for (unsigned int i = 0; i < 16; i++) {
		cr_assert_eq(vq.used->ring[i].id, i);
		cr_assert_eq(vq.used->ring[i].len, 0);
	}
	cr_assert_eq(h.n.rx_bytes, 11 * 64, "0-2, 4, 6, 8, 11-15");
	cr_assert_eq(h.n.rx_pkts, 1 + 13, "the REQUEST and every chain that held a header");
	/* a bad header naming a connection resets it */
	cr_assert(TAILQ_FIRST(&h.conns)->tx_pending & CONN_TX_RST);
}

Test(backend_sink, a_burst_takes_at_most_the_burst_and_the_rest_waits)
{
	for (unsigned int i = 0; i < QSZ; i++)
		put_rw(i, 64, i);
	vq.avail->idx = 100;
	cr_assert_eq(vb_txq_poll(&vq, &vm, &h, &bad_chains), VB_TXQ_BURST);
	cr_assert_eq(vb_txq_poll(&vq, &vm, &h, &bad_chains), 100 - VB_TXQ_BURST);
	cr_assert_eq(vb_txq_poll(&vq, &vm, &h, &bad_chains), 0);
	cr_assert_eq(h.n.rx_bytes, 100 * 64);
	cr_assert_eq(h.probe.messages, 100);
	cr_assert_eq(h.probe.seq_errors, 0);
	cr_assert_eq(vq.used->idx, 100);
}

/* A capacity run: wall time and TSC cycles from its start. */
struct run {
	double s0, secs;
	uint64_t t0, cyc;
};

static void run_start(struct run *r)
{
	r->s0 = sp_peer_now();
	r->t0 = rte_rdtsc();
}

/* Ends the run, which the sink must have taken whole: no bad chain, no credit broken, every byte. */
static void run_end(struct run *r, uint64_t pkts, uint32_t pkt_bytes)
{
	r->cyc = rte_rdtsc() - r->t0;
	r->secs = sp_peer_now() - r->s0;
	cr_assert_eq(bad_chains, 0);
	cr_assert_eq(h.n.credit_violations, 0);
	cr_assert_eq(h.n.rx_bytes, pkts * pkt_bytes);
}

static void capacity(const char *what)
{
	const char *env = getenv("SP_SINK_PKTS");
	uint64_t want = env ? strtoull(env, NULL, 0) : 1000000, done = 0;
	struct run r;

	for (unsigned int i = 0; i < QSZ; i++)
		put_rw(i, 64, 0);
	run_start(&r);
	while (done < want) {
		unsigned int n;

		/* the "driver" offers the whole ring again; the sink takes it burst by burst */
		__atomic_store_n(&vq.avail->idx, (uint16_t)(vq.avail->idx + QSZ), __ATOMIC_RELEASE);
		while ((n = vb_txq_poll(&vq, &vm, &h, &bad_chains))) {
			done += n;
			if (host_has_output(&h))
				host_output(&h, &rx_ops);
		}
	}
	run_end(&r, done, 64);
	cr_assert_eq(h.probe.messages, done);
	cr_assert_gt(rx_sent, 1, "credit went back");
	fprintf(stderr, "sink capacity (64 B RW, %s, one core, cache-hot): %.2f Mpkt/s, %.0f TSC cycles/pkt, %.1f ns/pkt\n",
		what, (double)done / r.secs / 1e6, (double)r.cyc / (double)done, r.secs * 1e9 / (double)done);
}

Test(backend_sink, capacity_64_byte_packets)
{
	capacity("crc32c");
}

Test(backend_sink, capacity_64_byte_packets_no_checksum)
{
	h.cfg.no_checksum = true;
	capacity("no checksum");
}

/* 64 KiB packets as the driver sends them: a header buffer, then 16 mbuf pieces of 4 KiB. */
static void capacity_64k(const char *what)
{
	enum { SEGS = 16, CHAINS = QSZ / (SEGS + 1) };
	const char *env = getenv("SP_SINK_PKTS");
	uint64_t want = env ? strtoull(env, NULL, 0) / 64 : 20000, done = 0;
	struct vsock_hdr hd = { .src_cid = GUEST, .dst_cid = 2, .src_port = 5000, .dst_port = 1234,
				.len = SEGS * 4096, .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_RW,
				.buf_alloc = 262144 };
	struct run r;

	struct conn *c = TAILQ_FIRST(&h.conns);

	h.cfg.msg_size = 65536;
	/* a ring of 64 KiB packets is 960 KiB: a buffer that takes several rings between updates */
	c->cr.buf_alloc = 1u << 26;
	c->credit_end = c->rx_cnt + c->cr.buf_alloc;
	for (unsigned int i = 0; i < CHAINS; i++) {
		unsigned int d = i * (SEGS + 1);

		vsock_hdr_encode(pkt(i), &hd);
		vq.desc[d] = (struct vring_desc){ .addr = gpa_of(pkt(i)), .len = 44, .flags = VRING_DESC_F_NEXT,
						  .next = (uint16_t)(d + 1) };
		for (unsigned int k = 1; k <= SEGS; k++)
			vq.desc[d + k] = (struct vring_desc){ .addr = GPA + BIG_OFF + (k - 1) * 4096, .len = 4096,
							      .flags = k < SEGS ? VRING_DESC_F_NEXT : 0,
							      .next = (uint16_t)(d + k + 1) };
	}
	memset(mem + BIG_OFF, 0x5a, SEGS * 4096);
	run_start(&r);
	while (done < want) {
		unsigned int n;

		for (unsigned int i = 0; i < CHAINS; i++)
			vq.avail->ring[(vq.avail->idx + i) % QSZ] = (uint16_t)(i * (SEGS + 1));
		__atomic_store_n(&vq.avail->idx, (uint16_t)(vq.avail->idx + CHAINS), __ATOMIC_RELEASE);
		while ((n = vb_txq_poll(&vq, &vm, &h, &bad_chains)))
			done += n;
		/* the fake driver ignores credit: hand it a fresh window every ring */
		host_conn_mark(&h, c, CONN_TX_CREDIT);
		host_output(&h, &rx_ops);
	}
	run_end(&r, done, 65536);
	fprintf(stderr, "sink capacity (64 KiB RW in 17 buffers, %s, one core, cache-hot): %.0f kpkt/s = %.1f Gbit/s, "
		"%.0f TSC cycles/pkt\n", what, (double)done / r.secs / 1e3, (double)done * 65536 * 8 / r.secs / 1e9,
		(double)r.cyc / (double)done);
}

Test(backend_sink, capacity_64_kib_packets)
{
	capacity_64k("crc32c");
}

Test(backend_sink, capacity_64_kib_packets_no_checksum)
{
	h.cfg.no_checksum = true;
	capacity_64k("no checksum");
}

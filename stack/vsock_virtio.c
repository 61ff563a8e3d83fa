/* SPDX-License-Identifier: MIT */
/*
 * The virtio transport for vsock streams (≈ virtio_transport_common.c and the
 * guest half of virtio_transport.c, Linux 6.12) on the pmd/ poll-mode driver.
 *
 * Tx: packets are built straight from the caller's iovecs into mbufs from the
 * device's pool, header first with the socket's current buf_alloc and
 * fwd_cnt, and wait in txq (≈ send_pkt_queue) until flush() hands them all to
 * sp_vsock_tx_burst(): one avail-index update and one kick per flush. What the
 * ring cannot take stays queued, in order, for the next flush, as the kernel's
 * send worker keeps what the virtqueue refuses.
 *
 * Rx: sp_poll() -> progress() takes packets from the rx ring and dispatches
 * them by state: RESPONSE/RST while connecting; SHUTDOWN, RST, CREDIT_UPDATE,
 * CREDIT_REQUEST and RW while connected; RST while closing. Every packet
 * updates what we know of the peer's credit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_mbuf.h>

#include "virtio_vsock.h"
#include "vsock.h"
#include "vsock_proto.h"

#define RX_BURST 32

/* Per socket (≈ struct virtio_vsock_sock). */
struct virtio_vsock_sock {
	struct vsock_sock *vsk;
	struct vsock_credit cr;         /* tx_cnt, peer_*, fwd_cnt, last_fwd_cnt, buf_alloc, rx_bytes */
	uint64_t bytes_unsent;          /* RW payload not yet used by the device (SIOCOUTQ) */
	uint8_t *rx_buf;                /* received payload not yet read: rx_buf[rx_head ..+ rx_bytes] */
	uint32_t rx_cap, rx_head;
	/*
	 * The RW header of this connection in wire order, built once: only len,
	 * buf_alloc and fwd_cnt differ between packets. tmpl_cid is the device
	 * CID it was built for (0: not built), so a reset's new CID rebuilds it.
	 */
	struct vsock_hdr tmpl;
	uint64_t tmpl_cid;
};

/*
 * A packet from when it is queued until the device has used it (what
 * SIOCOUTQ counts); its mbuf sits at the same index in txq_m while queued.
 */
struct txq_ent {
	struct virtio_vsock_sock *vvs;  /* NULL for packets of no socket (RST replies) or gone ones */
	uint32_t payload;
	uint16_t nseg;                  /* descriptors it takes */
};

/* Mbufs taken from the pool in bulk: a packet costs no pool call of its own. */
#define TX_STASH 32

static struct {
	struct sp_vsock_dev *dev;
	struct rte_mempool *pool;
	struct rte_mempool *big_pool;   /* large segments for the rest of a big packet, or NULL */
	uint64_t cid;                   /* the device's CID: the src_cid of every header */
	/*
	 * One FIFO of packets: [if_head, txq_h) are on the ring, not yet known
	 * to be used; [txq_h, txq_h + txq_n) wait for the ring (send_pkt_queue).
	 * The mbufs lie apart in txq_m, so that flush hands them to tx_burst as
	 * they lie. A flush moves txq_h and a reap moves if_head: nothing is
	 * copied per packet.
	 */
	struct rte_mbuf **txq_m;
	struct txq_ent *txq;
	unsigned int if_head, txq_h, txq_n, txq_cap;
	unsigned int txq_desc;          /* descriptors the queued packets need (mbuf segments) */
	unsigned int if_desc;           /* descriptors the packets on the ring hold */
	unsigned int tx_room;           /* free ring descriptors when last looked */
	unsigned int ring_size;
	bool dead;
	unsigned int tx_allow;          /* mbufs a send may still take before the pool is counted again */
	struct rte_mbuf *stash[TX_STASH];
	unsigned int stash_n;
	struct vsock_virtio_stats st;
} vv;

static inline struct virtio_vsock_sock *vvs_of(struct vsock_sock *vsk)
{
	return vsk->trans;
}

/* --- tx --- */

static unsigned int vv_flush(void);

/*
 * The ring bounds a burst: when a long queue (half a ring or more) comes to
 * outgrow what the ring can take, what it has goes now, so the device works
 * while we build the rest. Below that, nothing leaves before the caller's
 * flush: a short vector on a busy ring is one burst (a burst of its own
 * costs a barrier), and a queue that is past the ring already (a backlog
 * waiting for room) leaves at the flush too, not packet by packet. tx_room
 * is the queue length at which to look again.
 */
static void txq_ring_bound(unsigned int nseg)
{
	if (likely(vv.txq_desc + nseg <= vv.tx_room))
		return;
	if (vv.txq_desc > vv.tx_room)
		return;
	if (vv.txq_desc + nseg < vv.ring_size / 2) {
		vv.tx_room = vv.ring_size / 2;
		return;
	}
	vv.tx_room = sp_vsock_tx_free(vv.dev);
	if (vv.txq_n && vv.tx_room && vv.txq_desc + nseg > vv.tx_room) {
		vv_flush();
		vv.tx_room = sp_vsock_tx_free(vv.dev);
	}
}

/* Room at the FIFO's end: slide it down when half of the array lies before it, else grow. */
static int txq_grow(void)
{
	unsigned int cap = vv.txq_cap ? 2 * vv.txq_cap : 1024;
	unsigned int live = vv.txq_h + vv.txq_n - vv.if_head;
	struct rte_mbuf **qm;
	struct txq_ent *q;

	if (vv.if_head && vv.if_head >= vv.txq_cap / 2) {
		memmove(vv.txq_m, vv.txq_m + vv.if_head, live * sizeof(*vv.txq_m));
		memmove(vv.txq, vv.txq + vv.if_head, live * sizeof(*vv.txq));
		vv.txq_h -= vv.if_head;
		vv.if_head = 0;
		return 0;
	}
	qm = realloc(vv.txq_m, cap * sizeof(*qm));
	if (!qm)
		return -ENOMEM;
	vv.txq_m = qm;
	q = realloc(vv.txq, cap * sizeof(*q));
	if (!q)
		return -ENOMEM;
	vv.txq = q;
	vv.txq_cap = cap;
	return 0;
}

static int txq_push(struct rte_mbuf *m, struct virtio_vsock_sock *vvs, uint32_t payload)
{
	unsigned int end;

	txq_ring_bound(m->nb_segs);
	if (unlikely(vv.txq_h + vv.txq_n == vv.txq_cap) && txq_grow())
		return -ENOMEM;
	end = vv.txq_h + vv.txq_n++;
	vv.txq_m[end] = m;
	vv.txq[end] = (struct txq_ent){ vvs, payload, m->nb_segs };
	vv.txq_desc += m->nb_segs;
	if (vvs)
		vvs->bytes_unsent += payload;
	return 0;
}

/*
 * Packets the device has used leave the in-flight list. The driver reclaims
 * in ring order, so the oldest entries are done while the rest still account
 * for in_use descriptors.
 */
static void vv_reap_to(unsigned int in_use)
{
	while (vv.if_head < vv.txq_h && vv.if_desc - vv.txq[vv.if_head].nseg >= in_use) {
		const struct txq_ent *e = &vv.txq[vv.if_head++];

		if (e->vvs)
			e->vvs->bytes_unsent -= e->payload;
		vv.if_desc -= e->nseg;
	}
	/* all done: start again at the array's (warm) beginning */
	if (vv.if_head == vv.txq_h && !vv.txq_n)
		vv.if_head = vv.txq_h = 0;
}

static void vv_stash_drain(void);

/*
 * Reclaims first: for SIOCOUTQ and the drain, which must see the latest.
 * Once nothing is queued or in flight the stash goes back too: an idle
 * transport holds no mbufs (a program counting the pool sees them all).
 */
static void vv_reap(void)
{
	if (vv.if_head < vv.txq_h)
		vv_reap_to(vv.ring_size - sp_vsock_tx_free(vv.dev));
	if (vv.if_head == vv.txq_h && !vv.txq_n)
		vv_stash_drain();
}

/*
 * Everything queued goes to the ring in one burst: one tx_burst call, one
 * avail-index update, one kick, however long the queue (a whole sendmmsg
 * vector). What the ring cannot take waits, in order, for the next flush.
 */
static unsigned int vv_flush(void)
{
	unsigned int i, n, taken, desc = 0, in_use;

	if (!vv.dev || (!vv.txq_n && !vv.dead))
		return 0;
	if (vv.dead) {
		for (i = vv.txq_h; i < vv.txq_h + vv.txq_n; i++) {
			if (vv.txq[i].vvs)
				vv.txq[i].vvs->bytes_unsent -= vv.txq[i].payload;
			rte_pktmbuf_free(vv.txq_m[i]);
		}
		for (i = vv.if_head; i < vv.txq_h; i++)
			if (vv.txq[i].vvs)
				vv.txq[i].vvs->bytes_unsent -= vv.txq[i].payload;
		vv.if_head = vv.txq_h = vv.txq_n = vv.txq_desc = vv.if_desc = 0;
		return 0;
	}
	/* One call: the ring (at most 4096 entries) fills long before uint16_t runs out. */
	n = vv.txq_n < UINT16_MAX ? vv.txq_n : UINT16_MAX;
	taken = sp_vsock_tx_burst(vv.dev, vv.txq_m + vv.txq_h, (uint16_t)n);
	vv.st.tx_bursts++;
	vv.st.tx_pkts += taken;
	for (i = vv.txq_h; i < vv.txq_h + taken; i++)
		desc += vv.txq[i].nseg;
	/* tx_burst reclaimed: what the ring holds beyond the new packets is the older ones still in flight */
	in_use = sp_vsock_tx_in_use(vv.dev);
	vv_reap_to(in_use > desc ? in_use - desc : 0);
	vv.txq_h += taken;
	vv.txq_n -= taken;
	vv.txq_desc -= desc;
	vv.if_desc += desc;
	vv.st.tx_backlog += vv.txq_n;
	return vv.txq_n;
}

static unsigned int vv_tx_pending(void)
{
	if (!vv.dev || vv.dead)
		return 0;
	vv_reap();
	return vv.txq_h + vv.txq_n - vv.if_head;
}

/*
 * Asks for a line we are about to write in exclusive state. A tx buffer was
 * last read by the device on its core: without this the store waits for that
 * core to give the line up, one message at a time.
 */
static inline void vv_prefetch_w(const void *p)
{
#if defined(__x86_64__)
	__asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
#else
	__builtin_prefetch(p, 1, 3);
#endif
}

/* The header and the first payload bytes of the stashed mbuf k places down. */
static inline void vv_stash_prefetch(unsigned int k)
{
	if (vv.stash_n > k) {
		const char *p = rte_pktmbuf_mtod(vv.stash[vv.stash_n - 1 - k], const char *);

		vv_prefetch_w(p);
		vv_prefetch_w(p + 64);
	}
}

/*
 * Mbufs straight from the pool: a free mbuf already has refcnt 1, one
 * segment and no next (the pool's rule), so only what the builder reads is
 * set here; the second cache line of each (next, tx_offload) stays untouched.
 */
static __rte_noinline struct rte_mbuf *vv_mbuf_refill(void)
{
	struct rte_mbuf *m;
	unsigned int i;

	if (rte_mempool_get_bulk(vv.pool, (void **)vv.stash, TX_STASH) == 0) {
		for (i = 0; i < TX_STASH; i++) {
			m = vv.stash[i];
			m->data_off = (uint16_t)RTE_MIN((uint16_t)RTE_PKTMBUF_HEADROOM, m->buf_len);
			m->data_len = 0;
			m->pkt_len = 0;
			m->ol_flags &= RTE_MBUF_F_EXTERNAL;
		}
		vv.stash_n = TX_STASH - 1;
		vv_stash_prefetch(0);
		vv_stash_prefetch(1);
		return vv.stash[TX_STASH - 1];
	}
	m = rte_pktmbuf_alloc(vv.pool);
	if (!m && vv.txq_n) {
		/* The pool is in our own backlog or in completed tx buffers: push, reclaim, retry. */
		vv_flush();
		sp_vsock_tx_free(vv.dev);
		m = rte_pktmbuf_alloc(vv.pool);
	}
	return m;
}

static inline struct rte_mbuf *vv_mbuf_alloc(void)
{
	if (likely(vv.stash_n))
		return vv.stash[--vv.stash_n];
	return vv_mbuf_refill();
}

static void vv_stash_drain(void)
{
	if (vv.stash_n)
		rte_pktmbuf_free_bulk(vv.stash, vv.stash_n);
	vv.stash_n = 0;
}

/* The caller's bytes into dst: one memcpy when they lie in one iovec (the common case). */
static inline bool vv_iter_copy(struct sp_iov_iter *it, void *dst, uint32_t n)
{
	if (likely(it->idx < it->nr && n <= it->left)) {
		const struct iovec *v = &it->iov[it->idx];

		if (likely(v->iov_base && v->iov_len - it->off >= n)) {
			const char *src = (const char *)v->iov_base + it->off;

			/*
			 * The iterator moves before the copy: read back after it, the
			 * fields (stored one by one, read as a pair) would wait for
			 * the copy's stores to the device's lines to land.
			 */
			it->off += n;
			it->left -= n;
			memcpy(dst, src, n);
			return true;
		}
	}
	return sp_iter_copy(it, dst, n) == (ssize_t)n;
}

/*
 * ≈ virtio_transport_alloc_skb + virtio_transport_inc_tx_pkt: one packet,
 * payload copied from it into the mbuf chain, header copied from wire (in
 * wire order) with len and, for a socket, its buf_alloc and fwd_cnt as they
 * are now.
 */
static struct rte_mbuf *vv_pkt_build(const struct vsock_hdr *wire, struct virtio_vsock_sock *vvs,
				     struct sp_iov_iter *it, uint32_t len)
{
	struct rte_mbuf *head, *seg;
	struct vsock_hdr *h;
	uint32_t left = len, n;

	head = vv_mbuf_alloc();
	if (!head)
		return NULL;
	h = rte_pktmbuf_mtod(head, struct vsock_hdr *);
	n = rte_pktmbuf_tailroom(head) - (uint32_t)sizeof(*h);
	if (n > left)
		n = left;
	if (n && !vv_iter_copy(it, h + 1, n))
		goto fail;      /* a fault in the caller's buffer */
	head->data_len = (uint16_t)(sizeof(*h) + n);
	head->pkt_len = head->data_len;
	left -= n;
	for (seg = head; left; left -= n) {
		struct rte_mbuf *s = NULL;

		/* what one 4 KiB segment cannot hold goes into a large one: one descriptor, not 16 */
		if (left > SP_VSOCK_MBUF_DATA && vv.big_pool)
			s = rte_pktmbuf_alloc(vv.big_pool);
		if (!s)
			s = vv_mbuf_alloc();
		if (!s)
			goto fail;
		seg->next = s;
		seg = s;
		head->nb_segs++;
		n = rte_pktmbuf_tailroom(s);
		if (n > left)
			n = left;
		if (!vv_iter_copy(it, rte_pktmbuf_mtod(s, char *), n))
			goto fail;
		s->data_len = (uint16_t)n;
		head->pkt_len += n;
	}
	memcpy(h, wire, sizeof(*h));
	h->len = rte_cpu_to_le_32(len);
	if (vvs) {
		h->buf_alloc = rte_cpu_to_le_32(vvs->cr.buf_alloc);
		h->fwd_cnt = rte_cpu_to_le_32(vvs->cr.fwd_cnt);
		vvs->cr.last_fwd_cnt = vvs->cr.fwd_cnt;
	}
	return head;
fail:
	rte_pktmbuf_free(head);
	return NULL;
}

/* A header for a socket's packets, host order. */
static void vv_hdr_init(struct vsock_hdr *h, const struct vsock_sock *vsk, uint16_t op, uint32_t flags)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = vv.cid;
	h->src_port = vsk->local_addr.svm_port;
	h->dst_cid = vsk->remote_addr.svm_cid;
	h->dst_port = vsk->remote_addr.svm_port;
	h->type = VSOCK_TYPE_STREAM;
	h->op = op;
	h->flags = flags;
}

/* A control packet (no payload) for a socket. */
static int vv_send_ctrl(struct vsock_sock *vsk, uint16_t op, uint32_t flags)
{
	struct virtio_vsock_sock *vvs = vvs_of(vsk);
	struct vsock_hdr h, wire;
	struct rte_mbuf *m;

	if (vv.dead)
		return -ENODEV;
	vv_hdr_init(&h, vsk, op, flags);
	vsock_hdr_encode(&wire, &h);
	m = vv_pkt_build(&wire, vvs, NULL, 0);
	if (!m)
		return -ENOMEM;
	if (txq_push(m, NULL, 0)) {
		rte_pktmbuf_free(m);
		return -ENOMEM;
	}
	if (op == VSOCK_OP_CREDIT_UPDATE)
		vv.st.credit_updates_sent++;
	return 0;
}

static int vv_send_credit_update(struct vsock_sock *vsk)
{
	return vv_send_ctrl(vsk, VSOCK_OP_CREDIT_UPDATE, 0);
}

/* ≈ virtio_transport_reset(): never answer an RST with an RST. */
static int vv_reset(struct vsock_sock *vsk, const struct vsock_hdr *in)
{
	if (in && in->op == VSOCK_OP_RST)
		return 0;
	return vv_send_ctrl(vsk, VSOCK_OP_RST, 0);
}

/* ≈ virtio_transport_reset_no_sock(): an RST to a packet that reached no socket. */
static void vv_reset_no_sock(const struct vsock_hdr *in)
{
	struct vsock_hdr h, wire;
	struct rte_mbuf *m;

	if (in->op == VSOCK_OP_RST || vv.dead)
		return;
	memset(&h, 0, sizeof(h));
	h.src_cid = in->dst_cid;
	h.src_port = in->dst_port;
	h.dst_cid = in->src_cid;
	h.dst_port = in->src_port;
	h.type = in->type;
	h.op = VSOCK_OP_RST;
	vsock_hdr_encode(&wire, &h);
	m = vv_pkt_build(&wire, NULL, NULL, 0);
	if (m && txq_push(m, NULL, 0) == 0)
		vv.st.rx_rst_sent++;
	else if (m)
		rte_pktmbuf_free(m);
}

/* --- transport ops: socket lifetime --- */

static int vv_init(struct vsock_sock *vsk)
{
	struct virtio_vsock_sock *vvs = calloc(1, sizeof(*vvs));

	if (!vvs)
		return -ENOMEM;
	vvs->vsk = vsk;
	if (vsk->buffer_size > UINT32_MAX)
		vsk->buffer_size = UINT32_MAX;
	vvs->cr.buf_alloc = (uint32_t)vsk->buffer_size;
	vsk->trans = vvs;
	return 0;
}

static void vv_destruct(struct vsock_sock *vsk)
{
	struct virtio_vsock_sock *vvs = vvs_of(vsk);
	unsigned int i;

	if (!vvs)
		return;
	/* Queued packets stay (the kernel's hold a reference); they just lose their owner. */
	for (i = vv.if_head; i < vv.txq_h + vv.txq_n; i++)
		if (vv.txq[i].vvs == vvs)
			vv.txq[i].vvs = NULL;
	free(vvs->rx_buf);
	free(vvs);
	vsk->trans = NULL;
}

/* ≈ virtio_transport_do_close(). May free an orphan: callers must not touch vsk after. */
static void vv_do_close(struct vsock_sock *vsk)
{
	vsk->sock_done = true;
	vsk->peer_shutdown = VSOCK_SHUTDOWN_MASK;
	if (vvs_of(vsk)->cr.rx_bytes == 0)
		vsk->sk_state = VSOCK_TCP_CLOSING;
	if (vsk->close_deadline_ns) {
		vsock_close_timer(vsk, false);
		vsock_remove_sock(vsk);
	}
}

/* ≈ virtio_transport_close(): SHUTDOWN now, RST when the peer answers or the timer fires. */
static bool vv_release(struct vsock_sock *vsk)
{
	if (vsk->sk_state == VSOCK_TCP_ESTABLISHED || vsk->sk_state == VSOCK_TCP_CLOSING) {
		if ((vsk->peer_shutdown & VSOCK_SHUTDOWN_MASK) == VSOCK_SHUTDOWN_MASK) {
			vv_reset(vsk, NULL);
		} else {
			if ((vsk->sk_shutdown & VSOCK_SHUTDOWN_MASK) != VSOCK_SHUTDOWN_MASK)
				vv_send_ctrl(vsk, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
			if (!vsk->sock_done) {
				vsock_close_timer(vsk, true);
				return false;
			}
		}
	}
	vsk->sock_done = true;
	return true;
}

static void vv_close_timeout(struct vsock_sock *vsk)
{
	if (!vsk->sock_done) {
		vv_reset(vsk, NULL);
		vv_do_close(vsk);
	}
	vsock_remove_sock(vsk);
}

static int vv_connect(struct vsock_sock *vsk)
{
	vvs_of(vsk)->tmpl_cid = 0;      /* new addresses: the RW header is built again */
	return vv_send_ctrl(vsk, VSOCK_OP_REQUEST, 0);
}

static int vv_shutdown(struct vsock_sock *vsk, int mode)
{
	return vv_send_ctrl(vsk, VSOCK_OP_SHUTDOWN,
			    ((mode & SP_RCV_SHUTDOWN) ? VSOCK_SHUTDOWN_RCV : 0) |
			    ((mode & SP_SEND_SHUTDOWN) ? VSOCK_SHUTDOWN_SEND : 0));
}

/* A connect that timed out takes its not yet sent packets back. */
static void vv_cancel_pkt(struct vsock_sock *vsk)
{
	struct virtio_vsock_sock *vvs = vvs_of(vsk);
	unsigned int i, j = 0;

	for (i = vv.txq_h; i < vv.txq_h + vv.txq_n; i++) {
		struct rte_mbuf *m = vv.txq_m[i];
		const struct vsock_hdr *h = rte_pktmbuf_mtod(m, const struct vsock_hdr *);

		if (vv.txq[i].vvs == vvs ||
		    (h->src_port == vsk->local_addr.svm_port && h->dst_port == vsk->remote_addr.svm_port &&
		     h->dst_cid == vsk->remote_addr.svm_cid)) {
			if (vv.txq[i].vvs)
				vvs->bytes_unsent -= vv.txq[i].payload;
			vv.txq_desc -= m->nb_segs;
			rte_pktmbuf_free(m);
			continue;
		}
		vv.txq_m[vv.txq_h + j] = m;
		vv.txq[vv.txq_h + j++] = vv.txq[i];
	}
	vv.txq_n = j;
}

/* --- transport ops: stream --- */

static int64_t vv_has_space(struct vsock_sock *vsk)
{
	return vsock_peer_free(&vvs_of(vsk)->cr);
}

static int64_t vv_has_data(struct vsock_sock *vsk)
{
	return vvs_of(vsk)->cr.rx_bytes;
}

static uint64_t vv_rcvhiwat(struct vsock_sock *vsk)
{
	return vvs_of(vsk)->cr.buf_alloc;
}

/*
 * The kernel allocates skbs from memory that is as good as endless; here
 * packets come from the device's mbuf pool, which also refills the rx ring.
 * A send takes at most what the pool can spare above a reserve for rx, so
 * that credit updates can still come in; when nothing can be spared it says
 * 0 and the send loop waits, polling, as for credit.
 */
static unsigned int mbufs_for(size_t len)
{
	size_t pkts = len / VSOCK_MAX_PKT_PAYLOAD + 1;

	return (unsigned int)((len + pkts * sizeof(struct vsock_hdr) + SP_VSOCK_MBUF_DATA - 1) /
			      SP_VSOCK_MBUF_DATA);
}

static size_t vv_tx_budget(size_t len)
{
	unsigned int need, reserve, avail;

	/* A message that fits one mbuf, while the allowance lasts: the common case. */
	if (likely(len <= SP_VSOCK_MBUF_DATA - sizeof(struct vsock_hdr) && vv.tx_allow)) {
		vv.tx_allow--;
		return len;
	}
	need = mbufs_for(len);
	/* Counting the pool walks every lcore cache: only when the allowance runs out. */
	if (need > vv.tx_allow) {
		reserve = vv.pool->size / 4;
		avail = rte_mempool_avail_count(vv.pool);
		if (avail <= reserve) {
			vv_flush();
			sp_vsock_tx_free(vv.dev);       /* completed tx buffers back to the pool */
			avail = rte_mempool_avail_count(vv.pool);
		}
		vv.tx_allow = avail > reserve ? avail - reserve : 0;
		if (!vv.tx_allow) {
			vv.st.tx_no_buffers++;
			return 0;
		}
	}
	if (need > vv.tx_allow) {
		len = (size_t)vv.tx_allow * (SP_VSOCK_MBUF_DATA - sizeof(struct vsock_hdr));
		need = mbufs_for(len);
	}
	vv.tx_allow -= need < vv.tx_allow ? need : vv.tx_allow;
	return len;
}

/*
 * ≈ virtio_transport_stream_enqueue -> virtio_transport_send_pkt_info: takes
 * as much credit as there is for len, cuts it into RW packets of at most
 * VSOCK_MAX_PKT_PAYLOAD, gives back the credit of what could not be built.
 */
/* Payload that fits one mbuf of the pool behind the header. */
#define VV_SMALL_MAX (SP_VSOCK_MBUF_DATA - sizeof(struct vsock_hdr))

/*
 * The common small send in one pass: one RW packet in one stashed mbuf,
 * header from the template, straight onto the queue's end. Only when
 * everything is at hand (allowance, a stashed mbuf, room in the queue and on
 * the ring, a current template); false sends the caller the general way.
 */
static inline bool vv_enqueue_small(struct virtio_vsock_sock *vvs, struct sp_iov_iter *it, uint32_t len,
				    ssize_t *ret)
{
	unsigned int end = vv.txq_h + vv.txq_n;
	struct rte_mbuf *m;
	struct vsock_hdr *h;
	uint32_t n;

	/* txq_desc == tx_room: the queue is about to outgrow the ring, txq_ring_bound's moment */
	if (unlikely(vv.dead || !vv.tx_allow || !vv.stash_n || end == vv.txq_cap ||
		     vv.txq_desc == vv.tx_room || vvs->tmpl_cid != vv.cid))
		return false;
	n = vsock_credit_take(&vvs->cr, len);
	if (!n) {
		*ret = 0;
		return true;
	}
	m = vv.stash[vv.stash_n - 1];
	h = rte_pktmbuf_mtod(m, struct vsock_hdr *);
	vv_stash_prefetch(2);   /* two messages ahead: time for the line to come over */
	if (unlikely(!vv_iter_copy(it, h + 1, n))) {
		/* a fault in the caller's memory fails the allocation in the kernel too: ENOMEM */
		vsock_credit_return(&vvs->cr, n);
		*ret = -ENOMEM;
		return true;
	}
	vv.stash_n--;
	vv.tx_allow--;
	memcpy(h, &vvs->tmpl, sizeof(*h));
	h->len = rte_cpu_to_le_32(n);
	h->buf_alloc = rte_cpu_to_le_32(vvs->cr.buf_alloc);
	h->fwd_cnt = rte_cpu_to_le_32(vvs->cr.fwd_cnt);
	vvs->cr.last_fwd_cnt = vvs->cr.fwd_cnt;
	m->data_len = (uint16_t)(sizeof(*h) + n);
	m->pkt_len = m->data_len;
	vv.txq_m[end] = m;
	vv.txq[end] = (struct txq_ent){ vvs, n, 1 };
	vv.txq_n++;
	vv.txq_desc++;
	vvs->bytes_unsent += n;
	*ret = n;
	return true;
}

static ssize_t vv_stream_enqueue(struct vsock_sock *vsk, struct sp_iov_iter *it, size_t len)
{
	struct virtio_vsock_sock *vvs = vvs_of(vsk);
	uint32_t pkt_len, rest;
	struct vsock_hdr h;
	ssize_t ret = 0;

	if (likely(len <= VV_SMALL_MAX) && vv_enqueue_small(vvs, it, (uint32_t)len, &ret))
		return ret;
	if (vv.dead)
		return -ENODEV;
	len = vv_tx_budget(len);
	if (!len)
		return 0;       /* out of buffers for now: the caller waits as for credit */
	pkt_len = vsock_credit_take(&vvs->cr, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len);
	if (!pkt_len)
		return 0;
	if (unlikely(vvs->tmpl_cid != vv.cid)) {
		vv_hdr_init(&h, vsk, VSOCK_OP_RW, 0);
		vsock_hdr_encode(&vvs->tmpl, &h);
		vvs->tmpl_cid = vv.cid;
	}
	rest = pkt_len;
	do {
		uint32_t n = rest < VSOCK_MAX_PKT_PAYLOAD ? rest : VSOCK_MAX_PKT_PAYLOAD;
		struct rte_mbuf *m = vv_pkt_build(&vvs->tmpl, vvs, it, n);

		/* A fault in the caller's memory fails the allocation in the kernel too: ENOMEM. */
		if (!m || txq_push(m, vvs, n)) {
			rte_pktmbuf_free(m);
			ret = -ENOMEM;
			break;
		}
		rest -= n;
	} while (rest);
	vsock_credit_return(&vvs->cr, rest);
	return rest != pkt_len ? (ssize_t)(pkt_len - rest) : ret;
}

/* ≈ virtio_transport_stream_do_dequeue / do_peek, with 6.12's CREDIT_UPDATE triggers. */
static ssize_t vv_stream_dequeue(struct vsock_sock *vsk, struct sp_iov_iter *it, size_t len, int flags)
{
	struct virtio_vsock_sock *vvs = vvs_of(vsk);
	uint32_t n = vvs->cr.rx_bytes, first, delta;
	ssize_t r1, r2 = 0;

	if (n > len)
		n = (uint32_t)len;
	if (!n)
		return 0;
	first = n;
	if (vvs->rx_head + first > vvs->rx_cap)
		first = vvs->rx_cap - vvs->rx_head;
	r1 = sp_iter_copy_to(it, vvs->rx_buf + vvs->rx_head, first);
	if (r1 == (ssize_t)first && first < n)
		r2 = sp_iter_copy_to(it, vvs->rx_buf, n - first);
	if (r1 < 0)
		return r1;
	n = (uint32_t)r1 + (r2 > 0 ? (uint32_t)r2 : 0);
	if (flags & MSG_PEEK)
		return n;

	vvs->rx_head = (vvs->rx_head + n) % (vvs->rx_cap ? vvs->rx_cap : 1);
	vvs->cr.rx_bytes -= n;
	vvs->cr.fwd_cnt += n;
	/*
	 * Tell the peer about the room made, but not for every read: when less
	 * than one maximal packet of the buffer is left unannounced, or when the
	 * queue is empty (below SO_RCVLOWAT, 1), so that a waiting reader wakes.
	 */
	delta = vvs->cr.fwd_cnt - vvs->cr.last_fwd_cnt;
	if (delta && (vvs->cr.buf_alloc - delta < VSOCK_MAX_PKT_PAYLOAD || vvs->cr.rx_bytes == 0))
		vv_send_credit_update(vsk);
	return n;
}

static void vv_notify_buffer_size(struct vsock_sock *vsk, uint64_t *val)
{
	struct virtio_vsock_sock *vvs = vvs_of(vsk);

	if (*val > UINT32_MAX)  /* VIRTIO_VSOCK_MAX_BUF_SIZE */
		*val = UINT32_MAX;
	vvs->cr.buf_alloc = (uint32_t)*val;
	vv_send_credit_update(vsk);
}

static int64_t vv_unsent_bytes(struct vsock_sock *vsk)
{
	vv_reap();
	return (int64_t)vvs_of(vsk)->bytes_unsent;
}

/* --- rx --- */

/* rte_pktmbuf_read() copies only when the bytes span segments; else it points into m. */
static void mbuf_copy(uint8_t *dst, const struct rte_mbuf *m, uint32_t off, uint32_t len)
{
	const void *p = rte_pktmbuf_read(m, off, len, dst);

	if (p && p != dst)
		memcpy(dst, p, len);
}

/* Appends payload to the socket's receive FIFO (a ring of rx_cap bytes). */
static int vv_rx_append(struct virtio_vsock_sock *vvs, const struct rte_mbuf *m, uint32_t off, uint32_t len)
{
	uint32_t tail, first;

	if (vvs->cr.rx_bytes + len > vvs->rx_cap) {
		uint32_t cap = vvs->rx_cap ? vvs->rx_cap : 4096;
		uint8_t *b;

		while (cap < vvs->cr.rx_bytes + len)
			cap *= 2;
		b = malloc(cap);
		if (!b)
			return -ENOMEM;
		/* unwrap into the new ring */
		first = vvs->cr.rx_bytes;
		if (vvs->rx_head + first > vvs->rx_cap)
			first = vvs->rx_cap - vvs->rx_head;
		if (vvs->cr.rx_bytes) {
			memcpy(b, vvs->rx_buf + vvs->rx_head, first);
			memcpy(b + first, vvs->rx_buf, vvs->cr.rx_bytes - first);
		}
		free(vvs->rx_buf);
		vvs->rx_buf = b;
		vvs->rx_cap = cap;
		vvs->rx_head = 0;
	}
	tail = (vvs->rx_head + vvs->cr.rx_bytes) % vvs->rx_cap;
	first = len;
	if (tail + first > vvs->rx_cap)
		first = vvs->rx_cap - tail;
	mbuf_copy(vvs->rx_buf + tail, m, off, first);
	if (first < len)
		mbuf_copy(vvs->rx_buf, m, off + first, len - first);
	vvs->cr.rx_bytes += len;
	return 0;
}

/* ≈ virtio_transport_recv_enqueue: never more than we advertised (buf_alloc). */
static void vv_recv_enqueue(struct vsock_sock *vsk, const struct rte_mbuf *m, const struct vsock_hdr *h)
{
	struct virtio_vsock_sock *vvs = vvs_of(vsk);

	if (!h->len)
		return;
	if ((uint64_t)vvs->cr.rx_bytes + h->len > vvs->cr.buf_alloc ||
	    vv_rx_append(vvs, m, sizeof(*h), h->len)) {
		vv.st.rx_dropped_overflow++;
		return;
	}
}

static void vv_recv_connecting(struct vsock_sock *vsk, const struct vsock_hdr *h)
{
	int skerr;

	switch (h->op) {
	case VSOCK_OP_RESPONSE:
		vsk->sk_state = VSOCK_TCP_ESTABLISHED;
		vsock_set_ss(vsk, SS_CONNECTED);
		vsock_insert_connected(vsk);
		return;
	case VSOCK_OP_INVALID:
		return;
	case VSOCK_OP_RST:
		skerr = ECONNRESET;
		break;
	default:
		skerr = EPROTO;         /* the peer broke the handshake */
		vv.st.rx_proto_errors++;
		break;
	}
	vv_reset(vsk, h);
	vsk->sk_state = VSOCK_TCP_CLOSE;
	vsock_set_err(vsk, skerr);
}

/* May free an orphan (through vv_do_close / vsock_remove_sock). */
static void vv_recv_connected(struct vsock_sock *vsk, const struct rte_mbuf *m, const struct vsock_hdr *h)
{
	switch (h->op) {
	case VSOCK_OP_RW:
		vv_recv_enqueue(vsk, m, h);
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		break;          /* the credit came with the header; a sender waiting polls it */
	case VSOCK_OP_CREDIT_REQUEST:
		vv_send_credit_update(vsk);
		vv.st.credit_requests_answered++;
		break;
	case VSOCK_OP_SHUTDOWN:
		if (h->flags & VSOCK_SHUTDOWN_RCV)
			vsk->peer_shutdown |= SP_RCV_SHUTDOWN;
		if (h->flags & VSOCK_SHUTDOWN_SEND)
			vsk->peer_shutdown |= SP_SEND_SHUTDOWN;
		if (vsk->peer_shutdown == VSOCK_SHUTDOWN_MASK) {
			bool orphan_closing = !vsk->sk && vsk->close_deadline_ns;

			if (vvs_of(vsk)->cr.rx_bytes == 0 && !vsk->sock_done) {
				vv_reset(vsk, NULL);
				vv_do_close(vsk);       /* frees an orphan */
				if (orphan_closing)
					return;
			}
			/* Out of the tables anyway: a new connection from the same port must work. */
			vsock_remove_sock(vsk);
		}
		break;
	case VSOCK_OP_RST:
		vv_do_close(vsk);
		break;
	default:
		vv.st.rx_proto_errors++;
		break;          /* REQUEST/RESPONSE on a connected socket: dropped */
	}
}

/* ≈ virtio_transport_recv_pkt(). */
static void vv_recv_pkt(const struct rte_mbuf *m)
{
	struct sockaddr_vm src = { .svm_family = AF_VSOCK }, dst = { .svm_family = AF_VSOCK };
	struct vsock_sock *vsk;
	struct vsock_hdr h;

	vsock_hdr_decode(&h, rte_pktmbuf_mtod(m, const void *));
	vv.st.rx_pkts++;
	src.svm_cid = (unsigned int)h.src_cid;
	src.svm_port = h.src_port;
	dst.svm_cid = (unsigned int)h.dst_cid;
	dst.svm_port = h.dst_port;

	if (h.type != VSOCK_TYPE_STREAM) {
		vv_reset_no_sock(&h);
		return;
	}
	vsk = vsock_find_connected_socket(&src, &dst);
	if (!vsk)
		vsk = vsock_find_bound_socket(&dst);
	if (!vsk || vsk->sock_done || vsk->transport != &vsock_virtio_transport) {
		vv.st.rx_dropped_nosock += !vsk;
		vv_reset_no_sock(&h);
		return;
	}
	/* Every header says how much room the peer has. */
	vsock_credit_update_from(&vvs_of(vsk)->cr, &h);
	/* The CID may change after a transport reset. */
	if (vsk->local_addr.svm_cid != VMADDR_CID_ANY)
		vsk->local_addr.svm_cid = dst.svm_cid;

	switch (vsk->sk_state) {
	case VSOCK_TCP_SYN_SENT:
		vv_recv_connecting(vsk, &h);
		break;
	case VSOCK_TCP_ESTABLISHED:
		vv_recv_connected(vsk, m, &h);
		break;
	case VSOCK_TCP_CLOSING:
		if (h.op == VSOCK_OP_RST)
			vv_do_close(vsk);
		break;
	default:
		vv_reset_no_sock(&h);
		break;
	}
}

/* ≈ virtio_vsock_reset_sock(), for TRANSPORT_RESET and a device that went away. */
static void vv_reset_sock(struct vsock_sock *vsk)
{
	vsk->sk_state = VSOCK_TCP_CLOSE;
	vsock_set_err(vsk, ECONNRESET);
}

static int vv_progress(void)
{
	struct rte_mbuf *pkts[RX_BURST];
	unsigned int n, i;
	uint32_t ev;
	int work = 0;

	if (!vv.dev || vv.dead)
		return 0;
	if (!sp_vsock_dev_alive(vv.dev)) {
		vv.dead = true;
		vv.st.transport_resets++;
		vsock_for_each_connected_socket(&vsock_virtio_transport, vv_reset_sock);
		vv_flush();     /* drops what was queued */
		return 1;
	}
	n = sp_vsock_rx_burst(vv.dev, pkts, RX_BURST);
	for (i = 0; i < n; i++) {
		vv_recv_pkt(pkts[i]);
		rte_pktmbuf_free(pkts[i]);
	}
	work += (int)n;
	while (sp_vsock_event_poll(vv.dev, &ev) == 1) {
		work++;
		if (ev == VSOCK_EVENT_TRANSPORT_RESET) {
			vv.cid = sp_vsock_dev_cid(vv.dev);     /* it may have changed (migration) */
			vv.st.transport_resets++;
			vsock_for_each_connected_socket(&vsock_virtio_transport, vv_reset_sock);
		}
	}
	vv_flush();     /* replies the rx produced, and whatever waited for ring room */
	return work;
}

static uint32_t vv_get_local_cid(void)
{
	return vv.dev ? (uint32_t)vv.cid : VMADDR_CID_ANY;
}

const struct vsock_transport vsock_virtio_transport = {
	.name = "virtio",
	.init = vv_init,
	.destruct = vv_destruct,
	.release = vv_release,
	.close_timeout = vv_close_timeout,
	.connect = vv_connect,
	.shutdown = vv_shutdown,
	.cancel_pkt = vv_cancel_pkt,
	.stream_has_space = vv_has_space,
	.stream_has_data = vv_has_data,
	.stream_enqueue = vv_stream_enqueue,
	.stream_dequeue = vv_stream_dequeue,
	.stream_rcvhiwat = vv_rcvhiwat,
	.notify_buffer_size = vv_notify_buffer_size,
	.unsent_bytes = vv_unsent_bytes,
	.flush = vv_flush,
	.tx_pending = vv_tx_pending,
	.get_local_cid = vv_get_local_cid,
	.progress = vv_progress,
	.fini = vsock_virtio_fini,
};

int vsock_virtio_init(const char *dev_name)
{
	struct sp_vsock_dev *dev = sp_vsock_dev_get(dev_name);
	int err;

	if (!dev) {
		/* named but absent: an error, not "not configured" (-ENODEV) */
		fprintf(stderr, "vsock: device %s does not exist (create it with --vdev=%s0,path=SOCK)\n",
			dev_name, SP_VSOCK_DRIVER_NAME);
		return -ENXIO;
	}
	err = vsock_core_register(&vsock_virtio_transport);
	if (err)
		return err;
	memset(&vv.st, 0, sizeof(vv.st));
	vv.dev = dev;
	vv.pool = sp_vsock_dev_pool(dev);
	vv.big_pool = sp_vsock_dev_big_pool(dev);
	vv.cid = sp_vsock_dev_cid(dev);
	vv.stash_n = 0;
	vv.dead = false;
	vv.ring_size = sp_vsock_tx_free(dev);   /* nothing sent yet: every descriptor is free */
	vv.tx_room = vv.ring_size;
	vv.txq_desc = 0;
	if (vv.ring_size & (vv.ring_size - 1)) {
		fprintf(stderr, "sendpath: vsock tx ring of %u is not a power of two\n", vv.ring_size);
		vsock_core_unregister(&vsock_virtio_transport);
		vv.dev = NULL;
		return -EINVAL;
	}
	vv.if_head = vv.txq_h = vv.txq_n = vv.if_desc = 0;
	return 0;
}

void vsock_virtio_fini(void)
{
	unsigned int i;

	for (i = vv.txq_h; i < vv.txq_h + vv.txq_n; i++)
		rte_pktmbuf_free(vv.txq_m[i]);
	vv_stash_drain();
	free(vv.txq_m);
	vv.txq_m = NULL;
	free(vv.txq);
	vv.txq = NULL;
	vv.if_head = vv.if_desc = 0;
	vv.txq_h = vv.txq_n = vv.txq_cap = vv.txq_desc = vv.tx_room = 0;
	vv.dev = NULL;
	vsock_core_unregister(&vsock_virtio_transport);
}

void vsock_virtio_get_stats(struct vsock_virtio_stats *st)
{
	*st = vv.st;
}

/* SPDX-License-Identifier: MIT */
/*
 * The virtio-vsock device (virtio 1.2 §5.10, device id 19), driver side:
 * queue 0 receives, queue 1 transmits, queue 2 carries events. It knows the
 * device only through the transport ops and the ring through virtqueue.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_errno.h>
#include <rte_kvargs.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_memzone.h>

#include "virtio_pci.h"
#include "virtio_transport.h"
#include "virtio_vsock.h"
#include "virtqueue.h"
#include "vsock_proto.h"

enum { VSOCK_RXQ, VSOCK_TXQ, VSOCK_EVQ, VSOCK_NQ };

#define EVQ_SIZE 8
#define DEFAULT_QUEUE_SIZE 256
#define MIN_QUEUE_SIZE 64
#define MAX_QUEUE_SIZE 4096
#define DEFAULT_POOL_SIZE 8191
#define DEFAULT_BIG_POOL 127
#define DEFAULT_CONNECT_MS 2000
#define MAX_DEVS 8
#define POOL_CACHE_MAX 256
#define FREE_BATCH 64

struct vsock_queue {
	struct virtqueue vq;
	const struct rte_memzone *mz;
	struct vq_slot *slots;
};

struct sp_vsock_dev {
	char name[64];
	struct virtio_transport *t;
	bool cid_from_args;
	uint64_t cid;
	uint64_t features;
	struct vsock_queue q[VSOCK_NQ];
	struct rte_mempool *pool;
	struct rte_mempool *big_pool;     /* large tx segments; NULL when none */
	const struct rte_memzone *ev_mz;  /* event buffers, shared with the device */
	struct sp_vsock_stats st;
};

static struct sp_vsock_dev *devs[MAX_DEVS];
static unsigned int pool_seq;  /* pool names stay unique: a pool the device may still write is never freed */

static const char *const valid_args[] = { "path", "pci", "cid", "queue_size", "pool_size", "big_pool",
					  "connect_ms", NULL };

static inline uint64_t buf_addr(const struct sp_vsock_dev *d, const struct rte_mbuf *m)
{
	return d->t->addr_is_va ? (uint64_t)(uintptr_t)rte_pktmbuf_mtod(m, void *) : rte_pktmbuf_iova(m);
}

static inline void count_fault(struct sp_vsock_dev *d, enum vq_used_fault f)
{
	if (f == VQ_USED_BAD_ID)
		d->st.bad_used_id++;
	else
		d->st.bad_used_len++;
}

static inline void kick(struct sp_vsock_dev *d, int qid, uint64_t *counter)
{
	struct virtqueue *vq = &d->q[qid].vq;

	vq_publish(vq);
	if (vq_kick_prepare(vq)) {
		d->t->ops->notify(d->t, qid);
		if (counter)
			(*counter)++;
	}
}

/* Puts empty mbufs on the rx ring until it is full (or the pool is empty). */
static void rx_refill(struct sp_vsock_dev *d)
{
	struct virtqueue *vq = &d->q[VSOCK_RXQ].vq;
	struct rte_mbuf *m[FREE_BATCH];
	uint16_t want, i;

	while ((want = RTE_MIN(vq->num_free, FREE_BATCH)) > 0) {
		/* a nearly empty pool still gives what it has, one by one */
		if (rte_pktmbuf_alloc_bulk(d->pool, m, want) != 0) {
			want = 1;
			m[0] = rte_pktmbuf_alloc(d->pool);
			if (!m[0])
				break;
		}
		for (i = 0; i < want; i++) {
			int head = vq_chain_alloc(vq, 1);
			uint32_t room = rte_pktmbuf_tailroom(m[i]);

			vq->desc[head].addr = buf_addr(d, m[i]);
			vq->desc[head].len = room;
			vq_chain_done(vq, head, 1, VRING_DESC_F_WRITE, room, m[i]);
		}
	}
}

static void ev_post(struct sp_vsock_dev *d, struct vsock_event *ev)
{
	struct virtqueue *vq = &d->q[VSOCK_EVQ].vq;
	int head = vq_chain_alloc(vq, 1);

	if (head < 0)
		return;
	vq->desc[head].addr = d->t->addr_is_va ? (uint64_t)(uintptr_t)ev : rte_mem_virt2iova(ev);
	vq->desc[head].len = sizeof(*ev);
	vq_chain_done(vq, head, 1, VRING_DESC_F_WRITE, sizeof(*ev), ev);
}

/*
 * Back to the pool: one-segment packets of our own pool that nobody else
 * holds go straight into its cache (what DPDK's MBUF_FAST_FREE does), the
 * rest the long way.
 */
static void tx_free_bulk(struct rte_mempool *pool, struct rte_mbuf **m, unsigned int n)
{
	void *fast[FREE_BATCH];
	unsigned int i, k = 0;

	for (i = 0; i < n; i++) {
		struct rte_mbuf *x = m[i];

		if (likely(x->nb_segs == 1 && x->pool == pool && RTE_MBUF_DIRECT(x) &&
			   rte_mbuf_refcnt_read(x) == 1))
			fast[k++] = x;
		else
			rte_pktmbuf_free(x);
	}
	if (k)
		rte_mempool_put_bulk(pool, fast, k);
}

/* Completed tx chains go back to the pool, in bulk. */
static void tx_reclaim(struct sp_vsock_dev *d)
{
	struct virtqueue *vq = &d->q[VSOCK_TXQ].vq;
	struct rte_mbuf *done[FREE_BATCH];
	enum vq_used_fault f;
	unsigned int n = 0, budget = vq->num;
	uint32_t len;
	void *c;
	int r;

	for (;;) {
		/* the common case in bulk; anything else one entry at a time, checked */
		n += vq_dequeue_in_order(vq, (void **)done + n, FREE_BATCH - n);
		if (n == FREE_BATCH) {
			tx_free_bulk(d->pool, done, n);
			n = 0;
			continue;
		}
		if (!budget-- || (c = NULL, r = vq_dequeue(vq, &c, &len, &f)) == 0)
			break;
		if (r < 0)
			count_fault(d, f);
		if (!c)
			continue;
		done[n++] = c;
		if (n == FREE_BATCH) {
			tx_free_bulk(d->pool, done, n);
			n = 0;
		}
	}
	if (n)
		tx_free_bulk(d->pool, done, n);
	vq_used_done(vq);
}

uint16_t sp_vsock_tx_burst(struct sp_vsock_dev *d, struct rte_mbuf **pkts, uint16_t n)
{
	struct virtqueue *vq = &d->q[VSOCK_TXQ].vq;
	struct vring_desc *desc = vq->desc;
	const bool va = d->t->addr_is_va;
	uint64_t bytes = 0;
	uint16_t i, queued = 0;

	if (unlikely(!d->t->ops->is_alive(d->t)))
		return 0;
	/*
	 * Reclaim in bulk, once half the ring is out (or this burst wants the
	 * room): one pass per many packets, not per burst. Half a ring holds
	 * any packet (17 descriptors at most, rings of 64 and up).
	 */
	if (vq->num_free < vq->num / 2 || vq->num_free < n)
		tx_reclaim(d);
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i], *s;
		uint16_t nseg = m->nb_segs, id;
		int head;

		/* one segment, one descriptor: the common packet */
		if (likely(nseg == 1 && m->data_len >= sizeof(struct vsock_hdr))) {
			if (unlikely(!vq->num_free)) {
				d->st.tx_ring_full++;
				break;
			}
			vq_add_one(vq, va ? (uint64_t)(uintptr_t)rte_pktmbuf_mtod(m, void *) : rte_pktmbuf_iova(m),
				   m->data_len, 0, m->pkt_len, m);
			bytes += m->pkt_len;
			queued++;
			continue;
		}
		if (unlikely(m->data_len < sizeof(struct vsock_hdr) || nseg > vq->num)) {
			d->st.tx_bad_pkt++;
			rte_pktmbuf_free(m);
			continue;
		}
		head = vq_chain_alloc(vq, nseg);
		if (unlikely(head < 0)) {
			d->st.tx_ring_full++;
			break;
		}
		id = head;
		for (s = m; s; s = s->next) {
			desc[id].addr = va ? (uint64_t)(uintptr_t)rte_pktmbuf_mtod(s, void *) : rte_pktmbuf_iova(s);
			desc[id].len = s->data_len;
			id = vq_next(vq, id);
		}
		vq_chain_done(vq, head, nseg, 0, m->pkt_len, m);
		bytes += m->pkt_len;
		queued++;
	}
	if (queued) {
		d->st.tx_pkts += queued;
		d->st.tx_bytes += bytes;
		kick(d, VSOCK_TXQ, &d->st.tx_kicks);
	}
	return i;
}

uint16_t sp_vsock_tx_free(struct sp_vsock_dev *d)
{
	tx_reclaim(d);
	return d->q[VSOCK_TXQ].vq.num_free;
}

uint16_t sp_vsock_tx_in_use(const struct sp_vsock_dev *d)
{
	return vq_outstanding(&d->q[VSOCK_TXQ].vq);
}

uint16_t sp_vsock_rx_burst(struct sp_vsock_dev *d, struct rte_mbuf **pkts, uint16_t n)
{
	struct virtqueue *vq = &d->q[VSOCK_RXQ].vq;
	unsigned int budget = vq->num;
	enum vq_used_fault f;
	uint16_t nb = 0;
	uint32_t len;
	void *c;
	int r;

	if (unlikely(!d->t->ops->is_alive(d->t)))
		return 0;
	while (nb < n && budget-- && (c = NULL, r = vq_dequeue(vq, &c, &len, &f)) != 0) {
		struct rte_mbuf *m = c;
		struct vsock_hdr h;

		if (unlikely(r < 0)) {
			count_fault(d, f);
			if (m)
				rte_pktmbuf_free(m);
			continue;
		}
		if (unlikely(len < sizeof(h))) {
			d->st.bad_used_len++;
			rte_pktmbuf_free(m);
			continue;
		}
		vsock_hdr_decode(&h, rte_pktmbuf_mtod(m, void *));
		if (unlikely(vsock_hdr_check(&h, len - sizeof(h)) != VSOCK_HDR_OK)) {
			d->st.bad_rx_hdr++;
			rte_pktmbuf_free(m);
			continue;
		}
		m->data_len = len;
		m->pkt_len = len;
		pkts[nb++] = m;
		d->st.rx_bytes += len;
	}
	d->st.rx_pkts += nb;
	vq_used_done(vq);
	if (vq->num_free) {
		rx_refill(d);
		kick(d, VSOCK_RXQ, &d->st.rx_kicks_sent);
	}
	return nb;
}

int sp_vsock_event_poll(struct sp_vsock_dev *d, uint32_t *event_id)
{
	struct virtqueue *vq = &d->q[VSOCK_EVQ].vq;
	struct vsock_event *ev = NULL, copy;
	enum vq_used_fault f;
	uint32_t len;
	int r, got = 0;

	r = vq_dequeue(vq, (void **)&ev, &len, &f);
	if (r == 0)
		return 0;
	if (r < 0) {
		count_fault(d, f);
	} else if (len < sizeof(*ev)) {
		d->st.bad_used_len++;
	} else {
		memcpy(&copy, ev, sizeof(copy));
		*event_id = rte_le_to_cpu_32(copy.id);
		d->st.events++;
		got = 1;
		/* after a reset the guest CID may have changed (live migration) */
		if (*event_id == VSOCK_EVENT_TRANSPORT_RESET && !d->cid_from_args) {
			uint64_t cid;

			if (d->t->ops->read_config(d->t, 0, &cid, sizeof(cid)) == 0)
				d->cid = rte_le_to_cpu_64(cid);
		}
	}
	vq_used_done(vq);
	if (ev)
		ev_post(d, ev);
	kick(d, VSOCK_EVQ, NULL);
	return got;
}

static int queue_alloc(struct sp_vsock_dev *d, int qid, uint16_t num, bool event_idx, bool in_order)
{
	struct vsock_queue *q = &d->q[qid];
	char mz[RTE_MEMZONE_NAMESIZE];

	snprintf(mz, sizeof(mz), "vsk%p_q%d", (void *)d, qid);
	/* the device walks a ring by address: with IOVA as PA it must not straddle discontiguous pages */
	q->mz = rte_memzone_reserve_aligned(mz, vq_ring_size(num), (int)rte_socket_id(), RTE_MEMZONE_IOVA_CONTIG,
					    4096);
	q->slots = rte_zmalloc(NULL, sizeof(*q->slots) * num, RTE_CACHE_LINE_SIZE);
	if (!q->mz || !q->slots) {
		fprintf(stderr, "virtio_vsock %s: no memory for queue %d\n", d->name, qid);
		return -1;
	}
	return vq_init(&q->vq, q->mz->addr, num, q->slots, event_idx, in_order);
}

/* The device's limit on queue qid, 0 when it sets none. */
static uint16_t queue_max(const struct sp_vsock_dev *d, int qid)
{
	return d->t->ops->queue_max ? d->t->ops->queue_max(d->t, qid) : 0;
}

/*
 * Fits the queues to what the device takes: an explicit queue_size= beyond
 * its limit is the user's error; the default comes down to the largest power
 * of two within it (QEMU's virtio-pci vsock queues hold 128 entries).
 */
static int queue_sizes(struct sp_vsock_dev *d, bool explicit, uint64_t *qsize, uint16_t *evq_size)
{
	uint16_t max;
	int q;

	for (q = VSOCK_RXQ; q <= VSOCK_TXQ; q++) {
		max = queue_max(d, q);
		if (!max || *qsize <= max)
			continue;
		if (explicit) {
			fprintf(stderr, "virtio_vsock %s: queue %d takes at most %u entries, not %llu (queue_size=)\n",
				d->name, q, max, (unsigned long long)*qsize);
			return -1;
		}
		*qsize = rte_align32prevpow2(max);
		if (*qsize < MIN_QUEUE_SIZE) {
			fprintf(stderr, "virtio_vsock %s: queue %d takes at most %u entries; the driver needs %d\n",
				d->name, q, max, MIN_QUEUE_SIZE);
			return -1;
		}
	}
	max = queue_max(d, VSOCK_EVQ);
	*evq_size = max && max < EVQ_SIZE ? rte_align32prevpow2(max) : EVQ_SIZE;
	return 0;
}

static int parse_u64(const char *key, const char *val, void *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(val, &end, 0);
	if (errno || *end || end == val) {
		fprintf(stderr, "virtio_vsock: bad %s=%s\n", key, val);
		return -1;
	}
	*(uint64_t *)out = v;
	return 0;
}

static int copy_str(const char *key, const char *val, void *out)
{
	(void)key;
	snprintf(out, 108, "%s", val);
	return 0;
}

static void dev_free(struct sp_vsock_dev *d)
{
	int q;

	for (q = 0; q < VSOCK_NQ; q++) {
		struct vsock_queue *vq = &d->q[q];
		uint16_t i;

		/* mbufs still with the device are ours again */
		if (vq->slots && q != VSOCK_EVQ)
			for (i = 0; i < vq->vq.num; i++)
				if (vq->slots[i].ndesc && vq->slots[i].cookie)
					rte_pktmbuf_free(vq->slots[i].cookie);
		rte_free(vq->slots);
		rte_memzone_free(vq->mz);
	}
	rte_memzone_free(d->ev_mz);
	rte_mempool_free(d->pool);
	rte_mempool_free(d->big_pool);
	rte_free(d);
}

/*
 * Resets the device, which stops its rings (bounded; see set_status), and
 * only then gives rings and buffers back: a backend still running could
 * otherwise write used entries into memory the next device reuses. What a
 * device did not confirm it stopped using is kept, never reused.
 */
static void dev_release(struct sp_vsock_dev *d)
{
	bool stopped = d->t->ops->set_status(d->t, 0) == 0;

	d->t->ops->close(d->t);
	if (stopped) {
		dev_free(d);
		return;
	}
	fprintf(stderr, "virtio_vsock %s: the device did not confirm it stopped; its rings and %u mbufs are not reused\n",
		d->name, d->pool ? d->pool->size : 0);
}

/*
 * Per-lcore cache of the mbuf pool: rte_mempool refuses a cache whose flush
 * threshold (1.5 x its size) exceeds the pool, and a large cache strands
 * much of a small pool on other lcores. An eighth of the pool, at most 256.
 */
static unsigned int pool_cache_size(uint64_t n)
{
	return (unsigned int)RTE_MIN(n / 8, (uint64_t)POOL_CACHE_MAX);
}

static struct sp_vsock_dev *dev_create(const char *name, const char *args, struct virtio_transport *t)
{
	const uint64_t want = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) |
			      (1ull << VIRTIO_F_IN_ORDER);
	uint64_t cid = UINT64_MAX, qsize = DEFAULT_QUEUE_SIZE, pool_size = DEFAULT_POOL_SIZE;
	uint64_t connect_ms = DEFAULT_CONNECT_MS, big_pool = DEFAULT_BIG_POOL;
	char path[108] = "", pci[108] = "", pname[RTE_MEMPOOL_NAMESIZE], mz[RTE_MEMZONE_NAMESIZE];
	struct rte_kvargs *kv = NULL;
	struct sp_vsock_dev *d = NULL;
	struct vsock_event *ev;
	bool event_idx, in_order;
	uint16_t evq_size;
	int slot, q, i;

	if (sp_vsock_dev_get(name)) {
		fprintf(stderr, "virtio_vsock %s: exists already\n", name);
		goto fail;
	}
	for (slot = 0; slot < MAX_DEVS && devs[slot]; slot++)
		;
	if (slot == MAX_DEVS) {
		fprintf(stderr, "virtio_vsock %s: too many devices (%d)\n", name, MAX_DEVS);
		goto fail;
	}
	kv = rte_kvargs_parse(args ? args : "", valid_args);
	if (!kv) {
		fprintf(stderr, "virtio_vsock %s: bad arguments \"%s\" (keys: path pci cid queue_size pool_size big_pool connect_ms)\n",
			name, args);
		goto fail;
	}
	if (rte_kvargs_process(kv, "path", copy_str, path) < 0 ||
	    rte_kvargs_process(kv, "pci", copy_str, pci) < 0 ||
	    rte_kvargs_process(kv, "cid", parse_u64, &cid) < 0 ||
	    rte_kvargs_process(kv, "queue_size", parse_u64, &qsize) < 0 ||
	    rte_kvargs_process(kv, "pool_size", parse_u64, &pool_size) < 0 ||
	    rte_kvargs_process(kv, "big_pool", parse_u64, &big_pool) < 0 ||
	    rte_kvargs_process(kv, "connect_ms", parse_u64, &connect_ms) < 0)
		goto fail;
	if (!t && !path[0] == !pci[0]) {
		fprintf(stderr, "virtio_vsock %s: one of path= (vhost-user socket) or pci= (vfio-pci device) is required\n",
			name);
		goto fail;
	}
	if (qsize < MIN_QUEUE_SIZE || qsize > MAX_QUEUE_SIZE || (qsize & (qsize - 1))) {
		fprintf(stderr, "virtio_vsock %s: queue_size must be a power of two in %d..%d\n", name,
			MIN_QUEUE_SIZE, MAX_QUEUE_SIZE);
		goto fail;
	}
	/* checked again once the device said how large its queues may be */
	if (pool_size < 2 * (rte_kvargs_count(kv, "queue_size") ? qsize : MIN_QUEUE_SIZE) + 64 ||
	    pool_size > UINT32_MAX) {
		fprintf(stderr, "virtio_vsock %s: pool_size must be at least 2*queue_size+64\n", name);
		goto fail;
	}

	d = rte_zmalloc(NULL, sizeof(*d), RTE_CACHE_LINE_SIZE);
	if (!d)
		goto fail;
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(pname, sizeof(pname), "vsk%u_%.12s", pool_seq++, name);
	d->pool = rte_pktmbuf_pool_create(pname, pool_size, pool_cache_size(pool_size), 0,
					  RTE_PKTMBUF_HEADROOM + SP_VSOCK_MBUF_DATA, (int)rte_socket_id());
	snprintf(mz, sizeof(mz), "vsk%p_ev", (void *)d);
	d->ev_mz = rte_memzone_reserve(mz, EVQ_SIZE * sizeof(struct vsock_event), (int)rte_socket_id(),
				       RTE_MEMZONE_IOVA_CONTIG);
	if (!d->pool || !d->ev_mz) {
		fprintf(stderr, "virtio_vsock %s: no memory for the mbuf pool (%s)\n", name, rte_strerror(rte_errno));
		goto fail;
	}
	/* large segments are a speed-up, not a need: without memory for them, 4 KiB ones carry it all */
	if (big_pool) {
		snprintf(pname, sizeof(pname), "vskb%u_%.11s", pool_seq++, name);
		d->big_pool = rte_pktmbuf_pool_create(pname, (unsigned int)RTE_MIN(big_pool, (uint64_t)UINT32_MAX),
						      pool_cache_size(big_pool), 0,
						      RTE_PKTMBUF_HEADROOM + SP_VSOCK_MBUF_BIG_DATA,
						      (int)rte_socket_id());
	}

	if (!t)
		t = pci[0] ? virtio_pci_transport_open(pci, VIRTIO_ID_VSOCK) :
			     vhost_user_transport_open(path, (unsigned int)connect_ms);
	d->t = t;
	t = NULL; /* owned by d from here */
	if (!d->t)
		goto fail;
	d->t->ops->set_status(d->t, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	d->features = d->t->ops->get_features(d->t) & want;
	if (d->t->ops->set_features(d->t, d->features) < 0)
		goto fail;
	d->t->ops->set_status(d->t, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			      VIRTIO_STATUS_FEATURES_OK);
	if (cid != UINT64_MAX) {
		d->cid = cid;
		d->cid_from_args = true;
	} else if (d->t->ops->read_config(d->t, 0, &cid, sizeof(cid)) == 0) {
		d->cid = rte_le_to_cpu_64(cid);
	} else {
		fprintf(stderr, "virtio_vsock %s: the backend does not tell the guest CID (no GET_CONFIG); pass cid=\n",
			name);
		goto fail;
	}
	if (d->cid <= VSOCK_HOST_CID || d->cid >= VSOCK_ANY_CID) {
		fprintf(stderr, "virtio_vsock %s: guest CID %llu is reserved\n", name, (unsigned long long)d->cid);
		goto fail;
	}

	if (queue_sizes(d, rte_kvargs_count(kv, "queue_size") > 0, &qsize, &evq_size) < 0)
		goto fail;
	if (pool_size < 2 * qsize + 64) {
		fprintf(stderr, "virtio_vsock %s: pool_size must be at least 2*queue_size+64 (queue_size %llu)\n",
			name, (unsigned long long)qsize);
		goto fail;
	}
	event_idx = d->features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	in_order = d->features & (1ull << VIRTIO_F_IN_ORDER);
	if (queue_alloc(d, VSOCK_RXQ, qsize, event_idx, in_order) < 0 ||
	    queue_alloc(d, VSOCK_TXQ, qsize, event_idx, in_order) < 0 ||
	    queue_alloc(d, VSOCK_EVQ, evq_size, event_idx, in_order) < 0)
		goto fail;
	rx_refill(d);
	vq_publish(&d->q[VSOCK_RXQ].vq);
	ev = d->ev_mz->addr;
	for (i = 0; i < evq_size; i++)
		ev_post(d, &ev[i]);
	vq_publish(&d->q[VSOCK_EVQ].vq);

	/* the memory table must cover rings, event buffers and the pool: all exist now */
	if (d->t->ops->setup_mem(d->t) < 0)
		goto fail;
	for (q = 0; q < VSOCK_NQ; q++)
		if (d->t->ops->setup_queue(d->t, q, &d->q[q].vq) < 0) {
			fprintf(stderr, "virtio_vsock %s: backend refused queue %d\n", name, q);
			goto fail;
		}
	d->t->ops->set_status(d->t, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			      VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	rte_kvargs_free(kv);
	devs[slot] = d;
	return d;
fail:
	rte_kvargs_free(kv);
	if (t)
		t->ops->close(t);
	if (d) {
		if (d->t)
			dev_release(d);
		else
			dev_free(d);
	}
	return NULL;
}

struct sp_vsock_dev *sp_vsock_dev_create(const char *name, const char *args)
{
	return dev_create(name, args, NULL);
}

struct sp_vsock_dev *sp_vsock_dev_create_on(const char *name, struct virtio_transport *t, const char *args)
{
	return dev_create(name, args, t);
}

void sp_vsock_dev_destroy(struct sp_vsock_dev *d)
{
	int i;

	if (!d)
		return;
	for (i = 0; i < MAX_DEVS; i++)
		if (devs[i] == d)
			devs[i] = NULL;
	dev_release(d);
}

struct sp_vsock_dev *sp_vsock_dev_get(const char *name)
{
	int i;

	for (i = 0; i < MAX_DEVS; i++)
		if (devs[i] && strcmp(devs[i]->name, name) == 0)
			return devs[i];
	return NULL;
}

uint64_t sp_vsock_dev_cid(const struct sp_vsock_dev *d)
{
	return d->cid;
}

struct rte_mempool *sp_vsock_dev_pool(struct sp_vsock_dev *d)
{
	return d->pool;
}

struct rte_mempool *sp_vsock_dev_big_pool(struct sp_vsock_dev *d)
{
	return d->big_pool;
}

bool sp_vsock_dev_alive(const struct sp_vsock_dev *d)
{
	return d->t->ops->is_alive(d->t);
}

void sp_vsock_dev_dump(const struct sp_vsock_dev *d, FILE *f)
{
	static const char *const qname[VSOCK_NQ] = { "rx", "tx", "event" };
	int q;

	fprintf(f, "virtio_vsock %s: cid %llu, features %#llx, %s\n", d->name, (unsigned long long)d->cid,
		(unsigned long long)d->features, d->t->ops->is_alive(d->t) ? "alive" : "gone");
	for (q = 0; q < VSOCK_NQ; q++) {
		const struct virtqueue *vq = &d->q[q].vq;

		fprintf(f, "  %s: num %u free %u avail_idx %u (ring %u) last_used %u used_idx %u avail_event %u used_event %u%s\n",
			qname[q], vq->num, vq->num_free, vq->avail_idx, vq->avail->idx, vq->last_used_idx,
			vq->used->idx, *vq_avail_event((struct virtqueue *)vq), *vq_used_event((struct virtqueue *)vq),
			vq->in_order ? " in-order" : "");
	}
}

void sp_vsock_dev_stats(const struct sp_vsock_dev *d, struct sp_vsock_stats *st)
{
	*st = d->st;
}

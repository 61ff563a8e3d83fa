/* SPDX-License-Identifier: MIT */
/*
 * The split virtqueue, driver side (virtio 1.2 §2.7): a descriptor table, an
 * available ring we write and a used ring the device writes. The fast path is
 * small inline functions, as in DPDK's drivers/net/virtio/virtqueue.h.
 *
 * Indices (avail_idx, last_used_idx) are free-running u16 and only ever
 * compared by subtraction, so they wrap past 65535 without special cases.
 * The ring memory is shared with a device we do not trust: everything read
 * from the used ring is checked before it is followed.
 */
#ifndef SP_VIRTQUEUE_H
#define SP_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

/* Largest queue the split ring allows. */
#define VQ_MAX_SIZE 32768u

struct virtqueue {
	/* ring memory, shared with the device */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;

	uint16_t num;            /* ring size, a power of two */
	uint16_t mask;
	uint16_t avail_idx;      /* next avail->idx we publish */
	uint16_t kick_idx;       /* avail_idx when the last kick was decided */
	uint16_t last_used_idx;  /* next used entry we read */
	uint16_t used_seen;      /* used->idx when we last read it */
	uint16_t num_free;
	uint16_t free_head;      /* first free descriptor; free ones are linked by next */
	uint16_t free_tail;      /* last free descriptor (in-order appends here) */
	uint16_t oldest;         /* in-order: head of the oldest outstanding chain */
	uint16_t batch_left;     /* in-order: chains still to complete for one used entry */
	uint16_t batch_id;       /* in-order: the head that used entry named */
	uint32_t batch_len;      /* in-order: its len */
	bool event_idx;          /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool in_order;           /* VIRTIO_F_IN_ORDER negotiated */

	/*
	 * Per descriptor, private: what we handed out (for heads), so the used
	 * ring can be checked, and the link to the next descriptor. The links
	 * are never read back from desc[].next, which the device can overwrite.
	 */
	struct vq_slot {
		void *cookie;        /* the caller's buffer (mbuf); NULL: not outstanding */
		uint32_t buf_len;    /* bytes the device may report in used.len */
		uint16_t ndesc;      /* descriptors in the chain; 0: not a live head */
		uint16_t next;       /* our copy of the free-list / chain link */
	} *slot;
};

/* Why a used entry was refused. */
enum vq_used_fault {
	VQ_USED_OK = 0,
	VQ_USED_BAD_ID,    /* id out of range or not an outstanding head */
	VQ_USED_BAD_LEN,   /* len beyond what the buffer can hold */
};

/* Bytes of ring memory for a queue of num entries, each part 64-byte aligned. */
static inline size_t vq_desc_size(uint16_t num) { return 16u * num; }
static inline size_t vq_avail_size(uint16_t num) { return 4u + 2u * num + 2u; /* + used_event */ }
static inline size_t vq_used_size(uint16_t num) { return 4u + 8u * num + 2u; /* + avail_event */ }
static inline size_t vq_align64(size_t n) { return (n + 63) & ~(size_t)63; }
static inline size_t vq_ring_size(uint16_t num)
{
	return vq_align64(vq_desc_size(num)) + vq_align64(vq_avail_size(num)) +
	       vq_align64(vq_used_size(num));
}

/* The spec's event fields, stored after each ring. */
static inline volatile uint16_t *vq_used_event(struct virtqueue *vq)
{
	return (volatile uint16_t *)((uint8_t *)vq->avail + 4 + 2u * vq->num);
}
static inline volatile uint16_t *vq_avail_event(struct virtqueue *vq)
{
	return (volatile uint16_t *)((uint8_t *)vq->used + 4 + 8u * vq->num);
}

/*
 * Lays the rings out in mem (vq_ring_size(num) bytes, zeroed here) and links
 * every descriptor into the free list in ring order, the order in-order needs.
 * slots has num entries. Returns 0, or -1 when num is not a power of two.
 */
static inline int vq_init(struct virtqueue *vq, void *mem, uint16_t num,
			  struct vq_slot *slots, bool event_idx, bool in_order)
{
	uint8_t *p = mem;
	uint16_t i;

	if (num == 0 || (num & (num - 1)) || num > VQ_MAX_SIZE)
		return -1;
	memset(vq, 0, sizeof(*vq));
	memset(mem, 0, vq_ring_size(num));
	memset(slots, 0, sizeof(*slots) * num);
	vq->desc = (struct vring_desc *)p;
	p += vq_align64(vq_desc_size(num));
	vq->avail = (struct vring_avail *)p;
	p += vq_align64(vq_avail_size(num));
	vq->used = (struct vring_used *)p;
	vq->num = num;
	vq->mask = num - 1;
	vq->num_free = num;
	vq->free_head = 0;
	vq->free_tail = num - 1;
	vq->slot = slots;
	vq->event_idx = event_idx;
	vq->in_order = in_order;
	for (i = 0; i < num; i++)
		vq->slot[i].next = (i + 1) & vq->mask;
	/* We poll: ask the device never to interrupt us. */
	vq->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	*vq_used_event(vq) = (uint16_t)(vq->last_used_idx - 1);
	return 0;
}

/* The descriptor after id in a chain being built (our link, never the device's copy). */
static inline uint16_t vq_next(const struct virtqueue *vq, uint16_t id)
{
	return vq->slot[id].next;
}

/*
 * Takes a chain of n descriptors off the free list; the caller fills
 * desc[id].addr/len walking vq_next() from the returned head, and then
 * calls vq_chain_done(). Returns the head, or -1 when too few are free.
 */
static inline int vq_chain_alloc(struct virtqueue *vq, uint16_t n)
{
	if (n == 0 || n > vq->num_free)
		return -1;
	return vq->free_head;
}

/*
 * Finishes a chain of n descriptors starting at head: sets the NEXT flags
 * (flags holds VRING_DESC_F_WRITE or 0), records the buffer for the used-ring
 * check, and places head in the available ring (not yet published).
 */
static inline void vq_chain_done(struct virtqueue *vq, uint16_t head, uint16_t n,
				 uint16_t flags, uint32_t buf_len, void *cookie)
{
	uint16_t id = head, k;

	for (k = 1; k < n; k++) {
		vq->desc[id].flags = flags | VRING_DESC_F_NEXT;
		vq->desc[id].next = vq->slot[id].next;
		id = vq->slot[id].next;
	}
	vq->desc[id].flags = flags;
	vq->free_head = vq->slot[id].next;
	vq->num_free -= n;
	vq->slot[head].cookie = cookie;
	vq->slot[head].buf_len = buf_len;
	vq->slot[head].ndesc = n;
	vq->avail->ring[vq->avail_idx & vq->mask] = head;
	vq->avail_idx++;
}

/*
 * Asks for a ring line we are about to write, in exclusive state: the device
 * read it last, and a store to it would otherwise wait for the device's core
 * to give it up (and the kick's barrier waits for every such store).
 */
static inline void vq_prefetch_w(const volatile void *p)
{
#if defined(__x86_64__)
	__asm__ volatile("prefetchw %0" : : "m"(*(const volatile char *)p));
#else
	__builtin_prefetch((const void *)p, 1, 3);
#endif
}

/*
 * vq_chain_alloc() + vq_chain_done() for a chain of one descriptor, the
 * common tx packet: placed in the available ring, not yet published. The
 * caller has checked that a descriptor is free.
 */
static inline void vq_add_one(struct virtqueue *vq, uint64_t addr, uint32_t len, uint16_t flags,
			      uint32_t buf_len, void *cookie)
{
	uint16_t id = vq->free_head;
	struct vq_slot *s = &vq->slot[id];

	/* two lines of descriptors ahead (in ring order, which in-order keeps), and the avail entries */
	vq_prefetch_w(&vq->desc[(id + 8) & vq->mask]);
	if (!(vq->avail_idx & 15))
		vq_prefetch_w(&vq->avail->ring[(vq->avail_idx + 32) & vq->mask]);
	vq->desc[id].addr = addr;
	vq->desc[id].len = len;
	vq->desc[id].flags = flags;
	vq->free_head = s->next;
	vq->num_free--;
	s->cookie = cookie;
	s->buf_len = buf_len;
	s->ndesc = 1;
	vq->avail->ring[vq->avail_idx & vq->mask] = id;
	vq->avail_idx++;
}

/* Makes every chain placed since the last call visible to the device: one store. */
static inline void vq_publish(struct virtqueue *vq)
{
	/* descriptors and ring entries before the index (release) */
	__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
}

/*
 * The spec's rule (VIRTIO_RING_F_EVENT_IDX): notify when the event index the
 * other side asked for lies in [old, new_idx), i.e. was crossed by this update.
 */
static inline bool vq_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/*
 * A full barrier between our index store and the load of the device's wish.
 * On x86 a locked add to the stack orders plain memory as mfence does, for
 * less (DPDK's rte_smp_mb is the same).
 */
static inline void vq_mb(void)
{
#if defined(__x86_64__)
	__asm__ volatile("lock addl $0, -128(%%rsp)" ::: "memory", "cc");
#else
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

/* After vq_publish(): must the device be kicked? Decides once per published batch. */
static inline bool vq_kick_prepare(struct virtqueue *vq)
{
	uint16_t old = vq->kick_idx, new_idx = vq->avail_idx;
	bool kick;

	if (old == new_idx)
		return false;
	vq->kick_idx = new_idx;
	/* the index store must be visible before we read the device's wish (full fence) */
	vq_mb();
	if (vq->event_idx)
		kick = vq_need_event(*vq_avail_event(vq), new_idx, old);
	else
		kick = !(__atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED) & VRING_USED_F_NO_NOTIFY);
	return kick;
}

/* Used entries the device has written that we have not read; larger than num means a lying device. */
static inline uint16_t vq_used_pending(const struct virtqueue *vq)
{
	uint16_t idx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);

	return (uint16_t)(idx - vq->last_used_idx);
}

/* Returns a completed chain's descriptors to the free list. */
static inline void vq_chain_free(struct virtqueue *vq, uint16_t head)
{
	uint16_t n = vq->slot[head].ndesc, tail = head, k;

	for (k = 1; k < n; k++)
		tail = vq->slot[tail].next;
	if (vq->in_order) {
		/* completions come in ring order: append, keeping the list in ring order */
		vq->slot[vq->free_tail].next = head;
		vq->free_tail = tail;
		if (vq->num_free == 0)
			vq->free_head = head;
		vq->oldest = vq->slot[tail].next;
	} else {
		vq->slot[tail].next = vq->free_head;
		vq->free_head = head;
		if (vq->num_free == 0)
			vq->free_tail = tail;
	}
	vq->num_free += n;
	vq->slot[head].ndesc = 0;
	vq->slot[head].cookie = NULL;
}

/*
 * Takes the next completed buffer off the used ring. The entry is checked
 * first: its id must be the head of a chain we handed out and not yet got
 * back, its len within that buffer. Returns 1 with *cookie and *len, 0 when
 * nothing is pending, -1 with *fault for a refused entry (consumed; on a bad
 * id nothing is freed, on a bad len the chain is freed and *cookie returned so
 * the caller can recycle it without reading it).
 *
 * With in-order the device may write only the last entry of a batch; the
 * chains before it complete too, oldest first, each reported with len 0.
 */
static inline int vq_dequeue(struct virtqueue *vq, void **cookie, uint32_t *len,
			     enum vq_used_fault *fault)
{
	const struct vring_used_elem *e;
	uint32_t uid, ulen;
	uint16_t head;

	if (vq->in_order && vq->batch_left) {
		head = vq->oldest;
		vq->batch_left--;
		*len = head == vq->batch_id ? vq->batch_len : 0;
		goto complete;
	}
	/* used->idx is the line the device writes most: read it only when what we saw is consumed */
	if (vq->last_used_idx == vq->used_seen) {
		vq->used_seen = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
		if (vq->last_used_idx == vq->used_seen)
			return 0;
	}
	e = &vq->used->ring[vq->last_used_idx & vq->mask];
	uid = e->id;
	ulen = e->len;
	vq->last_used_idx++;
	if (uid >= vq->num || vq->slot[uid].ndesc == 0) {
		*fault = VQ_USED_BAD_ID;
		return -1;
	}
	head = (uint16_t)uid;
	*len = ulen;
	if (vq->in_order && head != vq->oldest) {
		/* chains from the oldest up to head: head's distance in the ring, in chains */
		uint16_t h = vq->oldest, n = 1;

		while (h != head) {
			h = (h + vq->slot[h].ndesc) & vq->mask;
			n++;
		}
		vq->batch_id = head;
		vq->batch_len = ulen;
		vq->batch_left = n - 1;
		head = vq->oldest;
		*len = 0;
	}
complete:
	*cookie = vq->slot[head].cookie;
	if (*len > vq->slot[head].buf_len) {
		vq_chain_free(vq, head);
		*fault = VQ_USED_BAD_LEN;
		return -1;
	}
	vq_chain_free(vq, head);
	return 1;
}

/*
 * The in-order device's common case, many at a time: used entries that name
 * exactly the oldest outstanding chain, with a len within it. Takes up to max
 * of them, oldest first (their cookies into cookies[]), and stops before the
 * first entry that is anything else, which vq_dequeue() then takes and
 * checks. Returns how many; 0 without in-order or inside a batch.
 */
static inline unsigned int vq_dequeue_in_order(struct virtqueue *vq, void **cookies, unsigned int max)
{
	uint16_t last = vq->last_used_idx, seen = vq->used_seen;
	unsigned int n = 0;

	if (!vq->in_order || vq->batch_left)
		return 0;
	while (n < max) {
		const struct vring_used_elem *e;
		uint16_t head = vq->oldest;
		uint32_t uid, ulen;

		if (last == seen) {
			seen = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
			if (last == seen)
				break;
		}
		e = &vq->used->ring[last & vq->mask];
		uid = e->id;
		ulen = e->len;
		if (uid != head || vq->slot[head].ndesc == 0 || ulen > vq->slot[head].buf_len)
			break;
		last++;
		cookies[n++] = vq->slot[head].cookie;
		vq_chain_free(vq, head);
	}
	vq->last_used_idx = last;
	vq->used_seen = seen;
	return n;
}

/* Chains currently outstanding with the device. */
static inline uint16_t vq_outstanding(const struct virtqueue *vq)
{
	return vq->num - vq->num_free;
}

/*
 * Keeps a device from ever interrupting us (we poll): used_event stays behind
 * last_used_idx, where the device's used index (at most num ahead of ours)
 * cannot cross it. Rewritten only when it falls a quarter of the index space
 * behind, so the line the device reads is not written on every burst.
 */
static inline void vq_used_done(struct virtqueue *vq)
{
	volatile uint16_t *ev = vq_used_event(vq);

	if (vq->event_idx && (uint16_t)(vq->last_used_idx - 1 - *ev) >= 0x4000)
		*ev = (uint16_t)(vq->last_used_idx - 1);
}

#endif

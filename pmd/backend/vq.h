/* SPDX-License-Identifier: MIT */
/*
 * Device-side access to a split virtqueue that lives in the driver's memory.
 * Nothing the driver wrote is followed before it is checked: every buffer
 * address must fall inside one region the driver registered, chains are
 * bounded by the ring size (so a loop ends), indirect tables are checked like
 * the ring itself. The memory table is our own small struct so that tests can
 * build a fake one in-process.
 */
#ifndef VB_VQ_H
#define VB_VQ_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/virtio_ring.h>

#define VB_MEM_MAX_REGIONS 8
#define VB_CHAIN_MAX_SEGS 64

struct vb_mem_region {
	uint64_t gpa;   /* guest physical (or frontend IOVA) start */
	uint64_t size;
	uint64_t hva;   /* where we mapped it */
};

struct vb_mem {
	uint32_t nregions;
	struct vb_mem_region r[VB_MEM_MAX_REGIONS];
};

/* Host pointer for [gpa, gpa + len) when it lies inside one region, else NULL. */
void *vb_mem_map(const struct vb_mem *m, uint64_t gpa, uint64_t len);

enum vb_chain_fault {
	VB_CHAIN_OK = 0,
	VB_CHAIN_BAD_HEAD,      /* head index outside the ring */
	VB_CHAIN_BAD_NEXT,      /* next index outside its table */
	VB_CHAIN_TOO_LONG,      /* more descriptors than the queue size: a loop */
	VB_CHAIN_BAD_ADDR,      /* buffer not inside one registered region */
	VB_CHAIN_LEN_OVERFLOW,  /* addr + len wraps, or the chain adds up past 4 GiB */
	VB_CHAIN_WRONG_DIR,     /* writable where readable expected, or the reverse */
	VB_CHAIN_BAD_INDIRECT,  /* indirect table empty, misaligned, nested, with NEXT, or unmapped */
	VB_CHAIN_TOO_MANY_SEGS, /* more pieces than we gather */
	VB_CHAIN_BAD_AVAIL,     /* avail idx ran more than a ring ahead */
	VB_CHAIN__MAX
};

const char *vb_chain_fault_name(enum vb_chain_fault f);

struct vb_seg {
	uint8_t *base;
	uint32_t len;
};

/* One validated buffer, all device-readable (tx) or all device-writable (rx). */
struct vb_chain {
	uint16_t head;
	uint16_t nseg;
	uint32_t len;                   /* sum of seg lengths */
	struct vb_seg seg[VB_CHAIN_MAX_SEGS];
};

/*
 * Walks the chain starting at head in a descriptor table of size entries.
 * writable selects the direction every descriptor must have.
 */
enum vb_chain_fault vb_chain_walk(const struct vb_mem *mem, const struct vring_desc *desc,
				  uint16_t size, uint16_t head, bool writable, struct vb_chain *c);
/* The same, with indirect descriptors refused when VIRTIO_RING_F_INDIRECT_DESC was not negotiated. */
enum vb_chain_fault vb_chain_walk_ex(const struct vb_mem *mem, const struct vring_desc *desc,
				     uint16_t size, uint16_t head, bool writable, bool indirect,
				     struct vb_chain *c);

/* Copies up to len bytes out of / into a chain starting at off; returns bytes done. */
uint32_t vb_chain_read(const struct vb_chain *c, uint32_t off, void *dst, uint32_t len);
uint32_t vb_chain_write(const struct vb_chain *c, uint32_t off, const void *src, uint32_t len);

/* A queue as the device sees it. */
struct vb_vq {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t size;
	uint16_t last_avail_idx;    /* next avail slot we take */
	uint16_t last_used_idx;     /* our used->idx, published by vb_vq_flush */
	uint16_t signalled_used;    /* used idx at our last interrupt */
	bool signalled_used_valid;
	bool event_idx;             /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;              /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	bool broken;                /* avail idx is out of range right now */
	int callfd;
	int kickfd;
	uint64_t faults[VB_CHAIN__MAX];
};

/*
 * Chains the driver made available that we have not taken. An avail idx more
 * than a ring ahead is nonsense: nothing is taken while it lasts, and each
 * time the ring enters that state it is counted.
 */
static inline uint16_t vb_vq_avail_count(struct vb_vq *vq)
{
	uint16_t n = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) - vq->last_avail_idx;

	if (n > vq->size) {
		if (!vq->broken)
			vq->faults[VB_CHAIN_BAD_AVAIL]++;
		vq->broken = true;
		return 0;
	}
	vq->broken = false;
	return n;
}

/*
 * Takes the next available chain and validates it. Returns VB_CHAIN_OK with
 * c filled, or the fault; a faulty chain is still consumed (its head is known
 * good when the fault is not BAD_HEAD) and should be returned with
 * vb_vq_push(vq, c->head, 0) so the driver gets its descriptors back.
 */
enum vb_chain_fault vb_vq_pop(struct vb_vq *vq, const struct vb_mem *mem, bool writable,
			      struct vb_chain *c);

/* Records a used element; the driver sees it after vb_vq_flush. */
static inline void vb_vq_push(struct vb_vq *vq, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = &vq->used->ring[vq->last_used_idx & (vq->size - 1)];

	e->id = head;
	e->len = len;
	vq->last_used_idx++;
}

/* Publishes used->idx and interrupts the driver if it asked for it. */
void vb_vq_flush(struct vb_vq *vq);

/* Whether the driver wants an interrupt for the used entries since the last one. */
bool vb_vq_need_call(struct vb_vq *vq);

/* Turns driver kicks off (we poll) or on (we are about to sleep on kickfd). */
void vb_vq_kicks(struct vb_vq *vq, bool on);

#endif

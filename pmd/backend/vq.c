/* SPDX-License-Identifier: MIT */
#include "vq.h"

#include <string.h>
#include <sys/eventfd.h>

static const char *const fault_names[VB_CHAIN__MAX] = {
	[VB_CHAIN_OK] = "ok",
	[VB_CHAIN_BAD_HEAD] = "bad_head",
	[VB_CHAIN_BAD_NEXT] = "bad_next",
	[VB_CHAIN_TOO_LONG] = "too_long",
	[VB_CHAIN_BAD_ADDR] = "bad_addr",
	[VB_CHAIN_LEN_OVERFLOW] = "len_overflow",
	[VB_CHAIN_WRONG_DIR] = "wrong_dir",
	[VB_CHAIN_BAD_INDIRECT] = "bad_indirect",
	[VB_CHAIN_TOO_MANY_SEGS] = "too_many_segs",
	[VB_CHAIN_BAD_AVAIL] = "bad_avail",
};

const char *vb_chain_fault_name(enum vb_chain_fault f)
{
	return (unsigned int)f < VB_CHAIN__MAX ? fault_names[f] : "unknown";
}

void *vb_mem_map(const struct vb_mem *m, uint64_t gpa, uint64_t len)
{
	for (uint32_t i = 0; i < m->nregions && i < VB_MEM_MAX_REGIONS; i++) {
		const struct vb_mem_region *r = &m->r[i];
		uint64_t off;

		if (gpa < r->gpa)
			continue;
		off = gpa - r->gpa;
		if (off >= r->size || len > r->size - off)
			continue;
		return (void *)(uintptr_t)(r->hva + off);
	}
	return NULL;
}

/* The driver may rewrite a descriptor while we look: read it once, use the copy. */
static inline struct vring_desc desc_read(const struct vring_desc *t, uint32_t i)
{
	const volatile struct vring_desc *v = &t[i];
	struct vring_desc d;

	d.addr = v->addr;
	d.len = v->len;
	d.flags = v->flags;
	d.next = v->next;
	return d;
}

enum vb_chain_fault vb_chain_walk(const struct vb_mem *mem, const struct vring_desc *desc,
				  uint16_t size, uint16_t head, bool writable, struct vb_chain *c)
{
	return vb_chain_walk_ex(mem, desc, size, head, writable, true, c);
}

enum vb_chain_fault vb_chain_walk_ex(const struct vb_mem *mem, const struct vring_desc *desc,
				     uint16_t size, uint16_t head, bool writable, bool indirect,
				     struct vb_chain *c)
{
	const struct vring_desc *table = desc;
	uint32_t table_size = size;
	uint32_t idx = head;
	uint32_t visited = 0;
	uint64_t total = 0;
	bool in_indirect = false;

	c->head = head;
	c->nseg = 0;
	c->len = 0;
	if (size == 0 || head >= size)
		return VB_CHAIN_BAD_HEAD;

	for (;;) {
		struct vring_desc d;

		/* The spec bounds a chain, indirect part included, by the queue size. */
		if (++visited > size)
			return VB_CHAIN_TOO_LONG;
		d = desc_read(table, idx);

		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (!indirect || in_indirect || (d.flags & VRING_DESC_F_NEXT))
				return VB_CHAIN_BAD_INDIRECT;
			if (d.len == 0 || d.len % sizeof(struct vring_desc) ||
			    d.addr % sizeof(struct vring_desc) ||
			    d.len / sizeof(struct vring_desc) > size)
				return VB_CHAIN_BAD_INDIRECT;
			table = vb_mem_map(mem, d.addr, d.len);
			if (!table)
				return VB_CHAIN_BAD_INDIRECT;
			table_size = d.len / sizeof(struct vring_desc);
			idx = 0;
			in_indirect = true;
			continue;
		}
		if (!!(d.flags & VRING_DESC_F_WRITE) != writable)
			return VB_CHAIN_WRONG_DIR;
		if (d.addr + d.len < d.addr)
			return VB_CHAIN_LEN_OVERFLOW;
		total += d.len;
		if (total > UINT32_MAX)
			return VB_CHAIN_LEN_OVERFLOW;
		if (d.len) {
			void *p = vb_mem_map(mem, d.addr, d.len);

			if (!p)
				return VB_CHAIN_BAD_ADDR;
			if (c->nseg == VB_CHAIN_MAX_SEGS)
				return VB_CHAIN_TOO_MANY_SEGS;
			c->seg[c->nseg].base = p;
			c->seg[c->nseg].len = d.len;
			c->nseg++;
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (d.next >= table_size)
			return VB_CHAIN_BAD_NEXT;
		idx = d.next;
	}
	c->len = (uint32_t)total;
	return VB_CHAIN_OK;
}

uint32_t vb_chain_read(const struct vb_chain *c, uint32_t off, void *dst, uint32_t len)
{
	uint8_t *out = dst;
	uint32_t done = 0;

	for (uint16_t i = 0; i < c->nseg && done < len; i++) {
		const struct vb_seg *s = &c->seg[i];
		uint32_t n;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = s->len - off;
		if (n > len - done)
			n = len - done;
		memcpy(out + done, s->base + off, n);
		done += n;
		off = 0;
	}
	return done;
}

uint32_t vb_chain_write(const struct vb_chain *c, uint32_t off, const void *src, uint32_t len)
{
	const uint8_t *in = src;
	uint32_t done = 0;

	for (uint16_t i = 0; i < c->nseg && done < len; i++) {
		const struct vb_seg *s = &c->seg[i];
		uint32_t n;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = s->len - off;
		if (n > len - done)
			n = len - done;
		memcpy(s->base + off, in + done, n);
		done += n;
		off = 0;
	}
	return done;
}

enum vb_chain_fault vb_vq_pop(struct vb_vq *vq, const struct vb_mem *mem, bool writable,
			      struct vb_chain *c)
{
	uint16_t slot = vq->last_avail_idx & (vq->size - 1);
	uint16_t head = __atomic_load_n(&vq->avail->ring[slot], __ATOMIC_RELAXED);
	enum vb_chain_fault f;

	vq->last_avail_idx++;
	if (head < vq->size) {
		/* The common chain, one buffer: the same checks as the walk, without its loop. */
		struct vring_desc d = desc_read(vq->desc, head);

		if (!(d.flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)) &&
		    !!(d.flags & VRING_DESC_F_WRITE) == writable && d.addr + d.len >= d.addr) {
			c->head = head;
			c->len = d.len;
			c->nseg = d.len != 0;
			if (!d.len)
				return VB_CHAIN_OK;
			c->seg[0].base = vb_mem_map(mem, d.addr, d.len);
			c->seg[0].len = d.len;
			if (c->seg[0].base)
				return VB_CHAIN_OK;
		}
	}
	f = vb_chain_walk_ex(mem, vq->desc, vq->size, head, writable, vq->indirect, c);
	if (f != VB_CHAIN_OK)
		vq->faults[f]++;
	return f;
}

static inline uint16_t *used_event(struct vb_vq *vq)
{
	return &vq->avail->ring[vq->size];
}

static inline uint16_t *avail_event(struct vb_vq *vq)
{
	return (uint16_t *)&vq->used->ring[vq->size];
}

bool vb_vq_need_call(struct vb_vq *vq)
{
	/* used->idx must be visible before we read what the driver asked for. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx) {
		uint16_t old = vq->signalled_used;
		uint16_t new = vq->last_used_idx;
		uint16_t ev = __atomic_load_n(used_event(vq), __ATOMIC_RELAXED);
		bool valid = vq->signalled_used_valid;

		vq->signalled_used = new;
		vq->signalled_used_valid = true;
		if (!valid)
			return true;
		/* The ring's vring_need_event: did used idx step over used_event? */
		return (uint16_t)(new - ev - 1) < (uint16_t)(new - old);
	}
	return !(__atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED) & VRING_AVAIL_F_NO_INTERRUPT);
}

void vb_vq_flush(struct vb_vq *vq)
{
	__atomic_store_n(&vq->used->idx, vq->last_used_idx, __ATOMIC_RELEASE);
	if (vb_vq_need_call(vq) && vq->callfd >= 0)
		eventfd_write(vq->callfd, 1);
}

void vb_vq_kicks(struct vb_vq *vq, bool on)
{
	if (!vq->event_idx) {
		uint16_t f = __atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED);

		f = on ? f & ~VRING_USED_F_NO_NOTIFY : f | VRING_USED_F_NO_NOTIFY;
		__atomic_store_n(&vq->used->flags, f, __ATOMIC_RELAXED);
	} else if (on) {
		/* Kick us when the driver makes the next chain available. */
		__atomic_store_n(avail_event(vq), vq->last_avail_idx, __ATOMIC_RELAXED);
	}
	/* Off with event idx: leave avail_event behind; the driver kicks once per 64 Ki chains. */
	if (on)
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

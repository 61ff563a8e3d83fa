/* SPDX-License-Identifier: MIT */
/*
 * Modern virtio-pci over vfio-pci (virtio 1.2 §4.1), behind the transport
 * ops. The device exposes its registers through vendor-specific PCI
 * capabilities that point into BARs: we walk the capability list in config
 * space, map the BARs they name and from then on touch only MMIO.
 *
 * No interrupts: MSI-X vectors are set to NO_VECTOR and the device code polls
 * the used rings. A kick is a 16-bit write of the queue index at the queue's
 * notify address, queue_notify_off * notify_off_multiplier into the notify
 * capability.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_io.h>
#include <rte_memory.h>

#include "vfio.h"
#include "virtio_pci.h"
#include "virtqueue.h"

/* Capability types (virtio 1.2 §4.1.4). */
enum {
	VIRTIO_PCI_CAP_COMMON_CFG = 1,
	VIRTIO_PCI_CAP_NOTIFY_CFG = 2,
	VIRTIO_PCI_CAP_ISR_CFG = 3,
	VIRTIO_PCI_CAP_DEVICE_CFG = 4,
	VIRTIO_PCI_CAP_TYPES = 5,
};

/* struct virtio_pci_cap, as it sits in config space. */
struct virtio_pci_cap {
	uint8_t cap_vndr;     /* PCI_CAP_ID_VNDR */
	uint8_t cap_next;
	uint8_t cap_len;
	uint8_t cfg_type;
	uint8_t bar;
	uint8_t id;
	uint8_t padding[2];
	uint32_t offset;
	uint32_t length;
} __attribute__((packed));

/* The common configuration structure (virtio 1.2 §4.1.4.3), little-endian MMIO. */
struct virtio_pci_common_cfg {
	uint32_t device_feature_select;
	uint32_t device_feature;
	uint32_t driver_feature_select;
	uint32_t driver_feature;
	uint16_t msix_config;
	uint16_t num_queues;
	uint8_t device_status;
	uint8_t config_generation;
	uint16_t queue_select;
	uint16_t queue_size;
	uint16_t queue_msix_vector;
	uint16_t queue_enable;
	uint16_t queue_notify_off;
	uint32_t queue_desc_lo, queue_desc_hi;
	uint32_t queue_driver_lo, queue_driver_hi;
	uint32_t queue_device_lo, queue_device_hi;
};

_Static_assert(sizeof(struct virtio_pci_common_cfg) == 56, "common cfg layout");

#define VIRTIO_MSI_NO_VECTOR 0xffff
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_F_NOTIFICATION_DATA_BIT 38
#define VP_MAX_QUEUES 8
#define VP_RESET_WAIT_MS 1000
/*
 * A device that leaves driver-written buffers unused this long while the
 * driver waits has stopped (its vhost-user backend died, say): the rings of
 * a living one move in microseconds, and nothing else would ever say so.
 */
#define VP_STALL_MS 5000

/* What the liveness check remembers of a queue. */
struct vp_watch {
	const struct virtqueue *vq;
	uint16_t used_idx;                   /* used->idx when the device last moved it */
	uint16_t avail_idx;                  /* avail->idx we had published by then */
	uint64_t since;                      /* TSC since which the device owes us work */
};

struct virtio_pci {
	struct virtio_transport t;          /* first: the ops see only this */
	struct sp_vfio_dev vfio;
	volatile struct virtio_pci_common_cfg *common;
	volatile uint8_t *notify_base;
	uint32_t notify_len;
	uint32_t notify_off_multiplier;
	volatile uint8_t *isr;
	volatile uint8_t *device_cfg;
	uint32_t device_cfg_len;
	uint64_t device_features;            /* all bits the device offers */
	uint8_t status;                      /* last status we wrote */
	volatile uint16_t *notify_addr[VP_MAX_QUEUES];
	struct vp_watch watch[VP_MAX_QUEUES];
	uint64_t next_alive_check;
	bool alive;
};

#define VP(t) ((struct virtio_pci *)(t))

static void vp_wr32(volatile uint32_t *reg, uint32_t v) { rte_write32(v, reg); }
static uint32_t vp_rd32(volatile uint32_t *reg) { return rte_read32(reg); }
static void vp_wr16(volatile uint16_t *reg, uint16_t v) { rte_write16(v, reg); }
static uint16_t vp_rd16(volatile uint16_t *reg) { return rte_read16(reg); }

static uint64_t vp_device_features(struct virtio_pci *vp)
{
	uint64_t lo, hi;

	vp_wr32(&vp->common->device_feature_select, 0);
	lo = vp_rd32(&vp->common->device_feature);
	vp_wr32(&vp->common->device_feature_select, 1);
	hi = vp_rd32(&vp->common->device_feature);
	return hi << 32 | lo;
}

/* Writing 0 resets; the device says it is done by reading back 0 (§4.1.4.3.2). */
static int vp_reset(struct virtio_pci *vp)
{
	unsigned int ms;

	rte_write8(0, &vp->common->device_status);
	for (ms = 0; ms < VP_RESET_WAIT_MS; ms++) {
		if (rte_read8(&vp->common->device_status) == 0) {
			vp->status = 0;
			return 0;
		}
		usleep(1000);
	}
	return -1;
}

/*
 * Walks the capability list for the first usable virtio capability of each
 * type and maps its BAR. A list that loops or points outside config space is
 * a broken device, not something to follow forever.
 */
static int vp_find_caps(struct virtio_pci *vp, char *err, size_t errlen)
{
	static const char *const names[VIRTIO_PCI_CAP_TYPES] = {
		[VIRTIO_PCI_CAP_COMMON_CFG] = "common cfg", [VIRTIO_PCI_CAP_NOTIFY_CFG] = "notify",
		[VIRTIO_PCI_CAP_ISR_CFG] = "ISR", [VIRTIO_PCI_CAP_DEVICE_CFG] = "device cfg",
	};
	/* the smallest structure each type must hold */
	static const uint32_t min_len[VIRTIO_PCI_CAP_TYPES] = {
		[VIRTIO_PCI_CAP_COMMON_CFG] = sizeof(struct virtio_pci_common_cfg),
		[VIRTIO_PCI_CAP_NOTIFY_CFG] = 2, [VIRTIO_PCI_CAP_ISR_CFG] = 1,
		[VIRTIO_PCI_CAP_DEVICE_CFG] = 1,
	};
	volatile uint8_t *where[VIRTIO_PCI_CAP_TYPES] = { 0 };
	uint32_t len[VIRTIO_PCI_CAP_TYPES] = { 0 };
	struct sp_vfio_dev *d = &vp->vfio;
	uint16_t status;
	uint8_t pos;
	int type, hops;

	if (sp_vfio_cfg_read(d, PCI_STATUS, &status, 2) || !(status & PCI_STATUS_CAP_LIST)) {
		snprintf(err, errlen, "%s: no PCI capability list: not a modern virtio device", d->addr);
		return -1;
	}
	if (sp_vfio_cfg_read(d, PCI_CAPABILITY_LIST, &pos, 1))
		return -1;
	for (hops = 0; pos >= 0x40 && hops < 48; hops++) {
		struct virtio_pci_cap cap;
		uint8_t *bar;

		pos &= ~3;
		if (sp_vfio_cfg_read(d, pos, &cap, sizeof(cap))) {
			snprintf(err, errlen, "%s: cannot read capability at 0x%x", d->addr, pos);
			return -1;
		}
		type = cap.cfg_type;
		if (cap.cap_vndr == PCI_CAP_ID_VNDR && type > 0 && type < VIRTIO_PCI_CAP_TYPES &&
		    !where[type] && cap.bar < SP_PCI_BARS && cap.length >= min_len[type]) {
			bar = sp_vfio_map_bar(d, cap.bar, err, errlen);
			if (!bar)
				return -1;
			if ((uint64_t)cap.offset + cap.length > d->bar[cap.bar].len) {
				snprintf(err, errlen, "%s: %s capability lies outside BAR %u", d->addr,
					 names[type], cap.bar);
				return -1;
			}
			where[type] = bar + cap.offset;
			len[type] = cap.length;
			if (type == VIRTIO_PCI_CAP_NOTIFY_CFG &&
			    sp_vfio_cfg_read(d, pos + sizeof(cap), &vp->notify_off_multiplier, 4))
				return -1;
		}
		pos = cap.cap_next;
	}
	for (type = 1; type < VIRTIO_PCI_CAP_TYPES; type++) {
		if (!where[type]) {
			snprintf(err, errlen, "%s: no virtio %s capability: not a modern virtio device "
				 "(legacy-only devices are not supported)", d->addr, names[type]);
			return -1;
		}
	}
	vp->common = (volatile struct virtio_pci_common_cfg *)where[VIRTIO_PCI_CAP_COMMON_CFG];
	vp->notify_base = where[VIRTIO_PCI_CAP_NOTIFY_CFG];
	vp->notify_len = len[VIRTIO_PCI_CAP_NOTIFY_CFG];
	vp->isr = where[VIRTIO_PCI_CAP_ISR_CFG];
	vp->device_cfg = where[VIRTIO_PCI_CAP_DEVICE_CFG];
	vp->device_cfg_len = len[VIRTIO_PCI_CAP_DEVICE_CFG];
	return 0;
}

static int vp_setup_mem(struct virtio_transport *t)
{
	/* EAL's container mapped all DPDK memory when the device was taken (vfio.c). */
	return 0;
}

/* The device's bits minus those this transport negotiates on its own. */
static uint64_t vp_get_features(struct virtio_transport *t)
{
	return VP(t)->device_features & ~((1ull << VIRTIO_F_ACCESS_PLATFORM_BIT) |
					  (1ull << VIRTIO_F_NOTIFICATION_DATA_BIT));
}

/*
 * Writes the driver features and does the FEATURES_OK handshake here, where
 * the register is: the device may refuse a subset, and the only way to know
 * is to read the status back (§3.1.1 step 6).
 */
static int vp_set_features(struct virtio_transport *t, uint64_t features)
{
	struct virtio_pci *vp = VP(t);
	uint8_t st;

	features &= vp->device_features;
	features |= 1ull << VIRTIO_F_VERSION_1_BIT;
	features |= vp->device_features & (1ull << VIRTIO_F_ACCESS_PLATFORM_BIT);
	vp_wr32(&vp->common->driver_feature_select, 0);
	vp_wr32(&vp->common->driver_feature, (uint32_t)features);
	vp_wr32(&vp->common->driver_feature_select, 1);
	vp_wr32(&vp->common->driver_feature, (uint32_t)(features >> 32));
	st = vp->status | VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
	rte_write8(st, &vp->common->device_status);
	vp->status = st;
	if (!(rte_read8(&vp->common->device_status) & VIRTIO_STATUS_FEATURES_OK)) {
		fprintf(stderr, "virtio-pci %s: device refused features 0x%llx (FEATURES_OK not kept)\n",
			vp->vfio.addr, (unsigned long long)features);
		return -1;
	}
	return 0;
}

/* Device config read consistently: retried while config_generation moves (§4.1.4.3.1). */
static int vp_read_config(struct virtio_transport *t, uint32_t off, void *buf, uint32_t len)
{
	struct virtio_pci *vp = VP(t);
	uint8_t gen, *out = buf;
	unsigned int tries;
	uint32_t i;

	if ((uint64_t)off + len > vp->device_cfg_len)
		return -1;
	for (tries = 0; tries < 100; tries++) {
		gen = rte_read8(&vp->common->config_generation);
		/* 32-bit reads where aligned: a 64-bit field is read as two, as the spec allows */
		for (i = 0; i < len;) {
			if (!((off + i) & 3) && len - i >= 4) {
				uint32_t v = rte_read32(vp->device_cfg + off + i);

				memcpy(out + i, &v, 4);
				i += 4;
			} else {
				out[i] = rte_read8(vp->device_cfg + off + i);
				i++;
			}
		}
		if (rte_read8(&vp->common->config_generation) == gen)
			return 0;
	}
	return -1;
}

/* One part of a ring, as the device will address it: its IOVA, contiguous over len. */
static int vp_ring_iova(struct virtio_pci *vp, const void *va, size_t len, uint64_t *iova)
{
	rte_iova_t first = rte_mem_virt2iova(va);
	rte_iova_t last = rte_mem_virt2iova((const uint8_t *)va + len - 1);

	if (first == RTE_BAD_IOVA || last != first + len - 1) {
		fprintf(stderr, "virtio-pci %s: ring at %p is not IOVA-contiguous DPDK memory "
			"(reserve it with RTE_MEMZONE_IOVA_CONTIG)\n", vp->vfio.addr, va);
		return -1;
	}
	*iova = first;
	return 0;
}

static void vp_wr64(volatile uint32_t *lo, volatile uint32_t *hi, uint64_t v)
{
	/* two 32-bit writes, low first: devices need not accept 64-bit MMIO */
	vp_wr32(lo, (uint32_t)v);
	vp_wr32(hi, (uint32_t)(v >> 32));
}

/* What the device's queue_size register says after selecting the queue (§4.1.4.3). */
static uint16_t vp_queue_max(struct virtio_transport *t, uint16_t qid)
{
	struct virtio_pci *vp = VP(t);

	if (qid >= VP_MAX_QUEUES || qid >= vp_rd16(&vp->common->num_queues))
		return 0; /* setup_queue says why */
	vp_wr16(&vp->common->queue_select, qid);
	return vp_rd16(&vp->common->queue_size);
}

static int vp_setup_queue(struct virtio_transport *t, uint16_t qid, const struct virtqueue *vq)
{
	struct virtio_pci *vp = VP(t);
	volatile struct virtio_pci_common_cfg *c = vp->common;
	uint64_t desc, avail, used, off;
	uint16_t max;

	if (qid >= VP_MAX_QUEUES || qid >= vp_rd16(&c->num_queues)) {
		fprintf(stderr, "virtio-pci %s: cannot set up queue %u: the device has %u\n",
			vp->vfio.addr, qid, vp_rd16(&c->num_queues));
		return -1;
	}
	vp_wr16(&c->queue_select, qid);
	max = vp_rd16(&c->queue_size);
	if (max == 0 || vq->num > max) {
		fprintf(stderr, "virtio-pci %s: cannot set up queue %u: it takes at most %u entries, "
			"not %u (devargs queue_size=)\n", vp->vfio.addr, qid, max, vq->num);
		return -1;
	}
	if (vp_ring_iova(vp, vq->desc, vq_desc_size(vq->num), &desc) ||
	    vp_ring_iova(vp, vq->avail, vq_avail_size(vq->num), &avail) ||
	    vp_ring_iova(vp, vq->used, vq_used_size(vq->num), &used))
		return -1;
	off = (uint64_t)vp_rd16(&c->queue_notify_off) * vp->notify_off_multiplier;
	if (off + 2 > vp->notify_len) {
		fprintf(stderr, "virtio-pci %s: queue %u notify offset 0x%llx outside the notify "
			"capability\n", vp->vfio.addr, qid, (unsigned long long)off);
		return -1;
	}
	vp_wr16(&c->queue_size, vq->num);
	vp_wr16(&c->queue_msix_vector, VIRTIO_MSI_NO_VECTOR);
	vp_wr64(&c->queue_desc_lo, &c->queue_desc_hi, desc);
	vp_wr64(&c->queue_driver_lo, &c->queue_driver_hi, avail);
	vp_wr64(&c->queue_device_lo, &c->queue_device_hi, used);
	vp->notify_addr[qid] = (volatile uint16_t *)(vp->notify_base + off);
	vp->watch[qid] = (struct vp_watch){ .vq = vq, .used_idx = vq->used->idx,
					    .avail_idx = vq->avail->idx, .since = rte_get_tsc_cycles() };
	vp_wr16(&c->queue_enable, 1);
	return 0;
}

static void vp_notify(struct virtio_transport *t, uint16_t qid)
{
	/* rte_write16 orders it after the avail-index store the device must see first */
	rte_write16(qid, VP(t)->notify_addr[qid]);
}

static uint8_t vp_get_status(struct virtio_transport *t)
{
	return rte_read8(&VP(t)->common->device_status);
}

static int vp_set_status(struct virtio_transport *t, uint8_t status)
{
	struct virtio_pci *vp = VP(t);

	if (status == 0)
		return vp_reset(vp);
	if (status & VIRTIO_STATUS_DRIVER_OK)
		vp_wr16(&vp->common->msix_config, VIRTIO_MSI_NO_VECTOR);
	rte_write8(status, &vp->common->device_status);
	vp->status = status;
	return 0;
}

/*
 * A queue whose newest buffer the device is to write (an rx queue waiting for
 * traffic) owes us nothing; one whose buffers it is to read (tx) does.
 */
static bool vp_device_reads(const struct virtqueue *vq, uint16_t avail)
{
	uint16_t head = vq->avail->ring[(uint16_t)(avail - 1) & vq->mask] & vq->mask;

	return !(vq->desc[head].flags & VRING_DESC_F_WRITE);
}

/*
 * Stalled: we published buffers for the device to read after the last time it
 * moved its used index, and it has not moved it since, for VP_STALL_MS. Counted
 * in published indices, not in chains, so it holds with in-order batches (one
 * used entry for many) and whether or not we have reclaimed what was used.
 */
static bool vp_stalled(struct virtio_pci *vp, uint64_t now)
{
	uint64_t limit = rte_get_tsc_hz() / 1000 * VP_STALL_MS;
	unsigned int q;

	for (q = 0; q < VP_MAX_QUEUES; q++) {
		struct vp_watch *w = &vp->watch[q];
		uint16_t used, avail;

		if (!w->vq)
			continue;
		used = __atomic_load_n(&w->vq->used->idx, __ATOMIC_ACQUIRE);
		avail = w->vq->avail->idx;
		if (used != w->used_idx) {              /* progress */
			w->used_idx = used;
			w->avail_idx = avail;
			w->since = now;
		} else if (avail == w->avail_idx || !vp_device_reads(w->vq, avail)) {
			w->since = now;                 /* nothing new for it to read */
		} else if (now - w->since > limit) {
			fprintf(stderr, "virtio-pci %s: queue %u: the device used none of the %u buffers "
				"published for it in %u ms; device gone (stopped, or its backend died)\n",
				vp->vfio.addr, q, (unsigned int)(uint16_t)(avail - w->avail_idx),
				VP_STALL_MS);
			return true;
		}
	}
	return false;
}

/*
 * Gone when the device asks for a reset, when it reset itself (status no
 * longer what we wrote), when reads return all ones (removed), when the
 * kernel asks for it back (hot-unplug: vfio-pci's request eventfd) or when
 * it stopped using the buffers we wait on. MMIO reads cost a VM exit, so
 * look at most every 100 us.
 */
static bool vp_is_alive(struct virtio_transport *t)
{
	struct virtio_pci *vp = VP(t);
	uint64_t now;
	uint8_t st;

	if (!vp->alive)
		return false;
	now = rte_get_tsc_cycles();
	if (now < vp->next_alive_check)
		return true;
	vp->next_alive_check = now + rte_get_tsc_hz() / 10000;
	st = rte_read8(&vp->common->device_status);
	if (st == 0xff || (st & VIRTIO_STATUS_NEEDS_RESET) ||
	    ((vp->status & VIRTIO_STATUS_DRIVER_OK) && !(st & VIRTIO_STATUS_DRIVER_OK))) {
		fprintf(stderr, "virtio-pci %s: device status 0x%x; device gone\n", vp->vfio.addr, st);
		vp->alive = false;
	} else if (sp_vfio_req_pending(&vp->vfio)) {
		fprintf(stderr, "virtio-pci %s: the kernel asks for the device back (hot-unplug or "
			"unbind); device gone, it is released when the program closes it\n",
			vp->vfio.addr);
		vp->alive = false;
	} else if ((vp->status & VIRTIO_STATUS_DRIVER_OK) && vp_stalled(vp, now)) {
		vp->alive = false;
	}
	return vp->alive;
}

static void vp_close(struct virtio_transport *t)
{
	struct virtio_pci *vp = VP(t);

	/* stop the device from reading our rings before the memory goes back (unless reset already) */
	if (vp->common && vp->status != 0)
		vp_reset(vp);
	sp_vfio_close(&vp->vfio);
	free(vp);
}

static const struct virtio_transport_ops virtio_pci_ops = {
	.name = "virtio-pci",
	.setup_mem = vp_setup_mem,
	.get_features = vp_get_features,
	.set_features = vp_set_features,
	.read_config = vp_read_config,
	.queue_max = vp_queue_max,
	.setup_queue = vp_setup_queue,
	.notify = vp_notify,
	.get_status = vp_get_status,
	.set_status = vp_set_status,
	.is_alive = vp_is_alive,
	.close = vp_close,
};

/*
 * Transitional devices (virtio 1.2 §4.1.2.3) keep their legacy id and carry the
 * virtio id in the subsystem device id; only the oldest device types have one.
 */
static uint16_t transitional_id(uint16_t virtio_id)
{
	static const uint16_t legacy[] = {
		[1] = 0x1000, [2] = 0x1001, [3] = 0x1003, [4] = 0x1005, [5] = 0x1002,
		[8] = 0x1004, [9] = 0x1009,
	};

	return virtio_id < RTE_DIM(legacy) ? legacy[virtio_id] : 0;
}

struct virtio_transport *virtio_pci_transport_open(const char *pci_addr, uint16_t virtio_id)
{
	struct virtio_pci *vp = calloc(1, sizeof(*vp));
	struct sp_pci_id ids[3] = {
		{ VIRTIO_PCI_VENDOR, VIRTIO_PCI_MODERN_ID(virtio_id), 0 },
		{ VIRTIO_PCI_VENDOR, transitional_id(virtio_id), virtio_id },
	};
	char err[SP_VFIO_ERRLEN];

	if (!vp)
		return NULL;
	vp->t.ops = &virtio_pci_ops;
	vp->t.addr_is_va = false;
	if (!ids[1].device)
		ids[1].vendor = 0; /* no transitional id for this type (vsock has none) */
	if (sp_vfio_open(&vp->vfio, pci_addr, ids, err, sizeof(err))) {
		fprintf(stderr, "virtio-pci: cannot take %s\n", err);
		free(vp);
		return NULL;
	}
	snprintf(vp->t.name, sizeof(vp->t.name), "virtio-pci %s", vp->vfio.addr);
	if (vp_find_caps(vp, err, sizeof(err)))
		goto refuse;
	/* Only the feature-select register touched so far: refusing here leaves the device as it was. */
	vp->device_features = vp_device_features(vp);
	if (!(vp->device_features & (1ull << VIRTIO_F_VERSION_1_BIT))) {
		snprintf(err, sizeof(err), "%s: device does not offer VIRTIO_F_VERSION_1 (features "
			 "0x%llx)", vp->vfio.addr, (unsigned long long)vp->device_features);
		goto refuse;
	}
	/*
	 * Without VIRTIO_F_ACCESS_PLATFORM the device bypasses the IOMMU and reads
	 * (guest-)physical addresses: our IOVAs must be physical ones.
	 */
	if (!(vp->device_features & (1ull << VIRTIO_F_ACCESS_PLATFORM_BIT)) &&
	    rte_eal_iova_mode() != RTE_IOVA_PA) {
		snprintf(err, sizeof(err), "%s: the device lacks VIRTIO_F_ACCESS_PLATFORM, so it reads "
			 "physical addresses, but EAL runs with IOVA as VA: use hugepages and "
			 "--iova-mode=pa (or give the device iommu_platform=on)", vp->vfio.addr);
		goto refuse;
	}
	if (vp_reset(vp)) {
		snprintf(err, sizeof(err), "%s: device did not finish its reset", vp->vfio.addr);
		goto refuse;
	}
	if (sp_vfio_bus_master(&vp->vfio, 1)) {
		snprintf(err, sizeof(err), "%s: cannot enable bus mastering", vp->vfio.addr);
		goto refuse;
	}
	rte_write8(VIRTIO_STATUS_ACKNOWLEDGE, &vp->common->device_status);
	rte_write8(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, &vp->common->device_status);
	vp->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
	vp->alive = true;
	if (sp_vfio_req_enable(&vp->vfio))
		fprintf(stderr, "virtio-pci %s: no VFIO device-request eventfd: a hot-unplug will "
			"wait for the program to close the device\n", vp->vfio.addr);
	return &vp->t;
refuse:
	fprintf(stderr, "virtio-pci: cannot take %s\n", err);
	vp->common = NULL; /* untouched: close must not reset it */
	sp_vfio_close(&vp->vfio);
	free(vp);
	return NULL;
}

/* SPDX-License-Identifier: MIT */
/*
 * A fake virtio device behind the transport ops, in the driver's own process:
 * it reads the avail rings and writes used entries (good or hostile) as the
 * test says. A second transport besides vhost-user, as vfio-pci is a third.
 */
#ifndef SP_TEST_PMD_FAKE_H
#define SP_TEST_PMD_FAKE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "virtio_transport.h"
#include "virtqueue.h"

enum { RXQ, TXQ, EVQ };

struct fake {
	struct virtio_transport t;
	const struct virtqueue *vq[3];
	uint16_t last_avail[3];
	uint16_t used_idx[3];
	unsigned int kicks[3];
	bool alive;
	uint64_t features;
	uint64_t features_acked;
	uint16_t queue_max[3];  /* what the device's queues hold at most; 0: no limit */
};

static struct fake fk;
static inline int f_setup_mem(struct virtio_transport *t) { return 0; }
static inline uint64_t f_get_features(struct virtio_transport *t) { return fk.features; }
static inline int f_set_features(struct virtio_transport *t, uint64_t f) { fk.features_acked = f; return 0; }
static inline int f_read_config(struct virtio_transport *t, uint32_t off, void *buf, uint32_t len)
{
	uint64_t cid = 42;

	if (off != 0 || len != 8)
		return -1;
	memcpy(buf, &cid, 8);
	return 0;
}
static inline uint16_t f_queue_max(struct virtio_transport *t, uint16_t qid) { return fk.queue_max[qid]; }
static inline int f_setup_queue(struct virtio_transport *t, uint16_t qid, const struct virtqueue *vq)
{
	fk.vq[qid] = vq;
	return 0;
}
static inline void f_notify(struct virtio_transport *t, uint16_t qid) { fk.kicks[qid]++; }
static inline uint8_t f_get_status(struct virtio_transport *t) { return 0; }
static inline int f_set_status(struct virtio_transport *t, uint8_t s) { return 0; }
static inline bool f_is_alive(struct virtio_transport *t) { return fk.alive; }
static inline void f_close(struct virtio_transport *t) { }

static const struct virtio_transport_ops fake_ops = {
	.name = "fake", .setup_mem = f_setup_mem, .get_features = f_get_features,
	.set_features = f_set_features, .read_config = f_read_config, .queue_max = f_queue_max, .setup_queue = f_setup_queue,
	.notify = f_notify, .get_status = f_get_status, .set_status = f_set_status,
	.is_alive = f_is_alive, .close = f_close,
};

/* Device side: the next available chain head of queue q, or -1. */
static inline int dev_take(int q)
{
	const struct virtqueue *vq = fk.vq[q];

	if (fk.last_avail[q] == __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE))
		return -1;
	return vq->avail->ring[fk.last_avail[q]++ & vq->mask];
}

static inline void dev_used(int q, uint32_t id, uint32_t len)
{
	const struct virtqueue *vq = fk.vq[q];

	vq->used->ring[fk.used_idx[q] & vq->mask].id = id;
	vq->used->ring[fk.used_idx[q] & vq->mask].len = len;
	fk.used_idx[q]++;
	__atomic_store_n(&vq->used->idx, fk.used_idx[q], __ATOMIC_RELEASE);
}

/* Resets the fake and returns its transport, ready for sp_vsock_dev_create_on(). */
static inline struct virtio_transport *fake_open(uint64_t features)
{
	memset(&fk, 0, sizeof(fk));
	fk.t.ops = &fake_ops;
	fk.t.addr_is_va = true;
	fk.alive = true;
	fk.features = features;
	return &fk.t;
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The virtio-vsock poll-mode driver as the stack sees it: a device found by
 * name, a pool of mbufs to build packets in, and burst calls. A packet is one
 * mbuf (or chain) whose data starts with the 44-byte wire header
 * (struct vsock_hdr, little-endian) followed by the payload.
 *
 * Devices are created by EAL from --vdev=virtio_vsock0,path=SOCK[,cid=N][,queue_size=N]
 * or by sp_vsock_dev_create() with the same arguments.
 */
#ifndef SP_VIRTIO_VSOCK_H
#define SP_VIRTIO_VSOCK_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#define SP_VSOCK_DRIVER_NAME "virtio_vsock"

struct sp_vsock_dev;

struct sp_vsock_stats {
	uint64_t tx_pkts, tx_bytes, tx_kicks, tx_ring_full;
	uint64_t rx_pkts, rx_bytes, rx_kicks_sent;
	uint64_t bad_used_id, bad_used_len;   /* used-ring entries refused (hostile or buggy device) */
	uint64_t bad_rx_hdr;                  /* received headers refused by vsock_hdr_check */
	uint64_t events;                      /* event-queue entries (TRANSPORT_RESET) */
};

/* The device EAL created for this --vdev name, or NULL. */
struct sp_vsock_dev *sp_vsock_dev_get(const char *name);
/* Creates a device after EAL is up; args as in --vdev ("path=/run/sendpath/v.sock,cid=3"). */
struct sp_vsock_dev *sp_vsock_dev_create(const char *name, const char *args);
void sp_vsock_dev_destroy(struct sp_vsock_dev *dev);

/* The guest CID: from devargs cid=, else the device's config space. */
uint64_t sp_vsock_dev_cid(const struct sp_vsock_dev *dev);
/* Mbufs for tx packets; data room holds header + VSOCK_MAX_PKT_PAYLOAD or chains are used. */
struct rte_mempool *sp_vsock_dev_pool(struct sp_vsock_dev *dev);
/* false once the device is gone (backend closed the vhost-user socket or reset the device). */
bool sp_vsock_dev_alive(const struct sp_vsock_dev *dev);

/*
 * Queues up to n packets on the tx virtqueue: one avail-index update and at
 * most one notification for the whole burst. Returns how many were taken; the
 * driver owns (and later frees) those mbufs. Completed tx buffers are reclaimed
 * inside this call.
 */
uint16_t sp_vsock_tx_burst(struct sp_vsock_dev *dev, struct rte_mbuf **pkts, uint16_t n);
/* Free tx descriptors right now (after reclaiming completions). */
uint16_t sp_vsock_tx_free(struct sp_vsock_dev *dev);

/* Received packets, header at the data start, already checked; the rx ring is refilled. */
uint16_t sp_vsock_rx_burst(struct sp_vsock_dev *dev, struct rte_mbuf **pkts, uint16_t n);

/* Event-queue entries; returns 1 and the event id when one arrived, 0 when none. */
int sp_vsock_event_poll(struct sp_vsock_dev *dev, uint32_t *event_id);

void sp_vsock_dev_stats(const struct sp_vsock_dev *dev, struct sp_vsock_stats *st);

#endif

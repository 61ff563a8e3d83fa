/* SPDX-License-Identifier: MIT */
/*
 * The virtio-vsock poll-mode driver as the stack sees it: a device found by
 * name, a pool of mbufs to build packets in, and burst calls. A packet is one
 * mbuf (or chain) whose data starts with the 44-byte wire header
 * (struct vsock_hdr, little-endian) followed by the payload.
 *
 * Devices are created by EAL from
 *   --vdev=virtio_vsock0,path=SOCK[,cid=N][,queue_size=N][,pool_size=N][,big_pool=N][,connect_ms=N]
 *   -a 0000:00:04.0[,...]   (virtio-pci via vfio-pci, found by DPDK's PCI bus and
 *                            named by its address; see pmd/pci_bus.c)
 *   --vdev=virtio_vsock_pci0,pci=0000:00:04.0[,...]     (the same, under --no-pci)
 * or by sp_vsock_dev_create() with the same arguments. cid= overrides the
 * config space (needed when the backend does not offer GET_CONFIG);
 * queue_size (power of two, 64..4096) applies to rx and tx: by default 256,
 * or the largest power of two the device's queues take when they take fewer
 * (QEMU's vhost-user-vsock-pci: 128); a queue_size= beyond that is refused.
 * pool_size (default 8191) must be at least 2*queue_size+64; big_pool
 * (default 127, 0 for none) is the number of large tx segments (below);
 * connect_ms is how long to wait for the backend's socket (default 2000).
 *
 * Memory: start EAL with sp_env's shares_memory (fd-backed segments). The
 * backend is given DPDK's memory as it is when the device starts, so mbufs
 * for tx must come from sp_vsock_dev_pool() or a pool created before it.
 *
 * Pool layout: every mbuf has SP_VSOCK_MBUF_DATA (4 KiB) of data room after
 * the headroom. A packet is header + up to 4052 payload bytes in one mbuf, or
 * a chain: a 64 KiB RW packet is 17 segments (the header plus 4052 bytes in
 * the first). Each segment takes one descriptor. A second pool holds large
 * segments of SP_VSOCK_MBUF_BIG_DATA (62 KiB; an mbuf's room is 16 bits) for
 * the rest of a large packet: a 64 KiB RW packet is then two descriptors,
 * the header and 4052 bytes, and 61484 bytes. Rx buffers are the same
 * mbufs, so the device splits RW payloads to at most 4052 bytes per packet,
 * as a Linux host does with its guests' 4 KiB rx buffers.
 */
#ifndef SP_VIRTIO_VSOCK_H
#define SP_VIRTIO_VSOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#define SP_VSOCK_DRIVER_NAME "virtio_vsock"
/* Data room of each mbuf in the device's pool (after RTE_PKTMBUF_HEADROOM). */
#define SP_VSOCK_MBUF_DATA 4096u
/* Data room of the large tx segments (sp_vsock_dev_big_pool). */
#define SP_VSOCK_MBUF_BIG_DATA 63488u

struct sp_vsock_dev;

struct sp_vsock_stats {
	uint64_t tx_pkts, tx_bytes, tx_kicks, tx_ring_full;
	uint64_t tx_bad_pkt;                  /* refused by tx_burst: no room for a header, too many segments */
	uint64_t rx_pkts, rx_bytes, rx_kicks_sent;
	uint64_t bad_used_id, bad_used_len;   /* used-ring entries refused (hostile or buggy device), all queues */
	uint64_t bad_rx_hdr;                  /* received headers refused by vsock_hdr_check */
	uint64_t events;                      /* event-queue entries (TRANSPORT_RESET) */
};

/* The device EAL created for this --vdev name, or NULL. */
struct sp_vsock_dev *sp_vsock_dev_get(const char *name);
/* Creates a device after EAL is up; args as in --vdev ("path=/run/sendpath/v.sock,cid=3"). */
struct sp_vsock_dev *sp_vsock_dev_create(const char *name, const char *args);
/*
 * Resets the device first, which stops its rings (vhost-user: GET_VRING_BASE
 * per queue, answered; virtio-pci: status 0 read back), waiting at most about
 * a second; only then are rings and mbufs freed. A device that did not confirm
 * in time keeps its memory (never reused) and destroy says so on stderr.
 */
void sp_vsock_dev_destroy(struct sp_vsock_dev *dev);
/*
 * Creates a device on a transport opened by the caller (another transport,
 * or a test's fake device); takes ownership of t, also on failure.
 * args as above without path=.
 */
struct virtio_transport;
struct sp_vsock_dev *sp_vsock_dev_create_on(const char *name, struct virtio_transport *t, const char *args);

/* The guest CID: from devargs cid=, else the device's config space. */
uint64_t sp_vsock_dev_cid(const struct sp_vsock_dev *dev);
/* Mbufs for tx packets (layout above); the rx ring is filled from the same pool. */
struct rte_mempool *sp_vsock_dev_pool(struct sp_vsock_dev *dev);
/*
 * Large segments for the payload of big tx packets (after a first segment
 * from sp_vsock_dev_pool); NULL when the device has none. Shared with the
 * device like the pool.
 */
struct rte_mempool *sp_vsock_dev_big_pool(struct sp_vsock_dev *dev);
/* false once the device is gone (backend closed the vhost-user socket or reset the device). */
bool sp_vsock_dev_alive(const struct sp_vsock_dev *dev);

/*
 * Queues up to n packets on the tx virtqueue: one avail-index update and at
 * most one notification for the whole burst. Returns how many were taken; the
 * driver owns (and later frees) those mbufs. Completed tx buffers are reclaimed
 * inside this call, in bulk, once half the ring is outstanding (or the burst
 * needs the room); sp_vsock_tx_free() reclaims at once. A malformed packet (first segment shorter than the header,
 * more segments than the ring) is taken, freed and counted in tx_bad_pkt.
 * Returns 0 once the device is gone.
 */
uint16_t sp_vsock_tx_burst(struct sp_vsock_dev *dev, struct rte_mbuf **pkts, uint16_t n);
/* Free tx descriptors right now (after reclaiming completions). */
uint16_t sp_vsock_tx_free(struct sp_vsock_dev *dev);
/* Tx descriptors outstanding as of the last reclaim (tx_burst, tx_free); reclaims nothing. */
uint16_t sp_vsock_tx_in_use(const struct sp_vsock_dev *dev);

/*
 * Received packets, header at the data start, checked (a copy of it, by
 * vsock_hdr_check: op, type, len == pkt_len - 44); the rx ring is refilled.
 * The buffer is still memory the device can write: decode the header once
 * (vsock_hdr_decode copies) and act on that copy and on pkt_len.
 */
uint16_t sp_vsock_rx_burst(struct sp_vsock_dev *dev, struct rte_mbuf **pkts, uint16_t n);

/* Event-queue entries; returns 1 and the event id when one arrived, 0 when none. */
int sp_vsock_event_poll(struct sp_vsock_dev *dev, uint32_t *event_id);

void sp_vsock_dev_stats(const struct sp_vsock_dev *dev, struct sp_vsock_stats *st);
/* Queue indices and flags, for diagnosing a stuck device. */
void sp_vsock_dev_dump(const struct sp_vsock_dev *dev, FILE *f);

#endif

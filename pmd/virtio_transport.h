/* SPDX-License-Identifier: MIT */
/*
 * How a virtio device reaches its device: the transport ops table, as the
 * kernel's virtio_config_ops and DPDK's virtio_ops separate device logic from
 * virtio-pci, virtio-user and vhost-user. The device code (virtio_vsock.c)
 * talks only to these ops.
 *
 * Transports: vhost-user frontend (vhost_user.c, memory shared by fd,
 * descriptor addresses are our virtual addresses) and, later, modern
 * virtio-pci through vfio-pci (addresses are IOVAs, notify is an MMIO write).
 * The addr_is_va flag is the only thing the device must know about that
 * difference.
 */
#ifndef SP_VIRTIO_TRANSPORT_H
#define SP_VIRTIO_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

struct virtqueue;
struct virtio_transport;

/* Device status bits (virtio 1.2 §2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER      2
#define VIRTIO_STATUS_DRIVER_OK   4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_FAILED      128

struct virtio_transport_ops {
	const char *name;
	/* Makes the memory that holds rings and buffers reachable by the device. */
	int (*setup_mem)(struct virtio_transport *t);
	/* Features the device offers (transport-private bits masked out). */
	uint64_t (*get_features)(struct virtio_transport *t);
	/* Accepts the subset the driver wants; 0 or -1. */
	int (*set_features)(struct virtio_transport *t, uint64_t features);
	/* Device config space; -1 when the device does not expose it. */
	int (*read_config)(struct virtio_transport *t, uint32_t off, void *buf, uint32_t len);
	/*
	 * The most entries queue qid can take (virtio-pci: its queue_size
	 * register); 0, or no op, when the transport sets no limit.
	 */
	uint16_t (*queue_max)(struct virtio_transport *t, uint16_t qid);
	/* Gives queue qid (rings laid out by vq_init) to the device and enables it. */
	int (*setup_queue)(struct virtio_transport *t, uint16_t qid, const struct virtqueue *vq);
	/* The doorbell: new buffers on queue qid. Fast path. */
	void (*notify)(struct virtio_transport *t, uint16_t qid);
	uint8_t (*get_status)(struct virtio_transport *t);
	/*
	 * Status 0 is a reset: it returns 0 once the device no longer touches the
	 * rings (it said so, or it is gone), -1 when it did not say so in time.
	 */
	int (*set_status)(struct virtio_transport *t, uint8_t status);
	/* false once the device went away (peer closed, removed, reset). */
	bool (*is_alive)(struct virtio_transport *t);
	void (*close)(struct virtio_transport *t);
};

/* Embedded first in each transport's private state. */
struct virtio_transport {
	const struct virtio_transport_ops *ops;
	bool addr_is_va;        /* descriptors carry virtual addresses (vhost-user), else IOVAs */
	char name[64];          /* for messages: "vhost-user /run/sendpath/v.sock" */
};

/* Opens the vhost-user frontend on a UNIX socket the backend listens on (vhost_user.c). */
struct virtio_transport *vhost_user_transport_open(const char *path, unsigned int connect_timeout_ms);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The few DPDK 22.11 vdev-bus driver definitions we need, declared here
 * because Debian's libdpdk-dev ships no driver-SDK headers (bus_vdev_driver.h,
 * dev_driver.h). The layouts are DPDK 22.11's ABI (librte_bus_vdev.so.23);
 * rte_vdev_register is exported there as INTERNAL. struct rte_device stays
 * opaque: we only take its address and use the public rte_dev_name() and
 * rte_dev_devargs().
 */
#ifndef SP_VDEV_ABI_H
#define SP_VDEV_ABI_H

#include <stdint.h>
#include <sys/queue.h>

struct rte_device;

struct sp_rte_vdev_device {
	TAILQ_ENTRY(sp_rte_vdev_device) next;
	uint64_t device[];       /* struct rte_device, opaque to us */
};

static inline struct rte_device *sp_vdev_to_dev(struct sp_rte_vdev_device *v)
{
	return (struct rte_device *)v->device;
}

typedef int (sp_rte_vdev_probe_t)(struct sp_rte_vdev_device *dev);
typedef int (sp_rte_vdev_remove_t)(struct sp_rte_vdev_device *dev);
typedef int (sp_rte_vdev_dma_map_t)(struct sp_rte_vdev_device *dev, void *addr, uint64_t iova, size_t len);

struct sp_rte_driver {
	TAILQ_ENTRY(sp_rte_driver) next;
	const char *name;
	const char *alias;
};

struct sp_rte_vdev_driver {
	TAILQ_ENTRY(sp_rte_vdev_driver) next;
	struct sp_rte_driver driver;
	sp_rte_vdev_probe_t *probe;
	sp_rte_vdev_remove_t *remove;
	sp_rte_vdev_dma_map_t *dma_map;
	sp_rte_vdev_dma_map_t *dma_unmap;
	uint32_t drv_flags;
};

/* Exported by librte_bus_vdev.so.23 as rte_vdev_register@INTERNAL. */
void rte_vdev_register(struct sp_rte_vdev_driver *driver);
void rte_vdev_unregister(struct sp_rte_vdev_driver *driver);

#endif

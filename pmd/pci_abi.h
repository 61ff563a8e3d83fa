/* SPDX-License-Identifier: MIT */
/*
 * The DPDK 22.11 PCI-bus driver definitions we need, declared here because
 * Debian's libdpdk-dev ships no driver-SDK header (bus_pci_driver.h,
 * dev_driver.h). They follow DPDK v22.11 (checked against tag v22.11.11,
 * Debian 12's 22.11.11-0+deb12u1): drivers/bus/pci/bus_pci_driver.h for
 * struct rte_pci_device / rte_pci_driver and lib/eal/include/dev_driver.h for
 * struct rte_device / rte_driver, the ABI of librte_bus_pci.so.23, where
 * rte_pci_register is exported as INTERNAL. The public headers still give
 * struct rte_pci_addr, rte_pci_id (rte_pci.h) and rte_mem_resource
 * (rte_dev.h). The offsets are asserted below for x86_64 and checked at run
 * time on every probed device against sysfs and the public accessors
 * (pci_bus.c), so a different DPDK is refused, not followed.
 */
#ifndef SP_PCI_ABI_H
#define SP_PCI_ABI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <rte_dev.h>
#include <rte_pci.h>

/* dev_driver.h: struct rte_driver and struct rte_device (opaque in rte_dev.h). */
struct sp_rte_driver_22 {
	TAILQ_ENTRY(sp_rte_driver_22) next;
	const char *name;
	const char *alias;
};

struct sp_rte_device_22 {
	TAILQ_ENTRY(sp_rte_device_22) next;
	const char *name;
	const char *bus_info;
	const struct sp_rte_driver_22 *driver;
	const void *bus;
	int numa_node;
	struct rte_devargs *devargs;
};

/* bus_pci_driver.h: enum rte_pci_kernel_driver (Linux values). */
enum sp_rte_pci_kdrv {
	SP_RTE_PCI_KDRV_UNKNOWN = 0,
	SP_RTE_PCI_KDRV_IGB_UIO,
	SP_RTE_PCI_KDRV_VFIO,
	SP_RTE_PCI_KDRV_UIO_GENERIC,
	SP_RTE_PCI_KDRV_NIC_UIO,
	SP_RTE_PCI_KDRV_NONE,
};

struct sp_rte_pci_driver;

struct sp_rte_pci_device {
	TAILQ_ENTRY(sp_rte_pci_device) next;
	struct sp_rte_device_22 device;
	struct rte_pci_addr addr;
	struct rte_pci_id id;
	struct rte_mem_resource mem_resource[PCI_MAX_RESOURCE];
	void *intr_handle;                     /* struct rte_intr_handle * */
	struct sp_rte_pci_driver *driver;
	uint16_t max_vfs;
	enum sp_rte_pci_kdrv kdrv;
	char name[PCI_PRI_STR_SIZE + 1];
	char *bus_info;
	void *vfio_req_intr_handle;            /* struct rte_intr_handle * */
};

typedef int (sp_rte_pci_probe_t)(struct sp_rte_pci_driver *, struct sp_rte_pci_device *);
typedef int (sp_rte_pci_remove_t)(struct sp_rte_pci_device *);
typedef int (sp_rte_pci_dma_map_t)(struct sp_rte_pci_device *, void *, uint64_t, size_t);

struct sp_rte_pci_driver {
	TAILQ_ENTRY(sp_rte_pci_driver) next;
	struct sp_rte_driver_22 driver;
	sp_rte_pci_probe_t *probe;
	sp_rte_pci_remove_t *remove;
	sp_rte_pci_dma_map_t *dma_map;
	sp_rte_pci_dma_map_t *dma_unmap;
	const struct rte_pci_id *id_table;     /* ends with an all-zero entry */
	uint32_t drv_flags;
};

/* drv_flags (bus_pci_driver.h) */
#define SP_RTE_PCI_DRV_NEED_MAPPING 0x0001
#define SP_RTE_PCI_DRV_INTR_RMV     0x0010

/*
 * Offsets as DPDK 22.11's own header gives them on x86_64 (printed with
 * offsetof from v22.11.11's bus_pci_driver.h when this file was written).
 */
#if defined(__x86_64__)
_Static_assert(sizeof(struct sp_rte_device_22) == 64, "rte_device is 64 bytes in 22.11");
_Static_assert(offsetof(struct sp_rte_pci_device, device) == 16, "rte_pci_device.device");
_Static_assert(offsetof(struct sp_rte_pci_device, addr) == 80, "rte_pci_device.addr");
_Static_assert(offsetof(struct sp_rte_pci_device, id) == 88, "rte_pci_device.id");
_Static_assert(offsetof(struct sp_rte_pci_device, mem_resource) == 104, "rte_pci_device.mem_resource");
_Static_assert(offsetof(struct sp_rte_pci_device, driver) == 256, "rte_pci_device.driver");
_Static_assert(offsetof(struct sp_rte_pci_device, kdrv) == 268, "rte_pci_device.kdrv");
_Static_assert(offsetof(struct sp_rte_pci_device, name) == 272, "rte_pci_device.name");
_Static_assert(sizeof(struct sp_rte_pci_device) == 312, "rte_pci_device is 312 bytes in 22.11");
_Static_assert(offsetof(struct sp_rte_pci_driver, probe) == 48, "rte_pci_driver.probe");
_Static_assert(offsetof(struct sp_rte_pci_driver, id_table) == 80, "rte_pci_driver.id_table");
_Static_assert(sizeof(struct sp_rte_pci_driver) == 96, "rte_pci_driver is 96 bytes in 22.11");
#endif

/*
 * rte_pci_register is exported by librte_bus_pci.so.23 as INTERNAL. The
 * library is outside libdpdk.pc's link line, so pci_bus.c looks it up there
 * at start-up (the soname is the ABI these layouts belong to).
 */
#define SP_RTE_BUS_PCI_SONAME "librte_bus_pci.so.23"
typedef void (sp_rte_pci_register_t)(struct sp_rte_pci_driver *driver);

#endif

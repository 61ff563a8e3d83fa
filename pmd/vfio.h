/* SPDX-License-Identifier: MIT */
/*
 * A PCI function handed to user space by vfio-pci: its config space, its
 * memory BARs mapped into the process, bus mastering on, and DPDK's memory
 * DMA-mapped in the IOMMU (by EAL's VFIO container, see vfio.c for why).
 * Nothing here knows virtio; virtio_pci.c builds the transport on top.
 */
#ifndef SP_VFIO_H
#define SP_VFIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SP_VFIO_ERRLEN 256
#define SP_PCI_BARS 6

struct sp_vfio_dev {
	char addr[32];            /* 0000:00:04.0 */
	int fd;                   /* the VFIO device fd, -1 when closed */
	uint64_t cfg_off;         /* offset of the config-space region in fd */
	uint16_t saved_cmd;       /* PCI command register as we found it */
	int req_fd;               /* eventfd: the kernel wants the device back; -1 none */
	struct {
		uint8_t *va;          /* mapped, or NULL */
		uint64_t len;
	} bar[SP_PCI_BARS];
};

/* A PCI identity a caller accepts; subsys_device 0 matches any. Lists end with vendor 0. */
struct sp_pci_id {
	uint16_t vendor, device, subsys_device;
};

/*
 * Takes the device at addr ("0000:00:04.0"; "00:04.0" means domain 0). It must
 * match one of ids (checked before anything is opened), be bound to vfio-pci,
 * its IOMMU group viable and VFIO usable by EAL; else -1 with one line in err
 * and nothing changed.
 */
int sp_vfio_open(struct sp_vfio_dev *d, const char *addr, const struct sp_pci_id *ids,
		 char *err, size_t errlen);
/* Restores the command register, unmaps the BARs, gives the device back to vfio-pci. */
void sp_vfio_close(struct sp_vfio_dev *d);

int sp_vfio_cfg_read(const struct sp_vfio_dev *d, uint32_t off, void *buf, size_t len);
int sp_vfio_cfg_write(const struct sp_vfio_dev *d, uint32_t off, const void *buf, size_t len);

/* Maps memory BAR n (once); returns its base or NULL with err filled. */
uint8_t *sp_vfio_map_bar(struct sp_vfio_dev *d, unsigned int n, char *err, size_t errlen);

/* Lets the device master the bus (DMA); vfio-pci leaves it off. */
int sp_vfio_bus_master(const struct sp_vfio_dev *d, int on);

/*
 * Asks vfio-pci to signal an eventfd when the kernel wants the device back
 * (hot-unplug, unbind); -1 when it cannot. sp_vfio_req_pending() reads it,
 * without blocking: true once asked. The kernel then waits for sp_vfio_close.
 */
int sp_vfio_req_enable(struct sp_vfio_dev *d);
bool sp_vfio_req_pending(const struct sp_vfio_dev *d);

/* What sysfs says of the function at addr ("0000:00:03.0"). */
struct sp_pci_sysfs {
	unsigned int vendor, device, subsys_vendor, subsys_device, class_id;
	char driver[64];                /* bound kernel driver, "" when none */
	uint64_t bar_start[SP_PCI_BARS]; /* memory BARs; 0 for I/O or unused ones */
	uint64_t bar_len[SP_PCI_BARS];
};
int sp_pci_sysfs_read(const char *addr, struct sp_pci_sysfs *s);

#endif

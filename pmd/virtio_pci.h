/* SPDX-License-Identifier: MIT */
/*
 * The second transport: a modern (virtio 1.x) virtio-pci device taken from
 * vfio-pci, driven by polling. It is found through the vendor capabilities in
 * PCI config space (common cfg, notify, ISR, device cfg; virtio 1.2 §4.1.4),
 * whose BARs are mapped into the process; descriptors carry IOVAs that EAL's
 * VFIO container has mapped for the device.
 *
 * Found by DPDK's PCI bus (pci_bus.c: -a 0000:00:04.0[,devargs] or the
 * default scan), the device named by its address; or made by name with
 * --vdev=virtio_vsock_pci0,pci=0000:00:04.0 or
 * sp_vsock_dev_create("virtio_vsock_pci0", "pci=0000:00:04.0").
 */
#ifndef SP_VIRTIO_PCI_H
#define SP_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio_transport.h"

#define VIRTIO_PCI_VENDOR 0x1af4
/* Modern device ids are 0x1040 + virtio device id (vsock: 19 -> 0x1053). */
#define VIRTIO_PCI_MODERN_ID(virtio_id) (0x1040 + (virtio_id))

/* Transport bits negotiated here, below the device code. */
#define VIRTIO_F_VERSION_1_BIT 32
#define VIRTIO_F_ACCESS_PLATFORM_BIT 33

/*
 * Takes the virtio device of type virtio_id at pci_addr from vfio-pci, maps
 * its capabilities and resets it. Every refusal (wrong device, still bound to
 * the kernel, IOMMU group not viable, a capability or BAR missing, no
 * VIRTIO_F_VERSION_1, addresses the device could not reach) is one line on
 * stderr, NULL, and the device left as it was.
 */
struct virtio_transport *virtio_pci_transport_open(const char *pci_addr, uint16_t virtio_id);

/*
 * For a vsock device asked for by a PCI address that does not exist: says in
 * one line on stderr why (no such function, another device type, not bound
 * to vfio-pci, refused by the driver, the bus not scanned) and returns true.
 * false, saying nothing, when the device exists or name is no PCI address.
 */
bool sp_vsock_pci_explain_absent(const char *name);

#endif

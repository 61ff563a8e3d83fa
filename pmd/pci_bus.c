/* SPDX-License-Identifier: MIT */
/*
 * Registration on DPDK's PCI bus: EAL's scan finds the VM's virtio-vsock
 * function by its id (1af4:1053; the virtio spec gives vsock no transitional
 * id) and probe makes the vsock device, named after the PCI address as DPDK
 * names PCI ethdevs ("0000:00:03.0"). Selected like any PCI device: `-a BDF`
 * (devargs after a comma: `-a 0000:00:03.0,queue_size=128`) or the default
 * scan, in a program whose sp_env_cfg has .pci = true.
 *
 * No RTE_PCI_DRV_NEED_MAPPING: the transport takes the device from vfio-pci
 * itself (vfio.c says why), so probe is also called for a device the bus
 * cannot map, and the user is told what to do with it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>
#include <rte_dev.h>
#include <rte_devargs.h>

#include "pci_abi.h"
#include "vfio.h"
#include "virtio_pci.h"
#include "virtio_vsock.h"
#include "vsock_proto.h"

#define VSOCK_PCI_DRIVER_NAME "virtio_vsock_pci"

static const struct rte_pci_id vsock_pci_ids[] = {
	{ .class_id = RTE_CLASS_ANY_ID, .vendor_id = VIRTIO_PCI_VENDOR,
	  .device_id = VIRTIO_PCI_MODERN_ID(VIRTIO_ID_VSOCK),
	  .subsystem_vendor_id = RTE_PCI_ANY_ID, .subsystem_device_id = RTE_PCI_ANY_ID },
	{ .vendor_id = 0 },
};

static struct sp_rte_pci_driver vsock_pci_driver;
static bool registered;
/* devices this driver refused, so that sp_vsock_pci_explain_absent does not guess */
static char refused[8][PCI_PRI_STR_SIZE + 1];
static unsigned int nr_refused;

static void note_refused(const char *name)
{
	snprintf(refused[nr_refused++ % RTE_DIM(refused)], PCI_PRI_STR_SIZE + 1, "%s", name);
}

static bool was_refused(const char *name)
{
	unsigned int i;

	for (i = 0; i < RTE_MIN(nr_refused, (unsigned int)RTE_DIM(refused)); i++)
		if (!strcmp(refused[i], name))
			return true;
	return false;
}

/*
 * The structures EAL hands us are read through pci_abi.h's copy of their
 * 22.11 layout: every probe checks that copy against what the public
 * accessors and sysfs say of the same device, so another DPDK is refused
 * with a line, never misread.
 */
static int abi_check(const struct sp_rte_pci_device *pdev, const struct sp_pci_sysfs *s,
		     char *why, size_t len)
{
	const struct rte_device *dev = (const struct rte_device *)&pdev->device;
	const struct rte_pci_id *id = &pdev->id;
	char bdf[PCI_PRI_STR_SIZE];
	unsigned int i;

	rte_pci_device_name(&pdev->addr, bdf, sizeof(bdf));
	if (pdev->driver != &vsock_pci_driver || strcmp(rte_dev_name(dev), pdev->name) ||
	    strcmp(bdf, pdev->name) || rte_dev_devargs(dev) != pdev->device.devargs) {
		snprintf(why, len, "rte_device/name/addr/driver do not line up");
		return -1;
	}
	if (id->vendor_id != s->vendor || id->device_id != s->device ||
	    id->subsystem_vendor_id != s->subsys_vendor || id->subsystem_device_id != s->subsys_device ||
	    id->class_id != s->class_id) {
		snprintf(why, len, "ids %04x:%04x (%04x:%04x class %06x) where sysfs says %04x:%04x "
			 "(%04x:%04x class %06x)", id->vendor_id, id->device_id,
			 id->subsystem_vendor_id, id->subsystem_device_id, id->class_id, s->vendor,
			 s->device, s->subsys_vendor, s->subsys_device, s->class_id);
		return -1;
	}
	for (i = 0; i < PCI_MAX_RESOURCE; i++)
		if (pdev->mem_resource[i].phys_addr != s->bar_start[i] ||
		    pdev->mem_resource[i].len != s->bar_len[i]) {
			snprintf(why, len, "BAR %u at 0x%llx+0x%llx where sysfs says 0x%llx+0x%llx", i,
				 (unsigned long long)pdev->mem_resource[i].phys_addr,
				 (unsigned long long)pdev->mem_resource[i].len,
				 (unsigned long long)s->bar_start[i], (unsigned long long)s->bar_len[i]);
			return -1;
		}
	if ((pdev->kdrv == SP_RTE_PCI_KDRV_VFIO) != !strcmp(s->driver, "vfio-pci") ||
	    (pdev->kdrv == SP_RTE_PCI_KDRV_NONE) != !s->driver[0]) {
		snprintf(why, len, "kernel driver %d where sysfs says '%s'", (int)pdev->kdrv, s->driver);
		return -1;
	}
	return 0;
}

static int vsock_pci_probe(struct sp_rte_pci_driver *drv, struct sp_rte_pci_device *pdev)
{
	const struct rte_devargs *da = pdev->device.devargs;
	bool named = da && da->policy == RTE_DEV_ALLOWED;    /* -a BDF, not the default scan */
	struct sp_pci_sysfs s;
	char why[160], args[256];

	RTE_SET_USED(drv);
	if (sp_pci_sysfs_read(pdev->name, &s) || abi_check(pdev, &s, why, sizeof(why))) {
		fprintf(stderr, "virtio_vsock: cannot use %s: DPDK's PCI device does not match the "
			"22.11 layout of pmd/pci_abi.h (%s)\n", pdev->name, why);
		note_refused(pdev->name);
		return -EINVAL;
	}
	/*
	 * The bus finds kernel-bound devices too. One the user named is an
	 * error (the transport says which driver has it and what to do); one
	 * the default scan came across is left alone, with a line saying so.
	 */
	if (!named && pdev->kdrv != SP_RTE_PCI_KDRV_VFIO) {
		fprintf(stderr, "virtio_vsock: %s left alone: it is bound to %s, not vfio-pci "
			"(to use it from sendpath: docs/vfio.md)\n", pdev->name,
			s.driver[0] ? s.driver : "no driver");
		note_refused(pdev->name);
		return 1;
	}
	snprintf(args, sizeof(args), "pci=%s%s%s", pdev->name, da && da->args && da->args[0] ? "," : "",
		 da && da->args ? da->args : "");
	if (!sp_vsock_dev_create(pdev->name, args)) {
		note_refused(pdev->name);
		return -ENODEV;   /* the line above says why; EAL adds "cannot be used" */
	}
	return 0;
}

/* Also EAL's cleanup: a device the program destroyed itself is gone already. */
static int vsock_pci_remove(struct sp_rte_pci_device *pdev)
{
	sp_vsock_dev_destroy(sp_vsock_dev_get(pdev->name));
	return 0;
}

static struct sp_rte_pci_driver vsock_pci_driver = {
	.driver = { .name = VSOCK_PCI_DRIVER_NAME },
	.probe = vsock_pci_probe,
	.remove = vsock_pci_remove,
	.id_table = vsock_pci_ids,
	.drv_flags = 0,
};

/*
 * What RTE_PMD_REGISTER_PCI(virtio_vsock_pci, ...) does, without the SDK
 * header. The bus library is opened by its soname rather than linked: every
 * program that links the driver then has the PCI bus, whichever meson
 * dependency brought the driver in; EAL's own loading of the same file as a
 * plugin finds it open already.
 */
RTE_INIT(vsock_pci_register)
{
	sp_rte_pci_register_t *reg = NULL;
	void *bus = dlopen(SP_RTE_BUS_PCI_SONAME, RTLD_NOW | RTLD_GLOBAL);

	if (bus)
		*(void **)&reg = dlsym(bus, "rte_pci_register");
	if (reg) {
		reg(&vsock_pci_driver);
		registered = true;
	}
}

bool sp_vsock_pci_explain_absent(const char *name)
{
	struct rte_pci_addr a;
	struct sp_pci_sysfs s;
	char bdf[PCI_PRI_STR_SIZE];

	if (!name || sp_vsock_dev_get(name) || rte_pci_addr_parse(name, &a))
		return false;
	rte_pci_device_name(&a, bdf, sizeof(bdf));
	if (sp_vsock_dev_get(bdf))
		fprintf(stderr, "virtio_vsock: no vsock device %s: it is named %s\n", name, bdf);
	else if (was_refused(bdf))
		fprintf(stderr, "virtio_vsock: no vsock device %s: the driver refused it when EAL "
			"started (its virtio-pci or virtio_vsock line says why)\n", name);
	else if (sp_pci_sysfs_read(bdf, &s))
		fprintf(stderr, "virtio_vsock: no vsock device %s: there is no PCI device %s\n",
			name, bdf);
	else if (s.vendor != VIRTIO_PCI_VENDOR || s.device != VIRTIO_PCI_MODERN_ID(VIRTIO_ID_VSOCK))
		fprintf(stderr, "virtio_vsock: no vsock device %s: it is %04x:%04x, not a virtio-vsock "
			"device (%04x:%04x)\n", name, s.vendor, s.device, VIRTIO_PCI_VENDOR,
			VIRTIO_PCI_MODERN_ID(VIRTIO_ID_VSOCK));
	else if (strcmp(s.driver, "vfio-pci"))
		fprintf(stderr, "virtio_vsock: no vsock device %s: it is bound to %s, not vfio-pci: "
			"bind it to vfio-pci (docs/vfio.md)\n", name, s.driver[0] ? s.driver : "no driver");
	else
		fprintf(stderr, "virtio_vsock: no vsock device %s: DPDK's PCI bus did not probe it "
			"(%s; is the program started with --no-pci, or -a naming only other devices?)\n",
			name, registered ? "the driver is registered" : "no librte_bus_pci.so.23 here");
	return true;
}

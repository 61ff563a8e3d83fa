/* SPDX-License-Identifier: MIT */
/*
 * Taking a PCI function from vfio-pci.
 *
 * DPDK's PCI bus finds the device (pci_bus.c), but the driver does not ask it
 * to map the BARs (no RTE_PCI_DRV_NEED_MAPPING): the bus would skip a device
 * still bound to the kernel, or one whose IOMMU group is not viable, with
 * only a debug or EAL line, where a user needs to be told what to do. EAL's
 * public rte_vfio API (rte_vfio.h) does the part that is hard to get right:
 * it opens the group, checks it is viable, attaches it to EAL's container,
 * picks the IOMMU type and DMA-maps all of DPDK's memory (and memory added
 * later, through its memory-event callback), so mbuf and memzone IOVAs are
 * valid for the device. What is left - config space, BAR mmap, bus
 * mastering, the kernel's request to have the device back - is a few VFIO
 * ioctls, done here.
 */
#include "vfio.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include <rte_eal.h>
#include <rte_vfio.h>

#define SYSFS_PCI "/sys/bus/pci/devices"

static __attribute__((format(printf, 3, 4))) void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* snprintf for paths; a path too long for buf is reported as truncated, not used. */
static __attribute__((format(printf, 3, 4))) int
pathf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* The driver a sysfs device is bound to ("" when none). */
static void bound_driver(const char *devdir, char *name, size_t len)
{
	char link[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	name[0] = '\0';
	if (pathf(link, sizeof(link), "%s/driver", devdir))
		return;
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return;
	target[n] = '\0';
	pathf(name, len, "%s", strrchr(target, '/') ? strrchr(target, '/') + 1 : target);
}

static int read_hex(const char *devdir, const char *file, unsigned int *val)
{
	char path[PATH_MAX];
	FILE *f;
	int ok;

	if (pathf(path, sizeof(path), "%s/%s", devdir, file))
		return -1;
	f = fopen(path, "r");
	if (!f)
		return -1;
	ok = fscanf(f, "%x", val) == 1;
	fclose(f);
	return ok ? 0 : -1;
}

int sp_pci_sysfs_read(const char *addr, struct sp_pci_sysfs *s)
{
	unsigned long long start, end, flags;
	char devdir[PATH_MAX], path[PATH_MAX];
	unsigned int i;
	FILE *f;

	memset(s, 0, sizeof(*s));
	if (pathf(devdir, sizeof(devdir), SYSFS_PCI "/%s", addr) ||
	    read_hex(devdir, "vendor", &s->vendor) || read_hex(devdir, "device", &s->device) ||
	    read_hex(devdir, "subsystem_vendor", &s->subsys_vendor) ||
	    read_hex(devdir, "subsystem_device", &s->subsys_device) ||
	    read_hex(devdir, "class", &s->class_id))
		return -1;
	bound_driver(devdir, s->driver, sizeof(s->driver));
	if (pathf(path, sizeof(path), "%s/resource", devdir) || !(f = fopen(path, "r")))
		return -1;
	/* one "start end flags" line per resource; BARs first */
	for (i = 0; i < SP_PCI_BARS && fscanf(f, "%llx %llx %llx", &start, &end, &flags) == 3; i++)
		if ((flags & 0x200) && end > start) {     /* IORESOURCE_MEM */
			s->bar_start[i] = start;
			s->bar_len[i] = end - start + 1;
		}
	fclose(f);
	return i == SP_PCI_BARS ? 0 : -1;
}

/*
 * The kernel calls a group viable when every device in it is bound to a vfio
 * driver, to pci-stub, or to nothing (bridges under pcieport are fine too).
 * Checked from sysfs first so the user is told which device spoils it.
 */
static int group_viable(const char *devdir, char *err, size_t errlen)
{
	char path[PATH_MAX], target[PATH_MAX], drv[64];
	struct dirent *e;
	const char *group;
	ssize_t n;
	DIR *dir;
	int ok = 1;

	n = pathf(path, sizeof(path), "%s/iommu_group", devdir) ? -1 :
	    readlink(path, target, sizeof(target) - 1);
	if (n <= 0) {
		seterr(err, errlen, "it has no IOMMU group: boot the (guest) kernel with "
		       "intel_iommu=on (or amd_iommu=on), see docs/vfio.md");
		return 0;
	}
	target[n] = '\0';
	group = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
	if (pathf(path, sizeof(path), "/sys/kernel/iommu_groups/%s/devices", group))
		return 1;
	dir = opendir(path);
	if (!dir)
		return 1; /* let VFIO's own viability check speak */
	while (ok && (e = readdir(dir))) {
		char other[PATH_MAX];

		if (e->d_name[0] == '.')
			continue;
		if (pathf(other, sizeof(other), "%s/%s", path, e->d_name))
			continue;
		bound_driver(other, drv, sizeof(drv));
		if (drv[0] && strncmp(drv, "vfio", 4) && strcmp(drv, "pci-stub") &&
		    strcmp(drv, "pcieport")) {
			seterr(err, errlen, "IOMMU group %s is not viable: %s in it is bound to %s; "
			       "bind every device of the group to vfio-pci", group, e->d_name, drv);
			ok = 0;
		}
	}
	closedir(dir);
	return ok;
}

int sp_vfio_open(struct sp_vfio_dev *d, const char *addr, const struct sp_pci_id *ids,
		 char *err, size_t errlen)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info reg = { .argsz = sizeof(reg) };
	unsigned int dom = 0, bus, dev, fn, vendor, device, subsys = 0;
	const struct sp_pci_id *id;
	char devdir[PATH_MAX], drv[64];
	int ret;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	d->req_fd = -1;
	if (sscanf(addr, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4) {
		dom = 0;
		if (sscanf(addr, "%x:%x.%x", &bus, &dev, &fn) != 3) {
			seterr(err, errlen, "%s: not a PCI address (like 0000:00:04.0)", addr);
			return -1;
		}
	}
	if (dom > 0xffff || bus > 0xff || dev > 0x1f || fn > 7) {
		seterr(err, errlen, "%s: not a PCI address (like 0000:00:04.0)", addr);
		return -1;
	}
	snprintf(d->addr, sizeof(d->addr), "%04x:%02x:%02x.%x", dom, bus, dev, fn);
	pathf(devdir, sizeof(devdir), SYSFS_PCI "/%s", d->addr);
	if (read_hex(devdir, "vendor", &vendor) || read_hex(devdir, "device", &device)) {
		seterr(err, errlen, "%s: no such PCI device", d->addr);
		return -1;
	}
	read_hex(devdir, "subsystem_device", &subsys);
	for (id = ids; id->vendor; id++)
		if (vendor == id->vendor && device == id->device &&
		    (!id->subsys_device || subsys == id->subsys_device))
			break;
	if (!id->vendor) {
		seterr(err, errlen, "%s: it is %04x:%04x, not the expected %04x:%04x", d->addr,
		       vendor, device, ids[0].vendor, ids[0].device);
		return -1;
	}
	bound_driver(devdir, drv, sizeof(drv));
	if (!drv[0]) {
		seterr(err, errlen, "%s: it is bound to no driver: bind it to vfio-pci (docs/vfio.md)",
		       d->addr);
		return -1;
	}
	if (strcmp(drv, "vfio-pci")) {
		seterr(err, errlen, "%s: it is still bound to the kernel driver %s: unbind it and "
		       "bind it to vfio-pci (docs/vfio.md)", d->addr, drv);
		return -1;
	}
	if (!rte_vfio_is_enabled("vfio")) {
		seterr(err, errlen, "%s: VFIO is not enabled in EAL (was the vfio module loaded "
		       "before EAL started?)", d->addr);
		return -1;
	}
	if (!group_viable(devdir, err, errlen)) {
		/* err says why; prefix the device */
		char why[SP_VFIO_ERRLEN];

		snprintf(why, sizeof(why), "%s", err);
		seterr(err, errlen, "%s: %s", d->addr, why);
		return -1;
	}
	ret = rte_vfio_setup_device(SYSFS_PCI, d->addr, &d->fd, &info);
	if (ret) {
		/*
		 * The usual cause in a VM: with IOVA as VA, DPDK's virtual addresses lie
		 * beyond what the (emulated) IOMMU can map, e.g. QEMU's 39-bit default.
		 */
		seterr(err, errlen, "%s: VFIO refused the device (%s; EAL's line above says why)%s",
		       d->addr, ret > 0 ? "not managed by VFIO" : "setup failed",
		       rte_eal_iova_mode() == RTE_IOVA_VA ? "; in IOVA-as-VA mode the IOMMU may not "
		       "reach DPDK's addresses: try --iova-mode=pa" : "");
		d->fd = -1;
		return -1;
	}
	reg.index = VFIO_PCI_CONFIG_REGION_INDEX;
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &reg) || reg.size < 0x100) {
		seterr(err, errlen, "%s: VFIO gives no PCI config space", d->addr);
		sp_vfio_close(d);
		return -1;
	}
	d->cfg_off = reg.offset;
	if (sp_vfio_cfg_read(d, PCI_COMMAND, &d->saved_cmd, 2)) {
		seterr(err, errlen, "%s: cannot read the PCI command register", d->addr);
		sp_vfio_close(d);
		return -1;
	}
	return 0;
}

void sp_vfio_close(struct sp_vfio_dev *d)
{
	unsigned int i;

	if (d->fd < 0)
		return;
	if (d->req_fd >= 0) {
		struct vfio_irq_set off = {
			.argsz = sizeof(off), .index = VFIO_PCI_REQ_IRQ_INDEX,
			.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
		};

		ioctl(d->fd, VFIO_DEVICE_SET_IRQS, &off);
		close(d->req_fd);
		d->req_fd = -1;
	}
	sp_vfio_cfg_write(d, PCI_COMMAND, &d->saved_cmd, 2);
	for (i = 0; i < SP_PCI_BARS; i++)
		if (d->bar[i].va)
			munmap(d->bar[i].va, d->bar[i].len);
	rte_vfio_release_device(SYSFS_PCI, d->addr, d->fd);
	memset(d->bar, 0, sizeof(d->bar));
	d->fd = -1;
}

int sp_vfio_cfg_read(const struct sp_vfio_dev *d, uint32_t off, void *buf, size_t len)
{
	return pread(d->fd, buf, len, (off_t)(d->cfg_off + off)) == (ssize_t)len ? 0 : -1;
}

int sp_vfio_cfg_write(const struct sp_vfio_dev *d, uint32_t off, const void *buf, size_t len)
{
	return pwrite(d->fd, buf, len, (off_t)(d->cfg_off + off)) == (ssize_t)len ? 0 : -1;
}

uint8_t *sp_vfio_map_bar(struct sp_vfio_dev *d, unsigned int n, char *err, size_t errlen)
{
	struct vfio_region_info reg = { .argsz = sizeof(reg) };
	void *va;

	if (n >= SP_PCI_BARS) {
		seterr(err, errlen, "%s: BAR %u does not exist", d->addr, n);
		return NULL;
	}
	if (d->bar[n].va)
		return d->bar[n].va;
	reg.index = VFIO_PCI_BAR0_REGION_INDEX + n;
	if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &reg) || reg.size == 0) {
		seterr(err, errlen, "%s: BAR %u is not implemented", d->addr, n);
		return NULL;
	}
	if (!(reg.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		seterr(err, errlen, "%s: BAR %u cannot be mapped (an I/O-port BAR?)", d->addr, n);
		return NULL;
	}
	va = mmap(NULL, reg.size, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd, (off_t)reg.offset);
	if (va == MAP_FAILED) {
		seterr(err, errlen, "%s: mmap of BAR %u failed: %s", d->addr, n, strerror(errno));
		return NULL;
	}
	d->bar[n].va = va;
	d->bar[n].len = reg.size;
	return va;
}

int sp_vfio_bus_master(const struct sp_vfio_dev *d, int on)
{
	uint16_t cmd;

	if (sp_vfio_cfg_read(d, PCI_COMMAND, &cmd, 2))
		return -1;
	if (on)
		cmd |= PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY;
	else
		cmd &= ~PCI_COMMAND_MASTER;
	return sp_vfio_cfg_write(d, PCI_COMMAND, &cmd, 2);
}

/*
 * vfio-pci signals the request eventfd when the kernel wants the device back
 * (hot-unplug, an unbind) and then waits, re-sending it, until the last user
 * closes the device. Without one it only waits.
 */
int sp_vfio_req_enable(struct sp_vfio_dev *d)
{
	struct vfio_irq_info info = { .argsz = sizeof(info), .index = VFIO_PCI_REQ_IRQ_INDEX };
	/* a vfio_irq_set followed by its one eventfd (data[] is a flexible array) */
	union {
		struct vfio_irq_set set;
		char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	} req = { .set = {
		.argsz = sizeof(req.buf), .index = VFIO_PCI_REQ_IRQ_INDEX, .count = 1,
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
	} };
	int32_t fd32;
	int efd;

	if (ioctl(d->fd, VFIO_DEVICE_GET_IRQ_INFO, &info) || info.count < 1)
		return -1;
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0)
		return -1;
	fd32 = efd;
	memcpy(req.set.data, &fd32, sizeof(fd32));
	if (ioctl(d->fd, VFIO_DEVICE_SET_IRQS, &req)) {
		close(efd);
		return -1;
	}
	d->req_fd = efd;
	return 0;
}

bool sp_vfio_req_pending(const struct sp_vfio_dev *d)
{
	uint64_t n;

	return d->req_fd >= 0 && read(d->req_fd, &n, sizeof(n)) == (ssize_t)sizeof(n) && n > 0;
}

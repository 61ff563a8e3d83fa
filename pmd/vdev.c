/* SPDX-License-Identifier: MIT */
/*
 * Registration on DPDK's vdev bus, so that --vdev=virtio_vsock0,path=... makes
 * a device during rte_eal_init like any PMD. Probe and remove only translate
 * to sp_vsock_dev_create/destroy, which also work without the bus.
 */
#include <stdio.h>

#include <rte_common.h>
#include <rte_dev.h>
#include <rte_devargs.h>

#include "vdev_abi.h"
#include "virtio_vsock.h"

static int vsock_vdev_probe(struct sp_rte_vdev_device *v)
{
	struct rte_device *dev = sp_vdev_to_dev(v);
	const struct rte_devargs *da = rte_dev_devargs(dev);
	const char *name = rte_dev_name(dev);

	if (!sp_vsock_dev_create(name, da && da->args ? da->args : "")) {
		fprintf(stderr, "virtio_vsock: --vdev %s failed\n", name);
		return -1;
	}
	return 0;
}

static int vsock_vdev_remove(struct sp_rte_vdev_device *v)
{
	struct sp_vsock_dev *d = sp_vsock_dev_get(rte_dev_name(sp_vdev_to_dev(v)));

	if (!d)
		return -1;
	sp_vsock_dev_destroy(d);
	return 0;
}

static struct sp_rte_vdev_driver vsock_vdev_driver = {
	.driver = { .name = SP_VSOCK_DRIVER_NAME },
	.probe = vsock_vdev_probe,
	.remove = vsock_vdev_remove,
};

RTE_INIT(vsock_vdev_register)
{
	rte_vdev_register(&vsock_vdev_driver);
}

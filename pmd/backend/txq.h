/* SPDX-License-Identifier: MIT */
/*
 * The driver's tx queue, device side: what the driver sends us. Every chain
 * and every header is checked before the host logic sees the packet; a bad
 * chain goes back with length 0, a bad header is counted (and answered with
 * RST when it names a connection).
 */
#ifndef VB_TXQ_H
#define VB_TXQ_H

#include "host.h"
#include "vq.h"

#define VB_TXQ_BURST 64

/* Takes up to VB_TXQ_BURST packets from vq into h; returns how many chains were taken. */
unsigned int vb_txq_poll(struct vb_vq *vq, const struct vb_mem *mem, struct host *h,
			 uint64_t *bad_chains);

#endif

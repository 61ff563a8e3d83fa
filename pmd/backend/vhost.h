/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user side of the device, on librte_vhost: one socket, one
 * frontend at a time (a second is refused while the first is connected),
 * features of a virtio-vsock device, and GET_CONFIG answered with the guest
 * CID, which librte_vhost 22.11 leaves to vDPA drivers.
 *
 * librte_vhost handles messages in its own thread. Every message quiesces the
 * rings (pre handler) and bumps a generation; the polling thread re-reads
 * memory table and vrings when it sees a new generation, under dev->lock.
 */
#ifndef VB_VHOST_H
#define VB_VHOST_H

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "vq.h"

enum { VB_VQ_RX = 0, VB_VQ_TX = 1, VB_VQ_EVENT = 2, VB_NQ = 3 };

struct vb_dev_opts {
	const char *path;
	uint64_t guest_cid;       /* what GET_CONFIG answers */
	bool no_event_idx;
	bool no_indirect;
	bool no_in_order;
};

struct vb_dev {
	pthread_mutex_t lock;     /* the poller holds it while it runs; see vb_dev_lock */
	int waiters;              /* vhost-thread callers waiting for lock */
	int wakefd;               /* eventfd: a vhost message arrived */

	/* Written by the vhost thread, under lock. */
	int vid;                  /* -1: no frontend */
	bool running;             /* between new_device and destroy_device */
	bool quiesced;            /* a message is being handled */
	bool enabled[VB_NQ];
	bool reset_pending;       /* vsock state must go: frontend gone or device stopped */
	uint32_t gen;
	uint64_t frontends_accepted, frontends_refused, frontends_gone, config_reads;
	bool layout_ok;           /* our view of librte_vhost's message context checked out */

	/* The polling thread's view, rebuilt when gen moves. */
	uint32_t seen_gen;
	bool ready;
	uint64_t features;
	struct vb_mem mem;
	struct vb_vq vq[VB_NQ];
	bool vq_ok[VB_NQ];

	struct vb_dev_opts opts;
	uint64_t bad_chains;
};

/*
 * The vhost thread's way in: it says it is waiting, so the poller, which
 * keeps the lock across many passes instead of taking it per pass, lets go
 * (vb_dev_yield) at its next pass.
 */
static inline void vb_dev_lock(struct vb_dev *d)
{
	__atomic_add_fetch(&d->waiters, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&d->lock);
	__atomic_sub_fetch(&d->waiters, 1, __ATOMIC_SEQ_CST);
}

/* The poller, lock held: hands it over when the vhost thread waits for it. */
static inline void vb_dev_yield(struct vb_dev *d)
{
	if (__builtin_expect(!__atomic_load_n(&d->waiters, __ATOMIC_RELAXED), 1))
		return;
	pthread_mutex_unlock(&d->lock);
	while (__atomic_load_n(&d->waiters, __ATOMIC_ACQUIRE))
		sched_yield();  /* the vhost thread may need this very CPU to take the lock */
	pthread_mutex_lock(&d->lock);
}

int vb_dev_start(struct vb_dev *d, const struct vb_dev_opts *opts);
void vb_dev_stop(struct vb_dev *d);

/*
 * Called with d->lock held before touching rings. Returns true when the
 * vsock state must be dropped (the frontend went away or stopped the device).
 */
bool vb_dev_sync(struct vb_dev *d);

#endif

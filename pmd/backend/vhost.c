/* SPDX-License-Identifier: MIT */
#include "vhost.h"

#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/virtio_config.h>

#include <rte_vhost.h>

/*
 * The vhost-user message as the spec lays it out (header, then payload), and
 * after it the fds librte_vhost 22.11 keeps in its message context. The lib
 * sizes its payload union by its largest member, 632 bytes; the fd count is
 * checked against SET_MEM_TABLE's region count before we rely on it.
 */
#define VU_GET_CONFIG 24
#define VU_SET_MEM_TABLE 5
#define VU_MAX_FDS 8
#define VU_PAYLOAD_SIZE 632
#define VU_CONFIG_MAX 256
#define VU_CONFIG_HDR 12

struct vu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[VU_CONFIG_MAX];
} __attribute__((packed));

struct vu_msg_ctx {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	union {
		uint64_t u64;
		uint32_t nregions;    /* SET_MEM_TABLE: first field */
		struct vu_config cfg;
		uint8_t raw[VU_PAYLOAD_SIZE];
	} payload;
	int fds[VU_MAX_FDS];
	int fd_num;
} __attribute__((packed));

static struct vb_dev *the_dev;
static bool trace;            /* SP_BACKEND_TRACE=1: every message and ring reload on stderr */

static void wake(struct vb_dev *d)
{
	eventfd_write(d->wakefd, 1);
}

/* The poller's ring positions go back to the lib before it answers GET_VRING_BASE or reconfigures. */
static void push_indices(struct vb_dev *d)
{
	if (!d->ready || d->vid < 0)
		return;
	for (int q = 0; q < VB_NQ; q++)
		if (d->vq_ok[q])
			rte_vhost_set_vring_base(d->vid, q, d->vq[q].last_avail_idx,
						 d->vq[q].last_used_idx);
}

/* virtio_vsock_config: le64 guest_cid, nothing else. */
static enum rte_vhost_msg_result get_config(struct vb_dev *d, struct vu_msg_ctx *m)
{
	uint8_t space[8];
	uint64_t cid = htole64(d->opts.guest_cid);
	struct vu_config *cfg = &m->payload.cfg;

	if (!d->layout_ok || m->size < VU_CONFIG_HDR || cfg->size > VU_CONFIG_MAX || m->fd_num) {
		fprintf(stderr, "sp-vhost-vsock: refusing malformed GET_CONFIG\n");
		return RTE_VHOST_MSG_RESULT_ERR;
	}
	memcpy(space, &cid, sizeof(space));
	for (uint32_t i = 0; i < cfg->size; i++) {
		uint64_t at = (uint64_t)cfg->offset + i;

		cfg->region[i] = at < sizeof(space) ? space[at] : 0;
	}
	m->size = VU_CONFIG_HDR + cfg->size;
	m->fd_num = 0;
	d->config_reads++;
	return RTE_VHOST_MSG_RESULT_REPLY;
}

static enum rte_vhost_msg_result pre_msg(int vid, void *msg)
{
	struct vb_dev *d = the_dev;
	struct vu_msg_ctx *m = msg;

	(void)vid;
	if (m->request == VU_SET_MEM_TABLE && (uint32_t)m->fd_num != m->payload.nregions && d->layout_ok) {
		d->layout_ok = false;
		fprintf(stderr, "sp-vhost-vsock: librte_vhost message layout differs from 22.11; "
			"GET_CONFIG will be refused\n");
	}
	if (m->request == VU_GET_CONFIG)
		return get_config(d, m);

	if (trace)
		fprintf(stderr, "sp-vhost-vsock: vhost-user message %u\n", m->request);
	vb_dev_lock(d);
	push_indices(d);
	d->quiesced = true;
	d->ready = false;
	d->gen++;
	pthread_mutex_unlock(&d->lock);
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

static enum rte_vhost_msg_result post_msg(int vid, void *msg)
{
	struct vb_dev *d = the_dev;

	(void)vid;
	(void)msg;
	vb_dev_lock(d);
	d->quiesced = false;
	d->gen++;
	pthread_mutex_unlock(&d->lock);
	wake(d);
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

static const struct rte_vhost_user_extern_ops extern_ops = {
	.pre_msg_handle = pre_msg,
	.post_msg_handle = post_msg,
};

static int new_connection(int vid)
{
	struct vb_dev *d = the_dev;

	vb_dev_lock(d);
	if (d->vid >= 0) {
		d->frontends_refused++;
		pthread_mutex_unlock(&d->lock);
		fprintf(stderr, "sp-vhost-vsock: a frontend is already connected; refusing another\n");
		return -1;
	}
	d->vid = vid;
	d->running = false;
	d->quiesced = false;
	memset(d->enabled, 0, sizeof(d->enabled));
	d->frontends_accepted++;
	d->gen++;
	pthread_mutex_unlock(&d->lock);
	if (rte_vhost_extern_callback_register(vid, &extern_ops, NULL) < 0) {
		fprintf(stderr, "sp-vhost-vsock: cannot hook vhost-user messages\n");
		/* The lib drops the connection without destroy_connection: free the slot here. */
		vb_dev_lock(d);
		d->vid = -1;
		pthread_mutex_unlock(&d->lock);
		return -1;
	}
	return 0;
}

static void destroy_connection(int vid)
{
	struct vb_dev *d = the_dev;

	vb_dev_lock(d);
	if (d->vid == vid) {
		d->vid = -1;
		d->frontends_gone++;
		d->running = false;
		d->ready = false;
		d->reset_pending = true;
		d->gen++;
	}
	pthread_mutex_unlock(&d->lock);
	wake(d);
}

static int new_device(int vid)
{
	struct vb_dev *d = the_dev;

	vb_dev_lock(d);
	if (d->vid == vid) {
		d->running = true;
		d->gen++;
	}
	pthread_mutex_unlock(&d->lock);
	wake(d);
	return 0;
}

static void destroy_device(int vid)
{
	struct vb_dev *d = the_dev;

	vb_dev_lock(d);
	if (d->vid == vid) {
		push_indices(d);
		d->running = false;
		d->ready = false;
		d->reset_pending = true;
		d->gen++;
	}
	pthread_mutex_unlock(&d->lock);
	wake(d);
}

static int vring_state_changed(int vid, uint16_t queue_id, int enable)
{
	struct vb_dev *d = the_dev;

	vb_dev_lock(d);
	if (d->vid == vid && queue_id < VB_NQ) {
		d->enabled[queue_id] = enable;
		d->gen++;
	}
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static const struct rte_vhost_device_ops dev_ops = {
	.new_device = new_device,
	.destroy_device = destroy_device,
	.vring_state_changed = vring_state_changed,
	.new_connection = new_connection,
	.destroy_connection = destroy_connection,
};

static bool load_vq(struct vb_dev *d, int q)
{
	struct rte_vhost_vring vr;
	struct vb_vq *vq = &d->vq[q];
	uint16_t la, lu;

	if (rte_vhost_get_vhost_vring(d->vid, q, &vr) < 0 || !vr.desc || !vr.avail || !vr.used ||
	    !vr.size || (vr.size & (vr.size - 1)) ||
	    rte_vhost_get_vring_base(d->vid, q, &la, &lu) < 0)
		return false;
	vq->desc = vr.desc;
	vq->avail = vr.avail;
	vq->used = vr.used;
	vq->size = vr.size;
	vq->callfd = vr.callfd;
	vq->kickfd = vr.kickfd;
	vq->last_avail_idx = la;
	vq->last_used_idx = lu;
	vq->signalled_used_valid = false;
	vq->event_idx = !!(d->features & (1ULL << VIRTIO_RING_F_EVENT_IDX));
	vq->indirect = !!(d->features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC));
	return true;
}

bool vb_dev_sync(struct vb_dev *d)
{
	struct rte_vhost_memory *mem = NULL;
	bool reset = d->reset_pending;

	/*
	 * A callback moved gen while we held the rings (vring_state_changed and
	 * new_device come after post_msg): our positions are the truth, hand them
	 * back before reading the lib's. After a message, pre_msg already did and
	 * cleared ready, so a new SET_VRING_BASE is not overwritten.
	 */
	push_indices(d);
	d->reset_pending = false;
	d->seen_gen = d->gen;
	d->ready = false;
	if (d->vid < 0 || !d->running || d->quiesced)
		return reset;
	if (rte_vhost_get_negotiated_features(d->vid, &d->features) < 0 ||
	    rte_vhost_get_mem_table(d->vid, &mem) < 0)
		return reset;
	d->mem.nregions = 0;
	for (uint32_t i = 0; i < mem->nregions && i < VB_MEM_MAX_REGIONS; i++) {
		d->mem.r[i].gpa = mem->regions[i].guest_phys_addr;
		d->mem.r[i].size = mem->regions[i].size;
		d->mem.r[i].hva = mem->regions[i].host_user_addr;
		d->mem.nregions++;
	}
	free(mem);
	for (int q = 0; q < VB_NQ; q++)
		d->vq_ok[q] = q < rte_vhost_get_vring_num(d->vid) && load_vq(d, q);
	/* QEMU keeps the event queue to itself: rx and tx are all we need. */
	d->ready = d->vq_ok[VB_VQ_RX] && d->vq_ok[VB_VQ_TX] &&
		   d->enabled[VB_VQ_RX] && d->enabled[VB_VQ_TX];
	if (trace)
		fprintf(stderr, "sp-vhost-vsock: sync gen %u ready %d rx %u/%u tx %u/%u\n", d->gen, d->ready,
			d->vq[0].last_avail_idx, d->vq[0].last_used_idx, d->vq[1].last_avail_idx,
			d->vq[1].last_used_idx);
	return reset;
}

int vb_dev_start(struct vb_dev *d, const struct vb_dev_opts *opts)
{
	uint64_t features = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES);
	uint64_t protocol = (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK) |
			    (1ULL << VHOST_USER_PROTOCOL_F_CONFIG);
	mode_t old_mask;
	int r;

	pthread_mutexattr_t ma;

	memset(d, 0, sizeof(*d));
	/* Recursive: "stats" from a guest's control connection runs inside a poll pass. */
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&d->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	d->vid = -1;
	d->layout_ok = true;
	d->opts = *opts;
	d->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->wakefd < 0)
		return -1;
	if (!opts->no_event_idx)
		features |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	if (!opts->no_indirect)
		features |= 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
	if (!opts->no_in_order)
		features |= 1ULL << VIRTIO_F_IN_ORDER;
	the_dev = d;
	trace = getenv("SP_BACKEND_TRACE") && strcmp(getenv("SP_BACKEND_TRACE"), "0");

	if (rte_vhost_driver_register(opts->path, 0) < 0) {
		fprintf(stderr, "sp-vhost-vsock: cannot register vhost-user socket %s\n", opts->path);
		return -1;
	}
	if (rte_vhost_driver_set_features(opts->path, features) < 0 ||
	    rte_vhost_driver_set_protocol_features(opts->path, protocol) < 0 ||
	    rte_vhost_driver_callback_register(opts->path, &dev_ops) < 0) {
		fprintf(stderr, "sp-vhost-vsock: cannot configure %s\n", opts->path);
		rte_vhost_driver_unregister(opts->path);
		return -1;
	}
	/* Whoever reaches the socket reads our memory and we theirs: owner only, from the start. */
	old_mask = umask(0177);
	r = rte_vhost_driver_start(opts->path);
	umask(old_mask);
	if (r < 0 || chmod(opts->path, 0600) < 0) {
		fprintf(stderr, "sp-vhost-vsock: cannot listen on %s\n", opts->path);
		rte_vhost_driver_unregister(opts->path);
		return -1;
	}
	return 0;
}

void vb_dev_stop(struct vb_dev *d)
{
	rte_vhost_driver_unregister(d->opts.path);
	close(d->wakefd);
}

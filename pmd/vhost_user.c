/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user transport, frontend side (QEMU's docs/interop/vhost-user.rst):
 * we play the VMM. The backend gets our DPDK memory by fd in SET_MEM_TABLE and
 * maps it; since each region's "guest physical" address is our own virtual
 * address, descriptors simply carry virtual addresses (as DPDK's virtio_user).
 *
 * The backend never speaks on this socket unasked, so anything readable on it
 * outside a request (or a hang-up) means it went away: that is is_alive().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_log.h>
#include <rte_memory.h>

#include "virtio_transport.h"
#include "virtqueue.h"

enum vhost_user_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_GET_CONFIG = 24,
};

#define VHOST_USER_VERSION 0x1u
#define VHOST_USER_REPLY 0x4u
#define VHOST_USER_NEED_REPLY 0x8u

#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_CONFIG 9

#define VHOST_USER_MAX_REGIONS 8
#define VHOST_USER_MAX_CONFIG 256
#define VHOST_USER_MAX_QUEUES 8
/* How long a reset waits for the backend to stop all rings. */
#define VHOST_USER_STOP_MS 1000

struct vhost_user_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};

struct vhost_user_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;          /* of the payload that follows */
	union {
		uint64_t u64;
		struct { uint32_t index, num; } state;
		struct {
			uint32_t index, flags;
			uint64_t desc_user_addr, used_user_addr, avail_user_addr, log_guest_addr;
		} addr;
		struct {
			uint32_t nregions, padding;
			struct vhost_user_region regions[VHOST_USER_MAX_REGIONS];
		} mem;
		struct {
			uint32_t offset, size, flags;
			uint8_t region[VHOST_USER_MAX_CONFIG];
		} config;
	} payload;
} __attribute__((packed));

#define VHOST_USER_HDR_SIZE 12u

struct vhost_user {
	struct virtio_transport t;
	int sock;
	bool alive;
	uint64_t features;          /* offered by the backend */
	uint64_t protocol_features; /* negotiated */
	uint8_t status;
	int kickfd[VHOST_USER_MAX_QUEUES];
	int callfd[VHOST_USER_MAX_QUEUES];
	uint32_t started;           /* queues given to the backend, not yet stopped */
	uint64_t next_alive_check;  /* tsc */
};

#define VU(t) ((struct vhost_user *)(t))

static int vu_send(struct vhost_user *vu, struct vhost_user_msg *m, const int *fds, int nfds)
{
	char ctl[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_REGIONS)];
	struct iovec iov = { .iov_base = m, .iov_len = VHOST_USER_HDR_SIZE + m->size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t r;

	m->flags |= VHOST_USER_VERSION;
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(ctl, 0, sizeof(ctl));
		mh.msg_control = ctl;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		r = sendmsg(vu->sock, &mh, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r != (ssize_t)iov.iov_len) {
		if (vu->alive)
			fprintf(stderr, "vhost-user %s: cannot send request %u: %s\n", vu->t.name, m->request,
				r < 0 ? strerror(errno) : "short write");
		vu->alive = false;
		return -1;
	}
	return 0;
}

/* Reads one reply to request req (bounded by the socket's receive timeout). */
static int vu_recv(struct vhost_user *vu, uint32_t req, struct vhost_user_msg *m)
{
	ssize_t r;

	do
		r = recv(vu->sock, m, VHOST_USER_HDR_SIZE, MSG_WAITALL);
	while (r < 0 && errno == EINTR);
	if (r != VHOST_USER_HDR_SIZE)
		goto dead;
	if (m->request != req || !(m->flags & VHOST_USER_REPLY) || m->size > sizeof(m->payload)) {
		fprintf(stderr, "vhost-user %s: bad reply to request %u (request %u, flags %#x, size %u)\n",
			vu->t.name, req, m->request, m->flags, m->size);
		vu->alive = false;
		return -1;
	}
	if (m->size) {
		do
			r = recv(vu->sock, &m->payload, m->size, MSG_WAITALL);
		while (r < 0 && errno == EINTR);
		if (r != (ssize_t)m->size)
			goto dead;
	}
	return 0;
dead:
	if (vu->alive)
		fprintf(stderr, "vhost-user %s: backend closed or timed out waiting for reply to request %u\n",
			vu->t.name, req);
	vu->alive = false;
	return -1;
}

/* A request that carries data; waits for the ack when REPLY_ACK was negotiated. */
static int vu_set(struct vhost_user *vu, uint32_t req, const void *payload, uint32_t size,
		  const int *fds, int nfds)
{
	struct vhost_user_msg m = { .request = req, .size = size };

	if (!vu->alive)
		return -1;
	memcpy(&m.payload, payload, size);
	if (vu->protocol_features & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK))
		m.flags |= VHOST_USER_NEED_REPLY;
	if (vu_send(vu, &m, fds, nfds) < 0)
		return -1;
	if (m.flags & VHOST_USER_NEED_REPLY) {
		if (vu_recv(vu, req, &m) < 0)
			return -1;
		if (m.payload.u64 != 0) {
			fprintf(stderr, "vhost-user %s: backend refused request %u\n", vu->t.name, req);
			return -1;
		}
	}
	return 0;
}

static int vu_set_u64(struct vhost_user *vu, uint32_t req, uint64_t v)
{
	return vu_set(vu, req, &v, sizeof(v), NULL, 0);
}

static int vu_get_u64(struct vhost_user *vu, uint32_t req, uint64_t *v)
{
	struct vhost_user_msg m = { .request = req };

	if (!vu->alive || vu_send(vu, &m, NULL, 0) < 0 || vu_recv(vu, req, &m) < 0)
		return -1;
	if (m.size != sizeof(uint64_t)) {
		fprintf(stderr, "vhost-user %s: reply to request %u has %u bytes, not 8\n", vu->t.name, req, m.size);
		vu->alive = false;
		return -1;
	}
	*v = m.payload.u64;
	return 0;
}

struct mem_walk {
	struct vhost_user_region r[VHOST_USER_MAX_REGIONS];
	int fd[VHOST_USER_MAX_REGIONS];
	int n;
	bool overflow;
};

/* One region per backing file: segments of a file are merged into the range that spans them. */
static int mem_walk_seg(const struct rte_memseg_list *msl, const struct rte_memseg *ms, void *arg)
{
	struct mem_walk *w = arg;
	uint64_t start = (uintptr_t)ms->addr, end = start + ms->len;
	size_t off;
	int fd, i;

	if (msl->external)
		return 0;
	fd = rte_memseg_get_fd_thread_unsafe(ms);
	if (fd < 0 || rte_memseg_get_fd_offset_thread_unsafe(ms, &off) < 0)
		return 0; /* not fd-backed: cannot be shared; setup_mem reports it if it holds nothing */
	for (i = 0; i < w->n; i++) {
		struct vhost_user_region *r = &w->r[i];

		/* merge only where file offset and address move together (one mmap covers both) */
		if (w->fd[i] != fd || start - off != r->userspace_addr - r->mmap_offset)
			continue;
		if (start < r->userspace_addr) {
			r->memory_size += r->userspace_addr - start;
			r->userspace_addr = r->guest_phys_addr = start;
			r->mmap_offset = off;
		}
		if (end > r->userspace_addr + r->memory_size)
			r->memory_size = end - r->userspace_addr;
		return 0;
	}
	if (w->n == VHOST_USER_MAX_REGIONS) {
		w->overflow = true;
		return 0;
	}
	w->fd[w->n] = fd;
	w->r[w->n] = (struct vhost_user_region){
		.guest_phys_addr = start, .memory_size = ms->len,
		.userspace_addr = start, .mmap_offset = off,
	};
	w->n++;
	return 0;
}

static int vu_setup_mem(struct virtio_transport *t)
{
	struct vhost_user *vu = VU(t);
	struct mem_walk w = { .n = 0 };
	struct { uint32_t nregions, padding; struct vhost_user_region r[VHOST_USER_MAX_REGIONS]; } mem;

	rte_memseg_walk(mem_walk_seg, &w);
	if (w.n == 0) {
		fprintf(stderr, "vhost-user %s: DPDK memory is not fd-backed; start EAL with --single-file-segments (sp_env shares_memory)\n",
			t->name);
		return -1;
	}
	if (w.overflow)
		fprintf(stderr, "vhost-user %s: more than %d memory files; memory beyond them is not shared\n",
			t->name, VHOST_USER_MAX_REGIONS);
	memset(&mem, 0, sizeof(mem));
	mem.nregions = w.n;
	memcpy(mem.r, w.r, sizeof(w.r));
	return vu_set(vu, VHOST_USER_SET_MEM_TABLE, &mem, sizeof(mem), w.fd, w.n);
}

static uint64_t vu_get_features(struct virtio_transport *t)
{
	return VU(t)->features & ~(1ull << VHOST_USER_F_PROTOCOL_FEATURES);
}

static int vu_set_features(struct virtio_transport *t, uint64_t features)
{
	struct vhost_user *vu = VU(t);

	/* keep the protocol-features bit, or the backend forgets what we negotiated */
	features |= vu->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
	return vu_set_u64(vu, VHOST_USER_SET_FEATURES, features);
}

static int vu_read_config(struct virtio_transport *t, uint32_t off, void *buf, uint32_t len)
{
	struct vhost_user *vu = VU(t);
	struct vhost_user_msg m = { .request = VHOST_USER_GET_CONFIG };

	if (!(vu->protocol_features & (1ull << VHOST_USER_PROTOCOL_F_CONFIG)) || len > VHOST_USER_MAX_CONFIG)
		return -1;
	m.size = 12 + len;
	m.payload.config.offset = off;
	m.payload.config.size = len;
	if (!vu->alive || vu_send(vu, &m, NULL, 0) < 0 || vu_recv(vu, VHOST_USER_GET_CONFIG, &m) < 0)
		return -1;
	if (m.size != 12 + len || m.payload.config.size != len) {
		fprintf(stderr, "vhost-user %s: GET_CONFIG refused (reply size %u)\n", t->name, m.size);
		return -1;
	}
	memcpy(buf, m.payload.config.region, len);
	return 0;
}

static int vu_setup_queue(struct virtio_transport *t, uint16_t qid, const struct virtqueue *vq)
{
	struct vhost_user *vu = VU(t);
	struct { uint32_t index, num; } state = { qid, vq->num };
	struct {
		uint32_t index, flags;
		uint64_t desc, used, avail, log;
	} addr = {
		.index = qid,
		.desc = (uintptr_t)vq->desc, .used = (uintptr_t)vq->used, .avail = (uintptr_t)vq->avail,
	};
	uint64_t v;

	if (qid >= VHOST_USER_MAX_QUEUES)
		return -1;
	vu->kickfd[qid] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	/* we poll and ask for no interrupts, but the protocol wants a call fd */
	vu->callfd[qid] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vu->kickfd[qid] < 0 || vu->callfd[qid] < 0)
		return -1;
	if (vu_set(vu, VHOST_USER_SET_VRING_NUM, &state, sizeof(state), NULL, 0) < 0)
		return -1;
	state.num = vq->last_used_idx; /* fresh queue: the device starts at entry 0 */
	if (vu_set(vu, VHOST_USER_SET_VRING_BASE, &state, sizeof(state), NULL, 0) < 0 ||
	    vu_set(vu, VHOST_USER_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0) < 0)
		return -1;
	v = qid;
	if (vu_set(vu, VHOST_USER_SET_VRING_CALL, &v, sizeof(v), &vu->callfd[qid], 1) < 0 ||
	    vu_set(vu, VHOST_USER_SET_VRING_KICK, &v, sizeof(v), &vu->kickfd[qid], 1) < 0)
		return -1;
	if (vu->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)) {
		state.num = 1;
		if (vu_set(vu, VHOST_USER_SET_VRING_ENABLE, &state, sizeof(state), NULL, 0) < 0)
			return -1;
	}
	vu->started |= 1u << qid;
	return 0;
}

static void vu_notify(struct virtio_transport *t, uint16_t qid)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is saturated: the backend has a kick pending anyway */
	if (write(VU(t)->kickfd[qid], &one, sizeof(one)) < 0 && errno != EAGAIN)
		VU(t)->alive = false;
}

static uint8_t vu_get_status(struct virtio_transport *t)
{
	return VU(t)->status;
}

/*
 * A reset the vhost-user way: GET_VRING_BASE stops a ring, and the backend
 * answers only once it no longer touches it (vhost-user.rst). Until every
 * answer is in, the backend may still write used entries into our memory.
 * A backend that is gone writes nothing more; one silent past the bound may.
 */
static int vu_stop_rings(struct vhost_user *vu)
{
	uint64_t hz = rte_get_tsc_hz(), end = rte_get_tsc_cycles() + hz * VHOST_USER_STOP_MS / 1000;
	int q;

	for (q = 0; q < VHOST_USER_MAX_QUEUES; q++) {
		struct vhost_user_msg m = { .request = VHOST_USER_GET_VRING_BASE, .size = 8 };
		struct pollfd p = { .fd = vu->sock, .events = POLLIN | POLLRDHUP };
		uint64_t now = rte_get_tsc_cycles();

		if (!(vu->started & (1u << q)))
			continue;
		if (!vu->alive)
			return 0;
		m.payload.state.index = q;
		if (vu_send(vu, &m, NULL, 0) < 0)
			return 0;
		if (poll(&p, 1, now < end ? (int)((end - now) * 1000 / hz) : 0) <= 0) {
			fprintf(stderr, "vhost-user %s: backend did not stop queue %d within %d ms\n",
				vu->t.name, q, VHOST_USER_STOP_MS);
			vu->alive = false;
			return -1;
		}
		if (vu_recv(vu, VHOST_USER_GET_VRING_BASE, &m) < 0)
			return p.revents & (POLLHUP | POLLRDHUP) ? 0 : -1;
		vu->started &= ~(1u << q);
	}
	return 0;
}

/* vhost-user has no status register (without F_STATUS); the rings start on ENABLE, stop on reset. */
static int vu_set_status(struct virtio_transport *t, uint8_t status)
{
	struct vhost_user *vu = VU(t);

	vu->status = status;
	return status == 0 ? vu_stop_rings(vu) : 0;
}

static bool vu_is_alive(struct virtio_transport *t)
{
	struct vhost_user *vu = VU(t);
	struct pollfd p = { .fd = vu->sock, .events = POLLIN | POLLRDHUP };
	uint64_t now;

	if (!vu->alive)
		return false;
	/* a poll() costs a syscall (~1% of a core at 10 kHz): look at most every millisecond */
	now = rte_get_tsc_cycles();
	if (now < vu->next_alive_check)
		return true;
	vu->next_alive_check = now + rte_get_tsc_hz() / 1000;
	if (poll(&p, 1, 0) > 0) {
		fprintf(stderr, "vhost-user %s: backend closed the connection; device gone\n", t->name);
		vu->alive = false;
	}
	return vu->alive;
}

static void vu_close(struct virtio_transport *t)
{
	struct vhost_user *vu = VU(t);
	int i;

	for (i = 0; i < VHOST_USER_MAX_QUEUES; i++) {
		if (vu->kickfd[i] >= 0)
			close(vu->kickfd[i]);
		if (vu->callfd[i] >= 0)
			close(vu->callfd[i]);
	}
	if (vu->sock >= 0)
		close(vu->sock);
	free(vu);
}

static const struct virtio_transport_ops vhost_user_ops = {
	.name = "vhost-user",
	.setup_mem = vu_setup_mem,
	.get_features = vu_get_features,
	.set_features = vu_set_features,
	.read_config = vu_read_config,
	/* no queue_max: the protocol cannot ask, and a backend takes what SET_VRING_NUM says */
	.setup_queue = vu_setup_queue,
	.notify = vu_notify,
	.get_status = vu_get_status,
	.set_status = vu_set_status,
	.is_alive = vu_is_alive,
	.close = vu_close,
};

static int vu_connect(const char *path, unsigned int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };
	unsigned int waited = 0;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "vhost-user: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* the backend may still be starting: retry a refused or missing socket */
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if ((errno != ENOENT && errno != ECONNREFUSED) || waited >= timeout_ms) {
			fprintf(stderr, "vhost-user: cannot connect to %s: %s\n", path, strerror(errno));
			close(fd);
			return -1;
		}
		usleep(10 * 1000);
		waited += 10;
	}
	/* replies are bounded: a backend that stops answering is a dead one */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

struct virtio_transport *vhost_user_transport_open(const char *path, unsigned int connect_timeout_ms)
{
	const uint64_t want_proto = (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |
				    (1ull << VHOST_USER_PROTOCOL_F_CONFIG);
	struct vhost_user *vu = calloc(1, sizeof(*vu));
	uint64_t proto;
	int i;

	if (!vu)
		return NULL;
	for (i = 0; i < VHOST_USER_MAX_QUEUES; i++)
		vu->kickfd[i] = vu->callfd[i] = -1;
	vu->t.ops = &vhost_user_ops;
	vu->t.addr_is_va = true;
	snprintf(vu->t.name, sizeof(vu->t.name), "%s", path);
	vu->sock = vu_connect(path, connect_timeout_ms);
	if (vu->sock < 0)
		goto fail;
	vu->alive = true;
	if (vu_set_u64(vu, VHOST_USER_SET_OWNER, 0) < 0 ||
	    vu_get_u64(vu, VHOST_USER_GET_FEATURES, &vu->features) < 0)
		goto fail;
	if (vu->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)) {
		if (vu_get_u64(vu, VHOST_USER_GET_PROTOCOL_FEATURES, &proto) < 0 ||
		    vu_set_u64(vu, VHOST_USER_SET_PROTOCOL_FEATURES, proto & want_proto) < 0)
			goto fail;
		vu->protocol_features = proto & want_proto;
	}
	return &vu->t;
fail: /* every failure above said why in one line */
	vu_close(&vu->t);
	return NULL;
}

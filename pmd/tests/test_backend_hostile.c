/* SPDX-License-Identifier: MIT */
/*
 * sp-vhost-vsock against a hostile frontend: a bare vhost-user frontend
 * written here (no DPDK) that maps one memfd region at a guest address unlike
 * its own and puts broken chains and headers on the tx ring. The backend must
 * count each, give the descriptors back, answer with RST where a header names
 * a connection, and keep serving good packets after all of it.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "peer.h"
#include "vsock_proto.h"

#ifndef BACKEND_PATH
#error "BACKEND_PATH must name the sp-vhost-vsock program"
#endif

#define MEM_SIZE (1u << 20)
#define GPA 0x40000000ull        /* the guest address of our memory, unlike its address here */
#define QSZ 16
/* layout inside the region */
#define RING_OFF(q) ((q) * 0x4000u)
#define BUF_OFF 0x10000u

static char dir[64], sock[128], ctlpath[160];
static struct sp_peer backend;
static int vfd = -1, kick[2] = { -1, -1 }, call[2] = { -1, -1 };
static uint8_t *mem;

struct ring {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx;
};
static struct ring rq[2];

struct vu_hdr {
	uint32_t request, flags, size;
} __attribute__((packed));

static void vu_send(uint32_t req, const void *payload, uint32_t size, int fd)
{
	uint8_t buf[512];
	struct vu_hdr h = { req, 1, size };
	struct iovec iov = { buf, sizeof(h) + size };
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	memcpy(buf, &h, sizeof(h));
	if (size)
		memcpy(buf + sizeof(h), payload, size);
	if (fd >= 0) {
		struct cmsghdr *c;

		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	cr_assert_eq(sendmsg(vfd, &msg, 0), (ssize_t)iov.iov_len, "vhost-user send %u", req);
}

static uint64_t vu_get_u64(uint32_t req)
{
	struct vu_hdr h;
	uint64_t v;

	vu_send(req, NULL, 0, -1);
	cr_assert_eq(read(vfd, &h, sizeof(h)), (ssize_t)sizeof(h));
	cr_assert_eq(h.request, req);
	cr_assert_eq(read(vfd, &v, sizeof(v)), (ssize_t)sizeof(v));
	return v;
}

static void start_backend(void)
{
	char *argv[] = { "timeout", "-s", "INT", "60", BACKEND_PATH, "--socket", sock, "--cid", "3", NULL };

	snprintf(dir, sizeof(dir), "/tmp/sp-be-hostile.XXXXXX");
	cr_assert(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/v.sock", dir);
	snprintf(ctlpath, sizeof(ctlpath), "%s/v.sock.ctl", dir);
	sp_peer_start(&backend, "be-hostile", argv);
	sp_peer_wait_err(&backend, "serving", sp_peer_now() + 10);
	sp_peer_ctl_connect(&backend, ctlpath, sp_peer_now() + 5);
}

static void fini(void)
{
	char cmd[128];

	if (vfd >= 0)
		close(vfd);
	sp_peer_stop(&backend, SIGINT, 10);
	sp_peer_drop(&backend);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (dir[0] && system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static const char *stats(void)
{
	return sp_peer_ctl(&backend, "stats");
}

static long long stat_num(const char *key)
{
	const char *s = stats();
	double v = sp_peer_json_num(s, key);

	cr_assert(v >= 0, "no %s in %s", key, s);
	return (long long)v;
}

static uint64_t gpa_of(const void *p)
{
	return GPA + (uint64_t)((const uint8_t *)p - mem);
}

/* The frontend's side of set-up, as the vhost-user spec orders it. */
static void frontend_up(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct { uint32_t nregions, pad; uint64_t gpa, size, uaddr, off; } mt;
	uint64_t features;
	int mfd = memfd_create("hostile", 0);

	cr_assert(mfd >= 0 && ftruncate(mfd, MEM_SIZE) == 0);
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	cr_assert(mem != MAP_FAILED);
	memset(mem, 0, MEM_SIZE);
	strcpy(sa.sun_path, sock);
	vfd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert(connect(vfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);

	vu_send(3 /* SET_OWNER */, NULL, 0, -1);
	features = vu_get_u64(1 /* GET_FEATURES */);
	cr_assert(features & (1ull << VIRTIO_F_VERSION_1));
	/* No VHOST_USER_F_PROTOCOL_FEATURES: rings start enabled at their kick. */
	features = 1ull << VIRTIO_F_VERSION_1;
	vu_send(2 /* SET_FEATURES */, &features, sizeof(features), -1);
	mt = (typeof(mt)){ 1, 0, GPA, MEM_SIZE, (uintptr_t)mem, 0 };
	vu_send(5 /* SET_MEM_TABLE */, &mt, sizeof(mt), mfd);
	for (uint32_t q = 0; q < 2; q++) {
		struct { uint32_t index, num; } st = { q, QSZ };
		struct { uint32_t index, flags; uint64_t desc, used, avail, log; } ad;
		uint64_t idx = q;
		uint8_t *r = mem + RING_OFF(q);

		rq[q].desc = (struct vring_desc *)r;
		rq[q].avail = (struct vring_avail *)(r + 0x1000);
		rq[q].used = (struct vring_used *)(r + 0x2000);
		ad = (typeof(ad)){ q, 0, (uintptr_t)rq[q].desc, (uintptr_t)rq[q].used,
				   (uintptr_t)rq[q].avail, 0 };
		kick[q] = eventfd(0, EFD_NONBLOCK);
		call[q] = eventfd(0, EFD_NONBLOCK);
		vu_send(8 /* SET_VRING_NUM */, &st, sizeof(st), -1);
		vu_send(9 /* SET_VRING_ADDR */, &ad, sizeof(ad), -1);
		st.num = 0;
		vu_send(10 /* SET_VRING_BASE */, &st, sizeof(st), -1);
		vu_send(13 /* SET_VRING_CALL */, &idx, sizeof(idx), call[q]);
		vu_send(12 /* SET_VRING_KICK */, &idx, sizeof(idx), kick[q]);
	}
	close(mfd);
	/* rx buffers: QSZ writable 4 KiB buffers */
	for (uint16_t i = 0; i < QSZ; i++) {
		rq[0].desc[i] = (struct vring_desc){ gpa_of(mem + BUF_OFF + i * 4096u), 4096,
						     VRING_DESC_F_WRITE, 0 };
		rq[0].avail->ring[i] = i;
	}
	__atomic_store_n(&rq[0].avail->idx, QSZ, __ATOMIC_RELEASE);
	rq[0].avail_idx = QSZ;
	eventfd_write(kick[0], 1);
}

static uint8_t *txbuf(int slot)
{
	return mem + BUF_OFF + (QSZ + (uint32_t)slot) * 4096u;
}

static void hdr_at(uint8_t *p, uint16_t op, uint32_t len)
{
	struct vsock_hdr h = { .src_cid = 3, .dst_cid = 2, .src_port = 7000, .dst_port = 1234,
			       .len = len, .type = VSOCK_TYPE_STREAM, .op = op, .buf_alloc = 65536 };

	vsock_hdr_encode(p, &h);
}

/* Makes chain head available on tx and kicks. */
static void tx_post(uint16_t head)
{
	struct ring *r = &rq[1];

	r->avail->ring[r->avail_idx % QSZ] = head;
	r->avail_idx++;
	__atomic_store_n(&r->avail->idx, r->avail_idx, __ATOMIC_RELEASE);
	eventfd_write(kick[1], 1);
}

/* Waits until the backend returned n tx chains in all. */
static void tx_wait_used(uint16_t n)
{
	for (int i = 0; i < 200 && __atomic_load_n(&rq[1].used->idx, __ATOMIC_ACQUIRE) != n; i++)
		usleep(10000);
	cr_assert_eq(rq[1].used->idx, n, "backend gave back %u of %u tx chains", rq[1].used->idx, n);
}

/* The ops the backend wrote on rx so far. */
static int rx_ops(uint16_t *ops, int max)
{
	int n = __atomic_load_n(&rq[0].used->idx, __ATOMIC_ACQUIRE);

	for (int i = 0; i < n && i < max; i++) {
		struct vsock_hdr h;

		vsock_hdr_decode(&h, mem + BUF_OFF + rq[0].used->ring[i].id * 4096u);
		ops[i] = h.op;
	}
	return n;
}

TestSuite(backend_hostile, .fini = fini, .timeout = 60);

Test(backend_hostile, broken_chains_and_headers_are_counted_and_survived)
{
	uint16_t ops[QSZ], used = 0;
	int n;

	start_backend();
	frontend_up();
	for (int i = 0; i < 100 && !strstr(stats(), "\"device_ready\":true"); i++)
		usleep(20000);
	cr_assert(strstr(stats(), "\"device_ready\":true"), "rings did not come up: %s", stats());

	/* 1. a good REQUEST, to have a connection to reset later */
	hdr_at(txbuf(0), VSOCK_OP_REQUEST, 0);
	rq[1].desc[0] = (struct vring_desc){ gpa_of(txbuf(0)), 44, 0, 0 };
	tx_post(0);
	tx_wait_used(++used);

	/* 2. a buffer outside the registered region (our own address, not the guest's) */
	rq[1].desc[1] = (struct vring_desc){ (uintptr_t)txbuf(1), 44, 0, 0 };
	tx_post(1);
	/* 3. a loop */
	rq[1].desc[2] = (struct vring_desc){ gpa_of(txbuf(2)), 44, VRING_DESC_F_NEXT, 3 };
	rq[1].desc[3] = (struct vring_desc){ gpa_of(txbuf(2)), 44, VRING_DESC_F_NEXT, 2 };
	tx_post(2);
	/* 4. an address that wraps */
	rq[1].desc[4] = (struct vring_desc){ UINT64_MAX - 10, 44, 0, 0 };
	tx_post(4);
	/* 5. an indirect table that is not even aligned */
	rq[1].desc[5] = (struct vring_desc){ gpa_of(txbuf(5)) + 3, 40, VRING_DESC_F_INDIRECT, 0 };
	tx_post(5);
	/* 6. a header with a bad op on the live connection */
	hdr_at(txbuf(6), 42, 0);
	rq[1].desc[6] = (struct vring_desc){ gpa_of(txbuf(6)), 44, 0, 0 };
	tx_post(6);
	/* 7. a head index beyond the ring */
	tx_post(200);
	used += 5;  /* the bad head cannot be given back */
	tx_wait_used(used);

	cr_assert_eq(stat_num("bad_chains"), 5, "%s", stats());
	cr_assert_eq(stat_num("bad_addr"), 1);
	cr_assert_eq(stat_num("len_overflow"), 1);
	cr_assert_eq(stat_num("too_long"), 1);
	cr_assert_eq(stat_num("bad_indirect"), 1);
	cr_assert_eq(stat_num("bad_head"), 1);
	cr_assert_eq(stat_num("bad_op"), 1);
	for (int i = 0; i < 100 && rx_ops(ops, QSZ) < 2; i++)
		usleep(10000);
	n = rx_ops(ops, QSZ);
	cr_assert_eq(n, 2);
	cr_assert_eq(ops[0], VSOCK_OP_RESPONSE);
	cr_assert_eq(ops[1], VSOCK_OP_RST, "the bad header reset its connection");
	cr_assert_eq(stat_num("conns_open"), 0);

	/* 8. the avail index jumps a whole ring ahead: nothing is taken while it lasts */
	__atomic_store_n(&rq[1].avail->idx, (uint16_t)(rq[1].avail_idx + QSZ + 5), __ATOMIC_RELEASE);
	eventfd_write(kick[1], 1);
	usleep(100000);
	cr_assert_eq(rq[1].used->idx, used);
	cr_assert_eq(stat_num("bad_avail"), 1);
	__atomic_store_n(&rq[1].avail->idx, rq[1].avail_idx, __ATOMIC_RELEASE);

	/* 9. and a good REQUEST is still served */
	hdr_at(txbuf(7), VSOCK_OP_REQUEST, 0);
	rq[1].desc[7] = (struct vring_desc){ gpa_of(txbuf(7)), 44, 0, 0 };
	tx_post(7);
	tx_wait_used(++used);
	for (int i = 0; i < 100 && rx_ops(ops, QSZ) < 3; i++)
		usleep(10000);
	cr_assert_eq(rx_ops(ops, QSZ), 3);
	cr_assert_eq(ops[2], VSOCK_OP_RESPONSE);
	cr_assert_eq(stat_num("conns_open"), 1);
}

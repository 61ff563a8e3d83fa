/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a hostile host against the vsock stack (vsock.c,
 * vsock_virtio.c) through the real driver, over the fake device of
 * pmd/tests/test_pmd_fake.h. The fake host accepts connections and answers
 * SHUTDOWN with RST, as a host would; the input adds packets of its own to the
 * rx ring with any op, flags, ports, CIDs, buf_alloc, fwd_cnt and payload, and
 * drives the application: non-blocking connect, send, sendmmsg, recv,
 * shutdown, close, buffer options, polls.
 *
 * Checked besides ASan/UBSan: every packet the stack puts on the tx ring has
 * a header vsock_hdr_check accepts (an RST: no payload), and on connections
 * only the honest host spoke to, the stream never carries a byte beyond the
 * credit it advertised, by the spec's rule (while hostile packets go to the
 * other sockets and ports).
 *
 * The stack lives for the whole run (one EAL, one device); each input closes
 * its sockets and lets the handshakes finish, so inputs start from an empty
 * connection table.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>

#include "sendpath.h"
#include "sock.h"
#include "sp_env.h"
#include "test_pmd_fake.h"
#include "virtio_vsock.h"
#include "vsock_proto.h"
#include "fuzz_script.h"

#define GUEST_CID 42
#define HOST_PORT 1234
#define NSOCK 4
#define MAX_CONNS 16

/*
 * The host's books per guest port: what it allowed, what it got. The spec's
 * rule: the stream may reach tx_cnt while (u32)(tx_cnt - fwd_cnt) <= buf_alloc
 * for the fwd_cnt and buf_alloc of an advertisement the driver has seen; a lying
 * host may advertise anything, so every advertisement is kept (up to ADV_MAX).
 */
#define ADV_MAX 64

static struct hconn {
	uint32_t guest_port;
	bool used;
	uint32_t rx_cnt;       /* RW bytes received */
	uint32_t fwd_cnt;      /* what the host says it consumed */
	unsigned int nadv;     /* ADV_MAX + 1: too many to keep, not checked */
	bool tainted;          /* the input spoke to this port itself: credit not checked */
	struct { uint32_t fwd_cnt, buf_alloc; } adv[ADV_MAX];
} hc[MAX_CONNS];

static struct hconn *hconn(uint32_t port, bool create)
{
	struct hconn *free_ = NULL;

	for (int i = 0; i < MAX_CONNS; i++) {
		if (hc[i].used && hc[i].guest_port == port)
			return &hc[i];
		if (!hc[i].used && !free_)
			free_ = &hc[i];
	}
	if (!create || !free_)
		return NULL;
	memset(free_, 0, sizeof(*free_));
	free_->used = true;
	free_->guest_port = port;
	return free_;
}

static void advertise(struct hconn *c, uint32_t fwd_cnt, uint32_t buf_alloc)
{
	if (c->nadv < ADV_MAX)
		c->adv[c->nadv] = (typeof(c->adv[0])){ fwd_cnt, buf_alloc };
	if (c->nadv <= ADV_MAX)
		c->nadv++;
}

static bool within_credit(const struct hconn *c)
{
	if (c->nadv > ADV_MAX || c->tainted)
		return true;
	for (unsigned int i = 0; i < c->nadv; i++)
		if ((uint32_t)(c->rx_cnt - c->adv[i].fwd_cnt) <= c->adv[i].buf_alloc)
			return true;
	return false;
}

/* Puts one packet into the next rx buffer the driver posted; false when none. */
static bool host_put(const struct vsock_hdr *h, const uint8_t *payload, uint32_t len, uint32_t lie)
{
	const struct virtqueue *vq = fk.vq[RXQ];
	int head = dev_take(RXQ);
	uint8_t *buf;

	if (head < 0)
		return false;
	buf = (uint8_t *)(uintptr_t)vq->desc[head].addr;
	if (len > vq->desc[head].len - sizeof(*h))
		len = vq->desc[head].len - sizeof(*h);
	vsock_hdr_encode(buf, h);
	if (len)
		memcpy(buf + sizeof(*h), payload, len);
	dev_used(RXQ, (uint32_t)head, (uint32_t)sizeof(*h) + len + lie);
	return true;
}

static void host_reply(const struct vsock_hdr *in, uint16_t op, struct hconn *c)
{
	struct vsock_hdr h = { .src_cid = VSOCK_HOST_CID, .dst_cid = in->src_cid, .src_port = in->dst_port,
			       .dst_port = in->src_port, .type = VSOCK_TYPE_STREAM, .op = op,
			       .buf_alloc = 65536, .fwd_cnt = c ? c->fwd_cnt : 0 };

	if (c && op != VSOCK_OP_RST)
		advertise(c, h.fwd_cnt, h.buf_alloc);
	host_put(&h, NULL, 0, 0);
}

/* Reads what the driver sent, checks it, answers as a host would (refuse: RST every REQUEST). */
static void host_poll(bool refuse)
{
	const struct virtqueue *vq = fk.vq[TXQ];
	int head;

	while ((head = dev_take(TXQ)) >= 0) {
		uint8_t wire[sizeof(struct vsock_hdr)];
		struct vsock_hdr h;
		uint32_t got = 0, total = 0;
		uint16_t id = (uint16_t)head;
		struct hconn *c;

		/* the chain: header in the first descriptor's first 44 bytes (tx_burst's layout) */
		for (int n = 0; n <= vq->num; n++) {
			const struct vring_desc *d = &vq->desc[id];
			uint32_t k = d->len;

			if (got < sizeof(wire)) {
				uint32_t m = k < sizeof(wire) - got ? k : (uint32_t)sizeof(wire) - got;

				memcpy(wire + got, (void *)(uintptr_t)d->addr, m);
				got += m;
			}
			total += k;
			if (!(d->flags & VRING_DESC_F_NEXT))
				break;
			id = d->next;
		}
		dev_used(TXQ, (uint32_t)head, 0);
		if (got < sizeof(wire))
			abort();           /* tx_burst refuses packets shorter than a header */
		vsock_hdr_decode(&h, wire);
		/*
		 * An RST to a packet that reached no socket mirrors that packet's CIDs,
		 * ports and type, as the kernel's virtio_transport_reset_no_sock does (the
		 * host drops what does not come from the guest's CID); everything else
		 * must be a well-formed stream packet.
		 */
		if (h.op == VSOCK_OP_RST ? h.len != 0 || total != sizeof(wire) :
		    vsock_hdr_check(&h, total - sizeof(wire)) != VSOCK_HDR_OK || h.type != VSOCK_TYPE_STREAM) {
			fprintf(stderr, "stack sent a bad packet: op %u len %u total %u cids %llu->%llu\n",
				h.op, h.len, total, (unsigned long long)h.src_cid,
				(unsigned long long)h.dst_cid);
			abort();
		}
		c = hconn(h.src_port, h.op == VSOCK_OP_REQUEST);
		switch (h.op) {
		case VSOCK_OP_REQUEST:
			/* advertisements made before (a stranger's RESPONSE may have completed
			 * the connect, as in the kernel) stay: the stack may have used them */
			if (c)
				c->rx_cnt = c->fwd_cnt = 0;
			host_reply(&h, refuse || !c ? VSOCK_OP_RST : VSOCK_OP_RESPONSE, c);
			if (refuse && c)
				c->used = false;
			break;
		case VSOCK_OP_RW:
			if (!c)
				break;
			c->rx_cnt += h.len;
			if (!within_credit(c)) {
				fprintf(stderr, "credit exceeded: port %u received %u, beyond all %u advertisements\n",
					h.src_port, c->rx_cnt, c->nadv);
				abort();
			}
			c->fwd_cnt += h.len;   /* consumed at once; credit goes back on the next packet */
			break;
		case VSOCK_OP_CREDIT_REQUEST:
			host_reply(&h, VSOCK_OP_CREDIT_UPDATE, c);
			break;
		case VSOCK_OP_SHUTDOWN:
			host_reply(&h, VSOCK_OP_RST, NULL);
			if (c)
				c->used = false;
			break;
		case VSOCK_OP_RST:
			if (c)
				c->used = false;
			break;
		default:
			break;
		}
	}
}

static int fds[NSOCK];

static uint32_t local_port(int fd)
{
	struct sockaddr_vm a;
	socklen_t l = sizeof(a);

	if (sp_getsockname(fd, (struct sockaddr *)&a, &l) != 0)
		return 0;
	return a.svm_port;
}

static uint8_t data[1 << 17];

static void run(struct fuzz_script *s)
{
	bool refuse = false;

	while (s->left) {
		uint8_t op = (uint8_t)fuzz_take(s, 1);
		int fd = fds[(op >> 5) & 3];

		switch (op & 0x0f) {
		case 0: { /* a packet of the input's own */
			uint32_t sel = (uint32_t)fuzz_take(s, 1), len = (uint32_t)fuzz_take(s, 2) % 4200;
			struct vsock_hdr h;

			/* one field at a time: the input's bytes are read in this order */
			h.src_cid = sel & 1 ? fuzz_take(s, 8) : VSOCK_HOST_CID;
			h.dst_cid = sel & 2 ? fuzz_take(s, 8) : GUEST_CID;
			h.src_port = sel & 4 ? (uint32_t)fuzz_take(s, 4) : HOST_PORT;
			h.dst_port = sel & 8 ? (uint32_t)fuzz_take(s, 4) : local_port(fd);
			h.type = sel & 16 ? (uint16_t)fuzz_take(s, 2) : VSOCK_TYPE_STREAM;
			h.op = (uint16_t)(fuzz_take(s, 1) % 9);
			h.flags = (uint32_t)fuzz_take(s, 4);
			h.buf_alloc = (uint32_t)fuzz_take(s, 4);
			h.fwd_cnt = (uint32_t)fuzz_take(s, 4);
			struct hconn *c;
			uint32_t lie = sel & 32 ? (uint32_t)fuzz_take(s, 1) : 0;

			/* len agrees with the payload unless the input says otherwise */
			h.len = sel & 64 ? (uint32_t)fuzz_take(s, 4) : h.op == VSOCK_OP_RW ? len : 0;
			if (h.op != VSOCK_OP_RW && !(sel & 64))
				len = 0;
			/*
			 * A port the input spoke to is out of the credit check: the socket is
			 * also found by its bound address alone (any source port, CIDs compared in
			 * 32 bits), a stranger's RESPONSE may complete its connect and every
			 * header updates the credit, as in the kernel's virtio_transport_recv_pkt;
			 * the harness cannot tell which of those the stack saw when. The credit
			 * rule is checked on every connection only the honest host spoke to.
			 */
			c = hconn(h.dst_port, true);
			if (c)
				c->tainted = true;
			host_put(&h, data, len, lie);
			break;
		}
		case 1: {
			struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST,
						 .svm_port = HOST_PORT };

			sp_connect(fd, (struct sockaddr *)&a, sizeof(a));
			break;
		}
		case 2:
			sp_send(fd, data, (size_t)fuzz_take(s, 3) % sizeof(data), MSG_DONTWAIT | MSG_NOSIGNAL);
			break;
		case 3: {
			struct iovec iov[8];
			struct mmsghdr v[8];
			unsigned int n = (unsigned int)fuzz_take(s, 1) % 9;

			memset(v, 0, sizeof(v));
			for (unsigned int i = 0; i < n; i++) {
				iov[i] = (struct iovec){ data + i, (size_t)fuzz_take(s, 2) };
				v[i].msg_hdr.msg_iov = &iov[i];
				v[i].msg_hdr.msg_iovlen = 1;
			}
			sp_sendmmsg(fd, v, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			break;
		}
		case 4: {
			static uint8_t rb[8192];

			sp_recv(fd, rb, (size_t)fuzz_take(s, 2) % sizeof(rb), MSG_DONTWAIT);
			break;
		}
		case 5:
			sp_shutdown(fd, (int)fuzz_take(s, 1) % 3);
			break;
		case 6: {
			uint64_t v = fuzz_take(s, 4);

			sp_setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &v, sizeof(v));
			break;
		}
		case 7:
			host_poll(refuse);
			break;
		case 8:
			sp_poll();
			break;
		case 9: /* TRANSPORT_RESET on the event queue */
			if (fk.vq[EVQ]) {
				int h = dev_take(EVQ);

				if (h >= 0) {
					uint32_t ev = VSOCK_EVENT_TRANSPORT_RESET;

					memcpy((void *)(uintptr_t)fk.vq[EVQ]->desc[h].addr, &ev, sizeof(ev));
					dev_used(EVQ, (uint32_t)h, sizeof(struct vsock_event));
				}
			}
			break;
		case 10:
			refuse = !refuse;
			break;
		case 11: {
			int nfd = sp_socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK, 0);

			if (nfd >= 0) {
				sp_close(fd);
				fds[(op >> 5) & 3] = nfd;
			}
			break;
		}
		default:
			host_poll(refuse);
			sp_poll();
			break;
		}
	}
}

static void fini(void)
{
	sp_fini();
	sp_vsock_dev_destroy(sp_vsock_dev_get("vsock_fz"));
	sp_env_fini();          /* no DPDK runtime dir left behind */
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sp_env_cfg ecfg = { .name = "fuzzvrx", .cpu = -1, .mem_mb = 256, .quiet = true };
	struct sp_init_cfg cfg = { .start_eal = false, .vsock_dev = "vsock_fz", .udp_port = -1 };

	(void)argc;
	(void)argv;
	if (sp_env_init(&ecfg) != 0 ||
	    !sp_vsock_dev_create_on("vsock_fz", fake_open((1ull << VIRTIO_F_VERSION_1) |
							  (1ull << VIRTIO_RING_F_EVENT_IDX)),
				    "queue_size=256,pool_size=4096") ||
	    sp_init(&cfg) != 0) {
		fprintf(stderr, "fuzz_vsock_rx: set-up failed: %s\n", strerror(errno));
		exit(1);
	}
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	atexit(fini);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size)
{
	struct fuzz_script s = { buf, size };

	for (int i = 0; i < NSOCK; i++) {
		fds[i] = sp_socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (fds[i] < 0)
			abort();
	}
	run(&s);
	/* close everything and let the handshakes end: the next input starts clean */
	sp_sock_close_all();
	for (int i = 0; i < 64; i++) {
		host_poll(false);
		sp_poll();
	}
	memset(hc, 0, sizeof(hc));
	return 0;
}

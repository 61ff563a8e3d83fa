/* SPDX-License-Identifier: MIT */
/*
 * What the driver's integration tests and its tx benchmark share: starting
 * the sp-vhost-vsock backend as a child process, asking its control socket,
 * and playing a vsock stream's driver side by hand over the burst API
 * (REQUEST/RESPONSE, RW within the peer's credit, CREDIT_UPDATE). The stack
 * proper lives in stack/; this is only enough to push bytes through.
 */
#ifndef SP_TEST_PMD_COMMON_H
#define SP_TEST_PMD_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_hash_crc.h>
#include <rte_mbuf.h>

#include "virtio_vsock.h"
#include "vsock_proto.h"

#ifndef SP_VHOST_VSOCK_BIN
#define SP_VHOST_VSOCK_BIN "sp-vhost-vsock"
#endif

static inline double pt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Starts the backend on socket sock with extra options (NULL-terminated); returns its pid or -1. */
static inline pid_t pt_backend_start(const char *sock, const char *const *extra)
{
	const char *argv[32];
	int argc = 0;
	pid_t pid;

	if (access(SP_VHOST_VSOCK_BIN, X_OK) != 0) {
		fprintf(stderr, "backend %s not built: %s\n", SP_VHOST_VSOCK_BIN, strerror(errno));
		return -1;
	}
	argv[argc++] = SP_VHOST_VSOCK_BIN;
	argv[argc++] = "--socket";
	argv[argc++] = sock;
	while (extra && *extra && argc < 30)
		argv[argc++] = *extra++;
	argv[argc] = NULL;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		/* its exit JSON is read through the control socket instead */
		if (null >= 0)
			dup2(null, 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Waits for pid up to timeout_s; returns its exit status, or -1 (killed then). */
static inline int pt_backend_wait(pid_t pid, double timeout_s)
{
	double end = pt_now() + timeout_s;
	int st;

	while (pt_now() < end) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/* One command to the backend's control socket; the reply line in buf. */
static inline int pt_ctl(const char *ctl, const char *cmd, char *buf, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };
	size_t got = 0;
	int fd, tries;

	if (strlen(ctl) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, ctl, strlen(ctl) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	for (tries = 0; connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0; tries++) {
		if (tries > 300) {
			close(fd);
			return -1;
		}
		usleep(10000);
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (write(fd, cmd, strlen(cmd)) < 0 || write(fd, "\n", 1) < 0) {
		close(fd);
		return -1;
	}
	while (got + 1 < len) {
		ssize_t r = read(fd, buf + got, len - 1 - got);

		if (r <= 0)
			break;
		got += r;
		if (memchr(buf + got - r, '\n', r))
			break;
	}
	buf[got] = 0;
	close(fd);
	return got ? 0 : -1;
}

/* The unsigned number after "key": in a JSON line (first occurrence). */
static inline long long pt_json_u64(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	if (!p)
		return -1;
	p += strlen(pat);
	if (*p == '"')
		p++;
	return strtoll(p, NULL, 0);
}

/* One stream, driver side, carried over the burst API. */
struct pt_stream {
	struct sp_vsock_dev *dev;
	struct rte_mempool *pool;
	uint64_t cid;
	uint32_t port, peer_port;
	struct vsock_credit cr;
	bool connected, reset, peer_shutdown;
	uint64_t credit_updates, rx_other;
};

static inline struct rte_mbuf *pt_ctrl_pkt(struct pt_stream *s, uint16_t op, uint32_t flags)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(s->pool);
	struct vsock_hdr h = {
		.src_cid = s->cid, .dst_cid = VSOCK_HOST_CID, .src_port = s->port, .dst_port = s->peer_port,
		.type = VSOCK_TYPE_STREAM, .op = op, .flags = flags,
		.buf_alloc = s->cr.buf_alloc, .fwd_cnt = s->cr.fwd_cnt,
	};

	if (!m)
		return NULL;
	vsock_hdr_encode(rte_pktmbuf_append(m, sizeof(h)), &h);
	return m;
}

/* Sends a control packet, retrying while the ring is full (bounded). */
static inline int pt_send_ctrl(struct pt_stream *s, uint16_t op, uint32_t flags)
{
	struct rte_mbuf *m = pt_ctrl_pkt(s, op, flags);
	double end = pt_now() + 2;

	if (!m)
		return -1;
	while (sp_vsock_tx_burst(s->dev, &m, 1) == 0) {
		if (!sp_vsock_dev_alive(s->dev) || pt_now() > end) {
			rte_pktmbuf_free(m);
			return -1;
		}
	}
	return 0;
}

/* Reads what arrived for the stream: credit, RESPONSE, RST, SHUTDOWN. Returns packets seen. */
static inline unsigned int pt_poll(struct pt_stream *s)
{
	struct rte_mbuf *pkts[32];
	uint16_t n = sp_vsock_rx_burst(s->dev, pkts, 32), i;

	for (i = 0; i < n; i++) {
		struct vsock_hdr h;

		vsock_hdr_decode(&h, rte_pktmbuf_mtod(pkts[i], void *));
		if (h.dst_port != s->port || h.src_port != s->peer_port) {
			s->rx_other++;
		} else {
			vsock_credit_update_from(&s->cr, &h);
			switch (h.op) {
			case VSOCK_OP_RESPONSE: s->connected = true; break;
			case VSOCK_OP_RST: s->reset = true; s->connected = false; break;
			case VSOCK_OP_SHUTDOWN: s->peer_shutdown = true; break;
			case VSOCK_OP_CREDIT_UPDATE: s->credit_updates++; break;
			case VSOCK_OP_CREDIT_REQUEST: pt_send_ctrl(s, VSOCK_OP_CREDIT_UPDATE, 0); break;
			default: s->rx_other++; break;
			}
		}
		rte_pktmbuf_free(pkts[i]);
	}
	return n;
}

static inline int pt_connect(struct pt_stream *s, struct sp_vsock_dev *dev, uint32_t port, uint32_t peer_port)
{
	double end = pt_now() + 5;

	memset(s, 0, sizeof(*s));
	s->dev = dev;
	s->pool = sp_vsock_dev_pool(dev);
	s->cid = sp_vsock_dev_cid(dev);
	s->port = port;
	s->peer_port = peer_port;
	s->cr.buf_alloc = VSOCK_DEFAULT_BUF_ALLOC;
	if (pt_send_ctrl(s, VSOCK_OP_REQUEST, 0) < 0)
		return -1;
	while (!s->connected && !s->reset && pt_now() < end && sp_vsock_dev_alive(dev))
		pt_poll(s);
	return s->connected ? 0 : -1;
}

/*
 * An RW packet carrying len payload bytes of the stream at offset off (the
 * pattern is a function of the offset), as a chain of pool mbufs; *crc runs
 * over the payload.
 */
static inline uint64_t pt_pattern(uint64_t word)
{
	return word * 0x9e3779b97f4a7c15ull ^ (word >> 7);
}

static inline void pt_fill(uint8_t *p, uint64_t off, uint32_t k)
{
	while (k && (off & 7)) {
		*p++ = (uint8_t)(pt_pattern(off >> 3) >> (8 * (off & 7)));
		off++;
		k--;
	}
	for (; k >= 8; k -= 8, p += 8, off += 8) {
		uint64_t w = pt_pattern(off >> 3);

		memcpy(p, &w, 8); /* little-endian: byte j of the word is byte off+j */
	}
	for (; k; k--, off++)
		*p++ = (uint8_t)(pt_pattern(off >> 3) >> (8 * (off & 7)));
}

static inline struct rte_mbuf *pt_rw_pkt(struct pt_stream *s, uint64_t off, uint32_t len, uint32_t *crc)
{
	struct rte_mbuf *head = rte_pktmbuf_alloc(s->pool), *m = head;
	struct vsock_hdr h = {
		.src_cid = s->cid, .dst_cid = VSOCK_HOST_CID, .src_port = s->port, .dst_port = s->peer_port,
		.len = len, .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_RW,
		.buf_alloc = s->cr.buf_alloc, .fwd_cnt = s->cr.fwd_cnt,
	};
	uint32_t left = len;

	if (!head)
		return NULL;
	vsock_hdr_encode(rte_pktmbuf_append(head, sizeof(h)), &h);
	while (left) {
		uint32_t room = rte_pktmbuf_tailroom(m), k = left < room ? left : room;
		uint8_t *p;

		if (room == 0) {
			struct rte_mbuf *n = rte_pktmbuf_alloc(s->pool);

			if (!n || rte_pktmbuf_chain(head, n) < 0) {
				rte_pktmbuf_free(n);
				rte_pktmbuf_free(head);
				return NULL;
			}
			m = n;
			continue;
		}
		p = (uint8_t *)rte_pktmbuf_append(head, k); /* into the last segment, m */
		{
			/* rte_hash_crc reads 8-byte words: give it an aligned copy (UBSan) */
			static uint64_t buf[SP_VSOCK_MBUF_DATA / 8];

			pt_fill((uint8_t *)buf, off, k);
			*crc = rte_hash_crc(buf, k, *crc);
			memcpy(p, buf, k);
		}
		off += k;
		left -= k;
	}
	return head;
}

#endif

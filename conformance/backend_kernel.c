/* SPDX-License-Identifier: MIT */
/*
 * The kernel backend: the socket calls are the real system calls; the peer is a kernel socket
 * in the same process — vsock over the local transport (CID 1, vsock_loopback, only inside the
 * reference guest), UDP on loopback (in the runner's own network namespace on the host).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/vm_sockets.h>

#include "sc.h"
#include "sc_runner.h"

#define PEER_MAX_CONNS 16

static struct {
	enum sc_proto proto;
	unsigned int port;
	int listener;			/* vsock listener or UDP receiver */
	int bound_only;			/* vsock: bound to the refused port, not listening */
	int conns[PEER_MAX_CONNS];
	uint64_t total[PEER_MAX_CONNS];	/* bytes read from each connection in all */
	uint32_t crc[PEER_MAX_CONNS];
	int nconns;
	struct async_reader {
		pthread_t thread;
		bool running;
		int fd, pc;
		size_t want;
		struct sc_peer_result r;
	} async[PEER_MAX_CONNS];
} kp;

bool sc_kernel_vsock_allowed;
bool sc_in_own_netns;
int sc_settle_ms = 100;
int sc_read_wait_ms = 500;

static uint32_t fnv1a(uint32_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int k_init(enum sc_proto proto, unsigned int port_base)
{
	memset(&kp, 0, sizeof(kp));
	kp.proto = proto;
	kp.port = port_base;
	kp.listener = -1;
	kp.bound_only = -1;
	for (int i = 0; i < PEER_MAX_CONNS; i++)
		kp.conns[i] = -1;
	if (proto == SC_VSOCK && !sc_kernel_vsock_allowed) {
		/* Never on a machine whose vsock device leads somewhere that is not ours. */
		sc_backend_why = "kernel AF_VSOCK runs only inside the reference guest "
				 "(--allow-kernel-vsock), never on the host";
		errno = ENOSYS;
		return -1;
	}
	return 0;
}

static void k_fini(void)
{
	for (int i = 0; i < kp.nconns; i++) {
		if (kp.async[i].running)
			pthread_join(kp.async[i].thread, NULL);
		if (kp.conns[i] >= 0)
			close(kp.conns[i]);
	}
	if (kp.listener >= 0)
		close(kp.listener);
	if (kp.bound_only >= 0)
		close(kp.bound_only);
}

static int k_fcntl(int fd, int cmd, int arg)
{
	return fcntl(fd, cmd, arg);
}

static int k_ioctl(int fd, unsigned long req, int *arg)
{
	return ioctl(fd, req, arg);
}

static int k_bad_fd(void)
{
	int fd = 4000;

	while (fcntl(fd, F_GETFD) >= 0)
		fd++;
	return fd;
}

static int k_notsock_fd(void)
{
	int p[2];

	if (pipe(p) < 0)
		return -1;
	close(p[0]);
	return p[1];
}

static int k_addr(enum sc_addr_role role, struct sockaddr_storage *ss, socklen_t *len)
{
	/* lo's own broadcast route: EACCES without SO_BROADCAST, never leaves the host */
	const struct sc_addr_map map = {
		.peer_cid = VMADDR_CID_LOCAL, .peer_ip = htonl(INADDR_LOOPBACK),
		.local_ip = htonl(INADDR_LOOPBACK), .bcast_ip = htonl(0x7fffffff), .port = kp.port,
	};

	return sc_addr_fill(kp.proto, &map, role, ss, len);
}

static int k_peer_listen(unsigned int buf_size)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (kp.proto == SC_UDP) {
		struct sockaddr_in any = { .sin_family = AF_INET, .sin_port = htons(kp.port) };
		int one = 1;

		fd = socket(AF_INET, SOCK_DGRAM, 0);
		if (fd < 0)
			return -1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		/* what the datagrams carried in their IP header: checks IP_TTL/IP_TOS on the wire */
		setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &one, sizeof(one));
		if (buf_size)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf_size, sizeof(buf_size));
		/* Any address: the broadcast scenarios deliver here too. */
		if (bind(fd, (struct sockaddr *)&any, sizeof(any)) < 0) {
			close(fd);
			return -1;
		}
		kp.listener = fd;
		return 0;
	}
	k_addr(SC_ADDR_PEER, &ss, &len);
	((struct sockaddr_vm *)&ss)->svm_cid = VMADDR_CID_ANY;
	fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (buf_size) {
		unsigned long long v = buf_size;

		if (v > 256 * 1024)
			setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_MAX_SIZE, &v, sizeof(v));
		else
			setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_MIN_SIZE, &v, sizeof(v));
		if (setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &v, sizeof(v)) < 0) {
			close(fd);
			return -1;
		}
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, PEER_MAX_CONNS) < 0) {
		int e = errno;

		fprintf(stderr, "kernel peer: listen on port %u: %s\n", kp.port, strerror(e));
		close(fd);
		errno = e;
		return -1;
	}
	kp.listener = fd;
	return 0;
}

static int k_peer_bind_only(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (kp.proto != SC_VSOCK) {
		errno = ENOSYS;
		return -1;
	}
	k_addr(SC_ADDR_REFUSED, &ss, &len);
	((struct sockaddr_vm *)&ss)->svm_cid = VMADDR_CID_ANY;
	fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		close(fd);
		return -1;
	}
	kp.bound_only = fd;
	return 0;
}

static int k_peer_accept(void)
{
	struct pollfd pfd = { .fd = kp.listener, .events = POLLIN };
	int fd;

	if (kp.proto != SC_VSOCK || kp.nconns >= PEER_MAX_CONNS) {
		errno = EINVAL;
		return -1;
	}
	if (poll(&pfd, 1, 5000) <= 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	fd = accept(kp.listener, NULL, NULL);
	if (fd < 0)
		return -1;
	kp.conns[kp.nconns] = fd;
	kp.total[kp.nconns] = 0;
	kp.crc[kp.nconns] = ~0u;
	return kp.nconns++;
}

static int conn(int pc)
{
	if (kp.proto == SC_UDP)
		return kp.listener;
	if (pc < 0 || pc >= kp.nconns || kp.conns[pc] < 0) {
		errno = EBADF;
		return -1;
	}
	return kp.conns[pc];
}

/* One datagram and the TTL and TOS it arrived with. */
static ssize_t recv_dgram(int fd, void *buf, size_t len, int *ttl, int *tos)
{
	union { char b[CMSG_SPACE(sizeof(int)) * 2]; struct cmsghdr align; } ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
	ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);

	*ttl = *tos = -1;
	if (n < 0)
		return n;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != IPPROTO_IP)
			continue;
		if (c->cmsg_type == IP_TTL)
			memcpy(ttl, CMSG_DATA(c), sizeof(int));
		else if (c->cmsg_type == IP_TOS)
			*tos = *(unsigned char *)CMSG_DATA(c);
	}
	return n;
}

/*
 * Reads what has arrived, up to max (bytes, or datagrams for UDP), waiting up to wait_ms for
 * more while it is short; the note carries what a user checks: count, sizes, checksum, EOF.
 */
static void read_into(int fd, int pc, size_t max, int wait_ms, struct sc_peer_result *r)
{
	static __thread unsigned char buf[1 << 16];
	uint32_t h = 2166136261u;
	size_t got = 0, off = 0;
	long deadline = now_ms() + wait_ms;
	bool eof = false;
	char lens[120] = "", hdr[64] = "";
	size_t hoff = 0;
	int ttl = -1, tos = -1, last_ttl = -2, last_tos = -2;

	while (got < max) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long left = deadline - now_ms();
		ssize_t n;

		if (left < 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		if (kp.proto == SC_UDP) {
			n = recv_dgram(fd, buf, sizeof(buf), &ttl, &tos);
		} else {
			size_t want = max - got < sizeof(buf) ? max - got : sizeof(buf);

			n = recv(fd, buf, want, MSG_DONTWAIT);
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			r->err = errno;
			break;
		}
		if (n == 0 && kp.proto == SC_VSOCK) {
			eof = true;
			break;
		}
		h = fnv1a(h, buf, (size_t)n);
		if (kp.proto == SC_VSOCK && pc >= 0 && pc < PEER_MAX_CONNS) {
			kp.crc[pc] = sc_crc32c(kp.crc[pc], buf, (size_t)n);
			kp.total[pc] += (uint64_t)n;
		}
		if (kp.proto == SC_UDP) {
			got++;
			if (off < sizeof(lens))
				off += (size_t)snprintf(lens + off, sizeof(lens) - off, "%s%zd",
							got > 1 ? "," : "", n);
			/* one TTL/TOS pair per distinct value, in order: short notes for long runs */
			if (ttl != last_ttl || tos != last_tos) {
				if (hoff < sizeof(hdr))
					hoff += (size_t)snprintf(hdr + hoff, sizeof(hdr) - hoff, "%s%d/%#x",
								 hoff ? "," : "", ttl, tos);
				last_ttl = ttl;
				last_tos = tos;
			}
		} else {
			got += (size_t)n;
		}
	}
	r->ret = (long)got;
	if (kp.proto == SC_UDP) {
		snprintf(r->note, sizeof(r->note), "dgrams=%zu lens=[%s] ttl/tos=[%s] fnv=%08x", got,
			 lens, hdr, h);
	} else if (pc >= 0 && pc < PEER_MAX_CONNS) {
		r->eof = eof;
		r->has_stream = true;
		r->stream_total = kp.total[pc];
		r->stream_crc = kp.crc[pc];
	}
}

static int k_peer_read(int pc, size_t max, int wait_ms, struct sc_peer_result *r)
{
	int fd = conn(pc);

	if (fd < 0)
		return -1;
	read_into(fd, pc, max, wait_ms, r);
	return 0;
}

static void *async_main(void *arg)
{
	struct async_reader *a = arg;

	read_into(a->fd, a->pc, a->want, 20000, &a->r);
	return NULL;
}

static int k_peer_read_async(int pc, size_t n)
{
	int fd = conn(pc);
	struct async_reader *a;

	if (fd < 0)
		return -1;
	a = &kp.async[pc < 0 ? 0 : pc];
	if (a->running) {
		errno = EBUSY;
		return -1;
	}
	memset(&a->r, 0, sizeof(a->r));
	a->fd = fd;
	a->pc = pc;
	a->want = n;
	if (pthread_create(&a->thread, NULL, async_main, a) != 0)
		return -1;
	a->running = true;
	return 0;
}

static int k_peer_join(int pc, struct sc_peer_result *r)
{
	struct async_reader *a = &kp.async[pc < 0 ? 0 : pc];

	if (!a->running) {
		errno = EINVAL;
		return -1;
	}
	pthread_join(a->thread, NULL);
	a->running = false;
	*r = a->r;
	return 0;
}

static int k_peer_send(int pc, size_t n)
{
	unsigned char buf[4096];
	int fd = conn(pc);

	if (fd < 0)
		return -1;
	if (n > sizeof(buf))
		n = sizeof(buf);
	memset(buf, 0x5a, n);
	return (int)send(fd, buf, n, MSG_NOSIGNAL);
}

static int k_peer_shutdown(int pc, int how)
{
	int fd = conn(pc);

	return fd < 0 ? -1 : shutdown(fd, how);
}

static int k_peer_close(int pc)
{
	int fd;

	if (pc < 0 || kp.proto == SC_UDP) {
		fd = kp.listener;
		kp.listener = -1;
		return close(fd);
	}
	fd = conn(pc);
	if (fd < 0)
		return -1;
	if (kp.async[pc].running) {
		pthread_join(kp.async[pc].thread, NULL);
		kp.async[pc].running = false;
	}
	kp.conns[pc] = -1;
	return close(fd);
}

static void k_settle(void)
{
	usleep((useconds_t)sc_settle_ms * 1000);
}

/* Wrappers: glibc's prototypes use transparent unions that do not match the ops table. */
static int k_bind(int fd, const struct sockaddr *a, socklen_t l) { return bind(fd, a, l); }
static int k_connect(int fd, const struct sockaddr *a, socklen_t l) { return connect(fd, a, l); }
static ssize_t k_sendto(int fd, const void *b, size_t n, int fl, const struct sockaddr *a,
			socklen_t l)
{
	return sendto(fd, b, n, fl, a, l);
}

static int k_socket(int domain, int type, int protocol)
{
	if (domain == AF_VSOCK && !sc_kernel_vsock_allowed) {
		errno = EPERM;
		return -1;
	}
	return socket(domain, type, protocol);
}

const struct sc_backend sc_kernel_backend = {
	.name = "kernel",
	.init = k_init,
	.fini = k_fini,
	.socket = k_socket,
	.bind = k_bind,
	.connect = k_connect,
	.send = send,
	.sendto = k_sendto,
	.sendmsg = sendmsg,
	.sendmmsg = sendmmsg,
	.recv = recv,
	.shutdown = shutdown,
	.close = close,
	.setsockopt = setsockopt,
	.getsockopt = getsockopt,
	.fcntl = k_fcntl,
	.ioctl = k_ioctl,
	.bad_fd = k_bad_fd,
	.notsock_fd = k_notsock_fd,
	.addr = k_addr,
	.peer_listen = k_peer_listen,
	.peer_bind_only = k_peer_bind_only,
	.peer_accept = k_peer_accept,
	.peer_read = k_peer_read,
	.peer_read_async = k_peer_read_async,
	.peer_join = k_peer_join,
	.peer_send = k_peer_send,
	.peer_shutdown = k_peer_shutdown,
	.peer_close = k_peer_close,
	.settle = k_settle,
};

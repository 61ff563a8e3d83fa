/* SPDX-License-Identifier: MIT */
/*
 * The sendpath backend: the socket calls are the stack's sp_*() calls, in this process with
 * its own EAL (one per scenario, since the runner gives each scenario a fresh child).
 *
 * vsock: the peer is sp-vhost-vsock (the host, CID 2) started per scenario, accepting only
 * the scenario's port and scripted over its control socket: refuse on/off (listen), buf-alloc,
 * stop-reading / read N (the peer reads only when asked, as the kernel peer does), shutdown,
 * close. What it received is checked through its stats: bytes and CRC-32C per connection.
 *
 * UDP: the port is a DPDK net_tap in the runner's own network namespace; the peer is a kernel
 * UDP socket on the tap's address (the kernel backend's receiver), so the kernel itself checks
 * the wire format and the traces compare with the kernel column's word for word.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <rte_ether.h>

#include "sendpath.h"
#include "ip.h"
#include "sc.h"
#include "sc_runner.h"
#include "sp_env.h"

#define SP_VSOCK_CID	3
#define VSOCK_SHUTDOWN_SEND_BIT 2	/* in the backend's peer_shutdown: we shut down sending */
/*
 * The tap link's subnet, 10.77.N.0/24 with N from the scenario's ports: scenarios running at
 * once each have their own tap in the one namespace, and the kernel's replies (ICMP) must
 * route back through the right one. .1 is the kernel's end, .2 the stack's.
 */
static uint32_t udp_net;	/* host order */
#define UDP_PEER_IP	htonl(udp_net | 1)
#define UDP_SP_IP	htonl(udp_net | 2)
#define UDP_BCAST_IP	htonl(udp_net | 255)

const bool sc_sendpath_built = true;

static struct {
	enum sc_proto proto;
	unsigned int port;
	bool up;
	pid_t backend;
	int ctl_fd;
	char sock_path[100], ctl_path[108];
	int accepted;
	uint64_t async_from, async_want;
	bool async;
	char ifname[IFNAMSIZ];
} bp = { .ctl_fd = -1 };

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void spin_ms(unsigned int ms)
{
	uint64_t end = now_ms() + ms;

	while (now_ms() < end) {
		sp_poll();
		usleep(200);
	}
}

/* --- the scripted peer's control socket ---------------------------------------------------- */

static const char *ctl(const char *fmt, ...)
{
	static char reply[1 << 16];
	char line[256];
	size_t got = 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	if (write(bp.ctl_fd, line, (size_t)n) != n)
		return "err control socket";
	while (got < sizeof(reply) - 1) {
		ssize_t r = read(bp.ctl_fd, reply + got, sizeof(reply) - 1 - got);

		if (r <= 0)
			return "err control socket closed";
		got += (size_t)r;
		if (reply[got - 1] == '\n')
			break;
	}
	reply[got ? got - 1 : 0] = '\0';
	return reply;
}

static bool ctl_ok(const char *reply)
{
	return strncmp(reply, "ok", 2) == 0;
}

/* The peer's view of our connection: from "conns", or from "closed" once it is gone. */
struct peer_conn {
	bool found, closed;
	uint64_t rx_bytes, unread, peer_shutdown;
	uint32_t crc;
};

static uint64_t field(const char *obj, const char *end, const char *key)
{
	char k[48];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(obj, k);
	if (!p || p > end)
		return 0;
	p += strlen(k);
	if (*p == '"')
		return strtoull(p + 1, NULL, 0);
	return strtoull(p, NULL, 10);
}

/* Connection pc (the device's accept order, its "id"): among the open ones, else the last closed. */
static struct peer_conn peer_conn(int pc)
{
	struct peer_conn c = { 0 };
	const char *s = ctl("stats"), *open_ = strstr(s, "\"conns\":["), *closed = strstr(s, "\"closed\":[");
	const char *p, *end, *obj = NULL, *obj_end = NULL;

	for (p = open_; p && (p = strchr(p, '{')) && (!closed || p < closed); p = end) {
		if (!(end = strchr(p, '}')))
			break;
		if (strstr(p, "\"id\":") < end && field(p, end, "id") == (uint64_t)pc) {
			obj = p;
			obj_end = end;
			break;
		}
	}
	for (p = closed; !obj && p && (p = strchr(p, '{')); p = end) {
		if (!(end = strchr(p, '}')))
			break;
		if (strstr(p, "\"id\":") < end && field(p, end, "id") == (uint64_t)pc) {
			obj = p;
			obj_end = end;
			c.closed = true;        /* the last record of it wins */
		}
	}
	if (!obj)
		return c;
	c.found = true;
	c.rx_bytes = field(obj, obj_end, "rx_bytes");
	c.unread = c.closed ? 0 : field(obj, obj_end, "unread");
	c.peer_shutdown = field(obj, obj_end, "peer_shutdown");
	c.crc = (uint32_t)field(obj, obj_end, "crc32c");
	return c;
}

static int start_backend(void)
{
	const char *bin = getenv("SP_VHOST_VSOCK");
	struct sockaddr_un ua = { .sun_family = AF_UNIX };
	char port[16];

	if (!bin || access(bin, X_OK)) {
		sc_backend_why = "SP_VHOST_VSOCK does not name the sp-vhost-vsock binary";
		errno = ENOSYS;
		return -1;
	}
	snprintf(bp.sock_path, sizeof(bp.sock_path), "%s/conf-%d.sock",
		 sp_env_run_path(NULL, NULL, 0), getpid());
	snprintf(bp.ctl_path, sizeof(bp.ctl_path), "%s.ctl", bp.sock_path);
	snprintf(port, sizeof(port), "%u", bp.port);
	bp.backend = fork();
	if (bp.backend < 0)
		return -1;
	if (bp.backend == 0) {
		char *argv[] = { (char *)bin, "--socket", bp.sock_path, "--ctl", bp.ctl_path,
				 "--cid", "3", "--port", port, NULL };
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0) {
			dup2(null, 1);	/* its stats line at exit is not ours to print */
			close(null);
		}
		setpgid(0, 0);
		execv(bin, argv);
		_exit(127);
	}
	snprintf(ua.sun_path, sizeof(ua.sun_path), "%s", bp.ctl_path);
	for (int i = 0; i < 1000; i++) {
		bp.ctl_fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(bp.ctl_fd, (struct sockaddr *)&ua, sizeof(ua)) == 0)
			return 0;
		close(bp.ctl_fd);
		bp.ctl_fd = -1;
		usleep(10000);
	}
	errno = ETIMEDOUT;
	return -1;
}

static void stop_backend(void)
{
	if (bp.ctl_fd >= 0)
		close(bp.ctl_fd);
	bp.ctl_fd = -1;
	if (bp.backend > 0) {
		kill(bp.backend, SIGTERM);
		waitpid(bp.backend, NULL, 0);
	}
	bp.backend = 0;
}

/* --- UDP link: net_tap in our namespace, the kernel at its other end --------------------------- */

static int tap_kernel_side(const char *ifname)
{
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	struct rte_ether_addr mac;
	int fd = socket(AF_INET, SOCK_DGRAM, 0), ret = -1;

	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = UDP_PEER_IP;
	if (ioctl(fd, SIOCSIFADDR, &ifr) < 0)
		goto out;
	inet_pton(AF_INET, "255.255.255.0", &sin->sin_addr);
	if (ioctl(fd, SIOCSIFNETMASK, &ifr) < 0)
		goto out;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		goto out;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		goto out;
	/* the kernel's MAC as a static neighbour: no ARP round trip inside a scenario */
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		goto out;
	memcpy(mac.addr_bytes, ifr.ifr_hwaddr.sa_data, RTE_ETHER_ADDR_LEN);
	ret = sp_neigh_add(UDP_PEER_IP, &mac);
out:
	close(fd);
	return ret;
}

/* --- ops ------------------------------------------------------------------------------------------ */

static int s_init(enum sc_proto proto, unsigned int port_base)
{
	struct sp_init_cfg cfg = { .start_eal = true, .name = "conformance", .cpu = -1,
				   .mem_mb = 64, .udp_port = -1 };
	char vdev[200];

	bp.proto = proto;
	bp.port = port_base;
	bp.accepted = 0;
	bp.async = false;
	if (proto == SC_VSOCK) {
		if (start_backend() < 0)
			return -1;
		/* no listener until the scenario listens; the peer reads only when asked */
		if (!ctl_ok(ctl("refuse on")) || !ctl_ok(ctl("stop-reading"))) {
			stop_backend();
			errno = EPROTO;
			return -1;
		}
		snprintf(vdev, sizeof(vdev), "virtio_vsock0,path=%s,cid=%d", bp.sock_path,
			 SP_VSOCK_CID);
		cfg.vsock_dev = "virtio_vsock0";
		cfg.vdevs[0] = vdev;
	} else {
		if (!sc_in_own_netns) {
			sc_backend_why = "sendpath UDP needs the runner's own network namespace (--netns)";
			errno = ENOSYS;
			return -1;
		}
		/* the kernel receiver is the kernel backend's, on the tap's address */
		if (sc_kernel_backend.init(SC_UDP, port_base) < 0)
			return -1;
		snprintf(bp.ifname, sizeof(bp.ifname), "spc%d", getpid() % 100000);
		snprintf(vdev, sizeof(vdev), "net_tap0,iface=%s", bp.ifname);
		cfg.vdevs[0] = vdev;
		cfg.udp_port = 0;
		udp_net = (10u << 24) | (77u << 16) | (((port_base / 4) % 250) << 8);
		cfg.udp_ip = UDP_SP_IP;
		inet_pton(AF_INET, "255.255.255.0", &cfg.udp_netmask);
		cfg.udp_mtu = 1500;
	}
	if (sp_init(&cfg) < 0) {
		int e = errno;

		stop_backend();
		errno = e;
		return -1;
	}
	bp.up = true;
	if (proto == SC_UDP && tap_kernel_side(bp.ifname) < 0) {
		int e = errno;

		sp_fini();
		bp.up = false;
		errno = e;
		return -1;
	}
	return 0;
}

static void s_fini(void)
{
	if (bp.proto == SC_UDP)
		sc_kernel_backend.fini();
	if (bp.up)
		sp_fini();
	bp.up = false;
	stop_backend();
}

static int s_fcntl(int fd, int cmd, int arg)
{
	return sp_fcntl(fd, cmd, arg);
}

static int s_ioctl(int fd, unsigned long req, int *arg)
{
	return sp_ioctl(fd, req, arg);
}

static int s_bad_fd(void)
{
	return SP_FD_BASE + SP_FD_MAX - 1;
}

static int s_notsock_fd(void)
{
	/* a kernel descriptor handed to the stack: what an application mixing the two gets */
	return sc_kernel_backend.notsock_fd();
}

static int s_addr(enum sc_addr_role role, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (bp.proto == SC_VSOCK) {
		struct sockaddr_vm *vm = (struct sockaddr_vm *)ss;

		vm->svm_family = AF_VSOCK;
		*len = sizeof(*vm);
		switch (role) {
		case SC_ADDR_PEER: vm->svm_cid = VMADDR_CID_HOST; vm->svm_port = bp.port; break;
		case SC_ADDR_REFUSED: vm->svm_cid = VMADDR_CID_HOST; vm->svm_port = bp.port + 1; break;
		case SC_ADDR_LOCAL: vm->svm_cid = VMADDR_CID_ANY; vm->svm_port = VMADDR_PORT_ANY; break;
		case SC_ADDR_LOCAL_PORT: vm->svm_cid = VMADDR_CID_ANY; vm->svm_port = bp.port + 2; break;
		case SC_ADDR_PEER_PORT0: vm->svm_cid = VMADDR_CID_HOST; vm->svm_port = 0; break;
		default: errno = EINVAL; return -1;
		}
		return 0;
	}
	struct sockaddr_in *in = (struct sockaddr_in *)ss;

	in->sin_family = AF_INET;
	*len = sizeof(*in);
	in->sin_addr.s_addr = UDP_PEER_IP;
	switch (role) {
	case SC_ADDR_PEER: in->sin_port = htons(bp.port); break;
	case SC_ADDR_REFUSED: in->sin_port = htons(bp.port + 1); break;
	case SC_ADDR_BCAST:
		in->sin_addr.s_addr = UDP_BCAST_IP;
		in->sin_port = htons(bp.port);
		break;
	case SC_ADDR_LOCAL: in->sin_addr.s_addr = UDP_SP_IP; in->sin_port = 0; break;
	case SC_ADDR_LOCAL_PORT:
		in->sin_addr.s_addr = UDP_SP_IP;
		in->sin_port = htons(bp.port + 2);
		break;
	case SC_ADDR_PEER_PORT0: in->sin_port = 0; break;
	default: errno = EINVAL; return -1;
	}
	return 0;
}

/* vsock peer: connections are addressed by accept order ("conn K" on the control socket). */
static int check_pc(int pc)
{
	if (pc < 0 || pc >= bp.accepted) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static int s_peer_listen(unsigned int buf_size)
{
	if (bp.proto == SC_UDP)
		return sc_kernel_backend.peer_listen(buf_size);
	if (buf_size && !ctl_ok(ctl("buf-alloc %u", buf_size)))
		goto fail;
	if (!ctl_ok(ctl("refuse off")))
		goto fail;
	return 0;
fail:
	errno = EPROTO;
	return -1;
}

static int s_peer_bind_only(void)
{
	/* the device listens on the scenario's port only: the refused port is as good as bound */
	if (bp.proto != SC_VSOCK) {
		errno = ENOSYS;
		return -1;
	}
	return 0;
}

static int s_peer_accept(void)
{
	uint64_t end = now_ms() + 2000;

	if (bp.proto == SC_UDP) {
		errno = EINVAL;
		return -1;
	}
	/* the device accepts by itself; wait until it has */
	for (;;) {
		const char *s = ctl("stats"), *p = strstr(s, "\"conns_accepted\":");

		if (p && strtoull(p + 17, NULL, 10) > (uint64_t)bp.accepted)
			return bp.accepted++;
		if (now_ms() > end)
			break;
		sp_poll();
		usleep(200);
	}
	errno = ETIMEDOUT;
	return -1;
}

static void fill_result(const struct peer_conn *c, long got, bool short_read,
			struct sc_peer_result *r)
{
	r->ret = got;
	r->has_stream = true;
	r->stream_total = c->rx_bytes;
	r->stream_crc = c->crc;
	/* a reader sees EOF when it wanted more and the sender's end has come */
	r->eof = short_read && c->unread == 0 &&
		 (c->closed || (c->peer_shutdown & VSOCK_SHUTDOWN_SEND_BIT));
}

static int s_peer_read(int pc, size_t max, int wait_ms, struct sc_peer_result *r)
{
	uint64_t end = now_ms() + (uint64_t)wait_ms;
	struct peer_conn c;
	uint64_t k = 0;

	if (bp.proto == SC_UDP) {
		spin_ms(1);
		return sc_kernel_backend.peer_read(pc, max, wait_ms, r);
	}
	if (check_pc(pc) < 0)
		return -1;
	for (;;) {
		sp_poll();
		c = peer_conn(pc);
		if (!c.found || c.unread >= max || now_ms() >= end ||
		    (c.closed || (c.peer_shutdown & VSOCK_SHUTDOWN_SEND_BIT)))
			break;
		usleep(500);
	}
	k = c.unread < max ? c.unread : max;
	if (k > 0) {
		const char *rep = ctl("read %llu conn %d", (unsigned long long)k, pc);

		if (!ctl_ok(rep)) {
			errno = EPROTO;
			return -1;
		}
		k = strtoull(rep + 2, NULL, 10);
		c = peer_conn(pc);
	}
	fill_result(&c, (long)k, k < max, r);
	return 0;
}

static int s_peer_read_async(int pc, size_t n)
{
	struct peer_conn c;

	if (bp.proto == SC_UDP || check_pc(pc) < 0) {
		errno = ENOSYS;
		return -1;
	}
	c = peer_conn(pc);
	bp.async_from = c.rx_bytes - c.unread;
	bp.async_want = n;
	bp.async = true;
	/* the device reads n bytes as they come, crediting the sender as it goes */
	return ctl_ok(ctl("read %zu conn %d", n, pc)) ? 0 : (errno = EPROTO, -1);
}

static int s_peer_join(int pc, struct sc_peer_result *r)
{
	uint64_t end = now_ms() + 20000, done = 0;
	struct peer_conn c;

	if (!bp.async || check_pc(pc) < 0) {
		errno = EINVAL;
		return -1;
	}
	for (;;) {
		sp_poll();
		c = peer_conn(pc);
		done = c.rx_bytes - c.unread - bp.async_from;
		if (done >= bp.async_want || now_ms() >= end || c.closed)
			break;
		usleep(500);
	}
	bp.async = false;
	fill_result(&c, (long)done, done < bp.async_want, r);
	return 0;
}

static int s_peer_send(int pc, size_t n)
{
	const char *rep;

	if (bp.proto == SC_UDP) {
		errno = ENOSYS;
		return -1;
	}
	if (check_pc(pc) < 0)
		return -1;
	if (n > 4096)		/* as the kernel backend's peer: one buffer of at most 4 KiB */
		n = 4096;
	/* the device queues n bytes and sends them within our credit, as a peer's write() */
	rep = ctl("send %zu conn %d", n, pc);
	if (!ctl_ok(rep)) {
		errno = EPROTO;
		return -1;
	}
	if (strtoull(rep + 2, NULL, 10) == 0) {	/* gone, or the peer shut its sending side */
		errno = EPIPE;
		return -1;
	}
	return (int)n;
}

static int s_peer_shutdown(int pc, int how)
{
	static const char *const hows[] = { "rcv", "send", "both" };

	if (bp.proto == SC_UDP || check_pc(pc) < 0 || how < 0 || how > 2) {
		errno = bp.proto == SC_UDP ? ENOSYS : EINVAL;
		return -1;
	}
	return ctl_ok(ctl("shutdown %s conn %d", hows[how], pc)) ? 0 : (errno = EPROTO, -1);
}

static int s_peer_close(int pc)
{
	if (bp.proto == SC_UDP)
		return sc_kernel_backend.peer_close(pc);
	if (pc < 0)	/* the listener: new connections are refused, this one lives */
		return ctl_ok(ctl("refuse on")) ? 0 : (errno = EPROTO, -1);
	if (check_pc(pc) < 0)
		return -1;
	return ctl_ok(ctl("close conn %d", pc)) ? 0 : (errno = EPROTO, -1);
}

static void s_settle(void)
{
	spin_ms((unsigned int)sc_settle_ms);
}

static int s_bind(int fd, const struct sockaddr *a, socklen_t l) { return sp_bind(fd, a, l); }
static int s_connect(int fd, const struct sockaddr *a, socklen_t l) { return sp_connect(fd, a, l); }

const struct sc_backend sc_sendpath_backend = {
	.name = "sendpath",
	.init = s_init,
	.fini = s_fini,
	.socket = sp_socket,
	.bind = s_bind,
	.connect = s_connect,
	.send = sp_send,
	.sendto = sp_sendto,
	.sendmsg = sp_sendmsg,
	.sendmmsg = sp_sendmmsg,
	.recv = sp_recv,
	.shutdown = sp_shutdown,
	.close = sp_close,
	.setsockopt = sp_setsockopt,
	.getsockopt = sp_getsockopt,
	.fcntl = s_fcntl,
	.ioctl = s_ioctl,
	.bad_fd = s_bad_fd,
	.notsock_fd = s_notsock_fd,
	.addr = s_addr,
	.peer_listen = s_peer_listen,
	.peer_bind_only = s_peer_bind_only,
	.peer_accept = s_peer_accept,
	.peer_read = s_peer_read,
	.peer_read_async = s_peer_read_async,
	.peer_join = s_peer_join,
	.peer_send = s_peer_send,
	.peer_shutdown = s_peer_shutdown,
	.peer_close = s_peer_close,
	.settle = s_settle,
};

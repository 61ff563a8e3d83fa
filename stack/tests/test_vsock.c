/* SPDX-License-Identifier: MIT */
/*
 * vsock stream semantics against the real device: this process runs EAL and
 * the virtio-vsock driver, sp-vhost-vsock (the host, CID 2) runs beside it
 * over vhost-user and is scripted through its control socket. One test per
 * rule of issue 5. $SP_VHOST_VSOCK names the backend binary.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "sendpath.h"
#include "sp_env.h"
#include "virtio_vsock.h"
#include "vsock.h"

#define PORT 1234

static pid_t backend;
static int ctl_fd = -1;
static char sock_path[100], ctl_path[108];
static volatile sig_atomic_t sigpipes;
static char buf[1 << 21];

static void on_sigpipe(int s) { (void)s; sigpipes++; }

/* One command line to the scripted peer, one line back. */
static const char *ctl(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *ctl(const char *fmt, ...)
{
	static char reply[65536];
	char line[256];
	size_t got = 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	cr_assert_eq(write(ctl_fd, line, (size_t)n), n);
	for (;;) {
		ssize_t r = read(ctl_fd, reply + got, sizeof(reply) - 1 - got);

		cr_assert_gt(r, 0, "control socket closed");
		got += (size_t)r;
		if (reply[got - 1] == '\n')
			break;
	}
	reply[got - 1] = '\0';
	return reply;
}

/* A number from the backend's stats JSON: the first "key":N after "after" (or from the start). */
static long long stat_after(const char *after, const char *key)
{
	const char *s = ctl("stats"), *p = after ? strstr(s, after) : s;
	char k[64];

	cr_assert_not_null(p, "no %s in stats: %s", after, s);
	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(p, k);
	cr_assert_not_null(p, "no %s in stats: %s", key, s);
	return atoll(p + strlen(k));
}

static long long peer_stat(const char *key)
{
	return stat_after(NULL, key);
}

static void dev_stats(struct sp_vsock_stats *st)
{
	sp_vsock_dev_stats(sp_vsock_dev_get("virtio_vsock0"), st);
}

/* Polls the stack until the backend's counter reaches want (or 5 s pass). */
static long long wait_stat(const char *key, long long want)
{
	long long v = -1;
	int i;

	for (i = 0; i < 5000; i++) {
		sp_poll();
		v = peer_stat(key);
		if (v >= want)
			break;
		usleep(1000);
	}
	return v;
}

static void spin(int ms)
{
	uint64_t end = sp_now_ns() + (uint64_t)ms * 1000000;

	while (sp_now_ns() < end)
		sp_poll();
}

static void start_dev(const char *mode, const char *extra, const char *devargs)
{
	const char *bin = getenv("SP_VHOST_VSOCK");
	struct sockaddr_un ua = { .sun_family = AF_UNIX };
	struct sp_init_cfg cfg = { .start_eal = true, .name = "vsock-it", .cpu = -1, .mem_mb = 128,
				   .udp_port = -1, .vsock_dev = "virtio_vsock0" };
	char vdev[256];
	int i;

	if (!bin || access(bin, X_OK))
		cr_skip_test("SP_VHOST_VSOCK does not name the backend binary");
	snprintf(sock_path, sizeof(sock_path), "%s/vsk-it-%d.sock", sp_env_run_path(NULL, NULL, 0), getpid());
	snprintf(ctl_path, sizeof(ctl_path), "%s.ctl", sock_path);
	backend = fork();
	cr_assert_geq(backend, 0);
	if (backend == 0) {
		char *argv[16] = { (char *)bin, "--socket", sock_path, "--ctl", ctl_path,
				   "--mode", (char *)mode, "--cid", "3" };
		char *copy = extra ? strdup(extra) : NULL, *tok;
		int a = 9;

		/* extra: more backend options, separated by spaces */
		for (tok = copy ? strtok(copy, " ") : NULL; tok && a < 15; tok = strtok(NULL, " "))
			argv[a++] = tok;
		argv[a] = NULL;
		prctl(PR_SET_PDEATHSIG, SIGTERM);      /* never outlive a test that crashed */
		execv(bin, argv);
		_exit(127);
	}
	/* the control socket appears once the device is being served */
	snprintf(ua.sun_path, sizeof(ua.sun_path), "%s", ctl_path);
	for (i = 0; i < 2000; i++) {       /* 20 s: EAL start is slow on a loaded machine */
		ctl_fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(ctl_fd, (struct sockaddr *)&ua, sizeof(ua)) == 0)
			break;
		close(ctl_fd);
		ctl_fd = -1;
		usleep(10000);
	}
	cr_assert_geq(ctl_fd, 0, "backend did not start");
	snprintf(vdev, sizeof(vdev), "virtio_vsock0,path=%s,cid=3%s", sock_path, devargs);
	cfg.vdevs[0] = vdev;
	cr_assert_eq(sp_init(&cfg), 0, "sp_init: %s", strerror(errno));
	sigpipes = 0;
	signal(SIGPIPE, on_sigpipe);
}

static void start(const char *mode, const char *extra)
{
	start_dev(mode, extra, "");
}

static void setup(void) { start("sink", NULL); }
static void setup_other_cpu(void) { start("sink", getenv("SP_RATE_BACKEND_ARGS") ? getenv("SP_RATE_BACKEND_ARGS") : "--cpu=1"); }
static void setup_small_pool(void) { start_dev("sink", "--buf-alloc=4194304", ",queue_size=64,pool_size=400"); }
static void setup_no_event_idx(void) { start("sink", "--no-event-idx"); }
static void setup_big_ring_other_cpu(void) { start_dev("sink", "--cpu=1", ",queue_size=1024,pool_size=4096"); }
/* a ring that holds a whole UIO_MAXIOV vector of one-descriptor packets */
/* everything a 2 MiB send needs fits: credit, ring, pool */
static void setup_roomy(void) { start_dev("sink", "--buf-alloc=4194304", ",queue_size=1024,pool_size=4096"); }
static void setup_big_ring(void) { start_dev("sink", "--no-event-idx", ",queue_size=1024,pool_size=4096"); }
static void setup_echo(void) { start("echo", NULL); }

static void teardown(void)
{
	sp_fini();
	if (ctl_fd >= 0)
		close(ctl_fd);
	if (backend > 0) {
		kill(backend, SIGTERM);
		waitpid(backend, NULL, 0);
	}
	/* a backend that was killed leaves its sockets behind */
	unlink(sock_path);
	unlink(ctl_path);
}

/* n one-buffer messages of len bytes each, back to back in buf */
static void mmsg_fill(struct mmsghdr *mm, struct iovec *iov, int n, size_t len)
{
	int i;

	memset(mm, 0, sizeof(*mm) * (size_t)n);
	for (i = 0; i < n; i++) {
		iov[i].iov_base = buf + (size_t)i * len;
		iov[i].iov_len = len;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
}

static int vsock_connected(int extra_flags)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = PORT };
	int fd = sp_socket(AF_VSOCK, SOCK_STREAM | extra_flags, 0);

	cr_assert_geq(fd, SP_FD_BASE);
	cr_assert_eq(sp_connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect: %s", strerror(errno));
	return fd;
}

/* Each test brings its own backend up (EAL starts once per test process). */
TestSuite(vsock, .timeout = 60);

Test(vsock, connect_send_and_names, .init = setup, .fini = teardown)
{
	struct sockaddr_vm peer, self;
	socklen_t l = sizeof(peer);
	int fd = vsock_connected(0);

	cr_assert_eq(sp_getpeername(fd, (struct sockaddr *)&peer, &l), 0);
	cr_assert_eq(peer.svm_cid, VMADDR_CID_HOST);
	cr_assert_eq(peer.svm_port, PORT);
	l = sizeof(self);
	cr_assert_eq(sp_getsockname(fd, (struct sockaddr *)&self, &l), 0);
	cr_assert_gt(self.svm_port, 1023);
	int n = -1;

	cr_assert_eq(sp_send(fd, buf, 1000, 0), 1000);
	cr_assert_eq(sp_ioctl(fd, SIOCOUTQ, &n), 0);
	cr_assert(n == 0 || n == 1000, "SIOCOUTQ %d", n);
	cr_assert_eq(wait_stat("rx_bytes", 1000), 1000);
	/* the device has used the packet: nothing unsent */
	spin(10);
	cr_assert_eq(sp_ioctl(fd, SIOCOUTQ, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(peer_stat("conns_accepted"), 1);
}

Test(vsock, connect_refused_is_econnreset, .init = setup, .fini = teardown)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = PORT };
	int fd = sp_socket(AF_VSOCK, SOCK_STREAM, 0), err = -1;
	socklen_t l = sizeof(err);

	cr_assert_str_eq(ctl("refuse on"), "ok");
	cr_assert_eq(sp_connect(fd, (struct sockaddr *)&a, sizeof(a)), -1);
	cr_assert_eq(errno, ECONNRESET);
	/* connect() reported it: SO_ERROR has nothing left (what both kernels show) */
	cr_assert_eq(sp_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l), 0);
	cr_assert_eq(err, 0);
	cr_assert_eq(sp_send(fd, buf, 1, 0), -1);
	cr_assert_eq(errno, ENOTCONN);
}

Test(vsock, nonblocking_connect_einprogress, .init = setup, .fini = teardown)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = PORT };
	int fd = sp_socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK, 0), i, r = -1;

	cr_assert_eq(sp_connect(fd, (struct sockaddr *)&a, sizeof(a)), -1);
	cr_assert_eq(errno, EINPROGRESS);
	/* established by polling; then connect() says EISCONN */
	for (i = 0; i < 100000; i++) {
		sp_poll();
		r = sp_connect(fd, (struct sockaddr *)&a, sizeof(a));
		if (r < 0 && errno == EISCONN)
			break;
		cr_assert_eq(errno, EALREADY);
	}
	cr_assert_eq(errno, EISCONN);
	cr_assert_eq(sp_send(fd, buf, 10, 0), 10);
}

Test(vsock, eagain_when_peer_stops_reading, .init = setup, .fini = teardown)
{
	int fd = vsock_connected(0);

	cr_assert_str_eq(ctl("stop-reading"), "ok");
	/* the peer's whole buffer (262144) is taken, not a byte more */
	cr_assert_eq(sp_send(fd, buf, sizeof(buf), MSG_DONTWAIT), 262144);
	errno = 0;
	cr_assert_eq(sp_send(fd, buf, 1, MSG_DONTWAIT), -1);
	cr_assert_eq(errno, EAGAIN);
	cr_assert_eq(sp_fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	errno = 0;
	cr_assert_eq(sp_send(fd, buf, 1, 0), -1);
	cr_assert_eq(errno, EAGAIN);
	cr_assert_eq(wait_stat("rx_bytes", 262144), 262144);
	cr_assert_eq(peer_stat("credit_violations"), 0);
}

Test(vsock, partial_count_when_some_credit, .init = setup, .fini = teardown)
{
	int fd = vsock_connected(0);

	cr_assert_str_eq(ctl("stop-reading"), "ok");
	cr_assert_eq(sp_send(fd, buf, 200000, MSG_DONTWAIT), 200000);
	cr_assert_eq(sp_send(fd, buf, 200000, MSG_DONTWAIT), 62144);
	/* the peer reads 1000: exactly that much room comes back once its update arrives */
	cr_assert_str_eq(ctl("read 1000"), "ok 1000");
	cr_assert_str_eq(ctl("credit-update"), "ok 1");
	spin(50);
	cr_assert_eq(sp_send(fd, buf, 200000, MSG_DONTWAIT), 1000);
	cr_assert_eq(peer_stat("credit_violations"), 0);
}

Test(vsock, blocking_send_larger_than_peer_buffer, .init = setup, .fini = teardown)
{
	int fd, i;

	cr_assert_str_eq(ctl("buf-alloc 16384"), "ok 0");
	fd = vsock_connected(0);
	for (i = 0; i < (int)sizeof(buf); i++)
		buf[i] = (char)i;
	cr_assert_eq(sp_send(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	cr_assert_eq(wait_stat("rx_bytes", sizeof(buf)), (long long)sizeof(buf));
	cr_assert_eq(peer_stat("credit_violations"), 0);
}

Test(vsock, sndtimeo_partial_then_eagain, .init = setup, .fini = teardown)
{
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
	int fd = vsock_connected(0);
	uint64_t t0;

	cr_assert_str_eq(ctl("stop-reading"), "ok");
	cr_assert_eq(sp_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	t0 = sp_now_ns();
	cr_assert_eq(sp_send(fd, buf, 300000, 0), 262144);
	cr_assert_geq(sp_now_ns() - t0, 190000000ull);
	errno = 0;
	t0 = sp_now_ns();
	cr_assert_eq(sp_send(fd, buf, 300000, 0), -1);
	cr_assert_eq(errno, EAGAIN);
	cr_assert_geq(sp_now_ns() - t0, 190000000ull);
	cr_assert_eq(sigpipes, 0);
}

Test(vsock, epipe_after_local_shut_wr, .init = setup, .fini = teardown)
{
	int fd = vsock_connected(0);

	cr_assert_eq(sp_shutdown(fd, SHUT_WR), 0);
	errno = 0;
	cr_assert_eq(sp_send(fd, buf, 10, 0), -1);
	cr_assert_eq(errno, EPIPE);
	cr_assert_eq(sigpipes, 1, "SIGPIPE raised");
	cr_assert_eq(sp_send(fd, buf, 10, MSG_NOSIGNAL), -1);
	cr_assert_eq(errno, EPIPE);
	cr_assert_eq(sigpipes, 1, "no SIGPIPE with MSG_NOSIGNAL");
	/* the sink ends the connection at our EOF: it saw the SHUTDOWN(SEND) */
	cr_assert_eq(wait_stat("conns_closed", 1), 1);
}

Test(vsock, epipe_after_peer_shutdown_rcv, .init = setup, .fini = teardown)
{
	int fd = vsock_connected(0);

	cr_assert_eq(sp_send(fd, buf, 5000, 0), 5000);
	cr_assert_str_eq(ctl("shutdown rcv"), "ok 1");
	spin(50);
	errno = 0;
	cr_assert_eq(sp_send(fd, buf, 10, 0), -1);
	cr_assert_eq(errno, EPIPE);
	cr_assert_eq(sigpipes, 1);
	/* what was sent before the peer shut down arrived */
	cr_assert_eq(peer_stat("rx_bytes"), 5000);
}

Test(vsock, epipe_after_peer_rst_and_data_kept, .init = setup, .fini = teardown)
{
	int fd = vsock_connected(0);

	cr_assert_eq(sp_send(fd, buf, 70000, 0), 70000);
	cr_assert_eq(wait_stat("rx_bytes", 70000), 70000);
	cr_assert_str_eq(ctl("rst"), "ok 1");
	spin(50);
	cr_assert_eq(sp_send(fd, buf, 10, MSG_NOSIGNAL), -1);
	cr_assert_eq(errno, EPIPE);
	cr_assert_eq(sigpipes, 0);
	cr_assert_eq(sp_recv(fd, buf, 10, 0), 0);   /* the peer is gone: end of stream */
}

Test(vsock, epipe_after_peer_close, .init = setup, .fini = teardown)
{
	int fd = vsock_connected(0);

	cr_assert_eq(sp_send(fd, buf, 3000, 0), 3000);
	cr_assert_eq(wait_stat("rx_bytes", 3000), 3000);
	cr_assert_str_eq(ctl("close"), "ok 1");
	spin(50);
	cr_assert_eq(sp_send(fd, buf, 10, 0), -1);
	cr_assert_eq(errno, EPIPE);
	cr_assert_eq(sigpipes, 1);
	cr_assert_eq(stat_after("\"closed\"", "rx_bytes"), 3000);
}

Test(vsock, enotconn_and_oob, .init = setup, .fini = teardown)
{
	int fd = sp_socket(AF_VSOCK, SOCK_STREAM, 0), c;

	cr_assert_eq(sp_send(fd, buf, 10, 0), -1);
	cr_assert_eq(errno, ENOTCONN);
	cr_assert_eq(sp_send(fd, buf, 10, MSG_OOB), -1);
	cr_assert_eq(errno, EOPNOTSUPP);
	c = vsock_connected(0);
	cr_assert_eq(sp_send(c, buf, 10, MSG_OOB), -1);
	cr_assert_eq(errno, EOPNOTSUPP);
	spin(20);
	cr_assert_eq(peer_stat("rx_bytes"), 0);
	cr_assert_eq(sigpipes, 0);
}

/* --no-event-idx: every publish notifies, so kicks count bursts */
Test(vsock, sendmmsg_counts_one_burst, .init = setup_no_event_idx, .fini = teardown)
{
	struct mmsghdr mm[16];
	struct iovec iov[16];
	struct sp_vsock_stats a, b;
	struct vsock_virtio_stats va, vb;
	int fd, i;

	fd = vsock_connected(0);
	mmsg_fill(mm, iov, 16, 1000);
	spin(20);
	dev_stats(&a);
	vsock_virtio_get_stats(&va);
	cr_assert_eq(sp_sendmmsg(fd, mm, 16, 0), 16);
	dev_stats(&b);
	vsock_virtio_get_stats(&vb);
	for (i = 0; i < 16; i++)
		cr_assert_eq(mm[i].msg_len, 1000);
	cr_assert_eq(b.tx_pkts - a.tx_pkts, 16, "one RW packet per message");
	cr_assert_eq(b.tx_kicks - a.tx_kicks, 1, "one notification for the vector");
	cr_assert_eq(vb.tx_bursts - va.tx_bursts, 1, "one burst for the vector");
	cr_assert_eq(wait_stat("rx_bytes", 16000), 16000);
}

Test(vsock, sendmmsg_stops_at_partial_and_fails_only_first, .init = setup, .fini = teardown)
{
	struct mmsghdr mm[4];
	struct iovec iov[4];
	int fd, i;

	cr_assert_str_eq(ctl("buf-alloc 2500"), "ok 0");
	cr_assert_str_eq(ctl("stop-reading"), "ok");
	fd = vsock_connected(0);
	memset(mm, 0, sizeof(mm));
	for (i = 0; i < 4; i++) {
		iov[i].iov_base = buf;
		iov[i].iov_len = 1000;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_len = 77;
	}
	cr_assert_eq(sp_sendmmsg(fd, mm, 4, MSG_DONTWAIT), 3);
	cr_assert_eq(mm[0].msg_len, 1000);
	cr_assert_eq(mm[1].msg_len, 1000);
	cr_assert_eq(mm[2].msg_len, 500);
	cr_assert_eq(mm[3].msg_len, 77, "untouched after the short one");
	errno = 0;
	cr_assert_eq(sp_sendmmsg(fd, mm, 4, MSG_DONTWAIT), -1);
	cr_assert_eq(errno, EAGAIN);
	cr_assert_eq(sp_sendmmsg(fd, mm, 0, MSG_DONTWAIT), 0);
	cr_assert_eq(wait_stat("rx_bytes", 2500), 2500);
	cr_assert_eq(peer_stat("credit_violations"), 0);
}

Test(vsock, credit_never_exceeded_under_load, .init = setup, .fini = teardown)
{
	int fd, i;

	cr_assert_str_eq(ctl("buf-alloc 4096"), "ok 0");
	fd = vsock_connected(0);
	for (i = 0; i < 8; i++)
		cr_assert_eq(sp_send(fd, buf, 100000, 0), 100000);
	cr_assert_eq(wait_stat("rx_bytes", 800000), 800000);
	cr_assert_eq(peer_stat("credit_violations"), 0);
	cr_assert_eq(stat_after("\"conns\"", "credit_violations"), 0);
}

Test(vsock, bad_msghdr_iovec_mmsghdr_send_nothing, .init = setup, .fini = teardown)
{
	int fd = vsock_connected(0);
	struct iovec iov[2] = { { buf, 10 }, { NULL, 10 } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 1 };
	struct mmsghdr mm[2];

	cr_assert_eq(sp_sendmsg(fd, NULL, 0), -1);
	cr_assert_eq(errno, EFAULT);
	mh.msg_iovlen = UIO_MAXIOV + 1;
	cr_assert_eq(sp_sendmsg(fd, &mh, 0), -1);
	cr_assert_eq(errno, EMSGSIZE);
	mh.msg_iov = NULL;
	mh.msg_iovlen = 1;
	cr_assert_eq(sp_sendmsg(fd, &mh, 0), -1);
	cr_assert_eq(errno, EFAULT);
	/* a NULL base faults inside the copy: the kernel's vsock says ENOMEM */
	mh.msg_iov = &iov[1];
	cr_assert_eq(sp_sendmsg(fd, &mh, 0), -1);
	cr_assert_eq(errno, ENOMEM);
	cr_assert_eq(sp_sendmmsg(fd, NULL, 2, 0), -1);
	cr_assert_eq(errno, EFAULT);
	/* a bad second entry: the first is sent, the call says 1 */
	memset(mm, 0, sizeof(mm));
	mm[0].msg_hdr.msg_iov = iov;
	mm[0].msg_hdr.msg_iovlen = 1;
	mm[1].msg_hdr.msg_iovlen = UIO_MAXIOV + 1;
	cr_assert_eq(sp_sendmmsg(fd, mm, 2, 0), 1);
	cr_assert_eq(sp_sendmmsg(fd, mm, 2, (int)0x80000000u), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(sp_send(SP_FD_BASE + SP_FD_MAX - 1, buf, 1, 0), -1);
	cr_assert_eq(errno, EBADF);
	cr_assert_eq(wait_stat("rx_bytes", 10), 10);
	cr_assert_eq(sigpipes, 0);
}

Test(vsock, echo_recv_ioctl_and_close_handshake, .init = setup_echo, .fini = teardown)
{
	char in[4096];
	int fd, n = -1;
	ssize_t got = 0;

	fd = vsock_connected(0);
	memset(buf, 'x', 3000);
	cr_assert_eq(sp_send(fd, buf, 3000, 0), 3000);
	cr_assert_eq(sp_ioctl(fd, SIOCOUTQ, &n), 0);
	cr_assert_geq(n, 0);
	while (got < 3000) {
		ssize_t r = sp_recv(fd, in + got, sizeof(in) - (size_t)got, 0);

		cr_assert_gt(r, 0, "recv: %s", strerror(errno));
		got += r;
	}
	for (n = 0; n < 3000 && in[n] == buf[n]; n++)
		;
	cr_assert_eq(n, 3000, "echo differs at byte %d: 0x%02x, sent 0x%02x", n, in[n] & 0xff, buf[n] & 0xff);
	cr_assert_eq(sp_ioctl(fd, SIOCINQ, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(sp_recv(fd, in, sizeof(in), MSG_DONTWAIT), -1);
	cr_assert_eq(errno, EAGAIN);
	/* close: SHUTDOWN(both), the host answers RST, nothing lingers */
	cr_assert_eq(sp_close(fd), 0);
	cr_assert_eq(wait_stat("conns_closed", 1), 1);
	cr_assert_eq(peer_stat("rst_received"), 0, "we did not need to RST");
}

Test(vsock, device_gone_resets_sockets, .init = setup, .fini = teardown)
{
	int fd = vsock_connected(0), err = -1;
	socklen_t l = sizeof(err);

	kill(backend, SIGKILL);
	waitpid(backend, NULL, 0);
	backend = 0;
	spin(200);
	cr_assert_eq(sp_send(fd, buf, 10, 0), -1);
	cr_assert_eq(errno, ENOTCONN);
	cr_assert_eq(sp_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l), 0);
	cr_assert_eq(err, ECONNRESET);
}

/* The peer's buffer (4 MiB) is larger than our mbuf pool (400 x 4 KiB): the send waits for buffers. */
Test(vsock, send_beyond_mbuf_pool_waits_for_buffers, .init = setup_small_pool, .fini = teardown)
{
	int fd = vsock_connected(0);
	struct vsock_virtio_stats vs;

	cr_assert_eq(sp_send(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	vsock_virtio_get_stats(&vs);
	cr_log_info("sends that waited for mbufs: %llu", (unsigned long long)vs.tx_no_buffers);
	cr_assert_eq(wait_stat("rx_bytes", sizeof(buf)), (long long)sizeof(buf));
	cr_assert_eq(peer_stat("credit_violations"), 0);
}

/* A number for the report, never a verdict on speed: 64-byte messages, vectors of 32, ~1 s. */
/* The backend polls on CPU 1, we on CPU 0: two pollers sharing one core measure the scheduler. */
Test(vsock, sendmmsg_rate_report, .init = setup_other_cpu, .fini = teardown)
{
	struct mmsghdr mm[32];
	struct iovec iov[32];
	struct sp_vsock_stats a, b;
	uint64_t t0, t1, msgs = 0;
	int fd = vsock_connected(0), i, r;

	mmsg_fill(mm, iov, 32, 64);
	dev_stats(&a);
	t0 = sp_now_ns();
	do {
		for (i = 0; i < 64; i++) {
			r = sp_sendmmsg(fd, mm, 32, 0);
			cr_assert_eq(r, 32);
			msgs += (uint64_t)r;
		}
		t1 = sp_now_ns();
	} while (t1 - t0 < 1000000000ull);
	dev_stats(&b);
	cr_log_info("sendmmsg 32 x 64 B: %.2f Mmsg/s, %.1f ns/msg, %.2f pkts/kick",
		    msgs * 1e3 / (double)(t1 - t0), (double)(t1 - t0) / (double)msgs,
		    (double)(b.tx_pkts - a.tx_pkts) / (double)(b.tx_kicks - a.tx_kicks + 1));
	cr_assert_eq(wait_stat("rx_bytes", (long long)msgs * 64), (long long)msgs * 64);
	cr_assert_eq(peer_stat("credit_violations"), 0);
}

/*
 * 1 MiB through the echo peer, four times our receive buffer: it only comes
 * back if our reads return credit (CREDIT_UPDATE on the kernel's triggers).
 */
/* 1 MiB through the echo peer: both sides must return credit for it to finish. */
Test(vsock, echo_roundtrip_needs_our_credit_updates, .init = setup_echo, .fini = teardown)
{
	static char back[1 << 20];
	struct vsock_virtio_stats vs;
	size_t sent = 0, got = 0;
	int fd = vsock_connected(0), i;
	uint64_t deadline = sp_now_ns() + 20000000000ull;

	for (i = 0; i < (int)sizeof(back); i++)
		buf[i] = (char)(i * 7);
	while (got < sizeof(back)) {
		ssize_t r;

		if (sp_now_ns() > deadline)
			cr_assert_fail("stalled at sent %zu got %zu; peer: %s", sent, got, ctl("stats"));
		if (sent < sizeof(back)) {
			r = sp_send(fd, buf + sent, sizeof(back) - sent, MSG_DONTWAIT);
			if (r > 0)
				sent += (size_t)r;
			else
				cr_assert_eq(errno, EAGAIN);
		}
		r = sp_recv(fd, back + got, sizeof(back) - got, MSG_DONTWAIT);
		if (r > 0)
			got += (size_t)r;
		else
			cr_assert_eq(errno, EAGAIN, "recv: %s", strerror(errno));
	}
	cr_assert_eq(memcmp(back, buf, sizeof(back)), 0);
	vsock_virtio_get_stats(&vs);
	cr_assert_gt(vs.credit_updates_sent, 0);
	cr_log_info("credit updates sent for 1 MiB read: %llu", (unsigned long long)vs.credit_updates_sent);
	cr_assert_eq(peer_stat("credit_violations"), 0);
}

Test(vsock, peer_shutdown_send_is_eof_not_epipe, .init = setup, .fini = teardown)
{
	int fd = vsock_connected(0);

	cr_assert_str_eq(ctl("shutdown send"), "ok 1");
	spin(50);
	cr_assert_eq(sp_recv(fd, buf, 10, 0), 0);
	cr_assert_eq(sp_send(fd, buf, 10, 0), 10);
	cr_assert_eq(sigpipes, 0);
	cr_assert_eq(wait_stat("rx_bytes", 10), 10);
}

/* Connections come and go: every close completes (SHUTDOWN, the host's RST), nothing lingers. */
Test(vsock, many_connections_close_cleanly, .init = setup, .fini = teardown)
{
	int i, fd;

	for (i = 0; i < 1500; i++) {
		fd = vsock_connected(0);
		cr_assert_eq(sp_send(fd, buf, 100, 0), 100);
		cr_assert_eq(sp_close(fd), 0);
	}
	cr_assert_eq(wait_stat("conns_closed", 1500), 1500);
	spin(50);
	cr_assert_eq(vsock_live_socks(), 0, "%u sockets still closing", vsock_live_socks());
	cr_assert_eq(peer_stat("rx_bytes"), 150000);
	cr_assert_eq(peer_stat("rst_received"), 0, "no close needed our RST");
}

/* A send larger than one packet, within credit: ≤ 64 KiB RW packets, one burst, one notification. */
Test(vsock, large_send_one_burst, .init = setup_no_event_idx, .fini = teardown)
{
	struct sp_vsock_stats a, b;
	struct vsock_virtio_stats va, vb;
	int fd = vsock_connected(0);

	spin(20);
	dev_stats(&a);
	vsock_virtio_get_stats(&va);
	cr_assert_eq(sp_send(fd, buf, 200000, 0), 200000);
	dev_stats(&b);
	vsock_virtio_get_stats(&vb);
	cr_assert_eq(b.tx_pkts - a.tx_pkts, 4, "64K + 64K + 64K + 3392");
	cr_assert_eq(b.tx_bytes - a.tx_bytes, 200000 + 4 * 44);
	cr_assert_eq(b.tx_kicks - a.tx_kicks, 1);
	cr_assert_eq(vb.tx_bursts - va.tx_bursts, 1);
	cr_assert_eq(wait_stat("rx_bytes", 200000), 200000);
	cr_assert_eq(peer_stat("credit_violations"), 0);
}

/*
 * The whole sendmmsg vector is one burst: 1024 messages of 64 bytes (one
 * descriptor each) on a ring of 1024 are 1024 packets, one avail-index
 * update, one notification. A smaller ring bounds the burst: what it cannot
 * take leaves on the next flush.
 */
Test(vsock, sendmmsg_uio_maxiov_one_kick, .init = setup_big_ring, .fini = teardown)
{
	static struct mmsghdr mm[UIO_MAXIOV];
	static struct iovec iov[UIO_MAXIOV];
	struct sp_vsock_stats a, b;
	struct vsock_virtio_stats va, vb;
	int fd, i;

	fd = vsock_connected(0);
	mmsg_fill(mm, iov, UIO_MAXIOV, 64);
	spin(20);
	dev_stats(&a);
	vsock_virtio_get_stats(&va);
	cr_assert_eq(sp_sendmmsg(fd, mm, UIO_MAXIOV, 0), UIO_MAXIOV);
	dev_stats(&b);
	vsock_virtio_get_stats(&vb);
	for (i = 0; i < UIO_MAXIOV; i++)
		cr_assert_eq(mm[i].msg_len, 64);
	cr_assert_eq(b.tx_pkts - a.tx_pkts, UIO_MAXIOV, "one RW packet per message");
	cr_assert_eq(b.tx_kicks - a.tx_kicks, 1, "one notification for 1024 messages");
	cr_assert_eq(vb.tx_bursts - va.tx_bursts, 1, "one burst for 1024 messages");
	cr_assert_eq(wait_stat("rx_bytes", UIO_MAXIOV * 64), UIO_MAXIOV * 64);
	cr_assert_eq(peer_stat("credit_violations"), 0);
}

/* A device that is named but not there fails sp_init, as a missing UDP port does. */
Test(vsock, missing_device_fails_init_enxio)
{
	struct sp_init_cfg cfg = { .start_eal = true, .name = "vsock-it", .cpu = -1, .mem_mb = 64,
				   .udp_port = -1, .vsock_dev = "virtio_vsock7" };

	errno = 0;
	cr_assert_eq(sp_init(&cfg), -1);
	cr_assert_eq(errno, ENXIO, "errno %d (%s)", errno, strerror(errno));
	/* nothing is left half up: AF_VSOCK is not there */
	cr_assert_eq(sp_socket(AF_VSOCK, SOCK_STREAM, 0), -1);
	cr_assert_eq(errno, EAFNOSUPPORT);
}

/*
 * close() then sp_fini() at once: what was sent is not lost. The 2 MiB are
 * all within credit, so the send returns as soon as they are on the ring;
 * sp_fini waits (bounded) until the device has used every packet before it
 * tears the device down, as the kernel keeps sending after close.
 */
Test(vsock, close_then_fini_loses_nothing, .init = setup_roomy, .fini = teardown)
{
	int fd = vsock_connected(0);
	size_t len = 2 << 20;
	unsigned int i;

	pid_t waker;

	for (i = 0; i < len; i++)
		buf[i] = (char)(i * 7);
	/* the device is slow: it sleeps through the send and wakes 300 ms later */
	cr_assert_eq(kill(backend, SIGSTOP), 0);
	waker = fork();
	cr_assert_geq(waker, 0);
	if (waker == 0) {
		usleep(300000);
		kill(backend, SIGCONT);
		_exit(0);
	}
	cr_assert_eq(sp_send(fd, buf, len, 0), (ssize_t)len);
	cr_assert_eq(sp_close(fd), 0);
	sp_fini();
	waitpid(waker, NULL, 0);
	/* the backend lists the connection under closed, with every byte */
	for (i = 0; i < 500 && !strstr(ctl("stats"), "\"closed\":[{"); i++)
		usleep(10000);
	cr_assert_eq(stat_after("\"closed\"", "rx_bytes"), (long long)len);
	cr_assert_eq(peer_stat("credit_violations"), 0);
}

/* The host asks for our credit (CREDIT_REQUEST): the stack answers with CREDIT_UPDATE. */
Test(vsock, credit_request_is_answered, .init = setup, .fini = teardown)
{
	int fd = vsock_connected(0);
	struct vsock_virtio_stats va, vb;
	long long before;

	(void)fd;
	spin(20);
	before = peer_stat("credit_updates_received");
	vsock_virtio_get_stats(&va);
	cr_assert_str_eq(ctl("credit-request"), "ok 1");
	cr_assert_geq(wait_stat("credit_updates_received", before + 1), before + 1,
		      "the backend saw our CREDIT_UPDATE");
	cr_assert_eq(peer_stat("credit_requests_sent"), 1);
	vsock_virtio_get_stats(&vb);
	cr_assert_eq(vb.credit_requests_answered - va.credit_requests_answered, 1);
	cr_assert_eq(peer_stat("proto_errors"), 0);
}

/*
 * The host posts VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the event queue: every
 * connected socket is reset as the kernel resets it (state CLOSE, SO_ERROR
 * ECONNRESET, so a send says ENOTCONN), and new connections work.
 */
Test(vsock, transport_reset_event, .init = setup, .fini = teardown)
{
	int a = vsock_connected(0), b = vsock_connected(0), c, err = -1, i;
	struct vsock_virtio_stats vs;
	socklen_t l = sizeof(err);

	spin(20);
	cr_assert_str_eq(ctl("transport-reset"), "ok 2");
	for (i = 0; i < 1000; i++) {
		vsock_virtio_get_stats(&vs);
		if (vs.transport_resets)
			break;
		spin(1);
	}
	cr_assert_eq(vs.transport_resets, 1, "the stack saw the event");
	cr_assert_eq(sp_getsockopt(a, SOL_SOCKET, SO_ERROR, &err, &l), 0);
	cr_assert_eq(err, ECONNRESET);
	errno = 0;
	cr_assert_eq(sp_send(b, buf, 10, MSG_NOSIGNAL), -1);
	cr_assert_eq(errno, ENOTCONN);
	cr_assert_eq(sp_getsockopt(b, SOL_SOCKET, SO_ERROR, &err, &l), 0);
	cr_assert_eq(err, ECONNRESET);
	cr_assert_eq(sp_close(a), 0);
	cr_assert_eq(sp_close(b), 0);
	/* a new connection works, and its bytes arrive */
	c = vsock_connected(0);
	cr_assert_eq(sp_send(c, buf, 5000, 0), 5000);
	cr_assert_eq(wait_stat("rx_bytes", 5000), 5000);
	cr_assert_eq(peer_stat("transport_resets_sent"), 1);
	cr_assert_eq(peer_stat("credit_violations"), 0);
}

/* On the default ring (256) the ring bounds the burst: a ring-full leaves at once, the rest as room comes back. */
Test(vsock, sendmmsg_longer_than_ring, .init = setup_no_event_idx, .fini = teardown)
{
	static struct mmsghdr mm[UIO_MAXIOV];
	static struct iovec iov[UIO_MAXIOV];
	struct vsock_virtio_stats va, vb;
	int fd;

	fd = vsock_connected(0);
	mmsg_fill(mm, iov, UIO_MAXIOV, 64);
	spin(20);
	vsock_virtio_get_stats(&va);
	cr_assert_eq(sp_sendmmsg(fd, mm, UIO_MAXIOV, 0), UIO_MAXIOV);
	vsock_virtio_get_stats(&vb);
	cr_assert_geq(vb.tx_pkts - va.tx_pkts, 256, "a ring-full left during the call");
	cr_assert_geq(vb.tx_bursts - va.tx_bursts, 2);
	cr_assert_eq(wait_stat("rx_bytes", UIO_MAXIOV * 64), UIO_MAXIOV * 64);
	cr_assert_eq(peer_stat("credit_violations"), 0);
}

/* A number for the report, never a verdict: vectors of UIO_MAXIOV x 64 B on a 1024 ring, ~1 s. */
Test(vsock, sendmmsg_1024_rate_report, .init = setup_big_ring_other_cpu, .fini = teardown)
{
	static struct mmsghdr mm[UIO_MAXIOV];
	static struct iovec iov[UIO_MAXIOV];
	struct sp_vsock_stats a, b;
	uint64_t t0, t1, msgs = 0;
	int fd = vsock_connected(0), r;

	mmsg_fill(mm, iov, UIO_MAXIOV, 64);
	dev_stats(&a);
	t0 = sp_now_ns();
	do {
		r = sp_sendmmsg(fd, mm, UIO_MAXIOV, 0);
		cr_assert_eq(r, UIO_MAXIOV);
		msgs += (uint64_t)r;
		t1 = sp_now_ns();
	} while (t1 - t0 < 1000000000ull);
	dev_stats(&b);
	cr_log_info("sendmmsg 1024 x 64 B: %.2f Mmsg/s, %.1f ns/msg, %.2f pkts/kick",
		    msgs * 1e3 / (double)(t1 - t0), (double)(t1 - t0) / (double)msgs,
		    (double)(b.tx_pkts - a.tx_pkts) / (double)(b.tx_kicks - a.tx_kicks + 1));
	cr_assert_eq(wait_stat("rx_bytes", (long long)msgs * 64), (long long)msgs * 64);
	cr_assert_eq(peer_stat("credit_violations"), 0);
}

/*
 * Large packets go out as a 4 KiB head and one large segment (big_pool), or
 * as 4 KiB segments when the device has no large ones (big_pool=0): the
 * peer checks every byte against the pattern either way.
 */
static void verify_setup(const char *devargs)
{
	start_dev("sink", "--verify --buf-alloc=4194304", devargs);
}
static void setup_verify(void) { verify_setup(",queue_size=1024,pool_size=4096"); }
static void setup_verify_no_big(void) { verify_setup(",queue_size=1024,pool_size=4096,big_pool=0"); }

static void send_pattern_and_check(void)
{
	static const size_t sizes[] = { 65536, 4052, 4053, 8149, 70000, 65535, 131072, 1 };
	struct sp_vsock_stats a, b;
	size_t off = 0, i, k;
	int fd = vsock_connected(0);

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i ^ (i >> 8) ^ (i >> 16) ^ (i >> 24));
	dev_stats(&a);
	for (k = 0; k < 40; k++) {
		size_t n = sizes[k % (sizeof(sizes) / sizeof(sizes[0]))];

		cr_assert_eq(sp_send(fd, buf + off, n, 0), (ssize_t)n);
		off += n;
	}
	dev_stats(&b);
	cr_assert_eq(b.tx_bytes - a.tx_bytes, off + (b.tx_pkts - a.tx_pkts) * 44);
	cr_assert_eq(wait_stat("rx_bytes", (long long)off), (long long)off);
	cr_assert_eq(peer_stat("verify_errors"), 0, "%s", ctl("stats"));
	cr_assert_eq(peer_stat("credit_violations"), 0);
}

Test(vsock, large_packets_in_large_segments_verified, .init = setup_verify, .fini = teardown)
{
	send_pattern_and_check();
}

Test(vsock, large_packets_in_4k_segments_verified, .init = setup_verify_no_big, .fini = teardown)
{
	send_pattern_and_check();
}

/* SPDX-License-Identifier: MIT */
/*
 * Dead peer (issue 8): sp-vhost-vsock is killed while a send is blocked on
 * credit. The kernel's answer for a transport reset (vsock_connectible_sendmsg
 * after virtio_transport_reset): the blocked send returns -1 ECONNRESET when
 * nothing was written, the partial count when something was; later sends
 * ENOTCONN; SO_ERROR reads ECONNRESET. No hang: all of it within SO_SNDTIMEO
 * (5 s here) and the documented bound (1 s, docs/reliability.md).
 * Then a backend restarted on the same socket serves a new driver device
 * (vhost-user reconnect). Later tests (vsock/device_gone_resets_sockets,
 * pmd_vhost/backend_killed_midstream...) cover the unblocked cases.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ip.h"
#include "peer.h"
#include "sendpath.h"
#include "sock.h"
#include "sp_env.h"
#include "virtio_vsock.h"

#define PORT 1234

static struct sp_peer backend;
static char sock_path[100], ctl_path[108];
static char buf[1 << 20];

static double now_s(void)
{
	return (double)sp_now_ns() / 1e9;
}

static void backend_start(void)
{
	const char *bin = sp_peer_bin("SP_VHOST_VSOCK");

	if (!bin)
		cr_skip_test("SP_VHOST_VSOCK does not name the backend binary");
	char *argv[] = { (char *)bin, "--socket", sock_path, "--ctl", ctl_path, "--mode", "sink",
			 "--cid", "3", NULL };
	sp_peer_start(&backend, "deadpeer-vsock", argv);
	sp_peer_ctl_connect(&backend, ctl_path, now_s() + 20);
}

static void setup(void)
{
	struct sp_init_cfg cfg = { .start_eal = true, .name = "deadpeer", .cpu = -1, .mem_mb = 128,
				   .udp_port = -1, .vsock_dev = "virtio_vsock0" };
	char vdev[256];

	snprintf(sock_path, sizeof(sock_path), "%s/deadpeer-%d.sock", sp_env_run_path(NULL, NULL, 0), getpid());
	snprintf(ctl_path, sizeof(ctl_path), "%s.ctl", sock_path);
	backend_start();
	snprintf(vdev, sizeof(vdev), "virtio_vsock0,path=%s,cid=3", sock_path);
	cfg.vdevs[0] = vdev;
	cr_assert_eq(sp_init(&cfg), 0, "sp_init: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
}

static void teardown(void)
{
	sp_fini();
	sp_peer_drop(&backend);
	unlink(sock_path);
	unlink(ctl_path);
}

/* SIGALRM: the backend dies while this process is blocked in a send. */
static void on_alarm(int sig)
{
	(void)sig;
	if (backend.pid > 0)
		kill(backend.pid, SIGKILL);
}

static int connected(void)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = PORT };
	struct timeval tv = { .tv_sec = 5 };
	int fd = sp_socket(AF_VSOCK, SOCK_STREAM, 0);

	cr_assert(sp_is_fd(fd));
	cr_assert_eq(sp_connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect: %s", strerror(errno));
	cr_assert_eq(sp_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	return fd;
}

TestSuite(deadpeer, .init = setup, .fini = teardown, .timeout = 60);

/* Nothing written before the reset: ECONNRESET, then ENOTCONN for every later send. */
Test(deadpeer, blocked_send_gets_econnreset_when_backend_dies)
{
	int fd = connected(), err = 0;
	socklen_t l = sizeof(err);
	struct mmsghdr v = { 0 };
	struct iovec iov = { buf, 100 };
	double t0, dt;
	ssize_t r;

	cr_assert_str_eq(sp_peer_ctl(&backend, "stop-reading"), "ok");
	/* use up the peer's credit */
	while ((r = sp_send(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		;
	cr_assert_eq(errno, EAGAIN);
	signal(SIGALRM, on_alarm);
	ualarm(300000, 0);
	t0 = now_s();
	r = sp_send(fd, buf, 100, 0);
	dt = now_s() - t0;
	sp_peer_reap(&backend, now_s() + 5);
	cr_log_info("deadpeer: blocked send returned %zd (%s) %.0f ms after it began (backend killed at 300 ms)",
		    r, strerrorname_np(errno) ?: "0", dt * 1e3);
	cr_expect_eq(r, -1);
	cr_expect_eq(errno, ECONNRESET, "errno %s", strerrorname_np(errno));
	cr_expect_lt(dt, 1.3, "the blocked send noticed the reset only after %.0f ms", dt * 1e3);

	t0 = now_s();
	cr_expect_eq(sp_send(fd, buf, 10, 0), -1);
	cr_expect_eq(errno, ENOTCONN, "errno %s", strerrorname_np(errno));
	v.msg_hdr.msg_iov = &iov;
	v.msg_hdr.msg_iovlen = 1;
	cr_expect_eq(sp_sendmmsg(fd, &v, 1, 0), -1);
	cr_expect_eq(errno, ENOTCONN);
	cr_expect_lt(now_s() - t0, 0.1, "later sends return at once");
	cr_expect_eq(sp_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l), 0);
	/* the blocked send reported ECONNRESET already: SO_ERROR was taken by it, as sock_error() takes it */
	cr_expect(err == 0 || err == ECONNRESET, "SO_ERROR %d", err);
	cr_expect_eq(sp_close(fd), 0);
}

/* Something written before the reset: the partial count, then ENOTCONN. */
Test(deadpeer, blocked_partial_send_returns_count_when_backend_dies)
{
	int fd = connected();
	double t0, dt;
	ssize_t r;

	cr_assert_str_eq(sp_peer_ctl(&backend, "stop-reading"), "ok");
	signal(SIGALRM, on_alarm);
	ualarm(300000, 0);
	t0 = now_s();
	r = sp_send(fd, buf, sizeof(buf), 0);      /* 1 MiB: more than the peer's 256 KiB buffer */
	dt = now_s() - t0;
	sp_peer_reap(&backend, now_s() + 5);
	cr_log_info("deadpeer: blocked 1 MiB send returned %zd after %.0f ms", r, dt * 1e3);
	cr_expect_gt(r, 0, "errno %s", strerrorname_np(errno));
	cr_expect_lt(r, (ssize_t)sizeof(buf));
	cr_expect_lt(dt, 1.3);
	cr_expect_eq(sp_send(fd, buf, 10, 0), -1);
	cr_expect_eq(errno, ENOTCONN, "errno %s", strerrorname_np(errno));
}

/* A backend restarted on the same socket takes a new frontend (driver device) and its traffic. */
Test(deadpeer, restarted_backend_serves_a_new_device)
{
	struct sp_vsock_dev *d;
	double deadline;

	sp_peer_drop(&backend);
	unlink(ctl_path);
	backend_start();
	d = sp_vsock_dev_create("virtio_vsock1", NULL);   /* no path: refused, one line */
	cr_expect_null(d);
	{
		char args[160];

		snprintf(args, sizeof(args), "path=%s,cid=3", sock_path);
		d = sp_vsock_dev_create("virtio_vsock1", args);
	}
	cr_assert_not_null(d, "a new device on the restarted backend");
	deadline = now_s() + 2;
	while (!strstr(sp_peer_ctl(&backend, "stats"), "\"frontends_accepted\":1") && now_s() < deadline)
		usleep(10000);
	cr_expect(strstr(sp_peer_ctl(&backend, "stats"), "\"frontends_accepted\":1"), "%s", sp_peer_ctl(&backend, "stats"));
	cr_expect(sp_vsock_dev_alive(d));
	sp_vsock_dev_destroy(d);
}

/*
 * Permissions: the vhost-user socket (and the control socket) owner-only in an
 * owner-only directory; hugepage files, where EAL made any (with --in-memory
 * it makes none: memfd), not readable by others. A second frontend on the
 * same socket is refused: backend_e2e/second_frontend_refused_while_one_is_connected.
 */
static void owner_only(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "%s: %s", path, strerror(errno));
	cr_expect_eq(st.st_uid, geteuid(), "%s owned by %u", path, st.st_uid);
	cr_expect_eq(st.st_mode & 077, 0, "%s mode %o", path, st.st_mode & 0777);
}

Test(deadpeer, sockets_and_hugepage_files_owner_only)
{
	char dir[128];
	DIR *d;
	struct dirent *e;
	unsigned int huge = 0;

	owner_only(sock_path);
	owner_only(ctl_path);
	snprintf(dir, sizeof(dir), "%s", sp_env_run_path(NULL, NULL, 0));
	owner_only(dir);
	d = opendir("/dev/hugepages");
	if (!d)
		return;
	while ((e = readdir(d))) {
		char p[512];

		if (strncmp(e->d_name, "sp-", 3))
			continue;
		snprintf(p, sizeof(p), "/dev/hugepages/%s", e->d_name);
		owner_only(p);
		huge++;
	}
	closedir(d);
	cr_log_info("deadpeer: %u hugepage files of sendpath processes, all owner-only", huge);
}

/*
 * UDP whose vhost-user peer (sp-net-sink) dies: the port stops taking frames.
 * The kernel's answer for a device that stops transmitting: the qdisc queues,
 * then drops, the skbs are freed, and a blocking UDP send never waits for
 * them (it returns the length; the datagrams are lost, as UDP may lose them).
 * Each call must return within a bound, never sit out SO_SNDTIMEO.
 */
static struct sp_peer sink;
static char sink_sock[96];

static void udp_setup(void)
{
	const char *bin = sp_peer_bin("SP_NET_SINK");
	struct sp_init_cfg cfg = { .start_eal = true, .name = "deadpeer-udp", .cpu = -1, .mem_mb = 256,
				   .udp_port = 0 };
	char vdev[256], path[128];
	double deadline = now_s() + 20;

	if (!bin)
		cr_skip_test("SP_NET_SINK does not name sp-net-sink");
	snprintf(sink_sock, sizeof(sink_sock), "deadpeer-udp-%d.sock", getpid());
	char *argv[] = { (char *)bin, "--socket", sink_sock, "--idle", "0", "--clock", "none", NULL };
	sp_peer_start(&sink, "deadpeer-udp", argv);
	sp_peer_wait_err(&sink, "sink: listening", deadline);
	sp_env_run_path(sink_sock, path, sizeof(path));
	snprintf(vdev, sizeof(vdev), "net_virtio_user0,path=%s,queue_size=256", path);
	cfg.vdevs[0] = vdev;
	cfg.udp_ip = inet_addr("10.0.8.1");
	cfg.udp_netmask = inet_addr("255.255.255.0");
	cr_assert_eq(sp_init(&cfg), 0, "sp_init: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
}

static void udp_teardown(void)
{
	sp_fini();
	sp_peer_drop(&sink);
}

/*
 * A port whose vhost-user peer died never completes its tx ring; the kernel
 * drops what a down link cannot take, so a blocking send must not sit out
 * SO_SNDTIMEO waiting for send-buffer room (it once took 2001 ms per call).
 */
Test(deadpeer_udp, sends_never_wait_for_a_dead_port, .init = udp_setup, .fini = udp_teardown, .timeout = 60)
{
	const struct rte_ether_addr mac = { { 0x02, 0, 0, 0, 8, 2 } };
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(9) };
	struct timeval tv = { .tv_sec = 2 };
	double t0, worst = 0, end;
	long ok = 0, failed = 0;
	int fd = sp_socket(AF_INET, SOCK_DGRAM, 0), last_err = 0;

	dst.sin_addr.s_addr = inet_addr("10.0.8.2");
	cr_assert_eq(sp_neigh_add(dst.sin_addr.s_addr, &mac), 0);
	cr_assert_eq(sp_connect(fd, (struct sockaddr *)&dst, sizeof(dst)), 0);
	cr_assert_eq(sp_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(sp_send(fd, buf, 1000, 0), 1000);
	sp_peer_kill(&sink);
	for (end = now_s() + 3; now_s() < end;) {
		ssize_t r;

		t0 = now_s();
		r = sp_send(fd, buf, 1000, 0);
		if (now_s() - t0 > worst)
			worst = now_s() - t0;
		if (r == 1000) {
			ok++;
		} else {
			failed++;
			last_err = errno;
		}
	}
	cr_log_info("deadpeer_udp: after the sink died: %ld sends returned the length, %ld failed (last %s), "
		    "slowest call %.1f ms", ok, failed, strerrorname_np(last_err) ?: "-", worst * 1e3);
	cr_expect_lt(worst, 0.5, "a send waited %.0f ms for a port that will never drain", worst * 1e3);
	cr_expect_eq(failed, 0, "the kernel drops at the device, the send succeeds (last errno %s)",
		     strerrorname_np(last_err) ?: "-");
}

/* SPDX-License-Identifier: MIT */
/*
 * The fixture later parts stand on: two DPDK processes, net_virtio_user
 * (virtio_pair_tx) -> net_vhost (sp-net-sink) over a vhost-user UNIX socket,
 * pinned to different CPUs. 1,000,000 numbered frames go across; every one
 * must arrive, once, in order. Run with hugepages and with --no-huge.
 * Binaries come from meson in $SP_NET_SINK and $SP_VIRTIO_TX.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "peer.h"

#define FRAMES 1000000
#define DEADLINE_S 120

static struct sp_peer sink, tx;

static void kill_kids(void)
{
	sp_peer_drop(&sink);
	sp_peer_drop(&tx);
}

/* The two ends go on different CPUs when there are two. */
static void pick_cpus(char *sink_cpu, char *tx_cpu, size_t len)
{
	int first, last;

	sp_peer_cpus(&first, &last);
	snprintf(sink_cpu, len, "%d", last);
	snprintf(tx_cpu, len, "%d", first);
}

static void run_pair(bool hugepages)
{
	const char *sink_bin = getenv("SP_NET_SINK"), *tx_bin = getenv("SP_VIRTIO_TX");
	char sock[64], count[32], sink_cpu[16], tx_cpu[16];
	const char *sink_json, *tx_json;
	double deadline;
	int sink_rc, tx_rc;

	cr_assert(sink_bin && tx_bin, "SP_NET_SINK and SP_VIRTIO_TX must name the binaries");
	if (hugepages) {
		unsetenv("SP_NO_HUGE");
	} else {
		setenv("SP_NO_HUGE", "1", 1);
	}
	unsetenv("SP_CPU");
	pick_cpus(sink_cpu, tx_cpu, sizeof(sink_cpu));
	snprintf(sock, sizeof(sock), "fixture-%d.sock", (int)getpid());
	snprintf(count, sizeof(count), "%d", FRAMES);
	char *sink_argv[] = { (char *)sink_bin, "--socket", sock, "--count", count,
			      "--idle", "30", "--cpu", sink_cpu, NULL };
	char *tx_argv[] = { (char *)tx_bin, "--socket", sock, "--count", count,
			    "--cpu", tx_cpu, "--linger", "30", NULL };

	deadline = sp_peer_now() + DEADLINE_S;
	sp_peer_start(&sink, "fixture-sink", sink_argv);
	/* The frontend connects once at start: the socket must be listening first. */
	sp_peer_wait_err(&sink, "sink: listening", deadline);
	sp_peer_start(&tx, "fixture-tx", tx_argv);
	tx_rc = sp_peer_reap(&tx, deadline);
	sink_rc = sp_peer_reap(&sink, deadline);

	sink_json = sp_peer_slurp(sink.out);
	tx_json = sp_peer_slurp(tx.out);
	fprintf(stderr, "sink: %s  %s\ntx:   %s  %s\n", sink_json, sp_peer_slurp(sink.err), tx_json,
		sp_peer_slurp(tx.err));
	cr_assert_eq(tx_rc, 0, "sender exit %d: %s", tx_rc, sp_peer_slurp(tx.err));
	cr_assert_eq(sink_rc, 0, "sink exit %d: %s", sink_rc, sp_peer_slurp(sink.err));
	cr_expect_eq(sp_peer_json_num(tx_json, "frames"), FRAMES);
	cr_expect_eq(sp_peer_json_num(sink_json, "frames"), FRAMES);
	cr_expect_eq(sp_peer_json_num(sink_json, "bytes"), sp_peer_json_num(tx_json, "bytes"));
	cr_expect_eq(sp_peer_json_num(sink_json, "max_seq"), FRAMES - 1);
	cr_expect_eq(sp_peer_json_num(sink_json, "lost"), 0);
	cr_expect_eq(sp_peer_json_num(sink_json, "gaps"), 0);
	cr_expect_eq(sp_peer_json_num(sink_json, "duplicates"), 0);
	cr_expect_eq(sp_peer_json_num(sink_json, "reordered"), 0);
	cr_expect_eq(sp_peer_json_num(sink_json, "short"), 0);
	cr_expect_eq(sp_peer_json_true(sink_json, "hugepages"), hugepages);
	cr_expect_eq(sp_peer_json_true(tx_json, "hugepages"), hugepages);
	cr_expect_eq(sp_peer_json_num(sink_json, "cpu"), atoi(sink_cpu));
	cr_expect_eq(sp_peer_json_num(tx_json, "cpu"), atoi(tx_cpu));
	cr_log_info("%s: %.0f frames/s received (sender %.0f frames/s)",
		    hugepages ? "hugepages" : "--no-huge", sp_peer_json_num(sink_json, "frames_per_s"),
		    sp_peer_json_num(tx_json, "frames_per_s"));
}

TestSuite(fixture, .fini = kill_kids, .timeout = DEADLINE_S + 30);

Test(fixture, hugepages)
{
	unsigned long free_pages = sp_peer_meminfo("HugePages_Free");

	/* Two processes of 256 MiB each. */
	if (free_pages < 256)
		cr_skip_test("%lu hugepages free, 256 needed", free_pages);
	run_pair(true);
}

Test(fixture, no_huge)
{
	run_pair(false);
}

/* The ends refuse what they must refuse, each in one line. */
static char run_dir[64];

static void use_own_run_dir(void)
{
	snprintf(run_dir, sizeof(run_dir), "/tmp/sp-fixture-run-%d", (int)getpid());
	setenv("SP_RUN_DIR", run_dir, 1);
	mkdir(run_dir, 0700);
	unsetenv("SP_LOG_LEVEL");
}

static void drop_run_dir(void)
{
	char cmd[128];

	kill_kids();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", run_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", run_dir);
}

static int unix_socket_at(const char *path, bool do_listen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s: %s", path, strerror(errno));
	if (do_listen)
		cr_assert_eq(listen(fd, 1), 0);
	return fd;
}

/* Runs argv (as the peer sink) to completion, bounded; its exit status. */
static int run(char *const argv[])
{
	sp_peer_start(&sink, "fixture-run", argv);
	return sp_peer_reap(&sink, sp_peer_now() + 60);
}

TestSuite(sockets, .init = use_own_run_dir, .fini = drop_run_dir, .timeout = 90);

Test(sockets, sink_replaces_stale_socket)
{
	char path[108], *sink_argv[] = { getenv("SP_NET_SINK"), "--socket", "stale.sock",
					 "--idle", "0.5", NULL };
	struct stat st;

	cr_assert_not_null(sink_argv[0]);
	snprintf(path, sizeof(path), "%s/stale.sock", run_dir);
	close(unix_socket_at(path, false));     /* a crashed sink's leftover */
	cr_expect_eq(run(sink_argv), 0, "sink: %s", sp_peer_slurp(sink.err));
	cr_expect(strstr(sp_peer_slurp(sink.err), "removing stale socket"), "stderr: %s", sp_peer_slurp(sink.err));
	cr_expect(strstr(sp_peer_slurp(sink.out), "\"stop\":\"idle\""), "stdout: %s", sp_peer_slurp(sink.out));
	cr_expect_neq(lstat(path, &st), 0, "the sink removes its socket when it ends");
}

Test(sockets, sink_refuses_live_socket)
{
	char path[108], *sink_argv[] = { getenv("SP_NET_SINK"), "--socket", "live.sock",
					 "--idle", "0.5", NULL };
	const char *err;
	struct stat st;
	int fd;

	cr_assert_not_null(sink_argv[0]);
	snprintf(path, sizeof(path), "%s/live.sock", run_dir);
	fd = unix_socket_at(path, true);
	cr_expect_eq(run(sink_argv), 2);
	err = sp_peer_slurp(sink.err);
	cr_expect_eq(sp_peer_lines(err), 1, "stderr: %s", err);
	cr_expect(strstr(err, "in use by a running process"), "stderr: %s", err);
	cr_expect_eq(lstat(path, &st), 0, "someone else's socket stays");
	cr_expect_str_eq(sp_peer_slurp(sink.out), "");
	close(fd);
}

Test(sockets, sender_without_sink_is_one_line)
{
	char *tx_argv[] = { getenv("SP_VIRTIO_TX"), "--socket", "nobody.sock", NULL };
	const char *err;

	cr_assert_not_null(tx_argv[0]);
	cr_expect_eq(run(tx_argv), 2);
	err = sp_peer_slurp(sink.err);
	cr_expect_eq(sp_peer_lines(err), 1, "stderr: %s", err);
	cr_expect(strstr(err, "env: device net_virtio_user0 did not start:") == err, "stderr: %s", err);
}

/* A sink that stops polling must not hang the sender: it gives up in one line. */
Test(sockets, sender_gives_up_on_stalled_sink)
{
	char sink_cpu[16], tx_cpu[16];
	char *sink_argv[] = { getenv("SP_NET_SINK"), "--socket", "stall.sock", "--idle", "20",
			      "--quiet", "--cpu", sink_cpu, NULL };
	char *tx_argv[] = { getenv("SP_VIRTIO_TX"), "--socket", "stall.sock", "--count",
			    "1000000000000", "--wait", "1", "--linger", "1", "--cpu", tx_cpu, NULL };
	char path[108];
	struct stat st;
	double deadline = sp_peer_now() + 30, t0;
	int tx_rc;

	cr_assert(sink_argv[0] && tx_argv[0]);
	pick_cpus(sink_cpu, tx_cpu, sizeof(sink_cpu));
	snprintf(path, sizeof(path), "%s/stall.sock", run_dir);
	sp_peer_start(&sink, "fixture-sink", sink_argv);
	while (lstat(path, &st) < 0 || (st.st_mode & 0777) != 0600) {
		cr_assert_lt(sp_peer_now(), deadline, "sink did not listen: %s", sp_peer_slurp(sink.err));
		usleep(20000);
	}
	sp_peer_start(&tx, "fixture-tx", tx_argv);
	sp_peer_wait_err(&tx, "env: ", deadline);      /* the sender is up and sending */
	usleep(200000);
	kill(sink.pid, SIGSTOP);
	t0 = sp_peer_now();
	tx_rc = sp_peer_reap(&tx, t0 + 15);
	kill(sink.pid, SIGCONT);
	cr_expect_eq(tx_rc, 1, "sender exit %d: %s", tx_rc, sp_peer_slurp(tx.err));
	cr_expect_lt(sp_peer_now() - t0, 10, "gave up after %.1f s", sp_peer_now() - t0);
	cr_expect(strstr(sp_peer_slurp(tx.err), "sink stopped taking frames"), "stderr: %s", sp_peer_slurp(tx.err));
	/* What stayed in the ring never reached the sink; it cannot see a gap after the last. */
	cr_expect_eq(sp_peer_stop(&sink, SIGTERM, 15), 0, "sink: %s", sp_peer_slurp(sink.err));
	cr_expect(strstr(sp_peer_slurp(sink.out), "\"stop\":\"signal\""), "stdout: %s", sp_peer_slurp(sink.out));
}

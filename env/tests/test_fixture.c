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
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FRAMES 1000000
#define DEADLINE_S 120

static pid_t kids[2];
static char outs[4][64];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Starts argv with stdout and stderr into files; returns its pid. */
static pid_t spawn(char *const argv[], const char *out, const char *err)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static char *slurp(const char *path)
{
	static char buf[4][8192];
	static int next;
	char *b = buf[next++ % 4];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(b, 1, sizeof(buf[0]) - 1, f) : 0;

	b[n] = '\0';
	if (f)
		fclose(f);
	return b;
}

/* The number after "key": in a one-line JSON object; -1 when absent. */
static double json_num(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	return p ? strtod(p + strlen(pat), NULL) : -1;
}

static bool json_true(const char *json, const char *key)
{
	char pat[64];

	snprintf(pat, sizeof(pat), "\"%s\":true", key);
	return strstr(json, pat) != NULL;
}

/* Waits for pid until the deadline; its exit status, or -1 if it had to be killed. */
static int reap(pid_t *pid, double deadline)
{
	int status;

	while (now_s() < deadline) {
		if (waitpid(*pid, &status, WNOHANG) == *pid) {
			*pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		usleep(20000);
	}
	kill(*pid, SIGKILL);
	waitpid(*pid, NULL, 0);
	*pid = 0;
	return -1;
}

static void kill_kids(void)
{
	int i;

	for (i = 0; i < 2; i++)
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
		}
	for (i = 0; i < 4; i++)
		if (outs[i][0])
			unlink(outs[i]);
}

/* The two ends go on different CPUs when there are two. */
static void pick_cpus(char *sink_cpu, char *tx_cpu, size_t len)
{
	cpu_set_t set;
	int first = -1, last = -1, c;

	cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	for (c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set)) {
			if (first < 0)
				first = c;
			last = c;
		}
	snprintf(sink_cpu, len, "%d", last);
	snprintf(tx_cpu, len, "%d", first);
}

static void run_pair(bool hugepages)
{
	const char *sink_bin = getenv("SP_NET_SINK"), *tx_bin = getenv("SP_VIRTIO_TX");
	char sock[64], count[32], sink_cpu[16], tx_cpu[16];
	const char *sink_json, *tx_json;
	double deadline;
	int i, sink_rc, tx_rc;

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
	for (i = 0; i < 4; i++)
		snprintf(outs[i], sizeof(outs[i]), "/tmp/sp-fixture-%d.%d", (int)getpid(), i);

	char *sink_argv[] = { (char *)sink_bin, "--socket", sock, "--count", count,
			      "--idle", "30", "--cpu", sink_cpu, NULL };
	char *tx_argv[] = { (char *)tx_bin, "--socket", sock, "--count", count,
			    "--cpu", tx_cpu, "--linger", "30", NULL };

	deadline = now_s() + DEADLINE_S;
	kids[0] = spawn(sink_argv, outs[0], outs[1]);
	/* The frontend connects once at start: the socket must be listening first. */
	while (!strstr(slurp(outs[1]), "sink: listening")) {
		cr_assert(waitpid(kids[0], NULL, WNOHANG) == 0, "sink exited early: %s", slurp(outs[1]));
		cr_assert_lt(now_s(), deadline, "sink did not listen: %s", slurp(outs[1]));
		usleep(20000);
	}
	kids[1] = spawn(tx_argv, outs[2], outs[3]);
	tx_rc = reap(&kids[1], deadline);
	sink_rc = reap(&kids[0], deadline);

	sink_json = slurp(outs[0]);
	tx_json = slurp(outs[2]);
	fprintf(stderr, "sink: %s  %s\ntx:   %s  %s\n", sink_json, slurp(outs[1]), tx_json,
		slurp(outs[3]));
	cr_assert_eq(tx_rc, 0, "sender exit %d: %s", tx_rc, slurp(outs[3]));
	cr_assert_eq(sink_rc, 0, "sink exit %d: %s", sink_rc, slurp(outs[1]));
	cr_expect_eq(json_num(tx_json, "frames"), FRAMES);
	cr_expect_eq(json_num(sink_json, "frames"), FRAMES);
	cr_expect_eq(json_num(sink_json, "bytes"), json_num(tx_json, "bytes"));
	cr_expect_eq(json_num(sink_json, "max_seq"), FRAMES - 1);
	cr_expect_eq(json_num(sink_json, "lost"), 0);
	cr_expect_eq(json_num(sink_json, "gaps"), 0);
	cr_expect_eq(json_num(sink_json, "duplicates"), 0);
	cr_expect_eq(json_num(sink_json, "reordered"), 0);
	cr_expect_eq(json_num(sink_json, "short"), 0);
	cr_expect_eq(json_true(sink_json, "hugepages"), hugepages);
	cr_expect_eq(json_true(tx_json, "hugepages"), hugepages);
	cr_expect_eq(json_num(sink_json, "cpu"), atoi(sink_cpu));
	cr_expect_eq(json_num(tx_json, "cpu"), atoi(tx_cpu));
	cr_log_info("%s: %.0f frames/s received (sender %.0f frames/s)",
		    hugepages ? "hugepages" : "--no-huge", json_num(sink_json, "frames_per_s"),
		    json_num(tx_json, "frames_per_s"));
}

TestSuite(fixture, .fini = kill_kids, .timeout = DEADLINE_S + 30);

Test(fixture, hugepages)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	unsigned long free_pages = 0;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "HugePages_Free:", 15))
			free_pages = strtoul(line + 15, NULL, 10);
	if (f)
		fclose(f);
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

static int lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Runs argv to completion (bounded); its exit status. */
static int run(char *const argv[])
{
	int i;

	for (i = 0; i < 4; i++)
		snprintf(outs[i], sizeof(outs[i]), "/tmp/sp-fixture-%d.%d", (int)getpid(), i);
	kids[0] = spawn(argv, outs[0], outs[1]);
	return reap(&kids[0], now_s() + 60);
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
	cr_expect_eq(run(sink_argv), 0, "sink: %s", slurp(outs[1]));
	cr_expect(strstr(slurp(outs[1]), "removing stale socket"), "stderr: %s", slurp(outs[1]));
	cr_expect(strstr(slurp(outs[0]), "\"stop\":\"idle\""), "stdout: %s", slurp(outs[0]));
	cr_expect_neq(lstat(path, &st), 0, "the sink removes its socket when it ends");
}

Test(sockets, sink_refuses_live_socket)
{
	char path[108], *err, *sink_argv[] = { getenv("SP_NET_SINK"), "--socket", "live.sock",
					       "--idle", "0.5", NULL };
	struct stat st;
	int fd;

	cr_assert_not_null(sink_argv[0]);
	snprintf(path, sizeof(path), "%s/live.sock", run_dir);
	fd = unix_socket_at(path, true);
	cr_expect_eq(run(sink_argv), 2);
	err = slurp(outs[1]);
	cr_expect_eq(lines(err), 1, "stderr: %s", err);
	cr_expect(strstr(err, "in use by a running process"), "stderr: %s", err);
	cr_expect_eq(lstat(path, &st), 0, "someone else's socket stays");
	cr_expect_str_eq(slurp(outs[0]), "");
	close(fd);
}

Test(sockets, sender_without_sink_is_one_line)
{
	char *tx_argv[] = { getenv("SP_VIRTIO_TX"), "--socket", "nobody.sock", NULL }, *err;

	cr_assert_not_null(tx_argv[0]);
	cr_expect_eq(run(tx_argv), 2);
	err = slurp(outs[1]);
	cr_expect_eq(lines(err), 1, "stderr: %s", err);
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
	double deadline = now_s() + 30, t0;
	int i, tx_rc;

	cr_assert(sink_argv[0] && tx_argv[0]);
	pick_cpus(sink_cpu, tx_cpu, sizeof(sink_cpu));
	for (i = 0; i < 4; i++)
		snprintf(outs[i], sizeof(outs[i]), "/tmp/sp-fixture-%d.%d", (int)getpid(), i);
	snprintf(path, sizeof(path), "%s/stall.sock", run_dir);
	kids[0] = spawn(sink_argv, outs[0], outs[1]);
	while (lstat(path, &st) < 0 || (st.st_mode & 0777) != 0600) {
		cr_assert_lt(now_s(), deadline, "sink did not listen: %s", slurp(outs[1]));
		usleep(20000);
	}
	kids[1] = spawn(tx_argv, outs[2], outs[3]);
	while (!strstr(slurp(outs[3]), "env: ")) {      /* the sender is up and sending */
		cr_assert_lt(now_s(), deadline, "sender did not start: %s", slurp(outs[3]));
		usleep(20000);
	}
	usleep(200000);
	kill(kids[0], SIGSTOP);
	t0 = now_s();
	tx_rc = reap(&kids[1], t0 + 15);
	kill(kids[0], SIGCONT);
	cr_expect_eq(tx_rc, 1, "sender exit %d: %s", tx_rc, slurp(outs[3]));
	cr_expect_lt(now_s() - t0, 10, "gave up after %.1f s", now_s() - t0);
	cr_expect(strstr(slurp(outs[3]), "sink stopped taking frames"), "stderr: %s", slurp(outs[3]));
	/* What stayed in the ring never reached the sink; it cannot see a gap after the last. */
	kill(kids[0], SIGTERM);
	cr_expect_eq(reap(&kids[0], now_s() + 15), 0, "sink: %s", slurp(outs[1]));
	cr_expect(strstr(slurp(outs[0]), "\"stop\":\"signal\""), "stdout: %s", slurp(outs[0]));
}

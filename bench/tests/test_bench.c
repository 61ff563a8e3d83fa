/* SPDX-License-Identifier: MIT */
/*
 * sp-bench end to end: each backend that exists here runs a tiny sweep and
 * its counters must add up. Nothing here asserts speed: a slow machine passes.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ROWS 64

struct row {
	char backend[32];
	unsigned long size, batch;
	double msgs_per_s;
	unsigned long long sent, received, dropped;
	char status[16];
	char note[160];
};

static void set(char *dst, size_t len, const char *src)
{
	size_t n = strnlen(src, len - 1);

	memcpy(dst, src, n);
	dst[n] = 0;
}

static char dir[] = "/tmp/sp-bench-test-XXXXXX";

static void make_dir(void)
{
	cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

/* Runs sp-bench with args (a shell word list); returns its exit code. */
static int bench(const char *args)
{
	const char *exe = getenv("SP_BENCH");
	char cmd[1024];
	int st;

	cr_assert_not_null(exe, "SP_BENCH not set (run through meson test)");
	snprintf(cmd, sizeof(cmd), "timeout 120 %s --memcpy 0 --out %s %s 2>%s/stderr", exe, dir, args, dir);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Fields by column name from the header, so that the test reads the CSV the way users do. */
static int read_csv(struct row *rows)
{
	char path[256], line[2048], *hdr[32], *f, *save;
	static char header[2048];
	int n = 0, nh = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/bench.csv", dir);
	fp = fopen(path, "r");
	cr_assert_not_null(fp, "no %s", path);
	cr_assert_not_null(fgets(header, sizeof(header), fp));
	header[strcspn(header, "\n")] = 0;
	cr_assert(!strncmp(header, "backend,size,batch,msgs_per_s,gbit_per_s,ns_per_msg,cycles_per_msg,"
			   "p50_ns,p99_ns,p999_ns,max_ns,sent,received", 97), "CSV contract columns changed");
	for (f = strtok_r(header, ",", &save); f && nh < 32; f = strtok_r(NULL, ",", &save))
		hdr[nh++] = f;
	while (n < MAX_ROWS && fgets(line, sizeof(line), fp)) {
		struct row *r = &rows[n++];
		char *p = line;
		int col = 0;

		memset(r, 0, sizeof(*r));
		line[strcspn(line, "\n")] = 0;
		while (p && col < nh) {
			char *comma = strchr(p, ',');

			if (comma)
				*comma = 0;
			if (!strcmp(hdr[col], "backend")) set(r->backend, sizeof(r->backend), p);
			else if (!strcmp(hdr[col], "size")) r->size = strtoul(p, NULL, 10);
			else if (!strcmp(hdr[col], "batch")) r->batch = strtoul(p, NULL, 10);
			else if (!strcmp(hdr[col], "msgs_per_s")) r->msgs_per_s = strtod(p, NULL);
			else if (!strcmp(hdr[col], "sent")) r->sent = strtoull(p, NULL, 10);
			else if (!strcmp(hdr[col], "received")) r->received = strtoull(p, NULL, 10);
			else if (!strcmp(hdr[col], "dropped")) r->dropped = strtoull(p, NULL, 10);
			else if (!strcmp(hdr[col], "status")) set(r->status, sizeof(r->status), p);
			else if (!strcmp(hdr[col], "note")) set(r->note, sizeof(r->note), p);
			p = comma ? comma + 1 : NULL;
			col++;
		}
	}
	fclose(fp);
	return n;
}

/* The backend's line in the JSON "backends" list: "ok", "skipped", ... */
static void backend_status(const char *name, char *status, size_t len)
{
	char path[256], *text, *p;
	FILE *fp;
	long sz;

	snprintf(status, len, "missing");
	snprintf(path, sizeof(path), "%s/bench.json", dir);
	fp = fopen(path, "r");
	cr_assert_not_null(fp, "no %s", path);
	fseek(fp, 0, SEEK_END);
	sz = ftell(fp);
	rewind(fp);
	text = calloc(1, (size_t)sz + 1);
	cr_assert_eq(fread(text, 1, (size_t)sz, fp), (size_t)sz);
	fclose(fp);
	snprintf(path, sizeof(path), "\"name\": \"%s\"", name);
	p = strstr(text, path);
	if (p && (p = strstr(p, "\"status\": \"")))
		sscanf(p + 11, "%15[^\"]", status);
	free(text);
}

static void expect_lossless(struct row *rows, int n, const char *backend, int want_rows)
{
	int i, seen = 0;

	for (i = 0; i < n; i++) {
		struct row *r = &rows[i];

		if (strcmp(r->backend, backend))
			continue;
		seen++;
		cr_expect_str_eq(r->status, "ok");
		cr_expect_gt(r->sent, 0, "%s size %lu batch %lu sent nothing", backend, r->size, r->batch);
		cr_expect_eq(r->sent, r->received, "%s size %lu batch %lu: sent %llu received %llu (%s)",
			     backend, r->size, r->batch, r->sent, r->received, r->note);
		cr_expect_gt(r->msgs_per_s, 0);
	}
	cr_expect_eq(seen, want_rows, "%s: %d rows, want %d", backend, seen, want_rows);
}

TestSuite(bench, .init = make_dir, .fini = remove_dir, .timeout = 170);

/*
 * Paced so that a loaded machine loses nothing: the whole run (~500 datagrams)
 * fits the receiver's 64 MiB buffer even if its thread does not run until the end.
 */
Test(bench, kernel_udp_loopback_counts_add_up)
{
	struct row rows[MAX_ROWS];
	int n;

	cr_assert_eq(bench("--backends kernel-udp --sizes 16,1024,65536 --batches 1,8 "
			   "--duration 0.2 --warmup 0.05 --rate 2000"), 0);
	n = read_csv(rows);
	expect_lossless(rows, n, "kernel-udp", 6);
	for (int i = 0; i < n; i++)
		cr_expect(rows[i].size <= 65507, "UDP size above the IPv4 maximum in the CSV");
}

/* Unpaced, the receiver may fall behind: whatever is lost, the kernel must have counted it. */
Test(bench, kernel_udp_overload_losses_are_accounted)
{
	struct row rows[MAX_ROWS];
	int n, i;

	cr_assert_eq(bench("--backends kernel-udp --sizes 64 --batches 32 --duration 0.3 --warmup 0.05"), 0);
	n = read_csv(rows);
	cr_assert_eq(n, 1);
	for (i = 0; i < n; i++) {
		cr_expect_eq(rows[i].sent, rows[i].received + rows[i].dropped);
		cr_expect_null(strstr(rows[i].note, "unaccounted"), "%s", rows[i].note);
		cr_expect_null(strstr(rows[i].note, "marker lost"), "%s", rows[i].note);
	}
}

Test(bench, kernel_udp_veth_namespace)
{
	struct row rows[MAX_ROWS];

	if (geteuid() != 0)
		cr_skip_test("network namespaces need root");
	cr_assert_eq(bench("--backends kernel-udp --udp-target veth --sizes 64,1400 --batches 1,16 "
			   "--duration 0.2 --warmup 0.05 --rate 2000"), 0);
	expect_lossless(rows, read_csv(rows), "kernel-udp", 4);
}

Test(bench, dpdk_txonly_ceiling_counts_add_up)
{
	struct row rows[MAX_ROWS];
	char st[16];

	if (system("command -v dpdk-testpmd >/dev/null 2>&1") != 0)
		cr_skip_test("dpdk-testpmd not installed");
	cr_assert_eq(bench("--backends dpdk-txonly --sizes 64,4096 --batches 32 --duration 0.3 --warmup 0.1"), 0);
	backend_status("dpdk-txonly", st, sizeof(st));
	cr_expect_str_eq(st, "ok");
	expect_lossless(rows, read_csv(rows), "dpdk-txonly", 2);
}

/* The sendpath paths run when the stack is in the build; their rows must then add up too. */
static void sendpath_backend(const char *name)
{
	struct row rows[MAX_ROWS];
	char args[256], st[16];

	snprintf(args, sizeof(args), "--backends %s --sizes 64,4096 --batches 1,32 --duration 0.2 --warmup 0.05", name);
	cr_assert_eq(bench(args), 0);
	backend_status(name, st, sizeof(st));
	if (!strcmp(st, "skipped"))
		cr_skip_test("%s skipped: not in this build", name);
	cr_expect_str_eq(st, "ok");
	expect_lossless(rows, read_csv(rows), name, 4);
}

Test(bench, sendpath_udp_counts_add_up)
{
	sendpath_backend("sendpath-udp");
}

Test(bench, sendpath_vsock_counts_add_up)
{
	sendpath_backend("sendpath-vsock");
}

/* A peer buffer smaller than one message: 64 KiB messages go out in credit-sized pieces, all counted. */
Test(bench, sendpath_vsock_small_peer_buffer)
{
	struct row rows[MAX_ROWS];
	char st[16];

	cr_assert_eq(bench("--backends sendpath-vsock --vsock-buf 4096 --sizes 65536 --batches 1,8 "
			   "--duration 0.2 --warmup 0.05"), 0);
	backend_status("sendpath-vsock", st, sizeof(st));
	if (!strcmp(st, "skipped"))
		cr_skip_test("sendpath-vsock skipped: not in this build");
	cr_expect_str_eq(st, "ok");
	expect_lossless(rows, read_csv(rows), "sendpath-vsock", 2);
}

/* MSG_DONTWAIT: EAGAIN is counted and retried, nothing is lost or sent twice. */
Test(bench, dontwait_counts_add_up)
{
	struct row rows[MAX_ROWS];
	char st[16];
	int n, i;

	cr_assert_eq(bench("--backends kernel-udp,sendpath-udp,sendpath-vsock --dontwait --sizes 64 --batches 32 "
			   "--duration 0.2 --warmup 0.05 --rate 2000"), 0);
	n = read_csv(rows);
	expect_lossless(rows, n, "kernel-udp", 1);
	for (i = 0; i < n; i++)
		cr_expect_eq(rows[i].sent, rows[i].received, "%s: sent %llu received %llu", rows[i].backend,
			     rows[i].sent, rows[i].received);
	backend_status("sendpath-udp", st, sizeof(st));
	cr_expect(!strcmp(st, "ok") || !strcmp(st, "skipped"), "sendpath-udp %s", st);
}

/* kernel-vsock runs only in a QEMU guest; its guest program refuses to run on the host. */
Test(bench, kernel_vsock_only_in_a_guest)
{
	const char *exe = getenv("SP_BENCH");
	char guest[512], cmd[700], st[16];
	struct row rows[MAX_ROWS];
	int rc;

	cr_assert_not_null(exe);
	snprintf(guest, sizeof(guest), "%.*s/sp-bench-guest", (int)(strrchr(exe, '/') - exe), exe);
	snprintf(cmd, sizeof(cmd), "%s 0.1 0 64 1 2>/dev/null", guest);
	rc = system(cmd);
	cr_expect(WIFEXITED(rc) && WEXITSTATUS(rc) == 2, "sp-bench-guest ran on the host (status %d)", rc);
	cr_assert_eq(bench("--backends kernel-vsock --sizes 64,4096 --batches 1,8 --duration 0.2 --warmup 0.05"), 0);
	backend_status("kernel-vsock", st, sizeof(st));
	if (!strcmp(st, "skipped"))
		cr_skip_test("kernel-vsock skipped here (no QEMU or no guest kernel)");
	cr_expect_str_eq(st, "ok");
	expect_lossless(rows, read_csv(rows), "kernel-vsock", 4);
}

Test(bench, bad_arguments_are_refused)
{
	cr_expect_eq(bench("--backends nosuch"), 2);
	cr_expect_eq(bench("--sizes 8"), 2);
	cr_expect_eq(bench("--batches 0"), 2);
	cr_expect_eq(bench("--udp-target eth0"), 2);
	cr_expect_eq(bench("--vsock-buf 12"), 2);
	cr_expect_eq(bench("--vsock-buf -1"), 2);
}

/* Ctrl-C: the run ends at once and what was measured is written. */
Test(bench, interrupt_keeps_results_so_far)
{
	const char *exe = getenv("SP_BENCH");
	struct row rows[MAX_ROWS];
	char out[300], err[300];
	int st, n;
	pid_t pid;

	cr_assert_not_null(exe);
	snprintf(out, sizeof(out), "--out=%s", dir);
	snprintf(err, sizeof(err), "%s/stderr", dir);
	pid = fork();
	if (pid == 0) {
		if (!freopen(err, "w", stderr))
			_exit(126);
		execl(exe, exe, "--backends", "kernel-udp", "--sizes", "64,128,256,512,1024",
		      "--batches", "1,2,4,8", "--duration", "0.4", "--warmup", "0", "--memcpy", "0", out,
		      (char *)NULL);
		_exit(127);
	}
	sleep(2);
	kill(pid, SIGINT);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 130, "exit status %d", st);
	n = read_csv(rows);
	cr_expect(n >= 1 && n < 20, "%d rows after Ctrl-C", n);
}

/* SPDX-License-Identifier: MIT */
/*
 * The environment module with a real EAL. Criterion runs each test in its own
 * process, and EAL starts at most once per process.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "peer.h"
#include "sp_env.h"

static int err_fd = -1, saved_err = -1, out_fd = -1, saved_out = -1;

/* stdout and stderr of what follows go to buffers. */
static void capture_begin(void)
{
	fflush(stdout);
	fflush(stderr);
	err_fd = memfd_create("stderr", 0);
	out_fd = memfd_create("stdout", 0);
	saved_err = dup(STDERR_FILENO);
	saved_out = dup(STDOUT_FILENO);
	dup2(err_fd, STDERR_FILENO);
	dup2(out_fd, STDOUT_FILENO);
}

static void capture_end(char *err, char *out, size_t len)
{
	ssize_t n;

	fflush(stdout);
	fflush(stderr);
	dup2(saved_err, STDERR_FILENO);
	dup2(saved_out, STDOUT_FILENO);
	close(saved_err);
	close(saved_out);
	n = pread(err_fd, err, len - 1, 0);
	err[n > 0 ? n : 0] = '\0';
	n = pread(out_fd, out, len - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(err_fd);
	close(out_fd);
}

static void quiet_env(void)
{
	unsetenv("SP_LOG_LEVEL");       /* would print all of EAL's output on failure */
	unsetenv("SP_CPU");
}

TestSuite(env_eal, .init = quiet_env);

Test(env_eal, bad_eal_argument_is_one_line)
{
	char *extra[] = { "--no-such-eal-option" };
	struct sp_env_cfg cfg = { .name = "t-badarg", .cpu = -1, .extra_argc = 1, .extra_argv = extra };
	char err[65536], out[65536];

	capture_begin();
	cr_assert_eq(sp_env_init(&cfg), -1);
	capture_end(err, out, sizeof(err));
	cr_expect_eq(sp_peer_lines(err), 1, "stderr: %s", err);
	cr_expect(strstr(err, "env: DPDK EAL did not start:") == err, "stderr: %s", err);
	cr_expect(strstr(err, "--no-such-eal-option") != NULL, "stderr: %s", err);
	cr_expect_str_eq(out, "", "EAL's usage page must not reach stdout");
}

/* A frontend whose backend is not there: EAL starts, the device does not. */
Test(env_eal, failing_vdev_is_one_line)
{
	struct sp_env_cfg cfg = { .name = "t-vdev", .cpu = -1, .shares_memory = true,
				  .vdevs = { "net_virtio_user0,path=/nonexistent/sp-none.sock" } };
	char err[65536], out[65536];

	capture_begin();
	cr_assert_eq(sp_env_init(&cfg), -1);
	capture_end(err, out, sizeof(err));
	cr_expect_eq(sp_peer_lines(err), 1, "stderr: %s", err);
	cr_expect(strstr(err, "env: device net_virtio_user0 did not start:") == err, "stderr: %s", err);
	cr_expect(strstr(err, "No such file"), "the cause is named: %s", err);
	cr_expect_str_eq(out, "");
}

Test(env_eal, unknown_vdev_driver_is_one_line)
{
	struct sp_env_cfg cfg = { .name = "t-nodrv", .cpu = -1, .vdevs = { "net_nosuchpmd0,x=1" } };
	char err[65536], out[65536];

	capture_begin();
	cr_assert_eq(sp_env_init(&cfg), -1);
	capture_end(err, out, sizeof(err));
	cr_expect_eq(sp_peer_lines(err), 1, "stderr: %s", err);
	cr_expect(strstr(err, "env: ") == err && strstr(err, "did not start") &&
		  strstr(err, "net_nosuchpmd0"), "stderr: %s", err);
}

Test(env_eal, starts_and_says_what_it_chose)
{
	struct sp_env_cfg cfg = { .name = "t-ok", .cpu = 0, .mem_mb = 64 };
	char err[65536], out[65536], rundir[128];
	struct stat st;

	capture_begin();
	cr_assert_eq(sp_env_init(&cfg), 0);
	capture_end(err, out, sizeof(err));
	cr_expect(strstr(err, "env: ") && strstr(err, sp_env_info()->prefix), "stderr: %s", err);
	cr_expect_eq(sp_env_info()->cpu, 0);
	cr_expect(sched_getcpu() == 0, "main lcore is pinned to CPU 0");
	capture_begin();
	cr_expect_eq(sp_env_init(&cfg), -1, "a second start is refused");
	capture_end(err, out, sizeof(err));
	cr_expect_str_eq(err, "env: EAL is already running in this process\n");
	snprintf(rundir, sizeof(rundir), "/var/run/dpdk/%s", sp_env_info()->prefix);
	sp_env_fini();
	cr_expect_neq(stat(rundir, &st), 0, "%s must be gone after sp_env_fini", rundir);
}

/* More memory asked for than there are hugepages at all: --no-huge, said in the env line. */
Test(env_eal, too_few_hugepages_falls_back)
{
	unsigned long total_mb = sp_peer_meminfo("HugePages_Total") * sp_peer_meminfo("Hugepagesize") / 1024;
	struct sp_env_cfg cfg = { .name = "t-fallback", .cpu = -1,
				  .mem_mb = (unsigned int)total_mb + 64 };
	char err[65536], out[65536];

	unsetenv("SP_NO_HUGE");
	if (total_mb == 0)
		cr_skip_test("no hugepages reserved on this machine");
	capture_begin();
	cr_assert_eq(sp_env_init(&cfg), 0);
	capture_end(err, out, sizeof(err));
	cr_expect_not(sp_env_info()->hugepages);
	cr_expect(strstr(sp_env_info()->why_no_huge, "MiB of hugepages free"), "why: %s",
		  sp_env_info()->why_no_huge);
	cr_expect(strstr(err, "env: --no-huge (") && strstr(err, "MiB needed)"), "stderr: %s", err);
	sp_env_fini();
}

Test(env_eal, sp_no_huge_is_obeyed)
{
	struct sp_env_cfg cfg = { .name = "t-nohuge", .cpu = -1, .mem_mb = 64, .shares_memory = true };
	char err[65536], out[65536];

	setenv("SP_NO_HUGE", "1", 1);
	capture_begin();
	cr_assert_eq(sp_env_init(&cfg), 0);
	capture_end(err, out, sizeof(err));
	cr_expect_not(sp_env_info()->hugepages);
	cr_expect(strstr(err, "SP_NO_HUGE is set"), "stderr: %s", err);
	sp_env_fini();
}

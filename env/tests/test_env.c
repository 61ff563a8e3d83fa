/* SPDX-License-Identifier: MIT */
/* The environment module without EAL: CPU choice, run directory, stale sockets. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "peer.h"
#include "sp_env.h"

/* Runs fn with stderr going to a buffer; returns what it wrote. */
static int err_fd = -1, saved_err = -1;

static void stderr_begin(void)
{
	fflush(stderr);
	err_fd = memfd_create("stderr", 0);
	saved_err = dup(STDERR_FILENO);
	dup2(err_fd, STDERR_FILENO);
}

static char *stderr_end(void)
{
	static char buf[4096];
	ssize_t n;

	fflush(stderr);
	dup2(saved_err, STDERR_FILENO);
	close(saved_err);
	n = pread(err_fd, buf, sizeof(buf) - 1, 0);
	close(err_fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static char rundir[64];

static void make_rundir(void)
{
	snprintf(rundir, sizeof(rundir), "/tmp/sp-env-test-%d", (int)getpid());
	setenv("SP_RUN_DIR", rundir, 1);
}

static void remove_rundir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", rundir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(env, .init = make_rundir, .fini = remove_rundir);

Test(env, bad_cpu_is_one_line_and_minus_one)
{
	struct sp_env_cfg cfg = { .name = "t", .cpu = 4096 };
	char *err;

	stderr_begin();
	cr_assert_eq(sp_env_init(&cfg), -1);
	err = stderr_end();
	cr_expect_eq(sp_peer_lines(err), 1, "stderr: %s", err);
	cr_expect(strstr(err, "env: CPU 4096 is not available") != NULL, "stderr: %s", err);
}

Test(env, unavailable_cpu_is_refused)
{
	struct sp_env_cfg cfg = { .name = "t", .cpu = (int)sysconf(_SC_NPROCESSORS_CONF) };
	char *err;

	stderr_begin();
	cr_assert_eq(sp_env_init(&cfg), -1);
	err = stderr_end();
	cr_expect_eq(sp_peer_lines(err), 1, "stderr: %s", err);
	cr_expect(strstr(err, "is not available") != NULL, "stderr: %s", err);
}

Test(env, garbage_sp_cpu_is_refused)
{
	struct sp_env_cfg cfg = { .name = "t", .cpu = -1 };
	char *err;

	setenv("SP_CPU", "one", 1);
	stderr_begin();
	cr_assert_eq(sp_env_init(&cfg), -1);
	err = stderr_end();
	cr_expect_str_eq(err, "env: SP_CPU=one is not a CPU number\n");
	setenv("SP_CPU", "-2", 1);
	stderr_begin();
	cr_assert_eq(sp_env_init(&cfg), -1);
	err = stderr_end();
	cr_expect_str_eq(err, "env: SP_CPU=-2 is not a CPU number\n");
}

Test(env, run_path_is_owner_only)
{
	char buf[108];
	struct stat st;

	cr_assert_eq(mkdir(rundir, 0755), 0);   /* left open by someone: tightened */
	cr_assert_not_null(sp_env_run_path("x.sock", buf, sizeof(buf)));
	cr_expect(strncmp(buf, rundir, strlen(rundir)) == 0 && strstr(buf, "/x.sock"));
	cr_assert_eq(stat(rundir, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0700, "mode %o", st.st_mode & 0777);
}

static int bind_unix(const char *path, bool do_listen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s: %s", path, strerror(errno));
	if (do_listen)
		cr_assert_eq(listen(fd, 1), 0);
	return fd;
}

Test(env, stale_socket_is_removed)
{
	char path[108], *err;
	struct stat st;

	cr_assert_not_null(sp_env_run_path("stale.sock", path, sizeof(path)));
	close(bind_unix(path, false));          /* what a crashed server leaves */
	cr_assert_eq(lstat(path, &st), 0);
	stderr_begin();
	cr_expect_eq(sp_env_clear_stale_socket(path), 0);
	err = stderr_end();
	cr_expect_eq(lstat(path, &st), -1);
	cr_expect_eq(sp_peer_lines(err), 1, "stderr: %s", err);
	cr_expect(strstr(err, "removing stale socket") != NULL, "stderr: %s", err);
	/* No file at all is fine and silent. */
	stderr_begin();
	cr_expect_eq(sp_env_clear_stale_socket(path), 0);
	cr_expect_str_eq(stderr_end(), "");
}

Test(env, live_socket_is_refused)
{
	char path[108], *err;
	struct stat st;
	int fd;

	cr_assert_not_null(sp_env_run_path("live.sock", path, sizeof(path)));
	fd = bind_unix(path, true);
	stderr_begin();
	cr_expect_eq(sp_env_clear_stale_socket(path), -1);
	err = stderr_end();
	cr_expect_eq(lstat(path, &st), 0, "a live socket must stay");
	cr_expect_eq(sp_peer_lines(err), 1, "stderr: %s", err);
	cr_expect(strstr(err, "in use by a running process") != NULL, "stderr: %s", err);
	close(fd);
}

Test(env, regular_file_is_left_alone)
{
	char path[108], *err;
	struct stat st;
	FILE *f;

	cr_assert_not_null(sp_env_run_path("notasocket", path, sizeof(path)));
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fclose(f);
	stderr_begin();
	cr_expect_eq(sp_env_clear_stale_socket(path), -1);
	err = stderr_end();
	cr_expect_eq(lstat(path, &st), 0);
	cr_expect(strstr(err, "is not a socket") != NULL, "stderr: %s", err);
}

/* SPDX-License-Identifier: MIT */
/*
 * scripts/setup.sh clears what a crashed DPDK run leaves behind: the runtime
 * dir /var/run/dpdk/sp-NAME-PID and hugepage files of a pid that is gone,
 * and never those of a live process. (Runs "setup.sh clean"; the script path
 * comes from meson in $SP_SETUP_SH.)
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t dead_pid(void)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return pid;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void touch(const char *path)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "cannot create %s", path);
	fclose(f);
}

Test(setup, clean_removes_dead_prefixes_only, .timeout = 170)
{
	const char *script = getenv("SP_SETUP_SH");
	char dead[128], dead_file[160], dead_huge[160], live[128], cmd[512], log[64], *line = NULL;
	size_t line_len = 0;
	bool said = false, huge;
	pid_t pid;
	FILE *f;

	if (geteuid() != 0)
		cr_skip_test("needs root to write /var/run/dpdk");
	cr_assert_not_null(script, "SP_SETUP_SH not set");
	pid = dead_pid();
	mkdir("/var/run/dpdk", 0700);
	snprintf(dead, sizeof(dead), "/var/run/dpdk/sp-envtest-%d", (int)pid);
	snprintf(dead_file, sizeof(dead_file), "%s/config", dead);
	snprintf(live, sizeof(live), "/var/run/dpdk/sp-envtest-%d", (int)getpid());
	cr_assert_eq(mkdir(dead, 0700), 0);
	touch(dead_file);
	cr_assert_eq(mkdir(live, 0700), 0);
	/* A hugepage file of the dead run, where hugetlbfs is mounted. */
	snprintf(dead_huge, sizeof(dead_huge), "/dev/hugepages/sp-envtest-%dmap_0", (int)pid);
	f = fopen(dead_huge, "w");
	huge = f != NULL;
	if (f)
		fclose(f);

	snprintf(log, sizeof(log), "/tmp/sp-setup-clean-%d.log", (int)getpid());
	snprintf(cmd, sizeof(cmd), "bash '%s' clean >%s 2>&1", script, log);
	cr_expect_eq(system(cmd), 0, "setup.sh clean failed, see %s", log);

	cr_expect_not(exists(dead), "%s of dead pid %d must be removed", dead, (int)pid);
	if (huge)
		cr_expect_not(exists(dead_huge), "%s must be removed", dead_huge);
	cr_expect(exists(live), "%s belongs to a live process and must stay", live);
	f = fopen(log, "r");
	/* getline: the one line naming every stale prefix can be long. */
	while (f && getline(&line, &line_len, f) > 0)
		said |= strstr(line, "stale") && strstr(line, dead + strlen("/var/run/dpdk/"));
	free(line);
	if (f)
		fclose(f);
	cr_expect(said, "setup.sh must say it removed %s (see %s)", dead, log);

	rmdir(live);
	if (exists(dead)) {
		unlink(dead_file);
		rmdir(dead);
	}
	unlink(dead_huge);
	if (said)
		unlink(log);
}

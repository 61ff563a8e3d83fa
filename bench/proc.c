/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

pid_t proc_spawn(char *const argv[], const char *log, int *stdin_fd)
{
	int fd, p[2] = { -1, -1 };
	pid_t pid;

	if (stdin_fd && pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid != 0) {
		if (stdin_fd) {
			close(p[0]);
			*stdin_fd = pid > 0 ? p[1] : -1;
			if (pid < 0)
				close(p[1]);
		}
		return pid;
	}
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	fd = stdin_fd ? p[0] : open("/dev/null", O_RDONLY);
	if (fd >= 0)
		dup2(fd, 0);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], argv);
	fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

int proc_say(int fd, const char *line)
{
	size_t len = strlen(line);

	return write(fd, line, len) == (ssize_t)len && write(fd, "\n", 1) == 1 ? 0 : -1;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int proc_stop(pid_t pid, int sig, double seconds)
{
	int status, waited = 0;

	if (pid <= 0)
		return -1;
	if (sig)
		kill(pid, sig);
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (r < 0)
			return -1;
		if (waited >= seconds * 1000) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		sleep_ms(20);
		waited += 20;
	}
}

bool proc_alive(pid_t pid)
{
	return pid > 0 && kill(pid, 0) == 0 && waitpid(pid, NULL, WNOHANG) == 0;
}

bool proc_wait_path(const char *path, pid_t pid, double seconds)
{
	struct stat st;
	int waited;

	for (waited = 0; waited < seconds * 1000; waited += 20) {
		if (stat(path, &st) == 0)
			return true;
		if (!proc_alive(pid))
			return false;
		sleep_ms(20);
	}
	return false;
}

char *proc_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return NULL;
	do {
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap += 65536);

			if (!nb)
				break;
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	fclose(f);
	if (buf)
		buf[len] = 0;
	return buf;
}

bool proc_hugepages_ok(unsigned int mem_mb)
{
	char line[128];
	unsigned long free_pages = 0, size_kb = 0;
	const char *off = getenv("SP_NO_HUGE");
	FILE *f;

	if (off && *off && strcmp(off, "0"))
		return false;
	f = fopen("/proc/meminfo", "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "HugePages_Free: %lu", &free_pages);
		sscanf(line, "Hugepagesize: %lu", &size_kb);
	}
	fclose(f);
	return free_pages * size_kb / 1024 >= 2ul * mem_mb;
}

bool proc_read_result(pid_t child, int fd, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (child > 0 && got < len) {
		n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (child > 0)
		while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
			;
	return child > 0 && got == len;
}

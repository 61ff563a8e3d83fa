/* SPDX-License-Identifier: MIT */
/* Peer processes, the part without Criterion: see peer.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "peer.h"

#define POLL_US 10000

double sp_peer_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *sp_peer_bin(const char *env)
{
	const char *bin = getenv(env);

	return bin && access(bin, X_OK) == 0 ? bin : NULL;
}

int sp_peer_spawn(struct sp_peer *p, const char *name, char *const argv[])
{
	pid_t parent = getpid();

	memset(p, 0, sizeof(*p));
	p->name = name;
	p->ctl = -1;
	snprintf(p->out, sizeof(p->out), "/tmp/sp-%s-%d.out", name, (int)parent);
	snprintf(p->err, sizeof(p->err), "/tmp/sp-%s-%d.err", name, (int)parent);
	p->pid = fork();
	if (p->pid < 0) {
		p->pid = 0;
		return -1;
	}
	if (p->pid == 0) {
		int o = open(p->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(p->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(127);
		/* a caller that crashed must not leave a busy-polling peer behind */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		execvp(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return 0;
}

bool sp_peer_running(const struct sp_peer *p)
{
	siginfo_t si = { 0 };

	if (p->pid <= 0)
		return false;
	return waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == 0;
}

int sp_peer_await_err(struct sp_peer *p, const char *text, double deadline)
{
	while (!strstr(sp_peer_slurp(p->err), text)) {
		if (!sp_peer_running(p))
			return errno = ECHILD, -1;
		if (sp_peer_now() >= deadline)
			return errno = ETIMEDOUT, -1;
		usleep(POLL_US);
	}
	return 0;
}

int sp_peer_reap(struct sp_peer *p, double deadline)
{
	int saved = errno, ret = -1, status;
	struct rusage ru;

	if (p->pid <= 0)
		return -1;
	while (sp_peer_now() < deadline) {
		pid_t r = wait4(p->pid, &status, WNOHANG, &ru);

		if (r == p->pid) {
			p->cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
				   (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
			ret = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			break;
		}
		if (r < 0 && errno == ECHILD)     /* not ours (any more): nothing to wait for */
			goto out;
		usleep(POLL_US);
	}
	if (ret < 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
	}
out:
	p->pid = 0;
	errno = saved;
	return ret;
}

int sp_peer_stop(struct sp_peer *p, int sig, double timeout_s)
{
	if (p->pid <= 0)
		return -1;
	kill(p->pid, sig);
	return sp_peer_reap(p, sp_peer_now() + timeout_s);
}

void sp_peer_kill(struct sp_peer *p)
{
	int saved = errno;

	if (!p->name)           /* zeroed: never started */
		return;
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
	}
	if (p->ctl >= 0)
		close(p->ctl);
	p->ctl = -1;
	errno = saved;
}

void sp_peer_drop(struct sp_peer *p)
{
	if (!p->name)
		return;
	sp_peer_kill(p);
	if (p->out[0])
		unlink(p->out);
	if (p->err[0])
		unlink(p->err);
}

const char *sp_peer_slurp(const char *path)
{
	static char bufs[8][65536];
	static unsigned int next;
	char *b = bufs[next++ % 8];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(b, 1, sizeof(bufs[0]) - 1, f) : 0;

	b[n] = '\0';
	if (f)
		fclose(f);
	return b;
}

double sp_peer_json_num(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	return p ? strtod(p + strlen(pat), NULL) : -1;
}

bool sp_peer_json_true(const char *json, const char *key)
{
	char pat[64];

	snprintf(pat, sizeof(pat), "\"%s\":true", key);
	return strstr(json, pat) != NULL;
}

int sp_peer_lines(const char *text)
{
	int n = 0;

	for (; *text; text++)
		n += *text == '\n';
	return n;
}

unsigned long sp_peer_meminfo(const char *key)
{
	char line[128];
	unsigned long v = 0;
	size_t k = strlen(key);
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, k) && line[k] == ':')
			v = strtoul(line + k + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

void sp_peer_cpus(int *first, int *last)
{
	cpu_set_t set;

	*first = *last = 0;
	if (sched_getaffinity(0, sizeof(set), &set))
		return;
	*first = -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set)) {
			if (*first < 0)
				*first = c;
			*last = c;
		}
}

int sp_peer_ctl_open(struct sp_peer *p, const char *path, double deadline)
{
	struct sockaddr_un ua = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 10 };    /* a peer that stopped answering: no hang */

	if (strlen(path) >= sizeof(ua.sun_path))
		return errno = ENAMETOOLONG, -1;
	snprintf(ua.sun_path, sizeof(ua.sun_path), "%s", path);
	for (;;) {
		p->ctl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (p->ctl < 0)
			return -1;
		if (connect(p->ctl, (struct sockaddr *)&ua, sizeof(ua)) == 0)
			break;
		close(p->ctl);
		p->ctl = -1;
		if (!sp_peer_running(p))
			return errno = ECHILD, -1;
		if (sp_peer_now() >= deadline)
			return errno = ETIMEDOUT, -1;
		usleep(POLL_US);
	}
	setsockopt(p->ctl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return 0;
}

const char *sp_peer_vask(struct sp_peer *p, const char *fmt, va_list ap)
{
	static char reply[65536];
	char line[256];
	size_t got = 0;
	int n;

	if (p->ctl < 0)
		return errno = ENOTCONN, NULL;
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	if (n < 0 || n >= (int)sizeof(line) - 1)
		return errno = E2BIG, NULL;
	line[n++] = '\n';
	if (write(p->ctl, line, (size_t)n) != n)
		return NULL;
	for (;;) {
		ssize_t r = read(p->ctl, reply + got, sizeof(reply) - 1 - got);

		if (r <= 0)
			return errno = r < 0 ? errno : EPIPE, NULL;
		got += (size_t)r;
		if (reply[got - 1] == '\n' || got == sizeof(reply) - 1)
			break;
	}
	reply[got - 1] = '\0';
	return reply;
}

const char *sp_peer_ask(struct sp_peer *p, const char *fmt, ...)
{
	const char *reply;
	va_list ap;

	va_start(ap, fmt);
	reply = sp_peer_vask(p, fmt, ap);
	va_end(ap);
	return reply;
}

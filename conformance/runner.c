/* SPDX-License-Identifier: MIT */
/*
 * sp-conformance: runs a chosen set of scenarios on one backend and writes their traces as
 * JSON (format: conformance/README.md). Each scenario runs in its own child process, so a
 * crash or a hang in the implementation under test costs that scenario only.
 */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "sc.h"
#include "sc_runner.h"

struct opts {
	const struct sc_backend *be;
	bool vsock, udp;
	const char *only;
	const char *column;
	const char *out;
	bool netns, fork, list;
	int timeout_s;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool selected(const struct opts *o, const struct sc_scenario *scn)
{
	char list[1024], *save = NULL;

	if ((scn->proto == SC_VSOCK && !o->vsock) || (scn->proto == SC_UDP && !o->udp))
		return false;
	if (!o->only)
		return true;
	snprintf(list, sizeof(list), "%s", o->only);
	for (char *pat = strtok_r(list, ",", &save); pat; pat = strtok_r(NULL, ",", &save))
		if (fnmatch(pat, scn->name, 0) == 0)
			return true;
	return false;
}

/* Our own network namespace with loopback up: UDP traffic cannot leave it. */
static int enter_netns(void)
{
	struct ifreq ifr;
	int fd;

	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "sp-conformance: unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			fprintf(stderr, "sp-conformance: lo up: %s\n", strerror(errno));
	}
	close(fd);
	return 0;
}

static void json_escape(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* Runs one scenario in a child; appends its JSON object to f. */
static void run_one(const struct opts *o, const struct sc_scenario *scn, unsigned int port_base,
		    FILE *f)
{
	char *steps = NULL, *status = NULL, *line;
	size_t steps_len = 0, cap = 1 << 16, used = 0;
	char *buf = malloc(cap);
	double t0 = now_s();
	int p[2], st = 0;
	bool timed_out = false;
	pid_t pid;
	FILE *sf;

	if (!buf) {
		return;
	} else if (o->fork && pipe(p) < 0) {
		free(buf);
		return;
	} else if (!o->fork) {
		/* In-process: a file, since nobody drains a pipe while the scenario writes. */
		FILE *tmp = tmpfile();

		if (!tmp) {
			free(buf);
			return;
		}
		p[1] = dup(fileno(tmp));
		p[0] = dup(fileno(tmp));
		fclose(tmp);
	}
	fflush(NULL);
	pid = o->fork ? fork() : 0;
	if (pid == 0) {
		close(p[0]);
		sc_install_sigpipe_counter();
		sc_run(scn, o->be, port_base, p[1]);
		close(p[1]);
		if (o->fork)
			_exit(0);
	} else if (pid < 0) {
		close(p[1]);
		close(p[0]);
		free(buf);
		return;
	}
	if (o->fork)
		close(p[1]);
	else
		lseek(p[0], 0, SEEK_SET);
	for (;;) {
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		int left = (int)((t0 + o->timeout_s - now_s()) * 1000);
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, left) == 0) {
			timed_out = true;
			break;
		}
		if (used + 4096 > cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		n = read(p[0], buf + used, cap - used - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
	}
	close(p[0]);
	if (o->fork) {
		if (timed_out)
			kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	buf[used] = '\0';

	sf = open_memstream(&steps, &steps_len);
	for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		line = l;
		if (strncmp(line, "{\"status\":", 10) == 0) {
			status = line;
			continue;
		}
		fprintf(sf, "%s\n        %s", ftell(sf) ? "," : "", line);
	}
	fclose(sf);

	fprintf(f, "    {\"name\": ");
	json_escape(f, scn->name);
	fprintf(f, ", \"proto\": \"%s\", \"what\": ", scn->proto == SC_VSOCK ? "vsock" : "udp");
	json_escape(f, scn->what);
	fprintf(f, ", \"duration_ms\": %.0f,\n     ", (now_s() - t0) * 1000);
	if (status) {
		/* {"status":"x","reason":"y"} -> its two members */
		size_t sl = strlen(status);

		fprintf(f, "%.*s", (int)(sl - 2), status + 1);
	} else {
		char why[64];

		if (timed_out)
			snprintf(why, sizeof(why), "timeout after %d s", o->timeout_s);
		else if (WIFSIGNALED(st))
			snprintf(why, sizeof(why), "crashed: signal %d (%s)", WTERMSIG(st),
				 strsignal(WTERMSIG(st)));
		else
			snprintf(why, sizeof(why), "ended without a status (exit %d)",
				 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		fprintf(f, "\"status\":\"error\",\"reason\":\"%s\"", why);
	}
	fprintf(f, ",\n     \"steps\": [%s\n     ]}", steps ? steps : "");
	free(steps);
	free(buf);
	fprintf(stderr, "sp-conformance: %-40s %s\n", scn->name,
		status ? (strstr(status, "\"ok\"") ? "ok" : status) : (timed_out ? "timeout" : "crashed"));
}

static void usage(void)
{
	fprintf(stderr,
		"usage: sp-conformance [--backend kernel|sendpath] [--proto vsock,udp] [--only GLOB,...]\n"
		"                      [--column NAME] [--out FILE] [--netns] [--allow-kernel-vsock]\n"
		"                      [--timeout SEC] [--settle-ms MS] [--no-fork] [--list]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "proto", required_argument, NULL, 'p' },
		{ "only", required_argument, NULL, 'o' },
		{ "column", required_argument, NULL, 'c' },
		{ "out", required_argument, NULL, 'w' },
		{ "netns", no_argument, NULL, 'n' },
		{ "allow-kernel-vsock", no_argument, NULL, 'V' },
		{ "timeout", required_argument, NULL, 't' },
		{ "settle-ms", required_argument, NULL, 's' },
		{ "no-fork", no_argument, NULL, 'F' },
		{ "list", no_argument, NULL, 'l' },
		{ "has-sendpath", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	const struct sc_scenario *sets[] = { sc_vsock_scenarios, sc_udp_scenarios };
	struct opts o = { .be = &sc_kernel_backend, .vsock = true, .udp = true, .fork = true,
			  .timeout_s = 20 };
	struct utsname u;
	unsigned int idx = 0;
	double t0 = now_s();
	FILE *f = stdout;
	int c, n = 0;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (strcmp(optarg, "kernel") == 0)
				o.be = &sc_kernel_backend;
			else if (strcmp(optarg, "sendpath") == 0)
				o.be = &sc_sendpath_backend;
			else
				usage();
			break;
		case 'p':
			o.vsock = strstr(optarg, "vsock") != NULL;
			o.udp = strstr(optarg, "udp") != NULL;
			break;
		case 'o': o.only = optarg; break;
		case 'c': o.column = optarg; break;
		case 'w': o.out = optarg; break;
		case 'n': o.netns = true; break;
		case 'V': sc_kernel_vsock_allowed = true; break;
		case 't': o.timeout_s = atoi(optarg); break;
		case 's': sc_settle_ms = atoi(optarg); break;
		case 'F': o.fork = false; break;
		case 'l': o.list = true; break;
		case 'H': return sc_sendpath_built ? 0 : 1;
		default: usage();
		}
	}
	if (o.list) {
		for (size_t s = 0; s < 2; s++)
			for (const struct sc_scenario *scn = sets[s]; scn->name; scn++)
				if (selected(&o, scn))
					printf("%-6s %-40s %s\n", scn->proto == SC_VSOCK ? "vsock" : "udp",
					       scn->name, scn->what);
		return 0;
	}
	if (o.netns && enter_netns() < 0)
		return 1;
	if (o.out && !(f = fopen(o.out, "w"))) {
		fprintf(stderr, "sp-conformance: %s: %s\n", o.out, strerror(errno));
		return 1;
	}
	uname(&u);
	fprintf(f, "{\"format\": \"sp-conformance-trace/1\",\n \"backend\": \"%s\",\n \"column\": ",
		o.be->name);
	json_escape(f, o.column ? o.column : o.be->name);
	fprintf(f, ",\n \"kernel\": ");
	json_escape(f, u.release);
	fprintf(f, ",\n \"scenarios\": [\n");
	for (size_t s = 0; s < 2; s++) {
		for (const struct sc_scenario *scn = sets[s]; scn->name; scn++, idx++) {
			if (!selected(&o, scn))
				continue;
			if (n++)
				fprintf(f, ",\n");
			run_one(&o, scn, 20000 + idx * 4, f);
			fflush(f);
		}
	}
	fprintf(f, "\n ],\n \"duration_s\": %.2f}\n", now_s() - t0);
	if (f != stdout)
		fclose(f);
	return 0;
}

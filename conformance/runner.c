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

#define MAX_SCENARIOS 512

struct opts {
	const struct sc_backend *be;
	bool vsock, udp;
	const char *only;
	const char *column;
	const char *out;
	bool netns, fork, list;
	int timeout_s, jobs, lo_mtu;
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

/* Our own network namespace: UDP traffic cannot leave it. */
static int enter_netns(void)
{
	FILE *f;

	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "sp-conformance: unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	/*
	 * The kernel limits ICMP errors per destination except on loopback; sendpath's address
	 * sits behind a tap, so without this a scenario's port unreachable could be swallowed
	 * because an earlier scenario drew one. Only this namespace is changed.
	 */
	f = fopen("/proc/sys/net/ipv4/icmp_ratelimit", "w");
	if (f) {
		fputs("0\n", f);
		fclose(f);
	}
	return 0;
}

/*
 * Loopback up, with an Ethernet-sized MTU when asked: then the kernel fragments and refuses
 * (IP_PMTUDISC_DO) at the same sizes as sendpath on its 1500-byte link.
 */
static int loopback_up(int mtu)
{
	struct ifreq ifr;
	int fd;

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
	if (mtu > 0) {
		ifr.ifr_mtu = mtu;
		if (ioctl(fd, SIOCSIFMTU, &ifr) < 0)
			fprintf(stderr, "sp-conformance: lo mtu %d: %s\n", mtu, strerror(errno));
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

/* One scenario in flight: its child, and the file its trace lines go to. */
struct job {
	const struct sc_scenario *scn;
	pid_t pid;
	int fd;
	double t0;
	bool done, timed_out;
	int st;
	char *json;		/* its object in the output, once done */
};

static void job_start(const struct opts *o, struct job *j, unsigned int port_base)
{
	FILE *tmp = tmpfile();

	j->t0 = now_s();
	j->fd = tmp ? dup(fileno(tmp)) : -1;
	if (tmp)
		fclose(tmp);
	if (j->fd < 0) {
		j->done = true;
		j->pid = -1;
		return;
	}
	fflush(NULL);
	j->pid = o->fork ? fork() : 0;
	if (j->pid == 0) {
		sc_install_sigpipe_counter();
		sc_run(j->scn, o->be, port_base, j->fd);
		if (o->fork)
			_exit(0);
		j->done = true;
	} else if (j->pid < 0) {
		j->done = true;
	}
}

/* Turns the child's trace lines and its end into the scenario's JSON object. */
static void job_finish(const struct opts *o, struct job *j)
{
	char *steps = NULL, *status = NULL, *buf = NULL, *json = NULL;
	size_t steps_len = 0, json_len = 0, used = 0, cap = 1 << 16;
	FILE *sf, *f;
	ssize_t n;

	buf = malloc(cap);
	lseek(j->fd, 0, SEEK_SET);
	while (buf && (n = read(j->fd, buf + used, cap - used - 1)) > 0) {
		used += (size_t)n;
		if (used + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
	}
	close(j->fd);
	if (!buf)
		return;
	buf[used] = '\0';

	sf = open_memstream(&steps, &steps_len);
	for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, "{\"status\":", 10) == 0) {
			status = l;
			continue;
		}
		fprintf(sf, "%s\n        %s", ftell(sf) ? "," : "", l);
	}
	fclose(sf);

	f = open_memstream(&json, &json_len);
	fprintf(f, "    {\"name\": ");
	json_escape(f, j->scn->name);
	fprintf(f, ", \"proto\": \"%s\", \"what\": ", j->scn->proto == SC_VSOCK ? "vsock" : "udp");
	json_escape(f, j->scn->what);
	fprintf(f, ", \"duration_ms\": %.0f,\n     ", (now_s() - j->t0) * 1000);
	if (status) {
		/* {"status":"x","reason":"y"} -> its two members */
		fprintf(f, "%.*s", (int)(strlen(status) - 2), status + 1);
	} else {
		char why[96];

		if (j->timed_out)
			snprintf(why, sizeof(why), "timeout after %d s", o->timeout_s);
		else if (WIFSIGNALED(j->st))
			snprintf(why, sizeof(why), "crashed: signal %d (%s)", WTERMSIG(j->st),
				 strsignal(WTERMSIG(j->st)));
		else
			snprintf(why, sizeof(why), "ended without a status (exit %d)",
				 WIFEXITED(j->st) ? WEXITSTATUS(j->st) : -1);
		fprintf(f, "\"status\":\"error\",\"reason\":\"%s\"", why);
	}
	fprintf(f, ",\n     \"steps\": [%s\n     ]}", steps ? steps : "");
	fclose(f);
	j->json = json;
	fprintf(stderr, "sp-conformance: %-40s %s\n", j->scn->name,
		status ? (strstr(status, "\"ok\"") ? "ok" : status) :
		(j->timed_out ? "timeout" : "crashed"));
	free(steps);
	free(buf);
}

/* Runs the scenarios, up to o->jobs at once, and writes their objects to f in order. */
static void run_all(const struct opts *o, struct job *jobs, unsigned int n, const unsigned int *ports,
		    FILE *f)
{
	unsigned int next = 0, running = 0, written = 0;

	while (written < n) {
		while (next < n && running < (unsigned int)o->jobs) {
			job_start(o, &jobs[next], ports[next]);
			if (jobs[next].pid > 0)
				running++;
			else
				job_finish(o, &jobs[next]);
			next++;
		}
		for (unsigned int i = written; i < next; i++) {
			struct job *j = &jobs[i];
			pid_t r;

			if (j->done || j->pid <= 0)
				continue;
			r = waitpid(j->pid, &j->st, WNOHANG);
			if (r == 0 && now_s() - j->t0 > o->timeout_s) {
				kill(j->pid, SIGKILL);
				waitpid(j->pid, &j->st, 0);
				j->timed_out = true;
				r = j->pid;
			}
			if (r == j->pid) {
				j->done = true;
				running--;
				job_finish(o, j);
			}
		}
		while (written < next && jobs[written].done) {
			if (written)
				fprintf(f, ",\n");
			fputs(jobs[written].json ? jobs[written].json : "{}", f);
			free(jobs[written].json);
			fflush(f);
			written++;
		}
		if (written < n)
			usleep(2000);
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: sp-conformance [--backend kernel|sendpath] [--proto vsock,udp] [--only GLOB,...]\n"
		"                      [--column NAME] [--out FILE] [--netns] [--allow-kernel-vsock]\n"
		"                      [--timeout SEC] [--settle-ms MS] [--jobs N] [--lo-mtu N]\n"
		"                      [--read-wait-ms MS]\n"
		"                      [--no-fork] [--list] [--has-sendpath]\n");
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
		{ "jobs", required_argument, NULL, 'j' },
		{ "lo-mtu", required_argument, NULL, 'M' },
		{ "read-wait-ms", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	const struct sc_scenario *sets[] = { sc_vsock_scenarios, sc_udp_scenarios };
	struct opts o = { .be = &sc_kernel_backend, .vsock = true, .udp = true, .fork = true,
			  .timeout_s = 20, .jobs = 1 };
	static struct job jobs[MAX_SCENARIOS];
	static unsigned int ports[MAX_SCENARIOS];
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
		case 'M': o.lo_mtu = atoi(optarg); break;
		case 'R': sc_read_wait_ms = atoi(optarg); break;
		case 'j': o.jobs = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
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
	if ((o.netns || o.lo_mtu) && loopback_up(o.lo_mtu) < 0)
		return 1;
	sc_in_own_netns = o.netns;
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
			if (!selected(&o, scn) || n >= MAX_SCENARIOS)
				continue;
			jobs[n].scn = scn;
			ports[n++] = 20000 + idx * 4;
		}
	}
	if (!o.fork)
		o.jobs = 1;
	run_all(&o, jobs, (unsigned int)n, ports, f);
	fprintf(f, "\n ],\n \"duration_s\": %.2f}\n", now_s() - t0);
	if (f != stdout)
		fclose(f);
	return 0;
}

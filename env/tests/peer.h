/* SPDX-License-Identifier: MIT */
/*
 * A peer program (sp-net-sink, sp-vhost-vsock, dpdk-testpmd, ...) run as a
 * child: started with its stdout and stderr in files, waited for (a line on
 * stderr, or its control socket), scripted, stopped and reaped within a
 * deadline, its JSON read back. Reaping and killing keep errno, so a caller
 * may read the errno of a call that saw its peer die after reaping it.
 *
 * Two meson dependencies: sp_peer, these calls alone (no Criterion, no DPDK:
 * a tool such as the conformance runner may use it), and sp_testpeer, which
 * adds the four calls at the end for Criterion tests: the same waits, but a
 * failure fails the test in one line with the peer's stderr, never a hang.
 */
#ifndef SP_TEST_PEER_H
#define SP_TEST_PEER_H

#include <stdarg.h>
#include <stdbool.h>
#include <sys/types.h>

struct sp_peer {
	const char *name;            /* in messages and in the file names */
	pid_t pid;                   /* 0 once reaped */
	int ctl;                     /* control socket, or -1 */
	char out[96], err[96];       /* its stdout and stderr, under /tmp */
	double cpu_s;                /* user + system time, set when reaped */
};

/* CLOCK_MONOTONIC in seconds: the clock every deadline here is on. */
double sp_peer_now(void);

/* The binary $env names, or NULL when it is unset or not executable. */
const char *sp_peer_bin(const char *env);

/*
 * Starts argv[0] (looked up in PATH when it has no slash) with stdout and
 * stderr in /tmp/sp-<name>-<caller pid>.{out,err}; it is killed if the caller
 * dies. 0, or -1 when fork failed.
 */
int sp_peer_spawn(struct sp_peer *p, const char *name, char *const argv[]);

/* Whether it has not exited yet (an exited peer stays to be reaped). */
bool sp_peer_running(const struct sp_peer *p);

/* Waits until text appears on the peer's stderr: 0, or -1 with ECHILD (it exited) or ETIMEDOUT. */
int sp_peer_await_err(struct sp_peer *p, const char *text, double deadline);

/* Waits for the peer's exit: its status, 128 + signal, or -1 (killed at the deadline). */
int sp_peer_reap(struct sp_peer *p, double deadline);

/* Sends sig and reaps within timeout_s (SIGKILL after it); as sp_peer_reap. */
int sp_peer_stop(struct sp_peer *p, int sig, double timeout_s);

/* SIGKILL, reaped, control socket closed; nothing if it is not running. */
void sp_peer_kill(struct sp_peer *p);

/* sp_peer_kill, and its output files removed. */
void sp_peer_drop(struct sp_peer *p);

/*
 * Connects to the peer's control socket at path, which appears once it serves:
 * 0, or -1 with ECHILD (it exited), ETIMEDOUT, or the socket call's errno.
 */
int sp_peer_ctl_open(struct sp_peer *p, const char *path, double deadline);

/*
 * One command line to the control socket (newline added); the reply line
 * (without it), or NULL with errno (EPIPE: the peer closed it). Replies wait
 * at most 10 s. The reply buffer is static: one reply at a time.
 */
const char *sp_peer_ask(struct sp_peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *sp_peer_vask(struct sp_peer *p, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/*
 * A file's first 64 KiB as a string (empty if absent). The buffer is one of
 * eight used in turn, so a few reads may stand in one message.
 */
const char *sp_peer_slurp(const char *path);

/* The number after "key": in a JSON line (the first one); -1 when absent. */
double sp_peer_json_num(const char *json, const char *key);

/* Whether the JSON line has "key":true. */
bool sp_peer_json_true(const char *json, const char *key);

/* Lines in a captured output: a refusal must be one. */
int sp_peer_lines(const char *text);

/* A /proc/meminfo value (key without the colon, e.g. "HugePages_Free"); 0 when absent. */
unsigned long sp_peer_meminfo(const char *key);

/* The first and last CPU this process may run on: two peers go one on each. */
void sp_peer_cpus(int *first, int *last);

/* --- Criterion tests (sp_testpeer): as above, a failure fails the test --- */

void sp_peer_start(struct sp_peer *p, const char *name, char *const argv[]);
void sp_peer_wait_err(struct sp_peer *p, const char *text, double deadline);
void sp_peer_ctl_connect(struct sp_peer *p, const char *path, double deadline);
const char *sp_peer_ctl(struct sp_peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

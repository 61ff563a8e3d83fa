/* SPDX-License-Identifier: MIT */
/* Peer processes of a benchmark point: started with a log, stopped by signal, reaped with a deadline. */
#ifndef SP_BENCH_PROC_H
#define SP_BENCH_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Starts argv[0] (PATH searched) with stdout+stderr to log. With stdin_fd the
 * child reads a pipe whose write end is returned there; otherwise /dev/null.
 * Returns the pid or -1.
 */
pid_t proc_spawn(char *const argv[], const char *log, int *stdin_fd);
/* Writes a command line to a child's stdin pipe. */
int proc_say(int fd, const char *line);
/* Sends sig, waits up to `seconds`, then SIGKILL. Returns the exit status (or -1). */
int proc_stop(pid_t pid, int sig, double seconds);
/* True while pid runs (not yet reaped). */
bool proc_alive(pid_t pid);
/* Waits until path exists, up to seconds (false on timeout or when pid died). */
bool proc_wait_path(const char *path, pid_t pid, double seconds);
/* Reads a whole (small) file into a malloc'd string. */
char *proc_slurp(const char *path);
/*
 * The result a child process writes to fd: reads exactly len bytes into buf,
 * closes fd and reaps the child. True when all len bytes came.
 */
bool proc_read_result(pid_t child, int fd, void *buf, size_t len);
/* Hugepages free right now for two DPDK processes of mem_mb each (same rule as env/sp_env.c). */
bool proc_hugepages_ok(unsigned int mem_mb);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The control socket: a UNIX stream socket (mode 0600) taking one command
 * per line and answering one line per command. It only moves lines; what a
 * line means is the handler's business. Served from the polling thread, so
 * handlers see the device state between two bursts.
 */
#ifndef VB_CTL_H
#define VB_CTL_H

#include <poll.h>
#include <stdio.h>

#define CTL_MAX_CLIENTS 4
#define CTL_LINE_MAX 512

typedef void (*ctl_handler_t)(void *arg, const char *line, FILE *reply);

struct ctl_client {
	int fd;
	size_t len;
	char buf[CTL_LINE_MAX];
};

struct ctl {
	int lfd;
	char path[108];
	struct ctl_client cl[CTL_MAX_CLIENTS];
	ctl_handler_t handler;
	void *arg;
};

int ctl_open(struct ctl *c, const char *path, ctl_handler_t handler, void *arg);
void ctl_close(struct ctl *c);
/* Adds the fds to wait on to p; returns how many. */
int ctl_pollfds(const struct ctl *c, struct pollfd *p);
/* Accepts, reads and answers whatever is ready; never blocks. */
void ctl_serve(struct ctl *c);

#endif

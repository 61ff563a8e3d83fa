/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "ctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int ctl_open(struct ctl *c, const char *path, ctl_handler_t handler, void *arg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old_mask;
	int r;

	memset(c, 0, sizeof(*c));
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		c->cl[i].fd = -1;
	c->handler = handler;
	c->arg = arg;
	if (strlen(path) >= sizeof(sa.sun_path) || strlen(path) >= sizeof(c->path)) {
		fprintf(stderr, "sp-vhost-vsock: control path too long: %s\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	strcpy(c->path, path);
	c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->lfd < 0)
		return -1;
	old_mask = umask(0177);
	r = bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_mask);
	if (r < 0 || listen(c->lfd, 4) < 0) {
		fprintf(stderr, "sp-vhost-vsock: cannot listen on control socket %s: %s\n", path,
			strerror(errno));
		close(c->lfd);
		c->lfd = -1;
		return -1;
	}
	return 0;
}

static void drop(struct ctl_client *cl)
{
	close(cl->fd);
	cl->fd = -1;
	cl->len = 0;
}

void ctl_close(struct ctl *c)
{
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (c->cl[i].fd >= 0)
			drop(&c->cl[i]);
	if (c->lfd >= 0) {
		close(c->lfd);
		unlink(c->path);
		c->lfd = -1;
	}
}

int ctl_pollfds(const struct ctl *c, struct pollfd *p)
{
	int n = 0;

	if (c->lfd < 0)
		return 0;
	p[n++] = (struct pollfd){ .fd = c->lfd, .events = POLLIN };
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (c->cl[i].fd >= 0)
			p[n++] = (struct pollfd){ .fd = c->cl[i].fd, .events = POLLIN };
	return n;
}

static void answer(struct ctl *c, struct ctl_client *cl, const char *line)
{
	char *out = NULL;
	size_t len = 0, done = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return;
	c->handler(c->arg, line, f);
	fputc('\n', f);
	fclose(f);
	/* Replies are short; a client that cannot take one is dropped, never waited for. */
	while (done < len) {
		ssize_t w = send(cl->fd, out + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			drop(cl);
			break;
		}
		done += (size_t)w;
	}
	free(out);
}

static void serve_client(struct ctl *c, struct ctl_client *cl)
{
	ssize_t r = recv(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - 1 - cl->len, MSG_DONTWAIT);
	char *nl;

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		drop(cl);
		return;
	}
	cl->len += (size_t)r;
	cl->buf[cl->len] = '\0';
	while (cl->fd >= 0 && (nl = strchr(cl->buf, '\n'))) {
		*nl = '\0';
		answer(c, cl, cl->buf);
		if (cl->fd < 0)
			return;
		cl->len -= (size_t)(nl + 1 - cl->buf);
		memmove(cl->buf, nl + 1, cl->len + 1);
	}
	if (cl->len == sizeof(cl->buf) - 1) {
		/* A line longer than any command: say so and hang up. */
		send(cl->fd, "err line too long\n", 18, MSG_NOSIGNAL | MSG_DONTWAIT);
		drop(cl);
	}
}

void ctl_serve(struct ctl *c)
{
	int fd;

	if (c->lfd < 0)
		return;
	while ((fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		int i;

		for (i = 0; i < CTL_MAX_CLIENTS && c->cl[i].fd >= 0; i++)
			;
		if (i == CTL_MAX_CLIENTS) {
			send(fd, "err too many control clients\n", 29, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		c->cl[i].fd = fd;
		c->cl[i].len = 0;
	}
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (c->cl[i].fd >= 0)
			serve_client(c, &c->cl[i]);
}

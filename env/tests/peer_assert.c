/* SPDX-License-Identifier: MIT */
/* Peer processes in Criterion tests: the waits of peer.c, failing the test in one line. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "peer.h"

void sp_peer_start(struct sp_peer *p, const char *name, char *const argv[])
{
	cr_assert_eq(sp_peer_spawn(p, name, argv), 0, "fork for %s: %s", name, strerror(errno));
}

void sp_peer_wait_err(struct sp_peer *p, const char *text, double deadline)
{
	int err;

	if (sp_peer_await_err(p, text, deadline) == 0)
		return;
	err = errno;
	cr_assert_fail("%s %s '%s': %s", p->name, err == ECHILD ? "exited before it said" : "did not say",
		       text, sp_peer_slurp(p->err));
}

void sp_peer_ctl_connect(struct sp_peer *p, const char *path, double deadline)
{
	int err;

	if (sp_peer_ctl_open(p, path, deadline) == 0)
		return;
	err = errno;
	cr_assert_fail("%s: control socket %s: %s: %s", p->name, path,
		       err == ECHILD ? "the peer exited" : err == ETIMEDOUT ? "never opened" : strerror(err),
		       sp_peer_slurp(p->err));
}

const char *sp_peer_ctl(struct sp_peer *p, const char *fmt, ...)
{
	const char *reply;
	va_list ap;
	int err;

	va_start(ap, fmt);
	reply = sp_peer_vask(p, fmt, ap);
	va_end(ap);
	if (reply)
		return reply;
	err = errno;
	cr_assert_fail("%s control socket: %s; its stderr: %s", p->name,
		       err == EPIPE ? "closed" : strerror(err), sp_peer_slurp(p->err));
	return NULL;
}

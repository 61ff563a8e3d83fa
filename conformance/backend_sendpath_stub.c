/* SPDX-License-Identifier: MIT */
/*
 * The sendpath backend where the stack is not built in (e.g. the static runner of the
 * reference guest): every scenario on it is reported as skipped, with this reason.
 */
#include <errno.h>

#include "sc.h"

static int stub_init(enum sc_proto proto, unsigned int port_base)
{
	(void)proto;
	(void)port_base;
	sc_backend_why = "sendpath stack not built into this runner";
	errno = ENOSYS;
	return -1;
}

const bool sc_sendpath_built = false;

const struct sc_backend sc_sendpath_backend = {
	.name = "sendpath",
	.init = stub_init,
};

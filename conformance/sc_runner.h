/* SPDX-License-Identifier: MIT */
/* Knobs the runner sets for the backends. */
#ifndef SC_RUNNER_H
#define SC_RUNNER_H

#include <stdbool.h>

extern bool sc_kernel_vsock_allowed;	/* only inside the reference guest (or a user's own VM) */
extern int sc_settle_ms;		/* how long control packets get to cross */
extern bool sc_in_own_netns;
extern int sc_read_wait_ms;		/* how long a peer read waits for what is missing */		/* the runner made its own network namespace */

#endif

/* SPDX-License-Identifier: MIT */
#include "vsock_proto.h"

/* Filled in by the pmd work: encode/decode/check. */

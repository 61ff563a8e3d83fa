/* SPDX-License-Identifier: MIT */
/*
 * The socket layer's inside: struct sp_sock (≈ struct socket + the generic
 * part of struct sock), the protocol ops table behind it (≈ struct proto_ops)
 * and the family table (≈ net_proto_family). stack/socket.c owns descriptors,
 * argument normalisation and SOL_SOCKET options; a protocol file (udp.c,
 * vsock.c) fills a struct sp_family and a struct sp_proto_ops and never sees a
 * user-space msghdr that has not been checked the way net/socket.c checks it.
 *
 * Conventions, as in the kernel: ops return a count or a negative errno
 * (-EAGAIN), never set errno; socket.c turns that into -1/errno for the user.
 * Single-threaded: one thread drives a stack (sp_* calls and sp_poll).
 *
 * Adding a protocol: define `const struct sp_family sp_<name>_family` in its
 * own file and add the file to stack/meson.build. The family list below
 * references each family weakly, so a family whose file is not built is simply
 * absent (socket() then gives EAFNOSUPPORT, as for a missing kernel module).
 */
#ifndef SP_SOCK_H
#define SP_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <linux/net.h>          /* socket_state: SS_UNCONNECTED, SS_CONNECTED, ... */

#include "sendpath.h"

/* sk->shutdown bits (the kernel's RCV_SHUTDOWN / SEND_SHUTDOWN). */
#define SP_RCV_SHUTDOWN  1
#define SP_SEND_SHUTDOWN 2

/* The kernel's MAX_RW_COUNT: one call moves at most this many bytes. */
#define SP_MAX_RW_COUNT  (INT32_MAX & ~4095)

/* Timeouts are kept in jiffies of Debian's CONFIG_HZ=250, so SO_SNDTIMEO reads back as the kernel's. */
#define SP_HZ            250
#define SP_TIMEO_MAX     INT64_MAX      /* MAX_SCHEDULE_TIMEOUT: wait forever */

/* MSG_CMSG_COMPAT as a 64-bit kernel defines it; sendmsg/sendmmsg refuse it with EINVAL. */
#define SP_MSG_CMSG_COMPAT 0x80000000u

struct sp_sock;
struct sp_init_cfg;

/*
 * One message to send, already checked and normalised by socket.c in the
 * order of ___sys_sendmsg / __sys_sendto:
 *   name/namelen: NULL/0 when the caller gave none; namelen <= sizeof(sockaddr_storage);
 *                 the caller's memory, not a copy. sendto() can pass a name with
 *                 namelen 0 (the kernel does too): check namelen before reading;
 *   iov/iovlen:   the caller's vector (never copied), iovlen <= UIO_MAXIOV,
 *                 every iov_len >= 0; base pointers are NOT checked (the kernel
 *                 faults on them only when it copies: use sp_iter_copy);
 *   len:          the total, capped at SP_MAX_RW_COUNT like the kernel caps it;
 *   control:      the caller's cmsg buffer, or NULL/0;
 *   flags:        the call's flags, MSG_DONTWAIT added for O_NONBLOCK,
 *                 MSG_EOR added from msg_flags for sendmmsg entries.
 * ret is written by the protocol: bytes accepted or -errno.
 */
struct sp_msg {
	const struct sockaddr *name;
	socklen_t namelen;
	const struct iovec *iov;
	size_t iovlen;
	size_t len;
	const void *control;
	size_t controllen;
	int flags;
	ssize_t ret;
};

/* Walks a message's bytes in order (≈ struct iov_iter). */
struct sp_iov_iter {
	const struct iovec *iov;
	size_t nr, idx, off;    /* segment index and offset inside it */
	size_t left;            /* bytes still to copy, <= msg->len */
};

/*
 * ≈ struct proto_ops. Every member is optional except release; a missing one
 * gives the kernel's answer for a socket type without it (sock_no_*: EOPNOTSUPP).
 */
struct sp_proto_ops {
	int (*bind)(struct sp_sock *sk, const struct sockaddr *addr, socklen_t len);
	/* flags: the file flags (O_NONBLOCK), as the kernel passes f_flags. */
	int (*connect)(struct sp_sock *sk, const struct sockaddr *addr, socklen_t len, int flags);
	/* Writes the address into *addr (room: sizeof(sockaddr_storage)); returns its length. */
	int (*getname)(struct sp_sock *sk, struct sockaddr *addr, int peer);
	/* Sends one message; returns bytes sent or -errno (also stored in m->ret). */
	ssize_t (*sendmsg)(struct sp_sock *sk, struct sp_msg *m);
	/*
	 * Sends a vector as one burst: n is the whole sendmmsg vector (up to
	 * UIO_MAXIOV, never cut into chunks), so the protocol queues all of it
	 * and notifies once. Sets m[i].ret for messages 0..k-1 in order
	 * and returns k: it stops after the first message that failed (ret < 0) or
	 * went out short (ret < len), exactly where __sys_sendmmsg's loop stops.
	 * NULL: socket.c calls sendmsg for each.
	 */
	unsigned int (*sendmmsg)(struct sp_sock *sk, struct sp_msg *m, unsigned int n);
	/* m: the normalised buffers; msg: the caller's msghdr for name/msg_flags out, or NULL. */
	ssize_t (*recvmsg)(struct sp_sock *sk, struct sp_msg *m, struct msghdr *msg);
	/* how is the caller's value (SHUT_RD/WR/RDWR), unchecked: protocols check it in their own order. */
	int (*shutdown)(struct sp_sock *sk, int how);
	/* close(): frees sk->priv. After it the descriptor is gone whatever happened. */
	void (*release)(struct sp_sock *sk);
	/* Levels other than SOL_SOCKET (a NULL hook: EOPNOTSUPP). SOL_SOCKET goes to socket.c first;
	 * options it does not know are offered here, and -ENOPROTOOPT from here is the answer. */
	int (*setsockopt)(struct sp_sock *sk, int level, int name, const void *val, socklen_t len);
	int (*getsockopt)(struct sp_sock *sk, int level, int name, void *val, socklen_t *len);
	/* Protocol ioctls (SIOCOUTQ, SIOCINQ); -ENOTTY when unknown. FIONBIO is generic. */
	int (*ioctl)(struct sp_sock *sk, unsigned long req, void *arg);
	/* Readiness now: POLLOUT/POLLIN/POLLERR/POLLHUP bits. Optional. */
	unsigned int (*poll)(struct sp_sock *sk);
};

/*
 * ≈ net_proto_family plus the protocol's module init/exit. One per
 * (domain, type) pair served. init runs in sp_init: 0 = active, -ENODEV = not
 * configured (the family stays inactive, no error), other -errno fails sp_init:
 * a device that was named but is not there must not be -ENODEV (use -ENXIO).
 */
struct sp_family {
	const char *name;
	int domain;             /* AF_INET, AF_VSOCK */
	int type;               /* SOCK_DGRAM, SOCK_STREAM */
	int protocol;           /* the protocol number it also accepts besides 0 */
	/* Fills sk->ops and sk->priv (and sk->protocol); -errno refuses the socket. */
	int (*create)(struct sp_sock *sk, int protocol);
	int (*init)(const struct sp_init_cfg *cfg);
	void (*fini)(void);
	/* Receive and completion processing for the whole protocol; returns work done. sp_poll calls it. */
	int (*progress)(void);
};

/* ≈ struct socket + the generic part of struct sock. */
struct sp_sock {
	int fd;
	int domain, type, protocol;
	socket_state state;     /* SS_UNCONNECTED, SS_CONNECTING, SS_CONNECTED, ... */
	int f_flags;            /* file flags: O_NONBLOCK (sp_fcntl, FIONBIO, SOCK_NONBLOCK) */
	int fd_flags;           /* FD_CLOEXEC */
	int shutdown;           /* SP_RCV_SHUTDOWN | SP_SEND_SHUTDOWN */
	int err;                /* pending error for SO_ERROR (positive errno), as sk_err */
	int64_t sndtimeo;       /* jiffies (SP_HZ); SP_TIMEO_MAX = forever, 0 = never wait */
	int64_t rcvtimeo;
	int sndbuf, rcvbuf;     /* bytes, doubled as the kernel doubles them */
	int priority;
	bool broadcast;         /* SO_BROADCAST */
	bool reuseaddr;         /* SO_REUSEADDR */
	const struct sp_family *family;
	const struct sp_proto_ops *ops;
	void *priv;             /* the protocol's own socket */
};

/* --- family table (init.c) --- */

/* Built-in families, referenced weakly: a protocol file that is not built leaves NULL here. */
extern const struct sp_family sp_udp_family __attribute__((weak));
extern const struct sp_family sp_vsock_family __attribute__((weak));

/* Adds a family at run time (tests, plug-ins); it is active at once. 0 or -errno. */
int sp_family_register(const struct sp_family *f);
/* The active family for (domain, type): 0, or -EAFNOSUPPORT / -ESOCKTNOSUPPORT as socket() says. */
int sp_family_lookup(int domain, int type, const struct sp_family **out);

/* --- helpers for protocols (socket.c) --- */

/* The socket behind a descriptor, or NULL (no errno set). For protocols and tests. */
struct sp_sock *sp_sock_lookup(int fd);
/* Closes every open socket (sp_fini). */
void sp_sock_close_all(void);

/* ≈ sock_sndtimeo(): how long a send may wait, in ns; 0 with MSG_DONTWAIT, INT64_MAX = forever. */
int64_t sp_sock_sndtimeo_ns(const struct sp_sock *sk, int flags);
uint64_t sp_now_ns(void);

/* ≈ sock_error(): takes the pending error, returns it negative, or 0. */
int sp_sock_error(struct sp_sock *sk);

/*
 * EPIPE from a send: raises SIGPIPE in the calling thread unless MSG_NOSIGNAL.
 * The protocol decides when (vsock does, UDP never does). Returns err.
 */
int sp_sock_epipe(int err, int flags);

/* Byte iteration over a message; copy returns bytes copied, or -EFAULT at a NULL base. */
void sp_iter_init(struct sp_iov_iter *it, const struct sp_msg *m);
ssize_t sp_iter_copy(struct sp_iov_iter *it, void *dst, size_t n);
/* Copies into a caller's iovecs (recv side); returns bytes or -EFAULT. */
ssize_t sp_iter_copy_to(struct sp_iov_iter *it, const void *src, size_t n);

/* x86-64 access_ok(): the kernel's EFAULT for pointers outside user space, before any copy. */
static inline bool sp_access_ok(const void *p, size_t len)
{
	const uintptr_t limit = (1ul << 47) - 4096;     /* TASK_SIZE_MAX, 4-level paging */

	return len <= limit && (uintptr_t)p <= limit - len;
}

/* sp_poll without the public header's return semantics: runs every active family's progress. */
int sp_progress(void);

#endif

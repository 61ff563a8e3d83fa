/* SPDX-License-Identifier: MIT */
/*
 * Conformance scenarios: written once against a backend ops table, run on the kernel and on
 * sendpath, and compared by their traces.
 *
 * A scenario drives the socket under test through sc_*() calls. Each call goes to the
 * backend, and one trace step records what a user would see: the call with its arguments in
 * backend-neutral words (descriptors by label, addresses by role), the return value, errno,
 * SIGPIPEs delivered during the call, and for peer steps what the peer received.
 */
#ifndef SC_H
#define SC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

enum sc_proto { SC_VSOCK, SC_UDP };

/* Addresses a scenario names by role; the backend gives the concrete value. */
enum sc_addr_role {
	SC_ADDR_PEER,		/* the listening/receiving peer */
	SC_ADDR_REFUSED,	/* a port where nobody listens */
	SC_ADDR_BCAST,		/* UDP: a broadcast address on the peer's port */
	SC_ADDR_LOCAL,		/* an address of our own, port 0 (bind) */
	SC_ADDR_LOCAL_PORT,	/* an address of our own, fixed port (bind twice) */
	SC_ADDR_PEER_PORT0,	/* the peer's host with port 0 */
};

/*
 * What the peer did. A stream peer tells how much it holds of the whole stream and its
 * CRC-32C, which the framework checks against what was sent; a datagram peer writes a note.
 */
struct sc_peer_result {
	long ret;		/* bytes (stream) or datagrams (UDP) this call; -1 with err */
	int err;
	bool eof;		/* stream: the sender's end was seen (read returned 0) */
	bool has_stream;
	uint64_t stream_total;	/* bytes the peer received on this connection in all */
	uint32_t stream_crc;	/* crc32c (Castagnoli, init ~0, no final xor) of those */
	char note[256];		/* datagrams: e.g. "dgrams=2 lens=[100,200] fnv=..." */
};

/* CRC-32C as DPDK's rte_hash_crc computes it (no final inversion). */
uint32_t sc_crc32c(uint32_t crc, const void *buf, size_t len);

/*
 * The backend: the socket calls of the implementation under test, in POSIX shape (return,
 * errno), and the peer controls. Peer connections are numbered in accept order from 0.
 * A peer control a backend cannot do returns -1 with ENOSYS; the scenario is then skipped.
 */
struct sc_backend {
	const char *name;
	int (*init)(enum sc_proto proto, unsigned int port_base);
	void (*fini)(void);

	int (*socket)(int domain, int type, int protocol);
	int (*bind)(int fd, const struct sockaddr *addr, socklen_t len);
	int (*connect)(int fd, const struct sockaddr *addr, socklen_t len);
	ssize_t (*send)(int fd, const void *buf, size_t len, int flags);
	ssize_t (*sendto)(int fd, const void *buf, size_t len, int flags,
			  const struct sockaddr *dest, socklen_t dlen);
	ssize_t (*sendmsg)(int fd, const struct msghdr *msg, int flags);
	int (*sendmmsg)(int fd, struct mmsghdr *vec, unsigned int vlen, int flags);
	ssize_t (*recv)(int fd, void *buf, size_t len, int flags);
	int (*shutdown)(int fd, int how);
	int (*close)(int fd);
	int (*setsockopt)(int fd, int level, int name, const void *val, socklen_t len);
	int (*getsockopt)(int fd, int level, int name, void *val, socklen_t *len);
	int (*fcntl)(int fd, int cmd, int arg);
	int (*ioctl)(int fd, unsigned long req, int *arg);
	int (*bad_fd)(void);		/* a descriptor number that is not open */
	int (*notsock_fd)(void);	/* an open descriptor that is not a socket */
	int (*addr)(enum sc_addr_role role, struct sockaddr_storage *ss, socklen_t *len);

	/* peer controls */
	int (*peer_listen)(unsigned int buf_size);	/* 0: default buffer */
	int (*peer_bind_only)(void);	/* the refused port is bound, nobody listens */
	int (*peer_accept)(void);			/* returns the peer connection number */
	int (*peer_read)(int pc, size_t max, int wait_ms, struct sc_peer_result *r);
	int (*peer_read_async)(int pc, size_t n);	/* a reader that drains n in the background */
	int (*peer_join)(int pc, struct sc_peer_result *r);
	int (*peer_send)(int pc, size_t n);
	int (*peer_shutdown)(int pc, int how);
	int (*peer_close)(int pc);			/* pc -1: the listener/receiver itself */
	void (*settle)(void);				/* let control packets cross */
};

/* What the roles stand for on one backend: the peer's host and our own, and the port base. */
struct sc_addr_map {
	unsigned int peer_cid;		/* vsock: the peer's CID */
	uint32_t peer_ip, local_ip;	/* UDP, network byte order */
	uint32_t bcast_ip;
	unsigned int port;		/* peer; refused is port + 1, local:fixed port + 2 */
};

/* A backend's addr op, written once: the role's address under map; -1 EINVAL if it has none. */
int sc_addr_fill(enum sc_proto proto, const struct sc_addr_map *map, enum sc_addr_role role,
		 struct sockaddr_storage *ss, socklen_t *len);

/* Set by a backend whose init fails with ENOSYS: why it cannot run the scenario here. */
extern const char *sc_backend_why;

extern const struct sc_backend sc_kernel_backend;
extern const struct sc_backend sc_sendpath_backend;
extern const bool sc_sendpath_built;	/* false in runners built without the stack */

/* One scenario run: the trace so far and what the framework needs to label things. */
struct sc;

struct sc_scenario {
	const char *name;
	enum sc_proto proto;
	const char *what;		/* one line: the rule it checks */
	void (*run)(struct sc *s);
};

extern const struct sc_scenario sc_vsock_scenarios[];
extern const struct sc_scenario sc_udp_scenarios[];

/* Runs one scenario on a backend; trace lines go to out_fd as they happen. Returns 0 or -1. */
int sc_run(const struct sc_scenario *scn, const struct sc_backend *be, unsigned int port_base,
	   int out_fd);
/* The SIGPIPE counter the runner installs. */
void sc_install_sigpipe_counter(void);

/* --- what scenarios call --------------------------------------------------------------- */

/* The socket under test, created for the scenario's protocol (stream for vsock). */
int sc_socket(struct sc *s);
int sc_socket_raw(struct sc *s, int domain, int type, int protocol);
int sc_bind(struct sc *s, int fd, enum sc_addr_role role);
int sc_bind_raw(struct sc *s, int fd, const struct sockaddr *addr, socklen_t len, const char *what);
int sc_connect(struct sc *s, int fd, enum sc_addr_role role);
int sc_connect_raw(struct sc *s, int fd, const struct sockaddr *addr, socklen_t len, const char *what);
ssize_t sc_send(struct sc *s, int fd, size_t len, int flags);
ssize_t sc_send_buf(struct sc *s, int fd, const void *buf, size_t len, int flags, const char *what);
ssize_t sc_sendto(struct sc *s, int fd, size_t len, int flags, enum sc_addr_role role);
ssize_t sc_sendto_raw(struct sc *s, int fd, const void *buf, size_t len, int flags,
		      const struct sockaddr *addr, socklen_t alen, const char *what);
/* sendmsg of iovecs with the given lengths (payload filled), optional address role (-1 none). */
ssize_t sc_sendmsg_iov(struct sc *s, int fd, const size_t *lens, int n, int role, int flags);
ssize_t sc_sendmsg_raw(struct sc *s, int fd, const struct msghdr *msg, int flags, const char *what);
/* sendmmsg of n messages of the given lengths; records the msg_len of each. */
int sc_sendmmsg(struct sc *s, int fd, const size_t *lens, unsigned int n, int role, int flags);
int sc_sendmmsg_raw(struct sc *s, int fd, struct mmsghdr *vec, unsigned int vlen, int flags,
		    const char *what);
ssize_t sc_recv(struct sc *s, int fd, size_t len, int flags);
int sc_shutdown(struct sc *s, int fd, int how);
int sc_close(struct sc *s, int fd);
int sc_setsockopt(struct sc *s, int fd, int level, int name, const void *val, socklen_t len,
		  const char *what);
int sc_set_int(struct sc *s, int fd, int level, int name, int v, const char *what);
int sc_set_sndtimeo(struct sc *s, int fd, long ms);
int sc_getsockopt_int(struct sc *s, int fd, int level, int name, const char *what);
int sc_set_nonblock(struct sc *s, int fd, bool on);
int sc_ioctl(struct sc *s, int fd, unsigned long req, const char *what);
int sc_bad_fd(struct sc *s);
int sc_notsock_fd(struct sc *s);
void sc_addr_of(struct sc *s, enum sc_addr_role role, struct sockaddr_storage *ss, socklen_t *len);
/* The address at the start of an 8 KiB zeroed buffer: for calls given an oversized length. */
struct sockaddr *sc_wide_addr(struct sc *s, enum sc_addr_role role);

/* Payload: a deterministic pattern, so that peers' checksums compare across backends. */
const void *sc_payload(struct sc *s, size_t len);
/* A zeroed msghdr over iov[0], which holds len payload bytes: for sc_sendmsg_raw variations. */
void sc_msg_one(struct sc *s, struct msghdr *msg, struct iovec *iov, size_t len);

int sc_peer_listen(struct sc *s, unsigned int buf_size);
int sc_peer_bind_only(struct sc *s);
int sc_peer_accept(struct sc *s);
long sc_peer_read(struct sc *s, int pc, size_t max);
long sc_peer_read_wait(struct sc *s, int pc, size_t max, int wait_ms);
int sc_peer_read_async(struct sc *s, int pc, size_t n);
long sc_peer_join(struct sc *s, int pc);
int sc_peer_send(struct sc *s, int pc, size_t n);
int sc_peer_shutdown(struct sc *s, int pc, int how);
int sc_peer_close(struct sc *s, int pc);
void sc_settle(struct sc *s);

/* A free-form observation (e.g. a value the scenario computed), compared like a step. */
void sc_note(struct sc *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Setup the scenario needs failed: the run is an error, not a behaviour. */
void sc_fail(struct sc *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sc_skip(struct sc *s, const char *why);
bool sc_stopped(const struct sc *s);
/* Connected pair helper: socket, peer listens, connect, accept. Returns fd or -1 (failed). */
int sc_connected(struct sc *s, unsigned int peer_buf, int *pc);

const char *sc_errno_name(int e);
const char *sc_flags_str(int flags, char *buf, size_t len);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The vsock stream socket (≈ include/net/af_vsock.h): struct vsock_sock and
 * the transport ops table behind it. stack/vsock.c is the protocol
 * (≈ af_vsock.c: states, connect, the send loop, shutdown, options);
 * stack/vsock_virtio.c is one transport (≈ virtio_transport_common.c).
 * A test can register its own transport with vsock_core_register().
 */
#ifndef SP_VSOCK_H
#define SP_VSOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/vm_sockets.h>

#include "sock.h"

/* sk_state takes the TCP state numbers, as the kernel's vsock does (see af_vsock.c). */
#define VSOCK_TCP_ESTABLISHED 1
#define VSOCK_TCP_SYN_SENT    2
#define VSOCK_TCP_CLOSE       7
#define VSOCK_TCP_LISTEN      10
#define VSOCK_TCP_CLOSING     11

#define VSOCK_SHUTDOWN_MASK   (SP_RCV_SHUTDOWN | SP_SEND_SHUTDOWN)

/* af_vsock.c's defaults. */
#define VSOCK_DEFAULT_CONNECT_TIMEOUT (2 * SP_HZ)          /* jiffies */
#define VSOCK_DEFAULT_BUFFER_SIZE     (1024 * 256)
#define VSOCK_DEFAULT_BUFFER_MAX_SIZE (1024 * 256)
#define VSOCK_DEFAULT_BUFFER_MIN_SIZE 128
#define VSOCK_LAST_RESERVED_PORT      1023
/* virtio_transport_common.c: how long close() waits for the peer's RST before sending one. */
#define VSOCK_CLOSE_TIMEOUT_NS        (8ull * 1000000000ull)
/* sp_fini: how long the device gets to use what was sent before it is torn down. */
#define VSOCK_FINI_DRAIN_NS           (2ull * 1000000000ull)

struct vsock_transport;

struct vsock_sock {
	struct sp_sock *sk;             /* NULL once close() has detached it (an orphan closing) */
	int sk_state;                   /* VSOCK_TCP_* */
	int sk_shutdown;                /* mirrors sk->shutdown; kept for the orphan's close */
	bool sock_done;                 /* SOCK_DONE: the peer ended the connection */
	uint32_t peer_shutdown;         /* SP_RCV_SHUTDOWN | SP_SEND_SHUTDOWN from the peer */
	struct sockaddr_vm local_addr;
	struct sockaddr_vm remote_addr;
	bool in_bound, in_connected;    /* the kernel's bound and connected tables */
	uint64_t buffer_size, buffer_min_size, buffer_max_size;
	int64_t connect_timeout;        /* jiffies (SP_HZ), as SO_VM_SOCKETS_CONNECT_TIMEOUT reads back */
	uint64_t connect_deadline_ns;   /* non-blocking connect's timer (connect_work); 0 = none */
	uint64_t close_deadline_ns;     /* close_work; 0 = none */
	const struct vsock_transport *transport;
	void *trans;                    /* the transport's per-socket state */
	struct vsock_sock *hnext, **hpprev;  /* hash chain by local port */
};

/*
 * ≈ struct vsock_transport, reduced to what a stream needs. Packets built by
 * stream_enqueue and the control calls wait in the transport until flush():
 * one burst, one notification for everything a call (or a sendmmsg vector)
 * produced.
 */
struct vsock_transport {
	const char *name;
	/* Per socket, when connect() assigns the transport (≈ virtio_transport_do_socket_init). */
	int (*init)(struct vsock_sock *vsk);
	void (*destruct)(struct vsock_sock *vsk);
	/* close(): true when the socket can go now, false when it lingers for the peer's RST. */
	bool (*release)(struct vsock_sock *vsk);
	/* close_work fired: send RST, finish the close. */
	void (*close_timeout)(struct vsock_sock *vsk);

	int (*connect)(struct vsock_sock *vsk);
	int (*shutdown)(struct vsock_sock *vsk, int mode);
	void (*cancel_pkt)(struct vsock_sock *vsk);

	int64_t (*stream_has_space)(struct vsock_sock *vsk);
	int64_t (*stream_has_data)(struct vsock_sock *vsk);
	/* Queues up to len bytes from it, as far as credit goes; bytes taken or -errno. */
	ssize_t (*stream_enqueue)(struct vsock_sock *vsk, struct sp_iov_iter *it, size_t len);
	ssize_t (*stream_dequeue)(struct vsock_sock *vsk, struct sp_iov_iter *it, size_t len, int flags);
	uint64_t (*stream_rcvhiwat)(struct vsock_sock *vsk);
	void (*notify_buffer_size)(struct vsock_sock *vsk, uint64_t *val);
	int64_t (*unsent_bytes)(struct vsock_sock *vsk);

	/* Hands every queued packet to the device: one burst. Returns packets still waiting. */
	unsigned int (*flush)(void);
	/* Packets queued or on the ring that the device has not used yet (0: drained, or device gone). */
	unsigned int (*tx_pending)(void);
	uint32_t (*get_local_cid)(void);
	/* Receive, events, completions; returns work done. */
	int (*progress)(void);
	void (*fini)(void);
};

/* --- af_vsock core, for transports and tests --- */

/* Makes t the transport for new connections (g2h; only one here). 0 or -EBUSY. */
int vsock_core_register(const struct vsock_transport *t);
void vsock_core_unregister(const struct vsock_transport *t);

struct vsock_sock *vsock_find_connected_socket(const struct sockaddr_vm *src,
					       const struct sockaddr_vm *dst);
struct vsock_sock *vsock_find_bound_socket(const struct sockaddr_vm *addr);
void vsock_insert_connected(struct vsock_sock *vsk);
void vsock_remove_connected(struct vsock_sock *vsk);
/* Leaves both tables; frees an orphan whose close is over. */
void vsock_remove_sock(struct vsock_sock *vsk);
void vsock_for_each_connected_socket(const struct vsock_transport *t,
				     void (*fn)(struct vsock_sock *vsk));

/* close_work's delay; VSOCK_CLOSE_TIMEOUT_NS unless a test shortens it. */
extern uint64_t vsock_close_timeout_ns;
/* Arms (or disarms) close_work: the RST a lingering close sends if the peer never does. */
void vsock_close_timer(struct vsock_sock *vsk, bool arm);

/* vsock sockets that exist: open ones and closed ones still finishing their close. */
unsigned int vsock_live_socks(void);

/* sk_err: the pending error, also the socket layer's SO_ERROR. */
void vsock_set_err(struct vsock_sock *vsk, int err);
int vsock_get_err(const struct vsock_sock *vsk);
/* The socket's connect state (sock->state) when it is still open. */
void vsock_set_ss(struct vsock_sock *vsk, socket_state ss);

/* Hands every queued packet of the transport to its device (one burst). */
void vsock_flush(void);

/* vsock_sockopt.c: the proto_ops behind setsockopt, getsockopt, ioctl and readiness. */
int vsock_setsockopt(struct sp_sock *sk, int level, int name, const void *val, socklen_t len);
int vsock_getsockopt(struct sp_sock *sk, int level, int name, void *val, socklen_t *lenp);
int vsock_ioctl(struct sp_sock *sk, unsigned long req, void *arg);
unsigned int vsock_poll(struct sp_sock *sk);

/* virtio transport: makes the device named dev_name the transport. 0 or -errno. */
int vsock_virtio_init(const char *dev_name);
void vsock_virtio_fini(void);
extern const struct vsock_transport vsock_virtio_transport;

/* Counters for tests and reports. */
struct vsock_virtio_stats {
	uint64_t tx_pkts, tx_bursts, tx_backlog;    /* backlog: packets waiting for ring room */
	uint64_t tx_no_buffers;                     /* sends that waited for mbufs (credit was there) */
	uint64_t rx_pkts, rx_dropped_nosock, rx_dropped_overflow, rx_rst_sent;
	uint64_t rx_proto_errors;                   /* ops the state does not allow, refused */
	uint64_t credit_updates_sent, credit_requests_answered, transport_resets;
};
void vsock_virtio_get_stats(struct vsock_virtio_stats *st);

#endif

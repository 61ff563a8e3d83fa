/* SPDX-License-Identifier: MIT */
/*
 * sendpath: the Linux socket send path in user space on DPDK.
 *
 * The calls have the shape of their POSIX namesakes, take the system's own
 * structures and set errno. Porting a program is a prefix change. Descriptors
 * live in their own range (from SP_FD_BASE) so that they are never confused
 * with kernel descriptors.
 */
#ifndef SENDPATH_H
#define SENDPATH_H

/* struct mmsghdr is declared by <sys/socket.h> only under _GNU_SOURCE. */
#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before any #include to use sendpath.h (struct mmsghdr)"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <linux/vm_sockets.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SP_FD_BASE (1 << 24)
#define SP_FD_MAX  4096   /* sockets open at once */

/* How sp_init brings the stack up. Zero-initialised means: no ports, EAL started by the caller. */
struct sp_init_cfg {
	bool start_eal;          /* start EAL through the environment module */
	const char *name;        /* program role for the EAL file prefix */
	int cpu;                 /* -1: $SP_CPU or 0 */
	unsigned int mem_mb;
	/* vsock: a virtio-vsock device, by DPDK device name (created with --vdev=virtio_vsock0,...);
	 * NULL: no vsock. A name with no such device fails sp_init with ENXIO. */
	const char *vsock_dev;
	/* udp: a DPDK ethdev port and its IPv4 configuration. */
	int udp_port;            /* -1: no UDP */
	uint32_t udp_ip;         /* network order */
	uint32_t udp_netmask;    /* network order */
	uint32_t udp_gateway;    /* network order, 0 for none */
	uint16_t udp_mtu;        /* 0: the port's MTU */
	const char *vdevs[8];    /* extra --vdev arguments when start_eal */
};

int sp_init(const struct sp_init_cfg *cfg);
/*
 * Closes every socket and stops the stack. Data already sent is not lost:
 * sp_fini waits (at most 2 s) until the vsock device has used every queued
 * packet, as the kernel keeps sending after close, then tears it down.
 */
void sp_fini(void);

/*
 * udp: a static neighbour, as `ip neigh replace IP lladdr MAC nud permanent`
 * on the UDP port: no ARP for ip, its packets go to mac (6 bytes); packets
 * already waiting for ip leave now. Also at start from $SP_NEIGH
 * ("IP=MAC,..."). Entries live until sp_fini. 0, or -1 with errno: ENODEV no
 * UDP port, EINVAL ip 0/broadcast/multicast or mac NULL, ENOSPC table full.
 */
int sp_neigh_add_static(struct in_addr ip, const uint8_t mac[6]);

/* Drives receive processing (credit updates, control packets, ARP). Returns work done. */
int sp_poll(void);

int sp_socket(int domain, int type, int protocol);
int sp_bind(int fd, const struct sockaddr *addr, socklen_t len);
int sp_connect(int fd, const struct sockaddr *addr, socklen_t len);
int sp_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
int sp_getpeername(int fd, struct sockaddr *addr, socklen_t *len);
ssize_t sp_send(int fd, const void *buf, size_t len, int flags);
ssize_t sp_sendto(int fd, const void *buf, size_t len, int flags,
		  const struct sockaddr *dest, socklen_t dlen);
ssize_t sp_sendmsg(int fd, const struct msghdr *msg, int flags);
int sp_sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags);
ssize_t sp_recv(int fd, void *buf, size_t len, int flags);
ssize_t sp_recvmsg(int fd, struct msghdr *msg, int flags);
int sp_shutdown(int fd, int how);
int sp_close(int fd);
int sp_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int sp_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int sp_fcntl(int fd, int cmd, ... /* int arg */);
int sp_ioctl(int fd, unsigned long req, ... /* int *arg */);

/* True when fd is in sendpath's descriptor range (it may still be closed). */
static inline bool sp_is_fd(int fd)
{
	return fd >= SP_FD_BASE && fd < SP_FD_BASE + SP_FD_MAX;
}

#ifdef __cplusplus
}
#endif
#endif

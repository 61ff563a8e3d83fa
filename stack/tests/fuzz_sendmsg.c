/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the API's argument checking. The input is a script of
 * calls: sp_sendmsg, sp_sendmmsg, sp_sendto with message headers built from
 * the input (names of any length and content, iovec arrays of any count,
 * lengths up to huge, control buffers with any cmsgs, any flags), on a real
 * UDP socket over a net_null port (udp.c, ip_out.c, the cmsg parser) and on a
 * recording protocol that copies every byte it is given (socket.c's checks
 * and iterators), plus setsockopt/connect/shutdown/close in any order and
 * descriptors that are bad.
 *
 * Pointers are NULL, inside our buffers (with lengths that stay inside them),
 * or in the kernel half of the address space: the kernel answers those with
 * EFAULT and so must we. (A canonical but unmapped pointer cannot be told in
 * user space: docs/differences-udp.md.)
 *
 * Checked: no crash; a send returns at most what it was given, sendmmsg at
 * most min(vlen, 1024) with msg_len <= each message's length; errno is one
 * of the send path's; what reaches a protocol is normalised as sock.h says.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "sock.h"
#include "fuzz_script.h"

#define KPTR ((void *)0xffff888000001000ull)   /* kernel half: access_ok() says no */
#define DATA (128 * 1024)
#define MAX_IOV 1100
#define MAX_VEC 1100

static uint8_t data[DATA];
static uint8_t name_buf[4][256];
static uint8_t ctl_buf[4][512] __attribute__((aligned(8)));
static struct iovec iovs[4][MAX_IOV];
static struct msghdr msgs[4];
static struct mmsghdr vec[MAX_VEC];

/* --- a protocol that reads every byte it is given --- */

static uint8_t sink[64 * 1024];

static ssize_t rec_sendmsg(struct sp_sock *sk, struct sp_msg *m)
{
	struct sp_iov_iter it;
	size_t left;
	ssize_t r = 0;

	(void)sk;
	if (m->iovlen > UIO_MAXIOV || m->len > SP_MAX_RW_COUNT ||
	    m->namelen > sizeof(struct sockaddr_storage) || (m->namelen && !m->name) ||
	    (m->iovlen && !m->iov) || (m->controllen && !m->control))
		abort();
	sp_iter_init(&it, m);
	for (left = m->len; left; left -= (size_t)r) {
		r = sp_iter_copy(&it, sink, left < sizeof(sink) ? left : sizeof(sink));
		if (r < 0)
			return m->ret = r;
		if (r == 0)
			break;
	}
	if (m->namelen)
		memcpy(sink, m->name, m->namelen);
	if (m->controllen)
		memcpy(sink, m->control, m->controllen < sizeof(sink) ? m->controllen : sizeof(sink));
	return m->ret = (ssize_t)(m->len - left);
}

static unsigned int rec_sendmmsg(struct sp_sock *sk, struct sp_msg *m, unsigned int n)
{
	for (unsigned int k = 0; k < n; k++)
		if (rec_sendmsg(sk, &m[k]) < 0)
			return k + 1;
	return n;
}

static void rec_release(struct sp_sock *sk)
{
	(void)sk;
}

static const struct sp_proto_ops rec_ops = { .sendmsg = rec_sendmsg, .release = rec_release };
static const struct sp_proto_ops rec_burst_ops = { .sendmsg = rec_sendmsg, .sendmmsg = rec_sendmmsg,
						   .release = rec_release };

static int rec_create(struct sp_sock *sk, int protocol)
{
	(void)protocol;
	sk->ops = sk->type == SOCK_SEQPACKET ? &rec_burst_ops : &rec_ops;
	return 0;
}

static const struct sp_family rec_family = { .name = "rec", .domain = AF_UNIX, .type = SOCK_DGRAM,
					     .create = rec_create };
static const struct sp_family rec_burst_family = { .name = "recb", .domain = AF_UNIX,
						   .type = SOCK_SEQPACKET, .create = rec_create };

/* --- building arguments --- */

static void *pick_ptr(struct fuzz_script *s, void *valid)
{
	switch (fuzz_take(s, 1) % 4) {
	case 0:
		return NULL;
	case 1:
		return KPTR;
	default:
		return valid;
	}
}

/* A length for a buffer of room bytes at p: anything when p is not ours, else within room. */
static size_t pick_len(struct fuzz_script *s, const void *p, size_t room)
{
	uint64_t v = fuzz_take(s, 1);

	if (p && p != KPTR)
		return (size_t)fuzz_take(s, 3) % (room + 1);
	switch (v % 4) {
	case 0:
		return 0;
	case 1:
		return (size_t)fuzz_take(s, 8);
	default:
		return (size_t)fuzz_take(s, 3);
	}
}

/* The payload bytes from offset off in data, for iov i of message k. */
static void build_msg(struct fuzz_script *s, int k)
{
	struct msghdr *mh = &msgs[k];
	uint64_t niov_sel = fuzz_take(s, 1), off = fuzz_take(s, 2) % DATA;
	size_t niov = niov_sel < 240 ? niov_sel % 8 : niov_sel == 250 ? 1024 : niov_sel == 251 ? 1025 :
		      niov_sel == 252 ? MAX_IOV : (size_t)fuzz_take(s, 8);

	memset(mh, 0, sizeof(*mh));
	mh->msg_name = pick_ptr(s, name_buf[k]);
	mh->msg_namelen = (socklen_t)fuzz_take(s, 1);
	if (mh->msg_namelen > 128 && (fuzz_take(s, 1) & 1))
		mh->msg_namelen = (socklen_t)fuzz_take(s, 4);       /* huge, or negative as an int */
	if (mh->msg_name == name_buf[k]) {
		struct sockaddr_in *sin = (struct sockaddr_in *)name_buf[k];

		memset(name_buf[k], 0, sizeof(name_buf[k]));
		sin->sin_family = fuzz_take(s, 1) & 1 ? AF_INET : (sa_family_t)fuzz_take(s, 2);
		sin->sin_port = (in_port_t)fuzz_take(s, 2);
		sin->sin_addr.s_addr = fuzz_take(s, 1) & 1 ? inet_addr("10.99.0.2") : (uint32_t)fuzz_take(s, 4);
		if (mh->msg_namelen > sizeof(name_buf[k]))
			mh->msg_namelen = sizeof(name_buf[k]);   /* ours: never beyond the buffer */
	}
	mh->msg_iov = niov ? pick_ptr(s, iovs[k]) : (fuzz_take(s, 1) & 1 ? iovs[k] : NULL);
	mh->msg_iovlen = niov;
	if (mh->msg_iov == iovs[k]) {
		if (niov > MAX_IOV)
			mh->msg_iovlen = niov = MAX_IOV;
		for (size_t i = 0; i < niov; i++) {
			void *b = i < 16 || (i & 63) == 0 ? pick_ptr(s, data + off) : data + off;

			iovs[k][i].iov_base = b;
			iovs[k][i].iov_len = i < 16 ? pick_len(s, b, DATA - off) :
					     b == data + off ? (DATA - off) % 8 : 0;
		}
	}
	mh->msg_control = pick_ptr(s, ctl_buf[k]);
	if (mh->msg_control == ctl_buf[k]) {
		size_t n = (size_t)fuzz_take(s, 2) % sizeof(ctl_buf[k]);

		memset(ctl_buf[k], 0, sizeof(ctl_buf[k]));
		for (size_t i = 0; i < n && s->left; i++)
			ctl_buf[k][i] = (uint8_t)fuzz_take(s, 1);
		mh->msg_controllen = (size_t)fuzz_take(s, 2) % (sizeof(ctl_buf[k]) + 1);
	} else {
		mh->msg_controllen = pick_len(s, NULL, 0);
	}
	mh->msg_flags = (int)fuzz_take(s, 4);
}

static const int send_errnos[] = {
	EBADF, ENOTSOCK, EFAULT, EINVAL, EMSGSIZE, ENOBUFS, EOPNOTSUPP, EAGAIN, EPIPE, ENOTCONN,
	EDESTADDRREQ, EISCONN, EAFNOSUPPORT, EACCES, ENETUNREACH, EHOSTUNREACH, ECONNREFUSED,
	ENOMEM, EPERM, EIO, ENOPROTOOPT, EADDRNOTAVAIL, EADDRINUSE,
};

static void check_errno(long r)
{
	if (r >= 0)
		return;
	for (size_t i = 0; i < sizeof(send_errnos) / sizeof(send_errnos[0]); i++)
		if (errno == send_errnos[i])
			return;
	fprintf(stderr, "send path returned errno %d (%s)\n", errno, strerror(errno));
	abort();
}

static size_t msg_total(const struct msghdr *mh)
{
	size_t t = 0;

	if (mh->msg_iov != iovs[mh - msgs])
		return SIZE_MAX;
	for (size_t i = 0; i < mh->msg_iovlen; i++)
		t += mh->msg_iov[i].iov_len;
	return t;
}

static int fds[4];

static void run(struct fuzz_script *s)
{
	while (s->left) {
		uint8_t op = (uint8_t)fuzz_take(s, 1);
		int fd = fds[op >> 6], k = (op >> 4) & 3;
		long r;

		if ((op & 0x0f) >= 8 && (fuzz_take(s, 1) & 0x7f) == 0)
			fd = (int)fuzz_take(s, 4);   /* any descriptor at all */
		switch (op & 0x0f) {
		case 0: case 1: case 2:
			build_msg(s, k);
			break;
		case 3: { /* setsockopt, at the levels UDP and the socket layer know */
			static const int lv[] = { SOL_SOCKET, IPPROTO_IP, IPPROTO_UDP, SOL_SOCKET };
			int level = lv[fuzz_take(s, 1) % 4], name = (int)fuzz_take(s, 1);
			uint64_t val[2] = { fuzz_take(s, 4), fuzz_take(s, 8) };

			sp_setsockopt(fd, level, name, val, (socklen_t)(fuzz_take(s, 1) % 17));
			break;
		}
		case 4: {
			struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = (in_port_t)fuzz_take(s, 2),
						   .sin_addr.s_addr = fuzz_take(s, 1) & 1 ? inet_addr("10.99.0.2") :
									     (uint32_t)fuzz_take(s, 4) };

			if (fuzz_take(s, 1) & 1)
				sin.sin_family = AF_UNSPEC;
			sp_connect(fd, (struct sockaddr *)&sin, (socklen_t)(fuzz_take(s, 1) % 20));
			break;
		}
		case 5:
			sp_shutdown(fd, (int)fuzz_take(s, 1) % 4);
			break;
		case 6:
			sp_close(fd);
			break;
		case 8: case 9: case 10: {
			int flags = (int)fuzz_take(s, 4);

			errno = 0;
			r = sp_sendmsg(fd, fuzz_take(s, 1) & 7 ? &msgs[k] : fuzz_take(s, 1) & 1 ? NULL : KPTR, flags);
			check_errno(r);
			if (r >= 0 && (size_t)r > msg_total(&msgs[k]))
				abort();
			break;
		}
		case 11: case 12: {
			uint64_t sel = fuzz_take(s, 1);
			unsigned int vlen = sel < 200 ? (unsigned int)sel % 9 : sel == 200 ? 1024 :
					    sel == 201 ? 1025 : sel == 202 ? MAX_VEC : (unsigned int)fuzz_take(s, 4);
			unsigned int real = vlen < MAX_VEC ? vlen : MAX_VEC;
			int flags = (int)fuzz_take(s, 4);

			for (unsigned int i = 0; i < real; i++) {
				vec[i].msg_hdr = msgs[(k + i) % 4];
				vec[i].msg_len = 0xdeadbeef;
			}
			errno = 0;
			r = sp_sendmmsg(fd, sel & 1 || vlen == 0 ? vec : (sel & 2 ? NULL : KPTR), vlen, flags);
			check_errno(r);
			if (r > (long)(vlen < UIO_MAXIOV ? vlen : UIO_MAXIOV))
				abort();
			for (long i = 0; r > 0 && i < r; i++) {
				const struct msghdr *mh = &msgs[(k + i) % 4];

				if (vec[i].msg_len > msg_total(mh))
					abort();
			}
			break;
		}
		case 13: case 14: {
			void *b = pick_ptr(s, data);
			size_t len = pick_len(s, b, DATA);
			int flags = (int)fuzz_take(s, 4);

			errno = 0;
			r = sp_sendto(fd, b, len, flags, op & 1 ? (struct sockaddr *)name_buf[k] : NULL,
				      (socklen_t)fuzz_take(s, 1));
			check_errno(r);
			if (r >= 0 && (size_t)r > len)
				abort();
			break;
		}
		default:
			break;
		}
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sp_init_cfg cfg = { .start_eal = true, .name = "fuzzsend", .cpu = -1, .mem_mb = 256,
				   .udp_port = 0, .vdevs = { "net_null0" } };

	(void)argc;
	(void)argv;
	cfg.udp_ip = inet_addr("10.99.0.1");
	cfg.udp_netmask = inet_addr("255.255.255.0");
	setenv("SP_NEIGH", "10.99.0.2=02:00:00:00:99:02", 1);
	if (sp_init(&cfg) != 0 || sp_family_register(&rec_family) != 0 ||
	    sp_family_register(&rec_burst_family) != 0) {
		fprintf(stderr, "fuzz_sendmsg: sp_init: %s\n", strerror(errno));
		exit(1);
	}
	for (size_t i = 0; i < DATA; i++)
		data[i] = (uint8_t)i;
	atexit(sp_fini);        /* EAL and its runtime dir go at the end of a timed run */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size)
{
	struct fuzz_script s = { buf, size };
	uint8_t kinds = (uint8_t)fuzz_take(&s, 1);

	/* four sockets: UDP or the recording protocol (with or without a burst op), by the input */
	for (int i = 0; i < 4; i++) {
		int k = kinds >> (2 * i) & 3;

		fds[i] = k == 0 ? sp_socket(AF_UNIX, SOCK_DGRAM, 0) :
			 k == 1 ? sp_socket(AF_UNIX, SOCK_SEQPACKET, 0) : sp_socket(AF_INET, SOCK_DGRAM, 0);
		if (fds[i] < 0)
			abort();
	}
	memset(msgs, 0, sizeof(msgs));
	run(&s);
	sp_sock_close_all();
	sp_poll();
	return 0;
}

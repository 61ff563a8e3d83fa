/* SPDX-License-Identifier: MIT */
/*
 * sp-vhost-check: runs inside a QEMU guest whose virtio-vsock device is QEMU's
 * vhost-user-vsock-pci served by the project's sp-vhost-vsock (the host, CID 2). The guest
 * kernel's own driver talks to our backend, which proves the backend against a real driver:
 *   1. a stream of N bytes in the backend's --verify pattern (the backend checks every byte),
 *   2. a connect to a port the backend does not serve: ECONNRESET,
 *   3. EPIPE (and SIGPIPE without MSG_NOSIGNAL, as 6.12 raises it) once the backend has shut
 *      the connection down; the host sends the shutdown when it reads our "ready" line.
 * Prints one "vhost-check: ..." line per result and "vhost-check: PASS" when all held.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/vm_sockets.h>

static volatile sig_atomic_t sigpipes;

static void on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The backend's --verify pattern, by offset in the connection's stream. */
static void pattern(unsigned char *b, size_t n, uint64_t off)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t k = off + i;

		b[i] = (unsigned char)(k ^ (k >> 8) ^ (k >> 16) ^ (k >> 24));
	}
}

static int connect_to(unsigned int port)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST,
				 .svm_port = port };
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	unsigned int port = argc > 1 ? (unsigned int)atoi(argv[1]) : 5000;
	size_t total = argc > 2 ? strtoull(argv[2], NULL, 0) : 64u << 20;
	static unsigned char buf[1 << 16];
	uint64_t off = 0;
	int fails = 0, fd;
	double t0, t;

	signal(SIGPIPE, on_sigpipe);
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* 1. the stream, checked byte by byte on the other side */
	fd = connect_to(port);
	if (fd < 0) {
		printf("vhost-check: FAIL connect to CID 2 port %u: %s\n", port, strerror(errno));
		return 1;
	}
	t0 = now_s();
	while (off < total) {
		size_t n = total - off < sizeof(buf) ? total - off : sizeof(buf);
		ssize_t w;

		pattern(buf, n, off);
		w = send(fd, buf, n, 0);
		if (w <= 0) {
			printf("vhost-check: FAIL send at %llu: %s\n", (unsigned long long)off,
			       strerror(errno));
			fails++;
			break;
		}
		off += (uint64_t)w;
	}
	t = now_s() - t0;
	printf("vhost-check: sent %llu bytes in %.2f s (%.1f MB/s)\n", (unsigned long long)off, t,
	       t > 0 ? off / t / 1e6 : 0.0);
	close(fd);

	/* 2. a port the backend does not serve */
	fd = connect_to(port + 1);
	if (fd >= 0 || errno != ECONNRESET) {
		printf("vhost-check: FAIL connect to a refused port: %s\n",
		       fd >= 0 ? "connected" : strerror(errno));
		fails++;
	} else {
		printf("vhost-check: refused port -> ECONNRESET\n");
	}
	if (fd >= 0)
		close(fd);

	/* 3. the backend shuts the connection down: EPIPE here */
	fd = connect_to(port);
	if (fd < 0) {
		printf("vhost-check: FAIL second connect: %s\n", strerror(errno));
		return 1;
	}
	printf("vhost-check: ready for shutdown\n");
	off = 0;
	t0 = now_s();
	for (;;) {
		ssize_t w;

		pattern(buf, 1, off);
		w = send(fd, buf, 1, MSG_NOSIGNAL);
		if (w == 1) {
			off++;
		} else if (errno == EPIPE) {
			int before = sigpipes;

			printf("vhost-check: send after the backend's shutdown -> EPIPE (after %llu bytes)\n",
			       (unsigned long long)off);
			w = send(fd, buf, 1, 0);
			printf("vhost-check: without MSG_NOSIGNAL -> %s, SIGPIPE x%d\n",
			       w < 0 ? strerror(errno) : "sent", sigpipes - before);
			if (w >= 0 || errno != EPIPE)
				fails++;
			break;
		} else {
			printf("vhost-check: FAIL send while waiting for EPIPE: %s\n", strerror(errno));
			fails++;
			break;
		}
		if (now_s() - t0 > 30) {
			printf("vhost-check: FAIL no EPIPE within 30 s\n");
			fails++;
			break;
		}
		usleep(20000);
	}
	close(fd);
	printf("vhost-check: %s\n", fails ? "FAIL" : "PASS");
	return fails ? 1 : 0;
}

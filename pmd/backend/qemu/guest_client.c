/* SPDX-License-Identifier: MIT */
/*
 * Runs INSIDE the QEMU guest only (kernel AF_VSOCK, the guest's own
 * virtio-vsock driver), against sp-vhost-vsock behind vhost-user-vsock-pci.
 * Never run it on the development machine: its vsock leads elsewhere.
 *
 *   guest-client PORT BYTES REFUSED_PORT CTL_PORT
 *
 * 1. connects to CID 2:PORT, sends BYTES of the backend's --verify pattern,
 *    prints the CRC32C of the stream (Castagnoli, seed ~0, no final xor, as
 *    the backend's stats), closes;
 * 2. connects to CID 2:REFUSED_PORT, where nobody listens: expects ECONNRESET;
 * 3. connects to CID 2:PORT again, asks the backend over its vsock control
 *    port (--ctl-port CTL_PORT) to "shutdown rcv port PORT", and sends until
 *    that arrives: expects EPIPE.
 * Prints "guest: ..." lines and "guest: PASS" or "guest: FAIL ...".
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int vsock_connect(unsigned int port)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = port };
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int fail(const char *what)
{
	printf("guest: FAIL %s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	static uint8_t buf[64 * 1024];
	unsigned long long total, off = 0;
	unsigned int port, refused, ctl_port;
	char reply[256];
	ssize_t r;
	int cfd;
	uint32_t crc = ~0u;
	double t0, dt;
	int fd;

	if (argc != 5)
		return fprintf(stderr, "usage: guest-client PORT BYTES REFUSED_PORT CTL_PORT\n"), 2;
	ctl_port = (unsigned int)strtoul(argv[4], NULL, 0);
	port = (unsigned int)strtoul(argv[1], NULL, 0);
	total = strtoull(argv[2], NULL, 0);
	refused = (unsigned int)strtoul(argv[3], NULL, 0);
	crc_init();

	fd = vsock_connect(port);
	if (fd < 0)
		return fail("connect");
	t0 = now_s();
	while (off < total) {
		size_t n = total - off < sizeof(buf) ? total - off : sizeof(buf);
		ssize_t w;

		for (size_t i = 0; i < n; i++) {
			uint64_t x = off + i;

			buf[i] = (uint8_t)(x ^ (x >> 8) ^ (x >> 16) ^ (x >> 24));
		}
		crc = crc32c(crc, buf, n);
		for (size_t done = 0; done < n; done += (size_t)w) {
			w = send(fd, buf + done, n - done, MSG_NOSIGNAL);
			if (w < 0)
				return fail("send");
		}
		off += n;
	}
	dt = now_s() - t0;
	printf("guest: sent %llu bytes crc32c 0x%08x in %.2f s (%.1f MiB/s)\n", total, crc, dt,
	       total / dt / (1 << 20));
	close(fd);

	fd = vsock_connect(refused);
	if (fd >= 0 || errno != ECONNRESET) {
		printf("guest: FAIL connect to a port nobody listens on: %s\n",
		       fd >= 0 ? "connected" : strerror(errno));
		return 1;
	}
	printf("guest: refused port %u: ECONNRESET\n", refused);

	fd = vsock_connect(port);
	if (fd < 0)
		return fail("second connect");
	cfd = vsock_connect(ctl_port);
	if (cfd < 0)
		return fail("connect to the control port");
	snprintf(reply, sizeof(reply), "shutdown rcv port %u\n", port);
	if (send(cfd, reply, strlen(reply), MSG_NOSIGNAL) != (ssize_t)strlen(reply))
		return fail("control send");
	r = recv(cfd, reply, sizeof(reply) - 1, 0);
	if (r <= 0)
		return fail("control reply");
	reply[r] = '\0';
	printf("guest: control port: shutdown rcv port %u -> %s", port, reply);
	if (strcmp(reply, "ok 1\n")) {
		printf("guest: FAIL unexpected control reply\n");
		return 1;
	}
	close(cfd);
	t0 = now_s();
	/* Still the pattern, from offset 0 of this stream: the backend verifies every connection. */
	for (uint64_t x = 0;; x++) {
		uint8_t b = (uint8_t)(x ^ (x >> 8) ^ (x >> 16) ^ (x >> 24));
		ssize_t w = send(fd, &b, 1, MSG_NOSIGNAL);

		if (w < 0 && errno == EPIPE)
			break;
		if (w < 0)
			return fail("send before host shutdown");
		if (now_s() - t0 > 60) {
			printf("guest: FAIL no EPIPE within 60 s\n");
			return 1;
		}
		usleep(50000);
	}
	printf("guest: send after host SHUTDOWN(RCV): EPIPE\n");
	close(fd);
	printf("guest: PASS\n");
	return 0;
}

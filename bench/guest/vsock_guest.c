/* SPDX-License-Identifier: MIT */
/*
 * sp-bench-guest: the kernel-vsock backend's measurement, run as a static
 * binary inside a QEMU guest (bench/guest/run.sh) over the guest kernel's
 * vsock_loopback transport (CID 1). It refuses to run anywhere else: the
 * development machine's own vsock device leads to a host that is not ours.
 *
 *   sp-bench-guest DURATION WARMUP SIZES BATCHES     (lists comma separated)
 *
 * Per point a receiver thread reads whole messages (a stream keeps order, the
 * sizes are fixed) and reads the CLOCK_MONOTONIC stamp at each message's
 * start. One line per point on stdout:
 *   row size batch measured seconds sent received p50 p90 p99 p999 max cpu_ns calls
 * (bytes are counted whole-run; sent/received in messages).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "hist.h"

#define PORT 7801

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct rx {
	int lfd;
	unsigned int size;
	uint64_t first_seq;     /* stamps from here on are measured */
	volatile uint64_t measure_from;
	uint64_t bytes;
	struct sp_hist lat;
};

static void *rx_main(void *arg)
{
	struct rx *r = arg;
	char *buf = malloc(r->size);
	int fd = accept(r->lfd, NULL, NULL);
	ssize_t n;

	while (buf && fd >= 0 && (n = recv(fd, buf, r->size, MSG_WAITALL)) > 0) {
		uint64_t seq, stamp;

		r->bytes += (uint64_t)n;
		if (n < (ssize_t)r->size)
			break;
		memcpy(&seq, buf, 8);
		memcpy(&stamp, buf + 8, 8);
		if (r->measure_from && seq >= r->measure_from)
			sp_hist_add(&r->lat, now_ns() - stamp);
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static void point(double duration, double warmup, unsigned int size, unsigned int batch)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = PORT };
	static struct rx r;
	struct mmsghdr *mm = calloc(batch, sizeof(*mm));
	struct iovec *iov = calloc(batch, sizeof(*iov));
	char *mem = calloc(batch, size);
	uint64_t seq = 0, t_warm, t_end, t0 = 0, c0 = 0, first = 0, sent_bytes = 0, calls = 0, t1;
	unsigned int i;
	pthread_t thr;
	int fd, one = 1;

	memset(&r, 0, sizeof(r));
	r.size = size;
	r.lfd = socket(AF_VSOCK, SOCK_STREAM, 0);
	setsockopt(r.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (!mm || !iov || !mem || r.lfd < 0 || bind(r.lfd, (struct sockaddr *)&a, sizeof(a)) || listen(r.lfd, 1)) {
		printf("error size %u batch %u: listen: %s\n", size, batch, strerror(errno));
		return;
	}
	pthread_create(&thr, NULL, rx_main, &r);
	a.svm_cid = VMADDR_CID_LOCAL;
	fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		printf("error size %u batch %u: connect: %s\n", size, batch, strerror(errno));
		return;
	}
	for (i = 0; i < batch; i++) {
		iov[i].iov_base = mem + (size_t)i * size;
		iov[i].iov_len = size;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	t_warm = now_ns() + (uint64_t)(warmup * 1e9);
	t_end = t_warm + (uint64_t)(duration * 1e9);
	for (;;) {
		uint64_t now = now_ns();
		int n;

		if (!t0 && now >= t_warm) {
			t0 = now;
			c0 = cpu_ns();
			first = sent_bytes;
			r.measure_from = seq ? seq : 1;
		}
		if (t0 && now >= t_end)
			break;
		for (i = 0; i < batch; i++) {  /* whole messages only: the vector is resent from its start */
			memcpy(iov[i].iov_base, &seq, 8);
			memcpy((char *)iov[i].iov_base + 8, &now, 8);
			seq++;
		}
		if (batch > 1) {
			n = sendmmsg(fd, mm, batch, 0);
			for (i = 0; n > 0 && i < (unsigned int)n; i++)
				sent_bytes += mm[i].msg_len;
		} else {
			n = (int)send(fd, iov[0].iov_base, size, 0);
			if (n > 0)
				sent_bytes += (uint64_t)n;
		}
		calls += t0 != 0;
		if (n < 0) {
			printf("error size %u batch %u: send: %s\n", size, batch, strerror(errno));
			break;
		}
	}
	t1 = now_ns();
	c0 = cpu_ns() - c0;
	shutdown(fd, SHUT_WR);
	pthread_join(thr, NULL);
	close(fd);
	close(r.lfd);
	printf("row %u %u %llu %.6f %llu %llu %llu %llu %llu %llu %llu %llu %llu\n", size, batch,
	       (unsigned long long)((sent_bytes - first) / size), (double)(t1 - t0) / 1e9,
	       (unsigned long long)(sent_bytes / size), (unsigned long long)(r.bytes / size),
	       (unsigned long long)sp_hist_quantile(&r.lat, 0.5), (unsigned long long)sp_hist_quantile(&r.lat, 0.9),
	       (unsigned long long)sp_hist_quantile(&r.lat, 0.99), (unsigned long long)sp_hist_quantile(&r.lat, 0.999),
	       (unsigned long long)r.lat.max, (unsigned long long)c0, (unsigned long long)calls);
	fflush(stdout);
	free(mm);
	free(iov);
	free(mem);
}

int main(int argc, char **argv)
{
	unsigned int sizes[32], batches[16], ns = 0, nb = 0, i, j;
	char *p;

	/* only the guest's initramfs has this file: never a kernel vsock socket on the host */
	if (access("/sp-bench-guest.marker", F_OK)) {
		fprintf(stderr, "sp-bench-guest: runs only inside the QEMU guest of bench/guest/run.sh\n");
		return 2;
	}
	if (argc != 5)
		return 2;
	for (p = strtok(argv[3], ","); p && ns < 32; p = strtok(NULL, ","))
		sizes[ns++] = (unsigned int)strtoul(p, NULL, 10);
	for (p = strtok(argv[4], ","); p && nb < 16; p = strtok(NULL, ","))
		batches[nb++] = (unsigned int)strtoul(p, NULL, 10);
	for (j = 0; j < nb; j++)
		for (i = 0; i < ns; i++)
			if (sizes[i] >= 16 && batches[j] >= 1)
				point(atof(argv[1]), atof(argv[2]), sizes[i], batches[j]);
	return 0;
}

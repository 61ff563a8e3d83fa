/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user frontend against peers that misbehave on the socket (not a
 * backend: a few lines of socket code per fault). Each must end in a refusal
 * with one line on stderr, never a crash or a hang.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "virtio_transport.h"

enum peer_mode { PEER_CLOSE, PEER_BAD_REQUEST, PEER_HUGE_SIZE, PEER_GOOD_THEN_CLOSE };

struct peer {
	enum peer_mode mode;
	int lfd;
	char path[108];
	pthread_t th;
};

struct vu_hdr {
	uint32_t request, flags, size;
} __attribute__((packed));

static int read_msg(int fd, struct vu_hdr *h)
{
	uint8_t payload[512];

	if (recv(fd, h, sizeof(*h), MSG_WAITALL) != (ssize_t)sizeof(*h) || h->size > sizeof(payload))
		return -1;
	return h->size && recv(fd, payload, h->size, MSG_WAITALL) != (ssize_t)h->size ? -1 : 0;
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	struct { struct vu_hdr h; uint64_t u64; } __attribute__((packed)) r;
	struct vu_hdr h;
	int fd = accept(p->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	if (p->mode == PEER_CLOSE)
		goto out;
	/* SET_OWNER, then GET_FEATURES wants a reply */
	if (read_msg(fd, &h) < 0 || read_msg(fd, &h) < 0 || h.request != 1)
		goto out;
	r.h = (struct vu_hdr){ .request = 1, .flags = 0x5, .size = 8 };
	r.u64 = 1ull << 32; /* VERSION_1, no protocol features */
	if (p->mode == PEER_BAD_REQUEST)
		r.h.request = 99;
	if (p->mode == PEER_HUGE_SIZE)
		r.h.size = 100000;
	if (write(fd, &r, sizeof(r)) < 0)
		goto out;
	if (p->mode == PEER_GOOD_THEN_CLOSE)
		usleep(100 * 1000);
out:
	close(fd);
	return NULL;
}

static void peer_start(struct peer *p, enum peer_mode mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	p->mode = mode;
	snprintf(p->path, sizeof(p->path), "/tmp/sp-vu-test-%d-%d.sock", (int)getpid(), (int)mode);
	unlink(p->path);
	memcpy(sa.sun_path, p->path, strlen(p->path) + 1);
	p->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(p->lfd, 1), 0);
	pthread_create(&p->th, NULL, peer_main, p);
}

static void peer_stop(struct peer *p)
{
	pthread_join(p->th, NULL);
	close(p->lfd);
	unlink(p->path);
}

Test(vhost_user, peer_closes_at_once_is_refused, .timeout = 20)
{
	struct peer p;

	peer_start(&p, PEER_CLOSE);
	cr_assert_null(vhost_user_transport_open(p.path, 100));
	peer_stop(&p);
}

Test(vhost_user, reply_to_wrong_request_is_refused, .timeout = 20)
{
	struct peer p;

	peer_start(&p, PEER_BAD_REQUEST);
	cr_assert_null(vhost_user_transport_open(p.path, 100));
	peer_stop(&p);
}

Test(vhost_user, reply_larger_than_any_message_is_refused, .timeout = 20)
{
	struct peer p;

	peer_start(&p, PEER_HUGE_SIZE);
	cr_assert_null(vhost_user_transport_open(p.path, 100));
	peer_stop(&p);
}

Test(vhost_user, peer_closing_later_means_device_gone, .timeout = 20)
{
	struct virtio_transport *t;
	struct peer p;
	int i;

	peer_start(&p, PEER_GOOD_THEN_CLOSE);
	t = vhost_user_transport_open(p.path, 100);
	cr_assert_not_null(t);
	cr_assert_eq(t->ops->get_features(t), 1ull << 32);
	cr_assert(t->addr_is_va);
	/* no CONFIG protocol feature: the CID must come from devargs */
	{
		uint64_t cid;

		cr_assert_eq(t->ops->read_config(t, 0, &cid, sizeof(cid)), -1);
	}
	cr_assert(t->ops->is_alive(t));
	peer_stop(&p);
	for (i = 0; i < 100 && t->ops->is_alive(t); i++)
		usleep(1000);
	cr_assert(!t->ops->is_alive(t), "peer closed, transport still alive");
	t->ops->close(t);
}

Test(vhost_user, missing_socket_is_refused_within_timeout, .timeout = 20)
{
	cr_assert_null(vhost_user_transport_open("/tmp/sp-vu-test-no-such.sock", 50));
}

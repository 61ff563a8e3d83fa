/* SPDX-License-Identifier: MIT */
/*
 * sp-vhost-ctl: sends control lines to a running sp-vhost-vsock and prints
 * each reply line, so shell scripts can drive the scripted peer.
 *
 *   sp-vhost-ctl CTL_SOCKET COMMAND...      e.g. sp-vhost-ctl /run/sendpath/vsock.sock.ctl "refuse on" stats
 *
 * Exit status 0 when every reply began with "ok" or "{", 1 otherwise, 2 when the socket cannot be reached.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static char buf[1 << 20];
	int fd, rc = 0;

	if (argc < 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: sp-vhost-ctl CTL_SOCKET COMMAND...\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "sp-vhost-ctl: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		size_t got = 0;

		if (dprintf(fd, "%s\n", argv[i]) < 0) {
			fprintf(stderr, "sp-vhost-ctl: write: %s\n", strerror(errno));
			return 2;
		}
		/* One reply line per command. */
		while (got < sizeof(buf) - 1) {
			ssize_t r = read(fd, buf + got, sizeof(buf) - 1 - got);

			if (r <= 0)
				break;
			got += (size_t)r;
			if (buf[got - 1] == '\n')
				break;
		}
		if (!got || buf[got - 1] != '\n') {
			fprintf(stderr, "sp-vhost-ctl: no reply to '%s'\n", argv[i]);
			return 2;
		}
		buf[got] = '\0';
		fputs(buf, stdout);
		if (strncmp(buf, "ok", 2) && buf[0] != '{')
			rc = 1;
	}
	close(fd);
	return rc;
}

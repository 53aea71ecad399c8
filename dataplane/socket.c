/* UDP socket setup for the engine. */
#include "dataplane/socket.h"

#include "crypto/messages.h"

#include <errno.h>
#include <linux/filter.h>
#include <stdbool.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

int lr_socket_set_fwmark(int fd, uint32_t fwmark)
{
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark)) < 0)
		return -errno;
	return 0;
}

bool lr_socket_enable_gro(int fd)
{
	int one = 1;

	return setsockopt(fd, IPPROTO_UDP, UDP_GRO, &one, sizeof(one)) == 0;
}

bool lr_socket_probe_gso(int fd)
{
	int size = 1280, zero = 0;

	/* Setting a socket-wide segment size and clearing it again proves the option exists;
	 * each send then sets its own size in a control message. */
	if (setsockopt(fd, IPPROTO_UDP, UDP_SEGMENT, &size, sizeof(size)) < 0)
		return false;
	return setsockopt(fd, IPPROTO_UDP, UDP_SEGMENT, &zero, sizeof(zero)) == 0;
}

int lr_socket_attach_steering(int fd, unsigned n)
{
	/* The kernel runs the program on the UDP payload (the UDP header already pulled). A
	 * transport message (type 4) carries the little-endian receiver index at offset 4, so
	 * the byte at 4 is the index's low byte. Anything else goes to socket 0: handshakes end
	 * up on the control thread whichever worker reads them. A load past the end returns 0. */
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, LR_MSG_DATA, 0, 3),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 4),
		BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n),
		BPF_STMT(BPF_RET | BPF_A, 0),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
		return -errno;
	return 0;
}

static int bind_family(int family, uint16_t port, uint32_t fwmark, bool reuseport,
		       uint16_t *bound_port)
{
	union lr_sockaddr addr;
	socklen_t len;
	int fd, zero = 0, one = 1, ret;

	fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&addr, 0, sizeof(addr));
	if (family == AF_INET6) {
		/* One socket for both families: IPv4 peers appear as v4-mapped addresses. */
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0)
			goto err_errno;
		addr.in6.sin6_family = AF_INET6;
		addr.in6.sin6_port = htons(port);
		len = sizeof(addr.in6);
	} else {
		addr.in4.sin_family = AF_INET;
		addr.in4.sin_port = htons(port);
		len = sizeof(addr.in4);
	}
	if (fwmark && (ret = lr_socket_set_fwmark(fd, fwmark)))
		goto err_ret;
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto err_errno;
	if (bind(fd, &addr.sa, len) < 0)
		goto err_errno;
	len = sizeof(addr);
	if (getsockname(fd, &addr.sa, &len) < 0)
		goto err_errno;
	*bound_port = ntohs(family == AF_INET6 ? addr.in6.sin6_port : addr.in4.sin_port);
	return fd;

err_errno:
	ret = -errno;
err_ret:
	close(fd);
	return ret;
}

static int open_one(uint16_t port, uint32_t fwmark, bool reuseport, int *family,
		    uint16_t *bound_port)
{
	int fd = bind_family(AF_INET6, port, fwmark, reuseport, bound_port);

	if (fd >= 0) {
		*family = AF_INET6;
		return fd;
	}
	if (fd == -EADDRINUSE)
		return fd;
	fd = bind_family(AF_INET, port, fwmark, reuseport, bound_port);
	if (fd >= 0)
		*family = AF_INET;
	return fd;
}

int lr_socket_open(uint16_t port, uint32_t fwmark, int *family, uint16_t *bound_port)
{
	return open_one(port, fwmark, false, family, bound_port);
}

int lr_socket_open_group(unsigned n, uint16_t port, uint32_t fwmark, int fds[], int *family,
			 uint16_t *bound_port)
{
	unsigned i;
	int fd;

	if (n == 1) {
		fds[0] = open_one(port, fwmark, false, family, bound_port);
		return fds[0] < 0 ? fds[0] : 0;
	}
	if (port) {
		/* A plain bind fails if anyone holds the port, reuseport group or not. The port
		 * could be taken between this close and the group's bind; that race only costs the
		 * other binder its exclusivity, as with any SO_REUSEPORT server. */
		fd = open_one(port, 0, false, family, bound_port);
		if (fd < 0)
			return fd;
		close(fd);
	}
	for (i = 0; i < n; i++) {
		fd = open_one(i ? *bound_port : port, fwmark, true, family, bound_port);
		if (fd < 0)
			goto err;
		fds[i] = fd;
	}
	/* Without steering the group still works, only with more hand-offs between workers. */
	lr_socket_attach_steering(fds[0], n);
	return 0;
err:
	while (i--)
		close(fds[i]);
	return fd;
}

int lr_socket_send(int fd, int family, const union lr_sockaddr *dst, const void *buf,
		   size_t len)
{
	struct sockaddr_in6 mapped;
	const struct sockaddr *sa = &dst->sa;
	socklen_t salen = lr_sockaddr_len(dst);

	if (family == AF_INET6) {
		lr_sockaddr_map6(&mapped, dst);
		sa = (const struct sockaddr *)&mapped;
		salen = sizeof(mapped);
	} else if (dst->sa.sa_family != AF_INET) {
		return -EAFNOSUPPORT;
	}
	if (sendto(fd, buf, len, MSG_DONTWAIT, sa, salen) < 0)
		return -errno;
	return 0;
}

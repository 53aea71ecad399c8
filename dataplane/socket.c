/* UDP socket setup for the engine. */
#include "dataplane/socket.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int lr_socket_set_fwmark(int fd, uint32_t fwmark)
{
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark)) < 0)
		return -errno;
	return 0;
}

static int bind_family(int family, uint16_t port, uint32_t fwmark, uint16_t *bound_port)
{
	union lr_sockaddr addr;
	socklen_t len;
	int fd, zero = 0, ret;

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

int lr_socket_open(uint16_t port, uint32_t fwmark, int *family, uint16_t *bound_port)
{
	int fd = bind_family(AF_INET6, port, fwmark, bound_port);

	if (fd >= 0) {
		*family = AF_INET6;
		return fd;
	}
	if (fd == -EADDRINUSE)
		return fd;
	fd = bind_family(AF_INET, port, fwmark, bound_port);
	if (fd >= 0)
		*family = AF_INET;
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

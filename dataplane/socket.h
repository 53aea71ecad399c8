/* The UDP socket WireGuard speaks on: dual-stack when the host has IPv6, bound to the listen
 * port, marked with the fwmark. */
#ifndef LR_DATAPLANE_SOCKET_H
#define LR_DATAPLANE_SOCKET_H

#include <stdbool.h>
#include <stdint.h>

#include "common/sockaddr.h"

/* <linux/udp.h> values (kernel 4.18 and 5.0), for libcs whose <netinet/udp.h> lacks them. */
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* Opens and binds a socket on port (0: the kernel picks). Returns the fd and sets *family
 * (AF_INET6 dual-stack, or AF_INET when IPv6 is unavailable) and *bound_port; or a negative
 * errno (-EADDRINUSE when the port is taken). */
int lr_socket_open(uint16_t port, uint32_t fwmark, int *family, uint16_t *bound_port);
/* n sockets on one port in an SO_REUSEPORT group, one per worker: the kernel hashes each
 * 4-tuple to one socket, so a peer's datagrams reach one worker. The port is first checked to
 * be free with an ordinary bind, so that joining a foreign group is refused (-EADDRINUSE).
 * Fills fds[0..n-1]; returns 0 or a negative errno (nothing left open). */
int lr_socket_open_group(unsigned n, uint16_t port, uint32_t fwmark, int fds[], int *family,
			 uint16_t *bound_port);
int lr_socket_set_fwmark(int fd, uint32_t fwmark);
/* Turns on UDP GRO (coalesced receives); returns true if the kernel took it. */
bool lr_socket_enable_gro(int fd);
/* True if the socket takes UDP_SEGMENT (GSO sends). */
bool lr_socket_probe_gso(int fd);
/* Steers each transport packet of an SO_REUSEPORT group to the socket of the worker that
 * owns its session: a classic BPF program picks socket (low byte of the receiver index) % n.
 * Returns 0 or a negative errno (the kernel's hash then spreads packets, and the workers hand
 * mis-steered ones over). */
int lr_socket_attach_steering(int fd, unsigned n);
/* One datagram from the control thread (handshakes); returns 0 or a negative errno. */
int lr_socket_send(int fd, int family, const union lr_sockaddr *dst, const void *buf,
		   size_t len);

#endif

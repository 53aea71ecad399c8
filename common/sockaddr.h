/* Socket addresses for WireGuard endpoints: one union for IPv4 and IPv6, parse and print. */
#ifndef LR_COMMON_SOCKADDR_H
#define LR_COMMON_SOCKADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

union lr_sockaddr {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

/* "1.2.3.4:51820" or "[2001:db8::1]:51820" (the UAPI endpoint syntax); numeric only.
 * Returns 0 or -EINVAL. */
int lr_sockaddr_parse(union lr_sockaddr *out, const char *text);
/* Writes the UAPI form into buf (at least LR_SOCKADDR_STRLEN bytes); returns buf. */
#define LR_SOCKADDR_STRLEN 64
char *lr_sockaddr_format(const union lr_sockaddr *addr, char *buf, size_t len);
socklen_t lr_sockaddr_len(const union lr_sockaddr *addr);
bool lr_sockaddr_equal(const union lr_sockaddr *a, const union lr_sockaddr *b);
/* v4-mapped IPv6 (::ffff:a.b.c.d) becomes plain AF_INET; anything else is copied. */
void lr_sockaddr_unmap(union lr_sockaddr *out, const union lr_sockaddr *in);
/* AF_INET becomes v4-mapped AF_INET6 (for a dual-stack socket); AF_INET6 is copied. */
void lr_sockaddr_map6(struct sockaddr_in6 *out, const union lr_sockaddr *in);

#endif

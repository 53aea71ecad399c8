/* libFuzzer harness for dataplane/ip.h: the length and address reads of cryptokey routing must
 * stay inside the buffer and keep the promises the header makes about what they return. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/ip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads every byte of the address through a volatile sink, so that ASan sees the whole read
 * even if the compiler would otherwise drop an unused load. */
static void touch(const uint8_t *p, size_t len)
{
	volatile uint8_t sink = 0;

	for (size_t i = 0; i < len; i++)
		sink ^= p[i];
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A heap copy of exactly size bytes: one byte too far is a heap-buffer-overflow. */
	uint8_t *p = malloc(size ? size : 1);
	int family = 0;
	size_t len, addr_len;

	if (!p)
		abort();
	memcpy(p, data, size);
	len = lr_ip_packet_len(p, size, &family);
	if (len) {
		if (len > size)
			abort();
		if (family == AF_INET) {
			if (len < 20 || (p[0] >> 4) != 4 || (p[0] & 0xf) < 5 ||
			    len != (size_t)(p[2] << 8 | p[3]))
				abort();
			addr_len = 4;
		} else if (family == AF_INET6) {
			if (len < 40 || (p[0] >> 4) != 6 || len != 40 + (size_t)(p[4] << 8 | p[5]))
				abort();
			addr_len = 16;
		} else {
			abort();
		}
		/* The dataplane reads addresses only within the packet's own length. */
		if (lr_ip_src(p, family) + addr_len > p + len ||
		    lr_ip_dst(p, family) + addr_len > p + len)
			abort();
		touch(lr_ip_src(p, family), addr_len);
		touch(lr_ip_dst(p, family), addr_len);
	}
	free(p);
	return 0;
}

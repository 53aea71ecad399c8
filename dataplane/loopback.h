/* Two data planes wired back to back in one process: side 0's sends are delivered to side 1's
 * receive path and the other way round, with no kernel in between. lanrage-bench pipeline
 * measures the worker with it, and the unit tests check the fast path end to end with it. */
#ifndef LR_DATAPLANE_LOOPBACK_H
#define LR_DATAPLANE_LOOPBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/worker.h"

struct lr_loopback;

struct lr_loopback_side {
	struct lr_loopback *lb;
	int index;
	struct lr_dataplane dp;
	struct lr_worker *w;
	struct lr_peer *peer; /* the other side, as this side's peer */
	struct lr_worker_sinks sinks;
	struct lr_batch inbox; /* datagrams sent to this side, not yet received */
	uint64_t datagrams_in;
	uint64_t trains_in; /* receives that carried several datagrams (GSO/GRO) */
	uint64_t tun_packets;
	uint64_t tun_bytes;
};

struct lr_loopback {
	struct lr_loopback_side side[2];
	/* Called for every TUN write of a side (optional). */
	void (*on_tun_write)(void *ctx, int side, const uint8_t *data, size_t len);
	void *ctx;
};

/* Side 0 is 10.0.0.1 / fd00::1, side 1 10.0.0.2 / fd00::2; each allows only the other's
 * addresses. vnet_hdr: the TUN devices would carry virtio-net headers (reads must start with
 * one, writes get one). The sessions are fresh keypairs, no handshake. */
int lr_loopback_create(struct lr_loopback *lb, bool vnet_hdr);
void lr_loopback_destroy(struct lr_loopback *lb);
/* Feeds n TUN reads (as a read would return them) to side's send path and delivers all it
 * sends to the other side. Returns the number fed (fewer if the pool ran dry). */
unsigned lr_loopback_send(struct lr_loopback *lb, int side, const uint8_t *const *reads,
			  const size_t *lens, unsigned n);

#endif

/* Shared data-plane state: snapshots, the handshake ring, and the wake-ups between threads. */
#include "dataplane/dataplane.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static unsigned n_workers_pow2(unsigned n)
{
	unsigned p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

int lr_dataplane_init(struct lr_dataplane *dp, unsigned n_workers)
{
	unsigned n_rings = n_workers * n_workers, i;
	int ret;

	memset(dp, 0, sizeof(*dp));
	if (n_workers < 1 || n_workers > LR_MAX_WORKERS)
		return -EINVAL;
	dp->n_workers = n_workers;
	for (i = 0; i < LR_MAX_WORKERS; i++)
		dp->tun_fds[i] = dp->udp_fds[i] = -1;
	atomic_store(&dp->mtu, 1420);
	dp->handoff = calloc(n_rings, sizeof(*dp->handoff));
	if (!dp->handoff)
		return -ENOMEM;
	/* Ring i -> i is never used; allocating it keeps the indexing plain. */
	for (i = 0; i < n_rings; i++) {
		ret = n_workers == 1 ? 0
				     : lr_ring_init(&dp->handoff[i], LR_HANDOFF_SLOTS,
						    sizeof(struct lr_handoff_msg));
		if (ret)
			goto err_rings;
	}
	lr_index_table_init(&dp->index);
	lr_qsbr_init(&dp->qsbr);
	for (i = 0; i < n_workers; i++) {
		/* Split the kernel's budget of 4096 queued handshakes between the workers. */
		ret = lr_ring_init(&dp->handshakes[i], LR_HANDSHAKE_RING_SLOTS / n_workers_pow2(n_workers),
				   sizeof(struct lr_handshake_msg));
		if (ret)
			goto err_handshakes;
	}
	dp->control_wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (dp->control_wake_fd < 0) {
		ret = -errno;
		goto err_handshakes;
	}
	return 0;

err_handshakes:
	for (i = 0; i < n_workers; i++)
		lr_ring_destroy(&dp->handshakes[i]);
err_rings:
	for (i = 0; i < n_rings; i++)
		lr_ring_destroy(&dp->handoff[i]);
	free(dp->handoff);
	dp->handoff = NULL;
	return ret;
}

unsigned lr_dataplane_assign_owner(struct lr_dataplane *dp)
{
	return dp->next_owner++ % dp->n_workers;
}

void lr_dataplane_destroy(struct lr_dataplane *dp)
{
	struct lr_snapshot *snap = atomic_exchange(&dp->snapshot, NULL);

	lr_snapshot_free(snap);
	lr_qsbr_destroy(&dp->qsbr);
	for (unsigned i = 0; i < dp->n_workers; i++)
		lr_ring_destroy(&dp->handshakes[i]);
	for (unsigned i = 0; dp->handoff && i < dp->n_workers * dp->n_workers; i++)
		lr_ring_destroy(&dp->handoff[i]);
	free(dp->handoff);
	dp->handoff = NULL;
	if (dp->control_wake_fd >= 0)
		close(dp->control_wake_fd);
	dp->control_wake_fd = -1;
}

struct lr_snapshot *lr_snapshot_create(size_t n_peers)
{
	struct lr_snapshot *snap = calloc(1, sizeof(*snap) + n_peers * sizeof(snap->peers[0]));

	if (!snap)
		return NULL;
	lr_allowedips_init(&snap->routes);
	snap->n_peers = n_peers;
	return snap;
}

void lr_snapshot_free(struct lr_snapshot *snap)
{
	if (!snap)
		return;
	lr_allowedips_destroy(&snap->routes);
	free(snap);
}

static void snapshot_free_rcu(struct lr_qsbr_item *item)
{
	lr_snapshot_free((struct lr_snapshot *)((char *)item - offsetof(struct lr_snapshot, rcu)));
}

void lr_dataplane_publish(struct lr_dataplane *dp, struct lr_snapshot *snap)
{
	struct lr_snapshot *old = atomic_exchange(&dp->snapshot, snap);

	if (old)
		lr_qsbr_retire(&dp->qsbr, &old->rcu, snapshot_free_rcu);
}

void lr_dataplane_wake_control(struct lr_dataplane *dp)
{
	/* Only ever called on a transition (ring was empty, event bit was clear), so this is at
	 * most one syscall per handshake, never one per data packet. */
	if (eventfd_write(dp->control_wake_fd, 1) < 0) {
		/* EAGAIN: the counter is saturated, so the control thread is awake anyway. */
	}
}

void lr_dataplane_peer_event(struct lr_dataplane *dp, struct lr_peer *peer, uint32_t bits)
{
	uint32_t old = atomic_fetch_or(&peer->control_events, bits);

	if ((old & bits) != bits)
		lr_dataplane_wake_control(dp);
}

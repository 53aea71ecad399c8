/* Allocation of the SPSC hand-off rings; the operations are inline in ring.h. */
#include "dataplane/ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int lr_ring_init(struct lr_ring *r, size_t n_slots, size_t slot_size)
{
	memset(r, 0, sizeof(*r));
	if (n_slots < 2 || (n_slots & (n_slots - 1)) || slot_size == 0)
		return -EINVAL;
	r->slots = aligned_alloc(LR_CACHELINE, ((n_slots * slot_size + LR_CACHELINE - 1) /
						LR_CACHELINE) * LR_CACHELINE);
	if (!r->slots)
		return -ENOMEM;
	r->mask = n_slots - 1;
	r->slot_size = slot_size;
	return 0;
}

void lr_ring_destroy(struct lr_ring *r)
{
	free(r->slots);
	r->slots = NULL;
}

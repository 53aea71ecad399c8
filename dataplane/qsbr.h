/* Quiescent-state-based reclamation between the control thread (sole writer) and the workers
 * (readers). The control thread unlinks an object, retires it here, and frees it only after
 * every worker has passed a quiescent point (finished a batch, or gone to sleep) since. Readers
 * pay one relaxed store per batch; nothing on a worker waits. */
#ifndef LR_DATAPLANE_QSBR_H
#define LR_DATAPLANE_QSBR_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

#define LR_QSBR_MAX_READERS 64
#define LR_QSBR_OFFLINE UINT64_MAX

struct lr_qsbr_reader {
	_Atomic uint64_t seen; /* epoch at the last quiescent point, or LR_QSBR_OFFLINE */
} __attribute__((aligned(LR_CACHELINE)));

/* Embedded in every object that can be retired, so retiring never allocates or fails. */
struct lr_qsbr_item {
	struct lr_qsbr_item *next;
	uint64_t epoch;
	void (*free_fn)(struct lr_qsbr_item *item);
};

struct lr_qsbr {
	_Atomic uint64_t epoch;
	struct lr_qsbr_reader readers[LR_QSBR_MAX_READERS];
	_Atomic unsigned n_readers;
	struct lr_qsbr_item *retired; /* control thread only */
	size_t n_retired;
};

void lr_qsbr_init(struct lr_qsbr *q);
/* Frees everything still retired; only when no reader is online any more. */
void lr_qsbr_destroy(struct lr_qsbr *q);
/* Registers a reader (before its thread starts); returns its slot, or NULL when full. The
 * reader starts offline. */
struct lr_qsbr_reader *lr_qsbr_reader_register(struct lr_qsbr *q);

/* Reader side. online/quiescent before touching shared objects; offline before blocking. */
static inline void lr_qsbr_quiescent(struct lr_qsbr *q, struct lr_qsbr_reader *r)
{
	/* seq_cst pairs with the writer's epoch increment: once a reader announces epoch E it can
	 * no longer hold anything unlinked before E was published. */
	atomic_store(&r->seen, atomic_load(&q->epoch));
}
#define lr_qsbr_online lr_qsbr_quiescent
static inline void lr_qsbr_offline(struct lr_qsbr_reader *r)
{
	atomic_store(&r->seen, LR_QSBR_OFFLINE);
}

/* Writer side (control thread only). The object holding item must already be unreachable for
 * new readers; free_fn runs once no reader can hold it any more. */
void lr_qsbr_retire(struct lr_qsbr *q, struct lr_qsbr_item *item,
		    void (*free_fn)(struct lr_qsbr_item *item));
/* Frees every retired object that no reader can still hold; returns how many remain. */
size_t lr_qsbr_reclaim(struct lr_qsbr *q);

#endif

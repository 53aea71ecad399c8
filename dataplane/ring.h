/* Bounded single-producer single-consumer ring of fixed-size slots, the hand-off between a
 * worker and the control thread. Lock-free: the producer owns head, the consumer owns tail, and
 * each publishes with release/acquire. A full ring refuses (the caller counts the drop): never
 * blocks and never grows, so a flood cannot queue unbounded work. */
#ifndef LR_DATAPLANE_RING_H
#define LR_DATAPLANE_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

struct lr_ring {
	_Atomic size_t head __attribute__((aligned(LR_CACHELINE))); /* next slot to write */
	_Atomic size_t tail __attribute__((aligned(LR_CACHELINE))); /* next slot to read */
	size_t mask __attribute__((aligned(LR_CACHELINE)));
	size_t slot_size;
	uint8_t *slots;
};

/* n_slots must be a power of two. Returns 0, -EINVAL or -ENOMEM. */
int lr_ring_init(struct lr_ring *r, size_t n_slots, size_t slot_size);
void lr_ring_destroy(struct lr_ring *r);

/* Producer: a slot to fill, or NULL when full; then lr_ring_push() publishes it. */
static inline void *lr_ring_reserve(struct lr_ring *r)
{
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);

	if (head - tail > r->mask)
		return NULL;
	return r->slots + (head & r->mask) * r->slot_size;
}

/* Publishes the reserved slot; returns true if the ring was empty before (wake the consumer). */
static inline bool lr_ring_push(struct lr_ring *r)
{
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);

	atomic_store_explicit(&r->head, head + 1, memory_order_release);
	return head == tail;
}

/* Consumer: the oldest slot, or NULL when empty; lr_ring_pop() releases it. */
static inline void *lr_ring_peek(struct lr_ring *r)
{
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t head = atomic_load_explicit(&r->head, memory_order_acquire);

	if (tail == head)
		return NULL;
	return r->slots + (tail & r->mask) * r->slot_size;
}

static inline void lr_ring_pop(struct lr_ring *r)
{
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
}

/* Approximate fill level, for the "under load" decision. */
static inline size_t lr_ring_count(struct lr_ring *r)
{
	return atomic_load_explicit(&r->head, memory_order_acquire) -
	       atomic_load_explicit(&r->tail, memory_order_acquire);
}

static inline size_t lr_ring_capacity(const struct lr_ring *r)
{
	return r->mask + 1;
}

#endif

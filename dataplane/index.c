/* Receiver-index hash table: single writer, lock-free readers. */
#include "dataplane/index.h"

#include <sodium.h>
#include <string.h>

static struct lr_index_entry *_Atomic *bucket(struct lr_index_table *t, uint32_t index)
{
	return &t->buckets[index & (LR_INDEX_BUCKETS - 1)];
}

void lr_index_table_init(struct lr_index_table *t)
{
	memset(t, 0, sizeof(*t));
}

void lr_index_table_insert_at(struct lr_index_table *t, struct lr_index_entry *e, uint32_t index)
{
	struct lr_index_entry *_Atomic *head = bucket(t, index);

	e->index = index;
	atomic_store_explicit(&e->next, atomic_load_explicit(head, memory_order_relaxed),
			      memory_order_relaxed);
	/* Release: a reader that finds e sees its fields initialised. */
	atomic_store_explicit(head, e, memory_order_release);
	e->linked = true;
}

uint32_t lr_index_table_insert(struct lr_index_table *t, struct lr_index_entry *e,
			       unsigned owner, unsigned n_workers)
{
	uint32_t index;

	/* Random indices keep an observer from learning how many sessions we hold; a collision
	 * with a live index is retried (there are at most a few thousand of them), and so is a
	 * low byte that would steer the session's packets to another worker. */
	do {
		index = randombytes_random();
	} while (lr_index_owner(index, n_workers) != owner ||
		 lr_index_table_lookup(t, index, LR_INDEX_HANDSHAKE | LR_INDEX_KEYPAIR));
	lr_index_table_insert_at(t, e, index);
	return index;
}

void lr_index_table_remove(struct lr_index_table *t, struct lr_index_entry *e)
{
	struct lr_index_entry *_Atomic *pp = bucket(t, e->index);
	struct lr_index_entry *cur;

	if (!e->linked)
		return;
	while ((cur = atomic_load_explicit(pp, memory_order_relaxed))) {
		if (cur == e) {
			atomic_store_explicit(pp, atomic_load_explicit(&e->next, memory_order_relaxed),
					      memory_order_release);
			break;
		}
		pp = &cur->next;
	}
	e->linked = false;
}

struct lr_index_entry *lr_index_table_lookup(struct lr_index_table *t, uint32_t index,
					     unsigned type_mask)
{
	struct lr_index_entry *e = atomic_load_explicit(bucket(t, index), memory_order_acquire);

	for (; e; e = atomic_load_explicit(&e->next, memory_order_acquire)) {
		if (e->index == index && (e->type & type_mask))
			return e;
	}
	return NULL;
}

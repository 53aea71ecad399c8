/* QSBR: deferred frees for objects the workers may still be reading. */
#include "dataplane/qsbr.h"

#include <string.h>

void lr_qsbr_init(struct lr_qsbr *q)
{
	memset(q, 0, sizeof(*q));
	atomic_store(&q->epoch, 1);
}

struct lr_qsbr_reader *lr_qsbr_reader_register(struct lr_qsbr *q)
{
	unsigned n = atomic_load(&q->n_readers);

	if (n >= LR_QSBR_MAX_READERS)
		return NULL;
	atomic_store(&q->readers[n].seen, LR_QSBR_OFFLINE);
	atomic_store(&q->n_readers, n + 1);
	return &q->readers[n];
}

void lr_qsbr_retire(struct lr_qsbr *q, struct lr_qsbr_item *item,
		    void (*free_fn)(struct lr_qsbr_item *item))
{
	item->free_fn = free_fn;
	/* The object was unlinked before this increment; a reader that reports an epoch at or
	 * above item->epoch read the links after the unlink. */
	item->epoch = atomic_fetch_add(&q->epoch, 1) + 1;
	item->next = q->retired;
	q->retired = item;
	q->n_retired++;
}

static uint64_t min_seen(struct lr_qsbr *q)
{
	unsigned n = atomic_load(&q->n_readers);
	uint64_t min = LR_QSBR_OFFLINE;

	for (unsigned i = 0; i < n; i++) {
		uint64_t s = atomic_load(&q->readers[i].seen);

		if (s < min)
			min = s;
	}
	return min;
}

size_t lr_qsbr_reclaim(struct lr_qsbr *q)
{
	uint64_t safe;
	struct lr_qsbr_item **pp = &q->retired;

	if (!q->retired)
		return 0;
	safe = min_seen(q);
	while (*pp) {
		struct lr_qsbr_item *item = *pp;

		if (item->epoch <= safe) {
			*pp = item->next;
			q->n_retired--;
			item->free_fn(item);
		} else {
			pp = &item->next;
		}
	}
	return q->n_retired;
}

void lr_qsbr_destroy(struct lr_qsbr *q)
{
	while (q->retired) {
		struct lr_qsbr_item *item = q->retired;

		q->retired = item->next;
		item->free_fn(item);
	}
	q->n_retired = 0;
}

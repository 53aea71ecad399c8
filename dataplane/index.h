/* Receiver-index table: maps the 32-bit index we put in handshakes to the handshake or session
 * it names. The control thread is the only writer; workers look sessions up without locks
 * (entries are unlinked with release stores and freed through QSBR with their owner). */
#ifndef LR_DATAPLANE_INDEX_H
#define LR_DATAPLANE_INDEX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define LR_INDEX_BUCKETS 8192 /* indices are random, so the low bits hash well */

enum lr_index_type { LR_INDEX_HANDSHAKE = 1, LR_INDEX_KEYPAIR = 2 };

struct lr_peer;
struct lr_keypair;

/* Embedded in the peer (its handshake) and in each keypair. */
struct lr_index_entry {
	struct lr_index_entry *_Atomic next;
	uint32_t index;
	enum lr_index_type type;
	bool linked;
	struct lr_peer *peer;
	struct lr_keypair *keypair; /* LR_INDEX_KEYPAIR only */
};

struct lr_index_table {
	struct lr_index_entry *_Atomic buckets[LR_INDEX_BUCKETS];
};

void lr_index_table_init(struct lr_index_table *t);
/* Control thread: picks a fresh random index for e whose low byte modulo n_workers is owner,
 * links it and returns the index. e must be unlinked. The low byte is what the kernel's
 * SO_REUSEPORT steering program reads (dataplane/socket.c), so every transport packet for the
 * session arrives on its owner's socket. */
uint32_t lr_index_table_insert(struct lr_index_table *t, struct lr_index_entry *e,
			       unsigned owner, unsigned n_workers);
/* The worker that owns index (see lr_index_table_insert). */
static inline unsigned lr_index_owner(uint32_t index, unsigned n_workers)
{
	return (index & 0xff) % n_workers;
}
/* Control thread: links e under a known index (a keypair takes over its handshake's index). */
void lr_index_table_insert_at(struct lr_index_table *t, struct lr_index_entry *e, uint32_t index);
/* Control thread: unlinks e if linked. A reader walking past e still sees a valid next. */
void lr_index_table_remove(struct lr_index_table *t, struct lr_index_entry *e);
/* Any thread: the entry for index with one of the types in type_mask, or NULL. */
struct lr_index_entry *lr_index_table_lookup(struct lr_index_table *t, uint32_t index,
					     unsigned type_mask);

#endif

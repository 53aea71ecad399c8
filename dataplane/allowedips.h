/* Cryptokey routing table: a binary trie per family mapping IP prefixes to peers, longest
 * prefix match. Single writer; the control thread keeps a mutable master copy and publishes
 * immutable clones to the workers (dataplane/snapshot.h), so the trie itself needs no locking. */
#ifndef LR_DATAPLANE_ALLOWEDIPS_H
#define LR_DATAPLANE_ALLOWEDIPS_H

#include <stddef.h>
#include <stdint.h>

struct lr_allowedips_node;

struct lr_allowedips {
	struct lr_allowedips_node *root4;
	struct lr_allowedips_node *root6;
	size_t count; /* number of prefixes */
};

void lr_allowedips_init(struct lr_allowedips *t);
void lr_allowedips_destroy(struct lr_allowedips *t);

/* family AF_INET (addr 4 bytes, cidr <= 32) or AF_INET6 (16 bytes, cidr <= 128). Host bits
 * below cidr are ignored. Inserting an existing prefix moves it to peer (as in the kernel).
 * Returns 0, -EINVAL (bad family/cidr, NULL peer) or -ENOMEM (table unchanged). */
int lr_allowedips_insert(struct lr_allowedips *t, int family, const void *addr, uint8_t cidr,
			 void *peer);
/* Removes the exact prefix if peer owns it. Returns 0, -EINVAL (bad family/cidr) or -ENOENT. */
int lr_allowedips_remove(struct lr_allowedips *t, int family, const void *addr, uint8_t cidr,
			 void *peer);
void lr_allowedips_remove_by_peer(struct lr_allowedips *t, void *peer);

/* Longest-prefix match; NULL when nothing covers addr. */
void *lr_allowedips_lookup(const struct lr_allowedips *t, int family, const void *addr);

/* Calls fn for every prefix of peer (peer NULL: every prefix), IPv4 before IPv6, each family in
 * ascending address order. addr is 4 or 16 bytes with host bits zero. Stops early and returns
 * fn's value when it is non-zero. */
typedef int (*lr_allowedips_fn)(void *ctx, void *peer, int family, const uint8_t *addr,
				uint8_t cidr);
int lr_allowedips_foreach(const struct lr_allowedips *t, void *peer, lr_allowedips_fn fn,
			  void *ctx);

/* Deep copy into an initialised empty dst. Returns 0 or -ENOMEM (dst left empty). */
int lr_allowedips_clone(struct lr_allowedips *dst, const struct lr_allowedips *src);

/* Checks the trie's invariants, for tests and fuzzers: each node a longer prefix inside its
 * parent's with host bits clear, every node without a peer a fork of two children (so removal
 * pruned what it should), count right. Stores the number of nodes in *nodes (if not NULL).
 * Returns 0 or -EUCLEAN. */
int lr_allowedips_verify(const struct lr_allowedips *t, size_t *nodes);

#endif

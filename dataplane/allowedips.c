/* Cryptokey routing: a path-compressed binary trie per family with longest-prefix match. */
#include "dataplane/allowedips.h"

#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/compiler.h"

/* The shape follows the kernel's drivers/net/wireguard/allowedips.c: every node holds a prefix
 * of cidr bits and two children that extend it, so a chain of single-child nodes is never
 * stored, and a node without a peer exists only as the fork of two longer prefixes. Unlike the
 * kernel there is no RCU and no parent pointer: the table has one writer and is published as an
 * immutable clone, so removal and pruning keep the path on a small stack instead. */

/* cidrs strictly grow along a path from a root, so a path has at most 129 nodes (/0 .. /128). */
#define TRIE_MAX_DEPTH 129
/* A pre-order walk keeps at most one pending second child per level, plus the two children of
 * the node just visited. */
#define TRIE_STACK_LEN (TRIE_MAX_DEPTH + 2)

/* Addresses are two host-order 64-bit words, most significant bit first, IPv4 in the top half
 * of word 0, so that both families share one code path and a prefix test is two ANDs and two
 * XORs against the cached mask. Host bits of key are zero. The node fills one cache line. */
struct lr_allowedips_node {
	_Alignas(LR_CACHELINE) struct lr_allowedips_node *child[2];
	void *peer; /* NULL: only the fork of its two children */
	uint64_t key[2];
	uint64_t mask[2];
	uint8_t cidr;
};

_Static_assert(sizeof(struct lr_allowedips_node) == LR_CACHELINE, "a node is one cache line");

/* A looked-up or inserted address: the third word is always zero so that reading "the bit after
 * a /128" (bit 128) needs no branch and selects child[0], which a /128 never has. */
struct key {
	uint64_t w[3];
};

static unsigned family_bits(int family)
{
	if (family == AF_INET)
		return 32;
	if (family == AF_INET6)
		return 128;
	return 0;
}

static void key_load(struct key *k, int family, const void *addr)
{
	uint32_t a4;
	uint64_t a6[2];

	if (family == AF_INET) {
		memcpy(&a4, addr, sizeof(a4));
		k->w[0] = (uint64_t)be32toh(a4) << 32;
		k->w[1] = 0;
	} else {
		memcpy(a6, addr, sizeof(a6));
		k->w[0] = be64toh(a6[0]);
		k->w[1] = be64toh(a6[1]);
	}
	k->w[2] = 0;
}

static void key_store(uint8_t *out, int family, const uint64_t key[2])
{
	uint32_t a4;
	uint64_t a6[2];

	if (family == AF_INET) {
		a4 = htobe32((uint32_t)(key[0] >> 32));
		memcpy(out, &a4, sizeof(a4));
	} else {
		a6[0] = htobe64(key[0]);
		a6[1] = htobe64(key[1]);
		memcpy(out, a6, sizeof(a6));
	}
}

/* The top nbits (0..64) of a word; a shift by 64 would be undefined, hence the test. */
static uint64_t word_mask(unsigned nbits)
{
	return nbits ? ~0ULL << (64 - nbits) : 0;
}

static void mask_make(uint64_t mask[2], unsigned cidr)
{
	mask[0] = word_mask(cidr < 64 ? cidr : 64);
	mask[1] = word_mask(cidr > 64 ? cidr - 64 : 0);
}

static inline bool prefix_matches(const struct lr_allowedips_node *node, const uint64_t *w)
{
	return !(((w[0] & node->mask[0]) ^ node->key[0]) | ((w[1] & node->mask[1]) ^ node->key[1]));
}

/* Bit i counted from the most significant; w must have a word at index i / 64. */
static inline unsigned bit_at(const uint64_t *w, unsigned i)
{
	return (w[i >> 6] >> (63 - (i & 63))) & 1;
}

/* Length of the common leading run of two keys, 128 when equal. */
static unsigned common_bits(const uint64_t *a, const uint64_t *b)
{
	uint64_t x0 = a[0] ^ b[0], x1 = a[1] ^ b[1];

	if (x0)
		return (unsigned)__builtin_clzll(x0);
	if (x1)
		return 64 + (unsigned)__builtin_clzll(x1);
	return 128;
}

static struct lr_allowedips_node *node_create(const uint64_t *w, unsigned cidr, void *peer)
{
	struct lr_allowedips_node *node = aligned_alloc(LR_CACHELINE, sizeof(*node));

	if (unlikely(!node))
		return NULL;
	node->child[0] = node->child[1] = NULL;
	node->peer = peer;
	node->cidr = (uint8_t)cidr;
	mask_make(node->mask, cidr);
	node->key[0] = w[0] & node->mask[0];
	node->key[1] = w[1] & node->mask[1];
	return node;
}

static struct lr_allowedips_node **root_slot(struct lr_allowedips *t, int family)
{
	return family == AF_INET ? &t->root4 : &t->root6;
}

/* Walks down while the node is a prefix of key no longer than cidr. Returns the slot where the
 * walk stopped: empty, the exact node for key/cidr, or a node key/cidr must be placed above.
 * When path is given it receives the slots of the nodes passed on the way (at most 128). */
static struct lr_allowedips_node **descend(struct lr_allowedips_node **slot, const struct key *k,
					   unsigned cidr, struct lr_allowedips_node ***path,
					   unsigned *depth)
{
	struct lr_allowedips_node *node;

	while ((node = *slot) && node->cidr < cidr && prefix_matches(node, k->w)) {
		if (path)
			path[(*depth)++] = slot;
		slot = &node->child[bit_at(k->w, node->cidr)];
	}
	return slot;
}

static bool is_exact(const struct lr_allowedips_node *node, const struct key *k, unsigned cidr)
{
	return node && node->cidr == cidr && prefix_matches(node, k->w);
}

/* Puts a new leaf for k/cidr into slot, above or beside the subtree already there (down).
 * Both allocations happen before the first store, so -ENOMEM leaves the trie as it was. */
static int link_new(struct lr_allowedips_node **slot, const struct key *k, unsigned cidr,
		    void *peer)
{
	struct lr_allowedips_node *down = *slot, *leaf, *fork;
	unsigned common;

	leaf = node_create(k->w, cidr, peer);
	if (unlikely(!leaf))
		return -ENOMEM;
	if (!down) {
		*slot = leaf;
		return 0;
	}
	/* descend stopped at down, so down is longer than cidr or leaves k's prefix early. */
	common = common_bits(down->key, k->w);
	if (common >= cidr) {
		leaf->child[bit_at(down->key, cidr)] = down;
		*slot = leaf;
		return 0;
	}
	fork = node_create(k->w, common, NULL);
	if (unlikely(!fork)) {
		free(leaf);
		return -ENOMEM;
	}
	fork->child[bit_at(k->w, common)] = leaf;
	fork->child[bit_at(down->key, common)] = down;
	*slot = fork;
	return 0;
}

/* Drops the node in slot if it no longer earns its place: no peer and fewer than two children
 * (a single child moves up). Returns whether it was dropped. */
static bool prune(struct lr_allowedips_node **slot)
{
	struct lr_allowedips_node *node = *slot;

	if (node->peer || (node->child[0] && node->child[1]))
		return false;
	*slot = node->child[0] ? node->child[0] : node->child[1];
	free(node);
	return true;
}

static void tree_free(struct lr_allowedips_node *root)
{
	struct lr_allowedips_node *stack[TRIE_STACK_LEN], *node;
	unsigned sp = 0;

	if (root)
		stack[sp++] = root;
	while (sp) {
		node = stack[--sp];
		if (node->child[1])
			stack[sp++] = node->child[1];
		if (node->child[0])
			stack[sp++] = node->child[0];
		free(node);
	}
}

void lr_allowedips_init(struct lr_allowedips *t)
{
	t->root4 = NULL;
	t->root6 = NULL;
	t->count = 0;
}

void lr_allowedips_destroy(struct lr_allowedips *t)
{
	tree_free(t->root4);
	tree_free(t->root6);
	lr_allowedips_init(t);
}

int lr_allowedips_insert(struct lr_allowedips *t, int family, const void *addr, uint8_t cidr,
			 void *peer)
{
	unsigned bits = family_bits(family);
	struct lr_allowedips_node **slot;
	struct key k;
	int ret;

	if (unlikely(!bits || cidr > bits || !peer))
		return -EINVAL;
	key_load(&k, family, addr);
	slot = descend(root_slot(t, family), &k, cidr, NULL, NULL);
	if (is_exact(*slot, &k, cidr)) {
		if (!(*slot)->peer)
			t->count++;
		(*slot)->peer = peer;
		return 0;
	}
	ret = link_new(slot, &k, cidr, peer);
	if (ret)
		return ret;
	t->count++;
	return 0;
}

int lr_allowedips_remove(struct lr_allowedips *t, int family, const void *addr, uint8_t cidr,
			 void *peer)
{
	struct lr_allowedips_node **path[TRIE_MAX_DEPTH], **slot;
	unsigned bits = family_bits(family), depth = 0;
	struct key k;

	if (unlikely(!bits || cidr > bits))
		return -EINVAL;
	/* A fork node's peer is NULL too; it is not a prefix anyone owns. */
	if (!peer)
		return -ENOENT;
	key_load(&k, family, addr);
	slot = descend(root_slot(t, family), &k, cidr, path, &depth);
	if (!is_exact(*slot, &k, cidr) || (*slot)->peer != peer)
		return -ENOENT;
	(*slot)->peer = NULL;
	t->count--;
	/* Only a leaf's removal changes its parent's child count, and a peerless parent then has
	 * one child left; a node with one child leaves its parent's count as it was. */
	if (prune(slot) && depth)
		prune(path[depth - 1]);
	return 0;
}

/* Post-order, so that a fork is judged after its children had their chance to go. */
static void tree_remove_peer(struct lr_allowedips_node **root, void *peer, size_t *count)
{
	struct frame {
		struct lr_allowedips_node **slot;
		unsigned next;
	} stack[TRIE_MAX_DEPTH];
	struct lr_allowedips_node *node, **child;
	unsigned sp = 0;

	if (*root)
		stack[sp++] = (struct frame){ root, 0 };
	while (sp) {
		node = *stack[sp - 1].slot;
		if (stack[sp - 1].next < 2) {
			child = &node->child[stack[sp - 1].next++];
			if (*child)
				stack[sp++] = (struct frame){ child, 0 };
			continue;
		}
		if (node->peer == peer) {
			node->peer = NULL;
			--*count;
		}
		prune(stack[--sp].slot);
	}
}

void lr_allowedips_remove_by_peer(struct lr_allowedips *t, void *peer)
{
	if (!peer)
		return;
	tree_remove_peer(&t->root4, peer, &t->count);
	tree_remove_peer(&t->root6, peer, &t->count);
}

/* The packet path: no allocation, one pass down, at most one node per distinct prefix length.
 * The last node with a peer that matched on the way down is the longest prefix. */
void *lr_allowedips_lookup(const struct lr_allowedips *t, int family, const void *addr)
{
	const struct lr_allowedips_node *node;
	void *best = NULL;
	struct key k;

	if (family == AF_INET)
		node = t->root4;
	else if (likely(family == AF_INET6))
		node = t->root6;
	else
		return NULL;
	key_load(&k, family, addr);
	while (node && prefix_matches(node, k.w)) {
		if (node->peer)
			best = node->peer;
		node = node->child[bit_at(k.w, node->cidr)];
	}
	return best;
}

/* Pre-order with child[0] first is ascending address order, a prefix before the longer
 * prefixes inside it. fn must not modify the table. */
static int tree_foreach(const struct lr_allowedips_node *root, int family, void *peer,
			lr_allowedips_fn fn, void *ctx)
{
	const struct lr_allowedips_node *stack[TRIE_STACK_LEN], *node;
	uint8_t addr[16];
	unsigned sp = 0;
	int ret;

	if (root)
		stack[sp++] = root;
	while (sp) {
		node = stack[--sp];
		if (node->child[1])
			stack[sp++] = node->child[1];
		if (node->child[0])
			stack[sp++] = node->child[0];
		if (!node->peer || (peer && node->peer != peer))
			continue;
		key_store(addr, family, node->key);
		ret = fn(ctx, node->peer, family, addr, node->cidr);
		if (ret)
			return ret;
	}
	return 0;
}

int lr_allowedips_foreach(const struct lr_allowedips *t, void *peer, lr_allowedips_fn fn,
			  void *ctx)
{
	int ret = tree_foreach(t->root4, AF_INET, peer, fn, ctx);

	if (ret)
		return ret;
	return tree_foreach(t->root6, AF_INET6, peer, fn, ctx);
}

/* Each copy is linked in before its children are visited, with its child slots cleared, so a
 * failure midway leaves a well-formed partial tree that tree_free can take. */
static int tree_copy(struct lr_allowedips_node **dst, const struct lr_allowedips_node *src)
{
	struct frame {
		const struct lr_allowedips_node *src;
		struct lr_allowedips_node **slot;
	} stack[TRIE_STACK_LEN], top;
	struct lr_allowedips_node *copy;
	unsigned sp = 0, i;

	if (src)
		stack[sp++] = (struct frame){ src, dst };
	while (sp) {
		top = stack[--sp];
		copy = aligned_alloc(LR_CACHELINE, sizeof(*copy));
		if (unlikely(!copy))
			return -ENOMEM;
		*copy = *top.src;
		copy->child[0] = copy->child[1] = NULL;
		*top.slot = copy;
		for (i = 2; i-- > 0;)
			if (top.src->child[i])
				stack[sp++] = (struct frame){ top.src->child[i], &copy->child[i] };
	}
	return 0;
}

int lr_allowedips_clone(struct lr_allowedips *dst, const struct lr_allowedips *src)
{
	if (unlikely(tree_copy(&dst->root4, src->root4) || tree_copy(&dst->root6, src->root6))) {
		lr_allowedips_destroy(dst);
		return -ENOMEM;
	}
	dst->count = src->count;
	return 0;
}

/* One node against its parent: a strictly longer prefix inside the parent's, on the side the
 * parent's next bit says, with host bits clear and the mask its cidr implies. */
static bool node_sound(const struct lr_allowedips_node *node,
		       const struct lr_allowedips_node *parent, unsigned side, unsigned bits)
{
	uint64_t mask[2];

	mask_make(mask, node->cidr);
	if (node->cidr > bits || memcmp(mask, node->mask, sizeof(mask)) ||
	    (node->key[0] & ~mask[0]) || (node->key[1] & ~mask[1]))
		return false;
	if (bits == 32 && (node->key[0] & 0xffffffffULL || node->key[1]))
		return false;
	if (!node->peer && !(node->child[0] && node->child[1]))
		return false;
	if (!parent)
		return true;
	return node->cidr > parent->cidr && prefix_matches(parent, node->key) &&
	       bit_at(node->key, parent->cidr) == side;
}

static int tree_verify(const struct lr_allowedips_node *root, unsigned bits, size_t *nodes,
		       size_t *prefixes)
{
	struct frame {
		const struct lr_allowedips_node *node, *parent;
		unsigned side;
	} stack[TRIE_STACK_LEN], top;
	unsigned sp = 0, i;

	if (root)
		stack[sp++] = (struct frame){ root, NULL, 0 };
	while (sp) {
		top = stack[--sp];
		if (!node_sound(top.node, top.parent, top.side, bits))
			return -EUCLEAN;
		++*nodes;
		*prefixes += top.node->peer != NULL;
		for (i = 2; i-- > 0;)
			if (top.node->child[i])
				stack[sp++] = (struct frame){ top.node->child[i], top.node, i };
	}
	return 0;
}

int lr_allowedips_verify(const struct lr_allowedips *t, size_t *nodes)
{
	size_t n = 0, prefixes = 0;

	if (tree_verify(t->root4, 32, &n, &prefixes) || tree_verify(t->root6, 128, &n, &prefixes) ||
	    prefixes != t->count)
		return -EUCLEAN;
	if (nodes)
		*nodes = n;
	return 0;
}

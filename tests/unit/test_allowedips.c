/* Allowed-IPs trie: hand-written cases and random comparison with a flat reference table. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "common/compiler.h"
#include "dataplane/allowedips.h"

#define NPEERS 12

static uint64_t seed;
static char peers[NPEERS]; /* only their addresses matter */

/* The trie's nodes come from aligned_alloc; this replacement lets a test make the Nth
 * allocation fail. It forwards to posix_memalign, which the sanitizers intercept, so ASan
 * still sees every block and LeakSanitizer still reports a leak on the failure paths. */
static long alloc_fail_countdown = -1;

void *aligned_alloc(size_t alignment, size_t size)
{
	void *p;

	if (alloc_fail_countdown >= 0 && alloc_fail_countdown-- == 0)
		return NULL;
	return posix_memalign(&p, alignment, size) ? NULL : p;
}

/* splitmix64: a fixed, tiny generator, so a seed reproduces on any libc. */
static uint64_t rnd(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned family_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

static void mask_bytes(uint8_t *a, int family, unsigned cidr)
{
	unsigned i, len = family_len(family);

	for (i = 0; i < len; i++) {
		if (cidr >= 8 * (i + 1))
			continue;
		a[i] &= cidr <= 8 * i ? 0 : (uint8_t)(0xff << (8 - (cidr - 8 * i)));
	}
}

/* ---- The reference: a flat array scanned linearly (the kernel selftest's
 * horrible_allowedips). Slow on purpose, obviously right. ---- */

struct entry {
	int family;
	uint8_t addr[16]; /* host bits zero */
	uint8_t cidr;
	void *peer;
};

struct ref {
	struct entry *v;
	size_t n, cap;
};

static bool bit_of(const uint8_t *a, unsigned i)
{
	return a[i / 8] >> (7 - i % 8) & 1;
}

static bool ref_covers(const struct entry *e, int family, const uint8_t *addr)
{
	unsigned i;

	if (e->family != family)
		return false;
	for (i = 0; i < e->cidr; i++)
		if (bit_of(e->addr, i) != bit_of(addr, i))
			return false;
	return true;
}

static struct entry *ref_find(struct ref *r, int family, const uint8_t *addr, uint8_t cidr)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (r->v[i].family == family && r->v[i].cidr == cidr &&
		    !memcmp(r->v[i].addr, addr, family_len(family)))
			return &r->v[i];
	return NULL;
}

static void ref_insert(struct ref *r, int family, const uint8_t *raw, uint8_t cidr, void *peer)
{
	struct entry e = { .family = family, .cidr = cidr, .peer = peer }, *old;

	memcpy(e.addr, raw, family_len(family));
	mask_bytes(e.addr, family, cidr);
	old = ref_find(r, family, e.addr, cidr);
	if (old) {
		old->peer = peer;
		return;
	}
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 64;
		r->v = realloc(r->v, r->cap * sizeof(*r->v));
		assert_non_null(r->v);
	}
	r->v[r->n++] = e;
}

static int ref_remove(struct ref *r, int family, const uint8_t *raw, uint8_t cidr, void *peer)
{
	uint8_t addr[16] = { 0 };
	struct entry *e;

	memcpy(addr, raw, family_len(family));
	mask_bytes(addr, family, cidr);
	e = ref_find(r, family, addr, cidr);
	if (!e || e->peer != peer)
		return -ENOENT;
	*e = r->v[--r->n];
	return 0;
}

static void ref_remove_by_peer(struct ref *r, void *peer)
{
	size_t i = 0;

	while (i < r->n) {
		if (r->v[i].peer == peer)
			r->v[i] = r->v[--r->n];
		else
			i++;
	}
}

static void *ref_lookup(const struct ref *r, int family, const uint8_t *addr)
{
	const struct entry *best = NULL;
	size_t i;

	for (i = 0; i < r->n; i++)
		if (ref_covers(&r->v[i], family, addr) && (!best || r->v[i].cidr > best->cidr))
			best = &r->v[i];
	return best ? best->peer : NULL;
}

static int entry_cmp(const void *pa, const void *pb)
{
	const struct entry *a = pa, *b = pb;
	int c;

	if (a->family != b->family)
		return a->family == AF_INET ? -1 : 1;
	c = memcmp(a->addr, b->addr, family_len(a->family));
	if (c)
		return c;
	return (int)a->cidr - (int)b->cidr;
}

/* ---- Comparing the trie with the reference ---- */

struct list {
	struct entry v[1 << 14];
	size_t n;
	size_t stop_after; /* 0: never stop early */
};

static int collect(void *ctx, void *peer, int family, const uint8_t *addr, uint8_t cidr)
{
	struct list *l = ctx;
	struct entry *e;

	assert_true(l->n < LR_ARRAY_SIZE(l->v));
	e = &l->v[l->n++];
	memset(e, 0, sizeof(*e));
	e->family = family;
	memcpy(e->addr, addr, family_len(family));
	e->cidr = cidr;
	e->peer = peer;
	return l->stop_after && l->n == l->stop_after ? 7 : 0;
}

/* The reference's entries (peer NULL: all), sorted as foreach must give them. */
static size_t ref_sorted(const struct ref *r, void *peer, struct entry *out)
{
	size_t i, n = 0;

	for (i = 0; i < r->n; i++)
		if (!peer || r->v[i].peer == peer)
			out[n++] = r->v[i];
	qsort(out, n, sizeof(*out), entry_cmp);
	return n;
}

static void check_list(const struct list *got, const struct entry *want, size_t n)
{
	size_t i;

	assert_int_equal(got->n, n);
	for (i = 0; i < n; i++) {
		if (got->v[i].family != want[i].family || got->v[i].cidr != want[i].cidr ||
		    got->v[i].peer != want[i].peer ||
		    memcmp(got->v[i].addr, want[i].addr, family_len(want[i].family)))
			fail_msg("foreach entry %zu differs (cidr %u want %u, seed %llu)", i,
				 got->v[i].cidr, want[i].cidr, (unsigned long long)seed);
	}
}

static void check_foreach(const struct lr_allowedips *t, const struct ref *r, void *peer)
{
	static struct list got;
	static struct entry want[1 << 14];
	size_t n;

	assert_true(r->n <= LR_ARRAY_SIZE(want));
	got.n = 0;
	got.stop_after = 0;
	assert_int_equal(lr_allowedips_foreach(t, peer, collect, &got), 0);
	n = ref_sorted(r, peer, want);
	check_list(&got, want, n);
}

/* Invariants hold, no node is kept that carries nothing, and count matches. */
static void check_shape(const struct lr_allowedips *t, const struct ref *r)
{
	size_t nodes = 0;

	assert_int_equal(lr_allowedips_verify(t, &nodes), 0);
	assert_int_equal(t->count, r->n);
	/* Every peerless node forks two subtrees, so there are fewer forks than prefixes. */
	assert_true(nodes <= (r->n ? 2 * r->n - 1 : 0));
	if (!r->n)
		assert_true(!t->root4 && !t->root6);
}

static void check_lookup(const struct lr_allowedips *t, const struct ref *r, int family,
			 const uint8_t *addr)
{
	void *got = lr_allowedips_lookup(t, family, addr), *want = ref_lookup(r, family, addr);
	char text[INET6_ADDRSTRLEN];

	if (got != want)
		fail_msg("lookup %s: got peer %td want %td (seed %llu)",
			 inet_ntop(family, addr, text, sizeof(text)),
			 got ? (char *)got - peers : -1, want ? (char *)want - peers : -1,
			 (unsigned long long)seed);
}

/* ---- Random inputs ---- */

/* A few base addresses per family; prefixes are bases with a few bits flipped, so that many
 * prefixes nest inside one another and share long common runs. */
struct gen {
	uint64_t state;
	uint8_t base4[6][4], base6[6][16];
};

static void gen_init(struct gen *g, uint64_t s)
{
	size_t i, j;

	g->state = s;
	for (i = 0; i < 6; i++) {
		for (j = 0; j < 4; j++)
			g->base4[i][j] = (uint8_t)rnd(&g->state);
		for (j = 0; j < 16; j++)
			g->base6[i][j] = (uint8_t)rnd(&g->state);
	}
}

static void flip_bit(uint8_t *a, unsigned i)
{
	a[i / 8] ^= (uint8_t)(0x80 >> (i % 8));
}

static void gen_prefix(struct gen *g, int *family, uint8_t addr[16], uint8_t *cidr)
{
	unsigned bits, flips, i;

	*family = rnd(&g->state) % 2 ? AF_INET : AF_INET6;
	bits = *family == AF_INET ? 32 : 128;
	memset(addr, 0, 16);
	if (rnd(&g->state) % 10 == 0) {
		for (i = 0; i < bits / 8; i++)
			addr[i] = (uint8_t)rnd(&g->state);
	} else {
		memcpy(addr, *family == AF_INET ? g->base4[rnd(&g->state) % 6] :
						  g->base6[rnd(&g->state) % 6],
		       bits / 8);
		for (flips = rnd(&g->state) % 4; flips; flips--)
			flip_bit(addr, (unsigned)(rnd(&g->state) % bits));
	}
	/* Mostly any length, but often the lengths people write, so exact repeats happen. */
	if (rnd(&g->state) % 3)
		*cidr = (uint8_t)(rnd(&g->state) % (bits + 1));
	else
		*cidr = (uint8_t)(rnd(&g->state) % 5 * (bits / 4));
}

/* Addresses worth asking about: inside a known prefix, just outside one, near a base, or
 * anywhere. */
static void gen_address(struct gen *g, const struct ref *r, int *family, uint8_t addr[16])
{
	unsigned pick = (unsigned)(rnd(&g->state) % 10), bits, i;
	const struct entry *e;
	uint8_t cidr;

	if (r->n && pick < 6) {
		e = &r->v[rnd(&g->state) % r->n];
		*family = e->family;
		bits = 8 * family_len(e->family);
		memcpy(addr, e->addr, 16);
		if (pick < 4) {
			for (i = e->cidr; i < bits; i++)
				if (rnd(&g->state) % 2)
					flip_bit(addr, i);
		} else if (e->cidr) {
			flip_bit(addr, e->cidr - 1);
		}
		return;
	}
	gen_prefix(g, family, addr, &cidr);
	if (pick == 9)
		for (i = 0; i < family_len(*family); i++)
			addr[i] = (uint8_t)rnd(&g->state);
}

static void *gen_peer(struct gen *g)
{
	return &peers[rnd(&g->state) % NPEERS];
}

static void build_random(struct lr_allowedips *t, struct ref *r, struct gen *g, size_t inserts)
{
	uint8_t addr[16], cidr;
	size_t i;
	void *peer;
	int family;

	for (i = 0; i < inserts; i++) {
		gen_prefix(g, &family, addr, &cidr);
		peer = gen_peer(g);
		assert_int_equal(lr_allowedips_insert(t, family, addr, cidr, peer), 0);
		ref_insert(r, family, addr, cidr, peer);
	}
}

/* One random mutation applied to both, with the return codes compared. */
static void random_step(struct lr_allowedips *t, struct ref *r, struct gen *g)
{
	unsigned pick = (unsigned)(rnd(&g->state) % 1000);
	uint8_t addr[16], cidr;
	struct entry e;
	void *peer;
	int family;

	if (pick < 700) {
		gen_prefix(g, &family, addr, &cidr);
		peer = gen_peer(g);
		assert_int_equal(lr_allowedips_insert(t, family, addr, cidr, peer), 0);
		ref_insert(r, family, addr, cidr, peer);
	} else if (pick < 850 && r->n) {
		e = r->v[rnd(&g->state) % r->n];
		/* Sometimes with host bits set, sometimes by the wrong owner. */
		if (pick < 750 && e.cidr < 8 * family_len(e.family))
			flip_bit(e.addr, 8 * family_len(e.family) - 1);
		if (pick >= 820)
			e.peer = gen_peer(g);
		assert_int_equal(lr_allowedips_remove(t, e.family, e.addr, e.cidr, e.peer),
				 ref_remove(r, e.family, e.addr, e.cidr, e.peer));
	} else if (pick < 997) {
		gen_prefix(g, &family, addr, &cidr);
		peer = gen_peer(g);
		assert_int_equal(lr_allowedips_remove(t, family, addr, cidr, peer),
				 ref_remove(r, family, addr, cidr, peer));
	} else {
		peer = gen_peer(g);
		lr_allowedips_remove_by_peer(t, peer);
		ref_remove_by_peer(r, peer);
	}
}

static void check_random_lookups(const struct lr_allowedips *t, const struct ref *r,
				 struct gen *g, size_t n)
{
	uint8_t addr[16];
	int family;

	while (n--) {
		gen_address(g, r, &family, addr);
		check_lookup(t, r, family, addr);
	}
}

/* Thousands of mixed inserts and removals, checked against the reference throughout. */
static void test_allowedips_random_vs_reference(void **state)
{
	struct lr_allowedips t;
	struct ref r = { 0 };
	struct gen g;
	size_t round, i;

	gen_init(&g, seed);
	lr_allowedips_init(&t);
	for (round = 0; round < 12; round++) {
		for (i = 0; i < 1000; i++) {
			random_step(&t, &r, &g);
			if (i % 97 == 0)
				check_shape(&t, &r);
		}
		check_shape(&t, &r);
		check_foreach(&t, &r, NULL);
		check_foreach(&t, &r, &peers[round % NPEERS]);
		check_random_lookups(&t, &r, &g, 4000);
	}
	assert_true(r.n > 1000); /* the table really grew */
	printf("allowedips: %zu prefixes at the end of the random run\n", r.n);
	lr_allowedips_destroy(&t);
	free(r.v);
}

static void remove_both(struct lr_allowedips *t, struct ref *r, const struct entry *e)
{
	assert_int_equal(lr_allowedips_remove(t, e->family, e->addr, e->cidr, e->peer), 0);
	assert_int_equal(ref_remove(r, e->family, e->addr, e->cidr, e->peer), 0);
}

/* Every prefix removed, one way or another, leaves empty roots: removal prunes forks. */
static void test_allowedips_prune_cycles(void **state)
{
	struct lr_allowedips t;
	struct ref r = { 0 };
	struct entry e;
	struct gen g;
	size_t cycle, i;

	gen_init(&g, seed ^ 1);
	lr_allowedips_init(&t);
	for (cycle = 0; cycle < 30; cycle++) {
		build_random(&t, &r, &g, 300);
		check_shape(&t, &r);
		if (cycle % 2) {
			for (i = 0; i < NPEERS; i++) {
				lr_allowedips_remove_by_peer(&t, &peers[i]);
				ref_remove_by_peer(&r, &peers[i]);
				check_shape(&t, &r);
			}
		} else {
			while (r.n) {
				e = r.v[rnd(&g.state) % r.n];
				remove_both(&t, &r, &e);
				if (r.n % 31 == 0)
					check_shape(&t, &r);
			}
		}
		assert_null(t.root4);
		assert_null(t.root6);
		assert_int_equal(t.count, 0);
	}
	lr_allowedips_destroy(&t);
	free(r.v);
}

/* A clone answers like the original, has the same listing, and is independent of it. */
static void test_allowedips_clone(void **state)
{
	struct lr_allowedips t, c;
	struct ref r = { 0 };
	struct gen g;
	uint8_t addr[16];
	int family;
	size_t i;

	gen_init(&g, seed ^ 2);
	lr_allowedips_init(&t);
	lr_allowedips_init(&c);
	assert_int_equal(lr_allowedips_clone(&c, &t), 0); /* empty into empty */
	check_shape(&c, &r);
	build_random(&t, &r, &g, 2000);
	assert_int_equal(lr_allowedips_clone(&c, &t), 0);
	check_shape(&c, &r);
	check_foreach(&c, &r, NULL);
	for (i = 0; i < 5000; i++) {
		gen_address(&g, &r, &family, addr);
		assert_ptr_equal(lr_allowedips_lookup(&c, family, addr),
				 lr_allowedips_lookup(&t, family, addr));
	}
	for (i = 0; i < NPEERS; i++)
		lr_allowedips_remove_by_peer(&c, &peers[i]);
	check_shape(&t, &r);
	check_foreach(&t, &r, NULL);
	check_random_lookups(&t, &r, &g, 2000);
	lr_allowedips_destroy(&t);
	lr_allowedips_destroy(&c);
	free(r.v);
}

/* foreach: IPv4 before IPv6, ascending, a prefix before the longer ones inside it, filtered by
 * peer, and stopped by a non-zero return that it passes back. */
static void test_allowedips_foreach_order(void **state)
{
	static struct list got;
	struct lr_allowedips t;
	struct ref r = { 0 };
	struct gen g;
	size_t i;

	gen_init(&g, seed ^ 3);
	lr_allowedips_init(&t);
	build_random(&t, &r, &g, 1500);
	check_foreach(&t, &r, NULL);
	for (i = 0; i < NPEERS; i++)
		check_foreach(&t, &r, &peers[i]);
	got.n = 0;
	got.stop_after = 0;
	assert_int_equal(lr_allowedips_foreach(&t, NULL, collect, &got), 0);
	assert_true(got.n > 1000 && got.v[0].family == AF_INET);
	for (i = 1; i < got.n; i++)
		assert_true(entry_cmp(&got.v[i - 1], &got.v[i]) < 0);
	got.n = 0;
	got.stop_after = 5;
	assert_int_equal(lr_allowedips_foreach(&t, NULL, collect, &got), 7);
	assert_int_equal(got.n, 5);
	lr_allowedips_destroy(&t);
	free(r.v);
}

/* An insert or clone that runs out of memory at any of its allocations changes nothing. */
static void test_allowedips_enomem(void **state)
{
	static struct entry before[1 << 12];
	struct lr_allowedips t, c;
	struct ref r = { 0 };
	uint8_t addr[16], cidr;
	size_t i, n, nodes, hits[2] = { 0, 0 };
	struct gen g;
	void *peer;
	int family, ret;
	long k;

	gen_init(&g, seed ^ 4);
	lr_allowedips_init(&t);
	build_random(&t, &r, &g, 400);
	for (i = 0; i < 400; i++) {
		gen_prefix(&g, &family, addr, &cidr);
		peer = gen_peer(&g);
		/* A new prefix takes one node, or two when it needs a fork above it. */
		for (k = 0; k < 2; k++) {
			n = ref_sorted(&r, NULL, before);
			alloc_fail_countdown = k;
			ret = lr_allowedips_insert(&t, family, addr, cidr, peer);
			if (alloc_fail_countdown >= 0) { /* never reached allocation k */
				alloc_fail_countdown = -1;
				assert_int_equal(ret, 0);
				ref_insert(&r, family, addr, cidr, peer);
				break;
			}
			hits[k]++;
			assert_int_equal(ret, -ENOMEM);
			check_shape(&t, &r);
			check_foreach(&t, &r, NULL);
			assert_int_equal(n, r.n);
		}
		if (k == 2) {
			assert_int_equal(lr_allowedips_insert(&t, family, addr, cidr, peer), 0);
			ref_insert(&r, family, addr, cidr, peer);
		}
	}
	/* Both kinds happened: a first allocation failed, and a fork's second one did. */
	assert_true(hits[0] > 100 && hits[1] > 10);
	check_shape(&t, &r);
	assert_int_equal(lr_allowedips_verify(&t, &nodes), 0);
	for (k = 0; k < (long)nodes; k += 1 + k / 8) {
		lr_allowedips_init(&c);
		alloc_fail_countdown = k;
		assert_int_equal(lr_allowedips_clone(&c, &t), -ENOMEM);
		assert_int_equal(alloc_fail_countdown, -1);
		assert_true(!c.root4 && !c.root6 && !c.count);
	}
	alloc_fail_countdown = -1;
	lr_allowedips_destroy(&t);
	free(r.v);
}

/* ---- Hand-written cases: scripts of operations with their expected results ---- */

enum op { INS, DEL, DEL_PEER, LOOKUP, COUNT };

struct step {
	enum op op;
	const char *text; /* "10.0.0.0/8" for INS and DEL, an address for LOOKUP */
	int peer; /* index into peers, -1 for NULL */
	int want; /* return code; peer index (-1: none) for LOOKUP; count for COUNT */
};

static void parse(const char *text, int *family, uint8_t addr[16], unsigned *cidr)
{
	char buf[64];
	char *slash;

	assert_true(strlen(text) < sizeof(buf));
	strcpy(buf, text);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	*family = strchr(buf, ':') ? AF_INET6 : AF_INET;
	memset(addr, 0, 16);
	if (inet_pton(*family, buf, addr) != 1)
		fail_msg("bad test address `%s'", text);
	*cidr = slash ? (unsigned)atoi(slash + 1) : 0;
}

static void *peer_at(int i)
{
	return i < 0 ? NULL : &peers[i];
}

static void run_script(const struct step *steps, size_t n)
{
	uint8_t addr[16] = { 0 };
	int family = AF_INET, got;
	struct lr_allowedips t;
	unsigned cidr = 0;
	void *p, *owner;
	size_t i;

	lr_allowedips_init(&t);
	for (i = 0; i < n; i++) {
		const struct step *s = &steps[i];

		if (s->text)
			parse(s->text, &family, addr, &cidr);
		owner = peer_at(s->peer);
		switch (s->op) {
		case INS:
			got = lr_allowedips_insert(&t, family, addr, (uint8_t)cidr, owner);
			break;
		case DEL:
			got = lr_allowedips_remove(&t, family, addr, (uint8_t)cidr, owner);
			break;
		case DEL_PEER:
			lr_allowedips_remove_by_peer(&t, owner);
			got = s->want;
			break;
		case LOOKUP:
			p = lr_allowedips_lookup(&t, family, addr);
			got = p ? (int)((char *)p - peers) : -1;
			break;
		case COUNT:
		default:
			got = (int)t.count;
			break;
		}
		if (got != s->want)
			fail_msg("step %zu (%s): got %d want %d", i + 1, s->text ? s->text : "-",
				 got, s->want);
		assert_int_equal(lr_allowedips_verify(&t, NULL), 0);
	}
	lr_allowedips_destroy(&t);
}

#define RUN(steps) run_script(steps, sizeof(steps) / sizeof((steps)[0]))

/* 0.0.0.0/0 and ::/0 catch everything of their own family, and only that. */
static void test_allowedips_defaults(void **state)
{
	static const struct step steps[] = {
		{ LOOKUP, "1.2.3.4", 0, -1 },
		{ INS, "0.0.0.0/0", 0, 0 },
		{ LOOKUP, "1.2.3.4", 0, 0 },
		{ LOOKUP, "0.0.0.0", 0, 0 },
		{ LOOKUP, "255.255.255.255", 0, 0 },
		{ LOOKUP, "::1", 0, -1 },
		{ INS, "::/0", 1, 0 },
		{ LOOKUP, "::", 0, 1 },
		{ LOOKUP, "2001:db8::1", 0, 1 },
		{ LOOKUP, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0, 1 },
		{ LOOKUP, "10.0.0.1", 0, 0 },
		{ COUNT, NULL, 0, 2 },
		{ DEL, "0.0.0.0/0", 0, 0 },
		{ LOOKUP, "1.2.3.4", 0, -1 },
		{ LOOKUP, "2001:db8::1", 0, 1 },
	};

	RUN(steps);
}

/* /32 and /128 match their one address; the neighbours on both sides do not. */
static void test_allowedips_host_routes(void **state)
{
	static const struct step steps[] = {
		{ INS, "192.168.1.1/32", 0, 0 },
		{ LOOKUP, "192.168.1.1", 0, 0 },
		{ LOOKUP, "192.168.1.0", 0, -1 },
		{ LOOKUP, "192.168.1.2", 0, -1 },
		{ LOOKUP, "64.168.1.1", 0, -1 },
		{ INS, "192.168.1.0/32", 1, 0 },
		{ LOOKUP, "192.168.1.0", 0, 1 },
		{ LOOKUP, "192.168.1.1", 0, 0 },
		{ INS, "2001:db8::1/128", 2, 0 },
		{ INS, "2001:db8::/128", 3, 0 },
		{ LOOKUP, "2001:db8::1", 0, 2 },
		{ LOOKUP, "2001:db8::", 0, 3 },
		{ LOOKUP, "2001:db8::2", 0, -1 },
		{ LOOKUP, "2001:db8::8000:0:0:1", 0, -1 },
		{ INS, "255.255.255.255/32", 4, 0 },
		{ INS, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 5, 0 },
		{ LOOKUP, "255.255.255.255", 0, 4 },
		{ LOOKUP, "255.255.255.254", 0, -1 },
		{ LOOKUP, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0, 5 },
		{ LOOKUP, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 0, -1 },
		{ COUNT, NULL, 0, 6 },
	};

	RUN(steps);
}

/* Nested and sibling prefixes: the longest covering one wins, and removing a middle one
 * hands its addresses back to the one around it. */
static void test_allowedips_overlapping(void **state)
{
	static const struct step steps[] = {
		{ INS, "10.0.0.0/8", 0, 0 },
		{ INS, "10.1.2.0/24", 2, 0 },
		{ INS, "10.1.0.0/16", 1, 0 }, /* goes between the two above */
		{ INS, "10.1.2.3/32", 3, 0 },
		{ INS, "10.1.2.128/25", 4, 0 },
		{ INS, "10.1.2.0/25", 5, 0 }, /* sibling of the /25 above */
		{ INS, "10.128.0.0/9", 6, 0 },
		{ LOOKUP, "10.200.0.0", 0, 6 },
		{ LOOKUP, "10.2.0.0", 0, 0 },
		{ LOOKUP, "10.1.3.0", 0, 1 },
		{ LOOKUP, "10.1.2.4", 0, 5 },
		{ LOOKUP, "10.1.2.3", 0, 3 },
		{ LOOKUP, "10.1.2.200", 0, 4 },
		{ LOOKUP, "11.0.0.0", 0, -1 },
		{ LOOKUP, "9.255.255.255", 0, -1 },
		{ DEL, "10.1.0.0/16", 1, 0 },
		{ LOOKUP, "10.1.3.0", 0, 0 },
		{ LOOKUP, "10.1.2.4", 0, 5 },
		{ DEL, "10.1.2.0/25", 5, 0 },
		{ LOOKUP, "10.1.2.4", 0, 2 },
		{ LOOKUP, "10.1.2.3", 0, 3 },
		{ INS, "2001:db8::/32", 0, 0 },
		{ INS, "2001:db8:1::/48", 1, 0 },
		{ INS, "2001:db8:1:2::/64", 2, 0 },
		{ INS, "2001:db8:1:2:3::/80", 3, 0 },
		{ LOOKUP, "2001:db8:1:2:3::9", 0, 3 },
		{ LOOKUP, "2001:db8:1:2:4::9", 0, 2 },
		{ LOOKUP, "2001:db8:1:3::", 0, 1 },
		{ LOOKUP, "2001:db8:2::", 0, 0 },
		{ LOOKUP, "2001:db9::", 0, -1 },
		{ DEL_PEER, NULL, 2, 0 },
		{ LOOKUP, "10.1.2.4", 0, 0 },
		{ LOOKUP, "2001:db8:1:2:4::9", 0, 1 },
		{ LOOKUP, "2001:db8:1:2:3::9", 0, 3 },
		{ COUNT, NULL, 0, 7 },
	};

	RUN(steps);
}

/* Inserting an existing prefix moves it to the new peer; only the owner can remove it. */
static void test_allowedips_replace_owner(void **state)
{
	static const struct step steps[] = {
		{ INS, "192.168.4.0/24", 0, 0 },
		{ INS, "192.168.4.0/24", 1, 0 },
		{ COUNT, NULL, 0, 1 },
		{ LOOKUP, "192.168.4.20", 0, 1 },
		{ DEL, "192.168.4.0/24", 0, -ENOENT },
		{ DEL_PEER, NULL, 0, 0 },
		{ LOOKUP, "192.168.4.20", 0, 1 },
		{ INS, "fd00::/8", 2, 0 },
		{ INS, "fd00::/8", 3, 0 },
		{ LOOKUP, "fd12::1", 0, 3 },
		{ DEL, "fd00::/8", 3, 0 },
		{ DEL, "fd00::/8", 3, -ENOENT },
		{ LOOKUP, "fd12::1", 0, -1 },
		{ COUNT, NULL, 0, 1 },
	};

	RUN(steps);
}

/* Bits below the prefix length are ignored on insert and on remove. */
static void test_allowedips_host_bits(void **state)
{
	static const struct step steps[] = {
		{ INS, "192.95.5.65/27", 0, 0 },
		{ INS, "192.95.5.64/27", 1, 0 }, /* the same prefix: replaces */
		{ COUNT, NULL, 0, 1 },
		{ LOOKUP, "192.95.5.90", 0, 1 },
		{ LOOKUP, "192.95.5.96", 0, -1 },
		{ INS, "2404:6800:4004:800:dead:beef:dead:beef/64", 2, 0 },
		{ LOOKUP, "2404:6800:4004:800::1", 0, 2 },
		{ LOOKUP, "2404:6800:4004:801::1", 0, -1 },
		{ INS, "1.2.3.4/0", 3, 0 },
		{ LOOKUP, "200.1.1.1", 0, 3 },
		{ DEL, "9.9.9.9/0", 3, 0 },
		{ DEL, "2404:6800:4004:800:1::/64", 2, 0 },
		{ DEL, "192.95.5.77/27", 1, 0 },
		{ COUNT, NULL, 0, 0 },
	};

	RUN(steps);
}

/* Bad lengths, families and peers are refused and change nothing. */
static void test_allowedips_bad_arguments(void **state)
{
	static const struct step steps[] = {
		{ INS, "10.0.0.0/33", 0, -EINVAL },
		{ INS, "2001:db8::/129", 0, -EINVAL },
		{ INS, "10.0.0.0/8", -1, -EINVAL },
		{ DEL, "10.0.0.0/33", 0, -EINVAL },
		{ INS, "10.0.0.0/32", 0, 0 },
		{ INS, "10.0.0.0/31", 1, 0 },
		{ INS, "10.0.0.2/31", 2, 0 }, /* a fork without a peer appears above these */
		{ DEL, "10.0.0.0/30", -1, -ENOENT }, /* the fork is no one's prefix */
		{ DEL, "10.0.0.0/30", 0, -ENOENT },
		{ DEL, "10.0.0.0/24", 0, -ENOENT },
		{ COUNT, NULL, 0, 3 },
	};
	struct lr_allowedips t;
	uint8_t addr[16] = { 10 };

	RUN(steps);
	lr_allowedips_init(&t);
	assert_int_equal(lr_allowedips_insert(&t, AF_UNIX, addr, 8, &peers[0]), -EINVAL);
	assert_int_equal(lr_allowedips_remove(&t, AF_UNIX, addr, 8, &peers[0]), -EINVAL);
	assert_null(lr_allowedips_lookup(&t, AF_UNIX, addr));
	assert_int_equal(t.count, 0);
	assert_null(t.root4);
	lr_allowedips_destroy(&t);
}

/* Deepest possible paths: 128 host routes each one bit away from all-ones, then removed. */
static void test_allowedips_deep_paths(void **state)
{
	struct lr_allowedips t;
	struct ref r = { 0 };
	uint8_t addr[16], cidr;
	size_t nodes;
	unsigned i;

	lr_allowedips_init(&t);
	for (i = 0; i < 128; i++) {
		memset(addr, 0xff, sizeof(addr));
		flip_bit(addr, i);
		assert_int_equal(lr_allowedips_insert(&t, AF_INET6, addr, 128, &peers[i % 2]), 0);
		ref_insert(&r, AF_INET6, addr, 128, &peers[i % 2]);
		memset(addr, 0xff, 4);
		flip_bit(addr, i % 32);
		cidr = (uint8_t)(32 - i / 32);
		assert_int_equal(lr_allowedips_insert(&t, AF_INET, addr, cidr, &peers[2]), 0);
		ref_insert(&r, AF_INET, addr, cidr, &peers[2]);
	}
	check_shape(&t, &r);
	check_foreach(&t, &r, NULL);
	assert_int_equal(lr_allowedips_verify(&t, &nodes), 0);
	for (i = 0; i < 128; i++) {
		memset(addr, 0xff, sizeof(addr));
		flip_bit(addr, i);
		check_lookup(&t, &r, AF_INET6, addr);
		flip_bit(addr, 127 - i / 2);
		check_lookup(&t, &r, AF_INET6, addr);
		check_lookup(&t, &r, AF_INET, addr);
	}
	lr_allowedips_remove_by_peer(&t, &peers[0]);
	ref_remove_by_peer(&r, &peers[0]);
	check_shape(&t, &r);
	lr_allowedips_remove_by_peer(&t, &peers[1]);
	lr_allowedips_remove_by_peer(&t, &peers[2]);
	assert_null(t.root4);
	assert_null(t.root6);
	lr_allowedips_destroy(&t);
	free(r.v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowedips_defaults),
		cmocka_unit_test(test_allowedips_host_routes),
		cmocka_unit_test(test_allowedips_overlapping),
		cmocka_unit_test(test_allowedips_replace_owner),
		cmocka_unit_test(test_allowedips_host_bits),
		cmocka_unit_test(test_allowedips_bad_arguments),
		cmocka_unit_test(test_allowedips_deep_paths),
		cmocka_unit_test(test_allowedips_random_vs_reference),
		cmocka_unit_test(test_allowedips_prune_cycles),
		cmocka_unit_test(test_allowedips_clone),
		cmocka_unit_test(test_allowedips_foreach_order),
		cmocka_unit_test(test_allowedips_enomem),
	};
	const char *env = getenv("LR_TEST_SEED");

	seed = env ? strtoull(env, NULL, 0) : 0x6c616e72ULL;
	printf("allowedips: seed %llu (set LR_TEST_SEED to change)\n", (unsigned long long)seed);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

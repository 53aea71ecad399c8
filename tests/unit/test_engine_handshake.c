/* Two in-process engines (control planes with real UDP sockets on loopback, no TUN) complete
 * WireGuard handshakes through controlplane/handshake.c: both roles, with and without PSK,
 * the cookie path under load, session slot rotation and confirmation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/clock.h"
#include "common/timing.h"
#include "controlplane/device.h"
#include "dataplane/socket.h"

struct engine {
	struct lr_device dev;
	struct lr_peer *peer; /* the other engine */
	uint16_t port;
};

static void engine_init(struct engine *e, const uint8_t priv[32])
{
	memset(e, 0, sizeof(*e));
	assert_int_equal(lr_dataplane_init(&e->dev.dp, 1), 0);
	lr_allowedips_init(&e->dev.routes);
	lr_ratelimiter_init(&e->dev.ratelimiter);
	e->dev.dp.udp_fds[0] = lr_socket_open(0, 0, &e->dev.dp.udp_family, &e->port);
	assert_true(e->dev.dp.udp_fds[0] >= 0);
	e->dev.listen_port = e->port;
	lr_device_set_identity(&e->dev, priv);
}

/* Two engines with fresh random identities, not yet peers of each other. */
static void engines_create(struct engine *a, struct engine *b)
{
	uint8_t ka[32], kb[32];

	randombytes_buf(ka, sizeof(ka));
	randombytes_buf(kb, sizeof(kb));
	engine_init(a, ka);
	engine_init(b, kb);
	sodium_memzero(ka, sizeof(ka));
	sodium_memzero(kb, sizeof(kb));
}

static void engine_pair(struct engine *e, struct engine *other, const uint8_t *psk)
{
	union lr_sockaddr ep;

	e->peer = lr_device_peer_add(&e->dev, other->dev.identity.static_public);
	assert_non_null(e->peer);
	if (psk) {
		lr_noise_handshake_set_psk(&e->peer->hs, psk);
		e->peer->has_psk = true;
	}
	assert_int_equal(lr_sockaddr_parse(&ep, "127.0.0.1:0"), 0);
	ep.in4.sin_port = htons(other->port);
	lr_peer_set_endpoint(e->peer, &ep);
	assert_int_equal(lr_device_publish(&e->dev), 0);
}

static void engine_destroy(struct engine *e)
{
	while (e->dev.n_peers)
		lr_device_peer_remove(&e->dev, e->dev.peers[0]);
	lr_device_publish(&e->dev);
	lr_dataplane_destroy(&e->dev.dp);
	lr_allowedips_destroy(&e->dev.routes);
	close(e->dev.dp.udp_fds[0]);
	free(e->dev.peers);
	free(e->dev.removed);
	lr_noise_identity_clear(&e->dev.identity);
	lr_cookie_checker_destroy(&e->dev.cookie_checker);
}

/* Receives one datagram on e's socket and hands it to its control plane, as a worker would.
 * Returns the message type. */
static uint32_t engine_receive(struct engine *e, bool under_load)
{
	struct lr_handshake_msg msg;
	struct sockaddr_in6 from;
	socklen_t fromlen = sizeof(from);
	uint32_t type;
	ssize_t n;

	memset(&msg, 0, sizeof(msg));
	n = recvfrom(e->dev.dp.udp_fds[0], msg.data, sizeof(msg.data), 0, (struct sockaddr *)&from,
		     &fromlen);
	assert_true(n >= 4);
	msg.len = (uint16_t)n;
	lr_sockaddr_unmap(&msg.src, (const union lr_sockaddr *)&from);
	memcpy(&type, msg.data, 4);
	lr_handshake_receive(&e->dev, &msg, under_load);
	return le32toh(type);
}

static void assert_session_pair(struct lr_keypair *init, struct lr_keypair *resp)
{
	assert_non_null(init);
	assert_non_null(resp);
	assert_true(init->is_initiator);
	assert_false(resp->is_initiator);
	assert_memory_equal(init->send_key, resp->recv_key, 32);
	assert_memory_equal(init->recv_key, resp->send_key, 32);
	assert_int_equal(init->remote_index, resp->entry.index);
	assert_int_equal(resp->remote_index, init->entry.index);
}

/* a initiates to b; returns after the response was consumed. */
static void handshake(struct engine *a, struct engine *b)
{
	a->peer->last_sent_handshake_ns = 0; /* lift the REKEY_TIMEOUT rate limit */
	lr_handshake_send_initiation(&a->dev, a->peer, false);
	assert_int_equal(engine_receive(b, false), LR_MSG_INITIATION);
	assert_int_equal(engine_receive(a, false), LR_MSG_RESPONSE);
}

static void run_both_roles(const uint8_t *psk)
{
	struct engine a, b;
	struct lr_keypair *first, *b_next;

	engines_create(&a, &b);
	engine_pair(&a, &b, psk);
	engine_pair(&b, &a, psk);

	handshake(&a, &b);
	first = atomic_load(&a.peer->kp_current);
	/* The initiator uses the session at once; the responder waits for confirmation. */
	assert_session_pair(first, atomic_load(&b.peer->kp_next));
	assert_null(atomic_load(&b.peer->kp_current));
	assert_int_equal(atomic_load(&a.dev.dp.stats.handshakes_completed), 1);
	/* The first data packet on it (the worker's report) promotes it. */
	b_next = atomic_load(&b.peer->kp_next);
	assert_false(lr_keypairs_confirm(&b.dev, b.peer)); /* no data seen yet: no promotion */
	atomic_store(&b.peer->kp_confirmed, b_next);
	assert_true(lr_keypairs_confirm(&b.dev, b.peer));
	assert_ptr_equal(atomic_load(&b.peer->kp_current), b_next);
	assert_null(atomic_load(&b.peer->kp_next));

	/* Now b initiates: b's new session becomes current, the old one previous. */
	handshake(&b, &a);
	assert_session_pair(atomic_load(&b.peer->kp_current), atomic_load(&a.peer->kp_next));
	assert_non_null(atomic_load(&b.peer->kp_previous));
	/* a keeps sending on the first session until b's new one is confirmed. */
	assert_ptr_equal(atomic_load(&a.peer->kp_current), first);
	/* The index table finds each session by the index the other side addresses. */
	assert_non_null(lr_index_table_lookup(&a.dev.dp.index,
					      atomic_load(&b.peer->kp_current)->remote_index,
					      LR_INDEX_KEYPAIR));
	engine_destroy(&a);
	engine_destroy(&b);
}

static void test_handshake_both_roles(void **state)
{
	run_both_roles(NULL);
}

static void test_handshake_both_roles_psk(void **state)
{
	uint8_t psk[32];

	randombytes_buf(psk, sizeof(psk));
	run_both_roles(psk);
}

static void test_psk_mismatch_fails(void **state)
{
	uint8_t psk[32];
	struct engine a, b;

	randombytes_buf(psk, sizeof(psk));
	engines_create(&a, &b);
	engine_pair(&a, &b, psk);
	engine_pair(&b, &a, NULL);
	handshake(&a, &b);
	assert_null(atomic_load(&a.peer->kp_current));
	assert_int_equal(atomic_load(&a.dev.dp.stats.drops[LR_DROP_handshake_invalid]), 1);
	engine_destroy(&a);
	engine_destroy(&b);
}

static void test_cookie_path_under_load(void **state)
{
	struct engine a, b;

	engines_create(&a, &b);
	engine_pair(&a, &b, NULL);
	engine_pair(&b, &a, NULL);

	/* Under load, b answers an initiation without mac2 with a cookie reply ... */
	lr_handshake_send_initiation(&a.dev, a.peer, false);
	assert_int_equal(engine_receive(&b, true), LR_MSG_INITIATION);
	assert_int_equal(atomic_load(&b.dev.dp.stats.drops[LR_DROP_cookie_required]), 1);
	assert_int_equal(atomic_load(&b.dev.dp.stats.cookies_sent), 1);
	assert_null(atomic_load(&b.peer->kp_next));
	/* ... which a consumes; its retransmission carries mac2 and b, still loaded, accepts. */
	assert_int_equal(engine_receive(&a, false), LR_MSG_COOKIE);
	assert_true(a.peer->cookie.is_valid);
	a.peer->last_sent_handshake_ns = 0;
	lr_handshake_send_initiation(&a.dev, a.peer, true);
	assert_int_equal(engine_receive(&b, true), LR_MSG_INITIATION);
	assert_int_equal(engine_receive(&a, false), LR_MSG_RESPONSE);
	assert_session_pair(atomic_load(&a.peer->kp_current), atomic_load(&b.peer->kp_next));
	engine_destroy(&a);
	engine_destroy(&b);
}

static void test_replayed_initiation_dropped(void **state)
{
	struct engine a, b;
	struct lr_handshake_msg msg;
	struct sockaddr_in6 from;
	socklen_t fromlen = sizeof(from);
	ssize_t n;

	engines_create(&a, &b);
	engine_pair(&a, &b, NULL);
	engine_pair(&b, &a, NULL);
	lr_handshake_send_initiation(&a.dev, a.peer, false);
	memset(&msg, 0, sizeof(msg));
	n = recvfrom(b.dev.dp.udp_fds[0], msg.data, sizeof(msg.data), 0, (struct sockaddr *)&from,
		     &fromlen);
	assert_int_equal(n, sizeof(struct lr_msg_initiation));
	msg.len = (uint16_t)n;
	lr_sockaddr_unmap(&msg.src, (const union lr_sockaddr *)&from);
	lr_handshake_receive(&b.dev, &msg, false);
	lr_handshake_receive(&b.dev, &msg, false);
	assert_int_equal(atomic_load(&b.dev.dp.stats.drops[LR_DROP_handshake_replayed]) +
				 atomic_load(&b.dev.dp.stats.drops[LR_DROP_handshake_flood]),
			 1);
	engine_destroy(&a);
	engine_destroy(&b);
}

static void test_unknown_peer_dropped(void **state)
{
	struct engine a, b;

	engines_create(&a, &b);
	engine_pair(&a, &b, NULL); /* b does not know a */
	lr_handshake_send_initiation(&a.dev, a.peer, false);
	assert_int_equal(engine_receive(&b, false), LR_MSG_INITIATION);
	assert_int_equal(atomic_load(&b.dev.dp.stats.drops[LR_DROP_unknown_peer]), 1);
	engine_destroy(&a);
	engine_destroy(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_both_roles),
		cmocka_unit_test(test_handshake_both_roles_psk),
		cmocka_unit_test(test_psk_mismatch_fails),
		cmocka_unit_test(test_cookie_path_under_load),
		cmocka_unit_test(test_replayed_initiation_dropped),
		cmocka_unit_test(test_unknown_peer_dropped),
	};

	if (sodium_init() < 0 || lr_noise_init() || lr_timing_init(&lr_timing))
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

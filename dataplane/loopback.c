/* Back-to-back data planes for the benchmark and the tests. */
#include "dataplane/loopback.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"

static void deliver(struct lr_loopback_side *to)
{
	if (!to->inbox.n)
		return;
	to->w->now = lr_now_ns();
	lr_receive_batch(to->w, &to->inbox);
	to->inbox.n = 0;
}

static void sink_send(void *ctx, const uint8_t *data, size_t len, uint16_t gso_size,
		      const union lr_sockaddr *dst)
{
	struct lr_loopback_side *from = ctx;
	struct lr_loopback_side *to = &from->lb->side[!from->index];
	struct lr_pkt *pkt;

	if (to->inbox.n == LR_BATCH_MAX)
		deliver(to);
	pkt = lr_worker_pkt_get(to->w);
	if (!pkt)
		return;
	memcpy(pkt->buf, data, len);
	pkt->data = pkt->buf;
	pkt->len = (uint32_t)len;
	pkt->gso_size = gso_size;
	lr_peer_get_endpoint(to->peer, &pkt->addr);
	to->inbox.pkts[to->inbox.n++] = pkt;
	to->datagrams_in += gso_size ? (len + gso_size - 1) / gso_size : 1;
	to->trains_in += gso_size != 0;
}

static void sink_tun_write(void *ctx, const uint8_t *data, size_t len)
{
	struct lr_loopback_side *side = ctx;

	side->tun_packets++;
	side->tun_bytes += len;
	if (side->lb->on_tun_write)
		side->lb->on_tun_write(side->lb->ctx, side->index, data, len);
}

static int side_init(struct lr_loopback *lb, int i, bool vnet_hdr)
{
	struct lr_loopback_side *s = &lb->side[i];
	uint8_t key[32] = { 0 };
	uint8_t other4[4] = { 10, 0, 0, (uint8_t)(2 - i) };
	uint8_t other6[16] = { 0xfd, 0, [15] = (uint8_t)(2 - i) };
	union lr_sockaddr ep;
	int ret;

	s->lb = lb;
	s->index = i;
	ret = lr_dataplane_init(&s->dp, 1);
	if (ret)
		return ret;
	s->dp.tun_vnet_hdr = vnet_hdr;
	s->dp.tun_uso = vnet_hdr;
	s->dp.udp_gso = true;
	s->dp.udp_gro = true;
	s->dp.udp_family = AF_INET;
	s->sinks = (struct lr_worker_sinks){ sink_send, sink_tun_write, s };
	key[0] = (uint8_t)(i + 1);
	s->peer = lr_peer_create(key);
	if (!s->peer)
		return -ENOMEM;
	lr_sockaddr_parse(&ep, i ? "192.0.2.1:51820" : "192.0.2.2:51820");
	lr_peer_set_endpoint(s->peer, &ep);
	struct lr_snapshot *snap = lr_snapshot_create(1);

	if (!snap)
		return -ENOMEM;
	snap->peers[0] = s->peer;
	if (lr_allowedips_insert(&snap->routes, AF_INET, other4, 32, s->peer) ||
	    lr_allowedips_insert(&snap->routes, AF_INET6, other6, 128, s->peer)) {
		lr_snapshot_free(snap);
		return -ENOMEM;
	}
	lr_dataplane_publish(&s->dp, snap);
	return lr_worker_create_detached(&s->dp, 0, &s->sinks, &s->w);
}

/* One session: side 0 the initiator, keys crosswise, each side's index table names its own. */
static int sessions_create(struct lr_loopback *lb)
{
	uint8_t k1[32], k2[32];
	struct lr_keypair *kp[2];

	randombytes_buf(k1, sizeof(k1));
	randombytes_buf(k2, sizeof(k2));
	for (int i = 0; i < 2; i++) {
		kp[i] = calloc(1, sizeof(*kp[i]));
		if (!kp[i])
			return -ENOMEM;
		memcpy(kp[i]->send_key, i ? k2 : k1, 32);
		memcpy(kp[i]->recv_key, i ? k1 : k2, 32);
		lr_replay_init(&kp[i]->replay);
		kp[i]->birth_ns = lr_now_ns();
		kp[i]->is_initiator = i == 0;
		kp[i]->peer = lb->side[i].peer;
		kp[i]->entry.type = LR_INDEX_KEYPAIR;
		kp[i]->entry.peer = lb->side[i].peer;
		kp[i]->entry.keypair = kp[i];
		lr_index_table_insert_at(&lb->side[i].dp.index, &kp[i]->entry, 1000u + (unsigned)i);
		atomic_store(&lb->side[i].peer->kp_current, kp[i]);
	}
	kp[0]->remote_index = 1001;
	kp[1]->remote_index = 1000;
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	return 0;
}

int lr_loopback_create(struct lr_loopback *lb, bool vnet_hdr)
{
	int ret;

	memset(lb, 0, sizeof(*lb));
	for (int i = 0; i < 2; i++) {
		ret = side_init(lb, i, vnet_hdr);
		if (ret)
			goto err;
	}
	ret = sessions_create(lb);
	if (ret)
		goto err;
	return 0;
err:
	lr_loopback_destroy(lb);
	return ret;
}

void lr_loopback_destroy(struct lr_loopback *lb)
{
	for (int i = 0; i < 2; i++) {
		struct lr_loopback_side *s = &lb->side[i];

		if (s->w) {
			for (unsigned j = 0; j < s->inbox.n; j++)
				lr_worker_pkt_put(s->w, s->inbox.pkts[j]);
			lr_worker_destroy_detached(s->w);
		}
		if (s->peer) {
			lr_keypair_free(atomic_load(&s->peer->kp_current));
			lr_peer_free(s->peer);
		}
		if (s->dp.handoff)
			lr_dataplane_destroy(&s->dp);
		memset(s, 0, sizeof(*s));
	}
}

unsigned lr_loopback_send(struct lr_loopback *lb, int side, const uint8_t *const *reads,
			  const size_t *lens, unsigned n)
{
	struct lr_loopback_side *s = &lb->side[side];
	struct lr_batch b = { .n = 0 };
	unsigned fed = 0;

	while (fed < n) {
		b.n = 0;
		while (fed < n && b.n < LR_BATCH_MAX) {
			struct lr_pkt *pkt = lr_worker_pkt_get(s->w);

			if (!pkt)
				break;
			pkt->data = pkt->buf;
			memcpy(pkt->data, reads[fed], lens[fed]);
			pkt->len = (uint32_t)lens[fed];
			b.pkts[b.n++] = pkt;
			fed++;
		}
		if (!b.n)
			break;
		s->w->now = lr_now_ns();
		lr_send_batch(s->w, &b);
		deliver(&lb->side[!side]);
	}
	return fed;
}

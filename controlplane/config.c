/* The UAPI operations on the device: applying a parsed set=1 request and dumping the state for
 * get=1. A request is applied only after it parsed completely (uapi.c), and everything that can
 * fail for a reason the user controls (a port in use) is tried before anything changes. */
#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "controlplane/device.h"

static bool all_zero(const uint8_t *p, size_t n)
{
	return sodium_is_zero(p, n);
}

static int apply_allowed_ips(struct lr_device *dev, struct lr_peer *peer,
			     const struct lr_uapi_peer *up)
{
	if (up->replace_allowed_ips)
		lr_allowedips_remove_by_peer(&dev->routes, peer);
	for (size_t i = 0; i < up->n_allowed_ips; i++) {
		const struct lr_uapi_allowedip *a = &up->allowed_ips[i];
		int ret = lr_allowedips_insert(&dev->routes, a->family, a->addr, a->cidr, peer);

		if (ret)
			return ret;
	}
	return 0;
}

static int apply_peer(struct lr_device *dev, const struct lr_uapi_peer *up)
{
	struct lr_peer *peer = lr_device_peer_lookup(dev, up->public_key);
	uint16_t old_keepalive;

	/* A peer with our own public key would be ourselves: ignored, as wireguard-go does. */
	if (dev->identity.has_identity &&
	    !sodium_memcmp(up->public_key, dev->identity.static_public, LR_KEY_LEN))
		return 0;
	if (up->remove)
		return peer ? lr_device_peer_remove(dev, peer) : 0;
	if (!peer) {
		if (up->update_only)
			return 0;
		peer = lr_device_peer_add(dev, up->public_key);
		if (!peer)
			return -ENOMEM;
	}
	if (up->has_preshared_key) {
		bool none = all_zero(up->preshared_key, LR_KEY_LEN);

		lr_noise_handshake_set_psk(&peer->hs, none ? NULL : up->preshared_key);
		peer->has_psk = !none;
	}
	if (up->has_endpoint)
		lr_peer_set_endpoint(peer, &up->endpoint);
	old_keepalive = peer->persistent_keepalive_interval;
	if (up->has_persistent_keepalive)
		peer->persistent_keepalive_interval = up->persistent_keepalive_interval;
	if (apply_allowed_ips(dev, peer, up))
		return -ENOMEM;
	/* Turning persistent keepalive on sends one at once (kernel and wireguard-go). */
	if (!old_keepalive && peer->persistent_keepalive_interval)
		lr_worker_request(dev->dp.worker, peer, LR_PEER_REQ_KEEPALIVE);
	return 0;
}

int lr_config_apply(void *ctx, const struct lr_uapi_config *cfg)
{
	struct lr_device *dev = ctx;
	int ret = 0;

	if ((cfg->has_listen_port && cfg->listen_port != dev->listen_port) ||
	    (cfg->has_fwmark && cfg->fwmark != dev->fwmark)) {
		ret = lr_device_rebind(dev, cfg->has_listen_port ? cfg->listen_port : dev->listen_port,
				       cfg->has_fwmark ? cfg->fwmark : dev->fwmark);
		if (ret)
			return ret == -EADDRINUSE ? ret : -EIO;
	}
	/* wg setconf and syncconf always send the private key; setting the same one again must
	 * not drop every session (the kernel and wireguard-go skip it too). */
	if (cfg->has_private_key && !(dev->identity.has_identity &&
				      !sodium_memcmp(cfg->private_key, dev->identity.static_private,
						     LR_KEY_LEN))) {
		bool none = all_zero(cfg->private_key, LR_KEY_LEN);
		struct lr_peer *self;

		lr_device_set_identity(dev, none ? NULL : cfg->private_key);
		/* The kernel removes a peer whose key became our own. */
		if (dev->identity.has_identity &&
		    (self = lr_device_peer_lookup(dev, dev->identity.static_public)))
			lr_device_peer_remove(dev, self);
	}
	if (cfg->replace_peers) {
		while (dev->n_peers && !ret)
			ret = lr_device_peer_remove(dev, dev->peers[dev->n_peers - 1]);
	}
	for (size_t i = 0; i < cfg->n_peers && !ret; i++)
		ret = apply_peer(dev, &cfg->peers[i]);
	if (lr_device_publish(dev) && !ret)
		ret = -ENOMEM;
	return ret;
}

static int dump_allowedip(void *ctx, void *peer, int family, const uint8_t *addr, uint8_t cidr)
{
	struct lr_uapi_allowedip *a = lr_uapi_peer_add_allowedip(ctx);

	if (!a)
		return -ENOMEM;
	a->family = (uint8_t)family;
	a->cidr = cidr;
	memcpy(a->addr, addr, family == AF_INET ? 4 : 16);
	return 0;
}

static int dump_peer(struct lr_device *dev, struct lr_peer *peer, struct lr_uapi_config *cfg)
{
	struct lr_uapi_peer *up = lr_uapi_config_add_peer(cfg);

	if (!up)
		return -ENOMEM;
	memcpy(up->public_key, peer->public_key, LR_KEY_LEN);
	up->has_preshared_key = true;
	if (peer->has_psk)
		memcpy(up->preshared_key, peer->hs.preshared_key, LR_KEY_LEN);
	lr_peer_get_endpoint(peer, &up->endpoint);
	up->has_endpoint = up->endpoint.sa.sa_family != 0;
	up->has_persistent_keepalive = true;
	up->persistent_keepalive_interval = peer->persistent_keepalive_interval;
	up->rx_bytes = atomic_load(&peer->rx_bytes);
	up->tx_bytes = atomic_load(&peer->tx_bytes);
	up->last_handshake_time_sec = (int64_t)(peer->last_handshake_wall_ns / LR_NSEC_PER_SEC);
	up->last_handshake_time_nsec = (int64_t)(peer->last_handshake_wall_ns % LR_NSEC_PER_SEC);
	return lr_allowedips_foreach(&dev->routes, peer, dump_allowedip, up);
}

int lr_config_dump(void *ctx, struct lr_uapi_config *cfg)
{
	struct lr_device *dev = ctx;

	if (dev->identity.has_identity) {
		cfg->has_private_key = true;
		memcpy(cfg->private_key, dev->identity.static_private, LR_KEY_LEN);
	}
	cfg->has_listen_port = true;
	cfg->listen_port = dev->listen_port;
	cfg->has_fwmark = dev->fwmark != 0;
	cfg->fwmark = dev->fwmark;
	for (size_t i = 0; i < dev->n_peers; i++) {
		int ret = dump_peer(dev, dev->peers[i], cfg);

		if (ret)
			return ret;
	}
	return 0;
}

int lr_config_stats(void *ctx, FILE *out)
{
	struct lr_device *dev = ctx;
	struct lr_stats *st = &dev->dp.stats;

	for (int i = 0; i < LR_DROP_COUNT; i++)
		fprintf(out, "drop_%s=%llu\n", lr_drop_names[i],
			(unsigned long long)atomic_load(&st->drops[i]));
	fprintf(out, "handshakes_completed=%llu\ncookies_sent=%llu\n",
		(unsigned long long)atomic_load(&st->handshakes_completed),
		(unsigned long long)atomic_load(&st->cookies_sent));
	return ferror(out) ? -EIO : 0;
}

/* Device lifecycle and the control thread's loop: one epoll over the UAPI socket, the workers'
 * wake-up eventfd, a periodic timerfd and a signalfd. */
#include "controlplane/device.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/timing.h"
#include "dataplane/socket.h"
#include "tun/tun.h"
#include "tun/offload.h"

enum { EV_UAPI = 1, EV_WAKE, EV_TIMER, EV_SIGNAL };

static const struct lr_uapi_ops config_ops = {
	.apply = lr_config_apply,
	.dump = lr_config_dump,
	.stats = lr_config_stats,
};

int lr_device_send(struct lr_device *dev, const union lr_sockaddr *dst, const void *buf,
		   size_t len)
{
	/* Any socket of the group sends from the listen port; the first is as good as any. */
	return lr_socket_send(dev->dp.udp_fds[0], dev->dp.udp_family, dst, buf, len);
}

static void close_sockets(struct lr_dataplane *dp)
{
	for (unsigned i = 0; i < dp->n_workers; i++) {
		if (dp->udp_fds[i] >= 0)
			close(dp->udp_fds[i]);
		dp->udp_fds[i] = -1;
	}
}

int lr_device_rebind(struct lr_device *dev, uint16_t port, uint32_t fwmark)
{
	int fds[LR_MAX_WORKERS];
	uint16_t bound;
	int family, ret;

	/* The same port with a new mark keeps the sockets: marks apply to later sends. */
	if (port == dev->listen_port && dev->dp.udp_fds[0] >= 0) {
		for (unsigned i = 0; i < dev->dp.n_workers; i++) {
			ret = lr_socket_set_fwmark(dev->dp.udp_fds[i], fwmark);
			if (ret)
				return ret;
		}
		dev->fwmark = fwmark;
		return 0;
	}
	ret = lr_socket_open_group(dev->dp.n_workers, port, fwmark, fds, &family, &bound);
	if (ret)
		return ret;
	/* The workers have receives armed on the old sockets: stop them, swap, start again.
	 * Packets in flight are dropped, as when any WireGuard implementation rebinds. */
	lr_dataplane_stop(&dev->dp);
	close_sockets(&dev->dp);
	memcpy(dev->dp.udp_fds, fds, dev->dp.n_workers * sizeof(fds[0]));
	dev->dp.udp_family = family;
	dev->dp.udp_gso = !getenv("LR_NO_OFFLOAD") && lr_socket_probe_gso(fds[0]);
	dev->dp.udp_gro = !getenv("LR_NO_OFFLOAD");
	for (unsigned i = 0; i < dev->dp.n_workers && dev->dp.udp_gro; i++)
		dev->dp.udp_gro = lr_socket_enable_gro(fds[i]);
	dev->listen_port = bound;
	dev->fwmark = fwmark;
	ret = lr_dataplane_start(&dev->dp);
	if (ret)
		lr_err("cannot restart the data-plane workers: %s", strerror(-ret));
	return ret;
}

static int epoll_add(int epfd, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void shutdown_signals(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGHUP);
}

static int setup_loop_fds(struct lr_device *dev)
{
	struct itimerspec its = { 0 };
	sigset_t mask;

	dev->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	dev->timer_fd = timerfd_create(CLOCK_BOOTTIME, TFD_CLOEXEC | TFD_NONBLOCK);
	shutdown_signals(&mask);
	dev->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (dev->epoll_fd < 0 || dev->timer_fd < 0 || dev->signal_fd < 0)
		return -errno;
	its.it_interval.tv_nsec = (long)lr_timing.tick;
	its.it_value.tv_nsec = (long)lr_timing.tick;
	if (timerfd_settime(dev->timer_fd, 0, &its, NULL) < 0)
		return -errno;
	if (epoll_add(dev->epoll_fd, dev->dp.control_wake_fd, EV_WAKE) ||
	    epoll_add(dev->epoll_fd, dev->timer_fd, EV_TIMER) ||
	    epoll_add(dev->epoll_fd, dev->signal_fd, EV_SIGNAL) ||
	    epoll_add(dev->epoll_fd, lr_uapi_server_fd(dev->uapi), EV_UAPI))
		return -errno;
	return 0;
}

/* LR_NO_OFFLOAD (test and benchmark knob) keeps the device and sockets to plain packets. */
static int open_tun_queues(struct lr_device *dev)
{
	bool vnet = !getenv("LR_NO_OFFLOAD");
	unsigned offloads = 0;
	int ret;

	for (unsigned i = 0; i < dev->dp.n_workers; i++) {
		int fd = lr_tun_open(dev->ifname, vnet);

		if (fd < 0)
			return fd;
		dev->dp.tun_fds[i] = fd;
	}
	ret = lr_tun_set_mtu(dev->ifname, LR_TUN_DEFAULT_MTU);
	if (ret)
		return ret;
	dev->dp.tun_vnet_hdr = vnet;
	if (vnet) {
		/* At most one UDP GSO train per super-packet: 64 segments, 64 KiB. */
		if (lr_tun_set_gso_limits(dev->ifname, LR_GSO_MAX_SEGS, 65536) == 0)
			offloads = lr_tun_enable_offloads(dev->dp.tun_fds, dev->dp.n_workers);
		dev->dp.tun_uso = (offloads & (LR_TUN_F_USO4 | LR_TUN_F_USO6)) ==
				  (LR_TUN_F_USO4 | LR_TUN_F_USO6);
		lr_info("%s: TUN offloads 0x%x (%s)", dev->ifname, offloads,
			offloads ? "super-packets" : "plain packets");
	}
	return 0;
}

static void close_tun_queues(struct lr_dataplane *dp)
{
	for (unsigned i = 0; i < dp->n_workers; i++) {
		if (dp->tun_fds[i] >= 0)
			close(dp->tun_fds[i]);
		dp->tun_fds[i] = -1;
	}
}

int lr_device_create(struct lr_device *dev, const char *ifname, const char *sock_dir,
		     unsigned n_workers)
{
	sigset_t mask;
	int ret;

	memset(dev, 0, sizeof(*dev));
	dev->epoll_fd = dev->timer_fd = dev->signal_fd = -1;
	/* Blocked before the first worker starts, so that every thread inherits the mask and
	 * the signals reach only the control thread's signalfd. */
	shutdown_signals(&mask);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	if (strlen(ifname) >= IFNAMSIZ)
		return -ENAMETOOLONG;
	strcpy(dev->ifname, ifname);
	lr_allowedips_init(&dev->routes);
	lr_cookie_checker_init(&dev->cookie_checker, NULL);
	lr_ratelimiter_init(&dev->ratelimiter);
	ret = lr_dataplane_init(&dev->dp, n_workers);
	if (ret)
		return ret;
	ret = open_tun_queues(dev);
	if (ret < 0)
		goto err_tun;
	ret = lr_device_publish(dev);
	if (ret)
		goto err_tun;
	ret = lr_device_rebind(dev, 0, 0);
	if (ret)
		goto err_tun;
	ret = lr_uapi_server_open(&dev->uapi, sock_dir, ifname, &config_ops, dev);
	if (ret)
		goto err_worker;
	ret = setup_loop_fds(dev);
	if (ret)
		goto err_uapi;
	return 0;

err_uapi:
	lr_uapi_server_close(dev->uapi);
	dev->uapi = NULL;
err_worker:
	lr_dataplane_stop(&dev->dp);
	close_sockets(&dev->dp);
err_tun:
	close_tun_queues(&dev->dp);
	lr_dataplane_destroy(&dev->dp);
	return ret;
}

static void refresh_mtu(struct lr_device *dev, uint64_t now)
{
	int mtu;

	if (now < dev->next_mtu_check_ns)
		return;
	dev->next_mtu_check_ns = now + LR_NSEC_PER_SEC;
	mtu = lr_tun_get_mtu(dev->ifname);
	if (mtu > 0)
		atomic_store(&dev->dp.mtu, (unsigned)mtu);
}

static void handle_event(struct lr_device *dev, uint64_t tag)
{
	uint64_t count;
	struct signalfd_siginfo si;

	switch (tag) {
	case EV_UAPI:
		/* Deleting the socket stops the daemon, as with wireguard-go. */
		if (lr_uapi_server_dispatch(dev->uapi) == -ENOENT) {
			lr_info("%s: the UAPI socket was removed, shutting down", dev->ifname);
			dev->stop = true;
		}
		break;
	case EV_WAKE:
		if (eventfd_read(dev->dp.control_wake_fd, &count)) {
			/* EAGAIN: another wake-up already consumed it. */
		}
		break;
	case EV_TIMER:
		if (read(dev->timer_fd, &count, sizeof(count)) == sizeof(count)) {
			uint64_t now = lr_now_ns();

			lr_timers_tick(dev, now);
			refresh_mtu(dev, now);
		}
		break;
	case EV_SIGNAL:
		if (read(dev->signal_fd, &si, sizeof(si)) == sizeof(si)) {
			lr_info("%s: received signal %u, shutting down", dev->ifname, si.ssi_signo);
			dev->stop = true;
		}
		break;
	}
}

int lr_device_run(struct lr_device *dev)
{
	struct epoll_event events[16];
	bool more_handshakes = false;

	while (!dev->stop) {
		/* Work left in a handshake ring means poll without sleeping. */
		int n = epoll_wait(dev->epoll_fd, events, 16, more_handshakes ? 0 : -1);
		int fatal;

		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++)
			handle_event(dev, events[i].data.u64);
		more_handshakes = lr_handshake_drain(dev);
		lr_timers_events(dev);
		lr_qsbr_reclaim(&dev->dp.qsbr);
		fatal = atomic_load(&dev->dp.fatal);
		if (fatal) {
			lr_info("%s: the interface is gone (%s), shutting down", dev->ifname,
				strerror(-fatal));
			return 0;
		}
	}
	return 0;
}

void lr_device_destroy(struct lr_device *dev)
{
	lr_dataplane_stop(&dev->dp);
	if (dev->uapi)
		lr_uapi_server_close(dev->uapi);
	while (dev->n_peers)
		lr_device_peer_remove(dev, dev->peers[dev->n_peers - 1]);
	lr_device_publish(dev);
	/* No worker runs any more: everything retired can go now. */
	lr_dataplane_destroy(&dev->dp);
	lr_allowedips_destroy(&dev->routes);
	close_sockets(&dev->dp);
	close_tun_queues(&dev->dp);
	if (dev->epoll_fd >= 0)
		close(dev->epoll_fd);
	if (dev->timer_fd >= 0)
		close(dev->timer_fd);
	if (dev->signal_fd >= 0)
		close(dev->signal_fd);
	free(dev->peers);
	free(dev->removed);
	lr_noise_identity_clear(&dev->identity);
	lr_cookie_checker_destroy(&dev->cookie_checker);
}

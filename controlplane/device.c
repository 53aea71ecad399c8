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

enum { EV_UAPI = 1, EV_WAKE, EV_TIMER, EV_SIGNAL };

static const struct lr_uapi_ops config_ops = {
	.apply = lr_config_apply,
	.dump = lr_config_dump,
	.stats = lr_config_stats,
};

int lr_device_send(struct lr_device *dev, const union lr_sockaddr *dst, const void *buf,
		   size_t len)
{
	return lr_socket_send(dev->dp.udp_fd, dev->dp.udp_family, dst, buf, len);
}

int lr_device_rebind(struct lr_device *dev, uint16_t port, uint32_t fwmark)
{
	uint16_t bound;
	int family, fd, ret;

	/* The same port with a new mark keeps the socket: marks apply to later sends. */
	if (port == dev->listen_port && dev->dp.udp_fd >= 0) {
		ret = lr_socket_set_fwmark(dev->dp.udp_fd, fwmark);
		if (!ret)
			dev->fwmark = fwmark;
		return ret;
	}
	fd = lr_socket_open(port, fwmark, &family, &bound);
	if (fd < 0)
		return fd;
	/* The worker has receives armed on the old socket: stop it, swap, start again. Packets in
	 * flight are dropped, as when any WireGuard implementation rebinds. */
	lr_worker_stop(dev->dp.worker);
	dev->dp.worker = NULL;
	if (dev->dp.udp_fd >= 0)
		close(dev->dp.udp_fd);
	dev->dp.udp_fd = fd;
	dev->dp.udp_family = family;
	dev->listen_port = bound;
	dev->fwmark = fwmark;
	ret = lr_worker_start(&dev->dp, &dev->dp.worker);
	if (ret)
		lr_err("cannot restart the data-plane worker: %s", strerror(-ret));
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

int lr_device_create(struct lr_device *dev, const char *ifname, const char *sock_dir)
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
	ret = lr_dataplane_init(&dev->dp);
	if (ret)
		return ret;
	ret = lr_tun_open(ifname);
	if (ret < 0)
		goto err_dataplane;
	dev->dp.tun_fd = ret;
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
	lr_worker_stop(dev->dp.worker);
	dev->dp.worker = NULL;
	close(dev->dp.udp_fd);
err_tun:
	close(dev->dp.tun_fd);
err_dataplane:
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

	while (!dev->stop) {
		/* Work left in the handshake ring means poll without sleeping. */
		int timeout = lr_ring_count(&dev->dp.handshakes) ? 0 : -1;
		int n = epoll_wait(dev->epoll_fd, events, 16, timeout);
		int fatal;

		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++)
			handle_event(dev, events[i].data.u64);
		lr_handshake_drain(dev);
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
	lr_worker_stop(dev->dp.worker);
	dev->dp.worker = NULL;
	if (dev->uapi)
		lr_uapi_server_close(dev->uapi);
	while (dev->n_peers)
		lr_device_peer_remove(dev, dev->peers[dev->n_peers - 1]);
	lr_device_publish(dev);
	/* No worker runs any more: everything retired can go now. */
	lr_dataplane_destroy(&dev->dp);
	lr_allowedips_destroy(&dev->routes);
	if (dev->dp.udp_fd >= 0)
		close(dev->dp.udp_fd);
	if (dev->dp.tun_fd >= 0)
		close(dev->dp.tun_fd);
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

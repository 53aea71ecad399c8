/* TUN device creation and the few link properties the engine reads. */
#ifndef LR_TUN_TUN_H
#define LR_TUN_TUN_H

#include <net/if.h>

#define LR_TUN_DEFAULT_MTU 1420 /* WireGuard's default: 1500 - 80 bytes of IPv6 + UDP + WG */

/* Creates (or attaches a queue to) the layer-3 TUN device ifname without packet info and
 * returns the fd (O_CLOEXEC), or a negative errno. Every queue of a device is opened with
 * IFF_MULTI_QUEUE so that each worker reads its own; the device disappears when the last
 * queue is closed. */
int lr_tun_open(const char *ifname);
/* The device's MTU, or a negative errno. */
int lr_tun_get_mtu(const char *ifname);
int lr_tun_set_mtu(const char *ifname, int mtu);

#endif

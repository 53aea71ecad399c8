/* TUN device creation and the few link properties the engine reads. */
#ifndef LR_TUN_TUN_H
#define LR_TUN_TUN_H

#include <net/if.h>
#include <stdbool.h>

#define LR_TUN_DEFAULT_MTU 1420 /* WireGuard's default: 1500 - 80 bytes of IPv6 + UDP + WG */

/* Creates (or attaches a queue to) the layer-3 TUN device ifname without packet info and
 * returns the fd (O_CLOEXEC), or a negative errno. Every queue of a device is opened with
 * IFF_MULTI_QUEUE so that each worker reads its own; the device disappears when the last
 * queue is closed. */
int lr_tun_open(const char *ifname, bool vnet_hdr);
/* Asks for TSO (and USO where the kernel has it) with partial checksums on every queue, so
 * reads return super-packets. Returns the TUN_F_* flags granted (0: none, plain packets). */
unsigned lr_tun_enable_offloads(const int *fds, unsigned n);
/* TUN_F_USO4/6, which Debian 12's headers lack (the kernel has them since 6.2). */
#define LR_TUN_F_USO4 0x20
#define LR_TUN_F_USO6 0x40
/* Caps the super-packets the stack builds for the device (IFLA_GSO_MAX_SEGS/SIZE), so that
 * one always fits a UDP GSO train. Returns 0 or a negative errno. */
int lr_tun_set_gso_limits(const char *ifname, unsigned max_segs, unsigned max_size);
/* The device's MTU, or a negative errno. */
int lr_tun_get_mtu(const char *ifname);
int lr_tun_set_mtu(const char *ifname, int mtu);

#endif

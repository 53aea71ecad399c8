/* TUN offloads on the packet path: the virtio-net header, segmentation of TSO/USO super-packets
 * read from TUN, TCP coalescing of decrypted segments before a TUN write, and the internet
 * checksum both need. Pure functions: no I/O, no allocation, no global state. */
#ifndef LR_TUN_OFFLOAD_H
#define LR_TUN_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* <linux/virtio_net.h> values, restated because Debian 12's headers lack GSO_UDP_L4. */
#define LR_VNET_HDR_LEN 10
#define LR_VNET_F_NEEDS_CSUM 0x01 /* checksum csum_start..end, store at csum_start+offset */
#define LR_VNET_F_DATA_VALID 0x02 /* the kernel already checked it; nothing for us to do */
#define LR_VNET_GSO_NONE 0
#define LR_VNET_GSO_TCPV4 1
#define LR_VNET_GSO_UDP 3 /* UFO (IP fragmentation): never enabled, always refused */
#define LR_VNET_GSO_TCPV6 4
#define LR_VNET_GSO_UDP_L4 5 /* USO: one UDP header per gso_size bytes of payload */
#define LR_VNET_GSO_ECN 0x80

#define LR_OFFLOAD_MAX_SEGS 64   /* segments coalesced into one super-packet, at most */
#define LR_OFFLOAD_MAX_LEN 65535 /* IP bytes of a coalesced super-packet, at most */
#define LR_OFFLOAD_END 0xffff    /* end of a group's member chain */

/* struct virtio_net_hdr in host order. */
struct lr_vnet_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len; /* a hint from the kernel (skb_headlen), never trusted */
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
};

/* The header's fields are little-endian: the engine runs on little-endian hosts, where legacy
 * virtio order is little-endian too (on a big-endian host the TUN fd needs TUNSETVNETLE). */
void lr_offload_vnet_parse(struct lr_vnet_hdr *h, const uint8_t raw[LR_VNET_HDR_LEN]);
void lr_offload_vnet_write(uint8_t raw[LR_VNET_HDR_LEN], const struct lr_vnet_hdr *h);
/* All zero: a plain packet, checksum complete, nothing to segment. */
void lr_offload_vnet_write_none(uint8_t raw[LR_VNET_HDR_LEN]);

/* --- Checksums (RFC 1071) ---
 * A running sum is an opaque uint64_t that starts at 0. Chained lr_offload_csum_add calls must
 * all pass even lengths except the last one. lr_offload_csum_fold returns the 16-bit ones'
 * complement sum as the number a big-endian read of the field would give, not complemented:
 * a checksum field gets ~fold, a CHECKSUM_PARTIAL field gets fold of the pseudo-header, and a
 * packet verifies when the fold over it (and its pseudo-header) is 0xffff. */
uint64_t lr_offload_csum_add(uint64_t sum, const void *buf, size_t len);
uint16_t lr_offload_csum_fold(uint64_t sum);
uint64_t lr_offload_csum_pseudo4(const uint8_t src[4], const uint8_t dst[4], uint8_t proto,
				 uint16_t l4_len);
uint64_t lr_offload_csum_pseudo6(const uint8_t src[16], const uint8_t dst[16], uint8_t proto,
				 uint32_t l4_len);

/* --- Segmentation (TUN read -> encrypt) --- */

/* What a packet read from TUN splits into. */
struct lr_offload_seg_info {
	unsigned count;  /* segments, >= 1 */
	size_t max_len;  /* longest segment (the first): headers + gso_size, or the whole packet */
	size_t hdr_len;  /* IP + TCP/UDP header bytes repeated in every segment; 0 if not GSO */
};

/* Where segments go: segment i's first byte is written at base + i * stride + headroom, so the
 * engine can put each plaintext straight into its slot of a UDP GSO send buffer, leaving room
 * for the message header before it and for padding and tag after it. */
struct lr_offload_seg_out {
	uint8_t *base;
	size_t cap;      /* bytes writable from base */
	size_t headroom;
	size_t stride;   /* >= headroom + max_len whenever count > 1 */
	unsigned max_segs;
};

/* Validates the vnet header h against the len bytes of pkt that followed it and says how the
 * packet splits. Returns 0, -EINVAL for a malformed header or packet, -EOPNOTSUPP for a GSO
 * type or layout we do not segment (UFO, IPv6 extension headers), -EMSGSIZE when a segment
 * could not fit in 64 KiB. */
int lr_offload_segment_info(const struct lr_vnet_hdr *h, const uint8_t *pkt, size_t len,
			    struct lr_offload_seg_info *info);

/* Writes the segments of pkt into out and their lengths into seg_len[0..count) and returns
 * count, or an error of lr_offload_segment_info, -E2BIG for more than out->max_segs segments,
 * -ENOBUFS when out is too small, -EINVAL when segments would overlap. Handles GSO_NONE (a
 * copy, completing the checksum if NEEDS_CSUM), TCPV4/TCPV6 (with or without ECN), UDP_L4.
 * pkt and out must not overlap. Nothing is written unless the whole result fits. */
int lr_offload_segment(const struct lr_vnet_hdr *h, const uint8_t *pkt, size_t len,
		       const struct lr_offload_seg_out *out, uint16_t *seg_len);

/* --- Coalescing (decrypt -> TUN write) --- */

struct lr_offload_pkt {
	const uint8_t *data; /* a whole IP packet: no trailing padding */
	size_t len;
};

/* A run of packets written to TUN as one: a TCP super-packet when count > 1, the packet alone
 * when count == 1. Members are head, next[head], ... (count of them, ending at tail). */
struct lr_offload_group {
	uint16_t head;
	uint16_t tail;
	uint16_t count;
	uint16_t gso_size; /* payload bytes of every member but the last (which may be shorter) */
	uint32_t len;      /* IP bytes of the built packet; lr_offload_coalesce_build writes
			    * LR_VNET_HDR_LEN + len */
	/* The classifier's own bookkeeping: */
	uint32_t next_seq;
	uint16_t next_id;
	bool open;
};

/* Decides, without moving bytes, which of the n packets (in arrival order) merge: segments of
 * one TCP flow with equal IP and TCP headers but for what segmentation changes, contiguous
 * sequence numbers, equal payload sizes but a possibly shorter last, PSH/FIN only on the last
 * and CWR only on the first, and valid checksums (a merged packet reaches the stack as
 * CHECKSUM_PARTIAL, so a corrupt one must never be merged). Every packet lands in exactly one
 * group; groups are listed in the order of their first packet, and packets of one flow keep
 * their order. groups needs room for n entries, next for n. Returns the number of groups, or
 * -EINVAL if n > LR_OFFLOAD_END. */
int lr_offload_coalesce(const struct lr_offload_pkt *pkts, unsigned n,
			struct lr_offload_group *groups, uint16_t *next);
/* The same, with LR_OFFLOAD_COALESCE_UDP: also merge datagrams of one UDP flow (same
 * addresses, ports and IP header fields, consecutive IPv4 IDs, equal payloads but a possibly
 * shorter last, checksums valid and present) into a USO super-packet (GSO_UDP_L4), for a
 * device that granted TUN_F_USO4/6. */
#define LR_OFFLOAD_COALESCE_UDP 1u
int lr_offload_coalesce_flags(const struct lr_offload_pkt *pkts, unsigned n,
			      struct lr_offload_group *groups, uint16_t *next, unsigned flags);

/* Writes group g as vnet header + packet into out: for count > 1 a GSO TCPV4/TCPV6 header with
 * NEEDS_CSUM, the head's IP and TCP header with lengths fixed, PSH/FIN of the tail and the
 * pseudo-header sum in the TCP checksum field, then every member's payload; for count == 1 a
 * zero vnet header and the packet. Returns the bytes written (LR_VNET_HDR_LEN + g->len),
 * -ENOBUFS if cap is too small, -EINVAL if g does not describe pkts and next. */
int lr_offload_coalesce_build(const struct lr_offload_pkt *pkts, const uint16_t *next,
			      const struct lr_offload_group *g, uint8_t *out, size_t cap);

#endif

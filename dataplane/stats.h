/* Drop counters by cause. Declared once as an X-macro that yields the enum and the names, so a
 * new cause is one line (VPP's foreach_wg_output_error does the same). */
#ifndef LR_DATAPLANE_STATS_H
#define LR_DATAPLANE_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#define LR_FOREACH_DROP(X)                                                                   \
	X(tun_read_error, "reading the TUN device failed")                                   \
	X(bad_ip_packet, "TUN packet that is not a well-formed IPv4/IPv6 packet")            \
	X(no_route, "no peer's allowed IPs cover the destination")                           \
	X(no_endpoint, "the peer has no endpoint yet")                                       \
	X(staged_full, "no session yet and the peer's staging queue is full")                \
	X(staged_too_big, "no session yet and the packet is too big to stage")               \
	X(send_error, "sending a UDP datagram failed")                                       \
	X(bad_offload, "TUN super-packet with a virtio-net header we cannot segment")         \
	X(no_buffer, "the worker's buffer pool is exhausted (bounded queue full)")          \
	X(bulk_queue_full, "bulk packet dropped: the bulk queue held its byte limit")        \
	X(runt, "UDP datagram shorter than its message type")                                \
	X(unknown_type, "UDP datagram of an unknown message type")                           \
	X(bad_handshake_size, "handshake message of the wrong size")                         \
	X(handshake_queue_full, "handshake queue full (initiation flood)")                   \
	X(unknown_index, "no session for the receiver index")                                \
	X(expired_session, "session too old or out of messages")                             \
	X(decrypt_failed, "transport packet failed authentication")                          \
	X(replay, "transport counter replayed or older than the window")                     \
	X(bad_inner_packet, "decrypted packet is not a well-formed IP packet")               \
	X(inner_src_not_allowed, "inner source address is not in the peer's allowed IPs")    \
	X(tun_write_error, "writing to the TUN device failed")                               \
	X(handoff_full, "the owner worker's hand-off ring is full")                          \
	X(handoff_too_big, "packet too big for a hand-off slot")                             \
	X(mac1_invalid, "handshake message with a wrong mac1")                               \
	X(cookie_required, "handshake under load without a valid cookie (cookie sent)")      \
	X(handshake_ratelimited, "handshakes under load beyond 20/s from one source")           \
	X(unknown_peer, "initiation from a public key that is not a peer")                   \
	X(handshake_invalid, "handshake message failed to decrypt")                          \
	X(handshake_replayed, "initiation with a timestamp not newer than the last")         \
	X(handshake_flood, "initiations faster than 50/s from one peer")                     \
	X(unexpected_response, "response or cookie for no handshake in progress")            \
	X(cookie_invalid, "cookie reply that failed to decrypt")

enum lr_drop {
#define LR_DROP_ENUM(name, desc) LR_DROP_##name,
	LR_FOREACH_DROP(LR_DROP_ENUM)
#undef LR_DROP_ENUM
	LR_DROP_COUNT
};

extern const char *const lr_drop_names[LR_DROP_COUNT];
extern const char *const lr_drop_descriptions[LR_DROP_COUNT];

struct lr_stats {
	_Atomic uint64_t drops[LR_DROP_COUNT];
	_Atomic uint64_t handshakes_completed;
	_Atomic uint64_t cookies_sent;
};

static inline void lr_stats_drop(struct lr_stats *s, enum lr_drop cause)
{
	atomic_fetch_add_explicit(&s->drops[cause], 1, memory_order_relaxed);
}

#endif

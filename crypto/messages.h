/* WireGuard v1 wire formats and protocol constants (whitepaper sections 5.4 and 6). */
#ifndef LR_CRYPTO_MESSAGES_H
#define LR_CRYPTO_MESSAGES_H

#include <stdint.h>

#define LR_KEY_LEN 32
#define LR_TIMESTAMP_LEN 12
#define LR_TAG_LEN 16
#define LR_COOKIE_LEN 16
#define LR_COOKIE_NONCE_LEN 24

enum lr_message_type {
	LR_MSG_INITIATION = 1,
	LR_MSG_RESPONSE = 2,
	LR_MSG_COOKIE = 3,
	LR_MSG_DATA = 4,
};

/* All multi-byte integers on the wire are little-endian. The first byte is the type and the
 * next three are zero, so the header reads as one little-endian u32. */
struct lr_msg_header {
	uint32_t type;
} __attribute__((packed));

struct lr_msg_macs {
	uint8_t mac1[LR_COOKIE_LEN];
	uint8_t mac2[LR_COOKIE_LEN];
} __attribute__((packed));

struct lr_msg_initiation {
	struct lr_msg_header header;
	uint32_t sender_index;
	uint8_t unencrypted_ephemeral[LR_KEY_LEN];
	uint8_t encrypted_static[LR_KEY_LEN + LR_TAG_LEN];
	uint8_t encrypted_timestamp[LR_TIMESTAMP_LEN + LR_TAG_LEN];
	struct lr_msg_macs macs;
} __attribute__((packed));

struct lr_msg_response {
	struct lr_msg_header header;
	uint32_t sender_index;
	uint32_t receiver_index;
	uint8_t unencrypted_ephemeral[LR_KEY_LEN];
	uint8_t encrypted_nothing[LR_TAG_LEN];
	struct lr_msg_macs macs;
} __attribute__((packed));

struct lr_msg_cookie {
	struct lr_msg_header header;
	uint32_t receiver_index;
	uint8_t nonce[LR_COOKIE_NONCE_LEN];
	uint8_t encrypted_cookie[LR_COOKIE_LEN + LR_TAG_LEN];
} __attribute__((packed));

struct lr_msg_data {
	struct lr_msg_header header;
	uint32_t receiver_index;
	uint64_t counter;
	uint8_t encrypted_data[];
} __attribute__((packed));

_Static_assert(sizeof(struct lr_msg_initiation) == 148, "initiation is 148 bytes");
_Static_assert(sizeof(struct lr_msg_response) == 92, "response is 92 bytes");
_Static_assert(sizeof(struct lr_msg_cookie) == 64, "cookie reply is 64 bytes");
_Static_assert(sizeof(struct lr_msg_data) == 16, "data header is 16 bytes");

#define LR_DATA_OVERHEAD (sizeof(struct lr_msg_data) + LR_TAG_LEN)
/* Plaintext is zero-padded to a multiple of 16 before encryption. */
#define LR_PADDING_MULTIPLE 16

/* Protocol constants (whitepaper 6.1). Times are in nanoseconds so that the test-only timer
 * scaling (common/timing.h) can shrink them. */
#define LR_REKEY_AFTER_MESSAGES (1ULL << 60)
#define LR_REJECT_AFTER_MESSAGES (UINT64_MAX - (1ULL << 13))
#define LR_REKEY_AFTER_TIME_S 120
#define LR_REJECT_AFTER_TIME_S 180
#define LR_REKEY_ATTEMPT_TIME_S 90
#define LR_REKEY_TIMEOUT_S 5
#define LR_KEEPALIVE_TIMEOUT_S 10
#define LR_COOKIE_SECRET_MAX_AGE_S 120
#define LR_COOKIE_SECRET_LATENCY_S 5
#define LR_MAX_TIMER_HANDSHAKES (LR_REKEY_ATTEMPT_TIME_S / LR_REKEY_TIMEOUT_S)
#define LR_INITIATIONS_PER_SECOND 50

#endif

/* mac1/mac2 and cookie replies (whitepaper 5.4.4 and 5.4.7): the DoS mitigation of WireGuard. */
#ifndef LR_CRYPTO_COOKIE_H
#define LR_CRYPTO_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sockaddr.h"
#include "crypto/messages.h"

/* Our side: checks mac1/mac2 on incoming handshake messages and makes cookie replies. */
struct lr_cookie_checker {
	uint8_t secret[LR_KEY_LEN];        /* Rm, rotated every 2 minutes */
	uint64_t secret_birth_ns;
	uint8_t cookie_encryption_key[LR_KEY_LEN]; /* HASH("cookie--" || Spub_m) */
	uint8_t message_mac1_key[LR_KEY_LEN];      /* HASH("mac1----" || Spub_m) */
	bool has_key;
};

/* One per peer: remembers the cookie the peer sent us and the last mac1 we sent it. */
struct lr_cookie {
	uint64_t birth_ns;
	bool is_valid;
	uint8_t cookie[LR_COOKIE_LEN];
	bool have_sent_mac1;
	uint8_t last_mac1_sent[LR_COOKIE_LEN];
	uint8_t cookie_decryption_key[LR_KEY_LEN];
	uint8_t message_mac1_key[LR_KEY_LEN];
};

enum lr_cookie_mac_state {
	LR_COOKIE_INVALID_MAC,
	LR_COOKIE_VALID_MAC_NO_COOKIE,
	LR_COOKIE_VALID_MAC_WITH_COOKIE,
};

/* our_public NULL (no private key set) disables the checker: every packet is INVALID_MAC. */
void lr_cookie_checker_init(struct lr_cookie_checker *c, const uint8_t *our_public);
void lr_cookie_checker_destroy(struct lr_cookie_checker *c);
/* msg is an initiation or response of len bytes (macs are its last 32 bytes). mac2 is only
 * checked when check_cookie (we are under load); it must be the cookie for src. */
enum lr_cookie_mac_state lr_cookie_validate_packet(struct lr_cookie_checker *c, const void *msg,
						   size_t len, const union lr_sockaddr *src,
						   bool check_cookie, uint64_t now_ns);
/* Makes the reply to msg (which carried sender_index) telling src its cookie. */
void lr_cookie_reply_create(struct lr_msg_cookie *reply, struct lr_cookie_checker *c,
			    const void *msg, size_t len, uint32_t sender_index,
			    const union lr_sockaddr *src, uint64_t now_ns);

void lr_cookie_init(struct lr_cookie *ck, const uint8_t remote_public[LR_KEY_LEN]);
void lr_cookie_destroy(struct lr_cookie *ck);
/* Fills mac1 and, if we hold a cookie younger than 2 minutes minus latency, mac2. */
void lr_cookie_add_macs(struct lr_cookie *ck, void *msg, size_t len, uint64_t now_ns);
/* Decrypts a cookie reply against the last mac1 we sent. Returns 0 or -EBADMSG. */
int lr_cookie_reply_consume(struct lr_cookie *ck, const struct lr_msg_cookie *reply,
			    uint64_t now_ns);

#endif

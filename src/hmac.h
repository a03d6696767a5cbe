/* hmac: Shopify webhook signatures. Owns nothing; uses libcrypto's HMAC-SHA256, base64 and
 * CRYPTO_memcmp. A delivery is signed as base64(HMAC-SHA256(secret, raw body)). */
#ifndef EZ_HMAC_H
#define EZ_HMAC_H

#include <stddef.h>

#define HMAC_B64_LEN 44   /* base64 of 32 bytes, with padding */

/* Decodes exactly 44 characters of standard padded base64 into 32 bytes. Returns 0, or -1
 * for anything else (wrong length, bad alphabet, misplaced padding). */
int hmac_b64decode32(const char *b64, size_t len, unsigned char out[32]);

/* Writes the 44-character signature (plus NUL) of body under secret into out. */
int hmac_shopify_sign(const char *secret, const void *body, size_t len,
                      char out[HMAC_B64_LEN + 1]);

/* 1 when header is a valid signature of body under secret, else 0. Constant time in the
 * signature; a NULL or empty secret never verifies. */
int hmac_shopify_verify(const char *secret, const void *body, size_t len, const char *header);

/* A secret made ready once (the MAC fetched, the key schedule computed), for a verifier that
 * checks every delivery: the one-shot HMAC() does all that per call, and it was half of the
 * signature's cost on a 2.7 KB body. One thread at a time. NULL for an empty secret or OOM. */
struct hmac_key;
struct hmac_key *hmac_key_new(const char *secret);
void hmac_key_free(struct hmac_key *k);
/* As hmac_shopify_verify with k's secret; a NULL k never verifies. */
int hmac_key_verify(struct hmac_key *k, const void *body, size_t len, const char *header);

#endif

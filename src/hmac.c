/* hmac: see hmac.h. The signature is compared on the decoded 32 bytes with CRYPTO_memcmp, so
 * the time taken does not reveal how many leading bytes of a forged signature were right. */
#include "hmac.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <stdlib.h>
#include <string.h>

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int hmac_b64decode32(const char *b64, size_t len, unsigned char out[32])
{
    /* 32 bytes = 10 full quads (30 bytes) + one quad carrying 2 bytes and one '='. */
    if (!b64 || len != HMAC_B64_LEN || b64[43] != '=') return -1;
    unsigned char tmp[33];
    size_t o = 0;
    for (size_t i = 0; i < 44; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)b64[i + k];
            v[k] = (i == 40 && k == 3) ? 0 : b64val(c);
            if (v[k] < 0) return -1;
        }
        unsigned long q = ((unsigned long)v[0] << 18) | ((unsigned long)v[1] << 12) |
                          ((unsigned long)v[2] << 6) | (unsigned long)v[3];
        tmp[o++] = (unsigned char)(q >> 16);
        tmp[o++] = (unsigned char)(q >> 8);
        if (o < sizeof tmp) tmp[o++] = (unsigned char)q;
    }
    /* The last quad's low two bits must be zero in canonical base64. */
    if (b64val((unsigned char)b64[42]) & 3) return -1;
    memcpy(out, tmp, 32);
    return 0;
}

static int mac(const char *secret, const void *body, size_t len, unsigned char md[32])
{
    unsigned int mdlen = 0;
    if (!secret || !*secret) return -1;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), body ? body : (const void *)"", len,
              md, &mdlen) || mdlen != 32)
        return -1;
    return 0;
}

int hmac_shopify_sign(const char *secret, const void *body, size_t len,
                      char out[HMAC_B64_LEN + 1])
{
    unsigned char md[32];
    if (mac(secret, body, len, md)) return -1;
    EVP_EncodeBlock((unsigned char *)out, md, 32);
    out[HMAC_B64_LEN] = '\0';
    return 0;
}

int hmac_shopify_verify(const char *secret, const void *body, size_t len, const char *header)
{
    /* One verification path: the receiver's prepared key, made for this call. */
    struct hmac_key *k = hmac_key_new(secret);
    int ok = hmac_key_verify(k, body, len, header);
    hmac_key_free(k);
    return ok;
}

struct hmac_key {
    EVP_MAC *mac;
    EVP_MAC_CTX *ctx;            /* keyed; re-initialised per message with the same key */
};

void hmac_key_free(struct hmac_key *k)
{
    if (!k) return;
    EVP_MAC_CTX_free(k->ctx);
    EVP_MAC_free(k->mac);
    free(k);
}

struct hmac_key *hmac_key_new(const char *secret)
{
    if (!secret || !*secret) return NULL;
    struct hmac_key *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                            OSSL_PARAM_construct_end() };
    if (!(k->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) || !(k->ctx = EVP_MAC_CTX_new(k->mac)) ||
        !EVP_MAC_init(k->ctx, (const unsigned char *)secret, strlen(secret), params)) {
        hmac_key_free(k);
        return NULL;
    }
    return k;
}

int hmac_key_verify(struct hmac_key *k, const void *body, size_t len, const char *header)
{
    unsigned char want[32], got[32];
    size_t n = 0;
    if (!k || !header || hmac_b64decode32(header, strlen(header), got)) return 0;
    /* A NULL key re-initialises with the key already set (OpenSSL 3 HMAC). */
    if (!EVP_MAC_init(k->ctx, NULL, 0, NULL) ||
        !EVP_MAC_update(k->ctx, body ? body : (const void *)"", len) ||
        !EVP_MAC_final(k->ctx, want, &n, sizeof want) || n != 32)
        return 0;
    return CRYPTO_memcmp(want, got, 32) == 0;
}

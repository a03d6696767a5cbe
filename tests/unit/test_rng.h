/* test_rng: reproducible pseudo-random numbers for the tests that generate documents or edits
 * (xorshift64*, fixed seed: a failure replays exactly). Header-only, one state per test binary. */
#ifndef EZ_TEST_RNG_H
#define EZ_TEST_RNG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static uint64_t test_rng_state = 0x9E3779B97F4A7C15ull;

/* A number in [0, n). */
static unsigned rnd(unsigned n)
{
    test_rng_state ^= test_rng_state >> 12;
    test_rng_state ^= test_rng_state << 25;
    test_rng_state ^= test_rng_state >> 27;
    return (unsigned)((test_rng_state * 0x2545F4914F6CDD1Dull) >> 33) % n;
}

/* One random edit of src (len bytes) into dst (room for len + 1): a byte deleted, a byte of
 * noise (nnoise bytes to pick from) inserted, or the text cut short. Returns the new length. */
static size_t rnd_edit(char *dst, const char *src, size_t len, const char *noise, size_t nnoise)
{
    size_t at = rnd((unsigned)len + 1), n = len;
    memcpy(dst, src, len);
    switch (rnd(3)) {
    case 0: if (at < n) memmove(dst + at, dst + at + 1, n - at - 1), n--; break;
    case 1:
        memmove(dst + at + 1, dst + at, n - at), n++;
        dst[at] = noise[rnd((unsigned)nnoise)];
        break;
    default: n = at; break;
    }
    return n;
}

#endif

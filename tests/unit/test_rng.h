/* test_rng: reproducible pseudo-random numbers for the tests that generate documents or edits
 * (xorshift64*, fixed seed: a failure replays exactly). Header-only, one state per test binary. */
#ifndef EZ_TEST_RNG_H
#define EZ_TEST_RNG_H

#include <stdint.h>

static uint64_t test_rng_state = 0x9E3779B97F4A7C15ull;

/* A number in [0, n). */
static unsigned rnd(unsigned n)
{
    test_rng_state ^= test_rng_state >> 12;
    test_rng_state ^= test_rng_state << 25;
    test_rng_state ^= test_rng_state >> 27;
    return (unsigned)((test_rng_state * 0x2545F4914F6CDD1Dull) >> 33) % n;
}

#endif

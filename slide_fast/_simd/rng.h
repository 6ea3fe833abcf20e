/* Counter-based random numbers, bit-identical to slide_ref/_kernels/rng.py. */
#ifndef SLIDE_RNG_H
#define SLIDE_RNG_H
#include <stdint.h>

static inline uint64_t slide_splitmix64(uint64_t x) {
    uint64_t z = x + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline uint64_t slide_counter_hash(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
    uint64_t h = slide_splitmix64(seed);
    h = slide_splitmix64(h ^ a);
    h = slide_splitmix64(h ^ b);
    return slide_splitmix64(h ^ c);
}

static inline double slide_counter_uniform(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
    return (double)(slide_counter_hash(seed, a, b, c) >> 11) * (1.0 / 9007199254740992.0);
}

/* uniform in [0, n) for 1 <= n < 2^32 */
static inline int64_t slide_counter_randint(uint64_t seed, uint64_t a, uint64_t b, uint64_t c,
                                            uint64_t n) {
    return (int64_t)(((slide_counter_hash(seed, a, b, c) >> 32) * n) >> 32);
}
#endif

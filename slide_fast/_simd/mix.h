/* Bucket ids of the NW sketch: for each sketch row r, h = seeds[r], then
 * h = splitmix64(h ^ uint32(code)) over the row's K codes, bucket = ((h >> 32) * W) >> 32.
 *
 *   slide_mix_rows(codes, n_rows, K, seeds, W, out)   one point: codes [n_rows * K] -> out [n_rows]
 *
 * The scalar version keeps 16 rows' chains in flight; the AVX2 one runs 4 rows per
 * vector, 4 vectors at a time, with the 64-bit multiplies built from 32-bit ones
 * (AVX2 has no 64-bit mullo).  Integer results: every level gives the same ids. */
#ifndef SLIDE_MIX_H
#define SLIDE_MIX_H
#include <stdint.h>
#include "dispatch.h"
#include "rng.h"

typedef void (*slide_mix_rows_fn)(const int32_t *codes, int n_rows, int K, const uint64_t *seeds,
                                  uint64_t W, int32_t *out);

static void slide_mix_rows_scalar(const int32_t *codes, int n_rows, int K, const uint64_t *seeds,
                                  uint64_t W, int32_t *out) {
    uint64_t hs[16];
    for (int r0 = 0; r0 < n_rows; r0 += 16) {
        int r1 = r0 + 16 < n_rows ? r0 + 16 : n_rows;
        for (int r = r0; r < r1; r++) hs[r - r0] = seeds[r];
        for (int j = 0; j < K; j++)
            for (int r = r0; r < r1; r++)
                hs[r - r0] = slide_splitmix64(hs[r - r0] ^ (uint64_t)(uint32_t)codes[r * K + j]);
        for (int r = r0; r < r1; r++) out[r] = (int32_t)(((hs[r - r0] >> 32) * W) >> 32);
    }
}

#if SLIDE_X86
SLIDE_TARGET_AVX2
static inline __m256i slide_mul64c_avx2(__m256i a, __m256i c_lo, __m256i c_hi) {
    /* a * c mod 2^64 = a_lo c_lo + ((a_lo c_hi + a_hi c_lo) << 32) */
    __m256i lo = _mm256_mul_epu32(a, c_lo);
    __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(a, c_hi),
                                     _mm256_mul_epu32(_mm256_srli_epi64(a, 32), c_lo));
    return _mm256_add_epi64(lo, _mm256_slli_epi64(cross, 32));
}

SLIDE_TARGET_AVX2
static inline __m256i slide_splitmix64_avx2(__m256i x) {
    const __m256i m1lo = _mm256_set1_epi64x(0x1CE4E5B9LL), m1hi = _mm256_set1_epi64x(0xBF58476DLL);
    const __m256i m2lo = _mm256_set1_epi64x(0x133111EBLL), m2hi = _mm256_set1_epi64x(0x94D049BBLL);
    __m256i z = _mm256_add_epi64(x, _mm256_set1_epi64x((long long)0x9E3779B97F4A7C15ULL));
    z = slide_mul64c_avx2(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), m1lo, m1hi);
    z = slide_mul64c_avx2(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), m2lo, m2hi);
    return _mm256_xor_si256(z, _mm256_srli_epi64(z, 31));
}

SLIDE_TARGET_AVX2
static void slide_mix_rows_avx2(const int32_t *codes, int n_rows, int K, const uint64_t *seeds,
                                uint64_t W, int32_t *out) {
    const __m256i w = _mm256_set1_epi64x((long long)W);
    int r0 = 0;
    for (; r0 + 16 <= n_rows; r0 += 16) {
        __m256i h[4];
        for (int v = 0; v < 4; v++)
            h[v] = _mm256_loadu_si256((const __m256i *)(seeds + r0 + 4 * v));
        for (int j = 0; j < K; j++) {
            for (int v = 0; v < 4; v++) {
                const int32_t *c = codes + (r0 + 4 * v) * K + j;
                __m256i cv = _mm256_set_epi64x((long long)(uint32_t)c[3 * K],
                                               (long long)(uint32_t)c[2 * K],
                                               (long long)(uint32_t)c[K],
                                               (long long)(uint32_t)c[0]);
                h[v] = slide_splitmix64_avx2(_mm256_xor_si256(h[v], cv));
            }
        }
        for (int v = 0; v < 4; v++) {
            __m256i b = _mm256_srli_epi64(_mm256_mul_epu32(_mm256_srli_epi64(h[v], 32), w), 32);
            int64_t lanes[4];
            _mm256_storeu_si256((__m256i *)lanes, b);
            for (int l = 0; l < 4; l++) out[r0 + 4 * v + l] = (int32_t)lanes[l];
        }
    }
    if (r0 < n_rows)
        slide_mix_rows_scalar(codes + r0 * K, n_rows - r0, K, seeds + r0, W, out + r0);
}
#endif

static slide_mix_rows_fn slide_mix_rows_for_level(int level) {
#if SLIDE_X86
    if (level >= SLIDE_LEVEL_AVX2) return slide_mix_rows_avx2;
#endif
    (void)level;
    return slide_mix_rows_scalar;
}
#endif

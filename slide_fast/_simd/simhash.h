/* SimHash (sparse signed random projection) bits of one dense float32 row.
 *
 * idx_t and sign_t are the projections transposed, [m][n_hashes]: entry j of
 * every hash function is contiguous across functions, so SIMD versions handle
 * 8 or 16 functions per step.  Sums are accumulated in double in the order
 * j = 0..m-1, as in the scalar version; float32 inputs times +-1 then add up
 * exactly in practice, so every level returns the same bits as the reference.
 */
#ifndef SLIDE_SIMHASH_H
#define SLIDE_SIMHASH_H
#include <stdint.h>
#include "dispatch.h"

typedef void (*slide_simhash_f32_fn)(const float *x, const int32_t *idx_t, const int8_t *sign_t,
                                     int n_hashes, int m, int32_t *out);

static void slide_simhash_range_f32(const float *x, const int32_t *idx_t, const int8_t *sign_t,
                                    int n_hashes, int m, int32_t *out, int first) {
    for (int i = first; i < n_hashes; i++) {
        double acc = 0.0;
        for (int j = 0; j < m; j++) {
            int64_t k = (int64_t)j * n_hashes + i;
            acc += (double)(x[idx_t[k]] * (float)sign_t[k]);
        }
        out[i] = acc < 0.0;
    }
}

static void slide_simhash_f32_scalar(const float *x, const int32_t *idx_t, const int8_t *sign_t,
                                     int n_hashes, int m, int32_t *out) {
    slide_simhash_range_f32(x, idx_t, sign_t, n_hashes, m, out, 0);
}

static void slide_simhash_f64(const double *x, const int32_t *idx_t, const int8_t *sign_t,
                              int n_hashes, int m, int32_t *out) {
    for (int i = 0; i < n_hashes; i++) {
        double acc = 0.0;
        for (int j = 0; j < m; j++) {
            int64_t k = (int64_t)j * n_hashes + i;
            acc += x[idx_t[k]] * (double)sign_t[k];
        }
        out[i] = acc < 0.0;
    }
}

#if SLIDE_X86
SLIDE_TARGET_AVX2
static void slide_simhash_f32_avx2(const float *x, const int32_t *idx_t, const int8_t *sign_t,
                                   int n_hashes, int m, int32_t *out) {
    int i = 0;
    for (; i + 8 <= n_hashes; i += 8) {
        __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
        for (int j = 0; j < m; j++) {
            int64_t k = (int64_t)j * n_hashes + i;
            __m256 v = _mm256_i32gather_ps(x, _mm256_loadu_si256((const __m256i *)(idx_t + k)), 4);
            __m128i s8 = _mm_loadl_epi64((const __m128i *)(sign_t + k));
            __m256 s = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(s8));
            v = _mm256_mul_ps(v, s);
            lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
            hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
        }
        __m256d zero = _mm256_setzero_pd();
        int bits = _mm256_movemask_pd(_mm256_cmp_pd(lo, zero, _CMP_LT_OQ)) |
                   (_mm256_movemask_pd(_mm256_cmp_pd(hi, zero, _CMP_LT_OQ)) << 4);
        for (int t = 0; t < 8; t++) out[i + t] = (bits >> t) & 1;
    }
    slide_simhash_range_f32(x, idx_t, sign_t, n_hashes, m, out, i);
}

SLIDE_TARGET_AVX512
static void slide_simhash_f32_avx512(const float *x, const int32_t *idx_t, const int8_t *sign_t,
                                     int n_hashes, int m, int32_t *out) {
    for (int i = 0; i < n_hashes; i += 16) {
        int left = n_hashes - i;
        __mmask16 live = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
        for (int j = 0; j < m; j++) {
            int64_t k = (int64_t)j * n_hashes + i;
            __m512i idx = _mm512_maskz_loadu_epi32(live, idx_t + k);
            __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live, idx, x, 4);
            __m128i s8 = _mm_maskz_loadu_epi8(live, sign_t + k);
            __m512 s = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(s8));
            v = _mm512_mul_ps(v, s);
            lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
            hi = _mm512_add_pd(hi, _mm512_cvtps_pd(
                     _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
        }
        __mmask8 nlo = _mm512_cmp_pd_mask(lo, _mm512_setzero_pd(), _CMP_LT_OQ);
        __mmask8 nhi = _mm512_cmp_pd_mask(hi, _mm512_setzero_pd(), _CMP_LT_OQ);
        unsigned bits = (unsigned)nlo | ((unsigned)nhi << 8);
        for (int t = 0; t < 16 && t < left; t++) out[i + t] = (bits >> t) & 1;
    }
}
#endif

static slide_simhash_f32_fn slide_simhash_f32_for_level(int level) {
#if SLIDE_X86
    if (level >= SLIDE_LEVEL_AVX512) return slide_simhash_f32_avx512;
    if (level >= SLIDE_LEVEL_AVX2) return slide_simhash_f32_avx2;
#endif
    (void)level;
    return slide_simhash_f32_scalar;
}
#endif

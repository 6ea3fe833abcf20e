/* exp of a row relative to its maximum, the core of every softmax kernel:
 *
 *   slide_exp_row(z, n, zmax, e) -> sum:   e[i] = exp(z[i] - zmax), returns sum e[i] (double)
 *
 * The SIMD versions use their own exp: range reduction by powers of two and a
 * degree-6 polynomial (Cephes' expf coefficients), relative error ~2e-7, no
 * SVML needed.  Sums are accumulated in double, so a 10^6-wide softmax keeps
 * float precision.
 */
#ifndef SLIDE_SOFTMAX_H
#define SLIDE_SOFTMAX_H
#include <math.h>
#include <stdint.h>
#include "dispatch.h"

typedef double (*slide_exp_row_fn)(const float *z, int64_t n, float zmax, float *e);

static double slide_exp_row_scalar(const float *z, int64_t n, float zmax, float *e) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        e[i] = expf(z[i] - zmax);
        sum += e[i];
    }
    return sum;
}

#if SLIDE_X86
SLIDE_TARGET_AVX2
static inline __m256 slide_exp256(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));      /* below: exp underflows to ~0 */
    x = _mm256_min_ps(x, _mm256_set1_ps(88.3f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

SLIDE_TARGET_AVX2
static double slide_exp_row_avx2(const float *z, int64_t n, float zmax, float *e) {
    __m256 vmax = _mm256_set1_ps(zmax);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = slide_exp256(_mm256_sub_ps(_mm256_loadu_ps(z + i), vmax));
        _mm256_storeu_ps(e + i, v);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, _mm256_add_pd(s0, s1));
    double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    if (i < n) {
        float tail[8] = {0}, out[8];
        for (int64_t t = i; t < n; t++) tail[t - i] = z[t] - zmax;
        _mm256_storeu_ps(out, slide_exp256(_mm256_loadu_ps(tail)));
        for (int64_t t = i; t < n; t++) {
            e[t] = out[t - i];
            sum += out[t - i];
        }
    }
    return sum;
}

/* the same range reduction and polynomial on 16 lanes: element values equal the AVX2
 * ones bit for bit; only the order of the double sum differs */
SLIDE_TARGET_AVX512
static inline __m512 slide_exp512(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.3f));
    x = _mm512_min_ps(x, _mm512_set1_ps(88.3f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)),
                                  23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

SLIDE_TARGET_AVX512
static double slide_exp_row_avx512(const float *z, int64_t n, float zmax, float *e) {
    __m512 vmax = _mm512_set1_ps(zmax);
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    for (int64_t i = 0; i < n; i += 16) {
        int64_t left = n - i;
        __mmask16 k = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        /* lanes past the end are zeroed before the sum and never stored */
        __m512 v = _mm512_maskz_mov_ps(
            k, slide_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, z + i), vmax)));
        _mm512_mask_storeu_ps(e + i, k, v);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(
                 _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
    }
    double lanes[8];
    _mm512_storeu_pd(lanes, _mm512_add_pd(s0, s1));
    return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
           ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}
#endif

static slide_exp_row_fn slide_exp_row_for_level(int level) {
#if SLIDE_X86
    if (level >= SLIDE_LEVEL_AVX512) return slide_exp_row_avx512;
    if (level >= SLIDE_LEVEL_AVX2) return slide_exp_row_avx2;
#endif
    (void)level;
    return slide_exp_row_scalar;
}
#endif

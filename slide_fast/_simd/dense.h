/* float32 vector kernels of the training engine, one variant per instruction set:
 *
 *   slide_dot_f32(a, b, n)            sum a[i] * b[i]
 *   slide_axpy_f32(alpha, x, y, n)    y[i] += alpha * x[i]
 *   slide_adam_f32(...)               one Adam step on n weights, then g = 0
 *   slide_catchup_f32(w, m, v, n, f, d1, d2, eps)
 *                                     w -= f m / (sqrt(v) + eps); m *= d1; v *= d2
 *                                     (catch-up Adam's missed steps, closed form)
 *
 * Tails are handled by masks (AVX-512) or scalar loops (AVX2), so no length has
 * to be a multiple of the vector width.  The AVX2/AVX-512 dot and AXPY use FMA
 * and several accumulators (results differ from the scalar loop by rounding
 * only); Adam uses no FMA and the reference's operation order, so it is
 * bitwise equal to the NumPy reference at every level.
 */
#ifndef SLIDE_DENSE_H
#define SLIDE_DENSE_H
#include <math.h>
#include <stdint.h>
#include "dispatch.h"

typedef float (*slide_dot_f32_fn)(const float *a, const float *b, int64_t n);
typedef void (*slide_axpy_f32_fn)(float alpha, const float *x, float *y, int64_t n);
typedef void (*slide_axpy2_f32_fn)(float alpha, const float *x1, float *y1, const float *x2,
                                   float *y2, int64_t n);
typedef void (*slide_adam_f32_fn)(float *w, float *g, float *m, float *v, int64_t n, float lr,
                                  float b1, float c1, float b2, float c2, float eps);

/* ------------------------------------------------------------------ scalar */
static float slide_dot_f32_scalar(const float *a, const float *b, int64_t n) {
    float acc = 0.0f;
    for (int64_t i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

static void slide_axpy_f32_scalar(float alpha, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
}

/* y1 += alpha * x1 and y2 += alpha * x2 in one pass (the two gradient updates of
 * one active pair of a sampled layer) */
static void slide_axpy2_f32_scalar(float alpha, const float *x1, float *y1, const float *x2,
                                   float *y2, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        y1[i] += alpha * x1[i];
        y2[i] += alpha * x2[i];
    }
}

/* c1 = 1 - b1 and c2 = 1 - b2 as float32, as NumPy rounds them */
static void slide_adam_f32_scalar(float *w, float *g, float *m, float *v, int64_t n, float lr,
                                  float b1, float c1, float b2, float c2, float eps) {
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = b1 * m[i] + c1 * gi;
        float vi = b2 * v[i] + (c2 * gi) * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] -= (lr * mi) / (sqrtf(vi) + eps);
        g[i] = 0.0f;
    }
}

#if SLIDE_X86
/* ------------------------------------------------------------------ AVX2 */
SLIDE_TARGET_AVX2
static inline float slide_hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

SLIDE_TARGET_AVX2
static float slide_dot_f32_avx2(const float *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float acc = slide_hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) acc += a[i] * b[i];
    return acc;
}

SLIDE_TARGET_AVX2
static void slide_axpy_f32_avx2(float alpha, const float *x, float *y, int64_t n) {
    __m256 av = _mm256_set1_ps(alpha);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
        _mm256_storeu_ps(y + i + 8, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i + 8),
                                                    _mm256_loadu_ps(y + i + 8)));
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += alpha * x[i];
}

SLIDE_TARGET_AVX2
static void slide_axpy2_f32_avx2(float alpha, const float *x1, float *y1, const float *x2,
                                 float *y2, int64_t n) {
    __m256 av = _mm256_set1_ps(alpha);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(y1 + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x1 + i), _mm256_loadu_ps(y1 + i)));
        _mm256_storeu_ps(y2 + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x2 + i), _mm256_loadu_ps(y2 + i)));
    }
    for (; i < n; i++) {
        y1[i] += alpha * x1[i];
        y2[i] += alpha * x2[i];
    }
}

/* Prefetch the four arrays of a row that lazy Adam will update soon: its rows are scattered,
 * so the hardware prefetcher cannot guess them and each row would otherwise start with four
 * cache misses (the step is latency-bound without this). */
static inline void slide_prefetch_adam_row(const float *w, const float *g, const float *m,
                                           const float *v, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        __builtin_prefetch(w + i, 1);
        __builtin_prefetch(g + i, 1);
        __builtin_prefetch(m + i, 1);
        __builtin_prefetch(v + i, 1);
    }
}

SLIDE_TARGET_AVX2
static void slide_adam_f32_avx2(float *w, float *g, float *m, float *v, int64_t n, float lr,
                                float b1, float c1, float b2, float c2, float eps) {
    __m256 vb1 = _mm256_set1_ps(b1), vc1 = _mm256_set1_ps(c1), vb2 = _mm256_set1_ps(b2);
    __m256 vc2 = _mm256_set1_ps(c2), vlr = _mm256_set1_ps(lr), veps = _mm256_set1_ps(eps);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i);
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(vb1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(vc1, gi));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(v + i)),
                                  _mm256_mul_ps(_mm256_mul_ps(vc2, gi), gi));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        __m256 step = _mm256_div_ps(_mm256_mul_ps(vlr, mi), _mm256_add_ps(_mm256_sqrt_ps(vi), veps));
        _mm256_storeu_ps(w + i, _mm256_sub_ps(_mm256_loadu_ps(w + i), step));
        _mm256_storeu_ps(g + i, _mm256_setzero_ps());
    }
    slide_adam_f32_scalar(w + i, g + i, m + i, v + i, n - i, lr, b1, c1, b2, c2, eps);
}

/* ------------------------------------------------------------------ AVX-512 */
static inline __mmask16 slide_tail16(int64_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
}

SLIDE_TARGET_AVX512
static float slide_dot_f32_avx512(const float *a, const float *b, int64_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i < n; i += 16) {
        __mmask16 k = slide_tail16(n - i);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, a + i), _mm512_maskz_loadu_ps(k, b + i), s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

SLIDE_TARGET_AVX512
static void slide_axpy_f32_avx512(float alpha, const float *x, float *y, int64_t n) {
    __m512 av = _mm512_set1_ps(alpha);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = slide_tail16(n - i);
        __m512 yv = _mm512_maskz_loadu_ps(k, y + i);
        _mm512_mask_storeu_ps(y + i, k, _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(k, x + i), yv));
    }
}

SLIDE_TARGET_AVX512
static void slide_axpy2_f32_avx512(float alpha, const float *x1, float *y1, const float *x2,
                                   float *y2, int64_t n) {
    __m512 av = _mm512_set1_ps(alpha);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = slide_tail16(n - i);
        _mm512_mask_storeu_ps(y1 + i, k, _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(k, x1 + i),
                                                         _mm512_maskz_loadu_ps(k, y1 + i)));
        _mm512_mask_storeu_ps(y2 + i, k, _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(k, x2 + i),
                                                         _mm512_maskz_loadu_ps(k, y2 + i)));
    }
}

SLIDE_TARGET_AVX512
static void slide_adam_f32_avx512(float *w, float *g, float *m, float *v, int64_t n, float lr,
                                  float b1, float c1, float b2, float c2, float eps) {
    __m512 vb1 = _mm512_set1_ps(b1), vc1 = _mm512_set1_ps(c1), vb2 = _mm512_set1_ps(b2);
    __m512 vc2 = _mm512_set1_ps(c2), vlr = _mm512_set1_ps(lr), veps = _mm512_set1_ps(eps);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = slide_tail16(n - i);
        __m512 gi = _mm512_maskz_loadu_ps(k, g + i);
        __m512 mi = _mm512_add_ps(_mm512_mul_ps(vb1, _mm512_maskz_loadu_ps(k, m + i)),
                                  _mm512_mul_ps(vc1, gi));
        __m512 vi = _mm512_add_ps(_mm512_mul_ps(vb2, _mm512_maskz_loadu_ps(k, v + i)),
                                  _mm512_mul_ps(_mm512_mul_ps(vc2, gi), gi));
        _mm512_mask_storeu_ps(m + i, k, mi);
        _mm512_mask_storeu_ps(v + i, k, vi);
        __m512 step = _mm512_div_ps(_mm512_mul_ps(vlr, mi), _mm512_add_ps(_mm512_sqrt_ps(vi), veps));
        _mm512_mask_storeu_ps(w + i, k, _mm512_sub_ps(_mm512_maskz_loadu_ps(k, w + i), step));
        _mm512_mask_storeu_ps(g + i, k, _mm512_setzero_ps());
    }
}
#endif

static slide_dot_f32_fn slide_dot_f32_for_level(int level) {
#if SLIDE_X86
    if (level >= SLIDE_LEVEL_AVX512) return slide_dot_f32_avx512;
    if (level >= SLIDE_LEVEL_AVX2) return slide_dot_f32_avx2;
#endif
    (void)level;
    return slide_dot_f32_scalar;
}

static slide_axpy_f32_fn slide_axpy_f32_for_level(int level) {
#if SLIDE_X86
    if (level >= SLIDE_LEVEL_AVX512) return slide_axpy_f32_avx512;
    if (level >= SLIDE_LEVEL_AVX2) return slide_axpy_f32_avx2;
#endif
    (void)level;
    return slide_axpy_f32_scalar;
}

static slide_axpy2_f32_fn slide_axpy2_f32_for_level(int level) {
#if SLIDE_X86
    if (level >= SLIDE_LEVEL_AVX512) return slide_axpy2_f32_avx512;
    if (level >= SLIDE_LEVEL_AVX2) return slide_axpy2_f32_avx2;
#endif
    (void)level;
    return slide_axpy2_f32_scalar;
}

static slide_adam_f32_fn slide_adam_f32_for_level(int level) {
#if SLIDE_X86
    if (level >= SLIDE_LEVEL_AVX512) return slide_adam_f32_avx512;
    if (level >= SLIDE_LEVEL_AVX2) return slide_adam_f32_avx2;
#endif
    (void)level;
    return slide_adam_f32_scalar;
}

/* ------------------------------------------------------------------ catch-up Adam */
typedef void (*slide_catchup_f32_fn)(float *w, float *m, float *v, int64_t n, float f,
                                     float d1, float d2, float eps);

static void slide_catchup_f32_scalar(float *w, float *m, float *v, int64_t n, float f,
                                     float d1, float d2, float eps) {
    for (int64_t i = 0; i < n; i++) {
        w[i] -= f * m[i] / (sqrtf(v[i]) + eps);
        m[i] *= d1;
        v[i] *= d2;
    }
}

#if SLIDE_X86
SLIDE_TARGET_AVX2
static void slide_catchup_f32_avx2(float *w, float *m, float *v, int64_t n, float f, float d1,
                                   float d2, float eps) {
    __m256 vf = _mm256_set1_ps(f), vd1 = _mm256_set1_ps(d1), vd2 = _mm256_set1_ps(d2);
    __m256 veps = _mm256_set1_ps(eps);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 mi = _mm256_loadu_ps(m + i), vi = _mm256_loadu_ps(v + i);
        __m256 step = _mm256_div_ps(_mm256_mul_ps(vf, mi), _mm256_add_ps(_mm256_sqrt_ps(vi), veps));
        _mm256_storeu_ps(w + i, _mm256_sub_ps(_mm256_loadu_ps(w + i), step));
        _mm256_storeu_ps(m + i, _mm256_mul_ps(mi, vd1));
        _mm256_storeu_ps(v + i, _mm256_mul_ps(vi, vd2));
    }
    slide_catchup_f32_scalar(w + i, m + i, v + i, n - i, f, d1, d2, eps);
}

SLIDE_TARGET_AVX512
static void slide_catchup_f32_avx512(float *w, float *m, float *v, int64_t n, float f,
                                     float d1, float d2, float eps) {
    __m512 vf = _mm512_set1_ps(f), vd1 = _mm512_set1_ps(d1), vd2 = _mm512_set1_ps(d2);
    __m512 veps = _mm512_set1_ps(eps);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = slide_tail16(n - i);
        __m512 mi = _mm512_maskz_loadu_ps(k, m + i), vi = _mm512_maskz_loadu_ps(k, v + i);
        __m512 step = _mm512_div_ps(_mm512_mul_ps(vf, mi), _mm512_add_ps(_mm512_sqrt_ps(vi), veps));
        _mm512_mask_storeu_ps(w + i, k, _mm512_sub_ps(_mm512_maskz_loadu_ps(k, w + i), step));
        _mm512_mask_storeu_ps(m + i, k, _mm512_mul_ps(mi, vd1));
        _mm512_mask_storeu_ps(v + i, k, _mm512_mul_ps(vi, vd2));
    }
}
#endif

static slide_catchup_f32_fn slide_catchup_f32_for_level(int level) {
#if SLIDE_X86
    if (level >= SLIDE_LEVEL_AVX512) return slide_catchup_f32_avx512;
    if (level >= SLIDE_LEVEL_AVX2) return slide_catchup_f32_avx2;
#endif
    (void)level;
    return slide_catchup_f32_scalar;
}
#endif

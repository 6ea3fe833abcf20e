/* bf16 kernels of Optimized SLIDE's BF16 modes, one variant per instruction set.
 *
 * Data model (see slide_ref/_kernels/bf16.py): a bf16 array is a float32 array
 * whose low 16 bits are zero; mode 2 keeps the low halves of its weights in a
 * separate uint16 array.
 *
 *   slide_round_bf16(x, n)          x[i] = RNE_bf16(x[i]) in place
 *   slide_dot_bf16(w, a, n)         sum RNE_bf16(w[i]) * a[i], fp32 accumulation
 *                                   (a holds bf16 values)
 *   slide_dot_hi_for_level          the same when w already holds bf16 values (mode 2's
 *                                   high halves): no rounding, so the fp32 dot below
 *                                   AVX512-BF16 and VDPBF16PS at that level
 *   slide_adam_split(...)           mode 2's Adam: w = hi | lo, fp32 Adam, split again
 *
 * Rounding is done with integer arithmetic (add 0x7FFF plus the lowest kept
 * bit, then clear the low half; NaNs are quietened instead), so every level
 * rounds exactly as the NumPy reference, subnormals included.  The products in
 * the dot are exact in fp32 (8-bit by 8-bit significands): only the summation
 * order differs between levels.  The AVX512-BF16 dot uses VDPBF16PS, which
 * flushes subnormal inputs to zero and rounds its results as fp32 FMA chains
 * do; it differs from the others by summation order and in subnormals only.
 */
#ifndef SLIDE_BF16_H
#define SLIDE_BF16_H
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "dispatch.h"
#include "dense.h"

typedef void (*slide_round_bf16_fn)(float *x, int64_t n);
typedef float (*slide_dot_bf16_fn)(const float *w, const float *a, int64_t n);
typedef void (*slide_adam_split_fn)(float *w, uint16_t *lo, float *g, float *m, float *v,
                                    int64_t n, float lr, float b1, float c1, float b2, float c2,
                                    float eps);

/* ------------------------------------------------------------------ scalar */
static inline uint32_t slide_f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static inline float slide_bits_f32(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* the float32 nearest to x with a zero low half (ties to even); NaN -> quiet NaN */
static inline float slide_rne_bf16(float x) {
    uint32_t u = slide_f32_bits(x);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u)
        return slide_bits_f32((u | 0x00400000u) & 0xFFFF0000u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return slide_bits_f32(u & 0xFFFF0000u);
}

static void slide_round_bf16_scalar(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = slide_rne_bf16(x[i]);
}

static float slide_dot_bf16_scalar(const float *w, const float *a, int64_t n) {
    float acc = 0.0f;
    for (int64_t i = 0; i < n; i++) acc += slide_rne_bf16(w[i]) * a[i];
    return acc;
}

/* the operation order of slide_adam_f32_scalar, on the weights rebuilt from both halves */
static void slide_adam_split_scalar(float *w, uint16_t *lo, float *g, float *m, float *v,
                                    int64_t n, float lr, float b1, float c1, float b2, float c2,
                                    float eps) {
    for (int64_t i = 0; i < n; i++) {
        float wi = slide_bits_f32((slide_f32_bits(w[i]) & 0xFFFF0000u) | lo[i]);
        float gi = g[i];
        float mi = b1 * m[i] + c1 * gi;
        float vi = b2 * v[i] + (c2 * gi) * gi;
        m[i] = mi;
        v[i] = vi;
        wi -= (lr * mi) / (sqrtf(vi) + eps);
        uint32_t u = slide_f32_bits(wi);
        w[i] = slide_bits_f32(u & 0xFFFF0000u);
        lo[i] = (uint16_t)(u & 0xFFFFu);
        g[i] = 0.0f;
    }
}

#if SLIDE_X86

/* ------------------------------------------------------------------ AVX2 */
SLIDE_TARGET_AVX2
static inline __m256i slide_rne_bf16_256(__m256i u) {
    const __m256i high = _mm256_set1_epi32((int)0xFFFF0000u);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7FFF), lsb));
    __m256i absu = _mm256_and_si256(u, _mm256_set1_epi32(0x7FFFFFFF));
    __m256i nan = _mm256_cmpgt_epi32(absu, _mm256_set1_epi32(0x7F800000));
    __m256i q = _mm256_or_si256(u, _mm256_set1_epi32(0x00400000));
    return _mm256_and_si256(_mm256_blendv_epi8(r, q, nan), high);
}

SLIDE_TARGET_AVX2
static void slide_round_bf16_avx2(float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_loadu_si256((const __m256i *)(x + i));
        _mm256_storeu_si256((__m256i *)(x + i), slide_rne_bf16_256(u));
    }
    slide_round_bf16_scalar(x + i, n - i);
}

SLIDE_TARGET_AVX2
static inline float slide_hsum256_bf16(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

SLIDE_TARGET_AVX2
static inline __m256 slide_load_rne256(const float *w) {
    return _mm256_castsi256_ps(slide_rne_bf16_256(_mm256_loadu_si256((const __m256i *)w)));
}

/* FMA is exact here: the products of two bf16 values fit in fp32 */
SLIDE_TARGET_AVX2
static float slide_dot_bf16_avx2(const float *w, const float *a, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(slide_load_rne256(w + i), _mm256_loadu_ps(a + i), s0);
        s1 = _mm256_fmadd_ps(slide_load_rne256(w + i + 8), _mm256_loadu_ps(a + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(slide_load_rne256(w + i), _mm256_loadu_ps(a + i), s0);
    float acc = slide_hsum256_bf16(_mm256_add_ps(s0, s1));
    for (; i < n; i++) acc += slide_rne_bf16(w[i]) * a[i];
    return acc;
}

/* lo (8 x uint16) -> 8 x uint32 */
SLIDE_TARGET_AVX2
static inline __m256i slide_load_lo8(const uint16_t *lo) {
    return _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)lo));
}

/* the low 16 bits of 8 x uint32 -> 8 x uint16 (values already below 2^16) */
SLIDE_TARGET_AVX2
static inline void slide_store_lo8(uint16_t *lo, __m256i u) {
    __m256i p = _mm256_packus_epi32(u, u);              /* per 128-bit lane: a0-3 a0-3 b0-3 b0-3 */
    p = _mm256_permute4x64_epi64(p, 0x08);              /* qwords 0 and 2: a0-3 b0-3 */
    _mm_storeu_si128((__m128i *)lo, _mm256_castsi256_si128(p));
}

/* no FMA and the scalar operation order: bitwise equal to the reference */
SLIDE_TARGET_AVX2
static void slide_adam_split_avx2(float *w, uint16_t *lo, float *g, float *m, float *v,
                                  int64_t n, float lr, float b1, float c1, float b2, float c2,
                                  float eps) {
    const __m256i high = _mm256_set1_epi32((int)0xFFFF0000u), low = _mm256_set1_epi32(0xFFFF);
    __m256 vb1 = _mm256_set1_ps(b1), vc1 = _mm256_set1_ps(c1), vb2 = _mm256_set1_ps(b2);
    __m256 vc2 = _mm256_set1_ps(c2), vlr = _mm256_set1_ps(lr), veps = _mm256_set1_ps(eps);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i hi = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(w + i)), high);
        __m256 wi = _mm256_castsi256_ps(_mm256_or_si256(hi, slide_load_lo8(lo + i)));
        __m256 gi = _mm256_loadu_ps(g + i);
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(vb1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(vc1, gi));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(v + i)),
                                  _mm256_mul_ps(_mm256_mul_ps(vc2, gi), gi));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        __m256 step = _mm256_div_ps(_mm256_mul_ps(vlr, mi), _mm256_add_ps(_mm256_sqrt_ps(vi), veps));
        __m256i u = _mm256_castps_si256(_mm256_sub_ps(wi, step));
        _mm256_storeu_si256((__m256i *)(w + i), _mm256_and_si256(u, high));
        slide_store_lo8(lo + i, _mm256_and_si256(u, low));
        _mm256_storeu_ps(g + i, _mm256_setzero_ps());
    }
    slide_adam_split_scalar(w + i, lo + i, g + i, m + i, v + i, n - i, lr, b1, c1, b2, c2, eps);
}

/* ------------------------------------------------------------------ AVX-512 */
static inline __mmask16 slide_bf16_tail16(int64_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
}

SLIDE_TARGET_AVX512
static inline __m512i slide_rne_bf16_512(__m512i u) {
    const __m512i high = _mm512_set1_epi32((int)0xFFFF0000u);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7FFF), lsb));
    __m512i absu = _mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF));
    __mmask16 nan = _mm512_cmpgt_epi32_mask(absu, _mm512_set1_epi32(0x7F800000));
    r = _mm512_mask_or_epi32(r, nan, u, _mm512_set1_epi32(0x00400000));
    return _mm512_and_si512(r, high);
}

SLIDE_TARGET_AVX512
static void slide_round_bf16_avx512(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = slide_bf16_tail16(n - i);
        __m512i u = _mm512_maskz_loadu_epi32(k, x + i);
        _mm512_mask_storeu_epi32(x + i, k, slide_rne_bf16_512(u));
    }
}

SLIDE_TARGET_AVX512
static float slide_dot_bf16_avx512(const float *w, const float *a, int64_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 w0 = _mm512_castsi512_ps(slide_rne_bf16_512(_mm512_loadu_si512(w + i)));
        __m512 w1 = _mm512_castsi512_ps(slide_rne_bf16_512(_mm512_loadu_si512(w + i + 16)));
        s0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(a + i), s0);
        s1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(a + i + 16), s1);
    }
    for (; i < n; i += 16) {
        __mmask16 k = slide_bf16_tail16(n - i);
        __m512 wk = _mm512_castsi512_ps(slide_rne_bf16_512(_mm512_maskz_loadu_epi32(k, w + i)));
        s0 = _mm512_fmadd_ps(wk, _mm512_maskz_loadu_ps(k, a + i), s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

SLIDE_TARGET_AVX512
static void slide_adam_split_avx512(float *w, uint16_t *lo, float *g, float *m, float *v,
                                    int64_t n, float lr, float b1, float c1, float b2, float c2,
                                    float eps) {
    const __m512i high = _mm512_set1_epi32((int)0xFFFF0000u);
    __m512 vb1 = _mm512_set1_ps(b1), vc1 = _mm512_set1_ps(c1), vb2 = _mm512_set1_ps(b2);
    __m512 vc2 = _mm512_set1_ps(c2), vlr = _mm512_set1_ps(lr), veps = _mm512_set1_ps(eps);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = slide_bf16_tail16(n - i);
        __m512i hi = _mm512_and_si512(_mm512_maskz_loadu_epi32(k, w + i), high);
        __m512i l = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, lo + i));
        __m512 wi = _mm512_castsi512_ps(_mm512_or_si512(hi, l));
        __m512 gi = _mm512_maskz_loadu_ps(k, g + i);
        __m512 mi = _mm512_add_ps(_mm512_mul_ps(vb1, _mm512_maskz_loadu_ps(k, m + i)),
                                  _mm512_mul_ps(vc1, gi));
        __m512 vi = _mm512_add_ps(_mm512_mul_ps(vb2, _mm512_maskz_loadu_ps(k, v + i)),
                                  _mm512_mul_ps(_mm512_mul_ps(vc2, gi), gi));
        _mm512_mask_storeu_ps(m + i, k, mi);
        _mm512_mask_storeu_ps(v + i, k, vi);
        __m512 step = _mm512_div_ps(_mm512_mul_ps(vlr, mi), _mm512_add_ps(_mm512_sqrt_ps(vi), veps));
        __m512i u = _mm512_castps_si512(_mm512_sub_ps(wi, step));
        _mm512_mask_storeu_epi32(w + i, k, _mm512_and_si512(u, high));
        _mm512_mask_cvtepi32_storeu_epi16(lo + i, k, _mm512_and_si512(u, _mm512_set1_epi32(0xFFFF)));
        _mm512_mask_storeu_ps(g + i, k, _mm512_setzero_ps());
    }
}

/* ------------------------------------------------------------------ AVX512-BF16 */
/* VDPBF16PS: 32 bf16 products per instruction, summed pairwise into 16 fp32 lanes.
 * VCVTNE2PS2BF16 rounds w to nearest-even (it is exact on the bf16 values of a);
 * the masked loads give zeros past the end, which add nothing. */
SLIDE_TARGET_AVX512_BF16
static float slide_dot_bf16_avx512bf16(const float *w, const float *a, int64_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512bh w0 = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(w + i + 16), _mm512_loadu_ps(w + i));
        __m512bh a0 = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(a + i));
        __m512bh w1 = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(w + i + 48), _mm512_loadu_ps(w + i + 32));
        __m512bh a1 = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(a + i + 32));
        s0 = _mm512_dpbf16_ps(s0, w0, a0);
        s1 = _mm512_dpbf16_ps(s1, w1, a1);
    }
    for (; i < n; i += 32) {
        __mmask16 k0 = slide_bf16_tail16(n - i);
        __mmask16 k1 = n - i > 16 ? slide_bf16_tail16(n - i - 16) : (__mmask16)0;
        __m512bh wk = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(k1, w + i + 16),
                                          _mm512_maskz_loadu_ps(k0, w + i));
        __m512bh ak = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(k1, a + i + 16),
                                          _mm512_maskz_loadu_ps(k0, a + i));
        s0 = _mm512_dpbf16_ps(s0, wk, ak);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}
#endif

static slide_round_bf16_fn slide_round_bf16_for_level(int level) {
#if SLIDE_X86
    if (level >= SLIDE_LEVEL_AVX512) return slide_round_bf16_avx512;
    if (level >= SLIDE_LEVEL_AVX2) return slide_round_bf16_avx2;
#endif
    (void)level;
    return slide_round_bf16_scalar;
}

static slide_dot_bf16_fn slide_dot_bf16_for_level(int level) {
#if SLIDE_X86
    if (level >= SLIDE_LEVEL_AVX512_BF16) return slide_dot_bf16_avx512bf16;
    if (level >= SLIDE_LEVEL_AVX512) return slide_dot_bf16_avx512;
    if (level >= SLIDE_LEVEL_AVX2) return slide_dot_bf16_avx2;
#endif
    (void)level;
    return slide_dot_bf16_scalar;
}

/* products of two bf16 values are exact, so the fp32 dot kernels compute this one too */
static slide_dot_bf16_fn slide_dot_hi_for_level(int level) {
#if SLIDE_X86
    if (level >= SLIDE_LEVEL_AVX512_BF16) return slide_dot_bf16_avx512bf16;
#endif
    return slide_dot_f32_for_level(level);
}

static slide_adam_split_fn slide_adam_split_for_level(int level) {
#if SLIDE_X86
    if (level >= SLIDE_LEVEL_AVX512) return slide_adam_split_avx512;
    if (level >= SLIDE_LEVEL_AVX2) return slide_adam_split_avx2;
#endif
    (void)level;
    return slide_adam_split_scalar;
}
#endif

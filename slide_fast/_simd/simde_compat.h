/* Intrinsics the kernels use that SIMDe (0.8) does not provide, for the emulated
 * test build only (SLIDE_SIMDE).  Each is written from its documented semantics. */
#ifndef SLIDE_SIMDE_COMPAT_H
#define SLIDE_SIMDE_COMPAT_H
#include <string.h>

#ifndef _mm512_reduce_add_ps
static inline float slide_compat_reduce_add_ps(simde__m512 v) {
    /* pairwise halving, the order the hardware sequence (and gcc's header) uses */
    simde__m256 h = simde_mm256_add_ps(simde_mm512_castps512_ps256(v),
                                       simde_mm512_extractf32x8_ps(v, 1));
    simde__m128 q = simde_mm_add_ps(simde_mm256_castps256_ps128(h),
                                    simde_mm256_extractf128_ps(h, 1));
    q = simde_mm_add_ps(q, simde_mm_movehl_ps(q, q));
    q = simde_mm_add_ss(q, simde_mm_shuffle_ps(q, q, 1));
    return simde_mm_cvtss_f32(q);
}
#define _mm512_reduce_add_ps(v) slide_compat_reduce_add_ps(v)
#endif

#ifndef __mmask8
#define __mmask8 simde__mmask8
#endif

/* lane-wise helpers through arrays: slow, simple, and masked-off lanes never touch memory */
static inline simde__m128i slide_compat_maskz_loadu_epi8(simde__mmask16 k, const void *p) {
    int8_t out[16];
    for (int i = 0; i < 16; i++) out[i] = ((k >> i) & 1) ? ((const int8_t *)p)[i] : 0;
    return simde_mm_loadu_si128(out);
}
#define _mm_maskz_loadu_epi8(k, p) slide_compat_maskz_loadu_epi8((k), (p))

static inline simde__m512i slide_compat_cvtepi8_epi32(simde__m128i a) {
    int8_t in[16];
    int32_t out[16];
    simde_mm_storeu_si128(in, a);
    for (int i = 0; i < 16; i++) out[i] = in[i];
    return simde_mm512_loadu_si512(out);
}
#define _mm512_cvtepi8_epi32(a) slide_compat_cvtepi8_epi32(a)

static inline simde__m512d slide_compat_cvtps_pd(simde__m256 a) {
    float in[8];
    double out[8];
    simde_mm256_storeu_ps(in, a);
    for (int i = 0; i < 8; i++) out[i] = in[i];
    return simde_mm512_loadu_pd(out);
}
#define _mm512_cvtps_pd(a) slide_compat_cvtps_pd(a)

#define _mm512_mask_cmp_ps_mask(k, a, b, imm) \
    ((simde__mmask16)((k) & simde_mm512_cmp_ps_mask((a), (b), (imm))))

static inline simde__m512 slide_compat_mask_i32gather_ps(simde__m512 src, simde__mmask16 k,
                                                         simde__m512i idx, const void *base,
                                                         int scale) {
    float out[16];
    int32_t ix[16];
    simde_mm512_storeu_ps(out, src);
    simde_mm512_storeu_si512(ix, idx);
    for (int i = 0; i < 16; i++)
        if ((k >> i) & 1)
            out[i] = *(const float *)((const char *)base + (int64_t)ix[i] * scale);
    return simde_mm512_loadu_ps(out);
}
#define _mm512_mask_i32gather_ps(src, k, idx, base, scale) \
    slide_compat_mask_i32gather_ps((src), (k), (idx), (base), (scale))

/* SIMDe's masked AVX-512 loads read, and its masked stores WRITE, all 64 bytes (the
 * masked-off lanes as zeros): past the end of an array that is an out-of-bounds write.
 * The hardware touches only the selected lanes; these replacements do the same. */
#define SLIDE_COMPAT_MASKED(T, N, VT, LOAD, STORE, name)                                   \
    static inline VT slide_compat_maskz_loadu_##name(unsigned k, const void *p) {         \
        T buf[N] = {0};                                                                    \
        for (int i = 0; i < N; i++) if ((k >> i) & 1) buf[i] = ((const T *)p)[i];         \
        return LOAD(buf);                                                                  \
    }                                                                                      \
    static inline void slide_compat_mask_storeu_##name(void *p, unsigned k, VT a) {       \
        T buf[N];                                                                          \
        STORE(buf, a);                                                                     \
        for (int i = 0; i < N; i++) if ((k >> i) & 1) ((T *)p)[i] = buf[i];               \
    }
SLIDE_COMPAT_MASKED(float, 16, simde__m512, simde_mm512_loadu_ps, simde_mm512_storeu_ps, ps)
SLIDE_COMPAT_MASKED(double, 8, simde__m512d, simde_mm512_loadu_pd, simde_mm512_storeu_pd, pd)
SLIDE_COMPAT_MASKED(int32_t, 16, simde__m512i, simde_mm512_loadu_si512, simde_mm512_storeu_si512,
                    epi32)
#undef _mm512_maskz_loadu_ps
#undef _mm512_maskz_loadu_pd
#undef _mm512_maskz_loadu_epi32
#undef _mm512_mask_storeu_ps
#undef _mm512_mask_storeu_pd
#undef _mm512_mask_storeu_epi32
#define _mm512_maskz_loadu_ps(k, p) slide_compat_maskz_loadu_ps((k), (p))
#define _mm512_maskz_loadu_pd(k, p) slide_compat_maskz_loadu_pd((k), (p))
#define _mm512_maskz_loadu_epi32(k, p) slide_compat_maskz_loadu_epi32((k), (p))
#define _mm512_mask_storeu_ps(p, k, a) slide_compat_mask_storeu_ps((p), (k), (a))
#define _mm512_mask_storeu_pd(p, k, a) slide_compat_mask_storeu_pd((p), (k), (a))
#define _mm512_mask_storeu_epi32(p, k, a) slide_compat_mask_storeu_epi32((p), (k), (a))

/* VCVTNE2PS2BF16 (SIMDe 0.8 lacks it): lanes 0-15 of the result from b, 16-31 from a;
 * round to nearest even, denormal inputs as signed zeros (the instruction's DAZ), NaN
 * quieted, following the instruction's documented pseudo-code */
static inline uint16_t slide_compat_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7F800000u) == 0) u &= 0x80000000u;
    if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu))
        return (uint16_t)((u >> 16) | 0x0040u);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

static inline simde__m512bh slide_compat_cvtne2ps_pbh(simde__m512 a, simde__m512 b) {
    float fa[16], fb[16];
    simde__m512bh_private r;
    simde_mm512_storeu_ps(fa, a);
    simde_mm512_storeu_ps(fb, b);
    for (int i = 0; i < 16; i++) {
        r.u16[i] = slide_compat_f32_to_bf16(fb[i]);
        r.u16[16 + i] = slide_compat_f32_to_bf16(fa[i]);
    }
    return simde__m512bh_from_private(r);
}
#define _mm512_cvtne2ps_pbh(a, b) slide_compat_cvtne2ps_pbh((a), (b))

/* VPMOVDW to memory, masked: the low 16 bits of each selected 32-bit lane */
static inline void slide_compat_mask_cvtepi32_storeu_epi16(void *p, simde__mmask16 k,
                                                           simde__m512i a) {
    int32_t in[16];
    simde_mm512_storeu_si512(in, a);
    for (int i = 0; i < 16; i++)
        if ((k >> i) & 1) ((uint16_t *)p)[i] = (uint16_t)(in[i] & 0xFFFF);
}
#define _mm512_mask_cvtepi32_storeu_epi16(p, k, a) \
    slide_compat_mask_cvtepi32_storeu_epi16((p), (k), (a))

#endif

/* The batch-shared block's forward GEMM on bf16 operands (bf16=3), one variant per level:
 *
 *   slide_gemm_nt_bf16(M, N, K, Af, Ah, lda, B, ldb, idx, C, ldc)
 *       C[i, j] = sum_p A[i, p] * bf16(B[idx[j], p])        C [M, N], fp32 accumulation
 *   slide_gemm_nn_bf16(M, N, K, Af, Ah, lda, B, ldb, idx, C, ldc)
 *       C[i, j] = sum_p A[i, p] * bf16(B[idx[p], j])        (the block's input delta)
 *
 * A holds bf16 values, given in both forms its kernels read: Af (float32 words with a
 * zero low half) and Ah (the bf16 bits), each [M][lda] with lda even and a zero in
 * column K when K is odd, so that every pair (p, p+1) of a row can be read as one
 * 32-bit word.  B is a uint16 matrix of bf16 bits (the shadow of the fp32 weights),
 * its row j of the product being B[idx[j]].
 *
 * Below AVX512-BF16 (scalar, AVX2, AVX-512) the bf16 bits are widened to float32 when
 * B is packed and the fp32 register tiles of gemm.h run over the panel: the product of
 * two bf16 values is exact in float32, so each C element is one fp32 addition chain
 * over p in order, and these levels agree with each other (and with the reference's
 * sequential sum) bit for bit.  The AVX512-BF16 kernel packs B as pairs of bf16 values
 * and multiplies with VDPBF16PS, which adds two products per lane and step: the same
 * rounded inputs, another summation order (and subnormal inputs read as zero).
 *
 *   slide_rne_bits(x, out, n)     out[i] = the bf16 bits of RNE_bf16(x[i])
 *
 * refreshes the shadow's rows from the fp32 master weights with the integer rounding of
 * bf16.h at every level (exactly the reference's, subnormals and NaNs included).
 */
#ifndef SLIDE_GEMM_BF16_H
#define SLIDE_GEMM_BF16_H
#include <stdint.h>
#include <string.h>
#include "dispatch.h"
#include "gemm.h"
#include "bf16.h"

typedef void (*slide_gemm_bf16_fn)(int64_t M, int64_t N, int64_t K, const float *Af,
                                      const uint16_t *Ah, int64_t lda, const uint16_t *B,
                                      int64_t ldb, const int32_t *idx, float *C, int64_t ldc);

static inline float slide_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* ------------------------------------------------------------------ scalar */
typedef void (*slide_rne_bits_fn)(const float *x, uint16_t *out, int64_t n);

static void slide_rne_bits_scalar(const float *x, uint16_t *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = (uint16_t)(slide_f32_bits(slide_rne_bf16(x[i])) >> 16);
}

/* element (p, j) of the B operand: B[idx[j], p] (trans, nt) or B[idx[p], j] (nn) */
static inline uint16_t slide_bf16_b_at(const uint16_t *B, int64_t ldb, const int32_t *idx,
                                       int trans, int64_t p, int64_t j) {
    return trans ? B[(int64_t)idx[j] * ldb + p] : B[(int64_t)idx[p] * ldb + j];
}

/* one sequential fp32 sum per element of C, p in order */
static void slide_gemm_any_bf16_scalar(int64_t M, int64_t N, int64_t K, const float *Af,
                                       int64_t lda, const uint16_t *B, int64_t ldb,
                                       const int32_t *idx, int trans, float *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            float acc = 0.0f;
            for (int64_t p = 0; p < K; p++) {
                uint16_t b = slide_bf16_b_at(B, ldb, idx, trans, p, j);
                acc += Af[i * lda + p] * slide_bf16_to_f32(b);
            }
            C[i * ldc + j] = acc;
        }
}

static void slide_gemm_nt_bf16_scalar(int64_t M, int64_t N, int64_t K, const float *Af,
                                      const uint16_t *Ah, int64_t lda, const uint16_t *B,
                                      int64_t ldb, const int32_t *idx, float *C, int64_t ldc) {
    (void)Ah;
    slide_gemm_any_bf16_scalar(M, N, K, Af, lda, B, ldb, idx, 1, C, ldc);
}

static void slide_gemm_nn_bf16_scalar(int64_t M, int64_t N, int64_t K, const float *Af,
                                      const uint16_t *Ah, int64_t lda, const uint16_t *B,
                                      int64_t ldb, const int32_t *idx, float *C, int64_t ldc) {
    (void)Ah;
    slide_gemm_any_bf16_scalar(M, N, K, Af, lda, B, ldb, idx, 0, C, ldc);
}

/* B's (p0..p0+kb) x (j0..j0+cols) block widened into panel[kb][width], the columns past
 * cols zero */
static inline void slide_pack_bf16(const uint16_t *B, int64_t ldb, const int32_t *idx,
                                   int trans, int64_t p0, int64_t kb, int64_t j0, int64_t cols,
                                   int width, float *panel) {
    if (trans) {
        for (int64_t c = 0; c < cols; c++) {
            const uint16_t *b = B + (int64_t)idx[j0 + c] * ldb + p0;
            for (int64_t p = 0; p < kb; p++) panel[p * width + c] = slide_bf16_to_f32(b[p]);
        }
    } else {
        for (int64_t p = 0; p < kb; p++) {
            const uint16_t *b = B + (int64_t)idx[p0 + p] * ldb + j0;
            for (int64_t c = 0; c < cols; c++) panel[p * width + c] = slide_bf16_to_f32(b[c]);
        }
    }
    for (int64_t c = cols; c < width; c++)
        for (int64_t p = 0; p < kb; p++) panel[p * width + c] = 0.0f;
}

#if SLIDE_X86
/* ------------------------------------------------------------------ AVX2, AVX-512 */
SLIDE_TARGET_AVX2
static void slide_gemm_any_bf16_avx2(int64_t M, int64_t N, int64_t K, const float *Af,
                                       int64_t lda, const uint16_t *B, int64_t ldb,
                                       const int32_t *idx, int trans, float *C, int64_t ldc) {
    float panel[SLIDE_KC * 16] __attribute__((aligned(64)));
    if (K == 0) {
        slide_gemm_any_bf16_scalar(M, N, K, Af, lda, B, ldb, idx, trans, C, ldc);
        return;
    }
    for (int64_t j = 0; j < N; j += 16) {
        int64_t cols = N - j < 16 ? N - j : 16;
        for (int64_t p0 = 0; p0 < K; p0 += SLIDE_KC) {
            int64_t kb = K - p0 < SLIDE_KC ? K - p0 : SLIDE_KC;
            slide_pack_bf16(B, ldb, idx, trans, p0, kb, j, cols, 16, panel);
            for (int64_t i = 0; i < M; i += 6)
                slide_tile_6x16(M - i < 6 ? M - i : 6, cols, kb, Af + i * lda + p0, lda, 1,
                                panel, C + i * ldc + j, ldc, p0 > 0);
        }
    }
}

SLIDE_TARGET_AVX2
static void slide_gemm_nt_bf16_avx2(int64_t M, int64_t N, int64_t K, const float *Af,
                                    const uint16_t *Ah, int64_t lda, const uint16_t *B,
                                    int64_t ldb, const int32_t *idx, float *C, int64_t ldc) {
    (void)Ah;
    slide_gemm_any_bf16_avx2(M, N, K, Af, lda, B, ldb, idx, 1, C, ldc);
}

SLIDE_TARGET_AVX2
static void slide_gemm_nn_bf16_avx2(int64_t M, int64_t N, int64_t K, const float *Af,
                                    const uint16_t *Ah, int64_t lda, const uint16_t *B,
                                    int64_t ldb, const int32_t *idx, float *C, int64_t ldc) {
    (void)Ah;
    slide_gemm_any_bf16_avx2(M, N, K, Af, lda, B, ldb, idx, 0, C, ldc);
}

SLIDE_TARGET_AVX512
static void slide_gemm_any_bf16_avx512(int64_t M, int64_t N, int64_t K, const float *Af,
                                         int64_t lda, const uint16_t *B, int64_t ldb,
                                         const int32_t *idx, int trans, float *C, int64_t ldc) {
    float panel[SLIDE_KC * 32] __attribute__((aligned(64)));
    if (K == 0) {
        slide_gemm_any_bf16_scalar(M, N, K, Af, lda, B, ldb, idx, trans, C, ldc);
        return;
    }
    for (int64_t j = 0; j < N; j += 32) {
        int64_t cols = N - j < 32 ? N - j : 32;
        for (int64_t p0 = 0; p0 < K; p0 += SLIDE_KC) {
            int64_t kb = K - p0 < SLIDE_KC ? K - p0 : SLIDE_KC;
            slide_pack_bf16(B, ldb, idx, trans, p0, kb, j, cols, 32, panel);
            for (int64_t i = 0; i < M; i += 8)
                slide_tile_8x32(M - i < 8 ? M - i : 8, cols, kb, Af + i * lda + p0, lda, 1,
                                panel, C + i * ldc + j, ldc, p0 > 0);
        }
    }
}

SLIDE_TARGET_AVX512
static void slide_gemm_nt_bf16_avx512(int64_t M, int64_t N, int64_t K, const float *Af,
                                    const uint16_t *Ah, int64_t lda, const uint16_t *B,
                                    int64_t ldb, const int32_t *idx, float *C, int64_t ldc) {
    (void)Ah;
    slide_gemm_any_bf16_avx512(M, N, K, Af, lda, B, ldb, idx, 1, C, ldc);
}

SLIDE_TARGET_AVX512
static void slide_gemm_nn_bf16_avx512(int64_t M, int64_t N, int64_t K, const float *Af,
                                    const uint16_t *Ah, int64_t lda, const uint16_t *B,
                                    int64_t ldb, const int32_t *idx, float *C, int64_t ldc) {
    (void)Ah;
    slide_gemm_any_bf16_avx512(M, N, K, Af, lda, B, ldb, idx, 0, C, ldc);
}

/* ------------------------------------------------------------------ AVX512-BF16 */
#if SLIDE_EMULATED
static inline __m512bh slide_as_bh(__m512i v) {
    simde__m512bh_private r;
    memcpy(&r, &v, sizeof r);
    return simde__m512bh_from_private(r);
}
#else
#define slide_as_bh(v) ((__m512bh)(v))
#endif

/* pairs of values per packed panel */
#define SLIDE_KC2 256

static inline uint32_t slide_pair_at(const uint16_t *a) {
    uint32_t u;
    memcpy(&u, a, 4);
    return u;
}

/* pairs q0..q0+kq of p (elements 2q and 2q+1; one past K is 0) of B's columns
 * j0..j0+cols as 32-bit words into panel[kq][32], the columns past cols zero */
static inline void slide_pack_bf16_pairs(const uint16_t *B, int64_t ldb, const int32_t *idx,
                                         int trans, int64_t K, int64_t q0, int64_t kq,
                                         int64_t j0, int64_t cols, uint32_t *panel) {
    /* the pairs wholly inside K; an odd K leaves a half pair at the end */
    int64_t whole = 2 * (q0 + kq) <= K ? kq : kq - 1;
    if (trans) {    /* a row's pairs are adjacent in memory: a transposing 32-bit copy */
        for (int64_t c = 0; c < cols; c++) {
            const uint16_t *b = B + (int64_t)idx[j0 + c] * ldb + 2 * q0;
            for (int64_t q = 0; q < whole; q++) panel[q * 32 + c] = slide_pair_at(b + 2 * q);
            if (whole < kq) panel[whole * 32 + c] = b[2 * whole];
        }
    } else {        /* two rows interleaved */
        for (int64_t q = 0; q < kq; q++) {
            int64_t p = 2 * (q0 + q);
            const uint16_t *b0 = B + (int64_t)idx[p] * ldb + j0;
            uint32_t *dst = panel + q * 32;
            if (q < whole) {
                const uint16_t *b1 = B + (int64_t)idx[p + 1] * ldb + j0;
                for (int64_t c = 0; c < cols; c++)
                    dst[c] = (uint32_t)b0[c] | ((uint32_t)b1[c] << 16);
            } else {
                for (int64_t c = 0; c < cols; c++) dst[c] = b0[c];
            }
        }
    }
    for (int64_t q = 0; q < kq; q++)
        for (int64_t c = cols; c < 32; c++) panel[q * 32 + c] = 0u;
}

#define SLIDE_BROW8(r) __m512 c##r##0, c##r##1;
#define SLIDE_BLOAD8(r) c##r##0 = _mm512_loadu_ps(C + r * ldc); \
                        c##r##1 = _mm512_loadu_ps(C + r * ldc + 16);
#define SLIDE_BZERO8(r) c##r##0 = _mm512_setzero_ps(); c##r##1 = _mm512_setzero_ps();
#define SLIDE_BDOT8(r) { __m512bh a = slide_as_bh(_mm512_set1_epi32( \
                             (int)slide_pair_at(Ah + r * lda + 2 * q))); \
                         c##r##0 = _mm512_dpbf16_ps(c##r##0, a, b0); \
                         c##r##1 = _mm512_dpbf16_ps(c##r##1, a, b1); }
#define SLIDE_BSTORE8(r) _mm512_storeu_ps(C + r * ldc, c##r##0); \
                         _mm512_storeu_ps(C + r * ldc + 16, c##r##1);
#define SLIDE_BALL8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

/* 8 x 32 of C over kq pairs: sixteen accumulators, two panel loads and eight broadcast
 * pairs feed sixteen VDPBF16PS (64 products each) per pair of p */
SLIDE_TARGET_AVX512_BF16
static inline void slide_tile_bf16_8x32_full(int64_t kq, const uint16_t *Ah, int64_t lda,
                                             const uint32_t *panel, float *C, int64_t ldc,
                                             int beta) {
    SLIDE_BALL8(SLIDE_BROW8)
    if (beta) {
        SLIDE_BALL8(SLIDE_BLOAD8)
    } else {
        SLIDE_BALL8(SLIDE_BZERO8)
    }
    for (int64_t q = 0; q < kq; q++) {
        __m512bh b0 = slide_as_bh(_mm512_loadu_si512(panel + q * 32));
        __m512bh b1 = slide_as_bh(_mm512_loadu_si512(panel + q * 32 + 16));
        SLIDE_BALL8(SLIDE_BDOT8)
    }
    SLIDE_BALL8(SLIDE_BSTORE8)
}

/* edge tiles: fewer than 8 rows or 32 columns, masked stores (the panel is zero-padded) */
SLIDE_TARGET_AVX512_BF16
static inline void slide_tile_bf16_8x32(int64_t rows, int64_t cols, int64_t kq,
                                        const uint16_t *Ah, int64_t lda,
                                        const uint32_t *panel, float *C, int64_t ldc,
                                        int beta) {
    if (rows == 8 && cols == 32) {
        slide_tile_bf16_8x32_full(kq, Ah, lda, panel, C, ldc, beta);
        return;
    }
    __mmask16 m0 = slide_mask16(cols), m1 = slide_mask16(cols - 16);
    for (int64_t r = 0; r < rows; r++) {
        __m512 c0 = beta ? _mm512_maskz_loadu_ps(m0, C + r * ldc) : _mm512_setzero_ps();
        __m512 c1 = beta ? _mm512_maskz_loadu_ps(m1, C + r * ldc + 16) : _mm512_setzero_ps();
        for (int64_t q = 0; q < kq; q++) {
            __m512bh a = slide_as_bh(_mm512_set1_epi32((int)slide_pair_at(Ah + r * lda + 2 * q)));
            c0 = _mm512_dpbf16_ps(c0, a, slide_as_bh(_mm512_loadu_si512(panel + q * 32)));
            c1 = _mm512_dpbf16_ps(c1, a, slide_as_bh(_mm512_loadu_si512(panel + q * 32 + 16)));
        }
        _mm512_mask_storeu_ps(C + r * ldc, m0, c0);
        _mm512_mask_storeu_ps(C + r * ldc + 16, m1, c1);
    }
}

SLIDE_TARGET_AVX512_BF16
static void slide_gemm_any_bf16_avx512bf16(int64_t M, int64_t N, int64_t K,
                                           const uint16_t *Ah, int64_t lda, const uint16_t *B,
                                           int64_t ldb, const int32_t *idx, int trans,
                                           float *C, int64_t ldc) {
    uint32_t panel[SLIDE_KC2 * 32] __attribute__((aligned(64)));
    int64_t n_pairs = (K + 1) / 2;
    if (K == 0) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = 0.0f;
        return;
    }
    for (int64_t j = 0; j < N; j += 32) {
        int64_t cols = N - j < 32 ? N - j : 32;
        for (int64_t q0 = 0; q0 < n_pairs; q0 += SLIDE_KC2) {
            int64_t kq = n_pairs - q0 < SLIDE_KC2 ? n_pairs - q0 : SLIDE_KC2;
            slide_pack_bf16_pairs(B, ldb, idx, trans, K, q0, kq, j, cols, panel);
            for (int64_t i = 0; i < M; i += 8)
                slide_tile_bf16_8x32(M - i < 8 ? M - i : 8, cols, kq, Ah + i * lda + 2 * q0,
                                     lda, panel, C + i * ldc + j, ldc, q0 > 0);
        }
    }
}

SLIDE_TARGET_AVX512_BF16
static void slide_gemm_nt_bf16_avx512bf16(int64_t M, int64_t N, int64_t K, const float *Af,
                                          const uint16_t *Ah, int64_t lda, const uint16_t *B,
                                          int64_t ldb, const int32_t *idx, float *C,
                                          int64_t ldc) {
    (void)Af;
    slide_gemm_any_bf16_avx512bf16(M, N, K, Ah, lda, B, ldb, idx, 1, C, ldc);
}

SLIDE_TARGET_AVX512_BF16
static void slide_gemm_nn_bf16_avx512bf16(int64_t M, int64_t N, int64_t K, const float *Af,
                                          const uint16_t *Ah, int64_t lda, const uint16_t *B,
                                          int64_t ldb, const int32_t *idx, float *C,
                                          int64_t ldc) {
    (void)Af;
    slide_gemm_any_bf16_avx512bf16(M, N, K, Ah, lda, B, ldb, idx, 0, C, ldc);
}
#endif

#if SLIDE_X86
SLIDE_TARGET_AVX2
static void slide_rne_bits_avx2(const float *x, uint16_t *out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i u = slide_rne_bf16_256(_mm256_loadu_si256((const __m256i *)(x + i)));
        slide_store_lo8(out + i, _mm256_srli_epi32(u, 16));
    }
    slide_rne_bits_scalar(x + i, out + i, n - i);
}

SLIDE_TARGET_AVX512
static void slide_rne_bits_avx512(const float *x, uint16_t *out, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = slide_bf16_tail16(n - i);
        __m512i u = slide_rne_bf16_512(_mm512_maskz_loadu_epi32(k, x + i));
        _mm512_mask_cvtepi32_storeu_epi16(out + i, k, _mm512_srli_epi32(u, 16));
    }
}
#endif

static slide_rne_bits_fn slide_rne_bits_for_level(int level) {
#if SLIDE_X86
    if (level >= SLIDE_LEVEL_AVX512) return slide_rne_bits_avx512;
    if (level >= SLIDE_LEVEL_AVX2) return slide_rne_bits_avx2;
#endif
    (void)level;
    return slide_rne_bits_scalar;
}

#if SLIDE_X86
#define SLIDE_GEMM_BF16_PICK(name)                                                     \
    if (level >= SLIDE_LEVEL_AVX512_BF16) return slide_gemm_##name##_bf16_avx512bf16;   \
    if (level >= SLIDE_LEVEL_AVX512) return slide_gemm_##name##_bf16_avx512;            \
    if (level >= SLIDE_LEVEL_AVX2) return slide_gemm_##name##_bf16_avx2;                \
    return slide_gemm_##name##_bf16_scalar;
#else
#define SLIDE_GEMM_BF16_PICK(name) (void)level; return slide_gemm_##name##_bf16_scalar;
#endif

static slide_gemm_bf16_fn slide_gemm_nt_bf16_for_level(int level) { SLIDE_GEMM_BF16_PICK(nt) }
static slide_gemm_bf16_fn slide_gemm_nn_bf16_for_level(int level) { SLIDE_GEMM_BF16_PICK(nn) }

/* columns of C per parallel task: the register tile's width at that level */
static inline int64_t slide_gemm_nt_bf16_width(int level) {
    return level >= SLIDE_LEVEL_AVX512 ? 32 : 16;
}
#endif

/* Small float32 GEMMs of the dense layers and candidate blocks, row-major, one thread's
 * share each:
 *
 *   slide_gemm_nn(M, N, K, A, lda, B, ldb, C, ldc, beta)   C = A B + beta C     (A [M,K], B [K,N])
 *   slide_gemm_tn(M, N, K, A, lda, B, ldb, C, ldc, beta)   C = A^T B + beta C   (A [K,M], B [K,N])
 *   slide_gemm_nt(M, N, K, A, lda, B, ldb, C, ldc, beta)   C = A B^T + beta C   (A [M,K], B [N,K])
 *
 * and the same products with the rows of B picked by an index (a candidate block read
 * in place from the full weight matrix, no gathered copy):
 *
 *   slide_gemm_nn_idx(..., B, ldb, idx, ...)   C = A B[idx]      (row p of B is B[idx[p]])
 *   slide_gemm_nt_idx(..., B, ldb, idx, ...)   C = A B[idx]^T    (row j of B is B[idx[j]])
 *
 * beta is 0 or 1.  The callers split C by columns among OpenMP threads, so each call
 * owns its block of C.  One thread pool (OpenMP) does all the work: calling a BLAS
 * with its own threads from here would put two busy-waiting pools on the same cores.
 *
 * Every SIMD product packs B, 256 values of p at a time, into a contiguous panel of
 * 16 (AVX2) or 32 (AVX-512) columns on the stack -- a transposing copy for nt -- and
 * runs a register tile over it: 6 x 16 of C in twelve ymm accumulators (AVX2), 8 x 32
 * in sixteen zmm ones (AVX-512).  Each C element is one FMA chain over p in order
 * (stored and reloaded between the 256-blocks), so the AVX2 and AVX-512 kernels agree
 * bit for bit.  Tails use masked loads and stores: no size must be a multiple of 8
 * or 16.  Nothing is allocated.
 */
#ifndef SLIDE_GEMM_H
#define SLIDE_GEMM_H
#include <stdint.h>
#include "dispatch.h"

typedef void (*slide_gemm_fn)(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                              const float *B, int64_t ldb, float *C, int64_t ldc, int beta);
typedef void (*slide_gemm_idx_fn)(int64_t M, int64_t N, int64_t K, const float *A,
                                  int64_t lda, const float *B, int64_t ldb,
                                  const int32_t *idx, float *C, int64_t ldc, int beta);

/* values of p per packed panel */
#define SLIDE_KC 256

/* Element (p, j) of the B operand.  trans = 0: row p of B (nn, tn); trans = 1: row j
 * (nt).  idx, when given, maps that row number to a row of the stored matrix. */
static inline const float *slide_b_row(const float *B, int64_t ldb, const int32_t *idx,
                                       int64_t r) {
    return B + (idx ? (int64_t)idx[r] : r) * ldb;
}

/* ------------------------------------------------------------------ scalar */
static void slide_gemm_any_scalar(int64_t M, int64_t N, int64_t K, const float *A, int64_t ars,
                                  int64_t aps, const float *B, int64_t ldb, const int32_t *idx,
                                  int trans, float *C, int64_t ldc, int beta) {
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (!beta) for (int64_t j = 0; j < N; j++) c[j] = 0.0f;
        if (trans) {
            for (int64_t j = 0; j < N; j++) {
                const float *b = slide_b_row(B, ldb, idx, j);
                float acc = 0.0f;
                for (int64_t p = 0; p < K; p++) acc += A[i * ars + p * aps] * b[p];
                c[j] += acc;
            }
        } else {
            for (int64_t p = 0; p < K; p++) {
                float a = A[i * ars + p * aps];
                const float *b = slide_b_row(B, ldb, idx, p);
                for (int64_t j = 0; j < N; j++) c[j] += a * b[j];
            }
        }
    }
}

static void slide_gemm_nn_scalar(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                 const float *B, int64_t ldb, float *C, int64_t ldc, int beta) {
    slide_gemm_any_scalar(M, N, K, A, lda, 1, B, ldb, 0, 0, C, ldc, beta);
}

static void slide_gemm_tn_scalar(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                 const float *B, int64_t ldb, float *C, int64_t ldc, int beta) {
    slide_gemm_any_scalar(M, N, K, A, 1, lda, B, ldb, 0, 0, C, ldc, beta);
}

static void slide_gemm_nt_scalar(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                 const float *B, int64_t ldb, float *C, int64_t ldc, int beta) {
    slide_gemm_any_scalar(M, N, K, A, lda, 1, B, ldb, 0, 1, C, ldc, beta);
}

static void slide_gemm_nn_idx_scalar(int64_t M, int64_t N, int64_t K, const float *A,
                                     int64_t lda, const float *B, int64_t ldb,
                                     const int32_t *idx, float *C, int64_t ldc, int beta) {
    slide_gemm_any_scalar(M, N, K, A, lda, 1, B, ldb, idx, 0, C, ldc, beta);
}

static void slide_gemm_nt_idx_scalar(int64_t M, int64_t N, int64_t K, const float *A,
                                     int64_t lda, const float *B, int64_t ldb,
                                     const int32_t *idx, float *C, int64_t ldc, int beta) {
    slide_gemm_any_scalar(M, N, K, A, lda, 1, B, ldb, idx, 1, C, ldc, beta);
}

/* Copy B's (p0..p0+kb) x (j0..j0+cols) block into panel[kb][width], zero-padding the
 * columns past cols.  Rows of a wide B lie far apart (40 KB for 10k columns), and nt
 * needs a transpose: the micro-kernel walks the contiguous panel instead, M/6 times. */
static inline void slide_pack_b(const float *B, int64_t ldb, const int32_t *idx, int trans,
                                int64_t p0, int64_t kb, int64_t j0, int64_t cols, int width,
                                float *panel) {
    if (!trans) {
        for (int64_t p = 0; p < kb; p++) {
            const float *b = slide_b_row(B, ldb, idx, p0 + p) + j0;
            float *dst = panel + p * width;
            int64_t c = 0;
            for (; c < cols; c++) dst[c] = b[c];
            for (; c < width; c++) dst[c] = 0.0f;
        }
        return;
    }
    for (int64_t c = 0; c < cols; c++) {
        const float *b = slide_b_row(B, ldb, idx, j0 + c) + p0;
        for (int64_t p = 0; p < kb; p++) panel[p * width + c] = b[p];
    }
    for (int64_t c = cols; c < width; c++)
        for (int64_t p = 0; p < kb; p++) panel[p * width + c] = 0.0f;
}

#if SLIDE_X86
/* lanes [0, n) of an 8-wide vector, n in 0..8 */
SLIDE_TARGET_AVX2
static inline __m256i slide_mask8(int64_t n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n > 8 ? 8 : n < 0 ? 0 : n)), idx);
}

/* The full 6 x 16 tile over a [K][16] panel, with its twelve accumulators as named
 * locals so they stay in registers (an indexed array of vectors may live on the
 * stack).  Two panel loads and six broadcasts feed twelve FMAs per p. */
#define SLIDE_R6(r) __m256 c##r##0, c##r##1;
#define SLIDE_L6(r) c##r##0 = _mm256_loadu_ps(C + r * ldc); \
                    c##r##1 = _mm256_loadu_ps(C + r * ldc + 8);
#define SLIDE_Z6(r) c##r##0 = _mm256_setzero_ps(); c##r##1 = _mm256_setzero_ps();
#define SLIDE_F6(r) { __m256 a = _mm256_broadcast_ss(A + r * ars + p * aps); \
                      c##r##0 = _mm256_fmadd_ps(a, b0, c##r##0); \
                      c##r##1 = _mm256_fmadd_ps(a, b1, c##r##1); }
#define SLIDE_S6(r) _mm256_storeu_ps(C + r * ldc, c##r##0); \
                    _mm256_storeu_ps(C + r * ldc + 8, c##r##1);
#define SLIDE_ALL6(X) X(0) X(1) X(2) X(3) X(4) X(5)

SLIDE_TARGET_AVX2
static inline void slide_tile_6x16_full(int64_t K, const float *A, int64_t ars, int64_t aps,
                                        const float *panel, float *C, int64_t ldc, int beta) {
    SLIDE_ALL6(SLIDE_R6)
    if (beta) {
        SLIDE_ALL6(SLIDE_L6)
    } else {
        SLIDE_ALL6(SLIDE_Z6)
    }
    for (int64_t p = 0; p < K; p++) {
        __m256 b0 = _mm256_loadu_ps(panel + p * 16), b1 = _mm256_loadu_ps(panel + p * 16 + 8);
        SLIDE_ALL6(SLIDE_F6)
    }
    SLIDE_ALL6(SLIDE_S6)
}

/* edge tiles: fewer than 6 rows or 16 columns, one row at a time, masked stores */
SLIDE_TARGET_AVX2
static inline void slide_tile_6x16(int64_t rows, int64_t cols, int64_t K, const float *A,
                                   int64_t ars, int64_t aps, const float *panel, float *C,
                                   int64_t ldc, int beta) {
    if (rows == 6 && cols == 16) {
        slide_tile_6x16_full(K, A, ars, aps, panel, C, ldc, beta);
        return;
    }
    __m256i m0 = slide_mask8(cols), m1 = slide_mask8(cols - 8);
    for (int64_t r = 0; r < rows; r++) {
        __m256 c0 = beta ? _mm256_maskload_ps(C + r * ldc, m0) : _mm256_setzero_ps();
        __m256 c1 = beta ? _mm256_maskload_ps(C + r * ldc + 8, m1) : _mm256_setzero_ps();
        for (int64_t p = 0; p < K; p++) {     /* the panel is zero-padded to 16 columns */
            __m256 a = _mm256_broadcast_ss(A + r * ars + p * aps);
            c0 = _mm256_fmadd_ps(a, _mm256_loadu_ps(panel + p * 16), c0);
            c1 = _mm256_fmadd_ps(a, _mm256_loadu_ps(panel + p * 16 + 8), c1);
        }
        _mm256_maskstore_ps(C + r * ldc, m0, c0);
        _mm256_maskstore_ps(C + r * ldc + 8, m1, c1);
    }
}

/* every product: A element (i, p) at A[i * ars + p * aps]; B element per slide_pack_b */
SLIDE_TARGET_AVX2
static void slide_gemm_any_avx2(int64_t M, int64_t N, int64_t K, const float *A, int64_t ars,
                                int64_t aps, const float *B, int64_t ldb, const int32_t *idx,
                                int trans, float *C, int64_t ldc, int beta) {
    float panel[SLIDE_KC * 16] __attribute__((aligned(64)));
    if (K == 0 && !beta) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = 0.0f;
        return;
    }
    for (int64_t j = 0; j < N; j += 16) {
        int64_t cols = N - j < 16 ? N - j : 16;
        for (int64_t p0 = 0; p0 < K; p0 += SLIDE_KC) {
            int64_t kb = K - p0 < SLIDE_KC ? K - p0 : SLIDE_KC;
            slide_pack_b(B, ldb, idx, trans, p0, kb, j, cols, 16, panel);
            for (int64_t i = 0; i < M; i += 6)
                slide_tile_6x16(M - i < 6 ? M - i : 6, cols, kb, A + i * ars + p0 * aps, ars,
                                aps, panel, C + i * ldc + j, ldc, beta || p0 > 0);
        }
    }
}

SLIDE_TARGET_AVX2
static void slide_gemm_nn_avx2(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                               const float *B, int64_t ldb, float *C, int64_t ldc, int beta) {
    slide_gemm_any_avx2(M, N, K, A, lda, 1, B, ldb, 0, 0, C, ldc, beta);
}

SLIDE_TARGET_AVX2
static void slide_gemm_tn_avx2(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                               const float *B, int64_t ldb, float *C, int64_t ldc, int beta) {
    slide_gemm_any_avx2(M, N, K, A, 1, lda, B, ldb, 0, 0, C, ldc, beta);
}

SLIDE_TARGET_AVX2
static void slide_gemm_nt_avx2(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                               const float *B, int64_t ldb, float *C, int64_t ldc, int beta) {
    slide_gemm_any_avx2(M, N, K, A, lda, 1, B, ldb, 0, 1, C, ldc, beta);
}

SLIDE_TARGET_AVX2
static void slide_gemm_nn_idx_avx2(int64_t M, int64_t N, int64_t K, const float *A,
                                   int64_t lda, const float *B, int64_t ldb,
                                   const int32_t *idx, float *C, int64_t ldc, int beta) {
    slide_gemm_any_avx2(M, N, K, A, lda, 1, B, ldb, idx, 0, C, ldc, beta);
}

SLIDE_TARGET_AVX2
static void slide_gemm_nt_idx_avx2(int64_t M, int64_t N, int64_t K, const float *A,
                                   int64_t lda, const float *B, int64_t ldb,
                                   const int32_t *idx, float *C, int64_t ldc, int beta) {
    slide_gemm_any_avx2(M, N, K, A, lda, 1, B, ldb, idx, 1, C, ldc, beta);
}

/* ------------------------------------------------------------------ AVX-512
 * An 8 x 32 tile of C in sixteen zmm accumulators over packed 32-column panels. */
SLIDE_TARGET_AVX512
static inline __mmask16 slide_mask16(int64_t n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
}

#define SLIDE_ROW8(r) __m512 c##r##0, c##r##1;
#define SLIDE_LOAD8(r) c##r##0 = _mm512_loadu_ps(C + r * ldc); \
                       c##r##1 = _mm512_loadu_ps(C + r * ldc + 16);
#define SLIDE_ZERO8(r) c##r##0 = _mm512_setzero_ps(); c##r##1 = _mm512_setzero_ps();
#define SLIDE_FMA8(r) { __m512 a = _mm512_set1_ps(A[r * ars + p * aps]); \
                        c##r##0 = _mm512_fmadd_ps(a, b0, c##r##0); \
                        c##r##1 = _mm512_fmadd_ps(a, b1, c##r##1); }
#define SLIDE_STORE8(r) _mm512_storeu_ps(C + r * ldc, c##r##0); \
                        _mm512_storeu_ps(C + r * ldc + 16, c##r##1);
#define SLIDE_ALL8(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)

SLIDE_TARGET_AVX512
static inline void slide_tile_8x32_full(int64_t K, const float *A, int64_t ars, int64_t aps,
                                        const float *panel, float *C, int64_t ldc, int beta) {
    SLIDE_ALL8(SLIDE_ROW8)
    if (beta) {
        SLIDE_ALL8(SLIDE_LOAD8)
    } else {
        SLIDE_ALL8(SLIDE_ZERO8)
    }
    for (int64_t p = 0; p < K; p++) {
        __m512 b0 = _mm512_loadu_ps(panel + p * 32), b1 = _mm512_loadu_ps(panel + p * 32 + 16);
        SLIDE_ALL8(SLIDE_FMA8)
    }
    SLIDE_ALL8(SLIDE_STORE8)
}

/* edge tiles: fewer than 8 rows or 32 columns, masked */
SLIDE_TARGET_AVX512
static inline void slide_tile_8x32(int64_t rows, int64_t cols, int64_t K, const float *A,
                                   int64_t ars, int64_t aps, const float *panel, float *C,
                                   int64_t ldc, int beta) {
    if (rows == 8 && cols == 32) {
        slide_tile_8x32_full(K, A, ars, aps, panel, C, ldc, beta);
        return;
    }
    __mmask16 m0 = slide_mask16(cols), m1 = slide_mask16(cols - 16);
    for (int64_t r = 0; r < rows; r++) {
        __m512 c0 = beta ? _mm512_maskz_loadu_ps(m0, C + r * ldc) : _mm512_setzero_ps();
        __m512 c1 = beta ? _mm512_maskz_loadu_ps(m1, C + r * ldc + 16) : _mm512_setzero_ps();
        for (int64_t p = 0; p < K; p++) {
            __m512 a = _mm512_set1_ps(A[r * ars + p * aps]);
            c0 = _mm512_fmadd_ps(a, _mm512_loadu_ps(panel + p * 32), c0);
            c1 = _mm512_fmadd_ps(a, _mm512_loadu_ps(panel + p * 32 + 16), c1);
        }
        _mm512_mask_storeu_ps(C + r * ldc, m0, c0);
        _mm512_mask_storeu_ps(C + r * ldc + 16, m1, c1);
    }
}

SLIDE_TARGET_AVX512
static void slide_gemm_any_avx512(int64_t M, int64_t N, int64_t K, const float *A,
                                  int64_t ars, int64_t aps, const float *B, int64_t ldb,
                                  const int32_t *idx, int trans, float *C, int64_t ldc,
                                  int beta) {
    float panel[SLIDE_KC * 32] __attribute__((aligned(64)));
    if (K == 0 && !beta) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = 0.0f;
        return;
    }
    for (int64_t j = 0; j < N; j += 32) {
        int64_t cols = N - j < 32 ? N - j : 32;
        for (int64_t p0 = 0; p0 < K; p0 += SLIDE_KC) {
            int64_t kb = K - p0 < SLIDE_KC ? K - p0 : SLIDE_KC;
            slide_pack_b(B, ldb, idx, trans, p0, kb, j, cols, 32, panel);
            for (int64_t i = 0; i < M; i += 8)
                slide_tile_8x32(M - i < 8 ? M - i : 8, cols, kb, A + i * ars + p0 * aps, ars,
                                aps, panel, C + i * ldc + j, ldc, beta || p0 > 0);
        }
    }
}

SLIDE_TARGET_AVX512
static void slide_gemm_nn_avx512(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                 const float *B, int64_t ldb, float *C, int64_t ldc, int beta) {
    slide_gemm_any_avx512(M, N, K, A, lda, 1, B, ldb, 0, 0, C, ldc, beta);
}

SLIDE_TARGET_AVX512
static void slide_gemm_tn_avx512(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                 const float *B, int64_t ldb, float *C, int64_t ldc, int beta) {
    slide_gemm_any_avx512(M, N, K, A, 1, lda, B, ldb, 0, 0, C, ldc, beta);
}

SLIDE_TARGET_AVX512
static void slide_gemm_nt_avx512(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                 const float *B, int64_t ldb, float *C, int64_t ldc, int beta) {
    slide_gemm_any_avx512(M, N, K, A, lda, 1, B, ldb, 0, 1, C, ldc, beta);
}

SLIDE_TARGET_AVX512
static void slide_gemm_nn_idx_avx512(int64_t M, int64_t N, int64_t K, const float *A,
                                     int64_t lda, const float *B, int64_t ldb,
                                     const int32_t *idx, float *C, int64_t ldc, int beta) {
    slide_gemm_any_avx512(M, N, K, A, lda, 1, B, ldb, idx, 0, C, ldc, beta);
}

SLIDE_TARGET_AVX512
static void slide_gemm_nt_idx_avx512(int64_t M, int64_t N, int64_t K, const float *A,
                                     int64_t lda, const float *B, int64_t ldb,
                                     const int32_t *idx, float *C, int64_t ldc, int beta) {
    slide_gemm_any_avx512(M, N, K, A, lda, 1, B, ldb, idx, 1, C, ldc, beta);
}
#endif

#if SLIDE_X86
#define SLIDE_GEMM_PICK(name)                                                         \
    if (level >= SLIDE_LEVEL_AVX512) return slide_gemm_##name##_avx512;                \
    if (level >= SLIDE_LEVEL_AVX2) return slide_gemm_##name##_avx2;                    \
    return slide_gemm_##name##_scalar;
#else
#define SLIDE_GEMM_PICK(name) (void)level; return slide_gemm_##name##_scalar;
#endif

static slide_gemm_fn slide_gemm_nn_for_level(int level) { SLIDE_GEMM_PICK(nn) }
static slide_gemm_fn slide_gemm_tn_for_level(int level) { SLIDE_GEMM_PICK(tn) }
static slide_gemm_fn slide_gemm_nt_for_level(int level) { SLIDE_GEMM_PICK(nt) }
static slide_gemm_idx_fn slide_gemm_nn_idx_for_level(int level) { SLIDE_GEMM_PICK(nn_idx) }
static slide_gemm_idx_fn slide_gemm_nt_idx_for_level(int level) { SLIDE_GEMM_PICK(nt_idx) }
#endif

/* Small float32 GEMMs of the dense layers, row-major, one thread's share each:
 *
 *   slide_gemm_nn(M, N, K, A, lda, B, ldb, C, ldc, beta)   C = A B + beta C     (A [M,K], B [K,N])
 *   slide_gemm_tn(M, N, K, A, lda, B, ldb, C, ldc, beta)   C = A^T B + beta C   (A [K,M], B [K,N])
 *   slide_gemm_nt(M, N, K, A, lda, B, ldb, C, ldc, beta)   C = A B^T + beta C   (A [M,K], B [N,K])
 *
 * beta is 0 or 1.  The callers split C by columns (nn, tn) or by rows of B
 * (nt) among OpenMP threads, so each call owns its block of C.  One thread
 * pool (OpenMP) does all the work: calling a BLAS with its own threads from
 * here would put two busy-waiting pools on the same cores.
 *
 * The AVX2 kernels hold a 4 x 16 tile of C in eight registers (nn, tn) or
 * eight 8-wide partial dot products (nt) and use FMA; the AVX-512 ones an 8 x 32
 * tile in sixteen registers, or 16-wide dot products.  Tails use masked loads and
 * stores, so no size must be a multiple of 8 or 16.
 */
#ifndef SLIDE_GEMM_H
#define SLIDE_GEMM_H
#include <stdint.h>
#include <stdlib.h>
#include "dispatch.h"

typedef void (*slide_gemm_fn)(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                              const float *B, int64_t ldb, float *C, int64_t ldc, int beta);

/* ------------------------------------------------------------------ scalar */
static void slide_gemm_nn_scalar(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                 const float *B, int64_t ldb, float *C, int64_t ldc, int beta) {
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (!beta) for (int64_t j = 0; j < N; j++) c[j] = 0.0f;
        for (int64_t p = 0; p < K; p++) {
            float a = A[i * lda + p];
            const float *b = B + p * ldb;
            for (int64_t j = 0; j < N; j++) c[j] += a * b[j];
        }
    }
}

static void slide_gemm_tn_scalar(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                 const float *B, int64_t ldb, float *C, int64_t ldc, int beta) {
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (!beta) for (int64_t j = 0; j < N; j++) c[j] = 0.0f;
        for (int64_t p = 0; p < K; p++) {
            float a = A[p * lda + i];
            const float *b = B + p * ldb;
            for (int64_t j = 0; j < N; j++) c[j] += a * b[j];
        }
    }
}

static void slide_gemm_nt_scalar(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                 const float *B, int64_t ldb, float *C, int64_t ldc, int beta) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            float acc = 0.0f;
            for (int64_t p = 0; p < K; p++) acc += A[i * lda + p] * B[j * ldb + p];
            C[i * ldc + j] = beta ? C[i * ldc + j] + acc : acc;
        }
}

#if SLIDE_X86
/* lanes [0, n) of an 8-wide vector, n in 0..8 */
SLIDE_TARGET_AVX2
static inline __m256i slide_mask8(int64_t n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n > 8 ? 8 : n)), idx);
}

/* The full 4 x 16 tile with its eight accumulators as named locals, so they stay in
 * registers (an indexed array of vectors may be kept on the stack). */
SLIDE_TARGET_AVX2
static inline void slide_tile_4x16_full(int64_t K, const float *A, int64_t ars, int64_t aps,
                                        const float *B, int64_t ldb, float *C, int64_t ldc,
                                        int beta) {
    __m256 c00, c01, c10, c11, c20, c21, c30, c31;
    if (beta) {
        c00 = _mm256_loadu_ps(C);           c01 = _mm256_loadu_ps(C + 8);
        c10 = _mm256_loadu_ps(C + ldc);     c11 = _mm256_loadu_ps(C + ldc + 8);
        c20 = _mm256_loadu_ps(C + 2 * ldc); c21 = _mm256_loadu_ps(C + 2 * ldc + 8);
        c30 = _mm256_loadu_ps(C + 3 * ldc); c31 = _mm256_loadu_ps(C + 3 * ldc + 8);
    } else {
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = _mm256_setzero_ps();
    }
    const float *a0 = A, *a1 = A + ars, *a2 = A + 2 * ars, *a3 = A + 3 * ars;
    for (int64_t p = 0; p < K; p++) {
        __m256 b0 = _mm256_loadu_ps(B + p * ldb), b1 = _mm256_loadu_ps(B + p * ldb + 8);
        __m256 a = _mm256_broadcast_ss(a0 + p * aps);
        c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
        a = _mm256_broadcast_ss(a1 + p * aps);
        c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
        a = _mm256_broadcast_ss(a2 + p * aps);
        c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
        a = _mm256_broadcast_ss(a3 + p * aps);
        c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
    }
    _mm256_storeu_ps(C, c00);           _mm256_storeu_ps(C + 8, c01);
    _mm256_storeu_ps(C + ldc, c10);     _mm256_storeu_ps(C + ldc + 8, c11);
    _mm256_storeu_ps(C + 2 * ldc, c20); _mm256_storeu_ps(C + 2 * ldc + 8, c21);
    _mm256_storeu_ps(C + 3 * ldc, c30); _mm256_storeu_ps(C + 3 * ldc + 8, c31);
}

/* C[r, 0:cols] for r < rows: edge tiles (fewer than 4 rows or 16 columns) */
SLIDE_TARGET_AVX2
static inline void slide_tile_4x16(int64_t rows, int64_t cols, int64_t K, const float *A,
                                   int64_t ars, int64_t aps, const float *B, int64_t ldb,
                                   float *C, int64_t ldc, int beta) {
    if (rows == 4 && cols == 16) {
        slide_tile_4x16_full(K, A, ars, aps, B, ldb, C, ldc, beta);
        return;
    }
    __m256i m0 = slide_mask8(cols), m1 = slide_mask8(cols - 8);
    for (int64_t r = 0; r < rows; r++) {
        __m256 c0 = beta ? _mm256_maskload_ps(C + r * ldc, m0) : _mm256_setzero_ps();
        __m256 c1 = beta ? _mm256_maskload_ps(C + r * ldc + 8, m1) : _mm256_setzero_ps();
        for (int64_t p = 0; p < K; p++) {
            __m256 a = _mm256_broadcast_ss(A + r * ars + p * aps);
            c0 = _mm256_fmadd_ps(a, _mm256_maskload_ps(B + p * ldb, m0), c0);
            c1 = _mm256_fmadd_ps(a, _mm256_maskload_ps(B + p * ldb + 8, m1), c1);
        }
        _mm256_maskstore_ps(C + r * ldc, m0, c0);
        _mm256_maskstore_ps(C + r * ldc + 8, m1, c1);
    }
}

/* Copy the 16-column panel B[:, j:j+16] into a contiguous [K][16] buffer: rows of a
 * wide B lie far apart (40 KB for 10k columns), which costs TLB and cache-set misses
 * when the micro-kernel walks down a column panel M/4 times. */
static inline void slide_pack_panel(const float *B, int64_t ldb, int64_t K, int64_t cols,
                                    float *panel) {
    for (int64_t p = 0; p < K; p++) {
        int64_t c = 0;
        for (; c < cols; c++) panel[p * 16 + c] = B[p * ldb + c];
        for (; c < 16; c++) panel[p * 16 + c] = 0.0f;
    }
}

/* shared body of nn and tn: A element (i, p) at A[i * ars + p * aps] */
SLIDE_TARGET_AVX2
static void slide_gemm_xn_avx2(int64_t M, int64_t N, int64_t K, const float *A, int64_t ars,
                               int64_t aps, const float *B, int64_t ldb, float *C, int64_t ldc,
                               int beta) {
    float stack_panel[256 * 16];
    float *panel = K <= 256 ? stack_panel : (float *)malloc((size_t)K * 16 * sizeof(float));
    if (panel == NULL) {               /* no memory for the panel: unpacked, slower */
        for (int64_t j = 0; j < N; j += 16)
            for (int64_t i = 0; i < M; i += 4)
                slide_tile_4x16(M - i < 4 ? M - i : 4, N - j < 16 ? N - j : 16, K,
                                A + i * ars, ars, aps, B + j, ldb, C + i * ldc + j, ldc, beta);
        return;
    }
    for (int64_t j = 0; j < N; j += 16) {
        int64_t cols = N - j < 16 ? N - j : 16;
        slide_pack_panel(B + j, ldb, K, cols, panel);
        for (int64_t i = 0; i < M; i += 4)
            slide_tile_4x16(M - i < 4 ? M - i : 4, cols, K, A + i * ars, ars, aps, panel, 16,
                            C + i * ldc + j, ldc, beta);
    }
    if (panel != stack_panel) free(panel);
}

SLIDE_TARGET_AVX2
static void slide_gemm_nn_avx2(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                               const float *B, int64_t ldb, float *C, int64_t ldc, int beta) {
    slide_gemm_xn_avx2(M, N, K, A, lda, 1, B, ldb, C, ldc, beta);
}

SLIDE_TARGET_AVX2
static void slide_gemm_tn_avx2(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                               const float *B, int64_t ldb, float *C, int64_t ldc, int beta) {
    slide_gemm_xn_avx2(M, N, K, A, 1, lda, B, ldb, C, ldc, beta);
}

SLIDE_TARGET_AVX2
static inline float slide_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/* C[i, j] (+)= sum_p A[i, p] B[j, p] for a 2 x 4 block (rows/cols may be fewer; the
 * missing ones repeat row 0 and are not stored).  Named accumulators stay in registers. */
SLIDE_TARGET_AVX2
static inline void slide_dots_2x4(int64_t rows, int64_t cols, int64_t K, const float *A,
                                  int64_t lda, const float *B, int64_t ldb, float *C,
                                  int64_t ldc, int beta) {
    __m256 s00 = _mm256_setzero_ps(), s01 = s00, s02 = s00, s03 = s00;
    __m256 s10 = s00, s11 = s00, s12 = s00, s13 = s00;
    const float *a0 = A, *a1 = A + (rows > 1 ? lda : 0);
    const float *b0 = B, *b1 = B + (cols > 1 ? ldb : 0), *b2 = B + (cols > 2 ? 2 * ldb : 0);
    const float *b3 = B + (cols > 3 ? 3 * ldb : 0);
    int64_t p = 0;
    for (; p + 8 <= K; p += 8) {
        __m256 x0 = _mm256_loadu_ps(a0 + p), x1 = _mm256_loadu_ps(a1 + p), y;
        y = _mm256_loadu_ps(b0 + p); s00 = _mm256_fmadd_ps(x0, y, s00); s10 = _mm256_fmadd_ps(x1, y, s10);
        y = _mm256_loadu_ps(b1 + p); s01 = _mm256_fmadd_ps(x0, y, s01); s11 = _mm256_fmadd_ps(x1, y, s11);
        y = _mm256_loadu_ps(b2 + p); s02 = _mm256_fmadd_ps(x0, y, s02); s12 = _mm256_fmadd_ps(x1, y, s12);
        y = _mm256_loadu_ps(b3 + p); s03 = _mm256_fmadd_ps(x0, y, s03); s13 = _mm256_fmadd_ps(x1, y, s13);
    }
    if (p < K) {
        __m256i m = slide_mask8(K - p);
        __m256 x0 = _mm256_maskload_ps(a0 + p, m), x1 = _mm256_maskload_ps(a1 + p, m), y;
        y = _mm256_maskload_ps(b0 + p, m); s00 = _mm256_fmadd_ps(x0, y, s00); s10 = _mm256_fmadd_ps(x1, y, s10);
        y = _mm256_maskload_ps(b1 + p, m); s01 = _mm256_fmadd_ps(x0, y, s01); s11 = _mm256_fmadd_ps(x1, y, s11);
        y = _mm256_maskload_ps(b2 + p, m); s02 = _mm256_fmadd_ps(x0, y, s02); s12 = _mm256_fmadd_ps(x1, y, s12);
        y = _mm256_maskload_ps(b3 + p, m); s03 = _mm256_fmadd_ps(x0, y, s03); s13 = _mm256_fmadd_ps(x1, y, s13);
    }
    float v[2][4] = {{slide_hsum8(s00), slide_hsum8(s01), slide_hsum8(s02), slide_hsum8(s03)},
                     {slide_hsum8(s10), slide_hsum8(s11), slide_hsum8(s12), slide_hsum8(s13)}};
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            C[r * ldc + c] = beta ? C[r * ldc + c] + v[r][c] : v[r][c];
}

SLIDE_TARGET_AVX2
static void slide_gemm_nt_avx2(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                               const float *B, int64_t ldb, float *C, int64_t ldc, int beta) {
    /* K in blocks that keep 4 rows of B in L1 while every row pair of A streams by */
    const int64_t KB = 1024;
    for (int64_t j = 0; j < N; j += 4)
        for (int64_t p = 0; p < K; p += KB) {
            int64_t kb = K - p < KB ? K - p : KB;
            for (int64_t i = 0; i < M; i += 2)
                slide_dots_2x4(M - i < 2 ? M - i : 2, N - j < 4 ? N - j : 4, kb, A + i * lda + p,
                               lda, B + j * ldb + p, ldb, C + i * ldc + j, ldc, beta || p > 0);
        }
}

/* ------------------------------------------------------------------ AVX-512
 * An 8 x 32 tile of C in sixteen zmm accumulators (nn, tn), packed 32-column panels
 * of B, and 16-lane dot products (nt).  Each C element is still one FMA chain over
 * p in order, so nn/tn give the AVX2 kernels' results bit for bit. */
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
                                        const float *B, int64_t ldb, float *C, int64_t ldc,
                                        int beta) {
    SLIDE_ALL8(SLIDE_ROW8)
    if (beta) {
        SLIDE_ALL8(SLIDE_LOAD8)
    } else {
        SLIDE_ALL8(SLIDE_ZERO8)
    }
    for (int64_t p = 0; p < K; p++) {
        __m512 b0 = _mm512_loadu_ps(B + p * ldb), b1 = _mm512_loadu_ps(B + p * ldb + 16);
        SLIDE_ALL8(SLIDE_FMA8)
    }
    SLIDE_ALL8(SLIDE_STORE8)
}

/* edge tiles: fewer than 8 rows or 32 columns, masked */
SLIDE_TARGET_AVX512
static inline void slide_tile_8x32(int64_t rows, int64_t cols, int64_t K, const float *A,
                                   int64_t ars, int64_t aps, const float *B, int64_t ldb,
                                   float *C, int64_t ldc, int beta) {
    if (rows == 8 && cols == 32) {
        slide_tile_8x32_full(K, A, ars, aps, B, ldb, C, ldc, beta);
        return;
    }
    __mmask16 m0 = slide_mask16(cols), m1 = slide_mask16(cols - 16);
    for (int64_t r = 0; r < rows; r++) {
        __m512 c0 = beta ? _mm512_maskz_loadu_ps(m0, C + r * ldc) : _mm512_setzero_ps();
        __m512 c1 = beta ? _mm512_maskz_loadu_ps(m1, C + r * ldc + 16) : _mm512_setzero_ps();
        for (int64_t p = 0; p < K; p++) {
            __m512 a = _mm512_set1_ps(A[r * ars + p * aps]);
            c0 = _mm512_fmadd_ps(a, _mm512_maskz_loadu_ps(m0, B + p * ldb), c0);
            c1 = _mm512_fmadd_ps(a, _mm512_maskz_loadu_ps(m1, B + p * ldb + 16), c1);
        }
        _mm512_mask_storeu_ps(C + r * ldc, m0, c0);
        _mm512_mask_storeu_ps(C + r * ldc + 16, m1, c1);
    }
}

static inline void slide_pack_panel32(const float *B, int64_t ldb, int64_t K, int64_t cols,
                                      float *panel) {
    for (int64_t p = 0; p < K; p++) {
        int64_t c = 0;
        for (; c < cols; c++) panel[p * 32 + c] = B[p * ldb + c];
        for (; c < 32; c++) panel[p * 32 + c] = 0.0f;
    }
}

SLIDE_TARGET_AVX512
static void slide_gemm_xn_avx512(int64_t M, int64_t N, int64_t K, const float *A, int64_t ars,
                                 int64_t aps, const float *B, int64_t ldb, float *C, int64_t ldc,
                                 int beta) {
    float stack_panel[256 * 32];
    float *panel = K <= 256 ? stack_panel : (float *)malloc((size_t)K * 32 * sizeof(float));
    if (panel == NULL) {               /* no memory for the panel: unpacked, slower */
        for (int64_t j = 0; j < N; j += 32)
            for (int64_t i = 0; i < M; i += 8)
                slide_tile_8x32(M - i < 8 ? M - i : 8, N - j < 32 ? N - j : 32, K,
                                A + i * ars, ars, aps, B + j, ldb, C + i * ldc + j, ldc, beta);
        return;
    }
    for (int64_t j = 0; j < N; j += 32) {
        int64_t cols = N - j < 32 ? N - j : 32;
        slide_pack_panel32(B + j, ldb, K, cols, panel);
        for (int64_t i = 0; i < M; i += 8)
            slide_tile_8x32(M - i < 8 ? M - i : 8, cols, K, A + i * ars, ars, aps, panel, 32,
                            C + i * ldc + j, ldc, beta);
    }
    if (panel != stack_panel) free(panel);
}

SLIDE_TARGET_AVX512
static void slide_gemm_nn_avx512(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                 const float *B, int64_t ldb, float *C, int64_t ldc, int beta) {
    slide_gemm_xn_avx512(M, N, K, A, lda, 1, B, ldb, C, ldc, beta);
}

SLIDE_TARGET_AVX512
static void slide_gemm_tn_avx512(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                 const float *B, int64_t ldb, float *C, int64_t ldc, int beta) {
    slide_gemm_xn_avx512(M, N, K, A, 1, lda, B, ldb, C, ldc, beta);
}

/* C[i, j] (+)= A[i] . B[j] for a 2 x 4 block, 16 lanes, masked K tail; as slide_dots_2x4 */
SLIDE_TARGET_AVX512
static inline void slide_dots_2x4_avx512(int64_t rows, int64_t cols, int64_t K, const float *A,
                                         int64_t lda, const float *B, int64_t ldb, float *C,
                                         int64_t ldc, int beta) {
    __m512 s00 = _mm512_setzero_ps(), s01 = s00, s02 = s00, s03 = s00;
    __m512 s10 = s00, s11 = s00, s12 = s00, s13 = s00;
    const float *a0 = A, *a1 = A + (rows > 1 ? lda : 0);
    const float *b0 = B, *b1 = B + (cols > 1 ? ldb : 0), *b2 = B + (cols > 2 ? 2 * ldb : 0);
    const float *b3 = B + (cols > 3 ? 3 * ldb : 0);
    for (int64_t p = 0; p < K; p += 16) {
        __mmask16 m = slide_mask16(K - p);
        __m512 x0 = _mm512_maskz_loadu_ps(m, a0 + p), x1 = _mm512_maskz_loadu_ps(m, a1 + p), y;
        y = _mm512_maskz_loadu_ps(m, b0 + p); s00 = _mm512_fmadd_ps(x0, y, s00); s10 = _mm512_fmadd_ps(x1, y, s10);
        y = _mm512_maskz_loadu_ps(m, b1 + p); s01 = _mm512_fmadd_ps(x0, y, s01); s11 = _mm512_fmadd_ps(x1, y, s11);
        y = _mm512_maskz_loadu_ps(m, b2 + p); s02 = _mm512_fmadd_ps(x0, y, s02); s12 = _mm512_fmadd_ps(x1, y, s12);
        y = _mm512_maskz_loadu_ps(m, b3 + p); s03 = _mm512_fmadd_ps(x0, y, s03); s13 = _mm512_fmadd_ps(x1, y, s13);
    }
    float v[2][4] = {{_mm512_reduce_add_ps(s00), _mm512_reduce_add_ps(s01),
                      _mm512_reduce_add_ps(s02), _mm512_reduce_add_ps(s03)},
                     {_mm512_reduce_add_ps(s10), _mm512_reduce_add_ps(s11),
                      _mm512_reduce_add_ps(s12), _mm512_reduce_add_ps(s13)}};
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            C[r * ldc + c] = beta ? C[r * ldc + c] + v[r][c] : v[r][c];
}

SLIDE_TARGET_AVX512
static void slide_gemm_nt_avx512(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                 const float *B, int64_t ldb, float *C, int64_t ldc, int beta) {
    const int64_t KB = 1024;
    for (int64_t j = 0; j < N; j += 4)
        for (int64_t p = 0; p < K; p += KB) {
            int64_t kb = K - p < KB ? K - p : KB;
            for (int64_t i = 0; i < M; i += 2)
                slide_dots_2x4_avx512(M - i < 2 ? M - i : 2, N - j < 4 ? N - j : 4, kb,
                                      A + i * lda + p, lda, B + j * ldb + p, ldb,
                                      C + i * ldc + j, ldc, beta || p > 0);
        }
}
#endif

static slide_gemm_fn slide_gemm_nn_for_level(int level) {
#if SLIDE_X86
    if (level >= SLIDE_LEVEL_AVX512) return slide_gemm_nn_avx512;
    if (level >= SLIDE_LEVEL_AVX2) return slide_gemm_nn_avx2;
#endif
    (void)level;
    return slide_gemm_nn_scalar;
}

static slide_gemm_fn slide_gemm_tn_for_level(int level) {
#if SLIDE_X86
    if (level >= SLIDE_LEVEL_AVX512) return slide_gemm_tn_avx512;
    if (level >= SLIDE_LEVEL_AVX2) return slide_gemm_tn_avx2;
#endif
    (void)level;
    return slide_gemm_tn_scalar;
}

static slide_gemm_fn slide_gemm_nt_for_level(int level) {
#if SLIDE_X86
    if (level >= SLIDE_LEVEL_AVX512) return slide_gemm_nt_avx512;
    if (level >= SLIDE_LEVEL_AVX2) return slide_gemm_nt_avx2;
#endif
    (void)level;
    return slide_gemm_nt_scalar;
}
#endif

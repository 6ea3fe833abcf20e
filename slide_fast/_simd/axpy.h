/* acc[0:n] += a * w[0:n] in double, the inner step of a dense projection
 * x @ W computed row of W by row of W.  Multiply and add are separate (no FMA
 * contraction), so every level gives the same result as the scalar loop. */
#ifndef SLIDE_AXPY_H
#define SLIDE_AXPY_H
#include <stdint.h>
#include "dispatch.h"

typedef void (*slide_axpy_f64_fn)(double a, const double *w, double *acc, int64_t n);

static void slide_axpy_f64_scalar(double a, const double *w, double *acc, int64_t n) {
    for (int64_t i = 0; i < n; i++) acc[i] += a * w[i];
}

#if SLIDE_X86
SLIDE_TARGET_AVX2
static void slide_axpy_f64_avx2(double a, const double *w, double *acc, int64_t n) {
    __m256d av = _mm256_set1_pd(a);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        _mm256_storeu_pd(acc + i, _mm256_add_pd(_mm256_loadu_pd(acc + i),
                                                _mm256_mul_pd(av, _mm256_loadu_pd(w + i))));
    for (; i < n; i++) acc[i] += a * w[i];
}

SLIDE_TARGET_AVX512
static void slide_axpy_f64_avx512(double a, const double *w, double *acc, int64_t n) {
    __m512d av = _mm512_set1_pd(a);
    for (int64_t i = 0; i < n; i += 8) {
        int64_t left = n - i;
        __mmask8 live = left >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << left) - 1u);
        __m512d acc_v = _mm512_maskz_loadu_pd(live, acc + i);
        __m512d w_v = _mm512_maskz_loadu_pd(live, w + i);
        _mm512_mask_storeu_pd(acc + i, live, _mm512_add_pd(acc_v, _mm512_mul_pd(av, w_v)));
    }
}
#endif

static slide_axpy_f64_fn slide_axpy_f64_for_level(int level) {
#if SLIDE_X86
    if (level >= SLIDE_LEVEL_AVX512) return slide_axpy_f64_avx512;
    if (level >= SLIDE_LEVEL_AVX2) return slide_axpy_f64_avx2;
#endif
    (void)level;
    return slide_axpy_f64_scalar;
}
#endif

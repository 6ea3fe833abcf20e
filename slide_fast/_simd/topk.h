/* The t largest entries of a row of logits, for the hard-negative memory.
 *
 * slide_topk_row(z, n, skip, n_skip, t, val, pos): the t largest values of z[0..n)
 * in descending order with their positions (ties: lower position first), leaving
 * out NaN and the positions listed in skip[0..n_skip).  Returns how many were
 * found (at most t).  Once t are held, blocks of 16 with no entry above the t-th
 * are skipped whole by four SSE comparisons; after the first blocks almost every
 * block is skipped. */
#ifndef SLIDE_TOPK_H
#define SLIDE_TOPK_H
#include <stdint.h>
#include "dispatch.h"

/* whether any of z[0..16) is above thr (NaN is not) */
static inline int slide_any_above16(const float *z, float thr) {
#if SLIDE_X86   /* SSE, part of the x86-64 baseline the extension is built for */
    const __m128 t = _mm_set1_ps(thr);
    __m128 a = _mm_or_ps(_mm_cmpgt_ps(_mm_loadu_ps(z), t), _mm_cmpgt_ps(_mm_loadu_ps(z + 4), t));
    __m128 b = _mm_or_ps(_mm_cmpgt_ps(_mm_loadu_ps(z + 8), t),
                         _mm_cmpgt_ps(_mm_loadu_ps(z + 12), t));
    return _mm_movemask_ps(_mm_or_ps(a, b));
#else
    int above = 0;
    for (int k = 0; k < 16; k++) above |= z[k] > thr;
    return above;
#endif
}

static inline int slide_topk_skipped(int64_t j, const int32_t *skip, int64_t n_skip) {
    for (int64_t k = 0; k < n_skip; k++)
        if (skip[k] == j) return 1;
    return 0;
}

static int64_t slide_topk_row(const float *z, int64_t n, const int32_t *skip, int64_t n_skip,
                              int64_t t, float *val, int32_t *pos) {
    int64_t held = 0;
    if (t <= 0) return 0;
    for (int64_t j0 = 0; j0 < n; j0 += 16) {
        int64_t j1 = n - j0 < 16 ? n : j0 + 16;
        if (held == t && j1 - j0 == 16 && !slide_any_above16(z + j0, val[t - 1]))
            continue;       /* nothing here beats the t-th best (NaN is never taken) */
        for (int64_t j = j0; j < j1; j++) {
            float x = z[j];
            if (x != x || (held == t && !(x > val[t - 1]))) continue;
            if (n_skip && slide_topk_skipped(j, skip, n_skip)) continue;
            int64_t p = held < t ? held : t - 1;
            while (p > 0 && x > val[p - 1]) {       /* after all entries >= x */
                val[p] = val[p - 1];
                pos[p] = pos[p - 1];
                p--;
            }
            val[p] = x;
            pos[p] = (int32_t)j;
            if (held < t) held++;
        }
    }
    return held;
}
#endif

/* The t largest entries of a row of logits, for the hard-negative memory.
 *
 * slide_topk_row(z, n, skip, n_skip, t, val, pos): the t largest values of z[0..n)
 * in descending order with their positions (ties: lower position first), leaving
 * out NaN and the positions listed in skip[0..n_skip).  Returns how many were
 * found (at most t).  Once t are held, blocks of 16 whose maximum does not beat the
 * t-th are skipped whole: the block maximum is a branch-free loop the compiler
 * vectorizes, and after the first blocks almost every block is skipped. */
#ifndef SLIDE_TOPK_H
#define SLIDE_TOPK_H
#include <stdint.h>

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
        if (held == t && j1 - j0 == 16) {
            float mx = z[j0];
            for (int64_t j = j0 + 1; j < j1; j++) mx = z[j] > mx ? z[j] : mx;
            /* NaN compares false, so a NaN never raises the maximum; a block that starts
             * with NaN is not skipped and is checked element by element below */
            if (mx <= val[t - 1]) continue;
        }
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

/* Winner-take-all codes of one dense row: for each bin, the position of the
 * largest of its bin_size values, the smallest position winning ties.
 *
 * slots_t is the bin table transposed, [bin_size][n_hashes], so the
 * coordinates of position j for consecutive bins are contiguous and the SIMD
 * versions gather one position for 8 (AVX2) or 16 (AVX-512) bins at a time.
 */
#ifndef SLIDE_WTA_H
#define SLIDE_WTA_H
#include <stdint.h>
#include "dispatch.h"

typedef void (*slide_wta_f32_fn)(const float *x, const int32_t *slots_t, int n_hashes,
                                 int bin_size, int32_t *out);

static void slide_wta_range_f32(const float *x, const int32_t *slots_t, int n_hashes,
                                int bin_size, int32_t *out, int first) {
    for (int i = first; i < n_hashes; i++) {
        float best = x[slots_t[i]];
        int32_t pos = 0;
        for (int j = 1; j < bin_size; j++) {
            float v = x[slots_t[(int64_t)j * n_hashes + i]];
            if (v > best) { best = v; pos = j; }
        }
        out[i] = pos;
    }
}

static void slide_wta_f32_scalar(const float *x, const int32_t *slots_t, int n_hashes,
                                 int bin_size, int32_t *out) {
    slide_wta_range_f32(x, slots_t, n_hashes, bin_size, out, 0);
}

static void slide_wta_f64(const double *x, const int32_t *slots_t, int n_hashes, int bin_size,
                          int32_t *out) {
    for (int i = 0; i < n_hashes; i++) {
        double best = x[slots_t[i]];
        int32_t pos = 0;
        for (int j = 1; j < bin_size; j++) {
            double v = x[slots_t[(int64_t)j * n_hashes + i]];
            if (v > best) { best = v; pos = j; }
        }
        out[i] = pos;
    }
}

#if SLIDE_X86
/* one step of the running argmax of 8 bins: position j of every bin */
#define SLIDE_WTA_STEP8(best, pos, base)                                                   \
    do {                                                                                   \
        __m256 v_ = _mm256_i32gather_ps(x, _mm256_loadu_si256((const __m256i *)(base)), 4); \
        __m256 gt_ = _mm256_cmp_ps(v_, best, _CMP_GT_OQ);                                  \
        best = _mm256_blendv_ps(best, v_, gt_);                                            \
        pos = _mm256_blendv_epi8(pos, jv, _mm256_castps_si256(gt_));                       \
    } while (0)

SLIDE_TARGET_AVX2
static void slide_wta_f32_avx2(const float *x, const int32_t *slots_t, int n_hashes,
                               int bin_size, int32_t *out) {
    int i = 0;
    /* four groups of 8 bins at once: their argmax chains are independent, so the
     * gathers of one overlap the compare-and-blend latency of the others */
    for (; i + 32 <= n_hashes; i += 32) {
        __m256 b0 = _mm256_i32gather_ps(x, _mm256_loadu_si256((const __m256i *)(slots_t + i)), 4);
        __m256 b1 = _mm256_i32gather_ps(x, _mm256_loadu_si256((const __m256i *)(slots_t + i + 8)), 4);
        __m256 b2 = _mm256_i32gather_ps(x, _mm256_loadu_si256((const __m256i *)(slots_t + i + 16)), 4);
        __m256 b3 = _mm256_i32gather_ps(x, _mm256_loadu_si256((const __m256i *)(slots_t + i + 24)), 4);
        __m256i p0 = _mm256_setzero_si256(), p1 = p0, p2 = p0, p3 = p0;
        for (int j = 1; j < bin_size; j++) {
            const int32_t *row = slots_t + (int64_t)j * n_hashes + i;
            __m256i jv = _mm256_set1_epi32(j);
            SLIDE_WTA_STEP8(b0, p0, row);
            SLIDE_WTA_STEP8(b1, p1, row + 8);
            SLIDE_WTA_STEP8(b2, p2, row + 16);
            SLIDE_WTA_STEP8(b3, p3, row + 24);
        }
        _mm256_storeu_si256((__m256i *)(out + i), p0);
        _mm256_storeu_si256((__m256i *)(out + i + 8), p1);
        _mm256_storeu_si256((__m256i *)(out + i + 16), p2);
        _mm256_storeu_si256((__m256i *)(out + i + 24), p3);
    }
    for (; i + 8 <= n_hashes; i += 8) {
        __m256 best = _mm256_i32gather_ps(x, _mm256_loadu_si256((const __m256i *)(slots_t + i)), 4);
        __m256i pos = _mm256_setzero_si256();
        for (int j = 1; j < bin_size; j++) {
            __m256i jv = _mm256_set1_epi32(j);
            SLIDE_WTA_STEP8(best, pos, slots_t + (int64_t)j * n_hashes + i);
        }
        _mm256_storeu_si256((__m256i *)(out + i), pos);
    }
    slide_wta_range_f32(x, slots_t, n_hashes, bin_size, out, i);
}

SLIDE_TARGET_AVX512
static void slide_wta_f32_avx512(const float *x, const int32_t *slots_t, int n_hashes,
                                 int bin_size, int32_t *out) {
    for (int i = 0; i < n_hashes; i += 16) {
        int left = n_hashes - i;
        __mmask16 live = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        __m512i idx = _mm512_maskz_loadu_epi32(live, slots_t + i);
        __m512 best = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live, idx, x, 4);
        __m512i pos = _mm512_setzero_si512();
        for (int j = 1; j < bin_size; j++) {
            idx = _mm512_maskz_loadu_epi32(live, slots_t + (int64_t)j * n_hashes + i);
            __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live, idx, x, 4);
            __mmask16 gt = _mm512_mask_cmp_ps_mask(live, v, best, _CMP_GT_OQ);
            best = _mm512_mask_mov_ps(best, gt, v);
            pos = _mm512_mask_mov_epi32(pos, gt, _mm512_set1_epi32(j));
        }
        _mm512_mask_storeu_epi32(out + i, live, pos);
    }
}
#endif

static slide_wta_f32_fn slide_wta_f32_for_level(int level) {
#if SLIDE_X86
    if (level >= SLIDE_LEVEL_AVX512) return slide_wta_f32_avx512;
    if (level >= SLIDE_LEVEL_AVX2) return slide_wta_f32_avx2;
#endif
    (void)level;
    return slide_wta_f32_scalar;
}
#endif

/* In-place ascending sort of int32 ids: quicksort (median of three) with an
 * insertion sort for short runs and a heapsort fallback past a depth limit, so
 * the worst case stays O(n log n).  Inline comparisons make it several times
 * faster than libc qsort on the few hundred ids of an LSH candidate set. */
#ifndef SLIDE_SORT_H
#define SLIDE_SORT_H
#include <stdint.h>
#include <string.h>

static inline void slide_swap_i32(int32_t *a, int32_t *b) { int32_t t = *a; *a = *b; *b = t; }

static void slide_insertion_sort_i32(int32_t *a, int64_t n) {
    for (int64_t i = 1; i < n; i++) {
        int32_t v = a[i];
        int64_t j = i - 1;
        while (j >= 0 && a[j] > v) { a[j + 1] = a[j]; j--; }
        a[j + 1] = v;
    }
}

static void slide_sift_down_i32(int32_t *a, int64_t root, int64_t n) {
    for (;;) {
        int64_t child = 2 * root + 1;
        if (child >= n) return;
        if (child + 1 < n && a[child + 1] > a[child]) child++;
        if (a[root] >= a[child]) return;
        slide_swap_i32(a + root, a + child);
        root = child;
    }
}

static void slide_heapsort_i32(int32_t *a, int64_t n) {
    for (int64_t i = n / 2 - 1; i >= 0; i--) slide_sift_down_i32(a, i, n);
    for (int64_t end = n - 1; end > 0; end--) {
        slide_swap_i32(a, a + end);
        slide_sift_down_i32(a, 0, end);
    }
}

static void slide_introsort_i32(int32_t *a, int64_t n, int depth) {
    while (n > 16) {
        if (depth-- == 0) { slide_heapsort_i32(a, n); return; }
        int64_t mid = n / 2;
        if (a[mid] < a[0]) slide_swap_i32(a + mid, a);
        if (a[n - 1] < a[0]) slide_swap_i32(a + n - 1, a);
        if (a[n - 1] < a[mid]) slide_swap_i32(a + n - 1, a + mid);
        int32_t pivot = a[mid];
        int64_t i = 0, j = n - 1;
        for (;;) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i >= j) break;
            slide_swap_i32(a + i, a + j);
            i++; j--;
        }
        /* recurse into the smaller side, loop on the larger: O(log n) stack */
        if (j + 1 < n - j - 1) { slide_introsort_i32(a, j + 1, depth); a += j + 1; n -= j + 1; }
        else { slide_introsort_i32(a + j + 1, n - j - 1, depth); n = j + 1; }
    }
    slide_insertion_sort_i32(a, n);
}

/* Write the indices of the non-zero bytes of mark[0:n] to out in ascending order,
 * clearing them; mark must be readable up to a multiple of 8 bytes.  For a set
 * that fills more than about 1/64 of its range, this is faster than sorting it. */
static int64_t slide_collect_marked(uint8_t *mark, int64_t n, int32_t *out) {
    int64_t size = 0;
    for (int64_t w = 0; w < n; w += 8) {
        uint64_t word;
        memcpy(&word, mark + w, 8);
        if (!word) continue;
        for (int64_t b = w; b < w + 8 && b < n; b++)
            if (mark[b]) { out[size++] = (int32_t)b; mark[b] = 0; }
    }
    return size;
}

static void slide_sort_i32(int32_t *a, int64_t n) {
    int depth = 2;
    for (int64_t m = n; m > 1; m >>= 1) depth += 2;
    slide_introsort_i32(a, n, depth);
}
/* LSD radix sort of non-negative ids <= max_value, 11 bits per pass (two passes
 * for ids below 2^22): linear time and no unpredictable branches, several times
 * faster than a comparison sort from a few hundred ids up.  tmp holds n ids. */
static void slide_radix_sort_i32(int32_t *a, int64_t n, int32_t *tmp, int32_t max_value) {
    int bits = 0;
    while (bits < 31 && (max_value >> bits) > 0) bits++;
    int passes = (bits + 10) / 11;
    int32_t count[2048];
    int32_t *src = a, *dst = tmp;
    for (int p = 0; p < passes; p++) {
        int shift = 11 * p;
        memset(count, 0, sizeof count);
        for (int64_t i = 0; i < n; i++) count[(src[i] >> shift) & 2047]++;
        int32_t total = 0;
        for (int d = 0; d < 2048; d++) { int32_t c = count[d]; count[d] = total; total += c; }
        for (int64_t i = 0; i < n; i++) dst[count[(src[i] >> shift) & 2047]++] = src[i];
        int32_t *t = src; src = dst; dst = t;
    }
    if (src != a) memcpy(a, src, (size_t)n * sizeof(int32_t));
}

/* ascending sort of ids in [0, max_value]: comparison sort when short, radix otherwise */
static void slide_sort_ids(int32_t *a, int64_t n, int32_t *tmp, int32_t max_value) {
    if (n < 128) slide_sort_i32(a, n);
    else slide_radix_sort_i32(a, n, tmp, max_value);
}
#endif

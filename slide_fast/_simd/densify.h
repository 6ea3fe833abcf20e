/* SLIDE's probing densification of empty bins (code -1), shared by DWTA and
 * densified MinHash.  Mirrors slide_ref/_kernels/hashing.py:densify. */
#ifndef SLIDE_DENSIFY_H
#define SLIDE_DENSIFY_H
#include <stdint.h>

#define SLIDE_EMPTY (-1)
#define SLIDE_N_PROBES 100

static inline int slide_floor_log2(int64_t n) {
    int k = 0;
    while ((n >> (k + 1)) > 0) k++;
    return k;
}

/* codes: one row of n_hashes codes; scratch: n_hashes ints. */
static void slide_densify_row(int32_t *codes, int32_t *scratch, int n_hashes, uint32_t probe_seed) {
    int any_empty = 0;
    for (int i = 0; i < n_hashes; i++) {
        scratch[i] = codes[i];
        any_empty |= codes[i] == SLIDE_EMPTY;
    }
    if (!any_empty) return;
    int log_h = slide_floor_log2(n_hashes);
    for (int i = 0; i < n_hashes; i++) {
        if (scratch[i] != SLIDE_EMPTY) continue;
        codes[i] = 0;
        if (log_h == 0) continue;
        for (uint32_t a = 1; a <= SLIDE_N_PROBES; a++) {
            uint32_t t = (((uint32_t)i + 1u) << 6) + a;
            uint32_t probe = ((probe_seed * t) << 3) >> (32 - log_h);
            if (scratch[probe] != SLIDE_EMPTY) { codes[i] = scratch[probe]; break; }
        }
    }
}
#endif

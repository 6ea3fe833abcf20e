/* Instruction-set levels and CPU detection for runtime kernel dispatch.
 *
 * The extension is compiled for the x86-64-v2 baseline.  Kernels for wider
 * instruction sets carry their own target attribute and are only called after
 * slide_cpu_max_level() says the CPU (and the OS, via XSAVE state) has them.
 */
#ifndef SLIDE_DISPATCH_H
#define SLIDE_DISPATCH_H

#define SLIDE_LEVEL_SCALAR 0
#define SLIDE_LEVEL_AVX2 1
#define SLIDE_LEVEL_AVX512 2
#define SLIDE_LEVEL_AVX512_BF16 3

#if defined(SLIDE_SIMDE)
/* Test build (SLIDE_SIMD_EMULATE=1 at build time, see setup.py): every intrinsic comes
 * from SIMDe's portable implementations, so all levels run, and are checked against
 * the reference, on a CPU that lacks them.  Slow; never a production build. */
#define SLIDE_X86 1
#define SLIDE_EMULATED 1
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <simde/x86/fma.h>
#include "simde_compat.h"
#define SLIDE_TARGET_AVX2
#define SLIDE_TARGET_AVX512
#define SLIDE_TARGET_AVX512_BF16
#elif defined(__x86_64__) || defined(__i386__)
#define SLIDE_X86 1
#define SLIDE_EMULATED 0
#include <immintrin.h>
#define SLIDE_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define SLIDE_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define SLIDE_TARGET_AVX512_BF16 \
    __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma")))
#else
#define SLIDE_X86 0
#define SLIDE_EMULATED 0
#endif

static inline int slide_cpu_max_level(void) {
#if SLIDE_EMULATED
    return SLIDE_LEVEL_AVX512_BF16;
#elif SLIDE_X86
    __builtin_cpu_init();
    int level = SLIDE_LEVEL_SCALAR;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        level = SLIDE_LEVEL_AVX2;
    if (level == SLIDE_LEVEL_AVX2 && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
        level = SLIDE_LEVEL_AVX512;
    if (level == SLIDE_LEVEL_AVX512 && __builtin_cpu_supports("avx512bf16"))
        level = SLIDE_LEVEL_AVX512_BF16;
    return level;
#else
    return SLIDE_LEVEL_SCALAR;
#endif
}
#endif

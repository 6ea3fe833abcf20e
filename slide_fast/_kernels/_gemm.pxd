# The packed SIMD GEMMs of gemm.h (one driver per ISA, chosen by level), declared once for
# every kernel module that multiplies matrices (network, scoring).
from libc.stdint cimport int32_t, int64_t

cdef extern from "gemm.h" nogil:
    ctypedef void (*slide_gemm_fn)(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                   const float *B, int64_t ldb, float *C, int64_t ldc,
                                   int beta) noexcept nogil
    slide_gemm_fn slide_gemm_nn_for_level(int level)
    slide_gemm_fn slide_gemm_tn_for_level(int level)
    slide_gemm_fn slide_gemm_nt_for_level(int level)
    ctypedef void (*slide_gemm_idx_fn)(int64_t M, int64_t N, int64_t K, const float *A,
                                       int64_t lda, const float *B, int64_t ldb,
                                       const int32_t *idx, float *C, int64_t ldc,
                                       int beta) noexcept nogil
    slide_gemm_idx_fn slide_gemm_nn_idx_for_level(int level)
    slide_gemm_idx_fn slide_gemm_nt_idx_for_level(int level)

# The training-engine helpers that other kernel modules share (``bf16.pyx`` builds the
# BF16 modes on them): C-level entry points, so no module calls another's private
# helpers through Python.
from libc.stdint cimport int32_t, int64_t

# the dot product of ``_sampled_forward``: fp32, bf16-rounded weights (mode 1), or weights
# that hold bf16 values already (mode 2's high halves)
cdef enum DotKind:
    DOT_F32 = 0
    DOT_BF16 = 1
    DOT_HI = 2

cdef int _check_rows(const int32_t[::1] rows, Py_ssize_t n, str kernel) except -1

cdef object _sampled_forward(const float[:, ::1] A, const float[:, ::1] W, const float[::1] b,
                             const int64_t[::1] act_indptr, const int32_t[::1] act_ids,
                             bint relu, int n_threads, int dot_kind)

cdef object _sampled_backward(const float[:, ::1] A, const float[:, ::1] W,
                              const int64_t[::1] act_indptr, const int32_t[::1] act_ids,
                              const float[::1] delta, float[:, ::1] gW, float[::1] gb,
                              bint relu_input, bint need_dA, int n_threads, bint bf16)

cdef object _dense_backward(const float[:, ::1] A, const float[:, ::1] W,
                            const float[:, ::1] delta, float[:, ::1] gW, float[::1] gb,
                            bint relu_input, bint need_dA, int n_threads)

cdef object _dense_backward_csr(object indptr, object indices, const float[::1] data,
                                const float[:, ::1] delta, float[:, ::1] gW, float[::1] gb,
                                int n_threads, bint bf16)

"""64-byte aligned allocation of the engine's large arrays."""
import numpy as np
import pytest

from slide_ref._memory import aligned_copy, aligned_empty, aligned_zeros, is_aligned


@pytest.mark.parametrize("shape", [(1,), (3, 5), (1000, 128), (0, 7)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16, np.int32])
def test_aligned_arrays_are_aligned_contiguous_and_sized(shape, dtype):
    for _ in range(5):           # different heap positions
        a = aligned_zeros(shape, dtype)
        assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous
        assert a.flags.writeable and not a.any()
        if a.size:
            assert is_aligned(a)
    assert aligned_empty(7).shape == (7,)


def test_aligned_copy_keeps_values_and_casts():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((33, 17))[:, ::2]          # not contiguous
    c = aligned_copy(x, np.float32)
    assert is_aligned(c) and c.dtype == np.float32 and c.flags.c_contiguous
    np.testing.assert_array_equal(c, x.astype(np.float32))
    c[0, 0] = 99                                       # a copy, not a view of x
    assert x[0, 0] != 99


def test_alignment_other_than_64():
    assert aligned_empty((5, 5), np.float32, align=4096).ctypes.data % 4096 == 0


@pytest.mark.parametrize("bf16", [0, 2])
def test_network_arrays_are_aligned_after_init_and_load(backend, bf16):
    net = backend.network.SlideNetwork(300, 50, hidden=(24,),
                                       lsh=dict(K=2, L=3, min_active=10),
                                       bf16=bf16, random_state=0, n_threads=1)
    loaded = type(net).from_state(*net.get_state())
    for model in (net, loaded):
        for layer in model.layers:
            arrays = [layer.W, layer.b, layer.gW, layer.gb, layer.mW, layer.vW, layer.mb,
                      layer.vb] + ([layer.W_lo, layer.b_lo] if bf16 == 2 else [])
            assert all(is_aligned(a) and a.flags.c_contiguous for a in arrays)
    for a, b in zip(net.layers, loaded.layers):
        np.testing.assert_array_equal(a.W, b.W)
        assert not np.shares_memory(a.W, b.W)

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


# --- peak memory of building and loading a network (measured in a fresh process) -------------

PEAK_PROBE = """
import json, sys
import numpy as np
import {backend} as slide

def resident():
    with open("/proc/self/status") as fh:
        f = dict(line.split(":", 1) for line in fh)
    return {{k: int(f[k].split()[0]) * 1024 for k in ("VmRSS", "VmHWM")}}

def reset_peak():
    with open("/proc/self/clear_refs", "w") as fh:   # VmHWM := VmRSS
        fh.write("5")

net = None
def build():
    return slide.network.SlideNetwork({n_features}, {n_outputs}, hidden=(128,),
                                      optimizer="catchup_adam", random_state=0, n_threads=1,
                                      output_sampler=slide.negative.UniformSampler(
                                          100, shared=True, batch_labels=True))
if "{what}" == "load":
    net = build()
    state = net.get_state()
reset_peak()
before = resident()["VmRSS"]
made = build() if "{what}" == "build" else type(net).from_state(*state)
after = resident()
print(json.dumps({{"before": before, "after": after["VmRSS"], "peak": after["VmHWM"]}}))
"""


def _peak_probe(backend, what, n_features, n_outputs):
    """``(growth of RSS, growth of peak RSS)`` in bytes while a fresh process builds (``what=
    "build"``) or loads (``"load"``) a network."""
    import json
    import subprocess
    import sys
    code = PEAK_PROBE.format(backend=backend.__name__, what=what, n_features=n_features,
                             n_outputs=n_outputs)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return r["after"] - r["before"], r["peak"] - r["before"]


def _can_reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


needs_proc = pytest.mark.skipif(not _can_reset_peak(),
                                reason="needs Linux /proc/self/clear_refs to reset VmHWM")


@needs_proc
@pytest.mark.parametrize("what", ["build", "load"])
def test_building_or_loading_a_network_peaks_at_its_final_size(backend, what):
    """No second copy of the weights outlives its use: while a network is built (the
    initial draws) or loaded (the saved arrays), the peak stays within 2 bytes a weight of
    the final size (a duplicate of the output weights would add 4 or more), and below the
    estimate ``check_allocation`` is given."""
    from slide_ref._memory import network_nbytes
    n_features, n_outputs = 500, 100_000
    grown, peak = _peak_probe(backend, what, n_features, n_outputs)
    weights = n_outputs * 128
    assert grown >= 14 * weights                    # W, gW, mW, vW (16 bytes a weight)
    assert peak - grown <= 2 * weights, (grown, peak)
    assert peak <= network_nbytes(n_features, (128,), n_outputs, "catchup_adam")

"""The compiled kernels run without bounds checks: their index arrays are checked where cheap.

Every entry point that takes index arrays names, in its docstring, the invariant it
relies on and who checks it; row pointers, row ids, label ids and bucket ids (O(rows)
or O(ids) next to more work on them) are checked in the kernel and give a
``ValueError`` naming the argument instead of an out-of-bounds access.
"""
import inspect
import re

import numpy as np
import pytest

import slide_fast
from slide_fast._kernels import active, bf16, negative, network, sketch, tables, zsl

INDEX_PARAMETER = re.compile(r"indptr|indices|ids|rows|buckets|slots|idx|coord|label|^y$")


def _kernels_with_index_arrays():
    for mod_name in slide_fast._kernels.MODULES:
        module = getattr(slide_fast._kernels, mod_name)
        for name in sorted(dir(module)):
            fn = getattr(module, name)
            if name.startswith("_") or not callable(fn) or inspect.isclass(fn):
                continue
            if not getattr(fn, "__module__", "").startswith("slide_fast._kernels"):
                continue
            try:
                params = inspect.signature(fn).parameters
            except (TypeError, ValueError):
                continue
            if any(INDEX_PARAMETER.search(p) for p in params):
                yield f"{mod_name}.{name}", fn


@pytest.mark.parametrize("name, fn", list(_kernels_with_index_arrays()),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_docstring_states_the_index_invariant(name, fn):
    doc = fn.__doc__ or ""
    assert re.search(r"Index arrays|Relies on|index arrays", doc), name


# ----------------------------------------------------------------------------- network
def _pairs(B=2, n_in=4, n_out=5):
    rng = np.random.default_rng(0)
    A = rng.random((B, n_in), dtype=np.float32)
    W = rng.random((n_out, n_in), dtype=np.float32)
    b = np.zeros(n_out, np.float32)
    indptr = np.array([0, 2, 3], np.int64)
    ids = np.array([0, 3, 4], np.int32)
    return A, W, b, indptr, ids


def test_sampled_forward_checks_pairs():
    A, W, b, indptr, ids = _pairs()
    network.sampled_forward(A, W, b, indptr, ids, False)         # valid
    with pytest.raises(ValueError, match="act_ids"):
        network.sampled_forward(A, W, b, indptr, np.array([0, 3, 5], np.int32), False)
    with pytest.raises(ValueError, match="act_ids"):
        network.sampled_forward(A, W, b, indptr, np.array([0, -1, 2], np.int32), False)
    with pytest.raises(ValueError, match="act_indptr"):
        network.sampled_forward(A, W, b, np.array([0, 2, 3, 3], np.int64), ids, False)
    with pytest.raises(ValueError, match="act_indptr"):
        network.sampled_forward(A, W, b, np.array([0, 2, 9], np.int64), ids, False)
    with pytest.raises(ValueError, match="act_indptr"):
        bf16.sampled_forward_bf16(A, W, b, np.array([0, 4, 3], np.int64), ids, False)


def test_sampled_backward_checks_pairs():
    A, W, b, indptr, ids = _pairs()
    delta = np.ones(3, np.float32)
    gW, gb = np.zeros_like(W), np.zeros_like(b)
    with pytest.raises(ValueError, match="act_ids"):
        network.sampled_backward(A, W, indptr, np.array([0, 3, 7], np.int32), delta, gW, gb,
                                 False, True)
    with pytest.raises(ValueError, match="delta"):
        network.sampled_backward(A, W, indptr, ids, delta[:2], gW, gb, False, True)
    with pytest.raises(ValueError, match="act_indptr"):
        bf16.sampled_backward_bf16(A, W, np.array([0, 2], np.int64), ids, delta, gW, gb,
                                   False, True)


def test_softmax_kernels_check_labels():
    Z = np.zeros((2, 5), np.float32)
    w = np.ones(2)
    with pytest.raises(ValueError, match="label_ids"):
        network.softmax_xent_dense(Z, np.array([0, 1, 2], np.int64),
                                   np.array([1, 5], np.int32), w, 1.0)
    with pytest.raises(ValueError, match="label_indptr"):
        network.softmax_xent_dense(Z, np.array([0, 1, 3], np.int64),
                                   np.array([1, 2], np.int32), w, 1.0)
    with pytest.raises(ValueError, match="sample_weight"):
        network.softmax_xent_dense(Z, np.array([0, 1, 2], np.int64),
                                   np.array([1, 2], np.int32), w[:1], 1.0)
    z = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="label_indptr"):
        network.softmax_xent_pairs(z, np.array([0, 2, 3], np.int64), np.array([0, 1, 2], np.int32),
                                   np.array([0, 5, 1], np.int64), np.array([1], np.int32), w, 1.0)


def test_csr_kernels_check_row_pointers_and_feature_ids():
    W = np.ones((6, 3), np.float32)
    b = np.zeros(3, np.float32)
    indices = np.array([0, 5, 2], np.int32)
    data = np.ones(3, np.float32)
    with pytest.raises(ValueError, match="indptr"):
        network.dense_forward_csr(np.array([0, 2, 7], np.int32), indices, data, W, b, True)
    with pytest.raises(ValueError, match="data"):
        network.dense_forward_csr(np.array([0, 2, 3], np.int32), indices, data[:2], W, b, True)
    delta = np.ones((2, 3), np.float32)
    gW, gb = np.zeros_like(W), np.zeros_like(b)
    bad = np.array([0, 6, 2], np.int64)
    with pytest.raises(ValueError, match="indices"):
        network.dense_backward_csr(np.array([0, 2, 3], np.int64), bad, data, delta, gW, gb)
    with pytest.raises(ValueError, match="indptr"):
        network.dense_backward_csr(np.array([0, 3], np.int64), indices.astype(np.int64), data,
                                   delta, gW, gb)
    with pytest.raises(ValueError, match="indices"):
        network.dense_backward_csr_adam(np.array([0, 2, 3], np.int32), np.array([0, -1, 2],
                                        np.int32), data, delta, W.copy(), np.zeros_like(W),
                                        np.zeros_like(W), gb, 1e-3, 0.9, 0.999, 1e-8)
    with pytest.raises(ValueError, match="indptr"):
        bf16.dense_backward_csr_bf16(np.array([0, 1], np.int64), indices.astype(np.int64), data,
                                     delta, gW, gb)


def test_optimizers_check_rows_and_shapes():
    W = np.ones((4, 3), np.float32)
    g, m, v = np.zeros_like(W), np.zeros_like(W), np.zeros_like(W)
    rows = np.array([1, 4], np.int32)
    with pytest.raises(ValueError, match="rows"):
        network.adam_step(W, g, m, v, rows, 1e-3, 0.9, 0.999, 1e-8)
    with pytest.raises(ValueError, match="rows"):
        network.sgd_step(W, g, rows, 0.1)
    with pytest.raises(ValueError, match="shape of W"):
        network.adam_step(W, g, m[:2], v, None, 1e-3, 0.9, 0.999, 1e-8)
    hi, lo = bf16.split(W)
    with pytest.raises(ValueError, match="rows"):
        bf16.adam_step_split(hi, lo, g, m, v, np.array([-1], np.int32), 1e-3, 0.9, 0.999, 1e-8)
    with pytest.raises(ValueError, match="rows"):
        bf16.sgd_step_split(hi, lo, g, np.array([7], np.int32), 0.1)


# ----------------------------------------------------------------------------- the others
def test_table_kernels_check_bucket_ids():
    buckets = np.array([[0, 1], [3, 2]], np.int32)
    offsets, members = tables.build_tables(buckets, 2, 8, False, 0, 0)
    with pytest.raises(ValueError, match="buckets"):
        tables.build_tables(np.array([[0, 4]], np.int32), 2, 8, False, 0, 0)
    with pytest.raises(ValueError, match="buckets"):
        tables.query_tables(np.array([[0, 4]], np.int32), offsets, members, 2)
    with pytest.raises(ValueError, match="offsets"):
        tables.query_tables(np.array([[0, 1, 2]], np.int32), offsets, members, 2)
    labels = (np.zeros(2, np.int64), np.empty(0, np.int32))
    perm = np.arange(2, dtype=np.int32)
    with pytest.raises(ValueError, match="buckets"):
        active.select_vanilla(np.array([[0, -3]], np.int32), offsets, members,
                              np.zeros(2, np.int64), labels[1], 2, 10, 0, 0, perm, 0, 0)
    with pytest.raises(ValueError, match="label_ids"):
        active.select_active(np.zeros(2, np.int64), np.empty(0, np.int32),
                             np.empty(0, np.int32), np.array([0, 1], np.int64),
                             np.array([9], np.int32), 2, 0, 0, 0, 0, perm, 0, 0)


def test_sketch_kernels_check_buckets_and_rows():
    table = np.zeros((2, 4, 2))
    buckets = np.array([[0, 3], [1, 2]], np.int32)
    sketch.insert(buckets, np.ones(2), table)                     # valid
    with pytest.raises(ValueError, match="buckets"):
        sketch.insert(np.array([[0, 4]], np.int32), np.ones(1), table)
    with pytest.raises(ValueError, match="rows"):
        sketch.insert_rows(buckets, np.array([0, 2], np.int64), np.ones(2), table)
    with pytest.raises(ValueError, match="buckets"):
        sketch.query(np.array([[-1, 0]], np.int32), table, 0.0, 1.0)


def test_negative_and_zsl_kernels_check_ids():
    log_q = np.zeros(5, np.float32)
    with pytest.raises(ValueError, match="negs"):
        negative.assemble_sets(np.array([0, 1], np.int64), np.array([2], np.int32),
                               np.array([[1, 5]], np.int32), log_q, 0.0, True)
    with pytest.raises(ValueError, match="label_indptr"):
        negative.assemble_sets(np.array([0, 3], np.int64), np.array([2], np.int32),
                               np.array([[1, 4]], np.int32), log_q, 0.0, True)
    F = np.ones((2, 3), np.float32)
    A = np.ones((3, 4), np.float32)
    R = np.full((2, 2), 0.5, np.float32)
    zsl.attribute_softmax_grad(F, A, np.array([0, 1], np.int32), R, 2, 0, 0.2, 1.0, 1.0, 0.5)
    with pytest.raises(ValueError, match="y"):
        zsl.attribute_softmax_grad(F, A, np.array([0, 2], np.int32), R, 2, 0, 0.2, 1.0, 1.0,
                                   0.5)

"""Kernels split over a few threads (``Backend.chunk_bounds`` / ``run_chunks``): the chunked
result equals the serial one bit for bit, matches PyTorch, respects the BLAS thread limit
(one thread while chunks run, serial at a 1-thread limit, nested or concurrent calls
serial) and stays serial off the NumPy backend."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import threadpoolctl

import arraylib as xp
import arraylib.nn.functional as F
from arraylib._backends import _numpy as numpy_backend
from conftest import spy_chunks, to_numpy


def _cpu_backend():
    return xp.Device("cpu").backend


def _blas_limit():
    return min(lib.num_threads for lib in _cpu_backend()._blas_libs())


# (q shape, k shape, v shape, mask kind, mask shape, kwargs); batch axis 0 split in chunks
CASES = [
    ((4, 3, 5, 6), (4, 3, 7, 6), (4, 3, 7, 2), None, None, {}),
    ((4, 3, 5, 6), (4, 3, 5, 6), (4, 3, 5, 2), None, None, {"is_causal": True}),
    ((5, 2, 5, 6), (5, 2, 7, 6), (5, 2, 7, 3), "bool", (5, 7), {}),
    ((5, 2, 5, 6), (5, 2, 7, 6), (5, 2, 7, 3), "float", (5, 2, 5, 7), {}),
    ((3, 2, 5, 6), (1, 2, 7, 6), (3, 2, 7, 4), "float", (1, 2, 5, 7), {"scale": 0.4}),
    ((3, 4, 5, 6), (3, 2, 7, 6), (3, 2, 7, 4), None, None, {"enable_gqa": True}),
]


def _inputs(case, dtype, rng):
    qs, ks, vs, kind, ms, kw = CASES[case]
    arrays = [rng.standard_normal(s).astype(dtype) for s in (qs, ks, vs)]
    mask = None
    if kind == "bool":
        mask = rng.random(ms) > 0.3
        mask[1] = False  # a row with nothing to attend
    elif kind == "float":
        mask = rng.standard_normal(ms).astype(dtype)
    return arrays, mask, kw


def _run(arrays, mask, kw, g, dropout=0.0, seed=None):
    """Output and gradients (q, k, v and a float mask) of one forward + backward."""
    ts = [xp.asarray(a, requires_grad=True) for a in arrays]
    m = None
    if mask is not None:
        m = xp.asarray(mask, requires_grad=mask.dtype != bool)
    if seed is not None:
        xp.manual_seed(seed)
    out = F.scaled_dot_product_attention(*ts, attn_mask=m, dropout_p=dropout, **kw)
    out.backward(xp.asarray(g))
    grads = [t.grad for t in ts] + ([m.grad] if m is not None and m.requires_grad else [])
    return [to_numpy(out)] + [to_numpy(t) for t in grads]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_chunked_equals_serial_bit_for_bit(chunked, monkeypatch, case, dtype):
    rng = np.random.default_rng(case)
    arrays, mask, kw = _inputs(case, dtype, rng)
    L, Ev = arrays[0].shape[-2], arrays[2].shape[-1]
    g = rng.standard_normal(arrays[0].shape[:-2] + (L, Ev)).astype(dtype)
    counts = spy_chunks(monkeypatch)
    parallel = _run(arrays, mask, kw, g)
    assert counts == [2, 2]  # forward and backward, each in two chunks
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        serial = _run(arrays, mask, kw, g)
    assert len(parallel) == len(serial)
    for a, b in zip(parallel, serial):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def test_chunked_with_dropout_equals_serial(chunked):
    rng = np.random.default_rng(7)
    arrays, _, _ = _inputs(0, "float32", rng)
    g = rng.standard_normal((4, 3, 5, 2)).astype(np.float32)
    parallel = _run(arrays, None, {"is_causal": False}, g, dropout=0.3, seed=11)
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        serial = _run(arrays, None, {"is_causal": False}, g, dropout=0.3, seed=11)
    for a, b in zip(parallel, serial):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_chunked_matches_torch(chunked, torch, case, dtype):
    rng = np.random.default_rng(case)
    arrays, mask, kw = _inputs(case, dtype, rng)
    L, Ev = arrays[0].shape[-2], arrays[2].shape[-1]
    g = rng.standard_normal(arrays[0].shape[:-2] + (L, Ev)).astype(dtype)
    ours = _run(arrays, mask, kw, g)
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    tm = None
    if mask is not None:
        tm = torch.tensor(mask, requires_grad=mask.dtype != bool)
    to = torch.nn.functional.scaled_dot_product_attention(*tt, attn_mask=tm, **kw)
    to.backward(torch.tensor(g))
    theirs = [to.detach().numpy()] + [t.grad.numpy() for t in tt]
    if tm is not None and tm.requires_grad:
        theirs.append(tm.grad.numpy())
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-10)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, **tol)


def test_chunk_bounds_follow_the_blas_limit(monkeypatch):
    B = _cpu_backend()
    monkeypatch.setattr(numpy_backend, "CHUNK_MIN_WORK", 10)
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        assert B.chunk_bounds(16, 10 ** 6) == ((0, 16),)
    with threadpoolctl.threadpool_limits(3, user_api="blas"):
        assert B.chunk_bounds(16, 10 ** 6) == ((0, 5), (5, 10), (10, 16))
        assert B.chunk_bounds(2, 10 ** 6) == ((0, 1), (1, 2))  # no more ranges than items
        assert B.chunk_bounds(16, 25) == ((0, 8), (8, 16))  # no range under the minimum
        assert B.chunk_bounds(16, 15) == ((0, 16),)


def test_run_chunks_one_blas_thread_inside_then_restored(chunked):
    B = _cpu_backend()
    seen = {}

    def fn(lo, hi):
        seen[lo] = (threading.get_ident(), _blas_limit())
        return lo * 10 + hi
    assert B.run_chunks(fn, ((0, 2), (2, 5))) == [2, 25]  # in order
    assert {limit for _, limit in seen.values()} == {1}
    assert seen[0][0] == threading.get_ident() != seen[2][0]  # the caller runs the first
    assert _blas_limit() == 2


def test_run_chunks_nested_and_failing_calls(chunked):
    B = _cpu_backend()
    inner_threads = []

    def inner(lo, hi):
        inner_threads.append(threading.get_ident())
        return hi - lo

    def outer(lo, hi):
        return B.run_chunks(inner, ((lo, lo + 1), (lo + 1, hi)))  # nested: serial
    assert B.run_chunks(outer, ((0, 3), (3, 7))) == [[1, 2], [1, 3]]
    assert len(set(inner_threads)) == 2  # each outer chunk ran its inner ones on its thread

    def failing(lo, hi):
        if lo:
            raise ValueError(f"chunk {lo}")
        return lo
    with pytest.raises(ValueError, match="chunk 1"):
        B.run_chunks(failing, ((0, 1), (1, 2)))
    assert _blas_limit() == 2
    assert B.run_chunks(inner, ((0, 1), (1, 3))) == [1, 2]  # usable after a failure


def test_strict_device_runs_serially(monkeypatch):
    monkeypatch.setattr(numpy_backend, "CHUNK_MIN_WORK", 1)
    rng = np.random.default_rng(5)
    arrays, mask, kw = _inputs(2, "float64", rng)
    B = xp.Device("strict:device1").backend
    assert B.chunk_bounds(5, 10 ** 9) == ((0, 5),)
    calls = []
    assert B.run_chunks(lambda lo, hi: calls.append(threading.get_ident()) or hi,
                        ((0, 2), (2, 5))) == [2, 5]
    assert set(calls) == {threading.get_ident()}
    g = rng.standard_normal((5, 2, 5, 3))
    ts = [xp.asarray(a, device="strict:device1", requires_grad=True) for a in arrays]
    out = F.scaled_dot_product_attention(*ts, attn_mask=xp.asarray(mask, device="strict:device1"))
    out.backward(xp.asarray(g, device="strict:device1"))
    cpu = _run(arrays, mask, kw, g)
    np.testing.assert_allclose(to_numpy(out), cpu[0], rtol=1e-12, atol=1e-12)
    for t, c in zip(ts, cpu[1:]):
        np.testing.assert_allclose(to_numpy(t.grad), c, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(6, 5, 7), (9,), ()])
def test_gelu_chunked_equals_serial_and_torch(chunked, monkeypatch, torch, dtype, shape):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)

    def run():
        t = xp.asarray(x, requires_grad=True)
        out = F.gelu(t)
        out.backward(xp.asarray(g))
        return to_numpy(out), to_numpy(t.grad)
    counts = spy_chunks(monkeypatch)
    parallel = run()
    assert counts == ([2, 2] if shape else [])  # (a 0-d input: one range, run directly)
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        serial = run()
    for a, b in zip(parallel, serial):
        np.testing.assert_array_equal(a, b)
    tx = torch.tensor(x, requires_grad=True)
    to = torch.nn.functional.gelu(tx)
    to.backward(torch.tensor(g))
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(parallel[0], to.detach().numpy(), **tol)
    np.testing.assert_allclose(parallel[1], tx.grad.numpy(), **tol)

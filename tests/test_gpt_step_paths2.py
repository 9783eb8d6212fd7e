"""More paths of a GPT training step (issue 16): large uniform draws filled in ranges on
threads (each from the generator advanced to its first word: the sequential numbers and
state), dropout's mask formed from the raw words as they are drawn (the numbers ``rand``
gives, compared without forming them), the dropout kernel taking that mask, and GELU's
forward and backward over ranges of the flat input with one clip pass.  Chunked results
equal serial ones bit for bit and NumPy's own sequential stream, on cpu and
strict:device1, and match PyTorch and finite differences."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import arraylib as xp
import arraylib.nn.functional as F
from arraylib import _nn_kernels
from arraylib._backends import _random_host as host
from conftest import serial_blas, spy_chunks, to_numpy
from _fd import check_grads


def _cpu():
    return xp.Device("cpu").backend


# -- uniform draws in ranges ----------------------------------------------------------------
SEQUENCES = [[(5,), (1001,), (3,), (700,)], [(7,), (7,), (2000,)], [(1,), (2,)],
             [(3001,), (1,)], [(0,), (4, 5)], [(1,), (3,), (1,), (5,)]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seq", range(len(SEQUENCES)))
def test_uniform_draws_in_ranges_are_numpys_sequence(chunked, monkeypatch, seq, dtype):
    """Any mix of float32 and float64 draws (odd float32 counts leave half a word
    pending) gives NumPy's sequential numbers, and the same generator state after."""
    counts = spy_chunks(monkeypatch)
    B, rng, ref = _cpu(), host.new_rng(7), host.new_rng(7)
    for dt in (np.dtype(dtype), np.dtype(np.float32)):
        for shape in SEQUENCES[seq]:
            got = host.draw(B, rng, "uniform", shape, dt)
            np.testing.assert_array_equal(got, ref.random(shape, dtype=dt))
            assert got.dtype == dt and got.shape == shape
    assert rng.bit_generator.state == ref.bit_generator.state
    if max(np.prod(shape) for shape in SEQUENCES[seq]) >= 4:
        assert 2 in counts  # (the larger draws were split)


def test_rand_same_at_one_and_two_threads(chunked):
    def draws():
        xp.manual_seed(5)
        return [to_numpy(xp.rand(333, 7)), to_numpy(xp.rand(9, dtype=xp.float64)),
                to_numpy(xp.randn(4))]
    parallel = draws()
    with serial_blas():
        serial = draws()
    for a, b in zip(parallel, serial):
        np.testing.assert_array_equal(a, b)


# -- dropout's mask ----------------------------------------------------------------------
P_VALUES = [0.3, 0.1, 0.5, 1e-9, 0.999999999, 0.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize("pending", [0, 1])
def test_dropout_mask_is_rands_draws_compared(chunked, p, dtype, pending):
    """``(u >= p) / (1 - p)`` for ``u`` the numbers ``rand`` would give, the generator
    left in ``rand``'s state, whether a half word was pending or not."""
    B, rng, ref = _cpu(), host.new_rng(3), host.new_rng(3)
    rng.random(pending, dtype=np.float32)
    ref.random(pending, dtype=np.float32)
    for shape in [(50, 41), (1,), (2,), (3,), (5,), (0, 3), (3, 7, 5)]:
        mask = host.draw(B, rng, "dropout", shape, np.dtype(dtype), p=p)
        u = ref.random(shape, dtype=dtype)
        np.testing.assert_array_equal(mask, (u >= p).astype(dtype) * dtype(1.0 / (1.0 - p)))
        assert mask.dtype == dtype
        assert rng.bit_generator.state == ref.bit_generator.state


def test_split_draws_from_two_threads_take_disjoint_numbers(chunked):
    """Two threads drawing split masks and uniforms from one generator: each draw takes
    its numbers under the generator's lock, so together they take exactly the sequential
    draws' words (none reused, none skipped)."""
    B, rng, ref = _cpu(), host.new_rng(4), host.new_rng(4)
    f32 = np.dtype(np.float32)

    def work(kind):
        for _ in range(40):
            host.draw(B, rng, kind, (64, 33), f32, **({"p": 0.5} if kind == "dropout" else {}))
    threads = [threading.Thread(target=work, args=(k,)) for k in ("dropout", "uniform")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ref.random(80 * 64 * 33, dtype=f32)
    assert rng.bit_generator.state["state"] == ref.bit_generator.state["state"]


def test_dropout_mask_probability_one_and_half_precision():
    B, rng = _cpu(), host.new_rng(0)
    assert not host.draw(B, rng, "dropout", (4, 5), np.dtype(np.float32), p=1.0).any()
    half = host.draw(B, rng, "dropout", (400,), np.dtype(np.float16), p=0.5)
    assert half.dtype == np.float16 and set(np.unique(half)) == {0.0, 2.0}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_same_at_one_and_two_threads_and_on_strict(chunked, dtype):
    rng = np.random.default_rng(1)
    x, g = (rng.standard_normal((37, 29)).astype(dtype) for _ in range(2))

    def run(device):
        t = xp.asarray(x, device=device, requires_grad=True)
        xp.manual_seed(21)
        out = F.dropout(t, 0.25)
        out.backward(xp.asarray(g, device=device))
        return to_numpy(out), to_numpy(t.grad), to_numpy(xp.rand(3))
    parallel = run("cpu")
    with serial_blas():
        serial = run("cpu")
    strict = run("strict:device1")
    for a, b, c in zip(parallel, serial, strict):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    xp.manual_seed(21)
    keep = to_numpy(xp.rand(37, 29, dtype=getattr(xp, dtype))) >= 0.25
    scale = np.array(1 / 0.75, dtype)
    np.testing.assert_array_equal(parallel[0], np.where(keep, x * scale, 0))
    np.testing.assert_array_equal(parallel[1], np.where(keep, g * scale, 0))
    assert 0.6 < keep.mean() < 0.9


def test_dropout_kernel_takes_a_mask(device):
    """``dropout(x, mask)``: the product, its gradient the mask (FD), no gradient to the
    mask, one node."""
    rng = np.random.default_rng(4)
    mask = xp.asarray(np.where(rng.random((4, 5)) >= 0.4, 1 / 0.6, 0.0), device=device)
    check_grads(lambda x: _nn_kernels.dropout(x, mask), [rng.standard_normal((4, 5))], device)
    x = xp.asarray(rng.standard_normal((4, 5)), device=device, requires_grad=True)
    out = _nn_kernels.dropout(x, mask)
    assert out.grad_fn.name == "dropout"
    (g,) = xp.autograd.grad(xp.sum(out * x), x, create_graph=True)
    np.testing.assert_allclose(to_numpy(g), 2 * to_numpy(mask) * to_numpy(x.detach()),
                               rtol=1e-12)


def test_dropout_mask_on_strict_device_and_errors():
    xp.manual_seed(2)
    m = _nn_kernels.dropout_mask((6, 4), 0.5, dtype=xp.float32, device="strict:device1")
    assert m.device == xp.Device("strict:device1") and m.dtype == xp.float32
    xp.manual_seed(2)
    np.testing.assert_array_equal(to_numpy(m), to_numpy(
        _nn_kernels.dropout_mask((6, 4), 0.5, dtype=xp.float32)))
    with pytest.raises(TypeError, match="dropout_mask"):
        _nn_kernels.dropout_mask((3,), 0.5, dtype=xp.int64)


def test_sdpa_dropout_reproducible_across_threads_and_devices(chunked):
    rng = np.random.default_rng(9)
    q, k, v, g = (rng.standard_normal((3, 2, 9, 4)) for _ in range(4))

    def run(device):
        ts = [xp.asarray(a, device=device, requires_grad=True) for a in (q, k, v)]
        xp.manual_seed(8)
        out = F.scaled_dot_product_attention(*ts, dropout_p=0.2, is_causal=True)
        out.backward(xp.asarray(g, device=device))
        return [to_numpy(out)] + [to_numpy(t.grad) for t in ts]
    parallel = run("cpu")
    with serial_blas():
        serial = run("cpu")
    strict = run("strict:device1")
    for a, b, c in zip(parallel, serial, strict):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)


# -- GELU over ranges of the flat input, one clip pass ---------------------------------------
def test_clip_scalars_matches_minimum_of_maximum(device):
    x = np.array([np.nan, -np.inf, -7.0, -5.5, 0.25, 5.5, 9.0, np.inf], dtype=np.float32)
    B = device.backend
    lo, hi = B.asarray(-5.5, dtype=xp.float32), B.asarray(5.5, dtype=xp.float32)
    got = B.to_numpy(B.clip_scalars(B.asarray(x), lo, hi))
    np.testing.assert_array_equal(got, np.minimum(np.maximum(x, -5.5), 5.5).astype(np.float32))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(6, 5, 7), (3, 1), (64, 513)])
def test_gelu_ranges_equal_serial_and_torch(chunked, monkeypatch, torch, dtype, shape):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    x.flat[:3] = [-9.0, 9.0, 0.0]  # (beyond the clip, and zero)
    g = rng.standard_normal(shape).astype(dtype)

    def run(data):
        t = xp.asarray(data, requires_grad=True)
        out = F.gelu(t)
        out.backward(xp.asarray(g))
        return to_numpy(out), to_numpy(t.grad)
    counts = spy_chunks(monkeypatch)
    parallel = run(x)
    assert counts == [2, 2]
    strided = run(np.asfortranarray(x))  # (a non-contiguous input: flattened by a copy)
    with serial_blas():
        serial = run(x)
    for a, b, c in zip(parallel, serial, strided):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    tx = torch.tensor(x, requires_grad=True)
    to = torch.nn.functional.gelu(tx)
    to.backward(torch.tensor(g))
    # (float32: the CDF's fit is within 2.5e-7, times |x| <= 5.5 where it is not 0 or 1)
    tol = dict(rtol=1e-5, atol=1.5e-6) if dtype == "float32" else dict(rtol=1e-10,
                                                                       atol=1e-12)
    np.testing.assert_allclose(parallel[0], to.detach().numpy(), **tol)
    np.testing.assert_allclose(parallel[1], tx.grad.numpy(), **tol)


def test_gelu_on_strict_device_matches_cpu(device):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, 6)) * 2
    check_grads(F.gelu, [x], device)
    t = xp.asarray(x.astype(np.float32), device=device)
    np.testing.assert_array_equal(to_numpy(F.gelu(t)), to_numpy(F.gelu(xp.asarray(
        x.astype(np.float32)))))

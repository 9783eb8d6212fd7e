"""The fast paths of the LSTM language-model step: the embedding backward (rows added at
repeated indices), ``clip_grad_norm_``'s norm and the recurrent time loop, against PyTorch,
NumPy's ``np.add.at`` and finite differences."""
from __future__ import annotations

import math

import numpy as np
import pytest

import arraylib as xp
from arraylib import nn
from arraylib._backends._numpy import _add_at_rows
from arraylib.nn import functional as F
from conftest import assert_close, to_numpy
from _fd import check_grads

INDEX_CASES = {
    "uniform": lambda rng: rng.integers(0, 50, (7, 5)),
    "unique": lambda rng: rng.permutation(50)[:12],
    "one index": lambda rng: np.full(40, 3),  # more repeats than rounds: the segment sum
    "few repeats": lambda rng: np.array([4, 1, 4, 0, 4, 1, 9]),
    "negative": lambda rng: rng.integers(-50, 50, (6, 4)),
}


@pytest.mark.parametrize("case", sorted(INDEX_CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_at_rows_matches_numpy(case, dtype):
    rng = np.random.default_rng(0)
    idx = INDEX_CASES[case](rng)
    values = rng.standard_normal(idx.shape + (3, 2)).astype(dtype)
    target = np.zeros((50, 3, 2), dtype)
    expected = target.copy()
    np.add.at(expected, idx, values)
    got = target.copy()
    _add_at_rows(got, idx, values, direct_up_to=0)  # (small: the rounds, not np.add.at)
    if case != "one index":  # the rounds add in np.add.at's order: the same sums exactly
        np.testing.assert_array_equal(got, expected)
    else:  # (the segment sum rounds otherwise)
        np.testing.assert_allclose(got, expected, rtol=1e-5 if dtype == np.float32 else 1e-13)
    target = rng.standard_normal((50, 3, 2)).astype(dtype)  # rounding may differ here
    expected, got = target.copy(), target.copy()
    np.add.at(expected, idx, values)
    _add_at_rows(got, idx, values, direct_up_to=0)  # (small: the rounds, not np.add.at)
    np.testing.assert_allclose(got, expected, rtol=1e-6 if dtype == np.float32 else 1e-13,
                               atol=1e-6)


def test_add_at_rows_falls_back_to_numpy():
    target = np.zeros((5, 2))
    _add_at_rows(target, np.array([1, 1]), np.ones(2))  # values broadcast: numpy's loop
    np.testing.assert_array_equal(target[1], [2.0, 2.0])
    with pytest.raises(IndexError):
        _add_at_rows(target, np.array([0, 5]), np.ones((2, 2)))


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_embedding_grad_matches_torch(torch, device, padding_idx, dtype):
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((30, 6)).astype(dtype)
    idx = rng.integers(0, 30, (9, 4))
    idx[0, :] = 2  # repeats, and the padding row
    idx[1, 0] = 29
    g = rng.standard_normal((9, 4, 6)).astype(dtype)
    w = xp.asarray(weight, device=device, requires_grad=True)
    out = F.embedding(xp.asarray(idx, device=device), w, padding_idx=padding_idx)
    out.backward(xp.asarray(g, device=device))
    tw = torch.tensor(weight, requires_grad=True)
    tout = torch.nn.functional.embedding(torch.from_numpy(idx), tw, padding_idx=padding_idx)
    tout.backward(torch.from_numpy(g))
    tol = 1e-5 if dtype == "float32" else 1e-12
    assert_close(out, tout.detach().numpy(), rtol=tol, atol=tol)
    assert_close(w.grad, tw.grad.numpy(), rtol=tol, atol=tol)
    if padding_idx is not None:
        assert not np.any(to_numpy(w.grad)[padding_idx])


def test_take_rows_grad_fd(device):
    idx = xp.asarray(np.array([[0, 3], [3, 3], [1, 0]]), device=device)
    x = np.random.default_rng(2).standard_normal((4, 3))
    check_grads(lambda t: xp.take(t, xp.reshape(idx, (-1,)), axis=0) ** 2, [x], device)
    check_grads(lambda t: t[idx, ...] * 3.0, [x], device)


def test_repeat_by_tensor_grad(device):
    """repeat's adjoint with tensor repeats goes through the backend's scatter_add."""
    x = xp.asarray(np.arange(6.0).reshape(2, 3), device=device, requires_grad=True)
    reps = xp.asarray(np.array([2, 0, 3]), device=device)
    y = xp.repeat(x, reps, axis=1)
    g = np.random.default_rng(3).standard_normal((2, 5))
    y.backward(xp.asarray(g, device=device))
    expected = np.stack([g[:, :2].sum(1), np.zeros(2), g[:, 2:].sum(1)], axis=1)
    assert_close(x.grad, expected, rtol=1e-12, atol=1e-12)


def _grads(rng, dtypes, scale):
    shapes = [(40, 7), (7,), (3, 2, 5), ()]
    return [np.asarray(rng.standard_normal(s) * scale).astype(dtypes[k % len(dtypes)])
            for k, s in enumerate(shapes)]


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("dtypes", [("float32",), ("float64",), ("float32", "float64")])
@pytest.mark.parametrize("scale", [10.0, 1e-3])  # clipped, and not (the coefficient 1)
def test_clip_grad_norm_matches_torch(torch, device, norm_type, dtypes, scale):
    grads = _grads(np.random.default_rng(4), dtypes, scale)
    params, tparams = [], []
    for g in grads:
        p = nn.Parameter(xp.zeros(g.shape, dtype=xp.float32 if g.dtype == np.float32
                                  else xp.float64, device=device))
        p.grad = xp.asarray(g, device=device)
        params.append(p)
        tp = torch.nn.Parameter(torch.zeros(g.shape, dtype=getattr(torch, str(g.dtype))))
        tp.grad = torch.from_numpy(g.copy())
        tparams.append(tp)
    total = nn.utils.clip_grad_norm_(params, 0.5, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, 0.5, norm_type)
    np.testing.assert_allclose(float(to_numpy(total)), float(ttotal), rtol=1e-5)
    for p, tp in zip(params, tparams):
        assert p.grad.dtype == p.dtype
        np.testing.assert_allclose(to_numpy(p.grad), tp.grad.numpy(), rtol=1e-5, atol=1e-9)


def test_total_norm_float64_exact():
    rng = np.random.default_rng(5)
    grads = [rng.standard_normal(s) for s in [(300, 20), (20,), (1,)]]
    total = nn.utils.get_total_norm([xp.asarray(g) for g in grads])
    expected = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
    assert abs(float(total) - expected) <= 1e-12 * expected
    assert float(nn.utils.get_total_norm([xp.zeros((0, 3))])) == 0.0


def test_clip_grad_norm_nonfinite():
    p = nn.Parameter(xp.zeros(3))
    p.grad = xp.asarray([1.0, math.inf, 0.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert math.isinf(float(nn.utils.clip_grad_norm_([p], 1.0)))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lstm_saturated_gates_match_torch(torch, device, dtype):
    """The storage time loop's derivatives taken from the gates (a (1 - a), 1 - g^2), where
    many gates saturate: outputs and gradients of inputs, states and weights as PyTorch's."""
    rng = np.random.default_rng(6)
    torch.manual_seed(0)
    tm = torch.nn.LSTM(4, 5, num_layers=2).to(getattr(torch, dtype))
    with torch.no_grad():
        for p in tm.parameters():
            p.mul_(6.0)  # pre-activations of several units: most gates near 0 or 1
    am = nn.LSTM(4, 5, num_layers=2).to(getattr(xp, dtype))
    am.load_state_dict({k: xp.asarray(v.detach().numpy().copy())
                        for k, v in tm.state_dict().items()})
    am.to(device)
    x = rng.standard_normal((6, 3, 4)).astype(dtype) * 2
    h0, c0 = (rng.standard_normal((2, 3, 5)).astype(dtype) for _ in range(2))
    tin = [torch.tensor(a, requires_grad=True) for a in (x, h0, c0)]
    ain = [xp.asarray(a, device=device, requires_grad=True) for a in (x, h0, c0)]
    tout, (th, tc) = tm(tin[0], (tin[1], tin[2]))
    aout, (ah, ac) = am(ain[0], (ain[1], ain[2]))
    gs = [rng.standard_normal(tuple(t.shape)).astype(dtype) for t in (tout, th, tc)]
    torch.autograd.backward([tout, th, tc], [torch.tensor(g) for g in gs])
    xp.autograd.backward([aout, ah, ac], [xp.asarray(g, device=device) for g in gs])
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == "float64" else dict(rtol=1e-5, atol=1e-5)
    for a, t in zip((aout, ah, ac), (tout, th, tc)):
        np.testing.assert_allclose(to_numpy(a), t.detach().numpy(), **tol)
    for a, t in zip(ain, tin):
        np.testing.assert_allclose(to_numpy(a.grad), t.grad.numpy(), **tol)
    tp = dict(tm.named_parameters())
    for name, p in am.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), tp[name].grad.numpy(), **tol,
                                   err_msg=name)


def test_clip_grad_norm_half_precision_no_overflow(torch):
    """float16 gradients whose sum of squares exceeds float16's range: the norm is still
    finite (accumulated in float32), in the gradients' dtype, as PyTorch's."""
    g = np.full((64, 64), 8.0, np.float16)  # sum of squares 262144 > 65504
    p = nn.Parameter(xp.zeros((64, 64), dtype=xp.float16))
    p.grad = xp.asarray(g)
    tp = torch.nn.Parameter(torch.zeros(64, 64, dtype=torch.float16))
    tp.grad = torch.from_numpy(g.copy())
    total = nn.utils.clip_grad_norm_([p], 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_([tp], 1.0)
    assert total.dtype == xp.float16
    np.testing.assert_allclose(float(total), float(ttotal), rtol=1e-3)
    np.testing.assert_allclose(to_numpy(p.grad).astype(np.float32),
                               tp.grad.float().numpy(), rtol=2e-3)

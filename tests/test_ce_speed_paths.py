"""The language-model loss paths at speed: ``cross_entropy`` (one node, the target's logit
taken, four passes forward, two back), ``log_softmax`` (one node, the composite's
rounding) and ``nll_loss`` on its output (the target taken, zeros plus one entry per row
back).  Values and gradients against PyTorch in float32 and float64, ignored rows,
-inf and overflowing logits, forward mode, second order, vmap, on cpu and strict:device1."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import arraylib as xp
import arraylib.nn.functional as F
from arraylib.autograd import forward_ad as fwAD

from _fd import check_grads
from conftest import assert_close, to_numpy

_TOL = {"float32": dict(rtol=1e-6, atol=1e-7), "float64": dict(rtol=1e-12, atol=1e-15)}


def _logits(rng, n, c, dtype):
    return (3 * rng.standard_normal((n, c))).astype(dtype)


def _targets(n, c, ignore_index):
    t = np.arange(n) * 7 % c
    if ignore_index is not None:
        t[1::3] = ignore_index
    return t


def _losses(f, path, x, t, **kw):
    """The loss along ``path`` with the functional module ``f``: fused cross-entropy, or
    nll_loss of log_softmax."""
    if path == "cross_entropy":
        return f.cross_entropy(x, t, **kw)
    return f.nll_loss(f.log_softmax(x, dim=1), t, **kw)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index", [None, -100, 2])
@pytest.mark.parametrize("path", ["cross_entropy", "log_softmax+nll_loss"])
def test_values_and_gradients_match_torch(dtype, reduction, ignore_index, path, device, torch):
    rng = np.random.default_rng(0)
    host = _logits(rng, 9, 6, dtype)
    target = _targets(9, 6, ignore_index)
    kw = {"reduction": reduction}
    if ignore_index is not None:
        kw["ignore_index"] = ignore_index
    a = xp.asarray(host, device=device, requires_grad=True)
    b = torch.tensor(host, requires_grad=True)
    la = _losses(F, path, a, xp.asarray(target, device=device), **kw)
    lb = _losses(torch.nn.functional, path, b, torch.tensor(target), **kw)
    assert la.grad_fn.name == path.split("+")[-1]
    assert la.dtype == getattr(xp, dtype) and la.shape == tuple(lb.shape)
    assert_close(la, lb.detach().numpy(), **_TOL[dtype])
    u = (1.0 + np.arange(la.size, dtype=dtype)).reshape(la.shape)
    (la * xp.asarray(u, device=device)).sum().backward()
    (lb * torch.tensor(u)).sum().backward()
    assert_close(a.grad, b.grad.numpy(), **_TOL[dtype])


@pytest.mark.parametrize("path", ["cross_entropy", "log_softmax+nll_loss"])
def test_infinite_and_overflowing_logits(path, device, torch):
    """-inf and overflowing logits of other classes keep the loss finite; a -inf target
    logit gives +inf, as PyTorch's."""
    host = np.array([[1.0, -np.inf, 2.0, 0.5],
                     [0.5, 3e38, -3e38, 1.0],
                     [-np.inf, 0.25, -np.inf, 3.0],
                     [2.0, 1.0, -3e38, -np.inf]], dtype=np.float32)
    target = np.array([0, 1, 3, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for reduction in ("none", "mean"):
            a = xp.asarray(host, device=device, requires_grad=True)
            b = torch.tensor(host, requires_grad=True)
            la = _losses(F, path, a, xp.asarray(target, device=device), reduction=reduction)
            lb = _losses(torch.nn.functional, path, b, torch.tensor(target), reduction=reduction)
            assert np.all(np.isfinite(to_numpy(la)))
            assert_close(la, lb.detach().numpy(), rtol=1e-6, atol=1e-6)
            la.sum().backward()
            lb.sum().backward()
            assert np.all(np.isfinite(to_numpy(a.grad)))
            assert_close(a.grad, b.grad.numpy(), rtol=1e-6, atol=1e-7)
        hit = _losses(F, path, xp.asarray(host, device=device),
                      xp.asarray(np.array([1, 1, 0, 3]), device=device), reduction="none")
        assert to_numpy(hit).tolist()[2:] == [np.inf, np.inf]


def test_log_softmax_rounds_as_the_composite(device):
    """One node whose value and gradient are the composite's ``(x - max) - log(sum(exp(x -
    max)))`` (the max detached), bit for bit."""
    rng = np.random.default_rng(3)
    host = _logits(rng, 50, 300, "float32")
    u = rng.standard_normal((50, 300)).astype(np.float32)
    a = xp.asarray(host, device=device, requires_grad=True)
    out = F.log_softmax(a, dim=1)
    assert out.grad_fn.name == "log_softmax"
    out.backward(xp.asarray(u, device=device))
    c = xp.asarray(host, device=device, requires_grad=True)
    z = c - xp.max(c.detach(), axis=1, keepdims=True)
    ref = z - xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))
    ref.backward(xp.asarray(u, device=device))
    np.testing.assert_array_equal(to_numpy(out), to_numpy(ref))
    np.testing.assert_array_equal(to_numpy(a.grad), to_numpy(c.grad))


@pytest.mark.parametrize("path", ["cross_entropy", "log_softmax+nll_loss"])
def test_backward_twice_with_retain_graph(path, device):
    """The forward's kept exponentials are not overwritten by a backward."""
    rng = np.random.default_rng(4)
    a = xp.asarray(_logits(rng, 5, 7, "float64"), device=device, requires_grad=True)
    loss = _losses(F, path, a, xp.asarray(_targets(5, 7, -100), device=device))
    loss.backward(retain_graph=True)
    first = to_numpy(a.grad).copy()
    a.grad = None
    loss.backward()
    np.testing.assert_array_equal(to_numpy(a.grad), first)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("path", ["cross_entropy", "log_softmax+nll_loss"])
def test_first_and_second_order_against_finite_differences(reduction, path, device):
    rng = np.random.default_rng(5)
    target = xp.asarray(np.array([1, -100, 3, 0, 3]), device=device)
    fn = lambda x: _losses(F, path, x, target, reduction=reduction)  # noqa: E731
    check_grads(fn, [_logits(rng, 5, 4, "float64")], device)  # reverse and forward mode

    def grad_of(x):
        if not x.requires_grad:
            x = x.requires_grad_()
        (g,) = xp.autograd.grad(xp.sum(fn(x) ** 2), [x], create_graph=True)
        return g
    check_grads(grad_of, [_logits(rng, 5, 4, "float64")], device, forward=False)


@pytest.mark.parametrize("path", ["cross_entropy", "log_softmax+nll_loss"])
def test_forward_mode_tangent(path, device, torch):
    rng = np.random.default_rng(6)
    host, tan = _logits(rng, 6, 5, "float64"), rng.standard_normal((6, 5))
    target = _targets(6, 5, -100)
    with fwAD.dual_level():
        y = _losses(F, path, fwAD.make_dual(xp.asarray(host, device=device),
                                             xp.asarray(tan, device=device)),
                    xp.asarray(target, device=device))
        ty = fwAD.unpack_dual(y).tangent
    tfw = torch.autograd.forward_ad  # (the reference's own forward mode)
    with tfw.dual_level():
        yb = _losses(torch.nn.functional, path, tfw.make_dual(torch.tensor(host), torch.tensor(tan)),
                     torch.tensor(target))
        tb = tfw.unpack_dual(yb).tangent
    np.testing.assert_allclose(to_numpy(ty), tb.numpy(), rtol=1e-12)


@pytest.mark.parametrize("path", ["cross_entropy", "log_softmax+nll_loss"])
def test_vmap_and_per_example_gradients(path, device):
    rng = np.random.default_rng(7)
    xs = xp.asarray(np.stack([_logits(rng, 4, 6, "float64") for _ in range(3)]), device=device)
    ts = xp.asarray(np.stack([_targets(4, 6, -100), _targets(4, 6, None),
                              np.full(4, -100)]), device=device)
    fn = lambda x, t: _losses(F, path, x, t)  # noqa: E731
    with warnings.catch_warnings():  # (the third example counts no row: 0 / 0)
        warnings.simplefilter("ignore", RuntimeWarning)
        v = xp.func.vmap(fn)(xs, ts)
        looped = [to_numpy(fn(xs[i], ts[i])) for i in range(3)]
        g = xp.func.vmap(xp.func.grad(fn))(xs, ts)
        g_looped = [to_numpy(xp.func.grad(fn)(xs[i], ts[i])) for i in range(3)]
    np.testing.assert_allclose(to_numpy(v)[:2], looped[:2], rtol=1e-12)
    assert np.isnan(to_numpy(v)[2]) and np.isnan(looped[2])
    np.testing.assert_allclose(to_numpy(g), np.stack(g_looped), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("func", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("target, bad", [([0, 4, 1], 4), ([0, -1, 1], -1), ([0, -100, 7], 7)])
def test_out_of_bounds_target_names_the_function(func, target, bad, device):
    x = xp.asarray(np.zeros((3, 4)), device=device)
    with pytest.raises(IndexError, match=f"^{func}: target {bad} is out of bounds for 4 classes"):
        getattr(F, func)(x, xp.asarray(np.array(target), device=device))


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "uint8", "int64"])
@pytest.mark.parametrize("func", ["cross_entropy", "nll_loss"])
def test_target_range_check_per_index_dtype(func, dtype, device):
    # Backend.indices_below: one reduction over the targets viewed unsigned (a negative
    # target is above every class count), the same answers as a min and a max
    x = xp.asarray(np.random.default_rng(0).standard_normal((4, 5)), device=device)
    good = np.array([0, 4, 2, 1], dtype=dtype)
    want = getattr(F, func)(x, xp.asarray(good.astype(np.int64), device=device))
    got = getattr(F, func)(x, xp.asarray(good, device=device))
    np.testing.assert_array_equal(to_numpy(got), to_numpy(want))
    bads = [5, 127] if dtype == "uint8" else [5, -1, np.iinfo(dtype).min]
    for bad in bads:
        t = good.copy()
        t[2] = bad
        with pytest.raises(IndexError, match=f"^{func}: target {bad} is out of bounds for 5"):
            getattr(F, func)(x, xp.asarray(t, device=device))


@pytest.mark.parametrize("func", ["cross_entropy", "nll_loss"])
def test_narrow_target_dtypes_with_values_they_cannot_hold(func, device):
    # ignore_index -100 next to uint8 targets, 300 classes next to int8 targets: the
    # checks compare only with values the targets' dtype holds (array-api-strict raises
    # OverflowError for the others)
    x = xp.asarray(np.random.default_rng(1).standard_normal((3, 300)), device=device)
    t8 = np.array([0, 120, 7], dtype="int8")
    want = getattr(F, func)(x, xp.asarray(t8.astype(np.int64), device=device))
    np.testing.assert_array_equal(
        to_numpy(getattr(F, func)(x, xp.asarray(t8, device=device))), to_numpy(want))
    with pytest.raises(IndexError, match=f"^{func}: target -3 is out of bounds for 300"):
        getattr(F, func)(x, xp.asarray(np.array([0, -3, 7], dtype="int8"), device=device))
    x5 = x[:, :5]
    with pytest.raises(IndexError, match=f"^{func}: target 9 is out of bounds for 5"):
        getattr(F, func)(x5, xp.asarray(np.array([0, 9, 2], dtype="uint8"), device=device))
    kept = getattr(F, func)(x5, xp.asarray(np.array([0, 4, 2], dtype="uint8"), device=device),
                            ignore_index=3)
    np.testing.assert_array_equal(to_numpy(kept), to_numpy(getattr(F, func)(
        x5, xp.asarray(np.array([0, 4, 2]), device=device), ignore_index=3)))

"""nn.functional at the edges (issue 14): finite losses where PyTorch's are finite, PyTorch's
gradient conventions, ``inplace=True`` in place, out-of-range indices, bad arguments, empty
and ceil-mode shapes, and an exact ``erf`` on the standard namespace alone.  Values, gradients
and exception types are compared with PyTorch where it is installed."""
from __future__ import annotations

import contextlib
import itertools
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

import arraylib as xp
import arraylib.nn as nn
import arraylib.nn.functional as F
from arraylib._nn_kernels import erf

from conftest import assert_close, to_numpy


def _pair(torch, value, device, dtype="float64", requires_grad=True):
    v = np.asarray(value, dtype=dtype)
    a = xp.asarray(v.copy(), device=device, requires_grad=requires_grad)
    t = torch.tensor(v.copy(), requires_grad=requires_grad)
    return a, t


@contextlib.contextmanager
def _quiet():
    """-inf and overflowing logits make NumPy warn; PyTorch doesn't, and neither do the
    comparisons care."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


# -- item 6: losses finite where PyTorch's are -----------------------------------------
_MASKED = np.array([[1.0, -np.inf, 2.0, 0.5],
                    [0.5, 3e38, -3e38, 1.0],
                    [-np.inf, 0.25, -np.inf, 3.0],
                    [2.0, 1.0, -3e38, -np.inf]], dtype=np.float32)
_TARGET = np.array([0, 1, 3, 1])
_CE_CASES = {
    "fused-mean": dict(),
    "fused-sum": dict(reduction="sum"),
    "fused-none": dict(reduction="none"),
    "weight": dict(weight=[1.0, 2.0, 0.5, 3.0]),
    "weight-none": dict(weight=[1.0, 2.0, 0.5, 3.0], reduction="none"),
    "ignored-row": dict(ignore_index=1),
    "ignored-row-none": dict(ignore_index=1, reduction="none"),
    "ignored-row-weight": dict(ignore_index=3, weight=[1.0, 2.0, 0.5, 3.0]),
}


@pytest.mark.parametrize("case", sorted(_CE_CASES))
@pytest.mark.parametrize("layout", ["2d", "nd", "log_softmax+nll_loss"])
def test_cross_entropy_masked_logits_finite(case, layout, device, torch):
    kw = dict(_CE_CASES[case])
    x, t = _MASKED, _TARGET
    if layout == "nd":  # (N, C, 2): the same rows twice along a trailing axis
        x = np.stack([x, x[::-1]], axis=-1)
        t = np.stack([t, t[::-1]], axis=-1)
    with _quiet():
        a, b = _pair(torch, x, device, "float32")
        akw = {k: xp.asarray(np.float32(v), device=device) if k == "weight" else v
               for k, v in kw.items()}
        bkw = {k: torch.tensor(np.float32(v)) if k == "weight" else v for k, v in kw.items()}
        at, bt = xp.asarray(t, device=device), torch.tensor(t)
        if layout == "log_softmax+nll_loss":
            la = F.nll_loss(F.log_softmax(a, dim=1), at, **akw)
            lb = torch.nn.functional.nll_loss(torch.log_softmax(b, dim=1), bt, **bkw)
        else:
            la = F.cross_entropy(a, at, **akw)
            lb = torch.nn.functional.cross_entropy(b, bt, **bkw)
        assert np.all(np.isfinite(to_numpy(la)))
        assert_close(la, lb.detach().numpy(), rtol=1e-6, atol=1e-6)
        w = np.arange(1.0, 1.0 + la.size, dtype=np.float32).reshape(la.shape)
        (la * xp.asarray(w, device=device)).sum().backward()
        (lb * torch.tensor(w)).sum().backward()
    assert np.all(np.isfinite(to_numpy(a.grad)))
    assert_close(a.grad, b.grad.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_label_smoothing_masked_logits(reduction, device, torch):
    """Label smoothing sums every log-probability: -inf there is +inf in both libraries,
    never NaN, and the gradient stays finite."""
    x = _MASKED[[0, 2]]  # -inf logits only (no overflow)
    with _quiet():
        for weight in (None, np.float32([1.0, 2.0, 0.5, 3.0])):
            a, b = _pair(torch, x, device, "float32")
            akw = {} if weight is None else {"weight": xp.asarray(weight, device=device)}
            bkw = {} if weight is None else {"weight": torch.tensor(weight)}
            la = F.cross_entropy(a, xp.asarray(_TARGET[[0, 2]], device=device),
                                 label_smoothing=0.1, reduction=reduction, **akw)
            lb = torch.nn.functional.cross_entropy(b, torch.tensor(_TARGET[[0, 2]]),
                                                   label_smoothing=0.1, reduction=reduction,
                                                   **bkw)
            assert not np.any(np.isnan(to_numpy(la)))
            assert_close(la, lb.detach().numpy(), rtol=1e-6)
            la.sum().backward()
            lb.sum().backward()
            assert_close(a.grad, b.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_cross_entropy_fused_finite_logits_unchanged(device, torch):
    """The fused path still matches PyTorch for ordinary logits (float64, ignored rows)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 5))
    t = rng.integers(0, 5, 16)
    t[3] = -100
    for reduction in ("mean", "sum", "none"):
        a, b = _pair(torch, x, device)
        la = F.cross_entropy(a, xp.asarray(t, device=device), reduction=reduction)
        lb = torch.nn.functional.cross_entropy(b, torch.tensor(t), reduction=reduction)
        assert_close(la, lb.detach().numpy(), rtol=1e-12)
        la.sum().backward()
        lb.sum().backward()
        assert_close(a.grad, b.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_cross_entropy_saturated(dtype, device, torch):
    """p in {0, 1}: loss clamped at 100, finite input gradient (PyTorch's rule), also for
    sigmoids saturated in float32."""
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.3, 1e-30, 1 - 1e-7], dtype=dtype)
    y = np.array([0.0, 1.0, 1.0, 0.0, 0.5, 1.0, 0.0], dtype=dtype)
    with _quiet():
        for reduction in ("mean", "sum", "none"):
            a, b = _pair(torch, p, device, dtype)
            ay, by = _pair(torch, y, device, dtype)
            la = F.binary_cross_entropy(a, ay, reduction=reduction)
            lb = torch.nn.functional.binary_cross_entropy(b, by, reduction=reduction)
            assert_close(la, lb.detach().numpy(), rtol=1e-6)
            la.sum().backward()
            lb.sum().backward()
            assert np.all(np.isfinite(to_numpy(a.grad)))
            assert_close(a.grad, b.grad.numpy(), rtol=1e-6)
            assert_close(ay.grad, by.grad.numpy(), rtol=1e-6)  # +-inf at 0 and 1, as PyTorch
        # saturated float32 sigmoids
        logits = np.array([-120.0, -30.0, 0.0, 30.0, 120.0], dtype=dtype)
        tgt = np.array([1.0, 1.0, 0.5, 0.0, 0.0], dtype=dtype)
        a, b = _pair(torch, logits, device, dtype)
        pa, pb = F.sigmoid(a), torch.sigmoid(b)
        la = F.binary_cross_entropy(pa, xp.asarray(tgt, device=device))
        lb = torch.nn.functional.binary_cross_entropy(pb, torch.tensor(tgt))
        assert np.isfinite(float(la))
        assert_close(la, lb.detach().numpy(), rtol=1e-5)
        (ga,) = xp.autograd.grad(la, pa, retain_graph=True)
        (gb,) = torch.autograd.grad(lb, pb, retain_graph=True)
        assert_close(ga, gb.numpy(), rtol=1e-5)  # up to +-2e11 at the saturated ends
        la.backward()
        assert np.all(np.isfinite(to_numpy(a.grad)))  # (sigmoid's own rule differs in ulps)


def test_binary_cross_entropy_weight(device, torch):
    rng = np.random.default_rng(1)
    p, y, w = rng.uniform(size=(3, 4)), rng.uniform(size=(3, 4)), rng.uniform(size=4)
    a, b = _pair(torch, p, device)
    la = F.binary_cross_entropy(a, xp.asarray(y, device=device), xp.asarray(w, device=device))
    lb = torch.nn.functional.binary_cross_entropy(b, torch.tensor(y), torch.tensor(w))
    assert_close(la, lb.detach().numpy(), rtol=1e-12)
    la.backward()
    lb.backward()
    assert_close(a.grad, b.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("p, y, which", [
    ([0.5, 1.2], [0.0, 1.0], "input"), ([0.5, -0.1], [0.0, 1.0], "input"),
    ([0.5, np.nan], [0.0, 1.0], "input"), ([0.5, 0.2], [0.0, 1.5], "target")])
def test_binary_cross_entropy_out_of_range_raises(p, y, which, device, torch):
    with pytest.raises(RuntimeError):
        torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(y))
    with pytest.raises(RuntimeError, match=f"binary_cross_entropy: all elements of {which}"):
        F.binary_cross_entropy(xp.asarray(p, device=device), xp.asarray(y, device=device))


# -- item 7: gradient conventions at the edges ------------------------------------------
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, math.inf])
def test_normalize_zero_row_gradient(p, device, torch):
    v = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 2.0], [1e-13, 0.0, 0.0]])
    w = np.arange(9.0).reshape(3, 3)
    a, b = _pair(torch, v, device)
    oa, ob = F.normalize(a, p=p), torch.nn.functional.normalize(b, p=p)
    assert_close(oa, ob.detach().numpy(), rtol=1e-12)
    (oa * xp.asarray(w, device=device)).sum().backward()
    (ob * torch.tensor(w)).sum().backward()
    assert np.all(np.isfinite(to_numpy(a.grad)))
    assert_close(a.grad, b.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("func, args", [("hardtanh", ()), ("hardtanh", (-0.5, 2.0)),
                                        ("relu6", ())])
def test_hardtanh_at_bounds(func, args, device, torch):
    v = [-7.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 6.0, 7.0, np.nan]
    a, b = _pair(torch, v, device)
    oa = getattr(F, func)(a, *args)
    ob = getattr(torch.nn.functional, func)(b, *args)
    assert_close(oa, ob.detach().numpy())
    oa.sum().backward()
    ob.sum().backward()
    assert_close(a.grad, b.grad.numpy())


# -- item 8: inplace=True modifies the input ---------------------------------------------
_INPLACE = {
    "relu": lambda F_, x: F_.relu(x, inplace=True),
    "relu_": lambda F_, x: F_.relu_(x),
    "relu6": lambda F_, x: F_.relu6(x, inplace=True),
    "hardtanh": lambda F_, x: F_.hardtanh(x, -0.5, 0.5, inplace=True),
    "leaky_relu": lambda F_, x: F_.leaky_relu(x, 0.1, inplace=True),
    "elu": lambda F_, x: F_.elu(x, 0.7, inplace=True),
    "silu": lambda F_, x: F_.silu(x, inplace=True),
}
_VALUES = [-3.0, -0.5, 0.25, 0.5, 2.0, 7.0]


@pytest.mark.parametrize("name", sorted(_INPLACE))
def test_inplace_activation_writes_input(name, device, torch):
    f = _INPLACE[name]
    a = xp.asarray(np.array(_VALUES), device=device)
    b = torch.tensor(_VALUES, dtype=torch.float64)
    before = a._version
    out = f(F, a)
    ref = f(torch.nn.functional, b)
    assert out is a
    assert a._version > before
    assert_close(a, ref.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(_INPLACE))
def test_inplace_activation_gradient(name, device, torch):
    f = _INPLACE[name]
    a, b = _pair(torch, _VALUES, device)
    ya, yb = a * 2.0, b * 2.0
    oa, ob = f(F, ya), f(torch.nn.functional, yb)
    assert oa is ya
    (oa * oa).sum().backward()
    (ob * ob).sum().backward()
    assert_close(a.grad, b.grad.numpy(), rtol=1e-12)
    # a leaf that requires grad is refused, as PyTorch refuses it
    with pytest.raises(RuntimeError):
        f(torch.nn.functional, torch.tensor(_VALUES, requires_grad=True))
    with pytest.raises(RuntimeError, match="leaf"):
        f(F, xp.asarray(_VALUES, device=device, requires_grad=True))


def test_inplace_relu_invalidates_saved_tensor(device, torch):
    """A tensor saved for backward, then overwritten by relu_: backward refuses."""
    for F_, mk in ((torch.nn.functional, lambda: torch.tensor(_VALUES, requires_grad=True)),
                   (F, lambda: xp.asarray(_VALUES, device=device, requires_grad=True))):
        x = mk()
        y = x * 1.0
        z = y * y  # saves y
        F_.relu_(y)
        with pytest.raises(RuntimeError):
            z.sum().backward()


def test_dropout_inplace(device, torch):
    x = xp.ones((200,), device=device)
    out = F.dropout(x, 0.5, training=True, inplace=True)
    assert out is x
    v = to_numpy(x)
    assert set(np.unique(v)) <= {0.0, 2.0} and 0 < np.count_nonzero(v) < 200
    y = xp.ones((50,), device=device)
    F.dropout(y, 1.0, training=True, inplace=True)
    assert not np.any(to_numpy(y))
    # gradient through an in-place dropout of a non-leaf: 2 where kept, 0 where dropped
    a = xp.ones((100,), device=device, requires_grad=True)
    h = a * 1.0
    d = F.dropout(h, 0.5, training=True, inplace=True)
    d.sum().backward()
    assert_close(a.grad, to_numpy(d))
    # not training: untouched
    z = xp.ones((10,), device=device)
    assert F.dropout(z, 0.5, training=False, inplace=True) is z
    assert np.all(to_numpy(z) == 1.0)


# -- item 9: out-of-range indices raise -------------------------------------------------
@pytest.mark.parametrize("index", [-1, 5, 7])
def test_embedding_out_of_range(index, device, torch):
    w = np.random.default_rng(0).standard_normal((5, 3))
    with pytest.raises(IndexError):
        torch.nn.functional.embedding(torch.tensor([0, index]), torch.tensor(w))
    with pytest.raises(IndexError, match="embedding"):
        F.embedding(xp.asarray([0, index], device=device), xp.asarray(w, device=device))
    emb = nn.Embedding(5, 3).to(device)
    with pytest.raises(IndexError, match="embedding"):
        emb(xp.asarray([[1, index]], device=device))


def test_embedding_in_range_unchanged(device, torch):
    w = np.random.default_rng(0).standard_normal((5, 3))
    a, b = _pair(torch, w, device)
    idx = np.array([[0, 4], [2, 2]])
    oa = F.embedding(xp.asarray(idx, device=device), a, padding_idx=2)
    ob = torch.nn.functional.embedding(torch.tensor(idx), b, padding_idx=2)
    assert_close(oa, ob.detach().numpy())
    oa.sum().backward()
    ob.sum().backward()
    assert_close(a.grad, b.grad.numpy())


@pytest.mark.parametrize("values, num_classes, message", [
    ([0, 3], 3, "smaller than num_classes"), ([0, -1], 3, "non-negative"),
    ([0, -1], -1, "non-negative"), ([], -1, "empty")])
def test_one_hot_out_of_range(values, num_classes, message, device, torch):
    with pytest.raises(RuntimeError):
        torch.nn.functional.one_hot(torch.tensor(values, dtype=torch.int64), num_classes)
    with pytest.raises(RuntimeError, match=f"one_hot: .*{message}"):
        F.one_hot(xp.asarray(values, dtype=xp.int64, device=device), num_classes)


def test_one_hot_in_range(device, torch):
    v = np.array([[0, 2], [1, 1]])
    assert_close(F.one_hot(xp.asarray(v, device=device), 4),
                 torch.nn.functional.one_hot(torch.tensor(v), 4).numpy())
    assert_close(F.one_hot(xp.asarray(v, device=device)),
                 torch.nn.functional.one_hot(torch.tensor(v)).numpy())
    e = F.one_hot(xp.asarray(np.zeros((0,), dtype=np.int64), device=device), 3)
    assert e.shape == (0, 3)


# -- item 12: bad arguments get the standard exception, naming the function ------------
def _calls(x4, x2, t1):
    """One call per function of F with a valid tensor in every tensor argument."""
    w = xp.ones((3, 3))
    return {
        "linear": lambda a: F.linear(a, w), "relu": F.relu, "relu_": F.relu_,
        "sigmoid": F.sigmoid, "tanh": F.tanh, "gelu": F.gelu, "silu": F.silu,
        "softmax": lambda a: F.softmax(a, 1), "log_softmax": lambda a: F.log_softmax(a, 1),
        "max_pool2d": lambda a: F.max_pool2d(a, 2), "avg_pool2d": lambda a: F.avg_pool2d(a, 2),
        "conv2d": lambda a: F.conv2d(a, xp.ones((1, 1, 1, 1))),
        "dropout": F.dropout, "normalize": F.normalize, "layer_norm": lambda a: F.layer_norm(a, 3),
        "pad": lambda a: F.pad(a, (1, 1)), "flatten": F.flatten,
        "interpolate": lambda a: F.interpolate(a, size=3),
        "mse_loss": lambda a: F.mse_loss(a, x2), "cross_entropy": lambda a: F.cross_entropy(a, t1),
        "nll_loss": lambda a: F.nll_loss(a, t1), "one_hot": F.one_hot,
        "embedding": lambda a: F.embedding(a, w),
        "binary_cross_entropy": lambda a: F.binary_cross_entropy(a, x2),
        "hardtanh": F.hardtanh, "leaky_relu": F.leaky_relu, "elu": F.elu,
        "softplus": F.softplus, "logsigmoid": F.logsigmoid,
    }


@pytest.mark.parametrize("bad", [np.ones((2, 3)), [[1.0, 2.0, 3.0]], None],
                         ids=["ndarray", "list", "None"])
def test_functional_refuses_non_tensors(bad, torch):
    for name, call in _calls(None, xp.ones((2, 3)), xp.asarray([0, 1])).items():
        with pytest.raises(TypeError, match=rf"^{name}\b"):
            call(bad)
    # a non-tensor in the second place, and PyTorch's type for it
    with pytest.raises(TypeError):
        torch.nn.functional.linear(torch.ones(2, 3), bad)
    with pytest.raises(TypeError):
        torch.nn.functional.relu(bad)
    with pytest.raises(TypeError, match="mse_loss: argument 'target'"):
        F.mse_loss(xp.ones((2, 3)), bad)
    with pytest.raises(TypeError, match="cross_entropy: argument 'target'"):
        F.cross_entropy(xp.ones((2, 3)), bad)
    if bad is not None:
        with pytest.raises(TypeError, match="linear: argument 'bias'"):
            F.linear(xp.ones((2, 3)), xp.ones((4, 3)), bad)
        with pytest.raises(TypeError, match="cross_entropy: argument 'weight'"):
            F.cross_entropy(xp.ones((2, 3)), xp.asarray([0, 1]), weight=bad)


@pytest.mark.parametrize("func, kw", [
    ("max_pool2d", dict(kernel_size=0)), ("max_pool2d", dict(kernel_size=2, stride=0)),
    ("max_pool2d", dict(kernel_size=2, stride=0, return_indices=True)),
    ("max_pool2d", dict(kernel_size=(2, 0))), ("avg_pool2d", dict(kernel_size=0)),
    ("avg_pool2d", dict(kernel_size=2, stride=(1, 0))), ("max_pool1d", dict(kernel_size=0)),
    ("avg_pool1d", dict(kernel_size=2, stride=0)), ("max_pool2d", dict(kernel_size=2, dilation=0)),
    ("interpolate", dict(size=0)), ("interpolate", dict(size=(0, 2))),
    ("interpolate", dict(scale_factor=0.0)), ("interpolate", dict(scale_factor=0.1)),
])
def test_zero_kernel_stride_size_raise_value_error(func, kw, device, torch):
    shape = (1, 1, 4) if func.endswith("1d") else (1, 1, 4, 4)
    with pytest.raises(RuntimeError):
        getattr(torch.nn.functional, func)(torch.ones(shape), **kw)
    with pytest.raises(ValueError, match=func):
        getattr(F, func)(xp.ones(shape, device=device), **kw)


def test_adaptive_avg_pool_zero_output(device, torch):
    out = F.adaptive_avg_pool2d(xp.ones((1, 2, 4, 4), device=device), 0)
    assert out.shape == tuple(torch.nn.functional.adaptive_avg_pool2d(torch.ones(1, 2, 4, 4),
                                                                        0).shape)


@pytest.mark.parametrize("func", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("wshape", [(2,), (4,), (3, 1)])
def test_loss_weight_wrong_size(func, wshape, device, torch):
    x = np.random.default_rng(0).standard_normal((4, 3))
    t = np.array([0, 1, 2, 0])
    with pytest.raises(RuntimeError):
        getattr(torch.nn.functional, func)(torch.tensor(x), torch.tensor(t),
                                           weight=torch.ones(wshape, dtype=torch.float64))
    with pytest.raises(RuntimeError, match=rf"{func}: weight .*3 classes.*{wshape}".replace(
            "(", r"\(").replace(")", r"\)")):
        getattr(F, func)(xp.asarray(x, device=device), xp.asarray(t, device=device),
                         weight=xp.ones(wshape, dtype=xp.float64, device=device))


@pytest.mark.parametrize("func", ["binary_cross_entropy", "binary_cross_entropy_with_logits"])
def test_elementwise_loss_weight_wrong_size(func, device, torch):
    p = np.random.default_rng(0).uniform(size=(4, 3))
    with pytest.raises(RuntimeError):
        getattr(torch.nn.functional, func)(torch.tensor(p), torch.tensor(p),
                                           weight=torch.ones(2, dtype=torch.float64))
    with pytest.raises(RuntimeError, match=f"{func}: weight of shape"):
        getattr(F, func)(xp.asarray(p, device=device), xp.asarray(p, device=device),
                         weight=xp.ones((2,), dtype=xp.float64, device=device))
    if func.endswith("logits"):
        with pytest.raises(RuntimeError, match=f"{func}: pos_weight of shape"):
            F.binary_cross_entropy_with_logits(xp.asarray(p, device=device),
                                               xp.asarray(p, device=device),
                                               pos_weight=xp.ones((2,), dtype=xp.float64,
                                                                  device=device))


@pytest.mark.parametrize("func", ["cross_entropy", "nll_loss", "mse_loss", "l1_loss",
                                  "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
                                  "binary_cross_entropy_with_logits", "kl_div"])
def test_loss_target_on_another_device(func):
    x = xp.asarray(np.full((4, 3), 0.5))
    if func in ("cross_entropy", "nll_loss"):
        t = xp.asarray([0, 1, 2, 0], device="strict:device1")
    else:
        t = xp.asarray(np.full((4, 3), 0.5), device="strict:device1")
    with pytest.raises(RuntimeError, match=rf"{func}: .*'cpu'.*'strict:device1'"):
        getattr(F, func)(x, t)
    if func in ("cross_entropy", "nll_loss"):
        with pytest.raises(RuntimeError, match=f"{func}: .*weight"):
            getattr(F, func)(x, xp.asarray([0, 1, 2, 0]),
                             weight=xp.ones((3,), dtype=xp.float64, device="strict:device1"))


# -- item 13: empty softmax axis, ceil_mode pooling --------------------------------------
@pytest.mark.parametrize("shape, dim", [((2, 0), 1), ((2, 0), -1), ((0, 3), 1), ((0,), 0),
                                        ((2, 0, 3), 1)])
@pytest.mark.parametrize("func", ["softmax", "log_softmax"])
def test_softmax_empty_axis(shape, dim, func, device, torch):
    a = xp.ones(shape, device=device, requires_grad=True)
    b = torch.ones(shape, requires_grad=True)
    oa = getattr(F, func)(a, dim=dim)
    ob = getattr(torch.nn.functional, func)(b, dim=dim)
    assert oa.shape == tuple(ob.shape)
    oa.sum().backward()
    ob.sum().backward()
    assert a.grad.shape == tuple(b.grad.shape)


def _ceil_cases():
    for name in ("max_pool1d", "avg_pool1d", "max_pool2d", "avg_pool2d"):
        for n, k, s, p, d in itertools.product(range(1, 6), range(1, 5), range(1, 4), range(0, 3),
                                               range(1, 3)):
            if name.startswith("avg") and d != 1:
                continue
            yield name, n, k, s, p, d


def test_ceil_mode_pooling_accepts_what_pytorch_accepts(device, torch):
    """Every (size, kernel, stride, padding, dilation) PyTorch pools with ceil_mode=True
    pools here to the same values and gradients; what it refuses raises ValueError."""
    rng = np.random.default_rng(0)
    accepted = 0
    with _quiet():
        for name, n, k, s, p, d in _ceil_cases():
            nd = 1 if name.endswith("1d") else 2
            v = rng.standard_normal((1, 2) + (n,) * nd)
            kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=True)
            if name.startswith("max"):
                kw["dilation"] = d
            tb = torch.tensor(v, requires_grad=True)
            try:
                ob = getattr(torch.nn.functional, name)(tb, **kw)
            except RuntimeError:
                with pytest.raises(ValueError, match=name):
                    getattr(F, name)(xp.asarray(v, device=device), **kw)
                continue
            a = xp.asarray(v, device=device, requires_grad=True)
            oa = getattr(F, name)(a, **kw)
            assert oa.shape == tuple(ob.shape), (name, n, k, s, p, d)
            assert_close(oa, ob.detach().numpy(), rtol=1e-12)
            accepted += 1
            if not np.all(np.isfinite(ob.detach().numpy())):
                # a window of padding only (-inf): PyTorch's backward writes out of bounds
                # there (heap corruption), so only the values are compared
                continue
            w = rng.standard_normal(oa.shape)
            (oa * xp.asarray(w, device=device)).sum().backward()
            (ob * torch.tensor(w)).sum().backward()
            assert_close(a.grad, tb.grad.numpy(), rtol=1e-12, atol=1e-14)
    assert accepted > 300


def test_ceil_mode_max_pool_indices(device, torch):
    v = np.random.default_rng(2).standard_normal((1, 1, 5, 5))
    oa, ia = F.max_pool2d(xp.asarray(v, device=device), 2, 2, 0, ceil_mode=True,
                          return_indices=True)
    ob, ib = torch.nn.functional.max_pool2d(torch.tensor(v), 2, 2, 0, ceil_mode=True,
                                            return_indices=True)
    assert_close(oa, ob.numpy())
    assert np.array_equal(to_numpy(ia), ib.numpy())


# -- item 14: erf on the declared dependencies -------------------------------------------
def _erf_points():
    tails = np.logspace(-320, np.log10(30.0), 4000)
    return np.concatenate([np.linspace(-7.0, 7.0, 14001), tails, -tails,
                           [0.0, -0.0, 0.84375, -0.84375, 1.25, -1.25, 1 / 0.35, -1 / 0.35,
                            6.0, -6.0, np.nextafter(6.0, 0), 28.0, 1e300, -1e300, np.inf,
                            -np.inf, 2.0 ** -28, np.nextafter(2.0 ** -28, 0)]])


def test_erf_matches_math_erf_float64(device):
    pts = _erf_points()
    ref = np.array([math.erf(v) for v in pts])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or invalid-value warnings either
        got = to_numpy(erf(xp.asarray(pts, device=device)))
    assert got.dtype == np.float64
    ulps = np.abs(got - ref) / np.spacing(np.maximum(np.abs(ref), 5e-324))
    assert np.max(ulps) <= 1.0
    assert np.all(np.signbit(got[pts == 0]) == np.signbit(pts[pts == 0]))
    assert np.isnan(to_numpy(erf(xp.asarray([np.nan], device=device)))[0])


def test_erf_float32(device):
    pts = _erf_points()
    pts = pts[np.abs(pts) < 3e38].astype(np.float32)
    ref = np.array([math.erf(float(v)) for v in pts])
    got = to_numpy(erf(xp.asarray(pts, device=device)))
    assert got.dtype == np.float32
    err = np.abs(got.astype(np.float64) - ref)
    assert np.max(err / np.spacing(np.maximum(np.abs(ref), 1e-45).astype(np.float32))) <= 1.0


def test_erf_without_scipy():
    """The exact GELU runs with SciPy unimportable (only the declared dependencies)."""
    code = (
        "import sys; sys.modules['scipy'] = None; sys.modules['scipy.special'] = None\n"
        "import math, arraylib as xp, arraylib.nn.functional as F\n"
        "x = xp.asarray([-3.0, -0.5, 0.0, 0.7, 2.5], dtype=xp.float64, requires_grad=True)\n"
        "y = F.gelu(x); y.sum().backward()\n"
        "ref = [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in [-3.0, -0.5, 0.0, 0.7, 2.5]]\n"
        "assert max(abs(a - b) for a, b in zip(y.tolist(), ref)) < 1e-15, y\n"
        "assert 'scipy' not in {m.split('.')[0] for m in sys.modules if sys.modules[m]}\n"
        "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gelu_matches_torch(dtype, device, torch):
    v = np.concatenate([np.linspace(-10, 10, 401), [-40.0, 40.0, 0.0]]).astype(dtype)
    a, b = _pair(torch, v, device, dtype)
    oa, ob = F.gelu(a), torch.nn.functional.gelu(b)
    tol = 1e-6 if dtype == "float32" else 1e-14
    assert_close(oa, ob.detach().numpy(), rtol=tol, atol=tol)
    w = np.cos(v).astype(dtype)
    (oa * xp.asarray(w, device=device)).sum().backward()
    (ob * torch.tensor(w)).sum().backward()
    assert_close(a.grad, b.grad.numpy(), rtol=tol, atol=tol)
    # second order (create_graph) through erf's rule
    if dtype == "float64":
        a2, b2 = _pair(torch, v[:50], device, dtype)
        (ga,) = xp.autograd.grad(F.gelu(a2).sum(), a2, create_graph=True)
        (gb,) = torch.autograd.grad(torch.nn.functional.gelu(b2).sum(), b2, create_graph=True)
        ga.sum().backward()
        gb.sum().backward()
        assert_close(a2.grad, b2.grad.numpy(), rtol=1e-12, atol=1e-14)

"""Sorting: argsort, sort (values vs NumPy, stability, descending, errors, derivatives)."""
from __future__ import annotations

import numpy as np
import pytest

import arraylib as xp
from arraylib.autograd import gradcheck, gradgradcheck
from conftest import assert_close, to_numpy


def _t(a, device, **kw):
    return xp.asarray(np.asarray(a), device=device, **kw)


def _np_argsort(a, axis, descending, stable=True):
    """NumPy reference; descending and stable keeps equal elements in order."""
    if not descending:
        return np.argsort(a, axis=axis, kind="stable")
    flipped = np.flip(a, axis)
    idx = np.flip(np.argsort(flipped, axis=axis, kind="stable"), axis)
    return a.shape[axis] - 1 - idx


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "int64", "uint16"])
@pytest.mark.parametrize("descending", [False, True])
def test_argsort_sort(device, dtype, descending):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, size=(4, 6)).astype(dtype)  # many ties: tests stability
    x = _t(a, device)
    for axis in (0, 1, -1, -2):
        idx = xp.argsort(x, axis=axis, descending=descending)
        assert idx.dtype == xp.int64 and idx.device == device
        assert_close(idx, _np_argsort(a, axis, descending))
        s = xp.sort(x, axis=axis, descending=descending)
        assert s.dtype == x.dtype
        expected = np.sort(a, axis=axis)
        assert_close(s, np.flip(expected, axis) if descending else expected)
        # unstable: any order of ties is fine, values still sorted
        u = xp.argsort(x, axis=axis, descending=descending, stable=False)
        assert_close(xp.take_along_axis(x, u, axis=axis), to_numpy(s))


def test_sort_special_values(device):
    a = np.array([3.0, np.nan, -np.inf, 0.0, np.inf, -1.0])
    x = _t(a, device)
    assert_close(xp.sort(x), np.sort(a))
    assert_close(xp.argsort(x), np.argsort(a, kind="stable"))
    b = _t(np.array([True, False, True]), device)
    assert_close(xp.sort(b), np.array([False, True, True]))
    assert_close(xp.argsort(b, descending=True), np.array([0, 2, 1]))


def test_sort_shapes(device):
    s = _t(np.float32(2.0), device)
    assert xp.sort(s).shape == () and float(xp.sort(s)) == 2.0
    assert xp.argsort(s).shape == () and int(xp.argsort(s)) == 0
    e = _t(np.zeros((0, 3)), device)
    assert xp.sort(e, axis=0).shape == (0, 3)
    assert xp.argsort(e, axis=1).shape == (0, 3)


def test_sort_errors(device):
    x = _t(np.zeros((2, 3)), device)
    with pytest.raises(IndexError, match="axis 2"):
        xp.sort(x, axis=2)
    with pytest.raises(ValueError, match="axis -3"):
        xp.argsort(x, axis=-3)
    with pytest.raises(TypeError, match="complex"):
        xp.sort(_t(np.zeros(2, np.complex64), device))
    with pytest.raises(TypeError, match="Tensor"):
        xp.argsort([1, 2])


def test_sort_gradients(device):
    a = np.random.default_rng(1).standard_normal((3, 5))
    x = xp.asarray(a, dtype=xp.float64, device=device, requires_grad=True)
    for axis in (0, 1):
        for desc in (False, True):
            assert gradcheck(lambda t: xp.sort(t, axis=axis, descending=desc), (x,))
    assert gradgradcheck(lambda t: xp.sort(t, axis=0), (x,))
    assert not xp.argsort(x).requires_grad


def test_sort_grad_is_permutation(device):
    x = _t(np.array([3.0, 1.0, 2.0]), device, requires_grad=True)
    y = xp.sort(x)
    y.backward(_t(np.array([10.0, 20.0, 30.0]), device))
    assert_close(x.grad, np.array([30.0, 10.0, 20.0], np.float32))


def test_sort_against_torch(device):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(2).standard_normal((4, 3))
    g = np.random.default_rng(3).standard_normal((4, 3))
    x = _t(a, device, requires_grad=True)
    xp.sort(x, axis=0, descending=True).backward(_t(g, device))
    tx = torch.tensor(a, requires_grad=True)
    torch.sort(tx, dim=0, descending=True).values.backward(torch.tensor(g))
    assert_close(x.grad, tx.grad.numpy())

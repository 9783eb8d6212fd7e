"""Statistical functions: values vs NumPy, dtypes, axes, errors, gradients."""
import numpy as np
import pytest

import arraylib as xp
from conftest import assert_close, to_numpy
from _h3util import check_grad

RNG = np.random.default_rng(0)


def _t(a, device, dtype=None):
    return xp.asarray(np.asarray(a), device=device, dtype=dtype)


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2), (), (-1, 0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_sum_values(device, axis, keepdims):
    a = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    r = xp.sum(_t(a, device), axis=axis, keepdims=keepdims)
    assert r.dtype == xp.float32
    e = np.sum(a, axis=axis, keepdims=keepdims)
    assert_close(r, e, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dt,res", [("int8", "int64"), ("int32", "int64"), ("uint8", "uint64"),
                                    ("uint32", "uint64"), ("bool", "int64"), ("float32", "float32"),
                                    ("float64", "float64"), ("complex64", "complex64")])
def test_sum_dtypes(device, dt, res):
    x = xp.asarray(np.ones((3, 2), dtype=dt), device=device)
    r = xp.sum(x)
    assert r.dtype == np.dtype(res)
    assert r.item() == 6


def test_sum_dtype_kwarg_and_empty(device):
    x = _t(np.arange(6, dtype=np.int32), device)
    assert xp.sum(x, dtype=xp.int32).dtype == xp.int32
    assert xp.sum(x, dtype=xp.float32).dtype == xp.float32
    e = xp.zeros((0, 3), device=device)
    assert xp.sum(e).item() == 0
    assert_close(xp.sum(e, axis=0), np.zeros(3, np.float32))
    assert xp.sum(e, axis=1).shape == (0,)
    z = _t(5.0, device)
    assert xp.sum(z).item() == 5.0 and xp.sum(z, axis=()).shape == ()


def test_sum_errors(device):
    x = xp.ones((2, 3), device=device)
    with pytest.raises(IndexError, match="sum: axis 2"):
        xp.sum(x, axis=2)
    with pytest.raises(ValueError, match="sum: axis -3"):
        xp.sum(x, axis=-3)
    with pytest.raises(ValueError, match="repeated"):
        xp.sum(x, axis=(0, -2))
    with pytest.raises(TypeError, match="sum"):
        xp.sum(np.ones(3))
    with pytest.raises(TypeError, match="sum"):
        xp.sum(x, axis=1.5)
    with pytest.raises(TypeError, match="complex"):
        xp.sum(xp.ones(3, dtype=xp.complex64, device=device), dtype=xp.float32)


@pytest.mark.parametrize("axis,keepdims", [(None, False), (1, False), ((0, 2), True), (-1, True)])
def test_sum_grad(device, axis, keepdims):
    a = RNG.standard_normal((2, 3, 2))
    check_grad(lambda x: xp.sum(x, axis=axis, keepdims=keepdims), a, device=device)


def test_sum_grad_complex(device):
    a = RNG.standard_normal((3, 2)) + 1j * RNG.standard_normal((3, 2))
    check_grad(lambda x: xp.sum(x * x, axis=0), a, device=device)

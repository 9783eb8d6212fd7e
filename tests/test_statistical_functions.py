"""Statistical functions: values vs NumPy, dtypes, axes, errors, gradients."""
import numpy as np
import pytest

import arraylib as xp
from conftest import assert_close, to_numpy
from _fd import check_grads

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
    check_grads(lambda x: xp.sum(x, axis=axis, keepdims=keepdims), [a], device)


def test_sum_grad_complex(device):
    a = RNG.standard_normal((3, 2)) + 1j * RNG.standard_normal((3, 2))
    check_grads(lambda x: xp.sum(x * x, axis=0), [a], device)


# -- prod ------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [None, 1, (0, 2), -1])
def test_prod_values(device, axis):
    a = RNG.uniform(0.5, 1.5, (2, 3, 4))
    assert_close(xp.prod(_t(a, device), axis=axis), np.prod(a, axis=axis))
    assert xp.prod(_t(a.astype(np.float32), device)).dtype == xp.float32
    assert xp.prod(_t(np.arange(1, 5, dtype=np.int16), device)).dtype == xp.int64
    assert xp.prod(xp.zeros((0,), device=device)).item() == 1


@pytest.mark.parametrize("a", [[[1.5, -2.0, 0.5], [0.7, 3.0, -1.1]],
                               [[1.5, 0.0, 0.5], [0.7, 3.0, -1.1]],
                               [[0.0, 0.0, 0.5], [0.0, 3.0, 0.0]],
                               [[0.0, 2.0, 0.0], [1.0, 0.0, 4.0]]])
@pytest.mark.parametrize("axis", [None, 1, 0])
def test_prod_grad_zeros(device, a, axis):
    check_grads(lambda x: xp.prod(x, axis=axis), [np.array(a)], device)


def test_prod_grad_vs_torch(device):
    torch = pytest.importorskip("torch")
    a = np.array([[0.0, 2.0, 3.0, 0.0], [1.0, 0.0, 4.0, 2.0], [1.0, 2.0, 3.0, 4.0]])
    g = RNG.standard_normal(3)
    x = xp.asarray(a, device=device, requires_grad=True)
    xp.prod(x, axis=1).backward(xp.asarray(g, device=device))
    tx = torch.tensor(a, requires_grad=True)
    torch.prod(tx, dim=1).backward(torch.tensor(g))
    assert_close(x.grad, tx.grad.numpy())


def test_prod_grad_complex(device):
    a = RNG.standard_normal((2, 3)) + 1j * RNG.standard_normal((2, 3))
    a[0, 1] = 0
    check_grads(lambda x: xp.prod(x, axis=1), [a], device)


# -- max, min --------------------------------------------------------------------
@pytest.mark.parametrize("f", ["max", "min"])
@pytest.mark.parametrize("axis", [None, 0, (1, 2), -1])
def test_max_min_values(device, f, axis):
    a = RNG.integers(-5, 5, (3, 2, 4)).astype(np.int32)
    r = getattr(xp, f)(_t(a, device), axis=axis, keepdims=True)
    assert r.dtype == xp.int32
    assert_close(r, getattr(np, f)(a, axis=axis, keepdims=True))


def test_max_min_nan_and_errors(device):
    x = _t([1.0, np.nan, 3.0], device)
    assert np.isnan(xp.max(x).item()) and np.isnan(xp.min(x).item())
    with pytest.raises(ValueError, match="max: zero-size"):
        xp.max(xp.zeros((2, 0), device=device), axis=1)
    assert xp.max(xp.zeros((2, 0), device=device), axis=0).shape == (0,)
    with pytest.raises(TypeError, match="min: complex"):
        xp.min(xp.ones(2, dtype=xp.complex64, device=device))
    assert xp.max(_t([True, False], device)).item() is True
    assert xp.min(_t([True, False], device)).item() is False


@pytest.mark.parametrize("f", ["max", "min"])
def test_max_min_grad_ties(device, f):
    a = np.array([[1.0, 3.0, 3.0], [2.0, -1.0, -1.0], [5.0, 5.0, 5.0]])
    g = np.array([1.0, 2.0, 3.0])
    x = xp.asarray(a, device=device, requires_grad=True)
    getattr(xp, f)(x, axis=1).backward(xp.asarray(g, device=device))
    torch = pytest.importorskip("torch")
    tx = torch.tensor(a, requires_grad=True)
    getattr(torch, "a" + f)(tx, dim=1).backward(torch.tensor(g))
    assert_close(x.grad, tx.grad.numpy())


@pytest.mark.parametrize("f", ["max", "min"])
def test_max_min_grad(device, f):
    a = RNG.standard_normal((3, 4))
    check_grads(lambda x: getattr(xp, f)(x, axis=0), [a], device)
    check_grads(lambda x: getattr(xp, f)(x), [a], device)


# -- mean, var, std ------------------------------------------------------------------
@pytest.mark.parametrize("axis", [None, 0, (0, 1), -1])
@pytest.mark.parametrize("correction", [0, 1, 1.5])
def test_mean_var_std_values(device, axis, correction):
    a = RNG.standard_normal((3, 4, 2))
    x = _t(a, device)
    assert_close(xp.mean(x, axis=axis), np.mean(a, axis=axis))
    assert_close(xp.var(x, axis=axis, correction=correction), np.var(a, axis=axis, ddof=correction))
    assert_close(xp.std(x, axis=axis, correction=correction, keepdims=True),
                 np.std(a, axis=axis, ddof=correction, keepdims=True))
    assert xp.mean(_t(a.astype(np.float32), device)).dtype == xp.float32


def test_mean_var_special(device):
    e = xp.zeros((0,), device=device)
    assert np.isnan(xp.mean(e).item())
    assert np.isnan(xp.var(_t([1.0], device), correction=1).item())
    c = _t([1 + 1j, 3 - 1j], device)
    assert_close(xp.mean(c), np.array(2 + 0j, np.complex64))
    with pytest.raises(TypeError, match="mean"):
        xp.mean(_t([1, 2], device))
    with pytest.raises(TypeError, match="var"):
        xp.var(_t([1, 2], device))


@pytest.mark.parametrize("axis", [None, 1])
def test_mean_var_std_grad(device, axis):
    a = RNG.standard_normal((3, 4))
    check_grads(lambda x: xp.mean(x, axis=axis), [a], device)
    check_grads(lambda x: xp.var(x, axis=axis, correction=1), [a], device)
    check_grads(lambda x: xp.std(x, axis=axis), [a], device)


# -- cumulative ------------------------------------------------------------------
@pytest.mark.parametrize("include_initial", [False, True])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cumulative_values(device, include_initial, axis):
    a = RNG.uniform(0.5, 2, (3, 4))
    x = _t(a, device)
    np_s = np.cumulative_sum(a, axis=axis, include_initial=include_initial)
    np_p = np.cumulative_prod(a, axis=axis, include_initial=include_initial)
    assert_close(xp.cumulative_sum(x, axis=axis, include_initial=include_initial), np_s)
    assert_close(xp.cumulative_prod(x, axis=axis, include_initial=include_initial), np_p)


def test_cumulative_dtypes_errors(device):
    i = _t(np.arange(1, 5, dtype=np.int8), device)
    assert xp.cumulative_sum(i).dtype == xp.int64
    assert xp.cumulative_prod(i, dtype=xp.int16).dtype == xp.int16
    assert xp.cumulative_sum(_t([True, True], device)).tolist() == [1, 2]
    assert xp.cumulative_sum(xp.zeros((0,), device=device), include_initial=True).tolist() == [0]
    r = xp.cumulative_sum(_t([1.0, np.nan, 2.0], device))
    assert np.isnan(to_numpy(r)[1:]).all()
    with pytest.raises(ValueError, match="cumulative_sum: axis is required"):
        xp.cumulative_sum(xp.ones((2, 2), device=device))
    with pytest.raises(IndexError, match="cumulative_prod: axis 2"):
        xp.cumulative_prod(xp.ones((2, 2), device=device), axis=2)


@pytest.mark.parametrize("include_initial", [False, True])
def test_cumulative_sum_grad(device, include_initial):
    a = RNG.standard_normal((3, 4))
    check_grads(lambda x: xp.cumulative_sum(x, axis=1, include_initial=include_initial), [a],
                device)


@pytest.mark.parametrize("a", [[1.5, -2.0, 0.5, 0.7], [1.5, 0.0, 0.5, 0.7], [0.0, 2.0, 0.0, 3.0],
                               [2.0, 0.5, 3.0, 0.0]])
@pytest.mark.parametrize("include_initial", [False, True])
def test_cumulative_prod_grad(device, a, include_initial):
    check_grads(lambda x: xp.cumulative_prod(x, include_initial=include_initial),
                [np.array(a)], device)


def test_cumulative_prod_grad_2d_complex(device):
    a = RNG.standard_normal((2, 3)) + 1j * RNG.standard_normal((2, 3))
    a[1, 1] = 0
    check_grads(lambda x: xp.cumulative_prod(x, axis=1), [a], device)


def test_prod_higher_derivatives_exact_at_zeros(device):
    # d3(x0*x1*x2)/dx0 dx1 dx2 = 1 even where every factor is zero
    x = xp.asarray([0.0, 0.0, 0.0], dtype=xp.float64, device=device, requires_grad=True)
    g, = xp.autograd.grad(xp.prod(x), x, create_graph=True)
    h, = xp.autograd.grad(g[0], x, create_graph=True)
    k, = xp.autograd.grad(h[1], x)
    assert xp.asarray(k, device="cpu").tolist() == [0.0, 0.0, 1.0]
    y = xp.asarray([[0.0, 2.0, 3.0], [0.0, 0.0, 1.5]], dtype=xp.float64, device=device,
                   requires_grad=True)
    assert xp.autograd.gradgradcheck(lambda t: xp.prod(t, axis=1), (y,))

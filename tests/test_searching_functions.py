"""Searching functions: values vs NumPy on every device, promotion, errors, gradients of where."""
import numpy as np
import pytest

import arraylib as xp
from conftest import assert_close, to_numpy
from _fd import check_grads

A = np.array([[3.0, 1.0, 2.0, 1.0], [0.0, 5.0, 5.0, -1.0], [2.0, 2.0, 0.0, 7.0]])


@pytest.mark.parametrize("func", ["argmax", "argmin"])
def test_argmax_argmin(device, func):
    x = xp.asarray(A, device=device)
    ref = getattr(np, func)
    for axis in [None, 0, 1, -1]:
        for keepdims in [False, True]:
            r = getattr(xp, func)(x, axis=axis, keepdims=keepdims)
            assert r.dtype == xp.int64
            assert_close(r, ref(A, axis=axis, keepdims=keepdims))
    assert_close(getattr(xp, func)(xp.asarray(4.0, device=device)), np.asarray(0))
    xi = xp.asarray(A.astype(np.int16), device=device)
    assert_close(getattr(xp, func)(xi, axis=0), ref(A, axis=0))
    with pytest.raises(ValueError, match=func):
        getattr(xp, func)(xp.zeros((0, 3), device=device))
    with pytest.raises(ValueError, match=func):
        getattr(xp, func)(xp.zeros((0, 3), device=device), axis=0)
    with pytest.raises(IndexError, match=f"{func}: axis 2 is out of bounds"):
        getattr(xp, func)(x, axis=2)
    with pytest.raises(TypeError, match=func):
        getattr(xp, func)(xp.asarray([1j, 2j], device=device))


def test_argmax_not_differentiable(device):
    x = xp.asarray(A, device=device, requires_grad=True)
    assert not xp.argmax(x).requires_grad


def test_count_nonzero(device):
    x = xp.asarray(A, device=device)
    for axis in [None, 0, -1, (0, 1)]:
        for keepdims in [False, True]:
            r = xp.count_nonzero(x, axis=axis, keepdims=keepdims)
            assert r.dtype == xp.int64
            assert_close(r, np.count_nonzero(A, axis=axis, keepdims=keepdims))
    b = A > 1
    assert_close(xp.count_nonzero(xp.asarray(b, device=device)), np.asarray(np.count_nonzero(b)))
    with pytest.raises(IndexError, match="count_nonzero"):
        xp.count_nonzero(x, axis=2)


def test_nonzero(device):
    x = xp.asarray(A, device=device)
    r = xp.nonzero(x)
    assert isinstance(r, tuple) and len(r) == 2
    for a, e in zip(r, np.nonzero(A)):
        assert a.dtype == xp.int64
        assert_close(a, e)
    assert [t.shape for t in xp.nonzero(xp.zeros((2, 0, 3), device=device))] == [(0,)] * 3
    with pytest.raises(ValueError, match="nonzero"):
        xp.nonzero(xp.asarray(1.0, device=device))


def test_searchsorted(device):
    s = np.array([1.0, 2.0, 2.0, 5.0])
    x1 = xp.asarray(s, device=device)
    v = np.array([[0.0, 2.0], [3.0, 9.0]])
    for side in ("left", "right"):
        r = xp.searchsorted(x1, xp.asarray(v, device=device), side=side)
        assert r.dtype == xp.int64
        assert_close(r, np.searchsorted(s, v, side=side))
        r = xp.searchsorted(x1, 2.0, side=side)
        assert r.shape == ()
        assert_close(r, np.asarray(np.searchsorted(s, 2.0, side=side)))
    perm = np.array([3, 0, 2, 1])
    u = s[perm]
    assert_close(xp.searchsorted(xp.asarray(u, device=device), xp.asarray(v, device=device),
                                 sorter=xp.asarray(np.argsort(u), device=device)),
                 np.searchsorted(u, v, sorter=np.argsort(u)))
    # promotion and Python int scalars
    xi = xp.asarray([1, 3, 5], dtype=xp.int32, device=device)
    assert_close(xp.searchsorted(xi, 4), np.asarray(2))
    assert_close(xp.searchsorted(xi, xp.asarray([4, 6], dtype=xp.int64, device=device)),
                 np.array([2, 3]))
    with pytest.raises(ValueError, match="side"):
        xp.searchsorted(x1, 1.0, side="middle")
    with pytest.raises(ValueError, match="one-dimensional"):
        xp.searchsorted(xp.asarray(v, device=device), 1.0)
    with pytest.raises(ValueError, match="sorter"):
        xp.searchsorted(x1, 1.0, sorter=xp.asarray([0, 1], device=device))


# -- where ------------------------------------------------------------------------------
def test_where_values(device):
    c = A > 1
    b = -A
    cond = xp.asarray(c, device=device)
    assert_close(xp.where(cond, xp.asarray(A, device=device), xp.asarray(b, device=device)),
                 np.where(c, A, b))
    assert_close(xp.where(cond, xp.asarray(A, device=device), 0.0), np.where(c, A, 0.0))
    assert_close(xp.where(cond, 7.0, xp.asarray(A, device=device)), np.where(c, 7.0, A))
    # broadcasting of all three
    r = xp.where(xp.asarray(c[:, :1], device=device), xp.asarray(A[0], device=device),
                 xp.asarray(2.0, device=device))
    assert_close(r, np.where(c[:, :1], A[0], 2.0))
    # both Python scalars
    r = xp.where(cond, 1.0, 0.0)
    assert r.shape == A.shape and r.device == cond.device
    assert_close(r, np.where(c, 1.0, 0.0).astype(np.float32))


@pytest.mark.parametrize("d1,d2,s", [("float32", "float64", None), ("int8", "int16", None),
                                     ("int32", "float32", None), ("float32", None, 2),
                                     ("int16", None, 3), ("int16", None, 2.5),
                                     ("bool", None, True), ("float64", None, 1j),
                                     ("uint8", "uint32", None)])
def test_where_promotion(device, d1, d2, s):
    cond = xp.asarray([True, False], device=device)
    x1 = xp.ones(2, dtype=getattr(xp, d1), device=device)
    if d2 is not None:
        x2 = xp.zeros(2, dtype=getattr(xp, d2), device=device)
        assert xp.where(cond, x1, x2).dtype == xp.add(x1, x2).dtype
        assert xp.where(cond, x2, x1).dtype == xp.add(x1, x2).dtype
    elif d1 == "bool":
        assert xp.where(cond, x1, s).dtype == xp.bool
        assert xp.where(cond, s, x1).dtype == xp.bool
    else:
        assert xp.where(cond, x1, s).dtype == xp.add(x1, s).dtype
        assert xp.where(cond, s, x1).dtype == xp.add(x1, s).dtype


def test_where_errors(device):
    x = xp.ones(3, device=device)
    with pytest.raises(TypeError, match="where: condition"):
        xp.where(xp.ones(3, dtype=xp.int32, device=device), x, x)
    with pytest.raises(TypeError, match="where"):
        xp.where([True, False, True], x, x)
    with pytest.raises(ValueError, match="where"):
        xp.where(xp.asarray([True, False], device=device), x, x)
    with pytest.raises(TypeError, match="where"):  # bool with int: no rule (float: the float)
        xp.where(xp.asarray([True], device=device), xp.ones(3, dtype=xp.int8, device=device),
                 xp.ones(3, dtype=xp.bool, device=device))


def test_where_device_mixing():
    cond = xp.asarray([True, False], device="cpu")
    a = xp.ones(2, device="strict:device1")
    with pytest.raises(ValueError, match=r"'cpu'.*'strict:device1'|'strict:device1'.*'cpu'"):
        xp.where(cond, a, a)
    with pytest.raises(ValueError, match=r"'cpu'.*'strict:device1'|'strict:device1'.*'cpu'"):
        xp.where(xp.asarray([True, False], device="strict:device1"), xp.ones(2), a)


def test_where_gradients(device):
    rng = np.random.default_rng(0)
    c = rng.standard_normal((3, 4)) > 0
    cond = xp.asarray(c, device=device)
    check_grads(lambda a, b: xp.where(cond, a, b), [rng.standard_normal((3, 4)),
                                                     rng.standard_normal((3, 4))], device)
    # broadcasting inputs: the engine sums the cotangent back
    check_grads(lambda a, b: xp.where(cond, a, b), [rng.standard_normal((1, 4)),
                                                     rng.standard_normal((3, 1))], device)
    check_grads(lambda a: xp.where(cond, a, 0.0) * a, [rng.standard_normal((3, 4))], device)
    check_grads(lambda b: xp.where(cond, 2.0, b), [rng.standard_normal(4)], device)


def test_where_grad_dtype_promotion(device):
    cond = xp.asarray([True, False], device=device)
    a = xp.asarray([1.0, 2.0], dtype=xp.float32, device=device, requires_grad=True)
    b = xp.asarray([3.0, 4.0], dtype=xp.float64, device=device, requires_grad=True)
    y = xp.where(cond, a, b)
    assert y.dtype == xp.float64
    y.backward(xp.asarray([5.0, 6.0], dtype=xp.float64, device=device))
    assert a.grad.dtype == xp.float32 and b.grad.dtype == xp.float64
    assert_close(a.grad, np.array([5.0, 0.0], dtype=np.float32))
    assert_close(b.grad, np.array([0.0, 6.0]))


def test_where_second_order(device):
    cond = xp.asarray([True, False, True], device=device)
    x = xp.asarray([1.0, 2.0, 3.0], dtype=xp.float64, device=device, requires_grad=True)
    y = xp.sum(xp.where(cond, x ** 3, x ** 2))
    (g,) = xp.autograd.grad(y, x, create_graph=True)
    assert_close(g, np.array([3.0, 4.0, 27.0]))
    (h,) = xp.autograd.grad(xp.sum(g), x)
    assert_close(h, np.array([6.0, 2.0, 18.0]))


def test_where_vs_torch(device):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    c, a, b, g = (rng.standard_normal((2, 3)) > 0, rng.standard_normal((2, 1)),
                  rng.standard_normal(3), rng.standard_normal((2, 3)))
    xa = xp.asarray(a, device=device, requires_grad=True)
    xb = xp.asarray(b, device=device, requires_grad=True)
    xp.where(xp.asarray(c, device=device), xa, xb).backward(xp.asarray(g, device=device))
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    torch.where(torch.tensor(c), ta, tb).backward(torch.tensor(g))
    assert_close(xa.grad, ta.grad.numpy())
    assert_close(xb.grad, tb.grad.numpy())


def test_index_outputs_do_not_require_grad(device):
    x = xp.asarray(A, device=device, requires_grad=True)
    for r in (xp.argmin(x), xp.count_nonzero(x), xp.searchsorted(xp.reshape(x, (-1,)), 1.0),
              *xp.nonzero(x)):
        assert not r.requires_grad
    assert to_numpy(xp.argmax(x)).item() == int(np.argmax(A))


def test_where_double_backward(device):
    rng = np.random.default_rng(4)
    cond = xp.asarray(rng.standard_normal((3, 4)) > 0, device=device)

    def vjp(a, b, u):
        for x in (a, b):
            if not x.requires_grad:
                x.requires_grad_()
        return xp.autograd.grad(xp.sum(xp.where(cond, a * a, b) * u), (a, b), create_graph=True)

    check_grads(vjp, [rng.standard_normal((3, 4)), rng.standard_normal((1, 4)),
                      rng.standard_normal((3, 4))], device)

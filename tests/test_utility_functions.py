"""Utility functions: all, any, diff — values vs NumPy on every device, errors, gradients."""
import numpy as np
import pytest

import arraylib as xp
from conftest import assert_close
from _fd import check_grads

B = np.array([[True, False, True], [True, True, True]])


@pytest.mark.parametrize("func", ["all", "any"])
def test_all_any(device, func):
    ref = getattr(np, func)
    for a in (B, B.astype(np.int32) * 3, np.array([[0.0, 1.5, 0.0], [2.0, 0.0, 0.0]]),
              np.array([1j, 0j])):
        x = xp.asarray(a, device=device)
        for axis in ([None, 0, -1, (0, 1)] if a.ndim == 2 else [None, 0]):
            for keepdims in (False, True):
                r = getattr(xp, func)(x, axis=axis, keepdims=keepdims)
                assert r.dtype == xp.bool
                assert_close(r, ref(a, axis=axis, keepdims=keepdims))
    e = xp.zeros((0, 2), device=device)
    assert_close(getattr(xp, func)(e), np.asarray(ref(np.zeros((0, 2)))))
    assert_close(getattr(xp, func)(xp.asarray(True, device=device)), np.asarray(True))
    with pytest.raises(IndexError, match=f"{func}: axis 2 is out of bounds .* dimension 2"):
        getattr(xp, func)(xp.asarray(B, device=device), axis=2)
    with pytest.raises(ValueError, match="repeated"):
        getattr(xp, func)(xp.asarray(B, device=device), axis=(0, 0))
    with pytest.raises(TypeError, match=func):
        getattr(xp, func)(B)


def test_diff_values(device):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 5))
    x = xp.asarray(a, device=device)
    for axis in (-1, 0, 1):
        for n in (0, 1, 2, 4, 7):
            assert_close(xp.diff(x, axis=axis, n=n), np.diff(a, axis=axis, n=n))
    p, q = rng.standard_normal((3, 1)), rng.standard_normal((3, 2))
    assert_close(xp.diff(x, prepend=xp.asarray(p, device=device),
                         append=xp.asarray(q, device=device)),
                 np.diff(a, prepend=p, append=q))
    assert_close(xp.diff(x, axis=0, n=2, append=xp.asarray(a[:1], device=device)),
                 np.diff(a, axis=0, n=2, append=a[:1]))
    ai = np.array([1, 4, 9, 16], dtype=np.int16)
    r = xp.diff(xp.asarray(ai, device=device))
    assert r.dtype == xp.int16
    assert_close(r, np.diff(ai))
    c = np.array([1 + 2j, 3j, 5.0])
    assert_close(xp.diff(xp.asarray(c, device=device)), np.diff(c))


def test_diff_promotion(device):
    x = xp.ones(3, dtype=xp.float32, device=device)
    p = xp.ones(1, dtype=xp.float64, device=device)
    assert xp.diff(x, prepend=p).dtype == xp.float64
    xi = xp.ones(3, dtype=xp.int8, device=device)
    assert xp.diff(xi, append=xp.ones(2, dtype=xp.int32, device=device)).dtype == xp.int32


def test_diff_errors(device):
    x = xp.ones((2, 3), device=device)
    with pytest.raises(TypeError, match="diff"):
        xp.diff(xp.ones(3, dtype=xp.bool, device=device))
    with pytest.raises(ValueError, match="diff"):
        xp.diff(xp.asarray(1.0, device=device))
    with pytest.raises(ValueError, match="diff: n"):
        xp.diff(x, n=-1)
    with pytest.raises(IndexError, match="diff: axis 2"):
        xp.diff(x, axis=2)
    with pytest.raises(ValueError, match=r"diff: prepend of shape \(3, 1\)"):
        xp.diff(x, prepend=xp.ones((3, 1), device=device))
    with pytest.raises(TypeError, match="diff: append"):
        xp.diff(x, append=[1.0, 2.0])


def test_diff_device_mixing():
    with pytest.raises(ValueError, match=r"'cpu'.*'strict:device1'"):
        xp.diff(xp.ones(3), prepend=xp.ones(1, device="strict:device1"))


def test_diff_gradients(device):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 4))
    check_grads(lambda x: xp.diff(x), [a], device)
    check_grads(lambda x: xp.diff(x, axis=0, n=2), [a], device)
    check_grads(lambda x, p, q: xp.diff(x, n=2, prepend=p, append=q),
                [a, rng.standard_normal((3, 2)), rng.standard_normal((3, 1))], device)


def test_diff_vs_torch(device):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    a, g = rng.standard_normal((3, 6)), rng.standard_normal((3, 3))
    x = xp.asarray(a, device=device, requires_grad=True)
    xp.diff(x, n=3).backward(xp.asarray(g, device=device))
    t = torch.tensor(a, requires_grad=True)
    torch.diff(t, n=3).backward(torch.tensor(g))
    assert_close(x.grad, t.grad.numpy())


def test_all_any_not_differentiable(device):
    x = xp.asarray([1.0, 0.0], device=device, requires_grad=True)
    assert not xp.any(x).requires_grad and not xp.all(x).requires_grad


def test_diff_double_backward(device):
    rng = np.random.default_rng(4)

    def vjp(x, p, u):
        for t in (x, p):
            if not t.requires_grad:
                t.requires_grad_()
        y = xp.diff(x * x, n=2, axis=0, prepend=p)
        return xp.autograd.grad(xp.sum(y * u), (x, p), create_graph=True)

    check_grads(vjp, [rng.standard_normal((4, 3)), rng.standard_normal((1, 3)),
                      rng.standard_normal((3, 3))], device)

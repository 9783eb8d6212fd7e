"""matmul, matrix_transpose, tensordot, vecdot and the @ operators."""
import numpy as np
import pytest

import arraylib as xp
from conftest import assert_close
from _fd import check_grads

RNG = np.random.default_rng(2)

SHAPES = [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((2, 2, 3), (3, 4)),
          ((3,), (2, 3, 4)), ((2, 1, 2, 3), (3, 3, 2)), ((2, 3, 4), (4,)), ((0, 3), (3, 2))]


@pytest.mark.parametrize("s1,s2", SHAPES)
def test_matmul_values(device, s1, s2):
    a, b = RNG.standard_normal(s1), RNG.standard_normal(s2)
    r = xp.matmul(xp.asarray(a, device=device), xp.asarray(b, device=device))
    assert_close(r, np.matmul(a, b))
    r2 = xp.asarray(a, device=device) @ xp.asarray(b, device=device)
    assert_close(r2, np.matmul(a, b))


@pytest.mark.parametrize("s1,s2", SHAPES[:-1])
def test_matmul_grad(device, s1, s2):
    check_grads(xp.matmul, [RNG.standard_normal(s1), RNG.standard_normal(s2)], device)


def test_matmul_grad_complex(device):
    a = RNG.standard_normal((2, 3)) + 1j * RNG.standard_normal((2, 3))
    b = RNG.standard_normal((3,)) + 1j * RNG.standard_normal((3,))
    check_grads(xp.matmul, [a, b], device)
    check_grads(xp.matmul, [b, a.T], device)


def test_matmul_grad_vs_torch(device):
    torch = pytest.importorskip("torch")
    a = RNG.standard_normal((2, 1, 3, 4)) + 1j * RNG.standard_normal((2, 1, 3, 4))
    b = RNG.standard_normal((5, 4, 2)) + 1j * RNG.standard_normal((5, 4, 2))
    g = RNG.standard_normal((2, 5, 3, 2)) + 1j * RNG.standard_normal((2, 5, 3, 2))
    x, y = (xp.asarray(v, device=device, requires_grad=True) for v in (a, b))
    xp.matmul(x, y).backward(xp.asarray(g, device=device))
    tx, ty = (torch.tensor(v, requires_grad=True) for v in (a, b))
    torch.matmul(tx, ty).backward(torch.tensor(g))
    assert_close(x.grad, tx.grad.numpy())
    assert_close(y.grad, ty.grad.numpy())


def test_matmul_dtypes_and_errors(device):
    i = xp.asarray([[1, 2]], dtype=xp.int8, device=device)
    f = xp.asarray([[1.0], [2.0]], device=device)
    assert xp.matmul(i, i.mT).dtype == xp.int8
    assert xp.matmul(i, f).dtype == xp.float32
    with pytest.raises(ValueError, match=r"matmul: .*\(2, 3\) and \(2, 3\)"):
        xp.ones((2, 3), device=device) @ xp.ones((2, 3), device=device)
    with pytest.raises(ValueError, match="matmul: batch"):
        xp.matmul(xp.ones((2, 2, 3), device=device), xp.ones((3, 3, 2), device=device))
    with pytest.raises(ValueError, match="matmul: operands must have"):
        xp.matmul(xp.asarray(1.0, device=device), xp.ones(3, device=device))
    with pytest.raises(TypeError, match="matmul"):
        xp.matmul(xp.ones(2, dtype=xp.bool, device=device), xp.ones(2, dtype=xp.bool, device=device))
    with pytest.raises(TypeError):
        xp.ones(2, device=device) @ 2.0
    with pytest.raises(TypeError, match="matmul"):
        xp.matmul([1.0], xp.ones(1, device=device))


def test_matmul_devices():
    with pytest.raises(ValueError, match="cpu.*strict:device1|strict:device1.*cpu"):
        xp.ones((2, 2)) @ xp.ones((2, 2), device="strict:device1")


def test_imatmul(device):
    a = xp.asarray(RNG.standard_normal((3, 3)), device=device)
    b = xp.asarray(RNG.standard_normal((3, 3)), device=device)
    expect = np.matmul(a.to_device("cpu").numpy(), b.to_device("cpu").numpy())
    a2 = a
    a @= b
    assert a is a2
    assert_close(a, expect)
    with pytest.raises(ValueError, match="__imatmul__"):
        c = xp.ones((3, 3), device=device)
        c @= xp.ones((3, 2), device=device)


def test_imatmul_autograd(device):
    w = xp.asarray(RNG.standard_normal((2, 2)), device=device, requires_grad=True)
    b = xp.asarray(RNG.standard_normal((2, 2)), device=device)
    y = w * 1.0
    y @= b
    y.backward(xp.ones((2, 2), dtype=xp.float64, device=device))
    assert_close(w.grad, np.ones((2, 2)) @ b.to_device("cpu").numpy().T)


def test_matrix_transpose(device):
    a = RNG.standard_normal((2, 3, 4))
    x = xp.asarray(a, device=device)
    assert_close(xp.matrix_transpose(x), np.swapaxes(a, -1, -2))
    assert_close(x.mT, np.swapaxes(a, -1, -2))
    assert_close(x[0].T, a[0].T)
    with pytest.raises(ValueError, match="matrix_transpose"):
        xp.matrix_transpose(xp.ones(3, device=device))
    check_grads(xp.matrix_transpose, [a], device)


def test_matrix_transpose_is_view():
    x = xp.zeros((2, 3))
    t = x.mT
    x[0, 1] = 5.0
    assert t.numpy()[1, 0] == 5.0 and t._version == x._version


@pytest.mark.parametrize("s1,s2,axes", [((2, 3, 4), (3, 4, 5), 2), ((2, 3), (3, 2), 1),
                                        ((2, 3), (4, 5), 0), ((3, 4, 2), (2, 3), ([0, 2], [1, 0])),
                                        ((2, 3), (3, 2), ((-1,), (0,))), ((3,), (3,), 1)])
def test_tensordot(device, s1, s2, axes):
    a, b = RNG.standard_normal(s1), RNG.standard_normal(s2)
    r = xp.tensordot(xp.asarray(a, device=device), xp.asarray(b, device=device), axes=axes)
    assert_close(r, np.tensordot(a, b, axes=axes))
    check_grads(lambda x, y: xp.tensordot(x, y, axes=axes), [a, b], device)


def test_tensordot_errors(device):
    x = xp.ones((2, 3), device=device)
    with pytest.raises(ValueError, match="tensordot: shapes"):
        xp.tensordot(x, x, axes=1)
    with pytest.raises(ValueError, match="tensordot: axes=3"):
        xp.tensordot(x, x, axes=3)
    with pytest.raises(ValueError, match="tensordot"):
        xp.tensordot(x, x, axes=([0], [0, 1]))


@pytest.mark.parametrize("s1,s2,axis", [((3,), (3,), -1), ((2, 3), (3,), -1), ((4, 2), (3, 4, 2), -2),
                                        ((2, 3), (1, 3), 1), ((3, 2), (3, 2), -2)])
def test_vecdot(device, s1, s2, axis):
    a = RNG.standard_normal(s1) + 1j * RNG.standard_normal(s1)
    b = RNG.standard_normal(s2) + 1j * RNG.standard_normal(s2)
    r = xp.vecdot(xp.asarray(a, device=device), xp.asarray(b, device=device), axis=axis)
    n = len(np.broadcast_shapes(s1, s2))
    ax = axis % n - n
    assert_close(r, np.sum(np.conj(a) * b, axis=ax))
    check_grads(lambda x, y: xp.vecdot(x, y, axis=axis), [a, b], device)
    ar = a.real
    assert_close(xp.vecdot(xp.asarray(ar, device=device), xp.asarray(b.real, device=device), axis=axis),
                 np.sum(ar * b.real, axis=ax))


def test_vecdot_integer_dtype(device):
    x = xp.asarray([200, 100], dtype=xp.uint8, device=device)
    r = xp.vecdot(x, xp.asarray([1, 1], dtype=xp.uint8, device=device))
    assert r.dtype == xp.uint8 and r.item() == 44  # wraps like the dtype's arithmetic


def test_vecdot_errors(device):
    with pytest.raises(ValueError, match="vecdot: shapes"):
        xp.vecdot(xp.ones((2, 3), device=device), xp.ones((2, 4), device=device))
    with pytest.raises(ValueError, match="vecdot: axis"):
        xp.vecdot(xp.ones(3, device=device), xp.ones(3, device=device), axis=1)

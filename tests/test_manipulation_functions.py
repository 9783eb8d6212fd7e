"""Manipulation functions: values vs NumPy on every device, errors, gradients."""
import numpy as np
import pytest

import arraylib as xp
from conftest import assert_close, to_numpy


def _t(a, device, requires_grad=False):
    return xp.asarray(np.asarray(a), device=device, requires_grad=requires_grad)


def test_reshape_values(device):
    a = np.arange(24.0).reshape(2, 3, 4)
    x = _t(a, device)
    for shape in [(24,), (-1,), (4, -1), (2, 12), (1, 24, 1), (2, 3, 2, 2)]:
        assert_close(xp.reshape(x, shape), a.reshape(shape))
    assert_close(xp.reshape(_t(5.0, device), (1, 1)), np.full((1, 1), 5.0))
    assert xp.reshape(x, (-1,), copy=True).shape == (24,)


def test_reshape_errors(device):
    x = _t(np.arange(6.0), device)
    with pytest.raises(ValueError, match=r"reshape: .*\(6,\).*\(4, -1\)"):
        xp.reshape(x, (4, -1))
    with pytest.raises(ValueError, match="only one|infer one"):
        xp.reshape(x, (-1, -1))
    with pytest.raises(ValueError, match="reshape"):
        xp.reshape(x, (5,))
    with pytest.raises(ValueError, match="reshape"):
        xp.reshape(x, (-2, 3))
    with pytest.raises(TypeError, match="reshape"):
        xp.reshape(np.arange(3), (3,))


def test_reshape_copy_false(device):
    xt = xp.permute_dims(_t(np.arange(6.0).reshape(2, 3), device), (1, 0)) \
        if hasattr(xp, "permute_dims") else None
    if xt is None:
        pytest.skip("permute_dims not yet there")
    with pytest.raises(ValueError, match="copy=False"):
        xp.reshape(xt, (6,), copy=False)


def test_broadcast_to(device):
    a = np.arange(3.0).reshape(3, 1)
    x = _t(a, device)
    assert_close(xp.broadcast_to(x, (2, 3, 4)), np.broadcast_to(a, (2, 3, 4)))
    assert_close(xp.broadcast_to(x, (3, 1)), a)
    with pytest.raises(ValueError, match=r"broadcast_to: .*\(3, 1\).*\(2, 4\)"):
        xp.broadcast_to(x, (2, 4))
    with pytest.raises(ValueError, match="broadcast_to"):
        xp.broadcast_to(x, (3,))


def test_broadcast_shapes():
    assert xp.broadcast_shapes() == ()
    assert xp.broadcast_shapes((2, 1), (3, 1, 4)) == (3, 2, 4)
    assert xp.broadcast_shapes((0,), (1,)) == (0,)
    assert xp.broadcast_shapes((5,), ()) == (5,)
    with pytest.raises(ValueError, match="broadcast_shapes"):
        xp.broadcast_shapes((2,), (3,))


def test_reshape_broadcast_grad(device):
    x = _t(np.arange(6.0).reshape(2, 3), device, requires_grad=True)
    y = xp.broadcast_to(xp.reshape(x, (2, 1, 3)), (4, 2, 5, 3))
    g = _t(np.random.default_rng(0).standard_normal((4, 2, 5, 3)), device)
    y.backward(g)
    assert_close(x.grad, to_numpy(g).sum(axis=(0, 2)))

"""Views of tensors modified in place, and in-place writes into views (issue 14, item 1):
a view sees its base's newest history (its gradient path is rebuilt from the base after an
in-place change of the base), and an in-place operation on a view is recorded on its base
(the base with the view's region replaced), in reverse and forward mode.  Each scenario is
checked against PyTorch where it is installed, and against central differences.  Also
``deepcopy((base, view))`` keeps the aliasing (item 13)."""
from __future__ import annotations

import copy

import numpy as np
import pytest

import arraylib as xp
from arraylib import autograd
from arraylib.autograd import forward_ad as fwAD
from _fd import central_diff
from conftest import assert_close, to_numpy


class _AL:
    """What a scenario needs from its library: arraylib on ``device``."""

    def __init__(self, device):
        self.device = device

    def zeros(self, shape):
        return xp.zeros(shape, dtype=xp.float64, device=self.device)


class _TL:
    def __init__(self, torch):
        self.torch = torch

    def zeros(self, shape):
        return self.torch.zeros(shape, dtype=self.torch.float64)


# -- scenarios: f(x, lib) -> scalar; x a float64 leaf ------------------------------------
def s_slice_then_base_mul_(x, lib):  # the issue's example
    y = x * 1
    v = y[0:2]
    y.mul_(2)
    return v.sum()


def s_base_setitem_then_view(x, lib):
    y = x * 1
    v = y[0:2]
    y[0] = 10.0
    return (v * v).sum() + (y * x).sum()


def s_reshape_view_then_base_mul_(x, lib):
    y = x * 1
    v = y.reshape(2, 3)
    y.mul_(x)
    return (v * v).sum()


def s_view_method_then_base_add_(x, lib):
    y = x * x
    v = y.view(3, 2)
    w = v[1]
    y.add_(x)
    return (v[:, 0] * 3).sum() + (w * w).sum()


def s_skip_connection_slice(x, lib):
    feat = x * 2 - 1
    skip = feat[:]
    feat.clamp_(min=0)
    return (feat * skip).sum() + skip.sum()


def s_skip_connection_view(x, lib):
    feat = (x * 3 - 1).reshape(2, 3)
    skip = feat.view(-1)
    feat.clamp_(min=0)
    return (skip * skip).sum() + (feat * 2).sum()


def s_column_mul_(x, lib):  # in place ON a view
    y = x.reshape(2, 3) * 1
    y[:, 0].mul_(2)
    return (y * y).sum()


def s_flat_view_setitem(x, lib):
    y = x * 1
    y.view(-1)[0] = 3.0
    return (y * y).sum()


def s_nested_setitem_into_buffer(x, lib):  # x[i][j] = v, v requiring grad
    buf = lib.zeros((2, 3))
    buf[1][0] = (x * x).sum()
    buf[0][1:3] = x[0:2]
    return (buf * buf).sum() + buf[1, 0]


def s_nested_setitem_into_graph(x, lib):
    y = x.reshape(2, 3) * 1
    y[1][0] = x[0] * 5
    return (y * y).sum()


def s_step_slice_mul_(x, lib):
    y = x * 1
    y[::2].mul_(x[1:4])
    return (y * y).sum()


def s_integer_index_add_(x, lib):
    y = x.reshape(2, 3) * 1
    y[1].add_(x[0:3])
    y[0, 2] += 1.5
    return (y * y * y).sum()


def s_transpose_views(x, lib):
    y = x.reshape(2, 3) * 1
    y.t()[0].mul_(3)
    y.T[2].sub_(x[0:2])
    y.transpose(0, 1)[1, 1] = x[5] * x[4]
    return (y * y).sum()


def s_view_of_view_modified(x, lib):
    y = x.reshape(3, 2) * 1
    a = y[1:3]
    b = a[:, 1]
    b.mul_(10)
    return (y * y).sum() + (a * a).sum() + b.sum()


def s_sibling_views(x, lib):
    y = x * 1
    a = y[0:3]
    b = y[2:5]
    b.mul_(x[0:3])
    return (a * a).sum() + (b * 2).sum()


def s_base_modified_view_of_view(x, lib):
    y = x * 1
    a = y.view(2, 3)
    b = a[1]
    y.mul_(3)
    y.add_(x)
    return (b * b).sum() + (a[0] * 2).sum()


def s_unsqueeze_squeeze(x, lib):
    y = x * 1
    y.unsqueeze(0)[0, 1:3].mul_(4)
    z = y.reshape(1, 6).squeeze(0)
    y.mul_(x)
    return (z * z).sum()


def s_zero_fill_copy_on_views(x, lib):
    y = x.reshape(2, 3) * 1
    y[0].zero_()
    y[1, 0:2].fill_(2.0)
    buf = lib.zeros((2, 3))
    buf[1].copy_(x[3:6] * x[0:3])
    buf[0, 1:].copy_(y[1, 1:])
    return (y * y).sum() + (buf * buf).sum()


def s_flatten_and_div_(x, lib):
    y = x.reshape(2, 3) * 1
    y.flatten()[2:5].div_(x[0:3] + 3)
    return (y * y).sum()


def s_permute_view_mul_(x, lib):
    y = x.reshape(1, 2, 3) * 1
    y.permute(2, 0, 1)[1].mul_(x[0] + 2)
    return (y * y).sum()


def s_clamp_on_view(x, lib):
    y = x * 1
    y[1:5].clamp_(min=-0.2, max=0.3)
    return (y * x).sum()


SCENARIOS = [s_slice_then_base_mul_, s_base_setitem_then_view, s_reshape_view_then_base_mul_,
             s_view_method_then_base_add_, s_skip_connection_slice, s_skip_connection_view,
             s_column_mul_, s_flat_view_setitem, s_nested_setitem_into_buffer,
             s_nested_setitem_into_graph, s_step_slice_mul_, s_integer_index_add_,
             s_transpose_views, s_view_of_view_modified, s_sibling_views,
             s_base_modified_view_of_view, s_unsqueeze_squeeze, s_zero_fill_copy_on_views,
             s_flatten_and_div_, s_permute_view_mul_, s_clamp_on_view]
_ITEM1_IDS = [f.__name__[2:] for f in SCENARIOS]

_X = np.array([0.7, -0.4, 1.3, 0.25, -1.1, 0.9])
_T = np.array([0.3, -1.2, 0.5, 2.0, -0.7, 1.1])


def _x(n_scenario):
    return _X[:3].copy() if n_scenario is s_slice_then_base_mul_ else _X.copy()


def _grad(f, x0, device):
    x = xp.asarray(x0, device=device, requires_grad=True)
    out = f(x, _AL(device))
    out.backward()
    return to_numpy(out), to_numpy(x.grad)


def _value(f, x0, device):
    return float(to_numpy(f(xp.asarray(x0, device=device), _AL(device))))


def _tangent(f, x0, t0, device):
    with fwAD.dual_level():
        x = fwAD.make_dual(xp.asarray(x0, device=device), xp.asarray(t0, device=device))
        out = f(x, _AL(device))
        p, t = fwAD.unpack_dual(out)
        return to_numpy(p), to_numpy(t)


def _torch_grad(torch, f, x0):
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    out = f(x, _TL(torch))
    out.backward()
    return out.detach().numpy(), x.grad.numpy()


def _torch_tangent(torch, f, x0, t0):
    import torch.autograd.forward_ad as tfw
    with tfw.dual_level():
        x = tfw.make_dual(torch.tensor(x0, dtype=torch.float64), torch.tensor(t0))
        out = f(x, _TL(torch))
        return tfw.unpack_dual(out).tangent.numpy()


@pytest.mark.parametrize("f", SCENARIOS, ids=_ITEM1_IDS)
def test_reverse_mode_matches_finite_differences(device, f):
    x0 = _x(f)
    value, grad = _grad(f, x0, device)
    assert np.isclose(value, _value(f, x0, device))
    fd = central_diff(lambda a: _value(f, a, device), x0)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("f", SCENARIOS, ids=_ITEM1_IDS)
def test_forward_mode_matches_finite_differences(device, f):
    x0 = _x(f)
    t0 = _T[:x0.size].copy()
    primal, tangent = _tangent(f, x0, t0, device)
    assert np.isclose(primal, _value(f, x0, device))
    fd = central_diff(lambda a: _value(f, a, device), x0)
    np.testing.assert_allclose(tangent, fd @ t0, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("f", SCENARIOS, ids=_ITEM1_IDS)
def test_matches_pytorch(torch, device, f):
    x0 = _x(f)
    t0 = _T[:x0.size].copy()
    value, grad = _grad(f, x0, device)
    tv, tg = _torch_grad(torch, f, x0)
    np.testing.assert_allclose(value, tv, rtol=1e-12)
    np.testing.assert_allclose(grad, tg, rtol=1e-12, atol=1e-12)
    _, tangent = _tangent(f, x0, t0, device)
    np.testing.assert_allclose(tangent, _torch_tangent(torch, f, x0, t0), rtol=1e-12,
                               atol=1e-12)


def test_the_issue_example_analytically(device):
    x = xp.asarray([1., 2., 3.], device=device, requires_grad=True)
    y = x * 1
    v = y[0:2]
    y.mul_(2)
    v.sum().backward()
    assert_close(x.grad, [2., 2., 0.])


def test_view_requires_grad_after_its_base_is_written_with_a_grad_value(device):
    x = xp.asarray([1., 2., 3.], device=device, requires_grad=True)
    buf = xp.zeros((2, 3), dtype=xp.float64, device=device)
    row = buf[1]
    buf[1][0] = x.sum() * 2   # write through a temporary view
    out = (row * xp.asarray([1., 1., 1.], device=device, requires_grad=True)).sum()
    out.backward()
    assert_close(x.grad, [2., 2., 2.])
    assert buf.requires_grad and buf.grad_fn is not None


def test_higher_order_through_copy_slices(device):
    x = xp.asarray([0.5, -1.0, 2.0], device=device, requires_grad=True)
    y = x * 1
    y[1:].mul_(x[:2])
    (g,) = autograd.grad((y * y).sum(), x, create_graph=True)
    g.sum().backward()
    # y = [x0, x1 x0, x2 x1]; L = x0^2 + x1^2 x0^2 + x2^2 x1^2
    x0, x1, x2 = 0.5, -1.0, 2.0
    # dL/dx = [2x0 + 2x1^2 x0, 2x1 x0^2 + 2x2^2 x1, 2x2 x1^2]; grad of its sum:
    expected = [2 + 2 * x1 ** 2 + 4 * x1 * x0, 4 * x1 * x0 + 2 * x0 ** 2 + 2 * x2 ** 2 + 4 * x2 * x1,
                4 * x2 * x1 + 2 * x1 ** 2]
    assert_close(x.grad, expected)


# -- the version counter still guards saved tensors --------------------------------------
def _saved_view_then_base_write(x, lib):
    y = x * 1
    v = y[0:2]
    w = v * v          # saves v
    y.mul_(2)
    return w.sum()


def _saved_base_then_view_write(x, lib):
    y = x * 1
    z = y * y          # saves y
    y[0:2].mul_(2)
    return z.sum()


def _saved_view_then_sibling_write(x, lib):
    y = x * 1
    a = y[0:2]
    w = a.exp() * a    # saves a
    y[1:3].mul_(2)
    return w.sum()


@pytest.mark.parametrize("f", [_saved_view_then_base_write, _saved_base_then_view_write,
                               _saved_view_then_sibling_write])
def test_modified_saved_tensors_are_still_refused(device, f):
    x = xp.asarray(_X[:4], device=device, requires_grad=True)
    out = f(x, _AL(device))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()


@pytest.mark.parametrize("f", [_saved_view_then_base_write, _saved_base_then_view_write,
                               _saved_view_then_sibling_write])
def test_pytorch_refuses_the_same(torch, f):
    x = torch.tensor(_X[:4], requires_grad=True)
    out = f(x, _TL(torch))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()


def test_inplace_on_a_view_of_a_leaf_is_refused(device):
    x = xp.asarray([1., 2.], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x[0:1].mul_(2)
    with pytest.raises(RuntimeError, match="leaf"):
        x.view(2)[0] = 3.0


def test_inplace_on_overlapping_view_is_refused(device):
    x = xp.asarray([1., 2.], device=device, requires_grad=True)
    y = x * 1
    e = xp.broadcast_to(y, (3, 2))
    with pytest.raises((RuntimeError, ValueError)):
        e.mul_(2)


def test_no_grad_writes_into_views_record_nothing(device):
    x = xp.asarray([1., 2., 3.], device=device, requires_grad=True)
    y = x * 1
    v = y[0:2]
    with xp.no_grad():
        v.mul_(3)
    assert_close(y.detach(), [3., 6., 3.])
    y.sum().backward()
    assert_close(x.grad, [1., 1., 1.])


# -- deepcopy keeps the aliasing (item 13) -----------------------------------------------
# ``Tensor.__deepcopy__`` is ``_manipulation_functions.deepcopy_tensor``, bound by
# ``_tensor_methods``.
@pytest.mark.parametrize("make", [lambda b: b[1:3], lambda b: b.reshape(2, 3)[1],
                                  lambda b: b.reshape(3, 2).T])
def test_deepcopy_keeps_views_aliased(device, make):
    base = xp.asarray(_X.copy(), device=device)
    view = make(base)
    b2, v2 = copy.deepcopy((base, view))
    assert b2 is not base and v2 is not view
    assert_close(v2, view)
    b2 += 1.0
    assert_close(v2, to_numpy(view) + 1.0)
    assert_close(base, _X)  # the original is untouched
    assert v2._base is b2


def test_deepcopy_of_a_view_alone_and_of_grad_tensors(device):
    base = xp.asarray(_X.copy(), device=device, requires_grad=True)
    b2, = copy.deepcopy((base,))
    assert b2.requires_grad and b2.is_leaf
    v = xp.asarray(_X.copy(), device=device)[2:4]
    v2 = copy.deepcopy(v)
    assert_close(v2, v)


# -- arraylib's own view functions (no PyTorch twin of the same name) ----------------------
def _own_views(x):
    y = xp.reshape(x * 1, (2, 3))
    r0, r1 = xp.unstack(y)
    r1.mul_(x[0:3])                      # in place on an unstack view
    xp.matrix_transpose(y)[2].add_(x[4])  # on a transpose view
    d = xp.linalg.diagonal(y)
    e = xp.expand_dims(y, axis=0)
    y.mul_(x[5] + 1)                     # the base: d, e and r0 follow it
    return xp.sum(d * d) + xp.sum(e[0, 1] * 3) + xp.sum(r0 * r0) + xp.sum(y * x[0])


def test_own_view_functions_reverse_and_forward(device):
    x0, t0 = _X.copy(), _T.copy()
    x = xp.asarray(x0, device=device, requires_grad=True)
    _own_views(x).backward()
    value = lambda a: float(to_numpy(_own_views(xp.asarray(a, device=device))))
    fd = central_diff(value, x0)
    np.testing.assert_allclose(to_numpy(x.grad), fd, rtol=1e-6, atol=1e-6)
    with fwAD.dual_level():
        xd = fwAD.make_dual(xp.asarray(x0, device=device), xp.asarray(t0, device=device))
        tangent = fwAD.unpack_dual(_own_views(xd)).tangent
    np.testing.assert_allclose(float(to_numpy(tangent)), fd @ t0, rtol=1e-6, atol=1e-6)


def test_backward_from_a_stale_view(device):
    x = xp.asarray([1., 2., 3.], device=device, requires_grad=True)
    y = x * 1
    v = y[0:2]
    y.mul_(2)
    assert v.grad_fn is not None and v.grad_fn.next_functions[0][0] is y.grad_fn
    v.backward(xp.ones(2, dtype=xp.float64, device=device))
    assert_close(x.grad, [2., 2., 0.])   # today [1, 1, 0]


def test_a_view_alone_follows_a_base_that_gained_a_history(device):
    x = xp.asarray([1., 2., 3.], device=device, requires_grad=True)
    buf = xp.zeros((2, 3), dtype=xp.float64, device=device)
    row = buf[1]
    buf[1, 0] = x.sum()
    assert row.requires_grad             # today False
    row.sum().backward()
    assert_close(x.grad, [1., 1., 1.])

"""Indexing: Tensor.__getitem__/__setitem__, take, take_along_axis (values, views, errors,
derivatives)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import arraylib as xp
from arraylib.autograd import gradcheck, gradgradcheck
from conftest import assert_close, to_numpy

A = np.arange(24.0).reshape(2, 3, 4)


def _t(a, device, **kw):
    return xp.asarray(np.asarray(a), device=device, **kw)


def _np_key(key):
    """The same key with tensors replaced by NumPy arrays."""
    key = key if isinstance(key, tuple) else (key,)
    return tuple(to_numpy(k) if isinstance(k, xp.Tensor) else k for k in key)


BASIC_KEYS = [
    0, -1, 1, (1, 2), (0, 0, 0), (-1, -2, -3), (), Ellipsis, (Ellipsis, 1), (1, Ellipsis),
    (0, Ellipsis, 2), slice(None), slice(None, None, -1), (slice(None), slice(None, None, -2)),
    (slice(5, -10, -1),), (slice(-100, 100),), (slice(1, 1),), (slice(3, 0),), (slice(2, 0, -1),),
    (None, 1), (1, None, slice(0, 10, 2)), (None, Ellipsis, None), (slice(None), None, 0),
    (Ellipsis, slice(-1, None)), (slice(None, None, 3), 1, slice(-3, -1)),
]


@pytest.mark.parametrize("key", BASIC_KEYS, ids=repr)
def test_getitem_basic(device, key):
    x = _t(A, device)
    out = x[key]
    assert out.device == device and out.dtype == x.dtype
    assert_close(out, A[key])


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))
def test_getitem_setitem_hypothesis(device, data, shape):
    a = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    key = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True), label="key")
    x = _t(a, device)
    assert_close(x[key], a[key])
    b = a.copy()
    b[key] = -1.0
    x[key] = -1.0
    assert_close(x, b)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
def test_integer_array_keys_hypothesis(device, data, shape):
    a = np.random.default_rng(0).standard_normal(shape)
    key = data.draw(hnp.integer_array_indices(shape), label="key")
    x = _t(a, device, requires_grad=True)
    tkey = tuple(_t(k, device) for k in key)
    y = x[tkey]
    assert_close(y, a[key])
    g = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(_t(g, device))
    expected = np.zeros_like(a)
    np.add.at(expected, key, g)
    assert_close(x.grad, expected)


def _adv_keys(device):
    i = _t([0, 2, 2, -1], device)
    i0 = _t([0, 1, 1, -1], device)
    j = _t([[1], [0]], device)
    m = _t(A > 7, device)
    return [
        i0, (i0,), (0, i), (slice(None), i), (Ellipsis, i), (1, slice(None), i), (j, i),
        (slice(None), i, slice(1, 3)), (i0, Ellipsis, None), (None, 1, i), (j, slice(None), i),
        [0, 1], ([1, 0], 2), (slice(None), [True, False, True]), m, (slice(None), m[0]), (m[:, :, 0],), (slice(None), m[0, :, 0]),
        (1, m[0, :, 0]), True, False, (False, 0), _t(1, device), (0, _t(-1, device)),
        _t(np.zeros((2, 3, 4), bool), device), _t(np.zeros(0, np.int64), device), [],
    ]


def test_getitem_advanced(device):
    x = _t(A, device)
    for key in _adv_keys(device):
        out = x[key]
        assert out.device == device, key
        assert_close(out, A[_np_key(key)])


def test_getitem_zero_d_and_empty(device):
    s = _t(np.float32(3.5), device)
    assert s[()].shape == () and float(s[()]) == 3.5
    assert s[...].shape == ()
    assert s[None].shape == (1,)
    assert s[_t(True, device)].shape == (1,)
    e = _t(np.zeros((0, 3)), device)
    assert e[:, 1].shape == (0,)
    assert e[::-1].shape == (0, 3)
    assert e[e > 0].shape == (0,)
    assert e[_t(np.zeros(0, np.int64), device)].shape == (0, 3)


def test_getitem_views_share_storage_and_version(device):
    x = _t(A, device)
    y = x[0]
    z = x[1, 2, 3]
    assert z.shape == ()
    v0 = x._version
    y[...] = -1.0
    assert x._version == v0 + 1 and y._version == x._version
    assert float(x[0, 1, 1]) == -1.0
    z[...] = 7.0
    assert float(x[1, 2, 3]) == 7.0
    vv = x[1:][0][::-1]  # a view of a view of a view
    vv[0, 0] = 42.0
    assert float(x[1, 2, 0]) == 42.0 and vv._version == x._version
    w = x[_t([0], device)]  # advanced indexing copies
    w[...] = 100.0
    assert float(x[0, 0, 0]) == -1.0


def test_getitem_errors(device):
    x = _t(A, device)
    with pytest.raises(IndexError, match=r"index 5 is out of bounds for axis 1 with size 3"):
        x[0, 5]
    with pytest.raises(IndexError, match=r"index -3 is out of bounds for axis 0 with size 2"):
        x[-3]
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 0, 0, 0]
    with pytest.raises(IndexError, match="single ellipsis"):
        x[..., 0, ...]
    with pytest.raises(IndexError, match="float"):
        x[_t([0.0], device)]
    with pytest.raises(IndexError, match="__getitem__"):
        x["a"]
    with pytest.raises(IndexError, match=r"__getitem__.*out of bounds"):
        x[_t([0, 7], device)]
    with pytest.raises(IndexError, match="__getitem__"):
        x[_t([True, False, True], device)]  # mask of the wrong shape
    with pytest.raises(ValueError, match="step"):
        x[::0]
    other = "strict:device2" if device.name != "strict:device2" else "cpu"
    with pytest.raises(ValueError, match=f"'{other}'.*'{device}'"):
        x[xp.asarray([0], device=other)]


def test_key_fast_path_matches_normalize(device):
    """The one-pass key path gives exactly ``_normalize``'s result (or error type)."""
    import itertools
    from arraylib._indexing_functions import _key, _normalize
    x = _t(A, device)
    atoms = [0, -1, 2, 5, -3, slice(None), slice(1, None), slice(None, None, -1),
             slice(5, -10, -1), None, Ellipsis]
    for n in range(4):
        for key in itertools.product(atoms, repeat=n):
            try:
                want = _normalize(x, key, "t")
            except Exception as e:
                want = type(e)
            try:
                got = _key(x, key, "t")
            except Exception as e:
                got = type(e)
            assert got == want, key


def test_getitem_tuple_fast_path(device):
    """Keys of ints and slices take a one-pass path: same values, views and errors."""
    x = _t(A, device)
    for key in [(1, 2), (0, slice(1, None)), (slice(None, None, -1), 1, slice(3, 0, -2)),
                (-1, -1, -1), (slice(5, 100),), (0, 1, 2)]:
        y = x[key]
        assert_close(y, A[key])
        assert y._base is x and y._version == x._version
    with pytest.raises(IndexError, match=r"index 3 is out of bounds for axis 1 with size 3"):
        x[0, 3]
    with pytest.raises(ValueError, match="step"):
        x[0, ::0]
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 0, 0, 0]
    with pytest.raises(IndexError, match="__getitem__"):
        x[0, 1.5]
    assert x[(0, True)].shape == (1, 3, 4)  # bools still go the NumPy-style way
    z = x[1][2]  # view of a view: the root is the base, the counter is shared
    assert z._base is x
    z[...] = -5.0
    assert float(x[1, 2, 0]) == -5.0 and z._version == x._version


# -- setitem ---------------------------------------------------------------------------
SET_CASES = [
    (0, 5.0), ((1, 2), np.arange(4.0)), ((slice(None), 1), -1.0), ((Ellipsis, 0), np.ones((2, 3))),
    ((slice(None, None, -1), slice(None), slice(None, None, -2)), np.arange(4.0)[::2]),
    ((0, 0, 0), 9.0), ((None, 1), np.arange(12.0).reshape(1, 3, 4)), ((1, None, 0), 2.5),
    ((), 3.0), ((slice(1, 1),), 1.0),
]


@pytest.mark.parametrize("key, value", SET_CASES, ids=lambda v: repr(v)[:30])
def test_setitem_basic(device, key, value):
    a = A.copy()
    x = _t(a, device)
    x[key] = _t(value, device) if isinstance(value, np.ndarray) else value
    a[key] = value
    assert_close(x, a)
    assert x.dtype == xp.float64


def test_setitem_advanced(device):
    x0 = _t(A, device)
    for key in _adv_keys(device):
        a = A.copy()
        a[_np_key(key)] = -3.0
        x = xp.asarray(x0, copy=True)
        x[key] = -3.0
        assert_close(x, a)
        vals = np.arange(a[_np_key(key)].size, dtype=np.float64).reshape(a[_np_key(key)].shape)
        a[_np_key(key)] = vals
        x[key] = _t(vals, device)
        assert_close(x, a)


def test_setitem_mask_and_broadcast(device):
    a = A.copy()
    x = _t(a, device)
    x[x > 10] = 0.0
    a[a > 10] = 0.0
    assert_close(x, a)
    m = _t(np.zeros((2, 3, 4), bool), device)
    x[m] = 1.0  # all False: nothing changes
    assert_close(x, a)
    x[:, _t([0, 2], device)] = _t(np.array([[1.0], [2.0]]), device)
    a[:, [0, 2]] = np.array([[1.0], [2.0]])
    assert_close(x, a)


def test_setitem_dtypes(device):
    x = _t(np.zeros(3, np.float32), device)
    x[0] = 1  # int scalar into float
    x[1] = True
    x[2] = _t(np.array(7, np.int16), device)  # same-kind-or-narrower tensor is cast
    assert x.dtype == xp.float32
    assert_close(x, np.array([1, 1, 7], np.float32))
    c = _t(np.zeros(2, np.complex64), device)
    c[0] = 1.5
    c[1] = 2j
    assert_close(c, np.array([1.5, 2j], np.complex64))
    i = _t(np.zeros(2, np.int8), device)
    i[0] = _t(np.array(300, np.int64), device)  # int -> int: wraps as NumPy does
    with pytest.raises(TypeError, match="complex"):
        x[0] = 1j
    with pytest.raises(TypeError, match=r"complex.*float32"):
        x[0] = _t(np.array(1j, np.complex64), device)
    with pytest.raises(TypeError, match="float"):
        i[0] = 1.5
    with pytest.raises(TypeError, match="float"):
        i[0] = _t(np.array(1.5), device)
    with pytest.raises(TypeError, match="int"):
        _t(np.zeros(2, bool), device)[0] = 1
    with pytest.raises(OverflowError, match="300"):
        i[0] = 300
    u = _t(np.zeros(2, np.uint8), device)
    with pytest.raises(OverflowError):
        u[0] = -1


def test_setitem_errors(device):
    x = _t(A, device)
    with pytest.raises(IndexError, match=r"__setitem__: index 3 is out of bounds for axis 1"):
        x[0, 3] = 1.0
    with pytest.raises(ValueError, match="__setitem__"):
        x[0] = _t(np.ones(5), device)  # shape mismatch
    other = "strict:device2" if device.name != "strict:device2" else "cpu"
    with pytest.raises(ValueError, match=f"'{other}'.*'{device}'"):
        x[0] = xp.asarray(np.ones(4), device=other)
    v0 = x._version
    x[0] = 1.0
    assert x._version == v0 + 1


def test_setitem_zero_d_and_empty(device):
    s = _t(np.float64(1.0), device)
    s[()] = 2.0
    s[...] = s + 1
    assert float(s) == 3.0
    e = _t(np.zeros((0, 2)), device)
    e[:, 0] = 5.0
    e[e > 0] = 1.0
    assert e.shape == (0, 2)


# -- autograd ----------------------------------------------------------------------------
def _rand(shape, device, seed=0, requires_grad=True):
    a = np.random.default_rng(seed).standard_normal(shape)
    return xp.asarray(a, dtype=xp.float64, device=device, requires_grad=requires_grad)


def test_getitem_gradcheck(device):
    x = _rand((3, 4), device)
    i = _t([0, 2, 2, -1], device)
    keys = [1, (slice(None, None, -1), 2), (Ellipsis, slice(3, 0, -2)), (None, 0), (i,),
            (i, slice(1, 3)), (slice(None), i), (i[:2], i[2:]), (_t(to_numpy(x) > 0, device),),
            (slice(None), [True, False, True, True]), (_t(np.zeros((3, 4), bool), device),)]
    for k in keys:
        assert gradcheck(lambda t: t[k], (x,)), k
        assert gradgradcheck(lambda t: t[k], (x,)), k


def test_getitem_repeated_indices_accumulate(device):
    x = _rand((4, 2), device)
    i = _t([0, 3, 0, 0, 1], device)
    y = x[i]
    assert y.requires_grad and not y.is_leaf
    xp.sum(y).backward()
    assert_close(x.grad, np.array([[3.0, 3], [1, 1], [0, 0], [1, 1]]))
    x.grad = None
    xp.sum(x[..., _t([1, 1], device)] * 2.0).backward()
    assert_close(x.grad, np.array([[0.0, 4]] * 4))


def test_getitem_basic_grad_is_scatter(device):
    x = _rand((3, 3), device)
    xp.sum(x[1:, ::-2]).backward()
    assert_close(x.grad, np.array([[0.0, 0, 0], [1, 0, 1], [1, 0, 1]]))
    assert x[0].grad_fn is not None


def _setitem_fn(key):
    def f(t, v):
        y = t * 1.0
        y[key] = v
        return y * y
    return f


def test_setitem_gradcheck(device):
    x = _rand((3, 4), device)
    i = _t([0, 2, 2, 0], device)  # repeated: only the surviving write gets the gradient
    cases = [(1, _rand(4, device, 1)), ((slice(None), 1), _rand((3,), device, 2)),
             ((Ellipsis, slice(None, None, -2)), _rand((1, 2), device, 3)),
             ((i,), _rand(4, device, 4)), ((i, slice(1, 3)), _rand((4, 2), device, 5)),
             ((_t(to_numpy(x) > 0, device),), _rand((), device, 6)), ((None, 2), _rand(4, device, 7))]
    for k, v in cases:
        assert gradcheck(_setitem_fn(k), (x, v)), k
        assert gradgradcheck(_setitem_fn(k), (x, v)), k


def test_setitem_leaf_and_no_grad(device):
    w = _rand(3, device)
    with pytest.raises(RuntimeError, match="leaf"):
        w[0] = 1.0
    with xp.no_grad():
        w[0] = 1.0
    assert w.is_leaf and float(w[0]) == 1.0
    # a tensor that does not require grad, written with one that does
    z = _t(np.zeros(3), device)
    v = _rand((), device)
    z[1] = v
    assert z.requires_grad and z.grad_fn is not None
    xp.sum(z * 3.0).backward()
    assert_close(v.grad, np.array(3.0))


def test_setitem_grad_into_view_is_recorded_on_the_base(device):
    out = _t(np.zeros((2, 3)), device)
    v = _rand((), device)
    w = _rand((), device)
    out[0][1] = v  # through a view: recorded on the base (PyTorch's CopySlices)
    out[1, 2] = w
    assert out.requires_grad and out.grad_fn is not None
    xp.sum(out * 3.0).backward()
    assert_close(v.grad, np.array(3.0))
    assert_close(w.grad, np.array(3.0))


def test_setitem_version_error(device):
    x = _rand(3, device)
    y = x * 1.0
    z = y * y  # saves y
    y[0] = 5.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.backward(xp.ones_like(z))


def test_setitem_forward_mode(device):
    x = _rand((2, 3), device)
    v = _rand(3, device, 1)
    assert gradcheck(_setitem_fn(0), (x, v), check_backward_ad=False)
    assert gradcheck(lambda t: t[:, _t([2, 2, 0], device)], (x,), check_backward_ad=False)


def test_against_torch(device):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal((4, 5))
    g = np.random.default_rng(1).standard_normal((3, 2))
    idx = np.array([3, 0, 3])
    x = _t(a, device, requires_grad=True)
    y = x[_t(idx, device), 1:5:2]
    y.backward(_t(g, device))
    tx = torch.tensor(a, requires_grad=True)
    tx[torch.tensor(idx), 1:5:2].backward(torch.tensor(g))
    assert_close(x.grad, tx.grad.numpy())
    # setitem: gradient to the old values and to the value
    v = _t(np.arange(5.0), device, requires_grad=True)
    tv = torch.arange(5.0, dtype=torch.float64, requires_grad=True)
    x.grad = None
    tx.grad = None
    y = x * 2.0
    y[1] = v
    ty = tx * 2.0
    ty[1] = tv
    gg = np.random.default_rng(2).standard_normal((4, 5))
    (y * y).backward(_t(gg, device))
    (ty * ty).backward(torch.tensor(gg))
    assert_close(x.grad, tx.grad.numpy())
    assert_close(v.grad, tv.grad.numpy())


# -- take, take_along_axis ----------------------------------------------------------------
def test_take(device):
    x = _t(A, device)
    for axis in (0, 1, 2, -1, -3):
        n = A.shape[axis]
        idx = np.array([n - 1, 0, -1, -n, 0])
        out = xp.take(x, _t(idx, device), axis=axis)
        assert_close(out, np.take(A, idx, axis=axis))
    v = _t(np.arange(5), device)
    assert_close(xp.take(v, _t([4, -5, 2], device)), np.array([4, 0, 2]))
    assert xp.take(v, _t(np.zeros(0, np.int64), device)).shape == (0,)
    assert_close(xp.take(v, _t(np.array([[0, 1], [2, 3]]), device), axis=0),
                 np.array([[0, 1], [2, 3]]))
    assert_close(xp.take(v, xp.astype(_t([1, 2], device), xp.uint8)), np.array([1, 2]))


def test_take_errors(device):
    x = _t(A, device)
    with pytest.raises(ValueError, match="axis"):
        xp.take(x, _t([0], device))
    with pytest.raises(TypeError, match="integer"):
        xp.take(x, _t([0.0], device), axis=0)
    with pytest.raises(TypeError, match="Tensor"):
        xp.take(x, [0], axis=0)
    with pytest.raises(IndexError, match=r"take: index 3 is out of bounds"):
        xp.take(x, _t([3], device), axis=1)
    with pytest.raises(IndexError):
        xp.take(x, _t([0], device), axis=3)
    other = "strict:device2" if device.name != "strict:device2" else "cpu"
    with pytest.raises(ValueError, match=f"'{device}'.*'{other}'"):
        xp.take(x, xp.asarray([0], device=other), axis=0)


def test_take_along_axis(device):
    rng = np.random.default_rng(0)
    x = _t(A, device)
    for axis in (0, 1, 2, -1):
        n = A.shape[axis]
        shape = list(A.shape)
        shape[axis] = 5
        idx = rng.integers(-n, n, size=shape)
        assert_close(xp.take_along_axis(x, _t(idx, device), axis=axis),
                     np.take_along_axis(A, idx, axis=axis))
    # broadcasting along the other axes
    idx = rng.integers(0, 4, size=(1, 3, 2))
    assert_close(xp.take_along_axis(x, _t(idx, device), axis=2), np.take_along_axis(A, idx, 2))
    idx = rng.integers(0, 3, size=(2, 2, 1))
    assert_close(xp.take_along_axis(x, _t(idx, device), axis=1), np.take_along_axis(A, idx, 1))
    e = xp.take_along_axis(x, _t(np.zeros((2, 3, 0), np.int64), device))
    assert e.shape == (2, 3, 0)
    with pytest.raises(ValueError, match="same number of dimensions"):
        xp.take_along_axis(x, _t([0], device))
    with pytest.raises(ValueError, match="broadcast"):
        xp.take_along_axis(x, _t(np.zeros((3, 3, 1), np.int64), device), axis=2)
    with pytest.raises(IndexError, match="take_along_axis"):
        xp.take_along_axis(x, _t(np.full((2, 3, 1), 4), device), axis=2)
    with pytest.raises(IndexError):
        xp.take_along_axis(x, _t(np.zeros((2, 3, 1), np.int64), device), axis=3)


def test_take_gradients(device):
    x = _rand((3, 4), device)
    i = _t([2, 0, 2, -1], device)
    assert gradcheck(lambda t: xp.take(t, i, axis=1), (x,))
    assert gradgradcheck(lambda t: xp.take(t, i, axis=0), (x,))
    idx = _t(np.array([[0, 0, 3], [1, 1, 1], [3, 2, -1]]), device)
    assert gradcheck(lambda t: xp.take_along_axis(t, idx, axis=1), (x,))
    idx0 = _t(np.array([[0, 2, 1, 0], [2, 2, -1, 0]]), device)
    assert gradgradcheck(lambda t: xp.take_along_axis(t, idx0, axis=0), (x,))
    xp.sum(xp.take(x, _t([1, 1, 1], device), axis=0)).backward()
    assert_close(x.grad, np.array([[0.0] * 4, [3.0] * 4, [0.0] * 4]))


def test_take_along_axis_against_torch(device):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal((3, 4))
    idx = np.array([[0, 0, 3], [1, 1, 1], [3, 2, 0]])
    g = np.random.default_rng(1).standard_normal((3, 3))
    x = _t(a, device, requires_grad=True)
    xp.take_along_axis(x, _t(idx, device), axis=1).backward(_t(g, device))
    tx = torch.tensor(a, requires_grad=True)
    torch.take_along_dim(tx, torch.tensor(idx), dim=1).backward(torch.tensor(g))
    assert_close(x.grad, tx.grad.numpy())

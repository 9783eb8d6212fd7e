"""The no-record fast paths of views, joins, pieces, indexing and matrix products (issue 17):
values, dtypes and shapes against NumPy (and PyTorch), view bookkeeping (shared version,
root base, rebuilt history after an in-place change), one node for split-like pieces, and
the errors the memoized checks must still raise."""
from __future__ import annotations

import numpy as np
import pytest

import arraylib as xp
import arraylib.torch  # noqa: F401 (xp.torch: PyTorch's mm/bmm with their rank checks)
from _fd import check_grads
from conftest import assert_close, to_numpy


def _host(shape=(4, 6), dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _t(a, device):
    return xp.asarray(a.copy(), device=device)  # (own storage: the tests write into it)


# Each case runs twice (the first call fills a memo, the second takes the hot path).
VIEW_CASES = [
    ("reshape", lambda m, x: m.reshape(x, (6, 4)), lambda a: a.reshape(6, 4)),
    ("reshape -1", lambda m, x: m.reshape(x, (-1,)), lambda a: a.reshape(-1)),
    ("view", lambda m, x: x.view(2, -1), lambda a: a.reshape(2, -1)),
    ("view tuple", lambda m, x: x.view((24,)), lambda a: a.reshape(24)),
    ("method reshape", lambda m, x: x.reshape(3, 8), lambda a: a.reshape(3, 8)),
    ("permute_dims", lambda m, x: m.permute_dims(x, (1, 0)), lambda a: a.T),
    ("moveaxis", lambda m, x: m.moveaxis(x, 0, -1), lambda a: np.moveaxis(a, 0, -1)),
    ("expand_dims", lambda m, x: m.expand_dims(x, axis=1), lambda a: a[:, None]),
    ("unsqueeze", lambda m, x: m.unsqueeze(x, -1), lambda a: a[..., None]),
    ("method unsqueeze", lambda m, x: x.unsqueeze(0), lambda a: a[None]),
    ("squeeze", lambda m, x: m.squeeze(m.expand_dims(x, axis=0), axis=0), lambda a: a),
    ("broadcast_to", lambda m, x: m.broadcast_to(x, (3, 4, 6)),
     lambda a: np.broadcast_to(a, (3, 4, 6))),
    ("transpose", lambda m, x: m.transpose(x, 0, -1), lambda a: a.T),
    ("method transpose", lambda m, x: x.transpose(1, 0), lambda a: a.T),
    ("t()", lambda m, x: x.t(), lambda a: a.T),
    ("T", lambda m, x: x.T, lambda a: a.T),
    ("matrix_transpose", lambda m, x: m.matrix_transpose(x), lambda a: a.T),
    ("swapaxes", lambda m, x: m.swapaxes(x, 0, 1), lambda a: a.T),
    ("narrow", lambda m, x: m.narrow(x, -1, -2, 2), lambda a: a[:, -2:]),
    ("narrow dim 0", lambda m, x: m.narrow(x, 0, 1, 2), lambda a: a[1:3]),
]


@pytest.mark.parametrize("name,fn,ref", VIEW_CASES, ids=[c[0] for c in VIEW_CASES])
def test_views_values_and_bookkeeping(device, name, fn, ref):
    a = _host()
    x = _t(a, device)
    for _ in range(2):
        with xp.no_grad():
            v0 = fn(xp, x)
        v = fn(xp, x)
        for r in (v0, v):
            assert_close(r, ref(a))
            assert r.dtype == x.dtype and r.device == x.device
            assert r._base is x and r._version == x._version
    x[...] = 2 * x  # an in-place change of the base is seen by the views (shared storage)
    assert_close(v, 2 * ref(a))
    assert v._version == x._version


def test_view_of_view_has_the_root_base(device):
    x = _t(_host(), device)
    v = xp.unsqueeze(xp.permute_dims(x, (1, 0)), 0)
    w = xp.squeeze(xp.expand_dims(v, axis=0), axis=1)
    assert v._base is x and w._base is x
    x[0, 1] = 7.0
    assert float(w[0, 1, 0]) == 7.0


def test_fast_path_views_follow_their_base_history(device):
    # A view made with nothing recorded still remembers how it was made: once its base
    # takes a recorded in-place value, the view's history is rebuilt from it.
    base = xp.zeros((2, 3), device=device)
    views = [xp.permute_dims(base, (1, 0)), xp.expand_dims(base, axis=0),
             xp.reshape(base, (6,)), base.unsqueeze(1), xp.narrow(base, 1, 0, 2),
             xp.unbind(base)[1], xp.split(base, 1, 1)[2]]
    w = xp.asarray(np.arange(6.0).reshape(2, 3), dtype=xp.float32, device=device,
                   requires_grad=True)
    base[...] = w * 3
    for v in views:
        assert v.requires_grad and v.grad_fn is not None
        w.grad = None
        v.sum().backward(retain_graph=True)
        assert to_numpy(w.grad).sum() == pytest.approx(3 * v.numel())


def test_views_with_grad_are_recorded(device):
    x = _t(_host(dtype=np.float64), device)
    check_grads(lambda t: xp.permute_dims(xp.expand_dims(t, axis=0), (2, 0, 1)), [to_numpy(x)],
                device)
    check_grads(lambda t: xp.reshape(xp.broadcast_to(t, (2, 4, 6)), (8, 6)).T,
                [to_numpy(x)], device)
    check_grads(lambda t: xp.narrow(t, 1, 1, 3).transpose(0, 1), [to_numpy(x)], device)


# -- memoized checks still refuse what they refused ----------------------------------------
def test_memoized_shape_checks_still_raise(device):
    x = _t(_host(), device)
    xp.reshape(x, (6, 4))
    with pytest.raises(TypeError):
        xp.reshape(x, (6.0, 4.0))  # hashes like (6, 4)
    with pytest.raises(ValueError):
        xp.reshape(x, (5, 4))
    xp.expand_dims(x, axis=1)
    with pytest.raises(TypeError):
        xp.expand_dims(x, axis=1.0)
    with pytest.raises((IndexError, ValueError)):
        xp.expand_dims(x, axis=5)
    xp.broadcast_to(x, (2, 4, 6))
    with pytest.raises(ValueError):
        xp.broadcast_to(x, (2, 5, 6))
    x.transpose(0, 1)
    with pytest.raises(TypeError):
        x.transpose(0.0, 1)
    with pytest.raises(IndexError):
        x.transpose(0, 2)
    xp.narrow(x, 0, 1, 2)
    with pytest.raises(IndexError):
        xp.narrow(x, 0, 3, 2)
    with pytest.raises(IndexError):
        xp.narrow(xp.asarray(1.0, device=device), 0, 0, 1)
    xp.unbind(x, 1)
    with pytest.raises(IndexError):
        xp.unbind(x, 2)
    with pytest.raises(ValueError):
        xp.unstack(xp.asarray(1.0, device=device))
    xp.squeeze(xp.expand_dims(x, axis=0), axis=0)
    with pytest.raises(ValueError):
        xp.squeeze(x, axis=0)


# -- pieces: one primitive, one node ----------------------------------------------------------
PIECE_CASES = [
    ("unbind", lambda m, x: m.unbind(x), lambda a: [a[i] for i in range(a.shape[0])]),
    ("unbind -1", lambda m, x: m.unbind(x, -1), lambda a: [a[:, i] for i in range(a.shape[1])]),
    ("unstack", lambda m, x: m.unstack(x, axis=1), lambda a: [a[:, i] for i in range(6)]),
    ("split", lambda m, x: m.split(x, 4, 1), lambda a: [a[:, :4], a[:, 4:]]),
    ("split sizes", lambda m, x: m.split(x, [1, 3], 0), lambda a: [a[:1], a[1:]]),
    ("chunk", lambda m, x: m.chunk(x, 3, -1), lambda a: [a[:, :2], a[:, 2:4], a[:, 4:]]),
    ("tensor_split", lambda m, x: m.tensor_split(x, 4, 1),
     lambda a: [a[:, :2], a[:, 2:4], a[:, 4:5], a[:, 5:]]),
    ("tensor_split unsorted", lambda m, x: m.tensor_split(x, [5, 2], 1),
     lambda a: [a[:, :5], a[:, 5:2], a[:, 2:]]),
    ("split one piece", lambda m, x: m.split(x, 6, 1), lambda a: [a]),
]


@pytest.mark.parametrize("name,fn,ref", PIECE_CASES, ids=[c[0] for c in PIECE_CASES])
def test_pieces_values_and_views(device, name, fn, ref):
    a = _host()
    x = _t(a, device)
    for _ in range(2):
        ps = fn(xp, x)
        assert isinstance(ps, tuple) and len(ps) == len(ref(a))
        for p, r in zip(ps, ref(a)):
            assert_close(p, r)
            assert p.dtype == x.dtype and p._base is x
    x[...] = x + 1
    for p, r in zip(ps, ref(a)):
        assert_close(p, r + 1)


@pytest.mark.parametrize("name,fn,ref", PIECE_CASES, ids=[c[0] for c in PIECE_CASES])
def test_pieces_are_one_node_and_differentiate(device, name, fn, ref):
    x = xp.asarray(_host(dtype=np.float64), device=device, requires_grad=True)
    ps = fn(xp, x)
    if len(ps) > 1:
        assert len({id(p.grad_fn) for p in ps}) == 1
    check_grads(lambda t: tuple(fn(xp, t)), [_host(dtype=np.float64)], device)


def test_pieces_gradient_against_torch(torch):
    a = _host(dtype=np.float64)
    for name, fn, _ in PIECE_CASES:
        if name == "unstack":  # (PyTorch's is unbind, above)
            continue
        x = xp.asarray(a, requires_grad=True)
        tx = torch.tensor(a, requires_grad=True)
        w = [np.random.default_rng(k).standard_normal(p.shape) for k, p in enumerate(fn(xp, x))]
        sum(xp.sum(p * xp.asarray(wk)) for p, wk in zip(fn(xp, x), w)).backward()
        sum((p * torch.tensor(wk)).sum() for p, wk in zip(fn(torch, tx), w)).backward()
        np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=1e-12, err_msg=name)


def test_pieces_partial_use_and_errors(device):
    x = xp.asarray(_host(dtype=np.float64), device=device, requires_grad=True)
    first, _ = xp.chunk(x, 2, 1)
    first.sum().backward()  # the other piece gets no cotangent: zeros
    assert_close(x.grad, np.concatenate([np.ones((4, 3)), np.zeros((4, 3))], axis=1))
    with pytest.raises(RuntimeError):
        xp.split(x, [2, 3], 1)
    with pytest.raises(RuntimeError):
        xp.chunk(x, 0)


# -- joins ----------------------------------------------------------------------------------
def test_joins_values(device, torch):
    a, b = _host(seed=1), _host(seed=2)
    x, y = _t(a, device), _t(b, device)
    ta, tb = torch.tensor(a), torch.tensor(b)
    for _ in range(2):
        assert_close(xp.concat([x, y], axis=1), np.concatenate([a, b], axis=1))
        assert_close(xp.concat((x, y, x)), np.concatenate([a, b, a]))
        assert_close(xp.stack([x, y], axis=-1), np.stack([a, b], axis=-1))
        assert_close(xp.cat([x, y], 0), torch.cat([ta, tb], 0).numpy())
        assert_close(xp.hstack([x, y]), torch.hstack([ta, tb]).numpy())
        assert_close(xp.vstack([x, y]), torch.vstack([ta, tb]).numpy())
        assert_close(xp.vstack([x[0], y[0]]), torch.vstack([ta[0], tb[0]]).numpy())
    with pytest.raises(ValueError):
        xp.concat([x, _t(_host((3, 5)), device)], axis=1)
    with pytest.raises(ValueError):
        xp.stack([x, _t(_host((4, 5)), device)])
    z = xp.asarray(a, dtype=xp.int32, device=device)
    assert xp.concat([x, z]).dtype == xp.float32  # promotion still goes the slow path


def test_joins_record_with_grad(device):
    a, b = _host(dtype=np.float64, seed=1), _host(dtype=np.float64, seed=2)
    check_grads(lambda s, t: xp.concat([s, t], axis=1), [a, b], device)
    check_grads(lambda s, t: xp.stack([s, t], axis=0), [a, b], device)


# -- indexing ---------------------------------------------------------------------------------
def test_take_index_select_getitem(device, torch):
    a = _host()
    x = _t(a, device)
    i = xp.asarray(np.array([0, 3, 0, -1]), device=device)
    for _ in range(2):
        assert_close(xp.take(x, i, axis=0), np.take(a, [0, 3, 0, -1], axis=0))
        assert_close(xp.take(x, i, axis=1), np.take(a, [0, 3, 0, -1], axis=1))
        assert_close(xp.index_select(x, 1, i), np.take(a, [0, 3, 0, -1], axis=1))
        assert_close(x[i], a[[0, 3, 0, -1]])
        assert_close(xp.take(x[0], i), a[0][[0, 3, 0, -1]])
    bad = xp.asarray(np.array([0, 4]), device=device)
    with pytest.raises(IndexError):
        xp.take(x, bad, axis=0)
    with pytest.raises(IndexError):
        x[bad]
    with pytest.raises(TypeError):
        xp.take(x, xp.asarray([0.0, 1.0], device=device), axis=0)
    with pytest.raises(ValueError):
        xp.take(x, i)  # a 2-D x needs an axis
    xg = xp.asarray(a.astype(np.float64), device=device, requires_grad=True)
    xp.index_select(xg, 0, i).sum().backward()
    tx = torch.tensor(a.astype(np.float64), requires_grad=True)
    torch.index_select(tx, 0, torch.tensor([0, 3, 0, 3])).sum().backward()
    assert_close(xg.grad, tx.grad.numpy())


def test_gather_fast_path_bounds(device, torch):
    a = _host()
    x = _t(a, device)
    idx = np.array([[0, 5, 1]] * 4)
    got = xp.gather(x, -1, xp.asarray(idx, device=device))
    got = xp.gather(x, -1, xp.asarray(idx, device=device))  # (memoized shape checks)
    assert_close(got, torch.gather(torch.tensor(a), -1, torch.tensor(idx)).numpy())
    for bad in (6, -7):
        with pytest.raises(IndexError):
            xp.gather(x, -1, xp.asarray(np.full((4, 3), bad), device=device))


# -- matrix products and copies ---------------------------------------------------------------
def test_products_values(device, torch):
    a, b = _host((4, 6)), _host((6, 5), seed=3)
    v = _host((6,), seed=4)
    x, y, u = _t(a, device), _t(b, device), _t(v, device)
    for _ in range(2):
        assert_close(xp.mm(x, y), a @ b, rtol=1e-5)
        assert_close(xp.dot(u, u), np.asarray(v @ v), rtol=1e-5)
        assert_close(xp.bmm(xp.stack([x, x]), xp.stack([y, y])), np.stack([a @ b] * 2),
                     rtol=1e-5)
        assert_close(xp.outer(u, u), np.outer(v, v), rtol=1e-6)
        assert_close(xp.tensordot(x, y, axes=1), np.tensordot(a, b, axes=1), rtol=1e-5)
        assert_close(xp.tensordot(x, x, axes=2), np.asarray(np.tensordot(a, a, axes=2)),
                     rtol=1e-5)
        assert_close(xp.vecdot(x, u), a @ v, rtol=1e-5)
    with pytest.raises(RuntimeError):
        xp.dot(x, u)
    with pytest.raises(RuntimeError):
        xp.torch.mm(u, y)
    with pytest.raises(RuntimeError):
        xp.torch.bmm(x, y)
    assert_close(xp.torch.mm(x, y), a @ b, rtol=1e-5)
    assert_close(xp.torch.bmm(xp.stack([x]), xp.stack([y])), (a @ b)[None], rtol=1e-5)
    with pytest.raises(ValueError):
        xp.tensordot(x, x, axes=1)
    with pytest.raises(ValueError):
        xp.vecdot(x, y)
    with pytest.raises(TypeError):
        xp.tensordot(xp.asarray(a > 0, device=device), xp.asarray(a > 0, device=device), axes=1)


def test_products_record_with_grad(device):
    a, b = _host((3, 4), np.float64), _host((4, 2), np.float64, seed=5)
    check_grads(lambda s, t: xp.tensordot(s, t, axes=1), [a, b], device)
    check_grads(lambda s, t: xp.vecdot(s, t), [a, b[:, 0]], device)
    check_grads(lambda s, t: xp.outer(s, t), [a[0], b[:, 0]], device)


def test_clone(device):
    a = _host()
    x = _t(a, device)
    c = x.clone()
    assert_close(c, a)
    assert c._base is None
    c[0, 0] = 99.0
    assert float(x[0, 0]) == a[0, 0]
    w = xp.asarray(a.astype(np.float64), device=device, requires_grad=True)
    c = w.clone()
    assert c.grad_fn is not None
    (c * 2).sum().backward()
    assert_close(w.grad, np.full(a.shape, 2.0))


def test_memoized_basic_keys(device, torch):
    a = _host((3, 4, 5))
    x = _t(a, device)
    ta = torch.tensor(a)
    for _ in range(2):
        for key in [(Ellipsis, None), (1, Ellipsis), (None, 2, Ellipsis, 1), (0, 1, 2),
                    (-1,), (None,), (Ellipsis,)]:
            r = x[key]
            assert_close(r, ta[key].numpy())
            assert r._base is x
    with pytest.raises(IndexError):
        x[3, 0]
    with pytest.raises(IndexError):
        x[0, 0, 0, 0]
    assert_close(x[True, 0], a[True, 0])  # (a bool is an array index, not the int 1)


def test_roll_and_permute_memoized(device):
    a = _host()
    x = _t(a, device)
    for _ in range(2):
        for shift, axis in [(1, -1), (2, None), ((1, 2), (0, 1)), (-3, 0)]:
            assert_close(xp.roll(x, shift, axis=axis), np.roll(a, shift, axis=axis))
        assert_close(x.permute(1, 0), a.T)
        assert_close(x.permute((1, 0)), a.T)
        assert_close(xp.permute(x, [1, 0]), a.T)
        assert_close(xp.swapdims(x, -1, 0), a.T)
    with pytest.raises(ValueError):
        xp.roll(x, (1, 2), axis=0)
    with pytest.raises(TypeError):
        xp.roll(x, 1.5, axis=0)
    with pytest.raises((IndexError, ValueError)):
        xp.roll(x, 1, axis=5)
    with pytest.raises(TypeError):
        x.permute(1.0, 0)
    with pytest.raises((IndexError, ValueError)):
        x.permute(0, 2)

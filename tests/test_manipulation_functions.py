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


def test_view_fast_paths_share_version(device):
    """reshape/permute_dims/matrix_transpose without grad: views sharing the counter and
    the root base; the fast axis path still rejects bad or repeated axes."""
    x = _t(np.arange(6.0).reshape(2, 3), device)
    for v in (xp.reshape(x, (3, 2)), xp.reshape(x, (-1,)), xp.permute_dims(x, (1, 0)),
              xp.matrix_transpose(x), x.mT):
        assert v._base is x and v._version == x._version
    r = xp.reshape(xp.permute_dims(x, (1, 0)), (6,))  # may copy; still counted as a view
    assert r._base is x
    v = xp.reshape(x, (6,))
    v[...] = 1.0
    assert x._version == v._version == xp.reshape(x, (3, 2))._version
    with pytest.raises(ValueError, match="repeated axis"):
        xp.permute_dims(x, (0, 0))
    with pytest.raises(ValueError, match="permute_dims"):
        xp.permute_dims(x, (0, 2))
    with pytest.raises(TypeError, match="permute_dims"):
        xp.permute_dims(x, (0, 1.0))
    assert_close(xp.permute_dims(x, (-1, 0)), np.ones((3, 2)))


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


# -- values vs NumPy ------------------------------------------------------------------
from _fd import check_grads  # noqa: E402

A = np.arange(24.0).reshape(2, 3, 4)


def test_permute_dims(device):
    x = _t(A, device)
    assert_close(xp.permute_dims(x, (2, 0, 1)), np.transpose(A, (2, 0, 1)))
    assert_close(xp.permute_dims(x, (-1, 0, -2)), np.transpose(A, (2, 0, 1)))
    with pytest.raises(ValueError, match="permute_dims"):
        xp.permute_dims(x, (0, 1))
    with pytest.raises(ValueError, match="repeated"):
        xp.permute_dims(x, (0, 0, 1))
    with pytest.raises(IndexError, match="axis 3 is out of bounds .* dimension 3"):
        xp.permute_dims(x, (0, 1, 3))


def test_moveaxis(device):
    x = _t(A, device)
    for s, d in [(0, -1), (-1, 0), ((0, 1), (2, 0)), (1, 1)]:
        assert_close(xp.moveaxis(x, s, d), np.moveaxis(A, s, d))
    with pytest.raises(ValueError, match="moveaxis"):
        xp.moveaxis(x, (0, 1), (0,))
    with pytest.raises(IndexError, match="moveaxis"):
        xp.moveaxis(x, 3, 0)


def test_expand_dims(device):
    x = _t(A, device)
    for ax in [0, -1, 3, -4, (0, 1), (0, -1), (1, 3, -1)]:
        assert_close(xp.expand_dims(x, axis=ax), np.expand_dims(A, ax))
    with pytest.raises(IndexError, match="expand_dims: axis 4 is out of bounds"):
        xp.expand_dims(x, axis=4)
    with pytest.raises(IndexError):
        xp.expand_dims(x, axis=-5)
    with pytest.raises(ValueError, match="repeated"):
        xp.expand_dims(x, axis=(0, 0))
    assert xp.expand_dims(_t(3.0, device), axis=0).shape == (1,)


def test_squeeze(device):
    a = np.arange(6.0).reshape(1, 2, 1, 3)
    x = _t(a, device)
    for ax in [0, 2, -2, (0, 2)]:
        assert_close(xp.squeeze(x, ax), np.squeeze(a, ax))
    assert xp.squeeze(x, axis=None).shape == (2, 3)
    with pytest.raises(ValueError, match=r"squeeze: axis 1 .* size 2"):
        xp.squeeze(x, 1)
    with pytest.raises(IndexError, match="squeeze"):
        xp.squeeze(x, 4)


def test_flip_roll(device):
    x = _t(A, device)
    for ax in [None, 0, -1, (0, 2)]:
        assert_close(xp.flip(x, axis=ax), np.flip(A, ax))
    for sh, ax in [(1, None), (-2, None), (1, 0), ((1, 2), (0, 2)), (5, -1), ((1, 1), (1, 1))]:
        assert_close(xp.roll(x, sh, axis=ax), np.roll(A, sh, axis=ax))
    with pytest.raises(ValueError, match="roll"):
        xp.roll(x, (1, 2), axis=0)
    with pytest.raises(IndexError, match="roll"):
        xp.roll(x, 1, axis=3)
    assert_close(xp.flip(_t(2.0, device)), np.asarray(2.0))


def test_concat_stack_unstack(device):
    a, b = np.arange(6.0).reshape(2, 3), np.arange(9.0).reshape(3, 3)
    x, y = _t(a, device), _t(b, device)
    assert_close(xp.concat([x, y]), np.concatenate([a, b]))
    assert_close(xp.concat((x, y), axis=None), np.concatenate([a.ravel(), b.ravel()]))
    assert_close(xp.concat([x, x], axis=-1), np.concatenate([a, a], axis=-1))
    assert_close(xp.concat([x]), a)
    for ax in [0, 1, 2, -1, -3]:
        assert_close(xp.stack([x, x + 1], axis=ax), np.stack([a, a + 1], axis=ax))
    for ax in [0, 1, -1]:
        parts = xp.unstack(x, axis=ax)
        assert isinstance(parts, tuple)
        for p, q in zip(parts, [np.take(a, i, axis=ax) for i in range(a.shape[ax])]):
            assert_close(p, q)
    assert xp.unstack(_t(np.zeros((0, 3)), device)) == ()
    one = xp.unstack(_t(np.ones((1, 3)), device))
    assert isinstance(one, tuple) and len(one) == 1 and one[0].shape == (3,)


def test_concat_stack_errors(device):
    x = _t(np.zeros((2, 3)), device)
    with pytest.raises(ValueError, match=r"concat: .*\(2, 3\).*\(2, 4\)"):
        xp.concat([x, _t(np.zeros((2, 4)), device)])
    with pytest.raises(ValueError, match="concat"):
        xp.concat([])
    with pytest.raises(IndexError, match="concat: axis 2"):
        xp.concat([x, x], axis=2)
    with pytest.raises(ValueError, match="stack"):
        xp.stack([x, _t(np.zeros((3, 2)), device)])
    with pytest.raises(IndexError, match="stack"):
        xp.stack([x, x], axis=3)
    with pytest.raises(TypeError, match="concat"):
        xp.concat(x)
    with pytest.raises(ValueError, match="unstack"):
        xp.unstack(_t(1.0, device))
    with pytest.raises(TypeError, match="concat"):  # bool with int: no rule (float: the float)
        xp.concat([xp.astype(x, xp.int8), xp.asarray([[True, False, True]], device=device)])


def test_device_mixing():
    x = xp.zeros((2, 2), device="cpu")
    y = xp.zeros((2, 2), device="strict:device1")
    for f in (xp.concat, xp.stack):
        with pytest.raises(ValueError, match=r"'cpu'.*'strict:device1'"):
            f([x, y])
    with pytest.raises(ValueError, match=r"'cpu'.*'strict:device1'"):
        xp.broadcast_arrays(x, y)
    with pytest.raises(ValueError, match="repeat"):
        xp.repeat(x, xp.asarray([1, 2], device="strict:device1"), axis=0)


@pytest.mark.parametrize("dts", [("float32", "float64"), ("int8", "int32"), ("uint8", "int16"),
                                 ("float32", "complex64"), ("int32", "float32"),
                                 ("bool", "bool"), ("bool", "float32")])
def test_concat_stack_promotion(device, dts):
    arrs = [xp.ones((2,), dtype=getattr(xp, d), device=device) for d in dts]
    # as NumPy, except an integer or bool with a float gives the float (as PyTorch)
    expected = np.float32 if "float32" in dts and "float64" not in dts and "complex64" not in dts \
        else np.result_type(*[np.dtype(d) for d in dts])
    assert xp.concat(arrs).dtype == expected
    assert xp.stack(arrs).dtype == expected


def test_broadcast_arrays(device):
    a, b = np.arange(3.0).reshape(3, 1), np.arange(4.0)
    outs = xp.broadcast_arrays(_t(a, device), _t(b, device))
    assert isinstance(outs, tuple)  # 2025.12: a tuple (was a list before)
    assert xp.broadcast_arrays() == ()
    for o, e in zip(outs, np.broadcast_arrays(a, b)):
        assert_close(o, e)
    with pytest.raises(ValueError, match="broadcast"):
        xp.broadcast_arrays(_t(np.zeros(3), device), _t(np.zeros(4), device))


def test_repeat(device):
    a = np.arange(6.0).reshape(2, 3)
    x = _t(a, device)
    assert_close(xp.repeat(x, 2), np.repeat(a, 2))
    assert_close(xp.repeat(x, 3, axis=1), np.repeat(a, 3, axis=1))
    assert_close(xp.repeat(x, 0, axis=0), np.repeat(a, 0, axis=0))
    r = np.array([1, 0, 2])
    assert_close(xp.repeat(x, xp.asarray(r, device=device), axis=1), np.repeat(a, r, axis=1))
    assert_close(xp.repeat(x, xp.asarray([2], device=device), axis=0), np.repeat(a, 2, axis=0))
    assert_close(xp.repeat(x, xp.asarray([2, 1], dtype=xp.uint64, device=device), axis=0),
                 np.repeat(a, [2, 1], axis=0))
    with pytest.raises(ValueError, match="repeat"):
        xp.repeat(x, -1)
    with pytest.raises(TypeError, match="repeat"):
        xp.repeat(x, xp.asarray([1.0, 2.0], device=device), axis=0)
    with pytest.raises(ValueError, match="repeat"):
        xp.repeat(x, xp.asarray([1, 2], device=device), axis=1)
    with pytest.raises(IndexError, match="repeat"):
        xp.repeat(x, 2, axis=2)


def test_tile(device):
    a = np.arange(6.0).reshape(2, 3)
    x = _t(a, device)
    for reps in [(2,), (2, 1), (1, 3), (2, 2, 2), (0, 1), (3, 1, 1, 1)]:
        assert_close(xp.tile(x, reps), np.tile(a, reps))
    with pytest.raises(ValueError, match="tile"):
        xp.tile(x, (-1, 2))


def test_dtypes_preserved(device):
    for dt in (xp.int8, xp.uint16, xp.bool, xp.complex64, xp.float32):
        x = xp.ones((2, 3), dtype=dt, device=device)
        for y in (xp.reshape(x, (3, 2)), xp.permute_dims(x, (1, 0)), xp.flip(x),
                  xp.roll(x, 1), xp.tile(x, (2,)), xp.repeat(x, 2), xp.expand_dims(x, axis=0),
                  xp.broadcast_to(x, (2, 2, 3)), xp.concat([x, x]), xp.stack([x, x]),
                  xp.unstack(x)[0], xp.moveaxis(x, 0, 1)):
            assert y.dtype == dt
            assert y.device == x.device


# -- views share the version counter ----------------------------------------------------------
def test_views_share_version():
    x = xp.ones((2, 3))
    for v in (xp.reshape(x, (6,)), xp.permute_dims(x, (1, 0)), xp.expand_dims(x, axis=0),
              xp.squeeze(xp.reshape(x, (1, 2, 3)), 0), xp.broadcast_to(x, (4, 2, 3)),
              xp.moveaxis(x, 0, 1), xp.flip(x), xp.unstack(x)[0]):
        assert v._vc is x._vc


# -- gradients ------------------------------------------------------------------------------
rng = np.random.default_rng(1)
R = rng.standard_normal((2, 3, 2))

GRAD_CASES = {
    "reshape": (lambda x: xp.reshape(x, (3, -1)), [R]),
    "broadcast_to": (lambda x: xp.broadcast_to(x[:, :1, :] if False else xp.reshape(x, (2, 3, 2)),
                                               (2, 2, 3, 2)), [R]),
    "broadcast_to_expand": (lambda x: xp.broadcast_to(x, (4, 3, 2)), [R[:1]]),
    "permute_dims": (lambda x: xp.permute_dims(x, (2, 0, 1)), [R]),
    "moveaxis": (lambda x: xp.moveaxis(x, 0, -1), [R]),
    "expand_dims": (lambda x: xp.expand_dims(x, axis=(0, 2)), [R]),
    "squeeze": (lambda x: xp.squeeze(x, 1), [R[:, :1]]),
    "flip": (lambda x: xp.flip(x, axis=(0, 2)), [R]),
    "roll": (lambda x: xp.roll(x, (1, -1), axis=(1, 2)), [R]),
    "roll_flat": (lambda x: xp.roll(x, 4), [R]),
    "concat": (lambda x, y: xp.concat([x, y, x], axis=1), [R, rng.standard_normal((2, 1, 2))]),
    "concat_none": (lambda x, y: xp.concat([x, y], axis=None), [R, rng.standard_normal(3)]),
    "stack": (lambda x, y: xp.stack([x, y], axis=1), [R, rng.standard_normal((2, 3, 2))]),
    "unstack": (lambda x: xp.unstack(x, axis=1), [R]),
    "unstack_one": (lambda x: xp.unstack(x, axis=1), [R[:, :1]]),
    "unstack_partial": (lambda x: xp.unstack(x, axis=1)[1] * 2.0, [R]),
    "repeat_int": (lambda x: xp.repeat(x, 2, axis=1), [R]),
    "repeat_flat": (lambda x: xp.repeat(x, 3), [R[0]]),
    "repeat_tensor": (lambda x: xp.repeat(x, xp.asarray([2, 0, 1], device=x.device), axis=1),
                      [R]),
    "tile": (lambda x: xp.tile(x, (2, 1, 3)), [R]),
    "tile_more": (lambda x: xp.tile(x, (2, 1, 1, 2)), [R]),
    "broadcast_arrays": (lambda x, y: tuple(xp.broadcast_arrays(x, y)),
                         [R[:, :1], rng.standard_normal((3, 1))]),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradients(device, name):
    fn, arrays = GRAD_CASES[name]
    check_grads(fn, arrays, device)


def test_second_order(device):
    x = xp.asarray(R, device=device, requires_grad=True)
    y = xp.sum(xp.tile(xp.flip(xp.reshape(x * x, (3, 4)), axis=0), (2, 1)) ** 2)
    (g,) = xp.autograd.grad(y, x, create_graph=True)
    assert_close(g, 2 * 2 * 2 * R ** 3)
    (h,) = xp.autograd.grad(xp.sum(g), x)
    assert_close(h, 24 * R ** 2)


def test_vs_torch(device):
    torch = pytest.importorskip("torch")
    a = rng.standard_normal((2, 3, 4))
    g = rng.standard_normal((3, 2, 8))
    x = xp.asarray(a, device=device, requires_grad=True)
    y = xp.repeat(xp.roll(xp.permute_dims(xp.flip(x, axis=1), (1, 0, 2)), 1, axis=0), 2, axis=2)
    y.backward(xp.asarray(g, device=device))
    tx = torch.tensor(a, requires_grad=True)
    ty = torch.roll(tx.flip(1).permute(1, 0, 2), 1, dims=0).repeat_interleave(2, dim=2)
    ty.backward(torch.tensor(g))
    assert_close(y, ty.detach().numpy())
    assert_close(x.grad, tx.grad.numpy())


# -- hypothesis: shapes --------------------------------------------------------------------
from hypothesis import given, settings, strategies as st  # noqa: E402
import hypothesis.extra.numpy as hnp  # noqa: E402

shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)


@settings(max_examples=40, deadline=None)
@given(shape=shapes, data=st.data())
def test_hyp_reshape_permute(shape, data):
    a = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    x = xp.asarray(a)
    perm = data.draw(st.permutations(range(len(shape))))
    assert_close(xp.permute_dims(x, tuple(perm)), np.transpose(a, perm))
    assert_close(xp.reshape(x, (-1,)), a.reshape(-1))
    assert_close(xp.flip(x), np.flip(a))
    new = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3))
    target = tuple(new) + tuple(shape)
    assert_close(xp.broadcast_to(x, target), np.broadcast_to(a, target))


@settings(max_examples=40, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=4, max_side=4))
def test_hyp_broadcast_shapes(shapes):
    assert xp.broadcast_shapes(*shapes.input_shapes) == np.broadcast_shapes(*shapes.input_shapes)


# the VJP rules are themselves differentiable: check d(J^T u)/d(x, u) (double backward)
DOUBLE = ["reshape", "broadcast_to_expand", "permute_dims", "flip", "roll", "concat", "stack",
          "unstack", "repeat_int", "repeat_tensor", "tile", "squeeze", "expand_dims"]


@pytest.mark.parametrize("name", DOUBLE)
def test_double_backward(device, name):
    fn, arrays = GRAD_CASES[name]
    xs0 = [xp.asarray(a, device=device) for a in arrays]
    outs = fn(*xs0)
    outs = outs if isinstance(outs, tuple) else (outs,)
    us = [np.random.default_rng(5).standard_normal(o.shape) for o in outs]
    k = len(arrays)

    def vjp(*args):
        xs, u = args[:k], args[k:]
        for x in xs:
            if not x.requires_grad:
                x.requires_grad_()
        ys = fn(*xs)
        ys = ys if isinstance(ys, tuple) else (ys,)
        total = sum(xp.sum(y * v) for y, v in zip(ys, u))
        gs = xp.autograd.grad(total, xs, create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    check_grads(vjp, list(arrays) + us, device)

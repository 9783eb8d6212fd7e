"""vmap's fast paths: the all-at-dim-0 entry (in_dims 0 or a tuple of 0/None), the
element-wise shortcut of ``batch_apply``, operators with a Python scalar on a batched
tensor; each checked against a loop over the examples, with gradients and tangents."""
import numpy as np
import pytest

import arraylib as xp
from arraylib._core import _batching
from arraylib.func import grad, jacfwd, vmap
from conftest import to_numpy


def _rand(*shape, seed=0, device="cpu", dtype=None):
    a = np.random.default_rng(seed).standard_normal(shape)
    return xp.asarray(a, device=device, dtype=dtype)


def _close(a, b, rtol=1e-12, atol=1e-12):
    np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=rtol, atol=atol)


def _loop(f, args, dims):
    n = next(a.shape[0] for a, d in zip(args, dims) if d is not None)
    return xp.stack([f(*[a if d is None else a[i] for a, d in zip(args, dims)])
                     for i in range(n)])


def d1(a, w):
    return xp.tanh(a @ w) * 2 + xp.sum(a)


@pytest.mark.parametrize("in_dims", [(0, None), [0, None]])
def test_tuple_in_dims_with_none_match_a_loop(device, in_dims):
    a, w = _rand(6, 5, device=device), _rand(5, 3, seed=1, device=device)
    _close(vmap(d1, in_dims=in_dims)(a, w), _loop(d1, (a, w), (0, None)))


def test_unbatched_argument_may_be_any_object():
    a = _rand(4, 3)
    out = vmap(lambda x, k: x * k["scale"], in_dims=(0, None))(a, {"scale": 3.0})
    _close(out, a * 3.0)


def test_fast_entry_keeps_the_errors():
    a, b = _rand(4, 3), _rand(5, 3)
    with pytest.raises(ValueError, match="different sizes"):
        vmap(xp.add, in_dims=(0, 0))(a, b)
    with pytest.raises(ValueError, match="in_dims has 1 entries"):
        vmap(xp.add, in_dims=(0,))(a, a)
    with pytest.raises(ValueError, match="no input is batched"):
        vmap(xp.add, in_dims=(None, None))(a, a)
    with pytest.raises(ValueError, match="out of range"):
        vmap(xp.sin, in_dims=(0,))(xp.asarray(1.0))


@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "pow"])
@pytest.mark.parametrize("scalar", [3, 1.5])
def test_scalar_operators_match_a_loop(device, op, scalar):
    x = xp.abs(_rand(4, 3, device=device)) + 0.5
    fwd = lambda t: getattr(t, f"__{op}__")(scalar)  # noqa: E731
    rev = lambda t: getattr(t, f"__r{op}__")(scalar)  # noqa: E731
    for f in (fwd, rev):
        _close(vmap(f)(x), _loop(f, (x,), (0,)))


def test_scalar_operators_keep_promotion_and_range_checks():
    i = xp.asarray(np.arange(6).reshape(2, 3), dtype=xp.int8)
    out = vmap(lambda t: t * 2.5)(i)
    assert out.dtype == xp.float32 or out.dtype == xp.float64
    _close(out, xp.astype(i, out.dtype) * 2.5)
    assert vmap(lambda t: t + 1)(i).dtype == xp.int8
    with pytest.raises(Exception) as plain:
        i[0] + 1000
    with pytest.raises(type(plain.value)):
        vmap(lambda t: t + 1000)(i)


def test_scalar_operators_differentiate(device):
    x = _rand(4, 3, device=device)
    f = lambda t: xp.sum((2.0 - t) ** 2 / 3 + 1.5 * t)  # noqa: E731
    g = vmap(grad(f))(x)
    _close(g, -2 * (2.0 - x) / 3 + 1.5)
    j = vmap(jacfwd(lambda t: (t * 3 - 1) ** 2))(x)
    expected = xp.expand_dims(6 * (3 * x - 1), axis=-1) * xp.eye(3, dtype=x.dtype, device=device)
    _close(j, expected)


def test_nested_vmap_with_scalars_and_unequal_ranks(device):
    x, y = _rand(3, 4, 5, device=device), _rand(3, 4, seed=2, device=device)
    inner = lambda a, b: (a * 2 + b) - 1 / (1 + b * b)  # noqa: E731  a (5,), b ()
    out = vmap(vmap(inner))(x, y)
    expected = x * 2 + y[..., None] - 1 / (1 + y[..., None] ** 2)
    _close(out, expected)
    z = _rand(3, 5, seed=4, device=device)  # batched, one rank less than x; then the reverse
    _close(vmap(lambda a, b: a + b)(x, z), x + z[:, None, :])
    _close(vmap(lambda b, a: b * a)(z, x), x * z[:, None, :])


def test_elementwise_shortcut_records_gradients():
    x, y = _rand(4, 3), _rand(4, seed=3)
    loss = lambda a, b: xp.sum(xp.exp(a) * b + xp.sin(a))  # noqa: E731
    ga, gb = vmap(grad(loss, argnums=(0, 1)))(x, y)
    _close(ga, xp.exp(x) * y[:, None] + xp.cos(x))
    _close(gb, xp.sum(xp.exp(x), axis=1))


def test_elementwise_rule_refuses_several_outputs():
    prim = _batching.Primitive("two_out", lambda B, x: (x, x), nout=2)
    with pytest.raises(ValueError, match="two_out"):
        _batching.elementwise_rule(prim)


# -- the lift of a lower-rank batched operand, memoized axis rules, batched operators --
def reduce_then_broadcast(a, b):
    return a * xp.sum(b) - xp.max(a, axis=-1, keepdims=True) / (1 + xp.sum(b * b))


def test_lift_of_lower_rank_operand_matches_a_loop(device):
    a, b = _rand(5, 4, 3, device=device), _rand(5, 2, seed=1, device=device)
    _close(vmap(reduce_then_broadcast)(a, b), _loop(reduce_then_broadcast, (a, b), (0, 0)))
    # the lifted operand on either side, unbatched partners of each rank
    c = _rand(3, seed=2, device=device)
    f = lambda s, m: xp.sum(s) + m - xp.sum(s * s) * m  # noqa: E731
    _close(vmap(f, in_dims=(0, None))(b, c), _loop(f, (b, c), (0, None)))


def test_lift_records_gradients_and_tangents_when_needed():
    a, b = _rand(5, 4, 3), _rand(5, 2, seed=1)
    loss = lambda a, b: xp.sum(reduce_then_broadcast(a, b) ** 2)  # noqa: E731
    ga, gb = vmap(grad(loss, argnums=(0, 1)))(a, b)
    for i in range(5):
        la, lb = grad(loss, argnums=(0, 1))(a[i], b[i])
        _close(ga[i], la)
        _close(gb[i], lb)
    J = vmap(jacfwd(lambda b, a: reduce_then_broadcast(a, b)))(b, a)
    assert J.shape == (5, 4, 3, 2)
    _close(J[3], jacfwd(lambda b: reduce_then_broadcast(a[3], b))(b[3]))


def test_lifted_operand_saved_for_backward_still_sees_in_place_writes():
    w = xp.asarray(np.ones(2), requires_grad=True)
    x = _rand(4, 3)

    def f(x, modify):
        t = xp.sum(x)  # lower rank, lifted against w (which records: t is saved)
        out = t * w
        if modify:
            t += 1.0  # written into t's value, which the saved lifted view shares
        return out
    xp.sum(vmap(lambda x: f(x, False))(x)).backward()
    _close(w.grad, np.full(2, float(np.sum(to_numpy(x)))))
    out = vmap(lambda x: f(x, True))(x)
    with pytest.raises(RuntimeError, match="modified"):
        xp.sum(out).backward()


def test_axis_rule_memo_follows_batch_size_and_rank(device):
    for n in (3, 5, 3):  # one memoized parameter dict (same logical shape), several batches
        x = _rand(n, 4, seed=n, device=device)
        _close(vmap(xp.sum)(x), xp.sum(x, axis=1))
        _close(vmap(lambda v: xp.cumulative_sum(v, axis=0))(x), xp.cumulative_sum(x, axis=1))
    y = _rand(2, 3, 4, device=device)  # the same logical shape one level further down
    _close(vmap(vmap(xp.sum))(y), xp.sum(y, axis=2))
    _close(vmap(vmap(lambda v: xp.reshape(v, (2, 2))))(y), xp.reshape(y, (2, 3, 2, 2)))
    rule = _batching.AxisRule(None, axes=("axis",))
    p = {"axis": None}
    assert rule.physical(p, 3, 2) == {"axis": (1, 2)}
    assert rule.physical(p, 3, 1) == {"axis": (1,)}  # (rank changed: not the memo's entry)
    assert _batching.AxisRule(None, flatten_none=True).physical(p, 3, 2) is None


def test_batched_operators_keep_promotion_and_errors():
    a32 = xp.asarray(np.ones((3, 2)), dtype=xp.float32)
    a64, i64 = _rand(3, 2), xp.asarray(np.arange(6).reshape(3, 2))
    out = vmap(lambda x, y: x + y)(a32, a64)
    assert out.dtype == xp.float64
    _close(out, to_numpy(a64) + 1)
    out = vmap(lambda x, y: x * y)(i64, a32)
    assert out.dtype == xp.float32
    _close(out, np.arange(6).reshape(3, 2).astype(np.float32), rtol=1e-6)
    with pytest.raises(TypeError, match="bitwise_and"):
        vmap(lambda x, y: x & y)(a64, a64)
    b = _rand(3, 2, device="strict:device1")
    with pytest.raises(ValueError, match="different devices"):
        vmap(lambda x, y: x - y)(a64, b)


@pytest.mark.parametrize("shape", [(5, 4), (5, 2, 4), (5, 3, 2, 4)])
def test_batched_matmul_with_an_unbatched_matrix_matches_a_loop(device, shape):
    a, m = _rand(*shape, device=device), _rand(4, 3, seed=1, device=device)
    mm = lambda x, w: x @ w  # noqa: E731
    _close(vmap(mm, in_dims=(0, None))(a, m), _loop(mm, (a, m), (0, None)))
    g = vmap(grad(lambda x, w: xp.sum(xp.tanh(x @ w)), argnums=1), in_dims=(0, None))(a, m)
    _close(g, xp.stack([grad(lambda x, w: xp.sum(xp.tanh(x @ w)), argnums=1)(a[i], m)
                        for i in range(5)]))

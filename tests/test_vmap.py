"""vmap's semantics: in_dims/out_dims (ints, negative, None, pytrees), nesting, chunk_size,
randomness, autograd through and inside vmap, errors, and torch.func as the reference."""
import numpy as np
import pytest

import arraylib as xp
from arraylib.func import grad, vmap
from arraylib._core import _batching
from conftest import to_numpy


def _np(t):
    return to_numpy(t)


def _rand(*shape, seed=0, device="cpu"):
    return xp.asarray(np.random.default_rng(seed).standard_normal(shape), device=device)


def _close(a, b, **kw):
    np.testing.assert_allclose(_np(a), _np(b) if not isinstance(b, np.ndarray) else b,
                               rtol=1e-10, atol=1e-12, **kw)


# -- semantics --------------------------------------------------------------------------
def test_elementwise_and_reduction_match_a_loop(device):
    x = _rand(4, 3, device=device)
    f = lambda a: xp.sum(xp.sin(a) * a) + xp.max(a)  # noqa: E731
    _close(vmap(f)(x), xp.stack([f(x[i]) for i in range(4)]))


def test_batched_tensor_reports_the_logical_shape():
    seen = {}

    def f(a):
        seen.update(shape=a.shape, ndim=a.ndim, size=a.size, len=len(a),
                    rows=[r.shape for r in a], batched=_batching.is_batched(a),
                    level=_batching.level_of(a))
        return a
    vmap(f)(xp.ones((5, 2, 3)))
    assert seen == {"shape": (2, 3), "ndim": 2, "size": 6, "len": 2, "rows": [(3,), (3,)],
                    "batched": True, "level": 1}


@pytest.mark.parametrize("in_dim", [0, 1, 2, -1, -2])
def test_in_dims_and_negative_dims(in_dim, device):
    x = _rand(2, 3, 4, device=device)
    out = vmap(lambda a: a * 2.0 + xp.sum(a), in_dims=in_dim)(x)
    per = [xp.take(x, xp.asarray(i, device=device), axis=in_dim) for i in range(x.shape[in_dim])]
    _close(out, xp.stack([p * 2.0 + xp.sum(p) for p in per]))


@pytest.mark.parametrize("out_dim", [0, 1, -1])
def test_out_dims(out_dim):
    x = _rand(4, 3)
    out = vmap(lambda a: a + 1.0, out_dims=out_dim)(x)
    _close(out, np.moveaxis(_np(x) + 1.0, 0, out_dim))


def test_none_in_dims_and_unbatched_outputs_broadcast():
    x, w = _rand(4, 3), _rand(3, seed=1)
    out, const = vmap(lambda a, b: (a @ b, b * 2.0), in_dims=(0, None))(x, w)
    _close(out, _np(x) @ _np(w))
    assert const.shape == (4, 3)
    _close(const, np.broadcast_to(_np(w) * 2.0, (4, 3)))
    same = vmap(lambda a, b: b, in_dims=(0, None), out_dims=(None,))(x, w)
    _close(same, w)


def test_pytrees_of_inputs_and_outputs():
    x, y = _rand(4, 3), _rand(3, 4, seed=1)
    d = {"a": x, "b": [y, 2.0]}

    def f(tree, scale=1.0):
        return {"sum": tree["a"] + tree["b"][0] * tree["b"][1] * scale, "pair": (tree["a"],)}
    out = vmap(f, in_dims=({"a": 0, "b": [1, None]},))(d, scale=3.0)
    _close(out["sum"], _np(x) + _np(y).T * 6.0)
    _close(out["pair"][0], x)
    out2 = vmap(lambda a, b: [a, b], in_dims=(0, 1), out_dims=[1, 0])(x, y)
    _close(out2[0], _np(x).T)
    _close(out2[1], _np(y).T)


def test_nested_vmap_is_an_outer_product_of_batches(device):
    x, y = _rand(3, 5, device=device), _rand(4, 5, seed=1, device=device)
    dot = lambda a, b: xp.sum(a * b)  # noqa: E731
    out = vmap(vmap(dot, in_dims=(None, 0)), in_dims=(0, None))(x, y)
    _close(out, _np(x) @ _np(y).T)
    inner_first = vmap(vmap(dot, in_dims=(0, None)), in_dims=(None, 0))(x, y)
    _close(inner_first, (_np(x) @ _np(y).T).T)


def test_chunk_size_gives_the_same_result():
    x = _rand(7, 3)
    f = lambda a: (xp.cumulative_sum(a), xp.sum(a))  # noqa: E731
    full = vmap(f)(x)
    for c in (1, 2, 3, 7, 100):
        part = vmap(f, chunk_size=c)(x)
        for p, q in zip(part, full):
            _close(p, q)
    with pytest.raises(ValueError, match="chunk_size"):
        vmap(f, chunk_size=0)


def test_indexing_and_setitem_inside_vmap():
    x = _rand(4, 5)
    idx = xp.asarray([[0, 1], [2, 3], [4, 4], [1, 0]])
    _close(vmap(lambda a, i: a[i])(x, idx), np.take_along_axis(_np(x), _np(idx), 1))
    _close(vmap(lambda a: a[1:3])(x), _np(x)[:, 1:3])

    def put(a, v):
        b = a * 0.0
        b[1:3] = v
        return b
    v = _rand(4, 2, seed=2)
    want = np.zeros((4, 5))
    want[:, 1:3] = _np(v)
    _close(vmap(put)(x, v), want)

    def iadd(a):
        b = a * 1.0
        b += 1.0
        return b
    _close(vmap(iadd)(x), _np(x) + 1.0)


def test_matmul_shapes_follow_per_example_rules():
    a, b, v = _rand(4, 2, 3), _rand(4, 3, 5, seed=1), _rand(4, 3, seed=2)
    _close(vmap(xp.matmul)(a, b), _np(a) @ _np(b))
    _close(vmap(xp.matmul)(a, v), np.einsum("nij,nj->ni", _np(a), _np(v)))
    _close(vmap(xp.matmul)(v, b), np.einsum("nj,njk->nk", _np(v), _np(b)))
    _close(vmap(xp.matmul, in_dims=(None, 0))(a[0], b), _np(a[0]) @ _np(b))


# -- randomness ---------------------------------------------------------------------------
def test_randomness_modes():
    x = xp.zeros((6, 3))
    with pytest.raises(RuntimeError, match="randomness='error'"):
        vmap(lambda a: a + xp.rand(3))(x)
    diff = _np(vmap(lambda a: a + xp.rand(3), randomness="different")(x))
    same = _np(vmap(lambda a: a + xp.randn(3), randomness="same")(x))
    assert not np.allclose(diff[0], diff[1])
    assert np.allclose(same, same[0])
    like = _np(vmap(lambda a: xp.rand_like(a), randomness="different")(x))
    assert like.shape == (6, 3) and not np.allclose(like[0], like[1])
    fill = _np(vmap(lambda a: (a * 1.0).uniform_(), randomness="different")(x))
    assert not np.allclose(fill[0], fill[1])
    with pytest.raises(RuntimeError, match="randomness='error'"):
        vmap(lambda a: (a * 1.0).normal_())(x)
    import arraylib.nn.functional as F
    drop = _np(vmap(lambda a: F.dropout(a + 1.0, 0.5), randomness="different")(xp.zeros((50, 8))))
    assert not np.allclose(drop, drop[0]) and set(np.unique(drop)) <= {0.0, 2.0}
    with pytest.raises(ValueError, match="randomness"):
        vmap(lambda a: a, randomness="sometimes")


# -- autograd -------------------------------------------------------------------------------
def _f(a):
    return xp.sum(xp.sin(a) * a ** 2)


def _df(a):
    return np.cos(a) * a ** 2 + 2 * a * np.sin(a)


def test_grad_of_vmap(device):
    x = _rand(4, 3, device=device)
    x.requires_grad_(True)
    y = xp.sum(vmap(_f)(x))
    y.backward()
    _close(x.grad, _df(_np(x.detach())))


def test_vmap_of_grad(device):
    x = _rand(4, 3, device=device)
    _close(vmap(grad(_f))(x), _df(_np(x)))


def test_vmap_of_autograd_grad_on_batched_inputs():
    x = _rand(4, 3)

    def g(a):
        a = a.detach().requires_grad_(True)
        (ga,) = xp.autograd.grad(_f(a), a)
        return ga
    _close(vmap(g)(x), _df(_np(x)))


def test_per_sample_gradients_of_unbatched_weights():
    x, w = _rand(5, 3), _rand(3, 2, seed=1)
    loss = lambda w, a: xp.sum(xp.tanh(a @ w))  # noqa: E731
    per = vmap(grad(loss), in_dims=(None, 0))(w, x)
    t = 1 - np.tanh(_np(x) @ _np(w)) ** 2
    _close(per, np.einsum("ni,nj->nij", _np(x), t))


def test_vmap_over_cotangents_gives_a_jacobian():
    x = _rand(3)
    x.requires_grad_(True)
    y = xp.sin(x) * xp.sum(x)

    def vjp(g):
        return xp.autograd.grad(y, x, g, retain_graph=True)[0]
    jac = vmap(vjp)(xp.eye(3, dtype=xp.float64))
    assert jac.grad_fn is None  # no graph of the derivative unless create_graph
    xn = _np(x.detach())
    want = np.diag(np.cos(xn) * xn.sum()) + np.sin(xn)[:, None]
    _close(jac, want)
    _close(vmap(vjp, chunk_size=2)(xp.eye(3, dtype=xp.float64)), want)


def test_nested_vmap_of_grad():
    x = _rand(2, 3, 4)
    _close(vmap(vmap(grad(_f)))(x), _df(_np(x)))


def test_forward_mode_over_batched_tangents():
    fwAD = xp.autograd.forward_ad
    x = _rand(3)

    def jvp(t):
        with fwAD.dual_level():
            out = xp.sin(fwAD.make_dual(x, t)) * 2.0
            return fwAD.unpack_dual(out).tangent
    _close(vmap(jvp)(xp.eye(3, dtype=xp.float64)), np.diag(2 * np.cos(_np(x))))


# -- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize("op, what", [
    (lambda a: a.sum().item(), "item"),
    (lambda a: a if bool(a.sum() > 0) else -a, "bool"),
    (lambda a: int(a[0]), "int"),
    (lambda a: float(a[0]), "float"),
    (lambda a: a[a > 0], "boolean mask"),
    (lambda a: xp.nonzero(a), "nonzero"),
    (lambda a: xp.unique_values(a), "unique_values"),
])
def test_data_dependent_operations_raise_clear_errors(op, what):
    with pytest.raises(RuntimeError, match=f"vmap: .*{what}"):
        vmap(op)(_rand(4, 3))


def test_bool_error_suggests_where():
    with pytest.raises(RuntimeError, match="where"):
        vmap(lambda a: a if a.sum() > 0 else -a)(_rand(4, 3))


def test_backward_inside_vmap_is_refused():
    def f(a):
        a = a.detach().requires_grad_(True)
        xp.sum(a * a).backward()
        return a
    with pytest.raises(RuntimeError, match="backward"):
        vmap(f)(_rand(4, 3))


def test_argument_errors():
    x = _rand(4, 3)
    with pytest.raises(ValueError, match="different sizes"):
        vmap(lambda a, b: a + b)(x, _rand(5, 3))
    with pytest.raises(ValueError, match="no input is batched"):
        vmap(lambda a: a, in_dims=None)(x)
    with pytest.raises(ValueError, match="out of range"):
        vmap(lambda a: a, in_dims=2)(x)
    with pytest.raises(ValueError, match="only Tensors can be batched"):
        vmap(lambda a, s: a * s, in_dims=(0, 0))(x, 2.0)
    with pytest.raises(ValueError, match="in_dims has 1 entries"):
        vmap(lambda a, b: a, in_dims=(0,))(x, x)
    with pytest.raises(ValueError, match="must return Tensors"):
        vmap(lambda a: "no")(x)
    with pytest.raises(ValueError, match="out_dim None"):
        vmap(lambda a: a, out_dims=None)(x)
    with pytest.raises(TypeError, match="callable"):
        vmap(3)


def test_writing_a_batched_value_into_a_shared_tensor_is_refused():
    def put(a):
        b = xp.zeros(3, dtype=xp.float64)
        b[0] = a[0]
        return b
    with pytest.raises(RuntimeError, match="not batched"):
        vmap(put)(_rand(4, 3))


def test_a_primitive_without_a_rule_is_refused_by_name():
    from arraylib._core._primitive import Primitive
    p = Primitive("no_rule_here", lambda B, x: x)
    with pytest.raises(NotImplementedError, match="no_rule_here"):
        vmap(lambda a: p(a))(_rand(2, 2))


def test_escaped_batched_tensor_is_refused():
    leaked = []
    vmap(lambda a: leaked.append(a) or a)(_rand(2, 3))
    with pytest.raises(RuntimeError, match="outside its vmap"):
        _batching.expand_to_level(xp.ones(3), leaked[0]._level)


# -- against torch.func -------------------------------------------------------------------
def test_matches_torch_func(torch):
    from torch.func import grad as tgrad, vmap as tvmap
    xn = np.random.default_rng(3).standard_normal((5, 4))
    wn = np.random.default_rng(4).standard_normal((4, 3))

    def f(ns, w, a):
        return ns.sum(ns.tanh(a @ w) ** 2) + ns.sum(ns.exp(-(a ** 2)))
    ours = vmap(grad(lambda w, a: f(xp, w, a)), in_dims=(None, 0))(xp.asarray(wn), xp.asarray(xn))
    theirs = tvmap(tgrad(lambda w, a: f(torch, w, a)), in_dims=(None, 0))(
        torch.tensor(wn), torch.tensor(xn))
    np.testing.assert_allclose(_np(ours), theirs.numpy(), rtol=1e-10, atol=1e-12)
    out = vmap(lambda a: xp.exp(a) / xp.sum(xp.exp(a), axis=-1, keepdims=True),
               in_dims=1, out_dims=1)(xp.asarray(xn))
    ref = tvmap(lambda a: torch.exp(a) / torch.sum(torch.exp(a), dim=-1, keepdim=True),
                in_dims=1, out_dims=1)(torch.tensor(xn))
    np.testing.assert_allclose(_np(out), ref.numpy(), rtol=1e-10, atol=1e-12)


# -- per-example weights (the batched linear kernel) ------------------------------------------
@pytest.mark.parametrize("xshape", [(4, 3), (4, 5, 3)])
def test_per_example_weights_gradcheck_both_modes(xshape):
    import arraylib.nn.functional as F
    from arraylib.autograd import gradcheck
    x, w, b = _rand(*xshape), _rand(4, 2, 3, seed=1), _rand(4, 2, seed=2)
    for t in (x, w, b):
        t.requires_grad_(True)
    assert gradcheck(lambda x, w, b: vmap(F.linear)(x, w, b), (x, w, b))
    assert gradcheck(lambda x, w: vmap(xp.matmul)(x, xp.matrix_transpose(w)), (x, w))


def test_nested_vmap_of_per_example_weights():
    import arraylib.nn.functional as F
    x, w, b = _rand(2, 4, 3), _rand(2, 4, 5, 3, seed=1), _rand(2, 4, 5, seed=2)
    out = vmap(vmap(F.linear))(x, w, b)
    _close(out, np.einsum("mni,mnoi->mno", _np(x), _np(w)) + _np(b))


@pytest.mark.parametrize("name, f", [
    ("add_", lambda a: (a * 1.0).add_(1.0)),
    ("mul_", lambda a: (a * 1.0).mul_(a)),
    ("zero_", lambda a: (a * 1.0).zero_()),
    ("clamp_", lambda a: (a * 1.0).clamp_(0.0, 0.5)),
    ("copy_", lambda a: (a * 0.0).copy_(a * 2.0)),
    ("setitem", lambda a: (lambda b: (b.__setitem__((0, slice(1, None)), -1.0), b)[1])(a * 1.0)),
])
def test_in_place_methods_on_batched_tensors(name, f):
    x = _rand(4, 2, 3)
    _close(vmap(f)(x), xp.stack([f(x[i]) for i in range(4)]))


def test_in_place_batched_result_into_a_shared_tensor_is_refused():
    with pytest.raises(RuntimeError, match="not"):
        vmap(lambda a: xp.zeros(3, dtype=xp.float64).add_(a))(_rand(4, 3))


def test_compositions_with_the_transforms_match_torch_func(torch):
    from arraylib.func import hessian, jacfwd, jacrev
    from torch import func as tf
    xn = np.random.default_rng(5).standard_normal((4, 3))
    f = lambda ns: (lambda a: ns.sin(a) * ns.sum(a ** 2))  # noqa: E731
    g = lambda ns: (lambda a: ns.sum(ns.sin(a) * a ** 3))  # noqa: E731
    cases = [(vmap(jacrev(f(xp))), tf.vmap(tf.jacrev(f(torch)))),
             (vmap(jacfwd(f(xp))), tf.vmap(tf.jacfwd(f(torch)))),
             (vmap(hessian(g(xp))), tf.vmap(tf.hessian(g(torch)))),
             (jacrev(vmap(f(xp))), tf.jacrev(tf.vmap(f(torch)))),
             (vmap(vmap(grad(g(xp)))), tf.vmap(tf.vmap(tf.grad(g(torch)))))]
    for ours, theirs in cases:
        arg = xn if ours is not cases[-1][0] else xn.reshape(2, 2, 3)
        np.testing.assert_allclose(_np(ours(xp.asarray(arg)).detach()),
                                   theirs(torch.tensor(arg)).numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("f", [
    lambda a: xp.reshape(a, (3, -1)),
    lambda a: xp.where(a > 0, a, 0.0),
    lambda a: xp.where(a > 0, 1.0, -1.0),
    lambda a: xp.permute_dims(xp.reshape(a, (2, 3)), (1, 0)),
    lambda a: a[1:, None],
    lambda a: xp.argmax(a) + xp.count_nonzero(a > 0) + xp.astype(xp.all(a > -9), xp.int64),
])
def test_storage_fast_paths_under_no_grad(f, device):
    x = _rand(4, 6, device=device)

    def g(a):
        with xp.no_grad():
            return f(a)
    _close(vmap(g)(x), xp.stack([f(x[i]) for i in range(4)]))

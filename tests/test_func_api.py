"""torch.func's API in arraylib.func: grad, grad_and_value, vjp, jvp, linearize, jacrev,
jacfwd, hessian over pytrees; functional_call, stack_module_state; autograd.Function under
vmap.  Against finite differences, and against torch.func where PyTorch is installed."""
import numpy as np
import pytest

import arraylib as xp
import arraylib.func as F
from arraylib import nn
from arraylib.autograd import forward_ad as fwAD
from arraylib.func._pytree import tree_flatten, tree_unflatten, tree_map
from conftest import assert_close, to_numpy
from _fd import central_diff, fd_jacobian


def _t(device, v, rg=False):
    return xp.asarray(v, dtype=xp.float64, device=device, requires_grad=rg)


def _rand(device, *shape, seed=0):
    return _t(device, np.random.default_rng(seed).standard_normal(shape))


def f_xy(x, y):
    return xp.sum(xp.sin(x) * y + x * x)


# -- pytrees -----------------------------------------------------------------------------
def test_pytree_round_trip():
    tree = {"a": (1, [2, 3]), "b": None, "c": {"d": 4}}
    leaves, spec = tree_flatten(tree)
    assert leaves == [1, 2, 3, 4]
    assert tree_unflatten([10, 20, 30, 40], spec) == {"a": (10, [20, 30]), "b": None,
                                                      "c": {"d": 40}}
    assert tree_map(lambda a, b: a + b, (1, [2]), (10, [20])) == (11, [22])
    with pytest.raises(ValueError, match="leaves"):
        tree_unflatten([1], spec)
    with pytest.raises(ValueError, match="structures differ"):
        tree_map(lambda a, b: a, (1, 2), [1, 2])


# -- grad, grad_and_value ---------------------------------------------------------------------
def test_grad_argnums_and_values(device):
    x, y = _rand(device, 3), _rand(device, 3, seed=1)
    xv, yv = to_numpy(x), to_numpy(y)
    gx = F.grad(f_xy)(x, y)
    assert_close(gx, np.cos(xv) * yv + 2 * xv)
    gy = F.grad(f_xy, argnums=-1)(x, y)
    assert_close(gy, np.sin(xv))
    gx2, gy2 = F.grad(f_xy, argnums=(0, 1))(x, y)
    assert_close(gx2, gx) and assert_close(gy2, gy)
    (g, value) = F.grad_and_value(f_xy)(x, y)
    assert_close(g, gx)
    assert float(value) == pytest.approx(float(f_xy(x, y)))
    for r in (gx, gy, g, value):
        assert not r.requires_grad and r.grad_fn is None


def test_grad_pytree_arguments_and_aux(device):
    params = {"w": _rand(device, 3), "b": (_t(device, 0.5), [_rand(device, 2, seed=2)])}
    x = _rand(device, 3, seed=3)

    def loss(p, x, scale=1.0):
        inner = xp.sum(p["w"] * x) + p["b"][0] + xp.sum(p["b"][1][0] ** 2)
        return scale * inner, {"inner": inner}
    g, aux = F.grad(loss, has_aux=True)(params, x, scale=2.0)
    assert set(g) == {"w", "b"} and isinstance(g["b"], tuple) and isinstance(g["b"][1], list)
    assert_close(g["w"], 2 * to_numpy(x))
    assert float(g["b"][0]) == pytest.approx(2.0)
    assert_close(g["b"][1][0], 4 * to_numpy(params["b"][1][0]))
    assert float(aux["inner"]) == pytest.approx(float(loss(params, x)[1]["inner"]))
    g2, (value, aux2) = F.grad_and_value(loss, has_aux=True)(params, x, scale=2.0)
    assert float(value) == pytest.approx(2 * float(aux2["inner"]))


def test_grad_errors(device):
    x = _rand(device, 3)
    with pytest.raises(RuntimeError, match="scalar"):
        F.grad(lambda a: a * a)(x)
    with pytest.raises(RuntimeError, match="scalar"):
        F.grad(lambda a: xp.sum(a, keepdims=True))(x)
    with pytest.raises(ValueError, match="argnums"):
        F.grad(f_xy, argnums=2)(x, x)
    with pytest.raises(ValueError, match="duplicates"):
        F.grad(f_xy, argnums=(0, 0))(x, x)
    with pytest.raises(TypeError, match="floating-point"):
        F.grad(lambda a: xp.sum(a))(xp.asarray([1, 2], device=device))
    with pytest.raises(TypeError, match="Tensors"):
        F.grad(lambda a: a)(1.0)
    with pytest.raises(ValueError, match=r"\(output, aux\)"):
        F.grad(lambda a: xp.sum(a), has_aux=True)(x)


def test_grad_nested_and_inside_outer_graph(device):
    x = _t(device, 0.7)
    g3 = F.grad(F.grad(F.grad(lambda a: xp.sin(a) * a)))(x)
    assert float(g3) == pytest.approx(-3 * np.sin(0.7) - 0.7 * np.cos(0.7))
    w = _t(device, [0.3, 0.4], rg=True)
    g = F.grad(lambda a: xp.sum(a ** 3))(w)  # stays differentiable for the outer graph
    assert g.requires_grad
    (gg,) = xp.autograd.grad(xp.sum(g), w)
    assert_close(gg, 6 * to_numpy(w))


# -- vjp, jvp, linearize --------------------------------------------------------------------
def test_vjp_pytree_output(device):
    x = _rand(device, 2, 3)

    def f(x):
        return {"e": xp.exp(x), "s": (xp.sum(x, axis=0),)}
    out, pull = F.vjp(f, x)
    assert_close(out["e"], np.exp(to_numpy(x)))
    ct = {"e": xp.ones_like(x), "s": (_t(device, [1.0, 2.0, 3.0]),)}
    (g,) = pull(ct)
    assert_close(g, np.exp(to_numpy(x)) + np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="structure"):
        pull((xp.ones_like(x),))
    with pytest.raises(ValueError, match="shape"):
        pull({"e": xp.ones_like(x), "s": (_t(device, [1.0]),)})
    out, pull, aux = F.vjp(lambda a, b: (a * b, b), x, x, has_aux=True)
    ga, gb = pull(xp.ones_like(x))
    assert_close(ga, x) and assert_close(gb, x) and assert_close(aux, x)


def test_jvp_pytrees_and_errors(device):
    p = {"a": _rand(device, 3), "b": _rand(device, 3, seed=1)}
    t = {"a": xp.ones_like(p["a"]), "b": xp.zeros_like(p["b"])}
    out, tout = F.jvp(lambda d: (d["a"] * d["b"], xp.sin(d["a"])), (p,), (t,))
    assert isinstance(out, tuple) and isinstance(tout, tuple)
    assert_close(tout[0], p["b"])
    assert_close(tout[1], np.cos(to_numpy(p["a"])))
    with pytest.raises(TypeError, match="tuple"):
        F.jvp(xp.sin, p["a"], t["a"])
    with pytest.raises(ValueError, match="structure"):
        F.jvp(lambda d: d["a"], (p,), ([t["a"], t["b"]],))
    with pytest.raises(ValueError, match="shape"):
        F.jvp(xp.sin, (p["a"],), (_t(device, [1.0]),))
    o, to_, aux = F.jvp(lambda a: (xp.exp(a), a + 1), (p["a"],), (t["a"],), has_aux=True)
    assert_close(to_, np.exp(to_numpy(p["a"])))
    assert_close(aux, to_numpy(p["a"]) + 1)


def test_linearize(device):
    x = _rand(device, 4)
    out, jvp_fn = F.linearize(lambda a: xp.sin(a) * a, x)
    v = _rand(device, 4, seed=5)
    xv = to_numpy(x)
    assert_close(out, np.sin(xv) * xv)
    assert_close(jvp_fn(v), (np.cos(xv) * xv + np.sin(xv)) * to_numpy(v))


# -- jacrev, jacfwd, hessian ------------------------------------------------------------------
@pytest.mark.parametrize("jac", ["jacrev", "jacfwd"])
def test_jacobians_vs_finite_differences(device, jac):
    a, b = _rand(device, 2, 3), _rand(device, 3, seed=1)

    def f(a, b):
        return xp.tanh(a) * b + xp.sum(a * a)
    J = getattr(F, jac)(f)(a, b)
    assert J.shape == (2, 3, 2, 3)
    num = fd_jacobian(lambda v: f(v, b), a)[0]
    np.testing.assert_allclose(to_numpy(J), num, rtol=1e-6, atol=1e-8)
    Ja, Jb = getattr(F, jac)(f, argnums=(0, 1))(a, b)
    assert_close(Ja, J)
    assert Jb.shape == (2, 3, 3)
    np.testing.assert_allclose(to_numpy(Jb), fd_jacobian(lambda v: f(a, v), b)[0], rtol=1e-6,
                               atol=1e-8)


@pytest.mark.parametrize("jac", ["jacrev", "jacfwd"])
def test_jacobian_pytrees_and_aux(device, jac):
    p = {"w": _rand(device, 2), "v": _rand(device, 3, seed=1)}

    def f(p):
        return {"out": xp.sum(p["w"]) * p["v"], "sq": p["w"] ** 2}, p["w"] + 1
    J, aux = getattr(F, jac)(f, has_aux=True)(p)
    assert set(J) == {"out", "sq"} and set(J["out"]) == {"w", "v"}
    assert J["out"]["w"].shape == (3, 2) and J["out"]["v"].shape == (3, 3)
    assert_close(J["out"]["v"], np.eye(3) * float(xp.sum(p["w"])))
    assert_close(J["out"]["w"], np.repeat(to_numpy(p["v"])[:, None], 2, axis=1))
    assert_close(J["sq"]["w"], np.diag(2 * to_numpy(p["w"])))
    assert_close(J["sq"]["v"], np.zeros((2, 3)))
    assert_close(aux, to_numpy(p["w"]) + 1)


def test_jacrev_equals_jacfwd_chunked(device):
    x = _rand(device, 5)

    def f(x):
        return xp.exp(x[1:]) * xp.cumulative_sum(x)[:-1]
    Jr = F.jacrev(f)(x)
    Jc = F.jacrev(f, chunk_size=2)(x)
    Jf = F.jacfwd(f)(x)
    assert Jr.shape == (4, 5)
    assert_close(Jc, Jr, rtol=1e-12) and assert_close(Jf, Jr, rtol=1e-12)


def test_hessian_vs_finite_differences(device):
    x = _rand(device, 4)

    def f(x):
        return xp.sum(xp.sin(x) * x[0]) + xp.sum(x ** 3)
    H = F.hessian(f)(x)
    assert H.shape == (4, 4)
    g = lambda v: to_numpy(F.grad(f)(_t(device, v)))  # noqa: E731
    np.testing.assert_allclose(to_numpy(H), central_diff(g, to_numpy(x), 1e-5), rtol=1e-6,
                               atol=1e-8)
    assert_close(F.jacrev(F.jacrev(f))(x), H, rtol=1e-10)
    assert_close(F.jacfwd(F.grad(f))(x), H, rtol=1e-10)
    H01 = F.hessian(lambda a, b: xp.sum(a * a * b), argnums=(0, 1))(x, x)
    assert H01[0][1].shape == (4, 4)
    assert_close(H01[0][1], np.diag(2 * to_numpy(x)))


# -- nested forward mode (jacfwd(jacfwd(f)), jvp inside jvp) -----------------------------------
def _cubic(x):
    return xp.sin(x) * xp.exp(x[0]) + x * xp.sum(x * x)


def test_jacfwd_of_jacfwd_vs_finite_differences_and_jacfwd_of_jacrev(device):
    x = _rand(device, 4)
    T = F.jacfwd(F.jacfwd(_cubic))(x)
    assert T.shape == (4, 4, 4)
    assert_close(T, F.jacfwd(F.jacrev(_cubic))(x), rtol=1e-10, atol=1e-12)
    assert_close(F.jacrev(F.jacfwd(_cubic))(x), T, rtol=1e-10, atol=1e-12)
    J = lambda v: to_numpy(F.jacfwd(_cubic)(_t(device, v)))  # noqa: E731
    np.testing.assert_allclose(to_numpy(T), central_diff(J, to_numpy(x), 1e-5), rtol=1e-6,
                               atol=1e-8)


def test_jacfwd_of_jacfwd_equals_torch_func(torch):
    xv = np.random.default_rng(3).standard_normal(4)
    ours = F.jacfwd(F.jacfwd(_cubic))(xp.asarray(xv))
    tf = lambda x: torch.sin(x) * torch.exp(x[0]) + x * (x * x).sum()  # noqa: E731
    ref = torch.func.jacfwd(torch.func.jacfwd(tf))(torch.tensor(xv))
    np.testing.assert_allclose(to_numpy(ours), ref.numpy(), rtol=1e-12, atol=1e-12)
    third = F.jacfwd(F.jacfwd(F.jacfwd(lambda x: xp.sum(xp.tanh(x) ** 3))))(xp.asarray(xv))
    tref = torch.func.jacfwd(torch.func.jacfwd(torch.func.jacfwd(
        lambda x: (torch.tanh(x) ** 3).sum())))(torch.tensor(xv))
    np.testing.assert_allclose(to_numpy(third), tref.numpy(), rtol=1e-11, atol=1e-12)


def test_vmap_of_jacfwd_of_jacfwd_equals_stacking(device):
    X = _rand(device, 3, 4, seed=4)
    h = F.jacfwd(F.jacfwd(lambda x: xp.sum(xp.tanh(x) ** 3)))
    batched = F.vmap(h)(X)
    assert batched.shape == (3, 4, 4)
    assert_close(batched, xp.stack([F.hessian(lambda x: xp.sum(xp.tanh(x) ** 3))(X[i])
                                    for i in range(3)]), rtol=1e-10, atol=1e-12)


def test_jvp_inside_jvp_and_inside_dual_level(device):
    x, u, v = _rand(device, 3), _rand(device, 3, seed=1), _rand(device, 3, seed=2)
    g = lambda x: xp.sum(xp.sin(x) * x)  # noqa: E731
    inner = lambda x: F.jvp(g, (x,), (u,))[1]  # noqa: E731  (the directional derivative)
    out, t = F.jvp(inner, (x,), (v,))
    assert_close(out, inner(x), rtol=1e-12)
    assert_close(t, F.hessian(g)(x) @ u @ v, rtol=1e-10)  # (H symmetric)
    with fwAD.dual_level():  # a user's level around jvp: its tangent flows through
        xd = fwAD.make_dual(x, v)
        _, d = F.jvp(g, (xd,), (u,))
        assert_close(fwAD.unpack_dual(d).tangent, F.hessian(g)(x) @ u @ v, rtol=1e-10)
        _, d, aux = F.jvp(lambda x: (g(x), x * 2), (xd,), (u,), has_aux=True)
        assert_close(fwAD.unpack_dual(aux).tangent, v * 2, rtol=1e-12)
        assert_close(d, F.grad(g)(x) @ u, rtol=1e-12)


def test_vmap_of_grad_per_sample(device):
    w = _rand(device, 3)
    X, y = _rand(device, 6, 3, seed=1), _rand(device, 6, seed=2)

    def loss(w, x, t):
        return (xp.sum(w * x) - t) ** 2
    per = F.vmap(F.grad(loss), in_dims=(None, 0, 0))(w, X, y)
    loop = xp.stack([F.grad(loss)(w, X[i], y[i]) for i in range(6)])
    assert per.shape == (6, 3)
    assert_close(per, loop, rtol=1e-12)


@pytest.mark.parametrize("which", ["jacrev", "jacfwd", "hessian"])
def test_vmap_of_jacobians_equals_stacking(device, which):
    X = _rand(device, 5, 3)

    def f(x):
        return xp.sin(x) * x[0] + x * xp.sum(x)
    tr = F.hessian(lambda x: xp.sum(f(x))) if which == "hessian" else getattr(F, which)(f)
    batched = F.vmap(tr)(X)
    assert batched.shape == (5, 3, 3)
    assert_close(batched, xp.stack([tr(X[i]) for i in range(5)]), rtol=1e-12)
    J = F.jacrev(F.vmap(f))(X)  # and the reverse: a Jacobian of a vmapped function
    assert J.shape == (5, 3, 5, 3)
    assert_close(J[2, :, 2, :], F.jacrev(f)(X[2]), rtol=1e-12)
    assert_close(J[2, :, 1, :], np.zeros((3, 3)))


def test_nested_vmap_of_grad_and_grad_of_vmap(device):
    w, X = _rand(device, 3), _rand(device, 4, 5, 3, seed=1)
    Xv, wv = to_numpy(X), to_numpy(w)

    def loss(w, x):
        return xp.sum(xp.sin(w * x))
    per = F.vmap(F.vmap(F.grad(loss), in_dims=(None, 0)), in_dims=(None, 0))(w, X)
    assert_close(per, np.cos(wv * Xv) * Xv, rtol=1e-12)
    total = F.grad(lambda w: xp.sum(F.vmap(loss, in_dims=(None, 0))(w, X[0])))(w)
    assert_close(total, np.sum(np.cos(wv * Xv[0]) * Xv[0], axis=0), rtol=1e-12)


# -- functional_call, stack_module_state --------------------------------------------------------
class _Net(nn.Module):
    def __init__(self, device):
        super().__init__()
        self.fc = nn.Linear(3, 2, dtype=xp.float64, device=device)
        self.register_buffer("shift", _t(device, [0.5, -0.5]))

    def forward(self, x, scale=1.0):
        return scale * self.fc(x) + self.shift


def test_functional_call_replaces_and_restores(device):
    net = _Net(device)
    x = _rand(device, 4, 3)
    w = _rand(device, 2, 3, seed=7)
    before = to_numpy(net.fc.weight)
    out = F.functional_call(net, {"fc.weight": w, "shift": xp.zeros(2, dtype=xp.float64,
                                                                     device=device)},
                            (x,), {"scale": 2.0})
    expected = 2 * (to_numpy(x) @ to_numpy(w).T + to_numpy(net.fc.bias))
    assert_close(out, expected)
    assert_close(net.fc.weight, before)  # restored
    assert isinstance(net.fc.weight, nn.Parameter)
    out2 = F.functional_call(net, ({"fc.weight": w}, {"fc.bias": xp.zeros(2, dtype=xp.float64,
                                                                           device=device)}), x)
    assert_close(out2, to_numpy(x) @ to_numpy(w).T + to_numpy(net.shift))
    with pytest.raises(ValueError, match="multiple dictionaries"):
        F.functional_call(net, ({"fc.weight": w}, {"fc.weight": w}), (x,))
    with pytest.raises(RuntimeError, match="missing key"):
        F.functional_call(net, {"fc.weight": w}, (x,), strict=True)
    with pytest.raises(TypeError, match="Tensor"):
        F.functional_call(net, {"fc.weight": 1.0}, (x,))


def test_functional_call_restores_after_an_error(device):
    net = _Net(device)
    w = net.fc.weight
    with pytest.raises(ValueError):
        F.functional_call(net, {"fc.weight": _rand(device, 5, 5)}, (_rand(device, 4, 3),))
    assert net.fc.weight is w


def test_functional_call_tied_weights(device):
    net = nn.Sequential(nn.Linear(2, 2, bias=False, dtype=xp.float64, device=device),
                        nn.Linear(2, 2, bias=False, dtype=xp.float64, device=device))
    net[1].weight = net[0].weight
    x = _rand(device, 1, 2)
    w = _t(device, np.eye(2) * 2)
    out = F.functional_call(net, {"0.weight": w}, (x,))
    assert_close(out, 4 * to_numpy(x))  # both layers see w
    untied = F.functional_call(net, {"0.weight": w}, (x,), tie_weights=False)
    assert_close(untied, to_numpy(x) @ (2 * to_numpy(net[0].weight)).T)
    with pytest.raises(ValueError, match="tied"):
        F.functional_call(net, {"0.weight": w, "1.weight": w * 1}, (x,))


def test_grad_through_functional_call(device):
    net = _Net(device)
    x = _rand(device, 4, 3)
    params = {k: v.detach() for k, v in net.named_parameters()}

    def loss(p):
        return xp.sum(F.functional_call(net, p, (x,)) ** 2)
    g = F.grad(loss)(params)
    out = net(x)
    expected = xp.autograd.grad(xp.sum(out ** 2), [net.fc.weight, net.fc.bias])
    assert_close(g["fc.weight"], expected[0]) and assert_close(g["fc.bias"], expected[1])


def test_stack_module_state_ensemble(device):
    models = [_Net(device) for _ in range(3)]
    params, buffers = F.stack_module_state(models)
    assert params["fc.weight"].shape == (3, 2, 3) and buffers["shift"].shape == (3, 2)
    assert params["fc.weight"].requires_grad and params["fc.weight"].is_leaf
    assert not buffers["shift"].requires_grad
    x = _rand(device, 4, 3)

    def one(p, b):
        return F.functional_call(models[0], (p, b), (x,))
    outs = F.vmap(one)(params, buffers)
    assert outs.shape == (3, 4, 2)
    for i, m in enumerate(models):
        assert_close(outs[i], m(x), rtol=1e-12)
    with pytest.raises(RuntimeError, match="at least one"):
        F.stack_module_state([])
    models[1].eval()
    with pytest.raises(RuntimeError, match="training/eval"):
        F.stack_module_state(models)


# -- autograd.Function under vmap -------------------------------------------------------------
class _CubeGenerated(xp.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * g * x * x

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return 3 * t * x * x


class _CubeRule(xp.autograd.Function):
    calls = []

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * g * x * x

    @staticmethod
    def vmap(info, in_dims, x):
        _CubeRule.calls.append((info.batch_size, in_dims))
        return _CubeRule.apply(x), in_dims[0]


class _CubeNoRule(_CubeRule):
    vmap = None


@pytest.mark.parametrize("cls", [_CubeGenerated, _CubeRule])
def test_custom_function_under_vmap(device, cls):
    X = _rand(device, 4, 3)
    Xv = to_numpy(X)
    assert_close(F.vmap(cls.apply)(X), Xv ** 3)
    g = F.vmap(F.grad(lambda a: xp.sum(cls.apply(a))))(X)
    assert_close(g, 3 * Xv ** 2)
    assert_close(F.vmap(cls.apply, in_dims=1, out_dims=1)(X), Xv ** 3)


class _ScaledExp(xp.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(ctx, x, scale):
        y = xp.exp(x) * scale
        ctx.save_for_backward(y)  # an output, read back in backward
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y, None


def test_generated_rule_saved_outputs_and_grad_of_vmap(device):
    X = _rand(device, 4, 3)
    expected = 2 * np.exp(to_numpy(X))
    g = F.vmap(F.grad(lambda x: xp.sum(_ScaledExp.apply(x, 2.0))))(X)
    assert_close(g, expected)
    Xg = X.detach().requires_grad_(True)
    xp.sum(F.vmap(lambda r: _ScaledExp.apply(r, 2.0))(Xg)).backward()
    assert_close(Xg.grad, expected)


def test_custom_function_forward_mode_under_vmap(device):
    X = _rand(device, 4, 3)
    Xv = to_numpy(X)
    t = F.vmap(lambda x: F.jvp(_CubeGenerated.apply, (x,), (xp.ones_like(x),))[1])(X)
    assert_close(t, 3 * Xv ** 2)
    J = F.jacfwd(_CubeGenerated.apply)(X[0])
    assert_close(J, np.diag(3 * Xv[0] ** 2))


def test_custom_function_vmap_rule_sees_info(device):
    _CubeRule.calls.clear()
    F.vmap(_CubeRule.apply)(_rand(device, 5, 2))
    assert _CubeRule.calls == [(5, (0,))]


def test_custom_function_without_rule_refuses(device):
    with pytest.raises(RuntimeError, match="generate_vmap_rule"):
        F.vmap(_CubeNoRule.apply)(_rand(device, 2, 2))


# -- against torch.func ------------------------------------------------------------------------
def test_against_torch_func(device, torch):
    tf = torch.func
    rng = np.random.default_rng(3)
    xv, yv, vv = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(4)
    x, y, v = _t(device, xv), _t(device, yv), _t(device, vv)
    tx, ty, tv = torch.tensor(xv), torch.tensor(yv), torch.tensor(vv)

    def fa(a, b):
        return xp.exp(xp.sin(a)) * b + xp.tanh(a * b)

    def ft(a, b):
        return torch.exp(torch.sin(a)) * b + torch.tanh(a * b)

    def close(ours, theirs, rtol=1e-10):
        lo, so = tree_flatten(ours)
        lt, _ = torch.utils._pytree.tree_flatten(theirs)
        assert len(lo) == len(lt)
        for o, t in zip(lo, lt):
            np.testing.assert_allclose(to_numpy(o), t.detach().numpy(), rtol=rtol, atol=1e-13)

    sa = lambda a, b: xp.sum(fa(a, b))  # noqa: E731
    st = lambda a, b: ft(a, b).sum()  # noqa: E731
    close(F.grad(sa, argnums=(0, 1))(x, y), tf.grad(st, argnums=(0, 1))(tx, ty))
    close(F.jvp(fa, (x, y), (v, v)), tf.jvp(ft, (tx, ty), (tv, tv)))
    out, pull = F.vjp(fa, x, y)
    tout, tpull = tf.vjp(ft, tx, ty)
    close(pull(v), tpull(tv))
    for name in ("jacrev", "jacfwd"):
        close(getattr(F, name)(fa, argnums=(0, 1))(x, y),
              getattr(tf, name)(ft, argnums=(0, 1))(tx, ty))
    close(F.hessian(sa)(x, y), tf.hessian(st)(tx, ty), rtol=1e-9)
    X = _t(device, rng.standard_normal((5, 4)))
    close(F.vmap(F.grad(sa), in_dims=(0, None))(X, y),
          tf.vmap(tf.grad(st), in_dims=(0, None))(torch.tensor(to_numpy(X)), ty))


def test_functional_call_against_torch(device, torch):
    net = _Net(device)
    tnet = torch.nn.Linear(3, 2, dtype=torch.float64)
    x = _rand(device, 4, 3)
    w, b = _rand(device, 2, 3, seed=4), _rand(device, 2, seed=5)
    ours = F.functional_call(net.fc, {"weight": w, "bias": b}, (x,))
    theirs = torch.func.functional_call(tnet, {"weight": torch.tensor(to_numpy(w)),
                                               "bias": torch.tensor(to_numpy(b))},
                                        (torch.tensor(to_numpy(x)),))
    np.testing.assert_allclose(to_numpy(ours), theirs.detach().numpy(), rtol=1e-12)

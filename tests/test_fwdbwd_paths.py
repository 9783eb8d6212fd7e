"""Forward+backward fast paths (issue 17): max-pool's memoized parameters and gradient
plan, the one-node logsigmoid, kl_div's shorter composite; values and gradients against
PyTorch and finite differences."""
from __future__ import annotations

import numpy as np
import pytest

import arraylib as xp
import arraylib.nn.functional as F
from arraylib._nn_kernels import _apply, _bce_prim
from _fd import check_grads
from conftest import to_numpy


def _node_names(t):
    """The primitive names of the nodes of ``t``'s graph."""
    names, todo, seen = [], [t.grad_fn], set()
    while todo:
        node = todo.pop()
        if node is None or id(node) in seen or not hasattr(node, "prim"):
            continue
        seen.add(id(node))
        names.append(node.prim.name)
        todo += [e[0] for e in node.edges if e is not None and e[1] is not None]
    return names


# -- max_pool2d: one apply1 node, memoized parameters and VJP plan -------------------------
@pytest.mark.parametrize("xs, k", [((1, 2, 10, 10), 2), ((2, 3, 7, 9), 2), ((1, 2, 9, 9), 3)],
                         ids=["tiled", "cropped", "3x3"])
def test_max_pool2d_repeated_calls_match_torch(device, torch, xs, k):
    rng = np.random.default_rng(0)
    for _ in range(3):  # (the second and third calls take the memoized plans)
        x = rng.standard_normal(xs)
        ax, tx = xp.asarray(x, device=device, requires_grad=True), \
            torch.tensor(x, requires_grad=True)
        out, ref = F.max_pool2d(ax, k), torch.nn.functional.max_pool2d(tx, k)
        assert out.grad_fn is not None and out.shape == tuple(ref.shape)
        g = rng.standard_normal(tuple(ref.shape))
        (out * xp.asarray(g, device=device)).sum().backward()
        (ref * torch.tensor(g)).sum().backward()
        np.testing.assert_array_equal(to_numpy(out), ref.detach().numpy())
        np.testing.assert_array_equal(to_numpy(ax.grad), tx.grad.numpy())


def test_max_pool2d_memo_does_not_mix_shapes(device):
    a = xp.asarray(np.arange(16.0).reshape(1, 1, 4, 4), device=device, requires_grad=True)
    b = xp.asarray(np.arange(36.0).reshape(1, 1, 6, 6), device=device, requires_grad=True)
    for x in (a, b, a):
        F.max_pool2d(x, 2).sum().backward()
    assert to_numpy(F.max_pool2d(b, 2)).shape == (1, 1, 3, 3)
    expect = np.zeros((4, 4))
    expect[1::2, 1::2] = 2.0  # (a's gradient, accumulated twice)
    np.testing.assert_array_equal(to_numpy(a.grad)[0, 0], expect)


def test_max_pool2d_gradients_match_finite_differences(device):
    x = np.random.default_rng(1).permutation(50).reshape(1, 2, 5, 5) / 7.0  # (distinct)
    check_grads(lambda t: F.max_pool2d(t, 2), [x], device)


def test_max_pool2d_rejects_bad_kernel(device):
    x = xp.asarray(np.zeros((1, 1, 4, 4)), device=device)
    with pytest.raises(ValueError):
        F.max_pool2d(x, 5)
    with pytest.raises(ValueError):
        F.max_pool2d(x, 5)  # (refused again: failures are not memoized)


# -- logsigmoid: one node, its backward from the saved output --------------------------
_EDGES = [-200.0, -50.0, -3.0, -1e-3, 0.0, 1e-3, 2.0, 30.0, 100.0, np.inf, -np.inf]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logsigmoid_is_one_node_matching_torch(device, torch, dtype):
    x = np.array(_EDGES, dtype=dtype)
    ax, tx = xp.asarray(x, device=device, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = F.logsigmoid(ax), torch.nn.functional.logsigmoid(tx)
    assert out.grad_fn is not None and out.dtype == ax.dtype
    assert _node_names(out) == ["logsigmoid"]
    out.sum().backward()
    ref.sum().backward()
    tol = 1e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(to_numpy(out), ref.detach().numpy(), rtol=tol, atol=1e-30)
    np.testing.assert_allclose(to_numpy(ax.grad), tx.grad.numpy(), rtol=tol, atol=1e-30)


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_logsigmoid_keeps_nan(device):
    out = F.logsigmoid(xp.asarray(np.array([np.nan, 1.0]), device=device))
    assert np.isnan(to_numpy(out)[0]) and np.isfinite(to_numpy(out)[1])


def test_logsigmoid_derivatives_match_finite_differences(device):
    x = np.random.default_rng(2).standard_normal((3, 4)) * 4
    check_grads(F.logsigmoid, [x], device)  # reverse and forward mode
    t = xp.asarray(x, device=device, requires_grad=True)  # second order: the rule on tensors
    (g1,) = xp.autograd.grad(F.logsigmoid(t).sum(), t, create_graph=True)
    (g2,) = xp.autograd.grad(g1.sum(), t)
    s = 1.0 / (1.0 + np.exp(-x))
    np.testing.assert_allclose(to_numpy(g1), 1.0 - s, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(g2), -s * (1.0 - s), rtol=1e-10, atol=1e-15)


def test_logsigmoid_vmap_and_general_path(device):
    m = xp.asarray(np.random.default_rng(3).standard_normal((3, 4)), device=device)
    np.testing.assert_allclose(to_numpy(xp.func.vmap(F.logsigmoid)(m)),
                               to_numpy(F.logsigmoid(m)), rtol=1e-12)
    i = xp.asarray(np.array([-2, 0, 3]), device=device)  # integer: the composite path
    np.testing.assert_allclose(to_numpy(F.logsigmoid(i)),
                               -np.logaddexp(0.0, -np.array([-2.0, 0.0, 3.0])), rtol=1e-6)


# -- kl_div: t (log t - x) -----------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")  # (PyTorch's own)
@pytest.mark.parametrize("reduction", ["batchmean", "mean", "sum", "none"])
def test_kl_div_matches_torch(device, torch, reduction):
    rng = np.random.default_rng(4)
    x = np.log(rng.dirichlet(np.ones(5), 4))
    t = rng.dirichlet(np.ones(5), 4)
    ax, at = (xp.asarray(v, device=device, requires_grad=True) for v in (x, t))
    tx, tt = (torch.tensor(v, requires_grad=True) for v in (x, t))
    out = F.kl_div(ax, at, reduction=reduction)
    ref = torch.nn.functional.kl_div(tx, tt, reduction=reduction)
    g = rng.standard_normal(tuple(ref.shape))
    (out * xp.asarray(g, device=device)).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    for a, r in ((out.detach(), ref), (ax.grad, tx.grad), (at.grad, tt.grad)):
        np.testing.assert_allclose(to_numpy(a), r.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.filterwarnings("ignore:invalid value encountered in log")
def test_kl_div_zero_and_negative_targets(device):
    """PyTorch's xlogy: t log t is 0 at t = 0 and NaN at t < 0 (a negative target is not a
    distribution: the loss says so instead of returning a number)."""
    x = np.array([[-1.0, -2.0, -0.5]])
    t = np.array([[0.0, -0.25, 0.75]])
    ax, at = (xp.asarray(v, device=device, requires_grad=True) for v in (x, t))
    out = F.kl_div(ax, at, reduction="none")
    expect = np.array([[0.0, np.nan, 0.75 * (np.log(0.75) + 0.5)]])
    np.testing.assert_allclose(to_numpy(out), expect, rtol=1e-14)
    assert np.isnan(to_numpy(F.kl_div(ax, at, reduction="sum")))
    out.sum().backward()
    np.testing.assert_allclose(to_numpy(ax.grad), -t, rtol=1e-14)
    # d/dt: log t + 1 - x where t > 0, NaN where t < 0, -x at t = 0 (PyTorch: NaN there)
    np.testing.assert_allclose(to_numpy(at.grad), [[1.0, np.nan, np.log(0.75) + 1.5]],
                               rtol=1e-14)


@pytest.mark.filterwarnings("ignore:invalid value encountered in log")
def test_kl_div_negative_target_is_nan_as_in_torch(torch):
    x = np.array([-1.0, -2.0, -0.5, -3.0])
    t = np.array([0.0, 0.5, -0.2, 1.0])
    for reduction in ("none", "sum", "batchmean"):
        got = to_numpy(F.kl_div(xp.asarray(x), xp.asarray(t), reduction=reduction))
        ref = torch.nn.functional.kl_div(torch.tensor(x), torch.tensor(t), reduction=reduction)
        np.testing.assert_allclose(got, ref.numpy(), rtol=1e-14)


def test_kl_div_derivatives_match_finite_differences(device):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4))
    t = rng.uniform(0.1, 1.0, (3, 4))
    check_grads(lambda a, b: F.kl_div(a, b, reduction="batchmean"), [x, t], device)
    check_grads(lambda a, b: F.kl_div(a, b, reduction="none", log_target=True), [x, -t],
                device)


# -- binary_cross_entropy_with_logits: one element-wise node ---------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_with_logits_one_node_matches_torch(device, torch, reduction, dtype):
    rng = np.random.default_rng(6)
    x = (rng.standard_normal(12) * 5).astype(dtype)
    x[:4] = [-120.0, -30.0, 40.0, 0.0]  # (saturated logits: no overflow)
    t = rng.uniform(0, 1, 12).astype(dtype)
    ax, at = (xp.asarray(v, device=device, requires_grad=True) for v in (x, t))
    tx, tt = (torch.tensor(v, requires_grad=True) for v in (x, t))
    out = F.binary_cross_entropy_with_logits(ax, at, reduction=reduction)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(tx, tt, reduction=reduction)
    names = _node_names(out)
    assert names.count("binary_cross_entropy_with_logits") == 1 and len(names) <= 3
    g = rng.standard_normal(tuple(ref.shape)).astype(dtype)
    (out * xp.asarray(g, device=device)).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    tol = 2e-6 if dtype == "float32" else 1e-13
    for a, r in ((out.detach(), ref), (ax.grad, tx.grad), (at.grad, tt.grad)):
        np.testing.assert_allclose(to_numpy(a), r.detach().numpy(), rtol=tol, atol=tol)


def test_bce_with_logits_derivatives_match_finite_differences(device):
    rng = np.random.default_rng(7)
    x, t = rng.standard_normal((3, 4)) * 3, rng.uniform(0, 1, (3, 4))
    for reduction in ("none", "mean", "sum"):  # reverse and forward mode, both operands
        check_grads(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction),
                    [x, t], device)
    a = xp.asarray(x, device=device, requires_grad=True)  # second order (rule on tensors)
    b = xp.asarray(t, device=device)
    (g1,) = xp.autograd.grad(F.binary_cross_entropy_with_logits(a, b, reduction="sum"), a,
                             create_graph=True)
    (g2,) = xp.autograd.grad(g1.sum(), a)
    s = 1.0 / (1.0 + np.exp(-x))
    np.testing.assert_allclose(to_numpy(g1), s - t, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(to_numpy(g2), s * (1.0 - s), rtol=1e-10, atol=1e-15)


def test_bce_with_logits_vmap_and_general_paths(device):
    rng = np.random.default_rng(8)
    x = xp.asarray(rng.standard_normal((3, 4)), device=device)
    t = xp.asarray(rng.uniform(0, 1, (3, 4)), device=device)
    rows = to_numpy(F.binary_cross_entropy_with_logits(x, t, reduction="none"))
    for reduction, expect in (("sum", rows.sum(axis=1)), ("mean", rows.mean(axis=1)),
                              ("none", rows)):
        per = xp.func.vmap(
            lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction))
        np.testing.assert_allclose(to_numpy(per(x, t)), expect, rtol=1e-12)
    t0 = xp.asarray(rng.uniform(0, 1, 4), device=device)  # one operand batched
    np.testing.assert_allclose(
        to_numpy(xp.func.vmap(F.binary_cross_entropy_with_logits, in_dims=(0, None))(x, t0)),
        [to_numpy(F.binary_cross_entropy_with_logits(x[i], t0)) for i in range(3)], rtol=1e-12)
    e = xp.asarray(np.zeros((0,)), device=device)  # empty: the composite's NaN mean
    assert np.isnan(to_numpy(F.binary_cross_entropy_with_logits(e, e)))
    w = xp.asarray(np.array([0.5, 1.0, 2.0, 0.0]), device=device)  # weights: the composite
    got = F.binary_cross_entropy_with_logits(x, t, weight=w, reduction="none")
    xn, tn = to_numpy(x), to_numpy(t)
    np.testing.assert_allclose(to_numpy(got),
                               ((1 - tn) * xn + np.logaddexp(0, -xn)) * to_numpy(w), rtol=1e-12)
    with pytest.raises(ValueError):
        F.binary_cross_entropy_with_logits(x, t, reduction="bogus")
    with pytest.raises(ValueError):
        F.binary_cross_entropy_with_logits(x, t[:2])


# -- avg_pool over disjoint windows: the storage VJP's broadcast copy ----------------------------
@pytest.mark.parametrize("name, xs, k, kw", [
    ("avg_pool2d", (1, 2, 10, 10), 2, {}), ("avg_pool2d", (2, 3, 6, 9), (2, 3), {}),
    ("avg_pool2d", (3, 8, 4), 2, {"divisor_override": 3}), ("avg_pool1d", (2, 3, 12), 4, {})])
def test_avg_pool_disjoint_gradients_match_torch(device, torch, name, xs, k, kw):
    rng = np.random.default_rng(9)
    for dtype in ("float32", "float64"):
        x = rng.standard_normal(xs).astype(dtype)
        ax, tx = xp.asarray(x, device=device, requires_grad=True), \
            torch.tensor(x, requires_grad=True)
        out = getattr(F, name)(ax, k, **kw)
        ref = getattr(torch.nn.functional, name)(tx, k, **kw)
        assert _node_names(out) == ["avg_pool"]
        g = rng.standard_normal(tuple(ref.shape)).astype(dtype)
        g.flat[0] = np.inf  # (a non-finite cotangent stays in its own window)
        (out * xp.asarray(g, device=device)).sum().backward()
        (ref * torch.tensor(g)).sum().backward()
        tol = 1e-6 if dtype == "float32" else 1e-14
        np.testing.assert_allclose(to_numpy(out), ref.detach().numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(to_numpy(ax.grad), tx.grad.numpy(), rtol=tol, atol=tol)
        assert to_numpy(ax.grad).dtype == np.dtype(dtype)


def test_avg_pool_derivatives_match_finite_differences(device):
    x = np.random.default_rng(10).standard_normal((1, 2, 4, 6))
    check_grads(lambda t: F.avg_pool2d(t, 2), [x], device)
    a = xp.asarray(x, device=device, requires_grad=True)  # the rule on tensors (create_graph)
    (g1,) = xp.autograd.grad(F.avg_pool2d(a, 2).sum(), a, create_graph=True)
    np.testing.assert_allclose(to_numpy(g1), np.full(x.shape, 0.25))


# -- binary_cross_entropy: the reduction in the kernel's node --------------------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (log 0, NaN: NumPy's warnings)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_reduced_in_one_node_matches_torch(device, torch, reduction, dtype):
    rng = np.random.default_rng(11)
    p = rng.uniform(0.02, 0.98, 12).astype(dtype)
    p[:2] = [0.0, 1.0]  # (PyTorch's clamps: finite values and input gradients)
    y = rng.uniform(0, 1, 12).astype(dtype)
    ap, ay = xp.asarray(p, device=device, requires_grad=True), xp.asarray(y, device=device)
    tp, ty = torch.tensor(p, requires_grad=True), torch.tensor(y)
    out = F.binary_cross_entropy(ap, ay, reduction=reduction)
    ref = torch.nn.functional.binary_cross_entropy(tp, ty, reduction=reduction)
    assert _node_names(out) == ["binary_cross_entropy"]
    g = rng.standard_normal(tuple(ref.shape)).astype(dtype)
    (out * xp.asarray(g, device=device)).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    tol = 2e-6 if dtype == "float32" else 1e-8  # (PyTorch's eps is float32's 1e-12)
    for a, r in ((out.detach(), ref), (ap.grad, tp.grad)):
        np.testing.assert_allclose(to_numpy(a), r.detach().numpy(), rtol=tol, atol=tol)


def test_bce_reduced_derivatives_and_vmap(device):
    rng = np.random.default_rng(12)
    p, y = rng.uniform(0.1, 0.9, (3, 4)), rng.uniform(0, 1, (3, 4))
    for reduction in ("mean", "sum"):  # reverse and forward mode, both operands
        check_grads(lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction), [p, y],
                    device)
    ap, ay = xp.asarray(p, device=device), xp.asarray(y, device=device)
    rows = to_numpy(F.binary_cross_entropy(ap, ay, reduction="none"))
    for reduction, expect in (("sum", rows.sum(axis=1)), ("mean", rows.mean(axis=1))):
        # (the kernel's rule: F.binary_cross_entropy's range check reads values)
        per = xp.func.vmap(lambda a, b: _apply(_bce_prim, (a, b), {"reduction": reduction}))
        np.testing.assert_allclose(to_numpy(per(ap, ay)), expect, rtol=1e-12)
    w = xp.asarray(np.array([1.0, 0.0, 2.0, 0.5]), device=device)  # weights: reduced after
    np.testing.assert_allclose(
        to_numpy(F.binary_cross_entropy(ap, ay, weight=w, reduction="sum")),
        (rows * to_numpy(w)).sum(), rtol=1e-12)
    with pytest.raises(ValueError):
        F.binary_cross_entropy(ap, ay, reduction="bogus")
    with pytest.raises(RuntimeError):
        F.binary_cross_entropy(ap * 2.0, ay)


# -- softplus: the storage VJP -------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (log 0, NaN: NumPy's warnings)
@pytest.mark.parametrize("beta, threshold", [(1.0, 20.0), (2.0, 5.0), (0.5, 1.0)])
def test_softplus_gradient_matches_torch_and_the_tensor_rule(device, torch, beta, threshold):
    rng = np.random.default_rng(13)
    x = np.concatenate([rng.standard_normal(10) * 6, [-80.0, 0.0, 25.0, np.nan]])
    ax, tx = xp.asarray(x, device=device, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = F.softplus(ax, beta=beta, threshold=threshold)
    ref = torch.nn.functional.softplus(tx, beta=beta, threshold=threshold)
    g = rng.standard_normal(x.shape)
    (out * xp.asarray(g, device=device)).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(to_numpy(ax.grad), tx.grad.numpy(), rtol=1e-12, atol=1e-15)
    bx = xp.asarray(x, device=device, requires_grad=True)  # the rule on tensors: same values
    (gt,) = xp.autograd.grad((F.softplus(bx, beta=beta, threshold=threshold)
                              * xp.asarray(g, device=device)).sum(), bx, create_graph=True)
    np.testing.assert_array_equal(to_numpy(gt), to_numpy(ax.grad))


def test_softplus_derivatives_match_finite_differences(device):
    x = np.random.default_rng(14).standard_normal((3, 4)) * 3
    check_grads(lambda t: F.softplus(t, beta=1.5, threshold=4.0), [x], device)

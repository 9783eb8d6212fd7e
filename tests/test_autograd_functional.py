"""Forward mode (dual tensors), and torch.autograd.functional's API
(``arraylib.autograd.functional``: jacobian, hessian, vjp, jvp, hvp, vhp)."""
import numpy as np
import pytest

import arraylib as xp
from arraylib.autograd import forward_ad as fwAD
from conftest import assert_close, to_numpy
from _fd import central_diff, fd_jacobian

AF = xp.autograd.functional


def _t(device, v, rg=False):
    return xp.asarray(v, dtype=xp.float64, device=device, requires_grad=rg)


def _mm(a, b):
    if hasattr(xp, "matmul"):
        return xp.matmul(a, b)
    return xp.sum(xp.expand_dims(a, axis=-1) * xp.expand_dims(b, axis=0), axis=-2)


def seed_f(x1, x2):
    return xp.log(x1) + x1 * x2 - xp.sin(x2)


# -- forward_ad ---------------------------------------------------------------------
def test_dual_numbers_seed(device):
    x1, x2 = _t(device, 2.0), _t(device, 5.0)
    with fwAD.dual_level():
        d1 = fwAD.make_dual(x1, _t(device, 1.0))
        y = seed_f(d1, x2)
        p, t = fwAD.unpack_dual(y)
        assert float(t) == pytest.approx(0.5 + 5.0)
        assert float(p) == pytest.approx(np.log(2) + 10 - np.sin(5))
        d2 = fwAD.make_dual(x2, _t(device, 1.0))
        _, t2 = fwAD.unpack_dual(seed_f(x1, d2))
        assert float(t2) == pytest.approx(2.0 - np.cos(5.0))
    # tangents die with the level
    assert fwAD.unpack_dual(y).tangent is None


def test_make_dual_checks(device):
    x = _t(device, [1.0, 2.0])
    with pytest.raises(RuntimeError, match="dual_level"):
        fwAD.make_dual(x, x)
    with fwAD.dual_level():
        with pytest.raises(ValueError, match="shape"):
            fwAD.make_dual(x, _t(device, [1.0]))
        with pytest.raises(TypeError, match="dtype"):
            fwAD.make_dual(x, xp.asarray([1.0, 2.0], dtype=xp.float32, device=device))
        other = "strict:device1" if device.name == "cpu" else "cpu"
        with pytest.raises(ValueError, match="device"):
            fwAD.make_dual(x, _t(other, [1.0, 2.0]))


def test_reverse_through_dual(device):
    x = _t(device, [1.0, 2.0], rg=True)
    with fwAD.dual_level():
        d = fwAD.make_dual(x, _t(device, [1.0, 0.0]))
        y = xp.exp(d) * d
        _, t = fwAD.unpack_dual(y)
        assert_close(t, _t(device, [2 * np.e, 0.0]))
        y.backward(xp.ones_like(y))
    xv = np.array([1.0, 2.0])
    np.testing.assert_allclose(to_numpy(x.grad), np.exp(xv) * (1 + xv))


def test_forward_over_reverse_hvp(device):
    x = _t(device, [0.3, 0.7, 1.1], rg=True)
    v = _t(device, [1.0, -2.0, 0.5])
    with fwAD.dual_level():
        d = fwAD.make_dual(x, v)
        y = xp.sum(xp.sin(d) * d)
        (g,) = xp.autograd.grad(y, d)
        hv = fwAD.unpack_dual(g).tangent
    xv = to_numpy(x)
    np.testing.assert_allclose(to_numpy(hv), (2 * np.cos(xv) - xv * np.sin(xv)) * to_numpy(v),
                               rtol=1e-12)


# -- torch.autograd.functional ------------------------------------------------------------
def test_seed_both_modes_same_numbers(device):
    x1, x2 = _t(device, 2.0), _t(device, 5.0)
    _, (g1, g2) = AF.vjp(seed_f, (x1, x2))
    _, t1 = AF.jvp(seed_f, (x1, x2), (_t(device, 1.0), _t(device, 0.0)))
    _, t2 = AF.jvp(seed_f, (x1, x2), (_t(device, 0.0), _t(device, 1.0)))
    assert float(g1) == pytest.approx(float(t1)) == pytest.approx(5.5)
    assert float(g2) == pytest.approx(float(t2)) == pytest.approx(2 - np.cos(5))


def test_transforms_leave_no_graph(device):
    x = _t(device, [1.0, 2.0])
    with xp.no_grad():
        out, c = AF.vjp(xp.exp, x, xp.ones_like(x))
        J = AF.jacobian(xp.exp, x)
        Jf = AF.jacobian(xp.exp, x, strategy="forward-mode")
        o, t = AF.jvp(xp.exp, x, xp.ones_like(x))
        v, hv = AF.hvp(lambda a: xp.sum(a * a * a), x, xp.ones_like(x))
    for r in (out, c, J, Jf, o, t, v, hv):
        assert not r.requires_grad and r.grad_fn is None
    assert_close(c, xp.exp(x))
    assert_close(J, _t(device, [[np.e, 0], [0, np.e ** 2]]))
    assert_close(Jf, J)
    assert_close(hv, 6 * x)
    assert x.grad is None and not x.requires_grad


@pytest.mark.parametrize("vectorize", [False, True])
def test_create_graph_keeps_results_differentiable(device, vectorize):
    x = _t(device, [0.3, 0.8], rg=True)
    J = AF.jacobian(lambda a: xp.sin(a) * a, x, create_graph=True, vectorize=vectorize)
    assert J.requires_grad
    (g,) = xp.autograd.grad(xp.sum(J), x)
    xv = to_numpy(x)
    np.testing.assert_allclose(to_numpy(g), 2 * np.cos(xv) - xv * np.sin(xv), rtol=1e-12)
    J0 = AF.jacobian(lambda a: xp.sin(a) * a, x)
    assert not J0.requires_grad


def test_argument_errors(device):
    x = _t(device, [1.0, 2.0])
    with pytest.raises(ValueError, match="strategy"):
        AF.jacobian(xp.exp, x, strategy="sideways")
    with pytest.raises(RuntimeError, match="v can only be None"):
        AF.vjp(xp.exp, x)
    with pytest.raises(RuntimeError, match="shape"):
        AF.vjp(xp.exp, x, _t(device, [1.0]))
    with pytest.raises(TypeError, match="Tensor or a tuple"):
        AF.jacobian(xp.exp, [1.0, 2.0])
    with pytest.raises(RuntimeError, match="single-element"):
        AF.hessian(xp.exp, x)
    with pytest.raises(RuntimeError, match="independent of input 1"):
        AF.jacobian(lambda a, b: xp.exp(a), (x, x), strict=True)


@pytest.mark.parametrize("vectorize", [False, True])
def test_jacobian_strategies_agree_multi(device, vectorize):
    a = _t(device, [[0.3, 0.5, 0.9]])
    b = _t(device, [[1.2], [0.4]])

    def f(a, b):
        return xp.exp(a) * b, xp.sin(a * b)

    Jr = AF.jacobian(f, (a, b), vectorize=vectorize)
    Jf = AF.jacobian(f, (a, b), vectorize=vectorize, strategy="forward-mode")
    for k in range(2):
        for j in range(2):
            assert_close(Jr[k][j], Jf[k][j], rtol=1e-12)
    assert Jr[0][0].shape == (2, 3, 1, 3) and Jr[0][1].shape == (2, 3, 2, 1)
    num = fd_jacobian(lambda v: f(v, b)[1], a)[0]
    np.testing.assert_allclose(to_numpy(Jr[1][0]), num, rtol=1e-6)
    single = AF.jacobian(lambda v: f(v, b)[1], a, vectorize=vectorize)
    assert_close(single, Jr[1][0])


def _fd_hessian(f, x, eps=1e-4):
    """Hessian as central differences of the reverse-mode gradient (columns H[:, i])."""
    shape, dev = x.shape, x.device

    def grad_at(v):
        xv = xp.asarray(v.reshape(shape), dtype=xp.float64, device=dev)
        return to_numpy(AF.vjp(f, xv)[1]).reshape(-1)
    return central_diff(grad_at, to_numpy(x).reshape(-1), eps)


def _fd_hessian_values(f, x, eps=1e-4):
    """Hessian from function values only: central differences of central differences, i.e.
    (f(x+ei+ej) - f(x+ei-ej) - f(x-ei+ej) + f(x-ei-ej)) / (4 eps^2)."""
    shape, dev = x.shape, x.device

    def val(v):
        return float(f(xp.asarray(v.reshape(shape), dtype=xp.float64, device=dev)))
    return central_diff(lambda y: central_diff(val, y, eps), to_numpy(x).reshape(-1), eps)


def _logsumexp(x):
    m = xp.max(x)
    return xp.log(xp.sum(xp.exp(x - m))) + m


def _mlp_loss_factory(device):
    rng = np.random.default_rng(0)
    X = _t(device, rng.standard_normal((5, 3)))
    y = _t(device, rng.standard_normal((5, 1)))

    def loss_flat(theta):
        parts = xp.unstack(theta)
        W1 = xp.reshape(xp.stack(parts[0:12]), (3, 4))
        b1 = xp.stack(parts[12:16])
        W2 = xp.reshape(xp.stack(parts[16:20]), (4, 1))
        h = xp.tanh(_mm(X, W1) + b1)
        r = _mm(h, W2) - y
        return xp.mean(r * r)
    theta = _t(device, rng.standard_normal(20) * 0.5)
    return loss_flat, theta


@pytest.mark.parametrize("which", ["quadratic", "logsumexp", "mlp"])
def test_hessians_vs_finite_differences(device, which):
    rng = np.random.default_rng(1)
    if which == "quadratic":
        A = rng.standard_normal((4, 4))
        At = _t(device, A)
        f = lambda x: xp.sum(x * xp.sum(At * xp.expand_dims(x, axis=0), axis=1))  # noqa: E731
        x = _t(device, rng.standard_normal(4))
        expected = A + A.T
    elif which == "logsumexp":
        f = _logsumexp
        x = _t(device, rng.standard_normal(5))
        expected = _fd_hessian_values(f, x)
    else:
        f, x = _mlp_loss_factory(device)
        expected = _fd_hessian(f, x)
    H = AF.hessian(f, x)
    np.testing.assert_allclose(to_numpy(H), expected, rtol=1e-5, atol=1e-6)
    H2 = AF.hessian(f, x, outer_jacobian_strategy="forward-mode")
    np.testing.assert_allclose(to_numpy(H2), to_numpy(H), rtol=1e-10, atol=1e-12)
    v = _t(device, rng.standard_normal(x.shape))
    value, hv = AF.hvp(f, x, v)
    np.testing.assert_allclose(to_numpy(hv), to_numpy(H) @ to_numpy(v), rtol=1e-9, atol=1e-12)
    assert float(value) == pytest.approx(float(f(x)))
    value2, vh = AF.vhp(f, x, v)
    np.testing.assert_allclose(to_numpy(vh), to_numpy(v) @ to_numpy(H), rtol=1e-9, atol=1e-12)
    assert float(value2) == pytest.approx(float(value))


def test_hessian_of_tuple_inputs(device):
    a, b = _t(device, [0.4, 0.9]), _t(device, 1.3)

    def f(a, b):
        return xp.sum(xp.sin(a) * b * b)
    H = AF.hessian(f, (a, b))
    assert H[0][0].shape == (2, 2) and H[0][1].shape == (2,) and H[1][1].shape == ()
    av, bv = to_numpy(a), float(b)
    np.testing.assert_allclose(to_numpy(H[0][0]), np.diag(-np.sin(av) * bv * bv), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(H[0][1]), 2 * np.cos(av) * bv, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(H[1][0]), to_numpy(H[0][1]), rtol=1e-12)
    assert float(H[1][1]) == pytest.approx(2 * np.sum(np.sin(av)))


# -- against torch.autograd.functional ---------------------------------------------------------
def _torch_funcs(torch):
    return [
        (lambda a: xp.exp(xp.sin(a)) * a, lambda a: torch.exp(torch.sin(a)) * a),
        (lambda a: xp.tanh(a) / (1 + a * a), lambda a: torch.tanh(a) / (1 + a * a)),
        (lambda a: xp.log1p(a * a) - xp.sqrt(a * a + 1), lambda a: torch.log1p(a * a) - torch.sqrt(a * a + 1)),
    ]


def test_against_torch_autograd_functional(device, torch):
    TF = torch.autograd.functional
    rng = np.random.default_rng(3)
    xv = rng.standard_normal(4)
    vv = rng.standard_normal(4)
    x, v = _t(device, xv), _t(device, vv)
    tx, tv = torch.tensor(xv), torch.tensor(vv)
    for fa, ft in _torch_funcs(torch):
        for ours, theirs in zip(AF.jvp(fa, x, v), TF.jvp(ft, tx, tv)):
            np.testing.assert_allclose(to_numpy(ours), theirs.numpy(), rtol=1e-10)
        for ours, theirs in zip(AF.vjp(fa, x, v), TF.vjp(ft, tx, tv)):
            np.testing.assert_allclose(to_numpy(ours), theirs.numpy(), rtol=1e-10)
        for strategy in ("reverse-mode", "forward-mode"):
            np.testing.assert_allclose(
                to_numpy(AF.jacobian(fa, x, strategy=strategy)),
                TF.jacobian(ft, tx, strategy=strategy, vectorize=True).numpy(),
                rtol=1e-10, atol=1e-14)
        fs = lambda a, fa=fa: xp.sum(fa(a))  # noqa: E731
        ts = lambda a, ft=ft: ft(a).sum()  # noqa: E731
        np.testing.assert_allclose(to_numpy(AF.hessian(fs, x)), TF.hessian(ts, tx).numpy(),
                                   rtol=1e-9, atol=1e-12)
        for name in ("hvp", "vhp"):
            ours, theirs = getattr(AF, name)(fs, x, v), getattr(TF, name)(ts, tx, tv)
            np.testing.assert_allclose(to_numpy(ours[1]), theirs[1].numpy(), rtol=1e-9)

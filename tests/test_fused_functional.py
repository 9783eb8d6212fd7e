"""One-node kernels behind nn.functional's activations and losses (hardtanh, relu6, elu,
softplus, nll_loss): values, gradients (finite differences, PyTorch), second order,
forward mode, vmap and devices."""
import numpy as np
import pytest

import arraylib as xp
import arraylib.nn.functional as F
from arraylib.autograd import forward_ad as fwAD
from _fd import check_grads
from conftest import to_numpy

# values that hit each branch, the bounds (hardtanh's at -1, 1, 0, 6), and far tails
_X = np.array([-30.0, -6.5, -1.0, -0.7, -1e-3, 0.0, 1e-3, 0.3, 1.0, 2.5, 6.0, 7.0, 19.0,
               21.0, 45.0])

ACTIVATIONS = {
    "hardtanh": lambda F_, x: F_.hardtanh(x),
    "hardtanh(-0.5, 2)": lambda F_, x: F_.hardtanh(x, -0.5, 2.0),
    "relu6": lambda F_, x: F_.relu6(x),
    "elu": lambda F_, x: F_.elu(x),
    "elu(0.7)": lambda F_, x: F_.elu(x, 0.7),
    "softplus": lambda F_, x: F_.softplus(x),
    "softplus(2, 10)": lambda F_, x: F_.softplus(x, 2.0, 10.0),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activation_matches_torch(name, dtype, device, torch):
    f = ACTIVATIONS[name]
    host = _X.astype(dtype)
    x = xp.asarray(host, device=device, requires_grad=True)
    y = f(F, x)
    assert y.dtype == x.dtype and y.device == x.device
    u = np.linspace(-1.0, 1.0, host.size).astype(dtype)
    (g,) = xp.autograd.grad(y, [x], xp.asarray(u, device=device))
    tx = torch.tensor(host, requires_grad=True)
    ty = f(torch.nn.functional, tx)
    ty.backward(torch.tensor(u))
    tol = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(to_numpy(g), tx.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_gradients_fd(name, device):
    f = ACTIVATIONS[name]
    x = np.array([-2.3, -0.4, 0.2, 0.8, 1.7, 4.6, 8.0, 12.0, 25.0])  # off the kinks
    check_grads(lambda t: f(F, t), [x], device)
    # second order: the gradient itself differentiated (create_graph)
    def grad_of(t):
        if not t.requires_grad:  # (the finite-difference evaluations)
            t = t.requires_grad_()
        (g,) = xp.autograd.grad(xp.sum(f(F, t) * t), [t], create_graph=True)
        return g
    check_grads(grad_of, [x], device, forward=False)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_one_node_nan_and_vmap(name, device):
    f = ACTIVATIONS[name]
    x = xp.asarray(np.array([-1.5, 0.5, 3.0]), device=device, requires_grad=True)
    y = f(F, x)
    assert y.grad_fn.next_functions == (("AccumulateGrad", None),)  # one node
    nan = f(F, xp.asarray(np.array([np.nan]), device=device))
    assert np.isnan(to_numpy(nan)).all()
    batch = xp.asarray(np.array([[-1.5, 0.5], [3.0, 21.0]]), device=device)
    v = xp.func.vmap(lambda t: f(F, t))(batch)
    np.testing.assert_allclose(to_numpy(v), to_numpy(f(F, batch)))


def test_activation_integer_input_keeps_general_path():
    x = xp.asarray([-3, 0, 4, 9])
    np.testing.assert_allclose(to_numpy(F.relu6(xp.astype(x, xp.float32))), [0, 0, 4, 6])
    with pytest.raises(ValueError, match="hardtanh"):
        F.hardtanh(xp.asarray([1.0]), 2.0, 1.0)


def test_activation_forward_mode(device):
    x = xp.asarray(np.array([-1.2, 0.3, 2.0]), device=device)
    v = xp.asarray(np.array([0.5, -1.0, 2.0]), device=device)
    with fwAD.dual_level():
        y = F.elu(fwAD.make_dual(x, v), 0.5)
        t = to_numpy(fwAD.unpack_dual(y).tangent)
    host = np.array([-1.2, 0.3, 2.0])
    expected = np.where(host > 0, 1.0, 0.5 * np.exp(host)) * np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(t, expected, rtol=1e-12)


# -- nll_loss ---------------------------------------------------------------------------
def _log_probs(rng, n, c):
    z = rng.standard_normal((n, c))
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_nll_loss_matches_torch(reduction, ignore_index, device, torch):
    rng = np.random.default_rng(0)
    logp = _log_probs(rng, 6, 4)
    target = np.array([0, 2, 3, 2, 1, -100 if ignore_index == -100 else 0])
    x = xp.asarray(logp, device=device, requires_grad=True)
    t = xp.asarray(target, device=device)
    y = F.nll_loss(x, t, ignore_index=ignore_index, reduction=reduction)
    assert y.grad_fn.name == "nll_loss" and y.dtype == xp.float64
    u = rng.standard_normal(y.shape)
    (g,) = xp.autograd.grad(y, [x], xp.asarray(u, device=device))
    tx = torch.tensor(logp, requires_grad=True)
    ty = torch.nn.functional.nll_loss(tx, torch.tensor(target), ignore_index=ignore_index,
                                      reduction=reduction)
    ty.backward(torch.tensor(u))
    np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(g), tx.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_gradients_fd(reduction, device):
    rng = np.random.default_rng(1)
    target = xp.asarray(np.array([1, 0, 3, -100, 3]), device=device)
    check_grads(lambda x: F.nll_loss(x, target, reduction=reduction),
                [_log_probs(rng, 5, 4)], device)

    def grad_of(x):  # the gradient is constant in x: its own gradient is 0
        if not x.requires_grad:
            x = x.requires_grad_()
        (g,) = xp.autograd.grad(xp.sum(F.nll_loss(x, target, reduction=reduction) ** 2),
                                [x], create_graph=True)
        return g
    check_grads(grad_of, [_log_probs(rng, 5, 4)], device, forward=False)


def test_nll_loss_errors_infinities_and_vmap(device):
    with np.errstate(divide="ignore"):
        host = np.log(np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]]))
    x = xp.asarray(host, device=device)
    t = xp.asarray(np.array([0, 2]), device=device)
    np.testing.assert_allclose(to_numpy(F.nll_loss(x, t)), -(np.log(0.5) + np.log(0.5)) / 2)
    with pytest.raises(IndexError, match="nll_loss: target 3 is out of bounds for 3"):
        F.nll_loss(x, xp.asarray(np.array([0, 3]), device=device))
    with pytest.raises(ValueError, match="nll_loss"):
        F.nll_loss(x, xp.asarray(np.array([0, 1, 2]), device=device))
    batch = xp.stack([x, x[::-1]])
    tb = xp.stack([t, t])
    v = xp.func.vmap(lambda a, b: F.nll_loss(a, b))(batch, tb)
    np.testing.assert_allclose(to_numpy(v), [to_numpy(F.nll_loss(batch[i], tb[i]))
                                             for i in range(2)])
    with fwAD.dual_level():
        tan = xp.ones_like(x)
        y = F.nll_loss(fwAD.make_dual(x, tan), t, reduction="sum")
        assert float(to_numpy(fwAD.unpack_dual(y).tangent)) == -2.0


# -- avg_pool over disjoint windows ------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda F_, x: F_.avg_pool2d(x, 2),
    lambda F_, x: F_.avg_pool2d(x, (2, 3), (2, 3)),
    lambda F_, x: F_.avg_pool2d(x[0], 3, divisor_override=4),
    lambda F_, x: F_.avg_pool1d(x[0], 2),
    lambda F_, x: F_.avg_pool2d(x, 4),  # 6 % 4: the general path
])
def test_avg_pool_disjoint_matches_torch(call, device, torch):
    rng = np.random.default_rng(2)
    host = rng.standard_normal((2, 3, 6, 6))
    x = xp.asarray(host, device=device, requires_grad=True)
    y = call(F, x)
    u = rng.standard_normal(y.shape)
    (g,) = xp.autograd.grad(y, [x], xp.asarray(u, device=device))
    tx = torch.tensor(host, requires_grad=True)
    ty = call(torch.nn.functional, tx)
    ty.backward(torch.tensor(u))
    np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(g), tx.grad.numpy(), rtol=1e-12)


def test_avg_pool_disjoint_grads_vmap_float32(device):
    rng = np.random.default_rng(3)
    check_grads(lambda x: F.avg_pool2d(x, 2), [rng.standard_normal((1, 2, 4, 4))], device)
    x = xp.asarray(rng.standard_normal((2, 1, 2, 4, 4)).astype(np.float32), device=device)
    y = F.avg_pool2d(x[0], 2)
    assert y.dtype == xp.float32 and y.shape == (1, 2, 2, 2)
    assert y.grad_fn is None
    v = xp.func.vmap(lambda t: F.avg_pool2d(t, 2))(x)
    np.testing.assert_allclose(to_numpy(v), np.stack([to_numpy(F.avg_pool2d(x[i], 2))
                                                      for i in range(2)]), rtol=1e-6)


# -- one_hot ------------------------------------------------------------------------------
def test_one_hot_kernel(device, torch):
    host = np.array([[0, 3], [2, 1]])
    t = xp.asarray(host, device=device)
    y = F.one_hot(t, 5)
    assert y.dtype == xp.int64 and y.shape == (2, 2, 5) and y.device == t.device
    np.testing.assert_array_equal(to_numpy(y),
                                  torch.nn.functional.one_hot(torch.tensor(host), 5).numpy())
    np.testing.assert_array_equal(to_numpy(F.one_hot(t)), np.eye(4, dtype=np.int64)[host])
    assert F.one_hot(xp.asarray(np.zeros(0, np.int64), device=device), 3).shape == (0, 3)
    with pytest.raises(RuntimeError, match=r"smaller than num_classes \(3\), got 3"):
        F.one_hot(t, 3)
    with pytest.raises(RuntimeError, match="non-negative, got -1"):
        F.one_hot(xp.asarray(np.array([0, -1]), device=device), 3)
    v = xp.func.vmap(lambda a: F.one_hot(a, 5))(t)
    np.testing.assert_array_equal(to_numpy(v), to_numpy(y))


def test_nll_loss_counts_exactly_in_half_precision():
    n = 3001  # more rows than float16 counts exactly
    logp = np.full((n, 2), -0.5, dtype=np.float16)
    x = xp.asarray(logp, requires_grad=True)
    y = F.nll_loss(x, xp.asarray(np.zeros(n, dtype=np.int64)))
    assert y.dtype == xp.float16 and float(y) == 0.5
    y.backward()
    g = to_numpy(x.grad)
    np.testing.assert_allclose(g[:, 0], -1.0 / n, rtol=1e-3)
    assert not g[:, 1].any()


def test_avg_pool_backward_survives_an_in_place_change_of_its_input(device):
    """Average pooling's backward needs no input values (PyTorch allows this too)."""
    x = xp.asarray(np.arange(16.0).reshape(1, 1, 4, 4), device=device, requires_grad=True)
    y = x * 1.0
    out = F.avg_pool2d(y, 2)
    y.add_(1.0)
    out.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), np.full((1, 1, 4, 4), 0.25))


def test_cross_entropy_float16_counts_more_rows_than_float16_holds():
    """2049 and more targets are counted exactly (a float16 sum stops at 2048)."""
    rng = np.random.default_rng(0)
    x = xp.asarray(rng.standard_normal((3000, 5)), dtype=xp.float16, requires_grad=True)
    t = xp.asarray(rng.integers(0, 5, 3000))
    loss = F.cross_entropy(x, t)
    loss.backward()
    ref = F.cross_entropy(xp.astype(x.detach(), xp.float64), t)
    assert abs(float(loss) - float(ref)) < 1e-2
    assert x.grad.shape == (3000, 5)

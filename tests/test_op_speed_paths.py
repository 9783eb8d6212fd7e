"""The fast paths of issue 17 (per-op speed) give the general paths' results: small
convolutions by a gathered im2col, disjoint max-pooling by a split reshape, the one-node
huber / smooth-L1 losses, BCE's storage range check, clip's common operands, the memoized
arange, the *_like factories, ``x ** 2`` and the complex sign."""
from __future__ import annotations

import numpy as np
import pytest

import arraylib as xp
import arraylib.nn.functional as F
from arraylib._nn_kernels import _apply, _huber_prim
from conftest import to_numpy

_CONVS = [((2, 3, 7, 8), (4, 3, 3, 2), dict(stride=2, padding=1)),
          ((1, 2, 9, 9), (3, 2, 3, 3), dict(stride=(2, 1), dilation=(2, 1))),
          ((3, 2, 6), (5, 2, 3), dict(padding=2, dilation=2)),
          ((1, 1, 5, 5, 5), (2, 1, 2, 2, 2), dict(stride=2))]


@pytest.mark.parametrize("xs, ws, kw", _CONVS, ids=["2d-stride-pad", "2d-dilated", "1d",
                                                     "3d"])
def test_small_convolution_matches_torch_with_gradients(device, torch, xs, ws, kw):
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    conv = {3: F.conv1d, 4: F.conv2d, 5: F.conv3d}[len(xs)]
    tconv = {3: torch.conv1d, 4: torch.conv2d, 5: torch.conv3d}[len(xs)]
    ax, aw, ab = (xp.asarray(v, device=device, requires_grad=True) for v in (x, w, b))
    tx, tw, tb = (torch.tensor(v, requires_grad=True) for v in (x, w, b))
    out, tout = conv(ax, aw, ab, **kw), tconv(tx, tw, tb, **kw)
    g = rng.standard_normal(tuple(tout.shape))
    (out * xp.asarray(g, device=device)).sum().backward()
    (tout * torch.tensor(g)).sum().backward()
    for a, t in ((out.detach(), tout), (ax.grad, tx.grad), (aw.grad, tw.grad), (ab.grad, tb.grad)):
        np.testing.assert_allclose(to_numpy(a), t.detach().numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("xs, k, kw", [((2, 3, 7, 9), 2, {}), ((1, 2, 9, 9), 3, {}),
                                       ((2, 3, 7, 9), 2, dict(ceil_mode=True)),
                                       ((3, 7, 9), (2, 3), {})],
                         ids=["cropped", "3x3", "ceil", "unbatched"])
def test_disjoint_max_pool_matches_torch_with_nan_and_gradients(device, torch, xs, k, kw):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(xs)
    x.flat[5] = np.nan
    out = F.max_pool2d(xp.asarray(x, device=device), k, **kw)
    ref = torch.nn.functional.max_pool2d(torch.tensor(x), k, **kw)
    np.testing.assert_allclose(to_numpy(out), ref.numpy(), equal_nan=True)
    x = rng.standard_normal(xs)
    ax, tx = xp.asarray(x, device=device, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = F.max_pool2d(ax, k, **kw), torch.nn.functional.max_pool2d(tx, k, **kw)
    g = rng.standard_normal(tuple(ref.shape))
    (out * xp.asarray(g, device=device)).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    np.testing.assert_array_equal(to_numpy(ax.grad), tx.grad.numpy())


@pytest.mark.parametrize("name, kw", [("huber_loss", {}), ("huber_loss", {"delta": 0.3}),
                                      ("smooth_l1_loss", {}), ("smooth_l1_loss", {"beta": 0.4})])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_huber_losses_match_torch(device, torch, name, kw, reduction, dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 5)).astype(dtype)
    t = rng.standard_normal((4, 5)).astype(dtype)
    x[0, 0] = t[0, 0] + kw.get("delta", kw.get("beta", 1.0))  # on the boundary
    ax, at = (xp.asarray(v, device=device, requires_grad=True) for v in (x, t))
    tx, tt = (torch.tensor(v, requires_grad=True) for v in (x, t))
    out = getattr(F, name)(ax, at, reduction=reduction, **kw)
    ref = getattr(torch.nn.functional, name)(tx, tt, reduction=reduction, **kw)
    assert out.grad_fn is not None
    g = rng.standard_normal(tuple(ref.shape)).astype(dtype)
    (out * xp.asarray(g, device=device)).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    tol = 1e-5 if dtype == "float32" else 1e-12
    for a, r in ((out.detach(), ref), (ax.grad, tx.grad), (at.grad, tt.grad)):
        np.testing.assert_allclose(to_numpy(a), r.detach().numpy(), rtol=tol, atol=tol)


def test_huber_loss_vmap_reduces_each_example():
    rng = np.random.default_rng(4)
    x, t = xp.asarray(rng.standard_normal((3, 4))), xp.asarray(rng.standard_normal((3, 4)))
    params = {"delta": 0.3, "smooth": False, "reduction": "mean"}
    got = xp.func.vmap(lambda a, b: _apply(_huber_prim, (a, b), params))(x, t)
    want = [float(F.huber_loss(x[i], t[i], delta=0.3)) for i in range(3)]
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12)


def test_binary_cross_entropy_still_refuses_values_outside_the_unit_interval(device):
    p = xp.asarray([0.2, 0.7], device=device)
    for bad, name in (([0.2, 1.5], "input"), ([0.2, float("nan")], "input")):
        with pytest.raises(RuntimeError, match=f"elements of {name}"):
            F.binary_cross_entropy(xp.asarray(bad, device=device), p)
    with pytest.raises(RuntimeError, match="elements of target"):
        F.binary_cross_entropy(p, xp.asarray([-0.1, 0.5], device=device))


def test_binary_cross_entropy_matches_torch(device, torch):
    rng = np.random.default_rng(5)
    p, y = rng.uniform(0.05, 0.95, (4, 3)), rng.uniform(0, 1, (4, 3))
    p[0, 0], y[0, 0] = 0.0, 1.0  # the clamped log
    out = F.binary_cross_entropy(xp.asarray(p, device=device), xp.asarray(y, device=device),
                                 reduction="none")
    ref = torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(y),
                                                   reduction="none")
    np.testing.assert_allclose(to_numpy(out), ref.numpy(), rtol=1e-12)


def test_clip_fast_operands_match_the_general_rules(device):
    x = xp.asarray([-2.0, -0.5, 0.25, 3.0], device=device)
    lo, hi = xp.full_like(x, -1.0), xp.full_like(x, 1.0)
    np.testing.assert_array_equal(to_numpy(xp.clip(x, lo, hi)), [-1.0, -0.5, 0.25, 1.0])
    np.testing.assert_array_equal(to_numpy(xp.clip(x, -1, 2)), [-1.0, -0.5, 0.25, 2.0])
    x.requires_grad_(True)
    y = xp.clip(x, lo, hi)
    y.sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [0.0, 1.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="broadcast"):
        xp.clip(x, xp.zeros((3,), device=device), hi)


def test_arange_memo_keeps_the_types_of_its_arguments(device):
    assert xp.arange(3, device=device).dtype == xp.int64
    assert xp.arange(3.0, device=device).dtype == xp.float32
    assert xp.arange(1, 3, device=device).dtype == xp.int64
    assert xp.arange(1.0, 3, device=device).dtype == xp.float32
    np.testing.assert_array_equal(to_numpy(xp.arange(5, 1, -2, device=device)), [5, 3])
    np.testing.assert_array_equal(to_numpy(xp.arange(5, 1, -2, device=device)), [5, 3])
    with pytest.raises(ValueError, match="step"):
        xp.arange(0, 3, 0, device=device)
    with pytest.raises(ValueError, match="step"):
        xp.arange(0, 3, 0, device=device)


def test_like_factories_keep_shape_dtype_and_device(device):
    x = xp.asarray(np.ones((2, 3), dtype=np.float32), device=device)
    for f, v in ((xp.zeros_like, 0.0), (xp.ones_like, 1.0), (lambda t: xp.full_like(t, 2.5), 2.5)):
        y = f(x)
        assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
        np.testing.assert_array_equal(to_numpy(y), np.full((2, 3), v))
    y = xp.empty_like(x)
    assert y.shape == x.shape and y.dtype == x.dtype and not y.requires_grad
    with pytest.raises(TypeError, match="full_like"):
        xp.full_like(xp.asarray([1, 2], device=device), 0.5)


def test_square_of_a_tensor_with_and_without_grad(device):
    x = xp.asarray([-1.5, 0.5, 3.0], device=device, dtype=xp.float32)
    y = x ** 2
    assert y.dtype == xp.float32
    np.testing.assert_array_equal(to_numpy(y), [2.25, 0.25, 9.0])
    np.testing.assert_array_equal(to_numpy(xp.pow(x, 2)), [2.25, 0.25, 9.0])
    x.requires_grad_(True)
    (x ** 2).sum().backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [-3.0, 1.0, 6.0])


def test_complex_sign_is_zero_at_every_signed_zero(device):
    z = xp.asarray([complex(0.0, -0.0), complex(-0.0, -0.0), 3 + 4j], device=device)
    s = to_numpy(xp.sign(z))
    np.testing.assert_allclose(s, [0j, 0j, 0.6 + 0.8j])
    assert not np.signbit(s[:2].real).any() and not np.signbit(s[:2].imag).any()


@pytest.mark.parametrize("slope", [0.01, 0.0, 1.5, -0.3])
def test_leaky_relu_kernel_matches_torch(device, torch, slope):
    x = np.array([-2.0, -0.0, 0.0, 0.5, np.nan, 3.0])
    a = xp.asarray(x, device=device, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    out, ref = F.leaky_relu(a, slope), torch.nn.functional.leaky_relu(t, slope)
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(to_numpy(out), ref.detach().numpy(), equal_nan=True)
    np.testing.assert_allclose(to_numpy(a.grad), t.grad.numpy(), equal_nan=True)


def test_avg_pool_over_disjoint_windows_matches_torch(device, torch):
    x = np.random.default_rng(6).standard_normal((2, 3, 6, 9))
    out = F.avg_pool2d(xp.asarray(x, device=device), (2, 3))
    ref = torch.nn.functional.avg_pool2d(torch.tensor(x), (2, 3))
    np.testing.assert_allclose(to_numpy(out), ref.numpy(), rtol=1e-12)


@pytest.mark.parametrize("create_graph", [False, True], ids=["storage_rule", "tensor_rule"])
def test_silu_kernel_matches_torch(device, torch, create_graph):
    x = np.array([-120.0, -30.0, -1.5, -0.0, 0.0, 0.5, 40.0, np.nan])
    a = xp.asarray(x, device=device, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    out, ref = F.silu(a), torch.nn.functional.silu(t)
    (g,) = xp.autograd.grad(out.sum(), a, create_graph=create_graph)
    ref.sum().backward()
    np.testing.assert_allclose(to_numpy(out), ref.detach().numpy(), rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(to_numpy(g), t.grad.numpy(), rtol=1e-12, equal_nan=True)
    if create_graph:
        assert g.requires_grad


def test_silu_kernel_forward_mode_and_vmap():
    x = xp.asarray(np.array([-3.0, -0.2, 0.7, 5.0]))
    t = xp.asarray(np.array([1.0, 2.0, -1.0, 0.5]))
    _, tangent = xp.func.jvp(F.silu, (x,), (t,))
    h = 1e-6
    fd = (to_numpy(F.silu(x + h * t)) - to_numpy(F.silu(x - h * t))) / (2 * h)
    np.testing.assert_allclose(to_numpy(tangent), fd, rtol=1e-6)
    m = xp.asarray(np.random.default_rng(7).standard_normal((3, 4)))
    np.testing.assert_allclose(to_numpy(xp.func.vmap(F.silu)(m)), to_numpy(F.silu(m)))

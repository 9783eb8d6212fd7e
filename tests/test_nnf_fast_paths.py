"""nn.functional's and the torch face's fast paths (issue 17): memoized pooling and padding
checks, cheaper storage forwards (sigmoid, SiLU, ELU, softplus, disjoint max-pooling), the
one-node ``rsqrt``, the scalar-bounds ``clamp``, and functions that check their own
arguments.  Values against NumPy references (bit for bit where the forward only changed
its calls) and PyTorch; errors still raised on repeated calls; cpu and strict:device1."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import arraylib as xp
import arraylib.nn.functional as F
from arraylib import _torch_functions as tfn
from _fd import check_grads
from conftest import assert_close, to_numpy

RNG = np.random.default_rng(17)
EDGES = np.array([0.0, -0.0, 1e-8, -1e-8, 20.0, -20.0, 88.0, -88.0, 100.0, -100.0, -103.0,
                  np.inf, -np.inf, np.nan])


def _skip_unsupported(device, dtype):
    if dtype == np.float16 and device != xp.Device("cpu"):
        pytest.skip("array-api-strict has only the standard's dtypes")


def _values(dtype, n=40):
    v = np.concatenate([RNG.standard_normal(n) * 6, EDGES])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return v.astype(dtype)


def _logistic_ref(x):
    """The previous storage forward: ``1 / (1 + e)`` at ``x >= 0``, ``e / (1 + e)`` below."""
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(x))
        r = 1.0 / (1.0 + e)
        return np.where(x >= 0, r, e * r)


def _same_bits(a, b):
    a, b = to_numpy(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a, b, equal_nan=True), (a, b)


# -- sigmoid and SiLU: the same values in cheaper calls -----------------------------------------
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_sigmoid_values_bit_for_bit(device, dtype):
    _skip_unsupported(device, dtype)
    x = _values(dtype)
    a = xp.asarray(x, device=device)
    ref = _logistic_ref(x)
    for out in (xp.sigmoid(a), F.sigmoid(a), a.sigmoid(), tfn.sigmoid(a)):
        _same_bits(out, ref)
    _same_bits(F.silu(a), (x * ref).astype(dtype))


def test_sigmoid_integer_and_complex_paths(device):
    i = xp.asarray(np.array([-3, 0, 4]), device=device)
    assert xp.sigmoid(i).dtype == xp.float32
    assert_close(xp.sigmoid(i), _logistic_ref(np.array([-3.0, 0.0, 4.0], np.float32)))
    if device == xp.Device("cpu"):
        z = np.array([0.5 + 1j, -2 - 0.5j])
        assert_close(xp.sigmoid(xp.asarray(z)), 1 / (1 + np.exp(-z)))


def test_sigmoid_silu_gradients(device, torch):
    x = RNG.standard_normal((3, 4))
    check_grads(lambda t: F.sigmoid(t), [x], device)
    check_grads(lambda t: F.silu(t), [x], device)
    for fn, tfn in ((F.sigmoid, torch.sigmoid), (F.silu, torch.nn.functional.silu)):
        a = xp.asarray(x, device=device, requires_grad=True)
        fn(a).sum().backward()
        t = torch.tensor(x, requires_grad=True)
        tfn(t).sum().backward()
        assert_close(a.grad, t.grad.numpy(), rtol=1e-12)


def test_non_tensor_inputs_still_raise():
    for name in ("sigmoid", "silu", "softplus", "elu", "logsigmoid", "relu6", "hardtanh",
                 "leaky_relu"):
        with pytest.raises(TypeError, match=f"{name}: argument 'input' must be a Tensor"):
            getattr(F, name)([1.0, 2.0])
    with pytest.raises(TypeError, match="avg_pool2d: argument 'input'"):
        F.avg_pool2d(np.zeros((1, 1, 4, 4)), 2)
    with pytest.raises(TypeError, match="max_pool2d: argument 'input'"):
        F.max_pool2d(np.zeros((1, 1, 4, 4)), 2)
    with pytest.raises(TypeError, match="pad: argument 'input'"):
        F.pad([1.0], (1, 1))
    with pytest.raises(TypeError, match="one_hot: argument 'tensor'"):
        F.one_hot([1, 2], 3)
    w = xp.ones((1, 1, 2, 2))
    with pytest.raises(TypeError, match="conv2d: argument 'weight'"):
        F.conv2d(xp.ones((1, 1, 3, 3)), 2.0)
    with pytest.raises(TypeError, match="conv2d: argument 'bias'"):
        F.conv2d(xp.ones((1, 1, 3, 3)), w, [0.0])


def test_parameter_operands_take_the_general_path():
    p = xp.nn.Parameter(xp.asarray(RNG.standard_normal((1, 2, 4, 4)).astype(np.float32)))
    x = p.detach()
    for fn in (F.sigmoid, F.silu, F.relu6, lambda t: F.max_pool2d(t, 2),
               lambda t: F.pad(t, (1, 1))):
        assert_close(fn(p).detach(), fn(x), rtol=0, atol=0)
    assert_close(F.avg_pool2d(p, 2).detach(), F.avg_pool2d(x, 2), rtol=1e-6)


# -- ELU and softplus: 0-d constants for the Python floats ------------------------------------
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_elu_softplus_logsigmoid_values_bit_for_bit(device, dtype):
    _skip_unsupported(device, dtype)
    x = _values(dtype)
    a = xp.asarray(x, device=device)
    with np.errstate(all="ignore"):
        neg = np.expm1(np.minimum(x, 0.0))
        _same_bits(F.elu(a), np.where(x > 0.0, x, neg))
        _same_bits(F.elu(a, 0.5), np.where(x > 0.0, x, neg * 0.5))
        big = x > 20.0
        _same_bits(F.softplus(a), np.where(big, x, np.log1p(np.exp(np.where(big, 0.0, x)))))
        _same_bits(F.logsigmoid(a), -np.logaddexp(-x, 0.0))


def test_elu_softplus_match_torch(torch):
    x = RNG.standard_normal(50).astype(np.float32) * 10
    t = torch.from_numpy(x)
    assert_close(F.elu(xp.asarray(x)), torch.nn.functional.elu(t).numpy(), rtol=1e-6)
    assert_close(F.softplus(xp.asarray(x)), torch.nn.functional.softplus(t).numpy(), rtol=1e-6)
    assert_close(F.relu6(xp.asarray(x)), torch.nn.functional.relu6(t).numpy(), rtol=0)


# -- rsqrt: one node ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_rsqrt_values(device, dtype):
    _skip_unsupported(device, dtype)
    x = np.array([0.25, 2.0, 9.0, 0.0, np.inf], dtype=dtype)
    with np.errstate(divide="ignore"):
        ref = (1.0 / np.sqrt(x)).astype(dtype)
        out = xp.rsqrt(xp.asarray(x, device=device))
    _same_bits(out, ref)


def test_rsqrt_promotes_integers_and_keeps_complex(device):
    out = xp.rsqrt(xp.asarray(np.array([1, 4, 16]), device=device))
    assert out.dtype == xp.float32
    assert_close(out, [1.0, 0.5, 0.25])
    if device == xp.Device("cpu"):
        z = np.array([1 + 1j, 4 - 2j])
        assert_close(xp.rsqrt(xp.asarray(z)), 1 / np.sqrt(z))
    with pytest.raises(TypeError):
        xp.rsqrt([1.0, 2.0])


def test_rsqrt_gradients(device, torch):
    x = RNG.uniform(0.5, 3.0, (2, 3))
    check_grads(lambda t: xp.rsqrt(t), [x], device)
    a = xp.asarray(x, device=device, requires_grad=True)
    xp.rsqrt(a).sum().backward()
    t = torch.tensor(x, requires_grad=True)
    torch.rsqrt(t).sum().backward()
    assert_close(a.grad, t.grad.numpy(), rtol=1e-12)


# -- clamp with two number bounds ---------------------------------------------------------------
def test_clamp_number_bounds(device):
    x = np.array([-3.0, -0.5, 0.0, 0.5, 3.0, np.nan], np.float32)
    a = xp.asarray(x, device=device)
    for lo, hi in ((-1, 1), (-1.0, 0.25), (2, 1)):
        _same_bits(tfn.clamp(a, lo, hi), np.clip(x, lo, hi).astype(np.float32))
        _same_bits(tfn.clip(a, lo, hi), np.clip(x, lo, hi).astype(np.float32))
    i = xp.asarray(np.array([1, 5, -2]), device=device)
    assert tfn.clamp(i, 0, 3).dtype == i.dtype
    assert tfn.clamp(i, 0.5, 3).dtype == xp.float32
    with pytest.raises(RuntimeError, match="clamp"):
        tfn.clamp(a)
    with pytest.raises(TypeError):
        tfn.clamp([1.0], 0, 1)
    g = xp.asarray(x[:5], device=device, requires_grad=True)
    tfn.clamp(g, -1, 1).sum().backward()
    assert_close(g.grad, [0.0, 1.0, 1.0, 1.0, 0.0])


# -- average pooling: memoized checks -----------------------------------------------------------
@pytest.mark.parametrize("shape,kernel", [((1, 2, 10, 10), 2), ((2, 3, 9, 6), (3, 2)),
                                          ((3, 8, 8), 4), ((1, 1, 4, 4), 1),
                                          ((2, 2, 12, 12), [4, 4])])
def test_avg_pool_disjoint_values(device, shape, kernel):
    x = RNG.standard_normal(shape).astype(np.float32)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    split = shape[:-2] + (shape[-2] // kh, kh, shape[-1] // kw, kw)
    ref = np.add.reduce(x.reshape(split), axis=(-3, -1)) / (kh * kw)
    a = xp.asarray(x, device=device)
    for _ in range(2):  # the second call takes the memo
        _same_bits(F.avg_pool2d(a, kernel), ref)
    _same_bits(F.avg_pool2d(a, kernel, divisor_override=3),
               np.add.reduce(x.reshape(split), axis=(-3, -1)) / 3)


def test_avg_pool_general_path_and_errors(device, torch):
    x = RNG.standard_normal((1, 2, 7, 7)).astype(np.float32)
    a, t = xp.asarray(x, device=device), torch.from_numpy(x)
    for kw in ({"kernel_size": 3, "stride": 2, "padding": 1}, {"kernel_size": 2},
               {"kernel_size": 3, "ceil_mode": True, "stride": 2}):
        for _ in range(2):
            assert_close(F.avg_pool2d(a, **kw), torch.nn.functional.avg_pool2d(t, **kw).numpy(),
                         rtol=1e-6, atol=1e-7)
    for _ in range(2):
        with pytest.raises(ValueError, match="avg_pool2d"):
            F.avg_pool2d(a, 2, padding=2)
        with pytest.raises(ValueError, match="avg_pool2d"):
            F.avg_pool2d(xp.ones((4, 4), device=device), 2)
    i = np.arange(16).reshape(1, 1, 4, 4)  # (integers: the general path)
    assert_close(F.avg_pool2d(xp.asarray(i, device=device), 2),
                 torch.nn.functional.avg_pool2d(torch.from_numpy(i.astype(np.float32)), 2)
                 .numpy(), check_dtype=False)


def test_avg_pool_gradients(device):
    check_grads(lambda t: F.avg_pool2d(t, 2), [RNG.standard_normal((1, 2, 4, 6))], device)
    check_grads(lambda t: F.avg_pool2d(t, (1, 3)), [RNG.standard_normal((2, 3, 6))], device)


# -- max pooling: memoized checks, short views --------------------------------------------------
@pytest.mark.parametrize("shape,kernel,stride", [
    ((1, 2, 10, 10), 2, None), ((2, 3, 9, 6), (3, 2), None), ((3, 8, 8), 4, None),
    ((2, 2, 7, 9), 2, None), ((1, 1, 8, 8), (1, 2), None), ((1, 2, 9, 9), 3, 2),
    ((1, 1, 6, 6), [2, 3], None)])
def test_max_pool_matches_torch(device, torch, shape, kernel, stride):
    x = RNG.standard_normal(shape).astype(np.float32)
    if stride is None:
        x.reshape(-1)[3] = np.nan
    t = torch.from_numpy(x.copy()).requires_grad_(True)
    ref = torch.nn.functional.max_pool2d(t, kernel, stride)
    ref.sum().backward()
    for _ in range(2):
        a = xp.asarray(x, device=device, requires_grad=True)
        out = F.max_pool2d(a, kernel, stride)
        _same_bits(out.detach(), ref.detach().numpy())
        out.sum().backward()
        _same_bits(a.grad, t.grad.numpy())


def test_max_pool_1d_padding_and_errors(device, torch):
    x = RNG.standard_normal((2, 3, 8)).astype(np.float32)
    a, t = xp.asarray(x, device=device), torch.from_numpy(x)
    for kw in ({"kernel_size": 2}, {"kernel_size": 3, "padding": 1, "stride": 2}):
        for _ in range(2):
            assert_close(F.max_pool1d(a, **kw), torch.nn.functional.max_pool1d(t, **kw).numpy())
    b = xp.asarray(RNG.standard_normal((1, 1, 6, 6)).astype(np.float32), device=device)
    assert_close(F.max_pool2d(b, 3, padding=1, stride=2),
                 torch.nn.functional.max_pool2d(torch.from_numpy(to_numpy(b)), 3, 2, 1).numpy())
    for _ in range(2):
        with pytest.raises(ValueError, match="max_pool2d"):
            F.max_pool2d(xp.zeros((1, 1, 2, 2), device=device), 3)
        with pytest.raises(ValueError, match="max_pool2d"):
            F.max_pool2d(b, 2, padding=2)
    out, idx = F.max_pool2d(b, 2, return_indices=True)
    _, tidx = torch.nn.functional.max_pool2d(torch.from_numpy(to_numpy(b)), 2,
                                             return_indices=True)
    assert np.array_equal(to_numpy(idx), tidx.numpy())


def test_max_pool_empty_and_integer(device):
    e = F.max_pool2d(xp.zeros((0, 2, 4, 4), device=device), 2)
    assert e.shape == (0, 2, 2, 2)
    i = np.arange(32).reshape(1, 2, 4, 4)
    out = F.max_pool2d(xp.asarray(i, device=device), 2)
    assert out.dtype == xp.int64
    assert np.array_equal(to_numpy(out), i.reshape(1, 2, 2, 2, 2, 2).max(axis=(3, 5)))


def test_max_pool_gradients(device):
    x = RNG.permutation(48).reshape(1, 2, 4, 6) / 7.0  # distinct values: no ties
    check_grads(lambda t: F.max_pool2d(t, 2), [x], device)


# -- zero padding: memoized checks --------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
@pytest.mark.parametrize("shape,pad", [((10, 10), (1, 1)), ((2, 3, 4), (1, 2, 0, 3)),
                                       ((2, 2), (2, 1, 1, 0)), ((3,), [1, 0])])
def test_zero_pad_values(device, dtype, shape, pad):
    x = (RNG.standard_normal(shape) * 3).astype(dtype)
    widths = [(0, 0)] * (len(shape) - len(pad) // 2) + \
        [tuple(pad[i:i + 2]) for i in range(0, len(pad), 2)][::-1]
    a = xp.asarray(x, device=device)
    for _ in range(2):
        _same_bits(F.pad(a, pad), np.pad(x, widths))


def test_pad_identity_crop_value_and_errors(device, torch):
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    a = xp.asarray(x, device=device)
    assert F.pad(a, (0, 0)) is a
    assert F.pad(a, (0, 0)) is a
    t = torch.from_numpy(x)
    for p, v in (((-1, 2), None), ((1, -1, 2, 0), None), ((1, 1), -0.0), ((1, 2), 2.5)):
        kwargs = {} if v is None else {"value": v}
        for _ in range(2):
            _same_bits(F.pad(a, p, **kwargs), torch.nn.functional.pad(t, p, **kwargs).numpy())
    neg = F.pad(a, (1, 1), value=-0.0)
    assert np.signbit(to_numpy(neg)[0, 0])
    assert_close(F.pad(a, (1, 1), mode="reflect"),
                 torch.nn.functional.pad(t[None], (1, 1), mode="reflect")[0].numpy())
    for _ in range(2):
        with pytest.raises(ValueError, match="pad"):
            F.pad(a, (1,))
        with pytest.raises(ValueError, match="pad"):
            F.pad(a, (1, 1, 1, 1, 1, 1))


def test_pad_gradients(device):
    check_grads(lambda t: F.pad(t, (1, 2, 0, 1)), [RNG.standard_normal((2, 3))], device)


def test_pooling_and_padding_under_vmap(device):
    rng = np.random.default_rng(7)  # (its own draws: the module's depend on test order)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    img = rng.standard_normal((3, 2, 4, 4)).astype(np.float32)
    pooled = xp.func.vmap(lambda r: F.max_pool2d(r, 2))(xp.asarray(img, device=device))
    _same_bits(pooled, img.reshape(3, 2, 2, 2, 2, 2).max(axis=(3, 5)))
    pooled = xp.func.vmap(lambda r: F.avg_pool2d(r, 2))(xp.asarray(img, device=device))
    assert_close(pooled, img.reshape(3, 2, 2, 2, 2, 2).mean(axis=(3, 5)), rtol=1e-5, atol=1e-7)
    out = xp.func.vmap(lambda r: F.pad(r, (1, 1)))(xp.asarray(x, device=device))
    _same_bits(out, np.pad(x, ((0, 0), (1, 1))))


# -- conv2d: memoized checks --------------------------------------------------------------------
@pytest.mark.parametrize("kw", [{}, {"stride": 2}, {"padding": 1}, {"dilation": 2},
                                {"groups": 2}, {"padding": "same"}, {"stride": (1, 2)}])
@pytest.mark.parametrize("bias", [False, True])
def test_conv2d_matches_torch(device, torch, kw, bias):
    x = RNG.standard_normal((2, 4, 8, 9)).astype(np.float32)
    w = RNG.standard_normal((6, 4 // kw.get("groups", 1), 3, 3)).astype(np.float32)
    b = RNG.standard_normal(6).astype(np.float32) if bias else None
    tb = torch.from_numpy(b) if bias else None
    ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), tb, **kw).numpy()
    ab = xp.asarray(b, device=device) if bias else None
    for _ in range(2):
        out = F.conv2d(xp.asarray(x, device=device), xp.asarray(w, device=device), ab, **kw)
        assert_close(out, ref, rtol=1e-5, atol=1e-5)
    one = F.conv2d(xp.asarray(x[0], device=device), xp.asarray(w, device=device), ab, **kw)
    assert_close(one, ref[0], rtol=1e-5, atol=1e-5)


def test_conv2d_errors_and_gradients(device):
    x = xp.asarray(RNG.standard_normal((1, 2, 5, 5)).astype(np.float32), device=device)
    w = xp.asarray(RNG.standard_normal((3, 2, 3, 3)).astype(np.float32), device=device)
    for _ in range(2):
        with pytest.raises(ValueError, match="conv2d"):
            F.conv2d(x, xp.ones((3, 5, 3, 3), device=device))
        with pytest.raises(ValueError, match="conv2d"):
            F.conv2d(x, xp.ones((3, 2, 7, 7), device=device))
        with pytest.raises(RuntimeError, match="conv2d: expected input, weight and bias"):
            F.conv2d(x, xp.astype(w, xp.float64))
        with pytest.raises(RuntimeError, match="conv2d: expected input, weight and bias"):
            F.conv2d(x, w, xp.ones(3, dtype=xp.float64, device=device))
    check_grads(lambda a, k, b: F.conv2d(a, k, b),
                [RNG.standard_normal((1, 2, 5, 5)), RNG.standard_normal((3, 2, 3, 3)),
                 RNG.standard_normal(3)], device)


# -- kl_div: one node ---------------------------------------------------------------------------
def _kl_composite(input, target, reduction):
    loss = target * (xp.log(xp.where(target == 0, 1.0, target)) - input)
    if reduction == "batchmean":
        return xp.sum(loss) / input.shape[0]
    return {"mean": xp.mean, "sum": xp.sum, "none": lambda v: v}[reduction](loss)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum", "batchmean"])
def test_kl_div_same_bits_as_composite(device, reduction):
    x = RNG.standard_normal((4, 25)).astype(np.float32)
    t = RNG.uniform(0, 1, (4, 25)).astype(np.float32)
    t[0, :3] = 0
    a, b = (xp.asarray(v, device=device, requires_grad=True) for v in (x, t))
    a2, b2 = (xp.asarray(v, device=device, requires_grad=True) for v in (x, t))
    out, ref = F.kl_div(a, b, reduction=reduction), _kl_composite(a2, b2, reduction)
    _same_bits(out.detach(), to_numpy(ref))
    u = xp.asarray(RNG.standard_normal(out.shape).astype(np.float32), device=device)
    (out * u).sum().backward()
    (ref * u).sum().backward()
    _same_bits(a.grad, to_numpy(a2.grad))
    _same_bits(b.grad, to_numpy(b2.grad))


@pytest.mark.parametrize("reduction", ["none", "sum", "batchmean", "mean"])
def test_kl_div_gradients_and_torch(device, torch, reduction):
    x = RNG.standard_normal((3, 4))
    t = RNG.uniform(0.1, 1, (3, 4))
    check_grads(lambda a, b: F.kl_div(a, b, reduction=reduction), [x, t], device)
    ref = torch.nn.functional.kl_div(torch.from_numpy(x), torch.from_numpy(t),
                                     reduction=reduction)
    assert_close(F.kl_div(xp.asarray(x, device=device), xp.asarray(t, device=device),
                          reduction=reduction), ref.numpy(), rtol=1e-12)


def test_kl_div_general_paths_and_errors(device):
    x = xp.asarray(RNG.standard_normal((2, 3)), device=device)
    t = xp.asarray(RNG.uniform(0, 1, (2, 3)), device=device)
    with pytest.raises(ValueError, match="kl_div"):
        F.kl_div(x, t, reduction="average")
    bt = xp.asarray(RNG.uniform(0, 1, (3,)), device=device)  # (broadcast: the composite)
    assert_close(F.kl_div(x, bt, reduction="sum"), _kl_composite(x, bt, "sum"))
    lt = F.kl_div(x, xp.log(t), reduction="sum", log_target=True)
    assert_close(lt, F.kl_div(x, t, reduction="sum"), rtol=1e-12)
    batched = xp.func.vmap(lambda a, b: F.kl_div(a, b, reduction="batchmean"))(
        xp.reshape(x, (2, 1, 3)), xp.reshape(t, (2, 1, 3)))
    assert_close(batched, [to_numpy(F.kl_div(x[i:i + 1], t[i:i + 1], reduction="batchmean"))
                           for i in range(2)], rtol=1e-12)


# -- one_hot: cached classes --------------------------------------------------------------------
def test_one_hot_values_and_errors(device, torch):
    for dtype in (np.int64, np.int32, np.uint8):
        t = RNG.integers(0, 5, (3, 4)).astype(dtype)
        for _ in range(2):
            out = F.one_hot(xp.asarray(t, device=device), 5)
            assert out.dtype == xp.int64
            assert np.array_equal(to_numpy(out),
                                  torch.nn.functional.one_hot(torch.from_numpy(
                                      t.astype(np.int64)), 5).numpy())
    assert F.one_hot(xp.asarray(np.array(2), device=device), 3).shape == (3,)
    for bad, match in ((np.array([0, 5]), "smaller than num_classes"),
                       (np.array([-1, 2]), "non-negative")):
        for _ in range(2):
            with pytest.raises(RuntimeError, match=match):
                F.one_hot(xp.asarray(bad, device=device), 5)
    with pytest.raises(TypeError, match="one_hot"):
        F.one_hot(xp.asarray(np.array([0.0, 1.0]), device=device), 2)


def test_disjoint_max_pool_keeps_a_batch_minor_layout():
    """A convolution's batch-minor output pooled by disjoint windows stays batch-minor
    (splitting its axes is a view: no copy to row-major), with the same values."""
    rng = np.random.default_rng(0)
    host = rng.standard_normal((28, 6, 28, 8)).astype(np.float32)  # (H, C, W, N) in memory
    x = xp.asarray(host).permute(3, 1, 0, 2)  # (N, C, H, W), batch-minor
    out = F.max_pool2d(x, 2)
    want = host.transpose(3, 1, 0, 2).reshape(8, 6, 14, 2, 14, 2).max(axis=(3, 5))
    np.testing.assert_array_equal(to_numpy(out), want)
    assert not out._data.flags.c_contiguous
    row_major = F.max_pool2d(xp.asarray(np.ascontiguousarray(host.transpose(3, 1, 0, 2))), 2)
    np.testing.assert_array_equal(to_numpy(row_major), want)


@pytest.mark.parametrize("layout", ["c", "f", "strided"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_relu_backward_keeps_inf_and_nan_out_of_dropped_positions(device, dtype, layout, torch):
    # the finite test (Backend.all_finite: a sum of squares, or a pairwise sum for strided
    # and half-precision storage) picks g * mask; inf or NaN in g must give where's zeros
    if dtype == "float16" and device.type != "cpu":
        pytest.skip("float16 storage is NumPy's")
    rng = np.random.default_rng(3)
    x_np = rng.standard_normal((6, 8)).astype(dtype)
    g_np = rng.standard_normal((6, 8)).astype(dtype)
    g_np[x_np < 0] = np.inf  # only where relu drops the gradient ...
    g_np[0, np.argmax(x_np[0] < 0)] = np.nan
    g_np[1, np.argmax(x_np[1] > 0)] = -np.inf  # ... and one kept inf
    if layout == "f":
        x_np, g_np = np.asfortranarray(x_np), np.asfortranarray(g_np)
    x = xp.asarray(x_np, device=device)
    if layout == "strided":
        x = x[:, ::2]
    x.requires_grad_(True)
    g = xp.asarray(g_np, device=device)
    if layout == "strided":
        g = g[:, ::2]
    F.relu(x).backward(g)
    tx = torch.from_numpy(np.ascontiguousarray(to_numpy(x.detach()))).requires_grad_(True)
    torch.relu(tx).backward(torch.from_numpy(np.ascontiguousarray(to_numpy(g))))
    np.testing.assert_array_equal(to_numpy(x.grad), tx.grad.numpy())
    big = xp.asarray(np.full((4, 4), 1e20, dtype="float32"), device=device)  # squares overflow
    y = xp.asarray(np.ones((4, 4), dtype="float32"), device=device)
    y.requires_grad_(True)
    F.relu(y).backward(big)
    np.testing.assert_array_equal(to_numpy(y.grad), np.full((4, 4), 1e20, dtype="float32"))

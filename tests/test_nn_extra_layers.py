"""The extra layers of issue 16 (PReLU, Mish, Hardswish, Softmin, CosineSimilarity,
PairwiseDistance, Upsample, PixelShuffle, InstanceNorm, RMSNorm, ConvTranspose1d/3d, Conv3d,
MaxPool3d, BatchNorm3d, and the rest of PyTorch's activations, pooling, padding and
sliding-block layers) against PyTorch: outputs and gradients w.r.t. inputs and
parameters (float64 to 1e-10, float32 to 1e-5), identical state dicts; gradcheck on cpu
and strict:device1."""
from __future__ import annotations

import numpy as np
import pytest

import arraylib as xp
import arraylib.nn as nn
from arraylib.autograd import gradcheck
from arraylib.func import functional_call
from conftest import to_numpy

TOL = {"float64": dict(rtol=1e-10, atol=1e-10), "float32": dict(rtol=1e-5, atol=1e-5)}


def _rand(shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.where(np.abs(np.abs(x) - 3) < 1e-3, x + 0.01, x)  # away from kinks at +-3


LAYERS = [  # (name, constructor args, input shapes)
    ("PReLU", (), [(2, 3, 4)]),
    ("PReLU", (3, 0.1), [(2, 3, 4)]),
    ("Mish", (), [(3, 4)]),
    ("Hardswish", (), [(3, 40)]),
    ("Hardsigmoid", (), [(3, 40)]),
    ("Softmin", (1,), [(3, 4)]),
    ("CosineSimilarity", (), [(3, 4), (3, 4)]),
    ("CosineSimilarity", (-1, 1e-6), [(2, 3, 4), (1, 4)]),
    ("PairwiseDistance", (), [(3, 4), (3, 4)]),
    ("PairwiseDistance", (1.0, 1e-6, True), [(3, 4), (3, 4)]),
    ("Upsample", ((5, 7),), [(1, 2, 3, 4)]),
    ("Upsample", (None, 2, "bilinear"), [(1, 2, 3, 4)]),
    ("Upsample", (None, 2, "bilinear", True), [(1, 2, 3, 4)]),
    ("UpsamplingNearest2d", (None, 2), [(1, 2, 3, 4)]),
    ("PixelShuffle", (2,), [(2, 8, 3, 2)]),
    ("PixelUnshuffle", (2,), [(2, 2, 4, 6)]),
    ("InstanceNorm1d", (3,), [(2, 3, 5)]),
    ("InstanceNorm1d", (3, 1e-5, 0.1, True), [(3, 5)]),
    ("InstanceNorm2d", (3, 1e-3, 0.1, True, True), [(2, 3, 4, 5)]),
    ("RMSNorm", (4,), [(2, 3, 4)]),
    ("RMSNorm", ((3, 4), 1e-3, False), [(2, 3, 4)]),
    ("ConvTranspose1d", (3, 4, 3), [(2, 3, 5)]),
    ("ConvTranspose1d", (4, 6, 3, 2, 1, 1, 2, False, 2), [(2, 4, 5)]),
    ("Conv3d", (2, 3, 2), [(2, 2, 3, 4, 3)]),
    ("Conv3d", (2, 4, (1, 2, 2), 1, 1, 1, 2), [(1, 2, 3, 3, 4)]),
    ("MaxPool3d", (2,), [(1, 2, 4, 4, 5)]),
    ("MaxPool3d", (3, 2, 1), [(1, 2, 5, 4, 5)]),
    ("BatchNorm3d", (2,), [(2, 2, 3, 2, 2)]),
    # the rest of PyTorch's surface
    ("SELU", (), [(3, 4)]), ("CELU", (1.5,), [(3, 4)]), ("GLU", (), [(3, 6)]),
    ("GLU", (0,), [(4, 3)]), ("Softsign", (), [(3, 4)]), ("Tanhshrink", (), [(3, 4)]),
    ("Threshold", (0.1, 20.0), [(3, 4)]), ("Hardshrink", (0.3,), [(3, 4)]),
    ("Softshrink", (), [(3, 4)]), ("Softmax2d", (), [(2, 3, 4, 5)]),
    ("Softmax2d", (), [(3, 4, 5)]),
    ("AvgPool3d", (3, 2, 1, True, False), [(1, 2, 5, 6, 5)]),
    ("AvgPool3d", ((2, 1, 2),), [(2, 4, 3, 4)]),
    ("AdaptiveAvgPool1d", (3,), [(2, 3, 7)]),
    ("AdaptiveAvgPool3d", ((2, None, 4),), [(1, 2, 5, 7, 6)]),
    ("AdaptiveMaxPool1d", (3,), [(2, 3, 7)]),
    ("AdaptiveMaxPool2d", ((3, 4),), [(2, 3, 7, 9)]),
    ("AdaptiveMaxPool3d", (2,), [(1, 2, 5, 4, 6)]),
    ("LocalResponseNorm", (3,), [(2, 5, 3, 4)]),
    ("ConvTranspose3d", (2, 3, 2, 2, 1, 1), [(1, 2, 3, 3, 2)]),
    ("ConvTranspose3d", (4, 2, (2, 1, 2), (1, 2, 1), 0, 0, 2, False, (2, 1, 1)),
     [(2, 4, 2, 3, 2)]),
    ("Fold", ((4, 5), 2), [(2, 12, 12)]),
    ("Unfold", ((2, 3), 1, 1, (1, 2)), [(2, 3, 4, 5)]),
    ("ChannelShuffle", (3,), [(2, 6, 3, 2)]),
    ("ZeroPad1d", (2,), [(2, 3, 4)]), ("ZeroPad2d", ((1, 2, 0, 3),), [(2, 3, 4, 5)]),
    ("ZeroPad3d", (1,), [(1, 2, 3, 3, 2)]),
    ("ConstantPad1d", ((1, 2), 3.5), [(2, 3, 4)]), ("ConstantPad2d", (1, -1.0), [(3, 4, 5)]),
    ("ConstantPad3d", ((1, 0, 2, 1, 0, 1), 2.0), [(1, 2, 3, 3, 2)]),
    ("ReflectionPad1d", (2,), [(2, 3, 4)]), ("ReflectionPad2d", ((1, 0, 2, 1),), [(2, 3, 4, 5)]),
    ("ReflectionPad3d", (1,), [(1, 2, 3, 3, 2)]),
    ("ReplicationPad1d", ((3, 1),), [(3, 4)]), ("ReplicationPad2d", (2,), [(2, 3, 4, 5)]),
    ("ReplicationPad3d", ((1, 2, 0, 1, 2, 0),), [(1, 2, 3, 3, 2)]),
    ("CircularPad1d", (2,), [(2, 3, 4)]), ("CircularPad2d", ((1, 0, 2, 1),), [(2, 3, 4, 5)]),
    ("CircularPad3d", (1,), [(1, 2, 3, 3, 2)]),
    ("LPPool2d", (2, 2), [(2, 3, 4, 5)]), ("LPPool1d", (3, 2, 1, True), [(2, 3, 7)]),
    ("InstanceNorm3d", (2, 1e-5, 0.1, True), [(2, 2, 3, 2, 4)]),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", range(len(LAYERS)))
def test_matches_torch(torch, case, dtype):
    name, args, shapes = LAYERS[case]
    tm = getattr(torch.nn, name)(*args).to(getattr(torch, dtype))
    am = getattr(nn, name)(*args).to(getattr(xp, dtype))
    sd = {k: xp.asarray(v.detach().numpy().copy()) for k, v in tm.state_dict().items()}
    assert [(k, tuple(v.shape)) for k, v in tm.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in am.state_dict().items()]
    res = am.load_state_dict(sd)
    assert not res.missing_keys and not res.unexpected_keys
    xs = [_rand(s, case + i).astype(dtype) for i, s in enumerate(shapes)]
    tx = [torch.tensor(x, requires_grad=True) for x in xs]
    ax = [xp.asarray(x, requires_grad=True) for x in xs]
    to, ao = tm(*tx), am(*ax)
    assert ao.dtype == getattr(xp, dtype)
    np.testing.assert_allclose(to_numpy(ao), to.detach().numpy(), **TOL[dtype])
    g = _rand(tuple(to.shape), 99).astype(dtype)
    to.backward(torch.tensor(g))
    ao.backward(xp.asarray(g))
    # (PyTorch's hardsigmoid backward multiplies by a float32 1/6, in float64 too)
    gtol = TOL["float32"] if name == "Hardsigmoid" else TOL[dtype]
    for t, a in zip(tx, ax):
        np.testing.assert_allclose(to_numpy(a.grad), t.grad.numpy(), **gtol)
    tp = dict(tm.named_parameters())
    for n, p in am.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), tp[n].grad.numpy(), **TOL[dtype])
    for n, b in am.named_buffers():  # running statistics updated alike
        np.testing.assert_allclose(to_numpy(b), dict(tm.named_buffers())[n].numpy(),
                                   **TOL[dtype])


def test_hardsigmoid_gradient_exact():
    x = xp.asarray([-4.0, -1.0, 0.5, 2.0, 4.0], dtype=xp.float64, requires_grad=True)
    xp.sum(nn.Hardsigmoid()(x)).backward()
    np.testing.assert_array_equal(to_numpy(x.grad), [0.0, 1 / 6, 1 / 6, 1 / 6, 0.0])


def test_instance_norm_eval_uses_running_stats(torch):
    tm, am = torch.nn.InstanceNorm1d(3, track_running_stats=True), \
        nn.InstanceNorm1d(3, track_running_stats=True)
    x = _rand((4, 3, 6), 0).astype(np.float32)
    tm(torch.tensor(x))
    am(xp.asarray(x))
    tm.eval()
    am.eval()
    np.testing.assert_allclose(to_numpy(am(xp.asarray(x))), tm(torch.tensor(x)).numpy(),
                               **TOL["float32"])


GRADCHECK = [("PReLU", (2,), (2, 2, 3)), ("Mish", (), (2, 3)), ("RMSNorm", (3,), (2, 3)),
             ("InstanceNorm1d", (2, 1e-5, 0.1, True), (2, 2, 4)),
             ("ConvTranspose1d", (2, 3, 2, 2), (1, 2, 3)),
             ("PixelShuffle", (2,), (1, 4, 2, 2))]


@pytest.mark.parametrize("case", range(len(GRADCHECK)))
def test_gradcheck(device, case):
    name, args, shape = GRADCHECK[case]
    xp.manual_seed(0)
    m = getattr(nn, name)(*args).double().to(device)
    x = xp.asarray(_rand(shape, case), device=device, requires_grad=True)
    names, params = zip(*m.named_parameters()) if list(m.parameters()) else ((), ())
    # the parameters go in through functional_call, so gradcheck's copies are the ones used
    assert gradcheck(lambda x, *p: functional_call(m, dict(zip(names, p)), (x,)),
                     (x, *params), atol=1e-7, rtol=1e-5)


def test_errors():
    with pytest.raises(RuntimeError, match="pixel_shuffle"):
        nn.PixelShuffle(2)(xp.ones((1, 3, 2, 2)))
    with pytest.raises(RuntimeError, match="prelu"):
        nn.PReLU(3)(xp.ones((2, 4)))
    with pytest.raises(RuntimeError, match="rms_norm"):
        nn.RMSNorm(3)(xp.ones((2, 4)))
    with pytest.raises(ValueError, match="InstanceNorm2d"):
        nn.InstanceNorm2d(3)(xp.ones((3, 4)))


@pytest.mark.parametrize("kw", [
    dict(scale_factor=2, mode="bicubic"), dict(scale_factor=2, mode="bicubic", align_corners=True),
    dict(size=(3, 4), mode="bicubic"), dict(size=(9, 4), mode="bicubic", align_corners=True),
    dict(scale_factor=1.7, mode="bicubic"), dict(scale_factor=2.5, mode="nearest-exact"),
    dict(size=(3, 11), mode="nearest-exact")])
def test_interpolate_bicubic_and_nearest_exact_match_torch(torch, kw):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 7))
    tx = torch.tensor(x, requires_grad=True)
    ax = xp.asarray(x, requires_grad=True)
    to = torch.nn.functional.interpolate(tx, **kw)
    ao = nn.functional.interpolate(ax, **kw)
    w = rng.standard_normal(tuple(to.shape))
    (to * torch.tensor(w)).sum().backward()
    (ao * xp.asarray(w)).sum().backward()
    np.testing.assert_allclose(to_numpy(ao), to.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(to_numpy(ax.grad), tx.grad.numpy(), atol=1e-12)

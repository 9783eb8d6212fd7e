"""nn layers and losses against PyTorch: same weights and inputs -> same outputs and
input/weight gradients (float64 to 1e-10, float32 to 1e-5), on cpu and strict:device1."""
from __future__ import annotations

import numpy as np
import pytest

import arraylib as xp
import arraylib.nn as nn
import arraylib.nn.functional as F
from conftest import to_numpy

# PyTorch is the reference: the tests comparing with it take the ``torch`` fixture (conftest)
# and skip without it; the others (gradient checks, errors, edge cases) always run.
TOL = {"float64": dict(rtol=1e-10, atol=1e-10), "float32": dict(rtol=1e-5, atol=1e-5)}


def _copy_weights(tmod, amod, device, dtype):
    amod.to(device)
    amod.to(getattr(xp, dtype))
    sd = {k: xp.asarray(v.detach().numpy().copy(), device=device) for k, v in
          tmod.state_dict().items()}
    res = amod.load_state_dict(sd)
    assert not res.missing_keys and not res.unexpected_keys


def _compare(torch, tmod, amod, inputs, device, dtype, grad_inputs=True, seed=0):
    """Run both modules on ``inputs`` (NumPy), backprop a random cotangent, compare."""
    tol = TOL[dtype]
    tdt = getattr(torch, dtype)
    tmod = tmod.to(tdt)
    _copy_weights(tmod, amod, device, dtype)
    t_in, a_in = [], []
    for a in inputs:
        if a.dtype.kind == "f":
            a = a.astype(dtype)
            t_in.append(torch.tensor(a, requires_grad=grad_inputs))
            a_in.append(xp.asarray(a, device=device, requires_grad=grad_inputs))
        else:
            t_in.append(torch.tensor(a))
            a_in.append(xp.asarray(a, device=device))
    t_out = tmod(*t_in)
    a_out = amod(*a_in)
    np.testing.assert_allclose(to_numpy(a_out), t_out.detach().numpy(), **tol)
    assert a_out.dtype == getattr(xp, dtype)
    if not t_out.requires_grad:
        return
    cot = np.random.default_rng(seed).standard_normal(t_out.shape).astype(dtype)
    t_out.backward(torch.tensor(cot))
    a_out.backward(xp.asarray(cot, device=device))
    for t, a in zip(t_in, a_in):
        if t.requires_grad:
            np.testing.assert_allclose(to_numpy(a.grad), t.grad.numpy(), **tol)
    tparams = dict(tmod.named_parameters())
    for name, p in amod.named_parameters():
        tg = tparams[name].grad
        if tg is None:
            assert p.grad is None or not np.any(to_numpy(p.grad))
        else:
            np.testing.assert_allclose(to_numpy(p.grad), tg.numpy(), **tol, err_msg=name)


def _rand(*shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


LAYERS = [
    ("Linear", lambda m: m.Linear(5, 4), [(3, 5)]),
    ("Linear_nobias_3d", lambda m: m.Linear(5, 4, bias=False), [(2, 3, 5)]),
    ("Bilinear", lambda m: m.Bilinear(3, 4, 2), [(5, 3), (5, 4)]),
    ("Identity", lambda m: m.Identity(), [(2, 3)]),
    ("Flatten", lambda m: m.Flatten(), [(2, 3, 4)]),
    ("Unflatten", lambda m: m.Unflatten(1, (2, 3)), [(4, 6)]),
    ("Conv1d", lambda m: m.Conv1d(3, 4, 3, stride=2, padding=1), [(2, 3, 9)]),
    ("Conv2d", lambda m: m.Conv2d(3, 4, 3), [(2, 3, 7, 6)]),
    ("Conv2d_unbatched", lambda m: m.Conv2d(3, 4, 3), [(3, 6, 6)]),
    ("Conv2d_strided", lambda m: m.Conv2d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2),
     [(2, 4, 9, 8)]),
    ("Conv2d_same", lambda m: m.Conv2d(3, 4, (3, 4), padding="same", bias=False), [(2, 3, 6, 7)]),
    ("Conv2d_same_dil", lambda m: m.Conv2d(2, 3, 2, padding="same", dilation=3), [(1, 2, 7, 7)]),
    ("Conv2d_reflect", lambda m: m.Conv2d(3, 2, 3, padding=1, padding_mode="reflect"),
     [(2, 3, 5, 5)]),
    ("Conv2d_depthwise", lambda m: m.Conv2d(4, 8, 3, groups=4, stride=(2, 1)), [(2, 4, 7, 7)]),
    ("ConvTranspose2d", lambda m: m.ConvTranspose2d(4, 3, 3, stride=2, padding=1,
                                                    output_padding=1), [(2, 4, 5, 4)]),
    ("ConvTranspose2d_groups", lambda m: m.ConvTranspose2d(4, 6, 3, groups=2, dilation=2),
     [(2, 4, 4, 5)]),
    ("MaxPool1d", lambda m: m.MaxPool1d(2), [(2, 3, 9)]),
    ("MaxPool2d", lambda m: m.MaxPool2d(2, 2), [(2, 3, 8, 6)]),
    ("MaxPool2d_pad", lambda m: m.MaxPool2d(3, stride=2, padding=1), [(2, 3, 9, 8)]),
    ("MaxPool2d_ceil", lambda m: m.MaxPool2d(3, stride=2, ceil_mode=True), [(2, 2, 8, 9)]),
    ("MaxPool2d_dil", lambda m: m.MaxPool2d(2, stride=1, dilation=2), [(1, 2, 6, 6)]),
    ("AvgPool2d", lambda m: m.AvgPool2d(2), [(2, 3, 8, 6)]),
    ("AvgPool2d_pad", lambda m: m.AvgPool2d(3, stride=2, padding=1), [(2, 3, 9, 8)]),
    ("AvgPool2d_nopadcount", lambda m: m.AvgPool2d(3, 2, 1, count_include_pad=False),
     [(2, 3, 9, 8)]),
    ("AvgPool2d_ceil", lambda m: m.AvgPool2d(3, 2, ceil_mode=True), [(1, 2, 8, 9)]),
    ("AdaptiveAvgPool2d", lambda m: m.AdaptiveAvgPool2d((3, 2)), [(2, 3, 7, 5)]),
    ("AdaptiveAvgPool2d_div", lambda m: m.AdaptiveAvgPool2d(2), [(2, 3, 8, 8)]),
    ("BatchNorm1d", lambda m: m.BatchNorm1d(4), [(6, 4)]),
    ("BatchNorm1d_3d", lambda m: m.BatchNorm1d(4, momentum=None), [(3, 4, 5)]),
    ("BatchNorm2d", lambda m: m.BatchNorm2d(3), [(4, 3, 5, 5)]),
    ("BatchNorm2d_noaffine", lambda m: m.BatchNorm2d(3, affine=False), [(4, 3, 2, 2)]),
    ("LayerNorm", lambda m: m.LayerNorm((4, 5)), [(3, 4, 5)]),
    ("GroupNorm", lambda m: m.GroupNorm(2, 4), [(3, 4, 3, 2)]),
    ("Dropout_p0", lambda m: m.Dropout(p=0.0), [(3, 4)]),
    ("ReLU", lambda m: m.ReLU(), [(3, 4)]),
    ("LeakyReLU", lambda m: m.LeakyReLU(0.2), [(3, 4)]),
    ("ELU", lambda m: m.ELU(0.5), [(3, 4)]),
    ("GELU", lambda m: m.GELU(), [(3, 4)]),
    ("GELU_tanh", lambda m: m.GELU(approximate="tanh"), [(3, 4)]),
    ("SiLU", lambda m: m.SiLU(), [(3, 4)]),
    ("Sigmoid", lambda m: m.Sigmoid(), [(3, 4)]),
    ("Tanh", lambda m: m.Tanh(), [(3, 4)]),
    ("Softplus", lambda m: m.Softplus(beta=2.0, threshold=1.5), [(3, 4)]),
    ("Softmax", lambda m: m.Softmax(dim=1), [(3, 4)]),
    ("LogSoftmax", lambda m: m.LogSoftmax(dim=-1), [(2, 3, 4)]),
    ("Sequential", lambda m: m.Sequential(m.Conv2d(2, 3, 3, padding=1), m.BatchNorm2d(3),
                                          m.ReLU(), m.MaxPool2d(2), m.Flatten(),
                                          m.Linear(12, 5), m.GELU(), m.Linear(5, 2)),
     [(3, 2, 4, 4)]),
]


@pytest.mark.parametrize("name,make,shapes", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_float64(name, make, shapes, device, torch):
    torch.manual_seed(0)
    tmod = make(torch.nn)
    amod = make(nn)
    inputs = [_rand(*s, seed=i + 1) for i, s in enumerate(shapes)]
    _compare(torch, tmod, amod, inputs, device, "float64")
    if any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in tmod.modules()):
        # running statistics were updated identically; eval mode uses them
        for (k, v), (k2, v2) in zip(tmod.state_dict().items(), amod.state_dict().items()):
            assert k == k2
            np.testing.assert_allclose(to_numpy(v2), v.numpy(), rtol=1e-10, atol=1e-12)
        tmod.eval()
        amod.eval()
        _compare(torch, tmod, amod, [_rand(*s, seed=i + 7) for i, s in enumerate(shapes)],
                 device, "float64")


@pytest.mark.parametrize("name,make,shapes", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_float32(name, make, shapes, torch):
    torch.manual_seed(0)
    tmod = make(torch.nn)
    amod = make(nn)
    _compare(torch, tmod, amod, [_rand(*s, seed=i + 1) for i, s in enumerate(shapes)], "cpu",
             "float32")


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding(device, padding_idx, torch):
    torch.manual_seed(0)
    tmod = torch.nn.Embedding(10, 3, padding_idx=padding_idx)
    amod = nn.Embedding(10, 3, padding_idx=padding_idx)
    idx = np.array([[1, 2, 4], [2, 9, 0]])
    _compare(torch, tmod, amod, [idx], device, "float64")


# -- losses --------------------------------------------------------------------------------
def _loss_case(torch, name, make, input_np, target_np, device, dtype="float64",
               grad_target=False):
    tol = TOL[dtype]
    tmod, amod = make(torch.nn, torch), make(nn, xp)
    x = input_np.astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    ax = xp.asarray(x, device=device, requires_grad=True)
    if target_np.dtype.kind == "f":
        target_np = target_np.astype(dtype)
    tt = torch.tensor(target_np, requires_grad=grad_target and target_np.dtype.kind == "f")
    at = xp.asarray(target_np, device=device, requires_grad=grad_target and
                    target_np.dtype.kind == "f")
    if hasattr(amod, "weight") and amod.weight is not None:
        amod.weight = xp.asarray(tmod.weight.numpy().astype(dtype), device=device)
        tmod.weight = tmod.weight.to(getattr(torch, dtype))
    if getattr(amod, "pos_weight", None) is not None:
        amod.pos_weight = xp.asarray(tmod.pos_weight.numpy().astype(dtype), device=device)
        tmod.pos_weight = tmod.pos_weight.to(getattr(torch, dtype))
    tl = tmod(tx, tt)
    al = amod(ax, at)
    np.testing.assert_allclose(to_numpy(al), tl.detach().numpy(), **tol, err_msg=name)
    cot = np.random.default_rng(3).standard_normal(tl.shape).astype(dtype)
    tl.backward(torch.tensor(cot))
    al.backward(xp.asarray(cot, device=device))
    np.testing.assert_allclose(to_numpy(ax.grad), tx.grad.numpy(), **tol, err_msg=name)
    if tt.requires_grad:
        np.testing.assert_allclose(to_numpy(at.grad), tt.grad.numpy(), **tol, err_msg=name)


_R = np.random.default_rng(11)
_X = _R.standard_normal((6, 5))
_Y = _R.standard_normal((6, 5))
_LAB = np.array([0, 3, 4, 1, 3, 2])
_LAB_IGN = np.array([0, 3, -100, 1, 3, 2])
_LAB_IGN1 = np.array([0, 3, 1, 1, 3, 2])
_P = _R.random((6, 5))
_PROBS = _P / _P.sum(1, keepdims=True)
_W = np.array([0.5, 1.0, 2.0, 1.5, 0.3])
_X3 = _R.standard_normal((3, 4, 5))
_LAB3 = _R.integers(0, 4, (3, 5))


def _w(T):
    return xp.asarray(_W) if T is xp else T.tensor(_W)


LOSSES = [
    ("MSE", lambda m, T, r: m.MSELoss(reduction=r), _X, _Y, True),
    ("L1", lambda m, T, r: m.L1Loss(reduction=r), _X, _Y, True),
    ("SmoothL1", lambda m, T, r: m.SmoothL1Loss(reduction=r, beta=0.5), _X, _Y, True),
    ("Huber", lambda m, T, r: m.HuberLoss(reduction=r, delta=0.7), _X, _Y, True),
    ("CE", lambda m, T, r: m.CrossEntropyLoss(reduction=r), _X, _LAB, False),
    ("CE_unbatched", lambda m, T, r: m.CrossEntropyLoss(reduction=r), _X[0], _LAB[0], False),
    ("CE_weight", lambda m, T, r: m.CrossEntropyLoss(weight=_w(T), reduction=r), _X, _LAB, False),
    ("CE_ignore", lambda m, T, r: m.CrossEntropyLoss(reduction=r), _X, _LAB_IGN, False),
    ("CE_ignore_in_range", lambda m, T, r: m.CrossEntropyLoss(ignore_index=1, weight=_w(T),
                                                              reduction=r), _X, _LAB_IGN1, False),
    ("CE_smooth", lambda m, T, r: m.CrossEntropyLoss(label_smoothing=0.1, reduction=r), _X,
     _LAB_IGN, False),
    ("CE_smooth_weight", lambda m, T, r: m.CrossEntropyLoss(weight=_w(T), label_smoothing=0.2,
                                                            reduction=r), _X, _LAB_IGN, False),
    ("CE_probs", lambda m, T, r: m.CrossEntropyLoss(reduction=r), _X, _PROBS, True),
    ("CE_probs_smooth_weight", lambda m, T, r: m.CrossEntropyLoss(weight=_w(T),
                                                                  label_smoothing=0.3,
                                                                  reduction=r), _X, _PROBS, True),
    ("CE_kdim", lambda m, T, r: m.CrossEntropyLoss(reduction=r), _X3, _LAB3, False),
    ("NLL_weight", lambda m, T, r: m.NLLLoss(weight=_w(T), reduction=r), _X, _LAB_IGN, False),
    ("BCE", lambda m, T, r: m.BCELoss(reduction=r), _P, _PROBS, True),
    ("BCEWithLogits", lambda m, T, r: m.BCEWithLogitsLoss(reduction=r), _X, _PROBS, True),
    ("BCEWithLogits_pw", lambda m, T, r: m.BCEWithLogitsLoss(
        pos_weight=(xp.asarray if T is xp else T.tensor)(np.array([1.0, 2.0, 0.5, 3.0, 1.0])),
        reduction=r), _X, _PROBS, True),
    ("KLDiv", lambda m, T, r: m.KLDivLoss(reduction=r), _X, _PROBS, True),
    ("KLDiv_logtarget", lambda m, T, r: m.KLDivLoss(reduction=r, log_target=True), _X, _Y, True),
]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("name,make,x,t,gt", LOSSES, ids=[c[0] for c in LOSSES])
def test_loss(name, make, x, t, gt, reduction, device, torch):
    _loss_case(torch, name, lambda m, T: make(m, T, reduction), x, t, device, "float64", gt)


@pytest.mark.parametrize("name,make,x,t,gt", LOSSES, ids=[c[0] for c in LOSSES])
def test_loss_float32(name, make, x, t, gt, torch):
    _loss_case(torch, name, lambda m, T: make(m, T, "mean"), x, t, "cpu", "float32", gt)


def test_kldiv_batchmean(device, torch):
    _loss_case(torch, "KLDiv_bm", lambda m, T: m.KLDivLoss(reduction="batchmean"), _X, _PROBS,
               device)


def test_max_pool_gradient_keeps_non_finite_cotangents_in_place(device):
    # a NaN or inf cotangent goes to the window's maximum only; the other positions get 0
    x = xp.asarray([[[[1.0, 2.0], [3.0, 0.0]]]], device=device, requires_grad=True)
    y = F.max_pool2d(x, 2)
    for bad in (float("inf"), float("nan")):
        x.grad = None
        y.backward(xp.full_like(y, bad), retain_graph=True)
        g = to_numpy(x.grad)
        assert np.all(g.reshape(-1)[[0, 1, 3]] == 0)
        assert np.isinf(g[0, 0, 1, 0]) if bad == float("inf") else np.isnan(g[0, 0, 1, 0])


@pytest.mark.parametrize("create_graph", [False, True], ids=["storage_rule", "tensor_rule"])
def test_relu_and_overlapping_pool_drop_non_finite_cotangents_as_pytorch(device, create_graph,
                                                                        torch):
    """inf * 0 is NaN: a non-finite cotangent at a dropped position must give 0 there."""
    a = np.array([[[[1.0, 5.0, 2.0, 0.0], [3.0, -4.0, 6.0, 1.0], [0.0, 2.0, -1.0, 7.0]]]])
    cases = [(lambda m, v: m.relu(v), [np.inf, np.nan, -np.inf]),
             (lambda m, v: m.max_pool2d(v, 2, stride=1), [np.inf, np.nan])]
    for f, bads in cases:
        for bad in bads:
            x = xp.asarray(a, device=device, requires_grad=True)
            y = f(F, x)
            g = np.ones(y.shape)
            g[0, 0, 0, 0] = g[0, 0, 1, 1] = bad
            (gx,) = xp.autograd.grad(y, x, xp.asarray(g, device=device),
                                     create_graph=create_graph)
            xt = torch.tensor(a, requires_grad=True)
            f(torch.nn.functional, xt).backward(torch.tensor(g))
            np.testing.assert_array_equal(to_numpy(gx), xt.grad.numpy())


_HUGE = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]])


def test_huge_logits_match_torch(device, torch):
    lab = np.array([1, 0])
    for make in (lambda m, T: m.CrossEntropyLoss(),
                 lambda m, T: m.CrossEntropyLoss(label_smoothing=0.1)):
        _loss_case(torch, "CE_huge", make, _HUGE, lab, device)
    _loss_case(torch, "BCEL_huge", lambda m, T: m.BCEWithLogitsLoss(), _HUGE,
               np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 1.0]]), device)


def test_stable_for_huge_logits(device):
    x = xp.asarray(_HUGE, device=device, requires_grad=True)
    y = F.log_softmax(x, dim=1)
    assert np.all(np.isfinite(to_numpy(y)))
    y.backward(xp.ones_like(y))
    assert np.all(np.isfinite(to_numpy(x.grad)))
    s = F.sigmoid(x)
    s.backward(xp.ones_like(s))
    assert np.all(np.isfinite(to_numpy(x.grad)))


def test_loss_errors():
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="mse_loss"):
        F.mse_loss(xp.ones((2, 3)), xp.ones((3, 2)))
    with pytest.raises(ValueError, match="cross_entropy"):
        F.cross_entropy(xp.ones((2, 3)), xp.asarray([0, 1, 2]))


@pytest.mark.parametrize("target,bad", [([0, 3], 3), ([-1, 0], -1), ([3, -100], 3)])
@pytest.mark.parametrize("kwargs", [{}, {"label_smoothing": 0.1}, {"ignore_index": 1}],
                         ids=["fused", "composite", "ignore_in_range"])
def test_class_targets_out_of_bounds(device, target, bad, kwargs):
    x = xp.ones((2, 3), device=device)
    t = xp.asarray(target, device=device)
    with pytest.raises(IndexError, match=f"cross_entropy: target {bad} is out of bounds for 3"):
        F.cross_entropy(x, t, **kwargs)
    with pytest.raises(IndexError, match=f"nll_loss: target {bad} is out of bounds for 3"):
        F.nll_loss(x, t)


# -- window primitives: gradients of first and second order ----------------------------------
def test_window_primitives_gradcheck(device):
    from arraylib.autograd import gradcheck, gradgradcheck
    from arraylib._nn_kernels import sliding_windows, fold_windows, pad_constant, crop, conv
    rng = np.random.default_rng(0)
    x = xp.asarray(rng.standard_normal((2, 3, 6, 5)), device=device, requires_grad=True)
    w = xp.asarray(rng.standard_normal((4, 3, 3, 2)), device=device, requires_grad=True)
    wg = xp.asarray(rng.standard_normal((4, 1, 2, 2)), device=device, requires_grad=True)
    w6 = xp.asarray(rng.standard_normal((6, 3, 2, 2)), device=device, requires_grad=True)
    b6 = xp.asarray(rng.standard_normal(6), device=device, requires_grad=True)
    x_minor = xp.asarray(rng.standard_normal((3, 6, 5, 2)), device=device, requires_grad=True)
    cases = [
        (lambda a: sliding_windows(a, (3, 2), (2, 3), (2, 1), (1, 2)), (x,)),
        (lambda a: fold_windows(a, (2, 3, 6, 5), (2, 3), (2, 1), (1, 2)),
         (xp.asarray(rng.standard_normal((2, 3, 2, 3, 3, 2)), device=device,
                     requires_grad=True),)),
        (lambda a: pad_constant(a, ((0, 0), (1, 0), (2, 1), (0, 3)), 0.5), (x,)),
        (lambda a: crop(a, ((0, 2), (1, 3), (1, 5), (0, 4))), (x,)),
        # ungrouped and undilated on the first spatial axis: by rows (any stride), else im2col
        (lambda a, b: conv(a, b, (2, 1), (1, 2)), (x, w)),
        (lambda a, b: conv(a, b, (1, 2), (1, 2)), (x, w)),
        (lambda a, b: conv(a, b, (1, 2), (2, 1)), (x, w)),
        (lambda a, b, c: conv(a, b, 1, 1, 1, c), (x, w6, b6)),  # 6 outputs: zero-padded product
        # inputs laid out batch-minor (as a convolution's output): rows ordered (*S', N)
        (lambda a, b: conv(xp.permute_dims(a, (3, 0, 1, 2)), b, (1, 2)), (x_minor, w)),
        (lambda a, b, c: conv(conv(a, b, 1, 1, 1, c), xp.permute_dims(b, (1, 0, 2, 3))),
         (x, w6, b6)),
        (lambda a, b: conv(conv(a, b, (1, 1, 2)), xp.permute_dims(b, (1, 0, 2, 3, 4))), (
            xp.asarray(rng.standard_normal((2, 1, 3, 4, 5)), device=device, requires_grad=True),
            xp.asarray(rng.standard_normal((2, 1, 2, 2, 2)), device=device, requires_grad=True))),
        (lambda a, b: conv(a, b, 1, 2), (xp.asarray(rng.standard_normal((2, 3, 7)), device=device,
                                                    requires_grad=True),
                                         xp.asarray(rng.standard_normal((2, 3, 2)), device=device,
                                                    requires_grad=True))),
        (lambda a, b: conv(a, b, (1, 2, 1), (1, 1, 2)), (
            xp.asarray(rng.standard_normal((1, 2, 4, 5, 5)), device=device, requires_grad=True),
            xp.asarray(rng.standard_normal((3, 2, 2, 2, 2)), device=device, requires_grad=True))),
        (lambda a, b: conv(a[:, :2] * a[:, 1:], b, 1, 1, 2), (x, wg)),
        (lambda a, b, c: conv(a, b, (2, 1), (1, 2), 1, c), (x, w, xp.asarray(
            rng.standard_normal(4), device=device, requires_grad=True))),
        (lambda a, b, c: conv(a[:, :2] * a[:, 1:], b, 1, 1, 2, c * c), (x, wg, xp.asarray(
            rng.standard_normal(4), device=device, requires_grad=True))),
        (lambda a, b: F.conv_transpose2d(a, b, stride=2, padding=1), (
            xp.asarray(rng.standard_normal((1, 4, 3, 2)), device=device, requires_grad=True), w)),
        (lambda a: F.max_pool2d(a, 2), (x,)),
        (lambda a: F.max_pool2d(a * a, 3, stride=(2, 1), padding=1, dilation=(1, 2)), (x,)),
        (lambda a: F.relu(a * a - 0.5), (x,)),
        (lambda a: F.gelu(a), (x,)),
    ]
    for f, args in cases:
        assert gradcheck(f, args)
        assert gradgradcheck(f, args)


# -- fused linear and cross-entropy primitives: first and second order --------------------------
def test_fused_linear_cross_entropy_gradcheck(device):
    from arraylib.autograd import gradcheck, gradgradcheck
    from arraylib._nn_kernels import linear, cross_entropy
    rng = np.random.default_rng(1)

    def a(*shape):
        return xp.asarray(rng.standard_normal(shape), device=device, requires_grad=True)

    x, x3, w, b = a(4, 3), a(2, 4, 3), a(5, 3), a(5)
    logits = a(6, 4)
    t = xp.asarray([0, 3, 1, -100, 2, 3], device=device)
    t_all = xp.asarray([0, 3, 1, 1, 2, 3], device=device)
    cases = [
        (lambda p, q, r: linear(p, q, r), (x, w, b)),
        (lambda p, q: linear(p, q), (x3, w)),
        (lambda p, q, r: linear(p * p, q, r), (x3, w, b)),
    ]
    for red in ("mean", "sum", "none"):
        cases.append((lambda z, red=red: cross_entropy(z * z, t, -100, red), (logits,)))
    cases.append((lambda z: cross_entropy(z, t_all, 3, "mean"), (logits,)))
    for f, args in cases:
        assert gradcheck(f, args)
        assert gradgradcheck(f, args)


def test_fused_paths_match_composite(device):
    """F.linear / F.cross_entropy take the fused primitives; the composite formulas
    (used for other dtypes and options) agree with them, values and gradients."""
    rng = np.random.default_rng(2)
    x = xp.asarray(rng.standard_normal((5, 4)), device=device, requires_grad=True)
    w = xp.asarray(rng.standard_normal((3, 4)), device=device, requires_grad=True)
    b = xp.asarray(rng.standard_normal(3), device=device, requires_grad=True)
    t = xp.asarray([0, 2, 1, 2, 0], device=device)
    assert F.linear(x, w, b).grad_fn.prim.name == "linear"
    assert F.cross_entropy(F.linear(x, w, b), t).grad_fn.prim.name == "cross_entropy"
    for red in ("mean", "sum", "none"):
        fused = F.cross_entropy(F.linear(x, w, b), t, reduction=red)
        ref = xp.matmul(x, xp.matrix_transpose(w)) + b
        comp = F.nll_loss(F.log_softmax(ref, dim=1), t, reduction=red)
        np.testing.assert_allclose(to_numpy(fused), to_numpy(comp), rtol=1e-12)
        gf = xp.autograd.grad(xp.sum(fused), (x, w, b))
        gc = xp.autograd.grad(xp.sum(comp), (x, w, b))
        for p, q in zip(gf, gc):
            np.testing.assert_allclose(to_numpy(p), to_numpy(q), rtol=1e-10, atol=1e-12)

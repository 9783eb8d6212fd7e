"""The rest of PyTorch's nn surface (issue 16, item 3): the functional forms of
``arraylib.nn._functional_extra`` and the layers of ``activation_extra``, ``pooling_extra``,
``padding``, ``loss_extra`` and ``extra``, against PyTorch (values, gradients w.r.t. inputs
and parameters, float64 to 1e-10 and float32 to 1e-5, reprs, state dicts), their bad-input
errors, and gradcheck on cpu and strict:device1."""
from __future__ import annotations

import math

import numpy as np
import pytest

import arraylib as xp
import arraylib.nn as nn
import arraylib.nn.functional as F
from arraylib.autograd import gradcheck
from conftest import to_numpy

TOL = {"float64": dict(rtol=1e-10, atol=1e-10), "float32": dict(rtol=1e-5, atol=1e-5)}
DIFFERENTIABLE = ("x", "pos")


class T:
    """A tensor argument: ``kind`` x (normal), pos (in [0.5, 2]; weight: the same, not
    differentiated), labels (multi-label class indices), sign (+-1), unit (in
    [0, 1]), count (small integers as floats) or int (class indices below ``high``)."""

    def __init__(self, kind, shape, high=None):
        self.kind, self.shape, self.high = kind, shape, high

    def array(self, rng, dtype):
        shape = self.shape
        if self.kind == "int":
            return rng.integers(0, self.high, shape).astype(np.int64)
        if self.kind == "labels":  # class indices ended by -1, then anything
            rows = rng.integers(-1, shape[-1], (int(np.prod(shape[:-1])), shape[-1]))
            for r in rows:
                k = rng.integers(0, shape[-1] + 1)
                r[:k] = rng.permutation(shape[-1])[:k]
                r[k:k + 1] = -1
            return rows.reshape(shape).astype(np.int64)
        made = {"x": lambda: rng.standard_normal(shape),
                "pos": lambda: rng.uniform(0.5, 2.0, shape),
                "weight": lambda: rng.uniform(0.5, 2.0, shape),
                "sign": lambda: rng.choice([-1.0, 1.0], shape),
                "unit": lambda: rng.uniform(0, 1, shape),
                "count": lambda: rng.integers(0, 5, shape).astype(float)}[self.kind]()
        return np.asarray(made, dtype=dtype)


def X(*shape):
    return T("x", shape)


def POS(*shape):
    return T("pos", shape)


def SIGN(*shape):
    return T("sign", shape)


LOSS_REDUCTIONS = ("mean", "sum", "none")
FUNCS = [  # (function, input specs, keyword arguments)
    ("selu", [X(3, 8)], {}), ("celu", [X(3, 8)], {"alpha": 1.5}), ("glu", [X(3, 6)], {}),
    ("glu", [X(4, 3)], {"dim": 0}), ("softsign", [X(3, 8)], {}), ("tanhshrink", [X(3, 8)], {}),
    ("threshold", [X(3, 8)], {"threshold": 0.1, "value": 20.0}),
    ("hardshrink", [X(3, 8)], {}), ("hardshrink", [X(3, 8)], {"lambd": 0.3}),
    ("softshrink", [X(3, 8)], {"lambd": 0.7}), ("rrelu", [X(3, 8)], {"training": False}),
    ("rrelu", [X(3, 8)], {"lower": 0.2, "upper": 0.4}), ("mish", [X(3, 8)], {}),
    ("hardswish", [X(3, 40)], {}), ("softmin", [X(3, 5)], {"dim": 1}),
    ("prelu", [X(2, 3, 4), X(3)], {}),
    ("cosine_similarity", [X(4, 5), X(4, 5)], {"dim": 1}),
    ("pairwise_distance", [X(4, 5), X(4, 5)], {"p": 3.0, "keepdim": True}),
    ("pixel_shuffle", [X(2, 8, 3, 2)], {"upscale_factor": 2}),
    ("pixel_unshuffle", [X(2, 2, 4, 6)], {"downscale_factor": 2}),
    ("channel_shuffle", [X(2, 6, 3)], {"groups": 3}),
    ("rms_norm", [X(2, 3, 4), (4,), X(4)], {"eps": 1e-6}),
    ("local_response_norm", [X(2, 5, 4)], {"size": 2}),
    ("local_response_norm", [X(2, 5, 3, 4)], {"size": 3, "alpha": 0.1, "beta": 0.6, "k": 2.0}),
    ("local_response_norm", [X(1, 4, 2, 3, 2)], {"size": 4, "alpha": 0.5}),
    ("conv3d", [X(2, 4, 5, 4, 5), X(6, 2, 2, 3, 2), X(6)],
     {"stride": (1, 2, 1), "padding": 1, "dilation": (1, 1, 2), "groups": 2}),
    ("conv3d", [X(1, 2, 4, 4, 3), X(3, 2, 3, 2, 3)], {"padding": "same"}),
    ("conv3d", [X(2, 4, 4, 3), X(3, 2, 2, 2, 2)], {}),
    ("conv_transpose1d", [X(2, 4, 5), X(4, 3, 3), X(6)],
     {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2, "dilation": 2}),
    ("conv_transpose1d", [X(3, 5), X(3, 2, 2)], {}),
    ("conv_transpose3d", [X(1, 2, 3, 3, 2), X(2, 3, 2, 2, 2), X(3)],
     {"stride": 2, "padding": 1, "output_padding": 1}),
    ("conv_transpose3d", [X(2, 4, 2, 3, 2), X(4, 1, 2, 1, 2)],
     {"stride": (1, 2, 1), "groups": 2, "dilation": (2, 1, 1)}),
    ("max_pool3d", [X(1, 2, 5, 6, 5)], {"kernel_size": 3, "stride": 2, "padding": 1}),
    ("max_pool3d", [X(2, 5, 6, 5)], {"kernel_size": (2, 3, 2), "ceil_mode": True}),
    ("max_pool3d", [X(1, 2, 6, 6, 6)], {"kernel_size": 2, "dilation": 2,
                                        "return_indices": True}),
    ("max_pool3d", [X(1, 2, 5, 6, 5)], {"kernel_size": 3, "stride": 2, "padding": 1,
                                        "ceil_mode": True, "return_indices": True}),
    ("avg_pool3d", [X(1, 2, 5, 6, 5)], {"kernel_size": 3, "stride": 2, "padding": 1}),
    ("avg_pool3d", [X(1, 2, 5, 6, 5)], {"kernel_size": 3, "stride": 2, "padding": 1,
                                        "count_include_pad": False, "ceil_mode": True}),
    ("avg_pool3d", [X(2, 4, 4, 4)], {"kernel_size": 2, "divisor_override": 5}),
    ("adaptive_avg_pool1d", [X(2, 3, 7)], {"output_size": 3}),
    ("adaptive_avg_pool1d", [X(3, 8)], {"output_size": 4}),
    ("adaptive_avg_pool3d", [X(1, 2, 5, 7, 6)], {"output_size": (2, None, 4)}),
    ("adaptive_avg_pool3d", [X(2, 3, 4, 5)], {"output_size": 3}),
    ("adaptive_max_pool1d", [X(2, 3, 7)], {"output_size": 3, "return_indices": True}),
    ("adaptive_max_pool1d", [X(3, 8)], {"output_size": 5}),
    ("adaptive_max_pool2d", [X(2, 3, 7, 9)], {"output_size": (3, 4), "return_indices": True}),
    ("adaptive_max_pool2d", [X(3, 5, 6)], {"output_size": (None, 4)}),
    ("adaptive_max_pool2d", [X(2, 3, 8, 6)], {"output_size": (4, 3)}),  # windows tile the input
    ("adaptive_max_pool3d", [X(1, 2, 5, 4, 6)], {"output_size": (2, 3, 4),
                                                 "return_indices": True}),
    ("lp_pool1d", [POS(2, 3, 7)], {"norm_type": 2, "kernel_size": 3}),
    ("lp_pool2d", [POS(2, 3, 5, 6)], {"norm_type": 1.5, "kernel_size": (2, 3), "stride": 1,
                                      "ceil_mode": True}),
    ("lp_pool3d", [X(1, 2, 4, 4, 4)], {"norm_type": 2, "kernel_size": 2}),
    ("pdist", [X(5, 3)], {}), ("pdist", [X(4, 6)], {"p": 1.5}),
    ("max_pool3d_with_indices", [X(1, 2, 4, 4, 4)], {"kernel_size": 2}),
    ("adaptive_max_pool2d_with_indices", [X(2, 3, 7, 9)], {"output_size": (3, 4)}),
    ("fold", [X(2, 12, 12)], {"output_size": (4, 5), "kernel_size": 2}),
    ("unfold", [X(2, 3, 4, 5)], {"kernel_size": (2, 3), "padding": 1, "stride": (1, 2)}),
] + [(name, specs, dict(kw, reduction=r)) for r in LOSS_REDUCTIONS for name, specs, kw in [
    ("margin_ranking_loss", [X(6), X(6), SIGN(6)], {"margin": 0.5}),
    ("hinge_embedding_loss", [X(4, 5), SIGN(4, 5)], {"margin": 0.8}),
    ("cosine_embedding_loss", [X(4, 5), X(4, 5), SIGN(4)], {"margin": 0.2}),
    ("cosine_embedding_loss", [X(5), X(5), SIGN()], {}),
    ("soft_margin_loss", [X(4, 5), SIGN(4, 5)], {}),
    ("multilabel_soft_margin_loss", [X(4, 5), T("unit", (4, 5))], {}),
    ("multilabel_soft_margin_loss", [X(4, 5), T("unit", (4, 5))], {"weight": POS(5)}),
    ("multi_margin_loss", [X(4, 5), T("int", (4,), 5)], {}),
    ("multi_margin_loss", [X(4, 5), T("int", (4,), 5)], {"p": 2, "margin": 0.7}),
    ("multi_margin_loss", [X(4, 5), T("int", (4,), 5)], {"weight": T("weight", (5,))}),
    ("multi_margin_loss", [X(5), T("int", (), 5)], {"margin": 2.0}),
    ("triplet_margin_loss", [X(4, 5), X(4, 5), X(4, 5)], {}),
    ("triplet_margin_loss", [X(4, 5), X(4, 5), X(4, 5)], {"p": 1, "margin": 0.5, "swap": True}),
    ("poisson_nll_loss", [X(4, 5), T("count", (4, 5))], {}),
    ("poisson_nll_loss", [POS(4, 5), T("count", (4, 5))], {"log_input": False, "full": True}),
    ("gaussian_nll_loss", [X(4, 5), X(4, 5), POS(4, 5)], {}),
    ("gaussian_nll_loss", [X(4, 5), X(4, 5), POS(4)], {"full": True}),
    ("gaussian_nll_loss", [X(4, 5), X(4, 5), POS(4, 1)], {"eps": 0.7}),
    ("triplet_margin_with_distance_loss", [X(4, 5), X(4, 5), X(4, 5)], {"swap": True}),
    ("multilabel_margin_loss", [X(6, 5), T("labels", (6, 5))], {}),
    ("multilabel_margin_loss", [X(5), T("labels", (5,))], {}),
]]


def _call(module, name, specs, kw, dtype, seed, to_tensor):
    """``module.name(*specs, **kw)`` with each ``T`` made a tensor (the same values for the
    same seed); returns the output and the tensor arguments."""
    rng = np.random.default_rng(seed)
    made = []

    def make(v):
        if not isinstance(v, T):
            return v
        made.append(to_tensor(v.array(rng, dtype), v.kind in DIFFERENTIABLE))
        return made[-1]
    args = [make(v) for v in specs]
    kwargs = {k: make(v) for k, v in kw.items()}
    f = module[name] if isinstance(module, dict) else getattr(module, name)
    return f(*args, **kwargs), made


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", range(len(FUNCS)), ids=lambda i: f"{i}-{FUNCS[i][0]}")
def test_functional_matches_torch(torch, case, dtype):
    name, specs, kw = FUNCS[case]
    tout, targs = _call(torch.nn.functional, name, specs, kw, dtype, case,
                        lambda a, g: torch.tensor(a, requires_grad=g))
    aout, aargs = _call(F, name, specs, kw, dtype, case,
                        lambda a, g: xp.asarray(a, requires_grad=g))
    touts = tout if isinstance(tout, tuple) else (tout,)
    aouts = aout if isinstance(aout, tuple) else (aout,)
    assert len(touts) == len(aouts)
    for t, a in zip(touts, aouts):
        assert tuple(a.shape) == tuple(t.shape)
        assert str(a.dtype) == str(t.dtype).replace("torch.", "")
        if t.dtype == torch.int64:  # pooling indices
            np.testing.assert_array_equal(to_numpy(a), t.numpy())
        else:
            np.testing.assert_allclose(to_numpy(a), t.detach().numpy(), **TOL[dtype])
    g = np.random.default_rng(99).standard_normal(tuple(touts[0].shape)).astype(dtype)
    touts[0].backward(torch.tensor(g))
    aouts[0].backward(xp.asarray(g))
    for t, a in zip(targs, aargs):
        if t.requires_grad:
            np.testing.assert_allclose(to_numpy(a.grad), t.grad.numpy(), **TOL[dtype])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy on inf - inf, inf / inf
def test_values_and_gradients_at_kinks_and_infinities_match_torch(torch):
    x = np.array([-np.inf, -4.0, -3.0, -1.0, -0.5, 0.0, 0.5, 2.0, 3.0, 4.0, np.inf])
    for name, kw in (("hardswish", {}), ("hardsigmoid", {}), ("selu", {}), ("celu", {}),
                     ("celu", {"alpha": -0.7}), ("hardshrink", {}), ("softshrink", {}),
                     ("threshold", {"threshold": 0.5, "value": -2.0}), ("softsign", {}),
                     ("mish", {}), ("tanhshrink", {})):
        t = torch.tensor(x, requires_grad=True)
        a = xp.asarray(x, requires_grad=True)
        tout, aout = getattr(torch.nn.functional, name)(t, **kw), getattr(F, name)(a, **kw)
        expect = tout.detach().numpy()
        defined = ~np.isnan(expect)  # (PyTorch's hardswish(-inf) is -inf * 0 = NaN; ours 0)
        np.testing.assert_allclose(to_numpy(aout)[defined], expect[defined], rtol=1e-7,
                                   atol=1e-7, err_msg=name)
        finite = np.isfinite(x)  # gradients at finite points (at infinities: NaN or undefined)
        tout[torch.tensor(finite)].sum().backward()
        xp.sum(aout[xp.asarray(finite)]).backward()
        np.testing.assert_allclose(to_numpy(a.grad)[finite], t.grad.numpy()[finite], rtol=1e-6,
                                   atol=1e-7, err_msg=name)  # (PyTorch's elu grad: from out)


def test_in_place_variants():
    x = np.random.default_rng(0).standard_normal(6)
    for name, kw in (("selu", {}), ("celu", {"alpha": 0.5}), ("rrelu", {"lower": 0.2})):
        a = xp.asarray(x.copy())
        assert getattr(F, name + "_")(a, **kw) is a
        np.testing.assert_allclose(to_numpy(a), to_numpy(getattr(F, name)(xp.asarray(x), **kw)))


def test_max_unpool_inverts_max_pool(torch):
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 7))
    for nd, shape, kw in ((1, (2, 3, 7), {}), (2, (2, 3, 6, 7), {"padding": 1}),
                          (3, (1, 2, 4, 5, 4), {"stride": 1})):
        x = np.random.default_rng(nd).standard_normal(shape)
        tpool, apool = getattr(torch.nn.functional, f"max_pool{nd}d"), getattr(F, f"max_pool{nd}d")
        tv, ti = tpool(torch.tensor(x), 3 if nd < 3 else 2, return_indices=True, **kw)
        av, ai = apool(xp.asarray(x), 3 if nd < 3 else 2, return_indices=True, **kw)
        np.testing.assert_array_equal(to_numpy(ai), ti.numpy())
        tv.requires_grad_(True)
        av = xp.asarray(to_numpy(av), requires_grad=True)
        size = shape[-nd:]
        tu = getattr(torch.nn.functional, f"max_unpool{nd}d")(tv, ti, 3 if nd < 3 else 2,
                                                               output_size=size, **kw)
        au = getattr(nn, f"MaxUnpool{nd}d")(3 if nd < 3 else 2, **kw)(av, ai, output_size=size)
        np.testing.assert_allclose(to_numpy(au), tu.detach().numpy(), rtol=1e-12)
        g = np.random.default_rng(9).standard_normal(tuple(tu.shape))
        tu.backward(torch.tensor(g))
        au.backward(xp.asarray(g))
        np.testing.assert_allclose(to_numpy(av.grad), tv.grad.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="max_unpool2d.*output_size"):
        F.max_unpool2d(xp.ones((1, 1, 2, 2)), xp.zeros((1, 1, 2, 2), dtype=xp.int64), 2,
                       output_size=(9, 9))
    with pytest.raises(IndexError, match="max_unpool1d"):
        F.max_unpool1d(xp.ones((1, 1, 2)), xp.asarray([[[0, 7]]]), 2)


def test_gumbel_softmax():
    xp.manual_seed(0)
    logits = xp.asarray(np.log([[0.7, 0.2, 0.1]] * 4000), requires_grad=True)
    soft = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(to_numpy(xp.sum(soft, axis=-1)), 1.0, rtol=1e-12)
    hard = F.gumbel_softmax(logits, hard=True)
    h = to_numpy(hard)
    assert set(np.unique(h)) <= {0.0, 1.0} and np.all(h.sum(-1) == 1)
    np.testing.assert_allclose(h.mean(0), [0.7, 0.2, 0.1], atol=0.03)  # Gumbel-max sampling
    xp.sum(hard * xp.asarray([1.0, 2.0, 3.0])).backward()  # straight-through gradient
    assert float(xp.max(xp.abs(logits.grad))) > 0


def test_triplet_margin_with_a_distance_function(torch):
    rng = np.random.default_rng(0)
    a, p, n = (rng.standard_normal((4, 5)) for _ in range(3))
    tdist = lambda u, v: 1 - torch.nn.functional.cosine_similarity(u, v)  # noqa: E731
    adist = lambda u, v: 1 - F.cosine_similarity(u, v)  # noqa: E731
    t = torch.nn.TripletMarginWithDistanceLoss(distance_function=tdist, margin=0.3)(
        *(torch.tensor(v) for v in (a, p, n)))
    am = nn.TripletMarginWithDistanceLoss(distance_function=adist, margin=0.3)
    assert float(am(*(xp.asarray(v) for v in (a, p, n)))) == pytest.approx(float(t), abs=1e-12)
    assert isinstance(nn.TripletMarginWithDistanceLoss().distance_function, nn.PairwiseDistance)


@pytest.mark.parametrize("name", ["selu", "celu", "mish", "hardswish", "hardsigmoid",
                                  "threshold", "rrelu"])
def test_inplace_forms_write_into_their_input(torch, name):
    x = np.random.default_rng(0).standard_normal((3, 4))
    kw = {"threshold": 0.1, "value": 2.0} if name == "threshold" else {}
    t = torch.tensor(x)
    a = xp.asarray(x)
    tr = getattr(torch.nn.functional, name)(t, inplace=True, **kw)
    ar = getattr(F, name)(a, inplace=True, **kw)
    assert ar is a
    np.testing.assert_allclose(to_numpy(a), tr.numpy(), rtol=1e-12)
    leaf = xp.asarray(x, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        getattr(F, name)(leaf, inplace=True, **kw)
    assert xp.all(F.threshold_(xp.asarray([0.0, 0.5]), 0.1, 2.0) == xp.asarray([2.0, 0.5]))


def test_functional_exports_the_surface():
    names = """selu celu glu softsign tanhshrink threshold threshold_ hardshrink softshrink rrelu
    prelu mish hardswish hardsigmoid softmin cosine_similarity pairwise_distance pixel_shuffle
    pixel_unshuffle channel_shuffle rms_norm instance_norm local_response_norm conv3d
    conv_transpose1d conv_transpose3d max_pool3d avg_pool3d adaptive_avg_pool1d
    adaptive_avg_pool3d adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool3d
    alpha_dropout feature_alpha_dropout dropout1d dropout2d dropout3d embedding_bag fold unfold
    margin_ranking_loss hinge_embedding_loss cosine_embedding_loss soft_margin_loss
    multilabel_soft_margin_loss multi_margin_loss triplet_margin_loss poisson_nll_loss
    gaussian_nll_loss triplet_margin_with_distance_loss multilabel_margin_loss lp_pool1d
    lp_pool2d lp_pool3d max_unpool1d max_unpool2d max_unpool3d pdist gumbel_softmax selu_ celu_
    rrelu_""".split()
    missing = [n for n in names if n not in F.__all__ or not callable(getattr(F, n, None))]
    assert not missing
    with pytest.raises(TypeError, match="selu"):
        F.selu(np.ones(3))
    with pytest.raises(TypeError, match="conv3d.*weight"):
        F.conv3d(xp.ones((1, 1, 2, 2, 2)), [[1.0]])
    with pytest.raises(TypeError, match="margin_ranking_loss.*target"):
        F.margin_ranking_loss(xp.ones(2), xp.ones(2), [1.0, -1.0])
    with pytest.raises(TypeError, match="triplet_margin_loss.*negative"):
        F.triplet_margin_loss(xp.ones(2), xp.ones(2), None)
    with pytest.raises(TypeError, match="embedding_bag.*offsets"):
        F.embedding_bag(xp.asarray([1, 2]), xp.ones((3, 2)), [0])


# -- modules: reprs, losses, EmbeddingBag, LazyLinear, dropout -----------------------------
REPRS = [
    ("SELU", (), {}), ("SELU", (True,), {}), ("CELU", (2.0, True), {}), ("GLU", (), {}),
    ("Softsign", (), {}), ("Tanhshrink", (), {}), ("Threshold", (0.1, 20.0), {}),
    ("Hardshrink", (), {}), ("Softshrink", (0.3,), {}), ("Softmax2d", (), {}), ("RReLU", (), {}),
    ("RReLU", (0.1, 0.3, True), {}), ("Mish", (True,), {}), ("Hardswish", (), {}),
    ("AvgPool3d", (2,), {}), ("AvgPool3d", ((2, 1, 2), 1, 1, True, False, 3), {}),
    ("AdaptiveAvgPool1d", (3,), {}), ("AdaptiveAvgPool3d", ((2, None, 3),), {}),
    ("AdaptiveMaxPool1d", (2,), {}), ("AdaptiveMaxPool2d", (3, True), {}),
    ("AdaptiveMaxPool3d", (2,), {}), ("Fold", ((4, 5), 2), {}), ("Unfold", (2,), {"padding": 1}),
    ("LocalResponseNorm", (2,), {}), ("ChannelShuffle", (2,), {}), ("AlphaDropout", (), {}),
    ("FeatureAlphaDropout", (0.2,), {}), ("Dropout1d", (0.3,), {}), ("Dropout2d", (), {}),
    ("Dropout3d", (), {}), ("EmbeddingBag", (10, 3), {}),
    ("EmbeddingBag", (10, 3), {"mode": "sum", "padding_idx": 0, "max_norm": 1.0}),
    ("ZeroPad1d", (2,), {}), ("ZeroPad2d", ((1, 2, 3, 4),), {}), ("ZeroPad3d", (1,), {}),
    ("ConstantPad1d", (2, 3.5), {}), ("ConstantPad2d", (1, 0.0), {}),
    ("ConstantPad3d", (1, 2.0), {}), ("ReflectionPad1d", (2,), {}),
    ("ReflectionPad2d", ((1, 0, 2, 1),), {}), ("ReflectionPad3d", (1,), {}),
    ("ReplicationPad1d", (1,), {}), ("ReplicationPad2d", (1,), {}),
    ("ReplicationPad3d", (1,), {}), ("CircularPad1d", (1,), {}), ("CircularPad2d", (1,), {}),
    ("CircularPad3d", (1,), {}), ("LazyLinear", (3,), {}), ("ConvTranspose3d", (2, 3, 2), {}),
    ("ConvTranspose3d", (2, 4, 3), {"stride": 2, "padding": 1, "groups": 2, "bias": False}),
    ("MarginRankingLoss", (), {}), ("HingeEmbeddingLoss", (), {}),
    ("CosineEmbeddingLoss", (0.1,), {}), ("SoftMarginLoss", (), {}),
    ("MultiLabelSoftMarginLoss", (), {}), ("MultiMarginLoss", (), {}),
    ("TripletMarginLoss", (), {}), ("PoissonNLLLoss", (), {}), ("GaussianNLLLoss", (), {}),
    ("TripletMarginWithDistanceLoss", (), {"margin": 0.5}), ("MultiLabelMarginLoss", (), {}),
    ("LPPool1d", (2, 3), {}), ("LPPool2d", (1.5, (2, 3), 1, True), {}), ("LPPool3d", (2, 2), {}),
    ("MaxUnpool1d", (3, 2, 1), {}), ("MaxUnpool2d", (2,), {}), ("MaxUnpool3d", ((2, 1, 2),), {}),
    ("InstanceNorm3d", (3,), {"affine": True}),
]


@pytest.mark.parametrize("case", range(len(REPRS)), ids=lambda i: REPRS[i][0])
def test_repr_and_attributes_match_torch(torch, case):
    name, args, kw = REPRS[case]
    t, a = getattr(torch.nn, name)(*args, **kw), getattr(nn, name)(*args, **kw)
    assert repr(a) == repr(t)
    for attr in ("p", "inplace", "padding", "value", "lambd", "alpha", "output_size", "mode",
                 "margin", "reduction", "eps", "full", "log_input", "swap", "groups"):
        if hasattr(t, attr):
            assert getattr(a, attr) == getattr(t, attr), attr
    if name != "LazyLinear":  # PyTorch's uninitialised parameters have no shape
            assert [(k, tuple(v.shape)) for k, v in t.state_dict().items()] == \
            [(k, tuple(v.shape)) for k, v in a.state_dict().items()]


LOSSES = [  # (module, constructor kwargs, forward input specs)
    ("MarginRankingLoss", {"margin": 0.3}, [X(6), X(6), SIGN(6)]),
    ("HingeEmbeddingLoss", {"margin": 0.5, "reduction": "sum"}, [X(4, 5), SIGN(4, 5)]),
    ("CosineEmbeddingLoss", {"margin": 0.1, "reduction": "none"}, [X(4, 5), X(4, 5), SIGN(4)]),
    ("SoftMarginLoss", {}, [X(4, 5), SIGN(4, 5)]),
    ("SoftMarginLoss", {"size_average": False}, [X(4, 5), SIGN(4, 5)]),
    ("MultiLabelSoftMarginLoss", {"weight": "w5"}, [X(4, 5), T("unit", (4, 5))]),
    ("MultiMarginLoss", {"p": 2, "margin": 0.5, "weight": "w5"}, [X(4, 5), T("int", (4,), 5)]),
    ("MultiMarginLoss", {"reduce": False}, [X(4, 5), T("int", (4,), 5)]),
    ("TripletMarginLoss", {"margin": 2.0, "p": 1.5, "swap": True}, [X(4, 5), X(4, 5), X(4, 5)]),
    ("PoissonNLLLoss", {}, [X(4, 5), T("count", (4, 5))]),
    ("PoissonNLLLoss", {"log_input": False, "full": True, "reduction": "sum"},
     [POS(4, 5), T("count", (4, 5))]),
    ("GaussianNLLLoss", {"full": True}, [X(4, 5), X(4, 5), POS(4, 5)]),
    ("GaussianNLLLoss", {"eps": 0.6, "reduction": "none"}, [X(4, 5), X(4, 5), POS(4)]),
    ("TripletMarginWithDistanceLoss", {"margin": 0.5, "swap": True}, [X(4, 5), X(4, 5), X(4, 5)]),
    ("MultiLabelMarginLoss", {"reduction": "sum"}, [X(6, 5), T("labels", (6, 5))]),
]


@pytest.mark.filterwarnings("ignore:size_average and reduce")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", range(len(LOSSES)), ids=lambda i: LOSSES[i][0])
def test_loss_modules_match_torch(torch, case, dtype):
    name, kw, specs = LOSSES[case]
    w = np.random.default_rng(7).uniform(0.5, 2.0, 5).astype(dtype)
    tkw = {k: torch.tensor(w) if v == "w5" else v for k, v in kw.items()}
    akw = {k: xp.asarray(w) if v == "w5" else v for k, v in kw.items()}
    tm, am = getattr(torch.nn, name)(**tkw), getattr(nn, name)(**akw)
    assert am.reduction == tm.reduction
    assert list(am.state_dict()) == list(tm.state_dict())
    tout, targs = _call({"f": tm}, "f", specs, {}, dtype, case,
                        lambda a, g: torch.tensor(a, requires_grad=g))
    aout, aargs = _call({"f": am}, "f", specs, {}, dtype, case,
                        lambda a, g: xp.asarray(a, requires_grad=g))
    np.testing.assert_allclose(to_numpy(aout), tout.detach().numpy(), **TOL[dtype])
    g = np.random.default_rng(1).standard_normal(tuple(tout.shape)).astype(dtype)
    tout.backward(torch.tensor(g))
    aout.backward(xp.asarray(g))
    for t, a in zip(targs, aargs):
        if t.requires_grad:
            np.testing.assert_allclose(to_numpy(a.grad), t.grad.numpy(), **TOL[dtype])


BAGS = [  # (constructor kwargs, input, offsets, per-sample weights?)
    ({"mode": "mean"}, [[1, 2, 4], [4, 3, 9]], None, False),
    ({"mode": "sum"}, [[1, 2, 4], [4, 3, 9]], None, True),
    ({"mode": "max"}, [[1, 2, 4], [4, 3, 9]], None, False),
    ({"mode": "mean"}, [1, 2, 4, 5, 4, 3, 2, 9], [0, 3, 3, 6], False),  # an empty bag
    ({"mode": "sum"}, [1, 2, 4, 5, 4, 3, 2, 9], [0, 2, 5], True),
    ({"mode": "max"}, [1, 2, 4, 5, 4, 3, 2, 9], [0, 3, 3, 6], False),
    ({"mode": "sum", "include_last_offset": True}, [1, 2, 4, 5, 4, 3, 2, 9], [0, 2, 5, 8],
     False),
    ({"mode": "mean", "padding_idx": 2}, [1, 2, 4, 5, 4, 3, 2, 9], [0, 2, 5], False),
    ({"mode": "max", "padding_idx": 4}, [[1, 4, 4], [4, 4, 4], [0, 3, 9]], None, False),
    ({"mode": "sum", "padding_idx": 0}, [[1, 0, 4], [4, 3, 9]], None, True),
    ({"mode": "max", "include_last_offset": True}, [1, 2, 4, 5, 4, 3, 2, 9], [0, 0, 5, 8],
     False),
    ({"mode": "mean"}, [1, 2, 4], [0, 3, 3], False),  # an empty last bag
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", range(len(BAGS)))
def test_embedding_bag_matches_torch(torch, case, dtype):
    kw, idx, offsets, weighted = BAGS[case]
    torch.manual_seed(case)
    tm = torch.nn.EmbeddingBag(10, 3, **kw).to(getattr(torch, dtype))
    am = nn.EmbeddingBag(10, 3, **kw).to(getattr(xp, dtype))
    am.load_state_dict({k: xp.asarray(v.numpy()) for k, v in tm.state_dict().items()})
    psw = np.random.default_rng(case).uniform(0.5, 2, np.shape(idx)).astype(dtype)
    targs = [torch.tensor(idx), None if offsets is None else torch.tensor(offsets)]
    aargs = [xp.asarray(idx), None if offsets is None else xp.asarray(offsets)]
    if weighted:
        targs.append(torch.tensor(psw, requires_grad=True))
        aargs.append(xp.asarray(psw, requires_grad=True))
    to, ao = tm(*targs), am(*aargs)
    np.testing.assert_allclose(to_numpy(ao), to.detach().numpy(), **TOL[dtype])
    g = np.random.default_rng(5).standard_normal(tuple(to.shape)).astype(dtype)
    to.backward(torch.tensor(g))
    ao.backward(xp.asarray(g))
    np.testing.assert_allclose(to_numpy(am.weight.grad), tm.weight.grad.numpy(), **TOL[dtype])
    if weighted:
        np.testing.assert_allclose(to_numpy(aargs[2].grad), targs[2].grad.numpy(), **TOL[dtype])


def test_embedding_bag_errors():
    bag = nn.EmbeddingBag(5, 2)
    with pytest.raises(ValueError, match="offsets"):
        bag(xp.asarray([1, 2, 3]))
    with pytest.raises(ValueError, match="offsets has to be None"):
        bag(xp.asarray([[1, 2]]), xp.asarray([0]))
    with pytest.raises(ValueError, match=r"offsets\[0\]"):
        bag(xp.asarray([1, 2, 3]), xp.asarray([1, 2]))
    with pytest.raises(IndexError, match="out of range"):
        bag(xp.asarray([[1, 7]]))
    with pytest.raises(ValueError, match="last offset"):  # PyTorch: unspecified results
        F.embedding_bag(xp.asarray([1, 2, 3]), bag.weight, xp.asarray([0, 2]),
                        include_last_offset=True)
    with pytest.raises(NotImplementedError, match="per_sample_weights"):
        bag(xp.asarray([[1, 2]]), None, xp.ones((1, 2)))
    with pytest.raises(ValueError, match="mode"):
        F.embedding_bag(xp.asarray([[1]]), bag.weight, mode="median")
    with pytest.raises(TypeError, match="integer"):
        bag(xp.asarray([[1.0]]))


def test_lazy_linear_infers_in_features_and_loads(torch, tmp_path):
    xp.manual_seed(0)
    lazy = nn.LazyLinear(3)
    assert lazy.has_uninitialized_params()
    x = xp.asarray(np.random.default_rng(0).standard_normal((2, 5)))
    x = xp.astype(x, xp.float32)
    y = lazy(x)
    assert type(lazy) is nn.Linear and lazy.in_features == 5
    assert tuple(lazy.weight.shape) == (3, 5) and tuple(y.shape) == (2, 3)
    bound = 1 / math.sqrt(5)
    assert float(xp.max(xp.abs(lazy.weight))) <= bound
    np.testing.assert_allclose(to_numpy(y), to_numpy(F.linear(x, lazy.weight, lazy.bias)))
    y.sum().backward()
    assert lazy.weight.grad is not None and lazy.bias.grad is not None
    # a state dict (here PyTorch's) sizes an uninitialised one
    t = torch.nn.Linear(4, 3)
    fresh = nn.LazyLinear(3)
    fresh.load_state_dict({k: xp.asarray(v.detach().numpy()) for k, v in t.state_dict().items()})
    assert type(fresh) is nn.Linear and tuple(fresh.weight.shape) == (3, 4)
    xt = np.ones((2, 4), dtype=np.float32)
    np.testing.assert_allclose(to_numpy(fresh(xp.asarray(xt))),
                               t(torch.tensor(xt)).detach().numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="LazyLinear"):
        nn.LazyLinear(2)(xp.asarray(1.0))


@pytest.mark.parametrize("name,shape", [("Dropout1d", (6, 50, 4)), ("Dropout2d", (6, 50, 2, 3)),
                                        ("Dropout3d", (6, 50, 2, 2, 2)), ("Dropout2d", (50, 2, 3))])
def test_feature_dropout_zeroes_whole_channels(name, shape):
    xp.manual_seed(0)
    m = getattr(nn, name)(0.4)
    x = xp.ones(shape, dtype=xp.float64, requires_grad=True)
    y = m(x)
    flat = to_numpy(y).reshape(shape[0] * shape[1] if len(shape) > 3 or name == "Dropout1d"
                               else shape[0], -1)
    for row in flat:  # each channel: all dropped or all kept and scaled
        assert np.all(row == 0) or np.allclose(row, 1 / 0.6)
    kept = np.mean(flat[:, 0] != 0)
    assert 0.45 < kept < 0.75
    y.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), to_numpy(y))  # the same mask, scaled
    m.eval()
    assert m(x) is x
    assert getattr(nn, name)(0.0)(x) is x
    assert float(xp.sum(xp.abs(getattr(nn, name)(1.0)(x)))) == 0.0
    with pytest.raises(ValueError, match=name.lower()):
        m.train()(xp.ones((2,) * (len(shape) + 2)))


def test_alpha_dropout_keeps_mean_and_variance():
    xp.manual_seed(0)
    x = xp.asarray(np.random.default_rng(0).standard_normal(200000))
    for p in (0.2, 0.5):
        y = F.alpha_dropout(x, p, training=True)
        assert abs(float(xp.mean(y))) < 0.02 and abs(float(xp.std(y)) - 1) < 0.02
        dropped = to_numpy(y)
        alpha = 1.6732632423543772848170429916717 * 1.0507009873554804934193349852946
        a = 1 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
        sat = -alpha * a + alpha * a * p  # where a unit was dropped
        frac = np.mean(np.isclose(dropped, sat))
        assert abs(frac - p) < 0.01
    assert F.alpha_dropout(x, 0.5, training=False) is x
    y = nn.FeatureAlphaDropout(0.5)(xp.ones((4, 30, 5)))
    rows = to_numpy(y).reshape(120, 5)
    assert all(np.all(r == r[0]) for r in rows)


def test_rrelu_training_draws_slopes_in_range():
    xp.manual_seed(0)
    x = xp.asarray(-np.ones(2000) * 2.0, requires_grad=True)
    y = nn.RReLU(0.1, 0.3)(x)
    slopes = to_numpy(y) / -2.0
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and slopes.std() > 0.03
    y.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), slopes)
    assert float(nn.RReLU(0.1, 0.3).eval()(xp.asarray(-2.0))) == pytest.approx(-0.4)
    assert float(nn.RReLU()(xp.asarray(3.0))) == 3.0


def test_errors():
    z = xp.zeros
    cases = [
        (lambda: F.glu(z((2, 3))), RuntimeError, "glu.*even"),
        (lambda: F.softshrink(z(3), -1.0), RuntimeError, "softshrink"),
        (lambda: F.celu(z(3), 0.0), ValueError, "celu"),
        (lambda: F.rrelu(z(3), 0.5, 0.1), ValueError, "rrelu"),
        (lambda: F.local_response_norm(z((2, 3)), 2), ValueError, "local_response_norm"),
        (lambda: F.channel_shuffle(z((2, 5, 3)), 2), RuntimeError, "channel_shuffle"),
        (lambda: F.conv3d(z((1, 2, 3, 3)), z((2, 2, 2, 2, 2))), ValueError, "conv3d"),
        (lambda: F.conv3d(z((1, 3, 3, 3, 3)), z((2, 2, 2, 2, 2))), ValueError, "conv3d.*channels"),
        (lambda: F.conv3d(z((1, 2, 3, 3, 3)), z((2, 2, 2, 2, 2), dtype=xp.float64)),
         RuntimeError, "conv3d.*dtype"),
        (lambda: F.conv3d(z((1, 2, 3, 3, 3)), z((2, 2, 4, 2, 2))), ValueError, "conv3d.*kernel"),
        (lambda: F.conv3d(z((1, 2, 3, 3, 3)), z((2, 2, 2, 2, 2)), stride=2, padding="same"),
         ValueError, "conv3d.*same"),
        (lambda: F.conv_transpose3d(z((1, 3, 2, 2, 2)), z((2, 2, 2, 2, 2))), ValueError,
         "conv_transpose3d"),
        (lambda: F.conv_transpose1d(z((1, 2, 3)), z((2, 2, 2)), stride=2, output_padding=2),
         ValueError, "conv_transpose1d.*output padding"),
        (lambda: F.max_pool3d(z((1, 1, 2, 2)), 2), ValueError, "max_pool3d"),
        (lambda: F.max_pool3d(z((1, 1, 4, 4, 4)), 2, padding=2), ValueError, "max_pool3d.*half"),
        (lambda: F.avg_pool3d(z((1, 1, 2, 2, 2)), 3), ValueError, "avg_pool3d.*too large"),
        (lambda: F.adaptive_max_pool2d(z((1, 2)), 2), ValueError, "adaptive_max_pool2d"),
        (lambda: F.adaptive_avg_pool3d(z((1, 1, 4, 4, 4)), (2, 2)), ValueError,
         "adaptive_avg_pool3d"),
        (lambda: F.dropout2d(z((2, 3)), 0.5), ValueError, "dropout2d"),
        (lambda: F.alpha_dropout(z(3), 1.5, True), ValueError, "alpha_dropout"),
        (lambda: F.margin_ranking_loss(z(3), z(3), z((3, 1))), RuntimeError, "margin_ranking"),
        (lambda: F.cosine_embedding_loss(z((2, 3)), z((2, 3)), z(())), RuntimeError,
         "cosine_embedding_loss"),
        (lambda: F.multi_margin_loss(z((2, 3)), xp.asarray([0, 1]), p=3), ValueError,
         "multi_margin_loss"),
        (lambda: F.multi_margin_loss(z((2, 3)), xp.asarray([0, 3])), IndexError,
         "multi_margin_loss"),
        (lambda: F.soft_margin_loss(z(3), z(4)), ValueError, "soft_margin_loss"),
        (lambda: F.triplet_margin_loss(z((2, 3)), z(3), z((2, 3))), RuntimeError, "triplet"),
        (lambda: F.gaussian_nll_loss(z((2, 3)), z((2, 3)), z(3)), ValueError, "incorrect size"),
        (lambda: F.gaussian_nll_loss(z(2), z(2), xp.asarray([1.0, -1.0])), ValueError,
         "negative"),
        (lambda: F.poisson_nll_loss(z(2), z(2), reduction="avg"), ValueError, "reduction"),
        (lambda: nn.ReflectionPad2d(1)(z(3)), ValueError, "ReflectionPad2d"),
        (lambda: nn.ReflectionPad1d(3)(z((1, 3))), ValueError, "reflect"),
        (lambda: nn.CircularPad1d(4)(z((1, 3))), ValueError, "CircularPad1d"),
        (lambda: nn.ZeroPad2d((1, 2, 3)), ValueError, "ZeroPad2d"),
        (lambda: nn.Softmax2d()(z((2, 3))), ValueError, "Softmax2d"),
        (lambda: nn.MultiMarginLoss(p=3), ValueError, "MultiMarginLoss"),
        (lambda: nn.TripletMarginLoss(margin=0.0), ValueError, "TripletMarginLoss"),
        (lambda: nn.AlphaDropout(2.0), ValueError, "AlphaDropout"),
        (lambda: nn.ConvTranspose3d(2, 2, 2)(z((1, 2, 2, 2, 2)), output_size=(9, 9, 9)),
         ValueError, "ConvTranspose3d"),
        (lambda: nn.SELU()([1.0]), TypeError, "SELU"),
        (lambda: nn.MarginRankingLoss()(z(2), z(2), [1.0, 1.0]), TypeError, "MarginRankingLoss"),
    ]
    for call, exc, match in cases:
        with pytest.raises(exc, match=match):
            call()


def _rand(shape, seed, low=None):
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.abs(x) + low if low is not None else x


GRADCHECKS = [  # (function of the tensors, float input shapes, positive?)
    ("conv3d", lambda x, w, b: F.conv3d(x, w, b, stride=(1, 2, 1), padding=1, groups=2),
     [(1, 2, 3, 3, 3), (2, 1, 2, 2, 2), (2,)], False),
    ("conv_transpose3d", lambda x, w: F.conv_transpose3d(x, w, stride=2, padding=1,
                                                         output_padding=1),
     [(1, 2, 2, 2, 2), (2, 1, 2, 2, 2)], False),
    ("max_pool3d", lambda x: F.max_pool3d(x, 2, 1, 1), [(1, 1, 3, 3, 3)], False),
    ("avg_pool3d", lambda x: F.avg_pool3d(x, 2, 1, 1, count_include_pad=False),
     [(1, 1, 3, 3, 3)], False),
    ("adaptive_max_pool2d", lambda x: F.adaptive_max_pool2d(x, (2, 3)), [(1, 2, 5, 4)], False),
    ("adaptive_avg_pool3d", lambda x: F.adaptive_avg_pool3d(x, (2, 1, 3)), [(1, 1, 3, 2, 4)],
     False),
    ("local_response_norm", lambda x: F.local_response_norm(x, 3, 0.5), [(1, 4, 3)], False),
    ("glu selu celu softshrink", lambda x: F.glu(F.selu(x) + F.celu(x, 0.7) + F.softshrink(x)),
     [(3, 4)], False),
    ("embedding_bag", lambda w, s: F.embedding_bag(
        xp.asarray([1, 2, 4, 0, 4, 3], device=w.device), w, xp.asarray([0, 2, 2], device=w.device),
        mode="sum", per_sample_weights=s) + F.embedding_bag(
        xp.asarray([[1, 2], [4, 3]], device=w.device), w, mode="max")[:1], [(5, 3), (6,)], False),
    ("losses", lambda a, b, c: F.triplet_margin_loss(a, b, c, swap=True) + F.cosine_embedding_loss(
        a, b, xp.asarray([1.0, -1.0, 1.0], device=a.device), margin=-0.5)
        + F.multi_margin_loss(a, xp.asarray([0, 2, 1], device=a.device), p=2)
        + F.soft_margin_loss(a, b) + F.hinge_embedding_loss(c, xp.sign(b)),
     [(3, 4), (3, 4), (3, 4)], False),
    ("nll losses", lambda x, t, v: F.gaussian_nll_loss(x, t, v, full=True)
        + F.poisson_nll_loss(v, t * t, log_input=False, full=True), [(3, 4), (3, 4), (3, 4)], True),
    ("lp_pool2d max_unpool2d", lambda x: F.lp_pool2d(x, 2, 2, 1) + F.max_unpool2d(
        *F.max_pool2d(x, 2, return_indices=True), 2)[..., :3, :3],  # disjoint windows: an
     [(1, 2, 4, 4)], True),  # overlap's gather gradient (PyTorch's) isn't the derivative
    ("padding", lambda x: nn.ReflectionPad2d((1, 2, 0, 1))(x) * nn.CircularPad2d((1, 2, 0, 1))(x)
        + nn.ReplicationPad2d((2, 1, 1, 0))(x),
     [(1, 2, 3, 3)], False),
]


@pytest.mark.parametrize("case", range(len(GRADCHECKS)), ids=lambda i: GRADCHECKS[i][0])
def test_gradcheck(device, case):
    _, fn, shapes, positive = GRADCHECKS[case]
    xs = [xp.asarray(_rand(s, case + i, 0.5 if positive else None), device=device,
                     requires_grad=True) for i, s in enumerate(shapes)]
    assert gradcheck(fn, tuple(xs), atol=1e-7, rtol=1e-5)


CHECKPOINTS = [  # (module, constructor args, a forward input maker)
    ("EmbeddingBag", (10, 3), lambda lib: lib.asarray([[1, 2, 3], [4, 5, 9]])),
    ("ConvTranspose3d", (2, 3, 2, 2), lambda lib: lib.ones((1, 2, 2, 3, 2))),
    ("MultiMarginLoss", (), None),
]


@pytest.mark.parametrize("case", range(len(CHECKPOINTS)), ids=lambda i: CHECKPOINTS[i][0])
def test_state_dict_checkpoint_both_ways(torch, tmp_path, case):
    name, args, make = CHECKPOINTS[case]
    am, tm = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    xp.save(am.state_dict(), tmp_path / "a.pt")  # arraylib -> torch
    tm.load_state_dict(torch.load(tmp_path / "a.pt"))
    torch.save(getattr(torch.nn, name)(*args).state_dict(), tmp_path / "t.pt")  # torch -> arraylib
    am2 = getattr(nn, name)(*args)
    res = am2.load_state_dict(xp.load(tmp_path / "t.pt"))
    assert not res.missing_keys and not res.unexpected_keys
    if make is None:
        return
    tin = make(torch)
    np.testing.assert_allclose(to_numpy(am(make(xp))), tm(tin.float() if tin.is_floating_point()
                                                          else tin).detach().numpy(),
                               **TOL["float32"])
    loaded = torch.load(tmp_path / "t.pt")
    for k, v in am2.state_dict().items():
        np.testing.assert_array_equal(to_numpy(v), loaded[k].numpy())

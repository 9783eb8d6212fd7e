"""nn.Module system, containers, the seed's two networks, init statistics, utils and
functional extras (pad, one_hot, interpolate, unfold/fold, dropout) against PyTorch."""
from __future__ import annotations

import math

import numpy as np
import pytest

import arraylib as xp
import arraylib.nn as nn
import arraylib.nn.functional as F
from conftest import to_numpy

# The comparisons with PyTorch take the ``torch`` fixture (conftest) and skip without it;
# the Module system, containers, hooks, init statistics and errors are checked without it.


def make_net(nn, F):
    # Built exactly as the seed lecture writes it.
    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            # Convolution output is 16 5x5 feature maps
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = x.view(-1, 16 * 5 * 5)
            x = F.relu(self.fc1(x))
            x = self.fc2(x)
            return x

    return Net()


def make_mlp(nn):
    # Define a (2, 3, 2) neural network with one hidden layer
    return nn.Sequential(
        nn.Linear(2, 3),
        nn.Tanh(),
        nn.Linear(3, 2)
    )


def _load_from_torch(amod, tmod, device):
    amod.load_state_dict({k: xp.asarray(v.detach().numpy().copy(), device=device)
                          for k, v in tmod.state_dict().items()})


# -- the seed's networks -------------------------------------------------------------------
def test_seed_mlp(device, torch):
    torch.manual_seed(0)
    tm, am = make_mlp(torch.nn), make_mlp(nn).to(device)
    _load_from_torch(am, tm, device)
    rng = np.random.default_rng(0)
    xn, yn = rng.standard_normal((8, 2)).astype(np.float32), rng.integers(0, 2, 8)
    x = xp.asarray(xn, device=device)
    loss_fn, tloss_fn = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    learning_rate = 1.0
    for _ in range(3):  # the seed's manual training loop
        y_pred = am(x)
        loss = loss_fn(y_pred, xp.asarray(yn, device=device))
        am.zero_grad()
        loss.backward()
        with xp.no_grad():
            for param in am.parameters():
                param -= learning_rate * param.grad
        tloss = tloss_fn(tm(torch.from_numpy(xn)), torch.from_numpy(yn))
        tm.zero_grad()
        tloss.backward()
        with torch.no_grad():
            for param in tm.parameters():
                param -= learning_rate * param.grad
        np.testing.assert_allclose(float(loss), float(tloss.detach()), rtol=1e-5)
    for (k, v), (k2, v2) in zip(am.state_dict().items(), tm.state_dict().items()):
        assert k == k2
        np.testing.assert_allclose(to_numpy(v), v2.numpy(), rtol=1e-5, atol=1e-6)


def test_seed_net(device, torch):
    torch.manual_seed(0)
    tn, an = make_net(torch.nn, torch.nn.functional), make_net(nn, F).to(device)
    _load_from_torch(an, tn, device)
    rng = np.random.default_rng(0)
    xn = rng.standard_normal((4, 3, 32, 32)).astype(np.float32)
    yn = rng.integers(0, 10, 4)
    loss = nn.CrossEntropyLoss()(an(xp.asarray(xn, device=device)), xp.asarray(yn, device=device))
    loss.backward()
    tloss = torch.nn.CrossEntropyLoss()(tn(torch.from_numpy(xn)), torch.from_numpy(yn))
    tloss.backward()
    np.testing.assert_allclose(float(loss), float(tloss.detach()), rtol=1e-5)
    tp = dict(tn.named_parameters())
    for name, p in an.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), tp[name].grad.numpy(), rtol=1e-4, atol=1e-6,
                                   err_msg=name)
    assert repr(an) == repr(tn)


def test_reprs_match_torch(torch):
    def build(m):
        return m.Sequential(
            m.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), m.BatchNorm2d(8), m.ReLU(),
            m.Conv2d(8, 8, 3, padding="same", groups=2, dilation=2), m.MaxPool2d(2),
            m.AvgPool2d(2), m.AdaptiveAvgPool2d((1, 1)), m.Flatten(), m.Dropout(0.2),
            m.Linear(8, 4), m.LayerNorm(4), m.GELU(approximate="tanh"), m.LeakyReLU(0.1),
            m.ModuleList([m.Identity(), m.Tanh()]), m.ModuleDict({"a": m.Sigmoid()}),
            m.ConvTranspose2d(4, 2, 3, stride=2), m.Embedding(10, 3, padding_idx=0),
            m.GroupNorm(2, 4), m.Softmax(dim=1), m.Softplus(), m.ELU(), m.SiLU(),
            m.CrossEntropyLoss(), m.Bilinear(2, 3, 4), m.Conv1d(2, 3, 3))
    assert repr(build(nn)) == repr(build(torch.nn))


# -- Module system -------------------------------------------------------------------------
def test_registration_and_iteration():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)
            self.scale = nn.Parameter(xp.ones(()))
            self.register_buffer("count", xp.zeros((), dtype=xp.int64))
            self.register_buffer("tmp", xp.zeros(2), persistent=False)
            self.seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
            self.plain = 3

        def forward(self, x):
            return self.seq(self.lin(x)) * self.scale

    m = M()
    assert [n for n, _ in m.named_parameters()] == ["scale", "lin.weight", "lin.bias",
                                                    "seq.0.weight", "seq.0.bias"]
    assert [n for n, _ in m.named_buffers()] == ["count", "tmp"]
    assert list(m.state_dict()) == ["scale", "count", "lin.weight", "lin.bias", "seq.0.weight",
                                    "seq.0.bias"]
    assert [n for n, _ in m.named_modules()] == ["", "lin", "seq", "seq.0", "seq.1"]
    assert len(list(m.children())) == 2 and len(list(m.modules())) == 5
    assert m.plain == 3 and m.get_submodule("seq.0") is m.seq[0]
    out = m(xp.ones((4, 3)))
    assert out.shape == (4, 2)
    out.backward(xp.ones_like(out))
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    out = m(xp.ones((4, 3)))
    out.backward(xp.ones_like(out))
    m.zero_grad(set_to_none=False)
    assert all(not np.any(to_numpy(p.grad)) for p in m.parameters())
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    m.eval()
    assert not m.training and not m.seq[1].training
    m.train()
    assert m.seq[1].training
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "Linear", "ReLU", "Sequential", "M"]
    del m.plain
    m.lin = None
    assert "lin.weight" not in m.state_dict()


def test_assignment_errors():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(xp.ones(2))

    with pytest.raises(AttributeError, match=r"cannot assign parameters before Module.__init__\(\) call"):
        Bad()

    class Bad2(nn.Module):
        def __init__(self):
            self.sub = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad2()
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="weight"):
        m.weight = xp.ones((2, 2))
    with pytest.raises(KeyError):
        m.register_buffer("a.b", xp.ones(1))
    with pytest.raises(AttributeError, match="nothing"):
        m.nothing


def test_hooks():
    m = nn.Linear(2, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append(out.shape) or out + 1)
    x = xp.ones((1, 2))
    with xp.no_grad():
        expect = F.linear(x * 2, m.weight, m.bias) + 1
        got = m(x)
    np.testing.assert_allclose(to_numpy(got), to_numpy(expect))
    assert calls == [(1, 2)]
    h1.remove()
    h2.remove()
    with xp.no_grad():
        np.testing.assert_allclose(to_numpy(m(x)), to_numpy(F.linear(x, m.weight, m.bias)))


def test_containers():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear)
    assert isinstance(seq[:2], nn.Sequential) and len(seq[:2]) == 2
    seq.append(nn.Sigmoid())
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    from collections import OrderedDict
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]
    ml = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
    ml.append(nn.Linear(1, 2))
    assert len(ml) == 4 and len(list(ml.parameters())) == 8
    md = nn.ModuleDict({"a": nn.Linear(1, 1), "b": nn.ReLU()})
    assert list(md.keys()) == ["a", "b"] and "a" in md
    assert list(md.state_dict()) == ["a.weight", "a.bias"]


def test_state_dict_matches_torch(torch):
    torch.manual_seed(0)
    tn = make_net(torch.nn, torch.nn.functional)
    an = make_net(nn, F)
    assert list(an.state_dict()) == list(tn.state_dict())
    _load_from_torch(an, tn, "cpu")
    for k, v in an.state_dict().items():
        np.testing.assert_array_equal(to_numpy(v), tn.state_dict()[k].numpy())
    # batchnorm buffers, with PyTorch's names
    tb, ab = torch.nn.BatchNorm2d(3), nn.BatchNorm2d(3)
    assert list(ab.state_dict()) == list(tb.state_dict())


def test_state_dict_load_and_errors():
    an = make_net(nn, F)
    assert list(an.state_dict()) == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                                     "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    ref = make_net(nn, F)
    an.load_state_dict(ref.state_dict())
    for k, v in an.state_dict().items():
        np.testing.assert_array_equal(to_numpy(v), to_numpy(ref.state_dict()[k]))
    sd = an.state_dict()
    sd.pop("fc2.bias")
    sd["extra.weight"] = xp.ones(1)
    with pytest.raises(RuntimeError) as e:
        an.load_state_dict(sd)
    msg = str(e.value)
    assert 'Missing key(s) in state_dict: "fc2.bias"' in msg
    assert 'Unexpected key(s) in state_dict: "extra.weight"' in msg
    res = an.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["fc2.bias"] and res.unexpected_keys == ["extra.weight"]
    sd = an.state_dict()
    sd["fc1.weight"] = xp.ones((3, 3))
    with pytest.raises(RuntimeError, match=r"size mismatch for fc1.weight: copying a param with "
                                           r"shape torch.Size\(\[3, 3\]\)"):
        an.load_state_dict(sd)
    # batchnorm buffers, with PyTorch's names
    ab = nn.BatchNorm2d(3)
    assert list(ab.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]
    assert ab.num_batches_tracked.dtype == xp.int64


def test_to_dtype_and_device():
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    m.to(xp.float64)
    assert all(p.dtype == xp.float64 for p in m.parameters())
    assert m[1].num_batches_tracked.dtype == xp.int64
    p0 = m[0].weight
    m.to("strict:device1")
    assert m[0].weight is p0 and p0.device == xp.Device("strict:device1")
    assert m[1].running_mean.device == xp.Device("strict:device1")
    out = m(xp.ones((4, 3), dtype=xp.float64, device="strict:device1"))
    out.backward(xp.ones_like(out))
    assert m[0].weight.grad.device == xp.Device("strict:device1")
    m.double().float()
    assert m[0].weight.dtype == xp.float32


def test_parameter():
    p = nn.Parameter(xp.ones((2, 2)))
    assert isinstance(p, xp.Tensor) and p.requires_grad and p.is_leaf
    assert repr(p).startswith("Parameter containing:")
    q = nn.Parameter(xp.ones(2), requires_grad=False)
    assert not q.requires_grad
    y = p * 2
    assert type(y) is xp.Tensor and y.requires_grad


def test_batchnorm_running_stats_and_eval(device, torch):
    torch.manual_seed(0)
    tb, ab = torch.nn.BatchNorm2d(3, momentum=0.3).double(), nn.BatchNorm2d(3, momentum=0.3)
    ab.to(device).to(xp.float64)
    rng = np.random.default_rng(0)
    for i in range(3):
        xn = rng.standard_normal((4, 3, 2, 2)) * (i + 1) + i
        tb(torch.from_numpy(xn))
        ab(xp.asarray(xn, device=device))
    np.testing.assert_allclose(to_numpy(ab.running_mean), tb.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(ab.running_var), tb.running_var.numpy(), rtol=1e-12)
    assert int(ab.num_batches_tracked) == 3
    tb.eval()
    ab.eval()
    xn = rng.standard_normal((2, 3, 2, 2))
    np.testing.assert_allclose(to_numpy(ab(xp.asarray(xn, device=device))),
                               tb(torch.from_numpy(xn)).detach().numpy(), rtol=1e-10, atol=1e-12)
    assert int(ab.num_batches_tracked) == 3


def test_dropout():
    x = xp.ones((200, 100))
    d = nn.Dropout(0.3)
    y = to_numpy(d(x))
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y[kept], 1 / 0.7)
    d.eval()
    assert d(x) is x
    x = xp.ones((5, 4), requires_grad=True)
    y = F.dropout(x, 0.5)
    y.backward(xp.ones_like(y))
    np.testing.assert_allclose(to_numpy(x.grad), to_numpy(y.detach()))


# -- init ------------------------------------------------------------------------------------
def _stats(t):
    a = to_numpy(t).ravel()
    return a.mean(), a.std()


_DEFAULT_INIT = (lambda m: m.Linear(400, 120), lambda m: m.Conv2d(6, 16, 5),
                 lambda m: m.Conv2d(64, 64, 3), lambda m: m.Linear(50, 300))


def _check_default_init(values, weight_shape, name):
    """Default Linear/Conv init: kaiming_uniform(a=sqrt(5)) == U(+-1/sqrt(fan_in)), for the
    weight and the bias alike.  ``values``: NumPy array of the parameter."""
    mean, std = values.mean(), values.std()
    n = values.size
    fan_in = int(np.prod(weight_shape[1:]))
    bound = 1 / math.sqrt(fan_in)
    sd = bound / math.sqrt(3)
    assert abs(mean) < 5 * sd / math.sqrt(n), (name, mean, sd)
    assert abs(std - sd) < 6 * sd / math.sqrt(2 * n) + 1e-3 * sd, (name, std, sd)
    assert np.all(np.abs(values) <= bound), name


def test_default_init_statistics():
    xp.manual_seed(0)
    for make in _DEFAULT_INIT:
        a = make(nn)
        for name in ("weight", "bias"):
            _check_default_init(to_numpy(getattr(a, name).detach()).ravel(), a.weight.shape,
                                name)


def test_default_init_statistics_are_torchs(torch):
    # the same statistics hold for PyTorch's own default init (the formula is PyTorch's)
    torch.manual_seed(0)
    for make in _DEFAULT_INIT:
        t = make(torch.nn)
        for name in ("weight", "bias"):
            _check_default_init(getattr(t, name).detach().numpy().ravel(),
                                tuple(t.weight.shape), name)


_INIT_CASES = [
    ("xavier_uniform_", (), math.sqrt(2 / (300 + 200))),
    ("xavier_normal_", (), math.sqrt(2 / (300 + 200))),
    ("kaiming_uniform_", (), math.sqrt(2 / 300)),
    ("kaiming_normal_", (), math.sqrt(2 / 300)),
    ("kaiming_normal_", (0, "fan_out", "relu"), math.sqrt(2 / 200)),
    ("normal_", (1.0, 0.5), 0.5),
    ("uniform_", (-2.0, 2.0), 4 / math.sqrt(12)),
    ("trunc_normal_", (0.0, 1.0, -1.0, 1.0), 0.5380),
]


@pytest.mark.parametrize("func,args,expected_std", _INIT_CASES)
def test_init_functions(func, args, expected_std):
    xp.manual_seed(1)
    w = xp.empty((200, 300))
    out = getattr(nn.init, func)(w, *args)
    assert out is w
    n = w.size
    _, sd = _stats(w)
    assert abs(sd - expected_std) < 6 * expected_std / math.sqrt(2 * n)
    if func == "trunc_normal_":
        assert np.all(np.abs(to_numpy(w)) <= 1.0)


@pytest.mark.parametrize("func,args,expected_std", _INIT_CASES)
def test_init_functions_match_torch(func, args, expected_std, torch):
    xp.manual_seed(1)
    w = getattr(nn.init, func)(xp.empty((200, 300)), *args)
    tw = getattr(torch.nn.init, func)(torch.empty(200, 300), *args)
    _, sd = _stats(w)
    _, tsd = _stats(tw.numpy())
    assert abs(sd - tsd) < 10 * expected_std / math.sqrt(2 * w.size)


def test_calculate_gain_matches_torch(torch):
    for args in [("linear",), ("conv2d",), ("sigmoid",), ("tanh",), ("relu",), ("selu",),
                 ("leaky_relu",), ("leaky_relu", 0.2), ("leaky_relu", 0)]:
        assert nn.init.calculate_gain(*args) == torch.nn.init.calculate_gain(*args), args


def test_init_misc():
    assert nn.init.calculate_gain("relu") == math.sqrt(2)
    assert nn.init.calculate_gain("tanh") == 5 / 3
    assert nn.init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2 / (1 + 0.2 ** 2))
    w = xp.empty((3, 5))
    nn.init.eye_(w)
    np.testing.assert_array_equal(to_numpy(w), np.eye(3, 5))
    nn.init.constant_(w, 0.25)
    assert np.all(to_numpy(w) == 0.25)
    nn.init.zeros_(w)
    assert not np.any(to_numpy(w))
    nn.init.ones_(w)
    assert np.all(to_numpy(w) == 1)
    q = xp.empty((4, 6), dtype=xp.float64)
    nn.init.orthogonal_(q, gain=2.0)
    qn = to_numpy(q)
    np.testing.assert_allclose(qn @ qn.T, 4 * np.eye(4), atol=1e-10)
    p = nn.Parameter(xp.empty((3, 3)))
    nn.init.kaiming_uniform_(p, a=math.sqrt(5))
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    with pytest.raises(ValueError, match="fewer than 2"):
        nn.init.xavier_uniform_(xp.empty(3))


# -- utils -----------------------------------------------------------------------------------
def test_clip_grad_and_vectors(torch):
    torch.manual_seed(0)
    tm, am = make_mlp(torch.nn), make_mlp(nn)
    _load_from_torch(am, tm, "cpu")
    rng = np.random.default_rng(0)
    xn = rng.standard_normal((5, 2)).astype(np.float32)
    am(xp.asarray(xn)).backward(xp.ones((5, 2)) * 10)
    tm(torch.from_numpy(xn)).backward(torch.ones(5, 2) * 10)
    for norm_type in (2.0, 1.0, math.inf):
        a2 = [p.grad.clone() for p in am.parameters()]
        t2 = [p.grad.clone() for p in tm.parameters()]
        ta = [torch.nn.Parameter(p.detach().clone()) for p in tm.parameters()]
        for p, g in zip(ta, t2):
            p.grad = g
        aa = [nn.Parameter(p.detach()) for p in am.parameters()]
        for p, g in zip(aa, a2):
            p.grad = g
        na = nn.utils.clip_grad_norm_(aa, 0.5, norm_type)
        nt = torch.nn.utils.clip_grad_norm_(ta, 0.5, norm_type)
        np.testing.assert_allclose(float(na), float(nt), rtol=1e-5)
        for p, q in zip(aa, ta):
            np.testing.assert_allclose(to_numpy(p.grad), q.grad.numpy(), rtol=1e-5, atol=1e-7)
    held = [p.grad for p in am.parameters()]  # clipping is in place, as PyTorch's
    theld = [p.grad for p in tm.parameters()]
    nn.utils.clip_grad_norm_(am.parameters(), 0.5)
    torch.nn.utils.clip_grad_norm_(tm.parameters(), 0.5)
    for h, p, q in zip(held, am.parameters(), theld):
        assert h is p.grad
        np.testing.assert_allclose(to_numpy(h), q.numpy(), rtol=1e-5, atol=1e-7)
    nn.utils.clip_grad_value_(am.parameters(), 0.01)
    assert all(np.abs(to_numpy(p.grad)).max() <= 0.01 for p in am.parameters())
    v = nn.utils.parameters_to_vector(am.parameters())
    tv = torch.nn.utils.parameters_to_vector(tm.parameters())
    np.testing.assert_array_equal(to_numpy(v), tv.detach().numpy())
    nn.utils.vector_to_parameters(v * 2, am.parameters())
    np.testing.assert_allclose(to_numpy(am[0].weight), 2 * tm[0].weight.detach().numpy())


# -- functional extras -----------------------------------------------------------------------
def _both(torch, fa, ft, xn, device, **kw):
    x = xp.asarray(xn, device=device, requires_grad=True)
    tx = torch.tensor(xn, requires_grad=True)
    a, t = fa(x), ft(tx)
    np.testing.assert_allclose(to_numpy(a), t.detach().numpy(), rtol=1e-10, atol=1e-12)
    cot = np.random.default_rng(5).standard_normal(t.shape)
    a.backward(xp.asarray(cot, device=device))
    t.backward(torch.tensor(cot))
    np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode,pads", [("constant", (1, 2, 0, 3)), ("constant", (-1, 2, 1, -2)),
                                       ("reflect", (2, 1, 1, 2)), ("replicate", (3, 1, 0, 2)),
                                       ("circular", (2, 1, 1, 3))])
def test_pad(device, mode, pads, torch):
    xn = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    kw = {"value": 0.5} if mode == "constant" else {}
    _both(torch, lambda x: F.pad(x, pads, mode=mode, **kw),
          lambda x: torch.nn.functional.pad(x, pads, mode=mode, **kw), xn, device)


@pytest.mark.parametrize("kw", [dict(size=(5, 7), mode="nearest"),
                                dict(scale_factor=2, mode="nearest"),
                                dict(scale_factor=1.5, mode="nearest"),
                                dict(size=(6, 9), mode="bilinear", align_corners=False),
                                dict(scale_factor=2, mode="bilinear", align_corners=True),
                                dict(size=(3, 2), mode="bilinear", align_corners=False)])
def test_interpolate(device, kw, torch):
    xn = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    _both(torch, lambda x: F.interpolate(x, **kw),
          lambda x: torch.nn.functional.interpolate(x, **kw),
          xn, device)


def test_unfold_fold(device, torch):
    xn = np.random.default_rng(0).standard_normal((2, 3, 7, 6))
    kw = dict(kernel_size=(3, 2), dilation=(1, 2), padding=1, stride=2)
    _both(torch, lambda x: F.unfold(x, **kw), lambda x: torch.nn.functional.unfold(x, **kw), xn,
          device)
    cols = torch.nn.functional.unfold(torch.tensor(xn), **kw).numpy()
    _both(torch, lambda c: F.fold(c, (7, 6), **kw),
          lambda c: torch.nn.functional.fold(c, (7, 6), **kw),
          cols, device)


def test_one_hot_softmax(device, torch):
    t = xp.asarray([0, 2, 1, 2], device=device)
    oh = F.one_hot(t, 4)
    assert oh.dtype == xp.int64
    np.testing.assert_array_equal(to_numpy(oh), torch.nn.functional.one_hot(
        torch.tensor([0, 2, 1, 2]), 4).numpy())
    assert F.one_hot(t).shape == (4, 3)
    xn = np.random.default_rng(0).standard_normal((3, 4))
    _both(torch, lambda x: F.softmax(x, dim=0), lambda x: torch.softmax(x, dim=0), xn, device)
    _both(torch, lambda x: F.log_softmax(x, dim=1), lambda x: torch.log_softmax(x, dim=1), xn,
          device)


def test_max_pool_indices(device, torch):
    xn = np.random.default_rng(0).standard_normal((2, 3, 7, 6))
    a, ai = F.max_pool2d(xp.asarray(xn, device=device), 3, 2, 1, return_indices=True)
    t, ti = torch.nn.functional.max_pool2d(torch.tensor(xn), 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(to_numpy(a), t.numpy())
    np.testing.assert_array_equal(to_numpy(ai), ti.numpy())


def test_conv_errors():
    with pytest.raises(ValueError, match="conv2d"):
        F.conv2d(xp.ones((1, 3, 5, 5)), xp.ones((2, 4, 3, 3)))
    with pytest.raises(ValueError, match="conv2d"):
        F.conv2d(xp.ones((1, 3, 2, 2)), xp.ones((2, 3, 3, 3)))
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")

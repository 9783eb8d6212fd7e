"""Autocast (arraylib.autocast / arraylib.amp.autocast) and GradScaler, against PyTorch's
CPU autocast and torch.amp.GradScaler."""
import threading

import numpy as np
import pytest

import arraylib as xp
import arraylib.nn as nn
import arraylib.nn.functional as F
from arraylib import amp
from conftest import to_numpy

rng = np.random.default_rng(3)
W1 = (rng.standard_normal((16, 8)) * 0.3).astype(np.float32)
B1 = (rng.standard_normal(16) * 0.1).astype(np.float32)
W2 = (rng.standard_normal((4, 16)) * 0.3).astype(np.float32)
B2 = (rng.standard_normal(4) * 0.1).astype(np.float32)
X = rng.standard_normal((10, 8)).astype(np.float32)
T = rng.integers(0, 4, 10)
BF16_TOL = 2 ** -6


def _mlp(ns, Fn, params, x, t):
    w1, b1, w2, b2 = params
    h = Fn.relu(Fn.linear(x, w1, b1))
    out = Fn.linear(h, w2, b2)
    return h, out, Fn.cross_entropy(out, t)


def test_dtypes_inside_and_outside():
    x, w = xp.asarray(X), xp.asarray(W1)
    with xp.autocast("cpu", dtype=xp.bfloat16):
        assert xp.is_autocast_enabled("cpu") and xp.get_autocast_dtype("cpu") == xp.bfloat16
        assert F.linear(x, w).dtype == xp.bfloat16
        assert xp.matmul(x, xp.matrix_transpose(w)).dtype == xp.bfloat16
        assert (x @ xp.matrix_transpose(w)).dtype == xp.bfloat16
        y = F.linear(x, w)
        assert (y + x[:, :1]).dtype == xp.float32  # element-wise ops: promotion only
        assert F.cross_entropy(y, xp.asarray(T)).dtype == xp.float32  # a float32 op
        assert F.mse_loss(y, xp.zeros_like(y)).dtype == xp.float32
        assert xp.matmul(xp.astype(x, xp.float64), xp.astype(w, xp.float64).mT).dtype == xp.float64
        assert xp.matmul(xp.ones((2, 2), dtype=xp.int64), xp.ones((2, 2), dtype=xp.int64)).dtype \
            == xp.int64
        img, k = xp.ones((1, 2, 5, 5)), xp.ones((3, 2, 3, 3))
        assert F.conv2d(img, k).dtype == xp.bfloat16
        assert F.conv1d(xp.ones((1, 2, 5)), xp.ones((3, 2, 3))).dtype == xp.bfloat16
        assert F.relu(y).dtype == xp.bfloat16 and F.softmax(y, dim=1).dtype == xp.bfloat16
        with xp.autocast("cpu", enabled=False):
            assert not xp.is_autocast_enabled("cpu")
            assert F.linear(x, w).dtype == xp.float32
        assert F.linear(x, w).dtype == xp.bfloat16  # restored
    assert not xp.is_autocast_enabled("cpu")
    assert F.linear(x, w).dtype == xp.float32
    with amp.autocast(device_type="cpu", dtype=xp.float16):
        assert F.linear(x, w).dtype == xp.float16
    with xp.autocast("cuda"):  # another device type: CPU tensors untouched
        assert F.linear(x, w).dtype == xp.float32


def test_dtypes_match_torch(torch):
    x, w, t = xp.asarray(X), xp.asarray(W1), xp.asarray(T)
    tx, tw, tt = torch.tensor(X), torch.tensor(W1), torch.tensor(T)
    with xp.autocast("cpu"), torch.autocast("cpu"):
        y, ty = F.linear(x, w), torch.nn.functional.linear(tx, tw)
        pairs = [(y, ty), (F.relu(y), torch.relu(ty)),
                 (F.log_softmax(y, dim=1), torch.log_softmax(ty, 1)),
                 (F.cross_entropy(y[:, :4], t), torch.nn.functional.cross_entropy(ty[:, :4], tt)),
                 (F.nll_loss(y[:, :4], t), torch.nn.functional.nll_loss(ty[:, :4], tt)),
                 (F.l1_loss(y, y), torch.nn.functional.l1_loss(ty, ty)),
                 (xp.prod(y[0, :3]), torch.prod(ty[0, :3])),
                 (xp.sum(y), ty.sum()), (y + xp.ones((10, 16)), ty + torch.ones(10, 16))]
        for r, tr in pairs:
            assert str(r.dtype) == str(tr.dtype).split(".")[1]


def test_mlp_matches_torch_autocast(torch):
    params = [xp.asarray(a, requires_grad=True) for a in (W1, B1, W2, B2)]
    tparams = [torch.tensor(a, requires_grad=True) for a in (W1, B1, W2, B2)]
    with amp.autocast("cpu", dtype=xp.bfloat16):
        h, out, loss = _mlp(xp, F, params, xp.asarray(X), xp.asarray(T))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        th, tout, tloss = _mlp(torch, torch.nn.functional, tparams, torch.tensor(X),
                               torch.tensor(T))
    assert (h.dtype, out.dtype, loss.dtype) == (xp.bfloat16, xp.bfloat16, xp.float32)
    np.testing.assert_allclose(np.float32(to_numpy(out)), tout.float().detach().numpy(),
                               rtol=BF16_TOL, atol=BF16_TOL)
    assert float(loss) == pytest.approx(float(tloss.detach()), rel=BF16_TOL)
    loss.backward()
    tloss.backward()
    for p, tp in zip(params, tparams):
        assert p.grad.dtype == xp.float32  # gradients reach float32 parameters in float32
        np.testing.assert_allclose(to_numpy(p.grad), tp.grad.numpy(), rtol=4 * BF16_TOL,
                                   atol=4 * BF16_TOL)


def test_weight_casts_are_cached_per_region():
    w = xp.asarray(W1, requires_grad=True)
    x = xp.asarray(X)
    with xp.autocast("cpu"):
        a, b = F.linear(x, w), F.linear(x, w)
        assert a._grad_fn.edges[1][0] is b._grad_fn.edges[1][0]  # one cast node for w
        xp.sum(a + b).backward()
    g = to_numpy(w.grad).copy()
    w.grad = None
    with xp.autocast("cpu", cache_enabled=False):
        xp.sum(F.linear(x, w) + F.linear(x, w)).backward()
    np.testing.assert_array_equal(to_numpy(w.grad), g)
    with xp.autocast("cpu"):  # a region around several iterations
        for _ in range(2):
            w.grad = None
            xp.sum(F.linear(x, w)).backward()
    assert xp._core._autocast.state.cache == {}


def test_decorator_nesting_and_threads():
    x, w = xp.asarray(X), xp.asarray(W1)

    @xp.autocast("cpu", dtype=xp.float16)
    def f():
        return F.linear(x, w).dtype

    assert f() == xp.float16 and F.linear(x, w).dtype == xp.float32
    seen = []
    with xp.autocast("cpu"):
        th = threading.Thread(target=lambda: seen.append(F.linear(x, w).dtype))
        th.start()
        th.join()
        assert F.linear(x, w).dtype == xp.bfloat16
    assert seen == [xp.float32]  # per thread
    with pytest.raises(ValueError, match="autocast.*device_type"):
        xp.autocast("tpu")
    with pytest.warns(UserWarning, match="autocast"):
        a = xp.autocast("cpu", dtype=xp.float32)
    with a:
        assert F.linear(x, w).dtype == xp.float32


def test_cuda_amp_spellings():
    from arraylib.cuda.amp import GradScaler, autocast
    assert issubclass(autocast, xp.autocast)
    with autocast():
        assert xp.is_autocast_enabled("cuda") and xp.get_autocast_dtype("cuda") == xp.float16
    if not xp.cuda.is_available():
        with pytest.warns(UserWarning, match="CUDA is not available"):
            s = GradScaler()
        assert not s.is_enabled() and s.get_scale() == 1.0


# -- GradScaler -----------------------------------------------------------------------------
def _loop(lib, nnmod, scaler, model, opt, x, y, inf_at, steps=7):
    """A short training loop; records (scale, skipped) per step."""
    trace = []
    for i in range(steps):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        scaler.scale(loss).backward()
        if i in inf_at:
            model.weight.grad[0, 0] = float("inf")
        before = [p.detach().clone() for p in model.parameters()]
        scaler.step(opt)
        skipped = all(bool((p.detach() == b).all()) for p, b in zip(model.parameters(), before))
        scaler.update()
        trace.append((scaler.get_scale(), skipped))
    return trace


def test_grad_scaler_matches_torch(torch):
    xs, ys = rng.standard_normal((8, 3)).astype(np.float32), rng.standard_normal((8, 2)).astype(np.float32)
    w, b = (rng.standard_normal((2, 3)) * 0.5).astype(np.float32), np.zeros(2, np.float32)

    def make(lib, nnmod, optim):
        m = nnmod.Linear(3, 2)
        with lib.no_grad():
            m.weight.copy_(lib.asarray(w) if lib is xp else torch.tensor(w))
            m.bias.copy_(lib.asarray(b) if lib is xp else torch.tensor(b))
        return m, optim.SGD(m.parameters(), lr=0.1)

    m, opt = make(xp, nn, xp.optim)
    tm, topt = make(torch, torch.nn, torch.optim)
    kw = dict(init_scale=2.0 ** 10, growth_interval=2)
    s, ts = amp.GradScaler("cpu", **kw), torch.amp.GradScaler("cpu", **kw)
    trace = _loop(xp, nn, s, m, opt, xp.asarray(xs), xp.asarray(ys), inf_at={2, 3})
    ttrace = _loop(torch, torch.nn, ts, tm, topt, torch.tensor(xs), torch.tensor(ys), inf_at={2, 3})
    assert trace == ttrace
    assert [t[1] for t in trace] == [False, False, True, True, False, False, False]
    np.testing.assert_allclose(to_numpy(m.weight), tm.weight.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert s.state_dict() == ts.state_dict()


def test_grad_scaler_unscale_and_errors():
    m = nn.Linear(3, 1)
    opt = xp.optim.SGD(m.parameters(), lr=0.1)
    s = amp.GradScaler(init_scale=8.0)
    with pytest.raises(RuntimeError, match="scale"):
        s.step(opt)
    loss = xp.sum(m(xp.ones((2, 3))))
    s.scale(loss).backward()
    g = to_numpy(m.weight.grad).copy()
    s.unscale_(opt)
    np.testing.assert_allclose(to_numpy(m.weight.grad), g / 8.0)
    with pytest.raises(RuntimeError, match="unscale_"):
        s.unscale_(opt)
    s.step(opt)
    with pytest.raises(RuntimeError, match="step"):
        s.step(opt)
    s.update()
    assert s.get_scale() == 8.0 and s._get_growth_tracker() == 1
    s.update(new_scale=3.0)
    assert s.get_scale() == 3.0
    assert s.scale([loss, (loss,)])[1][0].item() == pytest.approx(3.0 * loss.item())
    s2 = amp.GradScaler()
    s2.load_state_dict(s.state_dict())
    assert s2.state_dict() == s.state_dict() and s2.get_scale() == 3.0
    off = amp.GradScaler(enabled=False)
    assert off.scale(loss) is loss and off.state_dict() == {} and not off.is_enabled()
    with pytest.raises(RuntimeError, match="empty"):
        amp.GradScaler().load_state_dict({})

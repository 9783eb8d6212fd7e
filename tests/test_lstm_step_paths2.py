"""The second round of the LSTM language-model step's fast paths: log-softmax by blocks of
rows (split among threads by ``run_chunks``) with its backward written over the forward's
exponentials, the host path of ``clip_grad_norm_``, and the LSTM step's full-shaped gate
constants; values and gradients against PyTorch, finite differences and the serial path."""
from __future__ import annotations

import numpy as np
import pytest

import arraylib as xp
from arraylib import _torch_functions as _tf
from arraylib import nn
from arraylib.nn import functional as F
from conftest import assert_close, to_numpy
from _fd import check_grads

threadpoolctl = pytest.importorskip("threadpoolctl")


def _logits(shape, seed=0, masked=True):
    x = np.random.default_rng(seed).standard_normal(shape) * 3.0
    if masked:  # a masked class in some rows, and a row with one finite logit
        x[0, 1] = x[2, 5] = -np.inf
        x[3, :] = -np.inf
        x[3, 0] = 0.5
    return x


def _log_softmax_and_grad(x, g, device, threads=1, block=None):
    old = _tf._LS_BLOCK
    if block is not None:
        _tf._LS_BLOCK = block
    try:
        with threadpoolctl.threadpool_limits(threads):
            t = xp.asarray(x, device=device)
            t.requires_grad_(True)
            y = F.log_softmax(t, dim=1)
            y.backward(xp.asarray(g, device=device))
            return to_numpy(y), to_numpy(t.grad)
    finally:
        _tf._LS_BLOCK = old


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_softmax_blocks_equal_the_one_pass_path(dtype):
    """Blocks of rows, on one thread and split between two, give the serial results
    exactly (the same operations in the same order, row by row)."""
    x = _logits((37, 300)).astype(dtype)
    g = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
    serial = _log_softmax_and_grad(x, g, "cpu", block=1 << 30)
    for threads, block in ((1, 1000), (2, 1000), (2, 299), (1, 1)):
        got = _log_softmax_and_grad(x, g, "cpu", threads, block)
        np.testing.assert_array_equal(got[0], serial[0])
        np.testing.assert_array_equal(got[1], serial[1])


def test_log_softmax_blocks_are_used():
    """A large host input takes the blocked path, its rows split between two threads at a
    2-thread BLAS limit; a small one, the leading axis and the emulated device do not."""
    x = _logits((40, 10000), masked=False).astype(np.float32)
    B = xp.asarray(x)._device.backend
    with threadpoolctl.threadpool_limits(2):
        bounds, step = _tf._row_blocks(B, x, 1)
        assert bounds == ((0, 20), (20, 40)) and step == _tf._LS_BLOCK // 10000
        assert _tf._row_blocks(B, x[:2, :100], 1) is None
        assert _tf._row_blocks(B, x, 0) is None
    strict = xp.asarray(x, device="strict:device1")
    assert _tf._row_blocks(strict._device.backend, strict._data, 1) is None


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_softmax_nll_match_torch(torch, dtype, threads):
    """log_softmax + nll_loss (with ignore_index) forward and backward, large enough for
    the blocked path, against PyTorch; -inf logits give -inf, their gradient is finite."""
    x = _logits((64, 5000))
    t = np.random.default_rng(2).integers(0, 5000, 64)
    t[3], t[7] = 0, -100
    with threadpoolctl.threadpool_limits(threads):
        a = xp.asarray(x.astype(dtype))
        a.requires_grad_(True)
        lp = F.log_softmax(a, dim=1)
        loss = F.nll_loss(lp, xp.asarray(t), ignore_index=-100)
        loss.backward()
    ta = torch.tensor(x.astype(dtype), requires_grad=True)
    tlp = torch.log_softmax(ta, 1)
    tloss = torch.nn.functional.nll_loss(tlp, torch.tensor(t), ignore_index=-100)
    tloss.backward()
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-14)
    assert_close(lp, tlp.detach().numpy(), **tol)
    assert_close(loss, tloss.detach().numpy(), **tol)
    assert np.isfinite(to_numpy(a.grad)).all()
    assert_close(a.grad, ta.grad.numpy(), **tol)


def test_log_softmax_retained_graph_runs_twice(torch):
    """The first backward writes over the forward's exponentials; a retained graph's
    second backward recomputes them from the output: both give PyTorch's gradient."""
    x = _logits((50, 7000), masked=False)
    g = np.random.default_rng(3).standard_normal(x.shape)
    a = xp.asarray(x)
    a.requires_grad_(True)
    y = F.log_softmax(a, dim=1)
    y.backward(xp.asarray(g), retain_graph=True)
    first = to_numpy(a.grad).copy()
    a.grad = None
    y.backward(xp.asarray(g))
    ta = torch.tensor(x, requires_grad=True)
    torch.log_softmax(ta, 1).backward(torch.tensor(g))
    np.testing.assert_allclose(first, ta.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(to_numpy(a.grad), ta.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_log_softmax_cotangent_of_another_dtype(torch):
    """A float64 cotangent reaching a float32 node takes the out-of-place rule."""
    x = _logits((8, 40), masked=False).astype(np.float32)
    g = np.random.default_rng(4).standard_normal(x.shape)
    cache = {}
    dev = xp.asarray(x)._device
    B = dev.backend
    out = _tf._log_softmax_fwd(B, x, axis=1, cache=cache)
    (got,) = _tf._log_softmax_vjp_storage(B, (True,), g, out, x, axis=1, cache=cache)
    ta = torch.tensor(x, requires_grad=True)
    torch.log_softmax(ta, 1).backward(torch.tensor(g, dtype=torch.float32))
    np.testing.assert_allclose(np.asarray(got, np.float32), ta.grad.numpy(), rtol=1e-5,
                               atol=1e-6)


def test_log_softmax_other_axes_and_devices(device):
    """Rows along a middle axis, and the leading axis (never blocked), on each device:
    values against NumPy, gradients against finite differences."""
    x = np.random.default_rng(5).standard_normal((3, 4, 5))
    for dim in (0, 1, 2):
        got = F.log_softmax(xp.asarray(x, device=device), dim=dim)
        m = x.max(axis=dim, keepdims=True)
        want = x - m - np.log(np.exp(x - m).sum(axis=dim, keepdims=True))
        assert_close(got, want, rtol=1e-12, atol=1e-12)
        check_grads(lambda t, dim=dim: F.log_softmax(t, dim=dim) * 1.5, [x], device)


def test_log_softmax_blocked_middle_axis_matches_serial():
    x = np.random.default_rng(6).standard_normal((30, 40, 12)).astype(np.float32)
    g = np.random.default_rng(7).standard_normal(x.shape).astype(np.float32)

    def run(block):
        old = _tf._LS_BLOCK
        _tf._LS_BLOCK = block
        try:
            with threadpoolctl.threadpool_limits(2):
                t = xp.asarray(x)
                t.requires_grad_(True)
                y = F.log_softmax(t, dim=1)
                y.backward(xp.asarray(g))
                return to_numpy(y), to_numpy(t.grad)
        finally:
            _tf._LS_BLOCK = old
    serial, blocked = run(1 << 30), run(100)
    np.testing.assert_array_equal(serial[0], blocked[0])
    np.testing.assert_array_equal(serial[1], blocked[1])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_clip_grad_norm_host_path_matches_torch(torch, device, dtype):
    """The host path scales in place (a reference taken before sees it) as PyTorch; on
    the emulated device the tensor path gives the same."""
    rng = np.random.default_rng(8)
    arrays = [rng.standard_normal(s).astype(dtype) * 3 for s in [(30, 20), (20,), (5, 5)]]
    params = [nn.Parameter(xp.asarray(a, device=device)) for a in arrays]
    for p, a in zip(params, arrays):
        p.grad = xp.asarray(a * 2, device=device)
    before = params[0].grad
    tparams = [torch.nn.Parameter(torch.tensor(a)) for a in arrays]
    for p, a in zip(tparams, arrays):
        p.grad = torch.tensor(a * 2)
    total = nn.utils.clip_grad_norm_(params, 0.25)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, 0.25)
    tol = dict(rtol=1e-6, atol=1e-7) if dtype == "float32" else dict(rtol=1e-13, atol=1e-15)
    assert_close(total, ttotal.numpy(), **tol)
    for p, tp in zip(params, tparams):
        assert_close(p.grad, tp.grad.numpy(), **tol)
    assert before is params[0].grad
    # below the bound: nothing changes
    small = [nn.Parameter(xp.asarray(a, device=device)) for a in arrays]
    for p, a in zip(small, arrays):
        p.grad = xp.asarray(a * 1e-3, device=device)
    nn.utils.clip_grad_norm_(small, 1e3)
    for p, a in zip(small, arrays):
        np.testing.assert_array_equal(to_numpy(p.grad), a * 1e-3)


def test_clip_grad_norm_mixed_dtypes_and_zero_bound():
    """Each gradient scaled by the coefficient in its own dtype; max_norm 0 zeroes them."""
    p32 = nn.Parameter(xp.ones(4, dtype=xp.float32))
    p64 = nn.Parameter(xp.ones(3, dtype=xp.float64))
    p32.grad, p64.grad = xp.full(4, 2.0, dtype=xp.float32), xp.full(3, 2.0, dtype=xp.float64)
    total = nn.utils.clip_grad_norm_([p32, p64], 1.0)
    coef = 1.0 / (float(total) + 1e-6)
    np.testing.assert_allclose(to_numpy(p32.grad), np.float32(2.0) * np.float32(coef))
    np.testing.assert_allclose(to_numpy(p64.grad), 2.0 * coef, rtol=1e-6)
    assert p32.grad.dtype == xp.float32 and p64.grad.dtype == xp.float64
    nn.utils.clip_grad_norm_([p32, p64], 0.0)
    assert not to_numpy(p32.grad).any() and not to_numpy(p64.grad).any()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lstm_packed_batches_match_torch(torch, device, dtype):
    """Decreasing batch sizes (packed sequences) slice the full-shaped gate constants:
    outputs and gradients as PyTorch's."""
    torch.manual_seed(0)
    tm = torch.nn.LSTM(3, 4, num_layers=2).to(getattr(torch, dtype))
    m = nn.LSTM(3, 4, num_layers=2, dtype=getattr(xp, dtype), device=device)
    m.load_state_dict({k: xp.asarray(v.detach().numpy(), device=device)
                       for k, v in tm.state_dict().items()})
    rng = np.random.default_rng(9)
    lengths = [5, 3, 2]
    x = rng.standard_normal((5, 3, 3)).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    tout, _ = tm(torch.nn.utils.rnn.pack_padded_sequence(tx, lengths))
    tpad, _ = torch.nn.utils.rnn.pad_packed_sequence(tout)
    (tpad ** 2).sum().backward()
    ax = xp.asarray(x, device=device)
    ax.requires_grad_(True)
    out, _ = m(nn.utils.rnn.pack_padded_sequence(ax, lengths))
    pad, _ = nn.utils.rnn.pad_packed_sequence(out)
    xp.sum(pad ** 2).backward()
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    assert_close(pad, tpad.detach().numpy(), **tol)
    assert_close(ax.grad, tx.grad.numpy(), **tol)
    for (name, p), (tname, tp) in zip(m.named_parameters(), tm.named_parameters()):
        assert name == tname
        assert_close(p.grad, tp.grad.numpy(), **tol)

"""The third round of the LSTM language-model step's fast paths: ``lstm_layer``, one LSTM
layer and direction with its input projection inside the node, whose plain backward runs
the time loop on one thread and the products of finished groups of steps (the input's
cotangent, the weight and bias gradients) on a second.  Values and gradients against
the composition ``rnn_sequence(F.linear(...))``, PyTorch and finite differences; the
two-thread backward equal to the serial one bit for bit."""
from __future__ import annotations

import numpy as np
import pytest

import arraylib as xp
from arraylib import _rnn_kernels as _rk
from arraylib import nn
from arraylib._nn_kernels import lstm_layer, rnn_sequence
from arraylib.nn import functional as F
from conftest import assert_close, to_numpy
from _fd import check_grads

threadpoolctl = pytest.importorskip("threadpoolctl")

# (batch sizes of each step, input size, hidden size)
SHAPES = [((3, 3, 3, 3), 4, 5), ((4, 3, 3, 1), 3, 2), ((2,), 3, 4),
          ((5,) * 12, 6, 3)]


def _arrays(sizes, n_in, hidden, dtype=np.float64, seed=0, bias=True):
    rng = np.random.default_rng(seed)
    n, b = sum(sizes), sizes[0]
    arrays = [rng.standard_normal((n, n_in)), rng.standard_normal((4 * hidden, n_in)) * 0.5]
    if bias:
        arrays.append(rng.standard_normal(4 * hidden) * 0.5)
    arrays += [rng.standard_normal((b, hidden)), rng.standard_normal((b, hidden)),
               rng.standard_normal((4 * hidden, hidden)) * 0.5]
    return [a.astype(dtype) for a in arrays]


def _split(ts, bias):
    x, w_ih = ts[0], ts[1]
    b = ts[2] if bias else None
    h0, c0, w_hh = ts[2 + bias:5 + bias]
    return x, w_ih, b, (h0, c0), w_hh


def _fused(ts, sizes, reverse, bias=True):
    x, w_ih, b, states, w_hh = _split(ts, bias)
    return lstm_layer(x, w_ih, b, states, w_hh, sizes, reverse)


def _composed(ts, sizes, reverse, bias=True):
    x, w_ih, b, states, w_hh = _split(ts, bias)
    return rnn_sequence("LSTM", F.linear(x, w_ih, b), states, w_hh, None, None, sizes,
                        reverse)


def _values_and_grads(fn, arrays, device, sizes, reverse, bias=True, needs=None, seed=1):
    ts = [xp.asarray(a, device=device) for a in arrays]
    for i, t in enumerate(ts):
        if needs is None or needs[i]:
            t.requires_grad_(True)
    outs = fn(ts, sizes, reverse, bias)
    rng = np.random.default_rng(seed)
    loss = sum(xp.sum(o * xp.asarray(rng.standard_normal(o.shape).astype(arrays[0].dtype),
                                     device=device)) for o in outs)
    loss.backward()
    return [to_numpy(o) for o in outs], [None if t.grad is None else to_numpy(t.grad)
                                         for t in ts]


@pytest.mark.parametrize("shape", range(len(SHAPES)))
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_lstm_layer_matches_the_composition(shape, reverse, bias, device):
    sizes, n_in, hidden = SHAPES[shape]
    arrays = _arrays(sizes, n_in, hidden, bias=bias)
    fo, fg = _values_and_grads(_fused, arrays, device, sizes, reverse, bias)
    co, cg = _values_and_grads(_composed, arrays, device, sizes, reverse, bias)
    for a, b in zip(fo, co):
        np.testing.assert_array_equal(a, b)  # the same forward: the same bits
    for a, b in zip(fg, cg):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("needs", [(False, True, True, False, False, True),
                                   (True, False, False, True, True, False),
                                   (False, False, True, False, False, False)])
def test_lstm_layer_only_the_needed_gradients(needs, device):
    sizes, n_in, hidden = SHAPES[1]
    arrays = _arrays(sizes, n_in, hidden)
    _, fg = _values_and_grads(_fused, arrays, device, sizes, False, needs=needs)
    _, cg = _values_and_grads(_composed, arrays, device, sizes, False, needs=needs)
    for a, b, need in zip(fg, cg, needs):
        assert (a is None) == (not need)
        if need:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_layer_gradcheck(reverse, device):
    sizes, n_in, hidden = SHAPES[1]
    check_grads(lambda *ts: _fused(list(ts), sizes, reverse), _arrays(sizes, n_in, hidden),
                device)


def test_lstm_layer_second_order_matches_the_composition(device):
    sizes, n_in, hidden = SHAPES[0]
    arrays = _arrays(sizes, n_in, hidden)
    results = []
    for fn in (_fused, _composed):
        ts = [xp.asarray(a, device=device, requires_grad=True) for a in arrays]
        out = fn(ts, sizes, False)[0]
        g = xp.autograd.grad(xp.sum(out * out), [ts[0], ts[1]], create_graph=True)
        (xp.sum(g[0] * g[0]) + xp.sum(g[1])).backward()
        results.append([to_numpy(t.grad) for t in ts])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [0, 3])
@pytest.mark.parametrize("reverse", [False, True])
def test_two_thread_backward_equals_the_serial_one(shape, reverse, monkeypatch):
    sizes, n_in, hidden = SHAPES[shape]
    arrays = _arrays(sizes, n_in, hidden, dtype=np.float32)
    monkeypatch.setattr(_rk, "_GROUP_ROWS", 7)  # several groups of steps
    backend = xp.Device("cpu").backend
    calls = []
    run_chunks = backend.run_chunks

    def counting(fn, bounds):
        calls.append(len(bounds))
        return run_chunks(fn, bounds)
    monkeypatch.setattr(backend, "run_chunks", counting)
    with threadpoolctl.threadpool_limits(1):
        serial = _values_and_grads(_fused, arrays, "cpu", sizes, reverse)
    assert 2 not in calls
    with threadpoolctl.threadpool_limits(2):
        threaded = _values_and_grads(_fused, arrays, "cpu", sizes, reverse)
    assert 2 in calls
    for a, b in zip(serial[0] + serial[1], threaded[0] + threaded[1]):
        np.testing.assert_array_equal(a, b)


def test_step_groups_cover_the_steps_in_the_loops_order():
    sizes = (20,) * 35 + (10,) * 5
    for reverse in (False, True):
        groups = _rk._step_groups(sizes, reverse)
        assert len(groups) > 1
        ordered = sorted(groups)
        assert ordered[0][0] == 0 and ordered[-1][1] == len(sizes)
        assert all(a[1] == b[0] for a, b in zip(ordered, ordered[1:]))
        assert groups == (ordered if reverse else ordered[::-1])
    assert _rk._step_groups((2,), False) == [(0, 1)]


def test_a_failing_loop_raises_and_does_not_hang(monkeypatch):
    sizes, n_in, hidden = SHAPES[3]
    arrays = _arrays(sizes, n_in, hidden, dtype=np.float32)
    monkeypatch.setattr(_rk, "_GROUP_ROWS", 7)

    def broken(*args, **kwargs):
        raise FloatingPointError("the loop failed")
    monkeypatch.setattr(_rk, "_backward", broken)
    with threadpoolctl.threadpool_limits(2):
        with pytest.raises(FloatingPointError, match="the loop failed"):
            _values_and_grads(_fused, arrays, "cpu", sizes, False)


def test_lstm_layer_argument_errors():
    x, w_ih, w_hh = xp.ones((4, 3)), xp.ones((8, 3)), xp.ones((8, 2))
    states = (xp.zeros((2, 2)), xp.zeros((2, 2)))
    with pytest.raises(ValueError, match="lstm_layer.*x \\(N, I\\)"):
        lstm_layer(xp.ones((4, 5)), w_ih, None, states, w_hh, (2, 2))
    with pytest.raises(ValueError, match="lstm_layer.*disagree"):
        lstm_layer(x, w_ih, xp.ones(7), states, w_hh, (2, 2))
    with pytest.raises(ValueError, match="batch sizes"):
        lstm_layer(x, w_ih, None, states, w_hh, (2, 1))
    with pytest.raises(TypeError, match="lstm_layer.*dtype"):
        lstm_layer(x, xp.ones((8, 3), dtype=xp.float64), None, states, w_hh, (2, 2))


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("packed", [False, True])
def test_lstm_module_matches_pytorch(torch, bidirectional, packed):
    rng = np.random.default_rng(3)
    ref = torch.nn.LSTM(5, 4, 2, bidirectional=bidirectional)
    mine = nn.LSTM(5, 4, 2, bidirectional=bidirectional)
    mine.load_state_dict({k: xp.asarray(v.detach().numpy()) for k, v in
                          ref.state_dict().items()})
    x = rng.standard_normal((6, 3, 5)).astype(np.float32)
    lengths = [6, 4, 2]
    tx = torch.from_numpy(x).requires_grad_(True)
    mx = xp.asarray(x, requires_grad=True)
    if packed:
        tin = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths)
        min_ = nn.utils.rnn.pack_padded_sequence(mx, lengths)
        tout, (th, tc) = ref(tin)
        mout, (mh, mc) = mine(min_)
        tout, mout = tout.data, mout.data
    else:
        tout, (th, tc) = ref(tx)
        mout, (mh, mc) = mine(mx)
    g = rng.standard_normal(tuple(tout.shape)).astype(np.float32)
    (tout * torch.from_numpy(g)).sum().add(th.sum() + tc.sum()).backward()
    (xp.sum(mout * xp.asarray(g)) + xp.sum(mh) + xp.sum(mc)).backward()
    assert_close(mout, tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert_close(mx.grad, tx.grad.numpy(), rtol=1e-5, atol=1e-5)
    for name, p in ref.named_parameters():
        assert_close(getattr(mine, name).grad, p.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_a_failing_projection_raises_and_does_not_hang(monkeypatch):
    sizes, n_in, hidden = SHAPES[3]
    arrays = _arrays(sizes, n_in, hidden, dtype=np.float32)
    monkeypatch.setattr(_rk, "_GROUP_ROWS", 7)
    backend = xp.Device("cpu").backend

    def broken(a, b, out):
        raise FloatingPointError("the projection failed")
    monkeypatch.setattr(backend, "matmul_into", broken)
    for threads in (1, 2):
        with threadpoolctl.threadpool_limits(threads):
            with pytest.raises((FloatingPointError, RuntimeError), match="projection failed"):
                _values_and_grads(_fused, arrays, "cpu", sizes, False)

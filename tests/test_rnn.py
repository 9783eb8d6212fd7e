"""Recurrent layers, cells and ``nn.utils.rnn`` against PyTorch: same weights and inputs ->
same outputs, final states and gradients w.r.t. inputs, initial states and parameters
(float64 to 1e-10, float32 to 1e-5), identical state dicts loaded both ways through a
checkpoint file; the fused cell kernels against finite differences; gradcheck on cpu and
strict:device1."""
from __future__ import annotations

import numpy as np
import pytest

import arraylib as xp
import arraylib.nn as nn
from arraylib._nn_kernels import gru_cell, lstm_cell, rnn_sequence
from arraylib.autograd import gradcheck
from arraylib.func import functional_call
from _fd import check_grads
from conftest import to_numpy

TOL = {"float64": dict(rtol=1e-10, atol=1e-10), "float32": dict(rtol=1e-5, atol=1e-5)}


def _load_from_torch(tmod, amod, device=None):
    sd = {k: xp.asarray(v.detach().numpy().copy(), device=device)
          for k, v in tmod.state_dict().items()}
    res = amod.load_state_dict(sd)
    assert not res.missing_keys and not res.unexpected_keys
    assert [(k, tuple(v.shape)) for k, v in tmod.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in amod.state_dict().items()]


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    return [out]


def _state(torch, name, kw, batch, rng, dtype):
    dirs = 2 if kw.get("bidirectional") else 1
    n = kw.get("num_layers", 1) * dirs
    h = kw["hidden_size"]
    p = kw.get("proj_size", 0) or h
    shape = (n, batch) if batch else (n,)
    arrays = [rng.standard_normal(shape + (p,)).astype(dtype)]
    if name == "LSTM":
        arrays.append(rng.standard_normal(shape + (h,)).astype(dtype))
    return arrays


def compare(torch, name, kw, shape, *, hx=False, lengths=None, dtype="float64", seed=0):
    """Run torch's and arraylib's layer on one input (padded, or packed from ``lengths``
    unsorted), backprop random cotangents of the output and final states, compare."""
    rng = np.random.default_rng(seed)
    tm = getattr(torch.nn, name)(**kw).to(getattr(torch, dtype))
    am = getattr(nn, name)(**kw).to(getattr(xp, dtype))
    _load_from_torch(tm, am)
    x = rng.standard_normal(shape).astype(dtype)
    arrays = [x]
    batched = len(shape) == 3
    batch = (shape[0] if kw.get("batch_first") else shape[1]) if batched else None
    if hx:
        arrays += _state(torch, name, kw, batch, rng, dtype)
    tl = [torch.tensor(a, requires_grad=True) for a in arrays]
    al = [xp.asarray(a, requires_grad=True) for a in arrays]
    tin, ain = tl[0], al[0]
    if lengths is not None:
        bf = kw.get("batch_first", False)
        tin = torch.nn.utils.rnn.pack_padded_sequence(tin, lengths, bf, enforce_sorted=False)
        ain = nn.utils.rnn.pack_padded_sequence(ain, lengths, bf, enforce_sorted=False)
    targs, aargs = [tin], [ain]
    if hx:
        targs.append(tuple(tl[1:]) if name == "LSTM" else tl[1])
        aargs.append(tuple(al[1:]) if name == "LSTM" else al[1])
    tout, ts = tm(*targs)
    aout, as_ = am(*aargs)
    if lengths is not None:
        assert isinstance(aout, nn.utils.rnn.PackedSequence)
        tout = torch.nn.utils.rnn.pad_packed_sequence(tout, kw.get("batch_first", False))[0]
        aout = nn.utils.rnn.pad_packed_sequence(aout, kw.get("batch_first", False))[0]
    touts, aouts = _flat((tout, ts)), _flat((aout, as_))
    assert len(touts) == len(aouts)
    for t, a in zip(touts, aouts):
        assert tuple(a.shape) == tuple(t.shape)
        assert a.dtype == getattr(xp, dtype)
        np.testing.assert_allclose(to_numpy(a), t.detach().numpy(), **TOL[dtype])
    gs = [rng.standard_normal(tuple(t.shape)).astype(dtype) for t in touts]
    torch.autograd.backward(touts, [torch.tensor(g) for g in gs])
    xp.autograd.backward(aouts, [xp.asarray(g) for g in gs])
    for t, a in zip(tl, al):
        np.testing.assert_allclose(to_numpy(a.grad), t.grad.numpy(), **TOL[dtype])
    tp = dict(tm.named_parameters())
    for n, p in am.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), tp[n].grad.numpy(), **TOL[dtype],
                                   err_msg=n)


GRID = [
    ({}, (5, 2, 3), {}),
    ({"num_layers": 2, "bidirectional": True, "batch_first": True}, (2, 5, 3), {"hx": True}),
    ({"bias": False}, (5, 3), {}),  # unbatched
    ({"bias": False}, (5, 3), {"hx": True}),  # unbatched with initial state
    ({"num_layers": 2, "bidirectional": True}, (5, 3, 3), {"hx": True, "lengths": [3, 5, 2]}),
    ({"batch_first": True}, (3, 4, 3), {"lengths": [4, 4, 1]}),
    ({"num_layers": 3}, (1, 2, 3), {}),  # one step
]


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("case", range(len(GRID)))
def test_layers_match_torch(torch, name, case):
    kw, shape, opts = GRID[case]
    compare(torch, name, dict(input_size=3, hidden_size=4, **kw), shape, **opts, seed=case)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_layers_match_torch_float32(torch, name):
    compare(torch, name, dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True),
            (6, 3, 3), hx=True, lengths=[6, 2, 4], dtype="float32")


@pytest.mark.parametrize("kw,opts", [
    ({"nonlinearity": "relu", "num_layers": 2, "bidirectional": True}, {"hx": True}),
    ({"nonlinearity": "relu"}, {"lengths": [2, 5]}),
])
def test_rnn_relu(torch, kw, opts):
    compare(torch, "RNN", dict(input_size=3, hidden_size=4, **kw), (5, 2, 3), **opts)


@pytest.mark.parametrize("opts", [{"hx": True}, {"hx": True, "lengths": [2, 4, 1]}, {}])
def test_lstm_proj(torch, opts):
    compare(torch, "LSTM", dict(input_size=3, hidden_size=5, proj_size=2, num_layers=2,
                                bidirectional=True), (4, 3, 3), **opts)


def test_lstm_proj_unbatched_float32(torch):
    compare(torch, "LSTM", dict(input_size=3, hidden_size=5, proj_size=3), (4, 3), hx=True,
            dtype="float32")


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_state_dict_checkpoint_both_ways(torch, tmp_path, name):
    kw = dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True,
              **({"proj_size": 2} if name == "LSTM" else {}))
    x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype(np.float32)
    am = getattr(nn, name)(**kw)
    xp.save(am.state_dict(), tmp_path / "a.pt")  # arraylib -> torch
    tm = getattr(torch.nn, name)(**kw)
    tm.load_state_dict(torch.load(tmp_path / "a.pt"))
    np.testing.assert_allclose(to_numpy(am(xp.asarray(x))[0]),
                               tm(torch.tensor(x))[0].detach().numpy(), **TOL["float32"])
    tm2 = getattr(torch.nn, name)(**kw)  # torch -> arraylib
    torch.save(tm2.state_dict(), tmp_path / "t.pt")
    am2 = getattr(nn, name)(**kw)
    res = am2.load_state_dict(xp.load(tmp_path / "t.pt"))
    assert not res.missing_keys and not res.unexpected_keys
    np.testing.assert_allclose(to_numpy(am2(xp.asarray(x))[0]),
                               tm2(torch.tensor(x))[0].detach().numpy(), **TOL["float32"])


def test_parameter_layout_and_init():
    m = nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2)
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert list(shapes)[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                "weight_hr_l0"]
    assert shapes["weight_ih_l1_reverse"] == (20, 4)
    assert shapes["weight_hh_l1_reverse"] == (20, 2)
    assert shapes["weight_hr_l1_reverse"] == (2, 5)
    bound = 1 / np.sqrt(5)
    for p in m.parameters():
        v = to_numpy(p)
        assert np.all(np.abs(v) <= bound) and v.std() > bound / 4
    g = nn.GRU(3, 4, bias=False)
    assert list(g.state_dict()) == ["weight_ih_l0", "weight_hh_l0"]
    assert len(g.all_weights) == 1 and len(g.all_weights[0]) == 2
    g.flatten_parameters()


CELLS = [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu", "bias": False}),
         ("LSTMCell", {}), ("LSTMCell", {"bias": False}), ("GRUCell", {}),
         ("GRUCell", {"bias": False})]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("hx", [True, False])
@pytest.mark.parametrize("cell", range(len(CELLS)))
def test_cells_match_torch(torch, cell, hx, batched, dtype):
    name, kw = CELLS[cell]
    rng = np.random.default_rng(cell)
    tm = getattr(torch.nn, name)(3, 4, **kw).to(getattr(torch, dtype))
    am = getattr(nn, name)(3, 4, **kw).to(getattr(xp, dtype))
    _load_from_torch(tm, am)
    lead = (2,) if batched else ()
    arrays = [rng.standard_normal(lead + (3,)).astype(dtype)]
    if hx:
        arrays += [rng.standard_normal(lead + (4,)).astype(dtype)
                   for _ in range(2 if name == "LSTMCell" else 1)]
    tl = [torch.tensor(a, requires_grad=True) for a in arrays]
    al = [xp.asarray(a, requires_grad=True) for a in arrays]
    h_t = (tuple(tl[1:]) if name == "LSTMCell" else tl[1]) if hx else None
    h_a = (tuple(al[1:]) if name == "LSTMCell" else al[1]) if hx else None
    touts, aouts = _flat(tm(tl[0], h_t)), _flat(am(al[0], h_a))
    for t, a in zip(touts, aouts):
        np.testing.assert_allclose(to_numpy(a), t.detach().numpy(), **TOL[dtype])
    gs = [rng.standard_normal(tuple(t.shape)).astype(dtype) for t in touts]
    torch.autograd.backward(touts, [torch.tensor(g) for g in gs])
    xp.autograd.backward(aouts, [xp.asarray(g) for g in gs])
    for t, a in zip(tl, al):
        np.testing.assert_allclose(to_numpy(a.grad), t.grad.numpy(), **TOL[dtype])
    tp = dict(tm.named_parameters())
    for n, p in am.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), tp[n].grad.numpy(), **TOL[dtype])


# -- the fused kernels and gradcheck ----------------------------------------------------
def test_lstm_cell_kernel_fd(device):
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(s) for s in ((2, 12), (2, 12), (2, 3))]
    check_grads(lambda xg, hg, c: lstm_cell(xg, hg, c), arrays, device)


def test_gru_cell_kernel_fd(device):
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(s) for s in ((2, 9), (2, 9), (2, 3))]
    check_grads(lambda gx, gh, h: gru_cell(gx, gh, h), arrays, device)


def test_cell_kernels_second_order(device):
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s) for s in ((2, 8), (2, 8), (2, 2))]

    def fn(xg, hg, c):
        if not xg.requires_grad:  # (the finite-difference evaluations)
            xg, hg, c = (t.detach().requires_grad_(True) for t in (xg, hg, c))
        h, c2 = lstm_cell(xg, hg, c)
        return xp.autograd.grad(xp.sum(h * c2), (xg, c), create_graph=True)
    check_grads(fn, arrays, device, forward=False)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_gradcheck_layers(device, name):
    xp.manual_seed(0)
    m = getattr(nn, name)(2, 2, num_layers=2, bidirectional=True).double().to(device)
    rng = np.random.default_rng(0)
    x = xp.asarray(rng.standard_normal((3, 2, 2)), device=device, requires_grad=True)
    names = ("weight_hh_l0_reverse", "weight_ih_l1", "bias_hh_l1")
    params = tuple(getattr(m, n) for n in names)
    # the parameters go in through functional_call, so gradcheck's copies are the ones used
    assert gradcheck(lambda x, *p: _flat(functional_call(m, dict(zip(names, p)), (x,)))[0],
                     (x, *params), atol=1e-7, rtol=1e-5, check_forward_ad=True)


def _count_nodes(t):
    seen, stack = set(), [t.grad_fn]
    while stack:
        n = stack.pop()
        if n is None or id(n) in seen:
            continue
        seen.add(id(n))
        stack.extend(e[0] for e in n.edges if e is not None and e[0] is not None
                     and not isinstance(e[0], xp.Tensor))
    return len(seen)


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_time_loop_is_one_node(name):
    """The whole time loop of a layer is one node: the graph does not grow with the steps."""
    m = getattr(nn, name)(3, 8)
    counts = [_count_nodes(m(xp.ones((steps, 2, 3), requires_grad=True))[0])
              for steps in (2, 30)]
    assert counts[0] == counts[1] <= 8


# -- the sequence kernel: every mode, packed sizes, both directions, against finite
# differences (reverse and forward mode), first and second order ------------------------
SEQ_CASES = [  # mode, batch sizes, reverse, bias, projection
    ("LSTM", (3, 3, 3), False, True, False),
    ("LSTM", (3, 2, 2, 1), True, True, True),
    ("LSTM", (2, 1), False, False, True),
    ("GRU", (3, 2, 1), False, True, False),
    ("GRU", (2, 2, 1), True, False, False),
    ("RNN_TANH", (3, 1, 1), True, True, False),
    ("RNN_RELU", (2, 2, 1), False, True, False),
]


def _seq_arrays(mode, sizes, bias, proj, seed):
    rng = np.random.default_rng(seed)
    h, p = 3, (2 if proj else 3)
    gates = {"LSTM": 4, "GRU": 3}.get(mode, 1) * h
    shapes = [(sum(sizes), gates), (sizes[0], p)] + ([(sizes[0], h)] if mode == "LSTM" else [])
    shapes += [(gates, p)] + ([(gates,)] if bias else []) + ([(p, h)] if proj else [])
    arrays = [rng.standard_normal(s) * 0.7 for s in shapes]
    if mode == "RNN_RELU":  # keep pre-activations away from the kink
        arrays[0] = arrays[0] + np.sign(arrays[0]) * 0.3
    return arrays


def _seq_fn(mode, sizes, reverse, bias, proj):
    n_states = 2 if mode == "LSTM" else 1

    def fn(xw, *rest):
        states, rest = rest[:n_states], list(rest[n_states:])
        w_hh = rest.pop(0)
        b_hh = rest.pop(0) if bias else None
        w_hr = rest.pop(0) if proj else None
        return rnn_sequence(mode, xw, states, w_hh, b_hh, w_hr, sizes, reverse)
    return fn


@pytest.mark.parametrize("case", range(len(SEQ_CASES)))
def test_sequence_kernel_fd(device, case):
    mode, sizes, reverse, bias, proj = SEQ_CASES[case]
    arrays = _seq_arrays(mode, sizes, bias, proj, case)
    check_grads(_seq_fn(mode, sizes, reverse, bias, proj), arrays, device)


@pytest.mark.parametrize("case", [0, 1, 3, 5])
def test_sequence_kernel_second_order(device, case):
    """create_graph through the loop (the rules on the namespace): the gradient's own
    derivatives against finite differences."""
    mode, sizes, reverse, bias, proj = SEQ_CASES[case]
    arrays = _seq_arrays(mode, sizes, bias, proj, case)
    run = _seq_fn(mode, sizes, reverse, bias, proj)

    def fn(*ts):
        if not ts[0].requires_grad:  # (the finite-difference evaluations)
            ts = [t.detach().requires_grad_(True) for t in ts]
        outs = run(*ts)
        loss = sum(xp.sum(o * o * (k + 1.0)) for k, o in enumerate(outs))
        return xp.autograd.grad(loss, (ts[0], ts[1], ts[-1]), create_graph=True)
    check_grads(fn, arrays, device, forward=False)


def test_layer_second_order_matches_torch(torch):
    """A gradient penalty through a two-layer bidirectional LSTM: the double backward
    equals PyTorch's."""
    kw = dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
    tm = torch.nn.LSTM(**kw).double()
    am = nn.LSTM(**kw).double()
    _load_from_torch(tm, am)
    x = np.random.default_rng(5).standard_normal((4, 2, 3))
    tx, ax = torch.tensor(x, requires_grad=True), xp.asarray(x, requires_grad=True)
    (tg,) = torch.autograd.grad((tm(tx)[0] ** 2).sum(), tx, create_graph=True)
    (ag,) = xp.autograd.grad(xp.sum(am(ax)[0] ** 2), ax, create_graph=True)
    np.testing.assert_allclose(to_numpy(ag), tg.detach().numpy(), **TOL["float64"])
    (tg ** 2).sum().backward()
    xp.sum(ag ** 2).backward()
    np.testing.assert_allclose(to_numpy(ax.grad), tx.grad.numpy(), **TOL["float64"])
    tp = dict(tm.named_parameters())
    for n, p in am.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), tp[n].grad.numpy(), **TOL["float64"],
                                   err_msg=n)


def test_sequence_kernel_errors():
    xw, h = xp.ones((5, 4)), xp.ones((2, 4))
    with pytest.raises(ValueError, match="mode"):
        rnn_sequence("LSTX", xw, (h,), xp.ones((4, 4)), None, None, (2, 2, 1))
    with pytest.raises(ValueError, match=r"sum to 4.*\(5, 4\)"):
        rnn_sequence("RNN_TANH", xw, (h,), xp.ones((4, 4)), None, None, (2, 2))
    with pytest.raises(ValueError, match="non-increasing"):
        rnn_sequence("RNN_TANH", xw, (h,), xp.ones((4, 4)), None, None, (2, 3))
    with pytest.raises(ValueError, match=r"2 initial state\(s\) of 2 rows"):
        rnn_sequence("LSTM", xp.ones((5, 16)), (h,), xp.ones((16, 4)), None, None, (2, 2, 1))
    with pytest.raises(TypeError, match="float32.*float64"):
        rnn_sequence("GRU", xp.ones((5, 12)), (h,), xp.ones((12, 4), dtype=xp.float64), None,
                     None, (2, 2, 1))


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_backward_twice_with_retained_graph(name):
    """The storage backward reads the saved gates without changing them."""
    m = getattr(nn, name)(3, 4, num_layers=2)
    x = xp.asarray(np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32),
                   requires_grad=True)
    out, _ = m(x)
    loss = xp.sum(out * out)
    loss.backward(retain_graph=True)
    first = [to_numpy(p.grad).copy() for p in m.parameters()] + [to_numpy(x.grad).copy()]
    loss.backward()
    for a, p in zip(first, list(m.parameters()) + [x]):
        np.testing.assert_allclose(to_numpy(p.grad), 2 * a, rtol=1e-6, atol=1e-6)


def test_one_step_outputs_do_not_share_storage():
    m = nn.GRU(3, 4)
    out, h = m(xp.ones((1, 2, 3)))
    np.testing.assert_array_equal(to_numpy(out[0]), to_numpy(h[0]))
    h += 1.0
    assert not np.allclose(to_numpy(out[0]), to_numpy(h[0]))


# -- packing utilities ------------------------------------------------------------------
def test_pad_sequence_matches_torch(torch):
    rng = np.random.default_rng(0)
    seqs = [rng.standard_normal((n, 2)) for n in (3, 5, 1)]
    for kw in ({}, {"batch_first": True, "padding_value": -1.0},
               {"batch_first": True, "padding_side": "left"}):
        t = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], **kw)
        a = nn.utils.rnn.pad_sequence([xp.asarray(s) for s in seqs], **kw)
        np.testing.assert_array_equal(to_numpy(a), t.numpy())


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted", [False, True])
def test_pack_unpack_match_torch(torch, batch_first, enforce_sorted):
    rng = np.random.default_rng(1)
    lengths = [5, 3, 3, 1] if enforce_sorted else [3, 5, 1, 3]
    shape = (4, 5, 2) if batch_first else (5, 4, 2)
    x = rng.standard_normal(shape)
    tx, ax = torch.tensor(x, requires_grad=True), xp.asarray(x, requires_grad=True)
    tp = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, batch_first, enforce_sorted)
    ap = nn.utils.rnn.pack_padded_sequence(ax, lengths, batch_first, enforce_sorted)
    np.testing.assert_array_equal(to_numpy(ap.data), tp.data.detach().numpy())
    assert to_numpy(ap.batch_sizes).tolist() == tp.batch_sizes.tolist()
    if enforce_sorted:
        assert ap.sorted_indices is None and ap.unsorted_indices is None
    else:
        assert to_numpy(ap.sorted_indices).tolist() == tp.sorted_indices.tolist()
        assert to_numpy(ap.unsorted_indices).tolist() == tp.unsorted_indices.tolist()
    tpad, tl = torch.nn.utils.rnn.pad_packed_sequence(tp, batch_first, 7.0, total_length=6)
    apad, al = nn.utils.rnn.pad_packed_sequence(ap, batch_first, 7.0, total_length=6)
    np.testing.assert_array_equal(to_numpy(apad), tpad.detach().numpy())
    assert to_numpy(al).tolist() == tl.tolist()
    g = rng.standard_normal(tuple(tpad.shape))
    tpad.backward(torch.tensor(g))
    apad.backward(xp.asarray(g))
    np.testing.assert_array_equal(to_numpy(ax.grad), tx.grad.numpy())


def test_pack_sequence_and_unpack(torch):
    rng = np.random.default_rng(2)
    seqs = [rng.standard_normal((n, 3)) for n in (2, 4, 3)]
    tp = torch.nn.utils.rnn.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=False)
    ap = nn.utils.rnn.pack_sequence([xp.asarray(s) for s in seqs], enforce_sorted=False)
    np.testing.assert_array_equal(to_numpy(ap.data), tp.data.numpy())
    back = nn.utils.rnn.unpack_sequence(ap)
    for s, b in zip(seqs, back):
        np.testing.assert_array_equal(to_numpy(b), s)
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        nn.utils.rnn.pack_sequence([xp.asarray(s) for s in seqs])


def test_packing_errors():
    x = xp.ones((3, 2, 1))
    with pytest.raises(ValueError, match="lengths"):
        nn.utils.rnn.pack_padded_sequence(x, [3, 2, 1])
    with pytest.raises(RuntimeError, match="greater than 0"):
        nn.utils.rnn.pack_padded_sequence(x, [3, 0])
    p = nn.utils.rnn.pack_padded_sequence(x, [3, 2])
    with pytest.raises(ValueError, match="total_length"):
        nn.utils.rnn.pad_packed_sequence(p, total_length=2)


# -- arguments and errors -----------------------------------------------------------------
def test_errors():
    with pytest.raises(ValueError, match="proj_size"):
        nn.GRU(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="proj_size has to be smaller"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="dropout"):
        nn.LSTM(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.GRU(3, 4, dropout=0.5)
    m = nn.LSTM(3, 4)
    with pytest.raises(RuntimeError, match="input_size"):
        m(xp.ones((2, 1, 5)))
    with pytest.raises(ValueError, match="2D or 3D"):
        m(xp.ones((2, 1, 3, 1)))
    with pytest.raises(RuntimeError, match="Expected hidden size"):
        m(xp.ones((2, 1, 3)), (xp.ones((1, 2, 4)), xp.ones((1, 2, 4))))
    with pytest.raises(TypeError, match="tuple"):
        m(xp.ones((2, 1, 3)), xp.ones((1, 1, 4)))
    with pytest.raises(RuntimeError, match="input_size"):
        nn.GRUCell(3, 4)(xp.ones((2, 5)))


def test_dropout_between_layers():
    xp.manual_seed(0)
    m = nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    x = xp.ones((4, 2, 3))
    m.eval()
    a, b = to_numpy(m(x)[0]), to_numpy(m(x)[0])
    np.testing.assert_array_equal(a, b)
    m.train()
    assert not np.allclose(to_numpy(m(x)[0]), a)


def test_module_repr():
    assert repr(nn.LSTM(3, 4, num_layers=2, bidirectional=True)) == \
        "LSTM(3, 4, num_layers=2, bidirectional=True)"
    assert repr(nn.GRUCell(3, 4, bias=False)) == "GRUCell(3, 4, bias=False)"

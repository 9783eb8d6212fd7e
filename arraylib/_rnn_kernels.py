"""The recurrent primitives behind ``arraylib.nn``'s RNN, LSTM and GRU.

- ``lstm_cell(xg, hg, c0)`` / ``gru_cell(gx, gh, h0)``: the element-wise gate math of
  one step as one node (the cells ``nn.LSTMCell`` / ``nn.GRUCell``);
- ``rnn_sequence(mode, xw, states, w_hh, b_hh, w_hr, batch_sizes, reverse)``: the whole
  time loop of one layer and direction as one node.  ``xw`` (N, G) is the input
  projection of every step (one matrix product, made by the caller), in the packed row
  order (step 0's ``batch_sizes[0]`` rows, then step 1's, ...; a padded batch is a
  packed one with equal sizes).  Each step is one ``h @ W_hh^T`` and the fused gate math.
  The plain backward is backpropagation through time over the saved gates, on storage:
  one product per step for the state's cotangent, the weight gradients one product each
  over the whole sequence at the end.  The rules on the namespace (``create_graph``,
  forward mode) recompute the loop from the inputs and run the same recurrences;
- ``lstm_layer(x, w_ih, b_ih, states, w_hh, batch_sizes, reverse)``: an LSTM layer and
  direction without projection, its input projection inside the node, so that on two
  threads the projection runs beside the loop (forward) and the products of finished
  steps (the input's cotangent, the weight and bias gradients) beside BPTT (backward),
  by groups of steps fixed by the shapes: the same bits at one thread and at two.

Modes and gate orders are PyTorch's: 'LSTM' (input, forget, cell, output; ``w_hr``
projects ``h`` when ``proj_size > 0``), 'GRU' (reset, update, new), 'RNN_TANH',
'RNN_RELU'.
"""
from __future__ import annotations

import contextlib
import threading

from ._core import _batching as _vb
from ._core._primitive import Primitive
from ._core._tensor import Tensor

__all__ = ["lstm_cell", "gru_cell", "rnn_sequence", "lstm_layer"]


def _sig(ns, x):
    """The logistic sigmoid as ``0.5 tanh(x / 2) + 0.5``: no overflow for any ``x``."""
    return 0.5 * ns.tanh(0.5 * x) + 0.5


def _zero_filled(ns, tangents, inputs):
    return [ns.zeros_like(x) if t is None else t for t, x in zip(tangents, inputs)]


# -- the cells: one node for the gate math of one step ----------------------------------
def _lstm_acts(ns, xg, hg, c0):
    """The gates (PyTorch's order i, f, g, o), the new cell state and its tanh."""
    gates = xg + hg
    n = c0.shape[-1]
    a = _sig(ns, gates)
    i, f, o = a[..., :n], a[..., n:2 * n], a[..., 3 * n:]
    g = ns.tanh(gates[..., 2 * n:3 * n])
    c = f * c0 + i * g
    return i, f, g, o, c, ns.tanh(c)


def _lstm_fwd(B, xg, hg, c0, *, cache):
    i, f, g, o, c, tc = _lstm_acts(B, xg, hg, c0)
    cache["acts"] = (i, f, g, o, tc)
    return o * tc, c


def _lstm_grads(ns, needs, gh, gc, c0, i, f, g, o, tc):
    gct = gc + gh * o * (1.0 - tc * tc)
    dgates = None
    if needs[0] or needs[1]:
        dgates = ns.concat([gct * g * i * (1.0 - i), gct * c0 * f * (1.0 - f),
                            gct * i * (1.0 - g * g), gh * tc * o * (1.0 - o)], axis=-1)
    dc0 = gct * f if needs[2] else None
    return (dgates if needs[0] else None), (dgates if needs[1] else None), dc0


def _lstm_vjp(ns, needs, grads, out, xg, hg, c0, *, cache):
    i, f, g, o, c, tc = _lstm_acts(ns, xg, hg, c0)
    return _lstm_grads(ns, needs, grads[0], grads[1], c0, i, f, g, o, tc)


def _lstm_vjp_storage(B, needs, grads, out, xg, hg, c0, *, cache):
    return _lstm_grads(B, needs, grads[0], grads[1], c0, *cache["acts"])


def _lstm_tangent(ns, acts, c0, t, tc0):
    """The tangents (h, c) of one LSTM step from the gates' tangent ``t``."""
    i, f, g, o, tc = acts
    n = c0.shape[-1]
    di = i * (1.0 - i) * t[..., :n]
    df = f * (1.0 - f) * t[..., n:2 * n]
    dg = (1.0 - g * g) * t[..., 2 * n:3 * n]
    do = o * (1.0 - o) * t[..., 3 * n:]
    dc = df * c0 + f * tc0 + di * g + i * dg
    return do * tc + o * (1.0 - tc * tc) * dc, dc


def _lstm_jvp(ns, tangents, out, xg, hg, c0, *, cache):
    txg, thg, tc0 = _zero_filled(ns, tangents, (xg, hg, c0))
    i, f, g, o, c, tc = _lstm_acts(ns, xg, hg, c0)
    return _lstm_tangent(ns, (i, f, g, o, tc), c0, txg + thg, tc0)


_lstm_prim = Primitive("lstm_cell", _lstm_fwd, _lstm_vjp, _lstm_jvp,
                       vjp_storage=_lstm_vjp_storage, saves_output=False, nout=2)
_lstm_prim.batch = _vb.flatten_rule(_lstm_prim)


def lstm_cell(xg: Tensor, hg: Tensor, c0: Tensor):
    """One LSTM step's gate math as one node: ``gates = xg + hg`` (..., 4H) in PyTorch's
    order (input, forget, cell, output), ``c0`` (..., H) -> ``(h, c)``,
    ``c = f c0 + i g``, ``h = o tanh(c)``."""
    return _lstm_prim(xg, hg, c0, cache={})


def _gru_acts(ns, gx, gh, h0):
    n = h0.shape[-1]
    rz = _sig(ns, gx[..., :2 * n] + gh[..., :2 * n])
    r, z = rz[..., :n], rz[..., n:]
    ghn = gh[..., 2 * n:]
    nn_ = ns.tanh(gx[..., 2 * n:] + r * ghn)
    return r, z, nn_, ghn


def _gru_fwd(B, gx, gh, h0, *, cache):
    r, z, n, ghn = _gru_acts(B, gx, gh, h0)
    cache["acts"] = (r, z, n, ghn)
    return n + z * (h0 - n)


def _gru_grads(ns, needs, g, h0, r, z, n, ghn):
    dnp = g * (1.0 - z) * (1.0 - n * n)
    dr = dnp * ghn * r * (1.0 - r)
    dz = g * (h0 - n) * z * (1.0 - z)
    dgx = ns.concat([dr, dz, dnp], axis=-1) if needs[0] else None
    dgh = ns.concat([dr, dz, dnp * r], axis=-1) if needs[1] else None
    return dgx, dgh, (g * z if needs[2] else None)


def _gru_vjp(ns, needs, g, out, gx, gh, h0, *, cache):
    return _gru_grads(ns, needs, g, h0, *_gru_acts(ns, gx, gh, h0))


def _gru_vjp_storage(B, needs, g, out, gx, gh, h0, *, cache):
    return _gru_grads(B, needs, g, h0, *cache["acts"])


def _gru_tangent(ns, acts, h0, tgx, tgh, th0):
    r, z, n, ghn = acts
    k = h0.shape[-1]
    dr = r * (1.0 - r) * (tgx[..., :k] + tgh[..., :k])
    dz = z * (1.0 - z) * (tgx[..., k:2 * k] + tgh[..., k:2 * k])
    dn = (1.0 - n * n) * (tgx[..., 2 * k:] + r * tgh[..., 2 * k:] + dr * ghn)
    return dn * (1.0 - z) + dz * (h0 - n) + z * th0


def _gru_jvp(ns, tangents, out, gx, gh, h0, *, cache):
    tgx, tgh, th0 = _zero_filled(ns, tangents, (gx, gh, h0))
    return _gru_tangent(ns, _gru_acts(ns, gx, gh, h0), h0, tgx, tgh, th0)


_gru_prim = Primitive("gru_cell", _gru_fwd, _gru_vjp, _gru_jvp, vjp_storage=_gru_vjp_storage,
                      saves_output=False)
_gru_prim.batch = _vb.flatten_rule(_gru_prim)


def gru_cell(gx: Tensor, gh: Tensor, h0: Tensor) -> Tensor:
    """One GRU step's gate math as one node: ``gx = x W_ih^T + b_ih``, ``gh = h0 W_hh^T +
    b_hh`` (..., 3H) in PyTorch's order (reset, update, new) -> ``h = n + z (h0 - n)``,
    ``n = tanh(gx_n + r gh_n)``."""
    return _gru_prim(gx, gh, h0, cache={})


# -- one step of each mode inside the sequence loop ----------------------------------------
# step(ns, xw, gh, prev) -> (new states, acts): ``xw``/``gh`` the step's input and state
# projections (b, G), ``prev`` the states before the step (h, and c for the LSTM); the new
# ``h`` is before the projection.  back(ns, acts, prev, dh, dc) -> (d xw, d gh, d h direct,
# d c): ``dh`` the cotangent of the unprojected new h.  tangent(ns, acts, prev, tprev, txw,
# tgh) -> tangents of the new states.
def _lstm_step(ns, xw, gh, prev):
    i, f, g, o, c, tc = _lstm_acts(ns, xw, gh, prev[1])
    return (o * tc, c), (i, f, g, o, tc)


def _lstm_back(ns, acts, prev, dh, dc):
    dg = _lstm_grads(ns, (True, False, True), dh, dc, prev[1], *acts)
    return dg[0], dg[0], None, dg[2]


def _lstm_seq_tangent(ns, acts, prev, tprev, txw, tgh):
    return _lstm_tangent(ns, acts, prev[1], txw + tgh, tprev[1])


def _gru_step(ns, xw, gh, prev):
    acts = _gru_acts(ns, xw, gh, prev[0])
    n, z = acts[2], acts[1]
    return (n + z * (prev[0] - n),), acts


def _gru_back(ns, acts, prev, dh, dc):
    dgx, dgh, dh0 = _gru_grads(ns, (True, True, True), dh, prev[0], *acts)
    return dgx, dgh, dh0, None


def _gru_seq_tangent(ns, acts, prev, tprev, txw, tgh):
    return (_gru_tangent(ns, acts, prev[0], txw, tgh, tprev[0]),)


def _tanh_step(ns, xw, gh, prev):
    h = ns.tanh(xw + gh)
    return (h,), (h,)


def _tanh_back(ns, acts, prev, dh, dc):
    h = acts[0]
    d = dh * (1.0 - h * h)
    return d, d, None, None


def _tanh_seq_tangent(ns, acts, prev, tprev, txw, tgh):
    h = acts[0]
    return ((1.0 - h * h) * (txw + tgh),)


def _relu_step(ns, xw, gh, prev):
    pre = xw + gh
    h = ns.where(pre > 0, pre, ns.zeros_like(pre))
    return (h,), (h,)


def _relu_back(ns, acts, prev, dh, dc):
    d = ns.where(acts[0] > 0, dh, ns.zeros_like(dh))
    return d, d, None, None


def _relu_seq_tangent(ns, acts, prev, tprev, txw, tgh):
    t = txw + tgh
    return (ns.where(acts[0] > 0, t, ns.zeros_like(t)),)


_MODES = {"LSTM": (_lstm_step, _lstm_back, _lstm_seq_tangent),
          "GRU": (_gru_step, _gru_back, _gru_seq_tangent),
          "RNN_TANH": (_tanh_step, _tanh_back, _tanh_seq_tangent),
          "RNN_RELU": (_relu_step, _relu_back, _relu_seq_tangent)}


# -- the LSTM step on storage: in place, one tanh over all four gates --------------------
# With ``s`` = 1/2 on the sigmoid gates (i, f, o) and 1 on the cell gate g, ``T = tanh(s
# gates)`` gives every gate in one call: sigmoid = T/2 + 1/2, and g = T (made in place, so
# a step keeps only the gates and tanh(c)).  The backward takes the derivatives from the
# gates, as PyTorch does: sigmoid' = a (1 - a), tanh' = 1 - g^2.
def _lstm_consts(B, xw, rows):
    """(s, the offset of sigmoid = T/2 + 1/2) over the 4H gates, in ``xw``'s dtype and on
    its device, as (``rows``, 4H) arrays (a product with a same-shaped operand runs at
    twice the speed of a broadcast row)."""
    n = xw.shape[-1] // 4
    s = B.ones_like(xw[:rows, ...])
    s[:, :2 * n] = 0.5
    s[:, 3 * n:] = 0.5
    off = s * 1.0
    off[:, 2 * n:3 * n] = 0.0
    return s, off


def _lstm_step_raw(B, xw, gh, prev, consts):
    b = gh.shape[0]
    s, off = consts
    s = s[:b, ...] if b < s.shape[0] else s
    gh += xw  # (gh is the step's fresh product)
    gh *= s
    a = B.tanh(gh)
    a *= s
    a += off[:b, ...] if b < off.shape[0] else off
    n = prev[1].shape[-1]
    i, f, g, o = a[:, :n], a[:, n:2 * n], a[:, 2 * n:3 * n], a[:, 3 * n:]
    c = f * prev[1]
    c += i * g
    tc = B.tanh(c)
    return (o * tc, c), (a, tc)


def _lstm_back_raw(B, acts, prev, dh, dc, m):
    """The step's gate cotangents written into ``m`` (b, 4H)."""
    a, tc = acts
    n = tc.shape[-1]
    i, f, g, o = a[:, :n], a[:, n:2 * n], a[:, 2 * n:3 * n], a[:, 3 * n:]
    gct = tc * tc
    gct -= 1.0
    gct *= o
    gct *= dh
    gct = dc - gct  # dc + dh o (1 - tc^2)
    d = 1.0 - a
    d *= a  # the sigmoids' derivatives a (1 - a); the cell gate's 1 - g^2:
    gg = g * g
    d[:, 2 * n:3 * n] = 1.0 - gg
    m[:, :n] = gct * g
    m[:, n:2 * n] = gct * prev[1]
    m[:, 2 * n:3 * n] = gct * i
    m[:, 3 * n:] = dh * tc
    m *= d
    return m, m, None, gct * f


_RAW = {"LSTM": (_lstm_step_raw, _lstm_back_raw, _lstm_consts)}


# -- the time loop on the packed layout ------------------------------------------------------
def _scan(ns, sizes, backwards, init, step):
    """Run ``states = step(t, states)`` over the steps, last to first when ``backwards``.

    Forwards, sequences leave the batch as they end (the batch sizes decrease) and their
    last states are kept; backwards, sequences join at their last step, with their rows
    of ``init``.  Returns the final states of every row."""
    states = list(init)
    if not backwards:
        done = []
        for t, b in enumerate(sizes):
            if b < states[0].shape[0]:
                done.append([s[b:, ...] for s in states])
                states = [s[:b, ...] for s in states]
            states = step(t, states)
        if not done:
            return states
        return [ns.concat([s] + [d[k] for d in done[::-1]], axis=0)
                for k, s in enumerate(states)]
    n = sizes[-1]
    if n < states[0].shape[0]:
        states = [s[:n, ...] for s in states]
    for t in range(len(sizes) - 1, -1, -1):
        b = sizes[t]
        m = states[0].shape[0]
        if b > m:
            states = [ns.concat([s, s0[m:b, ...]], axis=0) for s, s0 in zip(states, init)]
        states = step(t, states)
    return states


def _offsets(sizes):
    offsets, o = [], 0
    for b in sizes:
        offsets.append(o)
        o += b
    return offsets


def _contiguous_t(ns, w):
    """``w.T`` laid out row-major (a product with it runs faster than with the view)."""
    wt = ns.matrix_transpose(w)
    return ns.reshape(ns.reshape(wt, (-1,)), wt.shape)


def _unpack(inputs, mode, has_bias, has_proj):
    """(xw, initial states, w_hh, b_hh, w_hr) from the primitive's inputs."""
    k = 3 if mode == "LSTM" else 2
    xw, states, w_hh = inputs[0], tuple(inputs[1:k]), inputs[k]
    b_hh = inputs[k + 1] if has_bias else None
    w_hr = inputs[k + 1 + has_bias] if has_proj else None
    return xw, states, w_hh, b_hh, w_hr


def _forward(ns, mode, xw, init, w_hh, b_hh, w_hr, sizes, reverse, raw=False,
             before_step=None):
    """The loop: (packed outputs, final states, saved) with ``saved[t]`` = (states before
    step t, acts, the unprojected h).  ``raw``: on storage, with the in-place steps;
    ``before_step(t)``: called before each step reads its rows of ``xw``."""
    if raw and mode in _RAW:
        fast, _, consts_of = _RAW[mode]
        consts = consts_of(ns, xw, sizes[0])

        def step_fn(ns, xw, gh, prev):
            return fast(ns, xw, gh, prev, consts)
    else:
        step_fn = _MODES[mode][0]
    offsets = _offsets(sizes)
    whh_t = _contiguous_t(ns, w_hh)
    whr_t = _contiguous_t(ns, w_hr) if w_hr is not None else None
    matmul = ns.matmul
    outs = [None] * len(sizes)
    saved = [None] * len(sizes)

    def step(t, prev):
        o = offsets[t]
        gh = matmul(prev[0], whh_t)
        if b_hh is not None:
            gh = gh + b_hh if not raw else _iadd(gh, b_hh)
        if before_step is not None:
            before_step(t)
        new, acts = step_fn(ns, xw[o:o + sizes[t], ...], gh, prev)
        hraw = new[0]
        h = hraw if whr_t is None else matmul(hraw, whr_t)
        saved[t] = (prev, acts, hraw)
        outs[t] = h
        return [h] + list(new[1:])

    finals = _scan(ns, sizes, reverse, init, step)
    return ns.concat(outs, axis=0), finals, saved  # (a copy: h_n is one of the steps)


def _iadd(x, y):
    x += y
    return x


def _backward(ns, needs, mode, grads, saved, w_hh, b_hh, w_hr, sizes, reverse, raw=False,
              buf=None, on_step=None):
    """Backpropagation through time over ``saved``: the cotangents of the primitive's
    inputs (xw, initial states, w_hh, [b_hh], [w_hr]).  ``raw``: ``saved`` came from the
    storage loop (its in-place steps), ``buf``: where its gates' cotangents go (a fresh
    array where None), ``on_step(t)``: called after each step."""
    offsets = _offsets(sizes)
    g_out, g_final = grads[0], list(grads[1:])
    n_t = len(sizes)
    dxw, dgh, dhs = [None] * n_t, [None] * n_t, [None] * n_t
    matmul = ns.matmul
    if raw and mode in _RAW:  # the gates' cotangents written in place, step by step
        fast = _RAW[mode][1]
        if buf is None:
            buf = ns.empty((g_out.shape[0], w_hh.shape[0]), dtype=g_out.dtype,
                           device=ns.native_device)

        def back(ns, acts, prev, dh, dc, t):
            return fast(ns, acts, prev, dh, dc, buf[offsets[t]:offsets[t] + sizes[t], ...])
    else:
        mode_back = _MODES[mode][1]

        def back(ns, acts, prev, dh, dc, t):
            return mode_back(ns, acts, prev, dh, dc)

    def step(t, carry):
        o = offsets[t]
        prev, acts, hraw = saved[t]
        dh = carry[0] + g_out[o:o + sizes[t], ...]
        if w_hr is not None:
            dhs[t] = dh
            dh = matmul(dh, w_hr)
        dx, dg, dh_direct, dc = back(ns, acts, prev, dh, carry[1] if len(carry) > 1 else None,
                                     t)
        dxw[t], dgh[t] = dx, dg
        dh_prev = matmul(dg, w_hh)
        if dh_direct is not None:
            dh_prev = dh_prev + dh_direct if not raw else _iadd(dh_prev, dh_direct)
        if on_step is not None:
            on_step(t)
        return [dh_prev] if dc is None else [dh_prev, dc]

    with ns.serial_blas() if raw else contextlib.nullcontext():
        d_init = _scan(ns, sizes, not reverse, g_final, step)
    cat = (lambda xs: xs[0]) if n_t == 1 else (lambda xs: ns.concat(xs, axis=0))
    g_xw = buf if buf is not None else cat(dxw) if needs[0] else None
    k = len(g_final)
    result = [g_xw] + [d if needs[1 + j] else None for j, d in enumerate(d_init)]
    dgh_all = (g_xw if dgh[0] is dxw[0] and g_xw is not None else cat(dgh)) \
        if needs[k + 1] or (b_hh is not None and needs[k + 2]) else None
    if needs[k + 1]:
        h_prev = cat([s[0][0] for s in saved])
        result.append(matmul(ns.matrix_transpose(dgh_all), h_prev))
    else:
        result.append(None)
    if b_hh is not None:
        result.append(ns.sum(dgh_all, axis=0) if needs[k + 2] else None)
    if w_hr is not None:
        if needs[-1]:
            raw = cat([s[2] for s in saved])
            result.append(matmul(ns.matrix_transpose(cat(dhs)), raw))
        else:
            result.append(None)
    return tuple(result)


def _seq_fwd(B, *inputs, mode, sizes, reverse, has_bias, has_proj, cache):
    xw, init, w_hh, b_hh, w_hr = _unpack(inputs, mode, has_bias, has_proj)
    with B.serial_blas():
        out, finals, saved = _forward(B, mode, xw, init, w_hh, b_hh, w_hr, sizes, reverse,
                                      True)
    cache["saved"] = saved
    return (out, *finals)


def _seq_vjp(ns, needs, grads, out, *inputs, mode, sizes, reverse, has_bias, has_proj, cache):
    xw, init, w_hh, b_hh, w_hr = _unpack(inputs, mode, has_bias, has_proj)
    _, _, saved = _forward(ns, mode, xw, init, w_hh, b_hh, w_hr, sizes, reverse)
    return _backward(ns, needs, mode, grads, saved, w_hh, b_hh, w_hr, sizes, reverse)


def _seq_vjp_storage(B, needs, grads, out, *inputs, mode, sizes, reverse, has_bias, has_proj,
                     cache):
    _, _, w_hh, b_hh, w_hr = _unpack(inputs, mode, has_bias, has_proj)
    return _backward(B, needs, mode, grads, cache["saved"], w_hh, b_hh, w_hr, sizes, reverse,
                     True)


def _seq_jvp(ns, tangents, out, *inputs, mode, sizes, reverse, has_bias, has_proj, cache):
    """The output tangents: the loop run again with the states' tangents alongside."""
    xw, init, w_hh, b_hh, w_hr = _unpack(inputs, mode, has_bias, has_proj)
    tan = _unpack(_zero_filled(ns, tangents, inputs), mode, has_bias, has_proj)
    txw, tinit, tw_hh, tb_hh, tw_hr = tan
    step_fn, _, tangent_fn = _MODES[mode]
    offsets = _offsets(sizes)
    n_s = len(init)
    matmul, mt = ns.matmul, ns.matrix_transpose
    outs = [None] * len(sizes)

    def step(t, both):
        prev, tprev = both[:n_s], both[n_s:]
        o, b = offsets[t], sizes[t]
        gh = matmul(prev[0], mt(w_hh))
        tgh = matmul(tprev[0], mt(w_hh)) + matmul(prev[0], mt(tw_hh))
        if b_hh is not None:
            gh, tgh = gh + b_hh, tgh + tb_hh
        new, acts = step_fn(ns, xw[o:o + b, ...], gh, prev)
        tnew = tangent_fn(ns, acts, prev, tprev, txw[o:o + b, ...], tgh)
        h, th = new[0], tnew[0]
        if w_hr is not None:
            h, th = matmul(h, mt(w_hr)), matmul(th, mt(w_hr)) + matmul(h, mt(tw_hr))
        outs[t] = th
        return [h, *new[1:], th, *tnew[1:]]

    finals = _scan(ns, sizes, reverse, list(init) + list(tinit), step)
    tout = outs[0] if len(outs) == 1 else ns.concat(outs, axis=0)
    return (tout, *finals[n_s:])


_seq_prims = {n: Primitive("rnn_sequence", _seq_fwd, _seq_vjp, _seq_jvp,
                           vjp_storage=_seq_vjp_storage, saves_output=False, nout=n)
              for n in (2, 3)}
for _p in _seq_prims.values():
    _p.batch = _vb.unsupported("the fused RNN sequence kernel", "run the module on the whole "
                               "batch, or call its cells (LSTMCell/GRUCell) inside vmap")


def _check_sequence(mode, xw_shape, dtype, states, w_hh, b_hh, w_hr, batch_sizes):
    """rnn_sequence's argument checks (``xw_shape``: the input projection's shape)."""
    if mode not in _MODES:
        raise ValueError(f"rnn_sequence: unknown mode {mode!r}, expected one of "
                         f"{sorted(_MODES)}")
    sizes = tuple(int(b) for b in batch_sizes)
    if not sizes or sizes[-1] < 1 or any(a < b for a, b in zip(sizes, sizes[1:])):
        raise ValueError(f"rnn_sequence: batch sizes must be positive and non-increasing, "
                         f"got {sizes}")
    if sum(sizes) != xw_shape[0]:
        raise ValueError(f"rnn_sequence: batch sizes {sizes} sum to {sum(sizes)}, but xw has "
                         f"shape {xw_shape}")
    if w_hr is not None and mode != "LSTM":
        raise ValueError(f"rnn_sequence: a projection (w_hr) needs mode 'LSTM', got {mode!r}")
    others = (*states, w_hh) + ((b_hh,) if b_hh is not None else ()) + \
        ((w_hr,) if w_hr is not None else ())
    if any(t.dtype != dtype for t in others):
        raise TypeError("rnn_sequence: expected one floating dtype, got "
                        f"{[str(dtype)] + [str(t.dtype) for t in others]}")
    if len(states) != (2 if mode == "LSTM" else 1) or \
            any(st.ndim != 2 or st.shape[0] != sizes[0] for st in states):
        raise ValueError(f"rnn_sequence: mode {mode!r} expects "
                         f"{2 if mode == 'LSTM' else 1} initial state(s) of {sizes[0]} rows, got "
                         f"shapes {[tuple(st.shape) for st in states]}")


def rnn_sequence(mode: str, xw: Tensor, states, w_hh: Tensor, b_hh, w_hr, batch_sizes,
                 reverse: bool = False):
    """The time loop of one recurrent layer and direction as one node.

    ``xw`` (N, G): ``x W_ih^T + b_ih`` of every step in packed row order; ``states``: the
    initial ``(h0,)`` (``(h0, c0)`` for 'LSTM'), each (batch, *); ``w_hh`` (G, P),
    ``b_hh`` (G,) or None, ``w_hr`` (P, H) or None (LSTM projection); ``batch_sizes``:
    the rows of each step, non-increasing; ``reverse``: run last step to first.
    Returns ``(output (N, P), h_n[, c_n])``, the final states of every row."""
    _check_sequence(mode, tuple(xw.shape), xw.dtype, states, w_hh, b_hh, w_hr, batch_sizes)
    sizes = tuple(int(b) for b in batch_sizes)
    inputs = (xw, *states, w_hh) + ((b_hh,) if b_hh is not None else ()) + \
        ((w_hr,) if w_hr is not None else ())
    prim = _seq_prims[1 + len(states)]
    return prim(*inputs, mode=mode, sizes=sizes, reverse=bool(reverse),
                has_bias=b_hh is not None, has_proj=w_hr is not None, cache={})


# -- one LSTM layer and direction with its input projection: one node --------------------
# The plain backward runs the time loop on one thread while a second takes the products
# that only need finished steps (the input's cotangent, the weight and bias gradients),
# group by group of steps as the loop completes them.  The groups depend on the shapes
# only and their partial gradients are summed in one fixed order, so a serial run (one
# thread, nested, off the host) computes exactly the same products: the same bits.
_GROUP_ROWS = 240  # rows (steps x batch) per group of steps (fewer: the products run slower)


def _step_groups(sizes, reverse):
    """Consecutive ranges of steps, in the order the backward loop finishes them."""
    n_t = len(sizes)
    count = max(1, min(n_t, round(sum(sizes) / _GROUP_ROWS)))
    groups = [(n_t * i // count, n_t * (i + 1) // count) for i in range(count)]
    return groups if reverse else groups[::-1]


def _layer_unpack(inputs, has_bias):
    """(x, w_ih, b_ih, (h0, c0), w_hh) from the layer primitive's inputs."""
    x, w_ih = inputs[0], inputs[1]
    k = 2 + has_bias
    return x, w_ih, (inputs[2] if has_bias else None), tuple(inputs[k:k + 2]), inputs[k + 2]


def _projection(ns, x, w_ih, b_ih):
    """``x @ w_ih^T + b_ih`` (the input projection of every step)."""
    xw = ns.matmul(x, ns.matrix_transpose(w_ih))
    return xw if b_ih is None else xw + b_ih


def _layer_fwd(B, *inputs, sizes, reverse, has_bias, cache):
    """The input projection group by group of steps, on this thread, and the loop, on a
    second one where ``run_chunks`` gives two (each step waiting for its group); serially
    (the projection first) where not."""
    x, w_ih, b_ih, init, w_hh = _layer_unpack(inputs, has_bias)
    groups = _step_groups(sizes, not reverse)  # (in the forward loop's order)
    starter = {(b - 1 if reverse else a): j for j, (a, b) in enumerate(groups)}
    ready = [threading.Event() for _ in groups]
    xw = B.empty((x.shape[0], w_ih.shape[0]), dtype=x.dtype, device=B.native_device)
    wt = B.matrix_transpose(w_ih)
    offsets = _offsets(sizes)
    failed = []

    def project():
        try:
            for (a, b), e in zip(groups, ready):
                lo, hi = offsets[a], offsets[b - 1] + sizes[b - 1]
                B.matmul_into(x[lo:hi, ...], wt, xw[lo:hi, ...])
                if b_ih is not None:
                    xw[lo:hi, ...] += b_ih
                e.set()
        except BaseException:  # (a failed projection must not leave the loop waiting)
            failed.append(True)
            for e in ready:
                e.set()
            raise

    def before_step(t):
        j = starter.get(t)
        if j is not None:
            ready[j].wait()
            if failed:
                raise RuntimeError("lstm_layer: the input projection failed")

    def loop():
        return _forward(B, "LSTM", xw, init, w_hh, None, None, sizes, reverse, True,
                        before_step)

    bounds = B.chunk_bounds(2, 1 << 30)
    if len(bounds) == 2:  # (BLAS at one thread while the chunks run)
        out, finals, saved = B.run_chunks(lambda lo, hi: project() if lo == 0 else loop(),
                                          bounds)[1]
    else:
        project()
        with B.serial_blas():
            out, finals, saved = loop()
    cache["saved"] = saved
    return (out, *finals)


def _group_products(B, needs, buf, saved, x, w_ih, offsets, sizes, a, b, gx):
    """One group of steps' share: its rows of the input's cotangent (written into
    ``gx``) and its partial gradients of (w_ih, b_ih, w_hh)."""
    lo, hi = offsets[a], offsets[b - 1] + sizes[b - 1]
    m = buf[lo:hi, ...]
    mt = B.matrix_transpose(m)
    if gx is not None:
        B.matmul_into(m, w_ih, gx[lo:hi, ...])
    dw_ih = B.matmul(mt, x[lo:hi, ...]) if needs[1] else None
    db = B.sum(m, axis=0) if needs[2] else None
    dw_hh = None
    if needs[-1]:
        hs = [saved[t][0][0] for t in range(a, b)]
        dw_hh = B.matmul(mt, hs[0] if len(hs) == 1 else B.concat(hs, axis=0))
    return dw_ih, db, dw_hh


def _sum_parts(parts):
    """The partial gradients summed in the groups' order (None where not needed)."""
    total = list(parts[0])
    for p in parts[1:]:
        total = [t if q is None else _iadd(t, q) for t, q in zip(total, p)]
    return total


def _layer_vjp_storage(B, needs, grads, out, *inputs, sizes, reverse, has_bias, cache):
    """The loop's backward (the gates' cotangents into one buffer, the initial states'
    cotangents) on this thread, the products of each finished group of steps on a second
    one where ``run_chunks`` gives two (this thread takes the groups left when its loop
    ends); after the loop where not.  The groups' partial gradients sum in their order."""
    x, w_ih, b_ih, init, w_hh = _layer_unpack(inputs, has_bias)
    saved = cache["saved"]
    k = 2 + has_bias
    groups = _step_groups(sizes, reverse)
    finisher = {(b - 1 if reverse else a): j for j, (a, b) in enumerate(groups)}
    done = [threading.Event() for _ in groups]
    buf = B.empty((x.shape[0], w_hh.shape[0]), dtype=x.dtype, device=B.native_device)
    gx = B.empty(x.shape, dtype=x.dtype, device=B.native_device) if needs[0] else None
    pneeds = (needs[0], needs[1], has_bias and needs[2], needs[k + 2])
    offsets = _offsets(sizes)
    loop_result, failed, parts = [], [], [None] * len(groups)
    claim = iter(range(len(groups)))  # the next group to take (next() under the GIL)
    claim_lock = threading.Lock()

    def on_step(t):
        j = finisher.get(t)
        if j is not None:
            done[j].set()

    def products():
        while not failed:
            with claim_lock:
                j = next(claim, None)
            if j is None:
                return
            done[j].wait()
            if failed:
                return  # (the loop's error is raised)
            a, b = groups[j]
            parts[j] = _group_products(B, pneeds, buf, saved, x, w_ih, offsets, sizes, a, b,
                                       gx)

    def loop():
        try:
            loop_result.append(_backward(B, (True, needs[k], needs[k + 1], False), "LSTM",
                                         grads, saved, w_hh, None, None, sizes, reverse, True,
                                         buf=buf, on_step=on_step))
        except BaseException:  # (a failed loop must not leave the products waiting)
            failed.append(True)
            for e in done:
                e.set()
            raise
        products()

    bounds = B.chunk_bounds(2, 1 << 30)
    if len(bounds) == 2:
        B.run_chunks(lambda lo, hi: loop() if lo == 0 else products(), bounds)
    else:
        loop()
    dw_ih, db, dw_hh = _sum_parts(parts)
    d_init = loop_result[0][1:3]
    return (gx, dw_ih) + ((db,) if has_bias else ()) + tuple(d_init) + (dw_hh,)


def _layer_inputs_as_seq(ns, inputs, has_bias):
    """(xw, the sequence primitive's inputs (xw, h0, c0, w_hh)) of the layer's inputs."""
    x, w_ih, b_ih, init, w_hh = _layer_unpack(inputs, has_bias)
    xw = _projection(ns, x, w_ih, b_ih)
    return xw, (xw, *init, w_hh)


def _layer_vjp(ns, needs, grads, out, *inputs, sizes, reverse, has_bias, cache):
    x, w_ih = inputs[0], inputs[1]
    k = 2 + has_bias
    xw, seq = _layer_inputs_as_seq(ns, inputs, has_bias)
    sneeds = (any(needs[:k]), needs[k], needs[k + 1], needs[k + 2])
    g = _seq_vjp(ns, sneeds, grads, out, *seq, mode="LSTM", sizes=sizes, reverse=reverse,
                 has_bias=False, has_proj=False, cache=cache)
    g_xw = g[0]
    gx = ns.matmul(g_xw, w_ih) if needs[0] else None
    gw = ns.matmul(ns.matrix_transpose(g_xw), x) if needs[1] else None
    gb = (ns.sum(g_xw, axis=0) if needs[2] else None,) if has_bias else ()
    return (gx, gw) + gb + tuple(g[1:])


def _layer_jvp(ns, tangents, out, *inputs, sizes, reverse, has_bias, cache):
    x, w_ih = inputs[0], inputs[1]
    k = 2 + has_bias
    t = _zero_filled(ns, tangents, inputs)
    txw = ns.matmul(t[0], ns.matrix_transpose(w_ih)) + ns.matmul(x, ns.matrix_transpose(t[1]))
    if has_bias:
        txw = txw + t[2]
    _, seq = _layer_inputs_as_seq(ns, inputs, has_bias)
    return _seq_jvp(ns, (txw, *t[k:]), out, *seq, mode="LSTM", sizes=sizes, reverse=reverse,
                    has_bias=False, has_proj=False, cache=cache)


_layer_prim = Primitive("lstm_layer", _layer_fwd, _layer_vjp, _layer_jvp,
                        vjp_storage=_layer_vjp_storage, saves_output=False, nout=3)
_layer_prim.batch = _vb.unsupported("the fused LSTM layer kernel", "run the module on the "
                                    "whole batch, or call LSTMCell inside vmap")


def lstm_layer(x: Tensor, w_ih: Tensor, b_ih, states, w_hh: Tensor, batch_sizes,
               reverse: bool = False):
    """One LSTM layer and direction, its input projection included, as one node:
    ``rnn_sequence('LSTM', x @ w_ih^T + b_ih, states, w_hh, None, None, batch_sizes,
    reverse)`` (``x`` (N, I) in packed row order, ``b_ih`` (4H,) or None: both biases
    summed).  Returns ``(output (N, H), h_n, c_n)``."""
    if x.ndim != 2 or w_ih.ndim != 2 or x.shape[1] != w_ih.shape[1]:
        raise ValueError(f"lstm_layer: expected x (N, I) and w_ih (4H, I), got shapes "
                         f"{tuple(x.shape)} and {tuple(w_ih.shape)}")
    if w_ih.shape[0] != w_hh.shape[0] or (b_ih is not None and
                                          tuple(b_ih.shape) != (w_ih.shape[0],)):
        raise ValueError(f"lstm_layer: w_ih {tuple(w_ih.shape)}, w_hh {tuple(w_hh.shape)} and "
                         f"b_ih {None if b_ih is None else tuple(b_ih.shape)} disagree")
    xw_shape = (x.shape[0], w_ih.shape[0])
    _check_sequence("LSTM", xw_shape, x.dtype, states, w_hh, None, None, batch_sizes)
    if any(t.dtype != x.dtype for t in (w_ih, *(() if b_ih is None else (b_ih,)))):
        raise TypeError(f"lstm_layer: expected one floating dtype, got {x.dtype}, "
                        f"{w_ih.dtype}{'' if b_ih is None else ', ' + str(b_ih.dtype)}")
    sizes = tuple(int(b) for b in batch_sizes)
    inputs = (x, w_ih) + (() if b_ih is None else (b_ih,)) + tuple(states) + (w_hh,)
    return _layer_prim(*inputs, sizes=sizes, reverse=bool(reverse), has_bias=b_ih is not None,
                       cache={})

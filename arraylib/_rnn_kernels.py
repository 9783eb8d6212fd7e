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
  forward mode) recompute the loop from the inputs and run the same recurrences.

Modes and gate orders are PyTorch's: 'LSTM' (input, forget, cell, output; ``w_hr``
projects ``h`` when ``proj_size > 0``), 'GRU' (reset, update, new), 'RNN_TANH',
'RNN_RELU'.
"""
from __future__ import annotations

import contextlib

from ._core import _batching as _vb
from ._core._primitive import Primitive
from ._core._tensor import Tensor

__all__ = ["lstm_cell", "gru_cell", "rnn_sequence"]


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


def _forward(ns, mode, xw, init, w_hh, b_hh, w_hr, sizes, reverse, raw=False):
    """The loop: (packed outputs, final states, saved) with ``saved[t]`` = (states before
    step t, acts, the unprojected h).  ``raw``: on storage, with the in-place steps."""
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


def _backward(ns, needs, mode, grads, saved, w_hh, b_hh, w_hr, sizes, reverse, raw=False):
    """Backpropagation through time over ``saved``: the cotangents of the primitive's
    inputs (xw, initial states, w_hh, [b_hh], [w_hr]).  ``raw``: ``saved`` came from the
    storage loop (its in-place steps)."""
    offsets = _offsets(sizes)
    g_out, g_final = grads[0], list(grads[1:])
    n_t = len(sizes)
    dxw, dgh, dhs = [None] * n_t, [None] * n_t, [None] * n_t
    matmul = ns.matmul
    buf = None
    if raw and mode in _RAW:  # the gates' cotangents written in place, step by step
        fast = _RAW[mode][1]
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


def rnn_sequence(mode: str, xw: Tensor, states, w_hh: Tensor, b_hh, w_hr, batch_sizes,
                 reverse: bool = False):
    """The time loop of one recurrent layer and direction as one node.

    ``xw`` (N, G): ``x W_ih^T + b_ih`` of every step in packed row order; ``states``: the
    initial ``(h0,)`` (``(h0, c0)`` for 'LSTM'), each (batch, *); ``w_hh`` (G, P),
    ``b_hh`` (G,) or None, ``w_hr`` (P, H) or None (LSTM projection); ``batch_sizes``:
    the rows of each step, non-increasing; ``reverse``: run last step to first.
    Returns ``(output (N, P), h_n[, c_n])``, the final states of every row."""
    if mode not in _MODES:
        raise ValueError(f"rnn_sequence: unknown mode {mode!r}, expected one of "
                         f"{sorted(_MODES)}")
    sizes = tuple(int(b) for b in batch_sizes)
    if not sizes or sizes[-1] < 1 or any(a < b for a, b in zip(sizes, sizes[1:])):
        raise ValueError(f"rnn_sequence: batch sizes must be positive and non-increasing, "
                         f"got {sizes}")
    if sum(sizes) != xw.shape[0]:
        raise ValueError(f"rnn_sequence: batch sizes {sizes} sum to {sum(sizes)}, but xw has "
                         f"shape {tuple(xw.shape)}")
    if w_hr is not None and mode != "LSTM":
        raise ValueError(f"rnn_sequence: a projection (w_hr) needs mode 'LSTM', got {mode!r}")
    inputs = (xw, *states, w_hh) + ((b_hh,) if b_hh is not None else ()) + \
        ((w_hr,) if w_hr is not None else ())
    if any(t.dtype != xw.dtype for t in inputs):
        raise TypeError("rnn_sequence: expected one floating dtype, got "
                        f"{[str(t.dtype) for t in inputs]}")
    if len(states) != (2 if mode == "LSTM" else 1) or \
            any(st.ndim != 2 or st.shape[0] != sizes[0] for st in states):
        raise ValueError(f"rnn_sequence: mode {mode!r} expects "
                         f"{2 if mode == 'LSTM' else 1} initial state(s) of {sizes[0]} rows, got "
                         f"shapes {[tuple(st.shape) for st in states]}")
    prim = _seq_prims[1 + len(states)]
    return prim(*inputs, mode=mode, sizes=sizes, reverse=bool(reverse),
                has_bias=b_hh is not None, has_proj=w_hr is not None, cache={})

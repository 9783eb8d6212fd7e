"""The fused kernels of ``arraylib.nn``: one declared module, used by ``nn.functional``.

``nn``, ``optim``, ``data`` and ``distributed`` are written on the public namespace;
this module is the one private module they may import.  It holds the operations
whose speed or memory asks for a primitive of their own (each one graph node, with
its rules side by side), and the few storage-level helpers they need:

- ``conv(x, w, stride, dilation, groups, bias)``: N-d cross-correlation, by rows
  (ungrouped, undilated on the first spatial axis) or by im2col, bias fused;
- ``max_pool(x, window_shape, axes, strides, dilation)``: a running maximum over
  window positions, the gradient to each window's first maximum;
- ``relu(x)``, ``erf(x)`` (exact GELU; the standard has no ``erf``: fdlibm's rational
  approximations on the standard namespace, so no SciPy);
- ``binary_cross_entropy(p, y)``: element-wise BCE with PyTorch's clamps (log at -100,
  input gradient finite at 0 and 1);
- ``linear(x, w, b)``: ``x @ w.T + b`` as one node, and ``fusable_linear(x, w, b)``,
  the test that ``nn.functional.linear`` runs before taking it;
- ``cross_entropy(x, t, ignore_index, reduction)``: log-softmax + NLL of class
  indices (the target's logit selected, so -inf or overflowing logits of other classes
  keep the loss finite), its plain backward reusing the forward's softmax;
- ``scaled_dot_product_attention(q, k, v, mask, drop, scale=, causal=)``: attention as
  one node (its softmax saved, the causal mask built on storage, no mask operand);
- ``gelu(x)`` (float32: a rational fit of the normal CDF; float64: the exact ``erf``),
  ``layer_norm(x, k, w, b, eps)`` and ``dropout(x, u, p)`` (its backward needs only the
  mask), one node each;
- ``lstm_cell``, ``gru_cell`` and ``rnn_sequence``, re-exported from
  ``arraylib._rnn_kernels`` (a layer's whole time loop as one node);
- ``make_subclass(cls, data)``: a leaf of a ``Tensor`` subclass sharing ``data``'s
  storage (how ``nn.Parameter`` and ``nn.Buffer`` are made);
- and, re-exported for ``nn.functional``, the sliding-window primitives of
  ``arraylib._windows`` (``sliding_windows``, ``fold_windows``, ``pad_constant``, ``crop``).

Rules follow ``_core._primitive``: ``vjp(ns, needs, g, out, *inputs)`` serves both
arraylib's namespace (tensors) and the backend (storage); ``vjp_storage`` exists only
where the storage algorithm differs (convolution by rows and reusing its im2col copy,
disjoint max-pool, cross-entropy reusing its forward).
"""
from __future__ import annotations

import itertools
import math

from ._core import _batching as _vb
from . import _dtypes
from ._core import _autocast as autocast_state  # noqa: F401 (for nn.functional)
from ._core._primitive import Primitive, apply as _apply, apply1, apply2, linear_jvp
from ._core._inplace import bump_version, storage_updates_allowed
from ._core._tensor import Tensor, _new
from ._rnn_kernels import gru_cell, lstm_cell, rnn_sequence  # noqa: F401 (for nn)
from ._random import dropout_mask  # noqa: F401 (for nn)
from ._serialization import register_parameter_class  # noqa: F401 (for nn.Parameter)
from ._windows import (_norm, _pad_vjp, _window_counts, _windows_fwd, crop, fold_on,
                       fold_windows, pad_constant, pad_on, sliding_windows, windows_on)

__all__ = ["conv", "max_pool", "relu", "erf", "linear", "fusable_linear", "cross_entropy",
           "binary_cross_entropy", "unit_interval",
           "make_subclass", "register_parameter_class", "sliding_windows", "fold_windows",
           "pad_constant", "crop"]


_NATIVE_IDS = _dtypes._native_to_dtype  # ids of the long-lived dtype objects (memo keys)

def _prod(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def _detached(x):
    """``x`` outside the graph: a constant for masks a rule derives from its operands."""
    return x.detach() if isinstance(x, Tensor) else x


def _finite(ns, data):
    """Whether ``data`` holds only finite values, in one pass: an inf or a NaN makes the
    sum (of squares, on storage: ``Backend.all_finite``) non-finite; a finite sum that
    overflows only costs the slower path."""
    if isinstance(data, Tensor):
        if _vb.is_batched(data):  # (inside vmap: no data-dependent test; where is exact)
            return False
        return math.isfinite(float(ns.sum(data.detach())))
    return ns.all_finite(data)


def _keep(ns, g, mask, finite):
    """``g`` where the 0/1 ``mask`` is 1, else 0, in namespace ``ns``: ``g * mask`` when ``g``
    is finite (ten times faster than ``where`` in NumPy), ``where`` otherwise (inf * 0 is
    NaN, which must not reach the positions the mask drops)."""
    if finite:
        return g * mask
    return ns.where(mask != 0, g, ns.zeros_like(g))


# -- Parameter / Buffer construction ---------------------------------------------------
def make_subclass(cls, data: Tensor) -> Tensor:
    """A leaf of the ``Tensor`` subclass ``cls`` sharing ``data``'s storage and version
    counter (in-place updates of either are seen by both); it does not require grad."""
    t = _new(data._data, data._device, cls)
    t._vc = data._version_counter()
    return t


# -- erf (exact GELU), on the standard namespace only ---------------------------------
# Sun's fdlibm s_erf.c (Copyright (C) 1993 Sun Microsystems, Inc.; "Permission to use, copy,
# modify, and distribute this software is freely granted, provided that this notice is
# preserved."): rational approximations on [0, 0.84375), [0.84375, 1.25), [1.25, 1/0.35),
# [1/0.35, 6), accurate to float64 rounding (< 1 ulp); evaluated element-wise on every
# interval and selected, so it runs on any backend (no SciPy).
_TWO_OVER_SQRT_PI = 1.1283791670955126
_ERX = 8.45062911510467529297e-01
_EFX8 = 1.02703333676410069053e+00
_PP = (1.28379167095512558561e-01, -3.25042107247001499370e-01, -2.84817495755985104766e-02,
       -5.77027029648944159157e-03, -2.37630166566501626084e-05)
_QQ = (1.0, 3.97917223959155352819e-01, 6.50222499887672944485e-02, 5.08130628187576562776e-03,
       1.32494738004321644526e-04, -3.96022827877536812320e-06)
_PA = (-2.36211856075265944077e-03, 4.14856118683748331666e-01, -3.72207876035701323847e-01,
       3.18346619901161753674e-01, -1.10894694282396677476e-01, 3.54783043256182359371e-02,
       -2.16637559486879084300e-03)
_QA = (1.0, 1.06420880400844228286e-01, 5.40397917702171048937e-01, 7.18286544141962662868e-02,
       1.26171219808761642112e-01, 1.36370839120290507362e-02, 1.19844998467991074170e-02)
_RA = (-9.86494403484714822705e-03, -6.93858572707181764372e-01, -1.05586262253232909814e+01,
       -6.23753324503260060396e+01, -1.62396669462573470355e+02, -1.84605092906711035994e+02,
       -8.12874355063065934246e+01, -9.81432934416914548592e+00)
_SA = (1.0, 1.96512716674392571292e+01, 1.37657754143519042600e+02, 4.34565877475229228821e+02,
       6.45387271733267880336e+02, 4.29008140027567833386e+02, 1.08635005541779435134e+02,
       6.57024977031928170135e+00, -6.04244152148580987438e-02)
_RB = (-9.86494292470009928597e-03, -7.99283237680523006574e-01, -1.77579549177547519889e+01,
       -1.60636384855821916062e+02, -6.37566443368389627722e+02, -1.02509513161107724954e+03,
       -4.83519191608651397019e+02)
_SB = (1.0, 3.03380607434824582924e+01, 3.25792512996573918826e+02, 1.53672958608443695994e+03,
       3.19985821950859553908e+03, 2.55305040643316442583e+03, 4.74528541206955367215e+02,
       -2.24409524465858183362e+01)


def _poly(z, coefs):
    """``c0 + c1 z + c2 z^2 + ...`` by Horner's rule."""
    r = coefs[-1]
    for c in coefs[-2::-1]:
        r = r * z + c
    return r


def _erf_fwd(B, x):
    a = B.abs(x)
    one = B.ones((), dtype=x.dtype, device=B.native_device)
    # |x| < 0.84375: x + x * P(x^2) / Q(x^2); below 2**-28 (and for subnormals) x + efx x
    # (each interval evaluated on its own clipped copy: no overflow warnings elsewhere)
    xs = B.minimum(B.maximum(x, -one), one)
    z = xs * xs
    small = xs + xs * (_poly(z, _PP) / _poly(z, _QQ))
    tiny = 0.125 * (8.0 * xs + _EFX8 * xs)
    small = B.where(a < 3.725290298461914e-09, tiny, small)
    # 0.84375 <= |x| < 1.25: erx + P(|x| - 1) / Q(|x| - 1)
    s = B.minimum(a, 1.25 * one) - 1.0
    mid = _ERX + _poly(s, _PA) / _poly(s, _QA)
    # 1.25 <= |x| < 6: 1 - exp(-x^2 - 0.5625 + R/S) / |x|, with x^2 split exactly
    # (x = hi + lo, hi of 26 bits: hi*hi is exact) as fdlibm does
    b = B.minimum(B.maximum(a, 1.25 * one), 6.0 * one)
    w = 1.0 / (b * b)
    rs = B.where(b < 1 / 0.35, _poly(w, _RA) / _poly(w, _SA), _poly(w, _RB) / _poly(w, _SB))
    split = 134217729.0 if x.dtype == B.float64 else 4097.0  # 2**27 + 1 (2**12 + 1)
    c = b * split
    hi = c - (c - b)
    r = B.exp(-hi * hi - 0.5625) * B.exp((hi - b) * (hi + b) + rs)
    big = B.where(a < 6.0, one - r / b, one)
    mag = B.where(a < 1.25, mid, big)
    out = B.where(a < 0.84375, small, B.where(x < 0, -mag, mag))
    return B.where(a == a, out, x)  # NaN stays NaN


_erf_prim = Primitive(
    "erf", _erf_fwd,
    vjp=lambda ns, needs, g, out, x: (g * (ns.exp(-(x * x)) * _TWO_OVER_SQRT_PI),),
    jvp=lambda ns, tangents, out, x: tangents[0] * (ns.exp(-(x * x)) * _TWO_OVER_SQRT_PI),
    saves_output=False)
_erf_prim.batch = _vb.elementwise_rule(_erf_prim)


def erf(x: Tensor) -> Tensor:
    """The error function, element-wise, for real floating-point tensors (fdlibm's
    rational approximations on the standard namespace: no SciPy)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"erf: expected a Tensor, got {type(x).__name__}")
    if x.dtype not in _dtypes.real_floating_set:
        raise TypeError(f"erf: expected a real floating-point tensor, got {x.dtype}")
    return _erf_prim(x)


# -- the one-node losses' vmap rule ---------------------------------------------------
def _loss_batch_rule(prim, divide=False):
    """vmap rule of a one-node loss of two operands: the unreduced loss of the batched
    operands, then each example reduced (``divide``: the mean as a division, else times
    the reciprocal, as that loss's own forward rounds it)."""
    def rule(ns, bdims, x, t, *, reduction, **params):
        x, t = _vb.batched_all(ns, bdims, (x, t))
        if "cache" in params:
            params["cache"] = {}  # (the new node's own)
        loss = _apply(prim, (x, t), {**params, "reduction": "none"})
        if reduction == "none":
            return loss
        total = ns.sum(loss, axis=tuple(range(1, loss.ndim)))
        if reduction == "sum":
            return total
        if reduction == "batchmean":
            return total / (x.shape[1] if x.ndim > 1 else 1)
        n = _prod(loss.shape[1:])
        return total / n if divide else total * (1.0 / n)
    return rule


# -- binary cross-entropy of probabilities: PyTorch's clamps -------------------------
_BCE_EPS = 1e-12  # PyTorch's bound on p (1 - p) in the input gradient


def _clamped_logs(ns, x):
    """``max(log x, -100)`` and ``max(log(1 - x), -100)`` (PyTorch's clamp)."""
    lo = ns.full_like(x, -100.0)
    return ns.maximum(ns.log(x), lo), ns.maximum(ns.log1p(-x), lo)


def _reduced(ns, loss, reduction):
    """``loss`` summed, or averaged as ``mean`` does (the sum times ``1 / n``)."""
    if reduction == "none":
        return loss
    total = ns.sum(loss)
    return total if reduction == "sum" else total * (1.0 / _prod(loss.shape))


def _bce_fwd(B, x, t, *, reduction):
    if B.dtype_of(t) != B.dtype_of(x) or t.shape != x.shape:
        log_p, log_q = _clamped_logs(B, x)
        return _reduced(B, -(t * log_p + (1.0 - t) * log_q), reduction)
    # (t - 1) log q - t log p, PyTorch's order, on fresh temporaries in place
    log_p = B.maximum(B.log(x), -100.0)
    r = t - 1.0
    r *= B.maximum(B.log1p(-x), -100.0)
    log_p *= t
    r -= log_p
    return _reduced(B, r, reduction)


def unit_interval(x):
    """Whether every element of the plain tensor ``x`` lies in [0, 1] (NaN does not), read
    from its storage; None for other tensors (the caller tests them itself)."""
    if x.__class__ is not Tensor:
        return None
    d = x._data
    if not _prod(d.shape):
        return True
    B = x._device._backend
    return bool(B.min(d) >= 0) and bool(B.max(d) <= 1)


def _bce_dx(ns, x, t):
    """d loss / d x = (x - t) / max(x (1 - x), eps): finite at 0 and 1 (PyTorch's rule)."""
    return (x - t) / ns.maximum(x * (1.0 - x), ns.full_like(x, _BCE_EPS))


def _bce_dt(ns, x):
    """d loss / d t = log(1 - x) - log x, unclamped (PyTorch's rule: infinite at 0 and 1)."""
    return ns.log1p(-x) - ns.log(x)


def _bce_vjp(ns, needs, g, out, x, t, *, reduction):
    if reduction == "mean":
        g = g * (1.0 / _prod(x.shape))
    gx = g * _bce_dx(ns, x, t) if needs[0] else None
    gt = g * _bce_dt(ns, x) if needs[1] else None
    return gx, gt


def _bce_jvp(ns, tangents, out, x, t, *, reduction):
    r = None
    if tangents[0] is not None:
        r = tangents[0] * _bce_dx(ns, x, t)
    if tangents[1] is not None:
        s = tangents[1] * _bce_dt(ns, x)
        r = s if r is None else r + s
    return _reduced(ns, ns.broadcast_to(r, tuple(x.shape)), reduction)


_bce_prim = Primitive("binary_cross_entropy", _bce_fwd, _bce_vjp, _bce_jvp, saves_output=False)
_bce_prim.batch = _loss_batch_rule(_bce_prim)
_BCE_PARAMS = {r: {"reduction": r} for r in ("none", "mean", "sum")}  # (never mutated)


def binary_cross_entropy(x: Tensor, t: Tensor, reduction: str = "none") -> Tensor:
    """``-(t max(log x, -100) + (1 - t) max(log(1 - x), -100))`` for probabilities ``x``
    and targets ``t`` of one shape, dtype and device, reduced by ``reduction`` ('none',
    'mean', 'sum'; 'mean' as ``mean``: the sum times ``1 / n``) in the same node, with
    PyTorch's gradient ``(x - t) / max(x (1 - x), 1e-12)``."""
    return apply2(_bce_prim, x, t, _BCE_PARAMS[reduction])


# -- KL divergence of log-probabilities and probabilities: one node, reduction included -------
def _kl_terms(ns, x, t):
    """(``t == 0``, ``t`` with 1 there, ``log`` of that minus ``x``): ``t log t = 0`` at
    ``t = 0`` and NaN below (PyTorch's xlogy)."""
    zero = t == 0
    w = ns.where(zero, ns.ones_like(t), t)
    return zero, w, ns.log(w) - x


def _kl_fwd(B, x, t, *, reduction):
    _, _, zero, one = _constants(B, t)
    d = B.log(B.where(t == zero, one, t))
    d -= x
    d *= t  # (the loss t (log t - x), on the temporary)
    if reduction == "batchmean":
        return B.sum(d) / (x.shape[0] if x.ndim else 1)
    return _reduced(B, d, reduction)


def _kl_scaled(g, x, reduction):
    if reduction == "batchmean":
        return g / (x.shape[0] if x.ndim else 1)
    return g * (1.0 / _prod(x.shape)) if reduction == "mean" else g


def _kl_vjp(ns, needs, g, out, x, t, *, reduction):
    """The composite's cotangents: ``-g t`` for ``x``; ``g d + (g t) / w`` (0 where
    ``t = 0``) for ``t``."""
    g = _kl_scaled(g, x, reduction)
    gt = g * t
    gx = -gt if needs[0] else None
    if not needs[1]:
        return gx, None
    zero, w, d = _kl_terms(ns, x, t)
    return gx, g * d + ns.where(zero, ns.zeros_like(gt), gt * ns.reciprocal(w))


def _kl_jvp(ns, tangents, out, x, t, *, reduction):
    dx, dt = tangents
    zero, w, d = _kl_terms(ns, x, t)
    tan = None if dx is None else -(t * dx)
    if dt is not None:
        dd = (d + ns.where(zero, ns.zeros_like(t), t * ns.reciprocal(w))) * dt
        tan = dd if tan is None else tan + dd
    if reduction == "none":
        return tan
    return _kl_scaled(ns.sum(tan), x, reduction)


_kl_prim = Primitive("kl_div", _kl_fwd, _kl_vjp, _kl_jvp, saves_output=False)
_kl_prim.batch = _loss_batch_rule(_kl_prim)
_KL_PARAMS = {r: {"reduction": r} for r in ("none", "mean", "sum", "batchmean")}  # (shared)


def kl_div_kernel(x, t, reduction: str):
    """``t (log t - x)`` (``t log t = 0`` at ``t = 0``) of log-probabilities ``x`` and
    probabilities ``t`` of one shape, real floating-point dtype and device, reduced by
    ``reduction`` ('none', 'mean', 'sum', 'batchmean') in the node; None for any other
    operands (the caller's composite)."""
    params = _KL_PARAMS.get(reduction)
    if params is None or not _activation_operand(x) or t.__class__ is not Tensor:
        return None
    a, b = x._data, t._data
    if a.dtype is not b.dtype or a.shape != b.shape or x._device is not t._device:
        return None
    return apply2(_kl_prim, x, t, params)


# -- binary cross-entropy of logits: one node, reduction included ------------------------------
def _bce_logits_fwd(B, x, t, *, reduction, cache):
    sp = cache["sp"] = B.logaddexp(-x, 0.0)  # softplus(-x) = -log sigmoid(x)
    return _reduced(B, (1.0 - t) * x + sp, reduction)


def _bce_logits_rule(ns, needs, g, x, t, sig, reduction):
    """Cotangents ``g (sigmoid(x) - t)`` and ``-g x`` (``g`` scaled for the mean)."""
    if reduction == "mean":
        g = g * (1.0 / _prod(x.shape))
    return (g * (sig - t) if needs[0] else None), (-(g * x) if needs[1] else None)


def _bce_logits_vjp(ns, needs, g, out, x, t, *, reduction, cache):
    return _bce_logits_rule(ns, needs, g, x, t, ns.exp(-ns.logaddexp(-x, 0.0)), reduction)


def _bce_logits_vjp_storage(B, needs, g, out, x, t, *, reduction, cache):
    return _bce_logits_rule(B, needs, g, x, t, B.exp(-cache["sp"]), reduction)  # (forward's)


def _bce_logits_jvp(ns, tangents, out, x, t, *, reduction, cache):
    tx, tt = tangents
    r = None if tx is None else tx * (ns.exp(-ns.logaddexp(-x, 0.0)) - t)
    if tt is not None:
        r = -(tt * x) if r is None else r - tt * x
    return _reduced(ns, r, reduction)  # (r has the operands' shape)


_bce_logits_prim = Primitive("binary_cross_entropy_with_logits", _bce_logits_fwd,
                             _bce_logits_vjp, _bce_logits_jvp,
                             vjp_storage=_bce_logits_vjp_storage, saves_output=False)
_bce_logits_prim.batch = _loss_batch_rule(_bce_logits_prim)


def bce_logits_kernel(x, t, reduction: str):
    """``(1 - t) x + log(1 + exp(-x))`` of logits ``x`` and targets ``t``, two non-empty
    real floating-point tensors of one shape, dtype and device, reduced (``reduction``
    'none', 'mean' or 'sum'), as one node (its backward reuses the forward's softplus);
    None for any other operands (the caller's general path)."""
    if not _activation_operand(x) or t.__class__ is not Tensor or x._device is not t._device \
            or reduction not in _LOSS_REDUCTIONS:
        return None
    xd, td = x._data, t._data
    if (td.dtype is not xd.dtype and td.dtype != xd.dtype) or td.shape != xd.shape \
            or not xd.size:
        return None
    return apply2(_bce_logits_prim, x, t, {"reduction": reduction, "cache": {}})


# -- convolution: im2col (strided view) + one matrix product -------------------------
def _conv_fwd(B, x, w, *b, stride, dilation, groups, cache):
    if groups == 1:
        plan = _gather_plan(B, tuple(x.shape), tuple(w.shape[2:]), stride, dilation)
        if plan is not None:
            return _conv_fwd_gather(B, x, w, *b, plan=plan, cache=cache)
    if groups == 1 and dilation[0] == 1:
        return _conv_fwd_by_rows(B, x, w, *b, stride=stride, dilation=dilation, cache=cache)
    # Layout: cols (G, C/G * K, N*L), channels-and-kernel major, so the im2col copy runs
    # along contiguous output rows; out = w (G, O/G, C/G*K) @ cols -> (O, N, *out).
    nd = x.ndim - 2
    kernel = tuple(w.shape[2:])
    sp = tuple(range(2, 2 + nd))
    ks = tuple(range(2 + nd, 2 + 2 * nd))
    win = _windows_fwd(B, x, window_shape=kernel, axes=sp, strides=stride, dilation=dilation,
                       in_shape=None)
    n, c = x.shape[:2]
    o = w.shape[0]
    out_sp = tuple(win.shape[2:2 + nd])
    L, K = _prod(out_sp), _prod(kernel)
    # groups == 1 stays 2-D: stacked matmuls with transposed operands miss BLAS in NumPy.
    gs = (groups,) if groups > 1 else ()
    cols = B.reshape(B.permute_dims(win, (1,) + ks + (0,) + sp), gs + (c // groups * K, n * L))
    out = B.matmul(B.reshape(w, gs + (o // groups, c // groups * K)), cols)
    if b:  # bias fused on the (O, N*L) product, a cheap row-wise add
        out = B.reshape(out, (o, n * L))
        out += B.reshape(b[0], (o, 1))
    out = B.permute_dims(B.reshape(out, (o, n) + out_sp), (1, 0) + sp)
    cache["cols"] = cols
    return out


# -- small ungrouped convolutions: im2col as one gather by a cached index ---------------
# On small inputs the strided-view im2col costs more in Python than the product: a cached
# flat index makes it one ``take``, and the input gradient one ``take`` + one sum (each
# input element's contributions, a zero for the window positions that miss it).
_GATHER_LIMIT = 1 << 13  # im2col elements up to which a convolution goes by the index
_GATHER_PLANS: dict = {}  # (backend, x shape, kernel, stride, dilation) -> plan or None


def _axis_term(B, n, coef, at, ndim, dtype):
    """``arange(n) * coef`` shaped to broadcast along axis ``at`` of ``ndim``."""
    shape = [1] * ndim
    shape[at] = n
    return B.reshape(B.arange(n, dtype=dtype, device=B.native_device) * coef, tuple(shape))


def _gather_plan(B, x_shape, kernel, stride, dilation):
    """(im2col index (C*K*N*L,), input-gradient index (N*C*S*K,), out spatial shape) of a
    small convolution, or None when its im2col matrix passes ``_GATHER_LIMIT``."""
    key = (id(B), x_shape, kernel, stride, dilation)
    plan = _GATHER_PLANS.get(key, key)
    if plan is not key:
        return plan
    nd = len(kernel)
    n, c, sp = x_shape[0], x_shape[1], x_shape[2:]
    out_sp = tuple(_window_counts(x_shape, kernel, range(2, 2 + nd), stride, dilation, "conv"))
    K, L = _prod(kernel), _prod(out_sp)
    plan = None
    if c * K * n * L <= _GATHER_LIMIT:
        plan = (_im2col_index(B, n, c, sp, kernel, out_sp, stride, dilation),
                _fold_index(B, n, c, sp, kernel, out_sp, stride, dilation), out_sp)
    if len(_GATHER_PLANS) >= 128:  # (two int64 indices of at most a few 10 KiB each)
        _GATHER_PLANS.clear()
    _GATHER_PLANS[key] = plan
    return plan


def _im2col_index(B, n, c, sp, kernel, out_sp, stride, dilation):
    """Flat input positions of the im2col matrix (C, *K, N, *out), raveled."""
    nd, dt = len(sp), B.native_dtype(_dtypes.int64)
    dims = 2 + 2 * nd
    steps = [1] * nd
    for a in range(nd - 2, -1, -1):
        steps[a] = steps[a + 1] * sp[a + 1]
    S = steps[0] * sp[0]
    idx = _axis_term(B, c, S, 0, dims, dt) + _axis_term(B, n, c * S, 1 + nd, dims, dt)
    for a in range(nd):
        idx = idx + _axis_term(B, kernel[a], dilation[a] * steps[a], 1 + a, dims, dt)
        idx = idx + _axis_term(B, out_sp[a], stride[a] * steps[a], 2 + nd + a, dims, dt)
    return B.reshape(idx, (-1,))


def _fold_index(B, n, c, sp, kernel, out_sp, stride, dilation):
    """For each input element (N, C, *S) and window position (*K), its place in the
    raveled (C*K + 1, N*L) product of the input gradient; the window positions that miss
    it point at the appended zero row (the first element past C*K*N*L)."""
    nd, dt = len(sp), B.native_dtype(_dtypes.int64)
    dims = 2 + 2 * nd
    K, L = _prod(kernel), _prod(out_sp)
    ksteps, osteps = [1] * nd, [1] * nd
    for a in range(nd - 2, -1, -1):
        ksteps[a] = ksteps[a + 1] * kernel[a + 1]
        osteps[a] = osteps[a + 1] * out_sp[a + 1]
    # row (c, *k) of C*K and column (n, *o) of N*L
    pos = _axis_term(B, c, K * n * L, 1, dims, dt) + _axis_term(B, n, L, 0, dims, dt)
    hit = None
    for a in range(nd):
        i = _axis_term(B, sp[a], 1, 2 + a, dims, dt)
        k = _axis_term(B, kernel[a], dilation[a], 2 + nd + a, dims, dt)
        q = i - k  # o * stride where this window position covers input i
        o = q // stride[a]
        ok = (q >= 0) & (q % stride[a] == 0) & (o < out_sp[a])
        hit = ok if hit is None else hit & ok
        pos = pos + (k // dilation[a]) * (ksteps[a] * n * L) + o * osteps[a]
    pos = B.where(hit, pos, B.asarray(c * K * n * L, dtype=_dtypes.int64))
    return B.reshape(pos, (-1,))


def _conv_fwd_gather(B, x, w, *b, plan, cache):
    idx, _, out_sp = plan
    n, o = x.shape[0], w.shape[0]
    cols = B.reshape(B.take(B.reshape(x, (-1,)), idx, axis=0), (-1, n * _prod(out_sp)))
    out = B.matmul(B.reshape(w, (o, -1)), cols)
    if b:
        out += B.reshape(b[0], (o, 1))
    cache["cols"], cache["plan"] = cols, plan
    if n == 1:  # (O, L) is already (1, O, *out) in memory
        return B.reshape(out, (1, o) + out_sp)
    nd = len(out_sp)
    return B.permute_dims(B.reshape(out, (o, n) + out_sp), (1, 0) + tuple(range(2, 2 + nd)))


def _conv_vjp_gather(B, needs, g, x, w, *b, cols, plan):
    """The three gradients (storage) of ``_conv_fwd_gather``."""
    nd = x.ndim - 2
    o = w.shape[0]
    g2 = B.reshape(B.permute_dims(g, (1, 0) + tuple(range(2, 2 + nd))), (o, -1))
    gx = gw = gb = None
    if b and needs[2]:
        gb = B.sum(g2, axis=1)
    if needs[1]:
        gw = B.reshape(B.matmul(g2, B.matrix_transpose(cols)), w.shape)
    if needs[0]:
        wt = B.zero_padded(B.matrix_transpose(B.reshape(w, (o, -1))), 0, cols.shape[0] + 1)
        gcols = B.reshape(B.matmul(wt, g2), (-1,))
        k = _prod(w.shape[2:])
        gx = B.reshape(B.sum(B.reshape(B.take(gcols, plan[1], axis=0), (-1, k)), axis=1),
                       x.shape)
    return (gx, gw, gb) if b else (gx, gw)


# -- convolution by rows (ungrouped, undilated on the first spatial axis) ---------------
# The input is expanded over every spatial axis but the first, as ``rows`` (H, C*Kr, M)
# (Kr: the kernel without its first axis; M: the batch and the output positions on the
# other axes): KH times less data than the full im2col matrix.  Its windows over the first
# axis, (H', KH*C*Kr, M), are a strided view of it, and output row h' is the product
# ``W (O, KH*C*Kr) @ windows[h']``: the forward and both gradients are each one batched
# product over output rows, with no copy of the windows.
#
# Layout: M orders the batch after the other positions, (*S', N), when the input is laid
# out batch-minor, so rows are read in contiguous runs; otherwise (N, *S').  The output is
# always returned as a view of a batch-minor (H', O, *S', N) array: the element-wise and
# pooling layers that follow keep that layout and run along the batch, the next
# convolution reads it in long runs, and its gradient arrives in the product's layout.
def _to_rows_order(nd, batch_minor):
    """Permutation of (N, X, H, *S) to (H, X, *M)."""
    rest = tuple(range(3, 2 + nd))
    return (2, 1) + (rest + (0,) if batch_minor else (0,) + rest)


def _inverse(perm):
    return tuple(sorted(range(len(perm)), key=perm.__getitem__))


def _rows_of(B, x, kernel, stride, dilation, batch_minor):
    nd = x.ndim - 2
    n, c, h = x.shape[:3]
    rest = tuple(range(3, 2 + nd))
    win = x
    if rest:  # (N, C, H, *S', *Kr)
        win = _windows_fwd(B, x, window_shape=kernel[1:], axes=rest, strides=stride[1:],
                           dilation=dilation[1:], in_shape=None)
    order = _to_rows_order(nd, batch_minor)
    rows = B.permute_dims(win, order[:2] + tuple(range(2 + nd, 1 + 2 * nd)) + order[2:])
    return B.reshape(rows, (h, c * _prod(kernel[1:]), n * _prod(win.shape[3:2 + nd])))


def _row_windows(B, rows, kh, stride):
    """(H', KH*C*Kr, M) windows of ``rows`` over its first axis: a view of it."""
    v = _windows_fwd(B, rows, window_shape=(kh,), axes=(0,), strides=(stride,),
                     dilation=(1,), in_shape=None)  # (H', C*Kr, M, KH)
    return B.reshape(B.permute_dims(v, (0, 3, 1, 2)), (v.shape[0], kh * v.shape[1], v.shape[2]))


def _weight_rows(B, w, rows):
    """``w`` (O, C, KH, *Kr) as (``rows``, KH*C*Kr), zero rows appended to the O used."""
    w2 = B.reshape(B.permute_dims(w, (0, 2, 1) + tuple(range(3, w.ndim))), (w.shape[0], -1))
    return B.zero_padded(w2, 0, rows)


def _conv_fwd_by_rows(B, x, w, *b, stride, dilation, cache):
    nd = x.ndim - 2
    n, o = x.shape[0], w.shape[0]
    minor = B.batch_minor(x)
    rows = _rows_of(B, x, tuple(w.shape[2:]), stride, dilation, minor)
    op = B.gemm_rows(o)  # zero rows keep the product on the BLAS kernels' fast sizes
    out = B.matmul(_weight_rows(B, w, op), _row_windows(B, rows, w.shape[2], stride[0]))
    if op != o:
        out = out[:, :o, :]
    if b:  # (H', O, M): a row-wise add
        out += B.reshape(b[0], (o, 1))
    cache["rows"], cache["batch_minor"] = rows, minor
    hp, s = out.shape[0], _out_rest(x.shape, w.shape, stride, dilation)
    if minor or nd == 1:
        out = B.reshape(out, (hp, o) + s + (n,))
    else:  # (H', O, N, *S') copied to (H', O, *S', N)
        out = B.reshape(out, (hp, o, n) + s)
        out = B.reshape(B.permute_dims(out, (0, 1) + tuple(range(3, 2 + nd)) + (2,)),
                        (hp, o) + s + (n,), copy=True)
    return B.permute_dims(out, _inverse(_to_rows_order(nd, True)))


def _out_rest(x_shape, w_shape, stride, dilation):
    """Output positions of a convolution on every spatial axis but the first."""
    nd = len(x_shape) - 2
    return tuple(_window_counts(x_shape[:2] + x_shape[3:], w_shape[3:], range(2, 1 + nd),
                                stride[1:], dilation[1:], "conv"))


def _conv_vjp_by_rows(B, needs, g, x, w, *b, stride, dilation, rows, batch_minor):
    """The three gradients (storage) of ``_conv_fwd_by_rows``."""
    nd = x.ndim - 2
    o, kh = w.shape[0], w.shape[2]
    op = B.gemm_rows(o)
    hp, m = g.shape[2], rows.shape[2]
    # g as (H', O, M), zero rows appended up to the O of the forward's product (a free view
    # when g arrives in the forward's output layout and needs no zero rows)
    g_rows = B.zero_padded(B.permute_dims(g, _to_rows_order(nd, batch_minor)), 1, op)
    g_rows = B.reshape(g_rows, (hp, op, m))
    gx = gw = gb = None
    if b and needs[2]:
        gb = B.sum(B.sum(g_rows, axis=2), axis=0)[:o]
    if needs[1]:  # sum over output rows of windows[h'] @ g[h'].T: (KH*C*Kr, O)
        v = _row_windows(B, rows, kh, stride[0])
        gw = B.sum(B.matmul(v, B.matrix_transpose(g_rows)), axis=0)[:, :o]
        gw = B.reshape(B.matrix_transpose(gw), (o, kh, x.shape[1]) + tuple(w.shape[3:]))
        gw = B.permute_dims(gw, (0, 2, 1) + tuple(range(3, 2 + nd)))
    if needs[0]:
        gx = _conv_input_grad_by_rows(B, g_rows, w, x.shape, stride, dilation, rows.shape,
                                      batch_minor)
    return (gx, gw, gb) if b else (gx, gw)


def _conv_input_grad_by_rows(B, g_rows, w, x_shape, stride, dilation, rows_shape,
                             batch_minor):
    """Input gradient (storage) of ``_conv_fwd_by_rows`` from ``g_rows`` (H', O', M): one
    batched product gives the gradient of every row window, folded back over the first
    axis and then over the other axes, each fold in the layout of its source."""
    nd = len(x_shape) - 2
    n, c, h = x_shape[:3]
    kh, kr = w.shape[2], tuple(w.shape[3:])
    _, ck, m = rows_shape
    gv = B.matmul(B.matrix_transpose(_weight_rows(B, w, g_rows.shape[1])), g_rows)
    gv = B.reshape(gv, (gv.shape[0], kh, ck, m))  # -> windows (H', C*Kr, M, KH)
    gr = B.fold_windows(B.permute_dims(gv, (0, 2, 3, 1)), (h, ck, m), (0,), stride[:1], (1,))
    order = _to_rows_order(nd, batch_minor)
    if nd > 1:  # (H, C, *Kr, *M) -> windows (H, C, *M', *Kr) -> folded (H, C, *M)
        nr = nd - 1
        s = _out_rest(x_shape, w.shape, stride, dilation)
        m_win = tuple(s[a - 3] if a else n for a in order[2:])
        m_out = tuple(x_shape[a] for a in order[2:])
        s_at = tuple(2 + i for i, a in enumerate(order[2:]) if a)
        gr = B.reshape(gr, (h, c) + kr + m_win)
        gwin = B.permute_dims(gr, (0, 1) + tuple(range(2 + nr, 3 + 2 * nr))
                              + tuple(range(2, 2 + nr)))
        gr = B.fold_windows(gwin, (h, c) + m_out, s_at, stride[1:], dilation[1:])
    return B.permute_dims(gr, _inverse(order))


def _im2col(ns, x, kernel, stride, dilation, groups):
    """The im2col matrix of ``x`` in ``_conv_fwd``'s layout, in namespace ``ns``
    (differentiable on tensors, for higher-order gradients)."""
    nd = x.ndim - 2
    sp = tuple(range(2, 2 + nd))
    ks = tuple(range(2 + nd, 2 + 2 * nd))
    win = windows_on(ns, x, kernel, sp, stride, dilation)
    n, c = x.shape[:2]
    L = _prod(win.shape[2:2 + nd])
    gs = (groups,) if groups > 1 else ()
    return ns.reshape(ns.permute_dims(win, (1,) + ks + (0,) + sp),
                      gs + (c // groups * _prod(kernel), n * L))


def _conv_grads(ns, g, x, w, needs, cols, stride, dilation, groups):
    """``(gx, gw, gb)`` of a convolution, each computed when ``needs`` says so, in the
    namespace ``ns`` (arraylib's on tensors, the backend on storage).  ``cols()`` gives
    the im2col matrix of ``x``."""
    nd = x.ndim - 2
    n, c = x.shape[:2]
    o = w.shape[0]
    kernel = tuple(w.shape[2:])
    out_sp = tuple(g.shape[2:])
    L, K = _prod(out_sp), _prod(kernel)
    sp = tuple(range(2, 2 + nd))
    gs = (groups,) if groups > 1 else ()
    gx = gw = gb = None
    g2 = ns.reshape(ns.permute_dims(g, (1, 0) + sp), (o, n * L))
    if needs[2]:
        gb = ns.sum(g2, axis=1)
    g2 = ns.reshape(g2, gs + (o // groups, n * L))
    if needs[1]:
        gw = ns.reshape(ns.matmul(g2, ns.matrix_transpose(cols())), w.shape)
    if needs[0]:
        w2 = ns.reshape(w, gs + (o // groups, c // groups * K))
        gcols = ns.reshape(ns.matmul(ns.matrix_transpose(w2), g2), (c,) + kernel + (n,) + out_sp)
        gcols = ns.permute_dims(gcols, (nd + 1, 0) + tuple(range(nd + 2, 2 * nd + 2))
                                + tuple(range(1, nd + 1)))  # (N, C, *out, *kernel)
        gx = fold_on(ns, gcols, x.shape, sp, stride, dilation)
    return gx, gw, gb


def _conv_vjp(ns, needs, g, out, x, w, *b, stride, dilation, groups, cache):
    """Gradients by im2col, recomputed from ``x`` (a plain backward reuses the forward's
    copy instead: ``_conv_vjp_storage``)."""
    kernel = tuple(w.shape[2:])
    gx, gw, gb = _conv_grads(ns, g, x, w, (needs[0], needs[1], bool(b) and needs[2]),
                             lambda: _im2col(ns, x, kernel, stride, dilation, groups),
                             stride, dilation, groups)
    return (gx, gw, gb) if b else (gx, gw)


def _conv_vjp_storage(B, needs, g, out, x, w, *b, stride, dilation, groups, cache):
    """``_conv_vjp`` on storage, reusing the forward's expanded input (rows or im2col)."""
    if "plan" in cache:
        return _conv_vjp_gather(B, needs, g, x, w, *b, cols=cache["cols"], plan=cache["plan"])
    if "rows" in cache:
        return _conv_vjp_by_rows(B, needs, g, x, w, *b, stride=stride, dilation=dilation,
                                 rows=cache["rows"], batch_minor=cache["batch_minor"])
    gx, gw, gb = _conv_grads(B, g, x, w, (needs[0], needs[1], bool(b) and needs[2]),
                             lambda: cache["cols"], stride, dilation, groups)
    return (gx, gw, gb) if b else (gx, gw)


def _conv_jvp(ns, tangents, out, x, w, *b, stride, dilation, groups, cache):
    r = None
    if tangents[0] is not None:
        r = conv(tangents[0], w, stride, dilation, groups)
    if tangents[1] is not None:
        s = conv(x, tangents[1], stride, dilation, groups)
        r = s if r is None else r + s
    if b and tangents[2] is not None:
        s = ns.reshape(tangents[2], (w.shape[0],) + (1,) * (x.ndim - 2))
        r = s if r is None else r + s
    return r


_conv_prim = Primitive("convolution", _conv_fwd, _conv_vjp, _conv_jvp,
                       vjp_storage=_conv_vjp_storage, saves_output=False)
_conv_prim.batch = _vb.conv_rule(_conv_prim)


_CONV_CHECKED: dict = {}  # (x shape, kernel, stride, dilation) -> normalized stride, dilation


def conv(x: Tensor, w: Tensor, stride=1, dilation=1, groups=1, bias=None) -> Tensor:
    """N-d cross-correlation without padding: ``x`` (N, C, *spatial), ``w``
    (O, C/groups, *kernel), optional ``bias`` (O,) of the same dtype -> (N, O, *out).
    Ungrouped convolutions undilated on the first spatial axis go by rows (one copy of the
    input expanded over the other axes, one batched product); the others by im2col (one
    copy, one product).  The VJP reuses that copy and skips the input gradient when the
    input does not require one."""
    key = (tuple(x.shape), tuple(w.shape[2:]), stride, dilation)
    try:
        checked = _CONV_CHECKED.get(key)
    except TypeError:  # (a list argument: checked each time)
        key, checked = None, None
    if checked is None:
        checked = _conv_checked(x, w, stride, dilation)
        if key is not None:
            if len(_CONV_CHECKED) >= 512:
                _CONV_CHECKED.clear()
            _CONV_CHECKED[key] = checked
    stride, dilation = checked
    if bias is not None:
        return _conv_prim(x, w, bias, stride=stride, dilation=dilation, groups=groups, cache={})
    return _conv_prim(x, w, stride=stride, dilation=dilation, groups=groups, cache={})


def _conv_checked(x, w, stride, dilation):
    """``conv``'s normalized (stride, dilation) (ValueError for windows that do not fit)."""
    nd = x.ndim - 2
    checked = (_norm("conv", stride, nd, "stride"), _norm("conv", dilation, nd, "dilation"))
    _window_counts(x.shape, tuple(w.shape[2:]), tuple(range(2, 2 + nd)), *checked, "conv")
    return checked


_CONV_PLANS: dict = {}  # (storage shapes and dtypes, arguments) -> conv's params or None


def conv_cached(x, w, b, args: tuple, plan):
    """``conv(x, w, *plan(x, w, b, *args))`` (``plan`` returning (stride, dilation, groups)
    for a batched, unpadded convolution whose bias, if any, fuses, or None for the
    caller's general path), the checks memoized on the storage shapes and dtypes of the
    operands and the hashable ``args``; None where the general path applies."""
    if x.__class__ is not Tensor or w.__class__ is not Tensor or x._device is not w._device:
        return None
    xd, wd = x._data, w._data
    if id(xd.dtype) not in _NATIVE_IDS or id(wd.dtype) not in _NATIVE_IDS:
        return None  # (memo keys by dtype id only for long-lived dtype objects)
    if b is None:
        key = (xd.shape, id(xd.dtype), wd.shape, id(wd.dtype), None) + args
    elif b.__class__ is not Tensor or b._device is not w._device:
        return None
    elif id(b._data.dtype) not in _NATIVE_IDS:
        return None
    else:
        key = (xd.shape, id(xd.dtype), wd.shape, id(wd.dtype), b._data.shape,
               id(b._data.dtype)) + args
    try:
        params = _CONV_PLANS.get(key, _MISSING)
    except TypeError:  # (a list argument: no memo)
        return None
    if params is _MISSING:
        found = plan(x, w, b, *args)
        params = None
        if found is not None:
            stride, dilation = _conv_checked(x, w, found[0], found[1])
            params = {"stride": stride, "dilation": dilation, "groups": found[2]}
        if len(_CONV_PLANS) >= 512:
            _CONV_PLANS.clear()
        _CONV_PLANS[key] = params
    if params is None:
        return None
    return _apply(_conv_prim, (x, w) if b is None else (x, w, b), {**params, "cache": {}})


# -- max pooling: running maximum over window positions (no window copy) ----------------
def _maxpool_fwd(B, x, *, window_shape, axes, strides, dilation, in_shape):
    plan = _disjoint_plan(tuple(x.shape), window_shape, axes, strides, dilation)
    if plan is not None:
        return _maxpool_disjoint_fwd(B, x, *plan)
    win = _windows_fwd(B, x, window_shape=window_shape, axes=axes, strides=strides,
                       dilation=dilation, in_shape=None)
    best = None
    for pos in itertools.product(*[range(s) for s in window_shape]):
        v = win[(Ellipsis,) + pos]
        best = v if best is None else B.maximum(best, v)  # NaN propagates
    return B.asarray(best, copy=True) if _prod(window_shape) == 1 else best


_DISJOINT_PLANS: dict = {}  # (shape, window, axes, strides, dilation) -> plan or None


def _disjoint_plan(shape, window_shape, axes, strides, dilation):
    """(crop key or None, split shape, window axes) of a max-pool over disjoint windows
    (stride = kernel, no dilation, sorted axes, more than one element), else None."""
    key = (shape, window_shape, axes, strides, dilation)
    plan = _DISJOINT_PLANS.get(key, key)
    if plan is not key:
        return plan
    plan = None
    if strides == window_shape and all(d == 1 for d in dilation) \
            and list(axes) == sorted(axes) and _prod(window_shape) > 1:
        split, crop_key, red, cropped = [], [slice(None)] * len(shape), [], False
        for a, n in enumerate(shape):
            if a in axes:
                k = window_shape[axes.index(a)]
                crop_key[a] = slice(0, n - n % k)
                cropped = cropped or n % k != 0
                split += [n // k, k]
                red.append(len(split) - 1)
            else:
                split.append(n)
        plan = (tuple(crop_key) if cropped else None, tuple(split), tuple(reversed(red)))
    if len(_DISJOINT_PLANS) >= 256:
        _DISJOINT_PLANS.clear()
    _DISJOINT_PLANS[key] = plan
    return plan


_MAXPOOL_STAGES: dict = {}  # (split shape, window axes) -> ((view shape, keys), ...), out shape


def _maxpool_stages(split, red):
    """The views of ``_maxpool_disjoint_fwd``'s passes, one per window axis (last first),
    and the output shape."""
    key = (split, red)
    hit = _MAXPOOL_STAGES.get(key)
    if hit is None:
        shape, stages = list(split), []
        for j in red:
            k, inner = shape.pop(j), _prod(shape[j:])
            keys = tuple((slice(None), i, Ellipsis) for i in range(k))
            stages.append(((-1, k) if inner == 1 else (-1, k, inner), keys))
        hit = (tuple(stages), tuple(shape))
        if len(_MAXPOOL_STAGES) >= 256:
            _MAXPOOL_STAGES.clear()
        _MAXPOOL_STAGES[key] = hit
    return hit


def _maxpool_disjoint_fwd(B, x, crop_key, split, red):
    """Disjoint windows: each pooled axis split in (count, window) by a reshape, then a
    running maximum over the window axes' slices (a multi-axis reduce of short axes is
    slower in NumPy); NaN propagates."""
    if crop_key is not None:
        x = x[crop_key]
    maximum = B.maximum
    if x.size and B.is_row_major(x):  # each window axis in turn as the middle of (rows,
        # window, inner): short views; another layout (a convolution's batch-minor output)
        # keeps its own below, where splitting the axes is a view and not a copy
        stages, out_shape = _maxpool_stages(split, red)
        r = x
        for shape, keys in stages:
            r = B.reshape(r, shape)
            best = r[keys[0]]
            for key in keys[1:]:
                best = maximum(best, r[key])
            r = best
        return B.reshape(r, out_shape)
    r = B.reshape(x, split)
    for j in red:  # (last axis first: the earlier positions stay)
        post = (slice(None),) * (r.ndim - 1 - j)  # (keys from the end: shorter)
        best = r[(Ellipsis, 0) + post]
        for i in range(1, split[j]):
            best = maximum(best, r[(Ellipsis, i) + post])
        r = best
    return r


_DISJOINT_GRAD_PLANS: dict = {}  # (split, window axes, output shape) -> the VJP's shapes and orders


def _disjoint_grad_plan(plan, out_shape):
    """(window-last order, its inverse, window size, windows-last shape, split windows
    shape, cropped input shape) of ``_maxpool_disjoint_vjp``, memoized."""
    _, split, red = plan
    key = (split, red, out_shape)  # (not the crop key: slices are unhashable)
    hit = _DISJOINT_GRAD_PLANS.get(key)
    if hit is None:
        wins = sorted(red)
        perm = tuple(i for i in range(len(split)) if i not in red) + tuple(wins)
        k = _prod(split[i] for i in wins)
        xs_shape = tuple(n * split[i + 1] if i + 1 in red else n
                         for i, n in enumerate(split) if i not in red)
        hit = (perm, _inverse(perm), k, out_shape + (k,),
               out_shape + tuple(split[i] for i in wins), xs_shape)
        if len(_DISJOINT_GRAD_PLANS) >= 256:
            _DISJOINT_GRAD_PLANS.clear()
        _DISJOINT_GRAD_PLANS[key] = hit
    return hit


def _maxpool_disjoint_vjp(B, x, o, g, plan):
    """Input gradient (storage) of ``_maxpool_disjoint_fwd``: the windows gathered on a
    last axis, ``g`` sent to each one's first maximum (``where``: a non-finite ``g`` stays
    at its position) and the windows put back, a fixed number of passes for any window."""
    crop_key, split, _ = plan
    perm, inverse, k, last_shape, split_shape, xs_shape = _disjoint_grad_plan(
        plan, tuple(o.shape))
    xs = x[crop_key] if crop_key is not None else x
    rw = B.reshape(B.permute_dims(B.reshape(xs, split), perm), last_shape)
    first = B.argmax(rw, axis=-1, keepdims=True)
    hit = first == _classes(B, first, k)[1]
    gw = B.where(hit, B.reshape(g, tuple(g.shape) + (1,)), _constants(B, g)[2])
    gx = B.reshape(B.permute_dims(B.reshape(gw, split_shape), inverse), xs_shape)
    if crop_key is None:
        return gx
    full = B.zeros(tuple(x.shape), dtype=g.dtype, device=B.native_device)
    B.assign(full, crop_key, gx)
    return full


def _first_max_mask(ns, x, o, window_shape, axes, strides, dilation):
    """Constant (..., K) mask of the first maximum in each window (PyTorch's choice), in
    ``o``'s dtype, in namespace ``ns``."""
    x, o = _detached(x), _detached(o)
    win = windows_on(ns, x, window_shape, axes, strides, dilation)
    found = None
    masks = []
    for pos in itertools.product(*[range(s) for s in window_shape]):
        m = win[(Ellipsis,) + pos] == o
        if found is None:
            found = m
        else:
            m = ns.logical_and(m, ns.logical_not(found))
            found = ns.logical_or(found, m)
        masks.append(m)
    return ns.astype(ns.stack(masks, axis=-1), o.dtype)


def _maxpool_grad_disjoint(B, xd, od, gd, window_shape, axes):
    """Storage-level max-pool input gradient for non-overlapping windows (stride ==
    kernel, no dilation): for each window position, the cotangent goes where that
    position holds the window's first maximum, written straight into a strided slice."""
    counts = [od.shape[a] for a in axes]
    # in x's memory layout, as the layers around it; every element is written when the
    # windows tile x exactly
    tiled = all(c * k == xd.shape[a] for a, k, c in zip(axes, window_shape, counts))
    gx = (B.empty_like if tiled else B.zeros_like)(xd, dtype=gd.dtype)
    if B.batch_minor(od) and not B.batch_minor(gd):  # g in the same layout: 4x faster passes
        gd = B.assign_like(od, gd)
    positions = list(itertools.product(*[range(k) for k in window_shape]))
    # Finite g: the share of each position is ``rest * hit`` and the rest loses it
    # (g * mask is an order of magnitude faster than where(mask, g, 0) in NumPy); inf or
    # NaN in g must not leak into other positions, so that case selects with where.
    finite = _finite(B, gd)
    zero = None if finite else B.zeros((), dtype=gd.dtype, device=B.native_device)
    rest, found = gd, None
    for i, pos in enumerate(positions):
        key = [slice(None)] * xd.ndim
        for a, k, q, c in zip(axes, window_shape, pos, counts):
            key[a] = slice(q, q + k * (c - 1) + 1, k)
        key = tuple(key)
        hit = xd[key] == od
        last = i + 1 == len(positions)
        if finite:
            share = rest * B.astype(hit, gd.dtype)
            if not last:
                rest = rest - share
        else:
            if found is not None:
                hit = B.logical_and(hit, B.logical_not(found))
            found = hit if found is None else B.logical_or(found, hit)
            share = B.where(hit, gd, zero)
        B.assign(gx, key, share)
    return gx


def _maxpool_vjp(ns, needs, g, out, x, *, window_shape, axes, strides, dilation, in_shape):
    """Cotangent ``g`` of each window sent to its first maximum, folded back."""
    hit = _first_max_mask(ns, x, out, window_shape, axes, strides, dilation)
    gwin = _keep(ns, ns.expand_dims(g, axis=-1), hit, _finite(ns, g))
    gwin = ns.reshape(gwin, tuple(g.shape) + tuple(window_shape))
    return (fold_on(ns, gwin, in_shape, axes, strides, dilation),)


def _maxpool_vjp_storage(B, needs, g, out, x, *, window_shape, axes, strides, dilation,
                         in_shape):
    """Disjoint windows: written straight into strided slices; others: ``_maxpool_vjp``."""
    plan = _disjoint_plan(tuple(x.shape), window_shape, axes, strides, dilation)
    if plan is not None and not B.batch_minor(x):
        return (_maxpool_disjoint_vjp(B, x, out, g, plan),)
    if tuple(strides) == tuple(window_shape) and all(d == 1 for d in dilation):
        return (_maxpool_grad_disjoint(B, x, out, g, window_shape, axes),)
    return _maxpool_vjp(B, needs, g, out, x, window_shape=window_shape, axes=axes,
                        strides=strides, dilation=dilation, in_shape=in_shape)


def _maxpool_jvp(ns, tangents, out, x, *, window_shape, axes, strides, dilation, in_shape):
    hit = _first_max_mask(ns, x, out, window_shape, axes, strides, dilation)
    tw = ns.reshape(windows_on(ns, tangents[0], window_shape, axes, strides, dilation),
                    tuple(out.shape) + (_prod(window_shape),))
    return ns.sum(_keep(ns, tw, hit, _finite(ns, tw)), axis=-1)


_maxpool_prim = Primitive("max_pool", _maxpool_fwd, _maxpool_vjp, _maxpool_jvp,
                          vjp_storage=_maxpool_vjp_storage)
_maxpool_prim.batch = _vb.axis_rule(_maxpool_prim, axes=("axes",), shapes=("in_shape",))


_POOL_CHECKED: dict = {}  # (shape, window, axes, strides, dilation) -> normalized arguments


_POOL_PLANS: dict = {}  # (storage shape, pooling arguments) -> max_pool's params or None
_MISSING = object()  # (a memo's "not yet seen")


def max_pool_cached(x, args: tuple, plan):
    """``max_pool(x, *plan(x, *args))`` (``plan`` returning (window_shape, axes, strides,
    dilation), or None for the caller's general path), ``plan``'s and ``max_pool``'s checks
    memoized on ``x``'s storage shape and the hashable ``args``; None where the general
    path applies."""
    if x.__class__ is not Tensor:
        return None
    key = (x._data.shape,) + args
    try:
        params = _POOL_PLANS.get(key, _MISSING)
    except TypeError:  # (a list argument: no memo)
        return None
    if params is _MISSING:
        found = plan(x, *args)
        params = None if found is None else _max_pool_params(x, *found)
        if len(_POOL_PLANS) >= 512:
            _POOL_PLANS.clear()
        _POOL_PLANS[key] = params
    if params is None:
        return None
    return apply1(_maxpool_prim, x, params)


def _max_pool_params(x, window_shape, axes, strides, dilation):
    """``max_pool``'s checked parameters (ValueError for windows that do not fit)."""
    shape = tuple(x.shape)
    axes = tuple(a % x.ndim for a in axes)
    n = len(axes)
    window_shape = _norm("max_pool", window_shape, n, "window_shape")
    strides = _norm("max_pool", strides, n, "strides")
    dilation = _norm("max_pool", dilation, n, "dilation")
    _window_counts(shape, window_shape, axes, strides, dilation, "max_pool")
    return {"window_shape": window_shape, "axes": axes, "strides": strides,
            "dilation": dilation, "in_shape": shape}  # (shared: never mutated)


def max_pool(x: Tensor, window_shape, axes, strides, dilation) -> Tensor:
    """Maximum over sliding windows (shape ``x.shape`` with ``axes`` replaced by window
    counts); computed as a running maximum over window positions, so no window is
    copied.  The gradient goes to the first maximum of each window (as PyTorch)."""
    shape = tuple(x.shape)
    key = (shape, window_shape, axes, strides, dilation)
    try:
        params = _POOL_CHECKED.get(key)
    except TypeError:  # (a list argument: checked each time)
        key, params = None, None
    if params is None:
        params = _max_pool_params(x, window_shape, axes, strides, dilation)
        if key is not None:
            if len(_POOL_CHECKED) >= 512:
                _POOL_CHECKED.clear()
            _POOL_CHECKED[key] = params
    return apply1(_maxpool_prim, x, params)


# -- relu: one saved output, one select in the VJP -------------------------------------
def _relu_mask(ns, out):
    """1 where ``out > 0``, else 0, in ``out``'s dtype: ``g * mask`` is ten times faster
    than ``where(out > 0, g, 0)`` in NumPy."""
    return ns.astype(out > 0, out.dtype)


_ZEROS: dict = {}  # (backend, storage dtype) -> a shared 0-d zero (an operand, never written)


def _relu_fwd(B, x):
    key = (id(B), x.dtype)
    zero = _ZEROS.get(key)
    if zero is None:
        zero = _ZEROS[key] = B.zeros((), dtype=x.dtype, device=B.native_device)
    return B.maximum(x, zero)


_relu_prim = Primitive(
    "relu", _relu_fwd,
    vjp=lambda ns, needs, g, out, x: (_keep(ns, g, _relu_mask(ns, out), _finite(ns, g)),),
    jvp=lambda ns, tangents, out, x: _keep(ns, tangents[0], _relu_mask(ns, out),
                                           _finite(ns, tangents[0])),
    saves_inputs=False)
_relu_prim.batch = _vb.elementwise_rule(_relu_prim)


def relu(x: Tensor) -> Tensor:
    """``max(x, 0)`` element-wise for real tensors; gradient 0 at 0 (as PyTorch)."""
    if x.dtype not in _dtypes.real_numeric_set:
        raise TypeError(f"relu: expected a real tensor, got {x.dtype}")
    return apply1(_relu_prim, x)


# -- linear: x @ w.T + b as one node ---------------------------------------------------
def _linear_fwd(B, x, w, *b):
    lead = x.shape[:-1]
    x2 = B.reshape(x, (-1, x.shape[-1])) if x.ndim != 2 else x
    out = B.matmul(x2, B.matrix_transpose(w))
    if b:
        out += b[0]
    return B.reshape(out, lead + (w.shape[0],)) if x.ndim != 2 else out


def _linear_vjp(ns, needs, g, out, x, w, *b):
    """``(gx, gw[, gb])`` of ``x @ w.T + b``, each when ``needs`` says so."""
    lead = x.shape[:-1]
    k, o = x.shape[-1], w.shape[0]
    gx = gw = gb = None
    g2 = ns.reshape(g, (-1, o)) if g.ndim != 2 else g
    if needs[0]:
        gx = ns.matmul(g2, w)
        gx = ns.reshape(gx, lead + (k,)) if x.ndim != 2 else gx
    if needs[1]:
        x2 = ns.reshape(x, (-1, k)) if x.ndim != 2 else x
        gw = ns.matmul(ns.matrix_transpose(g2), x2)
    if b and needs[2]:
        gb = ns.sum(g2, axis=0)
    return (gx, gw, gb) if b else (gx, gw)


def _linear_jvp(ns, tangents, out, x, w, *b):
    r = None
    if tangents[0] is not None:
        r = ns.matmul(tangents[0], ns.matrix_transpose(w))
    if tangents[1] is not None:
        s = ns.matmul(x, ns.matrix_transpose(tangents[1]))
        r = s if r is None else r + s
    if b and tangents[2] is not None:
        r = tangents[2] if r is None else r + tangents[2]
    return r


_linear_prim = Primitive("linear", _linear_fwd, _linear_vjp, _linear_jvp, saves_output=False)
_linear_prim.batch = _vb.linear_rule(_linear_prim)


def fusable_linear(x, w, b=None) -> bool:
    """Whether ``linear(x, w, b)`` can run fused: tensors on one device, ``x`` (..., in)
    and ``w`` (out, in) of one real floating dtype, ``b`` None or (out,) of that dtype.
    (A storage-level test: it runs on every ``nn.functional.linear`` call.)"""
    if not (isinstance(x, Tensor) and isinstance(w, Tensor)) or x._device is not w._device:
        return False
    xd, wd = x._data, w._data
    dt = wd.dtype
    if not (xd.dtype is dt or xd.dtype == dt) or wd.ndim != 2 or xd.ndim < 2 or \
            xd.shape[-1] != wd.shape[1] or w.dtype not in _dtypes.real_floating_set:
        return False
    if b is None:
        return True
    if not isinstance(b, Tensor) or b._device is not w._device:
        return False
    bd = b._data
    return (bd.dtype is dt or bd.dtype == dt) and bd.shape == wd.shape[:1]


def linear(x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
    """``x @ w.T + b`` as one node: ``x`` (..., in) real floating-point, ``w`` (out, in),
    ``b`` (out,) or None, all of one dtype and device (``fusable_linear`` checks this)."""
    if b is None:
        return _linear_prim(x, w)
    return _linear_prim(x, w, b)


# -- cross-entropy of logits and class indices: log-softmax + NLL as one node -----------
# The target's value is taken (take_along_axis), never multiplied by a one-hot mask: no
# pass over the classes, and a -inf or overflowed logit of another class keeps the loss
# finite.  The forward makes four passes over the logits (max, shift, exp in place, sum),
# the plain backward two (``e / s`` scaled in place, the targets' entries updated by one
# flat gather and scatter, the flat key kept from the forward).
def _class_targets(B, t, c, ignore_index, cache, func):
    """Check the class indices ``t`` (N,) against ``c`` classes and cache ``safe`` (N, 1)
    (ignored rows sent to class 0) and ``valid`` (N,) (None when every row counts);
    return the number of counted rows.  IndexError for a target outside ``[0, c)`` other
    than ``ignore_index``."""
    n = t.shape[0]
    if n and not 0 <= ignore_index < c and B.indices_below(t, c):
        cache["valid"], cache["safe"] = None, B.reshape(t, (n, 1))  # (every row counts)
        return n
    info = B.xp.iinfo(t.dtype)  # (comparisons only with values t's dtype holds)
    valid = t >= 0 if c > info.max else B.logical_and(t >= 0, t < c)
    held = info.min <= ignore_index <= info.max
    if 0 <= ignore_index < c and held:
        valid = B.logical_and(valid, t != ignore_index)
    counted = int(B.count_nonzero(valid))
    if counted == n:
        valid = None
    else:
        if counted + (int(B.count_nonzero(t == ignore_index)) if held else 0) != n:
            _target_out_of_bounds(B, t, c, ignore_index, func)
        t = B.where(valid, t, B.zeros((), dtype=t.dtype, device=B.native_device))
    cache["valid"], cache["safe"] = valid, B.expand_dims(t, axis=1)
    return counted


def _target_out_of_bounds(B, t, c, ignore_index, func):
    host = B.to_numpy(t)
    bad = host[((host < 0) | (host >= c)) & (host != ignore_index)]
    raise IndexError(f"{func}: target {int(bad[0])} is out of bounds for {c} classes "
                     f"(ignore_index={ignore_index})")


def _counted_only(B, rows, cache):
    """``rows`` (N,) or a scalar per row, zero on the ignored rows."""
    valid = cache["valid"]
    if valid is None:
        return rows
    return B.where(valid, rows, B.zeros((), dtype=rows.dtype, device=B.native_device))


def _target_flat(B, shape, cache):
    """The key of each row's target entry in a flattened C-ordered (N, C) array: a tuple
    of one (N,) index (computed once per node)."""
    flat = cache.get("flat")
    if flat is None:
        safe = cache["safe"]
        i64 = B.native_dtype(_dtypes.int64)  # (narrower targets: n * c may not fit them)
        rows = B.reshape(safe, (shape[0],))
        if rows.dtype != i64:
            rows = B.astype(rows, i64)
        flat = cache["flat"] = (rows + _row_starts(B, shape, i64),)
    return flat


_ROW_STARTS: dict = {}  # (id(backend), n, c, id(dtype)) -> (backend, dtype, arange(0, n c, c))


def _row_starts(B, shape, dtype):
    """``arange(0, n * c, c)`` of (int64) ``dtype`` for an (n, c) shape, one per shape (an
    operand, never written)."""
    n, c = shape
    key = (id(B), n, c, id(dtype))
    e = _ROW_STARTS.get(key)
    if e is None or e[0] is not B or e[1] is not dtype:
        if len(_ROW_STARTS) >= 64:
            _ROW_STARTS.clear()
        e = _ROW_STARTS[key] = (B, dtype, B.arange(0, n * c, c, dtype=dtype,
                                                   device=B.native_device))
    return e[2]


def _add_at_targets(B, a, w, cache):
    """``a`` (a fresh (N, C) temporary) with ``w`` (per row, or one scalar) added at each
    row's target: one flat gather and scatter, cheaper than a 2-D index on small inputs."""
    return B.add_at_flat(a, _target_flat(B, a.shape, cache)[0], w)


def _onehot(ns, x, t, cache):
    """1 at each counted row's target, else 0, like ``x`` (the namespace rules)."""
    hit = _cached(x, cache["safe"]) == ns.arange(x.shape[1], dtype=t.dtype, device=x.device)
    if cache["valid"] is not None:
        hit = ns.logical_and(hit, ns.expand_dims(_cached(x, cache["valid"]), axis=1))
    return ns.astype(hit, x.dtype)


def _exp_in_place(B, a):
    """``exp(a)``, written over ``a`` (a fresh temporary) where the storage allows."""
    return B.exp(a, out=a) if B.host else B.exp(a)


def _ce_fwd(B, x, t, *, ignore_index, reduction, cache):
    n = x.shape[0]
    counted = _class_targets(B, t, x.shape[1], ignore_index, cache, "cross_entropy")
    m = B.max(x, axis=1, keepdims=True)
    e = x - m
    # (taken before e is exponentiated in place; e is fresh, so the flat index applies)
    shifted_target = B.getitem(B.reshape(e, (-1,)), _target_flat(B, e.shape, cache))
    e = _exp_in_place(B, e)
    s = B.sum(e, axis=1, keepdims=True)
    cache["max"], cache["e"], cache["s"] = m, e, s
    rows = _counted_only(B, B.log(B.reshape(s, (n,))) - shifted_target, cache)
    return _reduce_rows(B, rows, reduction, counted, cache)


def _reduce_rows(B, rows, reduction, counted, cache):
    """Per-row losses (storage) reduced: as they are, summed, or averaged over the
    ``counted`` rows (the count kept in ``cache`` for the backward)."""
    if reduction == "none":
        return rows
    total = B.sum(rows)
    if reduction == "sum":
        return total
    cache["count"] = counted
    return total / counted


def _cached(like, data):
    """A constant the forward left in the cache (storage), as a tensor when ``like`` is one."""
    return _new(data, like._device) if isinstance(like, Tensor) else data


def _ce_rows(ns, g, x, reduction, cache):
    """The cotangent ``g`` spread over rows: (N, 1), or scaled for the mean."""
    if reduction == "none":
        return ns.expand_dims(g, axis=1)
    return g / cache["count"] if reduction == "mean" else g


def _softmax(ns, x, cache):
    """Softmax over axis 1, shifted by the forward's (constant) row maxima."""
    e = ns.exp(x - _cached(x, cache["max"]))
    return e / ns.sum(e, axis=1, keepdims=True)


def _valid_column(ns, x, cache):
    return ns.astype(ns.expand_dims(_cached(x, cache["valid"]), axis=1), x.dtype)


def _ce_vjp(ns, needs, g, out, x, t, *, ignore_index, reduction, cache):
    """``(softmax(x) - onehot(t)) * g``, softmax recomputed from ``x`` (differentiable)."""
    p = _softmax(ns, x, cache)
    if cache["valid"] is not None:
        p = p * _valid_column(ns, x, cache)
    return (p - _onehot(ns, x, t, cache)) * _ce_rows(ns, g, x, reduction, cache), None


def _ce_vjp_storage(B, needs, g, out, x, t, *, ignore_index, reduction, cache):
    """``_ce_vjp`` on storage: ``e / s`` scaled by each row's ``g`` in place, then the
    row's ``g`` subtracted at its target (``p * g - g``, PyTorch's order)."""
    if reduction == "mean":  # (g[()]: a 0-d array's scalar, cheaper to divide; same value)
        g = g[()] / cache["count"]
    w = g if cache["valid"] is None else _counted_only(B, g, cache)  # (N,) or one scalar
    p = cache["e"] / cache["s"]
    p *= w if w.ndim == 0 else B.reshape(w, (-1, 1))
    return B.add_at_flat(p, _target_flat(B, p.shape, cache)[0], -w), None


def _ce_jvp(ns, tangents, out, x, t, *, ignore_index, reduction, cache):
    tx = tangents[0]
    if tx is None:
        return None
    mask = _onehot(ns, x, t, cache)
    valid = ns.sum(mask, axis=1)
    rows = valid * ns.sum(_softmax(ns, x, cache) * tx, axis=1) - ns.sum(mask * tx, axis=1)
    if reduction == "none":
        return rows
    if reduction == "sum":
        return ns.sum(rows)
    return ns.sum(rows) / cache["count"]


_ce_prim = Primitive("cross_entropy", _ce_fwd, _ce_vjp, _ce_jvp, vjp_storage=_ce_vjp_storage,
                     saves_output=False)
_ce_prim.batch = _vb.cross_entropy_rule(_ce_prim)


def fusable_cross_entropy(x, t) -> bool:
    """Whether ``cross_entropy(x, t)`` can run fused: tensors on one device, logits ``x``
    (N, C) of a real floating dtype NumPy computes in, class indices ``t`` (N,) of an
    integer dtype."""
    if not (isinstance(x, Tensor) and isinstance(t, Tensor)) or x._device is not t._device:
        return False
    xd, td = x._data, t._data
    return xd.ndim == 2 and td.shape == xd.shape[:1] and \
        x.dtype in _CE_LOGIT_DTYPES and t.dtype in _CE_TARGET_DTYPES


_CE_LOGIT_DTYPES = frozenset((_dtypes.float16, _dtypes.float32, _dtypes.float64))
_CE_TARGET_DTYPES = frozenset(_dtypes.integer_dtypes)


def cross_entropy(x: Tensor, t: Tensor, ignore_index=-100, reduction="mean") -> Tensor:
    """Cross-entropy of logits ``x`` (N, C) (real floating-point) with integer class
    indices ``t`` (N,) as one node; targets equal to ``ignore_index`` count for nothing,
    others outside ``[0, C)`` raise IndexError.  VJP: ``(softmax(x) - onehot(t)) * g`` (scaled by
    the number of counted targets for ``reduction="mean"``)."""
    return _ce_prim(x, t, ignore_index=int(ignore_index), reduction=reduction, cache={})


# =====================================================================================
# -- sequence models: attention and the recurrent cells (issue 16) --------------------
# =====================================================================================
# ``scaled_dot_product_attention``: softmax(q k^T * scale + mask) (dropped) @ v as one
# node; fully masked rows give zeros (PyTorch's CPU kernels), with zero gradients; the
# causal mask is built on storage (no mask operand).  ``gelu``, ``layer_norm``,
# ``dropout``: one node each, their plain backward reusing what the forward kept.
# ``lstm_cell`` / ``gru_cell``: the element-wise gate math of one step as one node.
__all__ += ["scaled_dot_product_attention", "gelu", "layer_norm", "dropout", "lstm_cell",
            "gru_cell"]

_NEG_INF = float("-inf")


def _causal_keep(ns, like, L, S):
    """The (L, S) boolean causal mask (True where key position <= query position)."""
    dev = like.device if isinstance(like, Tensor) else ns.native_device
    rows = ns.expand_dims(ns.arange(L, device=dev), axis=1)
    return rows >= ns.arange(S, device=dev)


def _sdpa_scores(ns, q, k, mask, kind, scale):
    s = ns.matmul(q, ns.matrix_transpose(k)) * scale
    if kind == "causal":
        mask, kind = _causal_keep(ns, q, s.shape[-2], s.shape[-1]), "bool"
    if kind == "bool":
        s = ns.where(mask, s, ns.full_like(s, _NEG_INF))
    elif kind == "float":
        s = s + mask
    return s


def _safe_softmax(ns, s, masked):
    """Softmax over the last axis; rows that are all -inf (``masked``) give zeros."""
    m = _detached(ns.max(_detached(s), axis=-1, keepdims=True))
    if masked:
        m = ns.where(m == _NEG_INF, ns.zeros_like(m), m)
    e = ns.exp(s - m)
    z = ns.sum(e, axis=-1, keepdims=True)
    if masked:
        z = ns.where(z == 0, ns.ones_like(z), z)
    return e / z


def _sdpa_parts(inputs, kind, has_drop):
    q, k, v = inputs[:3]
    mask = inputs[3] if kind in ("bool", "float") else None
    drop = inputs[-1] if has_drop else None
    return q, k, v, mask, drop


def _sdpa_probs_storage(B, q, k, mask, kind, scale):
    """The attention probabilities on storage, updated in place where the shapes allow:
    scores, (causal) mask, shifted exponentials, normalised.  A causal row always keeps
    its first key, so only the other masks need the fully-masked-row guard."""
    s = B.matmul(q, B.c_contiguous(B.matrix_transpose(k)))
    s *= scale
    if kind == "causal":
        keep = _causal_keep(B, q, s.shape[-2], s.shape[-1])
        s += B.where(keep, B.zeros(keep.shape, dtype=s.dtype, device=B.native_device),
                     B.full(keep.shape, _NEG_INF, dtype=s.dtype, device=B.native_device))
    elif kind is not None:
        return _safe_softmax(B, _masked_scores(B, s, mask, kind), True)
    s -= B.max(s, axis=-1, keepdims=True)
    e = B.exp(s)
    e *= 1.0 / B.sum(e, axis=-1, keepdims=True)  # (a product: 2.5x faster than /)
    return e


def _masked_scores(B, s, mask, kind):
    if kind == "bool":
        return B.where(mask, s, B.full_like(s, _NEG_INF))
    return s + mask


def _sdpa_split(inputs):
    """``(n, ndim, batch, work)``: the kernel splits axis 0 (of size ``n``) of its
    ``ndim``-D broadcast ``batch`` shape, ``work`` score elements in all (see
    ``Backend.chunk_bounds``)."""
    nd = max(x.ndim for x in inputs)
    sizes = [1] * nd
    for x in inputs:
        for i, d in enumerate(x.shape[:-2], start=nd - x.ndim):
            sizes[i] = max(sizes[i], d)
    batch = tuple(sizes[:-2])
    work = math.prod(batch) * inputs[0].shape[-2] * inputs[1].shape[-2]
    return (sizes[0] if nd > 2 else 1), nd, batch, work


def _sdpa_rows(inputs, lo, hi, n, nd):
    """Rows ``lo:hi`` of axis 0 of each operand that has them (the others broadcast)."""
    if hi - lo == n:
        return inputs
    return tuple(x[lo:hi] if x.ndim == nd and x.shape[0] == n else x for x in inputs)


def _joined(B, parts):
    """The chunks' results concatenated along axis 0 (None stays None)."""
    if len(parts) == 1 or parts[0] is None:
        return parts[0]
    return B.concat(parts, axis=0)


def _product(B, a, b, out):
    """``a @ b``, written into ``out`` (a chunk's rows of the joined result) where given."""
    if out is None:
        return B.matmul(a, b)
    B.matmul_into(a, b, out)
    return out


def _sdpa_results(B, inputs, batch, tails, wanted):
    """Empty joined results of ``batch + tail`` (None where not ``wanted``), for the chunks
    to write their rows into."""
    dtype = B.result_type(*(x for x in inputs if x.dtype != B.bool))
    return [B.empty(batch + tail, dtype=dtype, device=B.native_device) if want else None
            for tail, want in zip(tails, wanted)]


def _sdpa_fwd(B, *inputs, scale, kind, has_drop, cache):
    n, nd, batch, work = _sdpa_split(inputs)
    bounds = B.chunk_bounds(n, work)
    out = None
    if len(bounds) > 1:
        out = _sdpa_results(B, inputs, batch, [inputs[0].shape[-2:-1] + inputs[2].shape[-1:]],
                            [True])[0]

    def chunk(lo, hi):
        q, k, v, mask, drop = _sdpa_parts(_sdpa_rows(inputs, lo, hi, n, nd), kind, has_drop)
        p = _sdpa_probs_storage(B, q, k, mask, kind, scale)
        pd = p * drop if has_drop else p
        return p, pd, _product(B, pd, v, None if out is None else out[lo:hi])
    parts = B.run_chunks(chunk, bounds)
    cache["bounds"], cache["probs"] = bounds, {b[0]: r[:2] for b, r in zip(bounds, parts)}
    return parts[0][2] if out is None else out


def _sdpa_grads(ns, needs, g, q, k, v, drop, p, pd, scale, kind):
    """Cotangents of q, k, v (and a float mask) from the probabilities ``p`` (``pd``
    after dropout)."""
    gq = gk = gv = gm = None
    if needs[2]:
        gv = ns.matmul(ns.matrix_transpose(pd), g)
    want_mask = kind == "float" and needs[3]
    if needs[0] or needs[1] or want_mask:
        gp = ns.matmul(g, ns.matrix_transpose(v))
        if drop is not None:
            gp = gp * drop
        gs = p * (gp - ns.sum(gp * p, axis=-1, keepdims=True))
        if needs[0]:
            gq = ns.matmul(gs, k) * scale
        if needs[1]:
            gk = ns.matmul(ns.matrix_transpose(gs), q) * scale
        if want_mask:
            gm = gs
    return _sdpa_outputs(gq, gk, gv, gm, kind, drop)


def _sdpa_outputs(gq, gk, gv, gm, kind, drop):
    out = [gq, gk, gv]
    if kind in ("bool", "float"):
        out.append(gm)
    if drop is not None:
        out.append(None)
    return tuple(out)


def _sdpa_vjp(ns, needs, g, out, *inputs, scale, kind, has_drop, cache):
    q, k, v, mask, drop = _sdpa_parts(inputs, kind, has_drop)
    p = _safe_softmax(ns, _sdpa_scores(ns, q, k, mask, kind, scale), kind is not None)
    pd = p * drop if has_drop else p
    return _sdpa_grads(ns, needs, g, q, k, v, drop, p, pd, scale, kind)


def _sdpa_vjp_storage(B, needs, g, out, *inputs, scale, kind, has_drop, cache):
    """``_sdpa_grads`` on storage, the forward's probabilities reused and the softmax's
    cotangent formed in place, in the forward's chunks (each writing its rows of the
    products' results)."""
    n, nd, batch, _ = _sdpa_split(inputs)
    probs, bounds = cache["probs"], cache["bounds"]
    outs = [None] * 3
    if len(bounds) > 1:
        (L, E), S, Ev = inputs[0].shape[-2:], inputs[1].shape[-2], inputs[2].shape[-1]
        outs = _sdpa_results(B, inputs, batch, [(L, E), (S, E), (S, Ev)], needs[:3])

    def chunk(lo, hi):
        rows = _sdpa_rows(inputs + (g,), lo, hi, n, nd)
        views = [None if o is None else o[lo:hi] for o in outs]
        return _sdpa_grads_storage(B, needs, rows[-1], rows[:-1], probs[lo], kind, has_drop,
                                   scale, views)
    parts = B.run_chunks(chunk, bounds)
    gq, gk, gv = parts[0][:3] if len(parts) == 1 else outs
    gm = _joined(B, [r[3] for r in parts])
    return _sdpa_outputs(gq, gk, gv, gm, kind, has_drop or None)


def _sdpa_grads_storage(B, needs, g, inputs, probs, kind, has_drop, scale, outs):
    """``(gq, gk, gv, gmask)`` of one chunk, from its saved ``(p, pd)``; the products
    written into ``outs`` where given."""
    q, k, v, mask, drop = _sdpa_parts(inputs, kind, has_drop)
    p, pd = probs
    gq = gk = gv = gm = None
    if needs[2]:
        gv = _product(B, B.matrix_transpose(pd), g, outs[2])
    want_mask = kind == "float" and needs[3]
    if needs[0] or needs[1] or want_mask:
        gs = B.matmul(g, B.c_contiguous(B.matrix_transpose(v)))
        if drop is not None:
            gs *= drop
        gs -= B.sum(gs * p, axis=-1, keepdims=True)
        gs *= p
        if needs[0]:
            gq = _product(B, gs, k, outs[0])
            gq *= scale
        if needs[1]:
            gk = _product(B, B.matrix_transpose(gs), q, outs[1])
            gk *= scale
        if want_mask:
            gm = gs
    return gq, gk, gv, gm


def _sdpa_jvp(ns, tangents, out, *inputs, scale, kind, has_drop, cache):
    q, k, v, mask, drop = _sdpa_parts(inputs, kind, has_drop)
    tq, tk, tv = tangents[:3]
    tm = tangents[3] if kind == "float" else None
    p = _safe_softmax(ns, _sdpa_scores(ns, q, k, mask, kind, scale), kind is not None)
    ds = None
    if tq is not None:
        ds = ns.matmul(tq, ns.matrix_transpose(k)) * scale
    if tk is not None:
        d = ns.matmul(q, ns.matrix_transpose(tk)) * scale
        ds = d if ds is None else ds + d
    if tm is not None:
        ds = tm if ds is None else ds + tm
    r = None
    if ds is not None:
        dp = p * (ds - ns.sum(ds * p, axis=-1, keepdims=True))
        r = ns.matmul(dp * drop if drop is not None else dp, v)
    if tv is not None:
        d = ns.matmul(p * drop if drop is not None else p, tv)
        r = d if r is None else r + d
    return r


_sdpa_prim = Primitive("scaled_dot_product_attention", _sdpa_fwd, _sdpa_vjp, _sdpa_jvp,
                       vjp_storage=_sdpa_vjp_storage, saves_output=False)
_sdpa_prim.batch = _vb.matrix_rule(_sdpa_prim)


def scaled_dot_product_attention(q, k, v, mask=None, drop=None, *, scale,
                                 causal=False) -> Tensor:
    """``softmax(q @ k^T * scale + mask) * drop @ v`` as one node, for ``q`` (..., L, E),
    ``k`` (..., S, E), ``v`` (..., S, Ev) whose batch dimensions broadcast; ``mask``
    broadcasts to (..., L, S): boolean (True attends) or additive of ``q``'s dtype;
    ``causal`` (no ``mask``) attends to key positions ``<=`` the query position;
    ``drop`` (..., L, S) multiplies the probabilities (dropout, already scaled).  Rows with
    nothing to attend give zeros."""
    if causal:
        kind = "causal"
    else:
        kind = None if mask is None else ("bool" if mask.dtype == _dtypes.bool else "float")
    inputs = (q, k, v) + ((mask,) if kind in ("bool", "float") else ()) + \
        ((drop,) if drop is not None else ())
    return _sdpa_prim(*inputs, scale=float(scale), kind=kind, has_drop=drop is not None,
                      cache={})


# -- GELU: one node, its own derivative -----------------------------------------------
# float32: Phi(x) = 0.5 + x P(x^2) / Q(x^2) on [-5.5, 5.5] (0 or 1 beyond), a rational
# minimax fit to the normal CDF made for this module (absolute error < 2.5e-7 evaluated
# in float32: within PyTorch's own float32 rounding of 1 + erf), twenty times faster than
# the four-interval erf; float64: fdlibm's erf above (accurate to rounding).
_PHI_P = (0.39894223475731083, 0.03385154600487439, 0.004677182233536603,
          0.00016881266831375545, 6.351877326627203e-06, 2.2749412136088035e-08)
_PHI_Q = (1.0, 0.2515191624979327, 0.02864521289467512, 0.0018843732349915002,
          7.364248910452923e-05, 1.197486824455296e-06)
_PHI_CLIP = 5.5
_INV_SQRT_2PI = 0.3989422804014327
_SQRT_HALF = 0.7071067811865476
GELU_DTYPES = frozenset((_dtypes.float32, _dtypes.float64))


def _horner_inplace(t, coefs):
    """``c0 + c1 t + ...`` by Horner's rule in one fresh array, updated in place."""
    r = t * coefs[-1]
    for i in range(len(coefs) - 2, 0, -1):
        r += coefs[i]
        r *= t
    r += coefs[0]
    return r


_PHI_CONSTANTS: dict = {}  # backend -> the float32 constants of _phi_storage as 0-d arrays


def _phi_constants(B):
    """``(P, Q, -clip, clip, 0.5)`` as float32 0-d storage of ``B``: the same values as
    Python floats give (rounded to float32), a microsecond less per in-place operation."""
    consts = _PHI_CONSTANTS.get(B)
    if consts is None:
        def f32(c):
            return B.asarray(c, dtype=_dtypes.float32)
        consts = (tuple(map(f32, _PHI_P)), tuple(map(f32, _PHI_Q)), f32(-_PHI_CLIP),
                  f32(_PHI_CLIP), f32(0.5))
        _PHI_CONSTANTS[B] = consts
    return consts


def _phi_storage(B, x, out=None):
    """The normal CDF of storage ``x`` (float32 or float64), written into ``out`` where
    given."""
    if x.dtype == B.float64:
        r = _erf_fwd(B, x * _SQRT_HALF)
        r += 1.0
        if out is None:
            r *= 0.5
            return r
        B.binary_into("multiply", r, 0.5, out)
        return out
    p, q, lo, hi, half = _phi_constants(B)
    xc = B.clip_scalars(x, lo, hi)
    t = xc * xc
    r = _horner_inplace(t, p)
    r /= _horner_inplace(t, q)
    r *= xc
    if out is None:
        r += half
        return r
    B.binary_into("add", r, half, out)
    return out


def _gelu_fwd(B, x, *, cache):
    """``x Phi(x)`` over the flat input, in ranges of elements on threads where the backend
    runs chunks (element-wise: the serial numbers)."""
    n = x.size
    bounds = cache["bounds"] = B.chunk_bounds(n, n)
    if len(bounds) == 1:  # (small inputs: no chunk machinery)
        cdf = cache["cdf"] = _phi_storage(B, x)
        return x * cdf
    flat, dev = B.reshape(x, (-1,)), B.native_device
    out = B.empty((n,), dtype=x.dtype, device=dev)
    cdf = cache["cdf"] = B.empty((n,), dtype=x.dtype, device=dev)

    def chunk(lo, hi):
        _phi_storage(B, flat[lo:hi], cdf[lo:hi])
        B.binary_into("multiply", flat[lo:hi], cdf[lo:hi], out[lo:hi])
    B.run_chunks(chunk, bounds)
    return B.reshape(out, x.shape)


def _gelu_slope(ns, x, cdf):
    """``d gelu / dx = Phi(x) + x phi(x)``."""
    return cdf + x * (ns.exp(-0.5 * (x * x)) * _INV_SQRT_2PI)


def _gelu_cdf(x):
    """Phi of a tensor, differentiably (through ``erf``)."""
    return 0.5 * (1.0 + erf(x * _SQRT_HALF))


def _gelu_vjp(ns, needs, g, out, x, *, cache):
    return (g * _gelu_slope(ns, x, _gelu_cdf(x)),)


def _gelu_vjp_storage(B, needs, g, out, x, *, cache):
    """``g * slope`` from the forward's CDF, in the forward's ranges."""
    cdf, bounds = cache["cdf"], cache["bounds"]
    if len(bounds) == 1:
        return (_gelu_grad_storage(B, g, x, cdf),)
    xf, gf = B.reshape(x, (-1,)), B.reshape(g, (-1,))
    gx = B.empty(cdf.shape, dtype=B.result_type(g, x), device=B.native_device)
    B.run_chunks(lambda lo, hi: _gelu_grad_storage(B, gf[lo:hi], xf[lo:hi], cdf[lo:hi],
                                                   gx[lo:hi]), bounds)
    return (B.reshape(gx, x.shape),)


def _gelu_grad_storage(B, g, x, cdf, out=None):
    """``g (cdf + x phi(x))``, written into ``out`` where given."""
    r = x * x
    r *= -0.5
    r = B.exp(r)
    r *= x
    r *= _INV_SQRT_2PI
    r += cdf
    if out is None:
        r *= g
        return r
    B.binary_into("multiply", r, g, out)
    return out


def _gelu_jvp(ns, tangents, out, x, *, cache):
    return tangents[0] * _gelu_slope(ns, x, _gelu_cdf(x))


_gelu_prim = Primitive("gelu", _gelu_fwd, _gelu_vjp, _gelu_jvp, vjp_storage=_gelu_vjp_storage,
                       saves_output=False)
_gelu_prim.batch = _vb.elementwise_rule(_gelu_prim)


def gelu(x: Tensor) -> Tensor:
    """The exact GELU ``x Phi(x)`` of a float32 or float64 tensor (``GELU_DTYPES``) as one
    node."""
    return _gelu_prim(x, cache={})


# -- layer norm: one node, the saved statistics reused by its backward ------------------
def _ln_axes(x, k):
    return tuple(range(x.ndim - k, x.ndim))


def _ln_stats(ns, x, k, eps):
    """``(x - mean) * rstd`` over the last ``k`` axes, and ``rstd`` (means as sums over
    the count: NumPy's ``mean`` rounds the same way, with 10 us of Python around it)."""
    axes = _ln_axes(x, k)
    count = math.prod(x.shape[x.ndim - k:])
    d = x - ns.sum(x, axis=axes, keepdims=True) / count
    rstd = 1.0 / ns.sqrt(ns.sum(d * d, axis=axes, keepdims=True) / count + eps)
    return d * rstd, rstd


def _ln_stats_storage(B, x, k, eps):
    """``_ln_stats`` on storage, its temporaries updated in place (the same roundings)."""
    axes = _ln_axes(x, k)
    count = math.prod(x.shape[x.ndim - k:])
    mean = B.sum(x, axis=axes, keepdims=True)
    mean /= count
    d = x - mean
    var = B.sum(d * d, axis=axes, keepdims=True)
    var /= count
    var += eps
    rstd = 1.0 / B.sqrt(var)
    d *= rstd
    return d, rstd


_LN_ONES: dict = {}  # (backend, dtype, count) -> a vector of ones (row sums as dot products)
# Layer norm and dropout make a few cheap passes per element: an element counts as 1/16 of
# ``chunk_bounds``' unit (attention's score element).  Measured on 2 quiet cores, chunks at
# 128K elements cost twice the serial time (the hand-over and the GIL between the threads'
# NumPy calls), so these kernels split from about 1M elements only.
_LIGHT_WORK = 16


def _ones_row(B, dtype, count):
    """A cached vector of ``count`` ones of ``dtype`` on ``B``."""
    key = (B, dtype, count)
    ones = _LN_ONES.get(key)
    if ones is None:
        if len(_LN_ONES) > 64:
            _LN_ONES.clear()
        ones = _LN_ONES[key] = B.ones((count,), dtype=dtype, device=B.native_device)
    return ones


def _ln_rows_fwd(B, x, w, b, eps, dest=None):
    """Layer norm of the rows of ``x`` (n, C): ``(xhat, rstd (n, 1), out)`` (``out`` None
    without weight and bias: ``xhat`` is the result), written into ``dest`` (three such
    arrays, a chunk's rows) where given; the row sums as dot products (one pass each, no
    temporary), the rest in place."""
    count = x.shape[-1]
    mean = B.vecdot(x, _ones_row(B, x.dtype, count))[:, None]
    mean *= 1.0 / count
    if dest is None:
        xhat = x - mean
    else:
        xhat = dest[0]
        B.binary_into("subtract", x, mean, xhat)
    var = B.vecdot(xhat, xhat)[:, None]
    var *= 1.0 / count
    var += eps
    rstd = 1.0 / B.sqrt(var)
    if dest is not None:
        dest[1][...] = rstd
    xhat *= rstd
    if w is None and b is None:
        return xhat, rstd, None
    op, arg = ("add", b) if w is None else ("multiply", w)
    if dest is None:
        out = getattr(B, op)(xhat, arg)
    else:
        out = dest[2]
        B.binary_into(op, xhat, arg, out)
    if w is not None and b is not None:
        out += b
    return xhat, rstd, out


def _ln_flat(B, x, k):
    """``x`` as (rows, C) for the last ``k`` axes (a view where the layout allows)."""
    count = math.prod(x.shape[x.ndim - k:])
    return B.reshape(x, (x.size // count if count else 0, count))


def _ln_fwd(B, x, *wb, k, eps, has_w, has_b, cache):
    """Rows in chunks where the backend runs them concurrently; ``xhat`` and ``rstd`` kept
    (``xhat`` only when the output is not ``xhat`` itself, which the caller may modify)."""
    if x.size == 0:
        return _ln_fwd_empty(B, x, wb, k, eps, has_w, has_b, cache)
    x2 = x if k == 1 and x.ndim == 2 else _ln_flat(B, x, k)
    n, count = x2.shape
    w = (wb[0] if k == 1 else B.reshape(wb[0], (count,))) if has_w else None
    b = (wb[-1] if k == 1 else B.reshape(wb[-1], (count,))) if has_b else None
    bounds = B.chunk_bounds(n, x.size // _LIGHT_WORK)
    if len(bounds) == 1:
        xhat, rstd, out = _ln_rows_fwd(B, x2, w, b, eps)
    else:
        dev = B.native_device
        xhat, rstd, out = dest = (
            B.empty(x2.shape, dtype=x2.dtype, device=dev),
            B.empty((n, 1), dtype=x2.dtype, device=dev),
            B.empty(x2.shape, dtype=x2.dtype, device=dev) if has_w or has_b else None)
        B.run_chunks(lambda lo, hi: _ln_rows_fwd(
            B, x2[lo:hi], w, b, eps, [a if a is None else a[lo:hi] for a in dest]), bounds)
    cache["rstd"] = rstd
    if out is None:
        return B.reshape(xhat, x.shape)
    cache["xhat"] = xhat
    return B.reshape(out, x.shape)


def _ln_fwd_empty(B, x, wb, k, eps, has_w, has_b, cache):
    """The general form (an empty input)."""
    xhat, rstd = _ln_stats_storage(B, x, k, eps)
    cache["rstd"] = rstd
    out = xhat * wb[0] if has_w else xhat
    if has_b:
        out = out + wb[-1]
    cache["xhat"] = xhat
    return out


def _ln_input_grad(ns, g, w, xhat, rstd, k, fresh):
    """``rstd (gh - mean(gh) - xhat mean(gh xhat))`` for ``gh = g w``; updated in place
    on storage (``fresh``)."""
    axes = _ln_axes(xhat, k)
    gh = g * w if w is not None else g
    a = ns.mean(gh, axis=axes, keepdims=True)
    b = ns.mean(gh * xhat, axis=axes, keepdims=True)
    if not (fresh and w is not None):
        return (gh - a - xhat * b) * rstd
    gh -= a
    gh -= xhat * b
    gh *= rstd
    return gh


def _ln_grads(ns, needs, g, xhat, rstd, wb, k, has_w, has_b, fresh):
    lead = tuple(range(xhat.ndim - k))
    w = wb[0] if has_w else None
    out = [_ln_input_grad(ns, g, w, xhat, rstd, k, fresh) if needs[0] else None]
    if has_w:
        out.append(ns.sum(g * xhat, axis=lead) if needs[1] else None)
    if has_b:
        out.append(ns.sum(g, axis=lead) if needs[1 + has_w] else None)
    return tuple(out)


def _ln_vjp(ns, needs, g, out, x, *wb, k, eps, has_w, has_b, cache):
    xhat, rstd = _ln_stats(ns, x, k, eps)
    return _ln_grads(ns, needs, g, xhat, rstd, wb, k, has_w, has_b, False)


def _ln_vjp_storage(B, needs, g, out, x, *wb, k, eps, has_w, has_b, cache):
    """The input gradient by rows and the weight's and bias's by columns, in the
    forward's chunks (each range of rows also takes a range of columns)."""
    if x.size == 0:
        return _ln_grads(B, needs, g, cache["xhat"], cache["rstd"], wb, k, has_w, has_b, True)
    x2, rstd = _ln_flat(B, x, k), cache["rstd"]
    n, count = x2.shape
    xhat = cache.get("xhat")
    if xhat is None:
        xhat = _ln_rows_fwd(B, x2, None, None, eps)[0]
    g2 = B.reshape(g, x2.shape)
    w = B.reshape(wb[0], (count,)) if has_w else None
    want_w, want_b = has_w and needs[1], has_b and needs[1 + has_w]
    bounds = B.chunk_bounds(n, x.size // _LIGHT_WORK)
    if len(bounds) == 1:
        gx, dw, db = _ln_chunk_grads(B, g2, w, xhat, rstd, needs[0], want_w, want_b, None)
    else:
        dev = B.native_device
        gx, dw, db = (B.empty(shape, dtype=x2.dtype, device=dev) if want else None
                      for want, shape in ((needs[0], x2.shape), (want_w, (count,)),
                                          (want_b, (count,))))
        m = len(bounds)
        cols = {lo: (count * i // m, count * (i + 1) // m) for i, (lo, _) in enumerate(bounds)}

        def chunk(lo, hi):
            c0, c1 = cols[lo]
            _ln_chunk_grads(B, g2, w, xhat, rstd, needs[0], want_w, want_b,
                            (lo, hi, c0, c1, gx, dw, db))
        B.run_chunks(chunk, bounds)
    result = [None if gx is None else B.reshape(gx, x.shape)]
    if has_w:
        result.append(None if dw is None else B.reshape(dw, wb[0].shape))
    if has_b:
        result.append(None if db is None else B.reshape(db, wb[-1].shape))
    return tuple(result)


def _ln_chunk_grads(B, g, w, xhat, rstd, want_x, want_w, want_b, part):
    """``(gx, dw, db)`` of flat (n, C) operands, or, for ``part = (lo, hi, c0, c1, gx, dw,
    db)``, rows ``lo:hi`` of ``gx`` and columns ``c0:c1`` of ``dw``, ``db`` written in
    place (row and column ranges of the same serial sums: the same numbers)."""
    gx = dw = db = None
    if part is None:
        if want_x:
            gx = _ln_rows_input_grad(B, g, w, xhat, rstd, None)
        return gx, B.sum(g * xhat, axis=0) if want_w else None, \
            B.sum(g, axis=0) if want_b else None
    lo, hi, c0, c1, gx, dw, db = part
    if want_x:
        _ln_rows_input_grad(B, g[lo:hi], w, xhat[lo:hi], rstd[lo:hi], gx[lo:hi])
    if want_w:
        dw[c0:c1] = B.sum(g[:, c0:c1] * xhat[:, c0:c1], axis=0)
    if want_b:
        db[c0:c1] = B.sum(g[:, c0:c1], axis=0)


def _ln_rows_input_grad(B, g, w, xhat, rstd, gx):
    """``gx = rstd (gh - mean(gh) - xhat mean(gh xhat))``, ``gh = g w``, of rows (n, C),
    the means as dot products; written into ``gx`` where given (a chunk's rows), else
    returned."""
    count = g.shape[-1]
    gh = g * w if w is not None else g
    a = B.vecdot(gh, _ones_row(B, g.dtype, count))[:, None]
    a *= 1.0 / count
    t = B.vecdot(gh, xhat)[:, None]
    t *= 1.0 / count
    t = xhat * t
    t += a
    if gx is None:
        gx = gh - t
    else:
        B.binary_into("subtract", gh, t, gx)
    gx *= rstd
    return gx


def _ln_jvp(ns, tangents, out, x, *wb, k, eps, has_w, has_b, cache):
    xhat, rstd = _ln_stats(ns, x, k, eps)
    axes = _ln_axes(x, k)
    r = None
    if tangents[0] is not None:
        d = tangents[0] - ns.mean(tangents[0], axis=axes, keepdims=True)
        r = rstd * (d - xhat * ns.mean(xhat * d, axis=axes, keepdims=True))
        if has_w:
            r = r * wb[0]
    if has_w and tangents[1] is not None:
        r = xhat * tangents[1] if r is None else r + xhat * tangents[1]
    if has_b and tangents[1 + has_w] is not None:
        tb = tangents[1 + has_w]
        r = tb if r is None else r + tb
    return r


def _ln_batch(ns, bdims, x, *wb, k, eps, has_w, has_b, cache):
    """vmap: a batched input with shared weights runs the kernel (the batch is one more
    leading axis); per-example weights or bias take the composite form."""
    if bdims[0] is not None and all(b is None for b in bdims[1:]):
        return _apply(_ln_prim, (x,) + wb, dict(k=k, eps=eps, has_w=has_w, has_b=has_b,
                                               cache={}))
    x, *wb = _vb.align(ns, bdims, (x,) + wb)
    out = _ln_stats(ns, x, k, eps)[0]
    if has_w:
        out = out * wb[0]
    return out + wb[-1] if has_b else out


_ln_prim = Primitive("layer_norm", _ln_fwd, _ln_vjp, _ln_jvp, vjp_storage=_ln_vjp_storage,
                     saves_output=False)
_ln_prim.batch = _ln_batch
LAYER_NORM_DTYPES = frozenset((_dtypes.float32, _dtypes.float64))


def layer_norm(x: Tensor, k: int, w=None, b=None, eps=1e-5) -> Tensor:
    """``(x - mean) / sqrt(var + eps) * w + b`` over the last ``k`` axes of ``x`` as one
    node (float32/float64, ``LAYER_NORM_DTYPES``; ``w``, ``b`` of the trailing shape or
    None, of ``x``'s dtype and device)."""
    inputs = (x,) + ((w,) if w is not None else ()) + ((b,) if b is not None else ())
    return _ln_prim(*inputs, k=k, eps=float(eps), has_w=w is not None, has_b=b is not None,
                    cache={})


# -- dropout: the input times its scaled mask, one node ---------------------------------
# The mask (0, or 1 / (1 - p) where kept) comes from ``dropout_mask`` (``arraylib._random``:
# ``(rand >= p) / (1 - p)``, the same numbers, formed from the raw words in ranges on
# threads); the kernel only multiplies, in chunks of rows where the backend runs them.
def _drop_mask(ns, u, p):
    keep = u >= p
    return ns.astype(keep, u.dtype) * (1.0 / (1.0 - p))


def _dropout_fwd(B, x, mask, *, p, cache):
    """``x * mask``, in chunks of rows (written into a joined result) where the backend
    runs them concurrently (the mask kept for the backward)."""
    if p is not None:
        mask = _drop_mask(B, mask, p)
    cache["mask"] = mask
    bounds = cache["bounds"] = B.chunk_bounds(x.shape[0] if x.ndim else 1,
                                              x.size // _LIGHT_WORK)
    if len(bounds) == 1 or x.shape != mask.shape:
        cache["bounds"] = ((0, 1),)
        return x * mask
    out = B.empty(x.shape, dtype=B.result_type(x, mask), device=B.native_device)
    B.run_chunks(lambda lo, hi: B.binary_into("multiply", x[lo:hi], mask[lo:hi], out[lo:hi]),
                 bounds)
    return out


def _dropout_vjp(ns, needs, g, out, x, mask, *, p, cache):
    """``g * mask`` (the inputs are not saved: overwriting them later is allowed)."""
    return g * _cached(g, cache["mask"]), None


def _dropout_vjp_storage(B, needs, g, out, x, mask, *, p, cache):
    mask, bounds = cache["mask"], cache["bounds"]
    if len(bounds) == 1 or g.shape != mask.shape:
        return g * mask, None
    gx = B.empty(g.shape, dtype=B.result_type(g, mask), device=B.native_device)
    B.run_chunks(lambda lo, hi: B.binary_into("multiply", g[lo:hi], mask[lo:hi], gx[lo:hi]),
                 bounds)
    return gx, None


def _dropout_jvp(ns, tangents, out, x, mask, *, p, cache):
    if tangents[0] is None:
        return None
    return tangents[0] * (_detached(mask) if p is None else _drop_mask(ns, _detached(mask), p))


_dropout_prim = Primitive("dropout", _dropout_fwd, _dropout_vjp, _dropout_jvp,
                          vjp_storage=_dropout_vjp_storage, saves_inputs=False,
                          saves_output=False)
_dropout_prim.batch = _vb.elementwise_rule(_dropout_prim)


def dropout(x: Tensor, mask: Tensor, p=None) -> Tensor:
    """``x * mask`` for a scaled dropout mask (``dropout_mask``: 0 or ``1 / (1 - p)``, of
    ``x``'s shape and dtype) as one node (no gradient to the mask); with ``p``, ``mask``
    holds uniform draws and the mask is ``(mask >= p) / (1 - p)``."""
    return _dropout_prim(x, mask, p=None if p is None else float(p), cache={})


# -- embedding: rows of a 2-D weight at integer indices, one node --------------------------
def _embedding_fwd(B, w, idx, *, padding_idx, cache):
    """``w[idx]``, the indices checked on storage (one min and one max)."""
    flat = cache["flat"] = B.reshape(idx, (-1,))
    num = w.shape[0]
    if flat.shape[0]:
        lo, hi = int(B.min(flat)), int(B.max(flat))
        if lo < 0 or hi >= num:
            raise IndexError(f"embedding: index {lo if lo < 0 else hi} is out of range for a "
                             f"weight of {num} embeddings (shape {tuple(w.shape)})")
    cache["shape"] = w.shape
    return B.reshape(B.take(w, flat, axis=0), idx.shape + w.shape[1:])


def _embedding_onehot(ns, g, flat, num, padding_idx):
    """(N, num) of ``g``'s dtype: 1 where ``flat`` picks the row (never ``padding_idx``)."""
    dev = g.device if isinstance(g, Tensor) else ns.native_device
    hit = ns.expand_dims(flat, axis=1) == ns.arange(num, device=dev)
    if padding_idx is not None:
        hit = ns.logical_and(hit, ns.expand_dims(flat != padding_idx, axis=1))
    return ns.astype(hit, g.dtype)


def _embedding_vjp(ns, needs, g, out, w, idx, *, padding_idx, cache):
    """The weight's cotangent as a product with the one-hot rows (differentiable)."""
    flat, shape = _cached(g, cache["flat"]), cache["shape"]
    g2 = ns.reshape(g, (flat.shape[0], shape[1]))
    onehot = _embedding_onehot(ns, g, flat, shape[0], padding_idx)
    return ns.matmul(ns.matrix_transpose(onehot), g2), None


def _embedding_vjp_storage(B, needs, g, out, w, idx, *, padding_idx, cache):
    """Rows added at the indices (repeats accumulate), the padding row zeroed."""
    flat, shape = cache["flat"], cache["shape"]
    zeros = B.zeros(shape, dtype=g.dtype, device=B.native_device)
    gw = B.index_add(zeros, (flat,), B.reshape(g, (flat.shape[0],) + shape[1:]))
    if padding_idx is not None:
        B.assign(gw, (padding_idx, ...), 0)
    return gw, None


def _embedding_jvp(ns, tangents, out, w, idx, *, padding_idx, cache):
    flat = _cached(tangents[0], cache["flat"])
    return ns.reshape(ns.take(tangents[0], flat, axis=0), tuple(out.shape))


def _embedding_batch(ns, bdims, w, idx, *, padding_idx, cache):
    """vmap: batched indices into a shared weight run the kernel (the batch is one more
    index axis); a per-example weight takes its own rows (padding rows detached)."""
    if bdims[0] is None:
        return _apply(_embedding_prim, (w, idx), dict(padding_idx=padding_idx, cache={}))
    n = w.shape[0]
    if bdims[1] is None:
        idx = ns.broadcast_to(ns.expand_dims(idx, axis=0), (n,) + tuple(idx.shape))
    flat = ns.reshape(idx, (n, -1, 1))
    out = ns.take_along_axis(w, flat, axis=1)
    if padding_idx is not None:
        out = ns.where(flat != padding_idx, out, out.detach())
    return ns.reshape(out, tuple(idx.shape) + tuple(w.shape[2:]))


_embedding_prim = Primitive("embedding", _embedding_fwd, _embedding_vjp, _embedding_jvp,
                            vjp_storage=_embedding_vjp_storage, saves_inputs=False,
                            saves_output=False)
_embedding_prim.batch = _embedding_batch


def embedding_kernel(idx, w, padding_idx=None):
    """``w[idx]`` for integer ``idx`` and a 2-D floating ``w`` as one node (no gradient to
    row ``padding_idx``, already non-negative), or None where it does not apply (other
    operands, or inside vmap: the caller's composite then runs)."""
    if idx.__class__ is not Tensor or w.ndim != 2 or w.dtype.kind != "f" or \
            not isinstance(w, Tensor) or isinstance(w, _vb.BatchedTensor) or \
            w._device is not idx._device:
        return None
    return _embedding_prim(w, idx, padding_idx=padding_idx, cache={})


# -- Adam / AdamW: every parameter's update on its storage, parameters split among threads --
_ADAM_DTYPES = frozenset(id(d) for d in (_dtypes.float32, _dtypes.float64))


def adam_update_(params, grads, exp_avgs, exp_avg_sqs, max_sqs, steps, *, lr, beta1, beta2,
                 eps, weight_decay, decoupled, amsgrad, maximize) -> list:
    """Adam's update (``optim.Adam``'s rule, the same operations in the same order) of
    each parameter whose tensors may be updated on their storage (no graph recorded;
    float32/float64 tensors of one shape and device, none a view), the parameters split
    among threads by size where the backend runs chunks (each is updated by one thread:
    the serial numbers).  ``max_sqs`` holds None where not ``amsgrad``; ``steps`` the
    step numbers (already counted).  Returns the indices it did not update."""
    groups, left = [], []
    on_storage = storage_updates_allowed() and all(
        isinstance(c, (int, float)) for c in (lr, beta1, beta2, eps, weight_decay))
    dev = params[0]._device if params else None
    for i, group in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs, max_sqs)):
        ts = group[:4] + ((group[4],) if amsgrad else ())
        ready = on_storage and _adam_ready(ts, dev)
        (groups if ready else left).append(i if not ready else group + (steps[i],))
    if groups:
        B = dev._backend
        rule = (lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize)
        bounds = _balanced_bounds(B, [g[0]._data.size for g in groups])

        def chunk(lo, hi):
            for group in groups[lo:hi]:
                _adam_storage(B, *group, *rule)
        B.run_chunks(chunk, bounds)
        for group in groups:
            for t in group[:5]:
                if t is not None and t is not group[1]:
                    bump_version(t)
    return left


def _adam_ready(ts, dev) -> bool:
    """Whether one parameter's tensors are float32/float64 tensors of one dtype, shape and
    device ``dev`` (whose in-place operators are safe), none a view."""
    if not all(isinstance(t, Tensor) for t in ts) or dev is None or \
            not dev._backend.inplace_buffers_overlap:
        return False
    data = ts[0]._data
    dt, shape = data.dtype, data.shape
    return id(dt) in _ADAM_DTYPES and all(
        t._device is dev and t._base is None and t._data.dtype is dt and t._data.shape == shape
        for t in ts)


def _balanced_bounds(B, sizes):
    """``chunk_bounds``' number of ranges over the items of ``sizes``, each range of about
    the same total size."""
    total = sum(sizes)
    count = len(B.chunk_bounds(len(sizes), total))
    if count == 1:
        return ((0, len(sizes)),)
    cuts, acc, at = [0], 0, 1
    for i, s in enumerate(sizes):
        acc += s
        if at < count and acc * count >= total * at and i + 1 < len(sizes):
            cuts.append(i + 1)
            at += 1
    cuts.append(len(sizes))
    return tuple(zip(cuts[:-1], cuts[1:]))


def _adam_storage(B, p, g, m, v, vmax, step, lr, beta1, beta2, eps, weight_decay, decoupled,
                  amsgrad, maximize):
    """One parameter's Adam step on its storage (``optim.adam``'s tensor form, op for op)."""
    pd, g, md, vd = p._data, g._data, m._data, v._data
    if maximize:
        g = -g
    if weight_decay != 0:
        if decoupled:
            pd *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * pd
    w = 1 - beta1
    if w < 0.5:  # (PyTorch's lerp_ rounding)
        md += w * (g - md)
    else:
        md -= g
        md *= 1 - w
        md += g
    vd *= beta2
    vd += (1 - beta2) * g * g
    if amsgrad:
        vmax._data[...] = B.maximum(vmax._data, vd)
        vd = vmax._data
    denom = B.sqrt(vd)
    denom /= (1 - beta2 ** step) ** 0.5
    denom += eps
    update = md / denom
    update *= lr / (1 - beta1 ** step)
    pd -= update

# -- the recurrent layers: the cells and the whole-sequence loop live in
# ``arraylib._rnn_kernels`` (imported above, re-exported for nn) -------------------
__all__ += ["rnn_sequence"]


# -- activations of nn.functional (hardtanh, elu, softplus): one node each ------------------
_ACT_DTYPES = frozenset(id(d) for d in _dtypes.real_floating_dtypes)


def _activation_operand(x) -> bool:
    """Whether ``x`` is a real floating-point ``Tensor`` (storage dtype ids first)."""
    return x.__class__ is Tensor and (id(x._data.dtype) in _ACT_DTYPES
                                      or x.dtype in _dtypes.real_floating_set)


def _hardtanh_inside(ns, x, lo, hi):
    """Where the gradient of hardtanh passes: strictly inside ``(lo, hi)``, NaN too."""
    return ns.logical_not(ns.logical_or(x <= lo, x >= hi))


def _hardtanh_fwd(B, x, *, lo, hi):
    return B.minimum(B.maximum(x, lo), hi)  # (NaN kept)


def _hardtanh_rule(ns, t, x, lo, hi):
    return ns.where(_hardtanh_inside(ns, x, lo, hi), t, ns.zeros_like(t))


_hardtanh_prim = Primitive(
    "hardtanh", _hardtanh_fwd,
    vjp=lambda ns, needs, g, out, x, *, lo, hi: (_hardtanh_rule(ns, g, x, lo, hi),),
    jvp=lambda ns, tangents, out, x, *, lo, hi: _hardtanh_rule(ns, tangents[0], x, lo, hi),
    saves_output=False)
_hardtanh_prim.batch = _vb.elementwise_rule(_hardtanh_prim)


def hardtanh_kernel(x, lo: float, hi: float):
    """``x`` clamped to ``[lo, hi]`` with PyTorch's gradient (1 strictly inside, 0 at and
    beyond the bounds), one node, for a real floating-point tensor; None for any other
    operand (the caller's general path)."""
    if not _activation_operand(x):
        return None
    if lo.__class__ is not float or hi.__class__ is not float:
        lo, hi = float(lo), float(hi)
    return apply1(_hardtanh_prim, x, {"lo": lo, "hi": hi})


def _leaky_relu_fwd(B, x, *, slope):
    if 0.0 <= slope <= 1.0:
        return B.maximum(x, x * slope)  # (x where x > 0, else slope x; NaN kept)
    return B.where(x > 0.0, x, x * slope)


def _leaky_relu_rule(ns, t, x, slope):
    return ns.where(x > 0.0, t, t * slope)  # (slope at 0, as PyTorch)


_leaky_relu_prim = Primitive(
    "leaky_relu", _leaky_relu_fwd,
    vjp=lambda ns, needs, g, out, x, *, slope: (_leaky_relu_rule(ns, g, x, slope),),
    jvp=lambda ns, tangents, out, x, *, slope: _leaky_relu_rule(ns, tangents[0], x, slope),
    saves_output=False)
_leaky_relu_prim.batch = _vb.elementwise_rule(_leaky_relu_prim)


def leaky_relu_kernel(x, slope: float):
    """``x`` where ``x > 0``, else ``slope x``, one node, for a real floating-point tensor;
    None for any other operand (the caller's general path)."""
    if not _activation_operand(x):
        return None
    return apply1(_leaky_relu_prim, x, {"slope": float(slope)})


def _logistic(ns, x):
    """``1 / (1 + exp(-x))`` as ``e / (1 + e)``, ``e = exp(-|x|)``, for negative ``x``: no
    overflow, the tiny values of very negative ``x`` kept."""
    e = ns.exp(-ns.abs(x))
    r = 1.0 / (1.0 + e)
    return ns.where(x >= 0.0, r, e * r)


_CONSTANTS: dict = {}  # (backend id, dtype id) -> (backend, 0-d -1, 0 and 1 there)


def _constants(B, x):
    """0-d -1, 0 and 1 of ``x``'s (floating-point) dtype on backend ``B``, made once:
    operands NumPy takes as cheaply as arrays (it resolves a Python float every call)."""
    hit = _CONSTANTS.get((id(B), id(x.dtype)))
    if hit is None or hit[0] is not B:
        zero = B.zeros((), dtype=x.dtype, device=B.native_device)
        hit = _CONSTANTS[(id(B), id(x.dtype))] = (B, zero - 1, zero, zero + 1)
    return hit


def logistic_storage(B, x):
    """``_logistic`` on storage, its values bit for bit, in fewer and cheaper calls:
    ``r = 1 / (1 + exp(-|x|))`` times ``exp(min(x, 0))`` (``exp(-|x|)`` below 0, 1 above:
    no select), ``-|x|`` as ``copysign(x, -1)``, no Python-scalar operand (NumPy resolves
    one on every call)."""
    _, minus_one, zero, one = _constants(B, x)
    r = B.reciprocal(B.exp(B.copysign(x, minus_one)) + one)
    r *= B.exp(B.minimum(x, zero))
    return r


def _silu_fwd(B, x, *, cache):
    s = cache["s"] = logistic_storage(B, x)
    return x * s


def _silu_deriv(ns, x, s):
    return s * (1.0 + x * (1.0 - s))


def _silu_vjp(ns, needs, g, out, x, *, cache):
    return (g * _silu_deriv(ns, x, _logistic(ns, x)),)


def _silu_vjp_storage(B, needs, g, out, x, *, cache):
    return (g * _silu_deriv(B, x, cache["s"]),)  # (the forward's sigmoid)


_silu_prim = Primitive(
    "silu", _silu_fwd, _silu_vjp,
    jvp=lambda ns, tangents, out, x, *, cache: tangents[0] * _silu_deriv(ns, x, _logistic(ns, x)),
    vjp_storage=_silu_vjp_storage, saves_output=False)
_silu_prim.batch = _vb.elementwise_rule(_silu_prim)


def silu_kernel(x):
    """``x sigmoid(x)``, one node (its backward reuses the forward's sigmoid), for a real
    floating-point tensor; None for any other operand (the caller's general path)."""
    if not _activation_operand(x):
        return None
    return apply1(_silu_prim, x, {"cache": {}})


def _elu_fwd(B, x, *, alpha):
    zero = _constants(B, x)[2]
    neg = B.expm1(B.minimum(x, zero))
    return B.where(x > zero, x, neg * alpha if alpha != 1.0 else neg)


def _elu_deriv(ns, x, alpha):
    """d elu / dx: 1 above 0, ``alpha exp(x)`` at and below (PyTorch)."""
    return ns.where(x > 0, ns.ones_like(x), alpha * ns.exp(ns.minimum(x, 0.0)))


_elu_prim = Primitive(
    "elu", _elu_fwd,
    vjp=lambda ns, needs, g, out, x, *, alpha: (g * _elu_deriv(ns, x, alpha),),
    jvp=lambda ns, tangents, out, x, *, alpha: tangents[0] * _elu_deriv(ns, x, alpha),
    saves_output=False)
_elu_prim.batch = _vb.elementwise_rule(_elu_prim)


def elu_kernel(x, alpha: float):
    """``x`` above 0, ``alpha (exp(x) - 1)`` elsewhere, one node, for a real
    floating-point tensor; None for any other operand."""
    if not _activation_operand(x):
        return None
    return apply1(_elu_prim, x, {"alpha": float(alpha)})


def _softplus_fwd(B, x, *, beta, threshold):
    bx = x * beta if beta != 1.0 else x
    big = bx > threshold
    soft = B.log1p(B.exp(B.where(big, _constants(B, x)[2], bx)))  # (no overflow where not kept)
    if beta != 1.0:
        soft = soft / beta
    return B.where(big, x, soft)


def _softplus_deriv(ns, x, out, beta, threshold):
    """d softplus / dx: ``sigmoid(beta x) = 1 - exp(-beta out)``, 1 above the threshold."""
    bx = x * beta if beta != 1.0 else x
    bout = out * beta if beta != 1.0 else out
    return ns.where(bx > threshold, ns.ones_like(out), -ns.expm1(-bout))


def _softplus_vjp_storage(B, needs, g, out, x, *, beta, threshold):
    """``g sigmoid(beta x)`` as ``-g expm1(-beta out)`` on a fresh temporary, ``g`` itself
    above the threshold (the values of the rule on tensors, fewer passes)."""
    bx = x * beta if beta != 1.0 else x
    d = B.expm1(-(out * beta) if beta != 1.0 else -out)
    d *= -g
    return (B.where(bx > threshold, g, d),)


_softplus_prim = Primitive(
    "softplus", _softplus_fwd, vjp_storage=_softplus_vjp_storage,
    vjp=lambda ns, needs, g, out, x, *, beta, threshold: (
        g * _softplus_deriv(ns, x, out, beta, threshold),),
    jvp=lambda ns, tangents, out, x, *, beta, threshold: tangents[0] * _softplus_deriv(
        ns, x, out, beta, threshold))
_softplus_prim.batch = _vb.elementwise_rule(_softplus_prim)


def softplus_kernel(x, beta: float, threshold: float):
    """``log(1 + exp(beta x)) / beta``, ``x`` where ``beta x > threshold``, one node, for
    a real floating-point tensor; None for any other operand."""
    if not _activation_operand(x):
        return None
    return apply1(_softplus_prim, x, {"beta": float(beta), "threshold": float(threshold)})


def _logsigmoid_fwd(B, x):
    return -B.logaddexp(-x, 0.0)  # (no overflow either side)


def _logsigmoid_deriv(ns, out):
    """d logsigmoid / dx = ``sigmoid(-x) = 1 - exp(out)``, from the saved output."""
    return -ns.expm1(out)


_logsigmoid_prim = Primitive(
    "logsigmoid", _logsigmoid_fwd,
    vjp=lambda ns, needs, g, out, x: (g * _logsigmoid_deriv(ns, out),),
    jvp=lambda ns, tangents, out, x: tangents[0] * _logsigmoid_deriv(ns, out),
    saves_inputs=False)
_logsigmoid_prim.batch = _vb.elementwise_rule(_logsigmoid_prim)


def logsigmoid_kernel(x):
    """``-log(1 + exp(-x))``, one node whose backward reads its output, for a real
    floating-point tensor; None for any other operand."""
    if not _activation_operand(x):
        return None
    return apply1(_logsigmoid_prim, x)


# -- nll_loss of (N, C) log-probabilities and class indices: one node -----------------------
def _nll_fwd(B, x, t, *, ignore_index, reduction, cache):
    counted = _class_targets(B, t, x.shape[1], ignore_index, cache, "nll_loss")
    # one flat gather: no pass over the classes (the flat key is kept for the backward)
    taken = B.take(B.reshape(x, (-1,)), _target_flat(B, x.shape, cache)[0], axis=0)
    if reduction != "none" and cache["valid"] is None:
        total = -B.sum(taken)
        if reduction == "sum":
            return total
        cache["count"] = counted
        return total / counted
    return _reduce_rows(B, _counted_only(B, -taken, cache), reduction, counted, cache)


def _nll_reduced(ns, rows, x, reduction, cache):
    """Per-row values reduced as the loss is."""
    if reduction == "none":
        return rows
    total = ns.sum(rows)
    return total if reduction == "sum" else total / cache["count"]


def _nll_vjp(ns, needs, g, out, x, t, *, ignore_index, reduction, cache):
    if reduction == "none":
        g = ns.expand_dims(g, axis=1)
    elif reduction == "mean":
        g = g / cache["count"]
    return -_onehot(ns, x, t, cache) * g, None


def _nll_vjp_storage(B, needs, g, out, x, t, *, ignore_index, reduction, cache):
    """Zeros with ``-g`` (per row, or scaled for the mean) at the counted targets."""
    if reduction == "mean":
        g = g / cache["count"]
    dx = B.zeros(x.shape, dtype=x.dtype, device=B.native_device)
    return _add_at_targets(B, dx, -_counted_only(B, g, cache), cache), None


def _nll_jvp(ns, tangents, out, x, t, *, ignore_index, reduction, cache):
    tx = tangents[0]
    if tx is None:
        return None
    rows = -ns.sum(_onehot(ns, x, t, cache) * tx, axis=1)
    return _nll_reduced(ns, rows, x, reduction, cache)


_nll_prim = Primitive("nll_loss", _nll_fwd, _nll_vjp, _nll_jvp, vjp_storage=_nll_vjp_storage,
                      saves_output=False)
_nll_prim.batch = _vb.cross_entropy_rule(_nll_prim)


def nll_loss_kernel(x, t, ignore_index=-100, reduction="mean"):
    """``nll_loss`` of log-probabilities ``x`` (N, C) (real floating-point) and integer
    class indices ``t`` (N,), no class weights, as one node; targets equal to
    ``ignore_index`` count for nothing, others outside ``[0, C)`` raise IndexError.  None
    for any other operands (the caller's general path)."""
    if reduction not in _NLL_REDUCTIONS or not fusable_cross_entropy(x, t):
        return None
    return _apply(_nll_prim, (x, t), {"ignore_index": int(ignore_index),
                                     "reduction": reduction, "cache": {}})


_NLL_REDUCTIONS = frozenset(("none", "mean", "sum"))


# -- average pooling over disjoint windows (stride = kernel, no padding): one node ----------
def _blocks(shape, kernel):
    """``shape`` with each of its last ``len(kernel)`` dims split into (count, kernel)."""
    nd = len(kernel)
    split = tuple(shape[:-nd])
    for n, k in zip(shape[-nd:], kernel):
        split += (n // k, k)
    return split, tuple(range(len(shape) - nd + 1, len(shape) + nd, 2))


def _avg_pool_fwd(B, x, *, kernel, divisor, plan=None):
    """Window sums divided by ``divisor``; ``plan``: the split of the pooled dims and the
    (negative) axes to sum, computed once per shape."""
    if plan is None:
        split, axes = _blocks(x.shape, kernel)
        return B.sum(B.reshape(x, split), axis=axes) / divisor
    tail, axes = plan
    s = B.sum(B.reshape(x, x.shape[:-len(kernel)] + tail), axis=axes)
    s /= divisor  # (a fresh array: divided in place)
    return s


def _avg_pool_vjp(ns, needs, g, out, x, *, kernel, divisor, plan=None):
    nd = len(kernel)  # (the windows tile the input: its shape is the output's times kernel)
    in_shape = tuple(g.shape[:-nd]) + tuple(n * k for n, k in zip(g.shape[-nd:], kernel))
    split, axes = _blocks(in_shape, kernel)
    spread = ns.broadcast_to(ns.expand_dims(g, axis=axes), split)
    return (ns.reshape(spread, in_shape) / divisor,)


_AVG_POOL_GRAD_SHAPES: dict = {}  # (output shape, kernel) -> (input, split, g spread shapes)


def _avg_pool_vjp_storage(B, needs, g, out, x, *, kernel, divisor, plan=None):
    """``g / divisor`` written once into every window position (one broadcast copy)."""
    key = (tuple(g.shape), kernel)
    shapes = _AVG_POOL_GRAD_SHAPES.get(key)
    if shapes is None:
        nd = len(kernel)
        in_shape = key[0][:-nd] + tuple(n * k for n, k in zip(key[0][-nd:], kernel))
        split, axes = _blocks(in_shape, kernel)
        shapes = (in_shape, split, tuple(1 if i in axes else n for i, n in enumerate(split)))
        if len(_AVG_POOL_GRAD_SHAPES) >= 256:
            _AVG_POOL_GRAD_SHAPES.clear()
        _AVG_POOL_GRAD_SHAPES[key] = shapes
    in_shape, split, spread_shape = shapes
    gx = B.empty(split, dtype=g.dtype, device=B.native_device)
    B.assign(gx, Ellipsis, B.reshape(g / divisor, spread_shape))
    return (B.reshape(gx, in_shape),)


_avg_pool_prim = Primitive(
    "avg_pool", _avg_pool_fwd, _avg_pool_vjp, vjp_storage=_avg_pool_vjp_storage,
    jvp=lambda ns, tangents, out, x, *, kernel, divisor, plan=None: _avg_pool_fwd(
        ns, tangents[0], kernel=kernel, divisor=divisor),
    saves_inputs=False, saves_output=False)
_avg_pool_prim.batch = _vb.matrix_rule(_avg_pool_prim)


def avg_pool_kernel(x, kernel: tuple, divisor=None):
    """Average pooling of the last ``len(kernel)`` dims of ``x`` over disjoint windows
    (stride = kernel, no padding), one node; None unless ``x`` is a real floating-point
    tensor whose pooled dims the kernel divides (the caller's general path)."""
    if not _activation_operand(x) or len(kernel) > x.ndim:
        return None
    for n, k in zip(x.shape[-len(kernel):], kernel):
        if k <= 0 or n % k:
            return None
    params = _avg_pool_params(x, kernel, divisor)
    return apply1(_avg_pool_prim, x, params)


def _avg_pool_params(x, kernel, divisor):
    if divisor is None:
        divisor = 1
        for k in kernel:
            divisor *= k
    nd = len(kernel)
    tail = _blocks(x.shape, kernel)[0][-2 * nd:]
    return {"kernel": kernel, "divisor": divisor,
            "plan": (tail, tuple(range(1 - 2 * nd, 0, 2)))}


_AVG_POOL_PLANS: dict = {}  # (storage shape, dtype id, pooling arguments) -> params or None


def avg_pool_cached(x, args: tuple, plan):
    """``avg_pool_kernel(x, *plan(x, *args))`` (``plan`` returning (kernel, divisor), or
    None for the caller's general path), its checks memoized on ``x``'s storage shape and
    dtype and the hashable ``args``; None where the general path applies."""
    if x.__class__ is not Tensor:
        return None
    d = x._data
    try:
        if id(d.dtype) not in _NATIVE_IDS:  # (dtype ids as keys only for long-lived dtypes)
            raise TypeError
        key = (d.shape, id(d.dtype)) + args
        params = _AVG_POOL_PLANS.get(key, _MISSING)
    except TypeError:  # (a list argument, another backend's dtype objects: no memo)
        found = plan(x, *args)
        return None if found is None else avg_pool_kernel(x, *found)
    if params is _MISSING:
        found = plan(x, *args)
        params = None
        if found is not None and _activation_operand(x) and len(found[0]) <= x.ndim \
                and all(k > 0 and not n % k for n, k in zip(x.shape[-len(found[0]):], found[0])):
            params = _avg_pool_params(x, *found)
        if len(_AVG_POOL_PLANS) >= 512:
            _AVG_POOL_PLANS.clear()
        _AVG_POOL_PLANS[key] = params
    if params is None:
        return None
    return apply1(_avg_pool_prim, x, params)


# -- zero padding (nn.functional.pad's default): one node, checks memoized -----------------
_ZERO_PAD_PLANS: dict = {}  # (input shape, pad_width) -> (output shape, the input's index)


def _zero_pad_fwd(B, x, *, pad_width, value=0):
    key = (x.shape, pad_width)
    plan = _ZERO_PAD_PLANS.get(key)
    if plan is None:
        plan = (tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, pad_width)),
                tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape, pad_width)))
        if len(_ZERO_PAD_PLANS) >= 256:
            _ZERO_PAD_PLANS.clear()
        _ZERO_PAD_PLANS[key] = plan
    out = B.zeros(plan[0], dtype=x.dtype, device=B.native_device)  # (np.full is Python code)
    B.assign(out, plan[1], x)
    return out


_zero_pad_prim = Primitive(
    "constant_pad", _zero_pad_fwd, _pad_vjp,
    linear_jvp(lambda ns, t, *, pad_width, value: pad_on(ns, t, pad_width, 0)),
    saves_inputs=False, saves_output=False)
_zero_pad_prim.batch = _vb.pad_rule(_zero_pad_prim)
_PAD_PARAMS: dict = {}  # (storage shape, dtype id, pad) -> params, or None: the general path


def zero_pad_cached(x, pad, plan):
    """``x`` padded with zeros by ``plan(x, pad)`` (one non-negative (before, after) pair per
    dim, or None for the caller's general path), ``plan``'s checks memoized on ``x``'s
    storage shape and dtype and the hashable ``pad``; ``x`` itself where nothing is
    padded; None where the general path applies."""
    if x.__class__ is not Tensor:
        return None
    d = x._data
    if id(d.dtype) not in _NATIVE_IDS:
        return None  # (memo keys by dtype id only for long-lived dtype objects)
    key = (d.shape, id(d.dtype), pad)
    try:
        params = _PAD_PARAMS.get(key, _MISSING)
    except TypeError:  # (a list: no memo)
        return None
    if params is _MISSING:
        widths = plan(x, pad)
        params = None if widths is None else {"pad_width": widths, "value": 0}
        if widths is not None and not any(lo or hi for lo, hi in widths):
            params = _UNPADDED
        if len(_PAD_PARAMS) >= 256:
            _PAD_PARAMS.clear()
        _PAD_PARAMS[key] = params
    if params is None:
        return None
    if params is _UNPADDED:
        return x
    return apply1(_zero_pad_prim, x, params)


_UNPADDED = {}  # (a marker)


# -- one_hot: one storage comparison --------------------------------------------------------
_CLASSES: dict = {}  # (backend id, dtype id, num_classes) -> (backend, 0..n-1, int64 there)


def _classes(B, t, n):
    """(``B``, ``arange(n)`` in ``t``'s dtype, ``B``'s int64), made once per backend, dtype
    and ``n``."""
    hit = _CLASSES.get((id(B), id(t.dtype), n))
    if hit is None or hit[0] is not B:
        if len(_CLASSES) >= 256:
            _CLASSES.clear()
        hit = _CLASSES[(id(B), id(t.dtype), n)] = (
            B, B.arange(n, dtype=t.dtype, device=B.native_device), B.native_dtype(_dtypes.int64))
    return hit


def _one_hot_fwd(B, t, *, num_classes):
    hit = _classes(B, t, num_classes)
    out = B.astype(B.reshape(t, tuple(t.shape) + (1,)) == hit[1], hit[2])
    if int(B.sum(out)) != t.size:  # a class value outside [0, num_classes)
        host = B.to_numpy(t)
        if int(host.min()) < 0:
            raise RuntimeError(f"one_hot: class values must be non-negative, got "
                               f"{int(host.min())}")
        raise RuntimeError(f"one_hot: class values must be smaller than num_classes "
                           f"({num_classes}), got {int(host.max())}")
    return out


_one_hot_prim = Primitive("one_hot", _one_hot_fwd)
_one_hot_prim.batch = _vb.matrix_rule(_one_hot_prim)


def one_hot_kernel(t, num_classes: int):
    """int64 one-hot vectors (a new last axis) of the integer class indices ``t``, each in
    ``[0, num_classes)`` (RuntimeError otherwise), in one storage comparison."""
    return apply1(_one_hot_prim, t, {"num_classes": num_classes})


# -- huber and smooth-L1 losses of two same-shape tensors: one node, reduction included ------
# huber: 0.5 d^2 where |d| < delta, else delta (|d| - delta / 2); smooth L1 (``smooth``): the
# huber loss divided by delta (beta).  Gradient: clip(d, -delta, delta) (/ delta), as PyTorch.
_LOSS_DTYPES = frozenset(id(d) for d in (_dtypes.float32, _dtypes.float64))
_LOSS_REDUCTIONS = frozenset(("none", "mean", "sum"))


def _huber_fwd(B, x, t, *, delta, smooth, reduction):
    d = x - t
    a = B.abs(d)
    q = d * d
    q *= 0.5 / delta if smooth else 0.5
    lin = a - 0.5 * delta
    if not smooth and delta != 1.0:
        lin *= delta
    loss = B.where(a < delta, q, lin)
    if reduction == "none":
        return loss
    total = B.sum(loss)
    return total if reduction == "sum" else total / _prod(loss.shape)


def _huber_slope(ns, x, t, delta, smooth):
    s = ns.minimum(ns.maximum(x - t, -delta), delta)  # (NaN kept)
    return s * (1.0 / delta) if smooth and delta != 1.0 else s


def _huber_vjp(ns, needs, g, out, x, t, *, delta, smooth, reduction):
    if reduction == "mean":
        g = g / _prod(x.shape)
    gx = g * _huber_slope(ns, x, t, delta, smooth)
    return (gx if needs[0] else None), (-gx if needs[1] else None)


def _huber_jvp(ns, tangents, out, x, t, *, delta, smooth, reduction):
    tx, tt = tangents
    dt = tx if tt is None else (-tt if tx is None else tx - tt)
    r = dt * _huber_slope(ns, x, t, delta, smooth)
    if reduction == "none":
        return r
    total = ns.sum(r)
    return total if reduction == "sum" else total / _prod(x.shape)


_huber_prim = Primitive("huber_loss", _huber_fwd, _huber_vjp, _huber_jvp, saves_output=False)
_huber_prim.batch = _loss_batch_rule(_huber_prim, divide=True)


def huber_kernel(x, t, delta: float, reduction: str, smooth: bool = False):
    """``huber_loss`` (``smooth``: ``smooth_l1_loss`` with beta ``delta``) of two plain
    float32/float64 tensors of one shape, dtype and device, reduced, as one node; None for
    any other operands (the caller's general path: vmap, subclasses, other dtypes)."""
    if x.__class__ is not Tensor or t.__class__ is not Tensor or x._device is not t._device:
        return None
    xd, td = x._data, t._data
    if id(xd.dtype) not in _LOSS_DTYPES or td.dtype is not xd.dtype or \
            td.shape != xd.shape or not xd.size or reduction not in _LOSS_REDUCTIONS:
        return None
    delta = float(delta)
    if not delta > 0:
        return None
    return _apply(_huber_prim, (x, t), {"delta": delta, "smooth": smooth,
                                        "reduction": reduction})


__all__ += ["hardtanh_kernel", "elu_kernel", "softplus_kernel", "nll_loss_kernel",
            "avg_pool_kernel", "one_hot_kernel", "huber_kernel", "leaky_relu_kernel",
            "silu_kernel", "logsigmoid_kernel", "bce_logits_kernel"]

"""Statistical functions (spec chapter "Statistical Functions").

Reductions are primitives (sum, prod, max, min, cumulative_sum, cumulative_prod);
mean, var and std are composites and get their derivatives from them.  Derivative
rules are written against the namespace ``ns`` they receive (arraylib's on tensors,
the storage backend's in a plain backward).
"""
from __future__ import annotations

import builtins
import operator

from ._core import _batching as _vb
from . import _dtypes
from ._core import _autocast
from ._core._primitive import Primitive, apply1, linear_jvp
from ._core._tensor import Tensor
from ._creation_functions import full
from ._manipulation_functions import concat
from ._validation import AxisError  # noqa: F401 (re-exported)
from ._validation import check_tensor as _check_tensor
from ._validation import normalize_axes as _normalize_axes

__all__ = ["sum", "prod", "mean", "var", "std", "max", "min", "cumulative_sum",
           "cumulative_prod"]


# -- helpers ---------------------------------------------------------------------
def normalize_axes(func: str, axis, ndim: int) -> tuple:
    """``axis`` (None, int or sequence of ints, negatives allowed) as a sorted tuple."""
    return tuple(sorted(_normalize_axes(func, axis, ndim)))


def _keepdims_shape(shape, axes):
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _expand_back(ns, g, in_shape, axes, keepdims):
    """Broadcast a reduction's cotangent ``g`` back to the input shape."""
    if not keepdims and axes:
        g = ns.reshape(g, _keepdims_shape(in_shape, axes))
    return ns.broadcast_to(g, tuple(in_shape))


def _mask(ns, cond, dtype):
    """A boolean array as 0/1 of ``dtype`` (a constant: no gradient flows through it)."""
    return ns.astype(cond, dtype)


def _conj(ns, x):
    return ns.conj(x) if ns.isdtype(x.dtype, "complex floating") else x


def _sum_dtype(func, x_dtype, dtype):
    """The result dtype of sum/prod/cumulative_*: ints upcast to the default."""
    if dtype is not None:
        dtype = _dtypes.as_dtype(dtype, func=func)
        if x_dtype.kind == "c" and dtype.kind != "c":
            raise TypeError(f"{func}: can't accumulate complex dtype {x_dtype} in {dtype}")
        return dtype
    k = x_dtype.kind
    if k == "b" or k == "i":
        return _dtypes.default_int
    if k == "u":
        return _dtypes.uint64
    return x_dtype


def _reduced_size(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    return n


# A reduction's checked parameters depend only on the operand's shape, storage dtype and
# device and on (axis, keepdims): they are computed once per such key and shared by the
# calls and nodes that use them (never mutated).  Only keys that cannot alias a call the
# checks would refuse are memoized: axis None or an int, keepdims a bool, dtype None.
_MEMO: dict = {}
_MEMO_LIMIT = 4096


_PLAIN_SHAPE = Tensor.shape


def _memo_key(func, x, axis, keepdims):
    """The memo key of ``func(x, axis=axis, keepdims=keepdims)``, or None (not memoized).
    ``x`` is a Tensor, or a subclass whose shape is its storage's (a Parameter, not vmap's
    batched tensors)."""
    c = x.__class__
    if (c is Tensor or getattr(c, "shape", None) is _PLAIN_SHAPE) and \
            (axis is None or axis.__class__ is int or axis.__class__ is tuple and
             _int_tuple(axis)) and (keepdims is False or keepdims is True):
        d = x._data
        return func, d.shape, d.dtype, id(x._device), axis, keepdims  # (devices are interned)
    return None


def _int_tuple(axis) -> bool:
    """Whether a tuple axis holds ints only (no bools or floats: they hash alike)."""
    for a in axis:
        if a.__class__ is not int:
            return False
    return True


def _remember(key, params):
    """``params``, memoized under ``key`` (None: not memoized)."""
    if key is not None:
        if len(_MEMO) >= _MEMO_LIMIT:
            _MEMO.clear()
        _MEMO[key] = params
    return params


# -- sum -------------------------------------------------------------------------
def _sum_fwd(B, x, *, axis, dtype, keepdims, in_shape):
    if x.dtype is dtype:  # (a storage dtype that is arraylib's: nothing to convert)
        return B.sum(x, axis=axis, dtype=dtype, keepdims=keepdims)
    nd = B.native_dtype(dtype)
    if B.dtype_of(x).kind != dtype.kind:  # e.g. booleans, which some namespaces refuse
        x = B.astype(x, nd)
    return B.sum(x, axis=axis, dtype=nd, keepdims=keepdims)


_sum_prim = Primitive(
    "sum", _sum_fwd,
    vjp=lambda ns, needs, g, out, x, *, axis, dtype, keepdims, in_shape: (
        _expand_back(ns, g, in_shape, axis, keepdims),),
    jvp=linear_jvp(lambda ns, t, *, axis, dtype, keepdims, in_shape: ns.sum(
        t, axis=axis, keepdims=keepdims)),
    saves_inputs=False, saves_output=False)
_sum_prim.batch = _vb.axis_rule(_sum_prim, shapes=("in_shape",))


def sum(x, /, *, axis=None, dtype=None, keepdims=False) -> Tensor:  # noqa: A001
    """Sum of the elements over ``axis`` (all by default).  Integer and boolean inputs
    accumulate in int64 (uint64 for unsigned); floats keep their dtype unless ``dtype``."""
    key = _memo_key("sum", x, axis, keepdims) if dtype is None else None
    params = _MEMO.get(key)
    if params is not None:
        return apply1(_sum_prim, x, params)
    _check_tensor("sum", x)
    shape = x.shape
    axes = normalize_axes("sum", axis, len(shape))
    dt = _sum_dtype("sum", x.dtype, dtype)
    if dt not in x._device.backend.supported_dtypes():
        raise TypeError(f"sum: dtype {dt} is not supported on device '{x._device}'")
    return apply1(_sum_prim, x, _remember(key, {"axis": axes, "dtype": dt,
                                                "keepdims": builtins.bool(keepdims),
                                                "in_shape": shape}))


# -- prod ------------------------------------------------------------------------
def _prod_fwd(B, x, *, axis, dtype, keepdims):
    nd = B.native_dtype(dtype)
    if B.dtype_of(x).kind != dtype.kind:
        x = B.astype(x, nd)
    return B.prod(x, axis=axis, dtype=nd, keepdims=keepdims)


_PAIRWISE_LIMIT = 1024  # reduced lengths up to this use the O(n^2) form when x has zeros


def _prod_others(ns, x, axes):
    """Product of the other elements of each reduced slice, for the VJP/JVP of ``prod``.

    Without zeros it is ``prod / x``, exact at every order.  With zeros and short
    reduced slices it is the product of each slice with its own element replaced by
    one (an n x n product), exact at every order too.  Long slices with zeros use
    masks: exact first derivatives (one zero: its slot gets the product of the rest;
    several: all zero), but higher derivatives there treat the masks as constants.
    """
    zero = x == 0
    if not builtins.bool(ns.any(zero)):
        return ns.prod(x, axis=axes, keepdims=True) / x
    n = _reduced_size(x.shape, axes)
    if n <= _PAIRWISE_LIMIT:
        return _prod_others_pairwise(ns, x, axes, n)
    is_zero = _mask(ns, zero, x.dtype)
    n_zero = ns.sum(is_zero, axis=axes, keepdims=True)
    x_safe = x + is_zero  # zeros replaced by ones
    p = ns.prod(x_safe, axis=axes, keepdims=True)
    no_zero = _mask(ns, n_zero == 0, x.dtype)
    one_zero = _mask(ns, n_zero == 1, x.dtype)
    return no_zero * (p / x_safe) + one_zero * is_zero * p


def _prod_others_pairwise(ns, x, axes, n):
    """``others[..., i] = prod_j (x_j if j != i else 1)`` over the reduced axes."""
    ndim = x.ndim
    kept = tuple(a for a in range(ndim) if a not in axes)
    order = kept + tuple(axes)
    xt = ns.permute_dims(x, order)
    flat = ns.expand_dims(ns.reshape(xt, tuple(x.shape[a] for a in kept) + (n,)), axis=-2)
    diag = ns.eye(n, dtype=ns.bool, device=x.device)
    others = ns.prod(ns.where(diag, ns.ones_like(flat), flat), axis=-1)
    others = ns.reshape(others, tuple(xt.shape))
    inverse = tuple(order.index(a) for a in range(ndim))
    return ns.permute_dims(others, inverse)


def _prod_vjp(ns, needs, g, out, x, *, axis, dtype, keepdims):
    g = _expand_back(ns, g, x.shape, axis, keepdims)
    return (g * _conj(ns, _prod_others(ns, x, axis)),)


def _prod_jvp(ns, tangents, out, x, *, axis, dtype, keepdims):
    return ns.sum(tangents[0] * _prod_others(ns, x, axis), axis=axis, keepdims=keepdims)


_prod_prim = Primitive("prod", _prod_fwd, _prod_vjp, _prod_jvp, saves_output=False)
_prod_prim.batch = _vb.axis_rule(_prod_prim)


def prod(x, /, *, axis=None, dtype=None, keepdims=False) -> Tensor:
    """Product of the elements over ``axis`` (all by default); dtype rules as ``sum``."""
    _check_tensor("prod", x)
    if _autocast.active:  # a float32 op of autocast
        (x,) = _autocast.upcast(x)
    key = _memo_key("prod", x, axis, keepdims) if dtype is None else None
    params = _MEMO.get(key)
    if params is not None:
        return apply1(_prod_prim, x, params)
    axes = normalize_axes("prod", axis, x.ndim)
    dt = _sum_dtype("prod", x.dtype, dtype)
    if dt not in x._device.backend.supported_dtypes():
        raise TypeError(f"prod: dtype {dt} is not supported on device '{x._device}'")
    return apply1(_prod_prim, x, _remember(key, {"axis": axes, "dtype": dt,
                                                 "keepdims": builtins.bool(keepdims)}))


# -- max, min --------------------------------------------------------------------
def _share(ns, out, x, axis, keepdims):
    """Where ``x`` attains the extremum ``out``, 1/(number of ties); else 0 (a constant:
    the comparison carries no gradient)."""
    hit = _mask(ns, x == _expand_back(ns, out, x.shape, axis, keepdims), x.dtype)
    return hit / ns.sum(hit, axis=axis, keepdims=True)


def _extremum_vjp(ns, needs, g, out, x, *, axis, keepdims):
    return (_expand_back(ns, g, x.shape, axis, keepdims) * _share(ns, out, x, axis, keepdims),)


def _extremum_jvp(ns, tangents, out, x, *, axis, keepdims):
    return ns.sum(tangents[0] * _share(ns, out, x, axis, keepdims), axis=axis, keepdims=keepdims)


def _extremum(name):
    def fwd(B, x, *, axis, keepdims):
        if B.dtype_of(x) == _dtypes.bool:  # some namespaces refuse booleans
            f = B.all if name == "min" else B.any
            return f(x, axis=axis, keepdims=keepdims)
        return getattr(B, name)(x, axis=axis, keepdims=keepdims)

    prim = Primitive(name, fwd, _extremum_vjp, _extremum_jvp)
    prim.batch = _vb.axis_rule(prim)

    def func(x, /, *, axis=None, keepdims=False) -> Tensor:
        key = _memo_key(name, x, axis, keepdims)
        params = _MEMO.get(key)
        if params is not None:
            return apply1(prim, x, params)
        _check_tensor(name, x)
        if x.dtype.kind == "c":
            raise TypeError(f"{name}: complex dtype {x.dtype} has no ordering")
        shape = x.shape
        axes = normalize_axes(name, axis, len(shape))
        for a in axes:
            if shape[a] == 0:
                raise ValueError(f"{name}: zero-size reduction along axis {a} of a tensor of "
                                 f"shape {shape} has no identity")
        return apply1(prim, x, _remember(key, {"axis": axes, "keepdims": builtins.bool(keepdims)}))

    func.__name__ = func.__qualname__ = name
    func.__doc__ = (f"The {name}imum over ``axis`` (all by default); NaN propagates.  Its "
                    "gradient is shared evenly between ties.")
    return func


max = _extremum("max")  # noqa: A001
min = _extremum("min")  # noqa: A001


# -- mean, var, std (composites) ------------------------------------------------------
def _check_float(func, x):
    _check_tensor(func, x)
    if not _dtypes.is_floating(x.dtype):
        raise TypeError(f"{func}: expected a floating-point tensor, got {x.dtype}")


def mean(x, /, *, axis=None, keepdims=False) -> Tensor:
    """Arithmetic mean over ``axis`` (all by default); NaN for an empty reduction."""
    key = _memo_key("mean", x, axis, keepdims)
    memo = _MEMO.get(key)
    if memo is None:
        _check_float("mean", x)
        axes = normalize_axes("mean", axis, x.ndim)
        n = _reduced_size(x.shape, axes)
        memo = _remember(key, (axes, 1.0 / n if n else float("nan")))
    return sum(x, axis=memo[0] if key is None else axis, keepdims=keepdims) * memo[1]


def _deviations(ns, x, axis, inv_n):
    return x - ns.sum(x, axis=axis, keepdims=True) * inv_n


def _var_fwd(B, x, *, axis, keepdims, in_shape, inv_n, scale):
    d = _deviations(B, x, axis, inv_n)
    return B.sum(d * d, axis=axis, keepdims=keepdims) * scale


def _var_vjp(ns, needs, g, out, x, *, axis, keepdims, in_shape, inv_n, scale):
    g = _expand_back(ns, g, in_shape, axis, keepdims)
    return (g * _deviations(ns, x, axis, inv_n) * (2.0 * scale),)


def _var_jvp(ns, tangents, out, x, *, axis, keepdims, in_shape, inv_n, scale):
    d = _deviations(ns, x, axis, inv_n)
    return ns.sum(d * tangents[0], axis=axis, keepdims=keepdims) * (2.0 * scale)


_var_prim = Primitive("var", _var_fwd, _var_vjp, _var_jvp, saves_output=False)
_var_prim.batch = _vb.axis_rule(_var_prim, shapes=("in_shape",))


def var(x, /, *, axis=None, correction=0.0, keepdims=False) -> Tensor:
    """Variance over ``axis`` with ``correction`` (Bessel's is 1); NaN when N <= correction.
    One node; its VJP ``2 g (x - mean) / (N - correction)``."""
    key = _memo_key("var", x, axis, keepdims)
    c = correction.__class__
    if key is not None and (c is float or c is int):  # (not bools, which hash like ints)
        key += (correction,)
        params = _MEMO.get(key)
        if params is not None:
            return apply1(_var_prim, x, params)
    else:
        key = None
    _check_float("var", x)
    if x.dtype.kind == "c":
        raise TypeError(f"var: expected a real floating-point tensor, got {x.dtype}")
    if isinstance(correction, builtins.bool) or not isinstance(correction, (int, float)):
        raise TypeError(f"var: correction must be a number, got {correction!r}")
    if correction < 0:
        raise ValueError(f"var: correction must be non-negative, got {correction}")
    axes = normalize_axes("var", axis, x.ndim)
    n = _reduced_size(x.shape, axes)
    dof = n - correction
    return apply1(_var_prim, x, _remember(key, {
        "axis": axes, "keepdims": builtins.bool(keepdims), "in_shape": x.shape,
        "inv_n": 1.0 / n if n else float("nan"),
        "scale": 1.0 / dof if dof > 0 else float("nan")}))


def _std_deriv(ns, y):
    """d sqrt(v) / dv = 1 / (2 sqrt(v)), taken as 0 where the deviation is 0 (PyTorch's
    ``std`` of a constant slice has gradient 0, not NaN)."""
    zero = y == 0
    if getattr(ns, "host", False) and not ns.any(zero):
        return ns.reciprocal(y * 2)
    return ns.where(zero, ns.zeros_like(y), ns.reciprocal(ns.where(zero, ns.ones_like(y), y) * 2))


_std_sqrt = Primitive(
    "std", native="sqrt",
    vjp=lambda ns, needs, g, y, v: (g * _std_deriv(ns, y),),
    jvp=lambda ns, tangents, y, v: tangents[0] * _std_deriv(ns, y),
    saves_inputs=False)
_std_sqrt.batch = _vb.elementwise_rule(_std_sqrt)


def std(x, /, *, axis=None, correction=0.0, keepdims=False) -> Tensor:
    """Standard deviation: ``sqrt(var(...))``; its gradient is 0 (not NaN) for a slice
    whose elements are all equal, as in PyTorch."""
    _check_float("std", x)
    return apply1(_std_sqrt, var(x, axis=axis, correction=correction, keepdims=keepdims))


# -- cumulative_sum, cumulative_prod -------------------------------------------------
def _scan_axis(func, x, axis):
    if x.ndim == 0:
        raise ValueError(f"{func}: expected a tensor with at least one dimension, got shape ()")
    if axis is None:
        if x.ndim != 1:
            raise ValueError(f"{func}: axis is required for a tensor of {x.ndim} dimensions "
                             f"(shape {x.shape})")
        return 0
    return normalize_axes(func, operator.index(axis) if not isinstance(axis, (tuple, list))
                          else axis, x.ndim)[0]


def _revcumsum(ns, g, axis):
    """sum_{k >= i} g_k along ``axis``."""
    return ns.sum(g, axis=(axis,), keepdims=True) - ns.cumulative_sum(g, axis=axis) + g


def _cumsum_fwd(B, x, *, axis, dtype):
    if x.dtype is dtype:  # (a storage dtype that is arraylib's: nothing to convert)
        return B.cumulative_sum(x, axis=axis, dtype=dtype)
    nd = B.native_dtype(dtype)
    if B.dtype_of(x) != dtype:
        x = B.astype(x, nd)
    return B.cumulative_sum(x, axis=axis, dtype=nd)


_cumsum_prim = Primitive(
    "cumulative_sum", _cumsum_fwd,
    vjp=lambda ns, needs, g, out, x, *, axis, dtype: (_revcumsum(ns, g, axis),),
    jvp=linear_jvp(lambda ns, t, *, axis, dtype: ns.cumulative_sum(t, axis=axis)),
    saves_inputs=False, saves_output=False)
_cumsum_prim.batch = _vb.axis_rule(_cumsum_prim)


def _cumprod_fwd(B, x, *, axis, dtype):
    nd = B.native_dtype(dtype)
    if B.dtype_of(x) != dtype:
        x = B.astype(x, nd)
    return B.cumulative_prod(x, axis=axis, dtype=nd)


def _first_zero(ns, x, axis):
    """(1 where x is 0, as ``x``'s dtype; the number of zeros seen so far along ``axis``,
    an int64 count; 1 at each slice's first zero): constants, no gradient flows."""
    zero = x == 0
    is_zero = _mask(ns, zero, x.dtype)
    seen = ns.cumulative_sum(ns.astype(zero, ns.int64), axis=axis)
    return is_zero, seen, is_zero * _mask(ns, seen == 1, x.dtype)


def _cumprod_vjp(ns, needs, g, out, x, *, axis, dtype):
    # Without zeros: revcumsum(g * conj(y)) / conj(x).  With zeros, the exact products.
    if bool(ns.any(x == 0)):
        return (_cumprod_vjp_with_zeros(ns, g, x, axis),)
    return (_revcumsum(ns, g * _conj(ns, out), axis) / _conj(ns, x),)


def _cumprod_vjp_with_zeros(ns, g, x, axis):
    """``grad_k = sum_{j >= k} g_j conj(prod_{i <= j, i != k} x_i)``: for each ``k``, the
    cumprod of the slice with ``x_k`` replaced by 1 (O(n^2) per slice).  Exact at any
    number of zeros, and differentiable again (it is made of differentiable functions)."""
    xl, gl = ns.moveaxis(x, axis, -1), ns.moveaxis(g, axis, -1)
    pos = ns.cumulative_sum(ns.ones_like(xl, dtype=ns.int64), axis=-1)  # 1..n on the slice
    k, j = ns.expand_dims(pos, axis=-1), ns.expand_dims(pos, axis=-2)
    eye = _mask(ns, k == j, x.dtype)
    rest = ns.cumulative_prod(ns.expand_dims(xl, axis=-2) * (1 - eye) + eye, axis=-1)
    grad = ns.sum(ns.expand_dims(gl, axis=-2) * _conj(ns, rest) * _mask(ns, j >= k, x.dtype),
                  axis=-1)
    return ns.moveaxis(grad, -1, axis)


def _cumprod_jvp(ns, tangents, out, x, *, axis, dtype):
    # d y_k = sum_{i <= k} t_i prod_{j <= k, j != i} x_j: the VJP's transpose.  Away from
    # zeros it is y_k * cumsum(t / x); each slice's first zero x_z adds
    # t_z * prod_{j <= k, j != z} x_j for k >= z.
    t = tangents[0]
    is_zero, seen, first = _first_zero(ns, x, axis)
    y1 = ns.cumulative_prod(x + first, axis=axis)  # the first zero replaced by one
    after = _mask(ns, seen >= 1, x.dtype)          # positions k >= z
    tz = ns.sum(t * first, axis=(axis,), keepdims=True)
    return out * ns.cumulative_sum(t / (x + is_zero), axis=axis) + tz * y1 * after


_cumprod_prim = Primitive("cumulative_prod", _cumprod_fwd, _cumprod_vjp, _cumprod_jvp)
_cumprod_prim.batch = _vb.axis_rule(_cumprod_prim)


def _cumulative(func, prim, x, axis, dtype, include_initial):
    key = _memo_key(func, x, axis, False) if dtype is None else None
    params = _MEMO.get(key)
    if params is None:
        _check_tensor(func, x)
        ax = _scan_axis(func, x, axis)
        dt = _sum_dtype(func, x.dtype, dtype)
        if dt not in x._device.backend.supported_dtypes():
            raise TypeError(f"{func}: dtype {dt} is not supported on device '{x._device}'")
        params = _remember(key, {"axis": ax, "dtype": dt})
    ax, dt = params["axis"], params["dtype"]
    out = apply1(prim, x, params)
    if include_initial:
        shape = out.shape
        first = full(shape[:ax] + (1,) + shape[ax + 1:], 0 if prim is _cumsum_prim else 1,
                     dtype=dt, device=out.device)
        out = concat([first, out], axis=ax)
    return out


def cumulative_sum(x, /, *, axis=None, dtype=None, include_initial=False) -> Tensor:
    """Running sums along ``axis`` (optional for 1-D); ``include_initial`` prepends 0."""
    return _cumulative("cumulative_sum", _cumsum_prim, x, axis, dtype, include_initial)


def cumulative_prod(x, /, *, axis=None, dtype=None, include_initial=False) -> Tensor:
    """Running products along ``axis`` (optional for 1-D); ``include_initial`` prepends 1."""
    return _cumulative("cumulative_prod", _cumprod_prim, x, axis, dtype, include_initial)

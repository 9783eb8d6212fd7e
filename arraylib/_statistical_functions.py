"""Statistical functions (spec chapter "Statistical Functions").

Reductions are primitives (sum, prod, max, min, cumulative_sum, cumulative_prod);
mean, var and std are composites and get their derivatives from them.
"""
from __future__ import annotations

import builtins
import operator

from . import _dtypes
from ._core._primitive import Primitive, apply
from ._core._tensor import Tensor
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


def _expand_back(g, in_shape, axes, keepdims):
    """Broadcast a reduction's cotangent ``g`` back to the input shape."""
    from ._manipulation_functions import broadcast_to, reshape
    if not keepdims and axes:
        g = reshape(g, _keepdims_shape(in_shape, axes))
    return broadcast_to(g, in_shape)


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


def _native(B, dtype):
    return None if dtype is None else B.native_dtype(dtype)


# -- sum -------------------------------------------------------------------------
def _sum_fwd(B, x, *, axis, dtype, keepdims, in_shape):
    nd = B.native_dtype(dtype)
    if B.dtype_of(x).kind != dtype.kind:  # e.g. booleans, which some namespaces refuse
        x = B.astype(x, nd)
    return B.sum(x, axis=axis, dtype=nd, keepdims=keepdims)


def _sum_vjp(g, out, x, *, axis, dtype, keepdims, in_shape):
    return (_expand_back(g, in_shape, axis, keepdims),)


def _sum_jvp(t, out, x, *, axis, dtype, keepdims, in_shape):
    return sum(t[0], axis=axis, keepdims=keepdims)


_sum_prim = Primitive("sum", _sum_fwd, _sum_vjp, _sum_jvp, saves_inputs=False, saves_output=False)


def sum(x, /, *, axis=None, dtype=None, keepdims=False) -> Tensor:  # noqa: A001
    """Sum of the elements over ``axis`` (all by default).  Integer and boolean inputs
    accumulate in int64 (uint64 for unsigned); floats keep their dtype unless ``dtype``."""
    _check_tensor("sum", x)
    shape = x.shape
    axes = normalize_axes("sum", axis, len(shape))
    dt = _sum_dtype("sum", x.dtype, dtype)
    if dt not in x._device.backend.supported_dtypes():
        raise TypeError(f"sum: dtype {dt} is not supported on device '{x._device}'")
    return apply(_sum_prim, (x,), {"axis": axes, "dtype": dt, "keepdims": builtins.bool(keepdims),
                                   "in_shape": shape})


def _mask(cond, dtype):
    """A boolean tensor as 0/1 of ``dtype`` (constant: no gradient flows through it)."""
    from ._data_type_functions import astype
    return astype(cond, dtype)


def _conj(x):
    if x.dtype.kind == "c":
        from ._elementwise_functions import conj
        return conj(x)
    return x


def _reduced_size(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    return n


# -- prod ------------------------------------------------------------------------
def _prod_fwd(B, x, *, axis, dtype, keepdims):
    nd = B.native_dtype(dtype)
    if B.dtype_of(x).kind != dtype.kind:
        x = B.astype(x, nd)
    return B.prod(x, axis=axis, dtype=nd, keepdims=keepdims)


_PAIRWISE_LIMIT = 1024  # reduced lengths up to this use the O(n^2) form when x has zeros


def _prod_others(x, axis):
    """Product of the other elements of each reduced slice, for the VJP/JVP of ``prod``.

    Without zeros it is ``prod / x``, exact at every order.  With zeros and short
    reduced slices it is the product of each slice with its own element replaced by
    one (an n x n product), exact at every order too.  Long slices with zeros use
    masks: exact first derivatives (one zero: its slot gets the product of the rest;
    several: all zero), but higher derivatives there treat the masks as constants.
    """
    from ._utility_functions import any as _any
    if not builtins.bool(_any(x == 0)):
        return prod(x, axis=axis, keepdims=True) / x
    axes = tuple(range(x.ndim)) if axis is None else axis
    n = 1
    for a in axes:
        n *= x.shape[a]
    if n <= _PAIRWISE_LIMIT:
        return _prod_others_pairwise(x, axes, n)
    is_zero = _mask(x == 0, x.dtype)
    n_zero = sum(is_zero, axis=axis, keepdims=True)
    x_safe = x + is_zero  # zeros replaced by ones
    p = prod(x_safe, axis=axis, keepdims=True)
    no_zero = _mask(n_zero == 0, x.dtype)
    one_zero = _mask(n_zero == 1, x.dtype)
    return no_zero * (p / x_safe) + one_zero * is_zero * p


def _prod_others_pairwise(x, axes, n):
    """``others[..., i] = prod_j (x_j if j != i else 1)`` over the reduced axes."""
    from ._creation_functions import eye
    from ._manipulation_functions import expand_dims, permute_dims, reshape
    from ._searching_functions import where
    kept = tuple(a for a in range(x.ndim) if a not in axes)
    order = kept + tuple(axes)
    xt = permute_dims(x, order)
    flat = reshape(xt, tuple(x.shape[a] for a in kept) + (n,))
    diag = eye(n, dtype=_dtypes.bool, device=x.device)
    others = prod(where(diag, 1.0 if x.dtype.kind != "c" else 1 + 0j, expand_dims(flat, axis=-2)),
                  axis=-1)
    others = reshape(others, xt.shape)
    inverse = tuple(order.index(a) for a in range(x.ndim))
    return permute_dims(others, inverse)


def _prod_vjp(g, out, x, *, axis, dtype, keepdims):
    g = _expand_back(g, x.shape, axis, keepdims)
    return (g * _conj(_prod_others(x, axis)),)


def _prod_jvp(t, out, x, *, axis, dtype, keepdims):
    return sum(t[0] * _prod_others(x, axis), axis=axis, keepdims=keepdims)


_prod_prim = Primitive("prod", _prod_fwd, _prod_vjp, _prod_jvp, saves_output=False)


def prod(x, /, *, axis=None, dtype=None, keepdims=False) -> Tensor:
    """Product of the elements over ``axis`` (all by default); dtype rules as ``sum``."""
    _check_tensor("prod", x)
    axes = normalize_axes("prod", axis, x.ndim)
    dt = _sum_dtype("prod", x.dtype, dtype)
    if dt not in x._device.backend.supported_dtypes():
        raise TypeError(f"prod: dtype {dt} is not supported on device '{x._device}'")
    return apply(_prod_prim, (x,), {"axis": axes, "dtype": dt, "keepdims": builtins.bool(keepdims)})


# -- max, min --------------------------------------------------------------------
def _extremum(name):
    def fwd(B, x, *, axis, keepdims):
        if B.dtype_of(x) == _dtypes.bool:  # some namespaces refuse booleans
            f = B.all if name == "min" else B.any
            return f(x, axis=axis, keepdims=keepdims)
        return getattr(B, name)(x, axis=axis, keepdims=keepdims)

    def share(out, x, axis, keepdims):
        """Where ``x`` attains the extremum, 1/(number of ties); else 0."""
        hit = _mask(x == _expand_back(out.detach(), x.shape, axis, keepdims), x.dtype)
        return hit / sum(hit, axis=axis, keepdims=True)

    def vjp(g, out, x, *, axis, keepdims):
        return (_expand_back(g, x.shape, axis, keepdims) * share(out, x, axis, keepdims),)

    def jvp(t, out, x, *, axis, keepdims):
        return sum(t[0] * share(out, x, axis, keepdims), axis=axis, keepdims=keepdims)

    prim = Primitive(name, fwd, vjp, jvp)

    def func(x, /, *, axis=None, keepdims=False) -> Tensor:
        _check_tensor(name, x)
        if x.dtype.kind == "c":
            raise TypeError(f"{name}: complex dtype {x.dtype} has no ordering")
        shape = x.shape
        axes = normalize_axes(name, axis, len(shape))
        for a in axes:
            if shape[a] == 0:
                raise ValueError(f"{name}: zero-size reduction along axis {a} of a tensor of "
                                 f"shape {shape} has no identity")
        return apply(prim, (x,), {"axis": axes, "keepdims": builtins.bool(keepdims)})

    func.__name__ = func.__qualname__ = name
    func.__doc__ = (f"The {name}imum over ``axis`` (all by default); NaN propagates.  Its "
                    "gradient is shared evenly between ties.")
    return func


max = _extremum("max")  # noqa: A001
min = _extremum("min")  # noqa: A001


# -- mean, var, std (composites) ------------------------------------------------------
def _check_float(func, x):
    _check_tensor(func, x)
    if x.dtype.kind not in "fc":
        raise TypeError(f"{func}: expected a floating-point tensor, got {x.dtype}")


def mean(x, /, *, axis=None, keepdims=False) -> Tensor:
    """Arithmetic mean over ``axis`` (all by default); NaN for an empty reduction."""
    _check_float("mean", x)
    axes = normalize_axes("mean", axis, x.ndim)
    n = _reduced_size(x.shape, axes)
    return sum(x, axis=axes, keepdims=keepdims) * (1.0 / n if n else float("nan"))


def var(x, /, *, axis=None, correction=0.0, keepdims=False) -> Tensor:
    """Variance over ``axis`` with ``correction`` (Bessel's is 1); NaN when N <= correction."""
    _check_float("var", x)
    if x.dtype.kind == "c":
        raise TypeError(f"var: expected a real floating-point tensor, got {x.dtype}")
    if isinstance(correction, builtins.bool) or not isinstance(correction, (int, float)):
        raise TypeError(f"var: correction must be a number, got {correction!r}")
    if correction < 0:
        raise ValueError(f"var: correction must be non-negative, got {correction}")
    axes = normalize_axes("var", axis, x.ndim)
    n = _reduced_size(x.shape, axes)
    d = x - mean(x, axis=axes, keepdims=True)
    dof = n - correction
    return sum(d * d, axis=axes, keepdims=keepdims) * (1.0 / dof if dof > 0 else float("nan"))


def std(x, /, *, axis=None, correction=0.0, keepdims=False) -> Tensor:
    """Standard deviation: ``sqrt(var(...))``."""
    _check_float("std", x)
    from ._elementwise_functions import sqrt
    return sqrt(var(x, axis=axis, correction=correction, keepdims=keepdims))


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


def _revcumsum(g, axis):
    """sum_{k >= i} g_k along ``axis``."""
    return sum(g, axis=(axis,), keepdims=True) - cumulative_sum(g, axis=axis) + g


def _cumsum_fwd(B, x, *, axis, dtype):
    nd = B.native_dtype(dtype)
    if B.dtype_of(x) != dtype:
        x = B.astype(x, nd)
    return B.cumulative_sum(x, axis=axis, dtype=nd)


_cumsum_prim = Primitive(
    "cumulative_sum", _cumsum_fwd,
    vjp=lambda g, out, x, *, axis, dtype: (_revcumsum(g, axis),),
    jvp=lambda t, out, x, *, axis, dtype: cumulative_sum(t[0], axis=axis),
    saves_inputs=False, saves_output=False)


def _cumprod_fwd(B, x, *, axis, dtype):
    nd = B.native_dtype(dtype)
    if B.dtype_of(x) != dtype:
        x = B.astype(x, nd)
    return B.cumulative_prod(x, axis=axis, dtype=nd)


def _cumprod_vjp(g, out, x, *, axis, dtype):
    # Before the first zero of a slice: revcumsum(g * conj(y)) / conj(x).  At the first zero
    # z: revcumsum(g * conj(y')), y' the cumprod with x_z replaced by 1.  After it: 0.
    zero = x == 0
    is_zero = _mask(zero, x.dtype)
    seen = cumulative_sum(zero, axis=axis)  # int64: zeros seen so far
    before = _mask(seen == 0, x.dtype)
    first = is_zero * _mask(seen == 1, x.dtype)
    x_safe = x + is_zero
    a = _revcumsum(g * _conj(out), axis) / _conj(x_safe)
    y1 = cumulative_prod(x + first, axis=axis)
    b = _revcumsum(g * _conj(y1), axis)
    return (before * a + first * b,)


def _cumprod_jvp(t, out, x, *, axis, dtype):
    # d y_k = sum_{i <= k} t_i prod_{j <= k, j != i} x_j: the VJP's transpose.  Written as the
    # forward-mode derivative of the composite below, which is exact away from zeros.
    is_zero = _mask(x == 0, x.dtype)
    x_safe = x + is_zero
    return out * cumulative_sum(t[0] / x_safe, axis=axis) + _cumprod_jvp_zero(t[0], x, axis)


def _cumprod_jvp_zero(t, x, axis):
    """The tangent contribution of each slice's first zero x_z: t_z * prod_{j<=k, j!=z} x_j."""
    zero = x == 0
    is_zero = _mask(zero, x.dtype)
    seen = cumulative_sum(zero, axis=axis)  # int64: zeros seen so far
    first = is_zero * _mask(seen == 1, x.dtype)
    y1 = cumulative_prod(x + first, axis=axis)  # the first zero replaced by one
    after = _mask(seen >= 1, x.dtype)           # positions k >= z
    tz = sum(t * first, axis=(axis,), keepdims=True)
    return tz * y1 * after


_cumprod_prim = Primitive("cumulative_prod", _cumprod_fwd, _cumprod_vjp, _cumprod_jvp)


def _cumulative(func, prim, x, axis, dtype, include_initial):
    _check_tensor(func, x)
    ax = _scan_axis(func, x, axis)
    dt = _sum_dtype(func, x.dtype, dtype)
    if dt not in x._device.backend.supported_dtypes():
        raise TypeError(f"{func}: dtype {dt} is not supported on device '{x._device}'")
    out = apply(prim, (x,), {"axis": ax, "dtype": dt})
    if include_initial:
        out = _pad_axis(out, axis=ax, before=1, value=0 if prim is _cumsum_prim else 1)
    return out


def cumulative_sum(x, /, *, axis=None, dtype=None, include_initial=False) -> Tensor:
    """Running sums along ``axis`` (optional for 1-D); ``include_initial`` prepends 0."""
    return _cumulative("cumulative_sum", _cumsum_prim, x, axis, dtype, include_initial)


def cumulative_prod(x, /, *, axis=None, dtype=None, include_initial=False) -> Tensor:
    """Running products along ``axis`` (optional for 1-D); ``include_initial`` prepends 1."""
    return _cumulative("cumulative_prod", _cumprod_prim, x, axis, dtype, include_initial)


# -- padding and slicing along one axis (private, each the other's VJP) ---------------
def _pad_fwd(B, x, *, axis, before, value):
    shape = list(x.shape)
    shape[axis] = before
    pad = B.full(tuple(shape), value, dtype=x.dtype, device=B.native_device)
    return B.concat((pad, x), axis=axis)


_pad_prim = Primitive(
    "pad", _pad_fwd,
    vjp=lambda g, out, x, *, axis, before, value: (_slice_axis(g, axis=axis, start=before),),
    jvp=lambda t, out, x, *, axis, before, value: _pad_axis(t[0], axis=axis, before=before,
                                                            value=0),
    saves_inputs=False, saves_output=False)


def _pad_axis(x, *, axis, before, value):
    return apply(_pad_prim, (x,), {"axis": axis, "before": before, "value": value})


def _slice_fwd(B, x, *, axis, start):
    key = (slice(None),) * axis + (slice(start, None),)
    return x[key]


_slice_prim = Primitive(
    "slice", _slice_fwd,
    vjp=lambda g, out, x, *, axis, start: (_pad_axis(g, axis=axis, before=start, value=0),),
    jvp=lambda t, out, x, *, axis, start: _slice_axis(t[0], axis=axis, start=start),
    saves_inputs=False, saves_output=False)


def _slice_axis(x, *, axis, start):
    return apply(_slice_prim, (x,), {"axis": axis, "start": start})

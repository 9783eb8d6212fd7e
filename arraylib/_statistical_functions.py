"""Statistical functions (spec chapter "Statistical Functions").

Reductions are primitives (sum, prod, max, min, cumulative_sum, cumulative_prod);
mean, var and std are composites and get their derivatives from them.
"""
from __future__ import annotations

import builtins
import operator

from . import _dtypes
from ._primitive import Primitive, apply
from ._tensor import Tensor

__all__ = ["sum"]


class AxisError(ValueError, IndexError):
    """An axis out of range (a ValueError and an IndexError, as NumPy's)."""


# -- helpers ---------------------------------------------------------------------
def _check_tensor(func, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{func}: expected a Tensor, got {type(x).__name__}")


def normalize_axes(func: str, axis, ndim: int) -> tuple:
    """``axis`` (None, int or sequence of ints, negatives allowed) as a sorted tuple."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        axes = axis
    else:
        axes = (axis,)
    out = []
    for a in axes:
        try:
            a = operator.index(a)
        except TypeError:
            raise TypeError(f"{func}: axis must be an int or a tuple of ints, got {axis!r}") from None
        if not -ndim <= a < ndim:
            raise AxisError(f"{func}: axis {a} is out of range for a tensor of {ndim} dimensions")
        a %= ndim
        if a in out:
            raise ValueError(f"{func}: repeated axis {a} in {axis!r}")
        out.append(a)
    return tuple(sorted(out))


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

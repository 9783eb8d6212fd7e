"""Sorting functions (spec chapter "Sorting Functions"): ``argsort`` and ``sort``.

``argsort`` is not differentiable.  ``sort`` runs the backend's sort directly when no
derivative is needed; otherwise it is ``take_along_axis(x, argsort(x))``, whose VJP
scatters the cotangent back through the permutation and whose JVP gathers the tangent.
"""
from __future__ import annotations

from ._core import _batching as _vb
from . import _dtypes
from ._core._cast import copy
from ._core._primitive import apply1, nondifferentiable
from ._core._tensor import Tensor, _new
from ._core._grad_mode import state
from ._indexing_functions import take_along_axis
from ._validation import AxisError, normalize_axis

__all__ = ["argsort", "sort"]


def _fwd(name):
    def fwd(B, x, *, axis, descending, stable):
        is_bool = B.dtype_of(x) == _dtypes.bool
        if is_bool:  # array-api-strict sorts numbers only
            x = B.astype(x, B.native_dtype(_dtypes.uint8))
        out = getattr(B, name)(x, axis=axis, descending=descending, stable=stable)
        if is_bool and name == "sort":
            out = B.astype(out, B.native_dtype(_dtypes.bool))
        return out
    return fwd


_argsort = nondifferentiable("argsort", _fwd("argsort"))
_argsort.batch = _vb.axis_rule(_argsort)
_sort = nondifferentiable("sort", _fwd("sort"))
_sort.batch = _vb.axis_rule(_sort)


def _prepare(func: str, x, axis):
    if not isinstance(x, Tensor):
        raise TypeError(f"{func}: expected a Tensor, got {type(x).__name__}")
    if x.dtype.kind == "c":
        raise TypeError(f"{func}: expected a real-valued dtype, got {x.dtype}")
    if x.ndim == 0:
        if axis not in (0, -1):
            raise AxisError(f"{func}: axis {axis} is out of bounds for array of dimension 0")
        return None
    return normalize_axis(func, axis, x.ndim)


def argsort(x, /, *, axis=-1, descending=False, stable=True):
    """Indices (default index dtype, int64) that sort ``x`` along ``axis``; ``stable``
    keeps equal elements in their original order (also when ``descending``)."""
    a = _prepare("argsort", x, axis)
    if a is None:
        B = x._device.backend
        return _new(B.zeros((), dtype=B.native_dtype(_dtypes.default_index),
                            device=B.native_device), x._device)
    return apply1(_argsort, x, {"axis": a, "descending": bool(descending),
                                "stable": bool(stable)})


def sort(x, /, *, axis=-1, descending=False, stable=True):
    """``x`` sorted along ``axis``; differentiable.  NaNs go last when ascending and first
    when descending (the standard leaves their place to the implementation)."""
    a = _prepare("sort", x, axis)
    if a is None:
        return copy(x)
    params = {"axis": a, "descending": bool(descending), "stable": bool(stable)}
    if (state.grad_enabled and x._requires_grad) or state.dual_level:
        return take_along_axis(x, apply1(_argsort, x, params), axis=a)
    return apply1(_sort, x, params)

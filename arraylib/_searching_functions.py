"""Searching functions (spec chapter "Searching Functions").

``where`` is differentiable with respect to ``x1`` and ``x2``; the index-valued
functions (argmax, argmin, count_nonzero, nonzero, searchsorted) are not, and
return the default index dtype (int64).
"""
from __future__ import annotations

from ._core import _batching as _vb
from . import _dtypes
from ._core._grad_mode import state
from ._core._primitive import Primitive, apply2
from ._core._promotion import binary_operands, is_python_scalar
from ._core._tensor import Tensor, _new
from ._creation_functions import asarray
from ._validation import check_tensor as _check_tensor
from ._validation import normalize_axes, normalize_axis

__all__ = ["argmax", "argmin", "count_nonzero", "nonzero", "searchsorted", "where"]

_index = _dtypes.default_index


def _as_index(B, data, dev):
    data = B.ensure_array(data)
    if B.dtype_of(data) is not _index and B.dtype_of(data) != _index:
        data = B.astype(data, B.native_dtype(_index))
    return _new(data, dev)


# -- where --------------------------------------------------------------------------
def _where_grads(ns, needs, g, cond):
    """Cotangents of ``where(cond, x1, x2)``: ``g`` where ``cond`` holds (x1), elsewhere (x2)."""
    zero = ns.zeros_like(g)
    return (ns.where(cond, g, zero) if needs[0] else None,
            ns.where(cond, zero, g) if needs[1] else None)


# The condition is a parameter (a tensor that never needs a gradient): the rules take it
# as a tensor on tensors and as its storage in a plain backward.
_where_prim = Primitive(
    "where", lambda B, a, b, *, cond: B.where(cond._data, a, b),
    vjp=lambda ns, needs, g, out, x1, x2, *, cond: _where_grads(ns, needs, g, cond),
    vjp_storage=lambda B, needs, g, out, x1, x2, *, cond: _where_grads(B, needs, g, cond._data),
    jvp=lambda ns, tangents, out, x1, x2, *, cond: ns.where(
        cond, *(0 if t is None else t for t in tangents)),
    saves_inputs=False, saves_output=False)
_where_prim.batch = _vb.where_rule(_where_prim)


def where(condition, x1, x2, /) -> Tensor:
    """Elements of ``x1`` where ``condition`` is True, else of ``x2`` (broadcast; the
    result dtype is ``x1``'s and ``x2``'s promoted one; Python scalars allowed)."""
    if condition.__class__ is not Tensor:
        _check_tensor("where", condition)
        if condition.__class__ is _vb.BatchedTensor:  # vmap: the batching path
            return _vb.where(_where_prim, condition, x1, x2)
    if condition._data.dtype != condition._device._backend.native_dtype(_dtypes.bool):
        raise TypeError(f"where: condition must have a boolean dtype, got {condition.dtype}")
    if x1.__class__ is not Tensor or x2.__class__ is not Tensor or \
            x1._device is not x2._device or x1._data.dtype != x2._data.dtype:
        if x1.__class__ is _vb.BatchedTensor or x2.__class__ is _vb.BatchedTensor:  # vmap
            return _vb.where(_where_prim, condition, x1, x2)
        if not isinstance(x1, Tensor) and not isinstance(x2, Tensor):
            if not is_python_scalar(x1) or not is_python_scalar(x2):
                raise TypeError(f"where: x1 and x2 must be Tensors or Python scalars, got "
                                f"{type(x1).__name__} and {type(x2).__name__}")
            x1 = asarray(x1, device=condition._device)
        x1, x2 = binary_operands("where", x1, x2)
    if condition._device is not x1._device:
        raise ValueError(f"where: condition is on device '{condition._device}' but x1 and x2 "
                         f"are on '{x1._device}'")
    try:
        if (state.grad_enabled and (x1._requires_grad or x2._requires_grad)) or state.dual_level:
            return apply2(_where_prim, x1, x2, {"cond": condition})
        B = x1._device._backend  # nothing to record: straight to storage (the hot path)
        return _new(B.ensure_array(B.where(condition._data, x1._data, x2._data)), x1._device)
    except ValueError:
        raise ValueError(f"where: shapes {condition.shape}, {x1.shape} and {x2.shape} are not "
                         "broadcastable; operands could not be broadcast together") from None


# -- index-valued ---------------------------------------------------------------------
_ARG_CHECKED: dict = {}  # (func, shape, storage dtype id, axis, keepdims) -> checked axis
# (count_nonzero's keys: (func, shape, axis, keepdims) -> checked axes; no dtype rule)


def _arg_reduce(func, x, axis, keepdims):
    if x.__class__ is Tensor and (axis is None or axis.__class__ is int) and (
            keepdims is True or keepdims is False):
        d = x._data
        key = (func, d.shape, id(d.dtype), axis, keepdims)
        try:
            a = _ARG_CHECKED[key]
        except KeyError:
            a = _check_arg_reduce(func, x, axis)
            if key[2] in _dtypes._native_to_dtype:  # (a long-lived dtype object: its id)
                if len(_ARG_CHECKED) >= 1024:
                    _ARG_CHECKED.clear()
                _ARG_CHECKED[key] = a
        B = x._device._backend
        return _as_index(B, getattr(B, func)(d, axis=a, keepdims=keepdims), x._device)
    _check_tensor(func, x)
    if x.__class__ is _vb.BatchedTensor:  # vmap
        return _vb.reduce_values(func, x, axis, keepdims)
    axis = _check_arg_reduce(func, x, axis)
    B = x._device._backend
    return _as_index(B, getattr(B, func)(x._data, axis=axis, keepdims=keepdims), x._device)


def _check_arg_reduce(func, x, axis):
    """The checked (normalized) axis of ``argmax``/``argmin``."""
    if x.dtype not in _dtypes.real_numeric_dtypes:
        raise TypeError(f"{func}: expected a real numeric dtype, got {x.dtype}")
    if axis is not None:
        axis = normalize_axis(func, axis, x.ndim or 1)
        n = x.shape[axis] if x.ndim else 1
    else:
        n = x.size
    if n == 0:
        raise ValueError(f"{func}: attempt to get {func} of an empty sequence (shape {x.shape}, "
                         f"axis {axis})")
    return axis


def argmax(x, /, *, axis=None, keepdims=False) -> Tensor:
    """Indices of the maximum values along ``axis`` (None: of the flattened tensor; the
    first occurrence wins)."""
    return _arg_reduce("argmax", x, axis, keepdims)


def argmin(x, /, *, axis=None, keepdims=False) -> Tensor:
    """Indices of the minimum values along ``axis`` (None: of the flattened tensor; the
    first occurrence wins)."""
    return _arg_reduce("argmin", x, axis, keepdims)


def count_nonzero(x, /, *, axis=None, keepdims=False) -> Tensor:
    """The number of non-zero elements along ``axis`` (an int, a tuple or None)."""
    if x.__class__ is Tensor and (axis is None or axis.__class__ is int) and (
            keepdims is True or keepdims is False):  # a plain tensor: memoized checks
        d = x._data
        key = ("count_nonzero", d.shape, axis, keepdims)
        axes = _ARG_CHECKED.get(key)
        if axes is None:
            axes = normalize_axes("count_nonzero", axis, d.ndim)
            if len(_ARG_CHECKED) >= 1024:
                _ARG_CHECKED.clear()
            _ARG_CHECKED[key] = axes
        B = x._device._backend
        return _as_index(B, B.count_nonzero(d, axis=axes, keepdims=keepdims), x._device)
    _check_tensor("count_nonzero", x)
    if x.__class__ is _vb.BatchedTensor:  # vmap
        return _vb.reduce_values("count_nonzero", x, axis, keepdims)
    axes = normalize_axes("count_nonzero", axis, x.ndim)
    B = x._device._backend
    return _as_index(B, B.count_nonzero(x._data, axis=axes, keepdims=keepdims), x._device)


def nonzero(x, /) -> tuple:
    """The indices of the non-zero elements, one index tensor per axis."""
    _check_tensor("nonzero", x)
    if x.__class__ is _vb.BatchedTensor:  # vmap
        _vb.refuse_data_dependent("nonzero", "use where(x != 0, ...) or a mask instead")
    if x.ndim == 0:
        raise ValueError("nonzero: not defined for zero-dimensional tensors; use "
                         "nonzero(reshape(x, (1,)))")
    B = x._device._backend
    dev = x._device
    return tuple(_as_index(B, d, dev) for d in B.nonzero(x._data))


def searchsorted(x1, x2, /, *, side="left", sorter=None) -> Tensor:
    """Indices at which ``x2`` (a tensor or Python scalar) would be inserted into the
    sorted 1-D tensor ``x1`` (sorted by ``sorter`` if given) to keep it sorted."""
    if sorter is None and x1.__class__ is Tensor and x2.__class__ is Tensor and \
            x1._device is x2._device and x1._data.dtype is x2._data.dtype and \
            (side == "left" or side == "right") and side.__class__ is str:
        d1 = x1._data
        key = (d1.shape, id(d1.dtype))
        if key in _SEARCH_CHECKED:  # checked before: one dtype, 1-D, real numeric
            B = x1._device._backend
            return _as_index(B, B.searchsorted(d1, x2._data, side=side, sorter=None),
                             x1._device)
        out = _searchsorted(x1, x2, side, sorter)
        if id(d1.dtype) in _dtypes._native_to_dtype:
            if len(_SEARCH_CHECKED) >= 1024:
                _SEARCH_CHECKED.clear()
            _SEARCH_CHECKED.add(key)
        return out
    return _searchsorted(x1, x2, side, sorter)


_SEARCH_CHECKED: set = set()  # (x1's shape, native dtype id) of checked same-dtype calls


def _searchsorted(x1, x2, side, sorter):
    _check_tensor("searchsorted", x1)
    if _vb.BatchedTensor in (x1.__class__, x2.__class__, sorter.__class__):  # vmap
        return _vb.searchsorted(x1, x2, side, sorter)
    if x1.ndim != 1:
        raise ValueError(f"searchsorted: x1 must be one-dimensional, got shape {x1.shape}")
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    if x1.dtype not in _dtypes.real_numeric_dtypes:
        raise TypeError(f"searchsorted: expected a real numeric dtype, got {x1.dtype}")
    if not isinstance(x2, Tensor) or x2.dtype != x1.dtype or x2._device is not x1._device:
        x1, x2 = binary_operands("searchsorted", x1, x2)
        if x2.dtype not in _dtypes.real_numeric_dtypes:
            raise TypeError(f"searchsorted: expected a real numeric dtype, got {x2.dtype}")
    B = x1._device._backend
    s = None
    if sorter is not None:
        _check_tensor("searchsorted", sorter)
        if sorter._device is not x1._device:
            raise ValueError(f"searchsorted: x1 is on device '{x1._device}' but sorter is on "
                             f"'{sorter._device}'")
        if sorter.dtype.kind not in "iu":
            raise TypeError(f"searchsorted: sorter must have an integer dtype, got {sorter.dtype}")
        if sorter.shape != x1.shape:
            raise ValueError(f"searchsorted: sorter has shape {sorter.shape} but x1 has shape "
                             f"{x1.shape}")
        s = sorter._data
    return _as_index(B, B.searchsorted(x1._data, x2._data, side=side, sorter=s), x1._device)

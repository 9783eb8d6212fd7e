"""Utility functions (spec chapter "Utility Functions"): all, any, diff.

``all`` and ``any`` are boolean reductions (not differentiable); ``diff`` is a
composition of differentiable slicing, concatenation and subtraction, so its
derivatives (any order, both modes) come from those primitives.
"""
from __future__ import annotations

from ._core import _batching as _vb
from . import _dtypes
from ._core._grad_mode import state
from ._core._tensor import Tensor, _new
from ._manipulation_functions import _narrow, concat
from ._validation import check_tensor as _check_tensor, normalize_axes, normalize_axis

__all__ = ["all", "any", "diff"]


_AXES_CHECKED: dict = {}  # (func, shape, axis, keepdims) -> normalized axes (no dtype rule)


def _bool_reduce(func, x, axis, keepdims):
    if x.__class__ is Tensor and (axis is None or axis.__class__ is int) and (
            keepdims is True or keepdims is False):  # a plain tensor: memoized checks
        d = x._data
        key = (func, d.shape, axis, keepdims)
        axes = _AXES_CHECKED.get(key)
        if axes is None:
            axes = normalize_axes(func, axis, d.ndim)
            if len(_AXES_CHECKED) >= 1024:
                _AXES_CHECKED.clear()
            _AXES_CHECKED[key] = axes
        B = x._device._backend
        return _new(B.ensure_array(getattr(B, func)(d, axis=axes, keepdims=keepdims)),
                    x._device)
    _check_tensor(func, x)
    if x.__class__ is _vb.BatchedTensor:  # vmap
        return _vb.reduce_values(func, x, axis, keepdims)
    axes = normalize_axes(func, axis, x.ndim)
    B = x._device._backend
    return _new(B.ensure_array(getattr(B, func)(x._data, axis=axes, keepdims=bool(keepdims))),
                x._device)


def all(x, /, *, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    """Whether every element along ``axis`` (int, tuple or None: all axes) is true
    (non-zero); True for an empty reduction."""
    return _bool_reduce("all", x, axis, keepdims)


def any(x, /, *, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    """Whether some element along ``axis`` (int, tuple or None: all axes) is true
    (non-zero); False for an empty reduction."""
    return _bool_reduce("any", x, axis, keepdims)


def diff(x, /, n=1, axis=-1, *, prepend=None, append=None) -> Tensor:
    """The ``n``-th forward difference along ``axis``; ``prepend``/``append`` are joined
    to ``x`` along ``axis`` first (same shape except along ``axis``).  ``n`` and ``axis``
    may also be given by position, in NumPy's order (``diff(x, 2)``)."""
    _check_tensor("diff", x)
    if x.dtype not in _dtypes.numeric_dtypes:
        raise TypeError(f"diff: expected a numeric dtype, got {x.dtype}")
    if x.ndim == 0:
        raise ValueError("diff: x must have at least one dimension, got a 0-d tensor")
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"diff: n must be an int, got {type(n).__name__}")
    if n < 0:
        raise ValueError(f"diff: n must be non-negative, got {n}")
    axis = normalize_axis("diff", axis, x.ndim)
    if prepend is not None or append is not None:
        parts = []
        for name, p in (("prepend", prepend), (None, x), ("append", append)):
            if p is None:
                continue
            if not isinstance(p, Tensor):
                raise TypeError(f"diff: {name} must be a Tensor, got {type(p).__name__}")
            if p._device is not x._device:
                raise ValueError(f"diff: x is on device '{x._device}' but {name} is on "
                                 f"'{p._device}'")
            if p.ndim != x.ndim or p.shape[:axis] != x.shape[:axis] or \
                    p.shape[axis + 1:] != x.shape[axis + 1:]:
                raise ValueError(f"diff: {name} of shape {p.shape} must match x of shape "
                                 f"{x.shape} except along axis {axis}")
            parts.append(p)
        x = concat(parts, axis=axis)
    if n == 1 and x.__class__ is Tensor and x.shape[axis] and not (
            state.dual_level or state.grad_enabled and x._requires_grad):
        lead = (slice(None),) * axis  # nothing recorded: one subtraction of two views
        data = x._data
        B = x._device._backend
        return _new(B.ensure_array(data[lead + (slice(1, None), Ellipsis)] -
                                   data[lead + (slice(0, -1), Ellipsis)]),
                    x._device)
    for _ in range(n):
        m = x.shape[axis]
        if m == 0:
            break
        x = _narrow(x, axis, 1, m) - _narrow(x, axis, 0, m - 1)
    return x

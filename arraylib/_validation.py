"""Argument checks shared by the chapters: tensors and axes."""
from __future__ import annotations

import operator
import sys

from ._core._tensor import Tensor


class AxisError(ValueError, IndexError):
    """An axis out of range (both ValueError and IndexError, as NumPy's AxisError)."""


def check_tensor(func: str, x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{func}: expected a Tensor, got {type(x).__name__}")


def normalize_axis(func: str, axis, ndim: int) -> int:
    """``axis`` in ``[0, ndim)``; AxisError (ValueError and IndexError) otherwise."""
    try:
        a = operator.index(axis)
    except TypeError:
        raise TypeError(f"{func}: axis must be an int, got {type(axis).__name__}") from None
    if not -ndim <= a < ndim:
        raise AxisError(f"{func}: axis {a} is out of bounds for array of dimension {ndim}")
    return a + ndim if a < 0 else a


def normalize_axes(func: str, axis, ndim: int, *, allow_duplicates=False) -> tuple:
    """A tuple of axes in ``[0, ndim)`` from an int, a sequence or None (all axes)."""
    if axis is None:
        return tuple(range(ndim))
    if axis.__class__ is tuple:  # fast path: distinct ints already in [0, ndim)
        for a in axis:
            if a.__class__ is not int or not 0 <= a < ndim:
                break
        else:
            if len(axis) < 2 or len(set(axis)) == len(axis):
                return axis
    if isinstance(axis, (tuple, list)):
        axes = tuple(normalize_axis(func, a, ndim) for a in axis)
        if not allow_duplicates and len(set(axes)) != len(axes):
            raise ValueError(f"{func}: repeated axis in {tuple(axis)}")
        return axes
    return (normalize_axis(func, axis, ndim),)


def check_allocation(func: str, shape: tuple, dtype) -> None:
    """ValueError, naming ``func``, when a tensor of ``shape`` and ``dtype`` could not be
    addressed at all (more bytes than the largest index), before any backend tries."""
    n = 1
    for s in shape:
        n *= s
    if n and n * dtype.itemsize > sys.maxsize:
        raise ValueError(f"{func}: a tensor of shape {shape} and dtype {dtype} would need "
                         f"{n * dtype.itemsize} bytes, more than can be allocated")

"""Operand promotion: two operands to one dtype and device, Python scalars, integer ranges.

The standard's promotion table lives in ``_dtypes``; this module applies it to
tensors (casting with the differentiable cast primitive).  Python scalars take the
tensor's dtype, or the next wider kind (a float next to an integer tensor gives the
default float).
"""
from __future__ import annotations

from .. import _dtypes
from .._backends import host_scalar_types
from ._cast import cast
from ._tensor import Tensor, _new

_HOST_SCALARS = host_scalar_types()


def is_python_scalar(value) -> bool:
    """A Python bool/int/float/complex, or a NumPy scalar (which arraylib treats alike)."""
    t = type(value)
    if t is bool or t is int or t is float or t is complex:
        return True
    return isinstance(value, _HOST_SCALARS) or isinstance(value, int)  # e.g. x.size's int


def integer_range(dt) -> tuple:
    """(lowest, highest) value of the integer dtype ``dt``."""
    bits = dt.itemsize * 8
    return (0, 2 ** bits - 1) if dt.kind == "u" else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


def in_range(name: str, value: int, dt) -> None:
    """Raise OverflowError when the Python int ``value`` does not fit the integer dtype ``dt``."""
    lo, hi = integer_range(dt)
    if not lo <= value <= hi:
        raise OverflowError(f"{name}: Python int {value} is out of bounds for {dt}")


def scalar_operand(name: str, value, like: Tensor):
    """A Python scalar next to tensor ``like``: (scalar tensor, tensor), same dtype."""
    if not is_python_scalar(value):
        raise TypeError(f"{name}: expected a Tensor or a Python scalar, got {type(value).__name__}")
    if type(value) not in (bool, int, float, complex):
        value = value.item()
    dt = like.dtype
    sdt = _dtypes.scalar_dtype_for(value, dt)
    if sdt != dt:  # a wider kind (int into a bool tensor, float into an int tensor, ...)
        sdt = _dtypes.default_on(sdt, like._device.backend.supported_dtypes())
        like = cast(like, sdt)
        dt = sdt
    if dt.kind in "iu" and isinstance(value, int) and not isinstance(value, bool):
        in_range(name, value, dt)
    B = like._device.backend
    return _new(B.asarray(value, dtype=dt), like._device), like


# Promotions of two plain tensors' storage dtypes, by id (long-lived dtype objects only:
# NumPy's, CuPy's): (id1, id2) -> (promoted dtype, whether x1 casts, whether x2 casts).
_PROMOTED: dict = {}
_NATIVE_IDS = _dtypes._native_to_dtype


def promotion_of(x1: Tensor, x2: Tensor, name: str) -> tuple:
    """(promoted dtype, whether ``x1`` casts, whether ``x2`` casts) for two tensors (a
    TypeError naming ``name`` without a rule), memoized for plain tensors."""
    d1, d2 = x1.dtype, x2.dtype
    r = _dtypes.result_type_of(d1, d2, func=name) if d1 != d2 else d1
    hit = (r, d1 != r, d2 != r)
    key = (id(x1._data.dtype), id(x2._data.dtype))
    if x1.__class__ is Tensor and x2.__class__ is Tensor and key[0] in _NATIVE_IDS \
            and key[1] in _NATIVE_IDS:
        if len(_PROMOTED) >= 1024:
            _PROMOTED.clear()
        _PROMOTED[key] = hit
    return hit


def binary_operands(name: str, x1, x2):
    """Two tensors on one device with the promoted dtype (the slow path)."""
    if x1.__class__ is Tensor and x2.__class__ is Tensor and x1._device is x2._device:
        hit = _PROMOTED.get((id(x1._data.dtype), id(x2._data.dtype)))
        if hit is not None:
            r, c1, c2 = hit
            return (cast(x1, r) if c1 else x1), (cast(x2, r) if c2 else x2)
    if isinstance(x1, Tensor):
        if isinstance(x2, Tensor):
            if x1._device is not x2._device:
                raise ValueError(f"{name}: tensors are on different devices, '{x1._device}' and "
                                 f"'{x2._device}'")
            r, c1, c2 = promotion_of(x1, x2, name)
            return (cast(x1, r) if c1 else x1), (cast(x2, r) if c2 else x2)
        s, x1 = scalar_operand(name, x2, x1)
        return x1, s
    if isinstance(x2, Tensor):
        s, x2 = scalar_operand(name, x1, x2)
        return s, x2
    raise TypeError(f"{name}: expected at least one Tensor argument, got {type(x1).__name__} "
                    f"and {type(x2).__name__}")


def check_category(name: str, category: str, x: Tensor, promote_to_float: bool) -> Tensor:
    """``x`` if its dtype is in ``category``; integers and booleans cast to the default
    float when ``promote_to_float``; a TypeError otherwise."""
    dt = x.dtype
    if dt in _dtypes.CATEGORIES[category]:
        return x
    if promote_to_float and dt.kind in "biu":
        return cast(x, _dtypes.default_on(_dtypes.default_float,
                                          x._device.backend.supported_dtypes()))
    raise TypeError(f"{name}: expected {category} dtype, got {dt}")

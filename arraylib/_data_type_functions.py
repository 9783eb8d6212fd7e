"""Data type functions (spec chapter "Data Type Functions")."""
from __future__ import annotations

from . import _dtypes
from ._core._devices import Device
from ._core._cast import cast, transfer
from ._core._promotion import _PROMOTED, promotion_of
from ._core._tensor import Tensor

__all__ = ["astype"]


def astype(x, dtype, /, *, copy=True, device=None) -> Tensor:
    """``x`` converted to ``dtype`` (and moved to ``device`` if given)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"astype: expected a Tensor, got {type(x).__name__}")
    dtype = _dtypes.as_dtype(dtype, func="astype")
    if device is not None and Device(device) is not x._device:
        x = transfer(x, device)
        copy = False
    return cast(x, dtype, copy)


__all__ += ["can_cast", "finfo", "iinfo", "isdtype", "result_type"]


def _dtype_arg(func, x):
    """A dtype from a dtype-like or a tensor."""
    if isinstance(x, Tensor):
        return x.dtype
    return _dtypes.as_dtype(x, func=func)


def can_cast(from_, to, /) -> bool:
    """Whether ``from_`` (a dtype or tensor) can be cast to ``to`` by type promotion."""
    f = _dtype_arg("can_cast", from_)
    t = _dtypes.as_dtype(to, func="can_cast")
    return f == t or _dtypes.promotion_table.get((f, t)) == t


class finfo_object:
    """Machine limits of a floating-point dtype (the standard's ``finfo`` fields)."""

    __slots__ = ("bits", "eps", "max", "min", "smallest_normal", "dtype")

    def __init__(self, bits, eps, max, min, smallest_normal, dtype):  # noqa: A002
        self.bits, self.eps, self.max, self.min = bits, eps, max, min
        self.smallest_normal, self.dtype = smallest_normal, dtype

    def __repr__(self):
        return (f"finfo(bits={self.bits}, eps={self.eps}, max={self.max}, min={self.min}, "
                f"smallest_normal={self.smallest_normal}, dtype={self.dtype})")


class iinfo_object:
    """Limits of an integer dtype (the standard's ``iinfo`` fields)."""

    __slots__ = ("bits", "max", "min", "dtype")

    def __init__(self, bits, max, min, dtype):  # noqa: A002
        self.bits, self.max, self.min, self.dtype = bits, max, min, dtype

    def __repr__(self):
        return f"iinfo(bits={self.bits}, max={self.max}, min={self.min}, dtype={self.dtype})"


_FINFO = {
    # real dtype: (bits, eps, max, smallest_normal)
    "float32": (32, 2.0 ** -23, (2 - 2.0 ** -23) * 2.0 ** 127, 2.0 ** -126),
    "float64": (64, 2.0 ** -52, (2 - 2.0 ** -52) * 2.0 ** 1023, 2.0 ** -1022),
    "float16": (16, 2.0 ** -10, (2 - 2.0 ** -10) * 2.0 ** 15, 2.0 ** -14),
    "bfloat16": (16, 2.0 ** -7, (2 - 2.0 ** -7) * 2.0 ** 127, 2.0 ** -126),
}
_REAL_OF = {_dtypes.complex64: _dtypes.float32, _dtypes.complex128: _dtypes.float64}


def finfo(type, /) -> finfo_object:  # noqa: A002
    """Machine limits of a floating-point dtype (or a tensor's); for complex dtypes, of
    their real component, whose dtype ``dtype`` then is."""
    dt = _dtype_arg("finfo", type)
    if not _dtypes.is_floating(dt):
        raise TypeError(f"finfo: expected a floating-point dtype, got {dt}")
    real = _REAL_OF.get(dt, dt)
    bits, eps, mx, tiny = _FINFO[real.name]
    return finfo_object(bits, float(eps), float(mx), float(-mx), float(tiny), real)


def iinfo(type, /) -> iinfo_object:  # noqa: A002
    """Limits of an integer dtype (or a tensor's)."""
    dt = _dtype_arg("iinfo", type)
    if dt.kind not in "iu":
        raise TypeError(f"iinfo: expected an integer dtype, got {dt}")
    bits = dt.itemsize * 8
    if dt.kind == "u":
        return iinfo_object(bits, 2 ** bits - 1, 0, dt)
    return iinfo_object(bits, 2 ** (bits - 1) - 1, -(2 ** (bits - 1)), dt)


def isdtype(dtype, kind) -> bool:
    """Whether ``dtype`` is of ``kind``: a dtype, a kind name ('bool', 'signed integer',
    'unsigned integer', 'integral', 'real floating', 'complex floating', 'numeric') or a
    tuple of them."""
    if isinstance(dtype, Tensor):
        raise TypeError("isdtype: expected a dtype, got a Tensor; pass x.dtype")
    dt = _dtypes.as_dtype(dtype, func="isdtype")
    if not isinstance(kind, (str, tuple)):
        try:
            _dtypes.as_dtype(kind, func="isdtype")
        except TypeError:
            raise TypeError(f"isdtype: kind must be a dtype, a kind name or a tuple, "
                            f"got {kind!r}") from None
    return _dtypes.is_kind(dt, kind)


def result_type(*arrays_and_dtypes):
    """The dtype that type promotion gives for tensors, dtypes and Python scalars
    (scalars adapt to the tensors' dtype within their kind, as in the standard)."""
    if len(arrays_and_dtypes) == 2:  # two plain tensors: their promotion, memoized
        a, b = arrays_and_dtypes
        if a.__class__ is Tensor and b.__class__ is Tensor:
            hit = _PROMOTED.get((id(a._data.dtype), id(b._data.dtype)))
            if hit is None:
                hit = promotion_of(a, b, "result_type")
            return hit[0]
    dt = None
    scalars = []
    for a in arrays_and_dtypes:
        if type(a) in (bool, int, float, complex):
            scalars.append(a)
            continue
        d = _dtype_arg("result_type", a)
        dt = d if dt is None else _dtypes.result_type_of(dt, d, func="result_type")
    if dt is None:
        raise ValueError("result_type: at least one tensor or dtype is required")
    for s in scalars:
        dt = _dtypes.scalar_dtype_for(s, dt)
    return dt

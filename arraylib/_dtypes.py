"""arraylib's data types and the standard's type-promotion table.

arraylib's dtypes *are* NumPy dtype objects (as in array-api-compat's numpy
namespace and in CuPy): client libraries read ``dtype.kind`` and compare with
``numpy.float64``.  This module is the one place outside ``_backends`` that
imports NumPy, and only for those objects.

Beyond the standard's dtypes, ``float16`` (NumPy's) and ``bfloat16`` (from the
``ml_dtypes`` package) are real floating-point dtypes (PyTorch's half precisions).
``standard_dtypes`` lists only the standard's, which ``__array_namespace_info__``
reports.  NumPy's ``bfloat16`` dtype has ``kind == "V"``: test floating dtypes with
``is_floating``/``floating_dtypes``, not ``dtype.kind``.
"""
from __future__ import annotations

import builtins
import os as _os

import ml_dtypes as _ml_dtypes
import numpy as _np

bool = _np.dtype("bool")
int8 = _np.dtype("int8")
int16 = _np.dtype("int16")
int32 = _np.dtype("int32")
int64 = _np.dtype("int64")
uint8 = _np.dtype("uint8")
uint16 = _np.dtype("uint16")
uint32 = _np.dtype("uint32")
uint64 = _np.dtype("uint64")
float32 = _np.dtype("float32")
float64 = _np.dtype("float64")
complex64 = _np.dtype("complex64")
complex128 = _np.dtype("complex128")
float16 = _np.dtype("float16")
bfloat16 = _np.dtype(_ml_dtypes.bfloat16)

DType = _np.dtype

signed_integer_dtypes = (int8, int16, int32, int64)
unsigned_integer_dtypes = (uint8, uint16, uint32, uint64)
integer_dtypes = signed_integer_dtypes + unsigned_integer_dtypes
half_dtypes = (float16, bfloat16)  # not the standard's
standard_real_floating_dtypes = (float32, float64)
real_floating_dtypes = standard_real_floating_dtypes + half_dtypes
complex_floating_dtypes = (complex64, complex128)
floating_dtypes = real_floating_dtypes + complex_floating_dtypes
real_numeric_dtypes = integer_dtypes + real_floating_dtypes
numeric_dtypes = real_numeric_dtypes + complex_floating_dtypes
standard_dtypes = (bool,) + integer_dtypes + standard_real_floating_dtypes + \
    complex_floating_dtypes
all_dtypes = standard_dtypes + half_dtypes

DTYPE_NAMES = {d.name: d for d in all_dtypes}

# Storage dtype objects (by identity) -> arraylib dtype.  NumPy and CuPy storage use
# these very objects; a backend with dtype objects of its own registers them.
_native_to_dtype = {id(d): d for d in all_dtypes}
_native_alive: list = []  # keeps registered objects alive, so their ids stay theirs
native_to_dtype = _native_to_dtype.get


def register_native_dtype(native, dtype) -> None:
    """Let ``native`` (a backend's dtype object) stand for arraylib's ``dtype``."""
    _native_alive.append(native)
    _native_to_dtype[id(native)] = dtype

# Dtype categories used by the spec to say which inputs a function accepts.
CATEGORIES = {
    "any": all_dtypes,
    "bool": (bool,),
    "integer": integer_dtypes,
    "integer or boolean": integer_dtypes + (bool,),
    "real numeric": real_numeric_dtypes,
    "numeric": numeric_dtypes,
    "real floating-point": real_floating_dtypes,
    "complex floating-point": complex_floating_dtypes,
    "floating-point": floating_dtypes,
}

_KIND_NAMES = {
    "bool": (bool,),
    "signed integer": signed_integer_dtypes,
    "unsigned integer": unsigned_integer_dtypes,
    "integral": integer_dtypes,
    "real floating": real_floating_dtypes,
    "complex floating": complex_floating_dtypes,
    "numeric": numeric_dtypes,
}

# Default dtypes follow PyTorch.  ``set_default_dtype`` switches the floating pair; every
# reader looks them up here (``_dtypes.default_float``), so the switch costs nothing.
default_float = float32
default_complex = complex64
default_int = int64
default_index = int64


def set_default_dtype(d) -> None:
    """Make ``d`` (float32 or float64) the dtype of Python floats made tensors and of
    floating creation functions without ``dtype=``; the complex default follows it
    (complex64 or complex128).  Process-wide, as PyTorch's ``set_default_dtype``."""
    global default_float, default_complex
    try:
        dt = None if d is None or isinstance(d, builtins.bool) else _np.dtype(d)
    except TypeError:
        dt = None
    if dt is None or dt not in standard_real_floating_dtypes:
        raise TypeError(f"set_default_dtype: expected float32 or float64, got {d!r}")
    default_float = dt
    default_complex = complex64 if dt == float32 else complex128


_NARROWER = {float64: float32, complex128: complex64}


def default_on(dtype, supported):
    """A default ``dtype`` as a device whose dtypes are ``supported`` has it: float32 for
    float64 and complex64 for complex128 where the device lacks them (array_api_strict's
    no-float64 device, whatever ``set_default_dtype`` said), else ``dtype`` itself."""
    if dtype in supported:
        return dtype
    return _NARROWER.get(dtype, dtype)


def get_default_dtype():
    """The default floating dtype (float32 unless ``set_default_dtype`` changed it)."""
    return default_float


def _dtype_from_environment() -> None:
    """``ARRAYLIB_DEFAULT_DTYPE`` (float32 or float64), read at import."""
    spec = _os.environ.get("ARRAYLIB_DEFAULT_DTYPE")
    if spec:
        set_default_dtype(spec)


# Floating dtypes by (complex?, precision rank of the real component); float16 and
# bfloat16 share rank 0, and the two together promote to float32 (as PyTorch).
_FLOAT_RANK = {float16: (False, 0), bfloat16: (False, 0), float32: (False, 1),
               float64: (False, 2), complex64: (True, 1), complex128: (True, 2)}
_BY_RANK = {(False, 1): float32, (False, 2): float64, (True, 1): complex64,
            (True, 2): complex128}


def _promote(a, b):
    """The promoted dtype of ``a`` and ``b``, or None where no rule applies.

    The standard's table for the pairs it defines; where it leaves the choice to the
    implementation, as PyTorch and JAX: a bool or integer with a floating dtype gives
    the floating dtype, float16 with bfloat16 gives float32.  No rule for bool with an
    integer (PyTorch gives the integer) nor for a signed integer with uint64."""
    if a == b:
        return a
    fa, fb = a in _FLOAT_RANK, b in _FLOAT_RANK
    if fa and fb:
        (ca, ra), (cb, rb) = _FLOAT_RANK[a], _FLOAT_RANK[b]
        return _BY_RANK[ca or cb, builtins.max(ra, rb, 1)]
    if fa or fb:
        return a if fa else b
    if a == bool or b == bool:
        return None
    result = _np.promote_types(a, b)
    return None if result.kind == "f" else result  # signed with uint64


def _build_promotion_table() -> dict:
    table = {}
    for a in all_dtypes:
        for b in all_dtypes:
            r = _promote(a, b)
            if r is not None:
                table[a, b] = r
    return table


promotion_table = _build_promotion_table()


def as_dtype(dtype, *, func: str = "dtype") -> _np.dtype:
    """Normalise a user dtype (NumPy dtype, scalar type or name) to arraylib's."""
    if dtype.__class__ is _np.dtype and dtype in _ALL_SET:
        return dtype
    try:
        dt = _np.dtype(dtype)
    except TypeError:
        dt = None
    if dtype is None or dt is None or dt not in _ALL_SET:
        raise TypeError(f"{func}: {dtype!r} is not a supported data type; "
                        f"expected one of {', '.join(d.name for d in all_dtypes)}")
    return dt


_ALL_SET = frozenset(all_dtypes)


def result_type_of(d1, d2, *, func: str = "result_type") -> _np.dtype:
    """Promote two arraylib dtypes by the standard's table."""
    try:
        return promotion_table[d1, d2]
    except KeyError:
        raise TypeError(f"{func}: no promotion rule for dtypes {d1} and {d2}") from None


def is_kind(dtype, kind) -> builtins.bool:
    """The standard's ``isdtype``."""
    if isinstance(kind, tuple):
        return builtins.any(is_kind(dtype, k) for k in kind)
    if isinstance(kind, str):
        if kind not in _KIND_NAMES:
            raise ValueError(f"isdtype: unknown kind {kind!r}; expected one of {sorted(_KIND_NAMES)}")
        return dtype in _KIND_NAMES[kind]
    return dtype == as_dtype(kind, func="isdtype")


# Sets for dtype tests (a set look-up is cheaper than reading ``dtype.kind``).
floating_set = frozenset(floating_dtypes)
real_floating_set = frozenset(real_floating_dtypes)
real_numeric_set = frozenset(real_numeric_dtypes)
_FLOATING_SET = floating_set
_COMPLEX_SET = frozenset(complex_floating_dtypes)


def is_floating(dtype) -> builtins.bool:
    """Whether ``dtype`` is floating-point, real or complex (bfloat16 included)."""
    return dtype in _FLOATING_SET


def kind_of(dtype) -> str:
    """``dtype.kind`` ('b', 'i', 'u', 'f', 'c'), with 'f' for bfloat16 (NumPy: 'V')."""
    return "f" if dtype == bfloat16 else dtype.kind


def scalar_dtype_for(value, array_dtype):
    """The dtype a Python scalar takes next to an array of ``array_dtype``.

    Python scalars take the array's dtype within the same kind; an int next to a
    bool array, a float next to a bool or integer array and a complex next to one
    take the default dtype of the wider kind; a complex next to a real floating array
    takes that precision's complex dtype (float32: complex64), as PyTorch does.
    """
    t = type(value)
    if t is builtins.bool:
        return array_dtype
    if t is int:
        return default_int if array_dtype == bool else array_dtype
    if t is float:
        return array_dtype if array_dtype in _FLOATING_SET else default_float
    if t is complex:  # a real floating tensor keeps its precision, whatever the default
        if array_dtype in _COMPLEX_SET:
            return array_dtype
        if array_dtype in _FLOATING_SET:
            return complex128 if array_dtype == float64 else complex64
        return default_complex
    return None

"""Set functions (spec chapter "Set Functions"): ``unique_*`` and ``isin``.

None is differentiable.  Each NaN counts as a distinct value (the standard's rule);
index outputs have the default index dtype (int64); ``inverse_indices`` has ``x``'s
shape.
"""
from __future__ import annotations

from typing import NamedTuple

from ._core import _batching as _vb
from ._core._primitive import Primitive, apply, apply1, apply2, nondifferentiable
from ._core._promotion import binary_operands
from ._core._tensor import Tensor

__all__ = ["unique_all", "unique_counts", "unique_inverse", "unique_values", "isin"]


class UniqueAllResult(NamedTuple):
    values: Tensor
    indices: Tensor
    inverse_indices: Tensor
    counts: Tensor


class UniqueCountsResult(NamedTuple):
    values: Tensor
    counts: Tensor


class UniqueInverseResult(NamedTuple):
    values: Tensor
    inverse_indices: Tensor


# Not differentiable: primitives without rules (several outputs need ``nout``).
_unique_all = Primitive("unique_all", lambda B, x: tuple(B.unique_all(x)), nout=4)
_unique_all.batch = _vb.data_dependent("unique_all", "its output size differs per example")
_unique_counts = Primitive("unique_counts", lambda B, x: tuple(B.unique_counts(x)), nout=2)
_unique_counts.batch = _vb.data_dependent("unique_counts", "its output size differs per example")
_unique_inverse = Primitive("unique_inverse", lambda B, x: tuple(B.unique_inverse(x)), nout=2)
_unique_inverse.batch = _vb.data_dependent("unique_inverse", "its output size differs per example")
_unique_values = nondifferentiable("unique_values", native="unique_values")
_unique_values.batch = _vb.data_dependent("unique_values", "its output size differs per example")
_isin = nondifferentiable("isin", lambda B, a, b, *, invert: B.isin(a, b, invert=invert))
_isin.batch = _vb.isin_rule(_isin)


def _check(func, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{func}: expected a Tensor, got {type(x).__name__}")
    return x


def unique_all(x, /) -> UniqueAllResult:
    """Unique values of ``x`` (flattened, sorted), the first index of each, the inverse
    indices (``x``'s shape) and the counts."""
    return UniqueAllResult(*apply(_unique_all, (_check("unique_all", x),)))


def unique_counts(x, /) -> UniqueCountsResult:
    """Unique values of ``x`` and how often each occurs."""
    return UniqueCountsResult(*apply(_unique_counts, (_check("unique_counts", x),)))


def unique_inverse(x, /) -> UniqueInverseResult:
    """Unique values of ``x`` and, for each element of ``x``, the index of its value."""
    return UniqueInverseResult(*apply(_unique_inverse, (_check("unique_inverse", x),)))


def unique_values(x, /) -> Tensor:
    """The unique values of ``x`` (1-D, sorted; each NaN is distinct)."""
    return apply1(_unique_values, _check("unique_values", x))


def isin(x1, x2, /, *, invert=False) -> Tensor:
    """Whether each element of ``x1`` occurs in ``x2`` (bool, ``x1``'s shape); either one
    may be a Python scalar.  ``invert=True`` gives the negation."""
    x1, x2 = binary_operands("isin", x1, x2)
    return apply2(_isin, x1, x2, {"invert": bool(invert)})

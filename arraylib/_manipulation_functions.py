"""Manipulation functions (spec chapter "Manipulation Functions").

Each differentiable function is a ``Primitive``; shape-only functions (reshape,
permute_dims, expand_dims, squeeze, broadcast_to, moveaxis, flip) are views of
their input (``view=True``), so in-place changes are seen by their version
counter.  Derivative rules are written with arraylib's own operations.
"""
from __future__ import annotations

import builtins
import operator

from . import _dtypes
from ._primitive import Primitive, apply
from ._tensor import Tensor

__all__ = ["broadcast_shapes", "broadcast_to", "reshape"]


class AxisError(ValueError, IndexError):
    """An axis out of range (both ValueError and IndexError, as NumPy's AxisError)."""


# -- helpers shared by the chapters -------------------------------------------------
def _check_tensor(func: str, x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{func}: expected a Tensor, got {type(x).__name__}")


def normalize_axis(func: str, axis, ndim: int) -> int:
    """``axis`` in ``[0, ndim)``; AxisError (ValueError and IndexError) otherwise."""
    try:
        a = operator.index(axis)
    except TypeError:
        raise TypeError(f"{func}: axis must be an int, got {type(axis).__name__}") from None
    if not -ndim <= a < ndim:
        raise AxisError(f"{func}: axis {a} is out of bounds for a tensor of dimension {ndim}")
    return a + ndim if a < 0 else a


def normalize_axes(func: str, axis, ndim: int, *, allow_duplicates=False) -> tuple:
    """A tuple of axes in ``[0, ndim)`` from an int, a sequence or None (all axes)."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        axes = tuple(normalize_axis(func, a, ndim) for a in axis)
        if not allow_duplicates and len(set(axes)) != len(axes):
            raise ValueError(f"{func}: repeated axis in {tuple(axis)}")
        return axes
    return (normalize_axis(func, axis, ndim),)


def _shape_of(func: str, shape) -> tuple:
    """A tuple of Python ints from a shape argument (int, tuple, list)."""
    if shape.__class__ is tuple:
        for s in shape:
            if s.__class__ is not int:
                break
        else:
            return shape
    if isinstance(shape, int) or (hasattr(shape, "__index__") and not isinstance(shape, (tuple, list))):
        return (operator.index(shape),)
    try:
        return tuple(operator.index(s) for s in shape)
    except TypeError:
        raise TypeError(f"{func}: shape must be a tuple of ints, got {shape!r}") from None


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _tangent_or_zeros(t, x):
    if t is not None:
        return t
    from ._creation_functions import zeros_like
    return zeros_like(x)


# -- reshape and its relatives (views) -------------------------------------------------
def _reshape_fwd(B, x, *, shape, src):
    return B.reshape(x, shape)


def _reshape_vjp(g, out, x, *, shape, src):
    return (reshape(g, src),)


def _reshape_jvp(t, out, x, *, shape, src):
    return reshape(t[0], shape)


def _shape_primitive(name):
    return Primitive(name, _reshape_fwd, _reshape_vjp, _reshape_jvp,
                     saves_inputs=False, saves_output=False, view=True)


_reshape_prim = _shape_primitive("reshape")
_expand_dims_prim = _shape_primitive("expand_dims")
_squeeze_prim = _shape_primitive("squeeze")


def _copy_reshape_fwd(B, x, *, shape, src):
    return B.reshape(B.asarray(x, copy=True), shape)


_reshape_copy_prim = Primitive("reshape", _copy_reshape_fwd, _reshape_vjp, _reshape_jvp,
                               saves_inputs=False, saves_output=False)


def _infer_shape(shape: tuple, src: tuple, size: int) -> tuple:
    known = 1
    unknown = -1
    for i, s in enumerate(shape):
        if s < 0:
            if s != -1:
                raise ValueError(f"reshape: invalid dimension {s} in shape {shape}; only -1 "
                                 "(infer) may be negative")
            if unknown >= 0:
                raise ValueError(f"reshape: can only infer one dimension, got shape {shape}")
            unknown = i
        else:
            known *= s
    if unknown >= 0:
        if known == 0 or size % known:
            raise ValueError(f"reshape: cannot reshape tensor of shape {src} ({size} elements) "
                             f"into shape {shape}")
        shape = shape[:unknown] + (size // known,) + shape[unknown + 1:]
    elif known != size:
        raise ValueError(f"reshape: cannot reshape tensor of shape {src} ({size} elements) "
                         f"into shape {shape} ({known} elements)")
    return shape


def reshape(x, /, shape, *, copy=None) -> Tensor:
    """``x`` with a new shape (one entry may be -1: inferred); a view when possible.

    ``copy=True`` always copies; ``copy=False`` never copies and raises ValueError
    when a view is impossible.
    """
    if x.__class__ is not Tensor:
        _check_tensor("reshape", x)
    shape = _shape_of("reshape", shape)
    src = x._data.shape
    if src.__class__ is not tuple:
        src = tuple(src)
    size = _prod(src)
    for s in shape:
        if s < 0:
            shape = _infer_shape(shape, src, size)
            break
    else:
        if _prod(shape) != size:
            raise ValueError(f"reshape: cannot reshape tensor of shape {src} ({size} elements) "
                             f"into shape {shape} ({_prod(shape)} elements)")
    if copy:
        return apply(_reshape_copy_prim, (x,), {"shape": shape, "src": src})
    if copy is False:
        try:
            x._device._backend.reshape(x._data, shape, copy=False)
        except (ValueError, AttributeError):
            raise ValueError(f"reshape: copy=False but tensor of shape {src} can't be reshaped "
                             f"to {shape} without copying (its memory layout does not allow a "
                             "view)") from None
    return apply(_reshape_prim, (x,), {"shape": shape, "src": src})


# -- broadcasting ------------------------------------------------------------------
def broadcast_shapes(*shapes) -> tuple:
    """The shape that ``shapes`` broadcast to (ValueError if they don't)."""
    shapes = [_shape_of("broadcast_shapes", s) for s in shapes]
    ndim = builtins.max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for s in shapes:
        off = ndim - len(s)
        for i, d in enumerate(s):
            if d < 0:
                raise ValueError(f"broadcast_shapes: negative dimension {d} in shape {s}")
            j = off + i
            o = out[j]
            if o == 1:
                out[j] = d
            elif d != 1 and d != o:
                raise ValueError("broadcast_shapes: shapes "
                                 f"{', '.join(str(tuple(t)) for t in shapes)} are not broadcastable "
                                 f"(dimension {j - ndim}: {o} vs {d})")
    return tuple(out)


def _sum_to(g, shape):
    """Sum ``g`` down to ``shape`` (the adjoint of broadcasting)."""
    gshape = g.shape
    if gshape == shape:
        return g
    from ._statistical_functions import sum as _sum
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                      if s == 1 and gshape[lead + i] != 1)
    if axes:
        g = _sum(g, axis=axes, keepdims=True)
    if g.shape != shape:
        g = reshape(g, shape)
    return g


_broadcast_prim = Primitive(
    "broadcast_to", lambda B, x, *, shape, src: B.broadcast_to(x, shape),
    vjp=lambda g, out, x, *, shape, src: (_sum_to(g, src),),
    jvp=lambda t, out, x, *, shape, src: broadcast_to(t[0], shape),
    saves_inputs=False, saves_output=False, view=True)


def broadcast_to(x, /, shape) -> Tensor:
    """``x`` broadcast to ``shape`` (a read-only view); -1 keeps ``x``'s dimension."""
    _check_tensor("broadcast_to", x)
    shape = _shape_of("broadcast_to", shape)
    src = x.shape
    n, m = len(shape), len(src)
    if m > n:
        raise ValueError(f"broadcast_to: can't broadcast tensor of shape {src} to shape {shape} "
                         "with fewer dimensions")
    fixed = None
    for i, d in enumerate(shape):
        j = i - (n - m)
        if d == -1 and j >= 0:
            fixed = fixed or list(shape)
            fixed[i] = d = src[j]
        if d < 0:
            raise ValueError(f"broadcast_to: invalid dimension {d} in shape {shape}")
        if j >= 0 and src[j] != d and src[j] != 1:
            raise ValueError(f"broadcast_to: can't broadcast tensor of shape {src} to shape "
                             f"{shape} (dimension {j}: {src[j]} vs {d})")
    if fixed is not None:
        shape = tuple(fixed)
    return apply(_broadcast_prim, (x,), {"shape": shape, "src": src})

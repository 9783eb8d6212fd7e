"""Linear algebra functions of the core namespace: matmul, matrix_transpose, tensordot,
vecdot; and the ``@`` operators on Tensor."""
from __future__ import annotations

import operator

from ._core import _batching as _vb
from . import _dtypes
from ._core import _autocast
from ._core._primitive import _NO_PARAMS, Primitive, apply1, apply2, linear_jvp, new_view
from ._core._promotion import binary_operands
from ._core._grad_mode import anywhere, state
from ._core._tensor import Tensor, _new
from ._elementwise_functions import conj
from ._manipulation_functions import broadcast_shapes, permute_dims, reshape
from ._statistical_functions import sum as _sum
from ._validation import normalize_axis

__all__ = ["matmul", "matrix_transpose", "tensordot", "vecdot"]

_NUMERIC = frozenset(_dtypes.numeric_dtypes)


def _conj(x):
    return conj(x) if x.dtype.kind == "c" else x


def _conj_ns(ns, x):
    """``conj`` in a rule (``ns``: arraylib's namespace or the storage backend)."""
    return ns.conj(x) if ns.isdtype(x.dtype, "complex floating") else x


def _operands(func, x1, x2):
    if not isinstance(x1, Tensor) or not isinstance(x2, Tensor):
        raise TypeError(f"{func}: expected two Tensors, got {type(x1).__name__} and "
                        f"{type(x2).__name__}")
    if x1._device is not x2._device or x1.dtype != x2.dtype:
        x1, x2 = binary_operands(func, x1, x2)
    if x1.dtype not in _NUMERIC:
        raise TypeError(f"{func}: expected numeric dtypes, got {x1.dtype} and {x2.dtype}")
    return x1, x2


# -- matrix_transpose (a view) -----------------------------------------------------------
_mT_prim = Primitive(
    "matrix_transpose", native="matrix_transpose",
    vjp=lambda ns, needs, g, out, x: (ns.matrix_transpose(g),),
    jvp=linear_jvp(lambda ns, t: ns.matrix_transpose(t)),
    saves_inputs=False, saves_output=False, view=True)
_mT_prim.batch = _vb.matrix_rule(_mT_prim)


def matrix_transpose(x, /) -> Tensor:
    """Transpose the last two axes (a view; ``x.mT``)."""
    if x.__class__ is Tensor and not x._requires_grad and not anywhere.dual \
            and x._data.ndim >= 2:  # nothing to record: the view at once
        return new_view(x, x._device._backend.matrix_transpose(x._data), _mT_prim, _NO_PARAMS)
    if not isinstance(x, Tensor):
        raise TypeError(f"matrix_transpose: expected a Tensor, got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"matrix_transpose: expected a tensor with at least 2 dimensions, got "
                         f"shape {x.shape}")
    return apply1(_mT_prim, x)


# -- matmul -----------------------------------------------------------------------------
def _matmul_vjp(ns, needs, g, out, a, b):
    """Cotangents of ``a @ b``; only those ``needs`` asks for are computed."""
    ga = gb = None
    cb = _conj_ns(ns, b) if needs[0] else None
    ca = _conj_ns(ns, a) if needs[1] else None
    if a.ndim == 1 and b.ndim == 1:
        return (None if cb is None else g * cb), (None if ca is None else g * ca)
    if a.ndim == 1:  # (k,) @ (..., k, m) -> (..., m)
        g2 = ns.expand_dims(g, axis=-2)
        if cb is not None:
            ga = ns.matmul(g2, ns.matrix_transpose(cb))
        if ca is not None:
            gb = ns.matmul(ns.expand_dims(ca, axis=-1), g2)
    elif b.ndim == 1:  # (..., n, k) @ (k,) -> (..., n)
        g2 = ns.expand_dims(g, axis=-1)
        if cb is not None:
            ga = ns.matmul(g2, ns.expand_dims(cb, axis=0))
        if ca is not None:
            gb = ns.matmul(ns.matrix_transpose(ca), g2)[..., 0]
    else:
        if cb is not None:
            ga = ns.matmul(g, ns.matrix_transpose(cb))
        if ca is not None:
            gb = ns.matmul(ns.matrix_transpose(ca), g)
    return ga, gb


def _matmul_jvp(ns, tangents, out, a, b):
    ta, tb = tangents
    r = None if ta is None else ns.matmul(ta, b)
    if tb is not None:
        s = ns.matmul(a, tb)
        r = s if r is None else r + s
    return r


_matmul_prim = Primitive("matmul", native="matmul", vjp=_matmul_vjp, jvp=_matmul_jvp,
                         saves_output=False)
_matmul_prim.batch = _vb.matmul_rule(_matmul_prim)


def matmul(x1, x2, /) -> Tensor:
    """Matrix product with NumPy's rules: 1-D operands are vectors, leading (batch)
    dimensions broadcast."""
    if _autocast.active:  # inside arraylib.autocast: inputs in its dtype
        x1, x2 = _autocast.lower(x1, x2)
    if (x1.__class__ is Tensor or _memoizable(x1)) and (x2.__class__ is Tensor or _memoizable(x2)) \
            and x1._device is x2._device:
        a, b = x1._data, x2._data
        if a.dtype is b.dtype and (a.shape, b.shape, id(a.dtype)) in _MATMUL_CHECKED:
            return apply2(_matmul_prim, x1, x2)
    x1, x2 = _operands("matmul", x1, x2)
    s1, s2 = x1.shape, x2.shape
    if not s1 or not s2:
        raise ValueError(f"matmul: operands must have at least 1 dimension, got shapes {s1} and {s2}")
    k2 = s2[0] if len(s2) == 1 else s2[-2]
    if s1[-1] != k2:
        raise ValueError(f"matmul: contracted dimensions differ, shapes {s1} and {s2} "
                         f"({s1[-1]} != {k2})")
    if len(s1) > 2 or len(s2) > 2:
        try:
            broadcast_shapes(s1[:-2], s2[:-2])
        except ValueError:
            raise ValueError(f"matmul: batch dimensions of shapes {s1} and {s2} don't "
                             "broadcast") from None
    if _memoizable(x1) and _memoizable(x2):
        if len(_MATMUL_CHECKED) >= 1024:
            _MATMUL_CHECKED.clear()
        _MATMUL_CHECKED.add((x1._data.shape, x2._data.shape, id(x1._data.dtype)))
    return apply2(_matmul_prim, x1, x2)


_PLAIN_SHAPE = Tensor.shape


def _plain(x) -> bool:
    """A Tensor, or a subclass whose shape is its storage's (a Parameter; not vmap's
    batched tensors): its checks may be memoized by storage shape."""
    c = x.__class__
    return c is Tensor or getattr(c, "shape", None) is _PLAIN_SHAPE


def _memoizable(x) -> bool:
    """A plain tensor, or one of vmap's batched tensors (whose ``_data`` holds the
    per-example shape and dtype the checks see): matmul's checks are memoized by them."""
    return _plain(x) or x.__class__ is _vb.BatchedTensor


_MATMUL_CHECKED: set = set()  # (shape, shape, storage dtype id) of plain tensors that passed


# -- tensordot, vecdot (composites) --------------------------------------------------
def _axis_list(func, axes, ndim, which):
    out = []
    for a in axes:
        a = normalize_axis(f"{func} ({which})", a, ndim)
        if a in out:
            raise ValueError(f"{func}: repeated axis {a} for {which}")
        out.append(a)
    return out


_TENSORDOT: dict = {}  # (shape, shape, storage dtype id, int axes) -> checked plan


def tensordot(x1, x2, /, *, axes=2) -> Tensor:
    """Sum of products over ``axes``: an int N (last N of ``x1`` with first N of ``x2``)
    or a pair of axis sequences."""
    if x1.__class__ is Tensor and x2.__class__ is Tensor and axes.__class__ is int \
            and x1._device is x2._device and x1._data.dtype is x2._data.dtype:
        a, b = x1._data, x2._data
        key = (a.shape, b.shape, id(a.dtype), axes)
        plan = _TENSORDOT.get(key)
        if plan is None:
            plan = _tensordot_plan(x1, x2, axes)
            if len(_TENSORDOT) >= 1024:
                _TENSORDOT.clear()
            _TENSORDOT[key] = plan
        return _tensordot_run(x1, x2, plan)
    return _tensordot_run(*_operands("tensordot", x1, x2), _tensordot_plan(x1, x2, axes))


def _tensordot_run(x1, x2, plan) -> Tensor:
    perm1, perm2, shape1, shape2, out_shape = plan
    p1 = x1 if perm1 is None else permute_dims(x1, perm1)
    p2 = x2 if perm2 is None else permute_dims(x2, perm2)
    return reshape(matmul(reshape(p1, shape1), reshape(p2, shape2)), out_shape)


def _tensordot_plan(x1, x2, axes) -> tuple:
    """``(perm1, perm2, shape1, shape2, out_shape)``: ``tensordot`` as permutations (None:
    none needed), one matrix product of the two reshaped operands and a reshape; every
    argument checked."""
    x1, x2 = _operands("tensordot", x1, x2)
    s1, s2 = x1.shape, x2.shape
    if isinstance(axes, (tuple, list)):
        if len(axes) != 2:
            raise ValueError(f"tensordot: axes must be an int or a pair of sequences, got {axes!r}")
        a1, a2 = axes
        a1 = [a1] if not isinstance(a1, (tuple, list)) else list(a1)
        a2 = [a2] if not isinstance(a2, (tuple, list)) else list(a2)
        if len(a1) != len(a2):
            raise ValueError(f"tensordot: axes {axes!r} have different lengths")
    else:
        try:
            n = operator.index(axes)
        except TypeError:
            raise TypeError(f"tensordot: axes must be an int or a pair of sequences, got {axes!r}") from None
        if n < 0 or n > len(s1) or n > len(s2):
            raise ValueError(f"tensordot: axes={n} is invalid for shapes {s1} and {s2}")
        a1, a2 = list(range(len(s1) - n, len(s1))), list(range(n))
    a1 = _axis_list("tensordot", a1, len(s1), "x1")
    a2 = _axis_list("tensordot", a2, len(s2), "x2")
    for i, j in zip(a1, a2):
        if s1[i] != s2[j]:
            raise ValueError(f"tensordot: shapes {s1} and {s2} differ on contracted axes "
                             f"{i} and {j} ({s1[i]} != {s2[j]})")
    free1 = [i for i in range(len(s1)) if i not in a1]
    free2 = [j for j in range(len(s2)) if j not in a2]
    k = 1
    for i in a1:
        k *= s1[i]
    m1 = 1
    for i in free1:
        m1 *= s1[i]
    m2 = 1
    for j in free2:
        m2 *= s2[j]
    perm1 = tuple(free1 + a1) if free1 + a1 != list(range(len(s1))) else None
    perm2 = tuple(a2 + free2) if a2 + free2 != list(range(len(s2))) else None
    return (perm1, perm2, (m1, k), (k, m2),
            tuple(s1[i] for i in free1) + tuple(s2[j] for j in free2))


_VECDOT: dict = {}  # (shape, shape, storage dtype id, int axis) -> the checked negative axis


def vecdot(x1, x2, /, *, axis=-1) -> Tensor:
    """Dot product of vectors along ``axis`` (broadcasting the rest): sum(conj(x1) * x2)."""
    if x1.__class__ is Tensor and x2.__class__ is Tensor and axis.__class__ is int \
            and x1._device is x2._device and x1._data.dtype is x2._data.dtype:
        a, b = x1._data, x2._data
        key = (a.shape, b.shape, id(a.dtype), axis)
        ax = _VECDOT.get(key)
        if ax is None:
            ax = _vecdot_axis(x1, x2, axis)
            if len(_VECDOT) >= 1024:
                _VECDOT.clear()
            _VECDOT[key] = ax
    else:
        x1, x2 = _operands("vecdot", x1, x2)
        ax = _vecdot_axis(x1, x2, axis)
    if x1.__class__ is Tensor and x2.__class__ is Tensor and id(x1.dtype) in _VECDOT_DIRECT \
            and not state.dual_level and not (state.grad_enabled and (
                x1._requires_grad or x2._requires_grad)):  # nothing recorded: one call
        dev = x1._device
        B = dev._backend
        return _new(B.ensure_array(B.vecdot(x1._data, x2._data, axis=ax)), dev)
    return _sum(_conj(x1) * x2, axis=ax, dtype=x1.dtype)


def _vecdot_axis(x1, x2, axis) -> int:
    """``vecdot``'s axis, negative (it counts from the end for both operands), checked."""
    x1, x2 = _operands("vecdot", x1, x2)
    s1, s2 = x1.shape, x2.shape
    try:
        shape = broadcast_shapes(s1, s2)
    except ValueError:
        raise ValueError(f"vecdot: shapes {s1} and {s2} don't broadcast; operands could not "
                         "be broadcast together") from None
    n = len(shape)
    try:
        axis = operator.index(axis)
    except TypeError:
        raise TypeError(f"vecdot: axis must be an int, got {axis!r}") from None
    if not -n <= axis < n:
        raise ValueError(f"vecdot: axis {axis} is out of range for shapes {s1} and {s2}")
    ax = axis % n - n  # negative: counts from the end, for both operands
    if -ax > len(s1) or -ax > len(s2) or s1[ax] != s2[ax]:
        raise ValueError(f"vecdot: shapes {s1} and {s2} differ along axis {axis}")
    return ax


_VECDOT_DIRECT = frozenset(id(d) for d in (_dtypes.float32, _dtypes.float64, _dtypes.complex64,
                                            _dtypes.complex128))


# -- outer products (one node) ---------------------------------------------------------
def _outer_fwd(B, a, b):
    return B.multiply(a[:, None], b)  # (a 1-D column times a row: one backend call)


def _outer_vjp(ns, needs, g, out, a, b):
    return (ns.matmul(g, _conj_ns(ns, b)) if needs[0] else None,
            ns.matmul(_conj_ns(ns, a), g) if needs[1] else None)


def _outer_jvp(ns, tangents, out, a, b):
    ta, tb = tangents
    r = None if ta is None else ns.multiply(ns.reshape(ta, (-1, 1)), ns.reshape(b, (1, -1)))
    if tb is not None:
        s = ns.multiply(ns.reshape(a, (-1, 1)), ns.reshape(tb, (1, -1)))
        r = s if r is None else r + s
    return r


def _outer_batch(ns, bdims, a, b):
    a, b = _vb.batched_all(ns, bdims, (a, b))
    return ns.multiply(ns.expand_dims(a, axis=-1), ns.expand_dims(b, axis=-2))


_outer_prim = Primitive("outer", _outer_fwd, _outer_vjp, _outer_jvp, batch=_outer_batch)


def outer_product(x1, x2):
    """The outer product of two plain 1-D tensors of one dtype and device as one
    primitive; None for other operands (the callers' composites promote)."""
    if x1.__class__ is Tensor and x2.__class__ is Tensor and x1._device is x2._device:
        a, b = x1._data, x2._data
        if a.dtype is b.dtype and a.ndim == 1 and b.ndim == 1 and id(a.dtype) in _VECDOT_DIRECT:
            return apply2(_outer_prim, x1, x2)
    return None


# -- operators --------------------------------------------------------------------------

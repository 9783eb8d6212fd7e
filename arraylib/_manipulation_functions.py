"""Manipulation functions (spec chapter "Manipulation Functions").

Each differentiable function is a ``Primitive``; shape-only functions (reshape,
permute_dims, expand_dims, squeeze, broadcast_to, moveaxis, flip) are views of
their input (``view=True``), so in-place changes are seen by their version
counter.  Derivative rules are written against the namespace ``ns`` they receive
(arraylib's on tensors, the storage backend's in a plain backward); the linear ones
take their JVP from ``linear_jvp``.
"""
from __future__ import annotations

import builtins
import copy as _copy
import operator

from ._core import _batching as _vb
from . import _dtypes
from ._core._cast import cast
from ._core._engine import sum_to_shape
from ._core._graph import record, set_view_info, view_info
from ._core._primitive import (Primitive, apply, apply1, apply2, linear_jvp, new_view,
                              new_views, share_version, view_chain)
from ._core._tensor import Tensor, _new
from ._core._grad_mode import anywhere, state
from ._validation import AxisError, normalize_axes, normalize_axis  # noqa: F401 (re-exported)
from ._validation import check_tensor as _check_tensor

__all__ = ["broadcast_arrays", "broadcast_shapes", "broadcast_to", "concat", "expand_dims",
           "flip", "moveaxis", "permute_dims", "repeat", "reshape", "roll", "squeeze", "stack",
           "tile", "unstack"]


# -- helpers -----------------------------------------------------------------------------
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


# ``view_of(x, data, prim, params)``: the view of ``x`` over ``data`` made by view primitive
# ``prim`` when nothing is recorded (the no-record fast paths of the view functions): it
# shares ``x``'s version counter and root base and remembers how it was made (see
# ``share_version``); ``prim`` None (under ``no_grad``): not differentiable, as in
# PyTorch, and remembers nothing.
view_of = new_view


def deepcopy_tensor(x: Tensor, memo: dict) -> Tensor:
    """``copy.deepcopy`` of a tensor (``Tensor.__deepcopy__``): new storage, and a view
    comes back a view of its base's copy (made the same way), so copying ``(base, view)``
    together keeps the aliasing, as in PyTorch.  ``requires_grad`` is kept."""
    key = id(x)
    out = memo.get(key)
    if out is not None:
        return out
    base = x._base
    info = view_info(x) if base is not None else None
    if info is None:
        out = _new(x._device._backend.asarray(x._data, copy=True), x._device, type(x))
    else:
        b = _copy.deepcopy(base, memo)
        B = b._device._backend
        data = b._data
        for prim, params, k in view_chain(info):
            data = prim.fwd(B, data, **params)
            if k is not None:
                data = data[k]
        out = _new(B.ensure_array(data), b._device, type(x))
        vc = out._vc = b._version_counter()
        out._base = b if b._base is None else b._base
        set_view_info(out, [vc[0], *info[1:]])
    if x._requires_grad:
        out.requires_grad_(True)
    memo[key] = out
    return out


# -- reshape and its relatives (views) -------------------------------------------------
def _reshape_fwd(B, x, *, shape, src):
    return B.reshape(x, shape)


def _reshape_vjp(ns, needs, g, out, x, *, shape, src):
    return (ns.reshape(g, src),)


_reshape_jvp = linear_jvp(lambda ns, t, *, shape, src: ns.reshape(t, shape))


def _shape_primitive(name):
    return Primitive(name, _reshape_fwd, _reshape_vjp, _reshape_jvp,
                     saves_inputs=False, saves_output=False, view=True)


_reshape_prim = _shape_primitive("reshape")
_reshape_prim.batch = _vb.axis_rule(_reshape_prim, axes=(), shapes=("shape", "src"))
_expand_dims_prim = _shape_primitive("expand_dims")
_expand_dims_prim.batch = _vb.axis_rule(_expand_dims_prim, axes=(), shapes=("shape", "src"))
_squeeze_prim = _shape_primitive("squeeze")
_squeeze_prim.batch = _vb.axis_rule(_squeeze_prim, axes=(), shapes=("shape", "src"))


def _copy_reshape_fwd(B, x, *, shape, src):
    return B.reshape(B.asarray(x, copy=True), shape)


_reshape_copy_prim = Primitive("reshape", _copy_reshape_fwd, _reshape_vjp, _reshape_jvp,
                               saves_inputs=False, saves_output=False)
_reshape_copy_prim.batch = _vb.axis_rule(_reshape_copy_prim, axes=(), shapes=("shape", "src"))


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


_RESHAPE: dict = {}  # (source shape, shape argument of ints) -> checked params (never mutated)


def reshape(x, /, shape, *, copy=None) -> Tensor:
    """``x`` with a new shape (one entry may be -1: inferred); a view when possible.

    ``copy=True`` always copies; ``copy=False`` never copies and raises ValueError
    when a view is impossible.
    """
    c = x.__class__
    if c is Tensor and shape.__class__ is tuple and copy is None:  # the hot path: memoized
        params = _RESHAPE.get((x._data.shape, shape))
        if params is not None:
            for s in shape:
                if s.__class__ is not int:  # (10.0 hashes as 10: checked again below)
                    break
            else:
                if x._requires_grad or anywhere.dual:
                    return _reshape_view(x, params)
                return new_view(x, x._device._backend.reshape(x._data, params["shape"]),
                                _reshape_prim if not anywhere.no_grad or state.grad_enabled
                                else None, params)
    elif c is not Tensor:
        _check_tensor("reshape", x)
        if c is _vb.BatchedTensor:  # vmap: the value, its batch dim in front
            v = x._value
            return _vb.wrap(reshape(v, (v.shape[0],) + _shape_of("reshape", shape), copy=copy),
                            x._level)
    arg = shape
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
    params = {"shape": shape, "src": src}
    if copy is None:
        if c is Tensor and _int_tuples((arg,)):
            if len(_RESHAPE) >= 1024:
                _RESHAPE.clear()
            _RESHAPE[(src, arg)] = params
        return _reshape_view(x, params)
    if copy:
        return apply1(_reshape_copy_prim, x, params)
    if copy is False:
        try:
            x._device._backend.reshape(x._data, shape, copy=False)
        except (ValueError, AttributeError):
            raise ValueError(f"reshape: copy=False but tensor of shape {src} can't be reshaped "
                             f"to {shape} without copying (its memory layout does not allow a "
                             "view)") from None
    return apply1(_reshape_prim, x, params)


def _reshape_view(x, params) -> Tensor:
    """The reshaping view of ``x`` with checked ``params``: no node when none is needed."""
    grad = not anywhere.no_grad or state.grad_enabled
    if (grad and x._requires_grad) or (anywhere.dual and state.dual_level):
        return apply1(_reshape_prim, x, params)
    data = x._device._backend.reshape(x._data, params["shape"])
    if grad:
        return new_view(x, data, _reshape_prim, params)
    return new_view(x, data, None, None)


# -- broadcasting ------------------------------------------------------------------
_BROADCAST: dict = {}  # shapes (tuples of ints) -> their checked broadcast shape


def _int_tuples(shapes) -> bool:
    """Whether ``shapes`` are all tuples of ints (no bools or floats: memo keys)."""
    for s in shapes:
        if s.__class__ is not tuple:
            return False
        for d in s:
            if d.__class__ is not int:
                return False
    return True


def broadcast_shapes(*shapes) -> tuple:
    """The shape that ``shapes`` broadcast to (ValueError if they don't)."""
    plain = _int_tuples(shapes)
    if plain:
        hit = _BROADCAST.get(shapes)
        if hit is not None:
            return hit
    out = _broadcast_shapes(shapes)
    if plain:
        if len(_BROADCAST) >= 1024:
            _BROADCAST.clear()
        _BROADCAST[shapes] = out
    return out


def _broadcast_shapes(shapes) -> tuple:
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
                                 f"(dimension {j - ndim}: {o} vs {d}); operands could not be "
                                 "broadcast together")
    return tuple(out)


_broadcast_prim = Primitive(
    "broadcast_to", lambda B, x, *, shape, src: B.broadcast_to(x, shape),
    vjp=lambda ns, needs, g, out, x, *, shape, src: (sum_to_shape(ns, g, src),),
    jvp=linear_jvp(lambda ns, t, *, shape, src: ns.broadcast_to(t, shape)),
    saves_inputs=False, saves_output=False, view=True)
_broadcast_prim.batch = _vb.broadcast_rule(_broadcast_prim)


def broadcast_to(x, /, shape) -> Tensor:
    """``x`` broadcast to ``shape`` (a read-only view); -1 keeps ``x``'s dimension."""
    if x.__class__ is Tensor and _int_tuples((shape,)):
        key = (x._data.shape, shape)
        params = _BROADCAST_TO.get(key)
        if params is None:
            params = _broadcast_to_params(key[0], shape)
            if len(_BROADCAST_TO) >= 1024:
                _BROADCAST_TO.clear()
            _BROADCAST_TO[key] = params
        if not x._requires_grad and not anywhere.dual:  # nothing to record
            return new_view(x, x._device._backend.broadcast_to(x._data, params["shape"]),
                            _broadcast_prim, params)
        return apply1(_broadcast_prim, x, params)
    _check_tensor("broadcast_to", x)
    return apply1(_broadcast_prim, x, _broadcast_to_params(x.shape,
                                                            _shape_of("broadcast_to", shape)))


_BROADCAST_TO: dict = {}  # (source shape, shape) -> checked params (shared: never mutated)


def _broadcast_to_params(src, shape) -> dict:
    n, m = len(shape), len(src)
    if m > n:
        raise ValueError(f"broadcast_to: can't broadcast tensor of shape {src} to shape {shape} "
                         "with fewer dimensions; operands could not be broadcast together")
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
                             f"{shape} (dimension {j}: {src[j]} vs {d}); operands could not be "
                             "broadcast together")
    if fixed is not None:
        shape = tuple(fixed)
    return {"shape": shape, "src": src}


def broadcast_arrays(*arrays) -> tuple:
    """The tensors broadcast against each other (a tuple of views, as 2025.12 says)."""
    if not arrays:
        return ()
    for a in arrays:
        _check_tensor("broadcast_arrays", a)
    _same_device("broadcast_arrays", arrays)
    shape = broadcast_shapes(*(a.shape for a in arrays))
    return tuple([a if a.shape == shape and not a._requires_grad else broadcast_to(a, shape)
                  for a in arrays])


# -- several tensors -----------------------------------------------------------------
def _same_device(func: str, arrays) -> None:
    dev = arrays[0]._device
    for a in arrays:
        if a._device is not dev:
            raise ValueError(f"{func}: tensors are on different devices, '{dev}' and "
                             f"'{a._device}'")


def _tensor_sequence(func: str, arrays) -> list:
    c = arrays.__class__
    if (c is list or c is tuple) and arrays:  # fast path: plain tensors, one device and dtype
        first = arrays[0]
        if first.__class__ is Tensor:
            dev, dt = first._device, first._data.dtype
            for a in arrays:
                if a.__class__ is not Tensor or a._device is not dev or a._data.dtype is not dt:
                    break
            else:
                return list(arrays)
    if isinstance(arrays, Tensor) or not isinstance(arrays, (list, tuple)):
        raise TypeError(f"{func}: expected a tuple or list of Tensors, got "
                        f"{type(arrays).__name__}")
    if not arrays:
        raise ValueError(f"{func}: need at least one tensor")
    for a in arrays:
        _check_tensor(func, a)
    _same_device(func, arrays)
    dt = arrays[0].dtype
    if builtins.any(a.dtype != dt for a in arrays):
        for a in arrays[1:]:
            dt = _dtypes.result_type_of(dt, a.dtype, func=func)
        arrays = [a if a.dtype == dt else cast(a, dt, func=func) for a in arrays]
    return list(arrays)


def _narrow_fwd(B, x, *, axis, start, stop, n):
    return x[(slice(None),) * axis + (slice(start, stop), ...)]


def _pad_zeros(ns, g, axis, before, after):
    """``g`` with ``before``/``after`` zeros along ``axis`` (the adjoint of narrowing), on
    namespace ``ns``."""
    if not before and not after:
        return g
    shape = tuple(g.shape)
    parts = []
    if before:
        parts.append(ns.zeros(shape[:axis] + (before,) + shape[axis + 1:], dtype=g.dtype,
                              device=g.device))
    parts.append(g)
    if after:
        parts.append(ns.zeros(shape[:axis] + (after,) + shape[axis + 1:], dtype=g.dtype,
                              device=g.device))
    return ns.concat(parts, axis=axis)


def _narrow_vjp_storage(B, needs, g, out, x, *, axis, start, stop, n):
    """``g`` written into zeros of the input's shape: one allocation and one copy."""
    z = B.zeros(g.shape[:axis] + (n,) + g.shape[axis + 1:], dtype=g.dtype,
                device=B.native_device)
    B.assign(z, (slice(None),) * axis + (slice(start, stop), Ellipsis), g)
    return (z,)


_narrow_prim = Primitive(
    "narrow", _narrow_fwd,
    vjp=lambda ns, needs, g, out, x, *, axis, start, stop, n: (
        _pad_zeros(ns, g, axis, start, n - stop),),
    vjp_storage=_narrow_vjp_storage,
    jvp=linear_jvp(lambda ns, t, *, axis, start, stop, n: _narrow(t, axis, start, stop)),
    saves_inputs=False, saves_output=False, view=True)
_narrow_prim.batch = _vb.axis_rule(_narrow_prim)


def _narrow(x, axis: int, start: int, stop: int) -> Tensor:
    """``x[..., start:stop, ...]`` along non-negative ``axis`` (0 <= start <= stop <= n)."""
    return apply1(_narrow_prim, x, {"axis": axis, "start": start, "stop": stop,
                                    "n": x.shape[axis]})


def narrowed(x, params) -> Tensor:
    """The narrowing view of ``x`` with checked ``params`` (see ``pieces_params``)."""
    if x.__class__ is Tensor and not x._requires_grad and not anywhere.dual:  # nothing to record
        key = (slice(None),) * params["axis"] + (slice(params["start"], params["stop"]), Ellipsis)
        return new_view(x, x._data[key], _narrow_prim, params)
    return apply1(_narrow_prim, x, params)


def _concat_vjp(ns, needs, g, out, *inputs, axis, sizes):
    lead = (slice(None),) * axis
    res = []
    start = 0
    for need, s in zip(needs, sizes):
        res.append(g[lead + (slice(start, start + s), Ellipsis)] if need else None)
        start += s
    return tuple(res)


def _with_zeros(ns, tangents, inputs) -> list:
    """The tangents, zeros (of the input's shape) where an input has none."""
    return [ns.zeros_like(x) if t is None else t for t, x in zip(tangents, inputs)]


_concat_prim = Primitive(
    "concat", lambda B, *xs, axis, sizes: B.concat(xs, axis=axis), _concat_vjp,
    lambda ns, tangents, out, *inputs, axis, sizes: ns.concat(_with_zeros(ns, tangents, inputs),
                                                             axis=axis),
    saves_inputs=False, saves_output=False)
_concat_prim.batch = _vb.axis_rule(_concat_prim, expand=True)


_JOIN_CHECKED: dict = {}  # (func, axis, shapes) -> checked params (concat, stack)


def _join(prim, arrays, params):
    if len(arrays) == 2:
        return apply2(prim, arrays[0], arrays[1], params)
    return apply(prim, tuple(arrays), params)


def _join_hot(func, arrays, axis):
    """The memoized params of joining ``arrays`` along an int ``axis`` when they are plain
    tensors of one dtype on one device whose shapes were checked before (else None)."""
    c = arrays.__class__
    if (c is not list and c is not tuple) or axis.__class__ is not int or not arrays:
        return None
    if len(arrays) == 2:  # (the common case, without a loop)
        x1, x2 = arrays
        if x1.__class__ is not Tensor or x2.__class__ is not Tensor:
            return None
        a, b = x1._data, x2._data
        if a.dtype is not b.dtype or x1._device is not x2._device:
            return None
        return _JOIN_CHECKED.get((func, axis, (a.shape, b.shape)))
    first = arrays[0]
    if first.__class__ is not Tensor:
        return None
    dev, dt = first._device, first._data.dtype
    shapes = []
    for t in arrays:
        if t.__class__ is not Tensor or t._device is not dev:
            return None
        d = t._data
        if d.dtype is not dt:
            return None
        shapes.append(d.shape)
    return _JOIN_CHECKED.get((func, axis, tuple(shapes)))


def _joined(join, prim, arrays, params):
    """``_join`` of checked plain tensors: the storage call ``join`` (the backend's
    ``concat`` or ``stack``) at once when nothing is recorded."""
    for t in arrays:
        if t._requires_grad:
            return _join(prim, arrays, params)
    if anywhere.dual:
        return _join(prim, arrays, params)
    dev = arrays[0]._device
    B = dev._backend
    r = getattr(B, join)([t._data for t in arrays], axis=params["axis"])
    return _new(r if r.__class__ is B.array_type else B.ensure_array(r), dev)


def _join_key(func, arrays, axis):
    """The memo key of a join of plain tensors along an int ``axis`` (else None)."""
    if axis.__class__ is not int:
        return None
    shapes = []
    for a in arrays:
        if a.__class__ is not Tensor:
            return None
        shapes.append(a._data.shape)
    return (func, axis, tuple(shapes))


def concat(arrays, /, *, axis=0) -> Tensor:
    """Join tensors along an existing ``axis`` (None: flatten them first)."""
    c = arrays.__class__
    if (c is list or c is tuple) and len(arrays) == 2 and axis.__class__ is int:
        x1, x2 = arrays  # the hot path: two plain tensors of checked shapes, nothing recorded
        if x1.__class__ is Tensor and x2.__class__ is Tensor and not x1._requires_grad \
                and not x2._requires_grad and not anywhere.dual:
            a, b = x1._data, x2._data
            dev = x1._device
            if a.dtype is b.dtype and x2._device is dev:
                params = _JOIN_CHECKED.get(("concat", axis, (a.shape, b.shape)))
                if params is not None:
                    B = dev._backend
                    r = B.concat((a, b), axis=params["axis"])
                    return _new(r if r.__class__ is B.array_type else B.ensure_array(r), dev)
    params = _join_hot("concat", arrays, axis)
    if params is not None:
        return _joined("concat", _concat_prim, arrays, params)
    arrays = _tensor_sequence("concat", arrays)
    key = _join_key("concat", arrays, axis)
    params = _JOIN_CHECKED.get(key) if key is not None else None
    if params is None:
        params = _concat_params(arrays, axis)
        if key is not None:
            if len(_JOIN_CHECKED) >= 1024:
                _JOIN_CHECKED.clear()
            _JOIN_CHECKED[key] = params
    if axis is None:
        arrays = [reshape(a, (-1,)) for a in arrays]
    return _join(_concat_prim, arrays, params)


def _concat_params(arrays, axis) -> dict:
    """``concat``'s checked parameters (never mutated: they may be shared)."""
    if axis is None:
        arrays = [reshape(a, (-1,)) for a in arrays]
        axis = 0
    ndim = arrays[0].ndim
    if ndim == 0:
        raise ValueError("concat: zero-dimensional tensors can't be concatenated; use stack or "
                         "axis=None")
    axis = normalize_axis("concat", axis, ndim)
    ref = arrays[0].shape
    for a in arrays[1:]:
        s = a.shape
        if len(s) != ndim or s[:axis] != ref[:axis] or s[axis + 1:] != ref[axis + 1:]:
            raise ValueError(f"concat: all tensors must have the same shape except along axis "
                             f"{axis}, got shapes {', '.join(str(b.shape) for b in arrays)}")
    sizes = tuple(a.shape[axis] for a in arrays)
    return {"axis": axis, "sizes": sizes}


def _stack_vjp(ns, needs, g, out, *inputs, axis):
    lead = (slice(None),) * axis
    return tuple(g[lead + (i, Ellipsis)] if need else None for i, need in enumerate(needs))


_stack_prim = Primitive(
    "stack", lambda B, *xs, axis: B.stack(xs, axis=axis), _stack_vjp,
    lambda ns, tangents, out, *inputs, axis: ns.stack(_with_zeros(ns, tangents, inputs),
                                                     axis=axis),
    saves_inputs=False, saves_output=False)
_stack_prim.batch = _vb.axis_rule(_stack_prim, expand=True)


def stack(arrays, /, *, axis=0) -> Tensor:
    """Join same-shape tensors along a new ``axis``."""
    params = _join_hot("stack", arrays, axis)
    if params is not None:
        return _joined("stack", _stack_prim, arrays, params)
    arrays = _tensor_sequence("stack", arrays)
    key = _join_key("stack", arrays, axis)
    params = _JOIN_CHECKED.get(key) if key is not None else None
    if params is None:
        shape = arrays[0].shape
        for a in arrays[1:]:
            if a.shape != shape:
                raise ValueError(f"stack: all tensors must have the same shape, got shapes "
                                 f"{', '.join(str(b.shape) for b in arrays)}")
        params = {"axis": normalize_axis("stack", axis, len(shape) + 1)}
        if key is not None:
            if len(_JOIN_CHECKED) >= 1024:
                _JOIN_CHECKED.clear()
            _JOIN_CHECKED[key] = params
    return _join(_stack_prim, arrays, params)


def _unstack_fwd(B, x, *, axis, n):
    lead = (slice(None),) * axis
    return tuple(x[lead + (i, ...)] for i in range(n))


_unstack_prims: dict = {}


def _unstack_prim(n: int) -> Primitive:
    prim = _unstack_prims.get(n)
    if prim is None:
        prim = _unstack_prims[n] = Primitive(
            "unstack", _unstack_fwd,
            vjp=lambda ns, needs, g, out, x, *, axis, n: (ns.stack(list(g), axis=axis),),
            jvp=linear_jvp(lambda ns, t, *, axis, n: ns.unstack(t, axis=axis)),
            saves_inputs=False, saves_output=False, nout=n)
        prim.batch = _vb.axis_rule(prim)
    return prim


def unstack(x, /, *, axis=0) -> tuple:
    """The slices of ``x`` along ``axis``, as a tuple of views."""
    return unstack_views(x, _memo_params("unstack", x, axis, _unstack_params))


def _unstack_params(shape, axis) -> dict:
    if not shape:
        raise ValueError("unstack: can't unstack a zero-dimensional tensor")
    axis = normalize_axis("unstack", axis, len(shape))
    return {"axis": axis, "n": shape[axis]}


def unstack_views(x, params) -> tuple:
    """``unstack`` with checked ``params``: views made by one primitive, one node."""
    n = params["n"]
    if n < 2:
        return () if n == 0 else (squeeze(x, params["axis"]),)
    prim = _unstack_prim(n)
    if x.__class__ is Tensor and not anywhere.dual:
        data = x._data
        lead = (slice(None),) * params["axis"]
        return _views(x, [data[lead + (i, Ellipsis)] for i in range(n)], prim, params)
    out = apply(prim, (x,), params)
    for k, o in enumerate(out):
        share_version(x, o, prim, params, k)
    return out


def _views(x, datas, prim, params) -> tuple:
    """The outputs of multi-output view primitive ``prim`` (storage ``datas``, computed)
    as views of plain tensor ``x``, with one node for all of them when ``x`` needs a
    gradient (no forward-mode level is open: the callers' condition)."""
    outs = new_views(x, datas, prim, params)
    if x._requires_grad and (not anywhere.no_grad or state.grad_enabled):
        record(prim, (x,), outs, params)
    return outs


# -- pieces along an axis (split, chunk, tensor_split): one multi-output view -----------
def _split_fwd(B, x, *, axis, bounds, n):
    lead = (slice(None),) * axis
    return tuple(x[lead + (slice(a, b), Ellipsis)] for a, b in bounds)


def _tiles(bounds, n) -> bool:
    """Whether the pieces ``bounds`` cover ``0..n`` in order without overlapping."""
    pos = 0
    for a, b in bounds:
        if a != pos:
            return False
        pos = b
    return pos == n


def _split_vjp(ns, needs, g, out, x, *, axis, bounds, n):
    if _tiles(bounds, n):
        return (ns.concat(list(g), axis=axis),)
    total = None  # overlapping pieces (tensor_split at unsorted indices): a sum
    for gk, (a, b) in zip(g, bounds):
        p = _pad_zeros(ns, gk, axis, a, n - b)
        total = p if total is None else total + p
    return (total,)


def _split_vjp_storage(B, needs, g, out, x, *, axis, bounds, n):
    """Every piece's cotangent written into zeros of the input's shape (one allocation)."""
    g0 = g[0]
    z = B.zeros(g0.shape[:axis] + (n,) + g0.shape[axis + 1:], dtype=g0.dtype,
                device=B.native_device)
    lead = (slice(None),) * axis
    overlap = not _tiles(bounds, n)
    for gk, (a, b) in zip(g, bounds):
        key = lead + (slice(a, b), Ellipsis)
        B.assign(z, key, z[key] + gk if overlap else gk)
    return (z,)


_split_prims: dict = {}


def _split_prim(n: int) -> Primitive:
    """The primitive of ``n >= 2`` pieces."""
    prim = _split_prims.get(n)
    if prim is None:
        prim = _split_prims[n] = Primitive(
            "split", _split_fwd, _split_vjp, vjp_storage=_split_vjp_storage,
            jvp=lambda ns, tangents, out, x, **p: apply(_split_prim(len(p["bounds"])),
                                                        (tangents[0],), p),
            saves_inputs=False, saves_output=False, nout=n)
        prim.batch = _vb.axis_rule(prim)
    return prim


def pieces_params(axis: int, bounds, n: int):
    """``(primitive, params)`` of the pieces ``bounds`` (``(start, stop)`` pairs, 0 <=
    start <= stop <= n) along non-negative ``axis`` of size ``n``: one narrowing view,
    or one primitive for several (shared: never mutated)."""
    if len(bounds) == 1:
        (a, b), = bounds
        return _narrow_prim, {"axis": axis, "start": a, "stop": b, "n": n}
    return _split_prim(len(bounds)), {"axis": axis, "bounds": tuple(bounds), "n": n}


def pieces(x, prim, params) -> tuple:
    """The views of ``x`` that ``pieces_params`` describes: one node for all of them."""
    if prim.nout == 1:
        return (narrowed(x, params),)
    if x.__class__ is Tensor and not anywhere.dual:
        data = x._data
        lead = (slice(None),) * params["axis"]
        return _views(x, [data[lead + (slice(a, b), Ellipsis)] for a, b in params["bounds"]],
                      prim, params)
    out = apply(prim, (x,), params)
    for k, o in enumerate(out):
        share_version(x, o, prim, params, k)
    return out


# -- axes --------------------------------------------------------------------------------
def _permute_primitive(name):
    return Primitive(
        name, lambda B, x, *, axes: B.permute_dims(x, axes),
        vjp=lambda ns, needs, g, out, x, *, axes: (ns.permute_dims(g, _inverse_permutation(axes)),),
        jvp=linear_jvp(lambda ns, t, *, axes: ns.permute_dims(t, axes)),
        saves_inputs=False, saves_output=False, view=True)


def _inverse_permutation(axes):
    inv = [0] * len(axes)
    for i, a in enumerate(axes):
        inv[a] = i
    return tuple(inv)


_permute_prim = _permute_primitive("permute_dims")
_permute_prim.batch = _vb.perm_rule(_permute_prim)
_moveaxis_prim = _permute_primitive("moveaxis")
_moveaxis_prim.batch = _vb.perm_rule(_moveaxis_prim)


def permute_dims(x, /, axes) -> Tensor:
    """``x`` with its axes permuted (a view); negative axes count from the end."""
    return permuted(x, _memo_params("permute_dims", x, axes, _permute_params))


def permuted(x, params, prim=_permute_prim) -> Tensor:
    """The view of ``x`` with its axes in the order ``params["axes"]`` (checked)."""
    if x.__class__ is Tensor and not x._requires_grad and not anywhere.dual:  # nothing to record
        return new_view(x, x._device._backend.permute_dims(x._data, params["axes"]), prim, params)
    return apply1(prim, x, params)


def reshaped(x, params, prim) -> Tensor:
    """The view of ``x`` that shape primitive ``prim`` (expand_dims, squeeze, ...) makes
    with checked ``params`` (``shape``, ``src``)."""
    if x.__class__ is Tensor and not x._requires_grad and not anywhere.dual:  # nothing to record
        return new_view(x, x._device._backend.reshape(x._data, params["shape"]), prim, params)
    return apply1(prim, x, params)


def _permute_params(shape, axes) -> dict:
    ndim = len(shape)
    try:
        axes = tuple(axes)
    except TypeError:
        raise TypeError(f"permute_dims: axes must be a tuple of ints, got {axes!r}") from None
    if len(axes) != ndim:
        raise ValueError(f"permute_dims: axes {axes} don't match a tensor of dimension {ndim}")
    norm = normalize_axes("permute_dims", axes, ndim)
    return {"axes": norm}


def moveaxis(x, source, destination, /) -> Tensor:
    """``x`` with axes ``source`` moved to positions ``destination`` (a view)."""
    if source.__class__ is not destination.__class__:  # (a memo key of one argument)
        _check_tensor("moveaxis", x)
        return apply1(_moveaxis_prim, x, _moveaxis_params(x.shape, (source, destination)))
    return permuted(x, _memo_params("moveaxis", x, (source, destination), _moveaxis_params),
                    _moveaxis_prim)


def _moveaxis_params(shape, arg) -> dict:
    source, destination = arg
    ndim = len(shape)
    src = normalize_axes("moveaxis", source if isinstance(source, (tuple, list)) else (source,),
                         ndim)
    dst = normalize_axes("moveaxis", destination if isinstance(destination, (tuple, list))
                         else (destination,), ndim)
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: source {source} and destination {destination} must have "
                         "the same number of elements")
    order = [a for a in range(ndim) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return {"axes": tuple(order)}


_SHAPE_PARAMS: dict = {}  # (func, source shape, axis argument) -> checked params


def _plain_arg(arg) -> bool:
    """Whether an axis argument may key a memo: None, an int, or a tuple of ints (no bools
    or floats that hash alike but are checked differently)."""
    if arg is None or arg.__class__ is int:
        return True
    if arg.__class__ is tuple:
        for a in arg:
            if a.__class__ is not int and not (a.__class__ is tuple and _plain_arg(a)):
                return False
        return True
    return False


def _memo_params(func, x, arg, check):
    """``check(src, arg)``'s params for ``x``'s shape, memoized for plain tensors and
    plain arguments (the params are shared: never mutated)."""
    if x.__class__ is Tensor and (arg.__class__ is int or _plain_arg(arg)):
        key = (func, x._data.shape, arg)
        params = _SHAPE_PARAMS.get(key)
        if params is None:
            params = check(key[1], arg)
            if len(_SHAPE_PARAMS) >= 2048:
                _SHAPE_PARAMS.clear()
            _SHAPE_PARAMS[key] = params
        return params
    _check_tensor(func, x)
    return check(x.shape, arg)


def expand_dims(x, /, axis=0) -> Tensor:
    """``x`` with new size-one axes at ``axis`` (an int or a tuple; positions in the
    result); a view."""
    if axis.__class__ is int and x.__class__ is Tensor and not x._requires_grad \
            and not anywhere.dual:  # the hot path: a memoized int axis, nothing to record
        params = _SHAPE_PARAMS.get(("expand_dims", x._data.shape, axis))
        if params is not None:
            return new_view(x, x._device._backend.reshape(x._data, params["shape"]),
                            _expand_dims_prim, params)
    return reshaped(x, _memo_params("expand_dims", x, axis, _expand_params), _expand_dims_prim)


def _expand_params(src, axis) -> dict:
    naxes = len(axis) if isinstance(axis, (tuple, list)) else 1
    out_ndim = len(src) + naxes
    axes = normalize_axes("expand_dims", axis, out_ndim)
    shape = []
    it = iter(src)
    for i in range(out_ndim):
        shape.append(1 if i in axes else next(it))
    return {"shape": tuple(shape), "src": src}


def squeeze(x, /, axis=None) -> Tensor:
    """``x`` without the size-one axes ``axis`` (an int or tuple; None: every size-one
    axis, as PyTorch does); a view."""
    if axis.__class__ is int and x.__class__ is Tensor and not x._requires_grad \
            and not anywhere.dual:  # the hot path: a memoized int axis, nothing to record
        params = _SHAPE_PARAMS.get(("squeeze", x._data.shape, axis))
        if params is not None:
            return new_view(x, x._device._backend.reshape(x._data, params["shape"]),
                            _squeeze_prim, params)
    return reshaped(x, _memo_params("squeeze", x, axis, _squeeze_params), _squeeze_prim)


def _squeeze_params(src, axis) -> dict:
    if axis is None:
        axes = tuple(i for i, s in enumerate(src) if s == 1)
    else:
        axes = normalize_axes("squeeze", axis, len(src))
        for a in axes:
            if src[a] != 1:
                raise ValueError(f"squeeze: axis {a} of a tensor of shape {src} has size "
                                 f"{src[a]}, not 1")
    shape = tuple(s for i, s in enumerate(src) if i not in axes)
    return {"shape": shape, "src": src}


_flip_prim = Primitive(
    "flip", lambda B, x, *, axis: B.flip(x, axis=axis),
    vjp=lambda ns, needs, g, out, x, *, axis: (ns.flip(g, axis=axis),),
    jvp=linear_jvp(lambda ns, t, *, axis: ns.flip(t, axis=axis)),
    saves_inputs=False, saves_output=False, view=True)
_flip_prim.batch = _vb.axis_rule(_flip_prim)


def flip(x, /, *, axis=None) -> Tensor:
    """``x`` with the order of elements reversed along ``axis`` (None: all axes); a view."""
    _check_tensor("flip", x)
    axes = normalize_axes("flip", axis, x.ndim)
    return apply1(_flip_prim, x, {"axis": axes})


def _neg_shift(shift):
    return tuple(-s for s in shift) if isinstance(shift, tuple) else -shift


_roll_prim = Primitive(
    "roll", lambda B, x, *, shift, axis: B.roll(x, shift, axis=axis),
    vjp=lambda ns, needs, g, out, x, *, shift, axis: (ns.roll(g, _neg_shift(shift), axis=axis),),
    jvp=linear_jvp(lambda ns, t, *, shift, axis: ns.roll(t, shift, axis=axis)),
    saves_inputs=False, saves_output=False)
_roll_prim.batch = _vb.axis_rule(_roll_prim, flatten_none=True)


def roll(x, /, shift, *, axis=None) -> Tensor:
    """``x`` with elements shifted cyclically by ``shift`` along ``axis`` (None: as if
    flattened)."""
    return apply1(_roll_prim, x, _memo_params("roll", x, (shift, axis), _roll_params))


def _roll_params(shape, arg) -> dict:
    """``roll``'s checked params for a tensor of ``shape``."""
    shift, axis = arg
    if isinstance(shift, (tuple, list)):
        try:
            shift = tuple(operator.index(s) for s in shift)
        except TypeError:
            raise TypeError(f"roll: shift must be an int or a tuple of ints, got {shift!r}") from None
    else:
        try:
            shift = operator.index(shift)
        except TypeError:
            raise TypeError(f"roll: shift must be an int or a tuple of ints, got {shift!r}") from None
    if axis is not None:
        axis = normalize_axes("roll", axis, len(shape), allow_duplicates=True)
        if isinstance(shift, tuple):
            if len(shift) != len(axis):
                raise ValueError(f"roll: shift {shift} and axis {axis} must have the same length")
        else:
            shift = (shift,) * len(axis)
    elif isinstance(shift, tuple):
        raise ValueError(f"roll: a tuple shift {shift} needs a tuple axis of the same length")
    return {"shift": shift, "axis": axis}


# -- repeat and tile ---------------------------------------------------------------------
def _repeats_storage(repeats):
    return repeats._data if isinstance(repeats, Tensor) else repeats


def _repeat_fwd(B, x, *, repeats, axis, n):
    return B.repeat(x, _repeats_storage(repeats), axis=axis)


def _repeat_sum_fwd(B, g, *, repeats, axis, n):
    """The adjoint of repeat: sum each group of repeated elements."""
    shape = tuple(g.shape)
    if not isinstance(repeats, Tensor):
        g = B.reshape(g, shape[:axis] + (n, repeats) + shape[axis + 1:])
        return B.sum(g, axis=axis + 1)
    idx = B.repeat(B.arange(n, dtype=B.native_dtype(_dtypes.int64), device=B.native_device),
                   repeats._data)
    zeros = B.zeros(shape[:axis] + (n,) + shape[axis + 1:], dtype=g.dtype, device=B.native_device)
    return B.scatter_add(zeros, idx, g, axis)


# Each is the other's adjoint: on tensors a VJP applies the other primitive (so that it is
# recorded); on storage it runs the other's forward (``repeats`` may be a tensor, and the
# namespace has no scatter-add).
_repeat_prim = Primitive(
    "repeat", _repeat_fwd,
    vjp=lambda ns, needs, g, out, x, **p: (apply1(_repeat_sum_prim, g, p),),
    vjp_storage=lambda B, needs, g, out, x, **p: (_repeat_sum_fwd(B, g, **p),),
    jvp=linear_jvp(lambda ns, t, **p: apply1(_repeat_prim, t, p)),
    saves_inputs=False, saves_output=False)
_repeat_prim.batch = _vb.repeat_rule(_repeat_prim)
_repeat_sum_prim = Primitive(
    "repeat_backward", _repeat_sum_fwd,
    vjp=lambda ns, needs, g, out, x, **p: (apply1(_repeat_prim, g, p),),
    vjp_storage=lambda B, needs, g, out, x, **p: (_repeat_fwd(B, g, **p),),
    jvp=linear_jvp(lambda ns, t, **p: apply1(_repeat_sum_prim, t, p)),
    saves_inputs=False, saves_output=False)
_repeat_sum_prim.batch = _vb.repeat_rule(_repeat_sum_prim)


def repeat(x, repeats, /, *, axis=None) -> Tensor:
    """Repeat each element of ``x`` ``repeats`` times along ``axis`` (None: flattened
    first).  ``repeats``: an int, or a 1-D integer tensor of size 1 or ``x.shape[axis]``."""
    _check_tensor("repeat", x)
    if axis is None:
        x = reshape(x, (-1,))
        axis = 0
    else:
        axis = normalize_axis("repeat", axis, x.ndim)
    n = x.shape[axis]
    if isinstance(repeats, Tensor):
        if repeats._device is not x._device:
            raise ValueError(f"repeat: x is on device '{x._device}' but repeats is on "
                             f"'{repeats._device}'")
        if repeats.dtype.kind not in "iu":
            raise TypeError(f"repeat: repeats must have an integer dtype, got {repeats.dtype}")
        if repeats.ndim > 1 or repeats.size not in (1, n):
            raise ValueError(f"repeat: repeats of shape {repeats.shape} don't match axis {axis} "
                             f"of size {n}; expected a 1-D tensor of size 1 or {n}")
        if repeats.dtype == _dtypes.uint64:
            repeats = cast(repeats, _dtypes.int64, func="repeat")
        if repeats.ndim == 0 or repeats.size == 1:
            repeats = int(reshape(repeats, ()))
    elif isinstance(repeats, bool) or not isinstance(repeats, int):
        try:
            repeats = operator.index(repeats)
        except TypeError:
            raise TypeError(f"repeat: repeats must be an int or an integer tensor, got "
                            f"{type(repeats).__name__}") from None
    if isinstance(repeats, int) and repeats < 0:
        raise ValueError(f"repeat: repeats must be non-negative, got {repeats}")
    try:
        return apply1(_repeat_prim, x, {"repeats": repeats, "axis": axis, "n": n})
    except ValueError as e:
        raise ValueError(f"repeat: invalid repeats: {e}") from None


def _tile_vjp(ns, needs, g, out, x, *, reps, src):
    d = len(reps)
    padded = (1,) * (d - len(src)) + tuple(src)
    inter = []
    for r, s in zip(reps, padded):
        inter += [r, s]
    g = ns.sum(ns.reshape(g, tuple(inter)), axis=tuple(range(0, 2 * d, 2)))
    return (ns.reshape(g, src),)


_tile_prim = Primitive(
    "tile", lambda B, x, *, reps, src: B.tile(x, reps),
    vjp=_tile_vjp,
    jvp=linear_jvp(lambda ns, t, *, reps, src: apply1(_tile_prim, t, {"reps": reps, "src": src})),
    saves_inputs=False, saves_output=False)
_tile_prim.batch = _vb.tile_rule(_tile_prim)


def tile(x, repetitions, /) -> Tensor:
    """``x`` repeated ``repetitions[i]`` times along each axis ``i`` (shorter tuples are
    padded with ones on the left; longer ones add leading axes)."""
    _check_tensor("tile", x)
    reps = _shape_of("tile", repetitions)
    for r in reps:
        if r < 0:
            raise ValueError(f"tile: repetitions must be non-negative, got {reps}")
    src = x.shape
    reps = (1,) * (len(src) - len(reps)) + reps
    return apply1(_tile_prim, x, {"reps": reps, "src": src})

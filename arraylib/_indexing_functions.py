"""Indexing (spec chapter "Indexing Functions"): ``take``, ``take_along_axis``, and the
tensor's ``__getitem__``/``__setitem__``.

Every key is first normalized against the tensor's shape into a full-length tuple of
ints (range-checked), canonical slices (in bounds, as array-api-strict wants them),
``None`` and index arrays in the tensor's own storage.  Keys with only ints, slices
and None ("basic" keys) run natively and give views; keys with integer or boolean
arrays ("advanced" keys, NumPy semantics: arrays broadcast together, mixed with slices
or ``...``) go through the backend's ``getitem``/``setitem``/``index_add`` kernels, so
they behave the same on every device.

Derivatives: indexing is linear.  The VJP of ``x[key]`` scatters the cotangent into
zeros of ``x``'s shape (accumulating, so repeated integer indices add up); the VJP of
that scatter is indexing again, so derivatives of every order exist.  ``x[key] = v``
is recorded as the out-of-place primitive ``index_put`` (gradient ``g`` with
``g[key] = 0`` for the old ``x``, ``g[key]`` for ``v``) whose result ``x`` adopts.
Each VJP is the adjoint primitive: applied (so recorded) on tensors, its forward run
directly on storage in a plain backward (the namespace has no scatter).
"""
from __future__ import annotations

import operator

from ._core import _batching as _vb
from . import _dtypes
from ._core._cast import cast
from ._core._forward import tangent_of
from ._core._grad_mode import anywhere, state
from ._core._graph import view_info
from ._core._inplace import adopt_identity, bump_version, check_inplace_allowed, rebase_view
from ._core._primitive import Primitive, apply1, apply2, finish, linear_jvp, sync_view
from ._core._promotion import in_range, is_python_scalar
from ._core._tensor import Tensor, _new
from ._creation_functions import asarray
from ._manipulation_functions import view_of as _view_of
from ._validation import normalize_axis

__all__ = ["take", "take_along_axis"]

_INTEGER_IDS = frozenset(id(d) for d in _dtypes.integer_dtypes)  # storage dtypes (NumPy's)
_GET = "Tensor.__getitem__"
_SET = "Tensor.__setitem__"
_FULL = slice(None)


# -- keys ----------------------------------------------------------------------------
def _canonical_slice(s: slice, n: int) -> slice:
    """``s`` with bounds inside ``[0, n]`` (same elements), None where possible."""
    if s.start is None and s.stop is None:
        if s.step is not None and operator.index(s.step) == 0:
            raise ValueError("slice step cannot be zero")
        return s
    start, stop, step = s.indices(n)
    if step > 0:
        return slice(start, stop, step) if start < stop else slice(0, 0, 1)
    if start <= stop:
        return slice(0, 0, 1)
    return slice(start, None if stop < 0 else stop, step)


def _array_index(x: Tensor, k, what: str):
    """(storage, dims consumed) for an index that is an array-like."""
    if not isinstance(k, Tensor):
        try:
            k = asarray(k, device=x._device)
        except Exception as e:  # ragged lists, unsupported objects
            raise IndexError(f"{what}: invalid index {k!r} ({e})") from None
        if k.size == 0 and k.dtype.kind == "f":  # [] -> empty integer index
            return x._device.backend.asarray([], dtype=_dtypes.default_index), 1
    elif k._device is not x._device:
        raise ValueError(f"{what}: the index is on device '{k._device}' but the tensor is on "
                         f"device '{x._device}'")
    kind = k.dtype.kind
    if kind == "b":
        return k._data, k.ndim
    if kind in "iu":
        return k._data, 1
    raise IndexError(f"{what}: only integers, slices (':'), ellipsis ('...'), None and integer "
                     f"or boolean tensors are valid indices; got a tensor of dtype {k.dtype}")


def _normalize(x: Tensor, key, what: str):
    """(full-length key tuple, whether it holds index arrays) for ``x[key]``."""
    if key.__class__ is not tuple:
        key = (key,)
    shape = x._data.shape
    ndim = len(shape)
    items, used_by = [], []
    used, ellipsis, advanced = 0, -1, False
    for k in key:
        c = k.__class__
        if c is int or c is slice:
            u = 1
        elif k is None:
            u = 0
        elif k is Ellipsis:
            if ellipsis >= 0:
                raise IndexError(f"{what}: an index can only have a single ellipsis ('...')")
            ellipsis, u = len(items), 0
        elif c is bool:
            k, u = x._device.backend.asarray(k, dtype=_dtypes.bool), 0
            advanced = True
        elif isinstance(k, Tensor) or c is list or c is tuple:
            k, u = _array_index(x, k, what)
            advanced = True
        else:
            try:
                k, u = operator.index(k), 1
            except TypeError:
                if not (hasattr(k, "__array__") or hasattr(k, "__dlpack__")):
                    raise IndexError(
                        f"{what}: only integers, slices (':'), ellipsis ('...'), None and integer "
                        f"or boolean tensors are valid indices; got {type(k).__name__}") from None
                k, u = _array_index(x, k, what)
                advanced = True
        items.append(k)
        used_by.append(u)
        used += u
    if used > ndim:
        raise IndexError(f"{what}: too many indices for a tensor of dimension {ndim}: "
                         f"{used} dimensions were indexed")
    out = []
    d = 0
    for k, u in zip(items, used_by):
        c = k.__class__
        if c is int:
            n = shape[d]
            if not -n <= k < n:
                raise IndexError(f"{what}: index {k} is out of bounds for axis {d} with size {n}")
            out.append(k)
        elif c is slice:
            try:
                out.append(_canonical_slice(k, shape[d]))
            except (TypeError, ValueError) as e:
                raise (IndexError if isinstance(e, TypeError) else ValueError)(
                    f"{what}: invalid slice {k!r} for axis {d}: {e}") from None
        elif k is Ellipsis:
            fill = ndim - used
            out.extend([_FULL] * fill)
            d += fill
            continue
        else:
            out.append(k)
        d += u
    if not advanced:
        out.append(Ellipsis)  # all-int keys then give 0-d views, not scalars
    return tuple(out), advanced


def _write(B, dst, key, advanced, src):
    """``dst[key] = src`` in place (``src`` broadcasts)."""
    if advanced or None in key:  # (no arrays in a basic key, so ``in`` is safe)
        B.setitem(dst, key, src)
    else:
        B.assign(dst, key, src)


# -- primitives ----------------------------------------------------------------------
def _getitem_fwd(B, x, *, key, adv, shape):
    return B.getitem(x, key) if adv else x[key]


def _scatter_fwd(B, g, *, key, adv, shape):
    z = B.zeros(shape, dtype=g.dtype, device=B.native_device)
    if adv:
        return B.index_add(z, key, g)
    _write(B, z, key, False, g)
    return z


def _getitem_primitive(view):
    return Primitive(
        "getitem", _getitem_fwd,
        vjp=lambda ns, needs, g, out, x, **p: (apply1(_scatter, g, p),),
        vjp_storage=lambda B, needs, g, out, x, **p: (_scatter_fwd(B, g, **p),),
        jvp=linear_jvp(lambda ns, t, *, key, adv, shape: _index(t, key, adv, shape)),
        saves_inputs=False, saves_output=False, view=view)


_getitem_view = _getitem_primitive(True)
_getitem_view.batch = _vb.getitem_rule(_getitem_view)
_getitem_adv = _getitem_primitive(False)
_getitem_adv.batch = _vb.getitem_rule(_getitem_adv)
_scatter = Primitive(
    "index_scatter", _scatter_fwd,
    vjp=lambda ns, needs, g, out, x, *, key, adv, shape: (_index(g, key, adv, shape),),
    vjp_storage=lambda B, needs, g, out, x, **p: (_getitem_fwd(B, g, **p),),
    jvp=linear_jvp(lambda ns, t, **p: apply1(_scatter, t, p)),
    saves_inputs=False, saves_output=False)
_scatter.batch = _vb.scatter_rule(_scatter)


def _index(x: Tensor, key, adv, shape) -> Tensor:
    return apply1(_getitem_adv if adv else _getitem_view, x,
                  {"key": key, "adv": adv, "shape": shape})


def _put_fwd(B, x, v, *, key, adv, vshape):
    out = B.asarray(x, copy=True)
    _write(B, out, key, adv, v)
    return out


def _put_vjp(ns, needs, g, out, x, v, *, key, adv, vshape):
    gx = gv = None
    if needs[0]:
        zero = ns.zeros((), dtype=g.dtype, device=g.device)
        gx = apply2(_index_put, g, zero, {"key": key, "adv": adv, "vshape": ()})
    if needs[1]:
        gv = _index(g, key, adv, g.shape)
        if adv:  # repeated indices: only the write that survived gets the gradient
            B = g._device.backend
            gv = gv * _new(_surviving_writes(B, g._data, key, gv.shape), g._device)
        extra = len(vshape) - gv.ndim
        if extra > 0:  # NumPy lets the value carry extra leading size-1 dimensions
            gv = _index(gv, (None,) * extra + (Ellipsis,), False, gv.shape)
    return gx, gv


def _put_vjp_storage(B, needs, g, out, x, v, *, key, adv, vshape):
    gx = gv = None
    if needs[0]:
        zero = B.zeros((), dtype=g.dtype, device=B.native_device)
        gx = _put_fwd(B, g, zero, key=key, adv=adv, vshape=())
    if needs[1]:
        gv = _getitem_fwd(B, g, key=key, adv=adv, shape=g.shape)
        if adv:
            gv = gv * _surviving_writes(B, g, key, gv.shape)
        extra = len(vshape) - gv.ndim
        if extra > 0:
            gv = B.reshape(gv, (1,) * extra + tuple(gv.shape))
    return gx, gv


def _surviving_writes(B, g, key, shape):
    """Storage of ``g``'s dtype: 1 where an element of ``x[key] = values`` (``values`` of
    ``shape``) is the one that ``x`` keeps, 0 where a later write to the same place
    overwrote it."""
    it = B.native_dtype(_dtypes.default_index)
    n = 1
    for s in shape:
        n *= s
    ids = B.reshape(B.arange(n, dtype=it, device=B.native_device), shape)
    buf = B.full(tuple(g.shape), -1, dtype=it, device=B.native_device)
    B.setitem(buf, key, ids)
    return B.astype(B.getitem(buf, key) == ids, g.dtype)


def _put_jvp(ns, tangents, out, x, v, *, key, adv, vshape):
    tx, tv = tangents
    if tx is None:
        tx = ns.zeros_like(out)
    if tv is None:
        tv = ns.zeros((), dtype=out.dtype, device=out.device)
    return apply2(_index_put, tx, tv, {"key": key, "adv": adv, "vshape": tuple(tv.shape)})


_index_put = Primitive("index_put", _put_fwd, _put_vjp, _put_jvp, vjp_storage=_put_vjp_storage,
                       saves_inputs=False, saves_output=False)
_index_put.batch = _vb.index_put_rule(_index_put, {False: _getitem_view, True: _getitem_adv})


# -- the tensor's operators ----------------------------------------------------------
def _key(x: Tensor, key, what: str):
    """``_normalize`` with fast paths for basic keys (ints, slices, None, one ``...``);
    anything else, and every error, goes through ``_normalize``.  Gives the same result."""
    c = key.__class__
    data = x._data
    if c is Tensor and data.ndim:  # one integer index tensor: _normalize's result at once
        k = key._data
        if key._device is x._device and id(k.dtype) in _INTEGER_IDS:
            return (k,), True
    elif c is int and data.ndim:
        n = data.shape[0]
        if not -n <= key < n:
            raise IndexError(f"{what}: index {key} is out of bounds for axis 0 with size {n}")
        return (key, Ellipsis), False
    if c is slice and data.ndim:
        try:
            return (_canonical_slice(key, data.shape[0]), Ellipsis), False
        except (TypeError, ValueError):
            pass
    elif c is tuple:  # one pass over a basic key
        shape = data.shape
        for k in key:  # a key of ints, None and ... only: hashable, its result memoized
            if k is not None and k is not Ellipsis and k.__class__ is not int:
                break
        else:
            mk = (shape, key)
            hit = _BASIC_KEYS.get(mk)
            if hit is not None:
                return hit, False
            r = _key_tuple(key, shape)
            if r is not None:
                if len(_BASIC_KEYS) >= 1024:
                    _BASIC_KEYS.clear()
                _BASIC_KEYS[mk] = r
                return r, False
            return _normalize(x, key, what)
        r = _key_tuple(key, shape)
        if r is not None:
            return r, False
    elif key is None:
        return (None, Ellipsis), False
    return _normalize(x, key, what)


_BASIC_KEYS: dict = {}  # (shape, key of ints, None and ...) -> the normalized key


def _key_tuple(key, shape):
    """The normalized basic key for a tuple ``key`` (None: not a basic key, or an error:
    ``_normalize`` says which)."""
    out = []
    d = 0
    seen = False
    try:
        for i, k in enumerate(key):
            kc = k.__class__
            if kc is int:
                n = shape[d]
                if not -n <= k < n:
                    return None
                out.append(k)
                d += 1
            elif kc is slice:
                out.append(_canonical_slice(k, shape[d]))
                d += 1
            elif k is None:
                out.append(None)
            elif k is Ellipsis and not seen:
                seen = True
                rest = 0
                for r in key[i + 1:]:
                    if r is not None:
                        rest += 1
                fill = len(shape) - d - rest
                if fill < 0:
                    return None
                out.extend([_FULL] * fill)
                d += fill
            else:
                return None
    except (TypeError, ValueError, IndexError):
        return None
    out.append(Ellipsis)
    return tuple(out)


def _getitem(self, key, /):
    data = self._data
    nkey, adv = _key(self, key, _GET)
    if not adv:
        grad = not anywhere.no_grad or state.grad_enabled
        if (grad and self._requires_grad) or (anywhere.dual and state.dual_level):
            return apply1(_getitem_view, self, {"key": nkey, "adv": False, "shape": data.shape})
        # A basic key always ends in Ellipsis, so storages return arrays (never scalars);
        # the result is a view: in-place changes are seen by both.
        if grad:
            return _view_of(self, data[nkey], _getitem_view,
                            {"key": nkey, "adv": False, "shape": data.shape})
        return _view_of(self, data[nkey], None, None)
    return _advanced(_GET, self, nkey)


def _wider_kind(value, dt) -> bool:
    """Whether the Python scalar ``value`` is of a wider kind than ``dt`` (bool < integer <
    real floating < complex): whether it would promote an array of ``dt`` (``_dtypes``)."""
    return _dtypes.scalar_dtype_for(value, dt) != dt


def _value_operand(x: Tensor, value) -> Tensor:
    """``value`` as a tensor of ``x``'s dtype on ``x``'s device (NumPy's same-kind rule: the
    value may not be of a wider kind than ``x``)."""
    dt = x.dtype
    if isinstance(value, Tensor):
        if value._device is not x._device:
            raise ValueError(f"{_SET}: the value is on device '{value._device}' but the tensor "
                             f"is on device '{x._device}'")
    elif is_python_scalar(value):
        t = type(value)
        if t is not float and t is not int and t is not bool and t is not complex:
            value = value.item()
            t = type(value)
        if _wider_kind(value, dt):
            raise TypeError(f"{_SET}: can't store a Python {t.__name__} in a tensor of dtype {dt}")
        if t is int and dt.kind in "iu":
            in_range(_SET, value, dt)
        return _new(x._device._backend.asarray(value, dtype=dt), x._device)
    else:
        try:
            value = asarray(value, device=x._device)
        except Exception as e:
            raise TypeError(f"{_SET}: can't use a {type(value).__name__} as the value ({e})") \
                from None
    vd = value.dtype
    if vd != dt:
        if _wider_kind(vd.type(0).item(), dt):  # a zero of the value's kind stands for it
            raise TypeError(f"{_SET}: can't store values of dtype {vd} in a tensor of dtype {dt}")
        value = cast(value, dt, func=_SET)
    return value


def _setitem(self, key, value, /):
    nkey, adv = _key(self, key, _SET)
    if value.__class__ is _vb.BatchedTensor:  # vmap: a batched value into an unbatched tensor
        _vb.refuse_unbatched_write(self, value)
    v = _value_operand(self, value)
    base = self._base
    if base is not None:
        sync_view(self)  # its grad_fn and tangent from its base's newest
    track = state.grad_enabled and (self._requires_grad or v._requires_grad)
    if track:
        check_inplace_allowed(self, _SET)
    dual = state.dual_level and (tangent_of(self) is not None or tangent_of(v) is not None)
    rebase = base is not None and view_info(self) is not None and (
        track or dual or state.grad_enabled and base._requires_grad)
    try:
        _write(self._device.backend, self._data, nkey, adv, v._data)
    except (IndexError, ValueError) as e:
        raise type(e)(f"{_SET}: {e}") from None
    if not (track or dual or rebase):
        bump_version(self)
        return
    out = _new(self._data, self._device)
    finish(_index_put, (self, v), out, {"key": nkey, "adv": adv, "vshape": v.shape})
    if rebase:  # a view: the write is recorded on its base (which the view then follows)
        rebase_view(self, out)
    else:
        adopt_identity(self, out)
        bump_version(self)  # after adopting: views of self rebuild from the new history


# -- take, take_along_axis -------------------------------------------------------------
def _check_indices(func: str, x, indices):
    if not isinstance(x, Tensor):
        raise TypeError(f"{func}: expected a Tensor, got {type(x).__name__}")
    if not isinstance(indices, Tensor):
        raise TypeError(f"{func}: indices must be a Tensor, got {type(indices).__name__}")
    if indices._device is not x._device:
        raise ValueError(f"{func}: x is on device '{x._device}' but indices are on device "
                         f"'{indices._device}'")
    if indices.dtype.kind not in "iu":
        raise TypeError(f"{func}: indices must have an integer dtype, got {indices.dtype}")


def _run_advanced(func: str, x: Tensor, key) -> Tensor:
    try:
        return apply1(_getitem_adv, x, {"key": key, "adv": True, "shape": x._data.shape})
    except IndexError as e:
        raise IndexError(f"{func}: {e}") from None


_TAKE_CHECKED: dict = {}  # (x shape, indices shape, indices dtype id, axis) -> key prefix


def take(x, indices, /, *, axis=None):
    """Elements of ``x`` at integer ``indices`` along ``axis`` (optional for 1-D ``x``);
    negative indices count from the end.  The result has ``x``'s shape with ``axis``
    replaced by ``indices``' shape."""
    if x.__class__ is Tensor and indices.__class__ is Tensor and x._device is indices._device \
            and (axis is None or axis.__class__ is int):  # memoized checks
        idx = indices._data
        ck = (x._data.shape, idx.shape, id(idx.dtype), axis)  # (dtypes are interned)
        lead = _TAKE_CHECKED.get(ck)
        if lead is None:
            lead = _take_lead(x, indices, axis)
            if len(_TAKE_CHECKED) >= 1024:
                _TAKE_CHECKED.clear()
            _TAKE_CHECKED[ck] = lead
        return _advanced("take", x, lead + (idx, Ellipsis))
    a = _take_axis(x, indices, axis)
    if indices.__class__ is _vb.BatchedTensor:  # vmap: batched indices
        return _vb.take(x, indices, a)
    return _run_advanced("take", x, (_FULL,) * a + (indices._data, Ellipsis))


def _take_lead(x, indices, axis) -> tuple:
    """The full slices before ``take``'s index in its key, every argument checked."""
    return (_FULL,) * _take_axis(x, indices, axis)


def _advanced(func: str, x: Tensor, key) -> Tensor:
    """``x[key]`` for an advanced ``key`` of storage arrays: one storage call when
    nothing is recorded; IndexError naming ``func``."""
    if x._requires_grad or anywhere.dual or x.__class__ is not Tensor:
        return _run_advanced(func, x, key)
    dev = x._device
    B = dev._backend
    try:
        r = B.getitem(x._data, key)
    except IndexError as e:
        raise IndexError(f"{func}: {e}") from None
    return _new(r if r.__class__ is B.array_type else B.ensure_array(r), dev)


def _take_axis(x, indices, axis) -> int:
    """``take``'s checked, non-negative axis."""
    _check_indices("take", x, indices)
    if axis is None:
        if x.ndim != 1:
            raise ValueError(f"take: axis is required for a tensor of dimension {x.ndim} "
                             f"(shape {x.shape})")
        axis = 0
    return normalize_axis("take", axis, x.ndim)


def take_along_axis(x, indices, /, *, axis=-1):
    """Pick values from ``x`` at ``indices`` along ``axis``; ``indices`` has ``x``'s number
    of dimensions and broadcasts with ``x`` along the other axes."""
    _check_indices("take_along_axis", x, indices)
    if x.ndim == 0 or indices.ndim != x.ndim:
        raise ValueError(f"take_along_axis: x (shape {x.shape}) and indices (shape "
                         f"{indices.shape}) must have the same number of dimensions, at least 1")
    a = normalize_axis("take_along_axis", axis, x.ndim)
    if x.__class__ is _vb.BatchedTensor or indices.__class__ is _vb.BatchedTensor:  # vmap
        return _vb.take_along_axis(x, indices, a)
    key = along_key(x._device.backend, x.shape, indices.shape, a, indices._data)
    return _run_advanced("take_along_axis", x, key)


def along_key(B, shape, ishape, a, idx):
    """The advanced-index key that takes storage ``idx`` (shape ``ishape``) along axis
    ``a`` of an array of ``shape`` (``take_along_axis``'s), the other axes' aranges
    checked and cached."""
    ckey = (id(B), shape, ishape, a)
    grid = _ALONG_GRIDS.get(ckey)
    if grid is None:
        grid = _along_grid(B, shape, ishape, a)
        if len(_ALONG_GRIDS) >= 256:
            _ALONG_GRIDS.clear()
        _ALONG_GRIDS[ckey] = grid
    return grid[:a] + (idx,) + grid[a + 1:]


_ALONG_GRIDS: dict = {}  # (backend id, x shape, indices shape, axis) -> index arrays


def _along_grid(B, shape, ishape, a) -> tuple:
    """The checked broadcast ``arange`` index of each axis but ``a`` (None there), for
    ``take_along_axis`` (the arrays are shared: never written)."""
    ndim = len(shape)
    key = []
    for d, (n, m) in enumerate(zip(shape, ishape)):
        if d == a:
            key.append(None)
            continue
        if n != m and n != 1 and m != 1:
            raise ValueError(f"take_along_axis: x (shape {shape}) and indices (shape "
                             f"{ishape}) don't broadcast along axis {d}")
        r = B.arange(n, dtype=B.native_dtype(_dtypes.default_index), device=B.native_device)
        key.append(B.reshape(r, (1,) * d + (n,) + (1,) * (ndim - d - 1)))
    return tuple(key)

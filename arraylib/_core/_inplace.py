"""In-place updates: ``x += y``, ``x[key] = v``.

An in-place update writes the new values into the tensor's storage (so views see
them), bumps its version counter, and, when recording, makes the tensor the
output of the new node.  Nodes recorded earlier keep their edges, so their
gradients still reach the tensor's old producer; a node that saved the tensor
itself notices the version bump and refuses to run backward.
"""
from __future__ import annotations

import operator

from . import _batching as _vb
from .. import _dtypes
from ._forward import tangent_of
from ._graph import view_info
from ._grad_mode import anywhere, state
from ._primitive import Primitive, apply2, finish, sync_view, view_chain
from ._tensor import Tensor, _new
from ._promotion import integer_range

# Element-wise functions whose forward is the backend's own operator, so that
# ``x op= y`` may run as the storage's in-place operator (the standard has them).
_STORAGE_INPLACE = {"add": operator.iadd, "subtract": operator.isub,
                    "multiply": operator.imul, "divide": operator.itruediv}
# NumPy's dtype objects (NumPy and CuPy storage) by identity: "f" for floating-point
# (real or complex), "i" for integers; other storage (array-api-strict) takes no fast path.
_KIND = {**{id(d): "i" for d in _dtypes.integer_dtypes},
         **{id(d): "f" for d in _dtypes.floating_dtypes}}
_FLOAT_IDS = frozenset(k for k, v in _KIND.items() if v == "f")


def check_inplace_allowed(x: Tensor, what: str) -> None:
    """Raise for in-place changes that would corrupt a gradient."""
    if not state.grad_enabled:
        return
    if x._requires_grad and x._grad_fn is None:
        raise RuntimeError(f"{what}: a leaf tensor that requires grad is being used in an in-place "
                           "operation; wrap it in 'with arraylib.no_grad():' or use an "
                           "out-of-place operation")
    base = x._base
    if base is not None:
        if base._requires_grad and base._grad_fn is None:
            raise RuntimeError(f"{what}: a view of a leaf tensor that requires grad is being "
                               "used in an in-place operation; wrap it in 'with "
                               "arraylib.no_grad():' or use an out-of-place operation")
        if view_info(x) is None and (base._requires_grad or x._requires_grad):
            raise RuntimeError(f"{what}: in-place operation on this view of a tensor that "
                               "takes part in autograd is not supported; use .clone() on the "
                               "view first")


def operand_for_inplace(x: Tensor) -> Tensor:
    """``x`` itself, or a snapshot of it when its old value may be saved for backward."""
    if x._base is not None:
        sync_view(x)
    if state.grad_enabled and x._grad_fn is not None:
        snap = _new(x._device.backend.asarray(x._data, copy=True), x._device)
        snap._grad_fn, snap._oi, snap._requires_grad = x._grad_fn, x._oi, True
        tt = getattr(x, "_tangent", None)
        if tt is not None:
            snap._tangent = tt
        return snap
    return x


def inplace_update(x: Tensor, result: Tensor, what: str) -> Tensor:
    """Write ``result`` into ``x``'s storage and give ``x`` its autograd identity (for a
    view: record the write on its base, see ``rebase_view``)."""
    if x.__class__ is _vb.BatchedTensor or result.__class__ is _vb.BatchedTensor:
        return _vb.inplace_update(x, result, what)  # vmap: into the batched value
    check_inplace_allowed(x, what)
    if result.dtype != x.dtype:
        raise TypeError(f"{what}: the result has dtype {result.dtype}, which can't be stored in "
                        f"a tensor of dtype {x.dtype} in place")
    if result.shape != x.shape:
        raise ValueError(f"{what}: the result has shape {result.shape}, which can't be stored in a "
                         f"tensor of shape {x.shape} in place")
    if x._base is not None and view_info(x) is not None and _tracked(x._base, result):
        _check_no_overlap(x, what)
        x._device.backend.assign(x._data, ..., result._data)
        rebase_view(x, result)
        return x
    x._device.backend.assign(x._data, ..., result._data)
    bump_version(x)
    adopt_identity(x, result)
    return x


def _tracked(root: Tensor, result: Tensor) -> bool:
    """Whether writing ``result`` into a view of ``root`` must be recorded on ``root``
    (reverse mode) or pushed forward (forward mode)."""
    if state.grad_enabled and (root._requires_grad or result._requires_grad):
        return True
    return bool(state.dual_level) and (tangent_of(root) is not None
                                       or tangent_of(result) is not None)


# -- in-place writes into views (PyTorch's CopySlices) --------------------------------
def _copy_slices_fwd(B, base, v, *, key, flat, vshape):
    """``base`` with the view's elements (at ``key``: one index array per axis of
    ``base``) replaced by ``v`` (broadcast to the view's shape ``vshape``)."""
    v = B.broadcast_to(v, vshape)
    if not key:  # a 0-d base: the view is its one element
        return B.reshape(B.asarray(v, copy=True), ())
    out = B.asarray(base, copy=True)
    B.setitem(out, key, v)
    return out


def _gather(ns, g, flat, vshape):
    return ns.reshape(ns.take(ns.reshape(g, (-1,)), ns.reshape(flat, (-1,)), axis=0), vshape)


def _copy_slices_vjp(ns, needs, g, out, base, v, **p):
    gb = gv = None
    if needs[0]:  # the base's cotangent, with the overwritten region zeroed
        zero = ns.zeros((), dtype=g.dtype, device=g.device)
        gb = apply2(_copy_slices, g, zero, p)
    if needs[1]:
        gv = _gather(ns, g, _new(p["flat"], g._device), p["vshape"])
    return gb, gv


def _copy_slices_vjp_storage(B, needs, g, out, base, v, **p):
    gb = gv = None
    if needs[0]:
        gb = _copy_slices_fwd(B, g, B.zeros((), dtype=g.dtype, device=B.native_device), **p)
    if needs[1]:
        gv = _gather(B, g, p["flat"], p["vshape"])
    return gb, gv


def _copy_slices_jvp(ns, tangents, out, base, v, **p):
    tb, tv = tangents
    if tb is None:
        tb = ns.zeros_like(out)
    if tv is None:
        tv = ns.zeros((), dtype=out.dtype, device=out.device)
    return apply2(_copy_slices, tb, tv, p)


_copy_slices = Primitive("copy_slices", _copy_slices_fwd, _copy_slices_vjp, _copy_slices_jvp,
                         vjp_storage=_copy_slices_vjp_storage, saves_inputs=False,
                         saves_output=False)
_copy_slices.batch = _vb.unsupported("an in-place write into a view of a tensor", "write into the tensor itself, or use an out-of-place operation")

# view primitives whose elements may share memory locations
_MAY_OVERLAP = frozenset({"broadcast_to", "sliding_windows"})


def _positions(view: Tensor):
    """Storage of ``view``'s shape: the flat position in its root of each element."""
    root = view._base
    B = root._device._backend
    shape = tuple(root._data.shape)
    n = 1
    for s in shape:
        n *= s
    a = B.reshape(B.arange(n, dtype=B.native_dtype(_dtypes.default_index),
                           device=B.native_device), shape)
    for prim, params, k in view_chain(view_info(view)):
        a = prim.fwd(B, a, **params)
        if k is not None:
            a = a[k]
    return B.ensure_array(a)


def _check_no_overlap(view: Tensor, what: str) -> None:
    if any(prim.name in _MAY_OVERLAP for prim, _, _ in view_chain(view_info(view))):
        B = view._device._backend
        flat = _positions(view)
        if B.unique_values(B.reshape(flat, (-1,))).shape[0] != view.size:
            raise RuntimeError(f"{what}: unsupported operation: more than one element of the "
                               f"written-to view (shape {view.shape}) refers to a single "
                               "memory location; use .clone() before the in-place operation")


def rebase_view(view: Tensor, result: Tensor) -> None:
    """After ``result``'s values were written into ``view``'s storage: record on the root
    base "the root with the view's region replaced by ``result``" (one ``copy_slices``
    node, also pushing tangents), make the root adopt it, bump the version counter (every
    view of the root then rebuilds its history from the root's when next used) and
    rebuild ``view``'s at once."""
    root = view._base
    dev = root._device
    flat = _positions(view)
    shape = tuple(root._data.shape)
    key = []
    stride = 1
    for s in reversed(shape):
        key.append(flat // stride % s if stride > 1 else flat % s)
        stride *= s
    key.reverse()
    old = _new(root._data, dev)  # the root's identity before the write (saves nothing)
    if root._grad_fn is not None:
        old._grad_fn, old._oi, old._requires_grad = root._grad_fn, root._oi, True
    elif root._requires_grad:  # (a leaf root is refused earlier while grad mode is on)
        old = root
    tt = getattr(root, "_tangent", None)
    if tt is not None and old is not root:
        old._tangent = tt
    out = _new(root._data, dev)
    finish(_copy_slices, (old, result),
           out, {"key": tuple(key), "flat": flat, "vshape": tuple(result._data.shape)})
    adopt_identity(root, out)
    bump_version(root)
    sync_view(view)


def adopt_identity(x: Tensor, result: Tensor) -> None:
    """Make ``x`` stand for ``result`` in the graph and in forward mode."""
    if result._grad_fn is not None:
        x._grad_fn, x._oi, x._requires_grad = result._grad_fn, result._oi, True
    tt = getattr(result, "_tangent", None)
    if tt is not None or getattr(x, "_tangent", None) is not None:
        x._tangent = tt


def bump_version(x: Tensor) -> None:
    vc = getattr(x, "_vc", None)  # x._version_counter()[0] += 1, inlined
    if vc is None:
        x._vc = [1]
    else:
        vc[0] += 1


def storage_inplace(x: Tensor, name: str, other, alpha=1) -> bool:
    """Try ``x = name(x, alpha * other)`` as an in-place update of ``x``'s storage.

    It applies when nothing is recorded or pushed forward (no grad mode, or no operand
    requires grad; no dual level), ``name`` is an operator the storage updates in place
    with the same result as the primitive's forward, and ``other`` keeps ``x``'s dtype
    and shape: a tensor of the same native dtype, device and shape, or a Python int or
    float next to a floating-point ``x`` (int next to an integer ``x``); ``alpha`` is 1
    or a Python scalar of that kind.  Returns False, having done nothing, when any of
    that does not hold."""
    if anywhere.dual and state.dual_level:
        return False
    return _update_storage(x, name, other, alpha, not anywhere.no_grad or state.grad_enabled)


def storage_inplace_each(xs, name: str, others, alpha=1) -> list:
    """``storage_inplace`` for each ``xs[i]`` with ``others[i]`` (``others`` a list as long
    as ``xs``) or with ``others`` itself (a Python scalar): the indices of the pairs it did
    not update (the caller updates those the general way).

    The modes are read once, and floating-point tensors take a loop of their own: the
    scalar (``others * alpha``, or ``alpha`` next to tensors) becomes 0-d storage of the
    tensor's dtype once per dtype (the value a weak scalar is cast to, so results are
    bit-identical; NumPy's Python-scalar path is slower), and an operand NumPy cannot
    broadcast into ``x`` goes the general way."""
    if anywhere.dual and state.dual_level:
        return list(range(len(xs)))
    recording = not anywhere.no_grad or state.grad_enabled
    tensors = others.__class__ is list or others.__class__ is tuple
    if recording or alpha.__class__ is not float and alpha.__class__ is not int or \
            not tensors and others.__class__ is not float and others.__class__ is not int:
        return [i for i, x in enumerate(xs)
                if not _update_storage(x, name, others[i] if tensors else others, alpha,
                                       recording)]
    iop = _STORAGE_INPLACE[name]
    value = (None if alpha == 1 else alpha) if tensors else others * alpha
    consts: dict = {}  # id(dtype) -> (device, the scalar as 0-d storage), or None: not here
    left = []
    for i, x in enumerate(xs):
        data = x._data
        dt = data.dtype
        dev = x._device
        entry = consts.get(id(dt), _MISSING)
        if entry is _MISSING:
            entry = consts[id(dt)] = _loop_constant(dev, dt, value)
        operand = None
        if entry is not None and entry[0] is dev:
            if not tensors:
                operand = entry[1]
            else:
                o = others[i]
                if (o.__class__ is Tensor or isinstance(o, Tensor)) and o._device is dev:
                    od = o._data
                    if od.dtype is dt:
                        operand = od if value is None else od * entry[1]
        try:
            if operand is None:
                raise ValueError
            iop(data, operand)
        except ValueError:  # not an operand of this loop, or one NumPy cannot broadcast
            if not _update_storage(x, name, others[i] if tensors else others, alpha, recording):
                left.append(i)
            continue
        vc = x._vc  # bump_version, inlined
        if vc is None:
            x._vc = [1]
        else:
            vc[0] += 1
    return left


_MISSING = object()


def storage_updates_allowed() -> bool:
    """Whether in-place updates may go to the storage in this thread now: nothing is
    recorded (no grad mode) and nothing pushed forward (no dual level)."""
    return not (anywhere.dual and state.dual_level) and anywhere.no_grad and \
        not state.grad_enabled


def storage_group_ready(params, grads, states) -> list:
    """For each parameter (value ``params[i]``, gradient ``grads[i]``, optional state
    ``states[i]``), whether its tensors may be updated together on their storage with the
    storage's in-place operators, once ``storage_updates_allowed()``: all floating-point
    of one dtype, shape and device whose backend's in-place operators are safe, none a
    view.  One flag per parameter."""
    flags, safe_dev = [], None  # (the last device whose in-place operators are safe)
    for p, g, b in zip(params, grads, states):
        pd, gd, dev = p._data, g._data, p._device
        dt, shape = pd.dtype, pd.shape
        flags.append(id(dt) in _FLOAT_IDS and p._base is None and g._base is None
                     and gd.dtype is dt and g._device is dev and gd.shape == shape
                     and (dev is safe_dev
                          or dev._backend.inplace_buffers_overlap and (safe_dev := dev) is dev)
                     and (b is None or b._base is None and b._device is dev
                          and (bd := b._data).dtype is dt and bd.shape == shape))
    return flags


def _loop_constant(dev, dt, value):
    """``(dev, value as 0-d storage of dtype dt)`` for ``storage_inplace_each``'s loop, or
    None where the loop does not apply (not floating-point, or a backend whose in-place
    operators race on overlapping buffers)."""
    if id(dt) not in _FLOAT_IDS or not dev._backend.inplace_buffers_overlap:
        return None
    return dev, None if value is None else dev._backend.asarray(value, dtype=dt)


def _update_storage(x: Tensor, name: str, other, alpha, recording) -> bool:
    """``storage_inplace`` once the modes are known (``recording``: a graph may be made)."""
    if recording and (x._requires_grad or x._base is not None and x._base._requires_grad):
        return False
    data = x._data
    kind = _KIND.get(id(data.dtype))  # "f" floating (complex too), "i" integer, else None
    if kind is None or kind == "i" and alpha.__class__ is not int:
        return False
    c = other.__class__
    if c is Tensor or c is not float and c is not int and isinstance(other, Tensor):
        od = other._data
        if od.dtype is not data.dtype or other._device is not x._device \
                or od.shape != data.shape or recording and other._requires_grad:
            return False
        B = x._device._backend
        if not B.inplace_buffers_overlap and B.may_overlap(data, od):
            return False
        operand = od if alpha == 1 else od * alpha
    elif c is float and kind == "f" or c is int and \
            (kind == "f" or name != "divide" and _fits(x, other * alpha)):
        operand = other if alpha == 1 else other * alpha
    else:
        return False
    iop = _STORAGE_INPLACE.get(name)
    if iop is None:
        return False
    iop(data, operand)
    vc = x._vc  # bump_version, inlined
    if vc is None:
        x._vc = [1]
    else:
        vc[0] += 1
    return True


def storage_fill(x: Tensor, value) -> bool:
    """Try ``x.fill_(value)`` on the storage: when nothing is recorded or pushed forward for
    ``x`` (as ``storage_inplace``) and ``value`` is a Python float or int next to a
    floating-point ``x``, or an int that fits an integer ``x``.  False, having done
    nothing, otherwise (the caller takes the general path)."""
    if anywhere.dual and state.dual_level:
        return False
    if (not anywhere.no_grad or state.grad_enabled) and \
            (x._requires_grad or x._base is not None and x._base._requires_grad):
        return False
    data = x._data
    kind = _KIND.get(id(data.dtype))
    c = value.__class__
    if not (kind == "f" and (c is float or c is int) or kind == "i" and c is int
            and _fits(x, value)):
        return False
    try:
        x._device._backend.assign(data, ..., value)
    except ValueError:  # read-only storage (a broadcast view): the general path says so
        return False
    vc = x._vc  # bump_version, inlined
    if vc is None:
        x._vc = [1]
    else:
        vc[0] += 1
    return True


def _fits(x: Tensor, value: int) -> bool:
    lo, hi = integer_range(x.dtype)
    return lo <= value <= hi

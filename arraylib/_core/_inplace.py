"""In-place updates: ``x += y``, ``x[key] = v``.

An in-place update writes the new values into the tensor's storage (so views see
them), bumps its version counter, and, when recording, makes the tensor the
output of the new node.  Nodes recorded earlier keep their edges, so their
gradients still reach the tensor's old producer; a node that saved the tensor
itself notices the version bump and refuses to run backward.
"""
from __future__ import annotations

import operator

from .. import _dtypes
from ._tensor import Tensor, _new
from ._grad_mode import anywhere, state
from ._promotion import integer_range

# Element-wise functions whose forward is the backend's own operator, so that
# ``x op= y`` may run as the storage's in-place operator (the standard has them).
_STORAGE_INPLACE = {"add": operator.iadd, "subtract": operator.isub,
                    "multiply": operator.imul, "divide": operator.itruediv}
# NumPy's dtype objects (NumPy and CuPy storage) by identity: "f" for floating-point
# (real or complex), "i" for integers; other storage (array-api-strict) takes no fast path.
_KIND = {**{id(d): "i" for d in _dtypes.integer_dtypes},
         **{id(d): "f" for d in _dtypes.floating_dtypes}}


def check_inplace_allowed(x: Tensor, what: str) -> None:
    """Raise for in-place changes that would corrupt a gradient."""
    if not state.grad_enabled:
        return
    if x._requires_grad and x._grad_fn is None:
        raise RuntimeError(f"{what}: a leaf tensor that requires grad is being used in an in-place "
                           "operation; wrap it in 'with arraylib.no_grad():' or use an "
                           "out-of-place operation")
    base = getattr(x, "_base", None)
    if base is not None and (base._requires_grad or x._requires_grad):
        raise RuntimeError(f"{what}: in-place operation on a view of a tensor that takes part in "
                           "autograd is not supported; use .clone() on the view first")


def operand_for_inplace(x: Tensor) -> Tensor:
    """``x`` itself, or a snapshot of it when its old value may be saved for backward."""
    if state.grad_enabled and x._grad_fn is not None:
        snap = _new(x._device.backend.asarray(x._data, copy=True), x._device)
        snap._grad_fn, snap._oi, snap._requires_grad = x._grad_fn, x._oi, True
        tt = getattr(x, "_tangent", None)
        if tt is not None:
            snap._tangent = tt
        return snap
    return x


def inplace_update(x: Tensor, result: Tensor, what: str) -> Tensor:
    """Write ``result`` into ``x``'s storage and give ``x`` its autograd identity."""
    check_inplace_allowed(x, what)
    if result.dtype != x.dtype:
        raise TypeError(f"{what}: the result has dtype {result.dtype}, which can't be stored in "
                        f"a tensor of dtype {x.dtype} in place")
    if result.shape != x.shape:
        raise ValueError(f"{what}: the result has shape {result.shape}, which can't be stored in a "
                         f"tensor of shape {x.shape} in place")
    x._device.backend.assign(x._data, ..., result._data)
    bump_version(x)
    adopt_identity(x, result)
    return x


def adopt_identity(x: Tensor, result: Tensor) -> None:
    """Make ``x`` stand for ``result`` in the graph and in forward mode."""
    if result._grad_fn is not None:
        x._grad_fn, x._oi, x._requires_grad = result._grad_fn, result._oi, True
    tt = getattr(result, "_tangent", None)
    if tt is not None or getattr(x, "_tangent", None) is not None:
        x._tangent = tt


def bump_version(x: Tensor) -> None:
    x._version_counter()[0] += 1


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
    recording = not anywhere.no_grad or state.grad_enabled
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


def _fits(x: Tensor, value: int) -> bool:
    lo, hi = integer_range(x.dtype)
    return lo <= value <= hi

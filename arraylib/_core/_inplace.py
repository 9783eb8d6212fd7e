"""In-place updates: ``x += y``, ``x[key] = v``.

An in-place update writes the new values into the tensor's storage (so views see
them), bumps its version counter, and, when recording, makes the tensor the
output of the new node.  Nodes recorded earlier keep their edges, so their
gradients still reach the tensor's old producer; a node that saved the tensor
itself notices the version bump and refuses to run backward.
"""
from __future__ import annotations

from ._tensor import Tensor, _new
from ._grad_mode import state


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

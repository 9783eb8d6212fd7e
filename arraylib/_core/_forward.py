"""Forward mode core: tangents ride on tensors as ``(generation, tangent)``."""
from __future__ import annotations

from . import _graph
from .._dtypes import floating_set as _FLOATING
from ._grad_mode import state
from ._namespace import tensor_namespace


def tangent_of(t):
    """The tangent of ``t`` at the current dual level, or None (a view's follows its
    base's after in-place changes)."""
    if t._base is not None:
        _graph.sync_view(t)
    tt = getattr(t, "_tangent", None)
    if tt is None or tt[0] != state.dual_generation:
        return None
    return tt[1]


def set_tangent(t, tangent) -> None:
    t._tangent = (state.dual_generation, tangent)


def push_tangents(prim, inputs, out, params) -> None:
    """Give ``out`` the tangent that ``prim``'s JVP rule computes from the inputs'."""
    tangents = tuple(tangent_of(t) for t in inputs)
    if all(t is None for t in tangents):
        return
    if prim.jvp is None:
        if prim.vjp is None:
            return  # not differentiable: the output carries no tangent
        raise NotImplementedError(f"forward-mode AD: {prim.name} has no JVP rule; its tangent "
                                  "can't be computed")
    level = state.dual_level
    state.dual_level = 0  # the rule's own operations carry no tangents
    try:
        result = prim.jvp(tensor_namespace(), tangents, out, *inputs, **params)
        if prim.nout == 1:
            _attach(out, result)
        else:
            for o, r in zip(out, result):
                _attach(o, r)
    finally:
        state.dual_level = level


def _attach(out, tangent) -> None:
    if tangent is None or out.dtype not in _FLOATING:
        return
    ns = tensor_namespace()
    if tangent.dtype != out.dtype:
        if tangent.dtype.kind == "c" and out.dtype.kind != "c":
            tangent = ns.real(tangent)
        tangent = ns.astype(tangent, out.dtype)
    if tangent.shape != out.shape:
        tangent = ns.broadcast_to(tangent, out.shape)
    set_tangent(out, tangent)

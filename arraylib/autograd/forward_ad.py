"""Forward-mode automatic differentiation with dual tensors (PyTorch's shape).

::

    from arraylib.autograd import forward_ad as fwAD
    with fwAD.dual_level():
        x = fwAD.make_dual(primal, tangent)
        y = f(x)
        y_primal, y_tangent = fwAD.unpack_dual(y)

Each operation applied to a tensor that carries a tangent gives its output the
tangent that the primitive's JVP rule computes.  Tangents made inside a
``dual_level`` die when the level closes.
"""
from __future__ import annotations

from collections import namedtuple

from .._core import _batching as _vb
from .._core._tensor import Tensor
from .._core._forward import set_tangent, tangent_of
from .._core._grad_mode import new_generation, set_dual_level, state
from .._core._primitive import Primitive, apply1, linear_jvp

__all__ = ["dual_level", "enter_dual_level", "exit_dual_level", "make_dual", "unpack_dual",
           "UnpackedDualTensor"]

UnpackedDualTensor = namedtuple("UnpackedDualTensor", ["primal", "tangent"])


def enter_dual_level() -> int:
    """Open a dual level (returns it); prefer the ``dual_level()`` context manager."""
    set_dual_level(state.dual_level + 1)
    return state.dual_level


def exit_dual_level(*, level=None) -> None:
    """Close the innermost dual level; the tangents made in it die."""
    if state.dual_level <= 0:
        raise RuntimeError("exit_dual_level: no dual level is active")
    if level is not None and level != state.dual_level:
        raise RuntimeError(f"exit_dual_level: trying to exit level {level}, but the current "
                           f"level is {state.dual_level}")
    set_dual_level(state.dual_level - 1)
    if state.dual_level == 0:
        state.dual_generation = new_generation()


class dual_level:
    """Context manager for forward AD: tangents live inside ``with dual_level():``."""

    def __enter__(self):
        return enter_dual_level()

    def __exit__(self, *exc):
        exit_dual_level()
        return False


def _make_dual_fwd(B, x):
    return x


# the identity view that carries a tangent (make_dual) or drops it (unpack_dual's primal)
_make_dual_prim = Primitive("make_dual", _make_dual_fwd,
                            vjp=lambda ns, needs, g, out, x: (g,),
                            jvp=linear_jvp(lambda ns, t: t),
                            saves_inputs=False, saves_output=False, view=True)
_make_dual_prim.batch = _vb.matrix_rule(_make_dual_prim)


def _dual_prim():
    """The identity view primitive (``arraylib.func`` uses it for its inner tensors)."""
    return _make_dual_prim


def make_dual(tensor, tangent, *, level=None):
    """A view of ``tensor`` that carries ``tangent`` (same shape, dtype and device).

    Reverse mode flows through it to ``tensor``."""
    if state.dual_level <= 0:
        raise RuntimeError("make_dual: forward AD must be used inside a "
                           "'with arraylib.autograd.forward_ad.dual_level():' block")
    if not isinstance(tensor, Tensor) or not isinstance(tangent, Tensor):
        raise TypeError(f"make_dual: expected Tensors, got {type(tensor).__name__} and "
                        f"{type(tangent).__name__}")
    if tensor.dtype.kind not in "fc":
        raise TypeError(f"make_dual: expected a floating-point or complex primal, got {tensor.dtype}")
    if tangent.shape != tensor.shape:
        raise ValueError(f"make_dual: the tangent has shape {tangent.shape} but the primal has "
                         f"shape {tensor.shape}")
    if tangent.dtype != tensor.dtype:
        raise TypeError(f"make_dual: the tangent has dtype {tangent.dtype} but the primal has "
                        f"dtype {tensor.dtype}")
    if tangent._device is not tensor._device:
        raise ValueError(f"make_dual: the tangent is on device '{tangent.device}' but the primal "
                         f"is on '{tensor.device}'")
    out = _identity(tensor)
    set_tangent(out, tangent)
    node = out._grad_fn
    if node is not None and node.prim is _make_dual_prim:
        node.out_tangents = (out._tangent,)
    return out


def unpack_dual(tensor, *, level=None) -> UnpackedDualTensor:
    """``(primal, tangent)`` of ``tensor``; the tangent is None outside forward AD or
    when ``tensor`` carries none.  The primal shares storage and graph with ``tensor``."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"unpack_dual: expected a Tensor, got {type(tensor).__name__}")
    tangent = tangent_of(tensor) if state.dual_level else None
    if getattr(tensor, "_tangent", None) is None:
        return UnpackedDualTensor(tensor, None)
    return UnpackedDualTensor(_identity(tensor), tangent)


def _identity(tensor):
    """``tensor`` through the make_dual primitive (one graph node), pushing no tangent."""
    level = state.dual_level
    state.dual_level = 0  # a plain write back toward the default (see _core._grad_mode)
    try:
        return apply1(_make_dual_prim, tensor)
    finally:
        state.dual_level = level

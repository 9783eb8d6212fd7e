"""Automatic differentiation: reverse mode (graph, engine), forward mode (duals),
custom functions, numerical checks and function transforms."""
from __future__ import annotations

from .._core._grad_mode import no_grad, enable_grad, set_grad_enabled, is_grad_enabled
from .._core._grad_mode import _GradModeContext
from .._core._tensor import Tensor
from .._core._engine import backward, grad, queue_callback
from .._core._graph import Node
from . import forward_ad
from .gradcheck import gradcheck, gradgradcheck, GradcheckError
from .function import Function, FunctionCtx, once_differentiable
from ._dot import to_dot

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "backward", "grad", "queue_callback",
           "Node", "forward_ad", "gradcheck", "gradgradcheck", "GradcheckError", "Function",
           "FunctionCtx", "once_differentiable", "to_dot", "Variable", "inference_mode"]


class inference_mode(_GradModeContext):
    """PyTorch's ``inference_mode``: no recording (``no_grad``'s semantics), as a context
    manager or a decorator (``@inference_mode()`` or ``@inference_mode``)."""

    def __new__(cls, mode=True):
        if callable(mode):  # bare decorator
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode=True):
        self._mode = not bool(mode)


class _VariableMeta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor)


class Variable(metaclass=_VariableMeta):
    """PyTorch's ``Variable`` (>= 0.4: a tensor): ``Variable(t)`` is ``t``;
    ``Variable(t, requires_grad=True)`` a leaf sharing ``t``'s storage that requires grad."""

    def __new__(cls, data, requires_grad=None, volatile=False):
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable: data must be a Tensor, got {type(data).__name__}")
        if requires_grad is None or bool(requires_grad) == data.requires_grad:
            return data
        return data.detach().requires_grad_(bool(requires_grad))

"""Automatic differentiation: reverse mode (graph, engine), forward mode (duals),
custom functions, numerical checks and function transforms."""
from __future__ import annotations

from .._core._grad_mode import no_grad, enable_grad, set_grad_enabled, is_grad_enabled
from .._core._engine import backward, grad, queue_callback
from .._core._graph import Node
from . import forward_ad
from .gradcheck import gradcheck, gradgradcheck, GradcheckError
from .function import Function, FunctionCtx, once_differentiable
from ._dot import to_dot

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "backward", "grad", "queue_callback",
           "Node", "forward_ad", "gradcheck", "gradgradcheck", "GradcheckError", "Function",
           "FunctionCtx", "once_differentiable", "to_dot"]

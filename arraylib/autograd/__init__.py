"""Automatic differentiation: reverse mode (graph, engine) and forward mode (duals)."""
from __future__ import annotations

from ._grad_mode import no_grad, enable_grad, set_grad_enabled, is_grad_enabled
from ._engine import backward, grad
from ._graph import Node

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "backward", "grad",
           "Node"]

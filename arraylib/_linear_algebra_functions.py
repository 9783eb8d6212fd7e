"""_linear_algebra_functions (to be written)."""
from __future__ import annotations

__all__: list = []

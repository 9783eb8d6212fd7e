"""``arraylib.amp``: mixed precision as PyTorch's ``torch.amp``.

``autocast(device_type="cpu", dtype=bfloat16)`` runs matmul, linear and the
convolutions in half precision and the losses in float32 (as PyTorch's CPU autocast);
``GradScaler`` scales the loss and skips optimizer steps whose gradients overflowed.
"""
from __future__ import annotations

from arraylib import autocast, is_autocast_enabled, get_autocast_dtype

from .grad_scaler import GradScaler

__all__ = ["autocast", "GradScaler", "is_autocast_enabled", "get_autocast_dtype"]

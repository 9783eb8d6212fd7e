"""``arraylib.cuda``: PyTorch's ``torch.cuda`` queries (CuPy-backed devices)."""
from __future__ import annotations

import sys as _sys

from ._core._devices import Device, cuda_device_count, cuda_is_available
from ._random import manual_seed as _manual_seed
from .amp import cuda as amp

_sys.modules[__name__ + ".amp"] = amp  # ``from arraylib.cuda.amp import GradScaler``

__all__ = ["is_available", "device_count", "current_device", "synchronize", "manual_seed",
           "manual_seed_all", "amp"]


def is_available() -> bool:
    """Whether a CUDA GPU can be used (CuPy installed and a device visible)."""
    return cuda_is_available()


def device_count() -> int:
    return cuda_device_count()


def current_device() -> int:
    if not is_available():
        raise RuntimeError("arraylib.cuda.current_device: CUDA is not available")
    return 0


def synchronize(device=None) -> None:
    """Wait for the GPU's queued work to finish."""
    if is_available():
        Device("cuda" if device is None else device).backend.synchronize()


def manual_seed(seed) -> None:
    """Seed the random numbers (one generator serves every device)."""
    _manual_seed(seed)


manual_seed_all = manual_seed

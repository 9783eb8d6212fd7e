"""``torch.cuda``: arraylib's CUDA queries (``arraylib.cuda``, CuPy-backed, with its
``amp``: ``autocast``/``GradScaler``) plus the few housekeeping calls scripts make."""
from __future__ import annotations

import arraylib.cuda
from arraylib.cuda import *  # noqa: F401,F403
from arraylib.cuda import is_available

__all__ = list(arraylib.cuda.__all__) + ["empty_cache", "set_device", "is_bf16_supported"]


def empty_cache() -> None:
    """No-op: arraylib leaves CuPy's memory pool to CuPy."""


def _need_cuda(func):
    if not is_available():
        raise RuntimeError(f"torch.cuda.{func}: CUDA is not available (arraylib runs CUDA "
                           f"through CuPy; none usable here)")


def set_device(device) -> None:
    """Accepts device 0 only (arraylib's ``"cuda"``); name other GPUs with
    ``device="cuda:N"`` on each call instead."""
    _need_cuda("set_device")
    if str(device) not in ("0", "cuda", "cuda:0"):
        raise NotImplementedError(f"torch.cuda.set_device({device!r}): arraylib has no current "
                                  f"device to change; pass device='cuda:N' instead")


def is_bf16_supported(including_emulation: bool = True) -> bool:
    return is_available()


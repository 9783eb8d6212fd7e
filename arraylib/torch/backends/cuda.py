"""``torch.backends.cuda``: settable flags with no effect (``matmul.allow_tf32``,
``matmul.allow_fp16_reduced_precision_reduction``, the scaled-dot-product switches)."""
from __future__ import annotations

from types import SimpleNamespace as _Namespace

from arraylib import cuda as _cuda

matmul = _Namespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True,
                         allow_bf16_reduced_precision_reduction=True)
_sdp = {"flash": True, "mem_efficient": True, "math": True}


def is_built() -> bool:
    """Whether arraylib can run on CUDA here (CuPy installed and a GPU visible)."""
    return _cuda.is_available()


def enable_flash_sdp(enabled: bool) -> None:
    _sdp["flash"] = bool(enabled)


def flash_sdp_enabled() -> bool:
    return _sdp["flash"]


def enable_mem_efficient_sdp(enabled: bool) -> None:
    _sdp["mem_efficient"] = bool(enabled)


def mem_efficient_sdp_enabled() -> bool:
    return _sdp["mem_efficient"]


def enable_math_sdp(enabled: bool) -> None:
    _sdp["math"] = bool(enabled)


def math_sdp_enabled() -> bool:
    return _sdp["math"]

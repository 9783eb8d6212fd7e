"""``torch.backends``: the switches scripts set for PyTorch's native backends.

arraylib computes through NumPy (CPU) or CuPy (CUDA), not cuDNN, MKL-DNN or MPS, so
every flag here is an ordinary settable attribute with **no effect**; the
``is_available()`` queries answer for arraylib (no cuDNN, no MPS).
"""
from __future__ import annotations

from . import cpu, cuda, cudnn, mkl, mkldnn, mps, openmp, opt_einsum

__all__ = ["cpu", "cuda", "cudnn", "mkl", "mkldnn", "mps", "openmp", "opt_einsum"]

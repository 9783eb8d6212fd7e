"""``torch.backends.mkl``: whether PyTorch's own MKL is linked (arraylib links none itself;
NumPy's BLAS is what runs)."""
from __future__ import annotations


def is_available() -> bool:
    return False

"""``torch.backends.cpu``: the CPU capability PyTorch would dispatch to."""
from __future__ import annotations


def get_cpu_capability() -> str:
    """'DEFAULT': arraylib dispatches to NumPy, not to PyTorch's vectorised kernels."""
    return "DEFAULT"

"""PyTorch-like ``repr`` of tensors: values, then dtype, device and autograd state."""
from __future__ import annotations

from . import _dtypes


def tensor_repr(t) -> str:
    body = t._device.backend.format_values(t._data, prefix="tensor(")
    extras = []
    dt = t.dtype
    if dt not in (_dtypes.default_float, _dtypes.default_int, _dtypes.bool) or t.size == 0:
        extras.append(f"dtype={dt.name}")
    if t.size == 0 and t.ndim != 1:
        extras.append(f"size={t.shape}")
    if t._device.name != "cpu":
        extras.append(f"device='{t._device.name}'")
    if t._grad_fn is not None:
        extras.append(f"grad_fn=<{t._grad_fn.name_for_display()}>")
    elif t._requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"

"""``torch.onnx``: importable, as scripts import it at the top, but arraylib has no ONNX
exporter: ``export`` raises NotImplementedError."""
from __future__ import annotations

__all__ = ["export", "is_in_onnx_export"]


def export(model=None, args=(), f=None, *pargs, **kwargs):
    """Not supported: raises NotImplementedError."""
    raise NotImplementedError("torch.onnx.export: ONNX export is not supported by arraylib "
                              "(save the weights with torch.save and export from PyTorch)")


def is_in_onnx_export() -> bool:
    """False: no export is ever running (model code branches on this)."""
    return False

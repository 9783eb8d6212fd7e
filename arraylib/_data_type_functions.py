"""Data type functions (spec chapter "Data Type Functions")."""
from __future__ import annotations

from . import _dtypes
from ._devices import Device
from ._primitive import Primitive, apply
from ._tensor import Tensor

__all__ = ["astype"]


def _astype_fwd(B, x, *, dtype, copy):
    return B.astype(x, B.native_dtype(dtype), copy=copy)


_astype_prim = Primitive(
    "astype", _astype_fwd,
    vjp=lambda g, out, x, *, dtype, copy: (g,),
    jvp=lambda t, out, x, *, dtype, copy: astype(t[0], dtype),
    saves_inputs=False, saves_output=False)


def astype(x, dtype, /, *, copy=True, device=None) -> Tensor:
    """``x`` converted to ``dtype`` (and moved to ``device`` if given)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"astype: expected a Tensor, got {type(x).__name__}")
    dtype = _dtypes.as_dtype(dtype, func="astype")
    if device is not None and Device(device) is not x._device:
        from ._creation_functions import to_device
        x = to_device(x, device)
        copy = False
    if dtype not in x._device.backend.supported_dtypes():
        raise TypeError(f"astype: dtype {dtype} is not supported on device '{x._device}'")
    if dtype == x.dtype and not copy:
        return x
    if x.dtype.kind == "c" and dtype.kind != "c":
        raise TypeError(f"astype: can't cast complex dtype {x.dtype} to {dtype}; "
                        "take real() or abs() first")
    return apply(_astype_prim, (x,), {"dtype": dtype, "copy": bool(copy)})

"""The inspection API: ``__array_namespace_info__()``."""
from __future__ import annotations

from . import _dtypes
from ._backends import STRICT_DEVICE_NAMES
from ._core._devices import Device, as_device, cuda_device_count, cuda_is_available

__all__ = ["__array_namespace_info__"]

_KINDS = {
    "bool": (_dtypes.bool,),
    "signed integer": _dtypes.signed_integer_dtypes,
    "unsigned integer": _dtypes.unsigned_integer_dtypes,
    "integral": _dtypes.integer_dtypes,
    "real floating": _dtypes.real_floating_dtypes,
    "complex floating": _dtypes.complex_floating_dtypes,
    "numeric": _dtypes.numeric_dtypes,
}


class Info:
    """What this namespace supports: capabilities, devices, default and available dtypes."""

    __module__ = "arraylib"

    def capabilities(self) -> dict:
        return {"boolean indexing": True, "data-dependent shapes": True, "max dimensions": 64}

    def default_device(self) -> Device:
        return as_device(None)

    def devices(self) -> tuple:
        """Every device: cpu, the emulated strict devices, and CUDA devices when present."""
        out = [Device("cpu")] + [Device(f"strict:{n}") for n in STRICT_DEVICE_NAMES]
        if cuda_is_available():
            out += [Device(f"cuda:{i}") for i in range(cuda_device_count())]
        return tuple(out)

    def default_dtypes(self, *, device=None) -> dict:
        """PyTorch's defaults: float32, complex64, int64; indices int64."""
        supported = _check_device(device).backend.supported_dtypes()
        return {"real floating": _dtypes.default_on(_dtypes.default_float, supported),
                "complex floating": _dtypes.default_on(_dtypes.default_complex, supported),
                "integral": _dtypes.default_int, "indexing": _dtypes.default_index}

    def dtypes(self, *, device=None, kind=None) -> dict:
        """The dtypes available on ``device`` (default device when None), by ``kind``
        (a kind name, a tuple of them, or None for all)."""
        dev = _check_device(device)
        supported = dev.backend.supported_dtypes()
        if kind is None:
            chosen = _dtypes.all_dtypes
        else:
            kinds = kind if isinstance(kind, tuple) else (kind,)
            chosen = []
            for k in kinds:
                if k not in _KINDS:
                    raise ValueError(f"dtypes: unknown kind {k!r}; expected one of {sorted(_KINDS)}")
                chosen += [d for d in _KINDS[k] if d not in chosen]
        # the standard's dtypes only (float16 and bfloat16 are extras)
        return {d.name: d for d in _dtypes.standard_dtypes if d in chosen and d in supported}

    def __repr__(self):
        return "arraylib.__array_namespace_info__()"


def _check_device(device) -> Device:
    dev = as_device(device)
    dev.backend  # noqa: B018 - an unavailable device fails here
    return dev


_INFO = Info()


def __array_namespace_info__() -> Info:
    """The standard's inspection namespace (capabilities, devices, dtypes)."""
    return _INFO

"""Storage backends.  The only package in arraylib that imports numpy, cupy or
array_api_strict (``_dtypes`` excepted, for NumPy's dtype objects)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ._base import Backend
from ._cupy import CupyBackend, available as cuda_available, device_count as cuda_device_count
from ._numpy import NumpyBackend
from ._strict import StrictBackend

STRICT_DEVICE_NAMES = ("CPU_DEVICE", "device1", "device2", "no_float64")


@lru_cache(maxsize=None)
def numpy_backend() -> Backend:
    return NumpyBackend()


@lru_cache(maxsize=None)
def strict_backend(device_name: str) -> Backend:
    return StrictBackend(device_name)


@lru_cache(maxsize=None)
def cupy_backend(index: int) -> Backend:
    return CupyBackend(index)


def host_scalar_types():
    """NumPy scalar types, which arraylib accepts as Python scalars."""
    return np.generic


__all__ = ["Backend", "numpy_backend", "strict_backend", "cupy_backend", "cuda_available",
           "cuda_device_count", "STRICT_DEVICE_NAMES"]

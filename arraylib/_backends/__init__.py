"""Storage backends.  The only package in arraylib that imports numpy, cupy or
array_api_strict (``_dtypes`` excepted, for NumPy's dtype objects)."""
from __future__ import annotations

from functools import lru_cache

from ._base import Backend

STRICT_DEVICE_NAMES = ("CPU_DEVICE", "device1", "device2", "no_float64")
from ._cupy import available as cuda_available, device_count as cuda_device_count


@lru_cache(maxsize=None)
def numpy_backend() -> Backend:
    from ._numpy import NumpyBackend
    return NumpyBackend()


@lru_cache(maxsize=None)
def strict_backend(device_name: str) -> Backend:
    from ._strict import StrictBackend
    return StrictBackend(device_name)


@lru_cache(maxsize=None)
def cupy_backend(index: int) -> Backend:
    from ._cupy import CupyBackend
    return CupyBackend(index)


def host_scalar_types():
    """NumPy scalar types, which arraylib accepts as Python scalars."""
    import numpy as np
    return np.generic


__all__ = ["Backend", "numpy_backend", "strict_backend", "cupy_backend", "cuda_available",
           "cuda_device_count", "STRICT_DEVICE_NAMES"]

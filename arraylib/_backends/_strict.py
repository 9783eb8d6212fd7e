"""array-api-strict storage: emulated devices that behave like an accelerator.

They refuse host conversion (``__array__``) and mixing with other devices, and
``no_float64`` has no float64, like some GPUs.  The kernels the standard lacks go
through the host, which the emulation allows only here, inside the backend.
"""
from __future__ import annotations

import numpy as np

from .. import _dtypes
from ._base import Backend


class StrictBackend(Backend):
    name = "strict"

    def __init__(self, device_name: str):
        # array-api-strict is an optional dependency: imported when an emulated device is used
        import array_api_strict as xs
        from array_api_strict._array_object import Array

        self.array_type = Array
        self._name = f"strict:{device_name}"
        super().__init__(xs, xs.Device(device_name))
        # the standard's dtypes only: array-api-strict has no float16 or bfloat16
        self._to_native = {d: getattr(xs, d.name) for d in _dtypes.standard_dtypes}
        self._from_native = {v: k for k, v in self._to_native.items()}
        for dt, native in self._to_native.items():
            _dtypes.register_native_dtype(native, dt)

    def native_dtype(self, dtype):
        try:
            return self._to_native[dtype]
        except KeyError:
            raise self._unsupported(dtype) from None

    def _unsupported(self, dtype):
        return TypeError(f"dtype {dtype} is not supported on device '{self._name}' "
                         "(array-api-strict has only the standard's dtypes)")

    def dtype_of(self, data):
        return self._from_native[data.dtype]

    def dtype_from_native(self, native):
        return self._from_native[native]

    def supported_dtypes(self):
        supported = self.__dict__.get("_supported")
        if supported is None:  # (computed once: tested on every checked call)
            if self.native_device == self.xp.Device("no_float64"):
                supported = frozenset(d for d in _dtypes.standard_dtypes
                                      if d not in (_dtypes.float64, _dtypes.complex128))
            else:
                supported = frozenset(_dtypes.standard_dtypes)
            self._supported = supported
        return supported

    def asarray(self, obj, dtype=None, copy=None):
        if isinstance(obj, np.ndarray) or isinstance(obj, np.generic):
            return self.from_numpy(np.array(obj, dtype=dtype, copy=copy) if copy or dtype is not None else obj)
        if dtype is not None:
            dtype = self.native_dtype(dtype)
        return self.xp.asarray(obj, dtype=dtype, device=self.native_device, copy=copy)

    def to_numpy(self, data):
        # The emulation's own storage; only the backend may look at it.
        return np.asarray(data._array)

    def from_numpy(self, arr):
        arr = np.asarray(arr)
        if arr.dtype in _dtypes.half_dtypes:
            raise self._unsupported(arr.dtype)
        return self.array_type._new(arr, device=self.native_device)

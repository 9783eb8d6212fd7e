"""The storage-backend interface: a standard namespace plus the few kernels it lacks.

A ``Backend`` is bound to one native device.  Attribute look-ups that the class
does not define fall through to the backend's standard namespace (``xp``) and are
cached on the instance, so ``B.add(a, b)`` calls the namespace's ``add``.
"""
from __future__ import annotations

import numpy as np

from .. import _dtypes


class Backend:
    """One device's storage: a standard namespace ``xp`` and helper kernels."""

    name = "base"
    array_type: type = object
    host = False  # whether storage is host memory NumPy can read without a copy

    def __init__(self, xp, native_device):
        self.xp = xp
        self.native_device = native_device

    def __getattr__(self, attr):
        value = getattr(self.xp, attr)
        setattr(self, attr, value)
        return value

    # -- dtypes ---------------------------------------------------------------
    def native_dtype(self, dtype):
        return dtype

    def dtype_of(self, data):
        return data.dtype

    def supported_dtypes(self):
        return _dtypes.all_dtypes

    # -- moving data ------------------------------------------------------------
    def asarray(self, obj, dtype=None, copy=None):
        if dtype is not None:
            dtype = self.native_dtype(dtype)
        return self.xp.asarray(obj, dtype=dtype, device=self.native_device, copy=copy)

    def to_numpy(self, data) -> np.ndarray:
        raise NotImplementedError

    def from_numpy(self, arr: np.ndarray):
        return self.asarray(arr)

    def ensure_array(self, data):
        """Storage from a backend call that may have returned a scalar."""
        return data

    # -- kernels the standard lacks -------------------------------------------
    def assign(self, dst, key, src):
        """``dst[key] = src`` in place."""
        dst[key] = src

    def scatter_add(self, target, index, values, axis):
        """Add ``values`` into ``target`` at integer ``index`` along ``axis`` (out of place)."""
        host = self.to_numpy(target).copy()
        idx = self.to_numpy(index)
        vals = self.to_numpy(values)
        moved = np.moveaxis(host, axis, 0)
        np.add.at(moved, idx, np.moveaxis(vals, axis, 0))
        return self.from_numpy(host)

    def sliding_window(self, x, window_shape, axes):
        """A read-only view of ``x`` with sliding windows over ``axes`` (NumPy semantics)."""
        return self.from_numpy(np.lib.stride_tricks.sliding_window_view(
            self.to_numpy(x), window_shape, axis=axes).copy())

    def format_values(self, data, prefix: str) -> str:
        """The values as text, for ``repr``."""
        return np.array2string(np.asarray(self.to_numpy(data)), separator=", ", prefix=prefix,
                               threshold=1000, edgeitems=3, precision=4)

    def synchronize(self):
        pass

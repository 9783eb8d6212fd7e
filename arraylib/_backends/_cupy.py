"""CuPy storage on CUDA GPUs."""
from __future__ import annotations

from .. import _dtypes
from ._base import Backend


def available() -> bool:
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def device_count() -> int:
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount()
    except Exception:
        return 0


class CupyBackend(Backend):
    name = "cupy"
    host = False

    def __init__(self, index: int):
        import array_api_compat.cupy as ccp
        import cupy
        self._cupy = cupy
        self.array_type = cupy.ndarray
        super().__init__(ccp, cupy.cuda.Device(index))

    def asarray(self, obj, dtype=None, copy=None):
        with self.native_device:
            return self.xp.asarray(obj, dtype=dtype, copy=copy)

    def to_numpy(self, data):
        return self._cupy.asnumpy(data)

    def from_numpy(self, arr):
        with self.native_device:
            return self._cupy.asarray(arr)

    def ensure_array(self, data):
        return data if data.__class__ is self.array_type else self._cupy.asarray(data)

    def supported_dtypes(self):
        return frozenset(d for d in _dtypes.all_dtypes if d != _dtypes.bfloat16)  # no bfloat16

    inplace_buffers_overlap = False  # CuPy's kernels race on overlap (a[1:] += a[:-1])

    def may_overlap(self, a, b) -> bool:
        return bool(self._cupy.may_share_memory(a, b))

    def scatter_add(self, target, index, values, axis):
        out = target.copy()
        moved = self._cupy.moveaxis(out, axis, 0)
        self._cupy.add.at(moved, index, self._cupy.moveaxis(values, axis, 0))
        return out

    def getitem(self, x, key):
        return x[key]

    def setitem(self, dst, key, src):
        dst[key] = src

    def index_add(self, target, key, values):
        out = target.copy()
        self._cupy.add.at(out, key, values)
        return out

    def add_at_flat(self, a, index, w):
        flat = a.ravel()  # a view of a fresh C-ordered array (a copy otherwise)
        flat[index] = flat[index] + w
        return a if flat.base is a else flat.reshape(a.shape)

    def isin(self, x1, x2, *, invert=False):
        return self._cupy.isin(x1, x2, invert=invert)

    def sliding_window(self, x, window_shape, axes):
        from cupy.lib.stride_tricks import sliding_window_view
        return sliding_window_view(x, window_shape, axis=axes)

    def synchronize(self):
        self._cupy.cuda.Device(self.native_device.id).synchronize()

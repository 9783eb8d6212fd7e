"""NumPy storage on the CPU."""
from __future__ import annotations

import array_api_compat.numpy as cnp
import numpy as np

from ._base import Backend


class NumpyBackend(Backend):
    name = "numpy"
    array_type = np.ndarray
    host = True

    def __init__(self):
        super().__init__(cnp, "cpu")
        self.matmul = np.matmul  # array_api_compat's matmul only forwards to it

    def asarray(self, obj, dtype=None, copy=None):
        if copy:
            return np.array(obj, dtype=dtype, copy=True)
        return np.asarray(obj, dtype=dtype, copy=copy)

    def to_numpy(self, data):
        return data

    # creation without array_api_compat's wrappers (the engine's seeds and zero cotangents)
    def ones(self, shape, dtype=None, device=None):
        if shape == ():
            return np.array(1.0, dtype=dtype)  # np.ones is Python code: 4x slower for a seed
        return np.ones(shape, dtype=dtype)

    def zeros(self, shape, dtype=None, device=None):
        return np.zeros(shape, dtype=dtype)

    def from_numpy(self, arr):
        return arr

    def ensure_array(self, data):
        return data if data.__class__ is np.ndarray else np.asarray(data)

    def scatter_add(self, target, index, values, axis):
        out = target.copy()
        np.add.at(np.moveaxis(out, axis, 0), index, np.moveaxis(values, axis, 0))
        return out

    def getitem(self, x, key):
        return x[key]

    def setitem(self, dst, key, src):
        dst[key] = src

    def index_add(self, target, key, values):
        out = target.copy()
        np.add.at(out, key, values)
        return out

    def sliding_window(self, x, window_shape, axes):
        return np.lib.stride_tricks.sliding_window_view(x, window_shape, axis=axes)

    def fold_windows(self, windows, shape, axes, strides, dilation):
        from ._base import _fold_windows_numpy
        return _fold_windows_numpy(windows, shape, axes, strides, dilation)

    def erf(self, x):
        from scipy.special import erf
        return erf(x)

    # reductions straight to the ufuncs (np.sum and np.max wrap them in Python: ~1 us a call)
    def sum(self, x, /, *, axis=None, dtype=None, keepdims=False):
        return np.add.reduce(x, axis=axis, dtype=dtype, keepdims=keepdims)

    def max(self, x, /, *, axis=None, keepdims=False):
        return np.maximum.reduce(x, axis=axis, keepdims=keepdims)

    def min(self, x, /, *, axis=None, keepdims=False):
        return np.minimum.reduce(x, axis=axis, keepdims=keepdims)

    def astype(self, x, dtype, /, *, copy=True, device=None):
        return x.astype(dtype, copy=copy)

    def arange(self, start, /, stop=None, step=1, *, dtype=None, device=None):
        return np.arange(start, stop, step, dtype=dtype)

    # shape functions as ndarray methods (array_api_compat's wrappers cost ~2 us a call)
    def expand_dims(self, x, /, *, axis=0):
        if type(axis) is not int:
            return np.expand_dims(x, axis)
        nd = x.ndim + 1
        if not -nd <= axis < nd:
            raise np.exceptions.AxisError(axis, nd)
        a = axis % nd
        return x.reshape(x.shape[:a] + (1,) + x.shape[a:])

    def reshape(self, x, shape, copy=None):
        if copy is None:
            return x.reshape(shape)
        return np.reshape(x, shape, copy=copy)

    def permute_dims(self, x, axes):
        return x.transpose(axes)

    def matrix_transpose(self, x):
        return x.swapaxes(-1, -2)

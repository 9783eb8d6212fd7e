"""NumPy storage on the CPU."""
from __future__ import annotations

import ctypes
import os
import sys

import numpy as np
import threadpoolctl

from .. import _dtypes
from ._base import Backend, _fold_windows_numpy

# glibc's malloc, by default, serves blocks over a threshold that adapts (128 KiB to 32 MiB)
# with mmap, and hands the free top of its heap back to the OS once it passes twice that
# threshold.  A training step allocates and frees the same temporaries every step, so the
# heap grows and shrinks each step and every page is faulted in again (the seed's CNN:
# 3,300 page faults a step, a quarter of its time).  Fixed thresholds keep freed memory for
# the next step.  ARRAYLIB_MALLOC_TUNING=0 leaves the allocator alone.
MMAP_THRESHOLD = 32 << 20  # glibc's own ceiling for its adaptive threshold on 64-bit
TRIM_THRESHOLD = 128 << 20


def keep_freed_memory() -> bool:
    """Fix glibc's mmap and trim thresholds (see above); whether they were set."""
    if os.environ.get("ARRAYLIB_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, MMAP_THRESHOLD)) and \
        bool(mallopt(m_trim_threshold, TRIM_THRESHOLD))


_HALF_IDS = frozenset(id(d) for d in _dtypes.half_dtypes)
_F32 = np.dtype("float32")
_NEXT, _AFTER = np.array([1, 2, 0]), np.array([2, 0, 1])  # (cross)
_BF16 = _dtypes.bfloat16
_np_matmul = np.matmul


def _matmul(a, b, /):
    """``np.matmul``; float16 and bfloat16 operands multiply in float32 and round once,
    as PyTorch's CPU kernels accumulate (NumPy's float16 loop has no BLAS, and its
    bfloat16 product comes out float32)."""
    if id(a.dtype) in _HALF_IDS:
        dt = a.dtype
        return _np_matmul(a.astype(_F32), b.astype(_F32)).astype(dt)
    return _np_matmul(a, b)


_TRIANGLES: dict = {}  # (rows, cols, k, lower) -> read-only boolean mask


def _triangle_mask(shape, k, lower):
    key = (shape[0], shape[1], k, lower)
    mask = _TRIANGLES.get(key)
    if mask is None:
        if len(_TRIANGLES) >= 256:
            _TRIANGLES.clear()
        rows, cols = np.arange(shape[0])[:, None], np.arange(shape[1])[None, :]
        mask = cols - rows <= k if lower else cols - rows >= k
        mask.flags.writeable = False
        _TRIANGLES[key] = mask
    return mask


class NumpyBackend(Backend):
    name = "numpy"
    array_type = np.ndarray
    host = True

    def __init__(self):
        import array_api_compat.numpy as cnp  # imported when the CPU is first used (~0.15 s)
        super().__init__(cnp, "cpu")
        self.matmul = _matmul  # array_api_compat's matmul only forwards to np.matmul
        self.malloc_tuned = keep_freed_memory()
        self._blas_control = None  # threadpoolctl's controller, made on first use

    def serial_blas(self):
        """One BLAS thread for the duration (threadpoolctl; process-wide while it lasts: a
        second thread gains a sixth at best on small products and costs several times that
        on busy cores)."""
        if self._blas_control is None:
            self._blas_control = threadpoolctl.ThreadpoolController()
        return self._blas_control.limit(limits=1, user_api="blas")

    def asarray(self, obj, dtype=None, copy=None):
        if copy:
            return np.array(obj, dtype=dtype, copy=True)
        return np.asarray(obj, dtype=dtype, copy=copy)

    def to_numpy(self, data):
        return data

    def isdtype(self, dtype, kind):
        """The standard's ``isdtype`` (array_api_compat's refuses bfloat16)."""
        return _dtypes.is_kind(dtype, kind)

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

    def cross(self, a, b, axis):
        """``linalg.cross`` from rotated copies of the components (np.cross is Python
        code: ~5x slower on small inputs)."""
        return a.take(_NEXT, axis) * b.take(_AFTER, axis) - \
            a.take(_AFTER, axis) * b.take(_NEXT, axis)

    def argsort(self, x, /, *, axis=-1, descending=False, stable=True):
        """The standard's ``argsort``; descending (stable) as the ascending sort of the
        reversed axis, reversed, without array-api-compat's two np.flip calls."""
        kind = "stable" if stable else None
        if not descending or x.ndim == 0:
            return np.argsort(x, axis=axis, kind=kind) if x.ndim else \
                self.xp.argsort(x, axis=axis, descending=descending, stable=stable)
        rev = (slice(None),) * (axis % x.ndim) + (slice(None, None, -1),)
        return (x.shape[axis] - 1) - np.argsort(x[rev], axis=axis, kind=kind)[rev]

    def tril(self, x, /, *, k=0):
        """The lower triangle: a cached mask and one ``where`` (np.tril builds the mask
        with Python code on every call)."""
        return np.where(_triangle_mask(x.shape[-2:], k, True), x, x.dtype.type(0))

    def triu(self, x, /, *, k=0):
        return np.where(_triangle_mask(x.shape[-2:], k, False), x, x.dtype.type(0))

    def count_nonzero(self, x, /, *, axis=None, keepdims=False):
        """The standard's ``count_nonzero`` (int64), NumPy's C count for a whole array."""
        if not keepdims and (axis is None or len(axis) == x.ndim):
            return np.array(np.count_nonzero(x), dtype=np.int64)
        return np.add.reduce(x != 0, axis=axis, dtype=np.int64, keepdims=keepdims)

    def gemm_rows(self, n):
        # OpenBLAS's sgemm/dgemm edge kernels make 5 to 7 rows slower than 8: zero rows win
        return 8 if 5 <= n < 8 else n

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
        # sliding_window_view's own checks cost 30 us a call; the callers have validated
        shape, strides = list(x.shape), x.strides
        for a, k in zip(axes, window_shape):
            if not 0 < k <= shape[a]:
                raise ValueError(f"sliding_window: window {k} does not fit axis {a} of "
                                 f"shape {x.shape}")
            shape[a] -= k - 1
        return np.lib.stride_tricks.as_strided(
            x, tuple(shape) + tuple(window_shape),
            strides + tuple(strides[a] for a in axes), writeable=False)

    def fold_windows(self, windows, shape, axes, strides, dilation):
        return _fold_windows_numpy(windows, shape, axes, strides, dilation)

    # reductions straight to the ufuncs (np.sum and np.max wrap them in Python: ~1 us a call)
    def sum(self, x, /, *, axis=None, dtype=None, keepdims=False):
        if x.dtype is _BF16:  # accumulate in float32, as PyTorch (NumPy adds in bfloat16)
            out = np.add.reduce(x, axis=axis, dtype=_F32, keepdims=keepdims)
            return out.astype(_BF16 if dtype is None else dtype, copy=False)
        return np.add.reduce(x, axis=axis, dtype=dtype, keepdims=keepdims)

    def cumulative_sum(self, x, /, *, axis=None, dtype=None, include_initial=False):
        if id(x.dtype) in _HALF_IDS and not include_initial:  # float32 sums, as PyTorch
            out = np.cumsum(x, axis=axis, dtype=_F32)
            return out.astype(x.dtype if dtype is None else dtype, copy=False)
        if axis is not None and not include_initial:  # the ufunc: no wrapper (~3 us a call)
            return np.add.accumulate(x, axis=axis, dtype=dtype)
        return self.xp.cumulative_sum(x, axis=axis, dtype=dtype, include_initial=include_initial)

    def cumulative_prod(self, x, /, *, axis=None, dtype=None, include_initial=False):
        if axis is not None and not include_initial and id(x.dtype) not in _HALF_IDS:
            return np.multiply.accumulate(x, axis=axis, dtype=dtype)
        return self.xp.cumulative_prod(x, axis=axis, dtype=dtype, include_initial=include_initial)

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

    def flip(self, x, /, *, axis=None):
        if axis is None:
            return x[(slice(None, None, -1),) * x.ndim]
        axes = (axis,) if type(axis) is int else axis
        nd = x.ndim
        key = [slice(None)] * nd
        for a in axes:
            if type(a) is not int or not -nd <= a < nd:
                return np.flip(x, axis=axis)  # (its error)
            key[a] = slice(None, None, -1)
        return x[tuple(key)]

    def stack(self, arrays, /, *, axis=0):
        first = arrays[0]
        nd = first.ndim + 1
        if type(axis) is not int or not -nd <= axis < nd:
            return np.stack(arrays, axis=axis)  # (its error)
        a = axis % nd
        s0 = first.shape
        shape = s0[:a] + (1,) + s0[a:]
        for x in arrays:
            if x.shape != s0:
                return np.stack(arrays, axis=axis)  # (its error for unequal shapes)
        return np.concatenate([x.reshape(shape) for x in arrays], axis=a)

    def permute_dims(self, x, axes):
        return x.transpose(axes)

    def matrix_transpose(self, x):
        return x.swapaxes(-1, -2)

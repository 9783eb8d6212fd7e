"""The storage-backend interface: a standard namespace plus the few kernels it lacks.

A ``Backend`` is bound to one native device.  Attribute look-ups that the class
does not define fall through to the backend's standard namespace (``xp``) and are
cached on the instance, so ``B.add(a, b)`` calls the namespace's ``add``.
"""
from __future__ import annotations

import contextlib

import numpy as np

from .. import _dtypes


_ALL_DTYPES = frozenset(_dtypes.all_dtypes)


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

    def serial_blas(self):
        """A context in which this backend's BLAS runs on one thread (for loops of small
        products, such as a recurrent layer's steps); nothing to do off the host."""
        return contextlib.nullcontext()

    def chunk_bounds(self, n, work):
        """How a kernel splits ``n`` independent items (``work`` elements in all) among
        threads: consecutive ``(lo, hi)`` ranges covering ``range(n)``; one range here."""
        return ((0, n),)

    def run_chunks(self, fn, bounds):
        """``[fn(lo, hi) for lo, hi in bounds]``, run concurrently where this backend can
        (serially here).  ``fn`` computes on storage only; results are the serial ones."""
        return [fn(lo, hi) for lo, hi in bounds]

    def is_row_major(self, x) -> bool:
        """Whether ``x`` is laid out row-major (True off the host: no layout to keep)."""
        return True

    def c_contiguous(self, x):
        """``x`` in row-major layout (a copy where it is not; ``x`` itself off the host,
        where storage has no layout to choose)."""
        return x

    def matmul_into(self, a, b, out):
        """``out[...] = a @ b`` for ``out`` of the product's shape and dtype (a chunk's rows
        of a joined result), written in place where the backend can."""
        out[...] = self.matmul(a, b)

    def binary_into(self, name, a, b, out):
        """``out[...] = name(a, b)`` for the standard element-wise function ``name`` and
        ``out`` of the result's shape and dtype (a chunk's rows of a joined result), written
        without a temporary where the backend can."""
        out[...] = getattr(self, name)(a, b)

    def clip_scalars(self, x, lo, hi):
        """``min(max(x, lo), hi)`` (NaN stays NaN) for 0-d or Python-number bounds."""
        return self.clip(x, lo, hi)

    # -- dtypes ---------------------------------------------------------------
    def native_dtype(self, dtype):
        return dtype

    def dtype_of(self, data):
        return data.dtype

    def dtype_from_native(self, native):
        """arraylib's dtype for a storage dtype object of this backend."""
        return native

    def supported_dtypes(self):
        """The dtypes this backend stores (a frozenset: tested on every checked call)."""
        return _ALL_DTYPES

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
    def sqrt_dot_self(self, x):
        """``sqrt(sum(x * x))`` over all of a real ``x`` (one dot product; a 0-d result)."""
        v = self.reshape(x, (-1,))
        return self.sqrt(self.vecdot(v, v, axis=-1))

    def indices_below(self, t, n) -> bool:
        """Whether every entry of the integer ``t`` lies in ``[0, n)`` (True when empty)."""
        return t.size == 0 or int(self.min(t)) >= 0 and int(self.max(t)) < n

    def all_finite(self, x) -> bool:
        """Whether every entry of ``x`` is finite (fft's small transforms check their
        results)."""
        return bool(self.all(self.isfinite(x)))

    def cross(self, a, b, axis):
        """The standard's ``linalg.cross`` along (negative) ``axis``."""
        return self.xp.linalg.cross(a, b, axis=axis)

    def assign(self, dst, key, src):
        """``dst[key] = src`` in place."""
        dst[key] = src

    # Whether ``dst op= src`` (the storage's in-place operator) gives the out-of-place
    # result even where ``src`` overlaps ``dst``: NumPy's ufuncs buffer overlapping
    # operands (array-api-strict's arrays are NumPy's).  Where not, ``may_overlap`` says.
    inplace_buffers_overlap = True

    def may_overlap(self, a, b) -> bool:
        """Whether storages ``a`` and ``b`` may share memory."""
        return True

    def gemm_rows(self, n):
        """How many rows to give a matrix product that needs ``n``: more (zero) rows where
        this backend's BLAS runs the larger size faster; the base keeps ``n``."""
        return n

    def batch_minor(self, x):
        """Whether ``x`` (N, C, *spatial) is laid out with its batch axis innermost (by
        strides, where the storage has them); the convolution orders its work by it."""
        strides = getattr(x, "strides", None)
        if strides is None or x.ndim < 3 or x.shape[0] < 2:
            return False
        spatial = [abs(s) for s, d in zip(strides[2:], x.shape[2:]) if d > 1]
        return bool(spatial) and abs(strides[0]) < min(spatial)

    def assign_like(self, like, x):
        """A copy of ``x`` in the memory layout of ``like`` (same shape)."""
        out = self.xp.empty_like(like, dtype=x.dtype)
        out[...] = x
        return out

    def zero_padded(self, x, axis, size):
        """``x`` with zeros appended along ``axis`` up to length ``size`` (``x`` itself when
        nothing is appended)."""
        if x.shape[axis] == size:
            return x
        shape = list(x.shape)
        shape[axis] = size
        out = self.xp.empty(tuple(shape), dtype=x.dtype, device=self.native_device)
        key = [slice(None)] * x.ndim
        key[axis] = slice(x.shape[axis], None)
        out[tuple(key)] = 0
        key[axis] = slice(0, x.shape[axis])
        out[tuple(key)] = x  # one copy, also of a permuted view (concat costs a third more)
        return out

    def scatter_add(self, target, index, values, axis):
        """Add ``values`` into ``target`` at integer ``index`` along ``axis`` (out of place)."""
        host = self.to_numpy(target).copy()
        idx = self.to_numpy(index)
        vals = self.to_numpy(values)
        moved = np.moveaxis(host, axis, 0)
        np.add.at(moved, idx, np.moveaxis(vals, axis, 0))
        return self.from_numpy(host)

    def getitem(self, x, key):
        """``x[key]`` for a NumPy-style key (integer or boolean arrays anywhere, mixed with
        ints, slices and None), via the host; ``key`` holds this backend's arrays."""
        return self.from_numpy(np.array(self.to_numpy(x)[self._host_key(key)]))

    def setitem(self, dst, key, src):
        """``dst[key] = src`` in place for a NumPy-style key (see ``getitem``), via the host."""
        host = self.to_numpy(dst).copy()
        host[self._host_key(key)] = self.to_numpy(src)
        dst[...] = self.from_numpy(host)

    def index_add(self, target, key, values):
        """``target`` with ``values`` added at ``key`` (NumPy-style key; repeated indices
        accumulate), out of place."""
        host = self.to_numpy(target).copy()
        np.add.at(host, self._host_key(key), self.to_numpy(values))
        return self.from_numpy(host)

    def add_at_flat(self, a, index, w):
        """``a`` (a fresh C-ordered array, updated in place where the storage allows) with
        ``w`` added at the distinct flat positions ``index`` (1-D integers): one gather,
        one add, one scatter."""
        flat = self.reshape(a, (-1,))
        key = (index,)
        self.setitem(flat, key, self.getitem(flat, key) + w)
        return self.reshape(flat, a.shape)

    def isin(self, x1, x2, *, invert=False):
        """Elements of ``x1`` found in ``x2`` (any dtypes; NaN matches nothing)."""
        return self.from_numpy(np.asarray(np.isin(self.to_numpy(x1), self.to_numpy(x2),
                                                  invert=invert)))

    def _host_key(self, key):
        at = self.array_type
        return tuple(self.to_numpy(k) if isinstance(k, at) else k for k in key)

    def sliding_window(self, x, window_shape, axes):
        """A read-only view of ``x`` with sliding windows over ``axes`` (NumPy semantics)."""
        return self.from_numpy(np.lib.stride_tricks.sliding_window_view(
            self.to_numpy(x), window_shape, axis=axes).copy())

    def fold_windows(self, windows, shape, axes, strides, dilation):
        """Adjoint of strided/dilated sliding windows (col2im): sum each window element
        back into an array of ``shape``.  ``windows`` has ``shape`` with ``axes`` replaced
        by the window counts and the window dimensions appended (one per axis)."""
        return self.from_numpy(_fold_windows_numpy(self.to_numpy(windows), shape, axes, strides,
                                                   dilation))

    def tobytes(self, data) -> bytes:
        """The values as little-endian C-order bytes (for serialization)."""
        arr = np.ascontiguousarray(self.to_numpy(data))
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        return arr.tobytes()

    def frombuffer(self, buffer, dtype, shape):
        """A new array of ``dtype`` and ``shape`` from little-endian bytes (copied)."""
        arr = np.frombuffer(buffer, dtype=np.dtype(dtype).newbyteorder("<"))
        return self.from_numpy(arr.astype(np.dtype(dtype), copy=True).reshape(shape))

    def format_values(self, data, prefix: str) -> str:
        """The values as text, for ``repr``."""
        return np.array2string(np.asarray(self.to_numpy(data)), separator=", ", prefix=prefix,
                               threshold=1000, edgeitems=3, precision=4)

    def synchronize(self):
        pass


def _fold_windows_numpy(windows, shape, axes, strides, dilation):
    """Host col2im: one strided add per window position (no loop over pixels)."""
    import itertools
    nw = len(axes)
    ksize = windows.shape[windows.ndim - nw:]
    counts = [windows.shape[a] for a in axes]
    out = np.zeros(shape, dtype=windows.dtype)
    if all(s == k and d == 1 for s, k, d in zip(strides, ksize, dilation)) and \
            list(axes) == sorted(axes):
        # Windows tile the input without overlap (e.g. 2x2 pooling): one interleaving copy.
        order, region, key = [], [], [slice(None)] * len(shape)
        for i in range(len(shape)):
            order.append(i)
            if i in axes:
                j = list(axes).index(i)
                order.append(len(shape) + j)
                region.append(counts[j] * ksize[j])
                key[i] = slice(0, counts[j] * ksize[j])
            else:
                region.append(shape[i])
        out[tuple(key)] = windows.transpose(order).reshape(region)
        return out
    for j, pos in enumerate(itertools.product(*[range(k) for k in ksize])):
        key = [slice(None)] * len(shape)
        for a, i, n, s, d in zip(axes, pos, counts, strides, dilation):
            start = i * d
            key[a] = slice(start, start + s * (n - 1) + 1, s)
        if j:
            out[tuple(key)] += windows[(Ellipsis,) + pos]
        else:  # the first position lands on zeros
            out[tuple(key)] = windows[(Ellipsis,) + pos]
    return out

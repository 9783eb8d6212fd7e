"""NumPy storage on the CPU."""
from __future__ import annotations

import ctypes
import os
import sys
import threading
from concurrent import futures

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
# The least work (elements) per range for ``chunk_bounds`` to hand a range to a thread: a
# hand-over costs tens of microseconds, attention's fused kernel ~10 ns per score element.
CHUNK_MIN_WORK = 1 << 15


class _ChunkThreads:
    """``run_chunks``' threads: a lock (one chunked call at a time) and a pool made on first
    use."""

    def __init__(self):
        self.lock = threading.Lock()
        self.pool = None
        self.workers = 0


_CHUNK_THREADS = _ChunkThreads()


def _fresh_chunk_threads():
    """A forked child has none of its parent's threads (and maybe a held lock): new ones."""
    global _CHUNK_THREADS
    _CHUNK_THREADS = _ChunkThreads()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_chunk_threads)
_np_matmul = np.matmul


def _matmul(a, b, /):
    """``np.matmul``; float16 and bfloat16 operands multiply in float32 and round once,
    as PyTorch's CPU kernels accumulate (NumPy's float16 loop has no BLAS, and its
    bfloat16 product comes out float32)."""
    if id(a.dtype) in _HALF_IDS:
        dt = a.dtype
        return _np_matmul(a.astype(_F32), b.astype(_F32)).astype(dt)
    if 0 < a.ndim <= 2 and 0 < b.ndim <= 2 and (b.size <= 256 or b.flags.c_contiguous):
        # the same product without the gufunc machinery (0.4 us against np.matmul's 1 us on
        # 10x10); but ndarray.dot by a larger transposed right operand (x @ w.T) zeroes and
        # repacks its way to half np.matmul's speed (64x64 @ (128x64).T: 29 against 16 us)
        return a.dot(b)
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


def _leading_rows(key):
    """The integer array of an index key that picks whole rows (``idx``, ``(idx,)``,
    ``(idx, ...)``), else None."""
    if key.__class__ is tuple:
        if len(key) == 2 and key[1] is Ellipsis or len(key) == 1:
            key = key[0]
        else:
            return None
    return key if key.__class__ is np.ndarray and key.dtype.kind in "iu" else None


def _add_at_rows(out, rows, values, max_rounds=16):
    """``np.add.at(out, rows, values)`` for an integer array ``rows`` picking rows of
    ``out``: the rows sorted (stably) by index, then added in rounds, the r-th occurrence
    of every index in round r (each round a plain fancy-index add: no index repeats in
    it), bit-identically.  Many repeats of one index: the repeats summed first, with one
    ``np.add.reduceat``, then added."""
    n = out.shape[0] if out.ndim else 0
    idx = rows.reshape(-1) if rows.__class__ is np.ndarray and rows.dtype.kind in "iu" \
        else rows
    if idx is rows or not idx.size or values.dtype != out.dtype or \
            values.shape != rows.shape + out.shape[1:] or idx.min() < -n or idx.max() >= n:
        np.add.at(out, rows, values)  # (its broadcasting, casting and errors)
        return
    if idx.dtype.kind == "i" and idx.min() < 0:
        idx = np.where(idx < 0, idx + n, idx)
    values = values.reshape((idx.size,) + out.shape[1:])
    order = np.argsort(idx, kind="stable")
    ranked = idx[order]
    first = np.empty(ranked.shape, dtype=bool)
    first[0] = True
    np.not_equal(ranked[1:], ranked[:-1], out=first[1:])
    if first.all():  # no repeats
        out[idx] += values
        return
    pos = np.arange(idx.size)
    rank = pos - np.maximum.accumulate(np.where(first, pos, 0))
    counts = np.bincount(rank)
    if counts.size > max_rounds:
        starts = np.flatnonzero(first)
        out[ranked[starts]] += np.add.reduceat(values[order], starts, axis=0)
        return
    by_round = order[np.argsort(rank, kind="stable")]
    start = 0
    for c in counts.tolist():
        sel = by_round[start:start + c]
        out[idx[sel]] += values[sel]
        start += c

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

    # -- chunked kernels over a few threads (NumPy releases the GIL in BLAS and ufunc loops)
    def _blas_libs(self):
        if self._blas_control is None:
            self._blas_control = threadpoolctl.ThreadpoolController()
        return self._blas_control.select(user_api="blas").lib_controllers

    def chunk_bounds(self, n, work):
        """As many ranges as the BLAS thread limit (threadpoolctl's, read now) allows and
        ``work`` pays for (``CHUNK_MIN_WORK`` elements each): one at a 1-thread limit."""
        count = min(n, work // CHUNK_MIN_WORK)
        if count < 2:
            return ((0, n),)
        count = min(count, min((lib.num_threads for lib in self._blas_libs()), default=1))
        if count < 2:
            return ((0, n),)
        return tuple((n * i // count, n * (i + 1) // count) for i in range(count))

    def c_contiguous(self, x):
        # OpenBLAS multiplies a stack of small matrices by row-major right operands up to
        # twice as fast as by transposed views (attention's q @ k^T: 560 against 320 us)
        return np.ascontiguousarray(x)

    def matmul_into(self, a, b, out):
        if id(a.dtype) in _HALF_IDS:
            out[...] = _matmul(a, b)
        else:
            _np_matmul(a, b, out=out)

    def run_chunks(self, fn, bounds):
        """The ranges on a thread each, BLAS at one thread meanwhile (no oversubscription);
        serial when one range, or when another call is running chunks (nested or from a
        second thread)."""
        if len(bounds) < 2:
            return [fn(lo, hi) for lo, hi in bounds]
        threads = _CHUNK_THREADS
        if not threads.lock.acquire(blocking=False):
            return [fn(lo, hi) for lo, hi in bounds]
        try:
            return self._run_chunks_pooled(threads, fn, bounds)
        finally:
            threads.lock.release()

    def _run_chunks_pooled(self, threads, fn, bounds):
        workers = len(bounds) - 1
        pool = threads.pool
        if pool is None or threads.workers < workers:
            threads.workers = max(workers, (os.cpu_count() or 2) - 1)
            pool = threads.pool = futures.ThreadPoolExecutor(
                max_workers=threads.workers, thread_name_prefix="arraylib-chunks")
        libs = self._blas_libs()
        limits = [lib.num_threads for lib in libs]
        for lib in libs:
            lib.set_num_threads(1)
        try:
            pending = [pool.submit(fn, lo, hi) for lo, hi in bounds[1:]]
            try:
                first = fn(*bounds[0])
            finally:
                futures.wait(pending)
            return [first] + [f.result() for f in pending]
        finally:
            for lib, limit in zip(libs, limits):
                lib.set_num_threads(limit)

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
        _add_at_rows(np.moveaxis(out, axis, 0), index, np.moveaxis(values, axis, 0))
        return out

    def getitem(self, x, key):
        return x[key]

    def setitem(self, dst, key, src):
        dst[key] = src

    def index_add(self, target, key, values):
        out = target.copy()
        rows = _leading_rows(key)
        if rows is None:
            np.add.at(out, key, values)
        else:
            _add_at_rows(out, rows, values)
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

    def argmax(self, x, /, *, axis=None, keepdims=False):
        return x.argmax(axis=axis, keepdims=keepdims)  # (np.argmax wraps this in Python)

    def argmin(self, x, /, *, axis=None, keepdims=False):
        return x.argmin(axis=axis, keepdims=keepdims)

    def all(self, x, /, *, axis=None, keepdims=False):
        return np.logical_and.reduce(x, axis=axis, keepdims=keepdims)

    def any(self, x, /, *, axis=None, keepdims=False):
        return np.logical_or.reduce(x, axis=axis, keepdims=keepdims)

    def prod(self, x, /, *, axis=None, dtype=None, keepdims=False):
        if id(x.dtype) in _HALF_IDS:  # (array-api-compat's rules for the half types)
            return self.xp.prod(x, axis=axis, dtype=dtype, keepdims=keepdims)
        return np.multiply.reduce(x, axis=axis, dtype=dtype, keepdims=keepdims)

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

    def roll(self, x, /, shift, *, axis=None):
        """``np.roll`` as one concatenation of two slices per axis (np.roll is Python
        code: ~3x slower on small inputs); other calls go to np.roll for its errors."""
        if axis is None:
            if type(shift) is not int:
                return np.roll(x, shift)
            return self.roll(x.reshape(-1), shift, axis=0).reshape(x.shape)
        axes = (axis,) if type(axis) is int else axis
        shifts = (shift,) * len(axes) if type(shift) is int else shift
        nd = x.ndim
        if type(shifts) is not tuple or len(shifts) != len(axes):
            return np.roll(x, shift, axis=axis)
        total = [0] * nd
        for a, s in zip(axes, shifts):
            if type(a) is not int or type(s) is not int or not -nd <= a < nd:
                return np.roll(x, shift, axis=axis)
            total[a] += s
        out = x
        for a, s in enumerate(total):
            n = x.shape[a]
            if n == 0 or s % n == 0:
                continue
            cut = n - s % n
            lead = (slice(None),) * a
            out = np.concatenate((out[lead + (slice(cut, None),)], out[lead + (slice(0, cut),)]),
                                 axis=a)
        return x.copy() if out is x else out

    def unique_values(self, x, /):
        """Sorted distinct values, each NaN distinct: one sort and one mask (np.unique
        is Python code: ~4x slower on small inputs)."""
        s = np.sort(x, axis=None)
        if s.size < 2:
            return s
        keep = np.empty(s.shape, dtype=bool)
        keep[0] = True
        np.not_equal(s[1:], s[:-1], out=keep[1:])
        return s[keep]

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

    def take(self, x, indices, /, *, axis=None):
        # the ndarray method (np.take is a Python dispatcher: ~1 us a call)
        if axis is None and x.ndim != 1:
            return np.take(x, indices)
        return x.take(indices, axis=axis)

    def matrix_transpose(self, x):
        return x.swapaxes(-1, -2)

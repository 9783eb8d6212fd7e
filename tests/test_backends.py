"""The storage backends' own kernels (the ones the standard lacks), on every backend here:
the NumPy backend (cpu), the array-api-strict emulated devices (strict:device1, and
strict:no_float64, which has no float64), and cuda where CuPy sees a GPU.

Each kernel is compared with a NumPy reference computed independently here (explicit loops,
``np.add.at``, ``np.pad``, NumPy indexing, NumPy's own generator), edge cases
included: strides and dilations, empty arrays, one-element arrays, repeated indices.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import arraylib as xp
from arraylib import _backends
from arraylib._backends import _random_host

NAMES = ["cpu", "strict:device1", "strict:no_float64"]
if _backends.cuda_available():
    NAMES.append("cuda")


@pytest.fixture(params=NAMES)
def B(request):
    """A storage backend, obtained as the package does: through its device."""
    return xp.Device(request.param).backend


def _float(B):
    """The widest real floating dtype the backend has (float64, or float32 without it)."""
    return np.dtype("float64") if xp.float64 in B.supported_dtypes() else np.dtype("float32")


def _tol(B):
    return dict(rtol=1e-12, atol=1e-12) if _float(B) == np.float64 else dict(rtol=1e-5, atol=1e-5)


def _rand(B, *shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(_float(B))


def put(B, a):
    """NumPy array -> storage of ``B`` (asserting what from_numpy promises)."""
    d = B.from_numpy(np.asarray(a))
    assert isinstance(d, B.array_type)
    return d


def get(B, d):
    """Storage -> a NumPy array."""
    h = B.to_numpy(d)
    assert isinstance(h, np.ndarray)
    return h


# -- moving data ----------------------------------------------------------------------------
def test_backend_of_device():
    for name in NAMES:
        B = xp.Device(name).backend
        assert B is xp.Device(name).backend  # one backend per device
        assert isinstance(B, _backends.Backend)
    assert xp.Device("cpu").backend.host
    assert not xp.Device("strict:device1").backend.host
    assert xp.Device("strict:device1").backend is not xp.Device("strict:no_float64").backend


@pytest.mark.parametrize("shape", [(), (0,), (1,), (2, 3), (0, 4, 2), (3, 1, 2)])
def test_numpy_round_trip(B, shape):
    for dt in B.supported_dtypes():
        dt = np.dtype(dt)
        a = (np.arange(int(np.prod(shape))) % 3).reshape(shape).astype(dt)
        d = put(B, a)
        assert B.dtype_of(d) == dt
        assert tuple(d.shape) == shape
        back = get(B, d)
        assert back.dtype == dt and back.shape == shape
        np.testing.assert_array_equal(back, a)


def test_from_numpy_of_a_view(B):
    a = _rand(B, 3, 4)
    for view in (a.T, a[::2, ::-1], a[1]):
        np.testing.assert_array_equal(get(B, put(B, view)), view)


def test_transfer_between_backends(B):
    # the package moves storage between devices through the host: to_numpy then from_numpy
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    src = put(B, a)
    for name in NAMES:
        dst = xp.Device(name).backend
        moved = dst.from_numpy(B.to_numpy(src))
        assert isinstance(moved, dst.array_type) and dst.dtype_of(moved) == np.float32
        np.testing.assert_array_equal(get(dst, moved), a)


def test_asarray(B):
    f = _float(B)
    d = B.asarray([[1, 2], [3, 4]], dtype=xp.float32)
    assert isinstance(d, B.array_type) and B.dtype_of(d) == np.float32
    np.testing.assert_array_equal(get(B, d), np.array([[1, 2], [3, 4]], np.float32))
    host = np.arange(4, dtype=f)
    copied = B.asarray(host, copy=True)
    host[0] = 42
    assert get(B, copied)[0] == 0  # a copy does not follow the source
    assert B.dtype_of(B.asarray(np.arange(3, dtype=np.int16))) == np.int16
    assert B.dtype_of(B.asarray(True)) == np.bool_


def test_dtypes(B):
    supported = B.supported_dtypes()
    names = {str(d) for d in supported}
    assert {"bool", "int8", "int64", "uint8", "float32", "complex64"} <= names
    if B is xp.Device("strict:no_float64").backend:
        assert "float64" not in names and "complex128" not in names
    else:
        assert {"float64", "complex128"} <= names
    for dt in supported:
        native = B.native_dtype(dt)
        assert B.dtype_from_native(native) == dt
        assert B.dtype_of(B.asarray([0], dtype=dt)) == dt


def test_no_float64_device_refuses_float64():
    B = xp.Device("strict:no_float64").backend
    assert xp.float64 not in B.supported_dtypes()
    with pytest.raises((ValueError, TypeError)):
        B.from_numpy(np.zeros(2))


def test_ensure_array(B):
    d = put(B, _rand(B, 4))
    assert B.ensure_array(d) is d
    s = B.sum(d)  # a reduction to 0-d: NumPy hands back a scalar
    e = B.ensure_array(s)
    assert isinstance(e, B.array_type) and tuple(e.shape) == ()
    np.testing.assert_allclose(get(B, e), get(B, d).sum(), **_tol(B))


@pytest.mark.parametrize("dtype", ["float32", "int64", "uint16", "complex64", "bool"])
def test_tobytes_frombuffer(B, dtype):
    a = (np.arange(12).reshape(3, 4) % 5).astype(dtype)
    for view in (a, a.T, a[:, ::2], a[:0]):
        raw = B.tobytes(put(B, view))
        assert raw == np.ascontiguousarray(view).astype(view.dtype.newbyteorder("<")).tobytes()
        buf = bytearray(raw)
        d = B.frombuffer(buf, view.dtype, view.shape)
        buf[:] = bytes(len(buf))  # the array is a copy of the buffer
        assert isinstance(d, B.array_type) and B.dtype_of(d) == view.dtype
        np.testing.assert_array_equal(get(B, d), view)


def test_tobytes_is_little_endian_on_host():
    B = xp.Device("cpu").backend
    big = np.arange(3, dtype=">f8")
    assert B.tobytes(B.from_numpy(big)) == np.arange(3, dtype="<f8").tobytes()
    assert B.tobytes(B.from_numpy(np.arange(3, dtype=">i4"))) == \
        np.arange(3, dtype="<i4").tobytes()


def test_format_values_is_the_same_text_on_every_backend(B):
    a = np.array([[1.5, -2.0], [3.25, 0.0]], dtype=np.float32)
    text = B.format_values(put(B, a), "tensor(")
    ref = xp.Device("cpu").backend.format_values(a, "tensor(")
    assert text == ref
    assert "1.5" in text and "-2." in text and "3.25" in text
    long = B.format_values(put(B, np.arange(5000, dtype=np.int32)), "")
    assert "..." in long and "4999" in long  # summarized, ends kept


# -- kernels ----------------------------------------------------------------------------------
def test_assign(B):
    a = _rand(B, 3, 4)
    d = put(B, a)
    src = _rand(B, 2, 4, seed=1)
    B.assign(d, (slice(1, 3), slice(None)), put(B, src))  # a standard (complete) key
    ref = a.copy()
    ref[1:3] = src
    np.testing.assert_array_equal(get(B, d), ref)
    B.assign(d, (0, slice(None, None, 2)), put(B, np.array([7.0, 8.0], dtype=a.dtype)))
    ref[0, ::2] = [7.0, 8.0]
    np.testing.assert_array_equal(get(B, d), ref)
    B.assign(d, (Ellipsis,), put(B, np.array(0.5, dtype=a.dtype)))  # broadcast
    np.testing.assert_array_equal(get(B, d), np.full((3, 4), 0.5))


def test_assign_like(B):
    like = put(B, _rand(B, 4, 3).T)  # (3, 4), column-major on hosts with strides
    x = _rand(B, 3, 4, seed=2)
    xd = put(B, x.copy())  # (the NumPy backend's storage is the array itself)
    out = B.assign_like(like, xd)
    assert isinstance(out, B.array_type) and tuple(out.shape) == (3, 4)
    assert B.dtype_of(out) == B.dtype_of(xd)
    np.testing.assert_array_equal(get(B, out), x)
    B.assign(xd, (Ellipsis,), put(B, np.zeros((3, 4), dtype=x.dtype)))
    np.testing.assert_array_equal(get(B, out), x)  # a copy, not a view of x
    if B.host:
        assert out.flags.f_contiguous and not out.flags.c_contiguous  # like's layout
        c = B.assign_like(put(B, _rand(B, 3, 4)), put(B, x.T.copy().T))
        assert c.flags.c_contiguous
    # another dtype than like's: x's dtype wins
    ints = B.assign_like(like, put(B, np.arange(12, dtype=np.int32).reshape(3, 4)))
    assert B.dtype_of(ints) == np.int32
    np.testing.assert_array_equal(get(B, ints), np.arange(12).reshape(3, 4))


def test_batch_minor(B):
    C, H, W, N = 2, 3, 4, 5
    batch_major = put(B, _rand(B, N, C, H, W))
    assert B.batch_minor(batch_major) is False
    minor = B.permute_dims(put(B, _rand(B, C, H, W, N)), (3, 0, 1, 2))  # rows (C, H, W, N)
    assert tuple(minor.shape) == (N, C, H, W)
    if B.host or hasattr(minor, "strides"):
        assert B.batch_minor(minor) is True
        # a batch of one, fewer than 3 dimensions, no spatial extent: never batch-minor
        assert B.batch_minor(B.permute_dims(put(B, _rand(B, C, H, W, 1)), (3, 0, 1, 2))) is False
        assert B.batch_minor(B.permute_dims(put(B, _rand(B, C, N)), (1, 0))) is False
        assert B.batch_minor(B.permute_dims(put(B, _rand(B, C, 1, 1, N)), (3, 0, 1, 2))) is False
    else:  # storage without strides has no layout to tell
        assert B.batch_minor(minor) is False


def test_gemm_rows(B):
    rng = np.random.default_rng(0)
    for n in range(0, 20):
        m = B.gemm_rows(n)
        assert isinstance(m, int) and m >= n, (n, m)
        # the intended use: a product on m (zero-padded) rows, cut back to n, is the product
        a = rng.standard_normal((n, 3)).astype(_float(B))
        b = rng.standard_normal((3, 2)).astype(_float(B))
        padded = B.zero_padded(put(B, a), 0, m)
        prod = get(B, B.matmul(padded, put(B, b)))
        assert prod.shape == (m, 2)
        np.testing.assert_allclose(prod[:n], a @ b, **_tol(B))
        assert not np.any(prod[n:])


@pytest.mark.parametrize("shape, axis, size", [((3, 4), 0, 5), ((3, 4), 1, 7), ((3, 4), -1, 6),
                                               ((2, 3, 4), 1, 4), ((0, 3), 0, 2), ((2, 0), 1, 3),
                                               ((1,), 0, 2), ((1, 1), 1, 8)])
def test_zero_padded(B, shape, axis, size):
    a = _rand(B, *shape) + 1.0
    out = B.zero_padded(put(B, a), axis, size)
    widths = [(0, 0)] * a.ndim
    widths[axis] = (0, size - shape[axis])
    ref = np.pad(a, widths)
    got = get(B, out)
    assert got.dtype == a.dtype
    np.testing.assert_array_equal(got, ref)


def test_zero_padded_nothing_to_append_is_the_input(B):
    d = put(B, _rand(B, 3, 4))
    assert B.zero_padded(d, 0, 3) is d
    assert B.zero_padded(d, 1, 4) is d


def test_zero_padded_of_a_permuted_view_and_integers(B):
    a = _rand(B, 4, 3, 2)
    view = B.permute_dims(put(B, a), (2, 0, 1))
    np.testing.assert_array_equal(get(B, B.zero_padded(view, 2, 5)),
                                  np.pad(a.transpose(2, 0, 1), [(0, 0), (0, 0), (0, 2)]))
    ints = np.arange(6, dtype=np.int64).reshape(2, 3) + 1
    got = get(B, B.zero_padded(put(B, ints), 0, 4))
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, np.pad(ints, [(0, 2), (0, 0)]))


# sliding windows: NumPy's sliding_window_view layout (window dimensions appended)
def _windows_ref(a, window_shape, axes):
    """Explicit loops: out[..., i_a, ..., j_0, j_1...] = a[..., i_a + j_a, ...]."""
    out_shape = list(a.shape)
    for ax, k in zip(axes, window_shape):
        out_shape[ax] -= k - 1
    out = np.empty(tuple(out_shape) + tuple(window_shape), a.dtype)
    for idx in itertools.product(*[range(n) for n in out_shape]):
        for win in itertools.product(*[range(k) for k in window_shape]):
            src = list(idx)
            for ax, j in zip(axes, win):
                src[ax] += j
            out[idx + win] = a[tuple(src)]
    return out


@pytest.mark.parametrize("shape, window_shape, axes", [
    ((7,), (3,), (0,)), ((7,), (7,), (0,)), ((7,), (1,), (0,)), ((1,), (1,), (0,)),
    ((2, 3, 6, 5), (3, 2), (2, 3)), ((2, 3, 6, 5), (2, 3), (3, 2)),  # axes in any order
    ((4, 5), (2,), (0,)), ((0, 5), (2,), (1,)), ((3, 0, 4), (4,), (2,)),
    ((2, 3, 4, 5, 3), (2, 2, 3), (2, 3, 4)),
])
def test_sliding_window(B, shape, window_shape, axes):
    a = _rand(B, *shape)
    w = B.sliding_window(put(B, a), window_shape, axes)
    got = get(B, w)
    ref = _windows_ref(a, window_shape, axes)
    assert got.shape == ref.shape
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("stride, dilation", [((1, 1), (1, 1)), ((2, 1), (1, 1)),
                                              ((1, 3), (2, 1)), ((2, 2), (2, 3)), ((3, 2), (1, 2))])
def test_sliding_window_strided_dilated(B, stride, dilation):
    # as the window primitive takes them: windows of the dilated extent, then every s-th
    # window and every d-th element of a window
    a = _rand(B, 2, 3, 9, 8)
    kernel, axes = (3, 2), (2, 3)
    spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    v = B.sliding_window(put(B, a), spans, axes)
    v = v[:, :, ::stride[0], ::stride[1], ::dilation[0], ::dilation[1]]
    got = get(B, v)
    counts = [(a.shape[ax] - sp) // s + 1 for ax, sp, s in zip(axes, spans, stride)]
    ref = np.empty((2, 3) + tuple(counts) + kernel, a.dtype)
    for i, j, p, q in itertools.product(range(counts[0]), range(counts[1]), range(kernel[0]),
                                        range(kernel[1])):
        ref[:, :, i, j, p, q] = a[:, :, i * stride[0] + p * dilation[0],
                                  j * stride[1] + q * dilation[1]]
    np.testing.assert_array_equal(got, ref)


def test_sliding_window_too_large(B):
    d = put(B, _rand(B, 2, 3))
    with pytest.raises(ValueError):
        B.sliding_window(d, (4,), (1,))
    with pytest.raises(ValueError):
        B.sliding_window(put(B, _rand(B, 0, 3)), (1,), (0,))


def test_sliding_window_does_not_write_through(B):
    a = _rand(B, 6)
    d = put(B, a)
    w = B.sliding_window(d, (3,), (0,))
    if B.host:  # a view: read-only, so a write cannot reach the input through overlaps
        assert not w.flags.writeable
        with pytest.raises(ValueError):
            w[0, 0] = 1.0
    np.testing.assert_array_equal(get(B, d), a)


# fold: the adjoint of strided/dilated windows (col2im)
def _fold_ref(windows, shape, axes, strides, dilation):
    """Explicit loops: out[..., i*s + j*d, ...] += windows[..., i, ..., j]."""
    nw = len(axes)
    ksize = windows.shape[windows.ndim - nw:]
    lead = windows.shape[:windows.ndim - nw]
    out = np.zeros(shape, windows.dtype)
    for idx in itertools.product(*[range(n) for n in lead]):
        for win in itertools.product(*[range(k) for k in ksize]):
            dst = list(idx)
            for ax, j, s, d in zip(axes, win, strides, dilation):
                dst[ax] = idx[ax] * s + j * d
            out[tuple(dst)] += windows[idx + win]
    return out


def _counts(shape, ksize, axes, strides, dilation):
    return [(shape[a] - (d * (k - 1) + 1)) // s + 1
            for a, k, s, d in zip(axes, ksize, strides, dilation)]


@pytest.mark.parametrize("shape, ksize, axes, strides, dilation", [
    ((2, 3, 6, 5), (2, 3), (2, 3), (2, 1), (1, 2)),
    ((2, 3, 6, 5), (3, 2), (2, 3), (1, 1), (1, 1)),   # overlapping
    ((2, 3, 6, 4), (2, 2), (2, 3), (2, 2), (1, 1)),   # windows tile the input
    ((2, 3, 7, 5), (2, 2), (2, 3), (2, 2), (1, 1)),   # tiles that leave a margin
    ((2, 6, 4), (2, 2), (2, 1), (2, 2), (1, 1)),      # tiles, axes out of order
    ((2, 3, 9, 8), (3, 2), (2, 3), (3, 2), (2, 3)),   # stride and dilation > 1
    ((1, 1, 7), (3,), (2,), (2,), (2,)),
    ((1,), (1,), (0,), (1,), (1,)),                   # one element
    ((5,), (5,), (0,), (1,), (1,)),                   # one window
    ((0, 3, 4, 4), (2, 2), (2, 3), (2, 2), (1, 1)),   # empty batch
    ((2, 3, 5, 4), (3, 3), (2, 3), (4, 4), (1, 1)),   # stride larger than the kernel
])
def test_fold_windows(B, shape, ksize, axes, strides, dilation):
    counts = _counts(shape, ksize, axes, strides, dilation)
    wshape = list(shape)
    for a, n in zip(axes, counts):
        wshape[a] = n
    windows = _rand(B, *(tuple(wshape) + tuple(ksize)), seed=3)
    got = get(B, B.fold_windows(put(B, windows), shape, axes, strides, dilation))
    ref = _fold_ref(windows, shape, axes, strides, dilation)
    assert got.shape == tuple(shape) and got.dtype == windows.dtype
    np.testing.assert_allclose(got, ref, **_tol(B))


def test_fold_windows_is_the_adjoint_of_windows(B):
    # <fold(w), x> == <windows(x), w> for strided, dilated windows
    shape, ksize, axes, strides, dilation = (2, 2, 9, 7), (3, 2), (2, 3), (2, 1), (1, 3)
    x = _rand(B, *shape, seed=4)
    spans = tuple(d * (k - 1) + 1 for k, d in zip(ksize, dilation))
    v = B.sliding_window(put(B, x), spans, axes)
    v = get(B, v[:, :, ::strides[0], ::strides[1], ::dilation[0], ::dilation[1]])
    w = _rand(B, *v.shape, seed=5)
    folded = get(B, B.fold_windows(put(B, w), shape, axes, strides, dilation))
    lhs, rhs = float(np.sum(folded * x)), float(np.sum(v * w))
    assert math.isclose(lhs, rhs, rel_tol=1e-10 if _float(B) == np.float64 else 1e-4)


@pytest.mark.parametrize("tshape, index, axis", [
    ((5, 3), [0, 2, 2, 4, 0, 0], 0),      # repeated indices accumulate
    ((3, 5), [4, 1, 1], 1),
    ((2, 4, 3), [3, 3, 3, 3], 1),
    ((4, 2), [], 0),                      # nothing to add
    ((1,), [0, 0, 0], 0),
    ((0, 3), [], 0),
])
def test_scatter_add(B, tshape, index, axis):
    rng = np.random.default_rng(6)
    target = rng.standard_normal(tshape).astype(_float(B))
    vshape = list(tshape)
    vshape[axis] = len(index)
    values = rng.standard_normal(vshape).astype(_float(B))
    idx = np.asarray(index, dtype=np.int64)
    td = put(B, target)
    out = get(B, B.scatter_add(td, put(B, idx), put(B, values), axis))
    ref = target.copy()
    np.add.at(np.moveaxis(ref, axis, 0), idx, np.moveaxis(values, axis, 0))
    np.testing.assert_allclose(out, ref, **_tol(B))
    np.testing.assert_array_equal(get(B, td), target)  # out of place


def _key(B, key):
    return tuple(put(B, k) if isinstance(k, np.ndarray) else k for k in key)


KEYS = [
    (np.array([0, 2, 2]),),
    (slice(None), np.array([1, 0])),
    (np.array([[0], [2]]), np.array([1, 3])),          # broadcasting index arrays
    (1, np.array([3, 0, 3])),
    (np.array([True, False, True]),),
    (np.array([0, 2]), slice(1, 3)),
    (slice(None), None, np.array([0, 1])),              # None mixed in
    (Ellipsis, np.array([2, 2, 1])),
    (np.array([], dtype=np.int64),),
]


@pytest.mark.parametrize("key", KEYS, ids=[str(i) for i in range(len(KEYS))])
def test_getitem(B, key):
    a = _rand(B, 3, 4)
    got = get(B, B.getitem(put(B, a), _key(B, key)))
    np.testing.assert_array_equal(got, a[key])


@pytest.mark.parametrize("key", KEYS, ids=[str(i) for i in range(len(KEYS))])
def test_setitem(B, key):
    a = _rand(B, 3, 4)
    src = np.arange(a[key].size, dtype=a.dtype).reshape(a[key].shape) + 10.0
    d = put(B, a)
    B.setitem(d, _key(B, key), put(B, src))
    ref = a.copy()
    ref[key] = src
    np.testing.assert_array_equal(get(B, d), ref)


@pytest.mark.parametrize("key", KEYS, ids=[str(i) for i in range(len(KEYS))])
def test_index_add(B, key):
    a = _rand(B, 3, 4)
    vals = _rand(B, *a[key].shape, seed=7)
    d = put(B, a)
    out = get(B, B.index_add(d, _key(B, key), put(B, vals)))
    ref = a.copy()
    np.add.at(ref, key, vals)  # repeated indices accumulate
    np.testing.assert_allclose(out, ref, **_tol(B))
    np.testing.assert_array_equal(get(B, d), a)  # out of place


def test_index_add_repeats_accumulate(B):
    z = put(B, np.zeros(4, dtype=_float(B)))
    out = get(B, B.index_add(z, (put(B, np.array([1, 1, 1, 3])),),
                             put(B, np.ones(4, dtype=_float(B)))))
    np.testing.assert_array_equal(out, [0, 3, 0, 1])


def test_isin(B):
    f = _float(B)
    x1 = np.array([[1.0, np.nan, 3.0], [4.0, 2.0, -0.0]], dtype=f)
    x2 = np.array([2.0, np.nan, 0.0, 5.0], dtype=f)
    got = get(B, B.isin(put(B, x1), put(B, x2)))
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got, [[False, False, False], [False, True, True]])  # NaN: no
    inv = get(B, B.isin(put(B, x1), put(B, x2), invert=True))
    np.testing.assert_array_equal(inv, ~got)
    ints = get(B, B.isin(put(B, np.array([1, 5, 7], np.int64)), put(B, np.array([7, 1], np.int32))))
    np.testing.assert_array_equal(ints, [True, False, True])
    empty = get(B, B.isin(put(B, np.zeros((0, 2), f)), put(B, x2)))
    assert empty.shape == (0, 2)
    none = get(B, B.isin(put(B, x1), put(B, np.zeros(0, f))))
    assert not none.any() and none.shape == x1.shape



def test_synchronize(B):
    d = put(B, _rand(B, 3))
    assert B.synchronize() is None
    np.testing.assert_array_equal(get(B, d), _rand(B, 3))


# -- random numbers (drawn on the host: the same seed gives the same numbers everywhere) --------
def _ref_rng(seed):
    return np.random.Generator(np.random.PCG64(seed))


@pytest.mark.parametrize("shape", [(), (0,), (1,), (3, 4)])
def test_draw_uniform_and_normal_are_numpys(B, shape):
    f = _float(B)
    u = get(B, _random_host.draw(B, _random_host.new_rng(7), "uniform", shape, f))
    assert u.dtype == f and u.shape == shape
    np.testing.assert_array_equal(u, _ref_rng(7).random(shape, dtype=f))
    n = get(B, _random_host.draw(B, _random_host.new_rng(7), "normal", shape, f))
    np.testing.assert_array_equal(n, _ref_rng(7).standard_normal(shape, dtype=f))
    i = get(B, _random_host.draw(B, _random_host.new_rng(7), "integers", shape, np.int64,
                                 low=-3, high=9))
    assert i.dtype == np.int64
    np.testing.assert_array_equal(i, _ref_rng(7).integers(-3, 9, size=shape, dtype=np.int64))


def test_draw_same_numbers_on_every_backend(B):
    cpu = xp.Device("cpu").backend
    for kind, dt, params in [("uniform", "float32", dict(low=-2.0, high=3.0)),
                             ("normal", "float32", dict(mean=1.0, std=0.5)),
                             ("normal", "complex64", {}),
                             ("integers", "int32", dict(low=0, high=5)),
                             ("integers", "float32", dict(low=0, high=5)),
                             ("permutation", "int64", dict(n=10))]:
        shape = (10,) if kind == "permutation" else (4, 5)
        here = get(B, _random_host.draw(B, _random_host.new_rng(3), kind, shape, dt, **params))
        there = cpu.to_numpy(_random_host.draw(cpu, _random_host.new_rng(3), kind, shape, dt,
                                               **params))
        assert here.dtype == np.dtype(dt) and here.shape == shape
        np.testing.assert_array_equal(here, there, err_msg=kind)


def test_draw_distributions(B):
    f = _float(B)
    rng = _random_host.new_rng(11)
    n = 200_000
    u = get(B, _random_host.draw(B, rng, "uniform", (n,), f, low=-2.0, high=3.0))
    assert u.dtype == f and u.min() >= -2.0 and u.max() < 3.0
    assert abs(u.mean() - 0.5) < 5 * 5 / math.sqrt(12 * n)
    g = get(B, _random_host.draw(B, rng, "normal", (n,), f, mean=1.0, std=0.5))
    assert abs(g.mean() - 1.0) < 5 * 0.5 / math.sqrt(n)
    assert abs(g.std() - 0.5) < 5 * 0.5 / math.sqrt(2 * n)
    c = get(B, _random_host.draw(B, rng, "normal", (n,), "complex64"))
    assert c.dtype == np.complex64
    # complex normal: real and imaginary parts independent, variance 1/2 each (PyTorch's)
    assert abs(c.real.var() - 0.5) < 0.01 and abs(c.imag.var() - 0.5) < 0.01
    assert abs(np.mean(c.real * c.imag)) < 0.01
    cu = get(B, _random_host.draw(B, rng, "uniform", (n,), "complex64"))
    assert cu.dtype == np.complex64
    assert cu.real.min() >= 0.0 and cu.real.max() < 1.0 and abs(cu.real.mean() - 0.5) < 0.01
    assert cu.imag.min() >= 0.0 and cu.imag.max() < 1.0 and abs(cu.imag.mean() - 0.5) < 0.01
    i = get(B, _random_host.draw(B, rng, "integers", (n,), np.int16, low=-4, high=4))
    assert i.dtype == np.int16 and set(np.unique(i)) == set(range(-4, 4))
    p = get(B, _random_host.draw(B, rng, "permutation", (7,), np.int64, n=7))
    np.testing.assert_array_equal(np.sort(p), np.arange(7))
    assert get(B, _random_host.draw(B, rng, "permutation", (0,), np.int64, n=0)).shape == (0,)


def test_draw_state_and_seeds(B):
    f = _float(B)
    rng = _random_host.new_rng(5)
    state = _random_host.get_state(rng)
    a = get(B, _random_host.draw(B, rng, "normal", (6,), f))
    b = get(B, _random_host.draw(B, rng, "normal", (6,), f))
    assert not np.array_equal(a, b)  # the generator moves on
    _random_host.set_state(rng, state)
    np.testing.assert_array_equal(get(B, _random_host.draw(B, rng, "normal", (6,), f)), a)
    state["state"]["state"] += 1  # the saved state is a copy, not the generator's own
    np.testing.assert_array_equal(get(B, _random_host.draw(B, rng, "normal", (6,), f)), b)
    s1, s2 = _random_host.entropy_seed(), _random_host.entropy_seed()
    assert isinstance(s1, int) and 0 <= s1 < 2 ** 64 and s1 != s2
    with pytest.raises(ValueError, match="unknown kind"):
        _random_host.draw(B, rng, "cauchy", (2,), f)

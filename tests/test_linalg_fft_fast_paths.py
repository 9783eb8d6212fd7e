"""The NumPy backend's lean linalg/fft paths and the memoized checks of linalg and fft.

The backend's ``linalg`` (LAPACK gufuncs without numpy.linalg's wrappers) and ``fft``
(pocketfft's gufuncs) must give exactly what array-api-compat's namespaces give: the same
values bit for bit, dtypes, shapes, errors and warnings, on random, ill-conditioned,
rank-deficient, complex, batched, empty and non-finite inputs.  The public functions keep
their checks after a call is memoized, and run on the emulated devices.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import arraylib as xp

from _fd import check_grads
from conftest import assert_close, to_numpy

RNG = np.random.default_rng(417)
CPU = xp.Device("cpu")
B = CPU.backend
FLOATS = ("float32", "float64", "complex64", "complex128")


def _compat():
    import array_api_compat.numpy as cnp  # (the reference: the namespace the paths replace)
    return cnp


def _host(shape, dtype):
    a = RNG.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * RNG.standard_normal(shape)
    return a.astype(dtype)


def _matrices(dtype):
    """Random (square, tall, wide, batched, 1x1), empty, ill-conditioned (Hilbert),
    rank-deficient and non-finite matrices."""
    out = [_host(s, dtype) for s in [(3, 3), (4, 2), (2, 4), (2, 3, 3), (1, 1), (10, 10)]]
    out += [np.zeros((0, 3, 3), dtype), np.zeros((3, 0), dtype)]
    out.append((1.0 / (np.arange(1, 9)[:, None] + np.arange(8)[None, :])).astype(dtype))
    out += [np.ones((4, 4), dtype), np.zeros((3, 3), dtype)]
    for bad in (np.nan, np.inf):
        a = _host((3, 3), dtype)
        a[1, 2] = bad
        out.append(a)
    return out


def _spd(a):
    if a.ndim < 2 or a.shape[-1] != a.shape[-2] or not a.size:
        return a
    with np.errstate(invalid="ignore", over="ignore"):
        return a @ np.conj(np.swapaxes(a, -1, -2)) + np.eye(a.shape[-1], dtype=a.dtype)


def _outcome(fn, *args, **kw):
    """(result or (error type, message), warning messages) of a call."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            r = fn(*args, **kw)
        except Exception as e:  # noqa: BLE001 (the error is the outcome compared)
            r = (type(e), str(e))
    return r, [str(m.message) for m in w]


def _assert_same(fast, ref):
    (r1, w1), (r2, w2) = fast, ref
    # (matrix_power multiplies one matrix with ndarray.dot, as arraylib's matmul does: a
    # non-finite input warns "in dot" where NumPy's function warns "in matmul")
    assert [m.replace(" in dot", " in matmul") for m in w1] == w2
    if isinstance(r2, tuple) and isinstance(r2[0], type):
        assert r1 == r2
        return
    assert not (isinstance(r1, tuple) and isinstance(r1[0], type)), r1
    r1 = tuple(r1) if isinstance(r1, tuple) else (r1,)
    r2 = tuple(r2) if isinstance(r2, tuple) else (r2,)
    assert len(r1) == len(r2)
    for a, b in zip(r1, r2):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.flags.c_contiguous == b.flags.c_contiguous
        np.testing.assert_array_equal(a, b)  # bit for bit (NaN where NaN)


# -- the backend's linalg against array-api-compat's ----------------------------------------
LINALG_CALLS = [("qr", {}), ("qr", {"mode": "complete"}), ("svd", {}),
                ("svd", {"full_matrices": False}), ("svdvals", {}), ("diagonal", {}),
                ("diagonal", {"offset": 1}), ("trace", {}), ("trace", {"offset": -1}),
                ("matrix_rank", {}), ("matrix_rank", {"rtol": 0.3}),
                ("matrix_norm", {"ord": "nuc"}), ("matrix_norm", {"ord": 2, "keepdims": True}),
                ("matrix_norm", {"ord": -2}), ("matrix_norm", {"ord": "fro"}), ("pinv", {}),
                ("pinv", {"rtol": 0.2})]
SQUARE_CALLS = [("eigh", {}), ("eigvalsh", {}), ("cholesky", {}), ("cholesky", {"upper": True}),
                ("matrix_power", {"n": 2}), ("matrix_power", {"n": 3}),
                ("matrix_power", {"n": 6}), ("matrix_power", {"n": 7})]


@pytest.mark.parametrize("dtype", FLOATS)
def test_backend_linalg_matches_compat(dtype):
    cnp = _compat()
    checked = errors = 0
    for a in _matrices(dtype):
        calls = LINALG_CALLS + (SQUARE_CALLS if a.shape[-1] == a.shape[-2] else [])
        for name, kw in calls:
            kw = dict(kw)
            args = (kw.pop("n"),) if "n" in kw else ()
            for arg in ([a, _spd(a)] if name == "cholesky" else [a]):
                ref = _outcome(getattr(cnp.linalg, name), arg, *args, **kw)
                _assert_same(_outcome(getattr(B.linalg, name), arg, *args, **kw), ref)
                checked += 1
                errors += isinstance(ref[0], tuple) and isinstance(ref[0][0], type)
    assert checked > 150 and errors > 0  # (non-positive-definite cholesky, NaN SVDs)


def test_backend_linalg_falls_back_for_other_dtypes():
    """Integer and float16 stacks keep the namespace's own rules (and its errors)."""
    cnp = _compat()
    for a in (np.arange(9, dtype=np.int64).reshape(3, 3), _host((3, 3), "float16")):
        for name in ("qr", "svdvals", "matrix_rank", "trace", "diagonal"):
            _assert_same(_outcome(getattr(B.linalg, name), a),
                         _outcome(getattr(cnp.linalg, name), a))


def test_matrix_rank_array_rtol_and_batches():
    cnp = _compat()
    a = np.stack([np.diag([3.0, 1.0, 1e-3]), np.diag([1.0, 0.0, 0.0])]).astype(np.float32)
    for rtol in (None, 0.01, np.array([0.5, 1e-6])):
        _assert_same(_outcome(B.linalg.matrix_rank, a, rtol=rtol),
                     _outcome(cnp.linalg.matrix_rank, a, rtol=rtol))
    assert np.asarray(B.linalg.matrix_rank(a)).tolist() == [3, 1]


def test_cholesky_upper_is_the_conjugate_transpose_view():
    a = _spd(_host((4, 4), "complex128"))
    u = B.linalg.cholesky(a, upper=True)
    np.testing.assert_array_equal(u, np.conj(np.linalg.cholesky(a)).swapaxes(-1, -2))
    r = B.linalg.cholesky(_spd(_host((4, 4), "float64")), upper=True)
    assert r.flags.f_contiguous and not r.flags.c_contiguous  # (array-api-compat's layout)


# -- public functions on every device -----------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64"])
def test_public_decompositions_against_numpy(device, dtype):
    h = _host((2, 4, 3), dtype)
    x = xp.asarray(h, device=device)
    q, r = xp.linalg.qr(x)
    eq, er = np.linalg.qr(h)
    tol = 1e-5 if dtype in ("float32", "complex64") else 1e-12
    assert q.dtype == x.dtype and r.dtype == x.dtype
    assert_close(q, eq, rtol=tol, atol=tol)
    assert_close(r, er, rtol=tol, atol=tol)
    qc, rc = xp.linalg.qr(x, mode="complete")
    assert qc.shape == (2, 4, 4) and rc.shape == (2, 4, 3)
    s = xp.linalg.svdvals(x)
    assert s.dtype == xp.real(x).dtype
    assert_close(s, np.linalg.svd(h, compute_uv=False), rtol=tol, atol=tol)
    spd = _spd(h[0, :3, :3])
    c = xp.linalg.cholesky(xp.asarray(spd, device=device))
    assert_close(c, np.linalg.cholesky(spd), rtol=tol, atol=tol)
    w, v = xp.linalg.eigh(xp.asarray(spd, device=device))
    assert_close(w, np.linalg.eigh(spd)[0], rtol=tol, atol=tol)
    assert_close(xp.linalg.matrix_norm(x, ord="nuc"),
                 np.linalg.norm(h, "nuc", axis=(-2, -1)), rtol=tol, atol=tol)
    assert to_numpy(xp.linalg.matrix_rank(x)).tolist() == [3, 3]
    assert_close(xp.linalg.pinv(x), np.linalg.pinv(h, rcond=4 * np.finfo(h.dtype).eps),
                 rtol=tol * 10, atol=tol * 10)


def test_public_errors_unchanged(device):
    bad = xp.asarray(np.array([[1.0, 2.0], [2.0, 1.0]]), device=device)
    with pytest.raises(ValueError, match="cholesky"):
        xp.linalg.cholesky(bad)
    with pytest.raises(ValueError, match="cholesky"):
        xp.linalg.cholesky(bad)  # (and again: nothing memoized past the check)
    with pytest.raises(ValueError, match="square"):
        xp.linalg.matrix_power(xp.ones((2, 3), device=device), 3)
    with pytest.raises(TypeError, match="floating"):
        xp.linalg.qr(xp.ones((3, 3), dtype=xp.int64, device=device))


def test_matrix_power_values(device):
    h = _host((2, 3, 3), "float64") / 2
    x = xp.asarray(h, device=device)
    for n in (0, 1, 2, 3, 5, 8, -2):
        assert_close(xp.linalg.matrix_power(x, n), np.linalg.matrix_power(h, n),
                     rtol=1e-10, atol=1e-12)


# -- norms: the dot-product path and the memoized checks ----------------------------------------
def test_vector_norm_whole_tensor_is_numpys(device):
    for shape in [(100,), (2, 3), (2, 3, 4), (1,)]:
        for dtype in ("float32", "float64"):
            h = _host(shape, dtype)
            r = xp.linalg.vector_norm(xp.asarray(h, device=device))
            assert r.shape == () and r.dtype == xp.asarray(h).dtype
            assert_close(r, np.linalg.norm(h.ravel()), rtol=2e-6 if dtype == "float32"
                         else 1e-14)
    h = _host((3, 4), "float32")
    x = xp.asarray(h, device=device)
    r = xp.linalg.vector_norm(x, keepdims=True)
    assert r.shape == (1, 1)
    assert_close(xp.linalg.matrix_norm(x), np.linalg.norm(h), rtol=2e-6)
    z = xp.linalg.vector_norm(xp.zeros((0,), device=device))
    assert float(to_numpy(z)) == 0.0
    n = xp.linalg.vector_norm(xp.asarray(np.array([1.0, np.inf, 2.0]), device=device))
    assert np.isinf(to_numpy(n))
    n = xp.linalg.vector_norm(xp.asarray(np.array([1.0, np.nan]), device=device))
    assert np.isnan(to_numpy(n))


def test_vector_norm_memo_keeps_its_checks(device):
    x = xp.asarray(_host((2, 3), "float32"), device=device)
    for _ in range(2):  # (the second call finds the memo)
        assert_close(xp.linalg.vector_norm(x, ord=1), np.abs(to_numpy(x)).sum(), rtol=1e-6)
    with pytest.raises(ValueError, match="invalid ord"):
        xp.linalg.vector_norm(x, ord=True)  # hashes as 1, refused
    with pytest.raises(ValueError, match="invalid ord"):
        xp.linalg.vector_norm(x, ord=float("nan"))
    with pytest.raises(ValueError, match="invalid ord"):
        xp.linalg.vector_norm(x, ord=[1])  # (unhashable: not memoized, the check's error)
    xp.linalg.vector_norm(x, axis=1)
    with pytest.raises((ValueError, IndexError)):
        xp.linalg.vector_norm(xp.ones((2,), device=device), axis=1)
    with pytest.raises(TypeError, match="floating"):
        xp.linalg.vector_norm(xp.ones((2, 3), dtype=xp.int32, device=device))


def test_matrix_norm_memo_keeps_its_checks_and_gradients(device):
    h = _host((3, 2), "float64")
    x = xp.asarray(h, device=device)
    for ord in ("fro", "nuc", 1, 2, -1):
        for _ in range(2):
            assert_close(xp.linalg.matrix_norm(x, ord=ord), np.linalg.norm(h, ord), rtol=1e-12)
    for bad in (True, 3, "bogus"):
        with pytest.raises(ValueError, match="invalid ord"):
            xp.linalg.matrix_norm(x, ord=bad)
    with pytest.raises(ValueError, match="matrix"):
        xp.linalg.matrix_norm(xp.ones((3,), device=device))
    w = xp.asarray(h, device=device, requires_grad=True)  # (after the untracked calls)
    xp.linalg.matrix_norm(w).backward()
    assert_close(w.grad, h / np.linalg.norm(h), rtol=1e-12)


def test_vector_norm_gradients(device):
    check_grads(lambda a: xp.linalg.vector_norm(a), [_host((2, 3), "float64") + 3], device)
    check_grads(lambda a: xp.linalg.matrix_norm(a), [_host((3, 2), "float64")], device)


# -- cross: one gather per operand, memoized checks ---------------------------------------------
@pytest.mark.parametrize("case", [((2, 3), (3,), -1), ((3,), (3,), -1), ((3, 4), (3, 4), -2),
                                  ((2, 3, 5), (3, 5), -2), ((3, 1, 2), (3, 4, 2), -3)])
@pytest.mark.parametrize("dtype", ["float32", "int64", "complex128"])
def test_backend_cross_is_numpys(case, dtype):
    sa, sb, axis = case
    a = (_host(sa, "float64") * 10).astype(dtype) if dtype == "int64" else _host(sa, dtype)
    b = (_host(sb, "float64") * 10).astype(dtype) if dtype == "int64" else _host(sb, dtype)
    r, e = B.cross(a, b, axis), np.cross(a, b, axis=axis)
    assert r.dtype == e.dtype and r.shape == e.shape and r.flags.c_contiguous
    np.testing.assert_array_equal(r, e)


def test_cross_public_memo_and_errors(device, torch):
    a, b = _host((2, 3), "float32"), _host((3,), "float32")
    ta, tb = xp.asarray(a, device=device), xp.asarray(b, device=device)
    for _ in range(2):
        r = xp.linalg.cross(ta, tb)
        assert_close(r, torch.linalg.cross(torch.from_numpy(a), torch.from_numpy(b).expand(2, 3)),
                     rtol=1e-6, check_dtype=False)
    assert_close(xp.linalg.cross(ta, tb, axis=-1), to_numpy(r))
    with pytest.raises(ValueError, match="invalid"):
        xp.linalg.cross(ta, tb, axis=1)  # (counted from the end for unequal ndims)
    with pytest.raises(ValueError, match="size 3"):
        xp.linalg.cross(xp.ones((2, 4), device=device), xp.ones((4,), device=device))
    with pytest.raises(ValueError, match="invalid"):
        xp.linalg.cross(ta, tb, axis=-2)
    with pytest.raises(TypeError, match="bool"):
        xp.linalg.cross(xp.ones((3,), dtype=xp.bool, device=device),
                        xp.ones((3,), dtype=xp.bool, device=device))
    check_grads(lambda x, y: xp.linalg.cross(x, y), [_host((2, 3), "float64"),
                                                     _host((3,), "float64")], device)


# -- fft: the backend's one-axis transforms ---------------------------------------------------
@pytest.mark.parametrize("name", ["fft", "ifft", "rfft", "irfft"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128", "float16"])
def test_backend_fft_matches_compat(name, dtype):
    cnp = _compat()
    checked = 0
    for shape in [(5,), (8,), (1,), (2, 5), (3, 4), (2, 3, 6), (0, 4), (4, 0), (100,), (17,)]:
        h = _host(shape, dtype)
        arrays = [h]
        if h.size:
            arrays.append(h.copy())
            arrays[-1].flat[0] = np.inf
        for arr in arrays:
            for axis in (-1, 0, -2, 5):
                for norm in ("backward", "ortho", "forward", "bad"):
                    for n in (None, 6, 1, 0):
                        kw = {"n": n, "axis": axis, "norm": norm}
                        _assert_same(_outcome(getattr(B.fft, name), arr, **kw),
                                     _outcome(getattr(cnp.fft, name), arr, **kw))
                        checked += 1
    assert checked > 500


def test_all_finite():
    for v, expect in [(np.array([1.0, 2.0]), True), (np.array([np.nan, 1.0]), False),
                      (np.array([-np.inf, 1.0]), False), (np.array([1 + 1j, np.inf * 1j]), False),
                      (np.array([complex(np.inf, np.inf)], np.complex64), False),
                      (np.zeros((0,)), True), (np.ones((3, 2)).T, True),
                      (np.array([1e30], np.float32), False)]:  # (overflow: "not finite", safe)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert B.all_finite(v) is expect, v


# -- fft: public functions, memoized calls ---------------------------------------------------
PUBLIC_FFT = [("fft", {}), ("ifft", {"norm": "ortho"}), ("fft", {"n": 5, "norm": "ortho"}),
              ("rfft", {}), ("irfft", {"n": 6}), ("fftn", {}), ("ifftn", {"axes": (0,)}),
              ("rfftn", {}), ("irfftn", {"s": (2, 6)}), ("hfft", {"n": 6}), ("ihfft", {}),
              ("fft", {"axis": 0}), ("rfft", {"n": 4})]


@pytest.mark.parametrize("name,kw", PUBLIC_FFT)
@pytest.mark.parametrize("shape", [(2, 4), (3, 100)])
def test_public_fft_repeated_calls(device, name, kw, shape):
    real = name in ("rfft", "rfftn", "ihfft")
    for dtype in (("float32", "float64") if real else ("complex64", "complex128", "float32")):
        h = _host(shape, dtype)
        x = xp.asarray(h, device=device)
        np_kw = dict(kw, axes=(-2, -1)) if "s" in kw and "axes" not in kw else kw
        expect = getattr(np.fft, name)(h, **np_kw)
        tol = 1e-4 if dtype in ("float32", "complex64") else 1e-10
        for _ in range(3):  # (the first call checks, the others find the memo)
            r = getattr(xp.fft, name)(x, **kw)
            assert r.shape == expect.shape
            assert r.dtype.kind == expect.dtype.kind
            assert_close(r, expect, rtol=tol, atol=tol * 10, check_dtype=False)


def test_public_fft_memo_keeps_its_checks(device):
    x = xp.asarray(_host((2, 4), "complex64"), device=device)
    xp.fft.fft(x)
    with pytest.raises(ValueError, match="norm"):
        xp.fft.fft(x, norm="bogus")
    with pytest.raises(ValueError, match="number of data points"):
        xp.fft.fft(x, n=0)
    with pytest.raises((ValueError, IndexError)):
        xp.fft.fft(x, axis=2)
    xp.fft.rfft(xp.real(x))
    with pytest.raises(TypeError, match="real"):
        xp.fft.rfft(x)  # complex: refused after the real call was memoized
    i = xp.ones((2, 4), dtype=xp.int32, device=device)
    with pytest.raises(TypeError):
        xp.fft.fft(i)


def test_small_fft_non_finite_falls_back(device):
    h = _host((2, 4), "complex128")
    h[0, 1] = np.inf
    for fn in ("fft", "ifft", "fftn"):
        r = getattr(xp.fft, fn)(xp.asarray(h, device=device))
        with np.errstate(invalid="ignore"):
            e = getattr(np.fft, fn)(h)
        np.testing.assert_array_equal(np.isnan(to_numpy(r)), np.isnan(e))
        np.testing.assert_allclose(np.nan_to_num(to_numpy(r)), np.nan_to_num(e), atol=1e-12)


# -- shifts: one cached gather -------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 5), (5,), (3, 4, 2), (1,), (0, 3), (6, 7), (100,)])
@pytest.mark.parametrize("axes", [None, 0, -1, (0,)])
def test_shifts_are_numpys(device, shape, axes):
    h = _host(shape, "float32")
    x = xp.asarray(h, device=device)
    for _ in range(2):
        r, ri = xp.fft.fftshift(x, axes=axes), xp.fft.ifftshift(x, axes=axes)
        np.testing.assert_array_equal(to_numpy(r), np.fft.fftshift(h, axes=axes))
        np.testing.assert_array_equal(to_numpy(ri), np.fft.ifftshift(h, axes=axes))
        assert r.dtype == x.dtype


def test_shift_and_fft_gradients(device, torch):
    check_grads(lambda a: xp.fft.fftshift(a), [_host((2, 5), "float64")], device)
    check_grads(lambda a: xp.fft.ifftshift(a, axes=1), [_host((3, 4), "float64")], device)
    check_grads(lambda a: xp.fft.fft(a), [_host((2, 4), "complex128")], device)
    check_grads(lambda a: xp.fft.ifft(a, axis=0, norm="ortho"), [_host((3, 20), "complex128")],
                device)
    h = _host((3, 20), "complex128")
    x = xp.asarray(h, device=device, requires_grad=True)
    y = xp.fft.fft(x, axis=0)
    g = _host((3, 20), "complex128")
    y.backward(xp.asarray(g, device=device))
    t = torch.tensor(h, requires_grad=True)
    torch.fft.fft(t, dim=0).backward(torch.tensor(g))
    assert_close(x.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_qr_gradient_against_torch(device, torch):
    h = _host((4, 3), "float64") + 2 * np.eye(4, 3)
    check_grads(lambda a: tuple(xp.linalg.qr(a)), [h], device)
    x = xp.asarray(h, device=device, requires_grad=True)
    q, r = xp.linalg.qr(x)
    (xp.sum(q * q * 3) + xp.sum(r)).backward()
    t = torch.tensor(h, requires_grad=True)
    tq, tr = torch.linalg.qr(t)
    ((tq * tq * 3).sum() + tr.sum()).backward()
    assert_close(x.grad, t.grad.numpy(), rtol=1e-8, atol=1e-10)


def test_no_float64_device():
    dev = xp.Device("strict:no_float64")
    h = _host((2, 4), "float32")
    x = xp.asarray(h, device=dev)
    assert_close(xp.fft.rfft(x), np.fft.rfft(h), rtol=1e-5, atol=1e-5, check_dtype=False)
    assert_close(xp.fft.fftshift(x), np.fft.fftshift(h), check_dtype=False)
    assert_close(xp.linalg.vector_norm(x), np.linalg.norm(h), rtol=1e-6, check_dtype=False)
    q, r = xp.linalg.qr(xp.asarray(h.T.copy(), device=dev))
    assert_close(xp.matmul(q, r), h.T, rtol=1e-5, atol=1e-5, check_dtype=False)


def test_frequencies_are_fresh_copies(device):
    a = xp.fft.fftfreq(8, d=0.5, device=device)
    np.testing.assert_allclose(to_numpy(a), np.fft.fftfreq(8, 0.5), rtol=1e-6)
    a[0] = 7.0  # (a caller's update never reaches the remembered frequencies)
    b = xp.fft.fftfreq(8, d=0.5, device=device)
    assert float(to_numpy(b)[0]) == 0.0 and b.dtype == a.dtype
    np.testing.assert_allclose(to_numpy(xp.fft.rfftfreq(9, d=2, device=device)),
                               np.fft.rfftfreq(9, 2), rtol=1e-6)
    assert xp.fft.fftfreq(8, dtype=xp.float64).dtype == xp.float64
    with pytest.raises(TypeError, match="d must be"):
        xp.fft.fftfreq(8, d=True)


def test_fft_half_precision_is_a_type_error():
    for fn in (xp.fft.fft, xp.fft.rfft, xp.fft.ihfft, xp.fft.fftn):
        with pytest.raises(TypeError, match="float16"):
            fn(xp.ones((4,), dtype=xp.float16))


def test_diagonal_and_trace_memo(device):
    h = _host((2, 3, 4), "float32")
    x = xp.asarray(h, device=device)
    for offset in (0, 1, -1, 0):
        for _ in range(2):
            d = xp.linalg.diagonal(x, offset=offset)
            np.testing.assert_array_equal(to_numpy(d), np.diagonal(h, offset, -2, -1))
            assert_close(xp.linalg.trace(x, offset=offset), np.trace(h, offset, -2, -1),
                         rtol=1e-6)
    with pytest.raises(ValueError, match="matrix"):
        xp.linalg.diagonal(xp.ones((3,), device=device))
    with pytest.raises(TypeError):
        xp.linalg.diagonal(x, offset=1.5)
    with pytest.raises(TypeError, match="bool"):
        xp.linalg.trace(xp.ones((2, 2), dtype=xp.bool, device=device))
    check_grads(lambda a: xp.linalg.diagonal(a, offset=1), [_host((2, 3, 4), "float64")],
                device)

"""arraylib.linalg: values vs NumPy, batching, named tuples, errors, gradients (FD, torch)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import arraylib as xp
from arraylib.autograd.gradcheck import gradcheck, gradgradcheck

from conftest import assert_close, to_numpy

L = xp.linalg
RNG = np.random.default_rng(99)


def _host(shape, dtype="float64"):
    a = RNG.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * RNG.standard_normal(shape)
    return a.astype(dtype)


def _spd_host(n, batch=(), dtype="float64"):
    a = _host(batch + (n, n), dtype)
    return (a @ np.conj(np.swapaxes(a, -1, -2)) + n * np.eye(n)).astype(dtype)


def _t(host, device, grad=False):
    return xp.asarray(host, device=device, requires_grad=grad)


def _tol(dtype):
    return 2e-4 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-9


DTYPES = ["float32", "float64", "complex128"]


# -- values ------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_square_functions(device, dtype):
    a = _host((2, 3, 4, 4), dtype) + 4 * np.eye(4, dtype=dtype)
    x = _t(a, device)
    tol = _tol(dtype)
    assert_close(L.inv(x), np.linalg.inv(a), rtol=tol, atol=tol)
    assert_close(L.det(x), np.linalg.det(a), rtol=tol, atol=tol)
    sign, logabs = L.slogdet(x)
    es, el = np.linalg.slogdet(a)
    assert_close(sign, es, rtol=tol, atol=tol)
    assert_close(logabs, el, rtol=tol, atol=tol)
    assert logabs.dtype == x.dtype if dtype != "complex128" else logabs.dtype == xp.float64
    for n in (0, 1, 3, -2):
        assert_close(L.matrix_power(x, n), np.linalg.matrix_power(a, n), rtol=10 * tol,
                     atol=10 * tol)
    assert L.inv(x).dtype == x.dtype and L.det(x).dtype == x.dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_solve(device, dtype):
    a = _host((2, 3, 3), dtype) + 3 * np.eye(3, dtype=dtype)
    tol = _tol(dtype)
    for bshape in [(3,), (3, 2), (4, 1, 3, 5), (2, 3, 1)]:
        b = _host(bshape, dtype)
        out = L.solve(_t(a, device), _t(b, device))
        if b.ndim == 1:
            expected = np.linalg.solve(a, b)
            assert out.shape == (2, 3)
        else:
            expected = np.linalg.solve(a, b)
        assert_close(out, expected, rtol=10 * tol, atol=10 * tol)
    # mixed precision promotes
    out = L.solve(_t(a.astype("float32") if dtype == "float32" else a, device),
                  _t(_host((3,), "float64"), device))
    assert out.dtype in (xp.float64, xp.complex128)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cholesky(device, dtype):
    a = _spd_host(4, (3,), dtype)
    tol = _tol(dtype)
    low = L.cholesky(_t(a, device))
    assert_close(low, np.linalg.cholesky(a), rtol=tol, atol=tol)
    up = L.cholesky(_t(a, device), upper=True)
    assert_close(up, np.conj(np.swapaxes(np.linalg.cholesky(a), -1, -2)), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 5, 3), (3, 3), (2, 3, 5)])
def test_qr_svd(device, dtype, shape):
    a = _host(shape, dtype)
    x = _t(a, device)
    tol = _tol(dtype)
    for mode in ("reduced", "complete"):
        res = L.qr(x, mode=mode)
        assert isinstance(res, L.QRResult) and res.Q is res[0] and res.R is res[1]
        q, r = np.linalg.qr(a, mode=mode)
        assert res.Q.shape == q.shape and res.R.shape == r.shape
        assert_close(xp.matmul(res.Q, res.R), a, rtol=10 * tol, atol=10 * tol)
        assert_close(res.R, np.triu(to_numpy(res.R)))
    for full in (True, False):
        res = L.svd(x, full_matrices=full)
        assert isinstance(res, L.SVDResult) and res.Vh is res[2]
        u, s, vh = np.linalg.svd(a, full_matrices=full)
        assert res.U.shape == u.shape and res.Vh.shape == vh.shape and res.U.dtype == x.dtype
        assert_close(res.S, s, rtol=tol, atol=tol)
        k = min(shape[-2:])
        recon = xp.matmul(res.U[..., :, :k] * xp.expand_dims(xp.astype(res.S, x.dtype), axis=-2),
                          res.Vh[..., :k, :])
        assert_close(recon, a, rtol=10 * tol, atol=10 * tol)
    sv = L.svdvals(x)
    assert sv.dtype == (xp.float64 if dtype == "complex128" else x.dtype)
    assert_close(sv, np.linalg.svd(a, compute_uv=False), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_eigen(device, dtype):
    a = _host((2, 4, 4), dtype)
    h = (a + np.conj(np.swapaxes(a, -1, -2))) / 2
    tol = _tol(dtype)
    res = L.eigh(_t(h, device))
    assert isinstance(res, L.EighResult) and res.eigenvalues is res[0]
    assert_close(res.eigenvalues, np.linalg.eigvalsh(h), rtol=tol, atol=tol)
    v = res.eigenvectors
    recon = xp.matmul(v * xp.expand_dims(xp.astype(res.eigenvalues, v.dtype), axis=-2),
                      xp.conj(xp.matrix_transpose(v)))
    assert_close(recon, h, rtol=10 * tol, atol=10 * tol)
    assert_close(L.eigvalsh(_t(h, device)), np.linalg.eigvalsh(h), rtol=tol, atol=tol)
    # general eig: complex results, eigenpairs satisfy A v = w v
    res = L.eig(_t(a, device))
    assert isinstance(res, L.EigResult)
    want = xp.complex64 if dtype == "float32" else xp.complex128
    assert res.eigenvalues.dtype == want and res.eigenvectors.dtype == want
    av = xp.matmul(xp.astype(_t(a, device), want), res.eigenvectors)
    assert_close(av, res.eigenvectors * xp.expand_dims(res.eigenvalues, axis=-2),
                 rtol=100 * tol, atol=100 * tol)
    ev = L.eigvals(_t(a, device))
    assert ev.dtype == want
    np.testing.assert_allclose(np.sort_complex(to_numpy(ev).ravel()),
                               np.sort_complex(np.linalg.eigvals(a).ravel()), rtol=1e-3,
                               atol=1e-3)
    assert L.eigvals(_t(a, device, grad=dtype != "float32")).requires_grad == (dtype != "float32")


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64"])
def test_rank_pinv(device, dtype):
    a = _host((3, 5, 4), dtype)
    a[1] = np.outer(a[1, :, 0], a[1, 0, :])  # rank 1
    x = _t(a, device)
    tol = _tol(dtype)
    assert_close(L.matrix_rank(x), np.linalg.matrix_rank(a))
    assert L.matrix_rank(x).dtype == xp.int64
    default = 5 * np.finfo(np.dtype(dtype)).eps  # the standard's max(M, N) * eps
    assert_close(L.pinv(x), np.linalg.pinv(a, rtol=default), rtol=100 * tol, atol=100 * tol)
    rt = np.array([1e-3, 0.5, 0.9])
    assert_close(L.pinv(x, rtol=_t(rt, device)), np.linalg.pinv(a, rtol=rt),
                 rtol=100 * tol, atol=100 * tol)
    assert_close(L.matrix_rank(x, rtol=0.9), np.linalg.matrix_rank(a, rtol=0.9))


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex128"])
def test_norms(device, dtype):
    a = _host((2, 3, 4), dtype)
    a[0, 0, 0] = 0
    x = _t(a, device)
    tol = _tol(dtype)
    real = {"float32": xp.float32, "float64": xp.float64, "complex128": xp.float64}[dtype]
    for ord in (2, 1, 0, -1, 3.5, -2, math.inf, -math.inf):
        for axis in (None, 1, (0, 2), -1):
            for keepdims in (False, True):
                out = L.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord)
                assert out.dtype == real
                with np.errstate(divide="ignore"):
                    exp = np.linalg.vector_norm(a, axis=axis, keepdims=keepdims, ord=ord)
                assert_close(out, exp, rtol=tol, atol=tol, check_dtype=False)
    for ord in ("fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf):
        for keepdims in (False, True):
            out = L.matrix_norm(x, ord=ord, keepdims=keepdims)
            assert out.dtype == real
            exp = np.linalg.matrix_norm(a, ord=ord, keepdims=keepdims)
            assert_close(out, exp, rtol=tol, atol=tol, check_dtype=False)
            xg = _t(a, device, grad=dtype != "float32")
            assert_close(L.matrix_norm(xg, ord=ord, keepdims=keepdims).detach(), exp,
                         rtol=tol, atol=tol, check_dtype=False)


def test_diagonal_trace(device):
    a = _host((2, 3, 4))
    ai = (RNG.integers(-5, 5, (3, 4))).astype("int32")
    x = _t(a, device)
    for off in (-4, -1, 0, 2, 4, 9):
        assert_close(L.diagonal(x, offset=off), np.diagonal(a, off, -2, -1))
        assert_close(L.trace(x, offset=off), np.trace(a, off, -2, -1))
    ti = L.trace(_t(ai, device))
    assert ti.dtype == xp.int64 and int(ti) == int(np.trace(ai))
    assert L.trace(_t(ai, device), dtype=xp.float64).dtype == xp.float64
    assert L.trace(_t(ai.astype("uint8"), device)).dtype == xp.uint64


def test_cross_outer_core(device):
    a, b = _host((4, 3)), _host((2, 1, 3))
    assert_close(L.cross(_t(a, device), _t(b, device)), np.cross(a, b))
    a2, b2 = _host((3, 5)), _host((3, 1))
    assert_close(L.cross(_t(a2, device), _t(b2, device), axis=-2), np.cross(a2, b2, axis=-2))
    ia, ib = np.arange(6, dtype="int32").reshape(2, 3), np.array([1, -2, 3], dtype="int32")
    out = L.cross(_t(ia, device), _t(ib, device))
    assert out.dtype == xp.int32
    assert_close(out, np.cross(ia, ib))
    u, v = _host((3,)), _host((5,))
    assert_close(L.outer(_t(u, device), _t(v, device)), np.outer(u, v))
    for name in ("matmul", "matrix_transpose", "tensordot", "vecdot"):
        assert getattr(L, name) is getattr(xp, name)


# -- errors ------------------------------------------------------------------------------
def test_errors(device):
    rect = _t(_host((3, 4)), device)
    for f in (L.inv, L.det, L.cholesky, L.eigh, L.eigvalsh, L.slogdet, L.eig):
        with pytest.raises(ValueError, match=r"square.*\(3, 4\)"):
            f(rect)
    with pytest.raises(ValueError, match="at least 2"):
        L.svd(_t(_host((3,)), device))
    sing = _t(np.ones((2, 3, 3)), device)
    with pytest.raises(ValueError, match="inv"):
        L.inv(sing)
    with pytest.raises(ValueError, match="solve"):
        L.solve(sing, _t(np.ones(3), device))
    with pytest.raises(ValueError, match="cholesky"):
        L.cholesky(_t(-np.eye(3), device))
    with pytest.raises(ValueError, match="solve: x2 of shape"):
        L.solve(_t(np.eye(3), device), _t(np.ones(4), device))
    with pytest.raises(TypeError, match="inv: expected a floating"):
        L.inv(_t(np.eye(3, dtype="int64"), device))
    with pytest.raises(ValueError, match="matrix_norm: invalid ord"):
        L.matrix_norm(rect, ord=3)
    with pytest.raises(ValueError, match="vector_norm: invalid ord"):
        L.vector_norm(rect, ord="fro")
    with pytest.raises((ValueError, IndexError), match="axis"):
        L.vector_norm(rect, axis=2)
    with pytest.raises(ValueError, match="repeated"):
        L.vector_norm(rect, axis=(0, -2))
    with pytest.raises(ValueError, match="qr: mode"):
        L.qr(rect, mode="r")
    with pytest.raises(ValueError, match="cross"):
        L.cross(_t(np.ones((2, 4)), device), _t(np.ones((2, 4)), device))
    with pytest.raises(ValueError, match="cross"):
        L.cross(_t(np.ones((3, 2)), device), _t(np.ones((3, 2)), device), axis=-3)
    with pytest.raises(ValueError, match="outer"):
        L.outer(rect, rect)
    with pytest.raises(TypeError, match="matrix_power"):
        L.matrix_power(_t(np.eye(2), device), 1.5)


# -- gradients ---------------------------------------------------------------------------
def _herm(t):
    return (t + xp.conj(xp.matrix_transpose(t))) * 0.5


def _svd_gauge_free(r):
    u, vh = r.U, r.Vh
    return (r.S, xp.matmul(u, xp.conj(xp.matrix_transpose(u))),
            xp.matmul(xp.conj(xp.matrix_transpose(vh)), vh))


GRAD = {
    "inv": (L.inv, [(2, 3, 3)]),
    "solve": (L.solve, [(2, 3, 3), (3, 2)]),
    "solve_vector": (L.solve, [(2, 3, 3), (3,)]),
    "det": (L.det, [(2, 3, 3)]),
    "slogdet": (lambda a: tuple(L.slogdet(a)), [(2, 3, 3)]),
    "cholesky": (lambda a: L.cholesky(_herm(a)), ["spd"]),
    "cholesky_upper": (lambda a: L.cholesky(_herm(a), upper=True), ["spd"]),
    "qr_tall": (lambda a: tuple(L.qr(a)), [(2, 4, 3)]),
    "qr_square_complete": (lambda a: tuple(L.qr(a, mode="complete")), [(3, 3)]),
    "qr_wide": (lambda a: tuple(L.qr(a)), [(3, 5)]),
    "svdvals": (L.svdvals, [(2, 4, 3)]),
    "svd_tall": (lambda a: _svd_gauge_free(L.svd(a, full_matrices=False)), [(4, 3)]),
    "svd_wide": (lambda a: _svd_gauge_free(L.svd(a, full_matrices=False)), [(2, 3, 5)]),
    "svd_full_square": (lambda a: _svd_gauge_free(L.svd(a)), [(3, 3)]),
    "eigvalsh": (lambda a: L.eigvalsh(_herm(a)), [(2, 3, 3)]),
    "eigh": (lambda a: (lambda r: (r.eigenvalues, xp.abs(r.eigenvectors)))(L.eigh(_herm(a))),
             [(3, 3)]),
    "eigvals": (L.eigvals, [(2, 3, 3)]),
    "eig": (lambda a: (lambda r: (r.eigenvalues, xp.abs(r.eigenvectors)))(L.eig(a)), [(3, 3)]),
    "pinv_tall": (L.pinv, [(4, 3)]),
    "pinv_wide": (L.pinv, [(2, 3, 5)]),
    "vector_norm_2": (lambda a: L.vector_norm(a, axis=1), [(3, 4)]),
    "vector_norm_1": (lambda a: L.vector_norm(a, ord=1, keepdims=True), [(3, 4)]),
    "vector_norm_p": (lambda a: L.vector_norm(a, ord=3.5, axis=(0, 2)), [(3, 2, 4)]),
    "vector_norm_neg": (lambda a: L.vector_norm(a, ord=-1.5, axis=-1), [(3, 4)]),
    "vector_norm_inf": (lambda a: L.vector_norm(a, ord=math.inf, axis=0), [(3, 4)]),
    "vector_norm_-inf": (lambda a: L.vector_norm(a, ord=-math.inf), [(3, 4)]),
    "matrix_norm_fro": (lambda a: L.matrix_norm(a, keepdims=True), [(2, 3, 4)]),
    "matrix_norm_nuc": (lambda a: L.matrix_norm(a, ord="nuc"), [(2, 3, 4)]),
    "matrix_norm_2": (lambda a: L.matrix_norm(a, ord=2), [(3, 4)]),
    "matrix_norm_-2": (lambda a: L.matrix_norm(a, ord=-2), [(3, 4)]),
    "matrix_norm_1": (lambda a: L.matrix_norm(a, ord=1), [(3, 4)]),
    "matrix_norm_inf": (lambda a: L.matrix_norm(a, ord=math.inf), [(3, 4)]),
    "trace": (lambda a: L.trace(a, offset=1), [(2, 3, 4)]),
    "diagonal": (lambda a: L.diagonal(a, offset=-1), [(2, 4, 3)]),
    "cross": (lambda a, b: L.cross(a, b, axis=-2), [(2, 3, 4), (3, 1)]),
    "outer": (L.outer, [(3,), (4,)]),
    "matrix_power_3": (lambda a: L.matrix_power(a, 3), [(3, 3)]),
    "matrix_power_-2": (lambda a: L.matrix_power(a, -2), [(2, 3, 3)]),
}


def _grad_inputs(shapes, device, dtype):
    out = []
    for s in shapes:
        host = _spd_host(3, (2,), dtype) if s == "spd" else _host(s, dtype)
        if s != "spd" and len(s) >= 2 and s[-1] == s[-2]:
            host = host + 2 * np.eye(s[-1])
        out.append(_t(host, device, grad=True))
    return tuple(out)


@pytest.mark.parametrize("name", sorted(GRAD))
def test_gradcheck_real(device, name):
    f, shapes = GRAD[name]
    args = _grad_inputs(shapes, device, "float64")
    assert gradcheck(f, args)
    assert gradgradcheck(f, args)


@pytest.mark.parametrize("name", sorted(GRAD))
def test_gradcheck_complex(name):
    f, shapes = GRAD[name]
    args = _grad_inputs(shapes, "cpu", "complex128")
    assert gradcheck(f, args)
    assert gradgradcheck(f, args)


TORCH = {
    "inv": ("inv", {}, [(2, 3, 3)]),
    "solve": ("solve", {}, [(2, 3, 3), (2, 3, 2)]),
    "det": ("det", {}, [(2, 3, 3)]),
    "cholesky": ("cholesky", {"upper": True}, ["spd"]),
    "svdvals": ("svdvals", {}, [(2, 4, 3)]),
    "eigvalsh": ("eigvalsh", {}, ["spd"]),
    "pinv": ("pinv", {}, [(4, 3)]),
    "vector_norm": ("vector_norm", {"ord": 3, "dim": 1}, [(3, 4)]),
    "matrix_norm": ("matrix_norm", {"ord": "nuc"}, [(2, 3, 4)]),
    "cross": ("cross", {"dim": -1}, [(4, 3), (4, 3)]),
    "qr_R": ("qr", {}, [(4, 3)]),
    "eigvals": ("eigvals", {}, [(2, 3, 3)]),
}


@pytest.mark.parametrize("name", sorted(TORCH))
@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_grad_vs_torch(name, dtype):
    torch = pytest.importorskip("torch")
    fname, kw, shapes = TORCH[name]
    args = _grad_inputs(shapes, "cpu", dtype)
    ours_kw = {{"dim": "axis"}.get(k, k): v for k, v in kw.items()}
    out = getattr(L, fname)(*args, **ours_kw)
    targs = [torch.tensor(to_numpy(a), requires_grad=True) for a in args]
    tout = getattr(torch.linalg, fname)(*targs, **kw)
    if fname == "qr":
        out, tout = out.R, tout.R
    g = _host(out.shape, str(to_numpy(out).dtype))
    out.backward(xp.asarray(g))
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(to_numpy(out), tout.detach().numpy(), rtol=1e-8, atol=1e-8)
    for a, ta in zip(args, targs):
        tg = ta.grad.numpy()
        if fname == "cholesky":  # only the Hermitian part is defined (ours is Hermitian)
            tg = (tg + np.conj(np.swapaxes(tg, -1, -2))) / 2
        np.testing.assert_allclose(to_numpy(a.grad), tg, rtol=1e-7, atol=1e-8)


def test_float32_grad_dtype(device):
    x = _t(_host((2, 3, 3), "float32") + 3 * np.eye(3, dtype="float32"), device, grad=True)
    y = xp.sum(L.inv(x)) + xp.sum(L.det(x)) + xp.sum(L.vector_norm(x, axis=-1))
    y.backward()
    assert x.grad.dtype == xp.float32 and x.grad.shape == x.shape


def test_vector_norm_zero_subgradient(device):
    x = _t(np.zeros((2, 3)), device, grad=True)
    xp.sum(L.vector_norm(x, axis=1)).backward()
    assert_close(x.grad, np.zeros((2, 3)))
    x = _t(np.zeros((4,)), device, grad=True)
    L.vector_norm(x, ord=0.5).backward()
    assert_close(x.grad, np.zeros((4,)))


def test_nondifferentiable(device):
    x = _t(_host((3, 3)), device, grad=True)
    assert not L.matrix_rank(x).requires_grad


def test_det_grad_singular(device):
    a = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 5.0]])  # rank 2
    x = _t(a, device, grad=True)
    L.det(x).backward()
    adj = np.array([[14.0, -7.0, 0.0], [-10.0, 5.0, 0.0], [2.0, -1.0, 0.0]])  # adj(a)
    assert_close(x.grad, adj.T, atol=1e-10)
    assert gradcheck(L.det, (_t(a, device, grad=True),))

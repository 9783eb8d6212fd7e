"""The per-op fast paths of issue 17 (reductions, linalg, fft, einsum, manipulation,
indexing): each must give what the general path (or NumPy/PyTorch) gives, including
the memoized checks' errors and the one-node kernels' derivatives."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import arraylib as xp
from _fd import check_grads
from conftest import assert_close, to_numpy

_NORMS = ("backward", "ortho", "forward")


def _rand(rng, shape, complex_=False, dtype=np.float64):
    a = rng.standard_normal(shape)
    if complex_:
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(np.complex128 if complex_ and dtype == np.float64 else
                    np.complex64 if complex_ else dtype)


# -- fft: small transforms as products with DFT matrices --------------------------------
@pytest.mark.parametrize("shape", [(10, 10), (2, 3), (3, 5, 7), (7,), (2, 16), (2, 17), (4, 1)])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_small_fft_matches_numpy(device, shape, dtype):
    rng = np.random.default_rng(0)
    a = _rand(rng, shape, True).astype(dtype)
    x = xp.asarray(a, device=device)
    tol = 2e-5 if dtype == np.complex64 else 1e-12
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # (NumPy's s without axes)
        for norm in _NORMS:
            for f in ("fftn", "ifftn"):
                r = getattr(xp.fft, f)(x, norm=norm)
                assert r.dtype == x.dtype
                np.testing.assert_allclose(to_numpy(r), getattr(np.fft, f)(a, norm=norm),
                                           atol=tol * 10)
            r = xp.fft.rfftn(xp.real(x), norm=norm)
            np.testing.assert_allclose(to_numpy(r), np.fft.rfftn(a.real, norm=norm), atol=tol * 10)
            for n in (None, 5, 8):
                if n is None and shape[-1] == 1:
                    continue
                s = None if n is None else a.shape[:-1] + (n,)
                axes = tuple(range(a.ndim))
                r = xp.fft.irfftn(x, s=s, norm=norm)
                assert r.dtype == (xp.float32 if dtype == np.complex64 else xp.float64)
                np.testing.assert_allclose(to_numpy(r), np.fft.irfftn(a, s=s, axes=axes, norm=norm),
                                           atol=tol * 10)
            if a.ndim == 3:  # axes that are not trailing: one product per axis
                r = xp.fft.fftn(x, axes=(0, 2), norm=norm)
                np.testing.assert_allclose(to_numpy(r), np.fft.fftn(a, axes=(0, 2), norm=norm),
                                           atol=tol * 10)
                r = xp.fft.rfftn(xp.real(x), axes=(2, 0), norm=norm)
                np.testing.assert_allclose(to_numpy(r), np.fft.rfftn(a.real, axes=(2, 0), norm=norm),
                                           atol=tol * 10)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_small_fft_of_non_finite_input_is_the_fft_proper(device, bad):
    """A DFT-matrix product would smear an inf or NaN over every entry (inf times a zero
    twiddle part): small transforms of such input give NumPy's (pocketfft's) entries."""
    a = np.array([[bad, 1.0, 2.0, 3.0], [0.5, -1.0, 0.0, 2.0]])
    x = xp.asarray(a, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for f, arg in (("fftn", a.astype(complex)), ("ifftn", a.astype(complex)), ("rfftn", a),
                       ("irfftn", a.astype(complex))):
            src = xp.asarray(arg, device=device) if arg.dtype.kind == "c" else x
            got, want = to_numpy(getattr(xp.fft, f)(src)), getattr(np.fft, f)(arg)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        got = to_numpy(xp.fft.fft(xp.asarray(a[0], device=device)))
        np.testing.assert_array_equal(got, np.fft.fft(a[0]))


@pytest.mark.parametrize("f", ["fftn", "ifftn", "rfftn", "irfftn", "hfft", "ihfft"])
def test_small_fft_on_a_device_without_float64(f):
    """The DFT matrices' double-precision twiddles are computed on the host: a device
    without float64 (strict:no_float64) takes them rounded to complex64."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    arg = a if f in ("rfftn", "ihfft") else (a + 1j * a[::-1]).astype(np.complex64)
    got = getattr(xp.fft, f)(xp.asarray(arg, device="strict:no_float64"))
    want = getattr(np.fft, f)(arg)
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-5, atol=1e-5)


def test_small_fft_gradients(device):
    rng = np.random.default_rng(1)
    c, r = _rand(rng, (2, 3), True), _rand(rng, (2, 4))
    check_grads(lambda x: xp.fft.fftn(x, norm="ortho"), [c], device)
    check_grads(lambda x: xp.fft.rfftn(x), [r], device)
    check_grads(lambda x: xp.fft.irfftn(x, s=(2, 6)), [c], device)
    check_grads(lambda x: xp.fft.fftshift(x), [r], device)


def test_fft_checks_are_memoized_but_still_raise():
    x = xp.asarray(np.ones((2, 3), np.complex64))
    xp.fft.fftn(x, s=(2, 3))
    with pytest.raises(TypeError, match="s must be an integer"):
        xp.fft.fftn(x, s=(2.0, 3))
    with pytest.raises(ValueError, match="same length"):
        xp.fft.fftn(x, s=(2, 3), axes=(0,))


# -- einsum: one primitive ----------------------------------------------------------------
_EQUATIONS = [("ij,jk->ik", [(2, 3), (3, 4)]), ("ii", [(3, 3)]), ("ii->i", [(3, 3)]),
              ("bi,bi->b", [(2, 3), (1, 3)]), ("i,j->ij", [(3,), (4,)]),
              ("ij,j,jk->ik", [(2, 3), (3,), (3, 4)]), ("iji->ij", [(2, 3, 2)]),
              ("...ij->...ji", [(2, 1, 2, 3)]), ("bi,bi->b", [(2, 3), (2, 1)])]


@pytest.mark.parametrize("eq,shapes", _EQUATIONS)
@pytest.mark.parametrize("complex_", [False, True])
def test_einsum_against_torch(torch, eq, shapes, complex_):
    rng = np.random.default_rng(2)
    arrs = [_rand(rng, s, complex_) for s in shapes]
    xs = [xp.asarray(a, requires_grad=True) for a in arrs]
    ts = [torch.tensor(a, requires_grad=True) for a in arrs]
    r, e = xp.einsum(eq, *xs), torch.einsum(eq, *ts)
    np.testing.assert_allclose(to_numpy(r), e.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = _rand(rng, tuple(e.shape), complex_)
    r.backward(xp.asarray(g))
    e.backward(torch.tensor(g))
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(to_numpy(x.grad), t.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("eq,shapes", _EQUATIONS[:4])
def test_einsum_gradients(eq, shapes):
    rng = np.random.default_rng(3)
    check_grads(lambda *t: xp.einsum(eq, *t), [_rand(rng, s) for s in shapes], "cpu")


def test_einsum_errors_stay():
    a, b = xp.ones((2, 3)), xp.ones((4, 5))
    with pytest.raises(ValueError, match="einsum"):
        xp.einsum("ij,jk->ik", a, b)
    with pytest.raises(ValueError, match="einsum"):
        xp.einsum("ij->ij", a, b)


# -- logsumexp, outer, vecdot, norms: one node or one call -----------------------------
@pytest.mark.parametrize("dim,keepdim", [((0, 1), True), (-1, False), (0, True)])
def test_logsumexp_kernel(torch, dim, keepdim):
    rng = np.random.default_rng(4)
    a = rng.standard_normal((3, 4))
    a[0] = -np.inf  # a row of -inf: -inf, not NaN
    x, t = xp.asarray(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    with np.errstate(all="ignore"):  # (log(0) in the -inf row, as NumPy warns)
        r = xp.logsumexp(x, dim, keepdim)
        r.sum().backward()
    e = torch.logsumexp(t, dim, keepdim)
    np.testing.assert_allclose(to_numpy(r), e.detach().numpy(), rtol=1e-12)
    e.sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), t.grad.numpy(), rtol=1e-12, equal_nan=True)
    check_grads(lambda v: xp.logsumexp(v, dim, keepdim), [rng.standard_normal((3, 4))], "cpu")


def test_outer_and_vecdot(device):
    rng = np.random.default_rng(5)
    for complex_ in (False, True):
        a, b = _rand(rng, (3,), complex_), _rand(rng, (4,), complex_)
        for outer in (xp.outer, xp.linalg.outer):
            assert_close(outer(xp.asarray(a, device=device), xp.asarray(b, device=device)),
                         np.outer(a, b))
        check_grads(xp.linalg.outer, [a, b], device)
        m, v = _rand(rng, (2, 3), complex_), _rand(rng, (3,), complex_)
        with xp.no_grad():
            r = xp.vecdot(xp.asarray(m, device=device), xp.asarray(v, device=device))
        assert_close(r, np.sum(np.conj(m) * v, axis=-1), rtol=1e-12)


@pytest.mark.parametrize("ord", ["fro", 1, -1, np.inf, -np.inf])
@pytest.mark.parametrize("keepdims", [False, True])
def test_matrix_norm_on_storage(device, ord, keepdims):
    rng = np.random.default_rng(6)
    for a in (rng.standard_normal((2, 3, 4)), _rand(rng, (3, 3), True)):
        r = xp.linalg.matrix_norm(xp.asarray(a, device=device), ord=ord, keepdims=keepdims)
        assert_close(r, np.linalg.norm(a, ord=ord, axis=(-2, -1), keepdims=keepdims), rtol=1e-12)


@pytest.mark.parametrize("ord", ["fro", 1, -1, np.inf, -np.inf])
@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0), (2, 0, 3), (2, 3, 0)])
def test_matrix_norm_of_empty_matrices_is_zero(device, ord, shape):
    """NumPy's and PyTorch's 0 for an empty matrix (the storage paths reshape and reduce
    over zero-length axes), and NumPy's ValueError where a minimum has nothing to take."""
    a = np.ones(shape)
    try:
        want = np.linalg.matrix_norm(a, ord=ord)
    except ValueError:  # a minimum over an empty axis (-1, -inf): no value, in NumPy too
        with pytest.raises(ValueError):
            xp.linalg.matrix_norm(xp.asarray(a, device=device), ord=ord)
    else:
        assert_close(xp.linalg.matrix_norm(xp.asarray(a, device=device), ord=ord), want, rtol=0)
    v = xp.linalg.vector_norm(xp.asarray(a, device=device), axis=(-2, -1))
    assert_close(v, np.linalg.vector_norm(a, axis=(-2, -1)), rtol=0)


# -- memoized shape checks still refuse bad input ------------------------------------------
def test_memoized_checks_still_raise():
    x, y = xp.ones((2, 3)), xp.ones((2, 4))
    xp.concat([x, x], axis=0)
    with pytest.raises(ValueError, match="concat"):
        xp.concat([x, y], axis=0)
    xp.stack([x, x])
    with pytest.raises(ValueError, match="stack"):
        xp.stack([x, y])
    xp.matmul(x, xp.ones((3, 2)))
    with pytest.raises(ValueError, match="matmul"):
        xp.matmul(x, xp.ones((2, 2)))
    xp.broadcast_to(xp.ones((3, 1)), (3, 4))
    with pytest.raises(ValueError, match="broadcast_to"):
        xp.broadcast_to(xp.ones((3, 2)), (3, 4))
    assert xp.broadcast_shapes((3, 1), (1, 4)) == (3, 4)
    with pytest.raises(ValueError, match="broadcast"):
        xp.broadcast_shapes((3, 2), (1, 4))
    xp.squeeze(xp.ones((1, 3)), axis=0)
    with pytest.raises(ValueError, match="squeeze"):
        xp.squeeze(xp.ones((2, 3)), axis=0)
    with pytest.raises(TypeError):
        xp.squeeze(xp.ones((1, 3)), axis=0.0)
    with pytest.raises(Exception):
        xp.sum(xp.ones((2, 3)), axis=(0, 0))
    idx = xp.asarray([[0, 1, 2]])
    xp.gather(x, 1, idx)
    with pytest.raises(IndexError, match="out of bounds"):
        xp.gather(x, 1, xp.asarray([[0, 1, 3]]))


def test_reductions_and_shapes_against_numpy(device):
    rng = np.random.default_rng(7)
    a = rng.uniform(0.5, 1.5, (3, 4, 5))
    x = xp.asarray(a, device=device)
    assert_close(xp.prod(x, axis=(0, 2)), np.prod(a, axis=(0, 2)), rtol=1e-12)
    assert_close(xp.max(x, axis=(0, 2), keepdims=True), np.max(a, axis=(0, 2), keepdims=True))
    assert_close(xp.all(x > 1.0, axis=1), np.all(a > 1.0, axis=1))
    assert_close(xp.any(x > 1.4), np.any(a > 1.4))
    assert_close(xp.diff(x, axis=1), np.diff(a, axis=1))
    assert_close(xp.roll(x, (1, -2), axis=(0, 2)), np.roll(a, (1, -2), axis=(0, 2)))
    assert_close(xp.roll(x, 7), np.roll(a, 7))
    assert_close(xp.moveaxis(x, (0, 1), (2, 0)), np.moveaxis(a, (0, 1), (2, 0)))
    v = np.array([3.0, np.nan, 1.0, 3.0, np.nan, -0.0, 0.0])
    assert_close(xp.unique_values(xp.asarray(v, device=device)), np.unique(v, equal_nan=False))


def test_sort_and_topk_without_grad(torch):
    rng = np.random.default_rng(8)
    a = rng.permutation(30).astype(np.float32).reshape(5, 6)
    x, t = xp.asarray(a), torch.from_numpy(a)
    for k, dim, largest in ((3, -1, True), (2, 0, False), (6, 1, True)):
        r, e = xp.topk(x, k, dim, largest=largest), torch.topk(t, k, dim, largest=largest)
        np.testing.assert_array_equal(to_numpy(r.values), e.values.numpy())
        np.testing.assert_array_equal(to_numpy(r.indices), e.indices.numpy())
    r = xp.torch.sort(x, 0, descending=True)
    e = torch.sort(t, 0, descending=True)
    np.testing.assert_array_equal(to_numpy(r.values), e.values.numpy())
    np.testing.assert_array_equal(to_numpy(r.indices), e.indices.numpy())

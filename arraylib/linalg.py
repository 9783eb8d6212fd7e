"""The ``linalg`` extension of the Array API standard (2025.12), differentiable.

Every function runs on the device's backend (``B.linalg.<fn>``: NumPy through
array-api-compat, array-api-strict's own linalg, CuPy).  Derivative rules are
written with arraylib's own operations, so higher derivatives work:

- ``inv``, ``solve``, ``det``, ``slogdet``, ``cholesky``, ``qr`` (reduced; complete
  when M <= N), ``svd``/``svdvals`` (distinct singular values), ``eigh``/``eigvalsh``
  (distinct eigenvalues), ``pinv`` (constant rank), ``vector_norm`` (subgradient 0
  at 0), ``diagonal``, ``trace``, ``cross`` have rules of their own; ``matrix_norm``,
  ``matrix_power`` and ``outer`` differentiate as compositions of primitives.
- ``eig``/``eigvals`` (distinct eigenvalues, phase-invariant losses) too;
  ``matrix_rank`` is not differentiable (its output never requires grad).

Complex gradients follow PyTorch's convention (``grad = dL/dRe + i dL/dIm``).
``matmul``, ``matrix_transpose``, ``tensordot`` and ``vecdot`` are the core
namespace's functions.
"""
from __future__ import annotations

import operator
from typing import NamedTuple

import arraylib as _a  # the package (attributes are read at call time)

from . import _dtypes
from ._core._primitive import Primitive, apply
from ._core._tensor import Tensor
from ._core._grad_mode import state

__all__ = ["cholesky", "cross", "det", "diagonal", "eig", "eigh", "eigvals", "eigvalsh", "inv",
           "matmul", "matrix_norm", "matrix_power", "matrix_rank", "matrix_transpose", "outer",
           "pinv", "qr", "slogdet", "solve", "svd", "svdvals", "tensordot", "trace", "vecdot",
           "vector_norm", "EighResult", "EigResult", "QRResult", "SlogdetResult", "SVDResult"]

_CORE = ("matmul", "matrix_transpose", "tensordot", "vecdot")


def __getattr__(name):
    # The core chapter's functions, re-exported (imported on first use).
    if name in _CORE:
        from . import _linear_algebra_functions as _laf
        value = getattr(_laf, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'arraylib.linalg' has no attribute {name!r}")


# -- results -------------------------------------------------------------------
class EighResult(NamedTuple):
    eigenvalues: Tensor
    eigenvectors: Tensor


class EigResult(NamedTuple):
    eigenvalues: Tensor
    eigenvectors: Tensor


class QRResult(NamedTuple):
    Q: Tensor
    R: Tensor


class SlogdetResult(NamedTuple):
    sign: Tensor
    logabsdet: Tensor


class SVDResult(NamedTuple):
    U: Tensor
    S: Tensor
    Vh: Tensor


# -- checks and backend calls ------------------------------------------------------
def _tensor(name, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")


def _floating(name, x):
    _tensor(name, x)
    if x.dtype.kind not in "fc":
        raise TypeError(f"{name}: expected a floating-point dtype, got {x.dtype}")


def _matrix(name, x, *, square=False, floating=True):
    (_floating if floating else _tensor)(name, x)
    shape = x.shape
    if len(shape) < 2:
        raise ValueError(f"{name}: expected a matrix or a stack of matrices (at least 2 "
                         f"dimensions), got shape {shape}")
    if square and shape[-1] != shape[-2]:
        raise ValueError(f"{name}: expected a square matrix or a stack of square matrices "
                         f"(shape (..., M, M)), got shape {shape}")


def _call(name, B, fn, *args, **kwargs):
    """``B.linalg.<fn>``; the backend's LinAlgError becomes a ValueError naming ``name``."""
    try:
        return getattr(B.linalg, fn)(*args, **kwargs)
    except Exception as e:  # numpy/cupy LinAlgError (numpy's subclasses ValueError)
        if type(e).__name__ == "LinAlgError":
            raise ValueError(f"{name}: {e} (input shape {tuple(args[0].shape)})") from None
        raise


def _tracked(*xs) -> bool:
    """Whether an operation on ``xs`` records derivatives (reverse or forward mode)."""
    if state.dual_level:
        return True
    return state.grad_enabled and any(x._requires_grad for x in xs)


def _promote(name, x1, x2):
    from ._core._promotion import binary_operands
    return binary_operands(name, x1, x2)


# -- small differentiable helpers for the rules ------------------------------------
def _mT(x):
    return _a.matrix_transpose(x)


def _mH(x):
    t = _a.matrix_transpose(x)
    return _a.conj(t) if t.dtype.kind == "c" else t


def _conj(x):
    return _a.conj(x) if x.dtype.kind == "c" else x


def _mm(a, b):
    return _a.matmul(a, b)


def _col(v):  # (..., k) -> (..., k, 1)
    return _a.expand_dims(v, axis=-1)


def _row(v):  # (..., k) -> (..., 1, k)
    return _a.expand_dims(v, axis=-2)


def _re(x):
    return _a.real(x) if x.dtype.kind == "c" else x


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _safe_recip(d):
    """1/d, with 0 where d == 0."""
    z = d == 0
    return _a.where(z, _a.zeros_like(d), 1 / _a.where(z, _a.ones_like(d), d))


def _offdiag_recip(w):
    """F[i, j] = 1 / (w[j] - w[i]) off the diagonal (0 on it, and where w[i] == w[j])."""
    return _safe_recip(_row(w) - _col(w))


def _with_diag(m, d):
    """``m`` with ``d`` added to its diagonal."""
    return m + _diag_embed(d, 0, m.shape[-2], m.shape[-1])


def _tril(x, k=0):
    return _a.tril(x, k=k)


def _imag_i(x):
    """i * Im(x) (zero for real x), in x's dtype."""
    if x.dtype.kind != "c":
        return None
    return _a.imag(x) * 1j


# -- diagonal / trace ----------------------------------------------------------------
def _diag_len(n, m, offset):
    if offset >= 0:
        return max(0, min(n, m - offset))
    return max(0, min(m, n + offset))


def _embed_fwd(B, v, *, offset, n, m):
    batch = tuple(v.shape[:-1])
    d = v.shape[-1]
    dev = B.native_device
    if n == 0 or m == 0:
        return B.zeros(batch + (n, m), dtype=v.dtype, device=dev)
    length = n if offset >= 0 else m
    if d < length:
        v = B.concat([v, B.zeros(batch + (length - d,), dtype=v.dtype, device=dev)], axis=-1)
    mask = B.eye(n, m, k=offset, dtype=B.native_dtype(_dtypes.bool), device=dev)
    placed = B.expand_dims(v, axis=-1) if offset >= 0 else B.expand_dims(v, axis=-2)
    return B.where(mask, placed, B.zeros((), dtype=v.dtype, device=dev))


_embed_prim = Primitive(
    "diag_embed", _embed_fwd,
    vjp=lambda g, out, v, *, offset, n, m: (diagonal(g, offset=offset),),
    jvp=lambda t, out, v, *, offset, n, m: _diag_embed(t[0], offset, n, m),
    saves_inputs=False, saves_output=False)


def _diag_embed(v, offset, n, m):
    """A (..., n, m) tensor with ``v`` on diagonal ``offset`` and zeros elsewhere."""
    return apply(_embed_prim, (v,), {"offset": offset, "n": n, "m": m})


_diagonal_prim = Primitive(
    "diagonal", lambda B, x, *, offset, n, m: B.linalg.diagonal(x, offset=offset),
    vjp=lambda g, out, x, *, offset, n, m: (_diag_embed(g, offset, n, m),),
    jvp=lambda t, out, x, *, offset, n, m: diagonal(t[0], offset=offset),
    saves_inputs=False, saves_output=False, view=True)


def diagonal(x, /, *, offset=0):
    """The diagonal ``offset`` of each matrix in ``x`` (shape (..., M, N))."""
    _matrix("diagonal", x, floating=False)
    offset = operator.index(offset)
    n, m = x.shape[-2:]
    return apply(_diagonal_prim, (x,), {"offset": offset, "n": n, "m": m})


def _trace_fwd(B, x, *, offset, dtype, n, m):
    return B.linalg.trace(x, offset=offset, dtype=None if dtype is None else B.native_dtype(dtype))


def _trace_vjp(g, out, x, *, offset, dtype, n, m):
    d = _diag_len(n, m, offset)
    return (_diag_embed(_a.broadcast_to(_col(g), g.shape + (d,)), offset, n, m),)


_trace_prim = Primitive(
    "trace", _trace_fwd, vjp=_trace_vjp,
    jvp=lambda t, out, x, *, offset, dtype, n, m: trace(t[0], offset=offset, dtype=dtype),
    saves_inputs=False, saves_output=False)


def trace(x, /, *, offset=0, dtype=None):
    """Sum along diagonal ``offset`` of each matrix in ``x`` (numeric dtype)."""
    _matrix("trace", x, floating=False)
    if x.dtype == _dtypes.bool:
        raise TypeError("trace: expected a numeric dtype, got bool")
    if dtype is not None:
        dtype = _dtypes.as_dtype(dtype, func="trace")
    n, m = x.shape[-2:]
    return apply(_trace_prim, (x,), {"offset": operator.index(offset), "dtype": dtype, "n": n,
                                      "m": m})


# -- inv / solve -------------------------------------------------------------------
_inv_prim = Primitive(
    "inv", lambda B, x: _call("inv", B, "inv", x),
    vjp=lambda g, y, x: (-_mm(_mH(y), _mm(g, _mH(y))),),
    jvp=lambda t, y, x: -_mm(y, _mm(t[0], y)),
    saves_inputs=False)


def inv(x, /):
    """The inverse of each square matrix in ``x``; ValueError for a singular matrix."""
    _matrix("inv", x, square=True)
    return apply(_inv_prim, (x,))


def _solve_fwd(B, a, b, *, vector):
    return _call("solve", B, "solve", a, b)


def _solve_vec(a, v):
    """solve with a stack of vectors ``v`` (..., M)."""
    return _a.squeeze(solve(a, _col(v)), axis=-1)


def _solve_vjp(g, x, a, b, *, vector):
    gb = _solve_vec(_mH(a), g) if vector else solve(_mH(a), g)
    if vector:
        ga = -(_col(gb) * _row(_conj(x)))
    else:
        ga = -_mm(gb, _mH(x))
    return ga, gb


def _solve_jvp(t, x, a, b, *, vector):
    ta, tb = t
    rhs = tb
    if ta is not None:
        ax = _a.squeeze(_mm(ta, _col(x)), axis=-1) if vector else _mm(ta, x)
        rhs = -ax if rhs is None else rhs - ax
    return _solve_vec(a, rhs) if vector else solve(a, rhs)


_solve_prim = Primitive("solve", _solve_fwd, vjp=_solve_vjp, jvp=_solve_jvp)


def solve(x1, x2, /):
    """Solve ``x1 @ out = x2`` for square ``x1`` (..., M, M); ``x2`` is (M,) (a vector,
    broadcast over ``x1``'s stack) or (..., M, K).  ValueError for a singular matrix."""
    _floating("solve", x1)
    _floating("solve", x2)
    x1, x2 = _promote("solve", x1, x2)
    _matrix("solve", x1, square=True)
    m = x1.shape[-1]
    vector = x2.ndim == 1
    if vector:
        if x2.shape[0] != m:
            raise ValueError(f"solve: x2 of shape {x2.shape} does not match x1 of shape "
                             f"{x1.shape} (expected ({m},))")
    else:
        if x2.ndim < 2 or x2.shape[-2] != m:
            raise ValueError(f"solve: x2 of shape {x2.shape} does not match x1 of shape "
                             f"{x1.shape} (expected (M,) or (..., M, K) with M = {m})")
        try:
            _a.broadcast_shapes(x1.shape[:-2], x2.shape[:-2])
        except ValueError:
            raise ValueError(f"solve: the stacks of x1 {x1.shape} and x2 {x2.shape} do not "
                             "broadcast") from None
    return apply(_solve_prim, (x1, x2), {"vector": vector})


# -- det / slogdet -----------------------------------------------------------------
def _adjugate(x, d):
    """adj(x) = det(x) inv(x); through the SVD when x is singular."""
    try:
        return _col(_col(d)) * inv(x)
    except ValueError:
        U, S, Vh = svd(x)
        k = S.shape[-1]
        mask = _a.eye(k, dtype=_dtypes.bool, device=x.device)
        others = _a.prod(_a.where(mask, _a.ones_like(S)[..., None, :],
                                  _a.broadcast_to(_row(S), S.shape[:-1] + (k, k))), axis=-1)
        scale = det(U) * det(Vh)
        others = _a.astype(others, x.dtype) if x.dtype.kind == "c" else others
        return _col(_col(scale)) * _mm(_mH(Vh) * _row(others), _mH(U))


def _det_vjp(g, d, x):
    return (_col(_col(g)) * _mH(_adjugate(x, d)),)


def _det_jvp(t, d, x):
    return _a.sum(_mT(_adjugate(x, d)) * t[0], axis=(-2, -1))


_det_prim = Primitive("det", lambda B, x: _call("det", B, "det", x), vjp=_det_vjp, jvp=_det_jvp)


def det(x, /):
    """The determinant of each square matrix in ``x``."""
    _matrix("det", x, square=True)
    return apply(_det_prim, (x,))


def _slogdet_fwd(B, x):
    r = _call("slogdet", B, "slogdet", x)
    return r[0], r[1]


def _slogdet_vjp(g, out, x):
    gs, gl = g
    sign = out[0]
    c = gl
    if x.dtype.kind == "c":
        c = c + _a.imag(gs * _a.conj(sign)) * 1j
    return (_col(_col(c)) * _mH(inv(x)),)


def _slogdet_jvp(t, out, x):
    z = trace(solve(x, t[0]))
    if x.dtype.kind == "c":
        return out[0] * (_a.imag(z) * 1j), _a.real(z)
    return None, z


_slogdet_prim = Primitive("slogdet", _slogdet_fwd, vjp=_slogdet_vjp, jvp=_slogdet_jvp, nout=2)


def slogdet(x, /):
    """Sign and natural log of the absolute determinant: ``SlogdetResult(sign, logabsdet)``."""
    _matrix("slogdet", x, square=True)
    return SlogdetResult(*apply(_slogdet_prim, (x,)))


# -- cholesky ----------------------------------------------------------------------
def _phi(x):
    """Lower triangle with the diagonal halved."""
    return _tril(x) - _diag_embed(diagonal(x) * 0.5, 0, x.shape[-2], x.shape[-1])


def _herm(x):
    return (x + _mH(x)) * 0.5


def _chol_vjp(g, out, x, *, upper):
    L = _mH(out) if upper else out
    gL = _mH(g) if upper else g
    inner = _phi(_mm(_mH(L), gL))            # Phi(L^H gL)
    y = solve(_mH(L), inner)                  # L^{-H} Phi(L^H gL)
    ga = _mH(solve(_mH(L), _mH(y)))           # ... L^{-1}
    return (_herm(ga),)


def _chol_jvp(t, out, x, *, upper):
    L = _mH(out) if upper else out
    da = _herm(t[0])
    linv_da = solve(L, da)                    # L^{-1} dA
    inner = _mH(solve(L, _mH(linv_da)))       # L^{-1} dA L^{-H}
    dL = _mm(L, _phi(inner))
    return _mH(dL) if upper else dL


_chol_prim = Primitive("cholesky",
                       lambda B, x, *, upper: _call("cholesky", B, "cholesky", x, upper=upper),
                       vjp=_chol_vjp, jvp=_chol_jvp, saves_inputs=False)


def cholesky(x, /, *, upper=False):
    """The Cholesky factor of each Hermitian positive-definite matrix in ``x``: lower ``L``
    with ``x = L @ L^H`` (or upper ``U`` with ``x = U^H @ U``).  ValueError when a matrix
    is not positive definite."""
    _matrix("cholesky", x, square=True)
    return apply(_chol_prim, (x,), {"upper": bool(upper)})


# -- qr ------------------------------------------------------------------------------
def _qr_square_vjp(Q, R, gQ, gR):
    """Cotangent of A = QR (M >= N, reduced) from those of Q and R."""
    M = _mm(_mH(Q), gQ) - _mm(gR, _mH(R))
    low = _tril(M, -1)
    om = low - _tril(_mH(M), -1)
    ii = _imag_i(diagonal(M))
    if ii is not None:
        om = _with_diag(om, ii)
    N = _mm(Q, om - M) + gQ
    return _mH(solve(R, _mH(N)))              # N R^{-H}


def _qr_square_jvp(Q, R, dA):
    c = _mH(solve(_mH(R), _mH(dA)))           # dA R^{-1}
    qt = _mm(_mH(Q), c)
    low = _tril(qt, -1)
    om = low - _mH(low)
    ii = _imag_i(diagonal(qt))
    if ii is not None:
        om = _with_diag(om, ii)
    return _mm(Q, om - qt) + c, _mm(qt - om, R)


def _qr_vjp(g, out, x, *, mode):
    gQ, gR = g
    Q, R = out
    m, n = x.shape[-2:]
    if m >= n:
        if mode == "complete" and m > n:
            raise RuntimeError("qr: the derivative of mode='complete' with M > N is not "
                               f"defined (input shape {x.shape}); use mode='reduced'")
        return (_qr_square_vjp(Q, R, gQ, gR),)
    # M < N: A = [X | Y], X = Q U (square), Y = Q V
    Y = x[..., :, m:]
    U, gU = R[..., :, :m], gR[..., :, :m]
    gV = gR[..., :, m:]
    gX = _qr_square_vjp(Q, U, gQ + _mm(Y, _mH(gV)), gU)
    return (_a.concat([gX, _mm(Q, gV)], axis=-1),)


def _qr_jvp(t, out, x, *, mode):
    Q, R = out
    m, n = x.shape[-2:]
    dA = t[0]
    if m >= n:
        if mode == "complete" and m > n:
            raise RuntimeError("qr: the derivative of mode='complete' with M > N is not "
                               f"defined (input shape {x.shape}); use mode='reduced'")
        return _qr_square_jvp(Q, R, dA)
    dQ, dU = _qr_square_jvp(Q, R[..., :, :m], dA[..., :, :m])
    dV = _mm(_mH(dQ), x[..., :, m:]) + _mm(_mH(Q), dA[..., :, m:])
    return dQ, _a.concat([dU, dV], axis=-1)


def _qr_fwd(B, x, *, mode):
    r = _call("qr", B, "qr", x, mode=mode)
    return r[0], r[1]


_qr_prim = Primitive("qr", _qr_fwd, vjp=_qr_vjp, jvp=_qr_jvp, nout=2)


def qr(x, /, *, mode="reduced"):
    """QR decomposition of each matrix in ``x``: ``QRResult(Q, R)`` (mode 'reduced' or
    'complete')."""
    _matrix("qr", x)
    if mode not in ("reduced", "complete"):
        raise ValueError(f"qr: mode must be 'reduced' or 'complete', got {mode!r}")
    return QRResult(*apply(_qr_prim, (x,), {"mode": mode}))


# -- svd -----------------------------------------------------------------------------
def _svd_fwd(B, x, *, full_matrices):
    r = _call("svd", B, "svd", x, full_matrices=full_matrices)
    return r[0], r[1], r[2]


def _svd_vjp(g, out, x, *, full_matrices):
    gU, gS, gVh = g
    U, S, Vh = out
    m, n = x.shape[-2:]
    k = min(m, n)
    if full_matrices and m != n:
        # Only the first k columns of U (rows of Vh) are determined by x.
        U, Vh = U[..., :, :k], Vh[..., :k, :]
        gU, gVh = gU[..., :, :k], gVh[..., :k, :]
    V, gV = _mH(Vh), _mH(gVh)
    F = _offdiag_recip(S * S)
    s_inv = _safe_recip(S)
    J = _mm(_mH(U), gU)
    K = _mm(Vh, gV)
    Sc = _a.astype(S, x.dtype) if x.dtype.kind == "c" else S
    gamma = (F * (J - _mH(J))) * _row(Sc) + _col(Sc) * (F * (K - _mH(K)))
    diag = _a.astype(gS, x.dtype) if x.dtype.kind == "c" else gS
    ii = _imag_i(diagonal(J))
    if ii is not None:
        diag = diag + ii * s_inv
    gamma = _with_diag(gamma, diag)
    ga = _mm(U, _mm(gamma, Vh))
    if m > k:
        gUs = gU * _row(s_inv)
        ga = ga + _mm(gUs - _mm(U, _mm(_mH(U), gUs)), Vh)
    if n > k:
        gVhs = gVh * _col(s_inv)
        ga = ga + _mm(U, gVhs - _mm(_mm(gVhs, V), Vh))
    return (ga,)


def _svd_jvp_parts(x, U, S, Vh, dA, want_uv):
    V = _mH(Vh)
    dS = _mm(_mH(U), _mm(dA, V))
    ds = _re(diagonal(dS))
    if not want_uv:
        return ds, None, None
    m, n = x.shape[-2:]
    F = _offdiag_recip(S * S)
    s_inv = _safe_recip(S)
    Sc = _a.astype(S, x.dtype) if x.dtype.kind == "c" else S
    dSS = dS * _row(Sc)
    SdS = _col(Sc) * dS
    inner_u = F * (dSS + _mH(dSS))
    ii = _imag_i(diagonal(dS))
    if ii is not None:
        inner_u = _with_diag(inner_u, ii * s_inv)
    dU = _mm(U, inner_u)
    dV = _mm(V, F * (SdS + _mH(SdS)))
    if m > n:
        dAV = _mm(dA, V)
        dU = dU + (dAV - _mm(U, _mm(_mH(U), dAV))) * _row(s_inv)
    if n > m:
        dAHU = _mm(_mH(dA), U)
        dV = dV + (dAHU - _mm(V, _mm(Vh, dAHU))) * _row(s_inv)
    return ds, dU, _mH(dV)


def _svd_jvp(t, out, x, *, full_matrices):
    U, S, Vh = out
    m, n = x.shape[-2:]
    if full_matrices and m != n:
        raise RuntimeError("svd: forward-mode derivatives of full_matrices=True with a "
                           f"non-square input (shape {x.shape}) are not defined; use "
                           "full_matrices=False")
    ds, dU, dVh = _svd_jvp_parts(x, U, S, Vh, t[0], True)
    return dU, ds, dVh


_svd_prim = Primitive("svd", _svd_fwd, vjp=_svd_vjp, jvp=_svd_jvp, nout=3)


def svd(x, /, *, full_matrices=True):
    """Singular value decomposition ``x = U @ diag(S) @ Vh``: ``SVDResult(U, S, Vh)``,
    S in descending order.  Derivatives assume distinct singular values."""
    _matrix("svd", x)
    return SVDResult(*apply(_svd_prim, (x,), {"full_matrices": bool(full_matrices)}))


def _svdvals_vjp(g, s, x):
    U, _, Vh = svd(x, full_matrices=False)
    gs = _a.astype(g, x.dtype) if x.dtype.kind == "c" else g
    return (_mm(U, _col(gs) * Vh),)


def _svdvals_jvp(t, s, x):
    with _no_dual():
        U, S, Vh = svd(x, full_matrices=False)
    return _svd_jvp_parts(x, U, S, Vh, t[0], False)[0]


_svdvals_prim = Primitive("svdvals", lambda B, x: _call("svdvals", B, "svdvals", x),
                          vjp=_svdvals_vjp, jvp=_svdvals_jvp, saves_output=False)


def svdvals(x, /):
    """The singular values of each matrix in ``x``, in descending order."""
    _matrix("svdvals", x)
    return apply(_svdvals_prim, (x,))


class _no_dual:
    """Run rule code without forward-mode tangents (JVP rules already run so)."""

    def __enter__(self):
        self.level = state.dual_level
        state.dual_level = 0

    def __exit__(self, *exc):
        state.dual_level = self.level


# -- eigh ----------------------------------------------------------------------------
def _eigh_fwd(B, x):
    r = _call("eigh", B, "eigh", x)
    return r[0], r[1]


def _eigh_vjp(g, out, x):
    gw, gV = g
    w, V = out
    inner = _offdiag_recip(w) * _mm(_mH(V), gV)
    gwc = _a.astype(gw, V.dtype) if V.dtype.kind == "c" else gw
    inner = _with_diag(inner, gwc)
    return (_mm(V, _mm(inner, _mH(V))),)


def _eigh_jvp_parts(w, V, dA, want_v):
    M = _mm(_mH(V), _mm(dA, V))
    dw = _re(diagonal(M))
    if not want_v:
        return dw, None
    return dw, _mm(V, _offdiag_recip(w) * M)


def _eigh_jvp(t, out, x):
    w, V = out
    return _eigh_jvp_parts(w, V, t[0], True)


_eigh_prim = Primitive("eigh", _eigh_fwd, vjp=_eigh_vjp, jvp=_eigh_jvp, nout=2,
                       saves_inputs=False)


def eigh(x, /):
    """Eigenvalues (ascending) and eigenvectors of each Hermitian matrix in ``x``:
    ``EighResult(eigenvalues, eigenvectors)``.  Only the lower triangle is read.
    Derivatives assume distinct eigenvalues."""
    _matrix("eigh", x, square=True)
    return EighResult(*apply(_eigh_prim, (x,)))


def _eigvalsh_vjp(g, w, x):
    _, V = eigh(x)
    gc = _a.astype(g, x.dtype) if x.dtype.kind == "c" else g
    return (_mm(V * _row(gc), _mH(V)),)


def _eigvalsh_jvp(t, w, x):
    with _no_dual():
        w, V = eigh(x)
    return _eigh_jvp_parts(w, V, t[0], False)[0]


_eigvalsh_prim = Primitive("eigvalsh", lambda B, x: _call("eigvalsh", B, "eigvalsh", x),
                           vjp=_eigvalsh_vjp, jvp=_eigvalsh_jvp, saves_output=False)


def eigvalsh(x, /):
    """Eigenvalues (ascending) of each Hermitian matrix in ``x``."""
    _matrix("eigvalsh", x, square=True)
    return apply(_eigvalsh_prim, (x,))


# -- eig, eigvals (complex results) ---------------------------------------------------------
def _eig_fwd(B, x, *, real):
    r = _call("eig", B, "eig", x)
    return r[0], r[1]


def _eig_vjp(g, out, x, *, real):
    gL, gV = g
    L, V = out
    VhgV = _mm(_mH(V), gV)
    re_diag = _a.astype(_a.real(diagonal(VhgV)), V.dtype)
    inner = (VhgV - _mm(_mH(V), V) * _row(re_diag)) * _conj(_offdiag_recip(L))
    inner = _with_diag(inner, gL)
    ga = solve(_mH(V), _mm(inner, _mH(V)))           # V^{-H} (...) V^H
    return (_a.real(ga) if real else ga,)


def _eig_jvp_parts(L, V, dA, want_v):
    dX = solve(V, _mm(dA, V))                         # V^{-1} dA V
    dL = diagonal(dX)
    if not want_v:
        return dL, None
    dV = _mm(V, dX * _offdiag_recip(L))
    dV = dV - V * _row(_a.astype(_a.real(diagonal(_mm(_mH(V), dV))), V.dtype))
    return dL, dV


def _eig_jvp(t, out, x, *, real):
    L, V = out
    return _eig_jvp_parts(L, V, _a.astype(t[0], V.dtype), True)


_eig_prim = Primitive("eig", _eig_fwd, vjp=_eig_vjp, jvp=_eig_jvp, nout=2, saves_inputs=False)


def _eigvals_vjp(g, L, x):
    _, V = eig(x)
    ga = solve(_mH(V), _mH(V) * _col(g))             # V^{-H} diag(g) V^H
    return (_a.real(ga) if x.dtype.kind != "c" else ga,)


def _eigvals_jvp(t, L, x):
    with _no_dual():
        L, V = eig(x)
    return _eig_jvp_parts(L, V, _a.astype(t[0], V.dtype), False)[0]


_eigvals_prim = Primitive("eigvals", lambda B, x: _call("eigvals", B, "eigvals", x),
                          vjp=_eigvals_vjp, jvp=_eigvals_jvp, saves_output=False)


def _complex_of(x, t):
    want = _dtypes.complex128 if x.dtype in (_dtypes.float64, _dtypes.complex128) \
        else _dtypes.complex64
    return t if t.dtype == want else _a.astype(t, want)


def eig(x, /):
    """Eigenvalues and eigenvectors (unit columns) of each square matrix in ``x``, complex:
    ``EigResult(eigenvalues, eigenvectors)``.  Derivatives assume distinct eigenvalues and a
    loss that does not depend on the eigenvectors' phases."""
    _matrix("eig", x, square=True)
    w, v = apply(_eig_prim, (x,), {"real": x.dtype.kind != "c"})
    return EigResult(_complex_of(x, w), _complex_of(x, v))


def eigvals(x, /):
    """Eigenvalues (complex) of each square matrix in ``x``."""
    _matrix("eigvals", x, square=True)
    return _complex_of(x, apply(_eigvals_prim, (x,)))


# -- matrix_rank: not differentiable -----------------------------------------------------------
def _rtol_param(name, x, rtol):
    if rtol is None:
        return None
    if isinstance(rtol, Tensor):
        if rtol._device is not x._device:
            raise ValueError(f"{name}: rtol is on device '{rtol._device}' but x is on "
                             f"'{x._device}'")
        return rtol
    if isinstance(rtol, bool) or not isinstance(rtol, (int, float)):
        raise TypeError(f"{name}: rtol must be a float or a Tensor, got {type(rtol).__name__}")
    return float(rtol)


def _rank_fwd(B, x, *rt, rtol):
    return _call("matrix_rank", B, "matrix_rank", x, rtol=rt[0] if rt else rtol)


_rank_prim = Primitive("matrix_rank", _rank_fwd)


def matrix_rank(x, /, *, rtol=None):
    """The rank of each matrix in ``x`` (singular values above ``rtol * max(S)``)."""
    _matrix("matrix_rank", x)
    rtol = _rtol_param("matrix_rank", x, rtol)
    if isinstance(rtol, Tensor):
        return apply(_rank_prim, (x, rtol), {"rtol": None})
    return apply(_rank_prim, (x,), {"rtol": rtol})


# -- pinv ----------------------------------------------------------------------------
def _pinv_fwd(B, x, *rt, rtol):
    return _call("pinv", B, "pinv", x, rtol=rt[0] if rt else rtol)


def _pinv_vjp(g, P, x, *rt, rtol):
    A = x
    PH, gH = _mH(P), _mH(g)
    W = _mm(gH, _mm(P, PH))                   # gP^H P P^H
    Z = _mm(_mm(PH, P), gH)                   # P^H P gP^H
    ga = -_mm(PH, _mm(g, PH)) + (W - _mm(A, _mm(P, W))) + (Z - _mm(_mm(Z, P), A))
    return (ga,) + (None,) * len(rt)


def _pinv_jvp(t, P, x, *rt, rtol):
    A, dA = x, t[0]
    dAH = _mH(dA)
    r = -_mm(P, _mm(dA, P))
    PPH = _mm(P, _mH(P))
    t2 = _mm(PPH, dAH)
    r = r + (t2 - _mm(_mm(t2, A), P))         # P P^H dA^H (I - A P)
    t3 = _mm(dAH, _mm(_mH(P), P))
    r = r + (t3 - _mm(P, _mm(A, t3)))         # (I - P A) dA^H P^H P
    return r


_pinv_prim = Primitive("pinv", _pinv_fwd, vjp=_pinv_vjp, jvp=_pinv_jvp)


def pinv(x, /, *, rtol=None):
    """Moore-Penrose pseudo-inverse of each matrix in ``x`` (singular values at most
    ``rtol * max(S)`` count as zero).  Derivatives assume the rank does not change."""
    _matrix("pinv", x)
    rtol = _rtol_param("pinv", x, rtol)
    if isinstance(rtol, Tensor):
        return apply(_pinv_prim, (x, rtol), {"rtol": None})
    return apply(_pinv_prim, (x,), {"rtol": rtol})


# -- norms ---------------------------------------------------------------------------
def _sgn(x):
    """x/|x| (0 at 0) for complex, sign for real."""
    if x.dtype.kind == "c":
        a = _a.abs(x)
        z = a == 0
        return _a.where(z, _a.zeros_like(x), x / _a.where(z, _a.ones_like(a), a))
    return _a.sign(x)


def _vnorm_factor(x, nk, ord):
    """d||x||/dx (PyTorch's convention), given the norm with kept dims ``nk``."""
    if ord == 0:
        return None
    if ord == 2:
        s = x / _a.where(nk == 0, _a.ones_like(nk), nk)
        return s
    if ord == 1:
        return _sgn(x)
    a = _a.abs(x)
    if ord in (float("inf"), float("-inf")):
        mask = (a == nk)
        maskf = _a.astype(mask, a.dtype)
        count = _a.sum(maskf, axis=_vaxes(x, nk), keepdims=True)
        return _sgn(x) * (maskf / _a.where(count == 0, _a.ones_like(count), count))
    p = float(ord)
    az = a == 0
    safe_a = _a.where(az, _a.ones_like(a), a)
    nz = nk == 0
    safe_n = _a.where(nz, _a.ones_like(nk), nk)
    ratio = (safe_a / safe_n) ** (p - 1)
    ratio = _a.where(az | nz, _a.zeros_like(ratio), ratio)
    return _sgn(x) * ratio


def _vaxes(x, nk):
    return tuple(i for i in range(x.ndim) if nk.shape[i] == 1 and x.shape[i] != 1) or None


def _vn_keep(t, x, axes, keepdims):
    if keepdims:
        return t
    shape = tuple(1 if (axes is None or i in axes) else s for i, s in enumerate(x.shape))
    return _a.reshape(t, shape)


def _vnorm_vjp(g, out, x, *, axes, keepdims, ord):
    s = _vnorm_factor(x, _vn_keep(out, x, axes, keepdims), ord)
    if s is None:
        return (_a.zeros_like(x),)
    gk = _vn_keep(g, x, axes, keepdims)
    return (gk * s,)


def _vnorm_jvp(t, out, x, *, axes, keepdims, ord):
    s = _vnorm_factor(x, _vn_keep(out, x, axes, keepdims), ord)
    if s is None:
        return _a.zeros_like(out)
    return _a.sum(_re(_conj(s) * t[0]), axis=axes, keepdims=keepdims)


def _vnorm_fwd(B, x, *, axes, keepdims, ord):
    return B.linalg.vector_norm(x, axis=axes, keepdims=keepdims, ord=ord)


_vnorm_prim = Primitive("vector_norm", _vnorm_fwd, vjp=_vnorm_vjp, jvp=_vnorm_jvp)


def _norm_axes(name, axis, ndim):
    if axis is None:
        return None
    from ._manipulation_functions import normalize_axes
    if ndim == 0:
        raise ValueError(f"{name}: axis {axis!r} is out of bounds for a 0-d tensor")
    return tuple(sorted(normalize_axes(name, axis, ndim)))


def _check_ord(name, ord, allowed=None):
    if isinstance(ord, bool) or not isinstance(ord, (int, float)):
        raise ValueError(f"{name}: invalid ord {ord!r}")
    if ord != ord:
        raise ValueError(f"{name}: invalid ord {ord!r}")
    return ord


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """The ``ord``-norm of ``x`` over ``axis`` (None: all elements; int or tuple).
    ``ord``: any real number, ``inf`` or ``-inf``; 0 counts nonzero elements."""
    _floating("vector_norm", x)
    ord = _check_ord("vector_norm", ord)
    axes = _norm_axes("vector_norm", axis, x.ndim)
    if axes is not None and len(axes) == x.ndim:
        axes = None if x.ndim else axes
    return apply(_vnorm_prim, (x,), {"axes": axes, "keepdims": bool(keepdims), "ord": ord})


_MATRIX_ORDS = ("fro", "nuc", 1, -1, 2, -2, float("inf"), float("-inf"))


def _mnorm_fwd(B, x, *, keepdims, ord):
    return _call("matrix_norm", B, "matrix_norm", x, keepdims=keepdims, ord=ord)


_mnorm_prim = Primitive("matrix_norm", _mnorm_fwd)


def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    """The ``ord`` norm of each matrix in ``x``: 'fro', 'nuc', 1, -1, 2, -2, inf, -inf."""
    _matrix("matrix_norm", x)
    if isinstance(ord, bool) or ord not in _MATRIX_ORDS:
        raise ValueError(f"matrix_norm: invalid ord {ord!r}; expected one of 'fro', 'nuc', 1, "
                         "-1, 2, -2, inf, -inf")
    keepdims = bool(keepdims)
    if not _tracked(x):
        return apply(_mnorm_prim, (x,), {"keepdims": keepdims, "ord": ord})
    # differentiable composition of primitives
    if ord == "fro":
        return vector_norm(x, axis=(-2, -1), keepdims=keepdims)
    if ord in ("nuc", 2, -2):
        s = svdvals(x)
        if ord == "nuc":
            r = _a.sum(s, axis=-1)
        else:
            r = (_a.max if ord == 2 else _a.min)(s, axis=-1)
    else:
        a = _a.abs(x)
        sums = _a.sum(a, axis=-2 if ord in (1, -1) else -1)
        r = (_a.max if ord > 0 else _a.min)(sums, axis=-1)
    if keepdims:
        r = _a.reshape(r, r.shape + (1, 1))
    return r


# -- matrix_power, outer, cross -----------------------------------------------------------
def _mpow_fwd(B, x, *, n):
    return _call("matrix_power", B, "matrix_power", x, n)


_mpow_prim = Primitive("matrix_power", _mpow_fwd)


def matrix_power(x, n, /):
    """``x`` raised to the integer power ``n`` (n < 0: power of the inverse)."""
    _matrix("matrix_power", x, square=True, floating=False)
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"matrix_power: n must be an integer, got {type(n).__name__}") from None
    if n == 0 or not _tracked(x):
        if n < 0 and x.dtype.kind not in "fc":
            raise TypeError(f"matrix_power: negative powers need a floating-point dtype, "
                            f"got {x.dtype}")
        return apply(_mpow_prim, (x,), {"n": n})
    base = inv(x) if n < 0 else x
    n = abs(n)
    result = None
    while True:
        if n & 1:
            result = base if result is None else _mm(result, base)
        n >>= 1
        if not n:
            break
        base = _mm(base, base)
    return result


def outer(x1, x2, /):
    """Outer product of two 1-D tensors (no conjugation): shape (N, M)."""
    _tensor("outer", x1)
    _tensor("outer", x2)
    if x1.ndim != 1 or x2.ndim != 1:
        raise ValueError(f"outer: expected two 1-D tensors, got shapes {x1.shape} and {x2.shape}")
    return _a.multiply(_col(x1), x2)


def _cross_vjp(g, out, a, b, *, axis):
    return cross(_conj(b), g, axis=axis), cross(g, _conj(a), axis=axis)


def _cross_jvp(t, out, a, b, *, axis):
    r = None
    if t[0] is not None:
        r = cross(t[0], b, axis=axis)
    if t[1] is not None:
        r = _add(r, cross(a, t[1], axis=axis))
    return r


_cross_prim = Primitive("cross", lambda B, a, b, *, axis: B.linalg.cross(a, b, axis=axis),
                        vjp=_cross_vjp, jvp=_cross_jvp, saves_output=False)


def cross(x1, x2, /, *, axis=-1):
    """Cross product of 3-element vectors along ``axis`` (counted from the end; the other
    dimensions broadcast)."""
    _tensor("cross", x1)
    _tensor("cross", x2)
    x1, x2 = _promote("cross", x1, x2)
    if x1.dtype == _dtypes.bool:
        raise TypeError("cross: expected a numeric dtype, got bool")
    nd = min(x1.ndim, x2.ndim)
    try:
        axis = operator.index(axis)
    except TypeError:
        raise TypeError(f"cross: axis must be an integer, got {type(axis).__name__}") from None
    if axis >= 0 and x1.ndim == x2.ndim and axis < nd:
        axis -= nd
    if nd == 0 or not -nd <= axis <= -1:
        raise ValueError(f"cross: axis {axis} is invalid for shapes {x1.shape} and {x2.shape} "
                         f"(expected -{nd} <= axis <= -1)" if nd else
                         f"cross: expected tensors with at least 1 dimension, got shapes "
                         f"{x1.shape} and {x2.shape}")
    if x1.shape[axis] != 3 or x2.shape[axis] != 3:
        raise ValueError(f"cross: axis {axis} must have size 3 in both tensors, got shapes "
                         f"{x1.shape} and {x2.shape}")
    try:
        _a.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise ValueError(f"cross: shapes {x1.shape} and {x2.shape} do not broadcast") from None
    return apply(_cross_prim, (x1, x2), {"axis": axis})

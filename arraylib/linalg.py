"""The ``linalg`` extension of the Array API standard (2025.12), differentiable.

Every function runs on the device's backend (``B.linalg.<fn>``: NumPy through
array-api-compat, array-api-strict's own linalg, CuPy).  Derivative rules are
written once against a namespace ``ns`` (arraylib's, so higher derivatives work, or
the storage backend for a plain backward):

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

import math
import operator
from typing import NamedTuple

from ._core import _batching as _vb
from . import _dtypes
from ._core._grad_mode import state
from ._core._primitive import Primitive, apply, apply1, apply2, linear_jvp, nondifferentiable
from ._core._promotion import binary_operands
from ._core._tensor import Tensor
from ._elementwise_functions import abs as _abs, multiply
from ._linear_algebra_functions import matmul, matrix_transpose, outer_product, tensordot, vecdot
from ._manipulation_functions import broadcast_shapes, expand_dims, reshape
from ._statistical_functions import _memo_key, max as _max, min as _min, sum as _sum
from ._validation import normalize_axes

__all__ = ["cholesky", "cross", "det", "diagonal", "eig", "eigh", "eigvals", "eigvalsh", "inv",
           "matmul", "matrix_norm", "matrix_power", "matrix_rank", "matrix_transpose", "outer",
           "pinv", "qr", "slogdet", "solve", "svd", "svdvals", "tensordot", "trace", "vecdot",
           "vector_norm", "EighResult", "EigResult", "QRResult", "SlogdetResult", "SVDResult"]


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


# -- helpers for the rules: standard functions of ``ns`` only ----------------------------
# ``ns`` is arraylib's namespace (tensors) or the storage backend (its arrays); see
# arraylib/_core/_primitive.py.
def _is_complex(ns, x):
    d = x.dtype
    return d == ns.complex64 or d == ns.complex128


def _mH(ns, x):
    t = ns.matrix_transpose(x)
    return ns.conj(t) if _is_complex(ns, t) else t


def _conj(ns, x):
    return ns.conj(x) if _is_complex(ns, x) else x


def _re(ns, x):
    return ns.real(x) if _is_complex(ns, x) else x


def _like(ns, x, like):
    """``x`` in ``like``'s dtype when ``like`` is complex (a real factor of a complex rule)."""
    return ns.astype(x, like.dtype) if _is_complex(ns, like) and x.dtype != like.dtype else x


def _col(ns, v):  # (..., k) -> (..., k, 1)
    return ns.expand_dims(v, axis=-1)


def _row(ns, v):  # (..., k) -> (..., 1, k)
    return ns.expand_dims(v, axis=-2)


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _safe_recip(ns, d):
    """1/d, with 0 where d == 0."""
    z = d == 0
    return ns.where(z, ns.zeros_like(d), 1 / ns.where(z, ns.ones_like(d), d))


def _offdiag_recip(ns, w):
    """F[i, j] = 1 / (w[j] - w[i]) off the diagonal (0 on it, and where w[i] == w[j])."""
    return _safe_recip(ns, _row(ns, w) - _col(ns, w))


def _eye_mask(ns, x, n, m, k=0):
    """The boolean (n, m) mask of diagonal ``k``, on ``x``'s device."""
    return ns.eye(n, m, k=k, dtype=ns.bool, device=x.device)


def _with_diag(ns, m, d):
    """The square matrices ``m`` with ``d`` (same dtype) added to their diagonal."""
    n = m.shape[-1]
    return m + ns.where(_eye_mask(ns, m, n, n), _row(ns, d), ns.zeros_like(m))


def _diag_embed(ns, v, offset, n, m):
    """A (..., n, m) array with ``v`` (..., d) on diagonal ``offset``, zeros elsewhere."""
    batch = tuple(v.shape[:-1])
    if n == 0 or m == 0:
        return ns.zeros(batch + (n, m), dtype=v.dtype, device=v.device)
    length = n if offset >= 0 else m
    d = v.shape[-1]
    if d < length:
        v = ns.concat([v, ns.zeros(batch + (length - d,), dtype=v.dtype, device=v.device)],
                      axis=-1)
    placed = _col(ns, v) if offset >= 0 else _row(ns, v)
    return ns.where(_eye_mask(ns, v, n, m, offset), placed, ns.zeros_like(placed))


def _imag_i(ns, x):
    """i * Im(x) for complex ``x``, in x's dtype (None for real x)."""
    if not _is_complex(ns, x):
        return None
    return (x - ns.conj(x)) * 0.5


def _solve_vec(ns, a, v):
    """solve with a stack of vectors ``v`` (..., M)."""
    return ns.linalg.solve(a, _col(ns, v))[..., 0]


# -- diagonal / trace ----------------------------------------------------------------
_diagonal_prim = Primitive(
    "diagonal", lambda B, x, *, offset, n, m: B.linalg.diagonal(x, offset=offset),
    vjp=lambda ns, needs, g, out, x, *, offset, n, m: (_diag_embed(ns, g, offset, n, m),),
    jvp=linear_jvp(lambda ns, t, *, offset, n, m: ns.linalg.diagonal(t, offset=offset)),
    saves_inputs=False, saves_output=False, view=True)
_diagonal_prim.batch = _vb.matrix_rule(_diagonal_prim)


def diagonal(x, /, *, offset=0):
    """The diagonal ``offset`` of each matrix in ``x`` (shape (..., M, N))."""
    key = _memo_key(("diagonal", offset), x, None, False) if offset.__class__ is int else None
    params = _DIAG_PARAMS.get(key)
    if params is not None:
        return apply1(_diagonal_prim, x, params)
    _matrix("diagonal", x, floating=False)
    offset = operator.index(offset)
    n, m = x.shape[-2:]
    params = {"offset": offset, "n": n, "m": m}
    if key is not None:
        if len(_DIAG_PARAMS) >= 1024:
            _DIAG_PARAMS.clear()
        _DIAG_PARAMS[key] = params
    return apply1(_diagonal_prim, x, params)


_DIAG_PARAMS: dict = {}  # memo key -> checked params


def _trace_fwd(B, x, *, offset, dtype, n, m):
    return B.linalg.trace(x, offset=offset, dtype=None if dtype is None else B.native_dtype(dtype))


def _trace_vjp(ns, needs, g, out, x, *, offset, dtype, n, m):
    eye = ns.eye(n, m, k=offset, dtype=g.dtype, device=g.device)
    return (_col(ns, _col(ns, g)) * eye,)


_trace_prim = Primitive(
    "trace", _trace_fwd, vjp=_trace_vjp,
    jvp=linear_jvp(lambda ns, t, *, offset, dtype, n, m:
                   ns.linalg.trace(t, offset=offset, dtype=dtype)),
    saves_inputs=False, saves_output=False)
_trace_prim.batch = _vb.matrix_rule(_trace_prim)


def trace(x, /, *, offset=0, dtype=None):
    """Sum along diagonal ``offset`` of each matrix in ``x`` (numeric dtype)."""
    _matrix("trace", x, floating=False)
    if x.dtype == _dtypes.bool:
        raise TypeError("trace: expected a numeric dtype, got bool")
    if dtype is not None:
        dtype = _dtypes.as_dtype(dtype, func="trace")
    n, m = x.shape[-2:]
    return apply1(_trace_prim, x, {"offset": operator.index(offset), "dtype": dtype, "n": n,
                                      "m": m})


# -- inv / solve -------------------------------------------------------------------
def _inv_vjp(ns, needs, g, y, x):
    yh = _mH(ns, y)
    return (-ns.matmul(yh, ns.matmul(g, yh)),)


_inv_prim = Primitive(
    "inv", lambda B, x: _call("inv", B, "inv", x), vjp=_inv_vjp,
    jvp=lambda ns, t, y, x: -ns.matmul(y, ns.matmul(t[0], y)),
    saves_inputs=False)
_inv_prim.batch = _vb.matrix_rule(_inv_prim)


def inv(x, /):
    """The inverse of each square matrix in ``x``; ValueError for a singular matrix."""
    _matrix("inv", x, square=True)
    return apply1(_inv_prim, x)


def _solve_fwd(B, a, b, *, vector):
    return _call("solve", B, "solve", a, b)


def _solve_vjp(ns, needs, g, x, a, b, *, vector):
    ah = _mH(ns, a)
    gb = _solve_vec(ns, ah, g) if vector else ns.linalg.solve(ah, g)
    ga = None
    if needs[0]:
        if vector:
            ga = -(_col(ns, gb) * _row(ns, _conj(ns, x)))
        else:
            ga = -ns.matmul(gb, _mH(ns, x))
    return ga, (gb if needs[1] else None)


def _solve_jvp(ns, tangents, x, a, b, *, vector):
    ta, rhs = tangents
    if ta is not None:
        ax = ns.matmul(ta, _col(ns, x))[..., 0] if vector else ns.matmul(ta, x)
        rhs = -ax if rhs is None else rhs - ax
    return _solve_vec(ns, a, rhs) if vector else ns.linalg.solve(a, rhs)


_solve_prim = Primitive("solve", _solve_fwd, vjp=_solve_vjp, jvp=_solve_jvp)
_solve_prim.batch = _vb.solve_rule(_solve_prim)


def solve(x1, x2, /):
    """Solve ``x1 @ out = x2`` for square ``x1`` (..., M, M); ``x2`` is (M,) (a vector,
    broadcast over ``x1``'s stack) or (..., M, K).  ValueError for a singular matrix."""
    _floating("solve", x1)
    _floating("solve", x2)
    x1, x2 = binary_operands("solve", x1, x2)
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
            broadcast_shapes(x1.shape[:-2], x2.shape[:-2])
        except ValueError:
            raise ValueError(f"solve: the stacks of x1 {x1.shape} and x2 {x2.shape} do not "
                             "broadcast") from None
    return apply(_solve_prim, (x1, x2), {"vector": vector})


# -- det / slogdet -----------------------------------------------------------------
def _adjugate(ns, x, d):
    """adj(x) = det(x) inv(x); through the SVD when x is singular."""
    try:
        return _col(ns, _col(ns, d)) * ns.linalg.inv(x)
    except ValueError:  # arraylib's, or the backend's LinAlgError (a ValueError)
        U, S, Vh = ns.linalg.svd(x)
        k = S.shape[-1]
        mask = _eye_mask(ns, S, k, k)
        others = ns.prod(ns.where(mask, ns.ones_like(_row(ns, S)),
                                  ns.broadcast_to(_row(ns, S), S.shape[:-1] + (k, k))), axis=-1)
        scale = ns.linalg.det(U) * ns.linalg.det(Vh)
        return _col(ns, _col(ns, scale)) * ns.matmul(_mH(ns, Vh) * _row(ns, _like(ns, others, x)),
                                                     _mH(ns, U))


def _det_vjp(ns, needs, g, d, x):
    return (_col(ns, _col(ns, g)) * _mH(ns, _adjugate(ns, x, d)),)


def _det_jvp(ns, tangents, d, x):
    return ns.sum(ns.matrix_transpose(_adjugate(ns, x, d)) * tangents[0], axis=(-2, -1))


_det_prim = Primitive("det", lambda B, x: _call("det", B, "det", x), vjp=_det_vjp, jvp=_det_jvp)
_det_prim.batch = _vb.matrix_rule(_det_prim)


def det(x, /):
    """The determinant of each square matrix in ``x``."""
    _matrix("det", x, square=True)
    return apply1(_det_prim, x)


def _slogdet_fwd(B, x):
    r = _call("slogdet", B, "slogdet", x)
    return r[0], r[1]


def _slogdet_vjp(ns, needs, g, out, x):
    gs, c = g
    if _is_complex(ns, x):
        c = c + _imag_i(ns, gs * ns.conj(out[0]))
    return (_col(ns, _col(ns, c)) * _mH(ns, ns.linalg.inv(x)),)


def _slogdet_jvp(ns, tangents, out, x):
    z = ns.linalg.trace(ns.linalg.solve(x, tangents[0]))
    if _is_complex(ns, x):
        return out[0] * _imag_i(ns, z), ns.real(z)
    return None, z


_slogdet_prim = Primitive("slogdet", _slogdet_fwd, vjp=_slogdet_vjp, jvp=_slogdet_jvp, nout=2)
_slogdet_prim.batch = _vb.matrix_rule(_slogdet_prim)


def slogdet(x, /):
    """Sign and natural log of the absolute determinant: ``SlogdetResult(sign, logabsdet)``."""
    _matrix("slogdet", x, square=True)
    return SlogdetResult(*apply(_slogdet_prim, (x,)))


# -- cholesky ----------------------------------------------------------------------
def _phi(ns, x):
    """Lower triangle with the diagonal halved (square matrices)."""
    n = x.shape[-1]
    return ns.where(_eye_mask(ns, x, n, n), x * 0.5, ns.tril(x))


def _herm(ns, x):
    return (x + _mH(ns, x)) * 0.5


def _chol_vjp(ns, needs, g, out, x, *, upper):
    L = _mH(ns, out) if upper else out
    gL = _mH(ns, g) if upper else g
    Lh = _mH(ns, L)
    inner = _phi(ns, ns.matmul(Lh, gL))                   # Phi(L^H gL)
    y = ns.linalg.solve(Lh, inner)                         # L^{-H} Phi(L^H gL)
    ga = _mH(ns, ns.linalg.solve(Lh, _mH(ns, y)))          # ... L^{-1}
    return (_herm(ns, ga),)


def _chol_jvp(ns, tangents, out, x, *, upper):
    L = _mH(ns, out) if upper else out
    linv_da = ns.linalg.solve(L, _herm(ns, tangents[0]))           # L^{-1} dA
    inner = _mH(ns, ns.linalg.solve(L, _mH(ns, linv_da)))          # L^{-1} dA L^{-H}
    dL = ns.matmul(L, _phi(ns, inner))
    return _mH(ns, dL) if upper else dL


_chol_prim = Primitive("cholesky",
                       lambda B, x, *, upper: _call("cholesky", B, "cholesky", x, upper=upper),
                       vjp=_chol_vjp, jvp=_chol_jvp, saves_inputs=False)
_chol_prim.batch = _vb.matrix_rule(_chol_prim)


def cholesky(x, /, *, upper=False):
    """The Cholesky factor of each Hermitian positive-definite matrix in ``x``: lower ``L``
    with ``x = L @ L^H`` (or upper ``U`` with ``x = U^H @ U``).  ValueError when a matrix
    is not positive definite."""
    _matrix("cholesky", x, square=True)
    return apply1(_chol_prim, x, {"upper": bool(upper)})


# -- qr ------------------------------------------------------------------------------
def _qr_square_vjp(ns, Q, R, gQ, gR):
    """Cotangent of A = QR (M >= N, reduced) from those of Q and R."""
    M = ns.matmul(_mH(ns, Q), gQ) - ns.matmul(gR, _mH(ns, R))
    om = ns.tril(M, k=-1) - ns.tril(_mH(ns, M), k=-1)
    ii = _imag_i(ns, ns.linalg.diagonal(M))
    if ii is not None:
        om = _with_diag(ns, om, ii)
    N = ns.matmul(Q, om - M) + gQ
    return _mH(ns, ns.linalg.solve(R, _mH(ns, N)))          # N R^{-H}


def _qr_square_jvp(ns, Q, R, dA):
    c = _mH(ns, ns.linalg.solve(_mH(ns, R), _mH(ns, dA)))   # dA R^{-1}
    qt = ns.matmul(_mH(ns, Q), c)
    low = ns.tril(qt, k=-1)
    om = low - _mH(ns, low)
    ii = _imag_i(ns, ns.linalg.diagonal(qt))
    if ii is not None:
        om = _with_diag(ns, om, ii)
    return ns.matmul(Q, om - qt) + c, ns.matmul(qt - om, R)


def _qr_complete_error(x):
    return RuntimeError("qr: the derivative of mode='complete' with M > N is not defined "
                        f"(input shape {tuple(x.shape)}); use mode='reduced'")


def _qr_vjp(ns, needs, g, out, x, *, mode):
    gQ, gR = g
    Q, R = out
    m, n = x.shape[-2:]
    if m >= n:
        if mode == "complete" and m > n:
            raise _qr_complete_error(x)
        return (_qr_square_vjp(ns, Q, R, gQ, gR),)
    # M < N: A = [X | Y], X = Q U (square), Y = Q V
    Y = x[..., :, m:]
    U, gU = R[..., :, :m], gR[..., :, :m]
    gV = gR[..., :, m:]
    gX = _qr_square_vjp(ns, Q, U, gQ + ns.matmul(Y, _mH(ns, gV)), gU)
    return (ns.concat([gX, ns.matmul(Q, gV)], axis=-1),)


def _qr_jvp(ns, tangents, out, x, *, mode):
    Q, R = out
    m, n = x.shape[-2:]
    dA = tangents[0]
    if m >= n:
        if mode == "complete" and m > n:
            raise _qr_complete_error(x)
        return _qr_square_jvp(ns, Q, R, dA)
    dQ, dU = _qr_square_jvp(ns, Q, R[..., :, :m], dA[..., :, :m])
    dV = ns.matmul(_mH(ns, dQ), x[..., :, m:]) + ns.matmul(_mH(ns, Q), dA[..., :, m:])
    return dQ, ns.concat([dU, dV], axis=-1)


def _qr_fwd(B, x, *, mode):
    r = _call("qr", B, "qr", x, mode=mode)
    return r[0], r[1]


_qr_prim = Primitive("qr", _qr_fwd, vjp=_qr_vjp, jvp=_qr_jvp, nout=2)
_qr_prim.batch = _vb.matrix_rule(_qr_prim)


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


def _svd_vjp(ns, needs, g, out, x, *, full_matrices):
    gU, gS, gVh = g
    U, S, Vh = out
    m, n = x.shape[-2:]
    k = min(m, n)
    if full_matrices and m != n:
        # Only the first k columns of U (rows of Vh) are determined by x.
        U, Vh = U[..., :, :k], Vh[..., :k, :]
        gU, gVh = gU[..., :, :k], gVh[..., :k, :]
    V, gV = _mH(ns, Vh), _mH(ns, gVh)
    F = _offdiag_recip(ns, S * S)
    s_inv = _safe_recip(ns, S)
    J = ns.matmul(_mH(ns, U), gU)
    K = ns.matmul(Vh, gV)
    Sc = _like(ns, S, x)
    gamma = (F * (J - _mH(ns, J))) * _row(ns, Sc) + _col(ns, Sc) * (F * (K - _mH(ns, K)))
    diag = _like(ns, gS, x)
    ii = _imag_i(ns, ns.linalg.diagonal(J))
    if ii is not None:
        diag = diag + ii * s_inv
    gamma = _with_diag(ns, gamma, diag)
    ga = ns.matmul(U, ns.matmul(gamma, Vh))
    if m > k:
        gUs = gU * _row(ns, s_inv)
        ga = ga + ns.matmul(gUs - ns.matmul(U, ns.matmul(_mH(ns, U), gUs)), Vh)
    if n > k:
        gVhs = gVh * _col(ns, s_inv)
        ga = ga + ns.matmul(U, gVhs - ns.matmul(ns.matmul(gVhs, V), Vh))
    return (ga,)


def _svd_jvp_parts(ns, x, U, S, Vh, dA, want_uv):
    V = _mH(ns, Vh)
    dS = ns.matmul(_mH(ns, U), ns.matmul(dA, V))
    ds = _re(ns, ns.linalg.diagonal(dS))
    if not want_uv:
        return ds, None, None
    m, n = x.shape[-2:]
    F = _offdiag_recip(ns, S * S)
    s_inv = _safe_recip(ns, S)
    Sc = _like(ns, S, x)
    dSS = dS * _row(ns, Sc)
    SdS = _col(ns, Sc) * dS
    inner_u = F * (dSS + _mH(ns, dSS))
    ii = _imag_i(ns, ns.linalg.diagonal(dS))
    if ii is not None:
        inner_u = _with_diag(ns, inner_u, ii * s_inv)
    dU = ns.matmul(U, inner_u)
    dV = ns.matmul(V, F * (SdS + _mH(ns, SdS)))
    if m > n:
        dAV = ns.matmul(dA, V)
        dU = dU + (dAV - ns.matmul(U, ns.matmul(_mH(ns, U), dAV))) * _row(ns, s_inv)
    if n > m:
        dAHU = ns.matmul(_mH(ns, dA), U)
        dV = dV + (dAHU - ns.matmul(V, ns.matmul(Vh, dAHU))) * _row(ns, s_inv)
    return ds, dU, _mH(ns, dV)


def _svd_jvp(ns, tangents, out, x, *, full_matrices):
    U, S, Vh = out
    m, n = x.shape[-2:]
    if full_matrices and m != n:
        raise RuntimeError("svd: forward-mode derivatives of full_matrices=True with a "
                           f"non-square input (shape {x.shape}) are not defined; use "
                           "full_matrices=False")
    ds, dU, dVh = _svd_jvp_parts(ns, x, U, S, Vh, tangents[0], True)
    return dU, ds, dVh


_svd_prim = Primitive("svd", _svd_fwd, vjp=_svd_vjp, jvp=_svd_jvp, nout=3)
_svd_prim.batch = _vb.matrix_rule(_svd_prim)


def svd(x, /, *, full_matrices=True):
    """Singular value decomposition ``x = U @ diag(S) @ Vh``: ``SVDResult(U, S, Vh)``,
    S in descending order.  Derivatives assume distinct singular values."""
    _matrix("svd", x)
    return SVDResult(*apply(_svd_prim, (x,), {"full_matrices": bool(full_matrices)}))


def _svdvals_vjp(ns, needs, g, s, x):
    U, _, Vh = ns.linalg.svd(x, full_matrices=False)
    return (ns.matmul(U, _col(ns, _like(ns, g, x)) * Vh),)


def _svdvals_jvp(ns, tangents, s, x):
    U, S, Vh = ns.linalg.svd(x, full_matrices=False)
    return _svd_jvp_parts(ns, x, U, S, Vh, tangents[0], False)[0]


_svdvals_prim = Primitive("svdvals", lambda B, x: _call("svdvals", B, "svdvals", x),
                          vjp=_svdvals_vjp, jvp=_svdvals_jvp, saves_output=False)
_svdvals_prim.batch = _vb.matrix_rule(_svdvals_prim)


def svdvals(x, /):
    """The singular values of each matrix in ``x``, in descending order."""
    _matrix("svdvals", x)
    return apply1(_svdvals_prim, x)


# -- eigh ----------------------------------------------------------------------------
def _eigh_fwd(B, x):
    r = _call("eigh", B, "eigh", x)
    return r[0], r[1]


def _eigh_vjp(ns, needs, g, out, x):
    gw, gV = g
    w, V = out
    inner = _offdiag_recip(ns, w) * ns.matmul(_mH(ns, V), gV)
    inner = _with_diag(ns, inner, _like(ns, gw, V))
    return (ns.matmul(V, ns.matmul(inner, _mH(ns, V))),)


def _eigh_jvp_parts(ns, w, V, dA, want_v):
    M = ns.matmul(_mH(ns, V), ns.matmul(dA, V))
    dw = _re(ns, ns.linalg.diagonal(M))
    if not want_v:
        return dw, None
    return dw, ns.matmul(V, _offdiag_recip(ns, w) * M)


def _eigh_jvp(ns, tangents, out, x):
    w, V = out
    return _eigh_jvp_parts(ns, w, V, tangents[0], True)


_eigh_prim = Primitive("eigh", _eigh_fwd, vjp=_eigh_vjp, jvp=_eigh_jvp, nout=2,
                       saves_inputs=False)
_eigh_prim.batch = _vb.matrix_rule(_eigh_prim)


def eigh(x, /):
    """Eigenvalues (ascending) and eigenvectors of each Hermitian matrix in ``x``:
    ``EighResult(eigenvalues, eigenvectors)``.  Only the lower triangle is read.
    Derivatives assume distinct eigenvalues."""
    _matrix("eigh", x, square=True)
    return EighResult(*apply(_eigh_prim, (x,)))


def _eigvalsh_vjp(ns, needs, g, w, x):
    _, V = ns.linalg.eigh(x)
    return (ns.matmul(V * _row(ns, _like(ns, g, x)), _mH(ns, V)),)


def _eigvalsh_jvp(ns, tangents, w, x):
    w, V = ns.linalg.eigh(x)
    return _eigh_jvp_parts(ns, w, V, tangents[0], False)[0]


_eigvalsh_prim = Primitive("eigvalsh", lambda B, x: _call("eigvalsh", B, "eigvalsh", x),
                           vjp=_eigvalsh_vjp, jvp=_eigvalsh_jvp, saves_output=False)
_eigvalsh_prim.batch = _vb.matrix_rule(_eigvalsh_prim)


def eigvalsh(x, /):
    """Eigenvalues (ascending) of each Hermitian matrix in ``x``."""
    _matrix("eigvalsh", x, square=True)
    return apply1(_eigvalsh_prim, x)


# -- eig, eigvals (complex results) ---------------------------------------------------------
def _complex_of(ns, t, x):
    """``t`` (a result of ``eig`` of ``x``) as the complex dtype of ``x``'s precision: NumPy
    returns real arrays when every eigenvalue is real."""
    want = ns.result_type(x.dtype, ns.complex64)
    return t if t.dtype == want else ns.astype(t, want)


def _eig_fwd(B, x, *, real):
    r = _call("eig", B, "eig", x)
    return _complex_of(B, r[0], x), _complex_of(B, r[1], x)


def _eig_vjp(ns, needs, g, out, x, *, real):
    gL, gV = g
    L, V = out
    Vh = _mH(ns, V)
    VhgV = ns.matmul(Vh, gV)
    re_diag = ns.astype(ns.real(ns.linalg.diagonal(VhgV)), V.dtype)
    inner = (VhgV - ns.matmul(Vh, V) * _row(ns, re_diag)) * ns.conj(_offdiag_recip(ns, L))
    inner = _with_diag(ns, inner, gL)
    ga = ns.linalg.solve(Vh, ns.matmul(inner, Vh))          # V^{-H} (...) V^H
    return (ns.real(ga) if real else ga,)


def _eig_jvp_parts(ns, L, V, dA, want_v):
    dX = ns.linalg.solve(V, ns.matmul(dA, V))               # V^{-1} dA V
    dL = ns.linalg.diagonal(dX)
    if not want_v:
        return dL, None
    dV = ns.matmul(V, dX * _offdiag_recip(ns, L))
    re_diag = ns.real(ns.linalg.diagonal(ns.matmul(_mH(ns, V), dV)))
    return dL, dV - V * _row(ns, ns.astype(re_diag, V.dtype))


def _eig_jvp(ns, tangents, out, x, *, real):
    L, V = out
    return _eig_jvp_parts(ns, L, V, ns.astype(tangents[0], V.dtype), True)


_eig_prim = Primitive("eig", _eig_fwd, vjp=_eig_vjp, jvp=_eig_jvp, nout=2, saves_inputs=False)
_eig_prim.batch = _vb.matrix_rule(_eig_prim)


def _eigvals_fwd(B, x):
    return _complex_of(B, _call("eigvals", B, "eigvals", x), x)


def _eigvals_vjp(ns, needs, g, L, x):
    V = _complex_of(ns, ns.linalg.eig(x)[1], x)
    Vh = _mH(ns, V)
    ga = ns.linalg.solve(Vh, Vh * _col(ns, g))              # V^{-H} diag(g) V^H
    return (ga if _is_complex(ns, x) else ns.real(ga),)


def _eigvals_jvp(ns, tangents, L, x):
    L, V = ns.linalg.eig(x)
    V = _complex_of(ns, V, x)
    return _eig_jvp_parts(ns, _complex_of(ns, L, x), V, ns.astype(tangents[0], V.dtype),
                          False)[0]


_eigvals_prim = Primitive("eigvals", _eigvals_fwd, vjp=_eigvals_vjp, jvp=_eigvals_jvp,
                          saves_output=False)
_eigvals_prim.batch = _vb.matrix_rule(_eigvals_prim)


def eig(x, /):
    """Eigenvalues and eigenvectors (unit columns) of each square matrix in ``x``, complex:
    ``EigResult(eigenvalues, eigenvectors)``.  Derivatives assume distinct eigenvalues and a
    loss that does not depend on the eigenvectors' phases."""
    _matrix("eig", x, square=True)
    return EigResult(*apply(_eig_prim, (x,), {"real": x.dtype.kind != "c"}))


def eigvals(x, /):
    """Eigenvalues (complex) of each square matrix in ``x``."""
    _matrix("eigvals", x, square=True)
    return apply1(_eigvals_prim, x)


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


_rank_prim = nondifferentiable("matrix_rank", _rank_fwd)
_rank_prim.batch = _vb.matrix_rule(_rank_prim)


def matrix_rank(x, /, *, rtol=None):
    """The rank of each matrix in ``x`` (singular values above ``rtol * max(S)``)."""
    _matrix("matrix_rank", x)
    rtol = _rtol_param("matrix_rank", x, rtol)
    if isinstance(rtol, Tensor):
        return apply(_rank_prim, (x, rtol), {"rtol": None})
    return apply1(_rank_prim, x, {"rtol": rtol})


# -- pinv ----------------------------------------------------------------------------
def _pinv_fwd(B, x, *rt, rtol):
    return _call("pinv", B, "pinv", x, rtol=rt[0] if rt else rtol)


def _pinv_vjp(ns, needs, g, P, x, *rt, rtol):
    mm = ns.matmul
    A = x
    PH, gH = _mH(ns, P), _mH(ns, g)
    W = mm(gH, mm(P, PH))                     # gP^H P P^H
    Z = mm(mm(PH, P), gH)                     # P^H P gP^H
    ga = -mm(PH, mm(g, PH)) + (W - mm(A, mm(P, W))) + (Z - mm(mm(Z, P), A))
    return (ga,) + (None,) * len(rt)


def _pinv_jvp(ns, tangents, P, x, *rt, rtol):
    mm = ns.matmul
    A, dA = x, tangents[0]
    dAH = _mH(ns, dA)
    r = -mm(P, mm(dA, P))
    t2 = mm(mm(P, _mH(ns, P)), dAH)
    r = r + (t2 - mm(mm(t2, A), P))           # P P^H dA^H (I - A P)
    t3 = mm(dAH, mm(_mH(ns, P), P))
    return r + (t3 - mm(P, mm(A, t3)))        # (I - P A) dA^H P^H P


_pinv_prim = Primitive("pinv", _pinv_fwd, vjp=_pinv_vjp, jvp=_pinv_jvp)
_pinv_prim.batch = _vb.matrix_rule(_pinv_prim)


def pinv(x, /, *, rtol=None):
    """Moore-Penrose pseudo-inverse of each matrix in ``x`` (singular values at most
    ``rtol * max(S)`` count as zero).  Derivatives assume the rank does not change."""
    _matrix("pinv", x)
    rtol = _rtol_param("pinv", x, rtol)
    if isinstance(rtol, Tensor):
        return apply(_pinv_prim, (x, rtol), {"rtol": None})
    return apply1(_pinv_prim, x, {"rtol": rtol})


# -- norms ---------------------------------------------------------------------------
def _sgn(ns, x):
    """x/|x| (0 at 0) for complex, sign for real."""
    if _is_complex(ns, x):
        a = ns.abs(x)
        z = a == 0
        return ns.where(z, ns.zeros_like(x), x / ns.where(z, ns.ones_like(a), a))
    return ns.sign(x)


def _vnorm_factor(ns, x, nk, ord):
    """d||x||/dx (PyTorch's convention), given the norm with kept dims ``nk``."""
    if ord == 0:
        return None
    if ord == 2:
        return x / ns.where(nk == 0, ns.ones_like(nk), nk)
    if ord == 1:
        return _sgn(ns, x)
    a = ns.abs(x)
    if ord in (float("inf"), float("-inf")):
        maskf = ns.astype(a == nk, a.dtype)
        count = ns.sum(maskf, axis=_vaxes(x, nk), keepdims=True)
        return _sgn(ns, x) * (maskf / ns.where(count == 0, ns.ones_like(count), count))
    p = float(ord)
    az = a == 0
    safe_a = ns.where(az, ns.ones_like(a), a)
    nz = nk == 0
    safe_n = ns.where(nz, ns.ones_like(nk), nk)
    ratio = (safe_a / safe_n) ** (p - 1)
    ratio = ns.where(az | nz, ns.zeros_like(ratio), ratio)
    return _sgn(ns, x) * ratio


def _vaxes(x, nk):
    return tuple(i for i in range(x.ndim) if nk.shape[i] == 1 and x.shape[i] != 1) or None


def _vn_keep(ns, t, x, axes, keepdims):
    if keepdims:
        return t
    shape = tuple(1 if (axes is None or i in axes) else s for i, s in enumerate(x.shape))
    return ns.reshape(t, shape)


def _vnorm_vjp(ns, needs, g, out, x, *, axes, keepdims, ord):
    s = _vnorm_factor(ns, x, _vn_keep(ns, out, x, axes, keepdims), ord)
    if s is None:
        return (ns.zeros_like(x),)
    return (_vn_keep(ns, g, x, axes, keepdims) * s,)


def _vnorm_jvp(ns, tangents, out, x, *, axes, keepdims, ord):
    s = _vnorm_factor(ns, x, _vn_keep(ns, out, x, axes, keepdims), ord)
    if s is None:
        return ns.zeros_like(out)
    return ns.sum(_re(ns, _conj(ns, s) * tangents[0]), axis=axes, keepdims=keepdims)


def _sqrt_sum_squares(B, x, axes, keepdims):
    """``sqrt(sum(x * x))`` over ``axes`` (None: all) of a real ``x``: one ``vecdot``
    (a dot product, no temporary) when they are the trailing axes."""
    nd = x.ndim
    k = nd if axes is None else len(axes)
    if k == nd and nd and not keepdims:  # all of it (axes: None or all, sorted)
        return B.sqrt_dot_self(x)
    if 0 < k <= nd and (axes is None or axes == tuple(range(nd - k, nd))):
        lead = x.shape[:nd - k]
        flat = x if k == 1 else B.reshape(x, lead + (math.prod(x.shape[nd - k:]),))
        r = B.sqrt_dot_self(flat) if k == nd else B.sqrt(B.vecdot(flat, flat, axis=-1))
        return B.reshape(r, lead + (1,) * k) if keepdims else r
    return B.sqrt(B.sum(x * x, axis=axes, keepdims=keepdims))


def _vnorm_fwd(B, x, *, axes, keepdims, ord):
    if B.dtype_of(x).kind == "f":  # real: a sum (the library's function is Python code)
        if ord == 2:
            if axes is None and not keepdims and x.ndim:  # (the common call: one dot)
                return B.sqrt_dot_self(x)
            return _sqrt_sum_squares(B, x, axes, keepdims)
        if ord == 1:
            return B.sum(B.abs(x), axis=axes, keepdims=keepdims)
        if ord != 0 and math.isfinite(ord):
            return B.sum(B.abs(x) ** ord, axis=axes, keepdims=keepdims) ** (1.0 / ord)
    return B.linalg.vector_norm(x, axis=axes, keepdims=keepdims, ord=ord)


_vnorm_prim = Primitive("vector_norm", _vnorm_fwd, vjp=_vnorm_vjp, jvp=_vnorm_jvp)
_vnorm_prim.batch = _vb.axis_rule(_vnorm_prim, axes=("axes",))


def _norm_axes(name, axis, ndim):
    if axis is None:
        return None
    if ndim == 0:
        raise ValueError(f"{name}: axis {axis!r} is out of bounds for array of dimension 0")
    return tuple(sorted(normalize_axes(name, axis, ndim)))


def _check_ord(name, ord):
    if isinstance(ord, bool) or not isinstance(ord, (int, float)) or ord != ord:
        raise ValueError(f"{name}: invalid ord {ord!r}")
    return ord


_VNORM_PARAMS: dict = {}  # memo key (+ ord's type and value) -> checked params


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """The ``ord``-norm of ``x`` over ``axis`` (None: all elements; int or tuple).
    ``ord``: any real number, ``inf`` or ``-inf``; 0 counts nonzero elements."""
    key = _memo_key("vector_norm", x, axis, keepdims) \
        if ord.__class__ is int or ord.__class__ is float else None
    if key is not None:
        key = (key, ord.__class__, ord)  # (the type: True is refused where 1 is not)
        params = _VNORM_PARAMS.get(key)
        if params is not None:
            return apply1(_vnorm_prim, x, params)
    _floating("vector_norm", x)
    ord = _check_ord("vector_norm", ord)
    axes = _norm_axes("vector_norm", axis, x.ndim)
    if axes is not None and len(axes) == x.ndim:
        axes = None if x.ndim else axes
    params = {"axes": axes, "keepdims": bool(keepdims), "ord": ord}
    if key is not None:
        if len(_VNORM_PARAMS) >= 1024:
            _VNORM_PARAMS.clear()
        _VNORM_PARAMS[key] = params
    return apply1(_vnorm_prim, x, params)


_MATRIX_ORDS = ("fro", "nuc", 1, -1, 2, -2, float("inf"), float("-inf"))
_MNORM_PARAMS: dict = {}  # memo key (+ ord's type and value) -> checked params, untracked


def _mnorm_fwd(B, x, *, keepdims, ord):
    if ord == "fro" and x.ndim == 2 and not keepdims and B.dtype_of(x).kind == "f":
        return B.sqrt_dot_self(x)  # (one matrix: one dot)
    if ord == "fro":  # sums on storage (the library's function is Python code)
        return _sqrt_sum_squares(B, x if B.dtype_of(x).kind == "f" else B.abs(x),
                                 (x.ndim - 2, x.ndim - 1), keepdims)
    if ord in (1, -1, math.inf, -math.inf) and x.size:  # (an empty matrix: the library's 0)
        sums = B.sum(B.abs(x), axis=-2 if ord in (1, -1) else -1, keepdims=True)
        r = (B.max if ord > 0 else B.min)(sums, axis=-1 if ord in (1, -1) else -2,
                                          keepdims=True)
        return r if keepdims else B.reshape(r, x.shape[:-2])
    return _call("matrix_norm", B, "matrix_norm", x, keepdims=keepdims, ord=ord)


_mnorm_prim = nondifferentiable("matrix_norm", _mnorm_fwd)  # untracked calls only
_mnorm_prim.batch = _vb.matrix_rule(_mnorm_prim)


def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    """The ``ord`` norm of each matrix in ``x``: 'fro', 'nuc', 1, -1, 2, -2, inf, -inf."""
    c = ord.__class__
    key = _memo_key("matrix_norm", x, None, keepdims) if c is str or c is int else None
    if key is not None:
        key = (key, c, ord)
        params = _MNORM_PARAMS.get(key)
        if params is not None and not state.dual_level and \
                not (state.grad_enabled and x._requires_grad):
            return apply1(_mnorm_prim, x, params)  # (checked before; nothing to record)
    _matrix("matrix_norm", x)
    if isinstance(ord, bool) or ord not in _MATRIX_ORDS:
        raise ValueError(f"matrix_norm: invalid ord {ord!r}; expected one of 'fro', 'nuc', 1, "
                         "-1, 2, -2, inf, -inf")
    keepdims = bool(keepdims)
    if not _tracked(x):
        params = {"keepdims": keepdims, "ord": ord}
        if key is not None:
            if len(_MNORM_PARAMS) >= 1024:
                _MNORM_PARAMS.clear()
            _MNORM_PARAMS[key] = params
        return apply1(_mnorm_prim, x, params)
    # differentiable composition of primitives
    if ord == "fro":
        return vector_norm(x, axis=(-2, -1), keepdims=keepdims)
    if ord in ("nuc", 2, -2):
        s = svdvals(x)
        if ord == "nuc":
            r = _sum(s, axis=-1)
        else:
            r = (_max if ord == 2 else _min)(s, axis=-1)
    else:
        sums = _sum(_abs(x), axis=-2 if ord in (1, -1) else -1)
        r = (_max if ord > 0 else _min)(sums, axis=-1)
    if keepdims:
        r = reshape(r, r.shape + (1, 1))
    return r


# -- matrix_power, outer, cross -----------------------------------------------------------
def _mpow_fwd(B, x, *, n):
    return _call("matrix_power", B, "matrix_power", x, n)


_mpow_prim = nondifferentiable("matrix_power", _mpow_fwd)  # untracked calls only
_mpow_prim.batch = _vb.matrix_rule(_mpow_prim)


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
        return apply1(_mpow_prim, x, {"n": n})
    base = inv(x) if n < 0 else x
    n = abs(n)
    result = None
    while True:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if not n:
            break
        base = matmul(base, base)
    return result


def outer(x1, x2, /):
    """Outer product of two 1-D tensors (no conjugation): shape (N, M)."""
    _tensor("outer", x1)
    _tensor("outer", x2)
    if x1.ndim != 1 or x2.ndim != 1:
        raise ValueError(f"outer: expected two 1-D tensors, got shapes {x1.shape} and {x2.shape}")
    r = outer_product(x1, x2)
    return multiply(expand_dims(x1, axis=-1), x2) if r is None else r


def _cross_vjp(ns, needs, g, out, a, b, *, axis):
    return (ns.linalg.cross(_conj(ns, b), g, axis=axis) if needs[0] else None,
            ns.linalg.cross(g, _conj(ns, a), axis=axis) if needs[1] else None)


def _cross_jvp(ns, tangents, out, a, b, *, axis):
    ta, tb = tangents
    r = None if ta is None else ns.linalg.cross(ta, b, axis=axis)
    if tb is not None:
        r = _add(r, ns.linalg.cross(a, tb, axis=axis))
    return r


def _cross_vjp_storage(B, needs, g, out, a, b, *, axis):
    """``_cross_vjp`` with the backend's cross kernel (its namespace's is Python code)."""
    return (B.cross(_conj(B, b), g, axis) if needs[0] else None,
            B.cross(g, _conj(B, a), axis) if needs[1] else None)


_cross_prim = Primitive("cross", lambda B, a, b, *, axis: B.cross(a, b, axis),
                        vjp=_cross_vjp, jvp=_cross_jvp, vjp_storage=_cross_vjp_storage,
                        saves_output=False)
_cross_prim.batch = _vb.axis_rule(_cross_prim, expand=True, negative=True)


def cross(x1, x2, /, *, axis=-1):
    """Cross product of 3-element vectors along ``axis`` (counted from the end; the other
    dimensions broadcast)."""
    _tensor("cross", x1)
    _tensor("cross", x2)
    x1, x2 = binary_operands("cross", x1, x2)
    key = (x1._data.shape, x2._data.shape, id(x1._data.dtype), axis) \
        if axis.__class__ is int and x1.__class__ is Tensor and x2.__class__ is Tensor else None
    params = _CROSS_PARAMS.get(key)
    if params is not None:
        return apply2(_cross_prim, x1, x2, params)
    params = {"axis": _cross_axis(x1, x2, axis)}
    if key is not None:
        if len(_CROSS_PARAMS) >= 1024:
            _CROSS_PARAMS.clear()
        _CROSS_PARAMS[key] = params
    return apply2(_cross_prim, x1, x2, params)


_CROSS_PARAMS: dict = {}  # (shapes, storage dtype id, axis) -> checked params


def _cross_axis(x1, x2, axis):
    """``cross``'s checks of (promoted) operands: the axis, counted from the end."""
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
    s1, s2 = x1.shape, x2.shape
    if s1 != s2:
        try:
            broadcast_shapes(s1, s2)
        except ValueError:
            raise ValueError(f"cross: shapes {s1} and {s2} do not broadcast; operands could "
                             "not be broadcast together") from None
    return axis

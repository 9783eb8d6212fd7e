"""The op table: every differentiable function of arraylib, with valid inputs.

Each ``OpInfo`` names a public function (``"exp"``, ``"linalg.solve"``), says how to
make inputs (host NumPy arrays) for a drawn shape, how to call it with arraylib
(``fn(xp, *tensors)``) and optionally with PyTorch (``torch_fn(torch, *tensors)``).
``NON_DIFFERENTIABLE`` lists every public callable that has no derivative; a test
fails when a public function is in neither list.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class OpInfo:
    name: str                      # public name; "linalg.x" / "fft.x" for extensions
    fn: object                     # fn(xp, *tensors) -> tensor or tuple of tensors
    make: object                   # make(rng, shape) -> list of host arrays (differentiated)
    shapes: str = "any"            # any | nonempty | ndim1 | matrix | vector3 | ...
    torch_fn: object = None        # torch_fn(torch, *tensors)
    gradgrad: bool = True
    variant: str = ""
    dtype: str = "float64"
    atol: float = 1e-5
    rtol: float = 1e-3
    tags: set = field(default_factory=set)
    known_failure: str = ""        # reason, while another module's bug is open

    @property
    def id(self):
        return self.name + (f"[{self.variant}]" if self.variant else "")

    @property
    def func_name(self):
        return self.name


# -- value domains (host) ---------------------------------------------------------------
def real(rng, s):
    return rng.uniform(-2, 2, s)


def pos(rng, s):
    return rng.uniform(0.5, 2.0, s)


def unit(rng, s):
    return rng.uniform(-0.8, 0.8, s)


def gt1(rng, s):
    return rng.uniform(1.3, 3.0, s)


def away0(rng, s):
    return rng.uniform(0.4, 2.0, s) * rng.choice([-1.0, 1.0], s)


def cplx(rng, s):
    return rng.uniform(-1, 1, s) + 1j * rng.uniform(-1, 1, s)


def cplx_right(rng, s):  # away from the branch cut on the negative real axis
    return rng.uniform(0.5, 1.5, s) + 1j * rng.uniform(-1, 1, s)


def distinct(rng, s):
    """Values whose differences are >= 0.1 (no ties for max/min/sort)."""
    n = int(np.prod(s)) if len(s) else 1
    v = rng.permutation(n) * 0.3 + rng.uniform(0, 0.1, n) - 0.15 * n
    return v.reshape(s)


def _u(dom):
    return lambda rng, s: [dom(rng, s)]


def _b(dom1, dom2):
    return lambda rng, s: [dom1(rng, s[0]), dom2(rng, s[1])]


OPS: list = []


def op(name, fn, make, shapes="any", **kw):
    OPS.append(OpInfo(name, fn, make, shapes, **kw))


def _ew1(name, dom, complex_dom=None, **kw):
    op(name, lambda xp, x: getattr(xp, name)(x), _u(dom),
       torch_fn=lambda torch, x: getattr(torch, _TORCH_NAMES.get(name, name))(x), **kw)
    if complex_dom is not None:
        op(name, lambda xp, x: getattr(xp, name)(x), _u(complex_dom), variant="complex",
           dtype="complex128",
           torch_fn=lambda torch, x: getattr(torch, _TORCH_NAMES.get(name, name))(x), **kw)


_TORCH_NAMES = {"acos": "arccos", "asin": "arcsin", "atan": "arctan", "acosh": "arccosh",
                "asinh": "arcsinh", "atanh": "arctanh", "pow": "pow", "divide": "div",
                "multiply": "mul", "subtract": "sub", "remainder": "remainder"}

# -- element-wise ----------------------------------------------------------------------
_ew1("abs", away0, cplx_right)
_ew1("acos", unit)
_ew1("acosh", gt1)
_ew1("asin", unit)
_ew1("asinh", real)
_ew1("atan", real)
_ew1("atanh", unit)
_ew1("conj", real, cplx)
_ew1("cos", real, cplx)
_ew1("cosh", real)
_ew1("exp", real, cplx)
_ew1("expm1", real)
_ew1("log", pos, cplx_right)
_ew1("log10", pos)
_ew1("log1p", pos)
_ew1("log2", pos)
_ew1("negative", real, cplx)
_ew1("positive", real)
_ew1("reciprocal", away0, cplx_right)
_ew1("sin", real, cplx)
_ew1("sinh", real)
_ew1("sqrt", pos, cplx_right)
_ew1("square", real, cplx)
_ew1("tan", unit)
_ew1("tanh", real, cplx)


def _off_int(rng, s):
    """Away from the jumps of floor/ceil/trunc (integers) and round (half-integers)."""
    return rng.integers(-2, 3, s) + rng.uniform(0.1, 0.4, s) * rng.choice([-1.0, 1.0], s)


for _name in ("floor", "ceil", "trunc", "round"):  # zero derivative (PyTorch's convention)
    _ew1(_name, _off_int)
_ew1("sign", away0)
op("sign", lambda xp, x: xp.sign(x), _u(cplx_right), variant="complex", dtype="complex128",
   torch_fn=lambda torch, x: torch.sgn(x))
op("real", lambda xp, x: xp.real(x), _u(cplx), dtype="complex128",
   torch_fn=lambda torch, x: torch.real(x))
op("imag", lambda xp, x: xp.imag(x), _u(cplx), dtype="complex128",
   torch_fn=lambda torch, x: torch.imag(x))


def _ew2(name, d1, d2, complex_doms=None, **kw):
    op(name, lambda xp, a, b: getattr(xp, name)(a, b), _b(d1, d2), shapes="broadcast2",
       torch_fn=lambda torch, a, b: getattr(torch, _TORCH_NAMES.get(name, name))(a, b), **kw)
    if complex_doms is not None:
        op(name, lambda xp, a, b: getattr(xp, name)(a, b), _b(*complex_doms), shapes="broadcast2",
           variant="complex", dtype="complex128",
           torch_fn=lambda torch, a, b: getattr(torch, _TORCH_NAMES.get(name, name))(a, b), **kw)


def rem_a(rng, s):
    return rng.uniform(2.2, 2.8, s)


def rem_b(rng, s):
    return rng.uniform(1.0, 1.05, s)


_ew2("add", real, real, (cplx, cplx))
_ew2("subtract", real, real, (cplx, cplx))
_ew2("multiply", real, real, (cplx, cplx))
_ew2("divide", real, away0, (cplx, cplx_right))
_ew2("pow", pos, real, (cplx_right, cplx))
_ew2("atan2", away0, away0)
_ew2("hypot", away0, away0)
_ew2("logaddexp", real, real)
_ew2("maximum", distinct, lambda r, s: distinct(r, s) + 0.05)
_ew2("minimum", distinct, lambda r, s: distinct(r, s) + 0.05)
_ew2("copysign", away0, away0)
_ew2("remainder", rem_a, rem_b)


def _clip_x(rng, s):
    v = rng.uniform(0.1, 0.4, s) * rng.choice([-1.0, 1.0], s)
    return v + rng.choice([-1.0, 0.0, 1.0], s)  # away from the bounds +-0.5


op("clip", lambda xp, x: xp.clip(x, -0.5, 0.5), _u(_clip_x),
   torch_fn=lambda torch, x: torch.clamp(x, -0.5, 0.5))
op("clip", lambda xp, x, lo, hi: xp.clip(x, lo, hi),
   lambda rng, s: [_clip_x(rng, s), np.full(s, -0.5), np.full(s, 0.5)], variant="tensor bounds",
   torch_fn=lambda torch, x, lo, hi: torch.clamp(x, lo, hi))


# -- where, reductions, statistics ---------------------------------------------------------
def _mask(s):
    return (np.arange(int(np.prod(s)) if len(s) else 1) % 2 == 0).reshape(s)


op("where", lambda xp, a, b: xp.where(xp.asarray(_mask(a.shape), device=a.device), a, b),
   _b(real, real), shapes="same2",
   torch_fn=lambda torch, a, b: torch.where(torch.tensor(_mask(tuple(a.shape))), a, b))

_RED_TORCH = {"sum": "sum", "prod": "prod", "mean": "mean"}
for _name in ("sum", "prod", "mean"):
    op(_name, lambda xp, x, _n=_name: getattr(xp, _n)(x), _u(real if _name != "prod" else away0),
       shapes="nonempty" if _name == "mean" else "any",
       torch_fn=lambda torch, x, _n=_name: getattr(torch, _n)(x))
    op(_name, lambda xp, x, _n=_name: getattr(xp, _n)(x, axis=-1, keepdims=True),
       _u(real if _name != "prod" else away0), shapes="ndim1ne" if _name == "mean" else "ndim1",
       variant="axis=-1,keepdims",
       torch_fn=lambda torch, x, _n=_name: getattr(torch, _n)(x, dim=-1, keepdim=True))
op("sum", lambda xp, x: xp.sum(x), _u(cplx), variant="complex", dtype="complex128",
   torch_fn=lambda torch, x: torch.sum(x))
op("prod", lambda xp, x: xp.prod(x, axis=0), lambda r, s: [np.where(_mask(s), 0.0, away0(r, s))],
   shapes="ndim1", variant="with zeros",
   torch_fn=lambda torch, x: torch.prod(x, dim=0))
for _name in ("var", "std"):
    op(_name, lambda xp, x, _n=_name: getattr(xp, _n)(x), _u(distinct), shapes="rows2",
       torch_fn=lambda torch, x, _n=_name: getattr(torch, _n)(x, correction=0))
    op(_name, lambda xp, x, _n=_name: getattr(xp, _n)(x, axis=0, correction=1), _u(distinct),
       shapes="rows2", variant="axis=0,correction=1",
       torch_fn=lambda torch, x, _n=_name: getattr(torch, _n)(x, dim=0, correction=1))
for _name in ("max", "min"):
    op(_name, lambda xp, x, _n=_name: getattr(xp, _n)(x), _u(distinct), shapes="nonempty",
       torch_fn=lambda torch, x, _n=_name: getattr(torch, "amax" if _n == "max" else "amin")(x))
    op(_name, lambda xp, x, _n=_name: getattr(xp, _n)(x, axis=-1), _u(distinct), shapes="ndim1ne",
       variant="axis=-1",
       torch_fn=lambda torch, x, _n=_name: getattr(torch, "amax" if _n == "max" else "amin")(x, dim=-1))
op("cumulative_sum", lambda xp, x: xp.cumulative_sum(x, axis=-1), _u(real), shapes="ndim1",
   torch_fn=lambda torch, x: torch.cumsum(x, dim=-1))
op("cumulative_sum", lambda xp, x: xp.cumulative_sum(x, axis=0, include_initial=True), _u(real),
   shapes="ndim1", variant="include_initial")
op("cumulative_prod", lambda xp, x: xp.cumulative_prod(x, axis=-1), _u(away0), shapes="ndim1",
   torch_fn=lambda torch, x: torch.cumprod(x, dim=-1))
op("diff", lambda xp, x: xp.diff(x, axis=-1), _u(real), shapes="ndim1",
   torch_fn=lambda torch, x: torch.diff(x, dim=-1))
op("diff", lambda xp, x, p: xp.diff(x, axis=-1, n=2, prepend=p),
   lambda r, s: [real(r, s), real(r, s[:-1] + (1,))], shapes="ndim1", variant="n=2,prepend")

# -- manipulation ----------------------------------------------------------------------
op("reshape", lambda xp, x: xp.reshape(x, (-1,)), _u(real),
   torch_fn=lambda torch, x: torch.reshape(x, (-1,)))
op("permute_dims", lambda xp, x: xp.permute_dims(x, tuple(range(x.ndim))[::-1]), _u(real),
   torch_fn=lambda torch, x: torch.permute(x, tuple(range(x.ndim))[::-1]))
op("broadcast_to", lambda xp, x: xp.broadcast_to(x, (2,) + x.shape), _u(real),
   torch_fn=lambda torch, x: torch.broadcast_to(x, (2,) + tuple(x.shape)))
op("broadcast_arrays", lambda xp, a, b: tuple(xp.broadcast_arrays(a, b)), _b(real, real),
   shapes="broadcast2", torch_fn=lambda torch, a, b: tuple(torch.broadcast_tensors(a, b)))
op("concat", lambda xp, a, b: xp.concat([a, b], axis=0), _b(real, real), shapes="same2nd",
   torch_fn=lambda torch, a, b: torch.cat([a, b], dim=0))
op("concat", lambda xp, a, b: xp.concat([a, b], axis=None), _b(real, real), shapes="same2",
   variant="axis=None")
op("stack", lambda xp, a, b: xp.stack([a, b], axis=-1), _b(real, real), shapes="same2",
   torch_fn=lambda torch, a, b: torch.stack([a, b], dim=-1))
op("unstack", lambda xp, x: tuple(xp.unstack(x, axis=0)), _u(real), shapes="ndim1ne",
   torch_fn=lambda torch, x: tuple(torch.unbind(x, dim=0)))
op("expand_dims", lambda xp, x: xp.expand_dims(x, axis=0), _u(real),
   torch_fn=lambda torch, x: torch.unsqueeze(x, 0))
op("squeeze", lambda xp, x: xp.squeeze(xp.expand_dims(x, axis=0), axis=0), _u(real),
   torch_fn=lambda torch, x: torch.squeeze(torch.unsqueeze(x, 0), 0))
op("flip", lambda xp, x: xp.flip(x), _u(real),
   torch_fn=lambda torch, x: torch.flip(x, tuple(range(x.ndim))))
op("flip", lambda xp, x: xp.flip(x, axis=-1), _u(real), shapes="ndim1", variant="axis=-1")
op("roll", lambda xp, x: xp.roll(x, 1, axis=-1), _u(real), shapes="ndim1",
   torch_fn=lambda torch, x: torch.roll(x, 1, dims=-1))
op("roll", lambda xp, x: xp.roll(x, 2), _u(real), variant="flat")
op("moveaxis", lambda xp, x: xp.moveaxis(x, 0, -1), _u(real), shapes="ndim1",
   torch_fn=lambda torch, x: torch.movedim(x, 0, -1))
op("repeat", lambda xp, x: xp.repeat(x, 2, axis=0), _u(real), shapes="ndim1",
   torch_fn=lambda torch, x: torch.repeat_interleave(x, 2, dim=0))
op("repeat", lambda xp, x: xp.repeat(x, 3), _u(real), variant="flat")
op("tile", lambda xp, x: xp.tile(x, (2, 1)), _u(real),
   torch_fn=lambda torch, x: torch.tile(x, (2, 1)))
op("take", lambda xp, x: xp.take(x, xp.asarray([0, x.shape[0] - 1, 0], device=x.device), axis=0),
   _u(real), shapes="ndim1ne",
   torch_fn=lambda torch, x: torch.index_select(x, 0, torch.tensor([0, x.shape[0] - 1, 0])))
op("take_along_axis",
   lambda xp, x: xp.take_along_axis(x, xp.zeros(x.shape[:-1] + (3,), dtype=xp.int64,
                                                device=x.device), axis=-1),
   _u(real), shapes="ndim1ne",
   torch_fn=lambda torch, x: torch.take_along_dim(
       x, torch.zeros(tuple(x.shape[:-1]) + (3,), dtype=torch.int64), dim=-1))
op("sort", lambda xp, x: xp.sort(x, axis=-1), _u(distinct), shapes="ndim1",
   torch_fn=lambda torch, x: torch.sort(x, dim=-1).values)
op("sort", lambda xp, x: xp.sort(x, axis=0, descending=True), _u(distinct), shapes="ndim1",
   variant="descending")
op("tril", lambda xp, x: xp.tril(x), _u(real), shapes="ndim2",
   torch_fn=lambda torch, x: torch.tril(x))
op("triu", lambda xp, x: xp.triu(x, k=1), _u(real), shapes="ndim2",
   torch_fn=lambda torch, x: torch.triu(x, 1))
op("meshgrid", lambda xp, a, b: tuple(xp.meshgrid(a, b)),
   lambda r, s: [real(r, (2,)), real(r, (3,))], shapes="fixed",
   torch_fn=lambda torch, a, b: tuple(torch.meshgrid(a, b, indexing="xy")))
op("astype", lambda xp, x: xp.astype(x, xp.complex128), _u(real), gradgrad=True,
   torch_fn=lambda torch, x: x.to(torch.complex128))

# -- linear algebra ----------------------------------------------------------------------
op("matmul", lambda xp, a, b: xp.matmul(a, b), lambda r, s: [real(r, (2, 3)), real(r, (3, 2))],
   shapes="fixed", torch_fn=lambda torch, a, b: torch.matmul(a, b))
op("matmul", lambda xp, a, b: xp.matmul(a, b), lambda r, s: [real(r, (2, 1, 2, 3)), real(r, (3,))],
   shapes="fixed", variant="batched,vector")
op("matrix_transpose", lambda xp, x: xp.matrix_transpose(x), _u(real), shapes="ndim2",
   torch_fn=lambda torch, x: x.mT)
op("tensordot", lambda xp, a, b: xp.tensordot(a, b, axes=1),
   lambda r, s: [real(r, (2, 3)), real(r, (3, 2))], shapes="fixed",
   torch_fn=lambda torch, a, b: torch.tensordot(a, b, dims=1))
op("vecdot", lambda xp, a, b: xp.vecdot(a, b), lambda r, s: [real(r, (2, 3)), real(r, (3,))],
   shapes="fixed", torch_fn=lambda torch, a, b: torch.linalg.vecdot(a, b))
op("vecdot", lambda xp, a, b: xp.vecdot(a, b), lambda r, s: [cplx(r, (2, 3)), cplx(r, (3,))],
   shapes="fixed", variant="complex", dtype="complex128",
   torch_fn=lambda torch, a, b: torch.linalg.vecdot(a, b))


def spd(rng, n=3):
    a = rng.uniform(-1, 1, (n, n))
    return a @ a.T + n * np.eye(n)


def wellcond(rng, n=3):
    return rng.uniform(-1, 1, (n, n)) + n * np.eye(n)


def sym(rng, n=3):  # symmetric with well-separated eigenvalues
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return q @ np.diag(np.arange(1, n + 1) * 1.5) @ q.T


def _L(name, fn, make, torch_fn=None, **kw):
    op(f"linalg.{name}", fn, make, shapes="fixed", torch_fn=torch_fn, **kw)


def _symmetrize(xp, a):
    return (a + xp.matrix_transpose(a)) / 2


_L("cholesky", lambda xp, a: xp.linalg.cholesky(_symmetrize(xp, a)), lambda r, s: [spd(r)],
   torch_fn=lambda torch, a: torch.linalg.cholesky((a + a.mT) / 2))
_L("cross", lambda xp, a, b: xp.linalg.cross(a, b), lambda r, s: [real(r, (2, 3)), real(r, (3,))],
   torch_fn=lambda torch, a, b: torch.linalg.cross(a, b.expand(2, 3)))
_L("det", lambda xp, a: xp.linalg.det(a), lambda r, s: [wellcond(r)],
   torch_fn=lambda torch, a: torch.linalg.det(a))
_L("diagonal", lambda xp, a: xp.linalg.diagonal(a, offset=1), lambda r, s: [real(r, (2, 3, 4))],
   torch_fn=lambda torch, a: torch.diagonal(a, offset=1, dim1=-2, dim2=-1))
_L("eigh", lambda xp, a: (lambda r: (r.eigenvalues, xp.abs(r.eigenvectors)))(
    xp.linalg.eigh(_symmetrize(xp, a))), lambda r, s: [sym(r)],
   torch_fn=lambda torch, a: (lambda r: (r.eigenvalues, torch.abs(r.eigenvectors)))(
       torch.linalg.eigh((a + a.mT) / 2)))
_L("eigvalsh", lambda xp, a: xp.linalg.eigvalsh(_symmetrize(xp, a)), lambda r, s: [sym(r)],
   torch_fn=lambda torch, a: torch.linalg.eigvalsh((a + a.mT) / 2))
_L("inv", lambda xp, a: xp.linalg.inv(a), lambda r, s: [wellcond(r)],
   torch_fn=lambda torch, a: torch.linalg.inv(a))
_L("matmul", lambda xp, a, b: xp.linalg.matmul(a, b),
   lambda r, s: [real(r, (2, 3)), real(r, (3, 2))])
_L("matrix_norm", lambda xp, a: xp.linalg.matrix_norm(a), lambda r, s: [real(r, (3, 2))],
   torch_fn=lambda torch, a: torch.linalg.matrix_norm(a))
_L("matrix_norm", lambda xp, a: xp.linalg.matrix_norm(a, ord="nuc"), lambda r, s: [wellcond(r)],
   variant="nuc", torch_fn=lambda torch, a: torch.linalg.matrix_norm(a, ord="nuc"))
_L("matrix_power", lambda xp, a: xp.linalg.matrix_power(a, 3), lambda r, s: [real(r, (3, 3)) / 2],
   torch_fn=lambda torch, a: torch.linalg.matrix_power(a, 3))
_L("matrix_power", lambda xp, a: xp.linalg.matrix_power(a, -2), lambda r, s: [wellcond(r)],
   variant="negative")
_L("matrix_transpose", lambda xp, a: xp.linalg.matrix_transpose(a), lambda r, s: [real(r, (2, 3))])
_L("outer", lambda xp, a, b: xp.linalg.outer(a, b), lambda r, s: [real(r, (2,)), real(r, (3,))],
   torch_fn=lambda torch, a, b: torch.outer(a, b))
_L("pinv", lambda xp, a: xp.linalg.pinv(a), lambda r, s: [real(r, (3, 2)) + np.eye(3, 2) * 2],
   torch_fn=lambda torch, a: torch.linalg.pinv(a))
_L("qr", lambda xp, a: tuple(xp.linalg.qr(a)), lambda r, s: [wellcond(r)],
   torch_fn=lambda torch, a: tuple(torch.linalg.qr(a)))
_L("slogdet", lambda xp, a: xp.linalg.slogdet(a).logabsdet, lambda r, s: [wellcond(r)],
   torch_fn=lambda torch, a: torch.linalg.slogdet(a).logabsdet)
_L("solve", lambda xp, a, b: xp.linalg.solve(a, b), lambda r, s: [wellcond(r), real(r, (3, 2))],
   torch_fn=lambda torch, a, b: torch.linalg.solve(a, b))
_L("svd", lambda xp, a: (lambda r: (r.S, xp.abs(r.U), xp.abs(r.Vh)))(
    xp.linalg.svd(a, full_matrices=False)), lambda r, s: [sym(r) + np.diag([0.0, 0.3, 0.7])],
   torch_fn=lambda torch, a: (lambda r: (r.S, torch.abs(r.U), torch.abs(r.Vh)))(
       torch.linalg.svd(a, full_matrices=False)))
_L("svdvals", lambda xp, a: xp.linalg.svdvals(a), lambda r, s: [real(r, (3, 2))],
   torch_fn=lambda torch, a: torch.linalg.svdvals(a))
_L("tensordot", lambda xp, a, b: xp.linalg.tensordot(a, b, axes=([1], [0])),
   lambda r, s: [real(r, (2, 3)), real(r, (3, 2))])
_L("trace", lambda xp, a: xp.linalg.trace(a), lambda r, s: [real(r, (2, 3, 3))],
   torch_fn=lambda torch, a: torch.diagonal(a, dim1=-2, dim2=-1).sum(-1))
_L("vecdot", lambda xp, a, b: xp.linalg.vecdot(a, b), lambda r, s: [real(r, (2, 3)), real(r, (3,))])
_L("vector_norm", lambda xp, a: xp.linalg.vector_norm(a), lambda r, s: [away0(r, (2, 3))],
   torch_fn=lambda torch, a: torch.linalg.vector_norm(a))
_L("vector_norm", lambda xp, a: xp.linalg.vector_norm(a, ord=3, axis=-1),
   lambda r, s: [away0(r, (2, 3))], variant="ord=3,axis=-1",
   torch_fn=lambda torch, a: torch.linalg.vector_norm(a, ord=3, dim=-1))
_L("eigvals", lambda xp, a: xp.linalg.eigvals(_symmetrize(xp, a)), lambda r, s: [sym(r)],
   gradgrad=False)
_L("eig", lambda xp, a: xp.linalg.eig(_symmetrize(xp, a)).eigenvalues, lambda r, s: [sym(r)],
   gradgrad=False)


# -- fft ------------------------------------------------------------------------------------
def _F(name, fn, make, torch_fn=None, **kw):
    op(f"fft.{name}", fn, make, shapes="fixed", torch_fn=torch_fn, **kw)


for _n in ("fft", "ifft"):
    _F(_n, lambda xp, x, _n=_n: getattr(xp.fft, _n)(x), lambda r, s: [cplx(r, (2, 4))],
       dtype="complex128", torch_fn=lambda torch, x, _n=_n: getattr(torch.fft, _n)(x))
    _F(_n, lambda xp, x, _n=_n: getattr(xp.fft, _n)(x, n=5, norm="ortho"),
       lambda r, s: [cplx(r, (3,))], dtype="complex128", variant="n=5,ortho",
       torch_fn=lambda torch, x, _n=_n: getattr(torch.fft, _n)(x, n=5, norm="ortho"))
for _n in ("fftn", "ifftn"):
    _F(_n, lambda xp, x, _n=_n: getattr(xp.fft, _n)(x), lambda r, s: [cplx(r, (2, 3))],
       dtype="complex128", torch_fn=lambda torch, x, _n=_n: getattr(torch.fft, _n)(x))
_F("rfft", lambda xp, x: xp.fft.rfft(x), lambda r, s: [real(r, (2, 5))],
   torch_fn=lambda torch, x: torch.fft.rfft(x))
_F("rfftn", lambda xp, x: xp.fft.rfftn(x), lambda r, s: [real(r, (2, 4))],
   torch_fn=lambda torch, x: torch.fft.rfftn(x))
_F("ihfft", lambda xp, x: xp.fft.ihfft(x), lambda r, s: [real(r, (5,))],
   torch_fn=lambda torch, x: torch.fft.ihfft(x))
_F("irfft", lambda xp, x: xp.fft.irfft(x, n=6), lambda r, s: [cplx(r, (4,))], dtype="complex128",
   torch_fn=lambda torch, x: torch.fft.irfft(x, n=6))
_F("irfftn", lambda xp, x: xp.fft.irfftn(x, s=(2, 6)), lambda r, s: [cplx(r, (2, 4))],
   dtype="complex128", torch_fn=lambda torch, x: torch.fft.irfftn(x, s=(2, 6)))
_F("hfft", lambda xp, x: xp.fft.hfft(x, n=6), lambda r, s: [cplx(r, (4,))], dtype="complex128",
   torch_fn=lambda torch, x: torch.fft.hfft(x, n=6))
_F("fftshift", lambda xp, x: xp.fft.fftshift(x), lambda r, s: [real(r, (2, 5))],
   torch_fn=lambda torch, x: torch.fft.fftshift(x))
_F("ifftshift", lambda xp, x: xp.fft.ifftshift(x), lambda r, s: [real(r, (2, 5))],
   torch_fn=lambda torch, x: torch.fft.ifftshift(x))


# -- PyTorch-style conveniences (arraylib._tensor_methods) ----------------------------------
op("bmm", lambda xp, a, b: xp.bmm(a, b), lambda r, s: [real(r, (2, 2, 3)), real(r, (2, 3, 2))],
   shapes="fixed", torch_fn=lambda torch, a, b: torch.bmm(a, b))
op("mm", lambda xp, a, b: xp.mm(a, b), lambda r, s: [real(r, (2, 3)), real(r, (3, 2))],
   shapes="fixed", torch_fn=lambda torch, a, b: torch.mm(a, b))
op("cat", lambda xp, a, b: xp.cat([a, b], 0), _b(real, real), shapes="same2nd",
   torch_fn=lambda torch, a, b: torch.cat([a, b], 0))
op("clamp", lambda xp, x: xp.clamp(x, -0.5, 0.5), _u(_clip_x),
   torch_fn=lambda torch, x: torch.clamp(x, -0.5, 0.5))
op("flatten", lambda xp, x: xp.flatten(x), _u(real), torch_fn=lambda torch, x: torch.flatten(x))
op("log_softmax", lambda xp, x: xp.log_softmax(x, -1), _u(real), shapes="ndim1ne",
   torch_fn=lambda torch, x: torch.log_softmax(x, -1))
op("softmax", lambda xp, x: xp.softmax(x, -1), _u(real), shapes="ndim1ne",
   torch_fn=lambda torch, x: torch.softmax(x, -1))
op("permute", lambda xp, x: xp.permute(x, tuple(range(x.ndim))[::-1]), _u(real),
   torch_fn=lambda torch, x: torch.permute(x, tuple(range(x.ndim))[::-1]))
op("relu", lambda xp, x: xp.relu(x), _u(away0), torch_fn=lambda torch, x: torch.relu(x))
op("sigmoid", lambda xp, x: xp.sigmoid(x), _u(real), torch_fn=lambda torch, x: torch.sigmoid(x))
op("transpose", lambda xp, x: xp.transpose(x, 0, -1), _u(real), shapes="ndim1",
   torch_fn=lambda torch, x: torch.transpose(x, 0, -1))
op("unsqueeze", lambda xp, x: xp.unsqueeze(x, 0), _u(real),
   torch_fn=lambda torch, x: torch.unsqueeze(x, 0))


# -- PyTorch-signature functions (arraylib._torch_functions) --------------------------------
_ew1("absolute", away0, cplx_right)
_ew1("arccos", unit)
_ew1("arcsin", unit)
_ew1("arctan", real)
_ew1("neg", real, cplx)
_ew1("rsqrt", pos, cplx_right)
_ew2("arctan2", away0, away0)
_ew2("div", real, away0, (cplx, cplx_right))
_ew2("mul", real, real, (cplx, cplx))
_ew2("sub", real, real, (cplx, cplx))
_ew2("true_divide", real, away0)
_ew2("fmax", distinct, lambda r, s: distinct(r, s) + 0.05)
_ew2("fmin", distinct, lambda r, s: distinct(r, s) + 0.05)
op("sub", lambda xp, a, b: xp.sub(a, b, alpha=2.5), _b(real, real), shapes="broadcast2",
   variant="alpha", torch_fn=lambda torch, a, b: torch.sub(a, b, alpha=2.5))
op("div", lambda xp, a, b: xp.div(a, b, rounding_mode="trunc"),  # zero derivative, as PyTorch
   lambda r, s: [_off_int(r, s[0]), r.uniform(1.0, 1.02, s[1])], shapes="broadcast2",
   variant="trunc", torch_fn=lambda torch, a, b: torch.div(a, b, rounding_mode="trunc"))

for _name in ("amax", "amin"):
    op(_name, lambda xp, x, _n=_name: getattr(xp, _n)(x), _u(distinct), shapes="nonempty",
       torch_fn=lambda torch, x, _n=_name: getattr(torch, _n)(x))
    op(_name, lambda xp, x, _n=_name: getattr(xp, _n)(x, -1, True), _u(distinct),
       shapes="ndim1ne", variant="dim=-1,keepdim",
       torch_fn=lambda torch, x, _n=_name: getattr(torch, _n)(x, -1, True))
    op(_name, lambda xp, x, _n=_name: getattr(xp, _n)(x, (0, -1)), _u(distinct),
       shapes="ndim2", variant="dim=(0,-1)",
       torch_fn=lambda torch, x, _n=_name: getattr(torch, _n)(x, (0, -1)))
op("logsumexp", lambda xp, x: xp.logsumexp(x, -1), _u(real), shapes="ndim1ne",
   torch_fn=lambda torch, x: torch.logsumexp(x, -1))
op("logsumexp", lambda xp, x: xp.logsumexp(x, (0, 1), keepdim=True), _u(real), shapes="ndim2",
   variant="dim=(0,1),keepdim", torch_fn=lambda torch, x: torch.logsumexp(x, (0, 1), True))
op("cumsum", lambda xp, x: xp.cumsum(x, 0), _u(real),
   torch_fn=lambda torch, x: torch.cumsum(x, 0))
op("cumsum", lambda xp, x: xp.cumsum(x, -1), _u(real), shapes="ndim1", variant="dim=-1",
   torch_fn=lambda torch, x: torch.cumsum(x, -1))
op("cumprod", lambda xp, x: xp.cumprod(x, 0), _u(away0),
   torch_fn=lambda torch, x: torch.cumprod(x, 0))


def _with_zeros(r, s):
    return [np.where(_mask(s), 0.0, away0(r, s))]


op("cumprod", lambda xp, x: xp.cumprod(x, -1), _with_zeros, shapes="ndim1", variant="with zeros",
   torch_fn=lambda torch, x: torch.cumprod(x, -1))
op("cumprod", lambda xp, x: xp.cumprod(x, -1), _with_zeros, shapes="ndim1", gradgrad=False,
   variant="with zeros,first order", torch_fn=lambda torch, x: torch.cumprod(x, -1))
op("cumulative_prod", lambda xp, x: xp.cumulative_prod(x, axis=0), _with_zeros, shapes="ndim1",
   variant="with zeros", torch_fn=lambda torch, x: torch.cumprod(x, 0))


def _topk_k(x, dim=-1):
    return (x.shape[dim] + 1) // 2


op("topk", lambda xp, x: xp.topk(x, _topk_k(x)).values, _u(distinct), shapes="ndim1",
   torch_fn=lambda torch, x: torch.topk(x, _topk_k(x)).values)
op("topk", lambda xp, x: xp.topk(x, _topk_k(x, 0), 0, largest=False).values, _u(distinct),
   shapes="ndim1", variant="dim=0,smallest",
   torch_fn=lambda torch, x: torch.topk(x, _topk_k(x, 0), 0, largest=False).values)
op("topk", lambda xp, x: tuple(xp.topk(x, _topk_k(x))), _u(distinct), shapes="ndim1",
   variant="with indices", torch_fn=lambda torch, x: tuple(torch.topk(x, _topk_k(x))))

op("concatenate", lambda xp, a, b: xp.concatenate([a, b], 0), _b(real, real), shapes="same2nd",
   torch_fn=lambda torch, a, b: torch.concatenate([a, b], 0))
op("hstack", lambda xp, a, b: xp.hstack([a, b]), _b(real, real), shapes="same2nd",
   torch_fn=lambda torch, a, b: torch.hstack([a, b]))
op("hstack", lambda xp, a, b: xp.hstack([a, b]), lambda r, s: [real(r, (2, 3)), real(r, (2, 1))],
   shapes="fixed", variant="2-D", torch_fn=lambda torch, a, b: torch.hstack([a, b]))
op("vstack", lambda xp, a, b: xp.vstack([a, b]), _b(real, real), shapes="same2nd",
   torch_fn=lambda torch, a, b: torch.vstack([a, b]))
op("narrow", lambda xp, x: xp.narrow(x, 0, x.shape[0] // 2, (x.shape[0] + 1) // 2), _u(real),
   shapes="ndim1", torch_fn=lambda torch, x: torch.narrow(x, 0, x.shape[0] // 2,
                                                         (x.shape[0] + 1) // 2))
op("narrow", lambda xp, x: xp.narrow(x, -1, -1, 1), _u(real), shapes="ndim1ne",
   variant="negative start", torch_fn=lambda torch, x: torch.narrow(x, -1, -1, 1))
op("split", lambda xp, x: xp.split(x, 2), _u(real), shapes="ndim1",
   torch_fn=lambda torch, x: torch.split(x, 2))
op("split", lambda xp, x: xp.split(x, [1, x.shape[-1] - 1], -1), _u(real), shapes="ndim1ne",
   variant="sizes,dim=-1", torch_fn=lambda torch, x: torch.split(x, [1, x.shape[-1] - 1], -1))
op("chunk", lambda xp, x: xp.chunk(x, 2), _u(real), shapes="ndim1ne",
   torch_fn=lambda torch, x: torch.chunk(x, 2))
op("chunk", lambda xp, x: xp.chunk(x, 3, -1), _u(real), shapes="ndim1ne", variant="3,dim=-1",
   torch_fn=lambda torch, x: torch.chunk(x, 3, -1))
op("tensor_split", lambda xp, x: xp.tensor_split(x, 2), _u(real), shapes="ndim1",
   torch_fn=lambda torch, x: torch.tensor_split(x, 2))
op("tensor_split", lambda xp, x: xp.tensor_split(x, [1, 2], -1), _u(real), shapes="ndim1",
   variant="indices,dim=-1", torch_fn=lambda torch, x: torch.tensor_split(x, [1, 2], -1))
op("unbind", lambda xp, x: xp.unbind(x), _u(real), shapes="ndim1ne",
   torch_fn=lambda torch, x: torch.unbind(x))
op("unbind", lambda xp, x: xp.unbind(x, -1), _u(real), shapes="ndim1ne", variant="dim=-1",
   torch_fn=lambda torch, x: torch.unbind(x, -1))
op("movedim", lambda xp, x: xp.movedim(x, 0, -1), _u(real), shapes="ndim1",
   torch_fn=lambda torch, x: torch.movedim(x, 0, -1))
op("movedim", lambda xp, x: xp.movedim(x, (0, 1), (1, 0)), _u(real), shapes="ndim2",
   variant="tuples", torch_fn=lambda torch, x: torch.movedim(x, (0, 1), (1, 0)))
for _name in ("swapaxes", "swapdims"):
    op(_name, lambda xp, x, _n=_name: getattr(xp, _n)(x, 0, -1), _u(real), shapes="ndim1",
       torch_fn=lambda torch, x, _n=_name: getattr(torch, _n)(x, 0, -1))
op("masked_fill", lambda xp, x: xp.masked_fill(x, xp.asarray(_mask(x.shape), device=x.device),
                                               0.5),
   _u(real), torch_fn=lambda torch, x: torch.masked_fill(x, torch.tensor(_mask(tuple(x.shape))),
                                                         0.5))
op("masked_fill", lambda xp, x, v: xp.masked_fill(x, xp.asarray(_mask(x.shape), device=x.device),
                                                  v),
   lambda r, s: [real(r, s), real(r, ())], variant="tensor value",
   torch_fn=lambda torch, x, v: torch.masked_fill(x, torch.tensor(_mask(tuple(x.shape))), v))


# index tensors (host int64), built from the drawn shapes inside ``fn``
def _sel_idx(n):
    return np.array([0, n - 1, 0, n // 2], dtype=np.int64)


def _along(shape, dim, values):
    """An index of ``shape`` (with ``values`` along ``dim``, the same at every position)."""
    v = np.asarray(values, dtype=np.int64)
    d = dim % len(shape)
    return np.broadcast_to(v.reshape((1,) * d + (-1,) + (1,) * (len(shape) - d - 1)),
                           shape).copy()


def _gather_idx(shape, n):  # varies along every dimension, repeats allowed
    k = int(np.prod(shape)) if len(shape) else 1
    return ((np.arange(k) * 7 + 3) % n).reshape(shape).astype(np.int64)


def _distinct_idx(xshape, sshape, dim):  # distinct along ``dim``: a write-once scatter
    n, k = xshape[dim], sshape[dim]
    return _along(sshape, dim, np.arange(n)[::-1][:k])


def _half(s, dim=-1):
    s = tuple(s)
    d = dim % len(s)
    return s[:d] + ((s[d] + 1) // 2,) + s[d + 1:]


def _i(xp, x, a):
    return xp.asarray(a, device=x.device)


def _ti(torch, a):
    return torch.tensor(a)


op("index_select", lambda xp, x: xp.index_select(x, 0, _i(xp, x, _sel_idx(x.shape[0]))),
   _u(real), shapes="ndim1ne",
   torch_fn=lambda torch, x: torch.index_select(x, 0, _ti(torch, _sel_idx(x.shape[0]))))
op("index_select", lambda xp, x: xp.index_select(x, -1, _i(xp, x, _sel_idx(x.shape[-1])[:0])),
   _u(real), shapes="ndim1ne", variant="empty index",
   torch_fn=lambda torch, x: torch.index_select(x, -1, _ti(torch, _sel_idx(x.shape[-1])[:0])))
op("gather", lambda xp, x: xp.gather(
    x, -1, _i(xp, x, _gather_idx(tuple(x.shape[:-1]) + (3,), x.shape[-1]))),
   _u(real), shapes="ndim1ne", torch_fn=lambda torch, x: torch.gather(
       x, -1, _ti(torch, _gather_idx(tuple(x.shape[:-1]) + (3,), x.shape[-1]))))
op("gather", lambda xp, x: xp.gather(
    x, 0, _i(xp, x, _gather_idx((2,) + (1,) * (x.ndim - 1), x.shape[0]))),
   _u(real), shapes="ndim1ne", variant="smaller index,dim=0", torch_fn=lambda torch, x:
   torch.gather(x, 0, _ti(torch, _gather_idx((2,) + (1,) * (x.ndim - 1), x.shape[0]))))
op("scatter", lambda xp, x, v: xp.scatter(
    x, -1, _i(xp, x, _distinct_idx(x.shape, v.shape, -1)), v),
   lambda r, s: [real(r, s), real(r, _half(s))], shapes="ndim1ne", torch_fn=lambda torch, x, v:
   torch.scatter(x, -1, _ti(torch, _distinct_idx(tuple(x.shape), tuple(v.shape), -1)), v))
op("scatter", lambda xp, x: xp.scatter(
    x, 0, _i(xp, x, _distinct_idx(x.shape, _half(x.shape, 0), 0)), value=0.5),
   _u(real), shapes="ndim1ne", variant="value", torch_fn=lambda torch, x: torch.scatter(
       x, 0, _ti(torch, _distinct_idx(tuple(x.shape), _half(x.shape, 0), 0)), 0.5))
op("scatter", lambda xp, x, v: xp.scatter(
    x, -1, _i(xp, x, _distinct_idx(x.shape, v.shape, -1)), v, reduce="multiply"),
   lambda r, s: [real(r, s), real(r, _half(s))], shapes="ndim1ne", variant="reduce=multiply")
op("scatter_add", lambda xp, x, v: xp.scatter_add(
    x, -1, _i(xp, x, _gather_idx(v.shape, x.shape[-1])), v),
   lambda r, s: [real(r, s), real(r, tuple(s[:-1]) + (3,))], shapes="ndim1ne",
   torch_fn=lambda torch, x, v: torch.scatter_add(
       x, -1, _ti(torch, _gather_idx(tuple(v.shape), x.shape[-1])), v))
op("scatter_add", lambda xp, x, v: xp.scatter_add(
    x, 0, _i(xp, x, _gather_idx((2,) + (1,) * (x.ndim - 1), x.shape[0])), v),
   lambda r, s: [real(r, s), real(r, (3,) + tuple(s[1:]))], shapes="ndim1ne",
   variant="larger src,dim=0", torch_fn=lambda torch, x, v: torch.scatter_add(  # PyTorch's
       x, 0, _ti(torch, _gather_idx((2,) + (1,) * (x.ndim - 1), x.shape[0])), v[:2]))  # backward
# rejects a src larger than index: the reference uses the part that index addresses
op("scatter_reduce", lambda xp, x, v: xp.scatter_reduce(
    x, -1, _i(xp, x, _gather_idx(v.shape, x.shape[-1])), v, "sum"),
   lambda r, s: [real(r, s), real(r, tuple(s[:-1]) + (3,))], shapes="ndim1ne",
   torch_fn=lambda torch, x, v: torch.scatter_reduce(
       x, -1, _ti(torch, _gather_idx(tuple(v.shape), x.shape[-1])), v, "sum"))

op("dot", lambda xp, a, b: xp.dot(a, b), lambda r, s: [real(r, (3,)), real(r, (3,))],
   shapes="fixed", torch_fn=lambda torch, a, b: torch.dot(a, b))
op("dot", lambda xp, a, b: xp.dot(a, b), lambda r, s: [cplx(r, (3,)), cplx(r, (3,))],
   shapes="fixed", variant="complex", dtype="complex128",
   torch_fn=lambda torch, a, b: torch.dot(a, b))
op("outer", lambda xp, a, b: xp.outer(a, b), lambda r, s: [real(r, (2,)), real(r, (3,))],
   shapes="fixed", torch_fn=lambda torch, a, b: torch.outer(a, b))
op("outer", lambda xp, a, b: xp.outer(a, b), lambda r, s: [real(r, (0,)), real(r, (3,))],
   shapes="fixed", variant="empty", torch_fn=lambda torch, a, b: torch.outer(a, b))


def _es(eq, *shapes):
    op("einsum", lambda xp, *t: xp.einsum(eq, *t), lambda r, s: [real(r, x) for x in shapes],
       shapes="fixed", variant=eq, torch_fn=lambda torch, *t: torch.einsum(eq, *t))


_es("ij,jk->ik", (2, 3), (3, 4))
_es("bij,bjk->bik", (2, 2, 3), (2, 3, 2))
_es("ij,jk", (2, 3), (3, 2))
_es("ii->i", (3, 3))
_es("ii", (3, 3))
_es("...ij->...ji", (2, 1, 2, 3))
_es("i,i->", (3,), (3,))
_es("i,j->ij", (2,), (3,))
_es("ij,j,jk->ik", (2, 3), (3,), (3, 2))
_es("bi,bi->b", (2, 3), (1, 3))


# -- open bugs in other modules (reported); these entries run as non-strict xfails ---------
KNOWN_FAILURES: dict = {}  # op id -> reason (a test id that fails now); keep empty
for _o in OPS:
    _o.known_failure = KNOWN_FAILURES.get(_o.id, _o.known_failure)


# -- public callables without a derivative ---------------------------------------------------
NON_DIFFERENTIABLE = set("""
__array_namespace_info__ arange asarray empty empty_like eye full full_like linspace ones ones_like
zeros zeros_like tensor from_dlpack can_cast finfo iinfo isdtype result_type is_tensor
equal not_equal less less_equal greater greater_equal logical_and logical_or logical_xor
logical_not bitwise_and bitwise_or bitwise_xor bitwise_invert bitwise_left_shift
bitwise_right_shift signbit isfinite isinf isnan nextafter
floor_divide argmax argmin count_nonzero nonzero searchsorted argsort unique_all unique_counts
unique_inverse unique_values isin all any broadcast_shapes
bernoulli normal rand rand_like randint randint_like randn randn_like randperm manual_seed seed
initial_seed get_rng_state set_rng_state get_default_device set_default_device is_grad_enabled
no_grad enable_grad set_grad_enabled
linalg.matrix_rank fft.fftfreq fft.rfftfreq from_numpy load save numel
is_autocast_enabled get_autocast_dtype
eq ne lt le gt ge allclose isclose argwhere multinomial unique bitwise_not as_tensor
_foreach_add_ _foreach_sub_ _foreach_mul_ _foreach_div_ _fused_sgd_ get_default_dtype set_default_dtype
""".split())
# Public names that are namespaces, types or re-exported aliases, not functions
NOT_FUNCTIONS = {"linalg", "fft", "autograd", "func", "Tensor", "Device", "device"}


def public_functions(xp):
    """Every public callable of arraylib, arraylib.linalg and arraylib.fft."""
    names = set()
    for n in xp.__all__:
        obj = getattr(xp, n, None)
        if n in NOT_FUNCTIONS or isinstance(obj, type) or not callable(obj) or hasattr(obj, "kind"):
            continue
        names.add(n)
    for mod in ("linalg", "fft"):
        m = getattr(xp, mod)
        for n in getattr(m, "__all__", ()):
            obj = getattr(m, n, None)
            if isinstance(obj, type) or not callable(obj):
                continue
            names.add(f"{mod}.{n}")
    return names


def resolve(xp, name):
    obj = xp
    for part in name.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj

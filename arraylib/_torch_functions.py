"""PyTorch's functions under PyTorch's names and signatures (positional ``dim``,
``keepdim``, ``out=``, ``input=``/``other=`` keywords), built from the chapters'
functions and primitives, so they are differentiable where PyTorch's are.

The PyTorch face (``arraylib.torch``) re-exports ``__all__``; ``_tensor_methods``
binds the ones PyTorch also has as methods.  Names that clash with the standard's
(``max``, ``sort``, ``squeeze``, ``flip``, ``roll``, ``stack``, ``std``, ...) live here
only: ``import arraylib`` keeps the standard's signatures.
"""
from __future__ import annotations

import builtins
import functools
import operator
from collections import namedtuple

from . import _dtypes
from . import _creation_functions as _cr, _data_type_functions as _dt
from . import _elementwise_functions as _ew, _indexing_functions as _ix
from . import _linear_algebra_functions as _la, _manipulation_functions as _mf
from . import _searching_functions as _se, _set_functions as _st, _sorting_functions as _so
from . import _statistical_functions as _sf, _utility_functions as _ut, _random
from . import _nn_kernels as _nk
from ._core._grad_mode import state
from ._core._inplace import inplace_update
from ._core import _batching as _vb
from ._core._batching import axis_rule, elementwise_rule
from ._core._primitive import Primitive, apply as _apply, apply1, apply2, unary_function
from ._core._promotion import check_category
from ._core._tensor import Tensor, Size, _new
from ._validation import check_tensor as _check_tensor, normalize_axes

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])
UniqueResult = namedtuple("UniqueResult", ["values", "inverse", "counts"])


# -- helpers -------------------------------------------------------------------------
def _int(func, what, v):
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"{func}: {what} must be an int, got {type(v).__name__}") from None


def _dim(func, dim, ndim):
    """``dim`` in ``[0, ndim)`` (negative counts from the end); IndexError naming ``func``."""
    d = _int(func, "dim", dim)
    n = builtins.max(ndim, 1)
    if not -n <= d < n:
        raise IndexError(f"{func}: dimension out of range (expected to be in range of "
                         f"[{-n}, {n - 1}], but got {dim})")
    return d % n


def _dims(dim):
    """``dim`` for the standard's ``axis``: None, an int or a tuple."""
    if dim is None or isinstance(dim, tuple):
        return dim
    if isinstance(dim, list):
        return tuple(dim)
    return _int("dim", "dim", dim)


def _tensor(func, x, like=None):
    if isinstance(x, Tensor):
        return x
    if like is not None:
        return _cr.asarray(x, device=like.device)
    raise TypeError(f"{func}: expected a Tensor, got {type(x).__name__}")


_KIND_RANK = {"b": 0, "i": 1, "u": 1, "f": 2, "V": 2, "c": 3}


def _write_out(func, result, out):
    """``out=``: write ``result`` into ``out`` (resized if its shape differs) and return it."""
    if out is None:
        return result
    if isinstance(result, tuple):
        for r, o in builtins.zip(result, out):
            _write_out(func, r, o)
        return out
    if not isinstance(out, Tensor):
        raise TypeError(f"{func}: out must be a Tensor, got {type(out).__name__}")
    if state.grad_enabled and (result.requires_grad or out.requires_grad):
        raise RuntimeError(f"{func}(): functions with out=... arguments don't support automatic "
                           "differentiation, but one of the arguments requires grad")
    if result.dtype != out.dtype:
        if _KIND_RANK.get(result.dtype.kind, 2) > _KIND_RANK.get(out.dtype.kind, 2):
            raise RuntimeError(f"{func}: result type {result.dtype} can't be cast to the desired "
                               f"output type {out.dtype}")
        result = _dt.astype(result, out.dtype)
    if result.device != out.device:
        raise RuntimeError(f"{func}: out is on device '{out.device}' but the result is on "
                           f"'{result.device}'")
    if result.shape != out.shape:
        out.data = result  # PyTorch resizes ``out``
        return out
    return inplace_update(out, result, f"{func}(out=)")


def _with_out(f):
    """Add PyTorch's ``out=`` keyword to ``f``."""
    @functools.wraps(f)
    def g(*args, out=None, **kwargs):
        return _write_out(f.__name__, f(*args, **kwargs), out)
    return g


# -- element-wise, with input=/other=/out= -------------------------------------------
def _unary(name, target):
    fn = getattr(_ew, target)

    def f(input, *, out=None):
        return _write_out(name, fn(input), out)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"PyTorch's ``torch.{name}(input, *, out=None)``."
    return f


def _binary(name, target):
    fn = getattr(_ew, target)

    def f(input, other, *, out=None):
        return _write_out(name, fn(input, other), out)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"PyTorch's ``torch.{name}(input, other, *, out=None)``."
    return f


_UNARY = {"abs": "abs", "absolute": "abs", "neg": "negative", "negative": "negative",
          "exp": "exp", "expm1": "expm1", "log": "log", "log1p": "log1p", "log2": "log2",
          "log10": "log10", "sqrt": "sqrt", "sin": "sin", "cos": "cos", "tan": "tan",
          "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "asin": "asin", "acos": "acos",
          "atan": "atan", "arcsin": "asin", "arccos": "acos", "arctan": "atan",
          "asinh": "asinh", "acosh": "acosh", "atanh": "atanh", "floor": "floor",
          "ceil": "ceil", "trunc": "trunc", "sign": "sign", "square": "square",
          "reciprocal": "reciprocal", "isnan": "isnan", "isinf": "isinf",
          "isfinite": "isfinite", "logical_not": "logical_not", "bitwise_not": "bitwise_invert",
          "conj": "conj", "real": "real", "imag": "imag", "signbit": "signbit"}
_BINARY = {"mul": "multiply", "multiply": "multiply", "true_divide": "divide",
           "floor_divide": "floor_divide", "remainder": "remainder", "maximum": "maximum",
           "minimum": "minimum", "fmax": "maximum", "fmin": "minimum", "eq": "equal",
           "ne": "not_equal", "not_equal": "not_equal", "lt": "less", "less": "less",
           "le": "less_equal", "less_equal": "less_equal", "gt": "greater",
           "greater": "greater", "ge": "greater_equal", "greater_equal": "greater_equal",
           "logical_and": "logical_and", "logical_or": "logical_or",
           "logical_xor": "logical_xor", "atan2": "atan2", "arctan2": "atan2",
           "hypot": "hypot", "copysign": "copysign", "logaddexp": "logaddexp",
           "bitwise_and": "bitwise_and", "bitwise_or": "bitwise_or",
           "bitwise_xor": "bitwise_xor"}
for _n, _t in _UNARY.items():
    globals()[_n] = _unary(_n, _t)
for _n, _t in _BINARY.items():
    globals()[_n] = _binary(_n, _t)
del _n, _t


def _scaled(other, alpha):
    return other if alpha == 1 else other * alpha


def add(input, other, *, alpha=1, out=None):
    """``input + alpha * other``."""
    return _write_out("add", _ew.add(input, _scaled(other, alpha)), out)


def sub(input, other, *, alpha=1, out=None):
    """``input - alpha * other``."""
    return _write_out("sub", _ew.subtract(input, _scaled(other, alpha)), out)


subtract = sub


def div(input, other, *, rounding_mode=None, out=None):
    """``input / other``; ``rounding_mode`` "trunc" or "floor" rounds the quotient."""
    q = _ew.divide(input, other)
    if rounding_mode == "trunc":
        q = _ew.trunc(q)
    elif rounding_mode == "floor":
        q = _ew.floor_divide(input, other)
    elif rounding_mode is not None:
        raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got "
                         f"{rounding_mode!r}")
    return _write_out("div", q, out)


divide = div


def pow(input, exponent, *, out=None):  # noqa: A001
    """``input ** exponent`` (either may be a Python scalar)."""
    return _write_out("pow", _ew.pow(input, exponent), out)


def _rsqrt_deriv(out):
    return -0.5 * (out * out * out)  # (PyTorch's -0.5 result^3)


_rsqrt_prim = Primitive(
    "rsqrt", lambda B, x: B.reciprocal(B.sqrt(x)),  # (the values of 1 / sqrt(x))
    vjp=lambda ns, needs, g, out, x: (g * _rsqrt_deriv(out),),
    jvp=lambda ns, tangents, out, x: tangents[0] * _rsqrt_deriv(out),
    saves_inputs=False)
_rsqrt_prim.batch = elementwise_rule(_rsqrt_prim)


def _rsqrt_operand(x):
    """``x`` with a real floating-point dtype (integers and booleans become the default
    float, as ``sqrt``'s); complex tensors take ``rsqrt``'s composite path."""
    _check_tensor("rsqrt", x)
    return check_category("rsqrt", "real floating-point", x, True)


def rsqrt(input, *, out=None):
    """``1 / sqrt(input)``: one node saving its output for real inputs."""
    if out is None and input.__class__ is Tensor and id(input._data.dtype) in _REAL_FLOAT_IDS:
        return _rsqrt(input)
    dt = getattr(input, "dtype", None)
    if dt is not None and dt.kind == "c":  # (vmap's batched tensors too)
        return _write_out("rsqrt", 1.0 / _ew.sqrt(input), out)
    return _write_out("rsqrt", _rsqrt(input), out)


def _sigmoid_deriv(ns, y):
    d = y * (1.0 - y)
    return ns.conj(d) if ns.isdtype(d.dtype, "complex floating") else d


# forward: ``1 / (1 + exp(-x))`` as ``e / (1 + e)``, ``e = exp(x)``, for negative ``x``: no
# overflow, and the tiny values of very negative ``x`` kept (as PyTorch)
_sigmoid_prim = Primitive(
    "sigmoid", _nk.logistic_storage,
    vjp=lambda ns, needs, g, out, x: (g * _sigmoid_deriv(ns, out),),
    jvp=lambda ns, tangents, out, x: tangents[0] * (out * (1.0 - out)),
    saves_inputs=False)
_sigmoid_prim.batch = elementwise_rule(_sigmoid_prim)


def _sigmoid_operand(x):
    """``x`` with a real floating-point dtype (integers and booleans become the default
    float); complex tensors take ``sigmoid``'s composite path."""
    _check_tensor("sigmoid", x)
    return check_category("sigmoid", "real floating-point", x, True)


_REAL_FLOAT_IDS = frozenset(id(d) for d in _dtypes.real_floating_dtypes)
_sigmoid = unary_function(_sigmoid_prim, _REAL_FLOAT_IDS, _sigmoid_operand)
_rsqrt = unary_function(_rsqrt_prim, _REAL_FLOAT_IDS, _rsqrt_operand)


# -- softmax and log-softmax along one axis: one node each, saving the output only --------
def _softmax_fwd(B, x, *, axis):
    z = B.exp(x - B.max(x, axis=axis, keepdims=True))
    z /= B.sum(z, axis=axis, keepdims=True)
    return z


def _softmax_rule(ns, t, out, axis):
    """``J t`` (= ``J^T t``: the Jacobian is symmetric) of softmax at output ``out``."""
    ty = t * out
    return ty - out * ns.sum(ty, axis=axis, keepdims=True)


_softmax_prim = Primitive(
    "softmax", _softmax_fwd,
    vjp=lambda ns, needs, g, out, x, *, axis: (_softmax_rule(ns, g, out, axis),),
    jvp=lambda ns, tangents, out, x, *, axis: _softmax_rule(ns, tangents[0], out, axis),
    saves_inputs=False)
_softmax_prim.batch = axis_rule(_softmax_prim)


def _log_softmax_rows(B, x, axis, out=None, e=None, s=None):
    """``(x - max) - log(sum(exp(x - max)))``, in PyTorch's order of operations, with the
    exponentials ``e`` and their sums ``s``; written into ``out``/``e``/``s`` where given
    (a chunk's rows of the joined results, host storage)."""
    m = B.max(x, axis=axis, keepdims=True)
    if out is None:
        z = x - m
        e = B.exp(z)
        s = B.sum(e, axis=axis, keepdims=True)
    else:
        z = B.subtract(x, m, out=out)
        B.exp(z, out=e)
        s[...] = B.sum(e, axis=axis, keepdims=True)
    z -= B.log(s)
    return z, e, s


# Large inputs on the host run in blocks of rows that stay in the cache between the
# passes (about _LS_BLOCK elements each), the blocks split among threads by ``run_chunks``.
_LS_BLOCK = 1 << 18


def _row_blocks(B, x, axis):
    """(thread ranges, rows per block) of ``x``'s leading axis for the blocked path, or
    None where the one-pass-per-step path runs (small inputs, the leading axis reduced,
    storage off the host)."""
    if not axis or x.size <= _LS_BLOCK or not B.host:
        return None
    n = x.shape[0]
    return B.chunk_bounds(n, x.size), builtins.max(1, _LS_BLOCK // (x.size // n))


def _in_blocks(B, blocks, fn):
    """``fn(lo, hi)`` over every block of rows, the threads' ranges run by ``run_chunks``."""
    bounds, step = blocks

    def chunk(lo, hi):
        for b in range(lo, hi, step):
            fn(b, builtins.min(hi, b + step))
    B.run_chunks(chunk, bounds)


def _log_softmax_fwd(B, x, *, axis, cache):
    """``_log_softmax_rows``, by blocks of rows on large host inputs; the exponentials and
    their sums are kept for the plain backward."""
    if x.size <= _LS_BLOCK:  # (small inputs: the passes inline)
        cache["blocks"] = None
        z = x - B.max(x, axis=axis, keepdims=True)
        e = cache["e"] = B.exp(z)
        s = cache["s"] = B.sum(e, axis=axis, keepdims=True)
        z -= B.log(s)
        return z
    blocks = cache["blocks"] = _row_blocks(B, x, axis)
    if blocks is None:
        z, cache["e"], cache["s"] = _log_softmax_rows(B, x, axis)
        return z
    z, e = B.empty_like(x), B.empty_like(x)
    s = B.empty(x.shape[:axis] + (1,) + x.shape[axis + 1:], dtype=x.dtype)
    _in_blocks(B, blocks, lambda lo, hi: _log_softmax_rows(B, x[lo:hi], axis, z[lo:hi],
                                                           e[lo:hi], s[lo:hi]))
    cache["e"], cache["s"] = e, s
    return z


def _log_softmax_grad_rows(B, g, e, s, axis):
    """``g + e * (-sum(g) * (1 / s))`` written over ``e`` (the forward's own temporary)."""
    e *= -B.sum(g, axis=axis, keepdims=True) * (1 / s)
    e += g
    return e


def _log_softmax_vjp_storage(B, needs, g, out, x, *, axis, cache):
    """The cotangent in two passes over the forward's exponentials (rounded as the
    composite's backward).  Large inputs (the blocked path) write it over them, saving a
    fresh array's page faults, so a retained graph's second backward there recomputes
    with PyTorch's formula from ``out`` (equal to rounding); small inputs keep them, and
    every backward gives the same bits."""
    e, s, blocks = cache.get("e"), cache["s"], cache["blocks"]
    if e is None:
        return (B.exp(out) * -B.sum(g, axis=axis, keepdims=True) + g,)
    if blocks is None or B.dtype_of(g) != B.dtype_of(e):
        return (e * (-B.sum(g, axis=axis, keepdims=True) * (1 / s)) + g,)
    cache["e"] = None
    _in_blocks(B, blocks, lambda lo, hi: _log_softmax_grad_rows(B, g[lo:hi], e[lo:hi],
                                                                s[lo:hi], axis))
    return (e,)


_log_softmax_prim = Primitive(
    "log_softmax", _log_softmax_fwd,
    vjp=lambda ns, needs, g, out, x, *, axis, cache: (
        g - ns.exp(out) * ns.sum(g, axis=axis, keepdims=True),),
    jvp=lambda ns, tangents, out, x, *, axis, cache: tangents[0] - ns.sum(
        ns.exp(out) * tangents[0], axis=axis, keepdims=True),
    vjp_storage=_log_softmax_vjp_storage, saves_inputs=False)
_log_softmax_prim.batch = axis_rule(_log_softmax_prim)


def softmax_along(x, axis: int, log: bool = False):
    """Softmax (``log``: log-softmax) of a real floating-point tensor of at least one
    dimension along the non-empty axis ``axis`` (in ``[0, ndim)``), as one node; None
    for any other operand (the caller's general path)."""
    if x.dtype not in _dtypes.real_floating_set or not x.ndim or not x.shape[axis]:
        return None
    if log:
        return apply1(_log_softmax_prim, x, {"axis": axis, "cache": {}})
    return apply1(_softmax_prim, x, {"axis": axis})


def sigmoid(input, *, out=None):
    """``1 / (1 + exp(-input))``, one node saving its output (real inputs)."""
    if out is None and input.__class__ is Tensor and id(input._data.dtype) in _REAL_FLOAT_IDS:
        return _sigmoid(input)
    if input.__class__ is Tensor and input.dtype.kind == "c":
        return _write_out("sigmoid", 1.0 / (1.0 + _ew.exp(-input)), out)
    return _write_out("sigmoid", _sigmoid(input), out)


def relu(input):
    """``max(input, 0)``, NaN kept; one node saving its output (the fused kernel)."""
    _check_tensor("relu", input)
    if input.dtype in _dtypes.real_numeric_set:
        return _nk.relu(input)
    return _se.where(input > 0, input, _cr.zeros_like(input))


def round(input, *, decimals=0, out=None):  # noqa: A001
    """Round half to even, to ``decimals`` decimal places."""
    if decimals == 0:
        return _write_out("round", _ew.round(input), out)
    scale = 10.0 ** decimals
    return _write_out("round", _ew.round(input * scale) / scale, out)


def clamp(input, min=None, max=None, *, out=None):  # noqa: A002
    """``input`` limited to ``[min, max]`` (numbers or tensors)."""
    if out is None and input.__class__ is Tensor and min.__class__ in _NUMBERS \
            and max.__class__ in _NUMBERS and id(input._data.dtype) in _REAL_FLOAT_IDS:
        return _ew.clip(input, min, max)  # (two numbers around a float tensor)
    _check_tensor("clamp", input)
    if min is None and max is None:
        raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
    x = input
    if x.dtype.kind in "iu" and (isinstance(min, float) or isinstance(max, float)):
        x = _dt.astype(x, _dtypes.default_float)
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        if min is not None:
            x = _ew.maximum(x, min)
        if max is not None:
            x = _ew.minimum(x, max)
        return _write_out("clamp", x, out)
    return _write_out("clamp", _ew.clip(x, min, max), out)


clip = clamp
_NUMBERS = frozenset((int, float))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Element-wise ``|input - other| <= atol + rtol * |other|`` (a bool tensor)."""
    _check_tensor("isclose", input)
    other = _tensor("isclose", other, input)
    if input.dtype != other.dtype:
        raise RuntimeError(f"isclose: input ({input.dtype}) and other ({other.dtype}) must "
                           "have the same dtype")
    a, b = input.detach(), other.detach()
    if a.dtype.kind in "biu":
        a, b = _dt.astype(a, _dtypes.float64), _dt.astype(b, _dtypes.float64)
    close = _ew.equal(a, b)
    finite = _ew.isfinite(a) & _ew.isfinite(b)
    diff = _ew.abs(_se.where(finite, a - b, _cr.zeros_like(a)))
    tol = atol + rtol * _ew.abs(_se.where(finite, b, _cr.zeros_like(b)))
    close = close | (finite & (diff <= tol))
    if equal_nan:
        close = close | (_ew.isnan(a) & _ew.isnan(b))
    return close


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    """Whether every element of ``input`` is close to ``other`` (see ``isclose``)."""
    return builtins.bool(_ut.all(isclose(input, other, rtol, atol, equal_nan)))


def equal(input, other) -> bool:
    """Whether two tensors have the same shape and elements."""
    _check_tensor("equal", input)
    _check_tensor("equal", other)
    if input.shape != other.shape:
        return False
    return builtins.bool(_ut.all(_ew.equal(input, other)))


# -- reductions ------------------------------------------------------------------------
_FLOATING_IDS = frozenset(id(d) for d in _dtypes.floating_dtypes)  # (mean's shortcut)


def sum(input, dim=None, keepdim=False, *, dtype=None, out=None):  # noqa: A001
    if out is None and input.__class__ is Tensor and (dim is None or dim.__class__ is int):
        return _sf.sum(input, axis=dim, keepdims=keepdim, dtype=dtype)  # (nothing to convert)
    _check_tensor("sum", input)
    return _write_out("sum", _sf.sum(input, axis=_dims(dim), keepdims=keepdim, dtype=dtype), out)


def prod(input, dim=None, keepdim=False, *, dtype=None, out=None):
    if out is None and input.__class__ is Tensor and (dim is None or dim.__class__ is int):
        return _sf.prod(input, axis=dim, keepdims=keepdim, dtype=dtype)
    _check_tensor("prod", input)
    return _write_out("prod", _sf.prod(input, axis=_dims(dim), keepdims=keepdim, dtype=dtype),
                      out)


def mean(input, dim=None, keepdim=False, *, dtype=None, out=None):
    if out is None and dtype is None and input.__class__ is Tensor and \
            (dim is None or dim.__class__ is int) and id(input._data.dtype) in _FLOATING_IDS:
        return _sf.mean(input, axis=dim, keepdims=keepdim)
    _check_tensor("mean", input)
    x = input if dtype is None else _dt.astype(input, dtype)
    if x.dtype.kind in "biu":
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either "
                           f"a floating point or complex dtype. Got: {x.dtype}")
    return _write_out("mean", _sf.mean(x, axis=_dims(dim), keepdims=keepdim), out)


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None):
    """Standard deviation; PyTorch's default ``correction=1`` (Bessel)."""
    _check_tensor("std", input)
    if isinstance(dim, builtins.bool):
        dim, unbiased = None, dim
    return _write_out("std", _sf.std(input, axis=_dims(dim), keepdims=keepdim,
                                     correction=_correction(unbiased, correction)), out)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None):
    """Variance; PyTorch's default ``correction=1`` (Bessel)."""
    _check_tensor("var", input)
    if isinstance(dim, builtins.bool):
        dim, unbiased = None, dim
    return _write_out("var", _sf.var(input, axis=_dims(dim), keepdims=keepdim,
                                     correction=_correction(unbiased, correction)), out)


def _extremum(name, reduce, arg, pairwise):
    def f(input, dim=None, keepdim=False, *, out=None):
        if dim is None and out is None and input.__class__ is Tensor:
            return reduce(input)  # (the reduction's own checks)
        _check_tensor(name, input)
        if isinstance(dim, Tensor):  # max(input, other): element-wise
            return _write_out(name, pairwise(input, dim), out)
        if dim is None:
            return _write_out(name, reduce(input), out)
        d = _dim(name, dim, input.ndim)
        if input.ndim == 0:
            return ValuesIndices(input, _cr.zeros((), dtype=_dtypes.int64, device=input.device))
        if not (input.requires_grad or state.dual_level):
            res = ValuesIndices(reduce(input, axis=d, keepdims=keepdim),
                                arg(input, axis=d, keepdims=keepdim))
            return _write_out(name, res, out)
        # values gathered at the returned indices: with ties the gradient goes to that
        # index alone, as in PyTorch (the reduction would split it between ties)
        idx = arg(input, axis=d, keepdims=True)
        values = _ix.take_along_axis(input, idx, axis=d)
        if not keepdim:
            idx, values = _mf.squeeze(idx, axis=d), _mf.squeeze(values, axis=d)
        return _write_out(name, ValuesIndices(values, idx), out)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = (f"``{name}(input)``: the {name}imum; ``{name}(input, dim, keepdim=False)``: a "
                 f"``(values, indices)`` pair; ``{name}(input, other)``: element-wise.")
    return f


max = _extremum("max", _sf.max, _se.argmax, _ew.maximum)  # noqa: A001
min = _extremum("min", _sf.min, _se.argmin, _ew.minimum)  # noqa: A001


def amax(input, dim=(), keepdim=False, *, out=None):
    """Maximum over ``dim`` (all dimensions when empty); the gradient splits between ties."""
    if out is None and input.__class__ is Tensor and (dim.__class__ is int or
                                                      dim.__class__ is tuple):
        return _sf.max(input, axis=dim if dim != () else None, keepdims=keepdim)  # (): all
    _check_tensor("amax", input)
    axis = None if dim == () or dim == [] else _dims(dim)
    return _write_out("amax", _sf.max(input, axis=axis, keepdims=keepdim), out)


def amin(input, dim=(), keepdim=False, *, out=None):
    """Minimum over ``dim`` (all dimensions when empty); the gradient splits between ties."""
    if out is None and input.__class__ is Tensor and (dim.__class__ is int or
                                                      dim.__class__ is tuple):
        return _sf.min(input, axis=dim if dim != () else None, keepdims=keepdim)
    _check_tensor("amin", input)
    axis = None if dim == () or dim == [] else _dims(dim)
    return _write_out("amin", _sf.min(input, axis=axis, keepdims=keepdim), out)


def argmax(input, dim=None, keepdim=False):
    _check_tensor("argmax", input)
    return _se.argmax(input, axis=None if dim is None else _dim("argmax", dim, input.ndim),
                      keepdims=keepdim)


def argmin(input, dim=None, keepdim=False):
    _check_tensor("argmin", input)
    return _se.argmin(input, axis=None if dim is None else _dim("argmin", dim, input.ndim),
                      keepdims=keepdim)


def all(input, dim=None, keepdim=False, *, out=None):  # noqa: A001
    _check_tensor("all", input)
    return _write_out("all", _ut.all(input, axis=_dims(dim), keepdims=keepdim), out)


def any(input, dim=None, keepdim=False, *, out=None):  # noqa: A001
    _check_tensor("any", input)
    return _write_out("any", _ut.any(input, axis=_dims(dim), keepdims=keepdim), out)


def _kept(x, axes) -> tuple:
    return tuple(1 if i in axes else n for i, n in enumerate(x.shape))


def _lse_fwd(B, x, *, axes, keepdim):
    m = B.max(x, axis=axes, keepdims=True)
    finite = B.isfinite(m)
    if not B.all(finite):
        m = B.where(finite, m, B.zeros_like(m))
    r = B.log(B.sum(B.exp(x - m), axis=axes, keepdims=True))
    r = r + m
    return r if keepdim else B.reshape(r, tuple(n for i, n in enumerate(x.shape)
                                                if i not in axes))


def _lse_weights(ns, out, x, axes, keepdim):
    """softmax(x) over the reduced axes: ``exp(x - logsumexp(x))``."""
    return ns.exp(x - (out if keepdim else ns.reshape(out, _kept(x, axes))))


_lse_prim = Primitive(
    "logsumexp", _lse_fwd,
    vjp=lambda ns, needs, g, out, x, *, axes, keepdim: (
        (g if keepdim else ns.reshape(g, _kept(x, axes))) * _lse_weights(ns, out, x, axes,
                                                                          keepdim),),
    jvp=lambda ns, tangents, out, x, *, axes, keepdim: ns.sum(
        _lse_weights(ns, out, x, axes, keepdim) * tangents[0], axis=axes, keepdims=keepdim))
_lse_prim.batch = axis_rule(_lse_prim, axes=("axes",))


def _lse_kernel(x, axis, keepdim):
    """``logsumexp`` of a plain real floating tensor as one primitive (None: others, and
    vmap's batched tensors, take the composite)."""
    if x.__class__ is not Tensor:
        return None
    d = x._data
    key = (d.shape, id(d.dtype), axis, keepdim) if axis is None or axis.__class__ is int \
        else None  # (tuple axes may hold bools or floats that hash like ints: unmemoized)
    params = _LSE_CHECKED.get(key)
    if params is None:
        if x.dtype.kind != "f" or x.ndim == 0:
            return None
        axes = tuple(builtins.sorted(normalize_axes("logsumexp", axis, x.ndim)))
        params = {"axes": axes, "keepdim": builtins.bool(keepdim)}
        if key is not None and id(d.dtype) in _dtypes._native_to_dtype and \
                (keepdim is True or keepdim is False):
            if len(_LSE_CHECKED) >= 1024:
                _LSE_CHECKED.clear()
            _LSE_CHECKED[key] = params
    return apply1(_lse_prim, x, params)


_LSE_CHECKED: dict = {}  # (shape, native dtype id, int or None axis, keepdim) -> params


def logsumexp(input, dim, keepdim=False, *, out=None):
    """``log(sum(exp(input), dim))``, shifted by the (detached) maximum for stability."""
    _check_tensor("logsumexp", input)
    axis = _dims(dim)
    r = _lse_kernel(input, axis, keepdim)
    if r is not None:
        return _write_out("logsumexp", r, out)
    x = input if input.dtype.kind in "fc" else _dt.astype(input, _dtypes.default_float)
    m = _sf.max(x, axis=axis, keepdims=True).detach()
    m = _se.where(_ew.isfinite(m), m, _cr.zeros_like(m))
    r = _ew.log(_sf.sum(_ew.exp(x - m), axis=axis, keepdims=True)) + m
    if not keepdim:
        axes = (axis,) if isinstance(axis, int) else tuple(range(x.ndim)) if axis is None \
            else axis
        r = _mf.squeeze(r, axis=tuple(a % builtins.max(x.ndim, 1) for a in axes)) \
            if x.ndim else r
    return _write_out("logsumexp", r, out)


def cumsum(input, dim, *, dtype=None, out=None):
    if dtype is None and out is None and input.__class__ is Tensor and dim.__class__ is int \
            and input._data.ndim:  # the scan's own memoized checks
        return _sf._cumulative("cumsum", _sf._cumsum_prim, input, dim, None, False)
    _check_tensor("cumsum", input)
    if input.ndim == 0:
        return _write_out("cumsum", input if dtype is None else _dt.astype(input, dtype), out)
    return _write_out("cumsum", _sf.cumulative_sum(
        input, axis=_dim("cumsum", dim, input.ndim), dtype=dtype), out)


def cumprod(input, dim, *, dtype=None, out=None):
    if dtype is None and out is None and input.__class__ is Tensor and dim.__class__ is int \
            and input._data.ndim:
        return _sf._cumulative("cumprod", _sf._cumprod_prim, input, dim, None, False)
    _check_tensor("cumprod", input)
    if input.ndim == 0:
        return _write_out("cumprod", input if dtype is None else _dt.astype(input, dtype), out)
    return _write_out("cumprod", _sf.cumulative_prod(
        input, axis=_dim("cumprod", dim, input.ndim), dtype=dtype), out)


# -- sorting and searching -----------------------------------------------------------
def sort(input, dim=-1, descending=False, stable=False, *, out=None):
    """``(values, indices)`` of ``input`` sorted along ``dim`` (the sort is stable)."""
    _check_tensor("sort", input)
    if input.ndim == 0:
        return ValuesIndices(input, _cr.zeros((), dtype=_dtypes.int64, device=input.device))
    d = _dim("sort", dim, input.ndim)
    if input.__class__ is Tensor and input.dtype.kind != "c" and not (
            state.grad_enabled and input._requires_grad or state.dual_level):
        return _write_out("sort", _sorted_storage(input, d, descending), out)
    idx = _so.argsort(input, axis=d, descending=descending, stable=True)
    return _write_out("sort", ValuesIndices(_ix.take_along_axis(input, idx, axis=d), idx), out)


def argsort(input, dim=-1, descending=False, stable=False):
    """Indices that sort ``input`` along ``dim`` (a stable sort)."""
    _check_tensor("argsort", input)
    if input.ndim == 0:
        return _cr.zeros((), dtype=_dtypes.int64, device=input.device)
    return _so.argsort(input, axis=_dim("argsort", dim, input.ndim), descending=descending,
                       stable=True)


def topk(input, k, dim=-1, largest=True, sorted=True, *, out=None):
    """The ``k`` largest (``largest=False``: smallest) elements along ``dim`` and their
    indices, as ``(values, indices)``; differentiable in the values."""
    if input.__class__ is Tensor and k.__class__ is int and dim.__class__ is int and \
            out is None and not (state.grad_enabled and input._requires_grad or state.dual_level):
        key = (input._data.shape, id(input._data.dtype), k, dim)
        d = _TOPK_CHECKED.get(key)
        if d is not None:  # checked before: the no-grad path on storage
            return _sorted_storage(input, d, largest, k)
    _check_tensor("topk", input)
    k = _int("topk", "k", k)
    d = _dim("topk", dim, input.ndim) if input.ndim else 0
    n = input.shape[d] if input.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"topk: k ({k}) is out of range for dimension {dim} of size {n} "
                           f"(input shape {input.shape})")
    if input.ndim == 0:
        return ValuesIndices(input, _cr.zeros((), dtype=_dtypes.int64, device=input.device))
    if input.__class__ is Tensor and input.dtype.kind != "c" and not (
            state.grad_enabled and input._requires_grad or state.dual_level):
        if id(input._data.dtype) in _dtypes._native_to_dtype:  # (long-lived dtype objects)
            if len(_TOPK_CHECKED) >= 1024:
                _TOPK_CHECKED.clear()
            _TOPK_CHECKED[(input._data.shape, id(input._data.dtype), k, dim)] = d
        return _write_out("topk", _sorted_storage(input, d, largest, k), out)
    idx = _mf._narrow(_so.argsort(input, axis=d, descending=largest, stable=True), d, 0, k)
    return _write_out("topk", ValuesIndices(_ix.take_along_axis(input, idx, axis=d), idx), out)


_TOPK_CHECKED: dict = {}  # (shape, storage dtype id, k, dim) -> the checked axis


def _sorted_storage(x, d, descending, k=None):
    """``(values, indices)`` of (the first ``k`` of) ``x`` sorted along ``d``, on storage:
    the no-grad path of ``sort`` and ``topk`` (one argsort and one gather, no nodes)."""
    dev = x._device
    B = dev._backend
    idx = _so._argsort.fwd(B, x._data, axis=d, descending=descending, stable=True)
    if k is not None and k != idx.shape[d]:
        idx = idx[(builtins.slice(None),) * d + (builtins.slice(0, k),)]
    values = B.getitem(x._data, _ix.along_key(B, x.shape, idx.shape, d, idx))
    return ValuesIndices(_new(B.ensure_array(values), dev), _new(B.ensure_array(idx), dev))


def nonzero(input, *, out=None, as_tuple=False):
    """Indices of the non-zero elements: an ``(n, ndim)`` int64 tensor, or (``as_tuple``)
    one index tensor per dimension."""
    _check_tensor("nonzero", input)
    x = _mf.reshape(input, (1,)) if input.ndim == 0 else input
    idx = _se.nonzero(x)
    if as_tuple:
        return idx
    return _write_out("nonzero", _mf.stack(list(idx), axis=1), out)


def argwhere(input):
    return nonzero(input)


def where(condition, input=None, other=None, *, out=None):
    """``input`` where ``condition`` else ``other``; ``where(condition)`` is
    ``nonzero(condition, as_tuple=True)``."""
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError("where: expected where(condition) or where(condition, input, other)")
    if isinstance(condition, Tensor) and condition.dtype != _dtypes.bool:
        condition = _dt.astype(condition, _dtypes.bool)
    return _write_out("where", _se.where(condition, input, other), out)


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The sorted distinct values (or, with ``dim``, distinct slices along ``dim``), and
    optionally the inverse indices (``input``'s shape) and the counts."""
    _check_tensor("unique", input)
    if dim is not None:
        values, inverse, counts = _unique_dim(input, _dim("unique", dim, input.ndim))
    elif input.ndim == 0:
        values, inverse, counts = (_mf.reshape(input, (1,)),
                                   _cr.zeros((), dtype=_dtypes.int64, device=input.device),
                                   _cr.ones((1,), dtype=_dtypes.int64, device=input.device))
    else:
        r = _st.unique_all(input.detach())
        order = _so.argsort(r.values, stable=True)
        rank = _cr.empty_like(order)
        rank[order] = _cr.arange(order.shape[0], dtype=order.dtype, device=order.device)
        values, counts = r.values[order], r.counts[order]
        inverse = _ix.take(rank, _mf.reshape(r.inverse_indices, (-1,)), axis=0)
        inverse = _mf.reshape(inverse, input.shape)
    out = (values,)
    if return_inverse:
        out += (_dt.astype(inverse, _dtypes.int64),)
    if return_counts:
        out += (_dt.astype(counts, _dtypes.int64),)
    return out[0] if len(out) == 1 else out


def _unique_dim(x, d):
    """Distinct slices of ``x`` along ``d`` (sorted lexicographically)."""
    moved = _mf.moveaxis(x.detach(), d, 0)
    n = moved.shape[0]
    rows = _mf.reshape(moved, (n, -1))
    order = _cr.arange(n, dtype=_dtypes.int64, device=x.device)
    for c in builtins.range(rows.shape[1] - 1, -1, -1):
        col = _ix.take(rows[:, c], order, axis=0)
        order = _ix.take(order, _so.argsort(col, stable=True), axis=0)
    srt = _ix.take(rows, order, axis=0)
    if n == 0:
        flags = _cr.zeros((0,), dtype=_dtypes.bool, device=x.device)
    else:
        new = _ut.any(srt[1:] != srt[:-1], axis=1) if rows.shape[1] else \
            _cr.zeros((n - 1,), dtype=_dtypes.bool, device=x.device)
        flags = _mf.concat([_cr.ones((1,), dtype=_dtypes.bool, device=x.device), new])
    group = _sf.cumulative_sum(_dt.astype(flags, _dtypes.int64)) - 1
    inverse = _cr.empty((n,), dtype=_dtypes.int64, device=x.device)
    inverse[order] = group
    starts = _se.nonzero(flags)[0]
    counts = _ut.diff(starts, append=_cr.asarray([n], dtype=starts.dtype, device=x.device))
    values = _mf.reshape(_ix.take(moved, _ix.take(order, starts, axis=0), axis=0),
                         (starts.shape[0],) + moved.shape[1:])
    return _mf.moveaxis(values, 0, d), inverse, counts


# -- shapes ------------------------------------------------------------------------------
def _tensors(func, tensors):
    c = tensors.__class__
    if c is list or c is tuple:
        return tensors
    if isinstance(tensors, Tensor) or not isinstance(tensors, (tuple, list)):
        raise TypeError(f"{func}: expected a sequence of Tensors, got {type(tensors).__name__}")
    return list(tensors)


def cat(tensors, dim=0, *, out=None):
    """``tensors`` joined along ``dim``."""
    c = tensors.__class__
    ts = tensors if c is list or c is tuple else _tensors("cat", tensors)
    for t in ts:
        shape = t._data.shape if t.__class__ is Tensor else t.shape  # (_legacy_empty, inlined)
        if len(shape) == 1 and shape[0] == 0:  # legacy empties (shape (0,)): left out
            ts = [t for t in ts if not _legacy_empty(t)] or ts
            break
    r = _mf.concat(ts, axis=dim)
    return r if out is None else _write_out("cat", r, out)


def _legacy_empty(t) -> bool:
    shape = t._data.shape if t.__class__ is Tensor else t.shape
    return len(shape) == 1 and shape[0] == 0


concat = concatenate = cat


def stack(tensors, dim=0, *, out=None):
    """``tensors`` stacked along a new dimension ``dim``."""
    return _write_out("stack", _mf.stack(_tensors("stack", tensors), axis=dim), out)


def hstack(tensors, *, out=None):
    ts = _tensors("hstack", tensors)
    return cat(ts, 0 if ts and ts[0].ndim == 1 else 1, out=out)


def vstack(tensors, *, out=None):
    ts = _tensors("vstack", tensors)
    for t in ts:
        if t.ndim < 2:  # rows: 0-d and 1-d tensors become (1, n)
            ts = [t if t.ndim >= 2 else _mf.reshape(t, (1, -1)) for t in ts]
            break
    return cat(ts, 0, out=out)


def narrow(input, dim, start, length):
    """The elements ``start .. start + length - 1`` along ``dim`` (a view)."""
    return _mf.narrowed(input, _mf._memo_params("narrow", input, (dim, start, length),
                                                _narrow_checked))


def _narrow_checked(shape, arg) -> dict:
    """``narrow``'s params for a tensor of ``shape``, every argument checked."""
    dim, start, length = arg
    d = _dim("narrow", dim, len(shape))
    if not shape:
        raise IndexError("narrow: can't narrow a 0-dimensional tensor")
    n = shape[d]
    start = _int("narrow", "start", start)
    length = _int("narrow", "length", length)
    if start < 0:
        start += n
    if not 0 <= start <= n or length < 0 or start + length > n:
        raise IndexError(f"narrow: start ({start}) + length ({length}) exceeds dimension "
                         f"{dim} of size {n} (input shape {tuple(shape)})")
    return {"axis": d, "start": start, "stop": start + length, "n": n}


def split(tensor, split_size_or_sections, dim=0):
    """Pieces of ``split_size_or_sections`` elements along ``dim`` (the last may be
    smaller), or of the listed sizes; views."""
    plist = _memo_pieces("split", tensor, split_size_or_sections, dim, _split_params)
    return (tensor,) if plist is None else _pieces(tensor, plist)


def _split_params(tensor, s, dim):
    """``split``'s checked pieces (params of the narrowing views); None: ``(tensor,)``."""
    _check_tensor("split", tensor)
    d = _dim("split", dim, tensor.ndim)
    n = tensor.shape[d]
    if isinstance(s, (list, tuple)):
        sizes = [_int("split", "split size", v) for v in s]
        if builtins.sum(sizes) != n or builtins.any(v < 0 for v in sizes):
            raise RuntimeError(f"split: split sizes {list(sizes)} don't sum to the size {n} of "
                               f"dimension {dim} (input shape {tensor.shape})")
    else:
        s = _int("split", "split_size", s)
        if s <= 0:
            if s == 0 and n == 0:
                return None
            raise RuntimeError(f"split: split_size must be positive, got {s}")
        sizes = [s] * (n // s) + ([n % s] if n % s else [])
        if not sizes:
            sizes = [0]
    bounds, start = [], 0
    for v in sizes:
        bounds.append((start, start + v))
        start += v
    return _narrow_params(d, n, bounds)


def _narrow_params(d, n, bounds) -> tuple:
    """``(primitive, params)`` of the pieces: one node for all of them."""
    return _mf.pieces_params(d, tuple(bounds), n)


_PIECES: dict = {}  # (func, shape, argument, dim) -> checked params of the pieces


def _memo_pieces(func, x, arg, dim, check):
    """``check(x, arg, dim)``, memoized for plain tensors and int (tuple) arguments (the
    params are shared: never mutated)."""
    a = builtins.tuple(arg) if arg.__class__ is list else arg
    plain = a.__class__ is int
    if a.__class__ is tuple:
        for v in a:
            if v.__class__ is not int:
                break
        else:
            plain = True
    if plain and x.__class__ is Tensor and dim.__class__ is int:
        key = (func, x._data.shape, a, dim)
        try:
            return _PIECES[key]
        except KeyError:
            plist = _PIECES[key] = check(x, arg, dim)
            if len(_PIECES) >= 1024:
                _PIECES.clear()
            return plist
    return check(x, arg, dim)


def _pieces(x, plist) -> tuple:
    """The narrowing views of ``x`` that ``plist`` (``_narrow_params``) describes."""
    return _mf.pieces(x, plist[0], plist[1])


def chunk(input, chunks, dim=0):
    """At most ``chunks`` pieces of equal size (``ceil(n / chunks)``) along ``dim``."""
    plist = _memo_pieces("chunk", input, chunks, dim, _chunk_params)
    return (input,) if plist is None else _pieces(input, plist)


def _chunk_params(input, chunks, dim):
    _check_tensor("chunk", input)
    chunks = _int("chunk", "chunks", chunks)
    if chunks <= 0:
        raise RuntimeError(f"chunk: chunks must be positive, got {chunks}")
    n = input.shape[_dim("chunk", dim, input.ndim)]
    return _split_params(input, builtins.max(1, -(-n // chunks)), dim)


def tensor_split(input, indices_or_sections, dim=0):
    """``chunks`` pieces whose sizes differ by at most one, or pieces cut at the indices."""
    return _pieces(input, _memo_pieces("tensor_split", input, indices_or_sections, dim,
                                       _tensor_split_params))


def _tensor_split_params(input, indices_or_sections, dim):
    _check_tensor("tensor_split", input)
    d = _dim("tensor_split", dim, input.ndim)
    n = input.shape[d]
    if isinstance(indices_or_sections, (list, tuple)):
        cuts = [builtins.min(builtins.max(_int("tensor_split", "index", i), 0), n)
                for i in indices_or_sections]
    else:
        k = _int("tensor_split", "sections", indices_or_sections)
        q, r = divmod(n, k)
        cuts, pos = [], 0
        for i in builtins.range(k - 1):
            pos += q + (1 if i < r else 0)
            cuts.append(pos)
    bounds = [0] + cuts + [n]
    return _narrow_params(d, n, [(builtins.min(a, b), b) for a, b in
                                 builtins.zip(bounds[:-1], bounds[1:])])


def unbind(input, dim=0):
    """The slices along ``dim``, as a tuple."""
    return _mf.unstack_views(input, _mf._memo_params("unbind", input, dim, _unbind_params))


def _unbind_params(shape, dim) -> dict:
    return _mf._unstack_params(shape, _dim("unbind", dim, len(shape)))


def squeeze(input, dim=None):
    """``input`` without its size-one dimensions (all, or those of ``dim``)."""
    _check_tensor("squeeze", input)
    shape = input.shape
    if dim is None:
        axes = tuple(i for i, s in enumerate(shape) if s == 1)
    else:
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        axes = tuple(builtins.sorted({_dim("squeeze", v, input.ndim) for v in dims
                                      if input.ndim and shape[v] == 1}))
    if not axes:
        return input
    return _mf.squeeze(input, axis=axes)


def flip(input, dims):
    """``input`` reversed along ``dims``."""
    _check_tensor("flip", input)
    if isinstance(dims, int):
        dims = (dims,)
    return _mf.flip(input, axis=tuple(dims))


def roll(input, shifts, dims=None):
    """``input`` rolled by ``shifts`` along ``dims`` (flattened when ``dims`` is None)."""
    _check_tensor("roll", input)
    if isinstance(shifts, list):
        shifts = tuple(shifts)
    if isinstance(dims, list):
        dims = tuple(dims)
    return _mf.roll(input, shifts, axis=dims)


def movedim(input, source, destination):
    return _mf.moveaxis(input, source, destination)


moveaxis = movedim


def swapaxes(input, axis0, axis1):
    return _mf.permuted(input, _mf._memo_params("swapaxes", input, (axis0, axis1), _swap_params))


def _swap_params(shape, axes) -> dict:
    n = len(shape)
    a, b = _dim("swapaxes", axes[0], n), _dim("swapaxes", axes[1], n)
    perm = list(builtins.range(n))
    perm[a], perm[b] = perm[b], perm[a]
    return {"axes": tuple(perm)}


swapdims = swapaxes


def tril(input, diagonal=0, *, out=None):
    return _write_out("tril", _cr.tril(input, k=diagonal), out)


def triu(input, diagonal=0, *, out=None):
    return _write_out("triu", _cr.triu(input, k=diagonal), out)


def masked_fill(input, mask, value):
    """``value`` where ``mask`` is true, ``input`` elsewhere."""
    _check_tensor("masked_fill", input)
    if isinstance(value, Tensor):
        value = _dt.astype(value, input.dtype)
    else:
        value = _cr.full((), value, dtype=input.dtype, device=input.device)
    return _se.where(mask, value, input)


def index_select(input, dim, index, *, out=None):
    if input.__class__ is Tensor and index.__class__ is Tensor and dim.__class__ is int \
            and index._data.ndim == 1 and out is None:  # take's memoized checks do the rest
        n = input._data.ndim
        if -n <= dim < n:
            return _ix.take(input, index, axis=dim)
    _check_tensor("index_select", input)
    return _write_out("index_select", _ix.take(
        input, _mf.reshape(index, (-1,)), axis=_dim("index_select", dim, input.ndim)), out)


# -- gather and scatter ------------------------------------------------------------------
_GRID_CHECKED: dict = {}  # (input shape, index shape, index dtype id, dim) -> (d, ishape)


def _grid_key(func, input, dim, index, read=False):
    """The advanced-indexing key (storage) that pairs each element of ``index`` with its
    position: ``index`` along ``dim``, the element's own coordinate along the others.
    The shape checks are memoized for plain tensors; the bounds are checked every call
    (``read``: a key only read through, on a host backend whose indexing checks them
    itself, NumPy's rule: no separate check)."""
    if input.__class__ is Tensor and index.__class__ is Tensor and dim.__class__ is int \
            and input._device is index._device:
        idx = index._data
        ck = (input._data.shape, idx.shape, id(idx.dtype), dim)  # (dtypes are interned)
        hit = _GRID_CHECKED.get(ck)
        if hit is None:
            r = _check_grid_key(func, input, dim, index)
            if len(_GRID_CHECKED) >= 1024:
                _GRID_CHECKED.clear()
            _GRID_CHECKED[ck] = (r[0][0], r[1])
            return r[0][1], r[1]
        d, ishape = hit
        B = input._device.backend
        if read and B.host and idx.ndim and id(idx.dtype) in _ix._INTEGER_IDS:
            return _ix.along_key(B, ishape, ishape, d, idx), ishape
        return _grid_storage_key(func, B, idx, d, ishape, ck[0][d] if ck[0] else 1), ishape
    r = _check_grid_key(func, input, dim, index)
    return r[0][1], r[1]


def _grid_storage_key(func, B, idx, d, ishape, n):
    """``_grid_key``'s storage key for checked shapes: the bounds of ``idx`` checked."""
    if not idx.ndim:
        idx = B.reshape(idx, (1,))
    if idx.size:  # (on storage: two reductions, no tensors)
        lo, hi = int(B.min(idx)), int(B.max(idx))
        if lo < -n or hi >= n:
            raise IndexError(f"{func}: index {hi if hi >= n else lo} is out of bounds for "
                             f"dimension {d} with size {n}")
    it = B.native_dtype(_dtypes.default_index)
    idx = B.astype(idx, it) if idx.dtype != it else idx
    return _ix.along_key(B, tuple(ishape), tuple(ishape), d, idx)


def _check_grid_key(func, input, dim, index):
    """``((d, key), ishape)``, every argument checked."""
    _check_tensor(func, input)
    if not isinstance(index, Tensor) or index.dtype.kind not in "iu":
        raise TypeError(f"{func}: index must be an integer Tensor, got "
                        f"{getattr(index, 'dtype', type(index).__name__)}")
    if index.device != input.device:
        raise ValueError(f"{func}: input is on device '{input.device}' but index is on "
                         f"'{index.device}'")
    nd = builtins.max(input.ndim, 1)
    d = _dim(func, dim, input.ndim)
    if index.ndim != input.ndim:
        raise RuntimeError(f"{func}: index (shape {index.shape}) must have as many dimensions "
                           f"as input (shape {input.shape})")
    ishape = index.shape if index.ndim else (1,)
    xshape = input.shape if input.ndim else (1,)
    for a in builtins.range(nd):
        if a != d and ishape[a] > xshape[a]:
            raise RuntimeError(f"{func}: index (shape {index.shape}) is larger than input "
                               f"(shape {input.shape}) along dimension {a}")
    B = input._device.backend
    return (d, _grid_storage_key(func, B, index._data, d, ishape, xshape[d])), ishape


def gather(input, dim, index, *, sparse_grad=False, out=None):
    """``out[i][j] = input[index[i][j]][j]`` (for ``dim=0``); ``index`` may be smaller than
    ``input`` along the other dimensions."""
    key, ishape = _grid_key("gather", input, dim, index, read=True)
    if input.__class__ is Tensor and out is None and input._data.ndim:  # (index too: 1-D+)
        return _ix._advanced("gather", input, key)
    x = input if input.ndim else _mf.reshape(input, (1,))
    r = _ix._run_advanced("gather", x, key)
    return _write_out("gather", r if index.ndim else _mf.reshape(r, ()), out)


def _src_values(func, input, src, ishape):
    """The part of ``src`` (a tensor or a number) that ``index`` addresses, in ``input``'s
    dtype."""
    if not isinstance(src, Tensor):
        return _cr.full(ishape, src, dtype=input.dtype, device=input.device)
    if src.device != input.device:
        raise ValueError(f"{func}: input is on device '{input.device}' but src is on "
                         f"'{src.device}'")
    s = src if src.ndim else _mf.reshape(src, (1,))
    if s.ndim != len(ishape) or builtins.any(a < b for a, b in builtins.zip(s.shape, ishape)):
        raise RuntimeError(f"{func}: src (shape {src.shape}) must be at least as large as "
                           f"index (shape {ishape}) in every dimension")
    if tuple(s.shape) != tuple(ishape):
        s = s[tuple(builtins.slice(0, k) for k in ishape)]
    return s if s.dtype == input.dtype else _dt.astype(s, input.dtype)


def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    """A copy of ``input`` with ``src`` (a tensor or a number) written at ``index`` along
    ``dim`` (``reduce="add"``/``"multiply"`` combines instead); differentiable."""
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter: expected src or value")
    if reduce == "add" or reduce == "sum":
        return scatter_add(input, dim, index, _src_values_like(input, src, index))
    key, ishape = _grid_key("scatter", input, dim, index)
    v = _src_values("scatter", input, src, ishape)
    x = input if input.ndim else _mf.reshape(input, (1,))
    if reduce in ("multiply", "prod"):
        factors = scatter(_cr.ones_like(x), dim, _mf.reshape(index, ishape), v)
        r = x * factors
    elif reduce is not None:
        raise ValueError(f"scatter: reduce must be None, 'add' or 'multiply', got {reduce!r}")
    else:
        r = apply2(_ix._index_put, x, v, {"key": key, "adv": True, "vshape": tuple(v.shape)})
    return r if input.ndim else _mf.reshape(r, ())


def _src_values_like(input, src, index):
    if isinstance(src, Tensor):
        return src
    return _cr.full(index.shape, src, dtype=input.dtype, device=input.device)


def scatter_add(input, dim, index, src):
    """A copy of ``input`` with ``src`` added at ``index`` along ``dim`` (repeated indices
    accumulate); differentiable."""
    key, ishape = _grid_key("scatter_add", input, dim, index)
    v = _src_values("scatter_add", input, src, ishape)
    x = input if input.ndim else _mf.reshape(input, (1,))
    added = apply1(_ix._scatter, v, {"key": key, "adv": True, "shape": tuple(x.shape)})
    r = x + added
    return r if input.ndim else _mf.reshape(r, ())


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    if reduce != "sum" or not include_self:
        raise NotImplementedError(f"scatter_reduce: only reduce='sum' with include_self=True "
                                  f"is supported, got reduce={reduce!r}")
    return scatter_add(input, dim, index, src)


# -- random --------------------------------------------------------------------------
def multinomial(input, num_samples, replacement=False, *, generator=None, out=None):
    """``num_samples`` category indices per row of the (unnormalised) probabilities
    ``input`` (1-D or 2-D), drawn from arraylib's generator; int64."""
    _check_tensor("multinomial", input)
    if input.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: prob_dist must be 1 or 2 dim, got shape {input.shape}")
    k = _int("multinomial", "num_samples", num_samples)
    p = input.detach()
    if p.dtype.kind != "f":
        p = _dt.astype(p, _dtypes.default_float)
    n = p.shape[-1]
    if k <= 0:
        raise RuntimeError(f"multinomial: cannot sample num_samples={k} <= 0 samples")
    if not replacement and k > n:
        raise RuntimeError(f"multinomial: cannot sample num_samples={k} > input.size(-1)={n} "
                           "samples without replacement")
    if builtins.bool(_ut.any(~_ew.isfinite(p))) or builtins.bool(_ut.any(p < 0)):
        raise RuntimeError("multinomial: probability tensor contains either inf, nan or "
                           "element < 0")
    total = _sf.sum(p, axis=-1, keepdims=True)
    if builtins.bool(_ut.any(total <= 0)):
        raise RuntimeError("multinomial: invalid multinomial distribution (sum of "
                           "probabilities <= 0)")
    rows = p if p.ndim == 2 else _mf.reshape(p, (1, n))
    if replacement:
        cdf = _sf.cumulative_sum(_dt.astype(rows, _dtypes.float64), axis=-1)
        u = _random.rand((rows.shape[0], k), dtype=_dtypes.float64, device=p.device,
                         generator=generator) * cdf[:, -1:]
        below = _mf.expand_dims(cdf, axis=1) <= _mf.expand_dims(u, axis=2)
        idx = _sf.sum(_dt.astype(below, _dtypes.int64), axis=-1)
        idx = _ew.minimum(idx, _cr.asarray(n - 1, dtype=_dtypes.int64, device=p.device))
    else:
        if builtins.bool(_ut.any(_se.count_nonzero(rows, axis=-1) < k)):
            raise RuntimeError("multinomial: invalid multinomial distribution (with "
                               "replacement=False, not enough non-negative category to sample)")
        u = _random.rand(rows.shape, dtype=_dtypes.float64, device=p.device, generator=generator)
        # exponential race: the k smallest E_i / p_i (E_i ~ Exp(1)) are a draw without
        # replacement with probabilities p
        p64 = _dt.astype(rows, _dtypes.float64)
        pos = p64 > 0
        keys = _se.where(pos, -_ew.log1p(-u) / _se.where(pos, p64, _cr.ones_like(p64)),
                         float("inf"))
        idx = _mf._narrow(_so.argsort(keys, axis=-1, stable=True), 1, 0, k)
    idx = _dt.astype(idx, _dtypes.int64)
    return _write_out("multinomial", idx if p.ndim == 2 else _mf.reshape(idx, (k,)), out)


# -- linear algebra ------------------------------------------------------------------
def matmul(input, other, *, out=None):
    return _write_out("matmul", _la.matmul(input, other), out)


def _rank_product(func, rank, input, other, out):
    """``matmul`` of two tensors of dimension ``rank`` (RuntimeError otherwise)."""
    if input.ndim != rank or other.ndim != rank:
        what = {1: "1-D", 2: "2-D", 3: "3-D"}[rank]
        raise RuntimeError(f"{func}: expected {what} tensors, got shapes {input.shape} and "
                           f"{other.shape}")
    r = _la.matmul(input, other)
    return r if out is None else _write_out(func, r, out)


def mm(input, mat2, *, out=None):
    if input.__class__ is Tensor and mat2.__class__ is Tensor and out is None \
            and input._data.ndim == 2 and mat2._data.ndim == 2:
        return _la.matmul(input, mat2)
    return _rank_product("mm", 2, input, mat2, out)


def bmm(input, mat2, *, out=None):
    if input.__class__ is Tensor and mat2.__class__ is Tensor and out is None \
            and input._data.ndim == 3 and mat2._data.ndim == 3:
        return _la.matmul(input, mat2)
    return _rank_product("bmm", 3, input, mat2, out)


def dot(input, other, *, out=None):
    if input.__class__ is Tensor and other.__class__ is Tensor and out is None \
            and input._data.ndim == 1 and other._data.ndim == 1:
        return _la.matmul(input, other)
    return _rank_product("dot", 1, input, other, out)


def outer(input, vec2, *, out=None):
    r = _la.outer_product(input, vec2)
    if r is None:
        r = _mf.reshape(input, (-1, 1)) * _mf.reshape(vec2, (1, -1))
    return r if out is None else _write_out("outer", r, out)


def _einsum_parse(equation, operands):
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise ValueError(f"einsum: the equation {equation!r} names {len(terms)} operands, "
                         f"got {len(operands)}")
    nell = 0
    for t, x in builtins.zip(terms, operands):
        if "..." in t:
            nell = builtins.max(nell, x.ndim - len(t.replace("...", "")))
    ell = [chr(0x2460 + i) for i in builtins.range(nell)]  # labels for the '...' dimensions
    labels = []
    for t, x in builtins.zip(terms, operands):
        if "..." in t:
            a, _, b = t.partition("...")
            m = x.ndim - len(a) - len(b)
            lab = list(a) + ell[nell - m:] + list(b)
        else:
            lab = list(t)
        if len(lab) != x.ndim or builtins.any(not (c.isalpha() or c in ell) for c in lab):
            raise ValueError(f"einsum: the subscripts {t!r} don't fit an operand of shape "
                             f"{x.shape} in {equation!r}")
        labels.append(lab)
    if arrow:
        out = list(rhs.replace("...", "".join(ell)))
    else:
        counts = {}
        for lab in labels:
            for c in lab:
                counts[c] = counts.get(c, 0) + 1
        out = ell + builtins.sorted(c for c, k in counts.items() if k == 1 and c not in ell)
    return labels, out


def _einsum_diagonal(x, lab):
    """Take the diagonal of every label that repeats within one operand."""
    while True:
        dup = next((c for c in lab if lab.count(c) > 1), None)
        if dup is None:
            return x, lab
        i = lab.index(dup)
        j = lab.index(dup, i + 1)
        x = _mf.moveaxis(x, (i, j), (-2, -1))
        n = x.shape[-1]
        eye = _cr.eye(n, dtype=x.dtype, device=x.device)
        x = _sf.sum(x * eye, axis=-1)
        lab = [c for k, c in enumerate(lab) if k not in (i, j)] + [dup]


def _einsum_sum(x, lab, keep):
    axes = tuple(i for i, c in enumerate(lab) if c not in keep)
    if not axes:
        return x, lab
    return _sf.sum(x, axis=axes), [c for c in lab if c in keep]


def _einsum_pair(a, la, b, lb, keep, sizes):
    """Contract two operands over their common labels that ``keep`` does not need."""
    batch = [c for c in la if c in lb and c in keep]
    contract = [c for c in la if c in lb and c not in keep]
    fa = [c for c in la if c not in lb]
    fb = [c for c in lb if c not in la]
    a = _mf.permute_dims(a, tuple(la.index(c) for c in batch + fa + contract))
    b = _mf.permute_dims(b, tuple(lb.index(c) for c in batch + contract + fb))

    def size(cs):
        n = 1
        for c in cs:
            n *= sizes[c]
        return n
    nb, nfa, nc, nfb = size(batch), size(fa), size(contract), size(fb)
    r = _la.matmul(_mf.reshape(a, (nb, nfa, nc)), _mf.reshape(b, (nb, nc, nfb)))
    lab = batch + fa + fb
    return _mf.reshape(r, tuple(sizes[c] for c in lab)), lab


# -- einsum as one primitive: the backend's einsum, for small operands --------------------
_EINSUM_DIRECT_MAX = 1 << 14  # the product of all label sizes (einsum's loop, no BLAS)
_EINSUM_PLANS: dict = {}  # (equation, shapes) -> (letter equation, VJP equations) or None
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _einsum_plan(equation, operands):
    """The backend equation (letters, explicit output) and, when every operand's gradient
    is an einsum of the cotangent and the others (no repeated label within an operand,
    each label found in the output or another operand), one VJP equation per operand;
    None where the composite path is needed (broadcast size-1 labels, large operands)."""
    labels, out = _einsum_parse(equation, operands)
    sizes = {}
    for lab, x in builtins.zip(labels, operands):
        for c, n in builtins.zip(lab, x.shape):
            m = sizes.get(c)
            if m is None or m == 1:
                sizes[c] = n
            elif n != 1 and n != m:
                return None  # (the composite path names the mismatch)
    cost = 1
    for n in sizes.values():
        cost *= n
    if cost > _EINSUM_DIRECT_MAX or len(sizes) > len(_LETTERS) or len(set(out)) != len(out) \
            or not set(out) <= set(sizes):
        return None
    letter = dict(builtins.zip(sizes, _LETTERS))
    terms = ["".join(letter[c] for c in lab) for lab in labels]
    o = "".join(letter[c] for c in out)
    vjps = []
    spare = iter(_LETTERS[len(sizes):])
    for i, t in enumerate(terms):
        others = terms[:i] + terms[i + 1:]
        u = "".join(dict.fromkeys(t))  # its distinct labels, in order
        if not set(t) <= set(o).union(*others) or not _einsum_sized(i, labels, operands, out):
            vjps = None
            break
        diag = None
        if len(u) != len(t):  # repeated labels: the cotangent lies on their diagonal
            renamed, deltas, seen = [], [], set()
            for c, n in builtins.zip(t, operands[i].shape):
                if c in seen:
                    c2 = next(spare, None)
                    if c2 is None:
                        vjps = None
                        break
                    deltas.append((c + c2, n))
                    c = c2
                seen.add(c)
                renamed.append(c)
            if vjps is None:
                break
            diag = (",".join([u] + [d for d, _ in deltas]) + "->" + "".join(renamed),
                    tuple(n for _, n in deltas))
        vjps.append((",".join([o] + others) + "->" + u, diag))
    return ",".join(terms) + "->" + o, vjps


def _einsum_sized(i, labels, operands, out) -> bool:
    """Whether the einsum giving operand ``i``'s cotangent has its full size along each
    of its labels (a size-1 label of the operand is summed by the engine afterwards)."""
    for c, n in builtins.zip(labels[i], operands[i].shape):
        if n == 1 or c in out:
            continue
        if not builtins.any(n == x.shape[lab.index(c)] for j, (lab, x) in
                            enumerate(builtins.zip(labels, operands)) if j != i and c in lab):
            return False
    return True


def _einsum_vjp(ns, needs, g, out, *inputs, eq, vjps):
    conj = [_la._conj_ns(ns, x) for x in inputs] if builtins.len(inputs) > 1 else inputs
    res = []
    for i, need in enumerate(needs):
        if not need:
            res.append(None)
            continue
        first, diag = vjps[i]
        h = ns.einsum(first, g, *(conj[:i] + conj[i + 1:]))
        if diag is not None:  # onto the diagonals of the repeated labels
            h = ns.einsum(diag[0], h, *[ns.eye(n, dtype=h.dtype, device=h.device)
                                         for n in diag[1]])
        res.append(h)
    return tuple(res)


def _einsum_jvp(ns, tangents, out, *inputs, eq, vjps):
    r = None
    for i, t in enumerate(tangents):
        if t is not None:
            term = ns.einsum(eq, *(inputs[:i] + (t,) + inputs[i + 1:]))
            r = term if r is None else r + term
    return r


def _einsum_batch(ns, bdims, *values, eq, vjps):
    """vmap: the batch dimension as a leading '...' of every operand and of the result."""
    values = _vb.batched_all(ns, bdims, values)
    lhs, out = eq.split("->")
    return einsum(",".join("..." + t for t in lhs.split(",")) + "->..." + out, *values)


_einsum_prim = Primitive("einsum", lambda B, *xs, eq, vjps: B.einsum(eq, *xs),
                         vjp=_einsum_vjp, jvp=_einsum_jvp, batch=_einsum_batch)


def _einsum_direct(equation, operands):
    """``einsum`` as one backend call (one node) when the plan allows, else None."""
    if not operands:
        return None
    first = operands[0]
    dev, dt = first._device, first._data.dtype
    for x in operands:
        if x.__class__ is not Tensor or x._device is not dev or x._data.dtype is not dt:
            return None
    B = dev._backend
    if not hasattr(B, "einsum"):
        return None
    key = (equation, tuple(x.shape for x in operands))
    try:
        plan = _EINSUM_PLANS[key]
    except KeyError:
        plan = _einsum_plan(equation, operands)
        if len(_EINSUM_PLANS) >= 1024:
            _EINSUM_PLANS.clear()
        _EINSUM_PLANS[key] = plan
    if plan is None:
        return None
    eq, vjps = plan
    if vjps is None and (state.dual_level or state.grad_enabled and builtins.any(
            x._requires_grad for x in operands)):
        return None
    return _apply(_einsum_prim, operands, {"eq": eq, "vjps": vjps})


def einsum(equation, *operands):
    """Einstein summation (``"ij,jk->ik"``, ``"bij,bjk->bik"``, ``"...ij->...ji"``,
    ``"ii->i"``): contractions as batched matrix products, so it is differentiable."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise TypeError(f"einsum: the equation must be a str, got {type(equation).__name__}")
    for x in operands:
        _check_tensor("einsum", x)
    direct = _einsum_direct(equation, operands)
    if direct is not None:
        return direct
    labels, out = _einsum_parse(equation, operands)
    sizes = {}
    for lab, x in builtins.zip(labels, operands):
        for c, n in builtins.zip(lab, x.shape):
            if c in sizes and sizes[c] != n and n != 1 and sizes[c] != 1:
                raise ValueError(f"einsum: label {c!r} has sizes {sizes[c]} and {n} in "
                                 f"{equation!r}")
            if n != 1 or c not in sizes:
                sizes[c] = n
    ops = []
    for lab, x in builtins.zip(labels, operands):
        shape = tuple(sizes[c] for c in lab)
        if tuple(x.shape) != shape:
            x = _mf.broadcast_to(x, shape)
        ops.append(list(_einsum_diagonal(x, lab)))
    if len(ops) > 1 and len({o[0].dtype for o in ops}) > 1:
        dt = _dt.result_type(*[o[0] for o in ops])
        ops = [[_dt.astype(x, dt), lab] for x, lab in ops]
    x, lab = ops[0]
    for i in builtins.range(1, len(ops)):
        rest = set(out).union(*[set(l) for _, l in ops[i + 1:]])
        y, lb = ops[i]
        x, lab = _einsum_sum(x, lab, rest | set(lb))
        y, lb = _einsum_sum(y, lb, rest | set(lab))
        x, lab = _einsum_pair(x, lab, y, lb, rest, sizes)
    x, lab = _einsum_sum(x, lab, set(out))
    if lab != out:
        x = _mf.permute_dims(x, tuple(lab.index(c) for c in out))
    return x


# -- creation ----------------------------------------------------------------------
def as_tensor(data, dtype=None, device=None):
    """``data`` as a tensor, sharing memory when it already is one (or a CPU NumPy array)
    of that dtype and device."""
    if isinstance(data, Tensor):
        if (dtype is None or data.dtype == dtype) and (device is None or data.device == device):
            return data
        return _cr.asarray(data, dtype=dtype, device=device)
    return _cr.asarray(data, dtype=dtype, device=device)


def linspace(start, end, steps, *, out=None, dtype=None, device=None, requires_grad=False):
    """``steps`` evenly spaced values from ``start`` to ``end`` (inclusive)."""
    return _write_out("linspace", _cr.linspace(start, end, _int("linspace", "steps", steps),
                                               dtype=dtype, device=device,
                                               requires_grad=requires_grad), out)


def numel(input) -> int:
    _check_tensor("numel", input)
    return input.numel()


# -- conversions --------------------------------------------------------------------
_TYPE_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half",
               "bfloat16": "BFloat16", "int64": "Long", "int32": "Int", "int16": "Short",
               "int8": "Char", "uint8": "Byte", "bool": "Bool", "complex64": "ComplexFloat",
               "complex128": "ComplexDouble"}
_NAME_TYPES = {v: k for k, v in _TYPE_NAMES.items()}


def _dtype_of_type(func, t):
    """The dtype that ``t`` names: a dtype, ``"torch.FloatTensor"``, ``"torch.float32"``,
    or an object with a ``dtype`` attribute (the face's ``FloatTensor``)."""
    if isinstance(t, str):
        name = t.split(".")[-1]
        if name.endswith("Tensor") and name[:-6] in _NAME_TYPES:
            name = _NAME_TYPES[name[:-6]]
        found = getattr(_dtypes, name, None)
        if found is None:
            raise ValueError(f"{func}: invalid type {t!r}")
        return found
    dt = getattr(t, "dtype", None)
    if dt is not None and not isinstance(t, Tensor):
        return dt
    return _dtypes.as_dtype(t, func=func)


def type_(self, dtype=None, non_blocking=False):
    """``x.type()``: the type name (``'torch.FloatTensor'``); ``x.type(dtype)``: ``x``
    converted to ``dtype`` (a dtype or a type name)."""
    if dtype is None:
        name = _TYPE_NAMES.get(getattr(self.dtype, "name", ""), str(self.dtype))
        where = "" if self.device.type == "cpu" else f"{self.device.type}."
        return f"torch.{where}{name}Tensor"
    dt = _dtype_of_type("Tensor.type", dtype)
    return self if self.dtype == dt else _dt.astype(self, dt)


__all__ = sorted(set(list(_UNARY) + list(_BINARY) + [
    "ValuesIndices", "UniqueResult", "add", "sub", "subtract", "div", "divide", "pow", "rsqrt",
    "sigmoid", "relu", "round", "clamp", "clip", "isclose", "allclose", "equal",
    "sum", "prod", "mean", "std", "var", "max", "min", "amax", "amin", "argmax", "argmin",
    "all", "any", "logsumexp", "cumsum", "cumprod", "sort", "argsort", "topk", "nonzero",
    "argwhere", "where", "unique", "cat", "concat", "concatenate", "stack", "hstack",
    "vstack", "narrow", "split", "chunk", "tensor_split", "unbind", "squeeze", "flip", "roll",
    "movedim", "moveaxis", "swapaxes", "swapdims", "tril", "triu", "masked_fill",
    "index_select", "gather", "scatter", "scatter_add", "scatter_reduce", "multinomial",
    "matmul", "mm", "bmm", "dot", "outer", "einsum", "as_tensor", "linspace", "numel", "Size"]))

"""Element-wise functions (spec chapter "Element-wise Functions"), and the operators.

Every function is one row of a table: its name, the dtype category it accepts, and
its derivative.  For a holomorphic function the row gives ``deriv(ns, x, y)``, the
derivative at input ``x`` with output ``y``; the factory turns it into both
rules: ``vjp = g * conj(d)`` (PyTorch's convention for complex numbers) and
``jvp = t * d``.  Rows with other derivatives give ``vjp``/``jvp`` directly.
Every rule is written against the namespace ``ns`` it receives (arraylib's on
tensors, the storage backend on storage arrays), so one rule serves both.

Python scalars take the tensor's dtype.  A float-only function applied to an
integer or boolean tensor computes in the default float dtype, as PyTorch does.
"""
from __future__ import annotations

import math

from . import _dtypes
from ._core._batching import elementwise_rule
from ._core._cast import cast as _cast
from ._core._primitive import Primitive, apply, apply1, binary_function, linear_jvp, unary_function
from ._core._promotion import binary_operands, check_category, integer_range, is_python_scalar
from ._core._grad_mode import anywhere, state
from ._core._tensor import Tensor, _new
from ._manipulation_functions import broadcast_shapes as _broadcast_shapes

__all__: list = []

# NumPy's dtype objects are singletons (NumPy and CuPy storage, and arraylib's dtypes):
# known by identity on the hot paths.  Other storage (array-api-strict makes a dtype
# object per array) takes the checked path.  Never add ids of transient objects here.
_FLOAT_IDS = frozenset(id(d) for d in _dtypes.floating_dtypes)
_REAL_IDS = frozenset(id(d) for d in _dtypes.real_floating_dtypes)
_COMPLEX_IDS = frozenset(id(d) for d in _dtypes.complex_floating_dtypes)


def _is_complex(ns, x) -> bool:
    """Whether ``x`` (a tensor or storage array of namespace ``ns``) is complex."""
    d = x.dtype
    i = id(d)
    if i in _REAL_IDS:
        return False
    return i in _COMPLEX_IDS or ns.isdtype(d, "complex floating")


def _times_conj(ns, g, d):
    """``g * conj(d)``: PyTorch's convention for the cotangent through a derivative ``d``."""
    dt = d.dtype  # (``_is_complex``, inlined: every backward of the table runs this)
    i = id(dt)
    if i in _REAL_IDS or i not in _COMPLEX_IDS and not ns.isdtype(dt, "complex floating"):
        return g * d
    return g * ns.conj(d)


# -- factories -----------------------------------------------------------------
def _holomorphic_rules(deriv):
    """vjp and jvp from ``deriv(ns, x, y)``."""
    def vjp(ns, needs, g, y, x):
        return (_times_conj(ns, g, deriv(ns, x, y)),)

    def jvp(ns, tangents, y, x):
        return tangents[0] * deriv(ns, x, y)
    return vjp, jvp


def _unary(name, category, native=None, *, deriv=None, vjp=None, jvp=None, fwd=None,
           differentiable=True, saves_inputs=True, saves_output=True):
    """Make and export the unary element-wise function ``name``."""
    if deriv is not None:
        vjp, jvp = _holomorphic_rules(deriv)
    if not differentiable:
        vjp = jvp = None
    prim = Primitive(name, fwd, vjp, jvp, native=None if fwd is not None else native or name,
                     saves_inputs=saves_inputs, saves_output=saves_output)
    prim.batch = elementwise_rule(prim)
    float_only = category in ("floating-point", "real floating-point")
    allowed = frozenset(id(d) for d in _dtypes.CATEGORIES[category])  # see _FLOAT_IDS

    def prepare(x):
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
        if id(x._data.dtype) not in allowed:
            x = check_category(name, category, x, float_only)
        return x

    func = unary_function(prim, allowed, prepare)

    func.__name__ = func.__qualname__ = name
    func.__doc__ = f"Element-wise ``{name}`` of the Array API standard (input: {category} dtype)."
    func.primitive = prim
    globals()[name] = func
    __all__.append(name)
    return func


def _binary(name, category, native=None, *, d1=None, d2=None, vjp=None, jvp=None, fwd=None,
            differentiable=True, saves_inputs=True, saves_output=True, float_result=False):
    """Make and export the binary element-wise function ``name``."""
    if d1 is not None:
        def vjp(ns, needs, g, y, x1, x2):
            # an input that wants no cotangent costs nothing (x ** 2: no log(x))
            return (_times_conj(ns, g, d1(ns, x1, x2, y)) if needs[0] else None,
                    _times_conj(ns, g, d2(ns, x1, x2, y)) if needs[1] else None)

        def jvp(ns, tangents, y, x1, x2):
            t1, t2 = tangents
            r = None if t1 is None else t1 * d1(ns, x1, x2, y)
            if t2 is not None:
                s = t2 * d2(ns, x1, x2, y)
                r = s if r is None else r + s
            return r
    if not differentiable:
        vjp = jvp = None
    native = None if fwd is not None else native or name
    prim = Primitive(name, fwd, vjp, jvp, native=native, saves_inputs=saves_inputs,
                     saves_output=saves_output)
    prim.batch = elementwise_rule(prim)
    allowed = frozenset(id(d) for d in _dtypes.CATEGORIES[category])  # see _FLOAT_IDS
    # a float/int Python scalar next to a floating-point tensor (NumPy/CuPy storage) goes
    # straight to the backend, whose weak-scalar rule (NEP 50) keeps the tensor's dtype
    scalar_ok = allowed & _FLOAT_IDS if native is not None else frozenset()

    def prepare(x1, x2):
        if not (x1.__class__ is Tensor and x2.__class__ is Tensor
                or isinstance(x1, Tensor) and isinstance(x2, Tensor)) \
                or x1._device is not x2._device or x1._data.dtype is not x2._data.dtype:
            x1, x2 = binary_operands(name, x1, x2)
        nd = x1._data.dtype
        if id(nd) not in allowed:
            x1 = check_category(name, category, x1, float_result)
            if x1._data.dtype is not nd:
                x2 = _cast(x2, x1.dtype)
        return x1, x2

    func = binary_function(prim, allowed, prepare, scalar_ok)

    def prepare_operator(x1, x2):
        if not (isinstance(x1, Tensor) or is_python_scalar(x1)) \
                or not (isinstance(x2, Tensor) or is_python_scalar(x2)):
            return None  # a foreign operand: NotImplemented, so Python tries its side
        return prepare(x1, x2)

    # the Python operators (Tensor.__add__...): the same, NotImplemented for foreign operands
    func.operator = binary_function(prim, allowed, prepare_operator, scalar_ok)
    func.__name__ = func.__qualname__ = name
    func.__doc__ = f"Element-wise ``{name}`` of the Array API standard (inputs: {category} dtypes)."
    func.primitive = prim
    globals()[name] = func
    __all__.append(name)
    return func


def _nondiff_unary(name, category, native=None, fwd=None):
    return _unary(name, category, native, fwd=fwd, differentiable=False)


def _nondiff_binary(name, category, native=None, fwd=None):
    return _binary(name, category, native, fwd=fwd, differentiable=False)


def _zero_safe_sign(ns, x, is_complex):
    """x/|x| for complex, sign(x) for real; 0 at 0 (the subgradient PyTorch uses)."""
    if is_complex:
        a = ns.abs(x)
        zero = a == 0
        return ns.where(zero, ns.zeros_like(x), x / ns.where(zero, ns.ones_like(a), a))
    return ns.sign(x)


# -- forwards that fix the backend's deviations from the standard ---------------
# NumPy (and so array-api-strict and array-api-compat) misses a few special cases
# of the standard.  Each is fixed here, once, in the primitive's forward: the
# backend computes as usual and ``B.where`` patches the special inputs.  Real
# inputs of the unary fixes take no extra work.
def _kind(B, a):
    return B.dtype_of(a).kind


def _const(B, value, like):
    """A 0-d array holding ``value`` (keeps signed zeros) with ``like``'s dtype."""
    return B.asarray(value, dtype=B.dtype_of(like))


def _signed_const(B, mask, neg, pos, like):
    """``neg`` where ``mask`` else ``pos`` (two Python complex constants)."""
    return B.where(mask, _const(B, neg, like), _const(B, pos, like))


def _expm1_fwd(B, x):
    r = B.expm1(x)
    if _kind(B, x) != "c":
        return r
    a, b = B.real(x), B.imag(x)
    nan, inf = math.nan, math.inf
    b_zero, b_neg, b_finite = b == 0, B.signbit(b), B.isfinite(b)
    # a = +-0, b = +-0: +0 +- 0j; a = +inf, b = +-0: inf +- 0j; a = NaN, b = +-0: NaN +- 0j
    r = B.where(b_zero & (a == 0), _signed_const(B, b_neg, complex(0.0, -0.0), 0j, x), r)
    r = B.where(b_zero & (a == inf), _signed_const(B, b_neg, complex(inf, -0.0),
                                                   complex(inf, 0.0), x), r)
    r = B.where(b_zero & B.isnan(a), _signed_const(B, b_neg, complex(nan, -0.0),
                                                   complex(nan, 0.0), x), r)
    # a = -inf, b = +-inf or NaN: -1 + 0j; a = +inf, b = +-inf or NaN: inf + NaN j
    r = B.where((a == -inf) & ~b_finite, _const(B, complex(-1.0, 0.0), x), r)
    r = B.where((a == inf) & ~b_finite, _const(B, complex(inf, nan), x), r)
    return r


def _tanh_fwd(B, x):
    r = B.tanh(x)
    if _kind(B, x) != "c":
        return r
    a, b = B.real(x), B.imag(x)
    # a = +-inf, b finite: +-1 + 0j with the sign of b on the zero (tanh(conj z) = conj tanh z)
    odd = B.isinf(a) & B.isfinite(b)
    if _none(B, odd):
        return r
    b_neg = B.signbit(b)
    fixed = B.where(B.signbit(a), _signed_const(B, b_neg, complex(-1.0, -0.0), complex(-1.0, 0.0), x),
                    _signed_const(B, b_neg, complex(1.0, -0.0), complex(1.0, 0.0), x))
    return B.where(odd, fixed, r)


def _sign_fwd(B, x):
    if _kind(B, x) != "c":
        return B.sign(x)
    if B.host:  # x / |x|, 0 + 0j at every signed zero (the namespaces' sign: the same
        a = B.abs(x)  # division, Python around it and a divide-by-zero warning at zeros)
        zero = a == 0
        if _none(B, zero):
            return x / a
        return B.where(zero, _const(B, 0j, x), x / B.where(zero, B.ones_like(a), a))
    r = B.sign(x)
    if _sign_keeps_zeros(B, B.dtype_of(x)):
        return r
    return B.where(x == 0, _const(B, 0j, x), r)  # 0 + 0j for every signed complex zero


_SIGN_ZEROS: dict = {}  # (backend, dtype) -> whether its sign gives 0 + 0j at signed zeros


def _sign_keeps_zeros(B, dtype):
    """Whether ``B.sign`` already maps every signed complex zero of ``dtype`` to 0 + 0j
    (NumPy 2 does): found once per backend and dtype, so the patch costs nothing there."""
    key = (id(B), dtype)
    ok = _SIGN_ZEROS.get(key)
    if ok is None:
        zeros = [complex(re, im) for re in (0.0, -0.0) for im in (0.0, -0.0)]
        z = B.sign(B.asarray(zeros, dtype=dtype))
        re, im = B.real(z), B.imag(z)
        ok = not bool(B.any((re != 0) | (im != 0) | B.signbit(re) | B.signbit(im)))
        _SIGN_ZEROS[key] = ok
    return ok


def _pow_fwd(B, a, b):
    if _kind(B, a) != "f":
        return B.pow(a, b)
    if B.host and b.shape == () and b == 2:
        return a * a  # x ** 2, the common case: exact, and 5x faster than NumPy's power
    r = B.pow(a, b)
    # NumPy computes x ** 0.5 as sqrt(x): wrong for -0 (gives -0) and -inf (gives NaN)
    half = b == 0.5
    if _none(B, half):
        return r
    return B.where(half & ((a == 0) | B.isinf(a)), B.abs(a), r)


def _floor_divide_fwd(B, a, b):
    r = B.floor_divide(a, b)
    if _kind(B, a) != "f":
        return r
    if B.host and math.isfinite(float(B.sum(r + b))):
        return r  # no infinite operand: one would make ``r`` (NaN) or ``b`` non-finite, and
        # so ``r + b`` (an overflow only sends a finite case to the general patch below)
    # NumPy gives NaN for +-inf // finite and -1 for finite // inf of the other sign;
    # the standard rounds the true quotient: floor(+-inf) and floor(+-0)
    fa, fb = B.isfinite(a), B.isfinite(b)
    odd = (B.isinf(a) & fb) | (fa & B.isinf(b))
    if _none(B, odd):
        return r
    return B.where(odd, B.floor(B.divide(a, b)), r)


def _none(B, mask) -> bool:
    """True when host storage ``mask`` has no True element: the special case's ``where``
    can be skipped (NumPy's where is slow).  Device storage always patches: no sync."""
    return B.host and not B.count_nonzero(mask)  # (NumPy's C count: half ``any``'s cost)


# -- the table -----------------------------------------------------------------
_LN2, _LN10 = math.log(2.0), math.log(10.0)

# holomorphic unary functions: d(x, y)
_unary("exp", "floating-point", deriv=lambda ns, x, y: y, saves_inputs=False)
_unary("expm1", "floating-point", deriv=lambda ns, x, y: y + 1, fwd=_expm1_fwd,
       saves_inputs=False)
_unary("log", "floating-point", deriv=lambda ns, x, y: ns.reciprocal(x), saves_output=False)
_unary("log1p", "floating-point", deriv=lambda ns, x, y: ns.reciprocal(x + 1), saves_output=False)
_unary("log2", "floating-point", deriv=lambda ns, x, y: ns.reciprocal(x * _LN2), saves_output=False)
_unary("log10", "floating-point", deriv=lambda ns, x, y: ns.reciprocal(x * _LN10),
       saves_output=False)
_unary("sqrt", "floating-point", deriv=lambda ns, x, y: ns.reciprocal(y * 2), saves_inputs=False)
_unary("sin", "floating-point", deriv=lambda ns, x, y: ns.cos(x), saves_output=False)
_unary("cos", "floating-point", deriv=lambda ns, x, y: -ns.sin(x), saves_output=False)
_unary("tan", "floating-point", deriv=lambda ns, x, y: 1 + y * y, saves_inputs=False)
_unary("sinh", "floating-point", deriv=lambda ns, x, y: ns.cosh(x), saves_output=False)
_unary("cosh", "floating-point", deriv=lambda ns, x, y: ns.sinh(x), saves_output=False)
_unary("tanh", "floating-point", deriv=lambda ns, x, y: 1 - y * y, fwd=_tanh_fwd,
       saves_inputs=False)
_unary("asin", "floating-point", "asin", deriv=lambda ns, x, y: ns.reciprocal(ns.sqrt(1 - x * x)),
       saves_output=False)
_unary("acos", "floating-point", "acos", deriv=lambda ns, x, y: -ns.reciprocal(ns.sqrt(1 - x * x)),
       saves_output=False)
_unary("atan", "floating-point", "atan", deriv=lambda ns, x, y: ns.reciprocal(1 + x * x),
       saves_output=False)
_unary("asinh", "floating-point", "asinh", deriv=lambda ns, x, y: ns.reciprocal(ns.sqrt(x * x + 1)),
       saves_output=False)
_unary("acosh", "floating-point", "acosh",
       deriv=lambda ns, x, y: ns.reciprocal(ns.sqrt(x - 1) * ns.sqrt(x + 1)), saves_output=False)
_unary("atanh", "floating-point", "atanh", deriv=lambda ns, x, y: ns.reciprocal(1 - x * x),
       saves_output=False)
_unary("square", "numeric", deriv=lambda ns, x, y: x * 2, saves_output=False)
_unary("reciprocal", "floating-point", deriv=lambda ns, x, y: -(y * y), saves_inputs=False)

# linear and non-holomorphic unary functions
_unary("negative", "numeric", vjp=lambda ns, needs, g, y, x: (-g,),
       jvp=linear_jvp(lambda ns, t: -t), saves_inputs=False, saves_output=False)
_unary("positive", "numeric", vjp=lambda ns, needs, g, y, x: (g,),
       jvp=linear_jvp(lambda ns, t: t), saves_inputs=False, saves_output=False)
_unary("conj", "numeric", vjp=lambda ns, needs, g, y, x: (ns.conj(g),),
       jvp=linear_jvp(lambda ns, t: ns.conj(t)), saves_inputs=False, saves_output=False)
_unary("real", "numeric", vjp=lambda ns, needs, g, y, x: (g,),
       jvp=linear_jvp(lambda ns, t: ns.real(t)), saves_inputs=False, saves_output=False)


def _imag_vjp(ns, needs, g, y, x):
    # d imag(x) = imag(dx): the cotangent is g * 1j (made complex first: strict storage
    # refuses a complex scalar next to a real array); a real x has imag(x) = 0
    if _is_complex(ns, x):
        return (ns.astype(g, x.dtype) * 1j,)
    return (ns.zeros_like(x),)


_unary("imag", "numeric",
       fwd=lambda B, x: B.imag(x) if _is_complex(B, x) else B.zeros_like(x),
       vjp=_imag_vjp, jvp=linear_jvp(lambda ns, t: ns.imag(t)), saves_output=False)


def _abs_jvp(ns, tangents, y, x):
    if _is_complex(ns, x):
        return ns.real(ns.conj(_zero_safe_sign(ns, x, True)) * tangents[0])
    return tangents[0] * ns.sign(x)


_unary("abs", "numeric",
       vjp=lambda ns, needs, g, y, x: (g * _zero_safe_sign(ns, x, _is_complex(ns, x)),),
       jvp=_abs_jvp, saves_output=False)

# piecewise-constant: differentiable with a zero derivative (PyTorch's convention: the
# result requires grad and backward gives zeros, not an error)
def _zero_vjp(ns, needs, g, y, x):
    return (ns.zeros_like(g),)


def _zero_jvp(ns, tangents, y, x):
    return ns.zeros_like(tangents[0])


for _name in ("floor", "ceil", "trunc"):
    _unary(_name, "real numeric", vjp=_zero_vjp, jvp=_zero_jvp, saves_inputs=False,
           saves_output=False)
_unary("round", "numeric", vjp=_zero_vjp, jvp=_zero_jvp, saves_inputs=False, saves_output=False)


def _sgn_parts(ns, x, y):
    """``|x|`` with zeros replaced by one, and the mask of the zeros (complex ``sign``)."""
    a = ns.abs(x)
    zero = a == 0
    return ns.where(zero, ns.ones_like(a), a), zero


def _sign_vjp(ns, needs, g, y, x):
    # real: zero (piecewise constant); complex sign(z) = z/|z| (PyTorch's sgn):
    # (g - Re(conj(y) g) y) / |z|, zero at z = 0
    if not _is_complex(ns, x):
        return (ns.zeros_like(g),)
    a, zero = _sgn_parts(ns, x, y)
    r = (g - ns.real(ns.conj(y) * g) * y) / a
    return (ns.where(zero, ns.zeros_like(r), r),)


def _sign_jvp(ns, tangents, y, x):
    t = tangents[0]
    if not _is_complex(ns, x):
        return ns.zeros_like(t)
    a, zero = _sgn_parts(ns, x, y)
    r = (t - ns.real(ns.conj(y) * t) * y) / a
    return ns.where(zero, ns.zeros_like(r), r)


_unary("sign", "numeric", fwd=_sign_fwd, vjp=_sign_vjp, jvp=_sign_jvp)

# boolean-valued: not differentiable
_nondiff_unary("signbit", "real floating-point")
for _name in ("isfinite", "isinf", "isnan"):
    _nondiff_unary(_name, "numeric")
_nondiff_unary("logical_not", "bool")
_nondiff_unary("bitwise_invert", "integer or boolean")


# holomorphic binary functions: d1(x1, x2, y), d2(x1, x2, y)
def _pow_d1(ns, x1, x2, y):
    # x ** 0 has derivative 0 everywhere, also at x = 0 (0 * 0 ** -1 would be NaN)
    zero = x2 == 0
    if _host_none(ns, zero):
        return x2 * ns.pow(x1, x2 - 1)
    d = x2 * ns.pow(ns.where(zero, ns.ones_like(x1), x1), x2 - 1)
    return ns.where(zero, ns.zeros_like(d), d)


def _host_none(ns, mask) -> bool:
    """``_none`` for a rule's namespace: True only on host storage without a True element
    (arraylib's namespace, in a graph of the derivative, always patches)."""
    return getattr(ns, "host", False) and not ns.any(mask)


def _atan2_recip(ns, a, b):
    """``1 / (a^2 + b^2)``, 0 where both are 0 (PyTorch's atan2 gradient at the origin)."""
    den = a * a + b * b
    zero = den == 0
    if _host_none(ns, zero):
        return ns.reciprocal(den)
    return ns.where(zero, ns.zeros_like(den), ns.reciprocal(ns.where(zero, ns.ones_like(den), den)))


def _pow_d2(ns, x1, x2, y):
    zero = x1 == 0
    safe = ns.where(zero, ns.ones_like(x1), x1)
    return ns.where(zero & (ns.real(x2) >= 0), ns.zeros_like(y), y * ns.log(safe))


_binary("add", "numeric", vjp=lambda ns, needs, g, y, a, b: (g, g),
        jvp=lambda ns, tangents, y, a, b: _add_tangents(tangents),
        saves_inputs=False, saves_output=False)
_binary("subtract", "numeric",
        vjp=lambda ns, needs, g, y, a, b: (g, -g if needs[1] else None),
        jvp=lambda ns, tangents, y, a, b: _add_tangents(
            (tangents[0], None if tangents[1] is None else -tangents[1])),
        saves_inputs=False, saves_output=False)
_binary("multiply", "numeric", d1=lambda ns, a, b, y: b, d2=lambda ns, a, b, y: a,
        saves_output=False)
_binary("divide", "floating-point", d1=lambda ns, a, b, y: ns.reciprocal(b),
        d2=lambda ns, a, b, y: -y / b, float_result=True)
_pow_general = _binary("pow", "numeric", d1=_pow_d1, d2=_pow_d2, fwd=_pow_fwd)


def _with_square(run):
    """``run`` with ``x ** 2`` of a floating-point tensor that records nothing done as one
    multiply on the storage (exact; the general path makes a tensor of the 2 first)."""
    def pow_(x1, x2, /):
        if x2.__class__ is int and x2 == 2 and x1.__class__ is Tensor and \
                id(x1._data.dtype) in _FLOAT_IDS and not x1._requires_grad and \
                not (anywhere.dual and state.dual_level):
            a = x1._data
            return _new(a * a, x1._device)
        return run(x1, x2)
    pow_.__name__ = pow_.__qualname__ = run.__name__
    pow_.__doc__ = run.__doc__
    return pow_


pow = _with_square(_pow_general)  # noqa: A001
pow.operator = _with_square(_pow_general.operator)
pow.primitive = _pow_general.primitive
_binary("atan2", "real floating-point", d1=lambda ns, a, b, y: b * _atan2_recip(ns, a, b),
        d2=lambda ns, a, b, y: -a * _atan2_recip(ns, a, b), saves_output=False, float_result=True)
_binary("hypot", "real floating-point", d1=lambda ns, a, b, y: a / y, d2=lambda ns, a, b, y: b / y,
        float_result=True)
_binary("logaddexp", "real floating-point", d1=lambda ns, a, b, y: ns.exp(a - y),
        d2=lambda ns, a, b, y: ns.exp(b - y), float_result=True)


def _pick(ns, a, b, first):
    """d max(a, b) / da (``first``) with ties split evenly: 1, 0.5 or 0 (a's dtype)."""
    wins = (a > b) if first else (a < b)
    return ns.where(a == b, ns.full_like(a, 0.5), ns.where(wins, ns.ones_like(a), ns.zeros_like(a)))


_binary("maximum", "real numeric", d1=lambda ns, a, b, y: _pick(ns, a, b, True),
        d2=lambda ns, a, b, y: _pick(ns, b, a, True), saves_output=False)
_binary("minimum", "real numeric", d1=lambda ns, a, b, y: _pick(ns, a, b, False),
        d2=lambda ns, a, b, y: _pick(ns, b, a, False), saves_output=False)
_binary("copysign", "real floating-point",
        d1=lambda ns, a, b, y: ns.where(ns.signbit(a) == ns.signbit(b), ns.ones_like(a),
                                        -ns.ones_like(a)),
        d2=lambda ns, a, b, y: ns.zeros_like(b), saves_output=False)
_binary("remainder", "real numeric", d1=lambda ns, a, b, y: ns.ones_like(a),
        d2=lambda ns, a, b, y: -ns.floor_divide(a, b), saves_output=False)

for _name in ("equal", "not_equal"):
    _nondiff_binary(_name, "any")
for _name in ("less", "less_equal", "greater", "greater_equal"):
    _nondiff_binary(_name, "real numeric")
for _name in ("logical_and", "logical_or", "logical_xor"):
    _nondiff_binary(_name, "bool")
for _name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
    _nondiff_binary(_name, "integer or boolean")
for _name in ("bitwise_left_shift", "bitwise_right_shift"):
    _nondiff_binary(_name, "integer")
_nondiff_binary("floor_divide", "real numeric", fwd=_floor_divide_fwd)
_nondiff_binary("nextafter", "real floating-point")


def _add_tangents(t):
    a, b = t
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _clip_bounds(bounds, lo, hi, lo_t, hi_t):
    """The two bounds of a clip node: its tensor inputs where ``*_t``, else the scalars."""
    k = 0
    if lo_t:
        lo, k = bounds[0], 1
    if hi_t:
        hi = bounds[k]
    return lo, hi


def _clip_fwd(B, x, *bounds, lo, hi, lo_t, hi_t):
    lo, hi = _clip_bounds(bounds, lo, hi, lo_t, hi_t)
    r = x
    host = B.host  # NumPy's weak Python scalars keep x's dtype (NEP 50)
    if lo is not None:
        r = B.maximum(r, lo if lo_t or host else _const(B, lo, x))
    if hi is not None:
        r = B.minimum(r, hi if hi_t or host else _const(B, hi, x))
    return r


def _clip_masks(ns, x, bounds, lo, hi, lo_t, hi_t):
    """Where the cotangent goes, as PyTorch's clamp: to ``x`` where lo <= x <= hi
    (bounds included), to ``lo`` where x < lo < hi, to ``hi`` where x > hi or hi < lo."""
    lo, hi = _clip_bounds(bounds, lo, hi, lo_t, hi_t)
    if hi is None:
        return x >= lo, (x < lo) if lo_t else None, None
    if lo is None:
        return x <= hi, None, (x > hi) if hi_t else None
    mx = (x >= lo) & (x <= hi)
    if not (lo_t or hi_t):
        return mx, None, None
    inverted = hi < lo  # a Python bool only when both bounds are scalars (handled above)
    m_lo = ((x < lo) & (lo < hi)) if lo_t else None
    m_hi = ((x > hi) | inverted) if hi_t else None
    return mx, m_lo, m_hi


def _clip_vjp(ns, needs, g, out, x, *bounds, lo, hi, lo_t, hi_t):
    masks = _clip_masks(ns, x, bounds, lo, hi, lo_t, hi_t)
    zero = ns.zeros_like(g)
    res = [ns.where(masks[0], g, zero) if needs[0] else None]
    k = 1
    for has, m in ((lo_t, masks[1]), (hi_t, masks[2])):
        if has:
            res.append(ns.where(m, g, zero) if needs[k] else None)
            k += 1
    return tuple(res)


def _clip_jvp(ns, tangents, out, x, *bounds, lo, hi, lo_t, hi_t):
    masks = [m for m in _clip_masks(ns, x, bounds, lo, hi, lo_t, hi_t) if m is not None]
    r = None
    for t, m in zip(tangents, masks):
        if t is not None:
            s = ns.where(m, t, ns.zeros_like(t))
            r = s if r is None else r + s
    return r


_clip_prim = Primitive("clip", _clip_fwd, _clip_vjp, _clip_jvp, saves_output=False)
_clip_prim.batch = elementwise_rule(_clip_prim)


def _clip_fast(x, lo, hi):
    """``clip`` of a real floating-point plain tensor by two Python numbers, or by two
    plain tensors of its dtype, device and shape; None for any other bounds."""
    tl, th = lo.__class__, hi.__class__
    if (tl is float or tl is int) and (th is float or th is int):
        return apply1(_clip_prim, x, {"lo": lo, "hi": hi, "lo_t": False, "hi_t": False})
    if tl is Tensor and th is Tensor:
        d, dt, shape = x._device, x._data.dtype, x._data.shape
        if lo._device is d and hi._device is d and lo._data.dtype is dt and \
                hi._data.dtype is dt and lo._data.shape == shape and hi._data.shape == shape:
            return apply(_clip_prim, (x, lo, hi), _TENSOR_BOUNDS)
    return None


_TENSOR_BOUNDS = {"lo": None, "hi": None, "lo_t": True, "hi_t": True}  # (never mutated)


def clip(x, /, min=None, max=None):
    """Clamp each element to ``[min, max]`` (bounds: scalars or tensors; None: no bound).

    Bounds take ``x``'s dtype (they do not take part in type promotion); the result
    has the broadcast shape of ``x`` and the tensor bounds.  Gradients follow PyTorch's
    ``clamp``: ``x`` gets the cotangent where ``min <= x <= max`` (bounds included)."""
    if x.__class__ is Tensor and x.dtype in _dtypes.real_floating_set:
        fast = _clip_fast(x, min, max)  # (the common operands: no further checks)
        if fast is not None:
            return fast
    if not isinstance(x, Tensor):
        raise TypeError(f"clip: expected a Tensor, got {type(x).__name__}")
    if x.dtype not in _dtypes.real_numeric_dtypes:
        raise TypeError(f"clip: expected a real numeric dtype, got {x.dtype}")
    if min is None and max is None:
        return positive(x)
    inputs = [x]
    checked = []
    integer = x.dtype.kind in "iu"
    for bound in (min, max):
        if bound is None:
            checked.append(None)
            continue
        if isinstance(bound, Tensor):
            if bound._device is not x._device:
                raise ValueError(f"clip: x is on device '{x._device}' but a bound is on "
                                 f"'{bound._device}'")
            if bound.dtype != x.dtype:
                bound = _cast(bound, x.dtype)
            inputs.append(bound)
            checked.append(bound)
            continue
        t = type(bound)
        if t is not float and t is not int:
            if getattr(bound, "shape", None) == () and hasattr(bound, "item"):
                bound = bound.item()  # a NumPy scalar or 0-d array
            if isinstance(bound, bool) or not isinstance(bound, (int, float)):
                raise TypeError(f"clip: a bound must be a Tensor, a Python int or float, or "
                                f"None, got {type(bound).__name__}")
        if integer:
            if isinstance(bound, float):
                raise TypeError(f"clip: float bound {bound} for an integer tensor of dtype "
                                f"{x.dtype}")
            lo, hi = integer_range(x.dtype)  # a bound beyond the dtype's range clamps to it
            bound = lo if bound < lo else hi if bound > hi else bound
        checked.append(bound)
    if len(inputs) > 1:
        try:
            _broadcast_shapes(*[t.shape for t in inputs])
        except ValueError:
            raise ValueError(f"clip: shapes {', '.join(str(t.shape) for t in inputs)} of x and "
                             "its bounds are not broadcastable; operands could not be broadcast "
                             "together") from None
    lo, hi = checked
    lo_t, hi_t = isinstance(lo, Tensor), isinstance(hi, Tensor)
    params = {"lo": None if lo_t else lo, "hi": None if hi_t else hi, "lo_t": lo_t, "hi_t": hi_t}
    if len(inputs) == 1:
        return apply1(_clip_prim, x, params)
    return apply(_clip_prim, tuple(inputs), params)


__all__.append("clip")

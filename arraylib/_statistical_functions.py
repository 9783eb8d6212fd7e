"""Statistical functions (spec chapter "Statistical Functions").

Reductions are primitives (sum, prod, max, min, cumulative_sum, cumulative_prod);
mean, var and std are composites and get their derivatives from them.  Derivative
rules are written against the namespace ``ns`` they receive (arraylib's on tensors,
the storage backend's in a plain backward).
"""
from __future__ import annotations

import builtins
import operator

from ._core import _batching as _vb
from . import _dtypes
from ._core import _autocast
from ._core._grad_mode import anywhere, state
from ._core._primitive import Primitive, apply1, linear_jvp
from ._core._tensor import Tensor, _new
from ._creation_functions import full
from ._manipulation_functions import concat
from ._validation import AxisError  # noqa: F401 (re-exported)
from ._validation import check_tensor as _check_tensor
from ._validation import normalize_axes as _normalize_axes

__all__ = ["sum", "prod", "mean", "var", "std", "max", "min", "cumulative_sum",
           "cumulative_prod"]


# -- helpers ---------------------------------------------------------------------
def normalize_axes(func: str, axis, ndim: int) -> tuple:
    """``axis`` (None, int or sequence of ints, negatives allowed) as a sorted tuple."""
    return tuple(sorted(_normalize_axes(func, axis, ndim)))


def _keepdims_shape(shape, axes):
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _expand_back(ns, g, in_shape, axes, keepdims):
    """Broadcast a reduction's cotangent ``g`` back to the input shape."""
    if not keepdims and axes:
        g = ns.reshape(g, _keepdims_shape(in_shape, axes))
    return ns.broadcast_to(g, tuple(in_shape))


def _mask(ns, cond, dtype):
    """A boolean array as 0/1 of ``dtype`` (a constant: no gradient flows through it)."""
    return ns.astype(cond, dtype)


def _conj(ns, x):
    return ns.conj(x) if ns.isdtype(x.dtype, "complex floating") else x


def _sum_dtype(func, x_dtype, dtype):
    """The result dtype of sum/prod/cumulative_*: ints upcast to the default."""
    if dtype is not None:
        dtype = _dtypes.as_dtype(dtype, func=func)
        if x_dtype.kind == "c" and dtype.kind != "c":
            raise TypeError(f"{func}: can't accumulate complex dtype {x_dtype} in {dtype}")
        return dtype
    k = x_dtype.kind
    if k == "b" or k == "i":
        return _dtypes.default_int
    if k == "u":
        return _dtypes.uint64
    return x_dtype


def _reduced_size(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    return n


# A reduction's checked parameters depend only on the operand's shape, storage dtype and
# device and on (axis, keepdims): they are computed once per such key and shared by the
# calls and nodes that use them (never mutated).  Only keys that cannot alias a call the
# checks would refuse are memoized: axis None, an int or a tuple of ints, keepdims a bool,
# dtype None.  ``_memo_key`` makes such a key (linalg's norms use it); the reductions here
# memoize in ``_LEAN`` (below).
_MEMO_LIMIT = 4096


_PLAIN_SHAPE = Tensor.shape
_BATCHED = _vb.BatchedTensor  # (vmap's tensors: their storage is a logical stand-in)


def _memo_key(func, x, axis, keepdims):
    """The memo key of ``func(x, axis=axis, keepdims=keepdims)``, or None (not memoized).
    ``x`` is a Tensor, or a subclass whose shape is its storage's (a Parameter, not vmap's
    batched tensors)."""
    c = x.__class__
    if (c is Tensor or getattr(c, "shape", None) is _PLAIN_SHAPE) and \
            (axis is None or axis.__class__ is int or axis.__class__ is tuple and
             _int_tuple(axis)) and (keepdims is False or keepdims is True):
        d = x._data
        return func, d.shape, d.dtype, id(x._device), axis, keepdims  # (devices are interned)
    return None


def _int_tuple(axis) -> bool:
    """Whether a tuple axis holds ints only (no bools or floats: they hash alike)."""
    for a in axis:
        if a.__class__ is not int:
            return False
    return True


# -- the lean path: a reduction with nothing to record ---------------------------------
# For a plain tensor (or a Parameter) with ``axis`` None, an int or a tuple of ints and
# ``keepdims`` a bool (keys that cannot alias a call the checks would refuse),
# ``_LEAN`` maps (function, storage shape, storage dtype id, device id, axis, keepdims,
# *extra) to ``(params, run)``: the checked parameters (for the recorded path, ``apply1``)
# and ``run(storage) -> storage``, the forward with every parameter bound and its result
# made an array (the backend's ``ensure_array``).  With nothing to record (no grad wanted
# here, no forward-mode level) the call is one memo look-up, ``run`` and a new tensor:
# no ``apply1``, no keyword unpacking, no checks.
_LEAN: dict = {}


def _lean_key(name, x, axis, keepdims):
    """The ``_LEAN`` key of ``name(x, axis=axis, keepdims=keepdims)``, or None.  Storage
    dtypes are known by identity only where they are long-lived objects (NumPy's, CuPy's:
    array-api-strict makes one per array, whose id a later object may reuse)."""
    c = x.__class__
    if (c is Tensor or c is not _BATCHED and getattr(c, "shape", None) is _PLAIN_SHAPE) and \
            (axis is None or axis.__class__ is int or axis.__class__ is tuple and
             _int_tuple(axis)) and (keepdims is False or keepdims is True):
        d = x._data
        i = id(d.dtype)
        if i in _NATIVE_IDS:
            return (name, d.shape, i, id(x._device), axis, keepdims)
    return None


_NATIVE_IDS = _dtypes._native_to_dtype  # ids of long-lived storage dtype objects


def _lean_entry(key, x, params, make_run=None):
    """Memoize ``(params, run)`` under ``key``: ``make_run(B, storage, params)`` gives
    a specialized ``run`` or None; the default runs the primitive's forward (registered
    in ``_LEAN_FORWARDS``; without one, ``(params, None)``, not memoized)."""
    B = x._device._backend
    run = make_run(B, x._data, params) if make_run is not None else None
    if run is None:
        fwd = _LEAN_FORWARDS.get(key[0])
        if fwd is None:
            return params, None  # (no lean run: not memoized)
        run = _bound_forward(B, fwd, params)
    entry = (params, run)
    if len(_LEAN) >= _MEMO_LIMIT:
        _LEAN.clear()
    _LEAN[key] = entry
    return entry


_LEAN_FORWARDS: dict = {}  # function name -> its primitive's forward (see _bound_forward)


def _bound_forward(B, fwd, params):
    """``fwd(B, d, **params)`` as a function of the storage ``d``, its result an array."""
    array_type, ensure = B.array_type, B.ensure_array

    def run(d):
        r = fwd(B, d, **params)
        return r if r.__class__ is array_type else ensure(r)
    return run


def _bound_call(B, f, **kwargs):
    """``f(d, **kwargs)`` (a backend function) as a function of ``d``, its result an
    array: the keywords bound once, no dictionary per call."""
    array_type, ensure = B.array_type, B.ensure_array
    names = tuple(kwargs)
    if names == ("axis", "dtype", "keepdims"):
        axis, dtype, keepdims = kwargs["axis"], kwargs["dtype"], kwargs["keepdims"]

        def run(d):
            r = f(d, axis=axis, dtype=dtype, keepdims=keepdims)
            return r if r.__class__ is array_type else ensure(r)
        return run
    if names == ("axis", "dtype"):
        axis, dtype = kwargs["axis"], kwargs["dtype"]

        def run(d):
            r = f(d, axis=axis, dtype=dtype)
            return r if r.__class__ is array_type else ensure(r)
        return run
    if names == ("axis", "keepdims"):
        axis, keepdims = kwargs["axis"], kwargs["keepdims"]

        def run(d):
            r = f(d, axis=axis, keepdims=keepdims)
            return r if r.__class__ is array_type else ensure(r)
        return run

    def run(d):
        r = f(d, **kwargs)
        return r if r.__class__ is array_type else ensure(r)
    return run


def _records(x) -> bool:
    """Whether ``apply1`` would record a node or push tangents for operand ``x``."""
    return x._requires_grad and (not anywhere.no_grad or state.grad_enabled) or \
        anywhere.dual and state.dual_level


def _lean_result(x, r):
    """A new tensor of storage ``r`` on ``x``'s device."""
    return _new(r, x._device)


# -- sum -------------------------------------------------------------------------
def _sum_fwd(B, x, *, axis, dtype, keepdims, in_shape):
    if x.dtype is dtype:  # (a storage dtype that is arraylib's: nothing to convert)
        return B.sum(x, axis=axis, dtype=dtype, keepdims=keepdims)
    nd = B.native_dtype(dtype)
    if B.dtype_of(x).kind != dtype.kind:  # e.g. booleans, which some namespaces refuse
        x = B.astype(x, nd)
    return B.sum(x, axis=axis, dtype=nd, keepdims=keepdims)


_sum_prim = Primitive(
    "sum", _sum_fwd,
    vjp=lambda ns, needs, g, out, x, *, axis, dtype, keepdims, in_shape: (
        _expand_back(ns, g, in_shape, axis, keepdims),),
    jvp=linear_jvp(lambda ns, t, *, axis, dtype, keepdims, in_shape: ns.sum(
        t, axis=axis, keepdims=keepdims)),
    saves_inputs=False, saves_output=False)
_sum_prim.batch = _vb.axis_rule(_sum_prim, shapes=("in_shape",))


def _sum_params(func, x, axis, dtype, keepdims):
    _check_tensor(func, x)
    shape = x.shape
    axes = normalize_axes(func, axis, len(shape))
    dt = _sum_dtype(func, x.dtype, dtype)
    if dt not in x._device.backend.supported_dtypes():
        raise TypeError(f"{func}: dtype {dt} is not supported on device '{x._device}'")
    return {"axis": axes, "dtype": dt, "keepdims": builtins.bool(keepdims), "in_shape": shape}


def _accumulate_run(name):
    """The lean ``run`` of sum/prod (``make_run`` of ``_lean_entry``): the backend's
    reduction with the forward's dtype, where the operand needs no conversion first."""
    def make_run(B, d, params):
        dt = params["dtype"]
        if d.dtype is not dt:
            if B.dtype_of(d).kind != dt.kind:
                return None  # (the forward converts first: the general run)
            dt = B.native_dtype(dt)
        return _bound_call(B, getattr(B, name), axis=params["axis"], dtype=dt,
                           keepdims=params["keepdims"])
    return make_run


_sum_run = _accumulate_run("sum")
_LEAN_FORWARDS["sum"] = _sum_fwd


def _lean_reduction(name, prim, checked, make_run):
    """The public function ``name(x, /, *, axis=None, dtype=None, keepdims=False)`` of a
    reduction primitive: ``checked(x, axis, dtype, keepdims)`` makes its parameters (or
    raises); a call memoized in ``_LEAN`` with nothing to record runs in this frame."""
    def func(x, /, *, axis=None, dtype=None, keepdims=False) -> Tensor:
        c = x.__class__
        if dtype is None and (c is Tensor or c is not _BATCHED and
                              getattr(c, "shape", None) is _PLAIN_SHAPE) \
                and (axis is None or axis.__class__ is int) and \
                (keepdims is False or keepdims is True):  # (_lean_key, inlined)
            d = x._data
            entry = _LEAN.get((name, d.shape, id(d.dtype), id(x._device), axis, keepdims))
            if entry is not None:
                if x._requires_grad and (not anywhere.no_grad or state.grad_enabled) or \
                        anywhere.dual and state.dual_level:  # (_records(x), inlined)
                    return apply1(prim, x, entry[0])
                return _new(entry[1](d), x._device)
        return _reduce(name, prim, checked, make_run, x, axis, dtype, keepdims)
    func.__name__ = func.__qualname__ = name
    return func


_BATCHED_PARAMS: dict = {}  # (function, logical shape, dtype id, device id, axis, keepdims)


def _batched_params(name, checked, x, axis, keepdims):
    """The checked parameters of ``name(x, axis=axis, keepdims=keepdims)`` for a vmap-batched
    ``x`` (checked on its logical shape), memoized; never a storage run (its storage is a
    logical stand-in)."""
    d = x._data
    key = (name, d.shape, id(d.dtype), id(x._device), axis, keepdims) \
        if id(d.dtype) in _NATIVE_IDS and (axis is None or axis.__class__ is int) and \
        (keepdims is False or keepdims is True) else None
    params = _BATCHED_PARAMS.get(key)
    if params is None:
        params = checked(x, axis, None, keepdims)
        if key is not None:
            if len(_BATCHED_PARAMS) >= _MEMO_LIMIT:
                _BATCHED_PARAMS.clear()
            _BATCHED_PARAMS[key] = params
    return params


def _reduce(name, prim, checked, make_run, x, axis, dtype, keepdims):
    """The checked call of a ``_lean_reduction`` (memoizing its entry where it may)."""
    if x.__class__ is _BATCHED and dtype is None:
        return apply1(prim, x, _batched_params(name, checked, x, axis, keepdims))
    key = _lean_key(name, x, axis, keepdims) if dtype is None else None
    entry = _LEAN.get(key)
    if entry is None:
        params = checked(x, axis, dtype, keepdims)
        if key is None:
            return apply1(prim, x, params)
        entry = _lean_entry(key, x, params, make_run)
    if _records(x):
        return apply1(prim, x, entry[0])
    return _lean_result(x, entry[1](x._data))


sum = _lean_reduction(  # noqa: A001
    "sum", _sum_prim, lambda x, axis, dtype, keepdims: _sum_params(
        "sum", x, axis, dtype, keepdims), _sum_run)
sum.__doc__ = """Sum of the elements over ``axis`` (all by default).  Integer and boolean
inputs accumulate in int64 (uint64 for unsigned); floats keep their dtype unless ``dtype``."""


# -- prod ------------------------------------------------------------------------
def _prod_fwd(B, x, *, axis, dtype, keepdims):
    nd = B.native_dtype(dtype)
    if B.dtype_of(x).kind != dtype.kind:
        x = B.astype(x, nd)
    return B.prod(x, axis=axis, dtype=nd, keepdims=keepdims)


_PAIRWISE_LIMIT = 1024  # reduced lengths up to this use the O(n^2) form when x has zeros


def _prod_others(ns, x, axes):
    """Product of the other elements of each reduced slice, for the VJP/JVP of ``prod``.

    Without zeros it is ``prod / x``, exact at every order.  With zeros and short
    reduced slices it is the product of each slice with its own element replaced by
    one (an n x n product), exact at every order too.  Long slices with zeros use
    masks: exact first derivatives (one zero: its slot gets the product of the rest;
    several: all zero), but higher derivatives there treat the masks as constants.
    """
    zero = x == 0
    if not builtins.bool(ns.any(zero)):
        return ns.prod(x, axis=axes, keepdims=True) / x
    n = _reduced_size(x.shape, axes)
    if n <= _PAIRWISE_LIMIT:
        return _prod_others_pairwise(ns, x, axes, n)
    is_zero = _mask(ns, zero, x.dtype)
    n_zero = ns.sum(is_zero, axis=axes, keepdims=True)
    x_safe = x + is_zero  # zeros replaced by ones
    p = ns.prod(x_safe, axis=axes, keepdims=True)
    no_zero = _mask(ns, n_zero == 0, x.dtype)
    one_zero = _mask(ns, n_zero == 1, x.dtype)
    return no_zero * (p / x_safe) + one_zero * is_zero * p


def _prod_others_pairwise(ns, x, axes, n):
    """``others[..., i] = prod_j (x_j if j != i else 1)`` over the reduced axes."""
    ndim = x.ndim
    kept = tuple(a for a in range(ndim) if a not in axes)
    order = kept + tuple(axes)
    xt = ns.permute_dims(x, order)
    flat = ns.expand_dims(ns.reshape(xt, tuple(x.shape[a] for a in kept) + (n,)), axis=-2)
    diag = ns.eye(n, dtype=ns.bool, device=x.device)
    others = ns.prod(ns.where(diag, ns.ones_like(flat), flat), axis=-1)
    others = ns.reshape(others, tuple(xt.shape))
    inverse = tuple(order.index(a) for a in range(ndim))
    return ns.permute_dims(others, inverse)


def _prod_vjp(ns, needs, g, out, x, *, axis, dtype, keepdims):
    g = _expand_back(ns, g, x.shape, axis, keepdims)
    return (g * _conj(ns, _prod_others(ns, x, axis)),)


def _prod_jvp(ns, tangents, out, x, *, axis, dtype, keepdims):
    return ns.sum(tangents[0] * _prod_others(ns, x, axis), axis=axis, keepdims=keepdims)


_prod_prim = Primitive("prod", _prod_fwd, _prod_vjp, _prod_jvp, saves_output=False)
_prod_prim.batch = _vb.axis_rule(_prod_prim)


def _prod_params(x, axis, dtype, keepdims):  # (prod's ``checked``)
    _check_tensor("prod", x)
    axes = normalize_axes("prod", axis, x.ndim)
    dt = _sum_dtype("prod", x.dtype, dtype)
    if dt not in x._device.backend.supported_dtypes():
        raise TypeError(f"prod: dtype {dt} is not supported on device '{x._device}'")
    return {"axis": axes, "dtype": dt, "keepdims": builtins.bool(keepdims)}


_prod_run = _accumulate_run("prod")
_LEAN_FORWARDS["prod"] = _prod_fwd


def prod(x, /, *, axis=None, dtype=None, keepdims=False) -> Tensor:
    """Product of the elements over ``axis`` (all by default); dtype rules as ``sum``."""
    if _autocast.active:  # a float32 op of autocast
        _check_tensor("prod", x)
        (x,) = _autocast.upcast(x)
        return apply1(_prod_prim, x, _prod_params(x, axis, dtype, keepdims))
    return _lean_prod(x, axis=axis, dtype=dtype, keepdims=keepdims)


_lean_prod = _lean_reduction("prod", _prod_prim, _prod_params, _prod_run)


# -- max, min --------------------------------------------------------------------
def _share(ns, out, x, axis, keepdims):
    """Where ``x`` attains the extremum ``out``, 1/(number of ties); else 0 (a constant:
    the comparison carries no gradient)."""
    hit = _mask(ns, x == _expand_back(ns, out, x.shape, axis, keepdims), x.dtype)
    return hit / ns.sum(hit, axis=axis, keepdims=True)


def _extremum_vjp(ns, needs, g, out, x, *, axis, keepdims):
    return (_expand_back(ns, g, x.shape, axis, keepdims) * _share(ns, out, x, axis, keepdims),)


def _extremum_jvp(ns, tangents, out, x, *, axis, keepdims):
    return ns.sum(tangents[0] * _share(ns, out, x, axis, keepdims), axis=axis, keepdims=keepdims)


def _extremum(name):
    def fwd(B, x, *, axis, keepdims):
        if B.dtype_of(x) == _dtypes.bool:  # some namespaces refuse booleans
            f = B.all if name == "min" else B.any
            return f(x, axis=axis, keepdims=keepdims)
        return getattr(B, name)(x, axis=axis, keepdims=keepdims)

    prim = Primitive(name, fwd, _extremum_vjp, _extremum_jvp)
    prim.batch = _vb.axis_rule(prim)
    _LEAN_FORWARDS[name] = fwd

    def make_run(B, d, params):
        if B.dtype_of(d) == _dtypes.bool:
            return None
        return _bound_call(B, getattr(B, name), axis=params["axis"], keepdims=params["keepdims"])

    def checked(x, axis, dtype, keepdims):
        _check_tensor(name, x)
        if x.dtype.kind == "c":
            raise TypeError(f"{name}: complex dtype {x.dtype} has no ordering")
        shape = x.shape
        axes = normalize_axes(name, axis, len(shape))
        for a in axes:
            if shape[a] == 0:
                raise ValueError(f"{name}: zero-size reduction along axis {a} of a tensor of "
                                 f"shape {shape} has no identity")
        return {"axis": axes, "keepdims": builtins.bool(keepdims)}

    def func(x, /, *, axis=None, keepdims=False) -> Tensor:
        c = x.__class__
        if (c is Tensor or c is not _BATCHED and getattr(c, "shape", None) is _PLAIN_SHAPE) and \
                (axis is None or axis.__class__ is int) and \
                (keepdims is False or keepdims is True):  # (as _lean_reduction's)
            d = x._data
            entry = _LEAN.get((name, d.shape, id(d.dtype), id(x._device), axis, keepdims))
            if entry is not None:
                if x._requires_grad and (not anywhere.no_grad or state.grad_enabled) or \
                        anywhere.dual and state.dual_level:
                    return apply1(prim, x, entry[0])
                return _new(entry[1](d), x._device)
        return _reduce(name, prim, checked, make_run, x, axis, None, keepdims)

    func.__name__ = func.__qualname__ = name
    func.__doc__ = (f"The {name}imum over ``axis`` (all by default); NaN propagates.  Its "
                    "gradient is shared evenly between ties.")
    return func


max = _extremum("max")  # noqa: A001
min = _extremum("min")  # noqa: A001


# -- mean, var, std (composites) ------------------------------------------------------
def _check_float(func, x):
    _check_tensor(func, x)
    if not _dtypes.is_floating(x.dtype):
        raise TypeError(f"{func}: expected a floating-point tensor, got {x.dtype}")


_FLOATING_IDS = frozenset(id(d) for d in _dtypes.floating_dtypes)


def _mean_run(B, d, params):
    """The lean ``run`` of ``mean``: the sum's, times ``1/n`` as a Python float (as
    ``sum(x) * (1/n)`` multiplies a floating tensor on storage: the weak-scalar rule)."""
    if id(d.dtype) not in _FLOATING_IDS:
        return None
    sum_params, inv = params
    total = _sum_run(B, d, sum_params) or _bound_forward(B, _sum_fwd, sum_params)
    mul, array_type, ensure = B.multiply, B.array_type, B.ensure_array

    def run(d):
        r = mul(total(d), inv)
        return r if r.__class__ is array_type else ensure(r)
    return run


def _mean_params(x, axis, dtype, keepdims):
    """(the sum's checked parameters, 1 / the reduced count) of ``mean``."""
    _check_float("mean", x)
    axes = normalize_axes("mean", axis, x.ndim)
    n = _reduced_size(x.shape, axes)
    return _sum_params("mean", x, axes, None, keepdims), 1.0 / n if n else float("nan")


def mean(x, /, *, axis=None, keepdims=False) -> Tensor:
    """Arithmetic mean over ``axis`` (all by default); NaN for an empty reduction."""
    c = x.__class__
    if (c is Tensor or c is not _BATCHED and getattr(c, "shape", None) is _PLAIN_SHAPE) and \
            (axis is None or axis.__class__ is int) and \
            (keepdims is False or keepdims is True):  # (as _lean_reduction's)
        d = x._data
        entry = _LEAN.get(("mean", d.shape, id(d.dtype), id(x._device), axis, keepdims))
        if entry is not None:
            if x._requires_grad and (not anywhere.no_grad or state.grad_enabled) or \
                    anywhere.dual and state.dual_level:
                return sum(x, axis=axis, keepdims=keepdims) * entry[0][1]
            return _new(entry[1](d), x._device)
    if c is _BATCHED:
        return sum(x, axis=axis, keepdims=keepdims) * \
            _batched_params("mean", _mean_params, x, axis, keepdims)[1]
    key = _lean_key("mean", x, axis, keepdims)
    entry = _LEAN.get(key)
    if entry is None:
        params = _mean_params(x, axis, None, keepdims)
        axes = params[0]["axis"]
        if key is None:
            return sum(x, axis=axes, keepdims=keepdims) * params[1]
        entry = _lean_entry(key, x, params, _mean_run)
        if entry[1] is not None and not _records(x):
            return _lean_result(x, entry[1](x._data))
    return sum(x, axis=axis, keepdims=keepdims) * entry[0][1]


def _deviations(ns, x, axis, inv_n):
    return x - ns.sum(x, axis=axis, keepdims=True) * inv_n


def _var_fwd(B, x, *, axis, keepdims, in_shape, inv_n, scale):
    d = _deviations(B, x, axis, inv_n)
    return B.sum(d * d, axis=axis, keepdims=keepdims) * scale


def _var_vjp(ns, needs, g, out, x, *, axis, keepdims, in_shape, inv_n, scale):
    g = _expand_back(ns, g, in_shape, axis, keepdims)
    return (g * _deviations(ns, x, axis, inv_n) * (2.0 * scale),)


def _var_jvp(ns, tangents, out, x, *, axis, keepdims, in_shape, inv_n, scale):
    d = _deviations(ns, x, axis, inv_n)
    return ns.sum(d * tangents[0], axis=axis, keepdims=keepdims) * (2.0 * scale)


_var_prim = Primitive("var", _var_fwd, _var_vjp, _var_jvp, saves_output=False)
_var_prim.batch = _vb.axis_rule(_var_prim, shapes=("in_shape",))


def _var_params(x, axis, correction, keepdims):
    _check_float("var", x)
    if x.dtype.kind == "c":
        raise TypeError(f"var: expected a real floating-point tensor, got {x.dtype}")
    if isinstance(correction, builtins.bool) or not isinstance(correction, (int, float)):
        raise TypeError(f"var: correction must be a number, got {correction!r}")
    if correction < 0:
        raise ValueError(f"var: correction must be non-negative, got {correction}")
    axes = normalize_axes("var", axis, x.ndim)
    n = _reduced_size(x.shape, axes)
    dof = n - correction
    return {"axis": axes, "keepdims": builtins.bool(keepdims), "in_shape": x.shape,
            "inv_n": 1.0 / n if n else float("nan"),
            "scale": 1.0 / dof if dof > 0 else float("nan")}


_LEAN_FORWARDS["var"] = _var_fwd
_F32_F64_IDS = frozenset((id(_dtypes.float32), id(_dtypes.float64)))


def _var_run(B, d, params):
    """The lean ``run`` of ``var`` for float32/float64 storage: ``_var_fwd`` with its two
    Python-float factors made 0-d arrays of the storage's dtype once (the same values:
    the weak-scalar rule rounds the float to that dtype; an array operand is cheaper)."""
    if id(d.dtype) not in _F32_F64_IDS:
        return None
    axis, keepdims = params["axis"], params["keepdims"]
    inv_n = B.asarray(params["inv_n"], dtype=d.dtype)
    scale = B.asarray(params["scale"], dtype=d.dtype)
    total, array_type, ensure = B.sum, B.array_type, B.ensure_array

    def run(x):
        dev = x - total(x, axis=axis, keepdims=True) * inv_n
        r = total(dev * dev, axis=axis, keepdims=keepdims) * scale
        return r if r.__class__ is array_type else ensure(r)
    return run


def _spread_key(name, x, axis, correction, keepdims):
    """The ``_LEAN`` key of var/std, or None (a correction that is not an int or float:
    bools hash like ints)."""
    c = correction.__class__
    if c is float or c is int:
        key = _lean_key(name, x, axis, keepdims)
        if key is not None:
            return key + (correction,)
    return None


def var(x, /, *, axis=None, correction=0.0, keepdims=False) -> Tensor:
    """Variance over ``axis`` with ``correction`` (Bessel's is 1); NaN when N <= correction.
    One node; its VJP ``2 g (x - mean) / (N - correction)``."""
    key = _spread_key("var", x, axis, correction, keepdims)
    entry = _LEAN.get(key)
    if entry is None:
        params = _var_params(x, axis, correction, keepdims)
        if key is None:
            return apply1(_var_prim, x, params)
        entry = _lean_entry(key, x, params, _var_run)
    if _records(x):
        return apply1(_var_prim, x, entry[0])
    return _lean_result(x, entry[1](x._data))


def _std_deriv(ns, y):
    """d sqrt(v) / dv = 1 / (2 sqrt(v)), taken as 0 where the deviation is 0 (PyTorch's
    ``std`` of a constant slice has gradient 0, not NaN)."""
    zero = y == 0
    if getattr(ns, "host", False) and not ns.any(zero):
        return ns.reciprocal(y * 2)
    return ns.where(zero, ns.zeros_like(y), ns.reciprocal(ns.where(zero, ns.ones_like(y), y) * 2))


_std_sqrt = Primitive(
    "std", native="sqrt",
    vjp=lambda ns, needs, g, y, v: (g * _std_deriv(ns, y),),
    jvp=lambda ns, tangents, y, v: tangents[0] * _std_deriv(ns, y),
    saves_inputs=False)
_std_sqrt.batch = _vb.elementwise_rule(_std_sqrt)


def _std_run(B, d, params):
    """The lean ``run`` of ``std``: the square root of var's."""
    spread = _var_run(B, d, params) or _bound_forward(B, _var_fwd, params)
    sqrt, array_type, ensure = B.sqrt, B.array_type, B.ensure_array

    def run(d):
        r = sqrt(spread(d))
        return r if r.__class__ is array_type else ensure(r)
    return run


def std(x, /, *, axis=None, correction=0.0, keepdims=False) -> Tensor:
    """Standard deviation: ``sqrt(var(...))``; its gradient is 0 (not NaN) for a slice
    whose elements are all equal, as in PyTorch."""
    key = _spread_key("std", x, axis, correction, keepdims)
    entry = _LEAN.get(key)
    if entry is None:
        _check_float("std", x)
        params = _var_params(x, axis, correction, keepdims)
        if key is None:
            return apply1(_std_sqrt, apply1(_var_prim, x, params))
        entry = _lean_entry(key, x, params, _std_run)
    if _records(x):
        return apply1(_std_sqrt, apply1(_var_prim, x, entry[0]))
    return _lean_result(x, entry[1](x._data))


# -- cumulative_sum, cumulative_prod -------------------------------------------------
def _scan_axis(func, x, axis):
    if x.ndim == 0:
        raise ValueError(f"{func}: expected a tensor with at least one dimension, got shape ()")
    if axis is None:
        if x.ndim != 1:
            raise ValueError(f"{func}: axis is required for a tensor of {x.ndim} dimensions "
                             f"(shape {x.shape})")
        return 0
    return normalize_axes(func, operator.index(axis) if not isinstance(axis, (tuple, list))
                          else axis, x.ndim)[0]


def _revcumsum(ns, g, axis):
    """sum_{k >= i} g_k along ``axis``."""
    return ns.sum(g, axis=(axis,), keepdims=True) - ns.cumulative_sum(g, axis=axis) + g


def _cumsum_fwd(B, x, *, axis, dtype):
    if x.dtype is dtype:  # (a storage dtype that is arraylib's: nothing to convert)
        return B.cumulative_sum(x, axis=axis, dtype=dtype)
    nd = B.native_dtype(dtype)
    if B.dtype_of(x) != dtype:
        x = B.astype(x, nd)
    return B.cumulative_sum(x, axis=axis, dtype=nd)


_cumsum_prim = Primitive(
    "cumulative_sum", _cumsum_fwd,
    vjp=lambda ns, needs, g, out, x, *, axis, dtype: (_revcumsum(ns, g, axis),),
    jvp=linear_jvp(lambda ns, t, *, axis, dtype: ns.cumulative_sum(t, axis=axis)),
    saves_inputs=False, saves_output=False)
_cumsum_prim.batch = _vb.axis_rule(_cumsum_prim)


def _cumprod_fwd(B, x, *, axis, dtype):
    nd = B.native_dtype(dtype)
    if B.dtype_of(x) != dtype:
        x = B.astype(x, nd)
    return B.cumulative_prod(x, axis=axis, dtype=nd)


def _first_zero(ns, x, axis):
    """(1 where x is 0, as ``x``'s dtype; the number of zeros seen so far along ``axis``,
    an int64 count; 1 at each slice's first zero): constants, no gradient flows."""
    zero = x == 0
    is_zero = _mask(ns, zero, x.dtype)
    seen = ns.cumulative_sum(ns.astype(zero, ns.int64), axis=axis)
    return is_zero, seen, is_zero * _mask(ns, seen == 1, x.dtype)


def _cumprod_vjp(ns, needs, g, out, x, *, axis, dtype):
    # Without zeros: revcumsum(g * conj(y)) / conj(x).  With zeros, the exact products.
    if bool(ns.any(x == 0)):
        return (_cumprod_vjp_with_zeros(ns, g, x, axis),)
    return (_revcumsum(ns, g * _conj(ns, out), axis) / _conj(ns, x),)


def _cumprod_vjp_with_zeros(ns, g, x, axis):
    """``grad_k = sum_{j >= k} g_j conj(prod_{i <= j, i != k} x_i)``: for each ``k``, the
    cumprod of the slice with ``x_k`` replaced by 1 (O(n^2) per slice).  Exact at any
    number of zeros, and differentiable again (it is made of differentiable functions)."""
    xl, gl = ns.moveaxis(x, axis, -1), ns.moveaxis(g, axis, -1)
    pos = ns.cumulative_sum(ns.ones_like(xl, dtype=ns.int64), axis=-1)  # 1..n on the slice
    k, j = ns.expand_dims(pos, axis=-1), ns.expand_dims(pos, axis=-2)
    eye = _mask(ns, k == j, x.dtype)
    rest = ns.cumulative_prod(ns.expand_dims(xl, axis=-2) * (1 - eye) + eye, axis=-1)
    grad = ns.sum(ns.expand_dims(gl, axis=-2) * _conj(ns, rest) * _mask(ns, j >= k, x.dtype),
                  axis=-1)
    return ns.moveaxis(grad, -1, axis)


def _cumprod_jvp(ns, tangents, out, x, *, axis, dtype):
    # d y_k = sum_{i <= k} t_i prod_{j <= k, j != i} x_j: the VJP's transpose.  Away from
    # zeros it is y_k * cumsum(t / x); each slice's first zero x_z adds
    # t_z * prod_{j <= k, j != z} x_j for k >= z.
    t = tangents[0]
    is_zero, seen, first = _first_zero(ns, x, axis)
    y1 = ns.cumulative_prod(x + first, axis=axis)  # the first zero replaced by one
    after = _mask(ns, seen >= 1, x.dtype)          # positions k >= z
    tz = ns.sum(t * first, axis=(axis,), keepdims=True)
    return out * ns.cumulative_sum(t / (x + is_zero), axis=axis) + tz * y1 * after


_cumprod_prim = Primitive("cumulative_prod", _cumprod_fwd, _cumprod_vjp, _cumprod_jvp)
_cumprod_prim.batch = _vb.axis_rule(_cumprod_prim)


def _scan_params(func, x, axis, dtype):
    _check_tensor(func, x)
    ax = _scan_axis(func, x, axis)
    dt = _sum_dtype(func, x.dtype, dtype)
    if dt not in x._device.backend.supported_dtypes():
        raise TypeError(f"{func}: dtype {dt} is not supported on device '{x._device}'")
    return {"axis": ax, "dtype": dt}


def _scan_run(name):
    """The lean ``run`` of cumulative_sum/prod: the backend's scan in the forward's dtype,
    where the operand needs no conversion first."""
    def make_run(B, d, params):
        dt = params["dtype"]
        if d.dtype is not dt:
            if B.dtype_of(d) != dt:
                return None
            dt = B.native_dtype(dt)
        return _bound_call(B, getattr(B, name), axis=params["axis"], dtype=dt)
    return make_run


_SCANS = {_cumsum_prim: _scan_run("cumulative_sum"), _cumprod_prim: _scan_run("cumulative_prod")}
for _name in ("cumulative_sum", "cumsum"):
    _LEAN_FORWARDS[_name] = _cumsum_fwd
for _name in ("cumulative_prod", "cumprod"):
    _LEAN_FORWARDS[_name] = _cumprod_fwd


def _cumulative(func, prim, x, axis, dtype, include_initial):
    if x.__class__ is Tensor and dtype is None and not include_initial and \
            (axis is None or axis.__class__ is int):  # (a plain tensor: as _lean_reduction)
        d = x._data
        entry = _LEAN.get((func, d.shape, id(d.dtype), id(x._device), axis, False))
        if entry is not None and not (x._requires_grad and (
                not anywhere.no_grad or state.grad_enabled) or anywhere.dual and
                state.dual_level):
            return _lean_result(x, entry[1](d))
    key = _lean_key(func, x, axis, False) if dtype is None else None
    entry = _LEAN.get(key)
    if entry is None:
        params = _scan_params(func, x, axis, dtype)
        if key is not None:
            entry = _lean_entry(key, x, params, _SCANS[prim])
        out = apply1(prim, x, params)
    elif _records(x):
        params = entry[0]
        out = apply1(prim, x, params)
    else:
        params = entry[0]
        out = _lean_result(x, entry[1](x._data))
    if include_initial:
        ax, dt = params["axis"], params["dtype"]
        shape = out.shape
        first = full(shape[:ax] + (1,) + shape[ax + 1:], 0 if prim is _cumsum_prim else 1,
                     dtype=dt, device=out.device)
        out = concat([first, out], axis=ax)
    return out


def cumulative_sum(x, /, *, axis=None, dtype=None, include_initial=False) -> Tensor:
    """Running sums along ``axis`` (optional for 1-D); ``include_initial`` prepends 0."""
    return _cumulative("cumulative_sum", _cumsum_prim, x, axis, dtype, include_initial)


def cumulative_prod(x, /, *, axis=None, dtype=None, include_initial=False) -> Tensor:
    """Running products along ``axis`` (optional for 1-D); ``include_initial`` prepends 1."""
    return _cumulative("cumulative_prod", _cumprod_prim, x, axis, dtype, include_initial)

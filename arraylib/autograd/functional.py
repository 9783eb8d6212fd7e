"""Function transforms (``arraylib.func``): grad, value_and_grad, vjp, jvp, jacobian,
hessian, hvp.

They take a function of tensors and return derivatives as tensors (or tuples of
tensors).  They work whatever the caller's grad mode (also under ``no_grad``),
leave no graph behind, and compose: when a primal already takes part in an
outer differentiation (it requires grad, or carries a forward-mode tangent), the
results stay differentiable with respect to it, so ``jacobian(grad(f))`` and
``jvp(grad(f), ...)`` (forward over reverse) give second derivatives.

``jacobian(f, x, mode="reverse")`` builds the Jacobian row by row (one backward
per output element); ``mode="forward"`` builds it column by column (one JVP per
input element).  ``hessian`` is forward over reverse; ``hvp`` is one JVP of the
gradient.
"""
from __future__ import annotations

import functools

from .._core._tensor import Tensor, _new
from .._core._grad_mode import enable_grad, state
from .._core._engine import grad as _grad
from .._core._primitive import apply1
from .._creation_functions import eye, ones_like, zeros, zeros_like
from .._data_type_functions import astype as _astype
from .._manipulation_functions import permute_dims, reshape, stack, unstack
from . import forward_ad as _fwAD

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "jacobian", "jacrev", "jacfwd", "hessian",
           "hvp"]


# -- helpers -------------------------------------------------------------------------
def _check_tensors(func, xs, what="inputs"):
    for x in xs:
        if not isinstance(x, Tensor):
            raise TypeError(f"{func}: expected Tensors as {what}, got {type(x).__name__}")
        if x.dtype.kind not in "fc":
            raise TypeError(f"{func}: can only differentiate with respect to floating-point or "
                            f"complex tensors, got {x.dtype}")


def _inner(p: Tensor) -> Tensor:
    """A tensor standing for primal ``p`` inside a transform: it requires grad, stays
    connected to ``p``'s graph (if any) and keeps ``p``'s tangent (if any)."""
    x = apply1(_fwAD._dual_prim(), p)
    if x._grad_fn is None:
        x._requires_grad = True  # a fresh leaf sharing p's storage
    return x


def _outer_graph(primals) -> bool:
    """Whether results must stay differentiable for an enclosing differentiation."""
    return any(p._requires_grad for p in primals) and state.grad_enabled


def _strip(t, keep_graph: bool):
    """``t`` without its graph (unless kept), with its forward-mode tangent."""
    if not isinstance(t, Tensor) or keep_graph:
        return t
    out = _new(t._data, t._device)
    tt = getattr(t, "_tangent", None)
    if tt is not None:
        out._tangent = tt
    return out


def _tree_strip(obj, keep):
    if isinstance(obj, tuple):
        return tuple(_tree_strip(o, keep) for o in obj)
    if isinstance(obj, list):
        return [_tree_strip(o, keep) for o in obj]
    return _strip(obj, keep)


def _as_tuple(x):
    return (x,) if isinstance(x, Tensor) else tuple(x)


def _split_aux(func, out, has_aux):
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ValueError(f"{func}: has_aux=True needs the function to return (output, aux)")
    return out


def _argnums(func, argnums, n):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for a in nums:
        if not -n <= a < n:
            raise ValueError(f"{func}: argnums {argnums} out of range for {n} positional arguments")
    return tuple(a % n for a in nums)


def _zeros_for(grads, targets):
    return tuple(g if g is not None else zeros_like(t) for g, t in zip(grads, targets))


def _backprop(outs, targets, cots, create_graph):
    roots, seeds = [], []
    for o, c in zip(outs, cots):
        if o._requires_grad and c is not None:
            roots.append(o)
            seeds.append(c)
    if not roots:
        return _zeros_for((None,) * len(targets), targets)
    gs = _grad(roots, targets, seeds, retain_graph=True, create_graph=create_graph,
               allow_unused=True)
    return _zeros_for(gs, targets)


# -- grad, value_and_grad, vjp ---------------------------------------------------------
def value_and_grad(f, argnums=0, has_aux=False):
    """A function returning ``(f(*args), gradient)`` of a scalar-valued ``f`` with respect
    to the arguments ``argnums`` (an int: one gradient; a tuple: a tuple of them).
    With ``has_aux`` ``f`` returns ``(value, aux)`` and the result is ``((value, aux), grad)``."""
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        nums = _argnums("value_and_grad", argnums, len(args))
        primals = tuple(args[i] for i in nums)
        _check_tensors("value_and_grad", primals)
        keep = _outer_graph(primals)
        with enable_grad():
            xs = list(args)
            inner = tuple(_inner(p) for p in primals)
            for i, x in zip(nums, inner):
                xs[i] = x
            out, aux = _split_aux("value_and_grad", f(*xs, **kwargs), has_aux)
            if not isinstance(out, Tensor) or out.size != 1:
                raise RuntimeError("grad: the function must return a tensor with one element, got "
                                   f"{getattr(out, 'shape', type(out).__name__)}; use vjp or "
                                   "jacobian for other outputs")
            gs = _backprop((out,), inner, (ones_like(out),), create_graph=keep)
        gs = _tree_strip(gs, keep)
        g = gs[0] if isinstance(argnums, int) else gs
        value = _strip(out, keep)
        if has_aux:
            return (value, _tree_strip(aux, keep)), g
        return value, g
    return wrapper


def grad(f, argnums=0, has_aux=False):
    """A function returning the gradient of scalar-valued ``f`` (``(grad, aux)`` with
    ``has_aux``)."""
    vg = value_and_grad(f, argnums, has_aux)

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        (value_aux, g) = vg(*args, **kwargs)
        if has_aux:
            return g, value_aux[1]
        return g
    return wrapper


def vjp(f, *primals, has_aux=False):
    """``(f(*primals), vjp_fn)``; ``vjp_fn(*cotangents)`` returns a tuple with the
    cotangent of every primal (``(out, vjp_fn, aux)`` with ``has_aux``)."""
    _check_tensors("vjp", primals, "primals")
    keep = _outer_graph(primals)
    with enable_grad():
        inner = tuple(_inner(p) for p in primals)
        out, aux = _split_aux("vjp", f(*inner), has_aux)
    outs = _as_tuple(out)
    for o in outs:
        if not isinstance(o, Tensor):
            raise TypeError(f"vjp: the function must return a Tensor or a tuple of Tensors, got "
                            f"{type(o).__name__}")

    def vjp_fn(*cotangents):
        if len(cotangents) == 1 and not isinstance(out, Tensor) and isinstance(cotangents[0], tuple):
            cotangents = cotangents[0]
        if len(cotangents) != len(outs):
            raise ValueError(f"vjp_fn: expected {len(outs)} cotangents, got {len(cotangents)}")
        for o, c in zip(outs, cotangents):
            if not isinstance(c, Tensor) or c.shape != o.shape:
                raise ValueError(f"vjp_fn: a cotangent has shape {getattr(c, 'shape', None)}, the "
                                 f"output has shape {o.shape}")
        with enable_grad():
            gs = _backprop(outs, inner, cotangents, create_graph=keep or any(
                c._requires_grad for c in cotangents))
        return _tree_strip(gs, keep)

    value = _tree_strip(out, keep)
    if has_aux:
        return value, vjp_fn, _tree_strip(aux, keep)
    return value, vjp_fn


# -- jvp -------------------------------------------------------------------------------
def jvp(f, primals, tangents, has_aux=False):
    """``(f(*primals), tangent_out)``: the forward-mode derivative of ``f`` at ``primals``
    along ``tangents`` (tuples, one tangent per primal; tuples out for tuple outputs)."""
    primals = _as_tuple(primals)
    tangents = _as_tuple(tangents)
    _check_tensors("jvp", primals, "primals")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: got {len(primals)} primals and {len(tangents)} tangents")
    for p, t in zip(primals, tangents):
        if not isinstance(t, Tensor) or t.shape != p.shape:
            raise ValueError(f"jvp: a tangent has shape {getattr(t, 'shape', None)}, its primal "
                             f"has shape {p.shape}")
    keep = _outer_graph(primals)
    if state.dual_level:
        raise RuntimeError("jvp: nested forward mode (jvp inside jvp or inside dual_level) is not "
                           "supported; compose forward over reverse instead (jvp of grad)")
    with _fwAD.dual_level():
        duals = tuple(_fwAD.make_dual(p, _astype(t, p.dtype) if t.dtype != p.dtype else t)
                      for p, t in zip(primals, tangents))
        with enable_grad() if keep else _noop():
            out, aux = _split_aux("jvp", f(*duals), has_aux)
        outs = _as_tuple(out)
        results, touts = [], []
        for o in outs:
            if not isinstance(o, Tensor):
                raise TypeError(f"jvp: the function must return Tensors, got {type(o).__name__}")
            prim, tan = _fwAD.unpack_dual(o)
            if tan is None:
                tan = zeros_like(o)
            results.append(_strip(prim, keep) if not keep else prim)
            touts.append(tan if keep else _strip(tan, False))
    if isinstance(out, Tensor):
        res = (results[0], touts[0])
    else:
        res = (tuple(results), tuple(touts))
    if has_aux:
        return res + (_tree_strip(aux, keep),)
    return res


class _noop:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


# -- jacobian, hessian, hvp ---------------------------------------------------------
def _basis(x: Tensor):
    """The standard basis of ``x``'s space, as a list of tensors shaped like ``x``."""
    n = x.size
    if n == 0:
        return []
    rows = unstack(eye(n, dtype=x.dtype, device=x.device), axis=0)
    return [reshape(r, x.shape) for r in rows]


def _assemble(vectors, lead_shape, tail_shape, like):
    """Stack per-element results (each of ``tail_shape``) into ``lead_shape + tail_shape``."""
    if not vectors:
        return zeros(tuple(lead_shape) + tuple(tail_shape), dtype=like.dtype, device=like.device)
    return reshape(stack(vectors, axis=0), tuple(lead_shape) + tuple(tail_shape))


def jacobian(f, *inputs, mode="reverse", argnums=0, has_aux=False):
    """The Jacobian of ``f`` at ``inputs``: shape ``out.shape + input.shape``.

    ``argnums`` picks the inputs (an int: one Jacobian; a tuple: a tuple of them);
    a tuple output gives a tuple (over outputs) of those.  ``mode="reverse"``
    builds rows with one VJP per output element; ``"forward"`` builds columns with
    one JVP per input element."""
    if mode not in ("reverse", "forward"):
        raise ValueError(f"jacobian: mode must be 'reverse' or 'forward', got {mode!r}")
    if len(inputs) == 1 and isinstance(inputs[0], tuple):
        inputs = inputs[0]
    nums = _argnums("jacobian", argnums, len(inputs))
    primals = tuple(inputs[i] for i in nums)
    _check_tensors("jacobian", primals)

    def g(*ps):
        xs = list(inputs)
        for i, p in zip(nums, ps):
            xs[i] = p
        return f(*xs)

    aux = None
    if mode == "reverse":
        if has_aux:
            out, pull, aux = vjp(g, *primals, has_aux=True)
        else:
            out, pull = vjp(g, *primals)
        outs = _as_tuple(out)
        per_out = []
        for k, o in enumerate(outs):
            rows = [[] for _ in primals]
            for e in _basis(o):
                cots = tuple(e if j == k else zeros_like(oo) for j, oo in enumerate(outs))
                gs = pull(*cots)
                for j, gj in enumerate(gs):
                    rows[j].append(gj)
            per_out.append(tuple(_assemble(rows[j], o.shape, p.shape, p)
                                 for j, p in enumerate(primals)))
    else:
        cols = None
        out = None
        for j, p in enumerate(primals):
            basis = _basis(p)
            cols_j = None
            for e in basis:
                tans = tuple(e if jj == j else zeros_like(pp) for jj, pp in enumerate(primals))
                res = jvp(g, primals, tans, has_aux=has_aux)
                out, t = res[0], res[1]
                if has_aux:
                    aux = res[2]
                ts = _as_tuple(t)
                if cols_j is None:
                    cols_j = [[] for _ in ts]
                for k, tk in enumerate(ts):
                    cols_j[k].append(tk)
            if out is None:  # empty input: evaluate once for the shapes
                res = jvp(g, primals, tuple(zeros_like(pp) for pp in primals), has_aux=has_aux)
                out = res[0]
                if has_aux:
                    aux = res[2]
            outs = _as_tuple(out)
            if cols_j is None:
                cols_j = [[] for _ in outs]
            if cols is None:
                cols = [[None] * len(primals) for _ in outs]
            for k, o in enumerate(outs):
                # columns stacked first: shape p.shape + o.shape; move the output axes first
                J = _assemble(cols_j[k], p.shape, o.shape, o)
                if p.ndim and o.ndim:
                    perm = tuple(range(p.ndim, p.ndim + o.ndim)) + tuple(range(p.ndim))
                    J = permute_dims(J, perm)
                cols[k][j] = J
        outs = _as_tuple(out)
        per_out = [tuple(c) for c in cols]
    result = [pj[0] if isinstance(argnums, int) else pj for pj in per_out]
    result = result[0] if isinstance(out, Tensor) else tuple(result)
    if has_aux:
        return result, aux
    return result


def jacrev(f, argnums=0, has_aux=False):
    """``jacobian`` in reverse mode, as a function transform (torch.func's name)."""
    return lambda *args: jacobian(f, *args, mode="reverse", argnums=argnums, has_aux=has_aux)


def jacfwd(f, argnums=0, has_aux=False):
    """``jacobian`` in forward mode, as a function transform (torch.func's name)."""
    return lambda *args: jacobian(f, *args, mode="forward", argnums=argnums, has_aux=has_aux)


def hessian(f, *inputs, argnums=0, mode="forward-over-reverse"):
    """The Hessian of scalar-valued ``f``: shape ``input.shape + input.shape``
    (forward over reverse by default; ``mode="reverse-over-reverse"`` also works)."""
    if mode not in ("forward-over-reverse", "reverse-over-reverse"):
        raise ValueError(f"hessian: unknown mode {mode!r}")
    outer = "forward" if mode == "forward-over-reverse" else "reverse"
    return jacobian(grad(f, argnums=argnums), *inputs, mode=outer, argnums=argnums)


def hvp(f, primals, v):
    """``(f(*primals), H @ v)`` for scalar-valued ``f``: one JVP of the gradient
    (forward over reverse), never forming the Hessian.  With several primals, ``v``
    and the product are tuples."""
    primals = _as_tuple(primals)
    v = _as_tuple(v)
    single = len(primals) == 1
    vg = value_and_grad(f, argnums=0 if single else tuple(range(len(primals))))

    def value_and_gradient(*ps):
        value, g = vg(*ps)
        return (value,) + _as_tuple(g)

    outs, tans = jvp(value_and_gradient, primals, v)
    return outs[0], (tans[1] if single else tuple(tans[1:]))

"""torch.autograd.functional's API: ``vjp``, ``jvp``, ``jacobian``, ``hessian``, ``hvp``,
``vhp``, with ``inputs`` a tensor or a tuple of tensors.

Results are detached unless ``create_graph=True`` (then they stay differentiable with
respect to inputs that require grad).  ``jacobian``/``hessian`` build the matrix by one
batched pass over the basis (``vmap``) when ``vectorize=True``, and by one pass per row
(reverse mode) or column (forward mode) otherwise.  torch.func's calling conventions
(``grad(f)(x)``, ``jacrev(f)(x)``) are ``arraylib.func``.
"""
from __future__ import annotations

from .._core._tensor import Tensor
from .._core._grad_mode import enable_grad
from .._core._engine import grad as _engine_grad
from .._creation_functions import ones_like, zeros
from .._manipulation_functions import stack
from ..func import _transforms as _tf

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]


# -- argument handling -----------------------------------------------------------------
def _as_tuple(func, x, what):
    """``(tuple_of_tensors, was_tuple)``."""
    if isinstance(x, Tensor):
        return (x,), False
    if isinstance(x, (tuple, list)) and all(isinstance(t, Tensor) for t in x):
        return tuple(x), True
    raise TypeError(f"{func}: the {what} must be a Tensor or a tuple of Tensors, got "
                    f"{type(x).__name__}")


def _v_or_ones(func, v, like, what):
    """``v`` as a tuple matching ``like`` (None: only for single-element ``like``)."""
    if v is None:
        if len(like) != 1 or like[0].size != 1:
            raise RuntimeError(f"{func}: v can only be None if the {what} is a single-element "
                               f"tensor, got shapes {[tuple(t.shape) for t in like]}")
        return (ones_like(like[0]),)
    vs, _ = _as_tuple(func, v, "v")
    if len(vs) != len(like):
        raise RuntimeError(f"{func}: v has {len(vs)} tensors, the {what} has {len(like)}")
    for a, b in zip(vs, like):
        if a.shape != b.shape:
            raise RuntimeError(f"{func}: v has a tensor of shape {tuple(a.shape)} where the "
                               f"{what} has shape {tuple(b.shape)}")
    return vs


def _result(ts, was_tuple, create_graph):
    ts = tuple(_tf.strip(t, create_graph) for t in ts)
    return ts if was_tuple else ts[0]


def _call(name, func, inputs, inner_grad=True):
    """``(inner, outputs, output_was_tuple)``: ``func`` run on stand-ins for ``inputs``
    that require grad (``inner_grad``) or on the inputs themselves."""
    with enable_grad():
        inner = [_tf.stand_in(x) for x in inputs] if inner_grad else list(inputs)
        out = func(*inner)
    outs, out_tuple = _as_tuple(name, out, "output of the function")
    return inner, outs, out_tuple


def _forward(name, func, xs, vs):
    """``(outputs, output_tangents, output_was_tuple)`` of ``func`` at ``xs`` along ``vs``."""
    found = {}

    def f(*a):
        outs, found["tuple"] = _as_tuple(name, func(*a), "output of the function")
        return outs
    out, tout = _tf.jvp(f, xs, vs)
    return out, tout, found["tuple"]


def _check_strict(name, outs, inner):
    """``strict=True``: every input reaches some output."""
    roots = [o for o in outs if o.requires_grad]
    gs = _engine_grad(roots, inner, [ones_like(o) for o in roots], retain_graph=True,
                      allow_unused=True) if roots else (None,) * len(inner)
    for i, g in enumerate(gs):
        if g is None:
            raise RuntimeError(f"{name}: the output of the user-provided function is "
                               f"independent of input {i}; this is not allowed in strict mode")


# -- vjp, jvp --------------------------------------------------------------------------
def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(*inputs), v^T J)``; ``v`` may be None for a single-element output."""
    xs, in_tuple = _as_tuple("vjp", inputs, "inputs")
    _tf.check_leaves("vjp", xs)
    inner, outs, out_tuple = _call("vjp", func, xs)
    vs = _v_or_ones("vjp", v, outs, "output")
    if strict:
        _check_strict("vjp", outs, inner)
    with enable_grad():
        gs = _tf.backprop(outs, inner, vs, create_graph=create_graph)
    return _result(outs, out_tuple, create_graph), _result(gs, in_tuple, create_graph)


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(*inputs), J v)`` (forward mode); ``v`` may be None for a single-element
    input."""
    xs, in_tuple = _as_tuple("jvp", inputs, "inputs")
    _tf.check_leaves("jvp", xs)
    vs = _v_or_ones("jvp", v, xs, "inputs")
    if strict:
        inner, outs, _ = _call("jvp", func, xs)
        _check_strict("jvp", outs, inner)
    prims = tuple(x if create_graph else x.detach() for x in xs)
    out, tout, out_tuple = _forward("jvp", func, prims, vs)
    return _result(out, out_tuple, create_graph), _result(tout, out_tuple, create_graph)


# -- jacobian ---------------------------------------------------------------------------
def _rows(fn, blocks, total, vectorize, mode):
    """``fn`` over each basis row: one batched pass (vectorize) or a loop."""
    if vectorize:
        return _tf.map_over_basis(fn, blocks, total, mode)
    per_row = [fn(*(b[i] for b in blocks)) for i in range(total)]
    return [stack([r[j] for r in per_row], axis=0) for j in range(len(per_row[0]))]


def _empty_jacobian(outs, xs):
    return [[zeros(tuple(o.shape) + tuple(x.shape), dtype=x.dtype, device=x.device)
             for x in xs] for o in outs]


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``: a tensor of shape ``out.shape + in.shape``,
    a tuple over inputs (tuple inputs), over outputs (tuple output), or both (nested).

    ``strategy`` is ``"reverse-mode"`` (rows by VJPs) or ``"forward-mode"`` (columns by
    JVPs); ``vectorize`` computes all rows or columns in one batched pass."""
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError(f"jacobian: expected strategy to be 'forward-mode' or 'reverse-mode', "
                         f"got {strategy!r}")
    xs, in_tuple = _as_tuple("jacobian", inputs, "inputs")
    _tf.check_leaves("jacobian", xs)
    if strategy == "reverse-mode":
        per_out, out_tuple = _jacobian_reverse(func, xs, create_graph, strict, vectorize)
    else:
        if create_graph is False:
            xs = tuple(x.detach() for x in xs)
        per_out, out_tuple = _jacobian_forward(func, xs, strict, vectorize)
    per_out = [[_tf.strip(j, create_graph) for j in row] for row in per_out]
    res = [tuple(row) if in_tuple else row[0] for row in per_out]
    return tuple(res) if out_tuple else res[0]


def _jacobian_reverse(func, xs, create_graph, strict, vectorize):
    inner, outs, out_tuple = _call("jacobian", func, xs)
    if strict:
        _check_strict("jacobian", outs, inner)
    total, blocks = _tf.basis_blocks(outs)
    if total == 0 or sum(x.size for x in xs) == 0:
        return _empty_jacobian(outs, xs), out_tuple

    def row(*cots):
        with enable_grad():
            return _tf.backprop(outs, inner, cots, create_graph=create_graph)
    rows = _rows(row, blocks, total, vectorize, "reverse")
    return _tf.jacobian_blocks(rows, [o.size for o in outs], [o.shape for o in outs],
                               [x.size for x in xs], [x.shape for x in xs], True), out_tuple


def _jacobian_forward(func, xs, strict, vectorize):
    if strict:
        inner, outs, _ = _call("jacobian", func, xs)
        _check_strict("jacobian", outs, inner)
    total, blocks = _tf.basis_blocks(xs)
    found = {}

    def column(*tans):
        _, tout, found["tuple"] = _forward("jacobian", func, xs, tans)
        found["shapes"] = [t.shape for t in tout]
        return list(tout)
    if total == 0:
        _, outs, out_tuple = _call("jacobian", func, xs, False)
        return _empty_jacobian(outs, xs), out_tuple
    cols = _rows(column, blocks, total, vectorize, "forward")
    shapes = found["shapes"]
    per_in = _tf.jacobian_blocks(cols, [x.size for x in xs], [x.shape for x in xs],
                                 [_tf.shape_size(s) for s in shapes], shapes, False)
    return [[per_in[j][k] for j in range(len(xs))] for k in range(len(shapes))], found["tuple"]


# -- hessian, hvp, vhp --------------------------------------------------------------------
def _scalar_func(name, func):
    def f(*xs):
        out = func(*xs)
        if not isinstance(out, Tensor) or out.size != 1:
            raise RuntimeError(f"{name}: the function must return a single-element Tensor, got "
                               f"{getattr(out, 'shape', type(out).__name__)}")
        return out.reshape(())
    return f


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """The Hessian of scalar ``func`` at ``inputs``: shape ``in.shape + in.shape``, or a
    tuple of tuples (``[i][j]``: inputs i and j) for tuple inputs."""
    xs, in_tuple = _as_tuple("hessian", inputs, "inputs")
    f = _scalar_func("hessian", func)

    gradient = _tf.grad(f, argnums=tuple(range(len(xs))))
    if outer_jacobian_strategy == "forward-mode":
        xs = tuple(x if create_graph else x.detach() for x in xs)
    res = jacobian(gradient, xs, create_graph=create_graph, strict=strict, vectorize=vectorize,
                   strategy=outer_jacobian_strategy)
    return res if in_tuple else res[0][0]


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(*inputs), v^T H)`` for scalar ``func``: a VJP of the gradient (reverse over
    reverse)."""
    xs, in_tuple = _as_tuple("vhp", inputs, "inputs")
    _tf.check_leaves("vhp", xs)
    vs = _v_or_ones("vhp", v, xs, "inputs")
    with enable_grad():
        inner = [_tf.stand_in(x) for x in xs]
        out = _scalar_func("vhp", func)(*inner)
        gs = _tf.backprop((out,), inner, (ones_like(out),), create_graph=True)
        if strict:
            _check_strict("vhp", [out], inner)
        hv = _tf.backprop(gs, inner, vs, create_graph=create_graph)
    return _tf.strip(out, create_graph), _result(hv, in_tuple, create_graph)


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(*inputs), H v)`` for scalar ``func``: a JVP of the gradient (forward over
    reverse), never forming the Hessian."""
    xs, in_tuple = _as_tuple("hvp", inputs, "inputs")
    _tf.check_leaves("hvp", xs)
    vs = _v_or_ones("hvp", v, xs, "inputs")
    if strict:
        inner, outs, _ = _call("hvp", _scalar_func("hvp", func), xs)
        _check_strict("hvp", outs, inner)
    f = _scalar_func("hvp", func)
    gradient = _tf.grad_and_value(f, argnums=tuple(range(len(xs))))

    def value_and_gradient(*ys):
        gs, value = gradient(*ys)
        return (value,) + tuple(gs)
    prims = tuple(x if create_graph else x.detach() for x in xs)
    outs, tans = _tf.jvp(value_and_gradient, prims, vs)
    return _tf.strip(outs[0], create_graph), _result(tans[1:], in_tuple, create_graph)

"""torch.func's differentiation transforms: grad, grad_and_value, vjp, jvp, linearize,
jacrev, jacfwd, hessian.

Arguments and results are pytrees (tuples, lists, dicts) of tensors.  The transforms
work whatever the caller's grad mode, leave no graph behind and compose: when a primal
already takes part in an outer differentiation (it requires grad, or carries a
forward-mode tangent), results stay differentiable with respect to it, so
``jacfwd(jacrev(f))`` (forward over reverse) and ``grad(grad(f))`` give second
derivatives.  Nested forward mode (``jacfwd(jacfwd(f))``, ``jvp`` inside ``jvp`` or a
``dual_level``) computes the inner JVP as the transpose of a VJP (``_nested_jvp``):
tensors carry one tangent level, which the outer transform owns.  ``jacrev`` pulls the
whole cotangent basis back in ONE batched backward (``vmap`` of the VJP), ``jacfwd``
pushes the tangent basis in one batched forward pass.
"""
from __future__ import annotations

import functools

from .._core._tensor import Tensor, _new
from .._core._grad_mode import enable_grad, state
from .._core._engine import grad as _engine_grad
from .._core._primitive import apply1
from .._core._forward import tangent_of
from .._core._batching import BatchedTensor, current_level, expand_to_level, wrap
from .._creation_functions import eye, ones_like, zeros, zeros_like
from .._data_type_functions import astype
from .._manipulation_functions import permute_dims, reshape, stack
from ..autograd import forward_ad as _fwAD
from ._pytree import tree_flatten, tree_unflatten
from ._vmap import vmap

__all__ = ["grad", "grad_and_value", "vjp", "jvp", "linearize", "jacrev", "jacfwd", "hessian"]

# whether jacrev / jacfwd push the whole basis through one vmapped pass (else one pass
# per basis vector: the transitional fallback until vmap covers the rules the passes use).
# Inside an outer vmap the basis is always looped (each pass batched over the outer
# vmap): a basis level above batched outputs is not handled by the engine yet.
BATCHED_BASIS = {"reverse": True, "forward": True}


# -- helpers ---------------------------------------------------------------------------
def check_leaves(func, leaves, what="inputs"):
    """Every leaf is a floating-point or complex Tensor."""
    for x in leaves:
        if not isinstance(x, Tensor):
            raise TypeError(f"{func}: expected Tensors (or pytrees of them) as {what}, got "
                            f"{type(x).__name__}")
        if x.dtype.kind not in "fc":
            raise TypeError(f"{func}: can only differentiate with respect to floating-point or "
                            f"complex tensors, got {what} of dtype {x.dtype}")


def stand_in(p: Tensor, lift=True) -> Tensor:
    """A tensor standing for primal ``p`` inside a transform: it requires grad, stays
    connected to ``p``'s graph (if any) and keeps ``p``'s tangent (if any).  Inside vmap
    it is batched at the innermost level (``lift``; each example gets its own gradient),
    its physical value standing in, wrapped in the level."""
    if lift:
        level = current_level()
        if level:
            p = _lift(p, level)
    if p.__class__ is BatchedTensor:
        return wrap(stand_in(p._value, False), p._level)
    x = apply1(_fwAD._dual_prim(), p)
    if x._grad_fn is None:
        x._requires_grad = True  # a fresh leaf sharing p's storage
    return x


def _lift(p, top):
    """``p`` batched at every vmap level ``1..top`` (levels are numbered from 1), by
    broadcasting at the levels it lacks, except those where its forward-mode tangent is
    batched (jacfwd's basis: ``p`` stays one primal with many tangents)."""
    if p.__class__ is BatchedTensor:
        out = wrap(_lift(p._value, p._level - 1), p._level)
        first = p._level + 1
    else:
        out, first = p, 1
    skip = _levels_of(tangent_of(p)) if first == 1 and state.dual_level else ()
    for level in range(first, top + 1):
        if level not in skip:
            out = expand_to_level(out, level)
    return out


def _levels_of(t):
    """The vmap levels at which ``t`` is batched."""
    levels = []
    while t is not None and t.__class__ is BatchedTensor:
        levels.append(t._level)
        t = t._value
    return levels


def outer_graph(leaves) -> bool:
    """Whether results must stay differentiable for an enclosing differentiation."""
    return state.grad_enabled and any(p.requires_grad for p in leaves)


def strip(t, keep_graph: bool):
    """``t`` without its graph (unless kept), keeping its forward-mode tangent."""
    if keep_graph or not isinstance(t, Tensor):
        return t
    if t.__class__ is BatchedTensor:
        return wrap(strip(t._value, False), t._level)
    out = _new(t._data, t._device) if type(t) is Tensor else t.detach()
    tt = getattr(t, "_tangent", None)
    if tt is not None:
        out._tangent = tt
    return out


def strip_tree(tree, keep_graph: bool):
    if isinstance(tree, Tensor):
        return strip(tree, keep_graph)
    leaves, spec = tree_flatten(tree)
    return tree_unflatten([strip(t, keep_graph) for t in leaves], spec)


def split_aux(func, out, has_aux):
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ValueError(f"{func}: has_aux=True needs the function to return a tuple "
                         f"(output, aux), got {type(out).__name__}")
    return out


def normalize_argnums(func, argnums, n):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums:
        raise ValueError(f"{func}: argnums must be an int or a non-empty tuple of ints")
    for a in nums:
        if not isinstance(a, int) or not -n <= a < n:
            raise ValueError(f"{func}: argnums {argnums} out of range for a function called "
                             f"with {n} positional arguments")
    nums = tuple(a % n for a in nums)
    if len(set(nums)) != len(nums):
        raise ValueError(f"{func}: argnums {argnums} has duplicates")
    return nums


def _with_args(args, nums, values):
    xs = list(args)
    for i, v in zip(nums, values):
        xs[i] = v
    return xs


def backprop(outs, targets, cots, create_graph):
    """The cotangents of ``targets`` (zeros where unreached) for ``outs`` seeded with ``cots``."""
    roots, seeds = [], []
    for o, c in zip(outs, cots):
        if o.requires_grad and c is not None:
            roots.append(o)
            seeds.append(c)
    gs = (_engine_grad(roots, targets, seeds, retain_graph=True, create_graph=create_graph,
                       allow_unused=True) if roots else (None,) * len(targets))
    return [g if g is not None else zeros_like(t) for g, t in zip(gs, targets)]


# -- grad, grad_and_value ----------------------------------------------------------------
def grad_and_value(func, argnums=0, has_aux=False):
    """``func`` -> a function returning ``(gradient, value)`` of scalar-valued ``func``
    (``(gradient, (value, aux))`` with ``has_aux``).  The gradient has the structure of
    argument ``argnums`` (an int), or is a tuple over a tuple of ``argnums``; arguments
    may be pytrees (tuples, lists, dicts) of tensors."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        nums = normalize_argnums("grad", argnums, len(args))
        leaves, spec = tree_flatten(tuple(args[i] for i in nums))
        check_leaves("grad", leaves)
        keep = outer_graph(leaves)
        with enable_grad():
            inner = [stand_in(p) for p in leaves]
            out, aux = split_aux("grad", func(*_with_args(args, nums, tree_unflatten(inner, spec)),
                                              **kwargs), has_aux)
            if not isinstance(out, Tensor) or out.ndim != 0:
                raise RuntimeError(
                    f"grad: expected the function to return a scalar (0-d) tensor, got "
                    f"{getattr(out, 'shape', type(out).__name__)}; use vjp or jacrev for other "
                    "outputs")
            gs = backprop((out,), inner, (ones_like(out),), create_graph=keep)
        g = tree_unflatten([strip(t, keep) for t in gs], spec)
        g = g[0] if isinstance(argnums, int) else g
        value = strip(out, keep)
        return (g, (value, strip_tree(aux, keep))) if has_aux else (g, value)
    return wrapper


def grad(func, argnums=0, has_aux=False):
    """``func`` -> its gradient function (``(gradient, aux)`` with ``has_aux``); see
    ``grad_and_value``."""
    gv = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        g, value = gv(*args, **kwargs)
        return (g, value[1]) if has_aux else g
    return wrapper


# -- vjp ------------------------------------------------------------------------------------
def vjp(func, *primals, has_aux=False):
    """``(func(*primals), vjp_fn)`` (``(output, vjp_fn, aux)`` with ``has_aux``).

    ``vjp_fn(cotangents)`` takes cotangents with the structure of the output and
    returns a tuple with one cotangent per primal (each with that primal's structure)."""
    leaves, spec = tree_flatten(primals)
    check_leaves("vjp", leaves, "primals")
    keep = outer_graph(leaves)
    with enable_grad():
        inner = [stand_in(p) for p in leaves]
        out, aux = split_aux("vjp", func(*tree_unflatten(inner, spec)), has_aux)
    outs, out_spec = tree_flatten(out)
    for o in outs:
        if not isinstance(o, Tensor):
            raise TypeError(f"vjp: the function must return Tensors (or a pytree of them), got "
                            f"{type(o).__name__}")

    def vjp_fn(cotangents, retain_graph=True, create_graph=None):
        cots, cot_spec = tree_flatten(cotangents)
        if cot_spec != out_spec:
            raise ValueError(f"vjp_fn: the cotangents have structure {cot_spec!r}, the output "
                             f"has structure {out_spec!r}")
        for o, c in zip(outs, cots):
            if not isinstance(c, Tensor) or c.shape != o.shape:
                raise ValueError(f"vjp_fn: a cotangent has shape {getattr(c, 'shape', None)}, "
                                 f"its output has shape {o.shape}")
        graph = keep or any(c.requires_grad for c in cots) if create_graph is None \
            else bool(create_graph)
        with enable_grad():
            gs = backprop(outs, inner, cots, create_graph=graph)
        return tree_unflatten([strip(g, graph) for g in gs], spec)

    value = strip_tree(out, keep)
    return (value, vjp_fn, strip_tree(aux, keep)) if has_aux else (value, vjp_fn)


# -- jvp, linearize --------------------------------------------------------------------------
class _NoGraph:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """``(func(*primals), jvp_out)``: the forward-mode derivative of ``func`` at
    ``primals`` (a tuple of pytrees) along ``tangents`` (the same structure); the
    output tangent has the output's structure (``(out, jvp_out, aux)`` with ``has_aux``)."""
    if not isinstance(primals, tuple):
        raise TypeError(f"jvp: expected primals to be a tuple, got {type(primals).__name__}")
    if not isinstance(tangents, tuple):
        raise TypeError(f"jvp: expected tangents to be a tuple, got {type(tangents).__name__}")
    leaves, spec = tree_flatten(primals)
    tans, tan_spec = tree_flatten(tangents)
    check_leaves("jvp", leaves, "primals")
    if tan_spec != spec:
        raise ValueError(f"jvp: the tangents have structure {tan_spec!r}, the primals "
                         f"{spec!r}")
    for p, t in zip(leaves, tans):
        if not isinstance(t, Tensor) or t.shape != p.shape:
            raise ValueError(f"jvp: a tangent has shape {getattr(t, 'shape', None)}, its primal "
                             f"has shape {p.shape}")
    keep = outer_graph(leaves)
    if state.dual_level:  # nested forward mode (jacfwd(jacfwd(f)), jvp inside jvp)
        tans = [t if t.dtype == p.dtype else astype(t, p.dtype) for p, t in zip(leaves, tans)]
        return _nested_jvp(func, primals, tree_unflatten(tans, spec), has_aux, keep)
    with _fwAD.dual_level():
        duals = [_fwAD.make_dual(p, t if t.dtype == p.dtype else astype(t, p.dtype))
                 for p, t in zip(leaves, tans)]
        with enable_grad() if keep else _NoGraph():
            out, aux = split_aux("jvp", func(*tree_unflatten(duals, spec)), has_aux)
        outs, out_spec = tree_flatten(out)
        prims, touts = [], []
        for o in outs:
            if not isinstance(o, Tensor):
                raise TypeError(f"jvp: the function must return Tensors (or a pytree of them), "
                                f"got {type(o).__name__}")
            prim, tan = _fwAD.unpack_dual(o)
            prims.append(strip(prim, keep))
            touts.append(zeros_like(o) if tan is None else strip(tan, keep))
        aux = strip_tree(aux, keep)
    res = (tree_unflatten(prims, out_spec), tree_unflatten(touts, out_spec))
    return res + (aux,) if has_aux else res


def _nested_jvp(func, primals, tangents, has_aux, keep):
    """``jvp`` while a forward-mode level is open.  A tensor carries one tangent level,
    so the inner JVP is computed as the transpose of the VJP: ``J t`` is the VJP of the
    linear map ``u -> J^T u`` with cotangent ``t`` (two reverse passes, both building a
    graph), and the open level differentiates those passes as it does any backward
    (forward over reverse)."""
    res = vjp(func, *primals, has_aux=has_aux)
    out, pull = res[0], res[1]
    outs, out_spec = tree_flatten(out)
    with enable_grad():
        # the linear map's variable: one per output, batched where the output is, not
        # lifted into the other open vmap levels (the map is linear: any point will do)
        us = [stand_in(_zeros_as(o), lift=False) for o in outs]
        pulled = tree_flatten(pull(tree_unflatten(us, out_spec), create_graph=True))[0]
        touts = backprop(pulled, us, tree_flatten(tangents)[0], create_graph=True)
    res2 = (out, tree_unflatten([strip(t, keep) for t in touts], out_spec))
    return res2 + (res[2],) if has_aux else res2


def _zeros_as(t):
    """Zeros with ``t``'s logical shape, batched at the vmap levels where ``t`` is."""
    if t.__class__ is BatchedTensor:
        return wrap(_zeros_as(t._value), t._level)
    return zeros_like(t)


def linearize(func, *primals):
    """``(func(*primals), jvp_fn)`` with ``jvp_fn(*tangents)`` the JVP at ``primals``.

    ``jvp_fn`` re-runs ``func`` in forward mode at each call (no trace is kept)."""
    out = strip_tree(func(*primals), False)

    def jvp_fn(*tangents):
        return jvp(func, primals, tangents)[1]
    return out, jvp_fn


# -- jacrev, jacfwd, hessian -------------------------------------------------------------
def basis_blocks(tensors):
    """The standard basis of the space of all ``tensors`` together, as one batch per
    tensor: ``blocks[k]`` has shape ``(N,) + tensors[k].shape`` (``N`` the total size),
    and stacking them row-wise gives the identity."""
    total = sum(t.size for t in tensors)
    blocks, off = [], 0
    for t in tensors:
        n = t.size
        if n == 0 or total == 0:
            blocks.append(zeros((total,) + tuple(t.shape), dtype=t.dtype, device=t.device))
        else:
            rows = eye(total, n, k=-off, dtype=t.dtype, device=t.device)
            blocks.append(reshape(rows, (total,) + tuple(t.shape)))
        off += n
    return total, blocks


def map_over_basis(fn, blocks, total, mode, chunk_size=None, randomness="error"):
    """``fn`` over the rows of ``blocks`` (batched: one ``vmap``), results stacked on a
    leading axis of length ``total``; ``fn`` returns a list of tensors."""
    if total == 0:
        raise ValueError("jacobian: zero-size inputs or outputs: nothing to differentiate")
    if BATCHED_BASIS[mode] and not current_level():
        return list(vmap(lambda *rows: tuple(fn(*rows)), chunk_size=chunk_size,
                         randomness=randomness)(*blocks))
    per_row = [fn(*(b[i] for b in blocks)) for i in range(total)]
    return [stack([r[j] for r in per_row], axis=0) for j in range(len(per_row[0]))]


def jacobian_blocks(rows, row_sizes, row_shapes, col_sizes, col_shapes, rows_first):
    """Cut stacked derivative rows into one Jacobian per (output, input) pair.

    ``rows[j]`` has shape ``(sum(row_sizes),) + col_shapes[j]``: derivatives along each
    basis direction.  ``rows_first`` (reverse mode): result ``[k][j]`` has shape
    ``row_shapes[k] + col_shapes[j]``; otherwise (forward mode, basis over inputs) the
    basis index is moved last: ``col_shapes[j] + row_shapes[k]``."""
    out, off = [], 0
    for n_k, shape_k in zip(row_sizes, row_shapes):
        per = []
        for r, shape_j in zip(rows, col_shapes):
            piece = reshape(r[off:off + n_k], tuple(shape_k) + tuple(shape_j))
            if not rows_first and len(shape_k) and len(shape_j):
                nk, nj = len(shape_k), len(shape_j)
                piece = permute_dims(piece, tuple(range(nk, nk + nj)) + tuple(range(nk)))
            per.append(piece)
        out.append(per)
        off += n_k
    return out


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None):
    """``func`` -> its Jacobian function, in reverse mode: one batched VJP over the
    output basis.  The result has the output's structure, with, at each output, the
    Jacobians with respect to ``argnums`` (one, or a tuple), each of shape
    ``output.shape + input.shape``.  ``chunk_size`` bounds the rows pulled back at once."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        nums = normalize_argnums("jacrev", argnums, len(args))
        diff = tuple(args[i] for i in nums)

        def g(*d):
            return func(*_with_args(args, nums, d), **kwargs)
        res = vjp(g, *diff, has_aux=has_aux)
        out, pull = res[0], res[1]
        outs, out_spec = tree_flatten(out)
        prims, prim_spec = tree_flatten(diff)
        total, blocks = basis_blocks(outs)

        def row(*cots):
            return tree_flatten(pull(tree_unflatten(list(cots), out_spec)))[0]
        rows = map_over_basis(row, blocks, total, "reverse", chunk_size)
        per_out = jacobian_blocks(rows, [o.size for o in outs], [o.shape for o in outs],
                                  [p.size for p in prims], [p.shape for p in prims], True)
        jac = tree_unflatten([_by_argnums(tree_unflatten(js, prim_spec), argnums)
                              for js in per_out], out_spec)
        return (jac, res[2]) if has_aux else jac
    return wrapper


def _by_argnums(per_arg, argnums):
    return per_arg[0] if isinstance(argnums, int) else per_arg


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """``func`` -> its Jacobian function, in forward mode: one batched JVP over the input
    basis.  Same result structure as ``jacrev``."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        nums = normalize_argnums("jacfwd", argnums, len(args))
        diff = tuple(args[i] for i in nums)
        prims, prim_spec = tree_flatten(diff)
        check_leaves("jacfwd", prims)
        total, blocks = basis_blocks(prims)
        found = {}

        def g(*d):
            return func(*_with_args(args, nums, d), **kwargs)

        def column(*tans):
            res = jvp(g, diff, tree_unflatten(list(tans), prim_spec), has_aux=has_aux)
            touts, spec = tree_flatten(res[1])
            aux_leaves, found["aux"] = tree_flatten(res[2] if has_aux else None)
            found["spec"], found["shapes"] = spec, [t.shape for t in touts]
            return touts + aux_leaves
        cols = map_over_basis(column, blocks, total, "forward", randomness=randomness)
        shapes = found["shapes"]
        aux = tree_unflatten([a[0] for a in cols[len(shapes):]], found["aux"])
        cols = cols[:len(shapes)]
        sizes = [shape_size(s) for s in shapes]
        # cols[k]: (N,) + out_k.shape; as rows over the input basis, they are transposed
        per_in = jacobian_blocks(cols, [p.size for p in prims], [p.shape for p in prims],
                                 sizes, shapes, False)
        per_out = [[per_in[j][k] for j in range(len(prims))] for k in range(len(shapes))]
        jac = tree_unflatten([_by_argnums(tree_unflatten(js, prim_spec), argnums)
                              for js in per_out], found["spec"])
        return (jac, aux) if has_aux else jac
    return wrapper


def shape_size(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def hessian(func, argnums=0):
    """``func`` -> its Hessian function: ``jacfwd(jacrev(func, argnums), argnums)``
    (forward over reverse); shape ``input.shape + input.shape`` for one input."""
    return jacfwd(jacrev(func, argnums), argnums)

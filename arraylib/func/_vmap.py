"""``vmap``: torch.func's vectorizing map over arraylib tensors.

The machinery (batched tensors, levels, the batching path of ``apply``, rules) is in
``arraylib._core._batching``; its module docstring lists the internal API that the other
transforms use (``is_batched``, ``level_of``, ``current_level``, ``wrap``/``unwrap``,
``expand_to_level``, ``push_level``/``pop_level``, ``custom_function_rule``).
"""
from __future__ import annotations

import functools

from .._core import _batching
from .._core._tensor import Tensor
from .._manipulation_functions import concat, moveaxis
from ._pytree import tree_flatten, tree_unflatten

_wrap_plain = _batching.wrap_plain

__all__ = ["vmap"]

_RANDOMNESS = ("error", "different", "same")


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """``func`` mapped over a batch dimension of its inputs (torch.func.vmap).

    ``in_dims``/``out_dims``: an int (negative counts from the end), None (unbatched), or
    a pytree (tuple, list, dict) matching a prefix of the arguments / outputs.
    ``randomness``: 'error' (random functions raise), 'different' (each example draws its
    own numbers), 'same' (one draw for all).  ``chunk_size``: the most examples run at
    once (memory bound); None runs them all together.  Keyword arguments are unbatched."""
    if not callable(func):
        raise TypeError(f"vmap: func must be callable, got {type(func).__name__}")
    if randomness not in _RANDOMNESS:
        raise ValueError(f"vmap: randomness must be one of {_RANDOMNESS}, got {randomness!r}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"vmap: chunk_size must be a positive int or None, got {chunk_size!r}")
    _check_dims_spec("in_dims", in_dims)
    _check_dims_spec("out_dims", out_dims)

    plain = _plain_dims(in_dims)

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        if plain is not None and chunk_size is None and not kwargs and args:
            dims = plain if plain.__class__ is tuple else (0,) * len(args)
            level = _batching.current_level() + 1
            plain_in = _plain_inputs(args, dims, level)
            if plain_in is not None:  # the common case: tensors batched along their dim 0
                return _run_plain(func, plain_in[1], level, plain_in[0], out_dims, randomness)
        leaves, spec, dims = _flat_in(args, in_dims)
        n = _batch_size(leaves, dims)
        if chunk_size is None or chunk_size >= n:
            return _run(func, leaves, spec, dims, n, kwargs, out_dims, randomness)
        parts = []
        for start in range(0, n, chunk_size):
            m = min(chunk_size, n - start)
            chunk = [x if d is None else _narrow(x, d, start, m) for x, d in zip(leaves, dims)]
            parts.append(_run(func, chunk, spec, dims, m, kwargs, out_dims, randomness))
        return _join(parts, out_dims)
    return wrapped


def _plain_dims(in_dims):
    """``in_dims`` when every argument is batched at dim 0 or unbatched: 0, or a tuple of
    0s and Nones (the fast path's); None for any other spec."""
    if in_dims == 0 and in_dims.__class__ is int:
        return 0
    if isinstance(in_dims, (tuple, list)) and all(d is None or d.__class__ is int and d == 0
                                                   for d in in_dims):
        return tuple(in_dims)
    return None


def _plain_inputs(args, dims, level):
    """``(n, inputs)``: the batch size and the arguments, those with dim 0 wrapped at
    ``level``, when each of them is a plain tensor with a dim 0, all of one size (and one
    is); None otherwise (the general path checks and explains)."""
    if len(dims) != len(args):
        return None
    n = None
    ins = list(args)
    for i, d in enumerate(dims):
        if d is None:
            continue
        a = ins[i]
        if a.__class__ is not Tensor:
            return None
        s = a._data.shape
        if not s or n is not None and s[0] != n:
            return None
        n = s[0]
        ins[i] = _wrap_plain(a, level)
    return None if n is None else (n, ins)


def _check_dims_spec(what, dims):
    leaves, _ = tree_flatten(dims)
    for d in leaves:
        if not isinstance(d, int) or isinstance(d, bool):
            raise ValueError(f"vmap: {what} must be made of ints and None, got {d!r}")


def _prefix_dims(dims, tree, what, path="args"):
    """One dim per leaf of ``tree``, ``dims`` being a prefix pytree of it."""
    if dims is None or isinstance(dims, int):
        leaves, _ = tree_flatten(tree)
        return [dims] * len(leaves)
    if isinstance(dims, (tuple, list)) and isinstance(tree, (tuple, list)):
        if len(dims) != len(tree):
            raise ValueError(f"vmap: {what} has {len(dims)} entries at {path}, which has "
                             f"{len(tree)}; it must be an int, None or match its structure")
        out = []
        for i, (d, t) in enumerate(zip(dims, tree)):
            out += _prefix_dims(d, t, what, f"{path}[{i}]")
        return out
    if isinstance(dims, dict) and isinstance(tree, dict):
        if set(dims) != set(tree):
            raise ValueError(f"vmap: {what} has keys {sorted(map(str, dims))} at {path}, which "
                             f"has {sorted(map(str, tree))}")
        out = []
        for k in tree:
            out += _prefix_dims(dims[k], tree[k], what, f"{path}[{k!r}]")
        return out
    raise ValueError(f"vmap: {what} ({dims!r}) does not match the structure at {path} "
                     f"({type(tree).__name__})")


def _flat_in(args, in_dims):
    if isinstance(in_dims, int) or in_dims is None:
        dims_tree = in_dims
    elif isinstance(in_dims, (tuple, list)):
        dims_tree = tuple(in_dims)
        if len(dims_tree) != len(args):
            raise ValueError(f"vmap: in_dims has {len(dims_tree)} entries but the function got "
                             f"{len(args)} positional arguments")
    else:
        raise ValueError(f"vmap: in_dims must be an int, None or a tuple, got {in_dims!r}")
    leaves, spec = tree_flatten(args)
    dims = _prefix_dims(dims_tree, args, "in_dims")
    for i, (x, d) in enumerate(zip(leaves, dims)):
        if d is None:
            continue
        if not isinstance(x, Tensor):
            raise ValueError(f"vmap: in_dim {d} given for an input of type {type(x).__name__}; "
                             "only Tensors can be batched (use None for it)")
        nd = x.ndim
        if not -nd <= d < nd:
            raise ValueError(f"vmap: in_dim {d} is out of range for an input of shape "
                             f"{tuple(x.shape)}")
        dims[i] = d % nd
    return leaves, spec, dims


def _batch_size(leaves, dims):
    sizes = {x.shape[d] for x, d in zip(leaves, dims) if d is not None}
    if not sizes:
        raise ValueError("vmap: no input is batched (every in_dim is None, or no Tensor "
                         "inputs); at least one input must be batched")
    if len(sizes) > 1:
        shown = [(tuple(x.shape), d) for x, d in zip(leaves, dims) if d is not None]
        raise ValueError(f"vmap: the batched inputs have different sizes along their in_dims: "
                         f"{sorted(sizes)} (shape, in_dim: {shown})")
    return sizes.pop()


def _narrow(x, d, start, m):
    key = (slice(None),) * d + (slice(start, start + m),)
    return x[key]


def _run(func, leaves, spec, dims, n, kwargs, out_dims, randomness):
    level = _batching.push_level(n, randomness)
    try:
        batched = [x if d is None else _batching.wrap(moveaxis(x, d, 0) if d else x, level)
                   for x, d in zip(leaves, dims)]
        out = func(*tree_unflatten(batched, spec), **kwargs)
        return _unwrap_out(out, out_dims, level, n)
    finally:
        _batching.pop_level(level)


def _run_plain(func, ins, level, n, out_dims, randomness):
    _batching.push_level(n, randomness)  # (``level``: the one the inputs were wrapped for)
    try:
        out = func(*ins)
        if out.__class__ is _batching.BatchedTensor and out._level == level and out_dims == 0:
            return out._value
        return _unwrap_out(out, out_dims, level, n)
    finally:
        _batching.pop_level(level)


def _unwrap_out(out, out_dims, level, n):
    leaves, spec = tree_flatten(out)
    if isinstance(out_dims, (tuple, list)) and not isinstance(out, (tuple, list)):
        if len(out_dims) != 1:
            raise ValueError(f"vmap: out_dims has {len(out_dims)} entries but the function "
                             "returned one output")
        out_dims = out_dims[0]
    dims = _prefix_dims(out_dims, out, "out_dims", "outputs")
    res = []
    for x, d in zip(leaves, dims):
        if not isinstance(x, Tensor):
            raise ValueError(f"vmap: the function must return Tensors, got a "
                             f"{type(x).__name__} among its outputs")
        v = _batching.unwrap(x, level)
        if d is None:
            if v is not None:
                raise ValueError(f"vmap: out_dim None for an output that is batched (logical "
                                 f"shape {tuple(x.shape)}); give it an int out_dim")
            res.append(x)
            continue
        if v is None:
            v = _batching.expand_batch(x, n)
        nd = v.ndim
        if not -nd <= d < nd:
            raise ValueError(f"vmap: out_dim {d} is out of range for an output of logical "
                             f"shape {tuple(x.shape)}")
        d %= nd
        res.append(moveaxis(v, 0, d) if d else v)
    return tree_unflatten(res, spec)


def _join(parts, out_dims):
    first_leaves, spec = tree_flatten(parts[0])
    dims = _prefix_dims(out_dims, parts[0], "out_dims", "outputs")
    per = [tree_flatten(p)[0] for p in parts]
    res = []
    for i, d in enumerate(dims):
        if d is None:
            res.append(first_leaves[i])
        else:
            x0 = first_leaves[i]
            res.append(concat([p[i] for p in per], axis=d % x0.ndim))
    return tree_unflatten(res, spec)

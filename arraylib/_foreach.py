"""PyTorch's list-wise in-place updates: ``_foreach_*`` and ``_fused_sgd_``.

``_foreach_add_(xs, ys, alpha=a)`` is ``for x, y in zip(xs, ys): x.add_(y, alpha=a)``,
same results and same rules (version counters bumped, graph recorded when grad mode
asks for it); where no graph is made, each update runs on the storage with the mode
read once for the list.  ``_fused_sgd_`` is SGD's whole update, one parameter at a time
(its tensors stay in cache), the arithmetic of the step written with the public
operations, in the same order; ``optim.SGD`` uses it.
"""
from __future__ import annotations

from ._core._inplace import (bump_version, storage_group_ready, storage_inplace_each,
                             storage_updates_allowed)
from ._core._tensor import Tensor

__all__ = ["_foreach_add_", "_foreach_sub_", "_foreach_mul_", "_foreach_div_", "_fused_sgd_"]


def _each(what, method, xs, others, name, **alpha):
    """Update each ``xs[i]`` with ``others[i]`` (or with the scalar ``others``): on the
    storage where it may, else with ``method`` (the Tensor method, which records or raises
    as it does alone)."""
    if xs.__class__ is not list and xs.__class__ is not tuple:
        raise TypeError(f"{what}: expected a list of tensors, got {type(xs).__name__}")
    if (others.__class__ is list or others.__class__ is tuple) and len(others) != len(xs):
        raise RuntimeError(f"{what}: tensor lists must have the same number of tensors, "
                           f"got {len(xs)} and {len(others)}")
    try:
        left = storage_inplace_each(xs, name, others, **alpha)
    except AttributeError:
        bad = next((x for x in xs if not isinstance(x, Tensor)), None)
        if bad is None:
            raise
        raise TypeError(f"{what}: expected a list of tensors, got an item of type "
                        f"{type(bad).__name__}") from None
    for i in left:
        o = others[i] if others.__class__ is list or others.__class__ is tuple else others
        getattr(xs[i], method)(o, **alpha)


def _foreach_add_(self, other, *, alpha=1):
    """``x.add_(o, alpha=alpha)`` for each tensor ``x`` of ``self``."""
    _each("_foreach_add_", "add_", self, other, "add", alpha=alpha)


def _foreach_sub_(self, other, *, alpha=1):
    """``x.sub_(o, alpha=alpha)`` for each tensor ``x`` of ``self``."""
    _each("_foreach_sub_", "sub_", self, other, "subtract", alpha=alpha)


def _foreach_mul_(self, other):
    """``x.mul_(o)`` for each tensor ``x`` of ``self``."""
    _each("_foreach_mul_", "mul_", self, other, "multiply")


def _foreach_div_(self, other):
    """``x.div_(o)`` for each tensor ``x`` of ``self``."""
    _each("_foreach_div_", "div_", self, other, "divide")


def _fused_sgd_(self, grads, momentum_buffer_list, *, weight_decay, momentum, lr, dampening,
                nesterov, maximize, is_first_step):
    """PyTorch's ``_fused_sgd_``: for each parameter ``p`` of ``self`` with gradient ``g``
    and momentum buffer ``b`` (updated in place; unused when ``momentum == 0``)::

        g = -g (maximize); g = g + weight_decay * p
        b = g (is_first_step) or momentum * b + (1 - dampening) * g
        g = g + momentum * b (nesterov) else b
        p = p - lr * g

    A parameter whose tensors may be updated on the storage is (bit-identically, the same
    operations in the same order); any other takes the public in-place operations."""
    n = len(self)
    if momentum == 0:
        momentum_buffer_list = [None] * n
    if len(momentum_buffer_list) != n or len(grads) != n:
        raise RuntimeError(f"_fused_sgd_: got {n} parameters, {len(grads)} gradients "
                           f"and {len(momentum_buffer_list)} momentum buffers")
    try:
        ready = storage_updates_allowed() and storage_group_ready(self, grads,
                                                                  momentum_buffer_list)
    except AttributeError:  # not all tensors: the public operations say which
        ready = False
    plain = not (maximize or weight_decay != 0 or nesterov or dampening != 0 or is_first_step)
    step = (weight_decay, momentum, lr, dampening, nesterov, maximize, is_first_step)
    consts = _NO_CONSTANTS
    for p, g, b, ready in zip(self, grads, momentum_buffer_list, ready or [False] * n):
        if ready and plain:  # the common step, inlined: b = momentum * b + g; p -= lr * b
            pd = p._data
            if pd.dtype is not consts[1] or p._device is not consts[0]:
                consts = _step_constants(p._device, pd.dtype, lr, momentum)
            if b is None:
                pd -= consts[2] * g._data
            else:
                bd = b._data
                bd *= consts[3]
                bd += g._data
                bump_version(b)
                pd -= consts[2] * bd
            bump_version(p)
        elif ready:
            _sgd_storage(p, g._data, b, *step)
        elif isinstance(p, Tensor) and isinstance(g, Tensor) and (b is None or isinstance(b, Tensor)):
            _sgd_tensors(p, g, b, *step)
        else:
            group = (p, g) if b is None else (p, g, b)
            raise TypeError(f"_fused_sgd_: expected tensors, got "
                            f"{', '.join(type(t).__name__ for t in group)}")


_CONSTANTS: dict = {}  # (id(device), id(dtype), lr, momentum) -> _step_constants' tuple
_NO_CONSTANTS = (None, None, None, None)


def _step_constants(dev, dt, lr, momentum):
    """``(dev, dt, lr, momentum)``, the two scalars as 0-d storage of dtype ``dt`` on
    ``dev``: the values a Python scalar is cast to next to a ``dt`` array (the step stays
    bit-identical), without NumPy's slower Python-scalar path (0.5 us an operation).
    Scalars that are not Python numbers (a tensor ``lr``) stay as they are."""
    key = (id(dev), id(dt), lr, momentum)
    c = _CONSTANTS.get(key)
    if c is None or c[0] is not dev or c[1] is not dt:
        B = dev._backend
        cast = [B.asarray(v, dtype=dt) if v.__class__ is float or v.__class__ is int else v
                for v in (lr, momentum)]
        if len(_CONSTANTS) >= 64:
            _CONSTANTS.clear()
        c = _CONSTANTS[key] = (dev, dt, cast[0], cast[1])
    return c


def _sgd_storage(p, g, b, weight_decay, momentum, lr, dampening, nesterov, maximize,
                 is_first_step):
    """One parameter's step on storage (``g`` the gradient's storage, ``b`` the buffer)."""
    pd = p._data
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * pd
    if b is not None:
        bd = b._data
        if is_first_step:
            bd[...] = g
        else:
            bd *= momentum
            if dampening == 0:
                bd += g
            else:
                bd += (1 - dampening) * g
        bump_version(b)
        g = g + momentum * bd if nesterov else bd
    pd -= lr * g
    bump_version(p)


def _sgd_tensors(p, g, b, weight_decay, momentum, lr, dampening, nesterov, maximize,
                 is_first_step):
    """One parameter's step with the public in-place operations (any device or mode)."""
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    if b is not None:
        if is_first_step:
            b.copy_(g)
        else:
            b.mul_(momentum).add_(g, alpha=1 - dampening)
        g = g + momentum * b if nesterov else b
    p.sub_(g, alpha=lr)

"""PyTorch's ``_foreach`` in-place operations: one call updates a list of tensors.

``_foreach_add_(xs, ys, alpha=a)`` is ``for x, y in zip(xs, ys): x.add_(y, alpha=a)``,
same results and same rules (version counters bumped, graph recorded when grad mode
asks for it); where no graph is made, each update runs on the storage with the mode
read once for the list.  Optimizers use them for their steps.
"""
from __future__ import annotations

from ._core._inplace import storage_inplace_each
from ._core._tensor import Tensor

__all__ = ["_foreach_add_", "_foreach_sub_", "_foreach_mul_", "_foreach_div_"]


def _pairs(what, xs, others):
    """``others`` as one item per tensor of ``xs`` (a scalar stands for all)."""
    if not isinstance(xs, (list, tuple)):
        raise TypeError(f"{what}: expected a list of tensors, got {type(xs).__name__}")
    if others.__class__ is list or others.__class__ is tuple:
        if len(others) != len(xs):
            raise RuntimeError(f"{what}: tensor lists must have the same number of tensors, "
                               f"got {len(xs)} and {len(others)}")
        return others
    return [others] * len(xs)


def _each(what, method, xs, others, name, **alpha):
    """Update each ``xs[i]`` with ``others[i]``: on the storage where it may, else with
    ``method`` (the Tensor method, which records or raises as it does alone)."""
    others = _pairs(what, xs, others)
    try:
        left = storage_inplace_each(xs, name, others, **alpha)
    except AttributeError:
        bad = next((x for x in xs if not isinstance(x, Tensor)), None)
        if bad is None:
            raise
        raise TypeError(f"{what}: expected a list of tensors, got an item of type "
                        f"{type(bad).__name__}") from None
    for i in left:
        getattr(xs[i], method)(others[i], **alpha)


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

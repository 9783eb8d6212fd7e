"""Fused in-place parameter updates for ``arraylib.optim`` (PyTorch's ``_foreach`` idea).

An optimizer step made of public operations costs several namespace calls per
parameter, each allocating a tensor, plus a copy for the in-place write.  These
helpers run the same arithmetic, in the same order (so results are bit-identical),
as in-place operators of the standard on each tensor's storage, and bump the
version counters of what they change.  They are device-agnostic (standard
in-place operators only) and must be called under ``no_grad``.
"""
from __future__ import annotations

from ._core._inplace import bump_version

__all__: list = []


def sgd_(params, grads, bufs, *, lr, momentum, dampening, weight_decay, nesterov, maximize):
    """One SGD step for each ``params[i]`` with gradient ``grads[i]`` and momentum
    buffer ``bufs[i]`` (a tensor, updated in place, or None when ``momentum == 0``)::

        g = -g (maximize); g = g + weight_decay * p
        b = momentum * b + (1 - dampening) * g
        g = g + momentum * b (nesterov) else b
        p = p - lr * g
    """
    for p, gt, bt in zip(params, grads, bufs):
        pd = p._data
        g = gt._data
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * pd
        if bt is not None:
            b = bt._data
            b *= momentum
            if dampening == 0:
                b += g
            else:
                b += (1 - dampening) * g
            bump_version(bt)
            g = g + momentum * b if nesterov else b
        pd -= lr * g
        bump_version(p)

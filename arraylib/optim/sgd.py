"""Stochastic gradient descent (with momentum, dampening, Nesterov, weight decay)."""
from __future__ import annotations

import arraylib as al

from .optimizer import Optimizer, _check, required

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent, PyTorch's update rule exactly.

    For each parameter ``p`` with gradient ``g`` (step ``t``)::

        g = -g                              if maximize
        g = g + weight_decay * p            if weight_decay != 0
        if momentum != 0:
            b = g                           at t = 1
            b = momentum * b + (1 - dampening) * g   afterwards
            g = g + momentum * b            if nesterov else  g = b
        p = p - lr * g

    State: ``momentum_buffer`` (``b``).
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False, foreach=None, differentiable=False,
                 fused=None):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _validate(self, g):
        n = "SGD"
        _check(n, g["lr"] is not required and g["lr"] >= 0.0, f"Invalid learning rate: {g['lr']}")
        _check(n, g["momentum"] >= 0.0, f"Invalid momentum value: {g['momentum']}")
        _check(n, g["weight_decay"] >= 0.0, f"Invalid weight_decay value: {g['weight_decay']}")
        _check(n, not g["nesterov"] or (g["momentum"] > 0 and g["dampening"] == 0),
               "Nesterov momentum requires a momentum and zero dampening")

    def _step(self):
        """One step of every parameter (under no_grad, so the in-place updates run on
        the storage), PyTorch's arithmetic in PyTorch's order::

            g = -g (maximize); g = g + weight_decay * p
            b = momentum * b + (1 - dampening) * g      (b = g on the first step)
            g = g + momentum * b (nesterov) else b
            p = p - lr * g
        """
        state = self.state
        for group in self.param_groups:
            momentum = group["momentum"]
            steady, first = ([], [], []), ([], [], [])  # params, grads, momentum buffers
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                lists, b = steady, None
                if momentum != 0:
                    b = state[p].get("momentum_buffer")
                    if b is None:  # a first step: the buffer becomes g (PyTorch)
                        lists, b = first, al.empty_like(g)
                        state[p]["momentum_buffer"] = b
                lists[0].append(p)
                lists[1].append(g)
                lists[2].append(b)
            for (params, grads, bufs), is_first in ((steady, False), (first, True)):
                if params:
                    al._fused_sgd_(params, grads, bufs, weight_decay=group["weight_decay"],
                                   momentum=momentum, lr=group["lr"],
                                   dampening=group["dampening"], nesterov=group["nesterov"],
                                   maximize=group["maximize"], is_first_step=is_first)

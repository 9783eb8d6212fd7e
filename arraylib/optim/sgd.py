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
        for group in self.param_groups:
            params, grads = [], []
            for p in group["params"]:
                g = p.grad
                if g is not None:
                    params.append(p)
                    grads.append(g)
            if params:
                self._update(group, params, grads)

    def _update(self, group, params, grads):
        """The step of one group's ``params`` (with ``grads``), list-wise."""
        lr, momentum = group["lr"], group["momentum"]
        if group["maximize"]:
            grads = [-g for g in grads]
        if group["weight_decay"] != 0:
            grads = [g + group["weight_decay"] * p for p, g in zip(params, grads)]
        if momentum != 0:
            state = self.state
            bufs = [state[p].get("momentum_buffer") for p in params]
            if any(b is None for b in bufs):  # b = g on a first step (PyTorch)
                bufs = self._start_momentum(group, params, grads, bufs)
            else:
                al._foreach_mul_(bufs, momentum)
                al._foreach_add_(bufs, grads, alpha=1 - group["dampening"])
            grads = [g + momentum * b for g, b in zip(grads, bufs)] if group["nesterov"] \
                else bufs
        al._foreach_add_(params, grads, alpha=-lr)

    def _start_momentum(self, group, params, grads, bufs):
        """Each parameter's buffer: a copy of its gradient on its first step, the old one
        advanced (``b = momentum * b + (1 - dampening) * g``) otherwise."""
        out = []
        for p, g, b in zip(params, grads, bufs):
            if b is None:
                b = self.state[p]["momentum_buffer"] = al.asarray(g, copy=True)
            else:
                b.mul_(group["momentum"]).add_(g, alpha=1 - group["dampening"])
            out.append(b)
        return out

"""Stochastic gradient descent (with momentum, dampening, Nesterov, weight decay)."""
from __future__ import annotations

import arraylib as al

from .optimizer import Optimizer, _check, required
from .. import _foreach

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
        state = self.state
        for group in self.param_groups:
            momentum = group["momentum"]
            params, grads, bufs = [], [], []
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                params.append(p)
                grads.append(g)
                if momentum != 0:
                    st = state[p]
                    buf = st.get("momentum_buffer")
                    if buf is None:
                        # first step: b = g (after maximize / weight decay), as PyTorch
                        if group["maximize"]:
                            g = -g
                        if group["weight_decay"] != 0:
                            g = g + group["weight_decay"] * p
                        st["momentum_buffer"] = al.asarray(g, copy=True)
                        with_step = g + momentum * g if group["nesterov"] else g
                        p -= group["lr"] * with_step
                        params.pop()
                        grads.pop()
                        continue
                    bufs.append(buf)
                else:
                    bufs.append(None)
            if params:
                _foreach.sgd_(params, grads, bufs, lr=group["lr"], momentum=momentum,
                              dampening=group["dampening"], weight_decay=group["weight_decay"],
                              nesterov=group["nesterov"], maximize=group["maximize"])

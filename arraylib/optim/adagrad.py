"""Adagrad."""
from __future__ import annotations

import arraylib as al

from .optimizer import Optimizer, _check

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad, PyTorch's update rule exactly.

    For each parameter ``p`` with gradient ``g`` at step ``t`` (from 1)::

        g = -g                                     if maximize
        g = g + weight_decay * p                   if weight_decay != 0
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g                              (s starts at initial_accumulator_value)
        p = p - clr * g / (sqrt(s) + eps)

    State: ``step``, ``sum`` (s, updated in place).
    """

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, foreach=None, *, maximize=False,
                 differentiable=False, fused=None):
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)

    def _validate(self, g):
        n = "Adagrad"
        _check(n, g["lr"] >= 0.0, f"Invalid learning rate: {g['lr']}")
        _check(n, g["lr_decay"] >= 0.0, f"Invalid lr_decay value: {g['lr_decay']}")
        _check(n, g["weight_decay"] >= 0.0, f"Invalid weight_decay value: {g['weight_decay']}")
        _check(n, g["initial_accumulator_value"] >= 0.0,
               f"Invalid initial_accumulator_value value: {g['initial_accumulator_value']}")
        _check(n, g["eps"] >= 0.0, f"Invalid epsilon value: {g['eps']}")

    def _init_group_state(self, group):
        for p in group["params"]:
            st = self.state[p]
            st["step"] = 0
            st["sum"] = al.full_like(p, float(group["initial_accumulator_value"]))

    def _step(self):
        state = self.state
        for group in self.param_groups:
            lr, lr_decay, eps, wd = group["lr"], group["lr_decay"], group["eps"], group["weight_decay"]
            maximize = group["maximize"]
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                st = state[p]
                step = st["step"] = st["step"] + 1
                if maximize:
                    g = -g
                if wd != 0:
                    g = g + wd * p
                clr = lr / (1 + (step - 1) * lr_decay)
                s = st["sum"]
                s += g * g
                denom = al.sqrt(s)
                denom += eps
                update = g / denom
                update *= clr
                p -= update

"""RMSprop (centered and momentum variants)."""
from __future__ import annotations

import arraylib as al

from .adam import _lerp_
from .optimizer import Optimizer, _check

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop, PyTorch's update rule exactly.

    For each parameter ``p`` with gradient ``g``::

        g = -g                                       if maximize
        g = g + weight_decay * p                     if weight_decay != 0
        s = alpha * s + (1 - alpha) * g * g
        if centered:
            a = a + (1 - alpha) * (g - a)            (lerp)
            avg = sqrt(s - a * a) + eps
        else:
            avg = sqrt(s) + eps
        if momentum > 0:
            b = momentum * b + g / avg;  p = p - lr * b
        else:
            p = p - lr * g / avg

    State (updated in place): ``step``, ``square_avg`` (s), ``grad_avg`` (a),
    ``momentum_buffer`` (b).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _validate(self, g):
        n = "RMSprop"
        _check(n, g["lr"] >= 0.0, f"Invalid learning rate: {g['lr']}")
        _check(n, g["eps"] >= 0.0, f"Invalid epsilon value: {g['eps']}")
        _check(n, g["momentum"] >= 0.0, f"Invalid momentum value: {g['momentum']}")
        _check(n, g["weight_decay"] >= 0.0, f"Invalid weight_decay value: {g['weight_decay']}")
        _check(n, g["alpha"] >= 0.0, f"Invalid alpha value: {g['alpha']}")

    def _step(self):
        state = self.state
        for group in self.param_groups:
            lr, alpha, eps, wd = group["lr"], group["alpha"], group["eps"], group["weight_decay"]
            momentum, centered, maximize = group["momentum"], group["centered"], group["maximize"]
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                st = state[p]
                if not st:
                    st["step"] = 0
                    st["square_avg"] = al.zeros_like(p)
                    if momentum > 0:
                        st["momentum_buffer"] = al.zeros_like(p)
                    if centered:
                        st["grad_avg"] = al.zeros_like(p)
                if maximize:
                    g = -g
                st["step"] += 1
                if wd != 0:
                    g = g + wd * p
                s = st["square_avg"]
                s *= alpha
                s += (1 - alpha) * g * g
                if centered:
                    a = _lerp_(st["grad_avg"], g, 1 - alpha)
                    avg = al.sqrt(s - a * a)
                else:
                    avg = al.sqrt(s)
                avg += eps
                if momentum > 0:
                    buf = st["momentum_buffer"]
                    buf *= momentum
                    buf += g / avg
                    p -= lr * buf
                else:
                    update = g / avg
                    update *= lr
                    p -= update

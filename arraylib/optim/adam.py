"""Adam and AdamW (with AMSGrad and maximize)."""
from __future__ import annotations

import arraylib as al
from arraylib._nn_kernels import adam_update_ as _adam_update_

from .optimizer import Optimizer, _check

__all__ = ["Adam", "AdamW"]


def _lerp_(a, b, w):
    """``a = a + w * (b - a)`` in place, rounded as PyTorch's ``lerp_``: for ``w >= 0.5``
    it computes ``b - (b - a) * (1 - w)``, here as ``((a - b) * (1 - w)) + b`` (the same
    numbers: negation is exact)."""
    if w < 0.5:
        a += w * (b - a)
    else:
        a -= b
        a *= 1 - w
        a += b
    return a


class Adam(Optimizer):
    r"""Adam, PyTorch's update rule exactly.

    For each parameter ``p`` with gradient ``g`` at step ``t`` (from 1)::

        g = -g                                   if maximize
        g = g + weight_decay * p                 if weight_decay != 0 (Adam)
        p = p * (1 - lr * weight_decay)          (AdamW: decoupled, instead)
        m = m + (1 - beta1) * (g - m)            (lerp)
        v = beta2 * v + (1 - beta2) * g * g      (m, v updated in place)
        v_max = maximum(v_max, v)                if amsgrad (then v_max replaces v below)
        denom = sqrt(v) / sqrt(1 - beta2**t) + eps
        p = p - lr / (1 - beta1**t) * (m / denom)

    State: ``step``, ``exp_avg`` (m), ``exp_avg_sq`` (v), ``max_exp_avg_sq``.
    """

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=None):
        if decoupled_weight_decay is not None:
            self._decoupled = bool(decoupled_weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=self._decoupled)
        super().__init__(params, defaults)

    def _validate(self, g):
        n = type(self).__name__
        _check(n, g["lr"] >= 0.0, f"Invalid learning rate: {g['lr']}")
        _check(n, g["eps"] >= 0.0, f"Invalid epsilon value: {g['eps']}")
        b1, b2 = g["betas"]
        _check(n, 0.0 <= b1 < 1.0, f"Invalid beta parameter at index 0: {b1}")
        _check(n, 0.0 <= b2 < 1.0, f"Invalid beta parameter at index 1: {b2}")
        _check(n, g["weight_decay"] >= 0.0, f"Invalid weight_decay value: {g['weight_decay']}")

    def _step(self):
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                self._step_group(group, params)

    def _step_group(self, group, params):
        """The group's parameters with a gradient: their state made and counted, then the
        update on storage where it may (``adam_update_``), the tensor form for the rest."""
        state, amsgrad = self.state, group["amsgrad"]
        for p in params:
            st = state[p]
            if not st:
                st["step"] = 0
                st["exp_avg"] = al.zeros_like(p)
                st["exp_avg_sq"] = al.zeros_like(p)
                if amsgrad:
                    st["max_exp_avg_sq"] = al.zeros_like(p)
            st["step"] += 1
        sts = [state[p] for p in params]
        beta1, beta2 = group["betas"]
        rule = dict(lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                    weight_decay=group["weight_decay"],
                    decoupled=group.get("decoupled_weight_decay", self._decoupled),
                    amsgrad=amsgrad, maximize=group["maximize"])
        left = _adam_update_(params, [p.grad for p in params], [st["exp_avg"] for st in sts],
                             [st["exp_avg_sq"] for st in sts],
                             [st.get("max_exp_avg_sq") for st in sts],
                             [st["step"] for st in sts], **rule)
        for i in left:
            _adam_tensors(params[i], sts[i], **rule)


def _adam_tensors(p, st, *, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad,
                  maximize):
    """One parameter's step with the public operations (any device or mode)."""
    g = p.grad
    if maximize:
        g = -g
    if weight_decay != 0:
        if decoupled:
            p *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * p
    step = st["step"]
    m = _lerp_(st["exp_avg"], g, 1 - beta1)
    v = st["exp_avg_sq"]
    v *= beta2
    v += (1 - beta2) * g * g
    bc1 = 1 - beta1 ** step
    bc2_sqrt = (1 - beta2 ** step) ** 0.5
    if amsgrad:
        v = st["max_exp_avg_sq"] = al.maximum(st["max_exp_avg_sq"], v)
    denom = al.sqrt(v)
    denom /= bc2_sqrt
    denom += eps
    update = m / denom
    update *= lr / bc1
    p -= update


class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay, ``p = p * (1 - lr * weight_decay)``
    before the Adam update (see ``Adam`` for the rule); ``weight_decay`` defaults to 0.01."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)

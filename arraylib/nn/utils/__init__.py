"""``arraylib.nn.utils``: gradient clipping and parameter <-> vector conversion."""
from __future__ import annotations

import math

import arraylib as xp
from arraylib import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters",
           "get_total_norm"]


def _params(parameters):
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def _sum_of_squares(t):
    """``sum(t * t)`` of a real floating tensor as one dot product of its flattened self
    (one pass, no temporary; NumPy's pairwise sum of ``t * t`` costs a product array and
    two passes)."""
    flat = xp.reshape(t, (-1,))
    if t.dtype != xp.float64 and t.dtype != xp.float32:  # half precision: in float32
        flat = xp.astype(flat, xp.float32)
    return xp.matmul(flat, flat)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False):
    """The ``norm_type``-norm of all ``tensors`` together (as one vector)."""
    tensors = [t for t in _params(tensors) if t is not None]
    if not tensors:
        return xp.asarray(0.0)
    norm_type = float(norm_type)
    with xp.no_grad():
        if norm_type == math.inf:
            norms = [xp.max(xp.abs(t)) for t in tensors]
            total = xp.max(xp.stack([xp.astype(n, xp.float64 if n.dtype == xp.float64 else
                                               tensors[0].dtype) for n in norms]))
        elif norm_type == 2.0 and all(xp.isdtype(t.dtype, "real floating") for t in tensors):
            parts = [_sum_of_squares(t) for t in tensors]
            dtype = parts[0].dtype
            total = xp.sqrt(xp.sum(xp.stack([xp.astype(p, dtype) for p in parts])))
            total = xp.astype(total, tensors[0].dtype)
        else:
            parts = [xp.sum(xp.abs(t) ** norm_type) for t in tensors]
            total = xp.sum(xp.stack([xp.astype(p, parts[0].dtype) for p in parts])) \
                ** (1.0 / norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                           "`parameters` is non-finite, so it cannot be clipped. To disable this "
                           "error and scale the gradients by the non-finite norm anyway, set "
                           "`error_if_nonfinite=False`")
    return total


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale the gradients in place so that their total norm is at most ``max_norm``
    (as PyTorch: a reference to a ``.grad`` taken before sees the clipped values);
    returns the total norm before clipping."""
    params = [p for p in _params(parameters) if p.grad is not None]
    if not params:
        return xp.asarray(0.0)
    total = get_total_norm([p.grad for p in params], norm_type, error_if_nonfinite)
    with xp.no_grad():
        coef = xp.clip(max_norm / (total + 1e-6), max=1.0)
        host = float(coef) if coef.device.type == "cpu" else math.nan  # (no device sync)
        if 0.0 < host < math.inf:  # (0 or NaN: a non-finite norm, left to the general path)
            _scale_on_host(params, host)
            return total
        coefs = {}  # dtype -> the coefficient in it
        for p in params:
            g = p.grad
            c = coefs.get(g.dtype)
            if c is None:
                c = coefs[g.dtype] = xp.astype(coef, g.dtype)
            g.mul_(c)
    return total


def _scale_on_host(params, coef):
    """Each gradient times ``coef`` (a Python float, the coefficient computed in the
    gradients' dtype: the cast back is exact) in place, as one list-wise update; nothing
    to do for 1.0 (``g * 1 == g``)."""
    if coef != 1.0:
        xp._foreach_mul_([p.grad for p in params], coef)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element to ``[-clip_value, clip_value]`` in place."""
    clip_value = float(clip_value)
    with xp.no_grad():
        for p in _params(parameters):
            if p.grad is not None:
                p.grad = xp.clip(p.grad, -clip_value, clip_value)


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated into one 1-D tensor."""
    return xp.concat([xp.reshape(p, (-1,)) for p in _params(parameters)])


def vector_to_parameters(vec, parameters):
    """Copy slices of the 1-D ``vec`` into the parameters (in place)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    if vec.ndim != 1:
        raise ValueError(f"vector_to_parameters: expected a 1-D vector, got shape {vec.shape}")
    pointer = 0
    with xp.no_grad():
        for p in _params(parameters):
            n = p.size
            p[...] = xp.reshape(vec[pointer:pointer + n], p.shape)
            pointer += n
    if pointer != vec.shape[0]:
        raise ValueError(f"vector_to_parameters: vector of length {vec.shape[0]} doesn't match "
                         f"the {pointer} parameter elements")


from . import rnn  # noqa: E402,F401  (nn.utils.rnn, as in PyTorch)

"""``arraylib.nn.init``: in-place parameter initialisations, PyTorch's names and formulas.

Each function samples with the namespace's random functions (``xp.rand``,
``xp.randn``; optional ``generator``) and writes the values into the tensor
under ``no_grad``; it returns the tensor.
"""
from __future__ import annotations

import math

import arraylib as xp

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_",
           "zeros_", "eye_", "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
           "kaiming_normal_", "orthogonal_", "sparse_"]


def _write(tensor, values):
    with xp.no_grad():
        tensor[...] = values
    return tensor


def _rand(tensor, generator):
    return xp.rand(*tensor.shape, generator=generator, dtype=tensor.dtype, device=tensor.device)


def _randn(tensor, generator):
    return xp.randn(*tensor.shape, generator=generator, dtype=tensor.dtype, device=tensor.device)


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for ``nonlinearity`` (PyTorch's table)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d")
    if nonlinearity in linear or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor):
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 "
                         f"dimensions (shape {tensor.shape})")
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with U(a, b)."""
    return _write(tensor, _rand(tensor, generator) * (b - a) + a)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with N(mean, std^2)."""
    return _write(tensor, _randn(tensor, generator) * std + mean)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fill with N(mean, std^2) truncated to [a, b] (rejection: redraw the values outside)."""
    values = _randn(tensor, generator) * std + mean
    for _ in range(100):
        bad = xp.logical_or(values < a, values > b)
        if not bool(xp.any(bad)):
            break
        values = xp.where(bad, _randn(tensor, generator) * std + mean, values)
    return _write(tensor, xp.clip(values, a, b))


def constant_(tensor, val):
    return _write(tensor, xp.full(tensor.shape, val, dtype=tensor.dtype, device=tensor.device))


def ones_(tensor):
    return constant_(tensor, 1.0)


def zeros_(tensor):
    return constant_(tensor, 0.0)


def eye_(tensor):
    """Fill a 2-D tensor with the identity."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_: only tensors with 2 dimensions are supported, got {tensor.shape}")
    return _write(tensor, xp.eye(*tensor.shape, dtype=tensor.dtype, device=tensor.device))


def dirac_(tensor, groups=1):
    """Fill a 3-5-D convolution weight with the Dirac delta (identity convolution)."""
    nd = tensor.ndim
    if nd not in (3, 4, 5):
        raise ValueError("dirac_: only tensors with 3, 4, or 5 dimensions are supported")
    out_g = tensor.shape[0] // groups
    min_dim = min(out_g, tensor.shape[1])
    o = xp.reshape(xp.arange(tensor.shape[0], device=tensor.device), (-1,) + (1,) * (nd - 1))
    i = xp.reshape(xp.arange(tensor.shape[1], device=tensor.device), (1, -1) + (1,) * (nd - 2))
    hit = xp.logical_and(o % out_g == i, o % out_g < min_dim)
    for ax in range(2, nd):
        c = xp.reshape(xp.arange(tensor.shape[ax], device=tensor.device),
                       (1,) * ax + (-1,) + (1,) * (nd - ax - 1))
        hit = xp.logical_and(hit, c == tensor.shape[ax] // 2)
    return _write(tensor, xp.astype(hit, tensor.dtype))


def xavier_uniform_(tensor, gain=1.0, generator=None):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """U(-bound, bound), bound = gain * sqrt(3 / fan)."""
    if 0 in tensor.shape:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    bound = math.sqrt(3.0) * gain / math.sqrt(fan)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    if 0 in tensor.shape:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor, gain=1.0, generator=None):
    """Fill with a (semi-)orthogonal matrix from the QR of a Gaussian one (Saxe et al.)."""
    if tensor.ndim < 2:
        raise ValueError("orthogonal_: only tensors with 2 or more dimensions are supported")
    if tensor.size == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.size // rows
    flat = xp.randn(rows, cols, generator=generator, dtype=tensor.dtype, device=tensor.device)
    if rows < cols:
        flat = xp.matrix_transpose(flat)
    q, r = xp.linalg.qr(flat)
    d = xp.sign(xp.linalg.diagonal(r))
    q = q * d
    if rows < cols:
        q = xp.matrix_transpose(q)
    return _write(tensor, xp.reshape(q, tensor.shape) * gain)


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """2-D tensor: N(0, std^2) with a fraction ``sparsity`` of each column zeroed."""
    if tensor.ndim != 2:
        raise ValueError("sparse_: only tensors with 2 dimensions are supported")
    rows, cols = tensor.shape
    num_zeros = int(math.ceil(sparsity * rows))
    values = _randn(tensor, generator) * std
    ranks = xp.argsort(xp.argsort(xp.rand(rows, cols, generator=generator, device=tensor.device),
                                  axis=0), axis=0)
    return _write(tensor, xp.where(ranks < num_zeros, 0.0, values))


def _legacy(name):
    def f(*args, **kwargs):
        return globals()[name + "_"](*args, **kwargs)
    f.__name__ = name
    return f


uniform = _legacy("uniform")
normal = _legacy("normal")
constant = _legacy("constant")
xavier_uniform = _legacy("xavier_uniform")
xavier_normal = _legacy("xavier_normal")
kaiming_uniform = _legacy("kaiming_uniform")
kaiming_normal = _legacy("kaiming_normal")
orthogonal = _legacy("orthogonal")

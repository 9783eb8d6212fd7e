"""``arraylib.nn.functional`` (imported as ``F``): the functional form of every layer
and loss, in PyTorch's names, signatures and numerics.

Written against the public namespace only (``import arraylib as xp``), so every
function runs on any device.  Convolution and pooling use a differentiable
sliding-window view plus one matrix product / one reduction; they, relu, erf (exact
GELU), the fused linear layer and cross-entropy come from the declared nn-kernel module
``arraylib._nn_kernels``.
"""
from __future__ import annotations

import functools
import inspect
import math

import arraylib as xp
from arraylib import Tensor
from arraylib._nn_kernels import sliding_windows, fold_windows, pad_constant, crop, erf as _erf
from arraylib._nn_kernels import relu as _relu
from arraylib._nn_kernels import linear as _linear, fusable_linear as _fusable_linear
from arraylib._nn_kernels import cross_entropy as _cross_entropy
from arraylib._nn_kernels import fusable_cross_entropy as _fusable_cross_entropy
from arraylib._nn_kernels import binary_cross_entropy as _bce, unit_interval as _unit_interval
from arraylib._nn_kernels import autocast_state as _autocast
from arraylib._nn_kernels import gelu as _gelu, GELU_DTYPES as _GELU_DTYPES
from arraylib._nn_kernels import layer_norm as _layer_norm, LAYER_NORM_DTYPES as _LN_DTYPES
from arraylib._nn_kernels import dropout as _dropout_kernel, dropout_mask as _dropout_mask
from arraylib._nn_kernels import embedding_kernel as _embedding_kernel
from arraylib._nn_kernels import hardtanh_kernel as _hardtanh_kernel
from arraylib._nn_kernels import elu_kernel as _elu_kernel
from arraylib._nn_kernels import softplus_kernel as _softplus_kernel
from arraylib._nn_kernels import nll_loss_kernel as _nll_loss_kernel
from arraylib._nn_kernels import one_hot_kernel as _one_hot_kernel
from arraylib._nn_kernels import huber_kernel as _huber_kernel
from arraylib._nn_kernels import leaky_relu_kernel as _leaky_relu_kernel
from arraylib._nn_kernels import silu_kernel as _silu_kernel
from arraylib._nn_kernels import logsigmoid_kernel as _logsigmoid_kernel
from arraylib._nn_kernels import bce_logits_kernel as _bce_logits_kernel
from arraylib._torch_functions import softmax_along as _softmax_along
from arraylib._nn_kernels import zero_pad_cached as _zero_pad_cached
from arraylib._nn_kernels import kl_div_kernel as _kl_div_kernel
from arraylib._torch_functions import sigmoid as _tf_sigmoid
from ._attention import scaled_dot_product_attention
from ._functional_base import _tuple, _reduce, _check_same_dtype, _conv_nd, _max_pool_nd
from ._functional_base import _avg_pool_nd, _in_place, _softmax, _softmax_dim
from ._functional_base import _check_same_shape, _check_device, _prod

__all__ = [
    "linear", "bilinear", "conv1d", "conv2d", "conv_transpose2d", "max_pool1d", "max_pool2d",
    "avg_pool1d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm", "layer_norm", "group_norm",
    "dropout", "embedding", "relu", "relu_", "leaky_relu", "elu", "gelu", "silu", "sigmoid",
    "tanh", "softplus", "softmax", "log_softmax", "hardtanh", "relu6", "logsigmoid",
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "pad", "one_hot",
    "interpolate", "unfold", "fold", "flatten", "normalize",
    "scaled_dot_product_attention",
]


# -- helpers -----------------------------------------------------------------------
def _check_broadcasts(func, small, big, name):
    """RuntimeError naming ``func`` unless ``small`` broadcasts to ``big``'s shape."""
    a, b = tuple(small.shape), tuple(big.shape)
    if len(a) > len(b) or any(m != 1 and m != n for m, n in zip(a[::-1], b[::-1])):
        raise RuntimeError(f"{func}: {name} of shape {a} doesn't broadcast to the input's "
                           f"shape {b}")


def _check_class_weight(func, weight, input):
    c = input.shape[1] if input.ndim > 1 else input.shape[0]
    _check_device(func, input, weight, "weight")
    if tuple(weight.shape) != (c,):
        raise RuntimeError(f"{func}: weight tensor should be defined either for all {c} "
                           f"classes or no classes but got weight tensor of shape "
                           f"{tuple(weight.shape)}")


def _zero_like_scalar(x):
    return xp.zeros((), dtype=x.dtype, device=x.device)


# -- linear ------------------------------------------------------------------------
def linear(input, weight, bias=None):
    """``input @ weight.T + bias``; weight (out_features, in_features)."""
    if _autocast.active:  # inside arraylib.autocast: inputs in its dtype
        input, weight, bias = _autocast.lower(input, weight, bias)
    # One fused node for the common case (same real float dtype and device, matching shapes).
    if _fusable_linear(input, weight, bias):
        return _linear(input, weight, bias)
    _check_args("linear", {"input": input, "weight": weight}, {"bias": bias})
    _check_same_dtype("linear", input, weight, bias)
    out = xp.matmul(input, xp.matrix_transpose(weight))
    if bias is not None:
        out = out + bias
    return out


def bilinear(input1, input2, weight, bias=None):
    """``y[..., o] = x1 @ weight[o] @ x2 + bias[o]``; weight (out, in1, in2)."""
    o, n1, n2 = weight.shape
    lead = input1.shape[:-1]
    x1 = xp.reshape(input1, (-1, n1))
    x2 = xp.reshape(input2, (-1, n2))
    t = xp.matmul(x1, xp.reshape(xp.permute_dims(weight, (1, 0, 2)), (n1, o * n2)))
    out = xp.sum(xp.reshape(t, (-1, o, n2)) * xp.expand_dims(x2, axis=1), axis=-1)
    if bias is not None:
        out = out + bias
    return xp.reshape(out, lead + (o,))


def flatten(input, start_dim=0, end_dim=-1):
    nd = input.ndim
    if nd == 0:
        return xp.reshape(input, (1,))
    s, e = start_dim % nd, end_dim % nd
    shape = input.shape
    return xp.reshape(input, shape[:s] + (_prod(shape[s:e + 1]),) + shape[e + 1:])


# -- convolution -------------------------------------------------------------------
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation), PyTorch's ``F.conv1d``."""
    return _conv_nd("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation), PyTorch's ``F.conv2d``: sliding windows + one
    matrix product."""
    if input.__class__ is not Tensor or weight.__class__ is not Tensor \
            or bias is not None and bias.__class__ is not Tensor:
        _check_args("conv2d", {"input": input, "weight": weight}, {"bias": bias})
    return _conv_nd("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """2-D transposed convolution (the adjoint of ``conv2d``); weight (C_in, C_out/groups, kh, kw)."""
    if _autocast.active:  # inside arraylib.autocast: inputs in its dtype
        input, weight, bias = _autocast.lower(input, weight, bias)
    _check_same_dtype("conv_transpose2d", input, weight, bias)
    nd = 2
    if input.ndim == nd + 1:
        return conv_transpose2d(xp.expand_dims(input, axis=0), weight, bias, stride, padding,
                                output_padding, groups, dilation)[0]
    if input.ndim != nd + 2:
        raise ValueError(f"conv_transpose2d: expected a 3-D or 4-D input, got shape {input.shape}")
    stride, padding = _tuple(stride, nd), _tuple(padding, nd)
    output_padding, dilation = _tuple(output_padding, nd), _tuple(dilation, nd)
    n, c = input.shape[:2]
    ci, og = weight.shape[:2]
    kernel = weight.shape[2:]
    if ci != c or c % groups:
        raise ValueError(f"conv_transpose2d: input of shape {input.shape} doesn't match weight of "
                         f"shape {weight.shape} with groups={groups}")
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= s and op >= d:
            raise ValueError("conv_transpose2d: output padding must be smaller than either stride "
                             f"or dilation, got output_padding={output_padding}")
    sp = input.shape[2:]
    full = tuple((i - 1) * s + d * (k - 1) + 1 + op
                 for i, s, d, k, op in zip(sp, stride, dilation, kernel, output_padding))
    g = groups
    cg = c // g
    kk = kernel[0] * kernel[1]
    L = sp[0] * sp[1]
    x = xp.reshape(xp.permute_dims(xp.reshape(input, (n, g, cg, L)), (1, 0, 3, 2)), (g, n * L, cg))
    w = xp.reshape(weight, (g, cg, og * kk))
    cols = xp.matmul(x, w)  # (G, N*L, O/G*K)
    cols = xp.reshape(cols, (g, n) + sp + (og,) + tuple(kernel))
    cols = xp.permute_dims(cols, (1, 0, 4, 2, 3, 5, 6))
    cols = xp.reshape(cols, (n, g * og) + sp + tuple(kernel))
    out = fold_windows(cols, (n, g * og) + full, (2, 3), stride, dilation)
    if any(padding):
        out = crop(out, ((0, n), (0, g * og)) + tuple((p, f - p) for p, f in zip(padding, full)))
    if bias is not None:
        out = out + xp.reshape(bias, (g * og, 1, 1))
    return out


# -- pooling -----------------------------------------------------------------------
def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool_nd("max_pool1d", 1, input, kernel_size, stride, padding, dilation,
                        ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling: sliding windows + one max reduction."""
    if input.__class__ is not Tensor:
        _check_args("max_pool2d", {"input": input}, {})
    return _max_pool_nd("max_pool2d", 2, input, kernel_size, stride, padding, dilation,
                        ceil_mode, return_indices)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return _avg_pool_nd("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                        count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-D average pooling: sliding windows + one sum."""
    if input.__class__ is not Tensor:
        _check_args("avg_pool2d", {"input": input}, {})
    return _avg_pool_nd("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                        count_include_pad, divisor_override)


def _adaptive_matrix(n_in, n_out, dtype, device):
    """(n_out, n_in) averaging matrix of adaptive pooling (PyTorch's start/end rule)."""
    i = xp.arange(n_out, dtype=xp.int64, device=device)
    start = (i * n_in) // n_out
    end = -((-(i + 1) * n_in) // n_out)
    j = xp.reshape(xp.arange(n_in, dtype=xp.int64, device=device), (1, -1))
    start, end = xp.reshape(start, (-1, 1)), xp.reshape(end, (-1, 1))
    inside = xp.logical_and(j >= start, j < end)
    return xp.astype(inside, dtype) / xp.astype(end - start, dtype)


def adaptive_avg_pool2d(input, output_size):
    """Adaptive 2-D average pooling (two small matrix products)."""
    if input.ndim not in (3, 4):
        raise ValueError(f"adaptive_avg_pool2d: expected a 3-D or 4-D input, got shape {input.shape}")
    h, w = input.shape[-2:]
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    oh, ow = (h if output_size[0] is None else output_size[0],
              w if output_size[1] is None else output_size[1])
    if oh < 0 or ow < 0:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be non-negative, got "
                         f"{(oh, ow)}")
    if oh and ow and h % oh == 0 and w % ow == 0:
        return avg_pool2d(input, (h // oh, w // ow))
    ph = _adaptive_matrix(h, oh, input.dtype, input.device)
    pw = _adaptive_matrix(w, ow, input.dtype, input.device)
    return xp.matmul(xp.matmul(ph, input), xp.matrix_transpose(pw))


# -- normalisation -----------------------------------------------------------------
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation over all dims but 1; updates the running stats in place when
    training."""
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected at least a 2-D input, got shape {input.shape}")
    c = input.shape[1]
    axes = (0,) + tuple(range(2, input.ndim))
    bshape = (1, c) + (1,) * (input.ndim - 2)
    if training:
        count = input.size // c
        if count <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                             f"got input of shape {input.shape}")
        mean = xp.mean(input, axis=axes, keepdims=True)
        d = input - mean
        var = xp.mean(d * d, axis=axes, keepdims=True)
        if running_mean is not None or running_var is not None:
            with xp.no_grad():
                m = momentum
                if running_mean is not None:
                    running_mean[...] = (1 - m) * running_mean + m * xp.reshape(mean.detach(), (c,))
                if running_var is not None:
                    unbiased = xp.reshape(var.detach(), (c,)) * (count / (count - 1))
                    running_var[...] = (1 - m) * running_var + m * unbiased
        out = d / xp.sqrt(var + eps)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are needed in eval mode")
        out = (input - xp.reshape(running_mean, bshape)) / xp.sqrt(
            xp.reshape(running_var, bshape) + eps)
    if weight is not None:
        out = out * xp.reshape(weight, bshape)
    if bias is not None:
        out = out + xp.reshape(bias, bshape)
    return out


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing ``normalized_shape`` dims."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if input.shape[input.ndim - k:] != normalized_shape:
        raise ValueError(f"layer_norm: input of shape {input.shape} doesn't end with the "
                         f"normalized_shape {normalized_shape}")
    if input.dtype in _LN_DTYPES and _fits_layer_norm(weight, input, normalized_shape) and \
            _fits_layer_norm(bias, input, normalized_shape):
        return _layer_norm(input, k, weight, bias, eps)
    axes = tuple(range(input.ndim - k, input.ndim))
    mean = xp.mean(input, axis=axes, keepdims=True)
    d = input - mean
    var = xp.mean(d * d, axis=axes, keepdims=True)
    out = d / xp.sqrt(var + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def _fits_layer_norm(param, input, normalized_shape):
    """Whether the fused layer norm takes ``param`` (None, or of the input's dtype and of
    the normalized shape)."""
    return param is None or (param.dtype == input.dtype and
                             tuple(param.shape) == normalized_shape)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise channels in ``num_groups`` groups (per sample)."""
    n, c = input.shape[:2]
    if c % num_groups:
        raise ValueError(f"group_norm: {c} channels are not divisible into {num_groups} groups")
    x = xp.reshape(input, (n, num_groups, -1))
    mean = xp.mean(x, axis=-1, keepdims=True)
    d = x - mean
    var = xp.mean(d * d, axis=-1, keepdims=True)
    out = xp.reshape(d / xp.sqrt(var + eps), input.shape)
    bshape = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * xp.reshape(weight, bshape)
    if bias is not None:
        out = out + xp.reshape(bias, bshape)
    return out


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """``input / max(||input||_p, eps)`` along ``dim``."""
    # vector_norm's gradient at a zero vector is 0 (PyTorch's), so a zero row has the finite
    # gradient 1/eps of the clamped denominator
    norm = xp.linalg.vector_norm(input, axis=dim, keepdims=True, ord=p)
    return input / xp.where(norm < eps, eps, norm)


# -- dropout, embedding ------------------------------------------------------------
def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)``."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if inplace:
        return _in_place("dropout", input, lambda x: _dropout(x, p))
    return _dropout(input, p)


def _dropout(input, p):
    if p == 1.0:
        return input * 0.0
    mask = _dropout_mask(input.shape, p, dtype=input.dtype, device=input.device)
    if input.dtype in _GELU_DTYPES:  # float32, float64: one node
        return _dropout_kernel(input, mask)
    return input * mask


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of ``weight`` at the integer ``input``; no gradient flows to ``padding_idx``."""
    if input.dtype.kind not in "iu":
        raise TypeError(f"embedding: expected an integer index tensor, got {input.dtype}")
    num = weight.shape[0]
    if max_norm is not None:
        _embedding_renorm_(weight, input, max_norm, norm_type)
    if padding_idx is not None and padding_idx < 0:
        padding_idx += num
    out = _embedding_kernel(input, weight, padding_idx)  # one node (a 2-D floating weight)
    if out is not None:
        return out
    if input.size:
        lo, hi = int(xp.min(input)), int(xp.max(input))
        if lo < 0 or hi >= num:
            bad = lo if lo < 0 else hi
            raise IndexError(f"embedding: index {bad} is out of range for a weight of "
                             f"{num} embeddings (shape {tuple(weight.shape)})")
    flat = xp.reshape(input, (-1,))
    out = xp.take(weight, flat, axis=0)
    if padding_idx is not None:
        keep = xp.reshape(flat != padding_idx, (-1, 1))
        out = xp.where(keep, out, out.detach())
    return xp.reshape(out, input.shape + (weight.shape[1],))


def _embedding_renorm_(weight, input, max_norm, norm_type):
    """PyTorch's ``max_norm``: each row of ``weight`` that ``input`` picks with a
    ``norm_type``-norm above ``max_norm`` scaled in place by ``max_norm / (norm + 1e-7)``
    (not recorded)."""
    num = weight.shape[0]
    with xp.no_grad():
        rows = xp.unique_values(xp.reshape(input, (-1,)))
        if not rows.size:
            return
        lo, hi = int(rows[0]), int(rows[-1])
        if lo < 0 or hi >= num:
            raise IndexError(f"embedding: index {lo if lo < 0 else hi} is out of range for a "
                             f"weight of {num} embeddings (shape {tuple(weight.shape)})")
        picked = xp.take(weight, rows, axis=0)
        norms = xp.linalg.vector_norm(picked, ord=norm_type, axis=1, keepdims=True)
        scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
        weight[rows] = picked * xp.astype(scale, weight.dtype)


# -- activations -------------------------------------------------------------------
def relu(input, inplace=False):
    if input.__class__ is not Tensor:
        _check_args("relu", {"input": input}, {})
    if inplace:
        return _in_place("relu_", input, _relu, saves_input=False)  # relu saves its output
    return _relu(input)


def relu_(input):
    """``relu`` in place: ``input`` overwritten and returned."""
    return relu(input, inplace=True)


def relu6(input, inplace=False):
    if input.__class__ is not Tensor:
        _check_args("relu6", {"input": input}, {})
    if not inplace:
        out = _hardtanh_kernel(input, 0.0, 6.0)  # one node (real floating input)
        if out is not None:
            return out
    return hardtanh(input, 0.0, 6.0, inplace)


def _hardtanh(input, min_val, max_val):
    # Gradient 1 strictly inside (min_val, max_val), 0 at and beyond the bounds (PyTorch).
    out = _hardtanh_kernel(input, min_val, max_val)  # one node (real floating input)
    if out is not None:
        return out
    inside = xp.logical_not(xp.logical_or(input <= min_val, input >= max_val))  # NaN inside
    return xp.where(inside, input, xp.where(input >= max_val, max_val, min_val))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if input.__class__ is not Tensor:
        _check_args("hardtanh", {"input": input}, {})
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val "
                         f"({max_val})")
    if inplace:
        return _in_place("hardtanh_", input, lambda x: _hardtanh(x, min_val, max_val))
    return _hardtanh(input, min_val, max_val)


def _leaky_relu(input, negative_slope):
    out = _leaky_relu_kernel(input, negative_slope)  # one node (real floating input)
    if out is not None:
        return out
    return xp.where(input > 0, input, input * negative_slope)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    if input.__class__ is not Tensor:
        _check_args("leaky_relu", {"input": input}, {})
    if inplace:
        return _in_place("leaky_relu_", input, lambda x: _leaky_relu(x, negative_slope))
    return _leaky_relu(input, negative_slope)


def _elu(input, alpha):
    out = _elu_kernel(input, alpha)  # one node (real floating input)
    if out is not None:
        return out
    return xp.where(input > 0, input, alpha * xp.expm1(xp.where(input > 0, 0.0, input)))


def elu(input, alpha=1.0, inplace=False):
    if input.__class__ is not Tensor:
        _check_args("elu", {"input": input}, {})
    if inplace:
        return _in_place("elu_", input, lambda x: _elu(x, alpha))
    return _elu(input, alpha)


def gelu(input, approximate="none"):
    """Gaussian error linear unit: exact (erf) or ``approximate='tanh'``."""
    if approximate == "tanh":
        inner = 0.7978845608028654 * (input + 0.044715 * input * input * input)
        return 0.5 * input * (1.0 + xp.tanh(inner))
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    if input.dtype in _GELU_DTYPES:
        return _gelu(input)
    return 0.5 * input * (1.0 + _erf(input * 0.7071067811865476))


def sigmoid(input):
    """Logistic sigmoid, finite with finite gradients for any input (one node)."""
    if input.__class__ is not Tensor:
        _check_args("sigmoid", {"input": input}, {})
    return _tf_sigmoid(input)


def logsigmoid(input):
    if input.__class__ is not Tensor:
        _check_args("logsigmoid", {"input": input}, {})
    out = _logsigmoid_kernel(input)  # one node (real floating input)
    if out is not None:
        return out
    return -xp.logaddexp(0.0, -input)


def silu(input, inplace=False):
    if input.__class__ is not Tensor:
        _check_args("silu", {"input": input}, {})
    if inplace:
        return _in_place("silu", input, lambda x: x * sigmoid(x))
    out = _silu_kernel(input)  # one node (real floating input)
    if out is not None:
        return out
    return input * sigmoid(input)


def tanh(input):
    return xp.tanh(input)


def softplus(input, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta x)) / beta``, linear above ``threshold``."""
    if input.__class__ is not Tensor:
        _check_args("softplus", {"input": input}, {})
    out = _softplus_kernel(input, beta, threshold)  # one node (real floating input)
    if out is not None:
        return out
    bx = input * beta
    big = bx > threshold
    soft = xp.log1p(xp.exp(xp.where(big, 0.0, bx))) / beta
    return xp.where(big, input, soft)


def _cast(input, dtype):
    return input if dtype is None else xp.astype(input, dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """``x - logsumexp(x)`` along ``dim``; stable for any finite logits."""
    if dtype is None and dim.__class__ is int and -input.ndim <= dim < input.ndim:
        out = _softmax_along(input, dim % input.ndim, True)  # (one node; None: not fused)
        if out is not None:
            return out
    input = _cast(input, dtype)
    if dim is None:
        dim = _softmax_dim(input.ndim)
    if input.ndim == 0:
        return input - input
    if input.shape[dim] == 0:  # an empty axis: an empty result (the maximum has no value)
        return input - input
    return xp.log_softmax(input, dim)  # (one node: (x - max) - log(sum(exp(x - max))))


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """``exp(x) / sum(exp(x))`` along ``dim`` (max-shifted)."""
    if dtype is None and dim.__class__ is int and -input.ndim <= dim < input.ndim:
        out = _softmax_along(input, dim % input.ndim)  # (one node; None: not fused)
        if out is not None:
            return out
    return _softmax(_cast(input, dtype), dim)  # (one node)


# -- losses ------------------------------------------------------------------------
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    _check_same_shape("mse_loss", input, target)
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    _check_same_shape("l1_loss", input, target)
    return _reduce(xp.abs(input - target), reduction, "l1_loss")


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    _check_same_shape("smooth_l1_loss", input, target)
    if beta > 0:
        out = _huber_kernel(input, target, beta, reduction, smooth=True)  # (one node)
        if out is not None:
            return out
    d = input - target
    a = xp.abs(d)
    if beta == 0.0:
        return _reduce(a, reduction, "smooth_l1_loss")
    loss = xp.where(a < beta, (0.5 / beta) * d * d, a - 0.5 * beta)
    return _reduce(loss, reduction, "smooth_l1_loss")


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    _check_same_shape("huber_loss", input, target)
    out = _huber_kernel(input, target, delta, reduction)  # (one node)
    if out is not None:
        return out
    d = input - target
    a = xp.abs(d)
    loss = xp.where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta))
    return _reduce(loss, reduction, "huber_loss")


def one_hot(tensor, num_classes=-1):
    """Integer class indices -> int64 one-hot vectors (last axis)."""
    if tensor.__class__ is not Tensor:
        _check_args("one_hot", {"tensor": tensor}, {})
    if tensor.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected an integer tensor, got {tensor.dtype}")
    if num_classes >= 0:
        return _one_hot_kernel(tensor, num_classes)
    if tensor.size:
        lo, hi = int(xp.min(tensor)), int(xp.max(tensor))
        if lo < 0:
            raise RuntimeError(f"one_hot: class values must be non-negative, got {lo}")
        if num_classes < 0:
            num_classes = hi + 1
        elif hi >= num_classes:
            raise RuntimeError(f"one_hot: class values must be smaller than num_classes "
                               f"({num_classes}), got {hi}")
    elif num_classes < 0:
        raise RuntimeError("one_hot: can not infer the total number of classes from an empty "
                           "tensor")
    classes = xp.arange(num_classes, dtype=tensor.dtype, device=tensor.device)
    return xp.astype(xp.expand_dims(tensor, axis=-1) == classes, xp.int64)


def _class_hits(target, n_classes, ndim):
    """(N, C, d1, ...) boolean one-hot mask of integer targets (class axis 1)."""
    classes = xp.reshape(xp.arange(n_classes, dtype=target.dtype, device=target.device),
                         (1, n_classes) + (1,) * (ndim - 2))
    return xp.expand_dims(target, axis=1) == classes


def _class_mask(target, n_classes, ndim, dtype):
    """(N, C, d1, ...) float one-hot mask of integer targets (class axis 1)."""
    return xp.astype(_class_hits(target, n_classes, ndim), dtype)


def _nll(func, logp, target, weight, ignore_index, reduction):
    """Negative log-likelihood of integer ``target`` under log-probabilities ``logp``
    (class axis 1, or the only axis for unbatched input)."""
    if logp.ndim == 1:
        out = _nll(func, xp.expand_dims(logp, axis=0), xp.expand_dims(target, axis=0), weight,
                   ignore_index, reduction)
        return out[0] if reduction == "none" else out
    if target.dtype.kind not in "iu":
        raise TypeError(f"{func}: expected integer class indices as target, got {target.dtype}")
    n, c = logp.shape[:2]
    if target.shape != (n,) + logp.shape[2:]:
        raise ValueError(f"{func}: target of shape {target.shape} doesn't match input of shape "
                         f"{logp.shape} (expected {(n,) + logp.shape[2:]})")
    bad = ((target < 0) | (target >= c)) & (target != ignore_index)
    if xp.any(bad):
        raise IndexError(f"{func}: target {int(target[bad][0])} is out of bounds for {c} classes "
                         f"(ignore_index={ignore_index})")
    hit = _class_hits(target, c, logp.ndim)  # ignored targets match no class
    if ignore_index is not None and 0 <= ignore_index < c:
        hit = xp.logical_and(hit, xp.expand_dims(target != ignore_index, axis=1))
    mask = xp.astype(hit, logp.dtype)
    if weight is not None:
        mask = mask * xp.reshape(weight, (1, c) + (1,) * (logp.ndim - 2))
    # Selected, not multiplied: a -inf log-probability of another class times 0 is NaN.
    picked = xp.where(hit, logp, xp.zeros((), dtype=logp.dtype, device=logp.device))
    loss = -xp.sum(picked * mask if weight is not None else picked, axis=1)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return xp.sum(loss)
    if reduction == "mean":
        return xp.sum(loss) / xp.sum(mask)
    raise ValueError(f"{func}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log-likelihood loss for log-probabilities ``input`` (N, C, ...)."""
    _check_loss_args("nll_loss", input, target, weight)
    if weight is None:
        out = _nll_loss_kernel(input, target, ignore_index, reduction)  # (N, C): one node
        if out is not None:
            return out
    return _nll("nll_loss", input, target, weight, ignore_index, reduction)


def _check_loss_args(func, input, target, weight):
    _check_device(func, input, target, "target")
    if input.ndim == 0:
        raise ValueError(f"{func}: expected an input of at least 1 dimension, got a 0-D input")
    if weight is not None:
        _check_class_weight(func, weight, input)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Cross-entropy of logits ``input`` (N, C, ...) with class indices or class
    probabilities ``target``; ``weight``, ``ignore_index``, ``label_smoothing`` as PyTorch."""
    if input.__class__ is not Tensor or target.__class__ is not Tensor or weight is not None:
        _check_args("cross_entropy", {"input": input, "target": target}, {"weight": weight})
    if _autocast.active:  # a float32 op of autocast
        input, target, weight = _autocast.upcast(input, target, weight)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if weight is None and label_smoothing == 0 and _fusable_cross_entropy(input, target) and \
            reduction in ("mean", "sum", "none"):
        return _cross_entropy(input, target, ignore_index, reduction)
    _check_loss_args("cross_entropy", input, target, weight)
    if input.ndim == 1:  # unbatched
        out = cross_entropy(xp.expand_dims(input, axis=0), xp.expand_dims(target, axis=0), weight,
                            None, ignore_index, None, reduction, label_smoothing)
        return out[0] if reduction == "none" else out
    logp = log_softmax(input, 1)
    c = input.shape[1]
    wshape = (1, c) + (1,) * (input.ndim - 2)
    if target.dtype.kind == "f":  # class probabilities
        _check_same_shape("cross_entropy", input, target)
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / c
        prod = logp * target
        if weight is not None:
            prod = prod * xp.reshape(weight, wshape)
        loss = -xp.sum(prod, axis=1)
        if reduction == "mean":
            return xp.sum(loss) / (input.size // c)
        return _reduce(loss, reduction, "cross_entropy")
    nll = _nll("cross_entropy", logp, target, weight, ignore_index, reduction)
    if label_smoothing <= 0:
        return nll
    smooth = logp if weight is None else logp * xp.reshape(weight, wshape)
    smooth = -xp.sum(smooth, axis=1)
    keep = target != ignore_index
    smooth = xp.where(keep, smooth, 0.0)
    if reduction == "mean":
        mask = _class_mask(target, c, input.ndim, logp.dtype)
        if weight is not None:
            mask = mask * xp.reshape(weight, wshape)
        mask = mask * xp.astype(xp.expand_dims(keep, axis=1), logp.dtype)
        smooth = xp.sum(smooth) / xp.sum(mask)
    elif reduction == "sum":
        smooth = xp.sum(smooth)
    return (1 - label_smoothing) * nll + smooth * (label_smoothing / c)


_REDUCTIONS = frozenset(("none", "mean", "sum"))


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """BCE of probabilities ``input``; log terms clamped at -100 in value and gradient as
    PyTorch (the input gradient ``(p - y) / max(p (1 - p), 1e-12)`` is finite at 0 and 1);
    values outside [0, 1] raise RuntimeError."""
    func = "binary_cross_entropy"
    _check_same_shape(func, input, target)
    if input.dtype.kind != "f":
        raise TypeError(f"{func}: expected a real floating-point input, got {input.dtype}")
    for name, v in (("input", input), ("target", target)):
        inside = _unit_interval(v)  # (from the storage: two reductions)
        if inside is None:
            with xp.no_grad():
                inside = not v.size or bool(xp.all((v >= 0) & (v <= 1)))
        if not inside:
            raise RuntimeError(f"{func}: all elements of {name} should be between 0 and 1")
    if weight is None and reduction in _REDUCTIONS:
        return _bce(input, target, reduction)  # one node, reduced
    loss = _bce(input, target)
    if weight is not None:
        _check_device(func, input, weight, "weight")
        _check_broadcasts(func, weight, input, "weight")
        loss = loss * weight
    return _reduce(loss, reduction, func)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """BCE on logits, stable for any input: ``(1-y) x + (1 + (pw-1) y) softplus(-x)``."""
    func = "binary_cross_entropy_with_logits"
    _check_same_shape(func, input, target)
    for name, w in (("weight", weight), ("pos_weight", pos_weight)):
        if w is not None:
            _check_device(func, input, w, name)
            _check_broadcasts(func, w, input, name)
    if weight is None and pos_weight is None:
        loss = _bce_logits_kernel(input, target, reduction)  # one node, reduced
        if loss is not None:
            return loss
    sp = xp.logaddexp(0.0, -input)  # softplus(-x) = -log sigmoid(x)
    if pos_weight is not None:
        lw = (pos_weight - 1) * target + 1
        loss = (1 - target) * input + lw * sp
    else:
        loss = (1 - target) * input + sp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL divergence with log-probabilities ``input``; ``reduction='batchmean'`` divides
    the sum by the batch size."""
    _check_device("kl_div", input, target, "target")
    if not log_target:
        out = _kl_div_kernel(input, target, reduction)  # one node (same shape and dtype)
        if out is not None:
            return out
    if log_target:
        loss = xp.exp(target) * (target - input)
    else:
        # t (log t - x), with t log t = 0 at t = 0 and NaN at t < 0 (PyTorch's xlogy)
        loss = target * (xp.log(xp.where(target == 0, 1.0, target)) - input)
    if reduction == "batchmean":
        return xp.sum(loss) / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction, "kl_div")


# -- padding, resampling, unfold ---------------------------------------------------
def _pad_widths(input, pad):
    """One (before, after) pair per dim of ``input`` for ``pad`` (ValueError if malformed)."""
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: padding {tuple(pad)} must have an even length of at most "
                         f"2 * ndim (input shape {input.shape})")
    widths = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        widths[input.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    return widths


def _zero_pad_widths(input, pad):
    """``_pad_widths`` as a tuple when none is negative (nothing cropped), else None."""
    widths = _pad_widths(input, pad)
    return None if any(lo < 0 or hi < 0 for lo, hi in widths) else tuple(widths)


def pad(input, pad, mode="constant", value=None):
    """Pad the last ``len(pad)//2`` dims: ``pad = (left, right, top, bottom, ...)`` from the
    last dim backwards; negative amounts crop.  Modes: constant, reflect, replicate, circular."""
    if input.__class__ is not Tensor:
        _check_args("pad", {"input": input}, {})
    if mode == "constant" and value is None:
        out = _zero_pad_cached(input, pad, _zero_pad_widths)  # (checks memoized)
        if out is not None:
            return out
    widths = _pad_widths(input, pad)
    if mode == "constant":
        crop_b = tuple((max(-lo, 0), n - max(-hi, 0)) for n, (lo, hi) in zip(input.shape, widths))
        if any(lo < 0 or hi < 0 for lo, hi in widths):
            input = crop(input, crop_b)
        return pad_constant(input, tuple((max(lo, 0), max(hi, 0)) for lo, hi in widths),
                            0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', "
                         f"got {mode!r}")
    out = input
    for ax, (lo, hi) in enumerate(widths):
        if not lo and not hi:
            continue
        n = out.shape[ax]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise ValueError(f"pad: reflect padding ({lo}, {hi}) must be smaller than the "
                             f"dimension size {n}")
        idx = xp.arange(-lo, n + hi, dtype=xp.int64, device=input.device)
        if mode == "reflect":
            idx = xp.abs(idx)
            idx = (n - 1) - xp.abs((n - 1) - idx)
        elif mode == "replicate":
            idx = xp.clip(idx, 0, n - 1)
        else:
            idx = idx % n
        out = xp.take(out, idx, axis=ax)
    return out


def _resize_index(n_in, n_out, scale, dtype, device):
    o = xp.arange(n_out, dtype=dtype, device=device)
    return o, (n_in / n_out) if scale is None else 1.0 / scale


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims (all but N, C): modes 'nearest', 'nearest-exact', 'linear',
    'bilinear', 'trilinear', 'bicubic' (4-D input)."""
    nd = input.ndim - 2
    if nd < 1:
        raise ValueError(f"interpolate: expected at least a 3-D input, got shape {input.shape}")
    sp = input.shape[2:]
    if size is not None:
        out_sp = _tuple(size, nd)
        scales = (None,) * nd
    elif scale_factor is not None:
        sf = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * nd
        out_sp = tuple(int(math.floor(n * s)) for n, s in zip(sp, sf))
        scales = (None,) * nd if recompute_scale_factor else tuple(float(s) for s in sf)
    else:
        raise ValueError("interpolate: either size or scale_factor should be defined")
    if any(n <= 0 for n in sp) or any(n <= 0 for n in out_sp):
        raise ValueError(f"interpolate: input and output sizes should be greater than 0, got "
                         f"input {tuple(sp)} and output {tuple(out_sp)}")
    dev = input.device
    fdt = input.dtype if input.dtype.kind == "f" else xp.float32
    out = input
    if mode in ("nearest", "nearest-exact"):
        half = 0.5 if mode == "nearest-exact" else 0.0  # (exact: the pixel centres)
        for ax in range(nd):
            o, scale = _resize_index(sp[ax], out_sp[ax], scales[ax], fdt, dev)
            idx = xp.astype(xp.floor((o + half) * scale), xp.int64)
            idx = xp.clip(idx, 0, sp[ax] - 1)
            out = xp.take(out, idx, axis=2 + ax)
        return out
    if mode == "bicubic":
        if nd != 2:
            raise NotImplementedError(f"interpolate: mode 'bicubic' needs a 4-D input, got "
                                      f"shape {input.shape}")
        for ax in range(nd):
            out = _cubic_along(out, 2 + ax, sp[ax], out_sp[ax], scales[ax], align_corners,
                               fdt, dev)
        return out
    if mode in ("linear", "bilinear", "trilinear"):
        for ax in range(nd):
            n_in, n_out = sp[ax], out_sp[ax]
            o, scale = _resize_index(n_in, n_out, scales[ax], fdt, dev)
            if align_corners:
                src = o * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
            else:
                src = xp.maximum((o + 0.5) * scale - 0.5, 0.0)
            i0 = xp.clip(xp.astype(xp.floor(src), xp.int64), 0, n_in - 1)
            i1 = xp.clip(i0 + 1, 0, n_in - 1)
            lam = src - xp.astype(i0, fdt)
            shape = (-1,) + (1,) * (nd - 1 - ax)
            lam = xp.reshape(lam, shape)
            out = xp.take(out, i0, axis=2 + ax) * (1.0 - lam) + xp.take(out, i1, axis=2 + ax) * lam
        return out
    raise NotImplementedError(f"interpolate: mode {mode!r} is not supported (use 'nearest', "
                              "'nearest-exact', 'linear', 'bilinear', 'trilinear' or 'bicubic')")


_CUBIC_A = -0.75  # PyTorch's (and OpenCV's) cubic-convolution coefficient


def _cubic_weights(t):
    """The four cubic-convolution weights of taps -1, 0, 1, 2 at fraction ``t``."""
    a = _CUBIC_A

    def near(d):  # |d| <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):  # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return far(t + 1), near(t), near(1 - t), far(2 - t)


def _cubic_along(x, axis, n_in, n_out, scale_factor, align_corners, fdt, dev):
    """Bicubic resampling along one axis (separable), taps clamped at the borders."""
    o, scale = _resize_index(n_in, n_out, scale_factor, fdt, dev)
    if align_corners:
        src = o * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    else:
        src = (o + 0.5) * scale - 0.5  # (not clamped at 0, unlike the linear modes)
    i0 = xp.floor(src)
    shape = (-1,) + (1,) * (x.ndim - 1 - axis)
    weights = [xp.reshape(w, shape) for w in _cubic_weights(src - i0)]
    base = xp.astype(i0, xp.int64)
    out = None
    for k, w in zip((-1, 0, 1, 2), weights):
        tap = xp.take(x, xp.clip(base + k, 0, n_in - 1), axis=axis) * w
        out = tap if out is None else out + tap
    return out


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """im2col: (N, C, H, W) -> (N, C*kh*kw, L) sliding blocks."""
    if input.ndim != 4:
        raise ValueError(f"unfold: expected a 4-D input, got shape {input.shape}")
    k, d = _tuple(kernel_size, 2), _tuple(dilation, 2)
    p, s = _tuple(padding, 2), _tuple(stride, 2)
    x = pad_constant(input, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), 0)
    win = sliding_windows(x, k, (2, 3), s, d)  # (N, C, OH, OW, kh, kw)
    n, c, oh, ow = win.shape[:4]
    return xp.reshape(xp.permute_dims(win, (0, 1, 4, 5, 2, 3)), (n, c * k[0] * k[1], oh * ow))


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """col2im, the adjoint of ``unfold``: (N, C*kh*kw, L) -> (N, C, H, W)."""
    k, d = _tuple(kernel_size, 2), _tuple(dilation, 2)
    p, s = _tuple(padding, 2), _tuple(stride, 2)
    osz = _tuple(output_size, 2)
    full = (osz[0] + 2 * p[0], osz[1] + 2 * p[1])
    oh = (full[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (full[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    n = input.shape[0]
    c = input.shape[1] // (k[0] * k[1])
    if input.shape[1:] != (c * k[0] * k[1], oh * ow):
        raise ValueError(f"fold: input of shape {input.shape} doesn't match kernel {k} and "
                         f"{oh * ow} blocks")
    win = xp.permute_dims(xp.reshape(input, (n, c, k[0], k[1], oh, ow)), (0, 1, 4, 5, 2, 3))
    out = fold_windows(win, (n, c) + full, (2, 3), s, d)
    if any(p):
        out = crop(out, ((0, n), (0, c), (p[0], p[0] + osz[0]), (p[1], p[1] + osz[1])))
    return out


# -- argument checks: every function refuses what is not a tensor, naming itself -------
# (PyTorch raises TypeError for a NumPy array, a list or None where a tensor is due.)
_TENSOR_ARGS = {  # function: (required tensor arguments, optional ones)
    "linear": ("input weight", "bias"), "bilinear": ("input1 input2 weight", "bias"),
    "conv1d": ("input weight", "bias"), "conv2d": ("input weight", "bias"),
    "conv_transpose2d": ("input weight", "bias"),
    "batch_norm": ("input", "running_mean running_var weight bias"),
    "layer_norm": ("input", "weight bias"), "group_norm": ("input", "weight bias"),
    "embedding": ("input weight", ""), "one_hot": ("tensor", ""),
    "mse_loss": ("input target", "weight"), "l1_loss": ("input target", ""),
    "smooth_l1_loss": ("input target", ""), "huber_loss": ("input target", "weight"),
    "cross_entropy": ("input target", "weight"), "nll_loss": ("input target", "weight"),
    "binary_cross_entropy": ("input target", "weight"),
    "binary_cross_entropy_with_logits": ("input target", "weight pos_weight"),
    "kl_div": ("input target", ""),
}


def _check_args(func, required: dict, optional: dict):
    """TypeError naming ``func`` unless each of ``required`` is a tensor and each of
    ``optional`` a tensor or None (PyTorch's check)."""
    for arg, v in required.items():
        if not isinstance(v, Tensor):
            raise TypeError(f"{func}: argument '{arg}' must be a Tensor, got {type(v).__name__}")
    for arg, v in optional.items():
        if v is not None and not isinstance(v, Tensor):
            raise TypeError(f"{func}: argument '{arg}' must be a Tensor or None, got "
                            f"{type(v).__name__}")


# The hot functions call _check_args themselves, only where a fast test has failed.
_CHECK_THEIR_ARGS = {"linear", "relu", "cross_entropy", "conv2d", "max_pool2d", "avg_pool2d",
                     "relu6", "hardtanh", "leaky_relu", "elu", "sigmoid", "logsigmoid", "silu",
                     "softplus", "pad", "one_hot"}


def _check_tensor_args(func, required, optional):
    """``func`` wrapped to raise TypeError, naming it, when a tensor argument is not one
    (and, for autocast's float32 ops, to take float32 inputs inside a region)."""
    params = list(inspect.signature(func).parameters)
    req = tuple((params.index(n), n) for n in required.split())
    opt = tuple((params.index(n), n) for n in optional.split())
    name = func.__name__
    upcast = func.__name__ in _autocast.FLOAT32_OPS
    missing = object()

    if len(req) == 1 and req[0][0] == 0 and not opt and not upcast:
        @functools.wraps(func)
        def checked_input(*args, **kwargs):  # (one tensor argument, the first: most layers)
            if args and args[0].__class__ is Tensor:
                return func(*args, **kwargs)
            return checked(*args, **kwargs)
    else:
        checked_input = None

    @functools.wraps(func)
    def checked(*args, **kwargs):
        n = len(args)
        for i, arg in req:
            v = args[i] if i < n else kwargs.get(arg, missing)
            if v.__class__ is not Tensor and v is not missing and not isinstance(v, Tensor):
                raise TypeError(f"{name}: argument '{arg}' must be a Tensor, got "
                                f"{type(v).__name__}")
        for i, arg in opt:
            v = args[i] if i < n else kwargs.get(arg)
            if v is not None and v.__class__ is not Tensor and not isinstance(v, Tensor):
                raise TypeError(f"{name}: argument '{arg}' must be a Tensor or None, got "
                                f"{type(v).__name__}")
        if upcast and _autocast.active:
            args = _autocast.upcast(*args)
            kwargs = dict(zip(kwargs, _autocast.upcast(*kwargs.values())))
        return func(*args, **kwargs)
    return checked_input or checked


def _wrap_all():
    for fname in __all__:
        if fname in _CHECK_THEIR_ARGS:
            continue
        f = globals()[fname]
        required, optional = _TENSOR_ARGS.get(
            fname, ("input" if "input" in inspect.signature(f).parameters else "", ""))
        globals()[fname] = _check_tensor_args(f, required, optional)


from ._functional_extra import *  # noqa: E402,F401,F403  (more forms: prelu, conv3d, losses, ...)
from ._functional_extra import __all__ as _extra_all, TENSOR_ARGS as _extra_args  # noqa: E402
__all__ += _extra_all
_TENSOR_ARGS.update(_extra_args)

_wrap_all()

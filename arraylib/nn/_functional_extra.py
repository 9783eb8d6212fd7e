"""More of PyTorch's ``nn.functional``, exported by ``arraylib.nn.functional``: activations
(prelu, selu, celu, glu, mish, hardswish, shrinkage, threshold, rrelu), 3-D and transposed
convolutions, 3-D and adaptive pooling, local response / RMS / instance normalisation,
feature and alpha dropout, ``embedding_bag``, and the margin, embedding and likelihood losses.

Composed from differentiable public functions (so gradients, higher order and forward mode
come from their primitives) and the window kernels of ``arraylib._nn_kernels``.  This module
sits below ``functional`` (which star-imports it), so it imports nothing from it; the helpers
both share live in ``_functional_base``.
"""
from __future__ import annotations

import math

import arraylib as xp
from arraylib import Tensor
from arraylib._nn_kernels import sliding_windows, fold_windows, pad_constant, crop
from arraylib._nn_kernels import max_pool as _max_pool_prim, relu as _relu
from arraylib._nn_kernels import autocast_state as _autocast
from ._functional_base import _tuple, _prod, _batched, _check_same_dtype, _conv_nd
from ._functional_base import _max_pool_nd, _avg_pool_nd, _out_positions, _flat_index
from ._functional_base import _reduction, _reduce, _in_place, _maybe_in_place, _softmax
from ._functional_base import _check_same_shape

__all__ = [
    # activations
    "prelu", "mish", "hardsigmoid", "hardswish", "softmin", "selu", "celu", "glu", "softsign",
    "tanhshrink", "threshold", "threshold_", "hardshrink", "softshrink", "rrelu", "selu_",
    "celu_", "rrelu_", "gumbel_softmax",
    # distances, shuffles, normalisation
    "cosine_similarity", "pairwise_distance", "pixel_shuffle", "pixel_unshuffle",
    "channel_shuffle", "pdist", "rms_norm", "instance_norm", "local_response_norm",
    # convolution and pooling
    "conv3d", "conv_transpose1d", "conv_transpose3d", "max_pool3d", "avg_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
    "adaptive_max_pool3d", "max_pool3d_with_indices", "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices", "adaptive_max_pool3d_with_indices", "lp_pool1d",
    "lp_pool2d", "lp_pool3d", "max_unpool1d", "max_unpool2d", "max_unpool3d",
    # dropout, embedding bags
    "alpha_dropout", "feature_alpha_dropout", "dropout1d", "dropout2d", "dropout3d",
    "embedding_bag",
    # losses
    "margin_ranking_loss", "hinge_embedding_loss", "cosine_embedding_loss", "soft_margin_loss",
    "multilabel_soft_margin_loss", "multi_margin_loss", "triplet_margin_loss",
    "poisson_nll_loss", "gaussian_nll_loss", "triplet_margin_with_distance_loss",
    "multilabel_margin_loss",
]

# the tensor arguments of the functions above that are not just ``input`` (required ones,
# optional ones), for nn.functional's argument check (TypeError naming the function)
TENSOR_ARGS = {
    "prelu": ("input weight", ""), "cosine_similarity": ("x1 x2", ""),
    "pairwise_distance": ("x1 x2", ""), "rms_norm": ("input", "weight"),
    "instance_norm": ("input", "running_mean running_var weight bias"),
    "conv3d": ("input weight", "bias"), "conv_transpose1d": ("input weight", "bias"),
    "conv_transpose3d": ("input weight", "bias"),
    "embedding_bag": ("input weight", "offsets per_sample_weights"),
    "margin_ranking_loss": ("input1 input2 target", ""),
    "hinge_embedding_loss": ("input target", ""),
    "cosine_embedding_loss": ("input1 input2 target", ""),
    "soft_margin_loss": ("input target", ""),
    "multilabel_soft_margin_loss": ("input target", "weight"),
    "multi_margin_loss": ("input target", "weight"),
    "triplet_margin_loss": ("anchor positive negative", ""),
    "poisson_nll_loss": ("input target", ""), "gaussian_nll_loss": ("input target", ""),
    "triplet_margin_with_distance_loss": ("anchor positive negative", ""),
    "multilabel_margin_loss": ("input target", ""), "max_unpool1d": ("input indices", ""),
    "max_unpool2d": ("input indices", ""), "max_unpool3d": ("input indices", ""),
}

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


# -- helpers -----------------------------------------------------------------------
# -- activations -------------------------------------------------------------------
def prelu(input, weight):
    """``x`` where ``x > 0``, else ``weight * x``; ``weight`` (C,) along dim 1 (or one value)."""
    w = weight
    if weight.size != 1:
        if input.ndim < 2 or input.shape[1] != weight.shape[0]:
            raise RuntimeError(f"prelu: {weight.shape[0]} parameters don't match the channels "
                               f"of an input of shape {tuple(input.shape)}")
        w = xp.reshape(weight, (weight.shape[0],) + (1,) * (input.ndim - 2))
    elif weight.ndim:
        w = xp.reshape(weight, ())
    return xp.where(input > 0, input, w * input)


def _softplus(input):
    return xp.logaddexp(xp.zeros((), dtype=input.dtype, device=input.device), input)


def mish(input, inplace=False):
    """``x tanh(softplus(x))``."""
    return _maybe_in_place("mish", input, inplace, lambda x: x * xp.tanh(_softplus(x)))


def _hardsigmoid(input):
    inside = xp.logical_and(input > -3.0, input < 3.0)  # gradient 1/6 strictly inside
    return xp.where(inside, input / 6.0 + 0.5, xp.where(input >= 3.0, 1.0, 0.0))


def hardsigmoid(input, inplace=False):
    """``relu6(x + 3) / 6``."""
    return _maybe_in_place("hardsigmoid", input, inplace, _hardsigmoid)


def hardswish(input, inplace=False):
    """``x relu6(x + 3) / 6`` (gradient ``x/3 + 1/2`` strictly inside (-3, 3), PyTorch's)."""
    def compute(x):
        inside = xp.logical_and(x > -3.0, x < 3.0)
        return xp.where(inside, x * (x + 3.0) / 6.0, xp.where(x >= 3.0, x, 0.0))
    return _maybe_in_place("hardswish", input, inplace, compute)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """``softmax(-x)`` along ``dim``."""
    return _softmax(-(input if dtype is None else xp.astype(input, dtype)), dim)


def _elu(x, alpha, input_scale=1.0):
    """``x`` for ``x > 0``, else ``alpha (exp(input_scale x) - 1)``, PyTorch's elu kernel:
    relu (gradient 0 at 0) plus the negative branch of the input clipped at 0 (gradient 1
    at 0), with no element-wise select (NumPy's is slow)."""
    neg = xp.clip(x, None, 0.0)
    return _relu(x) + alpha * xp.expm1(neg if input_scale == 1.0 else neg * input_scale)


def selu(input, inplace=False):
    """``scale (max(0, x) + min(0, alpha (exp(x) - 1)))`` with SELU's constants."""
    return _maybe_in_place("selu", input, inplace,
                           lambda x: _SELU_SCALE * _elu(x, _SELU_ALPHA))


def celu(input, alpha=1.0, inplace=False):
    """``max(0, x) + min(0, alpha (exp(x / alpha) - 1))``."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    return _maybe_in_place("celu", input, inplace, lambda x: _elu(x, alpha, 1.0 / alpha))


def glu(input, dim=-1):
    """``a * sigmoid(b)`` for the two halves ``a, b`` of ``input`` along ``dim``."""
    if input.ndim == 0:
        raise RuntimeError("glu: does not support scalars (0-d tensors)")
    n = input.shape[dim]
    if n % 2:
        raise RuntimeError(f"glu: halving dimension must be even, but dimension {dim} of the "
                           f"input of shape {tuple(input.shape)} is size {n}")
    dim %= input.ndim
    a = input[(slice(None),) * dim + (slice(0, n // 2),)]
    b = input[(slice(None),) * dim + (slice(n // 2, None),)]
    return a * xp.sigmoid(b)


def softsign(input):
    """``x / (1 + |x|)``."""
    return input / (1.0 + xp.abs(input))


def tanhshrink(input):
    """``x - tanh(x)``."""
    return input - xp.tanh(input)


def threshold(input, threshold, value, inplace=False):
    """``x`` where ``x > threshold``, else ``value``."""
    return _maybe_in_place("threshold", input, inplace,
                           lambda x: xp.where(x > threshold, x, value))


def threshold_(input, threshold, value):
    """``threshold`` in place."""
    return _in_place("threshold_", input, lambda x: xp.where(x > threshold, x, value))


def hardshrink(input, lambd=0.5):
    """``x`` where ``|x| > lambd``, else 0."""
    return xp.where(xp.abs(input) > lambd, input, 0.0)


def softshrink(input, lambd=0.5):
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0."""
    if lambd < 0:
        raise RuntimeError(f"softshrink: lambda must be greater or equal to 0, but found to be "
                           f"{lambd}")
    return xp.where(input > lambd, input - lambd, xp.where(input < -lambd, input + lambd, 0.0))


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Leaky relu with slopes drawn from U(lower, upper) when training, their mean otherwise."""
    if not lower <= upper:
        raise ValueError(f"rrelu: lower bound {lower} must not exceed the upper bound {upper}")

    def compute(x):
        if training:
            u = xp.rand(*x.shape, dtype=x.dtype, device=x.device)
            slope = lower + (upper - lower) * u
        else:
            slope = (lower + upper) / 2
        return xp.where(x >= 0, x, x * slope)
    return _maybe_in_place("rrelu", input, inplace, compute)


def selu_(input):
    """``selu`` in place."""
    return selu(input, inplace=True)


def celu_(input, alpha=1.0):
    """``celu`` in place."""
    return celu(input, alpha, inplace=True)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    """``rrelu`` in place."""
    return rrelu(input, lower, upper, training, inplace=True)


def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    """A sample of the Gumbel-softmax distribution ``softmax((logits + g) / tau)``, ``g``
    Gumbel(0, 1) noise; ``hard``: the one-hot argmax, with the soft sample's gradient."""
    u = xp.rand(*logits.shape, dtype=logits.dtype, device=logits.device)
    gumbels = -xp.log(-xp.log(xp.clip(u, eps, 1.0)))  # -log(Exponential(1))
    soft = _softmax((logits + gumbels) / tau, dim)
    if not hard:
        return soft
    best = xp.argmax(soft.detach(), axis=dim, keepdims=True)
    classes = xp.arange(logits.shape[dim], dtype=best.dtype, device=logits.device)
    classes = xp.reshape(classes, (-1,) + (1,) * (logits.ndim - 1 - dim % logits.ndim))
    one_hot = xp.astype(best == classes, logits.dtype)
    return one_hot - soft.detach() + soft


# -- distances, shuffles, normalisation --------------------------------------------
def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """``x1 . x2 / (max(|x1|, eps) max(|x2|, eps))`` along ``dim`` (broadcasting)."""
    x1, x2 = xp.broadcast_arrays(x1, x2)
    n1 = xp.linalg.vector_norm(x1, axis=dim, keepdims=True)
    n2 = xp.linalg.vector_norm(x2, axis=dim, keepdims=True)
    a = x1 / xp.where(n1 < eps, eps, n1)
    b = x2 / xp.where(n2 < eps, eps, n2)
    return xp.sum(a * b, axis=dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """``|x1 - x2 + eps|_p`` over the last dimension."""
    return xp.linalg.vector_norm(x1 - x2 + eps, ord=p, axis=-1, keepdims=keepdim)


def pdist(input, p=2):
    """The p-norm distances between the rows of an (N, M) input, i < j in row-major order
    (the upper triangle of the distance matrix), shape (N (N - 1) / 2,)."""
    if input.ndim != 2:
        raise RuntimeError(f"pdist: expected a 2-D input, got shape {tuple(input.shape)}")
    n = input.shape[0]
    first = [i for i in range(n) for _ in range(i + 1, n)]
    second = [j for i in range(n) for j in range(i + 1, n)]
    i = xp.asarray(first, dtype=xp.int64, device=input.device)
    j = xp.asarray(second, dtype=xp.int64, device=input.device)
    return xp.linalg.vector_norm(xp.take(input, i, axis=0) - xp.take(input, j, axis=0), ord=p,
                                 axis=-1)


def pixel_shuffle(input, upscale_factor):
    """(*, C r^2, H, W) -> (*, C, H r, W r)."""
    r = int(upscale_factor)
    if input.ndim < 3:
        raise RuntimeError(f"pixel_shuffle: expected an input of at least 3 dims, got shape "
                           f"{tuple(input.shape)}")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle: the channels {c} of an input of shape "
                           f"{tuple(input.shape)} are not divisible by upscale_factor^2 = {r * r}")
    lead = tuple(lead)
    n = len(lead)
    x = xp.reshape(input, lead + (c // (r * r), r, r, h, w))
    x = xp.permute_dims(x, tuple(range(n)) + (n, n + 3, n + 1, n + 4, n + 2))
    return xp.reshape(x, lead + (c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H r, W r) -> (*, C r^2, H, W)."""
    r = int(downscale_factor)
    if input.ndim < 3:
        raise RuntimeError(f"pixel_unshuffle: expected an input of at least 3 dims, got shape "
                           f"{tuple(input.shape)}")
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise RuntimeError(f"pixel_unshuffle: the spatial size of an input of shape "
                           f"{tuple(input.shape)} is not divisible by downscale_factor {r}")
    lead = tuple(lead)
    n = len(lead)
    x = xp.reshape(input, lead + (c, h // r, r, w // r, r))
    x = xp.permute_dims(x, tuple(range(n)) + (n, n + 2, n + 4, n + 1, n + 3))
    return xp.reshape(x, lead + (c * r * r, h // r, w // r))


def channel_shuffle(input, groups):
    """(N, g*k, *) -> the channels regrouped as (k, g): ShuffleNet's channel shuffle."""
    g = int(groups)
    if input.ndim < 3 or g <= 0 or input.shape[1] % g:
        raise RuntimeError(f"channel_shuffle: expected an input of at least 3 dims whose channels "
                           f"divide into {g} groups, got shape {tuple(input.shape)}")
    n, c = input.shape[:2]
    rest = tuple(input.shape[2:])
    x = xp.reshape(input, (n, g, c // g) + rest)
    x = xp.permute_dims(x, (0, 2, 1) + tuple(range(3, x.ndim)))
    return xp.reshape(x, (n, c) + rest)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """``x / sqrt(mean(x^2) + eps) * weight`` over the trailing ``normalized_shape`` dims
    (``eps`` defaults to the dtype's machine epsilon, as PyTorch)."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    k = len(normalized_shape)
    if tuple(input.shape[input.ndim - k:]) != tuple(normalized_shape):
        raise RuntimeError(f"rms_norm: input of shape {tuple(input.shape)} doesn't end with the "
                           f"normalized_shape {tuple(normalized_shape)}")
    if eps is None:
        eps = xp.finfo(input.dtype).eps
    axes = tuple(range(input.ndim - k, input.ndim))
    out = input * xp.rsqrt(xp.mean(input * input, axis=axes, keepdims=True) + eps)
    return out if weight is None else out * weight


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Normalise each (sample, channel) over its spatial dims; with running statistics,
    update them in place (``use_input_stats``) or use them."""
    n, c = input.shape[:2]
    axes = tuple(range(2, input.ndim))
    bshape = (1, c) + (1,) * (input.ndim - 2)
    if use_input_stats:
        mean = xp.mean(input, axis=axes, keepdims=True)
        d = input - mean
        var = xp.mean(d * d, axis=axes, keepdims=True)
        if running_mean is not None and running_var is not None:
            count = input.size // (n * c)
            with xp.no_grad():
                m = momentum
                bm = xp.mean(xp.reshape(mean.detach(), (n, c)), axis=0)
                bv = xp.mean(xp.reshape(var.detach(), (n, c)), axis=0) * (count / max(count - 1, 1))
                running_mean[...] = (1 - m) * running_mean + m * bm
                running_var[...] = (1 - m) * running_var + m * bv
        out = d / xp.sqrt(var + eps)
    else:
        out = (input - xp.reshape(running_mean, bshape)) / xp.sqrt(
            xp.reshape(running_var, bshape) + eps)
    if weight is not None:
        out = out * xp.reshape(weight, bshape)
    if bias is not None:
        out = out + xp.reshape(bias, bshape)
    return out


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """``x / (k + alpha * mean of x^2 over size neighbouring channels)^beta`` (channels at dim 1,
    the window zero-padded by ``size // 2`` before and ``(size - 1) // 2`` after)."""
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: expected 3D or higher dimensionality input, got "
                         f"shape {tuple(input.shape)}")
    if input.size == 0:
        return input
    pads = [(0, 0)] * input.ndim
    pads[1] = (size // 2, (size - 1) // 2)
    sq = pad_constant(input * input, tuple(pads), 0)
    div = xp.sum(sliding_windows(sq, (size,), (1,)), axis=-1) / size
    return input / (div * alpha + k) ** beta


# -- convolution -------------------------------------------------------------------
def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution (cross-correlation) of (N, C, D, H, W), weight (O, C/groups, kd, kh, kw)."""
    return _conv_nd("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose_nd(func, nd, input, weight, bias, stride, padding, output_padding, groups,
                       dilation):
    """The adjoint of the n-d convolution: one grouped matrix product, then the windows folded
    back (overlaps added) and the padding cropped; weight (C_in, C_out/groups, *kernel)."""
    if _autocast.active:
        input, weight, bias = _autocast.lower(input, weight, bias)
    _check_same_dtype(func, input, weight, bias)
    x, batched = _batched(func, input, nd)
    if weight.ndim != nd + 2:
        raise ValueError(f"{func}: expected a {nd + 2}-D weight, got shape {tuple(weight.shape)}")
    stride, padding = _tuple(stride, nd, func, "stride"), _tuple(padding, nd, func, "padding")
    output_padding = _tuple(output_padding, nd, func, "output_padding")
    dilation = _tuple(dilation, nd, func, "dilation")
    n, c = x.shape[:2]
    og, kernel, sp = weight.shape[1], tuple(weight.shape[2:]), tuple(x.shape[2:])
    if weight.shape[0] != c or c % groups:
        raise ValueError(f"{func}: input of shape {tuple(input.shape)} doesn't match weight of "
                         f"shape {tuple(weight.shape)} with groups={groups}")
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"{func}: output padding must be smaller than either stride or "
                         f"dilation, got output_padding={output_padding}")
    full = tuple((i - 1) * s + d * (k - 1) + 1 + op
                 for i, s, d, k, op in zip(sp, stride, dilation, kernel, output_padding))
    if any(f - 2 * p <= 0 for f, p in zip(full, padding)):
        raise ValueError(f"{func}: padding {padding} leaves no output for an input of shape "
                         f"{tuple(input.shape)} and weight of shape {tuple(weight.shape)}")
    g, cg = groups, c // groups
    size, kk = _prod(sp), _prod(kernel)
    rows = xp.permute_dims(xp.reshape(x, (n, g, cg, size)), (1, 0, 3, 2))
    cols = xp.matmul(xp.reshape(rows, (g, n * size, cg)),
                     xp.reshape(weight, (g, cg, og * kk)))  # (G, N*L, O/G*K)
    cols = xp.reshape(cols, (g, n) + sp + (og,) + kernel)
    cols = xp.permute_dims(cols, (1, 0, 2 + nd) + tuple(range(2, 2 + nd))
                           + tuple(range(3 + nd, 3 + 2 * nd)))
    cols = xp.reshape(cols, (n, g * og) + sp + kernel)
    out = fold_windows(cols, (n, g * og) + full, tuple(range(2, 2 + nd)), stride, dilation)
    if any(padding):
        out = crop(out, ((0, n), (0, g * og)) + tuple((p, f - p) for p, f in zip(padding, full)))
    if bias is not None:
        out = out + xp.reshape(bias, (g * og,) + (1,) * nd)
    return out if batched else out[0]


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """1-D transposed convolution; weight (C_in, C_out/groups, k)."""
    return _conv_transpose_nd("conv_transpose1d", 1, input, weight, bias, stride, padding,
                              output_padding, groups, dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """3-D transposed convolution; weight (C_in, C_out/groups, kd, kh, kw)."""
    return _conv_transpose_nd("conv_transpose3d", 3, input, weight, bias, stride, padding,
                              output_padding, groups, dilation)


# -- pooling -----------------------------------------------------------------------
def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """3-D max pooling over (N, C, D, H, W) (or unbatched (C, D, H, W))."""
    return _max_pool_nd("max_pool3d", 3, input, kernel_size, stride, padding, dilation,
                        ceil_mode, return_indices)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """3-D average pooling over (N, C, D, H, W) (or unbatched (C, D, H, W))."""
    return _avg_pool_nd("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode,
                        count_include_pad, divisor_override)


def _adaptive_sizes(func, nd, x, output_size):
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * nd
    if len(sizes) != nd:
        raise ValueError(f"{func}: output_size must be an int or {nd} ints, got {output_size}")
    sizes = tuple(int(n) if o is None else int(o) for o, n in zip(sizes, x.shape[2:]))
    if any(o <= 0 for o in sizes) or any(n <= 0 for n in x.shape[2:]):
        raise ValueError(f"{func}: output_size {sizes} and the spatial input shape "
                         f"{tuple(x.shape[2:])} must be positive")
    return sizes


def _adaptive_bounds(n_in, n_out, device):
    """PyTorch's adaptive windows: [floor(i n_in / n_out), ceil((i + 1) n_in / n_out))."""
    i = xp.arange(n_out, dtype=xp.int64, device=device)
    return (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)


def _adaptive_avg_nd(func, nd, input, output_size):
    x, batched = _batched(func, input, nd)
    sizes = _adaptive_sizes(func, nd, x, output_size)
    out = x
    for ax, n_out in enumerate(sizes):  # the box mean is a product of 1-D means
        n_in = x.shape[2 + ax]
        if n_in == n_out:
            continue
        start, end = _adaptive_bounds(n_in, n_out, x.device)
        j = xp.reshape(xp.arange(n_in, dtype=xp.int64, device=x.device), (1, -1))
        start, end = xp.reshape(start, (-1, 1)), xp.reshape(end, (-1, 1))
        m = xp.astype(xp.logical_and(j >= start, j < end), x.dtype) / xp.astype(end - start,
                                                                                 x.dtype)
        out = xp.moveaxis(xp.matmul(xp.moveaxis(out, 2 + ax, -1), xp.matrix_transpose(m)), -1,
                          2 + ax)
    return out if batched else out[0]


def adaptive_avg_pool1d(input, output_size):
    """Adaptive 1-D average pooling of (N, C, L) (or (C, L)) to ``output_size``."""
    return _adaptive_avg_nd("adaptive_avg_pool1d", 1, input, output_size)


def adaptive_avg_pool3d(input, output_size):
    """Adaptive 3-D average pooling of (N, C, D, H, W) (or unbatched) to ``output_size``."""
    return _adaptive_avg_nd("adaptive_avg_pool3d", 3, input, output_size)


def _adaptive_windows(n_in, n_out, device):
    """(n_out, widest) input positions of each adaptive window, the last one repeated."""
    start, end = _adaptive_bounds(n_in, n_out, device)
    widest = max(-((-(i + 1) * n_in) // n_out) - (i * n_in) // n_out for i in range(n_out))
    j = xp.reshape(xp.arange(widest, dtype=xp.int64, device=device), (1, -1))
    return xp.minimum(xp.reshape(start, (-1, 1)) + j, xp.reshape(end, (-1, 1)) - 1), widest


def _adaptive_max_values(x, sizes):
    """Adaptive max pooling without indices: the max-pool kernel where the windows tile the
    input, else one axis at a time (a box maximum is a maximum of 1-D maxima)."""
    spatial = tuple(x.shape[2:])
    axes = tuple(range(2, x.ndim))
    if all(n % o == 0 for n, o in zip(spatial, sizes)):
        kernel = tuple(n // o for n, o in zip(spatial, sizes))
        return _max_pool_prim(x, kernel, axes, kernel, 1)
    out = x
    for a, n_in, n_out in zip(axes, spatial, sizes):
        if n_in == n_out:
            continue
        idx, widest = _adaptive_windows(n_in, n_out, x.device)
        g = xp.take(out, xp.reshape(idx, (-1,)), axis=a)
        shape = tuple(g.shape)
        out = xp.max(xp.reshape(g, shape[:a] + (n_out, widest) + shape[a + 1:]), axis=a + 1)
    return out


def _adaptive_max_nd(func, nd, input, output_size, return_indices):
    """Each adaptive window gathered to the widest one's size (repeating its last element,
    which leaves the maximum and its first position alone), then one max reduction."""
    x, batched = _batched(func, input, nd)
    sizes = _adaptive_sizes(func, nd, x, output_size)
    if not return_indices:
        out = _adaptive_max_values(x, sizes)
        return out if batched else out[0]
    gathered, width, idx_of = x, [], []
    for ax, n_out in enumerate(sizes):
        idx, kmax = _adaptive_windows(x.shape[2 + ax], n_out, x.device)
        a = 2 + 2 * ax  # axis of this dim after the earlier ones were split in (out, k)
        gathered = xp.take(gathered, xp.reshape(idx, (-1,)), axis=a)
        shape = tuple(gathered.shape)
        gathered = xp.reshape(gathered, shape[:a] + (n_out, kmax) + shape[a + 1:])
        width.append(kmax)
        idx_of.append(idx)
    perm = (0, 1) + tuple(2 + 2 * a for a in range(nd)) + tuple(3 + 2 * a for a in range(nd))
    flat = xp.reshape(xp.permute_dims(gathered, perm),
                      tuple(x.shape[:2]) + sizes + (_prod(width),))
    out = xp.max(flat, axis=-1)
    with xp.no_grad():
        arg = xp.argmax(flat, axis=-1)

        def coordinate(ax, kpos):  # idx_of[ax][o, kpos]
            o = _out_positions(sizes[ax], ax, nd, x.device)
            at = xp.reshape(o * width[ax] + kpos, (-1,))
            return xp.reshape(xp.take(xp.reshape(idx_of[ax], (-1,)), at), tuple(kpos.shape))
        index = _flat_index(arg, width, coordinate, tuple(x.shape[2:]))
    return (out, index) if batched else (out[0], index[0])


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Adaptive 1-D max pooling of (N, C, L) (or (C, L)); ``return_indices`` as PyTorch."""
    return _adaptive_max_nd("adaptive_max_pool1d", 1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Adaptive 2-D max pooling of (N, C, H, W) (or (C, H, W)); ``return_indices`` as PyTorch."""
    return _adaptive_max_nd("adaptive_max_pool2d", 2, input, output_size, return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """Adaptive 3-D max pooling of (N, C, D, H, W) (or unbatched)."""
    return _adaptive_max_nd("adaptive_max_pool3d", 3, input, output_size, return_indices)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=True):
    """``max_pool3d`` returning (values, indices)."""
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=True):
    """``adaptive_max_pool1d`` returning (values, indices)."""
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=True):
    """``adaptive_max_pool2d`` returning (values, indices)."""
    return adaptive_max_pool2d(input, output_size, True)


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=True):
    """``adaptive_max_pool3d`` returning (values, indices)."""
    return adaptive_max_pool3d(input, output_size, True)


def _lp_pool_nd(func, nd, input, norm_type, kernel_size, stride, ceil_mode):
    """``(sum of x^p over each window)^(1/p)``, as PyTorch: the average pool of ``x^p``
    times the window size (partial ``ceil_mode`` windows are averages scaled up)."""
    kernel = _tuple(kernel_size, nd, func, "kernel_size")
    avg = _avg_pool_nd(func, nd, input ** norm_type, kernel, stride, 0, ceil_mode, True, None)
    return (xp.sign(avg) * xp.abs(avg) * _prod(kernel)) ** (1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """1-D power-average pooling."""
    return _lp_pool_nd("lp_pool1d", 1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """2-D power-average pooling."""
    return _lp_pool_nd("lp_pool2d", 2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """3-D power-average pooling."""
    return _lp_pool_nd("lp_pool3d", 3, input, norm_type, kernel_size, stride, ceil_mode)


def _max_unpool_nd(func, nd, input, indices, kernel_size, stride, padding, output_size):
    """The values of a max pooling written back at their ``indices`` into zeros."""
    x, batched = _batched(func, input, nd)
    if tuple(indices.shape) != tuple(input.shape) or indices.dtype.kind not in "iu":
        raise ValueError(f"{func}: indices must be integers of the input's shape "
                         f"{tuple(input.shape)}, got {indices.dtype} {tuple(indices.shape)}")
    kernel = _tuple(kernel_size, nd, func, "kernel_size")
    stride = kernel if stride is None else _tuple(stride, nd, func, "stride")
    padding = _tuple(padding, nd, func, "padding")
    sizes = tuple((i - 1) * s - 2 * p + k for i, s, p, k in
                  zip(x.shape[2:], stride, padding, kernel))
    if output_size is not None:
        given = tuple(int(o) for o in tuple(output_size)[-nd:])
        if any(not d - s < o < d + s for o, d, s in zip(given, sizes, stride)):
            raise ValueError(f"{func}: output_size {given} is not within a stride of the "
                             f"default {sizes}")
        sizes = given
    n, c = x.shape[:2]
    idx = xp.reshape(xp.astype(indices if batched else xp.expand_dims(indices, axis=0), xp.int64),
                     (n, c, -1))
    total = _prod(sizes)
    if idx.size and (int(xp.min(idx)) < 0 or int(xp.max(idx)) >= total):
        raise IndexError(f"{func}: found an index out of range for an output of spatial size "
                         f"{sizes}")
    zeros = xp.zeros((n, c, total), dtype=x.dtype, device=x.device)
    src = xp.reshape(x, (n, c, -1))
    if all(s >= k for s, k in zip(stride, kernel)):  # disjoint windows: distinct indices
        out = xp.scatter(zeros, 2, idx, src)
    else:  # an index repeated by overlapping windows is written once, but its gradient
        # reaches every copy (PyTorch's backward is a gather), as a scatter-add's does
        added = xp.scatter_add(zeros, 2, idx, src)
        out = xp.scatter(zeros, 2, idx, src.detach()) + (added - added.detach())
    out = xp.reshape(out, (n, c) + sizes)
    return out if batched else out[0]


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of ``max_pool1d``: each value back at its index, zeros elsewhere."""
    return _max_unpool_nd("max_unpool1d", 1, input, indices, kernel_size, stride, padding,
                          output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of ``max_pool2d``: each value back at its index, zeros elsewhere."""
    return _max_unpool_nd("max_unpool2d", 2, input, indices, kernel_size, stride, padding,
                          output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of ``max_pool3d``: each value back at its index, zeros elsewhere."""
    return _max_unpool_nd("max_unpool3d", 3, input, indices, kernel_size, stride, padding,
                          output_size)


# -- dropout -----------------------------------------------------------------------
def _check_p(func, p):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{func}: dropout probability has to be between 0 and 1, but got {p}")


def _noise(input, p, feature):
    """Bernoulli(1 - p) keep mask in ``input``'s dtype: per element, or per (sample, channel)
    (``feature``: one draw broadcast over the dims after the channel)."""
    if feature:
        lead = 2 if input.ndim > 2 else 1
        shape = tuple(input.shape[:lead]) + (1,) * (input.ndim - lead)
    else:
        shape = tuple(input.shape)
    keep = xp.rand(*shape, dtype=input.dtype, device=input.device) >= p
    return xp.astype(keep, input.dtype)


def _alpha_dropout(func, input, p, training, inplace, feature):
    _check_p(func, p)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return _maybe_in_place(func, input, inplace, lambda x: x * 0.0)
    alpha = _SELU_ALPHA * _SELU_SCALE
    a = 1.0 / math.sqrt((alpha * alpha * p + 1) * (1 - p))

    def compute(x):
        keep = _noise(x, p, feature)  # dropped units go to SELU's saturation value
        return x * (keep * a) + ((keep - 1.0) * (alpha * a) + alpha * a * p)
    return _maybe_in_place(func, input, inplace, compute)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout that keeps SELU's zero mean and unit variance (PyTorch's ``alpha_dropout``)."""
    return _alpha_dropout("alpha_dropout", input, p, training, inplace, False)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """``alpha_dropout`` of whole channels."""
    return _alpha_dropout("feature_alpha_dropout", input, p, training, inplace, True)


def _feature_dropout(func, nd, input, p, training, inplace):
    _check_p(func, p)
    if input.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{func}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) "
                         f"input, got shape {tuple(input.shape)}")
    if not training or p == 0.0:
        return input

    def compute(x):
        if p == 1.0:
            return x * 0.0
        keep = _noise(x if x.ndim == nd + 2 else xp.expand_dims(x, axis=0), p, True)
        return x * (keep if x.ndim == nd + 2 else keep[0]) * (1.0 / (1.0 - p))
    return _maybe_in_place(func, input, inplace, compute)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) (or (C, L)) with probability ``p``, scale by 1/(1-p)."""
    return _feature_dropout("dropout1d", 1, input, p, training, inplace)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) (or (C, H, W)) with probability ``p``."""
    return _feature_dropout("dropout2d", 2, input, p, training, inplace)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, D, H, W) (or unbatched) with probability ``p``."""
    return _feature_dropout("dropout3d", 3, input, p, training, inplace)


# -- embedding bags ----------------------------------------------------------------
def _bags(func, input, offsets, include_last_offset):
    """(flat indices, each bag's start and end (int64, 1-D), the bag of each index) for a
    2-D input (a bag a row) or a 1-D one cut at ``offsets``."""
    dev = input.device
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError(f"{func}: if input is 2-D (shape {tuple(input.shape)}), offsets has "
                             "to be None")
        b, length = input.shape
        starts = xp.arange(b, dtype=xp.int64, device=dev) * length
        bag = xp.arange(b * length, dtype=xp.int64, device=dev) // max(length, 1)
        return xp.reshape(input, (-1,)), starts, starts + length, bag
    if input.ndim != 1:
        raise ValueError(f"{func}: input has to be 1-D or 2-D, got shape {tuple(input.shape)}")
    if offsets is None or offsets.ndim != 1:
        raise ValueError(f"{func}: offsets has to be a 1-D tensor when input is 1-D, got "
                         f"{None if offsets is None else tuple(offsets.shape)}")
    if offsets.dtype.kind not in "iu":
        raise TypeError(f"{func}: expected integer offsets, got {offsets.dtype}")
    n = input.shape[0]
    offsets = xp.astype(offsets, xp.int64)
    if offsets.shape[0]:
        if int(offsets[0]) != 0:
            raise ValueError(f"{func}: offsets[0] has to be 0, got {int(offsets[0])}")
        if int(offsets[-1]) > n or bool(xp.any(offsets[1:] < offsets[:-1])):
            raise ValueError(f"{func}: offsets must be non-decreasing and at most the input "
                             f"size {n}")
    if include_last_offset:
        if offsets.shape[0] == 0 or int(offsets[-1]) != n:
            raise ValueError(f"{func}: with include_last_offset, the last offset must be the "
                             f"input size {n}")
        starts, ends = offsets[:-1], offsets[1:]
    else:
        starts = offsets
        ends = xp.concat([offsets[1:], xp.asarray([n], dtype=xp.int64, device=dev)])
    pos = xp.arange(n, dtype=xp.int64, device=dev)
    bag = xp.searchsorted(starts, pos, side="right") - 1 if starts.shape[0] else pos
    return input, starts, ends, bag  # bag: the last one starting at or before each index


def _bag_max(rows, flat, starts, ends, padding_idx):
    """Each bag's maximum: its rows gathered to the longest bag's length (repeating its last
    row), the ``padding_idx`` rows and the empty bags masked."""
    lengths = ends - starts
    longest = int(xp.max(lengths))
    j = xp.reshape(xp.arange(longest, dtype=xp.int64, device=rows.device), (1, -1))
    last = xp.clip(xp.reshape(ends, (-1, 1)) - 1, 0, None)
    idx = xp.minimum(xp.reshape(starts, (-1, 1)) + j, last)  # (B, longest)
    valid = j < xp.reshape(lengths, (-1, 1))
    if padding_idx is not None:
        picked = xp.reshape(xp.take(flat, xp.reshape(idx, (-1,)), axis=0), tuple(idx.shape))
        valid = xp.logical_and(valid, picked != padding_idx)
    g = xp.reshape(xp.take(rows, xp.reshape(idx, (-1,)), axis=0),
                   tuple(idx.shape) + (rows.shape[1],))
    masked = padding_idx is not None or bool(xp.any(lengths == 0))
    if masked:
        g = xp.where(xp.expand_dims(valid, axis=-1), g,
                     xp.full((), -math.inf, dtype=rows.dtype, device=rows.device))
    best = xp.max(g, axis=1)
    return xp.where(xp.any(valid, axis=1, keepdims=True), best, 0.0) if masked else best


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False,
                  mode="mean", sparse=False, per_sample_weights=None, include_last_offset=False,
                  padding_idx=None):
    """Sum, mean or max of the ``weight`` rows of each bag of indices: the rows of a 2-D
    ``input``, or the segments of a 1-D one that ``offsets`` start; ``padding_idx`` entries
    are left out, an empty bag gives zeros; ``per_sample_weights`` scale the rows (mode 'sum').
    Sums and means are one scatter-add of the looked-up rows, maxima one gather and one max."""
    func = "embedding_bag"
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"{func}: mode has to be one of 'sum', 'mean' or 'max', got {mode!r}")
    if max_norm is not None:
        raise NotImplementedError(f"{func}: max_norm is not supported")
    if input.dtype.kind not in "iu":
        raise TypeError(f"{func}: expected an integer index tensor, got {input.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"{func}: weight has to be 2-D, got shape {tuple(weight.shape)}")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(f"{func}: per_sample_weights is only supported for "
                                      f"mode='sum', got mode={mode!r}")
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ValueError(f"{func}: per_sample_weights of shape "
                             f"{tuple(per_sample_weights.shape)} must have the input's shape "
                             f"{tuple(input.shape)}")
    num, dim = weight.shape
    if input.size:
        lo, hi = int(xp.min(input)), int(xp.max(input))
        if lo < 0 or hi >= num:
            raise IndexError(f"{func}: index {lo if lo < 0 else hi} is out of range for a weight "
                             f"of {num} embeddings (shape {tuple(weight.shape)})")
    flat, starts, ends, bag = _bags(func, input, offsets, include_last_offset)
    flat = xp.astype(flat, xp.int64)
    if padding_idx is not None:
        padding_idx %= num
    zeros = xp.zeros((starts.shape[0], dim), dtype=weight.dtype, device=weight.device)
    if flat.shape[0] == 0 or starts.shape[0] == 0:
        return zeros
    rows = xp.take(weight, flat, axis=0)  # (n, D)
    if mode == "max":
        return _bag_max(rows, flat, starts, ends, padding_idx)
    keep = None if padding_idx is None else xp.astype(flat != padding_idx, weight.dtype)
    scale = keep
    if per_sample_weights is not None:
        w = xp.reshape(per_sample_weights, (-1,))
        scale = w if scale is None else w * scale
    if scale is not None:
        rows = rows * xp.reshape(scale, (-1, 1))
    if input.ndim == 2:  # equal bags: one reduction
        out = xp.sum(xp.reshape(rows, tuple(input.shape) + (dim,)), axis=1)
    else:
        out = xp.scatter_add(zeros, 0, xp.broadcast_to(xp.reshape(bag, (-1, 1)),
                                                       tuple(rows.shape)), rows)
    if mode == "sum":
        return out
    if keep is None:
        count = xp.astype(ends - starts, weight.dtype)
    else:
        count = xp.scatter_add(xp.zeros((starts.shape[0],), dtype=weight.dtype,
                                        device=weight.device), 0, bag, keep)
    return out / xp.reshape(xp.clip(count, 1.0, None), (-1, 1))


# -- losses ------------------------------------------------------------------------
def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                        reduction="mean"):
    """``max(0, -target (input1 - input2) + margin)``."""
    func = "margin_ranking_loss"
    reduction = _reduction(func, size_average, reduce, reduction)
    if not input1.ndim == input2.ndim == target.ndim:
        raise RuntimeError(f"{func}: all input tensors should have the same dimension, got "
                           f"shapes {tuple(input1.shape)}, {tuple(input2.shape)} and "
                           f"{tuple(target.shape)}")
    v = margin - target * (input1 - input2)
    return _reduce(xp.where(v > 0, v, 0.0), reduction, func)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,
                         reduction="mean"):
    """``x`` where ``target == 1``, ``max(0, margin - x)`` where ``target == -1``."""
    reduction = _reduction("hinge_embedding_loss", size_average, reduce, reduction)
    v = margin - input
    loss = xp.where(target != 1, xp.where(v > 0, v, 0.0), 0.0) + \
        xp.where(target != -1, input, 0.0)
    return _reduce(loss, reduction, "hinge_embedding_loss")


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                          reduction="mean"):
    """``1 - cos(x1, x2)`` where ``target == 1``, ``max(0, cos - margin)`` where it is -1."""
    func = "cosine_embedding_loss"
    reduction = _reduction(func, size_average, reduce, reduction)
    if target.ndim not in (0, 1) or input1.ndim != target.ndim + 1 or \
            input2.ndim != target.ndim + 1:
        raise RuntimeError(f"{func}: expected a 1-D target with 2-D inputs or a 0-D target with "
                           f"1-D inputs, got target {tuple(target.shape)}, inputs "
                           f"{tuple(input1.shape)} and {tuple(input2.shape)}")
    d = target.ndim
    eps = 1e-12
    prod = xp.sum(input1 * input2, axis=d)
    m1 = xp.sum(input1 * input1, axis=d) + eps
    m2 = xp.sum(input2 * input2, axis=d) + eps
    cos = prod / xp.sqrt(m1 * m2)
    neg = cos - margin
    loss = xp.where(target == 1, 1.0 - cos, 0.0) + xp.where(target == -1, xp.where(
        neg > 0, neg, 0.0), 0.0)
    return _reduce(loss, reduction, func)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """``log(1 + exp(-target x))``."""
    reduction = _reduction("soft_margin_loss", size_average, reduce, reduction)
    _check_same_shape("soft_margin_loss", input, target)
    return _reduce(_softplus(-target * input), reduction, "soft_margin_loss")


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction="mean"):
    """Mean over classes of the binary cross-entropy of ``sigmoid(x)`` against 0/1 targets."""
    func = "multilabel_soft_margin_loss"
    reduction = _reduction(func, size_average, reduce, reduction)
    _check_same_shape(func, input, target)
    loss = target * _softplus(-input) + (1.0 - target) * _softplus(input)
    if weight is not None:
        loss = loss * weight
    loss = xp.sum(loss, axis=-1) / input.shape[-1] if input.ndim else loss
    return _reduce(loss, reduction, func)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction="mean"):
    """Multi-class hinge: ``sum_{i != y} max(0, margin - x[y] + x[i])^p / C`` per sample
    (times ``weight[y]``)."""
    func = "multi_margin_loss"
    reduction = _reduction(func, size_average, reduce, reduction)
    if p not in (1, 2):
        raise ValueError(f"{func}: only p == 1 and p == 2 are supported, got p={p}")
    if input.ndim not in (1, 2) or target.ndim != input.ndim - 1 or \
            (input.ndim == 2 and target.shape[0] != input.shape[0]):
        raise ValueError(f"{func}: expected input (N, C) with target (N,) or input (C,) with a "
                         f"0-D target, got {tuple(input.shape)} and {tuple(target.shape)}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"{func}: expected integer class indices as target, got {target.dtype}")
    x = input if input.ndim == 2 else xp.expand_dims(input, axis=0)
    t = xp.reshape(xp.astype(target, xp.int64), (-1, 1))
    c = x.shape[1]
    if t.shape[0] and (int(xp.min(t)) < 0 or int(xp.max(t)) >= c):
        raise IndexError(f"{func}: target out of range for {c} classes")
    picked = xp.take_along_axis(x, t, axis=1)
    v = margin - picked + x
    hinge = xp.where(v > 0, v, 0.0)
    if p == 2:
        hinge = hinge * hinge
    if weight is not None:
        hinge = hinge * xp.take(weight, xp.reshape(t, (-1,)), axis=0)[:, None]
    classes = xp.reshape(xp.arange(c, dtype=xp.int64, device=x.device), (1, -1))
    loss = xp.sum(xp.where(classes == t, 0.0, hinge), axis=1) / c
    return _reduce(loss if input.ndim == 2 else loss[0], reduction, func)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    """``max(0, margin + d(a, p) - d(a, n))`` with ``d`` the pairwise p-norm distance
    (``swap``: ``d(a, n)`` replaced by ``min(d(a, n), d(p, n))``)."""
    func = "triplet_margin_loss"
    reduction = _reduction(func, size_average, reduce, reduction)
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise RuntimeError(f"{func}: the anchor, positive and negative tensors should have the "
                           f"same number of dimensions, got shapes {tuple(anchor.shape)}, "
                           f"{tuple(positive.shape)} and {tuple(negative.shape)}")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = xp.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    v = margin + d_pos - d_neg
    return _reduce(xp.where(v > 0, v, 0.0), reduction, func)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    """Poisson negative log-likelihood: ``exp(x) - t x`` (``log_input``) or
    ``x - t log(x + eps)``; ``full`` adds Stirling's term where ``t > 1``."""
    reduction = _reduction("poisson_nll_loss", size_average, reduce, reduction)
    if log_input:
        loss = xp.exp(input) - target * input
    else:
        loss = input - target * xp.log(input + eps)
    if full:
        big = target > 1
        t = xp.where(big, target, 2.0)
        stirling = t * xp.log(t) - t + 0.5 * xp.log(2 * math.pi * t)
        loss = loss + xp.where(big, stirling, 0.0)
    return _reduce(loss, reduction, "poisson_nll_loss")


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """``0.5 (log(var) + (input - target)^2 / var)`` (``+ 0.5 log(2 pi)`` when ``full``);
    ``var`` is clamped at ``eps`` in value only, as PyTorch, and may omit the last dim."""
    func = "gaussian_nll_loss"
    reduction = _reduction(func, None, None, reduction)
    if not isinstance(var, Tensor):
        var = xp.full(tuple(input.shape), float(var), dtype=input.dtype, device=input.device)
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = xp.expand_dims(var, axis=-1)
        elif not (tuple(input.shape[:-1]) == tuple(var.shape[:-1]) and var.shape[-1] == 1):
            raise ValueError(f"{func}: var of shape {tuple(var.shape)} is of incorrect size for "
                             f"an input of shape {tuple(input.shape)}")
    if var.size and bool(xp.any(var < 0)):
        raise ValueError(f"{func}: var has negative entry/entries")
    var = var + (xp.clip(var, eps, None) - var).detach()
    d = input - target
    loss = 0.5 * (xp.log(var) + d * d / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction, func)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None,
                                      margin=1.0, swap=False, reduction="mean"):
    """``max(0, margin + d(a, p) - d(a, n))`` for any ``distance_function`` (default the
    pairwise 2-norm distance)."""
    func = "triplet_margin_with_distance_loss"
    reduction = _reduction(func, None, None, reduction)
    if margin <= 0:
        raise ValueError(f"{func}: margin must be greater than 0, got {margin}")
    d = pairwise_distance if distance_function is None else distance_function
    d_pos, d_neg = d(anchor, positive), d(anchor, negative)
    if swap:
        d_neg = xp.minimum(d_neg, d(positive, negative))
    v = margin + d_pos - d_neg
    return _reduce(xp.where(v > 0, v, 0.0), reduction, func)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Multi-label hinge: ``sum_{j target, i not} max(0, 1 - (x[j] - x[i])) / C`` per sample;
    ``target`` holds class indices, ended by the first -1."""
    func = "multilabel_margin_loss"
    reduction = _reduction(func, size_average, reduce, reduction)
    if input.ndim not in (1, 2) or tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{func}: expected a 1-D or 2-D input and a target of its shape, got "
                         f"{tuple(input.shape)} and {tuple(target.shape)}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"{func}: expected integer class indices as target, got {target.dtype}")
    x = input if input.ndim == 2 else xp.expand_dims(input, axis=0)
    t = xp.astype(target if input.ndim == 2 else xp.expand_dims(target, axis=0), xp.int64)
    c = x.shape[1]
    if t.size and int(xp.max(t)) >= c:
        raise IndexError(f"{func}: target {int(xp.max(t))} is out of range for {c} classes")
    listed = xp.cumulative_sum(xp.astype(t < 0, xp.int64), axis=1) == 0  # before the first -1
    safe = xp.where(listed, t, 0)
    classes = xp.reshape(xp.arange(c, dtype=xp.int64, device=x.device), (1, 1, -1))
    hits = xp.logical_and(xp.expand_dims(safe, axis=-1) == classes,
                          xp.expand_dims(listed, axis=-1))  # (N, j, class)
    is_target = xp.any(hits, axis=1)  # (N, C)
    picked = xp.take_along_axis(x, safe, axis=1)  # x[y_j]
    v = 1.0 - xp.expand_dims(picked, axis=-1) + xp.expand_dims(x, axis=1)  # (N, j, i)
    use = xp.logical_and(xp.expand_dims(listed, axis=-1),
                         xp.expand_dims(xp.logical_not(is_target), axis=1))
    loss = xp.sum(xp.where(xp.logical_and(use, v > 0), v, 0.0), axis=(1, 2)) / c
    return _reduce(loss if input.ndim == 2 else loss[0], reduction, func)

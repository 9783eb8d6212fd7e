"""More layers in PyTorch's names, composed from public functions: ``PReLU``, ``Mish``,
``Hardswish``, ``Hardsigmoid``, ``Softmin``, ``CosineSimilarity``, ``PairwiseDistance``,
``Upsample`` (+ ``UpsamplingNearest2d``, ``UpsamplingBilinear2d``), ``PixelShuffle``,
``PixelUnshuffle``, ``InstanceNorm1d/2d``, ``RMSNorm``, ``ConvTranspose1d``, ``Conv3d``,
``MaxPool3d``, ``BatchNorm3d``.  The functional forms (``prelu``, ``mish``, ...) are
module-level functions here."""
from __future__ import annotations

import arraylib as xp
from arraylib import Tensor

from .. import functional as F
from .. import init
from ..parameter import Parameter
from .conv import _ConvNd, _ConvTransposeNd
from .module import Module, _not_a_tensor
from .normalization import _BatchNorm

__all__ = ["PReLU", "Mish", "Hardswish", "Hardsigmoid", "Softmin", "CosineSimilarity",
           "PairwiseDistance", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
           "PixelShuffle", "PixelUnshuffle", "InstanceNorm1d", "InstanceNorm2d", "RMSNorm",
           "ConvTranspose1d", "Conv3d", "MaxPool3d", "BatchNorm3d"]


def _tensor(module, x, name="input"):
    if not isinstance(x, Tensor):
        _not_a_tensor(module, x, name)
    return x


# -- functional forms ----------------------------------------------------------------
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


def mish(input):
    return input * xp.tanh(F.softplus(input))


def hardsigmoid(input):
    return F.relu6(input + 3.0) / 6.0


def hardswish(input):
    return input * hardsigmoid(input)


def softmin(input, dim=None, dtype=None):
    return F.softmax(-input if dtype is None else -xp.astype(input, dtype), dim=dim)


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


def pixel_shuffle(input, upscale_factor):
    """(*, C r^2, H, W) -> (*, C, H r, W r)."""
    r = int(upscale_factor)
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
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise RuntimeError(f"pixel_unshuffle: the spatial size of an input of shape "
                           f"{tuple(input.shape)} is not divisible by downscale_factor {r}")
    lead = tuple(lead)
    n = len(lead)
    x = xp.reshape(input, lead + (c, h // r, r, w // r, r))
    x = xp.permute_dims(x, tuple(range(n)) + (n, n + 2, n + 4, n + 1, n + 3))
    return xp.reshape(x, lead + (c * r * r, h // r, w // r))


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


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """1-D transposed convolution, through the 2-D one; weight (C_in, C_out/groups, k)."""
    if input.ndim == 2:
        return conv_transpose1d(xp.expand_dims(input, axis=0), weight, bias, stride, padding,
                                output_padding, groups, dilation)[0]
    if input.ndim != 3:
        raise ValueError(f"conv_transpose1d: expected a 2-D or 3-D input, got shape "
                         f"{tuple(input.shape)}")
    one = (lambda v: int(v[0]) if isinstance(v, (tuple, list)) else int(v))
    out = F.conv_transpose2d(xp.expand_dims(input, axis=2), xp.expand_dims(weight, axis=2), bias,
                             (1, one(stride)), (0, one(padding)), (0, one(output_padding)),
                             groups, (1, one(dilation)))
    return out[:, :, 0]


# -- modules ---------------------------------------------------------------------------
class PReLU(Module):
    """``max(0, x) + weight * min(0, x)``; ``num_parameters`` (1 or C) slopes, ``init``."""

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(xp.empty((num_parameters,), dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self):
        init.constant_(self.weight, self.init)

    def forward(self, input):
        return prelu(_tensor(self, input), self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class _Elementwise(Module):
    _fn = None

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return type(self)._fn(_tensor(self, input))

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class Mish(_Elementwise):
    """``x tanh(softplus(x))``."""
    _fn = staticmethod(mish)


class Hardswish(_Elementwise):
    """``x relu6(x + 3) / 6``."""
    _fn = staticmethod(hardswish)


class Hardsigmoid(_Elementwise):
    """``relu6(x + 3) / 6``."""
    _fn = staticmethod(hardsigmoid)


class Softmin(Module):
    """``softmax(-x)`` along ``dim``."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return softmin(_tensor(self, input), self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class CosineSimilarity(Module):
    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return cosine_similarity(_tensor(self, x1, "x1"), _tensor(self, x2, "x2"), self.dim,
                                 self.eps)


class PairwiseDistance(Module):
    def __init__(self, p=2.0, eps=1e-6, keepdim=False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        return pairwise_distance(_tensor(self, x1, "x1"), _tensor(self, x2, "x2"), self.norm,
                                 self.eps, self.keepdim)


class Upsample(Module):
    """``F.interpolate`` as a layer (modes 'nearest', 'linear', 'bilinear')."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.size = size
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, (int, float)) \
            else scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):
        return F.interpolate(_tensor(self, input), self.size, self.scale_factor, self.mode,
                             self.align_corners, recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self):
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None \
            else f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class PixelShuffle(Module):
    def __init__(self, upscale_factor):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input):
        return pixel_shuffle(_tensor(self, input), self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    def __init__(self, downscale_factor):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input):
        return pixel_unshuffle(_tensor(self, input), self.downscale_factor)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"


class _InstanceNorm(_BatchNorm):
    _nd = 1

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False,
                 track_running_stats=False, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def forward(self, input):
        name = type(self).__name__
        input = _tensor(self, input)
        nd = self._nd
        if input.ndim not in (nd + 1, nd + 2):
            raise ValueError(f"{name}: expected {nd + 1}D or {nd + 2}D input (got {input.ndim}D "
                             "input)")
        if input.ndim == nd + 1:
            return self.forward(xp.expand_dims(input, axis=0))[0]
        if self.affine and input.shape[1] != self.num_features:
            raise ValueError(f"{name}: expected input's size at dim=1 to match num_features "
                             f"({self.num_features}), but got: {input.shape[1]}.")
        use_stats = self.training or not self.track_running_stats
        return instance_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                             use_stats, self.momentum if self.momentum is not None else 0.1,
                             self.eps)


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or (C, L) inputs."""
    _nd = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or (C, H, W) inputs."""
    _nd = 2


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) inputs."""
    _ndims = (5,)


class RMSNorm(Module):
    """Root-mean-square normalisation over the trailing ``normalized_shape`` dims."""

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None,
                 dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(xp.ones(self.normalized_shape, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self):
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, input):
        return rms_norm(_tensor(self, input), self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class ConvTranspose1d(_ConvTransposeNd):
    """Transposed 1-D convolution; weight (C_in, C_out/groups, k)."""

    _nd = 1

    def forward(self, input, output_size=None):
        input = _tensor(self, input)
        output_padding = self.output_padding
        if output_size is not None:
            o = tuple(output_size)[-1]
            i, s, p, d, k = (input.shape[-1], self.stride[0], self.padding[0], self.dilation[0],
                             self.kernel_size[0])
            output_padding = (o - ((i - 1) * s - 2 * p + d * (k - 1) + 1),)
        return conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding,
                                output_padding, self.groups, self.dilation)


class Conv3d(_ConvNd):
    """3-D convolution over (N, C_in, D, H, W) inputs; weight (C_out, C_in/groups, kd, kh, kw)."""

    _nd = 3

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, device, dtype)

    def forward(self, input):
        x, padding = self._padded(_tensor(self, input))
        return F._convnd("conv3d", 3, x, self.weight, self.bias, self.stride, padding,
                         self.dilation, self.groups)


class MaxPool3d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input):
        return F._max_pool("max_pool3d", 3, _tensor(self, input), self.kernel_size, self.stride,
                           self.padding, self.dilation, self.ceil_mode, self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")

"""More layers in PyTorch's names, composed from public functions: ``PReLU``, ``Mish``,
``Hardswish``, ``Hardsigmoid``, ``Softmin``, ``CosineSimilarity``, ``PairwiseDistance``,
``Upsample`` (+ ``UpsamplingNearest2d``, ``UpsamplingBilinear2d``), ``PixelShuffle``,
``PixelUnshuffle``, ``InstanceNorm1d/2d/3d``, ``RMSNorm``, ``ConvTranspose1d``, ``Conv3d``,
``MaxPool3d``, ``BatchNorm3d``, ``ConvTranspose3d``, ``LocalResponseNorm``, ``ChannelShuffle``,
``AlphaDropout``, ``FeatureAlphaDropout``, ``Dropout1d/2d/3d``, ``EmbeddingBag`` and
``LazyLinear``; their functional forms are in ``nn.functional``."""
from __future__ import annotations

import arraylib as xp
from arraylib import Tensor

from .. import functional as F
from .. import init
from ..parameter import Parameter
from .conv import _ConvNd, _ConvTransposeNd
from .linear import Linear
from .module import Module, _not_a_tensor
from .normalization import _BatchNorm
from .pooling import _MaxPoolNd

__all__ = ["PReLU", "Mish", "Hardswish", "Hardsigmoid", "Softmin", "CosineSimilarity",
           "PairwiseDistance", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
           "PixelShuffle", "PixelUnshuffle", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
           "RMSNorm",
           "ConvTranspose1d", "Conv3d", "MaxPool3d", "BatchNorm3d", "ConvTranspose3d",
           "LocalResponseNorm", "ChannelShuffle", "AlphaDropout", "FeatureAlphaDropout",
           "Dropout1d", "Dropout2d", "Dropout3d", "EmbeddingBag", "LazyLinear"]


def _tensor(module, x, name="input"):
    """``x``, or TypeError naming the layer when it is not a tensor (the extra layers' check)."""
    if not isinstance(x, Tensor):
        _not_a_tensor(module, x, name)
    return x


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
        return F.prelu(_tensor(self, input), self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class _Elementwise(Module):
    _fn = None

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return type(self)._fn(_tensor(self, input), inplace=self.inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class Mish(_Elementwise):
    """``x tanh(softplus(x))``."""
    _fn = staticmethod(F.mish)


class Hardswish(_Elementwise):
    """``x relu6(x + 3) / 6``."""
    _fn = staticmethod(F.hardswish)


class Hardsigmoid(_Elementwise):
    """``relu6(x + 3) / 6``."""
    _fn = staticmethod(F.hardsigmoid)


class Softmin(Module):
    """``softmax(-x)`` along ``dim``."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.softmin(_tensor(self, input), self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class CosineSimilarity(Module):
    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return F.cosine_similarity(_tensor(self, x1, "x1"), _tensor(self, x2, "x2"), self.dim,
                                 self.eps)


class PairwiseDistance(Module):
    def __init__(self, p=2.0, eps=1e-6, keepdim=False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        return F.pairwise_distance(_tensor(self, x1, "x1"), _tensor(self, x2, "x2"), self.norm,
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
        return F.pixel_shuffle(_tensor(self, input), self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    def __init__(self, downscale_factor):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input):
        return F.pixel_unshuffle(_tensor(self, input), self.downscale_factor)

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
        return F.instance_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                             use_stats, self.momentum if self.momentum is not None else 0.0,
                             self.eps)


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or (C, L) inputs."""
    _nd = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or (C, H, W) inputs."""
    _nd = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or (C, D, H, W) inputs."""
    _nd = 3


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
        return F.rms_norm(_tensor(self, input), self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


def _output_padding(module, input, output_size):
    """The output padding that makes a transposed convolution's output ``output_size``."""
    if output_size is None:
        return module.output_padding
    nd = module._nd
    output_size = tuple(output_size)[-nd:]
    pads = tuple(o - ((i - 1) * s - 2 * p + d * (k - 1) + 1)
                 for o, i, s, p, d, k in zip(output_size, input.shape[-nd:], module.stride,
                                             module.padding, module.dilation, module.kernel_size))
    if any(q < 0 or q >= max(s, d) for q, s, d in zip(pads, module.stride, module.dilation)):
        raise ValueError(f"{type(module).__name__}: output_size {output_size} is not reachable "
                         f"from an input of shape {tuple(input.shape)}")
    return pads


class ConvTranspose1d(_ConvTransposeNd):
    """Transposed 1-D convolution; weight (C_in, C_out/groups, k)."""

    _nd = 1

    def forward(self, input, output_size=None):
        input = _tensor(self, input)
        return F.conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding,
                                  _output_padding(self, input, output_size), self.groups,
                                  self.dilation)


class ConvTranspose3d(_ConvTransposeNd):
    """Transposed 3-D convolution; weight (C_in, C_out/groups, kd, kh, kw)."""

    _nd = 3

    def forward(self, input, output_size=None):
        input = _tensor(self, input)
        return F.conv_transpose3d(input, self.weight, self.bias, self.stride, self.padding,
                                  _output_padding(self, input, output_size), self.groups,
                                  self.dilation)


class Conv3d(_ConvNd):
    """3-D convolution over (N, C_in, D, H, W) inputs; weight (C_out, C_in/groups, kd, kh, kw)."""

    _nd = 3

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, device, dtype)

    def forward(self, input):
        x, padding = self._padded(_tensor(self, input))
        return F.conv3d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                        self.groups)


class MaxPool3d(_MaxPoolNd):
    """Max over (kd, kh, kw) windows; stride defaults to the kernel size."""

    def forward(self, input):
        return F.max_pool3d(_tensor(self, input), self.kernel_size, self.stride, self.padding,
                            self.dilation, self.ceil_mode, self.return_indices)


class LocalResponseNorm(Module):
    """Normalise each channel by its ``size`` neighbours' mean square (AlexNet's LRN)."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return F.local_response_norm(_tensor(self, input), self.size, self.alpha, self.beta,
                                     self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class ChannelShuffle(Module):
    """Regroup the channels of (N, C, *) from (groups, C/groups) to (C/groups, groups)."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, input):
        return F.channel_shuffle(_tensor(self, input), self.groups)

    def extra_repr(self):
        return f"groups={self.groups}"


class _DropoutNd(Module):
    _fn = None

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 "
                             f"and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input):
        return type(self)._fn(_tensor(self, input), self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class AlphaDropout(_DropoutNd):
    """Dropout keeping SELU's self-normalisation (zero mean, unit variance)."""
    _fn = staticmethod(F.alpha_dropout)


class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels."""
    _fn = staticmethod(F.feature_alpha_dropout)


class Dropout1d(_DropoutNd):
    """Zero whole channels of (N, C, L) or (C, L) in training."""
    _fn = staticmethod(F.dropout1d)


class Dropout2d(_DropoutNd):
    """Zero whole channels of (N, C, H, W) or (C, H, W) in training."""
    _fn = staticmethod(F.dropout2d)


class Dropout3d(_DropoutNd):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) in training."""
    _fn = staticmethod(F.dropout3d)


class EmbeddingBag(Module):
    """Sums, means or maxima of bags of embeddings (``F.embedding_bag``), N(0, 1) init; the
    ``padding_idx`` row is zero and left out of the bags."""

    def __init__(self, num_embeddings, embedding_dim, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, mode="mean", sparse=False, _weight=None,
                 include_last_offset=False, padding_idx=None, device=None, dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError("EmbeddingBag: padding_idx must be within num_embeddings")
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        self.mode, self.sparse, self.include_last_offset = mode, sparse, include_last_offset
        if _weight is None:
            self.weight = Parameter(xp.empty((num_embeddings, embedding_dim), dtype=dtype,
                                             device=device))
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"EmbeddingBag: _weight of shape {tuple(_weight.shape)} doesn't "
                                 f"match ({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(_weight)

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with xp.no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, input, offsets=None, per_sample_weights=None):
        return F.embedding_bag(_tensor(self, input), self.weight, offsets, self.max_norm,
                               self.norm_type, self.scale_grad_by_freq, self.mode, self.sparse,
                               per_sample_weights, self.include_last_offset, self.padding_idx)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, max_norm=None, norm_type=2.0,
                        scale_grad_by_freq=False, mode="mean", sparse=False,
                        include_last_offset=False, padding_idx=None):
        rows, cols = embeddings.shape
        bag = cls(rows, cols, max_norm, norm_type, scale_grad_by_freq, mode, sparse, embeddings,
                  include_last_offset, padding_idx)
        bag.weight.requires_grad_(not freeze)
        return bag

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        s += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s


class LazyLinear(Linear):
    """``Linear`` whose ``in_features`` is the last dim of its first input; it then becomes
    a ``Linear`` (as PyTorch's lazy modules).  Loading a state dict first also sizes it."""

    def __init__(self, out_features, bias=True, device=None, dtype=None):
        super().__init__(0, out_features, bias, device, dtype)

    def reset_parameters(self):
        if self.in_features:
            super().reset_parameters()

    def has_uninitialized_params(self):
        return self.in_features == 0

    def initialize_parameters(self, in_features):
        """Size the weight (out_features, in_features), initialise it, become a ``Linear``."""
        w = self.weight
        self.in_features = int(in_features)
        self.weight = Parameter(xp.empty((self.out_features, self.in_features), dtype=w.dtype,
                                         device=w.device), requires_grad=w.requires_grad)
        self.reset_parameters()
        self.__class__ = Linear

    def forward(self, input):
        input = _tensor(self, input)
        if input.ndim == 0:
            raise ValueError("LazyLinear: expected an input of at least 1 dim, got a 0-d tensor")
        self.initialize_parameters(input.shape[-1])
        return self.forward(input)

    def _load_from_state_dict(self, state_dict, prefix, strict, missing, unexpected, errors,
                              assign=False):
        w = state_dict.get(prefix + "weight")
        if w is not None and len(w.shape) == 2:
            self.initialize_parameters(w.shape[1])
        Linear._load_from_state_dict(self, state_dict, prefix, strict, missing, unexpected,
                                     errors, assign)

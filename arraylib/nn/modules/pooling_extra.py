"""More pooling layers in PyTorch's names: ``AvgPool3d``, ``AdaptiveAvgPool1d/3d``,
``AdaptiveMaxPool1d/2d/3d``, ``LPPool1d/2d/3d``, ``MaxUnpool1d/2d/3d``, and the sliding-block
layers ``Fold`` and ``Unfold``."""
from __future__ import annotations

from .. import functional as F
from .._functional_base import _tuple
from .extra import _tensor
from .module import Module
from .pooling import _AvgPoolNd, _AdaptivePool

__all__ = ["AvgPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
           "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "LPPool1d", "LPPool2d", "LPPool3d",
           "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "Fold", "Unfold"]


class AvgPool3d(_AvgPoolNd):
    """3-D average pooling (``count_include_pad``, ``divisor_override`` as PyTorch)."""

    def forward(self, input):
        return F.avg_pool3d(_tensor(self, input), self.kernel_size, self.stride, self.padding,
                            self.ceil_mode, self.count_include_pad, self.divisor_override)


class AdaptiveAvgPool1d(_AdaptivePool):
    """Adaptive average pooling of (N, C, L) to ``output_size``."""
    _fn = staticmethod(F.adaptive_avg_pool1d)


class AdaptiveAvgPool3d(_AdaptivePool):
    """Adaptive average pooling of (N, C, D, H, W) to ``output_size`` (None keeps a size)."""
    _fn = staticmethod(F.adaptive_avg_pool3d)


class _AdaptiveMaxPool(_AdaptivePool):
    def __init__(self, output_size, return_indices=False):
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input):
        return type(self)._fn(_tensor(self, input), self.output_size, self.return_indices)


class AdaptiveMaxPool1d(_AdaptiveMaxPool):
    """Adaptive max pooling of (N, C, L) to ``output_size``."""
    _fn = staticmethod(F.adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMaxPool):
    """Adaptive max pooling of (N, C, H, W) to ``output_size`` (None keeps a size)."""
    _fn = staticmethod(F.adaptive_max_pool2d)


class AdaptiveMaxPool3d(_AdaptiveMaxPool):
    """Adaptive max pooling of (N, C, D, H, W) to ``output_size``."""
    _fn = staticmethod(F.adaptive_max_pool3d)


class _LPPoolNd(Module):
    _fn = None

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        self.norm_type, self.kernel_size = norm_type, kernel_size
        self.stride, self.ceil_mode = stride, ceil_mode

    def forward(self, input):
        return type(self)._fn(_tensor(self, input), self.norm_type, self.kernel_size,
                              self.stride, self.ceil_mode)

    def extra_repr(self):
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """1-D power-average pooling: ``(sum of x^p over each window)^(1/p)``."""
    _fn = staticmethod(F.lp_pool1d)


class LPPool2d(_LPPoolNd):
    """2-D power-average pooling."""
    _fn = staticmethod(F.lp_pool2d)


class LPPool3d(_LPPoolNd):
    """3-D power-average pooling."""
    _fn = staticmethod(F.lp_pool3d)


class _MaxUnpoolNd(Module):
    _fn = None
    _nd = 1

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        nd, name = self._nd, type(self).__name__
        self.kernel_size = _tuple(kernel_size, nd, name, "kernel_size")
        self.stride = _tuple(stride if stride is not None else kernel_size, nd, name, "stride")
        self.padding = _tuple(padding, nd, name, "padding")

    def forward(self, input, indices, output_size=None):
        return type(self)._fn(_tensor(self, input), indices, self.kernel_size, self.stride,
                              self.padding, output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """Partial inverse of ``MaxPool1d`` (its values at its indices, zeros elsewhere)."""
    _fn, _nd = staticmethod(F.max_unpool1d), 1


class MaxUnpool2d(_MaxUnpoolNd):
    """Partial inverse of ``MaxPool2d``."""
    _fn, _nd = staticmethod(F.max_unpool2d), 2


class MaxUnpool3d(_MaxUnpoolNd):
    """Partial inverse of ``MaxPool3d``."""
    _fn, _nd = staticmethod(F.max_unpool3d), 3


class Fold(Module):
    """col2im: (N, C*kh*kw, L) blocks summed back into (N, C, *output_size)."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input):
        return F.fold(_tensor(self, input), self.output_size, self.kernel_size, self.dilation,
                      self.padding, self.stride)

    def extra_repr(self):
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")


class Unfold(Module):
    """im2col: (N, C, H, W) -> (N, C*kh*kw, L) sliding blocks."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = (kernel_size, dilation,
                                                                      padding, stride)

    def forward(self, input):
        return F.unfold(_tensor(self, input), self.kernel_size, self.dilation, self.padding,
                        self.stride)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")

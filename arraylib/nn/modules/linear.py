"""Linear layers: ``Identity``, ``Linear``, ``Bilinear``."""
from __future__ import annotations

import math

import arraylib as xp
from arraylib import Tensor

from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module, _not_a_tensor

__all__ = ["Identity", "Linear", "Bilinear"]


class Identity(Module):
    """Returns its input (ignores constructor arguments)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """``y = x @ weight.T + bias``.

    Args: in_features, out_features, bias (default True), device, dtype.
    Shape: (*, in_features) -> (*, out_features).
    Attributes: weight (out_features, in_features) and bias (out_features), both
    U(-1/sqrt(in_features), 1/sqrt(in_features)) as PyTorch (kaiming_uniform, a=sqrt(5)).
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(xp.empty((out_features, in_features), dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(xp.empty((out_features,), dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1]
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        if not isinstance(input, Tensor):
            _not_a_tensor(self, input, "input")
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"



class Bilinear(Module):
    """``y = x1 @ weight[o] @ x2 + bias[o]``; weight (out, in1, in2), U(-1/sqrt(in1), 1/sqrt(in1))."""

    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None,
                 dtype=None):
        super().__init__()
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        self.weight = Parameter(xp.empty((out_features, in1_features, in2_features), dtype=dtype,
                                         device=device))
        if bias:
            self.bias = Parameter(xp.empty((out_features,), dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        if not isinstance(input1, Tensor):
            _not_a_tensor(self, input1, "input1")
        if not isinstance(input2, Tensor):
            _not_a_tensor(self, input2, "input2")
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return f"in1_features={self.in1_features}, in2_features={self.in2_features}, " \
               f"out_features={self.out_features}, bias={self.bias is not None}"

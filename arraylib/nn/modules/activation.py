"""Activation modules (thin wrappers over ``nn.functional``).  ``inplace=True`` modifies
the input and returns it, as PyTorch does (``nn.ReLU(inplace=True)`` is ``F.relu_``)."""
from __future__ import annotations

from arraylib import Tensor

from .. import functional as F
from .module import Module, _not_a_tensor

__all__ = ["ReLU", "ReLU6", "LeakyReLU", "ELU", "GELU", "SiLU", "Sigmoid", "Tanh", "Softplus",
           "Softmax", "LogSoftmax", "Hardtanh", "LogSigmoid"]


class ReLU(Module):
    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        if not isinstance(input, Tensor):
            _not_a_tensor(self, input, "input")
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class ReLU6(ReLU):
    def forward(self, input):
        if not isinstance(input, Tensor):
            _not_a_tensor(self, input, "input")
        return F.relu6(input, inplace=self.inplace)


class Hardtanh(Module):
    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__()
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input):
        if not isinstance(input, Tensor):
            _not_a_tensor(self, input, "input")
        return F.hardtanh(input, self.min_val, self.max_val, inplace=self.inplace)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}" + \
            (", inplace=True" if self.inplace else "")


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input):
        if not isinstance(input, Tensor):
            _not_a_tensor(self, input, "input")
        return F.leaky_relu(input, self.negative_slope, inplace=self.inplace)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input):
        if not isinstance(input, Tensor):
            _not_a_tensor(self, input, "input")
        return F.elu(input, self.alpha, inplace=self.inplace)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input):
        if not isinstance(input, Tensor):
            _not_a_tensor(self, input, "input")
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        if not isinstance(input, Tensor):
            _not_a_tensor(self, input, "input")
        return F.silu(input, inplace=self.inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class Sigmoid(Module):
    def forward(self, input):
        if not isinstance(input, Tensor):
            _not_a_tensor(self, input, "input")
        return F.sigmoid(input)


class LogSigmoid(Module):
    def forward(self, input):
        if not isinstance(input, Tensor):
            _not_a_tensor(self, input, "input")
        return F.logsigmoid(input)


class Tanh(Module):
    def forward(self, input):
        if not isinstance(input, Tensor):
            _not_a_tensor(self, input, "input")
        return F.tanh(input)


class Softplus(Module):
    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input):
        if not isinstance(input, Tensor):
            _not_a_tensor(self, input, "input")
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        if not isinstance(input, Tensor):
            _not_a_tensor(self, input, "input")
        return F.softmax(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        if not isinstance(input, Tensor):
            _not_a_tensor(self, input, "input")
        return F.log_softmax(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"

"""``nn.Parameter``: a leaf tensor that a ``Module`` registers on attribute assignment."""
from __future__ import annotations

import arraylib as xp
from arraylib import Tensor
from arraylib._nn_kernels import make_subclass, register_parameter_class

__all__ = ["Parameter", "Buffer"]


def _rebuild_parameter(data, requires_grad):
    return Parameter(data, requires_grad)


def _rebuild_buffer(data, persistent):
    return Buffer(data, persistent=persistent)


class Parameter(Tensor):
    """A tensor that is a module parameter: assigning it to a ``Module`` attribute
    registers it in ``parameters()``.  Shares storage with ``data``; requires grad
    by default."""

    __slots__ = ()

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = xp.empty((0,))
        if not isinstance(data, Tensor):
            data = xp.asarray(data)
        p = make_subclass(cls, data)
        if requires_grad:
            p.requires_grad_(True)
        return p

    def __init__(self, data=None, requires_grad=True):
        pass

    def __repr__(self):
        return "Parameter containing:\n" + Tensor.__repr__(self)

    __str__ = __repr__  # print(p) says so too, as in PyTorch

    def __reduce_ex__(self, protocol):
        # Tensor's own reduction rebuilds a plain Tensor: wrap it, so that a pickled
        # Parameter comes back a Parameter (with its requires_grad), as in PyTorch.
        return (_rebuild_parameter, (self.detach(), self.requires_grad))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        out = Parameter(xp.asarray(self.detach(), copy=True), self.requires_grad)
        memo[id(self)] = out
        return out


register_parameter_class(Parameter)  # arraylib.load gives saved Parameters this class


class Buffer(Tensor):
    """Marker for ``register_buffer`` by assignment (PyTorch's ``nn.Buffer``)."""

    __slots__ = ("persistent",)

    def __new__(cls, data, *, persistent=True):
        b = make_subclass(cls, data)
        b.persistent = persistent
        return b

    def __init__(self, data, *, persistent=True):
        pass

    def __reduce_ex__(self, protocol):
        return (_rebuild_buffer, (self.detach(), self.persistent))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        out = Buffer(xp.asarray(self.detach(), copy=True), persistent=self.persistent)
        memo[id(self)] = out
        return out

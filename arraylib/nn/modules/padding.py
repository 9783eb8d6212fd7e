"""Padding layers in PyTorch's names: ``ZeroPad1d/2d/3d``, ``ConstantPad1d/2d/3d``,
``ReflectionPad1d/2d/3d``, ``ReplicationPad1d/2d/3d``, ``CircularPad1d/2d/3d``; each pads
the last 1, 2 or 3 dims by ``padding`` (an int, or (left, right[, top, bottom[, front,
back]]) from the last dim backwards) through ``F.pad``."""
from __future__ import annotations

from arraylib import Tensor

from .. import functional as F
from .module import Module, _not_a_tensor

__all__ = [f"{kind}Pad{n}d" for kind in ("Zero", "Constant", "Reflection", "Replication",
                                         "Circular") for n in (1, 2, 3)]


def _padding(name, padding, nd):
    if isinstance(padding, int):
        return (padding,) * (2 * nd)
    padding = tuple(int(p) for p in padding)
    if len(padding) != 2 * nd:
        raise ValueError(f"{name}: padding must be an int or a tuple of {2 * nd} ints, got "
                         f"{padding}")
    return padding


class _PadNd(Module):
    _nd = 1
    _mode = "constant"

    def __init__(self, padding):
        super().__init__()
        self.padding = _padding(type(self).__name__, padding, self._nd)

    def _pad(self, input, value=None):
        if not isinstance(input, Tensor):
            _not_a_tensor(self, input, "input")
        nd = self._nd
        if self._mode != "constant" and input.ndim not in (nd + 1, nd + 2):
            raise ValueError(f"{type(self).__name__}: expected a {nd + 1}-D or {nd + 2}-D input, "
                             f"got shape {tuple(input.shape)}")
        if self._mode == "circular":
            for i in range(nd):
                n = input.shape[input.ndim - 1 - i]
                if max(self.padding[2 * i:2 * i + 2]) > n:
                    raise ValueError(f"{type(self).__name__}: padding {self.padding} would wrap "
                                     f"around more than once an input of shape "
                                     f"{tuple(input.shape)}")
        return F.pad(input, self.padding, self._mode, value)

    def forward(self, input):
        return self._pad(input)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def forward(self, input):
        return self._pad(input, self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


def _make(kind, base, mode, nd):
    doc = f"Pads the last {nd} dim{'s' if nd > 1 else ''} ({mode} padding)."
    return type(f"{kind}Pad{nd}d", (base,), {"_nd": nd, "_mode": mode, "__doc__": doc,
                                             "__module__": __name__})


ZeroPad1d, ZeroPad2d, ZeroPad3d = (_make("Zero", _ZeroPadNd, "constant", n) for n in (1, 2, 3))
ConstantPad1d, ConstantPad2d, ConstantPad3d = (_make("Constant", _ConstantPadNd, "constant", n)
                                               for n in (1, 2, 3))
ReflectionPad1d, ReflectionPad2d, ReflectionPad3d = (_make("Reflection", _PadNd, "reflect", n)
                                                     for n in (1, 2, 3))
ReplicationPad1d, ReplicationPad2d, ReplicationPad3d = (_make("Replication", _PadNd, "replicate",
                                                              n) for n in (1, 2, 3))
CircularPad1d, CircularPad2d, CircularPad3d = (_make("Circular", _PadNd, "circular", n)
                                               for n in (1, 2, 3))

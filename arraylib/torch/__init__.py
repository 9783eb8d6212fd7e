"""``arraylib.torch``: PyTorch's face over arraylib's ``Tensor``.

The namespace a PyTorch script imports as ``torch``: every name of ``arraylib``, the
PyTorch-signature functions (positional ``dim``, ``keepdim``, ``out=``; they win where
the standard's differ), PyTorch's dtype names (``torch.float``, ``torch.long``, ...),
the legacy typed constructors (``torch.FloatTensor``), ``torch.Size``, and the
submodules (``nn``, ``optim``, ``utils.data``, ``backends``, ``cuda``, ``onnx``, ...).

Run an unchanged script with ``python -m arraylib.torch script.py args...``, or call
``arraylib.torch.install()`` before anything imports ``torch``.  ``import arraylib``
stays the standard's namespace; only this face takes PyTorch's signatures.
"""
from __future__ import annotations

import importlib as _importlib

import arraylib as _arraylib
from arraylib import *  # noqa: F401,F403  (the standard's namespace, then PyTorch's below)
from arraylib import Tensor, autograd, fft, func, linalg, nn, optim  # noqa: F401

from arraylib import _torch_functions
from arraylib._torch_functions import *  # noqa: F401,F403  (PyTorch's signatures win)

from . import backends, cuda, jit, onnx, version  # noqa: E402
from . import _face  # noqa: E402
from ._face import (compile, set_num_threads, get_num_threads,  # noqa: E402,A004
                    set_num_interop_threads, get_num_interop_threads,
                    use_deterministic_algorithms, are_deterministic_algorithms_enabled,
                    set_float32_matmul_precision, get_float32_matmul_precision,
                    get_default_dtype, set_default_dtype)
from ._install import install, uninstall, is_installed  # noqa: E402

__version__ = version.__version__

# -- PyTorch's dtype names ------------------------------------------------------------------
dtype = _face.torch_dtype_class()
float = float32  # noqa: A001,F405
double = float64  # noqa: F405
int = int32  # noqa: A001,F405
long = int64  # noqa: F405
short = int16  # noqa: F405
cfloat = complex64  # noqa: F405
cdouble = complex128  # noqa: F405
half = float16  # noqa: F405
_DTYPE_NAMES = ["dtype", "float", "double", "half", "int", "long", "short", "cfloat", "cdouble"]

# -- the legacy typed constructors ----------------------------------------------------------
FloatTensor = _face.typed_tensor("FloatTensor", float32)  # noqa: F405
DoubleTensor = _face.typed_tensor("DoubleTensor", float64)  # noqa: F405
LongTensor = _face.typed_tensor("LongTensor", int64)  # noqa: F405
IntTensor = _face.typed_tensor("IntTensor", int32)  # noqa: F405
ShortTensor = _face.typed_tensor("ShortTensor", int16)  # noqa: F405
ByteTensor = _face.typed_tensor("ByteTensor", uint8)  # noqa: F405
CharTensor = _face.typed_tensor("CharTensor", int8)  # noqa: F405
BoolTensor = _face.typed_tensor("BoolTensor", bool)  # noqa: F405
HalfTensor = _face.typed_tensor("HalfTensor", float16)  # noqa: F405
BFloat16Tensor = _face.typed_tensor("BFloat16Tensor", bfloat16)  # noqa: F405
_TYPED = ["FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "ShortTensor", "ByteTensor",
          "CharTensor", "BoolTensor", "HalfTensor", "BFloat16Tensor"]

# -- subpackages that load on first use -----------------------------------------------------
_LAZY = {"distributed": "arraylib.distributed", "utils": "arraylib.utils", "amp": "arraylib.amp"}


def __getattr__(name):
    if name in _LAZY:
        return _importlib.import_module(_LAZY[name])
    if not name.startswith("_"):  # what arraylib loads on first use (and adds later)
        try:
            return getattr(_arraylib, name)
        except AttributeError:
            pass
    raise AttributeError(f"module 'torch' (arraylib's torch face) has no attribute {name!r}")


# ``from torch import *``: the functions, dtypes and classes, not the submodules (as PyTorch)
__all__ = sorted(set(_arraylib.__all__) | set(_torch_functions.__all__) | set(_DTYPE_NAMES)
                 | set(_TYPED) | {
    "Tensor", "compile", "set_num_threads", "get_num_threads", "set_num_interop_threads",
    "get_num_interop_threads", "use_deterministic_algorithms",
    "are_deterministic_algorithms_enabled", "set_float32_matmul_precision",
    "get_float32_matmul_precision", "get_default_dtype", "set_default_dtype", "install",
    "uninstall", "is_installed"})

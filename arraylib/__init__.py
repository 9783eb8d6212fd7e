"""arraylib: a differentiable Array API 2025.12 namespace on NumPy, CuPy and
array-api-strict storage, with PyTorch-shaped autograd, nn and optim.

``import arraylib as xp`` is a complete standard namespace; ``import arraylib as
torch`` runs the common subset of PyTorch training scripts.
"""
from __future__ import annotations

__array_api_version__ = "2025.12"
__version__ = "0.1.0"

import sys as _sys

from . import _dtypes
from ._dtypes import (bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64,  # noqa: A004
                      float32, float64, complex64, complex128, float16, bfloat16)
from ._core._devices import (Device, set_default_device, get_default_device)
from ._dtypes import set_default_dtype, get_default_dtype
from ._core._tensor import Tensor, Size, is_tensor

__all__ = ["__array_api_version__", "Tensor", "Size", "is_tensor", "Device", "device",
           "set_default_device", "get_default_device", "set_default_dtype", "get_default_dtype",
           "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
           "float32", "float64", "complex64", "complex128", "float16", "bfloat16", "e", "inf", "nan", "newaxis", "pi"]

device = Device  # PyTorch's spelling: arraylib.device("cpu")

e = 2.718281828459045
inf = float("inf")
nan = float("nan")
pi = 3.141592653589793
newaxis = None

# One chapter at a time, as the standard's table of contents.
from . import _creation_functions, _data_type_functions, _elementwise_functions  # noqa: E402
from . import _indexing_functions, _linear_algebra_functions, _manipulation_functions  # noqa: E402
from . import _searching_functions, _set_functions, _sorting_functions  # noqa: E402
from . import _statistical_functions, _utility_functions, _info, _random  # noqa: E402

from ._creation_functions import *  # noqa: E402,F401,F403
from ._data_type_functions import *  # noqa: E402,F401,F403
from ._elementwise_functions import *  # noqa: E402,F401,F403
from ._indexing_functions import *  # noqa: E402,F401,F403
from ._linear_algebra_functions import *  # noqa: E402,F401,F403
from ._manipulation_functions import *  # noqa: E402,F401,F403
from ._searching_functions import *  # noqa: E402,F401,F403
from ._set_functions import *  # noqa: E402,F401,F403
from ._sorting_functions import *  # noqa: E402,F401,F403
from ._statistical_functions import *  # noqa: E402,F401,F403
from ._utility_functions import *  # noqa: E402,F401,F403
from ._info import *  # noqa: E402,F401,F403
from ._random import *  # noqa: E402,F401,F403

for _m in (_creation_functions, _data_type_functions, _elementwise_functions, _indexing_functions,
           _linear_algebra_functions, _manipulation_functions, _searching_functions, _set_functions,
           _sorting_functions, _statistical_functions, _utility_functions, _info, _random):
    __all__ += _m.__all__
del _m

from . import _foreach  # noqa: E402  (PyTorch's list-wise in-place updates)
from ._foreach import *  # noqa: E402,F401,F403

__all__ += _foreach.__all__
from . import _tensor_methods  # noqa: E402  (PyTorch-style methods on Tensor, and names)
from ._tensor_methods import *  # noqa: E402,F401,F403

__all__ += _tensor_methods.__all__
from . import autograd, linalg, fft  # noqa: E402
from . import func  # noqa: E402  (torch.func's transforms)
from .autograd import functional as _autograd_functional  # noqa: E402,F401  (torch.autograd.functional)
from .autograd import no_grad, enable_grad, set_grad_enabled, is_grad_enabled  # noqa: E402
from .autograd import inference_mode  # noqa: E402

__all__ += ["linalg", "fft", "autograd", "no_grad", "enable_grad", "set_grad_enabled",
            "is_grad_enabled", "inference_mode"]

# PyTorch-signature functions whose names the standard does not use (split, topk,
# einsum, ...); those it does use keep the standard's signatures here (the face
# ``arraylib.torch`` has PyTorch's).
from . import _torch_functions  # noqa: E402
for _n in _torch_functions.__all__:
    if _n not in globals() and _n[:1].islower():
        globals()[_n] = getattr(_torch_functions, _n)
        __all__.append(_n)
del _n

from ._serialization import save, load  # noqa: E402
from ._core._autocast import autocast, is_autocast_enabled, get_autocast_dtype  # noqa: E402
__all__ += ["save", "load", "autocast", "is_autocast_enabled", "get_autocast_dtype"]

from ._core._devices import _device_from_environment  # noqa: E402
from ._core._namespace import bind as _bind_namespace  # noqa: E402

_device_from_environment()
_dtypes._dtype_from_environment()
_bind_namespace(_sys.modules[__name__])  # the machine hands it to derivative rules
del _device_from_environment, _bind_namespace


def __getattr__(name):
    # Subpackages that load on first use (they use only the public namespace).
    if name in ("nn", "optim", "data", "distributed", "cuda", "amp", "utils", "torch"):
        import importlib
        return importlib.import_module(f"arraylib.{name}")
    raise AttributeError(f"module 'arraylib' has no attribute {name!r}")

"""The face's own small pieces: legacy typed constructors, the version string, and the
process-wide switches PyTorch scripts set (threads, determinism, matmul precision,
``compile``).  Kept out of ``__init__`` so that none of this code runs where the face
shadows ``float``, ``int`` and ``bool`` with dtypes."""
from __future__ import annotations

import operator
import os

import arraylib

__all__ = ["typed_tensor", "Version", "torch_dtype_class", "compile", "set_num_threads",
           "get_num_threads", "set_num_interop_threads", "get_num_interop_threads",
           "use_deterministic_algorithms", "are_deterministic_algorithms_enabled",
           "set_float32_matmul_precision", "get_float32_matmul_precision", "get_default_dtype",
           "set_default_dtype"]


# -- dtypes --------------------------------------------------------------------------------
def torch_dtype_class():
    """The class of arraylib's dtype objects (NumPy's ``dtype``), for ``torch.dtype``."""
    return next(c for c in type(arraylib.float32).__mro__ if c.__name__ == "dtype")


get_default_dtype = arraylib.get_default_dtype  # float32 unless set, as in PyTorch
set_default_dtype = arraylib.set_default_dtype  # float32 or float64


# -- legacy typed constructors (torch.FloatTensor, torch.LongTensor, ...) ------------------
def _is_sizes(args) -> bool:
    return all(isinstance(a, int) and not isinstance(a, bool) for a in args) \
        or (len(args) == 1 and isinstance(args[0], arraylib.Size))


class _TypedTensorMeta(type):
    """``torch.FloatTensor(data)`` builds a tensor of the class's dtype, ``(2, 3)`` a
    zero-filled one of that shape; ``isinstance(x, torch.FloatTensor)`` checks the dtype."""

    def __call__(cls, *args, device=None):
        if not args:
            return arraylib.empty((0,), dtype=cls.dtype, device=device)
        if _is_sizes(args):
            shape = tuple(args[0]) if len(args) == 1 and not isinstance(args[0], int) else args
            return arraylib.zeros(shape, dtype=cls.dtype, device=device)
        if len(args) == 1:
            return arraylib.tensor(args[0], dtype=cls.dtype, device=device)
        raise TypeError(f"torch.{cls.__name__}: expected sizes (ints) or one sequence of data, "
                        f"got {args!r}")

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, arraylib.Tensor) and obj.dtype == cls.dtype


def typed_tensor(name: str, dtype):
    """A legacy constructor class ``name`` for ``dtype``."""
    return _TypedTensorMeta(name, (), {"dtype": dtype, "__module__": "torch",
                                       "__doc__": f"PyTorch's legacy ``torch.{name}``: a "
                                                  f"{dtype} tensor from data or sizes."})


# -- the version -----------------------------------------------------------------------------
def _release(v) -> tuple:
    """The leading numbers of a version (``"2.1.0rc1+cpu"`` -> ``(2, 1, 0)``)."""
    if isinstance(v, tuple):
        return tuple(operator.index(p) for p in v)
    out = []
    for part in str(v).split("+")[0].split("."):
        n = len(part) - len(part.lstrip("0123456789"))
        if not n:
            break
        out.append(int(part[:n]))
        if n < len(part):
            break
    return tuple(out)


class Version(str):
    """``torch.__version__``: a string that also compares as a version with strings and
    tuples (``torch.__version__ >= "2.0"``), as PyTorch's ``TorchVersion`` does, and that
    ``packaging.version.parse`` reads."""

    def _cmp(self, other):
        if not isinstance(other, (str, tuple)):
            return NotImplemented
        a, b = _release(self), _release(other)
        width = max(len(a), len(b))
        a, b = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
        return (a > b) - (a < b)

    def __lt__(self, other):
        c = self._cmp(other)
        return c if c is NotImplemented else c < 0

    def __le__(self, other):
        c = self._cmp(other)
        return c if c is NotImplemented else c <= 0

    def __gt__(self, other):
        c = self._cmp(other)
        return c if c is NotImplemented else c > 0

    def __ge__(self, other):
        c = self._cmp(other)
        return c if c is NotImplemented else c >= 0

    __hash__ = str.__hash__


# -- compile ---------------------------------------------------------------------------------
def compile(model=None, *, fullgraph=False, dynamic=None,  # noqa: A001
            backend="inductor", mode=None, options=None, disable=False):
    """PyTorch's ``torch.compile``, as a documented pass-through: arraylib has no graph
    compiler, so the module or function comes back unchanged (also as ``@torch.compile``
    and ``@torch.compile(mode=...)``)."""
    if model is None:
        return lambda m: m
    return model


# -- threads ---------------------------------------------------------------------------------
_threads = {"intra": None, "interop": None}


def _threadpoolctl(func):
    try:
        import threadpoolctl
    except ImportError:
        raise ImportError(f"torch.{func} needs the threadpoolctl package "
                          f"(pip install threadpoolctl)") from None
    return threadpoolctl


def _positive(func, n) -> int:
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"torch.{func}: expected an int, got {type(n).__name__}") from None
    if n < 1:
        raise ValueError(f"torch.{func}: the number of threads must be positive, got {n}")
    return n


def set_num_threads(n) -> None:
    """Limit the threads of the BLAS and OpenMP pools that NumPy's kernels use
    (through threadpoolctl), as ``torch.set_num_threads`` limits PyTorch's."""
    n = _positive("set_num_threads", n)
    _threadpoolctl("set_num_threads").threadpool_limits(limits=n)
    _threads["intra"] = n


def get_num_threads() -> int:
    """The number of threads the compute pools use (the BLAS pool's, as threadpoolctl
    reports it; the CPU count where no pool is loaded)."""
    if _threads["intra"] is not None:
        return _threads["intra"]
    info = _threadpoolctl("get_num_threads").threadpool_info()
    counts = [p["num_threads"] for p in info if p.get("user_api") == "blas"] or \
             [p["num_threads"] for p in info]
    return max(counts) if counts else (os.cpu_count() or 1)


def set_num_interop_threads(n) -> None:
    """Recorded for ``get_num_interop_threads``; arraylib runs operations in the calling
    thread, so it has no inter-op pool to size."""
    _threads["interop"] = _positive("set_num_interop_threads", n)


def get_num_interop_threads() -> int:
    return _threads["interop"] or 1


# -- determinism and precision switches ------------------------------------------------------
_flags = {"deterministic": False, "matmul_precision": "highest"}


def use_deterministic_algorithms(mode, *, warn_only=False) -> None:
    """Recorded only: arraylib's CPU kernels are deterministic whatever the setting."""
    if not isinstance(mode, bool):
        raise TypeError(f"torch.use_deterministic_algorithms: expected a bool, got "
                        f"{type(mode).__name__}")
    _flags["deterministic"] = mode


def are_deterministic_algorithms_enabled() -> bool:
    return _flags["deterministic"]


def set_float32_matmul_precision(precision: str) -> None:
    """Recorded only: float32 matmul always runs in full float32 precision here."""
    if precision not in ("highest", "high", "medium"):
        raise ValueError(f"torch.set_float32_matmul_precision: expected 'highest', 'high' or "
                         f"'medium', got {precision!r}")
    _flags["matmul_precision"] = precision


def get_float32_matmul_precision() -> str:
    return _flags["matmul_precision"]

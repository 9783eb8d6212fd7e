"""Autocast state, per thread (PyTorch's ``torch.autocast``), and the casts it asks for.

``arraylib.amp.autocast`` opens a region: on one device type ("cpu", "cuda") the ops that
PyTorch runs in lower precision (matmul, linear, convolutions) cast their floating
inputs to the region's dtype (``lower``), and the ops it runs in float32 (the losses,
``prod``) cast them to float32 (``upcast``).  Eligible inputs are, as in
PyTorch, floating-point tensors other than float64 on the region's device type.  The
casts are the differentiable cast primitive: gradients reach float32 parameters in
float32.  Casts of leaf tensors that require grad are cached for the outermost region
(``cache_enabled``), so each weight is cast once.

The hot paths read one module attribute, ``active`` (a set of the thread idents with an
open region, empty when no thread has one), before anything else.
"""
from __future__ import annotations

import functools
import threading
import warnings

from .. import _dtypes
from ._cast import cast
from ._grad_mode import state as _grad_state
from ._tensor import Tensor

active: set = set()  # idents of the threads with an enabled autocast region

# nn.functional's ops that PyTorch's CPU autocast runs in float32 (the others it has
# either cast to the lower dtype, or run in their inputs' dtype)
FLOAT32_OPS = frozenset({
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div"})

_ELIGIBLE = frozenset(d for d in _dtypes.real_floating_dtypes if d != _dtypes.float64)


class _Mode:
    """The calling thread's ident; takes it out of ``active`` when the thread ends."""

    __slots__ = ("ident", "__weakref__")
    threads = active  # held by the class: module globals may be gone at interpreter exit

    def __init__(self):
        self.ident = threading.get_ident()

    def __del__(self):
        self.threads.discard(self.ident)


class _State(threading.local):
    """The calling thread's regions: device type -> (enabled, dtype, cache_enabled),
    the depth of open regions, and the cast cache of the outermost one."""

    def __init__(self):
        self.mode = _Mode()
        self.regions: dict = {}
        self.depth = 0
        self.cache: dict = {}


state = _State()


def current(device_type: str):
    """(enabled, dtype, cache_enabled) of the calling thread for ``device_type``."""
    return state.regions.get(device_type, (False, None, True))


def is_enabled(device_type: str = "cpu") -> bool:
    return current(device_type)[0]


def enter(device_type: str, enabled: bool, dtype, cache_enabled: bool):
    """Open a region; returns what ``leave`` restores."""
    prev = state.regions.get(device_type)
    state.regions[device_type] = (bool(enabled), dtype, bool(cache_enabled))
    state.depth += 1
    _refresh()
    return device_type, prev


def leave(token) -> None:
    device_type, prev = token
    if prev is None:
        state.regions.pop(device_type, None)
    else:
        state.regions[device_type] = prev
    state.depth -= 1
    if state.depth == 0:
        state.cache.clear()  # as PyTorch: the cache lives as long as the outermost region
    _refresh()


def _refresh() -> None:
    ident = state.mode.ident
    if any(r[0] for r in state.regions.values()):
        active.add(ident)
    else:
        active.discard(ident)


def _cast_to(t, dtype, cache_ok):
    """``t`` as ``dtype`` where autocast casts it (eligible dtype), else ``t``."""
    if t.__class__ is not Tensor and not isinstance(t, Tensor):
        return t
    dt = t.dtype
    if dt is dtype or dt not in _ELIGIBLE:
        return t
    if not (cache_ok and t._grad_fn is None and t._requires_grad and _grad_state.grad_enabled):
        return cast(t, dtype, False)
    key = (id(t), dtype)
    vc = getattr(t, "_vc", None)
    version = vc[0] if vc else 0
    hit = state.cache.get(key)
    if hit is not None and hit[0] is t and hit[1] == version and \
            (hit[2]._grad_fn is None or not hit[2]._grad_fn.freed):
        return hit[2]
    out = cast(t, dtype, False)
    state.cache[key] = (t, version, out)  # holds t: its id stays its own
    return out


def lower(*tensors):
    """``tensors`` for an op PyTorch's autocast runs in lower precision (matmul, linear,
    convolution): eligible ones on an enabled region's device type, cast to its dtype."""
    if not tensors:
        return tensors
    first = next((t for t in tensors if isinstance(t, Tensor)), None)
    if first is None:
        return tensors
    enabled, dtype, cache = current(first._device.type)
    if not enabled:
        return tensors
    return tuple(_cast_to(t, dtype, cache) for t in tensors)


def upcast(*tensors):
    """``tensors`` for an op PyTorch's autocast runs in float32: eligible ones on an
    enabled region's device type, cast to float32."""
    out = []
    for t in tensors:
        if isinstance(t, Tensor) and current(t._device.type)[0]:
            t = _cast_to(t, _dtypes.float32, False)
        out.append(t)
    return tuple(out)


_DEFAULT_DTYPE = {"cpu": _dtypes.bfloat16, "cuda": _dtypes.float16}


class autocast:
    """PyTorch's ``torch.autocast``: a context manager (and decorator) in which matmul,
    linear and the convolutions on ``device_type`` ("cpu" or "cuda") run in ``dtype``
    (default bfloat16 on the CPU, float16 on CUDA) and the losses in float32, as
    PyTorch's autocast does.  Per thread, nestable; ``enabled=False`` turns it off
    inside an enclosing region."""

    def __init__(self, device_type="cpu", dtype=None, enabled=True, cache_enabled=True):
        device_type = str(device_type).split(":")[0]
        if device_type not in _DEFAULT_DTYPE:
            raise ValueError(f"autocast: device_type must be 'cpu' or 'cuda', got {device_type!r}")
        dtype = _DEFAULT_DTYPE[device_type] if dtype is None else \
            _dtypes.as_dtype(dtype, func="autocast")
        if dtype not in _dtypes.half_dtypes:
            warnings.warn(f"autocast: dtype {dtype} is not supported (expected float16 or "
                          "bfloat16); autocast is disabled", stacklevel=2)
            enabled = False
        self.device_type, self.fast_dtype = device_type, dtype
        self._enabled, self._cache_enabled = bool(enabled), bool(cache_enabled)
        self._tokens = []

    def __enter__(self):
        self._tokens.append(enter(self.device_type, self._enabled, self.fast_dtype,
                                  self._cache_enabled))
        return self

    def __exit__(self, *exc):
        leave(self._tokens.pop())
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with autocast(self.device_type, self.fast_dtype, self._enabled, self._cache_enabled):
                return func(*args, **kwargs)
        return wrapper

    def __repr__(self):
        return (f"autocast(device_type={self.device_type!r}, dtype={self.fast_dtype}, "
                f"enabled={self._enabled})")


def is_autocast_enabled(device_type="cpu") -> bool:
    """Whether the calling thread is in an enabled autocast region for ``device_type``."""
    return is_enabled(str(device_type).split(":")[0])


def get_autocast_dtype(device_type="cpu"):
    """The dtype autocast casts to on ``device_type`` (its default outside a region)."""
    device_type = str(device_type).split(":")[0]
    dt = current(device_type)[1]
    return dt if dt is not None else _DEFAULT_DTYPE.get(device_type, _dtypes.bfloat16)

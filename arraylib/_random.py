"""Random numbers in PyTorch's shape: ``manual_seed``, ``Generator``, ``rand``,
``randn``, ``randint``, ``randperm``, ``normal``, ``bernoulli``.

Numbers are drawn on the host by a NumPy PCG64 generator inside the backend layer
and then moved to the device, so one seed gives the same numbers on every device
(they differ from PyTorch's own stream).  ``dtype`` defaults to float32 (int64 for
``randint``/``randperm``); every function takes ``device=``, ``dtype=``,
``generator=`` and ``requires_grad=``.
"""
from __future__ import annotations

import builtins
import operator

from ._core import _batching as _vb
from . import _dtypes
from ._backends import _random_host as _host
from ._core._devices import as_device
from ._core._grad_mode import no_grad
from ._core._inplace import inplace_update
from ._core._tensor import Tensor, _new
from ._data_type_functions import astype
from ._manipulation_functions import broadcast_shapes
from ._validation import check_allocation, check_tensor as _check_tensor

__all__ = ["Generator", "default_generator", "manual_seed", "seed", "initial_seed",
           "get_rng_state", "set_rng_state", "rand", "randn", "randint", "randperm", "normal",
           "bernoulli", "rand_like", "randn_like", "randint_like"]

_DEFAULT_SEED = 67280421310721  # PyTorch's default seed


class Generator:
    """A source of random numbers with its own state (PyTorch's ``torch.Generator``).

    ``device`` is accepted for compatibility; numbers are always drawn on the host
    and moved to the device that a function's ``device=`` names.
    """

    def __init__(self, device="cpu"):
        self.device = as_device(device)
        self._seed = _DEFAULT_SEED
        self._rng = _host.new_rng(_DEFAULT_SEED)

    def manual_seed(self, seed) -> Generator:
        """Reset the state from ``seed`` (an int); returns self."""
        try:
            seed = int(seed)
        except (TypeError, ValueError):
            raise TypeError(f"Generator.manual_seed: expected an int seed, got {seed!r}") from None
        seed &= 0xFFFF_FFFF_FFFF_FFFF
        self._seed = seed
        self._rng = _host.new_rng(seed)
        return self

    def seed(self) -> int:
        """Seed from a non-deterministic source; returns the seed."""
        s = _host.entropy_seed()
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict:
        """A copy of the state (a dict; pass it to ``set_state``)."""
        return {"seed": self._seed, "bit_generator": _host.get_state(self._rng)}

    def set_state(self, state) -> Generator:
        if not isinstance(state, dict) or "bit_generator" not in state:
            raise TypeError("Generator.set_state: expected a state from Generator.get_state()")
        self._seed = state.get("seed", self._seed)
        _host.set_state(self._rng, state["bit_generator"])
        return self

    def __repr__(self):
        return f"<arraylib.Generator seed={self._seed}>"


default_generator = Generator()


def manual_seed(seed) -> Generator:
    """Seed the default generator (PyTorch's ``torch.manual_seed``)."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the default generator non-deterministically; returns the seed."""
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> dict:
    return default_generator.get_state()


def set_rng_state(state) -> None:
    default_generator.set_state(state)


# -- drawing ---------------------------------------------------------------------
def _size(func, size):
    """``f(2, 3)``, ``f((2, 3))``, ``f([2, 3])`` or ``f()`` → a shape tuple."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    try:
        shape = tuple(int(s.__index__()) for s in size)
    except (AttributeError, TypeError):
        raise TypeError(f"{func}: size must be ints or a sequence of ints, got {size!r}") from None
    if builtins.any(s < 0 for s in shape):
        raise ValueError(f"{func}: negative dimensions are not allowed, got size {shape}")
    return shape


def _gen(func, generator):
    if generator is None:
        return default_generator
    if not isinstance(generator, Generator):
        raise TypeError(f"{func}: generator must be an arraylib.Generator, got "
                        f"{type(generator).__name__}")
    return generator


def _draw(func, kind, shape, dtype, device, generator, requires_grad, default, kinds, **params):
    dev = as_device(device)
    B = dev.backend
    dt = _dtypes.default_on(default, B.supported_dtypes()) if dtype is None else \
        _dtypes.as_dtype(dtype, func=func)
    if _dtypes.kind_of(dt) not in kinds:
        raise TypeError(f"{func}: dtype {dt} is not supported (expected "
                        f"{'floating-point' if kinds == 'fc' else 'a real numeric'} dtype)")
    if dt not in B.supported_dtypes():
        raise TypeError(f"{func}: dtype {dt} is not supported on device '{dev}'")
    shape, levels = _vb.random_shape(func, shape)  # inside vmap: its randomness
    check_allocation(func, shape, dt)
    try:
        data = _host.draw(B, _gen(func, generator)._rng, kind, shape, dt, **params)
    except MemoryError:
        raise MemoryError(f"{func}: out of memory allocating a tensor of shape {shape} and "
                          f"dtype {dt} on device '{dev}'") from None
    out = _new(data, dev)
    if levels:
        out = _vb.wrap_random(out, levels)
    if requires_grad:
        out.requires_grad_(True)
    return out


def dropout_mask(shape, p: float, *, dtype=None, device=None, generator=None) -> Tensor:
    """Dropout's scaled mask (for nn, through ``arraylib._nn_kernels``): ``(u >= p) /
    (1 - p)`` for ``u`` the numbers ``rand(*shape, dtype=dtype)`` would draw (the generator
    left in the same state), of a floating ``dtype``; large masks formed in ranges on
    threads, the same at any thread count."""
    return _draw("dropout_mask", "dropout", tuple(shape), dtype, device, generator, False,
                 _dtypes.default_float, "f", p=float(p))


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform numbers on ``[0, 1)``: ``rand(5, 3)`` or ``rand((5, 3))``."""
    return _draw("rand", "uniform", _size("rand", size), dtype, device, generator, requires_grad,
                 _dtypes.default_float, "fc")


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal numbers (complex: real and imaginary parts of variance 1/2)."""
    return _draw("randn", "normal", _size("randn", size), dtype, device, generator, requires_grad,
                 _dtypes.default_float, "fc")


def randint(*args, size=None, generator=None, dtype=None, device=None,
            requires_grad=False) -> Tensor:
    """Integers on ``[low, high)``: ``randint(high, size)`` or ``randint(low, high, size)``."""
    args = list(args)
    if size is None:
        if not args or not isinstance(args[-1], (tuple, list)):
            raise TypeError("randint: expected randint(low=0, high, size) with size a tuple")
        size = args.pop()
    if len(args) == 1:
        low, high = 0, args[0]
    elif len(args) == 2:
        low, high = args
    else:
        raise TypeError(f"randint: expected (high, size) or (low, high, size), got {len(args)} "
                        "bounds")
    low, high = _int_bound("randint", "low", low), _int_bound("randint", "high", high)
    if high <= low:
        raise ValueError(f"randint: expected low < high, got low={low}, high={high}")
    return _draw("randint", "integers", _size("randint", (size,)), dtype, device, generator,
                 requires_grad, _dtypes.default_int, "iuf", low=low, high=high)


def _int_bound(func, what, v):
    """An int from a Python int, a NumPy integer or a one-element integer tensor."""
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"{func}: {what} must be an int, got {type(v).__name__}") from None


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64 by default)."""
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"randperm: n must be an int, got {type(n).__name__}") from None
    if n < 0:
        raise ValueError(f"randperm: n must be non-negative, got {n}")
    return _draw("randperm", "permutation", (n,), dtype, device, generator, requires_grad,
                 _dtypes.default_int, "iuf", n=n)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad=False) -> Tensor:
    """Normal numbers: ``normal(mean, std, size)`` with float ``mean``/``std``, or
    element-wise parameters when ``mean`` and/or ``std`` are tensors."""
    for what, v in (("mean", mean), ("std", std)):
        if not isinstance(v, (Tensor, int, float)) or isinstance(v, bool):
            raise TypeError(f"normal: {what} must be a float or a Tensor, got {type(v).__name__}")
    tensors = [t for t in (mean, std) if isinstance(t, Tensor)]
    if not tensors:
        if size is None:
            raise TypeError("normal: with float mean and std, size is required")
        if std < 0:
            raise ValueError(f"normal: std must be non-negative, got {std}")
        return _draw("normal", "normal", _size("normal", (size,)), dtype, device, generator,
                     requires_grad, _dtypes.default_float, "fc", mean=float(mean), std=float(std))
    shape = broadcast_shapes(*[t.shape for t in tensors])
    if size is not None and _size("normal", (size,)) != shape:
        raise ValueError(f"normal: size {size} does not match the parameters' shape {shape}")
    ref = tensors[0]
    dt = dtype if dtype is not None else (ref.dtype if _dtypes.is_floating(ref.dtype) else None)
    z = _draw("normal", "normal", shape, dt, ref._device, generator, False,
              _dtypes.default_float, "fc")
    with no_grad():
        out = z * std + mean
    if requires_grad:
        out.requires_grad_(True)
    return out


def bernoulli(input, p=None, *, generator=None) -> Tensor:
    """0/1 samples with probabilities ``input`` (or the float ``p``), in ``input``'s dtype."""
    if not isinstance(input, Tensor):
        raise TypeError(f"bernoulli: expected a Tensor, got {type(input).__name__}")
    if p is not None and not isinstance(p, (float, int, Tensor)) or isinstance(p, bool):
        raise TypeError(f"bernoulli: p must be a float or a Tensor, got {type(p).__name__}")
    dt = input.dtype if input.dtype in _dtypes.real_floating_set else _dtypes.default_float
    u = _draw("bernoulli", "uniform", input.shape, dt, input._device, generator, False, dt, "f")
    return astype(u < (input if p is None else p), input.dtype)  # a comparison: no gradient


def rand_like(x, /, *, dtype=None, device=None, generator=None, requires_grad=False) -> Tensor:
    _check_tensor("rand_like", x)
    return rand(x.shape, dtype=x.dtype if dtype is None else dtype,
                device=x._device if device is None else device, generator=generator,
                requires_grad=requires_grad)


def randn_like(x, /, *, dtype=None, device=None, generator=None, requires_grad=False) -> Tensor:
    _check_tensor("randn_like", x)
    return randn(x.shape, dtype=x.dtype if dtype is None else dtype,
                 device=x._device if device is None else device, generator=generator,
                 requires_grad=requires_grad)


def randint_like(x, /, low=0, high=None, *, dtype=None, device=None, generator=None) -> Tensor:
    _check_tensor("randint_like", x)
    if high is None:
        low, high = 0, low
    low = _int_bound("randint_like", "low", low)
    high = _int_bound("randint_like", "high", high)
    return randint(low, high, x.shape, dtype=x.dtype if dtype is None else dtype,
                   device=x._device if device is None else device, generator=generator)


# -- in-place fills (nn.init) -------------------------------------------------------------
def _fill(x: Tensor, kind: str, what: str, generator, **params) -> Tensor:
    shape, levels = _vb.random_shape(what, x.shape)  # inside vmap: its randomness
    new = _new(_host.draw(x._device.backend, _gen(what, generator)._rng, kind, shape, x.dtype,
                          **params), x._device)
    return inplace_update(x, _vb.wrap_random(new, levels) if levels else new, what)


def _uniform_(self, a=0.0, b=1.0, *, generator=None) -> Tensor:
    """Fill in place with uniform numbers on ``[a, b)``."""
    if not _dtypes.is_floating(self.dtype):
        raise TypeError(f"Tensor.uniform_: expected a floating-point tensor, got {self.dtype}")
    return _fill(self, "uniform", "Tensor.uniform_", generator, low=float(a), high=float(b))


def _normal_(self, mean=0.0, std=1.0, *, generator=None) -> Tensor:
    """Fill in place with normal numbers."""
    if not _dtypes.is_floating(self.dtype):
        raise TypeError(f"Tensor.normal_: expected a floating-point tensor, got {self.dtype}")
    return _fill(self, "normal", "Tensor.normal_", generator, mean=float(mean), std=float(std))


def _random_(self, low=0, high=None, *, generator=None) -> Tensor:
    """Fill in place with integers on ``[low, high)`` (``random_(high)`` also works)."""
    if high is None:
        low, high = 0, low
    return _fill(self, "integers", "Tensor.random_", generator, low=int(low), high=int(high))


def _bernoulli_(self, p=0.5, *, generator=None) -> Tensor:
    """Fill in place with 0/1 samples of probability ``p`` (float or tensor)."""
    src = p if isinstance(p, Tensor) else self
    sample = bernoulli(src, None if isinstance(p, Tensor) else float(p), generator=generator)
    return inplace_update(self, astype(sample, self.dtype), "Tensor.bernoulli_")



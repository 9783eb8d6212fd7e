"""Random numbers, drawn on the host with NumPy and moved to the device.

Drawing on the host makes a seed give the same numbers on every device (cpu,
cuda, the emulated strict devices).  ``arraylib._random`` keeps one opaque host
generator per ``arraylib.Generator`` and calls ``draw``; nothing outside
``_backends`` touches NumPy.
"""
from __future__ import annotations

import copy

import numpy as np

_DIRECT = (np.dtype("float32"), np.dtype("float64"))


def new_rng(seed: int):
    """A host generator (PCG64) seeded with a non-negative int."""
    return np.random.Generator(np.random.PCG64(seed))


def entropy_seed() -> int:
    """A fresh non-deterministic 64-bit seed."""
    return int(np.random.SeedSequence().generate_state(1, np.uint64)[0])


def get_state(rng) -> dict:
    return copy.deepcopy(rng.bit_generator.state)


def set_state(rng, state: dict) -> None:
    rng.bit_generator.state = copy.deepcopy(state)


def _real(rng, kind, shape, dtype, params):
    work = dtype if dtype in _DIRECT else np.dtype("float64")
    if kind == "uniform":
        out = rng.random(shape, dtype=work)
        low, high = params.get("low", 0.0), params.get("high", 1.0)
        if low != 0.0 or high != 1.0:
            out = out * (high - low) + low
            out = out.astype(work, copy=False)
    else:  # normal
        out = rng.standard_normal(shape, dtype=work)
        mean, std = params.get("mean", 0.0), params.get("std", 1.0)
        if std != 1.0:
            out *= std
        if mean != 0.0:
            out += mean
    return out


def draw(B, rng, kind: str, shape: tuple, dtype, **params):
    """Storage on backend ``B`` with numbers from ``rng``.

    kinds: ``uniform`` (low, high), ``normal`` (mean, std; complex dtypes get
    independent real and imaginary parts of variance 1/2 each, as PyTorch),
    ``integers`` (low, high: [low, high)), ``permutation`` (n).
    """
    dtype = np.dtype(dtype)
    shape = tuple(shape)
    if kind in ("uniform", "normal"):
        if dtype.kind == "c":
            part = np.dtype("float32") if dtype.itemsize == 8 else np.dtype("float64")
            re = _real(rng, kind, shape, part, {})
            im = _real(rng, kind, shape, part, {})
            out = (re + 1j * im).astype(dtype)
            if kind == "normal":
                out *= np.sqrt(0.5).astype(part)
                std, mean = params.get("std", 1.0), params.get("mean", 0.0)
                out = out * std + mean
            else:
                low, high = params.get("low", 0.0), params.get("high", 1.0)
                out = out * (high - low) + low
            out = out.astype(dtype, copy=False)
        else:
            out = _real(rng, kind, shape, dtype, params)
    elif kind == "integers":
        low, high = params["low"], params["high"]
        if dtype.kind in "iu":
            out = rng.integers(low, high, size=shape, dtype=dtype)
        else:
            out = rng.integers(low, high, size=shape, dtype=np.int64)
    elif kind == "permutation":
        out = rng.permutation(params["n"])
    else:
        raise ValueError(f"draw: unknown kind {kind!r}")
    out = np.asarray(out).astype(dtype, copy=False)
    return B.from_numpy(out if out.flags.c_contiguous else out.copy())

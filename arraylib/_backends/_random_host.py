"""Random numbers, drawn on the host with NumPy and moved to the device.

Drawing on the host makes a seed give the same numbers on every device (cpu,
cuda, the emulated strict devices).  ``arraylib._random`` keeps one opaque host
generator per ``arraylib.Generator`` and calls ``draw``; nothing outside
``_backends`` touches NumPy.
"""
from __future__ import annotations

import copy
import math

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


def _real(rng, kind, shape, dtype, params, B=None):
    work = dtype if dtype in _DIRECT else np.dtype("float64")
    if kind == "uniform":
        out = rng.random(shape, dtype=work) if B is None else _fill_uniform(B, rng, shape, work)
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


# Large uniform draws are filled in ranges on threads where the backend runs chunks, each
# range from a copy of the generator advanced to the range's first word (PCG64's
# ``advance``): the numbers, and the generator's state after, are the sequential ones.
# A float32 takes half a 64-bit word (NumPy keeps the other half for the next one), a
# float64 a whole word; ranges start where no half word is pending.  The generator's lock
# is held from reading its state to writing the state after (no other draw between).
def _uniform_ranges(B, rng, n, dtype):
    """``[(lo, hi)]``, the ranges of a draw of ``n`` uniform ``dtype`` numbers; one range
    where the draw is not split."""
    per = 2 if dtype == _DIRECT[0] else 1
    bounds = B.chunk_bounds(-(-n // per), n)
    if len(bounds) == 1 or not hasattr(rng.bit_generator, "advance"):
        return [(0, n)]
    return [(lo * per, hi * per) for lo, hi in bounds]


def _range_generators(bg, state, ranges, n, per):
    """``{lo: (bit generator, start, end)}``: copies of ``bg`` at the first of the
    numbers ``start:end`` of each range (``state``: ``bg``'s; range 0 keeps its pending
    half word, the later ranges start after it, on whole words)."""
    pending = state["has_uint32"] if per == 2 else 0
    out = {}
    for i, (lo, hi) in enumerate(ranges):
        part = type(bg)(0)
        part.state = state
        start = 0 if i == 0 else min(pending + lo, n)
        end = min(pending + hi, n) if i + 1 < len(ranges) else n
        if i:
            part.advance((start - pending) // per)
        out[lo] = (part, start, end)
    return out


def _last_drawn(parts):
    """The last range that draws numbers (a small draw's last range may have none)."""
    return max(lo for lo, (_, start, end) in parts.items() if end > start)


def _fill_uniform(B, rng, shape, dtype, finish=None):
    """Uniform ``dtype`` (float32/float64) numbers on [0, 1) of ``shape``, as
    ``rng.random`` draws them, ``finish(part)`` applied in place to each range."""
    n = math.prod(shape)
    ranges = _uniform_ranges(B, rng, n, dtype)
    if len(ranges) == 1:
        out = rng.random(shape, dtype=dtype)
        if finish is not None:
            finish(out)
        return out
    out = np.empty(n, dtype=dtype)
    bg = rng.bit_generator
    with bg.lock:
        state = bg.state
        parts = _range_generators(bg, state, ranges, n, 2 if dtype == _DIRECT[0] else 1)

        def fill(lo, hi):
            part, a, b = parts[lo]
            np.random.Generator(part).random(dtype=dtype, out=out[a:b])
            if finish is not None:
                finish(out[a:b])
        B.run_chunks(fill, ranges)
        last = parts[_last_drawn(parts)][0].state
        if dtype != _DIRECT[0]:  # (float64 draws leave a pending half word alone)
            last["has_uint32"], last["uinteger"] = state["has_uint32"], state["uinteger"]
        bg.state = last
    return out.reshape(shape)


def _dropout_mask(B, rng, shape, dtype, p):
    """Dropout's mask of ``shape`` and ``dtype``: ``(u >= p) / (1 - p)`` for the uniform
    draws ``u`` that ``rand`` gives (the same numbers, the generator left in the same
    state); split draws compare the 64-bit words the numbers are made of, without forming
    them: float32 ``u >= p`` is ``word32 >= ceil(p 2^24) 2^8``, float64 ``word >=
    ceil(p 2^53) 2^11``."""
    if p >= 1.0:
        return np.zeros(shape, dtype=dtype)
    if dtype not in _DIRECT:
        u = _real(rng, "uniform", shape, dtype, {}).astype(dtype)
        return (u >= p).astype(dtype) * dtype.type(1.0 / (1.0 - p))
    scale = dtype.type(1.0 / (1.0 - p))
    n = math.prod(shape)
    ranges = _uniform_ranges(B, rng, n, dtype)
    if len(ranges) == 1:
        def finish(part):
            np.multiply(part >= p, scale, out=part)
        return _fill_uniform(B, rng, shape, dtype, finish)
    f32 = dtype == _DIRECT[0]
    threshold = math.ceil(float(np.float32(p)) * 2.0 ** 24) << 8 if f32 else \
        math.ceil(p * 2.0 ** 53) << 11
    out = np.empty(n, dtype=dtype)
    bg = rng.bit_generator
    left = {}
    with bg.lock:
        state = bg.state
        parts = _range_generators(bg, state, ranges, n, 2 if f32 else 1)
        pending = state["uinteger"] if f32 and state["has_uint32"] else None

        def fill(lo, hi):
            part, a, b = parts[lo]
            left[a] = _mask_part(part, out[a:b], pending if a == 0 else None, threshold,
                                 scale, f32)
        B.run_chunks(fill, ranges)
        part, start, _ = parts[_last_drawn(parts)]
        last = part.state
        if f32:  # (NumPy's buffer: the last word's high half, used or pending)
            odd, high = left[start]
            last["has_uint32"], last["uinteger"] = int(odd), state["uinteger"] if high is None \
                else high
        else:
            last["has_uint32"], last["uinteger"] = state["has_uint32"], state["uinteger"]
        bg.state = last
    return out.reshape(shape)


def _mask_part(bits, out, first, threshold, scale, f32):
    """One range of a dropout mask from the bit generator ``bits`` (``first``: a pending
    half word for element 0); returns (float32) whether the last word's high half is left
    pending, and that half (None: no word drawn)."""
    if first is not None:
        out[0] = scale if first >= threshold else 0
        out = out[1:]
    m = out.shape[0]
    words = bits.random_raw((m + 1) // 2 if f32 else m)
    values = words.view(np.uint32)[:m] if f32 else words
    if threshold >= 1 << (32 if f32 else 64):
        out[...] = 0
    else:
        np.multiply(values >= values.dtype.type(threshold), scale, out=out)
    return bool(m % 2), (int(words[-1] >> np.uint64(32)) if f32 and m else None)


def draw(B, rng, kind: str, shape: tuple, dtype, **params):
    """Storage on backend ``B`` with numbers from ``rng``.

    kinds: ``uniform`` (low, high), ``normal`` (mean, std; complex dtypes get
    independent real and imaginary parts of variance 1/2 each, as PyTorch),
    ``integers`` (low, high: [low, high)), ``permutation`` (n), ``dropout`` (p: a mask of
    zeros and ``1 / (1 - p)``, see ``_dropout_mask``).
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
            out = _real(rng, kind, shape, dtype, params, B)
    elif kind == "integers":
        low, high = params["low"], params["high"]
        if dtype.kind in "iu":
            out = rng.integers(low, high, size=shape, dtype=dtype)
        else:
            out = rng.integers(low, high, size=shape, dtype=np.int64)
    elif kind == "permutation":
        out = rng.permutation(params["n"])
    elif kind == "dropout":
        out = _dropout_mask(B, rng, shape, dtype, params["p"])
    else:
        raise ValueError(f"draw: unknown kind {kind!r}")
    out = np.asarray(out).astype(dtype, copy=False)
    return B.from_numpy(out if out.flags.c_contiguous else out.copy())

"""Samplers (PyTorch's ``torch.utils.data.sampler``): iterables of indices, drawn lazily.

Random samplers draw from arraylib's generators (``generator=``, or the default one that
``arraylib.manual_seed`` seeds), so a seed reproduces the order.  Numbers differ from
PyTorch's own stream; the semantics (what is drawn, with or without replacement, lengths,
argument checks) are PyTorch's.
"""
from __future__ import annotations

import itertools

import arraylib as al

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler"]

_CHUNK = 1024  # indices drawn at a time by the samplers that draw with replacement
_MAX_SEED = (1 << 63) - 1


def draw_seed(generator=None) -> int:
    """One non-negative 63-bit integer from ``generator`` (default: the default generator)."""
    return int(al.randint(0, _MAX_SEED, size=(), generator=generator))


def epoch_generator(generator):
    """``generator`` itself, or (None) a fresh generator seeded by one draw from the default
    generator: the epoch's order then does not depend on who else draws from the default
    generator meanwhile (a training loop, a prefetching loader), as in PyTorch."""
    if generator is not None:
        return generator
    return al.Generator().manual_seed(draw_seed())


class Sampler:
    """Base class: an iterable of indices (or of lists of indices, for batch samplers)."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1``."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """Random indices of ``data_source``: permutations (``replacement=False``; more than
    ``len`` samples chain several) or independent draws (``replacement=True``), drawn a
    chunk at a time so that ``num_samples=10**10`` costs nothing up front."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement should be a boolean value, but got "
                            f"replacement={replacement!r}")
        n = self.num_samples
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
            raise ValueError(f"RandomSampler: num_samples should be a positive integer value, "
                             f"but got num_samples={n!r}")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n = len(self.data_source)
        g = epoch_generator(self.generator)
        total = self.num_samples
        if self.replacement:
            for start in range(0, total, _CHUNK):
                size = min(_CHUNK, total - start)
                yield from al.randint(0, n, size=(size,), generator=g).tolist()
            return
        for _ in range(total // n):
            yield from al.randperm(n, generator=g).tolist()
        if total % n:
            yield from al.randperm(n, generator=g)[:total % n].tolist()

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The elements of ``indices`` in a random order, without replacement."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator

    def __iter__(self):
        for i in al.randperm(len(self.indices), generator=self.generator).tolist():
            yield self.indices[i]

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """Indices ``0 .. len(weights)-1`` drawn with probabilities proportional to ``weights``;
    without replacement an index is drawn at most once."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(f"WeightedRandomSampler: num_samples should be a positive integer "
                             f"value, but got num_samples={num_samples!r}")
        if not isinstance(replacement, bool):
            raise ValueError(f"WeightedRandomSampler: replacement should be a boolean value, "
                             f"but got replacement={replacement!r}")
        w = al.asarray(weights, dtype=al.float64)
        if w.ndim != 1:
            raise ValueError(f"WeightedRandomSampler: weights should be a 1d sequence but given "
                             f"weights have shape {tuple(w.shape)}")
        if w.shape[0] == 0 or bool(al.any(w < 0)) or not bool(al.all(al.isfinite(w))) \
                or float(al.sum(w)) <= 0:
            raise RuntimeError("WeightedRandomSampler: invalid distribution: weights must be "
                               "finite, non-negative and not all zero")
        if not replacement and num_samples > int(al.count_nonzero(w)):
            raise RuntimeError(f"WeightedRandomSampler: cannot draw {num_samples} samples without "
                               f"replacement from {int(al.count_nonzero(w))} non-zero weights")
        self.weights = w
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self):
        w, g = self.weights, self.generator
        if not self.replacement:
            # exponential races: index i finishes at -log(u_i) / w_i, the first num_samples win
            u = al.rand(w.shape[0], generator=g, dtype=al.float64)
            positive = w > 0
            keys = al.where(positive, -al.log1p(-u) / al.where(positive, w, 1.0), al.inf)
            yield from al.argsort(keys, stable=True)[:self.num_samples].tolist()
            return
        cdf = al.cumulative_sum(w)
        total, last = cdf[-1], w.shape[0] - 1
        for start in range(0, self.num_samples, _CHUNK):
            size = min(_CHUNK, self.num_samples - start)
            u = al.rand(size, generator=g, dtype=al.float64) * total
            yield from al.clip(al.searchsorted(cdf, u, side="right"), max=last).tolist()

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler`` (any iterable), consumed lazily; the
    last, shorter list is dropped with ``drop_last``."""

    def __init__(self, sampler, batch_size, drop_last):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"BatchSampler: batch_size should be a positive integer value, but "
                             f"got batch_size={batch_size!r}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"BatchSampler: drop_last should be a boolean value, but got "
                             f"drop_last={drop_last!r}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self):
        it = iter(self.sampler)
        while True:
            batch = list(itertools.islice(it, self.batch_size))
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                return
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

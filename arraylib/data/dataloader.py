"""``DataLoader``: batches of a data set, optionally shuffled by a seedable generator."""
from __future__ import annotations

import collections.abc as cabc
import math

import arraylib as al

from .dataset import TensorDataset

__all__ = ["DataLoader", "default_collate", "default_convert"]

_CHUNK_BYTES = 1 << 22  # the fast TensorDataset path copies about this much per tensor at a time


def default_convert(data):
    """What ``batch_size=None`` hands out for one sample: tensors are copied (``clone``,
    recorded when they require grad), NumPy arrays become fresh tensors, containers are
    converted field by field, anything else is returned as is.  The loader never hands
    out storage of the data set, so a training loop that modifies a sample in place
    (``x.mul_(2)``) leaves the data set unchanged."""
    if isinstance(data, al.Tensor):
        return data.clone()
    if isinstance(data, (str, bytes, int, float, complex)) or data is None:
        return data
    if hasattr(data, "__array__") and hasattr(data, "dtype") and hasattr(data, "shape"):
        try:
            return al.asarray(data, copy=True)
        except (TypeError, ValueError):
            return data
    if isinstance(data, cabc.Mapping):
        converted = {key: default_convert(data[key]) for key in data}
        try:
            return type(data)(converted)
        except TypeError:  # a mapping type that cannot be built from a dict (defaultdict)
            return converted
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return tuple(default_convert(d) for d in data)
    if isinstance(data, list):
        return [default_convert(d) for d in data]
    return data


def default_collate(batch):
    """Stack a list of samples: tensors (and arrays) are stacked along a new first
    dimension (into fresh storage: a batch never shares memory with the data set),
    Python ints/floats/bools become int64/float64/bool tensors, tuples, lists, dicts and
    named tuples are collated field by field, strings stay a list."""
    elem = batch[0]
    if isinstance(elem, al.Tensor):
        return al.stack(list(batch))
    if isinstance(elem, bool):
        return al.asarray(list(batch), dtype=al.bool)
    if isinstance(elem, int):
        return al.asarray(list(batch), dtype=al.int64)
    if isinstance(elem, float):
        return al.asarray(list(batch), dtype=al.float64)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if hasattr(elem, "__array__") or hasattr(elem, "__dlpack__"):
        return al.stack([al.asarray(b) for b in batch])
    if isinstance(elem, cabc.Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, cabc.Sequence):
        n = len(elem)
        if any(len(b) != n for b in batch):
            raise RuntimeError("default_collate: each element in the batch should be of equal "
                               "size")
        fields = [default_collate(list(s)) for s in zip(*batch)]
        return tuple(fields) if isinstance(elem, tuple) else fields
    raise TypeError(f"default_collate: batch must contain tensors, arrays, numbers, dicts or "
                    f"lists; found {type(elem).__name__}")


class DataLoader:
    """Iterate over ``dataset`` in batches.

    ``batch_size`` (None: single samples, uncollated), ``shuffle`` (a fresh permutation
    each epoch, drawn from ``generator`` or the default generator), ``sampler`` (an
    iterable of indices, instead of ``shuffle``), ``drop_last``, ``collate_fn``
    (default: ``default_collate``).  ``num_workers``, ``pin_memory`` and similar
    options are accepted and ignored (loading is in-process).

    A ``TensorDataset`` with the default collate is batched by indexing its tensors
    with the batch's indices instead of stacking samples one by one: a chunk of whole
    batches (about 4 MiB per tensor) is copied at once (one ``take`` per tensor, or a
    ``clone`` of a slice when not shuffled) and the batches are cut from it.  As with PyTorch's stacking
    collate, every batch is a fresh tensor: modifying it in place (``xb.mul_(2)``)
    never changes the data set.  With ``batch_size=None`` each sample is copied too
    (``default_convert``).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False,
                 timeout=0, worker_init_fn=None, generator=None, *, prefetch_factor=None,
                 persistent_workers=False, **kwargs):
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(f"DataLoader: batch_size should be a positive integer, got "
                             f"{batch_size!r}")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None
                                          or drop_last):
            raise ValueError("DataLoader: batch_sampler option is mutually exclusive with "
                             "batch_size, shuffle, sampler, and drop_last")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.drop_last = drop_last
        self.generator = generator
        self.num_workers = num_workers
        self.collate_fn = collate_fn
        self._fast = (isinstance(dataset, TensorDataset) and collate_fn is None
                      and sampler is None and batch_sampler is None and batch_size is not None)

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _indices(self):
        n = len(self.dataset)
        if self.sampler is not None:
            return list(self.sampler)
        if self.shuffle:
            return al.randperm(n, generator=self.generator).tolist()
        return range(n)

    def __iter__(self):
        if self._fast:
            yield from self._iter_tensors()
            return
        collate = self.collate_fn or default_collate
        ds = self.dataset
        if self.batch_sampler is not None:
            for idx in self.batch_sampler:
                yield collate([ds[i] for i in idx])
            return
        indices = self._indices()
        if self.batch_size is None:
            for i in indices:
                yield default_convert(ds[i]) if self.collate_fn is None \
                    else self.collate_fn(ds[i])
            return
        bs = self.batch_size
        indices = list(indices)
        end = len(indices) - len(indices) % bs if self.drop_last else len(indices)
        for start in range(0, end, bs):
            yield collate([ds[i] for i in indices[start:start + bs]])

    def _iter_tensors(self):
        tensors = self.dataset.tensors
        n = len(self.dataset)
        bs = self.batch_size
        end = n - n % bs if self.drop_last else n
        # Batches are cut from fresh copies of the data set, one chunk of whole batches
        # at a time (about _CHUNK_BYTES per tensor): a batch never shares storage with the
        # data set, and the copy is one kernel per chunk instead of one per batch.
        row_bytes = max(math.prod(t.shape[1:]) * t.dtype.itemsize for t in tensors)
        rows = bs * max(1, _CHUNK_BYTES // max(1, bs * row_bytes))
        perm = al.randperm(n, generator=self.generator, device=tensors[0].device) \
            if self.shuffle else None
        for c0 in range(0, end, rows):
            c1 = min(c0 + rows, end)
            if perm is not None:
                idx = perm[c0:c1]
                chunk = tuple(al.take(t, idx, axis=0) for t in tensors)
            else:
                chunk = tuple((t if c0 == 0 and c1 == n else t[c0:c1]).clone() for t in tensors)
            if c1 - c0 <= bs:
                yield chunk
                continue
            for start in range(0, c1 - c0, bs):
                yield tuple(c[start:start + bs] for c in chunk)

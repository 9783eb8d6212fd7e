"""``DataLoader``: batches of a data set, in-process or from worker processes, with
PyTorch's arguments and checks."""
from __future__ import annotations

import math

import arraylib as al

from ._collate import default_collate, default_convert
from ._worker import Fetcher, MultiProcessIter, get_worker_info
from .dataset import IterableDataset, TensorDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler, draw_seed, epoch_generator

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]

_CHUNK_BYTES = 1 << 22  # the fast TensorDataset path copies about this much per tensor at a time


class DataLoader:
    """Iterate over ``dataset`` in batches, as PyTorch's ``torch.utils.data.DataLoader``.

    ``batch_size`` (None: single samples, converted but not collated), ``shuffle`` (a
    fresh ``RandomSampler`` order each epoch, drawn from ``generator`` or the default
    generator), ``sampler`` / ``batch_sampler`` (any iterable of indices / of lists of
    indices, read lazily: an endless sampler costs nothing up front), ``drop_last``,
    ``collate_fn`` (default: ``default_collate``).  ``num_workers > 0`` loads in that many
    worker processes (see ``arraylib.data._worker``) with ``prefetch_factor`` batches each
    in flight (default 2), ``worker_init_fn(worker_id)``, per-worker seeds (``random`` and
    arraylib's default generator get ``base_seed + worker_id``; see ``get_worker_info``),
    ``persistent_workers``, ``timeout`` (seconds to wait for a batch from the workers, 0:
    forever), ``multiprocessing_context`` (default: fork where available) and
    ``in_order``.  ``pin_memory`` and ``pin_memory_device`` are accepted and do nothing:
    there is no pinned host memory on the CPU.  For the same ``generator`` seed, the
    batches are the same with and without workers.

    A ``TensorDataset`` with the default collate is batched by indexing its tensors with
    the batch's indices instead of stacking samples one by one (in-process without a
    sampler: a chunk of whole batches, about 4 MiB per tensor, is copied at once and the
    batches cut from it).  As with PyTorch's stacking collate, every batch is a fresh
    tensor: modifying it in place (``xb.mul_(2)``) never changes the data set.  With
    ``batch_size=None`` each sample is copied too (``default_convert``).
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False,
                 timeout=0, worker_init_fn=None, multiprocessing_context=None, generator=None,
                 *, prefetch_factor=None, persistent_workers=False, pin_memory_device="",
                 in_order=True):
        prefetch_factor = _check_workers(num_workers, timeout, prefetch_factor,
                                         persistent_workers)
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            _check_iterable(shuffle, sampler, batch_sampler)
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with "
                                 "batch_size, shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("DataLoader: batch_size=None option disables auto-batching and is "
                             "mutually exclusive with drop_last")
        self._fast = (isinstance(dataset, TensorDataset) and collate_fn is None and
                      sampler is None and batch_sampler is None and batch_size is not None)
        if sampler is None and not self._iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle \
                else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        elif batch_size is not None and self._iterable:
            BatchSampler([], batch_size, drop_last)  # the same argument checks
        self.dataset = dataset
        self.batch_size, self.drop_last, self.shuffle = batch_size, drop_last, shuffle
        self.sampler, self.batch_sampler, self.generator = sampler, batch_sampler, generator
        self.num_workers, self.prefetch_factor, self.timeout = num_workers, prefetch_factor, timeout
        self.worker_init_fn, self.persistent_workers = worker_init_fn, persistent_workers
        self.multiprocessing_context, self.in_order = multiprocessing_context, in_order
        self.pin_memory, self.pin_memory_device = pin_memory, pin_memory_device
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._iterator = None

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None or (self._iterable and self.batch_size is not None)

    @property
    def _index_sampler(self):
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    def __len__(self):
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
        return len(self._index_sampler)

    def __iter__(self):
        if self.num_workers == 0:
            draw_seed(self.generator)  # as the workers' base seed: same stream either way
            return self._iter_tensors() if self._fast else self._iter_single()
        if not self.persistent_workers:
            return MultiProcessIter(self)
        if self._iterator is None or self._iterator._shut:
            self._iterator = MultiProcessIter(self)
        else:
            self._iterator._reset()
        return self._iterator

    def _iter_single(self):
        fetch = Fetcher(self.dataset, self._auto_collation, self.collate_fn, self.drop_last,
                        self.batch_size)
        if not self._iterable:
            for index in self._index_sampler:
                yield fetch(index)
            return
        while True:
            try:
                batch = fetch(None)
            except StopIteration:
                return
            yield batch

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
        perm = al.randperm(n, generator=epoch_generator(self.generator),
                           device=tensors[0].device) if self.shuffle else None
        for c0 in range(0, end, rows):
            c1 = min(c0 + rows, end)
            if perm is not None:
                idx = perm[c0:c1]
                chunk = tuple(al.take(t, idx, axis=0) for t in tensors)
            else:
                chunk = tuple((t if c0 == 0 and c1 == n else t[c0:c1]).clone() for t in tensors)
            if c1 - c0 <= bs:
                yield list(chunk)
                continue
            for start in range(0, c1 - c0, bs):
                yield [c[start:start + bs] for c in chunk]


def _check_workers(num_workers, timeout, prefetch_factor, persistent_workers):
    """PyTorch's checks of the worker options; returns the prefetch factor to use."""
    if not isinstance(num_workers, int) or isinstance(num_workers, bool) or num_workers < 0:
        raise ValueError(f"DataLoader: num_workers option should be a non-negative integer, "
                         f"got {num_workers!r}; use num_workers=0 to disable multiprocessing")
    if timeout < 0:
        raise ValueError(f"DataLoader: timeout option should be non-negative, got {timeout!r}")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError("DataLoader: prefetch_factor option could only be specified in "
                         "multiprocessing; let num_workers > 0 to enable multiprocessing, "
                         "otherwise set prefetch_factor to None")
    if num_workers > 0 and prefetch_factor is None:
        prefetch_factor = 2
    elif prefetch_factor is not None and prefetch_factor < 0:
        raise ValueError(f"DataLoader: prefetch_factor option should be non-negative, got "
                         f"{prefetch_factor!r}")
    if persistent_workers and num_workers == 0:
        raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
    return prefetch_factor


def _check_iterable(shuffle, sampler, batch_sampler):
    if shuffle not in (False, None):
        raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle "
                         f"option, but got shuffle={shuffle!r}")
    if sampler is not None:
        raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler "
                         f"option, but got sampler={sampler!r}")
    if batch_sampler is not None:
        raise ValueError(f"DataLoader with IterableDataset: expected unspecified batch_sampler "
                         f"option, but got batch_sampler={batch_sampler!r}")

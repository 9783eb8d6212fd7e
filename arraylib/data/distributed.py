"""``DistributedSampler``: each rank iterates over its own shard of a data set."""
from __future__ import annotations

import math

import arraylib as xp
from arraylib import distributed as dist

from .sampler import Sampler


class DistributedSampler(Sampler):
    """Indices of one rank's shard, reshuffled each epoch (call ``set_epoch``).

    The shards of all ranks are disjoint and, with ``drop_last=False``, cover the
    data set (padded by repeating indices so every rank gets the same count).

    Args:
        dataset: anything with ``len``.
        num_replicas, rank: default to the process group's world size and rank.
        shuffle: permute with a generator seeded by ``seed + epoch``.
        drop_last: drop the tail instead of padding.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        if num_replicas is None:
            num_replicas = dist.get_world_size()
        if rank is None:
            rank = dist.get_rank()
        if not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: rank {rank} is not in [0, {num_replicas})")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, seed, drop_last, 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = n // num_replicas
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            g = xp.Generator()
            g.manual_seed(self.seed + self.epoch)
            indices = xp.randperm(n, generator=g).tolist()
        else:
            indices = list(range(n))
        if self.total_size > n:
            indices += (indices * math.ceil(self.total_size / max(n, 1)))[:self.total_size - n]
        indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self):
        return self.num_samples

"""``arraylib.data``: data sets, samplers and batches (PyTorch's ``torch.utils.data``, also
reachable as ``arraylib.utils.data``), and loaders for real data sets (scikit-learn's
digits and moons, CIFAR-10 pickle batches)."""
from __future__ import annotations

from .dataset import (Dataset, IterableDataset, TensorDataset, Subset, ConcatDataset,
                      ChainDataset, random_split)
from .sampler import (Sampler, SequentialSampler, RandomSampler, SubsetRandomSampler,
                      WeightedRandomSampler, BatchSampler)
from ._collate import default_collate, default_convert
from ._worker import WorkerInfo, get_worker_info
from .dataloader import DataLoader
from .datasets import load_digits, make_moons, load_cifar10, train_test_split
from .distributed import DistributedSampler

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset",
           "ChainDataset", "random_split", "Sampler", "SequentialSampler", "RandomSampler",
           "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler", "DataLoader",
           "default_collate", "default_convert", "WorkerInfo", "get_worker_info",
           "load_digits", "make_moons", "load_cifar10", "train_test_split",
           "DistributedSampler"]

"""``arraylib.data``: data sets and batches (PyTorch's ``torch.utils.data``), and loaders
for real data sets (scikit-learn's digits and moons, CIFAR-10 pickle batches)."""
from __future__ import annotations

from .dataset import Dataset, TensorDataset, Subset, ConcatDataset, random_split
from .dataloader import DataLoader, default_collate
from .datasets import load_digits, make_moons, load_cifar10, train_test_split
from .distributed import DistributedSampler

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader",
           "default_collate", "load_digits", "make_moons", "load_cifar10", "train_test_split",
           "DistributedSampler"]

"""Parallel wrappers for modules."""
from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]

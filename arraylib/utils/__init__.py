"""``arraylib.utils``: PyTorch's ``torch.utils`` names.  ``arraylib.utils.data`` is
``arraylib.data`` (also under its module names, ``arraylib.utils.data.dataloader``, ...,
so every ``from torch.utils.data... import ...`` form resolves); the TensorBoard writer
is ``arraylib.utils.tensorboard.SummaryWriter``."""
from __future__ import annotations

import sys as _sys

from .. import data
from ..data import dataloader, dataset, datasets, distributed, sampler

# ``import arraylib.utils.data.sampler`` looks in sys.modules, not at attributes
for _m in (data, dataloader, dataset, datasets, distributed, sampler):
    _sys.modules[_m.__name__.replace("arraylib.data", f"{__name__}.data", 1)] = _m
del _m

__all__ = ["data"]

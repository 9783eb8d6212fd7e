"""``arraylib.optim``: optimizers and learning-rate schedulers in PyTorch's shape.

They use only the public namespace, so they work on every device; see each
class's docstring for its exact update rule.
"""
from __future__ import annotations

from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam, AdamW
from .rmsprop import RMSprop
from .adagrad import Adagrad
from . import lr_scheduler

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]

"""``arraylib.cuda.amp``: PyTorch's (deprecated) ``torch.cuda.amp`` spellings, for the
"cuda" device type."""
from __future__ import annotations

import arraylib as xp

from .grad_scaler import GradScaler as _GradScaler

__all__ = ["autocast", "GradScaler"]


class autocast(xp.autocast):
    """``torch.cuda.amp.autocast(enabled=True, dtype=float16, cache_enabled=True)``:
    ``arraylib.autocast("cuda", ...)``."""

    def __init__(self, enabled=True, dtype=xp.float16, cache_enabled=True):
        super().__init__("cuda", dtype, enabled, cache_enabled)


class GradScaler(_GradScaler):
    """``torch.cuda.amp.GradScaler``: ``arraylib.amp.GradScaler("cuda", ...)`` (disabled,
    with a warning, where no GPU is available)."""

    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        super().__init__("cuda", init_scale, growth_factor, backoff_factor, growth_interval,
                         enabled)

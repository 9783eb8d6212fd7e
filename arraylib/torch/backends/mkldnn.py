"""``torch.backends.mkldnn``: a settable flag with no effect (arraylib does not use oneDNN)."""
from __future__ import annotations

enabled = True


def is_available() -> bool:
    return False

"""``torch.backends.cudnn``: settable flags with no effect (arraylib does not use cuDNN)."""
from __future__ import annotations

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    """False: arraylib never calls cuDNN."""
    return False


def version():
    """None, as PyTorch answers where cuDNN is absent."""
    return None

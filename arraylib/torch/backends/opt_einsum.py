"""``torch.backends.opt_einsum``: settable attributes with no effect (``einsum`` here
contracts in its own order)."""
from __future__ import annotations

enabled = True
strategy = "auto"


def is_available() -> bool:
    return False

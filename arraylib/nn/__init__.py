"""``arraylib.nn``: modules, layers, losses, initialisations and functional forms in
PyTorch's shape, built on the public namespace only (so they run on any device)."""
from .parameter import Parameter, Buffer
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _modules_all
from . import functional, init, utils, parallel  # noqa: F401

__all__ = ["Parameter", "Buffer", "functional", "init", "utils"] + list(_modules_all)

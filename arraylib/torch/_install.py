"""Installing the face as ``torch`` in the running process.

``install()`` puts the face in ``sys.modules["torch"]`` and a finder at the front of
``sys.meta_path`` that answers every ``torch.<a>.<b>`` with the module that
``<face>.<a>.<b>`` names: a real submodule (``arraylib.nn.functional``), or a module
attribute (``arraylib.utils.data``).  The module object is shared, not copied, so
``torch.nn is arraylib.nn``; its ``__spec__`` keeps its own name.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types

__all__ = ["install", "uninstall", "is_installed"]

_NAME = "torch"
_FACE = "arraylib.torch"


def _face():
    return sys.modules[_FACE]


def _resolve(fullname: str) -> types.ModuleType:
    """The module that ``fullname`` (``torch`` or ``torch.x.y``) stands for."""
    parent_name, _, child = fullname.rpartition(".")
    if not parent_name:
        return _face()
    parent = sys.modules.get(parent_name) or importlib.import_module(parent_name)
    real = f"{parent.__name__}.{child}"
    if real in sys.modules:
        return sys.modules[real]
    if hasattr(parent, "__path__") and importlib.util.find_spec(real) is not None:
        return importlib.import_module(real)
    obj = getattr(parent, child, None)
    if isinstance(obj, types.ModuleType):
        return obj
    raise ModuleNotFoundError(f"No module named {fullname!r}: arraylib's torch face has no "
                              f"{child!r} in {parent.__name__} (see 'Running PyTorch scripts' "
                              f"in arraylib's README)", name=fullname)


class _AliasLoader(importlib.abc.Loader):
    """Hands the import system an existing module; puts its own spec back after the
    import system has stamped the alias's spec on it."""

    def __init__(self, module):
        self.module = module
        self.spec = getattr(module, "__spec__", None)

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        if self.spec is not None:
            module.__spec__ = self.spec


class _FaceFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != _NAME and not fullname.startswith(_NAME + "."):
            return None
        module = _resolve(fullname)
        return importlib.util.spec_from_loader(fullname, _AliasLoader(module),
                                               is_package=hasattr(module, "__path__"))


_FINDER = _FaceFinder()


def is_installed() -> bool:
    """Whether ``import torch`` gives the face in this process."""
    return sys.modules.get(_NAME) is sys.modules.get(_FACE) and _FINDER in sys.meta_path


def install():
    """Make ``import torch`` and every ``import torch.<sub>`` / ``from torch.<sub> import
    ...`` give arraylib's torch face for the rest of this process; returns the face.

    Refuses (RuntimeError) when the real PyTorch is already imported: two ``torch``
    modules in one process would mix their tensors."""
    current = sys.modules.get(_NAME)
    if current is not None and current is not _face():
        where = getattr(current, "__file__", None) or repr(current)
        raise RuntimeError(f"arraylib.torch.install: the real PyTorch is already imported "
                           f"(torch from {where}); install the face before anything imports "
                           f"torch, or run the script with 'python -m arraylib.torch script.py'")
    stray = sorted(n for n in sys.modules if n.startswith(_NAME + ".")
                   and not _is_alias(sys.modules[n]))
    if stray:
        raise RuntimeError(f"arraylib.torch.install: PyTorch submodules are already imported "
                           f"({', '.join(stray[:3])}); install the face before anything "
                           f"imports torch")
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    sys.modules[_NAME] = _face()
    return _face()


def _is_alias(module) -> bool:
    name = getattr(module, "__name__", "")
    return name.startswith("arraylib.") or name == "arraylib"


def uninstall() -> None:
    """Undo ``install()``: ``import torch`` reaches the real PyTorch (if any) again."""
    while _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    for name in [n for n in sys.modules if n == _NAME or n.startswith(_NAME + ".")]:
        if _is_alias(sys.modules[name]):
            del sys.modules[name]

"""``torch.version``: the face's version (arraylib's own, with a ``+arraylib`` label;
it compares as a version) and no CUDA/ROCm build of PyTorch."""
from __future__ import annotations

import arraylib

from ._face import Version as _Version

__version__ = _Version(f"{arraylib.__version__}+arraylib")
cuda = None
hip = None
git_version = "arraylib"
debug = False

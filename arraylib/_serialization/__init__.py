"""``arraylib.save`` / ``arraylib.load``: checkpoints in PyTorch's own format.

``save(obj, f)`` writes any nesting of dicts, OrderedDicts, lists, tuples and sets of tensors
(``nn.Parameter`` included), numbers, strings, bytes, booleans and None (state dicts,
optimizer and scheduler state, training configs) as ``torch.save`` does: a zip archive with a
pickle and raw storages, which ``torch.load(f, weights_only=True)`` reads.  A path ending in
``.safetensors`` (or a ``metadata=`` argument) writes the safetensors format instead, for a
flat ``{name: tensor}`` dict.  A path is written atomically (see ``_atomic``).

``load(f)`` tells the format from the file's bytes (PyTorch zip, PyTorch's legacy format,
safetensors), whatever its name.  It never runs code from the file: pickles go through a
restricted interpreter with PyTorch's ``weights_only`` allow-list, with ``weights_only=False``
as well; any other global raises ``pickle.UnpicklingError`` naming it.
"""
from __future__ import annotations

import io
import os
import pickle

from .. import _dtypes
from .._core._devices import CPU, as_device
from . import _safetensors, _torch_format
from ._atomic import _HOST, atomic_write  # noqa: F401  (_HOST: read by the tests)
from ._torch_format import Placement, Storage, register_parameter_class

__all__ = ["save", "load", "register_parameter_class"]


def save(obj, f, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False, *, metadata=None) -> None:
    """Write ``obj`` to ``f`` (a path or a binary file object) as ``torch.save`` does.

    A ``.safetensors`` path, or ``metadata`` (``{str: str}``), writes the safetensors format
    (a flat ``{name: Tensor}`` dict only).  ``_use_new_zipfile_serialization=False`` writes
    PyTorch's legacy format.  ``pickle_module`` must be None or ``pickle`` (no custom
    picklers); the pickle is protocol 2 whatever ``pickle_protocol`` says (it holds no large
    objects).  Tensors are written with the bytes of their values; a tensor on a CUDA device
    keeps its location (``"cuda:0"``), any other is saved as on the CPU.  Unsupported objects
    raise TypeError before any file is touched."""
    if pickle_module is not None and pickle_module is not pickle:
        raise TypeError("save: arraylib writes its own pickle; pickle_module must be None")
    if type(pickle_protocol) is not int or pickle_protocol < 2:
        raise ValueError(f"save: pickle_protocol must be an integer >= 2, got {pickle_protocol!r}")
    path = None if hasattr(f, "write") else os.fsdecode(os.fspath(f))
    name = path if path is not None else getattr(f, "name", None)
    if metadata is not None or (isinstance(name, str) and
                                name.lower().endswith(".safetensors")):
        parts = _safetensors.encode(obj, metadata)

        def write(fh):
            for part in parts:
                fh.write(part)
    else:
        write = _torch_format.encode(obj, path, legacy=not _use_new_zipfile_serialization)
    if path is None:
        write(f)
    else:
        atomic_write(path, write)


def _open(f):
    """``(binary file, name for messages, whether to close it)``."""
    if hasattr(f, "read"):
        where = getattr(f, "name", "<file object>")
        if isinstance(f, io.TextIOBase):
            raise _text_mode(where, "")
        try:
            seekable = f.seekable()
        except (AttributeError, OSError, ValueError):
            seekable = False
        if not seekable:
            buf = f.read()
            if not isinstance(buf, (bytes, bytearray, memoryview)):
                raise _text_mode(where, buf)
            return io.BytesIO(bytes(buf)), where, True
        return f, where, False
    path = os.fspath(f)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file: {path!r}")
    return open(path, "rb"), path, True


def _text_mode(where, got):
    return TypeError(f"load: {where!r} returned {type(got).__name__} from read(); open the "
                     "file in binary mode ('rb')")


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None,
         device=None, encoding="utf-8"):
    """Read a checkpoint written by ``arraylib.save``, ``torch.save`` (zip or legacy format)
    or safetensors from ``f`` (a path or a binary file object).

    ``map_location`` chooses where tensors go, as in PyTorch: None (where they were saved;
    for safetensors, the default device), a device or its name (``"cpu"``,
    ``"strict:device1"``; ``"cuda"`` where CUDA is absent raises), a dict
    ``{"cuda:0": "cpu"}``, or ``fn(storage, location)`` returning a storage
    (``lambda s, loc: s`` keeps tensors on the CPU), a device, or None.  ``device`` is the
    same as ``map_location``.  Tensors load with ``requires_grad`` as saved.

    ``weights_only`` is accepted for PyTorch's signature; loading is restricted either way
    (arraylib never runs code from a file).  ``mmap`` is accepted and ignored (the data is
    read).  ``encoding`` decodes Python 2 byte strings.  A corrupt or truncated file raises
    ValueError (or ``pickle.UnpicklingError`` for a malformed pickle) naming the file."""
    if device is not None:
        if map_location is not None:
            raise TypeError("load: pass map_location or device, not both")
        map_location = device
    if pickle_module is not None and pickle_module is not pickle:
        raise TypeError("load: arraylib reads pickles with its own restricted interpreter; "
                        "pickle_module must be None")
    if weights_only not in (True, False, None):
        raise TypeError(f"load: weights_only must be a bool, got {weights_only!r}")
    placement = Placement(map_location)  # a bad or unavailable device fails before reading
    fh, where, close = _open(f)
    try:
        start = fh.tell()
        head = fh.read(512)
        if not isinstance(head, (bytes, bytearray)):
            raise _text_mode(where, head)
        fh.seek(start)
        if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
            return _torch_format.decode_zip(fh, where, placement, encoding)
        if head[257:262] == b"ustar":
            raise ValueError(f"load: {where!r} is in PyTorch's oldest (tar) format, which "
                             "arraylib does not read; re-save it with a recent PyTorch")
        buf = fh.read()
        if head[:1] == b"\x80":
            return _torch_format.decode_legacy(buf, where, placement, encoding)
        return _safetensors.decode(buf, where, _safetensors_place(map_location, placement))
    finally:
        if close:
            fh.close()


def _safetensors_place(map_location, placement):
    """Where safetensors tensors (made on the CPU, no saved location) go."""
    if map_location is None:
        dev = as_device(None)
    else:
        probe = Storage(_dtypes.uint8, b"")
        dev = placement.place(probe, "cpu").device
    return (lambda t: t) if dev is CPU else (lambda t: t.to_device(dev))
